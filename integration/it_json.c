/*
 * it_json.c - the tests' strict JSON reader (it_json.h): recursive
 * descent over RFC 8259, no extensions (no trailing commas, comments or
 * bare words), duplicate members refused, depth bounded.  Speed does not
 * matter here; a wrong document must never parse.
 */
#include "it_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define MAX_DEPTH 64

struct rd {
    const char *s;
    size_t i;
    char *err;
    size_t errlen;
    bool failed;
};

static void
bad(struct rd *r, const char *what)
{
    if (!r->failed && r->err != NULL && r->errlen > 0)
        snprintf(r->err, r->errlen, "%s at byte %zu", what, r->i);
    r->failed = true;
}

static void
blanks(struct rd *r)
{
    while (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' ||
           r->s[r->i] == '\r')
        r->i++;
}

static struct it_json *value(struct rd *r, int depth);

static char *
string(struct rd *r)
{
    size_t cap = 16, n = 0;
    char *out = malloc(cap);

    if (out == NULL || r->s[r->i] != '"') {
        free(out);
        bad(r, "expected a string");
        return NULL;
    }
    r->i++;
    for (;;) {
        unsigned char ch = (unsigned char)r->s[r->i];
        unsigned long cp = 0;
        char enc[4];
        size_t k, m = 1;

        if (ch == '"') {
            r->i++;
            break;
        }
        if (ch < 0x20) {
            bad(r, ch == 0 ? "unterminated string" : "control byte in string");
            free(out);
            return NULL;
        }
        enc[0] = (char)ch;
        if (ch == '\\') {
            char e = r->s[r->i + 1];
            r->i++;
            switch (e) {
            case '"': case '\\': case '/': enc[0] = e; break;
            case 'b': enc[0] = '\b'; break;
            case 'f': enc[0] = '\f'; break;
            case 'n': enc[0] = '\n'; break;
            case 'r': enc[0] = '\r'; break;
            case 't': enc[0] = '\t'; break;
            case 'u':
                for (k = 1; k <= 4; k++) {
                    char h = r->s[r->i + k];
                    cp <<= 4;
                    if (h >= '0' && h <= '9')
                        cp |= (unsigned long)(h - '0');
                    else if (h >= 'a' && h <= 'f')
                        cp |= (unsigned long)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F')
                        cp |= (unsigned long)(h - 'A' + 10);
                    else {
                        bad(r, "bad \\u escape");
                        free(out);
                        return NULL;
                    }
                }
                r->i += 4;
                /* UTF-8, surrogates kept as they are (tests compare
                 * ASCII). */
                if (cp < 0x80) {
                    enc[0] = (char)cp;
                } else if (cp < 0x800) {
                    enc[0] = (char)(0xc0 | (cp >> 6));
                    enc[1] = (char)(0x80 | (cp & 0x3f));
                    m = 2;
                } else {
                    enc[0] = (char)(0xe0 | (cp >> 12));
                    enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    enc[2] = (char)(0x80 | (cp & 0x3f));
                    m = 3;
                }
                break;
            default:
                bad(r, "bad escape");
                free(out);
                return NULL;
            }
        }
        r->i++;
        if (n + m + 1 > cap) {
            char *p;
            cap = (n + m + 1) * 2;
            if ((p = realloc(out, cap)) == NULL) {
                free(out);
                bad(r, "out of memory");
                return NULL;
            }
            out = p;
        }
        memcpy(out + n, enc, m);
        n += m;
    }
    out[n] = '\0';
    return out;
}

static bool
number(struct rd *r, double *v)
{
    size_t from = r->i;
    char *end;

    if (r->s[r->i] == '-')
        r->i++;
    if (r->s[r->i] == '0')
        r->i++;
    else if (r->s[r->i] >= '1' && r->s[r->i] <= '9')
        while (r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
    else
        return false;
    if (r->s[r->i] == '.') {
        r->i++;
        if (!(r->s[r->i] >= '0' && r->s[r->i] <= '9'))
            return false;
        while (r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
    }
    if (r->s[r->i] == 'e' || r->s[r->i] == 'E') {
        r->i++;
        if (r->s[r->i] == '+' || r->s[r->i] == '-')
            r->i++;
        if (!(r->s[r->i] >= '0' && r->s[r->i] <= '9'))
            return false;
        while (r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
    }
    *v = strtod(r->s + from, &end);
    return end == r->s + r->i;
}

/* Elements of an array or members of an object, after the bracket. */
static bool
elements(struct rd *r, struct it_json *j, int depth, char close)
{
    struct it_json **tail = &j->child;

    blanks(r);
    if (r->s[r->i] == close) {
        r->i++;
        return true;
    }
    for (;;) {
        char *key = NULL;
        struct it_json *e;

        blanks(r);
        if (close == '}') {
            const struct it_json *dup;
            if ((key = string(r)) == NULL)
                return false;
            if ((dup = it_json_get(j, key)) != NULL) {
                free(key);
                bad(r, "duplicate member");
                return false;
            }
            blanks(r);
            if (r->s[r->i] != ':') {
                free(key);
                bad(r, "expected ':'");
                return false;
            }
            r->i++;
        }
        if ((e = value(r, depth + 1)) == NULL) {
            free(key);
            return false;
        }
        e->key = key;
        *tail = e;
        tail = &e->next;
        j->count++;
        blanks(r);
        if (r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->s[r->i] == close) {
            r->i++;
            return true;
        }
        bad(r, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        return false;
    }
}

static struct it_json *
value(struct rd *r, int depth)
{
    struct it_json *j;
    char c;

    if (depth > MAX_DEPTH) {
        bad(r, "nested too deep");
        return NULL;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        bad(r, "out of memory");
        return NULL;
    }
    blanks(r);
    c = r->s[r->i];
    if (c == '{' || c == '[') {
        r->i++;
        j->type = c == '{' ? IT_JSON_OBJECT : IT_JSON_ARRAY;
        if (!elements(r, j, depth, c == '{' ? '}' : ']'))
            goto fail;
    } else if (c == '"') {
        j->type = IT_JSON_STRING;
        if ((j->string = string(r)) == NULL)
            goto fail;
    } else if (strncmp(r->s + r->i, "true", 4) == 0 ||
               strncmp(r->s + r->i, "false", 5) == 0) {
        j->type = IT_JSON_BOOL;
        j->boolean = c == 't';
        r->i += j->boolean ? 4 : 5;
    } else if (strncmp(r->s + r->i, "null", 4) == 0) {
        j->type = IT_JSON_NULL;
        r->i += 4;
    } else {
        j->type = IT_JSON_NUMBER;
        if (!number(r, &j->number)) {
            bad(r, "expected a value");
            goto fail;
        }
    }
    return j;
fail:
    it_json_free(j);
    return NULL;
}

struct it_json *
it_json_parse(const char *text, char *err, size_t errlen)
{
    struct rd r = {text, 0, err, errlen, false};
    struct it_json *j = value(&r, 0);

    if (j == NULL)
        return NULL;
    blanks(&r);
    if (text[r.i] != '\0') {
        bad(&r, "text after the document");
        it_json_free(j);
        return NULL;
    }
    return j;
}

void
it_json_free(struct it_json *j)
{
    while (j != NULL) {
        struct it_json *next = j->next;
        it_json_free(j->child);
        free(j->string);
        free(j->key);
        free(j);
        j = next;
    }
}

const struct it_json *
it_json_get(const struct it_json *j, const char *key)
{
    const struct it_json *e;

    if (j == NULL || j->type != IT_JSON_OBJECT)
        return NULL;
    for (e = j->child; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

const struct it_json *
it_json_at(const struct it_json *j, size_t i)
{
    const struct it_json *e;

    if (j == NULL || (j->type != IT_JSON_ARRAY && j->type != IT_JSON_OBJECT))
        return NULL;
    for (e = j->child; e != NULL && i > 0; e = e->next)
        i--;
    return e;
}

static const char *const type_names[] = {"null",   "boolean", "number",
                                         "string", "array",   "object"};

const struct it_json *
it_json_need(const struct it_json *obj, const char *key,
             enum it_json_type type)
{
    const struct it_json *e = it_json_get(obj, key);

    if (e == NULL)
        IT_FAIL("JSON: no member \"%s\"", key);
    if (e->type != type)
        IT_FAIL("JSON: \"%s\" is a %s, expected a %s", key,
                type_names[e->type], type_names[type]);
    return e;
}

void
it_json_num_eq(const struct it_json *obj, const char *key, double v)
{
    const struct it_json *e = it_json_need(obj, key, IT_JSON_NUMBER);

    if (e->number != v)
        IT_FAIL("JSON: \"%s\" is %.17g, expected %.17g", key, e->number, v);
}

void
it_json_str_eq(const struct it_json *obj, const char *key, const char *v)
{
    const struct it_json *e = it_json_need(obj, key, IT_JSON_STRING);

    if (strcmp(e->string, v) != 0)
        IT_FAIL("JSON: \"%s\" is \"%s\", expected \"%s\"", key, e->string, v);
}

void
it_json_bool_eq(const struct it_json *obj, const char *key, bool v)
{
    const struct it_json *e = it_json_need(obj, key, IT_JSON_BOOL);

    if (e->boolean != v)
        IT_FAIL("JSON: \"%s\" is %s, expected %s", key,
                e->boolean ? "true" : "false", v ? "true" : "false");
}

/*
 * tsl_fault_plan.c - the strict parser and formatter for fault plans.
 * Pure; any thread.  Fuzzed by fuzz/fuzz_fault_plan.c, whose oracle is
 * that format(parse(x)) parses back to the same plan.
 */
#include "tsl_fault_plan.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
#define TSL_X(name, text) text,
    TSL_FAULT_KINDS(TSL_X)
#undef TSL_X
};

/* TSL_FAULT_SIDE_* - 1 */
static const char *const side_names[] = {"accept", "connect", "both"};

static const struct {
    const char *name;
    int err;
} accept_errs[] = {
    {"EMFILE", EMFILE},
    {"ENFILE", ENFILE},
    {"ECONNABORTED", ECONNABORTED},
    {"ENOBUFS", ENOBUFS},
    {"ENOMEM", ENOMEM},
    {"EPROTO", EPROTO},
    {"EPERM", EPERM},
    {"EINTR", EINTR},
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A decimal of at most 10 digits in [lo, hi] from s..s+n. */
static bool
num(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 20)
        return false;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* "A" or "A..B" with lo <= A <= B <= hi. */
static bool
range(const char *s, size_t n, uint32_t lo, uint32_t hi, uint32_t *a,
      uint32_t *b)
{
    const char *dots = NULL;
    uint64_t x, y;
    size_t i;

    for (i = 0; i + 1 < n; i++)
        if (s[i] == '.' && s[i + 1] == '.') {
            dots = s + i;
            break;
        }
    if (dots == NULL) {
        if (!num(s, n, lo, hi, &x))
            return false;
        *a = *b = (uint32_t)x;
        return true;
    }
    if (!num(s, (size_t)(dots - s), lo, hi, &x) ||
        !num(dots + 2, n - (size_t)(dots - s) - 2, lo, hi, &y) || x > y)
        return false;
    *a = (uint32_t)x;
    *b = (uint32_t)y;
    return true;
}

static int
parse_item(const char *s, size_t n, struct tsl_fault_plan *p, bool *seeded,
           char *err, size_t errlen)
{
    const char *at = memchr(s, '@', n), *eq;
    size_t klen, vlen = 0, i;
    const char *val = NULL;
    struct tsl_fault_rule r;
    uint64_t v;
    int k;

    memset(&r, 0, sizeof(r));
    if (at != NULL) {
        size_t an = n - (size_t)(at - s) - 1;
        if (an < 6 || memcmp(at + 1, "conn=", 5) != 0 ||
            !num(at + 6, an - 5, 1, UINT32_MAX, &v))
            return fail(err, errlen,
                        "'%.*s': after '@' expected conn=N (N >= 1)", (int)n,
                        s);
        r.conn = (uint32_t)v;
        n = (size_t)(at - s);
    }
    eq = memchr(s, '=', n);
    klen = eq ? (size_t)(eq - s) : n;
    if (eq != NULL) {
        val = eq + 1;
        vlen = n - klen - 1;
    }
    if (klen == 4 && memcmp(s, "seed", 4) == 0) {
        if (r.conn != 0)
            return fail(err, errlen, "seed applies to the whole plan, not @conn");
        if (*seeded)
            return fail(err, errlen, "seed given twice");
        if (val == NULL || !num(val, vlen, 0, UINT64_MAX, &p->seed))
            return fail(err, errlen, "seed: expected a number, got '%.*s'",
                        (int)vlen, val ? val : "");
        *seeded = true;
        return 0;
    }
    for (k = 0; k < TSL_FAULT_KIND_COUNT; k++)
        if (strlen(kind_names[k]) == klen &&
            memcmp(kind_names[k], s, klen) == 0)
            break;
    if (k == TSL_FAULT_KIND_COUNT)
        return fail(err, errlen,
                    "unknown fault '%.*s' (expected split, short, coalesce, "
                    "delay, jitter, eintr, eagain, fin_loss, crash_silent, "
                    "crash_reset, accept_fail, fail, fail_from, side, "
                    "bandwidth, slow_close or seed)",
                    (int)klen, s);
    r.kind = (enum tsl_fault_kind)k;
    switch (r.kind) {
    case TSL_FAULT_SPLIT:
    case TSL_FAULT_SHORT:
        if (val == NULL || !range(val, vlen, 1, 1u << 20, &r.a, &r.b))
            return fail(err, errlen, "%s: expected K or A..B within 1..%u",
                        kind_names[k], 1u << 20);
        break;
    case TSL_FAULT_COALESCE:
    case TSL_FAULT_DELAY:
    case TSL_FAULT_SLOW_CLOSE:
        if (val == NULL || !range(val, vlen, 1, 60000, &r.a, &r.b) ||
            r.a != r.b)
            return fail(err, errlen, "%s: expected one number 1..60000",
                        kind_names[k]);
        break;
    case TSL_FAULT_JITTER:
        if (val == NULL || !range(val, vlen, 0, 60000, &r.a, &r.b) ||
            r.a != r.b)
            return fail(err, errlen, "jitter: expected one number 0..60000");
        break;
    case TSL_FAULT_BANDWIDTH:
        if (val == NULL || !range(val, vlen, 1, 1u << 30, &r.a, &r.b) ||
            r.a != r.b)
            return fail(err, errlen,
                        "bandwidth: expected bytes per second 1..%u",
                        1u << 30);
        break;
    case TSL_FAULT_SIDE:
        for (i = 0; val != NULL && i < 3; i++)
            if (strlen(side_names[i]) == vlen &&
                memcmp(side_names[i], val, vlen) == 0)
                break;
        if (val == NULL || i == 3)
            return fail(err, errlen,
                        "side: expected accept, connect or both");
        r.a = r.b = (uint32_t)i + 1;
        if (r.conn != 0)
            return fail(err, errlen, "side applies to the whole plan, "
                                     "not @conn");
        break;
    case TSL_FAULT_EINTR_:
    case TSL_FAULT_EAGAIN_:
        if (val == NULL || !range(val, vlen, 0, 100, &r.a, &r.b) || r.a != r.b)
            return fail(err, errlen, "%s: expected a percentage 0..100",
                        kind_names[k]);
        break;
    case TSL_FAULT_FIN_LOSS:
    case TSL_FAULT_CRASH_SILENT:
    case TSL_FAULT_CRASH_RESET:
        /* Optional: how many bytes arrive first. */
        if (val != NULL &&
            (!range(val, vlen, 0, UINT32_MAX, &r.a, &r.b) || r.a != r.b))
            return fail(err, errlen, "%s: expected a byte count, got '%.*s'",
                        kind_names[k], (int)vlen, val);
        break;
    case TSL_FAULT_ACCEPT_FAIL: {
        /* accept_fail=EMFILE:3 or EMFILE:3..5 */
        const char *colon = val ? memchr(val, ':', vlen) : NULL;
        size_t en = colon ? (size_t)(colon - val) : 0;
        for (i = 0; colon && i < sizeof(accept_errs) / sizeof(accept_errs[0]);
             i++)
            if (strlen(accept_errs[i].name) == en &&
                memcmp(accept_errs[i].name, val, en) == 0)
                break;
        if (colon == NULL || i == sizeof(accept_errs) / sizeof(accept_errs[0]) ||
            !range(colon + 1, vlen - en - 1, 1, UINT32_MAX, &r.a, &r.b))
            return fail(err, errlen,
                        "accept_fail: expected ERRNO:K or ERRNO:A..B with "
                        "ERRNO one of EMFILE, ENFILE, ECONNABORTED, ENOBUFS, "
                        "ENOMEM, EPROTO, EPERM, EINTR");
        r.err = accept_errs[i].err;
        if (r.conn != 0)
            return fail(err, errlen, "accept_fail applies to accepts, not @conn");
        break;
    }
    case TSL_FAULT_FAIL:
    case TSL_FAULT_FAIL_FROM:
        if (val == NULL || !range(val, vlen, 1, UINT32_MAX, &r.a, &r.b) ||
            r.a != r.b)
            return fail(err, errlen, "%s: expected a call number >= 1",
                        kind_names[k]);
        if (r.conn != 0)
            return fail(err, errlen, "%s counts every call, not @conn",
                        kind_names[k]);
        break;
    default:
        break;
    }
    if (val == NULL && r.kind != TSL_FAULT_FIN_LOSS &&
        r.kind != TSL_FAULT_CRASH_SILENT && r.kind != TSL_FAULT_CRASH_RESET)
        return fail(err, errlen, "%s needs a value", kind_names[k]);
    for (i = 0; i < (size_t)p->nrules; i++)
        if (p->rules[i].kind == r.kind && p->rules[i].conn == r.conn)
            return fail(err, errlen, "%s given twice for the same connections",
                        kind_names[k]);
    if (p->nrules == TSL_FAULT_MAX_RULES)
        return fail(err, errlen, "more than %d faults", TSL_FAULT_MAX_RULES);
    p->rules[p->nrules++] = r;
    return 0;
}

int
tsl_fault_plan_parse(const char *text, struct tsl_fault_plan *out, char *err,
                     size_t errlen)
{
    struct tsl_fault_plan p;
    bool seeded = false;
    const char *s;

    memset(&p, 0, sizeof(p));
    if (text == NULL)
        return fail(err, errlen, "no plan");
    if (strlen(text) > 4096)
        return fail(err, errlen, "plan longer than 4096 characters");
    for (s = text; *s != '\0';) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n == 0)
            return fail(err, errlen, "empty item in the plan");
        if (parse_item(s, n, &p, &seeded, err, errlen) < 0)
            return -1;
        s += n;
        if (*s == ',' && *++s == '\0')
            return fail(err, errlen, "the plan ends with ','");
    }
    *out = p;
    return 0;
}

static const char *
errno_name(int e)
{
    size_t i;

    for (i = 0; i < sizeof(accept_errs) / sizeof(accept_errs[0]); i++)
        if (accept_errs[i].err == e)
            return accept_errs[i].name;
    return "EMFILE";
}

int
tsl_fault_plan_format(const struct tsl_fault_plan *p, char *buf, size_t len)
{
    size_t used = 0;
    int i, n;

#define OUT(...)                                                              \
    do {                                                                      \
        n = snprintf(used < len ? buf + used : NULL,                          \
                     used < len ? len - used : 0, __VA_ARGS__);               \
        used += (size_t)n;                                                    \
    } while (0)
    if (buf != NULL && len > 0)
        buf[0] = '\0';
    else
        len = 0;
    for (i = 0; i < p->nrules; i++) {
        const struct tsl_fault_rule *r = &p->rules[i];
        OUT("%s%s", i ? "," : "", kind_names[r->kind]);
        if (r->kind == TSL_FAULT_ACCEPT_FAIL)
            OUT("=%s:%u", errno_name(r->err), r->a);
        else if (r->kind == TSL_FAULT_SIDE)
            OUT("=%s", side_names[(r->a - 1) % 3]);
        else if (r->kind == TSL_FAULT_FIN_LOSS ||
                 r->kind == TSL_FAULT_CRASH_SILENT ||
                 r->kind == TSL_FAULT_CRASH_RESET)
            OUT("=%u", r->a);
        else
            OUT("=%u", r->a);
        if (r->b != r->a)
            OUT("..%u", r->b);
        if (r->conn != 0)
            OUT("@conn=%u", r->conn);
    }
    OUT("%sseed=%llu", p->nrules ? "," : "", (unsigned long long)p->seed);
#undef OUT
    return (int)used;
}

const struct tsl_fault_rule *
tsl_fault_plan_find(const struct tsl_fault_plan *p, enum tsl_fault_kind kind,
                    uint32_t conn)
{
    const struct tsl_fault_rule *any = NULL;
    int i;

    for (i = 0; i < p->nrules; i++) {
        if (p->rules[i].kind != kind)
            continue;
        if (p->rules[i].conn == conn && conn != 0)
            return &p->rules[i];
        if (p->rules[i].conn == 0)
            any = &p->rules[i];
    }
    return any;
}

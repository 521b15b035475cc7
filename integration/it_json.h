/*
 * it_json.h - a strict JSON reader for the tests: parses one document
 * into a tree, so that a program's JSON output can be checked field by
 * field (every member present, of its type, with its value) instead of
 * by substrings that a missing or duplicated member would still match.
 */
#ifndef IT_JSON_H
#define IT_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum it_json_type {
    IT_JSON_NULL,
    IT_JSON_BOOL,
    IT_JSON_NUMBER,
    IT_JSON_STRING,
    IT_JSON_ARRAY,
    IT_JSON_OBJECT
};

struct it_json {
    enum it_json_type type;
    bool boolean;
    double number;
    char *string;             /* IT_JSON_STRING, NUL-terminated */
    char *key;                /* a member of an object: its name */
    struct it_json *child;    /* arrays and objects: the first element */
    struct it_json *next;     /* the next element of the parent */
    size_t count;             /* arrays and objects: how many elements */
};

/* Parses text (all of it, blanks around allowed); NULL with a message in
 * err on any error.  Free the tree with it_json_free(). */
struct it_json *it_json_parse(const char *text, char *err, size_t errlen);
void it_json_free(struct it_json *j);

/* The member `key` of an object, or NULL (also if j is not an object). */
const struct it_json *it_json_get(const struct it_json *j, const char *key);
/* Element i of an array or object, or NULL. */
const struct it_json *it_json_at(const struct it_json *j, size_t i);

/* Checks that fail the case with the path of the member: `key` of obj
 * exists, has that type, and (for the _eq forms) that value. */
const struct it_json *it_json_need(const struct it_json *obj, const char *key,
                                   enum it_json_type type);
void it_json_num_eq(const struct it_json *obj, const char *key, double v);
void it_json_str_eq(const struct it_json *obj, const char *key,
                    const char *v);
void it_json_bool_eq(const struct it_json *obj, const char *key, bool v);

#endif

/*
 * json_mini.h — a small, strict JSON reader for checking Sheaf's JSON results in the C tests
 * (version infos, name lists, library descriptions). Not for production use: it parses into a
 * tree of malloc'd nodes and keeps numbers both as int64 (when integral) and as double.
 */
#ifndef JSON_MINI_H
#define JSON_MINI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    bool boolean;
    bool is_integer; /* a number written without fraction or exponent that fits in int64 */
    int64_t integer;
    double number;
    char *string; /* JSON_STRING: decoded, NUL-terminated (may hold NULs; see string_len) */
    size_t string_len;
    size_t count;              /* JSON_ARRAY / JSON_OBJECT: number of items */
    struct json_value *items;  /* the items, or the members' values */
    char **keys;               /* JSON_OBJECT: the members' keys */
} json_value;

/* Parses `len` bytes; returns 0, or -1 (with `out` left empty) if the text is not one JSON value. */
int json_parse(const char *text, size_t len, json_value *out);
void json_free(json_value *value);

/* The member `key` of an object, or NULL (also when `obj` is not an object). */
const json_value *json_get(const json_value *obj, const char *key);

/* Convenience lookups that return false when the member is missing or of another type. */
bool json_get_int(const json_value *obj, const char *key, int64_t *out);
bool json_get_bool(const json_value *obj, const char *key, bool *out);
/* The string member, or NULL. */
const char *json_get_string(const json_value *obj, const char *key);

#endif /* JSON_MINI_H */

/* json_mini.c — see json_mini.h. Recursive descent over RFC 8259 JSON. */
#include "json_mini.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    const char *end;
    int depth;
} json_cursor;

static int parse_value(json_cursor *c, json_value *out);

static void skip_ws(json_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static bool take(json_cursor *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return false;
    c->p += n;
    return true;
}

static void *grow(void *ptr, size_t count, size_t size) {
    void *p = realloc(ptr, count * size);
    if (!p) abort();
    return p;
}

static int hex4(json_cursor *c, unsigned *out) {
    if (c->end - c->p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = *c->p++;
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Appends the UTF-8 encoding of code point `cp`. */
static size_t put_utf8(char *dst, unsigned cp) {
    if (cp < 0x80) { dst[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int parse_string(json_cursor *c, char **out, size_t *out_len) {
    if (c->p >= c->end || *c->p != '"') return -1;
    c->p++;
    /* The decoded text is never longer than the encoded text. */
    char *buf = malloc((size_t)(c->end - c->p) + 1);
    if (!buf) abort();
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch < 0x20) goto fail;
        if (ch != '\\') {
            buf[n++] = (char)ch;
            continue;
        }
        if (c->p >= c->end) goto fail;
        char e = *c->p++;
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(c, &cp) != 0) goto fail;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (!take(c, "\\u") || hex4(c, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) goto fail;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default: goto fail;
        }
    }
    if (c->p >= c->end) goto fail;
    c->p++; /* closing quote */
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
fail:
    free(buf);
    return -1;
}

static int parse_number(json_cursor *c, json_value *out) {
    const char *start = c->p;
    bool integral = true;
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
    while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' ||
                             *c->p == 'E' || *c->p == '+' || *c->p == '-')) {
        if (*c->p == '.' || *c->p == 'e' || *c->p == 'E') integral = false;
        c->p++;
    }
    size_t n = (size_t)(c->p - start);
    char tmp[64];
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    char *endp;
    out->type = JSON_NUMBER;
    out->number = strtod(tmp, &endp);
    if (*endp != '\0') return -1;
    if (integral) {
        errno = 0;
        long long v = strtoll(tmp, &endp, 10);
        if (errno == 0 && *endp == '\0') {
            out->is_integer = true;
            out->integer = (int64_t)v;
        }
    }
    return 0;
}

static int parse_array(json_cursor *c, json_value *out) {
    out->type = JSON_ARRAY;
    c->p++; /* [ */
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') { c->p++; return 0; }
    for (;;) {
        out->items = grow(out->items, out->count + 1, sizeof(json_value));
        int rc = parse_value(c, &out->items[out->count]);
        out->count++; /* also on failure, so that json_free frees what the item holds */
        if (rc != 0) return -1;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == ']') { c->p++; return 0; }
        return -1;
    }
}

static int parse_object(json_cursor *c, json_value *out) {
    out->type = JSON_OBJECT;
    c->p++; /* { */
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; return 0; }
    for (;;) {
        size_t key_len;
        out->items = grow(out->items, out->count + 1, sizeof(json_value));
        out->keys = grow(out->keys, out->count + 1, sizeof(char *));
        memset(&out->items[out->count], 0, sizeof(json_value));
        out->keys[out->count] = NULL;
        skip_ws(c);
        if (parse_string(c, &out->keys[out->count], &key_len) != 0) {
            out->count++; /* so that json_free frees what this member holds */
            return -1;
        }
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') { out->count++; return -1; }
        c->p++;
        int rc = parse_value(c, &out->items[out->count]);
        out->count++;
        if (rc != 0) return -1;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == '}') { c->p++; return 0; }
        return -1;
    }
}

static int parse_value(json_cursor *c, json_value *out) {
    memset(out, 0, sizeof *out);
    if (++c->depth > 64) return -1;
    skip_ws(c);
    int rc = -1;
    if (c->p >= c->end) rc = -1;
    else if (*c->p == '{') rc = parse_object(c, out);
    else if (*c->p == '[') rc = parse_array(c, out);
    else if (*c->p == '"') {
        out->type = JSON_STRING;
        rc = parse_string(c, &out->string, &out->string_len);
    } else if (take(c, "null")) { out->type = JSON_NULL; rc = 0; }
    else if (take(c, "true")) { out->type = JSON_BOOL; out->boolean = true; rc = 0; }
    else if (take(c, "false")) { out->type = JSON_BOOL; out->boolean = false; rc = 0; }
    else rc = parse_number(c, out);
    c->depth--;
    return rc;
}

int json_parse(const char *text, size_t len, json_value *out) {
    json_cursor c = {text, text + len, 0};
    if (!text) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = parse_value(&c, out);
    skip_ws(&c);
    if (rc != 0 || c.p != c.end) {
        json_free(out);
        return -1;
    }
    return 0;
}

void json_free(json_value *value) {
    for (size_t i = 0; i < value->count; i++) {
        json_free(&value->items[i]);
        if (value->keys) free(value->keys[i]);
    }
    free(value->items);
    free(value->keys);
    free(value->string);
    memset(value, 0, sizeof *value);
}

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->count; i++) {
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    }
    return NULL;
}

bool json_get_int(const json_value *obj, const char *key, int64_t *out) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_NUMBER || !v->is_integer) return false;
    *out = v->integer;
    return true;
}

bool json_get_bool(const json_value *obj, const char *key, bool *out) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_BOOL) return false;
    *out = v->boolean;
    return true;
}

const char *json_get_string(const json_value *obj, const char *key) {
    const json_value *v = json_get(obj, key);
    return v && v->type == JSON_STRING ? v->string : NULL;
}

/* arrow_build.c — see arrow_build.h. */
#include "arrow_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ------------------------------------------------------------------------ */

/* The tests cannot do anything useful without memory, so running out ends the process. */
static void *ab_alloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "arrow_build: out of memory\n");
        abort();
    }
    return p;
}

static char *ab_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = ab_alloc(n);
    memcpy(p, s, n);
    return p;
}

/* ---- schemas --------------------------------------------------------------------------- */

static void ab_release_schema_cb(struct ArrowSchema *s) {
    for (int64_t i = 0; i < s->n_children; i++) {
        struct ArrowSchema *child = s->children[i];
        if (child->release) child->release(child);
        free(child);
    }
    free(s->children);
    if (s->dictionary) {
        if (s->dictionary->release) s->dictionary->release(s->dictionary);
        free(s->dictionary);
    }
    free((void *)s->format);
    free((void *)s->name);
    free((void *)s->metadata);
    s->release = NULL;
}

static void ab_schema_init(struct ArrowSchema *s, const char *format, const char *name,
                           int64_t flags, int64_t n_children) {
    memset(s, 0, sizeof *s);
    s->format = ab_strdup(format);
    s->name = name ? ab_strdup(name) : NULL;
    s->flags = flags;
    s->n_children = n_children;
    if (n_children > 0) {
        s->children = ab_alloc(sizeof(struct ArrowSchema *) * (size_t)n_children);
        for (int64_t i = 0; i < n_children; i++) {
            s->children[i] = ab_alloc(sizeof(struct ArrowSchema));
        }
    }
    s->release = ab_release_schema_cb;
}

/* The byte length of an Arrow metadata blob: int32 count, then (int32 len, bytes) pairs. */
static size_t ab_metadata_size(const char *metadata) {
    int32_t count, len;
    size_t pos = sizeof(int32_t);
    memcpy(&count, metadata, sizeof count);
    for (int32_t i = 0; i < 2 * count; i++) {
        memcpy(&len, metadata + pos, sizeof len);
        pos += sizeof len + (size_t)len;
    }
    return pos;
}

void ab_schema_copy(struct ArrowSchema *dst, const struct ArrowSchema *src) {
    ab_schema_init(dst, src->format, src->name, src->flags, src->n_children);
    if (src->metadata) {
        size_t n = ab_metadata_size(src->metadata);
        char *copy = ab_alloc(n);
        memcpy(copy, src->metadata, n);
        dst->metadata = copy;
    }
    for (int64_t i = 0; i < src->n_children; i++) {
        ab_schema_copy(dst->children[i], src->children[i]);
    }
    if (src->dictionary) {
        dst->dictionary = ab_alloc(sizeof(struct ArrowSchema));
        ab_schema_copy(dst->dictionary, src->dictionary);
    }
}

void ab_schema_release(struct ArrowSchema *schema) {
    if (schema && schema->release) schema->release(schema);
}

/* ---- arrays ---------------------------------------------------------------------------- */

/*
 * What an array owns, kept apart from `buffers` so that a test may tamper with the visible
 * buffer pointers or n_buffers (to build malformed input) without leaking or double-freeing.
 */
typedef struct ab_array_private {
    int64_t n_owned;
    void **owned;
} ab_array_private;

static void ab_release_array_cb(struct ArrowArray *a) {
    ab_array_private *p = a->private_data;
    for (int64_t i = 0; i < a->n_children; i++) {
        struct ArrowArray *child = a->children[i];
        /* A consumer may have moved a child out (leaving it released): skip it then. */
        if (child->release) child->release(child);
        free(child);
    }
    free(a->children);
    if (a->dictionary) {
        if (a->dictionary->release) a->dictionary->release(a->dictionary);
        free(a->dictionary);
    }
    for (int64_t i = 0; i < p->n_owned; i++) free(p->owned[i]);
    free(p->owned);
    free(p);
    free((void *)a->buffers);
    a->release = NULL;
}

static void ab_array_init(struct ArrowArray *a, int64_t length, int64_t n_buffers,
                          int64_t n_children) {
    ab_array_private *p = ab_alloc(sizeof *p);
    memset(a, 0, sizeof *a);
    a->length = length;
    a->n_buffers = n_buffers;
    a->buffers = ab_alloc(sizeof(void *) * (size_t)n_buffers);
    p->n_owned = n_buffers;
    p->owned = ab_alloc(sizeof(void *) * (size_t)n_buffers);
    a->n_children = n_children;
    if (n_children > 0) {
        a->children = ab_alloc(sizeof(struct ArrowArray *) * (size_t)n_children);
        for (int64_t i = 0; i < n_children; i++) {
            a->children[i] = ab_alloc(sizeof(struct ArrowArray));
        }
    }
    a->private_data = p;
    a->release = ab_release_array_cb;
}

/* Allocates buffer i (zeroed, at least 8 bytes so that every buffer is a real allocation). */
static void *ab_array_buffer(struct ArrowArray *a, int64_t i, size_t size) {
    ab_array_private *p = a->private_data;
    void *mem = ab_alloc(size < 8 ? 8 : size);
    p->owned[i] = mem;
    a->buffers[i] = mem;
    return mem;
}

void ab_array_release(struct ArrowArray *array) {
    if (array && array->release) array->release(array);
}

static void ab_set_bit(uint8_t *bits, int64_t i) { bits[i / 8] |= (uint8_t)(1u << (i % 8)); }

/* Fills buffer 0 with a validity bitmap (or leaves it NULL when every row is valid). */
static void ab_set_validity(struct ArrowArray *a, const bool *valid, int64_t n) {
    int64_t nulls = 0;
    if (valid) {
        for (int64_t i = 0; i < n; i++) nulls += !valid[i];
    }
    a->null_count = nulls;
    if (nulls == 0) return;
    uint8_t *bits = ab_array_buffer(a, 0, (size_t)(n + 7) / 8);
    for (int64_t i = 0; i < n; i++) {
        if (valid[i]) ab_set_bit(bits, i);
    }
}

static void ab_make_fixed(ab_column *out, const char *name, const char *format, const void *values,
                          size_t width, const bool *valid, int64_t n) {
    ab_schema_init(&out->schema, format, name, ARROW_FLAG_NULLABLE, 0);
    ab_array_init(&out->array, n, 2, 0);
    ab_set_validity(&out->array, valid, n);
    void *data = ab_array_buffer(&out->array, 1, width * (size_t)n);
    if (n > 0) memcpy(data, values, width * (size_t)n);
}

void ab_make_int64(ab_column *out, const char *name, const int64_t *values, const bool *valid,
                   int64_t n) {
    ab_make_fixed(out, name, "l", values, sizeof *values, valid, n);
}

void ab_make_int32(ab_column *out, const char *name, const int32_t *values, const bool *valid,
                   int64_t n) {
    ab_make_fixed(out, name, "i", values, sizeof *values, valid, n);
}

void ab_make_uint8(ab_column *out, const char *name, const uint8_t *values, const bool *valid,
                   int64_t n) {
    ab_make_fixed(out, name, "C", values, sizeof *values, valid, n);
}

void ab_make_float64(ab_column *out, const char *name, const double *values, const bool *valid,
                     int64_t n) {
    ab_make_fixed(out, name, "g", values, sizeof *values, valid, n);
}

void ab_make_date32(ab_column *out, const char *name, const int32_t *days, const bool *valid,
                    int64_t n) {
    ab_make_fixed(out, name, "tdD", days, sizeof *days, valid, n);
}

void ab_make_timestamp(ab_column *out, const char *name, const char *format,
                       const int64_t *values, const bool *valid, int64_t n) {
    ab_make_fixed(out, name, format, values, sizeof *values, valid, n);
}

void ab_make_bool(ab_column *out, const char *name, const bool *values, const bool *valid,
                  int64_t n) {
    ab_schema_init(&out->schema, "b", name, ARROW_FLAG_NULLABLE, 0);
    ab_array_init(&out->array, n, 2, 0);
    ab_set_validity(&out->array, valid, n);
    uint8_t *bits = ab_array_buffer(&out->array, 1, (size_t)(n + 7) / 8);
    for (int64_t i = 0; i < n; i++) {
        if (values[i]) ab_set_bit(bits, i);
    }
}

/* Fills a utf8 / large_utf8 array (validity, offsets, data) from C strings. */
static void ab_fill_strings(struct ArrowArray *a, const char *const *values, int64_t n,
                            bool large) {
    size_t total = 0;
    int64_t nulls = 0;
    for (int64_t i = 0; i < n; i++) {
        if (values[i]) total += strlen(values[i]);
        else nulls++;
    }
    a->null_count = nulls;
    if (nulls > 0) {
        uint8_t *bits = ab_array_buffer(a, 0, (size_t)(n + 7) / 8);
        for (int64_t i = 0; i < n; i++) {
            if (values[i]) ab_set_bit(bits, i);
        }
    }
    size_t width = large ? sizeof(int64_t) : sizeof(int32_t);
    uint8_t *offsets = ab_array_buffer(a, 1, width * (size_t)(n + 1));
    char *data = ab_array_buffer(a, 2, total);
    size_t pos = 0;
    for (int64_t i = 0; i <= n; i++) {
        if (large) {
            int64_t o = (int64_t)pos;
            memcpy(offsets + width * (size_t)i, &o, width);
        } else {
            int32_t o = (int32_t)pos;
            memcpy(offsets + width * (size_t)i, &o, width);
        }
        if (i < n && values[i]) {
            size_t len = strlen(values[i]);
            memcpy(data + pos, values[i], len);
            pos += len;
        }
    }
}

void ab_make_utf8(ab_column *out, const char *name, const char *const *values, int64_t n) {
    ab_schema_init(&out->schema, "u", name, ARROW_FLAG_NULLABLE, 0);
    ab_array_init(&out->array, n, 3, 0);
    ab_fill_strings(&out->array, values, n, false);
}

void ab_make_large_utf8(ab_column *out, const char *name, const char *const *values, int64_t n) {
    ab_schema_init(&out->schema, "U", name, ARROW_FLAG_NULLABLE, 0);
    ab_array_init(&out->array, n, 3, 0);
    ab_fill_strings(&out->array, values, n, true);
}

void ab_make_dict_utf8(ab_column *out, const char *name, const int32_t *keys, const bool *valid,
                       int64_t n, const char *const *dict, int64_t n_dict) {
    /* A dictionary column: the field has the key type, its `dictionary` the value type. */
    ab_make_fixed(out, name, "i", keys, sizeof *keys, valid, n);
    out->schema.dictionary = ab_alloc(sizeof(struct ArrowSchema));
    ab_schema_init(out->schema.dictionary, "u", NULL, ARROW_FLAG_NULLABLE, 0);
    out->array.dictionary = ab_alloc(sizeof(struct ArrowArray));
    ab_array_init(out->array.dictionary, n_dict, 3, 0);
    ab_fill_strings(out->array.dictionary, dict, n_dict, false);
}

void ab_make_list_int64(ab_column *out, const char *name, const int32_t *offsets, int64_t n,
                        const int64_t *items) {
    int64_t n_items = offsets[n];
    ab_schema_init(&out->schema, "+l", name, ARROW_FLAG_NULLABLE, 1);
    ab_schema_init(out->schema.children[0], "l", "item", ARROW_FLAG_NULLABLE, 0);
    ab_array_init(&out->array, n, 2, 1);
    int32_t *o = ab_array_buffer(&out->array, 1, sizeof(int32_t) * (size_t)(n + 1));
    memcpy(o, offsets, sizeof(int32_t) * (size_t)(n + 1));
    ab_array_init(out->array.children[0], n_items, 2, 0);
    int64_t *values = ab_array_buffer(out->array.children[0], 1, sizeof(int64_t) * (size_t)n_items);
    if (n_items > 0) memcpy(values, items, sizeof(int64_t) * (size_t)n_items);
}

void ab_make_batch(struct ArrowSchema *out_schema, struct ArrowArray *out_array, ab_column *cols,
                   int64_t n_cols) {
    int64_t length = n_cols > 0 ? cols[0].array.length : 0;
    ab_schema_init(out_schema, "+s", "", 0, n_cols);
    /* A struct array has one buffer, its validity bitmap, which a record batch leaves NULL. */
    ab_array_init(out_array, length, 1, n_cols);
    for (int64_t i = 0; i < n_cols; i++) {
        *out_schema->children[i] = cols[i].schema;
        cols[i].schema.release = NULL;
        *out_array->children[i] = cols[i].array;
        cols[i].array.release = NULL;
    }
}

/* ---- stream producer ------------------------------------------------------------------- */

typedef struct ab_stream_private {
    struct ArrowSchema schema;
    struct ArrowArray *batches;
    int64_t n_batches;
    int64_t next;
    ab_stream_options opts;
    const char *last_error;
} ab_stream_private;

ab_stream_options ab_stream_options_default(void) {
    ab_stream_options o;
    memset(&o, 0, sizeof o);
    o.fail_next_at = -1;
    return o;
}

static int ab_stream_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
    ab_stream_private *p = s->private_data;
    if (p->opts.get_schema_errno) {
        p->last_error = p->opts.error_message;
        return p->opts.get_schema_errno;
    }
    /* The consumer releases the schema independently of the stream: give it its own copy. */
    ab_schema_copy(out, &p->schema);
    return 0;
}

static int ab_stream_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
    ab_stream_private *p = s->private_data;
    if (p->opts.fail_next_at >= 0 && p->next == p->opts.fail_next_at) {
        p->last_error = p->opts.error_message;
        return p->opts.get_next_errno ? p->opts.get_next_errno : EIO;
    }
    if (p->next >= p->n_batches) {
        memset(out, 0, sizeof *out); /* release == NULL: the end of the stream */
        return 0;
    }
    *out = p->batches[p->next]; /* move: the consumer now owns the batch */
    p->batches[p->next].release = NULL;
    p->next++;
    return 0;
}

static const char *ab_stream_get_last_error(struct ArrowArrayStream *s) {
    ab_stream_private *p = s->private_data;
    return p->last_error;
}

static void ab_stream_release(struct ArrowArrayStream *s) {
    ab_stream_private *p = s->private_data;
    for (int64_t i = 0; i < p->n_batches; i++) ab_array_release(&p->batches[i]);
    free(p->batches);
    ab_schema_release(&p->schema);
    if (p->opts.release_counter) (*p->opts.release_counter)++;
    free(p);
    s->release = NULL;
}

void ab_stream_make(struct ArrowArrayStream *out, struct ArrowSchema *schema,
                    struct ArrowArray *batches, int64_t n_batches, const ab_stream_options *opts) {
    ab_stream_private *p = ab_alloc(sizeof *p);
    p->schema = *schema;
    schema->release = NULL;
    p->batches = ab_alloc(sizeof(struct ArrowArray) * (size_t)n_batches);
    for (int64_t i = 0; i < n_batches; i++) {
        p->batches[i] = batches[i];
        batches[i].release = NULL;
    }
    p->n_batches = n_batches;
    p->opts = opts ? *opts : ab_stream_options_default();
    memset(out, 0, sizeof *out);
    out->get_schema = ab_stream_get_schema;
    out->get_next = ab_stream_get_next;
    out->get_last_error = ab_stream_get_last_error;
    out->release = ab_stream_release;
    out->private_data = p;
}

void ab_stream_from_columns(struct ArrowArrayStream *out, ab_column *cols, int64_t n_cols,
                            const ab_stream_options *opts) {
    struct ArrowSchema schema;
    struct ArrowArray batch;
    ab_make_batch(&schema, &batch, cols, n_cols);
    ab_stream_make(out, &schema, &batch, 1, opts);
}

/* ---- stream consumer ------------------------------------------------------------------- */

static int ab_stream_failed(struct ArrowArrayStream *stream, int code, const char *what,
                            char *errbuf, size_t errbuf_len) {
    const char *msg = stream->get_last_error ? stream->get_last_error(stream) : NULL;
    if (errbuf && errbuf_len) {
        snprintf(errbuf, errbuf_len, "%s failed (%d): %s", what, code, msg ? msg : "(no message)");
    }
    stream->release(stream);
    return code;
}

int ab_read_stream(struct ArrowArrayStream *stream, ab_table *out, char *errbuf,
                   size_t errbuf_len) {
    memset(out, 0, sizeof *out);
    if (!stream->release) {
        if (errbuf && errbuf_len) snprintf(errbuf, errbuf_len, "the stream is released");
        return EINVAL;
    }
    int code = stream->get_schema(stream, &out->schema);
    if (code != 0) return ab_stream_failed(stream, code, "get_schema", errbuf, errbuf_len);
    int64_t cap = 0;
    for (;;) {
        struct ArrowArray batch;
        memset(&batch, 0, sizeof batch);
        code = stream->get_next(stream, &batch);
        if (code != 0) {
            int rc = ab_stream_failed(stream, code, "get_next", errbuf, errbuf_len);
            ab_table_free(out);
            return rc;
        }
        if (!batch.release) break; /* end of stream */
        if (out->n_batches == cap) {
            cap = cap ? cap * 2 : 4;
            struct ArrowArray *grown = realloc(out->batches, sizeof(struct ArrowArray) * (size_t)cap);
            if (!grown) abort();
            out->batches = grown;
        }
        out->batches[out->n_batches++] = batch;
        out->n_rows += batch.length;
    }
    stream->release(stream);
    return 0;
}

void ab_table_free(ab_table *table) {
    for (int64_t i = 0; i < table->n_batches; i++) ab_array_release(&table->batches[i]);
    free(table->batches);
    ab_schema_release(&table->schema);
    memset(table, 0, sizeof *table);
}

int64_t ab_table_column(const ab_table *table, const char *name) {
    for (int64_t i = 0; i < table->schema.n_children; i++) {
        const char *n = table->schema.children[i]->name;
        if (n && strcmp(n, name) == 0) return i;
    }
    return -1;
}

const struct ArrowArray *ab_table_cell(const ab_table *table, int64_t col, int64_t row,
                                       int64_t *index) {
    if (col < 0 || col >= table->schema.n_children || row < 0) return NULL;
    for (int64_t b = 0; b < table->n_batches; b++) {
        const struct ArrowArray *batch = &table->batches[b];
        if (row < batch->length) {
            if (col >= batch->n_children) return NULL;
            const struct ArrowArray *child = batch->children[col];
            /* A struct's offset applies to its children, on top of their own offsets. */
            *index = batch->offset + row + child->offset;
            return child;
        }
        row -= batch->length;
    }
    return NULL;
}

bool ab_cell_valid(const struct ArrowArray *a, int64_t index) {
    if (a->null_count == 0 || a->n_buffers < 1 || a->buffers[0] == NULL) return true;
    const uint8_t *bits = a->buffers[0];
    return (bits[index / 8] >> (index % 8)) & 1;
}

int64_t ab_cell_int64(const struct ArrowArray *a, int64_t index) {
    int64_t v;
    memcpy(&v, (const uint8_t *)a->buffers[1] + sizeof v * (size_t)index, sizeof v);
    return v;
}

int32_t ab_cell_int32(const struct ArrowArray *a, int64_t index) {
    int32_t v;
    memcpy(&v, (const uint8_t *)a->buffers[1] + sizeof v * (size_t)index, sizeof v);
    return v;
}

uint8_t ab_cell_uint8(const struct ArrowArray *a, int64_t index) {
    return ((const uint8_t *)a->buffers[1])[index];
}

double ab_cell_float64(const struct ArrowArray *a, int64_t index) {
    double v;
    memcpy(&v, (const uint8_t *)a->buffers[1] + sizeof v * (size_t)index, sizeof v);
    return v;
}

bool ab_cell_bool(const struct ArrowArray *a, int64_t index) {
    const uint8_t *bits = a->buffers[1];
    return (bits[index / 8] >> (index % 8)) & 1;
}

const char *ab_cell_utf8(const struct ArrowArray *a, int64_t index, bool large, size_t *len) {
    int64_t start, end;
    const uint8_t *offsets = a->buffers[1];
    if (large) {
        memcpy(&start, offsets + 8 * (size_t)index, 8);
        memcpy(&end, offsets + 8 * (size_t)(index + 1), 8);
    } else {
        int32_t s, e;
        memcpy(&s, offsets + 4 * (size_t)index, 4);
        memcpy(&e, offsets + 4 * (size_t)(index + 1), 4);
        start = s;
        end = e;
    }
    *len = (size_t)(end - start);
    /* An empty values buffer may be NULL; there is nothing to point at then. */
    const char *data = a->buffers[2];
    return data ? data + start : "";
}

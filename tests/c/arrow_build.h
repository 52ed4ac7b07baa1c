/*
 * arrow_build.h — hand-built Arrow C Data Interface arrays, streams and a stream consumer,
 * for the C tests of Sheaf. No Arrow library is used: every struct, buffer and release
 * callback is written here, so the tests control (and can deliberately break) every byte.
 *
 * Ownership, as the C Data Interface requires:
 * - every exported ArrowSchema / ArrowArray owns what it points at and frees it in its own
 *   release callback (children and dictionaries included), then sets release = NULL;
 * - "moving" a struct means copying it and marking the source released (release = NULL);
 * - ab_stream_make moves the schema and batches into the stream; the stream hands each batch
 *   out exactly once (get_next moves it), and releases whatever it still holds when released.
 */
#ifndef ARROW_BUILD_H
#define ARROW_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sheaf.h"

/* One column: its field description and its data, built together. */
typedef struct ab_column {
    struct ArrowSchema schema;
    struct ArrowArray array;
} ab_column;

/*
 * Column builders. `valid` may be NULL (every value valid, no validity bitmap exported);
 * otherwise valid[i] == false makes row i null (its value slot is still written, as Arrow
 * allows any bits under a null). Every builder copies its inputs.
 */
void ab_make_int64(ab_column *out, const char *name, const int64_t *values, const bool *valid,
                   int64_t n);
void ab_make_int32(ab_column *out, const char *name, const int32_t *values, const bool *valid,
                   int64_t n);
void ab_make_uint8(ab_column *out, const char *name, const uint8_t *values, const bool *valid,
                   int64_t n);
void ab_make_float64(ab_column *out, const char *name, const double *values, const bool *valid,
                     int64_t n);
/* Days since the epoch (format "tdD"). */
void ab_make_date32(ab_column *out, const char *name, const int32_t *days, const bool *valid,
                    int64_t n);
/* A timestamp column; `format` is e.g. "tsn:UTC" (nanoseconds, UTC) or "tsn:" (naive). */
void ab_make_timestamp(ab_column *out, const char *name, const char *format,
                       const int64_t *values, const bool *valid, int64_t n);
void ab_make_bool(ab_column *out, const char *name, const bool *values, const bool *valid,
                  int64_t n);
/* utf8 ("u"); a NULL entry in `values` is a null row, "" an empty but valid string. */
void ab_make_utf8(ab_column *out, const char *name, const char *const *values, int64_t n);
/* large_utf8 ("U"): the same with 64-bit offsets. */
void ab_make_large_utf8(ab_column *out, const char *name, const char *const *values, int64_t n);
/* Dictionary-encoded utf8 with int32 keys into `dict` (n_dict non-null strings). */
void ab_make_dict_utf8(ab_column *out, const char *name, const int32_t *keys, const bool *valid,
                       int64_t n, const char *const *dict, int64_t n_dict);
/* A list<int64> column ("+l"): row i holds items[offsets[i] .. offsets[i+1]). */
void ab_make_list_int64(ab_column *out, const char *name, const int32_t *offsets, int64_t n,
                        const int64_t *items);

/*
 * Moves `n_cols` columns (all of the same length) into a record batch: a struct ("+s") array
 * and its schema. The columns are left released.
 */
void ab_make_batch(struct ArrowSchema *out_schema, struct ArrowArray *out_array, ab_column *cols,
                   int64_t n_cols);

/* A deep copy of a schema, with its own release callback. */
void ab_schema_copy(struct ArrowSchema *dst, const struct ArrowSchema *src);

/* Releases a schema / array if it is not released yet (safe on released structs). */
void ab_schema_release(struct ArrowSchema *schema);
void ab_array_release(struct ArrowArray *array);

/* Faults a stream can inject, to test how a consumer copes. Start from
 * ab_stream_options_default() (no faults, no counter). */
typedef struct ab_stream_options {
    int get_schema_errno;      /* nonzero: get_schema fails with this code */
    int64_t fail_next_at;      /* >= 0: the get_next call that would return batch #k fails */
    int get_next_errno;        /* the code that failing get_next returns (EIO if 0) */
    const char *error_message; /* what get_last_error reports after a failure; NULL = none */
    int *release_counter;      /* incremented when the stream is released; may be NULL */
} ab_stream_options;

ab_stream_options ab_stream_options_default(void);

/*
 * Makes a stream over `n_batches` record batches that all have `schema`. Moves `schema` and
 * every `batches[i]` in (leaving them released). `opts` may be NULL (no faults, no counter).
 */
void ab_stream_make(struct ArrowArrayStream *out, struct ArrowSchema *schema,
                    struct ArrowArray *batches, int64_t n_batches, const ab_stream_options *opts);

/* Convenience: a stream of one batch built from columns (moved in). */
void ab_stream_from_columns(struct ArrowArrayStream *out, ab_column *cols, int64_t n_cols,
                            const ab_stream_options *opts);

/* A stream consumed into memory: the schema and every batch (struct arrays). */
typedef struct ab_table {
    struct ArrowSchema schema;
    struct ArrowArray *batches;
    int64_t n_batches;
    int64_t n_rows;
} ab_table;

/*
 * Reads a whole stream into `out` and releases the stream (always, also on failure). Returns 0,
 * or the stream's error code with its message (or "(no message)") copied into errbuf.
 * On failure `out` holds nothing that needs freeing (ab_table_free is still safe).
 */
int ab_read_stream(struct ArrowArrayStream *stream, ab_table *out, char *errbuf,
                   size_t errbuf_len);
void ab_table_free(ab_table *table);

/* The index of the column named `name`, or -1. */
int64_t ab_table_column(const ab_table *table, const char *name);

/*
 * The array holding row `row` of column `col`, and in *index the physical position of that row
 * inside it (every offset applied), for the ab_cell_* accessors below. NULL if out of range.
 */
const struct ArrowArray *ab_table_cell(const ab_table *table, int64_t col, int64_t row,
                                       int64_t *index);

bool ab_cell_valid(const struct ArrowArray *a, int64_t index);
int64_t ab_cell_int64(const struct ArrowArray *a, int64_t index);
int32_t ab_cell_int32(const struct ArrowArray *a, int64_t index);
uint8_t ab_cell_uint8(const struct ArrowArray *a, int64_t index);
double ab_cell_float64(const struct ArrowArray *a, int64_t index);
bool ab_cell_bool(const struct ArrowArray *a, int64_t index);
/* A utf8 ("u", large=false) or large_utf8 ("U", large=true) value; not NUL-terminated. */
const char *ab_cell_utf8(const struct ArrowArray *a, int64_t index, bool large, size_t *len);

#endif /* ARROW_BUILD_H */

/*
 * quickstart.c — the first Sheaf program to copy.
 *
 * Writes a small price series to library "demo", symbol "prices" (a timestamp index column
 * "ts" plus two float64 columns), writes a corrected second version, then reads the latest
 * version and version 0 back and prints both.
 *
 *   usage: quickstart <store-uri>        e.g.  quickstart lmdb:///tmp/demo-store
 *                                               quickstart mem://
 *
 *   build: cc -std=c99 -I include examples/c/quickstart.c -L target/x86_64-unknown-linux-gnu/release -lsheaf \
 *             -Wl,-rpath,$PWD/target/x86_64-unknown-linux-gnu/release -o quickstart
 *
 * Table data crosses the Sheaf API only as the Arrow C Data Interface (declared in sheaf.h).
 * A real program would usually get those structs from an Arrow library (Arrow C++, nanoarrow,
 * pyarrow, ...). To stay dependency-free, this example builds them by hand: section 1 is that
 * plumbing, section 2 the Sheaf calls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheaf.h"

#define N_ROWS 10

/* =============================================================================================
 * 1. Arrow plumbing: export a record batch of fixed-width columns (no nulls) as a stream.
 * ========================================================================================== */

/* One column to export: its name, Arrow format string and values (copied on export). */
typedef struct {
    const char *name;
    const char *format; /* "tsn:UTC" = timestamp[ns, UTC] as int64; "g" = float64 */
    const void *values;
    size_t width; /* bytes per value */
} ColumnSpec;

/* Children of a struct are owned by their parent: their own release only marks them released. */
static void release_child_schema(struct ArrowSchema *schema) { schema->release = NULL; }

static void release_batch_schema(struct ArrowSchema *schema) {
    for (int64_t i = 0; i < schema->n_children; i++) {
        struct ArrowSchema *child = schema->children[i];
        if (child->release) child->release(child);
    }
    free(schema->private_data); /* the block holding the child pointers and structs */
    schema->release = NULL;
}

/* The schema of a record batch: a struct ("+s") whose children are the columns. */
static void export_schema(const ColumnSpec *cols, int n_cols, struct ArrowSchema *out) {
    /* One allocation: n_cols child pointers followed by n_cols child structs. */
    void *block = calloc(1, n_cols * (sizeof(struct ArrowSchema *) + sizeof(struct ArrowSchema)));
    struct ArrowSchema **pointers = block;
    struct ArrowSchema *children = (struct ArrowSchema *)(pointers + n_cols);
    if (!block) abort();
    for (int i = 0; i < n_cols; i++) {
        children[i].format = cols[i].format; /* string literals: nothing to free */
        children[i].name = cols[i].name;
        children[i].flags = ARROW_FLAG_NULLABLE;
        children[i].release = release_child_schema;
        pointers[i] = &children[i];
    }
    memset(out, 0, sizeof *out);
    out->format = "+s";
    out->name = "";
    out->n_children = n_cols;
    out->children = pointers;
    out->private_data = block;
    out->release = release_batch_schema;
}

/* A column array owns its buffer-pointer array and its copy of the values. */
static void release_column_array(struct ArrowArray *array) {
    free((void *)array->buffers[1]);
    free((void *)array->buffers);
    array->release = NULL;
}

static void release_batch_array(struct ArrowArray *array) {
    for (int64_t i = 0; i < array->n_children; i++) {
        struct ArrowArray *child = array->children[i];
        if (child->release) child->release(child);
    }
    free(array->private_data); /* the block holding the child pointers and structs */
    free((void *)array->buffers);
    array->release = NULL;
}

static void export_batch(const ColumnSpec *cols, int n_cols, int64_t n_rows,
                         struct ArrowArray *out) {
    void *block = calloc(1, n_cols * (sizeof(struct ArrowArray *) + sizeof(struct ArrowArray)));
    struct ArrowArray **pointers = block;
    struct ArrowArray *children = (struct ArrowArray *)(pointers + n_cols);
    if (!block) abort();
    for (int i = 0; i < n_cols; i++) {
        const void **buffers = calloc(2, sizeof(void *)); /* [validity, values] */
        void *values = malloc(cols[i].width * (size_t)n_rows);
        if (!buffers || !values) abort();
        memcpy(values, cols[i].values, cols[i].width * (size_t)n_rows);
        buffers[0] = NULL; /* no validity bitmap: no nulls */
        buffers[1] = values;
        children[i].length = n_rows;
        children[i].n_buffers = 2;
        children[i].buffers = buffers;
        children[i].release = release_column_array;
        pointers[i] = &children[i];
    }
    memset(out, 0, sizeof *out);
    out->length = n_rows;
    out->n_buffers = 1; /* a struct array has only a validity buffer: none here */
    out->buffers = calloc(1, sizeof(void *));
    if (!out->buffers) abort();
    out->n_children = n_cols;
    out->children = pointers;
    out->private_data = block;
    out->release = release_batch_array;
}

/* A stream that yields one batch. */
typedef struct {
    const ColumnSpec *cols;
    int n_cols;
    int64_t n_rows;
    int done;
} OneBatchStream;

static int one_batch_get_schema(struct ArrowArrayStream *stream, struct ArrowSchema *out) {
    OneBatchStream *s = stream->private_data;
    export_schema(s->cols, s->n_cols, out); /* a fresh schema: the consumer releases it */
    return 0;
}

static int one_batch_get_next(struct ArrowArrayStream *stream, struct ArrowArray *out) {
    OneBatchStream *s = stream->private_data;
    if (s->done) {
        memset(out, 0, sizeof *out); /* release == NULL marks the end of the stream */
        return 0;
    }
    export_batch(s->cols, s->n_cols, s->n_rows, out);
    s->done = 1;
    return 0;
}

static const char *one_batch_get_last_error(struct ArrowArrayStream *stream) {
    (void)stream;
    return NULL; /* this stream never fails */
}

static void one_batch_release(struct ArrowArrayStream *stream) {
    free(stream->private_data);
    stream->release = NULL;
}

/* Fills `out` with a stream over `cols`. The values are copied when the batch is exported,
 * so `cols` must stay valid until the stream is consumed (sheaf_table_write does that). */
static void make_stream(const ColumnSpec *cols, int n_cols, int64_t n_rows,
                        struct ArrowArrayStream *out) {
    OneBatchStream *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->cols = cols;
    s->n_cols = n_cols;
    s->n_rows = n_rows;
    out->get_schema = one_batch_get_schema;
    out->get_next = one_batch_get_next;
    out->get_last_error = one_batch_get_last_error;
    out->release = one_batch_release;
    out->private_data = s;
}

/* Formats nanoseconds since the epoch as ISO-8601 UTC, e.g. 2024-01-02T09:30:00.000000000Z. */
static void format_utc_ns(int64_t ns, char *out, size_t out_len) {
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) { frac += 1000000000; secs -= 1; }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) { rem += 86400; days -= 1; }
    /* Civil date from days since 1970-01-01 (H. Hinnant's algorithm). */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(out, out_len, "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64 ":%02" PRId64
             ":%02" PRId64 ".%09" PRId64 "Z", y, m, d, rem / 3600, rem / 60 % 60, rem % 60, frac);
}

/* =============================================================================================
 * 2. Sheaf.
 * ========================================================================================== */

/* Prints a failed call's status and message, frees the error, and exits. */
static void check(SheafStatus status, SheafError *err, const char *what) {
    if (status == SHEAF_OK) return;
    fprintf(stderr, "%s failed: %s: %s\n", what, sheaf_status_name(status), sheaf_error_message(err));
    sheaf_error_free(err);
    exit(1);
}

/* Reads one version of "prices" (options_json picks which) and prints it as a table. */
static void print_version(SheafLibrary *lib, const char *options_json) {
    struct ArrowArrayStream stream;
    struct ArrowSchema schema;
    SheafBytes info = {NULL, 0};
    SheafError *err = NULL;

    check(sheaf_table_read(lib, "prices", strlen("prices"), options_json, strlen(options_json),
                           &stream, &info, NULL, &err),
          err, "sheaf_table_read");
    /* The version info is JSON: {"symbol": ..., "version": N, "rows": R, ...}. */
    printf("%.*s\n", (int)info.len, (const char *)info.data);
    sheaf_bytes_free(&info);

    if (stream.get_schema(&stream, &schema) != 0) {
        fprintf(stderr, "get_schema failed: %s\n", stream.get_last_error(&stream));
        exit(1);
    }
    /* This program wrote the columns, so it knows them: ts (int64 ns), open, close (double). */
    printf("  %-31s %9s %9s\n", schema.children[0]->name, schema.children[1]->name,
           schema.children[2]->name);
    schema.release(&schema);

    for (;;) {
        struct ArrowArray batch;
        if (stream.get_next(&stream, &batch) != 0) {
            fprintf(stderr, "get_next failed: %s\n", stream.get_last_error(&stream));
            exit(1);
        }
        if (batch.release == NULL) break; /* end of the stream */
        /* Values of row i live at index (child offset + i) of each column's values buffer. */
        const struct ArrowArray *ts = batch.children[0], *open = batch.children[1],
                                *close = batch.children[2];
        for (int64_t i = 0; i < batch.length; i++) {
            char when[40];
            format_utc_ns(((const int64_t *)ts->buffers[1])[ts->offset + i], when, sizeof when);
            printf("  %-31s %9.2f %9.2f\n", when,
                   ((const double *)open->buffers[1])[open->offset + i],
                   ((const double *)close->buffers[1])[close->offset + i]);
        }
        batch.release(&batch); /* each batch is released on its own */
    }
    stream.release(&stream);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <store-uri>   (e.g. lmdb:///tmp/demo-store or mem://)\n", argv[0]);
        return 2;
    }
    const char *uri = argv[1];
    SheafError *err = NULL; /* receives an error object on failure; we free it in check() */
    SheafStore *store = NULL;
    SheafLibrary *lib = NULL;

    printf("Sheaf %s (C ABI %u)\n", sheaf_version(), sheaf_abi_version());

    /* Open (or create) the store and the library. Strings go in as (pointer, length). */
    check(sheaf_store_open(uri, strlen(uri), &store, &err), err, "sheaf_store_open");
    check(sheaf_library_open(store, "demo", strlen("demo"), true, NULL, 0, &lib, &err), err,
          "sheaf_library_open");

    /* Ten one-minute bars from 2024-01-02T09:30:00Z. */
    int64_t ts[N_ROWS];
    double open[N_ROWS], close[N_ROWS];
    for (int i = 0; i < N_ROWS; i++) {
        ts[i] = INT64_C(1704187800) * 1000000000 + (int64_t)i * 60 * 1000000000;
        open[i] = 100.0 + i;
        close[i] = 100.25 + i;
    }
    const ColumnSpec cols[3] = {
        {"ts", "tsn:UTC", ts, sizeof ts[0]},
        {"open", "g", open, sizeof open[0]},
        {"close", "g", close, sizeof close[0]},
    };
    const char *options = "{\"index\": \"ts\"}"; /* ts is the (sorted) index column */

    /* Version 0. The stream is moved into sheaf_table_write: the library releases it. */
    struct ArrowArrayStream stream;
    uint64_t version = 0;
    const char *note = "first load";
    make_stream(cols, 3, N_ROWS, &stream);
    check(sheaf_table_write(lib, "prices", strlen("prices"), &stream, (const uint8_t *)note,
                            strlen(note), options, strlen(options), &version, &err),
          err, "sheaf_table_write");
    printf("wrote prices version %" PRIu64 "\n", version);

    /* Version 1: every close corrected by +0.5. Version 0 stays readable. */
    for (int i = 0; i < N_ROWS; i++) close[i] += 0.5;
    note = "corrected closes";
    make_stream(cols, 3, N_ROWS, &stream);
    check(sheaf_table_write(lib, "prices", strlen("prices"), &stream, (const uint8_t *)note,
                            strlen(note), options, strlen(options), &version, &err),
          err, "sheaf_table_write");
    printf("wrote prices version %" PRIu64 "\n", version);

    printf("\nlatest version:\n");
    print_version(lib, "{\"as_of\": null}");
    printf("\nversion 0:\n");
    print_version(lib, "{\"as_of\": 0}");

    /* Handles are freed in any order; freeing the last one closes the store. */
    sheaf_library_free(lib);
    sheaf_store_free(store);
    return 0;
}

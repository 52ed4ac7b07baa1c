/*
 * test_timeseries.c — the time-series operations of the C ABI, checked by value: append,
 * update, delete_data_in_range, reads with date_range / row_range / columns / as_of, describe,
 * pruning, compaction, version queries, snapshots, batch calls, staged writes and dynamic
 * schemas. Segment pruning is proved with sheaf_library_stats ("segments_loaded").
 *
 * Conventions: every indexed table here has an index column "ts" (timestamp[ns, UTC]) whose
 * row k holds T(k) = TS0 + k seconds, and an int64 column "v". Expected contents are kept in a
 * small model (model_*) that each operation updates the way the header says it should.
 *
 * Runs on a private in-memory store and on an LMDB store.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testkit.h"

#define SEC INT64_C(1000000000)
#define TS0 INT64_C(1700000000000000000) /* 2023-11-14T22:13:20Z in ns */
#define MAX_ROWS 256

static int64_t T(int64_t k) { return TS0 + k * SEC; }

typedef SheafStatus (*stream_call)(const SheafLibrary *, const char *, size_t,
                                   struct ArrowArrayStream *, const uint8_t *, size_t,
                                   const char *, size_t, uint64_t *, SheafError **);

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- building input ---------------------------------------------------------------------- */

/* Columns ts = T(keys[i]), v = values[i]. */
static void make_tv_columns(ab_column cols[2], const int64_t *keys, const int64_t *values, int n) {
    int64_t ts[MAX_ROWS];
    REQUIRE(n <= MAX_ROWS);
    for (int i = 0; i < n; i++) ts[i] = T(keys[i]);
    ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts, NULL, n);
    ab_make_int64(&cols[1], "v", values, NULL, n);
}

/*
 * Calls `fn` (sheaf_table_write / append / update) with a one-batch stream of rows
 * (T(keys[i]), values[i]); checks the stream was moved in and released exactly once.
 * `metadata` NULL = none. Returns the call's status; *err as the call left it.
 */
static SheafStatus call_keys(stream_call fn, SheafLibrary *lib, const char *symbol,
                             const int64_t *keys, const int64_t *values, int n,
                             const char *metadata, const char *options, uint64_t *version,
                             SheafError **err) {
    ab_column cols[2];
    struct ArrowArrayStream stream;
    int released = 0;
    ab_stream_options opts = ab_stream_options_default();
    opts.release_counter = &released;
    make_tv_columns(cols, keys, values, n);
    ab_stream_from_columns(&stream, cols, 2, &opts);
    SheafStatus st = fn(lib, STR(symbol), &stream, (const uint8_t *)metadata,
                        metadata ? strlen(metadata) : 0, options, options ? strlen(options) : 0,
                        version, err);
    CHECK_MSG(stream.release == NULL && released == 1,
              "the stream given for '%s' was not released exactly once (%d)", symbol, released);
    return st;
}

/* Rows first .. first+n-1, with v = vbase + k. */
static SheafStatus call_range(stream_call fn, SheafLibrary *lib, const char *symbol, int64_t first,
                              int n, int64_t vbase, const char *metadata, const char *options,
                              uint64_t *version, SheafError **err) {
    int64_t keys[MAX_ROWS], values[MAX_ROWS];
    REQUIRE(n <= MAX_ROWS);
    for (int i = 0; i < n; i++) {
        keys[i] = first + i;
        values[i] = vbase + first + i;
    }
    return call_keys(fn, lib, symbol, keys, values, n, metadata, options, version, err);
}

/* An empty stream (the ts/v schema, no batch). */
static void make_empty_tv_stream(struct ArrowArrayStream *stream, int *released) {
    ab_column cols[2];
    struct ArrowSchema schema;
    struct ArrowArray batch;
    ab_stream_options opts = ab_stream_options_default();
    opts.release_counter = released;
    make_tv_columns(cols, NULL, NULL, 0);
    ab_make_batch(&schema, &batch, cols, 2);
    ab_array_release(&batch);
    ab_stream_make(stream, &schema, NULL, 0, &opts);
}

/* ---- the expected content ---------------------------------------------------------------- */

typedef struct model {
    bool has[MAX_ROWS];
    int64_t v[MAX_ROWS];
} model;

static void model_clear(model *m) { memset(m, 0, sizeof *m); }

static void model_set_range(model *m, int64_t first, int n, int64_t vbase) {
    for (int64_t k = first; k < first + n; k++) {
        m->has[k] = true;
        m->v[k] = vbase + k;
    }
}

static void model_erase(model *m, int64_t lo, int64_t hi) {
    for (int64_t k = lo; k <= hi; k++) m->has[k] = false;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* Copies column `name` (int64 / timestamp storage) into out[]; returns the row count. */
static int64_t column_i64(const ab_table *t, const char *name, int64_t *out, int64_t cap,
                          bool *valid) {
    int64_t col = ab_table_column(t, name);
    if (col < 0) return -1;
    for (int64_t r = 0; r < t->n_rows && r < cap; r++) {
        int64_t k;
        const struct ArrowArray *a = ab_table_cell(t, col, r, &k);
        REQUIRE(a != NULL);
        if (valid) valid[r] = ab_cell_valid(a, k);
        out[r] = ab_cell_int64(a, k);
    }
    return t->n_rows;
}

/*
 * Reads `symbol` with `options` and compares (ts, v) row by row with `expected_keys` /
 * `expected_values`. `version` >= 0 also checks the version read.
 */
static void expect_rows_at(int line, SheafLibrary *lib, const char *symbol, const char *options,
                           const int64_t *expected_keys, const int64_t *expected_values, int n,
                           int64_t version) {
    ab_table t;
    SheafBytes info = {NULL, 0};
    int64_t ts[MAX_ROWS], v[MAX_ROWS];
    tu_read(lib, symbol, options, &t, &info, NULL);
    if (t.n_rows != n) {
        tu_fail(__FILE__, line, "read of '%s' with %s: %lld rows, expected %d", symbol,
                options ? options : "(none)", (long long)t.n_rows, n);
    } else {
        CHECK_MSG(column_i64(&t, "ts", ts, MAX_ROWS, NULL) == n, "line %d: no ts column", line);
        CHECK_MSG(column_i64(&t, "v", v, MAX_ROWS, NULL) == n, "line %d: no v column", line);
        for (int i = 0; i < n; i++) {
            if (ts[i] != T(expected_keys[i]) || v[i] != expected_values[i]) {
                tu_fail(__FILE__, line,
                        "read of '%s' with %s: row %d is (T(%lld)%+lld ns, %lld), expected "
                        "(T(%lld), %lld)",
                        symbol, options ? options : "(none)", i, (long long)((ts[i] - TS0) / SEC),
                        (long long)((ts[i] - TS0) % SEC), (long long)v[i],
                        (long long)expected_keys[i], (long long)expected_values[i]);
                break;
            }
        }
    }
    ab_table_free(&t);
    json_value parsed;
    tu_parse_bytes(&info, &parsed);
    int64_t got = -1, rows = -1;
    CHECK(json_get_int(&parsed, "version", &got));
    CHECK(json_get_int(&parsed, "rows", &rows));
    if (version >= 0 && got != version) {
        tu_fail(__FILE__, line, "read of '%s' with %s gave version %lld, expected %lld", symbol,
                options ? options : "(none)", (long long)got, (long long)version);
    }
    json_free(&parsed);
}

/* Compares a read of the whole version with the model. */
static void expect_model_at(int line, SheafLibrary *lib, const char *symbol, const char *options,
                            const model *m, int64_t version) {
    int64_t keys[MAX_ROWS], values[MAX_ROWS];
    int n = 0;
    for (int k = 0; k < MAX_ROWS; k++) {
        if (m->has[k]) {
            keys[n] = k;
            values[n] = m->v[k];
            n++;
        }
    }
    expect_rows_at(line, lib, symbol, options, keys, values, n, version);
}

#define EXPECT_MODEL(lib, symbol, options, m, version) \
    expect_model_at(__LINE__, lib, symbol, options, m, version)

/* Rows first..first+n-1 of the model's current content. */
static void expect_model_range_at(int line, SheafLibrary *lib, const char *symbol,
                                  const char *options, const model *m, int64_t lo, int64_t hi) {
    model part;
    model_clear(&part);
    for (int64_t k = lo; k <= hi && k < MAX_ROWS; k++) {
        if (k < 0) continue;
        part.has[k] = m->has[k];
        part.v[k] = m->v[k];
    }
    expect_model_at(line, lib, symbol, options, &part, -1);
}

#define EXPECT_MODEL_RANGE(lib, symbol, options, m, lo, hi) \
    expect_model_range_at(__LINE__, lib, symbol, options, m, lo, hi)

/*
 * Reads several date_range and row_range windows of the latest version and compares each
 * with the model: after updates and deletes the stored segments have uneven sizes and index
 * ranges, which is where planning mistakes would show.
 */
static void expect_windows_at(int line, SheafLibrary *lib, const char *symbol, const model *m) {
    static const int64_t windows[][2] = {{0, 0},  {0, 4},  {3, 8},   {5, 6},  {7, 12},
                                         {9, 15}, {12, 13}, {14, 19}, {19, 40}, {-5, 2}};
    char options[160];
    int64_t keys[MAX_ROWS];
    int n = 0;
    for (int k = 0; k < MAX_ROWS; k++) {
        if (m->has[k]) keys[n++] = k;
    }
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        snprintf(options, sizeof options, "{\"date_range\": [%lld, {\"ns\": %lld}]}",
                 (long long)T(windows[w][0]), (long long)T(windows[w][1]));
        expect_model_range_at(line, lib, symbol, options, m, windows[w][0], windows[w][1]);
    }
    /* row_range windows, converted to key ranges through the model's row order. */
    static const int64_t rows[][2] = {{0, 3}, {2, 9}, {4, 5}, {-4, -1}, {-1, 100}, {6, 14}};
    for (size_t w = 0; w < sizeof rows / sizeof rows[0]; w++) {
        int64_t s = rows[w][0] < 0 ? n + rows[w][0] : rows[w][0];
        int64_t e = rows[w][1] < 0 ? n + rows[w][1] : rows[w][1];
        if (s < 0) s = 0;
        if (e > n) e = n;
        model part;
        model_clear(&part);
        for (int64_t r = s; r < e; r++) {
            part.has[keys[r]] = true;
            part.v[keys[r]] = m->v[keys[r]];
        }
        snprintf(options, sizeof options, "{\"row_range\": [%lld, %lld]}", (long long)rows[w][0],
                 (long long)rows[w][1]);
        expect_model_at(line, lib, symbol, options, &part, -1);
    }
}

#define EXPECT_WINDOWS(lib, symbol, m) expect_windows_at(__LINE__, lib, symbol, m)


static void describe(SheafLibrary *lib, const char *symbol, const char *options, json_value *out) {
    SheafBytes json = {NULL, 0};
    EXPECT_OK(sheaf_table_describe(lib, STR(symbol), options, options ? strlen(options) : 0, &json,
                                   &err));
    tu_parse_bytes(&json, out);
}

static int64_t describe_int(SheafLibrary *lib, const char *symbol, const char *field) {
    json_value d;
    int64_t n = -1;
    describe(lib, symbol, NULL, &d);
    CHECK_MSG(json_get_int(&d, field, &n), "describe('%s') has no integer \"%s\"", symbol, field);
    json_free(&d);
    return n;
}

/* The info JSON of read_metadata; fatal on error. */
static void read_info(SheafLibrary *lib, const char *symbol, const char *options, json_value *out,
                      SheafBytes *metadata) {
    SheafBytes info = {NULL, 0};
    EXPECT_OK(sheaf_table_read_metadata(lib, STR(symbol), options, options ? strlen(options) : 0,
                                        &info, metadata, &err));
    tu_parse_bytes(&info, out);
}

static void expect_metadata_at(int line, SheafLibrary *lib, const char *symbol,
                               const char *options, const char *expected) {
    json_value info;
    SheafBytes meta = {NULL, 0};
    bool has = false;
    read_info(lib, symbol, options, &info, &meta);
    CHECK(json_get_bool(&info, "has_metadata", &has));
    if (expected == NULL) {
        if (has || meta.len != 0)
            tu_fail(__FILE__, line, "'%s' (%s) has metadata \"%.*s\", expected none", symbol,
                    options ? options : "latest", (int)meta.len, meta.data ? (char *)meta.data : "");
    } else if (!has || meta.len != strlen(expected) || memcmp(meta.data, expected, meta.len) != 0) {
        tu_fail(__FILE__, line, "'%s' (%s) has metadata \"%.*s\" (has_metadata %d), expected \"%s\"",
                symbol, options ? options : "latest", (int)meta.len,
                meta.data ? (char *)meta.data : "", (int)has, expected);
    }
    sheaf_bytes_free(&meta);
    json_free(&info);
}

#define EXPECT_METADATA(lib, symbol, options, expected) \
    expect_metadata_at(__LINE__, lib, symbol, options, expected)

/* Schema column names of a read, comma-separated, into buf. */
static void read_column_names(SheafLibrary *lib, const char *symbol, const char *options, char *buf,
                              size_t cap, int64_t *rows) {
    ab_table t;
    tu_read(lib, symbol, options, &t, NULL, NULL);
    buf[0] = '\0';
    for (int64_t i = 0; i < t.schema.n_children; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s%s", i ? "," : "", t.schema.children[i]->name);
    }
    if (rows) *rows = t.n_rows;
    ab_table_free(&t);
}

static int64_t latest_version(SheafLibrary *lib, const char *symbol) {
    int64_t versions[64];
    size_t n = tu_list_version_numbers(lib, symbol, versions, 64);
    return n ? versions[0] : -1;
}

/* ---- append ------------------------------------------------------------------------------ */

static void test_append(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_append", "{\"rows_per_segment\": 4}");
    model m;
    uint64_t version = 99;
    model_clear(&m);

    /* v0: 6 rows = 2 segments (4 + 2), with metadata. */
    EXPECT_OK(call_range(sheaf_table_write, lib, "app", 0, 6, 0, "m0", "{\"index\": \"ts\"}",
                         &version, &err));
    CHECK_EQ_INT(version, 0);
    model_set_range(&m, 0, 6, 0);
    CHECK_EQ_INT(describe_int(lib, "app", "segments"), 2);

    /* v1: append 3 rows: the 2 stored segments are reused and 1 is added. */
    EXPECT_OK(call_range(sheaf_table_append, lib, "app", 6, 3, 0, NULL, NULL, &version, &err));
    CHECK_EQ_INT(version, 1);
    model_set_range(&m, 6, 3, 0);
    CHECK_EQ_INT(describe_int(lib, "app", "segments"), 3);
    CHECK_EQ_INT(describe_int(lib, "app", "row_count"), 9);
    EXPECT_MODEL(lib, "app", NULL, &m, 1);
    /* Metadata is not carried over; v0 keeps its own. */
    EXPECT_METADATA(lib, "app", NULL, NULL);
    EXPECT_METADATA(lib, "app", "{\"as_of\": 0}", "m0");
    {
        model v0;
        model_clear(&v0);
        model_set_range(&v0, 0, 6, 0);
        EXPECT_MODEL(lib, "app", "{\"as_of\": 0}", &v0, 0);
    }

    /* v2: an append with its own metadata, index given explicitly (the stored one). The first
     * new index value may equal the last stored one... but the model has one value per key,
     * so the equal-key case is checked on its own symbol below. */
    EXPECT_OK(call_range(sheaf_table_append, lib, "app", 9, 2, 0, "m2", "{\"index\": \"ts\"}",
                         &version, &err));
    CHECK_EQ_INT(version, 2);
    model_set_range(&m, 9, 2, 0);
    EXPECT_METADATA(lib, "app", NULL, "m2");
    CHECK_EQ_INT(describe_int(lib, "app", "segments"), 4);
    EXPECT_MODEL(lib, "app", NULL, &m, 2);

    /* First new index value below the last stored one: refused, nothing committed. */
    version = 99;
    EXPECT_ERR(SHEAF_ERR_UNSORTED_INDEX, NULL,
               call_range(sheaf_table_append, lib, "app", 5, 2, 500, NULL, NULL, &version, &err));
    CHECK_EQ_INT(version, 99);
    CHECK_EQ_INT(latest_version(lib, "app"), 2);
    EXPECT_MODEL(lib, "app", NULL, &m, 2);

    /* A stored index other than the one named: a schema error. */
    EXPECT_ERR(SHEAF_ERR_SCHEMA, NULL,
               call_range(sheaf_table_append, lib, "app", 20, 1, 0, NULL, "{\"index\": \"v\"}",
                          NULL, &err));
    /* Other columns than the stored ones (no dynamic_schema): a schema error. */
    {
        ab_column cols[3];
        int64_t ts = T(30), v = 30, w = 1;
        struct ArrowArrayStream stream;
        ab_make_timestamp(&cols[0], "ts", "tsn:UTC", &ts, NULL, 1);
        ab_make_int64(&cols[1], "v", &v, NULL, 1);
        ab_make_int64(&cols[2], "w", &w, NULL, 1);
        ab_stream_from_columns(&stream, cols, 3, NULL);
        EXPECT_ERR(SHEAF_ERR_SCHEMA, NULL,
                   sheaf_table_append(lib, STR("app"), &stream, NULL, 0, NULL, 0, NULL, &err));
        CHECK(stream.release == NULL);
    }
    CHECK_EQ_INT(latest_version(lib, "app"), 2);

    /* validate_index false: the out-of-order append lands and the version is UNSORTED. */
    {
        int64_t keys[2] = {3, 4}, values[2] = {703, 704};
        EXPECT_OK(call_keys(sheaf_table_append, lib, "app", keys, values, 2, NULL,
                            "{\"validate_index\": false}", &version, &err));
        CHECK_EQ_INT(version, 3);
        json_value d;
        describe(lib, "app", NULL, &d);
        CHECK_EQ_STR(json_get_string(&d, "sorted"), "UNSORTED");
        int64_t rows = -1;
        CHECK(json_get_int(&d, "row_count", &rows));
        CHECK_EQ_INT(rows, 13);
        json_free(&d);
        /* Rows come back in stored order: the earlier ones, then the appended two. */
        int64_t all_keys[13], all_values[13];
        int n = 0;
        for (int k = 0; k < 11; k++) {
            all_keys[n] = k;
            all_values[n++] = k;
        }
        all_keys[n] = 3;
        all_values[n++] = 703;
        all_keys[n] = 4;
        all_values[n++] = 704;
        expect_rows_at(__LINE__, lib, "app", NULL, all_keys, all_values, n, 3);
        json_value before;
        describe(lib, "app", "{\"as_of\": 2}", &before);
        CHECK_EQ_STR(json_get_string(&before, "sorted"), "ASCENDING");
        json_free(&before);
    }

    /* An append whose first index equals the last stored one is sorted (not below). */
    {
        int64_t keys1[2] = {0, 1}, values1[2] = {0, 1};
        int64_t keys2[2] = {1, 2}, values2[2] = {11, 12};
        EXPECT_OK(call_keys(sheaf_table_write, lib, "app_eq", keys1, values1, 2, NULL,
                            "{\"index\": \"ts\"}", NULL, &err));
        EXPECT_OK(call_keys(sheaf_table_append, lib, "app_eq", keys2, values2, 2, NULL, NULL,
                            &version, &err));
        CHECK_EQ_INT(version, 1);
        int64_t keys[4] = {0, 1, 1, 2}, values[4] = {0, 1, 11, 12};
        expect_rows_at(__LINE__, lib, "app_eq", NULL, keys, values, 4, 1);
        json_value d;
        describe(lib, "app_eq", NULL, &d);
        CHECK_EQ_STR(json_get_string(&d, "sorted"), "ASCENDING");
        json_free(&d);
    }

    /* Append creates a missing symbol, with the index of its options. */
    CHECK(!tu_has_symbol(lib, "app_new"));
    EXPECT_OK(call_range(sheaf_table_append, lib, "app_new", 0, 3, 0, "created",
                         "{\"index\": \"ts\"}", &version, &err));
    CHECK_EQ_INT(version, 0);
    {
        model n;
        model_clear(&n);
        model_set_range(&n, 0, 3, 0);
        EXPECT_MODEL(lib, "app_new", NULL, &n, 0);
        EXPECT_METADATA(lib, "app_new", NULL, "created");
        json_value d;
        describe(lib, "app_new", NULL, &d);
        const json_value *index = json_get(&d, "index");
        CHECK(index && index->type == JSON_OBJECT);
        CHECK_EQ_STR(json_get_string(index, "name"), "ts");
        json_free(&d);
        /* ...and indexed: an append below its end is refused. */
        EXPECT_ERR(SHEAF_ERR_UNSORTED_INDEX, NULL,
                   call_range(sheaf_table_append, lib, "app_new", 1, 1, 0, NULL, NULL, NULL, &err));
        /* Every version deleted: the next append starts the content afresh (numbering goes on
         * after the delete's own number). */
        EXPECT_OK(sheaf_table_delete(lib, STR("app_new"), NULL, 0, &err));
        CHECK(!tu_has_symbol(lib, "app_new"));
        EXPECT_OK(call_range(sheaf_table_append, lib, "app_new", 0, 2, 900, NULL,
                             "{\"index\": \"ts\"}", &version, &err));
        CHECK_EQ_INT(version, 2);
        model_clear(&n);
        model_set_range(&n, 0, 2, 900);
        EXPECT_MODEL(lib, "app_new", NULL, &n, 2);
        CHECK_EQ_INT(describe_int(lib, "app_new", "segments"), 1);
    }
    sheaf_library_free(lib);
}

/* ---- update ------------------------------------------------------------------------------ */

static void test_update(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_update", "{\"rows_per_segment\": 5}");
    model m;
    uint64_t version = 99;
    int64_t loads;
    model_clear(&m);

    /* v0: rows 0..19 in 4 segments: [0-4] [5-9] [10-14] [15-19]. */
    EXPECT_OK(call_range(sheaf_table_write, lib, "upd", 0, 20, 0, "w0", "{\"index\": \"ts\"}",
                         &version, &err));
    model_set_range(&m, 0, 20, 0);
    CHECK_EQ_INT(describe_int(lib, "upd", "segments"), 4);

    /* v1: replace the span 7..12; only the two segments it overlaps are loaded. */
    loads = tu_segments_loaded(lib);
    EXPECT_OK(call_range(sheaf_table_update, lib, "upd", 7, 6, 1000, "u1", NULL, &version, &err));
    CHECK_EQ_INT(version, 1);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 2);
    model_set_range(&m, 7, 6, 1000);
    EXPECT_MODEL(lib, "upd", NULL, &m, 1);
    EXPECT_WINDOWS(lib, "upd", &m);
    EXPECT_METADATA(lib, "upd", NULL, "u1");

    /* v2: data with a gap (keys 2 and 4): the whole span 2..4 is replaced, so 3 disappears.
     * No metadata given: none (not carried over). */
    {
        int64_t keys[2] = {2, 4}, values[2] = {2002, 2004};
        loads = tu_segments_loaded(lib);
        EXPECT_OK(call_keys(sheaf_table_update, lib, "upd", keys, values, 2, NULL, NULL, &version,
                            &err));
        CHECK_EQ_INT(version, 2);
        CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 1);
        model_erase(&m, 2, 4);
        m.has[2] = m.has[4] = true;
        m.v[2] = 2002;
        m.v[4] = 2004;
        EXPECT_MODEL(lib, "upd", NULL, &m, 2);
        EXPECT_WINDOWS(lib, "upd", &m);
        EXPECT_METADATA(lib, "upd", NULL, NULL);
    }

    /* v3: explicit date_range with {"ns": …} bounds: data rows 14..18, range 15..17: rows 14
     * and 18 of the data are dropped; stored rows outside the range stay. */
    {
        char options[160];
        snprintf(options, sizeof options, "{\"date_range\": [{\"ns\": %lld}, {\"ns\": %lld}]}",
                 (long long)T(15), (long long)T(17));
        loads = tu_segments_loaded(lib);
        EXPECT_OK(call_range(sheaf_table_update, lib, "upd", 14, 5, 3000, NULL, options, &version,
                             &err));
        CHECK_EQ_INT(version, 3);
        CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 1); /* only [15-19] overlaps */
        model_set_range(&m, 15, 3, 3000);
        EXPECT_MODEL(lib, "upd", NULL, &m, 3);
        EXPECT_WINDOWS(lib, "upd", &m);
    }

    /* v4: raw bounds: range [T(0), T(1)] with data 0..2: row 2 of the data is dropped. */
    {
        char options[160];
        snprintf(options, sizeof options, "{\"date_range\": [%lld, %lld]}", (long long)T(0),
                 (long long)T(1));
        EXPECT_OK(call_range(sheaf_table_update, lib, "upd", 0, 3, 4000, NULL, options, &version,
                             &err));
        CHECK_EQ_INT(version, 4);
        model_set_range(&m, 0, 2, 4000);
        EXPECT_MODEL(lib, "upd", NULL, &m, 4);
        EXPECT_WINDOWS(lib, "upd", &m);
    }

    /* v5: a date_range wider than the data: the whole range is replaced, including stored
     * rows the data does not have (here 8..11 go, 9 and 10 come back with new values). */
    {
        char options[160];
        int64_t keys[2] = {9, 10}, values[2] = {5009, 5010};
        snprintf(options, sizeof options, "{\"date_range\": [%lld, {\"ns\": %lld}]}",
                 (long long)T(8), (long long)T(11));
        EXPECT_OK(call_keys(sheaf_table_update, lib, "upd", keys, values, 2, NULL, options,
                            &version, &err));
        CHECK_EQ_INT(version, 5);
        model_erase(&m, 8, 11);
        m.has[9] = m.has[10] = true;
        m.v[9] = 5009;
        m.v[10] = 5010;
        EXPECT_MODEL(lib, "upd", NULL, &m, 5);
        EXPECT_WINDOWS(lib, "upd", &m);
    }

    /* v6: empty data, no range: a new version with the same rows. */
    {
        struct ArrowArrayStream stream;
        int released = 0;
        make_empty_tv_stream(&stream, &released);
        EXPECT_OK(sheaf_table_update(lib, STR("upd"), &stream, NULL, 0, NULL, 0, &version, &err));
        CHECK_EQ_INT(version, 6);
        CHECK(stream.release == NULL && released == 1);
        EXPECT_MODEL(lib, "upd", NULL, &m, 6);
        EXPECT_WINDOWS(lib, "upd", &m);
    }

    /* v7: empty data with a range: the range is deleted. Open start. */
    {
        struct ArrowArrayStream stream;
        int released = 0;
        char options[160];
        snprintf(options, sizeof options, "{\"date_range\": [null, %lld]}", (long long)T(1));
        make_empty_tv_stream(&stream, &released);
        EXPECT_OK(sheaf_table_update(lib, STR("upd"), &stream, NULL, 0, STR(options), &version,
                                     &err));
        CHECK_EQ_INT(version, 7);
        model_erase(&m, 0, 1);
        EXPECT_MODEL(lib, "upd", NULL, &m, 7);
        EXPECT_WINDOWS(lib, "upd", &m);
    }

    /* v8: a span strictly inside one stored segment (rows before and after it stay). */
    {
        int64_t before = describe_int(lib, "upd", "row_count");
        int64_t keys[1] = {16}, values[1] = {8016};
        loads = tu_segments_loaded(lib);
        EXPECT_OK(call_keys(sheaf_table_update, lib, "upd", keys, values, 1, NULL, NULL, &version,
                            &err));
        CHECK_EQ_INT(version, 8);
        CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 1);
        m.v[16] = 8016;
        EXPECT_MODEL(lib, "upd", NULL, &m, 8);
        EXPECT_WINDOWS(lib, "upd", &m);
        CHECK_EQ_INT(describe_int(lib, "upd", "row_count"), before);
    }

    /* Every earlier version still reads as it was: v1 spot check. */
    {
        model v1;
        model_clear(&v1);
        model_set_range(&v1, 0, 20, 0);
        model_set_range(&v1, 7, 6, 1000);
        EXPECT_MODEL(lib, "upd", "{\"as_of\": 1}", &v1, 1);
    }

    /* A missing symbol: NO_SUCH_SYMBOL, and the stream is still released. */
    version = 99;
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "nosuch",
               call_range(sheaf_table_update, lib, "nosuch", 0, 2, 0, NULL, NULL, &version, &err));
    CHECK_EQ_INT(version, 99);
    CHECK(!tu_has_symbol(lib, "nosuch"));
    sheaf_library_free(lib);
}

/* ---- delete_data_in_range ---------------------------------------------------------------- */

static void test_delete_range(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_delrange", "{\"rows_per_segment\": 4}");
    model m;
    uint64_t version = 99;
    char options[160];
    model_clear(&m);
    EXPECT_OK(call_range(sheaf_table_write, lib, "dr", 0, 10, 0, "keep me", "{\"index\": \"ts\"}",
                         NULL, &err));
    model_set_range(&m, 0, 10, 0);

    snprintf(options, sizeof options, "{\"date_range\": [%lld, {\"ns\": %lld}]}", (long long)T(2),
             (long long)T(4));
    EXPECT_OK(sheaf_table_delete_data_in_range(lib, STR("dr"), STR(options), &version, &err));
    CHECK_EQ_INT(version, 1);
    model_erase(&m, 2, 4);
    EXPECT_MODEL(lib, "dr", NULL, &m, 1);
    EXPECT_WINDOWS(lib, "dr", &m);
    EXPECT_METADATA(lib, "dr", NULL, "keep me"); /* the latest metadata is kept */

    /* Open end. */
    snprintf(options, sizeof options, "{\"date_range\": [{\"ns\": %lld}, null]}", (long long)T(8));
    EXPECT_OK(sheaf_table_delete_data_in_range(lib, STR("dr"), STR(options), &version, &err));
    CHECK_EQ_INT(version, 2);
    model_erase(&m, 8, 9);
    EXPECT_MODEL(lib, "dr", NULL, &m, 2);
    EXPECT_WINDOWS(lib, "dr", &m);
    EXPECT_METADATA(lib, "dr", NULL, "keep me");

    /* A range holding no rows still makes a version with the same rows. */
    snprintf(options, sizeof options, "{\"date_range\": [%lld, %lld]}", (long long)T(100),
             (long long)T(200));
    EXPECT_OK(sheaf_table_delete_data_in_range(lib, STR("dr"), STR(options), &version, &err));
    CHECK_EQ_INT(version, 3);
    EXPECT_MODEL(lib, "dr", NULL, &m, 3);

    /* Everything: an empty version that still has its columns and index... */
    EXPECT_OK(sheaf_table_delete_data_in_range(lib, STR("dr"), STR("{\"date_range\": [null, null]}"),
                                               &version, &err));
    CHECK_EQ_INT(version, 4);
    model_clear(&m);
    EXPECT_MODEL(lib, "dr", NULL, &m, 4);
    EXPECT_WINDOWS(lib, "dr", &m);
    {
        json_value d;
        int64_t n = -1;
        describe(lib, "dr", NULL, &d);
        CHECK(json_get_int(&d, "row_count", &n) && n == 0);
        CHECK(json_get_int(&d, "segments", &n) && n == 0);
        const json_value *range = json_get(&d, "index_range");
        CHECK(range && range->type == JSON_NULL);
        const json_value *index = json_get(&d, "index");
        CHECK(index && index->type == JSON_OBJECT);
        json_free(&d);
        char names[64];
        read_column_names(lib, "dr", NULL, names, sizeof names, NULL);
        CHECK_EQ_STR(names, "ts,v");
    }
    EXPECT_METADATA(lib, "dr", NULL, "keep me");
    /* ...which takes appends and updates like any other. */
    EXPECT_OK(call_range(sheaf_table_append, lib, "dr", 20, 6, 0, NULL, NULL, &version, &err));
    CHECK_EQ_INT(version, 5);
    model_set_range(&m, 20, 6, 0);
    EXPECT_MODEL(lib, "dr", NULL, &m, 5);
    EXPECT_OK(call_range(sheaf_table_update, lib, "dr", 22, 2, 700, NULL, NULL, &version, &err));
    CHECK_EQ_INT(version, 6);
    model_set_range(&m, 22, 2, 700);
    EXPECT_MODEL(lib, "dr", NULL, &m, 6);
    EXPECT_WINDOWS(lib, "dr", &m);
    EXPECT_OK(sheaf_table_delete_data_in_range(lib, STR("dr"), STR("{\"date_range\": [null, null]}"),
                                               &version, &err));
    model_clear(&m);
    EXPECT_OK(call_range(sheaf_table_update, lib, "dr", 3, 2, 300, NULL, NULL, &version, &err));
    CHECK_EQ_INT(version, 8);
    model_set_range(&m, 3, 2, 300);
    EXPECT_MODEL(lib, "dr", NULL, &m, 8);

    /* date_range is required; a missing symbol is NO_SUCH_SYMBOL. */
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "date_range",
               sheaf_table_delete_data_in_range(lib, STR("dr"), STR("{}"), &version, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, NULL,
               sheaf_table_delete_data_in_range(lib, STR("nosuch"), STR(options), &version, &err));
    CHECK_EQ_INT(latest_version(lib, "dr"), 8);
    sheaf_library_free(lib);
}

/* ---- reads: date_range, row_range, columns ----------------------------------------------- */

static void expect_read_error(int line, SheafLibrary *lib, const char *symbol, const char *options,
                              SheafStatus expected) {
    struct ArrowArrayStream stream;
    SheafError *err = NULL;
    memset(&stream, 0, sizeof stream);
    SheafStatus st =
        sheaf_table_read(lib, STR(symbol), options, options ? strlen(options) : 0, &stream, NULL,
                         NULL, &err);
    if (st != expected) {
        tu_fail(__FILE__, line, "read of '%s' with %s returned %s, expected %s (%s)", symbol,
                options ? options : "(none)", sheaf_status_name(st), sheaf_status_name(expected),
                err ? sheaf_error_message(err) : "");
    }
    if (st != SHEAF_OK) {
        CHECK_MSG(err != NULL && sheaf_error_code(err) == st, "line %d: no matching error object",
                  line);
        CHECK_MSG(stream.release == NULL, "line %d: a failed read left a live stream", line);
    }
    if (stream.release) stream.release(&stream);
    sheaf_error_free(err);
}

static void test_reads(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_reads", "{\"rows_per_segment\": 10}");
    model m;
    char options[200];
    int64_t loads;
    model_clear(&m);

    /* rows 0..49 in 5 segments of 10 */
    EXPECT_OK(call_range(sheaf_table_write, lib, "rd", 0, 50, 0, NULL, "{\"index\": \"ts\"}", NULL,
                         &err));
    model_set_range(&m, 0, 50, 0);
    EXPECT_MODEL(lib, "rd", NULL, &m, 0);

    /* date_range, both ends inclusive, raw values: 12..27 loads segments [10-19] and [20-29]. */
    loads = tu_segments_loaded(lib);
    snprintf(options, sizeof options, "{\"date_range\": [%lld, %lld]}", (long long)T(12),
             (long long)T(27));
    EXPECT_MODEL_RANGE(lib, "rd", options, &m, 12, 27);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 2);

    /* Open start, {"ns"} end. */
    loads = tu_segments_loaded(lib);
    snprintf(options, sizeof options, "{\"date_range\": [null, {\"ns\": %lld}]}", (long long)T(4));
    EXPECT_MODEL_RANGE(lib, "rd", options, &m, 0, 4);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 1);

    /* {"ns"} start, open end. */
    loads = tu_segments_loaded(lib);
    snprintf(options, sizeof options, "{\"date_range\": [{\"ns\": %lld}, null]}", (long long)T(45));
    EXPECT_MODEL_RANGE(lib, "rd", options, &m, 45, 49);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 1);

    /* Bounds between rows: 1 ns after T(9) to 1 ns before T(21) = rows 10..20. */
    loads = tu_segments_loaded(lib);
    snprintf(options, sizeof options, "{\"date_range\": [%lld, %lld]}", (long long)(T(9) + 1),
             (long long)(T(21) - 1));
    EXPECT_MODEL_RANGE(lib, "rd", options, &m, 10, 20);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 2);

    /* Both open: everything, every segment. */
    loads = tu_segments_loaded(lib);
    EXPECT_MODEL(lib, "rd", "{\"date_range\": [null, null]}", &m, 0);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 5);

    /* A range past the data: no rows, no segment loaded. */
    loads = tu_segments_loaded(lib);
    snprintf(options, sizeof options, "{\"date_range\": [%lld, null]}", (long long)T(50));
    EXPECT_MODEL_RANGE(lib, "rd", options, &m, 1, 0);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 0);

    /* An empty range (start after end): no rows. */
    snprintf(options, sizeof options, "{\"date_range\": [%lld, %lld]}", (long long)T(30),
             (long long)T(20));
    EXPECT_MODEL_RANGE(lib, "rd", options, &m, 1, 0);

    /* row_range: Python slice semantics. */
    loads = tu_segments_loaded(lib);
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [5, 8]}", &m, 5, 7);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 1);
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [null, 3]}", &m, 0, 2);     /* head(3) */
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [-3, null]}", &m, 47, 49);  /* tail(3) */
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [-5, -2]}", &m, 45, 47);
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [null, -47]}", &m, 0, 2);   /* head(-47) */
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [40, 1000]}", &m, 40, 49);
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [-1000, 2]}", &m, 0, 1);
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [30, 20]}", &m, 1, 0);
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [9, 11]}", &m, 9, 10);     /* across segments */
    EXPECT_MODEL(lib, "rd", "{\"row_range\": [null, null]}", &m, 0);
    loads = tu_segments_loaded(lib);
    EXPECT_MODEL_RANGE(lib, "rd", "{\"row_range\": [-12, -9]}", &m, 38, 40);
    CHECK_EQ_INT(tu_segments_loaded(lib) - loads, 2);

    /* date_range and row_range together: refused. */
    snprintf(options, sizeof options, "{\"date_range\": [%lld, null], \"row_range\": [0, 2]}",
             (long long)T(1));
    expect_read_error(__LINE__, lib, "rd", options, SHEAF_ERR_INVALID_ARGUMENT);

    /* A microsecond index: {"ns"} bounds are converted to the unit, rounding inward. */
    {
        int64_t us[10], v[10];
        ab_column cols[2];
        for (int i = 0; i < 10; i++) {
            us[i] = TS0 / 1000 + i * INT64_C(1000000);
            v[i] = i;
        }
        ab_make_timestamp(&cols[0], "ts", "tsu:UTC", us, NULL, 10);
        ab_make_int64(&cols[1], "v", v, NULL, 10);
        tu_write_columns(lib, "rd_us", cols, 2, NULL, "{\"index\": \"ts\"}");
        snprintf(options, sizeof options, "{\"date_range\": [{\"ns\": %lld}, {\"ns\": %lld}]}",
                 (long long)(T(2) + 1), (long long)(T(5) + 999));
        ab_table t;
        int64_t got[10];
        tu_read(lib, "rd_us", options, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 3); /* T(2)+1ns rounds up past row 2; T(5)+999ns down to row 5 */
        if (t.n_rows == 3) {
            column_i64(&t, "v", got, 10, NULL);
            CHECK(got[0] == 3 && got[1] == 4 && got[2] == 5);
        }
        ab_table_free(&t);
        /* Raw bounds are in the index's own unit (microseconds). */
        snprintf(options, sizeof options, "{\"date_range\": [%lld, %lld]}",
                 (long long)(TS0 / 1000 + 7 * INT64_C(1000000)),
                 (long long)(TS0 / 1000 + 8 * INT64_C(1000000)));
        tu_read(lib, "rd_us", options, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 2);
        ab_table_free(&t);
    }

    /* A date32 index, across the epoch: {"ns"} bounds become days, rounding inward. */
    {
        int32_t days[8];
        int64_t v[8];
        ab_column cols[2];
        const int64_t DAY = 86400 * SEC;
        for (int i = 0; i < 8; i++) {
            days[i] = -4 + i; /* 1969-12-28 .. 1970-01-04 */
            v[i] = i;
        }
        ab_make_date32(&cols[0], "d", days, NULL, 8);
        ab_make_int64(&cols[1], "v", v, NULL, 8);
        tu_write_columns(lib, "rd_days", cols, 2, NULL, "{\"index\": \"d\"}");
        ab_table t;
        int64_t got[8];
        /* (-3 days + 1 ns) .. (1 day - 1 ns): days -2 .. 0 */
        snprintf(options, sizeof options, "{\"date_range\": [{\"ns\": %lld}, {\"ns\": %lld}]}",
                 (long long)(-3 * DAY + 1), (long long)(1 * DAY - 1));
        tu_read(lib, "rd_days", options, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 3);
        if (t.n_rows == 3) {
            column_i64(&t, "v", got, 8, NULL);
            CHECK(got[0] == 2 && got[1] == 3 && got[2] == 4);
        }
        ab_table_free(&t);
        /* Exact day bounds are inclusive; raw bounds are days. */
        snprintf(options, sizeof options, "{\"date_range\": [{\"ns\": %lld}, 3]}",
                 (long long)(2 * DAY));
        tu_read(lib, "rd_days", options, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 2);
        ab_table_free(&t);
    }

    /* columns: order honoured, index first unless listed, [] = index only. */
    {
        int64_t ts[4], a[4], b[4], c[4];
        ab_column cols[4];
        for (int i = 0; i < 4; i++) {
            ts[i] = T(i);
            a[i] = 100 + i;
            b[i] = 200 + i;
            c[i] = 300 + i;
        }
        ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts, NULL, 4);
        ab_make_int64(&cols[1], "a", a, NULL, 4);
        ab_make_int64(&cols[2], "b", b, NULL, 4);
        ab_make_int64(&cols[3], "c", c, NULL, 4);
        tu_write_columns(lib, "cols", cols, 4, NULL, "{\"index\": \"ts\"}");
        char names[128];
        int64_t rows = -1;
        read_column_names(lib, "cols", NULL, names, sizeof names, &rows);
        CHECK_EQ_STR(names, "ts,a,b,c");
        read_column_names(lib, "cols", "{\"columns\": [\"c\", \"a\"]}", names, sizeof names, &rows);
        CHECK_EQ_STR(names, "ts,c,a");
        CHECK_EQ_INT(rows, 4);
        read_column_names(lib, "cols", "{\"columns\": [\"b\", \"ts\"]}", names, sizeof names, &rows);
        CHECK_EQ_STR(names, "b,ts");
        read_column_names(lib, "cols", "{\"columns\": []}", names, sizeof names, &rows);
        CHECK_EQ_STR(names, "ts");
        CHECK_EQ_INT(rows, 4);
        /* The values follow their columns. */
        ab_table t;
        int64_t got[4];
        tu_read(lib, "cols", "{\"columns\": [\"c\", \"a\"], \"row_range\": [1, 3]}", &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 2);
        CHECK_EQ_INT(column_i64(&t, "c", got, 4, NULL), 2);
        CHECK(got[0] == 301 && got[1] == 302);
        CHECK_EQ_INT(column_i64(&t, "a", got, 4, NULL), 2);
        CHECK(got[0] == 101 && got[1] == 102);
        CHECK_EQ_INT(column_i64(&t, "ts", got, 4, NULL), 2);
        CHECK(got[0] == T(1) && got[1] == T(2));
        ab_table_free(&t);
        /* With a date_range too. */
        snprintf(options, sizeof options, "{\"columns\": [\"b\"], \"date_range\": [%lld, null]}",
                 (long long)T(3));
        tu_read(lib, "cols", options, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 1);
        CHECK_EQ_INT(t.schema.n_children, 2);
        CHECK_EQ_INT(column_i64(&t, "b", got, 4, NULL), 1);
        CHECK_EQ_INT(got[0], 203);
        ab_table_free(&t);
        expect_read_error(__LINE__, lib, "cols", "{\"columns\": [\"a\", \"nope\"]}", SHEAF_ERR_SCHEMA);
    }
    sheaf_library_free(lib);
}

/* ---- as_of -------------------------------------------------------------------------------- */

static int64_t version_timestamp(SheafLibrary *lib, const char *symbol, int64_t version) {
    char options[64];
    json_value info;
    int64_t ts = -1;
    snprintf(options, sizeof options, "{\"as_of\": %lld}", (long long)version);
    read_info(lib, symbol, options, &info, NULL);
    CHECK(json_get_int(&info, "timestamp_ns", &ts));
    json_free(&info);
    return ts;
}

static void test_as_of(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_asof", NULL);
    model v[3];
    char options[128];
    for (int i = 0; i < 3; i++) {
        model_clear(&v[i]);
        model_set_range(&v[i], 0, 2 + i, 10 * i);
        EXPECT_OK(call_range(sheaf_table_write, lib, "ao", 0, 2 + i, 10 * i, NULL,
                             "{\"index\": \"ts\"}", NULL, &err));
        if (i == 1) EXPECT_OK(sheaf_snapshot_create(lib, STR("ao_snap"), NULL, 0, NULL, 0, &err));
        sleep_ms(3); /* distinct commit times */
    }
    EXPECT_MODEL(lib, "ao", "{\"as_of\": -1}", &v[2], 2);
    EXPECT_MODEL(lib, "ao", "{\"as_of\": -2}", &v[1], 1);
    EXPECT_MODEL(lib, "ao", "{\"as_of\": -3}", &v[0], 0);
    expect_read_error(__LINE__, lib, "ao", "{\"as_of\": -4}", SHEAF_ERR_NO_SUCH_VERSION);
    EXPECT_MODEL(lib, "ao", "{\"as_of\": \"ao_snap\"}", &v[1], 1);
    expect_read_error(__LINE__, lib, "ao", "{\"as_of\": \"no_snap\"}", SHEAF_ERR_NO_SUCH_SNAPSHOT);

    int64_t t0 = version_timestamp(lib, "ao", 0), t1 = version_timestamp(lib, "ao", 1),
            t2 = version_timestamp(lib, "ao", 2);
    CHECK(t0 < t1 && t1 < t2);
    snprintf(options, sizeof options, "{\"as_of\": {\"timestamp_ns\": %lld}}", (long long)t1);
    EXPECT_MODEL(lib, "ao", options, &v[1], 1); /* written at or before: exactly at */
    snprintf(options, sizeof options, "{\"as_of\": {\"timestamp_ns\": %lld}}", (long long)(t1 - 1));
    EXPECT_MODEL(lib, "ao", options, &v[0], 0);
    snprintf(options, sizeof options, "{\"as_of\": {\"timestamp_ns\": %lld}}", (long long)(t2 + SEC));
    EXPECT_MODEL(lib, "ao", options, &v[2], 2);
    snprintf(options, sizeof options, "{\"as_of\": {\"timestamp_ns\": %lld}}", (long long)(t0 - 1));
    expect_read_error(__LINE__, lib, "ao", options, SHEAF_ERR_NO_SUCH_VERSION);

    /* Negative numbers count over live versions only. */
    uint64_t one = 1;
    EXPECT_OK(sheaf_table_delete(lib, STR("ao"), &one, 1, &err));
    EXPECT_MODEL(lib, "ao", "{\"as_of\": -2}", &v[0], 0);
    /* A time between v1 and v2 now finds v0 (v1 is no longer live). */
    snprintf(options, sizeof options, "{\"as_of\": {\"timestamp_ns\": %lld}}", (long long)t1);
    EXPECT_MODEL(lib, "ao", options, &v[0], 0);
    /* The snapshot still reads v1. */
    EXPECT_MODEL(lib, "ao", "{\"as_of\": \"ao_snap\"}", &v[1], 1);
    EXPECT_OK(sheaf_snapshot_delete(lib, STR("ao_snap"), &err));
    sheaf_library_free(lib);
}

/* ---- describe ----------------------------------------------------------------------------- */

static void test_describe(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_describe", "{\"rows_per_segment\": 4}");
    int64_t ts[10], a[10];
    double f[10];
    ab_column cols[3];
    for (int i = 0; i < 10; i++) {
        ts[i] = T(i);
        a[i] = i;
        f[i] = i / 2.0;
    }
    ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts, NULL, 10);
    ab_make_int64(&cols[1], "a", a, NULL, 10);
    ab_make_float64(&cols[2], "f", f, NULL, 10);
    tu_write_columns(lib, "desc", cols, 3, "meta", "{\"index\": \"ts\"}");

    json_value d;
    int64_t n = -1;
    bool b = false;
    describe(lib, "desc", NULL, &d);
    CHECK_EQ_STR(json_get_string(&d, "symbol"), "desc");
    CHECK(json_get_int(&d, "version", &n) && n == 0);
    CHECK(json_get_int(&d, "row_count", &n) && n == 10);
    CHECK(json_get_int(&d, "segments", &n) && n == 3);
    CHECK(json_get_bool(&d, "has_metadata", &b) && b);
    CHECK_EQ_STR(json_get_string(&d, "sorted"), "ASCENDING");
    const json_value *columns = json_get(&d, "columns");
    REQUIRE(columns && columns->type == JSON_ARRAY);
    CHECK_EQ_INT(columns->count, 2); /* the index is described apart */
    if (columns->count == 2) {
        CHECK_EQ_STR(json_get_string(&columns->items[0], "name"), "a");
        CHECK_EQ_STR(json_get_string(&columns->items[0], "type"), "Int64");
        CHECK(json_get_bool(&columns->items[0], "nullable", &b) && b);
        CHECK_EQ_STR(json_get_string(&columns->items[1], "name"), "f");
        CHECK_EQ_STR(json_get_string(&columns->items[1], "type"), "Float64");
    }
    const json_value *index = json_get(&d, "index");
    REQUIRE(index && index->type == JSON_OBJECT);
    CHECK_EQ_STR(json_get_string(index, "name"), "ts");
    const char *type = json_get_string(index, "type");
    CHECK_MSG(type && strncmp(type, "Timestamp", 9) == 0, "index type \"%s\"", type ? type : "");
    const json_value *range = json_get(&d, "index_range");
    REQUIRE(range && range->type == JSON_ARRAY && range->count == 2);
    CHECK_EQ_INT(range->items[0].integer, T(0));
    CHECK_EQ_INT(range->items[1].integer, T(9));
    int64_t updated = -1;
    CHECK(json_get_int(&d, "last_update_time_ns", &updated));
    CHECK_EQ_INT(updated, version_timestamp(lib, "desc", 0));
    json_free(&d);

    /* A later version; describe follows as_of. */
    EXPECT_OK(call_range(sheaf_table_append, lib, "desc_tv", 0, 3, 0, NULL, "{\"index\": \"ts\"}",
                         NULL, &err));
    EXPECT_OK(call_range(sheaf_table_append, lib, "desc_tv", 3, 3, 0, NULL, NULL, NULL, &err));
    describe(lib, "desc_tv", "{\"as_of\": 0}", &d);
    CHECK(json_get_int(&d, "version", &n) && n == 0);
    CHECK(json_get_int(&d, "row_count", &n) && n == 3);
    CHECK(json_get_bool(&d, "has_metadata", &b) && !b);
    range = json_get(&d, "index_range");
    CHECK(range && range->type == JSON_ARRAY && range->count == 2 && range->items[1].integer == T(2));
    json_free(&d);
    describe(lib, "desc_tv", "{\"as_of\": -1}", &d);
    CHECK(json_get_int(&d, "version", &n) && n == 1);
    CHECK(json_get_int(&d, "row_count", &n) && n == 6);
    range = json_get(&d, "index_range");
    CHECK(range && range->type == JSON_ARRAY && range->count == 2 && range->items[1].integer == T(5));
    json_free(&d);

    /* No index: index null, index_range null, sorted UNKNOWN. */
    int64_t x[3] = {1, 2, 3};
    ab_make_int64(&cols[0], "x", x, NULL, 3);
    tu_write_columns(lib, "noidx", cols, 1, NULL, NULL);
    describe(lib, "noidx", NULL, &d);
    index = json_get(&d, "index");
    CHECK(index && index->type == JSON_NULL);
    range = json_get(&d, "index_range");
    CHECK(range && range->type == JSON_NULL);
    CHECK_EQ_STR(json_get_string(&d, "sorted"), "UNKNOWN");
    columns = json_get(&d, "columns");
    CHECK(columns && columns->type == JSON_ARRAY && columns->count == 1);
    CHECK(json_get_bool(&d, "has_metadata", &b) && !b);
    json_free(&d);

    SheafBytes json = {NULL, 0};
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, NULL,
               sheaf_table_describe(lib, STR("nosuch"), NULL, 0, &json, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, NULL,
               sheaf_table_describe(lib, STR("desc"), STR("{\"as_of\": 5}"), &json, &err));
    CHECK(json.data == NULL);
    sheaf_library_free(lib);
}

static void query_versions(SheafLibrary *lib, const char *options, json_value *out) {
    SheafBytes json = {NULL, 0};
    EXPECT_OK(sheaf_table_query_versions(lib, options, options ? strlen(options) : 0, &json, &err));
    tu_parse_bytes(&json, out);
    REQUIRE(out->type == JSON_ARRAY);
}

/* Checks entry i of a version list: symbol, version, deleted and the snapshot names. */
static void check_entry_at(int line, const json_value *list, size_t i, const char *symbol,
                           int64_t version, bool deleted, const char *snapshots) {
    if (i >= list->count) {
        tu_fail(__FILE__, line, "the version list has %zu entries, wanted entry %zu", list->count, i);
        return;
    }
    const json_value *e = &list->items[i];
    int64_t v = -1;
    bool d = !deleted;
    const char *s = json_get_string(e, "symbol");
    json_get_int(e, "version", &v);
    json_get_bool(e, "deleted", &d);
    char names[128] = "";
    const json_value *snaps = json_get(e, "snapshots");
    if (snaps && snaps->type == JSON_ARRAY) {
        for (size_t k = 0; k < snaps->count; k++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", k ? "," : "",
                     snaps->items[k].type == JSON_STRING ? snaps->items[k].string : "?");
        }
    } else {
        snprintf(names, sizeof names, "(no snapshots array)");
    }
    if (!s || strcmp(s, symbol) != 0 || v != version || d != deleted || strcmp(names, snapshots) != 0) {
        tu_fail(__FILE__, line,
                "version list entry %zu is (%s v%lld deleted=%d snapshots [%s]), expected (%s v%lld "
                "deleted=%d snapshots [%s])",
                i, s ? s : "?", (long long)v, (int)d, names, symbol, (long long)version,
                (int)deleted, snapshots);
    }
}

#define CHECK_ENTRY(list, i, symbol, version, deleted, snapshots) \
    check_entry_at(__LINE__, list, i, symbol, version, deleted, snapshots)

/* ---- prune and compact -------------------------------------------------------------------- */

static void test_prune_and_compact(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_maint", "{\"rows_per_segment\": 4}");
    model m;
    uint64_t version = 99;
    int64_t versions[32];

    /* prune_previous_versions: only the latest stays live. */
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(call_range(sheaf_table_write, lib, "pr", 0, 3, 100 * i, NULL,
                             "{\"index\": \"ts\"}", NULL, &err));
    }
    EXPECT_OK(sheaf_table_prune_previous_versions(lib, STR("pr"), &err));
    CHECK_EQ_INT(tu_list_version_numbers(lib, "pr", versions, 32), 1);
    CHECK_EQ_INT(versions[0], 2);
    model_clear(&m);
    model_set_range(&m, 0, 3, 200);
    EXPECT_MODEL(lib, "pr", NULL, &m, 2);
    expect_read_error(__LINE__, lib, "pr", "{\"as_of\": 0}", SHEAF_ERR_NO_SUCH_VERSION);
    expect_read_error(__LINE__, lib, "pr", "{\"as_of\": 1}", SHEAF_ERR_NO_SUCH_VERSION);
    /* Again, with one version only: nothing to do. */
    EXPECT_OK(sheaf_table_prune_previous_versions(lib, STR("pr"), &err));
    CHECK_EQ_INT(tu_list_version_numbers(lib, "pr", versions, 32), 1);
    EXPECT_MODEL(lib, "pr", NULL, &m, 2);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, NULL,
               sheaf_table_prune_previous_versions(lib, STR("nosuch"), &err));

    /* A version held by a snapshot survives pruning (readable through the snapshot only). */
    {
        model ps[3];
        json_value list;
        for (int i = 0; i < 3; i++) {
            model_clear(&ps[i]);
            model_set_range(&ps[i], 0, 2 + i, 10 * i);
            EXPECT_OK(call_range(sheaf_table_write, lib, "ps", 0, 2 + i, 10 * i, NULL,
                                 "{\"index\": \"ts\"}", NULL, &err));
        }
        EXPECT_OK(sheaf_snapshot_create(lib, STR("keep"), NULL, 0, STR("{\"versions\": {\"ps\": 0}}"),
                                        &err));
        EXPECT_OK(sheaf_table_prune_previous_versions(lib, STR("ps"), &err));
        expect_read_error(__LINE__, lib, "ps", "{\"as_of\": 0}", SHEAF_ERR_NO_SUCH_VERSION);
        EXPECT_MODEL(lib, "ps", "{\"as_of\": \"keep\"}", &ps[0], 0);
        EXPECT_MODEL(lib, "ps", NULL, &ps[2], 2);
        query_versions(lib, "{\"symbol\": \"ps\"}", &list);
        CHECK_EQ_INT(list.count, 2);
        CHECK_ENTRY(&list, 0, "ps", 2, false, "");
        CHECK_ENTRY(&list, 1, "ps", 0, true, "keep");
        json_free(&list);
        EXPECT_OK(sheaf_snapshot_delete(lib, STR("keep"), &err));
        query_versions(lib, "{\"symbol\": \"ps\"}", &list);
        CHECK_EQ_INT(list.count, 1);
        json_free(&list);
        EXPECT_MODEL(lib, "ps", NULL, &ps[2], 2);
    }

    /* Appended versions share segments: deleting versions and snapshots in any order must
     * only remove segments nobody uses. v0 = [0..3], v1 = v0 + [4..7], v2 = v1 + [8..11]. */
    {
        model sh[3];
        for (int i = 0; i < 3; i++) {
            model_clear(&sh[i]);
            model_set_range(&sh[i], 0, 4 * (i + 1), 0);
            EXPECT_OK(call_range(sheaf_table_append, lib, "shared", 4 * i, 4, 0, NULL,
                                 "{\"index\": \"ts\"}", NULL, &err));
        }
        EXPECT_OK(sheaf_snapshot_create(lib, STR("hold1"), NULL, 0,
                                        STR("{\"versions\": {\"shared\": 1}}"), &err));
        uint64_t v1 = 1, v2 = 2;
        EXPECT_OK(sheaf_table_delete(lib, STR("shared"), &v1, 1, &err)); /* held by hold1 */
        EXPECT_MODEL(lib, "shared", "{\"as_of\": 0}", &sh[0], 0);
        EXPECT_MODEL(lib, "shared", "{\"as_of\": \"hold1\"}", &sh[1], 1);
        EXPECT_MODEL(lib, "shared", "{\"as_of\": 2}", &sh[2], 2);
        EXPECT_OK(sheaf_table_delete(lib, STR("shared"), &v2, 1, &err)); /* v2's own segment goes */
        EXPECT_MODEL(lib, "shared", "{\"as_of\": \"hold1\"}", &sh[1], 1);
        EXPECT_MODEL(lib, "shared", NULL, &sh[0], 0);
        EXPECT_OK(sheaf_snapshot_delete(lib, STR("hold1"), &err)); /* v1's own segment goes */
        EXPECT_MODEL(lib, "shared", NULL, &sh[0], 0);
        /* And the chain still grows from v0's content. */
        model grown = sh[0];
        model_set_range(&grown, 4, 4, 40);
        EXPECT_OK(call_range(sheaf_table_append, lib, "shared", 4, 4, 40, NULL, NULL, NULL, &err));
        EXPECT_MODEL(lib, "shared", NULL, &grown, -1);
        CHECK_EQ_INT(describe_int(lib, "shared", "segments"), 2);
    }

    /* compact: 10 one-row appends = 10 segments; compacted: 4 + 4 + 2, same rows, metadata. */
    model_clear(&m);
    for (int i = 0; i < 10; i++) {
        EXPECT_OK(call_range(sheaf_table_append, lib, "cmp", i, 1, 0, i == 9 ? "last" : NULL,
                             "{\"index\": \"ts\"}", &version, &err));
        CHECK_EQ_INT(version, i);
    }
    model_set_range(&m, 0, 10, 0);
    CHECK_EQ_INT(describe_int(lib, "cmp", "segments"), 10);
    EXPECT_OK(sheaf_table_compact(lib, STR("cmp"), NULL, 0, &version, &err));
    CHECK_EQ_INT(version, 10);
    CHECK_EQ_INT(describe_int(lib, "cmp", "segments"), 3);
    CHECK_EQ_INT(describe_int(lib, "cmp", "row_count"), 10);
    EXPECT_MODEL(lib, "cmp", NULL, &m, 10);
    EXPECT_WINDOWS(lib, "cmp", &m);
    EXPECT_METADATA(lib, "cmp", NULL, "last");
    {
        ab_table t;
        tu_read(lib, "cmp", NULL, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_batches, 3); /* one batch per stored segment */
        ab_table_free(&t);
    }
    /* Already compact: no new version. */
    EXPECT_OK(sheaf_table_compact(lib, STR("cmp"), STR("{\"rows_per_segment\": null}"), &version,
                                  &err));
    CHECK_EQ_INT(version, 10);
    CHECK_EQ_INT(latest_version(lib, "cmp"), 10);
    /* Another segment size. */
    EXPECT_OK(sheaf_table_compact(lib, STR("cmp"), STR("{\"rows_per_segment\": 5}"), &version, &err));
    CHECK_EQ_INT(version, 11);
    CHECK_EQ_INT(describe_int(lib, "cmp", "segments"), 2);
    EXPECT_MODEL(lib, "cmp", NULL, &m, 11);
    EXPECT_WINDOWS(lib, "cmp", &m);
    /* The earlier versions are untouched. */
    CHECK_EQ_INT(describe_int(lib, "cmp", "row_count"), 10);
    {
        model v4;
        model_clear(&v4);
        model_set_range(&v4, 0, 5, 0);
        EXPECT_MODEL(lib, "cmp", "{\"as_of\": 4}", &v4, 4);
    }
    sheaf_library_free(lib);
}

/* ---- version queries and snapshots -------------------------------------------------------- */

static void test_snapshots(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_snaps", NULL);
    model qa[4], qb;
    json_value list;
    SheafBytes json = {NULL, 0};

    for (int i = 0; i < 3; i++) {
        model_clear(&qa[i]);
        model_set_range(&qa[i], 0, 1 + i, 10 * i);
        EXPECT_OK(call_range(sheaf_table_write, lib, "qa", 0, 1 + i, 10 * i, NULL,
                             "{\"index\": \"ts\"}", NULL, &err));
    }
    model_clear(&qb);
    model_set_range(&qb, 0, 2, 500);
    EXPECT_OK(call_range(sheaf_table_write, lib, "qb", 0, 2, 500, NULL, "{\"index\": \"ts\"}", NULL,
                         &err));

    /* s1: the latest of everything, with metadata; s_skip without qb; s_ver pins qa v1. */
    EXPECT_OK(sheaf_snapshot_create(lib, STR("s1"), (const uint8_t *)"snapmeta", 8, NULL, 0, &err));
    EXPECT_OK(sheaf_snapshot_create(lib, STR("s_skip"), (const uint8_t *)"", 0,
                                    STR("{\"skip_symbols\": [\"qb\"]}"), &err));
    EXPECT_OK(sheaf_snapshot_create(lib, STR("s_ver"), NULL, 0, STR("{\"versions\": {\"qa\": 1}}"),
                                    &err));
    EXPECT_ERR(SHEAF_ERR_SNAPSHOT_EXISTS, "s1",
               sheaf_snapshot_create(lib, STR("s1"), NULL, 0, NULL, 0, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, NULL,
               sheaf_snapshot_create(lib, STR("s_bad"), NULL, 0, STR("{\"versions\": {\"qa\": 7}}"),
                                     &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_snapshot_create(lib, STR("s_bad"), NULL, 0,
                                     STR("{\"versions\": {\"qa\": 1}, \"skip_symbols\": [\"qb\"]}"),
                                     &err));

    /* list: by name, with symbol counts and has_metadata. */
    EXPECT_OK(sheaf_snapshot_list(lib, &json, &err));
    tu_parse_bytes(&json, &list);
    REQUIRE(list.type == JSON_ARRAY);
    CHECK_EQ_INT(list.count, 3);
    if (list.count == 3) {
        const char *names[3] = {"s1", "s_skip", "s_ver"};
        const int64_t symbols[3] = {2, 1, 1};
        const bool has[3] = {true, true, false};
        for (int i = 0; i < 3; i++) {
            int64_t n = -1, ts = -1;
            bool h = !has[i];
            CHECK_EQ_STR(json_get_string(&list.items[i], "name"), names[i]);
            CHECK(json_get_int(&list.items[i], "symbols", &n) && n == symbols[i]);
            CHECK(json_get_bool(&list.items[i], "has_metadata", &h) && h == has[i]);
            CHECK(json_get_int(&list.items[i], "timestamp_ns", &ts) && ts > T(0));
        }
    }
    json_free(&list);

    /* read_metadata: bytes; empty (not none); none. */
    {
        SheafBytes meta = {NULL, 0};
        bool has = false;
        EXPECT_OK(sheaf_snapshot_read_metadata(lib, STR("s1"), &meta, &has, &err));
        CHECK(has && meta.len == 8 && memcmp(meta.data, "snapmeta", 8) == 0);
        sheaf_bytes_free(&meta);
        has = false;
        EXPECT_OK(sheaf_snapshot_read_metadata(lib, STR("s_skip"), &meta, &has, &err));
        CHECK(has && meta.len == 0 && meta.data == NULL);
        has = true;
        EXPECT_OK(sheaf_snapshot_read_metadata(lib, STR("s_ver"), &meta, &has, &err));
        CHECK(!has && meta.len == 0 && meta.data == NULL);
        EXPECT_OK(sheaf_snapshot_read_metadata(lib, STR("s1"), &meta, NULL, &err));
        sheaf_bytes_free(&meta);
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_SNAPSHOT, NULL,
                   sheaf_snapshot_read_metadata(lib, STR("nosnap"), &meta, &has, &err));
    }

    /* list_symbols. */
    {
        const char *const both[] = {"qa", "qb"}, *const only_qa[] = {"qa"};
        EXPECT_OK(sheaf_snapshot_list_symbols(lib, STR("s1"), &json, &err));
        tu_parse_bytes(&json, &list);
        CHECK(tu_json_names_equal(&list, both, 2));
        json_free(&list);
        EXPECT_OK(sheaf_snapshot_list_symbols(lib, STR("s_skip"), &json, &err));
        tu_parse_bytes(&json, &list);
        CHECK(tu_json_names_equal(&list, only_qa, 1));
        json_free(&list);
        EXPECT_OK(sheaf_snapshot_list_symbols(lib, STR("s_ver"), &json, &err));
        tu_parse_bytes(&json, &list);
        CHECK(tu_json_names_equal(&list, only_qa, 1));
        json_free(&list);
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_SNAPSHOT, NULL,
                   sheaf_snapshot_list_symbols(lib, STR("nosnap"), &json, &err));
    }

    /* Reads through snapshots. */
    EXPECT_MODEL(lib, "qa", "{\"as_of\": \"s1\"}", &qa[2], 2);
    EXPECT_MODEL(lib, "qa", "{\"as_of\": \"s_ver\"}", &qa[1], 1);
    EXPECT_MODEL(lib, "qb", "{\"as_of\": \"s1\"}", &qb, 0);

    /* qa v3, then delete v2 (held by s1 and s_skip) and v1 (held by s_ver). */
    model_clear(&qa[3]);
    model_set_range(&qa[3], 0, 4, 30);
    EXPECT_OK(call_range(sheaf_table_write, lib, "qa", 0, 4, 30, NULL, "{\"index\": \"ts\"}", NULL,
                         &err));
    uint64_t doomed[2] = {2, 1};
    EXPECT_OK(sheaf_table_delete(lib, STR("qa"), doomed, 2, &err));
    expect_read_error(__LINE__, lib, "qa", "{\"as_of\": 2}", SHEAF_ERR_NO_SUCH_VERSION);
    /* Still readable through the snapshots, data intact, and reported as deleted. */
    EXPECT_MODEL(lib, "qa", "{\"as_of\": \"s1\"}", &qa[2], 2);
    EXPECT_MODEL(lib, "qa", "{\"as_of\": \"s_ver\"}", &qa[1], 1);
    {
        json_value info;
        bool deleted = false;
        read_info(lib, "qa", "{\"as_of\": \"s1\"}", &info, NULL);
        CHECK(json_get_bool(&info, "deleted", &deleted) && deleted);
        json_free(&info);
        read_info(lib, "qa", "{\"as_of\": -1}", &info, NULL);
        CHECK(json_get_bool(&info, "deleted", &deleted) && !deleted);
        json_free(&info);
    }

    /* query_versions: one symbol, newest first, deleted ones held by snapshots included. */
    query_versions(lib, "{\"symbol\": \"qa\"}", &list);
    CHECK_EQ_INT(list.count, 4);
    CHECK_ENTRY(&list, 0, "qa", 3, false, "");
    CHECK_ENTRY(&list, 1, "qa", 2, true, "s1,s_skip");
    CHECK_ENTRY(&list, 2, "qa", 1, true, "s_ver");
    CHECK_ENTRY(&list, 3, "qa", 0, false, "");
    json_free(&list);
    /* Only what a snapshot holds. */
    query_versions(lib, "{\"snapshot\": \"s1\"}", &list);
    CHECK_EQ_INT(list.count, 2);
    CHECK_ENTRY(&list, 0, "qa", 2, true, "s1,s_skip");
    CHECK_ENTRY(&list, 1, "qb", 0, false, "s1");
    json_free(&list);
    query_versions(lib, "{\"symbol\": \"qa\", \"snapshot\": \"s_ver\"}", &list);
    CHECK_EQ_INT(list.count, 1);
    CHECK_ENTRY(&list, 0, "qa", 1, true, "s_ver");
    json_free(&list);
    /* Only the newest per symbol. */
    query_versions(lib, "{\"latest_only\": true}", &list);
    CHECK_EQ_INT(list.count, 2);
    CHECK_ENTRY(&list, 0, "qa", 3, false, "");
    CHECK_ENTRY(&list, 1, "qb", 0, false, "s1");
    json_free(&list);
    /* Everything (NULL options): qa x4, qb x1. */
    query_versions(lib, NULL, &list);
    CHECK_EQ_INT(list.count, 5);
    json_free(&list);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SNAPSHOT, NULL,
               sheaf_table_query_versions(lib, STR("{\"snapshot\": \"nosnap\"}"), &json, &err));

    /* Deleting snapshots: v2 stays while s_skip holds it, then goes. */
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SNAPSHOT, "nosnap", sheaf_snapshot_delete(lib, STR("nosnap"), &err));
    EXPECT_OK(sheaf_snapshot_delete(lib, STR("s1"), &err));
    EXPECT_MODEL(lib, "qa", "{\"as_of\": \"s_skip\"}", &qa[2], 2);
    expect_read_error(__LINE__, lib, "qa", "{\"as_of\": \"s1\"}", SHEAF_ERR_NO_SUCH_SNAPSHOT);
    EXPECT_OK(sheaf_snapshot_delete(lib, STR("s_skip"), &err));
    EXPECT_OK(sheaf_snapshot_delete(lib, STR("s_ver"), &err));
    query_versions(lib, "{\"symbol\": \"qa\"}", &list);
    CHECK_EQ_INT(list.count, 2);
    CHECK_ENTRY(&list, 0, "qa", 3, false, "");
    CHECK_ENTRY(&list, 1, "qa", 0, false, "");
    json_free(&list);
    EXPECT_OK(sheaf_snapshot_list(lib, &json, &err));
    tu_parse_bytes(&json, &list);
    CHECK(list.type == JSON_ARRAY && list.count == 0);
    json_free(&list);
    /* The live versions are untouched by all this. */
    EXPECT_MODEL(lib, "qa", NULL, &qa[3], 3);
    EXPECT_MODEL(lib, "qa", "{\"as_of\": 0}", &qa[0], 0);
    /* The name is free again. */
    EXPECT_OK(sheaf_snapshot_create(lib, STR("s1"), NULL, 0, NULL, 0, &err));
    EXPECT_MODEL(lib, "qa", "{\"as_of\": \"s1\"}", &qa[3], 3);
    EXPECT_OK(sheaf_snapshot_delete(lib, STR("s1"), &err));
    sheaf_library_free(lib);
}

/* ---- batches ------------------------------------------------------------------------------ */

/* A one-batch ts/v stream of rows first..first+n-1 (v = vbase + k), counting its release. */
static void range_stream(struct ArrowArrayStream *stream, int64_t first, int n, int64_t vbase,
                         int *released, bool failing) {
    int64_t keys[MAX_ROWS], values[MAX_ROWS];
    ab_column cols[2];
    ab_stream_options opts = ab_stream_options_default();
    opts.release_counter = released;
    if (failing) {
        opts.fail_next_at = 0;
        opts.error_message = "producer broke";
    }
    for (int i = 0; i < n; i++) {
        keys[i] = first + i;
        values[i] = vbase + first + i;
    }
    make_tv_columns(cols, keys, values, n);
    ab_stream_from_columns(stream, cols, 2, &opts);
}

/* Item i of a batch result: *version (or -1) and *code (0 for success). */
static void batch_item(const json_value *results, size_t i, int64_t *version, int64_t *code) {
    *version = -1;
    *code = -1;
    if (results->type != JSON_ARRAY || i >= results->count) return;
    const json_value *item = &results->items[i];
    const json_value *error = json_get(item, "error");
    if (error) {
        json_get_int(error, "code", code);
        const char *name = json_get_string(error, "name");
        const char *message = json_get_string(error, "message");
        CHECK(name && strcmp(name, sheaf_status_name((SheafStatus)*code)) == 0);
        CHECK(message && message[0]);
    } else {
        *code = 0;
        json_get_int(item, "version", version);
    }
}

#define CHECK_ITEM(results, i, want_version, want_code)                                      \
    do {                                                                                     \
        int64_t v_, c_;                                                                      \
        batch_item(results, i, &v_, &c_);                                                    \
        CHECK_MSG(c_ == (want_code) && (c_ != 0 || v_ == (want_version)),                    \
                  "batch item %d: version %lld code %lld, expected version %lld code %lld", \
                  (int)(i), (long long)v_, (long long)c_, (long long)(want_version),         \
                  (long long)(want_code));                                                   \
    } while (0)

static void test_batches(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_batch", NULL);
    struct ArrowArrayStream streams[4];
    int released[4];
    SheafBytes out = {NULL, 0};
    json_value results;
    model m_b1, m_b3;
    const char *items;

    /* write_batch: the middle item's producer fails; the others are written, every stream is
     * released once. */
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 0, 3, 0, &released[0], false);
    range_stream(&streams[1], 0, 3, 0, &released[1], true);
    range_stream(&streams[2], 0, 2, 50, &released[2], false);
    items = "[{\"symbol\": \"b1\", \"options\": {\"index\": \"ts\"}},"
            " {\"symbol\": \"b2\", \"options\": {\"index\": \"ts\"}},"
            " {\"symbol\": \"b3\", \"options\": {\"index\": \"ts\"}}]";
    {
        SheafSlice meta[3] = {{NULL, 0}, {(const uint8_t *)"x", 1}, {(const uint8_t *)"meta3", 5}};
        EXPECT_OK(sheaf_table_write_batch(lib, STR(items), streams, meta, 3, &out, &err));
    }
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(streams[i].release == NULL && released[i] == 1, "write_batch stream %d: %d release(s)",
                  i, released[i]);
    }
    tu_parse_bytes(&out, &results);
    CHECK_EQ_INT(results.count, 3);
    CHECK_ITEM(&results, 0, 0, 0);
    CHECK_ITEM(&results, 1, -1, SHEAF_ERR_INVALID_ARROW);
    CHECK_ITEM(&results, 2, 0, 0);
    json_free(&results);
    model_clear(&m_b1);
    model_set_range(&m_b1, 0, 3, 0);
    model_clear(&m_b3);
    model_set_range(&m_b3, 0, 2, 50);
    EXPECT_MODEL(lib, "b1", NULL, &m_b1, 0);
    EXPECT_MODEL(lib, "b3", NULL, &m_b3, 0);
    EXPECT_METADATA(lib, "b1", NULL, NULL);
    EXPECT_METADATA(lib, "b3", NULL, "meta3");
    CHECK(!tu_has_symbol(lib, "b2"));

    /* A symbol named twice refuses the whole batch; every stream is still released. */
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 10, 1, 0, &released[0], false);
    range_stream(&streams[1], 20, 1, 0, &released[1], false);
    range_stream(&streams[2], 30, 1, 0, &released[2], false);
    items = "[{\"symbol\": \"dup_new\"}, {\"symbol\": \"b1\"}, {\"symbol\": \"dup_new\"}]";
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "dup_new",
               sheaf_table_write_batch(lib, STR(items), streams, NULL, 3, &out, &err));
    for (int i = 0; i < 3; i++) CHECK(streams[i].release == NULL && released[i] == 1);
    CHECK(!tu_has_symbol(lib, "dup_new"));
    CHECK_EQ_INT(latest_version(lib, "b1"), 0);
    CHECK(out.data == NULL);
    /* The same for append_batch and update_batch. */
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 10, 1, 0, &released[0], false);
    range_stream(&streams[1], 20, 1, 0, &released[1], false);
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_table_append_batch(lib, STR("[{\"symbol\": \"b1\"}, {\"symbol\": \"b1\"}]"),
                                        streams, NULL, 2, &out, &err));
    CHECK(released[0] == 1 && released[1] == 1);
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 1, 1, 0, &released[0], false);
    range_stream(&streams[1], 2, 1, 0, &released[1], false);
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_table_update_batch(lib, STR("[{\"symbol\": \"b1\"}, {\"symbol\": \"b1\"}]"),
                                        streams, NULL, 2, &out, &err));
    CHECK(released[0] == 1 && released[1] == 1);
    CHECK_EQ_INT(latest_version(lib, "b1"), 0);

    /* Unusable options fail their item alone; its stream is released all the same. */
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 0, 2, 0, &released[0], false);
    range_stream(&streams[1], 0, 2, 0, &released[1], false);
    items = "[{\"symbol\": \"bad_opts\", \"options\": {\"bogus\": true}},"
            " {\"symbol\": \"good_opts\", \"options\": {\"index\": \"ts\"}}]";
    EXPECT_OK(sheaf_table_write_batch(lib, STR(items), streams, NULL, 2, &out, &err));
    CHECK(released[0] == 1 && released[1] == 1);
    tu_parse_bytes(&out, &results);
    CHECK_EQ_INT(results.count, 2);
    CHECK_ITEM(&results, 0, -1, SHEAF_ERR_INVALID_JSON);
    CHECK_ITEM(&results, 1, 0, 0);
    json_free(&results);
    CHECK(!tu_has_symbol(lib, "bad_opts"));
    CHECK(tu_has_symbol(lib, "good_opts"));
    /* Items and n_items disagree: the whole batch is refused, every stream released. */
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 0, 2, 0, &released[0], false);
    range_stream(&streams[1], 0, 2, 0, &released[1], false);
    range_stream(&streams[2], 0, 2, 0, &released[2], false);
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_table_append_batch(lib, STR("[{\"symbol\": \"c1\"}, {\"symbol\": \"c2\"}]"),
                                        streams, NULL, 3, &out, &err));
    for (int i = 0; i < 3; i++) CHECK(streams[i].release == NULL && released[i] == 1);
    CHECK(!tu_has_symbol(lib, "c1") && !tu_has_symbol(lib, "c2"));

    /* append_batch: b1 grows, b3 gets a stream of other columns (schema error, alone), b4 is
     * created, and b1's metadata item is kept with its version. */
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 3, 2, 0, &released[0], false);
    {
        ab_column col;
        int64_t x = 1;
        ab_stream_options opts = ab_stream_options_default();
        opts.release_counter = &released[1];
        ab_make_int64(&col, "x", &x, NULL, 1);
        ab_stream_from_columns(&streams[1], &col, 1, &opts);
    }
    range_stream(&streams[2], 0, 4, 70, &released[2], false);
    items = "[{\"symbol\": \"b1\"}, {\"symbol\": \"b3\", \"options\": null},"
            " {\"symbol\": \"b4\", \"options\": {\"index\": \"ts\"}}]";
    {
        SheafSlice meta[3] = {{(const uint8_t *)"app1", 4}, {NULL, 0}, {NULL, 0}};
        EXPECT_OK(sheaf_table_append_batch(lib, STR(items), streams, meta, 3, &out, &err));
    }
    for (int i = 0; i < 3; i++) CHECK(streams[i].release == NULL && released[i] == 1);
    tu_parse_bytes(&out, &results);
    CHECK_EQ_INT(results.count, 3);
    CHECK_ITEM(&results, 0, 1, 0);
    CHECK_ITEM(&results, 1, -1, SHEAF_ERR_SCHEMA);
    CHECK_ITEM(&results, 2, 0, 0);
    json_free(&results);
    model_set_range(&m_b1, 3, 2, 0);
    EXPECT_MODEL(lib, "b1", NULL, &m_b1, 1);
    EXPECT_METADATA(lib, "b1", NULL, "app1");
    EXPECT_MODEL(lib, "b3", NULL, &m_b3, 0);
    {
        model m_b4;
        model_clear(&m_b4);
        model_set_range(&m_b4, 0, 4, 70);
        EXPECT_MODEL(lib, "b4", NULL, &m_b4, 0);
    }

    /* update_batch: b1 updated in its span, a missing symbol fails alone, b3 with a date_range. */
    memset(released, 0, sizeof released);
    range_stream(&streams[0], 1, 2, 900, &released[0], false);
    range_stream(&streams[1], 0, 1, 0, &released[1], false);
    range_stream(&streams[2], 0, 2, 800, &released[2], false);
    {
        char buf[256];
        snprintf(buf, sizeof buf,
                 "[{\"symbol\": \"b1\"}, {\"symbol\": \"nosuch\"},"
                 " {\"symbol\": \"b3\", \"options\": {\"date_range\": [%lld, null]}}]",
                 (long long)T(1));
        EXPECT_OK(sheaf_table_update_batch(lib, STR(buf), streams, NULL, 3, &out, &err));
    }
    for (int i = 0; i < 3; i++) CHECK(streams[i].release == NULL && released[i] == 1);
    tu_parse_bytes(&out, &results);
    CHECK_EQ_INT(results.count, 3);
    CHECK_ITEM(&results, 0, 2, 0);
    CHECK_ITEM(&results, 1, -1, SHEAF_ERR_NO_SUCH_SYMBOL);
    CHECK_ITEM(&results, 2, 1, 0);
    json_free(&results);
    model_set_range(&m_b1, 1, 2, 900);
    EXPECT_MODEL(lib, "b1", NULL, &m_b1, 2);
    m_b3.v[1] = 801; /* row 0 of the data is outside the range: dropped */
    EXPECT_MODEL(lib, "b3", NULL, &m_b3, 1);
    CHECK(!tu_has_symbol(lib, "nosuch"));

    /* read_batch: two reads of b1 (latest and v0), a missing symbol, b3 with a row_range. */
    {
        SheafBytes meta[4];
        ab_table t;
        char msg[256];
        memset(streams, 0xA5, sizeof streams); /* filled by the call, whatever was there */
        memset(meta, 0, sizeof meta);
        items = "[{\"symbol\": \"b1\"}, {\"symbol\": \"nosuch\"},"
                " {\"symbol\": \"b1\", \"options\": {\"as_of\": 0}},"
                " {\"symbol\": \"b3\", \"options\": {\"row_range\": [-1, null]}}]";
        EXPECT_OK(sheaf_table_read_batch(lib, STR(items), streams, meta, 4, &out, &err));
        tu_parse_bytes(&out, &results);
        REQUIRE(results.type == JSON_ARRAY && results.count == 4);
        CHECK(streams[1].release == NULL); /* the failed item's stream is left released */
        const json_value *error = json_get(&results.items[1], "error");
        int64_t code = -1, v = -1, rows = -1;
        CHECK(error && json_get_int(error, "code", &code) && code == SHEAF_ERR_NO_SUCH_SYMBOL);
        CHECK(meta[1].data == NULL && meta[1].len == 0);
        const int64_t want_version[4] = {2, -1, 0, 1}, want_rows[4] = {5, -1, 3, 1};
        for (int i = 0; i < 4; i++) {
            if (i == 1) continue;
            const json_value *info = json_get(&results.items[i], "info");
            CHECK_MSG(info && json_get_int(info, "version", &v) && v == want_version[i],
                      "read_batch item %d: version %lld", i, (long long)v);
            CHECK(info && json_get_int(info, "rows", &rows));
            REQUIRE(streams[i].release != NULL);
            CHECK_EQ_INT(ab_read_stream(&streams[i], &t, msg, sizeof msg), 0);
            CHECK_MSG(t.n_rows == want_rows[i], "read_batch item %d: %lld rows", i,
                      (long long)t.n_rows);
            ab_table_free(&t);
        }
        CHECK(meta[0].data == NULL && meta[0].len == 0); /* update_batch gave none */
        CHECK(meta[2].data == NULL && meta[2].len == 0); /* v0 of b1: none */
        CHECK(meta[3].len == 0);                          /* update replaced b3's metadata */
        for (int i = 0; i < 4; i++) sheaf_bytes_free(&meta[i]);
        json_free(&results);

        /* out_metadata may be NULL. */
        memset(streams, 0, sizeof streams);
        EXPECT_OK(sheaf_table_read_batch(lib, STR("[{\"symbol\": \"b3\", \"options\": {\"as_of\": 0}}]"),
                                         streams, NULL, 1, &out, &err));
        sheaf_bytes_free(&out);
        CHECK_EQ_INT(ab_read_stream(&streams[0], &t, msg, sizeof msg), 0);
        CHECK_EQ_INT(t.n_rows, 2);
        ab_table_free(&t);
        /* Bad options fail their item only. */
        memset(streams, 0, sizeof streams);
        EXPECT_OK(sheaf_table_read_batch(
            lib, STR("[{\"symbol\": \"b3\", \"options\": {\"bogus\": 1}}, {\"symbol\": \"b3\"}]"),
            streams, NULL, 2, &out, &err));
        tu_parse_bytes(&out, &results);
        CHECK(results.count == 2 && json_get(&results.items[0], "error") != NULL &&
              json_get(&results.items[1], "info") != NULL);
        CHECK(streams[0].release == NULL);
        json_free(&results);
        if (streams[1].release) {
            CHECK_EQ_INT(ab_read_stream(&streams[1], &t, msg, sizeof msg), 0);
            ab_table_free(&t);
        }
    }

    /* read_metadata_batch. */
    {
        SheafBytes meta[3];
        memset(meta, 0, sizeof meta);
        items = "[{\"symbol\": \"b3\", \"options\": {\"as_of\": 0}}, {\"symbol\": \"nosuch\"},"
                " {\"symbol\": \"b1\", \"options\": {\"as_of\": 1}}]";
        EXPECT_OK(sheaf_table_read_metadata_batch(lib, STR(items), meta, 3, &out, &err));
        tu_parse_bytes(&out, &results);
        REQUIRE(results.type == JSON_ARRAY && results.count == 3);
        CHECK(meta[0].len == 5 && memcmp(meta[0].data, "meta3", 5) == 0);
        CHECK(meta[1].data == NULL && meta[1].len == 0);
        CHECK(meta[2].len == 4 && memcmp(meta[2].data, "app1", 4) == 0);
        int64_t v = -1, code = -1;
        bool has = false;
        const json_value *info = json_get(&results.items[0], "info");
        CHECK(info && json_get_int(info, "version", &v) && v == 0);
        CHECK(info && json_get_bool(info, "has_metadata", &has) && has);
        const json_value *error = json_get(&results.items[1], "error");
        CHECK(error && json_get_int(error, "code", &code) && code == SHEAF_ERR_NO_SUCH_SYMBOL);
        info = json_get(&results.items[2], "info");
        CHECK(info && json_get_int(info, "version", &v) && v == 1);
        for (int i = 0; i < 3; i++) sheaf_bytes_free(&meta[i]);
        json_free(&results);
    }

    /* describe_batch: two versions of b1 and a missing symbol. */
    {
        items = "[{\"symbol\": \"b1\", \"options\": {\"as_of\": 0}}, {\"symbol\": \"nosuch\"},"
                " {\"symbol\": \"b1\"}]";
        EXPECT_OK(sheaf_table_describe_batch(lib, STR(items), 3, &out, &err));
        tu_parse_bytes(&out, &results);
        REQUIRE(results.type == JSON_ARRAY && results.count == 3);
        int64_t v = -1, code = -1;
        const json_value *d = json_get(&results.items[0], "description");
        CHECK(d && json_get_int(d, "version", &v) && v == 0);
        const json_value *error = json_get(&results.items[1], "error");
        CHECK(error && json_get_int(error, "code", &code) && code == SHEAF_ERR_NO_SUCH_SYMBOL);
        d = json_get(&results.items[2], "description");
        CHECK(d && json_get_int(d, "version", &v) && v == 2);
        json_free(&results);
        /* n_items must match the items. */
        EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
                   sheaf_table_describe_batch(lib, STR(items), 2, &out, &err));
    }

    /* write_metadata_batch: new metadata for b3, a first version (metadata only) for b9. */
    {
        SheafSlice metas[2] = {{(const uint8_t *)"m3", 2}, {NULL, 0}};
        items = "[{\"symbol\": \"b3\"},"
                " {\"symbol\": \"b9\", \"options\": {\"prune_previous_versions\": true}}]";
        EXPECT_OK(sheaf_table_write_metadata_batch(lib, STR(items), metas, 2, &out, &err));
        tu_parse_bytes(&out, &results);
        REQUIRE(results.type == JSON_ARRAY && results.count == 2);
        int64_t v = -1;
        CHECK(json_get_int(&results.items[0], "version", &v) && v >= 1);
        CHECK(json_get_int(&results.items[1], "version", &v) && v == 0);
        json_free(&results);
        EXPECT_METADATA(lib, "b3", NULL, "m3");
        SheafBytes meta = {NULL, 0};
        bool has = true;
        int64_t rows = -1;
        EXPECT_OK(sheaf_table_read_metadata(lib, STR("b9"), NULL, 0, &out, &meta, &err));
        tu_parse_bytes(&out, &results);
        CHECK(json_get_bool(&results, "has_metadata", &has) && !has);
        CHECK(json_get_int(&results, "rows", &rows) && rows == 0);
        CHECK(meta.data == NULL && meta.len == 0);
        json_free(&results);
        /* A symbol named twice writes nothing. */
        items = "[{\"symbol\": \"b3\"}, {\"symbol\": \"b3\"}]";
        EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "more than once",
                   sheaf_table_write_metadata_batch(lib, STR(items), NULL, 2, &out, &err));
        EXPECT_METADATA(lib, "b3", NULL, "m3");
    }

    /* delete_batch: a version of b1, all of b4, a missing symbol. */
    items = "[{\"symbol\": \"b1\", \"options\": {\"versions\": [0]}}, {\"symbol\": \"nosuch\"},"
            " {\"symbol\": \"b4\", \"options\": {\"versions\": null}}]";
    EXPECT_OK(sheaf_table_delete_batch(lib, STR(items), &out, &err));
    tu_parse_bytes(&out, &results);
    REQUIRE(results.type == JSON_ARRAY && results.count == 3);
    CHECK(results.items[0].type == JSON_OBJECT && results.items[0].count == 0);
    {
        int64_t code = -1;
        const json_value *error = json_get(&results.items[1], "error");
        CHECK(error && json_get_int(error, "code", &code) && code == SHEAF_ERR_NO_SUCH_SYMBOL);
    }
    CHECK(results.items[2].type == JSON_OBJECT && results.items[2].count == 0);
    json_free(&results);
    expect_read_error(__LINE__, lib, "b1", "{\"as_of\": 0}", SHEAF_ERR_NO_SUCH_VERSION);
    EXPECT_MODEL(lib, "b1", NULL, &m_b1, 2);
    CHECK(!tu_has_symbol(lib, "b4"));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_table_delete_batch(lib, STR("[{\"symbol\": \"b1\"}, {\"symbol\": \"b1\"}]"),
                                        &out, &err));
    CHECK(tu_has_symbol(lib, "b1"));
    sheaf_library_free(lib);
}

/* ---- staged writes ------------------------------------------------------------------------ */

static SheafStatus stage_range(SheafLibrary *lib, const char *symbol, int64_t first, int n,
                               int64_t vbase, const char *options, SheafError **err) {
    struct ArrowArrayStream stream;
    int released = 0;
    range_stream(&stream, first, n, vbase, &released, false);
    SheafStatus st = sheaf_table_stage(lib, STR(symbol), &stream, options,
                                       options ? strlen(options) : 0, err);
    CHECK(stream.release == NULL && released == 1);
    return st;
}

static void expect_staged(SheafLibrary *lib, const char *const *names, size_t n) {
    SheafBytes json = {NULL, 0};
    json_value list;
    EXPECT_OK(sheaf_table_list_staged_symbols(lib, &json, &err));
    tu_parse_bytes(&json, &list);
    CHECK_MSG(tu_json_names_equal(&list, names, n), "list_staged_symbols gave %zu other name(s)",
              list.count);
    json_free(&list);
}

static void test_staged(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_staged", "{\"rows_per_segment\": 4}");
    const char *ix = "{\"index\": \"ts\"}";
    const char *const stg[] = {"stg"};
    model m;
    uint64_t version = 99, count = 99;
    model_clear(&m);

    expect_staged(lib, NULL, 0);
    /* Three chunks, staged out of index order. */
    EXPECT_OK(stage_range(lib, "stg", 20, 10, 0, ix, &err));
    EXPECT_OK(stage_range(lib, "stg", 0, 10, 0, ix, &err));
    EXPECT_OK(stage_range(lib, "stg", 10, 10, 0, ix, &err));
    expect_staged(lib, stg, 1);
    CHECK(!tu_has_symbol(lib, "stg")); /* invisible until finalized */
    EXPECT_OK(sheaf_table_finalize_staged(lib, STR("stg"), (const uint8_t *)"fin", 3, NULL, 0,
                                          &version, &err));
    CHECK_EQ_INT(version, 0);
    model_set_range(&m, 0, 30, 0);
    EXPECT_MODEL(lib, "stg", NULL, &m, 0);
    EXPECT_METADATA(lib, "stg", NULL, "fin");
    expect_staged(lib, NULL, 0);
    EXPECT_ERR(SHEAF_ERR_NOT_FOUND, NULL,
               sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0, NULL, 0, &version, &err));

    /* Append mode. */
    EXPECT_OK(stage_range(lib, "stg", 35, 5, 0, ix, &err));
    EXPECT_OK(stage_range(lib, "stg", 30, 5, 0, ix, &err));
    EXPECT_OK(sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0, STR("{\"mode\": \"append\"}"),
                                          &version, &err));
    CHECK_EQ_INT(version, 1);
    model_set_range(&m, 30, 10, 0);
    EXPECT_MODEL(lib, "stg", NULL, &m, 1);
    EXPECT_METADATA(lib, "stg", NULL, NULL);

    /* Overlapping chunks: refused (and kept) unless sort is asked for. */
    EXPECT_OK(stage_range(lib, "stg", 40, 10, 1000, ix, &err));
    EXPECT_OK(stage_range(lib, "stg", 45, 10, 2000, ix, &err));
    version = 99;
    EXPECT_ERR(SHEAF_ERR_UNSORTED_INDEX, NULL,
               sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0,
                                           STR("{\"mode\": \"append\"}"), &version, &err));
    CHECK_EQ_INT(version, 99);
    expect_staged(lib, stg, 1);
    CHECK_EQ_INT(latest_version(lib, "stg"), 1);
    EXPECT_OK(sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0,
                                          STR("{\"mode\": \"append\", \"sort\": true}"), &version,
                                          &err));
    CHECK_EQ_INT(version, 2);
    expect_staged(lib, NULL, 0);
    {
        ab_table t;
        int64_t ts[MAX_ROWS], v[MAX_ROWS];
        tu_read(lib, "stg", NULL, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 60);
        int64_t n = column_i64(&t, "ts", ts, MAX_ROWS, NULL);
        column_i64(&t, "v", v, MAX_ROWS, NULL);
        int bad = 0, from_first = 0, from_second = 0;
        for (int64_t i = 0; i < n; i++) {
            if (i > 0 && ts[i] < ts[i - 1]) bad++;
            int64_t k = (ts[i] - TS0) / SEC;
            if (i < 40) {
                bad += v[i] != k;
            } else if (v[i] == 1000 + k && k >= 40 && k < 50) {
                from_first++;
            } else if (v[i] == 2000 + k && k >= 45 && k < 55) {
                from_second++;
            } else {
                bad++;
            }
        }
        CHECK_MSG(bad == 0 && from_first == 10 && from_second == 10,
                  "sorted finalize: %d bad rows, %d + %d staged rows", bad, from_first, from_second);
        ab_table_free(&t);
        json_value d;
        describe(lib, "stg", NULL, &d);
        CHECK_EQ_STR(json_get_string(&d, "sorted"), "ASCENDING");
        json_free(&d);
    }

    /* Write mode replaces the content. */
    EXPECT_OK(stage_range(lib, "stg", 100, 3, 0, ix, &err));
    EXPECT_OK(sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0, STR("{\"mode\": \"write\"}"),
                                          &version, &err));
    CHECK_EQ_INT(version, 3);
    model_clear(&m);
    model_set_range(&m, 100, 3, 0);
    EXPECT_MODEL(lib, "stg", NULL, &m, 3);

    /* Append mode below the stored end: UNSORTED_INDEX. */
    EXPECT_OK(stage_range(lib, "stg", 50, 2, 0, ix, &err));
    EXPECT_ERR(SHEAF_ERR_UNSORTED_INDEX, NULL,
               sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0,
                                           STR("{\"mode\": \"append\"}"), &version, &err));

    /* delete_staged: the count, then nothing. */
    EXPECT_OK(stage_range(lib, "stg2", 0, 2, 0, ix, &err));
    EXPECT_OK(stage_range(lib, "stg2", 2, 2, 0, ix, &err));
    {
        const char *const both[] = {"stg", "stg2"};
        expect_staged(lib, both, 2);
    }
    EXPECT_OK(sheaf_table_delete_staged(lib, STR("stg2"), &count, &err));
    CHECK_EQ_INT(count, 2);
    EXPECT_OK(sheaf_table_delete_staged(lib, STR("stg"), &count, &err));
    CHECK_EQ_INT(count, 1);
    EXPECT_OK(sheaf_table_delete_staged(lib, STR("stg2"), &count, &err));
    CHECK_EQ_INT(count, 0);
    EXPECT_OK(sheaf_table_delete_staged(lib, STR("stg2"), NULL, &err));
    expect_staged(lib, NULL, 0);
    CHECK(!tu_has_symbol(lib, "stg2"));
    EXPECT_MODEL(lib, "stg", NULL, &m, 3);

    /* stage_chunk: ids name chunks; a finalize of one leaves the other staged. */
    {
        struct ArrowArrayStream stream;
        int released = 0;
        SheafBytes id_a = {NULL, 0}, id_b = {NULL, 0};
        range_stream(&stream, 150, 2, 0, &released, false);
        EXPECT_OK(sheaf_table_stage_chunk(lib, STR("stg"), &stream, ix, strlen(ix), &id_a, &err));
        released = 0;
        range_stream(&stream, 200, 2, 0, &released, false);
        EXPECT_OK(sheaf_table_stage_chunk(lib, STR("stg"), &stream, ix, strlen(ix), &id_b, &err));
        CHECK(id_a.len > 0 && id_b.len > 0 &&
              (id_a.len != id_b.len || memcmp(id_a.data, id_b.data, id_a.len) != 0));
        char opts[256];
        snprintf(opts, sizeof opts, "{\"mode\": \"append\", \"chunks\": [\"%.*s\"]}",
                 (int)id_b.len, (const char *)id_b.data);
        uint64_t before = version;
        EXPECT_OK(sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0, STR(opts), &version, &err));
        CHECK(version > before);
        uint64_t finalized = version;
        model_set_range(&m, 200, 2, 0);
        EXPECT_MODEL(lib, "stg", NULL, &m, finalized);
        const char *const one[] = {"stg"};
        expect_staged(lib, one, 1); /* the chunk at 150 */
        {
            json_value listed;
            SheafBytes json = {NULL, 0};
            int64_t rows = -1, lo = -1;
            EXPECT_OK(sheaf_table_list_staged_chunks(lib, STR("stg"), &json, &err));
            tu_parse_bytes(&json, &listed);
            REQUIRE(listed.type == JSON_ARRAY && listed.count == 1);
            const char *listed_id = json_get_string(&listed.items[0], "id");
            CHECK(listed_id && strlen(listed_id) == id_a.len &&
                  memcmp(listed_id, id_a.data, id_a.len) == 0);
            CHECK(json_get_int(&listed.items[0], "rows", &rows) && rows == 2);
            CHECK(json_get_int(&listed.items[0], "index_min", &lo) && lo == T(150));
            json_free(&listed);
        }
        /* The same id again: no longer staged. */
        EXPECT_ERR(SHEAF_ERR_NOT_FOUND, "no staged chunk",
                   sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0, STR(opts), &version,
                                               &err));
        /* Refused for its data with delete_staged_data_on_failure: the chunk is dropped. */
        snprintf(opts, sizeof opts,
                 "{\"mode\": \"append\", \"chunks\": [\"%.*s\"], "
                 "\"delete_staged_data_on_failure\": true}",
                 (int)id_a.len, (const char *)id_a.data);
        EXPECT_ERR(SHEAF_ERR_UNSORTED_INDEX, NULL,
                   sheaf_table_finalize_staged(lib, STR("stg"), NULL, 0, STR(opts), &version,
                                               &err));
        expect_staged(lib, NULL, 0);
        EXPECT_MODEL(lib, "stg", NULL, &m, finalized);
        EXPECT_ERR(SHEAF_ERR_NULL_POINTER, NULL,
                   sheaf_table_stage_chunk(lib, STR("stg"), NULL, NULL, 0, NULL, &err));
        sheaf_bytes_free(&id_a);
        sheaf_bytes_free(&id_b);
    }
    sheaf_library_free(lib);
}

/* ---- dynamic schema ----------------------------------------------------------------------- */

static void test_dynamic_schema(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_dynamic", "{\"dynamic_schema\": true}");
    SheafLibrary *fixed = tu_open_library(store, "ts_fixed", NULL);
    {
        SheafBytes json = {NULL, 0};
        json_value d;
        bool dynamic = false;
        EXPECT_OK(sheaf_library_describe(lib, &json, &err));
        tu_parse_bytes(&json, &d);
        const json_value *opts = json_get(&d, "options");
        CHECK(opts && json_get_bool(opts, "dynamic_schema", &dynamic) && dynamic);
        json_free(&d);
    }
    int64_t ts1[3] = {T(0), T(1), T(2)}, a1[3] = {1, 2, 3};
    int64_t ts2[2] = {T(3), T(4)};
    double a2[2] = {4.5, 5.5};
    const char *b2[2] = {"x", "y"};

    for (int pass = 0; pass < 2; pass++) {
        SheafLibrary *l = pass == 0 ? lib : fixed;
        ab_column cols[3];
        ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts1, NULL, 3);
        ab_make_int64(&cols[1], "a", a1, NULL, 3);
        tu_write_columns(l, "dyn", cols, 2, NULL, "{\"index\": \"ts\"}");
        /* Append: "a" now float64, a new column "b". */
        struct ArrowArrayStream stream;
        ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts2, NULL, 2);
        ab_make_float64(&cols[1], "a", a2, NULL, 2);
        ab_make_utf8(&cols[2], "b", b2, 2);
        ab_stream_from_columns(&stream, cols, 3, NULL);
        uint64_t version = 99;
        if (pass == 1) {
            EXPECT_ERR(SHEAF_ERR_SCHEMA, NULL,
                       sheaf_table_append(l, STR("dyn"), &stream, NULL, 0, NULL, 0, &version, &err));
            CHECK(stream.release == NULL);
            continue;
        }
        EXPECT_OK(sheaf_table_append(l, STR("dyn"), &stream, NULL, 0, NULL, 0, &version, &err));
        CHECK_EQ_INT(version, 1);
        ab_table t;
        tu_read(l, "dyn", NULL, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 5);
        int64_t ca = ab_table_column(&t, "a"), cb = ab_table_column(&t, "b");
        REQUIRE(ca >= 0 && cb >= 0);
        CHECK_EQ_STR(t.schema.children[ca]->format, "g");
        CHECK_EQ_STR(t.schema.children[cb]->format, "u");
        const double want_a[5] = {1, 2, 3, 4.5, 5.5};
        for (int r = 0; r < 5 && r < t.n_rows; r++) {
            int64_t k;
            const struct ArrowArray *arr = ab_table_cell(&t, ca, r, &k);
            CHECK(ab_cell_valid(arr, k));
            CHECK_MSG(ab_cell_float64(arr, k) == want_a[r], "a[%d] == %g, expected %g", r,
                      ab_cell_float64(arr, k), want_a[r]);
            arr = ab_table_cell(&t, cb, r, &k);
            if (r < 3) {
                CHECK_MSG(!ab_cell_valid(arr, k), "b[%d] should be null", r);
            } else {
                size_t len = 0;
                const char *s = ab_cell_utf8(arr, k, false, &len);
                CHECK(ab_cell_valid(arr, k) && len == 1 && s[0] == b2[r - 3][0]);
            }
        }
        ab_table_free(&t);
        /* The old version keeps its own schema. */
        char names[64];
        read_column_names(l, "dyn", "{\"as_of\": 0}", names, sizeof names, NULL);
        CHECK_EQ_STR(names, "ts,a");
        /* A later append that omits "b": null there. */
        ab_column more[2];
        int64_t ts3 = T(5);
        double a3 = 6;
        ab_make_timestamp(&more[0], "ts", "tsn:UTC", &ts3, NULL, 1);
        ab_make_float64(&more[1], "a", &a3, NULL, 1);
        ab_stream_from_columns(&stream, more, 2, NULL);
        EXPECT_OK(sheaf_table_append(l, STR("dyn"), &stream, NULL, 0, NULL, 0, &version, &err));
        tu_read(l, "dyn", "{\"row_range\": [-1, null]}", &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 1);
        cb = ab_table_column(&t, "b");
        if (cb >= 0 && t.n_rows == 1) {
            int64_t k;
            const struct ArrowArray *arr = ab_table_cell(&t, cb, 0, &k);
            CHECK(!ab_cell_valid(arr, k));
        } else {
            CHECK_MSG(false, "column b is gone after an append without it");
        }
        ab_table_free(&t);
    }
    sheaf_library_free(fixed);
    sheaf_library_free(lib);
}

/* ---- the suite ---------------------------------------------------------------------------- */

/* ---- merge, concat, storage sizes --------------------------------------------------------- */

static void test_merge_concat_sizes(SheafStore *store) {
    SheafLibrary *lib = tu_open_library(store, "ts_merge", "{\"rows_per_segment\": 5}");
    model m;
    uint64_t version = 99;
    model_clear(&m);
    EXPECT_OK(call_range(sheaf_table_write, lib, "mg", 0, 10, 0, "w0", "{\"index\": \"ts\"}",
                         &version, &err));
    model_set_range(&m, 0, 10, 0);

    /* Key 3 matches (takes v = 300); key 12 is new (inserted in index order). */
    {
        int64_t keys[2] = {3, 12}, values[2] = {300, 1200};
        EXPECT_OK(call_keys(sheaf_table_merge, lib, "mg", keys, values, 2, "m1", NULL, &version,
                            &err));
        CHECK_EQ_INT(version, 1);
        m.v[3] = 300;
        m.has[12] = true;
        m.v[12] = 1200;
        EXPECT_MODEL(lib, "mg", NULL, &m, 1);
        EXPECT_METADATA(lib, "mg", NULL, "m1");
    }
    /* Inserts only: key 4 keeps its value, key 13 is added. */
    {
        int64_t keys[2] = {4, 13}, values[2] = {400, 1300};
        const char *only_insert = "{\"matched\": \"do_nothing\", \"not_matched_by_target\": \"insert\"}";
        EXPECT_OK(call_keys(sheaf_table_merge, lib, "mg", keys, values, 2, NULL, only_insert,
                            &version, &err));
        m.has[13] = true;
        m.v[13] = 1300;
        EXPECT_MODEL(lib, "mg", NULL, &m, 2);
    }
    /* Refusals: the stream is still released once (call_keys checks), nothing committed. */
    {
        int64_t keys[2] = {5, 4}, values[2] = {0, 0};
        SheafError *err = NULL;
        CHECK_EQ_INT(call_keys(sheaf_table_merge, lib, "mg", keys, values, 2, NULL, NULL, &version,
                               &err),
                     SHEAF_ERR_UNSORTED_INDEX);
        sheaf_error_free(err);
        err = NULL;
        CHECK_EQ_INT(call_keys(sheaf_table_merge, lib, "mg", keys, values, 1, NULL,
                               "{\"matched\": \"insert\"}", &version, &err),
                     SHEAF_ERR_INVALID_ARGUMENT);
        sheaf_error_free(err);
        CHECK_EQ_INT(latest_version(lib, "mg"), 2);
    }

    /* Concat: all of "mg" then rows 1.. of "c2", inner join, a filter over the whole. */
    EXPECT_OK(call_range(sheaf_table_write, lib, "c2", 20, 3, 0, NULL, "{\"index\": \"ts\"}",
                         &version, &err));
    {
        const char *items =
            "[{\"symbol\": \"mg\"}, {\"symbol\": \"c2\", \"options\": {\"row_range\": [1, null]}}]";
        const char *options =
            "{\"join\": \"inner\", \"query\": [{\"filter\": {\"op\": \"ge\", \"args\": "
            "[{\"col\": \"v\"}, {\"lit\": 9}]}}]}";
        struct ArrowArrayStream stream;
        SheafBytes metas[2] = {{NULL, 0}, {NULL, 0}};
        SheafBytes infos = {NULL, 0};
        ab_table t;
        char errbuf[256];
        int64_t v[MAX_ROWS];
        EXPECT_OK(sheaf_table_read_concat(lib, STR(items), STR(options), &stream, metas, 2, &infos,
                                          &err));
        CHECK(metas[0].len == 0 && metas[1].len == 0); /* neither version has metadata */
        REQUIRE(ab_read_stream(&stream, &t, errbuf, sizeof errbuf) == 0);
        /* v >= 9: 9, 300 (key 3), 1200, 1300 from mg; 21, 22 from c2 (v = key). */
        CHECK_EQ_INT(column_i64(&t, "v", v, MAX_ROWS, NULL), 6);
        CHECK(v[0] == 300 && v[1] == 9 && v[2] == 1200 && v[3] == 1300 && v[4] == 21 &&
              v[5] == 22);
        ab_table_free(&t);
        json_value parsed;
        tu_parse_bytes(&infos, &parsed);
        REQUIRE(parsed.type == JSON_ARRAY && parsed.count == 2);
        CHECK_EQ_STR(json_get_string(&parsed.items[1], "symbol"), "c2");
        json_free(&parsed);
        for (int i = 0; i < 2; i++) sheaf_bytes_free(&metas[i]);
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "nope",
                   sheaf_table_read_concat(lib, STR("[{\"symbol\": \"nope\"}]"), NULL, 0,
                                           &stream, NULL, 1, &infos, &err));
        EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "at least one",
                   sheaf_table_read_concat(lib, STR("[]"), NULL, 0, &stream, NULL, 0, &infos, &err));
    }

    /* Storage sizes: three version records of "mg", its segments; one record of "c2". */
    {
        SheafBytes out = {NULL, 0};
        json_value parsed;
        int64_t count = -1, bytes = -1;
        EXPECT_OK(sheaf_table_storage_sizes(lib, STR("mg"), &out, &err));
        tu_parse_bytes(&out, &parsed);
        const json_value *version_size = json_get(json_get(&parsed, "total"), "version");
        REQUIRE(version_size != NULL);
        CHECK(json_get_int(version_size, "count", &count) && count == 3);
        const json_value *data = json_get(json_get(&parsed, "total"), "table_data");
        REQUIRE(data != NULL);
        CHECK(json_get_int(data, "bytes", &bytes) && bytes > 0);
        json_free(&parsed);
        EXPECT_OK(sheaf_table_storage_sizes(lib, NULL, 0, &out, &err));
        tu_parse_bytes(&out, &parsed);
        const json_value *symbols = json_get(&parsed, "symbols");
        REQUIRE(symbols != NULL && symbols->type == JSON_OBJECT && symbols->count == 2);
        json_free(&parsed);
    }
    sheaf_library_free(lib);
}

static void run_suite(const char *uri) {
    printf("  timeseries suite on %s\n", uri);
    SheafStore *store = tu_open_store(uri);
    test_append(store);
    test_update(store);
    test_delete_range(store);
    test_reads(store);
    test_as_of(store);
    test_describe(store);
    test_prune_and_compact(store);
    test_snapshots(store);
    test_batches(store);
    test_staged(store);
    test_dynamic_schema(store);
    test_merge_concat_sizes(store);
    sheaf_store_free(store);
}

int main(void) {
    run_suite("mem://");
    char *dir = tu_make_tmpdir("timeseries");
    char *uri = tu_lmdb_uri(dir, "store");
    run_suite(uri);
    free(uri);
    tu_remove_dir(dir);
    free(dir);
    /* An s3:// store on the local S3 server, when the test runner provides one. */
    const char *s3 = getenv("SHEAF_TEST_S3_URI");
    if (s3 != NULL) run_suite(s3);
    return tu_finish("test_timeseries");
}

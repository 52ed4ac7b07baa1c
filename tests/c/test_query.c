/*
 * test_query.c — reads with a JSON query plan through the C ABI (docs/query-plan.md): a filter
 * with a projection (and proof through sheaf_library_stats that pruned segments are not
 * loaded), a group-by, a resample, per-item plans in sheaf_table_read_batch, and the errors a
 * bad plan gets; then the same table through SQL (sheaf_sql, sheaf_store_sql): a group-by,
 * pushdown counted in segments, parameters, an INSERT, errors and cancellation.
 *
 * Table "prices": 100 rows, 10 per segment; ts = T(k) (timestamp[ns, UTC]), v = k (int64),
 * p = k / 2 (float64, null when k % 10 == 3), s = "x" for even k, "y" for odd k.
 *
 * Runs on a private in-memory store and on an LMDB store.
 */
#include <stdlib.h>
#include <string.h>

#include "testkit.h"

#define SEC INT64_C(1000000000)
#define TS0 INT64_C(1700000000000000000) /* 2023-11-14T22:13:20Z: a multiple of 20 s */
#define ROWS 100

static int64_t T(int64_t k) { return TS0 + k * SEC; }

static bool p_valid(int64_t k) { return k % 10 != 3; }

static double absolute(double x) { return x < 0 ? -x : x; }


static void write_prices(SheafLibrary *lib) {
    int64_t ts[ROWS], v[ROWS];
    double p[ROWS];
    bool valid[ROWS];
    const char *s[ROWS];
    ab_column cols[4];
    for (int64_t k = 0; k < ROWS; k++) {
        ts[k] = T(k);
        v[k] = k;
        p[k] = (double)k / 2.0;
        valid[k] = p_valid(k);
        s[k] = k % 2 == 0 ? "x" : "y";
    }
    ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts, NULL, ROWS);
    ab_make_int64(&cols[1], "v", v, NULL, ROWS);
    ab_make_float64(&cols[2], "p", p, valid, ROWS);
    ab_make_utf8(&cols[3], "s", s, ROWS);
    tu_write_columns(lib, "prices", cols, 4, NULL, "{\"index\": \"ts\"}");
}

static int64_t int_at(const ab_table *t, const char *name, int64_t row) {
    int64_t col = ab_table_column(t, name), k;
    REQUIRE(col >= 0);
    const struct ArrowArray *a = ab_table_cell(t, col, row, &k);
    REQUIRE(a != NULL);
    return ab_cell_int64(a, k);
}

static double float_at(const ab_table *t, const char *name, int64_t row, bool *valid) {
    int64_t col = ab_table_column(t, name), k;
    REQUIRE(col >= 0);
    const struct ArrowArray *a = ab_table_cell(t, col, row, &k);
    REQUIRE(a != NULL);
    *valid = ab_cell_valid(a, k);
    return ab_cell_float64(a, k);
}

static void check_filter_and_projection(SheafLibrary *lib) {
    /* v >= 85 and s == "x", with w = v * 2 + 1 */
    const char *options =
        "{\"query\": ["
        "{\"filter\": {\"op\": \"and\", \"args\": ["
        "{\"op\": \"ge\", \"args\": [{\"col\": \"v\"}, {\"lit\": 85}]},"
        "{\"op\": \"eq\", \"args\": [{\"col\": \"s\"}, {\"lit\": \"x\"}]}]}},"
        "{\"project\": {\"name\": \"w\", \"expr\": {\"op\": \"add\", \"args\": ["
        "{\"op\": \"mul\", \"args\": [{\"col\": \"v\"}, {\"lit\": 2}]}, {\"lit\": 1}]}}}]}";
    ab_table t;
    int64_t before = tu_segments_loaded(lib);
    tu_read(lib, "prices", options, &t, NULL, NULL);
    /* Segments of 10 rows: only 80..89 and 90..99 can hold v >= 85. */
    CHECK_EQ_INT(tu_segments_loaded(lib) - before, 2);
    CHECK_EQ_INT(t.n_rows, 7); /* 86, 88, ..., 98 */
    CHECK_EQ_INT(t.schema.n_children, 5);
    for (int64_t r = 0; r < t.n_rows && r < 7; r++) {
        int64_t k = 86 + 2 * r;
        CHECK_EQ_INT(int_at(&t, "v", r), k);
        CHECK_EQ_INT(int_at(&t, "ts", r), T(k));
        CHECK_EQ_INT(int_at(&t, "w", r), 2 * k + 1);
    }
    ab_table_free(&t);

    /* Missing values: p != 1.0 keeps the null rows, p > 40 does not. */
    tu_read(lib, "prices",
            "{\"query\": [{\"filter\": {\"op\": \"ne\", \"args\": [{\"col\": \"p\"}, {\"lit\": 1.0}]}}]}",
            &t, NULL, NULL);
    CHECK_EQ_INT(t.n_rows, ROWS - 1);
    ab_table_free(&t);
    tu_read(lib, "prices",
            "{\"query\": [{\"filter\": {\"op\": \"gt\", \"args\": [{\"col\": \"p\"}, {\"lit\": 40}]}}]}",
            &t, NULL, NULL);
    CHECK_EQ_INT(t.n_rows, 17); /* k = 81..99 without 83, 93 */
    ab_table_free(&t);
}

static void check_groupby(SheafLibrary *lib) {
    const char *options =
        "{\"query\": [{\"groupby\": {\"by\": [\"s\"], \"aggs\": ["
        "{\"name\": \"total\", \"column\": \"v\", \"op\": \"sum\"},"
        "{\"name\": \"avg_p\", \"column\": \"p\", \"op\": \"mean\"},"
        "{\"name\": \"n_p\", \"column\": \"p\", \"op\": \"count\"}]}}]}";
    ab_table t;
    tu_read(lib, "prices", options, &t, NULL, NULL);
    REQUIRE(t.n_rows == 2);
    /* The metadata names the key column for consumers that want it as an index. */
    CHECK(t.schema.metadata != NULL);
    for (int64_t r = 0; r < 2; r++) {
        int64_t col = ab_table_column(&t, "s"), k;
        const struct ArrowArray *a = ab_table_cell(&t, col, r, &k);
        size_t len = 0;
        const char *key = ab_cell_utf8(a, k, false, &len);
        CHECK(len == 1 && key[0] == (r == 0 ? 'x' : 'y'));
        int64_t sum = 0, n = 0;
        double psum = 0;
        for (int64_t i = r; i < ROWS; i += 2) {
            sum += i;
            if (p_valid(i)) {
                psum += (double)i / 2.0;
                n++;
            }
        }
        bool valid = false;
        CHECK_EQ_INT(int_at(&t, "total", r), sum);
        CHECK_EQ_INT(int_at(&t, "n_p", r), n);
        double mean = float_at(&t, "avg_p", r, &valid);
        CHECK(valid && absolute(mean - psum / (double)n) < 1e-9);
    }
    ab_table_free(&t);
}

static void check_resample(SheafLibrary *lib) {
    const char *options =
        "{\"query\": [{\"resample\": {\"rule\": \"20s\", \"aggs\": ["
        "{\"name\": \"last_v\", \"column\": \"v\", \"op\": \"last\"},"
        "{\"name\": \"n\", \"column\": \"p\", \"op\": \"count\"}]}}]}";
    ab_table t;
    tu_read(lib, "prices", options, &t, NULL, NULL);
    REQUIRE(t.n_rows == 5);
    for (int64_t r = 0; r < 5; r++) {
        CHECK_EQ_INT(int_at(&t, "ts", r), T(20 * r));
        CHECK_EQ_INT(int_at(&t, "last_v", r), 20 * r + 19);
        CHECK_EQ_INT(int_at(&t, "n", r), 18); /* two nulls per 20 rows */
    }
    ab_table_free(&t);
}

static void check_read_batch(SheafLibrary *lib) {
    const char *items =
        "[{\"symbol\": \"prices\", \"options\": {\"query\": [{\"tail\": 3}]}},"
        " {\"symbol\": \"prices\", \"options\": {\"query\": "
        "[{\"filter\": {\"op\": \"isin\", \"args\": [{\"col\": \"v\"}], \"values\": [5, 50]}}]}},"
        " {\"symbol\": \"prices\", \"options\": {\"query\": [{\"filter\": {\"col\": \"nope\"}}]}}]";
    struct ArrowArrayStream streams[3];
    SheafBytes results = {NULL, 0};
    memset(streams, 0, sizeof streams);
    EXPECT_OK(sheaf_table_read_batch(lib, STR(items), streams, NULL, 3, &results, &err));
    json_value parsed;
    tu_parse_bytes(&results, &parsed);
    REQUIRE(parsed.type == JSON_ARRAY && parsed.count == 3);
    CHECK(json_get(&parsed.items[0], "info") != NULL);
    CHECK(json_get(&parsed.items[1], "info") != NULL);
    const json_value *error = json_get(&parsed.items[2], "error");
    int64_t code = 0;
    CHECK(error != NULL && json_get_int(error, "code", &code) && code == SHEAF_ERR_SCHEMA);
    json_free(&parsed);
    CHECK(streams[2].release == NULL);

    ab_table t;
    char errbuf[256];
    REQUIRE(ab_read_stream(&streams[0], &t, errbuf, sizeof errbuf) == 0);
    CHECK_EQ_INT(t.n_rows, 3);
    for (int64_t r = 0; r < t.n_rows; r++) CHECK_EQ_INT(int_at(&t, "v", r), 97 + r);
    ab_table_free(&t);
    REQUIRE(ab_read_stream(&streams[1], &t, errbuf, sizeof errbuf) == 0);
    CHECK_EQ_INT(t.n_rows, 2);
    if (t.n_rows == 2) {
        CHECK_EQ_INT(int_at(&t, "v", 0), 5);
        CHECK_EQ_INT(int_at(&t, "v", 1), 50);
    }
    ab_table_free(&t);
}

static void check_errors(SheafLibrary *lib) {
    struct ArrowArrayStream stream;
    const char *missing =
        "{\"query\": [{\"filter\": {\"op\": \"gt\", \"args\": [{\"col\": \"nope\"}, {\"lit\": 1}]}}]}";
    const char *mismatch =
        "{\"query\": [{\"filter\": {\"op\": \"lt\", \"args\": [{\"col\": \"s\"}, {\"lit\": 3}]}}]}";
    const char *unknown_op =
        "{\"query\": [{\"filter\": {\"op\": \"between\", \"args\": [{\"col\": \"v\"}]}}]}";
    const char *bad_agg =
        "{\"query\": [{\"groupby\": {\"by\": \"s\", \"aggs\": "
        "[{\"name\": \"m\", \"column\": \"s\", \"op\": \"mean\"}]}}]}";
    const char *malformed = "{\"query\": [{\"filter\": ";
    int64_t before = tu_segments_loaded(lib);
    memset(&stream, 0, sizeof stream);
    EXPECT_ERR(SHEAF_ERR_SCHEMA, "nope",
               sheaf_table_read(lib, STR("prices"), STR(missing), &stream, NULL, NULL, &err));
    CHECK(stream.release == NULL);
    EXPECT_ERR(SHEAF_ERR_SCHEMA, "'lt'",
               sheaf_table_read(lib, STR("prices"), STR(mismatch), &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "between",
               sheaf_table_read(lib, STR("prices"), STR(unknown_op), &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_SCHEMA, "mean",
               sheaf_table_read(lib, STR("prices"), STR(bad_agg), &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, NULL,
               sheaf_table_read(lib, STR("prices"), STR(malformed), &stream, NULL, NULL, &err));
    CHECK(stream.release == NULL);
    /* Plans are checked before anything loads. */
    CHECK_EQ_INT(tu_segments_loaded(lib) - before, 0);
}

/* Runs `sql` (with `params`, may be NULL) into `t`; returns the status. */
static SheafStatus sql_table(SheafLibrary *lib, const char *sql, const char *params, ab_table *t) {
    struct ArrowArrayStream stream;
    memset(&stream, 0, sizeof stream);
    SheafError *err = NULL;
    SheafStatus st = sheaf_sql(lib, sql, strlen(sql), params, params ? strlen(params) : 0, &stream,
                               &err);
    tu_expect_ok(__FILE__, __LINE__, sql, st, err);
    if (st != SHEAF_OK) return st;
    char message[256];
    int rc = ab_read_stream(&stream, t, message, sizeof message);
    CHECK_MSG(rc == 0, "reading the result of %s: %s", sql, message);
    return rc == 0 ? SHEAF_OK : SHEAF_ERR_GENERIC;
}

static void check_sql(SheafStore *store, SheafLibrary *lib) {
    ab_table t;
    REQUIRE(sql_table(lib,
                      "SELECT s, sum(v) AS total, count(p) AS n FROM prices GROUP BY s ORDER BY s",
                      NULL, &t) == SHEAF_OK);
    REQUIRE(t.n_rows == 2);
    for (int64_t r = 0; r < 2; r++) {
        int64_t sum = 0, n = 0;
        for (int64_t i = r; i < ROWS; i += 2) {
            sum += i;
            n += p_valid(i);
        }
        CHECK_EQ_INT(int_at(&t, "total", r), sum);
        CHECK_EQ_INT(int_at(&t, "n", r), n);
    }
    ab_table_free(&t);

    /* A filter on v rules out nine of the ten segments. */
    int64_t before = tu_segments_loaded(lib);
    REQUIRE(sql_table(lib, "SELECT v FROM prices WHERE v >= 95 ORDER BY v", NULL, &t) == SHEAF_OK);
    CHECK_EQ_INT(t.n_rows, 5);
    CHECK_EQ_INT(int_at(&t, "v", 0), 95);
    CHECK_EQ_INT(tu_segments_loaded(lib) - before, 1);
    ab_table_free(&t);

    REQUIRE(sql_table(lib, "SELECT count(*) AS n FROM prices WHERE s = $1 AND v < $2",
                      "[\"x\", 10]", &t) == SHEAF_OK);
    CHECK_EQ_INT(int_at(&t, "n", 0), 5);
    ab_table_free(&t);

    /* A write streams one row: count (uint64). */
    REQUIRE(sql_table(lib,
                      "INSERT INTO prices SELECT ts + INTERVAL '100 seconds', v + 100, p, s "
                      "FROM prices WHERE v < 2",
                      NULL, &t) == SHEAF_OK);
    REQUIRE(t.n_rows == 1);
    CHECK_EQ_INT(int_at(&t, "count", 0), 2);
    ab_table_free(&t);
    REQUIRE(sql_table(lib, "SELECT count(*) AS n FROM at_version('prices', 0)", NULL, &t) ==
            SHEAF_OK);
    CHECK_EQ_INT(int_at(&t, "n", 0), ROWS);
    ab_table_free(&t);

    struct ArrowArrayStream stream;
    memset(&stream, 0, sizeof stream);
    const char *query = "SELECT count(*) AS n FROM query.prices";
    EXPECT_OK(sheaf_store_sql(store, query, strlen(query), NULL, 0, &stream, &err));
    char message[256];
    REQUIRE(ab_read_stream(&stream, &t, message, sizeof message) == 0);
    CHECK_EQ_INT(int_at(&t, "n", 0), ROWS + 2);
    ab_table_free(&t);

    const char *syntax = "SELEC v FROM prices";
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "SELEC",
               sheaf_sql(lib, syntax, strlen(syntax), NULL, 0, &stream, &err));
    CHECK(stream.release == NULL);
    const char *column = "SELECT nope FROM prices";
    EXPECT_ERR(SHEAF_ERR_SCHEMA, "nope",
               sheaf_sql(lib, column, strlen(column), NULL, 0, &stream, &err));
    const char *bad_params = "{\"a\": 1}";
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "list",
               sheaf_sql(lib, query, strlen(query), bad_params, strlen(bad_params), &stream,
                         &err));
    CHECK(stream.release == NULL);

    /* A cancelled flag stops the query with SHEAF_ERR_CANCELLED. */
    SheafCancel *cancel = NULL;
    EXPECT_OK(sheaf_cancel_new(&cancel, &err));
    EXPECT_OK(sheaf_cancel_trigger(cancel, &err));
    const char *plain = "SELECT v FROM prices";
    EXPECT_ERR(SHEAF_ERR_CANCELLED, "cancelled",
               sheaf_sql_cancellable(lib, plain, strlen(plain), NULL, 0, cancel, &stream, &err));
    CHECK(stream.release == NULL);
    sheaf_cancel_free(cancel);
}

static void run_suite(const char *uri) {
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "query", "{\"rows_per_segment\": 10}");
    write_prices(lib);
    check_filter_and_projection(lib);
    check_groupby(lib);
    check_resample(lib);
    check_read_batch(lib);
    check_errors(lib);
    check_sql(store, lib);
    sheaf_library_free(lib);
    sheaf_store_free(store);
}

int main(void) {
    run_suite("mem://");
    char *dir = tu_make_tmpdir("query");
    char *uri = tu_lmdb_uri(dir, "store");
    run_suite(uri);
    free(uri);
    tu_remove_dir(dir);
    free(dir);
    return tu_finish("test_query");
}

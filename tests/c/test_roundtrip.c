/*
 * test_roundtrip.c — what a C caller writes comes back exactly: every type, value, null and
 * schema detail; versions and as_of; metadata; deletes; libraries; configuration; logging.
 * Runs the store-level suite on a private in-memory store and on an LMDB store.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testkit.h"

/* ---- the all-types table ---------------------------------------------------------------- */

#define N_ROWS 10
#define TS0 INT64_C(1700000000000000000) /* 2023-11-14T22:13:20Z, in ns */

static int64_t ts_values[N_ROWS];
static int64_t event_values[N_ROWS];
static const bool event_valid[N_ROWS] = {1, 0, 1, 1, 0, 1, 1, 1, 0, 1};
static const int64_t i64_values[N_ROWS] = {INT64_MIN, -1, 0, 1, INT64_MAX,
                                           42, -42, INT64_C(1) << 40, 7, -7};
static bool i64_valid[N_ROWS];
static double f64_values[N_ROWS];
static bool f64_valid[N_ROWS];
static const char *const str_values[N_ROWS] = {
    "alpha", "", NULL, "h\xc3\xa9llo", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", NULL, "x",
    "a longer string, with spaces", "tab\there", "end"};
static const char *const large_str_values[N_ROWS] = {NULL, "L0", "", "L\xe2\x82\xac", NULL,
                                                     "L5", "L6", "L7", "L8", NULL};
static const bool flag_values[N_ROWS] = {1, 0, 1, 1, 0, 0, 1, 0, 1, 0};
static bool flag_valid[N_ROWS];
static const int32_t date_values[N_ROWS] = {0, -1, 19000, 19723, 1, -719162, 2932896, 365, 18262, 7};
static bool date_valid[N_ROWS];
static const uint8_t u8_values[N_ROWS] = {0, 1, 127, 128, 254, 255, 10, 20, 30, 40};
static const bool u8_valid[N_ROWS] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 0};
static const int32_t i32_values[N_ROWS] = {INT32_MIN, INT32_MAX, 0, -5, 5, 100, -100, 3, 2, 1};
static bool i32_valid[N_ROWS];
static const char *const cat_dict[3] = {"red", "green", "blue"};
static const int32_t cat_keys[N_ROWS] = {0, 1, 2, 0, 1, 2, 2, 1, 0, 0};
static bool cat_valid[N_ROWS];

#define N_COLS 11
static const char *const col_names[N_COLS] = {"ts", "event", "i64", "f64", "s", "ls",
                                              "flag", "d", "u8", "i32n", "cat"};
static const char *const col_formats[N_COLS] = {"tsn:UTC", "tsn:UTC", "l", "g", "u", "U",
                                                "b", "tdD", "C", "i", "i"};

static void init_all_types(void) {
    const double specials[N_ROWS] = {0.5, -0.0, 1e300, -1e-300, INFINITY,
                                     -INFINITY, NAN, 3.25, 2.0, -1.5};
    for (int i = 0; i < N_ROWS; i++) {
        ts_values[i] = TS0 + (int64_t)i * 1000000000 + i; /* sorted, with ns detail */
        event_values[i] = TS0 - (int64_t)i * 86400 * INT64_C(1000000000);
        i64_valid[i] = i % 4 != 1;
        f64_values[i] = specials[i];
        f64_valid[i] = i % 3 != 2;
        flag_valid[i] = i % 5 != 3;
        date_valid[i] = i % 4 != 2;
        i32_valid[i] = i % 2 == 0;
        cat_valid[i] = i % 3 != 1;
    }
}

/* Builds the columns for rows [start, start + n) of the all-types table. */
static void build_all_types(ab_column *cols, int start, int n) {
    ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts_values + start, NULL, n);
    ab_make_timestamp(&cols[1], "event", "tsn:UTC", event_values + start, event_valid + start, n);
    ab_make_int64(&cols[2], "i64", i64_values + start, i64_valid + start, n);
    ab_make_float64(&cols[3], "f64", f64_values + start, f64_valid + start, n);
    ab_make_utf8(&cols[4], "s", str_values + start, n);
    ab_make_large_utf8(&cols[5], "ls", large_str_values + start, n);
    ab_make_bool(&cols[6], "flag", flag_values + start, flag_valid + start, n);
    ab_make_date32(&cols[7], "d", date_values + start, date_valid + start, n);
    ab_make_uint8(&cols[8], "u8", u8_values + start, u8_valid + start, n);
    ab_make_int32(&cols[9], "i32n", i32_values + start, i32_valid + start, n);
    ab_make_dict_utf8(&cols[10], "cat", cat_keys + start, cat_valid + start, n, cat_dict, 3);
}

/* Writes the all-types table as two input batches (4 + 6 rows) of one stream. */
static uint64_t write_all_types(SheafLibrary *lib, const char *symbol, const char *metadata) {
    ab_column first[N_COLS], second[N_COLS];
    struct ArrowSchema schema, unused_schema;
    struct ArrowArray batches[2];
    struct ArrowArrayStream stream;
    uint64_t version = UINT64_MAX;
    int released = 0;
    ab_stream_options opts = ab_stream_options_default();
    opts.release_counter = &released;

    build_all_types(first, 0, 4);
    build_all_types(second, 4, N_ROWS - 4);
    ab_make_batch(&schema, &batches[0], first, N_COLS);
    ab_make_batch(&unused_schema, &batches[1], second, N_COLS);
    ab_schema_release(&unused_schema);
    ab_stream_make(&stream, &schema, batches, 2, &opts);
    EXPECT_OK(sheaf_table_write(lib, STR(symbol), &stream, (const uint8_t *)metadata,
                                strlen(metadata), STR("{\"index\": \"ts\"}"), &version, &err));
    CHECK(stream.release == NULL);
    CHECK_EQ_INT(released, 1);
    return version;
}

static bool same_bits(double a, double b) {
    uint64_t x, y;
    memcpy(&x, &a, sizeof x);
    memcpy(&y, &b, sizeof y);
    return x == y;
}

static void check_string_cell(const struct ArrowArray *a, int64_t k, bool large,
                              const char *expected, const char *col, int row) {
    size_t len;
    const char *got = ab_cell_utf8(a, k, large, &len);
    CHECK_MSG(len == strlen(expected) && memcmp(got, expected, len) == 0,
              "%s[%d] == \"%.*s\", expected \"%s\"", col, row, (int)len, got, expected);
}

/* Checks the schema and every value and validity bit of a read of the all-types table. */
static void check_all_types(const ab_table *t, int64_t rows_per_segment) {
    CHECK_EQ_STR(t->schema.format, "+s");
    REQUIRE(t->schema.n_children == N_COLS);
    for (int c = 0; c < N_COLS; c++) {
        const struct ArrowSchema *f = t->schema.children[c];
        CHECK_EQ_STR(f->name, col_names[c]);
        CHECK_EQ_STR(f->format, col_formats[c]);
        CHECK_MSG(f->flags & ARROW_FLAG_NULLABLE, "column %s lost its nullable flag", col_names[c]);
        if (c == 10) {
            REQUIRE(f->dictionary != NULL);
            CHECK_EQ_STR(f->dictionary->format, "u");
        } else {
            CHECK_MSG(f->dictionary == NULL, "column %s became dictionary-encoded", col_names[c]);
        }
    }
    CHECK_EQ_INT(t->n_rows, N_ROWS);
    int64_t expected_batches = (N_ROWS + rows_per_segment - 1) / rows_per_segment;
    CHECK_EQ_INT(t->n_batches, expected_batches); /* one batch per stored segment */
    for (int64_t b = 0; b < t->n_batches; b++) {
        CHECK(t->batches[b].length <= rows_per_segment);
        CHECK_EQ_INT(t->batches[b].n_children, N_COLS);
    }

    for (int i = 0; i < N_ROWS; i++) {
        int64_t k;
        const struct ArrowArray *a;

        a = ab_table_cell(t, 0, i, &k);
        REQUIRE(a != NULL);
        CHECK(ab_cell_valid(a, k));
        CHECK_EQ_INT(ab_cell_int64(a, k), ts_values[i]);

        a = ab_table_cell(t, 1, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), event_valid[i]);
        if (event_valid[i]) CHECK_EQ_INT(ab_cell_int64(a, k), event_values[i]);

        a = ab_table_cell(t, 2, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), i64_valid[i]);
        if (i64_valid[i]) CHECK_EQ_INT(ab_cell_int64(a, k), i64_values[i]);

        a = ab_table_cell(t, 3, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), f64_valid[i]);
        if (f64_valid[i]) {
            CHECK_MSG(same_bits(ab_cell_float64(a, k), f64_values[i]), "f64[%d] == %g, expected %g",
                      i, ab_cell_float64(a, k), f64_values[i]);
        }

        a = ab_table_cell(t, 4, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), str_values[i] != NULL);
        if (str_values[i]) check_string_cell(a, k, false, str_values[i], "s", i);

        a = ab_table_cell(t, 5, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), large_str_values[i] != NULL);
        if (large_str_values[i]) check_string_cell(a, k, true, large_str_values[i], "ls", i);

        a = ab_table_cell(t, 6, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), flag_valid[i]);
        if (flag_valid[i]) CHECK_EQ_INT(ab_cell_bool(a, k), flag_values[i]);

        a = ab_table_cell(t, 7, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), date_valid[i]);
        if (date_valid[i]) CHECK_EQ_INT(ab_cell_int32(a, k), date_values[i]);

        a = ab_table_cell(t, 8, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), u8_valid[i]);
        if (u8_valid[i]) CHECK_EQ_INT(ab_cell_uint8(a, k), u8_values[i]);

        a = ab_table_cell(t, 9, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), i32_valid[i]);
        if (i32_valid[i]) CHECK_EQ_INT(ab_cell_int32(a, k), i32_values[i]);

        /* Dictionary: compare the decoded strings; the key numbering may legitimately change. */
        a = ab_table_cell(t, 10, i, &k);
        CHECK_EQ_INT(ab_cell_valid(a, k), cat_valid[i]);
        if (cat_valid[i]) {
            int32_t key = ab_cell_int32(a, k);
            REQUIRE(a->dictionary != NULL);
            CHECK(key >= 0 && key < a->dictionary->length);
            if (key >= 0 && key < a->dictionary->length) {
                check_string_cell(a->dictionary, a->dictionary->offset + key, false,
                                  cat_dict[cat_keys[i]], "cat", i);
            }
        }
    }
}

/* Checks a version info object against what the test wrote. */
static void check_info(const json_value *info, const char *symbol, int64_t version, int64_t rows,
                       const char *index, bool has_metadata) {
    int64_t v = -1, r = -1, ts = 0;
    bool deleted = true, has_meta = !has_metadata;
    REQUIRE(info->type == JSON_OBJECT);
    CHECK_EQ_STR(json_get_string(info, "symbol"), symbol);
    CHECK(json_get_int(info, "version", &v));
    CHECK_EQ_INT(v, version);
    CHECK(json_get_int(info, "rows", &r));
    CHECK_EQ_INT(r, rows);
    CHECK(json_get_bool(info, "deleted", &deleted));
    CHECK(!deleted);
    CHECK(json_get_bool(info, "has_metadata", &has_meta));
    CHECK_EQ_INT(has_meta, has_metadata);
    CHECK(json_get_int(info, "timestamp_ns", &ts));
    /* Written during this run: after 2020 and not in the future (with a minute of slack). */
    CHECK(ts > INT64_C(1577836800000000000));
    CHECK(ts < ((int64_t)time(NULL) + 60) * INT64_C(1000000000));
    const json_value *idx = json_get(info, "index");
    REQUIRE(idx != NULL);
    if (index) CHECK(idx->type == JSON_STRING && strcmp(idx->string, index) == 0);
    else CHECK(idx->type == JSON_NULL);
}

static void check_info_bytes(SheafBytes *bytes, const char *symbol, int64_t version, int64_t rows,
                             const char *index, bool has_metadata) {
    json_value info;
    tu_parse_bytes(bytes, &info);
    CHECK(bytes->data == NULL && bytes->len == 0); /* sheaf_bytes_free reset it */
    check_info(&info, symbol, version, rows, index, has_metadata);
    json_free(&info);
}

static void test_all_types(SheafLibrary *lib, int64_t rows_per_segment) {
    ab_table t;
    SheafBytes info = {NULL, 0}, meta = {NULL, 0};
    const char *metadata = "all-types v0";

    CHECK_EQ_INT(write_all_types(lib, "all_types", metadata), 0);
    tu_read(lib, "all_types", NULL, &t, &info, &meta);
    check_all_types(&t, rows_per_segment);
    ab_table_free(&t);
    check_info_bytes(&info, "all_types", 0, N_ROWS, "ts", true);
    CHECK(meta.len == strlen(metadata) && memcmp(meta.data, metadata, meta.len) == 0);
    sheaf_bytes_free(&meta);
}

/* ---- versions ---------------------------------------------------------------------------- */

/* Writes column x = base, base+1, ..., base+n-1 (no index); returns the version. */
static uint64_t write_x(SheafLibrary *lib, const char *symbol, int64_t base, int n,
                        const char *metadata) {
    int64_t values[16];
    ab_column col;
    REQUIRE(n <= 16);
    for (int i = 0; i < n; i++) values[i] = base + i;
    ab_make_int64(&col, "x", values, NULL, n);
    return tu_write_columns(lib, symbol, &col, 1, metadata, NULL);
}

/* Reads `symbol` with `options_json` and checks it is version `version` holding x = base.. */
static void check_x(SheafLibrary *lib, const char *symbol, const char *options_json,
                    int64_t version, int64_t base, int n) {
    ab_table t;
    SheafBytes info = {NULL, 0};
    tu_read(lib, symbol, options_json, &t, &info, NULL);
    CHECK_EQ_INT(t.n_rows, n);
    int64_t col = ab_table_column(&t, "x");
    CHECK_EQ_INT(col, 0);
    for (int i = 0; i < n && i < t.n_rows; i++) {
        int64_t k;
        const struct ArrowArray *a = ab_table_cell(&t, col, i, &k);
        REQUIRE(a != NULL);
        CHECK_EQ_INT(ab_cell_int64(a, k), base + i);
    }
    ab_table_free(&t);
    json_value parsed;
    tu_parse_bytes(&info, &parsed);
    int64_t v = -1;
    CHECK(json_get_int(&parsed, "version", &v));
    CHECK_MSG(v == version, "read of '%s' with %s gave version %lld, expected %lld", symbol,
              options_json ? options_json : "(no options)", (long long)v, (long long)version);
    json_free(&parsed);
}

static void test_versions(SheafLibrary *lib) {
    CHECK_EQ_INT(write_x(lib, "vers", 0, 1, NULL), 0);
    CHECK_EQ_INT(write_x(lib, "vers", 10, 2, NULL), 1);
    CHECK_EQ_INT(write_x(lib, "vers", 20, 3, NULL), 2);

    check_x(lib, "vers", NULL, 2, 20, 3);
    check_x(lib, "vers", "", 2, 20, 3);
    check_x(lib, "vers", "{}", 2, 20, 3);
    check_x(lib, "vers", "{\"as_of\": null}", 2, 20, 3);
    check_x(lib, "vers", "{\"as_of\": 0}", 0, 0, 1);
    check_x(lib, "vers", "{\"as_of\": 1}", 1, 10, 2);
    check_x(lib, "vers", "{\"as_of\": 2}", 2, 20, 3);
    check_x(lib, "vers", "{\"as_of\": -1}", 2, 20, 3);
    check_x(lib, "vers", "{\"as_of\": -2}", 1, 10, 2);
    check_x(lib, "vers", "{\"as_of\": -3}", 0, 0, 1);
    struct ArrowArrayStream s;
    memset(&s, 0, sizeof s);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, "3",
               sheaf_table_read(lib, STR("vers"), STR("{\"as_of\": 3}"), &s, NULL, NULL, &err));
    CHECK(s.release == NULL);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, NULL,
               sheaf_table_read(lib, STR("vers"), STR("{\"as_of\": -4}"), &s, NULL, NULL, &err));
    CHECK(s.release == NULL);

    /* list_versions: newest first, every field present. */
    SheafBytes json = {NULL, 0};
    json_value list;
    EXPECT_OK(sheaf_table_list_versions(lib, STR("vers"), &json, &err));
    tu_parse_bytes(&json, &list);
    REQUIRE(list.type == JSON_ARRAY);
    CHECK_EQ_INT(list.count, 3);
    for (size_t i = 0; i < list.count && i < 3; i++) {
        check_info(&list.items[i], "vers", 2 - (int64_t)i, 3 - (int64_t)i, NULL, false);
    }
    json_free(&list);

    /* Symbols: byte order, has_symbol. */
    CHECK_EQ_INT(write_x(lib, "b_sym", 0, 1, NULL), 0);
    CHECK_EQ_INT(write_x(lib, "a_sym", 0, 1, NULL), 0);
    EXPECT_OK(sheaf_table_list_symbols(lib, &json, &err));
    tu_parse_bytes(&json, &list);
    {
        const char *const expected[] = {"a_sym", "all_types", "b_sym", "vers"};
        CHECK_MSG(tu_json_names_equal(&list, expected, 4), "list_symbols is not [a_sym, all_types, b_sym, vers]");
    }
    json_free(&list);
    CHECK(tu_has_symbol(lib, "a_sym"));
    CHECK(tu_has_symbol(lib, "vers"));
    CHECK(!tu_has_symbol(lib, "no_such_symbol"));

    /* list_versions of every symbol: each symbol's versions, newest first. */
    EXPECT_OK(sheaf_table_list_versions(lib, NULL, 0, &json, &err));
    tu_parse_bytes(&json, &list);
    REQUIRE(list.type == JSON_ARRAY);
    CHECK_EQ_INT(list.count, 1 + 1 + 1 + 3); /* a_sym, all_types, b_sym, vers x3 */
    int64_t vers_seen = 0, last_vers = 99;
    for (size_t i = 0; i < list.count; i++) {
        const char *sym = json_get_string(&list.items[i], "symbol");
        int64_t v = -1;
        CHECK(sym != NULL);
        CHECK(json_get_int(&list.items[i], "version", &v));
        if (sym && strcmp(sym, "vers") == 0) {
            CHECK(v < last_vers);
            last_vers = v;
            vers_seen++;
        }
    }
    CHECK_EQ_INT(vers_seen, 3);
    json_free(&list);
}

/* ---- metadata ---------------------------------------------------------------------------- */

static void check_metadata(SheafLibrary *lib, const char *symbol, const char *options_json,
                           int64_t version, const uint8_t *expected, size_t expected_len,
                           bool has_metadata) {
    SheafBytes info = {NULL, 0}, meta = {(uint8_t *)"junk", 4};
    EXPECT_OK(sheaf_table_read_metadata(lib, STR(symbol), options_json,
                                        options_json ? strlen(options_json) : 0, &info, &meta,
                                        &err));
    CHECK_EQ_INT(meta.len, expected_len);
    if (expected_len == 0) {
        CHECK(meta.data == NULL); /* documented: data is NULL when len is 0 */
    } else {
        CHECK(meta.data != NULL && memcmp(meta.data, expected, expected_len) == 0);
    }
    sheaf_bytes_free(&meta);
    json_value parsed;
    tu_parse_bytes(&info, &parsed);
    int64_t v = -1;
    bool has = !has_metadata;
    CHECK(json_get_int(&parsed, "version", &v));
    CHECK_EQ_INT(v, version);
    CHECK(json_get_bool(&parsed, "has_metadata", &has));
    CHECK_EQ_INT(has, has_metadata);
    json_free(&parsed);
}

static void test_metadata(SheafLibrary *lib) {
    static const uint8_t binary[] = {0x00, 0x01, 0xff, 'm', 'e', 't', 'a', 0x00};
    ab_column col;
    int64_t values[3] = {7, 8, 9};
    struct ArrowArrayStream stream;
    uint64_t version = 99;
    SheafBytes info = {NULL, 0};

    /* v0: binary metadata with NUL bytes. */
    ab_make_int64(&col, "x", values, NULL, 3);
    ab_stream_from_columns(&stream, &col, 1, NULL);
    EXPECT_OK(sheaf_table_write(lib, STR("meta"), &stream, binary, sizeof binary, NULL, 0,
                                &version, &err));
    CHECK_EQ_INT(version, 0);
    check_metadata(lib, "meta", NULL, 0, binary, sizeof binary, true);

    /* v1: new metadata, same data. */
    EXPECT_OK(sheaf_table_write_metadata(lib, STR("meta"), (const uint8_t *)"new", 3, NULL, 0,
                                         &version, &err));
    CHECK_EQ_INT(version, 1);
    check_metadata(lib, "meta", NULL, 1, (const uint8_t *)"new", 3, true);
    check_metadata(lib, "meta", "{\"as_of\": 0}", 0, binary, sizeof binary, true);
    check_x(lib, "meta", NULL, 1, 7, 3);

    /* v2: no metadata (NULL, 0). */
    EXPECT_OK(sheaf_table_write_metadata(lib, STR("meta"), NULL, 0, STR("{}"), &version, &err));
    CHECK_EQ_INT(version, 2);
    check_metadata(lib, "meta", NULL, 2, NULL, 0, false);

    /* v3: empty metadata (non-NULL, 0) is not the same as none. */
    EXPECT_OK(sheaf_table_write_metadata(lib, STR("meta"), (const uint8_t *)"", 0,
                                         STR("{\"prune_previous_versions\": null}"), &version,
                                         &err));
    CHECK_EQ_INT(version, 3);
    check_metadata(lib, "meta", NULL, 3, NULL, 0, true);
    check_metadata(lib, "meta", "{\"as_of\": -2}", 2, NULL, 0, false);

    /* read_metadata takes the arguments of sheaf_table_read, where out_metadata may be NULL:
     * the info alone. */
    info.data = NULL;
    info.len = 0;
    EXPECT_OK_SOFT(sheaf_table_read_metadata(lib, STR("meta"), NULL, 0, &info, NULL, &err));
    if (info.data) check_info_bytes(&info, "meta", 3, 3, NULL, true);

    /* read_metadata without the info out-pointer, and read with both out-pointers NULL. */
    SheafBytes meta = {NULL, 0};
    EXPECT_OK(sheaf_table_read_metadata(lib, STR("meta"), NULL, 0, NULL, &meta, &err));
    CHECK(meta.data == NULL && meta.len == 0);
    ab_table t;
    tu_read(lib, "meta", NULL, &t, NULL, NULL);
    CHECK_EQ_INT(t.n_rows, 3);
    ab_table_free(&t);

    /* The metadata bytes of a read are those of the version read. */
    tu_read(lib, "meta", "{\"as_of\": 1}", &t, &info, &meta);
    ab_table_free(&t);
    CHECK(meta.len == 3 && memcmp(meta.data, "new", 3) == 0);
    sheaf_bytes_free(&meta);
    sheaf_bytes_free(&meta); /* a second free of the same SheafBytes does nothing */
    CHECK(meta.data == NULL && meta.len == 0);
    check_info_bytes(&info, "meta", 1, 3, NULL, true);
}

/* ---- deletes ----------------------------------------------------------------------------- */

static void expect_versions(SheafLibrary *lib, const char *symbol, const int64_t *expected,
                            size_t n) {
    int64_t got[32];
    size_t count = tu_list_version_numbers(lib, symbol, got, 32);
    bool same = count == n;
    for (size_t i = 0; same && i < n; i++) same = got[i] == expected[i];
    if (!same) {
        char text[256] = "";
        for (size_t i = 0; i < count; i++) {
            size_t used = strlen(text);
            snprintf(text + used, sizeof text - used, "%lld ", (long long)got[i]);
        }
        tu_fail(__FILE__, __LINE__, "versions of '%s' are [ %s], expected %zu others", symbol,
                text, n);
    }
}

static void test_delete(SheafLibrary *lib) {
    for (int v = 0; v < 4; v++) CHECK_EQ_INT(write_x(lib, "del", 100 * v, 2, NULL), v);

    uint64_t one = 1;
    EXPECT_OK(sheaf_table_delete(lib, STR("del"), &one, 1, &err));
    {
        const int64_t expected[] = {3, 2, 0};
        expect_versions(lib, "del", expected, 3);
    }
    struct ArrowArrayStream s;
    memset(&s, 0, sizeof s);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, NULL,
               sheaf_table_read(lib, STR("del"), STR("{\"as_of\": 1}"), &s, NULL, NULL, &err));
    check_x(lib, "del", "{\"as_of\": -2}", 2, 200, 2); /* counts back over live versions */
    check_x(lib, "del", "{\"as_of\": -3}", 0, 0, 2);
    check_x(lib, "del", "{\"as_of\": 0}", 0, 0, 2);

    /* The delete took number 4: the next write is 5. */
    CHECK_EQ_INT(write_x(lib, "del", 500, 2, NULL), 5);

    /* Deleting a version that is not live fails and deletes nothing. */
    uint64_t some[2] = {0, 1};
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, "1", sheaf_table_delete(lib, STR("del"), some, 2, &err));
    {
        const int64_t expected[] = {5, 3, 2, 0};
        expect_versions(lib, "del", expected, 4);
    }
    some[1] = 2;
    EXPECT_OK(sheaf_table_delete(lib, STR("del"), some, 2, &err)); /* takes 6 */
    {
        const int64_t expected[] = {5, 3};
        expect_versions(lib, "del", expected, 2);
    }
    CHECK_EQ_INT(write_x(lib, "del", 700, 1, NULL), 7);
    check_x(lib, "del", NULL, 7, 700, 1);
    check_x(lib, "del", "{\"as_of\": 3}", 3, 300, 2);

    /* Delete every version (takes 8). */
    EXPECT_OK(sheaf_table_delete(lib, STR("del"), NULL, 0, &err));
    CHECK(!tu_has_symbol(lib, "del"));
    expect_versions(lib, "del", NULL, 0);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "del",
               sheaf_table_read(lib, STR("del"), NULL, 0, &s, NULL, NULL, &err));
    SheafBytes json = {NULL, 0};
    json_value list;
    EXPECT_OK(sheaf_table_list_symbols(lib, &json, &err));
    tu_parse_bytes(&json, &list);
    for (size_t i = 0; i < list.count; i++) CHECK(strcmp(list.items[i].string, "del") != 0);
    json_free(&list);

    /* Numbers are never reused: writing again continues after the delete. */
    CHECK_EQ_INT(write_x(lib, "del", 900, 3, NULL), 9);
    check_x(lib, "del", NULL, 9, 900, 3);
    {
        const int64_t expected[] = {9};
        expect_versions(lib, "del", expected, 1);
    }
}

/* ---- unusual but valid inputs ----------------------------------------------------------- */

static void test_edge_inputs(SheafLibrary *lib) {
    ab_table t;
    SheafBytes info = {NULL, 0};

    /* A stream with a schema and no batch: a version of zero rows that keeps its columns. */
    {
        ab_column col;
        int64_t one = 1;
        struct ArrowSchema schema;
        struct ArrowArray batch;
        struct ArrowArrayStream stream;
        uint64_t version = 99;
        ab_make_int64(&col, "x", &one, NULL, 1);
        ab_make_batch(&schema, &batch, &col, 1);
        ab_array_release(&batch);
        ab_stream_make(&stream, &schema, NULL, 0, NULL);
        EXPECT_OK(sheaf_table_write(lib, STR("no_batches"), &stream, NULL, 0, NULL, 0, &version, &err));
        CHECK_EQ_INT(version, 0);
        tu_read(lib, "no_batches", NULL, &t, &info, NULL);
        CHECK_EQ_INT(t.n_rows, 0);
        REQUIRE(t.schema.n_children == 1);
        CHECK_EQ_STR(t.schema.children[0]->name, "x");
        CHECK_EQ_STR(t.schema.children[0]->format, "l");
        ab_table_free(&t);
        check_info_bytes(&info, "no_batches", 0, 0, NULL, false);
    }

    /* A batch of length zero. */
    {
        ab_column col;
        int64_t unused = 0;
        ab_make_int64(&col, "x", &unused, NULL, 0);
        CHECK_EQ_INT(tu_write_columns(lib, "zero_rows", &col, 1, NULL, NULL), 0);
        tu_read(lib, "zero_rows", NULL, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 0);
        ab_table_free(&t);
    }

    /* Empty strings only: Arrow allows a NULL values buffer then (it has zero bytes). */
    {
        ab_column col;
        const char *values[3] = {"", NULL, ""};
        ab_make_utf8(&col, "s", values, 3);
        col.array.buffers[2] = NULL; /* the builder still owns and frees its real buffer */
        CHECK_EQ_INT(tu_write_columns(lib, "empty_strings", &col, 1, NULL, NULL), 0);
        tu_read(lib, "empty_strings", NULL, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 3);
        for (int i = 0; i < 3 && i < t.n_rows; i++) {
            int64_t k;
            size_t len = 99;
            const struct ArrowArray *a = ab_table_cell(&t, 0, i, &k);
            CHECK_EQ_INT(ab_cell_valid(a, k), values[i] != NULL);
            if (values[i]) {
                ab_cell_utf8(a, k, false, &len);
                CHECK_EQ_INT(len, 0);
            }
        }
        ab_table_free(&t);
    }

    /* Sliced input: columns with a nonzero offset (and null_count -1, "not computed"). */
    {
        ab_column cols[2];
        const int64_t x[5] = {10, 11, 12, 13, 14};
        const bool x_valid[5] = {1, 0, 1, 1, 0};
        const char *s[5] = {"a", "bb", NULL, "dddd", "eeeee"};
        ab_make_int64(&cols[0], "x", x, x_valid, 5);
        ab_make_utf8(&cols[1], "s", s, 5);
        for (int c = 0; c < 2; c++) {
            cols[c].array.offset = 1;
            cols[c].array.length = 3;
            cols[c].array.null_count = -1;
        }
        CHECK_EQ_INT(tu_write_columns(lib, "sliced", cols, 2, NULL, NULL), 0);
        tu_read(lib, "sliced", NULL, &t, NULL, NULL);
        CHECK_EQ_INT(t.n_rows, 3);
        for (int i = 0; i < 3 && i < t.n_rows; i++) {
            int64_t k;
            const struct ArrowArray *a = ab_table_cell(&t, 0, i, &k);
            CHECK_EQ_INT(ab_cell_valid(a, k), x_valid[i + 1]);
            if (x_valid[i + 1]) CHECK_EQ_INT(ab_cell_int64(a, k), x[i + 1]);
            a = ab_table_cell(&t, 1, i, &k);
            CHECK_EQ_INT(ab_cell_valid(a, k), s[i + 1] != NULL);
            if (s[i + 1]) check_string_cell(a, k, false, s[i + 1], "sliced.s", i);
        }
        ab_table_free(&t);
    }
}

/* ---- pruning ----------------------------------------------------------------------------- */

static void test_prune(SheafStore *store, SheafLibrary *lib) {
    /* A write option prunes earlier versions of one write. */
    CHECK_EQ_INT(write_x(lib, "prune", 0, 1, NULL), 0);
    CHECK_EQ_INT(write_x(lib, "prune", 1, 1, NULL), 1);
    {
        ab_column col;
        int64_t v = 2;
        ab_make_int64(&col, "x", &v, NULL, 1);
        CHECK_EQ_INT(tu_write_columns(lib, "prune", &col, 1, NULL,
                                      "{\"prune_previous_versions\": true}"),
                     2);
        const int64_t expected[] = {2};
        expect_versions(lib, "prune", expected, 1);
        check_x(lib, "prune", NULL, 2, 2, 1);
    }

    /* A library option prunes by default; a write can opt out. */
    SheafLibrary *pruned = tu_open_library(store, "pruned", "{\"prune_previous_versions\": true}");
    CHECK_EQ_INT(write_x(pruned, "p", 0, 1, NULL), 0);
    CHECK_EQ_INT(write_x(pruned, "p", 10, 1, NULL), 1);
    {
        const int64_t expected[] = {1};
        expect_versions(pruned, "p", expected, 1);
    }
    ab_column col;
    int64_t v = 20;
    ab_make_int64(&col, "x", &v, NULL, 1);
    CHECK_EQ_INT(tu_write_columns(pruned, "p", &col, 1, NULL, "{\"prune_previous_versions\": false}"), 2);
    {
        const int64_t expected[] = {2, 1};
        expect_versions(pruned, "p", expected, 2);
    }
    check_x(pruned, "p", "{\"as_of\": 1}", 1, 10, 1);
    EXPECT_OK(sheaf_library_close(pruned, &err));
    sheaf_library_free(pruned);
}

/* ---- libraries --------------------------------------------------------------------------- */

static void check_describe(SheafLibrary *lib, const char *name, int64_t rows_per_segment,
                           const char *compression, bool prune) {
    SheafBytes json = {NULL, 0};
    json_value d;
    EXPECT_OK(sheaf_library_describe(lib, &json, &err));
    tu_parse_bytes(&json, &d);
    CHECK_EQ_STR(json_get_string(&d, "name"), name);
    const json_value *opts = json_get(&d, "options");
    REQUIRE(opts != NULL && opts->type == JSON_OBJECT);
    int64_t rps = -1;
    bool p = !prune;
    CHECK(json_get_int(opts, "rows_per_segment", &rps));
    CHECK_EQ_INT(rps, rows_per_segment);
    CHECK_EQ_STR(json_get_string(opts, "compression"), compression);
    CHECK(json_get_bool(opts, "prune_previous_versions", &p));
    CHECK_EQ_INT(p, prune);
    json_free(&d);
}

static void check_library_list(SheafStore *store, const char *const *expected, size_t n) {
    SheafBytes json = {NULL, 0};
    json_value list;
    EXPECT_OK(sheaf_library_list(store, &json, &err));
    tu_parse_bytes(&json, &list);
    CHECK_MSG(tu_json_names_equal(&list, expected, n), "sheaf_library_list gave another list");
    json_free(&list);
}

static bool library_exists(SheafStore *store, const char *name) {
    bool exists = false;
    EXPECT_OK(sheaf_library_exists(store, STR(name), &exists, &err));
    return exists;
}

/* The whole text of a library-owned JSON result, as a C string (freed by the caller). */
static char *json_text(SheafBytes *json) {
    char *text = malloc(json->len + 1);
    REQUIRE(text != NULL);
    memcpy(text, json->data, json->len);
    text[json->len] = '\0';
    sheaf_bytes_free(json);
    return text;
}

/* verify walks the store and finds nothing wrong and nothing left over after clean calls;
 * reclaim then has nothing to remove, and refuses bad options. */
static void check_store_is_clean(SheafStore *store) {
    SheafBytes json = {NULL, 0};
    EXPECT_OK(sheaf_store_verify(store, &json, &err));
    char *text = json_text(&json);
    CHECK_MSG(strstr(text, "\"problems\":[]") != NULL && strstr(text, "\"leftovers\":[]") != NULL,
              "verify: %s", text);
    CHECK_MSG(strstr(text, "\"checked\":0") == NULL, "verify checked nothing: %s", text);
    free(text);
    EXPECT_OK(sheaf_store_reclaim(store, STR("{\"grace_seconds\": 0}"), &json, &err));
    text = json_text(&json);
    CHECK_EQ_STR(text, "{\"removed_keys\":0,\"kept_young_segments\":0}");
    free(text);
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, "reclaim options",
               sheaf_store_reclaim(store, STR("{\"grace\": 1}"), &json, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "grace_seconds",
               sheaf_store_reclaim(store, STR("{\"grace_seconds\": -5}"), &json, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "store", sheaf_store_verify(NULL, &json, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out_json", sheaf_store_verify(store, NULL, &err));
    CHECK(json.data == NULL);
}

static void test_libraries(SheafStore *store) {
    SheafLibrary *alpha = NULL, *beta = NULL, *again = NULL, *gamma = NULL;
    bool existed = false;

    check_library_list(store, NULL, 0);
    EXPECT_OK(sheaf_library_create(store, STR("alpha"), STR("{\"rows_per_segment\": 3}"), &alpha, &err));
    check_describe(alpha, "alpha", 3, "lz4", false);
    EXPECT_OK(sheaf_library_create(store, STR("beta"), NULL, 0, &beta, &err));
    check_describe(beta, "beta", 100000, "lz4", false);
    CHECK(library_exists(store, "alpha"));
    CHECK(!library_exists(store, "gamma"));
    {
        const char *const expected[] = {"alpha", "beta"};
        check_library_list(store, expected, 2);
    }

    /* Opening an existing library ignores the options given for creation. */
    EXPECT_OK(sheaf_library_open(store, STR("alpha"), true, STR("{\"rows_per_segment\": 7}"), &again, &err));
    check_describe(again, "alpha", 3, "lz4", false);
    sheaf_library_free(again);
    again = NULL;
    EXPECT_OK(sheaf_library_open(store, STR("alpha"), false, NULL, 0, &again, &err));
    check_describe(again, "alpha", 3, "lz4", false);
    sheaf_library_free(again);

    /* create_if_missing creates with the options given. */
    EXPECT_OK(sheaf_library_open(store, STR("gamma"), true,
                                 STR("{\"compression\": \"zstd\", \"prune_previous_versions\": true}"),
                                 &gamma, &err));
    check_describe(gamma, "gamma", 100000, "zstd", true);
    CHECK(library_exists(store, "gamma"));
    CHECK_EQ_INT(write_x(gamma, "g", 1, 2, NULL), 0);

    /* Deleting removes the library and its data; a missing library is not an error. */
    EXPECT_OK(sheaf_library_delete(store, STR("gamma"), &existed, &err));
    CHECK(existed);
    EXPECT_OK(sheaf_library_delete(store, STR("gamma"), &existed, &err));
    CHECK(!existed);
    EXPECT_OK(sheaf_library_delete(store, STR("gamma"), NULL, &err));
    CHECK(!library_exists(store, "gamma"));
    sheaf_library_free(gamma);
    gamma = NULL;
    EXPECT_OK(sheaf_library_open(store, STR("gamma"), true, NULL, 0, &gamma, &err));
    CHECK(!tu_has_symbol(gamma, "g"));
    check_describe(gamma, "gamma", 100000, "lz4", false);
    EXPECT_OK(sheaf_library_delete(store, STR("gamma"), NULL, &err));
    sheaf_library_free(gamma);
    check_store_is_clean(store);

    /* Non-ASCII names are fine; the list is in byte order. */
    SheafLibrary *unicode = NULL;
    EXPECT_OK(sheaf_library_create(store, STR("donn\xc3\xa9" "es"), NULL, 0, &unicode, &err));
    {
        const char *const expected[] = {"alpha", "beta", "donn\xc3\xa9" "es"};
        check_library_list(store, expected, 3);
    }
    check_describe(unicode, "donn\xc3\xa9" "es", 100000, "lz4", false);
    sheaf_library_free(unicode);
    EXPECT_OK(sheaf_library_delete(store, STR("donn\xc3\xa9" "es"), NULL, &err));

    EXPECT_OK(sheaf_library_close(beta, &err));
    EXPECT_OK(sheaf_library_close(beta, &err)); /* idempotent */
    sheaf_library_free(beta);
    EXPECT_OK(sheaf_library_delete(store, STR("beta"), NULL, &err));
    sheaf_library_free(alpha);
}

/* ---- compression codecs ------------------------------------------------------------------ */

/* Bytes the latest version of `symbol` takes in storage ("stored_bytes" of its description). */
static unsigned long long stored_bytes(SheafLibrary *lib, const char *symbol) {
    SheafBytes json = {NULL, 0};
    EXPECT_OK(sheaf_table_describe(lib, STR(symbol), NULL, 0, &json, &err));
    char *text = json_text(&json);
    const char *at = strstr(text, "\"stored_bytes\":");
    REQUIRE(at != NULL);
    unsigned long long n = strtoull(at + strlen("\"stored_bytes\":"), NULL, 10);
    free(text);
    return n;
}

static void test_compressions(SheafStore *store) {
    const char *codecs[] = {"lz4", "zstd", "none"};
    unsigned long long sizes[3] = {0, 0, 0};
    enum { N = 20000 };
    int64_t *repetitive = malloc(N * sizeof *repetitive);
    REQUIRE(repetitive != NULL);
    for (int i = 0; i < N; i++) repetitive[i] = i % 7;
    for (int c = 0; c < 3; c++) {
        char name[32], options[96];
        snprintf(name, sizeof name, "codec_%s", codecs[c]);
        snprintf(options, sizeof options, "{\"rows_per_segment\": 4, \"compression\": \"%s\"}", codecs[c]);
        SheafLibrary *lib = NULL;
        EXPECT_OK(sheaf_library_create(store, STR(name), STR(options), &lib, &err));
        check_describe(lib, name, 4, codecs[c], false);
        test_all_types(lib, 4);
        /* The codec changes what is stored, not only what the library reports. */
        char big_name[48];
        snprintf(big_name, sizeof big_name, "big_%s", codecs[c]);
        SheafLibrary *big = NULL;
        snprintf(options, sizeof options, "{\"compression\": \"%s\"}", codecs[c]);
        EXPECT_OK(sheaf_library_create(store, STR(big_name), STR(options), &big, &err));
        ab_column col;
        ab_make_int64(&col, "x", repetitive, NULL, N);
        tu_write_columns(big, "x", &col, 1, NULL, NULL);
        sizes[c] = stored_bytes(big, "x");
        sheaf_library_free(big);
        EXPECT_OK(sheaf_library_delete(store, STR(big_name), NULL, &err));
        sheaf_library_free(lib);
    }
    free(repetitive);
    /* 20,000 int64 values repeating 0..6: 160,000 bytes raw; both codecs shrink them a lot. */
    CHECK_MSG(sizes[2] >= 160000, "uncompressed: %llu bytes", sizes[2]);
    CHECK_MSG(sizes[0] * 4 < sizes[2], "lz4 %llu vs none %llu", sizes[0], sizes[2]);
    CHECK_MSG(sizes[1] * 4 < sizes[2], "zstd %llu vs none %llu", sizes[1], sizes[2]);
    CHECK_MSG(sizes[1] < sizes[0], "zstd %llu vs lz4 %llu", sizes[1], sizes[0]);
}

/* ---- handles ----------------------------------------------------------------------------- */

/* A library holds its own reference to the store: freeing the store handle first is fine. */
static void test_free_order(const char *uri) {
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "free_order", NULL);
    sheaf_store_free(store);
    CHECK_EQ_INT(write_x(lib, "f", 5, 3, NULL), 0);
    check_x(lib, "f", NULL, 0, 5, 3);
    sheaf_library_free(lib);
}

/* ---- the store suite --------------------------------------------------------------------- */

static void run_store_suite(const char *uri) {
    printf("  store suite on %s\n", uri);
    SheafStore *store = tu_open_store(uri);
    test_libraries(store);

    SheafLibrary *lib = NULL;
    EXPECT_OK(sheaf_library_create(store, STR("main"), STR("{\"rows_per_segment\": 3}"), &lib, &err));
    test_all_types(lib, 3);
    test_versions(lib);
    test_metadata(lib);
    test_delete(lib);
    test_edge_inputs(lib);
    test_prune(store, lib);
    test_compressions(store);
    sheaf_library_free(lib);

    EXPECT_OK(sheaf_store_close(store, &err));
    EXPECT_OK(sheaf_store_close(store, &err)); /* idempotent */
    sheaf_store_free(store);
}

/* An LMDB store keeps everything across close and reopen. */
static void test_lmdb_reopen(const char *uri) {
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = NULL;
    EXPECT_OK(sheaf_library_open(store, STR("main"), false, NULL, 0, &lib, &err));
    check_describe(lib, "main", 3, "lz4", false);
    ab_table t;
    SheafBytes info = {NULL, 0};
    tu_read(lib, "all_types", "{\"as_of\": 0}", &t, &info, NULL);
    check_all_types(&t, 3);
    ab_table_free(&t);
    check_info_bytes(&info, "all_types", 0, N_ROWS, "ts", true);
    check_x(lib, "vers", "{\"as_of\": 1}", 1, 10, 2);
    check_x(lib, "del", NULL, 9, 900, 3);
    sheaf_library_free(lib);
    sheaf_store_free(store); /* without close: freeing the last handle closes it */
}

/* mem://NAME is shared by name inside the process; mem:// is private. */
static void test_mem_sharing(void) {
    SheafStore *a = tu_open_store("mem://roundtrip-shared");
    SheafStore *b = tu_open_store("mem://roundtrip-shared");
    SheafStore *private_store = tu_open_store("mem://");
    SheafLibrary *lib = NULL;
    EXPECT_OK(sheaf_library_create(a, STR("shared"), NULL, 0, &lib, &err));
    CHECK(library_exists(b, "shared"));
    CHECK(!library_exists(private_store, "shared"));
    CHECK_EQ_INT(write_x(lib, "s", 3, 2, NULL), 0);
    SheafLibrary *other = tu_open_library(b, "shared", NULL);
    check_x(other, "s", NULL, 0, 3, 2);
    sheaf_library_free(other);
    sheaf_library_free(lib);
    sheaf_store_free(a);
    sheaf_store_free(b);
    sheaf_store_free(private_store);
}

/* ---- runtime: versions, status names, configuration, logging ---------------------------- */

static void test_runtime_info(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", SHEAF_VERSION_MAJOR, SHEAF_VERSION_MINOR,
             SHEAF_VERSION_PATCH);
    CHECK_EQ_STR(sheaf_version(), expected);
    CHECK_EQ_INT(sheaf_abi_version(), SHEAF_ABI_VERSION);

    static const struct {
        SheafStatus code;
        const char *name;
    } names[] = {
#define NAME(c) {c, #c}
        NAME(SHEAF_OK), NAME(SHEAF_ERR_GENERIC), NAME(SHEAF_ERR_UNSUPPORTED),
        NAME(SHEAF_ERR_TIMEOUT), NAME(SHEAF_ERR_IO), NAME(SHEAF_ERR_STORAGE),
        NAME(SHEAF_ERR_STORAGE_FULL), NAME(SHEAF_ERR_CORRUPT), NAME(SHEAF_ERR_NOT_FOUND),
        NAME(SHEAF_ERR_NO_SUCH_LIBRARY), NAME(SHEAF_ERR_NO_SUCH_SYMBOL),
        NAME(SHEAF_ERR_NO_SUCH_VERSION), NAME(SHEAF_ERR_NO_SUCH_SNAPSHOT),
        NAME(SHEAF_ERR_NO_SUCH_KEY), NAME(SHEAF_ERR_NO_SUCH_COLLECTION),
        NAME(SHEAF_ERR_NO_SUCH_DOCUMENT), NAME(SHEAF_ERR_CONFLICT),
        NAME(SHEAF_ERR_LIBRARY_EXISTS), NAME(SHEAF_ERR_KEY_EXISTS),
        NAME(SHEAF_ERR_SNAPSHOT_EXISTS), NAME(SHEAF_ERR_COLLECTION_EXISTS),
        NAME(SHEAF_ERR_SCHEMA), NAME(SHEAF_ERR_UNSORTED_INDEX), NAME(SHEAF_ERR_UNSUPPORTED_TYPE),
        NAME(SHEAF_ERR_INVALID_ARGUMENT), NAME(SHEAF_ERR_NULL_POINTER),
        NAME(SHEAF_ERR_INVALID_UTF8), NAME(SHEAF_ERR_INVALID_NAME), NAME(SHEAF_ERR_INVALID_URI),
        NAME(SHEAF_ERR_INVALID_JSON), NAME(SHEAF_ERR_BUFFER_TOO_SMALL),
        NAME(SHEAF_ERR_INVALID_MODE), NAME(SHEAF_ERR_UNKNOWN_CONFIG_KEY),
        NAME(SHEAF_ERR_INVALID_ARROW), NAME(SHEAF_ERR_CLOSED), NAME(SHEAF_ERR_INTERNAL),
#undef NAME
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK_EQ_STR(sheaf_status_name(names[i].code), names[i].name);
    }
    CHECK_EQ_STR(sheaf_status_name(12345), "SHEAF_ERR_UNKNOWN");
    CHECK_EQ_STR(sheaf_status_name(-1), "SHEAF_ERR_UNKNOWN");
}

typedef struct log_capture {
    int records;
    int bad_records; /* wrong level, length or termination */
    int max_level;
    bool saw_write;
} log_capture;

static void capture_log(int32_t level, const char *message, size_t len, void *user_data) {
    log_capture *cap = user_data;
    cap->records++;
    if (level < SHEAF_LOG_ERROR || level > SHEAF_LOG_DEBUG || message == NULL ||
        strlen(message) != len) {
        cap->bad_records++;
        return;
    }
    if (level > cap->max_level) cap->max_level = level;
    if (strstr(message, "log_sym")) cap->saw_write = true;
}

static void test_config_and_log(void) {
    /* Valid keys, as numbers and as text. */
    EXPECT_OK(sheaf_config_set_int(STR("log_level"), SHEAF_LOG_WARN, &err));
    EXPECT_OK(sheaf_config_set_string(STR("log_level"), STR("info"), &err));
    EXPECT_OK(sheaf_config_set_string(STR("log_level"), STR("3"), &err));
    EXPECT_OK(sheaf_config_set_int(STR("lmdb.map_size"), INT64_C(1) << 30, &err));
    EXPECT_OK(sheaf_config_set_string(STR("lmdb.map_size"), STR("512MB"), &err));
    EXPECT_OK(sheaf_config_set_string(STR("lmdb.map_size"), STR("64GB"), &err)); /* the default */
    EXPECT_OK(sheaf_config_set_int(STR("commit.max_retries"), 1000, &err));
    EXPECT_OK(sheaf_config_set_string(STR("commit.max_retries"), STR("1000"), &err));

    /* Unknown keys and values out of range. */
    EXPECT_ERR(SHEAF_ERR_UNKNOWN_CONFIG_KEY, "no.such.key",
               sheaf_config_set_int(STR("no.such.key"), 1, &err));
    EXPECT_ERR(SHEAF_ERR_UNKNOWN_CONFIG_KEY, "loglevel",
               sheaf_config_set_string(STR("loglevel"), STR("debug"), &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL, sheaf_config_set_int(STR("log_level"), 6, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL, sheaf_config_set_int(STR("log_level"), -1, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_config_set_string(STR("log_level"), STR("loud"), &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_config_set_string(STR("lmdb.map_size"), STR("12XB"), &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, NULL,
               sheaf_config_set_int(STR("commit.max_retries"), -1, &err));

    /* Logging at debug level reaches the callback, with user_data passed back. */
    log_capture cap;
    memset(&cap, 0, sizeof cap);
    EXPECT_OK(sheaf_log_set_callback(capture_log, &cap, &err));
    EXPECT_OK(sheaf_config_set_string(STR("log_level"), STR("debug"), &err));
    EXPECT_OK(sheaf_config_set_int(STR("log_level"), SHEAF_LOG_DEBUG, &err));
    SheafStore *store = tu_open_store("mem://");
    SheafLibrary *lib = tu_open_library(store, "logged", NULL);
    CHECK_EQ_INT(write_x(lib, "log_sym", 1, 2, NULL), 0);
    CHECK_MSG(cap.records > 0, "no log record arrived at level debug");
    CHECK_EQ_INT(cap.bad_records, 0);
    CHECK_EQ_INT(cap.max_level, SHEAF_LOG_DEBUG);
    CHECK_MSG(cap.saw_write, "no debug record mentions the write of 'log_sym'");

    /* Removed: nothing more arrives. */
    EXPECT_OK(sheaf_log_set_callback(NULL, NULL, &err));
    int before = cap.records;
    CHECK_EQ_INT(write_x(lib, "log_sym", 3, 2, NULL), 1);
    CHECK_EQ_INT(cap.records, before);

    /* Below the level nothing is produced: warn hides the debug record of a write. */
    EXPECT_OK(sheaf_log_set_callback(capture_log, &cap, &err));
    EXPECT_OK(sheaf_config_set_int(STR("log_level"), SHEAF_LOG_WARN, &err));
    CHECK_EQ_INT(write_x(lib, "log_sym", 5, 2, NULL), 2);
    CHECK_EQ_INT(cap.records, before);
    EXPECT_OK(sheaf_log_set_callback(NULL, NULL, &err));

    sheaf_library_free(lib);
    sheaf_store_free(store);
}

/* Progress: what sheaf_progress_set_callback delivers for a streamed write, a batch call and
 * verify, with user_data passed back, and nothing once removed. */
typedef struct progress_capture {
    int calls;
    int bad;
    uint64_t last_write_rows;
    int write_reports;
    int batch_items[8];
    int batch_reports;
    uint64_t verify_done, verify_total;
} progress_capture;

static void capture_progress(const char *stage, const char *unit, uint64_t done, uint64_t total,
                             void *user_data) {
    progress_capture *cap = user_data;
    cap->calls++;
    if (stage == NULL || unit == NULL) {
        cap->bad++;
        return;
    }
    if (strcmp(stage, "write") == 0) {
        if (strcmp(unit, "rows") != 0 || total != 0 || done < cap->last_write_rows) cap->bad++;
        cap->last_write_rows = done;
        cap->write_reports++;
    } else if (strcmp(stage, "batch") == 0) {
        if (strcmp(unit, "items") != 0 || total != 2 || cap->batch_reports >= 8) {
            cap->bad++;
            return;
        }
        cap->batch_items[cap->batch_reports++] = (int)done;
    } else if (strcmp(stage, "verify") == 0) {
        cap->verify_done = done;
        cap->verify_total = total;
    }
}

static void test_progress(void) {
    progress_capture cap;
    memset(&cap, 0, sizeof cap);
    SheafStore *store = tu_open_store("mem://");
    SheafLibrary *lib = tu_open_library(store, "progress", NULL);

    EXPECT_OK(sheaf_progress_set_callback(capture_progress, &cap, &err));
    /* Three batches of 4, 5 and 6 rows: reported as 4, 9, 15 rows taken in. */
    struct ArrowArray batches[3];
    struct ArrowSchema schema;
    int64_t next = 0;
    for (int b = 0; b < 3; b++) {
        int64_t values[6];
        int n = 4 + b;
        for (int i = 0; i < n; i++) values[i] = next++;
        ab_column col;
        ab_make_int64(&col, "x", values, NULL, n);
        struct ArrowSchema s;
        ab_make_batch(&s, &batches[b], &col, 1);
        if (b == 0) {
            schema = s;
        } else {
            ab_schema_release(&s);
        }
    }
    struct ArrowArrayStream stream;
    ab_stream_make(&stream, &schema, batches, 3, NULL);
    uint64_t version = 99;
    EXPECT_OK(sheaf_table_write(lib, STR("p"), &stream, NULL, 0, NULL, 0, &version, &err));
    CHECK_EQ_INT(version, 0);
    CHECK_EQ_INT(cap.write_reports, 3);
    CHECK_EQ_INT(cap.last_write_rows, 15);

    /* A batch call of two items reports 1 then 2 of 2. */
    const char *items = "[{\"symbol\": \"p\", \"options\": {\"versions\": null}}, "
                        "{\"symbol\": \"q\", \"options\": {\"versions\": null}}]";
    SheafBytes results = {NULL, 0};
    EXPECT_OK(sheaf_table_delete_batch(lib, items, strlen(items), &results, &err));
    sheaf_bytes_free(&results);
    CHECK_EQ_INT(cap.batch_reports, 2);
    CHECK_EQ_INT(cap.batch_items[0], 1);
    CHECK_EQ_INT(cap.batch_items[1], 2);

    /* verify walks the one library. */
    SheafBytes json = {NULL, 0};
    EXPECT_OK(sheaf_store_verify(store, &json, &err));
    sheaf_bytes_free(&json);
    CHECK_EQ_INT(cap.verify_done, 1);
    CHECK_EQ_INT(cap.verify_total, 1);
    CHECK_EQ_INT(cap.bad, 0);

    /* Removed: nothing more arrives. */
    EXPECT_OK(sheaf_progress_set_callback(NULL, NULL, &err));
    int before = cap.calls;
    CHECK_EQ_INT(write_x(lib, "p2", 0, 3, NULL), 0);
    CHECK_EQ_INT(cap.calls, before);

    sheaf_library_free(lib);
    sheaf_store_free(store);
}

/* On success *err is left unchanged. */
static void test_err_untouched_on_success(void) {
    SheafError *sentinel = (SheafError *)&tu_failures; /* any non-NULL address; never used */
    SheafError *err = sentinel;
    SheafStore *store = NULL;
    CHECK_EQ_INT(sheaf_store_open(STR("mem://"), &store, &err), SHEAF_OK);
    CHECK(err == sentinel);
    sheaf_store_free(store);
    CHECK_EQ_INT(sheaf_error_code(NULL), SHEAF_OK);
    CHECK_EQ_STR(sheaf_error_message(NULL), "");
}

int main(void) {
    init_all_types();
    test_runtime_info();
    test_err_untouched_on_success();
    test_config_and_log();
    test_progress();
    test_mem_sharing();

    run_store_suite("mem://");
    test_free_order("mem://free-order");

    char *dir = tu_make_tmpdir("roundtrip");
    char *uri = tu_lmdb_uri(dir, "store");
    run_store_suite(uri);
    test_lmdb_reopen(uri);
    test_free_order(uri);
    /* A plain path means the same as lmdb://. */
    size_t n = strlen(dir) + 64;
    char *plain = malloc(n);
    REQUIRE(plain != NULL);
    snprintf(plain, n, "%s/plain?map_size=64MB", dir);
    test_free_order(plain);
    free(plain);
    free(uri);
    tu_remove_dir(dir);
    free(dir);
    return tu_finish("test_roundtrip");
}

/*
 * test_errors.c — every error a C caller can provoke: the exact status, a non-empty message
 * that names what went wrong, every error object freed, and for writes: the moved-in stream is
 * released by the library and nothing is committed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testkit.h"

static const char BAD_UTF8[] = "\xff\xfe";

/* ---- helpers ----------------------------------------------------------------------------- */

/* A one-column int64 stream x = 1..n, counting its releases in *released. */
static void make_x_stream(struct ArrowArrayStream *stream, int n, int *released) {
    int64_t values[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ab_column col;
    ab_stream_options opts = ab_stream_options_default();
    opts.release_counter = released;
    ab_make_int64(&col, "x", values, NULL, n);
    ab_stream_from_columns(stream, &col, 1, &opts);
}

/* Calls sheaf_table_write and checks the refusal, the release and that nothing changed.
 * Arguments: lib, symbol, symbol_len, stream, released counter, options, code, substring. */
#define EXPECT_WRITE_REFUSED(...) expect_write_refused(__LINE__, __VA_ARGS__)

static void expect_write_refused(int line, SheafLibrary *lib, const char *symbol,
                                 size_t symbol_len, struct ArrowArrayStream *stream, int *released,
                                 const char *options, SheafStatus code, const char *substring) {
    SheafError *err = NULL;
    uint64_t version = 12345;
    SheafStatus st = sheaf_table_write(lib, symbol, symbol_len, stream, NULL, 0, options,
                                       options ? strlen(options) : 0, &version, &err);
    tu_expect_err(__FILE__, line, "sheaf_table_write", code, substring, st, err);
    CHECK_MSG(version == 12345, "line %d: a refused write set *out_version", line);
    if (stream) {
        CHECK_MSG(stream->release == NULL, "line %d: the caller's stream is not marked released", line);
        /* Our producer counts its release: the library must have called it exactly once. */
        if (released) CHECK_MSG(*released == 1, "line %d: the stream was released %d times", line, *released);
        if (stream->release) stream->release(stream); /* do not leak it on top of the failure */
    }
}

/* The versions of `symbol` must still be exactly {0} (or, if none_expected, no symbol). */
static void expect_untouched(SheafLibrary *lib, const char *symbol, bool exists, int line) {
    int64_t versions[8];
    size_t n = 0;
    bool has = tu_has_symbol(lib, symbol);
    CHECK_MSG(has == exists, "line %d: has_symbol('%s') is %d", line, symbol, has);
    if (exists) {
        n = tu_list_version_numbers(lib, symbol, versions, 8);
        CHECK_MSG(n == 1 && versions[0] == 0, "line %d: '%s' has %zu version(s) after a refused write",
                  line, symbol, n);
    }
}

/* ---- NULL handles, out-pointers, names ---------------------------------------------------- */

static void test_null_handles(void) {
    SheafLibrary *lib = NULL;
    SheafBytes bytes = {NULL, 0};
    bool flag = false;
    uint64_t version = 0;
    struct ArrowArrayStream stream;
    int released = 0;

    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "store", sheaf_store_close(NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "store",
               sheaf_library_create(NULL, STR("lib"), NULL, 0, &lib, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "store",
               sheaf_library_open(NULL, STR("lib"), true, NULL, 0, &lib, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "store", sheaf_library_delete(NULL, STR("lib"), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "store", sheaf_library_exists(NULL, STR("lib"), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "store", sheaf_library_list(NULL, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library", sheaf_library_describe(NULL, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library", sheaf_library_close(NULL, &err));
    CHECK(lib == NULL && bytes.data == NULL);

    make_x_stream(&stream, 3, &released);
    EXPECT_WRITE_REFUSED(NULL, STR("s"), &stream, &released, NULL, SHEAF_ERR_NULL_POINTER, "library");
    memset(&stream, 0, sizeof stream);
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library",
               sheaf_table_read(NULL, STR("s"), NULL, 0, &stream, &bytes, NULL, &err));
    CHECK(stream.release == NULL);
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library",
               sheaf_table_read_metadata(NULL, STR("s"), NULL, 0, NULL, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library",
               sheaf_table_write_metadata(NULL, STR("s"), NULL, 0, NULL, 0, &version, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library", sheaf_table_list_symbols(NULL, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library",
               sheaf_table_has_symbol(NULL, STR("s"), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library",
               sheaf_table_list_versions(NULL, STR("s"), &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "library",
               sheaf_table_delete(NULL, STR("s"), NULL, 0, &err));
    CHECK(bytes.data == NULL);

    /* The free functions ignore NULL. */
    sheaf_store_free(NULL);
    sheaf_library_free(NULL);
    sheaf_error_free(NULL);
    sheaf_bytes_free(NULL);
}

static void test_null_out_pointers(SheafStore *store, SheafLibrary *lib) {
    SheafBytes bytes = {NULL, 0};
    bool flag = false;

    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out", sheaf_store_open(STR("mem://"), NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out",
               sheaf_library_create(store, STR("never"), NULL, 0, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out",
               sheaf_library_open(store, STR("never"), true, NULL, 0, NULL, &err));
    EXPECT_OK(sheaf_library_exists(store, STR("never"), &flag, &err));
    CHECK_MSG(!flag, "a library was created although the out-pointer was NULL");
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out", sheaf_library_exists(store, STR("never"), NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out", sheaf_library_list(store, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out", sheaf_library_describe(lib, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out_stream",
               sheaf_table_read(lib, STR("target"), NULL, 0, NULL, &bytes, &bytes, &err));
    CHECK(bytes.data == NULL);
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out", sheaf_table_has_symbol(lib, STR("target"), NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out", sheaf_table_list_symbols(lib, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "out",
               sheaf_table_list_versions(lib, STR("target"), NULL, &err));
    /* The data stream itself may not be NULL. */
    EXPECT_WRITE_REFUSED(lib, STR("target"), NULL, NULL, NULL, SHEAF_ERR_NULL_POINTER, "ArrowArrayStream");
    expect_untouched(lib, "target", true, __LINE__);
}

static void test_null_with_length(SheafStore *store, SheafLibrary *lib) {
    SheafStore *s = NULL;
    SheafLibrary *l = NULL;
    SheafBytes bytes = {NULL, 0};
    bool flag = false;
    uint64_t version = 0;
    struct ArrowArrayStream stream;
    int released = 0;

    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "uri", sheaf_store_open(NULL, 6, &s, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "name", sheaf_library_create(store, NULL, 3, NULL, 0, &l, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "name", sheaf_library_open(store, NULL, 3, true, NULL, 0, &l, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "name", sheaf_library_exists(store, NULL, 3, &flag, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "name", sheaf_library_delete(store, NULL, 3, &flag, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "options",
               sheaf_library_create(store, STR("nulopt"), NULL, 4, &l, &err));
    CHECK(s == NULL && l == NULL);

    make_x_stream(&stream, 2, &released);
    EXPECT_WRITE_REFUSED(lib, NULL, 6, &stream, &released, NULL, SHEAF_ERR_NULL_POINTER, "symbol");
    released = 0;
    make_x_stream(&stream, 2, &released);
    {
        SheafError *err = NULL;
        SheafStatus st = sheaf_table_write(lib, STR("target"), &stream, NULL, 3, NULL, 0, &version, &err);
        tu_expect_err(__FILE__, __LINE__, "write with metadata NULL, 3", SHEAF_ERR_NULL_POINTER,
                      "metadata", st, err);
        CHECK(stream.release == NULL && released == 1);
    }
    released = 0;
    make_x_stream(&stream, 2, &released);
    {
        SheafError *err = NULL;
        SheafStatus st = sheaf_table_write(lib, STR("target"), &stream, NULL, 0, NULL, 9, &version, &err);
        tu_expect_err(__FILE__, __LINE__, "write with options NULL, 9", SHEAF_ERR_NULL_POINTER,
                      "options", st, err);
        CHECK(stream.release == NULL && released == 1);
    }
    expect_untouched(lib, "target", true, __LINE__);

    memset(&stream, 0, sizeof stream);
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "symbol",
               sheaf_table_read(lib, NULL, 6, NULL, 0, &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "options",
               sheaf_table_read(lib, STR("target"), NULL, 2, &stream, NULL, NULL, &err));
    CHECK(stream.release == NULL);
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "symbol", sheaf_table_has_symbol(lib, NULL, 1, &flag, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "symbol",
               sheaf_table_read_metadata(lib, NULL, 6, NULL, 0, NULL, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "metadata",
               sheaf_table_write_metadata(lib, STR("target"), NULL, 3, NULL, 0, &version, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "symbol", sheaf_table_delete(lib, NULL, 6, NULL, 0, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "versions",
               sheaf_table_delete(lib, STR("target"), NULL, 2, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "key", sheaf_config_set_int(NULL, 9, 1, &err));
    EXPECT_ERR(SHEAF_ERR_NULL_POINTER, "value", sheaf_config_set_string(STR("log_level"), NULL, 4, &err));
    expect_untouched(lib, "target", true, __LINE__);
    CHECK(bytes.data == NULL);
}

static void test_non_utf8(SheafStore *store, SheafLibrary *lib) {
    SheafStore *s = NULL;
    SheafLibrary *l = NULL;
    SheafBytes bytes = {NULL, 0};
    bool flag = false;
    uint64_t version = 0;
    struct ArrowArrayStream stream;
    int released = 0;

    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8", sheaf_store_open(STR(BAD_UTF8), &s, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_library_create(store, STR(BAD_UTF8), NULL, 0, &l, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_library_open(store, STR(BAD_UTF8), true, NULL, 0, &l, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8", sheaf_library_exists(store, STR(BAD_UTF8), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8", sheaf_library_delete(store, STR(BAD_UTF8), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_library_create(store, STR("utf8opt"), STR(BAD_UTF8), &l, &err));
    CHECK(s == NULL && l == NULL);

    make_x_stream(&stream, 2, &released);
    EXPECT_WRITE_REFUSED(lib, STR(BAD_UTF8), &stream, &released, NULL, SHEAF_ERR_INVALID_UTF8, "UTF-8");
    released = 0;
    make_x_stream(&stream, 2, &released);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, BAD_UTF8, SHEAF_ERR_INVALID_UTF8, "UTF-8");
    expect_untouched(lib, "target", true, __LINE__);

    memset(&stream, 0, sizeof stream);
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_table_read(lib, STR(BAD_UTF8), NULL, 0, &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_table_read(lib, STR("target"), STR(BAD_UTF8), &stream, NULL, NULL, &err));
    CHECK(stream.release == NULL);
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8", sheaf_table_has_symbol(lib, STR(BAD_UTF8), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_table_list_versions(lib, STR(BAD_UTF8), &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_table_write_metadata(lib, STR(BAD_UTF8), NULL, 0, NULL, 0, &version, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8", sheaf_table_delete(lib, STR(BAD_UTF8), NULL, 0, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8", sheaf_config_set_int(STR(BAD_UTF8), 1, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_UTF8, "UTF-8",
               sheaf_config_set_string(STR("log_level"), STR(BAD_UTF8), &err));
    CHECK(bytes.data == NULL);
}

static void test_invalid_names(SheafStore *store, SheafLibrary *lib) {
    char long_name[300], utf8_long[300];
    memset(long_name, 'n', sizeof long_name);
    /* 128 two-byte characters: 256 bytes; the limit counts bytes, not characters. */
    for (int i = 0; i < 128; i++) {
        utf8_long[2 * i] = '\xc3';
        utf8_long[2 * i + 1] = '\xa9';
    }
    const struct {
        const char *name;
        size_t len;
        const char *mention;
    } bad[] = {
        {"", 0, "empty"},
        {long_name, 256, "255"},
        {utf8_long, 256, "255"},
        {"line\nbreak", 10, "control"},
        {"tab\there", 8, "control"},
        {"\x01start", 6, "control"},
        {"del\x7f", 4, "control"},
        {"nul\0inside", 10, "control"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        SheafLibrary *l = NULL;
        bool flag = true;
        struct ArrowArrayStream stream;
        int released = 0;
        EXPECT_ERR(SHEAF_ERR_INVALID_NAME, bad[i].mention,
                   sheaf_library_create(store, bad[i].name, bad[i].len, NULL, 0, &l, &err));
        EXPECT_ERR(SHEAF_ERR_INVALID_NAME, bad[i].mention,
                   sheaf_library_open(store, bad[i].name, bad[i].len, true, NULL, 0, &l, &err));
        EXPECT_ERR(SHEAF_ERR_INVALID_NAME, bad[i].mention,
                   sheaf_library_exists(store, bad[i].name, bad[i].len, &flag, &err));
        CHECK(l == NULL);
        make_x_stream(&stream, 2, &released);
        expect_write_refused(__LINE__, lib, bad[i].name, bad[i].len, &stream, &released, NULL,
                             SHEAF_ERR_INVALID_NAME, bad[i].mention);
        EXPECT_ERR(SHEAF_ERR_INVALID_NAME, bad[i].mention,
                   sheaf_table_has_symbol(lib, bad[i].name, bad[i].len, &flag, &err));
    }
    /* 255 bytes is still fine, for libraries and symbols. */
    SheafLibrary *l = NULL;
    EXPECT_OK(sheaf_library_create(store, long_name, 255, NULL, 0, &l, &err));
    struct ArrowArrayStream stream;
    int released = 0;
    make_x_stream(&stream, 2, &released);
    EXPECT_OK(sheaf_table_write(l, long_name, 255, &stream, NULL, 0, NULL, 0, NULL, &err));
    CHECK(released == 1);
    bool has = false;
    EXPECT_OK(sheaf_table_has_symbol(l, long_name, 255, &has, &err));
    CHECK(has);
    sheaf_library_free(l);
    EXPECT_OK(sheaf_library_delete(store, long_name, 255, NULL, &err));
}

/* ---- URIs and options --------------------------------------------------------------------- */

static void test_uris(const char *dir) {
    SheafStore *s = NULL;
    char uri[512];
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "gcs", sheaf_store_open(STR("gcs://bucket/store"), &s, &err));
    EXPECT_ERR(SHEAF_ERR_UNSUPPORTED, "lmdb://",
               sheaf_store_open(STR("file:///tmp/store"), &s, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "AZURE_STORAGE_ACCOUNT_KEY",
               sheaf_store_open(STR("az://container?account_key=x"), &s, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "credentials",
               sheaf_store_open(STR("s3://bucket/store?secret_access_key=x"), &s, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "colour",
               sheaf_store_open(STR("s3://bucket/store?colour=blue"), &s, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "absolute",
               sheaf_store_open(STR("lmdb://relative/path"), &s, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "empty", sheaf_store_open("", 0, &s, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, NULL, sheaf_store_open(STR("mem://?opt=1"), &s, &err));
    snprintf(uri, sizeof uri, "lmdb://%s/opts?bogus=1", dir);
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "bogus", sheaf_store_open(STR(uri), &s, &err));
    /* A map size that is not a size makes the URI impossible to understand. */
    snprintf(uri, sizeof uri, "lmdb://%s/opts?map_size=12XB", dir);
    EXPECT_ERR(SHEAF_ERR_INVALID_URI, "12XB", sheaf_store_open(STR(uri), &s, &err));
    /* The operating system refuses to create a directory there. */
    EXPECT_ERR(SHEAF_ERR_IO, "/proc/sheaf-cannot-be-here",
               sheaf_store_open(STR("lmdb:///proc/sheaf-cannot-be-here/store?map_size=16MB"), &s, &err));
    CHECK(s == NULL);
}

static void test_bad_options(SheafStore *store, SheafLibrary *lib) {
    SheafLibrary *l = NULL;
    struct ArrowArrayStream stream;
    int released = 0;
    uint64_t version = 0;

    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, NULL,
               sheaf_library_create(store, STR("opt"), STR("{not json"), &l, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, NULL, sheaf_library_create(store, STR("opt"), STR("[1, 2]"), &l, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, "rows_per_segmnt",
               sheaf_library_create(store, STR("opt"), STR("{\"rows_per_segmnt\": 3}"), &l, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, "gzip",
               sheaf_library_create(store, STR("opt"), STR("{\"compression\": \"gzip\"}"), &l, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "rows_per_segment",
               sheaf_library_create(store, STR("opt"), STR("{\"rows_per_segment\": 0}"), &l, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, "rows_per_segmnt",
               sheaf_library_open(store, STR("opt"), true, STR("{\"rows_per_segmnt\": 3}"), &l, &err));
    CHECK(l == NULL);
    bool exists = true;
    EXPECT_OK(sheaf_library_exists(store, STR("opt"), &exists, &err));
    CHECK_MSG(!exists, "a library was created from refused options");

    make_x_stream(&stream, 2, &released);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, "{\"indx\": \"x\"}",
                         SHEAF_ERR_INVALID_JSON, "indx");
    released = 0;
    make_x_stream(&stream, 2, &released);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, "index=x", SHEAF_ERR_INVALID_JSON, NULL);
    expect_untouched(lib, "target", true, __LINE__);

    memset(&stream, 0, sizeof stream);
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, "asof",
               sheaf_table_read(lib, STR("target"), STR("{\"asof\": 0}"), &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "as_of",
               sheaf_table_read(lib, STR("target"), STR("{\"as_of\": true}"), &stream, NULL, NULL, &err));
    /* A string names a snapshot. */
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SNAPSHOT, "no_such_snap",
               sheaf_table_read(lib, STR("target"), STR("{\"as_of\": \"no_such_snap\"}"), &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "as_of",
               sheaf_table_read(lib, STR("target"), STR("{\"as_of\": 1.5}"), &stream, NULL, NULL, &err));
    CHECK(stream.release == NULL);
    EXPECT_ERR(SHEAF_ERR_INVALID_ARGUMENT, "prune_previous_versions",
               sheaf_table_write_metadata(lib, STR("target"), NULL, 0, STR("{\"index\": \"x\"}"),
                                          &version, &err));
    EXPECT_ERR(SHEAF_ERR_INVALID_JSON, NULL,
               sheaf_table_write_metadata(lib, STR("target"), NULL, 0, STR("{"), &version, &err));
    expect_untouched(lib, "target", true, __LINE__);
}

/* ---- not found ---------------------------------------------------------------------------- */

static void test_not_found(SheafStore *store, SheafLibrary *lib) {
    SheafLibrary *l = NULL;
    struct ArrowArrayStream stream;
    SheafBytes bytes = {NULL, 0};
    uint64_t version = 0;
    uint64_t versions[2] = {0, 7};

    EXPECT_ERR(SHEAF_ERR_LIBRARY_EXISTS, "errors", sheaf_library_create(store, STR("errors"), NULL, 0, &l, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_LIBRARY, "missing_lib",
               sheaf_library_open(store, STR("missing_lib"), false, NULL, 0, &l, &err));
    CHECK(l == NULL);
    /* A NULL err pointer is allowed: only the status comes back. */
    CHECK_EQ_INT(sheaf_library_open(store, STR("missing_lib"), false, NULL, 0, &l, NULL),
                 SHEAF_ERR_NO_SUCH_LIBRARY);

    memset(&stream, 0, sizeof stream);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "missing_sym",
               sheaf_table_read(lib, STR("missing_sym"), NULL, 0, &stream, &bytes, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, "5",
               sheaf_table_read(lib, STR("target"), STR("{\"as_of\": 5}"), &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, NULL,
               sheaf_table_read(lib, STR("target"), STR("{\"as_of\": -2}"), &stream, NULL, NULL, &err));
    CHECK(stream.release == NULL && bytes.data == NULL);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "missing_sym",
               sheaf_table_read_metadata(lib, STR("missing_sym"), NULL, 0, NULL, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "missing_sym",
               sheaf_table_delete(lib, STR("missing_sym"), NULL, 0, &err));
    /* Metadata for a symbol without versions is its first version (no columns, no rows). */
    version = 99;
    EXPECT_OK(sheaf_table_write_metadata(lib, STR("meta_only"), NULL, 0, NULL, 0, &version, &err));
    CHECK(version == 0 && tu_has_symbol(lib, "meta_only"));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_VERSION, "7", sheaf_table_delete(lib, STR("target"), versions, 2, &err));
    expect_untouched(lib, "target", true, __LINE__);
    CHECK(!tu_has_symbol(lib, "missing_sym"));

    /* After every version is deleted the symbol is gone, for reads and for deletes. */
    int released = 0;
    make_x_stream(&stream, 2, &released);
    EXPECT_OK(sheaf_table_write(lib, STR("short_lived"), &stream, NULL, 0, NULL, 0, NULL, &err));
    EXPECT_OK(sheaf_table_delete(lib, STR("short_lived"), NULL, 0, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "short_lived",
               sheaf_table_read(lib, STR("short_lived"), NULL, 0, &stream, NULL, NULL, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_SYMBOL, "short_lived",
               sheaf_table_delete(lib, STR("short_lived"), NULL, 0, &err));
    /* ... and metadata starts it anew, after the numbers the deleted versions took. */
    EXPECT_OK(sheaf_table_write_metadata(lib, STR("short_lived"), NULL, 0, NULL, 0, &version, &err));
    CHECK(version == 2 && tu_has_symbol(lib, "short_lived"));
}

/* A segment that disappears under an open read stream is reported by get_next/get_last_error.
 * Reads load a few segments ahead of the consumer on worker threads (at most read threads + 1
 * of them), so the first batches may still arrive; of four segments of two rows, the last is
 * only loaded after the first get_next, which comes after the delete. */
static void test_segment_gone_under_stream(SheafLibrary *lib) {
    struct ArrowArrayStream write_stream, read_stream;
    struct ArrowSchema schema;
    struct ArrowArray batch;
    int released = 0;
    make_x_stream(&write_stream, 8, &released);
    EXPECT_OK(sheaf_table_write(lib, STR("gone"), &write_stream, NULL, 0, NULL, 0, NULL, &err));
    EXPECT_OK(sheaf_config_set_int(STR("read.threads"), 2, &err));
    EXPECT_OK(sheaf_table_read(lib, STR("gone"), NULL, 0, &read_stream, NULL, NULL, &err));
    EXPECT_OK(sheaf_table_delete(lib, STR("gone"), NULL, 0, &err)); /* collects the segments */
    REQUIRE(read_stream.get_schema(&read_stream, &schema) == 0);
    ab_schema_release(&schema);
    int code = 0;
    for (int i = 0; i < 4 && code == 0; i++) {
        memset(&batch, 0, sizeof batch);
        code = read_stream.get_next(&read_stream, &batch);
        if (code == 0) {
            bool end = batch.release == NULL;
            ab_array_release(&batch);
            if (end) break;
        }
    }
    EXPECT_OK(sheaf_config_set_int(STR("read.threads"), 0, &err));
    CHECK_MSG(code != 0, "get_next succeeded on a version whose segments were deleted");
    if (code != 0) {
        const char *msg = read_stream.get_last_error(&read_stream);
        CHECK_MSG(msg != NULL && msg[0] != '\0', "get_last_error gave no message");
        CHECK(batch.release == NULL);
    }
    ab_array_release(&batch);
    read_stream.release(&read_stream);
    CHECK(read_stream.release == NULL);
}

/* ---- closed handles and double frees ------------------------------------------------------ */

static void check_library_closed(SheafLibrary *lib, const char *what) {
    struct ArrowArrayStream stream;
    int released = 0;
    SheafBytes bytes = {NULL, 0};
    bool flag = false;
    uint64_t version = 0;
    uint64_t v0 = 0;

    printf("  calls on a %s\n", what);
    make_x_stream(&stream, 2, &released);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_CLOSED, "closed");
    memset(&stream, 0, sizeof stream);
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed",
               sheaf_table_read(lib, STR("target"), NULL, 0, &stream, &bytes, &bytes, &err));
    CHECK(stream.release == NULL);
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed",
               sheaf_table_read_metadata(lib, STR("target"), NULL, 0, &bytes, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed",
               sheaf_table_write_metadata(lib, STR("target"), NULL, 0, NULL, 0, &version, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_table_list_symbols(lib, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_table_has_symbol(lib, STR("target"), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_table_list_versions(lib, STR("target"), &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_table_list_versions(lib, NULL, 0, &bytes, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_table_delete(lib, STR("target"), &v0, 1, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_library_describe(lib, &bytes, &err));
    sheaf_bytes_free(&bytes); /* in case a call above wrongly succeeded: no leak on top */
}

static void test_closed(const char *uri) {
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "closing", NULL);
    SheafLibrary *sibling = tu_open_library(store, "closing", NULL);
    int released = 0;
    struct ArrowArrayStream stream;
    make_x_stream(&stream, 2, &released);
    EXPECT_OK(sheaf_table_write(lib, STR("target"), &stream, NULL, 0, NULL, 0, NULL, &err));

    /* Closing a library handle: idempotent; another handle of the same library is unaffected. */
    EXPECT_OK(sheaf_library_close(lib, &err));
    EXPECT_OK(sheaf_library_close(lib, &err));
    check_library_closed(lib, "closed library");
    CHECK(tu_has_symbol(sibling, "target"));
    sheaf_library_free(lib);

    /* Closing the store closes it for its libraries too. */
    EXPECT_OK(sheaf_store_close(store, &err));
    EXPECT_OK(sheaf_store_close(store, &err));
    check_library_closed(sibling, "library of a closed store");
    SheafLibrary *l = NULL;
    SheafBytes bytes = {NULL, 0};
    bool flag = false;
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_library_create(store, STR("new"), NULL, 0, &l, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_library_open(store, STR("closing"), true, NULL, 0, &l, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_library_exists(store, STR("closing"), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_library_delete(store, STR("closing"), &flag, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, "closed", sheaf_library_list(store, &bytes, &err));
    CHECK(l == NULL && bytes.data == NULL);
    sheaf_library_free(sibling);
    sheaf_store_free(store);
}

static void test_double_free(void) {
    SheafStore *store = tu_open_store("mem://");
    SheafLibrary *lib = tu_open_library(store, "twice", NULL);
    SheafError *err = NULL;

    /* Each handle is freed twice in a row: the second free must be detected and ignored. */
    sheaf_library_free(lib);
    sheaf_library_free(lib);
    sheaf_store_free(store);
    sheaf_store_free(store);

    CHECK_EQ_INT(sheaf_debug_panic(&err), SHEAF_ERR_INTERNAL);
    REQUIRE(err != NULL);
    sheaf_error_free(err);
    sheaf_error_free(err);

    SheafStore *s = tu_open_store("mem://");
    SheafBytes bytes = {NULL, 0};
    EXPECT_OK(sheaf_library_list(s, &bytes, &err)); /* "[]": two bytes owned by the library */
    CHECK(bytes.len == 2 && bytes.data != NULL);
    sheaf_bytes_free(&bytes);
    CHECK(bytes.data == NULL && bytes.len == 0);
    sheaf_bytes_free(&bytes);
    sheaf_store_free(s);
}

static void test_panic(void) {
    EXPECT_ERR(SHEAF_ERR_INTERNAL, "panic", sheaf_debug_panic(&err));
    CHECK_EQ_INT(sheaf_debug_panic(NULL), SHEAF_ERR_INTERNAL);
}

/* ---- malformed Arrow input ---------------------------------------------------------------- */

/* A utf8 column "s" of 3 rows ("ab", "cd", "e") whose offsets are then overwritten. */
static void make_utf8_with_offsets(struct ArrowArrayStream *stream, const int32_t offsets[4],
                                   int *released) {
    const char *values[3] = {"ab", "cd", "e"};
    ab_column col;
    ab_stream_options opts = ab_stream_options_default();
    opts.release_counter = released;
    ab_make_utf8(&col, "s", values, 3);
    memcpy((void *)col.array.buffers[1], offsets, 4 * sizeof(int32_t));
    ab_stream_from_columns(stream, &col, 1, &opts);
}

static void test_malformed_arrow(SheafLibrary *lib) {
    struct ArrowArrayStream stream;
    int released;
    ab_column cols[2];
    ab_stream_options opts;
    const int64_t x3[3] = {1, 2, 3};

    /* Offsets: beyond the data (5 bytes), negative, decreasing. The last offset stays 5 so that
     * the data buffer's implied length is its real length. */
    const int32_t beyond[4] = {0, 100, 4, 5}, negative[4] = {-1, 2, 4, 5}, decreasing[4] = {0, 4, 2, 5};
    const int32_t *bad_offsets[3] = {beyond, negative, decreasing};
    for (int i = 0; i < 3; i++) {
        released = 0;
        make_utf8_with_offsets(&stream, bad_offsets[i], &released);
        EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW, "s");
        released = 0;
        make_utf8_with_offsets(&stream, bad_offsets[i], &released);
        EXPECT_WRITE_REFUSED(lib, STR("fresh"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW, NULL);
    }

    /* Invalid UTF-8 in a utf8 column. */
    {
        const char *values[3] = {"ok", "\xff\xfe", "x"};
        released = 0;
        opts = ab_stream_options_default();
        opts.release_counter = &released;
        ab_make_utf8(&cols[0], "s", values, 3);
        ab_stream_from_columns(&stream, cols, 1, &opts);
        EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW, "s");
    }

    /* A NULL data buffer under a length > 0: int64, utf8 data, bool. (The builder keeps
     * ownership of the real buffer, so blanking the visible pointer leaks nothing.) */
    for (int kind = 0; kind < 3; kind++) {
        const char *values[3] = {"ab", "cd", "e"};
        const bool flags[3] = {true, false, true};
        released = 0;
        opts = ab_stream_options_default();
        opts.release_counter = &released;
        if (kind == 0) ab_make_int64(&cols[0], "nulldata", x3, NULL, 3);
        else if (kind == 1) ab_make_utf8(&cols[0], "nulldata", values, 3);
        else ab_make_bool(&cols[0], "nulldata", flags, NULL, 3);
        cols[0].array.buffers[kind == 1 ? 2 : 1] = NULL;
        ab_stream_from_columns(&stream, cols, 1, &opts);
        EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW, NULL);
    }

    /* Too few buffers: an int64 array claiming one buffer (the second stays allocated, so that
     * a library that ignored n_buffers would still read valid memory, and be caught here). */
    released = 0;
    opts = ab_stream_options_default();
    opts.release_counter = &released;
    ab_make_int64(&cols[0], "x", x3, NULL, 3);
    cols[0].array.n_buffers = 1;
    ab_stream_from_columns(&stream, cols, 1, &opts);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW, NULL);

    /* A dictionary key outside the dictionary. */
    {
        const char *dict[2] = {"a", "b"};
        const int32_t keys[3] = {0, 1, 5};
        released = 0;
        opts = ab_stream_options_default();
        opts.release_counter = &released;
        ab_make_dict_utf8(&cols[0], "cat", keys, NULL, 3, dict, 2);
        ab_stream_from_columns(&stream, cols, 1, &opts);
        EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW, "cat");
    }

    /* A stream whose get_next fails, on the first batch or after one good batch; its message
     * must reach the caller. With no message (get_last_error returns NULL) it still fails. */
    for (int fail_at = 0; fail_at < 3; fail_at++) {
        struct ArrowSchema schema, spare;
        struct ArrowArray batches[2];
        ab_column a[1], b[1];
        released = 0;
        opts = ab_stream_options_default();
        opts.release_counter = &released;
        opts.fail_next_at = fail_at < 2 ? fail_at : 1;
        opts.get_next_errno = EIO;
        opts.error_message = fail_at < 2 ? "producer exploded: disk on fire" : NULL;
        ab_make_int64(&a[0], "x", x3, NULL, 3);
        ab_make_int64(&b[0], "x", x3, NULL, 3);
        ab_make_batch(&schema, &batches[0], a, 1);
        ab_make_batch(&spare, &batches[1], b, 1);
        ab_schema_release(&spare);
        ab_stream_make(&stream, &schema, batches, 2, &opts);
        EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW,
                             fail_at < 2 ? "disk on fire" : NULL);
    }

    /* A stream whose get_schema fails. */
    released = 0;
    opts = ab_stream_options_default();
    opts.release_counter = &released;
    opts.get_schema_errno = EINVAL;
    opts.error_message = "no schema today";
    ab_make_int64(&cols[0], "x", x3, NULL, 3);
    ab_stream_from_columns(&stream, cols, 1, &opts);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_INVALID_ARROW, "no schema today");

    /* An already-released stream. */
    memset(&stream, 0, sizeof stream);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, NULL, NULL, SHEAF_ERR_INVALID_ARROW, NULL);

    /* A column type Sheaf does not store: the message names the column. */
    {
        const int32_t offsets[4] = {0, 2, 2, 3};
        released = 0;
        opts = ab_stream_options_default();
        opts.release_counter = &released;
        ab_make_int64(&cols[0], "x", x3, NULL, 3);
        ab_make_list_int64(&cols[1], "listy", offsets, 3, x3);
        ab_stream_from_columns(&stream, cols, 2, &opts);
        EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_UNSUPPORTED_TYPE, "listy");
    }

    /* Two columns of the same name. */
    released = 0;
    opts = ab_stream_options_default();
    opts.release_counter = &released;
    ab_make_int64(&cols[0], "dup", x3, NULL, 3);
    ab_make_int64(&cols[1], "dup", x3, NULL, 3);
    ab_stream_from_columns(&stream, cols, 2, &opts);
    EXPECT_WRITE_REFUSED(lib, STR("target"), &stream, &released, NULL, SHEAF_ERR_SCHEMA, "dup");

    expect_untouched(lib, "target", true, __LINE__);
    expect_untouched(lib, "fresh", false, __LINE__);
}

/* ---- the index column --------------------------------------------------------------------- */

static void make_ts_stream(struct ArrowArrayStream *stream, const int64_t *ts, const bool *valid,
                           int n, int *released) {
    ab_column cols[2];
    ab_stream_options opts = ab_stream_options_default();
    double values[8] = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5};
    opts.release_counter = released;
    ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts, valid, n);
    ab_make_float64(&cols[1], "price", values, NULL, n);
    ab_stream_from_columns(stream, cols, 2, &opts);
}

static void test_index(SheafLibrary *lib) {
    const int64_t unsorted[5] = {10, 20, 15, 30, 40};
    const int64_t sorted[5] = {10, 20, 20, 30, 40}; /* equal neighbours are allowed */
    const bool with_null[5] = {true, true, false, true, true};
    struct ArrowArrayStream stream;
    int released = 0;
    uint64_t version = 99;

    make_ts_stream(&stream, unsorted, NULL, 5, &released);
    EXPECT_WRITE_REFUSED(lib, STR("indexed"), &stream, &released, "{\"index\": \"ts\"}",
                         SHEAF_ERR_UNSORTED_INDEX, "ts");
    CHECK(!tu_has_symbol(lib, "indexed"));

    /* Unsorted across two segments (rows_per_segment is 2): 10 20 | 15 ... */
    released = 0;
    make_ts_stream(&stream, unsorted, NULL, 5, &released);
    EXPECT_WRITE_REFUSED(lib, STR("indexed"), &stream, &released,
                         "{\"index\": \"ts\", \"validate_index\": true}", SHEAF_ERR_UNSORTED_INDEX, "ts");
    CHECK(!tu_has_symbol(lib, "indexed"));

    released = 0;
    make_ts_stream(&stream, unsorted, with_null, 5, &released);
    EXPECT_WRITE_REFUSED(lib, STR("indexed"), &stream, &released, "{\"index\": \"ts\"}",
                         SHEAF_ERR_SCHEMA, "null");
    released = 0;
    make_ts_stream(&stream, sorted, NULL, 5, &released);
    EXPECT_WRITE_REFUSED(lib, STR("indexed"), &stream, &released, "{\"index\": \"nope\"}",
                         SHEAF_ERR_SCHEMA, "nope");
    released = 0;
    make_ts_stream(&stream, sorted, NULL, 5, &released);
    EXPECT_WRITE_REFUSED(lib, STR("indexed"), &stream, &released, "{\"index\": \"price\"}",
                         SHEAF_ERR_SCHEMA, "price");
    CHECK(!tu_has_symbol(lib, "indexed"));

    /* Accepted when validation is off, and a sorted index is accepted as usual. */
    released = 0;
    make_ts_stream(&stream, unsorted, NULL, 5, &released);
    EXPECT_OK(sheaf_table_write(lib, STR("indexed"), &stream, NULL, 0,
                                STR("{\"index\": \"ts\", \"validate_index\": false}"), &version, &err));
    CHECK_EQ_INT(version, 0);
    CHECK_EQ_INT(released, 1);
    released = 0;
    make_ts_stream(&stream, sorted, NULL, 5, &released);
    EXPECT_OK(sheaf_table_write(lib, STR("indexed"), &stream, NULL, 0, STR("{\"index\": \"ts\"}"),
                                &version, &err));
    CHECK_EQ_INT(version, 1);
    ab_table t;
    tu_read(lib, "indexed", "{\"as_of\": 0}", &t, NULL, NULL);
    CHECK_EQ_INT(t.n_rows, 5);
    for (int i = 0; i < 5 && i < t.n_rows; i++) {
        int64_t k;
        const struct ArrowArray *a = ab_table_cell(&t, 0, i, &k);
        CHECK_EQ_INT(ab_cell_int64(a, k), unsorted[i]); /* stored as given, not re-sorted */
    }
    ab_table_free(&t);
}

int main(void) {
    char *dir = tu_make_tmpdir("errors");
    char *uri = tu_lmdb_uri(dir, "store");

    test_panic();
    test_null_handles();
    test_uris(dir);
    test_double_free();

    SheafStore *store = tu_open_store("mem://");
    SheafLibrary *lib = NULL;
    EXPECT_OK(sheaf_library_create(store, STR("errors"), STR("{\"rows_per_segment\": 2}"), &lib, &err));
    {
        const int64_t x[3] = {1, 2, 3};
        ab_column col;
        ab_make_int64(&col, "x", x, NULL, 3);
        CHECK_EQ_INT(tu_write_columns(lib, "target", &col, 1, NULL, NULL), 0);
    }
    test_null_out_pointers(store, lib);
    test_null_with_length(store, lib);
    test_non_utf8(store, lib);
    test_invalid_names(store, lib);
    test_bad_options(store, lib);
    test_not_found(store, lib);
    test_malformed_arrow(lib);
    test_index(lib);
    test_segment_gone_under_stream(lib);

    /* Every refused write above left "target" alone: the next write is version 1. */
    {
        const int64_t x[2] = {4, 5};
        ab_column col;
        ab_make_int64(&col, "x", x, NULL, 2);
        CHECK_EQ_INT(tu_write_columns(lib, "target", &col, 1, NULL, NULL), 1);
    }
    sheaf_library_free(lib);
    sheaf_store_free(store);

    test_closed("mem://");
    test_closed(uri);

    free(uri);
    tu_remove_dir(dir);
    free(dir);
    return tu_finish("test_errors");
}

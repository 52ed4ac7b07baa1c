/* testkit.c — see testkit.h. */
#include "testkit.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

int tu_failures = 0;

void tu_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    tu_failures++;
}

void tu_abort_test(void) {
    fprintf(stderr, "FATAL: stopping after %d failure(s)\n", tu_failures);
    exit(1);
}

void tu_expect_ok(const char *file, int line, const char *call, SheafStatus st, SheafError *err) {
    if (st == SHEAF_OK && err == NULL) return;
    tu_fail(file, line, "%s returned %s (%d): %s", call, sheaf_status_name(st), (int)st,
            err ? sheaf_error_message(err) : "(no error object)");
    sheaf_error_free(err);
    tu_abort_test();
}

void tu_expect_err(const char *file, int line, const char *call, SheafStatus expected,
                   const char *substring, SheafStatus st, SheafError *err) {
    if (st != expected) {
        tu_fail(file, line, "%s returned %s (%d), expected %s (%d); message: %s", call,
                sheaf_status_name(st), (int)st, sheaf_status_name(expected), (int)expected,
                err ? sheaf_error_message(err) : "(no error object)");
    }
    if (err == NULL) {
        if (st != SHEAF_OK) tu_fail(file, line, "%s failed but set no error object", call);
        return;
    }
    if (sheaf_error_code(err) != st) {
        tu_fail(file, line, "%s: sheaf_error_code gives %d, the call returned %d", call,
                (int)sheaf_error_code(err), (int)st);
    }
    const char *msg = sheaf_error_message(err);
    if (msg == NULL || msg[0] == '\0') {
        tu_fail(file, line, "%s: the error message is empty", call);
    } else if (substring && strstr(msg, substring) == NULL) {
        tu_fail(file, line, "%s: the message \"%s\" does not mention \"%s\"", call, msg, substring);
    }
    sheaf_error_free(err);
}

int tu_finish(const char *test_name) {
    if (tu_failures) {
        printf("%s: FAILED (%d failure(s))\n", test_name, tu_failures);
        return 1;
    }
    printf("%s: ok\n", test_name);
    return 0;
}

double tu_scale(void) {
    const char *text = getenv("SHEAF_TEST_SCALE");
    double scale = text ? atof(text) : 1.0;
    return scale > 0 ? scale : 1.0;
}

int tu_scaled(int n, int minimum) {
    int scaled = (int)(n * tu_scale());
    return scaled < minimum ? minimum : scaled;
}

char *tu_make_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    REQUIRE(path != NULL);
    snprintf(path, n, "%s/sheaf-%s-XXXXXX", base, tag);
    REQUIRE(mkdtemp(path) != NULL);
    return path;
}

void tu_remove_dir(const char *path) {
    DIR *dir = opendir(path);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        size_t n = strlen(path) + strlen(entry->d_name) + 2;
        char *child = malloc(n);
        REQUIRE(child != NULL);
        snprintf(child, n, "%s/%s", path, entry->d_name);
        if (unlink(child) != 0) tu_remove_dir(child); /* a subdirectory */
        free(child);
    }
    closedir(dir);
    rmdir(path);
}

char *tu_lmdb_uri(const char *dir, const char *sub) {
    size_t n = strlen(dir) + strlen(sub) + 64;
    char *uri = malloc(n);
    REQUIRE(uri != NULL);
    snprintf(uri, n, "lmdb://%s/%s?map_size=256MB", dir, sub);
    return uri;
}

SheafStore *tu_open_store(const char *uri) {
    SheafStore *store = NULL;
    EXPECT_OK(sheaf_store_open(STR(uri), &store, &err));
    REQUIRE(store != NULL);
    return store;
}

SheafLibrary *tu_open_library(SheafStore *store, const char *name, const char *options_json) {
    SheafLibrary *lib = NULL;
    EXPECT_OK(sheaf_library_open(store, STR(name), true, options_json,
                                 options_json ? strlen(options_json) : 0, &lib, &err));
    REQUIRE(lib != NULL);
    return lib;
}

uint64_t tu_write_columns(SheafLibrary *lib, const char *symbol, ab_column *cols, int64_t n_cols,
                          const char *metadata, const char *options_json) {
    struct ArrowArrayStream stream;
    uint64_t version = UINT64_MAX;
    ab_stream_from_columns(&stream, cols, n_cols, NULL);
    EXPECT_OK(sheaf_table_write(lib, STR(symbol), &stream, (const uint8_t *)metadata,
                                metadata ? strlen(metadata) : 0, options_json,
                                options_json ? strlen(options_json) : 0, &version, &err));
    CHECK(stream.release == NULL); /* moved in: the library released it */
    return version;
}

void tu_read(SheafLibrary *lib, const char *symbol, const char *options_json, ab_table *table,
             SheafBytes *info, SheafBytes *metadata) {
    struct ArrowArrayStream stream;
    char msg[512];
    memset(&stream, 0, sizeof stream);
    EXPECT_OK(sheaf_table_read(lib, STR(symbol), options_json,
                               options_json ? strlen(options_json) : 0, &stream, info, metadata,
                               &err));
    int rc = ab_read_stream(&stream, table, msg, sizeof msg);
    CHECK_MSG(rc == 0, "reading the stream of '%s' failed: %s", symbol, msg);
    REQUIRE(rc == 0);
}

void tu_parse_bytes(SheafBytes *bytes, json_value *out) {
    int rc = json_parse((const char *)bytes->data, bytes->len, out);
    CHECK_MSG(rc == 0, "not JSON: %.*s", (int)bytes->len, bytes->data ? (const char *)bytes->data : "");
    REQUIRE(rc == 0);
    sheaf_bytes_free(bytes);
}

bool tu_json_names_equal(const json_value *array, const char *const *expected, size_t n) {
    if (!array || array->type != JSON_ARRAY || array->count != n) return false;
    for (size_t i = 0; i < n; i++) {
        if (array->items[i].type != JSON_STRING || strcmp(array->items[i].string, expected[i]) != 0)
            return false;
    }
    return true;
}

bool tu_has_symbol(SheafLibrary *lib, const char *symbol) {
    bool has = false;
    EXPECT_OK(sheaf_table_has_symbol(lib, STR(symbol), &has, &err));
    return has;
}

size_t tu_list_version_numbers(SheafLibrary *lib, const char *symbol, int64_t *out, size_t cap) {
    SheafBytes json = {NULL, 0};
    json_value list;
    size_t n = 0;
    EXPECT_OK(sheaf_table_list_versions(lib, STR(symbol), &json, &err));
    tu_parse_bytes(&json, &list);
    REQUIRE(list.type == JSON_ARRAY);
    for (size_t i = 0; i < list.count && n < cap; i++) {
        int64_t v = -1;
        CHECK(json_get_int(&list.items[i], "version", &v));
        CHECK_EQ_STR(json_get_string(&list.items[i], "symbol"), symbol);
        out[n++] = v;
    }
    json_free(&list);
    return n;
}

int64_t tu_segments_loaded(SheafLibrary *lib) {
    SheafBytes json = {NULL, 0};
    json_value parsed;
    int64_t n = -1;
    EXPECT_OK(sheaf_library_stats(lib, &json, &err));
    tu_parse_bytes(&json, &parsed);
    CHECK(json_get_int(&parsed, "segments_loaded", &n));
    json_free(&parsed);
    return n;
}

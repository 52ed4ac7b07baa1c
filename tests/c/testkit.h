/*
 * testkit.h — checks and small Sheaf helpers shared by the C tests.
 *
 * CHECK records a failure and goes on (so one run reports every broken value); REQUIRE stops
 * the program, for failures after which the test cannot continue meaningfully.
 *
 * EXPECT_OK(call) / EXPECT_ERR(code, substring, call) declare a `SheafError *err = NULL` in their
 * own scope; `call` passes `&err`. They check the status, that *err was set exactly on failure
 * with the same code and a non-empty message (containing `substring` unless it is NULL), and
 * free the error.
 */
#ifndef TESTKIT_H
#define TESTKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arrow_build.h"
#include "json_mini.h"
#include "sheaf.h"

extern int tu_failures;

void tu_fail(const char *file, int line, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) tu_fail(__FILE__, __LINE__, "CHECK failed: %s", #cond);           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                           \
    do {                                                                               \
        if (!(cond)) tu_fail(__FILE__, __LINE__, __VA_ARGS__);                         \
    } while (0)

#define CHECK_EQ_INT(actual, expected)                                                 \
    do {                                                                               \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                \
        if (a_ != e_)                                                                  \
            tu_fail(__FILE__, __LINE__, "%s == %lld, expected %lld", #actual, a_, e_); \
    } while (0)

#define CHECK_EQ_STR(actual, expected)                                                 \
    do {                                                                               \
        const char *a_ = (actual), *e_ = (expected);                                   \
        if (!a_ || strcmp(a_, e_) != 0)                                                \
            tu_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #actual,      \
                    a_ ? a_ : "(null)", e_);                                           \
    } while (0)

#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            tu_fail(__FILE__, __LINE__, "REQUIRE failed: %s", #cond);                  \
            tu_abort_test();                                                           \
        }                                                                              \
    } while (0)

#define EXPECT_OK(call)                                                                \
    do {                                                                               \
        SheafError *err = NULL;                                                        \
        SheafStatus st_ = (call);                                                      \
        tu_expect_ok(__FILE__, __LINE__, #call, st_, err);                             \
    } while (0)

#define EXPECT_ERR(code, substring, call)                                              \
    do {                                                                               \
        SheafError *err = NULL;                                                        \
        SheafStatus st_ = (call);                                                      \
        tu_expect_err(__FILE__, __LINE__, #call, (code), (substring), st_, err);       \
    } while (0)

/* Like EXPECT_OK, but a failure is recorded and the test goes on (for checks that later steps
 * do not depend on). */
#define EXPECT_OK_SOFT(call)                                                           \
    do {                                                                               \
        SheafError *err = NULL;                                                        \
        SheafStatus st_ = (call);                                                      \
        tu_expect_err(__FILE__, __LINE__, #call, SHEAF_OK, NULL, st_, err);            \
    } while (0)

/* A (pointer, length) pair for the Sheaf functions that take text. */
#define STR(s) (s), strlen(s)

void tu_abort_test(void);
/* A failed EXPECT_OK is fatal: later steps depend on it. */
void tu_expect_ok(const char *file, int line, const char *call, SheafStatus st, SheafError *err);
void tu_expect_err(const char *file, int line, const char *call, SheafStatus expected,
                   const char *substring, SheafStatus st, SheafError *err);
/* Prints the summary line and returns the exit status for main. */
int tu_finish(const char *test_name);

/* ---- sizes -------------------------------------------------------------------------------- */

/* SHEAF_TEST_SCALE (a positive number, default 1): the runner sets it below 1 for slow modes
 * (valgrind) so that the process tests use fewer keys, batches and versions. */
double tu_scale(void);
/* n * tu_scale(), but at least `minimum`. */
int tu_scaled(int n, int minimum);

/* ---- temporary directories -------------------------------------------------------------- */

/* Creates a fresh directory under $TMPDIR (or /tmp); the returned path is malloc'd. */
char *tu_make_tmpdir(const char *tag);
/* Removes a directory and the files in it (LMDB stores are flat: data.mdb, lock.mdb). */
void tu_remove_dir(const char *path);
/* "lmdb://<dir>/<sub>?map_size=256MB": a modest map, so that valgrind can map it too. */
char *tu_lmdb_uri(const char *dir, const char *sub);

/* ---- Sheaf helpers ---------------------------------------------------------------------- */

SheafStore *tu_open_store(const char *uri);
SheafLibrary *tu_open_library(SheafStore *store, const char *name, const char *options_json);

/* Writes a one-batch stream made of `cols` (moved in); returns the version. Fatal on error. */
uint64_t tu_write_columns(SheafLibrary *lib, const char *symbol, ab_column *cols, int64_t n_cols,
                          const char *metadata, const char *options_json);

/* Reads a version (as_of_json NULL = latest) into `table`; info / metadata may be NULL. */
void tu_read(SheafLibrary *lib, const char *symbol, const char *options_json, ab_table *table,
             SheafBytes *info, SheafBytes *metadata);

/* Parses library-owned JSON bytes (fatal if they are not JSON) and frees the bytes. */
void tu_parse_bytes(SheafBytes *bytes, json_value *out);

/* Whether a JSON array of strings equals `expected` (n names, in order). */
bool tu_json_names_equal(const json_value *array, const char *const *expected, size_t n);

/* How many segments reads through `lib` have loaded (sheaf_library_stats "segments_loaded"). */
int64_t tu_segments_loaded(SheafLibrary *lib);

/* Does `symbol` have a live version? */
bool tu_has_symbol(SheafLibrary *lib, const char *symbol);

/* The live version numbers of `symbol`, newest first, as list_versions reports them. */
size_t tu_list_version_numbers(SheafLibrary *lib, const char *symbol, int64_t *out, size_t cap);

#endif /* TESTKIT_H */

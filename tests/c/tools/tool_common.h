/*
 * tool_common.h — shared bits of the process tools in tests/c/tools/ (C99 + POSIX).
 *
 * The tools are small programs that other test suites (e.g. the Python ones) start as separate
 * processes to race against them on one store. Each opens the store itself and exits with
 * status 0 on success, 1 (with a message on stderr) on any unexpected status, 2 on bad usage.
 */
#ifndef SHEAF_TOOL_COMMON_H
#define SHEAF_TOOL_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sheaf.h"

static const char *tool_name = "sheaf_tool";

static inline void tool_die(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", tool_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Exits with the status name and message when `st` is not SHEAF_OK. Frees `err`. */
static inline void tool_check(SheafStatus st, SheafError *err, const char *what) {
    if (st == SHEAF_OK) return;
    fprintf(stderr, "%s: %s failed: %s (%d): %s\n", tool_name, what, sheaf_status_name(st),
            (int)st, err ? sheaf_error_message(err) : "(no error object)");
    sheaf_error_free(err);
    exit(1);
}

/* A non-negative decimal argument, or exit 2. */
static inline long long tool_parse_count(const char *text, const char *what) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0) {
        fprintf(stderr, "%s: %s must be a non-negative integer, not \"%s\"\n", tool_name, what,
                text);
        exit(2);
    }
    return v;
}

static inline SheafStore *tool_open_store(const char *uri) {
    SheafStore *store = NULL;
    SheafError *err = NULL;
    tool_check(sheaf_store_open(uri, strlen(uri), &store, &err), err, "sheaf_store_open");
    return store;
}

static inline void tool_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Closes a FILE opened for writing; any write error is fatal. */
static inline void tool_close_output(FILE *f, const char *path) {
    if (ferror(f) || fclose(f) != 0) tool_die("cannot write %s: %s", path, strerror(errno));
}

#endif /* SHEAF_TOOL_COMMON_H */

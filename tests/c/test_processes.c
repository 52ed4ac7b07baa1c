/*
 * test_processes.c — several processes on one LMDB store (POSIX: fork, pipes, SIGKILL).
 *
 * Every process opens the store itself, after fork: an LMDB environment (like any Sheaf handle)
 * must never be carried across fork. The parent holds no store open while children run.
 *
 * (a) Two writers at once, to their own symbols and to one shared symbol: afterwards every
 *     write is present exactly once, the shared symbol's versions are contiguous, and every
 *     version reads back with the content its metadata describes.
 * (b) A writer killed with SIGKILL at a random moment, several times: every version it reported
 *     as committed reads back intact, the versions are contiguous, nothing partial is visible,
 *     and the store still takes writes.
 * (c) Four processes appending 50 batches each to one symbol: every batch lands exactly once,
 *     each writer's batches in its own order, the versions are contiguous 0..199, and every
 *     intermediate version reads back as exactly the first version+1 batches of the latest.
 * (d) One process appending to an indexed symbol while another updates a span of it: commits
 *     that lose a race are re-based, so no append and no update is lost, and every version is a
 *     consistent state (all appends so far, the span from exactly one update).
 *
 * SHEAF_TEST_SEED fixes the random kill moments; SHEAF_TEST_KILL_ROUNDS the number of kills;
 * SHEAF_TEST_SCALE (< 1 under valgrind) shrinks (c).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testkit.h"

#define WRITES_PER_WRITER 50
#define SMALL_ROWS 20
#define KILL_ROWS 20000

/* ---- content that can be checked from the metadata alone ------------------------------- */

static int64_t cell_value(int64_t who, int64_t iter, int64_t row) {
    return who * INT64_C(1000000000) + iter * INT64_C(100000) + row;
}

/* Writes columns who, iter, v (v = cell_value) with metadata "who=W iter=I". */
static SheafStatus write_tagged(SheafLibrary *lib, const char *symbol, int64_t who, int64_t iter,
                                int64_t rows, uint64_t *version) {
    int64_t *who_col = malloc(sizeof(int64_t) * (size_t)rows);
    int64_t *iter_col = malloc(sizeof(int64_t) * (size_t)rows);
    int64_t *v_col = malloc(sizeof(int64_t) * (size_t)rows);
    REQUIRE(who_col && iter_col && v_col);
    for (int64_t r = 0; r < rows; r++) {
        who_col[r] = who;
        iter_col[r] = iter;
        v_col[r] = cell_value(who, iter, r);
    }
    ab_column cols[3];
    ab_make_int64(&cols[0], "who", who_col, NULL, rows);
    ab_make_int64(&cols[1], "iter", iter_col, NULL, rows);
    ab_make_int64(&cols[2], "v", v_col, NULL, rows);
    free(who_col);
    free(iter_col);
    free(v_col);
    char metadata[64];
    snprintf(metadata, sizeof metadata, "who=%lld iter=%lld", (long long)who, (long long)iter);
    struct ArrowArrayStream stream;
    ab_stream_from_columns(&stream, cols, 3, NULL);
    SheafError *err = NULL;
    SheafStatus st = sheaf_table_write(lib, STR(symbol), &stream, (const uint8_t *)metadata,
                                       strlen(metadata), NULL, 0, version, &err);
    if (st != SHEAF_OK) {
        fprintf(stderr, "[pid %d] write of %s who=%lld iter=%lld failed: %s\n", (int)getpid(),
                symbol, (long long)who, (long long)iter, sheaf_error_message(err));
    }
    sheaf_error_free(err);
    return st;
}

/*
 * Reads one version in full and checks it against its own metadata. Sets *who / *iter from the
 * metadata. Returns false (with failures recorded) when anything is off.
 */
static bool check_tagged_version(SheafLibrary *lib, const char *symbol, int64_t version,
                                 int64_t rows, int64_t *who, int64_t *iter) {
    char options[64];
    ab_table t;
    SheafBytes info = {NULL, 0}, meta = {NULL, 0};
    int failures_before = tu_failures;
    snprintf(options, sizeof options, "{\"as_of\": %lld}", (long long)version);
    tu_read(lib, symbol, options, &t, &info, &meta);

    char text[64] = "";
    long long w = -1, i = -1;
    if (meta.len < sizeof text) memcpy(text, meta.data, meta.len);
    CHECK_MSG(sscanf(text, "who=%lld iter=%lld", &w, &i) == 2, "%s v%lld: metadata \"%s\"", symbol,
              (long long)version, text);
    sheaf_bytes_free(&meta);
    *who = w;
    *iter = i;

    json_value parsed;
    int64_t v = -1, info_rows = -1;
    tu_parse_bytes(&info, &parsed);
    CHECK(json_get_int(&parsed, "version", &v) && v == version);
    CHECK(json_get_int(&parsed, "rows", &info_rows) && info_rows == rows);
    json_free(&parsed);

    CHECK_MSG(t.n_rows == rows, "%s v%lld has %lld rows, expected %lld", symbol, (long long)version,
              (long long)t.n_rows, (long long)rows);
    int64_t c_who = ab_table_column(&t, "who"), c_iter = ab_table_column(&t, "iter"),
            c_v = ab_table_column(&t, "v");
    CHECK(c_who == 0 && c_iter == 1 && c_v == 2);
    int bad = 0;
    for (int64_t r = 0; r < t.n_rows && c_v >= 0 && c_who >= 0 && c_iter >= 0; r++) {
        int64_t k;
        const struct ArrowArray *a = ab_table_cell(&t, c_who, r, &k);
        bad += ab_cell_int64(a, k) != w;
        a = ab_table_cell(&t, c_iter, r, &k);
        bad += ab_cell_int64(a, k) != i;
        a = ab_table_cell(&t, c_v, r, &k);
        bad += !ab_cell_valid(a, k) || ab_cell_int64(a, k) != cell_value(w, i, r);
    }
    CHECK_MSG(bad == 0, "%s v%lld: %d cell(s) do not match who=%lld iter=%lld", symbol,
              (long long)version, bad, w, i);
    ab_table_free(&t);
    return tu_failures == failures_before;
}

/* ---- (a) concurrent writers ------------------------------------------------------------- */

/* The body of a writer process; returns its exit status. */
static int concurrent_writer(const char *uri, int who, int start_fd) {
    char go;
    /* Wait for the parent's signal so that both writers really run at the same time. */
    if (read(start_fd, &go, 1) != 1) return 2;
    close(start_fd);
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "procs", "{\"rows_per_segment\": 8}");
    char own[16];
    snprintf(own, sizeof own, "own_%d", who);
    int status = 0;
    for (int i = 0; i < WRITES_PER_WRITER && status == 0; i++) {
        uint64_t v_own = 0, v_shared = 0;
        if (write_tagged(lib, own, who, i, SMALL_ROWS, &v_own) != SHEAF_OK ||
            write_tagged(lib, "shared", who, i, SMALL_ROWS, &v_shared) != SHEAF_OK) {
            status = 3;
        } else if (v_own != (uint64_t)i) {
            fprintf(stderr, "writer %d: %s iteration %d got version %llu\n", who, own, i,
                    (unsigned long long)v_own);
            status = 4;
        }
    }
    sheaf_library_free(lib);
    sheaf_store_free(store);
    return status;
}

static void test_concurrent_writers(const char *dir) {
    char *uri = tu_lmdb_uri(dir, "concurrent");
    int start[2];
    pid_t pids[2];
    REQUIRE(pipe(start) == 0);
    fflush(NULL); /* children must not flush the parent's buffered output again */
    for (int who = 0; who < 2; who++) {
        pids[who] = fork();
        REQUIRE(pids[who] >= 0);
        if (pids[who] == 0) {
            close(start[1]);
            int status = concurrent_writer(uri, who, start[0]);
            free(uri);
            exit(status + (tu_failures ? 10 : 0));
        }
    }
    close(start[0]);
    REQUIRE(write(start[1], "go", 2) == 2); /* one byte for each writer */
    close(start[1]);
    for (int who = 0; who < 2; who++) {
        int status = 0;
        REQUIRE(waitpid(pids[who], &status, 0) == pids[who]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "writer %d ended with status 0x%x", who, status);
    }

    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "procs", NULL);
    int64_t versions[2 * WRITES_PER_WRITER + 8];

    /* Each writer's own symbol: versions 0..49, version i written in iteration i. */
    for (int who = 0; who < 2; who++) {
        char own[16];
        snprintf(own, sizeof own, "own_%d", who);
        size_t n = tu_list_version_numbers(lib, own, versions, sizeof versions / sizeof versions[0]);
        CHECK_EQ_INT(n, WRITES_PER_WRITER);
        for (size_t k = 0; k < n; k++) {
            int64_t w, i;
            CHECK_EQ_INT(versions[k], (int64_t)(n - 1 - k)); /* newest first, contiguous */
            check_tagged_version(lib, own, versions[k], SMALL_ROWS, &w, &i);
            CHECK_EQ_INT(w, who);
            CHECK_EQ_INT(i, versions[k]);
        }
    }

    /* The shared symbol: 100 contiguous versions, each (writer, iteration) exactly once, each
     * writer's iterations in increasing version order. */
    size_t n = tu_list_version_numbers(lib, "shared", versions, sizeof versions / sizeof versions[0]);
    CHECK_EQ_INT(n, 2 * WRITES_PER_WRITER);
    int seen[2][WRITES_PER_WRITER];
    int64_t last_iter[2] = {-1, -1};
    memset(seen, 0, sizeof seen);
    for (size_t k = 0; k < n; k++) {
        int64_t version = versions[n - 1 - k]; /* oldest first */
        int64_t w = -1, i = -1;
        CHECK_EQ_INT(version, (int64_t)k);
        check_tagged_version(lib, "shared", version, SMALL_ROWS, &w, &i);
        if (w < 0 || w > 1 || i < 0 || i >= WRITES_PER_WRITER) {
            tu_fail(__FILE__, __LINE__, "shared v%lld: unexpected writer %lld iteration %lld",
                    (long long)version, (long long)w, (long long)i);
            continue;
        }
        seen[w][i]++;
        CHECK_MSG(i > last_iter[w], "shared v%lld: writer %lld iteration %lld after %lld",
                  (long long)version, (long long)w, (long long)i, (long long)last_iter[w]);
        last_iter[w] = i;
    }
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < WRITES_PER_WRITER; i++) {
            CHECK_MSG(seen[w][i] == 1, "writer %d iteration %d is in 'shared' %d time(s)", w, i, seen[w][i]);
        }
    }
    sheaf_library_free(lib);
    sheaf_store_free(store);
    free(uri);
}

/* ---- (b) a writer killed with SIGKILL --------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The victim: writes big versions forever, reporting each committed version number. */
static int victim(const char *uri, int round, int report_fd) {
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "kill", "{\"rows_per_segment\": 2000}");
    for (int i = 0; i < 100000; i++) {
        uint64_t version;
        if (write_tagged(lib, "victim", round, i, KILL_ROWS, &version) != SHEAF_OK) return 3;
        /* Only now is the version committed, so only now may it be reported. */
        if (write(report_fd, &version, sizeof version) != (ssize_t)sizeof version) return 4;
    }
    return 0;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void test_sigkill(const char *dir, int rounds) {
    char *uri = tu_lmdb_uri(dir, "killed");
    uint64_t reported[4096];
    size_t n_reported = 0;
    int64_t expected_next = 0; /* the version the store must give the parent's own write */

    for (int round = 0; round < rounds; round++) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            int status = victim(uri, round + 1, fds[1]);
            _exit(status); /* only reached on failure (or after 100000 writes) */
        }
        close(fds[1]);

        /* Let it commit 1..4 versions, then kill it a random 0..30 ms later: most kills land
         * in the middle of a write. */
        int wanted = 1 + (int)(rng_next() % 4);
        int got = 0;
        while (got < wanted) {
            uint64_t v;
            ssize_t r = read(fds[0], &v, sizeof v);
            if (r != (ssize_t)sizeof v) break;
            REQUIRE(n_reported < sizeof reported / sizeof reported[0]);
            reported[n_reported++] = v;
            got++;
        }
        sleep_us((long)(rng_next() % 30000));
        kill(pid, SIGKILL);
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the victim ended by itself (status 0x%x) after %d report(s)", round,
                  status, got);
        /* Whatever it reported before dying counts too. */
        for (;;) {
            uint64_t v;
            ssize_t r = read(fds[0], &v, sizeof v);
            if (r != (ssize_t)sizeof v) break;
            REQUIRE(n_reported < sizeof reported / sizeof reported[0]);
            reported[n_reported++] = v;
        }
        close(fds[0]);

        /* Reopen: the versions are contiguous, every reported one is there and intact. */
        SheafStore *store = tu_open_store(uri);
        SheafLibrary *lib = tu_open_library(store, "kill", NULL);
        int64_t versions[4096];
        size_t n = tu_list_version_numbers(lib, "victim", versions, sizeof versions / sizeof versions[0]);
        REQUIRE(n > 0);
        int64_t latest = versions[0];
        CHECK_MSG((int64_t)n == latest + 1, "round %d: %zu versions listed, latest is %lld", round, n,
                  (long long)latest);
        for (size_t k = 0; k < n; k++) CHECK_EQ_INT(versions[k], latest - (int64_t)k);
        for (size_t k = 0; k < n_reported; k++) {
            CHECK_MSG((int64_t)reported[k] <= latest, "round %d: reported v%llu is missing (latest %lld)",
                      round, (unsigned long long)reported[k], (long long)latest);
        }
        /* Read every version this round added, plus one older one: all complete. */
        int64_t first = expected_next > 0 ? expected_next - 1 : 0;
        for (int64_t v = first; v <= latest; v++) {
            int64_t who, iter;
            check_tagged_version(lib, "victim", v, v == expected_next - 1 ? 1 : KILL_ROWS, &who, &iter);
            if (v >= expected_next) CHECK_EQ_INT(who, round + 1);
        }
        /* The store still takes writes (LMDB recovered the lock the victim may have held). */
        uint64_t mine = 0;
        CHECK_EQ_INT(write_tagged(lib, "victim", 0, round, 1, &mine), SHEAF_OK);
        CHECK_EQ_INT(mine, latest + 1);
        expected_next = (int64_t)mine + 1;
        printf("  kill round %d: %d reported before the kill, %lld version(s) now\n", round, got,
               (long long)expected_next);
        sheaf_library_free(lib);
        sheaf_store_free(store);
    }
    free(uri);
}

/* ---- (c) concurrent appenders ----------------------------------------------------------- */

#define APPENDERS 4
#define APPEND_ROWS 2 /* rows per appended batch */

/* What an appender reports for each committed batch. */
typedef struct append_report {
    int32_t writer;
    int32_t seq;
    uint64_t version;
} append_report;

static int appender(const char *uri, int writer, int batches, int start_fd, int report_fd) {
    char go;
    if (read(start_fd, &go, 1) != 1) return 2;
    close(start_fd);
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "appends", NULL);
    int status = 0;
    uint64_t last = 0;
    for (int seq = 0; seq < batches && status == 0; seq++) {
        int64_t w[APPEND_ROWS], q[APPEND_ROWS];
        for (int r = 0; r < APPEND_ROWS; r++) {
            w[r] = writer;
            q[r] = seq;
        }
        ab_column cols[2];
        struct ArrowArrayStream stream;
        ab_make_int64(&cols[0], "writer", w, NULL, APPEND_ROWS);
        ab_make_int64(&cols[1], "seq", q, NULL, APPEND_ROWS);
        ab_stream_from_columns(&stream, cols, 2, NULL);
        uint64_t version = UINT64_MAX;
        SheafError *err = NULL;
        SheafStatus st = sheaf_table_append(lib, STR("appended"), &stream, NULL, 0, NULL, 0, &version,
                                            &err);
        if (st != SHEAF_OK) {
            fprintf(stderr, "appender %d: batch %d: %s: %s\n", writer, seq, sheaf_status_name(st),
                    sheaf_error_message(err));
            status = 3;
        } else if (seq > 0 && version <= last) {
            fprintf(stderr, "appender %d: batch %d got version %llu after %llu\n", writer, seq,
                    (unsigned long long)version, (unsigned long long)last);
            status = 4;
        } else {
            append_report rep = {writer, seq, version};
            if (write(report_fd, &rep, sizeof rep) != (ssize_t)sizeof rep) status = 5;
        }
        sheaf_error_free(err);
        last = version;
    }
    sheaf_library_free(lib);
    sheaf_store_free(store);
    return status;
}

/* Reads column `name` of a table into out (as many rows as the table has, up to cap). */
static void int64_column(const ab_table *t, const char *name, int64_t *out, int64_t cap) {
    int64_t col = ab_table_column(t, name);
    REQUIRE(col >= 0);
    for (int64_t r = 0; r < t->n_rows && r < cap; r++) {
        int64_t k;
        const struct ArrowArray *a = ab_table_cell(t, col, r, &k);
        REQUIRE(a != NULL);
        out[r] = ab_cell_int64(a, k);
    }
}

static void test_concurrent_appenders(const char *dir) {
    const int batches = tu_scaled(50, 5);
    const int total = APPENDERS * batches;
    char *uri = tu_lmdb_uri(dir, "appenders");
    int start[2], reports[2];
    pid_t pids[APPENDERS];
    REQUIRE(pipe(start) == 0 && pipe(reports) == 0);
    fflush(NULL);
    for (int w = 0; w < APPENDERS; w++) {
        pids[w] = fork();
        REQUIRE(pids[w] >= 0);
        if (pids[w] == 0) {
            close(start[1]);
            close(reports[0]);
            int status = appender(uri, w, batches, start[0], reports[1]);
            free(uri);
            _exit(status);
        }
    }
    close(start[0]);
    close(reports[1]);
    REQUIRE(write(start[1], "gogo", APPENDERS) == APPENDERS);
    close(start[1]);

    /* Collect the reports while the appenders run (the pipe must not fill up). */
    append_report *by_version = calloc((size_t)total, sizeof *by_version);
    int *reported = calloc((size_t)total, sizeof *reported);
    REQUIRE(by_version && reported);
    append_report rep;
    int n_reports = 0;
    while (read(reports[0], &rep, sizeof rep) == (ssize_t)sizeof rep) {
        n_reports++;
        if (rep.version >= (uint64_t)total) {
            tu_fail(__FILE__, __LINE__, "appender %d batch %d reported version %llu (of %d)",
                    rep.writer, rep.seq, (unsigned long long)rep.version, total);
            continue;
        }
        reported[rep.version]++;
        by_version[rep.version] = rep;
    }
    close(reports[0]);
    for (int w = 0; w < APPENDERS; w++) {
        int status = 0;
        REQUIRE(waitpid(pids[w], &status, 0) == pids[w]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "appender %d ended with status 0x%x",
                  w, status);
    }
    CHECK_EQ_INT(n_reports, total);
    for (int v = 0; v < total; v++) {
        CHECK_MSG(reported[v] == 1, "version %d was reported %d time(s)", v, reported[v]);
    }

    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "appends", NULL);
    int64_t *versions = malloc(sizeof(int64_t) * (size_t)(total + 8));
    REQUIRE(versions != NULL);
    size_t n = tu_list_version_numbers(lib, "appended", versions, (size_t)total + 8);
    CHECK_EQ_INT(n, total);
    for (size_t k = 0; k < n; k++) CHECK_EQ_INT(versions[k], total - 1 - (int64_t)k);

    /* The latest version: every (writer, seq) batch once, each writer's seqs in order, and
     * the batch that made version v is the v-th batch of the content. */
    const int64_t rows = (int64_t)total * APPEND_ROWS;
    int64_t *writer_col = malloc(sizeof(int64_t) * (size_t)rows);
    int64_t *seq_col = malloc(sizeof(int64_t) * (size_t)rows);
    int64_t *other = malloc(sizeof(int64_t) * (size_t)rows);
    REQUIRE(writer_col && seq_col && other);
    ab_table t;
    tu_read(lib, "appended", NULL, &t, NULL, NULL);
    CHECK_EQ_INT(t.n_rows, rows);
    if (t.n_rows == rows) {
        int64_column(&t, "writer", writer_col, rows);
        int64_column(&t, "seq", seq_col, rows);
        int next_seq[APPENDERS] = {0};
        int bad = 0;
        for (int v = 0; v < total; v++) {
            int64_t w = writer_col[v * APPEND_ROWS], q = seq_col[v * APPEND_ROWS];
            for (int r = 1; r < APPEND_ROWS; r++) {
                bad += writer_col[v * APPEND_ROWS + r] != w || seq_col[v * APPEND_ROWS + r] != q;
            }
            if (w < 0 || w >= APPENDERS || q != next_seq[w]) {
                if (bad++ < 5)
                    tu_fail(__FILE__, __LINE__, "batch %d of the content is writer %lld seq %lld",
                            v, (long long)w, (long long)q);
                continue;
            }
            next_seq[w]++;
            if (reported[v] == 1 && (by_version[v].writer != w || by_version[v].seq != q)) {
                if (bad++ < 5)
                    tu_fail(__FILE__, __LINE__,
                            "version %d was reported for writer %d seq %d, but its last batch is "
                            "writer %lld seq %lld",
                            v, by_version[v].writer, by_version[v].seq, (long long)w, (long long)q);
            }
        }
        for (int w = 0; w < APPENDERS; w++) CHECK_EQ_INT(next_seq[w], batches);
        CHECK_EQ_INT(bad, 0);
    }
    ab_table_free(&t);

    /* Every intermediate version: exactly the first v+1 batches of the latest. */
    int bad_versions = 0;
    for (int v = 0; v < total; v++) {
        char options[48];
        snprintf(options, sizeof options, "{\"as_of\": %d}", v);
        tu_read(lib, "appended", options, &t, NULL, NULL);
        int64_t expected_rows = (int64_t)(v + 1) * APPEND_ROWS;
        bool ok = t.n_rows == expected_rows;
        if (ok) {
            int64_column(&t, "writer", other, rows);
            ok = memcmp(other, writer_col, sizeof(int64_t) * (size_t)expected_rows) == 0;
            int64_column(&t, "seq", other, rows);
            ok = ok && memcmp(other, seq_col, sizeof(int64_t) * (size_t)expected_rows) == 0;
        }
        if (!ok && bad_versions++ < 5) {
            tu_fail(__FILE__, __LINE__, "version %d has %lld rows (expected %lld) or other content",
                    v, (long long)t.n_rows, (long long)expected_rows);
        }
        ab_table_free(&t);
    }
    CHECK_EQ_INT(bad_versions, 0);
    printf("  %d appenders x %d batches: %d contiguous versions checked\n", APPENDERS, batches, total);
    free(writer_col);
    free(seq_col);
    free(other);
    free(versions);
    free(by_version);
    free(reported);
    sheaf_library_free(lib);
    sheaf_store_free(store);
    free(uri);
}

/* ---- (d) an updater racing an appender ---------------------------------------------------- */

#define BASE_ROWS 10
#define SPAN_LO 2
#define SPAN_HI 5
#define TS_BASE INT64_C(1700000000000000000)

static SheafStatus ts_call(SheafLibrary *lib, bool update, int64_t first, int n, int64_t value_of_k,
                           int64_t tag, const char *options, uint64_t *version) {
    int64_t ts[BASE_ROWS], v[BASE_ROWS];
    REQUIRE(n <= BASE_ROWS);
    for (int i = 0; i < n; i++) {
        ts[i] = TS_BASE + (first + i) * INT64_C(1000000000);
        v[i] = tag * value_of_k + first + i;
    }
    ab_column cols[2];
    struct ArrowArrayStream stream;
    ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts, NULL, n);
    ab_make_int64(&cols[1], "v", v, NULL, n);
    ab_stream_from_columns(&stream, cols, 2, NULL);
    SheafError *err = NULL;
    SheafStatus st = (update ? sheaf_table_update : sheaf_table_append)(
        lib, STR("raced"), &stream, NULL, 0, options, options ? strlen(options) : 0, version, &err);
    if (st != SHEAF_OK) {
        fprintf(stderr, "[pid %d] %s at %lld: %s\n", (int)getpid(), update ? "update" : "append",
                (long long)first, sheaf_error_message(err));
    }
    sheaf_error_free(err);
    return st;
}

/* Appender (role 0): appends row BASE_ROWS + i, i = 0..n-1. Updater (role 1): replaces rows
 * SPAN_LO..SPAN_HI with v = 1000 * (j + 1) + k, j = 0..n-1. */
static int racer_role(const char *uri, int role, int n, int start_fd) {
    char go;
    if (read(start_fd, &go, 1) != 1) return 2;
    close(start_fd);
    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "raced", NULL);
    int status = 0;
    for (int i = 0; i < n && status == 0; i++) {
        uint64_t version;
        if (role == 0) {
            if (ts_call(lib, false, BASE_ROWS + i, 1, 0, 0, NULL, &version) != SHEAF_OK) status = 3;
        } else {
            if (ts_call(lib, true, SPAN_LO, SPAN_HI - SPAN_LO + 1, 1000, i + 1, NULL, &version) !=
                SHEAF_OK)
                status = 4;
        }
    }
    sheaf_library_free(lib);
    sheaf_store_free(store);
    return status;
}

static void test_update_races_append(const char *dir) {
    const int n = tu_scaled(30, 6);
    char *uri = tu_lmdb_uri(dir, "raced");
    {
        SheafStore *store = tu_open_store(uri);
        SheafLibrary *lib = tu_open_library(store, "raced", "{\"rows_per_segment\": 3}");
        uint64_t version = 99;
        int64_t ts[BASE_ROWS], v[BASE_ROWS];
        for (int k = 0; k < BASE_ROWS; k++) {
            ts[k] = TS_BASE + k * INT64_C(1000000000);
            v[k] = k;
        }
        ab_column cols[2];
        struct ArrowArrayStream stream;
        ab_make_timestamp(&cols[0], "ts", "tsn:UTC", ts, NULL, BASE_ROWS);
        ab_make_int64(&cols[1], "v", v, NULL, BASE_ROWS);
        ab_stream_from_columns(&stream, cols, 2, NULL);
        EXPECT_OK(sheaf_table_write(lib, STR("raced"), &stream, NULL, 0, STR("{\"index\": \"ts\"}"),
                                    &version, &err));
        CHECK_EQ_INT(version, 0);
        sheaf_library_free(lib);
        sheaf_store_free(store);
    }
    int start[2];
    pid_t pids[2];
    REQUIRE(pipe(start) == 0);
    fflush(NULL);
    for (int role = 0; role < 2; role++) {
        pids[role] = fork();
        REQUIRE(pids[role] >= 0);
        if (pids[role] == 0) {
            close(start[1]);
            int status = racer_role(uri, role, n, start[0]);
            free(uri);
            _exit(status);
        }
    }
    close(start[0]);
    REQUIRE(write(start[1], "go", 2) == 2);
    close(start[1]);
    for (int role = 0; role < 2; role++) {
        int status = 0;
        REQUIRE(waitpid(pids[role], &status, 0) == pids[role]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s ended with status 0x%x",
                  role ? "the updater" : "the appender", status);
    }

    SheafStore *store = tu_open_store(uri);
    SheafLibrary *lib = tu_open_library(store, "raced", NULL);
    int64_t versions[256];
    size_t nv = tu_list_version_numbers(lib, "raced", versions, 256);
    CHECK_EQ_INT(nv, 2 * n + 1);
    int64_t prev_appended = 0, prev_update = 0, bad = 0;
    int64_t *ts = malloc(sizeof(int64_t) * (size_t)(BASE_ROWS + n));
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(BASE_ROWS + n));
    REQUIRE(ts && v);
    for (int64_t version = 0; version <= 2 * n && (size_t)version < nv + 1; version++) {
        char options[48];
        ab_table t;
        snprintf(options, sizeof options, "{\"as_of\": %lld}", (long long)version);
        tu_read(lib, "raced", options, &t, NULL, NULL);
        int64_t rows = t.n_rows, appended = rows - BASE_ROWS;
        if (appended < prev_appended || appended > prev_appended + 1 || appended > n) {
            if (bad++ < 5)
                tu_fail(__FILE__, __LINE__, "v%lld has %lld rows after %lld appended rows",
                        (long long)version, (long long)rows, (long long)prev_appended);
            ab_table_free(&t);
            continue;
        }
        int64_t c_ts = ab_table_column(&t, "ts"), c_v = ab_table_column(&t, "v");
        REQUIRE(c_ts >= 0 && c_v >= 0);
        for (int64_t r = 0; r < rows; r++) {
            int64_t k;
            const struct ArrowArray *a = ab_table_cell(&t, c_ts, r, &k);
            ts[r] = ab_cell_int64(a, k);
            a = ab_table_cell(&t, c_v, r, &k);
            v[r] = ab_cell_int64(a, k);
        }
        ab_table_free(&t);
        /* Rows in index order, one per key; the span from exactly one update, the rest
         * untouched; one more row or one more update than the previous version. */
        int64_t update = -1;
        bool ok = true;
        for (int64_t r = 0; r < rows; r++) {
            ok &= ts[r] == TS_BASE + r * INT64_C(1000000000);
            if (r >= SPAN_LO && r <= SPAN_HI) {
                int64_t j = (v[r] - r) / 1000;
                ok &= (v[r] - r) % 1000 == 0;
                if (update < 0) update = j;
                ok &= j == update;
            } else {
                ok &= v[r] == r;
            }
        }
        int64_t steps = (appended - prev_appended) + (update - prev_update);
        ok &= update >= prev_update && (version == 0 ? steps == 0 : steps == 1);
        if (!ok && bad++ < 5) {
            tu_fail(__FILE__, __LINE__,
                    "v%lld: %lld appended rows and update #%lld after %lld and #%lld (or rows out of "
                    "place)",
                    (long long)version, (long long)appended, (long long)update,
                    (long long)prev_appended, (long long)prev_update);
        }
        prev_appended = appended;
        prev_update = update;
    }
    CHECK_EQ_INT(prev_appended, n);
    CHECK_EQ_INT(prev_update, n);
    CHECK_EQ_INT(bad, 0);
    printf("  an appender and an updater, %d commits each: %zu consistent versions\n", n, nv);
    free(ts);
    free(v);
    sheaf_library_free(lib);
    sheaf_store_free(store);
    free(uri);
}

int main(void) {
    const char *seed_env = getenv("SHEAF_TEST_SEED");
    const char *rounds_env = getenv("SHEAF_TEST_KILL_ROUNDS");
    rng_state = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    if (rng_state == 0) rng_state = 1;
    int rounds = rounds_env ? atoi(rounds_env) : 4;
    printf("  seed %llu (set SHEAF_TEST_SEED to repeat), %d kill round(s)\n",
           (unsigned long long)rng_state, rounds);

    char *dir = tu_make_tmpdir("processes");
    test_concurrent_writers(dir);
    test_sigkill(dir, rounds);
    test_concurrent_appenders(dir);
    test_update_races_append(dir);
    tu_remove_dir(dir);
    free(dir);
    return tu_finish("test_processes");
}

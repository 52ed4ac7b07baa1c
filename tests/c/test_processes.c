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
 *
 * SHEAF_TEST_SEED fixes the random kill moments; SHEAF_TEST_KILL_ROUNDS the number of kills.
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
    tu_remove_dir(dir);
    free(dir);
    return tu_finish("test_processes");
}

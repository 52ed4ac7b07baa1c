/*
 * test_processes_kv.c — key spaces shared by several processes on one LMDB store (POSIX: fork,
 * pipes). Every process opens the store itself, after fork; the parent holds no store open
 * while children run.
 *
 * (a) Four processes race NEW_ONLY puts (sheaf_kv_put_multi, per-key statuses, each with its
 *     own chunk size, two going up and two down) on the same 2 000 keys: every key has exactly one winner, every loser got
 *     SHEAF_ERR_KEY_EXISTS, and the stored value is the winner's.
 * (b) A queue of 2 000 items filled by one process while four others pop it with CONSUME
 *     listings: every item is popped exactly once and the queue ends empty.
 * (c) A WAIT get woken by a put from another process: the header promises such puts are seen
 *     within 10 ms; checked with a generous margin.
 *
 * SHEAF_TEST_SCALE (< 1 under valgrind) shrinks the number of keys and items.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testkit.h"

#define RACERS 4
#define CONSUMERS 4
#define KEY_LEN 10 /* "key-%06d" and "item-%05d" */

/* The parent's store directory and URI, which forked children free before they exit (valgrind
 * checks the children for leaks too). */
static char *test_dir;
static char *test_uri;

static void child_exit(int status) {
    free(test_uri);
    free(test_dir);
    _exit(status);
}

/* Per-key outcomes a racer reports. */
enum { LOST = 'L', WON = 'W', OTHER = '?' };

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static SheafKeySpace *open_space(SheafStore *store, const char *name) {
    SheafKeySpace *kv = NULL;
    EXPECT_OK(sheaf_kv_open(store, STR(name), &kv, &err));
    return kv;
}

/* Writes all of buf to fd (pipes may take it in pieces). */
static bool write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads fd to its end into buf (at most cap bytes); returns the byte count. */
static size_t read_all(int fd, void *buf, size_t cap) {
    char *p = buf;
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, p + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got == cap) {
            char extra;
            if (read(fd, &extra, 1) > 0) tu_fail(__FILE__, __LINE__, "a child sent too much");
            break;
        }
    }
    return got;
}

/* ---- (a) NEW_ONLY racers ------------------------------------------------------------------- */

/* A racer: NEW_ONLY put_multi in chunks; reports one outcome byte per key on report_fd. */
static int racer(const char *uri, int id, int n_keys, int start_fd, int report_fd) {
    char go;
    if (read(start_fd, &go, 1) != 1) return 2;
    close(start_fd);
    SheafStore *store = tu_open_store(uri);
    SheafKeySpace *kv = open_space(store, "race");
    const int chunk = 37 + 13 * id; /* different chunk boundaries in every racer */
    char *keys = malloc((size_t)chunk * KEY_LEN + 1);
    size_t *key_sizes = malloc(sizeof(size_t) * (size_t)chunk);
    size_t *value_sizes = malloc(sizeof(size_t) * (size_t)chunk);
    int32_t *statuses = malloc(sizeof(int32_t) * (size_t)chunk);
    char *outcome = malloc((size_t)n_keys);
    char value[16];
    snprintf(value, sizeof value, "r%d", id);
    char *values = malloc((size_t)chunk * strlen(value));
    REQUIRE(keys && key_sizes && value_sizes && statuses && outcome && values);
    int status = 0;
    /* Even racers go up, odd ones down: they are bound to meet on the same keys. */
    const int n_chunks = (n_keys + chunk - 1) / chunk;
    for (int c = 0; c < n_chunks && status == 0; c++) {
        int first = (id % 2 ? n_chunks - 1 - c : c) * chunk;
        int n = n_keys - first < chunk ? n_keys - first : chunk;
        for (int i = 0; i < n; i++) {
            snprintf(keys + (size_t)i * KEY_LEN, KEY_LEN + 1, "key-%06d", first + i);
            key_sizes[i] = KEY_LEN;
            memcpy(values + (size_t)i * strlen(value), value, strlen(value));
            value_sizes[i] = strlen(value);
            statuses[i] = -1;
        }
        SheafError *err = NULL;
        SheafStatus st = sheaf_kv_put_multi(kv, (size_t)n, (const uint8_t *)keys, key_sizes,
                                            (const uint8_t *)values, value_sizes,
                                            SHEAF_MODE_NEW_ONLY, statuses, &err);
        if (st != SHEAF_OK && st != SHEAF_ERR_KEY_EXISTS) {
            fprintf(stderr, "racer %d: put_multi at key %d: %s: %s\n", id, first,
                    sheaf_status_name(st), sheaf_error_message(err));
            status = 3;
        }
        sheaf_error_free(err);
        int lost = 0;
        for (int i = 0; i < n; i++) {
            if (statuses[i] == SHEAF_OK) {
                outcome[first + i] = WON;
            } else if (statuses[i] == SHEAF_ERR_KEY_EXISTS) {
                outcome[first + i] = LOST;
                lost++;
            } else {
                outcome[first + i] = OTHER;
                fprintf(stderr, "racer %d: key %d: status %d\n", id, first + i, (int)statuses[i]);
            }
        }
        sleep_ms(1); /* spread the racers' work over time, so that they overlap */
        if (status == 0 && (st == SHEAF_ERR_KEY_EXISTS) != (lost > 0)) {
            fprintf(stderr, "racer %d: put_multi returned %s with %d key(s) lost\n", id,
                    sheaf_status_name(st), lost);
            status = 4;
        }
    }
    if (status == 0 && !write_all(report_fd, outcome, (size_t)n_keys)) status = 5;
    free(keys);
    free(key_sizes);
    free(value_sizes);
    free(statuses);
    free(outcome);
    free(values);
    sheaf_kv_free(kv);
    sheaf_store_free(store);
    return status;
}

static void test_new_only_race(const char *dir) {
    const int n_keys = tu_scaled(2000, 200);
    char *uri = test_uri = tu_lmdb_uri(dir, "race");
    int start[2], reports[RACERS][2];
    pid_t pids[RACERS];
    REQUIRE(pipe(start) == 0);
    fflush(NULL);
    for (int r = 0; r < RACERS; r++) {
        REQUIRE(pipe(reports[r]) == 0);
        pids[r] = fork();
        REQUIRE(pids[r] >= 0);
        if (pids[r] == 0) {
            close(start[1]);
            close(reports[r][0]);
            child_exit(racer(uri, r, n_keys, start[0], reports[r][1]));
        }
        close(reports[r][1]);
    }
    close(start[0]);
    REQUIRE(write(start[1], "gogo", RACERS) == RACERS);
    close(start[1]);

    char *outcomes[RACERS];
    for (int r = 0; r < RACERS; r++) {
        outcomes[r] = calloc((size_t)n_keys, 1);
        REQUIRE(outcomes[r] != NULL);
        size_t got = read_all(reports[r][0], outcomes[r], (size_t)n_keys);
        close(reports[r][0]);
        CHECK_MSG(got == (size_t)n_keys, "racer %d reported %zu of %d keys", r, got, n_keys);
    }
    for (int r = 0; r < RACERS; r++) {
        int status = 0;
        REQUIRE(waitpid(pids[r], &status, 0) == pids[r]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "racer %d ended with status 0x%x", r,
                  status);
    }

    /* Exactly one winner per key; everybody else lost with KEY_EXISTS; the value is the
     * winner's. */
    SheafStore *store = tu_open_store(uri);
    SheafKeySpace *kv = open_space(store, "race");
    uint64_t count = 0;
    EXPECT_OK(sheaf_kv_count(kv, &count, &err));
    CHECK_EQ_INT(count, n_keys);
    int wins[RACERS] = {0}, bad = 0;
    for (int k = 0; k < n_keys; k++) {
        int winner = -1, winners = 0, losers = 0;
        for (int r = 0; r < RACERS; r++) {
            if (outcomes[r][k] == WON) {
                winner = r;
                winners++;
            } else if (outcomes[r][k] == LOST) {
                losers++;
            }
        }
        char key[32], expected[16];
        snprintf(key, sizeof key, "key-%06d", k % 1000000);
        if (winners != 1 || losers != RACERS - 1) {
            if (bad++ < 5)
                tu_fail(__FILE__, __LINE__, "%s: %d winner(s), %d loser(s) with KEY_EXISTS", key,
                        winners, losers);
            continue;
        }
        wins[winner]++;
        SheafBytes value = {NULL, 0};
        EXPECT_OK(sheaf_kv_get(kv, (const uint8_t *)key, KEY_LEN, 0, 0, &value, &err));
        snprintf(expected, sizeof expected, "r%d", winner);
        if (value.len != strlen(expected) || memcmp(value.data, expected, value.len) != 0) {
            if (bad++ < 5)
                tu_fail(__FILE__, __LINE__, "%s holds \"%.*s\", but racer %d won it", key,
                        (int)value.len, value.data ? (char *)value.data : "", winner);
        }
        sheaf_bytes_free(&value);
    }
    CHECK_EQ_INT(bad, 0);
    printf("  %d racers on %d keys: wins %d / %d / %d / %d\n", RACERS, n_keys, wins[0], wins[1],
           wins[2], wins[3]);
    for (int r = 0; r < RACERS; r++) free(outcomes[r]);
    sheaf_kv_free(kv);
    sheaf_store_free(store);
    free(uri);
    test_uri = NULL;
}

/* ---- (b) one producer, four consumers ------------------------------------------------------ */

/* The producer: items "item-%05d" = "v-%05d"... in small put_multi chunks (NOTIFY), then
 * "done" in the control space. */
static int producer(const char *uri, int n_items, int start_fd) {
    char go;
    if (read(start_fd, &go, 1) != 1) return 2;
    close(start_fd);
    SheafStore *store = tu_open_store(uri);
    SheafKeySpace *queue = open_space(store, "queue");
    SheafKeySpace *control = open_space(store, "control");
    int status = 0;
    enum { CHUNK = 25 };
    char keys[CHUNK * KEY_LEN + 1], values[CHUNK * KEY_LEN + 1];
    size_t key_sizes[CHUNK], value_sizes[CHUNK];
    for (int first = 0; first < n_items && status == 0; first += CHUNK) {
        int n = n_items - first < CHUNK ? n_items - first : CHUNK;
        for (int i = 0; i < n; i++) {
            snprintf(keys + i * KEY_LEN, KEY_LEN + 1, "item-%05d", first + i);
            snprintf(values + i * KEY_LEN, KEY_LEN + 1, "value%05d", first + i);
            key_sizes[i] = value_sizes[i] = KEY_LEN;
        }
        SheafError *err = NULL;
        SheafStatus st = sheaf_kv_put_multi(queue, (size_t)n, (const uint8_t *)keys, key_sizes,
                                            (const uint8_t *)values, value_sizes,
                                            SHEAF_MODE_NOTIFY, NULL, &err);
        if (st != SHEAF_OK) {
            fprintf(stderr, "producer: put_multi at %d: %s\n", first, sheaf_error_message(err));
            status = 3;
        }
        sheaf_error_free(err);
        if (first % 200 == 0) sleep_ms(1); /* let the consumers catch up now and then */
    }
    if (status == 0) {
        SheafError *err = NULL;
        if (sheaf_kv_put(control, (const uint8_t *)"done", 4, (const uint8_t *)"1", 1, 0, &err) !=
            SHEAF_OK)
            status = 4;
        sheaf_error_free(err);
    }
    sheaf_kv_free(queue);
    sheaf_kv_free(control);
    sheaf_store_free(store);
    return status;
}

/* A consumer: CONSUME listings of a few items until "done" is set and the queue is empty.
 * Reports every popped value (KEY_LEN bytes each) on report_fd. */
static int consumer(const char *uri, int id, int start_fd, int report_fd) {
    char go;
    if (read(start_fd, &go, 1) != 1) return 2;
    close(start_fd);
    SheafStore *store = tu_open_store(uri);
    SheafKeySpace *queue = open_space(store, "queue");
    SheafKeySpace *control = open_space(store, "control");
    const size_t page = 3 + (size_t)id * 2;
    bool done_seen = false;
    int status = 0;
    while (status == 0) {
        SheafBytes keys = {NULL, 0}, key_sizes = {NULL, 0}, values = {NULL, 0},
                   value_sizes = {NULL, 0};
        SheafError *err = NULL;
        SheafStatus st = sheaf_kv_list(queue, NULL, 0, NULL, 0, page, SHEAF_MODE_CONSUME, &keys,
                                       &key_sizes, &values, &value_sizes, &err);
        if (st != SHEAF_OK) {
            fprintf(stderr, "consumer %d: list: %s\n", id, sheaf_error_message(err));
            status = 3;
        }
        sheaf_error_free(err);
        size_t n = value_sizes.len / 8;
        if (values.len != n * KEY_LEN || key_sizes.len != value_sizes.len) status = 4;
        if (status == 0 && n > 0 && !write_all(report_fd, values.data, values.len)) status = 5;
        sheaf_bytes_free(&keys);
        sheaf_bytes_free(&key_sizes);
        sheaf_bytes_free(&values);
        sheaf_bytes_free(&value_sizes);
        if (n > 0 || status != 0) continue;
        if (done_seen) break;
        bool done = false;
        err = NULL;
        if (sheaf_kv_exists(control, (const uint8_t *)"done", 4, &done, &err) != SHEAF_OK) status = 6;
        sheaf_error_free(err);
        if (done) done_seen = true; /* pop once more: nothing can arrive after "done" */
        else sleep_ms(1);
    }
    sheaf_kv_free(queue);
    sheaf_kv_free(control);
    sheaf_store_free(store);
    return status;
}

static void test_queue(const char *dir) {
    const int n_items = tu_scaled(2000, 200);
    char *uri = test_uri = tu_lmdb_uri(dir, "queue");
    int start[2], reports[CONSUMERS][2];
    pid_t pids[CONSUMERS + 1];
    REQUIRE(pipe(start) == 0);
    fflush(NULL);
    for (int c = 0; c <= CONSUMERS; c++) {
        if (c < CONSUMERS) REQUIRE(pipe(reports[c]) == 0);
        pids[c] = fork();
        REQUIRE(pids[c] >= 0);
        if (pids[c] == 0) {
            close(start[1]);
            if (c == CONSUMERS) child_exit(producer(uri, n_items, start[0]));
            close(reports[c][0]);
            child_exit(consumer(uri, c, start[0], reports[c][1]));
        }
        if (c < CONSUMERS) close(reports[c][1]);
    }
    close(start[0]);
    REQUIRE(write(start[1], "gogog", CONSUMERS + 1) == CONSUMERS + 1);
    close(start[1]);

    /* Read every consumer's pops (each pipe in turn; a pipe holds 64 KiB, and a consumer
     * that pops everything sends n_items * KEY_LEN bytes, which the parent drains). */
    size_t cap = (size_t)n_items * KEY_LEN + KEY_LEN;
    int *popped = calloc((size_t)n_items, sizeof *popped);
    char *buf = malloc(cap);
    REQUIRE(popped && buf);
    int per_consumer[CONSUMERS], strange = 0;
    for (int c = 0; c < CONSUMERS; c++) {
        size_t got = read_all(reports[c][0], buf, cap);
        close(reports[c][0]);
        CHECK(got % KEY_LEN == 0);
        per_consumer[c] = (int)(got / KEY_LEN);
        for (size_t i = 0; i + KEY_LEN <= got; i += KEY_LEN) {
            int item = -1;
            char text[KEY_LEN + 1];
            memcpy(text, buf + i, KEY_LEN);
            text[KEY_LEN] = '\0';
            if (sscanf(text, "value%5d", &item) != 1 || item < 0 || item >= n_items) {
                if (strange++ < 5) tu_fail(__FILE__, __LINE__, "consumer %d popped \"%s\"", c, text);
                continue;
            }
            popped[item]++;
        }
    }
    for (int c = 0; c <= CONSUMERS; c++) {
        int status = 0;
        REQUIRE(waitpid(pids[c], &status, 0) == pids[c]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %d ended with status 0x%x",
                  c == CONSUMERS ? "the producer" : "consumer", c, status);
    }
    int missing = 0, twice = 0;
    for (int i = 0; i < n_items; i++) {
        if (popped[i] == 0 && missing++ < 5) tu_fail(__FILE__, __LINE__, "item %d was never popped", i);
        if (popped[i] > 1 && twice++ < 5)
            tu_fail(__FILE__, __LINE__, "item %d was popped %d times", i, popped[i]);
    }
    CHECK_EQ_INT(strange, 0);

    SheafStore *store = tu_open_store(uri);
    SheafKeySpace *queue = open_space(store, "queue");
    uint64_t left = 99;
    EXPECT_OK(sheaf_kv_count(queue, &left, &err));
    CHECK_EQ_INT(left, 0);
    printf("  queue of %d items: popped %d / %d / %d / %d\n", n_items, per_consumer[0],
           per_consumer[1], per_consumer[2], per_consumer[3]);
    sheaf_kv_free(queue);
    sheaf_store_free(store);
    free(popped);
    free(buf);
    free(uri);
    test_uri = NULL;
}

/* ---- (c) WAIT across processes ------------------------------------------------------------ */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* system-wide: comparable between processes */
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void test_cross_process_wait(const char *dir) {
    char *uri = test_uri = tu_lmdb_uri(dir, "wait");
    double slack = tu_scale() < 1 ? 1 / tu_scale() : 1;
    for (int round = 0; round < 3; round++) {
        int report[2];
        REQUIRE(pipe(report) == 0);
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(report[0]);
            SheafStore *store = tu_open_store(uri);
            SheafKeySpace *kv = open_space(store, "wait");
            sleep_ms(300);
            uint32_t mode = round == 1 ? SHEAF_MODE_NOTIFY : SHEAF_MODE_DEFAULT;
            SheafError *err = NULL;
            SheafStatus st = sheaf_kv_put(kv, (const uint8_t *)"wake", 4, (const uint8_t *)"up", 2,
                                          mode, &err);
            double put_at = now_ms();
            sheaf_error_free(err);
            int status = st == SHEAF_OK && write_all(report[1], &put_at, sizeof put_at) ? 0 : 3;
            sheaf_kv_free(kv);
            sheaf_store_free(store);
            child_exit(status);
        }
        close(report[1]);
        SheafStore *store = tu_open_store(uri);
        SheafKeySpace *kv = open_space(store, "wait");
        SheafBytes value = {NULL, 0};
        double start = now_ms();
        uint32_t mode = SHEAF_MODE_WAIT | (round == 2 ? SHEAF_MODE_CONSUME : 0);
        EXPECT_OK(sheaf_kv_get(kv, (const uint8_t *)"wake", 4, mode, 20000, &value, &err));
        double woke = now_ms();
        CHECK(value.len == 2 && memcmp(value.data, "up", 2) == 0);
        sheaf_bytes_free(&value);
        double put_at = 0;
        CHECK(read_all(report[0], &put_at, sizeof put_at) == sizeof put_at);
        close(report[0]);
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the putter ended with 0x%x", status);
        double latency = woke - put_at;
        CHECK_MSG(woke - start >= 250, "round %d: the WAIT get returned after %.1f ms, before the put",
                  round, woke - start);
        CHECK_MSG(latency < 100 * slack,
                  "round %d: a put from another process woke the WAIT get after %.1f ms (the header "
                  "says within 10 ms)", round, latency);
        printf("  WAIT across processes, round %d: woken %.1f ms after the put\n", round, latency);
        bool left = true;
        EXPECT_OK(sheaf_kv_exists(kv, (const uint8_t *)"wake", 4, &left, &err));
        CHECK(left == (round != 2));
        EXPECT_OK(sheaf_kv_erase(kv, (const uint8_t *)"wake", 4, NULL, &err));
        sheaf_kv_free(kv);
        sheaf_store_free(store);
    }
    free(uri);
    test_uri = NULL;
}

int main(void) {
    char *dir = test_dir = tu_make_tmpdir("processes-kv");
    test_new_only_race(dir);
    test_queue(dir);
    test_cross_process_wait(dir);
    tu_remove_dir(dir);
    free(dir);
    test_dir = NULL;
    return tu_finish("test_processes_kv");
}

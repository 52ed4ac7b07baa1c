/*
 * test_kv.c — key spaces and document collections through the C ABI: every put mode, get and
 * get_into (buffer sizes, CONSUME, WAIT with a timeout and woken by a NOTIFY put from another
 * thread), the multi calls in Yokan's packed layout, listings (from_key, INCLUSIVE, prefix and
 * SUFFIX filters, NO_PREFIX, IGNORE_KEYS, KEEP_LAST, CONSUME, counts, keys holding NUL bytes),
 * and collections (ids, load/update/erase, sizes, filtered listings, raw documents).
 *
 * Runs on a private in-memory store and on an LMDB store. Uses pthreads.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testkit.h"

/* ---- small helpers ----------------------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* A timing bound, widened when the runner asks for a slower mode (valgrind). */
static double slack(void) {
    double s = tu_scale();
    return s < 1 ? 1.0 / s : 1.0;
}

#define B(s) (const uint8_t *)(s), strlen(s)

/* Keys or values in Yokan's packed layout: bytes concatenated, sizes apart. */
typedef struct packed {
    uint8_t data[8192];
    size_t sizes[128];
    size_t n;
    size_t len;
} packed;

static void pk_clear(packed *p) {
    p->n = 0;
    p->len = 0;
}

static void pk_add(packed *p, const void *data, size_t len) {
    REQUIRE(p->n < 128 && p->len + len <= sizeof p->data);
    if (len) memcpy(p->data + p->len, data, len);
    p->sizes[p->n++] = len;
    p->len += len;
}

static void pk_adds(packed *p, const char *s) { pk_add(p, s, strlen(s)); }

/* The i-th uint64 of a SheafBytes holding an array of them. */
static uint64_t u64_at(const SheafBytes *b, size_t i) {
    uint64_t v;
    REQUIRE((i + 1) * 8 <= b->len);
    memcpy(&v, b->data + i * 8, 8);
    return v;
}

/* Writes `len` bytes readably into out: NUL as \0, other unprintables as \xHH. */
static void fmt_bytes(char *out, size_t cap, const uint8_t *data, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        uint8_t c = data[i];
        if (c == 0) o += (size_t)snprintf(out + o, cap - o, "\\0");
        else if (c < 32 || c > 126) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/*
 * Runs sheaf_kv_list and renders the result as "k1=v1|k2=v2" (keys only: "k1|k2"), with the
 * sizes checked against the packed data. Fatal if the call fails.
 */
static void list_text(SheafKeySpace *kv, const void *from, size_t from_len, const void *filter,
                      size_t filter_len, size_t count, uint32_t mode, bool values, char *out,
                      size_t cap) {
    SheafBytes keys = {NULL, 0}, key_sizes = {NULL, 0}, vals = {NULL, 0}, val_sizes = {NULL, 0};
    EXPECT_OK(sheaf_kv_list(kv, from, from_len, filter, filter_len, count, mode, &keys, &key_sizes,
                            values ? &vals : NULL, values ? &val_sizes : NULL, &err));
    size_t n = key_sizes.len / 8, kpos = 0, vpos = 0, o = 0;
    CHECK(key_sizes.len % 8 == 0);
    if (values) CHECK_EQ_INT(val_sizes.len, key_sizes.len);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        uint64_t ks = u64_at(&key_sizes, i);
        REQUIRE(kpos + ks <= keys.len);
        char piece[512];
        fmt_bytes(piece, sizeof piece, keys.data + kpos, ks);
        kpos += ks;
        o += (size_t)snprintf(out + o, cap > o ? cap - o : 0, "%s%s", i ? "|" : "", piece);
        if (values) {
            uint64_t vs = u64_at(&val_sizes, i);
            REQUIRE(vpos + vs <= vals.len);
            fmt_bytes(piece, sizeof piece, vals.data + vpos, vs);
            vpos += vs;
            o += (size_t)snprintf(out + o, cap > o ? cap - o : 0, "=%s", piece);
        }
    }
    CHECK_EQ_INT(kpos, keys.len);
    if (values) CHECK_EQ_INT(vpos, vals.len);
    sheaf_bytes_free(&keys);
    sheaf_bytes_free(&key_sizes);
    sheaf_bytes_free(&vals);
    sheaf_bytes_free(&val_sizes);
}

#define EXPECT_LIST(kv, from, from_len, filter, filter_len, count, mode, values, expected)   \
    do {                                                                                    \
        char got_[4096];                                                                    \
        list_text(kv, from, from_len, filter, filter_len, count, mode, values, got_,        \
                  sizeof got_);                                                             \
        CHECK_MSG(strcmp(got_, expected) == 0, "list gave \"%s\", expected \"%s\"", got_, \
                  expected);                                                                \
    } while (0)

static void put(SheafKeySpace *kv, const char *key, const char *value) {
    EXPECT_OK(sheaf_kv_put(kv, B(key), B(value), SHEAF_MODE_DEFAULT, &err));
}

/* The value at key as text ("" + *found false when missing). */
static bool get_text(SheafKeySpace *kv, const void *key, size_t key_len, char *out, size_t cap) {
    SheafBytes value = {NULL, 0};
    SheafError *err = NULL;
    SheafStatus st = sheaf_kv_get(kv, key, key_len, SHEAF_MODE_DEFAULT, 0, &value, &err);
    out[0] = '\0';
    if (st == SHEAF_ERR_NO_SUCH_KEY) {
        sheaf_error_free(err);
        return false;
    }
    CHECK_MSG(st == SHEAF_OK, "get failed: %s", sheaf_error_message(err));
    sheaf_error_free(err);
    REQUIRE(value.len < cap);
    if (value.len) memcpy(out, value.data, value.len);
    out[value.len] = '\0';
    sheaf_bytes_free(&value);
    return true;
}

static void expect_value_at(int line, SheafKeySpace *kv, const char *key, const char *expected) {
    char v[1024];
    bool found = get_text(kv, B(key), v, sizeof v);
    if (expected == NULL) {
        if (found) tu_fail(__FILE__, line, "key \"%s\" holds \"%s\", expected it missing", key, v);
    } else if (!found || strcmp(v, expected) != 0) {
        tu_fail(__FILE__, line, "key \"%s\" holds \"%s\"%s, expected \"%s\"", key, v,
                found ? "" : " (missing)", expected);
    }
}

#define EXPECT_VALUE(kv, key, expected) expect_value_at(__LINE__, kv, key, expected)

static bool exists(SheafKeySpace *kv, const char *key) {
    bool e = false;
    EXPECT_OK(sheaf_kv_exists(kv, B(key), &e, &err));
    return e;
}

static uint64_t count(SheafKeySpace *kv) {
    uint64_t n = 0;
    EXPECT_OK(sheaf_kv_count(kv, &n, &err));
    return n;
}

static SheafKeySpace *open_kv(SheafStore *store, const char *name) {
    SheafKeySpace *kv = NULL;
    EXPECT_OK(sheaf_kv_open(store, STR(name), &kv, &err));
    REQUIRE(kv != NULL);
    return kv;
}

static void expect_spaces(SheafStore *store, const char *const *names, size_t n) {
    SheafBytes json = {NULL, 0};
    json_value list;
    EXPECT_OK(sheaf_kv_list_spaces(store, &json, &err));
    tu_parse_bytes(&json, &list);
    CHECK_MSG(tu_json_names_equal(&list, names, n), "kv_list_spaces gave %zu other name(s)",
              list.count);
    json_free(&list);
}

/* ---- spaces ------------------------------------------------------------------------------- */

static void test_spaces(SheafStore *store) {
    SheafKeySpace *alpha = open_kv(store, "alpha");
    SheafKeySpace *beta = open_kv(store, "beta");
    bool existed = false;
    {
        const char *const both[] = {"alpha", "beta"};
        expect_spaces(store, both, 2);
    }
    put(alpha, "k", "in alpha");
    put(beta, "k", "in beta");
    EXPECT_VALUE(alpha, "k", "in alpha"); /* spaces are separate */
    EXPECT_VALUE(beta, "k", "in beta");

    /* A second handle on the same space sees the same entries. */
    SheafKeySpace *again = open_kv(store, "alpha");
    EXPECT_VALUE(again, "k", "in alpha");
    sheaf_kv_free(again);

    /* Drop: entries go, the name goes; dropping again says it did not exist. */
    EXPECT_OK(sheaf_kv_drop(store, STR("beta"), &existed, &err));
    CHECK(existed);
    EXPECT_OK(sheaf_kv_drop(store, STR("beta"), &existed, &err));
    CHECK(!existed);
    EXPECT_OK(sheaf_kv_drop(store, STR("never"), NULL, &err));
    {
        const char *const one[] = {"alpha"};
        expect_spaces(store, one, 1);
    }
    sheaf_kv_free(beta);
    beta = open_kv(store, "beta"); /* created afresh, empty */
    CHECK_EQ_INT(count(beta), 0);
    EXPECT_VALUE(beta, "k", NULL);
    EXPECT_VALUE(alpha, "k", "in alpha");

    /* Names are checked. */
    SheafKeySpace *bad = NULL;
    EXPECT_ERR(SHEAF_ERR_INVALID_NAME, NULL, sheaf_kv_open(store, "", 0, &bad, &err));
    CHECK(bad == NULL);

    /* Close: idempotent; later calls are SHEAF_ERR_CLOSED; free after close; free NULL. */
    EXPECT_OK(sheaf_kv_close(beta, &err));
    EXPECT_OK(sheaf_kv_close(beta, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, NULL, sheaf_kv_put(beta, B("x"), B("y"), 0, &err));
    uint64_t n = 0;
    EXPECT_ERR(SHEAF_ERR_CLOSED, NULL, sheaf_kv_count(beta, &n, &err));
    sheaf_kv_free(beta);
    sheaf_kv_free(NULL);
    EXPECT_OK(sheaf_kv_drop(store, STR("beta"), NULL, &err));
    EXPECT_OK(sheaf_kv_drop(store, STR("alpha"), NULL, &err));
    sheaf_kv_free(alpha);
    expect_spaces(store, NULL, 0);
}

/* ---- put modes ---------------------------------------------------------------------------- */

static void test_put_modes(SheafStore *store) {
    SheafKeySpace *kv = open_kv(store, "modes");

    put(kv, "k", "v1");
    EXPECT_VALUE(kv, "k", "v1");
    put(kv, "k", "v2"); /* default: overwrite */
    EXPECT_VALUE(kv, "k", "v2");

    /* APPEND: to the existing value; a missing key is created. */
    EXPECT_OK(sheaf_kv_put(kv, B("k"), B("+a"), SHEAF_MODE_APPEND, &err));
    EXPECT_VALUE(kv, "k", "v2+a");
    EXPECT_OK(sheaf_kv_put(kv, B("fresh"), B("start"), SHEAF_MODE_APPEND, &err));
    EXPECT_VALUE(kv, "fresh", "start");

    /* NEW_ONLY. */
    EXPECT_ERR(SHEAF_ERR_KEY_EXISTS, NULL,
               sheaf_kv_put(kv, B("k"), B("nope"), SHEAF_MODE_NEW_ONLY, &err));
    EXPECT_VALUE(kv, "k", "v2+a");
    EXPECT_OK(sheaf_kv_put(kv, B("new"), B("n"), SHEAF_MODE_NEW_ONLY, &err));
    EXPECT_VALUE(kv, "new", "n");

    /* EXIST_ONLY. */
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL,
               sheaf_kv_put(kv, B("absent"), B("nope"), SHEAF_MODE_EXIST_ONLY, &err));
    CHECK(!exists(kv, "absent"));
    EXPECT_OK(sheaf_kv_put(kv, B("new"), B("n2"), SHEAF_MODE_EXIST_ONLY, &err));
    EXPECT_VALUE(kv, "new", "n2");

    /* Combinations that make sense. */
    EXPECT_OK(sheaf_kv_put(kv, B("new"), B("+e"), SHEAF_MODE_EXIST_ONLY | SHEAF_MODE_APPEND, &err));
    EXPECT_VALUE(kv, "new", "n2+e");
    EXPECT_ERR(SHEAF_ERR_KEY_EXISTS, NULL,
               sheaf_kv_put(kv, B("new"), B("+x"), SHEAF_MODE_NEW_ONLY | SHEAF_MODE_APPEND, &err));
    EXPECT_OK(sheaf_kv_put(kv, B("na"), B("x"), SHEAF_MODE_NEW_ONLY | SHEAF_MODE_APPEND, &err));
    EXPECT_VALUE(kv, "na", "x");
    EXPECT_OK(sheaf_kv_put(kv, B("na"), B("y"), SHEAF_MODE_NOTIFY, &err));
    EXPECT_VALUE(kv, "na", "y");
    EXPECT_OK(sheaf_kv_put(kv, B("na"), B("z"), SHEAF_MODE_NOTIFY | SHEAF_MODE_APPEND, &err));
    EXPECT_VALUE(kv, "na", "yz");

    /* An empty value is a value. */
    EXPECT_OK(sheaf_kv_put(kv, B("empty"), (const uint8_t *)"", 0, 0, &err));
    CHECK(exists(kv, "empty"));
    EXPECT_VALUE(kv, "empty", "");

    /* Modes that make no sense for a put; nothing is stored. */
    const uint32_t bad_put[] = {SHEAF_MODE_NEW_ONLY | SHEAF_MODE_EXIST_ONLY,
                                SHEAF_MODE_CONSUME,
                                SHEAF_MODE_INCLUSIVE,
                                SHEAF_MODE_NO_PREFIX,
                                SHEAF_MODE_SUFFIX,
                                SHEAF_MODE_IGNORE_KEYS,
                                SHEAF_MODE_UPDATE_NEW,
                                1u << 20,
                                SHEAF_MODE_APPEND | (1u << 30)};
    for (size_t i = 0; i < sizeof bad_put / sizeof bad_put[0]; i++) {
        EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL,
                   sheaf_kv_put(kv, B("badmode"), B("x"), bad_put[i], &err));
    }
    CHECK(!exists(kv, "badmode"));
    {
        packed k, v;
        int32_t statuses[1] = {-1};
        pk_clear(&k);
        pk_clear(&v);
        pk_adds(&k, "badmode");
        pk_adds(&v, "x");
        EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL,
                   sheaf_kv_put_multi(kv, 1, k.data, k.sizes, v.data, v.sizes,
                                      SHEAF_MODE_NEW_ONLY | SHEAF_MODE_EXIST_ONLY, statuses, &err));
        CHECK(!exists(kv, "badmode"));
    }

    /* Modes that make no sense for a get, get_multi or list. */
    SheafBytes value = {NULL, 0}, sizes = {NULL, 0};
    const uint32_t bad_get[] = {SHEAF_MODE_APPEND, SHEAF_MODE_NEW_ONLY, SHEAF_MODE_EXIST_ONLY,
                                SHEAF_MODE_INCLUSIVE, SHEAF_MODE_UPDATE_NEW, 1u << 20};
    for (size_t i = 0; i < sizeof bad_get / sizeof bad_get[0]; i++) {
        EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL,
                   sheaf_kv_get(kv, B("k"), bad_get[i], 0, &value, &err));
        CHECK(value.data == NULL);
    }
    {
        packed k;
        pk_clear(&k);
        pk_adds(&k, "k");
        EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL,
                   sheaf_kv_get_multi(kv, 1, k.data, k.sizes, SHEAF_MODE_APPEND, &value, &sizes, &err));
        SheafBytes keys = {NULL, 0}, key_sizes = {NULL, 0};
        EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL,
                   sheaf_kv_list(kv, NULL, 0, NULL, 0, 10, SHEAF_MODE_APPEND, &keys, &key_sizes,
                                 NULL, NULL, &err));
        EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL,
                   sheaf_kv_list(kv, NULL, 0, NULL, 0, 10, SHEAF_MODE_NEW_ONLY, &keys, &key_sizes,
                                 NULL, NULL, &err));
    }
    EXPECT_VALUE(kv, "k", "v2+a");

    /* NO_RDMA (Yokan code passes it everywhere) is accepted and changes nothing. */
    EXPECT_OK(sheaf_kv_put(kv, B("rdma"), B("r1"), SHEAF_MODE_NO_RDMA, &err));
    EXPECT_OK(sheaf_kv_put(kv, B("rdma"), B("+2"), SHEAF_MODE_NO_RDMA | SHEAF_MODE_APPEND, &err));
    EXPECT_VALUE(kv, "rdma", "r1+2");
    EXPECT_OK(sheaf_kv_get(kv, B("rdma"), SHEAF_MODE_NO_RDMA | SHEAF_MODE_CONSUME, 0, &value, &err));
    CHECK(value.len == 4 && memcmp(value.data, "r1+2", 4) == 0);
    sheaf_bytes_free(&value);
    CHECK(!exists(kv, "rdma"));
    /* Yokan's FILTER_VALUE (0x1000, UPDATE_NEW's value before ABI version 2) is not taken. */
    EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL, sheaf_kv_put(kv, B("k"), B("x"), 0x1000u, &err));
    EXPECT_OK(sheaf_kv_drop(store, STR("modes"), NULL, &err));
    sheaf_kv_free(kv);
}

/* Every mode has Yokan's published value (include/yokan/common.h), so Yokan code that passes
 * YOKAN_MODE_* numbers means the same thing here. */
static void test_mode_values_are_yokans(void) {
    CHECK_EQ_INT(SHEAF_MODE_DEFAULT, 0);
    CHECK_EQ_INT(SHEAF_MODE_INCLUSIVE, 0x0001);
    CHECK_EQ_INT(SHEAF_MODE_APPEND, 0x0002);
    CHECK_EQ_INT(SHEAF_MODE_CONSUME, 0x0004);
    CHECK_EQ_INT(SHEAF_MODE_WAIT, 0x0008);
    CHECK_EQ_INT(SHEAF_MODE_NOTIFY, 0x0008);
    CHECK_EQ_INT(SHEAF_MODE_NEW_ONLY, 0x0010);
    CHECK_EQ_INT(SHEAF_MODE_EXIST_ONLY, 0x0020);
    CHECK_EQ_INT(SHEAF_MODE_NO_PREFIX, 0x0040);
    CHECK_EQ_INT(SHEAF_MODE_IGNORE_KEYS, 0x0080);
    CHECK_EQ_INT(SHEAF_MODE_KEEP_LAST, 0x0180);
    CHECK_EQ_INT(SHEAF_MODE_SUFFIX, 0x0200);
    CHECK_EQ_INT(SHEAF_MODE_NO_RDMA, 0x4000);
    CHECK_EQ_INT(SHEAF_MODE_UPDATE_NEW, 0x8000);
    CHECK_EQ_INT(SHEAF_ABI_VERSION, 6);
}

/* ---- get, get_into, CONSUME ---------------------------------------------------------------- */

static void test_get(SheafStore *store) {
    SheafKeySpace *kv = open_kv(store, "gets");
    SheafBytes value = {NULL, 0};
    uint8_t buffer[16];
    size_t size = 0;

    put(kv, "ten", "0123456789");
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL, sheaf_kv_get(kv, B("nine"), 0, 0, &value, &err));
    CHECK(value.data == NULL && value.len == 0);

    /* get_into: exact fit, larger buffer, too small (size reported, buffer untouched). */
    memset(buffer, '#', sizeof buffer);
    EXPECT_OK(sheaf_kv_get_into(kv, B("ten"), 0, 0, buffer, 10, &size, &err));
    CHECK(size == 10 && memcmp(buffer, "0123456789", 10) == 0 && buffer[10] == '#');
    size = 0;
    EXPECT_OK(sheaf_kv_get_into(kv, B("ten"), 0, 0, buffer, sizeof buffer, &size, &err));
    CHECK_EQ_INT(size, 10);
    memset(buffer, '#', sizeof buffer);
    size = 0;
    EXPECT_ERR(SHEAF_ERR_BUFFER_TOO_SMALL, "10",
               sheaf_kv_get_into(kv, B("ten"), 0, 0, buffer, 3, &size, &err));
    CHECK_EQ_INT(size, 10);
    CHECK(buffer[0] == '#' && buffer[3] == '#');
    size = 99;
    EXPECT_ERR(SHEAF_ERR_BUFFER_TOO_SMALL, NULL,
               sheaf_kv_get_into(kv, B("ten"), 0, 0, buffer, 0, &size, &err));
    CHECK_EQ_INT(size, 10);
    /* With CONSUME, a buffer too small does not erase the key. */
    size = 0;
    EXPECT_ERR(SHEAF_ERR_BUFFER_TOO_SMALL, NULL,
               sheaf_kv_get_into(kv, B("ten"), SHEAF_MODE_CONSUME, 0, buffer, 9, &size, &err));
    CHECK_EQ_INT(size, 10);
    CHECK(exists(kv, "ten"));
    EXPECT_VALUE(kv, "ten", "0123456789");
    /* A missing key is NO_SUCH_KEY, not BUFFER_TOO_SMALL, whatever the capacity. */
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL,
               sheaf_kv_get_into(kv, B("nine"), 0, 0, buffer, 0, &size, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL,
               sheaf_kv_get_into(kv, B("nine"), SHEAF_MODE_CONSUME, 0, buffer, sizeof buffer,
                                 &size, &err));
    /* An empty value fits any buffer. */
    EXPECT_OK(sheaf_kv_put(kv, B("empty"), (const uint8_t *)"", 0, 0, &err));
    size = 99;
    EXPECT_OK(sheaf_kv_get_into(kv, B("empty"), 0, 0, buffer, 0, &size, &err));
    CHECK_EQ_INT(size, 0);

    /* CONSUME: the value comes back and the key is gone. */
    EXPECT_OK(sheaf_kv_get_into(kv, B("ten"), SHEAF_MODE_CONSUME, 0, buffer, sizeof buffer, &size,
                                &err));
    CHECK(size == 10 && memcmp(buffer, "0123456789", 10) == 0);
    CHECK(!exists(kv, "ten"));
    put(kv, "pop", "me");
    EXPECT_OK(sheaf_kv_get(kv, B("pop"), SHEAF_MODE_CONSUME, 0, &value, &err));
    CHECK(value.len == 2 && memcmp(value.data, "me", 2) == 0);
    sheaf_bytes_free(&value);
    CHECK(!exists(kv, "pop"));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL,
               sheaf_kv_get(kv, B("pop"), SHEAF_MODE_CONSUME, 0, &value, &err));

    /* Binary keys and values, NUL bytes included. */
    static const uint8_t bkey[] = {'b', 0, 'k', 0xff}, bval[] = {0, 1, 2, 0, 0xfe};
    EXPECT_OK(sheaf_kv_put(kv, bkey, sizeof bkey, bval, sizeof bval, 0, &err));
    EXPECT_OK(sheaf_kv_get(kv, bkey, sizeof bkey, 0, 0, &value, &err));
    CHECK(value.len == sizeof bval && memcmp(value.data, bval, sizeof bval) == 0);
    sheaf_bytes_free(&value);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL, sheaf_kv_get(kv, bkey, 2, 0, 0, &value, &err));

    EXPECT_OK(sheaf_kv_drop(store, STR("gets"), NULL, &err));
    sheaf_kv_free(kv);
}

/* ---- WAIT and NOTIFY ------------------------------------------------------------------------ */

typedef struct notifier {
    SheafKeySpace *kv;
    const char *key;
    const char *value;
    long delay_ms;
    uint32_t mode;
    double put_at_ms; /* when the put returned */
    SheafStatus status;
} notifier;

static void *notifier_main(void *arg) {
    notifier *n = arg;
    SheafError *err = NULL;
    sleep_ms(n->delay_ms);
    n->status = sheaf_kv_put(n->kv, B(n->key), B(n->value), n->mode, &err);
    n->put_at_ms = now_ms();
    sheaf_error_free(err);
    return NULL;
}

static void test_wait(SheafStore *store) {
    SheafKeySpace *kv = open_kv(store, "waits");
    SheafBytes value = {NULL, 0};
    double start, elapsed;

    /* A missing key with WAIT: SHEAF_ERR_TIMEOUT after the timeout, not much later. */
    start = now_ms();
    EXPECT_ERR(SHEAF_ERR_TIMEOUT, NULL,
               sheaf_kv_get(kv, B("never"), SHEAF_MODE_WAIT, 80, &value, &err));
    elapsed = now_ms() - start;
    CHECK_MSG(elapsed >= 75 && elapsed < 80 + 1000 * slack(),
              "a WAIT get with an 80 ms timeout returned after %.1f ms", elapsed);
    CHECK(value.data == NULL);
    /* Timeout 0: at once. */
    start = now_ms();
    EXPECT_ERR(SHEAF_ERR_TIMEOUT, NULL,
               sheaf_kv_get(kv, B("never"), SHEAF_MODE_WAIT, 0, &value, &err));
    CHECK(now_ms() - start < 500 * slack());
    /* Without WAIT the timeout means nothing. */
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL, sheaf_kv_get(kv, B("never"), 0, 5000, &value, &err));

    /* A present key with WAIT: at once. */
    put(kv, "here", "now");
    start = now_ms();
    EXPECT_OK(sheaf_kv_get(kv, B("here"), SHEAF_MODE_WAIT, 10000, &value, &err));
    CHECK(now_ms() - start < 500 * slack());
    CHECK(value.len == 3 && memcmp(value.data, "now", 3) == 0);
    sheaf_bytes_free(&value);

    /* Woken by a NOTIFY put from another thread: returns promptly after the put, long before
     * the timeout. Then the same with CONSUME, and with get_into. */
    for (int round = 0; round < 3; round++) {
        notifier n = {kv, round == 0 ? "late" : round == 1 ? "late_pop" : "late_into",
                      "arrived", 150, SHEAF_MODE_NOTIFY, 0, -1};
        pthread_t thread;
        uint8_t buffer[16];
        size_t size = 0;
        REQUIRE(pthread_create(&thread, NULL, notifier_main, &n) == 0);
        start = now_ms();
        if (round == 0) {
            EXPECT_OK(sheaf_kv_get(kv, B(n.key), SHEAF_MODE_WAIT, 20000, &value, &err));
        } else if (round == 1) {
            EXPECT_OK(sheaf_kv_get(kv, B(n.key), SHEAF_MODE_WAIT | SHEAF_MODE_CONSUME, 20000,
                                   &value, &err));
        } else {
            EXPECT_OK(sheaf_kv_get_into(kv, B(n.key), SHEAF_MODE_WAIT, 20000, buffer,
                                        sizeof buffer, &size, &err));
        }
        double woke = now_ms();
        REQUIRE(pthread_join(thread, NULL) == 0);
        CHECK_EQ_INT(n.status, SHEAF_OK);
        if (round < 2) {
            CHECK(value.len == 7 && memcmp(value.data, "arrived", 7) == 0);
            sheaf_bytes_free(&value);
        } else {
            CHECK(size == 7 && memcmp(buffer, "arrived", 7) == 0);
        }
        elapsed = woke - start;
        /* The put returned at n.put_at_ms; the waiter may see the value a bit before that
         * (the put's commit precedes its return) but not much after it. */
        double latency = woke - n.put_at_ms;
        CHECK_MSG(elapsed >= 140, "round %d: the WAIT get returned after %.1f ms, before the put",
                  round, elapsed);
        CHECK_MSG(latency < 200 * slack(),
                  "round %d: the WAIT get returned %.1f ms after the NOTIFY put", round, latency);
        if (round == 1) CHECK(!exists(kv, "late_pop"));
        else CHECK(exists(kv, n.key));
    }

    /* A plain put (no NOTIFY) is still seen by polling, well before the timeout. */
    {
        notifier n = {kv, "quiet", "q", 100, SHEAF_MODE_DEFAULT, 0, -1};
        pthread_t thread;
        REQUIRE(pthread_create(&thread, NULL, notifier_main, &n) == 0);
        start = now_ms();
        EXPECT_OK(sheaf_kv_get(kv, B("quiet"), SHEAF_MODE_WAIT, 20000, &value, &err));
        double woke = now_ms();
        REQUIRE(pthread_join(thread, NULL) == 0);
        CHECK(value.len == 1 && value.data[0] == 'q');
        sheaf_bytes_free(&value);
        CHECK_MSG(woke - n.put_at_ms < 500 * slack(), "a polled WAIT saw a put after %.1f ms",
                  woke - n.put_at_ms);
    }
    EXPECT_OK(sheaf_kv_drop(store, STR("waits"), NULL, &err));
    sheaf_kv_free(kv);
}

/* ---- multi calls, exists / length / erase / count / erase_range --------------------------- */

static void test_multi(SheafStore *store) {
    SheafKeySpace *kv = open_kv(store, "multi");
    packed k, v;
    int32_t statuses[8];
    SheafBytes values = {NULL, 0}, sizes = {NULL, 0};

    /* put_multi: 4 pairs, one with an empty value. */
    pk_clear(&k);
    pk_clear(&v);
    pk_adds(&k, "a");
    pk_adds(&v, "alpha");
    pk_adds(&k, "bb");
    pk_adds(&v, "beta");
    pk_add(&k, "c\0c", 3);
    pk_add(&v, "gam\0ma", 6);
    pk_adds(&k, "e");
    pk_adds(&v, "");
    memset(statuses, 0x55, sizeof statuses);
    EXPECT_OK(sheaf_kv_put_multi(kv, 4, k.data, k.sizes, v.data, v.sizes, 0, statuses, &err));
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(statuses[i], SHEAF_OK);
    CHECK_EQ_INT(count(kv), 4);
    EXPECT_VALUE(kv, "bb", "beta");

    /* get_multi: present, missing, present with NULs, empty; one packed buffer + sizes. */
    {
        packed q;
        pk_clear(&q);
        pk_adds(&q, "a");
        pk_adds(&q, "zz");
        pk_add(&q, "c\0c", 3);
        pk_adds(&q, "e");
        EXPECT_OK(sheaf_kv_get_multi(kv, 4, q.data, q.sizes, 0, &values, &sizes, &err));
        CHECK_EQ_INT(sizes.len, 4 * 8);
        CHECK_EQ_INT(u64_at(&sizes, 0), 5);
        CHECK(u64_at(&sizes, 1) == SHEAF_SIZE_NOT_FOUND);
        CHECK_EQ_INT(u64_at(&sizes, 2), 6);
        CHECK_EQ_INT(u64_at(&sizes, 3), 0);
        CHECK(values.len == 11 && memcmp(values.data, "alphagam\0ma", 11) == 0);
        sheaf_bytes_free(&values);
        sheaf_bytes_free(&sizes);

        /* exists_multi / length_multi / erase_multi on the same keys. */
        uint8_t flags[4] = {9, 9, 9, 9};
        uint64_t lengths[4] = {0, 0, 0, 0};
        EXPECT_OK(sheaf_kv_exists_multi(kv, 4, q.data, q.sizes, flags, &err));
        CHECK(flags[0] == 1 && flags[1] == 0 && flags[2] == 1 && flags[3] == 1);
        EXPECT_OK(sheaf_kv_length_multi(kv, 4, q.data, q.sizes, lengths, &err));
        CHECK(lengths[0] == 5 && lengths[1] == SHEAF_SIZE_NOT_FOUND && lengths[2] == 6 &&
              lengths[3] == 0);

        /* Zero keys: empty results. */
        EXPECT_OK(sheaf_kv_get_multi(kv, 0, NULL, NULL, 0, &values, &sizes, &err));
        CHECK(values.len == 0 && sizes.len == 0);

        /* CONSUME: taken in one go, missing ones reported missing. */
        packed c;
        pk_clear(&c);
        pk_adds(&c, "bb");
        pk_adds(&c, "nope");
        EXPECT_OK(sheaf_kv_get_multi(kv, 2, c.data, c.sizes, SHEAF_MODE_CONSUME, &values, &sizes,
                                     &err));
        CHECK(u64_at(&sizes, 0) == 4 && u64_at(&sizes, 1) == SHEAF_SIZE_NOT_FOUND);
        CHECK(values.len == 4 && memcmp(values.data, "beta", 4) == 0);
        sheaf_bytes_free(&values);
        sheaf_bytes_free(&sizes);
        CHECK(!exists(kv, "bb"));

        uint8_t existed[4] = {9, 9, 9, 9};
        EXPECT_OK(sheaf_kv_erase_multi(kv, 4, q.data, q.sizes, existed, &err));
        CHECK(existed[0] == 1 && existed[1] == 0 && existed[2] == 1 && existed[3] == 1);
        CHECK_EQ_INT(count(kv), 0);
        EXPECT_OK(sheaf_kv_erase_multi(kv, 4, q.data, q.sizes, NULL, &err));
    }

    /* put_multi NEW_ONLY, partly existing: every key is tried, per-key statuses, the first
     * failure returned; existing values untouched. */
    put(kv, "x1", "old1");
    put(kv, "x3", "old3");
    pk_clear(&k);
    pk_clear(&v);
    for (int i = 1; i <= 4; i++) {
        char key[16], val[16];
        snprintf(key, sizeof key, "x%d", i);
        snprintf(val, sizeof val, "new%d", i);
        pk_adds(&k, key);
        pk_adds(&v, val);
    }
    memset(statuses, 0x55, sizeof statuses);
    EXPECT_ERR(SHEAF_ERR_KEY_EXISTS, NULL,
               sheaf_kv_put_multi(kv, 4, k.data, k.sizes, v.data, v.sizes, SHEAF_MODE_NEW_ONLY,
                                  statuses, &err));
    CHECK_EQ_INT(statuses[0], SHEAF_ERR_KEY_EXISTS);
    CHECK_EQ_INT(statuses[1], SHEAF_OK);
    CHECK_EQ_INT(statuses[2], SHEAF_ERR_KEY_EXISTS);
    CHECK_EQ_INT(statuses[3], SHEAF_OK);
    EXPECT_VALUE(kv, "x1", "old1");
    EXPECT_VALUE(kv, "x2", "new2");
    EXPECT_VALUE(kv, "x3", "old3");
    EXPECT_VALUE(kv, "x4", "new4");
    /* EXIST_ONLY with a missing key; statuses may be NULL. */
    pk_adds(&k, "x5");
    pk_adds(&v, "new5");
    memset(statuses, 0x55, sizeof statuses);
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL,
               sheaf_kv_put_multi(kv, 5, k.data, k.sizes, v.data, v.sizes, SHEAF_MODE_EXIST_ONLY,
                                  statuses, &err));
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(statuses[i], SHEAF_OK);
    CHECK_EQ_INT(statuses[4], SHEAF_ERR_NO_SUCH_KEY);
    EXPECT_VALUE(kv, "x1", "new1");
    CHECK(!exists(kv, "x5"));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_KEY, NULL,
               sheaf_kv_put_multi(kv, 5, k.data, k.sizes, v.data, v.sizes, SHEAF_MODE_EXIST_ONLY,
                                  NULL, &err));
    /* APPEND for all. */
    EXPECT_OK(sheaf_kv_put_multi(kv, 5, k.data, k.sizes, v.data, v.sizes, SHEAF_MODE_APPEND, NULL,
                                 &err));
    EXPECT_VALUE(kv, "x2", "new2new2");
    EXPECT_VALUE(kv, "x5", "new5");

    /* exists / length / erase, single. */
    uint64_t length = 0;
    bool existed = false;
    CHECK(exists(kv, "x2"));
    CHECK(!exists(kv, "x9"));
    EXPECT_OK(sheaf_kv_length(kv, B("x2"), &length, &err));
    CHECK_EQ_INT(length, 8);
    EXPECT_OK(sheaf_kv_length(kv, B("x9"), &length, &err));
    CHECK(length == SHEAF_SIZE_NOT_FOUND);
    EXPECT_OK(sheaf_kv_erase(kv, B("x2"), &existed, &err));
    CHECK(existed);
    EXPECT_OK(sheaf_kv_erase(kv, B("x2"), &existed, &err));
    CHECK(!existed);
    EXPECT_OK(sheaf_kv_erase(kv, B("x2"), NULL, &err));
    CHECK_EQ_INT(count(kv), 4);

    /* erase_range: by prefix, then everything. */
    put(kv, "p/1", "1");
    put(kv, "p/2", "2");
    put(kv, "p", "not under p/");
    put(kv, "q/1", "1");
    uint64_t erased = 0;
    EXPECT_OK(sheaf_kv_erase_range(kv, B("p/"), &erased, &err));
    CHECK_EQ_INT(erased, 2);
    CHECK(exists(kv, "p") && exists(kv, "q/1") && !exists(kv, "p/1"));
    EXPECT_OK(sheaf_kv_erase_range(kv, B("nothing"), &erased, &err));
    CHECK_EQ_INT(erased, 0);
    EXPECT_OK(sheaf_kv_erase_range(kv, NULL, 0, &erased, &err));
    CHECK_EQ_INT(erased, 6);
    CHECK_EQ_INT(count(kv), 0);

    EXPECT_OK(sheaf_kv_drop(store, STR("multi"), NULL, &err));
    sheaf_kv_free(kv);
}

/* ---- listings ----------------------------------------------------------------------------- */

static void test_list(SheafStore *store) {
    SheafKeySpace *kv = open_kv(store, "listing");
    const uint32_t I = SHEAF_MODE_INCLUSIVE, NP = SHEAF_MODE_NO_PREFIX, S = SHEAF_MODE_SUFFIX;
    put(kv, "a", "1");
    put(kv, "b/1", "2");
    put(kv, "b/2", "3");
    put(kv, "b/3", "4");
    put(kv, "c", "5");
    put(kv, "d.txt", "6");
    put(kv, "e.txt", "7");
    put(kv, "f.log", "8");
    EXPECT_OK(sheaf_kv_put(kv, (const uint8_t *)"n", 1, B("9"), 0, &err));
    EXPECT_OK(sheaf_kv_put(kv, (const uint8_t *)"n\0b", 3, B("11"), 0, &err));
    EXPECT_OK(sheaf_kv_put(kv, (const uint8_t *)"n\0a", 3, B("10"), 0, &err));

    /* Everything, in byte order; keys only and with values. */
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 100, 0, false,
                "a|b/1|b/2|b/3|c|d.txt|e.txt|f.log|n|n\\0a|n\\0b");
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 100, 0, true,
                "a=1|b/1=2|b/2=3|b/3=4|c=5|d.txt=6|e.txt=7|f.log=8|n=9|n\\0a=10|n\\0b=11");
    /* count limits. */
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 3, 0, false, "a|b/1|b/2");
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 0, 0, false, "");
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 1, 0, true, "a=1");
    /* from_key: exclusive, INCLUSIVE; a from_key that is not a key. */
    EXPECT_LIST(kv, "b/1", 3, NULL, 0, 3, 0, false, "b/2|b/3|c");
    EXPECT_LIST(kv, "b/1", 3, NULL, 0, 3, I, false, "b/1|b/2|b/3");
    EXPECT_LIST(kv, "b", 1, NULL, 0, 2, 0, false, "b/1|b/2");
    EXPECT_LIST(kv, "b", 1, NULL, 0, 2, I, false, "b/1|b/2");
    EXPECT_LIST(kv, "n\0a", 3, NULL, 0, 10, 0, false, "n\\0b");
    EXPECT_LIST(kv, "zzz", 3, NULL, 0, 10, 0, false, "");
    /* Paging with count and from_key = the last key returned. */
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 2, 0, false, "b/1|b/2");
    EXPECT_LIST(kv, "b/2", 3, "b/", 2, 2, 0, false, "b/3");
    /* Prefix filter; NO_PREFIX strips it. */
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 100, 0, true, "b/1=2|b/2=3|b/3=4");
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 100, NP, true, "1=2|2=3|3=4");
    EXPECT_LIST(kv, "b/1", 3, "b/", 2, 100, NP, false, "2|3");
    EXPECT_LIST(kv, "b/2", 3, "b/", 2, 100, NP | I, false, "2|3");
    /* A from_key before the prefix range starts at the prefix; after it, nothing. */
    EXPECT_LIST(kv, "a", 1, "b/", 2, 100, 0, false, "b/1|b/2|b/3");
    EXPECT_LIST(kv, "c", 1, "b/", 2, 100, 0, false, "");
    EXPECT_LIST(kv, NULL, 0, "zz", 2, 100, 0, false, "");
    /* Keys with embedded NUL bytes, as prefix filter too. */
    EXPECT_LIST(kv, NULL, 0, "n\0", 2, 100, 0, true, "n\\0a=10|n\\0b=11");
    EXPECT_LIST(kv, NULL, 0, "n\0", 2, 100, NP, false, "a|b");
    EXPECT_LIST(kv, NULL, 0, "n", 1, 100, 0, false, "n|n\\0a|n\\0b");
    /* SUFFIX filter; NO_PREFIX then strips the suffix. */
    EXPECT_LIST(kv, NULL, 0, ".txt", 4, 100, S, true, "d.txt=6|e.txt=7");
    EXPECT_LIST(kv, NULL, 0, ".txt", 4, 100, S | NP, false, "d|e");
    EXPECT_LIST(kv, NULL, 0, ".txt", 4, 1, S, false, "d.txt");
    EXPECT_LIST(kv, "d.txt", 5, ".txt", 4, 100, S, false, "e.txt");
    EXPECT_LIST(kv, "d.txt", 5, ".txt", 4, 100, S | I, false, "d.txt|e.txt");
    EXPECT_LIST(kv, NULL, 0, "\0b", 2, 100, S, false, "n\\0b");
    EXPECT_LIST(kv, NULL, 0, ".none", 5, 100, S, false, "");
    /* IGNORE_KEYS: values only (every key empty); KEEP_LAST keeps the last key. */
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 100, SHEAF_MODE_IGNORE_KEYS, true, "=2|=3|=4");
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 100, SHEAF_MODE_KEEP_LAST, true, "=2|=3|b/3=4");
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 2, SHEAF_MODE_KEEP_LAST, true, "=2|b/2=3");
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 100, SHEAF_MODE_KEEP_LAST | NP, true, "=2|=3|3=4");

    /* CONSUME: what is returned is erased, the rest stays. */
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 2, SHEAF_MODE_CONSUME, true, "b/1=2|b/2=3");
    EXPECT_LIST(kv, NULL, 0, "b/", 2, 100, 0, false, "b/3");
    EXPECT_LIST(kv, NULL, 0, ".txt", 4, 100, S | SHEAF_MODE_CONSUME, false, "d.txt|e.txt");
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 100, 0, false, "a|b/3|c|f.log|n|n\\0a|n\\0b");
    EXPECT_LIST(kv, "n", 1, NULL, 0, 100, SHEAF_MODE_CONSUME | SHEAF_MODE_IGNORE_KEYS, true,
                "=10|=11");
    CHECK_EQ_INT(count(kv), 5);
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 100, SHEAF_MODE_CONSUME, true, "a=1|b/3=4|c=5|f.log=8|n=9");
    CHECK_EQ_INT(count(kv), 0);
    EXPECT_LIST(kv, NULL, 0, NULL, 0, 100, SHEAF_MODE_CONSUME, true, "");

    EXPECT_OK(sheaf_kv_drop(store, STR("listing"), NULL, &err));
    sheaf_kv_free(kv);
}

/* ---- collections -------------------------------------------------------------------------- */

static void expect_collections(SheafStore *store, const char *const *names, size_t n) {
    SheafBytes json = {NULL, 0};
    json_value list;
    EXPECT_OK(sheaf_collection_list(store, &json, &err));
    tu_parse_bytes(&json, &list);
    CHECK_MSG(tu_json_names_equal(&list, names, n), "collection_list gave %zu other name(s)",
              list.count);
    json_free(&list);
}

static bool collection_exists(SheafStore *store, const char *name) {
    bool e = false;
    EXPECT_OK(sheaf_collection_exists(store, STR(name), &e, &err));
    return e;
}

static void expect_size_at(int line, SheafCollection *c, uint64_t size, uint64_t last_id) {
    uint64_t s = 99, l = 99;
    EXPECT_OK(sheaf_collection_size(c, &s, &l, &err));
    if (s != size || l != last_id) {
        tu_fail(__FILE__, line, "collection size %llu last_id %llu, expected %llu and %llu",
                (unsigned long long)s, (unsigned long long)l, (unsigned long long)size,
                (unsigned long long)last_id);
    }
}

#define EXPECT_SIZE(c, size, last_id) expect_size_at(__LINE__, c, size, last_id)

static void expect_doc_at(int line, SheafCollection *c, uint64_t id, const void *doc, size_t len) {
    SheafBytes out = {NULL, 0};
    EXPECT_OK(sheaf_doc_load(c, id, &out, &err));
    if (out.len != len || (len && memcmp(out.data, doc, len) != 0)) {
        tu_fail(__FILE__, line, "document %llu is \"%.*s\", expected \"%.*s\"",
                (unsigned long long)id, (int)out.len, out.data ? (char *)out.data : "", (int)len,
                (const char *)doc);
    }
    sheaf_bytes_free(&out);
}

#define EXPECT_DOC(c, id, doc) expect_doc_at(__LINE__, c, id, doc, strlen(doc))

/* sheaf_doc_list rendered as "id:doc|id:doc". */
static void doc_list_text(SheafCollection *c, uint64_t start, size_t n, const char *filter,
                          char *out, size_t cap) {
    SheafBytes ids = {NULL, 0}, docs = {NULL, 0}, sizes = {NULL, 0};
    EXPECT_OK(sheaf_doc_list(c, start, n, filter, filter ? strlen(filter) : 0, &ids, &docs, &sizes,
                             &err));
    CHECK(ids.len == sizes.len && ids.len % 8 == 0);
    size_t pos = 0, o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ids.len / 8; i++) {
        uint64_t size = u64_at(&sizes, i);
        char piece[512];
        REQUIRE(pos + size <= docs.len);
        fmt_bytes(piece, sizeof piece, docs.data + pos, size);
        pos += size;
        o += (size_t)snprintf(out + o, cap > o ? cap - o : 0, "%s%llu:%s", i ? "|" : "",
                              (unsigned long long)u64_at(&ids, i), piece);
    }
    CHECK_EQ_INT(pos, docs.len);
    sheaf_bytes_free(&ids);
    sheaf_bytes_free(&docs);
    sheaf_bytes_free(&sizes);
}

#define EXPECT_DOC_LIST(c, start, n, filter, expected)                                     \
    do {                                                                                   \
        char got_[4096];                                                                   \
        doc_list_text(c, start, n, filter, got_, sizeof got_);                             \
        CHECK_MSG(strcmp(got_, expected) == 0, "doc_list gave \"%s\", expected \"%s\"", \
                  got_, expected);                                                         \
    } while (0)

static void test_collections(SheafStore *store) {
    SheafCollection *c = NULL, *other = NULL;
    uint64_t id = 99, ids[8];

    /* create / exists / open / list / drop. */
    CHECK(!collection_exists(store, "docs"));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_COLLECTION, "docs",
               sheaf_collection_open(store, STR("docs"), &c, &err));
    CHECK(c == NULL);
    EXPECT_OK(sheaf_collection_create(store, STR("docs"), &c, &err));
    REQUIRE(c != NULL);
    EXPECT_ERR(SHEAF_ERR_COLLECTION_EXISTS, "docs",
               sheaf_collection_create(store, STR("docs"), &other, &err));
    CHECK(other == NULL);
    EXPECT_OK(sheaf_collection_create(store, STR("aaa"), &other, &err));
    CHECK(collection_exists(store, "docs"));
    {
        const char *const names[] = {"aaa", "docs"};
        expect_collections(store, names, 2);
    }
    EXPECT_SIZE(c, 0, 0);

    /* Ids are sequential from 0, across store and store_multi. */
    const char *d0 = "{\"type\": \"a\", \"n\": 0}", *d1 = "{\"type\": \"b\", \"n\": 1}",
               *d2 = "{\"type\": \"a\", \"n\": 2, \"tags\": [\"x\", \"y\"]}";
    EXPECT_OK(sheaf_doc_store(c, B(d0), &id, &err));
    CHECK_EQ_INT(id, 0);
    EXPECT_OK(sheaf_doc_store(c, B(d1), &id, &err));
    CHECK_EQ_INT(id, 1);
    EXPECT_OK(sheaf_doc_store(c, B(d2), NULL, &err));
    EXPECT_SIZE(c, 3, 3);
    static const uint8_t raw[] = {'r', 'a', 'w', 0, 0xff, '{'};
    packed p;
    pk_clear(&p);
    pk_adds(&p, "{\"type\": \"b\", \"n\": 3}");
    pk_add(&p, raw, sizeof raw); /* not JSON */
    pk_adds(&p, "{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}");
    memset(ids, 0, sizeof ids);
    EXPECT_OK(sheaf_doc_store_multi(c, 3, p.data, p.sizes, ids, &err));
    CHECK(ids[0] == 3 && ids[1] == 4 && ids[2] == 5);
    EXPECT_SIZE(c, 6, 6);

    /* load / load_multi. */
    EXPECT_DOC(c, 0, d0);
    EXPECT_DOC(c, 2, d2);
    expect_doc_at(__LINE__, c, 4, raw, sizeof raw);
    SheafBytes out = {NULL, 0}, sizes = {NULL, 0};
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, NULL, sheaf_doc_load(c, 6, &out, &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, NULL, sheaf_doc_load(c, UINT64_MAX, &out, &err));
    CHECK(out.data == NULL);
    {
        uint64_t want[3] = {1, 77, 4};
        EXPECT_OK(sheaf_doc_load_multi(c, 3, want, &out, &sizes, &err));
        CHECK_EQ_INT(sizes.len, 24);
        CHECK(u64_at(&sizes, 0) == strlen(d1) && u64_at(&sizes, 1) == SHEAF_SIZE_NOT_FOUND &&
              u64_at(&sizes, 2) == sizeof raw);
        CHECK(out.len == strlen(d1) + sizeof raw && memcmp(out.data, d1, strlen(d1)) == 0 &&
              memcmp(out.data + strlen(d1), raw, sizeof raw) == 0);
        sheaf_bytes_free(&out);
        sheaf_bytes_free(&sizes);
    }

    /* load_into: into the caller's buffer; too small says the size needed and writes nothing. */
    {
        uint8_t buf[64];
        size_t size = 0;
        memset(buf, 0xAA, sizeof buf);
        EXPECT_OK(sheaf_doc_load_into(c, 4, buf, sizeof buf, &size, &err));
        CHECK(size == sizeof raw && memcmp(buf, raw, sizeof raw) == 0 && buf[sizeof raw] == 0xAA);
        memset(buf, 0xAA, sizeof buf);
        EXPECT_ERR(SHEAF_ERR_BUFFER_TOO_SMALL, "needs",
                   sheaf_doc_load_into(c, 0, buf, 3, &size, &err));
        CHECK(size == strlen(d0) && buf[0] == 0xAA);
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, NULL,
                   sheaf_doc_load_into(c, 77, buf, sizeof buf, &size, &err));
        EXPECT_ERR(SHEAF_ERR_NULL_POINTER, NULL, sheaf_doc_load_into(c, 0, NULL, 8, &size, &err));
        EXPECT_ERR(SHEAF_ERR_NULL_POINTER, NULL,
                   sheaf_doc_load_into(c, 0, buf, sizeof buf, NULL, &err));
    }

    /* update_multi: a missing id fails the call and changes nothing. */
    {
        uint64_t upd_ids[2] = {1, 42};
        packed u;
        pk_clear(&u);
        pk_adds(&u, "{\"type\": \"b\", \"n\": 10}");
        pk_adds(&u, "{\"new\": true}");
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, "42",
                   sheaf_doc_update_multi(c, 2, upd_ids, u.data, u.sizes, 0, &err));
        EXPECT_DOC(c, 1, d1);
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, NULL, sheaf_doc_load(c, 42, &out, &err));
        EXPECT_SIZE(c, 6, 6);
        /* Only the existing one: replaced. */
        EXPECT_OK(sheaf_doc_update_multi(c, 1, upd_ids, u.data, u.sizes, 0, &err));
        EXPECT_DOC(c, 1, "{\"type\": \"b\", \"n\": 10}");
        EXPECT_SIZE(c, 6, 6);
        /* UPDATE_NEW creates id 42: size + 1, the next id moves past it. */
        EXPECT_OK(sheaf_doc_update_multi(c, 2, upd_ids, u.data, u.sizes, SHEAF_MODE_UPDATE_NEW,
                                         &err));
        EXPECT_DOC(c, 42, "{\"new\": true}");
        EXPECT_SIZE(c, 7, 43);
        /* A new id named twice in one call is one document. */
        uint64_t twice[2] = {50, 50};
        packed t;
        pk_clear(&t);
        pk_adds(&t, "first");
        pk_adds(&t, "second");
        EXPECT_OK(sheaf_doc_update_multi(c, 2, twice, t.data, t.sizes, SHEAF_MODE_UPDATE_NEW, &err));
        EXPECT_DOC(c, 50, "second");
        EXPECT_SIZE(c, 8, 51);
        /* A mode other than UPDATE_NEW makes no sense here. */
        EXPECT_ERR(SHEAF_ERR_INVALID_MODE, NULL,
                   sheaf_doc_update_multi(c, 1, upd_ids, u.data, u.sizes, SHEAF_MODE_CONSUME, &err));
        /* store continues after the highest id. */
        EXPECT_OK(sheaf_doc_store(c, B("{\"type\": \"c\"}"), &id, &err));
        CHECK_EQ_INT(id, 51);
        EXPECT_SIZE(c, 9, 52);
    }

    /* erase_multi: a missing id fails the call and erases nothing. */
    {
        uint64_t erase_ids[2] = {2, 43};
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, "43", sheaf_doc_erase_multi(c, 2, erase_ids, &err));
        EXPECT_DOC(c, 2, d2);
        EXPECT_SIZE(c, 9, 52);
        erase_ids[1] = 50;
        EXPECT_OK(sheaf_doc_erase_multi(c, 2, erase_ids, &err));
        EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, NULL, sheaf_doc_load(c, 2, &out, &err));
        EXPECT_SIZE(c, 7, 52); /* erasing does not give ids back */
        EXPECT_OK(sheaf_doc_store(c, B("{\"type\": \"a\", \"n\": 52}"), &id, &err));
        CHECK_EQ_INT(id, 52);
        EXPECT_SIZE(c, 8, 53);
    }

    /* doc_list: ids ascending from start_id, count, filters on top-level fields. */
    EXPECT_DOC_LIST(c, 0, 100, NULL,
                    "0:{\"type\": \"a\", \"n\": 0}|1:{\"type\": \"b\", \"n\": 10}|"
                    "3:{\"type\": \"b\", \"n\": 3}|4:raw\\0\\xff{|"
                    "5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}|42:{\"new\": true}|"
                    "51:{\"type\": \"c\"}|52:{\"type\": \"a\", \"n\": 52}");
    EXPECT_DOC_LIST(c, 0, 100, "{}",
                    "0:{\"type\": \"a\", \"n\": 0}|1:{\"type\": \"b\", \"n\": 10}|"
                    "3:{\"type\": \"b\", \"n\": 3}|4:raw\\0\\xff{|"
                    "5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}|42:{\"new\": true}|"
                    "51:{\"type\": \"c\"}|52:{\"type\": \"a\", \"n\": 52}");
    EXPECT_DOC_LIST(c, 0, 2, NULL, "0:{\"type\": \"a\", \"n\": 0}|1:{\"type\": \"b\", \"n\": 10}");
    EXPECT_DOC_LIST(c, 4, 2, NULL, "4:raw\\0\\xff{|5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}");
    EXPECT_DOC_LIST(c, 2, 1, NULL, "3:{\"type\": \"b\", \"n\": 3}");
    EXPECT_DOC_LIST(c, 53, 10, NULL, "");
    EXPECT_DOC_LIST(c, 0, 0, NULL, "");
    EXPECT_DOC_LIST(c, 0, 100, "{\"type\": \"a\"}",
                    "0:{\"type\": \"a\", \"n\": 0}|5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}|"
                    "52:{\"type\": \"a\", \"n\": 52}");
    EXPECT_DOC_LIST(c, 1, 100, "{\"type\": \"a\"}",
                    "5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}|52:{\"type\": \"a\", \"n\": 52}");
    EXPECT_DOC_LIST(c, 0, 1, "{\"type\": \"a\"}", "0:{\"type\": \"a\", \"n\": 0}");
    EXPECT_DOC_LIST(c, 0, 100, "{\"type\": \"a\", \"n\": 5}",
                    "5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}");
    EXPECT_DOC_LIST(c, 0, 100, "{\"nested\": {\"k\": 1}}",
                    "5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}");
    EXPECT_DOC_LIST(c, 0, 100, "{\"type\": \"b\", \"n\": 3}", "3:{\"type\": \"b\", \"n\": 3}");
    EXPECT_DOC_LIST(c, 0, 100, "{\"type\": \"z\"}", "");
    EXPECT_DOC_LIST(c, 0, 100, "{\"k\": 1}", ""); /* only top-level fields */
    /* Equal JSON numbers are equal however they are written (5, 5.0, 5e0): a filter built by a
     * language that writes floats as "5.0" must find the document stored with 5. */
    {
        static const char *const same_number[] = {"{\"n\": 5.0}", "{\"n\": 5e0}", "{\"n\": 0.5e1}"};
        for (size_t i = 0; i < 3; i++) {
            char got[1024];
            doc_list_text(c, 0, 100, same_number[i], got, sizeof got);
            CHECK_MSG(strcmp(got, "5:{\"type\": \"a\", \"n\": 5, \"nested\": {\"k\": 1}}") == 0,
                      "LIBRARY BUG: doc_list filter %s does not match the document holding \"n\": 5 "
                      "(got \"%s\"): an integer and a float of the same value compare unequal",
                      same_number[i], got);
        }
    }
    {
        SheafBytes a = {NULL, 0}, b = {NULL, 0}, s = {NULL, 0};
        EXPECT_ERR(SHEAF_ERR_INVALID_JSON, NULL,
                   sheaf_doc_list(c, 0, 10, STR("[1, 2]"), &a, &b, &s, &err));
        EXPECT_ERR(SHEAF_ERR_INVALID_JSON, NULL,
                   sheaf_doc_list(c, 0, 10, STR("{not json"), &a, &b, &s, &err));
    }

    /* A second handle and the other collection are independent. */
    SheafCollection *again = NULL;
    EXPECT_OK(sheaf_collection_open(store, STR("docs"), &again, &err));
    EXPECT_SIZE(again, 8, 53);
    EXPECT_SIZE(other, 0, 0);
    EXPECT_OK(sheaf_doc_store(other, B("x"), &id, &err));
    CHECK_EQ_INT(id, 0);
    sheaf_collection_free(again);

    /* Close: later calls are SHEAF_ERR_CLOSED. */
    EXPECT_OK(sheaf_collection_close(other, &err));
    EXPECT_OK(sheaf_collection_close(other, &err));
    EXPECT_ERR(SHEAF_ERR_CLOSED, NULL, sheaf_doc_store(other, B("y"), &id, &err));
    sheaf_collection_free(other);
    sheaf_collection_free(NULL);

    /* Drop: gone with its documents; a handle on it now finds no collection. */
    EXPECT_OK(sheaf_collection_drop(store, STR("docs"), &err));
    CHECK(!collection_exists(store, "docs"));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_COLLECTION, NULL,
               sheaf_collection_drop(store, STR("docs"), &err));
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_COLLECTION, NULL, sheaf_doc_store(c, B("z"), &id, &err));
    sheaf_collection_free(c);
    c = NULL;
    EXPECT_OK(sheaf_collection_create(store, STR("docs"), &c, &err));
    EXPECT_SIZE(c, 0, 0); /* fresh: ids start again at 0, no old documents */
    EXPECT_ERR(SHEAF_ERR_NO_SUCH_DOCUMENT, NULL, sheaf_doc_load(c, 0, &out, &err));
    EXPECT_DOC_LIST(c, 0, 100, NULL, "");
    sheaf_collection_free(c);
    EXPECT_OK(sheaf_collection_drop(store, STR("docs"), &err));
    EXPECT_OK(sheaf_collection_drop(store, STR("aaa"), &err));
    expect_collections(store, NULL, 0);

    /* Collections and key spaces do not see each other. */
    SheafKeySpace *kv = open_kv(store, "docs");
    CHECK(!collection_exists(store, "docs"));
    sheaf_kv_free(kv);
    EXPECT_OK(sheaf_kv_drop(store, STR("docs"), NULL, &err));
}

/*
 * A count far above the number of documents must simply return them all, whatever its value.
 * Run in a child process with an alarm, so that a hang fails this check instead of the suite.
 */
static void test_doc_list_huge_counts(void) {
    /* (SIZE_MAX >> 2) + 1 = 2^62 on 64-bit: times 4 it wraps to 0 in size_t arithmetic. */
    const size_t counts[] = {SIZE_MAX, (SIZE_MAX >> 2) + 1, (size_t)1 << 30};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int failures_before = tu_failures; /* inherited from the parent */
            alarm((unsigned)(3 * slack()));
            SheafStore *store = tu_open_store("mem://");
            SheafCollection *c = NULL;
            EXPECT_OK(sheaf_collection_create(store, STR("huge"), &c, &err));
            for (int d = 0; d < 3; d++) EXPECT_OK(sheaf_doc_store(c, B("{}"), NULL, &err));
            SheafBytes ids = {NULL, 0}, docs = {NULL, 0}, sizes = {NULL, 0};
            EXPECT_OK(sheaf_doc_list(c, 0, counts[i], NULL, 0, &ids, &docs, &sizes, &err));
            CHECK_EQ_INT(ids.len, 3 * 8);
            sheaf_bytes_free(&ids);
            sheaf_bytes_free(&docs);
            sheaf_bytes_free(&sizes);
            sheaf_collection_free(c);
            sheaf_store_free(store);
            _exit(tu_failures > failures_before ? 1 : 0);
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            tu_fail(__FILE__, __LINE__,
                    "LIBRARY BUG: sheaf_doc_list(count = %zu = 0x%zx) on 3 documents did not return "
                    "within %.0f s (hangs)", counts[i], counts[i], 3 * slack());
        } else {
            CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "sheaf_doc_list(count = 0x%zx): the child ended with status 0x%x", counts[i],
                      status);
        }
    }
}

/* ---- the suite ---------------------------------------------------------------------------- */

static void run_suite(const char *uri) {
    printf("  key-value suite on %s\n", uri);
    SheafStore *store = tu_open_store(uri);
    test_spaces(store);
    test_put_modes(store);
    test_get(store);
    test_wait(store);
    test_multi(store);
    test_list(store);
    test_collections(store);
    sheaf_store_free(store);
}

int main(void) {
    run_suite("mem://");
    test_doc_list_huge_counts();
    test_mode_values_are_yokans();
    char *dir = tu_make_tmpdir("kv");
    char *uri = tu_lmdb_uri(dir, "store");
    run_suite(uri);
    free(uri);
    tu_remove_dir(dir);
    free(dir);
    return tu_finish("test_kv");
}

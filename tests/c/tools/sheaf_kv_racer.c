/*
 * sheaf_kv_racer <uri> <space> <n_keys> <racer_id> <out_file> [<chunk>]
 *
 * Tries to create the keys "key-000000" .. "key-<n_keys-1>" (printf "key-%06d") in the key
 * space `space` with NEW_ONLY puts, `chunk` keys per sheaf_kv_put_multi call (default 50), in
 * ascending order; every value is racer_id as decimal text. Reads each key's status:
 * SHEAF_OK = this racer created it ("won"), SHEAF_ERR_KEY_EXISTS = another did ("lost"); any
 * other per-key or call status is an error.
 *
 * Writes one line per key to out_file, in key order: "<key> won" or "<key> lost".
 * Exit status: 0 = done; 1 = an unexpected status (message on stderr); 2 = bad arguments.
 */
#include "tool_common.h"

int main(int argc, char **argv) {
    tool_name = "sheaf_kv_racer";
    if (argc != 6 && argc != 7) {
        fprintf(stderr,
                "usage: sheaf_kv_racer <uri> <space> <n_keys> <racer_id> <out_file> [<chunk>]\n");
        return 2;
    }
    const char *uri = argv[1], *space = argv[2], *out_path = argv[5];
    long long n_keys = tool_parse_count(argv[3], "n_keys");
    long long racer = tool_parse_count(argv[4], "racer_id");
    long long chunk = argc == 7 ? tool_parse_count(argv[6], "chunk") : 50;
    if (n_keys > 999999 || chunk < 1 || chunk > 10000) {
        fprintf(stderr, "sheaf_kv_racer: n_keys must be <= 999999 and chunk 1 .. 10000\n");
        return 2;
    }

    FILE *out = fopen(out_path, "w");
    if (!out) tool_die("cannot open %s: %s", out_path, strerror(errno));
    SheafStore *store = tool_open_store(uri);
    SheafKeySpace *kv = NULL;
    SheafError *err = NULL;
    tool_check(sheaf_kv_open(store, space, strlen(space), &kv, &err), err, "sheaf_kv_open");

    char value[32];
    snprintf(value, sizeof value, "%lld", racer);
    size_t value_len = strlen(value);
    char *keys = malloc((size_t)chunk * 10 + 1); /* + the NUL snprintf writes after the last */
    char *values = malloc((size_t)chunk * value_len + 1);
    size_t *key_sizes = malloc(sizeof(size_t) * (size_t)chunk);
    size_t *value_sizes = malloc(sizeof(size_t) * (size_t)chunk);
    int32_t *statuses = malloc(sizeof(int32_t) * (size_t)chunk);
    if (!keys || !values || !key_sizes || !value_sizes || !statuses) tool_die("out of memory");

    for (long long first = 0; first < n_keys; first += chunk) {
        size_t n = (size_t)(n_keys - first < chunk ? n_keys - first : chunk);
        for (size_t i = 0; i < n; i++) {
            snprintf(keys + i * 10, 11, "key-%06lld", first + (long long)i);
            key_sizes[i] = 10;
            memcpy(values + i * value_len, value, value_len);
            value_sizes[i] = value_len;
            statuses[i] = -1;
        }
        err = NULL;
        SheafStatus st = sheaf_kv_put_multi(kv, n, (const uint8_t *)keys, key_sizes,
                                            (const uint8_t *)values, value_sizes,
                                            SHEAF_MODE_NEW_ONLY, statuses, &err);
        if (st != SHEAF_OK && st != SHEAF_ERR_KEY_EXISTS) tool_check(st, err, "sheaf_kv_put_multi");
        sheaf_error_free(err);
        bool any_lost = false;
        for (size_t i = 0; i < n; i++) {
            if (statuses[i] == SHEAF_OK) {
                fprintf(out, "%.10s won\n", keys + i * 10);
            } else if (statuses[i] == SHEAF_ERR_KEY_EXISTS) {
                fprintf(out, "%.10s lost\n", keys + i * 10);
                any_lost = true;
            } else {
                tool_die("%.10s: unexpected status %s (%d)", keys + i * 10,
                         sheaf_status_name(statuses[i]), (int)statuses[i]);
            }
        }
        /* The call's status is the first failing key's, or SHEAF_OK when none failed. */
        if ((st == SHEAF_ERR_KEY_EXISTS) != any_lost)
            tool_die("sheaf_kv_put_multi returned %s but the per-key statuses %s a loss",
                     sheaf_status_name(st), any_lost ? "show" : "do not show");
    }
    free(keys);
    free(values);
    free(key_sizes);
    free(value_sizes);
    free(statuses);
    sheaf_kv_free(kv);
    sheaf_store_free(store);
    tool_close_output(out, out_path);
    return 0;
}

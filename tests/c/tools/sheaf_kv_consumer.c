/*
 * sheaf_kv_consumer <uri> <space> <out_file> [<control_space> [<control_key>]]
 *
 * Pops entries from the key space `space` like a queue: sheaf_kv_list with SHEAF_MODE_CONSUME
 * and values, a few entries per call, in key order, and writes each popped value on its own
 * line of out_file (values must not contain newlines).
 *
 * Without control_space it stops when a pop returns nothing (the space is empty). With it, the
 * queue may still be filling: it stops only once the key control_key (default "done") exists in
 * control_space and a pop after seeing it returns nothing (so a producer puts that key after its
 * last item). Prints how many items it popped on stderr.
 *
 * Exit status: 0 = done; 1 = a Sheaf call failed (message on stderr); 2 = bad arguments.
 */
#include "tool_common.h"

#define PAGE 7

int main(int argc, char **argv) {
    tool_name = "sheaf_kv_consumer";
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: sheaf_kv_consumer <uri> <space> <out_file> [<control_space> "
                        "[<control_key>]]\n");
        return 2;
    }
    const char *uri = argv[1], *space = argv[2], *out_path = argv[3];
    const char *control = argc >= 5 ? argv[4] : NULL;
    const char *control_key = argc == 6 ? argv[5] : "done";

    FILE *out = fopen(out_path, "w");
    if (!out) tool_die("cannot open %s: %s", out_path, strerror(errno));
    SheafStore *store = tool_open_store(uri);
    SheafKeySpace *kv = NULL, *ctl = NULL;
    SheafError *err = NULL;
    tool_check(sheaf_kv_open(store, space, strlen(space), &kv, &err), err, "sheaf_kv_open");
    if (control) {
        err = NULL;
        tool_check(sheaf_kv_open(store, control, strlen(control), &ctl, &err), err,
                   "sheaf_kv_open (control space)");
    }

    bool done_seen = control == NULL;
    unsigned long long popped = 0;
    for (;;) {
        SheafBytes keys = {NULL, 0}, key_sizes = {NULL, 0}, values = {NULL, 0},
                   value_sizes = {NULL, 0};
        err = NULL;
        tool_check(sheaf_kv_list(kv, NULL, 0, NULL, 0, PAGE, SHEAF_MODE_CONSUME, &keys, &key_sizes,
                                 &values, &value_sizes, &err),
                   err, "sheaf_kv_list (CONSUME)");
        size_t n = value_sizes.len / sizeof(uint64_t), pos = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t size;
            memcpy(&size, value_sizes.data + i * sizeof size, sizeof size);
            if (pos + size > values.len) tool_die("value sizes run past the values");
            fwrite(values.data + pos, 1, (size_t)size, out);
            fputc('\n', out);
            pos += (size_t)size;
        }
        popped += n;
        sheaf_bytes_free(&keys);
        sheaf_bytes_free(&key_sizes);
        sheaf_bytes_free(&values);
        sheaf_bytes_free(&value_sizes);
        if (n > 0) continue;
        if (done_seen) break;
        bool done = false;
        err = NULL;
        tool_check(sheaf_kv_exists(ctl, (const uint8_t *)control_key, strlen(control_key), &done, &err), err,
                   "sheaf_kv_exists (control space)");
        if (done) done_seen = true; /* one more pop: the queue is complete now */
        else tool_sleep_ms(1);
    }
    fprintf(stderr, "sheaf_kv_consumer: popped %llu item(s)\n", popped);
    sheaf_kv_free(ctl);
    sheaf_kv_free(kv);
    sheaf_store_free(store);
    tool_close_output(out, out_path);
    return 0;
}

/*
 * sheaf_appender <uri> <library> <symbol> <writer_id> <n_batches> [<rows_per_batch>]
 *
 * Appends n_batches small batches to `symbol` with sheaf_table_append, one call per batch.
 * Batch `seq` (0 .. n_batches-1) has rows_per_batch rows (default 1) with the columns
 * "writer" int64 = writer_id and "seq" int64 = seq; there is no index. The library is created
 * (default options) if it does not exist.
 *
 * Prints one line per committed batch on stdout: "<writer_id> <seq> <version>".
 * Exit status: 0 = every batch committed; 1 = a Sheaf call failed (message on stderr);
 * 2 = bad arguments.
 */
#include "arrow_build.h"
#include "tool_common.h"

int main(int argc, char **argv) {
    tool_name = "sheaf_appender";
    if (argc != 6 && argc != 7) {
        fprintf(stderr,
                "usage: sheaf_appender <uri> <library> <symbol> <writer_id> <n_batches> "
                "[<rows_per_batch>]\n");
        return 2;
    }
    const char *uri = argv[1], *library = argv[2], *symbol = argv[3];
    int64_t writer = (int64_t)tool_parse_count(argv[4], "writer_id");
    long long n_batches = tool_parse_count(argv[5], "n_batches");
    long long rows = argc == 7 ? tool_parse_count(argv[6], "rows_per_batch") : 1;
    if (rows < 1 || rows > 1000000) {
        fprintf(stderr, "sheaf_appender: rows_per_batch must be 1 .. 1000000\n");
        return 2;
    }

    SheafStore *store = tool_open_store(uri);
    SheafLibrary *lib = NULL;
    SheafError *err = NULL;
    tool_check(sheaf_library_open(store, library, strlen(library), true, NULL, 0, &lib, &err), err,
               "sheaf_library_open");

    int64_t *writers = malloc(sizeof(int64_t) * (size_t)rows);
    int64_t *seqs = malloc(sizeof(int64_t) * (size_t)rows);
    if (!writers || !seqs) tool_die("out of memory");
    for (long long seq = 0; seq < n_batches; seq++) {
        for (long long r = 0; r < rows; r++) {
            writers[r] = writer;
            seqs[r] = seq;
        }
        ab_column cols[2];
        struct ArrowArrayStream stream;
        ab_make_int64(&cols[0], "writer", writers, NULL, rows);
        ab_make_int64(&cols[1], "seq", seqs, NULL, rows);
        ab_stream_from_columns(&stream, cols, 2, NULL);
        uint64_t version = 0;
        err = NULL;
        SheafStatus st =
            sheaf_table_append(lib, symbol, strlen(symbol), &stream, NULL, 0, NULL, 0, &version, &err);
        if (stream.release) tool_die("sheaf_table_append left the stream unreleased");
        char what[96];
        snprintf(what, sizeof what, "sheaf_table_append of batch %lld", seq);
        tool_check(st, err, what);
        printf("%lld %lld %llu\n", (long long)writer, seq, (unsigned long long)version);
    }
    free(writers);
    free(seqs);
    sheaf_library_free(lib);
    sheaf_store_free(store);
    if (fflush(stdout) != 0 || ferror(stdout)) tool_die("cannot write stdout");
    return 0;
}

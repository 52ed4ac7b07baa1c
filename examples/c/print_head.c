/*
 * print_head.c — prints the column names and first rows of the latest version of a symbol,
 * whoever wrote it (C, Python/pandas, ...).
 *
 *   usage: print_head <store-uri> <library> <symbol> [n=5]
 *
 *   build: cc -std=c99 -I include examples/c/print_head.c -L target/x86_64-unknown-linux-gnu/release -lsheaf \
 *             -Wl,-rpath,$PWD/target/x86_64-unknown-linux-gnu/release -o print_head
 *
 * Understands the Arrow formats a table usually holds: integers, floats, bool, utf8 and
 * large_utf8 strings, timestamps (ISO-8601 with nanoseconds: UTC "Z" for zoned ones, with the
 * zone named after the value when it is not UTC; no "Z" for naive ones), date32/date64, and
 * dictionary-encoded columns of these.
 * Nulls print as "null", any other format as "?".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheaf.h"

#define CELL_MAX 48 /* longer values are cut, and end in "..." */

/* ---- formatting one value ------------------------------------------------------------------ */

/* Civil date from days since 1970-01-01 (H. Hinnant's algorithm; valid for any int64 day). */
static void civil_from_days(int64_t days, int64_t *y, int64_t *m, int64_t *d) {
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/*
 * Formats a timestamp of `per_second` units per second as ISO-8601 with 9 fraction digits.
 * Arrow stores a zoned timestamp as a UTC instant, so it prints in UTC ("Z"), followed by the
 * zone's name when that is not UTC. A naive timestamp (empty zone) is wall-clock time in no
 * particular zone: it prints without "Z".
 */
static void format_timestamp(int64_t value, int64_t per_second, const char *tz, char *out,
                             size_t out_len) {
    int64_t secs = value / per_second, frac = value % per_second;
    if (frac < 0) { frac += per_second; secs -= 1; }
    int64_t ns = frac * (1000000000 / per_second);
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) { rem += 86400; days -= 1; }
    int64_t y, m, d;
    civil_from_days(days, &y, &m, &d);
    int is_utc = strcmp(tz, "UTC") == 0 || strcmp(tz, "+00:00") == 0 || strcmp(tz, "Z") == 0;
    snprintf(out, out_len, "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64 ":%02" PRId64
             ":%02" PRId64 ".%09" PRId64 "%s%s%s%s", y, m, d, rem / 3600, rem / 60 % 60, rem % 60,
             ns, tz[0] ? "Z" : "", tz[0] && !is_utc ? " [" : "", tz[0] && !is_utc ? tz : "",
             tz[0] && !is_utc ? "]" : "");
}

/* The shortest %g text (15 to 17 digits) that reads back as the same double. */
static void format_double(double value, char *out, size_t out_len) {
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(out, out_len, "%.*g", precision, value);
        if (strtod(out, NULL) == value) return;
    }
}

static void format_date(int64_t days, char *out, size_t out_len) {
    int64_t y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, out_len, "%04" PRId64 "-%02" PRId64 "-%02" PRId64, y, m, d);
}

/* Reads element `i` of a buffer of little fixed-width values without alignment assumptions. */
#define LOAD(type, buffer, i) load_##type((const unsigned char *)(buffer), (i))
#define DEFINE_LOAD(type)                                                         \
    static type load_##type(const unsigned char *buffer, int64_t i) {             \
        type v;                                                                   \
        memcpy(&v, buffer + sizeof(type) * (size_t)i, sizeof v);                  \
        return v;                                                                 \
    }
DEFINE_LOAD(int8_t)
DEFINE_LOAD(int16_t)
DEFINE_LOAD(int32_t)
DEFINE_LOAD(int64_t)
DEFINE_LOAD(uint8_t)
DEFINE_LOAD(uint16_t)
DEFINE_LOAD(uint32_t)
DEFINE_LOAD(uint64_t)
DEFINE_LOAD(float)
DEFINE_LOAD(double)

/* Reads an integer of any of the formats c C s S i I l L (dictionary keys, integer columns). */
static int read_integer(const char *format, const void *values, int64_t i, int64_t *out,
                        uint64_t *out_unsigned, int *is_unsigned) {
    *is_unsigned = 0;
    switch (format[0]) {
    case 'c': *out = LOAD(int8_t, values, i); return 1;
    case 's': *out = LOAD(int16_t, values, i); return 1;
    case 'i': *out = LOAD(int32_t, values, i); return 1;
    case 'l': *out = LOAD(int64_t, values, i); return 1;
    case 'C': *out = LOAD(uint8_t, values, i); return 1;
    case 'S': *out = LOAD(uint16_t, values, i); return 1;
    case 'I': *out = LOAD(uint32_t, values, i); return 1;
    case 'L':
        *out_unsigned = LOAD(uint64_t, values, i);
        *out = (int64_t)*out_unsigned;
        *is_unsigned = 1;
        return 1;
    default: return 0;
    }
}

static int is_valid(const struct ArrowArray *a, int64_t index) {
    if (a->null_count == 0 || a->n_buffers < 1 || a->buffers[0] == NULL) return 1;
    const unsigned char *bits = a->buffers[0];
    return (bits[index / 8] >> (index % 8)) & 1;
}

/* Copies a string value, cutting it (at a UTF-8 character boundary) after CELL_MAX bytes. */
static void format_text(const char *data, int64_t len, char *out, size_t out_len) {
    if (len <= CELL_MAX) {
        snprintf(out, out_len, "%.*s", (int)len, data);
        return;
    }
    int cut = CELL_MAX - 3;
    while (cut > 0 && ((unsigned char)data[cut] & 0xC0) == 0x80) cut--; /* not mid-character */
    snprintf(out, out_len, "%.*s...", cut, data);
}

/* How many characters (UTF-8 code points) a cell shows, for alignment. */
static size_t display_width(const char *text) {
    size_t n = 0;
    for (; *text; text++) n += ((unsigned char)*text & 0xC0) != 0x80;
    return n;
}

/* Formats row `row` (already counting the parent's offset) of column array `a`, typed by `f`. */
static void format_cell(const struct ArrowSchema *f, const struct ArrowArray *a, int64_t row,
                        char *out, size_t out_len) {
    int64_t i = a->offset + row; /* physical index into the buffers */
    const char *fmt = f->format;
    int64_t v = 0;
    uint64_t u = 0;
    int is_unsigned = 0;

    if (!is_valid(a, i)) {
        snprintf(out, out_len, "null");
        return;
    }
    if (f->dictionary != NULL && a->dictionary != NULL) {
        /* Dictionary-encoded: the column holds integer keys into a->dictionary. */
        if (!read_integer(fmt, a->buffers[1], i, &v, &u, &is_unsigned)) {
            snprintf(out, out_len, "?");
            return;
        }
        format_cell(f->dictionary, a->dictionary, v, out, out_len);
        return;
    }
    if (fmt[1] == '\0' && read_integer(fmt, a->buffers[1], i, &v, &u, &is_unsigned)) {
        if (is_unsigned) snprintf(out, out_len, "%" PRIu64, u);
        else snprintf(out, out_len, "%" PRId64, v);
    } else if (strcmp(fmt, "g") == 0) {
        format_double(LOAD(double, a->buffers[1], i), out, out_len);
    } else if (strcmp(fmt, "f") == 0) {
        format_double((double)LOAD(float, a->buffers[1], i), out, out_len);
    } else if (strcmp(fmt, "b") == 0) {
        const unsigned char *bits = a->buffers[1];
        snprintf(out, out_len, "%s", (bits[i / 8] >> (i % 8)) & 1 ? "true" : "false");
    } else if (strcmp(fmt, "u") == 0) {
        int32_t start = LOAD(int32_t, a->buffers[1], i), end = LOAD(int32_t, a->buffers[1], i + 1);
        format_text((const char *)a->buffers[2] + start, end - start, out, out_len);
    } else if (strcmp(fmt, "U") == 0) {
        int64_t start = LOAD(int64_t, a->buffers[1], i), end = LOAD(int64_t, a->buffers[1], i + 1);
        format_text((const char *)a->buffers[2] + start, end - start, out, out_len);
    } else if (strncmp(fmt, "ts", 2) == 0 && fmt[2] != '\0' && fmt[3] == ':') {
        /* "tsn:UTC", "tsu:", ...: unit letter, then the time zone (empty = naive). */
        int64_t per_second = fmt[2] == 'n' ? 1000000000 : fmt[2] == 'u' ? 1000000
                           : fmt[2] == 'm' ? 1000 : fmt[2] == 's' ? 1 : 0;
        if (per_second == 0) snprintf(out, out_len, "?");
        else format_timestamp(LOAD(int64_t, a->buffers[1], i), per_second, fmt + 4, out, out_len);
    } else if (strcmp(fmt, "tdD") == 0) {
        format_date(LOAD(int32_t, a->buffers[1], i), out, out_len);
    } else if (strcmp(fmt, "tdm") == 0) {
        int64_t ms = LOAD(int64_t, a->buffers[1], i);
        format_date(ms / 86400000 - (ms % 86400000 < 0), out, out_len);
    } else {
        snprintf(out, out_len, "?");
    }
}

/* ---- the program --------------------------------------------------------------------------- */

static int fail(SheafStatus status, SheafError *err, const char *what) {
    fprintf(stderr, "print_head: %s failed: %s: %s\n", what, sheaf_status_name(status),
            sheaf_error_message(err));
    sheaf_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s <store-uri> <library> <symbol> [n=5]\n", argv[0]);
        return 2;
    }
    const char *uri = argv[1], *library = argv[2], *symbol = argv[3];
    long n = argc == 5 ? strtol(argv[4], NULL, 10) : 5;
    if (n < 0) n = 0;

    SheafError *err = NULL;
    SheafStore *store = NULL;
    SheafLibrary *lib = NULL;
    SheafBytes info = {NULL, 0};
    struct ArrowArrayStream stream;
    struct ArrowSchema schema;
    SheafStatus st;
    int status = 0;

    st = sheaf_store_open(uri, strlen(uri), &store, &err);
    if (st != SHEAF_OK) return fail(st, err, "sheaf_store_open");
    st = sheaf_library_open(store, library, strlen(library), false, NULL, 0, &lib, &err);
    if (st != SHEAF_OK) {
        sheaf_store_free(store);
        return fail(st, err, "sheaf_library_open");
    }
    st = sheaf_table_read(lib, symbol, strlen(symbol), NULL, 0, &stream, &info, NULL, &err);
    /* The stream keeps what it needs alive: the handles can go now. */
    sheaf_library_free(lib);
    sheaf_store_free(store);
    if (st != SHEAF_OK) return fail(st, err, "sheaf_table_read");

    printf("# %.*s\n", (int)info.len, (const char *)info.data); /* the version info JSON */
    sheaf_bytes_free(&info);

    if (stream.get_schema(&stream, &schema) != 0) {
        const char *msg = stream.get_last_error(&stream);
        fprintf(stderr, "print_head: get_schema failed: %s\n", msg ? msg : "(no message)");
        stream.release(&stream);
        return 1;
    }
    int64_t n_cols = schema.n_children;

    /* Collect the cells of the first n rows (batch by batch, releasing each), then print them
     * in aligned columns. Row 0 holds the column names. */
    char (*cells)[CELL_MAX + 8] = calloc((size_t)(n + 1) * (size_t)(n_cols ? n_cols : 1), sizeof *cells);
    if (!cells) abort();
    for (int64_t c = 0; c < n_cols; c++) {
        snprintf(cells[c], sizeof cells[c], "%s", schema.children[c]->name ? schema.children[c]->name : "");
    }
    long rows = 0;
    while (rows < n) {
        struct ArrowArray batch;
        if (stream.get_next(&stream, &batch) != 0) {
            const char *msg = stream.get_last_error(&stream);
            fprintf(stderr, "print_head: get_next failed: %s\n", msg ? msg : "(no message)");
            status = 1;
            break;
        }
        if (batch.release == NULL) break; /* end of the stream */
        for (int64_t r = 0; r < batch.length && rows < n; r++, rows++) {
            for (int64_t c = 0; c < n_cols; c++) {
                /* A struct's offset applies to its children, on top of their own. */
                format_cell(schema.children[c], batch.children[c], batch.offset + r,
                            cells[(rows + 1) * n_cols + c], sizeof cells[0]);
            }
        }
        batch.release(&batch);
    }

    for (long r = 0; r <= rows; r++) {
        for (int64_t c = 0; c < n_cols; c++) {
            const char *cell = cells[r * n_cols + c];
            size_t width = 0;
            for (long k = 0; k <= rows; k++) {
                size_t w = display_width(cells[k * n_cols + c]);
                if (w > width) width = w;
            }
            printf("%s%s", c ? "  " : "", cell);
            /* Pad every column but the last, so that lines carry no trailing blanks. */
            for (size_t w = display_width(cell); c + 1 < n_cols && w < width; w++) putchar(' ');
        }
        printf("\n");
    }

    free(cells);
    schema.release(&schema);
    stream.release(&stream);
    return status;
}

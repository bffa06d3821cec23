/* io_csv.c: CSV files of numbers into [rows, columns] float32 host arrays.
 * Blank lines are skipped, "\r\n" endings accepted; every other line must
 * hold the same number of numeric fields, else KCL_ERR_FORMAT naming the
 * line. No quoting: a field is a number or an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct csv_state {
    kcl_context *ctx;
    const char *path;
    char delimiter;
    long long line;                /* 1-based, counting skipped lines */
    long long first_line;          /* the first data line, for ragged-row messages */
    int64_t rows, cols;
    float *data;
    size_t count, cap;
} csv_state;

/* The whole file, NUL-terminated; memory grows only as bytes arrive. */
static kcl_status read_file(kcl_context *ctx, const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return kcl__fail(ctx, KCL_ERR_IO, "kcl_load_csv: cannot open %s: %s", path,
                         strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    kcl_status st = KCL_OK;
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *more = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!more)
            free(buf);
        buf = more;
        cap *= 2;
    }
    if (!buf)
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_load_csv: %s: out of host memory", path);
    else if (ferror(f))
        st = kcl__fail(ctx, KCL_ERR_IO, "kcl_load_csv: %s: read failed: %s", path,
                       strerror(errno));
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return KCL_OK;
}

static bool is_blank(char c, char delimiter)
{
    return (c == ' ' || c == '\t') && c != delimiter;
}

static kcl_status push(csv_state *s, float v)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        float *more = realloc(s->data, cap * sizeof *more);
        if (!more)
            return kcl__fail(s->ctx, KCL_ERR_MEMORY, "kcl_load_csv: %s: out of host memory",
                             s->path);
        s->data = more;
        s->cap = cap;
    }
    s->data[s->count++] = v;
    return KCL_OK;
}

/* One field, [begin, end) with end writable (we NUL-terminate it there). */
static kcl_status parse_field(csv_state *s, char *begin, char *end, int64_t col)
{
    while (begin < end && is_blank(*begin, s->delimiter))
        begin++;
    while (end > begin && is_blank(end[-1], s->delimiter))
        end--;
    char saved = *end;
    *end = 0;
    char *stop;
    float v = begin < end ? strtof(begin, &stop) : 0.0f;
    *end = saved;
    if (begin == end || stop != end) {
        int shown = end - begin > 40 ? 40 : (int)(end - begin);
        return kcl__fail(s->ctx, KCL_ERR_FORMAT, "kcl_load_csv: %s: line %lld, field %lld: "
                         "'%.*s' is not a number", s->path, s->line, (long long)col + 1,
                         shown, begin);
    }
    return push(s, v);
}

static kcl_status parse_line(csv_state *s, char *begin, char *end)
{
    if (end > begin && end[-1] == '\r')
        end--;
    char *p = begin;
    while (p < end && is_blank(*p, s->delimiter))
        p++;
    if (p == end)
        return KCL_OK;             /* blank line */
    int64_t col = 0;
    for (char *field = begin;; col++) {
        char *stop = memchr(field, s->delimiter, (size_t)(end - field));
        kcl_status st = parse_field(s, field, stop ? stop : end, col);
        if (st)
            return st;
        if (!stop)
            break;
        field = stop + 1;
    }
    if (s->rows == 0) {
        s->cols = col + 1;
        s->first_line = s->line;
    } else if (col + 1 != s->cols) {
        return kcl__fail(s->ctx, KCL_ERR_FORMAT, "kcl_load_csv: %s: line %lld has %lld fields, "
                         "line %lld has %lld", s->path, s->line, (long long)col + 1,
                         s->first_line, (long long)s->cols);
    }
    s->rows++;
    return KCL_OK;
}

static kcl_status parse(csv_state *s, char *text, size_t len, int skip_rows)
{
    char *end = text + len;
    for (char *line = text; line < end; s->line++) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *stop = nl ? nl : end;
        if (s->line > skip_rows) {
            kcl_status st = parse_line(s, line, stop);
            if (st)
                return st;
        }
        line = stop + 1;
    }
    return KCL_OK;
}

kcl_status kcl_load_csv(kcl_context *ctx, const char *path, const kcl_csv_options *options,
                        kcl_array *out)
{
    if (!path || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_load_csv: NULL argument");
    memset(out, 0, sizeof *out);
    kcl_csv_options opt = options ? *options : (kcl_csv_options){0};
    if (!opt.delimiter)
        opt.delimiter = ',';
    if (opt.skip_rows < 0 || opt.delimiter == '\n' || opt.delimiter == '\r')
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_load_csv: skip_rows %d must be >= 0 and "
                         "the delimiter not a line break", opt.skip_rows);
    char *text = NULL;
    size_t len = 0;
    kcl_status st = read_file(ctx, path, &text, &len);
    if (st)
        return st;
    csv_state s = {.ctx = ctx, .path = path, .delimiter = opt.delimiter, .line = 1};
    st = parse(&s, text, len, opt.skip_rows);
    free(text);
    if (!st && !s.data && !(s.data = malloc(sizeof *s.data)))
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_load_csv: %s: out of host memory", path);
    if (st) {
        free(s.data);
        return st;
    }
    out->data = s.data;
    out->rank = 2;
    out->shape[0] = s.rows;
    out->shape[1] = s.cols;
    return KCL_OK;
}

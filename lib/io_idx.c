/* io_idx.c: the IDX format of (Fashion-)MNIST into float32 host arrays, read
 * through zlib's gzread, which takes gzip-compressed and plain files alike.
 * Layout: bytes 0, 0, a type code and the rank; then one big-endian uint32 per
 * dimension; then the values, big-endian, C order. The file is outside data:
 * the array grows only as values actually arrive, so a header that claims a
 * huge shape cannot make us allocate more than the file holds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

#define IDX_CHUNK 65536            /* bytes decompressed at a time; a multiple of 8 */

typedef struct idx_type {
    unsigned char code;
    const char *name;
    char kind;                     /* 'u' unsigned, 'i' signed, 'f' float */
    int size;                      /* bytes per value */
} idx_type;

static const idx_type idx_types[] = {
    {0x08, "ubyte", 'u', 1}, {0x09, "byte", 'i', 1},  {0x0B, "short", 'i', 2},
    {0x0C, "int", 'i', 4},   {0x0D, "float", 'f', 4}, {0x0E, "double", 'f', 8},
};

static uint64_t be_uint(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static float convert_one(const unsigned char *p, const idx_type *t)
{
    uint64_t v = be_uint(p, t->size);
    if (t->kind == 'u')
        return (float)v;
    if (t->kind == 'i') {
        if (t->size < 8 && (v >> (8 * t->size - 1)) & 1)
            v |= ~0ull << (8 * t->size);    /* sign-extend */
        return (float)(int64_t)v;
    }
    if (t->size == 4) {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &v, sizeof d);
    return (float)d;
}

/* A short read's cause: a read error (KCL_ERR_IO), corrupt gzip data, or a
 * file that simply ends early (both KCL_ERR_FORMAT). */
static kcl_status short_read(kcl_context *ctx, const char *path, gzFile gz, const char *what)
{
    int code = Z_OK;
    const char *msg = gzerror(gz, &code);
    if (code == Z_ERRNO)
        return kcl__fail(ctx, KCL_ERR_IO, "kcl_load_idx: %s: read failed: %s", path,
                         strerror(errno));
    if (code != Z_OK)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_idx: %s: corrupt gzip data (%s) in %s",
                         path, msg, what);
    return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_idx: %s: file ends inside %s", path, what);
}

/* Reads exactly n bytes; *got says how many came before the end or an error. */
static bool read_full(gzFile gz, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        int r = gzread(gz, buf + *got, (unsigned)(n - *got));
        if (r <= 0)
            return false;
        *got += (size_t)r;
    }
    return true;
}

static kcl_status read_header(kcl_context *ctx, const char *path, gzFile gz,
                              const idx_type **type, kcl_array *out)
{
    unsigned char head[4 + 4 * 255];
    size_t got;
    if (!read_full(gz, head, 4, &got))
        return short_read(ctx, path, gz, "the 4-byte magic number");
    if (head[0] != 0 || head[1] != 0)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_idx: %s: not an IDX file (magic "
                         "%02x %02x %02x %02x does not start with 00 00)", path, head[0],
                         head[1], head[2], head[3]);
    *type = NULL;
    for (size_t i = 0; i < sizeof idx_types / sizeof *idx_types; i++)
        if (idx_types[i].code == head[2])
            *type = &idx_types[i];
    if (!*type)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_idx: %s: unknown IDX type code 0x%02x",
                         path, head[2]);
    int rank = head[3];
    if (rank > KCL_MAX_RANK)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_idx: %s: %d dimensions (at most %d)",
                         path, rank, KCL_MAX_RANK);
    if (!read_full(gz, head + 4, 4 * (size_t)rank, &got))
        return short_read(ctx, path, gz, "the dimensions");
    out->rank = rank;
    for (int i = 0; i < rank; i++)
        out->shape[i] = (int64_t)be_uint(head + 4 + 4 * i, 4);
    return KCL_OK;
}

static kcl_status grow(kcl_context *ctx, const char *path, float **data, size_t *cap,
                       size_t need, size_t count)
{
    /* Doubling, so memory stays within twice what the file really held. */
    size_t grown = *cap * 2 > need ? *cap * 2 : need;
    grown = grown < count ? grown : count;
    float *more = realloc(*data, grown * sizeof **data);
    if (!more)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_load_idx: %s: out of host memory", path);
    *data = more;
    *cap = grown;
    return KCL_OK;
}

static kcl_status read_values(kcl_context *ctx, const char *path, gzFile gz,
                              const idx_type *t, size_t count, float **out)
{
    unsigned char chunk[IDX_CHUNK];
    size_t cap = count < 4096 ? count : 4096, done = 0, size = (size_t)t->size;
    float *data = malloc((cap ? cap : 1) * sizeof *data);
    kcl_status st = data ? KCL_OK
                         : kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_load_idx: %s: out of memory", path);
    while (!st && done < count) {
        size_t want = count - done < IDX_CHUNK / size ? count - done : IDX_CHUNK / size, got;
        bool full = read_full(gz, chunk, want * size, &got);
        size_t values = got / size;
        if (done + values > cap)
            st = grow(ctx, path, &data, &cap, done + values, count);
        for (size_t i = 0; !st && i < values; i++)
            data[done + i] = convert_one(chunk + i * size, t);
        done += values;
        if (!st && !full)
            st = short_read(ctx, path, gz, "the data");
    }
    if (!st && gzread(gz, chunk, 1) > 0)
        st = kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_idx: %s: bytes after the data", path);
    if (st) {
        free(data);
        return st;
    }
    *out = data;
    return KCL_OK;
}

static kcl_status load(kcl_context *ctx, const char *path, gzFile gz, kcl_array *out)
{
    const idx_type *type = NULL;
    kcl_status st = read_header(ctx, path, gz, &type, out);
    if (st)
        return st;
    int64_t count = kcl__shape_size(out->rank, out->shape);
    if (count < 0 || (uint64_t)count > SIZE_MAX / 8) {
        char buf[256];
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_idx: %s: shape %s is too large", path,
                         kcl__shape_str(out->rank, out->shape, buf, sizeof buf));
    }
    return read_values(ctx, path, gz, type, (size_t)count, &out->data);
}

kcl_status kcl_load_idx(kcl_context *ctx, const char *path, kcl_array *out)
{
    if (!path || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_load_idx: NULL argument");
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return kcl__fail(ctx, errno ? KCL_ERR_IO : KCL_ERR_MEMORY,
                         "kcl_load_idx: cannot open %s: %s", path,
                         errno ? strerror(errno) : "out of memory");
    gzbuffer(gz, 1u << 17);        /* fewer, larger reads: faster on big files */
    kcl_status st = load(ctx, path, gz, out);
    gzclose(gz);
    if (st)
        memset(out, 0, sizeof *out);
    return st;
}

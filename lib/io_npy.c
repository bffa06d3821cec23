/* io_npy.c: NumPy .npy files (format versions 1.0, 2.0 and 3.0) into float32
 * host arrays. The file is outside data: every header field is checked, and
 * the array grows only as values actually arrive, so a header that claims a
 * huge shape cannot make us allocate more than the file holds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* numpy refuses headers over 10000 bytes by default; allow some slack. */
#define NPY_MAX_HEADER 65536
#define NPY_CHUNK 65536            /* bytes read at a time; a multiple of 8 */

typedef struct npy_dtype {
    char kind;                     /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
    int size;                      /* bytes per value */
    bool big;                      /* big-endian in the file */
} npy_dtype;

typedef struct npy_header {
    npy_dtype dtype;
    bool fortran;
    int rank;
    int64_t shape[KCL_MAX_RANK];
    unsigned seen;                 /* keys met: 1 descr, 2 fortran_order, 4 shape */
} npy_header;

/* A cursor over the header text, with what error messages need. */
typedef struct npy_parser {
    const char *p, *end;
    kcl_context *ctx;
    const char *path;
} npy_parser;

static kcl_status bad(npy_parser *ps, const char *what)
{
    return kcl__fail(ps->ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: header: %s", ps->path, what);
}

static void skip_space(npy_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
                               *ps->p == '\r'))
        ps->p++;
}

static bool accept(npy_parser *ps, char c)
{
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

/* A quoted Python string without escapes (keys and descr never need them). */
static kcl_status parse_string(npy_parser *ps, char *buf, size_t size)
{
    skip_space(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return bad(ps, "expected a quoted string");
    char quote = *ps->p++;
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != quote) {
        if (n + 1 >= size)
            return bad(ps, "string too long");
        buf[n++] = *ps->p++;
    }
    if (ps->p >= ps->end)
        return bad(ps, "unterminated string");
    ps->p++;
    buf[n] = 0;
    return KCL_OK;
}

static bool host_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 0;
}

/* "<f4" and friends: byte order, kind, size. */
static kcl_status parse_descr(npy_parser *ps, npy_dtype *t)
{
    char s[32];
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '[')
        return bad(ps, "structured dtypes (a descr list) are not supported");
    kcl_status st = parse_string(ps, s, sizeof s);
    if (st)
        return st;
    static const char *const known[] = {"f4", "f8", "i1", "i2", "i4", "i8",
                                        "u1", "u2", "u4", "u8", "b1"};
    bool ok = strlen(s) == 3 && strchr("<>|=", s[0]);
    size_t k = 0;
    while (ok && k < sizeof known / sizeof *known && strcmp(s + 1, known[k]) != 0)
        k++;
    /* '|' means "no byte order": only meaningful for one-byte types. */
    if (!ok || k == sizeof known / sizeof *known || (s[0] == '|' && s[2] != '1')) {
        char msg[96];
        snprintf(msg, sizeof msg, "unsupported descr '%s' (float32/64, (u)int8-64 or bool)", s);
        return bad(ps, msg);
    }
    t->kind = s[1];
    t->size = s[2] - '0';
    t->big = s[0] == '>' || (s[0] == '=' && host_big_endian());
    return KCL_OK;
}

static kcl_status parse_bool(npy_parser *ps, bool *out)
{
    skip_space(ps);
    size_t left = (size_t)(ps->end - ps->p);
    if (left >= 4 && memcmp(ps->p, "True", 4) == 0) {
        ps->p += 4;
        *out = true;
    } else if (left >= 5 && memcmp(ps->p, "False", 5) == 0) {
        ps->p += 5;
        *out = false;
    } else {
        return bad(ps, "fortran_order is neither True nor False");
    }
    return KCL_OK;
}

/* A non-negative decimal; Python 2 numpy wrote longs as "3L". */
static kcl_status parse_dim(npy_parser *ps, int64_t *out)
{
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '-')
        return bad(ps, "negative dimension in shape");
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return bad(ps, "shape holds something other than integers");
    int64_t v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        int digit = *ps->p++ - '0';
        if (v > (INT64_MAX - digit) / 10)
            return bad(ps, "dimension too large");
        v = v * 10 + digit;
    }
    if (ps->p < ps->end && *ps->p == 'L')
        ps->p++;
    *out = v;
    return KCL_OK;
}

/* "()", "(n,)", "(a, b, ...)" with an optional trailing comma. */
static kcl_status parse_shape(npy_parser *ps, npy_header *h)
{
    if (!accept(ps, '('))
        return bad(ps, "shape is not a tuple");
    h->rank = 0;
    while (!accept(ps, ')')) {
        if (h->rank == KCL_MAX_RANK) {
            char msg[64];
            snprintf(msg, sizeof msg, "shape has more than %d dimensions", KCL_MAX_RANK);
            return bad(ps, msg);
        }
        kcl_status st = parse_dim(ps, &h->shape[h->rank++]);
        if (st)
            return st;
        if (!accept(ps, ',') && (skip_space(ps), ps->p >= ps->end || *ps->p != ')'))
            return bad(ps, "shape tuple is malformed");
    }
    return KCL_OK;
}

static kcl_status parse_entry(npy_parser *ps, npy_header *h)
{
    char key[32];
    kcl_status st = parse_string(ps, key, sizeof key);
    if (st)
        return st;
    if (!accept(ps, ':'))
        return bad(ps, "expected ':' after a key");
    unsigned bit = !strcmp(key, "descr") ? 1u : !strcmp(key, "fortran_order") ? 2u
                 : !strcmp(key, "shape") ? 4u : 0u;
    if (!bit) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown key '%s'", key);
        return bad(ps, msg);
    }
    if (h->seen & bit)
        return bad(ps, "a key appears twice");
    h->seen |= bit;
    return bit == 1 ? parse_descr(ps, &h->dtype)
         : bit == 2 ? parse_bool(ps, &h->fortran) : parse_shape(ps, h);
}

/* The header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
static kcl_status parse_header(npy_parser *ps, npy_header *h)
{
    memset(h, 0, sizeof *h);
    if (!accept(ps, '{'))
        return bad(ps, "not a Python dict");
    while (!accept(ps, '}')) {
        kcl_status st = parse_entry(ps, h);
        if (st)
            return st;
        if (!accept(ps, ',') && (skip_space(ps), ps->p >= ps->end || *ps->p != '}'))
            return bad(ps, "expected ',' or '}'");
    }
    skip_space(ps);
    if (ps->p != ps->end)
        return bad(ps, "text after the dict");
    if (h->seen != 7)
        return bad(ps, "missing one of the keys descr, fortran_order, shape");
    if (h->fortran)
        return bad(ps, "fortran_order True is not supported (save a C-ordered array)");
    return KCL_OK;
}

static float convert_one(const unsigned char *p, npy_dtype t)
{
    uint64_t v = 0;
    for (int b = 0; b < t.size; b++)
        v |= (uint64_t)p[b] << (8 * (t.big ? t.size - 1 - b : b));
    switch (t.kind) {
    case 'f':
        if (t.size == 4) {
            uint32_t u = (uint32_t)v;
            float f;
            memcpy(&f, &u, sizeof f);
            return f;
        } else {
            double d;
            memcpy(&d, &v, sizeof d);
            return (float)d;
        }
    case 'i':
        if (t.size < 8 && (v >> (8 * t.size - 1)) & 1)
            v |= ~0ull << (8 * t.size);      /* sign-extend */
        return (float)(int64_t)v;
    case 'u':
        return (float)v;
    default:
        return v != 0;
    }
}

/* Reads count values into a malloc'ed array that grows as data arrives. */
static kcl_status read_data(kcl_context *ctx, const char *path, FILE *f, npy_dtype t,
                            size_t count, float **out)
{
    unsigned char chunk[NPY_CHUNK];
    size_t cap = count < 4096 ? count : 4096, done = 0;
    float *data = malloc((cap ? cap : 1) * sizeof *data);
    if (!data)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_load_npy: %s: out of host memory", path);
    while (done < count) {
        size_t want = count - done < NPY_CHUNK / (size_t)t.size ? count - done
                                                               : NPY_CHUNK / (size_t)t.size;
        size_t got = fread(chunk, (size_t)t.size, want, f);
        if (done + got > cap) {
            /* Doubling, so memory stays within twice what the file really held. */
            size_t grown = cap * 2 > done + got ? cap * 2 : done + got;
            grown = grown < count ? grown : count;
            float *more = realloc(data, grown * sizeof *data);
            if (!more) {
                free(data);
                return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_load_npy: %s: out of host memory",
                                 path);
            }
            data = more;
            cap = grown;
        }
        for (size_t i = 0; i < got; i++)
            data[done + i] = convert_one(chunk + i * (size_t)t.size, t);
        done += got;
        if (got < want) {
            free(data);
            if (ferror(f))
                return kcl__fail(ctx, KCL_ERR_IO, "kcl_load_npy: %s: read failed: %s", path,
                                 strerror(errno));
            return kcl__fail(ctx, KCL_ERR_FORMAT,
                             "kcl_load_npy: %s: file is shorter than its data: the shape needs "
                             "%zu values of %d bytes, the file holds %zu", path, count, t.size,
                             done);
        }
    }
    if (fgetc(f) != EOF) {
        free(data);
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: bytes after the data", path);
    }
    *out = data;
    return KCL_OK;
}

static uint32_t le_uint(const unsigned char *p, int bytes)
{
    uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Magic, version and header length; then the header text (malloc'ed). */
static kcl_status read_preamble(kcl_context *ctx, const char *path, FILE *f, char **text,
                                size_t *len)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 && ferror(f))
        return kcl__fail(ctx, KCL_ERR_IO, "kcl_load_npy: %s: read failed: %s", path,
                         strerror(errno));
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: not a .npy file (%s)", path,
                         got < 10 ? "shorter than the 10-byte preamble" : "wrong magic bytes");
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: unsupported format version "
                         "%d.%d (1.0, 2.0 and 3.0 are)", path, major, minor);
    /* Version 1 has a 2-byte header length; 2 and 3 a 4-byte one. */
    if (major > 1 && fread(pre + 10, 1, 2, f) < 2)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: truncated preamble", path);
    *len = le_uint(pre + 8, major == 1 ? 2 : 4);
    if (*len > NPY_MAX_HEADER)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: header length %zu exceeds "
                         "%d bytes", path, *len, NPY_MAX_HEADER);
    *text = malloc(*len + 1);
    if (!*text)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_load_npy: %s: out of host memory", path);
    if ((got = fread(*text, 1, *len, f)) < *len) {
        free(*text);
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: truncated header (%zu bytes "
                         "announced, %zu present)", path, *len, got);
    }
    return KCL_OK;
}

static kcl_status load(kcl_context *ctx, const char *path, FILE *f, kcl_array *out)
{
    char *text = NULL;
    size_t len = 0;
    kcl_status st = read_preamble(ctx, path, f, &text, &len);
    if (st)
        return st;
    npy_parser ps = {text, text + len, ctx, path};
    npy_header h;
    st = parse_header(&ps, &h);
    free(text);
    if (st)
        return st;
    int64_t count = kcl__shape_size(h.rank, h.shape);
    if (count < 0 || (uint64_t)count > SIZE_MAX / 8) {
        char buf[256];
        return kcl__fail(ctx, KCL_ERR_FORMAT, "kcl_load_npy: %s: shape %s is too large", path,
                         kcl__shape_str(h.rank, h.shape, buf, sizeof buf));
    }
    if ((st = read_data(ctx, path, f, h.dtype, (size_t)count, &out->data)) != KCL_OK)
        return st;
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape);
    return KCL_OK;
}

kcl_status kcl_load_npy(kcl_context *ctx, const char *path, kcl_array *out)
{
    if (!path || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_load_npy: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return kcl__fail(ctx, KCL_ERR_IO, "kcl_load_npy: cannot open %s: %s", path,
                         strerror(errno));
    kcl_status st = load(ctx, path, f, out);
    fclose(f);
    return st;
}

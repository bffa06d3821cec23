/* test_io: the .npy, IDX and CSV loaders against small files the test writes
 * itself (every dtype, version and shape kind), hostile files that must be
 * refused with the right status and a message naming the file and the
 * problem, and Debian's Fashion-MNIST when it is installed. */
#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"

static char test_dir[64];

/* A path inside the test's temporary directory (static slots: two at a time). */
static const char *path_of(const char *name)
{
    static char slots[2][256];
    static int next;
    char *p = slots[next];
    next ^= 1;
    snprintf(p, sizeof slots[0], "%s/%s", test_dir, name);
    return p;
}

static const char *write_file(const char *name, const void *bytes, size_t len)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_gz(const char *name, const void *bytes, size_t len)
{
    const char *path = path_of(name);
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, bytes, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

/* Expects a refusal: the status, a message naming the file and saying what,
 * and an empty output. */
static void expect_error(kcl_context *ctx, kcl_status got, kcl_status want, const kcl_array *a,
                         const char *path, const char *what)
{
    const char *msg = kcl_errmsg(ctx);
    if (got != want || !strstr(msg, path) || !strstr(msg, what))
        fail_msg("%s: got %s '%s', want %s mentioning '%s'", path, kcl_status_name(got), msg,
                 kcl_status_name(want), what);
    assert_null(a->data);
}

static void expect_values(const kcl_array *a, const float *want, int64_t n)
{
    assert_int_equal(kcl_array_size(a), n);
    assert_non_null(a->data);
    for (int64_t i = 0; i < n; i++)
        if (!(a->data[i] == want[i] || (isnan(a->data[i]) && isnan(want[i]))))
            fail_msg("value %lld: %.9g, want %.9g", (long long)i, a->data[i], want[i]);
}

/* ------------------------------------------------------------------- npy -- */

typedef struct buffer {
    unsigned char bytes[4096];
    size_t len;
} buffer;

static void put(buffer *b, const void *p, size_t n)
{
    assert_true(b->len + n <= sizeof b->bytes);
    memcpy(b->bytes + b->len, p, n);
    b->len += n;
}

/* Preamble and header as numpy writes them: padded with spaces so the data
 * starts on a 64-byte boundary, ending in '\n'. */
static void npy_header(buffer *b, int major, int minor, const char *dict)
{
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict) + 1;
    size_t padded = (pre + len + 63) / 64 * 64 - pre;
    unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major,
                              (unsigned char)minor};
    for (size_t i = 0; i < pre - 8; i++)
        head[8 + i] = (unsigned char)(padded >> (8 * i));
    put(b, head, pre);
    put(b, dict, strlen(dict));
    for (size_t i = len; i < padded; i++)
        put(b, " ", 1);
    put(b, "\n", 1);
}

static void npy_dict(char *out, size_t size, const char *descr, const char *fortran,
                     const char *shape)
{
    snprintf(out, size, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran,
             shape);
}

/* Encodes v in a numpy dtype ("<i2", ">f8", "|b1", ...). */
static void encode(buffer *b, const char *descr, double v)
{
    int size = descr[2] - '0';
    uint64_t bits;
    if (descr[1] == 'f' && size == 4) {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        bits = u;
    } else if (descr[1] == 'f') {
        memcpy(&bits, &v, 8);
    } else if (descr[1] == 'i') {
        bits = (uint64_t)(int64_t)v;
    } else {
        bits = (uint64_t)v;
    }
    for (int i = 0; i < size; i++) {
        int shift = 8 * (descr[0] == '>' ? size - 1 - i : i);
        unsigned char byte = (unsigned char)(bits >> shift);
        put(b, &byte, 1);
    }
}

static void test_npy_dtypes(void **state)
{
    kcl_context *ctx = *state;
    static const struct {
        const char *descr;
        double v[8];
    } cases[] = {
        {"<f4", {0, 1.5, -2.25, 3.4e38f, -1e-40, 7, 1e-3, -0.0}},
        {">f4", {0, 1.5, -2.25, 3.4e38f, -1e-40, 7, 1e-3, -0.0}},
        {"<f8", {0, 1.5, -2.25, 1e300, 1e-3, 0.1, -123456789.125, 3}},
        {">f8", {0, 1.5, -2.25, 1e300, 1e-3, 0.1, -123456789.125, 3}},
        {"|u1", {0, 1, 2, 127, 128, 200, 255, 9}},
        {"|i1", {0, 1, -1, 127, -128, -100, 55, 9}},
        {"<i2", {0, 1, -1, 32767, -32768, 300, -300, 9}},
        {">i2", {0, 1, -1, 32767, -32768, 300, -300, 9}},
        {"<u2", {0, 1, 65535, 32768, 256, 300, 12345, 9}},
        {">u2", {0, 1, 65535, 32768, 256, 300, 12345, 9}},
        {"<i4", {0, 1, -1, 2147483647, -2147483648.0, 16777217, -70000, 9}},
        {">i4", {0, 1, -1, 2147483647, -2147483648.0, 16777217, -70000, 9}},
        {"<u4", {0, 1, 4294967295.0, 2147483648.0, 65536, 16777216, 70000, 9}},
        {">u4", {0, 1, 4294967295.0, 2147483648.0, 65536, 16777216, 70000, 9}},
        {"<i8", {0, 1, -1, -9007199254740992.0, 9007199254740992.0, 1e15, -70000, 9}},
        {">i8", {0, 1, -1, -9007199254740992.0, 9007199254740992.0, 1e15, -70000, 9}},
        {"<u8", {0, 1, 18446744073709549568.0, 9007199254740992.0, 1e15, 65536, 70000, 9}},
        {">u8", {0, 1, 18446744073709549568.0, 9007199254740992.0, 1e15, 65536, 70000, 9}},
        {"|b1", {0, 1, 1, 0, 2, 0, 255, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        buffer b = {.len = 0};
        char dict[128];
        npy_dict(dict, sizeof dict, cases[k].descr, "False", "(2, 4)");
        npy_header(&b, 1 + (int)(k % 3), 0, dict);   /* versions 1.0, 2.0, 3.0 in turn */
        float want[8];
        for (int i = 0; i < 8; i++) {
            encode(&b, cases[k].descr, cases[k].v[i]);
            want[i] = cases[k].descr[1] == 'b' ? cases[k].v[i] != 0 : (float)cases[k].v[i];
        }
        const char *path = write_file("dtype.npy", b.bytes, b.len);
        kcl_array a;
        CHECK_OK(ctx, kcl_load_npy(ctx, path, &a));
        assert_int_equal(a.rank, 2);
        assert_int_equal(a.shape[0], 2);
        assert_int_equal(a.shape[1], 4);
        expect_values(&a, want, 8);
        kcl_array_free(&a);
        assert_null(a.data);
    }
}

static void test_npy_shapes(void **state)
{
    kcl_context *ctx = *state;
    static const struct {
        const char *dict;
        int rank;
        int64_t shape[8];
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0, {0}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 1, {5}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", 1, {0}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0, 3), }", 3, {2, 0, 3}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,3)}", 8,
         {1, 1, 1, 1, 1, 1, 1, 3}},
        /* Key order, double quotes, Python 2 longs, no trailing comma. */
        {"{\"shape\": (3L, 1L), \"descr\": \"<f4\", \"fortran_order\": False}", 2, {3, 1}},
        {"{'fortran_order':False,'shape':(2 , 2 ,),'descr':'<f4'}", 2, {2, 2}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        buffer b = {.len = 0};
        npy_header(&b, 1, 0, cases[k].dict);
        int64_t n = 1;
        for (int i = 0; i < cases[k].rank; i++)
            n *= cases[k].shape[i];
        float want[8];
        for (int64_t i = 0; i < n; i++) {
            want[i] = (float)(i * 0.5 - 1);
            put(&b, &want[i], 4);
        }
        const char *path = write_file("shape.npy", b.bytes, b.len);
        kcl_array a;
        CHECK_OK(ctx, kcl_load_npy(ctx, path, &a));
        assert_int_equal(a.rank, cases[k].rank);
        for (int i = 0; i < a.rank; i++)
            assert_int_equal(a.shape[i], cases[k].shape[i]);
        expect_values(&a, want, n);
        kcl_array_free(&a);
    }
}

typedef struct hostile_npy {
    int major, minor;
    const char *dict;            /* NULL: raw bytes below */
    const char *raw;
    size_t raw_len;
    size_t data_bytes;           /* zero bytes appended after the header */
    const char *what;            /* expected in the message */
} hostile_npy;

static void test_npy_hostile(void **state)
{
    kcl_context *ctx = *state;
    static const hostile_npy cases[] = {
        {1, 0, NULL, "\x93NUMPX\x01\x00\x10\x00{}", 12, 0, "wrong magic"},
        {1, 0, NULL, "", 0, 0, "shorter than the 10-byte preamble"},
        {1, 0, NULL, "\x93NUMPY\x01", 7, 0, "shorter than the 10-byte preamble"},
        {2, 0, NULL, "\x93NUMPY\x02\x00\x10", 9, 0, "shorter than the 10-byte preamble"},
        {2, 0, NULL, "\x93NUMPY\x02\x00\x10\x00\x00", 11, 0, "truncated preamble"},
        {1, 0, NULL, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17, 0, "truncated header"},
        {2, 0, NULL, "\x93NUMPY\x02\x00\xff\xff\xff\xff{", 13, 0, "exceeds"},
        {4, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", NULL, 0, 4,
         "version 4.0"},
        {1, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", NULL, 0, 4,
         "version 1.1"},
        {1, 0, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", NULL, 0, 8,
         "unsupported descr '<c8'"},
        {1, 0, "{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", NULL, 0, 4,
         "unsupported descr '|f4'"},
        {1, 0, "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", NULL, 0, 2,
         "unsupported descr"},
        {1, 0, "{'descr': 'f4', 'fortran_order': False, 'shape': (1,), }", NULL, 0, 4,
         "unsupported descr"},
        {1, 0, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", NULL, 0,
         4, "structured"},
        {1, 0, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", NULL, 0, 16,
         "fortran_order True"},
        {1, 0, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", NULL, 0, 4,
         "neither True nor False"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", NULL, 0, 4,
         "negative dimension"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, a), }", NULL, 0, 12,
         "other than integers"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }", NULL, 0, 48,
         "malformed"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", NULL, 0, 12,
         "not a tuple"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
         NULL, 0, 0, "dimension too large"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, "
         "1099511627776), }", NULL, 0, 0, "too large"},
        {1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387903,)}",
         NULL, 0, 0, "too large"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
         NULL, 0, 4, "more than 8 dimensions"},
        /* 2^40 values (4 TB) over a tiny file: refused as short, not as out of
         * memory, so nothing of the announced size was allocated. */
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 1024), }",
         NULL, 0, 16, "shorter than its data"},
        {1, 0, "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }", NULL, 0, 11,
         "shorter than its data"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 9,
         "bytes after the data"},
        {1, 0, "{'descr': '<f4', 'shape': (2,), }", NULL, 0, 8, "missing one of the keys"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", NULL, 0,
         4, "unknown key 'x'"},
        {1, 0, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
         NULL, 0, 4, "twice"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", NULL, 0, 4,
         "text after the dict"},
        {1, 0, "[1, 2]", NULL, 0, 0, "not a Python dict"},
        {1, 0, "{'descr: '<f4'", NULL, 0, 0, "expected ':'"},
        {1, 0, "{'descr': '<f4", NULL, 0, 0, "string too long"},
        {1, 0, NULL, "\x93NUMPY\x01\x00\x05\x00{'abc", 15, 0, "unterminated string"},
        {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", NULL, 0, 4,
         "expected ',' or '}'"},
        {1, 0, "{descr: 1}", NULL, 0, 0, "expected a quoted string"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        buffer b = {.len = 0};
        if (cases[k].dict)
            npy_header(&b, cases[k].major, cases[k].minor, cases[k].dict);
        else
            put(&b, cases[k].raw, cases[k].raw_len);
        for (size_t i = 0; i < cases[k].data_bytes; i++)
            put(&b, "\0", 1);
        const char *path = write_file("hostile.npy", b.bytes, b.len);
        kcl_array a;
        expect_error(ctx, kcl_load_npy(ctx, path, &a), KCL_ERR_FORMAT, &a, path,
                     cases[k].what);
    }
    kcl_array a;
    const char *missing = path_of("missing.npy");
    expect_error(ctx, kcl_load_npy(ctx, missing, &a), KCL_ERR_IO, &a, missing, "cannot open");
    expect_error(ctx, kcl_load_npy(ctx, test_dir, &a), KCL_ERR_IO, &a, test_dir, "read failed");
    /* Without a context the message goes to this thread's slot. */
    expect_error(NULL, kcl_load_npy(NULL, missing, &a), KCL_ERR_IO, &a, missing, "cannot open");
    assert_int_equal(kcl_load_npy(ctx, NULL, &a), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_load_npy(ctx, missing, NULL), KCL_ERR_ARGUMENT);
}

/* ------------------------------------------------------------------- idx -- */

/* An IDX file: header of the type code and dims, then values big-endian. */
static void idx_file(buffer *b, unsigned char code, int rank, const uint32_t *dims,
                     const double *v, size_t n)
{
    unsigned char head[4] = {0, 0, code, (unsigned char)rank};
    put(b, head, 4);
    for (int i = 0; i < rank; i++) {
        unsigned char d[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        put(b, d, 4);
    }
    static const char *const descr[] = {[0x08] = ">u1", [0x09] = ">i1", [0x0B] = ">i2",
                                        [0x0C] = ">i4", [0x0D] = ">f4", [0x0E] = ">f8"};
    for (size_t i = 0; i < n; i++)
        encode(b, descr[code], v[i]);
}

static void test_idx_types(void **state)
{
    kcl_context *ctx = *state;
    static const struct {
        unsigned char code;
        double v[6];
    } cases[] = {
        {0x08, {0, 1, 128, 255, 7, 42}},
        {0x09, {0, 1, -1, -128, 127, 42}},
        {0x0B, {0, 1, -1, -32768, 32767, 300}},
        {0x0C, {0, 1, -1, -2147483648.0, 2147483647, 70000}},
        {0x0D, {0, 1.5, -2.25, 3.4e38f, 1e-3, 42}},
        {0x0E, {0, 1.5, -2.25, 1e300, 1e-3, 0.1}},
    };
    static const uint32_t dims[3][3] = {{6}, {2, 3}, {1, 2, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        float want[6];
        for (int i = 0; i < 6; i++)
            want[i] = (float)cases[k].v[i];
        for (int gz = 0; gz < 2; gz++) {
            int rank = 1 + (int)(k % 3);
            buffer b = {.len = 0};
            idx_file(&b, cases[k].code, rank, dims[rank - 1], cases[k].v, 6);
            const char *path = gz ? write_gz("types.idx.gz", b.bytes, b.len)
                                  : write_file("types.idx", b.bytes, b.len);
            kcl_array a;
            CHECK_OK(ctx, kcl_load_idx(ctx, path, &a));
            assert_int_equal(a.rank, rank);
            for (int i = 0; i < rank; i++)
                assert_int_equal(a.shape[i], dims[rank - 1][i]);
            expect_values(&a, want, 6);
            kcl_array_free(&a);
        }
    }
    /* Rank 0 (one value) and an empty array. */
    buffer b = {.len = 0};
    double v = 9;
    idx_file(&b, 0x08, 0, NULL, &v, 1);
    kcl_array a;
    CHECK_OK(ctx, kcl_load_idx(ctx, write_file("scalar.idx", b.bytes, b.len), &a));
    float nine = 9;
    assert_int_equal(a.rank, 0);
    expect_values(&a, &nine, 1);
    kcl_array_free(&a);
    b.len = 0;
    uint32_t empty[2] = {0, 5};
    idx_file(&b, 0x0D, 2, empty, NULL, 0);
    CHECK_OK(ctx, kcl_load_idx(ctx, write_gz("empty.idx.gz", b.bytes, b.len), &a));
    assert_int_equal(a.shape[0], 0);
    assert_int_equal(a.shape[1], 5);
    assert_int_equal(kcl_array_size(&a), 0);
    kcl_array_free(&a);
}

static void idx_refused(kcl_context *ctx, const buffer *b, int gz, kcl_status want,
                        const char *what)
{
    const char *path = gz ? write_gz("hostile.idx.gz", b->bytes, b->len)
                          : write_file("hostile.idx", b->bytes, b->len);
    kcl_array a;
    expect_error(ctx, kcl_load_idx(ctx, path, &a), want, &a, path, what);
}

static void test_idx_hostile(void **state)
{
    kcl_context *ctx = *state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *what;
    } cases[] = {
        {"", 0, "inside the 4-byte magic"},
        {"\x00\x00\x08", 3, "inside the 4-byte magic"},
        {"\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9, "not an IDX file"},
        {"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", 9, "unknown IDX type code 0x0a"},
        {"\x00\x00\x08\x09", 4, "9 dimensions"},
        {"\x00\x00\x08\xff", 4, "255 dimensions"},
        {"\x00\x00\x08\x02\x00\x00\x00\x01\x00\x00", 10, "inside the dimensions"},
        {"\x00\x00\x08\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
         20, "too large"},
        /* 2^40 values announced (4 TB as floats), 3 present: a loader that
         * allocated the announced size up front would fail with KCL_ERR_MEMORY. */
        {"\x00\x00\x08\x02\x10\x00\x00\x00\x00\x00\x10\x00\x01\x02\x03", 15,
         "ends inside the data"},
        {"\x00\x00\x0b\x01\x00\x00\x00\x02\x00\x01\x00", 11, "ends inside the data"},
        {"\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01\x02", 11, "bytes after the data"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int gz = 0; gz < 2; gz++) {
            buffer b = {.len = 0};
            put(&b, cases[k].bytes, cases[k].len);
            idx_refused(ctx, &b, gz, KCL_ERR_FORMAT, cases[k].what);
        }
    /* A gzip stream cut in the middle, and one with corrupt deflate data. */
    buffer b = {.len = 0};
    uint32_t dims[1] = {3000};
    double v[3000];
    for (int i = 0; i < 3000; i++)
        v[i] = (i * 7919) % 256;
    idx_file(&b, 0x08, 1, dims, v, 3000);
    const char *path = write_gz("cut.idx.gz", b.bytes, b.len);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    buffer z = {.len = 0};
    z.len = fread(z.bytes, 1, sizeof z.bytes, f);
    fclose(f);
    assert_true(z.len > 100);
    kcl_array a;
    const char *cut = write_file("cut.idx.gz", z.bytes, z.len / 2);
    assert_int_equal(kcl_load_idx(ctx, cut, &a), KCL_ERR_FORMAT);
    assert_non_null(strstr(kcl_errmsg(ctx), cut));
    assert_null(a.data);
    memset(z.bytes + 10, 0xff, 40);     /* the deflate data starts after a 10-byte header */
    const char *corrupt = write_file("corrupt.idx.gz", z.bytes, z.len);
    expect_error(ctx, kcl_load_idx(ctx, corrupt, &a), KCL_ERR_FORMAT, &a, corrupt,
                 "corrupt gzip data");
    const char *missing = path_of("missing.idx.gz");
    expect_error(ctx, kcl_load_idx(ctx, missing, &a), KCL_ERR_IO, &a, missing, "cannot open");
}

static void test_fashion_mnist(void **state)
{
    kcl_context *ctx = *state;
    const char *images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    const char *labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0)
        skip();
    kcl_array x, y;
    CHECK_OK(ctx, kcl_load_idx(ctx, images, &x));
    CHECK_OK(ctx, kcl_load_idx(ctx, labels, &y));
    assert_int_equal(x.rank, 3);
    assert_int_equal(x.shape[0], 60000);
    assert_int_equal(x.shape[1], 28);
    assert_int_equal(x.shape[2], 28);
    assert_int_equal(y.rank, 1);
    assert_int_equal(y.shape[0], 60000);
    double sum = 0;
    for (int64_t i = 0; i < kcl_array_size(&x); i++) {
        float p = x.data[i];
        if (!(p >= 0 && p <= 255 && p == floorf(p)))
            fail_msg("pixel %lld is %g", (long long)i, p);
        sum += p;
    }
    /* Fashion-MNIST's training pixels average about 72.94 (0.2860 * 255). */
    assert_true(fabs(sum / (double)kcl_array_size(&x) - 72.94) < 0.1);
    int64_t per_class[10] = {0};
    for (int64_t i = 0; i < 60000; i++) {
        float c = y.data[i];
        if (!(c >= 0 && c <= 9 && c == floorf(c)))
            fail_msg("label %lld is %g", (long long)i, c);
        per_class[(int)c]++;
    }
    for (int c = 0; c < 10; c++)
        assert_int_equal(per_class[c], 6000);   /* the training set is balanced */
    kcl_array_free(&x);
    kcl_array_free(&y);
}

/* ------------------------------------------------------------------- csv -- */

static void csv_ok(kcl_context *ctx, const char *text, const kcl_csv_options *opt,
                   int64_t rows, int64_t cols, const float *want)
{
    const char *path = write_file("ok.csv", text, strlen(text));
    kcl_array a;
    CHECK_OK(ctx, kcl_load_csv(ctx, path, opt, &a));
    assert_int_equal(a.rank, 2);
    if (a.shape[0] != rows || a.shape[1] != cols)
        fail_msg("'%s': shape [%lld, %lld], want [%lld, %lld]", text, (long long)a.shape[0],
                 (long long)a.shape[1], (long long)rows, (long long)cols);
    expect_values(&a, want, rows * cols);
    kcl_array_free(&a);
}

static void test_csv(void **state)
{
    kcl_context *ctx = *state;
    const float six[] = {1, 2, 3, 4, 5, 6};
    csv_ok(ctx, "1,2,3\n4,5,6\n", NULL, 2, 3, six);
    csv_ok(ctx, "1,2,3\n4,5,6", NULL, 2, 3, six);                      /* no final newline */
    csv_ok(ctx, "1,2,3\r\n4,5,6\r\n", NULL, 2, 3, six);                /* CRLF */
    csv_ok(ctx, "\n1,2,3\n\n  \n4,5,6\n\n", NULL, 2, 3, six);          /* blank lines */
    csv_ok(ctx, " 1 , 2,3\t\n4,\t5 ,6\n", NULL, 2, 3, six);             /* blanks around */
    csv_ok(ctx, "a,b,c\r\n1,2,3\r\n4,5,6\r\n", &(kcl_csv_options){.skip_rows = 1}, 2, 3, six);
    csv_ok(ctx, "x\ny;z\n1;2\n3;4\n5;6\n", &(kcl_csv_options){';', 2}, 3, 2, six);
    csv_ok(ctx, "1\t2\t3\n4\t5\t6\n", &(kcl_csv_options){.delimiter = '\t'}, 2, 3, six);
    csv_ok(ctx, "1 2 3\n4 5 6\n", &(kcl_csv_options){.delimiter = ' '}, 2, 3, six);
    const float sci[] = {1e3f, -2.5e-1f, NAN, -INFINITY, 0.1f, 7};
    csv_ok(ctx, "1e3,-2.5E-1,nan\n-inf,.1,+7\n", NULL, 2, 3, sci);
    csv_ok(ctx, "", NULL, 0, 0, NULL);
    csv_ok(ctx, "header only\n", &(kcl_csv_options){.skip_rows = 1}, 0, 0, NULL);
    csv_ok(ctx, "1,2\n", &(kcl_csv_options){.skip_rows = 5}, 0, 0, NULL);
}

static void test_csv_errors(void **state)
{
    kcl_context *ctx = *state;
    static const struct {
        const char *text;
        int skip_rows;
        const char *what;
    } cases[] = {
        {"1,2\n3\n", 0, "line 2 has 1 fields, line 1 has 2"},
        {"1,2\n3,4,5\n", 0, "line 2 has 3 fields"},
        {"h\n\n1,2\r\n3,4\r\n5\r\n", 1, "line 5 has 1 fields, line 3 has 2"},
        {"1,abc\n", 0, "line 1, field 2: 'abc' is not a number"},
        {"1,2\n3,4x\n", 0, "line 2, field 2: '4x'"},
        {"1,,3\n", 0, "line 1, field 2: '' is not a number"},
        {"1,2,\n", 0, "field 3"},
        {"a,b\n1,2\n", 0, "line 1, field 1: 'a'"},
        {"1,2\n3,\"4\"\n", 0, "'\"4\"'"},
        {"1,2\n3,4 5\n", 0, "'4 5'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *path = write_file("bad.csv", cases[k].text, strlen(cases[k].text));
        kcl_array a;
        kcl_csv_options opt = {.skip_rows = cases[k].skip_rows};
        expect_error(ctx, kcl_load_csv(ctx, path, &opt, &a), KCL_ERR_FORMAT, &a, path,
                     cases[k].what);
    }
    /* An embedded NUL byte is not part of any number. */
    const char *nul = write_file("nul.csv", "1,2\n3,4\0\n", 9);
    kcl_array a;
    expect_error(ctx, kcl_load_csv(ctx, nul, NULL, &a), KCL_ERR_FORMAT, &a, nul, "line 2");
    const char *missing = path_of("missing.csv");
    expect_error(ctx, kcl_load_csv(ctx, missing, NULL, &a), KCL_ERR_IO, &a, missing,
                 "cannot open");
    const char *ok = write_file("ok.csv", "1\n", 2);
    assert_int_equal(kcl_load_csv(ctx, ok, &(kcl_csv_options){.skip_rows = -1}, &a),
                     KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_load_csv(ctx, ok, &(kcl_csv_options){.delimiter = '\n'}, &a),
                     KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_load_csv(ctx, NULL, NULL, &a), KCL_ERR_ARGUMENT);
}

/* A CSV larger than the loader's first buffers, checked value by value. */
static void test_csv_large(void **state)
{
    kcl_context *ctx = *state;
    const int rows = 3000, cols = 7;
    const char *path = path_of("large.csv");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            fprintf(f, "%d.25%s", r * cols + c, c + 1 < cols ? "," : "\r\n");
    fclose(f);
    kcl_array a;
    CHECK_OK(ctx, kcl_load_csv(ctx, path, NULL, &a));
    assert_int_equal(a.shape[0], rows);
    assert_int_equal(a.shape[1], cols);
    for (int i = 0; i < rows * cols; i++)
        assert_true(a.data[i] == (float)(i + 0.25));
    kcl_array_free(&a);
}

/* ------------------------------------------------------------ seed corpus -- */

/* tests/data/fuzz (generate.py): every valid_* file loads, every bad_* file is
 * refused with KCL_ERR_FORMAT. The source tree is found from KCL_TEST_CL_DIR
 * (<source>/cl), which meson sets. */
static void check_corpus_dir(kcl_context *ctx, const char *dir, const char *format)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int valid = strncmp(e->d_name, "valid_", 6) == 0;
        if (!valid && strncmp(e->d_name, "bad_", 4) != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        kcl_array a;
        kcl_status st = !strcmp(format, "npy") ? kcl_load_npy(ctx, path, &a)
                      : !strcmp(format, "idx") ? kcl_load_idx(ctx, path, &a)
                                               : kcl_load_csv(ctx, path, NULL, &a);
        if (st != (valid ? KCL_OK : KCL_ERR_FORMAT))
            fail_msg("%s: %s: %s", path, kcl_status_name(st), kcl_errmsg(ctx));
        if (valid)
            assert_true(kcl_array_size(&a) >= 0 && a.data != NULL);
        kcl_array_free(&a);
        files++;
    }
    closedir(d);
    assert_true(files >= 6);
}

static void test_seed_corpus(void **state)
{
    const char *cl_dir = getenv("KCL_TEST_CL_DIR");
    if (!cl_dir)
        skip();
    static const char *const formats[] = {"npy", "idx", "csv"};
    for (int i = 0; i < 3; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/../tests/data/fuzz/%s", cl_dir, formats[i]);
        check_corpus_dir(*state, dir, formats[i]);
    }
}

/* -------------------------------------------------------------- fixtures -- */

static const char *const created[] = {
    "dtype.npy", "shape.npy", "hostile.npy", "types.idx", "types.idx.gz", "scalar.idx",
    "empty.idx.gz", "hostile.idx", "hostile.idx.gz", "cut.idx.gz", "corrupt.idx.gz", "ok.csv",
    "bad.csv", "nul.csv", "large.csv",
};

static int setup(void **state)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/kcl-test-io-XXXXXX");
    if (!mkdtemp(test_dir))
        return -1;
    *state = test_context();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    kcl_context_free(*state);
    for (size_t i = 0; i < sizeof created / sizeof *created; i++)
        unlink(path_of(created[i]));
    rmdir(test_dir);
    return 0;
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_dtypes),
        cmocka_unit_test(test_npy_shapes),
        cmocka_unit_test(test_npy_hostile),
        cmocka_unit_test(test_idx_types),
        cmocka_unit_test(test_idx_hostile),
        cmocka_unit_test(test_fashion_mnist),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_csv_large),
        cmocka_unit_test(test_seed_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

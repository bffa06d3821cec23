/* test_initializers: Keras' initializers, and the generator's reproducibility.
 *
 * Reproducibility is checked three ways: Philox against Random123's published
 * known answers; the device's bytes against a host C mirror of cl/random.cl
 * (same operations in the same order, no FMA contraction); and the bytes of
 * two different OpenCL implementations (PoCL and Oclgrind) against each other.
 *
 * Statistics, on N = 2^20 values (2e4 under a simulator): the sample mean must
 * lie within 5 standard errors (5 sigma / sqrt(N)) of the expected mean, and
 * the sample standard deviation within 5 sigma / sqrt(2N) of the expected one,
 * the normal distribution's standard error of s; the uniform and truncated
 * normal distributions have lighter tails (kurtosis < 3), so for them that
 * bound is wider than 5 of their standard errors. Seeds are fixed, so a pass is
 * a pass every time. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "common.h"

#include <float.h>

/* ------------------------------------------------------ host mirror -- */
/* cl/random.cl in host C: the constants, operations and their order must
 * stay the same as there. */

static void philox(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr_in[0], ctr_in[1], ctr_in[2], ctr_in[3]}, k[2] = {key_in[0], key_in[1]};
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k[0] += 0x9E3779B9u;
            k[1] += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t next[4] = {(uint32_t)(p1 >> 32) ^ c[1] ^ k[0], (uint32_t)p1,
                            (uint32_t)(p0 >> 32) ^ c[3] ^ k[1], (uint32_t)p0};
        memcpy(c, next, sizeof c);
    }
    memcpy(out, c, sizeof c);
}

static void block_bits(uint64_t b, uint32_t round, uint64_t seed, uint32_t w[4])
{
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), round, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    philox(ctr, key, w);
}

static float uniform24(uint32_t x) { return (float)(x >> 8) * 0x1p-24f; }
static float open_uniform(uint32_t x) { return ((float)(x >> 9) + 0.5f) * 0x1p-23f; }

static float log_unit(float u)
{
    uint32_t bits, mbits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)(bits >> 23) - 127;
    mbits = (bits & 0x007FFFFFu) | 0x3F800000u;
    float m;
    memcpy(&m, &mbits, sizeof m);
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e = e + 1;
    }
    const float f = m - 1.0f;
    const float s = f / (2.0f + f);
    const float s2 = s * s;
    const float series = 2.0f + s2 * (0.666666667f + s2 * (0.4f + s2 * (0.285714286f +
                         s2 * (0.222222222f + s2 * 0.181818182f))));
    return (float)e * 0.693147181f + s * series;
}

/* sc[0] = sin, sc[1] = cos of 2 pi t / 2^24. */
static void turn_sincos(uint32_t t, float sc[2])
{
    const uint32_t quadrants = (t + 0x200000u) >> 22;
    const int rest = (int)t - (int)(quadrants << 22);
    const float phi = (float)rest * (1.57079633f * 0x1p-22f);
    const float p2 = phi * phi;
    const float s = phi + phi * p2 * (-0.166666667f + p2 * (8.33333333e-3f +
                    p2 * (-1.98412698e-4f + p2 * 2.75573192e-6f)));
    const float c = 1.0f + p2 * (-0.5f + p2 * (4.16666667e-2f + p2 * (-1.38888889e-3f +
                    p2 * (2.48015873e-5f + p2 * -2.75573192e-7f))));
    const uint32_t q = quadrants & 3u;
    const float sin_abs = (q & 1u) ? c : s, cos_abs = (q & 1u) ? s : c;
    sc[0] = (q & 2u) ? -sin_abs : sin_abs;
    sc[1] = ((q + 1u) & 2u) ? -cos_abs : cos_abs;
}

static void box_muller(uint32_t a, uint32_t b, float z[2])
{
    const float r = sqrtf(-2.0f * log_unit(open_uniform(a)));
    float sc[2];
    turn_sincos(b >> 8, sc);
    z[0] = r * sc[1];
    z[1] = r * sc[0];
}

static void normals(const uint32_t w[4], float z[4])
{
    box_muller(w[0], w[1], z);
    box_muller(w[2], w[3], z + 2);
}

typedef enum mirror_dist { M_UNIFORM, M_NORMAL, M_TRUNCATED } mirror_dist;

/* Element i of a draw, as the device computes it; (a, b) as random.cl's kernel
 * parameters: uniform [a, b), normals mean a and stddev b. */
static float mirror_value(mirror_dist dist, uint64_t seed, float a, float b, uint64_t i)
{
    uint32_t w[4];
    float z[4];
    unsigned j = (unsigned)(i % 4);
    if (dist == M_UNIFORM) {
        block_bits(i / 4, 0, seed, w);
        float cap = b > a ? nextafterf(b, a) : b, v = a + (b - a) * uniform24(w[j]);
        return v > cap ? cap : v;
    }
    float chosen = 0.0f;
    for (uint32_t round = 0; round < (dist == M_TRUNCATED ? 16u : 1u); round++) {
        block_bits(i / 4, round, seed, w);
        normals(w, z);
        if (dist == M_NORMAL || (z[j] >= -2.0f && z[j] <= 2.0f)) {
            chosen = z[j];
            break;
        }
    }
    return a + b * chosen;
}

/* ---------------------------------------------------------- helpers -- */

static kcl_tensor *make(kcl_context *ctx, int rank, const int64_t *shape)
{
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_create(ctx, rank, shape, &t));
    return t;
}

/* A tensor of the given shape filled by init, read back (malloc'ed). */
static float *draw(kcl_context *ctx, kcl_initializer init, int rank, const int64_t *shape,
                   size_t *count)
{
    kcl_tensor *t = make(ctx, rank, shape);
    size_t n = (size_t)kcl_tensor_size(t);
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    CHECK_OK(ctx, kcl_initialize(ctx, &init, t));
    CHECK_OK(ctx, kcl_tensor_read(t, v, n));
    kcl_tensor_free(t);
    if (count)
        *count = n;
    return v;
}

static float *draw_flat(kcl_context *ctx, kcl_initializer init, int64_t n)
{
    return draw(ctx, init, 1, &n, NULL);
}

typedef struct moments {
    double mean, stddev, min, max;
} moments;

static moments measure(const float *v, size_t n)
{
    double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sq += (v[i] - mean) * (v[i] - mean);
    return (moments){mean, sqrt(sq / (double)(n - 1)), lo, hi};
}

/* Mean and stddev against expectations, within 5 standard errors (see top). */
static void expect_moments(const char *what, const float *v, size_t n, double mean,
                           double stddev)
{
    moments m = measure(v, n);
    double mean_tol = 5 * stddev / sqrt((double)n), sd_tol = 5 * stddev / sqrt(2.0 * n);
    if (!(fabs(m.mean - mean) <= mean_tol))
        fail_msg("%s: mean %.6g, want %.6g +- %.3g", what, m.mean, mean, mean_tol);
    if (!(fabs(m.stddev - stddev) <= sd_tol))
        fail_msg("%s: stddev %.6g, want %.6g +- %.3g", what, m.stddev, stddev, sd_tol);
}

static void expect_within(const char *what, const float *v, size_t n, double lo, double hi,
                          int hi_exclusive)
{
    for (size_t i = 0; i < n; i++)
        if (!(v[i] >= lo && (hi_exclusive ? v[i] < hi : v[i] <= hi)))
            fail_msg("%s: value[%zu] = %.9g outside [%.9g, %.9g%c", what, i, v[i], lo, hi,
                     hi_exclusive ? ')' : ']');
}

static size_t big_count(kcl_context *ctx)
{
    return test_on_simulator(ctx) ? 20000 : (size_t)1 << 20;
}

/* The unit normal truncated to [-2, 2] has this stddev (Keras' constant). */
static const double truncated_sd = 0.87962566103423978;

/* ------------------------------------------------------- generator -- */

static void test_philox_known_answers(void **state)
{
    kcl_context *ctx = *state;
    /* Random123 tests/kat_vectors, the "philox4x32 10" lines: counter, key, result. */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t got[4], host[4];
        CHECK_OK(ctx, kcl_philox4x32_10(ctx, kat[v], kat[v] + 4, got));
        philox(kat[v], kat[v] + 4, host);
        for (int j = 0; j < 4; j++) {
            if (got[j] != kat[v][6 + j])
                fail_msg("vector %d word %d: device %08x, want %08x", v, j, got[j], kat[v][6 + j]);
            assert_int_equal(host[j], kat[v][6 + j]);
        }
    }
}

/* The float transforms against double-precision libm: |error| <= 1e-6 (1 + r). */
static void test_normal_transform_accuracy(void **state)
{
    (void)state;
    const double two_pi = 6.283185307179586;
    double worst = 0;
    for (uint32_t k = 0; k < 200000; k++) {
        uint32_t a = k * 0x9E3779B1u + (k >> 3), b = k * 0x85EBCA77u ^ (k << 7);
        if (k < 4) /* the extremes of u: 2^-24 and 1 - 2^-24 */
            a = (k & 1) ? 0xFFFFFFFFu : 0;
        float z[2];
        box_muller(a, b, z);
        double u = ((a >> 9) + 0.5) / 8388608.0, r = sqrt(-2 * log(u));
        double theta = two_pi * (b >> 8) / 16777216.0;
        double err = fmax(fabs(z[0] - r * cos(theta)), fabs(z[1] - r * sin(theta))) / (1 + r);
        worst = fmax(worst, err);
        if (!(err <= 1e-6))
            fail_msg("box_muller(%08x, %08x) = (%.9g, %.9g), want (%.9g, %.9g)", a, b, z[0], z[1],
                     r * cos(theta), r * sin(theta));
    }
    print_message("# worst Box-Muller error: %.3g (relative to 1 + r)\n", worst);
}

/* Device bytes == host mirror bytes for every distribution, and for presets
 * whose parameters the test computes with Keras' formulas. */
static void expect_mirror(kcl_context *ctx, const char *what, kcl_initializer init, int rank,
                          const int64_t *shape, mirror_dist dist, float a, float b)
{
    size_t n;
    float *got = draw(ctx, init, rank, shape, &n);
    for (size_t i = 0; i < n; i++) {
        float want = mirror_value(dist, init.seed, a, b, i);
        if (memcmp(&got[i], &want, sizeof want) != 0)
            fail_msg("%s: element %zu: device %.9g, host %.9g", what, i, got[i], want);
    }
    free(got);
}

static void test_device_matches_host_mirror(void **state)
{
    kcl_context *ctx = *state;
    int64_t n = test_on_simulator(ctx) ? 4099 : 200003;   /* a partial last block */
    expect_mirror(ctx, "random_uniform", kcl_init_random_uniform(.minval = -3, .maxval = 0.5f,
                  .seed = 11), 1, &n, M_UNIFORM, -3.0f, 0.5f);
    expect_mirror(ctx, "random_uniform default", kcl_init_random_uniform(.seed = 12), 1, &n,
                  M_UNIFORM, -0.05f, 0.05f);
    expect_mirror(ctx, "random_normal", kcl_init_random_normal(.mean = 1.5f, .stddev = 0.3f,
                  .seed = 13), 1, &n, M_NORMAL, 1.5f, 0.3f);
    expect_mirror(ctx, "truncated_normal", kcl_init_truncated_normal(.mean = -2, .stddev = 2,
                  .seed = 0x123456789abcdefULL), 1, &n, M_TRUNCATED, -2.0f, 2.0f);
    int64_t conv[4] = {3, 3, 16, n / 144 + 1};           /* fan_in 144, fan_out 9 * shape[3] */
    double fan_out = 9.0 * (double)conv[3];
    expect_mirror(ctx, "he_normal", kcl_init_he_normal(.seed = 14), 4, conv, M_TRUNCATED, 0.0f,
                  (float)(sqrt(2.0 / 144) / truncated_sd));
    float limit = (float)sqrt(3.0 * (1.0 / ((144 + fan_out) / 2.0)));
    expect_mirror(ctx, "glorot_uniform", kcl_init_glorot_uniform(.seed = 15), 4, conv,
                  M_UNIFORM, -limit, limit);
    expect_mirror(ctx, "variance_scaling untruncated fan_out",
                  kcl_init_variance_scaling(.scale = 3, .mode = KCL_FAN_OUT,
                                            .distribution = KCL_DIST_UNTRUNCATED_NORMAL,
                                            .seed = 16), 4, conv, M_NORMAL, 0.0f,
                  (float)sqrt(3.0 / fan_out));
}

/* The same seeded tensors, bit for bit, on a second OpenCL implementation. */
static void test_same_bytes_on_another_device(void **state)
{
    kcl_context *ctx = *state, *other = NULL;
    const char *choice = test_on_simulator(ctx) ? "pocl" : "oclgrind";
    kcl_context_options opt = {.device = choice, .disable_disk_cache = 1};
    if (kcl_context_create(&other, &opt) != KCL_OK) {
        print_message("# no '%s' device: %s\n", choice, kcl_errmsg(NULL));
        skip();
    }
    const kcl_initializer inits[] = {
        kcl_init_random_uniform(.minval = -1, .maxval = 2, .seed = 21),
        kcl_init_random_normal(.mean = 0.25f, .stddev = 3, .seed = 22),
        kcl_init_truncated_normal(.seed = 23),
        kcl_init_he_normal(.seed = 24),
        kcl_init_orthogonal(.seed = 25),
    };
    int64_t shape[2] = {125, 80};                         /* 1e4 values */
    for (size_t k = 0; k < sizeof inits / sizeof *inits; k++) {
        size_t n;
        float *a = draw(ctx, inits[k], 2, shape, &n), *b = draw(other, inits[k], 2, shape, NULL);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&a[i], &b[i], sizeof *a) != 0)
                fail_msg("%s: element %zu: %.9g on %s, %.9g on %s",
                         kcl_initializer_name(inits[k].kind), i, a[i],
                         kcl_context_device(ctx)->name, b[i], kcl_context_device(other)->name);
        free(a);
        free(b);
    }
    kcl_context_free(other);
}

static size_t count_equal(const float *a, const float *b, size_t n)
{
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += memcmp(&a[i], &b[i], sizeof *a) == 0;
    return same;
}

static void test_seeds(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {40, 25};
    const kcl_initializer kinds[] = {kcl_init_glorot_uniform(.seed = 5),
                                     kcl_init_random_normal(.seed = 5),
                                     kcl_init_orthogonal(.seed = 5)};
    for (size_t k = 0; k < 3; k++) {
        kcl_initializer other = kinds[k];
        other.seed = 6;
        float *a = draw(ctx, kinds[k], 2, shape, NULL), *b = draw(ctx, kinds[k], 2, shape, NULL),
              *c = draw(ctx, other, 2, shape, NULL);
        assert_int_equal(count_equal(a, b, 1000), 1000);   /* Keras 3: same seed, same values */
        assert_true(count_equal(a, c, 1000) < 10);
        other.seed = 0;                                      /* unseeded: fresh every call */
        free(b);
        free(c);
        b = draw(ctx, other, 2, shape, NULL);
        c = draw(ctx, other, 2, shape, NULL);
        assert_true(count_equal(b, c, 1000) < 10);
        free(a);
        free(b);
        free(c);
    }
}

/* ------------------------------------------------------- statistics -- */

static void test_random_normal_and_uniform(void **state)
{
    kcl_context *ctx = *state;
    int64_t n = (int64_t)big_count(ctx);
    float *v = draw_flat(ctx, kcl_init_random_normal(.mean = 0.5f, .stddev = 2, .seed = 31), n);
    expect_moments("random_normal(0.5, 2)", v, (size_t)n, 0.5, 2.0);
    free(v);
    v = draw_flat(ctx, kcl_init_random_normal(.seed = 32), n);
    expect_moments("random_normal()", v, (size_t)n, 0.0, 0.05);
    free(v);
    v = draw_flat(ctx, kcl_init_random_uniform(.seed = 33), n);
    expect_within("random_uniform()", v, (size_t)n, -0.05f, 0.05f, 1);
    expect_moments("random_uniform()", v, (size_t)n, 0.0, 0.1 / sqrt(12.0));
    free(v);
    v = draw_flat(ctx, kcl_init_random_uniform(.minval = 2, .maxval = 5, .seed = 34), n);
    expect_within("random_uniform(2, 5)", v, (size_t)n, 2.0f, 5.0f, 1);
    expect_moments("random_uniform(2, 5)", v, (size_t)n, 3.5, 3.0 / sqrt(12.0));
    free(v);
    v = draw_flat(ctx, kcl_init_random_uniform(.maxval = 1, .seed = 35), n);
    expect_within("random_uniform(maxval 1)", v, (size_t)n, 0.0f, 1.0f, 1);
    free(v);
}

static void test_truncated_normal(void **state)
{
    kcl_context *ctx = *state;
    int64_t n = (int64_t)big_count(ctx);
    float *v = draw_flat(ctx, kcl_init_truncated_normal(.mean = 1, .stddev = 0.5f, .seed = 41), n);
    /* mean + stddev * z with |z| <= 2: within 2 stddev, up to the rounding of the sum. */
    expect_within("truncated_normal(1, 0.5)", v, (size_t)n, 0.0 - 1e-6, 2.0 + 1e-6, 0);
    expect_moments("truncated_normal(1, 0.5)", v, (size_t)n, 1.0, 0.5 * truncated_sd);
    moments m = measure(v, (size_t)n);
    assert_true(m.min < 0.01 && m.max > 1.99);           /* the range is used, not clipped */
    free(v);
    v = draw_flat(ctx, kcl_init_truncated_normal(.seed = 42), n);
    expect_within("truncated_normal()", v, (size_t)n, -0.1, 0.1, 0);
    expect_moments("truncated_normal()", v, (size_t)n, 0.0, 0.05 * truncated_sd);
    free(v);
}

/* A drawn tensor's stddev (and range) against scale / n. */
static void expect_variance_scaling(kcl_context *ctx, const char *what, kcl_initializer init,
                                    int rank, const int64_t *shape, double variance,
                                    kcl_init_distribution dist)
{
    size_t n;
    float *v = draw(ctx, init, rank, shape, &n);
    double sd = sqrt(variance), limit = sqrt(3 * variance);
    if (dist == KCL_DIST_UNIFORM)
        expect_within(what, v, n, -limit, limit, 1);
    if (dist == KCL_DIST_TRUNCATED_NORMAL)   /* 2 stddev before truncation */
        expect_within(what, v, n, -2 * sd / truncated_sd, 2 * sd / truncated_sd, 0);
    expect_moments(what, v, n, 0.0, sd);
    free(v);
}

static void test_variance_scaling_modes(void **state)
{
    kcl_context *ctx = *state;
    int sim = test_on_simulator(ctx);
    int64_t big[4] = {4, 4, 512, 128}, small[4] = {2, 2, 128, 40};
    const int64_t *shape = sim ? small : big;
    double fan_in, fan_out;
    kcl_compute_fans(4, shape, &fan_in, &fan_out);
    const double fans[3] = {fan_in, fan_out, (fan_in + fan_out) / 2};
    const char *modes[3] = {"fan_in", "fan_out", "fan_avg"};
    const char *dists[3] = {"truncated_normal", "untruncated_normal", "uniform"};
    for (int mode = 0; mode < 3; mode++)
        for (int dist = 0; dist < 3; dist++) {
            char what[96];
            snprintf(what, sizeof what, "variance_scaling(2.5, %s, %s)", modes[mode],
                     dists[dist]);
            kcl_initializer init = kcl_init_variance_scaling(
                .scale = 2.5f, .mode = (kcl_fan_mode)mode,
                .distribution = (kcl_init_distribution)dist, .seed = 50 + mode * 3 + dist);
            expect_variance_scaling(ctx, what, init, 4, shape, 2.5 / fans[mode],
                                    (kcl_init_distribution)dist);
        }
}

static void test_variance_scaling_presets(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {2048, 512};
    if (test_on_simulator(ctx)) {
        shape[0] = 160;
        shape[1] = 128;
    }
    double in = (double)shape[0], avg = (shape[0] + shape[1]) / 2.0;
    const struct {
        kcl_initializer init;
        double variance;
        kcl_init_distribution dist;
    } presets[] = {
        {kcl_init_glorot_normal(.seed = 61), 1 / avg, KCL_DIST_TRUNCATED_NORMAL},
        {kcl_init_glorot_uniform(.seed = 62), 1 / avg, KCL_DIST_UNIFORM},
        {kcl_init_he_normal(.seed = 63), 2 / in, KCL_DIST_TRUNCATED_NORMAL},
        {kcl_init_he_uniform(.seed = 64), 2 / in, KCL_DIST_UNIFORM},
        {kcl_init_lecun_normal(.seed = 65), 1 / in, KCL_DIST_TRUNCATED_NORMAL},
        {kcl_init_lecun_uniform(.seed = 66), 1 / in, KCL_DIST_UNIFORM},
        {kcl_init_variance_scaling(.seed = 67), 1 / in, KCL_DIST_TRUNCATED_NORMAL},
    };
    for (size_t k = 0; k < sizeof presets / sizeof *presets; k++)
        expect_variance_scaling(ctx, kcl_initializer_name(presets[k].init.kind), presets[k].init,
                                2, shape, presets[k].variance, presets[k].dist);
}

static void test_compute_fans(void **state)
{
    (void)state;
    const struct {
        int rank;
        int64_t shape[4];
        double in, out;
    } cases[] = {
        {0, {0}, 1, 1},          {1, {7}, 7, 7},           {2, {3, 5}, 3, 5},
        {3, {4, 3, 5}, 12, 20},  {4, {3, 3, 16, 32}, 144, 288},
        {4, {1, 2, 0, 5}, 0, 10},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        double in = -1, out = -1;
        kcl_compute_fans(cases[k].rank, cases[k].shape, &in, &out);
        assert_float_equal(in, cases[k].in, 0);
        assert_float_equal(out, cases[k].out, 0);
    }
    double in = -1, out = -1;
    kcl_compute_fans(0, NULL, &in, &out);
    assert_true(in == 1 && out == 1);
}

/* ----------------------------------------------------- deterministic -- */

static void test_constants_and_defaults(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {7, 9};
    const struct {
        kcl_initializer init;
        float want;
    } cases[] = {
        {kcl_init_zeros(), 0.0f},
        {kcl_init_ones(), 1.0f},
        {kcl_init_constant(.value = 3.5f), 3.5f},
        {kcl_init_constant(), 0.0f},
        {kcl_default_bias_initializer(), 0.0f},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        kcl_tensor *t = make(ctx, 2, shape);
        float *junk = test_random(63, k), v[63];
        CHECK_OK(ctx, kcl_tensor_write(t, junk, 63));
        CHECK_OK(ctx, kcl_initialize(ctx, &cases[k].init, t));
        CHECK_OK(ctx, kcl_tensor_read(t, v, 63));
        for (int i = 0; i < 63; i++)
            assert_float_equal(v[i], cases[k].want, 0);
        free(junk);
        kcl_tensor_free(t);
    }
    assert_int_equal(kcl_default_kernel_initializer().kind, KCL_INIT_GLOROT_UNIFORM);
    assert_int_equal(kcl_default_bias_initializer().kind, KCL_INIT_ZEROS);
    /* NULL (and KCL_INIT_DEFAULT) is glorot_uniform: within sqrt(6 / (7 + 9)). */
    kcl_tensor *t = make(ctx, 2, shape);
    float v[63];
    CHECK_OK(ctx, kcl_initialize(ctx, NULL, t));
    CHECK_OK(ctx, kcl_tensor_read(t, v, 63));
    expect_within("default", v, 63, -sqrt(6.0 / 16), sqrt(6.0 / 16), 1);
    kcl_tensor_free(t);
}

static void test_scalar_and_empty(void **state)
{
    kcl_context *ctx = *state;
    float *v = draw(ctx, kcl_init_random_normal(.stddev = 1, .seed = 3), 0, NULL, NULL);
    assert_true(isfinite(v[0]) && v[0] != 0.0f);
    free(v);
    int64_t empty[2] = {0, 5}, empty2[3] = {4, 5, 0};
    const kcl_initializer inits[] = {kcl_init_ones(), kcl_init_he_uniform(),
                                     kcl_init_identity(), kcl_init_orthogonal(),
                                     kcl_init_truncated_normal()};
    for (size_t k = 0; k < sizeof inits / sizeof *inits; k++) {
        kcl_tensor *a = make(ctx, 2, empty), *b = make(ctx, 3, empty2);
        CHECK_OK(ctx, kcl_initialize(ctx, &inits[k], a));
        if (inits[k].kind != KCL_INIT_IDENTITY)
            CHECK_OK(ctx, kcl_initialize(ctx, &inits[k], b));
        kcl_tensor_free(a);
        kcl_tensor_free(b);
    }
}

static void test_identity(void **state)
{
    kcl_context *ctx = *state;
    const struct {
        int64_t rows, cols;
        float gain, want;
    } cases[] = {{3, 3, 0, 1}, {2, 5, 2.5f, 2.5f}, {5, 2, -1, -1}, {1, 1, 0, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int64_t shape[2] = {cases[k].rows, cases[k].cols};
        size_t n;
        float *v = draw(ctx, kcl_init_identity(.gain = cases[k].gain), 2, shape, &n);
        for (size_t i = 0; i < n; i++) {
            int64_t r = (int64_t)i / cases[k].cols, c = (int64_t)i % cases[k].cols;
            assert_float_equal(v[i], r == c ? cases[k].want : 0.0f, 0);
        }
        free(v);
    }
}

/* ------------------------------------------------------- orthogonal -- */

/* W W^T (rows < cols) or W^T W equals gain^2 I within 1e-5 gain^2. */
static void expect_orthonormal(const float *w, int64_t rows, int64_t cols, double gain)
{
    int transpose = rows < cols;
    int64_t k = transpose ? rows : cols, len = transpose ? cols : rows;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++) {
            double dot = 0;
            for (int64_t p = 0; p < len; p++)
                dot += transpose ? (double)w[i * cols + p] * w[j * cols + p]
                                 : (double)w[p * cols + i] * w[p * cols + j];
            double want = i == j ? gain * gain : 0;
            if (!(fabs(dot - want) <= 1e-5 * gain * gain))
                fail_msg("%lldx%lld: (W W')[%lld][%lld] = %.9g, want %g", (long long)rows,
                         (long long)cols, (long long)i, (long long)j, dot, want);
        }
}

/* Keras' sign correction: with A the drawn (max, min) normal matrix and Q
 * its factor, R = Q^T A is upper triangular with a positive diagonal. */
static void expect_sign_corrected(kcl_context *ctx, const float *w, int64_t rows, int64_t cols,
                                  uint64_t seed)
{
    int64_t m = rows > cols ? rows : cols, n = rows > cols ? cols : rows;
    float *a = draw_flat(ctx, kcl_init_random_normal(.stddev = 1, .seed = seed), m * n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            double r = 0;          /* R[i][j] = sum_p Q[p][i] A[p][j] */
            for (int64_t p = 0; p < m; p++)
                r += (rows >= cols ? w[p * cols + i] : w[i * cols + p]) * (double)a[p * n + j];
            if (i == j ? !(r > 0) : !(fabs(r) < 1e-4))
                fail_msg("%lldx%lld: R[%lld][%lld] = %.6g", (long long)rows, (long long)cols,
                         (long long)i, (long long)j, r);
        }
    free(a);
}

static void test_orthogonal(void **state)
{
    kcl_context *ctx = *state;
    const struct {
        int rank;
        int64_t shape[3];
        float gain;
    } cases[] = {
        {2, {8, 8}, 0},  {2, {20, 7}, 0},    {2, {7, 20}, 2},
        {3, {3, 4, 5}, 0}, {3, {2, 3, 10}, 0.5f}, {2, {1, 1}, 0}, {2, {64, 48}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t n;
        uint64_t seed = 70 + k;
        float *w = draw(ctx, kcl_init_orthogonal(.gain = cases[k].gain, .seed = seed),
                        cases[k].rank, cases[k].shape, &n);
        int64_t cols = cases[k].shape[cases[k].rank - 1], rows = (int64_t)n / cols;
        double gain = cases[k].gain ? cases[k].gain : 1;
        expect_orthonormal(w, rows, cols, gain);
        if (gain == 1)
            expect_sign_corrected(ctx, w, rows, cols, seed);
        free(w);
    }
}

/* ------------------------------------------------- names and errors -- */

static void test_by_name(void **state)
{
    kcl_context *ctx = *state;
    static const char *const names[] = {
        "zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
        "variance_scaling", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
        "lecun_normal", "lecun_uniform", "identity", "orthogonal"};
    for (int k = 0; k < 15; k++) {
        kcl_initializer init = {.seed = 99};
        CHECK_OK(ctx, kcl_initializer_by_name(ctx, names[k], &init));
        assert_int_equal(init.kind, KCL_INIT_ZEROS + k);
        assert_true(init.seed == 0 && init.stddev == 0 && init.fn == NULL);
        assert_string_equal(kcl_initializer_name(init.kind), names[k]);
    }
    const struct {
        const char *name;
        kcl_init_kind kind;
    } others[] = {{"HeNormal", KCL_INIT_HE_NORMAL}, {"GlorotUniform", KCL_INIT_GLOROT_UNIFORM},
                  {"normal", KCL_INIT_RANDOM_NORMAL}, {"uniform", KCL_INIT_RANDOM_UNIFORM},
                  {"zero", KCL_INIT_ZEROS}, {"OrthogonalInitializer", KCL_INIT_ORTHOGONAL}};
    for (size_t k = 0; k < sizeof others / sizeof *others; k++) {
        kcl_initializer init;
        CHECK_OK(ctx, kcl_initializer_by_name(ctx, others[k].name, &init));
        assert_int_equal(init.kind, others[k].kind);
    }
    kcl_initializer init;
    assert_int_equal(kcl_initializer_by_name(ctx, "he_normall", &init), KCL_ERR_NAME);
    for (int k = 0; k < 15; k++)
        assert_non_null(strstr(kcl_errmsg(ctx), names[k]));
    assert_non_null(strstr(kcl_errmsg(ctx), "he_normall"));
    assert_int_equal(kcl_initializer_by_name(ctx, "HE_NORMAL", &init), KCL_ERR_NAME);
    assert_int_equal(kcl_initializer_by_name(ctx, NULL, &init), KCL_ERR_ARGUMENT);
}

/* kcl_initialize(init) fails with status and a message containing text. */
static void expect_error(kcl_context *ctx, kcl_tensor *t, kcl_initializer init,
                         kcl_status status, const char *text)
{
    kcl_status st = kcl_initialize(ctx, &init, t);
    if (st != status)
        fail_msg("%s: got %s, want %s (%s)", text, kcl_status_name(st), kcl_status_name(status),
                 kcl_errmsg(ctx));
    if (!strstr(kcl_errmsg(ctx), text))
        fail_msg("message '%s' lacks '%s'", kcl_errmsg(ctx), text);
}

static kcl_status failing_fill(float *values, int rank, const int64_t *shape, void *user)
{
    (void)values, (void)rank, (void)shape, (void)user;
    return KCL_ERR_FORMAT;
}

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    int64_t s2[2] = {3, 4}, s3[3] = {2, 3, 4}, s1[1] = {5};
    kcl_tensor *t2 = make(ctx, 2, s2), *t3 = make(ctx, 3, s3), *t1 = make(ctx, 1, s1);
    expect_error(ctx, t2, kcl_init_random_normal(.stddev = -1), KCL_ERR_ARGUMENT, "stddev");
    expect_error(ctx, t2, kcl_init_truncated_normal(.stddev = NAN), KCL_ERR_ARGUMENT, "stddev");
    expect_error(ctx, t2, kcl_init_random_normal(.mean = INFINITY), KCL_ERR_ARGUMENT, "mean");
    expect_error(ctx, t2, kcl_init_random_uniform(.minval = 1, .maxval = 0.5f), KCL_ERR_ARGUMENT,
                 "minval");
    expect_error(ctx, t2, kcl_init_random_uniform(.minval = -FLT_MAX, .maxval = FLT_MAX),
                 KCL_ERR_ARGUMENT, "finite");
    expect_error(ctx, t2, kcl_init_variance_scaling(.scale = -1), KCL_ERR_ARGUMENT, "scale");
    expect_error(ctx, t2, kcl_init_variance_scaling(.mode = (kcl_fan_mode)7), KCL_ERR_ARGUMENT,
                 "mode");
    expect_error(ctx, t2, kcl_init_variance_scaling(.distribution = (kcl_init_distribution)9),
                 KCL_ERR_ARGUMENT, "distribution");
    expect_error(ctx, t3, kcl_init_identity(), KCL_ERR_SHAPE, "rank 3");
    expect_error(ctx, t1, kcl_init_identity(), KCL_ERR_SHAPE, "2-D");
    expect_error(ctx, t1, kcl_init_orthogonal(), KCL_ERR_SHAPE, "rank 1");
    expect_error(ctx, t2, kcl_init_orthogonal(.gain = INFINITY), KCL_ERR_ARGUMENT, "gain");
    expect_error(ctx, t2, (kcl_initializer){.kind = (kcl_init_kind)99}, KCL_ERR_ARGUMENT,
                 "kind 99");
    expect_error(ctx, t2, kcl_init_custom(NULL, NULL), KCL_ERR_ARGUMENT, "function");
    expect_error(ctx, t2, kcl_init_custom(failing_fill, NULL), KCL_ERR_FORMAT, "custom");
    kcl_initializer ok = kcl_init_ones();
    assert_int_equal(kcl_initialize(ctx, &ok, NULL), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_initialize(NULL, &ok, t2), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(NULL), "NULL context"));
    assert_int_equal(kcl_initializer_check(ctx, &(kcl_initializer){.kind = KCL_INIT_HE_NORMAL}),
                     KCL_OK);
    uint32_t words[4];
    assert_int_equal(kcl_philox4x32_10(ctx, NULL, words, words), KCL_ERR_ARGUMENT);
    kcl_tensor_free(t1);
    kcl_tensor_free(t2);
    kcl_tensor_free(t3);
}

typedef struct custom_data {
    float base;
    int calls;
} custom_data;

static kcl_status index_fill(float *values, int rank, const int64_t *shape, void *user)
{
    custom_data *d = user;
    d->calls++;
    if (rank != 2 || shape[0] != 3 || shape[1] != 4)
        return KCL_ERR_SHAPE;
    for (int i = 0; i < 12; i++)
        values[i] = d->base + 0.5f * (float)i;
    return KCL_OK;
}

static void test_custom(void **state)
{
    kcl_context *ctx = *state;
    custom_data data = {10.0f, 0};
    int64_t shape[2] = {3, 4};
    float *v = draw(ctx, kcl_init_custom(index_fill, &data), 2, shape, NULL);
    assert_int_equal(data.calls, 1);
    for (int i = 0; i < 12; i++)
        assert_float_equal(v[i], 10.0f + 0.5f * (float)i, 0);
    free(v);
}

static int setup(void **state)
{
    *state = test_context();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    kcl_context_free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_normal_transform_accuracy),
        cmocka_unit_test(test_device_matches_host_mirror),
        cmocka_unit_test(test_same_bytes_on_another_device),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_random_normal_and_uniform),
        cmocka_unit_test(test_truncated_normal),
        cmocka_unit_test(test_variance_scaling_modes),
        cmocka_unit_test(test_variance_scaling_presets),
        cmocka_unit_test(test_compute_fans),
        cmocka_unit_test(test_constants_and_defaults),
        cmocka_unit_test(test_scalar_and_empty),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_orthogonal),
        cmocka_unit_test(test_by_name),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_custom),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

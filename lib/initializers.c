/* initializers.c: Keras' weight initializers (kcl_initialize and friends).
 *
 * Each initializer becomes a plan, one of a few fills: a constant, a uniform,
 * normal or truncated normal draw on the device (cl/random.cl), the identity,
 * an orthogonal matrix (QR on the host of a normal matrix drawn on the device)
 * or a custom callback's host values. Parameters such as VarianceScaling's
 * stddev are computed on the host in double, once, so they are the same
 * floats whatever the device. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Keras' correction so that a normal truncated at two standard deviations ends
 * with the intended stddev: the stddev of a unit normal truncated to [-2, 2]. */
#define TRUNCATED_STDDEV 0.87962566103423978

/* --------------------------------------------------------------- names -- */

static const char *const snake_names[KCL_INIT_KIND_COUNT_] = {
    "default", "zeros", "ones", "constant", "random_normal", "random_uniform",
    "truncated_normal", "variance_scaling", "glorot_normal", "glorot_uniform", "he_normal",
    "he_uniform", "lecun_normal", "lecun_uniform", "identity", "orthogonal", "custom",
};

/* Keras' class names, which keras.initializers.get accepts too. */
static const char *const class_names[KCL_INIT_KIND_COUNT_] = {
    NULL, "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
    "LecunNormal", "LecunUniform", "Identity", "Orthogonal", NULL,
};

/* Keras' aliases (keras/src/initializers/__init__.py). */
static const struct {
    const char *name;
    kcl_init_kind kind;
} aliases[] = {
    {"uniform", KCL_INIT_RANDOM_UNIFORM},      {"normal", KCL_INIT_RANDOM_NORMAL},
    {"one", KCL_INIT_ONES},                    {"zero", KCL_INIT_ZEROS},
    {"OrthogonalInitializer", KCL_INIT_ORTHOGONAL},
    {"orthogonal_initializer", KCL_INIT_ORTHOGONAL},
};

const char *kcl_initializer_name(kcl_init_kind kind)
{
    if ((int)kind < 0 || kind >= KCL_INIT_KIND_COUNT_)
        return "unknown";
    return snake_names[kind];
}

static int find_kind(const char *name)
{
    for (int k = KCL_INIT_ZEROS; k < KCL_INIT_CUSTOM; k++)
        if (strcmp(name, snake_names[k]) == 0 || strcmp(name, class_names[k]) == 0)
            return k;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (strcmp(name, aliases[i].name) == 0)
            return (int)aliases[i].kind;
    return -1;
}

kcl_status kcl_initializer_by_name(kcl_context *ctx, const char *name, kcl_initializer *out)
{
    if (!name || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_initializer_by_name: NULL %s",
                         name ? "out" : "name");
    int kind = find_kind(name);
    if (kind < 0) {
        char list[512] = "";
        for (int k = KCL_INIT_ZEROS; k < KCL_INIT_CUSTOM; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     k > KCL_INIT_ZEROS ? ", " : "", snake_names[k]);
        return kcl__fail(ctx, KCL_ERR_NAME, "unknown initializer '%s'; valid names: %s", name,
                         list);
    }
    *out = (kcl_initializer){.kind = (kcl_init_kind)kind};
    return KCL_OK;
}

kcl_initializer kcl_default_kernel_initializer(void)
{
    return (kcl_initializer){.kind = KCL_INIT_GLOROT_UNIFORM};
}

kcl_initializer kcl_default_bias_initializer(void)
{
    return (kcl_initializer){.kind = KCL_INIT_ZEROS};
}

/* -------------------------------------------------------------- checks -- */

static kcl_status check_normal(kcl_context *ctx, const kcl_initializer *init)
{
    const char *name = snake_names[init->kind];
    if (!isfinite(init->mean))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: mean must be finite (got %g)", name,
                         init->mean);
    if (!(init->stddev >= 0) || !isfinite(init->stddev))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "%s: stddev must be finite and >= 0 (got %g; 0 means 0.05)", name,
                         init->stddev);
    return KCL_OK;
}

static kcl_status check_uniform(kcl_context *ctx, const kcl_initializer *init)
{
    float lo = init->minval, hi = init->maxval;
    if (!isfinite(lo) || !isfinite(hi) || !isfinite(hi - lo))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "random_uniform: minval (%g) and maxval (%g) and their difference "
                         "must be finite", lo, hi);
    if (lo > hi)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "random_uniform: minval (%g) must not exceed maxval (%g)", lo, hi);
    return KCL_OK;
}

static kcl_status check_variance_scaling(kcl_context *ctx, const kcl_initializer *init)
{
    if (!(init->scale >= 0) || !isfinite(init->scale))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "variance_scaling: scale must be a positive float (got %g; 0 means 1)",
                         init->scale);
    if ((int)init->mode < KCL_FAN_IN || init->mode > KCL_FAN_AVG)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "variance_scaling: invalid mode %d; use KCL_FAN_IN, KCL_FAN_OUT or "
                         "KCL_FAN_AVG", (int)init->mode);
    if ((int)init->distribution < KCL_DIST_TRUNCATED_NORMAL ||
        init->distribution > KCL_DIST_UNIFORM)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "variance_scaling: invalid distribution %d; use "
                         "KCL_DIST_TRUNCATED_NORMAL, KCL_DIST_UNTRUNCATED_NORMAL or "
                         "KCL_DIST_UNIFORM", (int)init->distribution);
    return KCL_OK;
}

kcl_status kcl_initializer_check(kcl_context *ctx, const kcl_initializer *init)
{
    if (!init)
        return KCL_OK;
    switch (init->kind) {
    case KCL_INIT_RANDOM_NORMAL:
    case KCL_INIT_TRUNCATED_NORMAL: return check_normal(ctx, init);
    case KCL_INIT_RANDOM_UNIFORM: return check_uniform(ctx, init);
    case KCL_INIT_VARIANCE_SCALING: return check_variance_scaling(ctx, init);
    case KCL_INIT_IDENTITY:
    case KCL_INIT_ORTHOGONAL:
        if (!isfinite(init->gain))
            return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: gain must be finite (got %g)",
                             snake_names[init->kind], init->gain);
        return KCL_OK;
    case KCL_INIT_CUSTOM:
        if (!init->fn)
            return kcl__fail(ctx, KCL_ERR_ARGUMENT, "custom initializer without a function");
        return KCL_OK;
    default:
        if ((int)init->kind < 0 || init->kind >= KCL_INIT_KIND_COUNT_)
            return kcl__fail(ctx, KCL_ERR_ARGUMENT, "unknown initializer kind %d",
                             (int)init->kind);
        return KCL_OK;
    }
}

/* ---------------------------------------------------------------- plans -- */

typedef enum fill_kind {
    FILL_CONSTANT,               /* a */
    FILL_UNIFORM,                /* [a, b) */
    FILL_NORMAL,                 /* mean a, stddev b */
    FILL_TRUNCATED,              /* mean a, stddev b before truncation */
    FILL_IDENTITY,               /* gain a */
    FILL_ORTHOGONAL,             /* gain a */
    FILL_CUSTOM
} fill_kind;

typedef struct plan {
    fill_kind fill;
    float a, b;
} plan;

void kcl_compute_fans(int rank, const int64_t *shape, double *fan_in, double *fan_out)
{
    double in = 1, out = 1;
    if (rank == 1 && shape) {
        in = out = (double)shape[0];
    } else if (rank >= 2 && shape) {
        double receptive = 1;
        for (int i = 0; i < rank - 2; i++)
            receptive *= (double)shape[i];
        in = (double)shape[rank - 2] * receptive;
        out = (double)shape[rank - 1] * receptive;
    }
    if (fan_in)
        *fan_in = in;
    if (fan_out)
        *fan_out = out;
}

/* Keras' VarianceScaling.__call__: variance scale / max(1, n). */
static plan variance_scaling(double scale, kcl_fan_mode mode, kcl_init_distribution dist,
                             const kcl_tensor *t)
{
    double fan_in, fan_out;
    kcl_compute_fans(t->rank, t->shape, &fan_in, &fan_out);
    double n = mode == KCL_FAN_IN ? fan_in : mode == KCL_FAN_OUT ? fan_out
                                                                 : (fan_in + fan_out) / 2.0;
    double variance = scale / fmax(1.0, n);
    if (dist == KCL_DIST_TRUNCATED_NORMAL)
        return (plan){FILL_TRUNCATED, 0.0f, (float)(sqrt(variance) / TRUNCATED_STDDEV)};
    if (dist == KCL_DIST_UNTRUNCATED_NORMAL)
        return (plan){FILL_NORMAL, 0.0f, (float)sqrt(variance)};
    float limit = (float)sqrt(3.0 * variance);
    return (plan){FILL_UNIFORM, -limit, limit};
}

/* The presets: Keras' GlorotNormal and friends are VarianceScaling subclasses. */
static const struct {
    kcl_init_kind kind;
    double scale;
    kcl_fan_mode mode;
    kcl_init_distribution dist;
} presets[] = {
    {KCL_INIT_GLOROT_NORMAL, 1, KCL_FAN_AVG, KCL_DIST_TRUNCATED_NORMAL},
    {KCL_INIT_GLOROT_UNIFORM, 1, KCL_FAN_AVG, KCL_DIST_UNIFORM},
    {KCL_INIT_HE_NORMAL, 2, KCL_FAN_IN, KCL_DIST_TRUNCATED_NORMAL},
    {KCL_INIT_HE_UNIFORM, 2, KCL_FAN_IN, KCL_DIST_UNIFORM},
    {KCL_INIT_LECUN_NORMAL, 1, KCL_FAN_IN, KCL_DIST_TRUNCATED_NORMAL},
    {KCL_INIT_LECUN_UNIFORM, 1, KCL_FAN_IN, KCL_DIST_UNIFORM},
};

static plan preset(kcl_init_kind kind, const kcl_tensor *t)
{
    size_t i = 1;                 /* KCL_INIT_DEFAULT: glorot_uniform */
    for (size_t k = 0; k < sizeof presets / sizeof *presets; k++)
        if (presets[k].kind == kind)
            i = k;
    return variance_scaling(presets[i].scale, presets[i].mode, presets[i].dist, t);
}

static float or_default(float value, float fallback)
{
    return value != 0.0f ? value : fallback;
}

static plan make_plan(const kcl_initializer *init, const kcl_tensor *t)
{
    switch (init->kind) {
    case KCL_INIT_ZEROS: return (plan){FILL_CONSTANT, 0.0f, 0.0f};
    case KCL_INIT_ONES: return (plan){FILL_CONSTANT, 1.0f, 0.0f};
    case KCL_INIT_CONSTANT: return (plan){FILL_CONSTANT, init->value, 0.0f};
    case KCL_INIT_RANDOM_NORMAL:
        return (plan){FILL_NORMAL, init->mean, or_default(init->stddev, 0.05f)};
    case KCL_INIT_TRUNCATED_NORMAL:
        return (plan){FILL_TRUNCATED, init->mean, or_default(init->stddev, 0.05f)};
    case KCL_INIT_RANDOM_UNIFORM:
        if (init->minval == 0.0f && init->maxval == 0.0f)
            return (plan){FILL_UNIFORM, -0.05f, 0.05f};
        return (plan){FILL_UNIFORM, init->minval, init->maxval};
    case KCL_INIT_VARIANCE_SCALING:
        return variance_scaling(or_default(init->scale, 1.0f), init->mode, init->distribution, t);
    case KCL_INIT_IDENTITY: return (plan){FILL_IDENTITY, or_default(init->gain, 1.0f), 0.0f};
    case KCL_INIT_ORTHOGONAL: return (plan){FILL_ORTHOGONAL, or_default(init->gain, 1.0f), 0.0f};
    case KCL_INIT_CUSTOM: return (plan){FILL_CUSTOM, 0.0f, 0.0f};
    default: return preset(init->kind, t);                   /* KCL_INIT_DEFAULT too */
    }
}

/* Keras refuses these shapes when the initializer is called. */
static kcl_status check_shape(kcl_context *ctx, const plan *p, const kcl_tensor *t)
{
    char buf[256];
    if (p->fill == FILL_IDENTITY && t->rank != 2)
        return kcl__fail(ctx, KCL_ERR_SHAPE,
                         "identity initializer: only for 2-D matrices, got shape %s of rank %d",
                         kcl__shape_str(t->rank, t->shape, buf, sizeof buf), t->rank);
    if (p->fill == FILL_ORTHOGONAL && t->rank < 2)
        return kcl__fail(ctx, KCL_ERR_SHAPE,
                         "orthogonal initializer: the tensor must be at least 2-D, got shape "
                         "%s of rank %d", kcl__shape_str(t->rank, t->shape, buf, sizeof buf),
                         t->rank);
    return KCL_OK;
}

/* --------------------------------------------------------------- seeds -- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* A fresh seed for an unseeded call: the system's entropy, mixed with the time
 * and a call counter so that calls differ even without /dev/urandom. */
static uint64_t fresh_seed(void)
{
    static atomic_uint_fast64_t calls;
    uint64_t seed = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&seed, sizeof seed, 1, f) != 1)
            seed = 0;
        fclose(f);
    }
    struct timespec now = {0, 0};
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t stamp = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    return seed ^ splitmix64(stamp ^ splitmix64(atomic_fetch_add(&calls, 1)));
}

/* ---------------------------------------------------------- device fills -- */

/* Runs random.cl's `kernel` over t: arguments (x, offset, n, seed low, seed
 * high, stream) and then the float parameters. One work-item per 4 elements. */
static kcl_status random_fill(kcl_context *ctx, const char *kernel, kcl_tensor *t,
                              uint64_t seed, const float *params, size_t nparams)
{
    cl_ulong offset = t->offset, n = (cl_ulong)t->size;
    cl_uint seed_lo = (cl_uint)seed, seed_hi = (cl_uint)(seed >> 32), stream = 0;
    kcl_arg args[9] = {KCL_MEM(t), KCL_ARG(offset), KCL_ARG(n), KCL_ARG(seed_lo),
                       KCL_ARG(seed_hi), KCL_ARG(stream)};
    for (size_t i = 0; i < nparams; i++)
        args[6 + i] = KCL_ARG(params[i]);
    return kcl__enqueue(ctx, "random", kernel, (size_t)((n + 3) / 4), 6 + nparams, args);
}

static kcl_status fill_uniform(kcl_context *ctx, kcl_tensor *t, uint64_t seed, float lo,
                               float hi)
{
    /* The bound stays exclusive (Keras' maxval) even where low + span * u rounds up. */
    float params[3] = {lo, hi - lo, hi > lo ? nextafterf(hi, lo) : hi};
    return random_fill(ctx, "random_uniform", t, seed, params, 3);
}

static kcl_status fill_normal(kcl_context *ctx, kcl_tensor *t, uint64_t seed, float mean,
                              float stddev, bool truncated)
{
    float params[2] = {mean, stddev};
    return random_fill(ctx, truncated ? "truncated_normal" : "random_normal", t, seed, params, 2);
}

/* ------------------------------------------------------------ host fills -- */

/* gain * eye(rows, cols), built on the host: a diagonal has nothing random. */
static kcl_status fill_identity(kcl_context *ctx, kcl_tensor *t, float gain)
{
    if (t->size == 0)
        return KCL_OK;
    int64_t rows = t->shape[0], cols = t->shape[1];
    float *values = calloc((size_t)t->size, sizeof *values);
    if (!values)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "identity initializer: out of host memory");
    for (int64_t i = 0; i < rows && i < cols; i++)
        values[i * cols + i] = gain;
    kcl_status st = kcl_tensor_write(t, values, (size_t)t->size);
    free(values);
    return st;
}

static kcl_status fill_custom(kcl_context *ctx, kcl_tensor *t, const kcl_initializer *init)
{
    float *values = calloc(t->size ? (size_t)t->size : 1, sizeof *values);
    if (!values)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "custom initializer: out of host memory");
    kcl_status st = init->fn(values, t->rank, t->shape, init->user);
    if (st)
        st = kcl__fail(ctx, st, "custom initializer failed: %s (%s)", kcl_status_name(st),
                       kcl_status_string(st));
    else
        st = kcl_tensor_write(t, values, (size_t)t->size);
    free(values);
    return st;
}

/* ----------------------------------------------------------- orthogonal -- */

/* Householder reflector for column j of the column-major m x n matrix a: turns
 * a[j.., j] into (alpha, 0, ...). Keeps v (with v[j] = a[j][j] - alpha) in
 * a[j.., j] and returns alpha, the diagonal entry of R; *beta = 2 / (v . v). */
static double reflector(double *a, int64_t m, int64_t j, double *beta)
{
    double *col = a + j * m, norm2 = 0;
    for (int64_t i = j; i < m; i++)
        norm2 += col[i] * col[i];
    /* alpha of the sign opposite to a[j][j]: v[j] = a[j][j] - alpha never cancels. */
    double x0 = col[j], norm = sqrt(norm2), alpha = x0 >= 0 ? -norm : norm;
    col[j] = x0 - alpha;
    double v2 = 2 * (norm2 + fabs(x0) * norm);       /* v . v */
    *beta = v2 > 0 ? 2 / v2 : 0;                      /* a zero column: no reflection */
    return alpha;
}

/* x -= beta (v . x) v over rows j.. of column-major columns. */
static void reflect(const double *v, double beta, int64_t m, int64_t j, double *x)
{
    double dot = 0;
    for (int64_t i = j; i < m; i++)
        dot += v[i] * x[i];
    dot *= beta;
    for (int64_t i = j; i < m; i++)
        x[i] -= dot * v[i];
}

/* The thin Q of a = QR (column-major m x n, m >= n) into q (same layout), its
 * columns multiplied by the signs of R's diagonal (Keras: q *= sign(diag(r)),
 * which makes the factorization unique; a zero diagonal counts as +). */
static void thin_q(double *a, int64_t m, int64_t n, double *beta, double *q)
{
    double *sign = beta + n;
    for (int64_t j = 0; j < n; j++) {
        sign[j] = reflector(a, m, j, &beta[j]) < 0 ? -1.0 : 1.0;
        for (int64_t c = j + 1; c < n; c++)
            reflect(a + j * m, beta[j], m, j, a + c * m);
    }
    memset(q, 0, (size_t)(m * n) * sizeof *q);
    for (int64_t c = 0; c < n; c++)
        q[c * m + c] = 1.0;
    for (int64_t j = n - 1; j >= 0; j--)              /* Q = H0 H1 ... [I; 0] */
        for (int64_t c = j; c < n; c++)
            reflect(a + j * m, beta[j], m, j, q + c * m);
    for (int64_t c = 0; c < n; c++)
        for (int64_t i = 0; i < m; i++)
            q[c * m + i] *= sign[c];
}

/* Keras' Orthogonal: the matrix is (rows = prod(shape[:-1]), cols = shape[-1]);
 * a normal (max, min) matrix is drawn, Q of its QR kept, transposed when rows <
 * cols. values holds the drawn matrix (row-major) on entry and the result on exit. */
static kcl_status orthogonalize(kcl_context *ctx, const kcl_tensor *t, float gain, float *values)
{
    int64_t cols = t->shape[t->rank - 1], rows = t->size / cols;
    int64_t m = rows > cols ? rows : cols, n = rows > cols ? cols : rows;
    size_t count = (size_t)(m * n);
    double *a = malloc(count * sizeof *a), *q = malloc(count * sizeof *q),
           *beta = malloc((size_t)(2 * n) * sizeof *beta);
    kcl_status st = KCL_OK;
    if (!a || !q || !beta) {
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "orthogonal initializer: out of host memory");
    } else {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                a[j * m + i] = values[i * n + j];
        thin_q(a, m, n, beta, q);
        for (int64_t i = 0; i < rows; i++)    /* q is m x n; the result rows x cols */
            for (int64_t j = 0; j < cols; j++)
                values[i * cols + j] =
                    (float)(gain * (rows >= cols ? q[j * m + i] : q[i * m + j]));
    }
    free(a);
    free(q);
    free(beta);
    return st;
}

static kcl_status fill_orthogonal(kcl_context *ctx, kcl_tensor *t, uint64_t seed, float gain)
{
    if (t->size == 0)
        return KCL_OK;
    float *values = malloc((size_t)t->size * sizeof *values);
    if (!values)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "orthogonal initializer: out of host memory");
    /* The normal matrix is drawn into t itself: it has the same element count. */
    kcl_status st = fill_normal(ctx, t, seed, 0.0f, 1.0f, false);
    if (!st)
        st = kcl_tensor_read(t, values, (size_t)t->size);
    if (!st)
        st = orthogonalize(ctx, t, gain, values);
    if (!st)
        st = kcl_tensor_write(t, values, (size_t)t->size);
    free(values);
    return st;
}

/* ------------------------------------------------------------ initialize -- */

kcl_status kcl_initialize(kcl_context *ctx, const kcl_initializer *init, kcl_tensor *t)
{
    if (!ctx || !t)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_initialize: NULL %s",
                         ctx ? "tensor" : "context");
    if (t->ctx != ctx)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "kcl_initialize: the tensor belongs to another context");
    const kcl_initializer fallback = {.kind = KCL_INIT_DEFAULT};
    if (!init)
        init = &fallback;
    kcl_status st = kcl_initializer_check(ctx, init);
    if (st)
        return st;
    plan p = make_plan(init, t);
    if ((st = check_shape(ctx, &p, t)))
        return st;
    bool random = p.fill == FILL_UNIFORM || p.fill == FILL_NORMAL || p.fill == FILL_TRUNCATED ||
                  p.fill == FILL_ORTHOGONAL;
    uint64_t seed = init->seed || !random ? init->seed : fresh_seed();
    switch (p.fill) {
    case FILL_CONSTANT: return kcl__fill(t, p.a);
    case FILL_UNIFORM: return fill_uniform(ctx, t, seed, p.a, p.b);
    case FILL_NORMAL: return fill_normal(ctx, t, seed, p.a, p.b, false);
    case FILL_TRUNCATED: return fill_normal(ctx, t, seed, p.a, p.b, true);
    case FILL_IDENTITY: return fill_identity(ctx, t, p.a);
    case FILL_ORTHOGONAL: return fill_orthogonal(ctx, t, seed, p.a);
    default: return fill_custom(ctx, t, init);
    }
}

/* ------------------------------------------------------------ generator -- */

kcl_status kcl_philox4x32_10(kcl_context *ctx, const uint32_t counter[4], const uint32_t key[2],
                             uint32_t out[4])
{
    if (!ctx || !counter || !key || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_philox4x32_10: NULL argument");
    int64_t four = 4;
    kcl_tensor *buf;                 /* 16 bytes of device memory; the bits are uints */
    kcl_status st = kcl_tensor_create(ctx, 1, &four, &buf);
    if (st)
        return st;
    cl_uint w[6] = {counter[0], counter[1], counter[2], counter[3], key[0], key[1]};
    kcl_arg args[7] = {KCL_MEM(buf), KCL_ARG(w[0]), KCL_ARG(w[1]), KCL_ARG(w[2]),
                       KCL_ARG(w[3]), KCL_ARG(w[4]), KCL_ARG(w[5])};
    st = kcl__enqueue(ctx, "random", "philox_raw", 1, 7, args);
    float bits[4];
    if (!st && !(st = kcl_tensor_read(buf, bits, 4)))
        memcpy(out, bits, sizeof bits);
    kcl_tensor_free(buf);
    return st;
}

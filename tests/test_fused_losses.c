/* test_fused_losses: logsumexp and the softmax / sigmoid cross-entropies,
 * forward against a double reference (logits of ±1e4 included: finite and
 * correct), gradients against finite differences (gradcheck.h) and, at
 * extreme logits, against the closed forms; invalid sparse labels; errors. */
#include "gradcheck.h"

/* Shapes of the current case; one shape, logits [..., classes] for the losses. */
static int cur_rank;
static int64_t cur_shape[4];
static int cur_axis, cur_keepdims;

static size_t count_of(int rank, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)shape[i];
    return n;
}

/* Rows and classes of the current logits. */
static void rows_classes(size_t *rows, size_t *classes)
{
    *classes = (size_t)cur_shape[cur_rank - 1];
    *rows = count_of(cur_rank - 1, cur_shape);
}

static double lse_of(const double *x, size_t len, size_t step)
{
    double m = -INFINITY;
    for (size_t j = 0; j < len; j++)
        m = isnan(x[j * step]) || isnan(m) ? NAN : fmax(m, x[j * step]);
    if (isinf(m) || isnan(m))
        return m;
    double s = 0;
    for (size_t j = 0; j < len; j++)
        s += exp(x[j * step] - m);
    return m + log(s);
}

/* ------------------------------------------------------------ logsumexp -- */

static void host_logsumexp(const double *const *in, double *out, void *user)
{
    (void)user;
    size_t outer = count_of(cur_axis, cur_shape), len = (size_t)cur_shape[cur_axis];
    size_t inner = count_of(cur_rank - cur_axis - 1, cur_shape + cur_axis + 1);
    for (size_t o = 0; o < outer; o++)
        for (size_t r = 0; r < inner; r++)
            out[o * inner + r] = lse_of(in[0] + o * len * inner + r, len, inner);
}

static kcl_status device_logsumexp(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return kcl_logsumexp(in[0], cur_axis, cur_keepdims, out);
}

static void set_shape(int rank, const int64_t *shape)
{
    cur_rank = rank;
    memcpy(cur_shape, shape, (size_t)rank * sizeof *shape);
}

static void test_logsumexp(void **state)
{
    kcl_context *ctx = *state;
    static const struct { int rank; int64_t shape[4]; int axis, keepdims; } cases[] = {
        {2, {3, 5}, -1, 0}, {3, {2, 3, 4}, 1, 1}, {3, {2, 3, 4}, 0, 0}, {1, {6}, 0, 0},
        {2, {3, 0}, 1, 0},   /* over nothing: -inf */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        set_shape(cases[k].rank, cases[k].shape);
        cur_axis = cases[k].axis < 0 ? cases[k].axis + cur_rank : cases[k].axis;
        cur_keepdims = cases[k].keepdims;
        gc_case c = {.name = "logsumexp", .n_in = 1, .device = device_logsumexp,
                     .host = host_logsumexp};
        c.in[0].rank = cur_rank;
        memcpy(c.in[0].shape, cur_shape, sizeof cur_shape);
        float *x = test_random(gc_count(&c.in[0]), 40 + k);
        for (size_t i = 0; i < gc_count(&c.in[0]); i++)
            x[i] *= 3.0f;
        c.in[0].values = x;
        gradcheck(ctx, &c);
        free(x);
    }
    /* keepdims keeps the axis as 1. */
    kcl_tensor *x, *y;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 3, (int64_t[]){2, 3, 4}, &x));
    CHECK_OK(ctx, kcl_logsumexp(x, -2, 1, &y));
    assert_int_equal(kcl_tensor_rank(y), 3);
    assert_int_equal(kcl_tensor_shape(y)[1], 1);
    kcl_tensor_free(x);
    kcl_tensor_free(y);
}

/* Large, infinite and NaN entries, forward only. */
static void test_logsumexp_extremes(void **state)
{
    kcl_context *ctx = *state;
    const float inf = INFINITY;
    float x[6][4] = {
        {1e4f, -1e4f, 0.0f, 5e3f},
        {-1e4f, -1e4f, -1e4f, -1e4f},
        {1e4f, 1e4f, -1e4f, 1e4f},
        {-inf, -inf, -inf, -inf},
        {1.0f, NAN, 2.0f, 3.0f},
        {-inf, 2.0f, inf, 0.0f},
    };
    set_shape(2, (int64_t[]){6, 4});
    cur_axis = 1;
    cur_keepdims = 0;
    gc_case c = {.name = "logsumexp extremes", .n_in = 1, .device = device_logsumexp,
                 .host = host_logsumexp, .forward_only = 1, .fwd_atol = 1e-3,
                 .fwd_rtol = 1e-6};
    c.in[0].rank = 2;
    memcpy(c.in[0].shape, cur_shape, sizeof cur_shape);
    c.in[0].values = &x[0][0];
    gradcheck(ctx, &c);
}

/* Second order works (the gradient is built of public ops): with g =
 * softmax(x) = d lse / dx, d/dx sum(v * g) = s * (v - sum(v * s)). */
static void test_logsumexp_second_order(void **state)
{
    kcl_context *ctx = *state;
    enum { N = 5 };
    float *x = test_random(N, 50), *v = test_random(N, 51), got[N];
    kcl_tensor *tx, *tv, *l, *g, *vg, *m, *h;
    int64_t shape[1] = {N};
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, x, &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, v, &tv));
    kcl_tape *outer, *inner;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &outer));
    CHECK_OK(ctx, kcl_tape_watch(outer, tx));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &inner));
    CHECK_OK(ctx, kcl_tape_watch(inner, tx));
    CHECK_OK(ctx, kcl_logsumexp(tx, 0, 0, &l));
    CHECK_OK(ctx, kcl_tape_gradient(inner, l, 1, &tx, &g));
    CHECK_OK(ctx, kcl_multiply(g, tv, &vg));
    CHECK_OK(ctx, kcl_reduce_sum(vg, 0, NULL, 0, &m));
    CHECK_OK(ctx, kcl_tape_gradient(outer, m, 1, &tx, &h));
    CHECK_OK(ctx, kcl_tensor_read(h, got, N));
    double s[N], lse = 0, vs = 0;
    for (int i = 0; i < N; i++)
        lse += exp(x[i]);
    lse = log(lse);
    for (int i = 0; i < N; i++) {
        s[i] = exp(x[i] - lse);
        vs += v[i] * s[i];
    }
    for (int i = 0; i < N; i++)
        assert_true(fabs(got[i] - s[i] * (v[i] - vs)) < 1e-5);
    kcl_tape_free(inner);
    kcl_tape_free(outer);
    kcl_tensor *all[] = {tx, tv, l, g, vg, m, h};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        kcl_tensor_free(all[i]);
    free(x);
    free(v);
}

/* ------------------------------------------------- softmax cross-entropy -- */

static void host_softmax_xent(const double *const *in, double *out, void *user)
{
    (void)user;
    size_t rows, classes;
    rows_classes(&rows, &classes);
    for (size_t r = 0; r < rows; r++) {
        const double *x = in[0] + r * classes, *t = in[1] + r * classes;
        double lse = lse_of(x, classes, 1), sum = 0;
        for (size_t j = 0; j < classes; j++)
            sum += t[j] * (lse - x[j]);
        out[r] = sum;
    }
}

static kcl_status device_softmax_xent(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return kcl_softmax_cross_entropy(in[0], in[1], out);
}

static void host_sparse_xent(const double *const *in, double *out, void *user)
{
    (void)user;
    size_t rows, classes;
    rows_classes(&rows, &classes);
    for (size_t r = 0; r < rows; r++) {
        const double *x = in[0] + r * classes, label = in[1][r];
        out[r] = label >= 0 && label < (double)classes
                     ? lse_of(x, classes, 1) - x[(size_t)label] : NAN;
    }
}

static kcl_status device_sparse_xent(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return kcl_sparse_softmax_cross_entropy(in[0], in[1], out);
}

/* A soft target per row (positive, not summing to 1 so sum(t) matters). */
static float *soft_target(size_t n, uint64_t seed)
{
    float *t = test_random(n, seed);
    for (size_t i = 0; i < n; i++)
        t[i] = 0.6f + 0.5f * t[i];
    return t;
}

static void test_softmax_cross_entropy(void **state)
{
    kcl_context *ctx = *state;
    static const struct { int rank; int64_t shape[4]; } cases[] = {
        {2, {4, 6}}, {3, {2, 3, 5}}, {1, {7}}, {2, {3, 1}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        set_shape(cases[k].rank, cases[k].shape);
        gc_case c = {.name = "softmax_cross_entropy", .n_in = 2,
                     .device = device_softmax_xent, .host = host_softmax_xent};
        for (int i = 0; i < 2; i++) {
            c.in[i].rank = cur_rank;
            memcpy(c.in[i].shape, cur_shape, sizeof cur_shape);
        }
        size_t n = gc_count(&c.in[0]);
        float *x = test_random(n, 60 + k), *t = soft_target(n, 70 + k);
        for (size_t i = 0; i < n; i++)
            x[i] *= 4.0f;
        c.in[0].values = x;
        c.in[1].values = t;
        gradcheck(ctx, &c);
        free(x);
        free(t);
    }
}

static void test_sparse_softmax_cross_entropy(void **state)
{
    kcl_context *ctx = *state;
    static const struct { int rank; int64_t shape[4]; } cases[] = {
        {2, {5, 4}}, {3, {2, 3, 6}}, {1, {3}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        set_shape(cases[k].rank, cases[k].shape);
        size_t rows, classes;
        rows_classes(&rows, &classes);
        gc_case c = {.name = "sparse_softmax_cross_entropy", .n_in = 2,
                     .device = device_sparse_xent, .host = host_sparse_xent};
        c.in[0].rank = cur_rank;
        memcpy(c.in[0].shape, cur_shape, sizeof cur_shape);
        c.in[1].rank = cur_rank - 1;
        memcpy(c.in[1].shape, cur_shape, sizeof cur_shape);
        c.in[1].no_grad = 1;
        float *x = test_random(rows * classes, 80 + k), labels[16];
        for (size_t i = 0; i < rows * classes; i++)
            x[i] *= 4.0f;
        for (size_t r = 0; r < rows; r++)
            labels[r] = (float)((r * 7 + k) % classes);
        c.in[0].values = x;
        c.in[1].values = labels;
        gradcheck(ctx, &c);
        free(x);
    }
}

/* Logits of ±1e4: finite, correct losses; gradients against the closed
 * forms (softmax * sum(t) - t, softmax - onehot) in double. */
static void test_softmax_extremes(void **state)
{
    kcl_context *ctx = *state;
    enum { R = 4, C = 4 };
    float x[R][C] = {
        {1e4f, -1e4f, 0.0f, 5e3f},
        {-1e4f, -1e4f, -1e4f, -1e4f},
        {1e4f, 1e4f, -1e4f, 1e4f},
        {-1e4f, 3.0f, 1e4f, -2.0f},
    };
    float t[R][C] = {{0, 1, 0, 0}, {0.25f, 0.25f, 0.25f, 0.25f}, {0.5f, 0, 0.5f, 0}, {1, 0, 0, 1}};
    float labels[R] = {1, 3, 2, 0};
    set_shape(2, (int64_t[]){R, C});
    gc_case c = {.name = "softmax_cross_entropy extremes", .n_in = 2,
                 .device = device_softmax_xent, .host = host_softmax_xent, .forward_only = 1,
                 .fwd_atol = 1e-3, .fwd_rtol = 1e-6};
    for (int i = 0; i < 2; i++) {
        c.in[i].rank = 2;
        memcpy(c.in[i].shape, cur_shape, sizeof cur_shape);
    }
    c.in[0].values = &x[0][0];
    c.in[1].values = &t[0][0];
    gradcheck(ctx, &c);
    c.name = "sparse_softmax_cross_entropy extremes";
    c.device = device_sparse_xent;
    c.host = host_sparse_xent;
    c.in[1].rank = 1;
    c.in[1].values = labels;
    gradcheck(ctx, &c);

    kcl_tensor *tx, *tt, *tl, *dense, *sparse, *gd, *gs;
    int64_t shape[2] = {R, C};
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, &x[0][0], &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, &t[0][0], &tt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, labels, &tl));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, &(kcl_tape_options){.persistent = 1}, &tape));
    CHECK_OK(ctx, kcl_tape_watch(tape, tx));
    CHECK_OK(ctx, kcl_softmax_cross_entropy(tx, tt, &dense));
    CHECK_OK(ctx, kcl_sparse_softmax_cross_entropy(tx, tl, &sparse));
    CHECK_OK(ctx, kcl_tape_gradient(tape, dense, 1, &tx, &gd));
    CHECK_OK(ctx, kcl_tape_gradient(tape, sparse, 1, &tx, &gs));
    float got_d[R * C], got_s[R * C];
    CHECK_OK(ctx, kcl_tensor_read(gd, got_d, R * C));
    CHECK_OK(ctx, kcl_tensor_read(gs, got_s, R * C));
    for (int r = 0; r < R; r++) {
        double xd[C], total = 0;
        for (int j = 0; j < C; j++) {
            xd[j] = x[r][j];
            total += t[r][j];
        }
        double lse = lse_of(xd, C, 1);
        for (int j = 0; j < C; j++) {
            double p = exp(xd[j] - lse);
            double want_d = p * total - t[r][j], want_s = p - (j == (int)labels[r]);
            assert_true(isfinite(got_d[r * C + j]) && isfinite(got_s[r * C + j]));
            assert_true(fabs(got_d[r * C + j] - want_d) < 1e-6);
            assert_true(fabs(got_s[r * C + j] - want_s) < 1e-6);
        }
    }
    kcl_tape_free(tape);
    kcl_tensor *all[] = {tx, tt, tl, dense, sparse, gd, gs};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        kcl_tensor_free(all[i]);
}

/* A label outside [0, classes) or NaN gives NaN for its row (loss and
 * gradient); the other rows are unaffected. */
static void test_sparse_invalid_labels(void **state)
{
    kcl_context *ctx = *state;
    enum { R = 5, C = 3 };
    float *x = test_random(R * C, 90);
    float labels[R] = {-1.0f, 3.0f, NAN, 1.0f, 2.0f}, loss[R], grad[R * C];
    kcl_tensor *tx, *tl, *y, *g;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, (int64_t[]){R, C}, x, &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, (int64_t[]){R}, labels, &tl));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_tape_watch(tape, tx));
    CHECK_OK(ctx, kcl_sparse_softmax_cross_entropy(tx, tl, &y));
    CHECK_OK(ctx, kcl_tape_gradient(tape, y, 1, &tx, &g));
    CHECK_OK(ctx, kcl_tensor_read(y, loss, R));
    CHECK_OK(ctx, kcl_tensor_read(g, grad, R * C));
    for (int r = 0; r < R; r++) {
        int valid = r >= 3;
        double xd[C];
        for (int j = 0; j < C; j++)
            xd[j] = x[r * C + j];
        if (valid)
            assert_true(fabs(loss[r] - (lse_of(xd, C, 1) - xd[(int)labels[r]])) < 1e-5);
        else
            assert_true(isnan(loss[r]));
        for (int j = 0; j < C; j++)
            assert_true(valid ? isfinite(grad[r * C + j]) : isnan(grad[r * C + j]));
    }
    kcl_tape_free(tape);
    kcl_tensor_free(tx);
    kcl_tensor_free(tl);
    kcl_tensor_free(y);
    kcl_tensor_free(g);
    free(x);
}

/* ------------------------------------------------- sigmoid cross-entropy -- */

static void host_sigmoid_xent(const double *const *in, double *out, void *user)
{
    (void)user;
    size_t n = count_of(cur_rank, cur_shape);
    for (size_t i = 0; i < n; i++) {
        double x = in[0][i], z = in[1][i];
        out[i] = fmax(x, 0) - x * z + log1p(exp(-fabs(x)));
    }
}

static kcl_status device_sigmoid_xent(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return kcl_sigmoid_cross_entropy(in[0], in[1], out);
}

static void test_sigmoid_cross_entropy(void **state)
{
    kcl_context *ctx = *state;
    static const struct { int rank; int64_t shape[4]; } cases[] = {
        {2, {3, 4}}, {3, {2, 2, 3}}, {0, {0}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        set_shape(cases[k].rank, cases[k].shape);
        gc_case c = {.name = "sigmoid_cross_entropy", .n_in = 2,
                     .device = device_sigmoid_xent, .host = host_sigmoid_xent};
        for (int i = 0; i < 2; i++) {
            c.in[i].rank = cur_rank;
            memcpy(c.in[i].shape, cur_shape, sizeof cur_shape);
        }
        size_t n = gc_count(&c.in[0]);
        float *x = test_random(n, 100 + k), *z = test_random(n, 110 + k);
        for (size_t i = 0; i < n; i++) {
            x[i] = 5.0f * x[i] + (x[i] >= 0 ? 0.05f : -0.05f);   /* off the kink at 0 */
            z[i] = 0.5f + 0.5f * z[i];
        }
        c.in[0].values = x;
        c.in[1].values = z;
        gradcheck(ctx, &c);
        free(x);
        free(z);
    }
    /* ±1e4: finite and correct, gradients sigmoid(x) - z exactly 1 - z and -z. */
    float x[4] = {1e4f, -1e4f, 1e4f, -1e4f}, z[4] = {0.3f, 0.3f, 1.0f, 0.0f}, g[4];
    set_shape(1, (int64_t[]){4});
    gc_case c = {.name = "sigmoid_cross_entropy extremes", .n_in = 2,
                 .device = device_sigmoid_xent, .host = host_sigmoid_xent, .forward_only = 1,
                 .fwd_atol = 1e-3, .fwd_rtol = 1e-6};
    for (int i = 0; i < 2; i++) {
        c.in[i].rank = 1;
        c.in[i].shape[0] = 4;
    }
    c.in[0].values = x;
    c.in[1].values = z;
    gradcheck(ctx, &c);
    kcl_tensor *tx, *tz, *y, *gx;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, cur_shape, x, &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, cur_shape, z, &tz));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_tape_watch(tape, tx));
    CHECK_OK(ctx, kcl_sigmoid_cross_entropy(tx, tz, &y));
    CHECK_OK(ctx, kcl_tape_gradient(tape, y, 1, &tx, &gx));
    CHECK_OK(ctx, kcl_tensor_read(gx, g, 4));
    for (int i = 0; i < 4; i++)
        assert_true(fabs(g[i] - ((x[i] > 0 ? 1.0 : 0.0) - z[i])) < 1e-6);
    kcl_tape_free(tape);
    kcl_tensor_free(tx);
    kcl_tensor_free(tz);
    kcl_tensor_free(y);
    kcl_tensor_free(gx);
}

/* ------------------------------------------------------------- errors -- */

static void expect(kcl_context *ctx, kcl_status got, kcl_status want, const char *w1,
                   const char *w2)
{
    assert_int_equal(got, want);
    assert_non_null(strstr(kcl_errmsg(ctx), w1));
    if (w2)
        assert_non_null(strstr(kcl_errmsg(ctx), w2));
}

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    kcl_tensor *a, *b, *s, *l, *y = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, (int64_t[]){3, 4}, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, (int64_t[]){3, 5}, &b));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 0, NULL, &s));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, (int64_t[]){4}, &l));
    expect(ctx, kcl_softmax_cross_entropy(a, b, &y), KCL_ERR_SHAPE, "softmax_cross_entropy",
           "[3, 5]");
    expect(ctx, kcl_softmax_cross_entropy(s, s, &y), KCL_ERR_SHAPE, "softmax_cross_entropy",
           "rank >= 1");
    expect(ctx, kcl_sparse_softmax_cross_entropy(a, l, &y), KCL_ERR_SHAPE,
           "sparse_softmax_cross_entropy", "[4]");
    expect(ctx, kcl_sparse_softmax_cross_entropy(a, a, &y), KCL_ERR_SHAPE,
           "sparse_softmax_cross_entropy", "[3, 4]");
    expect(ctx, kcl_sigmoid_cross_entropy(a, b, &y), KCL_ERR_SHAPE, "sigmoid_cross_entropy",
           "[3, 4]");
    expect(ctx, kcl_logsumexp(a, 2, 0, &y), KCL_ERR_SHAPE, "logsumexp", "axis 2");
    expect(ctx, kcl_logsumexp(s, 0, 0, &y), KCL_ERR_SHAPE, "logsumexp", NULL);
    assert_int_equal(kcl_sigmoid_cross_entropy(a, NULL, &y), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_softmax_cross_entropy(NULL, a, &y), KCL_ERR_ARGUMENT);
    assert_null(y);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
    kcl_tensor_free(s);
    kcl_tensor_free(l);
}

/* Differentiating a fused gradient again is refused, not silently wrong. */
static void test_no_second_order(void **state)
{
    kcl_context *ctx = *state;
    float x[6] = {0.1f, -0.4f, 0.3f, 1.0f, 0.5f, -0.2f}, t[6] = {0, 1, 0, 1, 0, 0};
    kcl_tensor *tx, *tt, *y, *g, *gg, *m, *h = NULL;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, (int64_t[]){2, 3}, x, &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, (int64_t[]){2, 3}, t, &tt));
    kcl_tape *outer, *inner;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &outer));
    CHECK_OK(ctx, kcl_tape_watch(outer, tx));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &inner));
    CHECK_OK(ctx, kcl_tape_watch(inner, tx));
    CHECK_OK(ctx, kcl_softmax_cross_entropy(tx, tt, &y));
    CHECK_OK(ctx, kcl_tape_gradient(inner, y, 1, &tx, &g));
    CHECK_OK(ctx, kcl_multiply(g, g, &gg));
    CHECK_OK(ctx, kcl_reduce_sum(gg, 0, NULL, 0, &m));
    expect(ctx, kcl_tape_gradient(outer, m, 1, &tx, &h), KCL_ERR_STATE,
           "softmax_cross_entropy_grad", "second-order");
    kcl_tape_free(inner);
    kcl_tape_free(outer);
    kcl_tensor *all[] = {tx, tt, y, g, gg, m};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        kcl_tensor_free(all[i]);
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
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logsumexp),
        cmocka_unit_test(test_logsumexp_extremes),
        cmocka_unit_test(test_logsumexp_second_order),
        cmocka_unit_test(test_softmax_cross_entropy),
        cmocka_unit_test(test_sparse_softmax_cross_entropy),
        cmocka_unit_test(test_softmax_extremes),
        cmocka_unit_test(test_sparse_invalid_labels),
        cmocka_unit_test(test_sigmoid_cross_entropy),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_no_second_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_losses: every Keras loss, with its options, against a plain-C double
 * reference of Keras' formula (keras/src/losses/losses.py and the TensorFlow
 * backend's cross-entropies), forward and gradient (gradcheck.h); the
 * sum_over_batch_size reduction with sample weights; names and errors; and,
 * where tests/data/losses_golden.h exists, values produced by Keras itself. */
#include "gradcheck.h"

#define EPS 1e-7
/* Keras clips in float32: the bounds as that precision holds them. */
#define LO ((double)(float)EPS)
#define HI ((double)(float)(1.0 - EPS))

/* ------------------------------------------------------------- references -- */

typedef struct ref_ctx {
    const kcl_loss_config *cfg;
    int rows, classes;
    int sparse;
    int hinge_converted;         /* hinge family: every label is 0 or 1 */
} ref_ctx;

typedef double (*row_ref)(const double *t, const double *p, const ref_ctx *r);

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

static double r_mse(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++)
        s += (t[j] - p[j]) * (t[j] - p[j]);
    return s / r->classes;
}

static double r_mae(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++)
        s += fabs(t[j] - p[j]);
    return s / r->classes;
}

static double r_msle(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++) {
        double d = log(fmax(p[j], EPS) + 1) - log(fmax(t[j], EPS) + 1);
        s += d * d;
    }
    return s / r->classes;
}

static double r_huber(const double *t, const double *p, const ref_ctx *r)
{
    double d = r->cfg->delta ? r->cfg->delta : 1.0, s = 0;
    for (int j = 0; j < r->classes; j++) {
        double e = fabs(p[j] - t[j]);
        s += e <= d ? 0.5 * e * e : d * e - 0.5 * d * d;
    }
    return s / r->classes;
}

/* The textbook log(cosh(x)), not Keras' rewriting of it. */
static double r_log_cosh(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++)
        s += log(cosh(p[j] - t[j]));
    return s / r->classes;
}

static double r_bce(const double *t, const double *p, const ref_ctx *r)
{
    double ls = r->cfg->label_smoothing, s = 0;
    for (int j = 0; j < r->classes; j++) {
        double z = t[j] * (1 - ls) + 0.5 * ls;
        if (r->cfg->from_logits) {
            double x = p[j];   /* -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)) */
            s += z * log1p(exp(-x)) + (1 - z) * log1p(exp(x));
        } else {
            double q = clampd(p[j], LO, HI);
            s += -(z * log(q) + (1 - z) * log(1 - q));
        }
    }
    return s / r->classes;
}

static double r_cce(const double *t, const double *p, const ref_ctx *r)
{
    double ls = r->cfg->label_smoothing, s = 0, norm = 0, m = -INFINITY;
    int c = r->classes;
    for (int j = 0; j < c; j++) {
        norm += r->cfg->from_logits ? 0 : p[j];
        m = fmax(m, p[j]);
    }
    double lse = 0;
    for (int j = 0; j < c; j++)
        lse += exp(p[j] - m);
    lse = m + log(lse);
    for (int j = 0; j < c; j++) {
        double z = t[j] * (1 - ls) + ls / c;
        double logq = r->cfg->from_logits ? p[j] - lse : log(clampd(p[j] / norm, LO, HI));
        s -= z * logq;
    }
    return s;
}

static double r_scce(const double *t, const double *p, const ref_ctx *r)
{
    int label = (int)t[0];
    double q[64], sum = 0, m = -INFINITY;
    for (int j = 0; j < r->classes; j++) {
        q[j] = r->cfg->from_logits ? p[j] : log(clampd(p[j], LO, HI));
        m = fmax(m, q[j]);
    }
    for (int j = 0; j < r->classes; j++)
        sum += exp(q[j] - m);
    return m + log(sum) - q[label];
}

static double r_kld(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++) {
        double a = clampd(t[j], EPS, 1), b = clampd(p[j], EPS, 1);
        s += a * log(a / b);
    }
    return s;
}

static double r_poisson(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++)
        s += p[j] - t[j] * log(p[j] + EPS);
    return s / r->classes;
}

static double hinge_margin(double t, double p, const ref_ctx *r)
{
    double y = r->hinge_converted ? 2 * t - 1 : t;
    return fmax(1 - y * p, 0);
}

static double r_hinge(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++)
        s += hinge_margin(t[j], p[j], r);
    return s / r->classes;
}

static double r_squared_hinge(const double *t, const double *p, const ref_ctx *r)
{
    double s = 0;
    for (int j = 0; j < r->classes; j++)
        s += pow(hinge_margin(t[j], p[j], r), 2);
    return s / r->classes;
}

static double r_categorical_hinge(const double *t, const double *p, const ref_ctx *r)
{
    double pos = 0, neg = -INFINITY;
    for (int j = 0; j < r->classes; j++) {
        pos += t[j] * p[j];
        neg = fmax(neg, (1 - t[j]) * p[j]);
    }
    return fmax(neg - pos + 1, 0);
}

/* ------------------------------------------------------------- generators -- *
 * Inputs in each loss's valid domain, away from kinks (so finite differences
 * hold) and from the probability clipping bounds. */

typedef void (*gen_fn)(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                       uint64_t *rng);

static float uni(uint64_t *rng, float lo, float hi)
{
    return lo + (test_uniform(rng) + 1) * 0.5f * (hi - lo);
}

static void normalise(float *row, int n)
{
    float s = 0;
    for (int j = 0; j < n; j++)
        s += row[j];
    for (int j = 0; j < n; j++)
        row[j] /= s;
}

static void g_regression(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                         uint64_t *rng)
{
    float d = c->delta ? c->delta : 1.0f;
    for (int i = 0; i < rows * classes; i++) {
        t[i] = uni(rng, -2, 2);
        p[i] = uni(rng, -2, 2);
        float e = fabsf(p[i] - t[i]);
        if (e < 0.05f || fabsf(e - d) < 0.05f)
            p[i] += p[i] > t[i] ? 0.13f : -0.13f;
    }
}

static void g_positive(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                       uint64_t *rng)
{
    (void)c;
    for (int i = 0; i < rows * classes; i++) {
        t[i] = uni(rng, 0.1f, 3);
        p[i] = uni(rng, 0.1f, 3);
    }
}

static void g_binary(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                     uint64_t *rng)
{
    for (int i = 0; i < rows * classes; i++) {
        t[i] = uni(rng, 0, 1);
        p[i] = c->from_logits ? uni(rng, -4, 4) : uni(rng, 0.05f, 0.95f);
    }
}

/* Probability rows (or logits) with soft target rows. */
static void g_categorical(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                          uint64_t *rng)
{
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < classes; j++) {
            t[i * classes + j] = uni(rng, 0.05f, 1);
            p[i * classes + j] = c->from_logits ? uni(rng, -3, 3) : uni(rng, 0.1f, 1);
        }
        normalise(t + i * classes, classes);
        if (!c->from_logits)
            normalise(p + i * classes, classes);
    }
}

/* Integer labels in t (rows of them); probability rows or logits in p. */
static void g_sparse(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                     uint64_t *rng)
{
    for (int i = 0; i < rows; i++) {
        t[i] = (float)(i % classes);
        for (int j = 0; j < classes; j++)
            p[i * classes + j] = c->from_logits ? uni(rng, -3, 3) : uni(rng, 0.1f, 1);
        if (!c->from_logits)
            normalise(p + i * classes, classes);
    }
}

static void g_kld(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                  uint64_t *rng)
{
    (void)c;
    for (int i = 0; i < rows * classes; i++) {
        t[i] = uni(rng, 0.05f, 0.95f);
        p[i] = uni(rng, 0.05f, 0.95f);
    }
}

/* Hinge labels: 0/1 (Keras converts them), -1/1, or a mix (kept as given). */
static void g_hinge(float *t, float *p, int rows, int classes, float lo_label, int mixed,
                    uint64_t *rng)
{
    for (int i = 0; i < rows * classes; i++) {
        t[i] = test_uniform(rng) > 0 ? 1.0f : lo_label;
        if (mixed && i % 3 == 0)
            t[i] = i % 2 ? -1.0f : 0.5f;
        float y = lo_label == 0.0f && !mixed ? 2 * t[i] - 1 : t[i];
        p[i] = uni(rng, -2, 2);
        if (fabsf(1 - y * p[i]) < 0.05f)
            p[i] += 0.17f;
    }
}

static void g_hinge01(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                      uint64_t *rng)
{
    (void)c;
    g_hinge(t, p, rows, classes, 0.0f, 0, rng);
}

static void g_hinge_pm1(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                        uint64_t *rng)
{
    (void)c;
    g_hinge(t, p, rows, classes, -1.0f, 0, rng);
}

static void g_hinge_mixed(float *t, float *p, int rows, int classes, const kcl_loss_config *c,
                          uint64_t *rng)
{
    (void)c;
    g_hinge(t, p, rows, classes, -1.0f, 1, rng);
}

/* One-hot targets; predictions whose margin stays away from the kink at 0. */
static void g_categorical_hinge(float *t, float *p, int rows, int classes,
                                const kcl_loss_config *c, uint64_t *rng)
{
    (void)c;
    for (int i = 0; i < rows; i++) {
        float *ti = t + i * classes, *pi = p + i * classes;
        for (int j = 0; j < classes; j++) {
            ti[j] = j == i % classes;
            pi[j] = uni(rng, -2, 2);
        }
        double pos = 0, neg = -INFINITY;
        for (int j = 0; j < classes; j++) {
            pos += ti[j] * pi[j];
            neg = fmax(neg, (1 - ti[j]) * pi[j]);
        }
        if (fabs(neg - pos + 1) < 0.05)
            pi[i % classes] += 0.2f;
    }
}

/* ------------------------------------------------------------ the cases -- */

typedef struct loss_case {
    const char *name;
    kcl_loss_config cfg;
    row_ref ref;
    gen_fn gen;
    int grad_true;               /* y_true is differentiable too */
} loss_case;

#define L(kind_, ...) {.kind = KCL_LOSS_##kind_, __VA_ARGS__}

static const loss_case cases[] = {
    {"mse", L(MEAN_SQUARED_ERROR), r_mse, g_regression, 1},
    {"mae", L(MEAN_ABSOLUTE_ERROR), r_mae, g_regression, 1},
    {"msle", L(MEAN_SQUARED_LOGARITHMIC_ERROR), r_msle, g_positive, 1},
    {"huber", L(HUBER), r_huber, g_regression, 1},
    {"huber delta 0.4", L(HUBER, .delta = 0.4f), r_huber, g_regression, 1},
    {"log_cosh", L(LOG_COSH), r_log_cosh, g_regression, 1},
    {"bce", L(BINARY_CROSSENTROPY), r_bce, g_binary, 1},
    {"bce smoothing", L(BINARY_CROSSENTROPY, .label_smoothing = 0.2f), r_bce, g_binary, 1},
    {"bce logits", L(BINARY_CROSSENTROPY, .from_logits = 1), r_bce, g_binary, 1},
    {"bce logits smoothing", L(BINARY_CROSSENTROPY, .from_logits = 1, .label_smoothing = 0.3f),
     r_bce, g_binary, 1},
    {"cce", L(CATEGORICAL_CROSSENTROPY), r_cce, g_categorical, 1},
    {"cce smoothing", L(CATEGORICAL_CROSSENTROPY, .label_smoothing = 0.1f), r_cce, g_categorical, 1},
    {"cce logits", L(CATEGORICAL_CROSSENTROPY, .from_logits = 1), r_cce, g_categorical, 1},
    {"cce logits smoothing", L(CATEGORICAL_CROSSENTROPY, .from_logits = 1, .label_smoothing = 0.2f),
     r_cce, g_categorical, 1},
    {"scce", L(SPARSE_CATEGORICAL_CROSSENTROPY), r_scce, g_sparse, 0},
    {"scce logits", L(SPARSE_CATEGORICAL_CROSSENTROPY, .from_logits = 1), r_scce, g_sparse, 0},
    {"kld", L(KL_DIVERGENCE), r_kld, g_kld, 1},
    {"poisson", L(POISSON), r_poisson, g_positive, 1},
    {"hinge 0/1", L(HINGE), r_hinge, g_hinge01, 0},
    {"hinge -1/1", L(HINGE), r_hinge, g_hinge_pm1, 0},
    {"hinge mixed", L(HINGE), r_hinge, g_hinge_mixed, 0},
    {"squared_hinge 0/1", L(SQUARED_HINGE), r_squared_hinge, g_hinge01, 0},
    {"squared_hinge -1/1", L(SQUARED_HINGE), r_squared_hinge, g_hinge_pm1, 0},
    {"categorical_hinge", L(CATEGORICAL_HINGE), r_categorical_hinge, g_categorical_hinge, 1},
};

typedef struct run {
    const loss_case *lc;
    ref_ctx r;
    int weighted;                /* kcl_loss_compute with sample weights (third input) */
} run;

static void host_per_sample(const double *t, const double *p, double *out, const run *u)
{
    int c = u->r.classes;
    for (int i = 0; i < u->r.rows; i++)
        out[i] = u->lc->ref(u->r.sparse ? t + i : t + i * c, p + i * c, &u->r);
}

static void host_fn(const double *const *in, double *out, void *user)
{
    run *u = user;
    int n = u->r.rows * (u->r.sparse ? 1 : u->r.classes);
    u->r.hinge_converted = 1;
    for (int i = 0; i < n; i++)
        u->r.hinge_converted &= in[0][i] == 0.0 || in[0][i] == 1.0;
    if (!u->weighted) {
        host_per_sample(in[0], in[1], out, u);
        return;
    }
    double v[64], sum = 0;
    host_per_sample(in[0], in[1], v, u);
    for (int i = 0; i < u->r.rows; i++)
        sum += v[i] * in[2][i];
    out[0] = sum / u->r.rows;
}

static kcl_status device_fn(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    run *u = user;
    if (u->weighted)
        return kcl_loss_compute(&u->lc->cfg, in[0], in[1], in[2], out);
    return kcl_loss_per_sample(&u->lc->cfg, in[0], in[1], out);
}

/* Checks a case on [rows, classes] inputs (per-sample losses, then the
 * weighted scalar loss). */
static void check_case(kcl_context *ctx, const loss_case *lc, int rows, int classes)
{
    run u = {.lc = lc, .r = {.cfg = &lc->cfg, .rows = rows, .classes = classes,
                             .sparse = lc->cfg.kind == KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY}};
    size_t n = (size_t)rows * (size_t)classes;
    float *t = calloc(n, sizeof *t), *p = calloc(n, sizeof *p), w[64];
    uint64_t rng = 0x1234567ULL + (uint64_t)(lc - cases) * 977;
    lc->gen(t, p, rows, classes, &lc->cfg, &rng);
    for (int i = 0; i < rows; i++)
        w[i] = uni(&rng, 0, 2);
    for (u.weighted = 0; u.weighted < 2; u.weighted++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s", lc->name, u.weighted ? " (weighted)" : "");
        gc_case c = {.name = name, .n_in = 2 + u.weighted, .device = device_fn, .host = host_fn,
                     .user = &u, .fwd_atol = 2e-6, .fwd_rtol = 2e-5};
        c.in[0] = (gc_input){.rank = u.r.sparse ? 1 : 2, .shape = {rows, classes}, .values = t,
                             .no_grad = !lc->grad_true};
        c.in[1] = (gc_input){.rank = 2, .shape = {rows, classes}, .values = p};
        c.in[2] = (gc_input){.rank = 1, .shape = {rows}, .values = w};
        gradcheck(ctx, &c);
    }
    free(t);
    free(p);
}

static void test_losses_against_reference(void **state)
{
    kcl_context *ctx = *state;
    int rows = test_on_simulator(ctx) ? 3 : 6, classes = test_on_simulator(ctx) ? 3 : 5;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(ctx, &cases[i], rows, classes);
}

/* Rank 3 predictions: the last axis is reduced, the others stay. */
static void test_higher_rank(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[3] = {2, 3, 4};
    float *t = test_random(24, 5), *p = test_random(24, 6), out[6];
    kcl_tensor *tt, *tp, *v;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 3, shape, t, &tt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 3, shape, p, &tp));
    kcl_loss_config cfg = kcl_loss(KCL_LOSS_MEAN_SQUARED_ERROR);
    CHECK_OK(ctx, kcl_loss_per_sample(&cfg, tt, tp, &v));
    assert_int_equal(kcl_tensor_rank(v), 2);
    assert_int_equal(kcl_tensor_shape(v)[0], 2);
    assert_int_equal(kcl_tensor_shape(v)[1], 3);
    CHECK_OK(ctx, kcl_tensor_read(v, out, 6));
    for (int i = 0; i < 6; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++)
            s += pow((double)t[i * 4 + j] - p[i * 4 + j], 2);
        assert_true(fabs(out[i] - s / 4) < 1e-5);
    }
    kcl_tensor_free(v);
    /* One weight per sample spreads over the sample's other axes: Keras
     * weights [2, 3] losses by [2] as [2, 1]. */
    float wv[2] = {0.5f, 2.0f}, got;
    int64_t two = 2;
    kcl_tensor *w, *loss;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &two, wv, &w));
    CHECK_OK(ctx, kcl_loss_compute(&cfg, tt, tp, w, &loss));
    CHECK_OK(ctx, kcl_tensor_read(loss, &got, 1));
    double want = 0;
    for (int i = 0; i < 6; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++)
            s += pow((double)t[i * 4 + j] - p[i * 4 + j], 2);
        want += wv[i / 3] * s / 4;
    }
    assert_true(fabs(got - want / 6) < 1e-5);
    kcl_tensor_free(loss);
    kcl_tensor_free(w);
    kcl_tensor_free(tt);
    kcl_tensor_free(tp);
    free(t);
    free(p);
}

/* Keras' clipping of probabilities 0 and 1 to [eps, 1 - eps] in float32. */
static void test_clipping(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {2, 2};
    float t[4] = {1, 0, 0, 1}, p[4] = {0, 1, 0.5f, 0.5f}, out[2];
    kcl_tensor *tt, *tp, *v;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, t, &tt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, p, &tp));
    kcl_loss_config bce = kcl_loss(KCL_LOSS_BINARY_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_per_sample(&bce, tt, tp, &v));
    CHECK_OK(ctx, kcl_tensor_read(v, out, 2));
    /* -log(eps) for the 1 predicted as 0, -log(1 - (1 - eps)) for the 0 predicted as 1 */
    double want0 = (-log(LO) - log(1 - HI)) / 2;
    assert_true(fabs(out[0] - want0) < 1e-5 * want0);
    assert_true(fabs(out[1] - log(2.0)) < 1e-6);
    kcl_tensor_free(v);
    kcl_loss_config cce = kcl_loss(KCL_LOSS_CATEGORICAL_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_per_sample(&cce, tt, tp, &v));
    CHECK_OK(ctx, kcl_tensor_read(v, out, 2));
    assert_true(fabs(out[0] + log(LO)) < 1e-5 * -log(LO));
    assert_true(fabs(out[1] - log(2.0)) < 1e-6);
    kcl_tensor_free(v);
    kcl_tensor_free(tt);
    kcl_tensor_free(tp);
}

/* The losses of a softmax's or sigmoid's output come from its logits, as
 * Keras on TensorFlow computes them (_keras_logits): exact where the
 * probabilities saturate (a clipped probability would give -log(1e-7) = 16.1),
 * with the gradient (softmax(z) - onehot) / rows reaching the logits. */
static void test_losses_from_activation_logits(void **state)
{
    kcl_context *ctx = *state;
    enum { R = 3, C = 4 };
    int64_t shape[2] = {R, C}, rows = R;
    float z[R * C] = {40, 0, -3, 1, 0.5f, -1, 2, 0, -2, 30, 0, 0.25f};
    float labels[R] = {1, 2, 0}, bin_t[R * C], loss, grad[R * C];
    for (int i = 0; i < R * C; i++)
        bin_t[i] = (float)(i % 3 == 0);
    kcl_tensor *tz, *tl, *tb, *probs, *sig, *l, *g;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, z, &tz));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &rows, labels, &tl));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, bin_t, &tb));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_tape_watch(tape, tz));
    CHECK_OK(ctx, kcl_activation(tz, "softmax", NULL, &probs));
    kcl_loss_config sc = kcl_loss(KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_compute(&sc, tl, probs, NULL, &l));
    CHECK_OK(ctx, kcl_tape_gradient(tape, l, 1, &tz, &g));
    CHECK_OK(ctx, kcl_tensor_read(l, &loss, 1));
    CHECK_OK(ctx, kcl_tensor_read(g, grad, R * C));
    double want = 0;
    for (int r = 0; r < R; r++) {
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++)
            mx = fmax(mx, z[r * C + c]);
        for (int c = 0; c < C; c++)
            sum += exp(z[r * C + c] - mx);
        want += (mx + log(sum) - z[r * C + (int)labels[r]]) / R;
        for (int c = 0; c < C; c++) {
            double d = (exp(z[r * C + c] - mx) / sum - (c == (int)labels[r])) / R;
            assert_true(fabs(grad[r * C + c] - d) < 1e-6);
        }
    }
    assert_true(want > 20);   /* far above what clipped probabilities allow */
    assert_true(fabs(loss - want) < 1e-5 * want);
    kcl_tensor_free(l);
    kcl_tensor_free(g);
    /* Categorical cross-entropy of the same softmax, one-hot targets. */
    float onehot[R * C] = {0};
    for (int r = 0; r < R; r++)
        onehot[r * C + (int)labels[r]] = 1;
    kcl_tensor *to;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, onehot, &to));
    kcl_loss_config cc = kcl_loss(KCL_LOSS_CATEGORICAL_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_compute(&cc, to, probs, NULL, &l));
    CHECK_OK(ctx, kcl_tensor_read(l, &loss, 1));
    assert_true(fabs(loss - want) < 1e-5 * want);
    kcl_tensor_free(l);
    /* Binary cross-entropy of a sigmoid: mean(max(z,0) - z t + log1p(exp(-|z|))). */
    CHECK_OK(ctx, kcl_activation(tz, "sigmoid", NULL, &sig));
    kcl_loss_config bc = kcl_loss(KCL_LOSS_BINARY_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_compute(&bc, tb, sig, NULL, &l));
    CHECK_OK(ctx, kcl_tensor_read(l, &loss, 1));
    double bwant = 0;
    for (int i = 0; i < R * C; i++)
        bwant += (fmax(z[i], 0) - z[i] * bin_t[i] + log1p(exp(-fabs(z[i])))) / (R * C);
    assert_true(fabs(loss - bwant) < 1e-5 * bwant);
    kcl_tensor_free(l);
    kcl_tape_free(tape);
    kcl_tensor_free(sig);
    kcl_tensor_free(probs);
    kcl_tensor_free(to);
    kcl_tensor_free(tz);
    kcl_tensor_free(tl);
    kcl_tensor_free(tb);
}

/* Keras' rank matching: [batch] labels with [batch, 1] predictions. */
static void test_rank_matching(void **state)
{
    kcl_context *ctx = *state;
    int64_t b = 4, col[2] = {4, 1};
    float t[4] = {1, 0, 1, 0}, p[4] = {0.9f, 0.2f, 0.6f, 0.4f}, out[4];
    kcl_tensor *tt, *tp, *v;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &b, t, &tt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, col, p, &tp));
    kcl_loss_config bce = kcl_loss(KCL_LOSS_BINARY_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_per_sample(&bce, tt, tp, &v));
    assert_int_equal(kcl_tensor_rank(v), 1);
    assert_int_equal(kcl_tensor_shape(v)[0], 4);
    CHECK_OK(ctx, kcl_tensor_read(v, out, 4));
    for (int i = 0; i < 4; i++) {
        double want = t[i] ? -log(p[i]) : -log(1 - (double)p[i]);
        assert_true(fabs(out[i] - want) < 1e-5);
    }
    kcl_tensor_free(v);
    kcl_tensor_free(tt);
    kcl_tensor_free(tp);
    /* Sparse labels shaped [batch, 1] are squeezed. */
    int64_t ps[2] = {4, 3};
    float probs[12] = {0.2f, 0.3f, 0.5f, 0.1f, 0.8f, 0.1f, 0.6f, 0.2f, 0.2f, 0.3f, 0.3f, 0.4f};
    float labels[4] = {2, 1, 0, 1};
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, col, labels, &tt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, ps, probs, &tp));
    kcl_loss_config sc = kcl_loss(KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_per_sample(&sc, tt, tp, &v));
    CHECK_OK(ctx, kcl_tensor_read(v, out, 4));
    for (int i = 0; i < 4; i++)
        assert_true(fabs(out[i] + log(probs[i * 3 + (int)labels[i]])) < 1e-5);
    kcl_tensor_free(v);
    kcl_tensor_free(tt);
    kcl_tensor_free(tp);
}

/* A label outside [0, classes) gives NaN for its sample (documented). */
static void test_sparse_out_of_range(void **state)
{
    kcl_context *ctx = *state;
    int64_t b = 3, ps[2] = {3, 2};
    float labels[3] = {0, 2, -1}, logits[6] = {1, 2, 3, 4, 5, 6}, out[3];
    kcl_tensor *tt, *tp, *v;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &b, labels, &tt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, ps, logits, &tp));
    kcl_loss_config sc = kcl_loss(KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, .from_logits = 1);
    CHECK_OK(ctx, kcl_loss_per_sample(&sc, tt, tp, &v));
    CHECK_OK(ctx, kcl_tensor_read(v, out, 3));
    assert_true(fabs(out[0] - log1p(exp(1.0))) < 1e-5);
    assert_true(isnan(out[1]) && isnan(out[2]));
    kcl_tensor_free(v);
    kcl_tensor_free(tt);
    kcl_tensor_free(tp);
}

static void test_names(void **state)
{
    kcl_context *ctx = *state;
    kcl_loss_config c;
    CHECK_OK(ctx, kcl_loss_by_name(ctx, "mse", &c));
    assert_int_equal(c.kind, KCL_LOSS_MEAN_SQUARED_ERROR);
    CHECK_OK(ctx, kcl_loss_by_name(ctx, "sparse_categorical_crossentropy", &c));
    assert_int_equal(c.kind, KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
    CHECK_OK(ctx, kcl_loss_by_name(ctx, "kld", &c));
    assert_int_equal(c.kind, KCL_LOSS_KL_DIVERGENCE);
    CHECK_OK(ctx, kcl_loss_by_name(ctx, "BinaryCrossentropy", &c));
    assert_int_equal(c.kind, KCL_LOSS_BINARY_CROSSENTROPY);
    assert_int_equal(kcl_loss_by_name(ctx, "mean_sqared_error", &c), KCL_ERR_NAME);
    assert_non_null(strstr(kcl_errmsg(ctx), "mean_sqared_error"));
    assert_non_null(strstr(kcl_errmsg(ctx), "categorical_hinge"));
    assert_string_equal(kcl_loss_name(KCL_LOSS_HUBER), "huber");
    assert_string_equal(kcl_loss_name(KCL_LOSS_MEAN_ABSOLUTE_ERROR), "mean_absolute_error");
    for (int k = 1; k < KCL_LOSS_KIND_COUNT_; k++) {
        CHECK_OK(ctx, kcl_loss_by_name(ctx, kcl_loss_name((kcl_loss_kind)k), &c));
        assert_int_equal(c.kind, k);
    }
}

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    int64_t s43[2] = {4, 3}, s42[2] = {4, 2}, s3 = 3;
    kcl_tensor *a, *b, *w, *out = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s43, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s42, &b));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, &s3, &w));
    kcl_loss_config mse = kcl_loss(KCL_LOSS_MEAN_SQUARED_ERROR);
    assert_int_equal(kcl_loss_per_sample(&mse, a, b, &out), KCL_ERR_SHAPE);
    assert_null(out);
    const char *msg = kcl_errmsg(ctx);
    assert_non_null(strstr(msg, "mean_squared_error"));
    assert_non_null(strstr(msg, "[4, 3]"));
    assert_non_null(strstr(msg, "[4, 2]"));
    assert_int_equal(kcl_loss_compute(&mse, a, b, NULL, &out), KCL_ERR_SHAPE);
    /* sample_weight of 3 for a batch of 4 */
    assert_int_equal(kcl_loss_compute(&mse, a, a, w, &out), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "sample_weight"));
    assert_null(out);
    kcl_loss_config sc = kcl_loss(KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
    assert_int_equal(kcl_loss_per_sample(&sc, w, a, &out), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "[3]"));
    kcl_loss_config bad = kcl_loss(KCL_LOSS_BINARY_CROSSENTROPY, .label_smoothing = 1.5f);
    assert_int_equal(kcl_loss_per_sample(&bad, a, a, &out), KCL_ERR_ARGUMENT);
    bad = kcl_loss(KCL_LOSS_HUBER, .delta = -1.0f);
    assert_int_equal(kcl_loss_per_sample(&bad, a, a, &out), KCL_ERR_ARGUMENT);
    bad = kcl_loss(KCL_LOSS_NONE);
    assert_int_equal(kcl_loss_per_sample(&bad, a, a, &out), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_loss_per_sample(&mse, NULL, a, &out), KCL_ERR_ARGUMENT);
    assert_null(out);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
    kcl_tensor_free(w);
}

/* An empty batch gives a loss of 0 (Keras' divide_no_nan), not NaN. */
static void test_empty_batch(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {0, 3};
    kcl_tensor *a, *out;
    float v = -1;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, shape, &a));
    kcl_loss_config mse = kcl_loss(KCL_LOSS_MEAN_SQUARED_ERROR);
    CHECK_OK(ctx, kcl_loss_compute(&mse, a, a, NULL, &out));
    CHECK_OK(ctx, kcl_tensor_read(out, &v, 1));
    assert_true(v == 0.0f);
    kcl_tensor_free(out);
    kcl_tensor_free(a);
}

#if __has_include("data/losses_golden.h")
#include "data/losses_golden.h"
/* Values Keras itself computed (tests/data/losses_golden.py). */
static void test_keras_golden(void **state)
{
    kcl_context *ctx = *state;
    for (size_t i = 0; i < sizeof golden / sizeof *golden; i++) {
        const golden_case *g = &golden[i];
        kcl_loss_config cfg;
        CHECK_OK(ctx, kcl_loss_by_name(ctx, g->name, &cfg));
        cfg.from_logits = g->from_logits;
        cfg.label_smoothing = g->label_smoothing;
        cfg.delta = g->delta;
        kcl_tensor *t, *p, *w = NULL, *out;
        int64_t wshape = g->true_shape[0];
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, g->true_rank, g->true_shape, g->y_true, &t));
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, g->pred_rank, g->pred_shape, g->y_pred, &p));
        if (g->weighted)
            CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &wshape, g->sample_weight, &w));
        CHECK_OK(ctx, kcl_loss_compute(&cfg, t, p, w, &out));
        float got;
        CHECK_OK(ctx, kcl_tensor_read(out, &got, 1));
        if (!(fabs(got - g->expected) <= 1e-5 + 1e-5 * fabs(g->expected)))
            fail_msg("golden %zu (%s): %.9g, Keras %.9g", i, g->name, got, g->expected);
        kcl_tensor_free(out);
        kcl_tensor_free(t);
        kcl_tensor_free(p);
        kcl_tensor_free(w);
    }
}
#endif

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
        cmocka_unit_test(test_losses_against_reference),
        cmocka_unit_test(test_higher_rank),
        cmocka_unit_test(test_clipping),
        cmocka_unit_test(test_losses_from_activation_logits),
        cmocka_unit_test(test_rank_matching),
        cmocka_unit_test(test_sparse_out_of_range),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_empty_batch),
#if __has_include("data/losses_golden.h")
        cmocka_unit_test(test_keras_golden),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

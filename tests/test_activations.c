/* test_activations: every Keras activation by name, forward against a double
 * reference of Keras' formula and gradients against finite differences of
 * that reference (gradcheck.h); edge values (0, ±1e4, NaN), TensorFlow's
 * gradients at the kinks, the axis activations on every axis, and errors. */
#include "gradcheck.h"

/* ------------------------------------------------- double references -- */

typedef double (*host_fn)(double x, const kcl_activation_args *a);

static double dflt(double v, double fallback) { return v != 0 ? v : fallback; }
static double h_sigmoid_of(double x) { return 1 / (1 + exp(-x)); }
/* numpy's logaddexp(x, 0) */
static double h_softplus_of(double x) { return fmax(x, 0) + log1p(exp(-fabs(x))); }
/* clip that keeps NaN, as TensorFlow's Relu6 and clip_by_value do */
static double h_clip(double x, double lo, double hi) { return isnan(x) ? x : fmin(fmax(x, lo), hi); }

/* Keras' ReLU.static_call: max_value if x >= max_value, x if x > threshold,
 * else negative_slope * (x - threshold). */
static double h_relu(double x, const kcl_activation_args *a)
{
    double max = a->max_value != 0 ? a->max_value : INFINITY;
    return x >= max ? max : x > a->threshold ? x : a->negative_slope * (x - a->threshold);
}
static double h_leaky_relu(double x, const kcl_activation_args *a)
{
    return x > 0 ? x : dflt(a->negative_slope, 0.2) * x;
}
static double h_relu6(double x, const kcl_activation_args *a) { (void)a; return h_clip(x, 0, 6); }
static double h_elu(double x, const kcl_activation_args *a)
{
    return x > 0 ? x : dflt(a->alpha, 1) * expm1(x);
}
static double h_selu(double x, const kcl_activation_args *a)
{
    (void)a;
    return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * expm1(x));
}
static double h_celu(double x, const kcl_activation_args *a)
{
    double alpha = dflt(a->alpha, 1);
    return isnan(x) ? x : fmax(x, 0) + alpha * expm1(fmin(x, 0) / alpha);
}
static double h_gelu(double x, const kcl_activation_args *a)
{
    if (a->approximate)
        return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + erf(x / sqrt(2)));
}
static double h_sigmoid(double x, const kcl_activation_args *a) { (void)a; return h_sigmoid_of(x); }
static double h_hard_sigmoid(double x, const kcl_activation_args *a) { (void)a; return h_clip(x + 3, 0, 6) / 6; }
static double h_sparse_sigmoid(double x, const kcl_activation_args *a)
{
    (void)a;
    return x <= -1 ? 0 : x >= 1 ? 1 : 0.5 * (x + 1);
}
static double h_log_sigmoid(double x, const kcl_activation_args *a) { (void)a; return -h_softplus_of(-x); }
static double h_tanh(double x, const kcl_activation_args *a) { (void)a; return tanh(x); }
static double h_hard_tanh(double x, const kcl_activation_args *a) { (void)a; return h_clip(x, -1, 1); }
static double h_tanh_shrink(double x, const kcl_activation_args *a) { (void)a; return x - tanh(x); }
static double h_softplus(double x, const kcl_activation_args *a) { (void)a; return h_softplus_of(x); }
static double h_softsign(double x, const kcl_activation_args *a) { (void)a; return x / (1 + fabs(x)); }
static double h_silu(double x, const kcl_activation_args *a) { (void)a; return x * h_sigmoid_of(x); }
static double h_hard_silu(double x, const kcl_activation_args *a) { return x * h_hard_sigmoid(x, a); }
static double h_mish(double x, const kcl_activation_args *a) { (void)a; return x * tanh(h_softplus_of(x)); }
static double h_exponential(double x, const kcl_activation_args *a) { (void)a; return exp(x); }
static double h_linear(double x, const kcl_activation_args *a) { (void)a; return x; }
static double h_soft_shrink(double x, const kcl_activation_args *a)
{
    double t = dflt(a->threshold, 0.5);
    return x > t ? x - t : x < -t ? x + t : 0;
}
static double h_hard_shrink(double x, const kcl_activation_args *a)
{
    return fabs(x) > dflt(a->threshold, 0.5) ? x : 0;
}
static double h_sparse_plus(double x, const kcl_activation_args *a)
{
    (void)a;
    return x <= -1 ? 0 : x < 1 ? 0.25 * (x + 1) * (x + 1) : x;
}
static double h_squareplus(double x, const kcl_activation_args *a)
{
    return (x + sqrt(x * x + dflt(a->b, 4))) / 2;
}
static double h_threshold(double x, const kcl_activation_args *a)
{
    return x > a->threshold ? x : a->default_value;
}

/* ------------------------------------------------------- elementwise -- */

/* Keras' default arguments (a designated initializer: no -Wmissing-field-initializers). */
#define DEFAULTS {.axis = 0}

typedef struct act_case {
    const char *name;
    kcl_activation_args args;
    host_fn host;
    double lo, hi;               /* inputs drawn from [lo, hi] */
    double kinks[2];             /* kept 0.05 away from (n_kinks of them) */
    int n_kinks;
} act_case;

static const act_case cases[] = {
    {"relu", DEFAULTS, h_relu, -3, 3, {0}, 1},
    {"relu", {.negative_slope = 0.1f, .max_value = 2, .threshold = 0.5f}, h_relu, -3, 3, {0.5, 2}, 2},
    {"relu", {.negative_slope = 0.3f, .threshold = -0.5f}, h_relu, -3, 3, {-0.5}, 1},
    {"relu", {.max_value = 6}, h_relu, -2, 8, {0, 6}, 2},
    {"leaky_relu", DEFAULTS, h_leaky_relu, -3, 3, {0}, 1},
    {"leaky_relu", {.negative_slope = 0.05f}, h_leaky_relu, -3, 3, {0}, 1},
    {"relu6", DEFAULTS, h_relu6, -2, 8, {0, 6}, 2},
    {"elu", DEFAULTS, h_elu, -3, 3, {0}, 1},
    {"elu", {.alpha = 0.5f}, h_elu, -3, 3, {0}, 1},
    {"selu", DEFAULTS, h_selu, -3, 3, {0}, 1},
    {"celu", DEFAULTS, h_celu, -3, 3, {0}, 0},
    {"celu", {.alpha = 2}, h_celu, -3, 3, {0}, 0},
    {"gelu", DEFAULTS, h_gelu, -4, 4, {0}, 0},
    {"gelu", {.approximate = 1}, h_gelu, -4, 4, {0}, 0},
    {"sigmoid", DEFAULTS, h_sigmoid, -6, 6, {0}, 0},
    {"hard_sigmoid", DEFAULTS, h_hard_sigmoid, -5, 5, {-3, 3}, 2},
    {"sparse_sigmoid", DEFAULTS, h_sparse_sigmoid, -2, 2, {-1, 1}, 2},
    {"log_sigmoid", DEFAULTS, h_log_sigmoid, -6, 6, {0}, 0},
    {"tanh", DEFAULTS, h_tanh, -3, 3, {0}, 0},
    {"hard_tanh", DEFAULTS, h_hard_tanh, -2, 2, {-1, 1}, 2},
    {"tanh_shrink", DEFAULTS, h_tanh_shrink, -3, 3, {0}, 0},
    {"softplus", DEFAULTS, h_softplus, -6, 6, {0}, 0},
    {"softsign", DEFAULTS, h_softsign, -3, 3, {0}, 0},
    {"silu", DEFAULTS, h_silu, -5, 5, {0}, 0},
    {"swish", DEFAULTS, h_silu, -5, 5, {0}, 0},
    {"hard_silu", DEFAULTS, h_hard_silu, -5, 5, {-3, 3}, 2},
    {"hard_swish", DEFAULTS, h_hard_silu, -5, 5, {-3, 3}, 2},
    {"mish", DEFAULTS, h_mish, -5, 5, {0}, 0},
    {"exponential", DEFAULTS, h_exponential, -3, 3, {0}, 0},
    {"linear", DEFAULTS, h_linear, -3, 3, {0}, 0},
    {"soft_shrink", DEFAULTS, h_soft_shrink, -2, 2, {-0.5, 0.5}, 2},
    {"soft_shrink", {.threshold = 1}, h_soft_shrink, -3, 3, {-1, 1}, 2},
    {"hard_shrink", DEFAULTS, h_hard_shrink, -2, 2, {-0.5, 0.5}, 2},
    {"hard_shrink", {.threshold = 0.2f}, h_hard_shrink, -2, 2, {-0.2, 0.2}, 2},
    {"sparse_plus", DEFAULTS, h_sparse_plus, -2, 2, {-1, 1}, 2},
    {"squareplus", DEFAULTS, h_squareplus, -3, 3, {0}, 0},
    {"squareplus", {.b = 1}, h_squareplus, -3, 3, {0}, 0},
    {"threshold", DEFAULTS, h_threshold, -2, 2, {0}, 1},
    {"threshold", {.threshold = 0.2f, .default_value = -3}, h_threshold, -2, 2, {0.2}, 1},
};

typedef struct run_ctx {
    const act_case *c;
    size_t n;                    /* element count */
} run_ctx;

static kcl_status elementwise_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    const run_ctx *r = user;
    return kcl_activation(in[0], r->c->name, &r->c->args, out);
}

static void elementwise_host(const double *const *in, double *out, void *user)
{
    const run_ctx *r = user;
    for (size_t i = 0; i < r->n; i++)
        out[i] = r->c->host(in[0][i], &r->c->args);
}

static void test_elementwise(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {4, 6};
    size_t n = 24;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const act_case *c = &cases[k];
        float *v = test_random(n, 300 + k);
        for (size_t i = 0; i < n; i++) {
            v[i] = (float)(c->lo + (v[i] + 1) * 0.5 * (c->hi - c->lo));
            for (int j = 0; j < c->n_kinks; j++)
                if (fabs(v[i] - c->kinks[j]) < 0.05)
                    v[i] += 0.11f;
        }
        run_ctx r = {c, n};
        char name[96];
        snprintf(name, sizeof name, "%s (case %zu)", c->name, k);
        gc_case g = {.name = name, .n_in = 1, .device = elementwise_device,
                     .host = elementwise_host, .user = &r};
        g.in[0].rank = 2;
        memcpy(g.in[0].shape, shape, sizeof shape);
        g.in[0].values = v;
        gradcheck(ctx, &g);
        free(v);
    }
}

/* Activations whose Keras formula picks a constant for NaN (a failed comparison). */
static int drops_nan(const char *name)
{
    return !strcmp(name, "soft_shrink") || !strcmp(name, "hard_shrink") ||
           !strcmp(name, "threshold");
}

/* 0, ±1e4 and NaN: finite where Keras' value is, NaN propagating. */
static void test_edge_values(void **state)
{
    kcl_context *ctx = *state;
    float x[8] = {0.0f, 1e4f, -1e4f, NAN, 1.5f, -0.7f, 3.0f, -3.0f}, y[8];
    int64_t shape[1] = {8};
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, x, &t));
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const act_case *c = &cases[k];
        kcl_tensor *out;
        CHECK_OK(ctx, kcl_activation(t, c->name, &c->args, &out));
        CHECK_OK(ctx, kcl_tensor_read(out, y, 8));
        kcl_tensor_free(out);
        for (int i = 0; i < 8; i++) {
            double want = c->host(x[i], &c->args);
            if (!gc_close(y[i], want, 1e-5, 1e-5))
                fail_msg("%s (case %zu) at %g: %.9g, reference %.9g", c->name, k, x[i], y[i], want);
        }
        if (!drops_nan(c->name) && !isnan(y[3]))
            fail_msg("%s (case %zu): NaN gave %g", c->name, k, y[3]);
        /* Only exp overflows (at 1e4); everything else stays finite there. */
        if (strcmp(c->name, "exponential") != 0)
            for (int i = 0; i < 8; i++)
                if (i != 3 && !isfinite(y[i]))
                    fail_msg("%s (case %zu) at %g: %g", c->name, k, x[i], y[i]);
    }
    kcl_tensor_free(t);
}

/* d activation / dx at one point, through the tape. */
static float grad_at(kcl_context *ctx, const char *name, kcl_activation_args args, float x)
{
    int64_t shape[1] = {1};
    kcl_tensor *t, *y, *g;
    kcl_tape *tape;
    float v;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, &x, &t));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_tape_watch(tape, t));
    CHECK_OK(ctx, kcl_activation(t, name, &args, &y));
    CHECK_OK(ctx, kcl_tape_gradient(tape, y, 1, &t, &g));
    CHECK_OK(ctx, kcl_tensor_read(g, &v, 1));
    kcl_tape_free(tape);
    kcl_tensor_free(t);
    kcl_tensor_free(y);
    kcl_tensor_free(g);
    return v;
}

/* TensorFlow's gradients at the points where the activation has no derivative. */
static void test_kink_gradients(void **state)
{
    kcl_context *ctx = *state;
    static const struct {
        const char *name;
        kcl_activation_args args;
        float x, grad;
    } points[] = {
        {"relu", DEFAULTS, 0.0f, 0.0f},                        /* ReluGrad: x > 0 */
        {"relu", {.negative_slope = 0.1f}, 0.0f, 0.1f},   /* Keras uses leaky_relu */
        {"relu", {.threshold = 1}, 1.0f, 0.0f},           /* x * (x > threshold) */
        {"relu", {.max_value = 4}, 4.0f, 1.0f},           /* clip_by_value passes at the bound */
        {"relu", {.max_value = 6}, 6.0f, 0.0f},           /* Keras uses relu6 */
        {"leaky_relu", DEFAULTS, 0.0f, 0.2f},                  /* LeakyReluGrad: x > 0 */
        {"relu6", DEFAULTS, 0.0f, 0.0f},
        {"relu6", DEFAULTS, 6.0f, 0.0f},                       /* Relu6Grad: 0 < x < 6 */
        {"elu", DEFAULTS, 0.0f, 1.0f},                         /* EluGrad: x < 0 */
        {"elu", {.alpha = 0.5f}, 0.0f, 0.5f},
        {"selu", DEFAULTS, 0.0f, 1.0507009873554805f},         /* SeluGrad: x < 0 */
        {"hard_tanh", DEFAULTS, 1.0f, 1.0f},
        {"hard_tanh", DEFAULTS, -1.0f, 1.0f},
        {"hard_sigmoid", DEFAULTS, 3.0f, 0.0f},
        {"hard_sigmoid", DEFAULTS, -3.0f, 0.0f},
        {"hard_silu", DEFAULTS, 3.0f, 1.0f},
        {"threshold", DEFAULTS, 0.0f, 0.0f},
        {"hard_shrink", DEFAULTS, 0.5f, 0.0f},
    };
    for (size_t k = 0; k < sizeof points / sizeof *points; k++) {
        float g = grad_at(ctx, points[k].name, points[k].args, points[k].x);
        if (fabsf(g - points[k].grad) > 1e-6f)
            fail_msg("%s (point %zu) at %g: gradient %g, expected %g", points[k].name, k,
                     points[k].x, g, points[k].grad);
    }
}

/* The derivative op differentiates again in dy: with g = d sum(w * f(x)) / dx
 * = w * f'(x) from an inner tape, an outer tape gives d sum(g) / dw = f'(x). */
static void test_second_order_through_dy(void **state)
{
    kcl_context *ctx = *state;
    float xv[4] = {-1.5f, -0.2f, 0.4f, 2.0f}, wv[4] = {0.5f, -1.0f, 2.0f, 1.5f}, got[4];
    int64_t shape[1] = {4};
    kcl_tensor *x, *w, *y, *prod, *loss, *g, *outer_loss, *dw;
    kcl_tape *outer, *inner;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, xv, &x));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, wv, &w));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &outer));
    CHECK_OK(ctx, kcl_tape_watch(outer, w));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &inner));
    CHECK_OK(ctx, kcl_tape_watch(inner, x));
    CHECK_OK(ctx, kcl_activation(x, "sigmoid", NULL, &y));
    CHECK_OK(ctx, kcl_multiply(y, w, &prod));
    CHECK_OK(ctx, kcl_reduce_sum(prod, 0, NULL, 0, &loss));
    CHECK_OK(ctx, kcl_tape_gradient(inner, loss, 1, &x, &g));
    CHECK_OK(ctx, kcl_reduce_sum(g, 0, NULL, 0, &outer_loss));
    CHECK_OK(ctx, kcl_tape_gradient(outer, outer_loss, 1, &w, &dw));
    CHECK_OK(ctx, kcl_tensor_read(dw, got, 4));
    for (int i = 0; i < 4; i++) {
        double s = h_sigmoid_of(xv[i]);
        if (fabs(got[i] - s * (1 - s)) > 1e-6)
            fail_msg("second order at %g: %g, expected %g", xv[i], got[i], s * (1 - s));
    }
    kcl_tape_free(inner);
    kcl_tape_free(outer);
    kcl_tensor *all[] = {x, w, y, prod, loss, g, outer_loss, dw};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        kcl_tensor_free(all[i]);
}

/* --------------------------------------------------- along an axis -- */

typedef enum { ROW_SOFTMAX, ROW_LOG_SOFTMAX, ROW_SPARSEMAX } row_kind;

/* Keras' sparsemax: sort descending, k = |{j : z_j > (cumsum_j - 1) / j}|,
 * tau = (cumsum_k - 1) / k. */
static double h_sparsemax_tau(const double *x, size_t n)
{
    double *z = malloc(n * sizeof *z);
    memcpy(z, x, n * sizeof *z);
    for (size_t i = 1; i < n; i++)       /* insertion sort, descending */
        for (size_t j = i; j > 0 && z[j] > z[j - 1]; j--) {
            double t = z[j];
            z[j] = z[j - 1];
            z[j - 1] = t;
        }
    double cum = 0, support_sum = 0;
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        cum += z[j];
        if (z[j] - (cum - 1) / (double)(j + 1) > 0) {
            k = j + 1;
            support_sum = cum;
        }
    }
    free(z);
    return (support_sum - 1) / (double)k;
}

static void h_row(row_kind kind, const double *x, double *y, size_t n)
{
    double m = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, x[i]);
    for (size_t i = 0; i < n; i++)
        sum += exp(x[i] - m);
    double tau = kind == ROW_SPARSEMAX ? h_sparsemax_tau(x, n) : 0;
    for (size_t i = 0; i < n; i++) {
        if (kind == ROW_SOFTMAX)
            y[i] = exp(x[i] - m) / sum;
        else if (kind == ROW_LOG_SOFTMAX)
            y[i] = x[i] - m - log(sum);
        else
            y[i] = fmax(x[i] - tau, 0);
    }
}

typedef struct row_case {
    row_kind kind;
    const char *name;
    int rank;
    int64_t shape[3];
    int axis;                    /* as given to kcl (0: the default, -1) */
} row_case;

/* The tensor as [outer, len, inner] around axis (from 0). */
static void split(const row_case *c, int axis, size_t *outer, size_t *len, size_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= (size_t)c->shape[i];
    for (int i = axis + 1; i < c->rank; i++)
        *inner *= (size_t)c->shape[i];
    *len = (size_t)c->shape[axis];
}

static int axis_from_0(const row_case *c)
{
    int a = c->axis == 0 ? -1 : c->axis;
    return a < 0 ? a + c->rank : a;
}

/* Applies f to every row along the axis. */
static void for_rows(const row_case *c, const double *x, double *y)
{
    size_t outer, len, inner;
    split(c, axis_from_0(c), &outer, &len, &inner);
    double *rx = malloc(len * sizeof *rx), *ry = malloc(len * sizeof *ry);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            for (size_t k = 0; k < len; k++)
                rx[k] = x[(o * len + k) * inner + i];
            h_row(c->kind, rx, ry, len);
            for (size_t k = 0; k < len; k++)
                y[(o * len + k) * inner + i] = ry[k];
        }
    free(rx);
    free(ry);
}

static void row_host(const double *const *in, double *out, void *user)
{
    for_rows(user, in[0], out);
}

static kcl_status row_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    const row_case *c = user;
    kcl_activation_args a = {.axis = c->axis};
    return kcl_activation(in[0], c->name, &a, out);
}

/* Moves values off sparsemax's kinks (|x - tau| < 0.06) so that finite
 * differences do not cross one; returns nonzero when it could not. */
static int clear_sparsemax_kinks(const row_case *c, float *v)
{
    size_t outer, len, inner;
    split(c, axis_from_0(c), &outer, &len, &inner);
    double *row = malloc(len * sizeof *row);
    int dirty = 1;
    for (int pass = 0; pass < 50 && dirty; pass++) {
        dirty = 0;
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                for (size_t k = 0; k < len; k++)
                    row[k] = v[(o * len + k) * inner + i];
                double tau = h_sparsemax_tau(row, len);
                for (size_t k = 0; k < len; k++)
                    if (fabs(row[k] - tau) < 0.06) {
                        v[(o * len + k) * inner + i] += row[k] >= tau ? 0.15f : -0.15f;
                        dirty = 1;
                    }
            }
    }
    free(row);
    return dirty;
}

static void test_axis_activations(void **state)
{
    kcl_context *ctx = *state;
    static const char *names[] = {"softmax", "log_softmax", "sparsemax"};
    static const int axes[] = {-3, 1, 0, 2};     /* the first, the middle, the default, the last */
    for (int kind = 0; kind < 3; kind++)
        for (size_t a = 0; a < sizeof axes / sizeof *axes; a++) {
            row_case c = {(row_kind)kind, names[kind], 3, {3, 4, 5}, axes[a]};
            float *v = test_random(60, 40 + 10 * (size_t)kind + a);
            for (int i = 0; i < 60; i++)
                v[i] *= 2.0f;
            if (kind == ROW_SPARSEMAX && clear_sparsemax_kinks(&c, v))
                fail_msg("sparsemax: could not keep the inputs off the kinks");
            char name[64];
            snprintf(name, sizeof name, "%s axis %d", c.name, c.axis);
            gc_case g = {.name = name, .n_in = 1, .device = row_device, .host = row_host,
                         .user = &c};
            g.in[0].rank = 3;
            memcpy(g.in[0].shape, c.shape, sizeof c.shape);
            g.in[0].values = v;
            gradcheck(ctx, &g);
            free(v);
        }
}

/* Rows of ±1e4 stay finite and exact; a NaN spoils only its own row. */
static void test_axis_extremes(void **state)
{
    kcl_context *ctx = *state;
    float x[8] = {1e4f, -1e4f, 0.0f, 1e4f, 0.5f, NAN, 1.0f, 2.0f}, y[8];
    int64_t shape[2] = {2, 4};
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, x, &t));
    static const char *names[] = {"softmax", "log_softmax", "sparsemax"};
    for (int kind = 0; kind < 3; kind++) {
        kcl_tensor *out;
        CHECK_OK(ctx, kcl_activation(t, names[kind], NULL, &out));
        CHECK_OK(ctx, kcl_tensor_read(out, y, 8));
        kcl_tensor_free(out);
        double row[4], want[4];
        for (int i = 0; i < 4; i++)
            row[i] = x[i];
        h_row((row_kind)kind, row, want, 4);
        for (int i = 0; i < 4; i++)
            if (!isfinite(y[i]) || !gc_close(y[i], want[i], 1e-5, 1e-6))
                fail_msg("%s at %g: %.9g, reference %.9g", names[kind], x[i], y[i], want[i]);
        for (int i = 4; i < 8; i++)
            if (!isnan(y[i]))
                fail_msg("%s: a row with NaN gave %g", names[kind], y[i]);
    }
    kcl_tensor_free(t);
}

/* ---------------------------------------------------------------- glu -- */

typedef struct glu_case {
    int rank;
    int64_t shape[3];
    int axis;
} glu_case;

static kcl_status glu_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    const glu_case *c = user;
    kcl_activation_args a = {.axis = c->axis};
    return kcl_activation(in[0], "glu", &a, out);
}

/* a * sigmoid(b) with a, b the halves of x along the axis. */
static void glu_host(const double *const *in, double *out, void *user)
{
    const glu_case *c = user;
    int axis = c->axis == 0 ? c->rank - 1 : c->axis < 0 ? c->axis + c->rank : c->axis;
    size_t outer = 1, inner = 1, half = (size_t)c->shape[axis] / 2;
    for (int i = 0; i < axis; i++)
        outer *= (size_t)c->shape[i];
    for (int i = axis + 1; i < c->rank; i++)
        inner *= (size_t)c->shape[i];
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < half; j++)
            for (size_t i = 0; i < inner; i++) {
                double a = in[0][(o * 2 * half + j) * inner + i];
                double b = in[0][(o * 2 * half + j + half) * inner + i];
                out[(o * half + j) * inner + i] = a / (1 + exp(-b));
            }
}

static void test_glu(void **state)
{
    kcl_context *ctx = *state;
    static const glu_case glus[] = {{2, {3, 6}, 0}, {2, {4, 3}, -2}, {3, {2, 4, 3}, 1}};
    for (size_t k = 0; k < sizeof glus / sizeof *glus; k++) {
        gc_case g = {.name = "glu", .n_in = 1, .device = glu_device, .host = glu_host,
                     .user = (void *)&glus[k]};
        g.in[0].rank = glus[k].rank;
        memcpy(g.in[0].shape, glus[k].shape, sizeof glus[k].shape);
        float *v = test_random(gc_count(&g.in[0]), 70 + k);
        for (size_t i = 0; i < gc_count(&g.in[0]); i++)
            v[i] *= 3.0f;
        g.in[0].values = v;
        gradcheck(ctx, &g);
        free(v);
    }
}

/* ------------------------------------------------------------- errors -- */

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    int64_t odd[2] = {3, 5}, cube[3] = {2, 3, 4};
    kcl_tensor *t, *c, *out = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, odd, &t));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 3, cube, &c));

    assert_int_equal(kcl_activation(t, "rellu", NULL, &out), KCL_ERR_NAME);
    assert_null(out);
    const char *msg = kcl_errmsg(ctx);
    assert_non_null(strstr(msg, "rellu"));
    assert_non_null(strstr(msg, "relu"));
    assert_non_null(strstr(msg, "sparsemax"));
    assert_non_null(strstr(msg, "hard_swish"));
    assert_int_equal(kcl_activation(t, NULL, NULL, &out), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_activation(NULL, "relu", NULL, &out), KCL_ERR_ARGUMENT);

    assert_int_equal(kcl_activation(t, "glu", NULL, &out), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "glu"));
    assert_non_null(strstr(kcl_errmsg(ctx), "[3, 5]"));
    assert_null(out);

    static const char *axis_ops[] = {"softmax", "log_softmax", "sparsemax", "glu"};
    for (size_t k = 0; k < 4; k++) {
        kcl_activation_args a = {.axis = 3};
        assert_int_not_equal(kcl_activation(c, axis_ops[k], &a, &out), KCL_OK);
        assert_non_null(strstr(kcl_errmsg(ctx), axis_ops[k]));
        a.axis = -4;
        assert_int_not_equal(kcl_activation(c, axis_ops[k], &a, &out), KCL_OK);
        assert_null(out);
    }
    kcl_tensor_free(t);
    kcl_tensor_free(c);
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
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_edge_values),
        cmocka_unit_test(test_kink_gradients),
        cmocka_unit_test(test_second_order_through_dy),
        cmocka_unit_test(test_axis_activations),
        cmocka_unit_test(test_axis_extremes),
        cmocka_unit_test(test_glu),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

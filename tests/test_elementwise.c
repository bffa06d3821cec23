/* test_elementwise: unary and broadcasting binary ops, forward against a
 * double reference and gradients against finite differences (gradcheck.h). */
#include "gradcheck.h"

/* ------------------------------------------------------------ binary ops -- */

typedef struct binary_case {
    kcl_status (*device)(kcl_tensor *, kcl_tensor *, kcl_tensor **);
    double (*host)(double, double);
    /* shapes of a, b and the broadcast output */
    int ra, rb, ry;
    int64_t sa[4], sb[4], sy[4];
} binary_case;

static const binary_case *current_binary;

static kcl_status binary_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return current_binary->device(in[0], in[1], out);
}

/* Index of the broadcast input element for output index i. */
static size_t source_index(size_t i, int ry, const int64_t *sy, int r, const int64_t *s)
{
    size_t idx = 0, stride = 1;
    for (int k = ry - 1; k >= 0; k--) {
        size_t c = i % (size_t)sy[k];
        i /= (size_t)sy[k];
        int kk = r - ry + k;
        if (kk >= 0) {
            if (s[kk] != 1)
                idx += c * stride;
            stride *= (size_t)s[kk];
        }
    }
    return idx;
}

static void binary_host(const double *const *in, double *out, void *user)
{
    (void)user;
    const binary_case *b = current_binary;
    size_t n = 1;
    for (int k = 0; k < b->ry; k++)
        n *= (size_t)b->sy[k];
    for (size_t i = 0; i < n; i++)
        out[i] = b->host(in[0][source_index(i, b->ry, b->sy, b->ra, b->sa)],
                         in[1][source_index(i, b->ry, b->sy, b->rb, b->sb)]);
}

static double h_add(double a, double b) { return a + b; }
static double h_sub(double a, double b) { return a - b; }
static double h_mul(double a, double b) { return a * b; }
static double h_div(double a, double b) { return a / b; }
static double h_max(double a, double b) { return a > b ? a : b; }
static double h_min(double a, double b) { return a < b ? a : b; }
static double h_gt(double a, double b) { return a > b; }
static double h_le(double a, double b) { return a <= b; }
static double h_eq(double a, double b) { return a == b; }

static void run_binary(kcl_context *ctx, const char *name, const binary_case *b, int grad)
{
    current_binary = b;
    gc_case c = {.name = name, .n_in = 2, .device = binary_device, .host = binary_host,
                 .forward_only = !grad};
    c.in[0].rank = b->ra;
    c.in[1].rank = b->rb;
    memcpy(c.in[0].shape, b->sa, sizeof b->sa);
    memcpy(c.in[1].shape, b->sb, sizeof b->sb);
    float *va = test_random(gc_count(&c.in[0]), 11), *vb = test_random(gc_count(&c.in[1]), 12);
    /* Keep divisors away from 0 and max/min operands apart (no ties). */
    for (size_t i = 0; i < gc_count(&c.in[1]); i++)
        vb[i] = vb[i] >= 0 ? vb[i] + 0.5f : vb[i] - 0.5f;
    c.in[0].values = va;
    c.in[1].values = vb;
    gradcheck(ctx, &c);
    free(va);
    free(vb);
}

static void test_binary_broadcasting(void **state)
{
    kcl_context *ctx = *state;
    static const struct { const char *name; kcl_status (*d)(kcl_tensor *, kcl_tensor *, kcl_tensor **);
                          double (*h)(double, double); int grad; } ops[] = {
        {"add", kcl_add, h_add, 1}, {"subtract", kcl_subtract, h_sub, 1},
        {"multiply", kcl_multiply, h_mul, 1}, {"divide", kcl_divide, h_div, 1},
        {"maximum", kcl_maximum, h_max, 1}, {"minimum", kcl_minimum, h_min, 1},
        {"greater", kcl_greater, h_gt, 0}, {"less_equal", kcl_less_equal, h_le, 0},
        {"equal", kcl_equal, h_eq, 0}};
    static const binary_case shapes[] = {
        {NULL, NULL, 2, 2, 2, {3, 4}, {3, 4}, {3, 4}},
        {NULL, NULL, 2, 1, 2, {3, 4}, {4}, {3, 4}},
        {NULL, NULL, 3, 2, 3, {2, 1, 4}, {3, 1}, {2, 3, 4}},
        {NULL, NULL, 0, 2, 2, {0}, {2, 3}, {2, 3}},
        {NULL, NULL, 2, 2, 2, {1, 5}, {4, 1}, {4, 5}},
    };
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            binary_case b = shapes[s];
            b.device = ops[o].d;
            b.host = ops[o].h;
            run_binary(ctx, ops[o].name, &b, ops[o].grad);
        }
}

static void test_binary_errors(void **state)
{
    kcl_context *ctx = *state;
    int64_t s1[2] = {3, 4}, s2[2] = {2, 4};
    kcl_tensor *a, *b, *out = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s1, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s2, &b));
    assert_int_equal(kcl_add(a, b, &out), KCL_ERR_SHAPE);
    assert_null(out);
    const char *msg = kcl_errmsg(ctx);
    assert_non_null(strstr(msg, "add"));
    assert_non_null(strstr(msg, "[3, 4]"));
    assert_non_null(strstr(msg, "[2, 4]"));
    assert_int_equal(kcl_multiply(a, NULL, &out), KCL_ERR_ARGUMENT);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
}

static void test_empty_and_nan(void **state)
{
    kcl_context *ctx = *state;
    int64_t empty[2] = {0, 3}, row[1] = {3};
    float v[3] = {NAN, 1.0f, -2.0f}, w[3] = {0.0f, NAN, 5.0f}, out[3];
    kcl_tensor *e, *r, *s, *x, *y, *m;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, empty, &e));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, row, v, &r));
    CHECK_OK(ctx, kcl_add(e, r, &s));
    assert_int_equal(kcl_tensor_size(s), 0);
    assert_int_equal(kcl_tensor_shape(s)[0], 0);
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, row, w, &x));
    CHECK_OK(ctx, kcl_maximum(r, x, &m));
    CHECK_OK(ctx, kcl_tensor_read(m, out, 3));
    assert_true(isnan(out[0]) && isnan(out[1]) && out[2] == 5.0f);
    CHECK_OK(ctx, kcl_exp(r, &y));
    CHECK_OK(ctx, kcl_tensor_read(y, out, 3));
    assert_true(isnan(out[0]));
    kcl_tensor_free(y);
    CHECK_OK(ctx, kcl_clip(r, -1.0f, 1.0f, &y));
    CHECK_OK(ctx, kcl_tensor_read(y, out, 3));
    assert_true(isnan(out[0]) && out[1] == 1.0f && out[2] == -1.0f);
    kcl_tensor *bad = NULL;
    assert_int_equal(kcl_clip(r, 1.0f, -1.0f, &bad), KCL_ERR_ARGUMENT);
    kcl_tensor_free(e); kcl_tensor_free(r); kcl_tensor_free(s); kcl_tensor_free(x);
    kcl_tensor_free(y); kcl_tensor_free(m);
}

/* ------------------------------------------------------------- unary ops -- */

typedef struct unary_case {
    const char *name;
    kcl_status (*device)(kcl_tensor *, float, float, kcl_tensor **);
    double (*host)(double, double, double);
    float p, q;
    float lo, hi;                /* inputs drawn from [lo, hi] */
} unary_case;

static const unary_case *current_unary;

static kcl_status unary_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return current_unary->device(in[0], current_unary->p, current_unary->q, out);
}

static void unary_host(const double *const *in, double *out, void *user)
{
    size_t n = *(size_t *)user;
    for (size_t i = 0; i < n; i++)
        out[i] = current_unary->host(in[0][i], current_unary->p, current_unary->q);
}

static kcl_status d_neg(kcl_tensor *x, float p, float q, kcl_tensor **o) { (void)p; (void)q; return kcl_negative(x, o); }
static kcl_status d_square(kcl_tensor *x, float p, float q, kcl_tensor **o) { (void)p; (void)q; return kcl_square(x, o); }
static kcl_status d_sqrt(kcl_tensor *x, float p, float q, kcl_tensor **o) { (void)p; (void)q; return kcl_sqrt(x, o); }
static kcl_status d_exp(kcl_tensor *x, float p, float q, kcl_tensor **o) { (void)p; (void)q; return kcl_exp(x, o); }
static kcl_status d_log(kcl_tensor *x, float p, float q, kcl_tensor **o) { (void)p; (void)q; return kcl_log(x, o); }
static kcl_status d_abs(kcl_tensor *x, float p, float q, kcl_tensor **o) { (void)p; (void)q; return kcl_abs(x, o); }
static kcl_status d_pow(kcl_tensor *x, float p, float q, kcl_tensor **o) { (void)q; return kcl_power(x, p, o); }
static kcl_status d_ss(kcl_tensor *x, float p, float q, kcl_tensor **o) { return kcl_scale_shift(x, p, q, o); }
static kcl_status d_clip(kcl_tensor *x, float p, float q, kcl_tensor **o) { return kcl_clip(x, p, q, o); }

static double h_neg(double x, double p, double q) { (void)p; (void)q; return -x; }
static double h_square(double x, double p, double q) { (void)p; (void)q; return x * x; }
static double h_sqrt(double x, double p, double q) { (void)p; (void)q; return sqrt(x); }
static double h_exp(double x, double p, double q) { (void)p; (void)q; return exp(x); }
static double h_log(double x, double p, double q) { (void)p; (void)q; return log(x); }
static double h_abs(double x, double p, double q) { (void)p; (void)q; return fabs(x); }
static double h_pow(double x, double p, double q) { (void)q; return pow(x, p); }
static double h_ss(double x, double p, double q) { return x * p + q; }
static double h_clip(double x, double p, double q) { return x < p ? p : x > q ? q : x; }

static void test_unary(void **state)
{
    kcl_context *ctx = *state;
    static const unary_case cases[] = {
        {"negative", d_neg, h_neg, 0, 0, -3, 3},
        {"square", d_square, h_square, 0, 0, -3, 3},
        {"sqrt", d_sqrt, h_sqrt, 0, 0, 0.1f, 4},
        {"exp", d_exp, h_exp, 0, 0, -4, 4},
        {"log", d_log, h_log, 0, 0, 0.1f, 5},
        {"abs", d_abs, h_abs, 0, 0, -3, 3},
        {"power 3", d_pow, h_pow, 3, 0, -2, 2},
        {"power 0.5", d_pow, h_pow, 0.5f, 0, 0.1f, 4},
        {"scale_shift", d_ss, h_ss, -1.5f, 0.25f, -3, 3},
        {"clip", d_clip, h_clip, -0.5f, 0.7f, -2, 2},
    };
    int64_t shape[2] = {5, 7};
    size_t n = 35;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        current_unary = &cases[k];
        float *v = test_random(n, 100 + k);
        for (size_t i = 0; i < n; i++) {
            v[i] = cases[k].lo + (v[i] + 1) * 0.5f * (cases[k].hi - cases[k].lo);
            /* stay off the kinks of abs and clip */
            if (fabsf(v[i]) < 0.05f || fabsf(v[i] - cases[k].p) < 0.05f || fabsf(v[i] - cases[k].q) < 0.05f)
                v[i] += 0.11f;
        }
        gc_case c = {.name = cases[k].name, .n_in = 1, .device = unary_device,
                     .host = unary_host, .user = &n};
        c.in[0].rank = 2;
        memcpy(c.in[0].shape, shape, sizeof shape);
        c.in[0].values = v;
        gradcheck(ctx, &c);
        free(v);
    }
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
        cmocka_unit_test(test_binary_broadcasting),
        cmocka_unit_test(test_binary_errors),
        cmocka_unit_test(test_empty_and_nan),
        cmocka_unit_test(test_unary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_reduce: reduce_sum, reduce_mean and reduce_max over any axes, forward
 * against a plain-C double reference and gradients against finite
 * differences (gradcheck.h). The shapes cover both of kcl's plans: one pass
 * (many outputs, or few elements each) and two passes (few outputs of many
 * elements, split into parts and reduced again), contiguous and strided. */
#include "gradcheck.h"

typedef enum { SUM, MEAN, MAX } reduce_kind;

typedef struct reduce_case {
    const char *name;
    reduce_kind kind;
    int rank;
    int64_t shape[3];
    int n_axes;                  /* 0: every axis */
    int axes[3];
    int keepdims;
} reduce_case;

static const reduce_case *current;

static kcl_status device_fn(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    const reduce_case *c = current;
    switch (c->kind) {
    case SUM: return kcl_reduce_sum(in[0], (size_t)c->n_axes, c->axes, c->keepdims, out);
    case MEAN: return kcl_reduce_mean(in[0], (size_t)c->n_axes, c->axes, c->keepdims, out);
    default: return kcl_reduce_max(in[0], (size_t)c->n_axes, c->axes, c->keepdims, out);
    }
}

static int is_reduced(const reduce_case *c, int axis)
{
    if (c->n_axes == 0)
        return 1;
    for (int i = 0; i < c->n_axes; i++)
        if ((c->axes[i] + c->rank) % c->rank == axis)
            return 1;
    return 0;
}

/* Walks every input element and folds it into its output element. */
static void host_fn(const double *const *in, double *out, void *user)
{
    (void)user;
    const reduce_case *c = current;
    size_t n_out = 1, n_in = 1, count = 1;
    for (int a = 0; a < c->rank; a++) {
        n_in *= (size_t)c->shape[a];
        if (is_reduced(c, a))
            count *= (size_t)c->shape[a];
        else
            n_out *= (size_t)c->shape[a];
    }
    for (size_t o = 0; o < n_out; o++)
        out[o] = c->kind == MAX ? -INFINITY : 0.0;
    for (size_t i = 0; i < n_in; i++) {
        size_t rest = i, o = 0, scale = 1;
        for (int a = c->rank - 1; a >= 0; a--) {
            size_t coord = rest % (size_t)c->shape[a];
            rest /= (size_t)c->shape[a];
            if (!is_reduced(c, a)) {
                o += coord * scale;
                scale *= (size_t)c->shape[a];
            }
        }
        double v = in[0][i];
        if (c->kind == MAX)
            out[o] = (isnan(v) || isnan(out[o])) ? NAN : fmax(out[o], v);
        else
            out[o] += v;
    }
    if (c->kind == MEAN)
        for (size_t o = 0; o < n_out; o++)
            out[o] /= (double)count;
}

static void run(kcl_context *ctx, const reduce_case *c, int with_gradient)
{
    current = c;
    size_t n = 1;
    for (int a = 0; a < c->rank; a++)
        n *= (size_t)c->shape[a];
    float *v = test_random(n, 31 + n);
    if (c->kind == MAX)   /* distinct values, gaps well above the step: no ties */
        for (size_t i = 0; i < n; i++)
            v[i] = -1.0f + 2.0f * (float)((i * 7919) % n) / (float)n;
    gc_case g = {.name = c->name, .n_in = 1, .device = device_fn, .host = host_fn,
                 .forward_only = !with_gradient, .fwd_atol = 1e-4, .fwd_rtol = 1e-5,
                 .step = c->kind == MAX ? 1e-4 : 0};
    g.in[0].rank = c->rank;
    memcpy(g.in[0].shape, c->shape, sizeof c->shape);
    g.in[0].values = v;
    gradcheck(ctx, &g);
    free(v);
}

static void test_one_and_two_passes(void **state)
{
    kcl_context *ctx = *state;
    static const reduce_case cases[] = {
        {"sum of all, one pass", SUM, 2, {5, 7}, 0, {0}, 0},
        {"sum axis 1 keepdims, one pass", SUM, 2, {5, 7}, 1, {1}, 1},
        {"sum of all, two passes", SUM, 2, {7, 1000}, 0, {0}, 0},
        {"mean axis 1, two passes", MEAN, 2, {3, 2500}, 1, {-1}, 0},
        {"sum axis 0 (strided), two passes", SUM, 2, {1500, 2}, 1, {0}, 0},
        {"max axes 0 and 2, two passes", MAX, 3, {40, 3, 30}, 2, {0, 2}, 0},
        {"mean of all, uneven parts", MEAN, 1, {4099}, 0, {0}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        run(ctx, &cases[k], 1);
}

/* Sums of many terms stay accurate (compensated in both passes). */
static void test_long_sum_accuracy(void **state)
{
    kcl_context *ctx = *state;
    int64_t n = test_on_simulator(ctx) ? 20000 : 1 << 20;
    float *v = malloc((size_t)n * sizeof *v);
    double want = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = 0.1f + (float)(i % 7) * 1e-3f;
        want += v[i];
    }
    kcl_tensor *t, *s;
    float got;
    kcl_queue_stats before, after;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &n, v, &t));
    CHECK_OK(ctx, kcl_queue_stats_get(ctx, &before));
    CHECK_OK(ctx, kcl_reduce_sum(t, 0, NULL, 0, &s));
    CHECK_OK(ctx, kcl_queue_stats_get(ctx, &after));
    assert_int_equal(after.kernels - before.kernels, 2);   /* parts, then their sum */
    CHECK_OK(ctx, kcl_tensor_read(s, &got, 1));
    assert_true(fabs(got - want) <= 1e-6 * want);
    kcl_tensor_free(s);
    kcl_tensor_free(t);
    free(v);
}

/* A NaN anywhere, whichever part holds it, makes the maximum NaN. */
static void test_max_nan_in_any_part(void **state)
{
    kcl_context *ctx = *state;
    int64_t n = 3000;
    float *v = test_random((size_t)n, 5);
    kcl_tensor *t, *m;
    float got;
    for (int64_t at = 0; at < n; at += 997) {
        float keep = v[at];
        v[at] = NAN;
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &n, v, &t));
        CHECK_OK(ctx, kcl_reduce_max(t, 0, NULL, 0, &m));
        CHECK_OK(ctx, kcl_tensor_read(m, &got, 1));
        assert_true(isnan(got));
        kcl_tensor_free(m);
        kcl_tensor_free(t);
        v[at] = keep;
    }
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
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_and_two_passes),
        cmocka_unit_test(test_long_sum_accuracy),
        cmocka_unit_test(test_max_nan_in_any_part),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

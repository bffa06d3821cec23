/* test_matmul: kcl_matmul (NumPy semantics: broadcast batches, rank-1
 * promotion, k = 0) and kcl_bias_add, forward against a double reference and
 * gradients against finite differences (gradcheck.h); second-order gradients
 * through the transposed products; offline mode's own kernel; errors. */
#include <dirent.h>
#include <unistd.h>

#include "gradcheck.h"

/* ------------------------------------------------------------ reference -- */

typedef struct mm_case {
    int ra, rb;
    int64_t sa[4], sb[4];
} mm_case;

static const mm_case *current;

/* NumPy's promotion: a [k] is [1, k] and b [k] is [k, 1]. */
static void promoted(int r, const int64_t *s, int is_a, int *rp, int64_t *sp)
{
    if (r >= 2) {
        *rp = r;
        memcpy(sp, s, (size_t)r * sizeof *s);
    } else {
        *rp = 2;
        sp[0] = is_a ? 1 : s[0];
        sp[1] = is_a ? s[0] : 1;
    }
}

/* Offset of matrix `batch` (an index into the output's batch axes, of rank
 * nb and shape bs) in an operand of rank r and shape s, broadcasting. */
static size_t matrix_offset(size_t batch, int nb, const int64_t *bs, int r, const int64_t *s)
{
    size_t off = 0, stride = (size_t)(s[r - 1] * s[r - 2]);
    for (int i = nb - 1; i >= 0; i--) {
        size_t idx = batch % (size_t)bs[i];
        batch /= (size_t)bs[i];
        int it = r - 2 - nb + i;
        if (it >= 0) {
            if (s[it] != 1)
                off += idx * stride;
            stride *= (size_t)s[it];
        }
    }
    return off;
}

static void host_matmul(const double *const *in, double *out, void *user)
{
    (void)user;
    int ra, rb;
    int64_t sa[6], sb[6], bs[6];
    promoted(current->ra, current->sa, 1, &ra, sa);
    promoted(current->rb, current->sb, 0, &rb, sb);
    int r = ra > rb ? ra : rb, nb = r - 2;
    size_t batches = 1;
    for (int i = 0; i < nb; i++) {
        int ia = ra - r + i, ib = rb - r + i;
        int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
        bs[i] = da == 1 ? db : da;
        batches *= (size_t)bs[i];
    }
    size_t m = (size_t)sa[ra - 2], k = (size_t)sa[ra - 1], n = (size_t)sb[rb - 1];
    for (size_t t = 0; t < batches; t++) {
        const double *a = in[0] + matrix_offset(t, nb, bs, ra, sa);
        const double *b = in[1] + matrix_offset(t, nb, bs, rb, sb);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double sum = 0;
                for (size_t p = 0; p < k; p++)
                    sum += a[i * k + p] * b[p * n + j];
                out[(t * m + i) * n + j] = sum;
            }
    }
}

static kcl_status device_matmul(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return kcl_matmul(in[0], in[1], out);
}

static void run_case(kcl_context *ctx, const mm_case *mc, int grad, double tol)
{
    current = mc;
    char name[128];
    snprintf(name, sizeof name, "matmul rank %d x rank %d [%lld ...] x [%lld ...]", mc->ra, mc->rb,
             (long long)mc->sa[0], (long long)mc->sb[0]);
    gc_case c = {.name = name, .n_in = 2, .device = device_matmul, .host = host_matmul,
                 .forward_only = !grad, .fwd_atol = tol, .fwd_rtol = tol};
    c.in[0].rank = mc->ra;
    c.in[1].rank = mc->rb;
    memcpy(c.in[0].shape, mc->sa, sizeof mc->sa);
    memcpy(c.in[1].shape, mc->sb, sizeof mc->sb);
    float *va = test_random(gc_count(&c.in[0]), 21), *vb = test_random(gc_count(&c.in[1]), 22);
    c.in[0].values = va;
    c.in[1].values = vb;
    gradcheck(ctx, &c);
    free(va);
    free(vb);
}

/* The output shape kcl gives must be NumPy's. */
static void check_shape(kcl_context *ctx, const mm_case *mc, int rank, const int64_t *want)
{
    kcl_tensor *a, *b, *y;
    CHECK_OK(ctx, kcl_tensor_create(ctx, mc->ra, mc->sa, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, mc->rb, mc->sb, &b));
    CHECK_OK(ctx, kcl_matmul(a, b, &y));
    assert_int_equal(kcl_tensor_rank(y), rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(kcl_tensor_shape(y)[i], want[i]);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
    kcl_tensor_free(y);
}

/* ---------------------------------------------------------------- tests -- */

static const mm_case small_cases[] = {
    {2, 2, {7, 5}, {5, 3}},
    {2, 2, {1, 1}, {1, 1}},
    {3, 3, {2, 3, 4}, {2, 4, 5}},
    {2, 3, {3, 4}, {2, 4, 5}},          /* a broadcast over b's batch */
    {3, 2, {2, 3, 4}, {4, 5}},          /* one product of 6 rows */
    {1, 2, {4}, {4, 3}},
    {2, 1, {3, 4}, {4}},
    {1, 1, {4}, {4}},                   /* a scalar */
    {1, 3, {4}, {2, 4, 5}},
    {3, 1, {2, 3, 4}, {4}},
    {4, 3, {2, 1, 3, 4}, {5, 4, 2}},    /* both broadcast: [2, 5, 3, 2] */
    {4, 4, {2, 3, 2, 3}, {1, 3, 3, 2}},
};

static void test_forward_and_gradients(void **state)
{
    kcl_context *ctx = *state;
    for (size_t i = 0; i < sizeof small_cases / sizeof *small_cases; i++)
        run_case(ctx, &small_cases[i], 1, 1e-5);
}

static void test_output_shapes(void **state)
{
    kcl_context *ctx = *state;
    check_shape(ctx, &(mm_case){1, 2, {4}, {4, 3}}, 1, (int64_t[]){3});
    check_shape(ctx, &(mm_case){2, 1, {3, 4}, {4}}, 1, (int64_t[]){3});
    check_shape(ctx, &(mm_case){1, 1, {4}, {4}}, 0, NULL);
    check_shape(ctx, &(mm_case){1, 3, {4}, {2, 4, 5}}, 2, (int64_t[]){2, 5});
    check_shape(ctx, &(mm_case){4, 3, {2, 1, 3, 4}, {5, 4, 2}}, 4, (int64_t[]){2, 5, 3, 2});
    check_shape(ctx, &(mm_case){2, 2, {0, 3}, {3, 2}}, 2, (int64_t[]){0, 2});
}

/* k = 0 gives zeros (sums of nothing), whatever the pool's buffer held. */
static void test_empty_inner(void **state)
{
    kcl_context *ctx = *state;
    static const mm_case cases[] = {
        {2, 2, {3, 0}, {0, 4}},
        {3, 2, {2, 3, 0}, {0, 2}},
        {2, 2, {0, 3}, {3, 2}},
        {3, 2, {0, 2, 3}, {3, 4}},
        {1, 1, {0}, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(ctx, &cases[i], 1, 1e-5);
}

/* Sizes where CLBlast takes its tiled (indirect) kernels, with padding. */
static void test_large(void **state)
{
    kcl_context *ctx = *state;
    int sim = test_on_simulator(ctx);
    const mm_case big[] = {
        {3, 3, {2, 130, 140}, {2, 140, 120}},
        {3, 2, {3, 70, 129}, {129, 65}},
        {4, 3, {3, 1, 67, 90}, {2, 90, 33}},
    };
    const mm_case medium[] = {
        {3, 3, {2, 9, 17}, {2, 17, 6}},
        {3, 2, {3, 5, 17}, {17, 6}},
        {4, 3, {3, 1, 5, 8}, {2, 8, 4}},
    };
    for (size_t i = 0; i < 3; i++)
        run_case(ctx, sim ? &medium[i] : &big[i], 0, 1e-4);
    const mm_case grad = {3, 2, {2, 11, 20}, {20, 9}};
    run_case(ctx, &grad, 1, 1e-5);
    /* dA = G·Bᵀ with an inner dimension above 32, past which kcl's kernel
     * transposes B in a separate pass (once: B is shared by the batch). */
    const mm_case wide = {3, 2, {2, 3, 5}, {5, 40}};
    run_case(ctx, &wide, 1, 1e-5);
    /* the same with a B per batch: one transpose launch for both matrices */
    const mm_case wide_batched = {3, 3, {2, 3, 5}, {2, 5, 40}};
    run_case(ctx, &wide_batched, 1, 1e-5);
    /* dB = Aᵀ·G with 6 columns, kcl's row-wise kernel for few columns, per batch */
    const mm_case narrow_batched = {3, 3, {2, 20, 9}, {2, 9, 6}};
    run_case(ctx, &narrow_batched, 1, 1e-5);
}

/* Second order through the flagged products: with L = sum(W * (A·B)),
 * dL/dA = W·Bᵀ, and d/dB sum(V * dL/dA) = Vᵀ·W. */
static void test_second_order(void **state)
{
    kcl_context *ctx = *state;
    enum { M = 3, K = 4, N = 5 };
    int64_t sa[2] = {M, K}, sb[2] = {K, N}, sw[2] = {M, N}, sv[2] = {M, K};
    float *a = test_random(M * K, 1), *b = test_random(K * N, 2), *w = test_random(M * N, 3),
          *v = test_random(M * K, 4), got[K * N];
    kcl_tensor *ta, *tb, *tw, *tv, *y, *wy, *l, *ga, *vg, *l2, *gb;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sa, a, &ta));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sb, b, &tb));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sw, w, &tw));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sv, v, &tv));
    kcl_tape *outer, *inner;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &outer));
    CHECK_OK(ctx, kcl_tape_watch(outer, tb));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &inner));
    CHECK_OK(ctx, kcl_tape_watch(inner, ta));
    CHECK_OK(ctx, kcl_matmul(ta, tb, &y));
    CHECK_OK(ctx, kcl_multiply(y, tw, &wy));
    CHECK_OK(ctx, kcl_reduce_sum(wy, 0, NULL, 0, &l));
    CHECK_OK(ctx, kcl_tape_gradient(inner, l, 1, &ta, &ga));
    CHECK_OK(ctx, kcl_multiply(ga, tv, &vg));
    CHECK_OK(ctx, kcl_reduce_sum(vg, 0, NULL, 0, &l2));
    CHECK_OK(ctx, kcl_tape_gradient(outer, l2, 1, &tb, &gb));
    CHECK_OK(ctx, kcl_tensor_read(gb, got, K * N));
    for (int j = 0; j < K; j++)
        for (int n = 0; n < N; n++) {
            double want = 0;
            for (int i = 0; i < M; i++)
                want += (double)v[i * K + j] * w[i * N + n];
            assert_true(fabs(got[j * N + n] - want) <= 1e-5 + 1e-5 * fabs(want));
        }
    kcl_tape_free(inner);
    kcl_tape_free(outer);
    kcl_tensor *all[] = {ta, tb, tw, tv, y, wy, l, ga, vg, l2, gb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        kcl_tensor_free(all[i]);
    free(a); free(b); free(w); free(v);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Offline mode multiplies with kcl's own kernel, batch by batch. */
static void test_offline(void **state)
{
    kcl_context *ctx = *state;
    char dir[] = "/tmp/kcl-matmul-XXXXXX";
    assert_non_null(mkdtemp(dir));
    CHECK_OK(ctx, kcl_precompile(ctx, dir));
    kcl_context_options off = {.offline = 1, .binary_dir = dir, .disable_disk_cache = 1};
    kcl_context *octx;
    CHECK_OK(NULL, kcl_context_create(&octx, &off));
    static const mm_case cases[] = {
        {4, 3, {2, 1, 3, 4}, {5, 4, 2}},
        {3, 2, {2, 3, 4}, {4, 5}},
        {2, 3, {3, 4}, {2, 4, 5}},
        {2, 2, {3, 0}, {0, 4}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(octx, &cases[i], 1, 1e-5);
    kcl_context_free(octx);
    remove_dir(dir);
}

static void expect_error(kcl_context *ctx, const mm_case *mc, kcl_status want, const char *words)
{
    kcl_tensor *a, *b, *y = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, mc->ra, mc->sa, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, mc->rb, mc->sb, &b));
    assert_int_equal(kcl_matmul(a, b, &y), want);
    assert_null(y);
    const char *msg = kcl_errmsg(ctx);
    assert_non_null(strstr(msg, "matmul"));
    assert_non_null(strstr(msg, words));
    kcl_tensor_free(a);
    kcl_tensor_free(b);
}

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    expect_error(ctx, &(mm_case){2, 2, {3, 4}, {5, 2}}, KCL_ERR_SHAPE, "[3, 4] and [5, 2]");
    expect_error(ctx, &(mm_case){1, 1, {3}, {4}}, KCL_ERR_SHAPE, "[3] and [4]");
    expect_error(ctx, &(mm_case){3, 3, {2, 3, 4}, {3, 4, 5}}, KCL_ERR_SHAPE,
                 "[2, 3, 4] and [3, 4, 5] do not broadcast");
    expect_error(ctx, &(mm_case){0, 2, {0}, {3, 4}}, KCL_ERR_SHAPE, "rank >= 1");
    kcl_tensor *a, *y = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, (int64_t[]){2, 2}, &a));
    assert_int_equal(kcl_matmul(a, NULL, &y), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_matmul(NULL, a, &y), KCL_ERR_ARGUMENT);
    assert_null(y);
    kcl_tensor_free(a);
}

/* ------------------------------------------------------------ bias_add -- */

static int bias_rank;
static int64_t bias_shape[4];

static void host_bias_add(const double *const *in, double *out, void *user)
{
    (void)user;
    size_t n = 1, c = (size_t)bias_shape[bias_rank - 1];
    for (int i = 0; i < bias_rank; i++)
        n *= (size_t)bias_shape[i];
    for (size_t i = 0; i < n; i++)
        out[i] = in[0][i] + in[1][i % c];
}

static kcl_status device_bias_add(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return kcl_bias_add(in[0], in[1], out);
}

static void test_bias_add(void **state)
{
    kcl_context *ctx = *state;
    static const struct { int rank; int64_t shape[4]; } cases[] = {
        {2, {4, 3}}, {3, {2, 3, 5}}, {1, {5}}, {4, {2, 1, 2, 3}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        bias_rank = cases[k].rank;
        memcpy(bias_shape, cases[k].shape, sizeof bias_shape);
        gc_case c = {.name = "bias_add", .n_in = 2, .device = device_bias_add,
                     .host = host_bias_add};
        c.in[0].rank = bias_rank;
        memcpy(c.in[0].shape, bias_shape, sizeof bias_shape);
        c.in[1].rank = 1;
        c.in[1].shape[0] = bias_shape[bias_rank - 1];
        float *x = test_random(gc_count(&c.in[0]), 31), *b = test_random(gc_count(&c.in[1]), 32);
        c.in[0].values = x;
        c.in[1].values = b;
        gradcheck(ctx, &c);
        free(x);
        free(b);
    }
    kcl_tensor *x, *b, *b2, *y = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, (int64_t[]){4, 3}, &x));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, (int64_t[]){4}, &b));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, (int64_t[]){1, 3}, &b2));
    assert_int_equal(kcl_bias_add(x, b, &y), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "bias_add"));
    assert_non_null(strstr(kcl_errmsg(ctx), "[4]"));
    assert_non_null(strstr(kcl_errmsg(ctx), "[4, 3]"));
    assert_int_equal(kcl_bias_add(x, b2, &y), KCL_ERR_SHAPE);
    assert_int_equal(kcl_bias_add(x, NULL, &y), KCL_ERR_ARGUMENT);
    assert_null(y);
    kcl_tensor_free(x);
    kcl_tensor_free(b);
    kcl_tensor_free(b2);
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
        cmocka_unit_test(test_forward_and_gradients),
        cmocka_unit_test(test_output_shapes),
        cmocka_unit_test(test_empty_inner),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_second_order),
        cmocka_unit_test(test_offline),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bias_add),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

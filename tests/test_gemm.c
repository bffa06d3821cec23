/* test_gemm: kcl_gemm against a double-precision reference, every transpose
 * combination, alpha != 1 and beta != 0, with the engine the context chose
 * (meson runs it again with KCL_GEMM=clblast).
 *
 * Tolerance: each element's error is bounded relative to the sum of the
 * absolute values of its terms, |alpha| * sum_k |a_ik b_kj| + |beta c_ij|:
 * float32 accumulation in any order stays within k * 2^-24 of that sum, and we
 * allow 4 * (k + 2) * 2^-24 for the compiler's freedom (FMA, blocking). */
#include "common.h"

#include "../lib/internal.h"

typedef struct gemm_case {
    int m, n, k;
} gemm_case;

static void reference(int ta, int tb, int m, int n, int k, double alpha, const float *a,
                      const float *b, double beta, const float *c, double *out, double *mag)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0, abs_sum = 0;
            for (int p = 0; p < k; p++) {
                double av = ta ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
                double bv = tb ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
                sum += av * bv;
                abs_sum += fabs(av * bv);
            }
            out[(size_t)i * n + j] = alpha * sum + beta * c[(size_t)i * n + j];
            mag[(size_t)i * n + j] = fabs(alpha) * abs_sum + fabs(beta * c[(size_t)i * n + j]);
        }
}

static void run_case(kcl_context *ctx, int ta, int tb, gemm_case g, float alpha, float beta)
{
    size_t na = (size_t)g.m * g.k, nb = (size_t)g.k * g.n, nc = (size_t)g.m * g.n;
    float *a = test_random(na, 1 + g.m), *b = test_random(nb, 2 + g.n),
          *c = test_random(nc, 3 + g.k), *got = malloc((nc ? nc : 1) * sizeof *got);
    double *want = malloc((nc ? nc : 1) * sizeof *want), *mag = malloc((nc ? nc : 1) * sizeof *mag);
    int64_t sa[2] = {ta ? g.k : g.m, ta ? g.m : g.k};
    int64_t sb[2] = {tb ? g.n : g.k, tb ? g.k : g.n};
    int64_t sc[2] = {g.m, g.n};
    kcl_tensor *ta_t, *tb_t, *tc_t;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sa, a, &ta_t));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sb, b, &tb_t));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sc, c, &tc_t));
    CHECK_OK(ctx, kcl_gemm(ctx, ta, tb, alpha, ta_t, tb_t, beta, tc_t));
    CHECK_OK(ctx, kcl_tensor_read(tc_t, got, nc));
    reference(ta, tb, g.m, g.n, g.k, alpha, a, b, beta, c, want, mag);
    double tol = 4.0 * (g.k + 2) * ldexp(1.0, -24);
    for (size_t i = 0; i < nc; i++) {
        double err = fabs(got[i] - want[i]);
        if (!(err <= tol * mag[i] + 1e-30))
            fail_msg("%dx%dx%d trans %d%d alpha %g beta %g: C[%zu] = %.9g, want %.9g "
                     "(error %.3g > %.3g)",
                     g.m, g.n, g.k, ta, tb, alpha, beta, i, got[i], want[i], err, tol * mag[i]);
    }
    kcl_tensor_free(ta_t);
    kcl_tensor_free(tb_t);
    kcl_tensor_free(tc_t);
    free(a); free(b); free(c); free(got); free(want); free(mag);
}

/* For kcl's kernel (8 x 16 tiles, B transposed in private memory up to an
 * inner dimension of 32, by a separate transpose beyond): partial tiles in
 * both directions, n below 16 with rows of B read as vectors into the next
 * row ({20, 10, 40}), both ways of transposing B, several tiles per item. */
static const gemm_case cases[] = {
    {1, 1, 1}, {7, 13, 5}, {1000, 1, 3}, {1, 1000, 7}, {20, 10, 40}, {9, 20, 37},
    {128, 10, 128}, {513, 257, 129},
};
/* Under a simulator every work-item is interpreted: keep to the small shapes. */
static const gemm_case simulator_cases[] = {
    {1, 1, 1}, {7, 13, 5}, {33, 17, 9}, {20, 10, 40}, {9, 20, 37}};

static void each_case(void **state, float alpha, float beta)
{
    kcl_context *ctx = *state;
    int sim = test_on_simulator(ctx);
    const gemm_case *list = sim ? simulator_cases : cases;
    size_t count = sim ? sizeof simulator_cases / sizeof *simulator_cases
                       : sizeof cases / sizeof *cases;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t i = 0; i < count; i++)
                run_case(ctx, ta, tb, list[i], alpha, beta);
}

static void test_plain(void **state) { each_case(state, 1.0f, 0.0f); }
static void test_alpha_beta(void **state) { each_case(state, -0.75f, 1.5f); }

/* kcl's kernels pack both operands for large products (inner dimension
 * 1024, 256x256 outputs): one such product at its defaults, then every case
 * through the packed path (thresholds lowered by the test hook). */
static void test_packed(void **state)
{
    kcl_context *ctx = *state;
    if (!test_on_simulator(ctx))
        for (int ta = 0; ta < 2; ta++)
            run_case(ctx, ta, !ta, (gemm_case){260, 257, 1030}, -0.75f, 1.5f);
    kcl__gemm_packing(ctx, 1, 1);
    each_case(state, 1.0f, 0.0f);
    each_case(state, -0.75f, 1.5f);
    kcl__gemm_packing(ctx, 0, 0);
}

/* The other tile height of kcl's kernel (4 rows where 8 would not fit in a
 * device's vector registers, 8 where they do), on a context of its own: the
 * height is fixed when the kernels are built. */
static void test_other_tile_rows(void **state)
{
    kcl_context_options opt = {.disable_disk_cache = 1, .gemm = KCL_GEMM_KCL};
    kcl_context *ctx;
    CHECK_OK(NULL, kcl_context_create(&ctx, &opt));
    int rows = ctx->gemm_rows == 8 ? 4 : 8;
    kcl__gemm_tile_rows(ctx, rows);
    void *other = ctx;
    each_case(&other, -0.75f, 1.5f);
    kcl__gemm_packing(ctx, 1, 1);
    each_case(&other, 1.0f, 0.0f);
    kcl_context_free(ctx);
    (void)state;
}

/* A transposed times a B of 1 to 15 columns: kcl's kernel runs these with the
 * lanes down C's rows, in blocks of 1 to 8 columns (at most the tile height)
 * that split n evenly; 37 rows leave a partial block of 5, 1000 rows make
 * several blocks per work-item. Both tile heights, so every width runs. */
static void narrow_cases(kcl_context *ctx)
{
    for (int n = 1; n < 16; n++) {
        run_case(ctx, 1, 0, (gemm_case){37, n, 19}, -0.75f, 1.5f);
        run_case(ctx, 1, 0, (gemm_case){1, n, 3}, 1.0f, 0.0f);
    }
    if (!test_on_simulator(ctx))
        run_case(ctx, 1, 0, (gemm_case){1000, 10, 130}, 1.0f, 0.0f);
}

static void test_narrow_columns(void **state)
{
    narrow_cases(*state);
    kcl_context_options opt = {.disable_disk_cache = 1, .gemm = KCL_GEMM_KCL};
    kcl_context *ctx;
    CHECK_OK(NULL, kcl_context_create(&ctx, &opt));
    kcl__gemm_tile_rows(ctx, ctx->gemm_rows == 8 ? 4 : 8);
    narrow_cases(ctx);
    kcl_context_free(ctx);
}

static void test_beta_zero_ignores_nan(void **state)
{
    kcl_context *ctx = *state;
    int64_t s[2] = {2, 2};
    float ones[4] = {1, 1, 1, 1}, nan4[4] = {NAN, NAN, NAN, NAN}, out[4];
    kcl_tensor *a, *c;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, s, ones, &a));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, s, nan4, &c));
    CHECK_OK(ctx, kcl_gemm(ctx, KCL_NO_TRANS, KCL_NO_TRANS, 1.0f, a, a, 0.0f, c));
    CHECK_OK(ctx, kcl_tensor_read(c, out, 4));
    for (int i = 0; i < 4; i++)
        assert_float_equal(out[i], 2.0f, 0.0f);
    kcl_tensor_free(a);
    kcl_tensor_free(c);
}

static void test_k_zero_scales(void **state)
{
    kcl_context *ctx = *state;
    int64_t sa[2] = {3, 0}, sb[2] = {0, 2}, sc[2] = {3, 2};
    float c[6] = {1, 2, 3, 4, 5, 6}, out[6];
    kcl_tensor *a, *b, *t;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, sa, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, sb, &b));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sc, c, &t));
    CHECK_OK(ctx, kcl_gemm(ctx, KCL_NO_TRANS, KCL_NO_TRANS, 1.0f, a, b, 0.5f, t));
    CHECK_OK(ctx, kcl_tensor_read(t, out, 6));
    for (int i = 0; i < 6; i++)
        assert_float_equal(out[i], 0.5f * c[i], 0.0f);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
    kcl_tensor_free(t);
}

static void test_shape_mismatch(void **state)
{
    kcl_context *ctx = *state;
    int64_t sa[2] = {3, 4}, sb[2] = {5, 2}, sc[2] = {3, 2}, s3[3] = {1, 3, 4};
    kcl_tensor *a, *b, *c, *r3;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, sa, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, sb, &b));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, sc, &c));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 3, s3, &r3));
    assert_int_equal(kcl_gemm(ctx, KCL_NO_TRANS, KCL_NO_TRANS, 1, a, b, 0, c), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "[3, 4]"));
    assert_non_null(strstr(kcl_errmsg(ctx), "[5, 2]"));
    assert_int_equal(kcl_gemm(ctx, KCL_NO_TRANS, KCL_NO_TRANS, 1, r3, b, 0, c), KCL_ERR_SHAPE);
    assert_int_equal(kcl_gemm(ctx, KCL_NO_TRANS, KCL_NO_TRANS, 1, NULL, b, 0, c),
                     KCL_ERR_ARGUMENT);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
    kcl_tensor_free(c);
    kcl_tensor_free(r3);
}

/* AUTO resolves to kcl's kernel on CPUs and CLBlast elsewhere; $KCL_GEMM and
 * the option override it; offline mode cannot have CLBlast. */
static void test_engine_choice(void **state)
{
    kcl_context *ctx = *state;
    const char *env = getenv("KCL_GEMM");
    kcl_gemm_engine want = env && strcmp(env, "clblast") == 0 ? KCL_GEMM_CLBLAST
                           : env && strcmp(env, "kcl") == 0   ? KCL_GEMM_KCL
                           : kcl_context_device(ctx)->type & KCL_DEVICE_CPU ? KCL_GEMM_KCL
                                                                             : KCL_GEMM_CLBLAST;
    assert_int_equal(kcl_context_gemm(ctx), want);
    for (int e = KCL_GEMM_CLBLAST; e <= KCL_GEMM_KCL; e++) {
        kcl_context_options opt = {.disable_disk_cache = 1, .gemm = (kcl_gemm_engine)e};
        kcl_context *other;
        CHECK_OK(NULL, kcl_context_create(&other, &opt));
        assert_int_equal(kcl_context_gemm(other), e);
        kcl_context_free(other);
    }
    kcl_context *bad = NULL;
    kcl_context_options opt = {.disable_disk_cache = 1, .gemm = (kcl_gemm_engine)7};
    assert_int_equal(kcl_context_create(&bad, &opt), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(NULL), "unknown engine 7"));
    opt = (kcl_context_options){.offline = 1, .binary_dir = "/nonexistent",
                                .gemm = KCL_GEMM_CLBLAST};
    assert_int_equal(kcl_context_create(&bad, &opt), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(NULL), "offline mode"));
    char *saved = env ? strdup(env) : NULL;
    setenv("KCL_GEMM", "cublas", 1);
    assert_int_equal(kcl_context_create(&bad, NULL), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(NULL), "'cublas'"));
    assert_null(bad);
    if (saved)
        setenv("KCL_GEMM", saved, 1);
    else
        unsetenv("KCL_GEMM");
    free(saved);
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
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_alpha_beta),
        cmocka_unit_test(test_packed),
        cmocka_unit_test(test_other_tile_rows),
        cmocka_unit_test(test_narrow_columns),
        cmocka_unit_test(test_beta_zero_ignores_nan),
        cmocka_unit_test(test_k_zero_scales),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_engine_choice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

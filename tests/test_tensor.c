/* test_tensor: creating, filling, reading and reshaping device tensors, and
 * the errors for bad shapes. */
#include "common.h"

static void test_zero_filled(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[3] = {4, 5, 6};
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 3, shape, &t));
    assert_int_equal(kcl_tensor_rank(t), 3);
    assert_int_equal(kcl_tensor_size(t), 120);
    assert_memory_equal(kcl_tensor_shape(t), shape, sizeof shape);
    float out[120];
    memset(out, 0xff, sizeof out);
    CHECK_OK(ctx, kcl_tensor_read(t, out, 120));
    for (int i = 0; i < 120; i++)
        assert_true(out[i] == 0.0f);
    kcl_tensor_free(t);
}

static void test_round_trip(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {37, 11};
    float *in = test_random(37 * 11, 5), out[37 * 11];
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, in, &t));
    CHECK_OK(ctx, kcl_tensor_read(t, out, 37 * 11));
    assert_memory_equal(in, out, sizeof out);
    in[3] = 42.0f;
    CHECK_OK(ctx, kcl_tensor_write(t, in, 37 * 11));
    CHECK_OK(ctx, kcl_tensor_read(t, out, 37 * 11));
    assert_true(out[3] == 42.0f);
    assert_ptr_equal(kcl_tensor_context(t), ctx);
    kcl_tensor_free(t);
    free(in);
}

static void test_rank0_and_empty(void **state)
{
    kcl_context *ctx = *state;
    float v = 3.5f, out = 0;
    kcl_tensor *scalar, *empty;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 0, NULL, &v, &scalar));
    assert_int_equal(kcl_tensor_size(scalar), 1);
    CHECK_OK(ctx, kcl_tensor_read(scalar, &out, 1));
    assert_true(out == 3.5f);
    int64_t shape[2] = {3, 0};
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, shape, &empty));
    assert_int_equal(kcl_tensor_size(empty), 0);
    CHECK_OK(ctx, kcl_tensor_read(empty, NULL, 0));
    CHECK_OK(ctx, kcl_tensor_write(empty, NULL, 0));
    kcl_tensor_free(scalar);
    kcl_tensor_free(empty);
}

static void test_bad_shapes(void **state)
{
    kcl_context *ctx = *state;
    kcl_tensor *t = (kcl_tensor *)1;
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(kcl_tensor_create(ctx, 9, nine, &t), KCL_ERR_SHAPE);
    assert_null(t);
    assert_non_null(strstr(kcl_errmsg(ctx), "rank 9"));
    assert_int_equal(kcl_tensor_create(ctx, -1, nine, &t), KCL_ERR_SHAPE);
    int64_t negative[2] = {3, -2};
    assert_int_equal(kcl_tensor_create(ctx, 2, negative, &t), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "[3, -2]"));
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    assert_int_equal(kcl_tensor_create(ctx, 2, huge, &t), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "overflow"));
    int64_t too_big[1] = {INT64_C(1) << 50};   /* 4 PiB: representable, but no device has it */
    assert_int_equal(kcl_tensor_create(ctx, 1, too_big, &t), KCL_ERR_MEMORY);
    assert_non_null(strstr(kcl_errmsg(ctx), "bytes"));
    int64_t ok[1] = {4};
    assert_int_equal(kcl_tensor_from_host(ctx, 1, ok, NULL, &t), KCL_ERR_ARGUMENT);
}

static void test_count_mismatch(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {2, 3};
    float buf[8] = {0};
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, shape, &t));
    assert_int_equal(kcl_tensor_read(t, buf, 8), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "[2, 3]"));
    assert_int_equal(kcl_tensor_write(t, buf, 5), KCL_ERR_SHAPE);
    kcl_tensor_free(t);
}

static void test_reshape_view(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {2, 6}, view_shape[3] = {3, 2, 2}, bad[2] = {5, 2};
    float in[12], out[12];
    for (int i = 0; i < 12; i++)
        in[i] = (float)i;
    kcl_tensor *t, *v, *w = (kcl_tensor *)1;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, in, &t));
    CHECK_OK(ctx, kcl_tensor_reshape(t, 3, view_shape, &v));
    assert_int_equal(kcl_tensor_rank(v), 3);
    assert_int_equal(kcl_tensor_shape(v)[0], 3);
    /* The view shares memory: a write through it shows in the original. */
    in[7] = -1.0f;
    CHECK_OK(ctx, kcl_tensor_write(v, in, 12));
    CHECK_OK(ctx, kcl_tensor_read(t, out, 12));
    assert_true(out[7] == -1.0f);
    assert_int_equal(kcl_tensor_reshape(t, 2, bad, &w), KCL_ERR_SHAPE);
    assert_null(w);
    assert_non_null(strstr(kcl_errmsg(ctx), "[2, 6]"));
    assert_non_null(strstr(kcl_errmsg(ctx), "[5, 2]"));
    /* The memory outlives the original while the view lives. */
    kcl_tensor_free(t);
    CHECK_OK(ctx, kcl_tensor_read(v, out, 12));
    assert_true(out[11] == 11.0f);
    kcl_tensor_free(v);
}

static void test_context_frees_tensors(void **state)
{
    (void)state;
    /* Tensors left alive are released with their context (valgrind checks it). */
    kcl_context *ctx = test_context();
    int64_t shape[1] = {1000};
    kcl_tensor *t, *v;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, shape, &t));
    CHECK_OK(ctx, kcl_tensor_reshape(t, 1, shape, &v));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, shape, &t));
    kcl_context_free(ctx);
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
        cmocka_unit_test(test_zero_filled),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rank0_and_empty),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_count_mismatch),
        cmocka_unit_test(test_reshape_view),
        cmocka_unit_test(test_context_frees_tensors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

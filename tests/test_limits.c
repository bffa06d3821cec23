/* test_limits: sizes at and beyond what a tensor, a batch or the device can
 * hold are refused with a status and a message that names the size, never a
 * crash: shapes whose byte size overflows, negative and zero dimensions, batch
 * sizes far beyond the data, tensors larger than the device memory, and a
 * training run that outgrows the memory (made small for the test). */
#include <inttypes.h>
#include <stdbool.h>

#include "common.h"

/* Test hook (internal, lib/internal.h): act as if the device had this much memory. */
void kcl__fault_memory_limit(kcl_context *ctx, uint64_t bytes);

static kcl_context *ctx;

static void expect_message(const char *part)
{
    if (!strstr(kcl_errmsg(ctx), part))
        fail_msg("message '%s' lacks '%s'", kcl_errmsg(ctx), part);
}

static size_t in_use(void)
{
    kcl_memory_stats s;
    CHECK_OK(ctx, kcl_memory_stats_get(ctx, &s));
    return s.in_use;
}

static void test_shapes(void **state)
{
    (void)state;
    const int64_t big = (int64_t)1 << 40;
    kcl_tensor *t = (kcl_tensor *)&t;   /* any non-NULL value: failures must reset it */
    /* 2^80 elements: the element count overflows */
    assert_int_equal(kcl_tensor_create(ctx, 2, (int64_t[]){big, big}, &t), KCL_ERR_SHAPE);
    assert_null(t);
    expect_message("[1099511627776, 1099511627776]");
    expect_message("overflows");
    /* 2^62 elements: the count fits in int64, the byte size (2^64) does not */
    assert_int_equal(kcl_tensor_create(ctx, 2, (int64_t[]){(int64_t)1 << 31, (int64_t)1 << 31},
                                       &t), KCL_ERR_SHAPE);
    /* negative dimensions, also beside a zero one */
    assert_int_equal(kcl_tensor_create(ctx, 2, (int64_t[]){3, -1}, &t), KCL_ERR_SHAPE);
    expect_message("[3, -1]");
    assert_int_equal(kcl_tensor_create(ctx, 2, (int64_t[]){0, -4}, &t), KCL_ERR_SHAPE);
    assert_int_equal(kcl_tensor_from_host(ctx, 1, (int64_t[]){-2}, (float[2]){0}, &t),
                     KCL_ERR_SHAPE);
    /* ranks outside 0..8 */
    assert_int_equal(kcl_tensor_create(ctx, KCL_MAX_RANK + 1, (int64_t[9]){1}, &t), KCL_ERR_SHAPE);
    assert_int_equal(kcl_tensor_create(ctx, -1, NULL, &t), KCL_ERR_SHAPE);
    /* a zero dimension is an empty tensor, however large the others */
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, (int64_t[]){0, big}, &t));
    assert_int_equal(kcl_tensor_size(t), 0);
    kcl_tensor *sum;
    CHECK_OK(ctx, kcl_add(t, t, &sum));
    assert_int_equal(kcl_tensor_size(sum), 0);
    CHECK_OK(ctx, kcl_tensor_read(sum, NULL, 0));
    kcl_tensor_free(sum);
    kcl_tensor_free(t);
    /* a reshape to an overflowing shape, and one of a different size */
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, (int64_t[]){6}, &t));
    kcl_tensor *v;
    assert_int_equal(kcl_tensor_reshape(t, 2, (int64_t[]){big, big}, &v), KCL_ERR_SHAPE);
    assert_int_equal(kcl_reshape(t, 2, (int64_t[]){-1, -1}, &v), KCL_ERR_SHAPE);
    kcl_tensor_free(t);
    /* a layer whose weights cannot exist */
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    kcl_status st = kcl_model_add(m, kcl_layer_dense(big, .input_dim = big));
    assert_true(st == KCL_ERR_SHAPE || st == KCL_ERR_MEMORY);
    assert_true(strlen(kcl_errmsg(ctx)) > 0);
    assert_int_equal(kcl_model_layer_count(m), 0);
    kcl_model_free(m);
}

/* Reads "<n> bytes" at the first occurrence of after in the message. */
static uint64_t number_after(const char *after)
{
    const char *p = strstr(kcl_errmsg(ctx), after);
    if (!p)
        fail_msg("message '%s' lacks '%s'", kcl_errmsg(ctx), after);
    return strtoull(p + strlen(after), NULL, 10);
}

static void test_device_memory(void **state)
{
    (void)state;
    const kcl_device_info *dev = kcl_context_device(ctx);
    size_t used = in_use();
    /* twice the device's memory in one tensor: refused before any allocation */
    uint64_t bytes = 2 * dev->global_memory;
    char text[64];
    snprintf(text, sizeof text, "%" PRIu64 " bytes", bytes);
    kcl_tensor *t;
    assert_int_equal(kcl_tensor_create(ctx, 1, (int64_t[]){(int64_t)(bytes / 4)}, &t),
                     KCL_ERR_MEMORY);
    assert_null(t);
    expect_message(text);
    /* 2^30 x 2^30 floats: a byte size that fits in size_t but no device */
    assert_int_equal(kcl_tensor_create(ctx, 2, (int64_t[]){(int64_t)1 << 30, (int64_t)1 << 30},
                                       &t), KCL_ERR_MEMORY);
    expect_message("4611686018427387904 bytes");
    assert_int_equal(in_use(), used);

    /* the device's total, made 1 MiB: the third 400 000-byte tensor does not fit */
    const uint64_t limit = 1 << 20;
    kcl__fault_memory_limit(ctx, limit);
    kcl_tensor *a, *b, *c = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, (int64_t[]){100000}, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, (int64_t[]){100000}, &b));
    assert_int_equal(kcl_tensor_create(ctx, 1, (int64_t[]){100000}, &c), KCL_ERR_MEMORY);
    assert_null(c);
    expect_message("device memory exhausted: 400000 bytes wanted");
    assert_int_equal(number_after("wanted, "), used + 800000);
    kcl_tensor_free(b);   /* its buffer serves the next tensor */
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, (int64_t[]){100000}, &c));
    kcl_tensor_free(a);
    kcl_tensor_free(c);
    kcl__fault_memory_limit(ctx, 0);
    assert_int_equal(in_use(), used);
}

enum { N = 64, IN = 16, UNITS = 256 };

static kcl_model *wide_model(void)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(UNITS, .input_dim = IN, .activation = "relu",
                                                   .kernel_initializer = kcl_init_he_normal(.seed = 3))));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .kernel_initializer =
                                                          kcl_init_glorot_uniform(.seed = 4))));
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = 0.01f), "mse", NULL));
    return m;
}

static void read_all_weights(kcl_model *m, float *w, size_t n)
{
    size_t at = 0;
    for (size_t l = 0; l < kcl_model_layer_count(m); l++)
        for (size_t k = 0; k < kcl_layer_weight_count(kcl_model_layer(m, l)); k++) {
            kcl_tensor *t = kcl_layer_weight(kcl_model_layer(m, l), k);
            assert_true(at + (size_t)kcl_tensor_size(t) <= n);
            CHECK_OK(ctx, kcl_tensor_read(t, w + at, (size_t)kcl_tensor_size(t)));
            at += (size_t)kcl_tensor_size(t);
        }
    assert_int_equal(at, n);
}

static void test_batch_sizes(void **state)
{
    (void)state;
    float *x = test_random(N * IN, 1), *y = test_random(N, 2);
    kcl_array xa = {x, 2, {N, IN}}, ya = {y, 2, {N, 1}};
    enum { W = IN * UNITS + UNITS + UNITS + 1 };
    float *w1 = malloc(W * sizeof *w1), *w2 = malloc(W * sizeof *w2);
    /* batch_size 2^40 on 64 samples: one batch of all of them, as batch_size 64 */
    kcl_model *m1 = wide_model(), *m2 = wide_model();
    CHECK_OK(ctx, kcl_fit(m1, &xa, &ya, .batch_size = (int64_t)1 << 40, .no_shuffle = 1,
                          .verbose = KCL_VERBOSE_SILENT));
    CHECK_OK(ctx, kcl_fit(m2, &xa, &ya, .batch_size = N, .no_shuffle = 1,
                          .verbose = KCL_VERBOSE_SILENT));
    read_all_weights(m1, w1, W);
    read_all_weights(m2, w2, W);
    assert_memory_equal(w1, w2, W * sizeof *w1);
    float loss_huge, loss_n;
    CHECK_OK(ctx, kcl_evaluate(m1, 1, &xa, 1, &ya, &(kcl_eval_options){.batch_size = INT64_MAX},
                               &loss_huge, 1));
    CHECK_OK(ctx, kcl_evaluate(m1, 1, &xa, 1, &ya, &(kcl_eval_options){.batch_size = N},
                               &loss_n, 1));
    assert_true(loss_huge == loss_n);
    kcl_array out;
    CHECK_OK(ctx, kcl_predict(m1, 1, &xa, &(kcl_eval_options){.batch_size = INT64_MAX}, 1, &out));
    assert_int_equal(out.shape[0], N);
    kcl_array_free(&out);
    /* negative batch sizes: refused, naming the value */
    assert_int_equal(kcl_fit(m1, &xa, &ya, .batch_size = -5, .verbose = KCL_VERBOSE_SILENT),
                     KCL_ERR_ARGUMENT);
    expect_message("-5");
    assert_int_equal(kcl_evaluate(m1, 1, &xa, 1, &ya, &(kcl_eval_options){.batch_size = -1},
                                  &loss_n, 1), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_predict(m1, 1, &xa, &(kcl_eval_options){.batch_size = INT64_MIN}, 1,
                                 &out), KCL_ERR_ARGUMENT);
    expect_message("batch_size");
    /* the models are untouched by the refusals */
    read_all_weights(m1, w2, W);
    assert_memory_equal(w1, w2, W * sizeof *w1);
    kcl_model_free(m1);
    kcl_model_free(m2);
    free(w1);
    free(w2);
    free(x);
    free(y);
}

/* A fit whose activations need more than the (shrunken) device memory: it
 * says how many bytes it wanted; with the memory back, the same model trains. */
static void test_training_out_of_memory(void **state)
{
    (void)state;
    float *x = test_random(N * IN, 1), *y = test_random(N, 2);
    kcl_array xa = {x, 2, {N, IN}}, ya = {y, 2, {N, 1}};
    size_t before = in_use();
    kcl_model *m = wide_model();
    size_t weights = in_use() - before;
    /* room for the weights and a little more, not for a batch of 64 x 256 activations */
    uint64_t limit = before + weights + (N * UNITS * sizeof(float)) / 2;
    kcl__fault_memory_limit(ctx, limit);
    kcl_status st = kcl_fit(m, &xa, &ya, .batch_size = N, .verbose = KCL_VERBOSE_SILENT);
    assert_int_equal(st, KCL_ERR_MEMORY);
    expect_message("device memory exhausted");
    uint64_t wanted = number_after("exhausted: "), held = number_after("wanted, ");
    assert_true(wanted > 0 && held + wanted > limit);
    char text[64];
    snprintf(text, sizeof text, "%" PRIu64 " on", limit);
    expect_message(text);
    kcl__fault_memory_limit(ctx, 0);
    float loss[2];
    CHECK_OK(ctx, kcl_evaluate(m, 1, &xa, 1, &ya, NULL, &loss[0], 1));
    CHECK_OK(ctx, kcl_fit(m, &xa, &ya, .epochs = 5, .batch_size = N, .verbose = KCL_VERBOSE_SILENT));
    CHECK_OK(ctx, kcl_evaluate(m, 1, &xa, 1, &ya, NULL, &loss[1], 1));
    assert_true(isfinite(loss[1]) && loss[1] < loss[0]);
    kcl_model_free(m);
    assert_int_equal(in_use(), before);
    free(x);
    free(y);
}

static int setup(void **state)
{
    (void)state;
    ctx = test_context();
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kcl_context_free(ctx);
    return 0;
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_device_memory),
        cmocka_unit_test(test_batch_sizes),
        cmocka_unit_test(test_training_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_lambda: the Lambda layer. Forward values against the same function in
 * C double, gradients through the tape against finite differences of it
 * (gradcheck.h), training through a Lambda, and the errors: an expression that
 * does not compile, inputs of different shapes, refused text. */
#include "gradcheck.h"

static kcl_context *ctx;

#define ROWS 3
#define FEATURES 5

/* A functional model of one Lambda over n inputs of shape (None, FEATURES). */
static kcl_model *lambda_model(kcl_layer *layer, int n)
{
    int64_t shape[1] = {FEATURES};
    kcl_sym *in[4], *out;
    for (int k = 0; k < n; k++)
        CHECK_OK(ctx, kcl_input(ctx, 1, shape, NULL, &in[k]));
    CHECK_OK(ctx, kcl_call_n(layer, (size_t)n, in, &out));
    kcl_model *m;
    CHECK_OK(ctx, kcl_functional(ctx, (size_t)n, in, 1, &out, NULL, &m));
    return m;
}

typedef double (*host_fn)(double, double);

typedef struct lambda_case {
    kcl_model *model;
    int n;
    host_fn host;
} lambda_case;

static kcl_status case_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    return kcl_predict_on_batch(((lambda_case *)user)->model, in, out);
}

static void case_host(const double *const *in, double *out, void *user)
{
    const lambda_case *c = user;
    for (size_t i = 0; i < ROWS * FEATURES; i++)
        out[i] = c->host(in[0][i], c->n > 1 ? in[1][i] : 0.0);
}

/* Forward (and, with grad, gradients through the tape) of the layer on
 * inputs in [-1, 1) against host in double. */
static void run_case(const char *name, kcl_layer *layer, int n, host_fn host, int grad)
{
    lambda_case lc = {lambda_model(layer, n), n, host};
    gc_case c = {.name = name, .n_in = n, .device = case_device, .host = case_host, .user = &lc,
                 .forward_only = !grad};
    float *v[2] = {test_random(ROWS * FEATURES, 3), test_random(ROWS * FEATURES, 4)};
    for (int k = 0; k < n; k++)
        c.in[k] = (gc_input){.rank = 2, .shape = {ROWS, FEATURES}, .values = v[k]};
    gradcheck(ctx, &c);
    free(v[0]);
    free(v[1]);
    kcl_model_free(lc.model);
}

/* ----------------------------------------------------------------- values -- */

static double h_poly(double x, double u) { (void)u; return x * x * x - 2.0 * x + 1.0; }
static double h_exp(double x, double u) { (void)u; return exp(0.5 * x); }
static double h_triple(double x, double u) { (void)u; return 3.0 * x; }
static double h_mix(double a, double b) { return a * b + sin(a); }
static double h_max(double a, double b) { return (a > b ? a : b) - 0.5 * b; }

static void test_one_input_forward_and_gradient(void **state)
{
    (void)state;
    run_case("x^3 - 2x + 1",
             kcl_layer_lambda("x * x * x - 2.0f * x + 1.0f",
                              .gradient = {"(3.0f * x * x - 2.0f) * dy"}),
             1, h_poly, 1);
    /* A gradient written with y, the output. */
    run_case("exp(x / 2)", kcl_layer_lambda("exp(0.5f * x)", .gradient = {"0.5f * y * dy"}), 1,
             h_exp, 1);
}

static void test_two_inputs_forward_and_gradient(void **state)
{
    (void)state;
    run_case("x0 x1 + sin x0",
             kcl_layer_lambda("x0 * x1 + sin(x0)", .n_inputs = 2,
                              .gradient = {"(x1 + cos(x0)) * dy", "x0 * dy"}),
             2, h_mix, 1);
    /* Without gradients: forward only (the tape cannot differentiate it). */
    run_case("max(x0, x1) - x1 / 2", kcl_layer_lambda("fmax(x0, x1) - 0.5f * x1", .n_inputs = 2),
             2, h_max, 0);
}

/* Without gradient expressions the layer is not recorded: a variable before
 * it gets a zero gradient, though the values are right. */
static void test_no_gradient_gives_zero(void **state)
{
    (void)state;
    kcl_model *m = lambda_model(kcl_layer_lambda("x * x"), 1);
    int64_t shape[2] = {ROWS, FEATURES};
    float *v = test_random(ROWS * FEATURES, 5), got[ROWS * FEATURES];
    kcl_tensor *var, *y, *loss, *g;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, v, &var));
    CHECK_OK(ctx, kcl_tensor_set_trainable(var, 1));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_predict_on_batch(m, &var, &y));
    CHECK_OK(ctx, kcl_reduce_sum(y, 0, NULL, 0, &loss));
    CHECK_OK(ctx, kcl_tape_gradient(tape, loss, 1, &var, &g));
    CHECK_OK(ctx, kcl_tensor_read(y, got, ROWS * FEATURES));
    for (int i = 0; i < ROWS * FEATURES; i++)
        assert_float_equal(got[i], (double)v[i] * v[i], 1e-6);
    CHECK_OK(ctx, kcl_tensor_read(g, got, ROWS * FEATURES));
    for (int i = 0; i < ROWS * FEATURES; i++)
        assert_true(got[i] == 0.0f);
    kcl_tape_free(tape);
    kcl_tensor_free(g);
    kcl_tensor_free(loss);
    kcl_tensor_free(y);
    kcl_tensor_free(var);
    kcl_model_free(m);
    free(v);
}

/* -------------------------------------------------------------- training -- */

#define IN 3
#define N 64

static float xs[N * IN], ys[N];
static const float w_true[IN] = {0.8f, -0.5f, 0.3f};

/* y = tanh(x · w_true + 0.1): what Dense -> Lambda(tanh) can represent. */
static void make_data(void)
{
    float *r = test_random(N * IN, 21);
    memcpy(xs, r, sizeof xs);
    free(r);
    for (int i = 0; i < N; i++) {
        double z = 0.1;
        for (int j = 0; j < IN; j++)
            z += (double)xs[i * IN + j] * w_true[j];
        ys[i] = (float)tanh(z);
    }
}

static kcl_model *tanh_model(int with_gradient, const float *w0, float b0)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .input_dim = IN)));
    kcl_layer *lambda = with_gradient
                            ? kcl_layer_lambda("tanh(x)", .gradient = {"(1.0f - y * y) * dy"})
                            : kcl_layer_lambda("tanh(x)");
    CHECK_OK(ctx, kcl_model_add(m, lambda));
    assert_string_equal(kcl_layer_class(kcl_model_layer(m, 1)), "Lambda");
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 0, w0, IN));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 1, &b0, 1));
    return m;
}

/* One SGD step against the gradient of mse through tanh computed here. */
static void test_sgd_step_through_lambda(void **state)
{
    (void)state;
    make_data();
    const float w0[IN] = {0.2f, 0.1f, -0.4f}, b0 = 0.05f, lr = 0.5f;
    kcl_model *m = tanh_model(1, w0, b0);
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = lr), "mse", NULL));
    int64_t sx[2] = {N, IN}, sy[2] = {N, 1};
    kcl_tensor *tx, *ty;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sx, xs, &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sy, ys, &ty));
    double gw[IN] = {0}, gb = 0;
    for (int i = 0; i < N; i++) {
        double z = b0;
        for (int j = 0; j < IN; j++)
            z += (double)xs[i * IN + j] * w0[j];
        double p = tanh(z), dz = 2.0 / N * (p - ys[i]) * (1.0 - p * p);
        for (int j = 0; j < IN; j++)
            gw[j] += dz * xs[i * IN + j];
        gb += dz;
    }
    CHECK_OK(ctx, kcl_train_on_batch(m, &tx, &ty, NULL, 0));
    float w[IN], b;
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 0), w, IN));
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 1), &b, 1));
    for (int j = 0; j < IN; j++)
        assert_float_equal(w[j], w0[j] - lr * gw[j], 1e-5);
    assert_float_equal(b, b0 - lr * gb, 1e-5);
    kcl_tensor_free(tx);
    kcl_tensor_free(ty);
    kcl_model_free(m);
}

/* fit: with the gradient the Dense before the Lambda learns w_true; without
 * it the Dense gets zero gradients and SGD leaves it as it was. */
static void test_fit_through_lambda(void **state)
{
    (void)state;
    make_data();
    const float w0[IN] = {0.2f, 0.1f, -0.4f}, b0 = 0.0f;
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
    int epochs = test_on_simulator(ctx) ? 20 : 60;
    kcl_fit_options fo = {.epochs = epochs, .batch_size = 16, .verbose = KCL_VERBOSE_SILENT,
                          .seed = 3};
    for (int with_gradient = 1; with_gradient >= 0; with_gradient--) {
        kcl_model *m = tanh_model(with_gradient, w0, b0);
        CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = 0.5f), "mse", NULL));
        kcl_history *h;
        CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &fo, &h));
        const float *loss = kcl_history_get(h, "loss");
        float w[IN];
        CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 0), w, IN));
        if (with_gradient) {
            assert_true(loss[epochs - 1] < 0.1f * loss[0]);
            for (int j = 0; j < IN; j++)
                assert_float_equal(w[j], w_true[j], 0.15);
        } else {
            assert_float_equal(loss[epochs - 1], loss[0], 1e-6);
            assert_memory_equal(w, w0, sizeof w);
        }
        kcl_history_free(h);
        kcl_model_free(m);
    }
}

/* ---------------------------------------------------------------- errors -- */

/* Adds a Lambda after a Dense: the status of building it. */
static kcl_status add_lambda(kcl_layer *lambda)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(2, .input_dim = 3)));
    kcl_status st = kcl_model_add(m, lambda);
    kcl_model_free(m);
    return st;
}

static void expect_message(const char *part)
{
    if (!strstr(kcl_errmsg(ctx), part))
        fail_msg("message lacks '%s': %s", part, kcl_errmsg(ctx));
}

/* The compiler's verdict comes when the layer is built, with its log and the
 * expression in the message. */
static void test_broken_expression_is_a_build_error(void **state)
{
    (void)state;
    assert_int_equal(add_lambda(kcl_layer_lambda("x +* 2.0f")), KCL_ERR_BUILD);
    expect_message("x +* 2.0f");
    expect_message("error");
    assert_int_equal(add_lambda(kcl_layer_lambda("x", .gradient = {"dy * no_such_name"})),
                     KCL_ERR_BUILD);
    expect_message("no_such_name");
    expect_message("error");
    assert_int_equal(add_lambda(kcl_layer_lambda("2.0f * x")), KCL_OK);
}

static void test_inputs_of_different_shapes(void **state)
{
    (void)state;
    int64_t s4[1] = {4}, s5[1] = {5};
    kcl_sym *in[2], *out;
    CHECK_OK(ctx, kcl_input(ctx, 1, s4, "a", &in[0]));
    CHECK_OK(ctx, kcl_input(ctx, 1, s5, "b", &in[1]));
    assert_int_equal(kcl_call_n(kcl_layer_lambda("x0 + x1", .n_inputs = 2), 2, in, &out),
                     KCL_ERR_SHAPE);
    expect_message("(None, 4)");
    expect_message("(None, 5)");
    /* Made for two inputs, called with one. */
    assert_int_equal(kcl_call_n(kcl_layer_lambda("x0 + x1", .n_inputs = 2), 1, in, &out),
                     KCL_ERR_ARGUMENT);
}

static void test_refused_text(void **state)
{
    (void)state;
    static const char *const bad[] = {"x; x", "x } {", "x // comment", "x /* c */",
                                      "(x + 1.0f", "x)", "x \\", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (add_lambda(kcl_layer_lambda(bad[i])) != KCL_ERR_ARGUMENT)
            fail_msg("expression '%s' was not refused", bad[i]);
        expect_message("Lambda");
    }
    assert_int_equal(add_lambda(kcl_layer_lambda("x", .gradient = {"dy;"})), KCL_ERR_ARGUMENT);
    expect_message("gradient[0]");
    assert_int_equal(add_lambda(kcl_layer_lambda("x", .gradient = {NULL, "dy"})),
                     KCL_ERR_ARGUMENT);
    assert_int_equal(add_lambda(kcl_layer_lambda("x", .n_inputs = 5)), KCL_ERR_ARGUMENT);
    assert_int_equal(add_lambda(kcl_layer_lambda(NULL)), KCL_ERR_ARGUMENT);
}

/* Offline mode compiles nothing: a Lambda is refused when built. */
static void test_offline_mode_refuses(void **state)
{
    (void)state;
    kcl_context_options off = {.offline = 1, .binary_dir = ".", .disable_disk_cache = 1};
    kcl_context *offline;
    CHECK_OK(NULL, kcl_context_create(&offline, &off));
    int64_t shape[1] = {2};
    kcl_sym *in, *out;
    CHECK_OK(offline, kcl_input(offline, 1, shape, NULL, &in));
    assert_int_equal(kcl_call(kcl_layer_lambda("x"), in, &out), KCL_ERR_OFFLINE);
    if (!strstr(kcl_errmsg(offline), "offline"))
        fail_msg("message lacks 'offline': %s", kcl_errmsg(offline));
    kcl_context_free(offline);
}

/* The layer copies the caller's strings. */
static void test_strings_are_copied(void **state)
{
    (void)state;
    char expr[32], grad[32];
    strcpy(expr, "3.0f * x");
    strcpy(grad, "3.0f * dy");
    kcl_layer *layer = kcl_layer_lambda(expr, .gradient = {grad});
    memset(expr, 0, sizeof expr);
    memset(grad, 0, sizeof grad);
    run_case("3x", layer, 1, h_triple, 1);
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
        cmocka_unit_test(test_one_input_forward_and_gradient),
        cmocka_unit_test(test_two_inputs_forward_and_gradient),
        cmocka_unit_test(test_no_gradient_gives_zero),
        cmocka_unit_test(test_sgd_step_through_lambda),
        cmocka_unit_test(test_fit_through_lambda),
        cmocka_unit_test(test_broken_expression_is_a_build_error),
        cmocka_unit_test(test_inputs_of_different_shapes),
        cmocka_unit_test(test_refused_text),
        cmocka_unit_test(test_offline_mode_refuses),
        cmocka_unit_test(test_strings_are_copied),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

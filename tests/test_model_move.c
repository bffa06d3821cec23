/* test_model_move: models moving between devices. A model built and trained
 * on PoCL is copied (kcl_model_copy) to a context on Oclgrind, a second
 * OpenCL implementation, and saved on PoCL then loaded on Oclgrind. Checks,
 * each against a double-precision reference computed here from the source
 * model's weights and optimizer state: the copy predicts the same values; one
 * more Adam step gives the same weights on both devices (so the moments and
 * the step count travelled); training continues on the new device (the loss
 * falls). Copies on one context (clones) must behave bit for bit as the
 * original, and bad calls are refused. The Oclgrind part skips, saying so,
 * where Oclgrind is not installed; it uses 8 samples, Oclgrind being slow. */
#include <unistd.h>

#include "common.h"

enum { N = 8, IN = 3, HIDDEN = 4 };
#define LEARNING_RATE 0.05
#define BETA_1 0.9
#define BETA_2 0.999
#define EPSILON 1e-7

static kcl_context *pocl, *grind;   /* NULL where the device is missing */
static float x[N * IN], y[N];

/* ------------------------------------------------------------ reference -- */

/* The weights and Adam state of Dense(4, tanh) -> Dense(1), in double. The
 * parameters in model order: kernel 1, bias 1, kernel 2, bias 2. */
enum { N_PARAMS = 4 };
static const size_t param_size[N_PARAMS] = {IN * HIDDEN, HIDDEN, HIDDEN, 1};

typedef struct reference {
    double w[N_PARAMS][IN * HIDDEN];
    double m[N_PARAMS][IN * HIDDEN], v[N_PARAMS][IN * HIDDEN];
    int64_t iterations;
} reference;

static void forward(const reference *r, const float *xs, double *hidden, double *out)
{
    for (int s = 0; s < N; s++) {
        out[s] = r->w[3][0];
        for (int j = 0; j < HIDDEN; j++) {
            double z = r->w[1][j];
            for (int i = 0; i < IN; i++)
                z += xs[s * IN + i] * r->w[0][i * HIDDEN + j];
            hidden[s * HIDDEN + j] = tanh(z);
            out[s] += hidden[s * HIDDEN + j] * r->w[2][j];
        }
    }
}

/* Gradients of Keras' mean squared error (mean over the batch) by hand. */
static void gradients(const reference *r, double g[N_PARAMS][IN * HIDDEN])
{
    double hidden[N * HIDDEN], out[N];
    forward(r, x, hidden, out);
    memset(g, 0, sizeof(double) * N_PARAMS * IN * HIDDEN);
    for (int s = 0; s < N; s++) {
        double d_out = 2.0 * (out[s] - y[s]) / N;
        g[3][0] += d_out;
        for (int j = 0; j < HIDDEN; j++) {
            double h = hidden[s * HIDDEN + j];
            g[2][j] += h * d_out;
            double dz = d_out * r->w[2][j] * (1.0 - h * h);
            g[1][j] += dz;
            for (int i = 0; i < IN; i++)
                g[0][i * HIDDEN + j] += x[s * IN + i] * dz;
        }
    }
}

/* One step of Keras' Adam (keras/src/optimizers/adam.py) on the reference. */
static void adam_step(reference *r)
{
    double g[N_PARAMS][IN * HIDDEN];
    gradients(r, g);
    double t = (double)(r->iterations + 1);
    double alpha = LEARNING_RATE * sqrt(1.0 - pow(BETA_2, t)) / (1.0 - pow(BETA_1, t));
    for (int p = 0; p < N_PARAMS; p++)
        for (size_t i = 0; i < param_size[p]; i++) {
            r->m[p][i] += (g[p][i] - r->m[p][i]) * (1.0 - BETA_1);
            r->v[p][i] += (g[p][i] * g[p][i] - r->v[p][i]) * (1.0 - BETA_2);
            r->w[p][i] -= alpha * r->m[p][i] / (sqrt(r->v[p][i]) + EPSILON);
        }
    r->iterations++;
}

/* ----------------------------------------------------------------- model -- */

static kcl_tensor *param(kcl_model *m, int p)
{
    return kcl_layer_weight(kcl_model_layer(m, (size_t)p / 2), (size_t)p % 2);
}

static void read_param(kcl_model *m, int p, float *values)
{
    CHECK_OK(kcl_model_context(m), kcl_tensor_read(param(m, p), values, param_size[p]));
}

/* The slot called name of parameter p, read into values. */
static void read_slot(kcl_model *m, int p, const char *name, float *values)
{
    size_t n;
    const char *const *names;
    kcl_tensor *const *slots;
    kcl_context *ctx = kcl_model_context(m);
    CHECK_OK(ctx, kcl_optimizer_slots(kcl_model_optimizer(m), param(m, p), &n, &names, &slots));
    for (size_t k = 0; k < n; k++)
        if (strcmp(names[k], name) == 0) {
            CHECK_OK(ctx, kcl_tensor_read(slots[k], values, param_size[p]));
            return;
        }
    fail_msg("no optimizer slot '%s'", name);
}

static void reference_of(kcl_model *m, reference *r)
{
    float v[IN * HIDDEN];
    for (int p = 0; p < N_PARAMS; p++) {
        read_param(m, p, v);
        for (size_t i = 0; i < param_size[p]; i++)
            r->w[p][i] = v[i];
        read_slot(m, p, "m", v);
        for (size_t i = 0; i < param_size[p]; i++)
            r->m[p][i] = v[i];
        read_slot(m, p, "v", v);
        for (size_t i = 0; i < param_size[p]; i++)
            r->v[p][i] = v[i];
    }
    r->iterations = kcl_optimizer_iterations(kcl_model_optimizer(m));
}

/* Input(3) -> Dense(4, tanh) -> Dense(1), Adam, mean squared error. */
static kcl_model *new_model(kcl_context *ctx)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(HIDDEN, .input_dim = IN, .activation = "tanh",
                                                   .kernel_initializer = kcl_init_glorot_uniform(
                                                       .seed = 11))));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .kernel_initializer =
                                                          kcl_init_glorot_uniform(.seed = 12))));
    CHECK_OK(ctx, kcl_compile(m, kcl_adam(.learning_rate = (float)LEARNING_RATE), "mse", NULL));
    return m;
}

typedef struct batch {
    kcl_tensor *x, *y;
} batch;

static batch upload(kcl_context *ctx)
{
    batch b;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, (int64_t[]){N, IN}, x, &b.x));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, (int64_t[]){N, 1}, y, &b.y));
    return b;
}

static void release(batch b)
{
    kcl_tensor_free(b.x);
    kcl_tensor_free(b.y);
}

/* steps training steps; returns the last step's loss. */
static float train(kcl_model *m, int steps)
{
    kcl_context *ctx = kcl_model_context(m);
    batch b = upload(ctx);
    float loss = NAN;
    for (int i = 0; i < steps; i++)
        CHECK_OK(ctx, kcl_train_on_batch(m, &b.x, &b.y, &loss, 1));
    release(b);
    return loss;
}

static float loss_of(kcl_model *m)
{
    kcl_context *ctx = kcl_model_context(m);
    batch b = upload(ctx);
    float loss;
    CHECK_OK(ctx, kcl_test_on_batch(m, &b.x, &b.y, &loss, 1));
    release(b);
    return loss;
}

static void predict(kcl_model *m, float *out)
{
    kcl_context *ctx = kcl_model_context(m);
    batch b = upload(ctx);
    kcl_tensor *pred;
    CHECK_OK(ctx, kcl_predict_on_batch(m, &b.x, &pred));
    CHECK_OK(ctx, kcl_tensor_read(pred, out, N));
    kcl_tensor_free(pred);
    release(b);
}

/* |got - want| within 1e-5 of want (of 0.1 for values nearer zero). */
static void assert_close(const char *what, int i, double got, double want)
{
    if (!(fabs(got - want) <= 1e-5 * fmax(fabs(want), 0.1)))
        fail_msg("%s[%d]: %.9g, reference %.9g", what, i, got, want);
}

static void assert_predicts(kcl_model *m, const reference *r)
{
    double hidden[N * HIDDEN], want[N];
    float got[N];
    forward(r, x, hidden, want);
    predict(m, got);
    for (int s = 0; s < N; s++)
        assert_close(kcl_context_device(kcl_model_context(m))->name, s, got[s], want[s]);
}

static void assert_weights(kcl_model *m, const reference *r)
{
    float v[IN * HIDDEN];
    for (int p = 0; p < N_PARAMS; p++) {
        read_param(m, p, v);
        for (size_t i = 0; i < param_size[p]; i++)
            assert_close("weight", p * 100 + (int)i, v[i], r->w[p][i]);
    }
}

/* A model trained 20 steps on PoCL: its Adam moments are far from zero. */
static kcl_model *trained_on_pocl(void)
{
    kcl_model *m = new_model(pocl);
    train(m, 20);
    return m;
}

static kcl_context *context_on(const char *device)
{
    kcl_context_options opt = {.device = device, .disable_disk_cache = 1};
    kcl_context *ctx = NULL;
    kcl_status st = kcl_context_create(&ctx, &opt);
    if (st == KCL_ERR_NO_DEVICE) {
        fprintf(stderr, "# no '%s' OpenCL device: its tests skip\n", device);
        return NULL;
    }
    if (st)
        fail_msg("kcl_context_create(%s): %s", device, kcl_errmsg(NULL));
    return ctx;
}

/* ------------------------------------------------------------------ tests -- */

static void copy_refuses_bad_calls(void **state)
{
    (void)state;
    if (!pocl)
        skip();
    kcl_model *m, *copy = (kcl_model *)&copy;
    assert_int_equal(kcl_model_copy(NULL, pocl, &copy), KCL_ERR_ARGUMENT);
    CHECK_OK(pocl, kcl_sequential(pocl, &m));
    assert_int_equal(kcl_model_copy(m, NULL, &copy), KCL_ERR_ARGUMENT);
    /* No input shape yet: nothing built, nothing to copy. */
    CHECK_OK(pocl, kcl_model_add(m, kcl_layer_dense(2)));
    assert_int_equal(kcl_model_copy(m, pocl, &copy), KCL_ERR_STATE);
    assert_null(copy);
    assert_non_null(strstr(kcl_errmsg(pocl), "kcl_model_copy"));
    kcl_model_free(m);
}

/* A clone on the same device continues exactly as the original does. */
static void clone_continues_bit_for_bit(void **state)
{
    (void)state;
    if (!pocl)
        skip();
    kcl_model *m = trained_on_pocl(), *clone;
    CHECK_OK(pocl, kcl_model_copy(m, pocl, &clone));
    assert_int_equal(kcl_optimizer_iterations(kcl_model_optimizer(clone)), 20);
    reference r;
    reference_of(m, &r);
    assert_predicts(clone, &r);
    train(m, 3);
    train(clone, 3);
    for (int p = 0; p < N_PARAMS; p++) {
        float a[IN * HIDDEN], b[IN * HIDDEN];
        read_param(m, p, a);
        read_param(clone, p, b);
        assert_memory_equal(a, b, param_size[p] * sizeof(float));
    }
    for (int i = 0; i < 3; i++)
        adam_step(&r);
    assert_weights(clone, &r);
    kcl_model_free(clone);
    kcl_model_free(m);
}

static void copy_to_oclgrind_predicts_the_same(void **state)
{
    (void)state;
    if (!pocl || !grind)
        skip();
    kcl_model *m = trained_on_pocl(), *copy;
    CHECK_OK(pocl, kcl_model_copy(m, grind, &copy));
    assert_ptr_equal(kcl_model_context(copy), grind);
    reference r;
    reference_of(m, &r);
    assert_predicts(m, &r);
    assert_predicts(copy, &r);
    kcl_model_free(copy);
    kcl_model_free(m);
}

/* One Adam step from the copied state on each device lands on the
 * reference's step from the source's state; a copy without the moments or
 * the step count would take a different step. Training then goes on. */
static void copy_to_oclgrind_trains_on(void **state)
{
    (void)state;
    if (!pocl || !grind)
        skip();
    kcl_model *m = trained_on_pocl(), *copy;
    CHECK_OK(pocl, kcl_model_copy(m, grind, &copy));
    reference r;
    reference_of(m, &r);
    assert_int_equal(kcl_optimizer_iterations(kcl_model_optimizer(copy)), r.iterations);
    adam_step(&r);
    train(m, 1);
    train(copy, 1);
    assert_weights(m, &r);
    assert_weights(copy, &r);

    float before = loss_of(copy);
    train(copy, 10);
    float after = loss_of(copy);
    fprintf(stderr, "# loss on %s: %g -> %g after 10 steps\n", kcl_context_device(grind)->name,
            (double)before, (double)after);
    assert_true(after < 0.9f * before);
    kcl_model_free(copy);
    kcl_model_free(m);
}

static void save_on_pocl_loads_on_oclgrind(void **state)
{
    (void)state;
    if (!pocl || !grind)
        skip();
    char dir[] = "/tmp/kcl-move-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    kcl_model *m = trained_on_pocl(), *loaded;
    CHECK_OK(pocl, kcl_model_save(m, path));
    CHECK_OK(grind, kcl_model_load(grind, path, &loaded));
    reference r;
    reference_of(m, &r);
    assert_predicts(loaded, &r);
    assert_int_equal(kcl_optimizer_iterations(kcl_model_optimizer(loaded)), r.iterations);
    kcl_model_free(loaded);
    kcl_model_free(m);
    unlink(path);
    rmdir(dir);
}

static int setup(void **state)
{
    (void)state;
    uint64_t s = 99;
    for (int i = 0; i < N * IN; i++)
        x[i] = test_uniform(&s);
    for (int i = 0; i < N; i++)
        y[i] = sinf(2.0f * x[i * IN]) + 0.5f * x[i * IN + 1] - x[i * IN + 2] * x[i * IN];
    pocl = context_on("pocl");
    grind = context_on("oclgrind");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kcl_context_free(grind);
    kcl_context_free(pocl);
    return 0;
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_refuses_bad_calls),
        cmocka_unit_test(clone_continues_bit_for_bit),
        cmocka_unit_test(copy_to_oclgrind_predicts_the_same),
        cmocka_unit_test(copy_to_oclgrind_trains_on),
        cmocka_unit_test(save_on_pocl_loads_on_oclgrind),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

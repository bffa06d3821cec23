/* test_fashion_mlp: the Fashion-MNIST sample's network (samples/fashion_mnist.c:
 * Flatten 28x28, Dense 512 relu, Dropout 0.2, Dense 256 relu, Dropout 0.2,
 * Dense 10 softmax; cosine-decaying Adam; sparse categorical cross-entropy)
 * trained for a few steps on one small batch. It runs under Oclgrind too
 * (tests/meson.build), where every kernel of a real training step, the
 * matrix products included (kcl's own kernel: Oclgrind is a CPU device), is
 * checked for out-of-bounds accesses, races and uninitialised reads.
 *
 * Checks, against references that do not use kcl's results:
 *  - the loss after the step (in inference mode: Dropout is the identity)
 *    equals a double-precision host forward pass over the weights read back;
 *  - Adam's first step moves every weight by at most the learning rate, and
 *    the output bias (whose gradients are never zero here) by the learning
 *    rate itself, as Keras' Adam does: with m = (1-b1)g and v = (1-b2)g^2 the
 *    first update is lr * g / (|g| + eps / sqrt(1-b2));
 *  - the training loss is finite, and the host loss of the weights after
 *    the step is below that of the initial weights: training went downhill.
 * The device evaluates the batch once, after the step: under Oclgrind every
 * large product counts.
 * The batch is the first 8 images of the dataset's test set when Debian's
 * dataset-fashion-mnist is installed, else synthetic images of the same shape. */
#include "common.h"

/* Under Oclgrind, with its checks on, a training step (three products the
 * size of 8x784x512 plus Adam over 535,000 weights) takes tens of seconds:
 * one step between two evaluations is what fits. */
enum { BATCH = 8, PIXELS = 784, H1 = 512, H2 = 256, CLASSES = 10 };
static const float lr = 1e-3f;

static const char *const dense_names[3] = {"dense_a", "dense_b", "dense_c"};

static kcl_model *fashion_model(kcl_context *ctx)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_flatten(.input_shape = {28, 28})));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(H1, .name = "dense_a", .activation = "relu",
                                                   .kernel_initializer = kcl_init_he_normal(.seed = 1))));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dropout(0.2f, .seed = 2)));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(H2, .name = "dense_b", .activation = "relu",
                                                   .kernel_initializer = kcl_init_he_normal(.seed = 3))));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dropout(0.2f, .seed = 4)));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(CLASSES, .name = "dense_c", .activation = "softmax",
                                                   .kernel_initializer = kcl_init_glorot_uniform(.seed = 5))));
    kcl_optimizer_config adam = kcl_adam(
        .schedule = {.kind = KCL_SCHEDULE_COSINE_DECAY, .initial_learning_rate = lr,
                     .decay_steps = 1000, .alpha = 0.05f});
    CHECK_OK(ctx, kcl_compile(m, adam, "sparse_categorical_crossentropy", NULL));
    return m;
}

/* The batch: pixels in [0, 1] and labels 0..9. */
static void load_batch(kcl_context *ctx, float *x, float *y)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char images[256], labels[256];
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
    kcl_array xi = {0}, yi = {0};
    if (kcl_load_idx(ctx, images, &xi) == KCL_OK && kcl_load_idx(ctx, labels, &yi) == KCL_OK &&
        kcl_array_size(&xi) >= BATCH * PIXELS && kcl_array_size(&yi) >= BATCH) {
        for (int i = 0; i < BATCH * PIXELS; i++)
            x[i] = xi.data[i] / 255.0f;
        for (int i = 0; i < BATCH; i++)
            y[i] = yi.data[i];
        printf("# data: the first %d test images of Fashion-MNIST\n", BATCH);
    } else {
        uint64_t s = 5;
        for (int i = 0; i < BATCH * PIXELS; i++)
            x[i] = (test_uniform(&s) + 1) / 2;
        for (int i = 0; i < BATCH; i++)
            y[i] = (float)((i * 7) % CLASSES);
        printf("# data: synthetic (dataset-fashion-mnist not installed)\n");
    }
    kcl_array_free(&xi);
    kcl_array_free(&yi);
}

/* Weight i of a dense layer (0 kernel, 1 bias), malloc'ed copy. */
static float *weight(kcl_context *ctx, kcl_model *m, int layer, int i, size_t *n)
{
    kcl_tensor *t = kcl_layer_weight(kcl_model_layer_by_name(m, dense_names[layer]), (size_t)i);
    assert_non_null(t);
    *n = (size_t)kcl_tensor_size(t);
    float *v = malloc(*n * sizeof *v);
    assert_non_null(v);
    CHECK_OK(ctx, kcl_tensor_read(t, v, *n));
    return v;
}

/* out[r][j] = act(sum_k in[r][k] w[k][j] + b[j]) in double; relu or none. */
static void dense_ref(const double *in, int k, const float *w, const float *b, int n, int relu,
                      double *out)
{
    for (int r = 0; r < BATCH; r++)
        for (int j = 0; j < n; j++) {
            double s = b[j];
            for (int i = 0; i < k; i++)
                s += in[r * k + i] * (double)w[(size_t)i * n + j];
            out[r * n + j] = relu && s < 0 ? 0 : s;
        }
}

/* Mean sparse categorical cross-entropy of the network in inference mode. */
static double loss_ref(const float *x, const float *y, float *const w[3][2])
{
    double *in = malloc(BATCH * PIXELS * sizeof *in), *h1 = malloc(BATCH * H1 * sizeof *h1),
           *h2 = malloc(BATCH * H2 * sizeof *h2), logits[BATCH * CLASSES];
    assert_true(in && h1 && h2);
    for (int i = 0; i < BATCH * PIXELS; i++)
        in[i] = x[i];
    dense_ref(in, PIXELS, w[0][0], w[0][1], H1, 1, h1);
    dense_ref(h1, H1, w[1][0], w[1][1], H2, 1, h2);
    dense_ref(h2, H2, w[2][0], w[2][1], CLASSES, 0, logits);
    double loss = 0;
    for (int r = 0; r < BATCH; r++) {
        const double *l = logits + r * CLASSES;
        double mx = l[0], sum = 0;
        for (int j = 1; j < CLASSES; j++)
            mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < CLASSES; j++)
            sum += exp(l[j] - mx);
        loss += -(l[(int)y[r]] - mx - log(sum));
    }
    free(in);
    free(h1);
    free(h2);
    return loss / BATCH;
}

static void test_fashion_mlp_trains(void **state)
{
    kcl_context *ctx = *state;
    float *x = malloc(BATCH * PIXELS * sizeof *x), y[BATCH];
    assert_non_null(x);
    load_batch(ctx, x, y);
    kcl_model *m = fashion_model(ctx);
    int64_t xs[3] = {BATCH, 28, 28}, ys[1] = {BATCH};
    kcl_tensor *xt, *yt;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 3, xs, x, &xt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, ys, y, &yt));

    float *w0[3][2];
    size_t n[3][2];
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < 2; i++)
            w0[l][i] = weight(ctx, m, l, i, &n[l][i]);
    double loss0 = loss_ref(x, y, w0);

    float loss;
    CHECK_OK(ctx, kcl_train_on_batch(m, &xt, &yt, &loss, 1));
    assert_true(isfinite(loss));
    /* Adam's first step: |update| <= lr for every weight; the output bias
     * moves by lr to within (eps / sqrt(1 - b2)) / |g|. */
    float *w1[3][2];
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < 2; i++) {
            size_t count;
            w1[l][i] = weight(ctx, m, l, i, &count);
            for (size_t k = 0; k < count; k++) {
                double d = fabs((double)w1[l][i][k] - (double)w0[l][i][k]);
                assert_true(d <= lr * (1 + 1e-3));
                if (l == 2 && i == 1)
                    assert_true(d >= lr * (1 - 1e-2));
            }
        }
    float after;
    CHECK_OK(ctx, kcl_test_on_batch(m, &xt, &yt, &after, 1));
    double loss1 = loss_ref(x, y, w1);
    printf("# host loss of the initial weights %.7f; training loss %.5f; after the step: "
           "device %.7f, host %.7f\n", loss0, (double)loss, (double)after, loss1);
    assert_float_equal(after, loss1, 1e-5 * (1 + fabs(loss1)));
    assert_true(loss1 < loss0);

    for (int l = 0; l < 3; l++)
        for (int i = 0; i < 2; i++) {
            free(w0[l][i]);
            free(w1[l][i]);
        }
    free(x);
    kcl_tensor_free(xt);
    kcl_tensor_free(yt);
    kcl_model_free(m);
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
        cmocka_unit_test(test_fashion_mlp_trains),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

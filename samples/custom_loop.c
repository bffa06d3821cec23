/* custom_loop: a training loop written by hand with kcl's GradientTape, as in
 * Keras' guide "writing a training loop from scratch".
 *
 * 1. Fits y = 3x + 2 + noise with two scalar variables w and b.
 * 2. Fits a two-layer network (1 -> 32 tanh -> 1) to y = sin(3x) + noise.
 * Both minimise loss = reduce_mean(square(pred - y)) with plain SGD and print
 * the loss as it falls, and exits non-zero if a fit does not converge.
 * Device from $KCL_DEVICE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <kcl.h>

#define N 256

/* Aborts the sample (not the library's way: a sample may stop on error). */
#define TRY(ctx, call)                                                              \
    do {                                                                            \
        kcl_status st_ = (call);                                                    \
        if (st_ != KCL_OK) {                                                        \
            fprintf(stderr, "%s failed: %s\n", #call, kcl_errmsg(ctx));             \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

static float noise(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return ((float)(*state >> 8) / 16777216.0f - 0.5f) * 0.2f;
}

static kcl_tensor *variable(kcl_context *ctx, int rank, const int64_t *shape, kcl_initializer init)
{
    kcl_tensor *t;
    TRY(ctx, kcl_tensor_create(ctx, rank, shape, &t));
    TRY(ctx, kcl_initialize(ctx, &init, t));
    TRY(ctx, kcl_tensor_set_trainable(t, 1));
    return t;
}

/* loss = reduce_mean(square(pred - y)); frees pred. */
static kcl_tensor *mse(kcl_context *ctx, kcl_tensor *pred, kcl_tensor *y)
{
    kcl_tensor *diff, *sq, *loss;
    TRY(ctx, kcl_subtract(pred, y, &diff));
    TRY(ctx, kcl_square(diff, &sq));
    TRY(ctx, kcl_reduce_mean(sq, 0, NULL, 0, &loss));
    kcl_tensor_free(pred);
    kcl_tensor_free(diff);
    kcl_tensor_free(sq);
    return loss;
}

/* One SGD step over the variables; returns the loss value. */
static float step(kcl_context *ctx, kcl_tape *tape, kcl_tensor *loss, size_t n, kcl_tensor **vars,
                  float lr)
{
    kcl_tensor *grads[8];
    TRY(ctx, kcl_tape_gradient(tape, loss, n, vars, grads));
    for (size_t i = 0; i < n; i++) {
        TRY(ctx, kcl_sgd_update(vars[i], grads[i], lr));
        kcl_tensor_free(grads[i]);
    }
    float value;
    TRY(ctx, kcl_tensor_read(loss, &value, 1));
    return value;
}

/* Returns the last loss. */
static float linear_regression(kcl_context *ctx, kcl_tensor *x, kcl_tensor *y)
{
    float value = 0;
    int64_t one[1] = {1};
    kcl_tensor *w = variable(ctx, 1, one, kcl_init_random_normal(.seed = 1));
    kcl_tensor *b = variable(ctx, 1, one, kcl_init_zeros());
    kcl_tensor *vars[2] = {w, b};
    printf("linear model y = w x + b, target w = 3, b = 2\n");
    for (int epoch = 0; epoch <= 200; epoch++) {
        kcl_tape *tape;
        kcl_tensor *wx, *pred;
        TRY(ctx, kcl_tape_begin(ctx, NULL, &tape));
        TRY(ctx, kcl_multiply(x, w, &wx));
        TRY(ctx, kcl_add(wx, b, &pred));
        kcl_tensor *loss = mse(ctx, pred, y);
        value = step(ctx, tape, loss, 2, vars, 0.1f);
        if (epoch % 40 == 0) {
            float wv, bv;
            TRY(ctx, kcl_tensor_read(w, &wv, 1));
            TRY(ctx, kcl_tensor_read(b, &bv, 1));
            printf("  step %3d  loss %.5f  w %.3f  b %.3f\n", epoch, value, wv, bv);
        }
        kcl_tape_free(tape);
        kcl_tensor_free(wx);
        kcl_tensor_free(loss);
    }
    kcl_tensor_free(w);
    kcl_tensor_free(b);
    return value;
}

static float two_layer_network(kcl_context *ctx, kcl_tensor *x, kcl_tensor *y)
{
    float value = 0;
    int64_t s1[2] = {1, 32}, b1s[1] = {32}, s2[2] = {32, 1}, b2s[1] = {1};
    kcl_tensor *w1 = variable(ctx, 2, s1, kcl_init_glorot_uniform(.seed = 2));
    kcl_tensor *b1 = variable(ctx, 1, b1s, kcl_init_zeros());
    kcl_tensor *w2 = variable(ctx, 2, s2, kcl_init_glorot_uniform(.seed = 3));
    kcl_tensor *b2 = variable(ctx, 1, b2s, kcl_init_zeros());
    kcl_tensor *vars[4] = {w1, b1, w2, b2};
    printf("two-layer network 1 -> 32 tanh -> 1 on y = sin(3x)\n");
    for (int epoch = 0; epoch <= 2000; epoch++) {
        kcl_tape *tape;
        kcl_tensor *h0, *h1, *h, *o0, *pred;
        TRY(ctx, kcl_tape_begin(ctx, NULL, &tape));
        TRY(ctx, kcl_matmul(x, w1, &h0));
        TRY(ctx, kcl_bias_add(h0, b1, &h1));
        TRY(ctx, kcl_activation(h1, "tanh", NULL, &h));
        TRY(ctx, kcl_matmul(h, w2, &o0));
        TRY(ctx, kcl_bias_add(o0, b2, &pred));
        kcl_tensor *loss = mse(ctx, pred, y);
        value = step(ctx, tape, loss, 4, vars, 0.2f);
        if (epoch % 400 == 0)
            printf("  step %4d  loss %.5f\n", epoch, value);
        kcl_tape_free(tape);
        kcl_tensor *tmp[] = {h0, h1, h, o0, loss};
        for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++)
            kcl_tensor_free(tmp[i]);
    }
    for (int i = 0; i < 4; i++)
        kcl_tensor_free(vars[i]);
    return value;
}

int main(void)
{
    kcl_context *ctx;
    if (kcl_context_create(&ctx, NULL) != KCL_OK) {
        fprintf(stderr, "custom_loop: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    printf("device: %s\n", kcl_context_device(ctx)->name);
    float xs[N], lin[N], wave[N];
    unsigned seed = 7;
    for (int i = 0; i < N; i++) {
        xs[i] = -1.0f + 2.0f * (float)i / (N - 1);
        lin[i] = 3.0f * xs[i] + 2.0f + noise(&seed);
        wave[i] = sinf(3.0f * xs[i]) + noise(&seed);
    }
    int64_t shape[2] = {N, 1};
    kcl_tensor *x, *y_lin, *y_wave;
    TRY(ctx, kcl_tensor_from_host(ctx, 2, shape, xs, &x));
    TRY(ctx, kcl_tensor_from_host(ctx, 2, shape, lin, &y_lin));
    TRY(ctx, kcl_tensor_from_host(ctx, 2, shape, wave, &y_wave));
    float linear = linear_regression(ctx, x, y_lin);
    float network = two_layer_network(ctx, x, y_wave);
    kcl_context_free(ctx);
    /* The noise alone leaves a loss of 0.2²/12 = 0.0033: both fits should get
     * close to it. A non-zero exit lets the test suite run this sample. */
    int ok = linear < 0.01f && network < 0.02f;
    printf("%s\n", ok ? "both fits converged" : "a fit did not converge");
    return ok ? 0 : 1;
}

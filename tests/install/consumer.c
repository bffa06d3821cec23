/* consumer: a user's C program, built by tests/install-test.sh against the
 * installed kcl.h and library through pkg-config (shared and static). It
 * uses the header's C option macros, sets known weights and checks a
 * prediction computed by hand, trains a few epochs and checks the loss fell,
 * then copies the model and checks the copy predicts the same. Exits 1 on any failure. Deliberately uses no libm function itself:
 * whatever libm kcl needs must come from kcl.pc. */
#include <stdio.h>

#include <kcl.h>

#define TRY(ctx, call)                                                              \
    do {                                                                            \
        kcl_status st_ = (call);                                                    \
        if (st_ != KCL_OK) {                                                        \
            fprintf(stderr, "consumer: %s: %s: %s\n", #call, kcl_status_name(st_),  \
                    kcl_errmsg(ctx));                                               \
            goto done;                                                              \
        }                                                                           \
    } while (0)

enum { N = 32 };

static float distance(float a, float b)
{
    return a > b ? a - b : b - a;
}

int main(void)
{
    int failed = 1;
    kcl_context *ctx = NULL;
    TRY(NULL, kcl_context_create(&ctx, NULL));
    kcl_model *m;
    TRY(ctx, kcl_sequential(ctx, &m));
    TRY(ctx, kcl_model_add(m, kcl_layer_dense(1, .input_dim = 2, .name = "linear")));
    TRY(ctx, kcl_compile(m, kcl_sgd(.learning_rate = 0.1f), "mse", NULL));

    /* y = 2 x0 - 3 x1 + 0.5: with exactly these weights the prediction is y. */
    const float kernel[2] = {2.0f, -3.0f}, bias[1] = {0.5f};
    kcl_layer *linear = kcl_model_layer_by_name(m, "linear");
    TRY(ctx, kcl_layer_set_weight(linear, 0, kernel, 2));
    TRY(ctx, kcl_layer_set_weight(linear, 1, bias, 1));
    float x[N * 2], y[N];
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)(i % 7) / 7.0f - 0.5f;
        x[2 * i + 1] = (float)(i % 5) / 5.0f - 0.5f;
        y[i] = 2.0f * x[2 * i] - 3.0f * x[2 * i + 1] + 0.5f;
    }
    kcl_array xa = {x, 2, {N, 2}}, ya = {y, 2, {N, 1}}, pred;
    TRY(ctx, kcl_predict(m, 1, &xa, NULL, 1, &pred));
    float worst = 0.0f;
    for (int i = 0; i < N; i++)
        if (distance(pred.data[i], y[i]) > worst)
            worst = distance(pred.data[i], y[i]);
    kcl_array_free(&pred);
    if (worst > 1e-5f) {
        fprintf(stderr, "consumer: prediction off by %g\n", (double)worst);
        goto done;
    }

    /* From zero weights, a few epochs of SGD must lower the loss. */
    const float zeros[2] = {0.0f, 0.0f};
    TRY(ctx, kcl_layer_set_weight(linear, 0, zeros, 2));
    TRY(ctx, kcl_layer_set_weight(linear, 1, zeros, 1));
    float before, after;
    TRY(ctx, kcl_evaluate(m, 1, &xa, 1, &ya, NULL, &before, 1));
    TRY(ctx, kcl_fit(m, &xa, &ya, .epochs = 5, .batch_size = 8, .verbose = KCL_VERBOSE_SILENT,
                     .seed = 3));
    TRY(ctx, kcl_evaluate(m, 1, &xa, 1, &ya, NULL, &after, 1));
    printf("consumer: on %s, loss %.4f -> %.4f\n", kcl_context_device(ctx)->name,
           (double)before, (double)after);
    if (!(after < 0.5f * before)) {
        fprintf(stderr, "consumer: training did not lower the loss\n");
        goto done;
    }

    /* A copy (through the model's JSON: the part of kcl that needs json-c)
     * predicts exactly as the original on the same device. */
    kcl_model *copy;
    kcl_array pa, pb;
    TRY(ctx, kcl_model_copy(m, ctx, &copy));
    TRY(ctx, kcl_predict(m, 1, &xa, NULL, 1, &pa));
    kcl_status st = kcl_predict(copy, 1, &xa, NULL, 1, &pb);
    if (st == KCL_OK) {
        for (int i = 0; i < N; i++)
            if (pa.data[i] != pb.data[i])
                st = KCL_ERR_STATE;
        kcl_array_free(&pb);
    }
    kcl_array_free(&pa);
    TRY(ctx, st);
    failed = 0;
done:
    kcl_context_free(ctx);
    return failed;
}

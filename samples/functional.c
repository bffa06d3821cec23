/* functional: a two-input Functional model with a shared layer, as in
 * Keras' functional API guide: two feature vectors go through the same
 * Dense encoder (shared weights), are concatenated, and a head predicts
 * whether the two come from the same class. */
#include <stdio.h>
#include <stdlib.h>

#include <kcl.h>

#define TRY(ctx, call)                                                         \
    do {                                                                       \
        if ((call) != KCL_OK) {                                                \
            fprintf(stderr, "functional: %s\n", kcl_errmsg(ctx));              \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

enum { N = 2048, D = 8 };

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f;
}

int main(void)
{
    kcl_context *ctx;
    if (kcl_context_create(&ctx, NULL) != KCL_OK) {
        fprintf(stderr, "functional: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    /* Points around 4 class centres; label 1 when a and b share the class. */
    static float av[N * D], bv[N * D], yv[N];
    unsigned s = 1;
    for (int i = 0; i < N; i++) {
        int ca = (int)(frand(&s) * 4), cb = frand(&s) < 0.5f ? ca : (int)(frand(&s) * 4);
        for (int j = 0; j < D; j++) {
            av[i * D + j] = (j % 4 == ca ? 1.5f : 0.0f) + frand(&s) - 0.5f;
            bv[i * D + j] = (j % 4 == cb ? 1.5f : 0.0f) + frand(&s) - 0.5f;
        }
        yv[i] = ca == cb;
    }
    int64_t shape[1] = {D};
    kcl_sym *a, *b, *ea, *eb, *joined, *hidden, *out;
    TRY(ctx, kcl_input(ctx, 1, shape, "a", &a));
    TRY(ctx, kcl_input(ctx, 1, shape, "b", &b));
    kcl_layer *encoder = kcl_layer_dense(16, .activation = "relu", .name = "shared_encoder",
                                         .kernel_initializer = kcl_init_he_normal(.seed = 1));
    TRY(ctx, kcl_call(encoder, a, &ea));
    TRY(ctx, kcl_call(encoder, b, &eb));   /* the same weights again */
    TRY(ctx, kcl_call_n(kcl_layer_concatenate(), 2, (kcl_sym *[]){ea, eb}, &joined));
    TRY(ctx, kcl_call(kcl_layer_dense(16, .activation = "relu",
                                      .kernel_initializer = kcl_init_he_normal(.seed = 2)),
                      joined, &hidden));
    TRY(ctx, kcl_call(kcl_layer_dense(1, .activation = "sigmoid",
                                      .kernel_initializer = kcl_init_glorot_uniform(.seed = 3)),
                      hidden, &out));
    kcl_model *m;
    TRY(ctx, kcl_functional(ctx, 2, (kcl_sym *[]){a, b}, 1, &out, "pair_classifier", &m));
    char *summary;
    TRY(ctx, kcl_model_summary(m, &summary));
    fputs(summary, stdout);
    free(summary);

    TRY(ctx, kcl_compile(m, kcl_adam(.learning_rate = 5e-3f), "binary_crossentropy", "accuracy"));
    kcl_array x[2] = {{av, 2, {N, D}}, {bv, 2, {N, D}}}, y = {yv, 2, {N, 1}};
    kcl_fit_options fit = {.epochs = 15, .batch_size = 64, .validation_split = 0.2f, .seed = 4};
    TRY(ctx, kcl_fit_arrays(m, 2, x, 1, &y, &fit, NULL));
    float results[2];
    TRY(ctx, kcl_evaluate(m, 2, x, 1, &y, NULL, results, 2));
    printf("loss %.4f, accuracy %.4f\n", results[0], results[1]);
    kcl_model_free(m);
    kcl_context_free(ctx);
    return results[1] > 0.9f ? 0 : 1;
}

/* regression: a small regression with mean squared error and EarlyStopping-style
 * stopping through a user callback on val_loss, then the fitted function
 * against the truth. y = sin(x0) + 0.5 x1² + noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcl.h>

#define TRY(ctx, call)                                                         \
    do {                                                                       \
        if ((call) != KCL_OK) {                                                \
            fprintf(stderr, "regression: %s\n", kcl_errmsg(ctx));              \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

enum { N = 2000 };

/* Stops when val_loss has not improved by min_delta for patience epochs. */
typedef struct early_stop {
    float best, min_delta;
    int patience, wait, stopped_at;
} early_stop;

static kcl_status on_epoch_end(kcl_model *m, int epoch, const kcl_logs *logs, void *user)
{
    early_stop *e = user;
    for (size_t i = 0; i < logs->n; i++) {
        if (strcmp(logs->keys[i], "val_loss") != 0)
            continue;
        if (logs->values[i] < e->best - e->min_delta) {
            e->best = logs->values[i];
            e->wait = 0;
        } else if (++e->wait >= e->patience) {
            e->stopped_at = epoch + 1;
            kcl_model_stop_training(m);
        }
    }
    return KCL_OK;
}

int main(void)
{
    kcl_context *ctx;
    if (kcl_context_create(&ctx, NULL) != KCL_OK) {
        fprintf(stderr, "regression: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    static float xv[N * 2], yv[N];
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 2; j++) {
            s = s * 1103515245u + 12345u;
            xv[i * 2 + j] = ((float)((s >> 8) & 0xffff) / 65536.0f) * 4.0f - 2.0f;
        }
        s = s * 1103515245u + 12345u;
        float noise = ((float)((s >> 8) & 0xffff) / 65536.0f - 0.5f) * 0.1f;
        yv[i] = sinf(xv[i * 2]) + 0.5f * xv[i * 2 + 1] * xv[i * 2 + 1] + noise;
    }
    kcl_array x = {xv, 2, {N, 2}}, y = {yv, 2, {N, 1}};

    kcl_model *m;
    TRY(ctx, kcl_sequential(ctx, &m));
    TRY(ctx, kcl_model_add(m, kcl_layer_dense(64, .input_dim = 2, .activation = "tanh",
                                              .kernel_initializer = kcl_init_glorot_uniform(.seed = 1))));
    TRY(ctx, kcl_model_add(m, kcl_layer_dense(64, .activation = "tanh",
                                              .kernel_initializer = kcl_init_glorot_uniform(.seed = 2))));
    TRY(ctx, kcl_model_add(m, kcl_layer_dense(1, .kernel_initializer = kcl_init_glorot_uniform(.seed = 3))));
    TRY(ctx, kcl_compile(m, kcl_adam(.learning_rate = 3e-3f), "mse", "mae"));

    early_stop stop = {.best = INFINITY, .min_delta = 1e-4f, .patience = 5};
    kcl_callback *cb;
    TRY(ctx, kcl_callback_create(&(kcl_callback_hooks){.user = &stop, .on_epoch_end = on_epoch_end}, &cb));
    kcl_fit_options fit = {.epochs = 200, .batch_size = 64, .validation_split = 0.2f,
                           .verbose = KCL_VERBOSE_LINE, .seed = 4, .n_callbacks = 1, .callbacks = &cb};
    kcl_history *h;
    TRY(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &fit, &h));
    int epochs = kcl_history_epochs(h);
    printf("trained %d epochs%s; best val_loss %.5f\n", epochs,
           stop.stopped_at ? " (stopped early)" : "", stop.best);

    float results[2];
    TRY(ctx, kcl_evaluate(m, 1, &x, 1, &y, NULL, results, 2));
    printf("mse %.5f, mae %.5f (noise alone: mse %.5f)\n", results[0], results[1], 0.1 * 0.1 / 12);
    kcl_history_free(h);
    kcl_callback_free(cb);
    kcl_model_free(m);
    kcl_context_free(ctx);
    return results[0] < 0.01f ? 0 : 1;
}

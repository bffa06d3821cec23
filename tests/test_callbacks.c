/* test_callbacks: Keras' built-in callbacks. Their decision rules replayed on
 * hand-made sequences (the expected epochs are worked out by hand from Keras'
 * code, in the comments), then each callback wired into a real fit. */
#include <stdbool.h>
#include <unistd.h>

#include "common.h"

/* The rules alone (internal, lib/callbacks_builtin.c). */
int kcl__early_stopping_replay(const kcl_early_stopping_options *options, int n,
                               const float *values, int *best_epoch);
kcl_status kcl__reduce_lr_replay(const kcl_reduce_lr_options *options, float learning_rate,
                                 int n, const float *values, float *rates);

static kcl_context *ctx;

/* -------------------------------------------------------------- the rules -- */

static int es(kcl_early_stopping_options o, int n, const float *values, int *best)
{
    return kcl__early_stopping_replay(&o, n, values, best);
}

static void test_early_stopping_rule(void **state)
{
    (void)state;
    int best;
    /* min, patience 2: 5 best, 4 best, then waits 1, 2: stop at epoch 3. */
    const float a[] = {5, 4, 4.5f, 4.2f, 4.1f, 3};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss", .patience = 2}, 6, a, &best), 3);
    assert_int_equal(best, 1);
    /* min_delta 0.5: 4.6 is not 0.5 below 5: stop at epoch 1 (patience 1). */
    const float b[] = {5, 4.6f, 4.0f, 3.9f};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss", .patience = 1,
                                                     .min_delta = 0.5f}, 4, b, &best), 1);
    assert_int_equal(best, 0);
    /* min_delta's sign is ignored (abs), as Keras. */
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss", .patience = 1,
                                                     .min_delta = -0.5f}, 4, b, NULL), 1);
    /* max: an equal value is no improvement. */
    const float c[] = {0.5f, 0.6f, 0.6f, 0.7f};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "x", .mode = 2, .patience = 1}, 4, c, &best), 2);
    assert_int_equal(best, 1);
    /* auto: "acc" in the name means max, otherwise min. */
    const float d[] = {0.5f, 0.4f, 0.3f};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "val_accuracy", .patience = 1}, 3, d, NULL), 1);
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "val_auc", .patience = 1}, 3, d, NULL), 1);
    assert_int_equal(es((kcl_early_stopping_options){.patience = 1}, 3, d, NULL), 0);
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "val_accuracy", .mode = 1,
                                                     .patience = 1}, 3, d, NULL), 0);
    /* baseline 1: improvements that miss the baseline still count as waiting
     * but never stop on their own epoch; 0.9 beats it (wait 0), then 0.95 and
     * 0.96 wait 1 and 2: stop at epoch 6. */
    const float e[] = {3, 2, 1.5f, 1.4f, 0.9f, 0.95f, 0.96f};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss", .patience = 2,
                                                     .baseline = 1}, 7, e, &best), 6);
    assert_int_equal(best, 4);
    /* baseline never beaten, no improvement: waits 1 (epoch 0), 2: stop at 1. */
    const float f[] = {3, 3.5f, 3.6f};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss", .patience = 2,
                                                     .baseline = 1}, 3, f, NULL), 1);
    /* start_from_epoch 2: epochs 0 and 1 ignored; 3 best, 4 waits: stop at 3. */
    const float g[] = {1, 2, 3, 4, 5};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss", .patience = 1,
                                                     .start_from_epoch = 2}, 5, g, &best), 3);
    assert_int_equal(best, 2);
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss", .patience = 1}, 5, g, NULL), 1);
    /* patience 0 stops at the first epoch without improvement, never at epoch 0:
     * NaN is no improvement but epoch 0 cannot stop; 1 best; 1 again: stop at 2. */
    const float h[] = {NAN, 1, 1, 0};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss"}, 4, h, &best), 2);
    assert_int_equal(best, 1);
    const float k[] = {2, 1, 0.5f};
    assert_int_equal(es((kcl_early_stopping_options){.monitor = "loss"}, 3, k, NULL), 0);
    /* bad options */
    kcl_callback *cb;
    assert_int_equal(kcl_early_stopping(&(kcl_early_stopping_options){.mode = 3}, &cb), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_early_stopping(&(kcl_early_stopping_options){.patience = -1}, &cb),
                     KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_early_stopping_stopped_epoch(NULL), 0);
}

static void expect_rates(kcl_reduce_lr_options o, int n, const float *values, const float *want)
{
    float got[16];
    CHECK_OK(ctx, kcl__reduce_lr_replay(&o, 1.0f, n, values, got));
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("epoch %d: rate %.9g, expected %.9g", i, got[i], want[i]);
}

static void test_reduce_lr_rule(void **state)
{
    (void)state;
    const float flat[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    /* patience 2: waits 1, 2 -> reduce (wait 0), 1, 2 -> reduce ... */
    const float r0[] = {1, 1, 0.5f, 0.5f, 0.25f, 0.25f, 0.125f, 0.125f};
    expect_rates((kcl_reduce_lr_options){.monitor = "loss", .factor = 0.5f, .patience = 2}, 8, flat, r0);
    /* cooldown 2 after each reduction: epoch 3 ends the first cooldown epoch
     * (counter 1), epoch 4 the second (counter 0, then wait 1), epoch 5 waits 2. */
    const float r1[] = {1, 1, 0.5f, 0.5f, 0.5f, 0.25f, 0.25f, 0.25f};
    expect_rates((kcl_reduce_lr_options){.monitor = "loss", .factor = 0.5f, .patience = 2,
                                         .cooldown = 2}, 8, flat, r1);
    /* patience 1, cooldown 2: no reduction during the cooldown epoch 2, 4, 6. */
    const float r5[] = {1, 0.5f, 0.5f, 0.25f, 0.25f, 0.125f, 0.125f, 0.0625f};
    expect_rates((kcl_reduce_lr_options){.monitor = "loss", .factor = 0.5f, .patience = 1,
                                         .cooldown = 2}, 8, flat, r5);
    /* cooldown 1 changes nothing in Keras' rule (the counter is spent before
     * the check). */
    expect_rates((kcl_reduce_lr_options){.monitor = "loss", .factor = 0.5f, .patience = 2,
                                         .cooldown = 1}, 8, flat, r0);
    /* min_lr 0.3: 0.25 is raised to 0.3, which then stays. */
    const float r2[] = {1, 1, 0.5f, 0.5f, 0.3f, 0.3f, 0.3f, 0.3f};
    expect_rates((kcl_reduce_lr_options){.monitor = "loss", .factor = 0.5f, .patience = 2,
                                         .min_lr = 0.3f}, 8, flat, r2);
    /* default min_delta 1e-4: 0.99995 and 0.99992 are no improvement on 1,
     * 0.9998 is; default factor 0.1. */
    const float v3[] = {1, 0.99995f, 0.99992f, 0.9998f, 0.9998f};
    const float r3[] = {1, 1, 0.1f, 0.1f, 0.1f};
    expect_rates((kcl_reduce_lr_options){.monitor = "loss", .patience = 2}, 5, v3, r3);
    /* auto with "acc": max. 0.6 improves on 0.5; then two waits. */
    const float v4[] = {0.5f, 0.6f, 0.6f, 0.6f};
    const float r4[] = {1, 1, 1, 0.1f};
    expect_rates((kcl_reduce_lr_options){.monitor = "val_accuracy", .patience = 2}, 4, v4, r4);
    /* default patience 10 */
    float rates[12], flat12[12];
    for (int i = 0; i < 12; i++)
        flat12[i] = 1;
    CHECK_OK(ctx, kcl__reduce_lr_replay(&(kcl_reduce_lr_options){.monitor = "loss"}, 1.0f, 12,
                                        flat12, rates));
    assert_true(rates[9] == 1.0f && rates[10] == 0.1f && rates[11] == 0.1f);
    kcl_callback *cb;
    assert_int_equal(kcl_reduce_lr_on_plateau(&(kcl_reduce_lr_options){.factor = 1.0f}, &cb),
                     KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_reduce_lr_on_plateau(&(kcl_reduce_lr_options){.min_lr = -1}, &cb),
                     KCL_ERR_ARGUMENT);
}

/* ------------------------------------------------------------- real fits -- */

enum { N = 64, IN = 3, HID = 4, MAX_EPOCHS = 24, MAX_FLOATS = 64 };

static float xs[N * IN], ys[N];

static void make_data(void)
{
    float *r = test_random(N * IN, 3);
    memcpy(xs, r, sizeof xs);
    free(r);
    for (int i = 0; i < N; i++)
        ys[i] = (float)(xs[i * IN] - 2.0 * xs[i * IN + 1] + 0.5 * xs[i * IN + 2] + 0.3);
}

/* 3 -> 4 (tanh) -> 1 with fixed weights, so every run trains the same. */
static kcl_model *tiny_model(float learning_rate, const char *metrics)
{
    float w1[IN * HID], b1[HID] = {0}, w2[HID], b2[1] = {0};
    for (int i = 0; i < IN * HID; i++)
        w1[i] = 0.1f * (float)((i * 7) % 11) - 0.5f;
    for (int i = 0; i < HID; i++)
        w2[i] = 0.3f - 0.2f * (float)i;
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(HID, .input_dim = IN, .activation = "tanh")));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1)));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 0, w1, IN * HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 1, b1, HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 1), 0, w2, HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 1), 1, b2, 1));
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = learning_rate), "mse", metrics));
    return m;
}

/* Every weight of m, concatenated (public API only). */
static size_t read_weights(kcl_model *m, float *out)
{
    size_t at = 0;
    for (size_t l = 0; l < kcl_model_layer_count(m); l++) {
        kcl_layer *layer = kcl_model_layer(m, l);
        for (size_t k = 0; k < kcl_layer_weight_count(layer); k++) {
            kcl_tensor *w = kcl_layer_weight(layer, k);
            size_t n = (size_t)kcl_tensor_size(w);
            assert_true(at + n <= MAX_FLOATS);
            CHECK_OK(ctx, kcl_tensor_read(w, out + at, n));
            at += n;
        }
    }
    return at;
}

/* A user callback that records what each epoch and batch saw. */
typedef struct recorder {
    int epochs;
    int64_t batches;
    float lr[MAX_EPOCHS];                  /* the rate each epoch trained with */
    float weights[MAX_EPOCHS][MAX_FLOATS]; /* after each epoch */
    size_t n_weights;
    const char *watch;                     /* a checkpoint file: written this epoch? */
    bool written[MAX_EPOCHS];
} recorder;

static kcl_status rec_epoch_begin(kcl_model *m, int epoch, void *user)
{
    recorder *r = user;
    assert_true(epoch < MAX_EPOCHS);
    r->lr[epoch] = kcl_optimizer_learning_rate(kcl_model_optimizer(m));
    return KCL_OK;
}

static kcl_status rec_epoch_end(kcl_model *m, int epoch, const kcl_logs *logs, void *user)
{
    (void)logs;
    recorder *r = user;
    r->epochs++;
    r->n_weights = read_weights(m, r->weights[epoch]);
    if (r->watch) {
        /* the latest file written moves to "<watch>.kept" */
        char kept[96];
        snprintf(kept, sizeof kept, "%s.kept", r->watch);
        r->written[epoch] = access(r->watch, F_OK) == 0;
        if (r->written[epoch])
            assert_int_equal(rename(r->watch, kept), 0);
    }
    return KCL_OK;
}

static kcl_status rec_batch_end(kcl_model *m, int64_t batch, const kcl_logs *logs, void *user)
{
    (void)m, (void)batch, (void)logs;
    ((recorder *)user)->batches++;
    return KCL_OK;
}

static kcl_callback *recorder_callback(recorder *r, bool batches)
{
    kcl_callback_hooks h = {.user = r, .on_epoch_begin = rec_epoch_begin,
                            .on_epoch_end = rec_epoch_end,
                            .on_batch_end = batches ? rec_batch_end : NULL};
    kcl_callback *cb;
    CHECK_OK(ctx, kcl_callback_create(&h, &cb));
    return cb;
}

static kcl_status fit(kcl_model *m, int epochs, float validation_split, size_t n_callbacks,
                      kcl_callback *const *callbacks, kcl_history **h)
{
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
    kcl_fit_options fo = {.epochs = epochs, .batch_size = 16, .validation_split = validation_split,
                          .verbose = KCL_VERBOSE_SILENT, .no_shuffle = 1,
                          .n_callbacks = n_callbacks, .callbacks = callbacks};
    return kcl_fit_arrays(m, 1, &x, 1, &y, &fo, h);
}

static void test_early_stopping_fit_restores_best(void **state)
{
    (void)state;
    make_data();
    kcl_model *m = tiny_model(0.1f, NULL);
    recorder *r = calloc(1, sizeof *r);
    kcl_callback *cbs[2] = {recorder_callback(r, false)};
    kcl_early_stopping_options o = {.min_delta = 0.02f, .patience = 2, .restore_best_weights = 1};
    CHECK_OK(ctx, kcl_early_stopping(&o, &cbs[1]));
    kcl_history *h;
    CHECK_OK(ctx, fit(m, MAX_EPOCHS, 0.25f, 2, cbs, &h));
    /* The epoch Keras' rule picks from the recorded val_loss values. */
    int epochs = kcl_history_epochs(h), best, stopped = kcl_early_stopping_stopped_epoch(cbs[1]);
    const float *val = kcl_history_get(h, "val_loss");
    assert_non_null(val);
    assert_int_equal(kcl__early_stopping_replay(&o, epochs, val, &best), stopped);
    assert_true(stopped > 0 && stopped < MAX_EPOCHS - 1);
    assert_int_equal(epochs, stopped + 1);
    assert_int_equal(r->epochs, epochs);
    /* a real restoration: the best epoch is not the last one and its weights differ */
    assert_true(best >= 1 && best < stopped);
    assert_memory_not_equal(r->weights[best], r->weights[stopped], r->n_weights * sizeof(float));
    float now[MAX_FLOATS];
    assert_int_equal(read_weights(m, now), r->n_weights);
    assert_memory_equal(now, r->weights[best], r->n_weights * sizeof(float));
    kcl_history_free(h);

    /* A missing monitored key warns and never stops (no validation data). */
    kcl_callback *plain;
    CHECK_OK(ctx, kcl_early_stopping(&(kcl_early_stopping_options){.patience = 0}, &plain));
    CHECK_OK(ctx, fit(m, 3, 0, 1, &plain, &h));
    assert_int_equal(kcl_history_epochs(h), 3);
    assert_int_equal(kcl_early_stopping_stopped_epoch(plain), 0);
    kcl_history_free(h);
    kcl_callback_free(plain);
    kcl_callback_free(cbs[0]);
    kcl_callback_free(cbs[1]);
    free(r);
    kcl_model_free(m);
}

static void assert_decreasing(const float *v, int n)
{
    for (int i = 1; i < n; i++)
        if (!(v[i] < v[i - 1]))
            fail_msg("the loss did not decrease at epoch %d: %g then %g", i, v[i - 1], v[i]);
}

static void test_reduce_lr_fit(void **state)
{
    (void)state;
    make_data();
    kcl_model *m = tiny_model(0.01f, NULL);
    recorder *r = calloc(1, sizeof *r);
    kcl_callback *cbs[2] = {recorder_callback(r, false)};
    /* max mode on a falling loss: only epoch 0 improves; patience 1 reduces at
     * every later epoch end: 0.01 -> 0.005 -> max(0.0025, min_lr 0.003) -> stays. */
    kcl_reduce_lr_options o = {.monitor = "loss", .mode = 2, .patience = 1, .factor = 0.5f,
                               .min_lr = 0.003f};
    CHECK_OK(ctx, kcl_reduce_lr_on_plateau(&o, &cbs[1]));
    kcl_history *h;
    CHECK_OK(ctx, fit(m, 5, 0, 2, cbs, &h));
    assert_int_equal(kcl_history_epochs(h), 5);
    assert_decreasing(kcl_history_get(h, "loss"), 5);
    const float want[5] = {0.01f, 0.01f, 0.005f, 0.003f, 0.003f};
    for (int i = 0; i < 5; i++)
        assert_float_equal(r->lr[i], want[i], 1e-9);
    assert_float_equal(kcl_optimizer_learning_rate(kcl_model_optimizer(m)), 0.003f, 1e-9);
    kcl_history_free(h);
    kcl_callback_free(cbs[0]);
    kcl_callback_free(cbs[1]);
    free(r);
    kcl_model_free(m);
}

static void test_terminate_on_nan(void **state)
{
    (void)state;
    make_data();
    xs[40 * IN + 1] = NAN;       /* sample 40: the third batch of 16 */
    kcl_model *m = tiny_model(0.01f, NULL);
    recorder *r = calloc(1, sizeof *r);
    kcl_callback *cbs[2] = {NULL, recorder_callback(r, true)};
    CHECK_OK(ctx, kcl_terminate_on_nan(&cbs[0]));
    kcl_history *h;
    assert_int_equal(fit(m, 3, 0, 2, cbs, &h), KCL_ERR_NUMERIC);
    assert_non_null(strstr(kcl_errmsg(ctx), "step 3"));
    assert_int_equal(kcl_history_epochs(h), 0);
    assert_int_equal(r->epochs, 0);
    assert_int_equal(r->batches, 2);   /* the batches before the NaN */
    kcl_history_free(h);
    /* Without it the loss is only read at the epoch's end. */
    assert_int_equal(fit(m, 3, 0, 0, NULL, NULL), KCL_ERR_NUMERIC);
    assert_null(strstr(kcl_errmsg(ctx), "step"));
    kcl_callback_free(cbs[0]);
    kcl_callback_free(cbs[1]);
    free(r);
    kcl_model_free(m);
}

/* NaN or infinity in the targets, infinity in the inputs: the same stop at the
 * batch that holds it (Keras' TerminateOnNaN checks isnan or isinf). As in
 * Keras only the loss is checked: an infinite input that a saturating tanh
 * turns into a finite loss is not noticed. */
static void test_terminate_on_nan_targets_and_inf(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++) {
        make_data();
        if (c == 0)
            ys[20] = NAN;            /* the second batch of 16 */
        else if (c == 1)
            ys[20] = INFINITY;
        else   /* the first batch, where w1[1][3] is still 0: inf * 0 is NaN */
            xs[5 * IN + 1] = INFINITY;
        kcl_model *m = tiny_model(0.01f, NULL);
        recorder *r = calloc(1, sizeof *r);
        kcl_callback *cbs[2] = {NULL, recorder_callback(r, true)};
        CHECK_OK(ctx, kcl_terminate_on_nan(&cbs[0]));
        kcl_status st = fit(m, 3, 0, 2, cbs, NULL);
        if (st != KCL_ERR_NUMERIC)
            fail_msg("case %d: %s, '%s'", c, kcl_status_name(st), kcl_errmsg(ctx));
        if (!strstr(kcl_errmsg(ctx), c < 2 ? "step 2" : "step 1"))
            fail_msg("case %d: '%s'", c, kcl_errmsg(ctx));
        assert_int_equal(r->batches, c < 2 ? 1 : 0);
        assert_int_equal(r->epochs, 0);
        kcl_callback_free(cbs[0]);
        kcl_callback_free(cbs[1]);
        free(r);
        kcl_model_free(m);
    }
}

/* A learning rate so large that the loss overflows after some epochs, with a
 * checkpoint written every epoch: the file left is that of the last finite
 * epoch, whole, with finite weights equal to the model's at that epoch end. */
static void test_checkpoint_survives_nan(void **state)
{
    (void)state;
    make_data();
    char path[64];
    snprintf(path, sizeof path, "/tmp/kcl_test_callbacks_nan_%d.safetensors", (int)getpid());
    kcl_model *m = tiny_model(3.0f, NULL);
    recorder *r = calloc(1, sizeof *r);
    kcl_callback *cbs[3] = {NULL, NULL, recorder_callback(r, false)};
    CHECK_OK(ctx, kcl_terminate_on_nan(&cbs[0]));
    CHECK_OK(ctx, kcl_model_checkpoint(&(kcl_model_checkpoint_options){.path = path,
                                                                      .save_weights_only = 1},
                                       &cbs[1]));
    assert_int_equal(fit(m, MAX_EPOCHS, 0, 3, cbs, NULL), KCL_ERR_NUMERIC);
    int finite_epochs = r->epochs;
    /* some epochs ended finite, then one did not */
    if (finite_epochs < 1 || finite_epochs >= MAX_EPOCHS)
        fail_msg("%d finite epochs: the rate does not make the loss overflow mid-run",
                 finite_epochs);
    float now[MAX_FLOATS];
    read_weights(m, now);
    bool nan_now = false;
    for (size_t i = 0; i < r->n_weights; i++)
        nan_now |= !isfinite(now[i]);
    /* the model takes the file's weights back (the names are its own) */
    CHECK_OK(ctx, kcl_model_load_weights(m, path));
    float loaded[MAX_FLOATS];
    assert_int_equal(read_weights(m, loaded), r->n_weights);
    for (size_t i = 0; i < r->n_weights; i++)
        assert_true(isfinite(loaded[i]));
    assert_memory_equal(loaded, r->weights[finite_epochs - 1], r->n_weights * sizeof(float));
    print_message("loss overflowed in epoch %d; weights %s\n", finite_epochs + 1,
                  nan_now ? "not finite" : "finite");
    for (int k = 0; k < 3; k++)
        kcl_callback_free(cbs[k]);
    free(r);
    kcl_model_free(m);
    unlink(path);
}

/* ------------------------------------------------------------ csv logger -- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Checks rows [first, first + n) of text against h: "epoch<sep>values" in
 * sorted key order, each value reading back to the exact float. */
static const char *check_rows(const char *text, const kcl_history *h, int n, const char *sep,
                              const char *const *keys, size_t n_keys)
{
    for (int e = 0; e < n; e++) {
        char *end;
        assert_int_equal(strtol(text, &end, 10), e);
        text = end;
        for (size_t k = 0; k < n_keys; k++) {
            assert_memory_equal(text, sep, strlen(sep));
            float v = strtof(text + strlen(sep), &end);
            assert_true(end > text + strlen(sep));
            if (v != kcl_history_get(h, keys[k])[e])
                fail_msg("epoch %d %s: file %.9g, history %.9g", e, keys[k], v,
                         kcl_history_get(h, keys[k])[e]);
            text = end;
        }
        assert_memory_equal(text, "\r\n", 2);   /* Python csv's line end */
        text += 2;
    }
    return text;
}

static void test_csv_logger(void **state)
{
    (void)state;
    make_data();
    char path[64];
    snprintf(path, sizeof path, "/tmp/kcl_test_callbacks_%d.csv", (int)getpid());
    kcl_model *m = tiny_model(0.05f, "mae");
    kcl_callback *cb;
    CHECK_OK(ctx, kcl_csv_logger(path, NULL, 0, &cb));
    kcl_history *h;
    CHECK_OK(ctx, fit(m, 3, 0.25f, 1, &cb, &h));
    const char *keys[] = {"loss", "mae", "val_loss", "val_mae"};   /* sorted */
    const char *header = "epoch,loss,mae,val_loss,val_mae\r\n";
    char *text = read_file(path);
    assert_memory_equal(text, header, strlen(header));
    assert_string_equal(check_rows(text + strlen(header), h, 3, ",", keys, 4), "");
    kcl_history_free(h);

    /* append: no second header, rows continue (epochs count from 0 again) */
    kcl_callback *more;
    CHECK_OK(ctx, kcl_csv_logger(path, ",", 1, &more));
    CHECK_OK(ctx, fit(m, 2, 0.25f, 1, &more, &h));
    text = read_file(path);
    const char *rest = strstr(text, "\r\n2,");
    assert_non_null(rest);
    assert_null(strstr(text + 1, "epoch"));
    assert_string_equal(check_rows(strstr(rest + 2, "\r\n") + 2, h, 2, ",", keys, 4), "");
    kcl_history_free(h);

    /* a new fit without append rewrites the file; another separator */
    kcl_callback *semi;
    CHECK_OK(ctx, kcl_csv_logger(path, ";", 0, &semi));
    CHECK_OK(ctx, fit(m, 2, 0, 1, &semi, &h));
    text = read_file(path);
    assert_memory_equal(text, "epoch;loss;mae\r\n", 16);
    assert_string_equal(check_rows(text + 16, h, 2, ";", keys, 2), "");
    kcl_history_free(h);

    assert_int_equal(kcl_csv_logger(path, "", 0, &cb), KCL_ERR_ARGUMENT);
    kcl_callback *bad;
    CHECK_OK(ctx, kcl_csv_logger("/nonexistent-dir/x.csv", NULL, 0, &bad));
    assert_int_equal(fit(m, 1, 0, 1, &bad, NULL), KCL_ERR_IO);
    kcl_callback_free(bad);
    kcl_callback_free(cb);
    kcl_callback_free(more);
    kcl_callback_free(semi);
    unlink(path);
    kcl_model_free(m);
}

/* -------------------------------------------------------- model checkpoint -- */

/* Runs fit with a checkpoint and a recorder watching its file; returns the epochs. */
static int fit_checkpoint(kcl_model *m, kcl_model_checkpoint_options o, int epochs,
                          float validation_split, recorder *r, kcl_history **h)
{
    memset(r, 0, sizeof *r);
    r->watch = o.path;
    kcl_callback *cbs[2] = {NULL, recorder_callback(r, false)};
    CHECK_OK(ctx, kcl_model_checkpoint(&o, &cbs[0]));
    CHECK_OK(ctx, fit(m, epochs, validation_split, 2, cbs, h));
    kcl_callback_free(cbs[0]);
    kcl_callback_free(cbs[1]);
    return kcl_history_epochs(*h);
}

static void test_model_checkpoint(void **state)
{
    (void)state;
    make_data();
    char path[64];
    snprintf(path, sizeof path, "/tmp/kcl_test_callbacks_%d.safetensors", (int)getpid());
    /* save_best_only on val_loss (min): written exactly when it beats every
     * earlier value. A high rate makes it fall, then rise. */
    kcl_model *m = tiny_model(0.3f, NULL);
    recorder *r = calloc(1, sizeof *r);
    kcl_history *h;
    kcl_model_checkpoint_options o = {.path = path, .save_best_only = 1, .save_weights_only = 1};
    int n = fit_checkpoint(m, o, 8, 0.25f, r, &h), written = 0;
    const float *val = kcl_history_get(h, "val_loss");
    double best = INFINITY;
    for (int e = 0; e < n; e++) {
        bool better = val[e] < best;
        best = better ? val[e] : best;
        written += r->written[e];
        if (r->written[e] != better)
            fail_msg("epoch %d: val_loss %g (best %g): written %d", e, val[e], best, r->written[e]);
    }
    assert_true(written > 1 && written < n);   /* both cases happened */
    /* the file holds the best epoch's weights */
    int last = 0;
    for (int e = 0; e < n; e++)
        last = r->written[e] ? e : last;
    char kept[96];
    snprintf(kept, sizeof kept, "%s.kept", path);
    CHECK_OK(ctx, kcl_model_load_weights(m, kept));
    float now[MAX_FLOATS];
    assert_int_equal(read_weights(m, now), r->n_weights);
    assert_memory_equal(now, r->weights[last], r->n_weights * sizeof(float));
    assert_memory_not_equal(now, r->weights[n - 1], r->n_weights * sizeof(float));
    kcl_history_free(h);
    kcl_model_free(m);
    m = tiny_model(0.05f, NULL);
    /* max mode on a falling loss: only the first epoch */
    o = (kcl_model_checkpoint_options){.path = path, .monitor = "loss", .mode = 2,
                                       .save_best_only = 1};
    n = fit_checkpoint(m, o, 4, 0, r, &h);
    assert_decreasing(kcl_history_get(h, "loss"), n);
    for (int e = 0; e < n; e++)
        assert_int_equal(r->written[e], e == 0);
    kcl_history_free(h);
    /* every epoch without save_best_only, or when the key is missing */
    for (int best_only = 0; best_only < 2; best_only++) {
        o = (kcl_model_checkpoint_options){.path = path, .save_best_only = best_only};
        n = fit_checkpoint(m, o, 3, 0, r, &h);
        for (int e = 0; e < n; e++)
            assert_true(r->written[e]);
        kcl_history_free(h);
    }
    kcl_callback *cb;
    /* a whole-model checkpoint loads back as a model */
    kcl_model *loaded;
    CHECK_OK(ctx, kcl_model_load(ctx, kept, &loaded));
    kcl_model_free(loaded);
    assert_int_equal(kcl_model_checkpoint(&(kcl_model_checkpoint_options){0}, &cb), KCL_ERR_ARGUMENT);
    unlink(kept);
    free(r);
    kcl_model_free(m);
}

/* ------------------------------------------------------- verbose messages -- */

/* A model whose loss the test sets: Dense(1) on zero inputs predicts exactly
 * its bias b, so with zero targets and one batch per epoch the epoch's loss is
 * b * b (exact in float for these b). An epoch-begin hook sets b. */
static const float scheduled_bias[] = {2, 1, 1.5f, 0.5f, 1, 1, 0.25f, 0.25f};
enum { SCHEDULE = 8 };   /* losses 4, 1, 2.25, 0.25, 1, 1, 0.0625, 0.0625 */

static kcl_status set_bias(kcl_model *m, int epoch, void *user)
{
    (void)user;
    assert_true(epoch < SCHEDULE);
    return kcl_layer_set_weight(kcl_model_layer(m, 0), 1, &scheduled_bias[epoch], 1);
}

/* The context's info lines, as an application's log callback sees them. */
typedef struct transcript {
    int n;
    char lines[16][160];
} transcript;

static void keep_line(void *user, int level, const char *text)
{
    transcript *t = user;
    if (level != KCL_LOG_INFO)
        fail_msg("unexpected log line (level %d): %s", level, text);
    assert_true(t->n < 16);
    snprintf(t->lines[t->n++], sizeof t->lines[0], "%s", text);
}

/* Fits the scheduled model for `epochs` with the built-in callback cb (freed
 * here) and returns the lines logged; the losses must be the scheduled ones. */
static transcript scheduled_fit(kcl_callback *cb, int epochs, int want_epochs)
{
    float zeros[4] = {0};
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .input_dim = 1)));
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = 0.5f), "mse", NULL));
    kcl_callback_hooks hooks = {.on_epoch_begin = set_bias};
    kcl_callback *cbs[2] = {NULL, cb};
    CHECK_OK(ctx, kcl_callback_create(&hooks, &cbs[0]));
    transcript t = {0};
    kcl_set_log_callback(ctx, keep_line, &t);
    kcl_array x = {zeros, 2, {4, 1}}, y = {zeros, 2, {4, 1}};
    kcl_fit_options fo = {.epochs = epochs, .batch_size = 4, .verbose = KCL_VERBOSE_SILENT,
                          .no_shuffle = 1, .n_callbacks = 2, .callbacks = cbs};
    kcl_history *h;
    kcl_status st = kcl_fit_arrays(m, 1, &x, 1, &y, &fo, &h);
    kcl_set_log_callback(ctx, NULL, NULL);
    CHECK_OK(ctx, st);
    assert_int_equal(kcl_history_epochs(h), want_epochs);
    const float *loss = kcl_history_get(h, "loss");
    for (int e = 0; e < want_epochs; e++)
        assert_float_equal(loss[e], scheduled_bias[e] * scheduled_bias[e], 0.0);
    kcl_history_free(h);
    kcl_callback_free(cbs[0]);
    kcl_callback_free(cb);
    kcl_model_free(m);
    return t;
}

static void assert_lines(const transcript *t, int n, const char *const *want)
{
    for (int i = 0; i < n && i < t->n; i++)
        assert_string_equal(t->lines[i], want[i]);
    assert_int_equal(t->n, n);
}

/* The expected lines are what Keras 3.11.3's own callbacks print (less the
 * leading newline of some) when fed the same losses: on_epoch_end(e,
 * {"loss": v}) on keras.callbacks.EarlyStopping(monitor="loss", patience=2,
 * restore_best_weights=True, verbose=1), ModelCheckpoint(path,
 * monitor="loss", save_best_only=True or False, save_weights_only=True,
 * verbose=1) and ReduceLROnPlateau(monitor="loss", patience=1, min_lr=0.001,
 * verbose=1) on a model compiled with SGD(0.5). */
static void test_verbose_messages(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/kcl_test_verbose_%d.safetensors", (int)getpid());
    kcl_callback *cb;

    /* best 4, 1, waits 1, best 0.25 (epoch 4), waits 1, 2: stops after epoch 6 */
    CHECK_OK(ctx, kcl_early_stopping(&(kcl_early_stopping_options){
        .monitor = "loss", .patience = 2, .restore_best_weights = 1, .verbose = 1}, &cb));
    transcript t = scheduled_fit(cb, SCHEDULE, 6);
    const char *early[] = {"Epoch 6: early stopping",
                           "Restoring model weights from the end of the best epoch: 4."};
    assert_lines(&t, 2, early);

    kcl_model_checkpoint_options co = {.path = path, .monitor = "loss", .save_best_only = 1,
                                       .save_weights_only = 1, .verbose = 1};
    CHECK_OK(ctx, kcl_model_checkpoint(&co, &cb));
    t = scheduled_fit(cb, 5, 5);
    char best[5][160];
    snprintf(best[0], 160, "Epoch 1: loss improved from None to 4.00000, saving model to %s", path);
    snprintf(best[1], 160, "Epoch 2: loss improved from 4.00000 to 1.00000, saving model to %s", path);
    snprintf(best[2], 160, "Epoch 3: loss did not improve from 1.00000");
    snprintf(best[3], 160, "Epoch 4: loss improved from 1.00000 to 0.25000, saving model to %s", path);
    snprintf(best[4], 160, "Epoch 5: loss did not improve from 0.25000");
    const char *best_lines[] = {best[0], best[1], best[2], best[3], best[4]};
    assert_lines(&t, 5, best_lines);
    co.save_best_only = 0;
    CHECK_OK(ctx, kcl_model_checkpoint(&co, &cb));
    t = scheduled_fit(cb, 2, 2);
    snprintf(best[0], 160, "Epoch 1: saving model to %s", path);
    snprintf(best[1], 160, "Epoch 2: saving model to %s", path);
    assert_lines(&t, 2, best_lines);

    /* 4, 1 improve; 2.25 waits: 0.5 * 0.1; 0.25 improves; 1 waits:
     * float(0.05f) * 0.1; 1 waits: 0.0005... is below min_lr 0.001. */
    CHECK_OK(ctx, kcl_reduce_lr_on_plateau(&(kcl_reduce_lr_options){
        .monitor = "loss", .patience = 1, .min_lr = 0.001f, .verbose = 1}, &cb));
    t = scheduled_fit(cb, 6, 6);
    const char *reduce[] = {
        "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.05.",
        "Epoch 5: ReduceLROnPlateau reducing learning rate to 0.005000000074505806.",
        "Epoch 6: ReduceLROnPlateau reducing learning rate to 0.001."};
    assert_lines(&t, 3, reduce);

    /* verbose 0 (Keras' default): the same fits say nothing */
    CHECK_OK(ctx, kcl_early_stopping(&(kcl_early_stopping_options){
        .monitor = "loss", .patience = 2, .restore_best_weights = 1}, &cb));
    assert_int_equal(scheduled_fit(cb, SCHEDULE, 6).n, 0);
    co.verbose = 0;
    CHECK_OK(ctx, kcl_model_checkpoint(&co, &cb));
    assert_int_equal(scheduled_fit(cb, 2, 2).n, 0);
    CHECK_OK(ctx, kcl_reduce_lr_on_plateau(&(kcl_reduce_lr_options){
        .monitor = "loss", .patience = 1, .min_lr = 0.001f}, &cb));
    assert_int_equal(scheduled_fit(cb, 6, 6).n, 0);
    unlink(path);
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
        cmocka_unit_test(test_early_stopping_rule),
        cmocka_unit_test(test_reduce_lr_rule),
        cmocka_unit_test(test_early_stopping_fit_restores_best),
        cmocka_unit_test(test_reduce_lr_fit),
        cmocka_unit_test(test_terminate_on_nan),
        cmocka_unit_test(test_terminate_on_nan_targets_and_inf),
        cmocka_unit_test(test_checkpoint_survives_nan),
        cmocka_unit_test(test_csv_logger),
        cmocka_unit_test(test_model_checkpoint),
        cmocka_unit_test(test_verbose_messages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* train.h: training state shared by train.c, fit.c, progress.c, history.c
 * and callbacks.c. */
#ifndef KCL_TRAIN_H
#define KCL_TRAIN_H

#include "model.h"

struct kcl_train_state {
    kcl_optimizer *optimizer;
    size_t n_losses;             /* one per output */
    kcl_loss_config *losses;
    float *loss_weights;
    size_t n_metric_configs;     /* per output */
    kcl_metric_config *metric_configs;
    kcl_metric **metrics;        /* n_outputs * n_metric_configs */
    kcl_tensor *loss_sum;        /* running sum of batch loss * batch size (device) */
    double loss_count;           /* samples so far (host: known without the device) */
    size_t n_names;              /* "loss" + metrics */
    char **names;
    bool stop_training;
};

/* One step on device tensors (x: model inputs, y: targets, sw: NULL or
 * per-sample weights). Training steps update the weights. */
kcl_status kcl__train_step(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                           kcl_tensor *sw, bool training);
/* Zeroes the running loss and metrics (start of an epoch or evaluation). */
kcl_status kcl__reset_metrics(kcl_model *m);
/* Reads loss and metrics (waits): values[kcl_model_metric_count]. */
kcl_status kcl__read_metrics(kcl_model *m, float *values);
/* Builds a model whose first layer had no input shape, from a batch. */
kcl_status kcl__ensure_built(kcl_model *m, kcl_tensor *const *x);

/* Progress output (progress.c). */
typedef struct kcl_progress kcl_progress;
kcl_progress *kcl__progress_begin(kcl_context *ctx, kcl_verbose verbose, int epoch, int epochs,
                                  int64_t steps);
/* Shows step (1-based); values (names) are shown when given. */
void kcl__progress_step(kcl_progress *p, int64_t step, size_t n, char *const *names,
                        const float *values);
/* Ends the epoch's line with the final values (validation ones after). */
void kcl__progress_end(kcl_progress *p, size_t n, char *const *names, const float *values,
                       size_t n_val, char *const *val_names, const float *val_values);
/* Whether the bar wants fresh values now (at most a few times a second). */
bool kcl__progress_due(const kcl_progress *p);

/* History (history.c). */
kcl_status kcl__history_new(kcl_history **h);
kcl_status kcl__history_append(kcl_history *h, const char *key, float value);
kcl_status kcl__history_end_epoch(kcl_history *h);

/* Callbacks (callbacks.c). */
typedef enum kcl_hook { KCL_HOOK_TRAIN_BEGIN, KCL_HOOK_TRAIN_END, KCL_HOOK_EPOCH_BEGIN,
                        KCL_HOOK_EPOCH_END, KCL_HOOK_BATCH_BEGIN, KCL_HOOK_BATCH_END } kcl_hook;
kcl_status kcl__callbacks_run(kcl_model *m, size_t n, kcl_callback *const *cbs, kcl_hook hook,
                              int64_t index, const kcl_logs *logs);
bool kcl__callbacks_want_batch_logs(size_t n, kcl_callback *const *cbs);
/* The hooks a callback was created with (NULL for NULL). */
const kcl_callback_hooks *kcl__callback_hooks(const kcl_callback *cb);

/* The built-in callbacks' decision rules on a sequence of monitored values,
 * for tests (callbacks_builtin.c): the epoch EarlyStopping stops at (0: none)
 * and the learning rate ReduceLROnPlateau leaves after each epoch. */
int kcl__early_stopping_replay(const kcl_early_stopping_options *options, int n,
                               const float *values, int *best_epoch);
kcl_status kcl__reduce_lr_replay(const kcl_reduce_lr_options *options, float learning_rate,
                                 int n, const float *values, float *rates);

#endif

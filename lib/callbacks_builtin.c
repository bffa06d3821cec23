/* callbacks_builtin.c: Keras' built-in callbacks (EarlyStopping,
 * ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN, CSVLogger). Each is a
 * kcl_callback over a private state struct that its destroy hook frees. The
 * decision rules are pure functions of the monitored values (*_step), so the
 * tests can replay them on hand-made sequences (kcl__*_replay). With
 * verbose set they log Keras' own messages (kcl__log, KCL_LOG_INFO). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

static void python_float(double v, char *buf, size_t size);

/* A callback over state; on failure destroy(state) runs, so callers never leak it. */
static kcl_status make_callback(kcl_callback_hooks hooks, void *state, void (*destroy)(void *),
                                kcl_callback **out)
{
    hooks.user = state;
    hooks.destroy = destroy;
    kcl_status st = kcl_callback_create(&hooks, out);
    if (st && destroy)
        destroy(state);
    return st;
}

static bool logs_get(const kcl_logs *logs, const char *key, double *value)
{
    for (size_t i = 0; logs && i < logs->n; i++)
        if (strcmp(logs->keys[i], key) == 0) {
            *value = logs->values[i];
            return true;
        }
    return false;
}

/* ---------------------------------------------------------------- monitor -- */

/* A monitored log key and its direction. */
typedef struct monitor {
    char *key;
    int sign;                    /* +1: higher is better; -1: lower is better */
    bool warned;                 /* the missing-key warning was shown once */
} monitor;

static kcl_status monitor_init(monitor *mo, const char *key, int mode, const char *who)
{
    if (mode < 0 || mode > 2)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "%s: mode %d is not 0 (auto), 1 (min) or 2 (max)",
                         who, mode);
    key = key ? key : "val_loss";
    if (!(mo->key = strdup(key)))
        return kcl__fail(NULL, KCL_ERR_MEMORY, "%s: out of host memory", who);
    bool up = strstr(key, "acc") || strstr(key, "auc");
    mo->sign = mode == 2 || (mode == 0 && up) ? 1 : -1;
    mo->warned = false;
    return KCL_OK;
}

static double monitor_worst(const monitor *mo)
{
    return mo->sign > 0 ? -INFINITY : INFINITY;
}

/* Keras' MonitorCallback._is_improvement: current beats reference by more than min_delta. */
static bool monitor_improves(const monitor *mo, double min_delta, double current, double reference)
{
    return mo->sign > 0 ? current - min_delta > reference : current + min_delta < reference;
}

/* The monitored value of logs; a missing key warns (once) as Keras does and
 * leaves the callback idle for that epoch. */
static bool monitor_value(kcl_model *m, monitor *mo, const kcl_logs *logs, const char *who,
                          double *value)
{
    *value = 0.0;   /* defined also when the key is missing (and for the compiler) */
    if (logs_get(logs, mo->key, value))
        return true;
    if (!mo->warned) {
        char keys[512] = "";
        size_t used = 0;
        for (size_t i = 0; logs && i < logs->n && used < sizeof keys; i++)
            used += (size_t)snprintf(keys + used, sizeof keys - used, "%s%s", i ? "," : " ",
                                     logs->keys[i]);
        kcl__log(m->ctx, KCL_LOG_WARNING,
                 "kcl: %s conditioned on metric '%s' which is not available. "
                 "Available metrics are:%s", who, mo->key, keys);
        mo->warned = true;
    }
    return false;
}

/* --------------------------------------------------------------- snapshot -- */

/* A host copy of every weight of a model (Keras' get_weights). */
typedef struct snapshot {
    size_t n_tensors;
    size_t n_floats;
    float *data;                 /* NULL: none taken */
} snapshot;

static kcl_status snapshot_take(kcl_model *m, snapshot *s)
{
    kcl_tensor **w;
    size_t n;
    kcl_status st = kcl__model_weights(m, false, &w, &n);
    if (st)
        return st;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (size_t)kcl_tensor_size(w[i]);
    if (!s->data || total != s->n_floats) {
        float *data = realloc(s->data, (total ? total : 1) * sizeof *data);
        if (!data) {
            free(w);
            return kcl__fail(m->ctx, KCL_ERR_MEMORY, "EarlyStopping: out of host memory");
        }
        s->data = data;
    }
    s->n_tensors = n;
    s->n_floats = total;
    size_t at = 0;
    for (size_t i = 0; !st && i < n; i++) {
        size_t size = (size_t)kcl_tensor_size(w[i]);
        st = kcl_tensor_read(w[i], s->data + at, size);
        at += size;
    }
    free(w);
    return st;
}

static kcl_status snapshot_restore(kcl_model *m, const snapshot *s)
{
    kcl_tensor **w;
    size_t n;
    kcl_status st = kcl__model_weights(m, false, &w, &n);
    if (st)
        return st;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (size_t)kcl_tensor_size(w[i]);
    if (n != s->n_tensors || total != s->n_floats)
        st = kcl__fail(m->ctx, KCL_ERR_STATE, "EarlyStopping: model '%s' changed its weights "
                       "during training (%zu tensors now, %zu kept)", m->name, n, s->n_tensors);
    size_t at = 0;
    for (size_t i = 0; !st && i < n; i++) {
        size_t size = (size_t)kcl_tensor_size(w[i]);
        st = kcl_tensor_write(w[i], s->data + at, size);
        at += size;
    }
    free(w);
    return st;
}

/* --------------------------------------------------------- early stopping -- */

typedef struct early_stopping {
    monitor mo;
    double min_delta;
    int patience;
    bool has_baseline;
    double baseline;
    bool restore_best_weights;
    int start_from_epoch;
    bool verbose;
    double best;                 /* kept across fits, as Keras */
    int wait;
    int stopped_epoch;
    int best_epoch;
    snapshot best_weights;
} early_stopping;

typedef enum es_verdict { ES_SKIPPED, ES_IMPROVED, ES_WAITING, ES_STOP } es_verdict;

/* Keras' EarlyStopping.on_epoch_end rule for one epoch's monitored value. */
static es_verdict es_step(early_stopping *s, int epoch, double current)
{
    if (epoch < s->start_from_epoch)
        return ES_SKIPPED;
    s->wait++;
    if (monitor_improves(&s->mo, s->min_delta, current, s->best)) {
        s->best = current;
        s->best_epoch = epoch;
        /* wait restarts only when both the best and the baseline are beaten */
        if (!s->has_baseline || monitor_improves(&s->mo, s->min_delta, current, s->baseline))
            s->wait = 0;
        return ES_IMPROVED;
    }
    if (s->wait >= s->patience && epoch > 0) {
        s->stopped_epoch = epoch;
        return ES_STOP;
    }
    return ES_WAITING;
}

static void es_begin_fit(early_stopping *s)
{
    s->wait = 0;
    s->stopped_epoch = 0;
    s->best_epoch = 0;
    free(s->best_weights.data);
    s->best_weights = (snapshot){0};
}

static kcl_status es_train_begin(kcl_model *m, void *user)
{
    (void)m;
    es_begin_fit(user);
    return KCL_OK;
}

static kcl_status es_epoch_end(kcl_model *m, int epoch, const kcl_logs *logs, void *user)
{
    early_stopping *s = user;
    double current;
    if (!monitor_value(m, &s->mo, logs, "EarlyStopping", &current))
        return KCL_OK;
    bool had_weights = s->best_weights.data != NULL;
    es_verdict v = es_step(s, epoch, current);
    if (v == ES_SKIPPED)
        return KCL_OK;
    kcl_status st = KCL_OK;
    /* Keras keeps the first watched epoch's weights even without improvement. */
    if (s->restore_best_weights && (v == ES_IMPROVED || !had_weights)) {
        if (!had_weights)
            s->best_epoch = v == ES_IMPROVED ? s->best_epoch : epoch;
        st = snapshot_take(m, &s->best_weights);
    }
    if (v == ES_STOP)
        kcl_model_stop_training(m);
    return st;
}

static kcl_status es_train_end(kcl_model *m, const kcl_logs *logs, void *user)
{
    (void)logs;
    early_stopping *s = user;
    if (s->verbose && s->stopped_epoch > 0)
        kcl__log(m->ctx, KCL_LOG_INFO, "Epoch %d: early stopping", s->stopped_epoch + 1);
    if (!s->restore_best_weights || !s->best_weights.data)
        return KCL_OK;
    if (s->verbose)
        kcl__log(m->ctx, KCL_LOG_INFO,
                 "Restoring model weights from the end of the best epoch: %d.", s->best_epoch + 1);
    return snapshot_restore(m, &s->best_weights);
}

static void es_destroy(void *user)
{
    early_stopping *s = user;
    if (!s)
        return;
    free(s->mo.key);
    free(s->best_weights.data);
    free(s);
}

static kcl_status es_new(const kcl_early_stopping_options *options, early_stopping **out)
{
    kcl_early_stopping_options o = options ? *options : (kcl_early_stopping_options){0};
    *out = NULL;
    if (o.patience < 0 || o.start_from_epoch < 0 || !isfinite(o.min_delta) ||
        !isfinite(o.baseline))
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "EarlyStopping: patience %d, start_from_epoch %d, "
                         "min_delta %g or baseline %g out of range", o.patience,
                         o.start_from_epoch, o.min_delta, o.baseline);
    early_stopping *s = calloc(1, sizeof *s);
    if (!s)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "EarlyStopping: out of host memory");
    kcl_status st = monitor_init(&s->mo, o.monitor, o.mode, "EarlyStopping");
    if (st) {
        free(s);
        return st;
    }
    s->min_delta = fabs((double)o.min_delta);
    s->patience = o.patience;
    s->has_baseline = o.baseline != 0;
    s->baseline = o.baseline;
    s->restore_best_weights = o.restore_best_weights != 0;
    s->start_from_epoch = o.start_from_epoch;
    s->verbose = o.verbose != 0;
    s->best = monitor_worst(&s->mo);
    *out = s;
    return KCL_OK;
}

kcl_status kcl_early_stopping(const kcl_early_stopping_options *options, kcl_callback **out)
{
    if (!out)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_early_stopping: NULL out");
    *out = NULL;
    early_stopping *s;
    kcl_status st = es_new(options, &s);
    if (st)
        return st;
    kcl_callback_hooks h = {.on_train_begin = es_train_begin, .on_epoch_end = es_epoch_end,
                            .on_train_end = es_train_end};
    return make_callback(h, s, es_destroy, out);
}

int kcl_early_stopping_stopped_epoch(const kcl_callback *cb)
{
    /* The epoch-end hook identifies an EarlyStopping callback. */
    const kcl_callback_hooks *h = kcl__callback_hooks(cb);
    if (!h || h->on_epoch_end != es_epoch_end)
        return 0;
    return ((const early_stopping *)h->user)->stopped_epoch;
}

int kcl__early_stopping_replay(const kcl_early_stopping_options *options, int n,
                               const float *values, int *best_epoch)
{
    early_stopping *s;
    if (es_new(options, &s))
        return -1;
    for (int epoch = 0; epoch < n && es_step(s, epoch, values[epoch]) != ES_STOP; epoch++)
        ;
    int stopped = s->stopped_epoch;
    if (best_epoch)
        *best_epoch = s->best_epoch;
    es_destroy(s);
    return stopped;
}

/* ------------------------------------------------------- model checkpoint -- */

typedef struct checkpoint {
    monitor mo;
    char *path;
    bool save_best_only;
    bool save_weights_only;
    bool verbose;
    bool has_best;               /* Keras' best is None until the first value */
    double best;                 /* kept across fits, as Keras */
} checkpoint;

/* Keras' ModelCheckpoint._should_save_model for epoch-end saving, with its
 * messages (epoch counted from 1 in them). */
static bool checkpoint_should_save(kcl_model *m, checkpoint *s, int epoch, const kcl_logs *logs)
{
    double current;
    if (!s->save_best_only) {
        if (s->verbose)
            kcl__log(m->ctx, KCL_LOG_INFO, "Epoch %d: saving model to %s", epoch + 1, s->path);
        return true;
    }
    if (!monitor_value(m, &s->mo, logs, "ModelCheckpoint (save_best_only)", &current))
        return true;         /* Keras saves when it cannot compare (and says nothing) */
    char best[48] = "None";
    if (s->has_best)
        snprintf(best, sizeof best, "%.5f", s->best);
    if (s->has_best && !monitor_improves(&s->mo, 0.0, current, s->best)) {
        if (s->verbose)
            kcl__log(m->ctx, KCL_LOG_INFO, "Epoch %d: %s did not improve from %s", epoch + 1,
                     s->mo.key, best);
        return false;
    }
    if (s->verbose)
        kcl__log(m->ctx, KCL_LOG_INFO, "Epoch %d: %s improved from %s to %.5f, saving model to %s",
                 epoch + 1, s->mo.key, best, current, s->path);
    s->best = current;
    s->has_best = true;
    return true;
}

static kcl_status checkpoint_epoch_end(kcl_model *m, int epoch, const kcl_logs *logs, void *user)
{
    checkpoint *s = user;
    if (!checkpoint_should_save(m, s, epoch, logs))
        return KCL_OK;
    return s->save_weights_only ? kcl_model_save_weights(m, s->path) : kcl_model_save(m, s->path);
}

static void checkpoint_destroy(void *user)
{
    checkpoint *s = user;
    if (!s)
        return;
    free(s->mo.key);
    free(s->path);
    free(s);
}

kcl_status kcl_model_checkpoint(const kcl_model_checkpoint_options *options, kcl_callback **out)
{
    if (!out || !options || !options->path || !*options->path)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "ModelCheckpoint: NULL out or no path");
    *out = NULL;
    checkpoint *s = calloc(1, sizeof *s);
    if (!s)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "ModelCheckpoint: out of host memory");
    kcl_status st = monitor_init(&s->mo, options->monitor, options->mode, "ModelCheckpoint");
    if (!st && !(s->path = strdup(options->path)))
        st = kcl__fail(NULL, KCL_ERR_MEMORY, "ModelCheckpoint: out of host memory");
    if (st) {
        checkpoint_destroy(s);
        return st;
    }
    s->save_best_only = options->save_best_only != 0;
    s->save_weights_only = options->save_weights_only != 0;
    s->verbose = options->verbose != 0;
    s->best = monitor_worst(&s->mo);
    kcl_callback_hooks h = {.on_epoch_end = checkpoint_epoch_end};
    return make_callback(h, s, checkpoint_destroy, out);
}

/* ----------------------------------------------------- reduce lr on plateau -- */

typedef struct reduce_lr {
    monitor mo;
    double factor;
    int patience;
    double min_delta;
    int cooldown;
    double min_lr;
    bool verbose;
    double best;
    int wait;
    int cooldown_counter;
} reduce_lr;

/* The double a float option stands for: the shortest decimal that reads back
 * as that float (0.1f means 0.1). Keras computes the new rate with Python's
 * float factor and min_lr, and its message prints that double, so 0.1 (not
 * 0.100000001490116) keeps both the rate and the text identical to Keras'. */
static double decimal_of_float(float v)
{
    char text[32];
    for (int digits = 1; digits < 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)v);
        if (strtof(text, NULL) == v)
            return strtod(text, NULL);
    }
    return v;
}

static void reduce_lr_reset(reduce_lr *s)
{
    s->best = monitor_worst(&s->mo);
    s->wait = 0;
    s->cooldown_counter = 0;
}

/* Keras' ReduceLROnPlateau.on_epoch_end rule: *lr is the current rate and
 * becomes the new one; true when it was reduced. */
static bool reduce_lr_step(reduce_lr *s, double current, double *lr)
{
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->wait = 0;
    }
    bool better = s->mo.sign > 0 ? current > s->best + s->min_delta
                                 : current < s->best - s->min_delta;
    if (better) {
        s->best = current;
        s->wait = 0;
        return false;
    }
    if (s->cooldown_counter > 0 || ++s->wait < s->patience)
        return false;
    /* Keras compares with min_lr as float32: a rate already at min_lr stays. */
    if (!(*lr > (double)(float)s->min_lr))
        return false;
    *lr = fmax(*lr * s->factor, s->min_lr);
    s->cooldown_counter = s->cooldown;
    s->wait = 0;
    return true;
}

static kcl_status reduce_lr_train_begin(kcl_model *m, void *user)
{
    (void)m;
    reduce_lr_reset(user);
    return KCL_OK;
}

static kcl_status reduce_lr_epoch_end(kcl_model *m, int epoch, const kcl_logs *logs, void *user)
{
    reduce_lr *s = user;
    kcl_optimizer *opt = kcl_model_optimizer(m);
    if (!opt)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "ReduceLROnPlateau: model '%s' has no optimizer",
                         m->name);
    double current;
    if (!monitor_value(m, &s->mo, logs, "ReduceLROnPlateau", &current))
        return KCL_OK;
    double lr = kcl_optimizer_learning_rate(opt);
    if (!reduce_lr_step(s, current, &lr))
        return KCL_OK;
    if (s->verbose) {
        char text[48];
        python_float(lr, text, sizeof text);
        kcl__log(m->ctx, KCL_LOG_INFO, "Epoch %d: ReduceLROnPlateau reducing learning rate to %s.",
                 epoch + 1, text);
    }
    return kcl_optimizer_set_learning_rate(opt, (float)lr);
}

static void reduce_lr_destroy(void *user)
{
    reduce_lr *s = user;
    if (!s)
        return;
    free(s->mo.key);
    free(s);
}

static kcl_status reduce_lr_new(const kcl_reduce_lr_options *options, reduce_lr **out)
{
    kcl_reduce_lr_options o = options ? *options : (kcl_reduce_lr_options){0};
    *out = NULL;
    if (!(o.factor >= 0 && o.factor < 1) || o.patience < 0 || o.cooldown < 0 ||
        !(o.min_lr >= 0) || !isfinite(o.min_lr) || !isfinite(o.min_delta))
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "ReduceLROnPlateau: factor %g (must be < 1), "
                         "patience %d, cooldown %d, min_lr %g or min_delta %g out of range",
                         o.factor, o.patience, o.cooldown, o.min_lr, o.min_delta);
    reduce_lr *s = calloc(1, sizeof *s);
    if (!s)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "ReduceLROnPlateau: out of host memory");
    kcl_status st = monitor_init(&s->mo, o.monitor, o.mode, "ReduceLROnPlateau");
    if (st) {
        free(s);
        return st;
    }
    s->factor = o.factor ? decimal_of_float(o.factor) : 0.1;
    s->patience = o.patience ? o.patience : 10;
    s->min_delta = o.min_delta ? o.min_delta : 1e-4;
    s->cooldown = o.cooldown;
    s->min_lr = decimal_of_float(o.min_lr);
    s->verbose = o.verbose != 0;
    reduce_lr_reset(s);
    *out = s;
    return KCL_OK;
}

kcl_status kcl_reduce_lr_on_plateau(const kcl_reduce_lr_options *options, kcl_callback **out)
{
    if (!out)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_reduce_lr_on_plateau: NULL out");
    *out = NULL;
    reduce_lr *s;
    kcl_status st = reduce_lr_new(options, &s);
    if (st)
        return st;
    kcl_callback_hooks h = {.on_train_begin = reduce_lr_train_begin,
                            .on_epoch_end = reduce_lr_epoch_end};
    return make_callback(h, s, reduce_lr_destroy, out);
}

kcl_status kcl__reduce_lr_replay(const kcl_reduce_lr_options *options, float learning_rate,
                                 int n, const float *values, float *rates)
{
    reduce_lr *s;
    kcl_status st = reduce_lr_new(options, &s);
    if (st)
        return st;
    float lr = learning_rate;
    for (int epoch = 0; epoch < n; epoch++) {
        double next = lr;
        if (reduce_lr_step(s, values[epoch], &next))
            lr = (float)next;    /* the optimizer keeps a float */
        rates[epoch] = lr;
    }
    reduce_lr_destroy(s);
    return KCL_OK;
}

/* -------------------------------------------------------- terminate on nan -- */

static kcl_status terminate_on_nan_batch_end(kcl_model *m, int64_t batch, const kcl_logs *logs,
                                             void *user)
{
    (void)user;
    double loss;
    if (!logs_get(logs, "loss", &loss) || isfinite(loss))
        return KCL_OK;
    kcl_model_stop_training(m);
    return kcl__fail(m->ctx, KCL_ERR_NUMERIC, "TerminateOnNaN: batch %lld: invalid loss %g, "
                     "terminating training", (long long)batch, loss);
}

kcl_status kcl_terminate_on_nan(kcl_callback **out)
{
    if (!out)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_terminate_on_nan: NULL out");
    *out = NULL;
    kcl_callback_hooks h = {.on_batch_end = terminate_on_nan_batch_end};
    return make_callback(h, NULL, NULL, out);
}

/* ------------------------------------------------------------- csv logger -- */

typedef struct csv_logger {
    char *path;
    char *sep;
    bool append;
    bool write_header;
    FILE *file;
    size_t n_keys;               /* 0 with keys NULL: not yet known in this fit */
    char **keys;                 /* sorted, from the first epoch's logs */
} csv_logger;

static void csv_free_keys(csv_logger *s)
{
    for (size_t i = 0; i < s->n_keys; i++)
        free(s->keys[i]);
    free(s->keys);
    s->keys = NULL;
    s->n_keys = 0;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static kcl_status csv_take_keys(csv_logger *s, const kcl_logs *logs)
{
    size_t n = logs ? logs->n : 0;
    if (!(s->keys = calloc(n ? n : 1, sizeof *s->keys)))
        return KCL_ERR_MEMORY;
    for (; s->n_keys < n; s->n_keys++)
        if (!(s->keys[s->n_keys] = strdup(logs->keys[s->n_keys])))
            return KCL_ERR_MEMORY;
    qsort(s->keys, n, sizeof *s->keys, compare_keys);
    return KCL_OK;
}

/* Python's csv (excel dialect, QUOTE_MINIMAL): quoted when it holds the
 * separator, a quote or a line break; quotes doubled. */
static void csv_field(FILE *f, const char *text, const char *sep)
{
    if (!strpbrk(text, "\"\r\n") && !strstr(text, sep)) {
        fputs(text, f);
        return;
    }
    fputc('"', f);
    for (const char *c = text; *c; c++) {
        if (*c == '"')
            fputc('"', f);
        fputc(*c, f);
    }
    fputc('"', f);
}

/* Python's repr of a float: the shortest digits that read back to the same
 * double, fixed-point (with ".0" when integral) for exponents in [-4, 16). */
static void python_float(double v, char *buf, size_t size)
{
    if (isnan(v) || isinf(v)) {
        snprintf(buf, size, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    int digits = 1;
    char sci[40];
    for (; digits < 17; digits++) {
        snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
    int exponent = atoi(strchr(sci, 'e') + 1);
    if (exponent < -4 || exponent >= 16) {
        snprintf(buf, size, "%s", sci);
        return;
    }
    int decimals = digits - 1 - exponent;
    snprintf(buf, size, decimals > 0 ? "%.*f" : "%.*f.0", decimals > 0 ? decimals : 0, v);
}

static kcl_status csv_train_begin(kcl_model *m, void *user)
{
    csv_logger *s = user;
    if (s->file)
        fclose(s->file);
    s->file = NULL;
    csv_free_keys(s);
    if (s->append) {
        /* continuing a non-empty file: its header is already there */
        FILE *old = fopen(s->path, "r");
        if (old) {
            s->write_header = fgetc(old) == EOF;
            fclose(old);
        }
    }
    if (!(s->file = fopen(s->path, s->append ? "a" : "w")))
        return kcl__fail(m->ctx, KCL_ERR_IO, "CSVLogger: cannot open '%s': %s", s->path,
                         strerror(errno));
    return KCL_OK;
}

static kcl_status csv_epoch_end(kcl_model *m, int epoch, const kcl_logs *logs, void *user)
{
    csv_logger *s = user;
    if (!s->file)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "CSVLogger: epoch end before train begin");
    bool first = !s->keys;
    if (first && csv_take_keys(s, logs))
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "CSVLogger: out of host memory");
    if (first && s->write_header) {
        csv_field(s->file, "epoch", s->sep);
        for (size_t i = 0; i < s->n_keys; i++) {
            fputs(s->sep, s->file);
            csv_field(s->file, s->keys[i], s->sep);
        }
        fputs("\r\n", s->file);
    }
    fprintf(s->file, "%d", epoch);
    for (size_t i = 0; i < s->n_keys; i++) {
        double v;
        char text[48] = "NA";    /* Keras' value for a key this epoch lacks */
        if (logs_get(logs, s->keys[i], &v))
            python_float(v, text, sizeof text);
        fputs(s->sep, s->file);
        fputs(text, s->file);
    }
    fputs("\r\n", s->file);
    if (fflush(s->file) || ferror(s->file))
        return kcl__fail(m->ctx, KCL_ERR_IO, "CSVLogger: cannot write '%s': %s", s->path,
                         strerror(errno));
    return KCL_OK;
}

static kcl_status csv_train_end(kcl_model *m, const kcl_logs *logs, void *user)
{
    (void)logs;
    csv_logger *s = user;
    FILE *f = s->file;
    s->file = NULL;
    if (f && fclose(f))
        return kcl__fail(m->ctx, KCL_ERR_IO, "CSVLogger: cannot close '%s': %s", s->path,
                         strerror(errno));
    return KCL_OK;
}

static void csv_destroy(void *user)
{
    csv_logger *s = user;
    if (!s)
        return;
    if (s->file)
        fclose(s->file);
    csv_free_keys(s);
    free(s->path);
    free(s->sep);
    free(s);
}

kcl_status kcl_csv_logger(const char *path, const char *separator, int append,
                          kcl_callback **out)
{
    if (!out || !path || !*path || (separator && !*separator))
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "CSVLogger: NULL out, no path or empty separator");
    *out = NULL;
    csv_logger *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path)) || !(s->sep = strdup(separator ? separator : ","))) {
        csv_destroy(s);
        return kcl__fail(NULL, KCL_ERR_MEMORY, "CSVLogger: out of host memory");
    }
    s->append = append != 0;
    s->write_header = true;
    kcl_callback_hooks h = {.on_train_begin = csv_train_begin, .on_epoch_end = csv_epoch_end,
                            .on_train_end = csv_train_end};
    return make_callback(h, s, csv_destroy, out);
}

/* fit.c: the loops of fit, evaluate and predict over Datasets (host arrays
 * become Datasets first, so both paths share one loop and its prefetching). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* ----------------------------------------------------------------- arrays -- */

static kcl_status check_arrays(kcl_model *m, size_t n_x, const kcl_array *x, size_t n_y,
                               const kcl_array *y, const char *fn)
{
    if (!m)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "%s: NULL model", fn);
    if ((n_x && !x) || (n_y && !y))
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "%s: NULL arrays", fn);
    size_t want_x = m->built ? m->n_inputs : 1;
    if (n_x != want_x)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "%s: model '%s' has %zu inputs, %zu arrays given",
                         fn, m->name, want_x, n_x);
    size_t want_y = m->n_outputs ? m->n_outputs : 1;
    if (n_y && n_y != want_y)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "%s: model '%s' has %zu outputs, %zu targets given",
                         fn, m->name, want_y, n_y);
    int64_t n = x[0].rank ? x[0].shape[0] : -1;
    for (size_t i = 0; i < n_x + n_y; i++) {
        const kcl_array *a = i < n_x ? &x[i] : &y[i - n_x];
        if (!a->data || a->rank < 1 || a->shape[0] != n) {
            char s0[128], s1[128];
            return kcl__fail(m->ctx, KCL_ERR_SHAPE,
                             "%s: arrays must share their first (sample) axis: %s and %s", fn,
                             kcl__shape_str(x[0].rank, x[0].shape, s0, sizeof s0),
                             kcl__shape_str(a->rank, a->shape, s1, sizeof s1));
        }
    }
    if (n <= 0)
        return kcl__fail(m->ctx, KCL_ERR_SHAPE, "%s: no samples", fn);
    return KCL_OK;
}

/* Rows [begin, end) of a, without copying. */
static kcl_array rows(const kcl_array *a, int64_t begin, int64_t end)
{
    kcl_array r = *a;
    int64_t row = kcl_array_size(a) / (a->shape[0] ? a->shape[0] : 1);
    r.data = a->data + begin * row;
    r.shape[0] = end - begin;
    return r;
}

/* Per-sample weights from class_weight and sample_weight (NULL when neither). */
static kcl_status sample_weights(kcl_model *m, const kcl_array *y, int64_t n,
                                 const kcl_fit_options *o, float **out)
{
    *out = NULL;
    if (!o->n_class_weight && !o->sample_weight)
        return KCL_OK;
    if (o->sample_weight && (o->sample_weight->rank != 1 || o->sample_weight->shape[0] != n))
        return kcl__fail(m->ctx, KCL_ERR_SHAPE, "fit: sample_weight must have shape [%lld]",
                         (long long)n);
    float *w = malloc((size_t)n * sizeof *w);
    if (!w)
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    int64_t row = kcl_array_size(&y[0]) / n;
    for (int64_t i = 0; i < n; i++) {
        w[i] = o->sample_weight ? o->sample_weight->data[i] : 1.0f;
        if (!o->n_class_weight)
            continue;
        /* The class: the label itself (sparse) or the one-hot's argmax. */
        const float *t = y[0].data + i * row;
        int64_t c = 0;
        for (int64_t k = 1; k < row; k++)
            if (t[k] > t[c])
                c = k;
        if (row == 1)
            c = (int64_t)t[0];
        w[i] *= c >= 0 && (size_t)c < o->n_class_weight ? o->class_weight[c] : 1.0f;
    }
    *out = w;
    return KCL_OK;
}

/* Sparse categorical targets must be class indices of the output: checked on
 * the host, where the labels are, so the message can say which is wrong (on
 * the device a bad label only turns the loss into NaN). */
static kcl_status check_sparse_labels(kcl_model *m, size_t n_y, const kcl_array *y)
{
    for (size_t o = 0; m->train && o < n_y && o < m->train->n_losses; o++) {
        if (m->train->losses[o].kind != KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || !m->built)
            continue;
        const kcl_shape *out = &m->values[m->outputs[o]];
        int64_t classes = out->dims[out->rank - 1];
        for (int64_t i = 0; classes > 0 && i < kcl_array_size(&y[o]); i++) {
            float v = y[o].data[i];
            if (!(v >= 0.0f && v < (float)classes) || v != (float)(int64_t)v)
                return kcl__fail(m->ctx, KCL_ERR_ARGUMENT,
                                 "sparse_categorical_crossentropy: label %g (target %zu, sample "
                                 "%lld) is not a class index in [0, %lld)", v, o,
                                 (long long)(i / (kcl_array_size(&y[o]) / y[o].shape[0])),
                                 (long long)classes);
        }
    }
    return KCL_OK;
}

static kcl_status make_dataset(kcl_model *m, size_t n_arrays, const kcl_array *arrays,
                               int64_t batch, bool shuffle, uint64_t seed, kcl_dataset **out)
{
    kcl_status st = kcl_dataset_from_tensor_slices(m->ctx, n_arrays, arrays, out);
    if (!st && shuffle)
        st = kcl_dataset_shuffle(*out, (size_t)arrays[0].shape[0], seed);
    if (!st)
        st = kcl_dataset_batch(*out, (size_t)batch, 0);
    if (st) {
        kcl_dataset_free(*out);
        *out = NULL;
    }
    return st;
}

kcl_status kcl_fit_arrays(kcl_model *m, size_t n_x, const kcl_array *x, size_t n_y,
                          const kcl_array *y, const kcl_fit_options *options,
                          kcl_history **history)
{
    kcl_fit_options o = options ? *options : (kcl_fit_options){0};
    kcl_status st = check_arrays(m, n_x, x, n_y, y, "fit");
    if (st)
        return st;
    if (!m->train)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "fit: compile model '%s' first", m->name);
    if (!n_y)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "fit: no targets");
    if (o.batch_size < 0 || !(o.validation_split >= 0 && o.validation_split < 1))
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "fit: batch_size %lld or validation_split %g "
                         "out of range", (long long)o.batch_size, o.validation_split);
    if ((st = check_sparse_labels(m, n_y, y)))
        return st;
    int64_t batch = o.batch_size ? o.batch_size : 32, n = x[0].shape[0];
    /* validation_split takes the last samples, before any shuffling (Keras). */
    int64_t n_train = o.validation_split > 0 ? (int64_t)((double)n * (1.0 - o.validation_split)) : n;
    if (n_train <= 0)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "fit: validation_split leaves no training data");
    float *w;
    if ((st = sample_weights(m, y, n, &o, &w)))
        return st;
    kcl_array arrays[17], val[17];
    size_t k = n_x + n_y + (w ? 1 : 0);
    kcl_array w_array = {w, 1, {n}};
    if (k > 17) {
        free(w);
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "fit: too many arrays");
    }
    for (size_t i = 0; i < k; i++) {
        const kcl_array *a = i < n_x ? &x[i] : i < n_x + n_y ? &y[i - n_x] : &w_array;
        arrays[i] = rows(a, 0, n_train);
        val[i] = rows(a, n_train, n);
    }
    kcl_dataset *train = NULL, *valid = NULL;
    st = make_dataset(m, k, arrays, batch, !o.no_shuffle, o.seed, &train);
    if (!st && n_train < n)
        st = make_dataset(m, k, val, batch, false, 0, &valid);
    if (!st && o.n_validation) {
        /* validation_data: x arrays then y arrays, no weights */
        if (o.n_validation != n_x + n_y)
            st = kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "fit: validation_data needs %zu arrays",
                           n_x + n_y);
        else if (!(st = check_arrays(m, n_x, o.validation_data, n_y, o.validation_data + n_x,
                                     "fit (validation_data)"))) {
            kcl_dataset_free(valid);
            st = make_dataset(m, n_x + n_y, o.validation_data, batch, false, 0, &valid);
        }
    }
    free(w);
    if (!st)
        st = kcl_fit_dataset(m, train, valid, &o, history);
    kcl_dataset_free(train);
    kcl_dataset_free(valid);
    return st;
}

/* ------------------------------------------------------------------- loop -- */

/* Runs one pass over data: training or test steps. Shows progress when p. */
static kcl_status run_pass(kcl_model *m, kcl_dataset *data, bool training, kcl_progress *p,
                           const kcl_fit_options *o, int epoch)
{
    size_t n_arrays = kcl_dataset_arrays(data), n_x = m->n_inputs ? m->n_inputs : 1,
           n_y = m->n_outputs ? m->n_outputs : 1;
    if (n_arrays != n_x + n_y && n_arrays != n_x + n_y + 1)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "dataset elements have %zu arrays; model '%s' "
                         "needs %zu inputs and %zu targets (+ sample weights)", n_arrays,
                         m->name, n_x, n_y);
    kcl_status st = kcl__reset_metrics(m);
    if (!st)
        st = kcl_dataset_rewind(data);
    bool batch_logs = o && kcl__callbacks_want_batch_logs(o->n_callbacks, o->callbacks);
    float values[64];
    for (int64_t step = 0; !st; step++) {
        kcl_tensor *t[17] = {0};
        int done = 0;
        if ((st = kcl_dataset_next(data, t, &done)) || done)
            break;
        if (training && o)
            st = kcl__callbacks_run(m, o->n_callbacks, o->callbacks, KCL_HOOK_BATCH_BEGIN, step, NULL);
        if (!st)
            st = kcl__train_step(m, t, t + n_x, n_arrays > n_x + n_y ? t[n_x + n_y] : NULL, training);
        for (size_t i = 0; i < n_arrays; i++)
            kcl_tensor_free(t[i]);
        bool want = kcl__progress_due(p) || batch_logs;
        if (!st && want && !(st = kcl__read_metrics(m, values))) {
            if (!isfinite(values[0]))
                st = kcl__fail(m->ctx, KCL_ERR_NUMERIC, "the loss is %g at epoch %d, step %lld",
                               values[0], epoch + 1, (long long)step + 1);
            kcl_logs logs = {m->train->n_names, (const char *const *)m->train->names, values};
            if (!st && batch_logs)
                st = kcl__callbacks_run(m, o->n_callbacks, o->callbacks, KCL_HOOK_BATCH_END, step, &logs);
        }
        kcl__progress_step(p, step + 1, m->train->n_names, m->train->names, want ? values : NULL);
    }
    return st;
}

static kcl_status record_epoch(kcl_model *m, kcl_history *h, const float *values,
                               const float *val_values, bool has_val)
{
    kcl_status st = KCL_OK;
    for (size_t i = 0; !st && i < m->train->n_names; i++)
        st = kcl__history_append(h, m->train->names[i], values[i]);
    for (size_t i = 0; !st && has_val && i < m->train->n_names; i++) {
        char key[160];
        snprintf(key, sizeof key, "val_%s", m->train->names[i]);
        st = kcl__history_append(h, key, val_values[i]);
    }
    if (!st)
        st = kcl__history_end_epoch(h);
    return st ? kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory (history)") : KCL_OK;
}

/* Validation values and the epoch's logs (train then val_ keys). */
static kcl_status end_epoch(kcl_model *m, kcl_dataset *validation, const kcl_fit_options *o,
                            int epoch, kcl_progress *p, kcl_history *h)
{
    size_t n = m->train->n_names;
    float values[64], logs_values[128];
    char *log_names[128];
    kcl_status st = kcl__read_metrics(m, values);
    if (!st && !isfinite(values[0]))
        st = kcl__fail(m->ctx, KCL_ERR_NUMERIC, "the loss is %g at the end of epoch %d",
                       values[0], epoch + 1);
    float val[64];
    if (!st && validation && !(st = run_pass(m, validation, false, NULL, NULL, epoch)))
        st = kcl__read_metrics(m, val);
    kcl__progress_end(p, st ? 0 : n, m->train->names, values, validation && !st ? n : 0,
                      m->train->names, val);
    if (!st)
        st = record_epoch(m, h, values, val, validation != NULL);
    char val_names[64][160];
    for (size_t i = 0; i < n; i++) {
        log_names[i] = m->train->names[i];
        logs_values[i] = values[i];
        if (validation) {
            snprintf(val_names[i], sizeof val_names[i], "val_%s", m->train->names[i]);
            log_names[n + i] = val_names[i];
            logs_values[n + i] = val[i];
        }
    }
    kcl_logs logs = {validation ? 2 * n : n, (const char *const *)log_names, logs_values};
    if (!st)
        st = kcl__callbacks_run(m, o->n_callbacks, o->callbacks, KCL_HOOK_EPOCH_END, epoch, &logs);
    return st;
}

kcl_status kcl_fit_dataset(kcl_model *m, kcl_dataset *train, kcl_dataset *validation,
                           const kcl_fit_options *options, kcl_history **history)
{
    kcl_fit_options o = options ? *options : (kcl_fit_options){0};
    if (history)
        *history = NULL;
    if (!m || !train)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "fit: NULL model or dataset");
    if (!m->train)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "fit: compile model '%s' first", m->name);
    int epochs = o.epochs ? o.epochs : 1;
    if (epochs < 0 || o.initial_epoch < 0)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "fit: negative epochs");
    kcl_history *h;
    if (kcl__history_new(&h))
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    m->train->stop_training = false;
    kcl_status st = kcl__callbacks_run(m, o.n_callbacks, o.callbacks, KCL_HOOK_TRAIN_BEGIN, 0, NULL);
    for (int epoch = o.initial_epoch; !st && epoch < epochs && !m->train->stop_training; epoch++) {
        st = kcl__callbacks_run(m, o.n_callbacks, o.callbacks, KCL_HOOK_EPOCH_BEGIN, epoch, NULL);
        kcl_progress *p = st ? NULL : kcl__progress_begin(m->ctx, o.verbose, epoch,
                                                          epochs, kcl_dataset_cardinality(train));
        if (!st)
            st = run_pass(m, train, true, p, &o, epoch);
        if (!st)
            st = end_epoch(m, validation, &o, epoch, p, h);
        else
            kcl__progress_end(p, 0, NULL, NULL, 0, NULL, NULL);
    }
    kcl_status end = kcl__callbacks_run(m, o.n_callbacks, o.callbacks, KCL_HOOK_TRAIN_END, 0, NULL);
    if (!st)
        st = end;
    if (history)
        *history = h;
    else
        kcl_history_free(h);
    return st;
}

/* --------------------------------------------------------------- evaluate -- */

kcl_status kcl_evaluate_dataset(kcl_model *m, kcl_dataset *data, const kcl_eval_options *options,
                                float *results, size_t n_results)
{
    (void)options;
    if (!m || !data)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "evaluate: NULL argument");
    if (!m->train)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "evaluate: compile model '%s' first", m->name);
    float values[64];
    kcl_status st = run_pass(m, data, false, NULL, NULL, 0);
    if (!st)
        st = kcl__read_metrics(m, values);
    size_t n = n_results < m->train->n_names ? n_results : m->train->n_names;
    if (!st && results)
        memcpy(results, values, n * sizeof *values);
    return st;
}

kcl_status kcl_evaluate(kcl_model *m, size_t n_x, const kcl_array *x, size_t n_y,
                        const kcl_array *y, const kcl_eval_options *options, float *results,
                        size_t n_results)
{
    kcl_eval_options o = options ? *options : (kcl_eval_options){0};
    kcl_status st = check_arrays(m, n_x, x, n_y, y, "evaluate");
    if (st)
        return st;
    if (!n_y)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "evaluate: no targets");
    if (o.batch_size < 0)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "evaluate: negative batch_size %lld",
                         (long long)o.batch_size);
    if ((st = check_sparse_labels(m, n_y, y)))
        return st;
    kcl_array arrays[17];
    size_t k = n_x + n_y;
    if (k > 16)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "evaluate: too many arrays");
    for (size_t i = 0; i < k; i++)
        arrays[i] = i < n_x ? x[i] : y[i - n_x];
    if (o.sample_weight)
        arrays[k++] = *o.sample_weight;
    kcl_dataset *ds;
    if ((st = make_dataset(m, k, arrays, o.batch_size ? o.batch_size : 32, false, 0, &ds)))
        return st;
    st = kcl_evaluate_dataset(m, ds, &o, results, n_results);
    kcl_dataset_free(ds);
    return st;
}

/* ---------------------------------------------------------------- predict -- */

static kcl_status append_rows(kcl_context *ctx, kcl_array *out, kcl_tensor *t, int64_t *filled)
{
    int64_t n = kcl_tensor_size(t);
    kcl_status st = kcl_tensor_read(t, out->data + *filled, (size_t)n);
    if (st)
        return kcl__fail(ctx, st, "predict: %s", kcl_errmsg(ctx));
    *filled += n;
    return KCL_OK;
}

kcl_status kcl_predict(kcl_model *m, size_t n_x, const kcl_array *x,
                       const kcl_eval_options *options, size_t n_out, kcl_array *out)
{
    kcl_eval_options o = options ? *options : (kcl_eval_options){0};
    kcl_status st = check_arrays(m, n_x, x, 0, NULL, "predict");
    if (st)
        return st;
    if (!out || n_out != (m->n_outputs ? m->n_outputs : 1))
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "predict: model '%s' has %zu outputs", m->name,
                         m->n_outputs ? m->n_outputs : 1);
    if (o.batch_size < 0)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "predict: negative batch_size %lld",
                         (long long)o.batch_size);
    memset(out, 0, n_out * sizeof *out);
    kcl_dataset *ds;
    if ((st = make_dataset(m, n_x, x, o.batch_size ? o.batch_size : 32, false, 0, &ds)))
        return st;
    int64_t filled[16] = {0}, n = x[0].shape[0];
    kcl_status done_st = kcl_dataset_rewind(ds);
    for (int done = 0; !st && !done_st;) {
        kcl_tensor *t[16] = {0}, *y[16] = {0};
        if ((st = kcl_dataset_next(ds, t, &done)) || done)
            break;
        st = kcl_predict_on_batch(m, t, y);
        for (size_t k = 0; !st && k < n_out; k++) {
            if (!out[k].data) {   /* first batch: allocate from its shape */
                out[k].rank = kcl_tensor_rank(y[k]);
                memcpy(out[k].shape, kcl_tensor_shape(y[k]), (size_t)out[k].rank * sizeof(int64_t));
                out[k].shape[0] = n;
                if (!(out[k].data = malloc((size_t)kcl_array_size(&out[k]) * sizeof(float))))
                    st = kcl__fail(m->ctx, KCL_ERR_MEMORY, "predict: out of host memory");
            }
            if (!st)
                st = append_rows(m->ctx, &out[k], y[k], &filled[k]);
        }
        for (size_t k = 0; k < 16; k++) {
            kcl_tensor_free(t[k]);
            kcl_tensor_free(y[k]);
        }
    }
    kcl_dataset_free(ds);
    if (st || done_st)
        for (size_t k = 0; k < n_out; k++)
            kcl_array_free(&out[k]);
    return st ? st : done_st;
}

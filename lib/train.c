/* train.c: compile, and one training or test step: forward under a tape,
 * loss (with regularisation), gradients, optimizer update, metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* ---------------------------------------------------------------- compile -- */

void kcl__train_free(kcl_model *m)
{
    kcl_train_state *t = m->train;
    if (!t)
        return;
    kcl_optimizer_free(t->optimizer);
    for (size_t i = 0; t->metrics && i < m->n_outputs * t->n_metric_configs; i++)
        kcl_metric_free(t->metrics[i]);
    for (size_t i = 0; t->names && i < t->n_names; i++)
        free(t->names[i]);
    kcl_tensor_free(t->loss_sum);
    for (size_t j = 0; t->metric_configs && j < t->n_metric_configs; j++)
        free((char *)t->metric_configs[j].name);
    free(t->metrics);
    free(t->names);
    free(t->losses);
    free(t->loss_weights);
    free(t->metric_configs);
    free(t);
    m->train = NULL;
}

/* Keras resolves "accuracy" from the loss: sparse, categorical or binary. */
static kcl_metric_config resolve_metric(kcl_metric_config c, const kcl_loss_config *loss)
{
    if (c.kind != KCL_METRIC_ACCURACY)
        return c;
    switch (loss->kind) {
    case KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
        c.kind = KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY;
        break;
    case KCL_LOSS_CATEGORICAL_CROSSENTROPY:
        c.kind = KCL_METRIC_CATEGORICAL_ACCURACY;
        break;
    case KCL_LOSS_BINARY_CROSSENTROPY:
        c.kind = KCL_METRIC_BINARY_ACCURACY;
        break;
    default:
        break;   /* decided from the shapes at the first update */
    }
    if (!c.name)
        c.name = "accuracy";
    return c;
}

static char *metric_label(const kcl_model *m, size_t output, const char *name)
{
    char buf[160];
    /* Several outputs: Keras prefixes the output layer's name. */
    int node = m->outputs ? m->outputs[output] - (int)m->n_inputs : -1;
    if (m->n_outputs > 1 && node >= 0)
        snprintf(buf, sizeof buf, "%s_%s", kcl_layer_name(m->nodes[node].layer), name);
    else
        snprintf(buf, sizeof buf, "%s", name);
    size_t n = strlen(buf) + 1;
    char *s = malloc(n);
    if (s)
        memcpy(s, buf, n);
    return s;
}

static kcl_status make_metrics(kcl_model *m, kcl_train_state *t)
{
    size_t n = m->n_outputs * t->n_metric_configs;
    t->metrics = calloc(n ? n : 1, sizeof *t->metrics);
    t->names = calloc(n + 1, sizeof *t->names);
    if (!t->metrics || !t->names || !(t->names[0] = malloc(5)))
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    memcpy(t->names[0], "loss", 5);
    t->n_names = 1;
    for (size_t o = 0; o < m->n_outputs; o++)
        for (size_t j = 0; j < t->n_metric_configs; j++) {
            kcl_metric_config c = resolve_metric(t->metric_configs[j], &t->losses[o]);
            kcl_metric **slot = &t->metrics[o * t->n_metric_configs + j];
            kcl_status st = kcl_metric_create(m->ctx, &c, slot);
            if (st)
                return st;
            if (!(t->names[t->n_names++] = metric_label(m, o, kcl_metric_name(*slot))))
                return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
        }
    return KCL_OK;
}

static kcl_status compile_state(kcl_model *m, const kcl_compile_options *o, kcl_train_state *t)
{
    size_t n_out = m->n_outputs ? m->n_outputs : 1;
    if (o->n_losses != 1 && o->n_losses != n_out)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT,
                         "compile: %zu losses given for a model with %zu outputs", o->n_losses, n_out);
    if (!o->losses)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "compile: no loss");
    t->n_losses = n_out;
    t->losses = calloc(n_out, sizeof *t->losses);
    t->loss_weights = calloc(n_out, sizeof *t->loss_weights);
    t->n_metric_configs = o->n_metrics;
    t->metric_configs = calloc(o->n_metrics ? o->n_metrics : 1, sizeof *t->metric_configs);
    if (!t->losses || !t->loss_weights || !t->metric_configs)
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    for (size_t i = 0; i < n_out; i++) {
        t->losses[i] = o->losses[o->n_losses == 1 ? 0 : i];
        t->loss_weights[i] = o->loss_weights ? o->loss_weights[i] : 1.0f;
        if (t->losses[i].kind <= KCL_LOSS_NONE || t->losses[i].kind >= KCL_LOSS_KIND_COUNT_)
            return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "compile: loss %zu has no valid kind", i);
    }
    if (o->n_metrics)
        memcpy(t->metric_configs, o->metrics, o->n_metrics * sizeof *o->metrics);
    /* The caller's name strings need not outlive compile: keep copies. */
    for (size_t j = 0; j < o->n_metrics; j++) {
        const char *name = o->metrics[j].name;
        char *copy = NULL;
        if (name && !(copy = malloc(strlen(name) + 1)))
            return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
        if (copy)
            strcpy(copy, name);
        t->metric_configs[j].name = copy;
    }
    kcl_status st = kcl_optimizer_create(m->ctx, &o->optimizer, &t->optimizer);
    return st ? st : make_metrics(m, t);
}

kcl_status kcl_compile_ex(kcl_model *m, const kcl_compile_options *options)
{
    if (!m || !options)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_compile: NULL argument");
    if (!m->sequential && !m->built)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "kcl_compile: model '%s' is not built", m->name);
    if (m->sequential && m->n_outputs == 0)
        m->n_outputs = 1;
    kcl_train_state *t = calloc(1, sizeof *t);
    if (!t)
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    kcl_train_state *old = m->train;
    m->train = t;
    kcl_status st = compile_state(m, options, t);
    if (st) {
        kcl__train_free(m);   /* the new state; the old one stays */
        m->train = old;
        return st;
    }
    /* A new compile replaces the old settings (Keras: recompiling resets the
     * optimizer). */
    kcl_train_state *fresh = m->train;
    m->train = old;
    kcl__train_free(m);
    m->train = fresh;
    return KCL_OK;
}

/* Splits "a, b,c" into configs by name. */
static kcl_status parse_metrics(kcl_context *ctx, const char *list, kcl_metric_config *out,
                                size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (!len)
            break;
        if (*n == max)
            return kcl__fail(ctx, KCL_ERR_ARGUMENT, "compile: at most %zu metrics", max);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        kcl_status st = kcl_metric_by_name(ctx, name, &out[(*n)++]);
        if (st)
            return st;
        p += len;
    }
    return KCL_OK;
}

kcl_status kcl_compile(kcl_model *m, kcl_optimizer_config optimizer, const char *loss,
                       const char *metrics)
{
    if (!m || !loss)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_compile: NULL model or loss");
    kcl_loss_config lc;
    kcl_metric_config mc[16];
    size_t n_metrics;
    kcl_status st = kcl_loss_by_name(m->ctx, loss, &lc);
    if (!st)
        st = parse_metrics(m->ctx, metrics, mc, 16, &n_metrics);
    if (st)
        return st;
    kcl_compile_options o = {.optimizer = optimizer, .n_losses = 1, .losses = &lc,
                             .n_metrics = n_metrics, .metrics = mc};
    return kcl_compile_ex(m, &o);
}

size_t kcl_model_metric_count(const kcl_model *m)
{
    return m && m->train ? m->train->n_names : 0;
}

const char *kcl_model_metric_name(const kcl_model *m, size_t i)
{
    return m && m->train && i < m->train->n_names ? m->train->names[i] : NULL;
}

void kcl_model_stop_training(kcl_model *m)
{
    if (m && m->train)
        m->train->stop_training = true;
}

kcl_optimizer *kcl_model_optimizer(kcl_model *m)
{
    return m && m->train ? m->train->optimizer : NULL;
}

/* ------------------------------------------------------------------ steps -- */

/* l1 * sum|w| + l2 * sum w² over every regularised weight, added to *loss. */
static kcl_status add_regularization(kcl_model *m, kcl_tensor **loss)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        kcl_layer *l = m->layers[i];
        for (size_t k = 0; k < l->n_weights; k++) {
            kcl_regularizer r = l->regularizers[k];
            float factors[2] = {r.l1, r.l2};
            for (int p = 0; p < 2; p++) {
                if (factors[p] == 0.0f)
                    continue;
                kcl_tensor *f = NULL, *s = NULL, *scaled = NULL, *sum = NULL;
                kcl_status st = p ? kcl_square(l->weights[k], &f) : kcl_abs(l->weights[k], &f);
                if (!st) st = kcl_reduce_sum(f, 0, NULL, 0, &s);
                if (!st) st = kcl_scale_shift(s, factors[p], 0.0f, &scaled);
                if (!st) st = kcl_add(*loss, scaled, &sum);
                kcl_tensor_free(f);
                kcl_tensor_free(s);
                kcl_tensor_free(scaled);
                if (st)
                    return st;
                kcl_tensor_free(*loss);
                *loss = sum;
            }
        }
    }
    return KCL_OK;
}

/* The weighted sum of the outputs' losses. */
static kcl_status total_loss(kcl_model *m, kcl_tensor *const *y, kcl_tensor *const *out,
                             kcl_tensor *sw, kcl_tensor **loss)
{
    kcl_train_state *t = m->train;
    *loss = NULL;
    for (size_t o = 0; o < m->n_outputs; o++) {
        kcl_tensor *l, *weighted, *sum;
        kcl_status st = kcl_loss_compute(&t->losses[o], y[o], out[o], sw, &l);
        if (st)
            return kcl__fail(m->ctx, st, "loss of output %zu: %s", o, kcl_errmsg(m->ctx));
        if (t->loss_weights[o] != 1.0f) {
            st = kcl_scale_shift(l, t->loss_weights[o], 0.0f, &weighted);
            kcl_tensor_free(l);
            if (st)
                return st;
            l = weighted;
        }
        if (*loss) {
            st = kcl_add(*loss, l, &sum);
            kcl_tensor_free(l);
            kcl_tensor_free(*loss);
            *loss = st ? NULL : sum;
            if (st)
                return st;
        } else {
            *loss = l;
        }
    }
    return KCL_OK;
}

static kcl_status update_metrics(kcl_model *m, kcl_tensor *const *y, kcl_tensor *const *out,
                                 kcl_tensor *sw, kcl_tensor *loss, int64_t batch)
{
    kcl_train_state *t = m->train;
    kcl_tensor *scaled, *sum;
    kcl_status st = kcl_scale_shift(loss, (float)batch, 0.0f, &scaled);
    if (st)
        return st;
    st = kcl_add(t->loss_sum, scaled, &sum);
    kcl_tensor_free(scaled);
    if (st)
        return st;
    kcl_tensor_free(t->loss_sum);
    t->loss_sum = sum;
    t->loss_count += (double)batch;
    for (size_t o = 0; o < m->n_outputs; o++)
        for (size_t j = 0; j < t->n_metric_configs; j++)
            if ((st = kcl_metric_update(t->metrics[o * t->n_metric_configs + j], y[o], out[o], sw)))
                return st;
    return KCL_OK;
}

kcl_status kcl__ensure_built(kcl_model *m, kcl_tensor *const *x)
{
    if (m->built)
        return KCL_OK;
    if (!m->sequential || m->n_layers == 0)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "model '%s' has no layers", m->name);
    kcl_shape in = kcl__shape_of_tensor(x[0]);
    in.dims[0] = -1;
    return kcl__model_build(m, &in);
}

/* x must match the model's input shapes (any batch size). */
static kcl_status check_inputs(kcl_model *m, kcl_tensor *const *x)
{
    char a[128], b[128];
    for (size_t i = 0; i < m->n_inputs; i++) {
        const kcl_shape *want = &m->values[i];
        kcl_shape got = x[i] ? kcl__shape_of_tensor(x[i]) : (kcl_shape){-1, {0}};
        if (!kcl__shape_accepts(want, &got))
            return kcl__fail(m->ctx, KCL_ERR_SHAPE, "model '%s' expects input %zu of shape %s, "
                             "got %s", m->name, i, kcl__shape_text(want, a, sizeof a),
                             x[i] ? kcl__shape_str(kcl_tensor_rank(x[i]), kcl_tensor_shape(x[i]),
                                                   b, sizeof b) : "NULL");
    }
    return KCL_OK;
}

static kcl_status forward_and_loss(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                                   kcl_tensor *sw, bool training, kcl_tensor **out,
                                   kcl_tensor **loss)
{
    kcl_status st = kcl__model_forward(m, x, training, out);
    if (st)
        return st;
    st = total_loss(m, y, out, sw, loss);
    (void)training;   /* Keras adds the regularisation losses in test steps too */
    if (!st)
        st = add_regularization(m, loss);
    return st;
}

static kcl_status apply_gradients(kcl_model *m, kcl_tape *tape, kcl_tensor *loss)
{
    kcl_tensor **vars, **grads = NULL;
    size_t n;
    kcl_status st = kcl__model_weights(m, true, &vars, &n);
    if (st || n == 0) {
        free(vars);
        return st;
    }
    if (!(grads = calloc(n, sizeof *grads)))
        st = kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    if (!st)
        st = kcl_tape_gradient(tape, loss, n, vars, grads);
    if (!st)
        st = kcl_optimizer_apply(m->train->optimizer, n, vars, grads);
    for (size_t i = 0; grads && i < n; i++)
        kcl_tensor_free(grads[i]);
    free(grads);
    free(vars);
    return st;
}

kcl_status kcl__train_step(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                           kcl_tensor *sw, bool training)
{
    kcl_status st = kcl__ensure_built(m, x);
    if (!st)
        st = check_inputs(m, x);
    if (st)
        return st;
    kcl_tensor *out[16] = {0}, *loss = NULL;
    kcl_tape *tape = NULL;
    if (training && (st = kcl_tape_begin(m->ctx, NULL, &tape)))
        return st;
    st = forward_and_loss(m, x, y, sw, training, out, &loss);
    if (tape)
        kcl_tape_stop(tape);
    if (!st && training)
        st = apply_gradients(m, tape, loss);
    if (!st)
        st = update_metrics(m, y, out, sw, loss, kcl_tensor_shape(x[0])[0]);
    kcl_tape_free(tape);
    kcl_tensor_free(loss);
    for (size_t o = 0; o < m->n_outputs; o++)
        kcl_tensor_free(out[o]);
    return st;
}

kcl_status kcl__reset_metrics(kcl_model *m)
{
    kcl_train_state *t = m->train;
    kcl_tensor_free(t->loss_sum);
    t->loss_sum = NULL;
    t->loss_count = 0;
    kcl_status st = kcl_tensor_create(m->ctx, 0, NULL, &t->loss_sum);
    for (size_t i = 0; !st && i < m->n_outputs * t->n_metric_configs; i++)
        st = kcl_metric_reset(t->metrics[i]);
    return st;
}

kcl_status kcl__read_metrics(kcl_model *m, float *values)
{
    kcl_train_state *t = m->train;
    float sum = 0;
    kcl_status st = kcl_tensor_read(t->loss_sum, &sum, 1);
    values[0] = t->loss_count > 0 ? (float)(sum / t->loss_count) : 0.0f;
    for (size_t i = 0; !st && i + 1 < t->n_names; i++)
        st = kcl_metric_result(t->metrics[i], &values[i + 1]);
    return st;
}

/* ------------------------------------------------------------ on_batch API -- */

static kcl_status check_compiled(kcl_model *m, const char *fn)
{
    if (!m)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "%s: NULL model", fn);
    if (!m->train)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "%s: compile model '%s' first", fn, m->name);
    return KCL_OK;
}

static kcl_status on_batch(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                           float *results, size_t n_results, bool training, const char *fn)
{
    kcl_status st = check_compiled(m, fn);
    if (!st && (!x || !y))
        st = kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "%s: NULL inputs or targets", fn);
    if (!st)
        st = kcl__reset_metrics(m);
    if (!st)
        st = kcl__train_step(m, x, y, NULL, training);
    if (!st && results && n_results) {
        float values[64];
        if (!(st = kcl__read_metrics(m, values)))
            memcpy(results, values,
                   (n_results < m->train->n_names ? n_results : m->train->n_names) * sizeof *results);
    }
    return st;
}

kcl_status kcl_train_on_batch(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                              float *results, size_t n_results)
{
    return on_batch(m, x, y, results, n_results, true, "kcl_train_on_batch");
}

kcl_status kcl_test_on_batch(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                             float *results, size_t n_results)
{
    return on_batch(m, x, y, results, n_results, false, "kcl_test_on_batch");
}

kcl_status kcl_predict_on_batch(kcl_model *m, kcl_tensor *const *x, kcl_tensor **outputs)
{
    if (!m || !x || !outputs)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_predict_on_batch: NULL argument");
    kcl_status st = kcl__ensure_built(m, x);
    if (!st)
        st = check_inputs(m, x);
    return st ? st : kcl__model_forward(m, x, false, outputs);
}

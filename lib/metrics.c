/* metrics.c: Keras 3's stateful metrics (keras/src/metrics). Each metric keeps
 * its running totals in one small device tensor that kernels of cl/metric.cl
 * update in place, so kcl_metric_update never waits for the device; only
 * kcl_metric_result reads the totals back and finishes the formula on the host.
 *
 * State layouts:
 *   mean-like (accuracies, mse, mae, mean): [total, count]
 *   precision, recall:                      [tp, fp, fn, tn] at the threshold
 *   auc:                                    tp[T], fp[T], tn[T], fn[T]
 *
 * The update kernels work outside the tapes: a metric is never differentiated.
 * Only mse and mae compute their per-sample values with the loss ops, which a
 * tape watching y_pred records, as a Keras GradientTape would. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct kcl_metric {
    kcl_context *ctx;
    kcl_metric_config config;    /* defaults filled in; config.name is `name` */
    char *name;
    kcl_tensor *state;
};

/* ------------------------------------------------------------------ names -- */

typedef struct metric_name {
    const char *name;
    kcl_metric_kind kind;
    bool keeps_name;             /* Keras names a metric given as this string after it */
} metric_name;

/* Keras' compile() names a metric given by a string after that string
 * ("acc", "mse"); class names give the class's default name. */
static const metric_name metric_names[] = {
    {"accuracy", KCL_METRIC_ACCURACY, true},
    {"acc", KCL_METRIC_ACCURACY, true},
    {"binary_accuracy", KCL_METRIC_BINARY_ACCURACY, true},
    {"BinaryAccuracy", KCL_METRIC_BINARY_ACCURACY, false},
    {"categorical_accuracy", KCL_METRIC_CATEGORICAL_ACCURACY, true},
    {"CategoricalAccuracy", KCL_METRIC_CATEGORICAL_ACCURACY, false},
    {"sparse_categorical_accuracy", KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY, true},
    {"SparseCategoricalAccuracy", KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY, false},
    {"top_k_categorical_accuracy", KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY, true},
    {"TopKCategoricalAccuracy", KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY, false},
    {"mean_squared_error", KCL_METRIC_MEAN_SQUARED_ERROR, true},
    {"mse", KCL_METRIC_MEAN_SQUARED_ERROR, true},
    {"MeanSquaredError", KCL_METRIC_MEAN_SQUARED_ERROR, false},
    {"mean_absolute_error", KCL_METRIC_MEAN_ABSOLUTE_ERROR, true},
    {"mae", KCL_METRIC_MEAN_ABSOLUTE_ERROR, true},
    {"MeanAbsoluteError", KCL_METRIC_MEAN_ABSOLUTE_ERROR, false},
    {"precision", KCL_METRIC_PRECISION, true},
    {"Precision", KCL_METRIC_PRECISION, false},
    {"recall", KCL_METRIC_RECALL, true},
    {"Recall", KCL_METRIC_RECALL, false},
    {"auc", KCL_METRIC_AUC, true},
    {"AUC", KCL_METRIC_AUC, false},
    {"mean", KCL_METRIC_MEAN, true},
    {"Mean", KCL_METRIC_MEAN, false},
};

#define METRIC_NAME_COUNT (sizeof metric_names / sizeof *metric_names)

/* The default name of each kind: Keras' class defaults. */
static const char *const default_names[KCL_METRIC_KIND_COUNT_] = {
    [KCL_METRIC_ACCURACY] = "accuracy",
    [KCL_METRIC_BINARY_ACCURACY] = "binary_accuracy",
    [KCL_METRIC_CATEGORICAL_ACCURACY] = "categorical_accuracy",
    [KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY] = "sparse_categorical_accuracy",
    [KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY] = "top_k_categorical_accuracy",
    [KCL_METRIC_MEAN_SQUARED_ERROR] = "mean_squared_error",
    [KCL_METRIC_MEAN_ABSOLUTE_ERROR] = "mean_absolute_error",
    [KCL_METRIC_PRECISION] = "precision",
    [KCL_METRIC_RECALL] = "recall",
    [KCL_METRIC_AUC] = "auc",
    [KCL_METRIC_MEAN] = "mean",
};

const char *kcl__metric_kind_name(kcl_metric_kind kind)
{
    return kind > KCL_METRIC_NONE && kind < KCL_METRIC_KIND_COUNT_ ? default_names[kind] : NULL;
}

kcl_status kcl_metric_by_name(kcl_context *ctx, const char *name, kcl_metric_config *out)
{
    if (!name || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "metric_by_name: NULL argument");
    for (size_t i = 0; i < METRIC_NAME_COUNT; i++)
        if (strcmp(name, metric_names[i].name) == 0) {
            const metric_name *e = &metric_names[i];
            *out = (kcl_metric_config){.kind = e->kind, .name = e->keeps_name ? e->name : NULL};
            return KCL_OK;
        }
    char list[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < METRIC_NAME_COUNT && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 metric_names[i].name);
    return kcl__fail(ctx, KCL_ERR_NAME, "metric: unknown name \"%s\"; valid names: %s", name,
                     list);
}

/* ---------------------------------------------------------------- create -- */

/* Fills the zero fields with Keras' defaults and checks the rest as Keras'
 * constructors do. */
static kcl_status resolve_config(kcl_context *ctx, const kcl_metric_config *in,
                                 kcl_metric_config *c)
{
    *c = *in;
    if ((int)c->kind <= KCL_METRIC_NONE || c->kind >= KCL_METRIC_KIND_COUNT_)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "metric: unknown kind %d", (int)c->kind);
    const char *name = c->name ? c->name : default_names[c->kind];
    if (c->threshold == 0.0f)
        c->threshold = 0.5f;
    if (c->k == 0)
        c->k = 5;
    if (c->num_thresholds == 0)
        c->num_thresholds = 200;
    bool binary = c->kind == KCL_METRIC_BINARY_ACCURACY;
    if (!(c->threshold >= 0.0f && c->threshold <= 1.0f) ||
        (binary && c->threshold >= 1.0f))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: threshold %g is outside %s", name,
                         (double)c->threshold, binary ? "(0, 1)" : "[0, 1]");
    if (c->k < 0)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: k %d must be positive", name, c->k);
    if (c->num_thresholds < 2)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: num_thresholds %d must be > 1", name,
                         c->num_thresholds);
    return KCL_OK;
}

static int64_t state_size(const kcl_metric_config *c)
{
    switch (c->kind) {
    case KCL_METRIC_PRECISION:
    case KCL_METRIC_RECALL:
        return 4;
    case KCL_METRIC_AUC:
        return 4 * (int64_t)c->num_thresholds;
    default:
        return 2;
    }
}

kcl_status kcl_metric_create(kcl_context *ctx, const kcl_metric_config *config, kcl_metric **out)
{
    if (!ctx || !config || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "metric_create: NULL argument");
    *out = NULL;
    kcl_metric_config c;
    kcl_status st = resolve_config(ctx, config, &c);
    if (st)
        return st;
    kcl_metric *m = calloc(1, sizeof *m);
    const char *name = c.name ? c.name : default_names[c.kind];
    if (m)
        m->name = malloc(strlen(name) + 1);
    if (!m || !m->name) {
        free(m);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "metric_create: out of host memory");
    }
    strcpy(m->name, name);
    m->ctx = ctx;
    m->config = c;
    m->config.name = m->name;
    int64_t size = state_size(&c);
    if ((st = kcl_tensor_create(ctx, 1, &size, &m->state))) {
        kcl_metric_free(m);
        return st;
    }
    *out = m;
    return KCL_OK;
}

void kcl_metric_free(kcl_metric *m)
{
    if (!m)
        return;
    kcl_tensor_free(m->state);
    free(m->name);
    free(m);
}

const char *kcl_metric_name(const kcl_metric *m)
{
    return m ? m->name : NULL;
}

kcl_status kcl_metric_reset(kcl_metric *m)
{
    if (!m)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "metric_reset: NULL metric");
    return kcl__tensor_zero(m->state);
}

/* ---------------------------------------------------------------- shapes -- */

/* A tensor's shape, as the update rules see it. */
typedef struct view {
    int rank;
    int64_t shape[KCL_MAX_RANK + 1];
} view;

static view view_of(const kcl_tensor *t)
{
    view v = {.rank = t->rank};
    memcpy(v.shape, t->shape, (size_t)t->rank * sizeof *t->shape);
    return v;
}

static bool same_view(const view *a, const view *b)
{
    return a->rank == b->rank && memcmp(a->shape, b->shape, (size_t)a->rank * sizeof *a->shape) == 0;
}

/* Keras' squeeze_or_expand_to_same_rank(a, b) on shapes: the elements keep
 * their order, so kernels read the tensors as they are. */
static void match_ranks(view *a, view *b)
{
    if (a->rank == b->rank + 1 && a->shape[a->rank - 1] == 1) {
        if (b->rank == 1)
            b->shape[b->rank++] = 1;
        else
            a->rank--;
    } else if (b->rank == a->rank + 1 && b->shape[b->rank - 1] == 1) {
        if (a->rank == 1)
            a->shape[a->rank++] = 1;
        else
            b->rank--;
    }
}

static kcl_status shape_error(kcl_metric *m, const kcl_tensor *t, const kcl_tensor *p,
                              const char *expected)
{
    return kcl__fail(m->ctx, KCL_ERR_SHAPE, "%s: y_true %s and y_pred %s: %s", m->name,
                     kcl__shape_of(t), kcl__shape_of(p), expected);
}

/* One weight per sample: [samples], [samples, 1], or a scalar for one sample. */
static kcl_status check_weights(kcl_metric *m, const kcl_tensor *w, int64_t samples)
{
    if (!w)
        return KCL_OK;
    if (w->ctx != m->ctx)
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "%s: sample_weight belongs to another context",
                         m->name);
    if (w->size == samples && (w->rank <= 1 || (w->rank == 2 && w->shape[1] == 1)))
        return KCL_OK;
    return kcl__fail(m->ctx, KCL_ERR_SHAPE,
                     "%s: sample_weight %s must hold one weight per sample ([%lld])", m->name,
                     kcl__shape_of(w), (long long)samples);
}

/* --------------------------------------------------------------- updates -- */

/* Keras' Mean over values v: one sample per index of the first axis (a scalar
 * is one sample), each averaged over its other axes. */
static kcl_status mean_update(kcl_metric *m, const kcl_tensor *v, const kcl_tensor *w)
{
    cl_ulong samples = v->rank ? (cl_ulong)v->shape[0] : 1;
    kcl_status st = check_weights(m, w, (int64_t)samples);
    if (st || samples == 0)
        return st;
    cl_ulong per_sample = (cl_ulong)v->size / samples, ov = v->offset, os = m->state->offset;
    cl_ulong ow = w ? w->offset : 0;
    cl_int weighted = w != NULL;
    const kcl_tensor *wbuf = w ? w : m->state;   /* any valid buffer when unweighted */
    const kcl_tensor *vbuf = v->size ? v : m->state;
    kcl_arg args[] = {KCL_MEM(vbuf), KCL_ARG(ov), KCL_MEM(wbuf), KCL_ARG(ow), KCL_ARG(weighted),
                      KCL_MEM(m->state), KCL_ARG(os), KCL_ARG(samples), KCL_ARG(per_sample)};
    return kcl__enqueue(m->ctx, "metric", "mean_update", 1, 9, args);
}

typedef enum accuracy_mode { MODE_BINARY = 0, MODE_CATEGORICAL, MODE_SPARSE, MODE_TOP_K } accuracy_mode;

/* Keras' "accuracy" without a model: binary when y_pred has one column,
 * categorical when y_true is shaped as y_pred, else sparse. */
static accuracy_mode resolve_accuracy(const kcl_tensor *t, const kcl_tensor *p)
{
    if (p->rank >= 1 && p->shape[p->rank - 1] == 1)
        return MODE_BINARY;
    view a = view_of(t), b = view_of(p);
    return same_view(&a, &b) ? MODE_CATEGORICAL : MODE_SPARSE;
}

/* Checks the shapes for a mode; *out is the per-sample shape (y_pred's
 * without its last axis, after Keras' rank matching for binary accuracy). */
static kcl_status accuracy_shapes(kcl_metric *m, accuracy_mode mode, const kcl_tensor *t,
                                  const kcl_tensor *p, view *out)
{
    view a = view_of(t), b = view_of(p);
    if (mode == MODE_BINARY)
        match_ranks(&a, &b);
    if (mode == MODE_SPARSE && a.rank == b.rank && a.rank > 0 && a.shape[a.rank - 1] == 1)
        a.rank--;
    if (b.rank < 1 || b.shape[b.rank - 1] == 0)
        return shape_error(m, t, p, "y_pred needs a last axis of size >= 1");
    *out = b;
    out->rank--;
    if (mode == MODE_SPARSE ? !same_view(&a, out) : !same_view(&a, &b))
        return shape_error(m, t, p,
                           mode == MODE_SPARSE ? "labels must have y_pred's shape without its "
                                                 "last axis"
                                               : "they must have one shape");
    return KCL_OK;
}

static kcl_status accuracy_update(kcl_metric *m, accuracy_mode mode, kcl_tensor *t,
                                  kcl_tensor *p, kcl_tensor *w)
{
    view per;
    kcl_status st = accuracy_shapes(m, mode, t, p, &per);
    if (st)
        return st;
    kcl_tensor *values;
    if ((st = kcl__tensor_new(m->ctx, per.rank, per.shape, &values)))
        return st;
    cl_ulong rows = (cl_ulong)values->size, classes = (cl_ulong)p->shape[p->rank - 1];
    cl_ulong ot = t->offset, op = p->offset, oy = values->offset;
    cl_int imode = (cl_int)mode, k = m->config.k;
    float threshold = m->config.threshold;
    if (rows) {
        kcl_arg args[] = {KCL_MEM(t), KCL_ARG(ot), KCL_MEM(p), KCL_ARG(op), KCL_MEM(values),
                          KCL_ARG(oy), KCL_ARG(rows), KCL_ARG(classes), KCL_ARG(imode),
                          KCL_ARG(threshold), KCL_ARG(k)};
        st = kcl__enqueue(m->ctx, "metric", "accuracy_rows", (size_t)rows, 11, args);
    }
    if (!st)
        st = mean_update(m, values, w);
    kcl_tensor_free(values);
    return st;
}

static kcl_status loss_update(kcl_metric *m, kcl_loss_kind kind, kcl_tensor *t, kcl_tensor *p,
                              kcl_tensor *w)
{
    kcl_loss_config loss = {.kind = kind};
    kcl_tensor *values;
    kcl_status st = kcl_loss_per_sample(&loss, t, p, &values);
    if (st)
        return st;
    st = mean_update(m, values, w);
    kcl_tensor_free(values);
    return st;
}

/* Precision, recall and AUC flatten y_true and y_pred (same shape after rank
 * matching); a sample's weight covers its elements. */
static kcl_status confusion_update(kcl_metric *m, kcl_tensor *t, kcl_tensor *p, kcl_tensor *w)
{
    view a = view_of(t), b = view_of(p);
    match_ranks(&b, &a);
    if (!same_view(&a, &b))
        return shape_error(m, t, p, "they must have one shape");
    cl_ulong samples = b.rank ? (cl_ulong)b.shape[0] : 1, n = (cl_ulong)p->size;
    kcl_status st = check_weights(m, w, (int64_t)samples);
    if (st || n == 0)
        return st;
    cl_ulong per_sample = n / samples, ot = t->offset, op = p->offset, os = m->state->offset;
    cl_ulong ow = w ? w->offset : 0, thresholds = (cl_ulong)m->config.num_thresholds;
    cl_int weighted = w != NULL;
    const kcl_tensor *wbuf = w ? w : m->state;
    if (m->config.kind == KCL_METRIC_AUC) {
        kcl_arg args[] = {KCL_MEM(t), KCL_ARG(ot), KCL_MEM(p), KCL_ARG(op), KCL_MEM(wbuf),
                          KCL_ARG(ow), KCL_ARG(weighted), KCL_MEM(m->state), KCL_ARG(os),
                          KCL_ARG(n), KCL_ARG(per_sample), KCL_ARG(thresholds)};
        return kcl__enqueue(m->ctx, "metric", "auc_update", (size_t)thresholds, 12, args);
    }
    float threshold = m->config.threshold;
    kcl_arg args[] = {KCL_MEM(t), KCL_ARG(ot), KCL_MEM(p), KCL_ARG(op), KCL_MEM(wbuf),
                      KCL_ARG(ow), KCL_ARG(weighted), KCL_MEM(m->state), KCL_ARG(os),
                      KCL_ARG(n), KCL_ARG(per_sample), KCL_ARG(threshold)};
    return kcl__enqueue(m->ctx, "metric", "confusion_update", 1, 12, args);
}

kcl_status kcl_metric_update(kcl_metric *m, kcl_tensor *y_true, kcl_tensor *y_pred,
                             kcl_tensor *sample_weight)
{
    if (!m || !y_pred || (!y_true && m->config.kind != KCL_METRIC_MEAN))
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "metric_update: NULL argument");
    if (y_pred->ctx != m->ctx || (y_true && y_true->ctx != m->ctx))
        return kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "%s: tensors of another context", m->name);
    kcl_tensor *t = y_true, *p = y_pred, *w = sample_weight;
    switch (m->config.kind) {
    case KCL_METRIC_ACCURACY:
        return accuracy_update(m, resolve_accuracy(t, p), t, p, w);
    case KCL_METRIC_BINARY_ACCURACY:
        return accuracy_update(m, MODE_BINARY, t, p, w);
    case KCL_METRIC_CATEGORICAL_ACCURACY:
        return accuracy_update(m, MODE_CATEGORICAL, t, p, w);
    case KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY:
        return accuracy_update(m, MODE_SPARSE, t, p, w);
    case KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY:
        return accuracy_update(m, MODE_TOP_K, t, p, w);
    case KCL_METRIC_MEAN_SQUARED_ERROR:
        return loss_update(m, KCL_LOSS_MEAN_SQUARED_ERROR, t, p, w);
    case KCL_METRIC_MEAN_ABSOLUTE_ERROR:
        return loss_update(m, KCL_LOSS_MEAN_ABSOLUTE_ERROR, t, p, w);
    case KCL_METRIC_PRECISION:
    case KCL_METRIC_RECALL:
    case KCL_METRIC_AUC:
        return confusion_update(m, t, p, w);
    case KCL_METRIC_MEAN:
        return mean_update(m, p, w);
    default:
        return kcl__fail(m->ctx, KCL_ERR_STATE, "%s: unknown kind", m->name);
    }
}

/* ---------------------------------------------------------------- result -- */

/* Keras' divide_no_nan */
static double ratio(double a, double b)
{
    return b != 0.0 ? a / b : 0.0;
}

/* AUC.result for the ROC curve with 'interpolation' summation: the trapezoids
 * between consecutive thresholds, x the false-positive rate, y the recall. */
static double roc_auc(const float *s, int thresholds)
{
    const float *tp = s, *fp = s + thresholds, *tn = s + 2 * thresholds, *fn = s + 3 * thresholds;
    double area = 0.0;
    for (int i = 0; i + 1 < thresholds; i++) {
        double x0 = ratio(fp[i], (double)fp[i] + tn[i]), x1 = ratio(fp[i + 1], (double)fp[i + 1] + tn[i + 1]);
        double y0 = ratio(tp[i], (double)tp[i] + fn[i]), y1 = ratio(tp[i + 1], (double)tp[i + 1] + fn[i + 1]);
        area += (x0 - x1) * (y0 + y1) / 2.0;
    }
    return area;
}

kcl_status kcl_metric_result(kcl_metric *m, float *value)
{
    if (!m || !value)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "metric_result: NULL argument");
    size_t n = (size_t)m->state->size;
    float small[4], *s = n <= 4 ? small : malloc(n * sizeof *s);
    if (!s)
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "%s: out of host memory", m->name);
    kcl_status st = kcl_tensor_read(m->state, s, n);
    if (!st) {
        switch (m->config.kind) {
        case KCL_METRIC_PRECISION:
            *value = (float)ratio(s[0], (double)s[0] + s[1]);
            break;
        case KCL_METRIC_RECALL:
            *value = (float)ratio(s[0], (double)s[0] + s[2]);
            break;
        case KCL_METRIC_AUC:
            *value = (float)roc_auc(s, m->config.num_thresholds);
            break;
        default:
            *value = (float)ratio(s[0], s[1]);
        }
    }
    if (s != small)
        free(s);
    return st;
}

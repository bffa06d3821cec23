/* losses.c: Keras 3's losses (keras/src/losses/losses.py with the TensorFlow
 * backend's cross-entropies), composed from the public ops so that tapes
 * record them and their gradients come from the ops' own backward passes.
 *
 * A loss first reduces each sample over the last axis as Keras does
 * (kcl_loss_per_sample), then kcl_loss_compute weights and reduces those
 * values as Keras' default "sum_over_batch_size". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* keras.backend.epsilon(), the clipping bound of the probability losses. */
#define KERAS_EPSILON 1e-7

/* ------------------------------------------------------------------ names -- */

typedef struct loss_name {
    const char *name;
    kcl_loss_kind kind;
} loss_name;

/* The first entry of each kind is its Keras name (kcl_loss_name). */
static const loss_name loss_names[] = {
    {"mean_squared_error", KCL_LOSS_MEAN_SQUARED_ERROR},
    {"mse", KCL_LOSS_MEAN_SQUARED_ERROR},
    {"MeanSquaredError", KCL_LOSS_MEAN_SQUARED_ERROR},
    {"mean_absolute_error", KCL_LOSS_MEAN_ABSOLUTE_ERROR},
    {"mae", KCL_LOSS_MEAN_ABSOLUTE_ERROR},
    {"MeanAbsoluteError", KCL_LOSS_MEAN_ABSOLUTE_ERROR},
    {"mean_squared_logarithmic_error", KCL_LOSS_MEAN_SQUARED_LOGARITHMIC_ERROR},
    {"msle", KCL_LOSS_MEAN_SQUARED_LOGARITHMIC_ERROR},
    {"MeanSquaredLogarithmicError", KCL_LOSS_MEAN_SQUARED_LOGARITHMIC_ERROR},
    {"huber", KCL_LOSS_HUBER},
    {"Huber", KCL_LOSS_HUBER},
    {"log_cosh", KCL_LOSS_LOG_COSH},
    {"logcosh", KCL_LOSS_LOG_COSH},
    {"LogCosh", KCL_LOSS_LOG_COSH},
    {"binary_crossentropy", KCL_LOSS_BINARY_CROSSENTROPY},
    {"BinaryCrossentropy", KCL_LOSS_BINARY_CROSSENTROPY},
    {"categorical_crossentropy", KCL_LOSS_CATEGORICAL_CROSSENTROPY},
    {"CategoricalCrossentropy", KCL_LOSS_CATEGORICAL_CROSSENTROPY},
    {"sparse_categorical_crossentropy", KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"SparseCategoricalCrossentropy", KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"kl_divergence", KCL_LOSS_KL_DIVERGENCE},
    {"kld", KCL_LOSS_KL_DIVERGENCE},
    {"KLD", KCL_LOSS_KL_DIVERGENCE},
    {"kullback_leibler_divergence", KCL_LOSS_KL_DIVERGENCE},
    {"KLDivergence", KCL_LOSS_KL_DIVERGENCE},
    {"poisson", KCL_LOSS_POISSON},
    {"Poisson", KCL_LOSS_POISSON},
    {"hinge", KCL_LOSS_HINGE},
    {"Hinge", KCL_LOSS_HINGE},
    {"squared_hinge", KCL_LOSS_SQUARED_HINGE},
    {"SquaredHinge", KCL_LOSS_SQUARED_HINGE},
    {"categorical_hinge", KCL_LOSS_CATEGORICAL_HINGE},
    {"CategoricalHinge", KCL_LOSS_CATEGORICAL_HINGE},
};

#define LOSS_NAME_COUNT (sizeof loss_names / sizeof *loss_names)

const char *kcl_loss_name(kcl_loss_kind kind)
{
    for (size_t i = 0; i < LOSS_NAME_COUNT; i++)
        if (loss_names[i].kind == kind)
            return loss_names[i].name;
    return kind == KCL_LOSS_NONE ? "none" : "unknown";
}

kcl_status kcl_loss_by_name(kcl_context *ctx, const char *name, kcl_loss_config *out)
{
    if (!name || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "loss_by_name: NULL argument");
    for (size_t i = 0; i < LOSS_NAME_COUNT; i++)
        if (strcmp(name, loss_names[i].name) == 0) {
            *out = (kcl_loss_config){.kind = loss_names[i].kind};
            return KCL_OK;
        }
    char list[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < LOSS_NAME_COUNT && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 loss_names[i].name);
    return kcl__fail(ctx, KCL_ERR_NAME, "loss: unknown name \"%s\"; valid names: %s", name, list);
}

/* ---------------------------------------------------------------- scratch -- *
 * A loss is a chain of ops. Each step below runs only while no earlier one has
 * failed, and keeps its result in the scratch list, so a formula reads as
 * straight-line code and every intermediate tensor is freed in one place. */

#define SCRATCH_MAX 24

typedef struct scratch {
    kcl_tensor *t[SCRATCH_MAX];
    int n;
    kcl_status st;
    kcl_context *ctx;
} scratch;

typedef kcl_status (*binary_fn)(kcl_tensor *, kcl_tensor *, kcl_tensor **);
typedef kcl_status (*unary_fn)(kcl_tensor *, kcl_tensor **);

/* Records a step's result; call it after the step (C leaves the order in
 * which a call's arguments are evaluated open). */
static kcl_tensor *keep(scratch *s, kcl_status st, kcl_tensor *t)
{
    if (st) {
        s->st = st;
        return NULL;
    }
    if (s->n == SCRATCH_MAX) {   /* a formula longer than any below: a bug, reported */
        kcl_tensor_free(t);
        s->st = kcl__fail(s->ctx, KCL_ERR_STATE, "loss: too many intermediate tensors");
        return NULL;
    }
    return s->t[s->n++] = t;
}

static kcl_tensor *bin(scratch *s, binary_fn fn, kcl_tensor *a, kcl_tensor *b)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = fn(a, b, &out);
    return keep(s, st, out);
}

static kcl_tensor *un(scratch *s, unary_fn fn, kcl_tensor *x)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = fn(x, &out);
    return keep(s, st, out);
}

/* x * factor + offset */
static kcl_tensor *affine(scratch *s, kcl_tensor *x, double factor, double offset)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = kcl_scale_shift(x, (float)factor, (float)offset, &out);
    return keep(s, st, out);
}

static kcl_tensor *clip(scratch *s, kcl_tensor *x, double lo, double hi)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = kcl_clip(x, (float)lo, (float)hi, &out);
    return keep(s, st, out);
}

typedef kcl_status (*reduce_fn)(kcl_tensor *, size_t, const int *, int, kcl_tensor **);

/* A reduction over the last axis. */
static kcl_tensor *last(scratch *s, reduce_fn fn, kcl_tensor *x, int keepdims)
{
    kcl_tensor *out = NULL;
    int axis = -1;
    if (s->st)
        return NULL;
    kcl_status st = fn(x, 1, &axis, keepdims, &out);
    return keep(s, st, out);
}

/* A reduction over every axis. */
static kcl_tensor *whole(scratch *s, reduce_fn fn, kcl_tensor *x)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = fn(x, 0, NULL, 0, &out);
    return keep(s, st, out);
}

static kcl_tensor *act(scratch *s, kcl_tensor *x, const char *name)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = kcl_activation(x, name, NULL, &out);
    return keep(s, st, out);
}

static kcl_tensor *scalar(scratch *s, float value)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = kcl__full(s->ctx, 0, NULL, value, &out);
    return keep(s, st, out);
}

static kcl_tensor *reshape(scratch *s, kcl_tensor *x, int rank, const int64_t *shape)
{
    kcl_tensor *out = NULL;
    if (s->st)
        return NULL;
    kcl_status st = kcl_reshape(x, rank, shape, &out);
    return keep(s, st, out);
}

/* Hands the last result to the caller (a reference of its own) and frees the rest. */
static kcl_status finish(scratch *s, kcl_tensor *result, kcl_tensor **out)
{
    if (!s->st)
        *out = kcl__tensor_retain(result);
    for (int i = 0; i < s->n; i++)
        kcl_tensor_free(s->t[i]);
    return s->st;
}

/* ---------------------------------------------------------------- formulas -- *
 * Each computes the per-sample losses of (y_true t, y_pred p), shapes already
 * checked; the comment gives Keras' formula. */

typedef kcl_tensor *(*loss_fn)(scratch *s, const kcl_loss_config *c, kcl_tensor *t,
                               kcl_tensor *p);

/* mean((t - p)^2) */
static kcl_tensor *mse(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    (void)c;
    return last(s, kcl_reduce_mean, un(s, kcl_square, bin(s, kcl_subtract, t, p)), 0);
}

/* mean(|t - p|) */
static kcl_tensor *mae(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    (void)c;
    return last(s, kcl_reduce_mean, un(s, kcl_abs, bin(s, kcl_subtract, t, p)), 0);
}

/* mean((log(max(p, eps) + 1) - log(max(t, eps) + 1))^2) */
static kcl_tensor *msle(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    (void)c;
    kcl_tensor *lp = un(s, kcl_log, affine(s, clip(s, p, KERAS_EPSILON, INFINITY), 1, 1));
    kcl_tensor *lt = un(s, kcl_log, affine(s, clip(s, t, KERAS_EPSILON, INFINITY), 1, 1));
    return last(s, kcl_reduce_mean, un(s, kcl_square, bin(s, kcl_subtract, lp, lt)), 0);
}

/* mean(|e| <= d ? e^2 / 2 : d |e| - d^2 / 2) with e = p - t, written without a
 * select as c^2 / 2 + d (|e| - c) where c = min(|e|, d): the two agree on both
 * branches, and the gradient is the same (e inside, d sign(e) outside). */
static kcl_tensor *huber(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    double d = c->delta != 0.0f ? c->delta : 1.0;
    kcl_tensor *a = un(s, kcl_abs, bin(s, kcl_subtract, p, t));
    kcl_tensor *m = clip(s, a, 0.0, d);
    kcl_tensor *quad = affine(s, un(s, kcl_square, m), 0.5, 0);
    kcl_tensor *lin = affine(s, bin(s, kcl_subtract, a, m), d, 0);
    return last(s, kcl_reduce_mean, bin(s, kcl_add, quad, lin), 0);
}

/* mean(x + softplus(-2x) - log(2)) with x = p - t: Keras' overflow-free log(cosh(x)) */
static kcl_tensor *log_cosh(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    (void)c;
    kcl_tensor *x = bin(s, kcl_subtract, p, t);
    kcl_tensor *sp = act(s, affine(s, x, -2, 0), "softplus");
    kcl_tensor *v = affine(s, bin(s, kcl_add, x, sp), 1, -log(2.0));
    return last(s, kcl_reduce_mean, v, 0);
}

/* Keras smooths binary targets toward 0.5: t (1 - ls) + ls / 2. */
static kcl_tensor *smooth_binary(scratch *s, const kcl_loss_config *c, kcl_tensor *t)
{
    double ls = c->label_smoothing;
    return ls != 0.0 ? affine(s, t, 1.0 - ls, 0.5 * ls) : t;
}

/* The logits p came from (Keras' _keras_logits on TensorFlow), or NULL. */
static kcl_tensor *logits_of(const kcl_tensor *p, int kind)
{
    return p->logits_of == kind ? p->logits : NULL;
}

/* mean(sigmoid_xent(logits, t)), or from probabilities clipped to
 * [eps, 1 - eps]: mean(-(t log p + (1 - t) log(1 - p))). */
static kcl_tensor *bce(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    t = smooth_binary(s, c, t);
    kcl_tensor *z = c->from_logits ? NULL : logits_of(p, KCL__LOGITS_SIGMOID);
    if (z)
        return last(s, kcl_reduce_mean, bin(s, kcl_sigmoid_cross_entropy, z, t), 0);
    if (c->from_logits)
        return last(s, kcl_reduce_mean, bin(s, kcl_sigmoid_cross_entropy, p, t), 0);
    kcl_tensor *q = clip(s, p, KERAS_EPSILON, 1.0 - KERAS_EPSILON);
    kcl_tensor *pos = bin(s, kcl_multiply, t, un(s, kcl_log, q));
    kcl_tensor *neg = bin(s, kcl_multiply, affine(s, t, -1, 1), un(s, kcl_log, affine(s, q, -1, 1)));
    return last(s, kcl_reduce_mean, affine(s, bin(s, kcl_add, pos, neg), -1, 0), 0);
}

/* softmax_xent(logits, t), or from probabilities renormalised to sum 1 and
 * clipped to [eps, 1 - eps]: -sum(t log p). Targets smoothed toward the
 * uniform distribution: t (1 - ls) + ls / classes. */
static kcl_tensor *cce(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    double ls = c->label_smoothing, classes = (double)p->shape[p->rank - 1];
    if (ls != 0.0)
        t = affine(s, t, 1.0 - ls, ls / classes);
    kcl_tensor *z = c->from_logits ? NULL : logits_of(p, KCL__LOGITS_SOFTMAX);
    if (z)
        return bin(s, kcl_softmax_cross_entropy, z, t);
    if (c->from_logits)
        return bin(s, kcl_softmax_cross_entropy, p, t);
    kcl_tensor *q = bin(s, kcl_divide, p, last(s, kcl_reduce_sum, p, 1));
    q = clip(s, q, KERAS_EPSILON, 1.0 - KERAS_EPSILON);
    kcl_tensor *v = bin(s, kcl_multiply, t, un(s, kcl_log, q));
    return affine(s, last(s, kcl_reduce_sum, v, 0), -1, 0);
}

/* sparse_softmax_xent(logits, labels); from probabilities, as TensorFlow's
 * backend: the same of log(clip(p, eps, 1 - eps)), which is
 * -log(p[label]) + log(sum(p)) with the clipped p. Labels are truncated to
 * integers as a cast does; one outside [0, classes) (or NaN) makes that
 * sample's loss and gradient row NaN, as TensorFlow on a GPU does: checking
 * on the host would mean waiting for the device. */
static kcl_tensor *scce(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    kcl_tensor *z = c->from_logits ? NULL : logits_of(p, KCL__LOGITS_SOFTMAX);
    if (z)
        p = z;
    else if (!c->from_logits)
        p = un(s, kcl_log, clip(s, p, KERAS_EPSILON, 1.0 - KERAS_EPSILON));
    return bin(s, kcl_sparse_softmax_cross_entropy, p, t);
}

/* sum(t log(t / p)) with t and p clipped to [eps, 1] */
static kcl_tensor *kld(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    (void)c;
    kcl_tensor *tc = clip(s, t, KERAS_EPSILON, 1), *pc = clip(s, p, KERAS_EPSILON, 1);
    kcl_tensor *v = bin(s, kcl_multiply, tc, un(s, kcl_log, bin(s, kcl_divide, tc, pc)));
    return last(s, kcl_reduce_sum, v, 0);
}

/* mean(p - t log(p + eps)) */
static kcl_tensor *poisson(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    (void)c;
    kcl_tensor *v = bin(s, kcl_multiply, t, un(s, kcl_log, affine(s, p, 1, KERAS_EPSILON)));
    return last(s, kcl_reduce_mean, bin(s, kcl_subtract, p, v), 0);
}

/* Keras' convert_binary_labels_to_hinge: when every label is 0 or 1 the labels
 * become 2t - 1, else they stay. Decided on the device, without a wait:
 * b = min(t == 0 or t == 1) over all labels, then t + b (t - 1). */
static kcl_tensor *hinge_labels(scratch *s, kcl_tensor *t)
{
    kcl_tensor *is01 = bin(s, kcl_add, bin(s, kcl_equal, t, scalar(s, 0.0f)),
                           bin(s, kcl_equal, t, scalar(s, 1.0f)));
    kcl_tensor *b = affine(s, whole(s, kcl_reduce_max, affine(s, is01, -1, 1)), -1, 1);
    return bin(s, kcl_add, t, bin(s, kcl_multiply, b, affine(s, t, 1, -1)));
}

/* max(1 - t p, 0) with hinge labels */
static kcl_tensor *hinge_margin(scratch *s, kcl_tensor *t, kcl_tensor *p)
{
    kcl_tensor *m = bin(s, kcl_multiply, hinge_labels(s, t), p);
    return clip(s, affine(s, m, -1, 1), 0.0, INFINITY);
}

/* mean(max(1 - t p, 0)) */
static kcl_tensor *hinge(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    (void)c;
    return last(s, kcl_reduce_mean, hinge_margin(s, t, p), 0);
}

/* mean(max(1 - t p, 0)^2) */
static kcl_tensor *squared_hinge(scratch *s, const kcl_loss_config *c, kcl_tensor *t,
                                 kcl_tensor *p)
{
    (void)c;
    return last(s, kcl_reduce_mean, un(s, kcl_square, hinge_margin(s, t, p)), 0);
}

/* max(max((1 - t) p) - sum(t p) + 1, 0) */
static kcl_tensor *categorical_hinge(scratch *s, const kcl_loss_config *c, kcl_tensor *t,
                                     kcl_tensor *p)
{
    (void)c;
    kcl_tensor *pos = last(s, kcl_reduce_sum, bin(s, kcl_multiply, t, p), 0);
    kcl_tensor *neg = last(s, kcl_reduce_max, bin(s, kcl_multiply, affine(s, t, -1, 1), p), 0);
    return clip(s, affine(s, bin(s, kcl_subtract, neg, pos), 1, 1), 0.0, INFINITY);
}

static const loss_fn loss_fns[KCL_LOSS_KIND_COUNT_] = {
    [KCL_LOSS_MEAN_SQUARED_ERROR] = mse,
    [KCL_LOSS_MEAN_ABSOLUTE_ERROR] = mae,
    [KCL_LOSS_MEAN_SQUARED_LOGARITHMIC_ERROR] = msle,
    [KCL_LOSS_HUBER] = huber,
    [KCL_LOSS_LOG_COSH] = log_cosh,
    [KCL_LOSS_BINARY_CROSSENTROPY] = bce,
    [KCL_LOSS_CATEGORICAL_CROSSENTROPY] = cce,
    [KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY] = scce,
    [KCL_LOSS_KL_DIVERGENCE] = kld,
    [KCL_LOSS_POISSON] = poisson,
    [KCL_LOSS_HINGE] = hinge,
    [KCL_LOSS_SQUARED_HINGE] = squared_hinge,
    [KCL_LOSS_CATEGORICAL_HINGE] = categorical_hinge,
};

/* ------------------------------------------------------------------ shapes -- */

static bool same_shape(const kcl_tensor *a, const kcl_tensor *b)
{
    return a->rank == b->rank &&
           memcmp(a->shape, b->shape, (size_t)a->rank * sizeof *a->shape) == 0;
}

/* x without its last axis (of size 1), or with a last axis of 1 added. */
static kcl_tensor *squeeze_last(scratch *s, kcl_tensor *x)
{
    return reshape(s, x, x->rank - 1, x->shape);
}

static kcl_tensor *expand_last(scratch *s, kcl_tensor *x)
{
    int64_t shape[KCL_MAX_RANK];
    memcpy(shape, x->shape, (size_t)x->rank * sizeof *shape);
    shape[x->rank] = 1;
    return reshape(s, x, x->rank + 1, shape);
}

/* Keras' squeeze_or_expand_to_same_rank(y_true, y_pred): when the ranks differ
 * by one and the larger ends in an axis of 1, that axis is squeezed, except
 * that a rank-1 partner is expanded instead ([batch] labels with [batch, 1]
 * predictions compare as [batch, 1]). */
static void match_ranks(scratch *s, kcl_tensor **t, kcl_tensor **p)
{
    kcl_tensor *a = *t, *b = *p;
    if (a->rank == b->rank + 1 && a->shape[a->rank - 1] == 1) {
        if (b->rank == 1)
            *p = expand_last(s, b);
        else
            *t = squeeze_last(s, a);
    } else if (b->rank == a->rank + 1 && b->shape[b->rank - 1] == 1) {
        if (a->rank == 1)
            *t = expand_last(s, a);
        else
            *p = squeeze_last(s, b);
    }
}

static kcl_status check_config(kcl_context *ctx, const kcl_loss_config *c)
{
    const char *name = kcl_loss_name(c->kind);
    if ((int)c->kind <= KCL_LOSS_NONE || c->kind >= KCL_LOSS_KIND_COUNT_)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "loss: unknown kind %d", (int)c->kind);
    if (!(c->label_smoothing >= 0.0f && c->label_smoothing <= 1.0f))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: label_smoothing %g is outside [0, 1]", name,
                         (double)c->label_smoothing);
    if (!(c->delta >= 0.0f) || isinf(c->delta))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: delta %g must be positive and finite",
                         name, (double)c->delta);
    return KCL_OK;
}

/* Sparse labels: [...] or [..., 1] against predictions [..., classes]. */
static kcl_status check_sparse(scratch *s, kcl_tensor **t, kcl_tensor *p)
{
    if ((*t)->rank == p->rank && p->rank > 0 && (*t)->shape[(*t)->rank - 1] == 1)
        *t = squeeze_last(s, *t);
    if (s->st)
        return s->st;
    kcl_tensor *a = *t;
    if (p->rank < 1 || a->rank != p->rank - 1 ||
        memcmp(a->shape, p->shape, (size_t)a->rank * sizeof *a->shape) != 0)
        return s->st = kcl__fail(s->ctx, KCL_ERR_SHAPE,
                                 "sparse_categorical_crossentropy: y_true %s must have the shape "
                                 "of y_pred %s without its last axis (or with a last axis of 1)",
                                 kcl__shape_of(a), kcl__shape_of(p));
    return KCL_OK;
}

static kcl_status check_dense(scratch *s, const kcl_loss_config *c, kcl_tensor **t,
                              kcl_tensor **p)
{
    match_ranks(s, t, p);
    if (s->st)
        return s->st;
    if ((*p)->rank < 1 || !same_shape(*t, *p))
        return s->st = kcl__fail(s->ctx, KCL_ERR_SHAPE,
                                 "%s: y_true %s and y_pred %s must have one shape of rank >= 1",
                                 kcl_loss_name(c->kind), kcl__shape_of(*t), kcl__shape_of(*p));
    return KCL_OK;
}

/* The per-sample losses into the scratch list (NULL on failure, s->st set). */
static kcl_tensor *per_sample(scratch *s, const kcl_loss_config *c, kcl_tensor *t, kcl_tensor *p)
{
    if (c->kind == KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? check_sparse(s, &t, p)
                                                            : check_dense(s, c, &t, &p))
        return NULL;
    return loss_fns[c->kind](s, c, t, p);
}

static kcl_status check_call(const kcl_loss_config *loss, kcl_tensor *y_true, kcl_tensor *y_pred,
                             kcl_tensor **out)
{
    kcl_context *ctx = y_pred ? y_pred->ctx : y_true ? y_true->ctx : NULL;
    if (!loss || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "loss: NULL argument");
    *out = NULL;
    kcl_status st = kcl__same_context(kcl_loss_name(loss->kind), y_true, y_pred);
    return st ? st : check_config(ctx, loss);
}

kcl_status kcl_loss_per_sample(const kcl_loss_config *loss, kcl_tensor *y_true,
                               kcl_tensor *y_pred, kcl_tensor **out)
{
    kcl_status st = check_call(loss, y_true, y_pred, out);
    if (st)
        return st;
    scratch s = {.ctx = y_pred->ctx};
    kcl_tensor *v = per_sample(&s, loss, y_true, y_pred);
    return finish(&s, v, out);
}

/* sample_weight as a factor of the per-sample losses v: their own shape, or
 * one weight per sample ([batch] or [batch, 1]) spread over v's other axes. */
static kcl_tensor *weights_for(scratch *s, kcl_tensor *w, kcl_tensor *v)
{
    if (same_shape(w, v))
        return w;
    int64_t batch = v->rank ? v->shape[0] : 1, shape[KCL_MAX_RANK];
    bool fits = w->size == batch && (w->rank <= 1 || (w->rank == 2 && w->shape[1] == 1));
    if (!fits) {
        s->st = kcl__fail(s->ctx, KCL_ERR_SHAPE,
                          "loss: sample_weight %s does not match the per-sample losses %s "
                          "(expected [%lld] or their shape)",
                          kcl__shape_of(w), kcl__shape_of(v), (long long)batch);
        return NULL;
    }
    for (int i = 0; i < v->rank; i++)
        shape[i] = i ? 1 : batch;
    return reshape(s, w, v->rank, shape);
}

kcl_status kcl_loss_compute(const kcl_loss_config *loss, kcl_tensor *y_true, kcl_tensor *y_pred,
                            kcl_tensor *sample_weight, kcl_tensor **out)
{
    kcl_status st = check_call(loss, y_true, y_pred, out);
    if (st)
        return st;
    if (sample_weight && sample_weight->ctx != y_pred->ctx)
        return kcl__fail(y_pred->ctx, KCL_ERR_ARGUMENT,
                         "%s: sample_weight belongs to another context", kcl_loss_name(loss->kind));
    scratch s = {.ctx = y_pred->ctx};
    kcl_tensor *v = per_sample(&s, loss, y_true, y_pred);
    if (sample_weight && !s.st)
        v = bin(&s, kcl_multiply, v, weights_for(&s, sample_weight, v));
    /* sum_over_batch_size: the sum over the number of per-sample values (an
     * empty batch gives 0, as Keras' divide_no_nan). */
    int64_t count = v ? v->size : 0;
    kcl_tensor *sum = whole(&s, kcl_reduce_sum, v);
    return finish(&s, affine(&s, sum, count ? 1.0 / (double)count : 0.0, 0), out);
}

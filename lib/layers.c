/* layers.c: the layer object (naming, ownership, weights) and the layer
 * classes: Dense, Activation, Flatten, Reshape, Dropout and the merge layers.
 * Lambda lives in lambda.c; a model used as a layer in model.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---------------------------------------------------------------- shapes -- */

const char *kcl__shape_text(const kcl_shape *s, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < s->rank && used < size; i++) {
        if (s->dims[i] < 0)
            used += (size_t)snprintf(buf + used, size - used, "%sNone", i ? ", " : "");
        else
            used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                     (long long)s->dims[i]);
    }
    if (used < size)
        snprintf(buf + used, size - used, s->rank == 1 ? ",)" : ")");
    return buf;
}

bool kcl__shape_accepts(const kcl_shape *want, const kcl_shape *got)
{
    bool ok = want->rank == got->rank;
    for (int d = 1; ok && d < want->rank; d++)
        ok = want->dims[d] < 0 || got->dims[d] < 0 || want->dims[d] == got->dims[d];
    return ok;
}

kcl_shape kcl__shape_of_tensor(const kcl_tensor *t)
{
    kcl_shape s = {t->rank, {0}};
    memcpy(s.dims, t->shape, (size_t)t->rank * sizeof *t->shape);
    return s;
}

static char *dup_text(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ----------------------------------------------------------------- names -- */

typedef struct kcl_name_count {
    char *base;
    int count;
    struct kcl_name_count *next;
} kcl_name_count;

/* Keras' automatic names: the first "dense", then "dense_1", "dense_2", ... */
char *kcl__auto_name(kcl_context *ctx, const char *base)
{
    kcl_name_count *c = ctx->names;
    while (c && strcmp(c->base, base) != 0)
        c = c->next;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->base = dup_text(base))) {
            free(c);
            return NULL;
        }
        c->next = ctx->names;
        ctx->names = c;
    }
    char buf[96];
    if (c->count == 0)
        snprintf(buf, sizeof buf, "%s", base);
    else
        snprintf(buf, sizeof buf, "%s_%d", base, c->count);
    c->count++;
    return dup_text(buf);
}

void kcl__names_free(kcl_context *ctx)
{
    while (ctx->names) {
        kcl_name_count *next = ctx->names->next;
        free(ctx->names->base);
        free(ctx->names);
        ctx->names = next;
    }
}

/* ------------------------------------------------------------ the object -- */

static void set_error(kcl_layer *layer, const char *msg)
{
    if (!layer->error)
        layer->error = dup_text(msg);
}

kcl_layer *kcl__layer_new(const kcl_layer_kind *kind, const char *name, const int64_t *input_shape,
                          int64_t input_dim, int not_trainable, const void *options,
                          size_t options_size)
{
    kcl_layer *layer = calloc(1, sizeof *layer);
    if (!layer)
        return NULL;
    layer->kind = kind;
    layer->trainable = !not_trainable;
    layer->refs = 1;
    layer->options = malloc(options_size);
    if (!layer->options || (name && !(layer->requested_name = dup_text(name)))) {
        free(layer->options);
        free(layer);
        return NULL;
    }
    memcpy(layer->options, options, options_size);
    int rank = 0;
    while (input_shape && rank < KCL_MAX_RANK && input_shape[rank] != 0)
        rank++;
    if (rank > 0 && rank < KCL_MAX_RANK) {
        layer->input_shape.rank = rank + 1;
        layer->input_shape.dims[0] = -1;
        for (int i = 0; i < rank; i++) {
            layer->input_shape.dims[i + 1] = input_shape[i];
            if (input_shape[i] < 0)
                set_error(layer, "input_shape has a negative dimension");
        }
    } else if (input_dim > 0) {
        layer->input_shape = (kcl_shape){2, {-1, input_dim}};
    } else if (input_dim < 0) {
        set_error(layer, "input_dim is negative");
    }
    return layer;
}

static void destroy(kcl_layer *layer)
{
    if (layer->kind->destroy)
        layer->kind->destroy(layer);
    for (size_t i = 0; i < layer->n_weights; i++)
        kcl_tensor_free(layer->weights[i]);
    free(layer->options);
    free(layer->name);
    free(layer->requested_name);
    free(layer->error);
    free(layer);
}

void kcl_layer_free(kcl_layer *layer)
{
    if (layer && !layer->adopted)
        destroy(layer);
}

kcl_status kcl__layer_adopt(kcl_layer *layer, kcl_context *ctx)
{
    if (layer->ctx && layer->ctx != ctx)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "layer '%s' belongs to another context",
                         layer->name);
    if (!layer->name) {
        layer->name = layer->requested_name ? dup_text(layer->requested_name)
                                            : kcl__auto_name(ctx, layer->kind->base_name);
        if (!layer->name)
            return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory naming a layer");
    }
    layer->ctx = ctx;
    if (layer->adopted)
        layer->refs++;
    layer->adopted = true;   /* the creator's reference becomes the owner's */
    return KCL_OK;
}

void kcl__layer_release(kcl_layer *layer)
{
    if (layer && --layer->refs == 0)
        destroy(layer);
}

kcl_status kcl__layer_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                            kcl_shape *out)
{
    const char *name = layer->name ? layer->name : layer->kind->base_name;
    if (layer->error)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "layer '%s' (%s): %s", name,
                         layer->kind->class_name, layer->error);
    if (n < layer->kind->min_inputs || n > layer->kind->max_inputs)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "layer '%s' (%s) takes %d to %d inputs, not %d",
                         name, layer->kind->class_name, layer->kind->min_inputs,
                         layer->kind->max_inputs, n);
    kcl_status st = layer->kind->build(layer, ctx, n, in, out);
    if (!st)
        layer->built = true;
    return st;
}

kcl_status kcl__layer_add_weight(kcl_layer *layer, kcl_context *ctx, const char *name, int rank,
                                 const int64_t *shape, const kcl_initializer *init,
                                 kcl_regularizer reg)
{
    if (layer->n_weights == KCL_LAYER_MAX_WEIGHTS)
        return kcl__fail(ctx, KCL_ERR_STATE, "layer '%s' has too many weights", layer->name);
    kcl_tensor *t;
    kcl_status st = kcl_tensor_create(ctx, rank, shape, &t);
    if (!st)
        st = kcl_initialize(ctx, init, t);
    if (!st)
        st = kcl_tensor_set_trainable(t, layer->trainable);
    if (st) {
        kcl_tensor_free(t);
        return kcl__fail(ctx, st, "layer '%s', weight '%s': %s", layer->name, name, kcl_errmsg(ctx));
    }
    size_t i = layer->n_weights++;
    layer->weights[i] = t;
    layer->weight_names[i] = name;
    layer->regularizers[i] = reg;
    return KCL_OK;
}

const char *kcl_layer_name(const kcl_layer *layer)
{
    return layer ? (layer->name ? layer->name : layer->requested_name ? layer->requested_name : "")
                 : NULL;
}

const char *kcl_layer_class(const kcl_layer *layer)
{
    return layer ? layer->kind->class_name : NULL;
}

kcl_status kcl_layer_set_trainable(kcl_layer *layer, int trainable)
{
    if (!layer)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_layer_set_trainable: NULL layer");
    layer->trainable = trainable != 0;
    for (size_t i = 0; i < layer->n_weights; i++)
        kcl_tensor_set_trainable(layer->weights[i], layer->trainable);
    if (layer->inner)
        for (size_t i = 0; i < layer->inner->n_layers; i++)
            kcl_layer_set_trainable(layer->inner->layers[i], trainable);
    return KCL_OK;
}

int kcl_layer_trainable(const kcl_layer *layer)
{
    return layer && layer->trainable;
}

size_t kcl_layer_weight_count(const kcl_layer *layer)
{
    return layer ? layer->n_weights : 0;
}

kcl_tensor *kcl_layer_weight(const kcl_layer *layer, size_t i)
{
    return layer && i < layer->n_weights ? layer->weights[i] : NULL;
}

const char *kcl_layer_weight_name(const kcl_layer *layer, size_t i)
{
    return layer && i < layer->n_weights ? layer->weight_names[i] : NULL;
}

kcl_status kcl_layer_set_weight(kcl_layer *layer, size_t i, const float *values, size_t count)
{
    if (!layer || i >= layer->n_weights)
        return kcl__fail(layer ? layer->ctx : NULL, KCL_ERR_ARGUMENT,
                         "kcl_layer_set_weight: no weight %zu in layer '%s'", i,
                         kcl_layer_name(layer));
    return kcl_tensor_write(layer->weights[i], values, count);
}

/* ------------------------------------------------------------ InputLayer -- */

/* Keras' Input as the first element of a Sequential model: it only fixes the
 * input shape (from its input_shape), and passes its input through. */
static kcl_status input_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                              kcl_shape *out)
{
    (void)n;
    char a[128], b[128];
    const kcl_shape *want = &layer->input_shape;
    if (!kcl__shape_accepts(want, in))
        return kcl__fail(ctx, KCL_ERR_SHAPE, "InputLayer '%s' expects %s, got %s", layer->name,
                         kcl__shape_text(want, a, sizeof a), kcl__shape_text(in, b, sizeof b));
    *out = *in;
    return KCL_OK;
}

static kcl_status input_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                             kcl_tensor **out)
{
    (void)layer; (void)n; (void)training;
    *out = kcl__tensor_retain(in[0]);
    return KCL_OK;
}

static const kcl_layer_kind input_kind = {"InputLayer", "input_layer", 1, 1, input_build,
                                          input_call, NULL};

kcl_layer *kcl_layer_input_(const kcl_flatten_options *o)
{
    kcl_layer *layer = kcl__layer_new(&input_kind, o->name, o->input_shape, o->input_dim,
                                      o->not_trainable, o, sizeof *o);
    if (layer && layer->input_shape.rank == 0)
        set_error(layer, "an Input needs input_shape (or input_dim)");
    return layer;
}

/* ----------------------------------------------------------------- Dense -- */

static kcl_status dense_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                              kcl_shape *out)
{
    (void)n;
    const kcl_dense_options *o = layer->options;
    char buf[128];
    if (o->units <= 0)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "Dense '%s': units must be positive, not %lld",
                         layer->name, (long long)o->units);
    if (in->rank < 2 || in->dims[in->rank - 1] <= 0)
        return kcl__fail(ctx, KCL_ERR_SHAPE,
                         "Dense '%s' needs an input of rank >= 2 with a known last axis, not %s",
                         layer->name, kcl__shape_text(in, buf, sizeof buf));
    int64_t fan_in = in->dims[in->rank - 1];
    *out = *in;
    out->dims[in->rank - 1] = o->units;
    if (layer->built) {
        int64_t have = kcl_tensor_shape(layer->weights[0])[0];
        if (have != fan_in)
            return kcl__fail(ctx, KCL_ERR_SHAPE,
                             "Dense '%s' was built for inputs of last axis %lld; input %s differs",
                             layer->name, (long long)have, kcl__shape_text(in, buf, sizeof buf));
        return KCL_OK;
    }
    kcl_status st = kcl__activation_check(ctx, o->activation);
    if (st)
        return kcl__fail(ctx, st, "Dense '%s': %s", layer->name, kcl_errmsg(ctx));
    kcl_initializer kinit = o->kernel_initializer.kind ? o->kernel_initializer
                                                       : kcl_default_kernel_initializer();
    kcl_initializer binit = o->bias_initializer.kind ? o->bias_initializer
                                                     : kcl_default_bias_initializer();
    int64_t kshape[2] = {fan_in, o->units};
    st = kcl__layer_add_weight(layer, ctx, "kernel", 2, kshape, &kinit, o->kernel_regularizer);
    if (!st && !o->no_bias)
        st = kcl__layer_add_weight(layer, ctx, "bias", 1, &o->units, &binit, o->bias_regularizer);
    return st;
}

/* The product through CLBlast, then bias and activation in one fused kernel. */
static kcl_status dense_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                             kcl_tensor **out)
{
    (void)n; (void)training;
    const kcl_dense_options *o = layer->options;
    kcl_tensor *y;
    kcl_status st = kcl_matmul(in[0], layer->weights[0], &y);
    if (st || (o->no_bias && (!o->activation || strcmp(o->activation, "linear") == 0))) {
        *out = st ? NULL : y;
        return st;
    }
    if (o->no_bias)
        st = kcl_activation(y, o->activation, &o->activation_args, out);
    else
        st = kcl__bias_activation(y, layer->weights[1], o->activation, &o->activation_args, out);
    kcl_tensor_free(y);
    return st;
}

static const kcl_layer_kind dense_kind = {"Dense", "dense", 1, 1, dense_build, dense_call, NULL};

kcl_layer *kcl_layer_dense_(const kcl_dense_options *o)
{
    return kcl__layer_new(&dense_kind, o->name, o->input_shape, o->input_dim, o->not_trainable, o,
                          sizeof *o);
}

/* ------------------------------------------------------------ Activation -- */

static kcl_status activation_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                                   kcl_shape *out)
{
    (void)n;
    const kcl_activation_options *o = layer->options;
    if (!o->activation)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "Activation '%s': no activation name", layer->name);
    kcl_status st = kcl__activation_check(ctx, o->activation);
    if (st)
        return kcl__fail(ctx, st, "Activation '%s': %s", layer->name, kcl_errmsg(ctx));
    *out = *in;
    return KCL_OK;
}

static kcl_status activation_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                                  kcl_tensor **out)
{
    (void)n; (void)training;
    const kcl_activation_options *o = layer->options;
    return kcl_activation(in[0], o->activation, &o->activation_args, out);
}

static const kcl_layer_kind activation_kind = {"Activation", "activation", 1, 1,
                                               activation_build, activation_call, NULL};

kcl_layer *kcl_layer_activation_(const kcl_activation_options *o)
{
    return kcl__layer_new(&activation_kind, o->name, o->input_shape, o->input_dim,
                          o->not_trainable, o, sizeof *o);
}

/* --------------------------------------------------------------- Flatten -- */

static kcl_status flatten_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                                kcl_shape *out)
{
    (void)n;
    int64_t size = 1;
    char buf[128];
    for (int i = 1; i < in->rank; i++) {
        if (in->dims[i] < 0)
            return kcl__fail(ctx, KCL_ERR_SHAPE, "Flatten '%s': input %s has an unknown axis",
                             layer->name, kcl__shape_text(in, buf, sizeof buf));
        size *= in->dims[i];
    }
    if (in->rank < 1)
        return kcl__fail(ctx, KCL_ERR_SHAPE, "Flatten '%s': input has no batch axis", layer->name);
    *out = (kcl_shape){2, {in->dims[0], size}};
    return KCL_OK;
}

static kcl_status flatten_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                               kcl_tensor **out)
{
    (void)layer; (void)n; (void)training;
    return kcl_flatten(in[0], out);
}

static const kcl_layer_kind flatten_kind = {"Flatten", "flatten", 1, 1, flatten_build,
                                            flatten_call, NULL};

kcl_layer *kcl_layer_flatten_(const kcl_flatten_options *o)
{
    return kcl__layer_new(&flatten_kind, o->name, o->input_shape, o->input_dim, o->not_trainable,
                          o, sizeof *o);
}

/* --------------------------------------------------------------- Reshape -- */

static kcl_status reshape_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                                kcl_shape *out)
{
    (void)n;
    const kcl_reshape_options *o = layer->options;
    char a[128], b[128];
    int64_t size = 1, known = 1;
    int infer = -1, rank = 0;
    for (int i = 1; i < in->rank; i++)
        size *= in->dims[i] < 0 ? 0 : in->dims[i];
    while (rank < KCL_MAX_RANK - 1 && o->target_shape[rank] != 0) {
        int64_t d = o->target_shape[rank];
        if (d == -1 && infer < 0)
            infer = rank;
        else if (d < 0)
            infer = -2;
        else
            known *= d;
        rank++;
    }
    out->rank = rank + 1;
    out->dims[0] = in->dims[0];
    for (int i = 0; i < rank; i++)
        out->dims[i + 1] = o->target_shape[i];
    if (infer >= 0 && known > 0 && size % known == 0)
        out->dims[infer + 1] = size / known;
    if (rank == 0 || infer == -2 || (infer >= 0 ? (known == 0 || size % known) : known != size))
        return kcl__fail(ctx, KCL_ERR_SHAPE, "Reshape '%s': cannot reshape %s to %s", layer->name,
                         kcl__shape_text(in, a, sizeof a), kcl__shape_text(out, b, sizeof b));
    return KCL_OK;
}

static kcl_status reshape_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                               kcl_tensor **out)
{
    (void)n; (void)training;
    const kcl_reshape_options *o = layer->options;
    int64_t shape[KCL_MAX_RANK];
    int rank = 0;
    shape[rank++] = kcl_tensor_shape(in[0])[0];
    for (int i = 0; i < KCL_MAX_RANK - 1 && o->target_shape[i] != 0; i++)
        shape[rank++] = o->target_shape[i];
    return kcl_reshape(in[0], rank, shape, out);
}

static const kcl_layer_kind reshape_kind = {"Reshape", "reshape", 1, 1, reshape_build,
                                            reshape_call, NULL};

kcl_layer *kcl_layer_reshape_(const kcl_reshape_options *o)
{
    return kcl__layer_new(&reshape_kind, o->name, o->input_shape, o->input_dim, o->not_trainable,
                          o, sizeof *o);
}

/* --------------------------------------------------------------- Dropout -- */

static kcl_status dropout_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                                kcl_shape *out)
{
    (void)n;
    const kcl_dropout_options *o = layer->options;
    if (!(o->rate >= 0.0f && o->rate < 1.0f))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "Dropout '%s': rate %g is outside [0, 1)",
                         layer->name, o->rate);
    *out = *in;
    return KCL_OK;
}

/* Training: x * (u >= rate) / (1 - rate) with u uniform in [0, 1), a fresh u
 * per call; seeded layers draw the same sequence of masks in every run. */
static kcl_status dropout_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                               kcl_tensor **out)
{
    (void)n;
    const kcl_dropout_options *o = layer->options;
    kcl_tensor *x = in[0];
    if (!training || o->rate == 0.0f) {
        *out = kcl__tensor_retain(x);   /* the same tensor: gradients pass unchanged */
        return KCL_OK;
    }
    uint64_t seed = o->seed ? kcl__fnv1a(o->seed, &layer->calls, sizeof layer->calls) | 1 : 0;
    layer->calls++;
    kcl_initializer u_init = kcl_init_random_uniform(.minval = 0.0f, .maxval = 1.0f, .seed = seed);
    kcl_tensor *u = NULL, *keep = NULL, *mask = NULL, *threshold = NULL;
    float rate = o->rate;
    /* Everything stays on the device: no host write inside a training step. */
    kcl_status st = kcl__tensor_new(x->ctx, x->rank, x->shape, &u);
    if (!st) st = kcl_initialize(x->ctx, &u_init, u);
    if (!st) st = kcl__full(x->ctx, 0, NULL, rate, &threshold);
    if (!st) st = kcl_greater_equal(u, threshold, &keep);
    if (!st) st = kcl_scale_shift(keep, 1.0f / (1.0f - rate), 0.0f, &mask);
    if (!st) st = kcl_multiply(x, mask, out);
    kcl_tensor_free(u);
    kcl_tensor_free(keep);
    kcl_tensor_free(mask);
    kcl_tensor_free(threshold);
    return st;
}

static const kcl_layer_kind dropout_kind = {"Dropout", "dropout", 1, 1, dropout_build,
                                            dropout_call, NULL};

kcl_layer *kcl_layer_dropout_(const kcl_dropout_options *o)
{
    return kcl__layer_new(&dropout_kind, o->name, o->input_shape, o->input_dim, o->not_trainable,
                          o, sizeof *o);
}

/* ---------------------------------------------------------- merge layers -- */

/* Keras' merge layers broadcast their inputs' shapes (None matches anything). */
static kcl_status merge_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                              kcl_shape *out)
{
    *out = in[0];
    char a[128], b[128];
    for (int k = 1; k < n; k++) {
        const kcl_shape *s = &in[k];
        int r = out->rank > s->rank ? out->rank : s->rank;
        kcl_shape m = {r, {0}};
        for (int i = 0; i < r; i++) {
            int io = out->rank - r + i, is = s->rank - r + i;
            int64_t d1 = io >= 0 ? out->dims[io] : 1, d2 = is >= 0 ? s->dims[is] : 1;
            if (d1 != d2 && d1 != 1 && d2 != 1 && d1 >= 0 && d2 >= 0)
                return kcl__fail(ctx, KCL_ERR_SHAPE, "%s '%s': inputs %s and %s do not match",
                                 layer->kind->class_name, layer->name,
                                 kcl__shape_text(&in[0], a, sizeof a), kcl__shape_text(s, b, sizeof b));
            m.dims[i] = d1 == 1 ? d2 : (d1 < 0 ? d2 : d1);
        }
        *out = m;
    }
    return KCL_OK;
}

typedef kcl_status (*binary_op)(kcl_tensor *, kcl_tensor *, kcl_tensor **);

/* in[0] op in[1] op ... op in[n-1], left to right. */
static kcl_status fold(binary_op op, int n, kcl_tensor *const *in, kcl_tensor **out)
{
    kcl_tensor *acc;
    kcl_status st = op(in[0], in[1], &acc);
    for (int i = 2; i < n && !st; i++) {
        kcl_tensor *next;
        st = op(acc, in[i], &next);
        kcl_tensor_free(acc);
        acc = st ? NULL : next;
    }
    *out = st ? NULL : acc;
    return st;
}

static kcl_status add_call(kcl_layer *l, int n, kcl_tensor *const *in, bool t, kcl_tensor **out)
{
    (void)l; (void)t;
    return fold(kcl_add, n, in, out);
}

static kcl_status subtract_call(kcl_layer *l, int n, kcl_tensor *const *in, bool t,
                                kcl_tensor **out)
{
    (void)l; (void)t;
    return fold(kcl_subtract, n, in, out);
}

static kcl_status multiply_call(kcl_layer *l, int n, kcl_tensor *const *in, bool t,
                                kcl_tensor **out)
{
    (void)l; (void)t;
    return fold(kcl_multiply, n, in, out);
}

static kcl_status average_call(kcl_layer *l, int n, kcl_tensor *const *in, bool t,
                               kcl_tensor **out)
{
    (void)l; (void)t;
    kcl_tensor *sum;
    kcl_status st = fold(kcl_add, n, in, &sum);
    if (st)
        return st;
    st = kcl_scale_shift(sum, 1.0f / (float)n, 0.0f, out);
    kcl_tensor_free(sum);
    return st;
}

static const kcl_layer_kind add_kind = {"Add", "add", 2, 64, merge_build, add_call, NULL};
static const kcl_layer_kind subtract_kind = {"Subtract", "subtract", 2, 2, merge_build,
                                             subtract_call, NULL};
static const kcl_layer_kind multiply_kind = {"Multiply", "multiply", 2, 64, merge_build,
                                             multiply_call, NULL};
static const kcl_layer_kind average_kind = {"Average", "average", 2, 64, merge_build,
                                            average_call, NULL};

static kcl_status concat_axis(const kcl_layer *layer, int rank, int *axis)
{
    const kcl_merge_options *o = layer->options;
    int a = o->axis == 0 ? -1 : o->axis;
    *axis = a < 0 ? a + rank : a;
    return *axis >= 1 && *axis < rank ? KCL_OK : KCL_ERR_SHAPE;
}

static kcl_status concatenate_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                                    kcl_shape *out)
{
    int axis;
    char a[128], b[128];
    if (concat_axis(layer, in[0].rank, &axis))
        return kcl__fail(ctx, KCL_ERR_SHAPE, "Concatenate '%s': axis %d is invalid for input %s",
                         layer->name, ((const kcl_merge_options *)layer->options)->axis,
                         kcl__shape_text(&in[0], a, sizeof a));
    *out = in[0];
    for (int k = 1; k < n; k++) {
        bool ok = in[k].rank == in[0].rank;
        for (int i = 1; ok && i < in[0].rank; i++)
            ok = i == axis || in[k].dims[i] == in[0].dims[i];
        if (!ok)
            return kcl__fail(ctx, KCL_ERR_SHAPE,
                             "Concatenate '%s': inputs %s and %s differ off axis %d", layer->name,
                             kcl__shape_text(&in[0], a, sizeof a),
                             kcl__shape_text(&in[k], b, sizeof b), axis);
        out->dims[axis] = out->dims[axis] < 0 || in[k].dims[axis] < 0
                              ? -1 : out->dims[axis] + in[k].dims[axis];
    }
    return KCL_OK;
}

static kcl_status concatenate_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool t,
                                   kcl_tensor **out)
{
    (void)t;
    int axis;
    concat_axis(layer, kcl_tensor_rank(in[0]), &axis);
    return kcl_concatenate((size_t)n, in, axis, out);
}

static const kcl_layer_kind concatenate_kind = {"Concatenate", "concatenate", 2, 64,
                                                concatenate_build, concatenate_call, NULL};

#define MERGE_CONSTRUCTOR(NAME)                                                            \
    kcl_layer *kcl_layer_##NAME##_(const kcl_merge_options *o)                             \
    {                                                                                      \
        return kcl__layer_new(&NAME##_kind, o->name, o->input_shape, o->input_dim,         \
                              o->not_trainable, o, sizeof *o);                             \
    }

MERGE_CONSTRUCTOR(add)
MERGE_CONSTRUCTOR(subtract)
MERGE_CONSTRUCTOR(multiply)
MERGE_CONSTRUCTOR(average)
MERGE_CONSTRUCTOR(concatenate)

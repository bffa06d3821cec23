/* ops_reduce.c: reduce_sum, reduce_mean and reduce_max over any set of axes
 * (cl/reduce.cl), and the sum-to-shape that broadcasting's gradient needs. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Mirrors kcl_reduce in cl/reduce.cl. */
typedef struct reduce_desc {
    cl_int kept_rank;
    cl_int reduced_rank;
    cl_long kept_shape[KCL_MAX_RANK];
    cl_long kept_stride[KCL_MAX_RANK];
    cl_long reduced_shape[KCL_MAX_RANK];
    cl_long reduced_stride[KCL_MAX_RANK];
} reduce_desc;

/* Appends an axis to a list, merging it into the previous one when the two
 * are contiguous in memory. */
static void push_axis(cl_int *rank, cl_long *shape, cl_long *stride, int64_t size, int64_t step)
{
    if (size == 1)
        return;
    if (*rank > 0 && stride[*rank - 1] == step * size) {
        shape[*rank - 1] *= size;
        stride[*rank - 1] = step;
        return;
    }
    shape[*rank] = size;
    stride[*rank] = step;
    (*rank)++;
}

static void describe(const kcl_tensor *x, const int64_t *reduced, reduce_desc *d,
                     cl_ulong *n_out, cl_ulong *n_reduced)
{
    int64_t strides[KCL_MAX_RANK], step = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        strides[i] = step;
        step *= x->shape[i];
    }
    memset(d, 0, sizeof *d);
    *n_out = *n_reduced = 1;
    for (int i = 0; i < x->rank; i++) {
        if (reduced[i]) {
            push_axis(&d->reduced_rank, d->reduced_shape, d->reduced_stride, x->shape[i], strides[i]);
            *n_reduced *= (cl_ulong)x->shape[i];
        } else {
            push_axis(&d->kept_rank, d->kept_shape, d->kept_stride, x->shape[i], strides[i]);
            *n_out *= (cl_ulong)x->shape[i];
        }
    }
}

typedef struct reduce_def {
    kcl_op_def op;
    const char *kernel;
    bool mean;
} reduce_def;

/* Splitting a reduction: each part covers at least PART_MIN elements, and
 * outputs times parts reach about PARALLEL_TARGET work-items. Both depend on
 * the shape only, so every device sums in the same order. */
#define PART_MIN 256
#define PARALLEL_TARGET 1024

static cl_ulong parts_for(cl_ulong n_out, cl_ulong n_reduced)
{
    if (n_out >= PARALLEL_TARGET / 2 || n_reduced < 2 * PART_MIN)
        return 1;
    cl_ulong by_size = (n_reduced + PART_MIN - 1) / PART_MIN;
    cl_ulong by_width = (PARALLEL_TARGET + n_out - 1) / n_out;
    return by_size < by_width ? by_size : by_width;
}

static kcl_status launch(kcl_context *ctx, const char *kernel, const kcl_tensor *x,
                         const kcl_tensor *y, const reduce_desc *d, cl_ulong n_out,
                         cl_ulong n_reduced, float scale, cl_ulong parts)
{
    cl_ulong ox = x->offset, oy = y->offset;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(*d),
                      KCL_ARG(n_out), KCL_ARG(n_reduced), KCL_ARG(scale), KCL_ARG(parts)};
    /* An empty input has no buffer; any valid one will do, nothing is read. */
    if (!x->storage->mem)
        args[0] = KCL_MEM(y);
    return kcl__enqueue(ctx, "reduce", kernel, (size_t)(n_out * parts), 9, args);
}

/* attr.v[i] is 1 for a reduced axis; attr.i[0] is keepdims. Few outputs of
 * many elements each: a first launch reduces parts of each into a scratch
 * [n_out, parts], a second reduces those. */
static kcl_status reduce_forward(kcl_context *ctx, const kcl_node *node)
{
    const reduce_def *def = (const reduce_def *)node->def;
    const kcl_tensor *x = node->in[0], *y = node->out;
    reduce_desc d;
    cl_ulong n_out, n_reduced;
    describe(x, node->attr.v, &d, &n_out, &n_reduced);
    float scale = def->mean && n_reduced ? 1.0f / (float)n_reduced : 1.0f;
    if (def->mean && n_reduced == 0)
        scale = NAN;   /* the mean of nothing, as NumPy */
    cl_ulong parts = parts_for(n_out, n_reduced);
    if (parts == 1)
        return launch(ctx, def->kernel, x, y, &d, n_out, n_reduced, scale, 1);
    kcl_tensor *partial;
    int64_t shape[2] = {(int64_t)n_out, (int64_t)parts};
    kcl_status st = kcl__tensor_new(ctx, 2, shape, &partial);
    if (!st)
        st = launch(ctx, def->kernel, x, partial, &d, n_out, n_reduced, 1.0f, parts);
    if (!st) {
        reduce_desc rows = {.kept_rank = 1, .reduced_rank = 1, .kept_shape = {(cl_long)n_out},
                            .kept_stride = {(cl_long)parts}, .reduced_shape = {(cl_long)parts},
                            .reduced_stride = {1}};
        st = launch(ctx, def->kernel, partial, y, &rows, n_out, parts, scale, 1);
    }
    kcl_tensor_free(partial);   /* the in-order queue reads it before any reuse */
    return st;
}

/* The output's shape with reduced axes kept as 1. */
static void keepdims_shape(const kcl_node *node, int64_t *shape)
{
    const kcl_tensor *x = node->in[0];
    for (int i = 0; i < x->rank; i++)
        shape[i] = node->attr.v[i] ? 1 : x->shape[i];
}

/* gy viewed with keepdims and stretched back over the input. */
static kcl_status spread(const kcl_node *node, kcl_tensor *gy, kcl_tensor **out)
{
    const kcl_tensor *x = node->in[0];
    int64_t shape[KCL_MAX_RANK];
    keepdims_shape(node, shape);
    kcl_tensor *kept;
    kcl_status st = kcl_reshape(gy, x->rank, shape, &kept);
    if (st)
        return st;
    st = kcl_broadcast_to(kept, x->rank, x->shape, out);
    kcl_tensor_free(kept);
    return st;
}

static kcl_status sum_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    return spread(node, gy, &g[0]);
}

static kcl_status mean_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                kcl_tensor **g)
{
    (void)ctx;
    const kcl_tensor *x = node->in[0], *y = node->out;
    float count = y->size ? (float)x->size / (float)y->size : 1.0f;
    kcl_tensor *s;
    kcl_status st = spread(node, gy, &s);
    if (st)
        return st;
    st = kcl_scale_shift(s, 1.0f / count, 0.0f, &g[0]);
    kcl_tensor_free(s);
    return st;
}

/* TensorFlow's rule: the gradient is shared equally by the elements that tie
 * for the maximum: gy * (x == max) / count(x == max). */
static kcl_status max_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *x = node->in[0];
    kcl_tensor *ymax = NULL, *mask = NULL, *count = NULL, *share = NULL, *gsp = NULL;
    int64_t shape[KCL_MAX_RANK];
    keepdims_shape(node, shape);
    int axes[KCL_MAX_RANK], n = 0;
    for (int i = 0; i < x->rank; i++)
        if (node->attr.v[i])
            axes[n++] = i;
    kcl_status st = kcl_reshape(node->out, x->rank, shape, &ymax);
    if (!st) st = kcl_equal(x, ymax, &mask);
    if (!st) st = kcl_reduce_sum(mask, (size_t)n, axes, 1, &count);
    if (!st) st = kcl_divide(mask, count, &share);
    if (!st) st = spread(node, gy, &gsp);
    if (!st) st = kcl_multiply(gsp, share, &g[0]);
    kcl_tensor_free(ymax);
    kcl_tensor_free(mask);
    kcl_tensor_free(count);
    kcl_tensor_free(share);
    kcl_tensor_free(gsp);
    return st;
}

static const reduce_def sum_def = {{"reduce_sum", reduce_forward, sum_backward}, "reduce_sum", false};
static const reduce_def mean_def = {{"reduce_mean", reduce_forward, mean_backward}, "reduce_sum", true};
static const reduce_def max_def = {{"reduce_max", reduce_forward, max_backward}, "reduce_max", false};

static kcl_status reduce(const reduce_def *def, kcl_tensor *x, size_t n_axes, const int *axes,
                         int keepdims, kcl_tensor **out)
{
    if (!x || (n_axes && !axes))
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "%s: NULL argument", def->op.name);
    kcl_node node;
    kcl__node_init(&node, &def->op, 1, &x);
    node.attr.i[0] = keepdims != 0;
    for (size_t i = 0; i < n_axes; i++) {
        int a;
        kcl_status st = kcl__axis(x->ctx, def->op.name, axes[i], x->rank, &a);
        if (st)
            return st;
        if (node.attr.v[a])
            return kcl__fail(x->ctx, KCL_ERR_ARGUMENT, "%s: axis %d is listed twice",
                             def->op.name, axes[i]);
        node.attr.v[a] = 1;
    }
    if (n_axes == 0)
        for (int i = 0; i < x->rank; i++)
            node.attr.v[i] = 1;
    int rank = 0;
    int64_t shape[KCL_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        if (!node.attr.v[i])
            shape[rank++] = x->shape[i];
        else if (keepdims)
            shape[rank++] = 1;
    return kcl__op_run(&node, rank, shape, out);
}

kcl_status kcl_reduce_sum(kcl_tensor *x, size_t n_axes, const int *axes, int keepdims,
                          kcl_tensor **out)
{
    return reduce(&sum_def, x, n_axes, axes, keepdims, out);
}

kcl_status kcl_reduce_mean(kcl_tensor *x, size_t n_axes, const int *axes, int keepdims,
                           kcl_tensor **out)
{
    return reduce(&mean_def, x, n_axes, axes, keepdims, out);
}

kcl_status kcl_reduce_max(kcl_tensor *x, size_t n_axes, const int *axes, int keepdims,
                          kcl_tensor **out)
{
    return reduce(&max_def, x, n_axes, axes, keepdims, out);
}

kcl_status kcl__unbroadcast(kcl_tensor *g, int rank, const int64_t *shape, kcl_tensor **out)
{
    int lead = g->rank - rank;
    int axes[KCL_MAX_RANK], n = 0;
    for (int i = 0; i < g->rank; i++)
        if (i < lead || (shape[i - lead] == 1 && g->shape[i] != 1))
            axes[n++] = i;
    if (n == 0 && lead == 0) {
        *out = kcl__tensor_retain(g);   /* shapes agree: the same values serve */
        return KCL_OK;
    }
    kcl_tensor *summed;
    kcl_status st = kcl_reduce_sum(g, (size_t)n, axes, 1, &summed);
    if (st)
        return st;
    st = kcl_reshape(summed, rank, shape, out);
    kcl_tensor_free(summed);
    return st;
}

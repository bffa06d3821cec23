/* ops_index.c: operations that move values between positions (cl/shape.cl):
 * transpose, slice, concatenate (one strided-copy kernel serves all three and
 * the slice gradient), argmax, one_hot, and gather with its scatter-add
 * gradient. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------- strided copy -- */

/* Mirrors kcl_copy in cl/shape.cl. */
typedef struct copy_desc {
    cl_int rank;
    cl_int unused;
    cl_long shape[KCL_MAX_RANK];
    cl_long src_stride[KCL_MAX_RANK];
    cl_long dst_stride[KCL_MAX_RANK];
} copy_desc;

/* Row-major element strides of a dense shape. */
static void dense_strides(int rank, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i];
    }
}

/* Drops axes of size 1 and merges neighbours that both sides step through
 * contiguously, so the kernel decodes as few axes as possible. */
static void collapse(copy_desc *d)
{
    int r = 0;
    for (int i = 0; i < d->rank; i++) {
        if (d->shape[i] == 1)
            continue;
        if (r > 0 && d->src_stride[r - 1] == d->src_stride[i] * d->shape[i] &&
            d->dst_stride[r - 1] == d->dst_stride[i] * d->shape[i]) {
            d->shape[r - 1] *= d->shape[i];
            d->src_stride[r - 1] = d->src_stride[i];
            d->dst_stride[r - 1] = d->dst_stride[i];
            continue;
        }
        d->shape[r] = d->shape[i];
        d->src_stride[r] = d->src_stride[i];
        d->dst_stride[r] = d->dst_stride[i];
        r++;
    }
    d->rank = r;
}

/* Copies src[src_off + ...] to dst[dst_off + ...] as d describes (element
 * offsets into the buffers, the tensors' own offsets included). */
static kcl_status strided_copy(kcl_context *ctx, const kcl_tensor *src, cl_ulong src_off,
                               const kcl_tensor *dst, cl_ulong dst_off, copy_desc *d)
{
    cl_ulong n = 1;
    for (int i = 0; i < d->rank; i++)
        n *= (cl_ulong)d->shape[i];
    if (n == 0)
        return KCL_OK;
    collapse(d);
    kcl_arg args[] = {KCL_MEM(src), KCL_ARG(src_off), KCL_MEM(dst), KCL_ARG(dst_off),
                      KCL_ARG(*d), KCL_ARG(n)};
    return kcl__enqueue(ctx, "shape", "strided_copy", (size_t)n, 6, args);
}

/* A buffer argument for t, or fallback's when t is empty (no buffer): the
 * kernel reads nothing from it then, but the argument must be valid. */
static kcl_arg mem_or(const kcl_tensor *t, const kcl_tensor *fallback)
{
    return t->storage->mem ? KCL_MEM(t) : KCL_MEM(fallback);
}

/* "(1, 0, 1)" for messages. */
static const char *ints_str(int n, const int *v, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ", %d" : "%d", v[i]);
    if (at < size)
        snprintf(buf + at, size - at, ")");
    return buf;
}

/* ------------------------------------------------------------- transpose -- */

/* attr.v holds the permutation: output axis i takes input axis v[i]. */
static kcl_status transpose_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *x = node->in[0], *y = node->out;
    int64_t xs[KCL_MAX_RANK], ys[KCL_MAX_RANK];
    dense_strides(x->rank, x->shape, xs);
    dense_strides(y->rank, y->shape, ys);
    copy_desc d = {.rank = y->rank};
    for (int i = 0; i < y->rank; i++) {
        d.shape[i] = y->shape[i];
        d.src_stride[i] = xs[node->attr.v[i]];
        d.dst_stride[i] = ys[i];
    }
    return strided_copy(ctx, x, x->offset, y, y->offset, &d);
}

static kcl_status transpose_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                     kcl_tensor **g)
{
    (void)ctx;
    int inverse[KCL_MAX_RANK];
    for (int i = 0; i < gy->rank; i++)
        inverse[node->attr.v[i]] = i;
    return kcl_transpose(gy, inverse, &g[0]);
}

static const kcl_op_def transpose_def = {"transpose", transpose_forward, transpose_backward};

/* Normalises perm (negative axes count from the end, as NumPy) into v and
 * checks it names every axis once. */
static kcl_status check_perm(const kcl_tensor *x, const int *perm, int64_t *v)
{
    bool seen[KCL_MAX_RANK] = {false};
    for (int i = 0; i < x->rank; i++) {
        int a = perm[i] < 0 ? perm[i] + x->rank : perm[i];
        if (a < 0 || a >= x->rank || seen[a]) {
            char buf[128];
            return kcl__fail(x->ctx, KCL_ERR_ARGUMENT,
                             "transpose: perm %s is not a permutation of the %d axes of %s",
                             ints_str(x->rank, perm, buf, sizeof buf), x->rank, kcl__shape_of(x));
        }
        seen[a] = true;
        v[i] = a;
    }
    return KCL_OK;
}

kcl_status kcl_transpose(kcl_tensor *x, const int *perm, kcl_tensor **out)
{
    if (!x || !out)
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "transpose: NULL argument");
    kcl_node node;
    kcl__node_init(&node, &transpose_def, 1, &x);
    if (perm) {
        kcl_status st = check_perm(x, perm, node.attr.v);
        if (st)
            return st;
    } else {
        for (int i = 0; i < x->rank; i++)
            node.attr.v[i] = x->rank - 1 - i;
    }
    int64_t shape[KCL_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        shape[i] = x->shape[node.attr.v[i]];
    return kcl__op_run(&node, x->rank, shape, out);
}

/* ----------------------------------------------------------------- slice -- */

/* attr.v is begin, attr.w the resolved size (the output's shape). */
static kcl_status slice_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *x = node->in[0], *y = node->out;
    int64_t xs[KCL_MAX_RANK], ys[KCL_MAX_RANK];
    dense_strides(x->rank, x->shape, xs);
    dense_strides(y->rank, y->shape, ys);
    copy_desc d = {.rank = y->rank};
    cl_ulong from = x->offset;
    for (int i = 0; i < y->rank; i++) {
        d.shape[i] = y->shape[i];
        d.src_stride[i] = xs[i];
        d.dst_stride[i] = ys[i];
        from += (cl_ulong)(node->attr.v[i] * xs[i]);
    }
    return strided_copy(ctx, x, from, y, y->offset, &d);
}

/* The slice's gradient: gy written into the window of a zero tensor of x's
 * shape. An op of its own, so that its gradient (a slice) is recorded too.
 * attr.v is begin; the output's shape is x's. */
static kcl_status pad_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *g = node->in[0], *y = node->out;
    kcl_status st = kcl__tensor_zero(node->out);
    if (st || g->size == 0)
        return st;
    int64_t gs[KCL_MAX_RANK], ys[KCL_MAX_RANK];
    dense_strides(g->rank, g->shape, gs);
    dense_strides(y->rank, y->shape, ys);
    copy_desc d = {.rank = g->rank};
    cl_ulong to = y->offset;
    for (int i = 0; i < g->rank; i++) {
        d.shape[i] = g->shape[i];
        d.src_stride[i] = gs[i];
        d.dst_stride[i] = ys[i];
        to += (cl_ulong)(node->attr.v[i] * ys[i]);
    }
    return strided_copy(ctx, g, g->offset, y, to, &d);
}

static kcl_status pad_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    return kcl_slice(gy, node->attr.v, node->in[0]->shape, &g[0]);
}

static const kcl_op_def pad_def = {"slice_gradient", pad_forward, pad_backward};

/* zeros(shape) with g at begin. */
static kcl_status pad(kcl_tensor *g, const int64_t *begin, const int64_t *shape, kcl_tensor **out)
{
    kcl_node node;
    kcl__node_init(&node, &pad_def, 1, &g);
    memcpy(node.attr.v, begin, (size_t)g->rank * sizeof *begin);
    return kcl__op_run(&node, g->rank, shape, out);
}

static kcl_status slice_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                 kcl_tensor **g)
{
    (void)ctx;
    return pad(gy, node->attr.v, node->in[0]->shape, &g[0]);
}

static const kcl_op_def slice_def = {"slice", slice_forward, slice_backward};

/* Checks begin and size against x and resolves -1 sizes into node->attr. */
static kcl_status check_window(const kcl_tensor *x, const int64_t *begin, const int64_t *size,
                               kcl_op_attr *attr)
{
    for (int i = 0; i < x->rank; i++) {
        int64_t dim = x->shape[i], b = begin[i], s = size[i];
        if (b < 0 || b > dim)
            return kcl__fail(x->ctx, KCL_ERR_SHAPE,
                             "slice: begin %lld on axis %d is outside [0, %lld] for %s",
                             (long long)b, i, (long long)dim, kcl__shape_of(x));
        if (s < -1)
            return kcl__fail(x->ctx, KCL_ERR_ARGUMENT,
                             "slice: size %lld on axis %d is negative (only -1, the rest, is allowed)",
                             (long long)s, i);
        if (s == -1)
            s = dim - b;
        if (s > dim - b)
            return kcl__fail(x->ctx, KCL_ERR_SHAPE,
                             "slice: begin %lld + size %lld on axis %d runs past %lld in %s",
                             (long long)b, (long long)s, i, (long long)dim, kcl__shape_of(x));
        attr->v[i] = b;
        attr->w[i] = s;
    }
    return KCL_OK;
}

kcl_status kcl_slice(kcl_tensor *x, const int64_t *begin, const int64_t *size, kcl_tensor **out)
{
    if (!x || !out || (x->rank > 0 && (!begin || !size)))
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "slice: NULL argument");
    kcl_node node;
    kcl__node_init(&node, &slice_def, 1, &x);
    kcl_status st = check_window(x, begin, size, &node.attr);
    return st ? st : kcl__op_run(&node, x->rank, node.attr.w, out);
}

/* ----------------------------------------------------------- concatenate -- */

/* attr.i[0] is the axis; each input is copied into its window of the output. */
static kcl_status concat_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *y = node->out;
    int axis = node->attr.i[0];
    int64_t ys[KCL_MAX_RANK];
    dense_strides(y->rank, y->shape, ys);
    int64_t at = 0;
    for (int k = 0; k < node->n_in; k++) {
        const kcl_tensor *x = node->in[k];
        int64_t xs[KCL_MAX_RANK];
        dense_strides(x->rank, x->shape, xs);
        copy_desc d = {.rank = x->rank};
        for (int i = 0; i < x->rank; i++) {
            d.shape[i] = x->shape[i];
            d.src_stride[i] = xs[i];
            d.dst_stride[i] = ys[i];
        }
        /* An empty input copies nothing (strided_copy returns at once). */
        cl_ulong to = y->offset + (cl_ulong)(at * ys[axis]);
        kcl_status st = strided_copy(ctx, x, x->offset, y, to, &d);
        if (st)
            return st;
        at += x->shape[axis];
    }
    return KCL_OK;
}

/* Each input's gradient is its window of gy. */
static kcl_status concat_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                  kcl_tensor **g)
{
    (void)ctx;
    int axis = node->attr.i[0];
    int64_t begin[KCL_MAX_RANK] = {0};
    for (int k = 0; k < node->n_in; k++) {
        kcl_status st = kcl_slice(gy, begin, node->in[k]->shape, &g[k]);
        if (st)
            return st;
        begin[axis] += node->in[k]->shape[axis];
    }
    return KCL_OK;
}

static const kcl_op_def concat_def = {"concatenate", concat_forward, concat_backward};

/* Checks the inputs agree except along axis (normalised into *axis) and
 * computes the output shape. */
static kcl_status concat_shape(size_t n, kcl_tensor *const *xs, int *axis, int64_t *shape)
{
    kcl_tensor *first = xs[0];
    if (first->rank == 0)
        return kcl__fail(first->ctx, KCL_ERR_SHAPE, "concatenate: scalars cannot be concatenated");
    kcl_status st = kcl__axis(first->ctx, "concatenate", *axis, first->rank, axis);
    if (st)
        return st;
    memcpy(shape, first->shape, (size_t)first->rank * sizeof *shape);
    shape[*axis] = 0;
    for (size_t k = 0; k < n; k++) {
        const kcl_tensor *x = xs[k];
        bool ok = x->rank == first->rank;
        for (int i = 0; ok && i < x->rank; i++)
            ok = i == *axis || x->shape[i] == first->shape[i];
        if (!ok)
            return kcl__fail(first->ctx, KCL_ERR_SHAPE,
                             "concatenate: input %zu has shape %s, input 0 has %s: all dimensions "
                             "but axis %d must agree", k, kcl__shape_of(x), kcl__shape_of(first),
                             *axis);
        shape[*axis] += x->shape[*axis];
    }
    return KCL_OK;
}

kcl_status kcl_concatenate(size_t n, kcl_tensor *const *xs, int axis, kcl_tensor **out)
{
    kcl_context *ctx = n && xs && xs[0] ? xs[0]->ctx : NULL;
    if (!xs || !out || n == 0 || n > INT_MAX)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "concatenate: needs 1 or more tensors and out");
    for (size_t k = 0; k < n; k++)
        if (!xs[k])
            return kcl__fail(ctx, KCL_ERR_ARGUMENT, "concatenate: tensor %zu is NULL", k);
    int64_t shape[KCL_MAX_RANK];
    kcl_status st = concat_shape(n, xs, &axis, shape);
    if (st)
        return st;
    kcl_node node;
    kcl__node_init(&node, &concat_def, (int)n, xs);
    node.attr.i[0] = axis;
    kcl_tensor **heap = NULL;
    if (n > KCL_NODE_INLINE_INPUTS) {
        /* Only for this call: a tape recording the node copies the list. */
        if (!(heap = malloc(n * sizeof *heap)))
            return kcl__fail(ctx, KCL_ERR_MEMORY, "concatenate: out of host memory");
        memcpy(heap, xs, n * sizeof *heap);
        node.in = heap;
    }
    st = kcl__op_run(&node, xs[0]->rank, shape, out);
    free(heap);
    return st;
}

/* ---------------------------------------------------------------- argmax -- */

/* attr.i[0] is the axis; x is seen as [outer, len, inner]. */
static kcl_status argmax_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *x = node->in[0], *y = node->out;
    int axis = node->attr.i[0];
    cl_ulong len = (cl_ulong)x->shape[axis], inner = 1, n = (cl_ulong)y->size;
    for (int i = axis + 1; i < x->rank; i++)
        inner *= (cl_ulong)x->shape[i];
    cl_ulong ox = x->offset, oy = y->offset;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(len),
                      KCL_ARG(inner), KCL_ARG(n)};
    return kcl__enqueue(ctx, "shape", "argmax", (size_t)n, 7, args);
}

static const kcl_op_def argmax_def = {"argmax", argmax_forward, NULL};

kcl_status kcl_argmax(kcl_tensor *x, int axis, kcl_tensor **out)
{
    if (!x || !out)
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "argmax: NULL argument");
    int a;
    kcl_status st = kcl__axis(x->ctx, "argmax", axis, x->rank, &a);
    if (st)
        return st;
    if (x->shape[a] == 0)   /* NumPy: "attempt to get argmax of an empty sequence" */
        return kcl__fail(x->ctx, KCL_ERR_SHAPE, "argmax: axis %d of %s is empty", axis,
                         kcl__shape_of(x));
    kcl_node node;
    kcl__node_init(&node, &argmax_def, 1, &x);
    node.attr.i[0] = a;
    int64_t shape[KCL_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (i != a)
            shape[rank++] = x->shape[i];
    return kcl__op_run(&node, rank, shape, out);
}

/* --------------------------------------------------------------- one_hot -- */

/* attr.i[0] is depth. */
static kcl_status one_hot_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *idx = node->in[0], *y = node->out;
    cl_ulong oi = idx->offset, oy = y->offset, depth = (cl_ulong)node->attr.i[0];
    cl_ulong n = (cl_ulong)y->size;
    kcl_arg args[] = {KCL_MEM(idx), KCL_ARG(oi), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(depth),
                      KCL_ARG(n)};
    return kcl__enqueue(ctx, "shape", "one_hot", (size_t)n, 6, args);
}

static const kcl_op_def one_hot_def = {"one_hot", one_hot_forward, NULL};

kcl_status kcl_one_hot(kcl_tensor *indices, int depth, kcl_tensor **out)
{
    if (!indices || !out)
        return kcl__fail(indices ? indices->ctx : NULL, KCL_ERR_ARGUMENT,
                         "one_hot: NULL argument");
    if (depth <= 0)
        return kcl__fail(indices->ctx, KCL_ERR_ARGUMENT, "one_hot: depth %d is not positive",
                         depth);
    if (indices->rank >= KCL_MAX_RANK)
        return kcl__fail(indices->ctx, KCL_ERR_SHAPE,
                         "one_hot: indices %s leave no room for the depth axis (rank <= %d)",
                         kcl__shape_of(indices), KCL_MAX_RANK);
    kcl_node node;
    kcl__node_init(&node, &one_hot_def, 1, &indices);
    node.attr.i[0] = depth;
    int64_t shape[KCL_MAX_RANK];
    memcpy(shape, indices->shape, (size_t)indices->rank * sizeof *shape);
    shape[indices->rank] = depth;
    return kcl__op_run(&node, indices->rank + 1, shape, out);
}

/* ---------------------------------------------------------------- gather -- */

/* Out-of-range indices: kcl_gather writes NaN rows for them (attr.f[0]); the
 * kernel never clamps and never reads outside params, and nothing waits for
 * the device to report the error. The gradient's own gather (attr.f[0] = 0)
 * writes zeros there, matching the scatter-add, which drops such rows. */
static kcl_status gather_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *p = node->in[0], *idx = node->in[1], *y = node->out;
    cl_ulong op = p->offset, oi = idx->offset, oy = y->offset, n = (cl_ulong)y->size;
    cl_ulong rows = (cl_ulong)p->shape[0], row_len = n / (cl_ulong)idx->size;
    float fill = node->attr.f[0];
    kcl_arg args[] = {mem_or(p, y), KCL_ARG(op), KCL_MEM(idx), KCL_ARG(oi), KCL_MEM(y),
                      KCL_ARG(oy), KCL_ARG(rows), KCL_ARG(row_len), KCL_ARG(fill), KCL_ARG(n)};
    return kcl__enqueue(ctx, "shape", "gather_rows", (size_t)n, 10, args);
}

static kcl_status scatter_add(kcl_tensor *g, kcl_tensor *indices, int rank, const int64_t *shape,
                              kcl_tensor **out);

static kcl_status gather_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                  kcl_tensor **g)
{
    (void)ctx;
    const kcl_tensor *p = node->in[0];
    return scatter_add(gy, node->in[1], p->rank, p->shape, &g[0]);   /* g[1] stays NULL */
}

static const kcl_op_def gather_def = {"gather", gather_forward, gather_backward};

static kcl_status gather(kcl_tensor *params, kcl_tensor *indices, float fill, kcl_tensor **out)
{
    kcl_status st = kcl__same_context("gather", params, indices);
    if (st)
        return st;
    if (!out)
        return kcl__fail(params->ctx, KCL_ERR_ARGUMENT, "gather: NULL argument");
    if (params->rank == 0 || indices->rank + params->rank - 1 > KCL_MAX_RANK)
        return kcl__fail(params->ctx, KCL_ERR_SHAPE,
                         "gather: cannot take rows of %s by indices %s (rank 1 or more; result "
                         "rank at most %d)", kcl__shape_of(params), kcl__shape_of(indices),
                         KCL_MAX_RANK);
    kcl_node node;
    kcl__node_init(&node, &gather_def, 2, (kcl_tensor *[]){params, indices});
    node.attr.f[0] = fill;
    int64_t shape[KCL_MAX_RANK];
    memcpy(shape, indices->shape, (size_t)indices->rank * sizeof *shape);
    memcpy(shape + indices->rank, params->shape + 1, (size_t)(params->rank - 1) * sizeof *shape);
    return kcl__op_run(&node, indices->rank + params->rank - 1, shape, out);
}

kcl_status kcl_gather(kcl_tensor *params, kcl_tensor *indices, kcl_tensor **out)
{
    return gather(params, indices, NAN, out);
}

/* The gradient of gather, an op of its own: rows of g added into zeros of
 * params' shape at the rows indices name. Its gradient is a gather again. */
static kcl_status scatter_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *g = node->in[0], *idx = node->in[1], *y = node->out;
    cl_ulong og = g->offset, oi = idx->offset, oy = y->offset, n = (cl_ulong)y->size;
    cl_ulong n_idx = (cl_ulong)idx->size, rows = (cl_ulong)y->shape[0], row_len = n / rows;
    kcl_arg args[] = {mem_or(g, y), KCL_ARG(og), mem_or(idx, y), KCL_ARG(oi), KCL_MEM(y),
                      KCL_ARG(oy), KCL_ARG(n_idx), KCL_ARG(rows), KCL_ARG(row_len), KCL_ARG(n)};
    return kcl__enqueue(ctx, "shape", "scatter_add_rows", (size_t)n, 10, args);
}

static kcl_status scatter_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                   kcl_tensor **g)
{
    (void)ctx;
    return gather(gy, node->in[1], 0.0f, &g[0]);
}

static const kcl_op_def scatter_def = {"gather_gradient", scatter_forward, scatter_backward};

static kcl_status scatter_add(kcl_tensor *g, kcl_tensor *indices, int rank, const int64_t *shape,
                              kcl_tensor **out)
{
    kcl_node node;
    kcl__node_init(&node, &scatter_def, 2, (kcl_tensor *[]){g, indices});
    return kcl__op_run(&node, rank, shape, out);
}

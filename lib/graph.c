/* graph.c: running an op (check, allocate, enqueue, record on tapes), kernel
 * launch helpers and the shape rules every op family shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tape.h"

void kcl__node_init(kcl_node *node, const kcl_op_def *def, int n_in, kcl_tensor *const *in)
{
    memset(node, 0, sizeof *node);
    node->def = def;
    node->n_in = n_in;
    node->in = node->inline_in;
    for (int i = 0; i < n_in && i < KCL_NODE_INLINE_INPUTS; i++)
        node->inline_in[i] = in[i];
}

static kcl_status check_inputs(const kcl_node *node, kcl_context **ctx)
{
    if (node->n_in < 1 || !node->in[0])
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "%s: NULL tensor argument", node->def->name);
    *ctx = node->in[0]->ctx;
    for (int i = 1; i < node->n_in; i++) {
        if (!node->in[i])
            return kcl__fail(*ctx, KCL_ERR_ARGUMENT, "%s: tensor argument %d is NULL",
                             node->def->name, i + 1);
        if (node->in[i]->ctx != *ctx)
            return kcl__fail(*ctx, KCL_ERR_ARGUMENT,
                             "%s: tensor argument %d belongs to another context",
                             node->def->name, i + 1);
    }
    return KCL_OK;
}

kcl_status kcl__op_run(kcl_node *node, int out_rank, const int64_t *out_shape, kcl_tensor **out)
{
    kcl_context *ctx = NULL;
    kcl_status st = check_inputs(node, &ctx);
    if (!st && !node->out)
        st = kcl__tensor_new(ctx, out_rank, out_shape, &node->out);
    if (!st && node->out->size > 0)
        st = node->def->forward(ctx, node);
    if (!st)
        st = kcl__tape_record(ctx, node);
    /* The tapes took their own references; the caller's node goes away. */
    kcl_tensor_free(node->saved);
    node->saved = NULL;
    if (st) {
        kcl_tensor_free(node->out);
        node->out = NULL;
        return st;
    }
    *out = node->out;
    return KCL_OK;
}

kcl_status kcl__same_context(const char *op, const kcl_tensor *a, const kcl_tensor *b)
{
    if (!a || !b)
        return kcl__fail(a ? a->ctx : b ? b->ctx : NULL, KCL_ERR_ARGUMENT,
                         "%s: NULL tensor argument", op);
    if (a->ctx != b->ctx)
        return kcl__fail(a->ctx, KCL_ERR_ARGUMENT, "%s: tensors of different contexts", op);
    return KCL_OK;
}

kcl_status kcl__broadcast_shape(kcl_context *ctx, const char *op, const kcl_tensor *a,
                                const kcl_tensor *b, int *rank, int64_t *shape)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return kcl__fail(ctx, KCL_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", op,
                             kcl__shape_of(a), kcl__shape_of(b));
        shape[i] = da == 1 ? db : da;
    }
    *rank = r;
    return KCL_OK;
}

kcl_status kcl__axis(kcl_context *ctx, const char *op, int axis, int rank, int *out)
{
    int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return kcl__fail(ctx, KCL_ERR_SHAPE, "%s: axis %d is out of range for rank %d", op, axis,
                         rank);
    *out = a;
    return KCL_OK;
}

kcl_status kcl__set_args(kcl_context *ctx, cl_kernel kernel, const char *name, size_t n,
                         const kcl_arg *args)
{
    for (size_t i = 0; i < n; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return kcl__fail(ctx, KCL_ERR_OPENCL, "clSetKernelArg(%s, %zu) failed: %s", name, i,
                             kcl__cl_error_name(err));
    }
    return KCL_OK;
}

kcl_status kcl__enqueue(kcl_context *ctx, const char *program, const char *kernel, size_t n,
                        size_t nargs, const kcl_arg *args)
{
    if (n == 0)
        return KCL_OK;
    cl_kernel k;
    kcl_status st = kcl__kernel(ctx, program, kernel, &k);
    if (!st)
        st = kcl__set_args(ctx, k, kernel, nargs, args);
    if (st)
        return st;
    char call[128];
    snprintf(call, sizeof call, "clEnqueueNDRangeKernel(%s)", kernel);
    return kcl__launch_1d(ctx, k, n, call);
}

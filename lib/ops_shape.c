/* ops_shape.c: operations that change only the shape (views of the same
 * memory): reshape and flatten. */
#include "internal.h"

static kcl_status view_forward(kcl_context *ctx, const kcl_node *node)
{
    (void)ctx; (void)node;
    return KCL_OK;   /* the output shares the input's memory */
}

static kcl_status reshape_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                   kcl_tensor **g)
{
    (void)ctx;
    return kcl_reshape(gy, node->in[0]->rank, node->in[0]->shape, &g[0]);
}

static const kcl_op_def reshape_def = {"reshape", view_forward, reshape_backward};

/* Resolves one -1 dimension and checks the element count. */
static kcl_status target_shape(kcl_tensor *x, int rank, const int64_t *shape, int64_t *out)
{
    int infer = -1;
    int64_t known = 1;
    char buf[160];
    for (int i = 0; i < rank; i++) {
        out[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0)
            return kcl__fail(x->ctx, KCL_ERR_SHAPE, "reshape: bad target shape %s",
                             kcl__shape_str(rank, shape, buf, sizeof buf));
        known *= shape[i];
    }
    if (infer >= 0) {
        if (known == 0 || x->size % known != 0)
            return kcl__fail(x->ctx, KCL_ERR_SHAPE, "reshape: cannot view %s as %s",
                             kcl__shape_of(x), kcl__shape_str(rank, shape, buf, sizeof buf));
        out[infer] = x->size / known;
        known *= out[infer];
    }
    if (known != x->size)
        return kcl__fail(x->ctx, KCL_ERR_SHAPE,
                         "reshape: cannot view %s (%lld values) as %s (%lld values)",
                         kcl__shape_of(x), (long long)x->size,
                         kcl__shape_str(rank, shape, buf, sizeof buf), (long long)known);
    return KCL_OK;
}

kcl_status kcl_reshape(kcl_tensor *x, int rank, const int64_t *shape, kcl_tensor **out)
{
    if (!x || !out || (rank > 0 && !shape))
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "reshape: NULL argument");
    if (rank < 0 || rank > KCL_MAX_RANK)
        return kcl__fail(x->ctx, KCL_ERR_SHAPE, "reshape: rank %d is outside 0..%d", rank,
                         KCL_MAX_RANK);
    int64_t resolved[KCL_MAX_RANK];
    kcl_status st = target_shape(x, rank, shape, resolved);
    if (st)
        return st;
    kcl_node node;
    kcl__node_init(&node, &reshape_def, 1, &x);
    if ((st = kcl__tensor_view(x, rank, resolved, &node.out)))
        return st;
    return kcl__op_run(&node, rank, resolved, out);
}

kcl_status kcl_flatten(kcl_tensor *x, kcl_tensor **out)
{
    if (!x)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "flatten: NULL argument");
    if (x->rank < 1)
        return kcl__fail(x->ctx, KCL_ERR_SHAPE, "flatten: a scalar has no batch axis");
    int64_t shape[2] = {x->shape[0], 1};
    for (int i = 1; i < x->rank; i++)
        shape[1] *= x->shape[i];
    return kcl_reshape(x, 2, shape, out);
}

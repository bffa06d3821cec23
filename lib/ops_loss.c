/* ops_loss.c: numerically stable fused primitives for the losses
 * (cl/loss.cl): logsumexp and the softmax and sigmoid cross-entropies.
 *
 * Each cross-entropy runs forward in one kernel, and its gradient with
 * respect to the logits in one more: a separate op whose own backward
 * refuses with KCL_ERR_STATE, so second-order gradients of these losses are
 * not supported (an error, never silently wrong). logsumexp's gradient is
 * built from public ops and is differentiable again. */
#include <string.h>

#include "internal.h"

/* An empty tensor has no buffer; a kernel that reads none of it still needs
 * a valid one. */
static kcl_arg mem_or(const kcl_tensor *t, const kcl_tensor *fallback)
{
    return t->storage->mem ? KCL_MEM(t) : KCL_MEM(fallback);
}

static kcl_status no_second_order(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                  kcl_tensor **g)
{
    (void)gy; (void)g;
    return kcl__fail(ctx, KCL_ERR_STATE,
                     "%s: second-order gradients of the fused cross-entropies are not supported",
                     node->def->name);
}

/* ------------------------------------------------------------ logsumexp -- */

/* attr.i[0]: the axis (normalised); attr.i[1]: keepdims. */
static kcl_status logsumexp_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *x = node->in[0], *y = node->out;
    int axis = node->attr.i[0];
    cl_ulong len = (cl_ulong)x->shape[axis], inner = 1;
    for (int i = axis + 1; i < x->rank; i++)
        inner *= (cl_ulong)x->shape[i];
    cl_ulong ox = x->offset, oy = y->offset, n = (cl_ulong)y->size;
    kcl_arg args[] = {mem_or(x, y), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(len),
                      KCL_ARG(inner), KCL_ARG(n)};
    return kcl__enqueue(ctx, "loss", "logsumexp", (size_t)n, 7, args);
}

/* t viewed with the reduced axis kept as 1. */
static kcl_status keep_axis(const kcl_node *node, kcl_tensor *t, kcl_tensor **out)
{
    const kcl_tensor *x = node->in[0];
    int64_t shape[KCL_MAX_RANK];
    memcpy(shape, x->shape, (size_t)x->rank * sizeof *shape);
    shape[node->attr.i[0]] = 1;
    return kcl_reshape(t, x->rank, shape, out);
}

/* d lse / dx = exp(x - lse) = softmax(x) along the axis. */
static kcl_status logsumexp_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                     kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *lse = NULL, *gk = NULL, *d = NULL, *p = NULL;
    kcl_status st = keep_axis(node, node->out, &lse);
    if (!st) st = keep_axis(node, gy, &gk);
    if (!st) st = kcl_subtract(node->in[0], lse, &d);
    if (!st) st = kcl_exp(d, &p);
    if (!st) st = kcl_multiply(p, gk, &g[0]);
    kcl_tensor_free(lse);
    kcl_tensor_free(gk);
    kcl_tensor_free(d);
    kcl_tensor_free(p);
    return st;
}

static const kcl_op_def logsumexp_def = {"logsumexp", logsumexp_forward, logsumexp_backward};

kcl_status kcl_logsumexp(kcl_tensor *x, int axis, int keepdims, kcl_tensor **out)
{
    if (!x || !out)
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "logsumexp: NULL argument");
    int a;
    kcl_status st = kcl__axis(x->ctx, "logsumexp", axis, x->rank, &a);
    if (st)
        return st;
    kcl_node node;
    kcl__node_init(&node, &logsumexp_def, 1, &x);
    node.attr.i[0] = a;
    node.attr.i[1] = keepdims != 0;
    int rank = 0;
    int64_t shape[KCL_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        if (i != a)
            shape[rank++] = x->shape[i];
        else if (keepdims)
            shape[rank++] = 1;
    return kcl__op_run(&node, rank, shape, out);
}

/* ------------------------------------------------------ softmax, dense -- */

/* Rows and classes of logits [..., classes]. */
static void rows_of(const kcl_tensor *logits, cl_ulong *rows, cl_ulong *classes)
{
    *classes = (cl_ulong)logits->shape[logits->rank - 1];
    *rows = 1;
    for (int i = 0; i + 1 < logits->rank; i++)
        *rows *= (cl_ulong)logits->shape[i];
}

/* The row kernels of both softmax losses: (logits, second input, out) forward,
 * with gy before out for the gradient, one work-item per row. */
typedef struct row_def {
    kcl_op_def op;
    const char *kernel;
} row_def;

static kcl_status row_forward(kcl_context *ctx, const kcl_node *node)
{
    const row_def *def = (const row_def *)node->def;
    const kcl_tensor *l = node->in[0], *t = node->in[1], *y = node->out;
    cl_ulong rows, classes, ol = l->offset, ot = t->offset, oy = y->offset;
    rows_of(l, &rows, &classes);
    if (node->n_in == 2) {
        kcl_arg args[] = {mem_or(l, y), KCL_ARG(ol), mem_or(t, y), KCL_ARG(ot), KCL_MEM(y),
                          KCL_ARG(oy), KCL_ARG(classes), KCL_ARG(rows)};
        return kcl__enqueue(ctx, "loss", def->kernel, (size_t)rows, 8, args);
    }
    const kcl_tensor *gy = node->in[2];
    cl_ulong og = gy->offset;
    kcl_arg args[] = {mem_or(l, y), KCL_ARG(ol), mem_or(t, y), KCL_ARG(ot), KCL_MEM(gy),
                      KCL_ARG(og), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(classes), KCL_ARG(rows)};
    return kcl__enqueue(ctx, "loss", def->kernel, (size_t)rows, 10, args);
}

static const row_def softmax_xent_grad_def = {
    {"softmax_cross_entropy_grad", row_forward, no_second_order}, "softmax_xent_grad"};
static const row_def sparse_xent_grad_def = {
    {"sparse_softmax_cross_entropy_grad", row_forward, no_second_order},
    "sparse_softmax_xent_grad"};
/* (logits, gy): the gradient with respect to the target. */
static const row_def softmax_target_grad_def = {
    {"softmax_cross_entropy_target_grad", row_forward, no_second_order},
    "softmax_xent_target_grad"};

/* A gradient op over (logits, other..., gy), of the logits' shape. */
static kcl_status grad_op(const row_def *def, kcl_tensor *const *in, int n_in, kcl_tensor **out)
{
    kcl_node node;
    kcl__node_init(&node, &def->op, n_in, in);
    return kcl__op_run(&node, in[0]->rank, in[0]->shape, out);
}

static kcl_status softmax_xent_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                        kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *l = node->in[0], *t = node->in[1];
    kcl_status st = grad_op(&softmax_xent_grad_def, (kcl_tensor *[]){l, t, gy}, 3, &g[0]);
    /* The target-gradient kernel takes (logits, gy): row_forward's 2-input form
     * with gy in the target's place. */
    return st ? st : grad_op(&softmax_target_grad_def, (kcl_tensor *[]){l, gy}, 2, &g[1]);
}

static kcl_status sparse_xent_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                       kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *in[3] = {node->in[0], node->in[1], gy};
    g[1] = NULL;   /* labels are not differentiable */
    return grad_op(&sparse_xent_grad_def, in, 3, &g[0]);
}

static const row_def softmax_xent_def = {
    {"softmax_cross_entropy", row_forward, softmax_xent_backward}, "softmax_xent"};
static const row_def sparse_xent_def = {
    {"sparse_softmax_cross_entropy", row_forward, sparse_xent_backward}, "sparse_softmax_xent"};

/* Runs a softmax loss: out has the logits' shape without the last axis. */
static kcl_status row_loss(const row_def *def, kcl_tensor *logits, kcl_tensor *other,
                           kcl_tensor **out)
{
    kcl_node node;
    kcl__node_init(&node, &def->op, 2, (kcl_tensor *[]){logits, other});
    return kcl__op_run(&node, logits->rank - 1, logits->shape, out);
}

static bool same_shape(const kcl_tensor *a, const kcl_tensor *b)
{
    return a->rank == b->rank &&
           memcmp(a->shape, b->shape, (size_t)a->rank * sizeof *a->shape) == 0;
}

kcl_status kcl_softmax_cross_entropy(kcl_tensor *logits, kcl_tensor *target, kcl_tensor **out)
{
    const char *op = softmax_xent_def.op.name;
    kcl_status st = kcl__same_context(op, logits, target);
    if (st)
        return st;
    if (!out)
        return kcl__fail(logits->ctx, KCL_ERR_ARGUMENT, "%s: NULL output pointer", op);
    if (logits->rank < 1 || !same_shape(logits, target))
        return kcl__fail(logits->ctx, KCL_ERR_SHAPE,
                         "%s: logits %s and target %s must have one shape of rank >= 1", op,
                         kcl__shape_of(logits), kcl__shape_of(target));
    return row_loss(&softmax_xent_def, logits, target, out);
}

kcl_status kcl_sparse_softmax_cross_entropy(kcl_tensor *logits, kcl_tensor *labels,
                                            kcl_tensor **out)
{
    const char *op = sparse_xent_def.op.name;
    kcl_status st = kcl__same_context(op, logits, labels);
    if (st)
        return st;
    if (!out)
        return kcl__fail(logits->ctx, KCL_ERR_ARGUMENT, "%s: NULL output pointer", op);
    if (logits->rank < 1 || labels->rank != logits->rank - 1 ||
        memcmp(labels->shape, logits->shape, (size_t)labels->rank * sizeof *labels->shape))
        return kcl__fail(logits->ctx, KCL_ERR_SHAPE,
                         "%s: labels %s must have the shape of logits %s without its last axis",
                         op, kcl__shape_of(labels), kcl__shape_of(logits));
    return row_loss(&sparse_xent_def, logits, labels, out);
}

/* ------------------------------------------------------------- sigmoid -- */

static kcl_status sigmoid_xent_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *l = node->in[0], *t = node->in[1], *y = node->out;
    cl_ulong ol = l->offset, ot = t->offset, oy = y->offset, n = (cl_ulong)y->size;
    if (node->n_in == 2) {
        kcl_arg args[] = {KCL_MEM(l), KCL_ARG(ol), KCL_MEM(t), KCL_ARG(ot), KCL_MEM(y),
                          KCL_ARG(oy), KCL_ARG(n)};
        return kcl__enqueue(ctx, "loss", "sigmoid_xent", (size_t)n, 7, args);
    }
    const kcl_tensor *gy = node->in[2];
    cl_ulong og = gy->offset;
    kcl_arg args[] = {KCL_MEM(l), KCL_ARG(ol), KCL_MEM(t), KCL_ARG(ot), KCL_MEM(gy),
                      KCL_ARG(og), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(n)};
    return kcl__enqueue(ctx, "loss", "sigmoid_xent_grad", (size_t)n, 9, args);
}

static const kcl_op_def sigmoid_xent_grad_def = {"sigmoid_cross_entropy_grad",
                                                 sigmoid_xent_forward, no_second_order};

/* d/dx = (sigmoid(x) - z) * gy in one kernel; d/dz = -x * gy with public ops. */
static kcl_status sigmoid_xent_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                        kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *x = node->in[0], *t;
    kcl_node grad;
    kcl__node_init(&grad, &sigmoid_xent_grad_def, 3, (kcl_tensor *[]){x, node->in[1], gy});
    kcl_status st = kcl__op_run(&grad, x->rank, x->shape, &g[0]);
    if (!st && !(st = kcl_multiply(x, gy, &t))) {
        st = kcl_negative(t, &g[1]);
        kcl_tensor_free(t);
    }
    return st;
}

static const kcl_op_def sigmoid_xent_def = {"sigmoid_cross_entropy", sigmoid_xent_forward,
                                            sigmoid_xent_backward};

kcl_status kcl_sigmoid_cross_entropy(kcl_tensor *logits, kcl_tensor *target, kcl_tensor **out)
{
    const char *op = sigmoid_xent_def.name;
    kcl_status st = kcl__same_context(op, logits, target);
    if (st)
        return st;
    if (!out)
        return kcl__fail(logits->ctx, KCL_ERR_ARGUMENT, "%s: NULL output pointer", op);
    if (!same_shape(logits, target))
        return kcl__fail(logits->ctx, KCL_ERR_SHAPE,
                         "%s: logits %s and target %s must have one shape", op,
                         kcl__shape_of(logits), kcl__shape_of(target));
    kcl_node node;
    kcl__node_init(&node, &sigmoid_xent_def, 2, (kcl_tensor *[]){logits, target});
    return kcl__op_run(&node, logits->rank, logits->shape, out);
}

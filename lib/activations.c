/* activations.c: Keras 3's activations by name (kcl_activation), with their
 * gradients (cl/activation.cl).
 *
 * Four kinds of activation:
 *  - elementwise: an op per activation running act_NAME; its backward is an
 *    op running act_NAME_grad, dx = dy * f'(x), in one kernel. That op is
 *    differentiable in dy (it is linear there) but not in x: second-order
 *    gradients of activations through x are not supported (they come out as
 *    zero).
 *  - along an axis (softmax, log_softmax, sparsemax): one work-item per row;
 *    their backward passes are built from public ops, so they differentiate
 *    again.
 *  - glu: its own kernels; the backward op is not differentiable again.
 *  - linear and exponential: a view of x, and kcl_exp.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ----------------------------------------------------------- elementwise -- */

/* The elementwise kernels of cl/activation.cl, as act_NAME and act_NAME_grad. */
#define ELEMENTWISE_ACTIVATIONS(X)                                                  \
    X(relu) X(leaky_relu) X(relu6) X(elu) X(selu) X(celu) X(gelu) X(gelu_tanh)     \
    X(sigmoid) X(hard_sigmoid) X(sparse_sigmoid) X(log_sigmoid) X(tanh)            \
    X(hard_tanh) X(tanh_shrink) X(softplus) X(softsign) X(silu) X(hard_silu)       \
    X(mish) X(soft_shrink) X(hard_shrink) X(sparse_plus) X(squareplus) X(threshold)

typedef enum elementwise_kind {
#define KIND_(name) EW_##name,
    ELEMENTWISE_ACTIVATIONS(KIND_)
#undef KIND_
    EW_COUNT_
} elementwise_kind;

/* An elementwise activation: its op, the op of its derivative, its kernel.
 * Both nodes keep the kind in attr.i[0] and the kernel's scalars in attr.f. */
typedef struct elementwise_def {
    kcl_op_def op;
    kcl_op_def grad;
    const char *kernel;
} elementwise_def;

static kcl_status elementwise_forward(kcl_context *ctx, const kcl_node *node);
static kcl_status elementwise_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                       kcl_tensor **g);
static kcl_status grad_forward(kcl_context *ctx, const kcl_node *node);
static kcl_status grad_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                kcl_tensor **g);

static const elementwise_def elementwise_defs[EW_COUNT_] = {
#define DEF_(name)                                                                  \
    [EW_##name] = {{#name, elementwise_forward, elementwise_backward},              \
                   {#name "_grad", grad_forward, grad_backward}, "act_" #name},
    ELEMENTWISE_ACTIVATIONS(DEF_)
#undef DEF_
};

static kcl_status elementwise_forward(kcl_context *ctx, const kcl_node *node)
{
    const elementwise_def *def = &elementwise_defs[node->attr.i[0]];
    const kcl_tensor *x = node->in[0], *y = node->out;
    cl_ulong ox = x->offset, oy = y->offset, n = (cl_ulong)y->size;
    const float *f = node->attr.f;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(f[0]),
                      KCL_ARG(f[1]), KCL_ARG(f[2]), KCL_ARG(f[3]), KCL_ARG(n)};
    return kcl__enqueue(ctx, "activation", def->kernel, (size_t)n, 9, args);
}

/* dx = dy * f'(x) as an op of (x, dy), with the activation's attributes. */
static kcl_status derivative(const kcl_node *node, kcl_tensor *x, kcl_tensor *dy,
                             kcl_tensor **dx)
{
    kcl_node grad;
    kcl__node_init(&grad, &elementwise_defs[node->attr.i[0]].grad, 2, (kcl_tensor *[]){x, dy});
    grad.attr = node->attr;
    return kcl__op_run(&grad, x->rank, x->shape, dx);
}

static kcl_status elementwise_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                       kcl_tensor **g)
{
    (void)ctx;
    return derivative(node, node->in[0], gy, &g[0]);
}

static kcl_status grad_forward(kcl_context *ctx, const kcl_node *node)
{
    char name[64];
    snprintf(name, sizeof name, "%s_grad", elementwise_defs[node->attr.i[0]].kernel);
    const kcl_tensor *x = node->in[0], *dy = node->in[1], *dx = node->out;
    cl_ulong ox = x->offset, ody = dy->offset, odx = dx->offset, n = (cl_ulong)dx->size;
    const float *f = node->attr.f;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(dy), KCL_ARG(ody), KCL_MEM(dx),
                      KCL_ARG(odx), KCL_ARG(f[0]), KCL_ARG(f[1]), KCL_ARG(f[2]),
                      KCL_ARG(f[3]), KCL_ARG(n)};
    return kcl__enqueue(ctx, "activation", name, (size_t)n, 11, args);
}

/* dx = dy * f'(x) is linear in dy: its gradient there is gy * f'(x), the same
 * op again. Through x it would need f'': not supported (NULL). */
static kcl_status grad_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                kcl_tensor **g)
{
    (void)ctx;
    return derivative(node, node->in[0], gy, &g[1]);
}

/* Keras' relu as the relu kernel's scalars: negative_slope, max_value (+inf
 * for none), threshold, and the derivative at a tie. Keras computes relu with
 * different TensorFlow ops depending on the arguments, and their gradients
 * differ at the ties: with a max_value, x == max_value passes clip_by_value's
 * gradient (1) except on the relu6 path (max_value 6, threshold 0: 0); with
 * none, x == threshold gives leaky_relu's negative_slope when the threshold
 * is 0 and 0 otherwise (x * (x > threshold)). */
static void relu_scalars(const kcl_activation_args *a, float *f)
{
    bool has_max = a->max_value != 0.0f;
    f[0] = a->negative_slope;
    f[1] = has_max ? a->max_value : INFINITY;
    f[2] = a->threshold;
    if (has_max)
        f[3] = (a->max_value == 6.0f && a->threshold == 0.0f) ? 0.0f : 1.0f;
    else
        f[3] = a->threshold == 0.0f ? a->negative_slope : 0.0f;
}

static float or_default(float value, float fallback)
{
    return value != 0.0f ? value : fallback;
}

/* Resolves Keras' defaults into the kernel's scalars; returns the kind to run
 * (gelu's tanh form is a kernel of its own). */
static elementwise_kind elementwise_scalars(elementwise_kind kind, const kcl_activation_args *a,
                                            float *f)
{
    switch (kind) {
    case EW_relu:
        relu_scalars(a, f);
        break;
    case EW_leaky_relu:
        f[0] = or_default(a->negative_slope, 0.2f);
        break;
    case EW_elu:
    case EW_celu:
        f[0] = or_default(a->alpha, 1.0f);
        break;
    case EW_gelu:
        return a->approximate ? EW_gelu_tanh : EW_gelu;
    case EW_soft_shrink:
    case EW_hard_shrink:
        f[0] = or_default(a->threshold, 0.5f);
        break;
    case EW_squareplus:
        f[0] = or_default(a->b, 4.0f);
        break;
    case EW_threshold:
        f[0] = a->threshold;
        f[1] = a->default_value;
        break;
    default:
        break;
    }
    return kind;
}

static kcl_status elementwise(kcl_tensor *x, elementwise_kind kind, const kcl_activation_args *a,
                              kcl_tensor **out)
{
    float f[4] = {0};
    kind = elementwise_scalars(kind, a, f);
    kcl_node node;
    kcl__node_init(&node, &elementwise_defs[kind].op, 1, &x);
    node.attr.i[0] = (int)kind;
    memcpy(node.attr.f, f, sizeof f);
    return kcl__op_run(&node, x->rank, x->shape, out);
}

/* --------------------------------------------------------- along an axis -- */

/* attr.i[0] is the axis, from 0. */
typedef struct axis_def {
    kcl_op_def op;
    const char *kernel;
} axis_def;

/* The tensor as [outer, len, inner] around axis. */
static void split_at(const kcl_tensor *x, int axis, cl_ulong *outer, cl_ulong *len,
                     cl_ulong *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= (cl_ulong)x->shape[i];
    for (int i = axis + 1; i < x->rank; i++)
        *inner *= (cl_ulong)x->shape[i];
    *len = (cl_ulong)x->shape[axis];
}

static kcl_status axis_forward(kcl_context *ctx, const kcl_node *node)
{
    const axis_def *def = (const axis_def *)node->def;
    const kcl_tensor *x = node->in[0], *y = node->out;
    cl_ulong ox = x->offset, oy = y->offset, outer, len, inner;
    split_at(x, node->attr.i[0], &outer, &len, &inner);
    cl_ulong rows = outer * inner;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(rows),
                      KCL_ARG(len), KCL_ARG(inner)};
    return kcl__enqueue(ctx, "activation", def->kernel, (size_t)rows, 7, args);
}

/* softmax: dx = y * (dy - sum(dy * y, axis)). */
static kcl_status softmax_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                   kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *y = node->out, *prod = NULL, *sum = NULL, *diff = NULL;
    int axis = node->attr.i[0];
    kcl_status st = kcl_multiply(gy, y, &prod);
    if (!st) st = kcl_reduce_sum(prod, 1, &axis, 1, &sum);
    if (!st) st = kcl_subtract(gy, sum, &diff);
    if (!st) st = kcl_multiply(diff, y, &g[0]);
    kcl_tensor_free(prod);
    kcl_tensor_free(sum);
    kcl_tensor_free(diff);
    return st;
}

/* log_softmax: dx = dy - exp(y) * sum(dy, axis). */
static kcl_status log_softmax_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                       kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *p = NULL, *sum = NULL, *prod = NULL;
    int axis = node->attr.i[0];
    kcl_status st = kcl_exp(node->out, &p);
    if (!st) st = kcl_reduce_sum(gy, 1, &axis, 1, &sum);
    if (!st) st = kcl_multiply(p, sum, &prod);
    if (!st) st = kcl_subtract(gy, prod, &g[0]);
    kcl_tensor_free(p);
    kcl_tensor_free(sum);
    kcl_tensor_free(prod);
    return st;
}

/* sparsemax: on the support (y > 0) dx = dy - mean(dy over the support),
 * 0 elsewhere: dx = s * (dy - sum(dy * s) / sum(s)) with s the 0/1 mask. */
static kcl_status sparsemax_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                     kcl_tensor **g)
{
    kcl_tensor *zero = NULL, *s = NULL, *ds = NULL, *sum = NULL, *count = NULL, *mean = NULL,
               *diff = NULL;
    int axis = node->attr.i[0];
    kcl_status st = kcl__full(ctx, 0, NULL, 0.0f, &zero);
    if (!st) st = kcl_greater(node->out, zero, &s);
    if (!st) st = kcl_multiply(gy, s, &ds);
    if (!st) st = kcl_reduce_sum(ds, 1, &axis, 1, &sum);
    if (!st) st = kcl_reduce_sum(s, 1, &axis, 1, &count);
    if (!st) st = kcl_divide(sum, count, &mean);
    if (!st) st = kcl_subtract(gy, mean, &diff);
    if (!st) st = kcl_multiply(diff, s, &g[0]);
    kcl_tensor *temps[] = {zero, s, ds, sum, count, mean, diff};
    for (size_t i = 0; i < sizeof temps / sizeof *temps; i++)
        kcl_tensor_free(temps[i]);
    return st;
}

enum { AXIS_SOFTMAX, AXIS_LOG_SOFTMAX, AXIS_SPARSEMAX, AXIS_COUNT_ };

static const axis_def axis_defs[AXIS_COUNT_] = {
    [AXIS_SOFTMAX] = {{"softmax", axis_forward, softmax_backward}, "act_softmax"},
    [AXIS_LOG_SOFTMAX] = {{"log_softmax", axis_forward, log_softmax_backward},
                          "act_log_softmax"},
    [AXIS_SPARSEMAX] = {{"sparsemax", axis_forward, sparsemax_backward}, "act_sparsemax"},
};

/* Keras' axis argument: 0 stands for its default, -1. */
static kcl_status resolve_axis(const kcl_tensor *x, const char *op, int axis, int *out)
{
    return kcl__axis(x->ctx, op, axis == 0 ? -1 : axis, x->rank, out);
}

static kcl_status along_axis(kcl_tensor *x, const axis_def *def, int axis, kcl_tensor **out)
{
    kcl_node node;
    kcl__node_init(&node, &def->op, 1, &x);
    kcl_status st = resolve_axis(x, def->op.name, axis, &node.attr.i[0]);
    return st ? st : kcl__op_run(&node, x->rank, x->shape, out);
}

/* ------------------------------------------------------------------- glu -- */

/* attr.i[0] is the axis, from 0; the halves of x along it are a and b. */
static kcl_status glu_enqueue(kcl_context *ctx, const kcl_node *node, const char *kernel,
                              const kcl_tensor *dy)
{
    const kcl_tensor *x = node->in[0], *y = node->out;
    cl_ulong ox = x->offset, oy = y->offset, outer, len, inner, n = (cl_ulong)y->size;
    split_at(x, node->attr.i[0], &outer, &len, &inner);
    cl_ulong half = len / 2;
    if (!dy) {
        kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(half),
                          KCL_ARG(inner), KCL_ARG(n)};
        return kcl__enqueue(ctx, "activation", kernel, (size_t)n, 7, args);
    }
    cl_ulong ody = dy->offset;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(dy), KCL_ARG(ody), KCL_MEM(y),
                      KCL_ARG(oy), KCL_ARG(half), KCL_ARG(inner), KCL_ARG(n)};
    return kcl__enqueue(ctx, "activation", kernel, (size_t)n, 9, args);
}

static kcl_status glu_forward(kcl_context *ctx, const kcl_node *node)
{
    return glu_enqueue(ctx, node, "act_glu", NULL);
}

/* in[0] is x, in[1] is dy; the output has x's shape. */
static kcl_status glu_grad_forward(kcl_context *ctx, const kcl_node *node)
{
    return glu_enqueue(ctx, node, "act_glu_grad", node->in[1]);
}

/* Not differentiable again: second-order gradients of glu are not supported. */
static const kcl_op_def glu_grad_def = {"glu_grad", glu_grad_forward, NULL};

static kcl_status glu_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *x = node->in[0];
    kcl_node grad;
    kcl__node_init(&grad, &glu_grad_def, 2, (kcl_tensor *[]){x, gy});
    grad.attr = node->attr;
    return kcl__op_run(&grad, x->rank, x->shape, &g[0]);
}

static const kcl_op_def glu_def = {"glu", glu_forward, glu_backward};

static kcl_status glu(kcl_tensor *x, int axis, kcl_tensor **out)
{
    kcl_node node;
    kcl__node_init(&node, &glu_def, 1, &x);
    int a;
    kcl_status st = resolve_axis(x, "glu", axis, &a);
    if (st)
        return st;
    if (x->shape[a] % 2 != 0)
        return kcl__fail(x->ctx, KCL_ERR_SHAPE,
                         "glu: axis %d of %s has odd size %lld; it must split in two halves",
                         axis == 0 ? -1 : axis, kcl__shape_of(x), (long long)x->shape[a]);
    node.attr.i[0] = a;
    int64_t shape[KCL_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    shape[a] /= 2;
    return kcl__op_run(&node, x->rank, shape, out);
}

/* ----------------------------------------------------------------- names -- */

typedef enum act_family {
    FAMILY_ELEMENTWISE,
    FAMILY_AXIS,
    FAMILY_GLU,
    FAMILY_LINEAR,
    FAMILY_EXPONENTIAL
} act_family;

typedef struct act_name {
    const char *name;            /* Keras' string */
    act_family family;
    int index;                   /* elementwise_kind or AXIS_* */
} act_name;

static const act_name act_names[] = {
    {"relu", FAMILY_ELEMENTWISE, EW_relu},
    {"leaky_relu", FAMILY_ELEMENTWISE, EW_leaky_relu},
    {"relu6", FAMILY_ELEMENTWISE, EW_relu6},
    {"elu", FAMILY_ELEMENTWISE, EW_elu},
    {"selu", FAMILY_ELEMENTWISE, EW_selu},
    {"celu", FAMILY_ELEMENTWISE, EW_celu},
    {"gelu", FAMILY_ELEMENTWISE, EW_gelu},
    {"sigmoid", FAMILY_ELEMENTWISE, EW_sigmoid},
    {"hard_sigmoid", FAMILY_ELEMENTWISE, EW_hard_sigmoid},
    {"sparse_sigmoid", FAMILY_ELEMENTWISE, EW_sparse_sigmoid},
    {"log_sigmoid", FAMILY_ELEMENTWISE, EW_log_sigmoid},
    {"tanh", FAMILY_ELEMENTWISE, EW_tanh},
    {"hard_tanh", FAMILY_ELEMENTWISE, EW_hard_tanh},
    {"tanh_shrink", FAMILY_ELEMENTWISE, EW_tanh_shrink},
    {"softmax", FAMILY_AXIS, AXIS_SOFTMAX},
    {"log_softmax", FAMILY_AXIS, AXIS_LOG_SOFTMAX},
    {"softplus", FAMILY_ELEMENTWISE, EW_softplus},
    {"softsign", FAMILY_ELEMENTWISE, EW_softsign},
    {"silu", FAMILY_ELEMENTWISE, EW_silu},
    {"swish", FAMILY_ELEMENTWISE, EW_silu},
    {"hard_silu", FAMILY_ELEMENTWISE, EW_hard_silu},
    {"hard_swish", FAMILY_ELEMENTWISE, EW_hard_silu},
    {"mish", FAMILY_ELEMENTWISE, EW_mish},
    {"exponential", FAMILY_EXPONENTIAL, 0},
    {"linear", FAMILY_LINEAR, 0},
    {"glu", FAMILY_GLU, 0},
    {"soft_shrink", FAMILY_ELEMENTWISE, EW_soft_shrink},
    {"hard_shrink", FAMILY_ELEMENTWISE, EW_hard_shrink},
    {"sparse_plus", FAMILY_ELEMENTWISE, EW_sparse_plus},
    {"squareplus", FAMILY_ELEMENTWISE, EW_squareplus},
    {"threshold", FAMILY_ELEMENTWISE, EW_threshold},
    {"sparsemax", FAMILY_AXIS, AXIS_SPARSEMAX},
};

#define ACT_NAME_COUNT (sizeof act_names / sizeof *act_names)

static kcl_status unknown_name(kcl_context *ctx, const char *name)
{
    char list[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < ACT_NAME_COUNT && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 act_names[i].name);
    return kcl__fail(ctx, KCL_ERR_NAME, "activation: unknown name \"%s\"; valid names: %s",
                     name, list);
}

static const act_name *find_activation(const char *name)
{
    for (size_t i = 0; name && i < ACT_NAME_COUNT; i++)
        if (strcmp(name, act_names[i].name) == 0)
            return &act_names[i];
    return NULL;
}

kcl_status kcl__activation_check(kcl_context *ctx, const char *name)
{
    return !name || find_activation(name) ? KCL_OK : unknown_name(ctx, name);
}

/* ------------------------------------------------------------------ logits -- */

/* Records x as the logits of a softmax over the last axis or of a sigmoid
 * (Keras' _keras_logits), once the activation st has made *out. */
static kcl_status keep_logits(kcl_tensor *x, const act_name *a, const kcl_activation_args *args,
                              kcl_status st, kcl_tensor **out)
{
    if (st)
        return st;
    int kind = KCL__LOGITS_NONE;
    if (a->family == FAMILY_AXIS && a->index == AXIS_SOFTMAX &&
        (args->axis == 0 || args->axis == -1 || args->axis == x->rank - 1))
        kind = KCL__LOGITS_SOFTMAX;
    else if (a->family == FAMILY_ELEMENTWISE && a->index == EW_sigmoid)
        kind = KCL__LOGITS_SIGMOID;
    if (kind != KCL__LOGITS_NONE && x->rank > 0) {
        (*out)->logits = kcl__tensor_retain(x);
        (*out)->logits_of = kind;
    }
    return KCL_OK;
}

kcl_status kcl_activation(kcl_tensor *x, const char *name, const kcl_activation_args *args,
                          kcl_tensor **out)
{
    if (!x || !name || !out)
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "activation: NULL argument");
    static const kcl_activation_args defaults;
    if (!args)
        args = &defaults;
    const act_name *a = find_activation(name);
    if (a) {
        switch (a->family) {
        case FAMILY_ELEMENTWISE:
            return keep_logits(x, a, args, elementwise(x, (elementwise_kind)a->index, args, out),
                               out);
        case FAMILY_AXIS:
            return keep_logits(x, a, args, along_axis(x, &axis_defs[a->index], args->axis, out),
                               out);
        case FAMILY_GLU:
            return glu(x, args->axis, out);
        case FAMILY_LINEAR:
            return kcl_reshape(x, x->rank, x->shape, out);   /* Keras returns x itself */
        case FAMILY_EXPONENTIAL:
            return kcl_exp(x, out);
        }
    }
    return unknown_name(x->ctx, name);
}

/* ------------------------------------------------ fused bias + activation -- */

/* Dense's y = f(x + b) in one kernel (bias_act_NAME); its gradient
 * dz = dy * f'(x + b) and db = dz summed over rows in one more.
 * Only elementwise activations fuse; others run bias_add then the activation.
 * Not differentiable a second time (as the elementwise activations). */

/* Mirrors BIAS_BLOCK in cl/activation.cl. */
static size_t bias_block(const kcl_context *ctx)
{
    return ctx->vector_loops ? 16 : 1;
}

static kcl_status bias_act_forward(kcl_context *ctx, const kcl_node *node)
{
    const elementwise_def *def = &elementwise_defs[node->attr.i[0]];
    const kcl_tensor *x = node->in[0], *b = node->in[1], *y = node->out;
    char kernel[64];
    snprintf(kernel, sizeof kernel, "bias_%s", def->kernel);
    cl_ulong ox = x->offset, ob = b->offset, oy = y->offset, n = (cl_ulong)y->size;
    cl_ulong c = (cl_ulong)b->size;
    const float *f = node->attr.f;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(b), KCL_ARG(ob), KCL_MEM(y),
                      KCL_ARG(oy), KCL_ARG(c), KCL_ARG(f[0]), KCL_ARG(f[1]), KCL_ARG(f[2]),
                      KCL_ARG(f[3]), KCL_ARG(n)};
    /* A work-item per BIAS_BLOCK channels of a row (cl/activation.cl). */
    size_t block = bias_block(ctx);
    size_t items = c == 0 ? 0 : (size_t)(n / c) * (size_t)((c + block - 1) / block);
    return kcl__enqueue(ctx, "activation", kernel, items, 12, args);
}

/* dz = dy * f'(x + b) and db = dz summed over rows, in one kernel. Neither
 * is recorded on a tape: like the elementwise activations' gradients, this
 * one is not differentiable again. */
static kcl_status bias_act_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                    kcl_tensor **g)
{
    const elementwise_def *def = &elementwise_defs[node->attr.i[0]];
    const kcl_tensor *x = node->in[0], *b = node->in[1];
    kcl_tensor *dz = NULL, *db = NULL;
    kcl_status st = kcl__tensor_new(ctx, x->rank, x->shape, &dz);
    if (!st)
        st = kcl__tensor_new(ctx, b->rank, b->shape, &db);
    if (!st) {
        char kernel[64];
        snprintf(kernel, sizeof kernel, "bias_%s_grad_db", def->kernel);
        cl_ulong ox = x->offset, ob = b->offset, ody = gy->offset, odz = dz->offset;
        cl_ulong odb = db->offset, n = (cl_ulong)dz->size, c = (cl_ulong)b->size;
        const float *f = node->attr.f;
        kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(b), KCL_ARG(ob), KCL_MEM(gy),
                          KCL_ARG(ody), KCL_MEM(dz), KCL_ARG(odz), KCL_MEM(db), KCL_ARG(odb),
                          KCL_ARG(c), KCL_ARG(f[0]), KCL_ARG(f[1]), KCL_ARG(f[2]),
                          KCL_ARG(f[3]), KCL_ARG(n)};
        if (n == 0)
            st = kcl__fill(db, 0.0f);   /* no rows: the sum of nothing */
        else
            st = kcl__enqueue(ctx, "activation", kernel,
                              (size_t)(c + bias_block(ctx) - 1) / bias_block(ctx), 16, args);
    }
    if (st) {
        kcl_tensor_free(dz);
        kcl_tensor_free(db);
        return st;
    }
    g[0] = dz;
    g[1] = db;
    return KCL_OK;
}

static const kcl_op_def bias_act_def = {"bias_activation", bias_act_forward, bias_act_backward};

kcl_status kcl__bias_activation(kcl_tensor *x, kcl_tensor *bias, const char *name,
                                const kcl_activation_args *args, kcl_tensor **out)
{
    kcl_status st = kcl__same_context("bias_activation", x, bias);
    if (st)
        return st;
    static const kcl_activation_args defaults;
    const act_name *a = find_activation(name);
    /* sigmoid keeps its logits (x + b) for the loss, so they must exist. */
    bool fusable = a && a->family == FAMILY_ELEMENTWISE && a->index != EW_sigmoid &&
                   x->rank >= 1 && bias->rank == 1 &&
                   bias->size == x->shape[x->rank - 1] && bias->size > 0;
    if (!fusable) {
        kcl_tensor *z;
        if ((st = kcl_bias_add(x, bias, &z)))
            return st;
        if (!name || strcmp(name, "linear") == 0) {
            *out = z;
            return KCL_OK;
        }
        st = kcl_activation(z, name, args, out);
        kcl_tensor_free(z);
        return st;
    }
    float f[4] = {0};
    elementwise_kind kind = elementwise_scalars((elementwise_kind)a->index,
                                                args ? args : &defaults, f);
    kcl_node node;
    kcl__node_init(&node, &bias_act_def, 2, (kcl_tensor *[]){x, bias});
    node.attr.i[0] = (int)kind;
    memcpy(node.attr.f, f, sizeof f);
    return kcl__op_run(&node, x->rank, x->shape, out);
}

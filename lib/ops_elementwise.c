/* ops_elementwise.c: unary and broadcasting binary operations, with their
 * gradients (cl/elementwise.cl). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------------- binary -- */

/* Mirrors kcl_bcast in cl/elementwise.cl. */
typedef struct bcast_desc {
    cl_int rank;
    cl_int unused;
    cl_long shape[KCL_MAX_RANK];
    cl_long stride_a[KCL_MAX_RANK];
    cl_long stride_b[KCL_MAX_RANK];
} bcast_desc;

/* Element strides of t seen from an output of rank r (0 on broadcast axes). */
static void broadcast_strides(const kcl_tensor *t, int r, const int64_t *out_shape,
                              cl_long *strides)
{
    cl_long s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int it = t->rank - r + i;
        int64_t d = it >= 0 ? t->shape[it] : 1;
        strides[i] = (d == 1 && out_shape[i] != 1) ? 0 : s;
        s *= d;
    }
}

/* Merges neighbouring axes that both inputs step through contiguously, so
 * index decoding costs as few divisions as possible. */
static void collapse(bcast_desc *d)
{
    int r = 0;
    for (int i = 0; i < d->rank; i++) {
        if (d->shape[i] == 1)
            continue;
        if (r > 0 && d->stride_a[r - 1] == d->stride_a[i] * d->shape[i] &&
            d->stride_b[r - 1] == d->stride_b[i] * d->shape[i]) {
            d->shape[r - 1] *= d->shape[i];
            d->stride_a[r - 1] = d->stride_a[i];
            d->stride_b[r - 1] = d->stride_b[i];
            continue;
        }
        d->shape[r] = d->shape[i];
        d->stride_a[r] = d->stride_a[i];
        d->stride_b[r] = d->stride_b[i];
        r++;
    }
    d->rank = r;
}

static bool same_shape(const kcl_tensor *a, const kcl_tensor *b)
{
    return a->rank == b->rank && memcmp(a->shape, b->shape, (size_t)a->rank * sizeof *a->shape) == 0;
}

static kcl_status binary_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *a = node->in[0], *b = node->in[1], *y = node->out;
    cl_ulong oa = a->offset, ob = b->offset, oy = y->offset, n = (cl_ulong)y->size;
    char name[64];
    const char *op = node->def->name;
    if (same_shape(a, y) && same_shape(b, y)) {
        snprintf(name, sizeof name, "%s_same", op);
        kcl_arg args[] = {KCL_MEM(a), KCL_ARG(oa), KCL_MEM(b), KCL_ARG(ob), KCL_MEM(y),
                          KCL_ARG(oy), KCL_ARG(n)};
        return kcl__enqueue(ctx, "elementwise", name, (size_t)n, 7, args);
    }
    bcast_desc d = {.rank = y->rank};
    for (int i = 0; i < y->rank; i++)
        d.shape[i] = y->shape[i];
    broadcast_strides(a, y->rank, y->shape, d.stride_a);
    broadcast_strides(b, y->rank, y->shape, d.stride_b);
    collapse(&d);
    snprintf(name, sizeof name, "%s_bcast", op);
    kcl_arg args[] = {KCL_MEM(a), KCL_ARG(oa), KCL_MEM(b), KCL_ARG(ob), KCL_MEM(y),
                      KCL_ARG(oy), KCL_ARG(d), KCL_ARG(n)};
    return kcl__enqueue(ctx, "elementwise", name, (size_t)n, 8, args);
}

static kcl_status binary(const kcl_op_def *def, kcl_tensor *a, kcl_tensor *b, kcl_tensor **out)
{
    kcl_status st = kcl__same_context(def->name, a, b);
    if (st)
        return st;
    int rank;
    int64_t shape[KCL_MAX_RANK];
    if ((st = kcl__broadcast_shape(a->ctx, def->name, a, b, &rank, shape)))
        return st;
    kcl_node node;
    kcl__node_init(&node, def, 2, (kcl_tensor *[]){a, b});
    return kcl__op_run(&node, rank, shape, out);
}

/* Gradient of a broadcast input: g summed down to the input's shape. */
static kcl_status to_input(kcl_tensor *g, const kcl_tensor *input, kcl_tensor **out)
{
    kcl_status st = kcl__unbroadcast(g, input->rank, input->shape, out);
    kcl_tensor_free(g);
    return st;
}

static kcl_status add_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    kcl_status st = kcl__unbroadcast(gy, node->in[0]->rank, node->in[0]->shape, &g[0]);
    return st ? st : kcl__unbroadcast(gy, node->in[1]->rank, node->in[1]->shape, &g[1]);
}

static kcl_status subtract_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                    kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *neg;
    kcl_status st = kcl__unbroadcast(gy, node->in[0]->rank, node->in[0]->shape, &g[0]);
    if (!st && !(st = kcl_negative(gy, &neg)))
        st = to_input(neg, node->in[1], &g[1]);
    return st;
}

static kcl_status multiply_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                    kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *t;
    kcl_status st = kcl_multiply(gy, node->in[1], &t);
    if (!st && !(st = to_input(t, node->in[0], &g[0])) && !(st = kcl_multiply(gy, node->in[0], &t)))
        st = to_input(t, node->in[1], &g[1]);
    return st;
}

/* d(a/b) = gy / b and -gy * a / b² = -(gy / b) * (a / b) = -(gy / b) * y. */
static kcl_status divide_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                  kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *q, *t = NULL, *n;
    kcl_status st = kcl_divide(gy, node->in[1], &q);
    if (st)
        return st;
    st = kcl_multiply(q, node->out, &t);
    if (!st)
        st = kcl_negative(t, &n);
    kcl_tensor_free(t);
    if (!st)
        st = to_input(n, node->in[1], &g[1]);
    if (st) {
        kcl_tensor_free(q);
        return st;
    }
    return to_input(q, node->in[0], &g[0]);
}

typedef kcl_status (*compare_fn)(kcl_tensor *, kcl_tensor *, kcl_tensor **);

/* unbroadcast(gy * cmp(a, b)) to the shape of input. */
static kcl_status masked(kcl_tensor *gy, compare_fn cmp, kcl_tensor *a, kcl_tensor *b,
                         const kcl_tensor *input, kcl_tensor **out)
{
    kcl_tensor *mask, *t;
    kcl_status st = cmp(a, b, &mask);
    if (st)
        return st;
    st = kcl_multiply(gy, mask, &t);
    kcl_tensor_free(mask);
    return st ? st : to_input(t, input, out);
}

/* Ties go to the first input, as in TensorFlow. */
static kcl_status maximum_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                   kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *a = node->in[0], *b = node->in[1];
    kcl_status st = masked(gy, kcl_greater_equal, a, b, a, &g[0]);
    return st ? st : masked(gy, kcl_less, a, b, b, &g[1]);
}

static kcl_status minimum_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                   kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *a = node->in[0], *b = node->in[1];
    kcl_status st = masked(gy, kcl_less_equal, a, b, a, &g[0]);
    return st ? st : masked(gy, kcl_greater, a, b, b, &g[1]);
}

#define BINARY_OP(NAME, BACKWARD)                                                  \
    static const kcl_op_def NAME##_def = {#NAME, binary_forward, BACKWARD};        \
    kcl_status kcl_##NAME(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out)          \
    {                                                                              \
        return binary(&NAME##_def, a, b, out);                                     \
    }

BINARY_OP(add, add_backward)
BINARY_OP(subtract, subtract_backward)
BINARY_OP(multiply, multiply_backward)
BINARY_OP(divide, divide_backward)
BINARY_OP(maximum, maximum_backward)
BINARY_OP(minimum, minimum_backward)
BINARY_OP(equal, NULL)
BINARY_OP(not_equal, NULL)
BINARY_OP(greater, NULL)
BINARY_OP(greater_equal, NULL)
BINARY_OP(less, NULL)
BINARY_OP(less_equal, NULL)

/* ----------------------------------------------------------------- unary -- */

/* The kernel of a unary op is named in the def; its scalars are attr.f[0..1]. */
typedef struct unary_def {
    kcl_op_def op;
    const char *kernel;
} unary_def;

static kcl_status unary_forward(kcl_context *ctx, const kcl_node *node)
{
    const unary_def *def = (const unary_def *)node->def;
    const kcl_tensor *x = node->in[0], *y = node->out;
    cl_ulong ox = x->offset, oy = y->offset, n = (cl_ulong)y->size;
    float p = node->attr.f[0], q = node->attr.f[1];
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(p), KCL_ARG(q),
                      KCL_ARG(n)};
    return kcl__enqueue(ctx, "elementwise", def->kernel, (size_t)n, 7, args);
}

static kcl_status unary(const unary_def *def, kcl_tensor *x, float p, float q, kcl_tensor **out)
{
    if (!x)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "%s: NULL tensor argument", def->op.name);
    kcl_node node;
    kcl__node_init(&node, &def->op, 1, &x);
    node.attr.f[0] = p;
    node.attr.f[1] = q;
    return kcl__op_run(&node, x->rank, x->shape, out);
}

static const unary_def sign_def = {{"sign", unary_forward, NULL}, "sign_op"};
static const unary_def inside_def = {{"inside", unary_forward, NULL}, "inside"};

/* gy * f, freeing f. */
static kcl_status times(kcl_tensor *gy, kcl_tensor *f, kcl_tensor **out)
{
    kcl_status st = f ? kcl_multiply(gy, f, out) : KCL_ERR_ARGUMENT;
    kcl_tensor_free(f);
    return st;
}

static kcl_status negative_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                    kcl_tensor **g)
{
    (void)ctx; (void)node;
    return kcl_negative(gy, &g[0]);
}

static kcl_status square_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                  kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *f;
    kcl_status st = kcl_scale_shift(node->in[0], 2.0f, 0.0f, &f);
    return st ? st : times(gy, f, &g[0]);
}

static kcl_status sqrt_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *twice;
    kcl_status st = kcl_scale_shift(node->out, 2.0f, 0.0f, &twice);
    if (st)
        return st;
    st = kcl_divide(gy, twice, &g[0]);
    kcl_tensor_free(twice);
    return st;
}

static kcl_status exp_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    return kcl_multiply(gy, node->out, &g[0]);
}

static kcl_status log_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    return kcl_divide(gy, node->in[0], &g[0]);
}

static kcl_status abs_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                               kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *s;
    kcl_status st = unary(&sign_def, node->in[0], 0, 0, &s);
    return st ? st : times(gy, s, &g[0]);
}

/* d x^p = p x^(p-1). */
static kcl_status power_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                 kcl_tensor **g)
{
    (void)ctx;
    float p = node->attr.f[0];
    kcl_tensor *lower, *f;
    kcl_status st = kcl_power(node->in[0], p - 1.0f, &lower);
    if (st)
        return st;
    st = kcl_scale_shift(lower, p, 0.0f, &f);
    kcl_tensor_free(lower);
    return st ? st : times(gy, f, &g[0]);
}

static kcl_status scale_shift_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                       kcl_tensor **g)
{
    (void)ctx;
    return kcl_scale_shift(gy, node->attr.f[0], 0.0f, &g[0]);
}

/* The gradient passes where min <= x <= max (TensorFlow's clip_by_value). */
static kcl_status clip_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *mask;
    kcl_status st = unary(&inside_def, node->in[0], node->attr.f[0], node->attr.f[1], &mask);
    return st ? st : times(gy, mask, &g[0]);
}

#define UNARY_OP(NAME, KERNEL, BACKWARD)                                            \
    static const unary_def NAME##_def = {{#NAME, unary_forward, BACKWARD}, KERNEL};

UNARY_OP(negative, "negative", negative_backward)
UNARY_OP(square, "square", square_backward)
UNARY_OP(sqrt, "sqrt_op", sqrt_backward)
UNARY_OP(exp, "exp_op", exp_backward)
UNARY_OP(log, "log_op", log_backward)
UNARY_OP(abs, "abs_op", abs_backward)
UNARY_OP(power, "power", power_backward)
UNARY_OP(scale_shift, "scale_shift", scale_shift_backward)
UNARY_OP(clip, "clip", clip_backward)

kcl_status kcl_negative(kcl_tensor *x, kcl_tensor **out) { return unary(&negative_def, x, 0, 0, out); }
kcl_status kcl_square(kcl_tensor *x, kcl_tensor **out) { return unary(&square_def, x, 0, 0, out); }
kcl_status kcl_sqrt(kcl_tensor *x, kcl_tensor **out) { return unary(&sqrt_def, x, 0, 0, out); }
kcl_status kcl_exp(kcl_tensor *x, kcl_tensor **out) { return unary(&exp_def, x, 0, 0, out); }
kcl_status kcl_log(kcl_tensor *x, kcl_tensor **out) { return unary(&log_def, x, 0, 0, out); }
kcl_status kcl_abs(kcl_tensor *x, kcl_tensor **out) { return unary(&abs_def, x, 0, 0, out); }

kcl_status kcl_power(kcl_tensor *x, float exponent, kcl_tensor **out)
{
    return unary(&power_def, x, exponent, 0, out);
}

kcl_status kcl_scale_shift(kcl_tensor *x, float factor, float offset, kcl_tensor **out)
{
    return unary(&scale_shift_def, x, factor, offset, out);
}

kcl_status kcl_clip(kcl_tensor *x, float min_value, float max_value, kcl_tensor **out)
{
    if (x && !(min_value <= max_value))
        return kcl__fail(x->ctx, KCL_ERR_ARGUMENT, "clip: min_value %g is above max_value %g",
                         min_value, max_value);
    return unary(&clip_def, x, min_value, max_value, out);
}

/* ----------------------------------------------------------- broadcast_to -- */

static kcl_status broadcast_to_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *x = node->in[0], *y = node->out;
    bcast_desc d = {.rank = y->rank};
    for (int i = 0; i < y->rank; i++)
        d.shape[i] = y->shape[i];
    broadcast_strides(x, y->rank, y->shape, d.stride_a);
    broadcast_strides(x, y->rank, y->shape, d.stride_b);
    collapse(&d);
    cl_ulong ox = x->offset, oy = y->offset, n = (cl_ulong)y->size;
    kcl_arg args[] = {KCL_MEM(x), KCL_ARG(ox), KCL_MEM(y), KCL_ARG(oy), KCL_ARG(d), KCL_ARG(n)};
    return kcl__enqueue(ctx, "elementwise", "broadcast_copy", (size_t)n, 6, args);
}

static kcl_status broadcast_to_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                        kcl_tensor **g)
{
    (void)ctx;
    return kcl__unbroadcast(gy, node->in[0]->rank, node->in[0]->shape, &g[0]);
}

static const kcl_op_def broadcast_to_def = {"broadcast_to", broadcast_to_forward,
                                            broadcast_to_backward};

kcl_status kcl_broadcast_to(kcl_tensor *x, int rank, const int64_t *shape, kcl_tensor **out)
{
    if (!x || (rank > 0 && !shape) || rank < 0 || rank > KCL_MAX_RANK)
        return kcl__fail(x ? x->ctx : NULL, KCL_ERR_ARGUMENT, "broadcast_to: bad argument");
    bool ok = rank >= x->rank;
    for (int i = 0; ok && i < x->rank; i++) {
        int64_t d = x->shape[x->rank - 1 - i], t = shape[rank - 1 - i];
        ok = d == t || d == 1;
    }
    if (!ok) {
        char buf[160];
        return kcl__fail(x->ctx, KCL_ERR_SHAPE, "broadcast_to: %s does not broadcast to %s",
                         kcl__shape_of(x), kcl__shape_str(rank, shape, buf, sizeof buf));
    }
    kcl_node node;
    kcl__node_init(&node, &broadcast_to_def, 1, &x);
    return kcl__op_run(&node, rank, shape, out);
}

/* ------------------------------------------------------------- in place -- */

kcl_status kcl__full(kcl_context *ctx, int rank, const int64_t *shape, float value,
                     kcl_tensor **out)
{
    kcl_tensor *t;
    kcl_status st = kcl__tensor_new(ctx, rank, shape, &t);
    if (!st && (st = kcl__fill(t, value)) != KCL_OK)
        kcl_tensor_free(t);
    *out = st ? NULL : t;
    return st;
}

kcl_status kcl_sgd_update(kcl_tensor *var, kcl_tensor *grad, float learning_rate)
{
    kcl_status st = kcl__same_context("sgd_update", var, grad);
    if (st)
        return st;
    if (var->size != grad->size)
        return kcl__fail(var->ctx, KCL_ERR_SHAPE, "sgd_update: variable %s and gradient %s differ",
                         kcl__shape_of(var), kcl__shape_of(grad));
    cl_ulong ov = var->offset, og = grad->offset, n = (cl_ulong)var->size;
    float alpha = -learning_rate;
    kcl_arg args[] = {KCL_MEM(var), KCL_ARG(ov), KCL_MEM(grad), KCL_ARG(og), KCL_ARG(alpha),
                      KCL_ARG(n)};
    return kcl__enqueue(var->ctx, "elementwise", "axpy_inplace", (size_t)n, 6, args);
}

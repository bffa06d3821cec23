/* ops_linalg.c: matrix products with NumPy's matmul semantics (through
 * kcl__gemm_run, which picks CLBlast or kcl's own kernel) and bias_add.
 *
 * One op def serves every product: out = op(a) · op(b), where op transposes
 * the last two axes when the node's flag says so (attr.i[0] for a, attr.i[1]
 * for b). kcl_matmul is the case without flags; the gradients are products
 * with flags (dA = G·Bᵀ, dB = Aᵀ·G), so they need no transpose op and are
 * themselves differentiable (higher-order gradients). */
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------ the shapes -- */

/* The dimensions of one product: op(a) is m x k, op(b) is k x n. */
typedef struct mm_dims {
    int ta, tb;
    int64_t m, n, k, kb;
} mm_dims;

static mm_dims dims_of(int ra, const int64_t *sa, int rb, const int64_t *sb, int ta, int tb)
{
    mm_dims d = {.ta = ta, .tb = tb};
    d.m = ta ? sa[ra - 1] : sa[ra - 2];
    d.k = ta ? sa[ra - 2] : sa[ra - 1];
    d.kb = tb ? sb[rb - 1] : sb[rb - 2];
    d.n = tb ? sb[rb - 2] : sb[rb - 1];
    return d;
}

/* The output shape of op(a)·op(b) for operands of rank >= 2 (already
 * promoted); errors name the caller's tensors a and b as the user gave them. */
static kcl_status product_shape(const kcl_tensor *a, const kcl_tensor *b, int ra,
                                const int64_t *sa, int rb, const int64_t *sb, int ta, int tb,
                                int *rank, int64_t *shape)
{
    mm_dims d = dims_of(ra, sa, rb, sb, ta, tb);
    if (d.k != d.kb)
        return kcl__fail(a->ctx, KCL_ERR_SHAPE,
                         "matmul: inner dimensions of %s and %s differ (%lld vs %lld)",
                         kcl__shape_of(a), kcl__shape_of(b), (long long)d.k, (long long)d.kb);
    int r = (ra > rb ? ra : rb);
    for (int i = 0; i < r - 2; i++) {
        int ia = ra - r + i, ib = rb - r + i;
        int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return kcl__fail(a->ctx, KCL_ERR_SHAPE,
                             "matmul: batch dimensions of %s and %s do not broadcast",
                             kcl__shape_of(a), kcl__shape_of(b));
        shape[i] = da == 1 ? db : da;
    }
    shape[r - 2] = d.m;
    shape[r - 1] = d.n;
    *rank = r;
    return KCL_OK;
}

/* ------------------------------------------------------------- the plan -- */

/* The output's batch axes with each operand's element stride along them (0
 * where it broadcasts), axes of 1 dropped and neighbours merged where all
 * three step through memory evenly: a strided-batched call covers the last
 * axis, a host loop the others. */
typedef struct batch_plan {
    int rank;
    int64_t size[KCL_MAX_RANK];
    int64_t stride_a[KCL_MAX_RANK], stride_b[KCL_MAX_RANK], stride_c[KCL_MAX_RANK];
} batch_plan;

/* Stride of t's batch axis seen from output batch axis i of nb, 0 where it broadcasts. */
static int64_t batch_stride(const kcl_tensor *t, int nb, int i)
{
    int it = t->rank - 2 - nb + i;
    if (it < 0 || t->shape[it] == 1)
        return 0;
    int64_t s = 1;
    for (int j = it + 1; j < t->rank; j++)
        s *= t->shape[j];
    return s;
}

static void plan_batches(const kcl_tensor *a, const kcl_tensor *b, const kcl_tensor *c,
                         batch_plan *p)
{
    int nb = c->rank - 2;
    p->rank = 0;
    for (int i = 0; i < nb; i++) {
        int64_t size = c->shape[i];
        if (size == 1)
            continue;
        int64_t sa = batch_stride(a, nb, i), sb = batch_stride(b, nb, i);
        int64_t sc = batch_stride(c, nb, i);
        int r = p->rank;
        if (r > 0 && p->stride_a[r - 1] == sa * size && p->stride_b[r - 1] == sb * size &&
            p->stride_c[r - 1] == sc * size) {
            p->size[r - 1] *= size;
            p->stride_a[r - 1] = sa;
            p->stride_b[r - 1] = sb;
            p->stride_c[r - 1] = sc;
            continue;
        }
        p->size[r] = size;
        p->stride_a[r] = sa;
        p->stride_b[r] = sb;
        p->stride_c[r] = sc;
        p->rank++;
    }
}

/* ---------------------------------------------------------- the kernels -- */

/* One strided batch of products: count of them, operand i of product j at
 * offset[i] + j * stride[i]. */
typedef struct mm_batch {
    mm_dims d;
    cl_mem a, b, c;
    size_t lda, ldb, ldc;
    size_t offset[3];
    int64_t stride[3];
    int64_t count;
} mm_batch;

static kcl_status run_batch(kcl_context *ctx, const mm_batch *g)
{
    kcl_gemm_op op = {.ta = g->d.ta, .tb = g->d.tb, .m = (size_t)g->d.m, .n = (size_t)g->d.n,
                      .k = (size_t)g->d.k, .alpha = 1.0f, .beta = 0.0f, .count = g->count,
                      .mem = {g->a, g->b, g->c}, .ld = {g->lda, g->ldb, g->ldc}};
    for (int i = 0; i < 3; i++) {
        op.offset[i] = g->offset[i];
        op.stride[i] = g->stride[i];
    }
    return kcl__gemm_run(ctx, &op);
}

/* Runs the products of a plan: a strided batch over its last axis for each
 * index of the others. g holds the operands' base offsets on entry. */
static kcl_status run_plan(kcl_context *ctx, mm_batch *g, const batch_plan *p)
{
    size_t base[3] = {g->offset[0], g->offset[1], g->offset[2]};
    int64_t outer = 1;
    for (int i = 0; i + 1 < p->rank; i++)
        outer *= p->size[i];
    if (p->rank > 0) {
        g->count = p->size[p->rank - 1];
        g->stride[0] = p->stride_a[p->rank - 1];
        g->stride[1] = p->stride_b[p->rank - 1];
        g->stride[2] = p->stride_c[p->rank - 1];
    }
    kcl_status st = KCL_OK;
    for (int64_t o = 0; o < outer && !st; o++) {
        int64_t rest = o, off[3] = {0, 0, 0};
        for (int i = p->rank - 2; i >= 0; i--) {
            int64_t q = rest / p->size[i], idx = rest - q * p->size[i];
            off[0] += idx * p->stride_a[i];
            off[1] += idx * p->stride_b[i];
            off[2] += idx * p->stride_c[i];
            rest = q;
        }
        for (int i = 0; i < 3; i++)
            g->offset[i] = base[i] + (size_t)off[i];
        st = run_batch(ctx, g);
    }
    return st;
}

/* attr.i[0], attr.i[1]: transpose flags of a and b. */
static kcl_status matmul_forward(kcl_context *ctx, const kcl_node *node)
{
    const kcl_tensor *a = node->in[0], *b = node->in[1], *c = node->out;
    mm_batch g = {.d = dims_of(a->rank, a->shape, b->rank, b->shape, node->attr.i[0],
                               node->attr.i[1]),
                  .a = a->storage->mem, .b = b->storage->mem, .c = c->storage->mem,
                  .lda = (size_t)a->shape[a->rank - 1], .ldb = (size_t)b->shape[b->rank - 1],
                  .ldc = (size_t)c->shape[c->rank - 1],
                  .offset = {a->offset, b->offset, c->offset}, .count = 1};
    if (g.d.k == 0)
        return kcl__scale(ctx, node->out, 0.0f);   /* sums of nothing; CLBlast refuses k = 0 */
    batch_plan p;
    plan_batches(a, b, c, &p);
    /* Rows of A that follow one another across the batch against one B (a
     * Dense layer on [batch, time, features]): one product of batch * m rows. */
    if (p.rank == 1 && !g.d.ta && p.stride_b[0] == 0 && p.stride_a[0] == g.d.m * g.d.k) {
        g.d.m *= p.size[0];
        p.rank = 0;
    }
    return run_plan(ctx, &g, &p);
}

static kcl_status matmul_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                  kcl_tensor **g);

static const kcl_op_def matmul_def = {"matmul", matmul_forward, matmul_backward};

/* op(a)·op(b) on operands of rank >= 2. */
static kcl_status product(kcl_tensor *a, kcl_tensor *b, int ta, int tb, kcl_tensor **out)
{
    int rank;
    int64_t shape[KCL_MAX_RANK];
    kcl_status st = product_shape(a, b, a->rank, a->shape, b->rank, b->shape, ta, tb, &rank,
                                  shape);
    if (st)
        return st;
    kcl_node node;
    kcl__node_init(&node, &matmul_def, 2, (kcl_tensor *[]){a, b});
    node.attr.i[0] = ta;
    node.attr.i[1] = tb;
    return kcl__op_run(&node, rank, shape, out);
}

/* ------------------------------------------------------------ gradients -- */

/* The gradient of a broadcast operand: g summed over the batch axes it was
 * stretched along; frees g. */
static kcl_status to_input(kcl_tensor *g, const kcl_tensor *input, kcl_tensor **out)
{
    kcl_status st = kcl__unbroadcast(g, input->rank, input->shape, out);
    kcl_tensor_free(g);
    return st;
}

/* t viewed as rows of its last axis: [prod(others), last]. */
static kcl_status as_rows(kcl_tensor *t, kcl_tensor **out)
{
    int64_t shape[2] = {1, t->shape[t->rank - 1]};
    for (int i = 0; i + 1 < t->rank; i++)
        shape[0] *= t->shape[i];
    return kcl_reshape(t, 2, shape, out);
}

/* dB when B is one matrix shared by a whole batch of A (not transposed):
 * the sum over the batch of Aᵢᵀ·Gᵢ is one product of the stacked rows,
 * without a [batch, k, n] intermediate. */
static kcl_status shared_b_grad(const kcl_node *node, kcl_tensor *gy, kcl_tensor **out)
{
    kcl_tensor *a = NULL, *g = NULL;
    kcl_status st = as_rows(node->in[0], &a);
    if (!st)
        st = as_rows(gy, &g);
    if (!st)
        st = node->attr.i[1] ? product(g, a, 1, 0, out) : product(a, g, 1, 0, out);
    kcl_tensor_free(a);
    kcl_tensor_free(g);
    return st;
}

static bool shares_b(const kcl_node *node, const kcl_tensor *gy)
{
    const kcl_tensor *a = node->in[0], *b = node->in[1];
    return b->rank == 2 && a->rank > 2 && !node->attr.i[0] && a->rank == gy->rank &&
           memcmp(a->shape, gy->shape, (size_t)(a->rank - 2) * sizeof *a->shape) == 0;
}

/* With Y = op(A)·op(B): d op(A) = G·op(B)ᵀ and d op(B) = op(A)ᵀ·G, written
 * for A and B themselves with the flags. */
static kcl_status matmul_backward(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                                  kcl_tensor **g)
{
    (void)ctx;
    kcl_tensor *a = node->in[0], *b = node->in[1], *t;
    int ta = node->attr.i[0], tb = node->attr.i[1];
    kcl_status st = KCL_OK;
    /* The gradient of a network's input (data, not a variable) is a whole
     * product nobody reads: skip what the tape says is not needed. */
    if (!(node->skip_grad & 1u)) {
        st = ta ? product(b, gy, tb, 1, &t) : product(gy, b, 0, !tb, &t);
        if (!st)
            st = to_input(t, a, &g[0]);
        if (st)
            return st;
    }
    if (node->skip_grad & 2u)
        return KCL_OK;
    if (shares_b(node, gy))
        return shared_b_grad(node, gy, &g[1]);
    st = tb ? product(gy, a, 1, ta, &t) : product(a, gy, !ta, 0, &t);
    return st ? st : to_input(t, b, &g[1]);
}

/* --------------------------------------------------------------- public -- */

/* NumPy's promotion of rank-1 operands: a [k] is [1, k], b [k] is [k, 1]. */
static void promote(const kcl_tensor *t, bool is_a, int *rank, int64_t *shape)
{
    if (t->rank >= 2) {
        *rank = t->rank;
        memcpy(shape, t->shape, (size_t)t->rank * sizeof *shape);
        return;
    }
    *rank = 2;
    shape[0] = is_a ? 1 : t->shape[0];
    shape[1] = is_a ? t->shape[0] : 1;
}

/* t viewed with the given shape unless it has it already (a new reference). */
static kcl_status view_as(kcl_tensor *t, int rank, const int64_t *shape, kcl_tensor **out)
{
    if (rank == t->rank) {
        *out = kcl__tensor_retain(t);
        return KCL_OK;
    }
    return kcl_reshape(t, rank, shape, out);
}

kcl_status kcl_matmul(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out)
{
    kcl_status st = kcl__same_context("matmul", a, b);
    if (st)
        return st;
    if (!out)
        return kcl__fail(a->ctx, KCL_ERR_ARGUMENT, "matmul: NULL output pointer");
    if (a->rank == 0 || b->rank == 0)
        return kcl__fail(a->ctx, KCL_ERR_SHAPE,
                         "matmul: operands must have rank >= 1, not %s and %s", kcl__shape_of(a),
                         kcl__shape_of(b));
    int ra, rb, rank;
    int64_t sa[KCL_MAX_RANK], sb[KCL_MAX_RANK], shape[KCL_MAX_RANK];
    promote(a, true, &ra, sa);
    promote(b, false, &rb, sb);
    if ((st = product_shape(a, b, ra, sa, rb, sb, 0, 0, &rank, shape)))
        return st;
    if (a->rank >= 2 && b->rank >= 2)
        return product(a, b, 0, 0, out);
    /* Promote with views, multiply, and drop the added axes again; the
     * reshapes are ops, so gradients flow back to the rank-1 operands. */
    kcl_tensor *va = NULL, *vb = NULL, *y = NULL;
    st = view_as(a, ra, sa, &va);
    if (!st)
        st = view_as(b, rb, sb, &vb);
    if (!st)
        st = product(va, vb, 0, 0, &y);
    if (!st) {
        int64_t kept[KCL_MAX_RANK];
        int r = 0;
        for (int i = 0; i < rank; i++) {
            bool added = (a->rank == 1 && i == rank - 2) || (b->rank == 1 && i == rank - 1);
            if (!added)
                kept[r++] = shape[i];
        }
        st = kcl_reshape(y, r, kept, out);
    }
    kcl_tensor_free(va);
    kcl_tensor_free(vb);
    kcl_tensor_free(y);
    return st;
}

kcl_status kcl_bias_add(kcl_tensor *x, kcl_tensor *bias, kcl_tensor **out)
{
    kcl_status st = kcl__same_context("bias_add", x, bias);
    if (st)
        return st;
    if (x->rank < 1 || bias->rank != 1 || bias->shape[0] != x->shape[x->rank - 1])
        return kcl__fail(x->ctx, KCL_ERR_SHAPE,
                         "bias_add: bias of shape %s does not match the last axis of %s",
                         kcl__shape_of(bias), kcl__shape_of(x));
    /* Broadcasting addition is exactly bias_add, and its gradient (gy for x,
     * gy summed over all but the last axis for the bias) is add's. */
    return kcl_add(x, bias, out);
}

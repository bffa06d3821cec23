/* gemm_kcl.c: matrix products with kcl's own kernels (cl/gemm.cl): which
 * kernel, how the work is cut, and the scratch copies of the operands. */
#include <stdio.h>

#include "internal.h"

/* Mirrors kcl_gemm_args in cl/gemm.cl. */
typedef struct kcl_gemm_args {
    cl_uint m, n, k, lda, ldb, ldc, tiles, unused;
    cl_float alpha, beta;
    cl_ulong off[3], stride[3];
} kcl_gemm_args;

/* The kernels' tile: TILE_M (ctx->gemm_rows) rows by 16 columns (TILE_N). */
enum { tile_n = 16 };
/* The kernel copies op(B)'s columns into private memory up to this inner
 * dimension (NARROW_K in cl/gemm.cl), and the host transposes B beyond it. */
enum { narrow_k = 32 };
/* Both operands are packed (gemm_packed) from an inner dimension of 1024
 * and 256x256 outputs: there the direct kernels' steps of p move a row of 4
 * KiB or more through op(B) (or a transposed A), a page per step. Measured
 * on PoCL (AVX-512 EPYC), GFLOP/s direct / packed: 512^3 109-219 / 139-154,
 * 1024^3 139-188 / 165-174, 2048^3 54-88 / 166-187. Smaller products would
 * pay more for the two copies than they gain. */
enum { packed_k = 1024, packed_outputs = 256 * 256 };

/* Row tiles per work-item: as many as keep at least 16 work-items in flight,
 * so that every thread of a CPU device gets several (an item's tiles share
 * its 16 columns of op(B), which stay in cache). */
static cl_uint tiles_per_item(size_t items, size_t row_tiles)
{
    size_t tiles = 1;
    while (tiles < 8 && items * ((row_tiles + 2 * tiles - 1) / (2 * tiles)) >= 16)
        tiles *= 2;
    return (cl_uint)tiles;
}

/* local: the work-group size, NULL for the driver's choice. */
static kcl_status enqueue(kcl_context *ctx, const char *name, size_t nargs, const kcl_arg *args,
                          const size_t global[3], const size_t *local)
{
    cl_kernel kern;
    kcl_status st = kcl__kernel(ctx, "gemm", name, &kern);
    if (!st)
        st = kcl__set_args(ctx, kern, name, nargs, args);
    if (st)
        return st;
    cl_int err = kcl__fault(ctx, KCL_FAULT_ENQUEUE);
    if (!err)
        err = clEnqueueNDRangeKernel(ctx->queue, kern, 3, NULL, global, local, 0, NULL, NULL);
    ctx->queue_stats.kernels += err == CL_SUCCESS;
    return err ? kcl__fail_cl(ctx, err, "clEnqueueNDRangeKernel(gemm)") : KCL_OK;
}

/* The product kernels: one work-item per group on a CPU, where the kernel's
 * vectors are the SIMD lanes; the driver's choice elsewhere. */
static const size_t *item_groups(const kcl_context *ctx)
{
    static const size_t one[3] = {1, 1, 1};
    return ctx->info.type & KCL_DEVICE_CPU ? one : NULL;
}

/* Scratch for a copy of operand i: one matrix of `each` floats per product
 * of the batch, or one for all when the operand is shared (stride 0). */
typedef struct scratch {
    cl_mem mem;
    size_t bytes;
    size_t count;                /* matrices */
} scratch;

static kcl_status scratch_for(kcl_context *ctx, const kcl_gemm_op *g, int i, size_t each,
                              scratch *s)
{
    s->count = g->stride[i] == 0 ? 1 : (size_t)g->count;
    return kcl__pool_alloc(ctx, s->count * each * sizeof(float), &s->mem, &s->bytes);
}

/* Reusable at once: later work on the in-order queue runs after the product. */
static void scratch_release(kcl_context *ctx, scratch *s)
{
    if (s->mem)
        kcl__pool_release(ctx, s->mem, s->bytes);
    s->mem = NULL;
}

/* Sizes of a copy kernel over (x, p < k, matrix): p in work-groups of the
 * context's 1-D size (the kernels check p), so that the driver need not pick
 * a group size that divides k. */
static void copy_launch(const kcl_context *ctx, size_t x, size_t k, size_t count,
                        size_t global[3], size_t local[3])
{
    size_t group = ctx->group_1d;
    local[0] = 1;
    local[1] = group;
    local[2] = 1;
    global[0] = x;
    global[1] = (k + group - 1) / group * group;
    global[2] = count;
}

/* ---------------------------------------------------- direct kernels -- */

/* g with B replaced by op(B) in s (k x n, contiguous). */
static kcl_status transpose_b(kcl_context *ctx, kcl_gemm_op *g, scratch *s)
{
    cl_uint k = (cl_uint)g->k, n = (cl_uint)g->n, ld = (cl_uint)g->ld[1];
    cl_ulong off = g->offset[1], stride = (cl_ulong)g->stride[1];
    kcl_status st = scratch_for(ctx, g, 1, g->k * g->n, s);
    if (st)
        return st;
    kcl_arg args[] = {KCL_ARG(k),      KCL_ARG(n),  KCL_ARG(g->mem[1]), KCL_ARG(off),
                      KCL_ARG(stride), KCL_ARG(ld), KCL_ARG(s->mem)};
    size_t global[3], local[3];
    copy_launch(ctx, (g->n + tile_n - 1) / tile_n, g->k, s->count, global, local);
    st = enqueue(ctx, "gemm_transpose", sizeof args / sizeof *args, args, global, local);
    g->tb = false;
    g->mem[1] = s->mem;
    g->offset[1] = 0;
    g->ld[1] = g->n;
    g->stride[1] = g->stride[1] == 0 ? 0 : (int64_t)(g->k * g->n);
    return st;
}

static kcl_gemm_args args_of(const kcl_gemm_op *g, cl_uint tiles)
{
    kcl_gemm_args args = {.m = (cl_uint)g->m, .n = (cl_uint)g->n, .k = (cl_uint)g->k,
                          .lda = (cl_uint)g->ld[0], .ldb = (cl_uint)g->ld[1],
                          .ldc = (cl_uint)g->ld[2], .alpha = g->alpha, .beta = g->beta,
                          .tiles = tiles};
    for (int i = 0; i < 3; i++) {
        args.off[i] = g->offset[i];
        args.stride[i] = (cl_ulong)g->stride[i];
    }
    return args;
}

/* A transposed times a B of fewer than 16 columns: gemm_tn_columns_W, lanes
 * down C's rows, each work-item W columns (the widths that split n most
 * evenly into blocks of at most ctx->gemm_rows: 10 columns as 5 + 5, not
 * 8 + 2). Measured on PoCL (AVX-512 EPYC), the 10-unit layer's weight
 * gradient 128x10x128: 5.2-7.1 us a call, against 7.3-12.9 us with the
 * 16-column tiles (6 of their 16 lanes idle). */
static kcl_status narrow_columns(kcl_context *ctx, const kcl_gemm_op *g)
{
    size_t blocks = (g->n + (size_t)ctx->gemm_rows - 1) / (size_t)ctx->gemm_rows;
    size_t width = (g->n + blocks - 1) / blocks, row_blocks = (g->m + 15) / 16;
    kcl_gemm_args args = args_of(g, tiles_per_item(blocks * (size_t)g->count, row_blocks));
    kcl_arg kargs[] = {KCL_ARG(args), KCL_ARG(g->mem[0]), KCL_ARG(g->mem[1]), KCL_ARG(g->mem[2])};
    size_t global[3] = {blocks, (row_blocks + args.tiles - 1) / args.tiles, (size_t)g->count};
    char name[32];
    snprintf(name, sizeof name, "gemm_tn_columns_%zu", width);
    return enqueue(ctx, name, sizeof kargs / sizeof *kargs, kargs, global, item_groups(ctx));
}

/* The operands read in place (B transposed first when k is large). */
static kcl_status direct(kcl_context *ctx, kcl_gemm_op *g)
{
    if (g->ta && !g->tb && g->n < tile_n)
        return narrow_columns(ctx, g);
    scratch bt = {0};
    kcl_status st = KCL_OK;
    if (g->tb && g->k > narrow_k)
        st = transpose_b(ctx, g, &bt);
    static const char *const names[2][2] = {{"gemm_nn", "gemm_nt_narrow"},
                                            {"gemm_tn", "gemm_tt_narrow"}};
    size_t strips = (g->n + tile_n - 1) / tile_n, row_tiles = (g->m + ctx->gemm_rows - 1) / ctx->gemm_rows;
    kcl_gemm_args args = args_of(g, tiles_per_item(strips * (size_t)g->count, row_tiles));
    kcl_arg kargs[] = {KCL_ARG(args), KCL_ARG(g->mem[0]), KCL_ARG(g->mem[1]), KCL_ARG(g->mem[2])};
    size_t global[3] = {strips, (row_tiles + args.tiles - 1) / args.tiles, (size_t)g->count};
    if (!st)
        st = enqueue(ctx, names[g->ta][g->tb], sizeof kargs / sizeof *kargs, kargs, global,
                     item_groups(ctx));
    scratch_release(ctx, &bt);
    return st;
}

/* ---------------------------------------------------- packed operands -- */

/* Operand i (0: A in tiles of ctx->gemm_rows rows, 1: B in 16-column strips)
 * packed into s. */
static kcl_status pack(kcl_context *ctx, const kcl_gemm_op *g, int i, scratch *s)
{
    size_t rows = i == 0 ? g->m : g->n, width = i == 0 ? (size_t)ctx->gemm_rows : tile_n;
    size_t blocks = (rows + width - 1) / width;
    kcl_status st = scratch_for(ctx, g, i, blocks * width * g->k, s);
    if (st)
        return st;
    cl_uint outer = (cl_uint)rows, k = (cl_uint)g->k, w = (cl_uint)width, ld = (cl_uint)g->ld[i];
    /* A's rows, and B's columns when B is transposed, are rows of storage */
    cl_uint outer_major = i == 0 ? !g->ta : g->tb;
    cl_ulong off = g->offset[i], stride = (cl_ulong)g->stride[i];
    kcl_arg args[] = {KCL_ARG(outer),    KCL_ARG(k),   KCL_ARG(w),      KCL_ARG(outer_major),
                      KCL_ARG(g->mem[i]), KCL_ARG(off), KCL_ARG(stride), KCL_ARG(ld),
                      KCL_ARG(s->mem)};
    size_t global[3], local[3];
    copy_launch(ctx, blocks, g->k, s->count, global, local);
    return enqueue(ctx, "gemm_pack", sizeof args / sizeof *args, args, global, local);
}

static kcl_status packed(kcl_context *ctx, const kcl_gemm_op *g)
{
    scratch pa = {0}, pb = {0};
    kcl_status st = pack(ctx, g, 0, &pa);
    if (!st)
        st = pack(ctx, g, 1, &pb);
    if (!st) {
        size_t strips = (g->n + tile_n - 1) / tile_n, row_tiles = (g->m + ctx->gemm_rows - 1) / ctx->gemm_rows;
        kcl_gemm_args args = args_of(g, tiles_per_item(strips * (size_t)g->count, row_tiles));
        cl_ulong a_stride = pa.count == 1 ? 0 : (cl_ulong)(row_tiles * ctx->gemm_rows * g->k);
        cl_ulong b_stride = pb.count == 1 ? 0 : (cl_ulong)(strips * tile_n * g->k);
        kcl_arg kargs[] = {KCL_ARG(args),     KCL_ARG(pa.mem),    KCL_ARG(a_stride),
                           KCL_ARG(pb.mem),   KCL_ARG(b_stride),  KCL_ARG(g->mem[2])};
        size_t global[3] = {strips, (row_tiles + args.tiles - 1) / args.tiles,
                            (size_t)g->count};
        st = enqueue(ctx, "gemm_packed", sizeof kargs / sizeof *kargs, kargs, global,
                     item_groups(ctx));
    }
    scratch_release(ctx, &pa);
    scratch_release(ctx, &pb);
    return st;
}

kcl_status kcl__gemm_own(kcl_context *ctx, const kcl_gemm_op *product)
{
    kcl_gemm_op g = *product;
    bool pack = g.k >= ctx->gemm_pack_k && g.m * g.n >= ctx->gemm_pack_outputs;
    return pack ? packed(ctx, &g) : direct(ctx, &g);
}

void kcl__gemm_packing(kcl_context *ctx, size_t from_k, size_t from_outputs)
{
    ctx->gemm_pack_k = from_k ? from_k : packed_k;
    ctx->gemm_pack_outputs = from_k ? from_outputs : packed_outputs;
}

/* Eight rows of 16 lanes are 8 accumulators where a vector register holds 16
 * floats (AVX-512), but 16 of the 16 registers AVX2 has, and the compiler
 * then spills (seen in LLVM's code for Haswell: four accumulators stored and
 * reloaded every step). Four rows there keep 8 accumulators in registers.
 * GPUs report a native width of 1, and fewer registers per work-item suit
 * them too. */
void kcl__gemm_tile_rows(kcl_context *ctx, int rows)
{
    if (rows == 0) {
        cl_uint width = 1;
        clGetDeviceInfo(ctx->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width,
                        NULL);
        rows = width >= 16 ? 8 : 4;
    }
    ctx->gemm_rows = rows;
}

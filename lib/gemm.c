/* gemm.c: kcl_gemm, and the choice of engine for every matrix product: CLBlast
 * (here, on the context's queue) or kcl's own kernels (gemm_kcl.c). */
#include <clblast_c.h>
#include <stdatomic.h>
#include <stdio.h>

#include "internal.h"

static const char *clblast_name(CLBlastStatusCode code)
{
    switch (code) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastNoDoublePrecision: return "CLBlastNoDoublePrecision";
    case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastTempBufferAllocFailure: return "CLBlastTempBufferAllocFailure";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    default: return kcl__cl_error_name((cl_int)code);
    }
}

kcl_status kcl__blas_fail(kcl_context *ctx, int code, const char *call)
{
    return kcl__fail(ctx, code == CLBlastInsufficientMemoryTemp ? KCL_ERR_MEMORY : KCL_ERR_BLAS,
                     "%s failed: %s (%d)", call, clblast_name((CLBlastStatusCode)code), code);
}

/* Live kcl contexts in the process (see internal.h). */
static atomic_int live_contexts;

void kcl__blas_context_created(void)
{
    atomic_fetch_add(&live_contexts, 1);
}

void kcl__blas_context_freed(void)
{
    /* CLBlast's caches take their own lock, and programs in use by another
     * thread stay alive through their references: a context created meanwhile
     * at worst rebuilds its CLBlast programs. The tuned parameters are kept
     * elsewhere by CLBlast and survive. */
    if (atomic_fetch_sub(&live_contexts, 1) == 1)
        CLBlastClearCache();
}

static kcl_status check_matrix(kcl_context *ctx, const kcl_tensor *t, char which)
{
    if (!t)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_gemm: matrix %c is NULL", which);
    if (t->ctx != ctx)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_gemm: matrix %c belongs to another context",
                         which);
    if (t->rank != 2) {
        char buf[256];
        return kcl__fail(ctx, KCL_ERR_SHAPE, "kcl_gemm: matrix %c has shape %s, not rank 2",
                         which, kcl__shape_str(t->rank, t->shape, buf, sizeof buf));
    }
    return KCL_OK;
}

static kcl_status clblast_run(kcl_context *ctx, const kcl_gemm_op *g)
{
    CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    const char *call = g->count == 1 ? "CLBlastSgemm" : "CLBlastSgemmStridedBatched";
    cl_command_queue queue = ctx->queue;
    ctx->queue_stats.blas_calls++;
    /* An injected fault: CLBlast's codes for OpenCL errors are the OpenCL numbers. */
    CLBlastStatusCode code = (CLBlastStatusCode)kcl__fault(ctx, KCL_FAULT_ENQUEUE);
    if (code == CLBlastSuccess && g->count == 1)
        code = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->mem[0],
                            g->offset[0], g->ld[0], g->mem[1], g->offset[1], g->ld[1], g->beta,
                            g->mem[2], g->offset[2], g->ld[2], &queue, NULL);
    /* A stride of 0 (a broadcast operand) is fine: CLBlast only reads A and B
     * at offset + stride * batch, and checks each of those matrices. */
    else if (code == CLBlastSuccess)
        code = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->mem[0], g->offset[0],
            g->ld[0], (size_t)g->stride[0], g->mem[1], g->offset[1], g->ld[1],
            (size_t)g->stride[1], g->beta, g->mem[2], g->offset[2], g->ld[2],
            (size_t)g->stride[2], (size_t)g->count, &queue, NULL);
    return code == CLBlastSuccess ? KCL_OK : kcl__blas_fail(ctx, code, call);
}

kcl_status kcl__gemm_run(kcl_context *ctx, const kcl_gemm_op *g)
{
    return ctx->gemm == KCL_GEMM_KCL ? kcl__gemm_own(ctx, g) : clblast_run(ctx, g);
}

kcl_status kcl_gemm(kcl_context *ctx, kcl_trans trans_a, kcl_trans trans_b, float alpha,
                    const kcl_tensor *a, const kcl_tensor *b, float beta, kcl_tensor *c)
{
    if (!ctx)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_gemm: NULL context");
    kcl_status st;
    if ((st = check_matrix(ctx, a, 'A')) || (st = check_matrix(ctx, b, 'B')) ||
        (st = check_matrix(ctx, c, 'C')))
        return st;
    size_t m = (size_t)(trans_a ? a->shape[1] : a->shape[0]);
    size_t k = (size_t)(trans_a ? a->shape[0] : a->shape[1]);
    size_t kb = (size_t)(trans_b ? b->shape[1] : b->shape[0]);
    size_t n = (size_t)(trans_b ? b->shape[0] : b->shape[1]);
    if (k != kb || (size_t)c->shape[0] != m || (size_t)c->shape[1] != n) {
        char sa[64], sb[64], sc[64];
        return kcl__fail(ctx, KCL_ERR_SHAPE,
                         "kcl_gemm: op(A) of %s%s times op(B) of %s%s does not give C of %s",
                         kcl__shape_str(2, a->shape, sa, sizeof sa), trans_a ? " transposed" : "",
                         kcl__shape_str(2, b->shape, sb, sizeof sb), trans_b ? " transposed" : "",
                         kcl__shape_str(2, c->shape, sc, sizeof sc));
    }
    if (m == 0 || n == 0)
        return KCL_OK;
    if (k == 0) {
        /* CLBlast refuses k = 0; the product is then beta * C. */
        return kcl__scale(ctx, c, beta);
    }
    kcl_gemm_op g = {.ta = trans_a, .tb = trans_b, .m = m, .n = n, .k = k, .alpha = alpha,
                     .beta = beta, .count = 1,
                     .mem = {a->storage->mem, b->storage->mem, c->storage->mem},
                     .offset = {a->offset, b->offset, c->offset},
                     .ld = {(size_t)a->shape[1], (size_t)b->shape[1], (size_t)c->shape[1]}};
    return kcl__gemm_run(ctx, &g);
}

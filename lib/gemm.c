/* gemm.c: matrix products through CLBlast on the context's queue. */
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

kcl_status kcl__gemm_direct(kcl_context *ctx, bool trans_a, bool trans_b, cl_uint m, cl_uint n,
                            cl_uint k, float alpha, cl_mem a, cl_ulong a_off, cl_mem b,
                            cl_ulong b_off, float beta, cl_mem c, cl_ulong c_off)
{
    /* Element (i, p) of op(A) sits at a_off + i * a_row + p * a_col. */
    cl_ulong a_row = trans_a ? 1 : k, a_col = trans_a ? m : 1;
    cl_ulong b_row = trans_b ? 1 : n, b_col = trans_b ? k : 1;
    kcl_arg args[] = {KCL_ARG(m), KCL_ARG(n), KCL_ARG(k), KCL_ARG(alpha), KCL_ARG(a),
                      KCL_ARG(a_off), KCL_ARG(a_row), KCL_ARG(a_col), KCL_ARG(b), KCL_ARG(b_off),
                      KCL_ARG(b_row), KCL_ARG(b_col), KCL_ARG(beta), KCL_ARG(c), KCL_ARG(c_off)};
    cl_kernel kern;
    kcl_status st = kcl__kernel(ctx, "gemm", "gemm_direct", &kern);
    if (!st)
        st = kcl__set_args(ctx, kern, "gemm_direct", sizeof args / sizeof *args, args);
    if (st)
        return st;
    size_t global[2] = {n, m};
    cl_int err = kcl__fault(ctx, KCL_FAULT_ENQUEUE);
    if (!err)
        err = clEnqueueNDRangeKernel(ctx->queue, kern, 2, NULL, global, NULL, 0, NULL, NULL);
    ctx->queue_stats.kernels += err == CL_SUCCESS;
    return err ? kcl__fail_cl(ctx, err, "clEnqueueNDRangeKernel(gemm_direct)") : KCL_OK;
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
    if (ctx->offline)
        return kcl__gemm_direct(ctx, trans_a, trans_b, (cl_uint)m, (cl_uint)n, (cl_uint)k, alpha,
                                a->storage->mem, a->offset, b->storage->mem, b->offset, beta,
                                c->storage->mem, c->offset);
    cl_command_queue queue = ctx->queue;
    ctx->queue_stats.blas_calls++;
    /* CLBlast's codes for OpenCL errors are the OpenCL numbers. */
    CLBlastStatusCode code = (CLBlastStatusCode)kcl__fault(ctx, KCL_FAULT_ENQUEUE);
    if (code == CLBlastSuccess)
        code = CLBlastSgemm(
            CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
            trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a->storage->mem,
            a->offset, (size_t)a->shape[1], b->storage->mem, b->offset, (size_t)b->shape[1],
            beta, c->storage->mem, c->offset, (size_t)c->shape[1], &queue, NULL);
    return code == CLBlastSuccess ? KCL_OK : kcl__blas_fail(ctx, code, "CLBlastSgemm");
}

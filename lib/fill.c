/* fill.c: small whole-tensor kernels the device layer itself needs. */
#include "internal.h"

kcl_status kcl__launch_1d(kcl_context *ctx, cl_kernel kernel, size_t n, const char *name)
{
    if (n == 0)
        return KCL_OK;
    /* Work-groups of group_1d items, the last one partly past n (every 1-D
     * kernel checks its index): left to itself a driver must pick a group
     * size dividing n, 1 or 2 for a prime-ish n, and PoCL then runs each
     * group's few items with a scheduling overhead of its own. */
    size_t local = ctx->group_1d, global = (n + local - 1) / local * local;
    cl_int err = kcl__fault(ctx, KCL_FAULT_ENQUEUE);
    if (!err)
        err = clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &global, &local, 0, NULL,
                                     NULL);
    /* A kernel whose own limit is below the device's: the driver's choice. */
    if (err == CL_INVALID_WORK_GROUP_SIZE)
        err = clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &n, NULL, 0, NULL, NULL);
    ctx->queue_stats.kernels += err == CL_SUCCESS;
    return err ? kcl__fail_cl(ctx, err, name) : KCL_OK;
}

kcl_status kcl__scale(kcl_context *ctx, kcl_tensor *t, float alpha)
{
    if (t->size == 0)
        return KCL_OK;
    if (alpha == 0.0f)
        return kcl__fill(t, 0.0f);   /* beta = 0: C is not read (BLAS), NaNs must not survive */
    cl_kernel k;
    kcl_status st = kcl__kernel(ctx, "fill", "scale", &k);
    if (st)
        return st;
    cl_ulong offset = t->offset, n = (cl_ulong)t->size;
    clSetKernelArg(k, 0, sizeof(cl_mem), &t->storage->mem);
    clSetKernelArg(k, 1, sizeof offset, &offset);
    clSetKernelArg(k, 2, sizeof alpha, &alpha);
    clSetKernelArg(k, 3, sizeof n, &n);
    return kcl__launch_1d(ctx, k, (size_t)n, "clEnqueueNDRangeKernel(scale)");
}

kcl_status kcl__fill(kcl_tensor *t, float value)
{
    cl_ulong offset = t->offset, n = (cl_ulong)t->size;
    kcl_arg args[] = {KCL_MEM(t), KCL_ARG(offset), KCL_ARG(value), KCL_ARG(n)};
    return kcl__enqueue(t->ctx, "fill", "fill", (size_t)n, 4, args);
}

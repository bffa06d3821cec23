/* pool.c: reuse of device buffers between tensors, and the memory figures
 * (in use, peak) that come with it. */
#include <stdlib.h>

#include "internal.h"

/* Releases every free block (on an allocation failure, and at the end). */
static void trim(kcl_pool *pool)
{
    for (size_t i = 0; i < pool->nfree; i++)
        clReleaseMemObject(pool->free[i].mem);
    pool->nfree = 0;
    pool->free_bytes = 0;
}

/* A free block of exactly `bytes`, or -1. Exact sizes suffice because a
 * training step repeats the same shapes; and a tensor then covers its whole
 * buffer, which keeps Oclgrind's uninitialised-memory tracking exact (with
 * larger blocks it reported reads of the unwritten tail of a reused buffer). */
static long best_fit(const kcl_pool *pool, size_t bytes)
{
    for (size_t i = pool->nfree; i-- > 0;)
        if (pool->free[i].bytes == bytes)
            return (long)i;
    return -1;
}

static void account(kcl_pool *pool, size_t bytes)
{
    pool->used_bytes += bytes;
    if (pool->used_bytes > pool->peak_bytes)
        pool->peak_bytes = pool->used_bytes;
    if (pool->used_bytes + pool->free_bytes > pool->peak_held_bytes)
        pool->peak_held_bytes = pool->used_bytes + pool->free_bytes;
}

kcl_status kcl__pool_alloc(kcl_context *ctx, size_t bytes, cl_mem *mem, size_t *got)
{
    kcl_pool *pool = &ctx->pool;
    /* Every request counts, pool hits too, so an injected fault can reach
     * every tensor allocation of a step, not only the first step's. */
    cl_int injected = kcl__fault(ctx, KCL_FAULT_ALLOC);
    long i = injected ? -1 : best_fit(pool, bytes);
    if (i >= 0) {
        *mem = pool->free[i].mem;
        *got = pool->free[i].bytes;
        pool->free_bytes -= *got;
        pool->free[i] = pool->free[--pool->nfree];
        account(pool, *got);
        return KCL_OK;
    }
    /* Checked up front: drivers that allocate lazily (PoCL) would accept more
     * than exists and fail later, somewhere less clear. */
    uint64_t memory = ctx->info.global_memory;
    if (ctx->faults.memory_limit && (!memory || ctx->faults.memory_limit < memory))
        memory = ctx->faults.memory_limit;
    if (memory && pool->used_bytes + pool->free_bytes + bytes > memory)
        trim(pool);   /* pooled buffers hold device memory too */
    if (memory && pool->used_bytes + bytes > memory)
        return kcl__fail(ctx, KCL_ERR_MEMORY,
                         "device memory exhausted: %zu bytes wanted, %zu in use, %llu on %s",
                         bytes, pool->used_bytes, (unsigned long long)memory, ctx->info.name);
    cl_int err;
    for (int attempt = 0; attempt < 2; attempt++) {
        err = injected;
        *mem = err ? NULL : clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
        ctx->queue_stats.buffers_created += err == CL_SUCCESS;
        if (err == CL_SUCCESS) {
            *got = bytes;
            account(pool, bytes);
            return KCL_OK;
        }
        trim(pool);   /* give the pooled buffers back and try once more */
    }
    return kcl__fail_cl(ctx, err, "clCreateBuffer");
}

void kcl__pool_release(kcl_context *ctx, cl_mem mem, size_t bytes)
{
    kcl_pool *pool = &ctx->pool;
    pool->used_bytes -= bytes;
    if (pool->nfree == pool->cap) {
        size_t cap = pool->cap ? 2 * pool->cap : 16;
        kcl_pool_block *grown = realloc(pool->free, cap * sizeof *grown);
        if (!grown) {
            clReleaseMemObject(mem);   /* no room to keep it: just free it */
            return;
        }
        pool->free = grown;
        pool->cap = cap;
    }
    pool->free[pool->nfree++] = (kcl_pool_block){mem, bytes};
    pool->free_bytes += bytes;
}

void kcl__pool_free(kcl_context *ctx)
{
    trim(&ctx->pool);
    free(ctx->pool.free);
    ctx->pool.free = NULL;
    ctx->pool.cap = 0;
}

kcl_status kcl_queue_stats_get(const kcl_context *ctx, kcl_queue_stats *stats)
{
    if (!ctx || !stats)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_queue_stats_get: NULL argument");
    *stats = ctx->queue_stats;
    return KCL_OK;
}

kcl_status kcl_memory_stats_get(const kcl_context *ctx, kcl_memory_stats *stats)
{
    if (!ctx || !stats)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_memory_stats_get: NULL argument");
    stats->in_use = ctx->pool.used_bytes;
    stats->peak = ctx->pool.peak_bytes;
    stats->pooled = ctx->pool.free_bytes;
    stats->peak_held = ctx->pool.peak_held_bytes;
    return KCL_OK;
}

void kcl_memory_reset_peak(kcl_context *ctx)
{
    if (ctx) {
        ctx->pool.peak_bytes = ctx->pool.used_bytes;
        ctx->pool.peak_held_bytes = ctx->pool.used_bytes + ctx->pool.free_bytes;
    }
}

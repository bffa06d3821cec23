/* tensor.c: float32 tensors in device memory, and reshaped views of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int64_t kcl__shape_size(int rank, const int64_t *shape)
{
    const int64_t limit = (int64_t)(SIZE_MAX / sizeof(float) < INT64_MAX
                                        ? SIZE_MAX / sizeof(float) : INT64_MAX);
    int64_t size = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] == 0)
            size = 0;
        else if (size > limit / shape[i])
            return -1;
        else
            size *= shape[i];
    }
    /* A zero dimension makes the product 0 however large the others are, but
     * each of them must still be representable. */
    for (int i = 0; i < rank; i++)
        if (shape[i] > limit)
            return -1;
    return size;
}

static kcl_status check_shape(kcl_context *ctx, const char *fn, int rank, const int64_t *shape,
                              int64_t *size)
{
    if (rank < 0 || rank > KCL_MAX_RANK)
        return kcl__fail(ctx, KCL_ERR_SHAPE, "%s: rank %d is outside 0..%d", fn, rank,
                         KCL_MAX_RANK);
    if (rank > 0 && !shape)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: NULL shape for rank %d", fn, rank);
    *size = kcl__shape_size(rank, shape);
    if (*size < 0) {
        char buf[256];
        return kcl__fail(ctx, KCL_ERR_SHAPE,
                         "%s: shape %s has a negative dimension or a byte size that overflows",
                         fn, kcl__shape_str(rank, shape, buf, sizeof buf));
    }
    return KCL_OK;
}

static void link_tensor(kcl_context *ctx, kcl_tensor *t)
{
    t->ctx = ctx;
    t->refs = 1;
    t->id = ++ctx->next_tensor_id;
    t->prev = NULL;
    t->next = ctx->tensors;
    if (ctx->tensors)
        ctx->tensors->prev = t;
    ctx->tensors = t;
}

static kcl_status new_tensor(kcl_context *ctx, const char *fn, int rank, const int64_t *shape,
                             kcl_tensor **out)
{
    int64_t size;
    kcl_status st = check_shape(ctx, fn, rank, shape, &size);
    if (st)
        return st;
    size_t bytes = (size_t)size * sizeof(float);
    if (bytes > ctx->info.max_allocation && ctx->info.max_allocation) {
        char buf[256];
        return kcl__fail(ctx, KCL_ERR_MEMORY,
                         "%s: tensor %s needs %zu bytes; %s allows at most %llu in one buffer",
                         fn, kcl__shape_str(rank, shape, buf, sizeof buf), bytes, ctx->info.name,
                         (unsigned long long)ctx->info.max_allocation);
    }
    kcl_tensor *t = calloc(1, sizeof *t);
    kcl_storage *s = calloc(1, sizeof *s);
    if (!t || !s) {
        free(t);
        free(s);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "%s: out of host memory", fn);
    }
    if (bytes && (st = kcl__pool_alloc(ctx, bytes, &s->mem, &bytes)) != KCL_OK) {
        free(t);
        free(s);
        char buf[256];
        return kcl__fail(ctx, st, "%s: allocating %zu bytes for tensor %s: %s", fn,
                         (size_t)size * sizeof(float),
                         kcl__shape_str(rank, shape, buf, sizeof buf), kcl_errmsg(ctx));
    }
    s->bytes = bytes;
    s->refs = 1;
    t->storage = s;
    t->rank = rank;
    if (rank)
        memcpy(t->shape, shape, (size_t)rank * sizeof *shape);
    t->size = size;
    link_tensor(ctx, t);
    *out = t;
    return KCL_OK;
}

kcl_status kcl_tensor_create(kcl_context *ctx, int rank, const int64_t *shape, kcl_tensor **out)
{
    if (!ctx || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_tensor_create: NULL argument");
    *out = NULL;
    kcl_tensor *t;
    kcl_status st = new_tensor(ctx, "kcl_tensor_create", rank, shape, &t);
    if (st)
        return st;
    if ((st = kcl__tensor_zero(t)) != KCL_OK) {
        kcl_tensor_free(t);
        return st;
    }
    *out = t;
    return KCL_OK;
}

kcl_status kcl_tensor_from_host(kcl_context *ctx, int rank, const int64_t *shape,
                                const float *data, kcl_tensor **out)
{
    if (!ctx || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_tensor_from_host: NULL argument");
    *out = NULL;
    kcl_tensor *t;
    kcl_status st = new_tensor(ctx, "kcl_tensor_from_host", rank, shape, &t);
    if (st)
        return st;
    if (t->size && !data) {
        kcl_tensor_free(t);
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_tensor_from_host: NULL data");
    }
    st = kcl_tensor_write(t, data, (size_t)t->size);
    if (st) {
        kcl_tensor_free(t);
        return st;
    }
    *out = t;
    return KCL_OK;
}

static kcl_status check_count(const kcl_tensor *t, const char *fn, size_t count)
{
    if (count != (size_t)t->size) {
        char buf[256];
        return kcl__fail(t->ctx, KCL_ERR_SHAPE, "%s: %zu values given for tensor %s of %lld",
                         fn, count, kcl__shape_str(t->rank, t->shape, buf, sizeof buf),
                         (long long)t->size);
    }
    return KCL_OK;
}

kcl_status kcl_tensor_read(kcl_tensor *t, float *data, size_t count)
{
    if (!t)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_tensor_read: NULL tensor");
    kcl_status st = check_count(t, "kcl_tensor_read", count);
    if (st || count == 0)
        return st;
    if (!data)
        return kcl__fail(t->ctx, KCL_ERR_ARGUMENT, "kcl_tensor_read: NULL data");
    t->ctx->queue_stats.transfers++;
    t->ctx->queue_stats.host_waits++;
    cl_int err = kcl__fault(t->ctx, KCL_FAULT_ENQUEUE);
    if (!err)
        err = clEnqueueReadBuffer(t->ctx->queue, t->storage->mem, CL_TRUE,
                                     t->offset * sizeof(float), count * sizeof(float), data, 0,
                                     NULL, NULL);
    return err ? kcl__fail_cl(t->ctx, err, "clEnqueueReadBuffer") : KCL_OK;
}

kcl_status kcl_tensor_write(kcl_tensor *t, const float *data, size_t count)
{
    if (!t)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_tensor_write: NULL tensor");
    kcl_status st = check_count(t, "kcl_tensor_write", count);
    if (st || count == 0)
        return st;
    if (!data)
        return kcl__fail(t->ctx, KCL_ERR_ARGUMENT, "kcl_tensor_write: NULL data");
    /* Blocking: the caller may reuse its array as soon as we return. */
    t->ctx->queue_stats.transfers++;
    t->ctx->queue_stats.host_waits++;
    cl_int err = kcl__fault(t->ctx, KCL_FAULT_ENQUEUE);
    if (!err)
        err = clEnqueueWriteBuffer(t->ctx->queue, t->storage->mem, CL_TRUE,
                                      t->offset * sizeof(float), count * sizeof(float), data,
                                      0, NULL, NULL);
    return err ? kcl__fail_cl(t->ctx, err, "clEnqueueWriteBuffer") : KCL_OK;
}

kcl_status kcl_tensor_reshape(kcl_tensor *t, int rank, const int64_t *shape, kcl_tensor **view)
{
    if (!t || !view)
        return kcl__fail(t ? t->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_tensor_reshape: NULL argument");
    *view = NULL;
    int64_t size;
    kcl_status st = check_shape(t->ctx, "kcl_tensor_reshape", rank, shape, &size);
    if (st)
        return st;
    if (size != t->size) {
        char a[256], b[256];
        return kcl__fail(t->ctx, KCL_ERR_SHAPE,
                         "kcl_tensor_reshape: cannot view %s (%lld values) as %s (%lld values)",
                         kcl__shape_str(t->rank, t->shape, a, sizeof a), (long long)t->size,
                         kcl__shape_str(rank, shape, b, sizeof b), (long long)size);
    }
    return kcl__tensor_view(t, rank, shape, view);
}

kcl_status kcl__tensor_view(kcl_tensor *t, int rank, const int64_t *shape, kcl_tensor **out)
{
    kcl_tensor *v = calloc(1, sizeof *v);
    if (!v)
        return kcl__fail(t->ctx, KCL_ERR_MEMORY, "out of host memory for a tensor view");
    v->storage = t->storage;
    v->storage->refs++;
    v->offset = t->offset;
    v->rank = rank;
    if (rank)
        memcpy(v->shape, shape, (size_t)rank * sizeof *shape);
    v->size = t->size;
    link_tensor(t->ctx, v);
    *out = v;
    return KCL_OK;
}

kcl_status kcl__tensor_wrap(kcl_context *ctx, const char *fn, cl_mem mem, size_t offset,
                            int rank, const int64_t *shape, kcl_tensor **out)
{
    int64_t size;
    kcl_status st = check_shape(ctx, fn, rank, shape, &size);
    if (st)
        return st;
    kcl_tensor *t = calloc(1, sizeof *t);
    kcl_storage *s = calloc(1, sizeof *s);
    if (!t || !s) {
        free(t);
        free(s);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "%s: out of host memory", fn);
    }
    clRetainMemObject(mem);   /* released when the last tensor on it goes */
    *s = (kcl_storage){.mem = mem, .bytes = 0, .refs = 1, .external = true};
    t->storage = s;
    t->offset = offset;
    t->rank = rank;
    if (rank)
        memcpy(t->shape, shape, (size_t)rank * sizeof *shape);
    t->size = size;
    link_tensor(ctx, t);
    *out = t;
    return KCL_OK;
}

kcl_status kcl__tensor_new(kcl_context *ctx, int rank, const int64_t *shape, kcl_tensor **out)
{
    return new_tensor(ctx, "op output", rank, shape, out);
}

kcl_tensor *kcl__tensor_retain(kcl_tensor *t)
{
    if (t)
        t->refs++;
    return t;
}

kcl_status kcl__tensor_zero(kcl_tensor *t)
{
    return kcl__fill(t, 0.0f);
}

const char *kcl__shape_of(const kcl_tensor *t)
{
    static _Thread_local char slots[2][160];
    static _Thread_local int next;
    char *buf = slots[next];
    next ^= 1;
    return t ? kcl__shape_str(t->rank, t->shape, buf, sizeof slots[0]) : "(null)";
}

static void destroy(kcl_tensor *t)
{
    kcl_context *ctx = t->ctx;
    kcl_tensor_free(t->logits);
    if (t->prev)
        t->prev->next = t->next;
    else
        ctx->tensors = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (--t->storage->refs == 0) {
        if (t->storage->external)
            clReleaseMemObject(t->storage->mem);   /* the application's: never pooled */
        else if (t->storage->mem)
            kcl__pool_release(ctx, t->storage->mem, t->storage->bytes);
        free(t->storage);
    }
    free(t);
}

void kcl_tensor_free(kcl_tensor *t)
{
    if (t && --t->refs <= 0)
        destroy(t);
}

void kcl__tensors_free(kcl_context *ctx)
{
    /* Every tensor goes, whatever its references: drop the links between
     * them first so that none is freed twice. */
    for (kcl_tensor *t = ctx->tensors; t; t = t->next)
        t->logits = NULL;
    while (ctx->tensors)
        destroy(ctx->tensors);
}

int kcl_tensor_rank(const kcl_tensor *t) { return t ? t->rank : -1; }
const int64_t *kcl_tensor_shape(const kcl_tensor *t) { return t ? t->shape : NULL; }
int64_t kcl_tensor_size(const kcl_tensor *t) { return t ? t->size : -1; }
kcl_context *kcl_tensor_context(const kcl_tensor *t) { return t ? t->ctx : NULL; }

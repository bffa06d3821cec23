/* interop.c: kcl on an application's own OpenCL objects (kcl_opencl.h): a
 * context on its context and queue, tensors on its buffers, and ordering
 * against its events. Every check runs before anything is retained, so a
 * refused call leaves the application's reference counts as they were. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kcl_opencl.h"

/* "fn: <what> (<call>: CL_INVALID_...)" for a handle OpenCL rejects. */
static kcl_status fail_handle(kcl_context *ctx, const char *fn, const char *what, const char *call,
                              cl_int err)
{
    return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: %s (%s: %s)", fn, what, call,
                     kcl__cl_error_name(err));
}

/* ---------------------------------------------------------------- context -- */

/* Whether device, or a device it was partitioned from, is in the list: some
 * implementations (PoCL) list the root device for a context made of
 * sub-devices. */
static bool listed(const cl_device_id *devices, size_t n, cl_device_id device)
{
    for (int depth = 0; device && depth < 16; depth++) {
        for (size_t i = 0; i < n; i++)
            if (devices[i] == device)
                return true;
        cl_device_id parent = NULL;
        if (clGetDeviceInfo(device, CL_DEVICE_PARENT_DEVICE, sizeof parent, &parent, NULL))
            return false;
        device = parent;
    }
    return false;
}

static kcl_status check_device_in_context(cl_context context, cl_device_id device)
{
    const char *fn = "kcl_context_from_cl";
    size_t bytes = 0;
    cl_int err = clGetContextInfo(context, CL_CONTEXT_DEVICES, 0, NULL, &bytes);
    if (err)
        return fail_handle(NULL, fn, "context is not a valid cl_context", "clGetContextInfo", err);
    cl_device_id *devices = malloc(bytes ? bytes : 1);
    if (!devices)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "%s: out of host memory", fn);
    err = clGetContextInfo(context, CL_CONTEXT_DEVICES, bytes, devices, NULL);
    bool found = !err && listed(devices, bytes / sizeof *devices, device);
    free(devices);
    if (err)
        return fail_handle(NULL, fn, "context is not a valid cl_context", "clGetContextInfo", err);
    if (!found)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                         "%s: the device is not one of the context's devices (CL_CONTEXT_DEVICES)",
                         fn);
    return KCL_OK;
}

static kcl_status check_queue(cl_context context, cl_device_id device, cl_command_queue queue)
{
    const char *fn = "kcl_context_from_cl";
    cl_context queue_context;
    cl_device_id queue_device;
    cl_command_queue_properties props;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof queue_context,
                                       &queue_context, NULL);
    if (!err)
        err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof queue_device, &queue_device,
                                    NULL);
    if (!err)
        err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (err)
        return fail_handle(NULL, fn, "queue is not a valid cl_command_queue",
                           "clGetCommandQueueInfo", err);
    if (queue_context != context)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                         "%s: the queue belongs to another cl_context (CL_QUEUE_CONTEXT)", fn);
    if (queue_device != device)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                         "%s: the queue is for another device (CL_QUEUE_DEVICE)", fn);
    /* kcl orders its work (and reuses buffers) by the queue's order alone. */
    if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                         "%s: the queue is out-of-order (CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE); "
                         "kcl needs an in-order queue", fn);
    return KCL_OK;
}

static kcl_status check_objects(cl_context context, cl_device_id device, cl_command_queue queue)
{
    const char *fn = "kcl_context_from_cl";
    if (!context || !device || !queue)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "%s: NULL %s", fn,
                         !context ? "cl_context" : !device ? "cl_device_id" : "cl_command_queue");
    cl_platform_id platform;
    cl_int err = clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);
    if (err)
        return fail_handle(NULL, fn, "device is not a valid cl_device_id", "clGetDeviceInfo", err);
    kcl_status st = check_device_in_context(context, device);
    return st ? st : check_queue(context, device, queue);
}

kcl_status kcl_context_from_cl(kcl_context **out, cl_context context, cl_device_id device,
                               cl_command_queue queue, const kcl_context_options *options)
{
    if (!out)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_context_from_cl: NULL out-pointer");
    *out = NULL;
    kcl_status st = check_objects(context, device, queue);
    kcl_context *ctx = NULL;
    if (!st)
        st = kcl__context_new(options, &ctx);
    if (st)
        return st;
    /* From here on kcl_context_free releases exactly these references. */
    clRetainContext(context);
    clRetainDevice(device);
    clRetainCommandQueue(queue);
    ctx->cl = context;
    ctx->device = device;
    ctx->queue = queue;
    clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof ctx->platform, &ctx->platform, NULL);
    kcl__device_describe(ctx->platform, device, &ctx->info);
    kcl__device_locate(ctx->platform, device, &ctx->info);
    if ((st = kcl__context_ready(ctx)) != KCL_OK) {
        kcl_context_free(ctx);
        return st;
    }
    *out = ctx;
    return KCL_OK;
}

kcl_status kcl_context_cl(kcl_context *ctx, cl_context *context, cl_device_id *device,
                          cl_command_queue *queue)
{
    if (!ctx)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_context_cl: NULL context");
    if (context)
        *context = ctx->cl;
    if (device)
        *device = ctx->device;
    if (queue)
        *queue = ctx->queue;
    return KCL_OK;
}

/* ---------------------------------------------------------------- tensors -- */

static kcl_status check_buffer(kcl_context *ctx, cl_mem buffer, size_t offset_bytes,
                               size_t *size)
{
    const char *fn = "kcl_tensor_from_cl";
    cl_mem_object_type type;
    cl_context context;
    cl_mem_flags flags;
    cl_int err = clGetMemObjectInfo(buffer, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (!err)
        err = clGetMemObjectInfo(buffer, CL_MEM_CONTEXT, sizeof context, &context, NULL);
    if (!err)
        err = clGetMemObjectInfo(buffer, CL_MEM_FLAGS, sizeof flags, &flags, NULL);
    if (!err)
        err = clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof *size, size, NULL);
    if (err)
        return fail_handle(ctx, fn, "buffer is not a valid cl_mem", "clGetMemObjectInfo", err);
    if (type != CL_MEM_OBJECT_BUFFER)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: the memory object is not a buffer "
                         "(CL_MEM_TYPE 0x%x)", fn, (unsigned)type);
    if (context != ctx->cl)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: the buffer belongs to another cl_context "
                         "than the kcl context's (CL_MEM_CONTEXT)", fn);
    if (flags & (CL_MEM_READ_ONLY | CL_MEM_WRITE_ONLY))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: the buffer is %s; kcl's kernels may read and "
                         "write a tensor, so it must be CL_MEM_READ_WRITE", fn,
                         flags & CL_MEM_READ_ONLY ? "CL_MEM_READ_ONLY" : "CL_MEM_WRITE_ONLY");
    /* Tensors address their buffer in whole floats. */
    if (offset_bytes % sizeof(float))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: offset_bytes %zu is not a multiple of %zu",
                         fn, offset_bytes, sizeof(float));
    return KCL_OK;
}

kcl_status kcl_tensor_from_cl(kcl_context *ctx, cl_mem buffer, size_t offset_bytes, int rank,
                              const int64_t *shape, kcl_tensor **out)
{
    const char *fn = "kcl_tensor_from_cl";
    if (!ctx || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: NULL %s", fn, !ctx ? "context" : "out");
    *out = NULL;
    if (!buffer)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: NULL buffer", fn);
    size_t size;
    kcl_status st = check_buffer(ctx, buffer, offset_bytes, &size);
    kcl_tensor *t = NULL;
    if (!st)
        st = kcl__tensor_wrap(ctx, fn, buffer, offset_bytes / sizeof(float), rank, shape, &t);
    if (st)
        return st;
    size_t bytes = (size_t)t->size * sizeof(float);
    if (offset_bytes > size || bytes > size - offset_bytes) {
        char shape_text[160];
        kcl__shape_str(t->rank, t->shape, shape_text, sizeof shape_text);
        kcl_tensor_free(t);   /* gives back the reference the wrap took */
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: the buffer holds %zu bytes; tensor %s at "
                         "offset %zu needs %zu", fn, size, shape_text, offset_bytes,
                         offset_bytes + bytes);
    }
    *out = t;
    return KCL_OK;
}

kcl_status kcl_tensor_cl(const kcl_tensor *t, cl_mem *buffer, size_t *offset_bytes)
{
    if (!t || !buffer || !offset_bytes)
        return kcl__fail(t ? t->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_tensor_cl: NULL %s",
                         !t ? "tensor" : !buffer ? "buffer" : "offset_bytes");
    *buffer = t->storage->mem;
    *offset_bytes = t->offset * sizeof(float);
    return KCL_OK;
}

/* ----------------------------------------------------------------- events -- */

kcl_status kcl_enqueue_wait(kcl_context *ctx, cl_uint count, const cl_event *events)
{
    const char *fn = "kcl_enqueue_wait";
    if (!ctx)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "%s: NULL context", fn);
    if (count == 0)
        return KCL_OK;
    if (!events)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: NULL events for count %u", fn, count);
    for (cl_uint i = 0; i < count; i++) {
        cl_context context;
        cl_int err = events[i] ? clGetEventInfo(events[i], CL_EVENT_CONTEXT, sizeof context,
                                                &context, NULL)
                               : CL_INVALID_EVENT;
        if (err)
            return fail_handle(ctx, fn, "an event is not a valid cl_event", "clGetEventInfo",
                               err);
        if (context != ctx->cl)
            return kcl__fail(ctx, KCL_ERR_ARGUMENT, "%s: event %u belongs to another cl_context "
                             "than the kcl context's", fn, i);
    }
    cl_int err = clEnqueueBarrierWithWaitList(ctx->queue, count, events, NULL);
    return err ? kcl__fail_cl(ctx, err, "clEnqueueBarrierWithWaitList") : KCL_OK;
}

kcl_status kcl_enqueue_marker(kcl_context *ctx, cl_event *event)
{
    if (!ctx || !event)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_enqueue_marker: NULL %s",
                         !ctx ? "context" : "event");
    /* On an in-order queue an empty wait list means "after everything before". */
    cl_int err = clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, event);
    return err ? kcl__fail_cl(ctx, err, "clEnqueueMarkerWithWaitList") : KCL_OK;
}

/*
 * kcl_opencl.h: kcl inside an application that uses OpenCL itself.
 *
 * kcl runs on the application's cl_context and in-order queue, reads and
 * writes its cl_mem buffers in place, and orders its work against the
 * application's cl_events, so that data never has to pass through the host:
 *
 *     kcl_context *ctx;
 *     kcl_context_from_cl(&ctx, app_context, app_device, app_queue, NULL);
 *     kcl_tensor *x;
 *     int64_t shape[2] = {batch, features};
 *     kcl_tensor_from_cl(ctx, app_input, 0, 2, shape, &x);  // no copy
 *     kcl_enqueue_wait(ctx, 1, &input_ready);     // app kernel wrote app_input
 *     kcl_tensor *y;
 *     kcl_predict_on_batch(model, &x, &y);        // enqueued, returns at once
 *     cl_event done;
 *     kcl_enqueue_marker(ctx, &done);
 *     cl_mem pred; size_t offset;
 *     kcl_tensor_cl(y, &pred, &offset);           // app kernels may read it now
 *     clEnqueueNDRangeKernel(other_queue, k, ..., 1, &done, NULL);
 *
 * Who releases what
 *  - kcl retains the cl_context, device, queue and each wrapped cl_mem it is
 *    given, and releases exactly those references: in kcl_context_free and
 *    kcl_tensor_free (or when the context is freed). The application keeps and
 *    releases its own references as before, in any order relative to kcl's.
 *  - Handles kcl hands out (kcl_context_cl, kcl_tensor_cl) are not retained
 *    for the caller: they stay valid while the kcl context (tensor) lives;
 *    call clRetain... to keep one longer.
 *  - Events from kcl_enqueue_marker are the caller's to release.
 *  - CLBlast, which kcl uses for matrix products, caches its compiled
 *    programs process-wide, and each holds a reference on its cl_context.
 *    When the last kcl context of the process is freed, kcl empties that
 *    cache (CLBlastClearCache), so the application's context really goes
 *    with its last release. Another CLBlast user in the same process then
 *    rebuilds its programs on its next call (a cost, not an error).
 *
 * Ordering
 *  - kcl enqueues all its work on one in-order queue (the application's when
 *    built with kcl_context_from_cl). Work the application puts on that same
 *    queue is ordered with kcl's with no event at all.
 *  - Across queues, use events: kcl_enqueue_wait makes kcl's later work wait
 *    for the application's; kcl_enqueue_marker gives an event for kcl's work
 *    so far.
 *  - kcl reuses a freed tensor's device buffer for its next work at once.
 *    When another queue still uses a kcl tensor's buffer (kcl_tensor_cl),
 *    pass that work's events to kcl_enqueue_wait before freeing the tensor.
 *  - Ops, layer calls and kcl_predict_on_batch only enqueue work. The host
 *    waits in calls that copy values between host and device
 *    (kcl_tensor_read/write/from_host, kcl_layer_set_weight, kcl_predict,
 *    fit, evaluate, *_on_batch with results), in kcl_context_finish, and in
 *    kcl_context_free (which finishes its queue: the application's, when
 *    shared). A kernel's first use also builds its program on the host.
 */
#ifndef KCL_OPENCL_H
#define KCL_OPENCL_H

#include <CL/cl.h>

#include "kcl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A kcl context on the application's context, device and queue (retained,
 * see above). The queue must be in-order, of that context and that device,
 * and the device one of the context's. options as for kcl_context_create
 * (cache_dir, disable_disk_cache, offline, binary_dir; device is ignored):
 * the kernel binary cache and tuned GEMM parameters apply as for any context.
 * On failure *ctx is NULL, nothing is retained, and kcl_errmsg(NULL) says
 * which argument is wrong and why. */
kcl_status kcl_context_from_cl(kcl_context **ctx, cl_context context, cl_device_id device,
                               cl_command_queue queue, const kcl_context_options *options);

/* The OpenCL objects of any kcl context (also one from kcl_context_create):
 * not retained for the caller. Each out-pointer may be NULL. */
kcl_status kcl_context_cl(kcl_context *ctx, cl_context *context, cl_device_id *device,
                          cl_command_queue *queue);

/* A float32 tensor of the given shape over the application's buffer, starting
 * offset_bytes into it (a multiple of 4): no copy, kcl reads and writes the
 * buffer itself. kcl retains the buffer and releases it when the tensor (and
 * every view of it) is freed; it never puts it in its pool of buffers.
 * Usable wherever a tensor is: model input or target, an op's operand, a
 * variable (kcl_tensor_set_trainable) that an optimizer updates in place.
 * Refused: a buffer of another context, a memory object that is not a
 * buffer, a buffer made CL_MEM_READ_ONLY or CL_MEM_WRITE_ONLY (kcl's
 * kernels may both read and write a tensor), one smaller than offset_bytes
 * plus the tensor's bytes, an offset not a multiple of 4. */
kcl_status kcl_tensor_from_cl(kcl_context *ctx, cl_mem buffer, size_t offset_bytes, int rank,
                              const int64_t *shape, kcl_tensor **out);

/* The buffer holding any tensor's values (a prediction, a layer weight, a
 * wrapped buffer) and the byte offset where they start, row-major float32.
 * Not retained for the caller; valid until t is freed. *buffer is NULL for
 * an empty tensor kcl created. */
kcl_status kcl_tensor_cl(const kcl_tensor *t, cl_mem *buffer, size_t *offset_bytes);

/* kcl's work enqueued after this call waits for the events (a barrier with
 * a wait list on kcl's queue); the host does not wait. The events must belong
 * to kcl's cl_context; kcl does not retain or release them. count 0: nothing. */
kcl_status kcl_enqueue_wait(kcl_context *ctx, cl_uint count, const cl_event *events);

/* *event completes when all kcl work enqueued so far has (a marker on kcl's
 * queue); the caller releases it with clReleaseEvent. */
kcl_status kcl_enqueue_marker(kcl_context *ctx, cl_event *event);

#ifdef __cplusplus
}
#endif

#endif /* KCL_OPENCL_H */

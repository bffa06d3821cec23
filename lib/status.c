/* status.c: status names, error messages on the context, OpenCL error names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Messages of calls that have no context to keep them (kcl_context_create,
 * kcl_device_list): one slot per thread, so threads never see each other's. */
static _Thread_local char thread_errmsg[8192];

const char *kcl_status_name(kcl_status status)
{
    switch (status) {
#define KCL_NAME_CASE_(name, text) case KCL_##name: return "KCL_" #name;
    KCL_STATUS_LIST(KCL_NAME_CASE_)
#undef KCL_NAME_CASE_
    default: return "KCL_UNKNOWN_STATUS";
    }
}

const char *kcl_status_string(kcl_status status)
{
    switch (status) {
#define KCL_TEXT_CASE_(name, text) case KCL_##name: return text;
    KCL_STATUS_LIST(KCL_TEXT_CASE_)
#undef KCL_TEXT_CASE_
    default: return "unknown status";
    }
}

const char *kcl_errmsg(const kcl_context *ctx)
{
    if (!ctx)
        return thread_errmsg;
    return ctx->errmsg ? ctx->errmsg : "";
}

kcl_status kcl__fail(kcl_context *ctx, kcl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!ctx) {
        vsnprintf(thread_errmsg, sizeof thread_errmsg, fmt, ap);
        va_end(ap);
        return status;
    }
    va_list measure;
    va_copy(measure, ap);
    int len = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    /* An injected fault says so in the first message it causes. */
    size_t note = strlen(ctx->faults.note);
    char *msg = len >= 0 ? malloc((size_t)len + note + 1) : NULL;
    if (msg) {
        vsnprintf(msg, (size_t)len + 1, fmt, ap);
        memcpy(msg + len, ctx->faults.note, note + 1);
        ctx->faults.note[0] = '\0';
        free(ctx->errmsg);
        ctx->errmsg = msg;
    }
    /* Without memory for the message the previous one stays: the status still
     * tells the caller what kind of failure it was. */
    va_end(ap);
    return status;
}

kcl_status kcl__fail_cl(kcl_context *ctx, cl_int err, const char *call)
{
    kcl_status status = (err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
                         err == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                            ? KCL_ERR_MEMORY : KCL_ERR_OPENCL;
    return kcl__fail(ctx, status, "%s failed: %s (%d)", call, kcl__cl_error_name(err), (int)err);
}

const char *kcl__cl_error_name(cl_int err)
{
    switch (err) {
#define CASE(e) case e: return #e;
    CASE(CL_SUCCESS) CASE(CL_DEVICE_NOT_FOUND) CASE(CL_DEVICE_NOT_AVAILABLE)
    CASE(CL_COMPILER_NOT_AVAILABLE) CASE(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    CASE(CL_OUT_OF_RESOURCES) CASE(CL_OUT_OF_HOST_MEMORY)
    CASE(CL_PROFILING_INFO_NOT_AVAILABLE) CASE(CL_MEM_COPY_OVERLAP)
    CASE(CL_IMAGE_FORMAT_MISMATCH) CASE(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    CASE(CL_BUILD_PROGRAM_FAILURE) CASE(CL_MAP_FAILURE)
    CASE(CL_MISALIGNED_SUB_BUFFER_OFFSET) CASE(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    CASE(CL_COMPILE_PROGRAM_FAILURE) CASE(CL_LINKER_NOT_AVAILABLE)
    CASE(CL_LINK_PROGRAM_FAILURE) CASE(CL_DEVICE_PARTITION_FAILED)
    CASE(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) CASE(CL_INVALID_VALUE)
    CASE(CL_INVALID_DEVICE_TYPE) CASE(CL_INVALID_PLATFORM) CASE(CL_INVALID_DEVICE)
    CASE(CL_INVALID_CONTEXT) CASE(CL_INVALID_QUEUE_PROPERTIES)
    CASE(CL_INVALID_COMMAND_QUEUE) CASE(CL_INVALID_HOST_PTR) CASE(CL_INVALID_MEM_OBJECT)
    CASE(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) CASE(CL_INVALID_IMAGE_SIZE)
    CASE(CL_INVALID_SAMPLER) CASE(CL_INVALID_BINARY) CASE(CL_INVALID_BUILD_OPTIONS)
    CASE(CL_INVALID_PROGRAM) CASE(CL_INVALID_PROGRAM_EXECUTABLE)
    CASE(CL_INVALID_KERNEL_NAME) CASE(CL_INVALID_KERNEL_DEFINITION) CASE(CL_INVALID_KERNEL)
    CASE(CL_INVALID_ARG_INDEX) CASE(CL_INVALID_ARG_VALUE) CASE(CL_INVALID_ARG_SIZE)
    CASE(CL_INVALID_KERNEL_ARGS) CASE(CL_INVALID_WORK_DIMENSION)
    CASE(CL_INVALID_WORK_GROUP_SIZE) CASE(CL_INVALID_WORK_ITEM_SIZE)
    CASE(CL_INVALID_GLOBAL_OFFSET) CASE(CL_INVALID_EVENT_WAIT_LIST) CASE(CL_INVALID_EVENT)
    CASE(CL_INVALID_OPERATION) CASE(CL_INVALID_GL_OBJECT) CASE(CL_INVALID_BUFFER_SIZE)
    CASE(CL_INVALID_MIP_LEVEL) CASE(CL_INVALID_GLOBAL_WORK_SIZE) CASE(CL_INVALID_PROPERTY)
    CASE(CL_INVALID_IMAGE_DESCRIPTOR) CASE(CL_INVALID_COMPILER_OPTIONS)
    CASE(CL_INVALID_LINKER_OPTIONS) CASE(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef CASE
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

const char *kcl__shape_str(int rank, const int64_t *shape, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

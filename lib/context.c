/* context.c: creating a context on a chosen device, and releasing it whole.
 * kcl_context_from_cl (interop.c) shares kcl__context_new and _ready. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tuning.h"

static char *dup_or_null(const char *s)
{
    if (!s || !*s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static const char *type_name(unsigned type)
{
    if (type & KCL_DEVICE_GPU) return "GPU";
    if (type & KCL_DEVICE_CPU) return "CPU";
    if (type & KCL_DEVICE_ACCELERATOR) return "accelerator";
    return "other";
}

/* "no OpenCL device matches 'x'; the devices are: 0:0 name (vendor, CPU); ..." */
static kcl_status fail_no_match(const char *choice, const kcl_device_info *list, size_t count)
{
    char buf[4096];
    size_t used = (size_t)snprintf(buf, sizeof buf, "no OpenCL device matches '%s'; ",
                                   choice ? choice : "(default)");
    if (count == 0)
        used += (size_t)snprintf(buf + used, sizeof buf - used,
                                 "no OpenCL platform or device is installed");
    else
        used += (size_t)snprintf(buf + used, sizeof buf - used, "the devices are:");
    for (size_t i = 0; i < count && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "\n  %d:%d  %s  (%s, %s%s)",
                                 list[i].platform_index, list[i].device_index, list[i].name,
                                 list[i].platform_name, type_name(list[i].type),
                                 list[i].simulator ? ", simulator" : "");
    return kcl__fail(NULL, KCL_ERR_NO_DEVICE, "%s", buf);
}

static char *default_cache_dir(void)
{
    const char *env = getenv("KCL_CACHE_DIR");
    if (env && *env)
        return dup_or_null(env);
    const char *base = getenv("XDG_CACHE_HOME");
    const char *suffix = "/kcl";
    if (!base || !*base) {
        base = getenv("HOME");
        suffix = "/.cache/kcl";
    }
    if (!base || !*base)
        return NULL;
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *dir = malloc(n);
    if (dir)
        snprintf(dir, n, "%s%s", base, suffix);
    return dir;
}

/* The engine asked for: the option, else $KCL_GEMM; AUTO is resolved once
 * the device is known. */
static kcl_status gemm_option(kcl_context *ctx, const kcl_context_options *opt)
{
    const char *env = getenv("KCL_GEMM");
    ctx->gemm = opt->gemm;
    if (opt->gemm < KCL_GEMM_AUTO || opt->gemm > KCL_GEMM_KCL)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_context_options.gemm: unknown engine %d",
                         (int)opt->gemm);
    if (ctx->gemm == KCL_GEMM_AUTO && env && *env) {
        if (strcmp(env, "clblast") == 0)
            ctx->gemm = KCL_GEMM_CLBLAST;
        else if (strcmp(env, "kcl") == 0)
            ctx->gemm = KCL_GEMM_KCL;
        else
            return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                             "$KCL_GEMM is '%s': expected 'clblast' or 'kcl'", env);
    }
    if (ctx->offline && opt->gemm == KCL_GEMM_CLBLAST)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                         "offline mode multiplies with kcl's kernel only: CLBlast compiles "
                         "its kernels at run time");
    if (ctx->offline)
        ctx->gemm = KCL_GEMM_KCL;   /* whatever $KCL_GEMM prefers */
    return KCL_OK;
}

static kcl_status apply_options(kcl_context *ctx, const kcl_context_options *opt)
{
    if (!opt->disable_disk_cache)
        ctx->cache_dir = opt->cache_dir ? dup_or_null(opt->cache_dir) : default_cache_dir();
    const char *offline = getenv("KCL_OFFLINE");
    ctx->offline = opt->offline || (offline && strcmp(offline, "1") == 0);
    if (ctx->offline) {
        const char *dir = opt->binary_dir ? opt->binary_dir : getenv("KCL_BINARY_DIR");
        if (!dir || !*dir)
            return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                             "offline mode needs a directory of precompiled binaries: set "
                             "kcl_context_options.binary_dir or $KCL_BINARY_DIR");
        ctx->binary_dir = dup_or_null(dir);
    }
    ctx->kernel_dir = dup_or_null(getenv("KCL_KERNEL_DIR"));
    return gemm_option(ctx, opt);
}

static kcl_status open_device(kcl_context *ctx, const kcl_context_options *opt)
{
    kcl_device_info *list;
    size_t count;
    kcl_status st = kcl_device_list(&list, &count);
    if (st)
        return st;
    const char *choice = opt->device ? opt->device : getenv("KCL_DEVICE");
    int index = kcl__device_choose(list, count, choice);
    if (index < 0) {
        st = fail_no_match(choice, list, count);
        kcl_device_list_free(list);
        return st;
    }
    ctx->info = list[index];
    kcl_device_list_free(list);
    st = kcl__device_handles(&ctx->info, &ctx->platform, &ctx->device);
    if (st)
        return st;
    /* Every context holds a reference on its device, so kcl_context_free
     * releases it alike (a no-op for root devices; kcl_context_from_cl may be
     * given a sub-device). */
    clRetainDevice(ctx->device);

    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform,
                                      0};
    cl_int err;
    ctx->cl = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return kcl__fail_cl(NULL, err, "clCreateContext");
    ctx->queue = clCreateCommandQueue(ctx->cl, ctx->device, 0, &err);
    if (err != CL_SUCCESS)
        return kcl__fail_cl(NULL, err, "clCreateCommandQueue");
    return KCL_OK;
}

kcl_status kcl__context_new(const kcl_context_options *options, kcl_context **out)
{
    *out = NULL;
    kcl_context_options defaults = {0};
    kcl_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "out of host memory creating a context");
    kcl__blas_context_created();   /* kcl_context_free, on every path, counts it back */
    kcl_status st = apply_options(ctx, options ? options : &defaults);
    if (!st)
        st = kcl__faults_from_env(ctx);
    if (st) {
        kcl_context_free(ctx);
        return st;
    }
    *out = ctx;
    return KCL_OK;
}

kcl_status kcl__context_ready(kcl_context *ctx)
{
    kcl_gemm_engine measured;   /* kcl-tune's choice for the device, if any */
    kcl__tuning_apply(ctx, &measured);   /* tuned CLBlast parameters; never fails */
    /* 64 items: a multiple of GPUs' warps and wavefronts, and on PoCL enough
     * for its vectorized work-item loops (64 and 256 measured alike). */
    size_t max_group = 0;
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group,
                    NULL);
    ctx->group_1d = max_group == 0 ? 1 : max_group < 64 ? max_group : 64;
    kcl__gemm_packing(ctx, 0, 0);
    kcl__gemm_tile_rows(ctx, 0);
    ctx->vector_loops = (ctx->info.type & KCL_DEVICE_CPU) && !ctx->info.simulator;
    if (ctx->gemm == KCL_GEMM_AUTO && measured != KCL_GEMM_AUTO)
        ctx->gemm = measured;
    if (ctx->gemm == KCL_GEMM_AUTO)
        ctx->gemm = ctx->offline || (ctx->info.type & KCL_DEVICE_CPU) ? KCL_GEMM_KCL
                                                                       : KCL_GEMM_CLBLAST;
    return KCL_OK;
}

kcl_status kcl_context_create(kcl_context **out, const kcl_context_options *options)
{
    if (!out)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_context_create: NULL out-pointer");
    *out = NULL;
    kcl_context_options defaults = {0};
    kcl_context *ctx;
    kcl_status st = kcl__context_new(options, &ctx);
    if (st)
        return st;
    st = open_device(ctx, options ? options : &defaults);
    if (!st)
        st = kcl__context_ready(ctx);
    if (st) {
        kcl_context_free(ctx);
        return st;
    }
    *out = ctx;
    return KCL_OK;
}

void kcl_context_free(kcl_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->queue)
        clFinish(ctx->queue);
    kcl__tapes_free(ctx);
    kcl__syms_free(ctx);
    kcl__names_free(ctx);
    kcl__tensors_free(ctx);
    kcl__pool_free(ctx);
    kcl__programs_free(ctx);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->cl)
        clReleaseContext(ctx->cl);
    if (ctx->device)
        clReleaseDevice(ctx->device);
    kcl__blas_context_freed();
    free(ctx->cache_dir);
    free(ctx->binary_dir);
    free(ctx->kernel_dir);
    free(ctx->errmsg);
    free(ctx);
}

kcl_gemm_engine kcl_context_gemm(const kcl_context *ctx)
{
    return ctx ? ctx->gemm : KCL_GEMM_AUTO;
}

const kcl_device_info *kcl_context_device(const kcl_context *ctx)
{
    return ctx ? &ctx->info : NULL;
}

kcl_status kcl_context_finish(kcl_context *ctx)
{
    if (!ctx)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_context_finish: NULL context");
    ctx->queue_stats.host_waits++;
    cl_int err = clFinish(ctx->queue);
    return err ? kcl__fail_cl(ctx, err, "clFinish") : KCL_OK;
}

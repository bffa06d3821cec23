/* program.c: kernel programs, built once per context.
 *
 * A program is found, in order: in the context's memory; in the disk cache
 * (or, in offline mode, only in the directory of precompiled binaries); by
 * compiling its source. Sources are the cl/ files embedded at build time, or the
 * files of $KCL_KERNEL_DIR. A source's first lines may carry build options for
 * it in a comment: `// kcl-options: -cl-fp32-correctly-rounded-divide-sqrt`.
 * Every program also gets the context's device-dependent defines
 * (KCL_GEMM_ROWS, see gemm_kcl.c; KCL_VECTOR_LOOPS, see internal.h), which
 * are part of the cache key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char base_options[] = "-cl-std=CL1.2";

typedef struct named_kernel {
    char *name;
    cl_kernel kernel;
} named_kernel;

struct kcl_program {
    char *name;
    cl_program program;
    named_kernel *kernels;
    size_t nkernels;
    kcl_program *next;
};

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1))) {
        if (fread(text, 1, (size_t)len, f) == (size_t)len) {
            text[len] = '\0';
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

/* The program's source, malloc'ed. */
static kcl_status load_source(kcl_context *ctx, const char *name, char **out)
{
    *out = NULL;
    if (ctx->kernel_dir) {
        size_t n = strlen(ctx->kernel_dir) + strlen(name) + 8;
        char *path = malloc(n);
        if (!path)
            return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
        snprintf(path, n, "%s/%s.cl", ctx->kernel_dir, name);
        *out = read_text_file(path);
        kcl_status st = *out ? KCL_OK
                             : kcl__fail(ctx, KCL_ERR_IO,
                                         "cannot read kernel source '%s' ($KCL_KERNEL_DIR)",
                                         path);
        free(path);
        return st;
    }
    for (size_t i = 0; i < kcl__kernel_source_count; i++) {
        if (strcmp(kcl__kernel_sources[i].name, name) == 0) {
            size_t n = strlen(kcl__kernel_sources[i].text) + 1;
            *out = malloc(n);
            if (!*out)
                return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
            memcpy(*out, kcl__kernel_sources[i].text, n);
            return KCL_OK;
        }
    }
    return kcl__fail(ctx, KCL_ERR_NAME, "no kernel program named '%s'", name);
}

/* Base options, the context's defines, and those of the source's
 * "// kcl-options:" line. */
static void build_options(const kcl_context *ctx, const char *source, char *buf, size_t size)
{
    static const char tag[] = "// kcl-options:";
    snprintf(buf, size, "%s -DKCL_GEMM_ROWS=%d -DKCL_VECTOR_LOOPS=%d", base_options,
             ctx->gemm_rows, ctx->vector_loops);
    const char *p = strstr(source, tag);
    if (!p)
        return;
    p += sizeof tag - 1;
    size_t len = strcspn(p, "\r\n");
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, " %.*s", (int)len, p);
}

static kcl_status build_log_error(kcl_context *ctx, cl_program program, cl_int err,
                                  const char *what, const char *name)
{
    size_t size = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) ==
            CL_SUCCESS &&
        (log = malloc(size + 1))) {
        if (clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, size, log,
                                  NULL) != CL_SUCCESS)
            size = 0;
        log[size] = '\0';
    }
    kcl_status st = kcl__fail(ctx, KCL_ERR_BUILD, "%s of kernel program '%s' failed on %s (%s):\n%s",
                              what, name, ctx->info.name, kcl__cl_error_name(err),
                              log && *log ? log : "(no build log)");
    free(log);
    return st;
}

static kcl_status from_source(kcl_context *ctx, const char *name, const char *source,
                              const char *options, cl_program *out)
{
    cl_int err;
    cl_program program = clCreateProgramWithSource(ctx->cl, 1, &source, NULL, &err);
    if (err != CL_SUCCESS)
        return kcl__fail_cl(ctx, err, "clCreateProgramWithSource");
    err = kcl__fault(ctx, KCL_FAULT_BUILD);
    if (!err)
        err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        kcl_status st = build_log_error(ctx, program, err, "compilation", name);
        clReleaseProgram(program);
        return st;
    }
    *out = program;
    return KCL_OK;
}

static kcl_status from_binary(kcl_context *ctx, const char *name, const unsigned char *binary,
                              size_t size, const char *options, cl_program *out)
{
    cl_int err, binary_status = CL_SUCCESS;
    cl_program program = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &size, &binary,
                                                   &binary_status, &err);
    if (err != CL_SUCCESS || binary_status != CL_SUCCESS) {
        if (program)
            clReleaseProgram(program);
        return kcl__fail(ctx, KCL_ERR_BUILD, "the device refused the binary of '%s': %s",
                         name, kcl__cl_error_name(err ? err : binary_status));
    }
    err = kcl__fault(ctx, KCL_FAULT_BUILD);
    if (!err)
        err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        kcl_status st = build_log_error(ctx, program, err, "loading the binary", name);
        clReleaseProgram(program);
        return st;
    }
    *out = program;
    return KCL_OK;
}

/* The device binary of a built program, malloc'ed. */
static kcl_status program_binary(kcl_context *ctx, cl_program program, unsigned char **out,
                                 size_t *size)
{
    *out = NULL;
    cl_uint ndev = 0;
    cl_int err = clGetProgramInfo(program, CL_PROGRAM_NUM_DEVICES, sizeof ndev, &ndev, NULL);
    if (err != CL_SUCCESS || ndev == 0)
        return kcl__fail_cl(ctx, err, "clGetProgramInfo(CL_PROGRAM_NUM_DEVICES)");
    cl_device_id *devices = calloc(ndev, sizeof *devices);
    size_t *sizes = calloc(ndev, sizeof *sizes);
    unsigned char **binaries = calloc(ndev, sizeof *binaries);
    kcl_status st = KCL_OK;
    if (!devices || !sizes || !binaries) {
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
        goto done;
    }
    clGetProgramInfo(program, CL_PROGRAM_DEVICES, ndev * sizeof *devices, devices, NULL);
    err = clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, ndev * sizeof *sizes, sizes, NULL);
    if (err != CL_SUCCESS) {
        st = kcl__fail_cl(ctx, err, "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)");
        goto done;
    }
    cl_uint mine = 0;
    for (cl_uint i = 0; i < ndev; i++)
        if (devices[i] == ctx->device)
            mine = i;
    if (sizes[mine] == 0) {
        st = kcl__fail(ctx, KCL_ERR_OPENCL, "the driver gives no binary for '%s'", ctx->info.name);
        goto done;
    }
    for (cl_uint i = 0; i < ndev; i++)
        if (sizes[i] && !(binaries[i] = malloc(sizes[i]))) {
            st = kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
            goto done;
        }
    err = clGetProgramInfo(program, CL_PROGRAM_BINARIES, ndev * sizeof *binaries, binaries, NULL);
    if (err != CL_SUCCESS) {
        st = kcl__fail_cl(ctx, err, "clGetProgramInfo(CL_PROGRAM_BINARIES)");
        goto done;
    }
    *out = binaries[mine];
    *size = sizes[mine];
    binaries[mine] = NULL;
done:
    for (cl_uint i = 0; binaries && i < ndev; i++)
        free(binaries[i]);
    free(binaries);
    free(sizes);
    free(devices);
    return st;
}

/* Offline mode: the precompiled binary or a clear error naming what is missing. */
static kcl_status load_offline(kcl_context *ctx, const char *name, const kcl_cache_key *key,
                               const char *options, cl_program *out)
{
    unsigned char *binary;
    size_t size;
    int found = kcl__cache_read(ctx->binary_dir, key, &binary, &size);
    if (found != 1)
        return kcl__fail(ctx, KCL_ERR_OFFLINE,
                         "offline mode: %s precompiled binary for kernel program '%s' on %s "
                         "(expected %s/%s); run kcl-precompile for this device",
                         found == 0 ? "no" : "a corrupt or stale", name, ctx->info.name,
                         ctx->binary_dir, key->file);
    kcl_status st = from_binary(ctx, name, binary, size, options, out);
    free(binary);
    if (st == KCL_OK)
        ctx->stats.from_disk++;
    return st ? KCL_ERR_OFFLINE : KCL_OK;
}

/* The disk cache: 1 when loaded, 0 when it must be compiled. Bad entries go. */
static int load_cached(kcl_context *ctx, const char *name, const kcl_cache_key *key,
                       const char *options, cl_program *out)
{
    unsigned char *binary;
    size_t size;
    int found = kcl__cache_read(ctx->cache_dir, key, &binary, &size);
    if (found == 1) {
        kcl_status st = from_binary(ctx, name, binary, size, options, out);
        free(binary);
        if (st == KCL_OK) {
            ctx->stats.from_disk++;
            return 1;
        }
    }
    if (found != 0) {
        ctx->stats.cache_rejected++;
        kcl__cache_remove(ctx->cache_dir, key);
    }
    return 0;
}

static void store_cached(kcl_context *ctx, const kcl_cache_key *key, cl_program program)
{
    unsigned char *binary;
    size_t size;
    if (program_binary(ctx, program, &binary, &size) != KCL_OK)
        return;
    /* A cache directory that cannot be written only turns the disk cache off. */
    if (kcl__cache_write(ctx, ctx->cache_dir, key, binary, size) != KCL_OK) {
        free(ctx->cache_dir);
        ctx->cache_dir = NULL;
    }
    free(binary);
}

static kcl_status make_program(kcl_context *ctx, const char *name, const char *given,
                               cl_program *out)
{
    char *source = NULL;
    kcl_status st = KCL_OK;
    if (given) {
        size_t n = strlen(given) + 1;
        if ((source = malloc(n)))
            memcpy(source, given, n);
        else
            st = kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    } else {
        st = load_source(ctx, name, &source);
    }
    if (st)
        return st;
    char options[512];
    build_options(ctx, source, options, sizeof options);
    kcl_cache_key key;
    kcl__cache_key(ctx, name, source, options, &key);
    if (ctx->offline && given) {
        st = kcl__fail(ctx, KCL_ERR_OFFLINE,
                       "offline mode: kernel program '%s' is built from source at run time "
                       "(a Lambda layer), which offline mode cannot do", name);
    } else if (ctx->offline) {
        st = load_offline(ctx, name, &key, options, out);
    } else if (!ctx->cache_dir || !load_cached(ctx, name, &key, options, out)) {
        st = from_source(ctx, name, source, options, out);
        if (st == KCL_OK) {
            ctx->stats.compiled++;
            if (ctx->cache_dir)
                store_cached(ctx, &key, *out);
        }
    }
    free(source);
    return st;
}

static kcl_status find_program_source(kcl_context *ctx, const char *name, const char *source,
                                      kcl_program **out)
{
    for (kcl_program *p = ctx->programs; p; p = p->next)
        if (strcmp(p->name, name) == 0) {
            *out = p;
            return KCL_OK;
        }
    kcl_program *p = calloc(1, sizeof *p);
    size_t len = strlen(name) + 1;
    if (!p || !(p->name = malloc(len))) {
        free(p);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    }
    memcpy(p->name, name, len);
    double start = kcl__now();
    kcl_status st = make_program(ctx, name, source, &p->program);
    ctx->stats.seconds += kcl__now() - start;
    if (st) {
        free(p->name);
        free(p);
        return st;
    }
    ctx->stats.programs++;
    p->next = ctx->programs;
    ctx->programs = p;
    *out = p;
    return KCL_OK;
}

static kcl_status find_program(kcl_context *ctx, const char *name, kcl_program **out)
{
    return find_program_source(ctx, name, NULL, out);
}

static kcl_status kernel_of(kcl_context *ctx, const char *program, const char *source,
                            const char *kernel, cl_kernel *out)
{
    kcl_program *p;
    kcl_status st = find_program_source(ctx, program, source, &p);
    if (st)
        return st;
    for (size_t i = 0; i < p->nkernels; i++)
        if (strcmp(p->kernels[i].name, kernel) == 0) {
            *out = p->kernels[i].kernel;
            return KCL_OK;
        }
    named_kernel *grown = realloc(p->kernels, (p->nkernels + 1) * sizeof *grown);
    if (!grown)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    p->kernels = grown;
    size_t len = strlen(kernel) + 1;
    char *copy = malloc(len);
    if (!copy)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    memcpy(copy, kernel, len);
    cl_int err;
    cl_kernel k = clCreateKernel(p->program, kernel, &err);
    if (err != CL_SUCCESS) {
        free(copy);
        return kcl__fail(ctx, KCL_ERR_OPENCL, "clCreateKernel('%s' in program '%s') failed: %s",
                         kernel, program, kcl__cl_error_name(err));
    }
    p->kernels[p->nkernels++] = (named_kernel){copy, k};
    *out = k;
    return KCL_OK;
}

kcl_status kcl__kernel(kcl_context *ctx, const char *program, const char *kernel, cl_kernel *out)
{
    return kernel_of(ctx, program, NULL, kernel, out);
}

kcl_status kcl__kernel_from_source(kcl_context *ctx, const char *program, const char *source,
                                   const char *kernel, cl_kernel *out)
{
    return kernel_of(ctx, program, source, kernel, out);
}

void kcl__programs_free(kcl_context *ctx)
{
    kcl_program *p = ctx->programs;
    while (p) {
        kcl_program *next = p->next;
        for (size_t i = 0; i < p->nkernels; i++) {
            clReleaseKernel(p->kernels[i].kernel);
            free(p->kernels[i].name);
        }
        free(p->kernels);
        clReleaseProgram(p->program);
        free(p->name);
        free(p);
        p = next;
    }
    ctx->programs = NULL;
}

kcl_status kcl_build_all(kcl_context *ctx)
{
    if (!ctx)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_build_all: NULL context");
    for (size_t i = 0; i < kcl__kernel_source_count; i++) {
        kcl_program *p;
        kcl_status st = find_program(ctx, kcl__kernel_sources[i].name, &p);
        if (st)
            return st;
    }
    return KCL_OK;
}

kcl_status kcl_build_stats_get(const kcl_context *ctx, kcl_build_stats *stats)
{
    if (!ctx || !stats)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_build_stats_get: NULL argument");
    *stats = ctx->stats;
    return KCL_OK;
}

kcl_status kcl_precompile(kcl_context *ctx, const char *dir)
{
    if (!ctx || !dir)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_precompile: NULL argument");
    if (ctx->offline)
        return kcl__fail(ctx, KCL_ERR_STATE, "kcl_precompile needs a compiler: not in offline mode");
    for (size_t i = 0; i < kcl__kernel_source_count; i++) {
        const char *name = kcl__kernel_sources[i].name;
        kcl_program *p;
        kcl_status st = find_program(ctx, name, &p);
        if (st)
            return st;
        char *source;
        if ((st = load_source(ctx, name, &source)))
            return st;
        char options[512];
        build_options(ctx, source, options, sizeof options);
        kcl_cache_key key;
        kcl__cache_key(ctx, name, source, options, &key);
        free(source);
        unsigned char *binary;
        size_t size;
        if ((st = program_binary(ctx, p->program, &binary, &size)))
            return st;
        st = kcl__cache_write(ctx, dir, &key, binary, size);
        free(binary);
        if (st)
            return st;
    }
    return KCL_OK;
}

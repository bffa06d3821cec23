/* internal.h: structures and helpers shared by kcl's C sources; never installed. */
#ifndef KCL_INTERNAL_H
#define KCL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdarg.h>
#include <stdbool.h>

#include "kcl.h"

/* ----------------------------------------------------------------- errors -- */

/* Records a formatted message on ctx (or this thread's context-less slot when
 * ctx is NULL) and returns status, so that failures read `return kcl__fail(...)`. */
kcl_status kcl__fail(kcl_context *ctx, kcl_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same for a failed OpenCL call: "<call>: CL_OUT_OF_RESOURCES (-5)". */
kcl_status kcl__fail_cl(kcl_context *ctx, cl_int err, const char *call);
const char *kcl__cl_error_name(cl_int err);
/* Writes "[d0, d1, ...]" into buf. */
const char *kcl__shape_str(int rank, const int64_t *shape, char *buf, size_t size);

/* ---------------------------------------------------------------- devices -- */

/* Resolves a device choice (see kcl_context_options.device) against the list;
 * returns the index into list or -1. */
int kcl__device_choose(const kcl_device_info *list, size_t count, const char *choice);
kcl_status kcl__device_handles(const kcl_device_info *info, cl_platform_id *platform,
                               cl_device_id *device);
kcl_status kcl__device_describe(cl_platform_id platform, cl_device_id device,
                                kcl_device_info *info);

/* --------------------------------------------------------------- programs -- */

/* One kernel file of cl/, embedded at build time (lib/embed.c writes the table). */
typedef struct kcl_kernel_source {
    const char *name;            /* file name without ".cl" */
    const char *text;
} kcl_kernel_source;

extern const kcl_kernel_source kcl__kernel_sources[];
extern const size_t kcl__kernel_source_count;

typedef struct kcl_program kcl_program;   /* a built program with its kernels */

/* The kernel `kernel` of program file `program`, building the program on first
 * use (memory cache, then disk cache, then the compiler). The kernel object
 * belongs to the context. */
kcl_status kcl__kernel(kcl_context *ctx, const char *program, const char *kernel,
                       cl_kernel *out);
void kcl__programs_free(kcl_context *ctx);

/* Disk cache of program binaries (cache.c). The key text names everything a
 * binary depends on; the file is named after its hash. */
typedef struct kcl_cache_key {
    char text[1024];
    char file[64];               /* "<program>-<16 hex digits>.kclbin" */
} kcl_cache_key;

void kcl__cache_key(const kcl_context *ctx, const char *program, const char *source,
                    const char *options, kcl_cache_key *key);
/* Reads an entry. Returns 1 and a malloc'ed binary when the file exists and is
 * intact and its key matches; 0 when absent; -1 when present but corrupt,
 * truncated or stale. */
int kcl__cache_read(const char *dir, const kcl_cache_key *key, unsigned char **binary,
                    size_t *size);
/* Writes an entry atomically (temporary file, then rename). */
kcl_status kcl__cache_write(kcl_context *ctx, const char *dir, const kcl_cache_key *key,
                            const unsigned char *binary, size_t size);
void kcl__cache_remove(const char *dir, const kcl_cache_key *key);
/* Creates dir and its parents; 0 on success. */
int kcl__mkdirs(const char *dir);

uint64_t kcl__fnv1a(uint64_t hash, const void *data, size_t size);
double kcl__now(void);

/* ---------------------------------------------------------------- context -- */

struct kcl_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    kcl_device_info info;

    char *errmsg;                /* last failure, malloc'ed; NULL: none */

    char *cache_dir;             /* NULL: disk cache off */
    bool offline;
    char *binary_dir;            /* offline mode's directory */
    char *kernel_dir;            /* $KCL_KERNEL_DIR: read .cl files from here */

    kcl_program *programs;       /* built programs, a list */
    kcl_build_stats stats;

    kcl_tensor *tensors;         /* every live tensor, so freeing the context frees them */
};

/* ---------------------------------------------------------------- tensors -- */

/* Device memory shared by a tensor and its reshaped views. */
typedef struct kcl_storage {
    cl_mem mem;                  /* NULL for an empty tensor */
    size_t bytes;
    int refs;
} kcl_storage;

struct kcl_tensor {
    kcl_context *ctx;
    kcl_storage *storage;
    size_t offset;               /* in elements */
    int rank;
    int64_t shape[KCL_MAX_RANK];
    int64_t size;
    kcl_tensor *prev, *next;     /* in ctx->tensors */
};

void kcl__tensors_free(kcl_context *ctx);
/* Element count of a shape, or -1 when a dimension is negative or the byte
 * size overflows size_t. */
int64_t kcl__shape_size(int rank, const int64_t *shape);

/* ------------------------------------------------------------ execution -- */

/* Enqueues a 1-D kernel over n work-items (nothing when n is 0). */
kcl_status kcl__launch_1d(kcl_context *ctx, cl_kernel kernel, size_t n, const char *name);
/* t *= alpha on the device; alpha 0 writes zeros whatever t held. */
kcl_status kcl__scale(kcl_context *ctx, kcl_tensor *t, float alpha);
/* A failed CLBlast call as a status and message. */
kcl_status kcl__blas_fail(kcl_context *ctx, int code, const char *call);

#endif

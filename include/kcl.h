/*
 * kcl.h: the Keras way of building and training neural networks, in C, on any
 * OpenCL device.
 *
 * Example usage:
 *
 *     kcl_context *ctx;
 *     if (kcl_context_create(&ctx, NULL) != KCL_OK) {     // device from $KCL_DEVICE
 *         fprintf(stderr, "%s\n", kcl_errmsg(NULL));
 *         return 1;
 *     }
 *     int64_t shape[2] = {2, 3};
 *     float host[6] = {1, 2, 3, 4, 5, 6};
 *     kcl_tensor *a;
 *     kcl_tensor_from_host(ctx, 2, shape, host, &a);
 *     ...
 *     kcl_context_free(ctx);                              // frees a too
 *
 * Conventions
 *  - Every fallible call returns a kcl_status. KCL_OK is zero. On failure the
 *    context keeps a readable message: kcl_errmsg(ctx). When no context exists
 *    yet (kcl_context_create failed), kcl_errmsg(NULL) gives this thread's last
 *    such message.
 *  - Handles are opaque. Constructors take an out-pointer as last argument; free
 *    functions accept NULL.
 *  - A context owns everything created on it: kcl_context_free releases its
 *    tensors, programs and queue. Freeing a tensor earlier is allowed.
 *  - Thread safety: separate contexts may be used from separate threads at the
 *    same time. One context (and everything on it) must be used by one thread at
 *    a time.
 *  - Option structs: a zero-filled struct (or NULL) means the defaults.
 */
#ifndef KCL_H
#define KCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status -- */

/* X(name, description): the status codes and their strings come from this one list. */
#define KCL_STATUS_LIST(X)                                                      \
    X(OK,              "success")                                               \
    X(ERR_ARGUMENT,    "invalid argument")                                      \
    X(ERR_SHAPE,       "incompatible shape")                                    \
    X(ERR_NO_DEVICE,   "no matching OpenCL device")                             \
    X(ERR_OPENCL,      "OpenCL call failed")                                    \
    X(ERR_BUILD,       "kernel build failed")                                   \
    X(ERR_OFFLINE,     "precompiled kernel binary missing (offline mode)")      \
    X(ERR_MEMORY,      "out of memory")                                         \
    X(ERR_IO,          "file input/output failed")                              \
    X(ERR_FORMAT,      "malformed data or file")                                \
    X(ERR_BLAS,        "CLBlast call failed")                                   \
    X(ERR_NAME,        "unknown name")                                          \
    X(ERR_STATE,       "call not valid in the current state")

typedef enum kcl_status {
#define KCL_STATUS_ENUM_(name, text) KCL_##name,
    KCL_STATUS_LIST(KCL_STATUS_ENUM_)
#undef KCL_STATUS_ENUM_
    KCL_STATUS_COUNT_
} kcl_status;

/* "KCL_ERR_SHAPE" and so on; never NULL. */
const char *kcl_status_name(kcl_status status);
/* A short description of the code ("incompatible shape"); never NULL. */
const char *kcl_status_string(kcl_status status);

/* ---------------------------------------------------------------- devices -- */

typedef enum kcl_device_type {
    KCL_DEVICE_CPU = 1,
    KCL_DEVICE_GPU = 2,
    KCL_DEVICE_ACCELERATOR = 4,
    KCL_DEVICE_OTHER = 8
} kcl_device_type;

typedef struct kcl_device_info {
    int platform_index;          /* as in "P:D" device choices */
    int device_index;
    char platform_name[128];
    char platform_vendor[128];
    char name[128];
    char vendor[128];
    char driver_version[64];
    char opencl_c_version[64];
    unsigned type;               /* kcl_device_type bits as the device reports them */
    int simulator;               /* claims CPU, GPU and accelerator at once (Oclgrind) */
    unsigned compute_units;
    uint64_t global_memory;      /* bytes */
    uint64_t max_allocation;     /* bytes */
    int fp16;                    /* cl_khr_fp16 */
    int fp64;                    /* cl_khr_fp64 */
} kcl_device_info;

/* Lists every device of every OpenCL platform. *list is malloc'ed; release it
 * with kcl_device_list_free. An empty list (no platform) is KCL_OK with
 * *count == 0. On failure kcl_errmsg(NULL) says why. */
kcl_status kcl_device_list(kcl_device_info **list, size_t *count);
void kcl_device_list_free(kcl_device_info *list);

/* ---------------------------------------------------------------- context -- */

typedef struct kcl_context kcl_context;

typedef struct kcl_context_options {
    /* Which device: NULL means $KCL_DEVICE, and when that is unset the first
     * GPU, else the first CPU, else the first accelerator (simulators such as
     * Oclgrind only when nothing else exists). A choice is one of:
     *   "P:D"                       platform P, device D (indices from 0)
     *   "cpu" | "gpu" | "accelerator"  the first device of that type
     *   any other text              case-insensitive substring of the device,
     *                               vendor or platform name ("oclgrind", "pocl")
     */
    const char *device;
    /* Directory of the on-disk kernel binary cache. NULL: $KCL_CACHE_DIR, else
     * $XDG_CACHE_HOME/kcl, else $HOME/.cache/kcl. */
    const char *cache_dir;
    int disable_disk_cache;      /* nonzero: build in memory only */
    /* Offline mode (FPGA toolchains): load kernels only from precompiled
     * binaries in binary_dir and never compile source. Also switched on by
     * $KCL_OFFLINE=1, with $KCL_BINARY_DIR naming the directory. */
    int offline;
    const char *binary_dir;
} kcl_context_options;

/* Creates a context on the chosen device with an in-order queue. On failure
 * *ctx is NULL and kcl_errmsg(NULL) holds the message (for an unknown device
 * choice: the list of devices there are). */
kcl_status kcl_context_create(kcl_context **ctx, const kcl_context_options *options);
/* Releases the context and everything created on it. */
void kcl_context_free(kcl_context *ctx);

/* The message of the last failed call on ctx ("" if none); with ctx NULL, the
 * last context-less failure on this thread. Valid until the next kcl call on
 * the same context (or thread). */
const char *kcl_errmsg(const kcl_context *ctx);

/* The device the context runs on. */
const kcl_device_info *kcl_context_device(const kcl_context *ctx);

/* Blocks until every operation enqueued on the context has finished. */
kcl_status kcl_context_finish(kcl_context *ctx);

/* ---------------------------------------------------------------- kernels -- */

/* Statistics of kernel program builds on this context since its creation. */
typedef struct kcl_build_stats {
    unsigned programs;           /* programs made ready */
    unsigned compiled;           /* built from source */
    unsigned from_disk;          /* loaded from the disk cache or binary_dir */
    unsigned cache_rejected;     /* disk entries found corrupt, truncated or stale */
    double seconds;              /* wall time spent making programs ready */
} kcl_build_stats;

/* Builds (or loads) every kernel program kcl ships, so that later calls never
 * wait for a compiler. */
kcl_status kcl_build_all(kcl_context *ctx);
kcl_status kcl_build_stats_get(const kcl_context *ctx, kcl_build_stats *stats);

/* Compiles every kernel program kcl ships for the context's device and writes
 * the binaries to dir, in the form offline mode loads. */
kcl_status kcl_precompile(kcl_context *ctx, const char *dir);

/* ---------------------------------------------------------------- tensors -- */

#define KCL_MAX_RANK 8

typedef struct kcl_tensor kcl_tensor;

/* A float32 tensor of rank 0..8 in device memory, zero-filled. Dimensions may
 * be 0 (an empty tensor); negative sizes and byte sizes that overflow are
 * refused. */
kcl_status kcl_tensor_create(kcl_context *ctx, int rank, const int64_t *shape,
                             kcl_tensor **out);
/* Same, filled with shape's element count of floats read from data. */
kcl_status kcl_tensor_from_host(kcl_context *ctx, int rank, const int64_t *shape,
                                const float *data, kcl_tensor **out);
/* Copies the tensor to host memory; count must equal its element count. Waits
 * for the work that produces it. */
kcl_status kcl_tensor_read(kcl_tensor *t, float *data, size_t count);
/* Overwrites the tensor's values from host memory; count must match. */
kcl_status kcl_tensor_write(kcl_tensor *t, const float *data, size_t count);
/* A tensor sharing t's memory under another shape of the same element count.
 * Either may be freed first: the memory lives while one of them does. */
kcl_status kcl_tensor_reshape(kcl_tensor *t, int rank, const int64_t *shape,
                              kcl_tensor **view);
void kcl_tensor_free(kcl_tensor *t);

int kcl_tensor_rank(const kcl_tensor *t);
/* The dimensions (kcl_tensor_rank of them); valid while t lives. */
const int64_t *kcl_tensor_shape(const kcl_tensor *t);
int64_t kcl_tensor_size(const kcl_tensor *t);      /* element count */
kcl_context *kcl_tensor_context(const kcl_tensor *t);

/* ------------------------------------------------------------------- GEMM -- */

typedef enum kcl_transpose { KCL_NO_TRANS = 0, KCL_TRANS = 1 } kcl_transpose;

/* C = alpha * op(A) * op(B) + beta * C on row-major rank-2 tensors, through
 * CLBlast. op(A) is m x k, op(B) is k x n, C is m x n. Asynchronous. */
kcl_status kcl_gemm(kcl_context *ctx, kcl_transpose trans_a, kcl_transpose trans_b,
                    float alpha, const kcl_tensor *a, const kcl_tensor *b,
                    float beta, kcl_tensor *c);

#ifdef __cplusplus
}
#endif

#endif /* KCL_H */

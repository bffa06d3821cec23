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
 *  - Thread safety (tests/test_threads.c checks the first four under
 *    ThreadSanitizer):
 *      - Separate contexts may be used from separate threads at the same
 *        time, on the same device or on different ones, including their
 *        creation and release; results are the same as single-threaded.
 *      - kcl_errmsg(NULL) is per thread: context-less failures on one thread
 *        never overwrite another thread's message.
 *      - kcl_device_list, kcl_status_name and kcl_status_string may be called
 *        from any thread at any time.
 *      - Contexts (and processes) may share one disk cache directory: entries
 *        are written under unique temporary names and renamed.
 *    Not thread-safe:
 *      - One context, and everything created on it or added to its models
 *        (tensors, layers, models, optimizers, metrics, datasets, tapes,
 *        callbacks, histories), used from two threads at once: every call,
 *        reads included, enqueues on the context's one queue and sets its
 *        message. Hand a context to another thread only with your own
 *        synchronisation in between. Objects of one context never go to
 *        another context's calls.
 *      - CLBlast keeps GEMM parameters per device in one table for the whole
 *        process, and kcl sets them at context creation (README, "Tuning
 *        CLBlast for a device"). Two contexts on the same device share the
 *        parameters of the last one created: harmless when both read the
 *        same tuning (the usual case: same environment, same cache
 *        directory), but contexts on one device with different tuning files,
 *        or kcl-tune running beside another context on its device, change
 *        the other context's GEMM kernels (its speed, and the rounding of
 *        its products).
 *      - kcl reads the environment (KCL_DEVICE, KCL_CACHE_DIR, ...) when a
 *        context is created: do not setenv on another thread meanwhile.
 *  - Option structs: a zero-filled struct (or NULL) means the defaults.
 *  - Nothing process-wide: kcl installs no signal handler and never changes
 *    the locale, environment variables, working directory, stdio buffering or
 *    the C library's random seed. Its text output goes through a per-context
 *    log callback (kcl_set_log_callback), stdout/stderr by default. Two
 *    things touch CLBlast's process-wide state: tuned GEMM parameters are
 *    handed to CLBlast, which keeps them per device for the whole process
 *    ($KCL_NO_TUNING=1 skips that), and freeing the last kcl context empties
 *    CLBlast's program cache (so the OpenCL contexts it held go away; another
 *    CLBlast user in the process recompiles once).
 *  - Applications that use OpenCL themselves: include kcl_opencl.h, which
 *    builds a context on their cl_context and queue, wraps their cl_mem
 *    buffers as tensors and orders kcl's work against their cl_events.
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
    X(ERR_STATE,       "call not valid in the current state")                   \
    X(ERR_NUMERIC,     "non-finite value (NaN or infinity)")

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

/* What multiplies matrices (kcl_gemm, Dense, kcl_matmul and their gradients). */
typedef enum kcl_gemm_engine {
    /* $KCL_GEMM ("clblast" or "kcl") when set; else the engine kcl-tune
     * measured the faster on the device, when it stored one; else kcl's own
     * kernel on CPU devices, where it is the faster (README, bench_gemm), and
     * CLBlast on GPUs and accelerators, whose tuned parameters CLBlast ships. */
    KCL_GEMM_AUTO = 0,
    KCL_GEMM_CLBLAST,            /* CLBlast, with kcl's tuned parameters */
    KCL_GEMM_KCL,                /* kcl's kernel (cl/gemm.cl); always so in offline
                                  * mode, where asking for CLBlast is an error */
} kcl_gemm_engine;

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
    kcl_gemm_engine gemm;
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
/* The engine the context multiplies with: KCL_GEMM_CLBLAST or KCL_GEMM_KCL. */
kcl_gemm_engine kcl_context_gemm(const kcl_context *ctx);

/* Blocks until every operation enqueued on the context has finished. */
kcl_status kcl_context_finish(kcl_context *ctx);

/* Where kcl's text output goes. level: */
enum {
    KCL_LOG_PROGRESS = 0,        /* a redraw of fit's progress bar; replaces the
                                    previous KCL_LOG_PROGRESS text of that line */
    KCL_LOG_INFO = 1,            /* a whole line: "Epoch 1/10", an epoch's results */
    KCL_LOG_WARNING = 2          /* e.g. a callback monitoring a metric that is absent */
};
/* text is one message without a trailing newline, valid during the call. */
typedef void (*kcl_log_fn)(void *user, int level, const char *text);
/* Sends all of ctx's output to fn (NULL: back to the default, progress and
 * info to stdout, warnings to stderr). With a callback, verbose
 * KCL_VERBOSE_AUTO means one line per epoch (no terminal to redraw on).
 * verbose KCL_VERBOSE_SILENT writes nothing and calls fn for nothing (fit's
 * own output: callbacks' warnings and verbose messages come regardless). */
void kcl_set_log_callback(kcl_context *ctx, kcl_log_fn fn, void *user);

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

typedef enum kcl_trans { KCL_NO_TRANS = 0, KCL_TRANS = 1 } kcl_trans;

/* C = alpha * op(A) * op(B) + beta * C on row-major rank-2 tensors, through
 * CLBlast. op(A) is m x k, op(B) is k x n, C is m x n. Asynchronous. */
kcl_status kcl_gemm(kcl_context *ctx, kcl_trans trans_a, kcl_trans trans_b,
                    float alpha, const kcl_tensor *a, const kcl_tensor *b,
                    float beta, kcl_tensor *c);

/* ----------------------------------------------------------- initializers -- */

/* Keras 3's weight initializers (keras.initializers), with its arguments and
 * defaults, generated on the device:
 *
 *     kcl_initializer w = kcl_init_he_normal(.seed = 42);
 *     kcl_initialize(ctx, &w, kernel);                        // fills the tensor
 *     kcl_initializer b;
 *     kcl_initializer_by_name(ctx, "zeros", &b);
 *
 * Reproducible: random values come from Philox-4x32-10 and element i of a tensor
 * depends only on (seed, i), computed with correctly rounded float operations
 * only, so a seeded initializer gives the same bits on every OpenCL device, and
 * on every call (as Keras 3 with an integer seed). seed 0 means unseeded
 * (Keras' None): each call then draws a fresh seed from the system.
 *
 * As everywhere in kcl a zero field means Keras' default, so a field cannot be
 * set to exactly 0 where 0 is not the default (use kcl_init_zeros/constant).
 * The kcl_init_* macros take designated fields: kcl_init_random_normal(.stddev
 * = 0.1f, .seed = 7). Each kind reads only the fields listed by its enum entry. */

typedef enum kcl_init_kind {
    KCL_INIT_DEFAULT = 0,        /* the default of where it is used: a layer's kernel
                                    glorot_uniform, its bias zeros; kcl_initialize
                                    alone treats it as glorot_uniform */
    KCL_INIT_ZEROS,              /* "zeros" */
    KCL_INIT_ONES,               /* "ones" */
    KCL_INIT_CONSTANT,           /* "constant": value */
    KCL_INIT_RANDOM_NORMAL,      /* "random_normal": mean, stddev, seed */
    KCL_INIT_RANDOM_UNIFORM,     /* "random_uniform": minval, maxval, seed */
    KCL_INIT_TRUNCATED_NORMAL,   /* "truncated_normal": mean, stddev, seed; values
                                    beyond 2 stddev from the mean are redrawn */
    KCL_INIT_VARIANCE_SCALING,   /* "variance_scaling": scale, mode, distribution, seed */
    /* The VarianceScaling presets read only seed: (scale, mode, distribution) */
    KCL_INIT_GLOROT_NORMAL,      /* "glorot_normal": (1, fan_avg, truncated_normal) */
    KCL_INIT_GLOROT_UNIFORM,     /* "glorot_uniform": (1, fan_avg, uniform) */
    KCL_INIT_HE_NORMAL,          /* "he_normal": (2, fan_in, truncated_normal) */
    KCL_INIT_HE_UNIFORM,         /* "he_uniform": (2, fan_in, uniform) */
    KCL_INIT_LECUN_NORMAL,       /* "lecun_normal": (1, fan_in, truncated_normal) */
    KCL_INIT_LECUN_UNIFORM,      /* "lecun_uniform": (1, fan_in, uniform) */
    KCL_INIT_IDENTITY,           /* "identity": gain; rank 2 only: gain * eye(rows, cols) */
    KCL_INIT_ORTHOGONAL,         /* "orthogonal": gain, seed; rank >= 2 */
    KCL_INIT_CUSTOM,             /* fn, user */
    KCL_INIT_KIND_COUNT_
} kcl_init_kind;

/* VarianceScaling's n: fan_in, fan_out or their mean (see kcl_compute_fans). */
typedef enum kcl_fan_mode { KCL_FAN_IN = 0, KCL_FAN_OUT, KCL_FAN_AVG } kcl_fan_mode;

typedef enum kcl_init_distribution {
    KCL_DIST_TRUNCATED_NORMAL = 0,   /* stddev sqrt(scale / n) after truncation at 2 sigma */
    KCL_DIST_UNTRUNCATED_NORMAL,     /* stddev sqrt(scale / n) */
    KCL_DIST_UNIFORM                 /* [-limit, limit), limit = sqrt(3 scale / n) */
} kcl_init_distribution;

/* A custom initializer: fill values (the tensor's element count, row-major,
 * zero on entry) for the given shape; kcl uploads them. Return KCL_OK, or a
 * status that kcl_initialize passes on. */
typedef kcl_status (*kcl_init_fn)(float *values, int rank, const int64_t *shape, void *user);

typedef struct kcl_initializer {
    kcl_init_kind kind;
    float value;                 /* Constant's value; default 0 */
    float mean;                  /* RandomNormal, TruncatedNormal; default 0 */
    float stddev;                /* RandomNormal, TruncatedNormal; 0 means 0.05; >= 0 */
    float minval, maxval;        /* RandomUniform's [minval, maxval); both 0 means
                                    [-0.05, 0.05), else taken as given: .maxval = 1
                                    alone is [0, 1). minval <= maxval */
    float scale;                 /* VarianceScaling; 0 means 1; > 0 */
    float gain;                  /* Identity, Orthogonal; 0 means 1 */
    kcl_fan_mode mode;           /* VarianceScaling; default KCL_FAN_IN */
    kcl_init_distribution distribution;  /* VarianceScaling; default truncated normal */
    uint64_t seed;               /* 0: unseeded, a fresh seed at each call */
    kcl_init_fn fn;              /* KCL_INIT_CUSTOM's callback */
    void *user;                  /* passed to fn */
} kcl_initializer;

/* One constructor per initializer; the arguments are designated fields. */
#ifndef __cplusplus   /* C++: the inline functions at the end of this file */
#define KCL_INIT_MAKE_(kind_, ...) ((kcl_initializer){.kind = kind_, __VA_ARGS__})
#define kcl_init_zeros(...)            KCL_INIT_MAKE_(KCL_INIT_ZEROS, __VA_ARGS__)
#define kcl_init_ones(...)             KCL_INIT_MAKE_(KCL_INIT_ONES, __VA_ARGS__)
#define kcl_init_constant(...)         KCL_INIT_MAKE_(KCL_INIT_CONSTANT, __VA_ARGS__)
#define kcl_init_random_normal(...)    KCL_INIT_MAKE_(KCL_INIT_RANDOM_NORMAL, __VA_ARGS__)
#define kcl_init_random_uniform(...)   KCL_INIT_MAKE_(KCL_INIT_RANDOM_UNIFORM, __VA_ARGS__)
#define kcl_init_truncated_normal(...) KCL_INIT_MAKE_(KCL_INIT_TRUNCATED_NORMAL, __VA_ARGS__)
#define kcl_init_variance_scaling(...) KCL_INIT_MAKE_(KCL_INIT_VARIANCE_SCALING, __VA_ARGS__)
#define kcl_init_glorot_normal(...)    KCL_INIT_MAKE_(KCL_INIT_GLOROT_NORMAL, __VA_ARGS__)
#define kcl_init_glorot_uniform(...)   KCL_INIT_MAKE_(KCL_INIT_GLOROT_UNIFORM, __VA_ARGS__)
#define kcl_init_he_normal(...)        KCL_INIT_MAKE_(KCL_INIT_HE_NORMAL, __VA_ARGS__)
#define kcl_init_he_uniform(...)       KCL_INIT_MAKE_(KCL_INIT_HE_UNIFORM, __VA_ARGS__)
#define kcl_init_lecun_normal(...)     KCL_INIT_MAKE_(KCL_INIT_LECUN_NORMAL, __VA_ARGS__)
#define kcl_init_lecun_uniform(...)    KCL_INIT_MAKE_(KCL_INIT_LECUN_UNIFORM, __VA_ARGS__)
#define kcl_init_identity(...)         KCL_INIT_MAKE_(KCL_INIT_IDENTITY, __VA_ARGS__)
#define kcl_init_orthogonal(...)       KCL_INIT_MAKE_(KCL_INIT_ORTHOGONAL, __VA_ARGS__)
/* kcl_init_custom(my_fill, &my_data) */
#define kcl_init_custom(callback, data) \
    ((kcl_initializer){.kind = KCL_INIT_CUSTOM, .fn = (callback), .user = (data)})
#endif

/* Keras' defaults for layers: glorot_uniform for kernels, zeros for biases. */
kcl_initializer kcl_default_kernel_initializer(void);
kcl_initializer kcl_default_bias_initializer(void);

/* The initializer Keras names `name` (keras.initializers.get), with default
 * arguments: "zeros", "ones", "constant", "random_normal", "random_uniform",
 * "truncated_normal", "variance_scaling", "glorot_normal", "glorot_uniform",
 * "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "identity",
 * "orthogonal"; also Keras' class names ("HeNormal") and aliases ("normal",
 * "uniform", "zero", "one"). Case-sensitive, as Keras. An unknown name is
 * KCL_ERR_NAME, with the valid names in the message. */
kcl_status kcl_initializer_by_name(kcl_context *ctx, const char *name, kcl_initializer *out);
/* Keras' name of a kind ("he_normal"); "custom", "default"; never NULL. */
const char *kcl_initializer_name(kcl_init_kind kind);

/* Checks the arguments without a tensor (what Keras checks in the constructor):
 * KCL_ERR_ARGUMENT for a negative stddev, minval > maxval, scale < 0, an
 * unknown kind, mode or distribution, a custom kind without fn, a NaN or
 * infinite mean, stddev, minval, maxval, scale or gain. */
kcl_status kcl_initializer_check(kcl_context *ctx, const kcl_initializer *init);

/* Fills t as init says (NULL init: KCL_INIT_DEFAULT). Asynchronous, except
 * Orthogonal (QR on the host) and custom initializers, which wait for the
 * device. KCL_ERR_SHAPE: Identity on a tensor of rank other than 2, Orthogonal
 * on rank < 2. */
kcl_status kcl_initialize(kcl_context *ctx, const kcl_initializer *init, kcl_tensor *t);

/* Keras' compute_fans: rank 0 -> (1, 1); rank 1 -> (shape[0], shape[0]);
 * rank 2 -> (shape[0], shape[1]); higher ranks (convolution kernels, ...,
 * in, out) -> (shape[-2] * r, shape[-1] * r) with r the product of the others. */
void kcl_compute_fans(int rank, const int64_t *shape, double *fan_in, double *fan_out);

/* The raw generator, on the device: out = Philox-4x32-10(counter, key), as
 * Random123's philox4x32_R(10, ...). For known-answer tests; waits. */
kcl_status kcl_philox4x32_10(kcl_context *ctx, const uint32_t counter[4],
                             const uint32_t key[2], uint32_t out[4]);

/* ----------------------------------------------------------------- memory -- */

typedef struct kcl_memory_stats {
    size_t in_use;               /* bytes of device memory held by live tensors */
    size_t peak;                 /* most in_use since creation or kcl_memory_reset_peak */
    size_t pooled;               /* bytes kept for reuse by later tensors */
    /* most in_use + pooled since creation or kcl_memory_reset_peak: the device
     * memory kcl held at once (all of it comes from the pool) */
    size_t peak_held;
} kcl_memory_stats;

kcl_status kcl_memory_stats_get(const kcl_context *ctx, kcl_memory_stats *stats);
void kcl_memory_reset_peak(kcl_context *ctx);

/* What kcl has put on the context's queue since its creation: the cost of a
 * training step in launches, and every time kcl made the host wait. */
typedef struct kcl_queue_stats {
    uint64_t kernels;            /* kcl's own kernel launches */
    uint64_t blas_calls;         /* CLBlast routines (each one or a few launches) */
    uint64_t transfers;          /* host-device copies, blocking or not */
    uint64_t host_waits;         /* clFinish and blocking transfers: the queue drains */
    /* Waits for an upload two batches old before reusing its staging memory,
     * while newer work stays queued (the device keeps running): a Dataset's
     * bound on how far the host runs ahead. */
    uint64_t throttle_waits;
    uint64_t buffers_created;    /* device buffers allocated (the pool reuses them) */
} kcl_queue_stats;

kcl_status kcl_queue_stats_get(const kcl_context *ctx, kcl_queue_stats *stats);

/* -------------------------------------------------------------------- ops -- *
 * Operations on tensors. Each enqueues its work on the context's in-order
 * queue and returns at once with a new output tensor (*out), which the caller
 * frees; nothing waits for the device until a value is read. Errors (shapes
 * that do not broadcast, axes out of range, tensors of different contexts) are
 * reported on the context of the first tensor argument.
 *
 * Binary operations broadcast as NumPy does: shapes are aligned at their last
 * dimension and a dimension of 1 stretches to match. Axes count from 0, and a
 * negative axis counts from the end (-1 is the last). */

kcl_status kcl_add(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_subtract(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_multiply(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_divide(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_maximum(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_minimum(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
/* Comparisons give 1.0 where true and 0.0 where false; not differentiable. */
kcl_status kcl_equal(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_not_equal(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_greater(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_greater_equal(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_less(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
kcl_status kcl_less_equal(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);

kcl_status kcl_negative(kcl_tensor *x, kcl_tensor **out);
kcl_status kcl_square(kcl_tensor *x, kcl_tensor **out);
kcl_status kcl_sqrt(kcl_tensor *x, kcl_tensor **out);
kcl_status kcl_exp(kcl_tensor *x, kcl_tensor **out);
kcl_status kcl_log(kcl_tensor *x, kcl_tensor **out);
kcl_status kcl_abs(kcl_tensor *x, kcl_tensor **out);
kcl_status kcl_power(kcl_tensor *x, float exponent, kcl_tensor **out);
/* x * factor + offset with scalars (no broadcasting tensor needed). */
kcl_status kcl_scale_shift(kcl_tensor *x, float factor, float offset, kcl_tensor **out);
kcl_status kcl_clip(kcl_tensor *x, float min_value, float max_value, kcl_tensor **out);
/* x stretched to shape by the broadcasting rules. */
kcl_status kcl_broadcast_to(kcl_tensor *x, int rank, const int64_t *shape, kcl_tensor **out);

/* Matrix product of the last two dimensions, batched over the leading ones
 * (which broadcast): [..., m, k] x [..., k, n] -> [..., m, n]. Rank-1 operands
 * are promoted as in NumPy's matmul. Through CLBlast. */
kcl_status kcl_matmul(kcl_tensor *a, kcl_tensor *b, kcl_tensor **out);
/* x + bias along the last axis; bias has shape [x.shape[-1]]. */
kcl_status kcl_bias_add(kcl_tensor *x, kcl_tensor *bias, kcl_tensor **out);

/* Shape operations. reshape accepts one -1 dimension, inferred. */
kcl_status kcl_reshape(kcl_tensor *x, int rank, const int64_t *shape, kcl_tensor **out);
/* [batch, ...] -> [batch, prod(...)] as Keras' Flatten. */
kcl_status kcl_flatten(kcl_tensor *x, kcl_tensor **out);
/* perm lists, for each output axis, the input axis it takes (NULL: reversed). */
kcl_status kcl_transpose(kcl_tensor *x, const int *perm, kcl_tensor **out);
kcl_status kcl_concatenate(size_t n, kcl_tensor *const *xs, int axis, kcl_tensor **out);
/* x[begin[0]:begin[0]+size[0], ...]; a size of -1 takes the rest of that axis. */
kcl_status kcl_slice(kcl_tensor *x, const int64_t *begin, const int64_t *size, kcl_tensor **out);

/* Reductions over the axes listed (n_axes 0 with axes NULL: every axis). */
kcl_status kcl_reduce_sum(kcl_tensor *x, size_t n_axes, const int *axes, int keepdims,
                          kcl_tensor **out);
kcl_status kcl_reduce_mean(kcl_tensor *x, size_t n_axes, const int *axes, int keepdims,
                           kcl_tensor **out);
kcl_status kcl_reduce_max(kcl_tensor *x, size_t n_axes, const int *axes, int keepdims,
                          kcl_tensor **out);
/* Index of the largest value along axis (first one on ties; a NaN counts as the
 * largest, as in NumPy), as float values (exact up to 2^24). An empty axis is
 * KCL_ERR_SHAPE. */
kcl_status kcl_argmax(kcl_tensor *x, int axis, kcl_tensor **out);
/* indices (float values holding integers) -> [..., depth] of 0/1; an index
 * outside [0, depth) gives a row of zeros, as tf.one_hot does. */
kcl_status kcl_one_hot(kcl_tensor *indices, int depth, kcl_tensor **out);
/* Rows of params (axis 0) chosen by indices: out shape indices.shape + params.shape[1:].
 * Index values are truncated toward zero; an index outside [0, params.shape[0])
 * (or NaN) gives a row of NaN, nothing is read out of bounds, and the gradient
 * for params ignores it. */
kcl_status kcl_gather(kcl_tensor *params, kcl_tensor *indices, kcl_tensor **out);

/* Numerically stable fused primitives (for the losses).
 * log(sum(exp(x))) over axis, keepdims as given. */
kcl_status kcl_logsumexp(kcl_tensor *x, int axis, int keepdims, kcl_tensor **out);
/* Per-row categorical cross-entropy of softmax(logits) against target
 * probabilities (same shape [..., classes]): out has shape [...]. */
kcl_status kcl_softmax_cross_entropy(kcl_tensor *logits, kcl_tensor *target, kcl_tensor **out);
/* Same with integer class labels (float values, fractions dropped) of shape
 * [...]; a label outside [0, classes) or NaN gives NaN for that row (loss and
 * gradient). The fused cross-entropies refuse second-order gradients
 * (KCL_ERR_STATE); logsumexp's differentiate again. */
kcl_status kcl_sparse_softmax_cross_entropy(kcl_tensor *logits, kcl_tensor *labels,
                                            kcl_tensor **out);
/* Elementwise binary cross-entropy of sigmoid(logits) against targets. */
kcl_status kcl_sigmoid_cross_entropy(kcl_tensor *logits, kcl_tensor *target, kcl_tensor **out);

/* ------------------------------------------------------------ activations -- */

/* Arguments of the parameterised activations; zero means Keras' default. */
typedef struct kcl_activation_args {
    float negative_slope;        /* relu: 0; leaky_relu: 0 means 0.2 */
    float max_value;             /* relu: 0 means none */
    float threshold;             /* relu: 0; soft_shrink, hard_shrink: 0 means 0.5;
                                    threshold: the threshold (0 is 0) */
    float default_value;         /* threshold: the value below it */
    float alpha;                 /* elu, celu: 0 means 1 */
    float b;                     /* squareplus: 0 means 4 */
    int approximate;             /* gelu: nonzero for the tanh form */
    int axis;                    /* softmax, log_softmax, glu, sparsemax: 0 means -1 (the
                                    last axis); write -rank for the first */
} kcl_activation_args;

/* Applies a Keras activation by name: "relu", "leaky_relu", "relu6", "elu",
 * "selu", "celu", "gelu", "sigmoid", "hard_sigmoid", "log_sigmoid", "tanh",
 * "hard_tanh", "tanh_shrink", "softmax", "log_softmax", "softplus", "softsign",
 * "silu" (= "swish"), "hard_silu" (= "hard_swish"), "mish", "exponential",
 * "linear", "glu", "soft_shrink", "hard_shrink", "sparse_plus", "squareplus",
 * "threshold", "sparsemax", "sparse_sigmoid". args NULL: the defaults. An unknown name is
 * KCL_ERR_NAME with the valid names in the message. */
kcl_status kcl_activation(kcl_tensor *x, const char *name, const kcl_activation_args *args,
                          kcl_tensor **out);

/* ----------------------------------------------------- variables and tape -- */

/* A variable is a tensor marked trainable: a recording tape watches it
 * whenever an operation uses it, as Keras' GradientTape does. */
kcl_status kcl_tensor_set_trainable(kcl_tensor *t, int trainable);
int kcl_tensor_trainable(const kcl_tensor *t);

typedef struct kcl_tape kcl_tape;

typedef struct kcl_tape_options {
    int persistent;              /* nonzero: gradient may be called more than once */
    int ignore_variables;        /* nonzero: watch only what kcl_tape_watch names
                                    (Keras' watch_accessed_variables=False) */
} kcl_tape_options;

/* Starts a tape recording the operations run on ctx from now on, for
 * gradients later (Keras: `with tf.GradientTape() as tape:`). Several tapes may
 * record at once (nested tapes give higher-order gradients). */
kcl_status kcl_tape_begin(kcl_context *ctx, const kcl_tape_options *options, kcl_tape **tape);
/* Watches a tensor that is not a variable, so gradients with respect to it exist. */
kcl_status kcl_tape_watch(kcl_tape *tape, kcl_tensor *t);
/* Stops recording (the end of the `with` block); gradients stay available. */
kcl_status kcl_tape_stop(kcl_tape *tape);
/* d target / d sources[i] into grads[i] (new tensors of the sources' shapes;
 * the caller frees them). A non-scalar target is summed first, as Keras does.
 * A source the target does not depend on gets zeros. A source neither watched
 * nor a variable is KCL_ERR_ARGUMENT. A non-persistent tape allows one call. */
kcl_status kcl_tape_gradient(kcl_tape *tape, kcl_tensor *target, size_t n,
                             kcl_tensor *const *sources, kcl_tensor **grads);
/* Stops the tape if needed and releases what it recorded. */
void kcl_tape_free(kcl_tape *tape);

/* var -= learning_rate * grad, in place on the device (plain SGD). */
kcl_status kcl_sgd_update(kcl_tensor *var, kcl_tensor *grad, float learning_rate);

/* ------------------------------------------------------------- optimizers -- *
 * Keras' optimizers, updating variables on the device. A config is a value:
 *     kcl_optimizer_config opt = kcl_adam(.learning_rate = 1e-3f);
 * Zero fields mean Keras' defaults (listed per field). */

typedef enum kcl_optimizer_kind {
    KCL_OPTIMIZER_DEFAULT = 0,   /* RMSprop, as Keras' compile(optimizer="rmsprop") */
    KCL_OPTIMIZER_SGD,           /* learning_rate 0.01, momentum 0, nesterov false */
    KCL_OPTIMIZER_ADAM,          /* 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad */
    KCL_OPTIMIZER_ADAMW,         /* as Adam, weight_decay 0.004 */
    KCL_OPTIMIZER_RMSPROP,       /* 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered */
    KCL_OPTIMIZER_ADAGRAD,       /* 0.001, initial_accumulator_value 0.1, epsilon 1e-7 */
    KCL_OPTIMIZER_KIND_COUNT_
} kcl_optimizer_kind;

typedef enum kcl_schedule_kind {
    KCL_SCHEDULE_NONE = 0,       /* the constant learning_rate */
    KCL_SCHEDULE_EXPONENTIAL_DECAY,   /* lr0 * decay_rate ^ (step / decay_steps), floor()ed if staircase */
    KCL_SCHEDULE_PIECEWISE_CONSTANT,  /* values[i] while step <= boundaries[i] (Keras' rule) */
    KCL_SCHEDULE_COSINE_DECAY         /* Keras CosineDecay, with alpha and optional warmup */
} kcl_schedule_kind;

/* A learning-rate schedule (keras.optimizers.schedules), a function of the
 * optimizer's iteration count. */
typedef struct kcl_schedule {
    kcl_schedule_kind kind;
    float initial_learning_rate; /* exponential, cosine */
    int64_t decay_steps;         /* exponential, cosine; > 0 */
    float decay_rate;            /* exponential */
    int staircase;               /* exponential */
    size_t n_boundaries;         /* piecewise: boundaries[n], values[n + 1] (copied) */
    const int64_t *boundaries;
    const float *values;
    float alpha;                 /* cosine: the floor as a fraction of the initial rate; 0 */
    float warmup_target;         /* cosine: 0 means no warmup */
    int64_t warmup_steps;        /* cosine */
} kcl_schedule;

typedef struct kcl_optimizer_config {
    kcl_optimizer_kind kind;
    float learning_rate;         /* 0: the kind's default (see the enum) */
    kcl_schedule schedule;       /* kind != NONE: replaces learning_rate */
    float momentum;              /* SGD, RMSprop; 0 */
    int nesterov;                /* SGD */
    float beta_1, beta_2;        /* Adam, AdamW; 0 means 0.9 and 0.999 */
    float epsilon;               /* Adam, AdamW, RMSprop, Adagrad; 0 means 1e-7 */
    int amsgrad;                 /* Adam, AdamW */
    float weight_decay;          /* AdamW: 0 means 0.004; others: 0 means none */
    float rho;                   /* RMSprop; 0 means 0.9 */
    int centered;                /* RMSprop */
    float initial_accumulator_value;   /* Adagrad; 0 means 0.1 */
    float clipnorm;              /* > 0: each gradient rescaled to this L2 norm at most */
    float clipvalue;             /* > 0: each gradient element clipped to [-v, v] */
    float global_clipnorm;       /* > 0: all gradients rescaled together to this norm */
} kcl_optimizer_config;

#ifndef __cplusplus   /* C++: the inline functions at the end of this file */
#define kcl_sgd(...)      ((kcl_optimizer_config){.kind = KCL_OPTIMIZER_SGD, __VA_ARGS__})
#define kcl_adam(...)     ((kcl_optimizer_config){.kind = KCL_OPTIMIZER_ADAM, __VA_ARGS__})
#define kcl_adamw(...)    ((kcl_optimizer_config){.kind = KCL_OPTIMIZER_ADAMW, __VA_ARGS__})
#define kcl_rmsprop(...)  ((kcl_optimizer_config){.kind = KCL_OPTIMIZER_RMSPROP, __VA_ARGS__})
#define kcl_adagrad(...)  ((kcl_optimizer_config){.kind = KCL_OPTIMIZER_ADAGRAD, __VA_ARGS__})
#endif

typedef struct kcl_optimizer kcl_optimizer;

/* "sgd", "adam", "adamw", "rmsprop", "adagrad" with default arguments;
 * KCL_ERR_NAME lists the valid names. */
kcl_status kcl_optimizer_by_name(kcl_context *ctx, const char *name, kcl_optimizer_config *out);
/* Validates the config (negative rates, beta outside [0, 1), ... are
 * KCL_ERR_ARGUMENT) and creates the optimizer. */
kcl_status kcl_optimizer_create(kcl_context *ctx, const kcl_optimizer_config *config,
                                kcl_optimizer **out);
/* One step: updates vars[i] in place from grads[i] (same shapes), creating
 * each variable's slots (moments, ...) on first sight, then counts one
 * iteration. Asynchronous: no host wait. On failure no variable changed and
 * no iteration is counted, except when an update kernel could not be enqueued
 * after earlier ones were: the message then says which variables took the step. */
kcl_status kcl_optimizer_apply(kcl_optimizer *opt, size_t n, kcl_tensor *const *vars,
                               kcl_tensor *const *grads);
int64_t kcl_optimizer_iterations(const kcl_optimizer *opt);
/* The learning rate the next step uses (the schedule's value at this step). */
float kcl_optimizer_learning_rate(const kcl_optimizer *opt);
/* Replaces a constant learning rate (ReduceLROnPlateau); KCL_ERR_STATE with a schedule. */
kcl_status kcl_optimizer_set_learning_rate(kcl_optimizer *opt, float learning_rate);
const kcl_optimizer_config *kcl_optimizer_get_config(const kcl_optimizer *opt);
void kcl_optimizer_free(kcl_optimizer *opt);

/* The optimizer's state, for saving and restoring: the iteration count plus,
 * for the variable vars[i], slot tensors named "<slot>" ("m", "v", "vhat",
 * "momentum", "ms", "mg", "accumulator"). kcl_optimizer_slots lists them in a
 * fixed order (*n of them; names and tensors stay the optimizer's). */
kcl_status kcl_optimizer_slots(kcl_optimizer *opt, kcl_tensor *var, size_t *n,
                               const char *const **names, kcl_tensor *const **slots);
kcl_status kcl_optimizer_set_iterations(kcl_optimizer *opt, int64_t iterations);

/* ----------------------------------------------------------------- losses -- *
 * Keras' losses. A loss reduces each sample's values over the last axis where
 * Keras does, weights them by sample_weight (optional, shape [batch]), and
 * reduces as Keras' default "sum_over_batch_size": sum / number of samples. */

typedef enum kcl_loss_kind {
    KCL_LOSS_NONE = 0,
    KCL_LOSS_MEAN_SQUARED_ERROR,           /* "mean_squared_error", "mse" */
    KCL_LOSS_MEAN_ABSOLUTE_ERROR,          /* "mean_absolute_error", "mae" */
    KCL_LOSS_MEAN_SQUARED_LOGARITHMIC_ERROR, /* "mean_squared_logarithmic_error", "msle" */
    KCL_LOSS_HUBER,                        /* "huber": delta (0 means 1) */
    KCL_LOSS_LOG_COSH,                     /* "log_cosh" */
    KCL_LOSS_BINARY_CROSSENTROPY,          /* from_logits, label_smoothing */
    KCL_LOSS_CATEGORICAL_CROSSENTROPY,     /* from_logits, label_smoothing, one-hot targets */
    KCL_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, /* from_logits; integer labels as floats */
    KCL_LOSS_KL_DIVERGENCE,                /* "kl_divergence", "kld" */
    KCL_LOSS_POISSON,                      /* "poisson" */
    KCL_LOSS_HINGE,                        /* "hinge" */
    KCL_LOSS_SQUARED_HINGE,                /* "squared_hinge" */
    KCL_LOSS_CATEGORICAL_HINGE,            /* "categorical_hinge" */
    KCL_LOSS_KIND_COUNT_
} kcl_loss_kind;

typedef struct kcl_loss_config {
    kcl_loss_kind kind;
    int from_logits;             /* cross-entropies: y_pred are logits */
    float label_smoothing;       /* binary / categorical cross-entropy; 0 */
    float delta;                 /* huber; 0 means 1 */
} kcl_loss_config;

#ifndef __cplusplus   /* C++: the inline functions at the end of this file */
#define kcl_loss(kind_, ...) ((kcl_loss_config){.kind = (kind_), __VA_ARGS__})
#endif

/* Keras' names and aliases ("mse", "binary_crossentropy", ...); KCL_ERR_NAME
 * lists the valid ones. */
kcl_status kcl_loss_by_name(kcl_context *ctx, const char *name, kcl_loss_config *out);
const char *kcl_loss_name(kcl_loss_kind kind);
/* Per-sample losses, shape y_pred.shape[:-1] (the last axis reduced as Keras
 * does; for sparse categorical y_true has that shape already). Recorded on
 * tapes like any op. */
kcl_status kcl_loss_per_sample(const kcl_loss_config *loss, kcl_tensor *y_true,
                               kcl_tensor *y_pred, kcl_tensor **out);
/* The scalar loss: per-sample losses times sample_weight (NULL: 1), summed,
 * divided by the number of per-sample values. */
kcl_status kcl_loss_compute(const kcl_loss_config *loss, kcl_tensor *y_true, kcl_tensor *y_pred,
                            kcl_tensor *sample_weight, kcl_tensor **out);

/* ---------------------------------------------------------------- metrics -- *
 * Keras' metrics: stateful, updated batch by batch on the device (no host
 * wait), read with kcl_metric_result. */

typedef enum kcl_metric_kind {
    KCL_METRIC_NONE = 0,
    KCL_METRIC_ACCURACY,                   /* "accuracy", "acc": resolved by the model to
                                              binary / categorical / sparse as Keras does */
    KCL_METRIC_BINARY_ACCURACY,            /* threshold (0 means 0.5) */
    KCL_METRIC_CATEGORICAL_ACCURACY,
    KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY, /* k (0 means 5) */
    KCL_METRIC_MEAN_SQUARED_ERROR,         /* "mse", "mean_squared_error" */
    KCL_METRIC_MEAN_ABSOLUTE_ERROR,        /* "mae", "mean_absolute_error" */
    KCL_METRIC_PRECISION,                  /* threshold (0 means 0.5) */
    KCL_METRIC_RECALL,                     /* threshold (0 means 0.5) */
    KCL_METRIC_AUC,                        /* ROC AUC, num_thresholds (0 means 200) */
    KCL_METRIC_MEAN,                       /* the mean of the values given (the loss) */
    KCL_METRIC_KIND_COUNT_
} kcl_metric_kind;

typedef struct kcl_metric_config {
    kcl_metric_kind kind;
    int k;                       /* top-k */
    float threshold;             /* binary accuracy, precision, recall */
    int num_thresholds;          /* AUC */
    const char *name;            /* NULL: Keras' default name ("accuracy", "auc", ...) */
} kcl_metric_config;

typedef struct kcl_metric kcl_metric;

kcl_status kcl_metric_by_name(kcl_context *ctx, const char *name, kcl_metric_config *out);
kcl_status kcl_metric_create(kcl_context *ctx, const kcl_metric_config *config, kcl_metric **out);
/* Accumulates one batch: y_true and y_pred as the matching loss takes them,
 * sample_weight NULL or shape [batch]. For KCL_METRIC_MEAN y_pred holds the
 * values (y_true may be NULL). */
kcl_status kcl_metric_update(kcl_metric *m, kcl_tensor *y_true, kcl_tensor *y_pred,
                             kcl_tensor *sample_weight);
/* The value so far (waits for the device). */
kcl_status kcl_metric_result(kcl_metric *m, float *value);
kcl_status kcl_metric_reset(kcl_metric *m);
const char *kcl_metric_name(const kcl_metric *m);
void kcl_metric_free(kcl_metric *m);

/* ---------------------------------------------------------------- dataset -- *
 * tf.data-style input pipelines over host arrays, and file loaders. */

/* A float32 array in host memory. Arrays kcl returns own their data
 * (kcl_array_free); arrays the caller passes are only read. */
typedef struct kcl_array {
    float *data;
    int rank;
    int64_t shape[KCL_MAX_RANK];
} kcl_array;

void kcl_array_free(kcl_array *a);  /* frees data; a itself is the caller's */
int64_t kcl_array_size(const kcl_array *a);

/* NumPy .npy (v1-3, C order; float32/64, (u)int8/16/32/64, bool converted to
 * float32). Malformed files: KCL_ERR_FORMAT with the reason; missing: KCL_ERR_IO. */
kcl_status kcl_load_npy(kcl_context *ctx, const char *path, kcl_array *out);
/* The IDX format of (Fashion-)MNIST, gzip-compressed or not; values converted to
 * float32 unchanged (pixels stay 0..255). */
kcl_status kcl_load_idx(kcl_context *ctx, const char *path, kcl_array *out);

typedef struct kcl_csv_options {
    char delimiter;              /* 0 means ',' */
    int skip_rows;               /* header lines to skip; 0 */
} kcl_csv_options;

/* A CSV file of numbers into a [rows, columns] array; every row must have the
 * same number of fields (else KCL_ERR_FORMAT naming the line). */
kcl_status kcl_load_csv(kcl_context *ctx, const char *path, const kcl_csv_options *options,
                        kcl_array *out);

typedef struct kcl_dataset kcl_dataset;

/* Elements are slices along the first axis of each array (all arrays must
 * have the same first dimension); the arrays are copied. */
kcl_status kcl_dataset_from_tensor_slices(kcl_context *ctx, size_t n_arrays,
                                          const kcl_array *arrays, kcl_dataset **out);
/* Transformations, applied in the order called (as chained tf.data calls). */
kcl_status kcl_dataset_shuffle(kcl_dataset *ds, size_t buffer_size, uint64_t seed);
kcl_status kcl_dataset_batch(kcl_dataset *ds, size_t batch_size, int drop_remainder);
kcl_status kcl_dataset_repeat(kcl_dataset *ds, int64_t count);   /* -1: forever */
kcl_status kcl_dataset_take(kcl_dataset *ds, int64_t count);
kcl_status kcl_dataset_skip(kcl_dataset *ds, int64_t count);
/* Number of elements (batches after batch()) one pass yields; -1 infinite. */
int64_t kcl_dataset_cardinality(const kcl_dataset *ds);
size_t kcl_dataset_arrays(const kcl_dataset *ds);
/* Starts a pass (reshuffling, as tf.data's reshuffle_each_iteration). */
kcl_status kcl_dataset_rewind(kcl_dataset *ds);
/* The next element as device tensors (kcl_dataset_arrays of them; the caller
 * frees them). *done is set at the end of the pass (no tensors then). The next
 * element is uploaded while the caller computes on this one. */
kcl_status kcl_dataset_next(kcl_dataset *ds, kcl_tensor **tensors, int *done);
/* Free datasets before their context: the element being prefetched is a
 * tensor of the context. */
void kcl_dataset_free(kcl_dataset *ds);

/* ----------------------------------------------------------------- layers -- *
 * Keras layers. A constructor returns a new layer (NULL only when out of host
 * memory); its arguments are checked when the layer is first added or called,
 * where errors have a context to go to. A layer belongs to the first model or
 * call that uses it; free only layers never used (kcl_layer_free). Calling the
 * same layer twice shares its weights.
 *
 *     kcl_model_add(m, kcl_layer_dense(256, .activation = "relu"));
 *
 * Every layer's options start with name (NULL: Keras' automatic "dense",
 * "dense_1", ...) and, for the first layer of a Sequential model, input_shape
 * (the shape of one sample, without the batch axis: {28, 28}) or input_dim. */

/* L1 and L2 penalties added to the loss: l1 * sum|w| + l2 * sum w². */
typedef struct kcl_regularizer {
    float l1, l2;
} kcl_regularizer;

#define KCL_LAYER_COMMON                                                         \
    const char *name;                                                            \
    int64_t input_shape[KCL_MAX_RANK]; /* zeros after the last dimension */      \
    int64_t input_dim;                                                           \
    int not_trainable;           /* Keras' trainable=False */

typedef struct kcl_layer kcl_layer;

typedef struct kcl_dense_options {
    KCL_LAYER_COMMON
    int64_t units;
    const char *activation;      /* NULL: linear */
    kcl_activation_args activation_args;
    int no_bias;                 /* Keras' use_bias=False */
    kcl_initializer kernel_initializer;   /* default glorot_uniform */
    kcl_initializer bias_initializer;     /* default zeros */
    kcl_regularizer kernel_regularizer, bias_regularizer;
} kcl_dense_options;

typedef struct kcl_activation_options {
    KCL_LAYER_COMMON
    const char *activation;
    kcl_activation_args activation_args;
} kcl_activation_options;

typedef struct kcl_reshape_options {
    KCL_LAYER_COMMON
    int64_t target_shape[KCL_MAX_RANK];   /* without the batch axis; one -1 allowed; zeros end */
} kcl_reshape_options;

typedef struct kcl_dropout_options {
    KCL_LAYER_COMMON
    float rate;                  /* fraction dropped in training, [0, 1) */
    uint64_t seed;               /* 0: unseeded */
} kcl_dropout_options;

/* A Lambda layer: a user function with no weights, written as an OpenCL C
 * expression of x (one input) or of x0, x1, ... (up to 4 inputs of one shape),
 * element by element, compiled at run time (write float literals: 1.0f);
 * optional gradient expressions of x (or x0...), y and dy, one per input.
 * Without them the layer is not recorded on tapes: weights before it get zero
 * gradients. No higher-order gradients. An expression is an expression, not
 * code: ; { } # \ comments and line breaks are refused (KCL_ERR_ARGUMENT); one
 * that does not compile is KCL_ERR_BUILD with the compiler's log; offline
 * contexts refuse Lambda layers (KCL_ERR_OFFLINE). */
typedef struct kcl_lambda_options {
    KCL_LAYER_COMMON
    const char *expression;      /* e.g. "x * x + 1.0f" */
    const char *gradient[4];     /* e.g. {"2.0f * x * dy"}; NULL: none */
    int n_inputs;                /* 0 means 1 */
} kcl_lambda_options;

typedef struct kcl_merge_options {
    KCL_LAYER_COMMON
    int axis;                    /* Concatenate; 0 means -1 (Keras' default) */
} kcl_merge_options;

typedef struct kcl_flatten_options {
    KCL_LAYER_COMMON
} kcl_flatten_options;

/* Keras' Input for a Sequential model: kcl_layer_input(.input_shape = {28, 28})
 * as the first layer fixes the model's input shape. (Functional models use
 * kcl_input.) */
kcl_layer *kcl_layer_input_(const kcl_flatten_options *options);
kcl_layer *kcl_layer_dense_(const kcl_dense_options *options);
kcl_layer *kcl_layer_activation_(const kcl_activation_options *options);
kcl_layer *kcl_layer_flatten_(const kcl_flatten_options *options);
kcl_layer *kcl_layer_reshape_(const kcl_reshape_options *options);
kcl_layer *kcl_layer_dropout_(const kcl_dropout_options *options);
kcl_layer *kcl_layer_lambda_(const kcl_lambda_options *options);
kcl_layer *kcl_layer_add_(const kcl_merge_options *options);
kcl_layer *kcl_layer_subtract_(const kcl_merge_options *options);
kcl_layer *kcl_layer_multiply_(const kcl_merge_options *options);
kcl_layer *kcl_layer_average_(const kcl_merge_options *options);
kcl_layer *kcl_layer_concatenate_(const kcl_merge_options *options);

#ifndef __cplusplus   /* C++: the inline functions at the end of this file */
#define kcl_layer_dense(units_, ...) \
    kcl_layer_dense_(&(kcl_dense_options){.units = (units_), __VA_ARGS__})
#define kcl_layer_activation(name_, ...) \
    kcl_layer_activation_(&(kcl_activation_options){.activation = (name_), __VA_ARGS__})
#define kcl_layer_input(...) kcl_layer_input_(&(kcl_flatten_options){__VA_ARGS__})
#define kcl_layer_flatten(...) kcl_layer_flatten_(&(kcl_flatten_options){__VA_ARGS__})
#define kcl_layer_reshape(...) kcl_layer_reshape_(&(kcl_reshape_options){__VA_ARGS__})
#define kcl_layer_dropout(rate_, ...) \
    kcl_layer_dropout_(&(kcl_dropout_options){.rate = (rate_), __VA_ARGS__})
#define kcl_layer_lambda(expr_, ...) \
    kcl_layer_lambda_(&(kcl_lambda_options){.expression = (expr_), __VA_ARGS__})
#define kcl_layer_add(...)         kcl_layer_add_(&(kcl_merge_options){__VA_ARGS__})
#define kcl_layer_subtract(...)    kcl_layer_subtract_(&(kcl_merge_options){__VA_ARGS__})
#define kcl_layer_multiply(...)    kcl_layer_multiply_(&(kcl_merge_options){__VA_ARGS__})
#define kcl_layer_average(...)     kcl_layer_average_(&(kcl_merge_options){__VA_ARGS__})
#define kcl_layer_concatenate(...) kcl_layer_concatenate_(&(kcl_merge_options){__VA_ARGS__})
#endif

/* Frees a layer that no model or call took. */
void kcl_layer_free(kcl_layer *layer);
const char *kcl_layer_name(const kcl_layer *layer);
const char *kcl_layer_class(const kcl_layer *layer);    /* "Dense", ... */
kcl_status kcl_layer_set_trainable(kcl_layer *layer, int trainable);
int kcl_layer_trainable(const kcl_layer *layer);
/* The layer's weights in Keras' order (Dense: kernel, bias); NULL before the
 * layer is built. The tensors stay the layer's. */
size_t kcl_layer_weight_count(const kcl_layer *layer);
kcl_tensor *kcl_layer_weight(const kcl_layer *layer, size_t i);
const char *kcl_layer_weight_name(const kcl_layer *layer, size_t i);   /* "kernel", "bias" */
/* Copies host values into weight i (count must match its size). */
kcl_status kcl_layer_set_weight(kcl_layer *layer, size_t i, const float *values, size_t count);

/* ----------------------------------------------------------------- models -- */

typedef struct kcl_model kcl_model;
/* A symbolic tensor of a functional graph (Keras' KerasTensor): a shape and
 * the layer call that makes it. Owned by the context. */
typedef struct kcl_sym kcl_sym;

kcl_status kcl_sequential(kcl_context *ctx, kcl_model **out);
/* Appends a layer (the model takes it, also on failure). Shapes are inferred
 * as layers are added; an incompatible layer is refused with both shapes in
 * the message and the model is left as it was. */
kcl_status kcl_model_add(kcl_model *m, kcl_layer *layer);
kcl_status kcl_model_pop(kcl_model *m);

/* Functional models: inputs -> layer calls -> outputs. */
kcl_status kcl_input(kcl_context *ctx, int rank, const int64_t *shape, const char *name,
                     kcl_sym **out);
kcl_status kcl_call(kcl_layer *layer, kcl_sym *x, kcl_sym **out);
kcl_status kcl_call_n(kcl_layer *layer, size_t n, kcl_sym *const *xs, kcl_sym **out);
int kcl_sym_rank(const kcl_sym *s);            /* with the batch axis */
const int64_t *kcl_sym_shape(const kcl_sym *s);   /* batch axis as -1 */
kcl_status kcl_functional(kcl_context *ctx, size_t n_inputs, kcl_sym *const *inputs,
                          size_t n_outputs, kcl_sym *const *outputs, const char *name,
                          kcl_model **out);
/* The model as a layer, to call or add inside another model (the outer model
 * then shares this one's weights; free the inner model only after it). */
kcl_layer *kcl_model_as_layer(kcl_model *m);

void kcl_model_free(kcl_model *m);
kcl_context *kcl_model_context(const kcl_model *m);
const char *kcl_model_name(const kcl_model *m);
size_t kcl_model_layer_count(const kcl_model *m);
kcl_layer *kcl_model_layer(const kcl_model *m, size_t i);
kcl_layer *kcl_model_layer_by_name(const kcl_model *m, const char *name);
/* Keras' summary() table into a malloc'ed string (free() it). */
kcl_status kcl_model_summary(kcl_model *m, char **text);
/* Total, trainable and non-trainable parameter counts. */
kcl_status kcl_model_count_params(kcl_model *m, int64_t *total, int64_t *trainable);
/* A copy of a built model on another context, possibly another device or
 * platform (or on the same context: a clone): the architecture, the compile
 * settings, the weights, the optimizer's slots and iteration count, and the
 * layers' training-call counts (seeded Dropout masks), so the copy predicts
 * as src does and continues training where src stands. Values travel through
 * host memory (this waits for src's device); nothing is written to disk. What
 * kcl_model_to_json cannot express cannot be copied either (custom initializer
 * callbacks are not needed: the weights are copied). src is left as it was
 * (except that optimizer slots it had not created yet now exist, zero-filled,
 * as the first step would create them). On failure *out is NULL and the
 * message is on src's context. */
kcl_status kcl_model_copy(kcl_model *src, kcl_context *dst, kcl_model **out);

/* --------------------------------------------------------------- training -- */

typedef struct kcl_compile_options {
    kcl_optimizer_config optimizer;   /* kind DEFAULT: rmsprop */
    size_t n_losses;             /* 1, or one per output */
    const kcl_loss_config *losses;
    const float *loss_weights;   /* NULL: all 1 */
    size_t n_metrics;            /* applied to every output */
    const kcl_metric_config *metrics;
} kcl_compile_options;

/* compile(optimizer, loss, metrics) with names: metrics is NULL or a
 * comma-separated list ("accuracy", "mae,mse"). */
kcl_status kcl_compile(kcl_model *m, kcl_optimizer_config optimizer, const char *loss,
                       const char *metrics);
kcl_status kcl_compile_ex(kcl_model *m, const kcl_compile_options *options);

typedef enum kcl_verbose {
    KCL_VERBOSE_AUTO = 0,        /* a progress bar on a terminal, else one line per epoch */
    KCL_VERBOSE_SILENT,          /* Keras' verbose=0: nothing written */
    KCL_VERBOSE_BAR,             /* verbose=1 */
    KCL_VERBOSE_LINE             /* verbose=2: one line per epoch */
} kcl_verbose;

typedef struct kcl_callback kcl_callback;
typedef struct kcl_history kcl_history;

typedef struct kcl_fit_options {
    int epochs;                  /* 0 means 1 */
    int64_t batch_size;          /* 0 means 32 */
    kcl_verbose verbose;
    float validation_split;      /* the last fraction of x, y (before shuffling) */
    size_t n_validation;         /* validation_data: n_validation x arrays then y arrays */
    const kcl_array *validation_data;
    int no_shuffle;              /* Keras' shuffle=False */
    uint64_t seed;               /* shuffling and dropout; 0: unseeded */
    int initial_epoch;
    size_t n_class_weight;       /* class_weight[c] for class c (sparse or one-hot targets) */
    const float *class_weight;
    const kcl_array *sample_weight;   /* shape [samples] */
    size_t n_callbacks;
    kcl_callback *const *callbacks;
} kcl_fit_options;

/* Trains on host arrays: x (n_x of them, one per model input) and y (one per
 * output). *history (may be NULL) receives the per-epoch loss and metrics (also
 * when training stops early). A NaN or infinite loss stops training with
 * KCL_ERR_NUMERIC and a message naming the epoch and step (the loss is read
 * at every progress update and epoch end; every step with TerminateOnNaN). */
kcl_status kcl_fit_arrays(kcl_model *m, size_t n_x, const kcl_array *x, size_t n_y,
                          const kcl_array *y, const kcl_fit_options *options,
                          kcl_history **history);
/* Single input, single output: kcl_fit(m, &x, &y, .epochs = 10, .batch_size = 128). */
#ifndef __cplusplus   /* C++: the inline functions at the end of this file */
#define kcl_fit(m, x, y, ...) \
    kcl_fit_arrays((m), 1, (x), 1, (y), &(kcl_fit_options){__VA_ARGS__}, NULL)
#endif
/* Trains on a Dataset whose elements are (x..., y...) with the model's counts. */
kcl_status kcl_fit_dataset(kcl_model *m, kcl_dataset *train, kcl_dataset *validation,
                           const kcl_fit_options *options, kcl_history **history);

typedef struct kcl_eval_options {
    int64_t batch_size;          /* 0 means 32 */
    kcl_verbose verbose;
    const kcl_array *sample_weight;
} kcl_eval_options;

/* Loss then metrics, in the order of kcl_model_metric_name. */
kcl_status kcl_evaluate(kcl_model *m, size_t n_x, const kcl_array *x, size_t n_y,
                        const kcl_array *y, const kcl_eval_options *options, float *results,
                        size_t n_results);
kcl_status kcl_evaluate_dataset(kcl_model *m, kcl_dataset *data, const kcl_eval_options *options,
                                float *results, size_t n_results);
size_t kcl_model_metric_count(const kcl_model *m);          /* loss included */
const char *kcl_model_metric_name(const kcl_model *m, size_t i);   /* "loss", "accuracy", ... */
/* Predictions for x, one array per output (free with kcl_array_free). */
kcl_status kcl_predict(kcl_model *m, size_t n_x, const kcl_array *x,
                       const kcl_eval_options *options, size_t n_out, kcl_array *out);

/* One step on device tensors; *loss (may be NULL) receives the loss and the
 * metrics (n_results values) after the step (this waits for the device). */
kcl_status kcl_train_on_batch(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                              float *results, size_t n_results);
kcl_status kcl_test_on_batch(kcl_model *m, kcl_tensor *const *x, kcl_tensor *const *y,
                             float *results, size_t n_results);
/* Forward pass in inference mode; outputs are new tensors. */
kcl_status kcl_predict_on_batch(kcl_model *m, kcl_tensor *const *x, kcl_tensor **outputs);

/* History: one value per epoch for "loss", each metric, and "val_..." ones. */
int kcl_history_epochs(const kcl_history *h);
/* The values of a key (NULL when absent); valid while h lives. */
const float *kcl_history_get(const kcl_history *h, const char *key);
size_t kcl_history_key_count(const kcl_history *h);
const char *kcl_history_key(const kcl_history *h, size_t i);
void kcl_history_free(kcl_history *h);

/* -------------------------------------------------------------- callbacks -- */

/* The values of an epoch or batch: loss and metrics by name. */
typedef struct kcl_logs {
    size_t n;
    const char *const *keys;
    const float *values;
} kcl_logs;

/* A user callback (Keras' keras.callbacks.Callback): every hook may be NULL;
 * returning an error stops training with it. */
typedef struct kcl_callback_hooks {
    void *user;
    kcl_status (*on_train_begin)(kcl_model *m, void *user);
    kcl_status (*on_train_end)(kcl_model *m, const kcl_logs *logs, void *user);
    kcl_status (*on_epoch_begin)(kcl_model *m, int epoch, void *user);
    kcl_status (*on_epoch_end)(kcl_model *m, int epoch, const kcl_logs *logs, void *user);
    kcl_status (*on_batch_begin)(kcl_model *m, int64_t batch, void *user);
    /* logs hold the running loss and metrics; providing this hook makes each
     * step wait for the device to read them. */
    kcl_status (*on_batch_end)(kcl_model *m, int64_t batch, const kcl_logs *logs, void *user);
    void (*destroy)(void *user);  /* called by kcl_callback_free */
} kcl_callback_hooks;

kcl_status kcl_callback_create(const kcl_callback_hooks *hooks, kcl_callback **out);
void kcl_callback_free(kcl_callback *cb);
/* Asks fit to stop after the current epoch (Keras' model.stop_training = True). */
void kcl_model_stop_training(kcl_model *m);
/* The optimizer of a compiled model (NULL before compile). */
kcl_optimizer *kcl_model_optimizer(kcl_model *m);

/* ------------------------------------------------------ built-in callbacks -- *
 * Keras' callbacks; each returns a new callback (free with kcl_callback_free).
 * monitor NULL means "val_loss"; mode: 0 "auto" (max for names containing
 * "acc" or "auc", min otherwise), 1 "min", 2 "max".
 * verbose 1 logs Keras' messages (KCL_LOG_INFO lines through the context's
 * log, after the epoch's progress line; fit's own verbose does not silence
 * them, as in Keras). Each is Keras 3's text without its leading newline:
 *   EarlyStopping, at the end of fit:
 *     "Epoch 6: early stopping"
 *     "Restoring model weights from the end of the best epoch: 4."
 *   ModelCheckpoint, at each epoch end (best "None" before the first value):
 *     "Epoch 2: val_loss improved from 0.51234 to 0.43210, saving model to PATH"
 *     "Epoch 3: val_loss did not improve from 0.43210"
 *     "Epoch 1: saving model to PATH"             (without save_best_only)
 *   ReduceLROnPlateau, when it reduces (the rate as Python prints a float):
 *     "Epoch 5: ReduceLROnPlateau reducing learning rate to 0.005000000074505806."
 * Epochs count from 1 here, as in all of Keras' messages. */

typedef struct kcl_early_stopping_options {
    const char *monitor;
    float min_delta;
    int patience;
    int mode;
    float baseline;              /* 0: none */
    int restore_best_weights;
    int start_from_epoch;
    int verbose;                 /* 1: say when it stops and restores (see below) */
} kcl_early_stopping_options;

typedef struct kcl_model_checkpoint_options {
    const char *path;            /* "{epoch}" and "{monitor}" are not expanded: one file */
    const char *monitor;
    int mode;
    int save_best_only;
    int save_weights_only;       /* weights only (safetensors) instead of the whole model */
    int verbose;                 /* 1: say at each epoch end whether it saves */
} kcl_model_checkpoint_options;

typedef struct kcl_reduce_lr_options {
    const char *monitor;
    float factor;                /* 0 means 0.1 */
    int patience;                /* 0 means 10 */
    int mode;
    float min_delta;             /* 0 means 1e-4 */
    int cooldown;
    float min_lr;
    int verbose;                 /* 1: say when it reduces the rate */
} kcl_reduce_lr_options;

kcl_status kcl_early_stopping(const kcl_early_stopping_options *options, kcl_callback **out);
kcl_status kcl_model_checkpoint(const kcl_model_checkpoint_options *options, kcl_callback **out);
kcl_status kcl_reduce_lr_on_plateau(const kcl_reduce_lr_options *options, kcl_callback **out);
/* Stops training at the first batch whose loss is NaN or infinite; fit then
 * returns KCL_ERR_NUMERIC. Checks every batch (the loss is read each step). */
kcl_status kcl_terminate_on_nan(kcl_callback **out);
/* One line per epoch: "epoch,<keys...>" as Keras' CSVLogger; append nonzero
 * continues an existing file. */
kcl_status kcl_csv_logger(const char *path, const char *separator, int append,
                          kcl_callback **out);
/* The epoch at which EarlyStopping stopped training (0: it did not). */
int kcl_early_stopping_stopped_epoch(const kcl_callback *cb);

/* ------------------------------------------------------------ save / load -- *
 * Weights are stored in the safetensors format (readable by the Python
 * `safetensors` package), named "<layer>/<weight>" ("dense_1/kernel"); the
 * architecture and compile settings as JSON. Every write goes to a temporary
 * file renamed over the old one, so an interrupted save leaves the old file
 * intact. Every read checks sizes, offsets, dtypes, names and shapes: a
 * truncated, corrupt or hostile file is refused (KCL_ERR_FORMAT) with a
 * message, and the model is left as it was. */

kcl_status kcl_model_save_weights(kcl_model *m, const char *path);
/* Loads weights by name into a built model of the same architecture. */
kcl_status kcl_model_load_weights(kcl_model *m, const char *path);
/* The architecture (and compile settings when compiled) as JSON (free()). */
kcl_status kcl_model_to_json(kcl_model *m, char **json);
/* A new, uncompiled-or-compiled model from such JSON, with fresh weights. */
kcl_status kcl_model_from_json(kcl_context *ctx, const char *json, kcl_model **out);
/* The whole model in one safetensors file: architecture, compile settings and
 * training state in its metadata, weights and optimizer slots as tensors
 * ("optimizer/<layer>/<weight>/<slot>"), plus a checksum that load verifies.
 * A loaded model continues training where the saved one stopped. */
kcl_status kcl_model_save(kcl_model *m, const char *path);
kcl_status kcl_model_load(kcl_context *ctx, const char *path, kcl_model **out);

#ifdef __cplusplus
}

/* -------------------------------------------------------------------- C++ --
 * C++17 has neither compound literals nor designated initializers, so the
 * option macros above are C only. C++ gets inline functions of the same names
 * instead (C++ linkage, outside the library's ABI):
 *  - initializers and optimizers take Keras' positional arguments in Keras'
 *    order, 0 meaning the default as in the structs:
 *        kcl_init_random_normal(0.0f, 0.1f, 7), kcl_init_he_normal(42),
 *        kcl_adam(1e-3f);
 *  - every other convenience takes the macro's leading arguments, then
 *    optionally the whole options struct (value-initialised: the defaults);
 *    the leading arguments win over the struct's fields:
 *        kcl_dense_options dense{};                              // C++17
 *        dense.activation = "relu";
 *        kcl_model_add(m, kcl_layer_dense(64, dense));
 *        kcl_fit_options fit{};
 *        fit.epochs = 10;
 *        kcl_fit(m, &x, &y, fit);
 *        kcl_model_add(m, kcl_layer_dense(64, {.activation = "relu"}));   // C++20
 *        kcl_compile(m, kcl_adam({.learning_rate = 1e-3f, .amsgrad = 1}), "mse", NULL);
 *    (C++20 designated initializers must follow the fields' order; g++ 12's
 *    -Wextra warns about the fields left out: -Wno-missing-field-initializers.)
 */

inline kcl_initializer kcl_init_make_(kcl_init_kind kind)
{
    kcl_initializer init = kcl_initializer();
    init.kind = kind;
    return init;
}
inline kcl_initializer kcl_init_zeros() { return kcl_init_make_(KCL_INIT_ZEROS); }
inline kcl_initializer kcl_init_ones() { return kcl_init_make_(KCL_INIT_ONES); }
inline kcl_initializer kcl_init_constant(float value = 0.0f)
{
    kcl_initializer init = kcl_init_make_(KCL_INIT_CONSTANT);
    init.value = value;
    return init;
}
/* RandomNormal and TruncatedNormal share their arguments. */
inline kcl_initializer kcl_init_normal_(kcl_init_kind kind, float mean, float stddev,
                                        uint64_t seed)
{
    kcl_initializer init = kcl_init_make_(kind);
    init.mean = mean;
    init.stddev = stddev;
    init.seed = seed;
    return init;
}
inline kcl_initializer kcl_init_random_normal(float mean = 0.0f, float stddev = 0.0f,
                                              uint64_t seed = 0)
{
    return kcl_init_normal_(KCL_INIT_RANDOM_NORMAL, mean, stddev, seed);
}
inline kcl_initializer kcl_init_truncated_normal(float mean = 0.0f, float stddev = 0.0f,
                                                 uint64_t seed = 0)
{
    return kcl_init_normal_(KCL_INIT_TRUNCATED_NORMAL, mean, stddev, seed);
}
inline kcl_initializer kcl_init_random_uniform(float minval = 0.0f, float maxval = 0.0f,
                                               uint64_t seed = 0)
{
    kcl_initializer init = kcl_init_make_(KCL_INIT_RANDOM_UNIFORM);
    init.minval = minval;
    init.maxval = maxval;
    init.seed = seed;
    return init;
}
inline kcl_initializer kcl_init_variance_scaling(
    float scale = 0.0f, kcl_fan_mode mode = KCL_FAN_IN,
    kcl_init_distribution distribution = KCL_DIST_TRUNCATED_NORMAL, uint64_t seed = 0)
{
    kcl_initializer init = kcl_init_make_(KCL_INIT_VARIANCE_SCALING);
    init.scale = scale;
    init.mode = mode;
    init.distribution = distribution;
    init.seed = seed;
    return init;
}
inline kcl_initializer kcl_init_seeded_(kcl_init_kind kind, uint64_t seed)
{
    kcl_initializer init = kcl_init_make_(kind);
    init.seed = seed;
    return init;
}
inline kcl_initializer kcl_init_glorot_normal(uint64_t seed = 0)
{
    return kcl_init_seeded_(KCL_INIT_GLOROT_NORMAL, seed);
}
inline kcl_initializer kcl_init_glorot_uniform(uint64_t seed = 0)
{
    return kcl_init_seeded_(KCL_INIT_GLOROT_UNIFORM, seed);
}
inline kcl_initializer kcl_init_he_normal(uint64_t seed = 0)
{
    return kcl_init_seeded_(KCL_INIT_HE_NORMAL, seed);
}
inline kcl_initializer kcl_init_he_uniform(uint64_t seed = 0)
{
    return kcl_init_seeded_(KCL_INIT_HE_UNIFORM, seed);
}
inline kcl_initializer kcl_init_lecun_normal(uint64_t seed = 0)
{
    return kcl_init_seeded_(KCL_INIT_LECUN_NORMAL, seed);
}
inline kcl_initializer kcl_init_lecun_uniform(uint64_t seed = 0)
{
    return kcl_init_seeded_(KCL_INIT_LECUN_UNIFORM, seed);
}
inline kcl_initializer kcl_init_identity(float gain = 0.0f)
{
    kcl_initializer init = kcl_init_make_(KCL_INIT_IDENTITY);
    init.gain = gain;
    return init;
}
inline kcl_initializer kcl_init_orthogonal(float gain = 0.0f, uint64_t seed = 0)
{
    kcl_initializer init = kcl_init_seeded_(KCL_INIT_ORTHOGONAL, seed);
    init.gain = gain;
    return init;
}
inline kcl_initializer kcl_init_custom(kcl_init_fn callback, void *data)
{
    kcl_initializer init = kcl_init_make_(KCL_INIT_CUSTOM);
    init.fn = callback;
    init.user = data;
    return init;
}

/* Optimizers: kcl_adam(1e-3f), or a whole config (its kind is set here). */
inline kcl_optimizer_config kcl_optimizer_kind_(kcl_optimizer_kind kind,
                                                kcl_optimizer_config config)
{
    config.kind = kind;
    return config;
}
inline kcl_optimizer_config kcl_optimizer_rate_(kcl_optimizer_kind kind, float learning_rate)
{
    kcl_optimizer_config config = kcl_optimizer_config();
    config.learning_rate = learning_rate;
    return kcl_optimizer_kind_(kind, config);
}
inline kcl_optimizer_config kcl_sgd(float learning_rate = 0.0f)
{
    return kcl_optimizer_rate_(KCL_OPTIMIZER_SGD, learning_rate);
}
inline kcl_optimizer_config kcl_sgd(kcl_optimizer_config c)
{
    return kcl_optimizer_kind_(KCL_OPTIMIZER_SGD, c);
}
inline kcl_optimizer_config kcl_adam(float learning_rate = 0.0f)
{
    return kcl_optimizer_rate_(KCL_OPTIMIZER_ADAM, learning_rate);
}
inline kcl_optimizer_config kcl_adam(kcl_optimizer_config c)
{
    return kcl_optimizer_kind_(KCL_OPTIMIZER_ADAM, c);
}
inline kcl_optimizer_config kcl_adamw(float learning_rate = 0.0f)
{
    return kcl_optimizer_rate_(KCL_OPTIMIZER_ADAMW, learning_rate);
}
inline kcl_optimizer_config kcl_adamw(kcl_optimizer_config c)
{
    return kcl_optimizer_kind_(KCL_OPTIMIZER_ADAMW, c);
}
inline kcl_optimizer_config kcl_rmsprop(float learning_rate = 0.0f)
{
    return kcl_optimizer_rate_(KCL_OPTIMIZER_RMSPROP, learning_rate);
}
inline kcl_optimizer_config kcl_rmsprop(kcl_optimizer_config c)
{
    return kcl_optimizer_kind_(KCL_OPTIMIZER_RMSPROP, c);
}
inline kcl_optimizer_config kcl_adagrad(float learning_rate = 0.0f)
{
    return kcl_optimizer_rate_(KCL_OPTIMIZER_ADAGRAD, learning_rate);
}
inline kcl_optimizer_config kcl_adagrad(kcl_optimizer_config c)
{
    return kcl_optimizer_kind_(KCL_OPTIMIZER_ADAGRAD, c);
}

inline kcl_loss_config kcl_loss(kcl_loss_kind kind, kcl_loss_config c = kcl_loss_config())
{
    c.kind = kind;
    return c;
}

/* Layers: the options struct is a copy, so a temporary is fine. */
inline kcl_layer *kcl_layer_dense(int64_t units, kcl_dense_options o = kcl_dense_options())
{
    o.units = units;
    return kcl_layer_dense_(&o);
}
inline kcl_layer *kcl_layer_activation(const char *name,
                                       kcl_activation_options o = kcl_activation_options())
{
    o.activation = name;
    return kcl_layer_activation_(&o);
}
inline kcl_layer *kcl_layer_input(kcl_flatten_options o = kcl_flatten_options())
{
    return kcl_layer_input_(&o);
}
inline kcl_layer *kcl_layer_flatten(kcl_flatten_options o = kcl_flatten_options())
{
    return kcl_layer_flatten_(&o);
}
inline kcl_layer *kcl_layer_reshape(kcl_reshape_options o = kcl_reshape_options())
{
    return kcl_layer_reshape_(&o);
}
inline kcl_layer *kcl_layer_dropout(float rate, kcl_dropout_options o = kcl_dropout_options())
{
    o.rate = rate;
    return kcl_layer_dropout_(&o);
}
inline kcl_layer *kcl_layer_lambda(const char *expression,
                                   kcl_lambda_options o = kcl_lambda_options())
{
    o.expression = expression;
    return kcl_layer_lambda_(&o);
}
inline kcl_layer *kcl_layer_add(kcl_merge_options o = kcl_merge_options())
{
    return kcl_layer_add_(&o);
}
inline kcl_layer *kcl_layer_subtract(kcl_merge_options o = kcl_merge_options())
{
    return kcl_layer_subtract_(&o);
}
inline kcl_layer *kcl_layer_multiply(kcl_merge_options o = kcl_merge_options())
{
    return kcl_layer_multiply_(&o);
}
inline kcl_layer *kcl_layer_average(kcl_merge_options o = kcl_merge_options())
{
    return kcl_layer_average_(&o);
}
inline kcl_layer *kcl_layer_concatenate(kcl_merge_options o = kcl_merge_options())
{
    return kcl_layer_concatenate_(&o);
}

inline kcl_status kcl_fit(kcl_model *m, const kcl_array *x, const kcl_array *y,
                          kcl_fit_options o = kcl_fit_options())
{
    return kcl_fit_arrays(m, 1, x, 1, y, &o, NULL);
}
#endif /* __cplusplus */

#endif /* KCL_H */

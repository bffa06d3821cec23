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
/* The "P:D" indices of a device (info->platform_index, device_index), or -1
 * each for a device no platform lists (a sub-device). */
void kcl__device_locate(cl_platform_id platform, cl_device_id device, kcl_device_info *info);
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
/* Same for a program built from source text generated at run time (Lambda
 * layers): cached in memory under `program` (which must name the source
 * uniquely) and on disk by the source's hash; refused in offline mode. */
kcl_status kcl__kernel_from_source(kcl_context *ctx, const char *program, const char *source,
                                   const char *kernel, cl_kernel *out);

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

/* ------------------------------------------------------------------ output -- */

/* The one place kcl writes text for people (log.c): the context's log
 * callback when one is set, else stdout (progress, info) or stderr (warning).
 * level is a KCL_LOG_* value; text is one message without a trailing newline
 * (KCL_LOG_PROGRESS: a redraw of the current progress line). ctx may be NULL. */
void kcl__log(kcl_context *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

uint64_t kcl__fnv1a(uint64_t hash, const void *data, size_t size);
double kcl__now(void);

/* ------------------------------------------------------------------- pool -- */

/* Device buffers that no tensor uses any more, kept for the next tensor of a
 * size that fits: the in-order queue guarantees that work still reading a
 * buffer runs before any later work that writes it, so reuse needs no wait. */
typedef struct kcl_pool_block {
    cl_mem mem;
    size_t bytes;
} kcl_pool_block;

typedef struct kcl_pool {
    kcl_pool_block *free;
    size_t nfree, cap;
    size_t free_bytes;           /* held in free blocks */
    size_t used_bytes;           /* held by live tensors */
    size_t peak_bytes;           /* most used_bytes since creation or the last reset */
    size_t peak_held_bytes;      /* most used_bytes + free_bytes, the same span */
} kcl_pool;

kcl_status kcl__pool_alloc(kcl_context *ctx, size_t bytes, cl_mem *mem, size_t *got);
void kcl__pool_release(kcl_context *ctx, cl_mem mem, size_t bytes);
void kcl__pool_free(kcl_context *ctx);

/* ----------------------------------------------------------------- faults -- */

/* Injected failures, for tests of the error paths (fault.c): the Nth device
 * buffer allocation request (pool hits included), program build or enqueue
 * (kernels, reads, writes, CLBlast calls) since arming fails as if the driver
 * had refused it. Armed from $KCL_FAULT ("alloc:N,build:N,enqueue:N") when the
 * context is created, or by kcl__fault_arm. Each armed kind fires once.
 * "memory:BYTES" in $KCL_FAULT shrinks the device memory the allocator
 * believes in, so that running out of it can be tested without using it all. */
typedef enum kcl_fault_kind {
    KCL_FAULT_ALLOC,             /* CL_MEM_OBJECT_ALLOCATION_FAILURE */
    KCL_FAULT_BUILD,             /* CL_BUILD_PROGRAM_FAILURE */
    KCL_FAULT_ENQUEUE,           /* CL_OUT_OF_RESOURCES */
    KCL_FAULT_KIND_COUNT_
} kcl_fault_kind;

typedef struct kcl_faults {
    int64_t count[KCL_FAULT_KIND_COUNT_];    /* calls since arming */
    int64_t fire_at[KCL_FAULT_KIND_COUNT_];  /* 0: not armed */
    char note[64];               /* set when one fired; kcl__fail appends it */
    uint64_t memory_limit;       /* nonzero: device memory as if the device had this much */
} kcl_faults;

/* Counts one call of kind; the OpenCL error to fail it with when this is the
 * armed one, else CL_SUCCESS. Call sites: `err = kcl__fault(...); if (!err)
 * err = clEnqueue...`. */
cl_int kcl__fault(kcl_context *ctx, kcl_fault_kind kind);
/* Makes call n (from 1, counting from now) of kind fail; n 0 disarms. Test hook. */
void kcl__fault_arm(kcl_context *ctx, kcl_fault_kind kind, int64_t n);
/* Makes the allocator act as if the device had `bytes` of memory (0: as it has). Test hook. */
void kcl__fault_memory_limit(kcl_context *ctx, uint64_t bytes);
/* Calls of kind counted since the last arming. Test hook. */
int64_t kcl__fault_count(const kcl_context *ctx, kcl_fault_kind kind);
/* Reads $KCL_FAULT into ctx at creation; a malformed value is KCL_ERR_ARGUMENT. */
kcl_status kcl__faults_from_env(kcl_context *ctx);

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
    kcl_gemm_engine gemm;        /* as asked (AUTO) until kcl__context_ready resolves it */
    size_t group_1d;             /* work-group size of 1-D launches */
    size_t gemm_pack_k, gemm_pack_outputs;   /* see kcl__gemm_packing */
    int gemm_rows;               /* rows of kcl's GEMM tile (KCL_GEMM_ROWS): 8 or 4 */
    /* KCL_VECTOR_LOOPS: on CPUs, a work-item of some kernels loops over a run
     * of neighbouring elements, which the compiler vectorizes; elsewhere
     * (GPUs, and Oclgrind, which then checks that form) a work-item takes one
     * element and its neighbours the next ones, as GPUs' memory wants. */
    bool vector_loops;
    char *kernel_dir;            /* $KCL_KERNEL_DIR: read .cl files from here */

    kcl_program *programs;       /* built programs, a list */
    kcl_build_stats stats;
    kcl_queue_stats queue_stats; /* counted where kcl enqueues or waits */

    kcl_tensor *tensors;         /* every live tensor, so freeing the context frees them */
    uint64_t next_tensor_id;

    kcl_pool pool;               /* device buffers, reused */
    struct kcl_name_count *names;   /* automatic layer names given so far */
    kcl_sym *syms;               /* symbolic tensors of functional graphs */
    kcl_tape *tapes;             /* tapes recording now, a list */

    kcl_log_fn log_fn;           /* NULL: stdout and stderr */
    void *log_user;
    bool log_line_open;          /* the default sink left a progress line without '\n' */
    kcl_faults faults;           /* injected failures (tests) */
};

/* Shared by kcl_context_create and kcl_context_from_cl (context.c): a new
 * context with options applied (disk cache, offline mode) and no device yet;
 * on failure the message is on the thread's context-less slot. */
kcl_status kcl__context_new(const kcl_context_options *options, kcl_context **out);
/* Called once device, context, queue and info are set: applies the tuned
 * CLBlast parameters, as every context gets them. */
kcl_status kcl__context_ready(kcl_context *ctx);

/* ---------------------------------------------------------------- tensors -- */

/* Device memory shared by a tensor and its reshaped views. */
typedef struct kcl_storage {
    cl_mem mem;                  /* NULL for an empty tensor */
    size_t bytes;
    int refs;
    bool external;               /* an application's buffer (kcl_tensor_from_cl): kcl
                                    holds one reference, released at the end and
                                    never put in the pool */
} kcl_storage;

struct kcl_tensor {
    kcl_context *ctx;
    int refs;                    /* the caller's handle plus each tape holding it */
    uint64_t id;                 /* unique in its context; tapes track tensors by it */
    bool trainable;              /* a variable: tapes watch it when it is used */
    kcl_storage *storage;
    size_t offset;               /* in elements */
    int rank;
    int64_t shape[KCL_MAX_RANK];
    int64_t size;
    /* Keras' _keras_logits (TensorFlow backend): an output of softmax (along
     * the last axis) or sigmoid keeps its input, so a cross-entropy of it is
     * computed from the logits, exactly and in one fused kernel, as Keras on
     * TensorFlow does. A reference, released with the tensor. */
    kcl_tensor *logits;
    int logits_of;               /* KCL__LOGITS_* */
    kcl_tensor *prev, *next;     /* in ctx->tensors */
};

enum { KCL__LOGITS_NONE, KCL__LOGITS_SOFTMAX, KCL__LOGITS_SIGMOID };

void kcl__tensors_free(kcl_context *ctx);
/* A tensor with uninitialised contents (from the pool): op outputs. */
kcl_status kcl__tensor_new(kcl_context *ctx, int rank, const int64_t *shape, kcl_tensor **out);
/* A new handle on the same memory with another shape (no size check). */
kcl_status kcl__tensor_view(kcl_tensor *t, int rank, const int64_t *shape, kcl_tensor **out);
kcl_tensor *kcl__tensor_retain(kcl_tensor *t);
/* A tensor over an application's buffer at an element offset, holding one
 * reference on mem (retained here on success). Checks only the shape. */
kcl_status kcl__tensor_wrap(kcl_context *ctx, const char *fn, cl_mem mem, size_t offset,
                            int rank, const int64_t *shape, kcl_tensor **out);
/* Zero-fills the tensor, asynchronously. */
kcl_status kcl__tensor_zero(kcl_tensor *t);
/* The tensor's shape for messages, in a static per-thread buffer (two slots). */
const char *kcl__shape_of(const kcl_tensor *t);
/* Element count of a shape, or -1 when a dimension is negative or the byte
 * size overflows size_t. */
int64_t kcl__shape_size(int rank, const int64_t *shape);

/* ------------------------------------------------------------------ graph -- */

/* One operation applied: what a tape records and replays backward. */
typedef struct kcl_node kcl_node;

/* Attributes an op keeps for its forward and backward passes. */
typedef struct kcl_op_attr {
    float f[4];                  /* scalars: exponent, clip bounds, activation arguments */
    int i[4];                    /* small integers: axis, keepdims, depth, activation */
    int64_t v[KCL_MAX_RANK];     /* per-axis values: reduced-axis flags, perm, begin */
    int64_t w[KCL_MAX_RANK];     /* more per-axis values: slice sizes */
} kcl_op_attr;

/* An op: one entry per operation, defined in the file of its family. */
typedef struct kcl_op_def {
    const char *name;
    /* Enqueues the work that computes node->out from node->in. */
    kcl_status (*forward)(kcl_context *ctx, const kcl_node *node);
    /* Sets grads[i] to d(loss)/d(in[i]) given gy = d(loss)/d(out), as new
     * tensors of the inputs' shapes, computed with the public ops (so an outer
     * tape records them: higher-order gradients). NULL where the op is not
     * differentiable in that input. NULL backward: not differentiable at all. */
    kcl_status (*backward)(kcl_context *ctx, const kcl_node *node, kcl_tensor *gy,
                           kcl_tensor **grads);
} kcl_op_def;

#define KCL_NODE_INLINE_INPUTS 4

struct kcl_node {
    const kcl_op_def *def;
    int n_in;
    kcl_tensor **in;             /* n_in inputs */
    kcl_tensor *out;
    kcl_tensor *saved;           /* an extra tensor the backward pass needs, or NULL */
    kcl_op_attr attr;
    /* Set by the tape before backward: bit i when no one needs the gradient
     * of input i, so a costly backward (matmul) may leave grads[i] NULL. */
    unsigned skip_grad;
    kcl_tensor *inline_in[KCL_NODE_INLINE_INPUTS];
};

/* Prepares a node for def over inputs (n_in <= KCL_NODE_INLINE_INPUTS). */
void kcl__node_init(kcl_node *node, const kcl_op_def *def, int n_in, kcl_tensor *const *in);
/* Runs an op: checks the inputs share one context, allocates the output of
 * the given shape (unless node->out is set, as for views), enqueues the
 * forward pass, and records the node on every recording tape that tracks one
 * of its inputs. On success *out is the output (the caller's reference); on
 * failure nothing is left allocated except what node->saved held (released). */
kcl_status kcl__op_run(kcl_node *node, int out_rank, const int64_t *out_shape, kcl_tensor **out);
void kcl__tapes_free(kcl_context *ctx);

/* Shape helpers for ops. */
/* NumPy broadcasting of two shapes into out; KCL_ERR_SHAPE naming op and shapes. */
kcl_status kcl__broadcast_shape(kcl_context *ctx, const char *op, const kcl_tensor *a,
                                const kcl_tensor *b, int *rank, int64_t *shape);
/* Normalises axis (negative counts from the end) for a tensor of rank; error names op. */
kcl_status kcl__axis(kcl_context *ctx, const char *op, int axis, int rank, int *out);
/* Sums g down to the given shape (the gradient of a broadcast): new tensor. */
kcl_status kcl__unbroadcast(kcl_tensor *g, int rank, const int64_t *shape, kcl_tensor **out);
/* A new tensor filled with value, of the given shape. */
kcl_status kcl__full(kcl_context *ctx, int rank, const int64_t *shape, float value,
                     kcl_tensor **out);
/* Checks a and b are non-NULL tensors of one context; names op. */
kcl_status kcl__same_context(const char *op, const kcl_tensor *a, const kcl_tensor *b);

/* y = activation(x + bias) with bias along the last axis: one kernel for
 * elementwise activations (Dense's fused path), bias_add + activation else. */
/* KCL_OK when name is a Keras activation kcl has (or NULL), else KCL_ERR_NAME
 * with the valid names in the message. */
kcl_status kcl__activation_check(kcl_context *ctx, const char *name);
kcl_status kcl__bias_activation(kcl_tensor *x, kcl_tensor *bias, const char *name,
                                const kcl_activation_args *args, kcl_tensor **out);

/* Keras' default name of a metric kind ("sparse_categorical_accuracy"); NULL
 * for none (metrics.c). */
const char *kcl__metric_kind_name(kcl_metric_kind kind);

/* Kernel argument helper: sets n arguments from (size, pointer) pairs. */
typedef struct kcl_arg {
    size_t size;
    const void *value;
} kcl_arg;
#define KCL_ARG(x) ((kcl_arg){sizeof(x), &(x)})
#define KCL_MEM(t) ((kcl_arg){sizeof(cl_mem), &(t)->storage->mem})
kcl_status kcl__set_args(kcl_context *ctx, cl_kernel kernel, const char *name, size_t n,
                         const kcl_arg *args);
/* Looks a kernel up, sets its arguments and enqueues it over n work-items. */
kcl_status kcl__enqueue(kcl_context *ctx, const char *program, const char *kernel, size_t n,
                        size_t nargs, const kcl_arg *args);

/* ------------------------------------------------------------ execution -- */

/* Enqueues a 1-D kernel over n work-items (nothing when n is 0). */
kcl_status kcl__launch_1d(kcl_context *ctx, cl_kernel kernel, size_t n, const char *name);
/* Sets every element of t to value, asynchronously. */
kcl_status kcl__fill(kcl_tensor *t, float value);
/* t *= alpha on the device; alpha 0 writes zeros whatever t held. */
kcl_status kcl__scale(kcl_context *ctx, kcl_tensor *t, float alpha);
/* A strided batch of row-major products: for z < count,
 * C_z = alpha op(A_z) op(B_z) + beta C_z, operand i of product z at element
 * offset[i] + z * stride[i] of mem[i], rows ld[i] apart. beta 0 never reads C. */
typedef struct kcl_gemm_op {
    bool ta, tb;
    size_t m, n, k;
    float alpha, beta;
    cl_mem mem[3];
    size_t offset[3], ld[3];
    int64_t stride[3];           /* 0: the same matrix for every z */
    int64_t count;
} kcl_gemm_op;
/* Enqueues g on ctx's queue with CLBlast or kcl's own kernel, whichever the
 * device and shape call for (gemm.c); m, n, k > 0. */
kcl_status kcl__gemm_run(kcl_context *ctx, const kcl_gemm_op *g);
/* kcl's own kernels (cl/gemm.cl), whatever the device (gemm_kcl.c). */
kcl_status kcl__gemm_own(kcl_context *ctx, const kcl_gemm_op *g);
/* kcl's kernels pack both operands from an inner dimension of from_k and
 * from_outputs elements of C; from_k 0 restores the defaults (which every
 * context starts with). Test hook: small products through the packed path. */
void kcl__gemm_packing(kcl_context *ctx, size_t from_k, size_t from_outputs);
/* Rows of kcl's GEMM tile for the context's device (gemm_kcl.c); rows 4 or 8
 * overrides it, a test hook valid only before the first product. */
void kcl__gemm_tile_rows(kcl_context *ctx, int rows);
/* A failed CLBlast call as a status and message. */
kcl_status kcl__blas_fail(kcl_context *ctx, int code, const char *call);
/* Context bookkeeping for CLBlast (gemm.c): CLBlast caches its compiled
 * programs for the whole process, and each holds its OpenCL context alive.
 * When the last kcl context goes, kcl empties that cache, so freed contexts
 * are really released and nothing of a driver is left for exit handlers to
 * release after the driver tore itself down (Oclgrind's thread-local state
 * goes before CLBlast's cache: a write into freed memory at exit). */
void kcl__blas_context_created(void);
void kcl__blas_context_freed(void);

#endif

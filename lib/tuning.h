/* tuning.h: CLBlast GEMM parameters per device, stored, shipped and applied.
 *
 * CLBlast has no entry for most CPU OpenCL devices (PoCL among them) and falls
 * back to generic kernels that run 4-8x slower than tuned ones. kcl keeps its
 * own parameters: a file per device in the cache directory (written by
 * samples/kcl-tune.c, every candidate checked against a reference first), else
 * a shipped set matching the device name (tuning_defaults.h). At context
 * creation kcl__tuning_apply hands them to CLBlastOverrideParameters.
 *
 * The text format, one line per CLBlast kernel, values are unsigned integers:
 *
 *     kcl-tuning 1
 *     device pthread-skylake-avx512-AMD EPYC
 *     Xgemm GEMMK=0 KREG=1 KWG=32 ...
 *     GemmRoutine XGEMM_MIN_INDIRECT_SIZE=96
 *     Engine KCL=1
 *
 * The "Engine" line is kcl's, not CLBlast's: which engine kcl-tune measured
 * the faster on the device (KCL=1: kcl's own kernel, 0: CLBlast), which
 * contexts then use when neither their options nor $KCL_GEMM choose.
 * Blank lines and lines starting with '#' are ignored. The file lives at
 * <cache_dir>/tuning/<hash>.txt, the hash (FNV-1a, 16 hex digits) taken over
 * "platform\ndevice\ndriver\n" so that a driver update starts afresh. A file
 * that does not parse, or names another device, is ignored whole.
 *
 * Never installed: kcl-tune and test_tuning include it by relative path. */
#ifndef KCL_TUNING_H
#define KCL_TUNING_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stddef.h>

#include "kcl.h"

enum {
    KCL_TUNING_MAX_SETS = 8,     /* CLBlast kernels one file may set */
    KCL_TUNING_MAX_PARAMS = 24,  /* parameters of one kernel (Xgemm has 16) */
    KCL_TUNING_NAME_LEN = 32
};

/* The parameters of one CLBlast kernel ("Xgemm", "XgemmDirect", "GemmRoutine",
 * "Copy", "Pad", "Transpose", "Padtranspose"): CLBlast wants all of them. */
typedef struct kcl_tuning_set {
    char kernel[KCL_TUNING_NAME_LEN];
    size_t count;
    char names[KCL_TUNING_MAX_PARAMS][KCL_TUNING_NAME_LEN];
    size_t values[KCL_TUNING_MAX_PARAMS];
} kcl_tuning_set;

typedef struct kcl_tuning {
    size_t count;
    kcl_tuning_set sets[KCL_TUNING_MAX_SETS];
} kcl_tuning;

/* Where a context's parameters came from. */
typedef enum kcl_tuning_source {
    KCL_TUNING_NONE = 0,         /* nothing known for the device: CLBlast's own */
    KCL_TUNING_DISABLED,         /* $KCL_NO_TUNING=1 */
    KCL_TUNING_STORED,           /* the device's file in the cache directory */
    KCL_TUNING_SHIPPED           /* tuning_defaults.h, by device name */
} kcl_tuning_source;

/* Called by kcl_context_create once the queue exists. Never fails: a file
 * that cannot be read or parsed is ignored, a set CLBlast refuses is skipped.
 * Returns where the applied parameters came from, and in *engine the stored
 * engine choice (KCL_GEMM_AUTO: none). */
kcl_tuning_source kcl__tuning_apply(kcl_context *ctx, kcl_gemm_engine *engine);

/* The engine of t's "Engine" line; KCL_GEMM_AUTO without one. */
kcl_gemm_engine kcl__tuning_engine(const kcl_tuning *t);

/* The parameters kcl__tuning_apply would use for ctx, without applying them. */
kcl_tuning_source kcl__tuning_load(const kcl_context *ctx, kcl_tuning *out);

/* Parses kernel lines ("Kernel NAME=value ..."; comments and blank lines
 * skipped; no header). Returns 0, or -1 when any line is malformed. */
int kcl__tuning_parse(const char *text, kcl_tuning *out);

/* Writes the kernel lines of t into buf (NUL-terminated, truncated to size). */
void kcl__tuning_format(const kcl_tuning *t, char *buf, size_t size);

/* Sets (or adds) one kernel's parameters, replacing a set of the same kernel.
 * Returns 0, or -1 when t is full. */
int kcl__tuning_put(kcl_tuning *t, const kcl_tuning_set *set);

/* Hands every set to CLBlastOverrideParameters for the device; returns how
 * many CLBlast accepted. */
size_t kcl__tuning_override(cl_device_id device, const kcl_tuning *t);

/* The device's file under cache_dir, malloc'ed; NULL without a cache dir. */
char *kcl__tuning_path(const kcl_context *ctx);

/* Writes t as the device's file (atomically: temporary file, then rename).
 * Fails with KCL_ERR_ARGUMENT when the context has no cache directory. */
kcl_status kcl__tuning_store(kcl_context *ctx, const kcl_tuning *t);

/* The context's OpenCL device (kcl-tune applies candidates to it). */
cl_device_id kcl__tuning_device(const kcl_context *ctx);

#endif

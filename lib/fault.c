/* fault.c: injected failures ($KCL_FAULT, kcl__fault_arm), so that tests can
 * make any allocation, program build or enqueue fail and check that every
 * error path reports, releases what it holds and leaves a usable state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const kind_names[KCL_FAULT_KIND_COUNT_] = {"alloc", "build", "enqueue"};

/* The errors a driver gives for each kind of refusal. */
static const cl_int kind_errors[KCL_FAULT_KIND_COUNT_] = {
    CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_BUILD_PROGRAM_FAILURE, CL_OUT_OF_RESOURCES};

cl_int kcl__fault(kcl_context *ctx, kcl_fault_kind kind)
{
    kcl_faults *f = &ctx->faults;
    if (++f->count[kind] != f->fire_at[kind])
        return CL_SUCCESS;
    f->fire_at[kind] = 0;   /* once: the state after the failure must work again */
    snprintf(f->note, sizeof f->note, " [injected fault %s:%lld]", kind_names[kind],
             (long long)f->count[kind]);
    return kind_errors[kind];
}

void kcl__fault_arm(kcl_context *ctx, kcl_fault_kind kind, int64_t n)
{
    ctx->faults.count[kind] = 0;
    ctx->faults.fire_at[kind] = n > 0 ? n : 0;
    ctx->faults.note[0] = '\0';
}

int64_t kcl__fault_count(const kcl_context *ctx, kcl_fault_kind kind)
{
    return ctx->faults.count[kind];
}

void kcl__fault_memory_limit(kcl_context *ctx, uint64_t bytes)
{
    ctx->faults.memory_limit = bytes;
    /* Pooled buffers were allocated under the old limit; without them every
     * later buffer is counted against the new one. */
    kcl__pool_free(ctx);
}

/* One "kind:N" item of the list; kind KCL_FAULT_KIND_COUNT_ is "memory". */
static int parse_item(const char *item, size_t len, int *kind, int64_t *n)
{
    for (int k = 0; k <= KCL_FAULT_KIND_COUNT_; k++) {
        const char *word = k < KCL_FAULT_KIND_COUNT_ ? kind_names[k] : "memory";
        size_t name = strlen(word);
        if (len <= name + 1 || strncmp(item, word, name) != 0 || item[name] != ':')
            continue;
        char digits[24];
        if (len - name - 1 >= sizeof digits)
            return 0;
        memcpy(digits, item + name + 1, len - name - 1);
        digits[len - name - 1] = '\0';
        char *end;
        long long v = strtoll(digits, &end, 10);
        if (*end || v < 1)
            return 0;
        *kind = k;
        *n = v;
        return 1;
    }
    return 0;
}

kcl_status kcl__faults_from_env(kcl_context *ctx)
{
    const char *spec = getenv("KCL_FAULT");
    for (const char *p = spec; p && *p;) {
        size_t len = strcspn(p, ",");
        int kind;
        int64_t n;
        if (!parse_item(p, len, &kind, &n))
            return kcl__fail(NULL, KCL_ERR_ARGUMENT,
                             "KCL_FAULT='%s': expected kind:N[,kind:N...] with kind alloc, "
                             "build, enqueue or memory and N >= 1", spec);
        if (kind == KCL_FAULT_KIND_COUNT_)
            kcl__fault_memory_limit(ctx, (uint64_t)n);
        else
            kcl__fault_arm(ctx, (kcl_fault_kind)kind, n);
        p += len + (p[len] == ',');
    }
    return KCL_OK;
}

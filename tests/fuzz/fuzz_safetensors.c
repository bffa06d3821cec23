/* fuzz_safetensors.c: the safetensors reader (kcl__st_read, behind
 * kcl_model_load_weights and kcl_model_load) on arbitrary bytes, once without
 * and once with the checksum required. What it accepts must be consistent:
 * every tensor's values lie inside the data section read. */
#include "fuzz_common.h"
#include "serialize.h"

static void check(const kcl_st_file *f)
{
    volatile float sum = 0;
    for (size_t i = 0; i < f->n; i++) {
        const kcl_st_tensor *t = &f->tensors[i];
        if (t->rank < 0 || t->rank > KCL_MAX_RANK || (t->count && !t->values))
            abort();
        for (size_t k = 0; k < t->count; k++)
            sum += t->values[k];
        if (kcl__st_find(f, t->name) == NULL)
            abort();
    }
    for (size_t i = 0; i < f->n_meta; i++)
        if (kcl__st_meta(f, f->keys[i]) == NULL)
            abort();
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    for (int required = 0; required < 2; required++) {
        kcl_st_file f;
        if (kcl__st_read(NULL, path, required, &f) == KCL_OK) {
            check(&f);
            kcl__st_free(&f);
        } else if (f.tensors || f.data || f.keys) {
            abort();             /* a refused file leaves nothing allocated */
        }
    }
    return 0;
}

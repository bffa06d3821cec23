/* fuzz_idx.c: kcl_load_idx on arbitrary bytes, plain and (as the seeds show
 * the way) gzip-compressed. A load either fails or returns an array whose
 * shape matches the values it holds. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kcl_array a;
    if (kcl_load_idx(NULL, fuzz_file(data, size), &a) == KCL_OK) {
        volatile float sum = 0;
        for (int64_t i = 0; i < kcl_array_size(&a); i++)
            sum += a.data[i];
        (void)sum;
        kcl_array_free(&a);
    } else if (a.data) {
        abort();                 /* a failed load leaves nothing allocated */
    }
    return 0;
}

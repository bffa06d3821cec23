/* fuzz_npy.c: kcl_load_npy on arbitrary bytes. A load either fails with a
 * message or returns an array whose shape matches the values it holds. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kcl_array a;
    if (kcl_load_npy(NULL, fuzz_file(data, size), &a) == KCL_OK) {
        /* Every value must be readable: ASan catches a short allocation. */
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

/* fuzz_csv.c: kcl_load_csv on arbitrary bytes. An input that starts with
 * byte 0xFF takes its second byte as the options (delimiter and header rows to
 * skip), so those paths are fuzzed too; any other input is the file itself,
 * read with the default options (so the seeds are plain CSV files). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kcl_csv_options opt = {0};
    if (size >= 2 && data[0] == 0xFF) {
        static const char delimiters[] = {0, ',', ';', '\t', ' ', '|', '.', '-'};
        opt.delimiter = delimiters[data[1] & 7];
        opt.skip_rows = data[1] >> 3 & 3;
        data += 2;
        size -= 2;
    }
    kcl_array a;
    if (kcl_load_csv(NULL, fuzz_file(data, size), &opt, &a) == KCL_OK) {
        if (a.rank != 2 || a.shape[0] < 0 || a.shape[1] < 0)
            abort();
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

/* fuzz_cache.c: the reader of kernel binary cache entries (kcl__cache_read)
 * on arbitrary bytes, as the entry of one fixed key. It must answer 1 with a
 * binary, or 0 / -1 with none, and never hand a driver a corrupt binary. */
#include "fuzz_common.h"       /* first: it asks for memfd_create */

#include <stdbool.h>

#include "internal.h"

/* The entry's directory, made once per process (in memory where /dev/shm
 * exists: one file write per input) and removed at exit. */
static char dir[64];
static char entry[128];

static void remove_dir(void)
{
    unlink(entry);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kcl_cache_key key;
    if (!key.file[0]) {
        strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/kcl-fuzz-cache-XXXXXX"
                                                   : "/tmp/kcl-fuzz-cache-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("fuzz_cache: mkdtemp");
            abort();
        }
        atexit(remove_dir);
        /* The key text as kcl__cache_key writes it, for a made-up device. */
        snprintf(key.text, sizeof key.text, "kcl-cache 1\nplatform Fuzz\ndevice fuzz-cpu\n"
                 "driver 1.0\nprogram gemm\nsource 0123456789abcdef\noptions -cl-std=CL1.2\n");
        snprintf(key.file, sizeof key.file, "gemm-0123456789abcdef.kclbin");
        snprintf(entry, sizeof entry, "%s/%s", dir, key.file);
    }
    FILE *f = fopen(entry, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror("fuzz_cache: write");
        abort();
    }
    unsigned char *binary = NULL;
    size_t n = 0;
    int r = kcl__cache_read(dir, &key, &binary, &n);
    bool consistent = r == 1 ? binary && n > 0 && n < size : !binary && n == 0;
    if (!consistent || r < -1 || r > 1)
        abort();
    for (size_t i = 0; i < n; i++)
        if (binary[i] != data[size - n + i])     /* the binary is the entry's tail */
            abort();
    free(binary);
    return 0;
}

/* fuzz_common.h: what kcl's libFuzzer targets share. The readers take file
 * paths, so each input is written to one in-memory file per process; the
 * readers that build models need a context, created once (building kernels
 * for every input would leave no time for fuzzing). A harness that cannot
 * set itself up aborts: that is a broken fuzzer, not a finding. */
#ifndef KCL_FUZZ_COMMON_H
#define KCL_FUZZ_COMMON_H

#define _GNU_SOURCE          /* memfd_create */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <kcl.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a file, at a path that stays the same for the whole process:
 * an in-memory file (memfd, so no disk is touched) reopened through
 * /proc/self/fd; nothing is left behind however the process ends. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        if ((fd = memfd_create("kcl-fuzz-input", 0)) < 0) {
            perror("fuzz_file: memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_file: write");
        abort();
    }
    return path;
}

/* One context for the whole run: the device of $KCL_DEVICE or the default
 * (PoCL here), no disk cache so fuzzing never touches a user's cache. It is
 * never freed: it stays reachable, so LeakSanitizer does not count it. */
static inline kcl_context *fuzz_context(void)
{
    static kcl_context *ctx;
    if (!ctx) {
        kcl_context_options opt = {.disable_disk_cache = 1};
        if (kcl_context_create(&ctx, &opt) != KCL_OK) {
            fprintf(stderr, "fuzz_context: %s\n", kcl_errmsg(NULL));
            abort();
        }
    }
    return ctx;
}

#endif

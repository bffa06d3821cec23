/* build_timing: how long making every kernel ready takes with an empty disk
 * cache (the compiler runs) and then with a warm one (binaries load), as a new
 * process would see it. Usage: build_timing [CACHE_DIR]  (default: a fresh
 * directory under /tmp, removed afterwards). */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcl.h>

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int measure(const char *dir, kcl_build_stats *s)
{
    kcl_context_options opt = {.cache_dir = dir};
    kcl_context *ctx;
    if (kcl_context_create(&ctx, &opt) != KCL_OK) {
        fprintf(stderr, "build_timing: %s\n", kcl_errmsg(NULL));
        return -1;
    }
    int rc = 0;
    if (kcl_build_all(ctx) != KCL_OK) {
        fprintf(stderr, "build_timing: %s\n", kcl_errmsg(ctx));
        rc = -1;
    }
    kcl_build_stats_get(ctx, s);
    kcl_context_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/kcl-build-timing-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmp);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    kcl_build_stats cold, warm;
    if (measure(dir, &cold) || measure(dir, &warm))
        return 1;
    printf("cold: %u programs, %u compiled, %.3f s\n", cold.programs, cold.compiled, cold.seconds);
    printf("warm: %u programs, %u from disk, %.3f s\n", warm.programs, warm.from_disk,
           warm.seconds);
    printf("speed-up: %.1fx\n", warm.seconds > 0 ? cold.seconds / warm.seconds : 0.0);
    if (argc == 1 && nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "build_timing: could not remove %s\n", dir);
    return 0;
}

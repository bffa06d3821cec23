/* kcl-precompile: compiles every kcl kernel for one device into a directory,
 * for offline mode (FPGA toolchains, or machines without a compiler):
 *     KCL_DEVICE=... kcl-precompile DIR
 *     KCL_OFFLINE=1 KCL_BINARY_DIR=DIR ./your-program */
#include <stdio.h>

#include <kcl.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: kcl-precompile DIR   (device from $KCL_DEVICE)\n");
        return 2;
    }
    kcl_context_options opt = {.disable_disk_cache = 1};
    kcl_context *ctx;
    if (kcl_context_create(&ctx, &opt) != KCL_OK) {
        fprintf(stderr, "kcl-precompile: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    int rc = 0;
    if (kcl_precompile(ctx, argv[1]) != KCL_OK) {
        fprintf(stderr, "kcl-precompile: %s\n", kcl_errmsg(ctx));
        rc = 1;
    } else {
        kcl_build_stats s;
        kcl_build_stats_get(ctx, &s);
        printf("%u kernel programs for %s written to %s (%.2f s)\n", s.programs,
               kcl_context_device(ctx)->name, argv[1], s.seconds);
    }
    kcl_context_free(ctx);
    return rc;
}

/* devices: prints every OpenCL device kcl can see, and the one it would choose.
 * KCL_DEVICE=... picks another; an unknown choice exits non-zero listing them. */
#include <stdio.h>

#include <kcl.h>

static const char *type_name(unsigned type)
{
    if (type & KCL_DEVICE_GPU) return "GPU";
    if (type & KCL_DEVICE_CPU) return "CPU";
    if (type & KCL_DEVICE_ACCELERATOR) return "accelerator";
    return "other";
}

int main(void)
{
    kcl_device_info *list;
    size_t count;
    if (kcl_device_list(&list, &count) != KCL_OK) {
        fprintf(stderr, "devices: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    printf("%-5s %-36s %-20s %-11s %4s %9s %-22s %4s %4s\n", "id", "device", "vendor", "type",
           "CUs", "memory", "OpenCL C", "fp16", "fp64");
    for (size_t i = 0; i < count; i++) {
        const kcl_device_info *d = &list[i];
        char id[16];
        snprintf(id, sizeof id, "%d:%d", d->platform_index, d->device_index);
        printf("%-5s %-36.36s %-20.20s %-11s %4u %6.1f GiB %-22.22s %4s %4s%s\n", id, d->name,
               d->vendor, type_name(d->type), d->compute_units,
               (double)d->global_memory / (1024.0 * 1024 * 1024), d->opencl_c_version,
               d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->simulator ? "  (simulator)" : "");
    }
    kcl_device_list_free(list);

    kcl_context *ctx;
    if (kcl_context_create(&ctx, NULL) != KCL_OK) {
        fprintf(stderr, "devices: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    const kcl_device_info *chosen = kcl_context_device(ctx);
    printf("chosen: %d:%d %s (%s)\n", chosen->platform_index, chosen->device_index, chosen->name,
           chosen->platform_name);
    kcl_context_free(ctx);
    return 0;
}

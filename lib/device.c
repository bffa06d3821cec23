/* device.c: enumerating OpenCL platforms and devices, and choosing one. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void info_string(cl_device_id device, cl_device_info what, char *buf, size_t size)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(device, what, size, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[size - 1] = '\0';
}

static void platform_string(cl_platform_id platform, cl_platform_info what, char *buf,
                            size_t size)
{
    buf[0] = '\0';
    if (clGetPlatformInfo(platform, what, size, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[size - 1] = '\0';
}

static bool has_extension(cl_device_id device, const char *name)
{
    size_t size = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || !size)
        return false;
    char *ext = malloc(size + 1);
    if (!ext)
        return false;
    bool found = false;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, ext, NULL) == CL_SUCCESS) {
        ext[size] = '\0';
        size_t len = strlen(name);
        for (const char *p = strstr(ext, name); p && !found; p = strstr(p + 1, name))
            found = (p == ext || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0');
    }
    free(ext);
    return found;
}

kcl_status kcl__device_describe(cl_platform_id platform, cl_device_id device,
                                kcl_device_info *info)
{
    memset(info, 0, sizeof *info);
    platform_string(platform, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    platform_string(platform, CL_PLATFORM_VENDOR, info->platform_vendor,
                    sizeof info->platform_vendor);
    info_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    info_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    info_string(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    info_string(device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                sizeof info->opencl_c_version);

    cl_device_type type = 0;
    cl_uint units = 0;
    cl_ulong mem = 0, alloc = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
    if (type & CL_DEVICE_TYPE_CPU) info->type |= KCL_DEVICE_CPU;
    if (type & CL_DEVICE_TYPE_GPU) info->type |= KCL_DEVICE_GPU;
    if (type & CL_DEVICE_TYPE_ACCELERATOR) info->type |= KCL_DEVICE_ACCELERATOR;
    if (!info->type) info->type = KCL_DEVICE_OTHER;
    /* A device that claims to be every kind at once is a simulator (Oclgrind):
     * correct but thousands of times slower, so never a default choice. */
    info->simulator = (info->type & (KCL_DEVICE_CPU | KCL_DEVICE_GPU)) ==
                      (KCL_DEVICE_CPU | KCL_DEVICE_GPU);
    info->compute_units = units;
    info->global_memory = mem;
    info->max_allocation = alloc;
    info->fp16 = has_extension(device, "cl_khr_fp16");
    info->fp64 = has_extension(device, "cl_khr_fp64");
    return KCL_OK;
}

static kcl_status platform_ids(cl_platform_id **out, cl_uint *count)
{
    *out = NULL;
    *count = 0;
    cl_int err = clGetPlatformIDs(0, NULL, count);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: no ICD installed */ || *count == 0) {
        *count = 0;
        return KCL_OK;
    }
    if (err != CL_SUCCESS)
        return kcl__fail_cl(NULL, err, "clGetPlatformIDs");
    *out = calloc(*count, sizeof **out);
    if (!*out)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "out of host memory listing platforms");
    err = clGetPlatformIDs(*count, *out, NULL);
    if (err != CL_SUCCESS) {
        free(*out);
        *out = NULL;
        return kcl__fail_cl(NULL, err, "clGetPlatformIDs");
    }
    return KCL_OK;
}

static kcl_status device_ids(cl_platform_id platform, cl_device_id **out, cl_uint *count)
{
    *out = NULL;
    *count = 0;
    cl_int err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, count);
    if (err == CL_DEVICE_NOT_FOUND || *count == 0) {
        *count = 0;
        return KCL_OK;
    }
    if (err != CL_SUCCESS)
        return kcl__fail_cl(NULL, err, "clGetDeviceIDs");
    *out = calloc(*count, sizeof **out);
    if (!*out)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "out of host memory listing devices");
    err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, *count, *out, NULL);
    if (err != CL_SUCCESS) {
        free(*out);
        *out = NULL;
        return kcl__fail_cl(NULL, err, "clGetDeviceIDs");
    }
    return KCL_OK;
}

kcl_status kcl_device_list(kcl_device_info **list, size_t *count)
{
    if (!list || !count)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_device_list: NULL argument");
    *list = NULL;
    *count = 0;
    cl_platform_id *platforms;
    cl_uint nplatforms;
    kcl_status st = platform_ids(&platforms, &nplatforms);
    if (st)
        return st;
    kcl_device_info *out = NULL;
    size_t n = 0;
    for (cl_uint p = 0; p < nplatforms && !st; p++) {
        cl_device_id *devices;
        cl_uint ndevices;
        st = device_ids(platforms[p], &devices, &ndevices);
        if (st)
            break;
        kcl_device_info *grown = ndevices ? realloc(out, (n + ndevices) * sizeof *out) : out;
        if (ndevices && !grown) {
            st = kcl__fail(NULL, KCL_ERR_MEMORY, "out of host memory listing devices");
        } else {
            out = grown;
            for (cl_uint d = 0; d < ndevices; d++, n++) {
                kcl__device_describe(platforms[p], devices[d], &out[n]);
                out[n].platform_index = (int)p;
                out[n].device_index = (int)d;
            }
        }
        free(devices);
    }
    free(platforms);
    if (st) {
        free(out);
        return st;
    }
    *list = out;
    *count = n;
    return KCL_OK;
}

void kcl_device_list_free(kcl_device_info *list)
{
    free(list);
}

kcl_status kcl__device_handles(const kcl_device_info *info, cl_platform_id *platform,
                               cl_device_id *device)
{
    cl_platform_id *platforms;
    cl_uint nplatforms;
    kcl_status st = platform_ids(&platforms, &nplatforms);
    if (st)
        return st;
    if ((cl_uint)info->platform_index >= nplatforms) {
        free(platforms);
        return kcl__fail(NULL, KCL_ERR_NO_DEVICE, "platform %d disappeared", info->platform_index);
    }
    *platform = platforms[info->platform_index];
    free(platforms);
    cl_device_id *devices;
    cl_uint ndevices;
    st = device_ids(*platform, &devices, &ndevices);
    if (st)
        return st;
    if ((cl_uint)info->device_index >= ndevices) {
        free(devices);
        return kcl__fail(NULL, KCL_ERR_NO_DEVICE, "device %d:%d disappeared",
                         info->platform_index, info->device_index);
    }
    *device = devices[info->device_index];
    free(devices);
    return KCL_OK;
}

static bool contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

static bool equals_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

/* The first non-simulator device having a type bit, else the first simulator. */
static int first_of_type(const kcl_device_info *list, size_t count, unsigned type)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < count; i++)
            if ((list[i].type & type) && list[i].simulator == pass)
                return (int)i;
    return -1;
}

static int choose_default(const kcl_device_info *list, size_t count)
{
    static const unsigned order[] = {KCL_DEVICE_GPU, KCL_DEVICE_CPU, KCL_DEVICE_ACCELERATOR,
                                     KCL_DEVICE_OTHER};
    for (int pass = 0; pass < 2; pass++)
        for (size_t t = 0; t < sizeof order / sizeof *order; t++)
            for (size_t i = 0; i < count; i++)
                if ((list[i].type & order[t]) && list[i].simulator == pass)
                    return (int)i;
    return -1;
}

int kcl__device_choose(const kcl_device_info *list, size_t count, const char *choice)
{
    if (!choice || !*choice)
        return choose_default(list, count);
    int p, d, used = 0;
    if (sscanf(choice, "%d:%d%n", &p, &d, &used) == 2 && choice[used] == '\0') {
        for (size_t i = 0; i < count; i++)
            if (list[i].platform_index == p && list[i].device_index == d)
                return (int)i;
        return -1;
    }
    if (equals_nocase(choice, "gpu"))
        return first_of_type(list, count, KCL_DEVICE_GPU);
    if (equals_nocase(choice, "cpu"))
        return first_of_type(list, count, KCL_DEVICE_CPU);
    if (equals_nocase(choice, "accelerator"))
        return first_of_type(list, count, KCL_DEVICE_ACCELERATOR);
    for (size_t i = 0; i < count; i++)
        if (contains_nocase(list[i].name, choice) || contains_nocase(list[i].vendor, choice) ||
            contains_nocase(list[i].platform_name, choice) ||
            contains_nocase(list[i].platform_vendor, choice))
            return (int)i;
    return -1;
}

void kcl__device_locate(cl_platform_id platform, cl_device_id device, kcl_device_info *info)
{
    info->platform_index = info->device_index = -1;
    cl_platform_id *platforms;
    cl_uint nplatforms;
    if (platform_ids(&platforms, &nplatforms))
        return;
    for (cl_uint p = 0; p < nplatforms; p++) {
        cl_device_id *devices;
        cl_uint ndevices;
        if (platforms[p] != platform || device_ids(platforms[p], &devices, &ndevices))
            continue;
        for (cl_uint d = 0; d < ndevices; d++)
            if (devices[d] == device) {
                info->platform_index = (int)p;
                info->device_index = (int)d;
            }
        free(devices);
    }
    free(platforms);
}

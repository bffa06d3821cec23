/* header_alone_opencl: include/kcl_opencl.h on its own must compile as
 * strict C11, as header_alone.c checks for kcl.h. */
#include <kcl_opencl.h>

int kcl_opencl_header_alone_compiles(void);

int kcl_opencl_header_alone_compiles(void)
{
    cl_mem buffer = NULL;
    size_t offset = 0;
    return kcl_tensor_cl(NULL, &buffer, &offset) == KCL_OK;
}

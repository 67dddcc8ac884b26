/* C form of copy_f32: y[i] = x[i]. */
#include <string.h>

#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(copy_f32)
{
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float *x = args[1];
    float *y = args[2];
    const uint32_t end = aidev_host_end(range, 0, n);

    if (end > range->begin[0])
        memcpy(y + range->begin[0], x + range->begin[0],
               (size_t)(end - range->begin[0]) * sizeof(float));
}

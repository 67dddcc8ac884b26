/* C form of fill_f32: x[i] = value. */
#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(fill_f32)
{
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float value = AIDEV_HOST_SCALAR(args, 1, float);
    float *x = args[2];
    const uint32_t end = aidev_host_end(range, 0, n);

    for (uint32_t i = range->begin[0]; i < end; i++)
        x[i] = value;
}

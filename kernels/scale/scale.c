/* C form of scale: y[i] = alpha * x[i]. */
#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(scale)
{
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float alpha = AIDEV_HOST_SCALAR(args, 1, float);
    const float *x = args[2];
    float *y = args[3];
    const uint32_t end = aidev_host_end(range, 0, n);

    for (uint32_t i = range->begin[0]; i < end; i++)
        y[i] = alpha * x[i];
}

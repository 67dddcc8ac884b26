/* C form of axpy: y[i] = alpha * x[i] + y[i]. */
#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(axpy)
{
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float alpha = AIDEV_HOST_SCALAR(args, 1, float);
    const float *restrict x = args[2];
    float *restrict y = args[3];
    const uint32_t end = aidev_host_end(range, 0, n);

    for (uint32_t i = range->begin[0]; i < end; i++)
        y[i] = alpha * x[i] + y[i];
}

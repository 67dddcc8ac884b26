/* C form of silu: y[i] = x[i] / (1 + exp(-x[i])). */
#include "kernels/host_kernel.h"

#include <math.h>

AIDEV_HOST_KERNEL(silu)
{
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float *x = args[1];
    float *y = args[2];
    const uint32_t end = aidev_host_end(range, 0, n);

    for (uint32_t i = range->begin[0]; i < end; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

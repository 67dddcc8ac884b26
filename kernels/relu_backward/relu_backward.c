/* C form of relu_backward: dx[i] = dy[i] where x[i] > 0, else 0. */
#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(relu_backward)
{
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float *x = args[1];
    const float *dy = args[2];
    float *dx = args[3];
    const uint32_t end = aidev_host_end(range, 0, n);

    for (uint32_t i = range->begin[0]; i < end; i++)
        dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

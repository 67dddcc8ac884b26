/* C form of gelu: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * computed as x / (1 + exp(-2u)), which is the same function without the
 * cancellation of 1 + tanh(u) for negative x. */
#include "kernels/host_kernel.h"

#include <math.h>

/* 2 * sqrt(2 / pi) */
#define GELU_K 1.5957691216057308f

static inline float gelu1(float v)
{
    return v / (1.0f + expf(-GELU_K * (v + 0.044715f * v * v * v)));
}

AIDEV_HOST_KERNEL(gelu)
{
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float *x = args[1];
    float *y = args[2];
    const uint32_t end = aidev_host_end(range, 0, n);

    for (uint32_t i = range->begin[0]; i < end; i++)
        y[i] = gelu1(x[i]);
}

/* C form of reduce_max: y[0] = the largest x[i], -inf when n = 0.
 *
 * Grid 1, as for reduce_sum: one call reduces everything, so no partials are
 * shared between threads. Max is exact in any order. */
#include <math.h>

#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(reduce_max)
{
    if (range->begin[0] || range->begin[1] || range->begin[2])
        return;
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float *x = args[1];
    float *y = args[2];
    float m[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    uint32_t i = 0;

    for (; n - i >= 4; i += 4)
        for (int j = 0; j < 4; j++)
            m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    for (; i < n; i++)
        m[0] = x[i] > m[0] ? x[i] : m[0];
    float a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
    y[0] = a > b ? a : b;
}

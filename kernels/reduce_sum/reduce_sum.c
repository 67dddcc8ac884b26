/* C form of reduce_sum: y[0] = x[0] + ... + x[n-1], 0 when n = 0.
 *
 * The manifest declares grid 1, so the CPU pool makes one call for the whole
 * reduction and no two threads ever combine partials. (A dispatch with a
 * larger grid still sums once: only the box holding item 0 works.) Four
 * double accumulators keep the rounding of the float result the only error
 * worth naming, and let the additions pipeline. */
#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(reduce_sum)
{
    if (range->begin[0] || range->begin[1] || range->begin[2])
        return;
    const uint32_t n = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const float *x = args[1];
    float *y = args[2];
    double acc[4] = {0, 0, 0, 0};
    uint32_t i = 0;

    for (; n - i >= 4; i += 4)
        for (int j = 0; j < 4; j++)
            acc[j] += x[i + j];
    for (; i < n; i++)
        acc[0] += x[i];
    y[0] = (float)((acc[0] + acc[1]) + (acc[2] + acc[3]));
}

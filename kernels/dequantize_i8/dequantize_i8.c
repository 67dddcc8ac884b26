/* C form of dequantize_i8: y[r,c] = q[r,c] * scale[r]. The grid is the
 * flat index r * cols + c, so rows of any length split evenly. */
#include <stddef.h>

#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(dequantize_i8)
{
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t cols = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const int8_t *q = args[2];
    const float *scale = args[3];
    float *y = args[4];
    if (cols == 0)
        return;
    const uint64_t total = (uint64_t)rows * cols;
    const uint64_t end = range->end[0] < total ? range->end[0] : total;
    uint64_t i = range->begin[0];

    while (i < end) {
        const uint64_t r = i / cols;
        const uint64_t row_end = (r + 1) * cols < end ? (r + 1) * cols : end;
        const float s = scale[r];
        for (; i < row_end; i++)
            y[i] = (float)q[i] * s;
    }
}

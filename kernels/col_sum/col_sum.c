/* C form of col_sum: y[c] = x[0,c] + x[1,c] + ... + x[rows-1,c], added in
 * that order in f32 (as every form does, so every device gives the same
 * bits). The grid is cols; a call sums its box of columns row by row, so it
 * reads x along its rows. */
#include <stddef.h>

#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(col_sum)
{
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t cols = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const float *x = args[2];
    float *y = args[3];
    const uint32_t begin = range->begin[0], end = aidev_host_end(range, 0, cols);

    for (uint32_t c = begin; c < end; c++)
        y[c] = 0.0f;
    for (uint32_t r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * cols;
        for (uint32_t c = begin; c < end; c++)
            y[c] += row[c];
    }
}

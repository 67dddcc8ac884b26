/* C form of softmax: each row r of x (rows x cols) becomes
 * y[r,c] = exp(x[r,c] - max_r) / sum_c exp(x[r,c] - max_r).
 * The grid is the rows; a call gets a run of whole rows. The exponentials
 * go to y on the first pass and are divided in place, so each is computed
 * once; the row sum is kept in double. */
#include <math.h>
#include <stddef.h>

#include "kernels/host_kernel.h"

static void softmax_row(const float *x, float *y, uint32_t cols)
{
    float m = -INFINITY;
    for (uint32_t c = 0; c < cols; c++)
        m = x[c] > m ? x[c] : m;
    double s = 0;
    for (uint32_t c = 0; c < cols; c++) {
        y[c] = expf(x[c] - m);
        s += y[c];
    }
    const float sf = (float)s;
    for (uint32_t c = 0; c < cols; c++)
        y[c] /= sf;
}

AIDEV_HOST_KERNEL(softmax)
{
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t cols = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const float *x = args[2];
    float *y = args[3];
    const uint32_t end = aidev_host_end(range, 0, rows);

    for (uint32_t r = range->begin[0]; r < end; r++)
        softmax_row(x + (size_t)r * cols, y + (size_t)r * cols, cols);
}

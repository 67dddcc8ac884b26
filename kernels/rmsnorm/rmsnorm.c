/* C form of rmsnorm: each row r of x (rows x cols) becomes
 * y[r,c] = x[r,c] / sqrt(mean_c(x[r,c]^2) + eps) * w[c].
 * The grid is the rows; a call gets a run of whole rows. The sum of squares
 * is kept in double. */
#include <math.h>
#include <stddef.h>

#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(rmsnorm)
{
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t cols = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const float eps = AIDEV_HOST_SCALAR(args, 2, float);
    const float *x = args[3];
    const float *w = args[4];
    float *y = args[5];
    const uint32_t end = aidev_host_end(range, 0, rows);

    for (uint32_t r = range->begin[0]; r < end; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        double ss = 0;
        for (uint32_t c = 0; c < cols; c++)
            ss += (double)xr[c] * xr[c];
        const float inv = (float)(1.0 / sqrt(ss / cols + eps));
        for (uint32_t c = 0; c < cols; c++)
            yr[c] = xr[c] * inv * w[c];
    }
}

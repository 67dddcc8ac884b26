/* C form of layernorm: each row r of x (rows x cols) becomes
 * y[r,c] = (x[r,c] - mean_r) / sqrt(var_r + eps) * gamma[c] + beta[c], with
 * the biased variance taken in a second pass around the mean (no
 * cancellation of E[x^2] - E[x]^2). The grid is the rows; a call gets a run
 * of whole rows. Sums are kept in double. */
#include <math.h>
#include <stddef.h>

#include "kernels/host_kernel.h"

AIDEV_HOST_KERNEL(layernorm)
{
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t cols = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const float eps = AIDEV_HOST_SCALAR(args, 2, float);
    const float *x = args[3];
    const float *gamma = args[4];
    const float *beta = args[5];
    float *y = args[6];
    const uint32_t end = aidev_host_end(range, 0, rows);

    for (uint32_t r = range->begin[0]; r < end; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        double s = 0;
        for (uint32_t c = 0; c < cols; c++)
            s += xr[c];
        const float mean = (float)(s / cols);
        double v = 0;
        for (uint32_t c = 0; c < cols; c++)
            v += (double)(xr[c] - mean) * (xr[c] - mean);
        const float inv = (float)(1.0 / sqrt(v / cols + eps));
        for (uint32_t c = 0; c < cols; c++)
            yr[c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
    }
}

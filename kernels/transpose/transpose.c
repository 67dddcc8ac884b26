/* C form of transpose: y[c,r] = x[r,c]; x is rows x cols, y is cols x rows.
 * The grid is (cols, rows); a call gets a box of it and walks it in TILE x
 * TILE blocks, so both the reads of x and the writes of y stay in cache. */
#include <stddef.h>

#include "kernels/host_kernel.h"

#define TILE 32

AIDEV_HOST_KERNEL(transpose)
{
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t cols = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const float *x = args[2];
    float *y = args[3];
    const uint32_t c_end = aidev_host_end(range, 0, cols);
    const uint32_t r_end = aidev_host_end(range, 1, rows);

    for (uint32_t r0 = range->begin[1]; r0 < r_end; r0 += TILE) {
        const uint32_t r1 = r_end - r0 > TILE ? r0 + TILE : r_end;
        for (uint32_t c0 = range->begin[0]; c0 < c_end; c0 += TILE) {
            const uint32_t c1 = c_end - c0 > TILE ? c0 + TILE : c_end;
            for (uint32_t r = r0; r < r1; r++)
                for (uint32_t c = c0; c < c1; c++)
                    y[(size_t)c * rows + r] = x[(size_t)r * cols + c];
        }
    }
}

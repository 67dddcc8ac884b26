/* C form of quantize_i8: per-row symmetric int8 quantization.
 *   scale[r] = amax_r / 127, amax_r = max_c |x[r,c]|
 *   q[r,c]   = rint(x[r,c] * (127 / amax_r)), clamped to [-127, 127]
 * A row whose amax is below QUANT_TINY (zero, denormal, or so small that
 * 127 / amax would overflow) quantizes to zeros. rint rounds half to even,
 * as OpenCL's rint and GLSL's roundEven do. The grid is the rows. */
#include <math.h>
#include <stddef.h>

#include "kernels/host_kernel.h"

#define QUANT_TINY 1e-30f

AIDEV_HOST_KERNEL(quantize_i8)
{
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t cols = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const float *x = args[2];
    int8_t *q = args[3];
    float *scale = args[4];
    const uint32_t end = aidev_host_end(range, 0, rows);

    for (uint32_t r = range->begin[0]; r < end; r++) {
        const float *xr = x + (size_t)r * cols;
        int8_t *qr = q + (size_t)r * cols;
        float amax = 0.0f;
        for (uint32_t c = 0; c < cols; c++) {
            const float a = fabsf(xr[c]);
            amax = a > amax ? a : amax;
        }
        const float inv = amax >= QUANT_TINY ? 127.0f / amax : 0.0f;
        scale[r] = amax / 127.0f;
        for (uint32_t c = 0; c < cols; c++) {
            float v = rintf(xr[c] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            qr[c] = (int8_t)v;
        }
    }
}

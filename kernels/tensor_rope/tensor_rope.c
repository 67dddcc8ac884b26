/* C form of tensor_rope: rotary position embedding. Along the last axis (D
 * elements) of each row of x, the first |rot| elements are rotated in pairs
 * (a, b): interleaved pairs (2i, 2i + 1), or NeoX halves (i, i + rot/2), by
 *   theta = pos * freq_scale * base^(-2i / rot),
 *   y_a = x_a cos(theta) - x_b sin(theta), y_b = x_a sin(theta) + x_b cos(theta);
 * the other D - rot elements are copied. pos is the row's index along the
 * sequence axis plus pos0, or positions[index]. The grid is the flat items
 * of (rows, rot/2 + D - rot): one pair or one copied element each, so y may
 * be x. */
#include "kernels/common/tensor_host.h"

AIDEV_HOST_KERNEL(tensor_rope)
{
    const uint32_t n[3] = {th_lo(args, 0), th_hi(args, 0), th_lo(args, 1)}, D = th_hi(args, 1);
    const int32_t xs[4] = {th_slo(args, 2), th_shi(args, 2), th_slo(args, 3), th_shi(args, 3)};
    const int32_t ys[4] = {th_slo(args, 4), th_shi(args, 4), th_slo(args, 5), th_shi(args, 5)};
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 6, uint32_t);
    const uint32_t per_row = AIDEV_HOST_SCALAR(args, 7, uint32_t);
    const uint32_t xoff = AIDEV_HOST_SCALAR(args, 8, uint32_t);
    const uint32_t yoff = AIDEV_HOST_SCALAR(args, 9, uint32_t);
    const uint32_t rot = AIDEV_HOST_SCALAR(args, 10, uint32_t);
    const uint32_t seq = AIDEV_HOST_SCALAR(args, 11, uint32_t);
    const int32_t pos0 = AIDEV_HOST_SCALAR(args, 12, int32_t);
    const uint32_t posoff = AIDEV_HOST_SCALAR(args, 13, uint32_t);
    const int32_t pos_stride = AIDEV_HOST_SCALAR(args, 14, int32_t);
    const float base_log2 = AIDEV_HOST_SCALAR(args, 15, float);
    const float freq_scale = AIDEV_HOST_SCALAR(args, 16, float);
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 17, uint32_t);
    const void *x = args[18], *positions = args[19];
    void *y = args[20];
    const uint32_t neox = flags & 1u, has_pos = (flags >> 1) & 1u;
    const uint32_t tx = th_type(flags, 2), ty = th_type(flags, 3), half = rot / 2;
    (void)D;
    const uint64_t total = (uint64_t)rows * per_row;
    const uint64_t end = range->end[0] < total ? range->end[0] : total;
    for (uint64_t t = range->begin[0]; t < end; t++) {
        const uint32_t row = (uint32_t)(t / per_row), e = (uint32_t)(t % per_row);
        const uint32_t idx[3] = {row / n[2] / n[1], row / n[2] % n[1], row % n[2]};
        const int64_t xr = (int64_t)xoff + (int64_t)idx[0] * xs[0] + (int64_t)idx[1] * xs[1] +
                           (int64_t)idx[2] * xs[2];
        const int64_t yr = (int64_t)yoff + (int64_t)idx[0] * ys[0] + (int64_t)idx[1] * ys[1] +
                           (int64_t)idx[2] * ys[2];
        if (e >= half) { /* past the rotated part: a copy */
            const uint32_t d = rot + (e - half);
            th_store(y, ty, yr + (int64_t)d * ys[3], th_load(x, tx, xr + (int64_t)d * xs[3]));
            continue;
        }
        const int32_t pos = has_pos ? ((const int32_t *)positions)[(int64_t)posoff +
                                                                 (int64_t)idx[seq] * pos_stride]
                                    : pos0 + (int32_t)idx[seq];
        const float theta = (float)pos * freq_scale *
                            exp2f(-(float)(2 * e) / (float)rot * base_log2);
        const float c = cosf(theta), s = sinf(theta);
        const uint32_t a = neox ? e : 2 * e, b = neox ? e + half : 2 * e + 1;
        const float xa = th_load(x, tx, xr + (int64_t)a * xs[3]);
        const float xb = th_load(x, tx, xr + (int64_t)b * xs[3]);
        th_store(y, ty, yr + (int64_t)a * ys[3], xa * c - xb * s);
        th_store(y, ty, yr + (int64_t)b * ys[3], xa * s + xb * c);
    }
}

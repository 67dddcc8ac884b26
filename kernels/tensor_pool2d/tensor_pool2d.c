/* C form of tensor_pool2d: max or average over KH x KW windows of each
 * channel, NCHW, y[n, c, oh, ow] over x[n, c, oh sh - ph + kh,
 * ow sw - pw + kw]; the padding holds no value (a max ignores it, an
 * average divides by the elements inside x: ONNX's count_include_pad = 0).
 * The grid is the flat items of y (N C OH OW). */
#include "kernels/common/tensor_host.h"

AIDEV_HOST_KERNEL(tensor_pool2d)
{
    const uint32_t C = th_hi(args, 0), H = th_lo(args, 1), W = th_hi(args, 1);
    const uint32_t OH = th_lo(args, 2), OW = th_hi(args, 2);
    const uint32_t KH = th_lo(args, 3), KW = th_hi(args, 3);
    const int64_t sh = th_lo(args, 4), sw = th_hi(args, 4), ph = th_lo(args, 5),
                  pw = th_hi(args, 5);
    const int32_t xs[4] = {th_slo(args, 6), th_shi(args, 6), th_slo(args, 7), th_shi(args, 7)};
    const int32_t ys[4] = {th_slo(args, 8), th_shi(args, 8), th_slo(args, 9), th_shi(args, 9)};
    const uint32_t total = AIDEV_HOST_SCALAR(args, 10, uint32_t);
    const uint32_t xoff = AIDEV_HOST_SCALAR(args, 11, uint32_t);
    const uint32_t yoff = AIDEV_HOST_SCALAR(args, 12, uint32_t);
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 13, uint32_t);
    const void *x = args[14];
    void *y = args[15];
    const bool avg = (flags & 3u) == 2u;
    const uint32_t tx = th_type(flags, 2), ty = th_type(flags, 3);
    const uint32_t end = aidev_host_end(range, 0, total);
    for (uint32_t t = range->begin[0]; t < end; t++) {
        const uint32_t ow = t % OW, oh = t / OW % OH, c = t / OW / OH % C, n = t / OW / OH / C;
        const int64_t xb = (int64_t)xoff + (int64_t)n * xs[0] + (int64_t)c * xs[1];
        float acc = avg ? 0.0f : -INFINITY;
        uint32_t count = 0;
        for (uint32_t kh = 0; kh < KH; kh++) {
            const int64_t ih = (int64_t)oh * sh - ph + kh;
            if (ih < 0 || ih >= H)
                continue;
            for (uint32_t kw = 0; kw < KW; kw++) {
                const int64_t iw = (int64_t)ow * sw - pw + kw;
                if (iw < 0 || iw >= W)
                    continue;
                const float v = th_load(x, tx, xb + ih * xs[2] + iw * xs[3]);
                /* max: NaN wins, as NumPy's max */
                acc = avg ? acc + v : (v > acc || isnan(v) ? v : acc);
                count++;
            }
        }
        th_store(y, ty, (int64_t)yoff + (int64_t)n * ys[0] + (int64_t)c * ys[1] +
                            (int64_t)oh * ys[2] + (int64_t)ow * ys[3],
                 avg ? acc / (float)count : acc);
    }
}

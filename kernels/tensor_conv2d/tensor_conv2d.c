/* C form of tensor_conv2d: direct 2-D convolution, NCHW,
 *   y[n, co, oh, ow] = act(sum_{ci, kh, kw} x[n, ci, oh sh - ph + kh dh,
 *                          ow sw - pw + kw dw] w[co, ci, kh, kw] + bias[co])
 * with x read as 0 outside its H x W (the padding). Sums in f32. The grid
 * is the flat items of y (N CO OH OW); a call gets a run of them. */
#include "kernels/common/tensor_host.h"
#include "kernels/common/tensor_ops.h"

typedef struct conv_job {
    uint32_t N, C, H, W, OH, OW, CO, KH, KW, sh, sw, dh, dw, ph, pw;
    int32_t xs[4], ws[4], ys[4], bs;
    uint32_t xoff, woff, yoff, boff, act, has_bias, tx, tw, ty, tb;
    const void *x, *w, *bias;
    void *y;
} conv_job;

static float conv_item(const conv_job *j, uint32_t n, uint32_t co, uint32_t oh, uint32_t ow)
{
    float acc = 0.0f;
    for (uint32_t ci = 0; ci < j->C; ci++)
        for (uint32_t kh = 0; kh < j->KH; kh++) {
            const int64_t ih = (int64_t)oh * j->sh - j->ph + (int64_t)kh * j->dh;
            if (ih < 0 || ih >= j->H)
                continue;
            for (uint32_t kw = 0; kw < j->KW; kw++) {
                const int64_t iw = (int64_t)ow * j->sw - j->pw + (int64_t)kw * j->dw;
                if (iw < 0 || iw >= j->W)
                    continue;
                const float xv = th_load(j->x, j->tx, (int64_t)j->xoff + (int64_t)n * j->xs[0] +
                                                          (int64_t)ci * j->xs[1] +
                                                          ih * j->xs[2] + iw * j->xs[3]);
                const float wv = th_load(j->w, j->tw, (int64_t)j->woff + (int64_t)co * j->ws[0] +
                                                          (int64_t)ci * j->ws[1] +
                                                          (int64_t)kh * j->ws[2] +
                                                          (int64_t)kw * j->ws[3]);
                acc += xv * wv;
            }
        }
    if (j->has_bias)
        acc += th_load(j->bias, j->tb, (int64_t)j->boff + (int64_t)co * j->bs);
    return th_activation(j->act, acc);
}

AIDEV_HOST_KERNEL(tensor_conv2d)
{
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 18, uint32_t);
    const uint32_t co_k = th_hi(args, 3), sd_s = th_lo(args, 4), sd_d = th_hi(args, 4);
    const conv_job j = {
        .N = th_lo(args, 0), .C = th_hi(args, 0), .H = th_lo(args, 1), .W = th_hi(args, 1),
        .OH = th_lo(args, 2), .OW = th_hi(args, 2), .CO = th_lo(args, 3),
        .KH = co_k & 0xffffu, .KW = co_k >> 16, .sh = sd_s & 0xffffu, .sw = sd_s >> 16,
        .dh = sd_d & 0xffffu, .dw = sd_d >> 16, .ph = th_lo(args, 5), .pw = th_hi(args, 5),
        .xs = {th_slo(args, 6), th_shi(args, 6), th_slo(args, 7), th_shi(args, 7)},
        .ws = {th_slo(args, 8), th_shi(args, 8), th_slo(args, 9), th_shi(args, 9)},
        .ys = {th_slo(args, 10), th_shi(args, 10), th_slo(args, 11), th_shi(args, 11)},
        .xoff = AIDEV_HOST_SCALAR(args, 13, uint32_t),
        .woff = AIDEV_HOST_SCALAR(args, 14, uint32_t),
        .yoff = AIDEV_HOST_SCALAR(args, 15, uint32_t),
        .boff = AIDEV_HOST_SCALAR(args, 16, uint32_t),
        .bs = AIDEV_HOST_SCALAR(args, 17, int32_t),
        .act = flags & 15u, .has_bias = (flags >> 4) & 1u, .tx = th_type(flags, 2),
        .tw = th_type(flags, 3), .ty = th_type(flags, 4), .tb = th_type(flags, 5),
        .x = args[19], .w = args[20], .bias = args[21], .y = args[22],
    };
    const uint32_t total = AIDEV_HOST_SCALAR(args, 12, uint32_t);
    const uint32_t end = aidev_host_end(range, 0, total);
    for (uint32_t t = range->begin[0]; t < end; t++) {
        const uint32_t ow = t % j.OW, oh = t / j.OW % j.OH, co = t / j.OW / j.OH % j.CO;
        const uint32_t n = t / j.OW / j.OH / j.CO;
        th_store(j.y, j.ty, (int64_t)j.yoff + (int64_t)n * j.ys[0] + (int64_t)co * j.ys[1] +
                               (int64_t)oh * j.ys[2] + (int64_t)ow * j.ys[3],
                 conv_item(&j, n, co, oh, ow));
    }
}

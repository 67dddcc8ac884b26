// GLSL form of tensor_conv2d (see tensor_conv2d.c for what it computes):
// direct convolution, NCHW, zero padding, f32 sums. Launch ITEMS over the
// flat items of y, grid-strided.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wt { uint w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bias { uint bias[]; };
layout(std430, set = 0, binding = 3) buffer Y { uint y[]; };
layout(push_constant) uniform Args {
    uvec2 nc, hw, ohw, co_k, sd, pad, xs01, xs23, ws01, ws23, ys01, ys23;
    uint total, xoff, woff, yoff, boff;
    int bstride;
    uint flags;
} args;

#include "tensor.glsl"

void main()
{
    const uint C = args.nc.y, H = args.hw.x, W = args.hw.y, OH = args.ohw.x, OW = args.ohw.y;
    const uint CO = args.co_k.x, KH = args.co_k.y & 0xffffu, KW = args.co_k.y >> 16;
    const int sh = int(args.sd.x & 0xffffu), sw = int(args.sd.x >> 16);
    const int dh = int(args.sd.y & 0xffffu), dw = int(args.sd.y >> 16);
    const int ph = int(args.pad.x), pw = int(args.pad.y);
    const uint act = args.flags & 15u, has_bias = (args.flags >> 4) & 1u;
    const uint tx = th_type(args.flags, 2u), tw = th_type(args.flags, 3u);
    const uint ty = th_type(args.flags, 4u), tb = th_type(args.flags, 5u);
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < args.total; t += stride) {
        const uint ow = t % OW, oh = t / OW % OH, co = t / OW / OH % CO, n = t / OW / OH / CO;
        const int xb = int(args.xoff) + int(n) * int(args.xs01.x);
        const int wb = int(args.woff) + int(co) * int(args.ws01.x);
        float acc = 0.0;
        for (uint ci = 0u; ci < C; ci++)
            for (uint kh = 0u; kh < KH; kh++) {
                const int ih = int(oh) * sh - ph + int(kh) * dh;
                if (ih < 0 || ih >= int(H))
                    continue;
                for (uint kw = 0u; kw < KW; kw++) {
                    const int iw = int(ow) * sw - pw + int(kw) * dw;
                    if (iw < 0 || iw >= int(W))
                        continue;
                    const float xv = TH_LOAD(x, tx, xb + int(ci) * int(args.xs01.y) +
                                                        ih * int(args.xs23.x) + iw * int(args.xs23.y));
                    const float wv = TH_LOAD(w, tw, wb + int(ci) * int(args.ws01.y) +
                                                        int(kh) * int(args.ws23.x) +
                                                        int(kw) * int(args.ws23.y));
                    acc += xv * wv;
                }
            }
        if (has_bias != 0u)
            acc += TH_LOAD(bias, tb, int(args.boff) + int(co) * args.bstride);
        TH_STORE(y, ty, int(args.yoff) + int(n) * int(args.ys01.x) + int(co) * int(args.ys01.y) +
                            int(oh) * int(args.ys23.x) + int(ow) * int(args.ys23.y),
                 th_activation(act, acc));
        if (t + stride < t)
            break;
    }
}

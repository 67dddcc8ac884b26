// GLSL form of tensor_pool2d (see tensor_pool2d.c for what it computes):
// max or average pooling, NCHW, padding outside the average's count.
// Launch ITEMS over the flat items of y, grid-strided.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) buffer Y { uint y[]; };
layout(push_constant) uniform Args {
    uvec2 nc, hw, ohw, win, st, pad, xs01, xs23, ys01, ys23;
    uint total, xoff, yoff, flags;
} args;

#include "tensor.glsl"

void main()
{
    const uint C = args.nc.y, H = args.hw.x, W = args.hw.y, OH = args.ohw.x, OW = args.ohw.y;
    const uint KH = args.win.x, KW = args.win.y;
    const int sh = int(args.st.x), sw = int(args.st.y), ph = int(args.pad.x), pw = int(args.pad.y);
    const bool avg = (args.flags & 3u) == 2u;
    const uint tx = th_type(args.flags, 2u), ty = th_type(args.flags, 3u);
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < args.total; t += stride) {
        const uint ow = t % OW, oh = t / OW % OH, c = t / OW / OH % C, n = t / OW / OH / C;
        const int xb = int(args.xoff) + int(n) * int(args.xs01.x) + int(c) * int(args.xs01.y);
        float acc = avg ? 0.0 : uintBitsToFloat(0xff800000u); // -inf
        uint count = 0u;
        for (uint kh = 0u; kh < KH; kh++) {
            const int ih = int(oh) * sh - ph + int(kh);
            if (ih < 0 || ih >= int(H))
                continue;
            for (uint kw = 0u; kw < KW; kw++) {
                const int iw = int(ow) * sw - pw + int(kw);
                if (iw < 0 || iw >= int(W))
                    continue;
                const float v = TH_LOAD(x, tx, xb + ih * int(args.xs23.x) + iw * int(args.xs23.y));
                acc = avg ? acc + v : (v > acc || isnan(v) ? v : acc);
                count++;
            }
        }
        TH_STORE(y, ty, int(args.yoff) + int(n) * int(args.ys01.x) + int(c) * int(args.ys01.y) +
                            int(oh) * int(args.ys23.x) + int(ow) * int(args.ys23.y),
                 avg ? acc / float(count) : acc);
        if (t + stride < t)
            break;
    }
}

// GLSL form of tensor_rope (see tensor_rope.c for what it computes). Launch
// ITEMS over the flat items (rows x (rot/2 + D - rot)), grid-strided: one
// pair or one copied element each, so y may be x. sin and cos are
// th_sincos (tensor.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) readonly buffer P { int positions[]; };
layout(std430, set = 0, binding = 2) buffer Y { uint y[]; };
layout(push_constant) uniform Args {
    uvec2 n01, n2d, xs01, xs23, ys01, ys23;
    uint rows, per_row, xoff, yoff, rot, seq;
    int pos0;
    uint posoff;
    int pos_stride;
    float base_log2, freq_scale;
    uint flags;
} args;

#include "tensor.glsl"

void main()
{
    const uint n1 = args.n01.y, n2 = args.n2d.x;
    const bool neox = (args.flags & 1u) != 0u, has_pos = ((args.flags >> 1) & 1u) != 0u;
    const uint tx = th_type(args.flags, 2u), ty = th_type(args.flags, 3u);
    const uint rot = args.rot, half_ = rot / 2u, per_row = args.per_row;
    const uint total = args.rows * per_row;
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < total; t += stride) {
        const uint row = t / per_row, e = t % per_row;
        const uint i0 = row / n2 / n1, i1 = row / n2 % n1, i2 = row % n2;
        const int xr = int(args.xoff) + int(i0) * int(args.xs01.x) + int(i1) * int(args.xs01.y) +
                       int(i2) * int(args.xs23.x);
        const int yr = int(args.yoff) + int(i0) * int(args.ys01.x) + int(i1) * int(args.ys01.y) +
                       int(i2) * int(args.ys23.x);
        const int xd = int(args.xs23.y), yd = int(args.ys23.y);
        if (e >= half_) {
            const int d = int(rot + (e - half_));
            TH_STORE(y, ty, yr + d * yd, TH_LOAD(x, tx, xr + d * xd));
        } else {
            const uint si = args.seq == 0u ? i0 : args.seq == 1u ? i1 : i2;
            const int pos = has_pos ? positions[int(args.posoff) + int(si) * args.pos_stride]
                                    : args.pos0 + int(si);
            const float theta = float(pos) * args.freq_scale *
                                exp2(-float(2u * e) / float(rot) * args.base_log2);
            const vec2 sc = th_sincos(theta);
            const int a = int(neox ? e : 2u * e), b = int(neox ? e + half_ : 2u * e + 1u);
            const float xa = TH_LOAD(x, tx, xr + a * xd), xb = TH_LOAD(x, tx, xr + b * xd);
            TH_STORE(y, ty, yr + a * yd, xa * sc.y - xb * sc.x);
            TH_STORE(y, ty, yr + b * yd, xa * sc.x + xb * sc.y);
        }
        if (t + stride < t)
            break;
    }
}

// GLSL form of tensor_dequantize: y[r, c] = element (r, c) of a quantized
// rows x cols matrix (quant.glsl), stored in y's type. Launch ITEMS over
// (cols, rows); dimension 0 grid-strided.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64, local_size_y = 4) in;
layout(std430, set = 0, binding = 0) readonly buffer Q { uint qw[]; };
layout(std430, set = 0, binding = 1) readonly buffer S { uint qsc[]; };
layout(std430, set = 0, binding = 2) readonly buffer Z { uint qzp[]; };
layout(std430, set = 0, binding = 3) buffer Y { uint y[]; };
layout(push_constant) uniform Args {
    uvec2 rc, ys, q_rc, s_rg, z_rg;
    uint groups, yoff, qoff, soff, zoff, flags;
} args;

#include "tensor.glsl"
#include "quant.glsl"

void main()
{
    const th_qmat w = th_qmat_of(args.flags & 7u, (args.flags >> 3) & 1u, th_type(args.flags, 3u),
                                 args.qoff, args.q_rc, args.soff, args.s_rg, args.zoff, args.z_rg);
    const uint rows = args.rc.x, cols = args.rc.y, ty = th_type(args.flags, 2u);
    const uint r = gl_GlobalInvocationID.y;
    if (r >= rows)
        return;
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint c = gl_GlobalInvocationID.x; c < cols; c += stride)
        TH_STORE(y, ty, int(args.yoff) + int(r) * int(args.ys.x) + int(c) * int(args.ys.y),
                 th_dequant(w, r, c));
}

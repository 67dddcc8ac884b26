// GLSL form of tensor_elementwise: y = f(a) or y = a OP b over a box of up
// to four axes, every operand a strided view (a broadcast axis has stride
// 0), loaded and stored through float (tensor.glsl). Launch ITEMS over the
// flat items of y's shape, grid-strided.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer A { uint a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { uint b[]; };
layout(std430, set = 0, binding = 2) buffer Y { uint y[]; };
layout(push_constant) uniform Args {
    uvec2 n01, n23, as01, as23, bs01, bs23, ys01, ys23;
    uint total, aoff, boff, yoff, op, types;
    float alpha, beta;
} args;

#include "tensor.glsl"

void main()
{
    const uvec4 n = uvec4(args.n01, args.n23);
    const ivec4 as_ = th_strides(args.as01, args.as23);
    const ivec4 bs = th_strides(args.bs01, args.bs23);
    const ivec4 ys = th_strides(args.ys01, args.ys23);
    const uint ta = th_type(args.types, 0u), tb = th_type(args.types, 1u);
    const uint ty = th_type(args.types, 2u);
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < args.total; t += stride) {
        float va = TH_LOAD(a, ta, th_index(t, n, as_, args.aoff));
        float vb = 0.0;
        if (args.op >= TH_OP_BINARY)
            vb = TH_LOAD(b, tb, th_index(t, n, bs, args.boff));
        TH_STORE(y, ty, th_index(t, n, ys, args.yoff), th_apply(args.op, va, vb, args.alpha,
                                                              args.beta));
        if (t + stride < t)
            break;
    }
}

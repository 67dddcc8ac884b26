// GLSL form of tensor_embedding: out[..., d] = table[ids[...], d]; an id
// outside [0, V) gives NaN. Launch ITEMS over the flat items (ids x D),
// grid-strided.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer I { int ids[]; };
layout(std430, set = 0, binding = 1) readonly buffer T { uint table[]; };
layout(std430, set = 0, binding = 2) buffer O { uint out_[]; };
layout(push_constant) uniform Args {
    uvec2 n01, n2d, is01, is2v, ts, os01, os23;
    uint total, idoff, toff, ooff, types;
} args;

#include "tensor.glsl"

void main()
{
    const uint n1 = args.n01.y, n2 = args.n2d.x, D = args.n2d.y, V = args.is2v.y;
    const uint tt = th_type(args.types, 0u), to = th_type(args.types, 1u);
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < args.total; t += stride) {
        const uint d = t % D, r = t / D;
        const uint i0 = r / n2 / n1, i1 = r / n2 % n1, i2 = r % n2;
        const int id = ids[int(args.idoff) + int(i0) * int(args.is01.x) + int(i1) * int(args.is01.y) +
                           int(i2) * int(args.is2v.x)];
        float v = uintBitsToFloat(0x7fc00000u); // NaN
        if (id >= 0 && uint(id) < V)
            v = TH_LOAD(table, tt, int(args.toff) + id * int(args.ts.x) + int(d) * int(args.ts.y));
        TH_STORE(out_, to, int(args.ooff) + int(i0) * int(args.os01.x) + int(i1) * int(args.os01.y) +
                               int(i2) * int(args.os23.x) + int(d) * int(args.os23.y),
                 v);
        if (t + stride < t)
            break;
    }
}

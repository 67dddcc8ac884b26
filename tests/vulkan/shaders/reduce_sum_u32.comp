// A REDUCE pass in the library's convention (kernels/library_forms.h):
// (u32 n, in, out); each workgroup of 4 work-items folds a run of 4 * 3
// elements of `in` into out[workgroup].
#version 450
layout(local_size_x = 4) in;
layout(std430, set = 0, binding = 0) readonly buffer In { uint v[]; } src;
layout(std430, set = 0, binding = 1) writeonly buffer Out { uint v[]; } dst;
layout(push_constant) uniform Args { uint n; } args;

shared uint partial[4];

void main()
{
    uint run = 4u * 3u;
    uint base = gl_WorkGroupID.x * run;
    uint sum = 0u;
    for (uint k = 0u; k < 3u; k++) {
        uint i = base + k * 4u + gl_LocalInvocationID.x;
        if (i < args.n)
            sum += src.v[i];
    }
    partial[gl_LocalInvocationID.x] = sum;
    barrier();
    if (gl_LocalInvocationID.x == 0u)
        dst.v[gl_WorkGroupID.x] = partial[0] + partial[1] + partial[2] + partial[3];
}

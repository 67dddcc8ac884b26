// GLSL form of reduce_max: y[0] = the largest x[i], -inf when n = 0.
//
// One pass of launch REDUCE (kernels/library_forms.h): run g of RUN = WG * PER
// elements of x becomes y[g]. The backend repeats passes over scratch
// buffers until one value is left. A run past the end (n = 0 gives one empty
// run) yields the identity, so launching one group for n = 0 writes the
// empty max. Groups stride over the runs.
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer In { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Args { uint n; } args;

const uint WG = 256u;
const uint PER = 4u;
const uint RUN = WG * PER;

shared float part[WG];

float combine(float a, float b)
{
    return max(a, b);
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint n = args.n;
    const uint runs = n == 0u ? 1u : (n - 1u) / RUN + 1u;

    for (uint g = gl_WorkGroupID.x; g < runs; g += gl_NumWorkGroups.x) {
        // g * RUN < n here, so left cannot wrap.
        const uint left = n - g * RUN;
        float acc = uintBitsToFloat(0xff800000u);
        for (uint j = 0u; j < PER; j++) {
            const uint off = lid + j * WG;
            if (off < left)
                acc = combine(acc, x[g * RUN + off]);
        }
        part[lid] = acc;
        barrier();
        for (uint s = WG / 2u; s > 0u; s >>= 1u) {
            if (lid < s)
                part[lid] = combine(part[lid], part[lid + s]);
            barrier();
        }
        if (lid == 0u)
            y[g] = part[0];
        // part[] is reused by the next run of this group.
        barrier();
    }
}

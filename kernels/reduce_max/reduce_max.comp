// GLSL form of reduce_max: y[0] = the largest x[i], -inf when n = 0.
//
// One pass of launch REDUCE (kernels/library_forms.h): run g of RUN = WG * PER
// elements of x becomes y[g]. The backend repeats passes over scratch
// buffers until one value is left. A run past the end (n = 0 gives one empty
// run) yields the identity, so launching one group for n = 0 writes the
// empty max. Groups stride over the runs. Within a run, each invocation
// folds PER elements, FAN invocations fold one column of FAN partials each,
// and invocation 0 folds the FAN column results: two barriers per run.
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer In { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Args { uint n; } args;

const uint WG = 256u;
const uint PER = 4u;
const uint RUN = WG * PER;
const uint FAN = 16u; // WG = FAN * FAN

shared float red[WG];
shared float part[FAN];

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
        red[lid] = acc;
        barrier();
        if (lid < FAN) {
            float v = red[lid];
            for (uint i = lid + FAN; i < WG; i += FAN)
                v = combine(v, red[i]);
            part[lid] = v;
        }
        // The next run writes red[] after this barrier, and part[] only after
        // its first one, when invocation 0 has read this run's.
        barrier();
        if (lid == 0u) {
            float v = part[0];
            for (uint i = 1u; i < FAN; i++)
                v = combine(v, part[i]);
            y[g] = v;
        }
    }
}

// GLSL form of softmax: each row r of x (rows x cols) becomes
// y[r,c] = exp(x[r,c] - max_r) / sum_c exp(x[r,c] - max_r).
// Launch GROUPS (kernels/library_forms.h): one workgroup of WG per row;
// groups stride over the rows, so fewer groups than rows is fine.
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint rows; uint cols; } args;

const uint WG = 256u;
const uint FAN = 16u; // WG = FAN * FAN
shared float red[WG];
shared float part[FAN];

// Reductions over the workgroup; every invocation gets the result. Two steps
// of FAN (two barriers, where a halving tree takes eight): FAN invocations
// each fold one column of red[], then every invocation folds the FAN column
// results in part[]. The next call may write red[] at once (its readers have
// all passed the second barrier), and writes part[] only after its own first
// barrier, by when every invocation has read this call's.
float group_sum(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    if (lid < FAN) {
        float s = 0.0;
        for (uint i = lid; i < WG; i += FAN)
            s += red[i];
        part[lid] = s;
    }
    barrier();
    float r = 0.0;
    for (uint i = 0u; i < FAN; i++)
        r += part[i];
    return r;
}

float group_max(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    if (lid < FAN) {
        float m = red[lid];
        for (uint i = lid + FAN; i < WG; i += FAN)
            m = max(m, red[i]);
        part[lid] = m;
    }
    barrier();
    float r = part[0];
    for (uint i = 1u; i < FAN; i++)
        r = max(r, part[i]);
    return r;
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint cols = args.cols;

    for (uint r = gl_WorkGroupID.x; r < args.rows; r += gl_NumWorkGroups.x) {
        const uint base = r * cols;
        float m = uintBitsToFloat(0xff800000u); // -inf
        for (uint c = lid; c < cols; c += WG)
            m = max(m, x[base + c]);
        m = group_max(m);
        float s = 0.0;
        for (uint c = lid; c < cols; c += WG)
            s += exp(x[base + c] - m);
        s = group_sum(s);
        for (uint c = lid; c < cols; c += WG)
            y[base + c] = exp(x[base + c] - m) / s;
    }
}

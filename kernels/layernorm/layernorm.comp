// GLSL form of layernorm: each row r of x (rows x cols) becomes
// y[r,c] = (x[r,c] - mean_r) / sqrt(var_r + eps) * gamma[c] + beta[c], with
// the biased variance taken in a second pass around the mean.
// Launch GROUPS (kernels/library_forms.h): one workgroup of WG per row;
// groups stride over the rows, so fewer groups than rows is fine.
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 2) readonly buffer Beta { float beta[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint rows; uint cols; float eps; } args;

const uint WG = 256u;
const uint FAN = 16u; // WG = FAN * FAN
shared float red[WG];
shared float part[FAN];

// A sum over the workgroup; every invocation gets the result. Two steps
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

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint cols = args.cols;

    for (uint r = gl_WorkGroupID.x; r < args.rows; r += gl_NumWorkGroups.x) {
        const uint base = r * cols;
        float s = 0.0;
        for (uint c = lid; c < cols; c += WG)
            s += x[base + c];
        const float mean = group_sum(s) / float(cols);
        float v = 0.0;
        for (uint c = lid; c < cols; c += WG)
            v += (x[base + c] - mean) * (x[base + c] - mean);
        const float inv = inversesqrt(group_sum(v) / float(cols) + args.eps);
        for (uint c = lid; c < cols; c += WG)
            y[base + c] = (x[base + c] - mean) * inv * gamma[c] + beta[c];
    }
}

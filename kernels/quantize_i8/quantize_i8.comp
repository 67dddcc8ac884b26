// GLSL form of quantize_i8: per-row symmetric int8 quantization.
//   scale[r] = amax_r / 127, amax_r = max_c |x[r,c]|
//   q[r,c]   = roundEven(x[r,c] * (127 / amax_r)), clamped to [-127, 127]
// A row whose amax is below QUANT_TINY quantizes to zeros.
// Launch GROUPS (kernels/library_forms.h): one workgroup of WG per row;
// groups stride over the rows. The int8 buffer needs 8-bit storage
// (VK_KHR_8bit_storage / Vulkan 1.2 storageBuffer8BitAccess).
#version 450
#extension GL_EXT_shader_8bit_storage : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Q { int8_t q[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Scale { float scale[]; };
layout(push_constant) uniform Args { uint rows; uint cols; } args;

const float QUANT_TINY = 1e-30;
const uint WG = 256u;
const uint FAN = 16u; // WG = FAN * FAN
shared float red[WG];
shared float part[FAN];

// A max over the workgroup; every invocation gets the result. Two steps
// of FAN (two barriers, where a halving tree takes eight): FAN invocations
// each fold one column of red[], then every invocation folds the FAN column
// results in part[]. The next call may write red[] at once (its readers have
// all passed the second barrier), and writes part[] only after its own first
// barrier, by when every invocation has read this call's.
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
        float amax = 0.0;
        for (uint c = lid; c < cols; c += WG)
            amax = max(amax, abs(x[base + c]));
        amax = group_max(amax);
        const float inv = amax >= QUANT_TINY ? 127.0 / amax : 0.0;
        if (lid == 0u)
            scale[r] = amax / 127.0;
        for (uint c = lid; c < cols; c += WG)
            q[base + c] = int8_t(int(clamp(roundEven(x[base + c] * inv), -127.0, 127.0)));
    }
}

// GLSL form of dequantize_i8: y[r,c] = q[r,c] * scale[r], over the flat
// index r * cols + c (launch ITEMS, grid-strided). The int8 buffer needs
// 8-bit storage (VK_KHR_8bit_storage / storageBuffer8BitAccess).
#version 450
#extension GL_EXT_shader_8bit_storage : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer Q { int8_t q[]; };
layout(std430, set = 0, binding = 1) readonly buffer Scale { float scale[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint rows; uint cols; } args;

void main()
{
    const uint total = args.rows * args.cols;
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride)
        y[i] = float(int(q[i])) * scale[i / args.cols];
}

// GLSL form of add: y[i] = a[i] + b[i].
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer In0 { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer In1 { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Args { uint n; } args;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < args.n; i += stride)
        y[i] = a[i] + b[i];
}

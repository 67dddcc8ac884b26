// GLSL form of fill_f32: x[i] = value.
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) writeonly buffer X { float x[]; };
layout(push_constant) uniform Args { uint n; float value; } args;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < args.n; i += stride)
        x[i] = args.value;
}

// GLSL form of axpy: y[i] = alpha * x[i] + y[i].
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Args { uint n; float alpha; } args;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < args.n; i += stride)
        y[i] = args.alpha * x[i] + y[i];
}

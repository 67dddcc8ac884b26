// y[i] += a * x[i] with a fixed workgroup of 32.
#version 450
layout(local_size_x = 32) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Args { uint n; float a; } args;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i < args.n)
        y[i] += args.a * x[i];
}

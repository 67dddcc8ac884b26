// GLSL form of relu_backward: dx[i] = dy[i] where x[i] > 0, else 0.
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Dy { float dy[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Dx { float dx[]; };
layout(push_constant) uniform Args { uint n; } args;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < args.n; i += stride)
        dx[i] = x[i] > 0.0 ? dy[i] : 0.0;
}

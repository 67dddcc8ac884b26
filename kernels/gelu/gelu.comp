// GLSL form of gelu: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
// computed as x / (1 + exp(-2u)), which is the same function without the
// cancellation of 1 + tanh(u) for negative x.
#version 450
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer In0 { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Args { uint n; } args;

// 2 * sqrt(2 / pi)
const float GELU_K = 1.5957691216057308;

float gelu1(float v)
{
    return v / (1.0 + exp(-GELU_K * (v + 0.044715 * v * v * v)));
}

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < args.n; i += stride)
        y[i] = gelu1(x[i]);
}

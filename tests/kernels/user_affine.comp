// A user kernel in GLSL, compiled to SPIR-V by the build and handed to
// aidev_kernel_create as words: y[i] = alpha * x[i] + beta for i < n.
// Buffers at bindings 0, 1, ... in signature order; scalars in one push
// constant block in signature order (the library forms' convention).
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint n; float alpha; float beta; } args;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < args.n; i += stride)
        y[i] = args.alpha * x[i] + args.beta;
}

// The naive sgemm of aidev-bench: one invocation per output element, no
// tiling, the whole row of A and column of B read from global memory. The
// library's tiled sgemm is measured against it (a user SPIR-V kernel).
// Signature as the library sgemm's: (m, n, k, alpha, beta, a, b, c).
#version 450
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) buffer C { float c[]; };
layout(push_constant) uniform Args { uint m; uint n; uint k; float alpha; float beta; } args;

void main()
{
    const uint j = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y;
    if (i >= args.m || j >= args.n)
        return;
    float acc = 0.0;
    for (uint p = 0u; p < args.k; p++)
        acc += a[i * args.k + p] * b[p * args.n + j];
    c[i * args.n + j] = args.alpha * acc + args.beta * c[i * args.n + j];
}

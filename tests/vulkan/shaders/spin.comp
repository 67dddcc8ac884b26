// Holds the device until the host says go. Each invocation sets word 1,
// then polls word 0 until it is nonzero or |limit| polls have passed; one
// that saw the go sets word 2. lavapipe ends any loop after 65535 turns, so
// the budget is many workgroups of |limit| polls each; once the go is given
// the rest end at their first poll. 64 invocations fill every SIMD lane
// (lavapipe keeps looping for lanes a smaller workgroup leaves empty).
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) coherent volatile buffer Flags { uint flags[]; };
layout(push_constant) uniform Args { uint limit; } args;

void main()
{
    atomicExchange(flags[1], 1u);
    uint seen = 0u;
    for (uint i = 0u; i < args.limit && seen == 0u; i++)
        seen = atomicCompSwap(flags[0], 1u, 1u); /* a read the compiler keeps */
    if (seen != 0u)
        atomicOr(flags[2], 1u);
}

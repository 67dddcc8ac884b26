// A user kernel whose result depends on its specialization constants:
// y[i] = SIGN * SCALE * (SQUARE ? x[i] * x[i] : x[i]) for i < n, with
// SIGN -1 when NEGATE. The workgroup is a specialization constant too
// (id 7), which a dispatch sets, so a pipeline carries both kinds.
#version 450
layout(local_size_x_id = 7) in;
layout(constant_id = 1) const float SCALE = 1.0;
layout(constant_id = 2) const uint SQUARE = 0;
layout(constant_id = 3) const bool NEGATE = false;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint n; } args;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i >= args.n)
        return;
    float v = SQUARE == 1u ? x[i] * x[i] : x[i];
    v *= SCALE;
    y[i] = NEGATE ? -v : v;
}

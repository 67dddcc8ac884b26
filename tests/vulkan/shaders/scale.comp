// y[i] = a * x[i]. The workgroup is a specialization constant (id 0), so a
// dispatch may choose it.
#version 450
layout(local_size_x_id = 0) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint n; float a; } args;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i < args.n)
        y[i] = args.a * x[i];
}

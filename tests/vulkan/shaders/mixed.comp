// An 8-byte scalar between 4-byte ones: push constants at offsets 0, 8, 16.
// y[i] = float(big % 1000) + a * float(x[i]) over a 2D grid of rows x cols.
#version 450
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 8, local_size_y = 4) in;
layout(std430, set = 0, binding = 0) readonly buffer X { int x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint cols; uint64_t big; float a; uint rows; } args;

void main()
{
    uint c = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
    if (c < args.cols && r < args.rows) {
        uint i = r * args.cols + c;
        y[i] = float(args.big % 1000ul) + args.a * float(x[i]);
    }
}

// GLSL form of col_sum: y[c] = x[0,c] + ... + x[rows-1,c], added in that
// order in f32. One invocation per column: neighbouring invocations read
// neighbouring columns of a row.
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint rows; uint cols; } args;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint c = gl_GlobalInvocationID.x; c < args.cols; c += stride) {
        float s = 0.0;
        for (uint r = 0u; r < args.rows; r++)
            s += x[r * args.cols + c];
        y[c] = s;
    }
}

// GLSL form of transpose: y[c,r] = x[r,c]; x is rows x cols, y is
// cols x rows. Launch ITEMS over the grid (cols, rows) in 16 x 16 groups: a
// group reads a tile of x along its rows and writes it along the rows of y
// through shared memory. Groups stride over the tiles in both dimensions
// (the loops are uniform per group, as the barriers need).
#version 450
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint rows; uint cols; } args;

const uint T = 16u;
shared float tile[T][T + 1u]; // +1: no bank conflicts on the column reads

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint rows = args.rows, cols = args.cols;
    const uint tiles_c = (cols + T - 1u) / T, tiles_r = (rows + T - 1u) / T;

    for (uint tr = gl_WorkGroupID.y; tr < tiles_r; tr += gl_NumWorkGroups.y) {
        for (uint tc = gl_WorkGroupID.x; tc < tiles_c; tc += gl_NumWorkGroups.x) {
            const uint r = tr * T + ty, c = tc * T + tx;
            if (r < rows && c < cols)
                tile[ty][tx] = x[r * cols + c];
            barrier();
            const uint yr = tc * T + ty, yc = tr * T + tx; // y is cols x rows
            if (yr < cols && yc < rows)
                y[yr * rows + yc] = tile[tx][ty];
            barrier();
        }
    }
}

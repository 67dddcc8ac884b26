/* OpenCL C form of transpose: y[c,r] = x[r,c]; x is rows x cols, y is
 * cols x rows. Launch ITEMS over the grid (cols, rows) in 16 x 16 groups:
 * a group reads a tile of x along its rows and writes it along the rows of
 * y through local memory, so both sides are contiguous. Groups stride over
 * the tiles in both dimensions (the loops are uniform per group, as the
 * barriers need). */
#define T 16

__kernel __attribute__((reqd_work_group_size(T, T, 1)))
void transpose(uint rows, uint cols, __global const float *x, __global float *y)
{
    __local float tile[T][T + 1]; /* +1: no bank conflicts on the column reads */
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint tiles_c = (cols + T - 1) / T, tiles_r = (rows + T - 1) / T;

    for (uint tr = get_group_id(1); tr < tiles_r; tr += get_num_groups(1)) {
        for (uint tc = get_group_id(0); tc < tiles_c; tc += get_num_groups(0)) {
            const uint r = tr * T + ty, c = tc * T + tx;
            if (r < rows && c < cols)
                tile[ty][tx] = x[(size_t)r * cols + c];
            barrier(CLK_LOCAL_MEM_FENCE);
            const uint yr = tc * T + ty, yc = tr * T + tx; /* y is cols x rows */
            if (yr < cols && yc < rows)
                y[(size_t)yr * rows + yc] = tile[tx][ty];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
}

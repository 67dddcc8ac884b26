/* OpenCL C form of col_sum: y[c] = x[0,c] + ... + x[rows-1,c], added in that
 * order in f32. One work-item per column: neighbouring items read
 * neighbouring columns of a row. */
__kernel void col_sum(uint rows, uint cols, __global const float *x, __global float *y)
{
    for (size_t c = get_global_id(0); c < cols; c += get_global_size(0)) {
        float s = 0.0f;
        for (uint r = 0; r < rows; r++)
            s += x[(size_t)r * cols + c];
        y[c] = s;
    }
}

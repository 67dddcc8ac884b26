/* OpenCL C form of dequantize_i8: y[r,c] = q[r,c] * scale[r], over the flat
 * index r * cols + c (launch ITEMS, grid-strided). */
__kernel void dequantize_i8(uint rows, uint cols, __global const char *q,
                            __global const float *scale, __global float *y)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = get_global_id(0); i < total; i += get_global_size(0))
        y[i] = (float)q[i] * scale[i / cols];
}

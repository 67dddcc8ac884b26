/* OpenCL C form of copy_f32: y[i] = x[i]. */
__kernel void copy_f32(uint n, __global const float *x, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = x[i];
}

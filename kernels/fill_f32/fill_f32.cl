/* OpenCL C form of fill_f32: x[i] = value. */
__kernel void fill_f32(uint n, float value, __global float *x)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        x[i] = value;
}

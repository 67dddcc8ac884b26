/* OpenCL C form of silu: y[i] = x[i] / (1 + exp(-x[i])). */
__kernel void silu(uint n, __global const float *x, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = x[i] / (1.0f + exp(-x[i]));
}

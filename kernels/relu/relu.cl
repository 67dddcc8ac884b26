/* OpenCL C form of relu: y[i] = max(x[i], 0). */
__kernel void relu(uint n, __global const float *x, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

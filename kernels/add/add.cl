/* OpenCL C form of add: y[i] = a[i] + b[i]. */
__kernel void add(uint n, __global const float *a, __global const float *b, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = a[i] + b[i];
}

/* OpenCL C form of axpy: y[i] = alpha * x[i] + y[i]. */
__kernel void axpy(uint n, float alpha, __global const float *x, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = alpha * x[i] + y[i];
}

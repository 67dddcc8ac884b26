/* OpenCL C form of scale: y[i] = alpha * x[i]. */
__kernel void scale(uint n, float alpha, __global const float *x, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = alpha * x[i];
}

/* OpenCL C form of relu_backward: dx[i] = dy[i] where x[i] > 0, else 0. */
__kernel void relu_backward(uint n, __global const float *x, __global const float *dy,
                            __global float *dx)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

/* OpenCL C form of gelu: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * computed as x / (1 + exp(-2u)), which is the same function without the
 * cancellation of 1 + tanh(u) for negative x. */
/* 2 * sqrt(2 / pi) */
#define GELU_K 1.5957691216057308f

static inline float gelu1(float v)
{
    return v / (1.0f + exp(-GELU_K * (v + 0.044715f * v * v * v)));
}

__kernel void gelu(uint n, __global const float *x, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = gelu1(x[i]);
}

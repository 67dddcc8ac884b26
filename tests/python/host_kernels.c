/*
 * host_kernels.c - C functions for tests/python/test_kernels.py to make
 * host kernels of (Kernel.from_c_function), loaded with ctypes: the way a
 * Python user hands aidev a kernel compiled elsewhere.
 */
#include <aidev/aidev.h>

void aidev_test_affine(void *const *args, const aidev_host_range *range);

/* y[i] = alpha * x[i] + beta for i < n: args n, alpha, beta, x, y. */
void aidev_test_affine(void *const *args, const aidev_host_range *range)
{
    const uint32_t n = *(const uint32_t *)args[0];
    const float alpha = *(const float *)args[1], beta = *(const float *)args[2];
    const float *x = args[3];
    float *y = args[4];
    for (uint32_t i = range->begin[0]; i < range->end[0] && i < n; i++)
        y[i] = alpha * x[i] + beta;
}

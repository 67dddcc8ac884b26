/* C form of matmul_i8: y[i,j] = float(sum_p a[i,p] b[j,p]) * sa[i] * sb[j].
 * a is m x k, b is n x k (both int8, row-major: the rows quantize_i8 makes
 * of activations and of weights), the dot products are exact in int32 for
 * k <= 131071, and the rescale is two float multiplies in this order, so
 * every form gives the same bits. The grid is (n, m); a call gets a box. */
#include <stddef.h>

#include "kernels/host_kernel.h"

static int32_t dot_i8(const int8_t *x, const int8_t *y, uint32_t k)
{
    int32_t acc = 0;
    for (uint32_t p = 0; p < k; p++)
        acc += (int32_t)x[p] * (int32_t)y[p];
    return acc;
}

AIDEV_HOST_KERNEL(matmul_i8)
{
    const uint32_t m = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t n = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const uint32_t k = AIDEV_HOST_SCALAR(args, 2, uint32_t);
    const int8_t *a = args[3];
    const float *sa = args[4];
    const int8_t *b = args[5];
    const float *sb = args[6];
    float *y = args[7];
    const uint32_t j_end = aidev_host_end(range, 0, n);
    const uint32_t i_end = aidev_host_end(range, 1, m);

    for (uint32_t i = range->begin[1]; i < i_end; i++) {
        const int8_t *ai = a + (size_t)i * k;
        for (uint32_t j = range->begin[0]; j < j_end; j++) {
            const int32_t acc = dot_i8(ai, b + (size_t)j * k, k);
            y[(size_t)i * n + j] = (float)acc * sa[i] * sb[j];
        }
    }
}

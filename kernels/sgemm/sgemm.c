/* C form of sgemm: C = alpha * A B + beta * C, row-major; A is m x k, B is
 * k x n, C is m x n; beta = 0 ignores C's old values (NaN included).
 *
 * With OpenBLAS the whole product is one cblas_sgemm call, made from the
 * box that holds item (0,0) of the grid; every other box returns at once.
 * OpenBLAS then blocks and threads the product as it would for any CPU
 * user, while the pool's other threads sit idle: the two never compete for
 * the cores (splitting the grid instead would run one multithreaded
 * OpenBLAS call per pool thread, or need openblas_set_num_threads(1), which
 * is process-wide and would slow the caller's own BLAS calls).
 *
 * Without OpenBLAS each box computes its own block with a plain loop (i, p,
 * j order, so the inner loop runs along rows of B and C). */
#include <stddef.h>

#include "aidev_config.h"
#include "kernels/host_kernel.h"

#if AIDEV_HAVE_OPENBLAS
#include <cblas.h>
#endif

AIDEV_HOST_KERNEL(sgemm)
{
    const uint32_t m = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t n = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const uint32_t k = AIDEV_HOST_SCALAR(args, 2, uint32_t);
    const float alpha = AIDEV_HOST_SCALAR(args, 3, float);
    const float beta = AIDEV_HOST_SCALAR(args, 4, float);
    const float *a = args[5];
    const float *b = args[6];
    float *c = args[7];
    if (m == 0 || n == 0)
        return;
#if AIDEV_HAVE_OPENBLAS
    if (range->begin[0] || range->begin[1] || range->begin[2])
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)m, (blasint)n, (blasint)k,
                alpha, a, k ? (blasint)k : 1, b, (blasint)n, beta, c, (blasint)n);
#else
    const uint32_t j_end = aidev_host_end(range, 0, n);
    const uint32_t i_end = aidev_host_end(range, 1, m);
    const uint32_t j0 = range->begin[0];
    for (uint32_t i = range->begin[1]; i < i_end; i++) {
        float *ci = c + (size_t)i * n;
        for (uint32_t j = j0; j < j_end; j++)
            ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
        for (uint32_t p = 0; p < k; p++) {
            const float aip = alpha * a[(size_t)i * k + p];
            const float *bp = b + (size_t)p * n;
            for (uint32_t j = j0; j < j_end; j++)
                ci[j] += aip * bp[j];
        }
    }
#endif
}

/* C form of tensor_qgemm: for each of up to two batch axes of x and y,
 *   y = act(alpha x W^T + beta y + bias),
 * x m x k (floats, a strided view), W a quantized n x k matrix (a linear
 * layer's weight, row j the weights of output j; see
 * kernels/common/tensor_quant.h) dequantized as it is read, y m x n. The
 * grid is (n, m, batch); a call gets a box. Per block of 64 outputs the
 * box dequantizes those rows of W once into an f32 panel, then each row of
 * x (converted once per block) takes 64 dot products, summed in f32. */
#include <stdlib.h>

#include "kernels/common/tensor_ops.h"
#include "kernels/common/tensor_quant.h"

#define BLOCK 64

typedef struct qgemm_job {
    th_qmat w;
    uint32_t m, n, k, nb1, batch;
    int32_t xs[4], ys[4], bias_s[2];
    uint32_t xoff, yoff, biasoff, tx, ty, tbias, act, has_bias;
    float alpha, beta;
    const void *x, *bias;
    void *y;
} qgemm_job;

static int64_t qgemm_batch(const int32_t *s, uint32_t z, uint32_t nb1)
{
    return (int64_t)(z / nb1) * s[0] + (int64_t)(z % nb1) * s[1];
}

static void qgemm_finish(const qgemm_job *g, uint32_t z, uint32_t i, uint32_t j, float acc)
{
    const int64_t yi = g->yoff + qgemm_batch(g->ys, z, g->nb1) + (int64_t)i * g->ys[2] +
                       (int64_t)j * g->ys[3];
    float v = g->alpha * acc;
    if (g->beta != 0.0f)
        v += g->beta * th_load(g->y, g->ty, yi);
    if (g->has_bias)
        v += th_load(g->bias, g->tbias,
                     (int64_t)g->biasoff + (int64_t)i * g->bias_s[0] + (int64_t)j * g->bias_s[1]);
    th_store(g->y, g->ty, yi, th_activation(g->act, v));
}

/* Element by element, dequantizing as it goes: where the panels could not
 * be allocated. */
static void qgemm_direct(const qgemm_job *g, const aidev_host_range *range)
{
    const uint32_t j_end = aidev_host_end(range, 0, g->n), i_end = aidev_host_end(range, 1, g->m);
    const uint32_t z_end = aidev_host_end(range, 2, g->batch);
    for (uint32_t z = range->begin[2]; z < z_end; z++) {
        const int64_t xb = g->xoff + qgemm_batch(g->xs, z, g->nb1);
        for (uint32_t i = range->begin[1]; i < i_end; i++)
            for (uint32_t j = range->begin[0]; j < j_end; j++) {
                float acc = 0.0f;
                for (uint32_t p = 0; p < g->k; p++)
                    acc += th_load(g->x, g->tx, xb + (int64_t)i * g->xs[2] + (int64_t)p * g->xs[3]) *
                           th_dequant(&g->w, j, p);
                qgemm_finish(g, z, i, j, acc);
            }
    }
}

static void qgemm_panels(const qgemm_job *g, const aidev_host_range *range, float *panel,
                         float *xrow)
{
    const uint32_t j_end = aidev_host_end(range, 0, g->n), i_end = aidev_host_end(range, 1, g->m);
    const uint32_t z_end = aidev_host_end(range, 2, g->batch);
    for (uint32_t j0 = range->begin[0]; j0 < j_end; j0 += BLOCK) {
        const uint32_t jn = j_end - j0 < BLOCK ? j_end - j0 : BLOCK;
        for (uint32_t j = 0; j < jn; j++)
            for (uint32_t p = 0; p < g->k; p++)
                panel[(size_t)j * g->k + p] = th_dequant(&g->w, j0 + j, p);
        for (uint32_t z = range->begin[2]; z < z_end; z++) {
            const int64_t xb = g->xoff + qgemm_batch(g->xs, z, g->nb1);
            for (uint32_t i = range->begin[1]; i < i_end; i++) {
                for (uint32_t p = 0; p < g->k; p++)
                    xrow[p] = th_load(g->x, g->tx, xb + (int64_t)i * g->xs[2] + (int64_t)p * g->xs[3]);
                for (uint32_t j = 0; j < jn; j++) {
                    const float *wj = panel + (size_t)j * g->k;
                    float acc = 0.0f;
                    for (uint32_t p = 0; p < g->k; p++)
                        acc += xrow[p] * wj[p];
                    qgemm_finish(g, z, i, j0 + j, acc);
                }
            }
        }
    }
}

AIDEV_HOST_KERNEL(tensor_qgemm)
{
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 19, uint32_t);
    const qgemm_job g = {
        .w = {.format = (flags >> 6) & 7u, .q = args[21],
              .qoff = AIDEV_HOST_SCALAR(args, 14, uint32_t), .qrs = th_slo(args, 7),
              .qcs = th_shi(args, 7), .s = args[22], .soff = AIDEV_HOST_SCALAR(args, 15, uint32_t),
              .ts = th_type(flags, 6), .srs = th_slo(args, 8), .sgs = th_shi(args, 8),
              .z = args[23], .zoff = AIDEV_HOST_SCALAR(args, 16, uint32_t),
              .zrs = th_slo(args, 9), .zgs = th_shi(args, 9), .has_zero = (flags >> 5) & 1u},
        .m = th_lo(args, 0), .n = th_hi(args, 0), .k = th_lo(args, 1), .nb1 = th_hi(args, 1),
        .xs = {th_slo(args, 2), th_shi(args, 2), th_slo(args, 3), th_shi(args, 3)},
        .ys = {th_slo(args, 4), th_shi(args, 4), th_slo(args, 5), th_shi(args, 5)},
        .bias_s = {th_slo(args, 6), th_shi(args, 6)},
        .batch = AIDEV_HOST_SCALAR(args, 10, uint32_t),
        .xoff = AIDEV_HOST_SCALAR(args, 11, uint32_t),
        .yoff = AIDEV_HOST_SCALAR(args, 12, uint32_t),
        .biasoff = AIDEV_HOST_SCALAR(args, 13, uint32_t),
        .alpha = AIDEV_HOST_SCALAR(args, 17, float), .beta = AIDEV_HOST_SCALAR(args, 18, float),
        .act = flags & 15u, .has_bias = (flags >> 4) & 1u,
        .tx = th_type(flags, 3), .ty = th_type(flags, 4), .tbias = th_type(flags, 5),
        .x = args[20], .bias = args[24], .y = args[25],
    };
    if (g.m == 0 || g.n == 0 || g.batch == 0 || g.nb1 == 0)
        return;
    float *panel = malloc((size_t)BLOCK * (g.k ? g.k : 1) * sizeof(float));
    float *xrow = malloc((size_t)(g.k ? g.k : 1) * sizeof(float));
    if (panel && xrow)
        qgemm_panels(&g, range, panel, xrow);
    else
        qgemm_direct(&g, range);
    free(panel);
    free(xrow);
}

/* C form of tensor_gemm: for each of up to two batch axes,
 *   C = act(alpha A B + beta C + bias)
 * A m x k, B k x n, C m x n, every matrix a strided view (the hal turns
 * transposes into strides and broadcast batch axes into stride 0), bias a
 * view broadcast to m x n; beta = 0 ignores C's old values. The grid is
 * (n, m, batch); a call gets a box of it.
 *
 * With OpenBLAS, an all-f32 product whose matrices each have a unit stride
 * along one axis goes to cblas_sgemm, all of it from the box that holds
 * item (0,0,0) (as sgemm.c: OpenBLAS threads it while the pool idles), then
 * the epilogue. Otherwise each box computes its own block: 64 columns of B
 * at a time converted to f32, each row of A converted once per block,
 * sums in f32. */
#include <stdlib.h>

#include "aidev_config.h"
#include "kernels/common/tensor_host.h"
#include "kernels/common/tensor_ops.h"

#if AIDEV_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define BLOCK 64

typedef struct gemm_job {
    uint32_t m, n, k, nb1, batch;
    int32_t as[4], bs[4], cs[4]; /* batch 0, batch 1, row, column */
    int32_t bias_s[2];
    uint32_t aoff, boff, coff, biasoff;
    float alpha, beta;
    uint32_t act, has_bias, ta, tb, tc, tbias;
    const void *a, *b, *bias;
    void *c;
} gemm_job;

static int64_t batch_offset(const int32_t *s, uint32_t batch, uint32_t nb1)
{
    return (int64_t)(batch / nb1) * s[0] + (int64_t)(batch % nb1) * s[1];
}

/* C's element (i, j) of batch |z| after the product |acc|. */
static void gemm_finish(const gemm_job *g, uint32_t z, uint32_t i, uint32_t j, float acc)
{
    const int64_t ci = g->coff + batch_offset(g->cs, z, g->nb1) + (int64_t)i * g->cs[2] +
                       (int64_t)j * g->cs[3];
    float v = g->alpha * acc;
    if (g->beta != 0.0f)
        v += g->beta * th_load(g->c, g->tc, ci);
    if (g->has_bias)
        v += th_load(g->bias, g->tbias,
                     (int64_t)g->biasoff + (int64_t)i * g->bias_s[0] + (int64_t)j * g->bias_s[1]);
    th_store(g->c, g->tc, ci, th_activation(g->act, v));
}

/* The box element by element, converting as it goes: where the panels of
 * gemm_generic could not be allocated. */
static void gemm_direct(const gemm_job *g, const aidev_host_range *range)
{
    const uint32_t j_end = aidev_host_end(range, 0, g->n), i_end = aidev_host_end(range, 1, g->m);
    const uint32_t z_end = aidev_host_end(range, 2, g->batch);
    for (uint32_t z = range->begin[2]; z < z_end; z++) {
        const int64_t ab = g->aoff + batch_offset(g->as, z, g->nb1);
        const int64_t bb = g->boff + batch_offset(g->bs, z, g->nb1);
        for (uint32_t i = range->begin[1]; i < i_end; i++)
            for (uint32_t j = range->begin[0]; j < j_end; j++) {
                float acc = 0.0f;
                for (uint32_t p = 0; p < g->k; p++)
                    acc += th_load(g->a, g->ta, ab + (int64_t)i * g->as[2] + (int64_t)p * g->as[3]) *
                           th_load(g->b, g->tb, bb + (int64_t)p * g->bs[2] + (int64_t)j * g->bs[3]);
                gemm_finish(g, z, i, j, acc);
            }
    }
}

static void gemm_generic(const gemm_job *g, const aidev_host_range *range)
{
    const uint32_t j_end = aidev_host_end(range, 0, g->n), i_end = aidev_host_end(range, 1, g->m);
    const uint32_t z_end = aidev_host_end(range, 2, g->batch);
    float *bblk = malloc((size_t)(g->k ? g->k : 1) * BLOCK * sizeof(float));
    float *arow = malloc((size_t)(g->k ? g->k : 1) * sizeof(float));
    if (!bblk || !arow) {
        free(bblk);
        free(arow);
        gemm_direct(g, range);
        return;
    }
    for (uint32_t z = range->begin[2]; z < z_end; z++) {
        const int64_t ab = g->aoff + batch_offset(g->as, z, g->nb1);
        const int64_t bb = g->boff + batch_offset(g->bs, z, g->nb1);
        for (uint32_t j0 = range->begin[0]; j0 < j_end; j0 += BLOCK) {
            const uint32_t jn = j_end - j0 < BLOCK ? j_end - j0 : BLOCK;
            for (uint32_t p = 0; p < g->k; p++)
                for (uint32_t j = 0; j < jn; j++)
                    bblk[(size_t)p * BLOCK + j] =
                        th_load(g->b, g->tb, bb + (int64_t)p * g->bs[2] + (int64_t)(j0 + j) * g->bs[3]);
            for (uint32_t i = range->begin[1]; i < i_end; i++) {
                for (uint32_t p = 0; p < g->k; p++)
                    arow[p] = th_load(g->a, g->ta, ab + (int64_t)i * g->as[2] + (int64_t)p * g->as[3]);
                float acc[BLOCK] = {0};
                for (uint32_t p = 0; p < g->k; p++) {
                    const float av = arow[p];
                    const float *bp = bblk + (size_t)p * BLOCK;
                    for (uint32_t j = 0; j < jn; j++)
                        acc[j] += av * bp[j];
                }
                for (uint32_t j = 0; j < jn; j++)
                    gemm_finish(g, z, i, j0 + j, acc[j]);
            }
        }
    }
    free(bblk);
    free(arow);
}

#if AIDEV_HAVE_OPENBLAS
/* A rows x cols matrix with strides (sr, sc) as a BLAS operand: row-major
 * (NoTrans) or column-major (Trans) with its leading dimension. An axis of
 * one element takes any stride. */
static bool blas_operand(int32_t sr, int32_t sc, uint32_t rows, uint32_t cols,
                         enum CBLAS_TRANSPOSE *t, blasint *ld)
{
    const int32_t r1 = (int32_t)(rows ? rows : 1), c1 = (int32_t)(cols ? cols : 1);
    if ((cols <= 1 || sc == 1) && (rows <= 1 || sr >= c1)) {
        *t = CblasNoTrans;
        *ld = rows <= 1 ? c1 : sr;
        return true;
    }
    if ((rows <= 1 || sr == 1) && (cols <= 1 || sc >= r1)) {
        *t = CblasTrans;
        *ld = cols <= 1 ? r1 : sc;
        return true;
    }
    return false;
}

static bool blas_fits(const gemm_job *g)
{
    enum CBLAS_TRANSPOSE t;
    blasint ld;
    return g->ta == TH_F32 && g->tb == TH_F32 && g->tc == TH_F32 &&
           blas_operand(g->as[2], g->as[3], g->m, g->k, &t, &ld) &&
           blas_operand(g->bs[2], g->bs[3], g->k, g->n, &t, &ld) &&
           blas_operand(g->cs[2], g->cs[3], g->m, g->n, &t, &ld);
}

/* The whole product through cblas_sgemm, batch by batch, then the
 * epilogue (blas_fits said the views fit). */
static void gemm_blas(const gemm_job *g)
{
    enum CBLAS_TRANSPOSE tra, trb, trc;
    blasint lda, ldb, ldc;
    blas_operand(g->as[2], g->as[3], g->m, g->k, &tra, &lda);
    blas_operand(g->bs[2], g->bs[3], g->k, g->n, &trb, &ldb);
    blas_operand(g->cs[2], g->cs[3], g->m, g->n, &trc, &ldc);
    for (uint32_t z = 0; z < g->batch; z++) {
        const float *a = (const float *)g->a + g->aoff + batch_offset(g->as, z, g->nb1);
        const float *b = (const float *)g->b + g->boff + batch_offset(g->bs, z, g->nb1);
        float *c = (float *)g->c + g->coff + batch_offset(g->cs, z, g->nb1);
        if (trc == CblasNoTrans)
            cblas_sgemm(CblasRowMajor, tra, trb, (blasint)g->m, (blasint)g->n, (blasint)g->k,
                        g->alpha, a, lda, b, ldb, g->beta, c, ldc);
        else /* C column-major: C^T = B^T A^T, row-major */
            cblas_sgemm(CblasRowMajor, trb == CblasNoTrans ? CblasTrans : CblasNoTrans,
                        tra == CblasNoTrans ? CblasTrans : CblasNoTrans, (blasint)g->n,
                        (blasint)g->m, (blasint)g->k, g->alpha, b, ldb, a, lda, g->beta, c, ldc);
    }
    if (!g->has_bias && g->act == TH_ACT_NONE)
        return;
    for (uint32_t z = 0; z < g->batch; z++)
        for (uint32_t i = 0; i < g->m; i++)
            for (uint32_t j = 0; j < g->n; j++) {
                float *c = (float *)g->c + g->coff + batch_offset(g->cs, z, g->nb1) +
                           (int64_t)i * g->cs[2] + (int64_t)j * g->cs[3];
                float v = *c;
                if (g->has_bias)
                    v += th_load(g->bias, g->tbias, (int64_t)g->biasoff +
                                                       (int64_t)i * g->bias_s[0] +
                                                       (int64_t)j * g->bias_s[1]);
                *c = th_activation(g->act, v);
            }
}
#endif

AIDEV_HOST_KERNEL(tensor_gemm)
{
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 16, uint32_t);
    gemm_job g = {
        .m = th_lo(args, 0), .n = th_hi(args, 0), .k = th_lo(args, 1), .nb1 = th_hi(args, 1),
        .as = {th_slo(args, 2), th_shi(args, 2), th_slo(args, 3), th_shi(args, 3)},
        .bs = {th_slo(args, 4), th_shi(args, 4), th_slo(args, 5), th_shi(args, 5)},
        .cs = {th_slo(args, 6), th_shi(args, 6), th_slo(args, 7), th_shi(args, 7)},
        .bias_s = {th_slo(args, 8), th_shi(args, 8)},
        .batch = AIDEV_HOST_SCALAR(args, 9, uint32_t),
        .aoff = AIDEV_HOST_SCALAR(args, 10, uint32_t),
        .boff = AIDEV_HOST_SCALAR(args, 11, uint32_t),
        .coff = AIDEV_HOST_SCALAR(args, 12, uint32_t),
        .biasoff = AIDEV_HOST_SCALAR(args, 13, uint32_t),
        .alpha = AIDEV_HOST_SCALAR(args, 14, float),
        .beta = AIDEV_HOST_SCALAR(args, 15, float),
        .act = flags & 15u, .has_bias = (flags >> 4) & 1u,
        .ta = th_type(flags, 2), .tb = th_type(flags, 3), .tc = th_type(flags, 4),
        .tbias = th_type(flags, 5),
        .a = args[17], .b = args[18], .bias = args[19], .c = args[20],
    };
    if (g.m == 0 || g.n == 0 || g.batch == 0 || g.nb1 == 0)
        return;
#if AIDEV_HAVE_OPENBLAS
    /* Decided the same way in every box: either box (0,0,0) does all, or
     * every box its own part. */
    if (blas_fits(&g)) {
        if (!range->begin[0] && !range->begin[1] && !range->begin[2])
            gemm_blas(&g);
        return;
    }
#endif
    gemm_generic(&g, range);
}

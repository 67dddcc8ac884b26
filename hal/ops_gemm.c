/*
 * ops_gemm.c - GEMM: aidev_enqueue_gemm on descriptors (batch axes
 * broadcast NumPy-style, transposes as swapped strides, a bias broadcast to
 * the m x n result, an activation), and the BLAS-style strided-batched call
 * built on it. Both run the internal kernel tensor_gemm.
 */
#include <stdio.h>

#include "hal/ops.h"
#include "kernels/common/tensor_codes.h"

#define ARG_COUNT 21
/* Batches run along the third grid dimension, which devices cap at 65535
 * workgroups (Vulkan's least maxComputeWorkGroupCount). */
#define MAX_BATCH 65535u

typedef struct matrix {
    ops_view v;
    uint32_t rows, cols;
    int32_t sr, sc;    /* strides along rows and columns, after a transpose */
    uint32_t nb[2];    /* the two batch axes (padded) */
    int32_t sb[2];
} matrix;

/* The last two axes of |v| as a rows x cols matrix (swapped by |trans|),
 * the two before them as batch axes. */
static aidev_status as_matrix(const ops_call *c, const ops_view *v, const char *name, bool trans,
                              matrix *out)
{
    if (v->rank < 2)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s has rank %u; a matrix operand has at least 2 axes (rows, "
                           "columns), and at most 2 batch axes before them",
                           c->name, name, v->rank);
    out->v = *v;
    out->rows = trans ? v->n[3] : v->n[2];
    out->cols = trans ? v->n[2] : v->n[3];
    out->sr = trans ? v->s[3] : v->s[2];
    out->sc = trans ? v->s[2] : v->s[3];
    out->nb[0] = v->n[0];
    out->nb[1] = v->n[1];
    out->sb[0] = v->s[0];
    out->sb[1] = v->s[1];
    return AIDEV_SUCCESS;
}

/* The batch strides of |x| broadcast to C's batch axes. */
static aidev_status batch_strides(const ops_call *c, const matrix *x, const char *name,
                                  const matrix *cm, int32_t s[2])
{
    for (int i = 0; i < 2; i++) {
        if (x->nb[i] == cm->nb[i])
            s[i] = x->nb[i] == 1 ? 0 : x->sb[i];
        else if (x->nb[i] == 1)
            s[i] = 0;
        else {
            char xs[96], cs[96];
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: the batch axes of %s (shape %s) do not broadcast to c's "
                               "(shape %s): %u against %u",
                               c->name, name, ops_shape_text(&x->v, xs, sizeof xs),
                               ops_shape_text(&cm->v, cs, sizeof cs), x->nb[i], cm->nb[i]);
        }
    }
    return AIDEV_SUCCESS;
}

static aidev_status check_shapes(const ops_call *c, const matrix *a, const matrix *b,
                                 const matrix *cm)
{
    char as[96], bs[96], cs[96];
    if (a->cols != b->rows || a->rows != cm->rows || b->cols != cm->cols)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: a (%s, as %u x %u), b (%s, as %u x %u) and c (%s) do not make "
                           "an m x k by k x n product into m x n",
                           c->name, ops_shape_text(&a->v, as, sizeof as), a->rows, a->cols,
                           ops_shape_text(&b->v, bs, sizeof bs), b->rows, b->cols,
                           ops_shape_text(&cm->v, cs, sizeof cs));
    return AIDEV_SUCCESS;
}

static const uint32_t activation_codes[] = {
    [AIDEV_ACT_NONE] = TH_ACT_NONE, [AIDEV_ACT_RELU] = TH_ACT_RELU,
    [AIDEV_ACT_GELU_TANH] = TH_ACT_GELU_TANH, [AIDEV_ACT_GELU_ERF] = TH_ACT_GELU_ERF,
    [AIDEV_ACT_SILU] = TH_ACT_SILU,
};

aidev_status ops_activation_code(const ops_call *c, aidev_activation act, uint32_t *out)
{
    if ((unsigned)act >= sizeof activation_codes / sizeof activation_codes[0])
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: activation %d is not an aidev_activation", c->name, (int)act);
    *out = activation_codes[act];
    return AIDEV_SUCCESS;
}

/* A bias broadcast to the m x n result of |cm| (rank 0 to 2, NumPy rules):
 * its strides along rows and columns. */
aidev_status ops_bias_strides(const ops_call *c, const ops_view *bias, uint32_t rows,
                              uint32_t cols, int32_t s[2])
{
    char bs[96];
    if (bias->rank > 2 || (bias->n[2] != 1 && bias->n[2] != rows) ||
        (bias->n[3] != 1 && bias->n[3] != cols))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: bias of shape %s does not broadcast to the %u x %u result "
                           "([%u], [%u, 1], [%u, %u] or one value)",
                           c->name, ops_shape_text(bias, bs, sizeof bs), rows, cols, cols, rows,
                           rows, cols);
    s[0] = bias->n[2] == 1 ? 0 : bias->s[2];
    s[1] = bias->n[3] == 1 ? 0 : bias->s[3];
    return AIDEV_SUCCESS;
}

static aidev_status gemm(const ops_call *c, const aidev_gemm_params *p, const aidev_tensor *a,
                         const aidev_tensor *b, const aidev_tensor *bias, const aidev_tensor *cc)
{
    const aidev_gemm_params defaults = {.alpha = 1.0f};
    if (!p)
        p = &defaults;
    ops_view va, vb, vc, vbias = {0};
    matrix ma, mb, mc;
    int32_t as[2], bs[2], biass[2] = {0, 0};
    uint32_t act = 0;
    aidev_status st = ops_activation_code(c, p->activation, &act);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(c, a, "a", false, OPS_FLOAT_TYPES, &va);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(c, b, "b", false, OPS_FLOAT_TYPES, &vb);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(c, cc, "c", true, OPS_FLOAT_TYPES, &vc);
    if (st == AIDEV_SUCCESS && bias)
        st = ops_view_check(c, bias, "bias", false, OPS_FLOAT_TYPES, &vbias);
    if (st == AIDEV_SUCCESS)
        st = as_matrix(c, &va, "a", p->trans_a != 0, &ma);
    if (st == AIDEV_SUCCESS)
        st = as_matrix(c, &vb, "b", p->trans_b != 0, &mb);
    if (st == AIDEV_SUCCESS)
        st = as_matrix(c, &vc, "c", false, &mc);
    if (st == AIDEV_SUCCESS)
        st = check_shapes(c, &ma, &mb, &mc);
    if (st == AIDEV_SUCCESS)
        st = batch_strides(c, &ma, "a", &mc, as);
    if (st == AIDEV_SUCCESS)
        st = batch_strides(c, &mb, "b", &mc, bs);
    if (st == AIDEV_SUCCESS && bias)
        st = ops_bias_strides(c, &vbias, mc.rows, mc.cols, biass);
    if (st != AIDEV_SUCCESS)
        return st;
    const uint32_t batch = mc.nb[0] * mc.nb[1];
    if (batch > MAX_BATCH)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "%s: %u batches (%u x %u); at most %u in one call", c->name, batch,
                           mc.nb[0], mc.nb[1], MAX_BATCH);
    if (!bias)
        vbias = vc; /* bound, never read */
    const uint32_t flags = act | (bias ? 1u << 4 : 0) | va.dtype << 8 | vb.dtype << 12 |
                           vc.dtype << 16 | vbias.dtype << 20;
    const aidev_arg args[ARG_COUNT] = {
        ops_pair(mc.rows, mc.cols),
        ops_pair(ma.cols, mc.nb[1]),
        ops_spair(as[0], as[1]),
        ops_spair(ma.sr, ma.sc),
        ops_spair(bs[0], bs[1]),
        ops_spair(mb.sr, mb.sc),
        ops_spair(mc.nb[0] == 1 ? 0 : mc.sb[0], mc.nb[1] == 1 ? 0 : mc.sb[1]),
        ops_spair(mc.sr, mc.sc),
        ops_spair(biass[0], biass[1]),
        aidev_arg_u32(batch),
        aidev_arg_u32(va.offset),
        aidev_arg_u32(vb.offset),
        aidev_arg_u32(vc.offset),
        aidev_arg_u32(vbias.offset),
        aidev_arg_f32(p->alpha),
        aidev_arg_f32(p->beta),
        aidev_arg_u32(flags),
        aidev_arg_buffer(va.handle, 0),
        aidev_arg_buffer(vb.handle, 0),
        aidev_arg_buffer(vbias.handle, 0),
        aidev_arg_buffer(vc.handle, 0),
    };
    const uint32_t grid[3] = {mc.cols, mc.rows, batch};
    return ops_dispatch(c, "tensor_gemm", grid, ARG_COUNT, args);
}

AIDEV_API aidev_status aidev_enqueue_gemm(aidev_queue queue, const aidev_gemm_params *params,
                                          const aidev_tensor *a, const aidev_tensor *b,
                                          const aidev_tensor *bias, const aidev_tensor *c,
                                          uint32_t wait_count, const aidev_event *wait_events,
                                          aidev_event *out_event)
{
    ops_call call;
    aidev_status st = ops_begin(&call, "aidev_enqueue_gemm", queue, wait_count, wait_events,
                                out_event);
    return st == AIDEV_SUCCESS ? gemm(&call, params, a, b, bias, c) : st;
}

/* One operand of the strided-batched call as a rank-3 descriptor: batch,
 * then the matrix as stored (rows x cols with leading dimension |ld|). */
static aidev_status strided_operand(const ops_call *c, const char *name, aidev_buffer buffer,
                                    uint64_t offset, aidev_type type, uint32_t batch,
                                    int64_t stride, uint32_t rows, uint32_t cols, int64_t ld,
                                    aidev_tensor *out)
{
    if (ld < (int64_t)(cols ? cols : 1))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: ld%s = %lld is below the %u columns of %s as stored (%u x %u)",
                           c->name, name, (long long)ld, cols, name, rows, cols);
    *out = (aidev_tensor){.buffer = buffer, .offset = offset, .dtype = type, .rank = 3,
                          .shape = {batch, rows, cols}, .strides = {stride, ld, 1}};
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_enqueue_gemm_strided_batched(aidev_queue queue,
                                                          const aidev_gemm_strided *d,
                                                          uint32_t wait_count,
                                                          const aidev_event *wait_events,
                                                          aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_gemm_strided_batched", queue, wait_count,
                                wait_events, out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!d)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: d: NULL", c.name);
    aidev_tensor a, b, cc;
    st = strided_operand(&c, "a", d->a, d->a_offset, d->type_a, d->batch, d->stride_a,
                         d->trans_a ? d->k : d->m, d->trans_a ? d->m : d->k, d->lda, &a);
    if (st == AIDEV_SUCCESS)
        st = strided_operand(&c, "b", d->b, d->b_offset, d->type_b, d->batch, d->stride_b,
                             d->trans_b ? d->n : d->k, d->trans_b ? d->k : d->n, d->ldb, &b);
    if (st == AIDEV_SUCCESS)
        st = strided_operand(&c, "c", d->c, d->c_offset, d->type_c, d->batch, d->stride_c, d->m,
                             d->n, d->ldc, &cc);
    if (st != AIDEV_SUCCESS)
        return st;
    const aidev_gemm_params p = {.trans_a = d->trans_a, .trans_b = d->trans_b, .alpha = d->alpha,
                                 .beta = d->beta};
    return gemm(&c, &p, &a, &b, NULL, &cc);
}

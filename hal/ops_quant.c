/*
 * ops_quant.c - quantized matrices (aidev_qtensor: int8 codes with per-row
 * or per-group-of-32 scales and optional zero points, or ggml's Q8_0, Q4_0
 * and Q4_1 blocks): quantize, dequantize and the GEMM that dequantizes its
 * weights as it reads them. Internal kernels tensor_quantize,
 * tensor_dequantize and tensor_qgemm (kernels/common/tensor_quant.h has
 * the formats).
 */
#include <stdio.h>

#include "hal/ops.h"
#include "kernels/common/tensor_codes.h"

#define QUANT_ARGS 15
#define QGEMM_ARGS 26
#define MAX_BATCH 65535u

/* A checked quantized matrix. */
typedef struct qmat {
    aidev_quant_format format;
    uint32_t rows, cols, groups;
    ops_view q, s, z;
    bool has_zero;
    int32_t qrs, qcs, srs, sgs, zrs, zgs;
} qmat;

static uint32_t block_bytes(aidev_quant_format f)
{
    return f == AIDEV_QUANT_Q8_0 ? 34 : f == AIDEV_QUANT_Q4_0 ? 18 : f == AIDEV_QUANT_Q4_1 ? 20 : 0;
}

static const char *format_name(aidev_quant_format f)
{
    static const char *const names[] = {"?", "I8_ROW", "I8_GROUP32", "Q8_0", "Q4_0", "Q4_1"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

/* The scales or zero points of an I8 matrix: [rows] for I8_ROW, [rows,
 * groups] for I8_GROUP32; their strides along rows and groups. */
static aidev_status check_side(const ops_call *c, const qmat *w, const ops_view *v,
                               const char *name, int32_t *rs, int32_t *gs)
{
    bool row = w->format == AIDEV_QUANT_I8_ROW;
    if ((row && (v->rank != 1 || v->n[3] != w->rows)) ||
        (!row && (v->rank != 2 || v->n[2] != w->rows || v->n[3] != w->groups))) {
        char want[48], got[96];
        if (row)
            snprintf(want, sizeof want, "[%u]", w->rows);
        else
            snprintf(want, sizeof want, "[%u, %u]", w->rows, w->groups);
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s of a %s matrix of %u x %u must have shape %s, not %s",
                           c->name, name, format_name(w->format), w->rows, w->cols, want,
                           ops_shape_text(v, got, sizeof got));
    }
    *rs = row ? v->s[3] : v->s[2];
    *gs = row ? 0 : v->s[3];
    return AIDEV_SUCCESS;
}

static aidev_status check_qmat(const ops_call *c, const aidev_qtensor *t, const char *name,
                               bool output, qmat *w)
{
    *w = (qmat){0};
    if (!t)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: %s: NULL", c->name, name);
    w->format = t->format;
    if (t->format < AIDEV_QUANT_I8_ROW || t->format > AIDEV_QUANT_Q4_1)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s->format: %d is not an aidev_quant_format", c->name, name,
                           (int)t->format);
    const bool i8 = t->format <= AIDEV_QUANT_I8_GROUP32;
    char qname[32], sname[32], zname[32];
    snprintf(qname, sizeof qname, "%s->q", name);
    snprintf(sname, sizeof sname, "%s->scale", name);
    snprintf(zname, sizeof zname, "%s->zero", name);
    aidev_status st = ops_view_check(c, &t->q, qname, output,
                                     AIDEV_TYPE_BIT(i8 ? AIDEV_TYPE_I8 : AIDEV_TYPE_U8), &w->q);
    if (st != AIDEV_SUCCESS)
        return st;
    if (w->q.rank != 2)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s has rank %u; a quantized matrix is rows x %s", c->name, qname,
                           w->q.rank, i8 ? "cols" : "bytes of blocks");
    w->rows = w->q.n[2];
    w->qrs = w->q.s[2];
    w->qcs = w->q.s[3];
    if (!i8) {
        const uint32_t bb = block_bytes(t->format);
        if (w->q.n[3] % bb || (w->q.n[3] > 1 && w->q.s[3] != 1))
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: %s of %s holds %u bytes a row at stride %d: blocks of %u "
                               "bytes, compact along the row",
                               c->name, qname, format_name(t->format), w->q.n[3], w->q.s[3], bb);
        w->cols = w->q.n[3] / bb * 32;
        w->groups = w->cols / 32;
        w->s = w->z = w->q; /* bound, never read */
        return AIDEV_SUCCESS;
    }
    w->cols = w->q.n[3];
    w->groups = t->format == AIDEV_QUANT_I8_ROW ? 1 : (w->cols + 31) / 32;
    st = ops_view_check(c, &t->scale, sname, output, OPS_FLOAT_TYPES, &w->s);
    if (st == AIDEV_SUCCESS)
        st = check_side(c, w, &w->s, sname, &w->srs, &w->sgs);
    w->has_zero = t->zero.buffer != NULL;
    if (st == AIDEV_SUCCESS && w->has_zero)
        st = ops_view_check(c, &t->zero, zname, output, AIDEV_TYPE_BIT(AIDEV_TYPE_I8), &w->z);
    if (st == AIDEV_SUCCESS && w->has_zero)
        st = check_side(c, w, &w->z, zname, &w->zrs, &w->zgs);
    if (!w->has_zero)
        w->z = w->s;
    return st;
}

/* The matrix's part of the flags word and arguments 2-4, 7-9. */
static uint32_t qmat_flags(const qmat *w)
{
    return (uint32_t)w->format | (w->has_zero ? 1u << 3 : 0) | w->s.dtype << 12;
}

/* Quantize (x -> w) or dequantize (w -> x): one signature, the buffers in
 * the order of reading then writing. */
static aidev_status quant_dispatch(const ops_call *c, bool quantize, const ops_view *x,
                                   const qmat *w)
{
    char xs[96];
    if (x->rank != 2 || x->n[2] != w->rows || x->n[3] != w->cols)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: the float matrix has shape %s; the %s matrix is %u x %u",
                           c->name, ops_shape_text(x, xs, sizeof xs), format_name(w->format),
                           w->rows, w->cols);
    if (quantize && w->format >= AIDEV_QUANT_Q8_0 && w->cols % 32)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s needs whole blocks: %u columns are no multiple of 32",
                           c->name, format_name(w->format), w->cols);
    const aidev_arg args[QUANT_ARGS] = {
        ops_pair(w->rows, w->cols),
        ops_spair(x->s[2], x->s[3]),
        ops_spair(w->qrs, w->qcs),
        ops_spair(w->srs, w->sgs),
        ops_spair(w->zrs, w->zgs),
        aidev_arg_u32(w->groups),
        aidev_arg_u32(x->offset),
        aidev_arg_u32(w->q.offset),
        aidev_arg_u32(w->s.offset),
        aidev_arg_u32(w->z.offset),
        aidev_arg_u32(qmat_flags(w) | x->dtype << 8),
        aidev_arg_buffer(quantize ? x->handle : w->q.handle, 0),
        aidev_arg_buffer(quantize ? w->q.handle : w->s.handle, 0),
        aidev_arg_buffer(quantize ? w->s.handle : w->z.handle, 0),
        aidev_arg_buffer(quantize ? w->z.handle : x->handle, 0),
    };
    const uint32_t grid[3] = {quantize ? w->groups : w->cols, w->rows, 1};
    return ops_dispatch(c, quantize ? "tensor_quantize" : "tensor_dequantize", grid, QUANT_ARGS,
                        args);
}

AIDEV_API aidev_status aidev_enqueue_quantize(aidev_queue queue, const aidev_tensor *x,
                                              const aidev_qtensor *w, uint32_t wait_count,
                                              const aidev_event *wait_events,
                                              aidev_event *out_event)
{
    ops_call c;
    ops_view vx;
    qmat qm;
    aidev_status st = ops_begin(&c, "aidev_enqueue_quantize", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, x, "x", false, OPS_FLOAT_TYPES, &vx);
    if (st == AIDEV_SUCCESS)
        st = check_qmat(&c, w, "w", true, &qm);
    return st == AIDEV_SUCCESS ? quant_dispatch(&c, true, &vx, &qm) : st;
}

AIDEV_API aidev_status aidev_enqueue_dequantize(aidev_queue queue, const aidev_qtensor *w,
                                                const aidev_tensor *y, uint32_t wait_count,
                                                const aidev_event *wait_events,
                                                aidev_event *out_event)
{
    ops_call c;
    ops_view vy;
    qmat qm;
    aidev_status st = ops_begin(&c, "aidev_enqueue_dequantize", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS)
        st = check_qmat(&c, w, "w", false, &qm);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, y, "y", true, OPS_FLOAT_TYPES, &vy);
    return st == AIDEV_SUCCESS ? quant_dispatch(&c, false, &vy, &qm) : st;
}

/* x's batch axes (the two before its matrix) broadcast to y's. */
static aidev_status qgemm_batch(const ops_call *c, const ops_view *x, const ops_view *y,
                                int32_t s[2])
{
    for (int i = 0; i < 2; i++) {
        if (x->n[i] == y->n[i])
            s[i] = x->n[i] == 1 ? 0 : x->s[i];
        else if (x->n[i] == 1)
            s[i] = 0;
        else
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: x's batch axes do not broadcast to y's: %u against %u",
                               c->name, x->n[i], y->n[i]);
    }
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_enqueue_qgemm(aidev_queue queue, const aidev_gemm_params *params,
                                           const aidev_tensor *x, const aidev_qtensor *w,
                                           const aidev_tensor *bias, const aidev_tensor *y,
                                           uint32_t wait_count, const aidev_event *wait_events,
                                           aidev_event *out_event)
{
    ops_call c;
    const aidev_gemm_params defaults = {.alpha = 1.0f};
    const aidev_gemm_params *p = params ? params : &defaults;
    ops_view vx, vy, vbias = {0};
    qmat qm;
    int32_t xb[2] = {0, 0}, bias_s[2] = {0, 0};
    uint32_t act = 0;
    aidev_status st = ops_begin(&c, "aidev_enqueue_qgemm", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS && p->trans_b)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "%s: trans_b: w is n x k and used transposed already (y = x w^T); "
                         "trans_b must be 0",
                         c.name);
    if (st == AIDEV_SUCCESS)
        st = ops_activation_code(&c, p->activation, &act);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, x, "x", false, OPS_FLOAT_TYPES, &vx);
    if (st == AIDEV_SUCCESS)
        st = check_qmat(&c, w, "w", false, &qm);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, y, "y", true, OPS_FLOAT_TYPES, &vy);
    if (st == AIDEV_SUCCESS && bias)
        st = ops_view_check(&c, bias, "bias", false, OPS_FLOAT_TYPES, &vbias);
    if (st != AIDEV_SUCCESS)
        return st;
    if (vx.rank < 2 || vy.rank < 2)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: x and y have ranks %u and %u; each needs a matrix (2 axes, and "
                           "at most 2 batch axes before them)",
                           c.name, vx.rank, vy.rank);
    const bool ta = p->trans_a != 0;
    const uint32_t m = ta ? vx.n[3] : vx.n[2], k = ta ? vx.n[2] : vx.n[3];
    const int32_t sxm = ta ? vx.s[3] : vx.s[2], sxk = ta ? vx.s[2] : vx.s[3];
    char xs[96], ys[96];
    if (k != qm.cols || vy.n[2] != m || vy.n[3] != qm.rows)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: x (%s, as %u x %u) times w^T (w %u x %u, %s) does not make y "
                           "(%s)",
                           c.name, ops_shape_text(&vx, xs, sizeof xs), m, k, qm.rows, qm.cols,
                           format_name(qm.format), ops_shape_text(&vy, ys, sizeof ys));
    st = qgemm_batch(&c, &vx, &vy, xb);
    if (st == AIDEV_SUCCESS && bias)
        st = ops_bias_strides(&c, &vbias, m, qm.rows, bias_s);
    if (st != AIDEV_SUCCESS)
        return st;
    const uint32_t batch = vy.n[0] * vy.n[1];
    if (batch > MAX_BATCH)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: %u batches; at most %u in one call",
                           c.name, batch, MAX_BATCH);
    if (!bias)
        vbias = vy; /* bound, never read */
    const uint32_t flags = act | (bias ? 1u << 4 : 0) | (qm.has_zero ? 1u << 5 : 0) |
                           (uint32_t)qm.format << 6 | vx.dtype << 12 | vy.dtype << 16 |
                           vbias.dtype << 20 | qm.s.dtype << 24;
    const aidev_arg args[QGEMM_ARGS] = {
        ops_pair(m, qm.rows),
        ops_pair(k, vy.n[1]),
        ops_spair(xb[0], xb[1]),
        ops_spair(sxm, sxk),
        ops_spair(vy.n[0] == 1 ? 0 : vy.s[0], vy.n[1] == 1 ? 0 : vy.s[1]),
        ops_spair(vy.s[2], vy.s[3]),
        ops_spair(bias_s[0], bias_s[1]),
        ops_spair(qm.qrs, qm.qcs),
        ops_spair(qm.srs, qm.sgs),
        ops_spair(qm.zrs, qm.zgs),
        aidev_arg_u32(batch),
        aidev_arg_u32(vx.offset),
        aidev_arg_u32(vy.offset),
        aidev_arg_u32(vbias.offset),
        aidev_arg_u32(qm.q.offset),
        aidev_arg_u32(qm.s.offset),
        aidev_arg_u32(qm.z.offset),
        aidev_arg_f32(p->alpha),
        aidev_arg_f32(p->beta),
        aidev_arg_u32(flags),
        aidev_arg_buffer(vx.handle, 0),
        aidev_arg_buffer(qm.q.handle, 0),
        aidev_arg_buffer(qm.s.handle, 0),
        aidev_arg_buffer(qm.z.handle, 0),
        aidev_arg_buffer(vbias.handle, 0),
        aidev_arg_buffer(vy.handle, 0),
    };
    const uint32_t grid[3] = {qm.rows, m, batch};
    return ops_dispatch(&c, "tensor_qgemm", grid, QGEMM_ARGS, args);
}

/* C form of tensor_quantize: each group of a rows x cols float matrix (a
 * whole row for I8_ROW, 32 values otherwise) becomes its codes and scale:
 *   I8 formats, symmetric: s = amax / 127, q = rint(x (127 / amax)) in
 *     [-127, 127]; asymmetric (zero points wanted): lo = min(x, 0),
 *     hi = max(x, 0), s = (hi - lo) / 255, z = rint(-128 - lo (255 / (hi -
 *     lo))), q = rint(x (255 / (hi - lo))) + z, both in [-128, 127]; a group
 *     whose range is below 1e-30 gets s = 0 and codes 0;
 *   Q8_0, Q4_0, Q4_1: ggml's reference quantizers (quantize_row_*_ref):
 *     d = amax / 127 and q = round(x / d) (half away from zero); d = max /
 *     -8 (max the value of largest magnitude) and q = min(15, trunc(x / d +
 *     8.5)); d = (max - min) / 15, m = min and q = min(15, trunc((x - m) /
 *     d + 0.5)); d and m stored as f16.
 * The grid is (groups, rows); an item quantizes one group. */
#include "kernels/common/tensor_quant.h"

typedef struct quant_job {
    th_qmat w;
    const void *x;
    uint32_t tx, xoff, cols;
    int32_t xrs, xcs;
    void *q, *s, *z;
} quant_job;

#define QUANT_TINY 1e-30f

/* Half away from zero, exactly (no x + 0.5 rounding). */
static float round_away(float v)
{
    const float t = truncf(v);
    return fabsf(v - t) >= 0.5f ? t + (v < 0.0f ? -1.0f : 1.0f) : t;
}

static float load_x(const quant_job *j, uint32_t r, uint32_t c)
{
    return th_load(j->x, j->tx, (int64_t)j->xoff + (int64_t)r * j->xrs + (int64_t)c * j->xcs);
}

static void quantize_i8(const quant_job *j, uint32_t r, uint32_t g, uint32_t c0, uint32_t c1)
{
    const th_qmat *w = &j->w;
    float lo = 0.0f, hi = 0.0f, amax = 0.0f;
    for (uint32_t c = c0; c < c1; c++) {
        const float v = load_x(j, r, c);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        amax = fabsf(v) > amax ? fabsf(v) : amax;
    }
    float s = 0.0f, inv = 0.0f, z = 0.0f;
    if (w->has_zero && hi - lo >= QUANT_TINY) {
        s = (hi - lo) / 255.0f;
        inv = 255.0f / (hi - lo);
        z = fminf(fmaxf(rintf(-128.0f - lo * inv), -128.0f), 127.0f);
    } else if (!w->has_zero && amax >= QUANT_TINY) {
        s = amax / 127.0f;
        inv = 127.0f / amax;
    }
    const float qmin = w->has_zero ? -128.0f : -127.0f;
    for (uint32_t c = c0; c < c1; c++) {
        const float q = fminf(fmaxf(rintf(load_x(j, r, c) * inv) + z, qmin), 127.0f);
        ((int8_t *)j->q)[(int64_t)w->qoff + (int64_t)r * w->qrs + (int64_t)c * w->qcs] = (int8_t)q;
    }
    th_store(j->s, w->ts, (int64_t)w->soff + (int64_t)r * w->srs + (int64_t)g * w->sgs, s);
    if (w->has_zero)
        ((int8_t *)j->z)[(int64_t)w->zoff + (int64_t)r * w->zrs + (int64_t)g * w->zgs] = (int8_t)z;
}

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xffu);
    p[1] = (uint8_t)(v >> 8);
}

static void quantize_block(const quant_job *j, uint32_t r, uint32_t g)
{
    const th_qmat *w = &j->w;
    uint8_t *blk = (uint8_t *)j->q + w->qoff + (int64_t)r * w->qrs +
                   (int64_t)g * th_block_bytes(w->format);
    float x[32], amax = 0.0f, max = 0.0f, lo = INFINITY, hi = -INFINITY;
    for (uint32_t i = 0; i < 32; i++) {
        x[i] = load_x(j, r, g * 32 + i);
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    if (w->format == TH_Q_Q8_0) {
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        put_u16(blk, th_f32_to_f16(d));
        for (uint32_t i = 0; i < 32; i++)
            blk[2 + i] = (uint8_t)(int8_t)round_away(x[i] * id);
        return;
    }
    const bool q40 = w->format == TH_Q_Q4_0;
    const float d = q40 ? max / -8.0f : (hi - lo) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(blk, th_f32_to_f16(d));
    if (!q40)
        put_u16(blk + 2, th_f32_to_f16(lo));
    uint8_t *qs = blk + (q40 ? 2 : 4);
    for (uint32_t i = 0; i < 16; i++) {
        const float v0 = q40 ? x[i] * id + 8.5f : (x[i] - lo) * id + 0.5f;
        const float v1 = q40 ? x[16 + i] * id + 8.5f : (x[16 + i] - lo) * id + 0.5f;
        const uint32_t q0 = (uint32_t)fminf(truncf(v0), 15.0f);
        const uint32_t q1 = (uint32_t)fminf(truncf(v1), 15.0f);
        qs[i] = (uint8_t)(q0 | q1 << 4);
    }
}

AIDEV_HOST_KERNEL(tensor_quantize)
{
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 10, uint32_t);
    quant_job j = {
        .w = {.format = flags & 7u, .qoff = AIDEV_HOST_SCALAR(args, 7, uint32_t),
              .qrs = th_slo(args, 2), .qcs = th_shi(args, 2),
              .soff = AIDEV_HOST_SCALAR(args, 8, uint32_t), .ts = th_type(flags, 3),
              .srs = th_slo(args, 3), .sgs = th_shi(args, 3),
              .zoff = AIDEV_HOST_SCALAR(args, 9, uint32_t), .zrs = th_slo(args, 4),
              .zgs = th_shi(args, 4), .has_zero = (flags >> 3) & 1u},
        .x = args[11], .tx = th_type(flags, 2), .xoff = AIDEV_HOST_SCALAR(args, 6, uint32_t),
        .cols = th_hi(args, 0), .xrs = th_slo(args, 1), .xcs = th_shi(args, 1),
        .q = args[12], .s = args[13], .z = args[14],
    };
    const uint32_t rows = th_lo(args, 0), groups = AIDEV_HOST_SCALAR(args, 5, uint32_t);
    const uint32_t g_end = aidev_host_end(range, 0, groups), r_end = aidev_host_end(range, 1, rows);
    for (uint32_t r = range->begin[1]; r < r_end; r++)
        for (uint32_t g = range->begin[0]; g < g_end; g++) {
            if (j.w.format == TH_Q_I8_ROW)
                quantize_i8(&j, r, 0, 0, j.cols);
            else if (j.w.format == TH_Q_I8_GROUP32)
                quantize_i8(&j, r, g, g * 32, g * 32 + 32 < j.cols ? g * 32 + 32 : j.cols);
            else
                quantize_block(&j, r, g);
        }
}

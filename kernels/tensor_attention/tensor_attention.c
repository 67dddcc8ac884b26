/* C form of tensor_attention: scaled dot-product attention. For each batch
 * b, head h and query i:
 *   s_j = scale (q[b,h,i,:] . k[b,hk,j,:]) + mask[b,h,i,j]
 *   out[b,h,i,:] = sum_j softmax(s)_j v[b,hk,j,:]
 * hk = h / (H / Hkv) (grouped-query attention), keys j > i + causal_off
 * dropped when causal. A query whose keys are all dropped (or masked to
 * -inf) gets zeros. The grid is the B H Sq query rows; a call gets a run of
 * them. Scores in f32, the softmax sums in double. The last axis of q, k,
 * v and out is compact (the hal checks). */
#include "kernels/common/tensor_host.h"

typedef struct attn_job {
    uint32_t B, H, Hkv, Sq, Sk, D, causal, has_mask;
    int32_t qs[3], ks[3], vs[3], os[3], ms[4]; /* b, h, s (and j for the mask) */
    uint32_t qoff, koff, voff, ooff, moff;
    int32_t causal_off;
    float scale;
    uint32_t tq, tk, tv, to, tm;
    const void *q, *k, *v, *mask;
    void *o;
} attn_job;

#define CHUNK 256 /* keys scored at a time; D is at most 256 (the hal checks) */

/* One query row, keys in chunks with a running max (online softmax), so
 * no buffer grows with Sk. */
static void attend_row(const attn_job *a, uint32_t row)
{
    float qv[256], s[CHUNK];
    double acc[256];
    const uint32_t i = row % a->Sq, h = row / a->Sq % a->H, b = row / a->Sq / a->H;
    const uint32_t hk = h / (a->H / a->Hkv);
    const int64_t qi = a->qoff + (int64_t)b * a->qs[0] + (int64_t)h * a->qs[1] + (int64_t)i * a->qs[2];
    const int64_t kb = a->koff + (int64_t)b * a->ks[0] + (int64_t)hk * a->ks[1];
    const int64_t vb = a->voff + (int64_t)b * a->vs[0] + (int64_t)hk * a->vs[1];
    for (uint32_t d = 0; d < a->D; d++) {
        qv[d] = th_load(a->q, a->tq, qi + d);
        acc[d] = 0;
    }
    float m = -INFINITY;
    double l = 0;
    for (uint32_t j0 = 0; j0 < a->Sk; j0 += CHUNK) {
        const uint32_t jn = a->Sk - j0 < CHUNK ? a->Sk - j0 : CHUNK;
        float cm = -INFINITY;
        for (uint32_t t = 0; t < jn; t++) {
            const uint32_t j = j0 + t;
            s[t] = -INFINITY;
            if (a->causal && (int64_t)j > (int64_t)i + a->causal_off)
                continue;
            float dot = 0.0f;
            const int64_t kj = kb + (int64_t)j * a->ks[2];
            for (uint32_t d = 0; d < a->D; d++)
                dot += qv[d] * th_load(a->k, a->tk, kj + d);
            s[t] = a->scale * dot;
            if (a->has_mask)
                s[t] += th_load(a->mask, a->tm, (int64_t)a->moff + (int64_t)b * a->ms[0] +
                                                    (int64_t)h * a->ms[1] + (int64_t)i * a->ms[2] +
                                                    (int64_t)j * a->ms[3]);
            cm = s[t] > cm ? s[t] : cm;
        }
        const float mn = cm > m ? cm : m;
        if (mn == -INFINITY)
            continue; /* every key so far dropped */
        const double rescale = m == -INFINITY ? 0.0 : exp((double)m - mn);
        l *= rescale;
        for (uint32_t d = 0; d < a->D; d++)
            acc[d] *= rescale;
        m = mn;
        for (uint32_t t = 0; t < jn; t++) {
            if (s[t] == -INFINITY)
                continue;
            const double p = expf(s[t] - m);
            l += p;
            const int64_t vj = vb + (int64_t)(j0 + t) * a->vs[2];
            for (uint32_t d = 0; d < a->D; d++)
                acc[d] += p * th_load(a->v, a->tv, vj + d);
        }
    }
    const int64_t oi = a->ooff + (int64_t)b * a->os[0] + (int64_t)h * a->os[1] + (int64_t)i * a->os[2];
    for (uint32_t d = 0; d < a->D; d++)
        th_store(a->o, a->to, oi + d, l > 0 ? (float)(acc[d] / l) : 0.0f);
}

AIDEV_HOST_KERNEL(tensor_attention)
{
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 15, uint32_t);
    const attn_job a = {
        .B = th_lo(args, 0), .H = th_hi(args, 0), .Hkv = th_lo(args, 1), .Sq = th_hi(args, 1),
        .Sk = th_lo(args, 2), .D = th_hi(args, 2),
        .qs = {th_slo(args, 3), th_shi(args, 3), th_slo(args, 4)}, .qoff = th_hi(args, 4),
        .ks = {th_slo(args, 5), th_shi(args, 5), th_slo(args, 6)}, .koff = th_hi(args, 6),
        .vs = {th_slo(args, 7), th_shi(args, 7), th_slo(args, 8)}, .voff = th_hi(args, 8),
        .os = {th_slo(args, 9), th_shi(args, 9), th_slo(args, 10)}, .ooff = th_hi(args, 10),
        .ms = {th_slo(args, 11), th_shi(args, 11), th_slo(args, 12), th_shi(args, 12)},
        .moff = AIDEV_HOST_SCALAR(args, 13, uint32_t),
        .scale = AIDEV_HOST_SCALAR(args, 14, float),
        .causal = flags & 1u, .has_mask = (flags >> 1) & 1u,
        .tq = th_type(flags, 2), .tk = th_type(flags, 3), .tv = th_type(flags, 4),
        .to = th_type(flags, 5), .tm = th_type(flags, 6),
        .causal_off = AIDEV_HOST_SCALAR(args, 16, int32_t),
        .q = args[17], .k = args[18], .v = args[19], .mask = args[20], .o = args[21],
    };
    const uint32_t rows = a.B * a.H * a.Sq;
    const uint32_t end = aidev_host_end(range, 0, rows);
    for (uint32_t r = range->begin[0]; r < end; r++)
        attend_row(&a, r);
}

/* OpenCL C form of tensor_attention (see tensor_attention.c for what it
 * computes). Launch GROUPS: one work-group of WG per query row (b, h, i),
 * groups striding over the rows. The row of q is staged in local memory;
 * keys go in chunks of WG, one per work-item (its score a dot product over
 * D), with a running max (online softmax); work-item t keeps the outputs
 * d = t, t + WG, ... (D <= 4 WG). Barriers are reached by the whole group:
 * every branch around them depends on the row only. */
#define WG 64
#define FAN 8 /* WG = FAN * FAN */
#define MAXD 256
#define PERD (MAXD / WG)

static float group_sum(__local float *red, __local float *part, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < FAN) {
        float s = 0.0f;
        for (uint i = lid; i < WG; i += FAN)
            s += red[i];
        part[lid] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = 0.0f;
    for (uint i = 0; i < FAN; i++)
        r += part[i];
    return r;
}

static float group_max(__local float *red, __local float *part, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < FAN) {
        float m = red[lid];
        for (uint i = lid + FAN; i < WG; i += FAN)
            m = fmax(m, red[i]);
        part[lid] = m;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = part[0];
    for (uint i = 1; i < FAN; i++)
        r = fmax(r, part[i]);
    return r;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void tensor_attention(ulong bh, ulong hs, ulong skd, ulong q_bh, ulong q_so, ulong k_bh,
                      ulong k_so, ulong v_bh, ulong v_so, ulong o_bh, ulong o_so, ulong m_bh,
                      ulong m_ij, uint moff, float scale, uint flags, int causal_off,
                      __global const uchar *q, __global const uchar *k, __global const uchar *v,
                      __global const uchar *mask, __global uchar *o)
{
    __local float qv[MAXD], p[WG], red[WG], part[FAN];
    const uint lid = get_local_id(0);
    const uint B = TH_LO(bh), H = TH_HI(bh), Hkv = TH_LO(hs), Sq = TH_HI(hs);
    const uint Sk = TH_LO(skd), D = TH_HI(skd);
    const uint causal = flags & 1u, has_mask = (flags >> 1) & 1u;
    const uint tq = th_type(flags, 2u), tk = th_type(flags, 3u), tv = th_type(flags, 4u);
    const uint to = th_type(flags, 5u), tm = th_type(flags, 6u);
    const uint rows = B * H * Sq;

    for (uint row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        const uint i = row % Sq, h = row / Sq % H, b = row / Sq / H, hk = h / (H / Hkv);
        const long qi = (long)TH_HI(q_so) + (long)b * TH_SLO(q_bh) + (long)h * TH_SHI(q_bh) +
                        (long)i * TH_SLO(q_so);
        const long kb = (long)TH_HI(k_so) + (long)b * TH_SLO(k_bh) + (long)hk * TH_SHI(k_bh);
        const long vb = (long)TH_HI(v_so) + (long)b * TH_SLO(v_bh) + (long)hk * TH_SHI(v_bh);
        for (uint d = lid; d < D; d += WG)
            qv[d] = th_load(q, tq, qi + d);
        float acc[PERD];
        for (uint t = 0; t < PERD; t++)
            acc[t] = 0.0f;
        float m = -INFINITY, l = 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint j0 = 0; j0 < Sk; j0 += WG) {
            const uint j = j0 + lid;
            float sc = -INFINITY;
            if (j < Sk && !(causal && (long)j > (long)i + causal_off)) {
                float dot = 0.0f;
                const long kj = kb + (long)j * TH_SLO(k_so);
                for (uint d = 0; d < D; d++)
                    dot += qv[d] * th_load(k, tk, kj + d);
                sc = scale * dot;
                if (has_mask)
                    sc += th_load(mask, tm, (long)moff + (long)b * TH_SLO(m_bh) +
                                                (long)h * TH_SHI(m_bh) + (long)i * TH_SLO(m_ij) +
                                                (long)j * TH_SHI(m_ij));
            }
            const float mn = fmax(m, group_max(red, part, sc));
            /* mn is the group's: the same branch for every work-item. */
            const float rescale = mn == -INFINITY || m == -INFINITY ? 0.0f : exp(m - mn);
            const float pj = sc == -INFINITY ? 0.0f : exp(sc - mn);
            p[lid] = pj;
            l = l * rescale + group_sum(red, part, pj);
            m = mn;
            const uint jn = min((uint)WG, Sk - j0);
            for (uint t = 0; t < PERD; t++) {
                const uint d = lid + WG * t;
                if (d >= D)
                    break;
                float a = acc[t] * rescale;
                for (uint jj = 0; jj < jn; jj++)
                    if (p[jj] != 0.0f)
                        a += p[jj] * th_load(v, tv, vb + (long)(j0 + jj) * TH_SLO(v_so) + d);
                acc[t] = a;
            }
            barrier(CLK_LOCAL_MEM_FENCE); /* p[] is read before the next chunk writes it */
        }
        const long oi = (long)TH_HI(o_so) + (long)b * TH_SLO(o_bh) + (long)h * TH_SHI(o_bh) +
                        (long)i * TH_SLO(o_so);
        for (uint t = 0; t < PERD; t++) {
            const uint d = lid + WG * t;
            if (d < D)
                th_store(o, to, oi + d, l > 0.0f ? acc[t] / l : 0.0f);
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* qv[] is read before the next row writes it */
    }
}

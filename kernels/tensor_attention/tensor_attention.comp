// GLSL form of tensor_attention (see tensor_attention.c for what it
// computes). Launch GROUPS: one workgroup of WG per query row (b, h, i),
// groups striding over the rows. The row of q is staged in shared memory;
// keys go in chunks of WG, one per invocation, with a running max (online
// softmax); invocation t keeps the outputs d = t, t + WG, ... (D <= 4 WG).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer Q { uint q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { uint k[]; };
layout(std430, set = 0, binding = 2) readonly buffer V { uint v[]; };
layout(std430, set = 0, binding = 3) readonly buffer M { uint mask[]; };
layout(std430, set = 0, binding = 4) buffer O { uint o[]; };
layout(push_constant) uniform Args {
    uvec2 bh, hs, skd, q_bh, q_so, k_bh, k_so, v_bh, v_so, o_bh, o_so, m_bh, m_ij;
    uint moff;
    float scale;
    uint flags;
    int causal_off;
} args;

#include "tensor.glsl"

const uint WG = 64u;
const uint FAN = 8u; // WG = FAN * FAN
const uint MAXD = 256u;
const uint PERD = MAXD / WG;
shared float qv[MAXD];
shared float p[WG];
shared float red[WG];
shared float part[FAN];

float group_sum(float x)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = x;
    barrier();
    if (lid < FAN) {
        float s = 0.0;
        for (uint i = lid; i < WG; i += FAN)
            s += red[i];
        part[lid] = s;
    }
    barrier();
    float r = 0.0;
    for (uint i = 0u; i < FAN; i++)
        r += part[i];
    return r;
}

float group_max(float x)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = x;
    barrier();
    if (lid < FAN) {
        float m = red[lid];
        for (uint i = lid + FAN; i < WG; i += FAN)
            m = max(m, red[i]);
        part[lid] = m;
    }
    barrier();
    float r = part[0];
    for (uint i = 1u; i < FAN; i++)
        r = max(r, part[i]);
    return r;
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint B = args.bh.x, H = args.bh.y, Hkv = args.hs.x, Sq = args.hs.y;
    const uint Sk = args.skd.x, D = args.skd.y;
    const bool causal = (args.flags & 1u) != 0u, has_mask = ((args.flags >> 1) & 1u) != 0u;
    const uint tq = th_type(args.flags, 2u), tk = th_type(args.flags, 3u);
    const uint tv = th_type(args.flags, 4u), to = th_type(args.flags, 5u);
    const uint tm = th_type(args.flags, 6u);
    const uint rows = B * H * Sq;
    const float NEG_INF = uintBitsToFloat(0xff800000u);

    for (uint row = gl_WorkGroupID.x; row < rows; row += gl_NumWorkGroups.x) {
        const uint i = row % Sq, h = row / Sq % H, b = row / Sq / H, hk = h / (H / Hkv);
        const int qi = int(args.q_so.y) + int(b) * int(args.q_bh.x) + int(h) * int(args.q_bh.y) +
                       int(i) * int(args.q_so.x);
        const int kb = int(args.k_so.y) + int(b) * int(args.k_bh.x) + int(hk) * int(args.k_bh.y);
        const int vb = int(args.v_so.y) + int(b) * int(args.v_bh.x) + int(hk) * int(args.v_bh.y);
        for (uint d = lid; d < D; d += WG)
            qv[d] = TH_LOAD(q, tq, qi + int(d));
        float acc[PERD];
        for (uint t = 0u; t < PERD; t++)
            acc[t] = 0.0;
        float m = NEG_INF, l = 0.0;
        barrier();
        for (uint j0 = 0u; j0 < Sk; j0 += WG) {
            const uint j = j0 + lid;
            float sc = NEG_INF;
            if (j < Sk && !(causal && int(j) > int(i) + args.causal_off)) {
                float dot = 0.0;
                const int kj = kb + int(j) * int(args.k_so.x);
                for (uint d = 0u; d < D; d++)
                    dot += qv[d] * TH_LOAD(k, tk, kj + int(d));
                sc = args.scale * dot;
                if (has_mask)
                    sc += TH_LOAD(mask, tm, int(args.moff) + int(b) * int(args.m_bh.x) +
                                                int(h) * int(args.m_bh.y) +
                                                int(i) * int(args.m_ij.x) +
                                                int(j) * int(args.m_ij.y));
            }
            const float mn = max(m, group_max(sc));
            const float rescale = mn == NEG_INF || m == NEG_INF ? 0.0 : exp(m - mn);
            const float pj = sc == NEG_INF ? 0.0 : exp(sc - mn);
            p[lid] = pj;
            l = l * rescale + group_sum(pj);
            m = mn;
            const uint jn = min(WG, Sk - j0);
            for (uint t = 0u; t < PERD; t++) {
                const uint d = lid + WG * t;
                if (d < D) {
                    float a = acc[t] * rescale;
                    for (uint jj = 0u; jj < jn; jj++)
                        if (p[jj] != 0.0)
                            a += p[jj] * TH_LOAD(v, tv, vb + int(j0 + jj) * int(args.v_so.x) + int(d));
                    acc[t] = a;
                }
            }
            barrier(); // p[] is read before the next chunk writes it
        }
        const int oi = int(args.o_so.y) + int(b) * int(args.o_bh.x) + int(h) * int(args.o_bh.y) +
                       int(i) * int(args.o_so.x);
        for (uint t = 0u; t < PERD; t++) {
            const uint d = lid + WG * t;
            if (d < D)
                TH_STORE(o, to, oi + int(d), l > 0.0 ? acc[t] / l : 0.0);
        }
        barrier(); // qv[] is read before the next row writes it
    }
}

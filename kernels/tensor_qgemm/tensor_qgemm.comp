// GLSL form of tensor_qgemm: for each of up to two batch axes of x and y,
// y = act(alpha x W^T + beta y + bias), x m x k (floats, a strided view), W
// a quantized n x k matrix (quant.glsl) dequantized as its tiles are staged,
// y m x n. Launch and tiling as tensor_gemm.comp (B is W transposed).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Q { uint qw[]; };
layout(std430, set = 0, binding = 2) readonly buffer S { uint qsc[]; };
layout(std430, set = 0, binding = 3) readonly buffer Z { uint qzp[]; };
layout(std430, set = 0, binding = 4) readonly buffer Bias { uint bias[]; };
layout(std430, set = 0, binding = 5) buffer Y { uint y[]; };
layout(push_constant) uniform Args {
    uvec2 mn, kb, xs_b, xs_mk, ys_b, ys_mn, bias_mn, q_rc, s_rg, z_rg;
    uint batch, xoff, yoff, biasoff, qoff, soff, zoff;
    float alpha, beta;
    uint flags;
} args;

#include "tensor.glsl"
#include "quant.glsl"

const uint TS = 64u;
const uint TK = 16u;
const uint WI = 16u;
const uint PER = TS / WI;

shared float as_[TK][TS + 1u];
shared float bs_[TK][TS];

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint lin = ty * WI + tx;
    const uint m = args.mn.x, n = args.mn.y, k = args.kb.x, nb1 = args.kb.y;
    const uint act = args.flags & 15u, has_bias = (args.flags >> 4) & 1u;
    const uint ta = th_type(args.flags, 3u), tc = th_type(args.flags, 4u);
    const uint tbias = th_type(args.flags, 5u);
    const th_qmat w = th_qmat_of((args.flags >> 6) & 7u, (args.flags >> 5) & 1u,
                                 th_type(args.flags, 6u), args.qoff, args.q_rc, args.soff,
                                 args.s_rg, args.zoff, args.z_rg);
    const int sam = int(args.xs_mk.x), sak = int(args.xs_mk.y);
    const int scm = int(args.ys_mn.x), scn = int(args.ys_mn.y);
    const uint tiles_n = (n + TS - 1u) / TS, tiles_m = (m + TS - 1u) / TS;

    for (uint z = gl_WorkGroupID.z; z < args.batch; z += gl_NumWorkGroups.z) {
        const int z0 = int(z / nb1), z1 = int(z % nb1);
        const int ab = int(args.xoff) + z0 * int(args.xs_b.x) + z1 * int(args.xs_b.y);
        const int cb = int(args.yoff) + z0 * int(args.ys_b.x) + z1 * int(args.ys_b.y);
        for (uint tm = gl_WorkGroupID.y; tm < tiles_m; tm += gl_NumWorkGroups.y) {
            for (uint tn = gl_WorkGroupID.x; tn < tiles_n; tn += gl_NumWorkGroups.x) {
                const uint row0 = tm * TS, col0 = tn * TS;
                float acc[PER][PER];
                for (uint i = 0u; i < PER; i++)
                    for (uint j = 0u; j < PER; j++)
                        acc[i][j] = 0.0;
                for (uint k0 = 0u; k0 < k; k0 += TK) {
                    for (uint e = lin; e < TS * TK; e += WI * WI) {
                        const uint i = e / TK, p = e % TK, row = row0 + i, kk = k0 + p;
                        as_[p][i] = row < m && kk < k
                                        ? TH_LOAD(x, ta, ab + int(row) * sam + int(kk) * sak)
                                        : 0.0;
                    }
                    for (uint e = lin; e < TK * TS; e += WI * WI) {
                        const uint p = e / TS, j = e % TS, kk = k0 + p, col = col0 + j;
                        bs_[p][j] = kk < k && col < n ? th_dequant(w, col, kk) : 0.0;
                    }
                    barrier();
                    for (uint p = 0u; p < TK; p++) {
                        float av[PER], bv[PER];
                        for (uint i = 0u; i < PER; i++)
                            av[i] = as_[p][ty + WI * i];
                        for (uint j = 0u; j < PER; j++)
                            bv[j] = bs_[p][tx + WI * j];
                        for (uint i = 0u; i < PER; i++)
                            for (uint j = 0u; j < PER; j++)
                                acc[i][j] += av[i] * bv[j];
                    }
                    barrier();
                }
                for (uint i = 0u; i < PER; i++) {
                    const uint row = row0 + ty + WI * i;
                    for (uint j = 0u; j < PER; j++) {
                        const uint col = col0 + tx + WI * j;
                        if (row < m && col < n) {
                            const int ci = cb + int(row) * scm + int(col) * scn;
                            float v = args.alpha * acc[i][j];
                            if (args.beta != 0.0)
                                v += args.beta * TH_LOAD(y, tc, ci);
                            if (has_bias != 0u)
                                v += TH_LOAD(bias, tbias, int(args.biasoff) +
                                                              int(row) * int(args.bias_mn.x) +
                                                              int(col) * int(args.bias_mn.y));
                            TH_STORE(y, tc, ci, th_activation(act, v));
                        }
                    }
                }
            }
        }
    }
}

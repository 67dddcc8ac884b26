// GLSL form of tensor_gemm: for each of up to two batch axes,
//   C = act(alpha A B + beta C + bias),
// A m x k, B k x n, C m x n strided views of any storage type (the hal turns
// transposes into strides), bias a view broadcast to m x n; beta = 0 ignores
// C's old values. Launch ITEMS over (n, m, batch) in 16 x 16 workgroups,
// tiled as sgemm.comp: a group computes a 64 x 64 tile of C, each invocation
// a 4 x 4 block, staging 64 x 16 slices of A and 16 x 64 of B in shared
// memory as f32 (converted on load, zero past the edges); groups stride over
// the tiles and the batches.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, set = 0, binding = 0) readonly buffer A { uint a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { uint b[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bias { uint bias[]; };
layout(std430, set = 0, binding = 3) buffer C { uint c[]; };
layout(push_constant) uniform Args {
    uvec2 mn, kb, as_b, as_mk, bs_b, bs_kn, cs_b, cs_mn, bias_mn;
    uint batch, aoff, boff, coff, biasoff;
    float alpha, beta;
    uint flags;
} args;

#include "tensor.glsl"

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
    const uint ta = th_type(args.flags, 2u), tb = th_type(args.flags, 3u);
    const uint tc = th_type(args.flags, 4u), tbias = th_type(args.flags, 5u);
    const int sam = int(args.as_mk.x), sak = int(args.as_mk.y);
    const int sbk = int(args.bs_kn.x), sbn = int(args.bs_kn.y);
    const int scm = int(args.cs_mn.x), scn = int(args.cs_mn.y);
    const uint tiles_n = (n + TS - 1u) / TS, tiles_m = (m + TS - 1u) / TS;

    for (uint z = gl_WorkGroupID.z; z < args.batch; z += gl_NumWorkGroups.z) {
        const int z0 = int(z / nb1), z1 = int(z % nb1);
        const int ab = int(args.aoff) + z0 * int(args.as_b.x) + z1 * int(args.as_b.y);
        const int bb = int(args.boff) + z0 * int(args.bs_b.x) + z1 * int(args.bs_b.y);
        const int cb = int(args.coff) + z0 * int(args.cs_b.x) + z1 * int(args.cs_b.y);
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
                                        ? TH_LOAD(a, ta, ab + int(row) * sam + int(kk) * sak)
                                        : 0.0;
                    }
                    for (uint e = lin; e < TK * TS; e += WI * WI) {
                        const uint p = e / TS, j = e % TS, kk = k0 + p, col = col0 + j;
                        bs_[p][j] = kk < k && col < n
                                        ? TH_LOAD(b, tb, bb + int(kk) * sbk + int(col) * sbn)
                                        : 0.0;
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
                                v += args.beta * TH_LOAD(c, tc, ci);
                            if (has_bias != 0u)
                                v += TH_LOAD(bias, tbias, int(args.biasoff) +
                                                              int(row) * int(args.bias_mn.x) +
                                                              int(col) * int(args.bias_mn.y));
                            TH_STORE(c, tc, ci, th_activation(act, v));
                        }
                    }
                }
            }
        }
    }
}

/* OpenCL C form of tensor_qgemm: for each of up to two batch axes of x and
 * y, y = act(alpha x W^T + beta y + bias), x m x k (floats, a strided
 * view), W a quantized n x k matrix (prelude quant) dequantized as its
 * tiles are staged, y m x n. Launch and tiling as tensor_gemm.cl (B is W
 * transposed). */
#define TS 64
#define TK 16
#define WI 16
#define PER (TS / WI)

__kernel __attribute__((reqd_work_group_size(WI, WI, 1)))
void tensor_qgemm(ulong mn, ulong kb, ulong xs_b, ulong xs_mk, ulong ys_b, ulong ys_mn,
                  ulong bias_mn, ulong q_rc, ulong s_rg, ulong z_rg, uint batch, uint xoff,
                  uint yoff, uint biasoff, uint qoff, uint soff, uint zoff, float alpha,
                  float beta, uint flags, __global const uchar *x, __global const uchar *q,
                  __global const uchar *s, __global const uchar *z, __global const uchar *bias,
                  __global uchar *y)
{
    __local float as[TK][TS + 1]; /* as[p][i]: A transposed, +1 against bank conflicts */
    __local float bs[TK][TS];     /* bs[p][j] */
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint lin = ty * WI + tx;
    const uint m = TH_LO(mn), n = TH_HI(mn), k = TH_LO(kb), nb1 = TH_HI(kb);
    const uint act = flags & 15u, has_bias = (flags >> 4) & 1u;
    const uint ta = th_type(flags, 3u), tc = th_type(flags, 4u), tbias = th_type(flags, 5u);
    const th_qmat w = th_qmat_of((flags >> 6) & 7u, (flags >> 5) & 1u, th_type(flags, 6u), qoff,
                                 q_rc, soff, s_rg, zoff, z_rg);
    const long sam = TH_SLO(xs_mk), sak = TH_SHI(xs_mk);
    const long scm = TH_SLO(ys_mn), scn = TH_SHI(ys_mn);
    const uint tiles_n = (n + TS - 1) / TS, tiles_m = (m + TS - 1) / TS;

    /* bz, not z: z is the zero points' buffer. */
    for (uint bz = get_group_id(2); bz < batch; bz += get_num_groups(2)) {
        const long z0 = bz / nb1, z1 = bz % nb1;
        const long ab = xoff + z0 * TH_SLO(xs_b) + z1 * TH_SHI(xs_b);
        const long cb = yoff + z0 * TH_SLO(ys_b) + z1 * TH_SHI(ys_b);
        for (uint tm = get_group_id(1); tm < tiles_m; tm += get_num_groups(1)) {
            for (uint tn = get_group_id(0); tn < tiles_n; tn += get_num_groups(0)) {
                const uint row0 = tm * TS, col0 = tn * TS;
                float acc[PER][PER];
                for (uint i = 0; i < PER; i++)
                    for (uint j = 0; j < PER; j++)
                        acc[i][j] = 0.0f;
                for (uint k0 = 0; k0 < k; k0 += TK) {
                    for (uint e = lin; e < TS * TK; e += WI * WI) {
                        const uint i = e / TK, p = e % TK, row = row0 + i, kk = k0 + p;
                        as[p][i] = row < m && kk < k ? th_load(x, ta, ab + row * sam + kk * sak)
                                                     : 0.0f;
                    }
                    for (uint e = lin; e < TK * TS; e += WI * WI) {
                        const uint p = e / TS, j = e % TS, kk = k0 + p, col = col0 + j;
                        bs[p][j] = kk < k && col < n ? th_dequant(&w, q, s, z, col, kk) : 0.0f;
                    }
                    barrier(CLK_LOCAL_MEM_FENCE);
                    for (uint p = 0; p < TK; p++) {
                        float av[PER], bv[PER];
                        for (uint i = 0; i < PER; i++)
                            av[i] = as[p][ty + WI * i];
                        for (uint j = 0; j < PER; j++)
                            bv[j] = bs[p][tx + WI * j];
                        for (uint i = 0; i < PER; i++)
                            for (uint j = 0; j < PER; j++)
                                acc[i][j] += av[i] * bv[j];
                    }
                    barrier(CLK_LOCAL_MEM_FENCE);
                }
                for (uint i = 0; i < PER; i++) {
                    const uint row = row0 + ty + WI * i;
                    for (uint j = 0; j < PER; j++) {
                        const uint col = col0 + tx + WI * j;
                        if (row >= m || col >= n)
                            continue;
                        const long ci = cb + row * scm + col * scn;
                        float v = alpha * acc[i][j];
                        if (beta != 0.0f)
                            v += beta * th_load(y, tc, ci);
                        if (has_bias)
                            v += th_load(bias, tbias, (long)biasoff + row * (long)TH_SLO(bias_mn) +
                                                          col * (long)TH_SHI(bias_mn));
                        th_store(y, tc, ci, th_activation(act, v));
                    }
                }
            }
        }
    }
}

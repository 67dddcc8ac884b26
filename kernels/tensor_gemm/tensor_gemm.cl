/* OpenCL C form of tensor_gemm: for each of up to two batch axes,
 *   C = act(alpha A B + beta C + bias),
 * A m x k, B k x n, C m x n strided views of any storage type (the hal turns
 * transposes into strides), bias a view broadcast to m x n; beta = 0
 * ignores C's old values. Launch ITEMS over (n, m, batch) in 16 x 16
 * work-groups, tiled as sgemm.cl: a group computes a 64 x 64 tile of C,
 * each work-item a 4 x 4 block, staging 64 x 16 slices of A and 16 x 64 of
 * B in local memory as f32 (converted on load, zero past the edges); groups
 * stride over the tiles and the batches, so any launch covers them all. */
#define TS 64
#define TK 16
#define WI 16
#define PER (TS / WI)

__kernel __attribute__((reqd_work_group_size(WI, WI, 1)))
void tensor_gemm(ulong mn, ulong kb, ulong as_b, ulong as_mk, ulong bs_b, ulong bs_kn, ulong cs_b,
                 ulong cs_mn, ulong bias_mn, uint batch, uint aoff, uint boff, uint coff,
                 uint biasoff, float alpha, float beta, uint flags, __global const uchar *a,
                 __global const uchar *b, __global const uchar *bias, __global uchar *c)
{
    __local float as[TK][TS + 1]; /* as[p][i]: A transposed, +1 against bank conflicts */
    __local float bs[TK][TS];     /* bs[p][j] */
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint lin = ty * WI + tx;
    const uint m = TH_LO(mn), n = TH_HI(mn), k = TH_LO(kb), nb1 = TH_HI(kb);
    const uint act = flags & 15u, has_bias = (flags >> 4) & 1u;
    const uint ta = th_type(flags, 2u), tb = th_type(flags, 3u), tc = th_type(flags, 4u);
    const uint tbias = th_type(flags, 5u);
    const long sam = TH_SLO(as_mk), sak = TH_SHI(as_mk), sbk = TH_SLO(bs_kn), sbn = TH_SHI(bs_kn);
    const long scm = TH_SLO(cs_mn), scn = TH_SHI(cs_mn);
    const uint tiles_n = (n + TS - 1) / TS, tiles_m = (m + TS - 1) / TS;

    for (uint z = get_group_id(2); z < batch; z += get_num_groups(2)) {
        const long z0 = z / nb1, z1 = z % nb1;
        const long ab = aoff + z0 * TH_SLO(as_b) + z1 * TH_SHI(as_b);
        const long bb = boff + z0 * TH_SLO(bs_b) + z1 * TH_SHI(bs_b);
        const long cb = coff + z0 * TH_SLO(cs_b) + z1 * TH_SHI(cs_b);
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
                        as[p][i] = row < m && kk < k ? th_load(a, ta, ab + row * sam + kk * sak)
                                                     : 0.0f;
                    }
                    for (uint e = lin; e < TK * TS; e += WI * WI) {
                        const uint p = e / TS, j = e % TS, kk = k0 + p, col = col0 + j;
                        bs[p][j] = kk < k && col < n ? th_load(b, tb, bb + kk * sbk + col * sbn)
                                                     : 0.0f;
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
                            v += beta * th_load(c, tc, ci);
                        if (has_bias)
                            v += th_load(bias, tbias, (long)biasoff + row * (long)TH_SLO(bias_mn) +
                                                          col * (long)TH_SHI(bias_mn));
                        th_store(c, tc, ci, th_activation(act, v));
                    }
                }
            }
        }
    }
}

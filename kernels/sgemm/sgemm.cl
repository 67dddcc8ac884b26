/* OpenCL C form of sgemm: C = alpha * A B + beta * C, row-major; A is
 * m x k, B is k x n, C is m x n; beta = 0 ignores C's old values.
 *
 * Launch ITEMS over the grid (n, m) in 16 x 16 work-groups. A group
 * computes a TS x TS = 64 x 64 tile of C, each work-item a 4 x 4 block of
 * it (rows ty + 16 i, columns tx + 16 j, so neighbouring work-items touch
 * neighbouring columns). Per step of TK = 16 along k the group stages a
 * 64 x 16 slice of A and a 16 x 64 slice of B in local memory, zero-padded
 * past the edges. Each group takes the tiles (group_id + s * num_groups) in
 * both dimensions: a launch of one group per grid item leaves most groups
 * idle (the ITEMS grid is (n, m) for every form), and a launch of fewer
 * groups still covers every tile. The loops are uniform per group, as the
 * barriers need. */
#define TS 64
#define TK 16
#define WI 16 /* work-items per dimension */
#define PER (TS / WI)

__kernel __attribute__((reqd_work_group_size(WI, WI, 1)))
void sgemm(uint m, uint n, uint k, float alpha, float beta, __global const float *a,
           __global const float *b, __global float *c)
{
    __local float as[TK][TS + 1]; /* as[p][i]: A transposed, +1 against bank conflicts */
    __local float bs[TK][TS];     /* bs[p][j] */
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint lin = ty * WI + tx;
    const uint tiles_n = (n + TS - 1) / TS, tiles_m = (m + TS - 1) / TS;

    for (uint tm = get_group_id(1); tm < tiles_m; tm += get_num_groups(1)) {
        for (uint tn = get_group_id(0); tn < tiles_n; tn += get_num_groups(0)) {
            const uint row0 = tm * TS, col0 = tn * TS;
            float acc[PER][PER];
            for (uint i = 0; i < PER; i++)
                for (uint j = 0; j < PER; j++)
                    acc[i][j] = 0.0f;

            for (uint k0 = 0; k0 < k; k0 += TK) {
                /* 1024 elements of each slice, 4 per work-item; consecutive
                 * work-items read consecutive addresses. */
                for (uint e = lin; e < TS * TK; e += WI * WI) {
                    const uint i = e / TK, p = e % TK;
                    const uint row = row0 + i, kk = k0 + p;
                    as[p][i] = row < m && kk < k ? a[(size_t)row * k + kk] : 0.0f;
                }
                for (uint e = lin; e < TK * TS; e += WI * WI) {
                    const uint p = e / TS, j = e % TS;
                    const uint kk = k0 + p, col = col0 + j;
                    bs[p][j] = kk < k && col < n ? b[(size_t)kk * n + col] : 0.0f;
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
                if (row >= m)
                    continue;
                for (uint j = 0; j < PER; j++) {
                    const uint col = col0 + tx + WI * j;
                    if (col >= n)
                        continue;
                    __global float *cij = c + (size_t)row * n + col;
                    *cij = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *cij;
                }
            }
        }
    }
}

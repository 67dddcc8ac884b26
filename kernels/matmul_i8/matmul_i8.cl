/* OpenCL C form of matmul_i8: y[i,j] = float(sum_p a[i,p] b[j,p]) * sa[i] *
 * sb[j]; a is m x k, b is n x k, both int8; the sums are exact in int32.
 * Launch ITEMS over the grid (n, m) in 16 x 16 work-groups, one output per
 * work-item: per step of T along k the group stages a T x T slice of a and
 * of b (as int) in local memory. Groups stride over the tiles in both
 * dimensions; the loops are uniform per group, as the barriers need. */
#define T 16

__kernel __attribute__((reqd_work_group_size(T, T, 1)))
void matmul_i8(uint m, uint n, uint k, __global const char *a, __global const float *sa,
               __global const char *b, __global const float *sb, __global float *y)
{
    __local int as[T][T + 1]; /* as[i][p] */
    __local int bs[T][T + 1]; /* bs[j][p] */
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint tiles_n = (n + T - 1) / T, tiles_m = (m + T - 1) / T;

    for (uint tm = get_group_id(1); tm < tiles_m; tm += get_num_groups(1)) {
        for (uint tn = get_group_id(0); tn < tiles_n; tn += get_num_groups(0)) {
            const uint i = tm * T + ty, j = tn * T + tx;
            /* Loads: work-item (tx, ty) fetches element p = tx of row ty. */
            const uint ai = tm * T + ty, bj = tn * T + ty;
            int acc = 0;
            for (uint k0 = 0; k0 < k; k0 += T) {
                const uint p = k0 + tx;
                as[ty][tx] = ai < m && p < k ? (int)a[(size_t)ai * k + p] : 0;
                bs[ty][tx] = bj < n && p < k ? (int)b[(size_t)bj * k + p] : 0;
                barrier(CLK_LOCAL_MEM_FENCE);
                for (uint q = 0; q < T; q++)
                    acc += as[ty][q] * bs[tx][q];
                barrier(CLK_LOCAL_MEM_FENCE);
            }
            if (i < m && j < n)
                y[(size_t)i * n + j] = (float)acc * sa[i] * sb[j];
        }
    }
}

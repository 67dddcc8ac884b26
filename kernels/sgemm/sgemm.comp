// GLSL form of sgemm: C = alpha * A B + beta * C, row-major; A is m x k, B
// is k x n, C is m x n; beta = 0 ignores C's old values.
//
// Launch ITEMS over the grid (n, m) in 16 x 16 workgroups. A group computes
// a TS x TS = 64 x 64 tile of C, each invocation a 4 x 4 block of it (rows
// ty + 16 i, columns tx + 16 j). Per step of TK = 16 along k the group
// stages a 64 x 16 slice of A and a 16 x 64 slice of B in shared memory,
// zero-padded past the edges. Each group takes the tiles (group_id + s *
// num_groups) in both dimensions: a launch of one group per 16 x 16 grid
// items leaves most groups idle, a launch of fewer groups still covers every
// tile. The loops are uniform per group, as the barriers need.
#version 450
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) buffer C { float c[]; };
layout(push_constant) uniform Args { uint m; uint n; uint k; float alpha; float beta; } args;

const uint TS = 64u;
const uint TK = 16u;
const uint WI = 16u; // invocations per dimension
const uint PER = TS / WI;

shared float as[TK][TS + 1u]; // as[p][i]: A transposed, +1 against bank conflicts
shared float bs[TK][TS];      // bs[p][j]

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint lin = ty * WI + tx;
    const uint m = args.m, n = args.n, k = args.k;
    const uint tiles_n = (n + TS - 1u) / TS, tiles_m = (m + TS - 1u) / TS;

    for (uint tm = gl_WorkGroupID.y; tm < tiles_m; tm += gl_NumWorkGroups.y) {
        for (uint tn = gl_WorkGroupID.x; tn < tiles_n; tn += gl_NumWorkGroups.x) {
            const uint row0 = tm * TS, col0 = tn * TS;
            float acc[PER][PER];
            for (uint i = 0u; i < PER; i++)
                for (uint j = 0u; j < PER; j++)
                    acc[i][j] = 0.0;

            for (uint k0 = 0u; k0 < k; k0 += TK) {
                for (uint e = lin; e < TS * TK; e += WI * WI) {
                    const uint i = e / TK, p = e % TK;
                    const uint row = row0 + i, kk = k0 + p;
                    as[p][i] = row < m && kk < k ? a[row * k + kk] : 0.0;
                }
                for (uint e = lin; e < TK * TS; e += WI * WI) {
                    const uint p = e / TS, j = e % TS;
                    const uint kk = k0 + p, col = col0 + j;
                    bs[p][j] = kk < k && col < n ? b[kk * n + col] : 0.0;
                }
                barrier();
                for (uint p = 0u; p < TK; p++) {
                    float av[PER], bv[PER];
                    for (uint i = 0u; i < PER; i++)
                        av[i] = as[p][ty + WI * i];
                    for (uint j = 0u; j < PER; j++)
                        bv[j] = bs[p][tx + WI * j];
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
                        const uint idx = row * n + col;
                        c[idx] = args.beta == 0.0 ? args.alpha * acc[i][j]
                                                  : args.alpha * acc[i][j] + args.beta * c[idx];
                    }
                }
            }
        }
    }
}

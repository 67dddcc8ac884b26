// GLSL form of matmul_i8: y[i,j] = float(sum_p a[i,p] b[j,p]) * sa[i] *
// sb[j]; a is m x k, b is n x k, both int8; the sums are exact in int32.
// Launch ITEMS over the grid (n, m) in 16 x 16 workgroups, one output per
// invocation: per step of T along k the group stages a T x T slice of a and
// of b (as int) in shared memory. Groups stride over the tiles in both
// dimensions; the loops are uniform per group, as the barriers need. The
// int8 buffers need 8-bit storage (storageBuffer8BitAccess).
#version 450
#extension GL_EXT_shader_8bit_storage : require
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, set = 0, binding = 0) readonly buffer A { int8_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer SA { float sa[]; };
layout(std430, set = 0, binding = 2) readonly buffer B { int8_t b[]; };
layout(std430, set = 0, binding = 3) readonly buffer SB { float sb[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Args { uint m; uint n; uint k; } args;

const uint T = 16u;
shared int as[T][T + 1u]; // as[i][p]
shared int bs[T][T + 1u]; // bs[j][p]

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint m = args.m, n = args.n, k = args.k;
    const uint tiles_n = (n + T - 1u) / T, tiles_m = (m + T - 1u) / T;

    for (uint tm = gl_WorkGroupID.y; tm < tiles_m; tm += gl_NumWorkGroups.y) {
        for (uint tn = gl_WorkGroupID.x; tn < tiles_n; tn += gl_NumWorkGroups.x) {
            const uint i = tm * T + ty, j = tn * T + tx;
            // Loads: invocation (tx, ty) fetches element p = tx of row ty.
            const uint ai = tm * T + ty, bj = tn * T + ty;
            int acc = 0;
            for (uint k0 = 0u; k0 < k; k0 += T) {
                const uint p = k0 + tx;
                as[ty][tx] = ai < m && p < k ? int(a[ai * k + p]) : 0;
                bs[ty][tx] = bj < n && p < k ? int(b[bj * k + p]) : 0;
                barrier();
                for (uint q = 0u; q < T; q++)
                    acc += as[ty][q] * bs[tx][q];
                barrier();
            }
            if (i < m && j < n)
                y[i * n + j] = float(acc) * sa[i] * sb[j];
        }
    }
}

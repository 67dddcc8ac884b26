/* OpenCL C form of tensor_dequantize: y[r, c] = element (r, c) of a
 * quantized rows x cols matrix (prelude quant), stored in y's type. Launch
 * ITEMS over (cols, rows); dimension 0 grid-strided. */
__kernel __attribute__((reqd_work_group_size(64, 4, 1)))
void tensor_dequantize(ulong rc, ulong ys, ulong q_rc, ulong s_rg, ulong z_rg,
                                uint groups, uint yoff, uint qoff, uint soff, uint zoff,
                                uint flags, __global const uchar *q, __global const uchar *s,
                                __global const uchar *z, __global uchar *y)
{
    const th_qmat w = th_qmat_of(flags & 7u, (flags >> 3) & 1u, th_type(flags, 3u), qoff, q_rc,
                                 soff, s_rg, zoff, z_rg);
    const uint rows = TH_LO(rc), cols = TH_HI(rc), ty = th_type(flags, 2u);
    const uint r = get_global_id(1);
    (void)groups;
    if (r >= rows)
        return;
    for (uint c = get_global_id(0); c < cols; c += get_global_size(0))
        th_store(y, ty, (long)yoff + (long)r * TH_SLO(ys) + (long)c * TH_SHI(ys),
                 th_dequant(&w, q, s, z, r, c));
}

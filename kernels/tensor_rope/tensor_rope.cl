/* OpenCL C form of tensor_rope (see tensor_rope.c for what it computes).
 * Launch ITEMS over the flat items (rows x (rot/2 + D - rot)), grid-strided:
 * one pair or one copied element each, so y may be x. */
__kernel void tensor_rope(ulong n01, ulong n2d, ulong xs01, ulong xs23, ulong ys01, ulong ys23,
                          uint rows, uint per_row, uint xoff, uint yoff, uint rot, uint seq,
                          int pos0, uint posoff, int pos_stride, float base_log2,
                          float freq_scale, uint flags, __global const uchar *x,
                          __global const int *positions, __global uchar *y)
{
    const uint n1 = TH_HI(n01), n2 = TH_LO(n2d);
    const uint neox = flags & 1u, has_pos = (flags >> 1) & 1u;
    const uint tx = th_type(flags, 2u), ty = th_type(flags, 3u), half_rot = rot / 2u;
    const ulong total = (ulong)rows * per_row;
    for (ulong t = get_global_id(0); t < total; t += get_global_size(0)) {
        const uint row = (uint)(t / per_row), e = (uint)(t % per_row);
        const uint i0 = row / n2 / n1, i1 = row / n2 % n1, i2 = row % n2;
        const long xr = (long)xoff + (long)i0 * TH_SLO(xs01) + (long)i1 * TH_SHI(xs01) +
                        (long)i2 * TH_SLO(xs23);
        const long yr = (long)yoff + (long)i0 * TH_SLO(ys01) + (long)i1 * TH_SHI(ys01) +
                        (long)i2 * TH_SLO(ys23);
        const long xd = TH_SHI(xs23), yd = TH_SHI(ys23);
        if (e >= half_rot) {
            const uint d = rot + (e - half_rot);
            th_store(y, ty, yr + d * yd, th_load(x, tx, xr + d * xd));
            continue;
        }
        const uint si = seq == 0u ? i0 : seq == 1u ? i1 : i2;
        const int pos = has_pos ? positions[(long)posoff + (long)si * pos_stride]
                                : pos0 + (int)si;
        const float theta = (float)pos * freq_scale * exp2(-(float)(2u * e) / (float)rot * base_log2);
        const float c = cos(theta), s = sin(theta);
        const uint a = neox ? e : 2u * e, b = neox ? e + half_rot : 2u * e + 1u;
        const float xa = th_load(x, tx, xr + a * xd), xb = th_load(x, tx, xr + b * xd);
        th_store(y, ty, yr + a * yd, xa * c - xb * s);
        th_store(y, ty, yr + b * yd, xa * s + xb * c);
    }
}

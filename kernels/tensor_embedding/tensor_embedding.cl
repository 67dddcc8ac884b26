/* OpenCL C form of tensor_embedding: out[..., d] = table[ids[...], d]; an id
 * outside [0, V) gives NaN. Launch ITEMS over the flat items (ids x D),
 * grid-strided. */
__kernel void tensor_embedding(ulong n01, ulong n2d, ulong is01, ulong is2v, ulong ts,
                               ulong os01, ulong os23, uint total, uint idoff, uint toff,
                               uint ooff, uint types, __global const int *ids,
                               __global const uchar *table, __global uchar *out)
{
    const uint n1 = TH_HI(n01), n2 = TH_LO(n2d), D = TH_HI(n2d), V = TH_HI(is2v);
    const uint tt = th_type(types, 0u), to = th_type(types, 1u);
    for (size_t t = get_global_id(0); t < total; t += get_global_size(0)) {
        const uint d = (uint)(t % D), r = (uint)(t / D);
        const uint i0 = r / n2 / n1, i1 = r / n2 % n1, i2 = r % n2;
        const int id = ids[(long)idoff + (long)i0 * TH_SLO(is01) + (long)i1 * TH_SHI(is01) +
                           (long)i2 * TH_SLO(is2v)];
        const float v = id >= 0 && (uint)id < V
                            ? th_load(table, tt, (long)toff + (long)id * TH_SLO(ts) +
                                                     (long)d * TH_SHI(ts))
                            : NAN;
        th_store(out, to, (long)ooff + (long)i0 * TH_SLO(os01) + (long)i1 * TH_SHI(os01) +
                              (long)i2 * TH_SLO(os23) + (long)d * TH_SHI(os23),
                 v);
    }
}

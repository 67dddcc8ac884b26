/* OpenCL C form of tensor_elementwise: y = f(a) or y = a OP b over a box of
 * up to four axes, every operand a strided view (a broadcast axis has
 * stride 0), loaded and stored through float (the tensor prelude).
 * Launch ITEMS over the flat items of y's shape, grid-strided. */
__kernel void tensor_elementwise(ulong n01, ulong n23, ulong as01, ulong as23, ulong bs01,
                                 ulong bs23, ulong ys01, ulong ys23, uint total, uint aoff,
                                 uint boff, uint yoff, uint op, uint types, float alpha,
                                 float beta, __global const uchar *a, __global const uchar *b,
                                 __global uchar *y)
{
    const uint n1 = TH_HI(n01), n2 = TH_LO(n23), n3 = TH_HI(n23);
    const uint ta = th_type(types, 0u), tb = th_type(types, 1u), ty = th_type(types, 2u);
    for (size_t t = get_global_id(0); t < total; t += get_global_size(0)) {
        const float va = th_load(a, ta, th_index(t, n1, n2, n3, TH_SLO(as01), TH_SHI(as01),
                                                 TH_SLO(as23), TH_SHI(as23), aoff));
        float vb = 0.0f;
        if (op >= TH_OP_BINARY)
            vb = th_load(b, tb, th_index(t, n1, n2, n3, TH_SLO(bs01), TH_SHI(bs01),
                                         TH_SLO(bs23), TH_SHI(bs23), boff));
        th_store(y, ty, th_index(t, n1, n2, n3, TH_SLO(ys01), TH_SHI(ys01), TH_SLO(ys23),
                                 TH_SHI(ys23), yoff),
                 th_apply(op, va, vb, alpha, beta));
    }
}

/* OpenCL C form of tensor_conv2d (see tensor_conv2d.c for what it
 * computes): direct convolution, NCHW, zero padding, f32 sums. Launch
 * ITEMS over the flat items of y, grid-strided. */
__kernel void tensor_conv2d(ulong nc, ulong hw, ulong ohw, ulong co_k, ulong sd, ulong pad,
                            ulong xs01, ulong xs23, ulong ws01, ulong ws23, ulong ys01,
                            ulong ys23, uint total, uint xoff, uint woff, uint yoff, uint boff,
                            int bstride, uint flags, __global const uchar *x,
                            __global const uchar *w, __global const uchar *bias,
                            __global uchar *y)
{
    const uint C = TH_HI(nc), H = TH_LO(hw), W = TH_HI(hw), OH = TH_LO(ohw), OW = TH_HI(ohw);
    const uint CO = TH_LO(co_k), KH = TH_HI(co_k) & 0xffffu, KW = TH_HI(co_k) >> 16;
    const long sh = TH_LO(sd) & 0xffffu, sw = TH_LO(sd) >> 16;
    const long dh = TH_HI(sd) & 0xffffu, dw = TH_HI(sd) >> 16;
    const long ph = TH_LO(pad), pw = TH_HI(pad);
    const uint act = flags & 15u, has_bias = (flags >> 4) & 1u;
    const uint tx = th_type(flags, 2u), tw = th_type(flags, 3u), ty = th_type(flags, 4u);
    const uint tb = th_type(flags, 5u);
    for (size_t t = get_global_id(0); t < total; t += get_global_size(0)) {
        const uint ow = (uint)(t % OW), oh = (uint)(t / OW % OH), co = (uint)(t / OW / OH % CO);
        const uint n = (uint)(t / OW / OH / CO);
        const long xb = (long)xoff + (long)n * TH_SLO(xs01);
        const long wb = (long)woff + (long)co * TH_SLO(ws01);
        float acc = 0.0f;
        for (uint ci = 0; ci < C; ci++)
            for (uint kh = 0; kh < KH; kh++) {
                const long ih = (long)oh * sh - ph + (long)kh * dh;
                if (ih < 0 || ih >= (long)H)
                    continue;
                for (uint kw = 0; kw < KW; kw++) {
                    const long iw = (long)ow * sw - pw + (long)kw * dw;
                    if (iw < 0 || iw >= (long)W)
                        continue;
                    const float xv = th_load(x, tx, xb + (long)ci * TH_SHI(xs01) +
                                                        ih * TH_SLO(xs23) + iw * TH_SHI(xs23));
                    const float wv = th_load(w, tw, wb + (long)ci * TH_SHI(ws01) +
                                                        (long)kh * TH_SLO(ws23) +
                                                        (long)kw * TH_SHI(ws23));
                    acc += xv * wv;
                }
            }
        if (has_bias)
            acc += th_load(bias, tb, (long)boff + (long)co * bstride);
        th_store(y, ty, (long)yoff + (long)n * TH_SLO(ys01) + (long)co * TH_SHI(ys01) +
                            (long)oh * TH_SLO(ys23) + (long)ow * TH_SHI(ys23),
                 th_activation(act, acc));
    }
}

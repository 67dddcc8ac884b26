/* OpenCL C form of tensor_pool2d (see tensor_pool2d.c for what it
 * computes): max or average pooling, NCHW, padding outside the average's
 * count. Launch ITEMS over the flat items of y, grid-strided. */
__kernel void tensor_pool2d(ulong nc, ulong hw, ulong ohw, ulong win, ulong st, ulong pad,
                            ulong xs01, ulong xs23, ulong ys01, ulong ys23, uint total,
                            uint xoff, uint yoff, uint flags, __global const uchar *x,
                            __global uchar *y)
{
    const uint C = TH_HI(nc), H = TH_LO(hw), W = TH_HI(hw), OH = TH_LO(ohw), OW = TH_HI(ohw);
    const uint KH = TH_LO(win), KW = TH_HI(win);
    const long sh = TH_LO(st), sw = TH_HI(st), ph = TH_LO(pad), pw = TH_HI(pad);
    const uint avg = (flags & 3u) == 2u;
    const uint tx = th_type(flags, 2u), ty = th_type(flags, 3u);
    for (size_t t = get_global_id(0); t < total; t += get_global_size(0)) {
        const uint ow = (uint)(t % OW), oh = (uint)(t / OW % OH), c = (uint)(t / OW / OH % C);
        const uint n = (uint)(t / OW / OH / C);
        const long xb = (long)xoff + (long)n * TH_SLO(xs01) + (long)c * TH_SHI(xs01);
        float acc = avg ? 0.0f : -INFINITY;
        uint count = 0;
        for (uint kh = 0; kh < KH; kh++) {
            const long ih = (long)oh * sh - ph + kh;
            if (ih < 0 || ih >= (long)H)
                continue;
            for (uint kw = 0; kw < KW; kw++) {
                const long iw = (long)ow * sw - pw + kw;
                if (iw < 0 || iw >= (long)W)
                    continue;
                const float v = th_load(x, tx, xb + ih * TH_SLO(xs23) + iw * TH_SHI(xs23));
                acc = avg ? acc + v : (v > acc || isnan(v) ? v : acc);
                count++;
            }
        }
        th_store(y, ty, (long)yoff + (long)n * TH_SLO(ys01) + (long)c * TH_SHI(ys01) +
                            (long)oh * TH_SLO(ys23) + (long)ow * TH_SHI(ys23),
                 avg ? acc / (float)count : acc);
    }
}

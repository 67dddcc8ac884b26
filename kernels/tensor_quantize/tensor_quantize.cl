/* OpenCL C form of tensor_quantize (see tensor_quantize.c for the rules of
 * each format): each group of a rows x cols float matrix becomes its codes
 * and scale. Launch ITEMS over (groups, rows); an item quantizes one group,
 * dimension 0 grid-strided. */
#define QUANT_TINY 1e-30f

static float round_away(float v)
{
    const float t = trunc(v);
    return fabs(v - t) >= 0.5f ? t + (v < 0.0f ? -1.0f : 1.0f) : t;
}

static void quantize_i8(const th_qmat *w, __global const uchar *x, uint tx, long xrow, int xcs,
                        __global uchar *q, __global uchar *s, __global uchar *z, uint r, uint g,
                        uint c0, uint c1)
{
    float lo = 0.0f, hi = 0.0f, amax = 0.0f;
    for (uint c = c0; c < c1; c++) {
        const float v = th_load(x, tx, xrow + (long)c * xcs);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
        amax = fmax(amax, fabs(v));
    }
    float sv = 0.0f, inv = 0.0f, zv = 0.0f;
    if (w->has_zero && hi - lo >= QUANT_TINY) {
        sv = (hi - lo) / 255.0f;
        inv = 255.0f / (hi - lo);
        zv = clamp(rint(-128.0f - lo * inv), -128.0f, 127.0f);
    } else if (!w->has_zero && amax >= QUANT_TINY) {
        sv = amax / 127.0f;
        inv = 127.0f / amax;
    }
    const float qmin = w->has_zero ? -128.0f : -127.0f;
    for (uint c = c0; c < c1; c++) {
        const float qv = clamp(rint(th_load(x, tx, xrow + (long)c * xcs) * inv) + zv, qmin, 127.0f);
        ((__global char *)q)[(long)w->qoff + (long)r * w->qrs + (long)c * w->qcs] = (char)qv;
    }
    th_store(s, w->ts, (long)w->soff + (long)r * w->srs + (long)g * w->sgs, sv);
    if (w->has_zero)
        ((__global char *)z)[(long)w->zoff + (long)r * w->zrs + (long)g * w->zgs] = (char)zv;
}

static void put_u16(__global uchar *p, uint v)
{
    p[0] = (uchar)(v & 0xffu);
    p[1] = (uchar)(v >> 8);
}

static void quantize_block(const th_qmat *w, __global const uchar *x, uint tx, long xrow, int xcs,
                           __global uchar *q, uint r, uint g)
{
    __global uchar *blk = q + w->qoff + (long)r * w->qrs + (long)g * th_block_bytes(w->format);
    float v[32], amax = 0.0f, mx = 0.0f, lo = INFINITY, hi = -INFINITY;
    for (uint i = 0; i < 32; i++) {
        v[i] = th_load(x, tx, xrow + (long)(g * 32u + i) * xcs);
        if (fabs(v[i]) > amax) {
            amax = fabs(v[i]);
            mx = v[i];
        }
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    if (w->format == TH_Q_Q8_0) {
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        put_u16(blk, th_f32_to_f16(d));
        for (uint i = 0; i < 32; i++)
            blk[2 + i] = (uchar)(char)round_away(v[i] * id);
        return;
    }
    const bool q40 = w->format == TH_Q_Q4_0;
    const float d = q40 ? mx / -8.0f : (hi - lo) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(blk, th_f32_to_f16(d));
    if (!q40)
        put_u16(blk + 2, th_f32_to_f16(lo));
    __global uchar *qs = blk + (q40 ? 2 : 4);
    for (uint i = 0; i < 16; i++) {
        const float v0 = q40 ? v[i] * id + 8.5f : (v[i] - lo) * id + 0.5f;
        const float v1 = q40 ? v[16 + i] * id + 8.5f : (v[16 + i] - lo) * id + 0.5f;
        const uint q0 = (uint)fmin(trunc(v0), 15.0f), q1 = (uint)fmin(trunc(v1), 15.0f);
        qs[i] = (uchar)(q0 | q1 << 4);
    }
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1)))
void tensor_quantize(ulong rc, ulong xs, ulong q_rc, ulong s_rg, ulong z_rg, uint groups,
                     uint xoff, uint qoff, uint soff, uint zoff, uint flags,
                     __global const uchar *x, __global uchar *q, __global uchar *s,
                     __global uchar *z)
{
    const th_qmat w = th_qmat_of(flags & 7u, (flags >> 3) & 1u, th_type(flags, 3u), qoff, q_rc,
                                 soff, s_rg, zoff, z_rg);
    const uint rows = TH_LO(rc), cols = TH_HI(rc), tx = th_type(flags, 2u);
    const uint r = get_global_id(1);
    if (r >= rows)
        return;
    const long xrow = (long)xoff + (long)r * TH_SLO(xs);
    for (uint g = get_global_id(0); g < groups; g += get_global_size(0)) {
        if (w.format == TH_Q_I8_ROW)
            quantize_i8(&w, x, tx, xrow, TH_SHI(xs), q, s, z, r, 0u, 0u, cols);
        else if (w.format == TH_Q_I8_GROUP32)
            quantize_i8(&w, x, tx, xrow, TH_SHI(xs), q, s, z, r, g, g * 32u, min(g * 32u + 32u, cols));
        else
            quantize_block(&w, x, tx, xrow, TH_SHI(xs), q, r, g);
    }
}

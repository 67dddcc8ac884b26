/* quant.cl - the quantized matrices of the OpenCL C forms (prelude quant,
 * after prelude tensor): element (r, c) of a rows x cols matrix in each
 * format, read back as float (kernels/common/tensor_quant.h says the
 * same for the C forms). */
#define TH_Q_I8_ROW 1u
#define TH_Q_I8_GROUP32 2u
#define TH_Q_Q8_0 3u
#define TH_Q_Q4_0 4u
#define TH_Q_Q4_1 5u

static inline uint th_block_bytes(uint format)
{
    return format == TH_Q_Q8_0 ? 34u : format == TH_Q_Q4_0 ? 18u : 20u;
}

typedef struct th_qmat {
    uint format, qoff, soff, ts, zoff, has_zero;
    int qrs, qcs, srs, sgs, zrs, zgs;
} th_qmat;

static inline th_qmat th_qmat_of(uint format, uint has_zero, uint ts, uint qoff, ulong q_rc,
                                 uint soff, ulong s_rg, uint zoff, ulong z_rg)
{
    th_qmat w;
    w.format = format;
    w.has_zero = has_zero;
    w.ts = ts;
    w.qoff = qoff;
    w.qrs = TH_SLO(q_rc);
    w.qcs = TH_SHI(q_rc);
    w.soff = soff;
    w.srs = TH_SLO(s_rg);
    w.sgs = TH_SHI(s_rg);
    w.zoff = zoff;
    w.zrs = TH_SLO(z_rg);
    w.zgs = TH_SHI(z_rg);
    return w;
}

static inline float th_dequant(const th_qmat *w, __global const uchar *q, __global const uchar *s,
                               __global const uchar *z, uint r, uint c)
{
    if (w->format == TH_Q_I8_ROW || w->format == TH_Q_I8_GROUP32) {
        const uint g = w->format == TH_Q_I8_ROW ? 0u : c / 32u;
        const float qv = (float)((__global const char *)q)[(long)w->qoff + (long)r * w->qrs +
                                                           (long)c * w->qcs];
        const float sv = th_load(s, w->ts, (long)w->soff + (long)r * w->srs + (long)g * w->sgs);
        const float zv = w->has_zero ? (float)((__global const char *)z)[(long)w->zoff +
                                                                         (long)r * w->zrs +
                                                                         (long)g * w->zgs]
                                     : 0.0f;
        return (qv - zv) * sv;
    }
    __global const uchar *blk = q + w->qoff + (long)r * w->qrs +
                                (long)(c / 32u) * th_block_bytes(w->format);
    const uint j = c % 32u;
    const float d = th_f16_to_f32((uint)blk[0] | (uint)blk[1] << 8);
    if (w->format == TH_Q_Q8_0)
        return d * (float)(char)blk[2 + j];
    __global const uchar *qs = blk + (w->format == TH_Q_Q4_0 ? 2 : 4);
    const float qv = (float)(j < 16u ? qs[j] & 15u : qs[j - 16u] >> 4);
    if (w->format == TH_Q_Q4_0)
        return d * (qv - 8.0f);
    return d * qv + th_f16_to_f32((uint)blk[2] | (uint)blk[3] << 8);
}

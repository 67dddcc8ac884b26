// quant.glsl - the quantized matrices of the GLSL forms (#include after
// tensor.glsl): element (r, c) of a rows x cols matrix in each format, read
// back as float (kernels/common/tensor_quant.h says the same for the C
// forms). The including kernel declares the word arrays qw (values or
// blocks), qsc (scales) and qzp (zero points).
const uint TH_Q_I8_ROW = 1u;
const uint TH_Q_I8_GROUP32 = 2u;
const uint TH_Q_Q8_0 = 3u;
const uint TH_Q_Q4_0 = 4u;
const uint TH_Q_Q4_1 = 5u;

struct th_qmat {
    uint format, ts;
    bool has_zero;
    int qoff, qrs, qcs, soff, srs, sgs, zoff, zrs, zgs;
};

th_qmat th_qmat_of(uint format, uint has_zero, uint ts, uint qoff, uvec2 q_rc, uint soff,
                   uvec2 s_rg, uint zoff, uvec2 z_rg)
{
    th_qmat w;
    w.format = format;
    w.has_zero = has_zero != 0u;
    w.ts = ts;
    w.qoff = int(qoff);
    w.qrs = int(q_rc.x);
    w.qcs = int(q_rc.y);
    w.soff = int(soff);
    w.srs = int(s_rg.x);
    w.sgs = int(s_rg.y);
    w.zoff = int(zoff);
    w.zrs = int(z_rg.x);
    w.zgs = int(z_rg.y);
    return w;
}

uint th_block_bytes(uint format)
{
    return format == TH_Q_Q8_0 ? 34u : format == TH_Q_Q4_0 ? 18u : 20u;
}

uint th_byte(int i)
{
    return uint(TH_LOAD(qw, TH_U8, i));
}

float th_dequant(th_qmat w, uint r, uint c)
{
    if (w.format == TH_Q_I8_ROW || w.format == TH_Q_I8_GROUP32) {
        int g = w.format == TH_Q_I8_ROW ? 0 : int(c / 32u);
        float qv = TH_LOAD(qw, TH_I8, w.qoff + int(r) * w.qrs + int(c) * w.qcs);
        float sv = TH_LOAD(qsc, w.ts, w.soff + int(r) * w.srs + g * w.sgs);
        float zv = w.has_zero ? TH_LOAD(qzp, TH_I8, w.zoff + int(r) * w.zrs + g * w.zgs) : 0.0;
        return (qv - zv) * sv;
    }
    int blk = w.qoff + int(r) * w.qrs + int(c / 32u) * int(th_block_bytes(w.format));
    uint j = c % 32u;
    float d = th_f16_to_f32(th_byte(blk) | th_byte(blk + 1) << 8);
    if (w.format == TH_Q_Q8_0)
        return d * float(bitfieldExtract(int(th_byte(blk + 2 + int(j))), 0, 8));
    int qs = blk + (w.format == TH_Q_Q4_0 ? 2 : 4);
    float qv = float(j < 16u ? th_byte(qs + int(j)) & 15u : th_byte(qs + int(j) - 16) >> 4);
    if (w.format == TH_Q_Q4_0)
        return d * (qv - 8.0);
    return d * qv + th_f16_to_f32(th_byte(blk + 2) | th_byte(blk + 3) << 8);
}

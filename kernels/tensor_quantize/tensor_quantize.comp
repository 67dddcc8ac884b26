// GLSL form of tensor_quantize (see tensor_quantize.c for the rules of each
// format): each group of a rows x cols float matrix becomes its codes and
// scale. Launch ITEMS over (groups, rows); an invocation quantizes one
// group, dimension 0 grid-strided. Codes are bytes stored into words
// (TH_STORE), so no 8-bit storage is needed.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64, local_size_y = 4) in;
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) buffer Q { uint qw[]; };
layout(std430, set = 0, binding = 2) buffer S { uint qsc[]; };
layout(std430, set = 0, binding = 3) buffer Z { uint qzp[]; };
layout(push_constant) uniform Args {
    uvec2 rc, xs, q_rc, s_rg, z_rg;
    uint groups, xoff, qoff, soff, zoff, flags;
} args;

#include "tensor.glsl"
#include "quant.glsl"

const float QUANT_TINY = 1e-30;

float round_away(float v)
{
    float t = trunc(v);
    return abs(v - t) >= 0.5 ? t + (v < 0.0 ? -1.0 : 1.0) : t;
}

float load_x(uint tx, int xrow, uint c)
{
    return TH_LOAD(x, tx, xrow + int(c) * int(args.xs.y));
}

void quantize_i8(th_qmat w, uint tx, int xrow, uint r, uint g, uint c0, uint c1)
{
    float lo = 0.0, hi = 0.0, amax = 0.0;
    for (uint c = c0; c < c1; c++) {
        float v = load_x(tx, xrow, c);
        lo = min(lo, v);
        hi = max(hi, v);
        amax = max(amax, abs(v));
    }
    float sv = 0.0, inv = 0.0, zv = 0.0;
    if (w.has_zero && hi - lo >= QUANT_TINY) {
        sv = (hi - lo) / 255.0;
        inv = 255.0 / (hi - lo);
        zv = clamp(roundEven(-128.0 - lo * inv), -128.0, 127.0);
    } else if (!w.has_zero && amax >= QUANT_TINY) {
        sv = amax / 127.0;
        inv = 127.0 / amax;
    }
    float qmin = w.has_zero ? -128.0 : -127.0;
    for (uint c = c0; c < c1; c++) {
        float qv = clamp(roundEven(load_x(tx, xrow, c) * inv) + zv, qmin, 127.0);
        TH_STORE(qw, TH_I8, w.qoff + int(r) * w.qrs + int(c) * w.qcs, qv);
    }
    TH_STORE(qsc, w.ts, w.soff + int(r) * w.srs + int(g) * w.sgs, sv);
    if (w.has_zero)
        TH_STORE(qzp, TH_I8, w.zoff + int(r) * w.zrs + int(g) * w.zgs, zv);
}

void put_u16(int at, uint v)
{
    TH_STORE(qw, TH_U8, at, float(v & 0xffu));
    TH_STORE(qw, TH_U8, at + 1, float(v >> 8));
}

void quantize_block(th_qmat w, uint tx, int xrow, uint r, uint g)
{
    int blk = w.qoff + int(r) * w.qrs + int(g) * int(th_block_bytes(w.format));
    float v[32];
    float amax = 0.0, mx = 0.0, lo = uintBitsToFloat(0x7f800000u), hi = -lo;
    for (uint i = 0u; i < 32u; i++) {
        v[i] = load_x(tx, xrow, g * 32u + i);
        if (abs(v[i]) > amax) {
            amax = abs(v[i]);
            mx = v[i];
        }
        lo = min(lo, v[i]);
        hi = max(hi, v[i]);
    }
    if (w.format == TH_Q_Q8_0) {
        float d = amax / 127.0, id = d != 0.0 ? 1.0 / d : 0.0;
        put_u16(blk, th_f32_to_f16(d));
        for (uint i = 0u; i < 32u; i++)
            TH_STORE(qw, TH_I8, blk + 2 + int(i), round_away(v[i] * id));
        return;
    }
    bool q40 = w.format == TH_Q_Q4_0;
    float d = q40 ? mx / -8.0 : (hi - lo) / 15.0, id = d != 0.0 ? 1.0 / d : 0.0;
    put_u16(blk, th_f32_to_f16(d));
    if (!q40)
        put_u16(blk + 2, th_f32_to_f16(lo));
    int qs = blk + (q40 ? 2 : 4);
    for (uint i = 0u; i < 16u; i++) {
        float v0 = q40 ? v[i] * id + 8.5 : (v[i] - lo) * id + 0.5;
        float v1 = q40 ? v[16u + i] * id + 8.5 : (v[16u + i] - lo) * id + 0.5;
        uint q0 = uint(min(trunc(v0), 15.0)), q1 = uint(min(trunc(v1), 15.0));
        TH_STORE(qw, TH_U8, qs + int(i), float(q0 | q1 << 4));
    }
}

void main()
{
    const th_qmat w = th_qmat_of(args.flags & 7u, (args.flags >> 3) & 1u, th_type(args.flags, 3u),
                                 args.qoff, args.q_rc, args.soff, args.s_rg, args.zoff, args.z_rg);
    const uint rows = args.rc.x, cols = args.rc.y, tx = th_type(args.flags, 2u);
    const uint r = gl_GlobalInvocationID.y;
    if (r >= rows)
        return;
    const int xrow = int(args.xoff) + int(r) * int(args.xs.x);
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint g = gl_GlobalInvocationID.x; g < args.groups; g += stride) {
        if (w.format == TH_Q_I8_ROW)
            quantize_i8(w, tx, xrow, r, 0u, 0u, cols);
        else if (w.format == TH_Q_I8_GROUP32)
            quantize_i8(w, tx, xrow, r, g, g * 32u, min(g * 32u + 32u, cols));
        else
            quantize_block(w, tx, xrow, r, g);
    }
}

// GLSL form of tensor_rows: along one axis of a view of up to four axes
// (the hal moves it last), each row of |len| elements is reduced (sum, max,
// mean: one output) or normalised (softmax, log-softmax, rmsnorm, layernorm,
// with optional weight w and bias b along the axis). Launch GROUPS: one
// workgroup of WG per row, groups striding over the rows; partials folded
// in two steps of FAN (as softmax.comp). A row of no elements: sum 0, max
// -inf, mean NaN, the normalisations write nothing.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 2) readonly buffer B { uint b[]; };
layout(std430, set = 0, binding = 3) buffer Y { uint y[]; };
layout(push_constant) uniform Args {
    uvec2 r12, xs01, xs2a, ys01, ys2a;
    uint rows, len, xoff, yoff, op, types, woff;
    int ws;
    uint boff;
    int bs;
    float eps;
    uint flags;
} args;

#include "tensor.glsl"

const uint WG = 256u;
const uint FAN = 16u; // WG = FAN * FAN
shared float red[WG];
shared float part[FAN];

// Folds over the workgroup; every invocation gets the result (one function
// per fold, as the OpenCL C form, which PoCL needs).
float group_sum(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    if (lid < FAN) {
        float s = 0.0;
        for (uint i = lid; i < WG; i += FAN)
            s += red[i];
        part[lid] = s;
    }
    barrier();
    float r = 0.0;
    for (uint i = 0u; i < FAN; i++)
        r += part[i];
    return r;
}

float group_max(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    if (lid < FAN) {
        float m = red[lid];
        for (uint i = lid + FAN; i < WG; i += FAN)
            m = max(m, red[i]);
        part[lid] = m;
    }
    barrier();
    float r = part[0];
    for (uint i = 1u; i < FAN; i++)
        r = max(r, part[i]);
    return r;
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint r1 = args.r12.x, r2 = args.r12.y, len = args.len, op = args.op;
    const uint tx = th_type(args.types, 0u), ty = th_type(args.types, 1u);
    const uint tw = th_type(args.types, 2u), tb = th_type(args.types, 3u);
    const int xa = int(args.xs2a.y), ya = int(args.ys2a.y);
    const float NEG_INF = uintBitsToFloat(0xff800000u);

    for (uint r = gl_WorkGroupID.x; r < args.rows; r += gl_NumWorkGroups.x) {
        const uint i2 = r % r2, i1 = r / r2 % r1, i0 = r / r2 / r1;
        const int xi = int(args.xoff) + int(i0) * int(args.xs01.x) + int(i1) * int(args.xs01.y) +
                       int(i2) * int(args.xs2a.x);
        const int yi = int(args.yoff) + int(i0) * int(args.ys01.x) + int(i1) * int(args.ys01.y) +
                       int(i2) * int(args.ys2a.x);
        // The same three folds for every op (barriers out of branches, as
        // the OpenCL C form): m the max; s the sum of x, or of exp(x - m)
        // for the softmaxes; q the sum of (x - mu)^2, mu the mean for
        // layernorm, else 0.
        float m = NEG_INF;
        for (uint c = lid; c < len; c += WG)
            m = max(m, TH_LOAD(x, tx, xi + int(c) * xa));
        m = group_max(m);
        const bool soft = op == 3u || op == 4u;
        float s = 0.0;
        for (uint c = lid; c < len; c += WG) {
            float e = TH_LOAD(x, tx, xi + int(c) * xa);
            s += soft ? exp(e - m) : e;
        }
        s = group_sum(s);
        const float mu = op == 6u ? s / float(len) : 0.0;
        float q = 0.0;
        for (uint c = lid; c < len; c += WG) {
            float d = TH_LOAD(x, tx, xi + int(c) * xa) - mu;
            q += d * d;
        }
        q = group_sum(q);
        if (op <= 2u) { // sum, max, mean
            if (lid == 0u)
                TH_STORE(y, ty, yi, op == 1u ? m : op == 2u ? s / float(len) : s);
        } else if (soft) {
            const float ls = log(s);
            for (uint c = lid; c < len; c += WG) {
                float d = TH_LOAD(x, tx, xi + int(c) * xa) - m;
                TH_STORE(y, ty, yi + int(c) * ya, op == 4u ? d - ls : exp(d) / s);
            }
        } else { // rmsnorm (5), layernorm (6)
            const float inv = 1.0 / sqrt(q / float(len) + args.eps);
            for (uint c = lid; c < len; c += WG) {
                float wv = (args.flags & 1u) != 0u
                               ? TH_LOAD(w, tw, int(args.woff) + int(c) * args.ws) : 1.0;
                float bv = (args.flags & 2u) != 0u
                               ? TH_LOAD(b, tb, int(args.boff) + int(c) * args.bs) : 0.0;
                TH_STORE(y, ty, yi + int(c) * ya,
                         (TH_LOAD(x, tx, xi + int(c) * xa) - mu) * inv * wv + bv);
            }
        }
    }
}

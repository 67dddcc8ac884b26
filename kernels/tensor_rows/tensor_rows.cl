/* OpenCL C form of tensor_rows: along one axis of a view of up to four axes
 * (the hal moves it last), each row of |len| elements is reduced (sum, max,
 * mean: one output) or normalised (softmax, log-softmax, rmsnorm,
 * layernorm, with optional weight w and bias b along the axis). Launch
 * GROUPS: one work-group of WG per row, groups striding over the rows. Each
 * work-item folds the elements lid, lid + WG, ...; the group folds the WG
 * partials in two steps of FAN (as softmax.cl). A row of no elements: sum
 * 0, max -inf, mean NaN, the normalisations write nothing. */
#define WG 256
#define FAN 16 /* WG = FAN * FAN */

/* Folds over the work-group; every work-item gets the result. Two
 * functions, not one with a max-or-sum flag: PoCL 3 (pthread) ran the
 * flagged form with stale partials in some groups. */
static float group_sum(__local float *red, __local float *part, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < FAN) {
        float s = 0.0f;
        for (uint i = lid; i < WG; i += FAN)
            s += red[i];
        part[lid] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = 0.0f;
    for (uint i = 0; i < FAN; i++)
        r += part[i];
    return r;
}

static float group_max(__local float *red, __local float *part, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < FAN) {
        float m = red[lid];
        for (uint i = lid + FAN; i < WG; i += FAN)
            m = fmax(m, red[i]);
        part[lid] = m;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = part[0];
    for (uint i = 1; i < FAN; i++)
        r = fmax(r, part[i]);
    return r;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void tensor_rows(ulong r12, ulong xs01, ulong xs2a, ulong ys01, ulong ys2a, uint rows, uint len,
                 uint xoff, uint yoff, uint op, uint types, uint woff, int ws, uint boff, int bs,
                 float eps, uint flags, __global const uchar *x, __global const uchar *w,
                 __global const uchar *b, __global uchar *y)
{
    __local float red[WG], part[FAN];
    const uint lid = get_local_id(0);
    const uint r1 = TH_LO(r12), r2 = TH_HI(r12);
    const uint tx = th_type(types, 0u), ty = th_type(types, 1u);
    const uint tw = th_type(types, 2u), tb = th_type(types, 3u);
    const long xa = TH_SHI(xs2a), ya = TH_SHI(ys2a);

    for (uint r = get_group_id(0); r < rows; r += get_num_groups(0)) {
        const uint i2 = r % r2, i1 = r / r2 % r1, i0 = r / r2 / r1;
        const long xi = (long)xoff + (long)i0 * TH_SLO(xs01) + (long)i1 * TH_SHI(xs01) +
                        (long)i2 * TH_SLO(xs2a);
        const long yi = (long)yoff + (long)i0 * TH_SLO(ys01) + (long)i1 * TH_SHI(ys01) +
                        (long)i2 * TH_SLO(ys2a);
        /* Every op takes the same three folds, whether it uses them or not,
         * so that barriers stay out of branches. m: the max; s: the sum of
         * x, or of exp(x - m) for the softmaxes; q: the sum of (x - mu)^2,
         * mu the mean for layernorm, else 0. */
        float m = -INFINITY;
        for (uint c = lid; c < len; c += WG)
            m = fmax(m, th_load(x, tx, xi + c * xa));
        m = group_max(red, part, m);
        const bool soft = op == 3u || op == 4u;
        float s = 0.0f;
        for (uint c = lid; c < len; c += WG) {
            const float e = th_load(x, tx, xi + c * xa);
            s += soft ? exp(e - m) : e;
        }
        s = group_sum(red, part, s);
        const float mu = op == 6u ? s / (float)len : 0.0f;
        float q = 0.0f;
        for (uint c = lid; c < len; c += WG) {
            const float d = th_load(x, tx, xi + c * xa) - mu;
            q += d * d;
        }
        q = group_sum(red, part, q);
        if (op <= 2u) { /* sum, max, mean */
            if (lid == 0)
                th_store(y, ty, yi, op == 1u ? m : op == 2u ? s / (float)len : s);
        } else if (soft) {
            const float ls = log(s);
            for (uint c = lid; c < len; c += WG) {
                const float d = th_load(x, tx, xi + c * xa) - m;
                th_store(y, ty, yi + c * ya, op == 4u ? d - ls : exp(d) / s);
            }
        } else { /* rmsnorm (5), layernorm (6) */
            const float inv = 1.0f / sqrt(q / (float)len + eps);
            for (uint c = lid; c < len; c += WG) {
                const float wv = flags & 1u ? th_load(w, tw, (long)woff + (long)c * ws) : 1.0f;
                const float bv = flags & 2u ? th_load(b, tb, (long)boff + (long)c * bs) : 0.0f;
                th_store(y, ty, yi + c * ya,
                         (th_load(x, tx, xi + c * xa) - mu) * inv * wv + bv);
            }
        }
    }
}

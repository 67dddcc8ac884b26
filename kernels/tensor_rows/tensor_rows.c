/* C form of tensor_rows: along one axis of a view of up to four axes (the
 * hal moves it last), each row of |len| elements is reduced (sum, max,
 * mean: one output element) or normalised (softmax, log-softmax, rmsnorm,
 * layernorm: |len| outputs, with optional weight w and bias b along the
 * axis). The grid is the rows; a call gets a run of whole rows. Sums are
 * kept in double; layernorm takes its variance in a second pass around the
 * mean. A row of no elements: sum 0, max -inf, mean NaN, nothing written by
 * the normalisations. */
#include "kernels/common/tensor_codes.h"
#include "kernels/common/tensor_host.h"

typedef struct row_view {
    const void *x;
    void *y;
    const void *w, *b;
    uint32_t tx, ty, tw, tb;
    int64_t xi, yi;  /* element 0 of the row */
    int32_t xs, ys;  /* stride along the row */
    uint32_t woff, boff;
    int32_t ws, bs;
    uint32_t len;
    float eps;
    uint32_t flags;  /* bit 0: w given, bit 1: b given */
} row_view;

static float row_x(const row_view *v, uint32_t c)
{
    return th_load(v->x, v->tx, v->xi + (int64_t)c * v->xs);
}

static void row_put(const row_view *v, uint32_t c, float value)
{
    th_store(v->y, v->ty, v->yi + (int64_t)c * v->ys, value);
}

static float row_w(const row_view *v, uint32_t c)
{
    return v->flags & 1u ? th_load(v->w, v->tw, v->woff + (int64_t)c * v->ws) : 1.0f;
}

static float row_b(const row_view *v, uint32_t c)
{
    return v->flags & 2u ? th_load(v->b, v->tb, v->boff + (int64_t)c * v->bs) : 0.0f;
}

static float row_max(const row_view *v)
{
    float m = -INFINITY;
    for (uint32_t c = 0; c < v->len; c++) {
        const float e = row_x(v, c);
        m = e > m ? e : m;
    }
    return m;
}

static void row_softmax(const row_view *v, bool log_form)
{
    const float m = row_max(v);
    double s = 0;
    for (uint32_t c = 0; c < v->len; c++)
        s += expf(row_x(v, c) - m);
    const float sf = (float)s, ls = logf(sf);
    for (uint32_t c = 0; c < v->len; c++) {
        const float d = row_x(v, c) - m;
        row_put(v, c, log_form ? d - ls : expf(d) / sf);
    }
}

static void row_norm(const row_view *v, bool layer)
{
    float mean = 0.0f;
    if (layer) {
        double s = 0;
        for (uint32_t c = 0; c < v->len; c++)
            s += row_x(v, c);
        mean = (float)(s / v->len);
    }
    double q = 0;
    for (uint32_t c = 0; c < v->len; c++) {
        const double d = row_x(v, c) - mean;
        q += d * d;
    }
    const float inv = (float)(1.0 / sqrt(q / v->len + v->eps));
    for (uint32_t c = 0; c < v->len; c++)
        row_put(v, c, (row_x(v, c) - mean) * inv * row_w(v, c) + row_b(v, c));
}

static void row_reduce(const row_view *v, uint32_t op)
{
    if (op == TH_ROW_MAX) {
        row_put(v, 0, row_max(v));
        return;
    }
    double s = 0;
    for (uint32_t c = 0; c < v->len; c++)
        s += row_x(v, c);
    row_put(v, 0, op == TH_ROW_MEAN ? (float)(s / v->len) : (float)s);
}

AIDEV_HOST_KERNEL(tensor_rows)
{
    const uint32_t r1 = th_lo(args, 0), r2 = th_hi(args, 0);
    const int32_t xs[3] = {th_slo(args, 1), th_shi(args, 1), th_slo(args, 2)};
    const int32_t ys[3] = {th_slo(args, 3), th_shi(args, 3), th_slo(args, 4)};
    const uint32_t rows = AIDEV_HOST_SCALAR(args, 5, uint32_t);
    const uint32_t xoff = AIDEV_HOST_SCALAR(args, 7, uint32_t);
    const uint32_t yoff = AIDEV_HOST_SCALAR(args, 8, uint32_t);
    const uint32_t op = AIDEV_HOST_SCALAR(args, 9, uint32_t);
    const uint32_t types = AIDEV_HOST_SCALAR(args, 10, uint32_t);
    row_view v = {
        .x = args[17], .w = args[18], .b = args[19], .y = args[20],
        .tx = th_type(types, 0), .ty = th_type(types, 1), .tw = th_type(types, 2),
        .tb = th_type(types, 3),
        .xs = th_shi(args, 2), .ys = th_shi(args, 4),
        .len = AIDEV_HOST_SCALAR(args, 6, uint32_t),
        .woff = AIDEV_HOST_SCALAR(args, 11, uint32_t),
        .ws = AIDEV_HOST_SCALAR(args, 12, int32_t),
        .boff = AIDEV_HOST_SCALAR(args, 13, uint32_t),
        .bs = AIDEV_HOST_SCALAR(args, 14, int32_t),
        .eps = AIDEV_HOST_SCALAR(args, 15, float),
        .flags = AIDEV_HOST_SCALAR(args, 16, uint32_t),
    };
    const uint32_t end = aidev_host_end(range, 0, rows);
    for (uint32_t r = range->begin[0]; r < end; r++) {
        const uint32_t i2 = r % r2, i1 = r / r2 % r1, i0 = r / r2 / r1;
        v.xi = (int64_t)xoff + (int64_t)i0 * xs[0] + (int64_t)i1 * xs[1] + (int64_t)i2 * xs[2];
        v.yi = (int64_t)yoff + (int64_t)i0 * ys[0] + (int64_t)i1 * ys[1] + (int64_t)i2 * ys[2];
        if (op <= TH_ROW_MEAN)
            row_reduce(&v, op);
        else if (v.len == 0)
            continue;
        else if (op <= TH_ROW_LOG_SOFTMAX)
            row_softmax(&v, op == TH_ROW_LOG_SOFTMAX);
        else
            row_norm(&v, op == TH_ROW_LAYERNORM);
    }
}

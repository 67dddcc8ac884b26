/* Quantized matrices on every device: quantize in every format (I8 per row
 * and per group of 32, each symmetric and with zero points; ggml's Q8_0,
 * Q4_0 and Q4_1 blocks), dequantize, and the GEMM that dequantizes its
 * weights as it reads them, against references written here from the
 * definitions in aidev_tensor.h (ggml's reference quantizers for the
 * blocks).
 *
 * Codes must match the reference, except by one where the value before
 * rounding lies within 1e-4 of a rounding boundary (a device whose division
 * is not correctly rounded); scales within 3 ulp (f16 ones within one f16
 * ulp). Dequantize is exact. The GEMM holds to gemm's tolerance against the
 * dequantized weights, and quantize-then-dequantize stays within half a
 * step of x. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

typedef struct qcase {
    aidev_quant_format format;
    bool zero;
    uint32_t rows, cols;
} qcase;

static const qcase cases[] = {
    {AIDEV_QUANT_I8_ROW, false, 1, 1},      {AIDEV_QUANT_I8_ROW, false, 7, 300},
    {AIDEV_QUANT_I8_ROW, true, 5, 33},      {AIDEV_QUANT_I8_GROUP32, false, 3, 70},
    {AIDEV_QUANT_I8_GROUP32, true, 4, 96},  {AIDEV_QUANT_Q8_0, false, 6, 64},
    {AIDEV_QUANT_Q4_0, false, 5, 96},       {AIDEV_QUANT_Q4_1, false, 3, 32},
    {AIDEV_QUANT_Q8_0, false, 1, 256},      {AIDEV_QUANT_Q4_1, false, 9, 160},
};
#define CASE_COUNT (sizeof cases / sizeof cases[0])

static uint32_t block_bytes(aidev_quant_format f)
{
    return f == AIDEV_QUANT_Q8_0 ? 34 : f == AIDEV_QUANT_Q4_0 ? 18 : 20;
}

static bool is_block(aidev_quant_format f)
{
    return f >= AIDEV_QUANT_Q8_0;
}

/* f16 bits of a float, to nearest even; and back (tensor_check's own
 * conversions through tc_store_value). */
static uint16_t f16_of(float v)
{
    double r = tc_store_value(AIDEV_TYPE_F16, v); /* rounded; its bits built below */
    uint16_t sign = signbit(r) ? 0x8000 : 0;
    double a = fabs(r);
    if (isinf(a))
        return sign | 0x7c00;
    if (a < 0x1p-14)
        return sign | (uint16_t)(a * 0x1p24);
    int e;
    double f = frexp(a, &e);
    return sign | (uint16_t)((e + 14) << 10) | (uint16_t)((f * 2 - 1) * 1024);
}

static double f16_val(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* The reference of one matrix: codes (i8 values or block bytes), scales
 * and zero points, and per code the distance of its unrounded value from a
 * rounding boundary. */
typedef struct qref {
    uint8_t *bytes;  /* block formats: rows * row_bytes */
    int8_t *q;       /* I8 formats: rows * cols */
    float *scale;    /* I8: rows * groups */
    int8_t *zero;
    double *margin;  /* per code */
    uint32_t groups, row_bytes;
} qref;

static float round_away(float v)
{
    float t = truncf(v);
    return fabsf(v - t) >= 0.5f ? t + (v < 0 ? -1.0f : 1.0f) : t;
}

/* Distance of |v| from the nearest boundary of rint (half-integers). */
static double half_margin(double v)
{
    return fabs(fabs(v - floor(v)) - 0.5);
}

static void ref_i8(const qcase *qc, const double *x, qref *r)
{
    r->groups = qc->format == AIDEV_QUANT_I8_ROW ? 1 : (qc->cols + 31) / 32;
    uint32_t gsize = qc->format == AIDEV_QUANT_I8_ROW ? qc->cols : 32;
    for (uint32_t i = 0; i < qc->rows; i++)
        for (uint32_t g = 0; g < r->groups; g++) {
            uint32_t c0 = g * gsize, c1 = c0 + gsize < qc->cols ? c0 + gsize : qc->cols;
            float lo = 0, hi = 0, amax = 0;
            for (uint32_t c = c0; c < c1; c++) {
                float v = (float)x[i * qc->cols + c];
                lo = fminf(lo, v), hi = fmaxf(hi, v), amax = fmaxf(amax, fabsf(v));
            }
            float s = 0, inv = 0, z = 0;
            if (qc->zero && hi - lo >= 1e-30f) {
                s = (hi - lo) / 255.0f, inv = 255.0f / (hi - lo);
                z = fminf(fmaxf(rintf(-128.0f - lo * inv), -128), 127);
            } else if (!qc->zero && amax >= 1e-30f) {
                s = amax / 127.0f, inv = 127.0f / amax;
            }
            r->scale[i * r->groups + g] = s;
            r->zero[i * r->groups + g] = (int8_t)z;
            for (uint32_t c = c0; c < c1; c++) {
                float v = (float)x[i * qc->cols + c] * inv;
                r->q[i * qc->cols + c] =
                    (int8_t)fminf(fmaxf(rintf(v) + z, qc->zero ? -128.0f : -127.0f), 127.0f);
                r->margin[i * qc->cols + c] = half_margin(v);
            }
        }
}

/* ggml's quantize_row_q8_0_ref, _q4_0_ref and _q4_1_ref, one block. */
static void ref_block(aidev_quant_format f, const double *xd, uint8_t *blk, double *margin)
{
    float x[32], amax = 0, max = 0, lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < 32; i++) {
        x[i] = (float)xd[i];
        if (fabsf(x[i]) > amax)
            amax = fabsf(x[i]), max = x[i];
        lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    }
    if (f == AIDEV_QUANT_Q8_0) {
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        uint16_t h = f16_of(d);
        blk[0] = h & 0xff, blk[1] = h >> 8;
        for (int i = 0; i < 32; i++) {
            blk[2 + i] = (uint8_t)(int8_t)round_away(x[i] * id);
            margin[i] = half_margin(fabs((double)(x[i] * id)));
        }
        return;
    }
    bool q40 = f == AIDEV_QUANT_Q4_0;
    float d = q40 ? max / -8.0f : (hi - lo) / 15.0f, id = d ? 1.0f / d : 0.0f;
    uint16_t h = f16_of(d);
    blk[0] = h & 0xff, blk[1] = h >> 8;
    if (!q40) {
        uint16_t m = f16_of(lo);
        blk[2] = m & 0xff, blk[3] = m >> 8;
    }
    uint8_t *qs = blk + (q40 ? 2 : 4);
    for (int i = 0; i < 16; i++) {
        float v0 = q40 ? x[i] * id + 8.5f : (x[i] - lo) * id + 0.5f;
        float v1 = q40 ? x[16 + i] * id + 8.5f : (x[16 + i] - lo) * id + 0.5f;
        uint8_t q0 = (uint8_t)fminf(truncf(v0), 15), q1 = (uint8_t)fminf(truncf(v1), 15);
        qs[i] = q0 | (uint8_t)(q1 << 4);
        /* trunc's boundaries are the integers. */
        margin[i] = fabs(v0 - rint(v0));
        margin[16 + i] = fabs(v1 - rint(v1));
    }
}

/* The value of element (i, c) of a block-format matrix from its bytes. */
static double block_value(aidev_quant_format f, const uint8_t *row, uint32_t c)
{
    const uint8_t *blk = row + (c / 32) * block_bytes(f);
    uint32_t j = c % 32;
    double d = f16_val((uint16_t)(blk[0] | blk[1] << 8));
    if (f == AIDEV_QUANT_Q8_0)
        return d * (int8_t)blk[2 + j];
    const uint8_t *qs = blk + (f == AIDEV_QUANT_Q4_0 ? 2 : 4);
    int q = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
    if (f == AIDEV_QUANT_Q4_0)
        return (float)(d * (q - 8));
    return (float)((float)(d * q) + (float)f16_val((uint16_t)(blk[2] | blk[3] << 8)));
}

/* A device matrix of case |qc| (outputs of quantize) and its descriptor. */
typedef struct qdev {
    tc_tensor q, scale, zero;
    aidev_qtensor desc;
} qdev;

static void qdev_make(const kc_device *d, const qcase *qc, tc_layout layout, aidev_type stype,
                      qdev *m)
{
    memset(m, 0, sizeof *m);
    m->desc.format = qc->format;
    if (is_block(qc->format)) {
        const int64_t shape[2] = {qc->rows, qc->cols / 32 * block_bytes(qc->format)};
        /* Rows apart by more than their bytes: a padded view. */
        tc_make(&m->q, d, AIDEV_TYPE_U8, 2, shape, layout == TC_PADDED ? TC_PADDED : TC_COMPACT,
                0, 255, 5);
        m->desc.q = m->q.desc;
        return;
    }
    const int64_t shape[2] = {qc->rows, qc->cols};
    tc_make(&m->q, d, AIDEV_TYPE_I8, 2, shape, layout, -100, 100, 5);
    const uint32_t groups = qc->format == AIDEV_QUANT_I8_ROW ? 1 : (qc->cols + 31) / 32;
    const int64_t sshape[2] = {qc->rows, groups};
    uint32_t srank = qc->format == AIDEV_QUANT_I8_ROW ? 1 : 2;
    tc_make(&m->scale, d, stype, srank, sshape, layout == TC_TRANSPOSED ? TC_TRANSPOSED : TC_STEP2,
            -1, 1, 6);
    m->desc.q = m->q.desc;
    m->desc.scale = m->scale.desc;
    if (qc->zero) {
        tc_make(&m->zero, d, AIDEV_TYPE_I8, srank, sshape, TC_COMPACT, -9, 9, 7);
        m->desc.zero = m->zero.desc;
    }
}

static void qdev_free(qdev *m)
{
    tc_free(&m->q);
    if (m->scale.buf)
        tc_free(&m->scale);
    if (m->zero.buf)
        tc_free(&m->zero);
}

/* Reads the device matrix back and holds it to the reference. */
static void check_codes(const kc_device *d, const qcase *qc, qdev *m, const qref *r,
                        const char *what)
{
    kc_read(d, m->q.buf, AIDEV_TYPE_U8, m->q.elems, m->q.host);
    size_t bad = 0;
    char first[200] = "";
    if (is_block(qc->format)) {
        const uint32_t bb = block_bytes(qc->format), nblk = qc->cols / 32;
        for (uint32_t i = 0; i < qc->rows; i++)
            for (uint32_t b = 0; b < nblk; b++) {
                const uint8_t *want = r->bytes + (size_t)i * r->row_bytes + b * bb;
                uint8_t got[34];
                for (uint32_t k = 0; k < bb; k++)
                    got[k] = (uint8_t)tc_at(&m->q, (size_t)i * r->row_bytes + b * bb + k);
                /* d (and m): within one f16 ulp; codes: equal, or one off near a boundary. */
                double dw = f16_val((uint16_t)(want[0] | want[1] << 8));
                double dg = f16_val((uint16_t)(got[0] | got[1] << 8));
                bool ok = fabs(dw - dg) <= ldexp(fabs(dw), -10);
                for (uint32_t c = 0; c < 32 && ok; c++) {
                    double vw = block_value(qc->format, want, c);
                    double vg = block_value(qc->format, got, c);
                    double step = fabs(dw) * (1 + 1e-3);
                    ok = vw == vg || (r->margin[(size_t)i * qc->cols + b * 32 + c] < 1e-4 &&
                                      fabs(vw - vg) <= step + fabs(dw - dg) * 16);
                }
                if (!ok && bad++ == 0)
                    snprintf(first, sizeof first, "row %u block %u: d %.9g against %.9g", i, b,
                             dg, dw);
            }
    } else {
        kc_read(d, m->scale.buf, AIDEV_TYPE_U8, m->scale.elems * aidev_type_size(m->scale.dtype),
                m->scale.host);
        if (qc->zero)
            kc_read(d, m->zero.buf, AIDEV_TYPE_U8, m->zero.elems, m->zero.host);
        for (uint32_t i = 0; i < qc->rows; i++) {
            for (uint32_t g = 0; g < r->groups; g++) {
                double sw = tc_store_value(m->scale.dtype, r->scale[i * r->groups + g]);
                double sg = tc_at(&m->scale, i * r->groups + g);
                double ulp = m->scale.dtype == AIDEV_TYPE_F32 ? 3 * 0x1p-23 : 0x1p-10;
                bool ok = fabs(sw - sg) <= ulp * fabs(sw);
                if (qc->zero)
                    ok = ok && abs((int)tc_at(&m->zero, i * r->groups + g) -
                                   r->zero[i * r->groups + g]) <= 1;
                if (!ok && bad++ == 0)
                    snprintf(first, sizeof first, "row %u group %u: scale %.9g against %.9g", i,
                             g, sg, sw);
            }
            for (uint32_t c = 0; c < qc->cols; c++) {
                size_t f = (size_t)i * qc->cols + c;
                int got = (int)tc_at(&m->q, f), want = r->q[f];
                if (got != want && !(r->margin[f] < 1e-4 && abs(got - want) <= 1) && bad++ == 0)
                    snprintf(first, sizeof first, "code (%u, %u): %d against %d", i, c, got,
                             want);
            }
        }
    }
    ck_assert_msg(bad == 0, "quantize (%s) on %s: %zu mismatches; first %s", what, d->label, bad,
                  first);
}

static void run_case(const kc_device *d, const qcase *qc, size_t n)
{
    static const aidev_type xtypes[] = {AIDEV_TYPE_F32, AIDEV_TYPE_F16, AIDEV_TYPE_BF16};
    static const aidev_type stypes[] = {AIDEV_TYPE_F32, AIDEV_TYPE_F32, AIDEV_TYPE_F16};
    const int64_t xshape[2] = {qc->rows, qc->cols};
    const tc_layout layout = (tc_layout)(n % TC_LAYOUT_COUNT_);
    tc_tensor x;
    tc_make(&x, d, xtypes[n % 3], 2, xshape, layout, -3, 2, 100 + n);
    qdev m;
    qdev_make(d, qc, (tc_layout)((n + 1) % TC_LAYOUT_COUNT_), stypes[n % 3], &m);
    const size_t count = (size_t)qc->rows * qc->cols;
    double *xv = kc_alloc(count * sizeof(double));
    for (size_t i = 0; i < count; i++)
        xv[i] = tc_at(&x, i);
    qref r = {0};
    r.margin = kc_alloc(count * sizeof(double));
    if (is_block(qc->format)) {
        r.row_bytes = qc->cols / 32 * block_bytes(qc->format);
        r.bytes = kc_alloc((size_t)qc->rows * r.row_bytes);
        for (uint32_t i = 0; i < qc->rows; i++)
            for (uint32_t b = 0; b < qc->cols / 32; b++)
                ref_block(qc->format, xv + (size_t)i * qc->cols + b * 32,
                          r.bytes + (size_t)i * r.row_bytes + b * block_bytes(qc->format),
                          r.margin + (size_t)i * qc->cols + b * 32);
    } else {
        r.q = kc_alloc(count);
        r.scale = kc_alloc((size_t)qc->rows * ((qc->cols + 31) / 32 + 1) * sizeof(float));
        r.zero = kc_alloc((size_t)qc->rows * ((qc->cols + 31) / 32 + 1));
        ref_i8(qc, xv, &r);
    }
    char what[160];
    snprintf(what, sizeof what, "format %d%s, %u x %u, x %s %s", (int)qc->format,
             qc->zero ? " with zero points" : "", qc->rows, qc->cols,
             aidev_type_name(x.dtype), tc_layout_name(layout));
    aidev_event ev;
    aidev_status st = aidev_enqueue_quantize(d->queue, &x.desc, &m.desc, 0, NULL, &ev);
    ck_assert_msg(st == AIDEV_SUCCESS, "quantize (%s) on %s: %s", what, d->label,
                  aidev_last_error());
    tc_wait(d, ev, "quantize");
    check_codes(d, qc, &m, &r, what);

    /* Dequantize what the device made: exact against those codes, and
     * within half a step (plus the scale's rounding) of x. */
    tc_tensor y;
    tc_make(&y, d, AIDEV_TYPE_F32, 2, xshape, (tc_layout)((n + 2) % TC_LAYOUT_COUNT_), 0, 1, 9);
    double *ref = kc_alloc(count * sizeof(double));
    for (uint32_t i = 0; i < qc->rows; i++)
        for (uint32_t c = 0; c < qc->cols; c++) {
            double v;
            if (is_block(qc->format)) {
                uint8_t row[2048];
                for (uint32_t k = 0; k < r.row_bytes; k++)
                    row[k] = (uint8_t)tc_at(&m.q, (size_t)i * r.row_bytes + k);
                v = block_value(qc->format, row, c);
            } else {
                uint32_t g = qc->format == AIDEV_QUANT_I8_ROW ? 0 : c / 32;
                double z = qc->zero ? tc_at(&m.zero, i * r.groups + g) : 0;
                v = (float)((float)(tc_at(&m.q, (size_t)i * qc->cols + c) - z) *
                            (float)tc_at(&m.scale, i * r.groups + g));
            }
            ref[(size_t)i * qc->cols + c] = v;
        }
    ck_assert_ok(aidev_enqueue_dequantize(d->queue, &m.desc, &y.desc, 0, NULL, &ev));
    tc_wait(d, ev, "dequantize");
    tc_check(d, &y, "dequantize.dequantize", what, ref, NULL);
    for (size_t i = 0; i < count; i++) {
        /* Half a step of the largest format step: |x| range / 15 (4 bits). */
        double bound = qc->format >= AIDEV_QUANT_Q4_0 ? 5.0 / 15 : 5.0 / 127;
        ck_assert_msg(fabs(ref[i] - xv[i]) <= bound,
                      "round trip (%s) on %s: element %zu is %.9g for %.9g", what, d->label, i,
                      ref[i], xv[i]);
    }
    free(ref);
    tc_free(&y);
    free(xv), free(r.margin), free(r.bytes), free(r.q), free(r.scale), free(r.zero);
    qdev_free(&m);
    tc_free(&x);
}

START_TEST(test_quantize_dequantize)
{
    kc_device d = kc_open(_i);
    for (size_t n = 0; n < CASE_COUNT; n++)
        run_case(&d, &cases[n], n);
    kc_close(&d);
}
END_TEST

/* y = act(alpha x W^T + beta y + bias) with W quantized on the device,
 * against the dequantized W (read back) in double. */
static void run_qgemm(const kc_device *d, const qcase *qc, int64_t m, aidev_type tx,
                      bool batched, aidev_activation act, size_t n)
{
    const int64_t wshape[2] = {qc->rows, qc->cols};
    tc_tensor w, x, y, bias, wd;
    tc_make(&w, d, AIDEV_TYPE_F32, 2, wshape, TC_COMPACT, -1, 1, 200 + n);
    qdev q;
    qdev_make(d, qc, TC_PADDED, AIDEV_TYPE_F32, &q);
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_quantize(d->queue, &w.desc, &q.desc, 0, NULL, &ev));
    tc_wait(d, ev, "quantize");
    tc_make(&wd, d, AIDEV_TYPE_F32, 2, wshape, TC_COMPACT, 0, 1, 1);
    ck_assert_ok(aidev_enqueue_dequantize(d->queue, &q.desc, &wd.desc, 0, NULL, &ev));
    tc_wait(d, ev, "dequantize");
    kc_read(d, wd.buf, AIDEV_TYPE_F32, wd.elems, wd.host);
    const int64_t xshape[3] = {2, m, qc->cols}, yshape[3] = {2, m, qc->rows};
    const int64_t nb = qc->rows;
    tc_make(&x, d, tx, batched ? 3 : 2, batched ? xshape : xshape + 1,
            (tc_layout)(n % TC_LAYOUT_COUNT_), -1, 1, 300 + n);
    tc_make(&y, d, AIDEV_TYPE_F32, batched ? 3 : 2, batched ? yshape : yshape + 1, TC_COMPACT,
            -1, 1, 400 + n);
    tc_make(&bias, d, AIDEV_TYPE_F16, 1, &nb, TC_STEP2, -1, 1, 500 + n);
    const float alpha = 0.5f, beta = n % 2 ? 1.0f : 0.0f;
    const size_t ny = tc_count(&y);
    double *ref = kc_alloc(ny * sizeof(double)), *mag = kc_alloc(ny * sizeof(double));
    const int64_t batches = batched ? 2 : 1;
    for (int64_t z = 0; z < batches; z++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nb; j++) {
                double acc = 0, am = 0;
                for (uint32_t p = 0; p < qc->cols; p++) {
                    double v = tc_at(&x, (size_t)((z * m + i) * qc->cols + p)) *
                               tc_at(&wd, (size_t)(j * qc->cols + p));
                    acc += v, am += fabs(v);
                }
                size_t f = (size_t)((z * m + i) * nb + j);
                double v = alpha * acc + beta * tc_at(&y, f) + tc_at(&bias, (size_t)j);
                double vm = fabs(alpha) * am + fabs(beta * tc_at(&y, f)) + fabs(tc_at(&bias, (size_t)j));
                double yv = v;
                if (act == AIDEV_ACT_SILU)
                    yv = v / (1 + exp(-v));
                ref[f] = yv;
                mag[f] = act == AIDEV_ACT_NONE ? vm : 1.2 * vm + fabs(yv) * (1 + v * v);
            }
    aidev_gemm_params p = {.alpha = alpha, .beta = beta, .activation = act};
    ck_assert_ok(aidev_enqueue_qgemm(d->queue, &p, &x.desc, &q.desc, &bias.desc, &y.desc, 0, NULL,
                                     &ev));
    tc_wait(d, ev, "qgemm");
    char what[120];
    snprintf(what, sizeof what, "qgemm format %d, m %lld, %u x %u, x %s%s", (int)qc->format,
             (long long)m, qc->rows, qc->cols, aidev_type_name(tx), batched ? ", batched" : "");
    tc_check(d, &y, "qgemm.qgemm", what, ref, mag);
    free(ref), free(mag);
    tc_free(&w), tc_free(&x), tc_free(&y), tc_free(&bias), tc_free(&wd);
    qdev_free(&q);
}

START_TEST(test_qgemm)
{
    kc_device d = kc_open(_i);
    for (size_t n = 0; n < CASE_COUNT; n++)
        run_qgemm(&d, &cases[n], n % 3 == 0 ? 1 : 5 + (int64_t)n, n % 2 ? AIDEV_TYPE_F16 : AIDEV_TYPE_F32,
                  n % 4 == 1, n % 3 == 1 ? AIDEV_ACT_SILU : AIDEV_ACT_NONE, n);
    /* A large one: a linear layer of 768 -> 1024 in Q8_0, 33 tokens. */
    const qcase large = {AIDEV_QUANT_Q8_0, false, 1024, 768};
    if (kc_large_cases())
        run_qgemm(&d, &large, 33, AIDEV_TYPE_F32, false, AIDEV_ACT_NONE, 99);
    kc_close(&d);
}
END_TEST

START_TEST(test_refusals)
{
    kc_device d = kc_open(_i);
    const int64_t xs[2] = {4, 40};
    tc_tensor x;
    tc_make(&x, &d, AIDEV_TYPE_F32, 2, xs, TC_COMPACT, -1, 1, 1);
    qdev m;
    const qcase q8 = {AIDEV_QUANT_Q8_0, false, 4, 64};
    qdev_make(&d, &q8, TC_COMPACT, AIDEV_TYPE_F32, &m);
    ck_assert_error_names(aidev_enqueue_quantize(d.queue, &x.desc, &m.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "the Q8_0 matrix is 4 x 64");
    m.desc.q.shape[1] = 35;
    ck_assert_error_names(aidev_enqueue_dequantize(d.queue, &m.desc, &x.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "blocks of 34 bytes");
    m.desc.format = (aidev_quant_format)9;
    ck_assert_error_names(aidev_enqueue_dequantize(d.queue, &m.desc, &x.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "w->format: 9");
    qdev_free(&m);
    const qcase g = {AIDEV_QUANT_I8_GROUP32, false, 4, 40};
    qdev_make(&d, &g, TC_COMPACT, AIDEV_TYPE_F32, &m);
    m.desc.scale.shape[1] = 1;
    ck_assert_error_names(aidev_enqueue_quantize(d.queue, &x.desc, &m.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "must have shape [4, 2], not [4, 1]");
    m.desc.scale = m.scale.desc;
    aidev_gemm_params p = {.alpha = 1, .trans_b = 1};
    ck_assert_error_names(aidev_enqueue_qgemm(d.queue, &p, &x.desc, &m.desc, NULL, &x.desc, 0,
                                              NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "trans_b must be 0");
    qdev_free(&m);
    tc_free(&x);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-tensor-quant");
    harness_add_per_device(s, "quantize_dequantize", test_quantize_dequantize, 0);
    harness_add_per_device(s, "qgemm", test_qgemm, 0);
    harness_add_per_device(s, "refusals", test_refusals, 0);
    return harness_run(s);
}

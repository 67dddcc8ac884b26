/* Convolution and pooling on every device, against references in double:
 * aidev_enqueue_conv2d (1 x 1 kernels, primes, stride, padding, dilation,
 * a bias and each activation, strided views, f32 and type mixes, one
 * ResNet-sized layer) and aidev_enqueue_pool2d (max and average, padding,
 * strides, a NaN in a max window); then the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

typedef struct conv_case {
    int64_t n, c, h, w, co, kh, kw;
    uint32_t sh, sw, ph, pw, dh, dw;
    aidev_activation act;
    bool bias;
} conv_case;

static const conv_case conv_cases[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, AIDEV_ACT_NONE, false},
    {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, AIDEV_ACT_RELU, true},
    {1, 5, 13, 11, 3, 5, 3, 2, 3, 2, 0, 1, 1, AIDEV_ACT_GELU_TANH, true},
    {3, 2, 9, 10, 2, 3, 2, 1, 2, 0, 1, 2, 3, AIDEV_ACT_SILU, false},
    {1, 4, 6, 6, 7, 1, 1, 1, 1, 0, 0, 1, 1, AIDEV_ACT_GELU_ERF, true},
    {2, 1, 17, 3, 1, 4, 3, 3, 1, 2, 2, 1, 1, AIDEV_ACT_NONE, true},
};
#define CONV_CASE_COUNT (sizeof conv_cases / sizeof conv_cases[0])

static int64_t out_len(int64_t in, int64_t k, uint32_t s, uint32_t p, uint32_t d)
{
    return (in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1) / s + 1;
}

static double act_of(aidev_activation act, double v)
{
    switch (act) {
    case AIDEV_ACT_RELU: return v > 0 ? v : 0;
    case AIDEV_ACT_GELU_TANH: return v / (1 + exp(-2 * sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case AIDEV_ACT_GELU_ERF: return 0.5 * v * erfc(-v / sqrt(2.0));
    case AIDEV_ACT_SILU: return v / (1 + exp(-v));
    default: return v;
    }
}

static void run_conv(const kc_device *d, const conv_case *c, size_t n, const aidev_type t[4])
{
    const int64_t oh = out_len(c->h, c->kh, c->sh, c->ph, c->dh);
    const int64_t ow = out_len(c->w, c->kw, c->sw, c->pw, c->dw);
    const int64_t xs[4] = {c->n, c->c, c->h, c->w}, ws[4] = {c->co, c->c, c->kh, c->kw};
    const int64_t ys[4] = {c->n, c->co, oh, ow};
    tc_tensor x, w, y, b = {0};
    tc_make(&x, d, t[0], 4, xs, (tc_layout)(n % TC_LAYOUT_COUNT_), -1, 1, 1000 + n);
    tc_make(&w, d, t[1], 4, ws, (tc_layout)((n + 1) % TC_LAYOUT_COUNT_), -1, 1, 1010 + n);
    tc_make(&y, d, t[2], 4, ys, (tc_layout)((n + 2) % TC_LAYOUT_COUNT_), 0, 1, 1020 + n);
    if (c->bias)
        tc_make(&b, d, t[3], 1, &c->co, TC_STEP2, -1, 1, 1030 + n);
    const size_t count = tc_count(&y);
    double *ref = kc_alloc(count * sizeof(double)), *mag = kc_alloc(count * sizeof(double));
    for (size_t f = 0; f < count; f++) {
        const int64_t j = (int64_t)(f % (size_t)ow), i = (int64_t)(f / (size_t)ow % (size_t)oh);
        const int64_t co = (int64_t)(f / (size_t)(ow * oh) % (size_t)c->co);
        const int64_t bn = (int64_t)(f / (size_t)(ow * oh * c->co));
        double acc = 0, am = 0;
        for (int64_t ci = 0; ci < c->c; ci++)
            for (int64_t kh = 0; kh < c->kh; kh++)
                for (int64_t kw = 0; kw < c->kw; kw++) {
                    const int64_t ih = i * c->sh - c->ph + kh * c->dh;
                    const int64_t iw = j * c->sw - c->pw + kw * c->dw;
                    if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                        continue;
                    const int64_t xi[4] = {bn, ci, ih, iw}, wi[4] = {co, ci, kh, kw};
                    const double v = tc_at_index(&x, xi) * tc_at_index(&w, wi);
                    acc += v, am += fabs(v);
                }
        const double bv = c->bias ? tc_at(&b, (size_t)co) : 0;
        const double v = acc + bv, yv = act_of(c->act, v);
        ref[f] = yv;
        mag[f] = c->act == AIDEV_ACT_NONE ? am + fabs(bv)
                                           : 1.2 * (am + fabs(bv)) + fabs(yv) * (1 + v * v);
    }
    const aidev_conv2d_params p = {{c->sh, c->sw}, {c->ph, c->pw}, {c->dh, c->dw}, c->act};
    aidev_event ev;
    ck_assert_msg(aidev_enqueue_conv2d(d->queue, &p, &x.desc, &w.desc, c->bias ? &b.desc : NULL,
                                       &y.desc, 0, NULL, &ev) == AIDEV_SUCCESS,
                  "conv2d case %zu on %s: %s", n, d->label, aidev_last_error());
    tc_wait(d, ev, "conv2d");
    char what[160];
    snprintf(what, sizeof what,
             "case %zu: x [%lld, %lld, %lld, %lld], w %lld x %lld x %lld, stride %u %u, pad %u "
             "%u, dilation %u %u, x %s w %s",
             n, (long long)c->n, (long long)c->c, (long long)c->h, (long long)c->w,
             (long long)c->co, (long long)c->kh, (long long)c->kw, c->sh, c->sw, c->ph, c->pw,
             c->dh, c->dw, aidev_type_name(t[0]), aidev_type_name(t[1]));
    tc_check(d, &y, "conv2d.conv2d", what, ref, mag);
    free(ref), free(mag);
    tc_free(&x), tc_free(&w), tc_free(&y);
    if (b.buf)
        tc_free(&b);
}

START_TEST(test_conv2d)
{
    static const aidev_type f32[4] = {AIDEV_TYPE_F32, AIDEV_TYPE_F32, AIDEV_TYPE_F32,
                                      AIDEV_TYPE_F32};
    static const aidev_type mix[4] = {AIDEV_TYPE_F16, AIDEV_TYPE_BF16, AIDEV_TYPE_F32,
                                      AIDEV_TYPE_F16};
    kc_device d = kc_open(_i);
    for (size_t n = 0; n < CONV_CASE_COUNT; n++) {
        run_conv(&d, &conv_cases[n], n, f32);
        run_conv(&d, &conv_cases[n], n + 1, mix);
    }
    /* A large one: a ResNet layer's shape, 3 x 3 over 32 channels. */
    const conv_case large = {1, 32, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, AIDEV_ACT_RELU, true};
    if (kc_large_cases())
        run_conv(&d, &large, 0, f32);
    kc_close(&d);
}
END_TEST

typedef struct pool_case {
    int64_t n, c, h, w;
    uint32_t kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case pool_cases[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0},   {2, 3, 8, 8, 2, 2, 2, 2, 0, 0},
    {1, 2, 7, 9, 3, 3, 2, 2, 1, 1},   {3, 1, 5, 13, 3, 2, 1, 3, 2, 1},
    {1, 4, 11, 11, 11, 11, 1, 1, 0, 0},
};
#define POOL_CASE_COUNT (sizeof pool_cases / sizeof pool_cases[0])

static void run_pool(const kc_device *d, const pool_case *c, aidev_pool_kind kind, size_t n)
{
    static const aidev_type types[] = {AIDEV_TYPE_F32, AIDEV_TYPE_F16, AIDEV_TYPE_BF16};
    const int64_t oh = out_len(c->h, c->kh, c->sh, c->ph, 1);
    const int64_t ow = out_len(c->w, c->kw, c->sw, c->pw, 1);
    const int64_t xs[4] = {c->n, c->c, c->h, c->w}, ys[4] = {c->n, c->c, oh, ow};
    tc_tensor x, y;
    tc_make(&x, d, types[n % 3], 4, xs, (tc_layout)(n % TC_LAYOUT_COUNT_), -4, 4, 1100 + n);
    if (kind == AIDEV_POOL_MAX && tc_count(&x) > 20) {
        tc_set(&x, 17, NAN);
        tc_upload(d, &x);
    }
    tc_make(&y, d, types[(n + 1) % 3], 4, ys, (tc_layout)((n + 3) % TC_LAYOUT_COUNT_), 0, 1,
            1110 + n);
    const size_t count = tc_count(&y);
    double *ref = kc_alloc(count * sizeof(double)), *mag = kc_alloc(count * sizeof(double));
    for (size_t f = 0; f < count; f++) {
        const int64_t j = (int64_t)(f % (size_t)ow), i = (int64_t)(f / (size_t)ow % (size_t)oh);
        const int64_t ch = (int64_t)(f / (size_t)(ow * oh) % (size_t)c->c);
        const int64_t bn = (int64_t)(f / (size_t)(ow * oh * c->c));
        double acc = kind == AIDEV_POOL_MAX ? -INFINITY : 0, am = 0;
        int cnt = 0;
        for (int64_t kh = 0; kh < c->kh; kh++)
            for (int64_t kw = 0; kw < c->kw; kw++) {
                const int64_t ih = i * c->sh - c->ph + kh, iw = j * c->sw - c->pw + kw;
                if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                    continue;
                const int64_t xi[4] = {bn, ch, ih, iw};
                const double v = tc_at_index(&x, xi);
                if (kind == AIDEV_POOL_AVG)
                    acc += v;
                else if (isnan(v) || (!isnan(acc) && v > acc))
                    acc = v; /* a NaN in the window wins */
                am += fabs(v);
                cnt++;
            }
        ref[f] = kind == AIDEV_POOL_MAX ? acc : acc / cnt;
        mag[f] = am;
    }
    const aidev_pool2d_params p = {kind, {c->kh, c->kw}, {c->sh, c->sw}, {c->ph, c->pw}};
    aidev_event ev;
    ck_assert_msg(aidev_enqueue_pool2d(d->queue, &p, &x.desc, &y.desc, 0, NULL, &ev) ==
                      AIDEV_SUCCESS,
                  "pool2d case %zu on %s: %s", n, d->label, aidev_last_error());
    tc_wait(d, ev, "pool2d");
    char what[128];
    snprintf(what, sizeof what, "case %zu: x [%lld, %lld, %lld, %lld] %s, window %u x %u, "
             "stride %u %u, pad %u %u", n, (long long)c->n, (long long)c->c, (long long)c->h,
             (long long)c->w, aidev_type_name(x.dtype), c->kh, c->kw, c->sh, c->sw, c->ph, c->pw);
    tc_check(d, &y, kind == AIDEV_POOL_MAX ? "pool2d.max" : "pool2d.avg", what, ref, mag);
    free(ref), free(mag);
    tc_free(&x), tc_free(&y);
}

START_TEST(test_pool2d)
{
    kc_device d = kc_open(_i);
    for (size_t n = 0; n < POOL_CASE_COUNT; n++) {
        run_pool(&d, &pool_cases[n], AIDEV_POOL_MAX, n);
        run_pool(&d, &pool_cases[n], AIDEV_POOL_AVG, n + 1);
    }
    kc_close(&d);
}
END_TEST

START_TEST(test_refusals)
{
    kc_device d = kc_open(_i);
    const int64_t xs[4] = {1, 3, 5, 5}, ws[4] = {2, 4, 3, 3}, ys[4] = {1, 2, 3, 3};
    tc_tensor x, w, y;
    tc_make(&x, &d, AIDEV_TYPE_F32, 4, xs, TC_COMPACT, -1, 1, 1);
    tc_make(&w, &d, AIDEV_TYPE_F32, 4, ws, TC_COMPACT, -1, 1, 2);
    tc_make(&y, &d, AIDEV_TYPE_F32, 4, ys, TC_COMPACT, -1, 1, 3);
    ck_assert_error_names(aidev_enqueue_conv2d(d.queue, NULL, &x.desc, &w.desc, NULL, &y.desc, 0,
                                               NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "has 3 channels");
    aidev_tensor w3 = w.desc;
    w3.shape[1] = 3;
    ck_assert_error_names(aidev_enqueue_conv2d(d.queue, NULL, &x.desc, &w3, NULL, &x.desc, 0,
                                               NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "the result is [1, 2, 3, 3]");
    aidev_conv2d_params p = {{1, 1}, {0, 0}, {3, 1}, AIDEV_ACT_NONE};
    ck_assert_error_names(aidev_enqueue_conv2d(d.queue, &p, &x.desc, &w3, NULL, &y.desc, 0, NULL,
                                               NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "a window spanning 7");
    aidev_pool2d_params pp = {AIDEV_POOL_MAX, {2, 2}, {1, 1}, {2, 0}};
    ck_assert_error_names(aidev_enqueue_pool2d(d.queue, &pp, &x.desc, &y.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "padding below the window");
    pp.kind = (aidev_pool_kind)7;
    ck_assert_error_names(aidev_enqueue_pool2d(d.queue, &pp, &x.desc, &y.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "kind 7");
    tc_free(&x), tc_free(&w), tc_free(&y);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-tensor-conv");
    harness_add_per_device(s, "conv2d", test_conv2d, 0);
    harness_add_per_device(s, "pool2d", test_pool2d, 0);
    harness_add_per_device(s, "refusals", test_refusals, 0);
    return harness_run(s);
}

/* The int8 path of edge inference on every device, against
 * tests/kernels/reference.c: quantize_i8 (per-row symmetric), dequantize_i8
 * and matmul_i8 (int8 x int8 summed in int32, rescaled to f32). All three
 * are exact. quantize_i8 divides twice per row; on a device whose division
 * is not correctly rounded (GPUs may be 2.5 ulp off) the scale may differ by
 * a few ulp and q by one where x * 127 / amax lies within 1e-4 of a rounding
 * tie, and nowhere else; the CPU device must match bit for bit.
 * The GLSL forms need 8-bit storage buffers: a device without them reports
 * AIDEV_ERROR_UNSUPPORTED for these kernels, and the case says so and
 * passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "reference.h"

typedef struct shape {
    uint32_t rows, cols;
} shape;

static const shape shapes[] = {{1, 1}, {1, 7}, {13, 1000}, {4099, 7}, {1024, 4099}};

static bool strict_device(const kc_device *d)
{
    return strcmp(harness_device_backend(d->index), "cpu") == 0;
}

static void run_quantize(const kc_device *d, aidev_kernel k, uint32_t rows, uint32_t cols)
{
    const size_t n = (size_t)rows * cols;
    float *x = kc_alloc(n * sizeof(float));
    int8_t *q_ref = kc_alloc(n), *q = kc_alloc(n);
    float *s_ref = kc_alloc((size_t)rows * sizeof(float));
    float *s = kc_alloc((size_t)rows * sizeof(float));
    double *ties = kc_alloc(n * sizeof(double));
    kc_fill_f32(x, n, -3, 3, 600 + n);
    /* A zero row and a row too small to scale (both quantize to zeros), and
     * a row holding an exact tie (0.5 * amax / 127 steps). */
    if (rows >= 3 && cols >= 2) {
        memset(x, 0, cols * sizeof(float));
        for (uint32_t c = 0; c < cols; c++)
            x[cols + c] = (c % 2 ? 1e-31f : -1e-32f);
        x[2 * cols] = 127.0f;
        x[2 * cols + 1] = 2.5f;
    }
    ref_quantize_i8(rows, cols, x, q_ref, s_ref, ties);

    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, n, x);
    aidev_buffer bq = kc_buffer(d, AIDEV_TYPE_I8, n, NULL);
    aidev_buffer bs = kc_buffer(d, AIDEV_TYPE_F32, rows, NULL);
    aidev_arg args[] = {aidev_arg_u32(rows), aidev_arg_u32(cols), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(bq, 0), aidev_arg_buffer(bs, 0)};
    kc_dispatch(d, k, 5, args);
    kc_read(d, bq, AIDEV_TYPE_I8, n, q);
    kc_read(d, bs, AIDEV_TYPE_F32, rows, s);

    const bool strict = strict_device(d);
    size_t near_tie = 0;
    for (uint32_t r = 0; r < rows; r++) {
        const double ulp = (double)nextafterf(s_ref[r], INFINITY) - s_ref[r];
        bool ok = s[r] == s_ref[r] || (!strict && fabs((double)s[r] - s_ref[r]) <= 3 * ulp);
        ck_assert_msg(ok, "quantize_i8 %u x %u on %s: scale[%u] = %.9g, reference %.9g", rows,
                      cols, d->label, r, (double)s[r], (double)s_ref[r]);
    }
    for (size_t i = 0; i < n; i++) {
        if (q[i] == q_ref[i])
            continue;
        bool tie = !strict && abs(q[i] - q_ref[i]) == 1 && ties[i] < 1e-4;
        ck_assert_msg(tie, "quantize_i8 %u x %u on %s: q[%zu] = %d, reference %d (x = %.9g)",
                      rows, cols, d->label, i, q[i], q_ref[i], (double)x[i]);
        near_tie++;
    }
    if (near_tie)
        fprintf(stderr, "quantize_i8 %u x %u on %s: %zu values off by one at rounding ties\n",
                rows, cols, d->label, near_tie);
    aidev_buffer_release(bx);
    aidev_buffer_release(bq);
    aidev_buffer_release(bs);
    free(x), free(q_ref), free(q), free(s_ref), free(s), free(ties);
}

START_TEST(test_quantize)
{
    kc_device d = kc_open(_i);
    aidev_kernel k = kc_kernel_optional(&d, "quantize_i8");
    if (k) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            run_quantize(&d, k, shapes[s].rows, shapes[s].cols);
        run_quantize(&d, k, 3, 4);
        /* Rows of no columns: each scale is written (0), nothing else. */
        const float sentinel[3] = {7, 7, 7};
        float s[3];
        aidev_buffer bx = kc_buffer(&d, AIDEV_TYPE_F32, 1, sentinel);
        aidev_buffer bq = kc_buffer(&d, AIDEV_TYPE_I8, 1, NULL);
        aidev_buffer bs = kc_buffer(&d, AIDEV_TYPE_F32, 3, sentinel);
        aidev_arg args[] = {aidev_arg_u32(3), aidev_arg_u32(0), aidev_arg_buffer(bx, 0),
                            aidev_arg_buffer(bq, 0), aidev_arg_buffer(bs, 0)};
        kc_dispatch(&d, k, 5, args);
        kc_read(&d, bs, AIDEV_TYPE_F32, 3, s);
        for (int i = 0; i < 3; i++)
            ck_assert_msg(s[i] == 0.0f, "quantize_i8 3 x 0 on %s: scale[%d] = %g, expected 0",
                          d.label, i, (double)s[i]);
        aidev_buffer_release(bx);
        aidev_buffer_release(bq);
        aidev_buffer_release(bs);
        aidev_kernel_release(k);
    }
    kc_close(&d);
}
END_TEST

static void run_dequantize(const kc_device *d, aidev_kernel k, uint32_t rows, uint32_t cols)
{
    const size_t n = (size_t)rows * cols;
    int8_t *q = kc_alloc(n);
    float *scale = kc_alloc((size_t)rows * sizeof(float));
    float *got = kc_alloc(n * sizeof(float));
    double *ref = kc_alloc(n * sizeof(double));
    kc_fill_i8(q, n, 700 + n);
    kc_fill_f32(scale, rows, 1e-3f, 0.1f, 701 + rows);
    ref_dequantize_i8(rows, cols, q, scale, ref);

    aidev_buffer bq = kc_buffer(d, AIDEV_TYPE_I8, n, q);
    aidev_buffer bs = kc_buffer(d, AIDEV_TYPE_F32, rows, scale);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, n, NULL);
    aidev_arg args[] = {aidev_arg_u32(rows), aidev_arg_u32(cols), aidev_arg_buffer(bq, 0),
                        aidev_arg_buffer(bs, 0), aidev_arg_buffer(by, 0)};
    kc_dispatch(d, k, 5, args);
    kc_read(d, by, AIDEV_TYPE_F32, n, got);
    char what[64];
    snprintf(what, sizeof what, "%u x %u", rows, cols);
    kc_check("dequantize_i8", what, d, got, ref, NULL, n);
    aidev_buffer_release(bq);
    aidev_buffer_release(bs);
    aidev_buffer_release(by);
    free(q), free(scale), free(got), free(ref);
}

START_TEST(test_dequantize)
{
    kc_device d = kc_open(_i);
    aidev_kernel k = kc_kernel_optional(&d, "dequantize_i8");
    if (k) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            run_dequantize(&d, k, shapes[s].rows, shapes[s].cols);
        aidev_kernel_release(k);
    }
    kc_close(&d);
}
END_TEST

static void run_matmul(const kc_device *d, aidev_kernel kern, uint32_t m, uint32_t n, uint32_t k,
                       bool extremes)
{
    int8_t *a = kc_alloc((size_t)m * k), *b = kc_alloc((size_t)n * k);
    float *sa = kc_alloc((size_t)m * sizeof(float)), *sb = kc_alloc((size_t)n * sizeof(float));
    float *got = kc_alloc((size_t)m * n * sizeof(float));
    double *ref = kc_alloc((size_t)m * n * sizeof(double));
    kc_fill_i8(a, (size_t)m * k, 800 + m);
    kc_fill_i8(b, (size_t)n * k, 801 + n);
    if (extremes) { /* -128 * -128 summed k times: the int32 range, not int16 */
        memset(a, 0x80, (size_t)m * k);
        memset(b, 0x80, (size_t)n * k);
    }
    kc_fill_f32(sa, m, 1e-3f, 0.05f, 802);
    kc_fill_f32(sb, n, 1e-3f, 0.05f, 803);
    ref_matmul_i8(m, n, k, a, sa, b, sb, ref);

    aidev_buffer ba = kc_buffer(d, AIDEV_TYPE_I8, (size_t)m * k, a);
    aidev_buffer bsa = kc_buffer(d, AIDEV_TYPE_F32, m, sa);
    aidev_buffer bb = kc_buffer(d, AIDEV_TYPE_I8, (size_t)n * k, b);
    aidev_buffer bsb = kc_buffer(d, AIDEV_TYPE_F32, n, sb);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, (size_t)m * n, NULL);
    aidev_arg args[] = {aidev_arg_u32(m),         aidev_arg_u32(n),        aidev_arg_u32(k),
                        aidev_arg_buffer(ba, 0),  aidev_arg_buffer(bsa, 0), aidev_arg_buffer(bb, 0),
                        aidev_arg_buffer(bsb, 0), aidev_arg_buffer(by, 0)};
    kc_dispatch(d, kern, 8, args);
    kc_read(d, by, AIDEV_TYPE_F32, (size_t)m * n, got);
    char what[64];
    snprintf(what, sizeof what, "m %u n %u k %u%s", m, n, k, extremes ? " all -128" : "");
    kc_check("matmul_i8", what, d, got, ref, NULL, (size_t)m * n);
    aidev_buffer_release(ba);
    aidev_buffer_release(bsa);
    aidev_buffer_release(bb);
    aidev_buffer_release(bsb);
    aidev_buffer_release(by);
    free(a), free(b), free(sa), free(sb), free(got), free(ref);
}

START_TEST(test_matmul)
{
    static const uint32_t shapes3[][3] = {{1, 1, 1},   {7, 13, 5},    {67, 129, 31},
                                          {33, 17, 1000}, {5, 6, 0}, {512, 512, 512}};
    kc_device d = kc_open(_i);
    aidev_kernel k = kc_kernel_optional(&d, "matmul_i8");
    if (k) {
        for (size_t s = 0; s < sizeof shapes3 / sizeof shapes3[0]; s++)
            run_matmul(&d, k, shapes3[s][0], shapes3[s][1], shapes3[s][2], false);
        run_matmul(&d, k, 3, 5, 4099, true);
        aidev_kernel_release(k);
    }
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-int8");
    harness_add_per_device(s, "quantize_i8", test_quantize, 0);
    harness_add_per_device(s, "dequantize_i8", test_dequantize, 0);
    harness_add_per_device(s, "matmul_i8", test_matmul, 0);
    return harness_run(s);
}

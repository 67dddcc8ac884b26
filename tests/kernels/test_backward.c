/* The backward kernels of examples/data-parallel on every device, against
 * references computed here: relu_backward (sizes 1, a prime, a
 * non-multiple of any workgroup, above the CPU split threshold, 4M + 3, at
 * an offset; x exactly 0 and -0 give 0; a NaN dy passes where x > 0) and
 * col_sum (single rows and columns, primes, tall, wide, 0 rows). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"

static void ref_relu_backward(uint32_t n, const float *x, const float *dy, double *out)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

/* The rows added in order, in f32: what every form of col_sum does. */
static void ref_col_sum(uint32_t rows, uint32_t cols, const float *x, double *out)
{
    for (uint32_t c = 0; c < cols; c++) {
        float s = 0.0f;
        for (uint32_t r = 0; r < rows; r++)
            s += x[(size_t)r * cols + c];
        out[c] = s;
    }
}

static void run_relu_backward(const kc_device *d, uint32_t n, uint64_t offset)
{
    const size_t pad = offset / sizeof(float), total = (size_t)n + pad;
    float *x = kc_alloc(total * sizeof(float));
    float *dy = kc_alloc(total * sizeof(float));
    float *got = kc_alloc(total * sizeof(float));
    double *ref = kc_alloc((size_t)n * sizeof(double));
    kc_fill_f32(x, total, -1, 1, 3000 + n);
    kc_fill_f32(dy, total, -4, 4, 4000 + n);
    if (n >= 8) {
        const float xs[4] = {0.0f, -0.0f, 1e-30f, -1e-30f};
        memcpy(x + pad + n / 2, xs, sizeof xs);
        dy[pad + n / 2 + 2] = NAN; /* x > 0 there: the NaN passes */
        dy[pad + n / 2 + 3] = NAN; /* x < 0 there: 0 */
    }
    ref_relu_backward(n, x + pad, dy + pad, ref);

    aidev_kernel k = kc_kernel(d, "relu_backward");
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, total, x);
    aidev_buffer bdy = kc_buffer(d, AIDEV_TYPE_F32, total, dy);
    aidev_buffer bdx = kc_buffer(d, AIDEV_TYPE_F32, total, dy); /* starts as dy */
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_buffer(bx, offset),
                        aidev_arg_buffer(bdy, offset), aidev_arg_buffer(bdx, offset)};
    kc_dispatch(d, k, 4, args);
    kc_read(d, bdx, AIDEV_TYPE_F32, total, got);
    char what[64];
    snprintf(what, sizeof what, "n = %u, offset %llu", n, (unsigned long long)offset);
    if (n >= 8) {
        /* The NaN that passes is not equal to itself: check it apart. */
        ck_assert_msg(isnan(got[pad + n / 2 + 2]), "relu_backward (%s) on %s: NaN dy at x > 0",
                      what, d->label);
        got[pad + n / 2 + 2] = 0.0f;
        ref[n / 2 + 2] = 0.0;
    }
    kc_check("relu_backward", what, d, got + pad, ref, NULL, n);
    ck_assert_msg(memcmp(got, dy, pad * sizeof(float)) == 0,
                  "relu_backward (%s) on %s wrote before its offset", what, d->label);
    aidev_buffer_release(bx);
    aidev_buffer_release(bdy);
    aidev_buffer_release(bdx);
    aidev_kernel_release(k);
    free(x), free(dy), free(got), free(ref);
}

START_TEST(test_relu_backward)
{
    static const uint32_t sizes[] = {1, 7, 1000, 65537, (4u << 20) + 3};
    kc_device d = kc_open(_i);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        run_relu_backward(&d, sizes[s], 0);
    run_relu_backward(&d, 1000, 64);
    kc_close(&d);
}
END_TEST

static void run_col_sum(const kc_device *d, uint32_t rows, uint32_t cols)
{
    const size_t n = (size_t)rows * cols;
    float *x = kc_alloc((n ? n : 1) * sizeof(float));
    float *got = kc_alloc(cols * sizeof(float));
    double *ref = kc_alloc(cols * sizeof(double));
    kc_fill_f32(x, n, -1, 1, 5000 + n);
    ref_col_sum(rows, cols, x, ref);

    aidev_kernel k = kc_kernel(d, "col_sum");
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, n, x);
    float sentinel = 77.0f;
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, cols, NULL);
    ck_assert_ok(aidev_enqueue_fill(d->queue, by, 0, cols * sizeof(float), &sentinel,
                                    sizeof sentinel, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(rows), aidev_arg_u32(cols), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    kc_dispatch(d, k, 4, args);
    kc_read(d, by, AIDEV_TYPE_F32, cols, got);
    char what[64];
    snprintf(what, sizeof what, "%u x %u", rows, cols);
    kc_check("col_sum", what, d, got, ref, NULL, cols);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
    free(x), free(got), free(ref);
}

START_TEST(test_col_sum)
{
    static const uint32_t shapes[][2] = {{1, 1},  {1, 7},     {7, 1},     {17, 33}, {0, 5},
                                         {64, 64}, {1000, 999}, {4096, 3}, {3, 70001}};
    kc_device d = kc_open(_i);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        run_col_sum(&d, shapes[s][0], shapes[s][1]);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-backward");
    harness_add_per_device(s, "relu_backward", test_relu_backward, 0);
    harness_add_per_device(s, "col_sum", test_col_sum, 0);
    return harness_run(s);
}

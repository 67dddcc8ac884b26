/* transpose and sgemm on every device, against tests/kernels/reference.c.
 * Shapes: 1 x 1, primes, sizes that are not multiples of the GPU tiles (16,
 * 64), single rows and columns, k = 0 (C = beta C), beta = 0 over a C of NaN
 * (BLAS semantics: the old C is not read), and large ones: a 2048 x 2049
 * transpose and a 512 x 512 x 512 sgemm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "reference.h"

static void run_transpose(const kc_device *d, uint32_t rows, uint32_t cols)
{
    const size_t n = (size_t)rows * cols;
    float *x = kc_alloc(n * sizeof(float));
    float *got = kc_alloc(n * sizeof(float));
    double *ref = kc_alloc(n * sizeof(double));
    kc_fill_f32(x, n, -1, 1, 400 + n);
    ref_transpose(rows, cols, x, ref);

    aidev_kernel k = kc_kernel(d, "transpose");
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, n, x);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, n, NULL);
    aidev_arg args[] = {aidev_arg_u32(rows), aidev_arg_u32(cols), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    kc_dispatch(d, k, 4, args);
    kc_read(d, by, AIDEV_TYPE_F32, n, got);
    char what[64];
    snprintf(what, sizeof what, "%u x %u", rows, cols);
    kc_check("transpose", what, d, got, ref, NULL, n);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
    free(x), free(got), free(ref);
}

START_TEST(test_transpose)
{
    static const uint32_t shapes[][2] = {{1, 1},     {1, 7},     {7, 1},      {17, 33},
                                         {64, 64},   {1000, 999}, {2048, 2049}};
    kc_device d = kc_open(_i);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        run_transpose(&d, shapes[s][0], shapes[s][1]);
    kc_close(&d);
}
END_TEST

static void run_sgemm(const kc_device *d, uint32_t m, uint32_t n, uint32_t k, float alpha,
                      float beta, bool nan_c)
{
    const size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *a = kc_alloc(na * sizeof(float));
    float *b = kc_alloc(nb * sizeof(float));
    float *c = kc_alloc(nc * sizeof(float));
    float *got = kc_alloc(nc * sizeof(float));
    double *ref = kc_alloc(nc * sizeof(double));
    double *mag = kc_alloc(nc * sizeof(double));
    kc_fill_f32(a, na, -1, 1, 500 + m);
    kc_fill_f32(b, nb, -1, 1, 501 + n);
    kc_fill_f32(c, nc, -1, 1, 502 + k);
    if (nan_c)
        for (size_t i = 0; i < nc; i++)
            c[i] = NAN;
    ref_sgemm(m, n, k, alpha, beta, a, b, c, ref, mag);

    aidev_kernel kern = kc_kernel(d, "sgemm");
    aidev_buffer ba = kc_buffer(d, AIDEV_TYPE_F32, na, a);
    aidev_buffer bb = kc_buffer(d, AIDEV_TYPE_F32, nb, b);
    aidev_buffer bc = kc_buffer(d, AIDEV_TYPE_F32, nc, c);
    aidev_arg args[] = {aidev_arg_u32(m),        aidev_arg_u32(n),        aidev_arg_u32(k),
                        aidev_arg_f32(alpha),    aidev_arg_f32(beta),     aidev_arg_buffer(ba, 0),
                        aidev_arg_buffer(bb, 0), aidev_arg_buffer(bc, 0)};
    kc_dispatch(d, kern, 8, args);
    kc_read(d, bc, AIDEV_TYPE_F32, nc, got);
    char what[96];
    snprintf(what, sizeof what, "m %u n %u k %u alpha %g beta %g%s", m, n, k, alpha, beta,
             nan_c ? " C = NaN" : "");
    kc_check("sgemm", what, d, got, ref, mag, nc);
    aidev_buffer_release(ba);
    aidev_buffer_release(bb);
    aidev_buffer_release(bc);
    aidev_kernel_release(kern);
    free(a), free(b), free(c), free(got), free(ref), free(mag);
}

START_TEST(test_sgemm)
{
    static const uint32_t shapes[][3] = {
        {1, 1, 1},   {7, 13, 5},  {67, 129, 31}, {1, 1000, 3}, {100, 1, 100},
        {64, 64, 64}, {65, 63, 17}, {5, 6, 0},
    };
    kc_device d = kc_open(_i);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        run_sgemm(&d, shapes[s][0], shapes[s][1], shapes[s][2], 1.5f, 0.5f, false);
    run_sgemm(&d, 17, 19, 23, -0.75f, 0.0f, true);
    run_sgemm(&d, 1, 1, 0, 1.0f, 0.0f, true);
    kc_close(&d);
}
END_TEST

START_TEST(test_sgemm_large)
{
    kc_device d = kc_open(_i);
    run_sgemm(&d, 512, 512, 512, 1.0f, 1.0f, false);
    kc_close(&d);
}
END_TEST

/* A zero dimension runs nothing: C keeps its values. */
START_TEST(test_empty)
{
    kc_device d = kc_open(_i);
    const float sentinel[4] = {1, 2, 3, 4};
    float got[4];
    aidev_buffer bx = kc_buffer(&d, AIDEV_TYPE_F32, 4, sentinel);
    aidev_buffer by = kc_buffer(&d, AIDEV_TYPE_F32, 4, sentinel);
    aidev_kernel kt = kc_kernel(&d, "transpose");
    aidev_arg targs[] = {aidev_arg_u32(0), aidev_arg_u32(4), aidev_arg_buffer(bx, 0),
                         aidev_arg_buffer(by, 0)};
    kc_dispatch(&d, kt, 4, targs);
    aidev_kernel ks = kc_kernel(&d, "sgemm");
    aidev_arg sargs[] = {aidev_arg_u32(0),        aidev_arg_u32(2),        aidev_arg_u32(2),
                         aidev_arg_f32(1),        aidev_arg_f32(0),        aidev_arg_buffer(bx, 0),
                         aidev_arg_buffer(bx, 0), aidev_arg_buffer(by, 0)};
    kc_dispatch(&d, ks, 8, sargs);
    kc_read(&d, by, AIDEV_TYPE_F32, 4, got);
    ck_assert_msg(memcmp(got, sentinel, sizeof got) == 0, "an empty dispatch on %s wrote", d.label);
    aidev_kernel_release(kt);
    aidev_kernel_release(ks);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-matrix");
    harness_add_per_device(s, "transpose", test_transpose, 0);
    harness_add_per_device(s, "sgemm", test_sgemm, 0);
    harness_add_per_device(s, "sgemm_large", test_sgemm_large, 0);
    harness_add_per_device(s, "empty", test_empty, 0);
    return harness_run(s);
}

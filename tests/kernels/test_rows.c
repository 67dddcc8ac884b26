/* The row-wise kernels softmax, rmsnorm and layernorm on every device,
 * against tests/kernels/reference.c. Shapes: single elements, one long row,
 * many one-element rows, rows that are not a multiple of the GPU forms'
 * workgroup (256), rows of 8192 (the longest the tolerance is stated for), a
 * large matrix of 4M elements, and empty ones: no rows (nothing written) and
 * rows of no columns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "reference.h"

typedef struct shape {
    uint32_t rows, cols;
} shape;

static const shape shapes[] = {
    {1, 1}, {1, 7}, {3, 1000}, {13, 1}, {31, 257}, {1000, 7}, {5, 8192}, {2049, 2048},
};

static void run_rows(const kc_device *d, const char *name, uint32_t rows, uint32_t cols)
{
    const size_t n = (size_t)rows * cols;
    const float eps = 1e-5f;
    float *x = kc_alloc(n * sizeof(float));
    float *w = kc_alloc((size_t)cols * sizeof(float));
    float *bias = kc_alloc((size_t)cols * sizeof(float));
    float *got = kc_alloc(n * sizeof(float));
    double *ref = kc_alloc(n * sizeof(double));
    double *mag = kc_alloc(n * sizeof(double));
    /* layernorm: rows away from zero mean, so a one-pass variance would
     * show its cancellation. */
    const float shift = strcmp(name, "layernorm") == 0 ? 3.0f : 0.0f;
    kc_fill_f32(x, n, -5 + shift, 5 + shift, 300 + n);
    kc_fill_f32(w, cols, 0.5f, 1.5f, 301 + cols);
    kc_fill_f32(bias, cols, -1, 1, 302 + cols);

    aidev_kernel k = kc_kernel(d, name);
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, n, x);
    aidev_buffer bw = kc_buffer(d, AIDEV_TYPE_F32, cols, w);
    aidev_buffer bb = kc_buffer(d, AIDEV_TYPE_F32, cols, bias);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, n, NULL);
    aidev_arg args[8];
    uint32_t argc = 0;
    args[argc++] = aidev_arg_u32(rows);
    args[argc++] = aidev_arg_u32(cols);
    if (strcmp(name, "softmax") == 0) {
        ref_softmax(rows, cols, x, ref);
    } else if (strcmp(name, "rmsnorm") == 0) {
        args[argc++] = aidev_arg_f32(eps);
        ref_rmsnorm(rows, cols, eps, x, w, ref);
    } else {
        args[argc++] = aidev_arg_f32(eps);
        ref_layernorm(rows, cols, eps, x, w, bias, ref, mag);
    }
    args[argc++] = aidev_arg_buffer(bx, 0);
    if (strcmp(name, "softmax") != 0)
        args[argc++] = aidev_arg_buffer(bw, 0);
    if (strcmp(name, "layernorm") == 0)
        args[argc++] = aidev_arg_buffer(bb, 0);
    args[argc++] = aidev_arg_buffer(by, 0);
    kc_dispatch(d, k, argc, args);
    kc_read(d, by, AIDEV_TYPE_F32, n, got);

    char what[64];
    snprintf(what, sizeof what, "%u x %u", rows, cols);
    kc_check(name, what, d, got, ref, strcmp(name, "layernorm") == 0 ? mag : NULL, n);

    aidev_buffer_release(bx);
    aidev_buffer_release(bw);
    aidev_buffer_release(bb);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
    free(x), free(w), free(bias), free(got), free(ref), free(mag);
}

/* rows = 0 or cols = 0: nothing is written. */
static void run_empty(const kc_device *d, const char *name, uint32_t rows, uint32_t cols)
{
    const float sentinel[4] = {1, 2, 3, 4};
    float got[4];
    aidev_kernel k = kc_kernel(d, name);
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, 4, sentinel);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, 4, sentinel);
    aidev_arg args[8];
    uint32_t argc = 0;
    args[argc++] = aidev_arg_u32(rows);
    args[argc++] = aidev_arg_u32(cols);
    if (strcmp(name, "softmax") != 0)
        args[argc++] = aidev_arg_f32(1e-5f);
    args[argc++] = aidev_arg_buffer(bx, 0);
    if (strcmp(name, "softmax") != 0)
        args[argc++] = aidev_arg_buffer(bx, 0);
    if (strcmp(name, "layernorm") == 0)
        args[argc++] = aidev_arg_buffer(bx, 0);
    args[argc++] = aidev_arg_buffer(by, 0);
    kc_dispatch(d, k, argc, args);
    kc_read(d, by, AIDEV_TYPE_F32, 4, got);
    ck_assert_msg(memcmp(got, sentinel, sizeof got) == 0, "%s %u x %u on %s wrote its output",
                  name, rows, cols, d->label);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
}

static void run_all(int device, const char *name)
{
    kc_device d = kc_open(device);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        run_rows(&d, name, shapes[s].rows, shapes[s].cols);
    run_empty(&d, name, 0, 4);
    run_empty(&d, name, 3, 0);
    kc_close(&d);
}

START_TEST(test_softmax)
{
    run_all(_i, "softmax");
}
END_TEST

START_TEST(test_rmsnorm)
{
    run_all(_i, "rmsnorm");
}
END_TEST

START_TEST(test_layernorm)
{
    run_all(_i, "layernorm");
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-rows");
    harness_add_per_device(s, "softmax", test_softmax, 0);
    harness_add_per_device(s, "rmsnorm", test_rmsnorm, 0);
    harness_add_per_device(s, "layernorm", test_layernorm, 0);
    return harness_run(s);
}

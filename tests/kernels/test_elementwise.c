/* The elementwise kernels on every device, against tests/kernels/reference.c:
 * fill_f32, copy_f32, axpy, scale, add, mul, relu, gelu, silu. Sizes: 1, a
 * prime, one that is not a multiple of any workgroup size, one above the CPU
 * backend's split threshold (so the pool runs the C form on several boxes
 * at once) and a large one (4M + 3); n = 0 must leave the output alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "reference.h"

static const uint32_t sizes[] = {1, 7, 1000, 65537, (4u << 20) + 3};

/* Inputs are drawn in [lo, hi): wide enough for gelu and silu to reach both
 * tails, where exp over- and underflows. */
typedef struct ew_case {
    const char *name;
    float lo, hi;
} ew_case;

static const ew_case cases[] = {
    {"fill_f32", -1, 1}, {"copy_f32", -1, 1}, {"axpy", -1, 1},  {"scale", -1, 1},
    {"add", -1, 1},      {"mul", -1, 1},      {"relu", -1, 1},  {"gelu", -10, 10},
    {"silu", -40, 40},
};

/* The tails, where exp(-2u) or exp(-x) over- or underflows in float. */
static const float specials[] = {-100.0f, 100.0f, -12.0f, 12.0f, 0.0f, -0.0f, 1e-20f, -1e-20f};

static const ew_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    return NULL;
}

/* Runs kernel |name| on |n| elements; with |offset| (bytes) every buffer
 * argument starts that far into a larger buffer. */
static void run_elementwise(const kc_device *d, const char *name, uint32_t n, uint64_t offset)
{
    const ew_case *c = find_case(name);
    const float alpha = -1.75f, value = 3.25f;
    const size_t pad = offset / sizeof(float);
    float *a = kc_alloc(((size_t)n + pad) * sizeof(float));
    float *b = kc_alloc(((size_t)n + pad) * sizeof(float));
    float *got = kc_alloc(((size_t)n + pad) * sizeof(float));
    double *ref = kc_alloc((size_t)n * sizeof(double));
    double *mag = kc_alloc((size_t)n * sizeof(double));
    kc_fill_f32(a, n + pad, c->lo, c->hi, 1000 + n);
    kc_fill_f32(b, n + pad, c->lo, c->hi, 2000 + n);
    if (n >= 64 && (strcmp(name, "gelu") == 0 || strcmp(name, "silu") == 0))
        memcpy(a + pad + n / 2, specials, sizeof specials);

    aidev_kernel k = kc_kernel(d, name);
    aidev_buffer ba = kc_buffer(d, AIDEV_TYPE_F32, n + pad, a);
    aidev_buffer bb = kc_buffer(d, AIDEV_TYPE_F32, n + pad, b);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, n + pad, b); /* outputs start as b */
    const float *xa = a + pad, *xb = b + pad;
    aidev_arg args[5];
    uint32_t argc = 0;
    args[argc++] = aidev_arg_u32(n);
    bool with_mag = false;
    if (strcmp(name, "fill_f32") == 0) {
        args[argc++] = aidev_arg_f32(value);
        ref_fill_f32(n, value, ref);
    } else if (strcmp(name, "axpy") == 0) {
        args[argc++] = aidev_arg_f32(alpha);
        args[argc++] = aidev_arg_buffer(ba, offset);
        ref_axpy(n, alpha, xa, xb, ref, mag);
        with_mag = true;
    } else if (strcmp(name, "scale") == 0) {
        args[argc++] = aidev_arg_f32(alpha);
        args[argc++] = aidev_arg_buffer(ba, offset);
        ref_scale(n, alpha, xa, ref);
    } else if (strcmp(name, "add") == 0 || strcmp(name, "mul") == 0) {
        args[argc++] = aidev_arg_buffer(ba, offset);
        args[argc++] = aidev_arg_buffer(bb, offset);
        (name[0] == 'a' ? ref_add : ref_mul)(n, xa, xb, ref);
    } else {
        args[argc++] = aidev_arg_buffer(ba, offset);
        if (strcmp(name, "copy_f32") == 0)
            ref_copy_f32(n, xa, ref);
        else if (strcmp(name, "relu") == 0)
            ref_relu(n, xa, ref);
        else if (strcmp(name, "gelu") == 0)
            ref_gelu(n, xa, ref, mag), with_mag = true;
        else
            ref_silu(n, xa, ref, mag), with_mag = true;
    }
    args[argc++] = aidev_arg_buffer(by, offset);
    kc_dispatch(d, k, argc, args);
    kc_read(d, by, AIDEV_TYPE_F32, n + pad, got);

    char what[64];
    snprintf(what, sizeof what, "n = %u, offset %llu", n, (unsigned long long)offset);
    kc_check(name, what, d, got + pad, ref, with_mag ? mag : NULL, n);
    /* The bytes before the offset are not the kernel's. */
    ck_assert_msg(memcmp(got, b, pad * sizeof(float)) == 0,
                  "%s (%s) on %s wrote before its offset", name, what, d->label);

    aidev_buffer_release(ba);
    aidev_buffer_release(bb);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
    free(a), free(b), free(got), free(ref), free(mag);
}

/* n = 0 is a dispatch of nothing: the output keeps its contents. */
static void run_empty(const kc_device *d, const char *name)
{
    const float sentinel[4] = {11, 12, 13, 14};
    float got[4];
    aidev_kernel k = kc_kernel(d, name);
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, 4, sentinel);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, 4, sentinel);
    aidev_arg args[5];
    uint32_t argc = 0;
    args[argc++] = aidev_arg_u32(0);
    if (!strcmp(name, "fill_f32") || !strcmp(name, "axpy") || !strcmp(name, "scale"))
        args[argc++] = aidev_arg_f32(2.0f);
    if (strcmp(name, "fill_f32") != 0)
        args[argc++] = aidev_arg_buffer(bx, 0);
    if (!strcmp(name, "add") || !strcmp(name, "mul"))
        args[argc++] = aidev_arg_buffer(bx, 0);
    args[argc++] = aidev_arg_buffer(by, 0);
    kc_dispatch(d, k, argc, args);
    kc_read(d, by, AIDEV_TYPE_F32, 4, got);
    ck_assert_msg(memcmp(got, sentinel, sizeof got) == 0, "%s with n = 0 on %s wrote its output",
                  name, d->label);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
}

static void run_all(int device, const char *name)
{
    kc_device d = kc_open(device);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        run_elementwise(&d, name, sizes[s], 0);
    run_empty(&d, name);
    kc_close(&d);
}

#define ELEMENTWISE_TEST(kname)                                                               \
    START_TEST(test_##kname)                                                                  \
    {                                                                                         \
        run_all(_i, #kname);                                                                  \
    }                                                                                         \
    END_TEST

ELEMENTWISE_TEST(fill_f32)
ELEMENTWISE_TEST(copy_f32)
ELEMENTWISE_TEST(axpy)
ELEMENTWISE_TEST(scale)
ELEMENTWISE_TEST(add)
ELEMENTWISE_TEST(mul)
ELEMENTWISE_TEST(relu)
ELEMENTWISE_TEST(gelu)
ELEMENTWISE_TEST(silu)

/* Buffer offsets reach the kernel: every argument starts 256 bytes in (a
 * multiple of every storage-buffer offset alignment in use). */
START_TEST(test_offsets)
{
    kc_device d = kc_open(_i);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_elementwise(&d, cases[i].name, 1000, 256);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-elementwise");
    harness_add_per_device(s, "fill_f32", test_fill_f32, 0);
    harness_add_per_device(s, "copy_f32", test_copy_f32, 0);
    harness_add_per_device(s, "axpy", test_axpy, 0);
    harness_add_per_device(s, "scale", test_scale, 0);
    harness_add_per_device(s, "add", test_add, 0);
    harness_add_per_device(s, "mul", test_mul, 0);
    harness_add_per_device(s, "relu", test_relu, 0);
    harness_add_per_device(s, "gelu", test_gelu, 0);
    harness_add_per_device(s, "silu", test_silu, 0);
    harness_add_per_device(s, "offsets", test_offsets, 0);
    return harness_run(s);
}

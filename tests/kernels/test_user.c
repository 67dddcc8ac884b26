/* User kernels in each form aidev takes (OpenCL C source, SPIR-V, a C
 * function), each with a declared signature, dispatched through the same
 * call as the built-ins. Each form runs on every device whose feature bits
 * offer it; on a device without the bit, aidev_kernel_create must refuse it
 * with AIDEV_ERROR_UNSUPPORTED naming the kernel (and the case says why it
 * did not run). The declared signature guards user dispatches as it guards
 * the library's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"

#ifdef AIDEV_TEST_USER_SPIRV
extern const uint32_t user_affine_spirv[];
extern const size_t user_affine_spirv_size;
#endif

/* y[i] = alpha * x[i] + beta, in each form. */
static const char affine_opencl[] =
    "__kernel void user_affine(uint n, float alpha, float beta,\n"
    "                          __global const float *x, __global float *y)\n"
    "{\n"
    "    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))\n"
    "        y[i] = alpha * x[i] + beta;\n"
    "}\n";

static void affine_host(void *const *args, const aidev_host_range *range)
{
    const uint32_t n = *(const uint32_t *)args[0];
    const float alpha = *(const float *)args[1], beta = *(const float *)args[2];
    const float *x = args[3];
    float *y = args[4];
    for (uint32_t i = range->begin[0]; i < range->end[0] && i < n; i++)
        y[i] = alpha * x[i] + beta;
}

static const aidev_kernel_arg_desc affine_args[] = {
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"alpha", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
    {"beta", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ, "n"},
    {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE, "n"},
};

static aidev_kernel_desc affine_desc(aidev_kernel_source_kind kind)
{
    aidev_kernel_desc d = {
        .name = "user_affine",
        .source_kind = kind,
        .arg_count = 5,
        .args = affine_args,
        .grid = {"n", NULL, NULL},
    };
    switch (kind) {
    case AIDEV_KERNEL_SOURCE_OPENCL_C:
        d.data = affine_opencl;
        break;
    case AIDEV_KERNEL_SOURCE_SPIRV:
#ifdef AIDEV_TEST_USER_SPIRV
        d.data = user_affine_spirv;
        d.size = user_affine_spirv_size;
#endif
        break;
    case AIDEV_KERNEL_SOURCE_HOST:
        d.host_fn = affine_host;
        break;
    }
    return d;
}

static uint64_t feature_of(aidev_kernel_source_kind kind)
{
    return kind == AIDEV_KERNEL_SOURCE_OPENCL_C ? AIDEV_FEATURE_KERNEL_OPENCL_C
           : kind == AIDEV_KERNEL_SOURCE_SPIRV  ? AIDEV_FEATURE_KERNEL_SPIRV
                                                : AIDEV_FEATURE_KERNEL_HOST;
}

static const char *kind_name(aidev_kernel_source_kind kind)
{
    return kind == AIDEV_KERNEL_SOURCE_OPENCL_C ? "OpenCL C"
           : kind == AIDEV_KERNEL_SOURCE_SPIRV  ? "SPIR-V"
                                                : "C function";
}

static void run_affine(const kc_device *d, aidev_kernel k, uint32_t n)
{
    const float alpha = 0.5f, beta = -2.0f;
    float *x = kc_alloc((size_t)n * sizeof(float));
    float *got = kc_alloc((size_t)n * sizeof(float));
    double *ref = kc_alloc((size_t)n * sizeof(double));
    kc_fill_f32(x, n, -4, 4, 900 + n);
    /* alpha is a power of two: alpha * x + beta is exact in float with or
     * without a fused multiply-add, so every device must match exactly. */
    for (uint32_t i = 0; i < n; i++)
        ref[i] = alpha * x[i] + beta;
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, n, x);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, n, NULL);
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(alpha), aidev_arg_f32(beta),
                        aidev_arg_buffer(bx, 0), aidev_arg_buffer(by, 0)};
    kc_dispatch(d, k, 5, args);
    kc_read(d, by, AIDEV_TYPE_F32, n, got);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == (float)ref[i], "user_affine n = %u on %s: y[%u] = %.9g, want %.9g",
                      n, d->label, i, (double)got[i], ref[i]);

    /* The declared signature guards it: a missing argument, an i32 for the
     * u32 n, a buffer shorter than n. */
    aidev_status st = aidev_enqueue_dispatch(d->queue, k, NULL, NULL, 4, args, 0, NULL, NULL);
    ck_assert_msg(st == AIDEV_ERROR_KERNEL_ARGS && strstr(aidev_last_error(), "user_affine"),
                  "4 arguments for 5 on %s: %s: %s", d->label, aidev_status_string(st),
                  aidev_last_error());
    aidev_arg bad[5];
    memcpy(bad, args, sizeof bad);
    bad[0] = aidev_arg_i32((int32_t)n);
    ck_assert_error_names(aidev_enqueue_dispatch(d->queue, k, NULL, NULL, 5, bad, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "'n'");
    memcpy(bad, args, sizeof bad);
    bad[0] = aidev_arg_u32(n + 1);
    ck_assert_error_names(aidev_enqueue_dispatch(d->queue, k, NULL, NULL, 5, bad, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "'x'");

    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    free(x), free(got), free(ref);
}

static void check_form(int device, aidev_kernel_source_kind kind)
{
    kc_device d = kc_open(device);
    uint64_t features = 0;
    ck_assert_ok(aidev_device_get_info(d.dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    aidev_kernel_desc desc = affine_desc(kind);
    aidev_kernel k = NULL;
#ifndef AIDEV_TEST_USER_SPIRV
    if (kind == AIDEV_KERNEL_SOURCE_SPIRV) {
        fprintf(stderr, "SKIP user SPIR-V kernel on %s: built without glslc\n", d.label);
        kc_close(&d);
        return;
    }
#endif
    if (!(features & feature_of(kind))) {
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_UNSUPPORTED,
                              "user_affine");
        ck_assert_ptr_null(k);
        fprintf(stderr, "SKIP user %s kernel on %s: the device has no %s kernels (%s)\n",
                kind_name(kind), d.label, kind_name(kind), aidev_last_error());
        kc_close(&d);
        return;
    }
    ck_assert_ok(aidev_kernel_create(d.dev, &desc, &k));
    static const uint32_t sizes[] = {1, 7, 1000, 65537};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        run_affine(&d, k, sizes[s]);
    ck_assert_ok(aidev_kernel_release(k));
    kc_close(&d);
}

START_TEST(test_user_opencl_c)
{
    check_form(_i, AIDEV_KERNEL_SOURCE_OPENCL_C);
}
END_TEST

START_TEST(test_user_spirv)
{
    check_form(_i, AIDEV_KERNEL_SOURCE_SPIRV);
}
END_TEST

START_TEST(test_user_host)
{
    check_form(_i, AIDEV_KERNEL_SOURCE_HOST);
}
END_TEST

/* OpenCL C that does not compile: AIDEV_ERROR_COMPILE with the build log in
 * the message, where the device takes OpenCL C at all. */
START_TEST(test_user_opencl_c_error)
{
    kc_device d = kc_open(_i);
    uint64_t features = 0;
    aidev_device_get_info(d.dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features, NULL);
    if (!(features & AIDEV_FEATURE_KERNEL_OPENCL_C)) {
        fprintf(stderr, "SKIP OpenCL C compile error on %s: the device has no OpenCL C kernels\n",
                d.label);
        kc_close(&d);
        return;
    }
    aidev_kernel_desc desc = affine_desc(AIDEV_KERNEL_SOURCE_OPENCL_C);
    desc.data = "__kernel void user_affine(uint n, float alpha, float beta,\n"
                "    __global const float *x, __global float *y) { y[0] = undeclared_name; }\n";
    aidev_kernel k = NULL;
    ck_assert_status(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_COMPILE);
    ck_assert_msg(strstr(aidev_last_error(), "undeclared_name"),
                  "the build log is not in the message: %s", aidev_last_error());
    ck_assert_ptr_null(k);
    kc_close(&d);
}
END_TEST

/* build_options reach the OpenCL C compiler: a -D switches the kernel's
 * code (y = -(alpha x + beta)), and a source that needs the option fails
 * to build without it, the log naming what was missing. */
START_TEST(test_user_opencl_c_build_options)
{
    kc_device d = kc_open(_i);
    uint64_t features = 0;
    aidev_device_get_info(d.dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features, NULL);
    if (!(features & AIDEV_FEATURE_KERNEL_OPENCL_C)) {
        fprintf(stderr, "SKIP OpenCL C build options on %s: the device has no OpenCL C kernels\n",
                d.label);
        kc_close(&d);
        return;
    }
    aidev_kernel_desc desc = affine_desc(AIDEV_KERNEL_SOURCE_OPENCL_C);
    desc.data = "__kernel void user_affine(uint n, float alpha, float beta,\n"
                "    __global const float *x, __global float *y)\n"
                "{\n"
                "    size_t i = get_global_id(0);\n"
                "    if (i < n)\n"
                "        y[i] = SIGN (alpha * x[i] + beta);\n"
                "}\n";
    desc.build_options = "-DSIGN=-";
    aidev_kernel k = NULL;
    ck_assert_ok(aidev_kernel_create(d.dev, &desc, &k));
    const uint32_t n = 1000;
    float x[1000], got[1000];
    kc_fill_f32(x, n, -4, 4, 77);
    aidev_buffer bx = kc_buffer(&d, AIDEV_TYPE_F32, n, x);
    aidev_buffer by = kc_buffer(&d, AIDEV_TYPE_F32, n, NULL);
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(0.5f), aidev_arg_f32(-2.0f),
                        aidev_arg_buffer(bx, 0), aidev_arg_buffer(by, 0)};
    kc_dispatch(&d, k, 5, args);
    kc_read(&d, by, AIDEV_TYPE_F32, n, got);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == -(0.5f * x[i] - 2.0f), "-DSIGN=- on %s: y[%u] = %.9g, want %.9g",
                      d.label, i, (double)got[i], -(0.5 * x[i] - 2.0));
    ck_assert_ok(aidev_kernel_release(k));
    desc.build_options = NULL;
    k = NULL;
    ck_assert_status(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_COMPILE);
    ck_assert_msg(strstr(aidev_last_error(), "SIGN"), "the build log does not name SIGN: %s",
                  aidev_last_error());
    ck_assert_ptr_null(k);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-user");
    harness_add_per_device(s, "user_opencl_c", test_user_opencl_c, 0);
    harness_add_per_device(s, "user_spirv", test_user_spirv, 0);
    harness_add_per_device(s, "user_host", test_user_host, 0);
    harness_add_per_device(s, "user_opencl_c_error", test_user_opencl_c_error, 0);
    harness_add_per_device(s, "user_opencl_c_build_options", test_user_opencl_c_build_options,
                           0);
    return harness_run(s);
}

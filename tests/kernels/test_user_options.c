/* What a user kernel's description asks beyond its source and signature,
 * on every device: specialization constants of SPIR-V kernels (applied
 * to the pipeline; checked against the module), local-memory arguments of
 * OpenCL C kernels (a workgroup reduction), and each of them, with build
 * options, refused with a message where the kernel's form or the device
 * cannot apply it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"

#ifdef AIDEV_TEST_USER_SPIRV
extern const uint32_t user_affine_spirv[];
extern const size_t user_affine_spirv_size;
extern const uint32_t user_spec_spirv[];
extern const size_t user_spec_spirv_size;
#endif

static uint64_t features_of(const kc_device *d)
{
    uint64_t f = 0;
    ck_assert_ok(aidev_device_get_info(d->dev, AIDEV_DEVICE_INFO_FEATURES, sizeof f, &f, NULL));
    return f;
}

static bool backend_is(const kc_device *d, const char *name)
{
    char backend[64] = "";
    ck_assert_ok(aidev_device_get_info(d->dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend,
                                       backend, NULL));
    return strcmp(backend, name) == 0;
}

/* Whether |d| offers |feature| (a user-kernel feature of a form it takes):
 * when not, a kernel asking for it is refused as unsupported, naming
 * |what|. The backends of this tree that take the form must offer it. */
static bool offers(const kc_device *d, uint64_t feature, const aidev_kernel_desc *desc,
                   const char *what)
{
    if (features_of(d) & feature)
        return true;
    ck_assert_msg(!backend_is(d, feature == AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS ? "vulkan"
                                                                                 : "opencl"),
                  "%s lacks the feature bit %#llx", d->label, (unsigned long long)feature);
    aidev_kernel k = NULL;
    ck_assert_error_names(aidev_kernel_create(d->dev, desc, &k), AIDEV_ERROR_UNSUPPORTED, what);
    ck_assert_ptr_null(k);
    fprintf(stderr, "SKIP %s on %s: %s\n", what, d->label, aidev_last_error());
    return false;
}

static void host_copy(void *const *args, const aidev_host_range *range)
{
    const uint32_t n = *(const uint32_t *)args[0];
    const float *x = args[1];
    float *y = args[2];
    for (uint32_t i = range->begin[0]; i < range->end[0] && i < n; i++)
        y[i] = x[i];
}

static const aidev_kernel_arg_desc copy_args[] = {
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ, "n"},
    {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE, "n"},
};

static const char copy_opencl[] =
    "__kernel void user_copy(uint n, __global const float *x, __global float *y)\n"
    "{ size_t i = get_global_id(0); if (i < n) y[i] = x[i]; }\n";

/* user_copy in the form |kind|, with |data| for SPIR-V. */
static aidev_kernel_desc copy_desc(aidev_kernel_source_kind kind, const void *data, size_t size)
{
    aidev_kernel_desc d = {.name = "user_copy", .source_kind = kind, .arg_count = 3,
                           .args = copy_args, .grid = {"n", NULL, NULL}};
    if (kind == AIDEV_KERNEL_SOURCE_HOST)
        d.host_fn = host_copy;
    else if (kind == AIDEV_KERNEL_SOURCE_OPENCL_C)
        d.data = copy_opencl;
    else
        d.data = data, d.size = size;
    return d;
}

/* ------------------------------------------------------------------------ */
/* Build options                                                            */
/* ------------------------------------------------------------------------ */

/* A SPIR-V or C kernel with build options is refused, naming the field,
 * on every device that takes the form; empty options are none. */
START_TEST(test_build_options_refused)
{
    kc_device d = kc_open(_i);
    uint64_t f = features_of(&d);
    int checked = 0;
    if (f & AIDEV_FEATURE_KERNEL_HOST) {
        aidev_kernel_desc desc = copy_desc(AIDEV_KERNEL_SOURCE_HOST, NULL, 0);
        desc.build_options = "-DN=4";
        aidev_kernel k = NULL;
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k),
                              AIDEV_ERROR_INVALID_ARGUMENT, "build_options '-DN=4'");
        ck_assert_ptr_null(k);
        desc.build_options = "";
        ck_assert_ok(aidev_kernel_create(d.dev, &desc, &k));
        ck_assert_ok(aidev_kernel_release(k));
        checked++;
    }
#ifdef AIDEV_TEST_USER_SPIRV
    if (f & AIDEV_FEATURE_KERNEL_SPIRV) {
        aidev_kernel_desc desc = {.name = "user_affine", .source_kind = AIDEV_KERNEL_SOURCE_SPIRV,
                                  .data = user_affine_spirv, .size = user_affine_spirv_size,
                                  .build_options = "-cl-fast-relaxed-math"};
        aidev_kernel k = NULL;
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k),
                              AIDEV_ERROR_INVALID_ARGUMENT, "specialization constants instead");
        ck_assert_ptr_null(k);
        checked++;
    }
#endif
    if (!checked)
        fprintf(stderr, "SKIP build options refusal on %s: it takes neither C nor SPIR-V "
                        "kernels\n",
                d.label);
    kc_close(&d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Specialization constants                                                 */
/* ------------------------------------------------------------------------ */

static const aidev_kernel_arg_desc spec_args[] = {
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ, "n"},
    {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE, "n"},
};

#ifdef AIDEV_TEST_USER_SPIRV
static aidev_kernel_desc spec_desc(uint32_t count, const aidev_kernel_spec_constant *c)
{
    return (aidev_kernel_desc){.name = "user_spec", .source_kind = AIDEV_KERNEL_SOURCE_SPIRV,
                               .data = user_spec_spirv, .size = user_spec_spirv_size,
                               .arg_count = 3, .args = spec_args, .grid = {"n", NULL, NULL},
                               .spec_constant_count = count, .spec_constants = c};
}

/* Runs user_spec made with |c| over n items, in workgroups of |wg| (0:
 * the module's), and checks y = sign * scale * (square ? x^2 : x), all
 * exact in float (scale is a power of two). */
static void run_spec(const kc_device *d, uint32_t count, const aidev_kernel_spec_constant *c,
                     float scale, bool square, bool negate, uint32_t wg)
{
    aidev_kernel_desc desc = spec_desc(count, c);
    aidev_kernel k = NULL;
    ck_assert_ok(aidev_kernel_create(d->dev, &desc, &k));
    enum { N = 1000 };
    float x[N], got[N];
    kc_fill_f32(x, N, -4, 4, 31 + count);
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, N, x);
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, N, NULL);
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_buffer(bx, 0), aidev_arg_buffer(by, 0)};
    const uint32_t workgroup[3] = {wg, 1, 1};
    ck_assert_ok(aidev_enqueue_dispatch(d->queue, k, NULL, wg ? workgroup : NULL, 3, args, 0,
                                        NULL, NULL));
    kc_read(d, by, AIDEV_TYPE_F32, N, got);
    for (uint32_t i = 0; i < N; i++) {
        float v = (square ? x[i] * x[i] : x[i]) * scale;
        float want = negate ? -v : v;
        ck_assert_msg(got[i] == want,
                      "user_spec (%u constants, scale %g, square %d, negate %d, workgroup %u) "
                      "on %s: y[%u] = %.9g, want %.9g",
                      count, (double)scale, square, negate, wg, d->label, i, (double)got[i],
                      (double)want);
    }
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    ck_assert_ok(aidev_kernel_release(k));
}
#endif

START_TEST(test_spec_constants)
{
    kc_device d = kc_open(_i);
#ifndef AIDEV_TEST_USER_SPIRV
    fprintf(stderr, "SKIP specialization constants on %s: built without glslc\n", d.label);
#else
    const aidev_kernel_spec_constant all[] = {aidev_spec_f32(1, 0.25f), aidev_spec_u32(2, 1),
                                              aidev_spec_u32(3, 1)};
    if (!(features_of(&d) & AIDEV_FEATURE_KERNEL_SPIRV)) {
        aidev_kernel_desc desc = spec_desc(3, all);
        aidev_kernel k = NULL;
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_UNSUPPORTED,
                              "user_spec");
        ck_assert_ptr_null(k);
        fprintf(stderr, "SKIP specialization constants on %s: no SPIR-V kernels (%s)\n", d.label,
                aidev_last_error());
        kc_close(&d);
        return;
    }
    aidev_kernel_desc probe = spec_desc(3, all);
    if (!offers(&d, AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS, &probe, "specialization constants")) {
        kc_close(&d);
        return;
    }
    run_spec(&d, 0, NULL, 1.0f, false, false, 0);        /* the module's defaults */
    run_spec(&d, 3, all, 0.25f, true, true, 0);
    run_spec(&d, 3, all, 0.25f, true, true, 32);          /* with the workgroup's constant */
    const aidev_kernel_spec_constant two[] = {aidev_spec_u32(3, 1), aidev_spec_f32(1, 8.0f)};
    run_spec(&d, 2, two, 8.0f, false, true, 128);

    /* Refusals, each naming what is wrong. */
    struct {
        aidev_kernel_spec_constant c[2];
        uint32_t count;
        aidev_status st;
        const char *names;
    } bad[] = {
        {{aidev_spec_u32(9, 1)}, 1, AIDEV_ERROR_KERNEL_ARGS, "no specialization constant with id 9"},
        {{aidev_spec_u64(1, 1)}, 1, AIDEV_ERROR_KERNEL_ARGS, "id 1 is given 8 bytes"},
        {{aidev_spec_u32(7, 64)}, 1, AIDEV_ERROR_KERNEL_ARGS, "local_size_x_id"},
        {{aidev_spec_u32(2, 1), aidev_spec_u32(2, 0)}, 2, AIDEV_ERROR_INVALID_ARGUMENT,
         "both set id 2"},
        {{{1, 3, {0}}}, 1, AIDEV_ERROR_INVALID_ARGUMENT, "size 3"},
        {{aidev_spec_u32(1, 0)}, AIDEV_MAX_SPEC_CONSTANTS + 1, AIDEV_ERROR_INVALID_ARGUMENT,
         "spec_constant_count 33"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        aidev_kernel_desc desc = spec_desc(bad[i].count, bad[i].c);
        aidev_kernel k = NULL;
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k), bad[i].st, bad[i].names);
        ck_assert_ptr_null(k);
    }
#endif
    kc_close(&d);
}
END_TEST

/* Constants on a form that has none: refused, pointing at what it has. */
START_TEST(test_spec_constants_other_forms)
{
    kc_device d = kc_open(_i);
    uint64_t f = features_of(&d);
    const aidev_kernel_spec_constant c = aidev_spec_u32(1, 2);
    const aidev_kernel_source_kind kinds[] = {AIDEV_KERNEL_SOURCE_OPENCL_C,
                                              AIDEV_KERNEL_SOURCE_HOST};
    const uint64_t need[] = {AIDEV_FEATURE_KERNEL_OPENCL_C, AIDEV_FEATURE_KERNEL_HOST};
    const char *hint[] = {"use -D in desc->build_options", "not a C (host) kernel"};
    for (int i = 0; i < 2; i++) {
        aidev_kernel_desc desc = copy_desc(kinds[i], NULL, 0);
        desc.spec_constant_count = 1;
        desc.spec_constants = &c;
        aidev_kernel k = NULL;
        aidev_status st = aidev_kernel_create(d.dev, &desc, &k);
        if (f & need[i])
            ck_assert_msg(st == AIDEV_ERROR_INVALID_ARGUMENT &&
                              strstr(aidev_last_error(), "spec_constant_count 1") &&
                              strstr(aidev_last_error(), hint[i]),
                          "constants on kind %d on %s: %s: %s", (int)kinds[i], d.label,
                          aidev_status_string(st), aidev_last_error());
        else
            ck_assert_status(st, AIDEV_ERROR_UNSUPPORTED);
        ck_assert_ptr_null(k);
    }
    kc_close(&d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Local-memory arguments                                                   */
/* ------------------------------------------------------------------------ */

/* Each workgroup sums its items in __local memory (a tree reduction) and
 * writes one partial sum. */
static const char wgsum_opencl[] =
    "__kernel void user_wgsum(uint n, __global const float *x, __global float *partial,\n"
    "                         __local float *scratch)\n"
    "{\n"
    "    size_t lid = get_local_id(0), gid = get_global_id(0), size = get_local_size(0);\n"
    "    scratch[lid] = gid < n ? x[gid] : 0.0f;\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (size_t s = size / 2; s > 0; s /= 2) {\n"
    "        if (lid < s)\n"
    "            scratch[lid] += scratch[lid + s];\n"
    "        barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    }\n"
    "    if (lid == 0)\n"
    "        partial[get_group_id(0)] = scratch[0];\n"
    "}\n";

static const aidev_kernel_arg_desc wgsum_args[] = {
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ, "n"},
    {"partial", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE, NULL},
    {"scratch", AIDEV_ARG_LOCAL, AIDEV_TYPE_F32, 0, NULL},
};

static aidev_kernel_desc wgsum_desc(aidev_kernel_source_kind kind)
{
    aidev_kernel_desc d = {.name = "user_wgsum", .source_kind = kind, .data = wgsum_opencl,
                           .arg_count = 4, .args = wgsum_args};
    if (kind == AIDEV_KERNEL_SOURCE_HOST)
        d.data = NULL, d.host_fn = host_copy;
    return d;
}

/* n items summed per workgroup of |wg| (a power of two) with |wg| floats
 * of local memory; small integers, so every sum is exact. */
static void run_wgsum(const kc_device *d, aidev_kernel k, uint32_t n, uint32_t wg)
{
    uint32_t groups = (n + wg - 1) / wg;
    float *x = kc_alloc((size_t)n * sizeof(float));
    float *got = kc_alloc((size_t)groups * sizeof(float));
    for (uint32_t i = 0; i < n; i++)
        x[i] = (float)((i * 7u + wg) % 19u) - 9.0f;
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, n, x);
    aidev_buffer bp = kc_buffer(d, AIDEV_TYPE_F32, groups, NULL);
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_buffer(bx, 0), aidev_arg_buffer(bp, 0),
                        aidev_arg_local((uint64_t)wg * sizeof(float))};
    const uint32_t grid[3] = {groups * wg, 1, 1}, workgroup[3] = {wg, 1, 1};
    ck_assert_ok(aidev_enqueue_dispatch(d->queue, k, grid, workgroup, 4, args, 0, NULL, NULL));
    kc_read(d, bp, AIDEV_TYPE_F32, groups, got);
    for (uint32_t g = 0; g < groups; g++) {
        float want = 0;
        for (uint32_t i = g * wg; i < n && i < (g + 1) * wg; i++)
            want += x[i];
        ck_assert_msg(got[g] == want, "user_wgsum n %u, workgroup %u on %s: partial[%u] = %g, "
                      "want %g", n, wg, d->label, g, (double)got[g], (double)want);
    }
    aidev_buffer_release(bx);
    aidev_buffer_release(bp);
    free(x), free(got);
}

/* A local-memory argument's size is checked at each dispatch. */
static void wgsum_refusals(const kc_device *d, aidev_kernel k)
{
    uint64_t local = 0;
    ck_assert_ok(aidev_device_get_info(d->dev, AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES,
                                       sizeof local, &local, NULL));
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, 64, NULL);
    aidev_arg args[] = {aidev_arg_u32(64), aidev_arg_buffer(bx, 0), aidev_arg_buffer(bx, 0),
                        aidev_arg_local(0)};
    const uint32_t grid[3] = {64, 1, 1}, workgroup[3] = {64, 1, 1};
    ck_assert_error_names(aidev_enqueue_dispatch(d->queue, k, grid, workgroup, 4, args, 0, NULL,
                                                 NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "'scratch': local memory of 0 bytes");
    args[3] = aidev_arg_local(6);
    ck_assert_error_names(aidev_enqueue_dispatch(d->queue, k, grid, workgroup, 4, args, 0, NULL,
                                                 NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "whole number of f32");
    if (local) {
        args[3] = aidev_arg_local(local + 4);
        ck_assert_error_names(aidev_enqueue_dispatch(d->queue, k, grid, workgroup, 4, args, 0,
                                                     NULL, NULL),
                              AIDEV_ERROR_OUT_OF_RANGE, "bytes of local memory");
    }
    args[3] = aidev_arg_u32(256);
    ck_assert_error_names(aidev_enqueue_dispatch(d->queue, k, grid, workgroup, 4, args, 0, NULL,
                                                 NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "must be a local memory size");
    aidev_buffer_release(bx);
}

START_TEST(test_local_args)
{
    kc_device d = kc_open(_i);
    aidev_kernel_desc desc = wgsum_desc(AIDEV_KERNEL_SOURCE_OPENCL_C);
    aidev_kernel k = NULL;
    if (!(features_of(&d) & AIDEV_FEATURE_KERNEL_OPENCL_C)) {
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_UNSUPPORTED,
                              "user_wgsum");
        fprintf(stderr, "SKIP local-memory arguments on %s: no OpenCL C kernels (%s)\n", d.label,
                aidev_last_error());
        kc_close(&d);
        return;
    }
    if (!offers(&d, AIDEV_FEATURE_KERNEL_LOCAL_ARGS, &desc, "local-memory arguments")) {
        kc_close(&d);
        return;
    }
    ck_assert_ok(aidev_kernel_create(d.dev, &desc, &k));
    run_wgsum(&d, k, 1000, 64);
    run_wgsum(&d, k, 1000, 128); /* another size: the argument is set again */
    run_wgsum(&d, k, 1000, 64);
    run_wgsum(&d, k, 1, 16);
    wgsum_refusals(&d, k);
    ck_assert_ok(aidev_kernel_release(k));

    /* The signature and the source must agree on which argument is local. */
    aidev_kernel_arg_desc global_args[4];
    memcpy(global_args, wgsum_args, sizeof global_args);
    global_args[3] = (aidev_kernel_arg_desc){"scratch", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32,
                                             AIDEV_ACCESS_READ_WRITE, NULL};
    desc.args = global_args;
    ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_KERNEL_ARGS,
                          "(a __local pointer)");
    desc = copy_desc(AIDEV_KERNEL_SOURCE_OPENCL_C, NULL, 0);
    aidev_kernel_arg_desc local_args[3];
    memcpy(local_args, copy_args, sizeof local_args);
    local_args[2] = (aidev_kernel_arg_desc){"y", AIDEV_ARG_LOCAL, AIDEV_TYPE_F32, 0, NULL};
    desc.args = local_args;
    ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_KERNEL_ARGS,
                          "(not a __local pointer)");
    /* A count belongs to buffers only. */
    local_args[2].count = "n";
    ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_INVALID_ARGUMENT,
                          "only buffer arguments have one");
    kc_close(&d);
}
END_TEST

/* C and SPIR-V kernels have no local-memory arguments: refused with what
 * to do instead. */
START_TEST(test_local_args_other_forms)
{
    kc_device d = kc_open(_i);
    uint64_t f = features_of(&d);
    aidev_kernel k = NULL;
    aidev_kernel_desc desc = wgsum_desc(AIDEV_KERNEL_SOURCE_HOST);
    if (f & AIDEV_FEATURE_KERNEL_HOST)
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k),
                              AIDEV_ERROR_INVALID_ARGUMENT, "keeps its own scratch");
    else
        ck_assert_status(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_UNSUPPORTED);
    ck_assert_ptr_null(k);
#ifdef AIDEV_TEST_USER_SPIRV
    desc = wgsum_desc(AIDEV_KERNEL_SOURCE_SPIRV);
    desc.data = user_affine_spirv;
    desc.size = user_affine_spirv_size;
    if (f & AIDEV_FEATURE_KERNEL_SPIRV)
        ck_assert_error_names(aidev_kernel_create(d.dev, &desc, &k),
                              AIDEV_ERROR_INVALID_ARGUMENT, "shared array");
    else
        ck_assert_status(aidev_kernel_create(d.dev, &desc, &k), AIDEV_ERROR_UNSUPPORTED);
    ck_assert_ptr_null(k);
#endif
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-user-options");
    harness_add_per_device(s, "build_options_refused", test_build_options_refused, 0);
    harness_add_per_device(s, "spec_constants", test_spec_constants, 0);
    harness_add_per_device(s, "spec_constants_other_forms", test_spec_constants_other_forms, 0);
    harness_add_per_device(s, "local_args", test_local_args, 0);
    harness_add_per_device(s, "local_args_other_forms", test_local_args_other_forms, 0);
    return harness_run(s);
}

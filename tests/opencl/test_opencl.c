/*
 * OpenCL backend: what only an OpenCL device shows (user OpenCL C kernels,
 * build logs, the binary cache, buffer offsets, the device clock, names as
 * clinfo gives them), each case on every OpenCL device found. Zero-filled
 * new buffers are checked on every device of every backend.
 */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* A few kernels only: PoCL compiles each in about a second on a cold
 * cache. */
static const char scale_source[] =
    "__kernel void scale(uint n, float a, __global float *x)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    if (i < n)\n"
    "        x[i] *= a;\n"
    "}\n";

static const aidev_kernel_arg_desc scale_args[] = {
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"a", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ_WRITE, "n"},
};

static aidev_kernel_desc scale_desc(void)
{
    aidev_kernel_desc d = {.name = "scale", .source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C,
                           .data = scale_source, .arg_count = 3, .args = scale_args,
                           .grid = {"n", NULL, NULL}};
    return d;
}

/* Case names: Check keeps the pointers until the runner is freed. */
static char *case_names[64];
static int case_name_count;

static void add_opencl(Suite *s, const char *name, const TTest *fn, int timeout)
{
    for (uint32_t d = 0; d < harness_device_count(); d++) {
        if (strcmp(harness_device_backend((int)d), "opencl") != 0)
            continue;
        char case_name[400];
        snprintf(case_name, sizeof case_name, "%s@%s", name, harness_device_label((int)d));
        char *kept = case_name_count < 64 ? strdup(case_name) : NULL;
        if (!kept) {
            fprintf(stderr, "test-opencl: cannot keep case name %s\n", case_name);
            exit(1);
        }
        case_names[case_name_count++] = kept;
        TCase *tc = tcase_create(kept);
        tcase_set_timeout(tc, timeout);
        tcase_add_loop_test(tc, fn, (int)d, (int)d + 1);
        suite_add_tcase(s, tc);
    }
}

static void write_floats(aidev_queue q, aidev_buffer b, const float *v, size_t n)
{
    ck_assert_ok(aidev_enqueue_write(q, b, 0, n * sizeof *v, v, 0, NULL, NULL));
}

static void read_floats(aidev_queue q, aidev_buffer b, float *v, size_t n)
{
    ck_assert_ok(aidev_enqueue_read(q, b, 0, n * sizeof *v, v, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
}

/* ------------------------------------------------------------------------ */
/* User kernels                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(user_kernel_runs)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { N = 1000 };
    float x[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    aidev_kernel_desc desc = scale_desc();
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &desc, &k));
    write_floats(q, b, x, N);
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(3.0f), aidev_arg_buffer(b, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
    /* A second dispatch with other scalars: cached arguments must change. */
    args[0] = aidev_arg_u32(N / 2);
    args[1] = aidev_arg_f32(-1.0f);
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
    read_floats(q, b, out, N);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(out[i], (float)i * 3.0f * (i < N / 2 ? -1.0f : 1.0f));
    aidev_kernel_release(k);
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

/* Offsets a sub-buffer takes (multiples of the base address alignment) and
 * offsets it cannot (staged through a temporary); neither may touch a float
 * outside the declared range. */
START_TEST(user_kernel_buffer_offsets)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { N = 4096 };
    static float x[N], expect[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = expect[i] = 1.0f + (float)i;
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    aidev_kernel_desc desc = scale_desc();
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &desc, &k));
    write_floats(q, b, x, N);
    struct {
        uint32_t first, count;
        float factor;
    } runs[] = {{1024, 100, 3.0f}, {1, 10, 5.0f}, {2001, 77, -2.0f}, {0, 1, 7.0f}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        aidev_arg args[] = {aidev_arg_u32(runs[r].count), aidev_arg_f32(runs[r].factor),
                            aidev_arg_buffer(b, runs[r].first * sizeof(float))};
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
        for (uint32_t i = runs[r].first; i < runs[r].first + runs[r].count; i++)
            expect[i] *= runs[r].factor;
    }
    read_floats(q, b, out, N);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i] == expect[i], "x[%d] = %g, expected %g", i, out[i], expect[i]);
    aidev_kernel_release(k);
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

START_TEST(user_kernel_signature_mismatch)
{
    aidev_device dev = harness_device(_i);
    aidev_kernel k = NULL;
    aidev_kernel_desc desc = scale_desc();
    desc.arg_count = 2; /* the source has three */
    desc.grid[0] = NULL;
    ck_assert_error_names(aidev_kernel_create(dev, &desc, &k), AIDEV_ERROR_KERNEL_ARGS, "3");
    ck_assert_ptr_null(k);

    /* A buffer declared where the source takes a scalar. */
    aidev_kernel_arg_desc swapped[] = {
        {"n", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_READ, NULL},
        {"a", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
        {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ_WRITE, NULL},
    };
    desc = scale_desc();
    desc.args = swapped;
    desc.grid[0] = NULL;
    ck_assert_error_names(aidev_kernel_create(dev, &desc, &k), AIDEV_ERROR_KERNEL_ARGS, "'n'");

    /* A scalar of another type. */
    aidev_kernel_arg_desc retyped[] = {
        {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"a", AIDEV_ARG_SCALAR, AIDEV_TYPE_I32, 0, NULL},
        {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ_WRITE, NULL},
    };
    desc.args = retyped;
    ck_assert_error_names(aidev_kernel_create(dev, &desc, &k), AIDEV_ERROR_KERNEL_ARGS, "'a'");

    /* No __kernel of that name. */
    desc = scale_desc();
    desc.name = "no_such_kernel";
    ck_assert_error_names(aidev_kernel_create(dev, &desc, &k), AIDEV_ERROR_NOT_FOUND,
                          "no_such_kernel");
}
END_TEST

START_TEST(malformed_kernel_gives_build_log)
{
    aidev_device dev = harness_device(_i);
    static const char bad[] = "__kernel void broken(__global float *x)\n"
                              "{\n"
                              "    x[0] = undeclared_identifier_42;\n"
                              "}\n";
    aidev_kernel_arg_desc args[] = {
        {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE, NULL}};
    aidev_kernel_desc desc = {.name = "broken", .source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C,
                              .data = bad, .arg_count = 1, .args = args};
    aidev_kernel k = NULL;
    aidev_status st = aidev_kernel_create(dev, &desc, &k);
    ck_assert_msg(st == AIDEV_ERROR_COMPILE, "got %s: %s", aidev_status_string(st),
                  aidev_last_error());
    ck_assert_ptr_null(k);
    const char *msg = aidev_last_error();
    ck_assert_msg(strstr(msg, "clBuildProgram") && strstr(msg, "CL_BUILD_PROGRAM_FAILURE (-11)"),
                  "no call and code in: %s", msg);
    ck_assert_msg(strstr(msg, "build log") && strstr(msg, "undeclared_identifier_42"),
                  "no build log in: %s", msg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Limits and info                                                          */
/* ------------------------------------------------------------------------ */

START_TEST(allocation_above_max_alloc)
{
    aidev_device dev = harness_device(_i);
    uint64_t max_alloc = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES, sizeof max_alloc,
                                       &max_alloc, NULL));
    ck_assert_uint_gt(max_alloc, 0);
    for (int kind = 0; kind < AIDEV_MEMORY_KIND_COUNT_; kind++) {
        if (!harness_has_kind(dev, (aidev_memory_kind)kind))
            continue;
        aidev_buffer_desc desc = {.size = max_alloc + 4096, .kind = (aidev_memory_kind)kind,
                                  .flags = AIDEV_BUFFER_UNINITIALIZED};
        aidev_buffer b = NULL;
        ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_OUT_OF_RANGE,
                              "largest allocation");
        ck_assert_ptr_null(b);
    }
}
END_TEST

START_TEST(device_info_from_opencl)
{
    aidev_device dev = harness_device(_i);
    char api[64] = "", driver[128] = "";
    uint32_t cus = 0, kinds = 0, wg = 0;
    uint64_t mem = 0, local = 0, features = 0;
    double period = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_API_VERSION, sizeof api, api, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_DRIVER_VERSION, sizeof driver,
                                       driver, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_COMPUTE_UNITS, sizeof cus, &cus,
                                       NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_BYTES, sizeof mem, &mem,
                                       NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES, sizeof local,
                                       &local, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_WORKGROUP_SIZE, sizeof wg, &wg,
                                       NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_KINDS, sizeof kinds, &kinds,
                                       NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_TIMESTAMP_PERIOD_NS, sizeof period,
                                       &period, NULL));
    ck_assert_msg(strncmp(api, "OpenCL ", 7) == 0, "api version '%s'", api);
    ck_assert_str_ne(driver, "");
    ck_assert_uint_gt(cus, 0);
    ck_assert_uint_gt(mem, 0);
    ck_assert_uint_gt(local, 0);
    ck_assert_uint_gt(wg, 0);
    ck_assert(period > 0);
    ck_assert(features & AIDEV_FEATURE_KERNEL_OPENCL_C);
    ck_assert(kinds & AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE));
    ck_assert(kinds & AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST));
    /* SHARED is listed exactly where the device has SVM. */
    bool svm = features & (AIDEV_FEATURE_SVM_COARSE | AIDEV_FEATURE_SVM_FINE);
    ck_assert_int_eq(svm, (kinds & AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED)) != 0);
    if (!svm) {
        aidev_buffer_desc desc = {.size = 64, .kind = AIDEV_MEMORY_SHARED};
        aidev_buffer b;
        ck_assert_status(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_UNSUPPORTED);
    }
}
END_TEST

/* The aidev name is CL_DEVICE_NAME exactly, as clinfo -l prints it. */
START_TEST(names_match_the_driver)
{
    aidev_device dev = harness_device(_i);
    char name[256] = "";
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL));
    /* Which OpenCL device of this name is it (platform order)? */
    int nth = 0;
    for (int d = 0; d < _i; d++) {
        char other[256] = "";
        if (strcmp(harness_device_backend(d), "opencl") != 0)
            continue;
        aidev_device_get_info(harness_device(d), AIDEV_DEVICE_INFO_NAME, sizeof other, other,
                              NULL);
        nth += strcmp(other, name) == 0;
    }
    cl_platform_id platforms[16];
    cl_uint np = 0;
    ck_assert_int_eq(clGetPlatformIDs(16, platforms, &np), CL_SUCCESS);
    bool found = false;
    for (cl_uint p = 0; p < np && p < 16 && !found; p++) {
        cl_device_id ids[64];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 64, ids, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint i = 0; i < nd && i < 64 && !found; i++) {
            char raw[256] = "";
            clGetDeviceInfo(ids[i], CL_DEVICE_NAME, sizeof raw, raw, NULL);
            found = strcmp(raw, name) == 0 && nth-- == 0;
        }
    }
    ck_assert_msg(found, "no OpenCL device is named '%s'", name);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Profiling times, converted to CLOCK_MONOTONIC, fall inside the host's
 * view of the command (with a margin for the calibration). */
START_TEST(event_times_are_monotonic_clock)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { N = 1 << 20 };
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * sizeof(float), AIDEV_TYPE_F32);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "fill_f32", &k));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(b, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    for (int round = 0; round < 5; round++) {
        aidev_event ev;
        uint64_t before = now_ns();
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, &ev));
        ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
        uint64_t after = now_ns();
        aidev_event_times t;
        ck_assert_ok(aidev_event_get_times(ev, &t));
        const uint64_t margin = 200000; /* 0.2 ms */
        ck_assert_msg(t.start + margin >= before && t.start <= t.end && t.end <= after + margin,
                      "before %llu, start %llu, end %llu, after %llu",
                      (unsigned long long)before, (unsigned long long)t.start,
                      (unsigned long long)t.end, (unsigned long long)after);
        ck_assert_uint_ge(t.start, t.queued > margin ? t.queued - margin : 0);
        aidev_event_release(ev);
    }
    aidev_kernel_release(k);
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

/* A command on queue B waits on an event of queue A of the same device
 * whose command the hal still holds (it waits on a user event). A failure
 * of the user event fails A's command and B's, and only those: B's next
 * command, which waits on nothing, runs. */
static void cross_queue(aidev_device dev, bool fail)
{
    aidev_queue qa = harness_queue(dev), qb = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    aidev_buffer c = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    aidev_event user, ea, eb, ec;
    ck_assert_ok(aidev_event_create_user(harness_context(), &user));
    uint32_t one = 1, two = 2, three = 3;
    ck_assert_ok(aidev_enqueue_fill(qa, b, 0, 64, &one, 4, 1, &user, &ea));
    ck_assert_ok(aidev_enqueue_fill(qb, b, 0, 32, &two, 4, 1, &ea, &eb));
    ck_assert_ok(aidev_enqueue_fill(qb, c, 0, 64, &three, 4, 0, NULL, &ec));
    ck_assert_ok(aidev_event_set_status(user, fail ? AIDEV_ERROR_IO : AIDEV_SUCCESS,
                                        fail ? "test failure" : NULL));
    ck_assert_status(aidev_event_wait(ea, AIDEV_WAIT_FOREVER),
                     fail ? AIDEV_ERROR_DEPENDENCY : AIDEV_SUCCESS);
    ck_assert_status(aidev_event_wait(eb, AIDEV_WAIT_FOREVER),
                     fail ? AIDEV_ERROR_DEPENDENCY : AIDEV_SUCCESS);
    ck_assert_ok(aidev_event_wait(ec, AIDEV_WAIT_FOREVER));
    /* Each queue's finish reports its own failure. */
    ck_assert_status(aidev_queue_finish(qa), fail ? AIDEV_ERROR_DEPENDENCY : AIDEV_SUCCESS);
    ck_assert_status(aidev_queue_finish(qb), fail ? AIDEV_ERROR_DEPENDENCY : AIDEV_SUCCESS);
    uint32_t vb[16], vc[16];
    ck_assert_ok(aidev_enqueue_read(qb, b, 0, sizeof vb, vb, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(qb, c, 0, sizeof vc, vc, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qb));
    for (int i = 0; i < 16; i++) {
        ck_assert_uint_eq(vb[i], fail ? 0u : i < 8 ? 2u : 1u);
        ck_assert_uint_eq(vc[i], 3u);
    }
    aidev_event_release(user);
    aidev_event_release(ea);
    aidev_event_release(eb);
    aidev_event_release(ec);
    aidev_buffer_release(b);
    aidev_buffer_release(c);
    aidev_queue_release(qa);
    aidev_queue_release(qb);
}

START_TEST(cross_queue_wait_on_held_command)
{
    cross_queue(harness_device(_i), false);
    cross_queue(harness_device(_i), true);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/* A buffer released while a kernel using it is pending: its memory (SVM
 * for SHARED) must outlive the kernel. ASan watches. */
START_TEST(release_while_pending)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "fill_f32", &k));
    enum { N = 1 << 22 };
    for (int kind = 0; kind < AIDEV_MEMORY_KIND_COUNT_; kind++) {
        if (!harness_has_kind(dev, (aidev_memory_kind)kind))
            continue;
        for (int round = 0; round < 4; round++) {
            aidev_buffer b = harness_buffer(dev, (aidev_memory_kind)kind, N * sizeof(float),
                                            AIDEV_TYPE_F32);
            aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(1.5f), aidev_arg_buffer(b, 0)};
            aidev_event ev;
            ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, &ev));
            ck_assert_ok(aidev_buffer_release(b));
            ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
            aidev_event_release(ev);
        }
    }
    ck_assert_ok(aidev_queue_finish(q));
    aidev_kernel_release(k);
    aidev_queue_release(q);
}
END_TEST

/* SHARED (SVM) and HOST memory: written through a map, changed by a
 * kernel, read through a map. */
START_TEST(mapped_kinds_roundtrip)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel_desc desc = scale_desc();
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &desc, &k));
    enum { N = 1000 };
    for (int kind = AIDEV_MEMORY_HOST; kind <= AIDEV_MEMORY_SHARED; kind++) {
        if (!harness_has_kind(dev, (aidev_memory_kind)kind))
            continue;
        aidev_buffer b = harness_buffer(dev, (aidev_memory_kind)kind, N * sizeof(float),
                                        AIDEV_TYPE_F32);
        float *p;
        ck_assert_ok(aidev_buffer_map(b, 0, N * sizeof(float), AIDEV_MAP_WRITE, (void **)&p));
        for (int i = 0; i < N; i++)
            p[i] = (float)i;
        ck_assert_ok(aidev_buffer_unmap(b));
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(b, 0)};
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
        ck_assert_ok(aidev_buffer_map(b, 0, N * sizeof(float), AIDEV_MAP_READ, (void **)&p));
        for (int i = 0; i < N; i++)
            ck_assert_float_eq(p[i], 2.0f * (float)i);
        ck_assert_ok(aidev_buffer_unmap(b));
        aidev_buffer_release(b);
    }
    aidev_kernel_release(k);
    aidev_queue_release(q);
}
END_TEST

/* Imported host memory, aligned to a page and not: a kernel's writes are
 * seen through a map. */
START_TEST(imported_host_memory)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel_desc desc = scale_desc();
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &desc, &k));
    enum { N = 1024 };
    void *raw = NULL;
    ck_assert_int_eq(posix_memalign(&raw, 4096, (N + 16) * sizeof(float)), 0);
    for (int shift = 0; shift <= 1; shift++) {
        float *x = (float *)raw + shift;
        for (int i = 0; i < N; i++)
            x[i] = (float)i;
        aidev_buffer b;
        ck_assert_ok(aidev_buffer_import_host(dev, x, N * sizeof(float), AIDEV_TYPE_F32, &b));
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(0.5f), aidev_arg_buffer(b, 0)};
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
        float *p;
        ck_assert_ok(aidev_buffer_map(b, 0, N * sizeof(float), AIDEV_MAP_READ, (void **)&p));
        for (int i = 0; i < N; i++)
            ck_assert_float_eq(p[i], 0.5f * (float)i);
        ck_assert_ok(aidev_buffer_unmap(b));
        aidev_buffer_release(b);
    }
    free(raw);
    aidev_kernel_release(k);
    aidev_queue_release(q);
}
END_TEST

/* Every device, every backend: a new buffer reads as zero, also where the
 * memory was just used and freed. */
START_TEST(new_buffers_read_zero)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    const uint64_t sizes[] = {100, 65536, 3u << 20};
    for (int kind = 0; kind < AIDEV_MEMORY_KIND_COUNT_; kind++) {
        if (!harness_has_kind(dev, (aidev_memory_kind)kind))
            continue;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            uint64_t size = sizes[s];
            unsigned char *host = malloc(size);
            ck_assert_ptr_nonnull(host);
            /* Dirty memory of this size first, so that a reused block shows. */
            aidev_buffer dirty = harness_buffer(dev, (aidev_memory_kind)kind, size,
                                                AIDEV_TYPE_NONE);
            uint32_t pattern = 0xdeadbeefu;
            ck_assert_ok(aidev_enqueue_fill(q, dirty, 0, size, &pattern, 4, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            aidev_buffer_release(dirty);
            aidev_buffer b = harness_buffer(dev, (aidev_memory_kind)kind, size, AIDEV_TYPE_NONE);
            memset(host, 0x5a, size);
            ck_assert_ok(aidev_enqueue_read(q, b, 0, size, host, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            uint64_t i = 0;
            while (i < size && host[i] == 0)
                i++;
            ck_assert_msg(i == size, "kind %d, %llu bytes: byte %llu is %#x", kind,
                          (unsigned long long)size, (unsigned long long)i,
                          i < size ? host[i] : 0);
            aidev_buffer_release(b);
            free(host);
        }
    }
    aidev_queue_release(q);
}
END_TEST

/* A new |size|-byte buffer of |kind|, made right after a buffer of the same
 * size was filled with a pattern and freed, so that reused memory shows. */
static aidev_buffer after_dirty(aidev_device dev, aidev_queue q, aidev_memory_kind kind,
                                uint64_t size)
{
    aidev_buffer dirty = harness_buffer(dev, kind, size, AIDEV_TYPE_F32);
    uint32_t pattern = 0xdeadbeefu;
    ck_assert_ok(aidev_enqueue_fill(q, dirty, 0, size, &pattern, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    aidev_buffer_release(dirty);
    return harness_buffer(dev, kind, size, AIDEV_TYPE_F32);
}

/* Reads |b| (|n| floats) on |q|; checks every value is |want| but at
 * index |except|, which must be |there|. */
static void expect_floats(aidev_queue q, aidev_buffer b, uint32_t n, float want, uint32_t except,
                          float there, const char *what)
{
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    read_floats(q, b, v, n);
    for (uint32_t i = 0; i < n; i++) {
        float w = i == except ? there : want;
        ck_assert_msg(v[i] == w, "%s: [%u] = %g, expected %g", what, i, (double)v[i], (double)w);
    }
    free(v);
}

/* Every device, every backend: a new buffer reads as zero whatever command
 * uses it first, on whichever queue (backends that zero in queue order
 * before the first use must catch every kind of first use). */
START_TEST(first_use_reads_zero)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev), other = harness_queue(dev);
    enum { N = 16384 };
    const uint64_t size = N * sizeof(float);
    aidev_kernel axpy;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &axpy));
    for (int kind = 0; kind < AIDEV_MEMORY_KIND_COUNT_; kind++) {
        if (!harness_has_kind(dev, (aidev_memory_kind)kind))
            continue;
        /* The source of a copy. */
        aidev_buffer src = after_dirty(dev, q, (aidev_memory_kind)kind, size);
        aidev_buffer dst = harness_buffer(dev, (aidev_memory_kind)kind, size, AIDEV_TYPE_F32);
        float one = 1.0f;
        ck_assert_ok(aidev_enqueue_fill(q, dst, 0, size, &one, 4, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_copy(q, src, 0, dst, 0, size, 0, NULL, NULL));
        expect_floats(q, dst, N, 0.0f, N, 0.0f, "copied from a new buffer");
        aidev_buffer_release(src);
        aidev_buffer_release(dst);

        /* A kernel's argument: y = 2 * x + y with y new. */
        aidev_buffer y = after_dirty(dev, q, (aidev_memory_kind)kind, size);
        aidev_buffer x = harness_buffer(dev, (aidev_memory_kind)kind, size, AIDEV_TYPE_F32);
        ck_assert_ok(aidev_enqueue_fill(q, x, 0, size, &one, 4, 0, NULL, NULL));
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(x, 0),
                            aidev_arg_buffer(y, 0)};
        ck_assert_ok(aidev_enqueue_dispatch(q, axpy, NULL, NULL, 4, args, 0, NULL, NULL));
        expect_floats(q, y, N, 2.0f, N, 0.0f, "a new kernel argument");
        aidev_buffer_release(x);
        aidev_buffer_release(y);

        /* A write and a fill of part of it. */
        aidev_buffer b = after_dirty(dev, q, (aidev_memory_kind)kind, size);
        float seven = 7.0f;
        ck_assert_ok(aidev_enqueue_write(q, b, 100 * 4, 4, &seven, 0, NULL, NULL));
        expect_floats(q, b, N, 0.0f, 100, 7.0f, "written in part");
        aidev_buffer_release(b);
        b = after_dirty(dev, q, (aidev_memory_kind)kind, size);
        ck_assert_ok(aidev_enqueue_fill(q, b, 200 * 4, 4, &seven, 4, 0, NULL, NULL));
        expect_floats(q, b, N, 0.0f, 200, 7.0f, "filled in part");
        aidev_buffer_release(b);

        /* First used on another queue than the one that dirtied memory. */
        b = after_dirty(dev, q, (aidev_memory_kind)kind, size);
        expect_floats(other, b, N, 0.0f, N, 0.0f, "read first on another queue");
        aidev_buffer_release(b);

        /* Mapped before any command. */
        if (kind != AIDEV_MEMORY_DEVICE) {
            b = after_dirty(dev, q, (aidev_memory_kind)kind, size);
            float *p;
            ck_assert_ok(aidev_buffer_map(b, 0, size, AIDEV_MAP_READ, (void **)&p));
            for (uint32_t i = 0; i < N; i++)
                ck_assert_msg(p[i] == 0.0f, "kind %d, mapped new: [%u] = %g", kind, i,
                              (double)p[i]);
            ck_assert_ok(aidev_buffer_unmap(b));
            aidev_buffer_release(b);
        }
    }
    aidev_kernel_release(axpy);
    aidev_queue_release(other);
    aidev_queue_release(q);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The program cache                                                        */
/* ------------------------------------------------------------------------ */

static void cache_folder(char *out, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    ck_assert_msg(xdg && *xdg, "tests run with XDG_CACHE_HOME set (tests/meson.build)");
    snprintf(out, size, "%s/aidev/opencl", xdg);
}

/* The one entry that appeared in |folder| since |before| (names), or "". */
static void new_entry(const char *folder, char before[][64], int count, char *out, size_t size)
{
    out[0] = '\0';
    DIR *d = opendir(folder);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".bin") || strchr(de->d_name, '.') != strrchr(de->d_name, '.'))
            continue;
        bool old = false;
        for (int i = 0; i < count && !old; i++)
            old = strcmp(before[i], de->d_name) == 0;
        if (!old) {
            ck_assert_msg(!out[0], "two new cache entries: %s and %s", out, de->d_name);
            snprintf(out, size, "%s/%s", folder, de->d_name);
        }
    }
    closedir(d);
}

static int list_entries(const char *folder, char names[][64], int max)
{
    int n = 0;
    DIR *d = opendir(folder);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max)
        if (strlen(de->d_name) < 64)
            snprintf(names[n++], 64, "%.63s", de->d_name);
    closedir(d);
    return n;
}

/* Builds |source| and checks the kernel still computes. */
static void load_and_run(aidev_device dev, const char *source)
{
    aidev_kernel_desc desc = scale_desc();
    desc.data = source;
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &desc, &k));
    aidev_queue q = harness_queue(dev);
    float x[64], out[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i;
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    write_floats(q, b, x, 64);
    aidev_arg args[] = {aidev_arg_u32(64), aidev_arg_f32(4.0f), aidev_arg_buffer(b, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
    read_floats(q, b, out, 64);
    for (int i = 0; i < 64; i++)
        ck_assert_float_eq(out[i], 4.0f * (float)i);
    aidev_buffer_release(b);
    aidev_queue_release(q);
    aidev_kernel_release(k);
}

/* The whole file at |path|, malloc'd. */
static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(n > 0 ? (size_t)n : 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

static bool same_time(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Damages the entry with |damage|, loads again, and checks that the entry
 * was rewritten (a later time, other bytes) and the kernel still works. */
static void damaged_entry_is_rebuilt(aidev_device dev, const char *source, const char *entry,
                                     void (*damage)(const char *path))
{
    damage(entry);
    struct stat damaged, rebuilt;
    size_t damaged_size, rebuilt_size;
    ck_assert_int_eq(stat(entry, &damaged), 0);
    unsigned char *bad = slurp(entry, &damaged_size);
    load_and_run(dev, source);
    ck_assert_int_eq(stat(entry, &rebuilt), 0);
    unsigned char *good = slurp(entry, &rebuilt_size);
    ck_assert_msg(!same_time(&damaged, &rebuilt), "the damaged entry was not rewritten");
    ck_assert_msg(damaged_size != rebuilt_size || memcmp(bad, good, rebuilt_size) != 0,
                  "the damaged bytes are still there");
    free(bad);
    free(good);
}

static void flip_a_byte(const char *path)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    off_t at = st.st_size - st.st_size / 3;
    unsigned char byte;
    ck_assert_int_eq(pread(fd, &byte, 1, at), 1);
    byte ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &byte, 1, at), 1);
    close(fd);
}

static void cut_in_half(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size / 2), 0);
}

static void fill_with_junk(const char *path)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    static unsigned char junk[1 << 16];
    memset(junk, 0xa5, sizeof junk);
    for (off_t off = 0; off < st.st_size; off += (off_t)sizeof junk)
        ck_assert_int_gt(pwrite(fd, junk, sizeof junk, off), 0);
    ck_assert_int_eq(ftruncate(fd, st.st_size), 0);
    close(fd);
}

START_TEST(binary_cache_hit_and_corruption)
{
    aidev_device dev = harness_device(_i);
    char folder[4096], entry[4400];
    cache_folder(folder, sizeof folder);
    static char before[4096][64];
    int count = list_entries(folder, before, 4096);

    /* A source no earlier run has built: the first load compiles it and
     * writes one entry. */
    char source[512];
    snprintf(source, sizeof source, "/* cache test %ld %llu */\n%s", (long)getpid(),
             (unsigned long long)now_ns(), scale_source);
    load_and_run(dev, source);
    new_entry(folder, before, count, entry, sizeof entry);
    ck_assert_msg(entry[0], "no cache entry was written in %s", folder);

    /* The second load is a hit: the entry stays as it is (a miss would
     * write it again). */
    struct stat first, again;
    size_t first_size, again_size;
    ck_assert_int_eq(stat(entry, &first), 0);
    unsigned char *a = slurp(entry, &first_size);
    load_and_run(dev, source);
    ck_assert_int_eq(stat(entry, &again), 0);
    unsigned char *b = slurp(entry, &again_size);
    ck_assert_msg(same_time(&first, &again), "a cache hit rewrote the entry");
    ck_assert_uint_eq(first_size, again_size);
    ck_assert_int_eq(memcmp(a, b, first_size), 0);
    free(a);
    free(b);

    /* Damaged entries are detected, never trusted, and rebuilt. */
    damaged_entry_is_rebuilt(dev, source, entry, flip_a_byte);
    damaged_entry_is_rebuilt(dev, source, entry, cut_in_half);
    damaged_entry_is_rebuilt(dev, source, entry, fill_with_junk);
    unlink(entry);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Who may write the cache                                                  */
/* ------------------------------------------------------------------------ */

/* The entry format and its checksum, as an attacker would read them from
 * backends/opencl/cache.c: the checksum catches damage, not a writer. */
typedef struct planted_header {
    char magic[8];
    uint32_t format;
    uint32_t key_size;
    uint64_t payload_size;
    uint64_t checksum;
} planted_header;

static uint64_t planted_hash64(const void *data, size_t size, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* An entry with the key of |victim| (the path of a genuine entry) and the
 * binary of |payload_from| (another genuine entry), with a valid
 * checksum: what the driver would run for |victim|'s source if it were
 * loaded. */
static unsigned char *forge_entry(const char *victim, const char *payload_from, size_t *size)
{
    size_t vs, ps;
    unsigned char *v = slurp(victim, &vs), *p = slurp(payload_from, &ps);
    planted_header hv, hp;
    ck_assert_uint_ge(vs, sizeof hv);
    ck_assert_uint_ge(ps, sizeof hp);
    memcpy(&hv, v, sizeof hv);
    memcpy(&hp, p, sizeof hp);
    const unsigned char *key = v + sizeof hv, *payload = p + sizeof hp + hp.key_size;
    planted_header h = hv;
    h.payload_size = hp.payload_size;
    h.checksum = planted_hash64(payload, (size_t)hp.payload_size,
                                planted_hash64(key, hv.key_size, 0x243f6a8885a308d3ull));
    *size = sizeof h + hv.key_size + (size_t)hp.payload_size;
    unsigned char *out = malloc(*size);
    ck_assert_ptr_nonnull(out);
    memcpy(out, &h, sizeof h);
    memcpy(out + sizeof h, key, hv.key_size);
    memcpy(out + sizeof h + hv.key_size, payload, (size_t)hp.payload_size);
    free(v);
    free(p);
    return out;
}

static void write_bytes(const char *path, const unsigned char *data, size_t size, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* Builds |source| (scale's signature) and returns x[1] after x = {0, 1,
 * ...} is scaled by 3. */
static float scaled_one(aidev_device dev, const char *source)
{
    aidev_kernel_desc desc = scale_desc();
    desc.data = source;
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &desc, &k));
    aidev_queue q = harness_queue(dev);
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    write_floats(q, b, x, 8);
    aidev_arg args[] = {aidev_arg_u32(8), aidev_arg_f32(3.0f), aidev_arg_buffer(b, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
    read_floats(q, b, x, 8);
    aidev_buffer_release(b);
    aidev_queue_release(q);
    aidev_kernel_release(k);
    return x[1];
}

/* An entry another user could have written is never loaded: a forged
 * entry (the key of an honest source, the binary of a kernel that scales
 * by a + 1, a valid checksum) in a folder others can write, or itself
 * writable by others, owned by another user or a link, leaves the result
 * right. The same forgery in a private folder does run: the proof that it
 * would be seen if it were loaded. */
START_TEST(planted_cache_entry_is_never_loaded)
{
    aidev_device dev = harness_device(_i);
    char root[4096], aidev_dir[4200], folder[4300], honest_entry[4400], evil_entry[4400];
    const char *base = getenv("AIDEV_TEST_BUILD_ROOT");
    snprintf(root, sizeof root, "%s/opencl-planted-XXXXXX", base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    setenv("XDG_CACHE_HOME", root, 1);
    snprintf(aidev_dir, sizeof aidev_dir, "%s/aidev", root);
    snprintf(folder, sizeof folder, "%s/opencl", aidev_dir);

    char honest[512], evil[512];
    unsigned long long tag = (unsigned long long)now_ns();
    snprintf(honest, sizeof honest, "/* planted test %llu */\n%s", tag, scale_source);
    snprintf(evil, sizeof evil,
             "/* planted test %llu, evil */\n"
             "__kernel void scale(uint n, float a, __global float *x)\n"
             "{\n"
             "    size_t i = get_global_id(0);\n"
             "    if (i < n)\n"
             "        x[i] *= a + 1.0f;\n"
             "}\n",
             tag);
    static char before[64][64];
    ck_assert_float_eq(scaled_one(dev, honest), 3.0f);
    new_entry(folder, before, 0, honest_entry, sizeof honest_entry);
    ck_assert_msg(honest_entry[0], "no entry in %s", folder);
    int count = list_entries(folder, before, 64);
    ck_assert_float_eq(scaled_one(dev, evil), 4.0f);
    new_entry(folder, before, count, evil_entry, sizeof evil_entry);
    ck_assert_msg(evil_entry[0], "no entry for the second source in %s", folder);
    size_t forged_size;
    unsigned char *forged = forge_entry(honest_entry, evil_entry, &forged_size);

    /* In the user's own folder the forgery runs. */
    write_bytes(honest_entry, forged, forged_size, 0600);
    ck_assert_float_eq(scaled_one(dev, honest), 4.0f);

    /* AIDEV_DEBUG=cache says why the cache is bypassed, once. */
    ck_assert_int_eq(chmod(folder, 0777), 0);
    char log_path[4300];
    snprintf(log_path, sizeof log_path, "%s/stderr.log", root);
    fflush(stderr);
    int saved = dup(2), log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(log_fd, 0);
    ck_assert_int_ge(dup2(log_fd, 2), 0);
    setenv("AIDEV_DEBUG", "cache", 1);
    float first = scaled_one(dev, honest), second = scaled_one(dev, honest);
    unsetenv("AIDEV_DEBUG");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(log_fd);
    ck_assert_float_eq(first, 3.0f);
    ck_assert_float_eq(second, 3.0f);
    size_t log_size;
    char *log = (char *)slurp(log_path, &log_size);
    log = realloc(log, log_size + 1);
    log[log_size] = '\0';
    const char *said = strstr(log, "bypassed");
    ck_assert_msg(said && strstr(log, "writable by every user") && !strstr(said + 1, "bypassed"),
                  "AIDEV_DEBUG=cache said: %s", log);
    free(log);
    ck_assert_int_eq(chmod(folder, 0700), 0);

    /* A folder others can write: the cache is bypassed, not even written. */
    const mode_t open_modes[] = {0777, 0770, 0703};
    for (int m = 0; m < 3; m++) {
        for (int level = 0; level < 2; level++) {
            const char *where = level ? aidev_dir : folder;
            ck_assert_int_eq(chmod(where, open_modes[m]), 0);
            write_bytes(honest_entry, forged, forged_size, 0600);
            ck_assert_msg(scaled_one(dev, honest) == 3.0f,
                          "the forged entry was loaded from %s (mode %04o)", where,
                          (unsigned)open_modes[m]);
            size_t size;
            unsigned char *now = slurp(honest_entry, &size);
            ck_assert_msg(size == forged_size && memcmp(now, forged, size) == 0,
                          "the cache wrote into %s (mode %04o)", where, (unsigned)open_modes[m]);
            free(now);
            ck_assert_int_eq(chmod(where, 0700), 0);
        }
    }

    /* In a private folder, an entry others can write, or of another user,
     * or a link to one: not loaded, and replaced by an honest build. */
    for (int c = 0; c < 4; c++) {
        if (c == 2 && geteuid() != 0)
            continue; /* only root can give a file away */
        char target[4500];
        snprintf(target, sizeof target, "%s/forged", root);
        if (c == 3) {
            write_bytes(target, forged, forged_size, 0600);
            unlink(honest_entry);
            ck_assert_int_eq(symlink(target, honest_entry), 0);
        } else {
            write_bytes(honest_entry, forged, forged_size, c == 0 ? 0666 : c == 1 ? 0620 : 0600);
            if (c == 2)
                ck_assert_int_eq(chown(honest_entry, 65534, 65534), 0);
        }
        ck_assert_msg(scaled_one(dev, honest) == 3.0f, "case %d: the forged entry was loaded", c);
        struct stat st;
        ck_assert_int_eq(lstat(honest_entry, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0,
                      "case %d: the entry was not replaced (mode %04o, owner %u)", c,
                      (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
        /* ... and the honest entry is a hit again. */
        ck_assert_float_eq(scaled_one(dev, honest), 3.0f);
    }
    free(forged);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Reductions (launch REDUCE: multi-pass over scratch buffers)              */
/* ------------------------------------------------------------------------ */

/* The library's "reduce_sum" when it has the signature (u32 n, f32 x[n],
 * f32 y[1]), else NULL: the case is registered only then. */
static const aidev_kernel_desc *library_sum(void)
{
    for (uint32_t i = 0; i < aidev_library_kernel_count(); i++) {
        const aidev_kernel_desc *d = aidev_library_kernel(i);
        if (strcmp(d->name, "reduce_sum") != 0)
            continue;
        const aidev_kernel_arg_desc *a = d->args;
        if (d->arg_count == 3 && a[0].kind == AIDEV_ARG_SCALAR && a[0].type == AIDEV_TYPE_U32 &&
            a[1].kind == AIDEV_ARG_BUFFER && a[1].type == AIDEV_TYPE_F32 &&
            a[2].kind == AIDEV_ARG_BUFFER && a[2].type == AIDEV_TYPE_F32)
            return d;
    }
    return NULL;
}

/* Sizes that take one pass, several, and a last group that is not full;
 * inputs at offsets a sub-buffer takes and offsets it cannot; the output
 * element only is written. Integers in floats: every order of adding
 * them gives the exact sum. */
START_TEST(sum_reduces_in_passes)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "reduce_sum", &k));
    const uint32_t sizes[] = {1, 7, 1000, 65536, (1u << 20) + 3};
    const uint32_t offsets[] = {0, 32, 5}; /* elements */
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            uint32_t n = sizes[s], off = offsets[o];
            float *x = malloc(((size_t)n + off) * sizeof *x);
            ck_assert_ptr_nonnull(x);
            double expect = 0;
            for (uint32_t i = 0; i < n + off; i++) {
                x[i] = (float)((int)(i % 13) - 6);
                if (i >= off)
                    expect += x[i];
            }
            aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE,
                                             ((uint64_t)n + off) * sizeof *x, AIDEV_TYPE_F32);
            aidev_buffer bo = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 16 * sizeof(float),
                                             AIDEV_TYPE_F32);
            ck_assert_ok(aidev_enqueue_write(q, bx, 0, ((uint64_t)n + off) * sizeof *x, x, 0,
                                             NULL, NULL));
            aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_buffer(bx, off * sizeof(float)),
                                aidev_arg_buffer(bo, (off % 16) * sizeof(float))};
            ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 3, args, 0, NULL, NULL));
            float out[16];
            ck_assert_ok(aidev_enqueue_read(q, bo, 0, sizeof out, out, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            for (uint32_t i = 0; i < 16; i++)
                ck_assert_msg(out[i] == (i == off % 16 ? (float)expect : 0.0f),
                              "n %u, offset %u: out[%u] = %g, sum %g", n, off, i, out[i],
                              expect);
            aidev_buffer_release(bx);
            aidev_buffer_release(bo);
            free(x);
        }
    }
    aidev_kernel_release(k);
    aidev_queue_release(q);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Queues without events run untimed, then move to profiling                */
/* ------------------------------------------------------------------------ */

/* One thread's stream on a shared queue: K times, fill y with k then add y
 * to z (z += y). Only in queue order does z end as 0 + 1 + ... + K-1: a
 * fill that ran after its add, or before the previous add, shows. One
 * thread asks for an event half way, which moves the queue to profiling
 * while the others are mid-stream. */
typedef struct order_job {
    aidev_queue q;
    aidev_kernel fill, axpy;
    aidev_buffer y, z;
    bool asks_event;
    int errors;
} order_job;

enum { ORDER_N = 64, ORDER_K = 120 };

static void *order_stream(void *arg)
{
    order_job *j = arg;
    for (int k = 0; k < ORDER_K; k++) {
        aidev_arg fill[] = {aidev_arg_u32(ORDER_N), aidev_arg_f32((float)k),
                            aidev_arg_buffer(j->y, 0)};
        aidev_arg add[] = {aidev_arg_u32(ORDER_N), aidev_arg_f32(1.0f), aidev_arg_buffer(j->y, 0),
                           aidev_arg_buffer(j->z, 0)};
        aidev_event ev = NULL;
        bool with_event = j->asks_event && k == ORDER_K / 2;
        j->errors += aidev_enqueue_dispatch(j->q, j->fill, NULL, NULL, 3, fill, 0, NULL,
                                            with_event ? &ev : NULL) != AIDEV_SUCCESS;
        j->errors += aidev_enqueue_dispatch(j->q, j->axpy, NULL, NULL, 4, add, 0, NULL, NULL) !=
                     AIDEV_SUCCESS;
        if (ev) {
            aidev_event_times t;
            j->errors += aidev_event_wait(ev, AIDEV_WAIT_FOREVER) != AIDEV_SUCCESS;
            j->errors += aidev_event_get_times(ev, &t) != AIDEV_SUCCESS || t.start > t.end ||
                         t.start == 0;
            aidev_event_release(ev);
        }
    }
    return NULL;
}

/* A queue that signals no event runs without profiling; its first command
 * with an event moves it to a profiling queue, which runs after everything
 * the first one holds, also when other threads enqueue on it meanwhile. */
START_TEST(queue_moves_to_profiling_in_order)
{
    aidev_device dev = harness_device(_i);
    aidev_kernel fill, axpy;
    ck_assert_ok(aidev_kernel_get(dev, "fill_f32", &fill));
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &axpy));
    enum { T = 4 };
    for (int round = 0; round < 4; round++) {
        aidev_queue q = harness_queue(dev);
        order_job jobs[T];
        pthread_t threads[T];
        for (int t = 0; t < T; t++) {
            jobs[t] = (order_job){q, fill, axpy, NULL, NULL, t == round % T, 0};
            jobs[t].y = harness_buffer(dev, AIDEV_MEMORY_DEVICE, ORDER_N * 4, AIDEV_TYPE_F32);
            jobs[t].z = harness_buffer(dev, AIDEV_MEMORY_DEVICE, ORDER_N * 4, AIDEV_TYPE_F32);
        }
        /* Round 0 starts the stream on this thread, so the queue has work
         * in flight on the untimed queue when the others begin. */
        for (int t = 0; t < T; t++)
            pthread_create(&threads[t], NULL, order_stream, &jobs[t]);
        for (int t = 0; t < T; t++)
            pthread_join(threads[t], NULL);
        ck_assert_ok(aidev_queue_finish(q));
        const float want = (float)(ORDER_K * (ORDER_K - 1) / 2);
        for (int t = 0; t < T; t++) {
            float z[ORDER_N];
            ck_assert_msg(jobs[t].errors == 0, "round %d thread %d: %d errors", round, t,
                          jobs[t].errors);
            read_floats(q, jobs[t].z, z, ORDER_N);
            for (int i = 0; i < ORDER_N; i++)
                ck_assert_msg(z[i] == want, "round %d thread %d: z[%d] = %g, want %g", round, t,
                              i, z[i], want);
            aidev_buffer_release(jobs[t].y);
            aidev_buffer_release(jobs[t].z);
        }
        /* And the queue goes on, timed, with and without events. */
        aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, ORDER_N * 4, AIDEV_TYPE_F32);
        aidev_arg args[] = {aidev_arg_u32(ORDER_N), aidev_arg_f32(7.0f), aidev_arg_buffer(b, 0)};
        aidev_event ev;
        ck_assert_ok(aidev_enqueue_dispatch(q, fill, NULL, NULL, 3, args, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_dispatch(q, fill, NULL, NULL, 3, args, 0, NULL, &ev));
        ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
        aidev_event_release(ev);
        float v[ORDER_N];
        read_floats(q, b, v, ORDER_N);
        ck_assert(v[0] == 7.0f && v[ORDER_N - 1] == 7.0f);
        aidev_buffer_release(b);
        aidev_queue_release(q);
    }
    aidev_kernel_release(fill);
    aidev_kernel_release(axpy);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("opencl");
    add_opencl(s, "user_kernel_runs", user_kernel_runs, 120);
    add_opencl(s, "user_kernel_buffer_offsets", user_kernel_buffer_offsets, 120);
    add_opencl(s, "user_kernel_signature_mismatch", user_kernel_signature_mismatch, 120);
    add_opencl(s, "malformed_kernel_gives_build_log", malformed_kernel_gives_build_log, 120);
    add_opencl(s, "allocation_above_max_alloc", allocation_above_max_alloc, 60);
    add_opencl(s, "device_info_from_opencl", device_info_from_opencl, 60);
    add_opencl(s, "names_match_the_driver", names_match_the_driver, 60);
    add_opencl(s, "event_times_are_monotonic_clock", event_times_are_monotonic_clock, 120);
    add_opencl(s, "queue_moves_to_profiling_in_order", queue_moves_to_profiling_in_order, 240);
    add_opencl(s, "cross_queue_wait_on_held_command", cross_queue_wait_on_held_command, 60);
    add_opencl(s, "release_while_pending", release_while_pending, 120);
    add_opencl(s, "mapped_kinds_roundtrip", mapped_kinds_roundtrip, 120);
    add_opencl(s, "imported_host_memory", imported_host_memory, 120);
    add_opencl(s, "binary_cache_hit_and_corruption", binary_cache_hit_and_corruption, 240);
    add_opencl(s, "planted_cache_entry_is_never_loaded", planted_cache_entry_is_never_loaded,
               300);
    harness_add_per_device(s, "new_buffers_read_zero", new_buffers_read_zero, 120);
    harness_add_per_device(s, "first_use_reads_zero", first_use_reads_zero, 120);
    if (library_sum())
        add_opencl(s, "sum_reduces_in_passes", sum_reduces_in_passes, 240);
    else
        fprintf(stderr, "test-opencl: no library kernel reduce_sum(u32, f32[], f32[]): the "
                        "REDUCE launch case is not registered\n");
    int status = harness_run(s);
    for (int i = 0; i < case_name_count; i++)
        free(case_names[i]);
    return status;
}

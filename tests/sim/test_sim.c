/*
 * test_sim.c - the simulated-device backend (backends/sim): its
 * configuration, what its devices say of themselves, its memory, and its
 * timing model.
 *
 * The timing checks hold on a loaded machine: a simulated command never
 * takes less than its model, so they assert lower bounds (from the event's
 * times and the clock) and the order of bookings on an engine, never an
 * upper bound. The modelled times are computed here independently of
 * backends/sim/sim_model.c, from its README's formulas.
 *
 * Each case makes its own context with its own AIDEV_SIM_DEVICES (the
 * registry reloads when the last context goes). Built-tree discovery finds
 * the plugin; tests/sim/meson.build sets AIDEV_BACKENDS=sim,cpu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h" /* the assertions; each case makes its own context */

/* A discrete device, slow enough that every modelled time below is far
 * above what the host needs, and a unified one. */
#define FAR "far:gflops=0.5,mem_gbps=0.5,link_gbps=0.25,latency_us=2000,memory=64M"
#define NEAR "near:gflops=1,mem_gbps=1,link_gbps=8,latency_us=1000,unified=1,memory=32M"
/* Slow memory, a fast link: kernels last long, transfers not. */
#define SLOWMEM "slowmem:gflops=1,mem_gbps=0.1,link_gbps=1,latency_us=10"
/* Compute-bound: fast memory. */
#define SLOWCOMPUTE "slowcompute:gflops=0.5,mem_gbps=100,link_gbps=100,latency_us=10,unified=1"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static aidev_context open_sims(const char *config)
{
    setenv("AIDEV_SIM_DEVICES", config, 1);
    aidev_context ctx = NULL;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    return ctx;
}

/* The sim backend's report in |ctx|. */
static aidev_backend_report sim_report(aidev_context ctx)
{
    aidev_backend_report reports[64];
    uint32_t n = 64;
    ck_assert_ok(aidev_context_get_backends(ctx, &n, reports));
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(reports[i].name, "sim") == 0)
            return reports[i];
    ck_abort_msg("no report of the sim backend (is it built in backends/sim?)");
    return reports[0];
}

/* The sim device named "sim:|name| ...". */
static aidev_device sim_device(aidev_context ctx, const char *name)
{
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &n, NULL));
    char want[64];
    snprintf(want, sizeof want, "sim:%s ", name);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        char label[256];
        ck_assert_ok(aidev_context_get_device(ctx, i, &d));
        ck_assert_ok(aidev_device_get_info(d, AIDEV_DEVICE_INFO_NAME, sizeof label, label, NULL));
        if (strncmp(label, want, strlen(want)) == 0)
            return d;
    }
    ck_abort_msg("no simulated device '%s'", name);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

START_TEST(unset_offers_no_device)
{
    unsetenv("AIDEV_SIM_DEVICES");
    aidev_context ctx = NULL;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    aidev_backend_report r = sim_report(ctx);
    ck_assert_int_eq(r.state, AIDEV_BACKEND_SKIPPED);
    ck_assert_msg(strstr(r.reason, "AIDEV_SIM_DEVICES is not set"), "reason: %s", r.reason);
    ck_assert_int_eq(r.device_count, 0);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

/* Each malformed value fails the backend with a reason naming what is
 * wrong; the other backends still load. */
static const struct {
    const char *value, *reason;
} sim_bad_configs[] = {
    {"a:gflops=1", "'mem_gbps' is missing"},
    {"a:gflops=x,mem_gbps=1,link_gbps=1,latency_us=1", "gflops='x' is not a number"},
    {"a:gflops=1e9,mem_gbps=1,link_gbps=1,latency_us=1", "gflops='1e9'"},
    {"a:gflops=0,mem_gbps=1,link_gbps=1,latency_us=1", "gflops='0'"},
    {"a:gflops=1,mem_gbps=-2,link_gbps=1,latency_us=1", "mem_gbps='-2'"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1 ,latency_us=1", "link_gbps='1 '"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1,latency_us=nan", "latency_us='nan'"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1,latency_us=1,memory=3X", "memory='3X'"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1,latency_us=1,memory=0", "memory='0'"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1,latency_us=1,unified=yes", "unified='yes'"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1,latency_us=1,gflops=2", "key 'gflops' given twice"},
    {"a:gflop=1", "unknown key 'gflop'"},
    {"a:gflops=1,,mem_gbps=1", "'' is not KEY=VALUE"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1,latency_us=1;", "entry 2: is empty"},
    {"a:gflops=1,mem_gbps=1,link_gbps=1,latency_us=1;a:gflops=1,mem_gbps=1,link_gbps=1,"
     "latency_us=1",
     "the name 'a' is already entry 1's"},
    {"gflops=1", "has no ':'"},
    {"a b:gflops=1", "name 'a b'"},
};

START_TEST(malformed_config_fails_with_its_reason)
{
    aidev_context ctx = open_sims(sim_bad_configs[_i].value);
    aidev_backend_report r = sim_report(ctx);
    ck_assert_msg(r.state == AIDEV_BACKEND_FAILED, "'%s' was accepted", sim_bad_configs[_i].value);
    ck_assert_msg(strstr(r.reason, "AIDEV_SIM_DEVICES") && strstr(r.reason, sim_bad_configs[_i].reason),
                  "'%s': reason \"%s\" lacks \"%s\"", sim_bad_configs[_i].value, r.reason,
                  sim_bad_configs[_i].reason);
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &n, NULL));
    ck_assert_uint_ge(n, 1); /* the CPU device */
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

START_TEST(devices_say_they_are_simulated)
{
    aidev_context ctx = open_sims(FAR ";" NEAR);
    ck_assert_int_eq(sim_report(ctx).device_count, 2);
    aidev_device far = sim_device(ctx, "far"), near = sim_device(ctx, "near");
    char name[256], vendor[128];
    ck_assert_ok(aidev_device_get_info(far, AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL));
    ck_assert_ok(aidev_device_get_info(far, AIDEV_DEVICE_INFO_VENDOR, sizeof vendor, vendor, NULL));
    ck_assert_msg(strstr(name, "simulated") && strstr(name, "0.5 GFLOP/s"), "name: %s", name);
    ck_assert_msg(strstr(vendor, "simulator (no hardware)"), "vendor: %s", vendor);
    uint64_t mem = 0, features = 0;
    ck_assert_ok(aidev_device_get_info(far, AIDEV_DEVICE_INFO_MEMORY_BYTES, sizeof mem, &mem, NULL));
    ck_assert_uint_eq(mem, 64ull << 20);
    ck_assert_ok(aidev_device_get_info(far, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features,
                                       NULL));
    ck_assert(features & AIDEV_FEATURE_KERNEL_HOST);
    ck_assert(!(features & AIDEV_FEATURE_UNIFIED_MEMORY));
    ck_assert_ok(aidev_device_get_info(near, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    ck_assert(features & AIDEV_FEATURE_UNIFIED_MEMORY);
    ck_assert_ok(aidev_device_get_info(near, AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL));
    ck_assert_msg(strstr(name, "unified memory"), "name: %s", name);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(device_memory_is_limited_to_its_size)
{
    aidev_context ctx = open_sims(FAR);
    aidev_device far = sim_device(ctx, "far");
    aidev_buffer_desc big = {.size = 48ull << 20, .kind = AIDEV_MEMORY_DEVICE,
                             .flags = AIDEV_BUFFER_UNINITIALIZED};
    aidev_buffer a = NULL, b = NULL, host = NULL;
    ck_assert_ok(aidev_buffer_create(far, &big, &a));
    uint64_t free_bytes = 0;
    ck_assert_ok(aidev_device_get_info(far, AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES, sizeof free_bytes,
                                       &free_bytes, NULL));
    ck_assert_uint_eq(free_bytes, 16ull << 20);
    ck_assert_status(aidev_buffer_create(far, &big, &b), AIDEV_ERROR_OUT_OF_DEVICE_MEMORY);
    ck_assert_msg(strstr(aidev_last_error(), "'far'"), "message: %s", aidev_last_error());
    /* HOST memory of a discrete device is the host's: not counted. */
    aidev_buffer_desc host_desc = big;
    host_desc.kind = AIDEV_MEMORY_HOST;
    ck_assert_ok(aidev_buffer_create(far, &host_desc, &host));
    ck_assert_ok(aidev_buffer_release(a));
    ck_assert_ok(aidev_buffer_create(far, &big, &b));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_buffer_release(host));
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Timing                                                                   */
/* ------------------------------------------------------------------------ */

/* Modelled time of |bytes| at |gbps|, in ns. */
static uint64_t at_rate(double amount, double rate_g)
{
    return (uint64_t)(amount / rate_g);
}

static aidev_event_times wait_times(aidev_event ev)
{
    aidev_event_times t;
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_get_times(ev, &t));
    return t;
}

/* A command lasts at least its model (less 1 us of rounding), and starts
 * at least the launch latency after it was queued. */
static void check_lasts(aidev_event ev, uint64_t model_ns, uint64_t latency_ns, const char *what)
{
    aidev_event_times t = wait_times(ev);
    ck_assert_msg(t.end - t.start + 1000 >= model_ns, "%s: %.3f ms, model %.3f ms", what,
                  (double)(t.end - t.start) * 1e-6, (double)model_ns * 1e-6);
    ck_assert_msg(t.start >= t.queued + latency_ns, "%s: started %.3f ms after it was queued, "
                  "latency %.3f ms", what, (double)(t.start - t.queued) * 1e-6,
                  (double)latency_ns * 1e-6);
}

START_TEST(commands_take_their_modelled_time)
{
    aidev_context ctx = open_sims(FAR ";" NEAR);
    aidev_device far = sim_device(ctx, "far"), near = sim_device(ctx, "near");
    const uint32_t n = 256 * 1024;
    const uint64_t bytes = n * sizeof(float);
    float *host = calloc(n, sizeof(float));
    aidev_queue q;
    aidev_buffer x, y;
    aidev_buffer_desc desc = {.size = bytes, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_event ev;

    /* Far: a write crosses the link (size / link), a copy within its
     * memory reads and writes (2 size / mem), a fill writes (size / mem). */
    ck_assert_ok(aidev_queue_create(far, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    ck_assert_ok(aidev_buffer_create(far, &desc, &x));
    ck_assert_ok(aidev_buffer_create(far, &desc, &y));
    uint64_t t0 = now_ns();
    ck_assert_ok(aidev_enqueue_write(q, x, 0, bytes, host, 0, NULL, &ev));
    check_lasts(ev, at_rate((double)bytes, 0.25), 2000000, "far write");
    ck_assert_uint_ge(now_ns() - t0, at_rate((double)bytes, 0.25) + 2000000 - 1000);
    aidev_event_release(ev);
    ck_assert_ok(aidev_enqueue_copy(q, x, 0, y, 0, bytes, 0, NULL, &ev));
    check_lasts(ev, at_rate(2.0 * (double)bytes, 0.5), 2000000, "far copy");
    aidev_event_release(ev);
    /* A kernel: add reads a and b and writes y, n elements each: 12 n
     * bytes at 0.5 GB/s beats n flops at 0.5 GFLOP/s. */
    aidev_kernel add;
    ck_assert_ok(aidev_kernel_get(far, "add", &add));
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_buffer(x, 0), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, add, NULL, NULL, 4, args, 0, NULL, &ev));
    check_lasts(ev, at_rate(12.0 * n, 0.5), 2000000, "far add");
    aidev_event_release(ev);
    ck_assert_ok(aidev_kernel_release(add));
    ck_assert_ok(aidev_queue_release(q));

    /* Near (unified): a write is a copy within its memory, both sides at
     * mem_gbps; an sgemm is compute-bound: 2 m n k flops. */
    ck_assert_ok(aidev_queue_create(near, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    aidev_buffer a;
    ck_assert_ok(aidev_buffer_create(near, &desc, &a));
    ck_assert_ok(aidev_enqueue_write(q, a, 0, bytes, host, 0, NULL, &ev));
    check_lasts(ev, at_rate(2.0 * (double)bytes, 1.0), 1000000, "near write");
    aidev_event_release(ev);
    aidev_kernel sgemm;
    ck_assert_ok(aidev_kernel_get(near, "sgemm", &sgemm));
    const uint32_t m = 128;
    aidev_arg g[] = {aidev_arg_u32(m), aidev_arg_u32(m), aidev_arg_u32(m), aidev_arg_f32(1),
                     aidev_arg_f32(0), aidev_arg_buffer(a, 0), aidev_arg_buffer(a, 65536),
                     aidev_arg_buffer(a, 131072)};
    ck_assert_ok(aidev_enqueue_dispatch(q, sgemm, NULL, NULL, 8, g, 0, NULL, &ev));
    check_lasts(ev, at_rate(2.0 * m * m * m, 1.0), 1000000, "near sgemm");
    aidev_event_release(ev);
    ck_assert_ok(aidev_kernel_release(sgemm));
    ck_assert_ok(aidev_queue_release(q));
    aidev_buffer_release(a);
    aidev_buffer_release(x);
    aidev_buffer_release(y);
    free(host);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

static int overlap(const aidev_event_times *a, const aidev_event_times *b)
{
    return a->start < b->end && b->start < a->end;
}

/* Kernels of two queues of one device take turns on its compute engine;
 * a transfer across the link runs beside them, on the link engine. The
 * kernels last 42 ms each and the transfer 1 ms, so a worker thread woken
 * late on a loaded machine still finds the engines as the test means. */
START_TEST(engines_order_and_overlap)
{
    aidev_context ctx = open_sims(SLOWMEM);
    aidev_device far = sim_device(ctx, "slowmem");
    const uint32_t n = 1024 * 1024;
    aidev_buffer_desc desc = {.size = n * sizeof(float), .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_buffer x, y, z;
    ck_assert_ok(aidev_buffer_create(far, &desc, &x));
    ck_assert_ok(aidev_buffer_create(far, &desc, &y));
    ck_assert_ok(aidev_buffer_create(far, &desc, &z));
    aidev_queue q1, q2, q3;
    ck_assert_ok(aidev_queue_create(far, AIDEV_QUEUE_PRIORITY_NORMAL, &q1));
    ck_assert_ok(aidev_queue_create(far, AIDEV_QUEUE_PRIORITY_NORMAL, &q2));
    ck_assert_ok(aidev_queue_create(far, AIDEV_QUEUE_PRIORITY_NORMAL, &q3));
    aidev_kernel fill;
    ck_assert_ok(aidev_kernel_get(far, "fill_f32", &fill));
    /* Held by a user event, so all three become ready at once. */
    aidev_event go, e1, e2, e3;
    ck_assert_ok(aidev_event_create_user(ctx, &go));
    aidev_arg a1[] = {aidev_arg_u32(n), aidev_arg_f32(1), aidev_arg_buffer(x, 0)};
    aidev_arg a2[] = {aidev_arg_u32(n), aidev_arg_f32(2), aidev_arg_buffer(y, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q1, fill, NULL, NULL, 3, a1, 1, &go, &e1));
    ck_assert_ok(aidev_enqueue_dispatch(q2, fill, NULL, NULL, 3, a2, 1, &go, &e2));
    float *host = calloc(n, sizeof(float));
    ck_assert_ok(aidev_enqueue_write(q3, z, 0, n / 4 * sizeof(float), host, 1, &go, &e3));
    ck_assert_ok(aidev_event_set_status(go, AIDEV_SUCCESS, NULL));
    aidev_event_times t1 = wait_times(e1), t2 = wait_times(e2), t3 = wait_times(e3);
    ck_assert_msg(!overlap(&t1, &t2), "two kernels of one device overlapped in the model");
    ck_assert_msg(overlap(&t3, &t1) || overlap(&t3, &t2),
                  "the link transfer did not run beside the kernels");
    aidev_event_release(go);
    aidev_event_release(e1);
    aidev_event_release(e2);
    aidev_event_release(e3);
    ck_assert_ok(aidev_kernel_release(fill));
    aidev_queue_release(q1);
    aidev_queue_release(q2);
    aidev_queue_release(q3);
    aidev_buffer_release(x);
    aidev_buffer_release(y);
    aidev_buffer_release(z);
    free(host);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

/* A user C kernel, not in the FLOP table: one operation per grid item. */
static void count_items(void *const *args, const aidev_host_range *range)
{
    uint32_t *out = args[1];
    for (uint32_t i = range->begin[0]; i < range->end[0]; i++)
        out[i] = i;
}

START_TEST(user_kernels_cost_one_flop_per_item)
{
    aidev_context ctx = open_sims(SLOWCOMPUTE);
    aidev_device near = sim_device(ctx, "slowcompute");
    const uint32_t n = 2 * 1000 * 1000; /* 4 ms at 0.5 GFLOP/s; 8 MB at 100 GB/s */
    aidev_kernel_arg_desc sig[] = {
        {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"out", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_WRITE, "n"},
    };
    aidev_kernel_desc desc = {.name = "count_items", .source_kind = AIDEV_KERNEL_SOURCE_HOST,
                              .host_fn = count_items, .arg_count = 2, .args = sig,
                              .grid = {"n", NULL, NULL}};
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(near, &desc, &k));
    aidev_buffer out;
    aidev_buffer_desc bd = {.size = 4ull * n, .kind = AIDEV_MEMORY_SHARED,
                            .element_type = AIDEV_TYPE_U32};
    ck_assert_ok(aidev_buffer_create(near, &bd, &out));
    aidev_queue q;
    ck_assert_ok(aidev_queue_create(near, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_buffer(out, 0)};
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 2, args, 0, NULL, &ev));
    check_lasts(ev, at_rate(n, 0.5), 10000, "user kernel");
    aidev_event_release(ev);
    uint32_t *mapped;
    ck_assert_ok(aidev_buffer_map(out, 0, bd.size, AIDEV_MAP_READ, (void **)&mapped));
    ck_assert_uint_eq(mapped[n - 1], n - 1);
    ck_assert_ok(aidev_buffer_unmap(out));
    /* OpenCL C is not for a simulated device. */
    aidev_kernel_desc cl = desc;
    cl.source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C;
    cl.data = "__kernel void count_items(uint n, __global uint *out) {}";
    aidev_kernel k2;
    ck_assert_status(aidev_kernel_create(near, &cl, &k2), AIDEV_ERROR_UNSUPPORTED);
    aidev_queue_release(q);
    aidev_buffer_release(out);
    aidev_kernel_release(k);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, unset_offers_no_device);
    tcase_add_loop_test(tc, malformed_config_fails_with_its_reason, 0,
                        (int)(sizeof sim_bad_configs / sizeof sim_bad_configs[0]));
    tcase_add_test(tc, devices_say_they_are_simulated);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, device_memory_is_limited_to_its_size);
    suite_add_tcase(s, tc);
    tc = tcase_create("timing");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, commands_take_their_modelled_time);
    tcase_add_test(tc, engines_order_and_overlap);
    tcase_add_test(tc, user_kernels_cost_one_flop_per_item);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

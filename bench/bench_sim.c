/*
 * bench_sim.c - how closely a simulated device (backends/sim) keeps the
 * time its configuration gives: the sim.* rows, on every simulated device
 * (AIDEV_SIM_DEVICES; none otherwise).
 *
 *   sim.sgemm_queued  wall time per sgemm (m = n = k = SIM_SGEMM_M, DEVICE
 *                     buffers) of a chain queued back to back on one
 *                     queue, against the model's busy time per command;
 *   sim.sgemm_waited  the same sgemm submitted and waited for one at a
 *                     time, against the model's latency + busy time.
 *
 * The model's time comes from the device's configuration as its name states
 * it ("sim:NAME (simulated: G GFLOP/s, M GB/s memory, L GB/s link, U us
 * latency)", as aidev-info shows), with backends/sim/README.md's rules:
 * busy = max(2 m n k / G, bytes / M), the bytes being the signature's
 * element counts (a: m*k, b: k*n, c: m*n twice, as it is read_write), all in
 * device memory. A ratio of 1 is a device that takes exactly its model's
 * time; above 1, the host's wake-up delays or a host that cannot keep up
 * (the README says when). A simulated device's time is configured, not
 * measured: these rows say how far the simulation can be trusted, nothing
 * about the host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define SIM_SGEMM_M 256u
/* Commands per figure: what fills SIM_SECONDS (SIM_QUICK_SECONDS with
 * --quick) at the model's rate, within [SIM_MIN_COMMANDS, SIM_MAX_COMMANDS]. */
#define SIM_SECONDS 0.5
#define SIM_QUICK_SECONDS 0.05
#define SIM_MIN_COMMANDS 5
#define SIM_MAX_COMMANDS 2000
#define SIM_UNIT "ms (lower is better)"

typedef struct sim_rates {
    double gflops, mem_gbps, link_gbps, latency_us;
} sim_rates;

/* The rates a simulated device's name states; false when it states none. */
static bool sim_rates_from_name(const char *name, sim_rates *out)
{
    const char *rates = strstr(name, "(simulated");
    rates = rates ? strchr(rates, ':') : NULL;
    return rates && sscanf(rates, ": %lf GFLOP/s, %lf GB/s memory, %lf GB/s link, %lf us latency",
                           &out->gflops, &out->mem_gbps, &out->link_gbps, &out->latency_us) == 4;
}

typedef struct sim_sgemm {
    aidev_queue queue;
    aidev_kernel kernel;
    aidev_buffer a, b, c;
    aidev_arg args[8];
} sim_sgemm;

static void sim_sgemm_destroy(sim_sgemm *s)
{
    if (s->queue)
        aidev_queue_release(s->queue);
    if (s->kernel)
        aidev_kernel_release(s->kernel);
    aidev_buffer *buffers[] = {&s->a, &s->b, &s->c};
    for (int i = 0; i < 3; i++)
        if (*buffers[i])
            aidev_buffer_release(*buffers[i]);
}

static aidev_status sim_sgemm_create(aidev_device dev, uint32_t m, sim_sgemm *s)
{
    memset(s, 0, sizeof *s);
    aidev_buffer_desc desc = {.size = (uint64_t)m * m * sizeof(float),
                              .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_status st = aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &s->queue);
    if (st == AIDEV_SUCCESS)
        st = aidev_kernel_get(dev, "sgemm", &s->kernel);
    if (st == AIDEV_SUCCESS)
        st = aidev_buffer_create(dev, &desc, &s->a);
    if (st == AIDEV_SUCCESS)
        st = aidev_buffer_create(dev, &desc, &s->b);
    if (st == AIDEV_SUCCESS)
        st = aidev_buffer_create(dev, &desc, &s->c);
    if (st != AIDEV_SUCCESS) {
        sim_sgemm_destroy(s);
        return st;
    }
    aidev_arg args[8] = {aidev_arg_u32(m),         aidev_arg_u32(m),         aidev_arg_u32(m),
                         aidev_arg_f32(1.0f),      aidev_arg_f32(1.0f),      aidev_arg_buffer(s->a, 0),
                         aidev_arg_buffer(s->b, 0), aidev_arg_buffer(s->c, 0)};
    memcpy(s->args, args, sizeof args);
    return AIDEV_SUCCESS;
}

static aidev_status sim_sgemm_enqueue(sim_sgemm *s, aidev_event *out_event)
{
    return aidev_enqueue_dispatch(s->queue, s->kernel, NULL, NULL, 8, s->args, 0, NULL,
                                  out_event);
}

/* Seconds per command of |count| queued back to back, or of |count|
 * submitted and waited for one at a time (|waited|); < 0 on failure. */
static double sim_sgemm_seconds(sim_sgemm *s, int count, bool waited)
{
    aidev_status st = AIDEV_SUCCESS;
    double start = bench_now();
    for (int i = 0; i < count && st == AIDEV_SUCCESS; i++) {
        aidev_event e = NULL;
        st = sim_sgemm_enqueue(s, waited ? &e : NULL);
        if (st == AIDEV_SUCCESS && waited)
            st = aidev_event_wait(e, AIDEV_WAIT_FOREVER);
        if (e)
            aidev_event_release(e);
    }
    if (st == AIDEV_SUCCESS)
        st = aidev_queue_finish(s->queue);
    double seconds = (bench_now() - start) / count;
    if (st != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: sim.sgemm: %s: %s\n", aidev_status_string(st),
                aidev_last_error());
        return -1;
    }
    return seconds;
}

static void sim_device_rows(const bench_options *opt, aidev_device dev, const char *name)
{
    static const struct {
        const char *row;
        bool waited;
    } rows[] = {{"sim.sgemm_queued", false}, {"sim.sgemm_waited", true}};
    sim_rates rates;
    if (!sim_rates_from_name(name, &rates)) {
        fprintf(stderr, "aidev-bench: sim: the device '%s' states no rates\n", name);
        return;
    }
    const double m = SIM_SGEMM_M;
    double flops = 2 * m * m * m, bytes = 4 * m * m * sizeof(float);
    double busy = flops / (rates.gflops * 1e9);
    if (bytes / (rates.mem_gbps * 1e9) > busy)
        busy = bytes / (rates.mem_gbps * 1e9);
    sim_sgemm s;
    if (sim_sgemm_create(dev, SIM_SGEMM_M, &s) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: sim.sgemm on %s: %s\n", name, aidev_last_error());
        return;
    }
    /* Unmeasured first: the worker thread and the host's caches warm up. */
    bool ok = sim_sgemm_seconds(&s, 2, false) >= 0;
    for (size_t r = 0; r < sizeof rows / sizeof rows[0] && ok; r++) {
        if (!bench_selected(opt, rows[r].row))
            continue;
        double model = busy + (rows[r].waited ? rates.latency_us * 1e-6 : 0);
        double count = (opt->quick ? SIM_QUICK_SECONDS : SIM_SECONDS) / model;
        count = count < SIM_MIN_COMMANDS ? SIM_MIN_COMMANDS : count;
        count = count > SIM_MAX_COMMANDS ? SIM_MAX_COMMANDS : count;
        double seconds = sim_sgemm_seconds(&s, (int)count, rows[r].waited);
        ok = seconds >= 0;
        if (!ok)
            break;
        bench_row row = {.name = rows[r].row,
                         .device = name,
                         .backend = "sim",
                         .value = seconds * 1e3,
                         .unit = SIM_UNIT,
                         .baseline = rows[r].waited ? "model: latency + busy" : "model: busy",
                         .baseline_value = model * 1e3};
        bench_emit(opt, &row);
    }
    sim_sgemm_destroy(&s);
}

void bench_sim(const bench_options *opt)
{
    if (!bench_selected(opt, "sim.sgemm_queued") && !bench_selected(opt, "sim.sgemm_waited"))
        return;
    aidev_device devs[64];
    uint32_t count = sizeof devs / sizeof devs[0];
    if (aidev_context_get_devices(opt->context, &count, devs) != AIDEV_SUCCESS)
        return;
    for (uint32_t i = 0; i < count; i++) {
        char name[256], backend[32];
        bench_device_names(devs[i], name, sizeof name, backend, sizeof backend);
        if (strcmp(backend, "sim") == 0)
            sim_device_rows(opt, devs[i], name);
    }
}

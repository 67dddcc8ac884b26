/*
 * bench_urgent.c - the urgent dispatch under load (issue 15, section 3).
 *
 *   sched.urgent_under_load   enqueue -> completion of a small dispatch on
 *                             a HIGH queue while a LOW kernel of at least
 *                             200 ms (50 ms with --quick) saturates the
 *                             device, against the same dispatch on the
 *                             idle device. Target: at most 2x the idle
 *                             figure plus one LOW chunk (the baseline's
 *                             label gives the chunk's length).
 *
 * On every device that declares AIDEV_FEATURE_QUEUE_PREEMPTION and runs C
 * kernels (the CPU device). The small dispatch has 65,536 work-items of an
 * empty kernel: the least the CPU backend splits over its worker pool
 * (smaller ones run on the queue's own thread and never waited for the
 * pool). Samples are spaced 1 ms apart, as separate urgent requests are,
 * and the median is reported.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

enum { URGENT_ITEMS = 1 << 16, URGENT_SAMPLES = 21, URGENT_SAMPLES_QUICK = 5 };
/* Each LOW work-item spins this long: the kernel's length is set by its
 * grid, whatever the machine's speed. */
#define LOW_ITEM_NS 20000ull
/* The pool splits a LOW command into this many chunks per thread
 * (backends/cpu/cpu_queue.c), which gives the length of one chunk. */
#define LOW_CHUNKS_PER_THREAD 64u

static atomic_bool bench_low_started;

static uint64_t urgent_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void urgent_empty_kernel(void *const *args, const aidev_host_range *range)
{
    (void)args;
    (void)range;
}

static void urgent_low_kernel(void *const *args, const aidev_host_range *range)
{
    (void)args;
    atomic_store_explicit(&bench_low_started, true, memory_order_relaxed);
    for (uint32_t i = range->begin[0]; i < range->end[0]; i++) {
        uint64_t end = urgent_now_ns() + LOW_ITEM_NS;
        while (urgent_now_ns() < end) {
        }
    }
}

static void urgent_sleep_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* One urgent dispatch, enqueue to completion, in µs; < 0 on failure. */
static double urgent_once_us(aidev_queue high, aidev_kernel empty)
{
    const uint32_t grid[3] = {URGENT_ITEMS, 1, 1};
    aidev_event ev = NULL;
    double start = bench_now();
    aidev_status st = aidev_enqueue_dispatch(high, empty, grid, NULL, 0, NULL, 0, NULL, &ev);
    if (st == AIDEV_SUCCESS)
        st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
    double us = (bench_now() - start) * 1e6;
    if (ev)
        aidev_event_release(ev);
    return st == AIDEV_SUCCESS ? us : -1.0;
}

/* The median of |n| urgent dispatches 1 ms apart; < 0 on failure. */
static double urgent_median_us(aidev_queue high, aidev_kernel empty, int n)
{
    double samples[URGENT_SAMPLES];
    for (int i = 0; i < n; i++) {
        urgent_sleep_ms(1);
        if ((samples[i] = urgent_once_us(high, empty)) < 0)
            return -1.0;
    }
    return bench_median(samples, n);
}

static void bench_urgent_device(const bench_options *opt, aidev_device dev)
{
    char name[256], backend[32];
    bench_device_names(dev, name, sizeof name, backend, sizeof backend);
    uint32_t threads = 1;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_COMPUTE_UNITS, sizeof threads, &threads, NULL);
    const int samples = opt->quick ? URGENT_SAMPLES_QUICK : URGENT_SAMPLES;
    /* Long enough for every sample (each well under 10 ms) to land in it:
     * 400 ms (100 ms with --quick) on all threads. */
    const uint64_t low_ns = opt->quick ? 100000000ull : 400000000ull;
    const uint32_t low_items = (uint32_t)(low_ns / LOW_ITEM_NS * threads);

    const aidev_kernel_desc empty_desc = {.name = "urgent_empty",
                                          .source_kind = AIDEV_KERNEL_SOURCE_HOST,
                                          .host_fn = urgent_empty_kernel};
    const aidev_kernel_desc low_desc = {.name = "urgent_low_load",
                                        .source_kind = AIDEV_KERNEL_SOURCE_HOST,
                                        .host_fn = urgent_low_kernel};
    aidev_kernel empty = NULL, low_kernel = NULL;
    aidev_queue high = NULL, low = NULL;
    aidev_event low_ev = NULL;
    if (aidev_kernel_create(dev, &empty_desc, &empty) != AIDEV_SUCCESS ||
        aidev_kernel_create(dev, &low_desc, &low_kernel) != AIDEV_SUCCESS ||
        aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_HIGH, &high) != AIDEV_SUCCESS ||
        aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_LOW, &low) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: sched.urgent_under_load: %s\n", aidev_last_error());
        goto out;
    }
    /* A first dispatch, uncounted: the pool's threads and pages warm. */
    urgent_once_us(high, empty);
    double idle = urgent_median_us(high, empty, samples);

    atomic_store(&bench_low_started, false);
    const uint32_t low_grid[3] = {low_items, 1, 1};
    uint64_t low_start = urgent_now_ns();
    if (aidev_enqueue_dispatch(low, low_kernel, low_grid, NULL, 0, NULL, 0, NULL, &low_ev) !=
        AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: sched.urgent_under_load: %s\n", aidev_last_error());
        goto out;
    }
    while (!atomic_load(&bench_low_started))
        urgent_sleep_ms(1);
    urgent_sleep_ms(5); /* every pool thread in the LOW kernel */
    double loaded = urgent_median_us(high, empty, samples);
    bool low_still_running = aidev_event_query(low_ev) == AIDEV_NOT_READY;
    aidev_event_wait(low_ev, AIDEV_WAIT_FOREVER);
    double low_ms = (double)(urgent_now_ns() - low_start) / 1e6;
    if (idle < 0 || loaded < 0) {
        fprintf(stderr, "aidev-bench: sched.urgent_under_load: %s\n", aidev_last_error());
        goto out;
    }
    if (!low_still_running)
        fprintf(stderr, "aidev-bench: sched.urgent_under_load: the LOW kernel (%.0f ms) ended "
                        "before the last urgent sample\n", low_ms);

    static char label[160];
    snprintf(label, sizeof label,
             "same dispatch, idle device (LOW kernel %.0f ms, one LOW chunk %.0f us)", low_ms,
             low_ms * 1e3 / LOW_CHUNKS_PER_THREAD);
    bench_row row = {
        .name = "sched.urgent_under_load",
        .device = name,
        .backend = backend,
        .value = loaded,
        .unit = "us (lower is better)",
        .baseline = label,
        .baseline_value = idle,
    };
    bench_emit(opt, &row);
out:
    if (low_ev)
        aidev_event_release(low_ev);
    if (low)
        aidev_queue_release(low);
    if (high)
        aidev_queue_release(high);
    if (low_kernel)
        aidev_kernel_release(low_kernel);
    if (empty)
        aidev_kernel_release(empty);
}

void bench_urgent(const bench_options *opt)
{
    if (!bench_selected(opt, "sched.urgent_under_load"))
        return;
    uint32_t n = 0;
    aidev_context_get_devices(opt->context, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device dev;
        uint64_t features = 0;
        aidev_context_get_device(opt->context, i, &dev);
        aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features, NULL);
        if ((features & AIDEV_FEATURE_QUEUE_PREEMPTION) && (features & AIDEV_FEATURE_KERNEL_HOST))
            bench_urgent_device(opt, dev);
    }
}

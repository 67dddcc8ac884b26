/*
 * bench_buffers.c - the cost of a small buffer, the object a framework makes
 * thousands of (one per small tensor), against the raw API's own create.
 *
 *   buffer.create_small       aidev_buffer_create + aidev_buffer_release of
 *                             a 256-byte DEVICE buffer (zeroed, as every new
 *                             buffer is), against the raw create and
 *                             release of the same memory: OpenCL
 *                             clCreateBuffer with the flags the backend
 *                             passes, Vulkan vkCreateBuffer + allocate +
 *                             bind, the CPU an aligned malloc + memset
 *   buffer.create_small_host  the same for a HOST buffer
 *   buffer.create_small_100k_live
 *                             buffer.create_small with 100,000 other
 *                             buffers alive, against the same with 1,000
 *                             alive: what a buffer costs must not grow with
 *                             the buffers a program holds (ratio ~1)
 *
 * Each round makes BATCH buffers, then releases them (so BATCH are alive
 * at once, as a framework's tensors are); rounds of aidev and of the raw
 * API alternate ABBA, and each side reports the median of its rounds, in
 * microseconds per create + release.
 *
 * The raw side lives with the backend's other rows (bench_opencl.c,
 * bench_vulkan.c, bench_cpu.c): it is their raw device.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define BATCH 1000
#define ROUNDS 15

static aidev_buffer batch[BATCH];

/* Microseconds per create + release of one |size|-byte |kind| buffer. */
static double aidev_round_us(aidev_device dev, aidev_memory_kind kind, uint64_t size, bool *ok)
{
    aidev_buffer_desc desc = {.size = size, .kind = kind};
    double start = bench_now();
    int made = 0;
    for (; made < BATCH; made++)
        if (aidev_buffer_create(dev, &desc, &batch[made]) != AIDEV_SUCCESS)
            break;
    for (int i = 0; i < made; i++)
        aidev_buffer_release(batch[i]);
    double us = (bench_now() - start) / BATCH * 1e6;
    if (made < BATCH) {
        fprintf(stderr, "aidev-bench: buffer.create_small: %s\n", aidev_last_error());
        *ok = false;
    }
    return us;
}

/* Median microseconds of buffer.create_small's aidev side with |alive|
 * other buffers alive; 0 on failure. */
static double with_alive_us(aidev_device dev, int alive, int rounds)
{
    aidev_buffer *held = calloc((size_t)alive, sizeof *held);
    if (!held)
        return 0;
    aidev_buffer_desc desc = {.size = BENCH_SMALL_BUFFER, .kind = AIDEV_MEMORY_DEVICE};
    int made = 0;
    while (made < alive && aidev_buffer_create(dev, &desc, &held[made]) == AIDEV_SUCCESS)
        made++;
    double samples[ROUNDS];
    bool ok = made == alive;
    for (int i = 0; i < rounds && ok; i++)
        samples[i] = aidev_round_us(dev, AIDEV_MEMORY_DEVICE, BENCH_SMALL_BUFFER, &ok);
    if (made < alive)
        fprintf(stderr, "aidev-bench: buffer.create_small_100k_live: %s\n", aidev_last_error());
    for (int i = 0; i < made; i++)
        aidev_buffer_release(held[i]);
    free(held);
    return ok ? bench_median(samples, rounds) : 0;
}

static void alive_row(const bench_options *opt, aidev_device dev, const char *name,
                      const char *backend)
{
    const char *row_name = "buffer.create_small_100k_live";
    if (!bench_selected(opt, row_name))
        return;
    const int rounds = opt->quick ? 3 : ROUNDS;
    double few = with_alive_us(dev, 1000, rounds);
    /* (--quick checks that the row runs: 20,000 alive.) */
    double many = with_alive_us(dev, opt->quick ? 20000 : 100000, rounds);
    if (few <= 0 || many <= 0)
        return;
    bench_row row = {.name = row_name,
                     .device = name,
                     .backend = backend,
                     .value = many,
                     .unit = "us (lower is better)",
                     .baseline = "the same with 1,000 buffers alive",
                     .baseline_value = few};
    bench_emit(opt, &row);
}

void bench_buffer_create_rows(const bench_options *opt, aidev_device dev, const char *name,
                              const char *backend, const bench_raw_create *raw)
{
    static const struct {
        const char *row;
        aidev_memory_kind kind;
    } rows[] = {
        {"buffer.create_small", AIDEV_MEMORY_DEVICE},
        {"buffer.create_small_host", AIDEV_MEMORY_HOST},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        if (!bench_selected(opt, rows[r].row))
            continue;
        const int rounds = opt->quick ? 3 : ROUNDS;
        double ours[ROUNDS], theirs[ROUNDS];
        bool ok = true;
        /* Unmeasured first: pools, caches and the allocator warm up. */
        aidev_round_us(dev, rows[r].kind, BENCH_SMALL_BUFFER, &ok);
        raw->round_us(raw->arg, rows[r].kind, BENCH_SMALL_BUFFER, BATCH, &ok);
        for (int i = 0; i < rounds && ok; i++) {
            bool aidev_first = i % 4 == 0 || i % 4 == 3;
            if (aidev_first)
                ours[i] = aidev_round_us(dev, rows[r].kind, BENCH_SMALL_BUFFER, &ok);
            theirs[i] = raw->round_us(raw->arg, rows[r].kind, BENCH_SMALL_BUFFER, BATCH, &ok);
            if (!aidev_first)
                ours[i] = aidev_round_us(dev, rows[r].kind, BENCH_SMALL_BUFFER, &ok);
        }
        if (!ok)
            continue;
        bench_row row = {.name = rows[r].row,
                         .device = name,
                         .backend = backend,
                         .value = bench_median(ours, rounds),
                         .unit = "us (lower is better)",
                         .baseline = rows[r].kind == AIDEV_MEMORY_DEVICE ? raw->device_label
                                                                         : raw->host_label,
                         .baseline_value = bench_median(theirs, rounds)};
        bench_emit(opt, &row);
    }
    alive_row(opt, dev, name, backend);
}

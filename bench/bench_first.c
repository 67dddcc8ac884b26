/*
 * bench_first.c - the first dispatch of a kernel against its second
 * (issue 18: a kernel is built by aidev_kernel_get, not by its first
 * dispatch).
 *
 *   kernels/first_dispatch  microseconds from enqueue to completion of the
 *                           first dispatch of the library sgemm (64^3)
 *                           after aidev_kernel_get, against the second
 *                           dispatch of the same kernel with the same
 *                           arguments. Each sample opens a context of its
 *                           own (the device keeps library kernels for the
 *                           life of its context), writes the operands and
 *                           waits for the writes before the get, so that
 *                           neither dispatch pays a buffer's first use. On
 *                           disk caches (kernel binaries, pipeline caches)
 *                           the samples find what the earlier ones left,
 *                           as a program's second run would.
 *
 * The ratio is first / second: at most 2 is the target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define FIRST_N 64
#define FIRST_MAX_SAMPLES 7

/* Seconds from enqueue to completion of one dispatch; negative on error. */
static double timed_dispatch(aidev_queue q, aidev_kernel k, const aidev_arg *args)
{
    const uint32_t grid[3] = {FIRST_N, FIRST_N, 1};
    aidev_event ev = NULL;
    double t0 = bench_now();
    if (aidev_enqueue_dispatch(q, k, grid, NULL, 8, args, 0, NULL, &ev) != AIDEV_SUCCESS)
        return -1;
    aidev_status st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
    double t = bench_now() - t0;
    aidev_event_release(ev);
    return st == AIDEV_SUCCESS ? t : -1;
}

/* One sample on device |index| of a new context (named |name|, as in the
 * bench's own context): the first and second dispatch times. */
static bool first_dispatch_sample(uint32_t index, const char *name, double *first,
                                  double *second)
{
    static float host[FIRST_N * FIRST_N];
    for (size_t i = 0; i < FIRST_N * FIRST_N; i++)
        host[i] = (float)(i % 7) - 3.0f;
    aidev_context ctx = NULL;
    aidev_queue q = NULL;
    aidev_kernel k = NULL;
    aidev_buffer bufs[3] = {NULL, NULL, NULL};
    bool ok = false;
    aidev_device devs[64];
    uint32_t count = 64;
    char got[256] = "";
    if (aidev_context_create(NULL, &ctx) != AIDEV_SUCCESS ||
        aidev_context_get_devices(ctx, &count, devs) != AIDEV_SUCCESS || index >= count)
        goto out;
    aidev_device_get_info(devs[index], AIDEV_DEVICE_INFO_NAME, sizeof got, got, NULL);
    if (strcmp(got, name) != 0 ||
        aidev_queue_create(devs[index], AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS)
        goto out;
    aidev_buffer_desc desc = {.size = sizeof host, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    for (int i = 0; i < 3; i++)
        if (aidev_buffer_create(devs[index], &desc, &bufs[i]) != AIDEV_SUCCESS ||
            aidev_enqueue_write(q, bufs[i], 0, sizeof host, host, 0, NULL, NULL) !=
                AIDEV_SUCCESS)
            goto out;
    if (aidev_queue_finish(q) != AIDEV_SUCCESS ||
        aidev_kernel_get(devs[index], "sgemm", &k) != AIDEV_SUCCESS)
        goto out;
    const aidev_arg args[8] = {aidev_arg_u32(FIRST_N),    aidev_arg_u32(FIRST_N),
                               aidev_arg_u32(FIRST_N),    aidev_arg_f32(1),
                               aidev_arg_f32(0),          aidev_arg_buffer(bufs[0], 0),
                               aidev_arg_buffer(bufs[1], 0), aidev_arg_buffer(bufs[2], 0)};
    *first = timed_dispatch(q, k, args);
    *second = timed_dispatch(q, k, args);
    ok = *first > 0 && *second > 0;
out:
    if (!ok)
        fprintf(stderr, "bench first dispatch: %s: %s\n", name,
                got[0] && strcmp(got, name) != 0 ? "a new context lists its devices in "
                                                   "another order"
                                                 : aidev_last_error());
    if (k)
        aidev_kernel_release(k);
    for (int i = 0; i < 3; i++)
        if (bufs[i])
            aidev_buffer_release(bufs[i]);
    if (q)
        aidev_queue_release(q);
    if (ctx)
        aidev_context_release(ctx);
    return ok;
}

void bench_first_dispatch(const bench_options *opt)
{
    if (!bench_selected(opt, "kernels/first_dispatch"))
        return;
    uint32_t count = 0;
    aidev_context_get_devices(opt->context, &count, NULL);
    aidev_device *devs = calloc(count ? count : 1, sizeof *devs);
    if (!devs)
        return;
    aidev_context_get_devices(opt->context, &count, devs);
    const int samples = opt->quick ? 1 : 5;
    for (uint32_t i = 0; i < count; i++) {
        char name[256], backend[32];
        bench_device_names(devs[i], name, sizeof name, backend, sizeof backend);
        double first[FIRST_MAX_SAMPLES], second[FIRST_MAX_SAMPLES];
        int n = 0;
        while (n < samples && first_dispatch_sample(i, name, &first[n], &second[n]))
            n++;
        if (n < samples)
            continue; /* said why */
        bench_row row = {.name = "kernels/first_dispatch", .device = name, .backend = backend,
                         .value = bench_median(first, n) * 1e6,
                         .unit = "us (lower is better)",
                         .baseline = "second dispatch, same kernel and arguments",
                         .baseline_value = bench_median(second, n) * 1e6};
        bench_emit(opt, &row);
    }
    free(devs);
}

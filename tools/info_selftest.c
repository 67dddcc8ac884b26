/*
 * info_selftest.c - one verified axpy round trip per device, timed.
 */
#include "tools/info_selftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct run {
    aidev_device dev;
    aidev_queue queue;
    aidev_buffer x, y;
    aidev_kernel kernel;
    float *hx, *hy, *out;
    /* A wait that timed out leaves commands that may still touch host
     * memory: that memory is then kept, never freed under them. */
    bool hung;
} run;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool fail(info_selftest *r, const char *stage, aidev_status st, const char *what)
{
    r->passed = false;
    r->stage = stage;
    const char *msg = aidev_last_error();
    snprintf(r->message, sizeof r->message, "%s: %s%s%s", what, aidev_status_string(st),
             msg[0] ? ": " : "", msg);
    return false;
}

/* DEVICE memory, the kind a real workload computes on, where the device
 * offers it; else the first kind it does offer. */
static aidev_memory_kind usable_kind(aidev_device dev)
{
    uint32_t kinds = 0;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_KINDS, sizeof kinds, &kinds, NULL);
    if (!kinds || (kinds & AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE)))
        return AIDEV_MEMORY_DEVICE;
    for (unsigned k = 0; k < AIDEV_MEMORY_KIND_COUNT_; k++)
        if (kinds & AIDEV_MEMORY_KIND_BIT(k))
            return (aidev_memory_kind)k;
    return AIDEV_MEMORY_DEVICE;
}

static bool setup(run *s, info_selftest *r)
{
    const size_t bytes = INFO_SELFTEST_ELEMENTS * sizeof(float);
    s->hx = malloc(bytes);
    s->hy = malloc(bytes);
    s->out = malloc(bytes);
    if (!s->hx || !s->hy || !s->out) {
        r->stage = "buffer";
        snprintf(r->message, sizeof r->message, "out of host memory");
        return false;
    }
    aidev_status st = aidev_queue_create(s->dev, AIDEV_QUEUE_PRIORITY_NORMAL, &s->queue);
    if (st != AIDEV_SUCCESS)
        return fail(r, "queue", st, "aidev_queue_create");
    aidev_buffer_desc desc = {
        .size = bytes,
        .kind = usable_kind(s->dev),
        .element_type = AIDEV_TYPE_F32,
        .flags = AIDEV_BUFFER_UNINITIALIZED,
    };
    st = aidev_buffer_create(s->dev, &desc, &s->x);
    if (st == AIDEV_SUCCESS)
        st = aidev_buffer_create(s->dev, &desc, &s->y);
    if (st != AIDEV_SUCCESS)
        return fail(r, "buffer", st, "aidev_buffer_create");
    return true;
}

/* Inputs whose axpy is exact in binary32 whatever the device rounds or
 * fuses: small integers times a multiple of one half. */
static float input_x(uint32_t i)
{
    return (float)((int)(i % 2001u) - 1000);
}

static float input_y(uint32_t i)
{
    return (float)(i % 97u);
}

static bool verify(const run *s, float alpha, info_selftest *r)
{
    for (uint32_t i = 0; i < INFO_SELFTEST_ELEMENTS; i++) {
        float want = alpha * s->hx[i] + s->hy[i];
        if (s->out[i] != want) {
            r->stage = "verify";
            snprintf(r->message, sizeof r->message,
                     "y[%u] = %g after axpy with alpha %g, x %g, y %g; expected %g", i,
                     (double)s->out[i], (double)alpha, (double)s->hx[i], (double)s->hy[i],
                     (double)want);
            return false;
        }
    }
    return true;
}

/* Write, dispatch, read back, wait, verify. Stores the time it took. */
static bool round_trip(run *s, float alpha, info_selftest *r, uint64_t *ns)
{
    const uint64_t bytes = INFO_SELFTEST_ELEMENTS * sizeof(float);
    for (uint32_t i = 0; i < INFO_SELFTEST_ELEMENTS; i++) {
        s->hx[i] = input_x(i);
        s->hy[i] = input_y(i);
        s->out[i] = -1.0f;
    }
    uint64_t t0 = now_ns();
    aidev_event done = NULL;
    aidev_arg args[] = {aidev_arg_u32(INFO_SELFTEST_ELEMENTS), aidev_arg_f32(alpha),
                        aidev_arg_buffer(s->x, 0), aidev_arg_buffer(s->y, 0)};
    aidev_status st = aidev_enqueue_write(s->queue, s->x, 0, bytes, s->hx, 0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_write(s->queue, s->y, 0, bytes, s->hy, 0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_dispatch(s->queue, s->kernel, NULL, NULL, 4, args, 0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_read(s->queue, s->y, 0, bytes, s->out, 0, NULL, &done);
    if (st != AIDEV_SUCCESS) {
        /* Commands enqueued before the failure still run: let them end. */
        aidev_queue_finish(s->queue);
        return fail(r, "enqueue", st, "enqueue");
    }
    st = aidev_event_wait(done, (uint64_t)INFO_SELFTEST_TIMEOUT_S * 1000000000ull);
    *ns = now_ns() - t0;
    if (st == AIDEV_ERROR_TIMEOUT)
        s->hung = true;
    if (st != AIDEV_SUCCESS) {
        fail(r, "wait", st, "round trip");
        aidev_event_release(done);
        return false;
    }
    aidev_event_release(done);
    return verify(s, alpha, r);
}

static void teardown(run *s)
{
    if (s->hung)
        return; /* leave everything to the context: its commands may still run */
    if (s->kernel)
        aidev_kernel_release(s->kernel);
    if (s->x)
        aidev_buffer_release(s->x);
    if (s->y)
        aidev_buffer_release(s->y);
    if (s->queue)
        aidev_queue_release(s->queue);
    free(s->hx);
    free(s->hy);
    free(s->out);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void info_selftest_run(aidev_device dev, info_selftest *r)
{
    memset(r, 0, sizeof *r);
    run s = {.dev = dev};
    uint64_t times[INFO_SELFTEST_ROUND_TRIPS];
    if (!setup(&s, r))
        goto out;

    /* First round trip: building the kernel is part of the cost a first
     * use pays, so it is timed with it. */
    uint64_t t0 = now_ns(), ns;
    aidev_status st = aidev_kernel_get(dev, "axpy", &s.kernel);
    if (st != AIDEV_SUCCESS) {
        fail(r, "kernel", st, "aidev_kernel_get(\"axpy\")");
        goto out;
    }
    if (!round_trip(&s, 0.5f, r, &ns))
        goto out;
    r->first_ns = now_ns() - t0;

    for (uint32_t i = 0; i < INFO_SELFTEST_ROUND_TRIPS; i++) {
        if (!round_trip(&s, 1.5f + (float)i, r, &times[i]))
            goto out;
        r->round_trips++;
    }
    qsort(times, r->round_trips, sizeof times[0], compare_u64);
    r->round_trip_ns = times[r->round_trips / 2];
    r->min_round_trip_ns = times[0];
    r->passed = true;
out:
    teardown(&s);
}

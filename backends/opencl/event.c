/*
 * event.c - aidev events over cl_events, and the device clock.
 *
 * A command that signals an aidev event gets a cl_event; the aidev event
 * carries it (aidev_backend_event_set_native), so later commands of this
 * device wait on it natively, and a CL_COMPLETE callback completes the
 * aidev event with the command's profiling times.
 *
 * Times: profiling counters tick in the device's own time base (PoCL's is
 * CLOCK_MONOTONIC_RAW; GPUs have their own). aidev reports CLOCK_MONOTONIC,
 * so each device open measures the offset between the two.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/opencl/ocl_internal.h"

/* ------------------------------------------------------------------------ */
/* The device clock                                                         */
/* ------------------------------------------------------------------------ */

#define CALIBRATION_ROUNDS 8

/* clGetDeviceAndHostTimer (OpenCL 2.1): the device time was read between
 * |before| and |after|. */
static bool calibrate_with_timer(ocl_device *dev, int64_t *lo, int64_t *hi)
{
    if (!ocl.clGetDeviceAndHostTimer || dev->desc->version < 21 ||
        dev->desc->platform_version < 21)
        return false;
    for (int i = 0; i < CALIBRATION_ROUNDS; i++) {
        cl_ulong device_ns, host_ns;
        uint64_t before = aidev_backend_now_ns();
        cl_int err = ocl.clGetDeviceAndHostTimer(dev->id, &device_ns, &host_ns);
        uint64_t after = aidev_backend_now_ns();
        if (err != CL_SUCCESS)
            return false; /* PoCL answers CL_INVALID_OPERATION: use markers */
        int64_t a = (int64_t)(before - device_ns), b = (int64_t)(after - device_ns);
        *lo = a > *lo ? a : *lo;
        *hi = b < *hi ? b : *hi;
    }
    return true;
}

/* A marker's QUEUED time is taken inside the enqueue call, and its END
 * before the wait returns: each round bounds the offset from both sides. */
static bool calibrate_with_markers(ocl_device *dev, int64_t *lo, int64_t *hi)
{
    for (int i = 0; i < CALIBRATION_ROUNDS; i++) {
        cl_event ev;
        uint64_t before = aidev_backend_now_ns();
        cl_int err = ocl.clEnqueueMarkerWithWaitList(dev->service, 0, NULL, &ev);
        uint64_t enqueued = aidev_backend_now_ns();
        if (err != CL_SUCCESS)
            return false;
        err = ocl.clWaitForEvents(1, &ev);
        uint64_t done = aidev_backend_now_ns();
        cl_ulong queued = 0, end = 0;
        if (err == CL_SUCCESS)
            err = ocl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_QUEUED, sizeof queued,
                                              &queued, NULL);
        if (err == CL_SUCCESS)
            err = ocl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end,
                                              NULL);
        ocl.clReleaseEvent(ev);
        if (err != CL_SUCCESS || queued == 0)
            return false;
        int64_t a = (int64_t)(before - queued);
        int64_t b = (int64_t)(enqueued - queued), c = (int64_t)(done - end);
        *lo = a > *lo ? a : *lo;
        *hi = b < *hi ? b : *hi;
        *hi = c < *hi ? c : *hi;
    }
    return true;
}

aidev_status ocl_clock_calibrate(ocl_device *dev)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    bool ok = calibrate_with_timer(dev, &lo, &hi);
    if (!ok) {
        lo = INT64_MIN, hi = INT64_MAX;
        ok = calibrate_with_markers(dev, &lo, &hi);
    }
    if (!ok) {
        /* No usable profiling: events then carry the host times libaidev
         * takes at completion. */
        dev->has_clock = false;
        aidev_backend_debug("opencl", "%s: no profiling clock; event times are host times",
                            dev->desc->info.name);
        return AIDEV_SUCCESS;
    }
    if (lo > hi) /* rounds disagree (a clock that jumps): take their middle */
        aidev_backend_debug("opencl", "%s: clock bounds cross by %lld ns", dev->desc->info.name,
                            (long long)(lo - hi));
    dev->clock_offset = lo / 2 + hi / 2;
    dev->has_clock = true;
    aidev_backend_debug("opencl", "%s: device clock + %lld ns = CLOCK_MONOTONIC (+- %lld ns)",
                        dev->desc->info.name, (long long)dev->clock_offset,
                        (long long)((hi - lo) / 2));
    return AIDEV_SUCCESS;
}

static uint64_t to_monotonic(const ocl_device *dev, cl_ulong device_ns)
{
    int64_t t = (int64_t)device_ns + dev->clock_offset;
    return t > 0 ? (uint64_t)t : 0;
}

/* ------------------------------------------------------------------------ */
/* Completion                                                               */
/* ------------------------------------------------------------------------ */

/* How long finish() lets callbacks arrive before it looks for failed
 * commands whose callback will not come. */
#define RESCUE_AFTER_NS 20000000ull

struct ocl_completion {
    ocl_completion *prev, *next; /* the queue's in-flight list */
    ocl_queue *queue;
    aidev_backend_event *signal;
    cl_event event;              /* borrowed: |signal| holds it */
    const char *what;            /* the enqueue call, for messages */
    uint64_t unsignaled_before;  /* the queue's count when it was enqueued */
    atomic_bool claimed;         /* by the callback, or by a rescue */
};

ocl_completion *ocl_completion_new(void)
{
    return malloc(sizeof(ocl_completion));
}

static void release_native(void *native)
{
    ocl.clReleaseEvent(native);
}

static void record_times(const ocl_device *dev, cl_event ev, aidev_backend_event *signal)
{
    if (!dev->has_clock)
        return;
    cl_ulong start = 0, end = 0;
    if (ocl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) !=
            CL_SUCCESS ||
        ocl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) !=
            CL_SUCCESS)
        return;
    aidev_backend_event_set_times(signal, to_monotonic(dev, start), to_monotonic(dev, end));
}

/* Completes the aidev event of |c| with the command's |status|. */
static void deliver(ocl_completion *c, cl_int status)
{
    const ocl_device *dev = c->queue->dev;
    if (status == CL_COMPLETE) {
        record_times(dev, c->event, c->signal);
        aidev_backend_event_complete(c->signal, AIDEV_SUCCESS, NULL);
        return;
    }
    /* A command the driver did not run because an event it waited on
     * failed is a dependency failure; anything else failed itself. */
    aidev_status st = status == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST
                          ? AIDEV_ERROR_DEPENDENCY
                          : AIDEV_ERROR_BACKEND;
    aidev_backend_event_complete(c->signal, st, "%s: the command failed on '%s': %s (%d)",
                                 c->what, dev->desc->info.name, ocl_error_name(status),
                                 (int)status);
}

static void unlink_locked(ocl_queue *q, ocl_completion *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        q->inflight = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (--q->inflight_count == 0)
        pthread_cond_broadcast(&q->idle);
}

static void CL_CALLBACK on_complete(cl_event ev, cl_int status, void *user_data)
{
    (void)ev;
    ocl_completion *c = user_data;
    if (atomic_exchange(&c->claimed, true))
        return; /* a rescue delivered it; the queue frees it */
    ocl_queue *q = c->queue;
    /* The command is done: while its event completes (whose callbacks may
     * submit to this queue), the queue counts as idle for barriers. */
    pthread_mutex_lock(&q->lock);
    q->delivering++;
    /* In order: what was enqueued before this command is done too. */
    if (status == CL_COMPLETE && c->unsignaled_before > q->covered)
        q->covered = c->unsignaled_before;
    pthread_mutex_unlock(&q->lock);
    deliver(c, status);
    /* The unlink is the last touch of the queue: a finisher returns (and
     * the queue may go) only once the list is empty, under the lock. */
    pthread_mutex_lock(&q->lock);
    q->delivering--;
    unlink_locked(q, c);
    pthread_mutex_unlock(&q->lock);
    free(c);
}

void ocl_event_attach(ocl_queue *q, ocl_completion *c, aidev_backend_event *signal, cl_event ev,
                      const char *what, uint64_t unsignaled_before)
{
    c->queue = q;
    c->unsignaled_before = unsignaled_before;
    c->signal = signal;
    c->event = ev;
    c->what = what;
    atomic_init(&c->claimed, false);
    aidev_backend_event_set_native(signal, q->dev, ev, release_native);
    pthread_mutex_lock(&q->lock);
    c->prev = NULL;
    c->next = q->inflight;
    if (q->inflight)
        q->inflight->prev = c;
    q->inflight = c;
    q->inflight_count++;
    pthread_mutex_unlock(&q->lock);
    cl_int err = ocl.clSetEventCallback(ev, CL_COMPLETE, on_complete, c);
    if (err != CL_SUCCESS) {
        /* Never seen; the command is already enqueued, so its event must
         * still complete: wait for it here. */
        aidev_backend_debug("opencl", "clSetEventCallback failed: %s (%d); waiting",
                            ocl_error_name(err), (int)err);
        cl_int status = CL_COMPLETE;
        if (ocl.clWaitForEvents(1, &ev) != CL_SUCCESS ||
            ocl.clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status,
                               NULL) != CL_SUCCESS)
            status = CL_OUT_OF_RESOURCES;
        on_complete(ev, status, c);
        return;
    }
    /* Someone may wait on the event: the command must reach the device
     * without a clFinish (GPU drivers batch otherwise). */
    ocl.clFlush(ocl_queue_target(q));
}

/* Takes off the list, under the lock, the commands that failed and whose
 * callback has not claimed them; they go to |q->rescued|. */
static uint32_t take_failed_locked(ocl_queue *q, ocl_completion **out, cl_int *status,
                                   uint32_t max)
{
    uint32_t n = 0;
    for (ocl_completion *c = q->inflight, *next; c && n < max; c = next) {
        next = c->next;
        cl_int st = CL_COMPLETE;
        if (ocl.clGetEventInfo(c->event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st,
                               NULL) != CL_SUCCESS ||
            st >= 0 || atomic_exchange(&c->claimed, true))
            continue;
        unlink_locked(q, c);
        c->next = q->rescued;
        q->rescued = c;
        out[n] = c;
        status[n++] = st;
    }
    return n;
}

void ocl_completions_wait(ocl_queue *q, uint64_t unsignaled_before)
{
    pthread_mutex_lock(&q->lock);
    if (unsignaled_before > q->covered)
        q->covered = unsignaled_before;
    while (q->inflight_count) {
        uint64_t deadline = aidev_backend_now_ns() + RESCUE_AFTER_NS;
        struct timespec ts = {(time_t)(deadline / 1000000000ull),
                              (long)(deadline % 1000000000ull)};
        if (pthread_cond_timedwait(&q->idle, &q->lock, &ts) == 0 || !q->inflight_count)
            continue;
        ocl_completion *failed[32];
        cl_int status[32];
        uint32_t n = take_failed_locked(q, failed, status, 32);
        pthread_mutex_unlock(&q->lock);
        for (uint32_t i = 0; i < n; i++) {
            aidev_backend_debug("opencl", "%s failed without a callback: completing its event",
                                failed[i]->what);
            deliver(failed[i], status[i]);
        }
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
}

void ocl_completions_release(ocl_queue *q)
{
    while (q->rescued) {
        ocl_completion *c = q->rescued;
        q->rescued = c->next;
        free(c);
    }
}

/* ------------------------------------------------------------------------ */
/* Wait lists                                                               */
/* ------------------------------------------------------------------------ */

static void bridge_done(aidev_backend_event *event, aidev_status status, void *user_data)
{
    (void)event;
    cl_event bridge = user_data;
    ocl.clSetUserEventStatus(bridge, status == AIDEV_SUCCESS
                                         ? CL_COMPLETE
                                         : CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    ocl.clReleaseEvent(bridge);
}

/* A user event completed when |wait| completes. Only a command libaidev
 * has not yet handed over gives an event of this device without a cl_event:
 * libaidev holds commands that wait on those, so this is a safety net. */
static aidev_status make_bridge(ocl_device *dev, aidev_backend_event *wait, cl_event *out)
{
    cl_int err;
    cl_event bridge = ocl.clCreateUserEvent(dev->context, &err);
    if (!bridge)
        return ocl_fail("clCreateUserEvent", err, NULL);
    ocl.clRetainEvent(bridge); /* the callback's reference */
    aidev_status st = aidev_backend_event_on_complete(wait, bridge_done, bridge);
    if (st != AIDEV_SUCCESS) {
        ocl.clSetUserEventStatus(bridge, CL_COMPLETE);
        ocl.clReleaseEvent(bridge);
        ocl.clReleaseEvent(bridge);
        return st;
    }
    *out = bridge;
    return AIDEV_SUCCESS;
}

aidev_status ocl_waits_collect(ocl_device *dev, uint32_t wait_count,
                               aidev_backend_event *const *waits, ocl_wait_list *w)
{
    w->events = NULL;
    w->count = 0;
    w->bridges = NULL;
    w->bridge_count = 0;
    if (wait_count == 0)
        return AIDEV_SUCCESS;
    w->events = w->small;
    if (wait_count > sizeof w->small / sizeof w->small[0] &&
        !(w->events = malloc(wait_count * sizeof *w->events)))
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < wait_count; i++) {
        cl_event e = aidev_backend_event_native(waits[i], dev);
        if (!e) {
            aidev_status st = AIDEV_SUCCESS;
            if (!w->bridges && !(w->bridges = malloc(wait_count * sizeof *w->bridges)))
                st = aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                             "out of host memory");
            if (st == AIDEV_SUCCESS)
                st = make_bridge(dev, waits[i], &e);
            if (st != AIDEV_SUCCESS) {
                ocl_waits_release(w);
                return st;
            }
            w->bridges[w->bridge_count++] = e;
        }
        w->events[w->count++] = e;
    }
    return AIDEV_SUCCESS;
}

void ocl_waits_release(ocl_wait_list *w)
{
    for (cl_uint i = 0; i < w->bridge_count; i++)
        ocl.clReleaseEvent(w->bridges[i]);
    free(w->bridges);
    if (w->events != w->small)
        free(w->events);
    w->events = NULL;
    w->bridges = NULL;
    w->count = w->bridge_count = 0;
}

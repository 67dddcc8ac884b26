/*
 * queue.c - queues: each aidev queue is an in-order cl_command_queue, and
 * each command one enqueue on it.
 *
 * A cl_event is asked for only when the command has an aidev event to
 * signal, so back-to-back commands without events cost the driver nothing
 * more than their enqueue. Commands that wait on events of other backends,
 * on user events or on host callbacks never reach here before those
 * complete: libaidev holds them (this backend does not set
 * AIDEV_BACKEND_CAP_ANY_WAIT), so a wait list holds only events of this
 * device, which carry their cl_event.
 *
 * Profiling. An aidev event carries the device's start and end times,
 * which OpenCL gives only on a queue made with CL_QUEUE_PROFILING_ENABLE;
 * and such a queue times every command, asked or not (PoCL reads the clock
 * four times per command, and a stream of empty dispatches ran ~10% slower
 * for it). So a queue starts without profiling (|untimed|) and moves, for
 * good, to a queue with it (|timed|) at its first command that signals an
 * event, on a device whose profiling clock aidev can use:
 *   - the switch (under |switch_lock|) makes the timed queue, sets the
 *     target to NULL (enqueues that see it wait on the lock), enqueues a
 *     marker at the end of the untimed queue and, first on the timed
 *     queue, a marker that waits on it, then sets the target to the timed
 *     queue: what the timed queue runs comes after everything enqueued on
 *     the untimed one before the switch;
 *   - an enqueue that took the untimed queue as its target looks at the
 *     target again after its enqueue: when it changed, its command may have
 *     landed after that marker, so it adds a marker of its own and has the
 *     timed queue wait on that too (ocl_queue_order_after_untimed), before it
 *     returns. (When it did not change, the switch's marker is enqueued
 *     after this command: the driver's queue lock orders them.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backends/opencl/ocl_internal.h"

/* cl_khr_priority_hints levels. */
static cl_queue_properties priority_hint(aidev_queue_priority priority)
{
    switch (priority) {
    case AIDEV_QUEUE_PRIORITY_HIGH:
        return CL_QUEUE_PRIORITY_HIGH_KHR;
    case AIDEV_QUEUE_PRIORITY_LOW:
        return CL_QUEUE_PRIORITY_LOW_KHR;
    default:
        return CL_QUEUE_PRIORITY_MED_KHR;
    }
}

const char *ocl_priority_hints_missing(const ocl_device_desc *d)
{
    if (!d->priority_hints)
        return "the device lacks cl_khr_priority_hints";
    if (d->version < 20 || d->platform_version < 20 || !ocl.clCreateCommandQueueWithProperties)
        return "cl_khr_priority_hints needs clCreateCommandQueueWithProperties (OpenCL 2.0), "
               "which the platform or device lacks";
    return NULL;
}

aidev_status ocl_cl_queue_create(ocl_device *dev, aidev_queue_priority priority, bool profiling,
                                 cl_command_queue *out)
{
    const ocl_device_desc *d = dev->desc;
    cl_command_queue_properties flags = profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    cl_int err;
    cl_command_queue q;
    if (d->version >= 20 && d->platform_version >= 20 && ocl.clCreateCommandQueueWithProperties) {
        cl_queue_properties props[5] = {CL_QUEUE_PROPERTIES, flags, 0};
        if (!ocl_priority_hints_missing(d)) {
            props[2] = CL_QUEUE_PRIORITY_KHR;
            props[3] = priority_hint(priority);
            props[4] = 0;
        }
        q = ocl.clCreateCommandQueueWithProperties(dev->context, dev->id, props, &err);
        if (!q)
            return ocl_fail("clCreateCommandQueueWithProperties", err, NULL);
    } else {
        q = ocl.clCreateCommandQueue(dev->context, dev->id, flags, &err);
        if (!q)
            return ocl_fail("clCreateCommandQueue", err, NULL);
    }
    *out = q;
    return AIDEV_SUCCESS;
}

aidev_status ocl_queue_create_desc(void *device, aidev_backend_queue_desc *desc, void **out_queue)
{
    const ocl_device *dev = device;
    const char *missing = ocl_priority_hints_missing(dev->desc);
    static const char *const levels[] = {"CL_QUEUE_PRIORITY_LOW_KHR", "CL_QUEUE_PRIORITY_MED_KHR",
                                         "CL_QUEUE_PRIORITY_HIGH_KHR"};
    desc->priority_applied = !missing;
    if (missing)
        snprintf(desc->scheduling, sizeof desc->scheduling, "priority not applied: %s", missing);
    else
        snprintf(desc->scheduling, sizeof desc->scheduling, "%s (cl_khr_priority_hints)",
                 levels[desc->priority - AIDEV_QUEUE_PRIORITY_LOW]);
    /* libaidev sends no flag this backend does not announce. */
    return ocl_queue_create(device, desc->priority, out_queue);
}

aidev_status ocl_queue_create(void *device, aidev_queue_priority priority, void **out_queue)
{
    ocl_device *dev = device;
    ocl_queue *q = calloc(1, sizeof *q);
    if (!q)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_status st = ocl_cl_queue_create(dev, priority, false, &q->untimed);
    if (st != AIDEV_SUCCESS) {
        free(q);
        return st;
    }
    q->dev = dev;
    q->priority = priority;
    atomic_init(&q->queue, q->untimed);
    pthread_mutex_init(&q->switch_lock, NULL);
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* finish() waits with deadlines */
    pthread_cond_init(&q->idle, &attr);
    pthread_condattr_destroy(&attr);
    *out_queue = q;
    return AIDEV_SUCCESS;
}

void ocl_queue_destroy(void *queue)
{
    ocl_queue *q = queue;
    if (q->timed)
        ocl.clReleaseCommandQueue(q->timed);
    ocl.clReleaseCommandQueue(q->untimed);
    ocl_completions_release(q);
    pthread_cond_destroy(&q->idle);
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->switch_lock);
    free(q);
}

/* The target, waiting for a switch in progress to end. */
cl_command_queue ocl_queue_target_wait(ocl_queue *q)
{
    cl_command_queue cq = ocl_queue_target(q);
    if (!cq) {
        pthread_mutex_lock(&q->switch_lock);
        cq = ocl_queue_target(q);
        pthread_mutex_unlock(&q->switch_lock);
    }
    return cq;
}

/* Moves |q| to a queue with profiling (see the top of the file); on
 * failure it stays untimed for good, and its events carry the host times
 * libaidev takes. */
static void switch_to_timed(ocl_queue *q)
{
    pthread_mutex_lock(&q->switch_lock);
    if (q->timed || atomic_load_explicit(&q->timed_failed, memory_order_relaxed)) {
        pthread_mutex_unlock(&q->switch_lock);
        return;
    }
    cl_command_queue timed;
    cl_event end = NULL;
    aidev_status st = ocl_cl_queue_create(q->dev, q->priority, true, &timed);
    if (st == AIDEV_SUCCESS) {
        atomic_store_explicit(&q->queue, NULL, memory_order_seq_cst);
        cl_int err = ocl.clEnqueueMarkerWithWaitList(q->untimed, 0, NULL, &end);
        if (err == CL_SUCCESS)
            err = ocl.clEnqueueMarkerWithWaitList(timed, 1, &end, NULL);
        if (err != CL_SUCCESS) {
            st = ocl_fail("clEnqueueMarkerWithWaitList", err, "switching a queue to profiling");
            ocl.clFinish(q->untimed); /* nothing was enqueued on |timed| */
            ocl.clReleaseCommandQueue(timed);
        }
        if (end)
            ocl.clReleaseEvent(end);
    }
    if (st == AIDEV_SUCCESS) {
        ocl.clFlush(q->untimed);
        q->timed = timed;
        atomic_store_explicit(&q->queue, timed, memory_order_release);
    } else {
        atomic_store_explicit(&q->timed_failed, true, memory_order_relaxed);
        atomic_store_explicit(&q->queue, q->untimed, memory_order_release);
        aidev_backend_debug("opencl", "%s: no queue with profiling (%s): event times are host "
                            "times", q->dev->desc->info.name, aidev_last_error());
        /* The command goes on: it leaves no message behind. */
        aidev_backend_set_error(AIDEV_SUCCESS, "%s", "");
    }
    pthread_mutex_unlock(&q->switch_lock);
}

void ocl_queue_prepare_signal(ocl_queue *q)
{
    /* Its times come from the profiling counters, when the device's
     * clock is usable: move to a timed queue first. */
    if (q->dev->has_clock && ocl_queue_target(q) == q->untimed &&
        !atomic_load_explicit(&q->timed_failed, memory_order_relaxed))
        switch_to_timed(q);
}

/* A command just enqueued on the untimed queue while |q| switched may have
 * landed after the switch's marker: the timed queue waits for it too. */
void ocl_queue_order_after_untimed(ocl_queue *q)
{
    pthread_mutex_lock(&q->switch_lock);
    cl_event end;
    if (q->timed &&
        ocl.clEnqueueMarkerWithWaitList(q->untimed, 0, NULL, &end) == CL_SUCCESS) {
        if (ocl.clEnqueueMarkerWithWaitList(q->timed, 1, &end, NULL) != CL_SUCCESS)
            ocl.clWaitForEvents(1, &end); /* never seen; order it the slow way */
        ocl.clReleaseEvent(end);
        ocl.clFlush(q->untimed);
    }
    pthread_mutex_unlock(&q->switch_lock);
}


aidev_status ocl_queue_finish(void *queue)
{
    ocl_queue *q = queue;
    uint64_t unsignaled = atomic_load_explicit(&q->unsignaled, memory_order_acquire);
    /* The timed queue's work waits on the untimed queue's (see the top of
     * the file): finishing the target finishes both. */
    cl_int err = ocl.clFinish(ocl_queue_target_wait(q));
    if (err != CL_SUCCESS)
        return ocl_fail("clFinish", err, NULL);
    /* The driver may run completion callbacks after clFinish returns; the
     * events must be complete when finish does. */
    ocl_completions_wait(q, unsignaled);
    return AIDEV_SUCCESS;
}

aidev_status ocl_queue_flush(void *queue)
{
    ocl_queue *q = queue;
    cl_command_queue cq = ocl_queue_target_wait(q);
    cl_int err = ocl.clFlush(cq);
    if (err == CL_SUCCESS && cq != q->untimed)
        err = ocl.clFlush(q->untimed);
    return err == CL_SUCCESS ? AIDEV_SUCCESS : ocl_fail("clFlush", err, NULL);
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */
/* ------------------------------------------------------------------------ */

/* The zero fills due on the buffers |cmd| uses, enqueued on |cq| before
 * it (see memory.c). A command that writes a whole buffer needs none. */
aidev_status ocl_zero_buffers_of(cl_command_queue cq, const aidev_backend_command *cmd)
{
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        ocl_zero_not_needed(cmd->u.write.buffer, cmd->u.write.offset, cmd->u.write.size);
        return ocl_zero_before_use(cq, cmd->u.write.buffer);
    case AIDEV_COMMAND_READ:
        return ocl_zero_before_use(cq, cmd->u.read.buffer);
    case AIDEV_COMMAND_COPY: {
        aidev_status st = ocl_zero_before_use(cq, cmd->u.copy.src);
        ocl_zero_not_needed(cmd->u.copy.dst, cmd->u.copy.dst_offset, cmd->u.copy.size);
        return st == AIDEV_SUCCESS ? ocl_zero_before_use(cq, cmd->u.copy.dst) : st;
    }
    case AIDEV_COMMAND_FILL:
        ocl_zero_not_needed(cmd->u.fill.buffer, cmd->u.fill.offset, cmd->u.fill.size);
        return ocl_zero_before_use(cq, cmd->u.fill.buffer);
    case AIDEV_COMMAND_DISPATCH:
        for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++) {
            const aidev_backend_arg *a = &cmd->u.dispatch.args[i];
            if (a->kind != AIDEV_ARG_BUFFER)
                continue;
            aidev_status st = ocl_zero_before_use(cq, a->u.buffer.buffer);
            if (st != AIDEV_SUCCESS)
                return st;
        }
        return AIDEV_SUCCESS;
    default:
        return AIDEV_SUCCESS;
    }
}

aidev_status ocl_queue_enqueue(ocl_queue *q, cl_command_queue cq, const aidev_backend_command *cmd,
                            const ocl_wait_list *w, cl_event *ev, const char **call)
{
    aidev_status zeroed = ocl_zero_buffers_of(cq, cmd);
    if (zeroed != AIDEV_SUCCESS) {
        *call = "clEnqueueFillBuffer";
        return zeroed;
    }
    cl_int err;
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE: {
        const ocl_buffer *b = cmd->u.write.buffer;
        *call = "clEnqueueWriteBuffer";
        err = ocl.clEnqueueWriteBuffer(cq, b->mem, CL_FALSE, (size_t)cmd->u.write.offset,
                                       (size_t)cmd->u.write.size, cmd->u.write.src, w->count,
                                       w->events, ev);
        break;
    }
    case AIDEV_COMMAND_READ: {
        const ocl_buffer *b = cmd->u.read.buffer;
        *call = "clEnqueueReadBuffer";
        err = ocl.clEnqueueReadBuffer(cq, b->mem, CL_FALSE, (size_t)cmd->u.read.offset,
                                      (size_t)cmd->u.read.size, cmd->u.read.dst, w->count,
                                      w->events, ev);
        break;
    }
    case AIDEV_COMMAND_COPY: {
        const ocl_buffer *s = cmd->u.copy.src, *d = cmd->u.copy.dst;
        *call = "clEnqueueCopyBuffer";
        err = ocl.clEnqueueCopyBuffer(cq, s->mem, d->mem, (size_t)cmd->u.copy.src_offset,
                                      (size_t)cmd->u.copy.dst_offset, (size_t)cmd->u.copy.size,
                                      w->count, w->events, ev);
        break;
    }
    case AIDEV_COMMAND_FILL: {
        const ocl_buffer *b = cmd->u.fill.buffer;
        *call = "clEnqueueFillBuffer";
        err = ocl.clEnqueueFillBuffer(cq, b->mem, &cmd->u.fill.pattern, cmd->u.fill.pattern_size,
                                      (size_t)cmd->u.fill.offset, (size_t)cmd->u.fill.size,
                                      w->count, w->events, ev);
        break;
    }
    case AIDEV_COMMAND_BARRIER:
        *call = "clEnqueueMarkerWithWaitList";
        /* The queue is in order: with nothing to wait for and nothing to
         * signal, a barrier is already there. */
        if (w->count == 0 && !ev)
            return AIDEV_SUCCESS;
        err = ocl.clEnqueueMarkerWithWaitList(cq, w->count, w->events, ev);
        break;
    case AIDEV_COMMAND_DISPATCH:
        *call = "clEnqueueNDRangeKernel";
        return ocl_kernel_enqueue(q, cq, cmd->u.dispatch.kernel, cmd, w, ev);
    case AIDEV_COMMAND_PREFETCH: {
        const ocl_buffer *b = cmd->u.prefetch.buffer;
        /* SVM migrates (OpenCL 2.1); anything else already is where the
         * driver keeps it: the hint only orders. */
        if (!b->svm || q->dev->desc->version < 21 || !ocl.clEnqueueSVMMigrateMem) {
            *call = "clEnqueueMarkerWithWaitList";
            err = ocl.clEnqueueMarkerWithWaitList(cq, w->count, w->events, ev);
            break;
        }
        *call = "clEnqueueSVMMigrateMem";
        const void *ptr = (const char *)b->svm + cmd->u.prefetch.offset;
        size_t size = (size_t)cmd->u.prefetch.size;
        cl_mem_migration_flags flags =
            cmd->u.prefetch.flags & AIDEV_PREFETCH_TO_HOST ? CL_MIGRATE_MEM_OBJECT_HOST : 0;
        err = ocl.clEnqueueSVMMigrateMem(cq, 1, &ptr, &size, flags, w->count, w->events, ev);
        break;
    }
    default:
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "opencl: command type %d is not run by this backend",
                                       (int)cmd->type);
    }
    return err == CL_SUCCESS ? AIDEV_SUCCESS : ocl_fail(*call, err, NULL);
}

/* A barrier that waits for nothing but the queue's earlier commands,
 * when all of those are known complete, completes here and now. PoCL runs
 * a marker only when a worker thread is free, so behind another queue's
 * kernel an idle queue's barrier (libaidev puts one before every file read
 * and host callback) would wait for that kernel. */
static bool barrier_done_at_once(ocl_queue *q, const aidev_backend_command *cmd,
                                 uint32_t wait_count, aidev_backend_event *signal)
{
    if (cmd->type != AIDEV_COMMAND_BARRIER || wait_count || !signal)
        return false;
    pthread_mutex_lock(&q->lock);
    bool idle = q->inflight_count == q->delivering &&
                atomic_load_explicit(&q->unsignaled, memory_order_acquire) == q->covered;
    pthread_mutex_unlock(&q->lock);
    if (!idle)
        return false;
    uint64_t now = aidev_backend_now_ns();
    aidev_backend_event_set_times(signal, now, now);
    aidev_backend_event_complete(signal, AIDEV_SUCCESS, NULL);
    return true;
}

/* Counts a command enqueued without an event, after its enqueue returned:
 * a later signaled command that reads the count then follows it. */
static void count_unsignaled(ocl_queue *q)
{
    atomic_fetch_add_explicit(&q->unsignaled, 1, memory_order_release);
}

/* A command with waits or an event: its wait list collected, its
 * completion prepared. Out of line: the stream of commands without either
 * needs none of its frame. */
static __attribute__((noinline)) aidev_status submit_with_events(
    ocl_queue *q, const aidev_backend_command *cmd, uint32_t wait_count,
    aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    const char *call = "enqueue";
    if (barrier_done_at_once(q, cmd, wait_count, signal))
        return AIDEV_SUCCESS;
    /* Everything that can fail comes before the enqueue: after it, the
     * command runs and only its event may report. */
    ocl_completion *done = NULL;
    if (signal && !(done = ocl_completion_new()))
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ocl_wait_list w;
    aidev_status st = ocl_waits_collect(q->dev, wait_count, waits, &w);
    if (st != AIDEV_SUCCESS) {
        free(done);
        return st;
    }
    if (signal)
        ocl_queue_prepare_signal(q);
    uint64_t unsignaled_before = atomic_load_explicit(&q->unsignaled, memory_order_acquire);
    cl_event ev = NULL;
    cl_command_queue cq = ocl_queue_target_wait(q);
    st = ocl_queue_enqueue(q, cq, cmd, &w, signal ? &ev : NULL, &call);
    ocl_queue_after_enqueue(q, cq);
    ocl_waits_release(&w);
    if (st != AIDEV_SUCCESS) {
        free(done);
        return st;
    }
    if (signal)
        ocl_event_attach(q, done, signal, ev, call, unsignaled_before);
    else
        count_unsignaled(q);
    return AIDEV_SUCCESS;
}

aidev_status ocl_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    ocl_queue *q = queue;
    if (wait_count || signal)
        return submit_with_events(q, cmd, wait_count, waits, signal);
    /* The common case of a pipelined stream: nothing to collect (and no
     * wait list to clear: it holds a 16-event array). */
    static const ocl_wait_list none = {.events = NULL, .count = 0};
    const char *call;
    cl_command_queue cq = ocl_queue_target_wait(q);
    aidev_status st = ocl_queue_enqueue(q, cq, cmd, &none, NULL, &call);
    ocl_queue_after_enqueue(q, cq);
    if (st == AIDEV_SUCCESS)
        count_unsignaled(q);
    return st;
}

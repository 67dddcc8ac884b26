/*
 * completion.c - bringing completions back to libaidev.
 *
 * A batch that signals an event must be seen as soon as it is done, by a
 * thread that is not the user's: each queue has a completion thread that
 * waits on the queue's timeline semaphore for the oldest such batch, and
 * sleeps on a condition variable while there is none. (One thread waiting
 * on every queue with VK_SEMAPHORE_WAIT_ANY_BIT would be fewer threads, but
 * the validation layer of Vulkan SDK 1.3.239 mishandles WAIT_ANY; one
 * semaphore per wait is also what every driver handles best.) Whoever sees
 * a batch done retires it
 * (vkb_queue_process): host copies of reads, timestamps, event completion,
 * release of the objects it used, recycling of its command buffer.
 * queue_finish retires on the calling thread, so finishing costs no thread
 * hop. Batches without events are retired by the next that has one, or by
 * finish, or (when many pile up) by the thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

/* ------------------------------------------------------------------------ */
/* Retiring batches                                                         */
/* ------------------------------------------------------------------------ */

/* The command's device times in CLOCK_MONOTONIC, kept in order with the
 * host's view: not before submission, not after now. */
static void set_times(vkb_batch *b)
{
    vkb_device *dev = b->queue->dev;
    uint64_t ts[2];
    if (b->times) {
        /* Copied by the batch itself (vkb_batch_end_times); coherent. */
        memcpy(ts, b->times->host, sizeof ts);
    } else {
        VkResult r = dev->f.vkGetQueryPoolResults(dev->handle, b->query_pool, 0, 2, sizeof ts,
                                                  ts, sizeof ts[0], VK_QUERY_RESULT_64_BIT);
        if (r != VK_SUCCESS)
            return;
    }
    uint64_t start = vkb_device_ticks_to_ns(dev, ts[0]);
    uint64_t end = vkb_device_ticks_to_ns(dev, ts[1]);
    uint64_t now = aidev_backend_now_ns();
    /* The conversion is good to the calibration's error: keep the times
     * within [submission, now] and in order. */
    if (start < b->submit_ns)
        start = b->submit_ns;
    if (start > now)
        start = now;
    if (end < start)
        end = start;
    if (end > now)
        end = now;
    aidev_backend_event_set_times(b->signal, start, end);
}

static void complete_batch(vkb_batch *b)
{
    vkb_queue *q = b->queue;
    /* Events of other queues this batch waited on complete first. */
    for (uint32_t i = 0; i < b->wait_count; i++)
        if (b->wait_timelines[i] != q->timeline)
            vkb_timeline_wait_processed(q->dev, b->wait_timelines[i], b->wait_values[i]);
    for (uint32_t i = 0; i < b->read_count; i++) {
        vkb_readback *rb = &b->reads[i];
        aidev_status st = vkb_buffer_invalidate(rb->staging, 0, rb->size);
        if (st != AIDEV_SUCCESS) {
            /* The bytes cannot be trusted: fail the batch's event. */
            char why[400];
            snprintf(why, sizeof why, "reading back %llu bytes: %s",
                     (unsigned long long)rb->size, aidev_last_error());
            vkb_batch_retire(b, st, why);
            return;
        }
        memcpy(rb->dst, rb->staging->host, rb->size);
    }
    if (b->signal && b->timed)
        set_times(b);
    vkb_batch_retire(b, AIDEV_SUCCESS, NULL);
}

/* Takes the oldest batch if it is done by |done|. */
static vkb_batch *pop_done(vkb_queue *q, uint64_t done)
{
    pthread_mutex_lock(&q->inflight_lock);
    vkb_batch *b = q->inflight_head;
    if (b && b->value <= done) {
        q->inflight_head = b->next;
        if (!q->inflight_head)
            q->inflight_tail = NULL;
        q->inflight_count--;
        if (b->needs_completion)
            q->completion_pending--;
    } else {
        b = NULL;
    }
    pthread_mutex_unlock(&q->inflight_lock);
    return b;
}

void vkb_queue_process(vkb_queue *q, uint64_t known_done)
{
    vkb_device *dev = q->dev;
    pthread_mutex_lock(&q->complete_lock);
    uint64_t done = known_done;
    if (!done) {
        VkResult r = dev->f.vkGetSemaphoreCounterValue(dev->handle, q->sem, &done);
        if (r != VK_SUCCESS)
            vkb_device_error(dev, "vkGetSemaphoreCounterValue", r);
    }
    if (done > __atomic_load_n(&q->done_hint, __ATOMIC_RELAXED))
        __atomic_store_n(&q->done_hint, done, __ATOMIC_RELAXED);
    if (atomic_load(&dev->lost)) {
        pthread_mutex_unlock(&q->complete_lock);
        vkb_queue_fail_inflight(q, AIDEV_ERROR_DEVICE_LOST, dev->lost_reason);
        return;
    }
    vkb_batch *b;
    while ((b = pop_done(q, done))) {
        uint64_t value = b->value;
        bool host = b->host_reads;
        complete_batch(b);
        if (host) {
            /* Its read-backs are on the host now: a held write may go. */
            pthread_mutex_lock(&q->inflight_lock);
            q->inflight_host--;
            pthread_mutex_unlock(&q->inflight_lock);
        }
        /* Tell waiters at once (a queue that waits on this one may be what
         * this one waits for next), but only once every batch of this value
         * (a barrier's shares the value of the batch it marks) is retired. */
        pthread_mutex_lock(&q->inflight_lock);
        bool more = q->inflight_head && q->inflight_head->value == value;
        pthread_mutex_unlock(&q->inflight_lock);
        if (!more)
            vkb_timeline_set_processed(dev, q->timeline, value);
    }
    pthread_mutex_unlock(&q->complete_lock);
    /* Commands held for the queue's own retirement (writes) may go. */
    if (__atomic_load_n(&q->held_head, __ATOMIC_RELAXED))
        vkb_queue_drain(q);
}

void vkb_queue_fail_inflight(vkb_queue *q, aidev_status status, const char *why)
{
    pthread_mutex_lock(&q->complete_lock);
    vkb_batch *b;
    while ((b = pop_done(q, UINT64_MAX))) {
        char message[400];
        snprintf(message, sizeof message, "vulkan: device '%s': %s",
                 q->dev->phys->props.deviceName, why);
        uint64_t value = b->value;
        bool host = b->host_reads;
        vkb_batch_retire(b, status, message);
        vkb_timeline_set_processed(q->dev, q->timeline, value);
        if (host) {
            pthread_mutex_lock(&q->inflight_lock);
            q->inflight_host--;
            pthread_mutex_unlock(&q->inflight_lock);
        }
    }
    pthread_mutex_unlock(&q->complete_lock);
}

/* ------------------------------------------------------------------------ */
/* The thread                                                               */
/* ------------------------------------------------------------------------ */

/* The value of the oldest batch that must be seen (inflight lock held);
 * false when there is none. (0 is a value: a barrier on a fresh queue.) */
static bool first_needed(vkb_queue *q, uint64_t *value)
{
    for (vkb_batch *b = q->inflight_head; b; b = b->next)
        if (b->needs_completion) {
            *value = b->value;
            return true;
        }
    return false;
}

static void *completion_main(void *arg)
{
    vkb_queue *q = arg;
    vkb_device *dev = q->dev;
    pthread_mutex_lock(&q->inflight_lock);
    while (!q->cq_stop) {
        uint64_t value = 0;
        if (atomic_load(&dev->lost) || !first_needed(q, &value)) {
            pthread_cond_wait(&q->cq_cond, &q->inflight_lock);
            if (atomic_load(&dev->lost) && q->inflight_head) {
                pthread_mutex_unlock(&q->inflight_lock);
                vkb_queue_process(q, 0); /* fails what is in flight */
                pthread_mutex_lock(&q->inflight_lock);
            }
            continue;
        }
        pthread_mutex_unlock(&q->inflight_lock);
        /* Only submitted values are waited for: the wait ends, unless the
         * device hangs (then the timeout lets a loss be noticed). */
        VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                  .semaphoreCount = 1,
                                  .pSemaphores = &q->sem,
                                  .pValues = &value};
        VkResult r = dev->f.vkWaitSemaphores(dev->handle, &wi, 1000000000ull);
        if (r != VK_SUCCESS && r != VK_TIMEOUT)
            vkb_device_error(dev, "vkWaitSemaphores", r);
        vkb_queue_process(q, 0);
        /* Commands recorded while the device was busy go now. */
        if (!atomic_load(&dev->lost))
            vkb_queue_submit_if_idle(q);
        pthread_mutex_lock(&q->inflight_lock);
    }
    pthread_mutex_unlock(&q->inflight_lock);
    return NULL;
}

aidev_status vkb_completion_start(vkb_queue *q)
{
    pthread_cond_init(&q->cq_cond, NULL);
    int err = pthread_create(&q->cq_thread, NULL, completion_main, q);
    if (err) {
        pthread_cond_destroy(&q->cq_cond);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       "vulkan: cannot start a completion thread: %s",
                                       strerror(err));
    }
    vkb_device *dev = q->dev;
    pthread_mutex_lock(&dev->queues_lock);
    q->next_in_device = dev->queues;
    dev->queues = q;
    pthread_mutex_unlock(&dev->queues_lock);
    return AIDEV_SUCCESS;
}

void vkb_completion_stop(vkb_queue *q)
{
    vkb_device *dev = q->dev;
    pthread_mutex_lock(&dev->queues_lock);
    for (vkb_queue **p = &dev->queues; *p; p = &(*p)->next_in_device)
        if (*p == q) {
            *p = q->next_in_device;
            break;
        }
    pthread_mutex_unlock(&dev->queues_lock);
    pthread_mutex_lock(&q->inflight_lock);
    q->cq_stop = true;
    pthread_cond_signal(&q->cq_cond);
    pthread_mutex_unlock(&q->inflight_lock);
    pthread_join(q->cq_thread, NULL);
    pthread_cond_destroy(&q->cq_cond);
}

void vkb_completion_device_lost(vkb_device *dev)
{
    pthread_mutex_lock(&dev->queues_lock);
    for (vkb_queue *q = dev->queues; q; q = q->next_in_device) {
        pthread_mutex_lock(&q->inflight_lock);
        pthread_cond_signal(&q->cq_cond);
        pthread_mutex_unlock(&q->inflight_lock);
    }
    pthread_mutex_unlock(&dev->queues_lock);
}

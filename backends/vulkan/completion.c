/*
 * completion.c - bringing completions back to libaidev.
 *
 * A batch that signals an event must be seen as soon as it is done, by a
 * thread that is not the user's: one completion thread per device waits on
 * the timeline semaphores of every queue (VK_SEMAPHORE_WAIT_ANY_BIT) for the
 * oldest such batch of each, and on a wake semaphore the host signals when a
 * queue gets its first such batch. Whoever sees a batch done retires it
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

#define MAX_WAITS 64

/* ------------------------------------------------------------------------ */
/* Retiring batches                                                         */
/* ------------------------------------------------------------------------ */

/* The command's device times in CLOCK_MONOTONIC, kept in order with the
 * host's view: not before submission, not after now. */
static void set_times(vkb_batch *b)
{
    vkb_device *dev = b->queue->dev;
    uint64_t ts[2];
    VkResult r = dev->f.vkGetQueryPoolResults(dev->handle, b->query_pool, 0, 2, sizeof ts, ts,
                                              sizeof ts[0], VK_QUERY_RESULT_64_BIT);
    if (r != VK_SUCCESS)
        return;
    uint64_t start = vkb_device_ticks_to_ns(dev, ts[0]);
    uint64_t end = vkb_device_ticks_to_ns(dev, ts[1]);
    uint64_t now = aidev_backend_now_ns();
    if (start < b->submit_ns)
        start = b->submit_ns;
    if (end > now)
        end = now;
    if (start > end)
        start = end;
    aidev_backend_event_set_times(b->signal, start, end);
}

static void complete_batch(vkb_batch *b)
{
    for (uint32_t i = 0; i < b->read_count; i++) {
        vkb_readback *rb = &b->reads[i];
        vkb_buffer_invalidate(rb->staging, 0, rb->size);
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

void vkb_queue_process(vkb_queue *q)
{
    vkb_device *dev = q->dev;
    pthread_mutex_lock(&q->complete_lock);
    uint64_t done = 0;
    VkResult r = dev->f.vkGetSemaphoreCounterValue(dev->handle, q->sem, &done);
    if (r != VK_SUCCESS)
        vkb_device_error(dev, "vkGetSemaphoreCounterValue", r);
    if (atomic_load(&dev->lost)) {
        pthread_mutex_unlock(&q->complete_lock);
        vkb_queue_fail_inflight(q, AIDEV_ERROR_DEVICE_LOST, dev->lost_reason);
        return;
    }
    vkb_batch *b;
    while ((b = pop_done(q, done)))
        complete_batch(b);
    pthread_mutex_unlock(&q->complete_lock);
}

void vkb_queue_fail_inflight(vkb_queue *q, aidev_status status, const char *why)
{
    pthread_mutex_lock(&q->complete_lock);
    vkb_batch *b;
    while ((b = pop_done(q, UINT64_MAX))) {
        char message[400];
        snprintf(message, sizeof message, "vulkan: device '%s': %s",
                 q->dev->phys->props.deviceName, why);
        vkb_batch_retire(b, status, message);
    }
    pthread_mutex_unlock(&q->complete_lock);
}

/* ------------------------------------------------------------------------ */
/* The thread                                                               */
/* ------------------------------------------------------------------------ */

/* The oldest batch of |q| that must be seen, or 0. */
static uint64_t first_needed(vkb_queue *q)
{
    uint64_t value = 0;
    pthread_mutex_lock(&q->inflight_lock);
    for (vkb_batch *b = q->inflight_head; b; b = b->next)
        if (b->needs_completion) {
            value = b->value;
            break;
        }
    pthread_mutex_unlock(&q->inflight_lock);
    return value;
}

static void *completion_main(void *arg)
{
    vkb_device *dev = arg;
    VkSemaphore sems[MAX_WAITS];
    uint64_t values[MAX_WAITS];
    uint64_t wake_seen = 0;
    pthread_mutex_lock(&dev->cq_lock);
    while (!dev->cq_stop) {
        uint32_t n = 0;
        sems[n] = dev->wake_sem;
        values[n++] = wake_seen + 1;
        for (vkb_queue *q = dev->queues; q && n < MAX_WAITS; q = q->next_in_device) {
            uint64_t v = first_needed(q);
            if (v) {
                sems[n] = q->sem;
                values[n++] = v;
            }
        }
        dev->cq_waiting = true;
        pthread_mutex_unlock(&dev->cq_lock);

        VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                  .flags = VK_SEMAPHORE_WAIT_ANY_BIT,
                                  .semaphoreCount = n,
                                  .pSemaphores = sems,
                                  .pValues = values};
        VkResult r = atomic_load(&dev->lost)
                         ? VK_ERROR_DEVICE_LOST
                         : dev->f.vkWaitSemaphores(dev->handle, &wi, 1000000000ull);
        if (r != VK_SUCCESS && r != VK_TIMEOUT && !atomic_load(&dev->lost))
            vkb_device_error(dev, "vkWaitSemaphores", r);
        if (!atomic_load(&dev->lost) &&
            dev->f.vkGetSemaphoreCounterValue(dev->handle, dev->wake_sem, &wake_seen) !=
                VK_SUCCESS)
            wake_seen = 0;

        pthread_mutex_lock(&dev->cq_lock);
        dev->cq_waiting = false;
        for (vkb_queue *q = dev->queues; q;) {
            q->cq_busy = true;
            pthread_mutex_unlock(&dev->cq_lock);
            vkb_queue_process(q);
            pthread_mutex_lock(&dev->cq_lock);
            q->cq_busy = false;
            vkb_queue *next = q->next_in_device;
            pthread_cond_broadcast(&dev->cq_cond);
            q = next;
        }
        if (atomic_load(&dev->lost) && !dev->cq_stop) {
            /* Nothing will signal any more: sleep until told to stop. */
            pthread_cond_wait(&dev->cq_cond, &dev->cq_lock);
        }
    }
    pthread_mutex_unlock(&dev->cq_lock);
    return NULL;
}

void vkb_completion_wake(vkb_device *dev)
{
    if (!dev->completion_started)
        return;
    pthread_mutex_lock(&dev->cq_lock);
    if (atomic_load(&dev->lost)) {
        pthread_cond_broadcast(&dev->cq_cond);
    } else {
        /* Host signals must rise: the lock orders them. */
        VkSemaphoreSignalInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO,
                                    .semaphore = dev->wake_sem,
                                    .value = ++dev->wake_value};
        dev->f.vkSignalSemaphore(dev->handle, &si);
    }
    pthread_mutex_unlock(&dev->cq_lock);
}

aidev_status vkb_completion_start(vkb_device *dev)
{
    pthread_mutex_init(&dev->cq_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&dev->cq_cond, &attr);
    pthread_condattr_destroy(&attr);
    int err = pthread_create(&dev->completion_thread, NULL, completion_main, dev);
    if (err)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       "vulkan: cannot start the completion thread: %s",
                                       strerror(err));
    dev->completion_started = true;
    return AIDEV_SUCCESS;
}

void vkb_completion_stop(vkb_device *dev)
{
    if (!dev->completion_started)
        return;
    pthread_mutex_lock(&dev->cq_lock);
    dev->cq_stop = true;
    pthread_mutex_unlock(&dev->cq_lock);
    vkb_completion_wake(dev);
    pthread_mutex_lock(&dev->cq_lock);
    pthread_cond_broadcast(&dev->cq_cond);
    pthread_mutex_unlock(&dev->cq_lock);
    pthread_join(dev->completion_thread, NULL);
    dev->completion_started = false;
    pthread_cond_destroy(&dev->cq_cond);
    pthread_mutex_destroy(&dev->cq_lock);
}

void vkb_completion_add_queue(vkb_device *dev, vkb_queue *q)
{
    pthread_mutex_lock(&dev->cq_lock);
    q->next_in_device = dev->queues;
    dev->queues = q;
    pthread_mutex_unlock(&dev->cq_lock);
}

void vkb_completion_remove_queue(vkb_device *dev, vkb_queue *q)
{
    pthread_mutex_lock(&dev->cq_lock);
    while (q->cq_busy)
        pthread_cond_wait(&dev->cq_cond, &dev->cq_lock);
    for (vkb_queue **p = &dev->queues; *p; p = &(*p)->next_in_device)
        if (*p == q) {
            *p = q->next_in_device;
            break;
        }
    pthread_mutex_unlock(&dev->cq_lock);
}

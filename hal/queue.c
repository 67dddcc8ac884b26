/*
 * queue.c - queue objects: creation, finish, release. What a queue does
 * with commands is hal/enqueue.c (the calls) and hal/scheduler.c (holding
 * and submitting them).
 */
#include <stdlib.h>

#include "hal/scheduler.h"

static void queue_destroy_linked(aidev_object *o);

/* ------------------------------------------------------------------------ */
/* Queue lifetime                                                           */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_queue_create(aidev_device device, aidev_queue_priority priority,
                                          aidev_queue *out_queue)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_queue)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_queue: NULL");
    *out_queue = NULL;
    if (priority < AIDEV_QUEUE_PRIORITY_LOW || priority > AIDEV_QUEUE_PRIORITY_HIGH)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "priority: %d; use AIDEV_QUEUE_PRIORITY_LOW, _NORMAL or _HIGH",
                           (int)priority);
    st = aidev_device_ensure_open(dev);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_queue_obj *q = calloc(1, sizeof *q);
    if (!q)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    static atomic_uint next_queue_id = 1;
    q->id = atomic_fetch_add(&next_queue_id, 1);
    q->device = dev;
    q->priority = priority;
    q->obj.context = dev->obj.context;
    q->failures = aidev_queue_failures_new();
    if (!q->failures) {
        free(q);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    aidev_scheduler_queue_init(q);
    aidev_error_clear();
    st = AIDEV_DEVICE_VT(dev)->queue_create(dev->native, priority, &q->native);
    if (st == AIDEV_SUCCESS) {
        q->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_QUEUE, q);
        if (!q->obj.handle) {
            AIDEV_DEVICE_VT(dev)->queue_destroy(q->native);
            st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
        }
    } else if (!aidev_error_message()[0]) {
        aidev_error(st, "backend '%s' could not create a queue", dev->backend->name);
    }
    if (st != AIDEV_SUCCESS) {
        aidev_scheduler_queue_fini(q);
        aidev_queue_failures_release(q->failures);
        free(q);
        return st;
    }
    aidev_context_link(dev->obj.context, &q->obj, AIDEV_HANDLE_QUEUE, queue_destroy_linked);
    aidev_trace_queue(q);
    *out_queue = (aidev_queue)q->obj.handle;
    return AIDEV_SUCCESS;
}

/* Waits for the hold list, then the backend. A broken queue's error comes
 * first (the record stays for the next finish); otherwise the first
 * failure since the last finish. */
static aidev_status queue_finish(aidev_queue_obj *q)
{
    aidev_scheduler_wait_drained(q);
    aidev_error_clear();
    aidev_status st = AIDEV_DEVICE_VT(q->device)->queue_finish(q->native);
    if (st != AIDEV_SUCCESS) {
        if (!aidev_error_message()[0])
            aidev_error(st, "backend '%s': queue_finish failed", q->device->backend->name);
        return st;
    }
    return aidev_queue_failures_take(q->failures);
}

AIDEV_API aidev_status aidev_queue_finish(aidev_queue queue)
{
    aidev_error_clear();
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st != AIDEV_SUCCESS)
        return st;
    return queue_finish(q);
}

static void queue_destroy(aidev_queue_obj *q);

/* The context's teardown of a queue the user did not release. */
static void queue_destroy_linked(aidev_object *o)
{
    queue_destroy((aidev_queue_obj *)o);
}

static void queue_destroy(aidev_queue_obj *q)
{
    aidev_context_unlink(&q->obj);
    aidev_handle_free(q->obj.handle);
    q->obj.handle = 0;
    /* Releasing discards the failure record: the events carry each one. */
    queue_finish(q);
    aidev_error_clear();
    AIDEV_DEVICE_VT(q->device)->queue_destroy(q->native);
    aidev_scheduler_queue_fini(q);
    aidev_queue_failures_release(q->failures);
    free(q);
}

AIDEV_API aidev_status aidev_queue_release(aidev_queue queue)
{
    aidev_error_clear();
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st != AIDEV_SUCCESS)
        return st;
    uint32_t users = atomic_load(&q->graph_users);
    if (users)
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "queue: %u instantiated graph%s use%s it; release them first", users,
                           users == 1 ? "" : "s", users == 1 ? "s" : "");
    queue_destroy(q);
    return AIDEV_SUCCESS;
}

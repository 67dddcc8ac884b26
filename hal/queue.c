/*
 * queue.c - queue objects: creation, finish, release. What a queue does
 * with commands is hal/enqueue.c (the calls) and hal/scheduler.c (holding
 * and submitting them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/scheduler.h"

static void queue_destroy_linked(aidev_object *o);

/* ------------------------------------------------------------------------ */
/* Queue lifetime                                                           */
/* ------------------------------------------------------------------------ */

/* Checks |priority| and |flags| against |dev|: what the caller may ask. */
static aidev_status queue_check_request(const aidev_device_obj *dev, aidev_queue_priority priority,
                                        uint32_t flags)
{
    if (priority < AIDEV_QUEUE_PRIORITY_LOW || priority > AIDEV_QUEUE_PRIORITY_HIGH)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "priority: %d; use AIDEV_QUEUE_PRIORITY_LOW, _NORMAL or _HIGH",
                           (int)priority);
    const uint32_t known = AIDEV_QUEUE_LOW_LATENCY;
    if (flags & ~known)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "flags: %#x has bits %#x that are no aidev_queue_flags (known: "
                           "AIDEV_QUEUE_LOW_LATENCY %#x)",
                           flags, flags & ~known, known);
    if ((flags & AIDEV_QUEUE_LOW_LATENCY) &&
        !(dev->info->features & AIDEV_FEATURE_QUEUE_LOW_LATENCY))
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "flags: AIDEV_QUEUE_LOW_LATENCY: device %u ('%s', backend '%s') "
                           "lacks AIDEV_FEATURE_QUEUE_LOW_LATENCY: %s",
                           dev->index, dev->info->name, dev->backend->name,
                           dev->info->queue_scheduling[0]
                               ? dev->info->queue_scheduling
                               : "its backend takes no queue flags");
    return AIDEV_SUCCESS;
}

/* Creates the backend's queue: through queue_create_desc (ABI 1.5), which
 * takes the flags and says what it did, else through queue_create. */
static aidev_status queue_create_native(aidev_queue_obj *q)
{
    const aidev_backend_vtable *vt = AIDEV_DEVICE_VT(q->device);
    aidev_device_obj *dev = q->device;
    if (!vt->queue_create_desc) {
        snprintf(q->scheduling, sizeof q->scheduling,
                 "unknown: backend '%s' does not say how it applies queue priorities",
                 dev->backend->name);
        return vt->queue_create(dev->native, q->priority, &q->native);
    }
    aidev_backend_queue_desc desc = {.struct_size = sizeof desc,
                                     .priority = q->priority,
                                     .flags = q->flags};
    aidev_status st = vt->queue_create_desc(dev->native, &desc, &q->native);
    desc.scheduling[sizeof desc.scheduling - 1] = '\0';
    q->priority_applied = desc.priority_applied;
    if (desc.scheduling[0])
        memcpy(q->scheduling, desc.scheduling, sizeof q->scheduling);
    else
        snprintf(q->scheduling, sizeof q->scheduling, "%s",
                 desc.priority_applied ? "priority applied" : "priority not applied");
    return st;
}

AIDEV_API aidev_status aidev_queue_create_with_flags(aidev_device device,
                                                     aidev_queue_priority priority,
                                                     uint32_t flags, aidev_queue *out_queue)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_queue)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_queue: NULL");
    *out_queue = NULL;
    st = queue_check_request(dev, priority, flags);
    if (st != AIDEV_SUCCESS)
        return st;
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
    q->flags = flags;
    q->obj.context = dev->obj.context;
    q->failures = aidev_queue_failures_new();
    if (!q->failures) {
        free(q);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    aidev_scheduler_queue_init(q);
    aidev_error_clear();
    st = queue_create_native(q);
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

AIDEV_API aidev_status aidev_queue_create(aidev_device device, aidev_queue_priority priority,
                                          aidev_queue *out_queue)
{
    return aidev_queue_create_with_flags(device, priority, 0, out_queue);
}

AIDEV_API aidev_status aidev_queue_get_info(aidev_queue queue, aidev_queue_info key,
                                            size_t value_size, void *value, size_t *size_ret)
{
    aidev_error_clear();
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st != AIDEV_SUCCESS)
        return st;
    int32_t priority = (int32_t)q->priority;
    uint32_t applied = q->priority_applied ? 1u : 0u;
    aidev_device device = (aidev_device)q->device->obj.handle;
    switch (key) {
    case AIDEV_QUEUE_INFO_PRIORITY:
        return aidev_info_put(&priority, sizeof priority, value_size, value, size_ret,
                              "AIDEV_QUEUE_INFO_PRIORITY");
    case AIDEV_QUEUE_INFO_FLAGS:
        return aidev_info_put(&q->flags, sizeof q->flags, value_size, value, size_ret,
                              "AIDEV_QUEUE_INFO_FLAGS");
    case AIDEV_QUEUE_INFO_PRIORITY_APPLIED:
        return aidev_info_put(&applied, sizeof applied, value_size, value, size_ret,
                              "AIDEV_QUEUE_INFO_PRIORITY_APPLIED");
    case AIDEV_QUEUE_INFO_SCHEDULING:
        return aidev_info_put_string(q->scheduling, value_size, value, size_ret,
                                     "AIDEV_QUEUE_INFO_SCHEDULING");
    case AIDEV_QUEUE_INFO_DEVICE:
        return aidev_info_put(&device, sizeof device, value_size, value, size_ret,
                              "AIDEV_QUEUE_INFO_DEVICE");
    }
    return aidev_error(AIDEV_ERROR_NOT_FOUND, "key: %d is not an aidev_queue_info", (int)key);
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

/*
 * placement.h - context buffers: one buffer, a copy per place it is
 * needed (issue 16, aidev.h "Buffers on several devices").
 *
 * A context buffer (aidev_placed_buffer, hal/placement.c) has places: the
 * host (its home) and one per device. A device whose memory is host
 * memory and that imports host memory uses the host place itself, through
 * an imported buffer over the host copy; any other device gets a DEVICE
 * buffer of its own on first use. Those per-device buffers ("copies") are
 * ordinary buffer objects, flagged AIDEV_BUFFER_CONTEXT_COPY and pointing
 * back at their context buffer, so every check of an enqueue call works on
 * them unchanged: only the lookup of a handle (aidev_buffer_lookup_on) and
 * the submit (aidev_placement_submit, hal/placement_order.c) know of them.
 *
 * The submit is where the coherence lives: per place, whether its copy is
 * valid, its last write and its reads since, all as events; a command that
 * reads on an invalid place gets transfers first, a write invalidates
 * every other place; each command waits for what its accesses need (read
 * after write, write after reads and write). One lock per context orders
 * it all, so the order of the records is the order of the submits.
 */
#ifndef AIDEV_HAL_PLACEMENT_H
#define AIDEV_HAL_PLACEMENT_H

#include "hal/scheduler.h"

/* Where a place's copy stands, and the events that order access to it
 * (each retained). */
typedef struct aidev_place {
    bool valid;
    aidev_event_obj *last_write;   /* NULL: none pending that we know of */
    aidev_event_obj **readers;     /* reads since the last write */
    uint32_t reader_count, reader_capacity;
} aidev_place;

/* The host copy's memory, shared by the context buffer, the imports over
 * it and the transfers in flight that read or write it: the last of them
 * frees it. */
typedef struct aidev_placed_host aidev_placed_host;

typedef struct aidev_placed_buffer {
    aidev_object obj;
    uint64_t size;
    aidev_type element_type;
    uint32_t flags;                /* the user's AIDEV_BUFFER_* */
    aidev_placed_host *host;
    uint32_t device_count;         /* the context's */
    /* Per device: its place in |places| (0: the host; 1 + index: its own
     * memory) and its copy (NULL until a command of it named the buffer;
     * we hold its handle). */
    uint32_t *place_of;
    aidev_buffer_obj **copies;
    aidev_place *places;           /* device_count + 1 */
} aidev_placed_buffer;

/* The context's side of it (hal/placement.c): the lock and one transfer
 * queue per device, made on first use. */
typedef struct aidev_placement {
    pthread_mutex_t lock;
    uint32_t device_count;
    aidev_queue_obj **transfer;
} aidev_placement;

static inline aidev_placement *aidev_placement_of(const aidev_context_obj *ctx)
{
    return atomic_load_explicit(&ctx->placement, memory_order_acquire);
}

/* |h| as a buffer for a command on |dev|: a device buffer as
 * aidev_lookup_buffer finds it, or the copy of context buffer |h| on |dev|
 * (made on first use; its allocation's errors name |what| and the
 * device). */
aidev_status aidev_placed_copy_for(aidev_buffer h, const aidev_device_obj *dev, const char *what,
                                   aidev_buffer_obj **out);
static inline aidev_status aidev_buffer_lookup_on(aidev_buffer h, const aidev_device_obj *dev,
                                                  const char *what, aidev_buffer_obj **out)
{
    aidev_status st = aidev_lookup_buffer(h, what, out);
    if (__builtin_expect(st == AIDEV_SUCCESS, 1) ||
        !aidev_handle_get((uintptr_t)h, AIDEV_HANDLE_CONTEXT_BUFFER))
        return st;
    return aidev_placed_copy_for(h, dev, what, out);
}

/* Transfers of the context buffer's copies (hal/placement_order.c): the
 * host memory of |p| kept until |e| ends. */
void aidev_placed_host_keep(aidev_placed_host *h, aidev_event_obj *e);
void *aidev_placed_host_ptr(const aidev_placed_host *h);

/* The transfer queue of |dev| (made on first use, under the placement
 * lock). */
aidev_status aidev_placement_transfer_queue(aidev_placement *pl, const aidev_device_obj *dev,
                                            aidev_queue_obj **out);

/* aidev_buffer_release and aidev_buffer_get_info of a context buffer. */
aidev_status aidev_placed_release(aidev_placed_buffer *p);
aidev_status aidev_placed_get_info(aidev_placed_buffer *p, aidev_buffer_info key,
                                   size_t value_size, void *value, size_t *size_ret);

#endif

/*
 * placement_order.c - the coherence of context buffers: what a command
 * naming them must wait for, the transfers that make their copies valid,
 * and the record each command leaves (hal/placement.h).
 *
 * Per place (the host, or a device's own memory) we keep whether its copy
 * is valid, the event of its last write and the events of its reads since.
 * A command reading a place waits for its last write; one writing it waits
 * for its last write and every read since (a transfer out of it is such a
 * read: without that wait, a write could change the data under a copy
 * being made of it). A write makes every other place invalid; their
 * records stay, so the transfer that makes one valid again waits for the
 * reads still running there. All of it under the context's placement
 * lock, held until the command is submitted, so the records follow the
 * order of the submits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/placement.h"

/* How one command uses one context buffer. */
typedef struct placed_use {
    aidev_placed_buffer *p;
    uint32_t place;  /* of the command's device */
    bool reads;      /* needs the contents: a read, or a write that leaves some */
    bool writes;
} placed_use;

/* The events a command waits on: the caller's, then ours. */
typedef struct wait_set {
    aidev_event_obj **v;
    uint32_t count, capacity;
    aidev_event_obj *small[32];
} wait_set;

static aidev_status wait_set_add(wait_set *w, aidev_event_obj *e)
{
    if (!e)
        return AIDEV_SUCCESS;
    for (uint32_t i = 0; i < w->count; i++)
        if (w->v[i] == e)
            return AIDEV_SUCCESS;
    if (w->count == w->capacity) {
        uint32_t cap = w->capacity * 2;
        aidev_event_obj **v = malloc(cap * sizeof *v);
        if (!v)
            return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        memcpy(v, w->v, w->count * sizeof *v);
        if (w->v != w->small)
            free(w->v);
        w->v = v;
        w->capacity = cap;
    }
    w->v[w->count++] = e;
    return AIDEV_SUCCESS;
}

static void wait_set_init(wait_set *w)
{
    w->v = w->small;
    w->count = 0;
    w->capacity = sizeof w->small / sizeof w->small[0];
}

static void wait_set_fini(wait_set *w)
{
    if (w->v != w->small)
        free(w->v);
}

/* A write to |pc| waits for what it would overwrite under: its last write
 * and its reads since. */
static aidev_status wait_to_write(wait_set *w, const aidev_place *pc)
{
    aidev_status st = wait_set_add(w, pc->last_write);
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < pc->reader_count; i++)
        st = wait_set_add(w, pc->readers[i]);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                  */
/* ------------------------------------------------------------------------ */

/* Room for one more read in |pc|'s record, made before the read is
 * submitted so that recording it cannot fail after. */
static aidev_status place_reserve_reader(aidev_place *pc)
{
    /* Reads that have ended order nothing any more. */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < pc->reader_count; i++) {
        if (aidev_backend_event_status(pc->readers[i]) == AIDEV_NOT_READY)
            pc->readers[kept++] = pc->readers[i];
        else
            aidev_backend_event_release(pc->readers[i]);
    }
    pc->reader_count = kept;
    if (pc->reader_count == pc->reader_capacity) {
        uint32_t cap = pc->reader_capacity ? pc->reader_capacity * 2 : 4;
        aidev_event_obj **v = realloc(pc->readers, cap * sizeof *v);
        if (!v)
            return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        pc->readers = v;
        pc->reader_capacity = cap;
    }
    return AIDEV_SUCCESS;
}

/* After place_reserve_reader. */
static void place_add_reader(aidev_place *pc, aidev_event_obj *e)
{
    aidev_backend_event_retain(e);
    pc->readers[pc->reader_count++] = e;
}

/* |e| wrote the whole copy at |pc|: it is valid, and ordered after |e|. */
static void place_set_written(aidev_place *pc, aidev_event_obj *e)
{
    for (uint32_t i = 0; i < pc->reader_count; i++)
        aidev_backend_event_release(pc->readers[i]);
    pc->reader_count = 0;
    if (pc->last_write)
        aidev_backend_event_release(pc->last_write);
    aidev_backend_event_retain(e);
    pc->last_write = e;
    pc->valid = true;
}

/* ------------------------------------------------------------------------ */
/* Transfers                                                                */
/* ------------------------------------------------------------------------ */

/* Submits a copy between |p|'s host copy and its copy on device |dev|
 * (|to_host|: device to host) on the device's transfer queue, after
 * |waits|; |*out| is its event (a reference for the caller). */
static aidev_status transfer_submit(aidev_placed_buffer *p, const aidev_device_obj *dev,
                                    bool to_host, const wait_set *waits, aidev_event_obj **out)
{
    aidev_placement *pl = aidev_placement_of(p->obj.context);
    aidev_queue_obj *q;
    aidev_status st = aidev_placement_transfer_queue(pl, dev, &q);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_buffer_obj *b = p->copies[dev->index];
    void *host = aidev_placed_host_ptr(p->host);
    aidev_request r = {.queue = q, .error = aidev_error_buffer(), .bytes = p->size};
    if (to_host) {
        r.kind = AIDEV_CMD_READ;
        r.cmd.type = AIDEV_COMMAND_READ;
        r.cmd.u.read.buffer = b->native;
        r.cmd.u.read.size = p->size;
        r.cmd.u.read.dst = host;
    } else {
        r.kind = AIDEV_CMD_WRITE;
        r.cmd.type = AIDEV_COMMAND_WRITE;
        r.cmd.u.write.buffer = b->native;
        r.cmd.u.write.size = p->size;
        r.cmd.u.write.src = host;
    }
    r.buffers[r.buffer_count++] = b;
    r.wait_count = waits->count;
    r.wait_objs = waits->v;
    aidev_event_obj *e;
    st = aidev_scheduler_request_signal(&r, &e);
    if (st != AIDEV_SUCCESS)
        return st;
    r.signal = e;
    st = aidev_scheduler_submit_general(&r);
    if (st != AIDEV_SUCCESS) {
        aidev_backend_event_release(e);
        return aidev_error(st, "context buffer: the copy %s device %u (%s) could not be "
                               "enqueued: %s",
                           to_host ? "from" : "to", dev->index, dev->info->name,
                           aidev_error_message());
    }
    aidev_placed_host_keep(p->host, e); /* the host memory outlives the copy */
    *out = e;
    return AIDEV_SUCCESS;
}

/* Makes the host copy of |p| valid: a read from a device holding a valid
 * copy of its own. */
static aidev_status fetch_to_host(aidev_placed_buffer *p)
{
    aidev_place *host = &p->places[0];
    uint32_t from = UINT32_MAX;
    for (uint32_t i = 0; i < p->device_count && from == UINT32_MAX; i++)
        if (p->place_of[i] == 1 + i && p->places[1 + i].valid && p->copies[i])
            from = i;
    if (from == UINT32_MAX)
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "context buffer: no valid copy to read from (its last writes "
                           "failed to enqueue)");
    aidev_place *src = &p->places[1 + from];
    wait_set w;
    wait_set_init(&w);
    aidev_event_obj *e = NULL;
    aidev_status st = wait_set_add(&w, src->last_write);
    if (st == AIDEV_SUCCESS)
        st = wait_to_write(&w, host);
    if (st == AIDEV_SUCCESS)
        st = place_reserve_reader(src);
    if (st == AIDEV_SUCCESS)
        st = transfer_submit(p, &p->obj.context->devices[from], true, &w, &e);
    if (st == AIDEV_SUCCESS) {
        /* The source stays valid: the host copy joins it. */
        place_add_reader(src, e);
        place_set_written(host, e);
        aidev_backend_event_release(e);
    }
    wait_set_fini(&w);
    return st;
}

/* Makes the copy of |p| on device |dev| (a place of its own) valid: from
 * the host copy, made valid first when it is not. */
static aidev_status push_from_host(aidev_placed_buffer *p, const aidev_device_obj *dev)
{
    aidev_place *host = &p->places[0];
    aidev_place *dst = &p->places[1 + dev->index];
    aidev_status st = host->valid ? AIDEV_SUCCESS : fetch_to_host(p);
    if (st != AIDEV_SUCCESS)
        return st;
    wait_set w;
    wait_set_init(&w);
    aidev_event_obj *e = NULL;
    st = wait_set_add(&w, host->last_write);
    if (st == AIDEV_SUCCESS)
        st = wait_to_write(&w, dst);
    if (st == AIDEV_SUCCESS)
        st = place_reserve_reader(host);
    if (st == AIDEV_SUCCESS)
        st = transfer_submit(p, dev, false, &w, &e);
    if (st == AIDEV_SUCCESS) {
        place_add_reader(host, e);
        place_set_written(dst, e);
        aidev_backend_event_release(e);
    }
    wait_set_fini(&w);
    return st;
}

/* ------------------------------------------------------------------------ */
/* A command's uses                                                         */
/* ------------------------------------------------------------------------ */

static void use_add(placed_use *uses, uint32_t *n, const aidev_buffer_obj *b,
                    const aidev_device_obj *dev, bool reads, bool writes)
{
    aidev_placed_buffer *p = b->placed;
    if (!(b->flags & AIDEV_BUFFER_CONTEXT_COPY))
        return;
    for (uint32_t i = 0; i < *n; i++) {
        if (uses[i].p == p) {
            uses[i].reads |= reads;
            uses[i].writes |= writes;
            return;
        }
    }
    uses[(*n)++] = (placed_use){p, p->place_of[dev->index], reads, writes};
}

/* A dispatch's buffer arguments, by their declared access; a WRITE
 * argument that leaves part of the buffer as it was reads it too. */
static void dispatch_uses(const aidev_request *r, placed_use *uses, uint32_t *n)
{
    const aidev_kernel_desc *d = r->kernel->desc;
    const aidev_device_obj *dev = r->queue->device;
    for (uint32_t i = 0, j = 0; i < r->cmd.u.dispatch.arg_count && j < r->buffer_count; i++) {
        if (r->args[i].kind != AIDEV_ARG_BUFFER)
            continue;
        const aidev_buffer_obj *b = r->buffers[j++];
        aidev_access access = d->args[i].access;
        bool covers = false;
        if (access == AIDEV_ACCESS_WRITE && r->args[i].u.buffer.offset == 0) {
            uint64_t count = aidev_kernel_arg_count(r->kernel, i, r->args);
            size_t esize = aidev_type_bytes(d->args[i].type);
            covers = esize && count >= b->size / esize && b->size % esize == 0;
        }
        use_add(uses, n, b, dev, (access & AIDEV_ACCESS_READ) || !covers,
                (access & AIDEV_ACCESS_WRITE) != 0);
    }
}

/* What |r| does to each context buffer it names. */
static uint32_t request_uses(const aidev_request *r, placed_use *uses)
{
    uint32_t n = 0;
    const aidev_device_obj *dev = r->queue->device;
    /* Writes of a whole buffer (the range was checked: |bytes| equal to
     * the size is all of it) need nothing of the old contents. */
    bool whole = r->buffer_count && r->bytes == r->buffers[r->buffer_count - 1]->size;
    switch (r->kind) {
    case AIDEV_CMD_READ:
        use_add(uses, &n, r->buffers[0], dev, true, false);
        break;
    case AIDEV_CMD_WRITE:
    case AIDEV_CMD_FILL:
    case AIDEV_CMD_FILE_READ:
        use_add(uses, &n, r->buffers[0], dev, !whole, true);
        break;
    case AIDEV_CMD_COPY:
        use_add(uses, &n, r->buffers[0], dev, true, false);
        use_add(uses, &n, r->buffers[1], dev, !whole, true);
        break;
    case AIDEV_CMD_DISPATCH:
        dispatch_uses(r, uses, &n);
        break;
    default:
        /* Anything else the hal runs on a buffer: read and written. */
        for (uint32_t i = 0; i < r->buffer_count; i++)
            use_add(uses, &n, r->buffers[i], dev, true, true);
        break;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* The submit                                                               */
/* ------------------------------------------------------------------------ */

/* The caller's wait list, as events. */
static aidev_status caller_waits(const aidev_request *r, wait_set *w)
{
    if (r->wait_count && !r->wait_events && !r->wait_objs)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "wait_events: NULL with wait_count %u",
                           r->wait_count);
    if (r->wait_count > 1024)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "wait_count: %u, at most 1024 events per command", r->wait_count);
    for (uint32_t i = 0; i < r->wait_count; i++) {
        aidev_event_obj *e = r->wait_objs ? r->wait_objs[i] : NULL;
        char what[32];
        snprintf(what, sizeof what, "wait_events[%u]", i);
        aidev_status st = e ? AIDEV_SUCCESS : aidev_lookup_event(r->wait_events[i], what, &e);
        if (st == AIDEV_SUCCESS)
            st = wait_set_add(w, e);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    return AIDEV_SUCCESS;
}

/* Under the lock: the transfers each use needs, and the events the
 * command waits on for them. */
static aidev_status uses_prepare(const aidev_request *r, const placed_use *uses, uint32_t n,
                                 wait_set *w)
{
    aidev_status st = AIDEV_SUCCESS;
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < n; i++) {
        aidev_place *pc = &uses[i].p->places[uses[i].place];
        if (uses[i].reads && !pc->valid)
            st = uses[i].place == 0 ? fetch_to_host(uses[i].p)
                                    : push_from_host(uses[i].p, r->queue->device);
        if (st == AIDEV_SUCCESS)
            st = uses[i].writes ? wait_to_write(w, pc) : wait_set_add(w, pc->last_write);
        if (st == AIDEV_SUCCESS && !uses[i].writes)
            st = place_reserve_reader(pc);
    }
    return st;
}

/* The command, submitted as |e|, is the last write or a read of each use
 * (room for the reads was made by uses_prepare). */
static void uses_record(const placed_use *uses, uint32_t n, aidev_event_obj *e)
{
    for (uint32_t i = 0; i < n; i++) {
        aidev_placed_buffer *p = uses[i].p;
        if (!uses[i].writes) {
            place_add_reader(&p->places[uses[i].place], e);
            continue;
        }
        for (uint32_t k = 0; k <= p->device_count; k++)
            p->places[k].valid = false;
        place_set_written(&p->places[uses[i].place], e);
    }
}

aidev_status aidev_placement_submit(aidev_request *r)
{
    aidev_placement *pl = aidev_placement_of(r->queue->obj.context);
    placed_use uses[AIDEV_MAX_KERNEL_ARGS];
    uint32_t n = request_uses(r, uses);
    aidev_event *user_event = r->out_event;
    aidev_event_obj *e = NULL;
    wait_set w;
    wait_set_init(&w);

    pthread_mutex_lock(&pl->lock);
    aidev_status st = caller_waits(r, &w);
    if (st == AIDEV_SUCCESS)
        st = uses_prepare(r, uses, n, &w);
    if (st == AIDEV_SUCCESS) {
        r->wait_count = w.count;
        r->wait_objs = w.v;
        st = aidev_scheduler_request_signal(r, &e); /* publishes the caller's event */
    }
    if (st == AIDEV_SUCCESS) {
        /* A published event's reference is its handle's: ours besides. */
        if (user_event)
            aidev_backend_event_retain(e);
        /* Ours from here: the scheduler signals it and leaves the handle. */
        r->signal = e;
        r->out_event = NULL;
        st = aidev_scheduler_submit_general(r);
        if (st == AIDEV_SUCCESS)
            uses_record(uses, n, e);
        else if (user_event) {
            aidev_event_unpublish(e);
            *user_event = NULL;
        }
        aidev_backend_event_release(e);
    } else if (r->has_op && r->op.destroy) {
        /* An op that never reached the scheduler ends here, as there. */
        r->op.destroy(r->op.state);
    }
    pthread_mutex_unlock(&pl->lock);
    wait_set_fini(&w);
    return st;
}

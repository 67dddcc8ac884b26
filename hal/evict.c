/*
 * evict.c - the compressed memory tier (issue 20): a buffer evicted by a
 * command on a queue, its bytes compressed into host memory and its memory
 * freed; restored, bit for bit, by the next command or map that names it.
 *
 * An eviction is a hal op in its queue's order. It must also come after
 * every command already enqueued on the device's other queues (one of them
 * may still use the buffer, and the hal does not track which): at enqueue
 * it puts a barrier on each of them and waits on those too. It then reads
 * and compresses on a thread of its own, and commits under the buffer's
 * tier lock only when nothing named the buffer since it was enqueued: a
 * command or map that did so wants the buffer resident, so the eviction is
 * called off rather than undone at once. That check (|touches|) is also
 * why a command that names an evicted buffer never races the eviction:
 * the commit and the touch take the same lock.
 *
 * Restores are synchronous, inside the enqueue (or map) that needs them:
 * the data is fixed once evicted, so bringing it back early is the same as
 * bringing it back in the queue's order, and the command then captures the
 * new memory like any other. Memory the host cannot address is read and
 * written through a private backend queue, so a restore never waits behind
 * the user's commands (which may wait on events the program has not
 * completed yet).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aidev_config.h"
#include "hal/compress.h"
#include "hal/hostmem.h"
#include "hal/scheduler.h"
#include "hal/trace.h"

/* ------------------------------------------------------------------------ */
/* Moving bytes                                                             */
/* ------------------------------------------------------------------------ */

/* Reads (|to_host|) or writes the whole of |native| (|b|'s memory, |b->size|
 * bytes) through a private queue of |b|'s device, and waits for it. */
static aidev_status tier_transfer(const aidev_buffer_obj *b, void *native, bool to_host,
                                  void *host)
{
    const aidev_backend_vtable *vt = AIDEV_DEVICE_VT(b->device);
    void *nq;
    aidev_error_clear();
    aidev_status st = vt->queue_create(b->device->native, AIDEV_QUEUE_PRIORITY_NORMAL, &nq);
    if (st != AIDEV_SUCCESS)
        return aidev_error_message()[0] ? st
                                        : aidev_error(st, "backend '%s' could not create a queue",
                                                      b->device->backend->name);
    aidev_backend_command cmd = {.type = to_host ? AIDEV_COMMAND_READ : AIDEV_COMMAND_WRITE};
    if (to_host) {
        cmd.u.read.buffer = native;
        cmd.u.read.size = b->size;
        cmd.u.read.dst = host;
    } else {
        cmd.u.write.buffer = native;
        cmd.u.write.size = b->size;
        cmd.u.write.src = host;
    }
    st = vt->queue_submit(nq, &cmd, 0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = vt->queue_finish(nq);
    vt->queue_destroy(nq);
    if (st != AIDEV_SUCCESS && !aidev_error_message()[0])
        aidev_error(st, "backend '%s' could not %s %" PRIu64 " bytes", b->device->backend->name,
                    to_host ? "read" : "write", b->size);
    return st;
}

/* A host copy of a buffer's bytes, for memory the host cannot address:
 * huge pages where there are (hal/hostmem.c), since every page of it is
 * new and faults once. NULL when out of host memory. */
static void *staging_alloc(const aidev_buffer_obj *b, aidev_backend_host_block *block)
{
    return aidev_hostmem_alloc(b->size, -1, AIDEV_HOST_ALLOC_UNINITIALIZED, block) ==
                   AIDEV_SUCCESS
               ? block->ptr
               : NULL;
}

/* Frees it, scrubbed first where the buffer is. */
static void staging_free(const aidev_buffer_obj *b, aidev_backend_host_block *block)
{
    aidev_hostmem_free(block, (b->flags & AIDEV_BUFFER_ZERO_ON_FREE) != 0);
}

static uint32_t element_size_of(const aidev_buffer_obj *b)
{
    size_t n = aidev_type_bytes(b->element_type);
    return n ? (uint32_t)n : 1;
}

/* ------------------------------------------------------------------------ */
/* Restore                                                                  */
/* ------------------------------------------------------------------------ */

static aidev_status tier_restore(aidev_buffer_obj *b);

/* tier_restore, and for a restore the program did not ask for (a command
 * on |q| or, with |q| NULL, a map or an export named the buffer) a trace
 * slice on that queue's track, or on the device's host track. */
static aidev_status tier_restore_traced(aidev_buffer_obj *b, const aidev_queue_obj *q,
                                        bool implicit)
{
    uint64_t t0 = aidev_now_ns();
    aidev_status st = tier_restore(b);
    if (implicit && aidev_trace_enabled())
        aidev_trace_implicit_restore(b->device, q, b->size, t0, aidev_now_ns(), st);
    return st;
}

/* Brings |b| back: new memory charged to the quota, the copy decoded into
 * it. On failure it stays evicted, its copy kept. Under |b->tier_lock|. */
static aidev_status tier_restore(aidev_buffer_obj *b)
{
    aidev_context_obj *ctx = b->obj.context;
    aidev_device_obj *dev = b->device;
    const aidev_backend_vtable *vt = AIDEV_DEVICE_VT(dev);
    const aidev_compressed *c = b->stored;
    uint64_t t0 = aidev_now_ns();
    aidev_status st = aidev_context_charge_evicting(ctx, b->size, b);
    if (st != AIDEV_SUCCESS)
        return aidev_error(st, "restoring an evicted buffer of %" PRIu64 " bytes: %s", b->size,
                           aidev_error_message());
    aidev_backend_buffer_desc bd = {
        .size = b->size,
        .kind = b->kind,
        .flags = b->flags | AIDEV_BUFFER_UNINITIALIZED, /* every byte is written */
        .numa_node = dev->numa_node,
    };
    void *native = NULL, *host_ptr = NULL, *staging = NULL;
    aidev_backend_host_block staging_block = {0};
    aidev_error_clear();
    st = vt->buffer_create(dev->native, &bd, &native, &host_ptr);
    if (st != AIDEV_SUCCESS) {
        if (!aidev_error_message()[0])
            aidev_error(st, "backend '%s' could not allocate %" PRIu64 " bytes to restore an "
                        "evicted buffer", dev->backend->name, b->size);
        native = NULL;
        goto fail;
    }
    void *dst = host_ptr;
    if (!dst && !(dst = staging = staging_alloc(b, &staging_block))) {
        st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                         "out of host memory for %" PRIu64 " bytes to restore a buffer through",
                         b->size);
        goto fail;
    }
    st = aidev_decompress(c, dst, aidev_compress_threads());
    if (st == AIDEV_SUCCESS && staging)
        st = tier_transfer(b, native, false, staging);
    if (st != AIDEV_SUCCESS)
        goto fail;
    staging_free(b, &staging_block);
    b->native = native;
    b->host_ptr = host_ptr;
    pthread_mutex_lock(&ctx->lock);
    ctx->evicted_bytes -= b->size;
    ctx->compressed_bytes -= c->stored_bytes;
    pthread_mutex_unlock(&ctx->lock);
    AIDEV_PROBE4(restore, dev->index, b->size, c->stored_bytes, aidev_now_ns() - t0);
    aidev_compressed_free(b->stored, b->flags & AIDEV_BUFFER_ZERO_ON_FREE);
    b->stored = NULL;
    atomic_store_explicit(&b->evicted, false, memory_order_release);
    return AIDEV_SUCCESS;

fail:
    staging_free(b, &staging_block);
    if (native)
        vt->buffer_destroy(dev->native, native);
    aidev_context_refund(ctx, b->size);
    return st;
}

/* The tier's clock: each touch under a limit takes the next tick, so the
 * least recently touched buffer has the smallest stamp. */
static _Atomic uint64_t tier_lru_clock;

static uint64_t tier_stamp(aidev_buffer_obj *b)
{
    uint64_t now = atomic_fetch_add_explicit(&tier_lru_clock, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&b->last_touch, now, memory_order_relaxed);
    return now;
}

void aidev_tier_born(aidev_buffer_obj *b)
{
    b->born = tier_stamp(b);
}

static aidev_status tier_touch(aidev_buffer_obj *b, bool keep, const aidev_queue_obj *q,
                               bool implicit)
{
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&b->tier_lock);
    b->touches++;
    if (aidev_context_tiering(b->obj.context))
        tier_stamp(b);
    if (b->stored)
        st = tier_restore_traced(b, q, implicit);
    /* Under the lock: an automatic eviction, which checks the references
     * under it too, sees this one. */
    if (st == AIDEV_SUCCESS && keep)
        aidev_buffer_retain(b);
    pthread_mutex_unlock(&b->tier_lock);
    return st;
}

aidev_status aidev_tier_touch(aidev_buffer_obj *b, bool keep, const aidev_queue_obj *q)
{
    return tier_touch(b, keep, q, true);
}

void aidev_tier_forget(aidev_buffer_obj *b)
{
    if (!b->stored)
        return;
    aidev_context_obj *ctx = b->obj.context;
    pthread_mutex_lock(&ctx->lock);
    ctx->evicted_bytes -= b->size;
    ctx->compressed_bytes -= b->stored->stored_bytes;
    pthread_mutex_unlock(&ctx->lock);
    aidev_compressed_free(b->stored, b->flags & AIDEV_BUFFER_ZERO_ON_FREE);
    b->stored = NULL;
}

/* ------------------------------------------------------------------------ */
/* Evict                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct evict_state {
    aidev_buffer_obj *b;      /* retained */
    uint64_t touches_at;      /* b->touches when it was enqueued */
    aidev_codec codec;
    aidev_pending_command *p;
    atomic_bool cancelled;
} evict_state;

/* Whether the eviction is still wanted, and nothing stops it: no command
 * or map named the buffer since it was enqueued, the handle is alive, the
 * buffer resident, not mapped, not exported. Under |b->tier_lock|. */
static bool evict_wanted(const evict_state *s)
{
    aidev_buffer_obj *b = s->b;
    return b->touches == s->touches_at && !b->stored && b->native &&
           atomic_load(&b->holders) == 1 && !atomic_load(&b->mapped) &&
           !atomic_load(&s->cancelled);
}

/* Frees the buffer's memory and keeps |c| instead. Under |b->tier_lock|. */
static void evict_commit(aidev_buffer_obj *b, aidev_compressed *c)
{
    aidev_context_obj *ctx = b->obj.context;
    AIDEV_DEVICE_VT(b->device)->buffer_destroy(b->device->native, b->native);
    b->native = NULL;
    b->host_ptr = NULL;
    b->stored = c;
    atomic_store_explicit(&b->evicted, true, memory_order_release);
    aidev_context_refund(ctx, b->size);
    pthread_mutex_lock(&ctx->lock);
    ctx->evicted_bytes += b->size;
    ctx->compressed_bytes += c->stored_bytes;
    pthread_mutex_unlock(&ctx->lock);
}

static aidev_status evict_compress(evict_state *s);

/* Reads and compresses the buffer, then commits unless it is wanted
 * again. Returns the status its event gets (message set). */
static aidev_status evict_run(evict_state *s)
{
    aidev_buffer_obj *b = s->b;
    pthread_mutex_lock(&b->tier_lock);
    bool wanted = evict_wanted(s) && !b->evicting;
    if (wanted)
        b->evicting = true;
    pthread_mutex_unlock(&b->tier_lock);
    if (!wanted)
        return atomic_load(&s->cancelled)
                   ? aidev_error(AIDEV_ERROR_CANCELLED, "the context is being released")
                   : AIDEV_SUCCESS;
    /* The memory stays until the commit below, and only this op commits:
     * another eviction of the buffer finds |evicting| set and does
     * nothing. */
    aidev_status st = evict_compress(s);
    pthread_mutex_lock(&b->tier_lock);
    b->evicting = false;
    pthread_mutex_unlock(&b->tier_lock);
    return st;
}

/* Reads |b|'s bytes (its host address, else through a private queue) and
 * compresses them into |out|. The buffer stays resident. */
static aidev_status evict_read_compress(aidev_buffer_obj *b, aidev_codec codec,
                                        aidev_compressed **out)
{
    void *staging = NULL;
    aidev_backend_host_block staging_block = {0};
    const void *src = b->host_ptr;
    aidev_status st = AIDEV_SUCCESS;
    *out = NULL;
    if (!src) {
        if (!(staging = staging_alloc(b, &staging_block)))
            return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory for %" PRIu64 " bytes to evict a buffer "
                               "through; it stays resident", b->size);
        st = tier_transfer(b, b->native, true, staging);
        src = staging;
    }
    if (st == AIDEV_SUCCESS)
        st = aidev_compress(src, b->size, element_size_of(b), codec, aidev_compress_threads(),
                            &b->obj.context->tier_pool, out);
    staging_free(b, &staging_block);
    return st;
}

/* The body of evict_run, while |b->evicting| is ours. */
static aidev_status evict_compress(evict_state *s)
{
    aidev_buffer_obj *b = s->b;
    uint64_t t0 = aidev_now_ns();
    aidev_compressed *c = NULL;
    aidev_status st = evict_read_compress(b, s->codec, &c);
    if (st != AIDEV_SUCCESS)
        return st;
    pthread_mutex_lock(&b->tier_lock);
    if (evict_wanted(s)) {
        AIDEV_PROBE4(evict, b->device->index, b->size, c->stored_bytes, aidev_now_ns() - t0);
        evict_commit(b, c);
        c = NULL;
    }
    pthread_mutex_unlock(&b->tier_lock);
    aidev_compressed_free(c, b->flags & AIDEV_BUFFER_ZERO_ON_FREE); /* wanted again */
    return AIDEV_SUCCESS;
}

static void *evict_thread(void *arg)
{
    evict_state *s = arg;
    aidev_pending_command *p = s->p;
    aidev_error_clear();
    aidev_status st = evict_run(s);
    char message[1024] = "";
    if (st != AIDEV_SUCCESS)
        snprintf(message, sizeof message, "%s", aidev_error_message());
    /* |s| may be gone once the op has finished. */
    aidev_queue_op_finish(p, st, message);
    return NULL;
}

/* Compression takes long: it runs on a thread of its own, not on the one
 * that drains the queue (the program's, when nothing was pending). */
static void evict_start(aidev_pending_command *p, void *state)
{
    evict_state *s = state;
    s->p = p;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, evict_thread, s) != 0)
        evict_thread(s);
    pthread_attr_destroy(&attr);
}

static void evict_cancel(void *state)
{
    evict_state *s = state;
    atomic_store(&s->cancelled, true);
}

static void evict_destroy(void *state)
{
    evict_state *s = state;
    atomic_fetch_sub_explicit(&s->b->evicts_pending, 1, memory_order_release);
    aidev_buffer_unref(s->b);
    free(s);
}

/* A barrier on each queue of |q|'s device but |q|: events for everything
 * already enqueued there (new handles in |out|, at most |cap|). */
static uint32_t evict_markers(aidev_queue_obj *q, aidev_event *out, uint32_t cap)
{
    aidev_context_obj *ctx = q->obj.context;
    aidev_queue handles[64];
    uint32_t n = 0;
    pthread_mutex_lock(&ctx->lock);
    for (aidev_object *o = ctx->list.next; o != &ctx->list && n < 64; o = o->next)
        if (o->type == AIDEV_HANDLE_QUEUE && o != &q->obj &&
            ((aidev_queue_obj *)o)->device == q->device && o->handle)
            handles[n++] = (aidev_queue)o->handle;
    pthread_mutex_unlock(&ctx->lock);
    uint32_t made = 0;
    /* A queue released meanwhile has finished its commands: skipped. */
    for (uint32_t i = 0; i < n && made < cap; i++)
        if (aidev_enqueue_barrier(handles[i], 0, NULL, &out[made]) == AIDEV_SUCCESS)
            made++;
    aidev_error_clear();
    return made;
}

static aidev_status lookup_tier_buffer(aidev_queue_obj *q, aidev_buffer h, aidev_buffer_obj **out)
{
    aidev_status st = aidev_lookup_buffer(h, "buffer", out);
    if (st != AIDEV_SUCCESS)
        return st;
    if ((*out)->obj.context != q->obj.context)
        return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "buffer: belongs to another context");
    if ((*out)->device != q->device)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "buffer: on device %u, the queue on device %u", (*out)->device->index,
                           q->device->index);
    return AIDEV_SUCCESS;
}

static aidev_status evict_check(aidev_buffer_obj *b)
{
    if (!aidev_compress_available())
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "buffer: this build of aidev has no compressed memory tier (it needs "
                           "xxHash, libxxhash-dev)");
    if (b->imported)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "buffer: imported memory is the caller's; it cannot be freed by an "
                           "eviction");
    if (atomic_load(&b->mapped))
        return aidev_error(AIDEV_ERROR_INVALID_STATE, "buffer: mapped; unmap it first");
    if (atomic_load(&b->holders) > 1)
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "buffer: exported as a DLPack tensor that is still alive");
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_enqueue_evict(aidev_queue queue, aidev_buffer buffer,
                                           uint32_t wait_count, const aidev_event *wait_events,
                                           aidev_event *out_event)
{
    aidev_error_clear();
    if (out_event)
        *out_event = NULL;
    aidev_queue_obj *q;
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st == AIDEV_SUCCESS)
        st = lookup_tier_buffer(q, buffer, &b);
    if (st == AIDEV_SUCCESS)
        st = evict_check(b);
    if (st == AIDEV_SUCCESS && wait_count > 960)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "wait_count: %u, at most 960 events for an eviction", wait_count);
    if (st == AIDEV_SUCCESS && wait_count && !wait_events)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "wait_events: NULL with wait_count %u",
                         wait_count);
    if (st != AIDEV_SUCCESS)
        return st;
    evict_state *s = calloc(1, sizeof *s);
    aidev_event *waits = malloc((wait_count + 64) * sizeof *waits);
    if (!s || !waits) {
        free(s);
        free(waits);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    aidev_buffer_retain(b);
    s->b = b;
    s->codec = aidev_env_codec();
    atomic_init(&s->cancelled, false);
    pthread_mutex_lock(&b->tier_lock);
    s->touches_at = b->touches;
    atomic_fetch_add_explicit(&b->evicts_pending, 1, memory_order_acq_rel);
    pthread_mutex_unlock(&b->tier_lock);
    if (wait_count)
        memcpy(waits, wait_events, wait_count * sizeof *waits);
    uint32_t markers = evict_markers(q, waits + wait_count, 64);
    aidev_hal_op op = {.start = evict_start, .destroy = evict_destroy, .cancel = evict_cancel,
                       .state = s};
    st = aidev_enqueue_hal_op(q, AIDEV_CMD_EVICT, b->size, b, &op, wait_count + markers, waits,
                              out_event);
    for (uint32_t i = 0; i < markers; i++)
        aidev_event_release(waits[wait_count + i]);
    free(waits);
    return st;
}

AIDEV_API aidev_status aidev_enqueue_restore(aidev_queue queue, aidev_buffer buffer,
                                             uint32_t wait_count, const aidev_event *wait_events,
                                             aidev_event *out_event)
{
    aidev_error_clear();
    if (out_event)
        *out_event = NULL;
    aidev_queue_obj *q;
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st == AIDEV_SUCCESS)
        st = lookup_tier_buffer(q, buffer, &b);
    /* The restore's own slice is the op's below. */
    if (st == AIDEV_SUCCESS && aidev_buffer_needs_touch(b))
        st = tier_touch(b, false, q, false);
    if (st != AIDEV_SUCCESS)
        return st;
    return aidev_enqueue_hal_op(q, AIDEV_CMD_RESTORE, b->size, NULL, NULL, wait_count,
                                wait_events, out_event);
}

/* ------------------------------------------------------------------------ */
/* Under a limit: automatic eviction                                        */
/* ------------------------------------------------------------------------ */

/* Why buffers were left resident, for the message of a refusal. */
typedef struct room_tally {
    uint32_t evicted, busy, pinned, mapped, held, failed;
    uint32_t fenced; /* born before the limit, its commands then not all ended */
    uint64_t freed;
    char failure[256]; /* the first eviction that failed, why */
} room_tally;

/* Whether every command enqueued before the limit was set has ended (they
 * hold no reference on their buffers). Drops the fence events that have.
 * Under |ctx->lock|. */
static bool tier_fence_passed_locked(aidev_context_obj *ctx)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < ctx->tier_fence_count; i++) {
        if (aidev_backend_event_status(ctx->tier_fence[i]) == AIDEV_NOT_READY)
            ctx->tier_fence[kept++] = ctx->tier_fence[i];
        else
            aidev_backend_event_release(ctx->tier_fence[i]);
    }
    ctx->tier_fence_count = kept;
    return kept == 0;
}

/* Whether nothing but its handle holds |b| (and |extra_refs| references of
 * the caller's): no command in flight, no map, no export, no eviction, not
 * pinned, resident. Counts the reason in |t| when not. */
static bool tier_idle(aidev_buffer_obj *b, uint32_t extra_refs, room_tally *t)
{
    if (b->imported || atomic_load(&b->holders) > 1) {
        t->held++;
        return false;
    }
    if (atomic_load(&b->pinned)) {
        t->pinned++;
        return false;
    }
    if (atomic_load(&b->mapped)) {
        t->mapped++;
        return false;
    }
    if (atomic_load(&b->evicted) || atomic_load(&b->evicts_pending))
        return false; /* already on its way out */
    if (atomic_load(&b->refs) > 1 + extra_refs) {
        t->busy++;
        return false;
    }
    return true;
}

typedef struct room_candidate {
    aidev_buffer_obj *b; /* retained */
    uint64_t stamp;
} room_candidate;

static int room_candidate_older(const void *x, const void *y)
{
    uint64_t a = ((const room_candidate *)x)->stamp, b = ((const room_candidate *)y)->stamp;
    return a < b ? -1 : a > b;
}

/* The idle buffers of |ctx| but |exclude|, retained, oldest touch first.
 * NULL with |*count| 0 when there are none (or no memory to list them). */
static room_candidate *room_candidates(aidev_context_obj *ctx, const aidev_buffer_obj *exclude,
                                       uint32_t *count, room_tally *t)
{
    *count = 0;
    pthread_mutex_lock(&ctx->lock);
    uint32_t n = 0;
    for (aidev_object *o = ctx->list.next; o != &ctx->list; o = o->next)
        n += o->type == AIDEV_HANDLE_BUFFER;
    room_candidate *c = n ? malloc(n * sizeof *c) : NULL;
    /* Buffers born since the limit was set had every command counted. */
    uint64_t fenced_before = tier_fence_passed_locked(ctx) ? 0 : ctx->tier_fence_clock;
    for (aidev_object *o = ctx->list.next; c && o != &ctx->list; o = o->next) {
        aidev_buffer_obj *b = (aidev_buffer_obj *)o;
        if (o->type != AIDEV_HANDLE_BUFFER || b == exclude || !tier_idle(b, 0, t))
            continue;
        if (b->born < fenced_before) {
            t->fenced++;
            continue;
        }
        /* Linked, so its handle's reference is still there. */
        aidev_buffer_retain(b);
        c[(*count)++] = (room_candidate){b, atomic_load_explicit(&b->last_touch,
                                                                 memory_order_relaxed)};
    }
    pthread_mutex_unlock(&ctx->lock);
    if (*count)
        qsort(c, *count, sizeof *c, room_candidate_older);
    return c;
}

/* Evicts |b| now if it is still idle; a buffer whose lock is taken is in
 * use (a restore, a touch, an eviction). */
static void room_evict(aidev_buffer_obj *b, room_tally *t)
{
    if (pthread_mutex_trylock(&b->tier_lock) != 0) {
        t->busy++;
        return;
    }
    room_tally again = {0}; /* counted once already, when listed */
    if (!tier_idle(b, 1, &again) || b->stored || !b->native || b->evicting) {
        t->busy++;
    } else {
        uint64_t t0 = aidev_now_ns();
        aidev_compressed *c;
        aidev_status st = evict_read_compress(b, aidev_env_codec(), &c);
        if (st == AIDEV_SUCCESS) {
            AIDEV_PROBE4(evict, b->device->index, b->size, c->stored_bytes,
                         aidev_now_ns() - t0);
            evict_commit(b, c);
            t->evicted++;
            t->freed += b->size;
        } else if (!t->failed++) {
            snprintf(t->failure, sizeof t->failure, "%s", aidev_error_message());
        }
    }
    pthread_mutex_unlock(&b->tier_lock);
}

/* A refusal: the charge's message |why|, and what was tried. */
static aidev_status room_refuse(const char *why, const room_tally *t)
{
    char fenced[160] = "";
    if (t->fenced)
        snprintf(fenced, sizeof fenced,
                 ", %u made before the limit was set while commands enqueued then still run",
                 t->fenced);
    return aidev_error(AIDEV_ERROR_QUOTA,
                       "%s; automatic eviction compressed %u idle buffers (%" PRIu64 " bytes, "
                       "codec %s) and it still does not fit; not evictable: %u in use by "
                       "commands, %u pinned, %u mapped, %u imported or exported%s%s%s",
                       why, t->evicted, t->freed, aidev_codec_name(aidev_env_codec()), t->busy,
                       t->pinned, t->mapped, t->held, fenced,
                       t->failed ? "; an eviction failed: " : "", t->failed ? t->failure : "");
}

/* Evicts idle buffers of |ctx|, least recently touched first, until
 * |bytes| are charged. */
static aidev_status tier_make_room(aidev_context_obj *ctx, uint64_t bytes,
                                   const aidev_buffer_obj *exclude)
{
    char why[512];
    snprintf(why, sizeof why, "%s", aidev_error_message());
    room_tally t = {0};
    if (bytes > atomic_load_explicit(&ctx->memory_limit, memory_order_relaxed))
        return AIDEV_ERROR_QUOTA; /* nothing evicted makes room: the message stands */
    uint32_t count;
    room_candidate *c = room_candidates(ctx, exclude, &count, &t);
    aidev_status st = AIDEV_ERROR_QUOTA;
    uint32_t i = 0;
    for (; i < count && st != AIDEV_SUCCESS; i++) {
        room_evict(c[i].b, &t);
        aidev_buffer_unref(c[i].b);
        st = aidev_context_charge(ctx, bytes);
    }
    for (; i < count; i++)
        aidev_buffer_unref(c[i].b);
    free(c);
    if (st == AIDEV_SUCCESS) {
        aidev_error_clear();
        return AIDEV_SUCCESS;
    }
    /* The last charge's message says how far it is now. */
    if (count)
        snprintf(why, sizeof why, "%s", aidev_error_message());
    return room_refuse(why, &t);
}

aidev_status aidev_context_charge_evicting(aidev_context_obj *ctx, uint64_t bytes,
                                           const aidev_buffer_obj *exclude)
{
    aidev_status st = aidev_context_charge(ctx, bytes);
    if (st != AIDEV_ERROR_QUOTA || !aidev_compress_available() || !aidev_context_tiering(ctx))
        return st;
    return tier_make_room(ctx, bytes, exclude);
}

void aidev_tier_limit_set(aidev_context_obj *ctx, uint64_t old_limit, uint64_t new_limit)
{
    if (old_limit || !new_limit)
        return;
    /* A barrier on each queue: once all have completed, every command
     * still running holds references on its buffers. Until then buffers
     * born before are not evicted automatically. */
    pthread_mutex_lock(&ctx->lock);
    ctx->tier_fence_clock = atomic_load_explicit(&tier_lru_clock, memory_order_relaxed) + 1;
    aidev_queue handles[64];
    uint32_t n = 0;
    for (aidev_object *o = ctx->list.next; o != &ctx->list; o = o->next)
        if (o->type == AIDEV_HANDLE_QUEUE && o->handle && n < 64)
            handles[n++] = (aidev_queue)o->handle;
    pthread_mutex_unlock(&ctx->lock);
    for (uint32_t i = 0; i < n; i++) {
        aidev_event ev;
        if (aidev_enqueue_barrier(handles[i], 0, NULL, &ev) != AIDEV_SUCCESS)
            continue; /* a queue released meanwhile has no command left */
        aidev_event_obj *e = aidev_handle_get((uintptr_t)ev, AIDEV_HANDLE_EVENT);
        aidev_backend_event_retain(e);
        aidev_event_release(ev);
        pthread_mutex_lock(&ctx->lock);
        aidev_event_obj **grown =
            realloc(ctx->tier_fence, (ctx->tier_fence_count + 1) * sizeof *grown);
        if (grown) {
            ctx->tier_fence = grown;
            grown[ctx->tier_fence_count++] = e;
        }
        pthread_mutex_unlock(&ctx->lock);
        if (!grown) {
            /* Not kept: wait for it here instead. */
            aidev_event_wait_obj(e, UINT64_MAX);
            aidev_backend_event_release(e);
        }
    }
    aidev_error_clear();
}

void aidev_tier_context_fini(aidev_context_obj *ctx)
{
    for (uint32_t i = 0; i < ctx->tier_fence_count; i++)
        aidev_backend_event_release(ctx->tier_fence[i]);
    free(ctx->tier_fence);
    ctx->tier_fence = NULL;
    ctx->tier_fence_count = 0;
    aidev_tier_pool_fini(&ctx->tier_pool);
}

AIDEV_API aidev_status aidev_buffer_set_pinned(aidev_buffer buffer, uint32_t pinned)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    atomic_store(&b->pinned, pinned != 0);
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Visibility                                                               */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_context_get_memory_tiers(aidev_context context,
                                                      uint64_t *out_resident,
                                                      uint64_t *out_evicted,
                                                      uint64_t *out_compressed)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    pthread_mutex_lock(&ctx->lock);
    if (out_resident)
        *out_resident = ctx->memory_used;
    if (out_evicted)
        *out_evicted = ctx->evicted_bytes;
    if (out_compressed)
        *out_compressed = ctx->compressed_bytes;
    pthread_mutex_unlock(&ctx->lock);
    return AIDEV_SUCCESS;
}

AIDEV_API const char *aidev_memory_tier_codec(const char **out_available)
{
    static const char available[] =
#if AIDEV_HAVE_LZ4
        "lz4,"
#endif
#if AIDEV_HAVE_ZSTD
        "zstd,"
#endif
        "off";
    bool tier = aidev_compress_available();
    if (out_available)
        *out_available = tier ? available : "";
    return tier ? aidev_codec_name(aidev_env_codec()) : "";
}

/*
 * queue.c - queues and the enqueue calls.
 *
 * Every enqueue validates its arguments, resolves handles to backend objects
 * and takes one of two paths:
 *
 *   direct  the command goes to the backend's queue_submit at once, with the
 *           events it still waits on;
 *   held    the command waits in the queue's hold list until the events it
 *           waits on complete, then goes to the backend with none. That is
 *           how a backend without AIDEV_BACKEND_CAP_ANY_WAIT waits on another
 *           backend's events or on user events without blocking the caller,
 *           and how host callbacks run where the backend has no native form.
 *           While the hold list is not empty every command joins it, so the
 *           queue's order holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/internal.h"
#include "hal/probes.h"
#include "hal/trace.h"

struct aidev_pending_command {
    struct aidev_pending_command *next;
    aidev_queue_obj *queue;
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    /* References that keep the command's objects alive while it is held. */
    aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t buffer_count;
    aidev_kernel_obj *kernel;
    aidev_event_obj *signal;  /* may be NULL */
    atomic_uint gates;        /* events still pending (and a running op) */
    /* Set by the first failure before it runs: the command will not run and
     * its event completes with |fail_status| and |cause|. */
    atomic_bool failed;
    aidev_status fail_status;
    char cause[1024];
    /* A command the hal runs itself: a barrier first, then the op. */
    bool is_op;
    aidev_hal_op op;
    bool barrier_submitted;
    bool op_started;
};

/* ------------------------------------------------------------------------ */
/* The hold list                                                            */
/* ------------------------------------------------------------------------ */

static void pending_free(aidev_pending_command *p)
{
    if (p->is_op && p->op.destroy)
        p->op.destroy(p->op.state);
    for (uint32_t i = 0; i < p->buffer_count; i++)
        aidev_buffer_unref(p->buffers[i]);
    if (p->kernel)
        aidev_kernel_unref(p->kernel);
    if (p->signal)
        aidev_backend_event_release(p->signal);
    free(p);
}

static void queue_drain(aidev_queue_obj *q);

/* Marks |p| as not to run, keeping the first cause. */
static void pending_fail(aidev_pending_command *p, aidev_status status, const char *cause)
{
    bool expected = false;
    if (atomic_compare_exchange_strong(&p->failed, &expected, true)) {
        p->fail_status = status;
        snprintf(p->cause, sizeof p->cause, "%s", cause);
    }
}

static void gate_done(aidev_backend_event *e, aidev_status status, void *user_data)
{
    aidev_pending_command *p = user_data;
    if (status != AIDEV_SUCCESS) {
        char cause[1024];
        snprintf(cause, sizeof cause, "an event it waited on failed with %s: %s",
                 aidev_status_string(status), aidev_backend_event_message(e));
        pending_fail(p, AIDEV_ERROR_DEPENDENCY, cause);
    }
    aidev_queue_obj *q = p->queue;
    atomic_fetch_sub(&p->gates, 1);
    queue_drain(q);
}

void aidev_queue_op_finish(aidev_pending_command *p, aidev_status status, const char *message)
{
    if (status != AIDEV_SUCCESS)
        pending_fail(p, status, message && *message ? message : aidev_status_string(status));
    aidev_queue_obj *q = p->queue;
    atomic_fetch_sub(&p->gates, 1);
    queue_drain(q);
}

void aidev_queue_cancel_held(aidev_queue_obj *q, const char *why)
{
    pthread_mutex_lock(&q->hold_lock);
    for (aidev_pending_command *p = q->held_head; p; p = p->next) {
        if (p->is_op && p->op_started) {
            /* Its finish says how it ended. */
            if (p->op.cancel)
                p->op.cancel(p->op.state);
        } else {
            pending_fail(p, AIDEV_ERROR_CANCELLED, why);
        }
    }
    pthread_mutex_unlock(&q->hold_lock);
    /* Those that wait on nothing more end now. */
    queue_drain(q);
}

aidev_queue_obj *aidev_pending_queue(const aidev_pending_command *p)
{
    return p->queue;
}

aidev_event_obj *aidev_pending_signal(const aidev_pending_command *p)
{
    return p->signal;
}

aidev_status aidev_queue_submit_internal(aidev_queue_obj *q, const aidev_backend_command *cmd,
                                         aidev_event_obj *signal)
{
    const aidev_backend_vtable *vt = AIDEV_DEVICE_VT(q->device);
    if (signal)
        aidev_backend_event_retain(signal);
    aidev_error_clear();
    aidev_status st = vt->queue_submit(q->native, cmd, 0, NULL, signal);
    if (st != AIDEV_SUCCESS && signal)
        aidev_backend_event_release(signal); /* the backend never took it */
    return st;
}

/* Hands |cmd| to the backend with no waits; when the submit fails, the
 * error goes on |signal| instead. */
static void submit_held(aidev_queue_obj *q, const aidev_backend_command *cmd,
                        aidev_event_obj *signal)
{
    aidev_status st = aidev_queue_submit_internal(q, cmd, signal);
    if (st != AIDEV_SUCCESS && signal)
        aidev_event_complete(signal, st, aidev_error_message());
}

/* An op at the head: first a barrier so the queue's earlier commands are
 * done, then its start. Returns false when it is waiting. Called with the
 * hold lock, which it may drop and retake. */
static bool advance_op(aidev_queue_obj *q, aidev_pending_command *p)
{
    if (atomic_load(&p->failed))
        return true;
    /* Nothing reached the backend since the last op ended (ops run one at
     * a time, and everything enqueued meanwhile is held): the backend queue
     * is idle, no barrier needed. Back-to-back file reads then start on the
     * thread that ended the previous one, with no round trip through the
     * device in between. */
    if (!p->barrier_submitted && atomic_load(&q->submits) == q->quiet_at)
        p->barrier_submitted = true;
    if (!p->barrier_submitted) {
        p->barrier_submitted = true;
        aidev_event_obj *barrier;
        if (aidev_event_new(q->obj.context, q->device, false, &barrier) != AIDEV_SUCCESS) {
            pending_fail(p, AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            return true;
        }
        barrier->kind = AIDEV_CMD_INTERNAL;
        atomic_store(&p->gates, 1);
        pthread_mutex_unlock(&q->hold_lock);
        const aidev_backend_command cmd = {.type = AIDEV_COMMAND_BARRIER};
        submit_held(q, &cmd, barrier);
        aidev_backend_event_on_complete(barrier, gate_done, p);
        aidev_backend_event_release(barrier);
        pthread_mutex_lock(&q->hold_lock);
        return false;
    }
    if (!p->op_started) {
        p->op_started = true;
        atomic_store(&p->gates, 1);
        pthread_mutex_unlock(&q->hold_lock);
        if (p->signal)
            p->signal->times.start = aidev_now_ns();
        p->op.start(p, p->op.state);
        pthread_mutex_lock(&q->hold_lock);
        return false;
    }
    return true;
}

/* Runs what can run at the head of the hold list. One thread drains at a
 * time; a completion that arrives meanwhile asks it to look again. */
static void queue_drain(aidev_queue_obj *q)
{
    pthread_mutex_lock(&q->hold_lock);
    if (q->draining) {
        q->drain_again = true;
        pthread_mutex_unlock(&q->hold_lock);
        return;
    }
    q->draining = true;
    atomic_store_explicit(&q->hold_busy, true, memory_order_relaxed);
    do {
        q->drain_again = false;
        aidev_pending_command *p;
        while ((p = q->held_head) && atomic_load(&p->gates) == 0) {
            if (p->is_op && !advance_op(q, p))
                continue;
            q->held_head = p->next;
            if (!q->held_head)
                q->held_tail = NULL;
            pthread_mutex_unlock(&q->hold_lock);

            if (p->is_op && p->op_started)
                q->quiet_at = atomic_load(&q->submits);
            if (atomic_load(&p->failed)) {
                if (p->signal)
                    aidev_event_complete(p->signal, p->fail_status, p->cause);
            } else if (p->is_op) {
                if (p->signal)
                    aidev_event_complete(p->signal, AIDEV_SUCCESS, NULL);
            } else {
                atomic_fetch_add(&q->submits, 1);
                submit_held(q, &p->cmd, p->signal);
            }
            pending_free(p);
            pthread_mutex_lock(&q->hold_lock);
        }
    } while (q->drain_again);
    q->draining = false;
    /* Release: a lock-free reader that sees it clear also sees the
     * submissions of the commands drained before. */
    atomic_store_explicit(&q->hold_busy, q->held_head != NULL, memory_order_release);
    if (!q->held_head)
        pthread_cond_broadcast(&q->hold_drained);
    pthread_mutex_unlock(&q->hold_lock);
}

/* ------------------------------------------------------------------------ */
/* The common enqueue path                                                  */
/* ------------------------------------------------------------------------ */

typedef struct enqueue_request {
    aidev_queue_obj *queue;
    aidev_backend_command cmd;
    aidev_command_kind kind;
    uint64_t bytes;
    aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t buffer_count;
    aidev_kernel_obj *kernel;
    bool has_op;
    aidev_hal_op op;
    uint32_t wait_count;
    const aidev_event *wait_events;
    aidev_event *out_event;
    char *error;              /* this thread's message (aidev_error_buffer) */
} enqueue_request;

static void host_callback_start(aidev_pending_command *p, void *state)
{
    (void)state;
    p->cmd.u.host_callback.fn(p->cmd.u.host_callback.user_data);
    aidev_queue_op_finish(p, AIDEV_SUCCESS, NULL);
}

/* Resolves the wait list: pending events into |waits|, whether any is not
 * this device's, and the first that already failed. */
static aidev_status resolve_waits(const enqueue_request *r, aidev_event_obj **waits,
                                  uint32_t *pending, bool *foreign,
                                  const aidev_event_obj **failed)
{
    *pending = 0;
    *foreign = false;
    *failed = NULL;
    for (uint32_t i = 0; i < r->wait_count; i++) {
        char what[32];
        aidev_event_obj *e;
        snprintf(what, sizeof what, "wait_events[%u]", i);
        aidev_status st = aidev_lookup_event(r->wait_events[i], what, &e);
        if (st == AIDEV_SUCCESS && e->obj.context != r->queue->obj.context)
            st = aidev_error(AIDEV_ERROR_INVALID_HANDLE, "%s: the event belongs to another context",
                             what);
        if (st != AIDEV_SUCCESS)
            return st;
        aidev_status es = aidev_backend_event_status(e);
        if (es == AIDEV_NOT_READY) {
            waits[(*pending)++] = e;
            /* For a backend that waits through native objects only, an
             * event of this device without one yet is as foreign as
             * another backend's. */
            if (e->producer != r->queue->device ||
                ((r->queue->device->backend->vt.caps & AIDEV_BACKEND_CAP_NATIVE_WAITS) &&
                 !__atomic_load_n(&e->native, __ATOMIC_ACQUIRE)))
                *foreign = true;
        } else if (es != AIDEV_SUCCESS && !*failed) {
            *failed = e;
        }
    }
    return AIDEV_SUCCESS;
}

/* Puts the command on the hold list, to run once |waits| complete. */
static aidev_status hold(enqueue_request *r, aidev_event_obj **waits, uint32_t pending,
                         aidev_event_obj *signal)
{
    aidev_queue_obj *q = r->queue;
    aidev_pending_command *p = calloc(1, sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&q->hold_lock);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    p->queue = q;
    p->cmd = r->cmd;
    p->is_op = r->has_op;
    p->op = r->op;
    if (r->cmd.type == AIDEV_COMMAND_DISPATCH) {
        memcpy(p->args, r->cmd.u.dispatch.args, r->cmd.u.dispatch.arg_count * sizeof p->args[0]);
        p->cmd.u.dispatch.args = p->args;
    }
    for (uint32_t i = 0; i < r->buffer_count; i++) {
        aidev_buffer_retain(r->buffers[i]);
        p->buffers[p->buffer_count++] = r->buffers[i];
    }
    if (r->kernel) {
        aidev_kernel_retain(r->kernel);
        p->kernel = r->kernel;
    }
    if (signal) {
        aidev_backend_event_retain(signal);
        p->signal = signal;
    }
    /* One extra gate while the callbacks are registered, so the command
     * cannot run before its last gate is in place. */
    atomic_init(&p->gates, pending + 1);
    if (q->held_tail)
        q->held_tail->next = p;
    else
        q->held_head = p;
    q->held_tail = p;
    atomic_store_explicit(&q->hold_busy, true, memory_order_relaxed);
    pthread_mutex_unlock(&q->hold_lock);

    for (uint32_t i = 0; i < pending; i++)
        aidev_backend_event_on_complete(waits[i], gate_done, p);
    atomic_fetch_sub(&p->gates, 1);
    queue_drain(q);
    return AIDEV_SUCCESS;
}

/* Buffers made with AIDEV_BUFFER_ZERO_ON_FREE stay referenced by the hal
 * until every command naming them has completed, so the backend's
 * buffer_destroy, which scrubs them, never races a command still writing:
 * a released buffer's last command may otherwise still run on the device
 * (backends keep their own references) after the scrub. Prefetches too:
 * a migration names memory by address (SVM), which holds no reference. */
typedef struct keepalive {
    uint32_t count;
    aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
} keepalive;

static bool needs_keepalive(const enqueue_request *r)
{
    if (r->cmd.type == AIDEV_COMMAND_PREFETCH)
        return true;
    for (uint32_t i = 0; i < r->buffer_count; i++)
        if (r->buffers[i]->flags & AIDEV_BUFFER_ZERO_ON_FREE)
            return true;
    return false;
}

static keepalive *keepalive_new(const enqueue_request *r)
{
    keepalive *k = malloc(sizeof *k);
    if (!k)
        return NULL;
    k->count = r->buffer_count;
    for (uint32_t i = 0; i < r->buffer_count; i++) {
        aidev_buffer_retain(r->buffers[i]);
        k->buffers[i] = r->buffers[i];
    }
    return k;
}

static void keepalive_done(aidev_backend_event *e, aidev_status status, void *user_data)
{
    (void)e;
    (void)status;
    keepalive *k = user_data;
    for (uint32_t i = 0; i < k->count; i++)
        aidev_buffer_unref(k->buffers[i]);
    free(k);
}

/* Any command: waits resolved (held when the backend cannot wait on them),
 * an event made when one is wanted, ops and scrubbed buffers kept. Out of
 * line: its frame is large and the stream of plain commands needs none of
 * it (enqueue). */
static __attribute__((noinline)) aidev_status enqueue_general(enqueue_request *r)
{
    aidev_queue_obj *q = r->queue;
    aidev_context_obj *ctx = q->obj.context;
    const aidev_registry_backend *backend = q->device->backend;
    aidev_status st;
    /* Every refusal below leaves through |out|, which ends what the
     * request already holds (a file read's op owns a duplicated fd). */
    aidev_event_obj *small[16];
    aidev_event_obj **waits = small;
    uint32_t pending;
    bool foreign;
    const aidev_event_obj *failed;
    aidev_event_obj *signal = NULL;
    keepalive *keep = NULL;

    if (r->wait_count && !r->wait_events) {
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "wait_events: NULL with wait_count %u",
                         r->wait_count);
        goto out;
    }
    if (r->wait_count > 1024) {
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "wait_count: %u, at most 1024 events per command", r->wait_count);
        goto out;
    }
    if (r->wait_count > 16 && !(waits = malloc(r->wait_count * sizeof *waits))) {
        waits = small;
        st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto out;
    }
    st = resolve_waits(r, waits, &pending, &foreign, &failed);
    if (st != AIDEV_SUCCESS)
        goto out;

    /* An event for the caller, or one of our own when a trace or an attached
     * probe wants to see the command end, or scrubbed buffers must be kept
     * until it has. */
    bool tracing = aidev_trace_enabled();
    bool must_keep = !failed && needs_keepalive(r);
    if (r->out_event || tracing || AIDEV_PROBE_ENABLED(complete) || must_keep) {
        st = aidev_event_new(ctx, q->device, false, &signal);
        if (st != AIDEV_SUCCESS)
            goto out;
        signal->kind = r->kind;
        signal->queue_id = q->id;
        signal->bytes = r->bytes;
        if (r->kernel)
            snprintf(signal->kernel, sizeof signal->kernel, "%s", r->kernel->desc->name);
        for (uint32_t i = 0; tracing && i < r->wait_count && i < 4; i++) {
            aidev_event_obj *d = aidev_handle_get((uintptr_t)r->wait_events[i], AIDEV_HANDLE_EVENT);
            aidev_backend_event_retain(d);
            signal->trace_deps[signal->trace_dep_count++] = d;
        }
        if (r->out_event) {
            st = aidev_event_publish(signal, r->out_event);
            if (st != AIDEV_SUCCESS) {
                aidev_backend_event_release(signal);
                signal = NULL;
                goto out;
            }
        }
    }
    AIDEV_PROBE4(submit, q->id, (int)r->kind, r->bytes, q->device->index);

    if (failed) {
        /* It cannot run: say so on its event; the enqueue itself worked. */
        if (signal) {
            char msg[1024];
            snprintf(msg, sizeof msg, "an event it waited on failed with %s: %s",
                     aidev_status_string(failed->status), failed->message ? failed->message : "");
            aidev_event_complete(signal, AIDEV_ERROR_DEPENDENCY, msg);
        }
        goto out;
    }

    if (must_keep && !(keep = keepalive_new(r))) {
        st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (r->out_event) {
            aidev_event_destroy_for_context(signal);
            *r->out_event = NULL;
            signal = NULL;
        }
        goto out;
    }
    bool must_hold = r->has_op || (foreign && !(backend->vt.caps & AIDEV_BACKEND_CAP_ANY_WAIT));
    pthread_mutex_lock(&q->hold_lock);
    if (must_hold || q->held_head || q->draining) {
        st = hold(r, waits, pending, signal); /* unlocks */
        if (st == AIDEV_SUCCESS)
            r->has_op = false; /* the held command owns the op now */
    } else {
        pthread_mutex_unlock(&q->hold_lock);
        atomic_fetch_add_explicit(&q->submits, 1, memory_order_relaxed);
        if (signal)
            aidev_backend_event_retain(signal);
        r->error[0] = '\0';
        st = backend->vt.queue_submit(q->native, &r->cmd, pending,
                                      (aidev_backend_event *const *)waits, signal);
        if (st != AIDEV_SUCCESS) {
            if (signal)
                aidev_backend_event_release(signal); /* the backend's, never taken */
            if (!r->error[0])
                aidev_error(st, "backend '%s': queue_submit failed", backend->name);
        }
    }
    if (keep) {
        /* Taken or not, the command's event says when its buffers are free. */
        if (st == AIDEV_SUCCESS)
            aidev_backend_event_on_complete(signal, keepalive_done, keep);
        else
            keepalive_done(NULL, st, keep);
    }
    if (st != AIDEV_SUCCESS && signal && r->out_event) {
        /* The caller gets no event when the enqueue itself fails. */
        aidev_event_destroy_for_context(signal);
        *r->out_event = NULL;
        signal = NULL;
    }

out:
    /* Our own event (tracing, probes): the backend holds what it needs. */
    if (signal && !r->out_event)
        aidev_backend_event_release(signal);
    /* An op that never reached the hold list ends here. */
    if (r->has_op && r->op.destroy)
        r->op.destroy(r->op.state);
    if (waits != small)
        free(waits);
    return st;
}

/* Whether |q| may take a plain command (no waits, no event, nothing the hal
 * runs or keeps) straight to the backend: no trace or probe wants to see it
 * end, and nothing is held before it. |hold_busy| is read without the hold
 * lock: it is stored under it at every change, so a command held or
 * drained before this enqueue began is seen. */
static inline bool queue_takes_plain(const aidev_queue_obj *q)
{
    return !aidev_trace_enabled() && !AIDEV_PROBE_ENABLED(complete) &&
           !atomic_load_explicit(&q->hold_busy, memory_order_acquire);
}

/* What enqueue_general does for a plain command, without its frame, its
 * wait list and the lock. |error| is the thread's message buffer. */
static aidev_status submit_plain(aidev_queue_obj *q, const aidev_backend_command *cmd,
                                 aidev_command_kind kind, uint64_t bytes, char *error)
{
    AIDEV_PROBE4(submit, q->id, (int)kind, bytes, q->device->index);
    const aidev_registry_backend *backend = q->device->backend;
    atomic_fetch_add_explicit(&q->submits, 1, memory_order_relaxed);
    error[0] = '\0';
    aidev_status st = backend->vt.queue_submit(q->native, cmd, 0, NULL, NULL);
    if (st != AIDEV_SUCCESS && !error[0])
        aidev_error(st, "backend '%s': queue_submit failed", backend->name);
    return st;
}

static aidev_status enqueue(enqueue_request *r)
{
    if (r->wait_count || r->out_event || r->has_op || needs_keepalive(r) ||
        !queue_takes_plain(r->queue))
        return enqueue_general(r);
    return submit_plain(r->queue, &r->cmd, r->kind, r->bytes, r->error);
}

static aidev_status lookup_queue_buffer(aidev_queue_obj *q, aidev_buffer h, const char *what,
                                        aidev_buffer_obj **out)
{
    aidev_status st = aidev_lookup_buffer(h, what, out);
    if (st != AIDEV_SUCCESS)
        return st;
    if ((*out)->obj.context != q->obj.context)
        return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "%s: the buffer belongs to another context",
                           what);
    if ((*out)->device != q->device)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: the buffer is on device %u, the queue on device %u; copy "
                           "through host memory between devices",
                           what, (*out)->device->index, q->device->index);
    /* An evicted buffer comes back before its memory is named. */
    return aidev_buffer_touch(*out);
}

static aidev_status check_range(const aidev_buffer_obj *b, const char *what, uint64_t offset,
                                uint64_t size)
{
    if (size == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "size: 0 bytes; nothing to do");
    if (offset > b->size || size > b->size - offset)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "%s: offset %llu + size %llu is outside the buffer of %llu bytes", what,
                           (unsigned long long)offset, (unsigned long long)size,
                           (unsigned long long)b->size);
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Enqueue calls                                                            */
/* ------------------------------------------------------------------------ */

/* A request for queue |q| with nothing in it yet. */
static void request_init(enqueue_request *r, aidev_queue_obj *q, char *error,
                         aidev_event *out_event, uint32_t wait_count,
                         const aidev_event *wait_events)
{
    r->queue = q;
    r->error = error;
    /* Not the whole request: its buffer array is only read up to
     * buffer_count. */
    memset(&r->cmd, 0, sizeof r->cmd);
    r->kind = AIDEV_CMD_USER;
    r->bytes = 0;
    r->buffer_count = 0;
    r->kernel = NULL;
    r->has_op = false;
    r->op = (aidev_hal_op){0};
    r->wait_count = wait_count;
    r->wait_events = wait_events;
    r->out_event = out_event;
}

static aidev_status begin(aidev_queue h, aidev_event *out_event, enqueue_request *r,
                          uint32_t wait_count, const aidev_event *wait_events)
{
    char *error = aidev_error_buffer();
    error[0] = '\0';
    if (out_event)
        *out_event = NULL;
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_queue(h, "queue", &q);
    request_init(r, q, error, out_event, wait_count, wait_events);
    return st;
}

AIDEV_API aidev_status aidev_enqueue_write(aidev_queue queue, aidev_buffer buffer, uint64_t offset,
                                           uint64_t size, const void *src, uint32_t wait_count,
                                           const aidev_event *wait_events, aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    aidev_buffer_obj *b;
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", offset, size);
    if (st == AIDEV_SUCCESS && !src)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "src: NULL");
    if (st != AIDEV_SUCCESS)
        return st;
    r.cmd.type = AIDEV_COMMAND_WRITE;
    r.kind = AIDEV_CMD_WRITE;
    r.bytes = size;
    r.cmd.u.write.buffer = b->native;
    r.cmd.u.write.offset = offset;
    r.cmd.u.write.size = size;
    r.cmd.u.write.src = src;
    r.buffers[r.buffer_count++] = b;
    return enqueue(&r);
}

AIDEV_API aidev_status aidev_enqueue_read(aidev_queue queue, aidev_buffer buffer, uint64_t offset,
                                          uint64_t size, void *dst, uint32_t wait_count,
                                          const aidev_event *wait_events, aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    aidev_buffer_obj *b;
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", offset, size);
    if (st == AIDEV_SUCCESS && !dst)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "dst: NULL");
    if (st != AIDEV_SUCCESS)
        return st;
    r.cmd.type = AIDEV_COMMAND_READ;
    r.kind = AIDEV_CMD_READ;
    r.bytes = size;
    r.cmd.u.read.buffer = b->native;
    r.cmd.u.read.offset = offset;
    r.cmd.u.read.size = size;
    r.cmd.u.read.dst = dst;
    r.buffers[r.buffer_count++] = b;
    return enqueue(&r);
}

AIDEV_API aidev_status aidev_enqueue_copy(aidev_queue queue, aidev_buffer src, uint64_t src_offset,
                                          aidev_buffer dst, uint64_t dst_offset, uint64_t size,
                                          uint32_t wait_count, const aidev_event *wait_events,
                                          aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    aidev_buffer_obj *s, *d;
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, src, "src", &s);
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, dst, "dst", &d);
    if (st == AIDEV_SUCCESS)
        st = check_range(s, "src", src_offset, size);
    if (st == AIDEV_SUCCESS)
        st = check_range(d, "dst", dst_offset, size);
    if (st == AIDEV_SUCCESS && s == d &&
        src_offset < dst_offset + size && dst_offset < src_offset + size)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "src_offset %llu and dst_offset %llu: ranges of %llu bytes overlap in "
                         "one buffer",
                         (unsigned long long)src_offset, (unsigned long long)dst_offset,
                         (unsigned long long)size);
    if (st != AIDEV_SUCCESS)
        return st;
    r.cmd.type = AIDEV_COMMAND_COPY;
    r.kind = AIDEV_CMD_COPY;
    r.bytes = size;
    r.cmd.u.copy.src = s->native;
    r.cmd.u.copy.dst = d->native;
    r.cmd.u.copy.src_offset = src_offset;
    r.cmd.u.copy.dst_offset = dst_offset;
    r.cmd.u.copy.size = size;
    r.buffers[r.buffer_count++] = s;
    r.buffers[r.buffer_count++] = d;
    return enqueue(&r);
}

AIDEV_API aidev_status aidev_enqueue_fill(aidev_queue queue, aidev_buffer buffer, uint64_t offset,
                                          uint64_t size, const void *pattern,
                                          uint32_t pattern_size, uint32_t wait_count,
                                          const aidev_event *wait_events, aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    aidev_buffer_obj *b;
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS && !pattern)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "pattern: NULL");
    if (st == AIDEV_SUCCESS && pattern_size != 1 && pattern_size != 2 && pattern_size != 4)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "pattern_size: %u; use 1, 2 or 4 bytes",
                         pattern_size);
    if (st == AIDEV_SUCCESS && (offset % pattern_size || size % pattern_size))
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "offset %llu and size %llu must be multiples of pattern_size %u",
                         (unsigned long long)offset, (unsigned long long)size, pattern_size);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", offset, size);
    if (st != AIDEV_SUCCESS)
        return st;
    uint32_t word = 0;
    for (uint32_t i = 0; i < 4; i += pattern_size)
        memcpy((uint8_t *)&word + i, pattern, pattern_size);
    r.cmd.type = AIDEV_COMMAND_FILL;
    r.kind = AIDEV_CMD_FILL;
    r.bytes = size;
    r.cmd.u.fill.buffer = b->native;
    r.cmd.u.fill.offset = offset;
    r.cmd.u.fill.size = size;
    r.cmd.u.fill.pattern = word;
    r.cmd.u.fill.pattern_size = pattern_size;
    r.buffers[r.buffer_count++] = b;
    return enqueue(&r);
}

AIDEV_API aidev_status aidev_enqueue_barrier(aidev_queue queue, uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st != AIDEV_SUCCESS)
        return st;
    r.cmd.type = AIDEV_COMMAND_BARRIER;
    r.kind = AIDEV_CMD_BARRIER;
    return enqueue(&r);
}

AIDEV_API aidev_status aidev_enqueue_host_callback(aidev_queue queue, aidev_host_fn fn,
                                                   void *user_data, uint32_t wait_count,
                                                   const aidev_event *wait_events,
                                                   aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st == AIDEV_SUCCESS && !fn)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "fn: NULL");
    if (st != AIDEV_SUCCESS)
        return st;
    r.cmd.type = AIDEV_COMMAND_HOST_CALLBACK;
    r.kind = AIDEV_CMD_HOST_CALLBACK;
    r.cmd.u.host_callback.fn = fn;
    r.cmd.u.host_callback.user_data = user_data;
    if (!(r.queue->device->backend->vt.caps & AIDEV_BACKEND_CAP_HOST_CALLBACK)) {
        r.has_op = true;
        r.op.start = host_callback_start;
    }
    return enqueue(&r);
}

/* A dispatch that waits on nothing, signals nothing, runs something and
 * names no buffer the hal keeps (AIDEV_BUFFER_ZERO_ON_FREE), on a queue
 * that takes plain commands: what enqueue() sends straight to the backend,
 * decided without building the request. */
static bool dispatch_is_plain(const aidev_queue_obj *q, uint32_t wait_count,
                              const aidev_event *out_event, const uint32_t g[3],
                              aidev_buffer_obj *const *buffers, uint32_t arg_count)
{
    if (wait_count || out_event || !g[0] || !g[1] || !g[2] || !queue_takes_plain(q))
        return false;
    for (uint32_t i = 0; i < arg_count; i++)
        if (buffers[i] && (buffers[i]->flags & AIDEV_BUFFER_ZERO_ON_FREE))
            return false;
    return true;
}

AIDEV_API aidev_status aidev_enqueue_dispatch(aidev_queue queue, aidev_kernel kernel,
                                              const uint32_t grid[3], const uint32_t workgroup[3],
                                              uint32_t arg_count, const aidev_arg *args,
                                              uint32_t wait_count, const aidev_event *wait_events,
                                              aidev_event *out_event)
{
    char *error = aidev_error_buffer();
    error[0] = '\0';
    if (out_event)
        *out_event = NULL;
    aidev_queue_obj *q;
    aidev_kernel_obj *k;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st == AIDEV_SUCCESS)
        st = aidev_lookup_kernel(kernel, "kernel", &k);
    if (st == AIDEV_SUCCESS && k->obj.context != q->obj.context)
        st = aidev_error(AIDEV_ERROR_INVALID_HANDLE, "kernel: belongs to another context");
    if (st != AIDEV_SUCCESS)
        return st;

    aidev_backend_arg resolved[AIDEV_MAX_KERNEL_ARGS];
    aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t g[3], wg[3];
    if (arg_count > AIDEV_MAX_KERNEL_ARGS)
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS, "kernel '%s': %u arguments given, it takes %u",
                           k->desc->name, arg_count, k->desc->arg_count);
    st = aidev_kernel_check_args(k, q->device, arg_count, args, grid, workgroup, resolved,
                                 buffers, g, wg);
    if (st != AIDEV_SUCCESS)
        return st;
    const aidev_backend_command cmd = {
        .type = AIDEV_COMMAND_DISPATCH,
        .u.dispatch = {.kernel = k->native,
                       .grid = {g[0], g[1], g[2]},
                       .workgroup = {wg[0], wg[1], wg[2]},
                       .arg_count = arg_count,
                       .args = resolved}};
    if (dispatch_is_plain(q, wait_count, out_event, g, buffers, arg_count))
        return submit_plain(q, &cmd, AIDEV_CMD_DISPATCH, 0, error);

    /* Anything else goes the common way (enqueue()). */
    enqueue_request r;
    request_init(&r, q, error, out_event, wait_count, wait_events);
    for (uint32_t i = 0; i < arg_count; i++)
        if (buffers[i])
            r.buffers[r.buffer_count++] = buffers[i];
    r.kind = AIDEV_CMD_DISPATCH;
    r.kernel = k;
    if (g[0] == 0 || g[1] == 0 || g[2] == 0) {
        /* Nothing to run; a barrier keeps the event in the queue's order. */
        r.cmd.type = AIDEV_COMMAND_BARRIER;
        r.buffer_count = 0;
        r.kernel = NULL;
        return enqueue(&r);
    }
    r.cmd = cmd;
    return enqueue(&r);
}

AIDEV_API aidev_status aidev_enqueue_file_read(aidev_queue queue, aidev_buffer buffer,
                                               uint64_t buffer_offset, int fd,
                                               uint64_t file_offset, uint64_t size, uint32_t flags,
                                               uint32_t wait_count, const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    aidev_buffer_obj *b;
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", buffer_offset, size);
    if (st == AIDEV_SUCCESS && (flags & ~AIDEV_FILE_READ_DIRECT))
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "flags: unknown bits %#x",
                         flags & ~AIDEV_FILE_READ_DIRECT);
    if (st == AIDEV_SUCCESS && file_offset > (uint64_t)INT64_MAX - size)
        st = aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                         "file_offset %llu + size %llu is past the largest file offset",
                         (unsigned long long)file_offset, (unsigned long long)size);
    if (st != AIDEV_SUCCESS)
        return st;
    st = aidev_file_read_op(r.queue, b, buffer_offset, fd, file_offset, size, flags, &r.op);
    if (st != AIDEV_SUCCESS)
        return st;
    r.has_op = true;
    r.kind = AIDEV_CMD_FILE_READ;
    r.bytes = size;
    r.buffers[r.buffer_count++] = b;
    return enqueue(&r);
}

AIDEV_API aidev_status aidev_enqueue_prefetch(aidev_queue queue, aidev_buffer buffer,
                                              uint64_t offset, uint64_t size, uint32_t flags,
                                              uint32_t wait_count, const aidev_event *wait_events,
                                              aidev_event *out_event)
{
    enqueue_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    aidev_buffer_obj *b;
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS && b->kind != AIDEV_MEMORY_SHARED)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "buffer: prefetch moves AIDEV_MEMORY_SHARED buffers; this one is %s",
                         b->kind == AIDEV_MEMORY_DEVICE ? "AIDEV_MEMORY_DEVICE"
                                                        : "AIDEV_MEMORY_HOST");
    if (st == AIDEV_SUCCESS && flags != AIDEV_PREFETCH_TO_DEVICE && flags != AIDEV_PREFETCH_TO_HOST)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "flags: %#x; use AIDEV_PREFETCH_TO_DEVICE or AIDEV_PREFETCH_TO_HOST",
                         flags);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", offset, size);
    if (st != AIDEV_SUCCESS)
        return st;
    r.kind = AIDEV_CMD_PREFETCH;
    r.bytes = size;
    if (!(r.queue->device->backend->vt.caps & AIDEV_BACKEND_CAP_PREFETCH)) {
        /* A hint the backend has no use for: it still orders the queue. */
        r.cmd.type = AIDEV_COMMAND_BARRIER;
        return enqueue(&r);
    }
    r.cmd.type = AIDEV_COMMAND_PREFETCH;
    r.cmd.u.prefetch.buffer = b->native;
    r.cmd.u.prefetch.offset = offset;
    r.cmd.u.prefetch.size = size;
    r.cmd.u.prefetch.flags = flags;
    r.buffers[r.buffer_count++] = b;
    return enqueue(&r);
}

aidev_status aidev_enqueue_hal_op(aidev_queue_obj *q, aidev_command_kind kind, uint64_t bytes,
                                  aidev_buffer_obj *b, aidev_hal_op *op, uint32_t wait_count,
                                  const aidev_event *wait_events, aidev_event *out_event)
{
    enqueue_request r;
    request_init(&r, q, aidev_error_buffer(), out_event, wait_count, wait_events);
    r.kind = kind;
    r.bytes = bytes;
    if (op) {
        r.has_op = true;
        r.op = *op;
    } else {
        r.cmd.type = AIDEV_COMMAND_BARRIER;
    }
    if (b)
        r.buffers[r.buffer_count++] = b;
    return enqueue(&r);
}

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
    pthread_mutex_init(&q->hold_lock, NULL);
    pthread_cond_init(&q->hold_drained, NULL);
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
        pthread_cond_destroy(&q->hold_drained);
        pthread_mutex_destroy(&q->hold_lock);
        free(q);
        return st;
    }
    aidev_context_link(dev->obj.context, &q->obj, AIDEV_HANDLE_QUEUE);
    aidev_trace_queue(q);
    *out_queue = (aidev_queue)q->obj.handle;
    return AIDEV_SUCCESS;
}

static aidev_status queue_finish(aidev_queue_obj *q)
{
    pthread_mutex_lock(&q->hold_lock);
    while (q->held_head || q->draining)
        pthread_cond_wait(&q->hold_drained, &q->hold_lock);
    pthread_mutex_unlock(&q->hold_lock);
    aidev_error_clear();
    return AIDEV_DEVICE_VT(q->device)->queue_finish(q->native);
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

static void queue_destroy(aidev_queue_obj *q)
{
    aidev_context_unlink(&q->obj);
    aidev_handle_free(q->obj.handle);
    q->obj.handle = 0;
    queue_finish(q);
    AIDEV_DEVICE_VT(q->device)->queue_destroy(q->native);
    pthread_cond_destroy(&q->hold_drained);
    pthread_mutex_destroy(&q->hold_lock);
    free(q);
}

AIDEV_API aidev_status aidev_queue_release(aidev_queue queue)
{
    aidev_error_clear();
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st != AIDEV_SUCCESS)
        return st;
    queue_destroy(q);
    return AIDEV_SUCCESS;
}

void aidev_queue_destroy_for_context(aidev_queue_obj *q)
{
    queue_destroy(q);
}

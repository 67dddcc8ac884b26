/*
 * scheduler.c - the one place that holds, orders and releases commands
 * (hal/scheduler.h says how requests reach it and which paths they take).
 *
 * The hold list of a queue: commands whose waits the backend cannot take,
 * hal ops (host callbacks, file reads) and everything enqueued behind them.
 * One thread drains it at a time; completions of the events a command
 * waits on (gate_done) and ends of ops make it look again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/scheduler.h"

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
    /* What the command is, for the queue's failure record when it has no
     * event. */
    aidev_command_kind kind;
    uint64_t bytes;
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
    void *backend_graph;      /* a graph segment: graph_submit, not |cmd| */
};

/* ------------------------------------------------------------------------ */
/* The hold list                                                            */
/* ------------------------------------------------------------------------ */

/* Gives back |p|'s references on its buffers. Before its event completes
 * where it can: a program that saw the command end finds them idle. */
static void pending_drop_buffers(aidev_pending_command *p)
{
    for (uint32_t i = 0; i < p->buffer_count; i++)
        aidev_buffer_unref(p->buffers[i]);
    p->buffer_count = 0;
}

static void pending_free(aidev_pending_command *p)
{
    if (p->is_op && p->op.destroy)
        p->op.destroy(p->op.state);
    pending_drop_buffers(p);
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

/* A backend graph (hal/graph_launch.c) in place of a command: its
 * graph_submit, with queue_submit's contract. */
static aidev_status submit_backend_graph(aidev_queue_obj *q, void *graph, uint32_t wait_count,
                                         aidev_event_obj *const *waits, aidev_event_obj *signal)
{
    aidev_backend_event_retain(signal);
    aidev_status st = AIDEV_DEVICE_VT(q->device)->graph_submit(
        q->native, graph, wait_count, (aidev_backend_event *const *)waits, signal);
    if (st != AIDEV_SUCCESS)
        aidev_backend_event_release(signal); /* the backend never took it */
    return st;
}

/* Hands |cmd| (or |graph|) to the backend with no waits; when the submit
 * fails, the error goes on |signal| instead. Returns the submit's
 * status. */
static aidev_status submit_held(aidev_queue_obj *q, const aidev_backend_command *cmd,
                                void *graph, aidev_event_obj *signal)
{
    aidev_error_clear();
    aidev_status st = graph ? submit_backend_graph(q, graph, 0, NULL, signal)
                            : aidev_queue_submit_internal(q, cmd, signal);
    if (st != AIDEV_SUCCESS && signal)
        aidev_event_complete(signal, st, aidev_error_message());
    return st;
}

/* A held command without an event failed: only the queue's record can
 * tell (aidev_queue_finish). */
static void note_unsignalled_failure(aidev_queue_obj *q, const aidev_pending_command *p,
                                     aidev_status status, const char *cause)
{
    aidev_queue_failures_note(q->failures, p->kind, p->kernel ? p->kernel->desc->name : NULL,
                              p->bytes, status, cause);
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
        submit_held(q, &cmd, NULL, barrier);
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
            if (atomic_load(&p->failed) || p->is_op)
                pending_drop_buffers(p); /* nothing of it runs any more */
            if (atomic_load(&p->failed)) {
                if (p->signal)
                    aidev_event_complete(p->signal, p->fail_status, p->cause);
                else
                    note_unsignalled_failure(q, p, p->fail_status, p->cause);
            } else if (p->is_op) {
                if (p->signal)
                    aidev_event_complete(p->signal, AIDEV_SUCCESS, NULL);
            } else {
                atomic_fetch_add(&q->submits, 1);
                aidev_status st = submit_held(q, &p->cmd, p->backend_graph, p->signal);
                if (st != AIDEV_SUCCESS && !p->signal)
                    note_unsignalled_failure(q, p, st, aidev_error_message());
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

static void host_callback_start(aidev_pending_command *p, void *state)
{
    (void)state;
    p->cmd.u.host_callback.fn(p->cmd.u.host_callback.user_data);
    aidev_queue_op_finish(p, AIDEV_SUCCESS, NULL);
}

aidev_hal_op aidev_scheduler_host_callback_op(void)
{
    return (aidev_hal_op){.start = host_callback_start};
}

/* ------------------------------------------------------------------------ */
/* Taking a request                                                          */
/* ------------------------------------------------------------------------ */

/* Resolves the wait list: pending events into |waits|, whether any is not
 * this device's, and the first that already failed. */
static aidev_status resolve_waits(const aidev_request *r, aidev_event_obj **waits,
                                  uint32_t *pending, bool *foreign,
                                  const aidev_event_obj **failed)
{
    *pending = 0;
    *foreign = false;
    *failed = NULL;
    for (uint32_t i = 0; i < r->wait_count; i++) {
        char what[32];
        aidev_event_obj *e = r->wait_objs ? r->wait_objs[i] : NULL;
        aidev_status st = AIDEV_SUCCESS;
        /* Named in the messages of events given as handles and as objects. */
        snprintf(what, sizeof what, "wait_events[%u]", i);
        if (!e)
            st = aidev_lookup_event(r->wait_events[i], what, &e);
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
                 !aidev_backend_event_native(e, r->queue->device->native)))
                *foreign = true;
        } else if (es != AIDEV_SUCCESS && !*failed) {
            *failed = e;
        }
    }
    return AIDEV_SUCCESS;
}

/* Puts the command on the hold list, to run once |waits| complete. */
static aidev_status hold(aidev_request *r, aidev_event_obj **waits, uint32_t pending,
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
    p->kind = r->kind;
    p->bytes = r->bytes;
    p->is_op = r->has_op;
    p->op = r->op;
    p->backend_graph = r->backend_graph;
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
struct aidev_keepalive {
    uint32_t count;
    aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
};
typedef aidev_keepalive keepalive;

static keepalive *keepalive_new(const aidev_request *r)
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

void aidev_keepalive_release(aidev_keepalive *k)
{
    for (uint32_t i = 0; i < k->count; i++)
        aidev_buffer_unref(k->buffers[i]);
    free(k);
}

/* The event of request |r|, published when the caller asked for one. */
aidev_status aidev_scheduler_request_signal(const aidev_request *r, aidev_event_obj **out)
{
    aidev_queue_obj *q = r->queue;
    aidev_event_obj *signal;
    *out = NULL;
    aidev_status st = aidev_event_new(q->obj.context, q->device, false, &signal);
    if (st != AIDEV_SUCCESS)
        return st;
    signal->failures = aidev_queue_failures_retain(q->failures);
    signal->kind = r->kind;
    signal->queue_id = q->id;
    signal->bytes = r->bytes;
    if (r->kernel)
        snprintf(signal->kernel, sizeof signal->kernel, "%s", r->kernel->desc->name);
    for (uint32_t i = 0; aidev_trace_enabled() && i < r->wait_count && i < 4; i++) {
        aidev_event_obj *d = r->wait_objs ? r->wait_objs[i]
                                          : aidev_handle_get((uintptr_t)r->wait_events[i],
                                                             AIDEV_HANDLE_EVENT);
        aidev_backend_event_retain(d);
        signal->trace_deps[signal->trace_dep_count++] = d;
    }
    if (r->out_event) {
        st = aidev_event_publish(signal, r->out_event);
        if (st != AIDEV_SUCCESS) {
            aidev_backend_event_release(signal);
            return st;
        }
    }
    *out = signal;
    return AIDEV_SUCCESS;
}

/* The backend buffers |r->cmd| names, from its hal buffers again: a
 * touch may have restored them into new memory. Ops name their buffers
 * when they run. */
static void request_name_buffers(aidev_request *r)
{
    aidev_backend_command *c = &r->cmd;
    if (r->has_op || !r->buffer_count)
        return;
    switch (c->type) {
    case AIDEV_COMMAND_WRITE:
        c->u.write.buffer = r->buffers[0]->native;
        break;
    case AIDEV_COMMAND_READ:
        c->u.read.buffer = r->buffers[0]->native;
        break;
    case AIDEV_COMMAND_COPY:
        c->u.copy.src = r->buffers[0]->native;
        c->u.copy.dst = r->buffers[1]->native;
        break;
    case AIDEV_COMMAND_FILL:
        c->u.fill.buffer = r->buffers[0]->native;
        break;
    case AIDEV_COMMAND_PREFETCH:
        c->u.prefetch.buffer = r->buffers[0]->native;
        break;
    case AIDEV_COMMAND_DISPATCH:
        /* |buffers| holds the buffer arguments in their order. */
        for (uint32_t i = 0, j = 0; i < c->u.dispatch.arg_count && j < r->buffer_count; i++)
            if (r->args[i].kind == AIDEV_ARG_BUFFER)
                r->args[i].u.buffer.buffer = r->buffers[j++]->native;
        break;
    case AIDEV_COMMAND_BARRIER:
    case AIDEV_COMMAND_HOST_CALLBACK:
        break;
    }
}

/* Touches every buffer of |r| (restoring the evicted ones, calling off
 * queued evictions), each with a reference that closes the window until
 * the command holds its own, then names their memory in the command. */
static aidev_status request_touch(aidev_request *r)
{
    for (uint32_t i = 0; i < r->buffer_count; i++) {
        aidev_status st = aidev_tier_touch(r->buffers[i], true, r->queue);
        if (st != AIDEV_SUCCESS) {
            while (i--)
                aidev_buffer_unref(r->buffers[i]);
            return st;
        }
    }
    r->touch_refs = true;
    request_name_buffers(r);
    return AIDEV_SUCCESS;
}

/* Out of line (aidev_scheduler_submit is inline): its frame is large and
 * the stream of plain commands needs none of it. */
aidev_status aidev_scheduler_submit_general(aidev_request *r)
{
    aidev_queue_obj *q = r->queue;
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

    if (aidev_request_needs_touch(r) && (st = request_touch(r)) != AIDEV_SUCCESS)
        goto out;
    if (r->wait_count && !r->wait_events && !r->wait_objs) {
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
     * until it has, or it waits on events (whose failure fails it: the
     * queue's finish must hear of it). */
    bool must_keep = !failed && aidev_request_needs_keepalive(r);
    if (r->signal) {
        /* A graph launch's: ours for this call, like one made here. */
        signal = r->signal;
        aidev_backend_event_retain(signal);
    } else if (r->out_event || aidev_trace_enabled() || AIDEV_PROBE_ENABLED(complete) ||
               must_keep || r->wait_count) {
        st = aidev_scheduler_request_signal(r, &signal);
        if (st != AIDEV_SUCCESS)
            goto out;
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
            aidev_event_unpublish(signal);
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
        if (r->backend_graph) {
            aidev_backend_event_release(signal); /* submit_backend_graph takes its own */
            st = submit_backend_graph(q, r->backend_graph, pending, waits, signal);
        } else {
            st = backend->vt.queue_submit(q->native, &r->cmd, pending,
                                          (aidev_backend_event *const *)waits, signal);
        }
        if (st != AIDEV_SUCCESS) {
            if (signal && !r->backend_graph)
                aidev_backend_event_release(signal); /* the backend's, never taken */
            if (!r->error[0])
                aidev_error(st, "backend '%s': queue_submit failed", backend->name);
        }
    }
    if (keep) {
        /* Taken or not, the command's event says when its buffers are free. */
        if (st == AIDEV_SUCCESS)
            aidev_event_keep_until_complete(signal, keep);
        else
            aidev_keepalive_release(keep);
    }
    if (st != AIDEV_SUCCESS && signal && r->out_event) {
        /* The caller gets no event when the enqueue itself fails. */
        aidev_event_unpublish(signal);
        *r->out_event = NULL;
        signal = NULL;
    }

out:
    /* The command holds its own references now (held, kept alive). */
    for (uint32_t i = 0; r->touch_refs && i < r->buffer_count; i++)
        aidev_buffer_unref(r->buffers[i]);
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

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */
/* ------------------------------------------------------------------------ */

void aidev_scheduler_queue_init(aidev_queue_obj *q)
{
    pthread_mutex_init(&q->hold_lock, NULL);
    pthread_cond_init(&q->hold_drained, NULL);
}

void aidev_scheduler_queue_fini(aidev_queue_obj *q)
{
    pthread_cond_destroy(&q->hold_drained);
    pthread_mutex_destroy(&q->hold_lock);
}

void aidev_scheduler_wait_drained(aidev_queue_obj *q)
{
    pthread_mutex_lock(&q->hold_lock);
    while (q->held_head || q->draining)
        pthread_cond_wait(&q->hold_drained, &q->hold_lock);
    pthread_mutex_unlock(&q->hold_lock);
}

/*
 * scheduler.h - between the enqueue calls and the scheduler.
 *
 * hal/enqueue.c checks the arguments of an enqueue call and turns it into
 * an aidev_request: the backend command, the hal objects it names, its wait
 * list and where its event goes. hal/scheduler.c takes the request and is
 * the one place that holds, orders and releases commands:
 *
 *   direct  the command goes to the backend's queue_submit at once, with the
 *           events it still waits on;
 *   held    the command waits in the queue's hold list until the events it
 *           waits on complete, then goes to the backend with none. That is
 *           how a backend without AIDEV_BACKEND_CAP_ANY_WAIT waits on another
 *           backend's events, on user events, and (with
 *           AIDEV_BACKEND_CAP_NATIVE_WAITS) on events of its own device that
 *           have no native object yet, without blocking the caller; and how
 *           host callbacks and file reads run (hal ops, below). While the
 *           hold list is not empty every command joins it, so the queue's
 *           order holds.
 *
 * Backends keep no hold lists of their own: what a backend needs from the
 * scheduler is a capability bit.
 *
 * The stream of plain commands (no waits, no event, nothing held before
 * them) takes the direct path without building more than the command:
 * aidev_scheduler_submit and aidev_scheduler_submit_plain are inline here so
 * that it stays one call from the API entry to the backend.
 */
#ifndef AIDEV_HAL_SCHEDULER_H
#define AIDEV_HAL_SCHEDULER_H

#include "hal/internal.h"
#include "hal/probes.h"
#include "hal/trace.h"

/* ------------------------------------------------------------------------ */
/* Ops: commands the hal runs itself                                        */
/* ------------------------------------------------------------------------ */

/* Commands the hal runs itself (host callbacks where the backend has no
 * native form, file reads): they wait in the queue's hold list like held
 * commands; once the queue's earlier commands are done, |start| runs on a
 * library thread, and the op ends with aidev_queue_op_finish(), from any
 * thread, possibly within |start|. Later commands of the queue wait for it. */
typedef struct aidev_pending_command aidev_pending_command;
typedef struct aidev_hal_op {
    void (*start)(aidev_pending_command *p, void *state);
    void (*destroy)(void *state); /* (optional) after the op finished */
    /* (optional) Asks a started op to end early: it still ends with
     * aidev_queue_op_finish(), with AIDEV_ERROR_CANCELLED unless it had
     * already done all its work. May come before |start| has run; called
     * with the queue's hold lock. */
    void (*cancel)(void *state);
    void *state;
} aidev_hal_op;
void aidev_queue_op_finish(aidev_pending_command *p, aidev_status status, const char *message);
aidev_queue_obj *aidev_pending_queue(const aidev_pending_command *p);
/* The command's event, or NULL when nobody asked for one. */
aidev_event_obj *aidev_pending_signal(const aidev_pending_command *p);

/* Submits |cmd| straight to the queue's backend, outside the queue's order:
 * for an op's own steps (staging copies) while later commands wait behind
 * it. |signal| (may be NULL) receives the completion. */
aidev_status aidev_queue_submit_internal(aidev_queue_obj *q, const aidev_backend_command *cmd,
                                         aidev_event_obj *signal);

/* The op of a host callback on a backend without
 * AIDEV_BACKEND_CAP_HOST_CALLBACK: runs the request's callback. */
aidev_hal_op aidev_scheduler_host_callback_op(void);

/* File reads (hal/file_read.c): the op behind aidev_enqueue_file_read. */
aidev_status aidev_file_read_op(aidev_queue_obj *q, aidev_buffer_obj *b, uint64_t buffer_offset,
                                int fd, uint64_t file_offset, uint64_t size, uint32_t flags,
                                aidev_hal_op *out_op);

/* Enqueues |op| (a barrier when NULL) in |q|'s order as a command of
 * |kind| (|bytes| for traces and probes), after |wait_events|, keeping |b|
 * (may be NULL) alive while it waits. The op belongs to the queue from
 * then on, even when this fails (its destroy runs). For the compressed
 * memory tier (hal/evict.c); in hal/enqueue.c. */
aidev_status aidev_enqueue_hal_op(aidev_queue_obj *q, aidev_command_kind kind, uint64_t bytes,
                                  aidev_buffer_obj *b, aidev_hal_op *op, uint32_t wait_count,
                                  const aidev_event *wait_events, aidev_event *out_event);

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

/* One enqueue call, checked and resolved (hal/enqueue.c). */
typedef struct aidev_request {
    aidev_queue_obj *queue;
    aidev_backend_command cmd;
    aidev_command_kind kind;
    uint64_t bytes;
    /* The hal objects |cmd| names, kept alive while it is held. */
    aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t buffer_count;
    /* A dispatch's arguments (what |cmd| points at), writable: the buffer
     * ones are named again once their buffers were touched. */
    aidev_backend_arg *args;
    /* |buffers| touched with a reference each (aidev_tier_touch), given
     * back once the command holds its own. */
    bool touch_refs;
    aidev_kernel_obj *kernel;
    bool has_op;              /* the hal runs |op| instead of the backend |cmd| */
    aidev_hal_op op;
    uint32_t wait_count;
    const aidev_event *wait_events;
    aidev_event *out_event;
    char *error;              /* this thread's message (aidev_error_buffer) */
    /* Graph launches (hal/graph_launch.c), NULL otherwise: the wait list as
     * events already resolved (|wait_count| of them, in place of
     * |wait_events|), the event to signal (the caller keeps its reference;
     * no |out_event|), and a backend graph (graph_submit) that runs in
     * place of |cmd|. */
    aidev_event_obj *const *wait_objs;
    aidev_event_obj *signal;
    void *backend_graph;
} aidev_request;

/* The event of request |r|, with one reference for the caller, published
 * into |r->out_event| when that is set. */
aidev_status aidev_scheduler_request_signal(const aidev_request *r, aidev_event_obj **out);

/* Any request: waits resolved (held when the backend cannot wait on them),
 * an event made when one is wanted, ops and scrubbed buffers kept. Ends
 * the request's op when it fails before the op is held. */
aidev_status aidev_scheduler_submit_general(aidev_request *r);

/* Whether |r| names a buffer made with AIDEV_BUFFER_ZERO_ON_FREE, is a
 * prefetch, or names buffers of a context with a memory limit (automatic
 * eviction tells idle buffers by their references): the hal then keeps
 * its buffers until the command has ended. */
static inline bool aidev_request_needs_keepalive(const aidev_request *r)
{
    if (r->cmd.type == AIDEV_COMMAND_PREFETCH)
        return true;
    if (r->buffer_count && aidev_context_tiering(r->queue->obj.context))
        return true;
    for (uint32_t i = 0; i < r->buffer_count; i++)
        if (r->buffers[i]->flags & AIDEV_BUFFER_ZERO_ON_FREE)
            return true;
    return false;
}

/* Whether a buffer |r| names is evicted, has an eviction queued, or is
 * under a memory limit: its touch (aidev_tier_touch) then comes first. An
 * eviction does not touch its own buffer. */
static inline bool aidev_request_needs_touch(const aidev_request *r)
{
    if (r->kind == AIDEV_CMD_EVICT)
        return false;
    for (uint32_t i = 0; i < r->buffer_count; i++)
        if (aidev_buffer_needs_touch(r->buffers[i]))
            return true;
    return false;
}

/* Whether |q| may take a plain command (no waits, no event, nothing the hal
 * runs or keeps) straight to the backend: no trace or probe wants to see it
 * end, and nothing is held before it. |hold_busy| is read without the hold
 * lock: it is stored under it at every change, so a command held or
 * drained before this enqueue began is seen. */
static inline bool aidev_scheduler_takes_plain(const aidev_queue_obj *q)
{
    return !aidev_trace_enabled() && !AIDEV_PROBE_ENABLED(complete) &&
           !atomic_load_explicit(&q->hold_busy, memory_order_acquire);
}

/* What aidev_scheduler_submit_general does for a plain command, without its
 * frame, its wait list and the lock. |error| is the thread's message
 * buffer. */
static inline aidev_status aidev_scheduler_submit_plain(aidev_queue_obj *q,
                                                        const aidev_backend_command *cmd,
                                                        aidev_command_kind kind, uint64_t bytes,
                                                        char *error)
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

/* Whether |r| names the device copy of a context buffer (and is a command
 * that uses its contents: the tier's own evictions and restores are not). */
static inline bool aidev_request_names_context_buffer(const aidev_request *r)
{
    for (uint32_t i = 0; i < r->buffer_count; i++)
        if (__builtin_expect(r->buffers[i]->flags & AIDEV_BUFFER_CONTEXT_COPY, 0))
            return r->kind != AIDEV_CMD_EVICT && r->kind != AIDEV_CMD_RESTORE;
    return false;
}

/* Submits |r|, which names context buffers, after what its accesses need:
 * transfers that make its copies valid, waits on earlier writes and reads;
 * then records it as their last write or a read (hal/placement_order.c).
 * It ends through aidev_scheduler_submit_general. */
aidev_status aidev_placement_submit(aidev_request *r);

/* Hands a checked request to the scheduler: the plain ones straight to the
 * backend, context buffers' through their order, the others the general
 * way. */
static inline aidev_status aidev_scheduler_submit(aidev_request *r)
{
    if (__builtin_expect(aidev_request_names_context_buffer(r), 0))
        return aidev_placement_submit(r);
    if (r->wait_count || r->out_event || r->has_op || r->signal ||
        aidev_request_needs_keepalive(r) || aidev_request_needs_touch(r) ||
        !aidev_scheduler_takes_plain(r->queue))
        return aidev_scheduler_submit_general(r);
    return aidev_scheduler_submit_plain(r->queue, &r->cmd, r->kind, r->bytes, r->error);
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */
/* ------------------------------------------------------------------------ */

/* The scheduler's part of a queue: its hold list, made with the queue and
 * ended with it (after aidev_scheduler_wait_drained). */
void aidev_scheduler_queue_init(aidev_queue_obj *q);
void aidev_scheduler_queue_fini(aidev_queue_obj *q);
/* Returns once nothing of |q| is held or being drained: every command
 * enqueued before has reached the backend, or ended. */
void aidev_scheduler_wait_drained(aidev_queue_obj *q);

#endif

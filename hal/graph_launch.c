/*
 * graph_launch.c - launching an instantiated graph: each segment
 * (hal/graph.h) goes to the scheduler as one request, its backend graph in
 * place of a command, or, where the backend has none, node by node (the
 * fallback every backend gets); no node is checked or looked up again.
 * One event per segment; the launch's event completes when all have, with
 * the first failure named by its node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/graph.h"

typedef struct graph_launch graph_launch;

/* What a completion callback needs: its launch and which segment or node. */
typedef struct launch_slot {
    graph_launch *launch;
    uint32_t index;
} launch_slot;

struct graph_launch {
    aidev_graph_exec_obj *exec;
    aidev_event_obj *event;   /* the launch's; our reference */
    atomic_uint pending;      /* segments not completed */
    /* One for the segments, one per node callback not yet run: a node's
     * callback may run after the launch's event completed (a backend that
     * waits natively lets the next node run first). The exec's |inflight|
     * counts the launch until the last. */
    atomic_uint refs;
    pthread_mutex_t lock;     /* the failure below */
    aidev_status status;
    bool named;               /* the failure is a node's own, not a dependency's */
    char message[1024];
    launch_slot *segment_slots;
    launch_slot *node_slots;  /* nodes of fallback segments */
    /* The earliest start and latest end of its segments and nodes (under
     * |lock|): the launch's trace slice spans them all (hal/trace.c). */
    uint64_t first_start, last_end;
};

/* Widens the launch's span to |e|'s times, a segment's or a node's. */
static void launch_span(graph_launch *l, const aidev_backend_event *e)
{
    pthread_mutex_lock(&l->lock);
    if (e->times.start && (!l->first_start || e->times.start < l->first_start))
        l->first_start = e->times.start;
    if (e->times.end > l->last_end)
        l->last_end = e->times.end;
    pthread_mutex_unlock(&l->lock);
}

/* Keeps the first failure, a node's own before any dependency's. */
static void launch_fail(graph_launch *l, aidev_status status, bool named, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void launch_fail(graph_launch *l, aidev_status status, bool named, const char *fmt, ...)
{
    pthread_mutex_lock(&l->lock);
    if (l->status == AIDEV_SUCCESS || (named && !l->named)) {
        l->status = status;
        l->named = named;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->message, sizeof l->message, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&l->lock);
}

static void launch_unref(graph_launch *l)
{
    if (atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    aidev_graph_exec_obj *x = l->exec;
    pthread_mutex_destroy(&l->lock);
    free(l->segment_slots);
    free(l->node_slots);
    free(l);
    /* Last: the exec may end as soon as this is seen. */
    pthread_mutex_lock(&x->lock);
    if (--x->inflight == 0)
        pthread_cond_broadcast(&x->idle);
    pthread_mutex_unlock(&x->lock);
}

static void launch_finish(graph_launch *l)
{
    l->event->times.end = aidev_now_ns();
    pthread_mutex_lock(&l->lock);
    /* Device clocks are calibrated against the host's within some
     * microseconds: the launch's slice takes in every slice of its own. */
    if (l->first_start && l->first_start < l->event->times.start)
        l->event->times.start = l->first_start;
    if (l->last_end > l->event->times.end)
        l->event->times.end = l->last_end;
    aidev_status status = l->status;
    char message[sizeof l->message];
    memcpy(message, l->message, sizeof message);
    pthread_mutex_unlock(&l->lock);
    aidev_event_complete(l->event, status, status == AIDEV_SUCCESS ? NULL : message);
    aidev_backend_event_release(l->event);
    launch_unref(l);
}

static void segment_done(aidev_backend_event *e, aidev_status status, void *user_data)
{
    launch_slot *slot = user_data;
    graph_launch *l = slot->launch;
    launch_span(l, e);
    if (status != AIDEV_SUCCESS) {
        const aidev_exec_segment *s = &l->exec->segments[slot->index];
        int64_t failed = e->graph_failed_index;
        const char *msg = aidev_backend_event_message(e);
        if (failed >= 0 && (uint64_t)failed < s->count)
            launch_fail(l, status, true, "%s failed with %s: %s",
                        l->exec->nodes[s->first + failed].name, aidev_status_string(status), msg);
        else
            launch_fail(l, status, status != AIDEV_ERROR_DEPENDENCY,
                        "%s (its queue's nodes %u to %u) failed with %s: %s",
                        l->exec->nodes[s->first].name, s->first, s->first + s->count - 1,
                        aidev_status_string(status), msg);
    }
    if (atomic_fetch_sub(&l->pending, 1) == 1)
        launch_finish(l);
}

/* A node of a fallback segment: its own failure names it. */
static void node_done(aidev_backend_event *e, aidev_status status, void *user_data)
{
    launch_slot *slot = user_data;
    launch_span(slot->launch, e);
    if (status != AIDEV_SUCCESS && status != AIDEV_ERROR_DEPENDENCY)
        launch_fail(slot->launch, status, true, "%s failed with %s: %s",
                    slot->launch->exec->nodes[slot->index].name, aidev_status_string(status),
                    aidev_backend_event_message(e));
    launch_unref(slot->launch);
}

/* Makes the cmd of |n| name its buffers' memory as it is now (an evicted
 * buffer comes back, maybe elsewhere). |*moved| tells whether it changed. */
static aidev_status node_refresh(aidev_exec_node *n, bool *moved)
{
    aidev_request *r = &n->req;
    for (uint32_t i = 0; i < r->buffer_count; i++) {
        aidev_status st = aidev_buffer_touch(r->buffers[i]);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    void *now[AIDEV_BACKEND_COMMAND_MAX_BUFFERS];
    uint32_t count = aidev_backend_command_buffers(&r->cmd, now);
    for (uint32_t i = 0; i < count && i < r->buffer_count; i++)
        if (now[i] != r->buffers[i]->native)
            *moved = true;
    if (!*moved)
        return AIDEV_SUCCESS;
    switch (r->cmd.type) {
    case AIDEV_COMMAND_WRITE: r->cmd.u.write.buffer = r->buffers[0]->native; break;
    case AIDEV_COMMAND_READ: r->cmd.u.read.buffer = r->buffers[0]->native; break;
    case AIDEV_COMMAND_FILL: r->cmd.u.fill.buffer = r->buffers[0]->native; break;
    case AIDEV_COMMAND_COPY:
        r->cmd.u.copy.src = r->buffers[0]->native;
        r->cmd.u.copy.dst = r->buffers[1]->native;
        break;
    case AIDEV_COMMAND_DISPATCH:
        for (uint32_t a = 0, j = 0; a < r->cmd.u.dispatch.arg_count; a++)
            if (n->args[a].kind == AIDEV_ARG_BUFFER)
                n->args[a].u.buffer.buffer = r->buffers[j++]->native;
        break;
    default: break;
    }
    return AIDEV_SUCCESS;
}

/* The memory of segment |s|'s buffers as it is now; its backend graph is
 * made again when some moved. Called with the exec's launch lock. */
static aidev_status segment_refresh(aidev_graph_exec_obj *x, aidev_exec_segment *s)
{
    bool moved = false;
    for (uint32_t i = 0; i < s->count; i++) {
        aidev_status st = node_refresh(&x->nodes[s->first + i], &moved);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    if (moved && s->native)
        return aidev_graph_exec_segment_prepare(x, s);
    return AIDEV_SUCCESS;
}

static void request_for_segment(aidev_request *r, aidev_queue_obj *q, uint32_t wait_count,
                                aidev_event_obj *const *waits, aidev_event_obj *signal)
{
    memset(r, 0, offsetof(aidev_request, buffers));
    r->queue = q;
    r->buffer_count = 0;
    r->args = NULL;
    r->touch_refs = false;
    r->kernel = NULL;
    r->has_op = false;
    r->out_event = NULL;
    r->wait_events = NULL;
    r->error = aidev_error_buffer();
    r->wait_count = wait_count;
    r->wait_objs = waits;
    r->signal = signal;
    r->backend_graph = NULL;
}

/* Submits the nodes of fallback segment |s| one by one, each after the
 * previous (so that a failure stops the rest), the last signalling
 * |signal|. */
static aidev_status segment_submit_nodes(graph_launch *l, aidev_exec_segment *s,
                                         uint32_t wait_count, aidev_event_obj *const *waits,
                                         aidev_event_obj *signal)
{
    aidev_graph_exec_obj *x = l->exec;
    aidev_event_obj *prev = NULL;
    aidev_status st = AIDEV_SUCCESS;
    for (uint32_t i = 0; i < s->count && st == AIDEV_SUCCESS; i++) {
        aidev_exec_node *n = &x->nodes[s->first + i];
        aidev_event_obj *e = signal;
        if (i + 1 < s->count) {
            st = aidev_event_new(x->obj.context, s->queue->device, false, &e);
            if (st != AIDEV_SUCCESS)
                break;
            e->kind = n->req.kind;
            e->queue_id = s->queue->id;
        }
        aidev_request r = n->req;
        r.error = aidev_error_buffer();
        r.wait_count = prev ? 1 : wait_count;
        r.wait_objs = prev ? &prev : waits;
        r.wait_events = NULL;
        r.signal = e;
        if (n->call.kind == AIDEV_CMD_FILE_READ) {
            st = aidev_file_read_op(s->queue, n->req.buffers[0], n->call.u.file_read.buffer_offset,
                                    n->call.u.file_read.fd, n->call.u.file_read.file_offset,
                                    n->call.u.file_read.size, n->call.u.file_read.flags, &r.op);
            r.has_op = st == AIDEV_SUCCESS;
        }
        l->node_slots[s->first + i] = (launch_slot){l, s->first + i};
        /* Before the node can run: its callback comes before the next
         * node's wait on it. */
        if (st == AIDEV_SUCCESS) {
            atomic_fetch_add(&l->refs, 1);
            aidev_backend_event_on_complete(e, node_done, &l->node_slots[s->first + i]);
            st = aidev_scheduler_submit_general(&r);
            if (st != AIDEV_SUCCESS && e != signal)
                aidev_event_complete(e, st, aidev_error_message());
        }
        if (st != AIDEV_SUCCESS && e != signal)
            aidev_backend_event_release(e);
        if (prev)
            aidev_backend_event_release(prev);
        prev = st == AIDEV_SUCCESS && e != signal ? e : NULL;
    }
    if (prev)
        aidev_backend_event_release(prev);
    return st;
}

/* Submits segment |index| of the launch, after |waits|; |signal| is its
 * event. A refused submission completes |signal| with the refusal. */
static aidev_status segment_submit(graph_launch *l, uint32_t index, uint32_t wait_count,
                                   aidev_event_obj *const *waits, aidev_event_obj *signal)
{
    aidev_graph_exec_obj *x = l->exec;
    aidev_exec_segment *s = &x->segments[index];
    aidev_status st = segment_refresh(x, s);
    if (st == AIDEV_SUCCESS && s->native) {
        aidev_request r;
        request_for_segment(&r, s->queue, wait_count, waits, signal);
        r.kind = AIDEV_CMD_GRAPH_SEGMENT;
        r.cmd.type = AIDEV_COMMAND_BARRIER;
        r.backend_graph = s->native;
        st = aidev_scheduler_submit_general(&r);
    } else if (st == AIDEV_SUCCESS) {
        st = segment_submit_nodes(l, s, wait_count, waits, signal);
    }
    if (st != AIDEV_SUCCESS && aidev_backend_event_status(signal) == AIDEV_NOT_READY) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: not submitted: %s", x->nodes[s->first].name,
                 aidev_error_message());
        aidev_event_complete(signal, st, msg);
    }
    return st;
}

/* Resolves the launch's wait list into |out|. */
static aidev_status launch_waits(aidev_graph_exec_obj *x, uint32_t wait_count,
                                 const aidev_event *wait_events, aidev_event_obj **out)
{
    for (uint32_t i = 0; i < wait_count; i++) {
        char what[32];
        snprintf(what, sizeof what, "wait_events[%u]", i);
        aidev_status st = aidev_lookup_event(wait_events[i], what, &out[i]);
        if (st == AIDEV_SUCCESS && out[i]->obj.context != x->obj.context)
            st = aidev_error(AIDEV_ERROR_INVALID_HANDLE,
                             "%s: the event belongs to another context", what);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    return AIDEV_SUCCESS;
}

static graph_launch *launch_new(aidev_graph_exec_obj *x)
{
    graph_launch *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->exec = x;
    pthread_mutex_init(&l->lock, NULL);
    l->segment_slots = malloc(x->segment_count * sizeof *l->segment_slots);
    l->node_slots = malloc(x->node_count * sizeof *l->node_slots);
    if (!l->segment_slots || !l->node_slots ||
        aidev_event_new(x->obj.context, x->segments[0].queue->device, false, &l->event) !=
            AIDEV_SUCCESS) {
        free(l->segment_slots);
        free(l->node_slots);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
    }
    l->event->kind = AIDEV_CMD_GRAPH;
    l->event->queue_id = x->segments[0].queue->id;
    atomic_init(&l->pending, x->segment_count);
    atomic_init(&l->refs, 1);
    return l;
}

/* Submits every segment in order (each waits only on earlier ones). Called
 * with the exec's launch lock. Returns the first refusal. */
static aidev_status launch_segments(graph_launch *l, uint32_t wait_count,
                                    aidev_event_obj *const *waits, aidev_event_obj **signals)
{
    aidev_graph_exec_obj *x = l->exec;
    aidev_status first = AIDEV_SUCCESS;
    aidev_event_obj *small[16];
    for (uint32_t i = 0; i < x->segment_count; i++) {
        aidev_exec_segment *s = &x->segments[i];
        aidev_status st = aidev_event_new(x->obj.context, s->queue->device, false, &signals[i]);
        if (st != AIDEV_SUCCESS) {
            /* Nothing to hang the segment on: it counts as failed. */
            signals[i] = NULL;
            launch_fail(l, st, true, "%s: out of host memory for its event",
                        x->nodes[s->first].name);
            if (atomic_fetch_sub(&l->pending, 1) == 1)
                launch_finish(l);
            first = first ? first : st;
            continue;
        }
        signals[i]->kind =
            s->native ? AIDEV_CMD_GRAPH_SEGMENT : x->nodes[s->first + s->count - 1].req.kind;
        signals[i]->queue_id = s->queue->id;
        aidev_event_obj **seg_waits = small;
        uint32_t n = 0;
        if (s->wait_count > 16 && !(seg_waits = malloc(s->wait_count * sizeof *seg_waits)))
            seg_waits = small, st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of memory");
        for (uint32_t w = 0; st == AIDEV_SUCCESS && w < s->wait_count; w++)
            if (signals[s->waits[w]])
                seg_waits[n++] = signals[s->waits[w]];
        if (st == AIDEV_SUCCESS)
            st = s->wait_count ? segment_submit(l, i, n, seg_waits, signals[i])
                               : segment_submit(l, i, wait_count, waits, signals[i]);
        else
            aidev_event_complete(signals[i], st, "out of host memory");
        if (seg_waits != small)
            free(seg_waits);
        l->segment_slots[i] = (launch_slot){l, i};
        aidev_backend_event_on_complete(signals[i], segment_done, &l->segment_slots[i]);
        first = first ? first : st;
    }
    return first;
}

AIDEV_API aidev_status aidev_graph_launch(aidev_graph_exec exec, uint32_t wait_count,
                                          const aidev_event *wait_events, aidev_event *out_event)
{
    aidev_error_clear();
    if (out_event)
        *out_event = NULL;
    aidev_graph_exec_obj *x;
    aidev_status st = aidev_lookup_graph_exec(exec, "exec", &x);
    if (st != AIDEV_SUCCESS)
        return st;
    if (wait_count && !wait_events)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "wait_events: NULL with wait_count %u",
                           wait_count);
    if (wait_count > 1024)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "wait_count: %u, at most 1024 events per launch", wait_count);
    aidev_event_obj *small[16];
    aidev_event_obj **waits = small;
    aidev_event_obj **signals = malloc(x->segment_count * sizeof *signals);
    if (wait_count > 16)
        waits = malloc(wait_count * sizeof *waits);
    graph_launch *l = signals && waits ? launch_new(x) : NULL;
    if (!l) {
        st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto out;
    }
    st = launch_waits(x, wait_count, wait_events, waits);
    if (st == AIDEV_SUCCESS && out_event) {
        /* The handle's reference; the launch keeps its own. */
        aidev_backend_event_retain(l->event);
        st = aidev_event_publish(l->event, out_event);
        if (st != AIDEV_SUCCESS)
            aidev_backend_event_release(l->event);
    }
    if (st != AIDEV_SUCCESS) {
        aidev_backend_event_release(l->event);
        pthread_mutex_destroy(&l->lock);
        free(l->segment_slots);
        free(l->node_slots);
        free(l);
        goto out;
    }
    uint32_t segment_count = x->segment_count;
    pthread_mutex_lock(&x->launch_lock);
    pthread_mutex_lock(&x->lock);
    x->inflight++;
    pthread_mutex_unlock(&x->lock);
    /* The completions may finish the launch before the loop ends: one
     * more reference on its event for the time of the loop. */
    aidev_event_obj *event = l->event;
    aidev_backend_event_retain(event);
    event->times.start = aidev_now_ns();
    st = launch_segments(l, wait_count, waits, signals);
    pthread_mutex_unlock(&x->launch_lock);
    for (uint32_t i = 0; i < segment_count; i++)
        if (signals[i])
            aidev_backend_event_release(signals[i]);
    aidev_backend_event_release(event);
out:
    free(signals);
    if (waits != small)
        free(waits);
    return st;
}

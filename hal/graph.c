/*
 * graph.c - the recording of a command graph: nodes added explicitly or
 * captured from queues (hal/graph.h). Each node is checked as its enqueue
 * call would be, when it is added, so a mistake is reported where it was
 * made; hal/graph_exec.c checks it again when the graph is instantiated.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/graph.h"

static void graph_destroy_linked(aidev_object *o);

AIDEV_API aidev_status aidev_graph_create(aidev_context context, aidev_graph *out_graph)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_graph)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_graph: NULL");
    *out_graph = NULL;
    aidev_graph_obj *g = calloc(1, sizeof *g);
    if (!g)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pthread_mutex_init(&g->lock, NULL);
    g->obj.context = ctx;
    g->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_GRAPH, g);
    if (!g->obj.handle) {
        pthread_mutex_destroy(&g->lock);
        free(g);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    }
    aidev_context_link(ctx, &g->obj, AIDEV_HANDLE_GRAPH, graph_destroy_linked);
    *out_graph = (aidev_graph)g->obj.handle;
    return AIDEV_SUCCESS;
}

/* Ends the capture of every queue of the context that captures into |g|.
 * Called with |g->lock|. */
static void graph_stop_captures(aidev_graph_obj *g)
{
    aidev_context_obj *ctx = g->obj.context;
    pthread_mutex_lock(&ctx->lock);
    for (aidev_object *o = ctx->list.next; o != &ctx->list; o = o->next) {
        if (o->type != AIDEV_HANDLE_QUEUE)
            continue;
        aidev_queue_obj *q = (aidev_queue_obj *)o;
        aidev_graph_obj *expected = g;
        atomic_compare_exchange_strong(&q->capture, &expected, NULL);
    }
    pthread_mutex_unlock(&ctx->lock);
}

static void graph_destroy(aidev_graph_obj *g)
{
    aidev_context_unlink(&g->obj);
    aidev_handle_free(g->obj.handle);
    pthread_mutex_lock(&g->lock);
    graph_stop_captures(g);
    pthread_mutex_unlock(&g->lock);
    for (uint32_t i = 0; i < g->node_count; i++) {
        free(g->nodes[i].deps);
        if (g->nodes[i].call.kind == AIDEV_CMD_FILE_READ && g->nodes[i].call.u.file_read.fd >= 0)
            close(g->nodes[i].call.u.file_read.fd);
    }
    free(g->nodes);
    for (uint32_t i = 0; i < g->capture_count; i++) {
        aidev_event_obj *e = g->capture_events[i];
        if (aidev_backend_event_status(e) == AIDEV_NOT_READY)
            aidev_event_complete(e, AIDEV_ERROR_INVALID_STATE,
                                 "a captured node's event: its graph was released");
        aidev_backend_event_release(e);
    }
    free(g->capture_events);
    free(g->capture_nodes);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static void graph_destroy_linked(aidev_object *o)
{
    graph_destroy((aidev_graph_obj *)o);
}

AIDEV_API aidev_status aidev_graph_release(aidev_graph graph)
{
    aidev_error_clear();
    aidev_graph_obj *g;
    aidev_status st = aidev_lookup_graph(graph, "graph", &g);
    if (st != AIDEV_SUCCESS)
        return st;
    graph_destroy(g);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_graph_node_count(aidev_graph graph, uint32_t *out_count)
{
    aidev_error_clear();
    aidev_graph_obj *g;
    aidev_status st = aidev_lookup_graph(graph, "graph", &g);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_count)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_count: NULL");
    pthread_mutex_lock(&g->lock);
    *out_count = g->node_count;
    pthread_mutex_unlock(&g->lock);
    return AIDEV_SUCCESS;
}

void aidev_graph_node_name(uint32_t index, const aidev_graph_call *call, uint32_t queue_id,
                           char *out, size_t out_size)
{
    if (call->kind == AIDEV_CMD_DISPATCH) {
        aidev_kernel_obj *k =
            aidev_handle_get((uintptr_t)call->u.dispatch.kernel, AIDEV_HANDLE_KERNEL);
        snprintf(out, out_size, "graph node %u (dispatch '%s' on queue %u)", index,
                 k ? k->desc->name : "?", queue_id);
    } else {
        snprintf(out, out_size, "graph node %u (%s on queue %u)", index,
                 aidev_command_kind_name(call->kind), queue_id);
    }
}

/* ------------------------------------------------------------------------ */
/* Adding nodes                                                             */
/* ------------------------------------------------------------------------ */

/* Appends |call| on |q| after |deps| (and |extra|, when not UINT32_MAX).
 * Called with |g->lock|. A file read's descriptor is duplicated: the
 * graph keeps its own. */
static aidev_status graph_append(aidev_graph_obj *g, aidev_queue_obj *q,
                                 const aidev_graph_call *call, uint32_t dep_count,
                                 const uint32_t *deps, uint32_t extra, uint32_t *out_index)
{
    if (g->node_count == g->node_cap) {
        uint32_t cap = g->node_cap ? g->node_cap * 2 : 16;
        aidev_graph_node_rec *n = realloc(g->nodes, cap * sizeof *n);
        if (!n)
            return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        g->nodes = n;
        g->node_cap = cap;
    }
    aidev_graph_node_rec *n = &g->nodes[g->node_count];
    n->dep_count = 0;
    n->deps = malloc((dep_count + 1) * sizeof *n->deps);
    if (!n->deps)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < dep_count; i++)
        n->deps[n->dep_count++] = deps[i];
    if (extra != UINT32_MAX)
        n->deps[n->dep_count++] = extra;
    n->call = *call;
    n->queue = (aidev_queue)q->obj.handle;
    if (call->kind == AIDEV_CMD_FILE_READ) {
        /* A bad fd is the read's error at run time, as for an enqueue. */
        int fd = call->u.file_read.fd;
        n->call.u.file_read.fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    }
    *out_index = g->node_count++;
    return AIDEV_SUCCESS;
}

/* The common part of the aidev_graph_add_* calls. */
static aidev_status graph_add(aidev_graph graph, aidev_queue queue, const aidev_graph_call *call,
                              uint32_t dep_count, const aidev_graph_node *deps,
                              aidev_graph_node *out_node)
{
    aidev_error_clear();
    aidev_graph_obj *g;
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_graph(graph, "graph", &g);
    if (st == AIDEV_SUCCESS)
        st = aidev_lookup_queue(queue, "queue", &q);
    if (st == AIDEV_SUCCESS && q->obj.context != g->obj.context)
        st = aidev_error(AIDEV_ERROR_INVALID_HANDLE, "queue: belongs to another context");
    if (st == AIDEV_SUCCESS && aidev_queue_capturing(q))
        st = aidev_error(AIDEV_ERROR_INVALID_STATE,
                         "queue: capturing; its nodes come from its enqueue calls");
    if (st == AIDEV_SUCCESS && dep_count && !deps)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "deps: NULL with dep_count %u", dep_count);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_request r;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    st = aidev_request_build(q, call, &r, args);
    if (st != AIDEV_SUCCESS)
        return st;
    pthread_mutex_lock(&g->lock);
    for (uint32_t i = 0; i < dep_count && st == AIDEV_SUCCESS; i++)
        if (deps[i] >= g->node_count)
            st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                             "deps[%u]: node %u; the graph has %u nodes", i, deps[i],
                             g->node_count);
    uint32_t index = 0;
    if (st == AIDEV_SUCCESS)
        st = graph_append(g, q, call, dep_count, deps, UINT32_MAX, &index);
    pthread_mutex_unlock(&g->lock);
    if (st == AIDEV_SUCCESS && out_node)
        *out_node = index;
    return st;
}

AIDEV_API aidev_status aidev_graph_add_write(aidev_graph graph, aidev_queue queue,
                                             aidev_buffer buffer, uint64_t offset, uint64_t size,
                                             const void *src, uint32_t dep_count,
                                             const aidev_graph_node *deps,
                                             aidev_graph_node *out_node)
{
    aidev_graph_call c = {.kind = AIDEV_CMD_WRITE, .u.write = {buffer, offset, size, src}};
    return graph_add(graph, queue, &c, dep_count, deps, out_node);
}

AIDEV_API aidev_status aidev_graph_add_read(aidev_graph graph, aidev_queue queue,
                                            aidev_buffer buffer, uint64_t offset, uint64_t size,
                                            void *dst, uint32_t dep_count,
                                            const aidev_graph_node *deps,
                                            aidev_graph_node *out_node)
{
    aidev_graph_call c = {.kind = AIDEV_CMD_READ, .u.read = {buffer, offset, size, dst}};
    return graph_add(graph, queue, &c, dep_count, deps, out_node);
}

AIDEV_API aidev_status aidev_graph_add_copy(aidev_graph graph, aidev_queue queue,
                                            aidev_buffer src, uint64_t src_offset,
                                            aidev_buffer dst, uint64_t dst_offset, uint64_t size,
                                            uint32_t dep_count, const aidev_graph_node *deps,
                                            aidev_graph_node *out_node)
{
    aidev_graph_call c = {.kind = AIDEV_CMD_COPY,
                          .u.copy = {src, dst, src_offset, dst_offset, size}};
    return graph_add(graph, queue, &c, dep_count, deps, out_node);
}

AIDEV_API aidev_status aidev_graph_add_fill(aidev_graph graph, aidev_queue queue,
                                            aidev_buffer buffer, uint64_t offset, uint64_t size,
                                            const void *pattern, uint32_t pattern_size,
                                            uint32_t dep_count, const aidev_graph_node *deps,
                                            aidev_graph_node *out_node)
{
    aidev_error_clear();
    if (!pattern)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "pattern: NULL");
    if (pattern_size != 1 && pattern_size != 2 && pattern_size != 4)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "pattern_size: %u; use 1, 2 or 4 bytes",
                           pattern_size);
    aidev_graph_call c = {.kind = AIDEV_CMD_FILL,
                          .u.fill = {.buffer = buffer, .offset = offset, .size = size,
                                     .pattern_size = pattern_size}};
    memcpy(c.u.fill.pattern, pattern, pattern_size);
    return graph_add(graph, queue, &c, dep_count, deps, out_node);
}

AIDEV_API aidev_status aidev_graph_add_barrier(aidev_graph graph, aidev_queue queue,
                                               uint32_t dep_count, const aidev_graph_node *deps,
                                               aidev_graph_node *out_node)
{
    aidev_graph_call c = {.kind = AIDEV_CMD_BARRIER};
    return graph_add(graph, queue, &c, dep_count, deps, out_node);
}

AIDEV_API aidev_status aidev_graph_add_host_callback(aidev_graph graph, aidev_queue queue,
                                                     aidev_host_fn fn, void *user_data,
                                                     uint32_t dep_count,
                                                     const aidev_graph_node *deps,
                                                     aidev_graph_node *out_node)
{
    aidev_graph_call c = {.kind = AIDEV_CMD_HOST_CALLBACK, .u.host_callback = {fn, user_data}};
    return graph_add(graph, queue, &c, dep_count, deps, out_node);
}

AIDEV_API aidev_status aidev_graph_add_file_read(aidev_graph graph, aidev_queue queue,
                                                 aidev_buffer buffer, uint64_t buffer_offset,
                                                 int fd, uint64_t file_offset, uint64_t size,
                                                 uint32_t flags, uint32_t dep_count,
                                                 const aidev_graph_node *deps,
                                                 aidev_graph_node *out_node)
{
    aidev_graph_call c = {.kind = AIDEV_CMD_FILE_READ,
                          .u.file_read = {buffer, buffer_offset, fd, file_offset, size, flags}};
    return graph_add(graph, queue, &c, dep_count, deps, out_node);
}

aidev_graph_call *aidev_graph_call_dispatch_new(aidev_kernel kernel, const uint32_t grid[3],
                                                const uint32_t workgroup[3], uint32_t arg_count,
                                                const aidev_arg *args)
{
    aidev_graph_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->kind = AIDEV_CMD_DISPATCH;
    c->u.dispatch.kernel = kernel;
    c->u.dispatch.has_grid = grid != NULL;
    c->u.dispatch.has_workgroup = workgroup != NULL;
    for (int i = 0; i < 3; i++) {
        c->u.dispatch.grid[i] = grid ? grid[i] : 0;
        c->u.dispatch.workgroup[i] = workgroup ? workgroup[i] : 0;
    }
    c->u.dispatch.arg_count = arg_count;
    if (arg_count)
        memcpy(c->u.dispatch.args, args, arg_count * sizeof args[0]);
    return c;
}

AIDEV_API aidev_status aidev_graph_add_dispatch(aidev_graph graph, aidev_queue queue,
                                                aidev_kernel kernel, const uint32_t grid[3],
                                                const uint32_t workgroup[3], uint32_t arg_count,
                                                const aidev_arg *args, uint32_t dep_count,
                                                const aidev_graph_node *deps,
                                                aidev_graph_node *out_node)
{
    aidev_error_clear();
    if (arg_count && !args)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "args: NULL with arg_count %u",
                           arg_count);
    if (arg_count > AIDEV_MAX_KERNEL_ARGS)
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS, "arg_count: %u, at most %u", arg_count,
                           AIDEV_MAX_KERNEL_ARGS);
    aidev_graph_call *c = aidev_graph_call_dispatch_new(kernel, grid, workgroup, arg_count, args);
    if (!c)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_status st = graph_add(graph, queue, c, dep_count, deps, out_node);
    free(c);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Capture                                                                  */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_queue_begin_capture(aidev_queue queue, aidev_graph graph)
{
    aidev_error_clear();
    aidev_queue_obj *q;
    aidev_graph_obj *g;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st == AIDEV_SUCCESS)
        st = aidev_lookup_graph(graph, "graph", &g);
    if (st == AIDEV_SUCCESS && q->obj.context != g->obj.context)
        st = aidev_error(AIDEV_ERROR_INVALID_HANDLE, "graph: belongs to another context");
    if (st != AIDEV_SUCCESS)
        return st;
    pthread_mutex_lock(&g->lock);
    aidev_graph_obj *expected = NULL;
    q->capture_last = UINT32_MAX;
    if (!atomic_compare_exchange_strong(&q->capture, &expected, g))
        st = aidev_error(AIDEV_ERROR_INVALID_STATE, "queue: capturing already");
    pthread_mutex_unlock(&g->lock);
    return st;
}

/* Completes the capture events of |q|'s nodes in |g|: they stand for
 * nodes, they never run. Called with |g->lock|. */
static void capture_events_end(aidev_graph_obj *g, aidev_queue_obj *q)
{
    for (uint32_t i = 0; i < g->capture_count; i++) {
        aidev_event_obj *e = g->capture_events[i];
        if (g->nodes[g->capture_nodes[i]].queue == (aidev_queue)q->obj.handle &&
            aidev_backend_event_status(e) == AIDEV_NOT_READY)
            aidev_event_complete(e, AIDEV_ERROR_INVALID_STATE,
                                 "a captured node's event: it stands for the node in its graph "
                                 "and does not run");
    }
}

AIDEV_API aidev_status aidev_queue_end_capture(aidev_queue queue)
{
    aidev_error_clear();
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_graph_obj *g = atomic_load(&q->capture);
    /* The graph cannot go away under us: its release clears the capture
     * before freeing, and a queue is not ended by two threads at once. */
    if (!g)
        return aidev_error(AIDEV_ERROR_INVALID_STATE, "queue: not capturing");
    pthread_mutex_lock(&g->lock);
    atomic_store(&q->capture, NULL);
    capture_events_end(g, q);
    pthread_mutex_unlock(&g->lock);
    return AIDEV_SUCCESS;
}

/* The node behind capture event |e| of |g|, or UINT32_MAX. Called with
 * |g->lock|. */
static uint32_t capture_event_node(const aidev_graph_obj *g, const aidev_event_obj *e)
{
    for (uint32_t i = g->capture_count; i-- > 0;)
        if (g->capture_events[i] == e)
            return g->capture_nodes[i];
    return UINT32_MAX;
}

/* Keeps |e| as the capture event of node |index|. Called with |g->lock|. */
static aidev_status capture_event_add(aidev_graph_obj *g, aidev_event_obj *e, uint32_t index)
{
    if (g->capture_count == g->capture_cap) {
        uint32_t cap = g->capture_cap ? g->capture_cap * 2 : 16;
        aidev_event_obj **ev = realloc(g->capture_events, cap * sizeof *ev);
        if (ev)
            g->capture_events = ev;
        uint32_t *nodes = ev ? realloc(g->capture_nodes, cap * sizeof *nodes) : NULL;
        if (!nodes)
            return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        g->capture_nodes = nodes;
        g->capture_cap = cap;
    }
    aidev_backend_event_retain(e);
    g->capture_events[g->capture_count] = e;
    g->capture_nodes[g->capture_count++] = index;
    return AIDEV_SUCCESS;
}

/* The nodes behind |r|'s wait events, into |deps|. Called with |g->lock|. */
static aidev_status capture_deps(aidev_graph_obj *g, const aidev_request *r, uint32_t *deps)
{
    for (uint32_t i = 0; i < r->wait_count; i++) {
        char what[32];
        snprintf(what, sizeof what, "wait_events[%u]", i);
        aidev_event_obj *e;
        aidev_status st = aidev_lookup_event(r->wait_events[i], what, &e);
        if (st != AIDEV_SUCCESS)
            return st;
        deps[i] = capture_event_node(g, e);
        if (deps[i] == UINT32_MAX)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: not an event of this capture; a captured command waits "
                               "only on nodes of its graph (give other events to "
                               "aidev_graph_launch)",
                               what);
    }
    return AIDEV_SUCCESS;
}

aidev_status aidev_graph_capture(aidev_request *r, const aidev_graph_call *call)
{
    aidev_queue_obj *q = r->queue;
    if (r->wait_count && !r->wait_events)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "wait_events: NULL with wait_count %u",
                           r->wait_count);
    if (r->wait_count > 1024)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "wait_count: %u, at most 1024 events per command", r->wait_count);
    uint32_t *deps = malloc((r->wait_count + 1) * sizeof *deps);
    if (!deps)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_event_obj *e = NULL;
    aidev_status st = AIDEV_SUCCESS;
    aidev_graph_obj *g = atomic_load(&q->capture);
    if (!g) {
        /* The capture ended on another thread meanwhile. */
        free(deps);
        return aidev_error(AIDEV_ERROR_INVALID_STATE, "queue: its capture ended during the call");
    }
    pthread_mutex_lock(&g->lock);
    if (atomic_load(&q->capture) != g)
        st = aidev_error(AIDEV_ERROR_INVALID_STATE, "queue: its capture ended during the call");
    if (st == AIDEV_SUCCESS)
        st = capture_deps(g, r, deps);
    if (st == AIDEV_SUCCESS && r->out_event)
        st = aidev_event_new(q->obj.context, q->device, false, &e);
    uint32_t index = 0;
    if (st == AIDEV_SUCCESS)
        st = graph_append(g, q, call, r->wait_count, deps, q->capture_last, &index);
    if (st == AIDEV_SUCCESS && e) {
        e->kind = r->kind;
        e->queue_id = q->id;
        st = capture_event_add(g, e, index);
        if (st == AIDEV_SUCCESS)
            st = aidev_event_publish(e, r->out_event);
        if (st != AIDEV_SUCCESS) {
            /* The node stays out: drop it again. */
            g->node_count--;
            free(g->nodes[index].deps);
            if (call->kind == AIDEV_CMD_FILE_READ && g->nodes[index].call.u.file_read.fd >= 0)
                close(g->nodes[index].call.u.file_read.fd);
            if (g->capture_count && g->capture_events[g->capture_count - 1] == e) {
                g->capture_count--;
                aidev_backend_event_release(e);
            }
        }
    }
    if (st == AIDEV_SUCCESS)
        q->capture_last = index;
    pthread_mutex_unlock(&g->lock);
    if (e && st != AIDEV_SUCCESS)
        aidev_backend_event_release(e); /* published, it is the handle's */
    free(deps);
    return st;
}

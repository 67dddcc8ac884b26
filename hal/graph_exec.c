/*
 * graph_exec.c - instantiated graphs: every node of a recording checked
 * and resolved once into a request (hal/enqueue.c's checks), the nodes cut
 * into segments (hal/graph.h), and each segment prepared on its backend
 * where the backend has graphs (ABI 1.3). Updates of dispatch arguments
 * between launches. Launches are hal/graph_launch.c.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/graph.h"

static void exec_destroy_linked(aidev_object *o);

bool aidev_graph_backend_native(const aidev_device_obj *dev)
{
    const aidev_backend_vtable *vt = &dev->backend->vt;
    return vt->graph_create && vt->graph_submit && vt->graph_destroy;
}

/* Whether the hal runs node |n| itself (an op): never in a backend graph. */
static bool node_is_op(const aidev_exec_node *n)
{
    return n->req.has_op || n->call.kind == AIDEV_CMD_FILE_READ;
}

static void node_release(aidev_exec_node *n)
{
    for (uint32_t i = 0; i < n->req.buffer_count; i++)
        aidev_buffer_unref(n->req.buffers[i]);
    n->req.buffer_count = 0;
    if (n->req.kernel)
        aidev_kernel_unref(n->req.kernel);
    n->req.kernel = NULL;
}

static void node_retain(aidev_exec_node *n)
{
    for (uint32_t i = 0; i < n->req.buffer_count; i++)
        aidev_buffer_retain(n->req.buffers[i]);
    if (n->req.kernel)
        aidev_kernel_retain(n->req.kernel);
}

static void exec_destroy(aidev_graph_exec_obj *x)
{
    for (uint32_t i = 0; i < x->segment_count; i++) {
        aidev_exec_segment *s = &x->segments[i];
        if (s->native)
            AIDEV_DEVICE_VT(s->queue->device)->graph_destroy(s->native);
        free(s->waits);
    }
    free(x->segments);
    for (uint32_t i = 0; i < x->node_count; i++) {
        node_release(&x->nodes[i]);
        if (x->nodes[i].call.kind == AIDEV_CMD_FILE_READ && x->nodes[i].call.u.file_read.fd >= 0)
            close(x->nodes[i].call.u.file_read.fd);
    }
    free(x->nodes);
    for (uint32_t i = 0; i < x->queue_count; i++)
        atomic_fetch_sub(&x->queues[i]->graph_users, 1);
    free(x->queues);
    pthread_cond_destroy(&x->idle);
    pthread_mutex_destroy(&x->lock);
    pthread_mutex_destroy(&x->launch_lock);
    free(x);
}

/* ------------------------------------------------------------------------ */
/* Segments                                                                 */
/* ------------------------------------------------------------------------ */

aidev_status aidev_graph_exec_segment_prepare(aidev_graph_exec_obj *x, aidev_exec_segment *s)
{
    const aidev_backend_vtable *vt = AIDEV_DEVICE_VT(s->queue->device);
    if (s->native) {
        vt->graph_destroy(s->native);
        s->native = NULL;
    }
    if (!aidev_graph_backend_native(s->queue->device) || node_is_op(&x->nodes[s->first]))
        return AIDEV_SUCCESS;
    aidev_backend_command *cmds = malloc(s->count * sizeof *cmds);
    if (!cmds)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < s->count; i++)
        cmds[i] = x->nodes[s->first + i].req.cmd;
    aidev_error_clear();
    aidev_status st = vt->graph_create(s->queue->native, s->count, cmds, &s->native);
    free(cmds);
    if (st != AIDEV_SUCCESS) {
        s->native = NULL;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", aidev_error_message());
        return aidev_error(st, "%s: backend '%s': graph_create failed: %s",
                           x->nodes[s->first].name, s->queue->device->backend->name,
                           msg[0] ? msg : aidev_status_string(st));
    }
    return AIDEV_SUCCESS;
}

/* Per queue while cutting: its open segment, and whether it is closed. */
typedef struct queue_cut {
    aidev_queue_obj *queue;
    uint32_t segment;         /* UINT32_MAX: none yet */
    bool closed;
} queue_cut;

static queue_cut *cut_of(queue_cut *cuts, uint32_t *count, aidev_queue_obj *q)
{
    for (uint32_t i = 0; i < *count; i++)
        if (cuts[i].queue == q)
            return &cuts[i];
    cuts[*count] = (queue_cut){.queue = q, .segment = UINT32_MAX};
    return &cuts[(*count)++];
}

static void add_wait(aidev_exec_segment *s, uint32_t segment)
{
    for (uint32_t i = 0; i < s->wait_count; i++)
        if (s->waits[i] == segment)
            return;
    s->waits[s->wait_count++] = segment;
}

/* Cuts the nodes into segments (hal/graph.h). |recs| gives the edges. */
static aidev_status exec_cut(aidev_graph_exec_obj *x, const aidev_graph_node_rec *recs)
{
    uint32_t n = x->node_count;
    bool *waited_across = calloc(n, sizeof *waited_across);
    queue_cut *cuts = calloc(n, sizeof *cuts);
    x->segments = calloc(n, sizeof *x->segments);
    x->queues = calloc(n, sizeof *x->queues);
    if (!waited_across || !cuts || !x->segments || !x->queues) {
        free(waited_across);
        free(cuts);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t d = 0; d < recs[i].dep_count; d++)
            if (x->nodes[recs[i].deps[d]].req.queue != x->nodes[i].req.queue)
                waited_across[recs[i].deps[d]] = true;
    uint32_t cut_count = 0;
    aidev_status st = AIDEV_SUCCESS;
    for (uint32_t i = 0; i < n && st == AIDEV_SUCCESS; i++) {
        aidev_exec_node *node = &x->nodes[i];
        queue_cut *c = cut_of(cuts, &cut_count, node->req.queue);
        bool across = false;
        for (uint32_t d = 0; d < recs[i].dep_count; d++)
            across |= x->nodes[recs[i].deps[d]].req.queue != node->req.queue;
        if (c->segment == UINT32_MAX || c->closed || across || node_is_op(node)) {
            aidev_exec_segment *s = &x->segments[x->segment_count];
            s->queue = node->req.queue;
            s->first = i;
            s->waits = malloc((recs[i].dep_count + 1) * sizeof *s->waits);
            if (!s->waits) {
                st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            /* The queue's previous segment: a failure there stops this
             * one too (a queue stops at a failed node). */
            if (c->segment != UINT32_MAX)
                add_wait(s, c->segment);
            for (uint32_t d = 0; d < recs[i].dep_count; d++)
                if (x->nodes[recs[i].deps[d]].req.queue != node->req.queue)
                    add_wait(s, x->nodes[recs[i].deps[d]].segment);
            c->segment = x->segment_count++;
            c->closed = false;
        }
        aidev_exec_segment *s = &x->segments[c->segment];
        node->segment = c->segment;
        node->index_in_segment = s->count++;
        if (waited_across[i] || node_is_op(node))
            c->closed = true;
    }
    for (uint32_t i = 0; i < cut_count; i++) {
        x->queues[x->queue_count++] = cuts[i].queue;
        atomic_fetch_add(&cuts[i].queue->graph_users, 1);
    }
    free(waited_across);
    free(cuts);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Instantiation                                                            */
/* ------------------------------------------------------------------------ */

/* Checks and resolves recorded node |index| into |node|. */
static aidev_status exec_node_build(aidev_exec_node *node, uint32_t index,
                                    const aidev_graph_node_rec *rec, aidev_context_obj *ctx)
{
    aidev_queue_obj *q;
    char name[112];
    aidev_status st = aidev_lookup_queue(rec->queue, "queue", &q);
    if (st == AIDEV_SUCCESS && q->obj.context != ctx)
        st = aidev_error(AIDEV_ERROR_INVALID_HANDLE, "queue: belongs to another context");
    aidev_graph_node_name(index, &rec->call, st == AIDEV_SUCCESS ? q->id : 0, name, sizeof name);
    if (st == AIDEV_SUCCESS)
        st = aidev_request_build(q, &rec->call, &node->req, node->args);
    if (st != AIDEV_SUCCESS) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", aidev_error_message());
        return aidev_error(st, "%s: %s", name, msg);
    }
    snprintf(node->name, sizeof node->name, "%s", name);
    node->call = rec->call;
    if (rec->call.kind == AIDEV_CMD_FILE_READ) {
        int fd = rec->call.u.file_read.fd;
        node->call.u.file_read.fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    }
    node_retain(node);
    return AIDEV_SUCCESS;
}

static aidev_status exec_build(aidev_graph_exec_obj *x, aidev_graph_obj *g)
{
    x->nodes = calloc(g->node_count, sizeof *x->nodes);
    if (!x->nodes)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_status st = AIDEV_SUCCESS;
    for (uint32_t i = 0; i < g->node_count && st == AIDEV_SUCCESS; i++) {
        x->nodes[i].call.kind = AIDEV_CMD_BARRIER; /* nothing to close yet */
        st = exec_node_build(&x->nodes[i], i, &g->nodes[i], g->obj.context);
        if (st == AIDEV_SUCCESS)
            x->node_count = i + 1;
    }
    if (st == AIDEV_SUCCESS)
        st = exec_cut(x, g->nodes);
    for (uint32_t i = 0; i < x->segment_count && st == AIDEV_SUCCESS; i++)
        st = aidev_graph_exec_segment_prepare(x, &x->segments[i]);
    return st;
}

AIDEV_API aidev_status aidev_graph_instantiate(aidev_graph graph, aidev_graph_exec *out_exec)
{
    aidev_error_clear();
    aidev_graph_obj *g;
    aidev_status st = aidev_lookup_graph(graph, "graph", &g);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_exec)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_exec: NULL");
    *out_exec = NULL;
    aidev_graph_exec_obj *x = calloc(1, sizeof *x);
    if (!x)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pthread_mutex_init(&x->launch_lock, NULL);
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->idle, NULL);
    x->obj.context = g->obj.context;
    pthread_mutex_lock(&g->lock);
    if (g->node_count == 0)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "graph: no nodes");
    else
        st = exec_build(x, g);
    pthread_mutex_unlock(&g->lock);
    if (st == AIDEV_SUCCESS) {
        x->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_GRAPH_EXEC, x);
        if (!x->obj.handle)
            st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    }
    if (st != AIDEV_SUCCESS) {
        exec_destroy(x);
        return st;
    }
    aidev_context_link(g->obj.context, &x->obj, AIDEV_HANDLE_GRAPH_EXEC, exec_destroy_linked);
    *out_exec = (aidev_graph_exec)x->obj.handle;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Release                                                                  */
/* ------------------------------------------------------------------------ */

/* Waits for the launches in flight, then ends |x|. */
static void exec_end(aidev_graph_exec_obj *x)
{
    aidev_context_unlink(&x->obj);
    aidev_handle_free(x->obj.handle);
    x->obj.handle = 0;
    pthread_mutex_lock(&x->lock);
    while (x->inflight)
        pthread_cond_wait(&x->idle, &x->lock);
    pthread_mutex_unlock(&x->lock);
    exec_destroy(x);
}

static void exec_destroy_linked(aidev_object *o)
{
    exec_end((aidev_graph_exec_obj *)o);
}

AIDEV_API aidev_status aidev_graph_exec_release(aidev_graph_exec exec)
{
    aidev_error_clear();
    aidev_graph_exec_obj *x;
    aidev_status st = aidev_lookup_graph_exec(exec, "exec", &x);
    if (st != AIDEV_SUCCESS)
        return st;
    exec_end(x);
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Updates                                                                  */
/* ------------------------------------------------------------------------ */

/* Puts the checked request |r| (arguments in |args|) into dispatch node
 * |n| and its segment's backend graph. Called with |x->launch_lock|,
 * nothing in flight. */
static aidev_status node_replace(aidev_graph_exec_obj *x, aidev_exec_node *n,
                                 const aidev_request *r, const aidev_backend_arg *args,
                                 const aidev_graph_call *call)
{
    aidev_exec_node fresh = *n;
    fresh.req = *r;
    fresh.call = *call;
    memcpy(fresh.args, args, sizeof fresh.args);
    node_retain(&fresh);
    node_release(n);
    *n = fresh;
    if (n->req.cmd.type == AIDEV_COMMAND_DISPATCH) {
        n->req.cmd.u.dispatch.args = n->args;
        n->req.args = n->args;
    }
    aidev_exec_segment *s = &x->segments[n->segment];
    if (!s->native)
        return AIDEV_SUCCESS;
    const aidev_backend_vtable *vt = AIDEV_DEVICE_VT(s->queue->device);
    aidev_error_clear();
    if (vt->graph_update && n->req.cmd.type == AIDEV_COMMAND_DISPATCH &&
        vt->graph_update(s->native, n->index_in_segment, &n->req.cmd) == AIDEV_SUCCESS)
        return AIDEV_SUCCESS;
    /* The backend could not take it in place: its graph is made again. */
    return aidev_graph_exec_segment_prepare(x, s);
}

AIDEV_API aidev_status aidev_graph_exec_update_dispatch(aidev_graph_exec exec,
                                                        aidev_graph_node node,
                                                        uint32_t arg_count,
                                                        const aidev_arg *args)
{
    aidev_error_clear();
    aidev_graph_exec_obj *x;
    aidev_status st = aidev_lookup_graph_exec(exec, "exec", &x);
    if (st != AIDEV_SUCCESS)
        return st;
    if (node >= x->node_count)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "node: %u; the graph has %u nodes", node,
                           x->node_count);
    aidev_exec_node *n = &x->nodes[node];
    if (n->call.kind != AIDEV_CMD_DISPATCH)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "node: %s is not a dispatch", n->name);
    if (arg_count && !args)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "args: NULL with arg_count %u",
                           arg_count);
    if (arg_count > AIDEV_MAX_KERNEL_ARGS)
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS, "arg_count: %u, at most %u", arg_count,
                           AIDEV_MAX_KERNEL_ARGS);
    aidev_graph_call *call = malloc(sizeof *call);
    aidev_backend_arg *resolved = malloc(AIDEV_MAX_KERNEL_ARGS * sizeof *resolved);
    if (!call || !resolved) {
        free(call);
        free(resolved);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    pthread_mutex_lock(&x->launch_lock);
    pthread_mutex_lock(&x->lock);
    while (x->inflight)
        pthread_cond_wait(&x->idle, &x->lock);
    pthread_mutex_unlock(&x->lock);
    *call = n->call;
    call->u.dispatch.arg_count = arg_count;
    if (arg_count)
        memcpy(call->u.dispatch.args, args, arg_count * sizeof args[0]);
    aidev_request r;
    st = aidev_request_build(n->req.queue, call, &r, resolved);
    if (st == AIDEV_SUCCESS)
        st = node_replace(x, n, &r, resolved, call);
    pthread_mutex_unlock(&x->launch_lock);
    free(call);
    free(resolved);
    return st;
}

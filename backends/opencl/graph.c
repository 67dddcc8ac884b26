/*
 * graph.c - command graphs on the OpenCL backend (ABI 1.3): a segment of
 * a graph (commands of one queue) prepared once and submitted as one.
 *
 * Two forms, chosen per device at init (backend.c, AIDEV_OPENCL_GRAPH):
 *   command buffers  runs of copies, fills and dispatches are recorded
 *                    once into cl_khr_command_buffer buffers, finalized,
 *                    and each submission enqueues the buffers; commands a
 *                    buffer cannot hold (host reads and writes, reductions,
 *                    buffers at an offset) are enqueued between them.
 *   enqueue          every command is enqueued, as queue_submit would,
 *                    but with no wait list, event or completion of its
 *                    own: only the last one signals.
 * An update re-records only the buffer that holds the command (never per
 * submission): none of the drivers here offers
 * cl_khr_command_buffer_mutable_dispatch, so it is not used.
 *
 * On a CPU device the driver's threads run commands on the cores the
 * submitting thread needs: a long segment is enqueued behind a user event
 * (the gate) opened once all of it is enqueued, so the driver does not
 * start and stop its workers for every command while we enqueue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"

/* Segments this long are gated on a CPU device (see the top). */
#define GATE_FROM_COMMANDS 16

typedef struct ocl_graph_node {
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    uint32_t step;            /* the step that holds it */
    cl_kernel recorded;       /* a dispatch's own kernel in its step's buffer */
} ocl_graph_node;

/* Nodes [first, first + count): a command buffer, or one node enqueued. */
typedef struct ocl_graph_step {
    uint32_t first, count;
    cl_command_buffer_khr buffer; /* NULL: node |first|, enqueued */
} ocl_graph_step;

typedef struct ocl_graph {
    ocl_queue *q;
    /* The queue the buffers were recorded for; a submission that finds its
     * queue elsewhere (it cannot switch again once timed) enqueues every
     * node instead. */
    cl_command_queue recorded_on;
    uint32_t count;
    ocl_graph_node *nodes;
    uint32_t step_count;
    ocl_graph_step *steps;
    bool gate;
} ocl_graph;

/* Copies |cmd| into |n| (a dispatch's arguments into the node). */
static void node_set(ocl_graph_node *n, const aidev_backend_command *cmd)
{
    n->cmd = *cmd;
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        memcpy(n->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof n->args[0]);
        n->cmd.u.dispatch.args = n->args;
    }
}

/* ------------------------------------------------------------------------ */
/* Recording                                                                */
/* ------------------------------------------------------------------------ */

/* Records |cmd| into |cb|; AIDEV_ERROR_UNSUPPORTED (no message) for a
 * command a buffer does not hold. */
static aidev_status record_command(const ocl_command_buffer_api *api, cl_command_buffer_khr cb,
                                   const aidev_backend_command *cmd, cl_kernel *out_kernel)
{
    *out_kernel = NULL;
    cl_int err;
    const char *call;
    switch (cmd->type) {
    case AIDEV_COMMAND_COPY: {
        const ocl_buffer *s = cmd->u.copy.src, *d = cmd->u.copy.dst;
        call = "clCommandCopyBufferKHR";
        err = api->clCommandCopyBufferKHR(cb, NULL, s->mem, d->mem,
                                          (size_t)cmd->u.copy.src_offset,
                                          (size_t)cmd->u.copy.dst_offset,
                                          (size_t)cmd->u.copy.size, 0, NULL, NULL, NULL);
        break;
    }
    case AIDEV_COMMAND_FILL: {
        const ocl_buffer *b = cmd->u.fill.buffer;
        call = "clCommandFillBufferKHR";
        err = api->clCommandFillBufferKHR(cb, NULL, b->mem, &cmd->u.fill.pattern,
                                          cmd->u.fill.pattern_size, (size_t)cmd->u.fill.offset,
                                          (size_t)cmd->u.fill.size, 0, NULL, NULL, NULL);
        break;
    }
    case AIDEV_COMMAND_DISPATCH:
        return ocl_kernel_record(api, cb, cmd->u.dispatch.kernel, cmd, out_kernel);
    default:
        return AIDEV_ERROR_UNSUPPORTED;
    }
    return err == CL_SUCCESS ? AIDEV_SUCCESS : ocl_fail(call, err, NULL);
}

/* Whether |cmd| can be recorded (record_command would not refuse it). */
static bool recordable(const aidev_backend_command *cmd)
{
    switch (cmd->type) {
    case AIDEV_COMMAND_COPY:
    case AIDEV_COMMAND_FILL:
        return true;
    case AIDEV_COMMAND_DISPATCH:
        for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++)
            if (cmd->u.dispatch.args[i].kind == AIDEV_ARG_BUFFER &&
                cmd->u.dispatch.args[i].u.buffer.offset != 0)
                return false;
        return true; /* a reduction is refused when recorded: enqueued */
    default:
        return false;
    }
}

/* Records step |s|'s nodes into a new finalized buffer (replacing any). A
 * node refused (a reduction) makes the step's nodes be enqueued instead,
 * with AIDEV_ERROR_UNSUPPORTED and no message. */
static aidev_status record_step(ocl_graph *g, ocl_graph_step *s)
{
    const ocl_command_buffer_api *api = &g->q->dev->desc->cmdbuf;
    cl_command_buffer_properties_khr props[] = {CL_COMMAND_BUFFER_FLAGS_KHR,
                                                CL_COMMAND_BUFFER_SIMULTANEOUS_USE_KHR, 0};
    cl_kernel *kernels = calloc(s->count, sizeof *kernels);
    if (!kernels)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    cl_int err;
    cl_command_buffer_khr cb = api->clCreateCommandBufferKHR(1, &g->recorded_on, props, &err);
    aidev_status st = cb ? AIDEV_SUCCESS : ocl_fail("clCreateCommandBufferKHR", err, NULL);
    /* The zero fills its buffers are due go first (a recorded command
     * does not look). */
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < s->count; i++)
        st = ocl_zero_buffers_of(g->recorded_on, &g->nodes[s->first + i].cmd);
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < s->count; i++)
        st = record_command(api, cb, &g->nodes[s->first + i].cmd, &kernels[i]);
    if (st == AIDEV_SUCCESS && (err = api->clFinalizeCommandBufferKHR(cb)) != CL_SUCCESS)
        st = ocl_fail("clFinalizeCommandBufferKHR", err, NULL);
    /* The buffer that goes (the new one on failure) before its kernels. */
    if (st == AIDEV_SUCCESS && s->buffer)
        api->clReleaseCommandBufferKHR(s->buffer);
    else if (st != AIDEV_SUCCESS && cb)
        api->clReleaseCommandBufferKHR(cb);
    for (uint32_t i = 0; i < s->count; i++) {
        cl_kernel *keep = &g->nodes[s->first + i].recorded;
        cl_kernel gone = st == AIDEV_SUCCESS ? *keep : kernels[i];
        if (gone)
            ocl.clReleaseKernel(gone);
        if (st == AIDEV_SUCCESS)
            *keep = kernels[i];
    }
    free(kernels);
    if (st == AIDEV_SUCCESS)
        s->buffer = cb;
    return st;
}

/* Cuts the nodes into steps: runs of recordable nodes (recorded when the
 * device has command buffers), every other node a step of its own. */
static aidev_status cut_steps(ocl_graph *g)
{
    g->steps = calloc(g->count ? g->count : 1, sizeof *g->steps);
    if (!g->steps)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    bool buffers = g->recorded_on != NULL;
    for (uint32_t i = 0; i < g->count;) {
        ocl_graph_step *s = &g->steps[g->step_count++];
        s->first = i;
        s->count = 1;
        if (buffers && recordable(&g->nodes[i].cmd))
            while (i + s->count < g->count && recordable(&g->nodes[i + s->count].cmd))
                s->count++;
        for (uint32_t j = 0; j < s->count; j++)
            g->nodes[i + j].step = (uint32_t)(s - g->steps);
        i += s->count;
        if (!buffers || !recordable(&g->nodes[s->first].cmd))
            continue;
        aidev_status st = record_step(g, s);
        if (st == AIDEV_ERROR_UNSUPPORTED) {
            /* A reduction inside: this run is enqueued node by node. */
            uint32_t first = s->first, count = s->count;
            g->step_count--;
            for (uint32_t j = 0; j < count; j++) {
                ocl_graph_step *one = &g->steps[g->step_count++];
                *one = (ocl_graph_step){.first = first + j, .count = 1};
                g->nodes[first + j].step = (uint32_t)(one - g->steps);
            }
        } else if (st != AIDEV_SUCCESS) {
            return st;
        }
    }
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* The ABI 1.3 entry                                                        */
/* ------------------------------------------------------------------------ */

void ocl_graph_destroy(void *graph)
{
    ocl_graph *g = graph;
    for (uint32_t i = 0; i < g->step_count; i++)
        if (g->steps[i].buffer)
            g->q->dev->desc->cmdbuf.clReleaseCommandBufferKHR(g->steps[i].buffer);
    for (uint32_t i = 0; g->steps && i < g->count; i++)
        if (g->nodes[i].recorded)
            ocl.clReleaseKernel(g->nodes[i].recorded);
    free(g->steps);
    free(g->nodes);
    free(g);
}

aidev_status ocl_graph_create(void *queue, uint32_t count, const aidev_backend_command *cmds,
                              void **out_graph)
{
    ocl_queue *q = queue;
    ocl_graph *g = calloc(1, sizeof *g);
    ocl_graph_node *nodes = g ? malloc((count ? count : 1) * sizeof *nodes) : NULL;
    if (!nodes) {
        free(g);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    g->q = q;
    g->count = count;
    g->nodes = nodes;
    g->gate = q->dev->desc->info.type == AIDEV_DEVICE_TYPE_CPU && count >= GATE_FROM_COMMANDS;
    for (uint32_t i = 0; i < count; i++) {
        node_set(&nodes[i], &cmds[i]);
        nodes[i].recorded = NULL;
    }
    /* Every submission signals, which moves the queue to its timed queue
     * for good: record for that one. */
    if (q->dev->desc->command_buffer) {
        ocl_queue_prepare_signal(q);
        g->recorded_on = ocl_queue_target_wait(q);
    }
    aidev_status st = cut_steps(g);
    if (st != AIDEV_SUCCESS) {
        ocl_graph_destroy(g);
        return st;
    }
    *out_graph = g;
    return AIDEV_SUCCESS;
}

aidev_status ocl_graph_update(void *graph, uint32_t index, const aidev_backend_command *cmd)
{
    ocl_graph *g = graph;
    if (index >= g->count)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       "opencl graph: command %u of %u", index, g->count);
    ocl_graph_step *s = &g->steps[g->nodes[index].step];
    /* A command that moves in or out of a buffer changes the steps: the
     * caller makes the graph again. */
    if (s->buffer && !recordable(cmd))
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "opencl graph: command %u no longer fits its command "
                                       "buffer", index);
    ocl_graph_node old = g->nodes[index];
    node_set(&g->nodes[index], cmd);
    g->nodes[index].step = old.step;
    g->nodes[index].recorded = old.recorded;
    if (!s->buffer)
        return AIDEV_SUCCESS;
    aidev_status st = record_step(g, s);
    if (st != AIDEV_SUCCESS) {
        g->nodes[index] = old; /* the step's buffer still holds the old one */
        if (g->nodes[index].cmd.type == AIDEV_COMMAND_DISPATCH)
            g->nodes[index].cmd.u.dispatch.args = g->nodes[index].args;
        if (st == AIDEV_ERROR_UNSUPPORTED)
            st = aidev_backend_set_error(st, "opencl graph: command %u cannot be recorded",
                                         index);
    }
    return st;
}

/* Step |s|, the last one when |ev| is not NULL; |*failed| gets the index
 * of the node that failed. Nothing waits: the launch's marker went first. */
static aidev_status submit_step(ocl_graph *g, cl_command_queue cq, const ocl_graph_step *s,
                                bool as_buffers, cl_event *ev, uint32_t *failed)
{
    static const ocl_wait_list none = {.events = NULL, .count = 0};
    if (s->buffer && as_buffers) {
        *failed = s->first;
        cl_int err = g->q->dev->desc->cmdbuf.clEnqueueCommandBufferKHR(0, NULL, s->buffer, 0,
                                                                        NULL, ev);
        return err == CL_SUCCESS ? AIDEV_SUCCESS
                                 : ocl_fail("clEnqueueCommandBufferKHR", err, NULL);
    }
    for (uint32_t i = 0; i < s->count; i++) {
        const char *call;
        *failed = s->first + i;
        bool last = i + 1 == s->count;
        aidev_status st = ocl_queue_enqueue(g->q, cq, &g->nodes[s->first + i].cmd, &none,
                                            last ? ev : NULL, &call);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    return AIDEV_SUCCESS;
}

/* The commands before node |index| were enqueued, it failed with |st|:
 * they run (the gate opens), and |signal| completes once they have, with
 * the failure of node |index|. */
static void submit_failed(ocl_queue *q, cl_command_queue cq, cl_event gate, uint32_t index,
                          aidev_status st, aidev_backend_event *signal)
{
    char message[512];
    snprintf(message, sizeof message, "%s", aidev_last_error());
    cl_event end = NULL;
    cl_int err = ocl.clEnqueueMarkerWithWaitList(cq, 0, NULL, &end);
    if (gate)
        ocl.clSetUserEventStatus(gate, CL_COMPLETE);
    ocl_queue_after_enqueue(q, cq);
    if (err == CL_SUCCESS) {
        ocl.clFlush(cq);
        ocl.clWaitForEvents(1, &end);
        ocl.clReleaseEvent(end);
    } else {
        ocl.clFinish(cq);
    }
    aidev_backend_graph_failed(signal, index, st, "%s", message);
}

aidev_status ocl_graph_submit(void *queue, void *graph, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    ocl_queue *q = queue;
    ocl_graph *g = graph;
    ocl_completion *done = ocl_completion_new();
    if (!done)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ocl_wait_list w;
    aidev_status st = ocl_waits_collect(q->dev, wait_count, waits, &w);
    if (st != AIDEV_SUCCESS) {
        free(done);
        return st;
    }
    ocl_queue_prepare_signal(q);
    uint64_t unsignaled_before = atomic_load_explicit(&q->unsignaled, memory_order_acquire);
    cl_command_queue cq = ocl_queue_target_wait(q);
    cl_event gate = NULL, ev = NULL;
    cl_int err = CL_SUCCESS;
    if (g->gate)
        gate = ocl.clCreateUserEvent(q->dev->context, &err);
    /* One marker takes the launch's waits (and the gate): the queue is in
     * order, so every command after it waits for them. */
    if (err == CL_SUCCESS && (w.count || gate)) {
        cl_event list[w.count + 1];
        if (w.count)
            memcpy(list, w.events, w.count * sizeof list[0]);
        if (gate)
            list[w.count] = gate;
        err = ocl.clEnqueueMarkerWithWaitList(cq, w.count + (gate ? 1 : 0), list, NULL);
    }
    ocl_waits_release(&w);
    if (err != CL_SUCCESS) {
        if (gate)
            ocl.clReleaseEvent(gate);
        free(done);
        return ocl_fail(gate ? "clEnqueueMarkerWithWaitList" : "clCreateUserEvent", err,
                        "starting a graph submission");
    }
    bool as_buffers = g->recorded_on == cq;
    uint32_t failed = 0;
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < g->step_count; i++)
        st = submit_step(g, cq, &g->steps[i], as_buffers, i + 1 == g->step_count ? &ev : NULL,
                         &failed);
    if (st == AIDEV_SUCCESS && !ev) /* no steps: the marker of an empty graph */
        err = ocl.clEnqueueMarkerWithWaitList(cq, 0, NULL, &ev);
    if (st == AIDEV_SUCCESS && err != CL_SUCCESS)
        st = ocl_fail("clEnqueueMarkerWithWaitList", err, "ending a graph submission");
    if (st != AIDEV_SUCCESS) {
        free(done);
        submit_failed(q, cq, gate, failed, st, signal);
    } else {
        if (gate)
            ocl.clSetUserEventStatus(gate, CL_COMPLETE);
        ocl_queue_after_enqueue(q, cq);
        ocl_event_attach(q, done, signal, ev,
                         as_buffers ? "clEnqueueCommandBufferKHR" : "a graph's enqueues",
                         unsignaled_before);
    }
    if (gate)
        ocl.clReleaseEvent(gate);
    return AIDEV_SUCCESS;
}

/*
 * graph.c - command graphs on the Vulkan backend (ABI 1.3): a segment of a
 * graph (commands of one queue) copied once and submitted as one stream.
 *
 * The commands go into the queue's batches as a stream of enqueues with no
 * events does (queue.c): only the first waits, only the last signals, so
 * they share command buffers and submissions, where libaidev's fallback
 * gives every node an event, which ends a batch at every node.
 *
 * Not done yet (issue 15): recording the segment once into command buffers
 * of its own, with barriers from the graph's edges, resubmitted per launch
 * and updated by rewriting descriptor sets. Each launch records its
 * commands again here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

typedef struct vkb_graph_node {
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
} vkb_graph_node;

typedef struct vkb_graph {
    uint32_t count;
    vkb_graph_node *nodes;
} vkb_graph;

/* Copies |cmd| into |n| (a dispatch's arguments into the node). */
static void node_set(vkb_graph_node *n, const aidev_backend_command *cmd)
{
    n->cmd = *cmd;
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        memcpy(n->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof n->args[0]);
        n->cmd.u.dispatch.args = n->args;
    }
}

aidev_status vkb_graph_create(void *queue, uint32_t count, const aidev_backend_command *cmds,
                              void **out_graph)
{
    (void)queue;
    vkb_graph *g = calloc(1, sizeof *g);
    vkb_graph_node *nodes = g ? malloc((count ? count : 1) * sizeof *nodes) : NULL;
    if (!nodes) {
        free(g);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    g->count = count;
    g->nodes = nodes;
    for (uint32_t i = 0; i < count; i++)
        node_set(&nodes[i], &cmds[i]);
    *out_graph = g;
    return AIDEV_SUCCESS;
}

aidev_status vkb_graph_update(void *graph, uint32_t index, const aidev_backend_command *cmd)
{
    vkb_graph *g = graph;
    if (index >= g->count)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       "vulkan graph: command %u of %u", index, g->count);
    node_set(&g->nodes[index], cmd);
    return AIDEV_SUCCESS;
}

void vkb_graph_destroy(void *graph)
{
    vkb_graph *g = graph;
    free(g->nodes);
    free(g);
}

aidev_status vkb_graph_submit(void *queue, void *graph, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    vkb_graph *g = graph;
    if (g->count == 0) {
        static const aidev_backend_command barrier = {.type = AIDEV_COMMAND_BARRIER};
        return vkb_queue_submit(queue, &barrier, wait_count, waits, signal);
    }
    /* Once the last command is submitted the launch may complete and the
     * graph go: nothing of |g| is read after it. */
    const uint32_t count = g->count;
    for (uint32_t i = 0; i < count; i++) {
        bool first = i == 0, last = i + 1 == count;
        aidev_status st = vkb_queue_submit(queue, &g->nodes[i].cmd, first ? wait_count : 0,
                                           first ? waits : NULL, last ? signal : NULL);
        if (st == AIDEV_SUCCESS)
            continue;
        if (first)
            return st; /* nothing was submitted */
        /* The commands before it run; the launch's event reports it once
         * they have. */
        char message[512];
        snprintf(message, sizeof message, "%s", aidev_last_error());
        vkb_queue_finish(queue);
        aidev_backend_graph_failed(signal, i, st, "%s", message);
        return AIDEV_SUCCESS;
    }
    return AIDEV_SUCCESS;
}

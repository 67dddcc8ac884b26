/*
 * cpu_graph.c - command graphs on the CPU backend (ABI 1.3): the commands
 * of a graph segment copied once, with their buffers and kernels held, and
 * submitted as one command of the queue: the executor runs them in order
 * (cpu_queue_run), so a launch costs the host one submission however many
 * nodes it has, and no node is looked up, checked or copied again.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_internal.h"

typedef struct cpu_graph_node {
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
} cpu_graph_node;

struct cpu_graph {
    atomic_uint refs;         /* the hal's, and one per submission in flight */
    uint32_t count;
    cpu_graph_node *nodes;
};

static void node_hold(cpu_graph_node *n)
{
    void *buffers[AIDEV_BACKEND_COMMAND_MAX_BUFFERS];
    uint32_t count = aidev_backend_command_buffers(&n->cmd, buffers);
    for (uint32_t i = 0; i < count; i++)
        cpu_buffer_retain(buffers[i]);
    if (n->cmd.type == AIDEV_COMMAND_DISPATCH)
        atomic_fetch_add(&((cpu_kernel *)n->cmd.u.dispatch.kernel)->refs, 1);
}

static void node_let_go(cpu_graph_node *n)
{
    void *buffers[AIDEV_BACKEND_COMMAND_MAX_BUFFERS];
    uint32_t count = aidev_backend_command_buffers(&n->cmd, buffers);
    for (uint32_t i = 0; i < count; i++)
        cpu_buffer_release(buffers[i]);
    if (n->cmd.type == AIDEV_COMMAND_DISPATCH) {
        cpu_kernel *k = n->cmd.u.dispatch.kernel;
        if (atomic_fetch_sub(&k->refs, 1) == 1)
            free(k);
    }
}

/* Copies |cmd| into |n| (a dispatch's arguments into the node). */
static void node_set(cpu_graph_node *n, const aidev_backend_command *cmd)
{
    n->cmd = *cmd;
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        memcpy(n->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof n->args[0]);
        n->cmd.u.dispatch.args = n->args;
    }
}

aidev_status cpu_graph_create(void *queue, uint32_t count, const aidev_backend_command *cmds,
                              void **out_graph)
{
    (void)queue;
    cpu_graph *g = calloc(1, sizeof *g);
    cpu_graph_node *nodes = g ? malloc((count ? count : 1) * sizeof *nodes) : NULL;
    if (!nodes) {
        free(g);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    atomic_init(&g->refs, 1);
    g->count = count;
    g->nodes = nodes;
    for (uint32_t i = 0; i < count; i++) {
        node_set(&nodes[i], &cmds[i]);
        node_hold(&nodes[i]);
    }
    *out_graph = g;
    return AIDEV_SUCCESS;
}

aidev_status cpu_graph_update(void *graph, uint32_t index, const aidev_backend_command *cmd)
{
    cpu_graph *g = graph;
    if (index >= g->count)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       "cpu graph: command %u of %u", index, g->count);
    cpu_graph_node fresh;
    node_set(&fresh, cmd);
    node_hold(&fresh);
    node_let_go(&g->nodes[index]);
    g->nodes[index] = fresh;
    if (fresh.cmd.type == AIDEV_COMMAND_DISPATCH)
        g->nodes[index].cmd.u.dispatch.args = g->nodes[index].args;
    return AIDEV_SUCCESS;
}

void cpu_graph_retain(cpu_graph *g)
{
    atomic_fetch_add(&g->refs, 1);
}

void cpu_graph_release(cpu_graph *g)
{
    if (atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    for (uint32_t i = 0; i < g->count; i++)
        node_let_go(&g->nodes[i]);
    free(g->nodes);
    free(g);
}

void cpu_graph_destroy(void *graph)
{
    cpu_graph_release(graph);
}

void cpu_graph_run(struct cpu_queue *q, const cpu_graph *g)
{
    for (uint32_t i = 0; i < g->count; i++)
        cpu_queue_run(q, &g->nodes[i].cmd);
}

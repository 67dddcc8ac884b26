/*
 * bench_graph.c - the graph.* rows (issue 15), on every device:
 *
 *   graph.launch_1000  host time of one aidev_graph_launch of a graph of
 *                      1,000 dispatches (axpy on 256 floats, a chain on one
 *                      queue), per node, against the host time of the same
 *                      1,000 dispatches enqueued one by one (no events), per
 *                      dispatch. Both are the calls alone: the device's work
 *                      is waited for after the clock stops, before the next
 *                      repetition. Median of the repetitions.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

enum { GRAPH_NODES = 1000, GRAPH_N = 256 };

typedef struct graph_setup {
    aidev_queue q;
    aidev_kernel k;
    aidev_buffer x, y;
    aidev_arg args[4];
} graph_setup;

static bool graph_setup_make(aidev_device dev, graph_setup *s)
{
    *s = (graph_setup){0};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &s->q) != AIDEV_SUCCESS ||
        aidev_kernel_get(dev, "axpy", &s->k) != AIDEV_SUCCESS)
        return false;
    aidev_buffer_desc desc = {.size = GRAPH_N * 4, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    if (aidev_buffer_create(dev, &desc, &s->x) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &desc, &s->y) != AIDEV_SUCCESS)
        return false;
    s->args[0] = aidev_arg_u32(GRAPH_N);
    s->args[1] = aidev_arg_f32(0.5f);
    s->args[2] = aidev_arg_buffer(s->x, 0);
    s->args[3] = aidev_arg_buffer(s->y, 0);
    return true;
}

static void graph_setup_free(graph_setup *s)
{
    if (s->x)
        aidev_buffer_release(s->x);
    if (s->y)
        aidev_buffer_release(s->y);
    if (s->k)
        aidev_kernel_release(s->k);
    if (s->q)
        aidev_queue_release(s->q);
}

/* Microseconds per dispatch of GRAPH_NODES enqueued one by one. */
static double enqueue_us(graph_setup *s)
{
    double start = bench_now();
    for (int i = 0; i < GRAPH_NODES; i++)
        if (aidev_enqueue_dispatch(s->q, s->k, NULL, NULL, 4, s->args, 0, NULL, NULL) !=
            AIDEV_SUCCESS)
            return -1;
    double us = (bench_now() - start) * 1e6 / GRAPH_NODES;
    return aidev_queue_finish(s->q) == AIDEV_SUCCESS ? us : -1;
}

/* Microseconds per node of one launch of |ex|. */
static double launch_us(aidev_graph_exec ex)
{
    aidev_event e;
    double start = bench_now();
    aidev_status st = aidev_graph_launch(ex, 0, NULL, &e);
    double us = (bench_now() - start) * 1e6 / GRAPH_NODES;
    if (st != AIDEV_SUCCESS)
        return -1;
    st = aidev_event_wait(e, AIDEV_WAIT_FOREVER);
    aidev_event_release(e);
    return st == AIDEV_SUCCESS ? us : -1;
}

static void graph_launch_row(const bench_options *opt, aidev_device dev)
{
    char name[256], backend[64];
    bench_device_names(dev, name, sizeof name, backend, sizeof backend);
    graph_setup s;
    aidev_graph g = NULL;
    aidev_graph_exec ex = NULL;
    bool ok = graph_setup_make(dev, &s) && aidev_graph_create(opt->context, &g) == AIDEV_SUCCESS;
    for (int i = 0; ok && i < GRAPH_NODES; i++)
        ok = aidev_graph_add_dispatch(g, s.q, s.k, NULL, NULL, 4, s.args, 0, NULL, NULL) ==
             AIDEV_SUCCESS;
    ok = ok && aidev_graph_instantiate(g, &ex) == AIDEV_SUCCESS;
    if (!ok) {
        fprintf(stderr, "graph.launch_1000 on %s: %s\n", name, aidev_last_error());
        goto out;
    }
    enum { REPS = 15 };
    int reps = opt->quick ? 3 : REPS;
    double ours[REPS], base[REPS];
    /* One of each first: kernels built, pools and threads warm. */
    ok = launch_us(ex) >= 0 && enqueue_us(&s) >= 0;
    for (int r = 0; ok && r < reps; r++) {
        base[r] = enqueue_us(&s);
        ours[r] = launch_us(ex);
        ok = base[r] >= 0 && ours[r] >= 0;
    }
    if (!ok) {
        fprintf(stderr, "graph.launch_1000 on %s: %s\n", name, aidev_last_error());
        goto out;
    }
    bench_row row = {
        .name = "graph.launch_1000",
        .device = name,
        .backend = backend,
        .value = bench_median(ours, reps),
        .unit = "us per node (lower is better)",
        .baseline = "1000 aidev_enqueue_dispatch calls, per dispatch",
        .baseline_value = bench_median(base, reps),
    };
    bench_emit(opt, &row);
out:
    if (ex)
        aidev_graph_exec_release(ex);
    if (g)
        aidev_graph_release(g);
    graph_setup_free(&s);
}

void bench_graph(const bench_options *opt)
{
    if (!bench_selected(opt, "graph.launch_1000"))
        return;
    uint32_t count = 0;
    aidev_context_get_devices(opt->context, &count, NULL);
    for (uint32_t i = 0; i < count; i++) {
        aidev_device dev;
        if (aidev_context_get_device(opt->context, i, &dev) == AIDEV_SUCCESS)
            graph_launch_row(opt, dev);
    }
}

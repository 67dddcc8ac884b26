/*
 * trace_graph.c - launches a graph that spans two queues of one device a
 * few times, so that test_trace_graph.py can read its trace (AIDEV_TRACE,
 * written when the context is released).
 *
 *   trace-graph DEVICE_INDEX
 *
 * The graph: fill y, y += 2 x (queue 1); copy y to z, read z (queue 2,
 * after the dispatch). Exits 0 when every launch gave the right result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aidev/aidev.h>

enum { N = 4096, LAUNCHES = 3 };

static int fail(const char *what)
{
    fprintf(stderr, "trace-graph: %s: %s\n", what, aidev_last_error());
    return 1;
}

static int run(aidev_device dev, aidev_context ctx)
{
    aidev_queue q1, q2;
    aidev_kernel k;
    aidev_buffer x, y, z;
    aidev_buffer_desc desc = {.size = N * 4, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q1) ||
        aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q2) ||
        aidev_kernel_get(dev, "axpy", &k) || aidev_buffer_create(dev, &desc, &x) ||
        aidev_buffer_create(dev, &desc, &y) || aidev_buffer_create(dev, &desc, &z))
        return fail("setup");
    static float hx[N], hz[N];
    for (int i = 0; i < N; i++)
        hx[i] = (float)(i % 31);
    const float one = 1.0f;
    aidev_graph g;
    aidev_graph_node nw, nf, nd, nc;
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    if (aidev_graph_create(ctx, &g) ||
        aidev_graph_add_write(g, q1, x, 0, N * 4, hx, 0, NULL, &nw) ||
        aidev_graph_add_fill(g, q1, y, 0, N * 4, &one, 4, 0, NULL, &nf) ||
        aidev_graph_add_dispatch(g, q1, k, NULL, NULL, 4, args, 0, NULL, &nd) ||
        aidev_graph_add_copy(g, q2, y, 0, z, 0, N * 4, 1, &nd, &nc) ||
        aidev_graph_add_read(g, q2, z, 0, N * 4, hz, 1, &nc, NULL))
        return fail("recording");
    aidev_graph_exec ex;
    if (aidev_graph_instantiate(g, &ex))
        return fail("aidev_graph_instantiate");
    for (int l = 0; l < LAUNCHES; l++) {
        memset(hz, 0, sizeof hz);
        aidev_event e;
        if (aidev_graph_launch(ex, 0, NULL, &e) || aidev_event_wait(e, AIDEV_WAIT_FOREVER))
            return fail("launch");
        aidev_event_release(e);
        for (int i = 0; i < N; i++)
            if (hz[i] != 1.0f + 2.0f * hx[i]) {
                fprintf(stderr, "trace-graph: launch %d: z[%d] = %g\n", l, i, hz[i]);
                return 1;
            }
    }
    if (aidev_graph_exec_release(ex) || aidev_graph_release(g) || aidev_kernel_release(k) ||
        aidev_buffer_release(x) || aidev_buffer_release(y) || aidev_buffer_release(z) ||
        aidev_queue_release(q1) || aidev_queue_release(q2))
        return fail("release");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: trace-graph DEVICE_INDEX\n");
        return 2;
    }
    aidev_context ctx;
    aidev_device dev;
    if (aidev_context_create(NULL, &ctx) ||
        aidev_context_get_device(ctx, (uint32_t)atoi(argv[1]), &dev))
        return fail("context");
    int rc = run(dev, ctx);
    if (aidev_context_release(ctx))
        return fail("aidev_context_release");
    return rc;
}

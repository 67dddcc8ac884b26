/* Command graphs on every device: record, instantiate, launch many times,
 * update; capture; edges across queues and backends; failures; launches
 * from several threads; release while launched; refusals. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { N = 1000 };
#define WAIT_NS (60ull * 1000000000ull)

static aidev_buffer f32_buffer(aidev_device dev)
{
    return harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
}

/* A device of another backend than |dev|'s (the CPU device, or another),
 * or NULL when the run has one backend. */
static aidev_device other_backend_device(aidev_device dev, int index)
{
    for (uint32_t i = 0; i < harness_device_count(); i++)
        if ((int)i != index && strcmp(harness_device_backend((int)i), harness_device_backend(index)))
            return harness_device((int)i);
    (void)dev;
    return NULL;
}

static void expect_axpy(const float *y, float a, const float *x, float y0, const char *what)
{
    for (int i = 0; i < N; i++)
        ck_assert_msg(y[i] == y0 + a * x[i], "%s: y[%d] = %g, expected %g", what, i, y[i],
                      y0 + a * x[i]);
}

/* write x, fill y, y += a x, read y: a graph of four nodes, launched three
 * times, then updated to other buffers and another scalar. */
START_TEST(record_instantiate_launch_update)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    aidev_buffer x = f32_buffer(dev), y = f32_buffer(dev), y2 = f32_buffer(dev);
    float *hx = malloc(N * 4), *hy = malloc(N * 4);
    for (int i = 0; i < N; i++)
        hx[i] = (float)(i % 97);
    const float one = 1.0f;
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    aidev_graph_node nw, nf, nd, nr;
    ck_assert_ok(aidev_graph_add_write(g, q, x, 0, N * 4, hx, 0, NULL, &nw));
    ck_assert_ok(aidev_graph_add_fill(g, q, y, 0, N * 4, &one, 4, 0, NULL, &nf));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    aidev_graph_node deps[] = {nw, nf};
    ck_assert_ok(aidev_graph_add_dispatch(g, q, k, NULL, NULL, 4, args, 2, deps, &nd));
    ck_assert_ok(aidev_graph_add_read(g, q, y, 0, N * 4, hy, 1, &nd, &nr));
    ck_assert_uint_eq(nr, 3);
    uint32_t count = 0;
    ck_assert_ok(aidev_graph_node_count(g, &count));
    ck_assert_uint_eq(count, 4);

    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    /* The recording may go; the instantiation stays. */
    ck_assert_ok(aidev_graph_release(g));
    for (int run = 0; run < 3; run++) {
        memset(hy, 0, N * 4);
        aidev_event e;
        ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
        ck_assert_ok(aidev_event_wait(e, WAIT_NS));
        char what[32];
        aidev_event_get_info(e, AIDEV_EVENT_INFO_COMMAND, sizeof what, what, NULL);
        ck_assert_str_eq(what, "graph");
        ck_assert_ok(aidev_event_release(e));
        expect_axpy(hy, 2.0f, hx, 1.0f, "launch");
    }
    /* New binding and scalar, no new instantiation; the read node still
     * reads y, which this launch leaves at its fill. */
    aidev_arg args2[] = {aidev_arg_u32(N), aidev_arg_f32(-3.0f), aidev_arg_buffer(x, 0),
                         aidev_arg_buffer(y2, 0)};
    ck_assert_ok(aidev_graph_exec_update_dispatch(ex, nd, 4, args2));
    aidev_event e;
    ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
    ck_assert_ok(aidev_event_wait(e, WAIT_NS));
    ck_assert_ok(aidev_event_release(e));
    for (int i = 0; i < N; i++)
        ck_assert_msg(hy[i] == 1.0f, "y after the update: y[%d] = %g", i, hy[i]);
    float *h2 = malloc(N * 4);
    ck_assert_ok(aidev_enqueue_read(q, y2, 0, N * 4, h2, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    for (int i = 0; i < N; i++)
        ck_assert_msg(h2[i] == -3.0f * hx[i], "y2[%d] = %g", i, h2[i]);
    /* A refused update leaves the node as it was. */
    aidev_arg bad[] = {aidev_arg_u32(N), aidev_arg_u32(3), aidev_arg_buffer(x, 0),
                       aidev_arg_buffer(y2, 0)};
    ck_assert_error_names(aidev_graph_exec_update_dispatch(ex, nd, 4, bad),
                          AIDEV_ERROR_KERNEL_ARGS, "axpy");
    ck_assert_error_names(aidev_graph_exec_update_dispatch(ex, nw, 4, args2),
                          AIDEV_ERROR_INVALID_ARGUMENT, "not a dispatch");
    ck_assert_ok(aidev_graph_launch(ex, 0, NULL, NULL));
    /* The queue is the graph's until it is released. */
    ck_assert_error_names(aidev_queue_release(q), AIDEV_ERROR_INVALID_STATE, "graph");
    ck_assert_ok(aidev_graph_exec_release(ex));
    ck_assert_ok(aidev_enqueue_read(q, y2, 0, N * 4, h2, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    for (int i = 0; i < N; i++)
        ck_assert_msg(h2[i] == -6.0f * hx[i], "y2[%d] after two launches = %g", i, h2[i]);
    free(hx);
    free(hy);
    free(h2);
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(y));
    ck_assert_ok(aidev_buffer_release(y2));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* One kernel in three nodes with their own buffers and scalars (one bound
 * at an offset), and dispatched outside the graph between launches with
 * other arguments: every launch runs each node with its own arguments (a
 * backend that records dispatches must not take the kernel's latest). */
START_TEST(one_kernel_many_bindings)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    enum { OFF = 256 }; /* elements; y[2] is bound at this offset */
    aidev_buffer x = f32_buffer(dev), y[3], other = f32_buffer(dev);
    y[0] = f32_buffer(dev);
    y[1] = f32_buffer(dev);
    y[2] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, (N + OFF) * 4, AIDEV_TYPE_F32);
    float *hx = malloc(N * 4), *hy = malloc(N * 4);
    for (int i = 0; i < N; i++)
        hx[i] = (float)(i % 13);
    const float zero = 0.0f;
    ck_assert_ok(aidev_enqueue_write(q, x, 0, N * 4, hx, 0, NULL, NULL));
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    const float a[3] = {1.0f, 2.0f, 3.0f};
    for (int j = 0; j < 3; j++) {
        uint64_t at = j == 2 ? OFF * 4 : 0;
        ck_assert_ok(aidev_graph_add_fill(g, q, y[j], at, N * 4, &zero, 4, 0, NULL, NULL));
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(a[j]), aidev_arg_buffer(x, 0),
                            aidev_arg_buffer(y[j], at)};
        ck_assert_ok(aidev_graph_add_dispatch(g, q, k, NULL, NULL, 4, args, 0, NULL, NULL));
    }
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    ck_assert_ok(aidev_graph_release(g));
    aidev_arg plain[] = {aidev_arg_u32(N), aidev_arg_f32(7.0f), aidev_arg_buffer(x, 0),
                         aidev_arg_buffer(other, 0)};
    for (int run = 0; run < 2; run++) {
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, plain, 0, NULL, NULL));
        ck_assert_ok(aidev_graph_launch(ex, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, plain, 0, NULL, NULL));
        for (int j = 0; j < 3; j++) {
            uint64_t at = j == 2 ? OFF * 4 : 0;
            ck_assert_ok(aidev_enqueue_read(q, y[j], at, N * 4, hy, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            char what[48];
            snprintf(what, sizeof what, "launch %d, node %d", run, j);
            expect_axpy(hy, a[j], hx, 0.0f, what);
        }
    }
    ck_assert_ok(aidev_graph_exec_release(ex));
    free(hx);
    free(hy);
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(other));
    for (int j = 0; j < 3; j++)
        ck_assert_ok(aidev_buffer_release(y[j]));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* Capture of two queues into one graph, joined by events; nothing runs
 * while capturing. */
START_TEST(capture_two_queues)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q1 = harness_queue(dev), q2 = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    aidev_buffer x = f32_buffer(dev), y = f32_buffer(dev);
    float *hx = malloc(N * 4), *hy = malloc(N * 4);
    for (int i = 0; i < N; i++)
        hx[i] = (float)(i % 31), hy[i] = -1.0f;
    const float five = 5.0f;
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    ck_assert_ok(aidev_queue_begin_capture(q1, g));
    ck_assert_ok(aidev_queue_begin_capture(q2, g));
    ck_assert_status(aidev_queue_begin_capture(q1, g), AIDEV_ERROR_INVALID_STATE);
    aidev_event ew, ef;
    ck_assert_ok(aidev_enqueue_write(q1, x, 0, N * 4, hx, 0, NULL, &ew));
    ck_assert_ok(aidev_enqueue_fill(q2, y, 0, N * 4, &five, 4, 0, NULL, &ef));
    aidev_event both[] = {ew, ef};
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(0.5f), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    aidev_event ed;
    ck_assert_ok(aidev_enqueue_dispatch(q2, k, NULL, NULL, 4, args, 2, both, &ed));
    ck_assert_ok(aidev_enqueue_read(q1, y, 0, N * 4, hy, 1, &ed, NULL));
    /* An event from outside the capture is refused. */
    aidev_event user;
    ck_assert_ok(aidev_event_create_user(ctx, &user));
    ck_assert_error_names(aidev_enqueue_barrier(q1, 1, &user, NULL), AIDEV_ERROR_INVALID_ARGUMENT,
                          "wait_events[0]");
    ck_assert_ok(aidev_queue_end_capture(q1));
    ck_assert_ok(aidev_queue_end_capture(q2));
    ck_assert_status(aidev_queue_end_capture(q2), AIDEV_ERROR_INVALID_STATE);
    /* Nothing ran; the capture events stand for nodes. */
    ck_assert_msg(hy[0] == -1.0f, "a captured read ran");
    ck_assert_status(aidev_event_wait(ed, WAIT_NS), AIDEV_ERROR_INVALID_STATE);
    uint32_t count = 0;
    ck_assert_ok(aidev_graph_node_count(g, &count));
    ck_assert_uint_eq(count, 4);
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    for (int run = 0; run < 2; run++) {
        memset(hy, 0, N * 4);
        aidev_event e;
        ck_assert_ok(aidev_graph_launch(ex, 1, &user, &e));
        if (run == 0) {
            /* Held by the launch's wait list. */
            ck_assert_status(aidev_event_query(e), AIDEV_NOT_READY);
            ck_assert_ok(aidev_event_set_status(user, AIDEV_SUCCESS, NULL));
        }
        ck_assert_ok(aidev_event_wait(e, WAIT_NS));
        ck_assert_ok(aidev_event_release(e));
        expect_axpy(hy, 0.5f, hx, 5.0f, "captured graph");
    }
    ck_assert_ok(aidev_graph_exec_release(ex));
    ck_assert_ok(aidev_graph_release(g));
    aidev_event all[] = {ew, ef, ed, user};
    for (int i = 0; i < 4; i++)
        ck_assert_ok(aidev_event_release(all[i]));
    free(hx);
    free(hy);
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(y));
    ck_assert_ok(aidev_queue_release(q1));
    ck_assert_ok(aidev_queue_release(q2));
}
END_TEST

/* Data through host memory from this device to a device of another
 * backend and back, every edge a graph edge. */
START_TEST(edges_across_backends)
{
    aidev_device dev = harness_device(_i);
    aidev_device other = other_backend_device(dev, _i);
    if (!other)
        return; /* one backend in this run */
    aidev_context ctx = harness_context();
    aidev_queue qa = harness_queue(dev), qb = harness_queue(other);
    aidev_buffer a = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_NONE);
    aidev_buffer b = harness_buffer(other, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_NONE);
    unsigned char *src = malloc(N * 4), *mid = calloc(1, N * 4), *dst = calloc(1, N * 4);
    for (int i = 0; i < N * 4; i++)
        src[i] = (unsigned char)(i * 7 + 3);
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    aidev_graph_node n0, n1, n2, n3;
    ck_assert_ok(aidev_graph_add_write(g, qa, a, 0, N * 4, src, 0, NULL, &n0));
    ck_assert_ok(aidev_graph_add_read(g, qa, a, 0, N * 4, mid, 1, &n0, &n1));
    ck_assert_ok(aidev_graph_add_write(g, qb, b, 0, N * 4, mid, 1, &n1, &n2));
    ck_assert_ok(aidev_graph_add_read(g, qb, b, 0, N * 4, dst, 1, &n2, &n3));
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    for (int run = 0; run < 3; run++) {
        memset(dst, 0, N * 4);
        memset(mid, 0, N * 4);
        aidev_event e;
        ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
        ck_assert_ok(aidev_event_wait(e, WAIT_NS));
        ck_assert_ok(aidev_event_release(e));
        ck_assert_int_eq(memcmp(src, dst, N * 4), 0);
    }
    ck_assert_ok(aidev_graph_exec_release(ex));
    ck_assert_ok(aidev_graph_release(g));
    free(src);
    free(mid);
    free(dst);
    ck_assert_ok(aidev_buffer_release(a));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(qa));
    ck_assert_ok(aidev_queue_release(qb));
}
END_TEST

static void count_call(void *user_data)
{
    atomic_fetch_add((atomic_int *)user_data, 1);
}

/* A file read that meets the end of its file fails the nodes after it on
 * its queue and its dependents on another queue, not an independent node;
 * the launch's event names it; once the file is long enough the same
 * graph runs. */
START_TEST(failure_fails_dependents)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q1 = harness_queue(dev), q2 = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    char path[] = "/tmp/aidev-graph-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    char data[4096];
    memset(data, 0x5a, sizeof data);
    ck_assert_int_eq(pwrite(fd, data, 16, 0), 16);
    atomic_int after = 0, dependent = 0, independent = 0;
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    aidev_graph_node nr, na, nd, ni;
    ck_assert_ok(aidev_graph_add_file_read(g, q1, b, 0, fd, 0, 4096, 0, 0, NULL, &nr));
    ck_assert_ok(close(fd)); /* the graph has its own descriptor */
    ck_assert_ok(aidev_graph_add_host_callback(g, q1, count_call, &after, 0, NULL, &na));
    ck_assert_ok(aidev_graph_add_host_callback(g, q2, count_call, &independent, 0, NULL, &ni));
    ck_assert_ok(aidev_graph_add_host_callback(g, q2, count_call, &dependent, 1, &nr, &nd));
    (void)na;
    (void)nd;
    (void)ni;
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    for (int run = 0; run < 2; run++) {
        aidev_event e;
        ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
        ck_assert_status(aidev_event_wait(e, WAIT_NS), AIDEV_ERROR_IO);
        ck_assert_msg(strstr(aidev_event_message(e), "graph node 0 (file_read") != NULL,
                      "message does not name the node: %s", aidev_event_message(e));
        ck_assert_ok(aidev_event_release(e));
    }
    ck_assert_int_eq(atomic_load(&after), 0);
    ck_assert_int_eq(atomic_load(&dependent), 0);
    ck_assert_int_eq(atomic_load(&independent), 2);
    ck_assert_ok(aidev_graph_exec_release(ex));
    ck_assert_ok(aidev_graph_release(g));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q1));
    ck_assert_ok(aidev_queue_release(q2));
}
END_TEST

typedef struct launcher {
    aidev_graph_exec ex;
    int launches;
    aidev_status status;
} launcher;

static void *launch_many(void *arg)
{
    launcher *l = arg;
    for (int i = 0; i < l->launches && l->status == AIDEV_SUCCESS; i++) {
        aidev_event e;
        l->status = aidev_graph_launch(l->ex, 0, NULL, &e);
        if (l->status == AIDEV_SUCCESS) {
            l->status = aidev_event_wait(e, WAIT_NS);
            aidev_event_release(e);
        }
    }
    return NULL;
}

/* Four threads launch one graph (a callback and a dispatch on each of two
 * queues) at once: every node runs once per launch. */
START_TEST(launch_from_threads)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q1 = harness_queue(dev), q2 = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    /* Each queue's dispatch writes its own buffer: the queues overlap. */
    aidev_buffer x = f32_buffer(dev), y = f32_buffer(dev), y2 = f32_buffer(dev);
    const float zero = 0.0f;
    ck_assert_ok(aidev_enqueue_fill(q1, x, 0, N * 4, &zero, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q1));
    atomic_int calls = 0;
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(1.0f), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    aidev_arg args2[] = {aidev_arg_u32(N), aidev_arg_f32(1.0f), aidev_arg_buffer(x, 0),
                         aidev_arg_buffer(y2, 0)};
    aidev_graph_node n0, n1;
    ck_assert_ok(aidev_graph_add_host_callback(g, q1, count_call, &calls, 0, NULL, &n0));
    ck_assert_ok(aidev_graph_add_dispatch(g, q1, k, NULL, NULL, 4, args, 1, &n0, NULL));
    ck_assert_ok(aidev_graph_add_dispatch(g, q2, k, NULL, NULL, 4, args2, 1, &n0, &n1));
    ck_assert_ok(aidev_graph_add_host_callback(g, q2, count_call, &calls, 1, &n1, NULL));
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    enum { THREADS = 4, LAUNCHES = 10 };
    pthread_t t[THREADS];
    launcher l[THREADS];
    for (int i = 0; i < THREADS; i++) {
        l[i] = (launcher){.ex = ex, .launches = LAUNCHES};
        pthread_create(&t[i], NULL, launch_many, &l[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(l[i].status == AIDEV_SUCCESS, "thread %d: %s", i,
                      aidev_status_string(l[i].status));
    }
    ck_assert_int_eq(atomic_load(&calls), 2 * THREADS * LAUNCHES);
    ck_assert_ok(aidev_graph_exec_release(ex));
    ck_assert_ok(aidev_graph_release(g));
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(y));
    ck_assert_ok(aidev_buffer_release(y2));
    ck_assert_ok(aidev_queue_release(q1));
    ck_assert_ok(aidev_queue_release(q2));
}
END_TEST

typedef struct releaser {
    aidev_graph_exec ex;
    aidev_status status;
} releaser;

static void *release_exec(void *arg)
{
    releaser *r = arg;
    r->status = aidev_graph_exec_release(r->ex);
    return NULL;
}

/* Released while its launch waits: the release waits for the launch, the
 * launch completes and its event stays valid. */
START_TEST(release_while_launched)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_NONE);
    unsigned char *src = malloc(N * 4), *dst = calloc(1, N * 4);
    for (int i = 0; i < N * 4; i++)
        src[i] = (unsigned char)(i * 13 + 1);
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    aidev_graph_node n0;
    ck_assert_ok(aidev_graph_add_write(g, q, b, 0, N * 4, src, 0, NULL, &n0));
    ck_assert_ok(aidev_graph_add_read(g, q, b, 0, N * 4, dst, 1, &n0, NULL));
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    ck_assert_ok(aidev_graph_release(g));
    ck_assert_ok(aidev_buffer_release(b)); /* the instantiation holds it */
    aidev_event gate, e;
    ck_assert_ok(aidev_event_create_user(ctx, &gate));
    ck_assert_ok(aidev_graph_launch(ex, 1, &gate, &e));
    releaser rel = {ex, AIDEV_NOT_READY};
    pthread_t t;
    pthread_create(&t, NULL, release_exec, &rel);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    pthread_join(t, NULL);
    ck_assert_ok(rel.status);
    ck_assert_ok(aidev_event_wait(e, WAIT_NS));
    ck_assert_int_eq(memcmp(src, dst, N * 4), 0);
    ck_assert_status(aidev_graph_launch(ex, 0, NULL, NULL), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_event_release(e));
    ck_assert_ok(aidev_event_release(gate));
    free(src);
    free(dst);
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* Refusals name what is wrong: a dependency not in the graph, a handle
 * released before instantiation, an empty graph. */
START_TEST(refusals)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    char host[4096];
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(ctx, &g));
    aidev_graph_exec ex;
    ck_assert_error_names(aidev_graph_instantiate(g, &ex), AIDEV_ERROR_INVALID_ARGUMENT,
                          "no nodes");
    aidev_graph_node dep = 5;
    ck_assert_error_names(aidev_graph_add_read(g, q, b, 0, 4096, host, 1, &dep, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "deps[0]");
    ck_assert_error_names(aidev_graph_add_read(g, q, b, 1, 4096, host, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "buffer");
    ck_assert_ok(aidev_graph_add_read(g, q, b, 0, 4096, host, 0, NULL, NULL));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_error_names(aidev_graph_instantiate(g, &ex), AIDEV_ERROR_INVALID_HANDLE,
                          "graph node 0 (read");
    ck_assert_status(aidev_graph_launch(NULL, 0, NULL, NULL), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_graph_release(g));
    ck_assert_status(aidev_graph_release(g), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("graph");
    harness_add_per_device(s, "record_instantiate_launch_update",
                           record_instantiate_launch_update, 0);
    harness_add_per_device(s, "one_kernel_many_bindings", one_kernel_many_bindings, 0);
    harness_add_per_device(s, "capture_two_queues", capture_two_queues, 0);
    harness_add_per_device(s, "edges_across_backends", edges_across_backends, 0);
    harness_add_per_device(s, "failure_fails_dependents", failure_fails_dependents, 0);
    harness_add_per_device(s, "launch_from_threads", launch_from_threads, 0);
    harness_add_per_device(s, "release_while_launched", release_while_launched, 0);
    harness_add_per_device(s, "refusals", refusals, 0);
    return harness_run(s);
}

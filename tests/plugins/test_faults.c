/*
 * test_faults.c - libaidev's error paths, driven on purpose by the
 * fault-injection backend (tests/plugins/fault.h): failed allocations,
 * refused and failed submissions, a lost device, and a context released
 * with work still pending. Each time the failure reaches the right event
 * with its message, what waited on it fails too, what did not goes on,
 * nothing leaks (the fault backend counts its live objects; ASan watches
 * libaidev) and the context goes away cleanly.
 *
 * Run with AIDEV_PLUGIN_PATH naming the test plugins' folder and
 * AIDEV_BACKENDS=fault,cpu (tests/plugins/meson.build sets both). Cases
 * looped over _i run with the backend announcing AIDEV_BACKEND_CAP_ANY_WAIT
 * (_i = 1) and without it (_i = 0), where libaidev holds commands back.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aidev/aidev.h>

#include "fault.h"

#define ck_assert_status(expr, expected)                                                      \
    do {                                                                                      \
        aidev_status st_ = (expr);                                                            \
        ck_assert_msg(st_ == (expected), "%s returned %s, expected %s: %s", #expr,            \
                      aidev_status_string(st_), aidev_status_string(expected),                \
                      aidev_last_error());                                                    \
    } while (0)
#define ck_assert_ok(expr) ck_assert_status(expr, AIDEV_SUCCESS)
/* The event (or the last call) failed with |status| and a message naming |needle|. */
#define ck_assert_event_fails(event, status, needle)                                          \
    do {                                                                                      \
        ck_assert_status(aidev_event_wait(event, AIDEV_WAIT_FOREVER), status);                \
        ck_assert_msg(strstr(aidev_event_message(event), needle) != NULL,                     \
                      "event message \"%s\" lacks \"%s\"", aidev_event_message(event),        \
                      needle);                                                                \
    } while (0)

typedef struct fault_setup {
    aidev_context ctx;
    aidev_device fault, cpu;
    void *dl;
    aidev_fault_configure_fn configure;
    aidev_fault_get_stats_fn stats;
} fault_setup;

static aidev_device device_of(aidev_context ctx, const char *backend)
{
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &n, NULL));
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        char name[64];
        ck_assert_ok(aidev_context_get_device(ctx, i, &d));
        ck_assert_ok(aidev_device_get_info(d, AIDEV_DEVICE_INFO_BACKEND, sizeof name, name, NULL));
        if (strcmp(name, backend) == 0)
            return d;
    }
    ck_abort_msg("no device of backend '%s'", backend);
    return NULL;
}

/* A context with the fault backend, set up by |faults| in AIDEV_FAULTS,
 * and its control functions. */
static void fault_open(fault_setup *f, const char *faults, const aidev_context_desc *desc)
{
    memset(f, 0, sizeof *f);
    setenv("AIDEV_FAULTS", faults, 1);
    ck_assert_ok(aidev_context_create(desc, &f->ctx));
    aidev_backend_report reports[64];
    uint32_t n = 64;
    ck_assert_ok(aidev_context_get_backends(f->ctx, &n, reports));
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(reports[i].name, "fault") != 0)
            continue;
        ck_assert_msg(reports[i].state == AIDEV_BACKEND_LOADED, "fault backend: %s",
                      reports[i].reason);
        f->dl = dlopen(reports[i].path, RTLD_NOW | RTLD_NOLOAD);
    }
    ck_assert_msg(f->dl != NULL, "the fault backend is not loaded (AIDEV_PLUGIN_PATH?)");
    void *sym = dlsym(f->dl, AIDEV_FAULT_CONFIGURE_SYMBOL);
    memcpy(&f->configure, &sym, sizeof sym);
    sym = dlsym(f->dl, AIDEV_FAULT_GET_STATS_SYMBOL);
    memcpy(&f->stats, &sym, sizeof sym);
    ck_assert(f->configure && f->stats);
    f->fault = device_of(f->ctx, "fault");
    f->cpu = device_of(f->ctx, "cpu");
}

/* Every object of the fault backend is gone but the open device. */
static void expect_nothing_left(const fault_setup *f)
{
    aidev_fault_stats s;
    f->stats(&s);
    ck_assert_uint_eq(s.queues, 0);
    ck_assert_uint_eq(s.buffers, 0);
    ck_assert_uint_eq(s.kernels, 0);
    ck_assert_uint_eq(s.commands, 0);
}

static void fault_close(fault_setup *f)
{
    expect_nothing_left(f);
    dlclose(f->dl);
    ck_assert_ok(aidev_context_release(f->ctx));
}

static aidev_queue queue_on(aidev_device dev)
{
    aidev_queue q;
    ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    return q;
}

static aidev_buffer buffer_on(aidev_device dev, uint64_t size)
{
    aidev_buffer_desc desc = {.size = size, .kind = AIDEV_MEMORY_DEVICE};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    return b;
}

static const char *any_wait_spec(int any_wait)
{
    return any_wait ? "any_wait=1" : "any_wait=0";
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */
/* ------------------------------------------------------------------------ */

/* A failed allocation reaches the caller with the backend's message, and
 * the quota libaidev charged for it is given back. */
START_TEST(allocation_failure)
{
    fault_setup f;
    aidev_context_desc desc = {.memory_limit = 3 << 20};
    fault_open(&f, "", &desc);
    ck_assert_int_eq(f.configure("alloc=2"), 0);
    aidev_buffer_desc bd = {.size = 1 << 20, .kind = AIDEV_MEMORY_DEVICE};
    aidev_buffer a, b = (aidev_buffer)(uintptr_t)1, c;
    ck_assert_ok(aidev_buffer_create(f.fault, &bd, &a));
    ck_assert_ok(aidev_buffer_set_pinned(a, 1)); /* room comes from the refund only */
    bd.size = 2 << 20;
    ck_assert_status(aidev_buffer_create(f.fault, &bd, &b), AIDEV_ERROR_OUT_OF_DEVICE_MEMORY);
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "allocation 2 of 2097152 bytes failed"));
    ck_assert_ptr_null(b);
    /* 1 + 2 MiB fit the 3 MiB quota only if the failure was refunded. */
    ck_assert_ok(aidev_buffer_create(f.fault, &bd, &c));
    ck_assert_ok(aidev_buffer_release(a));
    ck_assert_ok(aidev_buffer_release(c));
    fault_close(&f);
}
END_TEST

/* A refused submission: with the direct path the enqueue itself returns
 * the error and gives no event; when libaidev held the command back (it
 * waited on a user event and the backend lacks ANY_WAIT) the error lands
 * on its event instead. Either way the queue goes on. */
START_TEST(refused_submission)
{
    int any_wait = _i;
    fault_setup f;
    fault_open(&f, any_wait_spec(any_wait), NULL);
    aidev_queue q = queue_on(f.fault);
    aidev_buffer b = buffer_on(f.fault, 256);
    unsigned char src[256], dst[256];
    memset(src, 0x5a, sizeof src);
    aidev_event gate, refused = (aidev_event)(uintptr_t)1, read;
    ck_assert_ok(aidev_event_create_user(f.ctx, &gate));
    ck_assert_int_eq(f.configure("refuse=1"), 0);
    aidev_status st = aidev_enqueue_write(q, b, 0, sizeof src, src, 1, &gate, &refused);
    if (any_wait) {
        ck_assert_status(st, AIDEV_ERROR_BACKEND);
        ck_assert_ptr_nonnull(strstr(aidev_last_error(), "submission 1 refused on purpose"));
        ck_assert_ptr_null(refused);
    } else {
        ck_assert_ok(st);
    }
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    if (!any_wait) {
        ck_assert_event_fails(refused, AIDEV_ERROR_BACKEND, "submission 1 refused on purpose");
        ck_assert_ok(aidev_event_release(refused));
    }
    /* The queue goes on. */
    ck_assert_ok(aidev_enqueue_write(q, b, 0, sizeof src, src, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, sizeof dst, dst, 0, NULL, &read));
    ck_assert_ok(aidev_event_wait(read, AIDEV_WAIT_FOREVER));
    ck_assert_int_eq(memcmp(src, dst, sizeof src), 0);
    /* A refused enqueue returned its error; a held command's refusal is the
     * queue's first failure. */
    if (any_wait) {
        ck_assert_ok(aidev_queue_finish(q));
    } else {
        ck_assert_status(aidev_queue_finish(q), AIDEV_ERROR_BACKEND);
        ck_assert_ptr_nonnull(strstr(aidev_last_error(), "write of 256 bytes"));
    }
    aidev_event_release(read);
    aidev_event_release(gate);
    aidev_buffer_release(b);
    aidev_queue_release(q);
    fault_close(&f);
}
END_TEST

typedef struct seen {
    atomic_int calls;
    aidev_status status;
} seen;

static void on_complete(aidev_event event, aidev_status status, void *user)
{
    (void)event;
    seen *s = user;
    s->status = status;
    atomic_fetch_add(&s->calls, 1);
}

/* A submission the backend accepts and then fails: its event fails with
 * the backend's message, every event that waited on it (same queue, other
 * queue of the device, a queue of another backend, a callback) fails with
 * AIDEV_ERROR_DEPENDENCY and the cause, and what did not wait on it runs. */
START_TEST(failed_submission)
{
    int any_wait = _i;
    fault_setup f;
    fault_open(&f, any_wait_spec(any_wait), NULL);
    aidev_queue q1 = queue_on(f.fault), q2 = queue_on(f.fault), q3 = queue_on(f.fault);
    aidev_queue qc = queue_on(f.cpu);
    aidev_buffer b1 = buffer_on(f.fault, 64), b2 = buffer_on(f.fault, 64);
    aidev_buffer b3 = buffer_on(f.fault, 64), bc = buffer_on(f.cpu, 64);
    unsigned char src[64], after[64], out2[64], out3[64], outc[64];
    memset(src, 0x11, sizeof src);
    memset(after, 0x22, sizeof after);
    memset(out2, 0x77, sizeof out2);
    memset(outc, 0x77, sizeof outc);

    /* A waits on the gate, so X queued behind it is still pending when its
     * waiters are enqueued. The backend sees submissions in enqueue order
     * (A, X, W, Y, then U's write and read) when it takes any wait; without
     * ANY_WAIT libaidev holds A (it waits on a user event) and everything
     * after it on q1, so Y and U's two reach the backend first and A, X, W
     * when the gate opens: X is the 2nd or the 5th. */
    const int x_at = any_wait ? 2 : 5;
    char spec[32], why[64];
    snprintf(spec, sizeof spec, "fail=%d", x_at);
    snprintf(why, sizeof why, "submission %d failed on purpose", x_at);
    ck_assert_int_eq(f.configure(spec), 0);
    aidev_event gate, a, x, w, y, z, u;
    ck_assert_ok(aidev_event_create_user(f.ctx, &gate));
    ck_assert_ok(aidev_enqueue_write(q1, b1, 0, 64, src, 1, &gate, &a));
    ck_assert_ok(aidev_enqueue_barrier(q1, 0, NULL, &x));
    ck_assert_ok(aidev_enqueue_write(q1, b1, 0, 64, after, 0, NULL, &w));
    ck_assert_ok(aidev_enqueue_read(q2, b2, 0, 64, out2, 1, &x, &y));
    ck_assert_ok(aidev_enqueue_read(qc, bc, 0, 64, outc, 1, &x, &z));
    seen cb = {0};
    ck_assert_ok(aidev_event_set_callback(x, on_complete, &cb));
    /* U waits on nothing: it runs while the others wait. */
    ck_assert_ok(aidev_enqueue_write(q3, b3, 0, 64, src, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q3, b3, 0, 64, out3, 0, NULL, &u));
    ck_assert_ok(aidev_event_wait(u, AIDEV_WAIT_FOREVER));
    ck_assert_int_eq(memcmp(out3, src, 64), 0);
    ck_assert_int_eq(aidev_event_query(x), AIDEV_NOT_READY);

    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(a, AIDEV_WAIT_FOREVER));
    ck_assert_event_fails(x, AIDEV_ERROR_BACKEND, why);
    ck_assert_event_fails(y, AIDEV_ERROR_DEPENDENCY, why);
    ck_assert_event_fails(z, AIDEV_ERROR_DEPENDENCY, why);
    /* Waiters did not run: their host memory is untouched. */
    ck_assert_uint_eq(out2[0], 0x77);
    ck_assert_uint_eq(outc[0], 0x77);
    /* The queue of the failure goes on with what did not wait on it. */
    ck_assert_ok(aidev_event_wait(w, AIDEV_WAIT_FOREVER));
    unsigned char check[64];
    ck_assert_ok(aidev_enqueue_read(q1, b1, 0, 64, check, 0, NULL, NULL));
    /* q1's first failure is X, with the backend's message; then none. */
    ck_assert_status(aidev_queue_finish(q1), AIDEV_ERROR_BACKEND);
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "a barrier failed"));
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), why));
    ck_assert_int_eq(memcmp(check, after, 64), 0);
    /* The callback ran once, with the failure. */
    for (int i = 0; i < 1000 && atomic_load(&cb.calls) == 0; i++)
        aidev_queue_finish(q1);
    ck_assert_int_eq(atomic_load(&cb.calls), 1);
    ck_assert_int_eq(cb.status, AIDEV_ERROR_BACKEND);

    ck_assert_ok(aidev_queue_finish(q1));
    ck_assert_status(aidev_queue_finish(q2), AIDEV_ERROR_DEPENDENCY);
    ck_assert_ok(aidev_queue_finish(q3));
    ck_assert_status(aidev_queue_finish(qc), AIDEV_ERROR_DEPENDENCY);
    aidev_event events[] = {gate, a, x, w, y, z, u};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        ck_assert_ok(aidev_event_release(events[i]));
    aidev_buffer buffers[] = {b1, b2, b3, bc};
    for (size_t i = 0; i < 4; i++)
        ck_assert_ok(aidev_buffer_release(buffers[i]));
    aidev_queue queues[] = {q1, q2, q3, qc};
    for (size_t i = 0; i < 4; i++)
        ck_assert_ok(aidev_queue_release(queues[i]));
    fault_close(&f);
}
END_TEST

/* The device is lost at a submission: that command and every one not yet
 * run fail with AIDEV_ERROR_DEVICE_LOST, the device refuses new work with
 * it, aidev_queue_finish reports it, and the other backend goes on. */
START_TEST(device_lost)
{
    fault_setup f;
    fault_open(&f, "", NULL);
    aidev_queue q1 = queue_on(f.fault), q2 = queue_on(f.fault);
    aidev_buffer b = buffer_on(f.fault, 64);
    unsigned char data[64];
    memset(data, 0x42, sizeof data);
    ck_assert_int_eq(f.configure("lost=3"), 0);
    aidev_event gate, pending, ok, lost;
    ck_assert_ok(aidev_event_create_user(f.ctx, &gate));
    ck_assert_ok(aidev_enqueue_write(q1, b, 0, 64, data, 1, &gate, &pending));
    ck_assert_ok(aidev_enqueue_write(q2, b, 0, 64, data, 0, NULL, &ok));
    ck_assert_ok(aidev_event_wait(ok, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_enqueue_read(q2, b, 0, 64, data, 0, NULL, &lost));
    ck_assert_event_fails(lost, AIDEV_ERROR_DEVICE_LOST, "lost at submission 3");

    /* New work is refused at once, with the reason. */
    aidev_event none = (aidev_event)(uintptr_t)1;
    ck_assert_status(aidev_enqueue_barrier(q1, 0, NULL, &none), AIDEV_ERROR_DEVICE_LOST);
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "lost at submission 3"));
    ck_assert_ptr_null(none);
    aidev_buffer_desc bd = {.size = 64, .kind = AIDEV_MEMORY_DEVICE};
    aidev_buffer nb;
    ck_assert_status(aidev_buffer_create(f.fault, &bd, &nb), AIDEV_ERROR_DEVICE_LOST);
    aidev_kernel k;
    ck_assert_status(aidev_kernel_get(f.fault, "axpy", &k), AIDEV_ERROR_DEVICE_LOST);
    ck_assert_status(aidev_queue_finish(q2), AIDEV_ERROR_DEVICE_LOST);

    /* What was accepted before the loss but had not run fails too. */
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_event_fails(pending, AIDEV_ERROR_DEVICE_LOST, "lost at submission 3");
    ck_assert_status(aidev_queue_finish(q1), AIDEV_ERROR_DEVICE_LOST);

    /* The CPU device is unaffected. */
    aidev_queue qc = queue_on(f.cpu);
    aidev_buffer bc = buffer_on(f.cpu, 64);
    ck_assert_ok(aidev_enqueue_write(qc, bc, 0, 64, data, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qc));

    aidev_event events[] = {gate, pending, ok, lost};
    for (size_t i = 0; i < 4; i++)
        ck_assert_ok(aidev_event_release(events[i]));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_buffer_release(bc));
    ck_assert_ok(aidev_queue_release(q1));
    ck_assert_ok(aidev_queue_release(q2));
    ck_assert_ok(aidev_queue_release(qc));
    fault_close(&f);
}
END_TEST

/* A context released while commands wait on a user event, on two devices,
 * with kernels, buffers and events never released: the release returns,
 * and every object of the backend is gone. A second context keeps the
 * plugin loaded so that its counts can be read afterwards. */
START_TEST(release_with_work_pending)
{
    int any_wait = _i;
    fault_setup keep;
    fault_open(&keep, any_wait_spec(any_wait), NULL);
    aidev_context ctx;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    aidev_device fault = device_of(ctx, "fault"), cpu = device_of(ctx, "cpu");
    aidev_queue q1 = queue_on(fault), q2 = queue_on(fault), qc = queue_on(cpu);
    aidev_buffer b = buffer_on(fault, 4096), bc = buffer_on(cpu, 4096);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(fault, "fill_f32", &k));
    static unsigned char data[4096];
    aidev_event gate, first, second, third;
    ck_assert_ok(aidev_event_create_user(ctx, &gate));
    ck_assert_ok(aidev_enqueue_write(q1, b, 0, sizeof data, data, 1, &gate, &first));
    ck_assert_ok(aidev_enqueue_read(q2, b, 0, sizeof data, data, 1, &first, &second));
    ck_assert_ok(aidev_enqueue_write(qc, bc, 0, sizeof data, data, 1, &second, &third));
    aidev_fault_stats s;
    keep.stats(&s);
    ck_assert_uint_ge(s.queues, 2);
    ck_assert_uint_ge(s.buffers, 1);
    ck_assert_uint_eq(s.kernels, 1);

    ck_assert_ok(aidev_context_release(ctx));
    expect_nothing_left(&keep);
    keep.stats(&s);
    ck_assert_uint_eq(s.devices, 0);
    fault_close(&keep);
}
END_TEST

/* A bad AIDEV_FAULTS spec fails the backend's init, with the reason. */
static void count_call(void *user_data)
{
    atomic_fetch_add((atomic_int *)user_data, 1);
}

/* A graph node the backend fails (a backend without graphs: libaidev's
 * node-by-node launch): the launch's event names it, its queue's later
 * node and its dependent on the CPU device do not run, an independent CPU
 * node does; with the fault gone the same graph runs. */
START_TEST(graph_node_failure)
{
    fault_setup f;
    fault_open(&f, "any_wait=1", NULL);
    aidev_queue q = queue_on(f.fault), qc = queue_on(f.cpu);
    aidev_buffer b = buffer_on(f.fault, 64);
    unsigned char src[64], out[64];
    memset(src, 0x5a, sizeof src);
    atomic_int dependent = 0, independent = 0;
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(f.ctx, &g));
    aidev_graph_node n0, n1, n2;
    ck_assert_ok(aidev_graph_add_write(g, q, b, 0, 64, src, 0, NULL, &n0));
    ck_assert_ok(aidev_graph_add_write(g, q, b, 0, 64, src, 0, NULL, &n1));
    ck_assert_ok(aidev_graph_add_read(g, q, b, 0, 64, out, 0, NULL, &n2));
    ck_assert_ok(aidev_graph_add_host_callback(g, qc, count_call, &independent, 0, NULL, NULL));
    ck_assert_ok(aidev_graph_add_host_callback(g, qc, count_call, &dependent, 1, &n1, NULL));
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    ck_assert_int_eq(f.configure("fail=2"), 0);
    memset(out, 0, sizeof out);
    aidev_event e;
    ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
    ck_assert_event_fails(e, AIDEV_ERROR_BACKEND, "graph node 1 (write");
    ck_assert_ok(aidev_event_release(e));
    ck_assert_int_eq(atomic_load(&dependent), 0);
    ck_assert_int_eq(atomic_load(&independent), 1);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(f.configure(""), 0);
    ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
    ck_assert_ok(aidev_event_wait(e, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_release(e));
    ck_assert_int_eq(atomic_load(&dependent), 1);
    ck_assert_int_eq(memcmp(out, src, sizeof out), 0);
    ck_assert_ok(aidev_graph_exec_release(ex));
    ck_assert_ok(aidev_graph_release(g));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
    ck_assert_ok(aidev_queue_release(qc));
    fault_close(&f);
}
END_TEST

START_TEST(bad_spec_fails_init)
{
    setenv("AIDEV_FAULTS", "explode=1", 1);
    aidev_context ctx;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    aidev_backend_report r[64];
    uint32_t n = 64;
    ck_assert_ok(aidev_context_get_backends(ctx, &n, r));
    bool found = false;
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(r[i].name, "fault") != 0)
            continue;
        found = true;
        ck_assert_int_eq(r[i].state, AIDEV_BACKEND_FAILED);
        ck_assert_ptr_nonnull(strstr(r[i].reason, "AIDEV_FAULTS='explode=1' does not parse"));
    }
    ck_assert(found);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

/* A graph command the backend's own graph fails (graphs=1: the ABI 1.3
 * entry; node_fail=2: the second command a graph submission runs): the
 * launch's event fails with a message naming the node and carrying the
 * backend's reason, the node before it ran, the one after it on its queue
 * and its dependent on the CPU device did not, an independent CPU node
 * did; the graph stays launchable and runs whole once the fault is gone. */
START_TEST(graph_native_node_failure)
{
    fault_setup f;
    fault_open(&f, "any_wait=1,graphs=1", NULL);
    aidev_queue q = queue_on(f.fault), qc = queue_on(f.cpu);
    aidev_buffer a = buffer_on(f.fault, 64), b = buffer_on(f.fault, 64);
    unsigned char src[64], out_a[64], out_b[64];
    memset(src, 0x5a, sizeof src);
    atomic_int dependent = 0, independent = 0;
    aidev_graph g;
    ck_assert_ok(aidev_graph_create(f.ctx, &g));
    aidev_graph_node n[4];
    ck_assert_ok(aidev_graph_add_write(g, q, a, 0, 64, src, 0, NULL, &n[0]));
    ck_assert_ok(aidev_graph_add_write(g, q, b, 0, 64, src, 0, NULL, &n[1]));
    ck_assert_ok(aidev_graph_add_read(g, q, a, 0, 64, out_a, 0, NULL, &n[2]));
    ck_assert_ok(aidev_graph_add_read(g, q, b, 0, 64, out_b, 0, NULL, &n[3]));
    ck_assert_ok(aidev_graph_add_host_callback(g, qc, count_call, &independent, 0, NULL, NULL));
    ck_assert_ok(aidev_graph_add_host_callback(g, qc, count_call, &dependent, 1, &n[3], NULL));
    aidev_graph_exec ex;
    ck_assert_ok(aidev_graph_instantiate(g, &ex));
    ck_assert_int_eq(f.configure("node_fail=2"), 0);
    memset(out_a, 0, sizeof out_a);
    memset(out_b, 0, sizeof out_b);
    aidev_event e;
    ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
    ck_assert_event_fails(e, AIDEV_ERROR_BACKEND, "graph node 1 (write");
    ck_assert_event_fails(e, AIDEV_ERROR_BACKEND, "graph command 1 (run 2) failed on purpose");
    ck_assert_ok(aidev_event_release(e));
    ck_assert_ok(aidev_queue_finish(qc));
    ck_assert_int_eq(atomic_load(&dependent), 0);
    ck_assert_int_eq(atomic_load(&independent), 1);
    ck_assert_int_eq(out_a[0], 0); /* node 2, after the failed one, did not run */
    ck_assert_int_eq(out_b[0], 0);
    /* Node 0 ran: the buffer it wrote holds its data. */
    ck_assert_ok(aidev_enqueue_read(q, a, 0, 64, out_a, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(out_a, src, sizeof out_a), 0);
    memset(out_a, 0, sizeof out_a);
    ck_assert_int_eq(f.configure(""), 0);
    ck_assert_ok(aidev_graph_launch(ex, 0, NULL, &e));
    ck_assert_ok(aidev_event_wait(e, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_release(e));
    ck_assert_int_eq(atomic_load(&dependent), 1);
    ck_assert_int_eq(memcmp(out_a, src, sizeof out_a), 0);
    ck_assert_int_eq(memcmp(out_b, src, sizeof out_b), 0);
    ck_assert_ok(aidev_graph_exec_release(ex));
    ck_assert_ok(aidev_graph_release(g));
    ck_assert_ok(aidev_buffer_release(a));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
    ck_assert_ok(aidev_queue_release(qc));
    fault_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, allocation_failure);
    tcase_add_loop_test(tc, refused_submission, 0, 2);
    tcase_add_loop_test(tc, failed_submission, 0, 2);
    tcase_add_test(tc, device_lost);
    tcase_add_loop_test(tc, release_with_work_pending, 0, 2);
    tcase_add_test(tc, bad_spec_fails_init);
    tcase_add_test(tc, graph_node_failure);
    tcase_add_test(tc, graph_native_node_failure);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

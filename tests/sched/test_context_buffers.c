/*
 * test_context_buffers.c - buffers of the context, valid on several devices
 * (aidev.h "Buffers on several devices", issue 16).
 *
 * Per device: data written on one device and read on another (the CPU
 * device, and the device itself), kernels on either side of a move, where
 * AIDEV_BUFFER_INFO_VALID_* says the copies are, what is refused. The DAGs
 * of bench/dag.h run with one context buffer per datum and a device per
 * task: the hal moves the data and orders the tasks, and the outputs must
 * equal the CPU device's run (bit-equal for the exact kernels and the
 * random DAGs, whose axpy by powers of two shows a doubled or lost write).
 * On the simulated mix of tests/sched/meson.build (A fast and far, B slow
 * and near, 4x apart) two cases make the hal's two easiest mistakes
 * visible: a write that does not wait for a copy being made of the old
 * contents, and a write that leaves another device's copy valid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "harness.h"

#define N 4096u

static aidev_device device_of_backend(const char *name, uint32_t nth)
{
    aidev_context ctx = harness_context();
    uint32_t n = 0, seen = 0;
    aidev_context_get_devices(ctx, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        char backend[32] = "";
        ck_assert_ok(aidev_context_get_device(ctx, i, &d));
        aidev_device_get_info(d, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
        if (strcmp(backend, name) == 0 && seen++ == nth)
            return d;
    }
    return NULL;
}

static aidev_device cpu_device(void)
{
    aidev_device d = device_of_backend("cpu", 0);
    ck_assert_msg(d != NULL, "no CPU device");
    return d;
}

static uint32_t device_index(aidev_device d)
{
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(d, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL));
    return index;
}

static bool uses_host_copy(aidev_device d)
{
    uint64_t f = 0;
    ck_assert_ok(aidev_device_get_info(d, AIDEV_DEVICE_INFO_FEATURES, sizeof f, &f, NULL));
    return (f & AIDEV_FEATURE_UNIFIED_MEMORY) && (f & AIDEV_FEATURE_HOST_IMPORT);
}

static aidev_buffer context_buffer(uint64_t bytes)
{
    aidev_buffer_desc desc = {.size = bytes, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_buffer b;
    ck_assert_ok(aidev_context_buffer_create(harness_context(), &desc, &b));
    return b;
}

static uint64_t valid_devices(aidev_buffer b)
{
    uint64_t mask = 0;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_VALID_DEVICES, sizeof mask, &mask,
                                       NULL));
    return mask;
}

static uint32_t valid_host(aidev_buffer b)
{
    uint32_t v = 2;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_VALID_HOST, sizeof v, &v, NULL));
    return v;
}

/* y = alpha * x on |q|'s device (the library's scale kernel). */
static void scale_on(aidev_queue q, aidev_device dev, aidev_buffer x, aidev_buffer y, float alpha)
{
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "scale", &k));
    aidev_arg args[4] = {aidev_arg_u32(N), aidev_arg_f32(alpha), aidev_arg_buffer(x, 0),
                         aidev_arg_buffer(y, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
    ck_assert_ok(aidev_kernel_release(k));
}

static void expect_all(const float *v, float want, const char *what)
{
    for (uint32_t i = 0; i < N; i++)
        ck_assert_msg(v[i] == want, "%s: element %u is %g, expected %g", what, i, v[i], want);
}

/* ------------------------------------------------------------------------ */
/* Per device                                                               */
/* ------------------------------------------------------------------------ */

/* Written on the device, scaled on the CPU device, scaled back on the
 * device, read on both: every read sees the last write, wherever it was. */
START_TEST(data_follow_the_commands)
{
    aidev_device dev = harness_device(_i), cpu = cpu_device();
    aidev_queue qd = harness_queue(dev), qc = harness_queue(cpu);
    aidev_buffer x = context_buffer(N * sizeof(float)), y = context_buffer(N * sizeof(float));
    /* A write's source stays as it is until the write has run. */
    float *host = malloc(N * sizeof *host), *threes = malloc(N * sizeof *threes);
    for (uint32_t i = 0; i < N; i++)
        host[i] = threes[i] = 3.0f;
    /* Zeros before anything wrote it, on either device. */
    ck_assert_ok(aidev_enqueue_read(qd, y, 0, N * sizeof(float), host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qd));
    expect_all(host, 0.0f, "a new context buffer read on the device");
    ck_assert_ok(aidev_enqueue_write(qd, x, 0, N * sizeof(float), threes, 0, NULL, NULL));
    scale_on(qc, cpu, x, y, 2.0f);        /* y = 6 on the CPU */
    scale_on(qd, dev, y, x, 0.5f);        /* x = 3 on the device, from the CPU's y */
    scale_on(qc, cpu, x, y, 4.0f);        /* y = 12 on the CPU, from the device's x */
    memset(host, 0, N * sizeof *host);
    ck_assert_ok(aidev_enqueue_read(qd, y, 0, N * sizeof(float), host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qd));
    expect_all(host, 12.0f, "y read on the device");
    memset(host, 0, N * sizeof *host);
    ck_assert_ok(aidev_enqueue_read(qc, x, 0, N * sizeof(float), host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qc));
    expect_all(host, 3.0f, "x read on the CPU device");
    ck_assert_ok(aidev_queue_finish(qd));
    free(host);
    free(threes);
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(y));
    ck_assert_ok(aidev_queue_release(qd));
    ck_assert_ok(aidev_queue_release(qc));
}
END_TEST

/* Where the valid copies are: a whole write on a device is valid there
 * only (and on every device sharing its memory), a read elsewhere adds a
 * copy, a write elsewhere leaves that one only. */
START_TEST(valid_copies_are_reported)
{
    aidev_device dev = harness_device(_i), cpu = cpu_device();
    uint32_t di = device_index(dev), ci = device_index(cpu);
    bool shares = uses_host_copy(dev);
    aidev_queue qd = harness_queue(dev), qc = harness_queue(cpu);
    aidev_buffer x = context_buffer(N * sizeof(float));
    uint64_t mask = valid_devices(x);
    ck_assert_msg((mask >> ci) & 1, "a new buffer: the host copy is valid for the CPU device");
    ck_assert_uint_eq(valid_host(x), 1);

    float *host = calloc(N, sizeof *host);
    ck_assert_ok(aidev_enqueue_write(qd, x, 0, N * sizeof(float), host, 0, NULL, NULL));
    mask = valid_devices(x);
    ck_assert_msg((mask >> di) & 1, "written on device %u: mask %#llx", di,
                  (unsigned long long)mask);
    ck_assert_uint_eq(valid_host(x), shares);
    ck_assert_uint_eq((mask >> ci) & 1, shares || di == ci);

    ck_assert_ok(aidev_enqueue_read(qc, x, 0, N * sizeof(float), host, 0, NULL, NULL));
    mask = valid_devices(x);
    ck_assert_msg(((mask >> di) & 1) && ((mask >> ci) & 1),
                  "read on the CPU device after a write on device %u: mask %#llx", di,
                  (unsigned long long)mask);
    ck_assert_uint_eq(valid_host(x), 1);

    scale_on(qc, cpu, x, x, 1.0f); /* an in-place write on the CPU device */
    mask = valid_devices(x);
    ck_assert_uint_eq((mask >> di) & 1, shares || di == ci);
    ck_assert_ok(aidev_queue_finish(qd));
    ck_assert_ok(aidev_queue_finish(qc));
    free(host);
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_queue_release(qd));
    ck_assert_ok(aidev_queue_release(qc));
}
END_TEST

/* A part written on one device keeps the rest written on another: a
 * partial write first brings the device a valid copy. */
START_TEST(partial_writes_keep_the_rest)
{
    aidev_device dev = harness_device(_i), cpu = cpu_device();
    aidev_queue qd = harness_queue(dev), qc = harness_queue(cpu);
    aidev_buffer x = context_buffer(N * sizeof(float));
    float *host = malloc(N * sizeof *host), *ramp = malloc(N * sizeof *ramp);
    for (uint32_t i = 0; i < N; i++)
        ramp[i] = (float)i;
    ck_assert_ok(aidev_enqueue_write(qc, x, 0, N * sizeof(float), ramp, 0, NULL, NULL));
    float sevens[16] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    ck_assert_ok(aidev_enqueue_write(qd, x, 64 * sizeof(float), sizeof sevens, sevens, 0, NULL,
                                     NULL));
    uint32_t pattern = 0x40000000; /* 2.0f */
    ck_assert_ok(aidev_enqueue_fill(qc, x, 128 * sizeof(float), 16 * sizeof(float), &pattern,
                                    4, 0, NULL, NULL));
    memset(host, 0, N * sizeof *host);
    ck_assert_ok(aidev_enqueue_read(qd, x, 0, N * sizeof(float), host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qd));
    for (uint32_t i = 0; i < N; i++) {
        float want = i >= 64 && i < 80 ? 7.0f : i >= 128 && i < 144 ? 2.0f : (float)i;
        ck_assert_msg(host[i] == want, "element %u: %g, expected %g", i, host[i], want);
    }
    ck_assert_ok(aidev_queue_finish(qc));
    free(host);
    free(ramp);
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_queue_release(qd));
    ck_assert_ok(aidev_queue_release(qc));
}
END_TEST

/* What takes device buffers only refuses a context buffer with a message,
 * and the context buffer's own checks name their argument. */
START_TEST(refusals_name_the_context_buffer)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer x = context_buffer(N * sizeof(float));
    void *ptr;
    ck_assert_error_names(aidev_buffer_map(x, 0, 16, AIDEV_MAP_READ, &ptr),
                          AIDEV_ERROR_INVALID_HANDLE, "context buffer");
    aidev_device owner;
    ck_assert_error_names(aidev_buffer_get_info(x, AIDEV_BUFFER_INFO_DEVICE, sizeof owner,
                                                &owner, NULL),
                          AIDEV_ERROR_UNSUPPORTED, "VALID_DEVICES");
    uint64_t size = 0;
    ck_assert_ok(aidev_buffer_get_info(x, AIDEV_BUFFER_INFO_SIZE, sizeof size, &size, NULL));
    ck_assert_uint_eq(size, N * sizeof(float));

    aidev_graph g;
    ck_assert_ok(aidev_graph_create(harness_context(), &g));
    float v[4] = {0};
    ck_assert_error_names(aidev_graph_add_write(g, q, x, 0, sizeof v, v, 0, NULL, NULL),
                          AIDEV_ERROR_UNSUPPORTED, "graph");
    ck_assert_ok(aidev_queue_begin_capture(q, g));
    ck_assert_error_names(aidev_enqueue_write(q, x, 0, sizeof v, v, 0, NULL, NULL),
                          AIDEV_ERROR_UNSUPPORTED, "graph");
    ck_assert_ok(aidev_queue_end_capture(q));
    ck_assert_ok(aidev_graph_release(g));

    aidev_buffer_desc desc = {.size = 64, .kind = AIDEV_MEMORY_HOST};
    aidev_buffer y;
    ck_assert_error_names(aidev_context_buffer_create(harness_context(), &desc, &y),
                          AIDEV_ERROR_INVALID_ARGUMENT, "desc->kind");
    desc = (aidev_buffer_desc){.size = 6, .element_type = AIDEV_TYPE_F32};
    ck_assert_error_names(aidev_context_buffer_create(harness_context(), &desc, &y),
                          AIDEV_ERROR_INVALID_ARGUMENT, "desc->size");
    desc = (aidev_buffer_desc){.size = 64, .flags = 1u << 30};
    ck_assert_error_names(aidev_context_buffer_create(harness_context(), &desc, &y),
                          AIDEV_ERROR_INVALID_ARGUMENT, "desc->flags");
    ck_assert_error_names(aidev_context_buffer_create(NULL, &desc, &y),
                          AIDEV_ERROR_INVALID_HANDLE, "context");
    /* Out of range on the device's copy: the range check of any buffer. */
    ck_assert_error_names(aidev_enqueue_write(q, x, N * sizeof(float), 4, v, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "buffer");
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_status(aidev_buffer_release(x), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The DAGs, the hal keeping the copies                                     */
/* ------------------------------------------------------------------------ */

static dag *make_dag(int which, uint64_t seed)
{
    switch (which) {
    case 0: return dag_tiled_sgemm(256, 64, seed);
    case 1: return dag_elementwise(16384, 2, 6, seed);
    case 2: return dag_reduction(16384, 8, seed);
    case 3: return dag_mix(128, 64, 8192, seed);
    default: return dag_random(12, 48, 1024, seed);
    }
}
#define DAG_KINDS 5

/* The DAG's reference: every task on the CPU device, explicit copies. */
static dag_runner *reference_run(const dag *g)
{
    aidev_device cpu = cpu_device();
    dag_run_options opt = {.share_host_memory = true};
    dag_runner *r;
    ck_assert_ok(dag_runner_create(g, &cpu, 1, &opt, &r));
    uint32_t *place = calloc(g->task_count, sizeof *place);
    ck_assert_ok(dag_runner_run(r, place, NULL, NULL));
    free(place);
    return r;
}

/* Runs |g| on context buffers placed by |place| and checks it against
 * |ref|; twice, so that copies left valid by a run are used by the next. */
static void run_on_context_buffers(const dag *g, const aidev_device *devices, uint32_t count,
                                   const uint32_t *place, const int32_t *home,
                                   const dag_runner *ref, const char *how)
{
    dag_run_options opt = {.context_buffers = true};
    dag_runner *r;
    ck_assert_ok(dag_runner_create(g, devices, count, &opt, &r));
    for (int run = 0; run < 2; run++) {
        ck_assert_msg(dag_runner_run(r, place, home, NULL) == AIDEV_SUCCESS,
                      "%s %s run %d failed: %s", g->name, how, run, aidev_last_error());
        char why[512];
        ck_assert_msg(dag_runner_agree(r, ref, why, sizeof why), "%s, %s, run %d: %s", g->name,
                      how, run, why);
    }
    dag_runner_destroy(r);
}

START_TEST(dags_on_context_buffers_agree)
{
    aidev_device pair[2] = {harness_device(_i), cpu_device()};
    for (int which = 0; which < DAG_KINDS; which++) {
        dag *g = make_dag(which, 31 + (uint64_t)which);
        ck_assert_ptr_nonnull(g);
        dag_runner *ref = reference_run(g);
        uint32_t *place = calloc(g->task_count, sizeof *place);
        run_on_context_buffers(g, pair, 1, place, NULL, ref, "all on the device");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = g->tasks[t].part;
        run_on_context_buffers(g, pair, 2, place, NULL, ref, "split by part with the CPU");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = (t * 7 + 3) % 5 < 2;
        run_on_context_buffers(g, pair, 2, place, NULL, ref, "task by task with the CPU");
        free(place);
        dag_runner_destroy(ref);
        dag_free(g);
    }
}
END_TEST

START_TEST(random_dags_on_context_buffers_agree)
{
    aidev_device pair[2] = {harness_device(_i), cpu_device()};
    for (uint64_t seed = 1; seed <= 6; seed++) {
        dag *g = dag_random(10, 40, 2048, seed);
        ck_assert_ptr_nonnull(g);
        dag_runner *ref = reference_run(g);
        uint32_t *place = calloc(g->task_count, sizeof *place);
        uint64_t x = seed * 2654435761u;
        for (uint32_t t = 0; t < g->task_count; t++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            place[t] = (uint32_t)(x >> 63);
        }
        char how[64];
        snprintf(how, sizeof how, "seed %llu, random placement", (unsigned long long)seed);
        run_on_context_buffers(g, pair, 2, place, NULL, ref, how);
        free(place);
        dag_runner_destroy(ref);
        dag_free(g);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The simulated mix                                                        */
/* ------------------------------------------------------------------------ */

static void sim_pair(aidev_device out[2])
{
    out[0] = device_of_backend("sim", 0);
    out[1] = device_of_backend("sim", 1);
    ck_assert_msg(out[0] && out[1],
                  "AIDEV_SIM_DEVICES should give two simulated devices (tests/sched/meson.build)");
}

START_TEST(simulated_mix_dags_agree)
{
    aidev_device sims[2];
    sim_pair(sims);
    for (int which = 0; which < DAG_KINDS; which++) {
        dag *g = make_dag(which, 131 + (uint64_t)which);
        ck_assert_ptr_nonnull(g);
        dag_runner *ref = reference_run(g);
        uint32_t *place = calloc(g->task_count, sizeof *place);
        int32_t *home = calloc(g->data_count, sizeof *home);
        for (uint32_t i = 0; i < g->data_count; i++)
            home[i] = 1;
        run_on_context_buffers(g, sims, 2, place, home, ref, "all on A, data on B");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = g->tasks[t].part;
        run_on_context_buffers(g, sims, 2, place, home, ref, "parts split, data on B");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = (t * 5 + 1) % 3 == 0;
        run_on_context_buffers(g, sims, 2, place, NULL, ref, "task by task");
        free(home);
        free(place);
        dag_runner_destroy(ref);
        dag_free(g);
    }
}
END_TEST

/* Write after read across devices. x is written on A (far: a copy of its
 * own) behind a user event; B reads it, so x must first travel from A to
 * the host, on A's transfer queue, behind a long transfer of another
 * buffer; then A overwrites x. The overwrite must wait for the copy out of
 * A to have read x, or B sees the new contents. */
START_TEST(a_write_waits_for_the_copy_of_the_old_contents)
{
    aidev_device sims[2];
    sim_pair(sims);
    aidev_queue qa = harness_queue(sims[0]), qb = harness_queue(sims[1]);
    const uint64_t big_n = 4u << 20; /* 16 MiB: 8 ms on A's 2 GB/s link */
    aidev_buffer big = context_buffer(big_n * sizeof(float));
    aidev_buffer x = context_buffer(N * sizeof(float)), y = context_buffer(N * sizeof(float));
    aidev_buffer yb = context_buffer(big_n * sizeof(float));
    aidev_event gate;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    float *host = malloc(N * sizeof *host), *ones = malloc(N * sizeof *ones);
    for (uint32_t i = 0; i < N; i++)
        ones[i] = 1.0f;
    /* big and x valid on A only, both written after the gate. */
    uint32_t one = 0x3f800000;
    ck_assert_ok(aidev_enqueue_fill(qa, big, 0, big_n * sizeof(float), &one, 4, 1, &gate, NULL));
    ck_assert_ok(aidev_enqueue_write(qa, x, 0, N * sizeof(float), ones, 0, NULL, NULL));
    /* B reads big, then x: both copies out of A queue on A's transfer queue,
     * x's behind big's. */
    aidev_kernel kb;
    ck_assert_ok(aidev_kernel_get(sims[1], "copy_f32", &kb));
    aidev_arg big_args[3] = {aidev_arg_u32((uint32_t)big_n), aidev_arg_buffer(big, 0),
                             aidev_arg_buffer(yb, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(qb, kb, NULL, NULL, 3, big_args, 0, NULL, NULL));
    scale_on(qb, sims[1], x, y, 1.0f); /* y = x on B: the old contents, 1 */
    /* A overwrites x at once (a kernel on A's compute engine). */
    scale_on(qa, sims[0], x, x, 8.0f);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    memset(host, 0, N * sizeof *host);
    ck_assert_ok(aidev_enqueue_read(qb, y, 0, N * sizeof(float), host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qb));
    expect_all(host, 1.0f, "y, a copy of x made on B before A overwrote x");
    ck_assert_ok(aidev_enqueue_read(qb, x, 0, N * sizeof(float), host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qb));
    expect_all(host, 8.0f, "x read on B after A overwrote it");
    ck_assert_ok(aidev_queue_finish(qa));
    ck_assert_ok(aidev_kernel_release(kb));
    ck_assert_ok(aidev_event_release(gate));
    aidev_buffer all[4] = {big, x, y, yb};
    for (int i = 0; i < 4; i++)
        ck_assert_ok(aidev_buffer_release(all[i]));
    ck_assert_ok(aidev_queue_release(qa));
    ck_assert_ok(aidev_queue_release(qb));
    free(host);
    free(ones);
}
END_TEST

/* A write on one device makes the other's copy stale: x copied to A and
 * B, then written on B; a read on A sees B's write. */
START_TEST(a_write_invalidates_the_other_copies)
{
    aidev_device sims[2];
    sim_pair(sims);
    aidev_queue qa = harness_queue(sims[0]), qb = harness_queue(sims[1]);
    aidev_buffer x = context_buffer(N * sizeof(float)), y = context_buffer(N * sizeof(float));
    float *host = malloc(N * sizeof *host), *fives = malloc(N * sizeof *fives);
    for (uint32_t i = 0; i < N; i++)
        fives[i] = 5.0f;
    ck_assert_ok(aidev_enqueue_write(qb, x, 0, N * sizeof(float), fives, 0, NULL, NULL));
    scale_on(qa, sims[0], x, y, 1.0f); /* x now valid on A and B */
    ck_assert_msg((valid_devices(x) >> device_index(sims[0])) & 1, "x read on A is valid on A");
    scale_on(qb, sims[1], y, x, 3.0f); /* B writes x: A's copy is stale */
    ck_assert_uint_eq((valid_devices(x) >> device_index(sims[0])) & 1, 0);
    memset(host, 0, N * sizeof *host);
    ck_assert_ok(aidev_enqueue_read(qa, x, 0, N * sizeof(float), host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qa));
    expect_all(host, 15.0f, "x read on A after B wrote it");
    ck_assert_ok(aidev_queue_finish(qb));
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(y));
    ck_assert_ok(aidev_queue_release(qa));
    ck_assert_ok(aidev_queue_release(qb));
    free(host);
    free(fives);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("context-buffers");
    harness_add_per_device(s, "data_follow_the_commands", data_follow_the_commands, 120);
    harness_add_per_device(s, "valid_copies_are_reported", valid_copies_are_reported, 120);
    harness_add_per_device(s, "partial_writes_keep_the_rest", partial_writes_keep_the_rest, 120);
    harness_add_per_device(s, "refusals_name_the_context_buffer",
                           refusals_name_the_context_buffer, 120);
    harness_add_per_device(s, "dags_on_context_buffers_agree", dags_on_context_buffers_agree,
                           600);
    harness_add_per_device(s, "random_dags_on_context_buffers_agree",
                           random_dags_on_context_buffers_agree, 600);
    TCase *tc = tcase_create("simulated_mix");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, simulated_mix_dags_agree);
    tcase_add_test(tc, a_write_waits_for_the_copy_of_the_old_contents);
    tcase_add_test(tc, a_write_invalidates_the_other_copies);
    suite_add_tcase(s, tc);
    return harness_run(s);
}

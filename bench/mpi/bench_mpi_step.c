/*
 * bench_mpi_step.c - a training step's communication overlapped with its
 * compute, against the same step communicating after it.
 *
 * The step is a backward pass over |layers| layers: one sgemm per layer
 * writes that layer's gradient (m x n floats) into one flat gradient buffer,
 * last layer first, on a compute queue. The gradients are then summed over
 * the ranks with aidev_mpi_allreduce_buckets, one bucket per layer, on the
 * communicator's own queue. Overlapped, each bucket waits for its layer's
 * sgemm only, so layer L's gradient travels while layer L-1's is computed;
 * serialised, every bucket waits for the last sgemm. Everything else is the
 * same: the ratio is what overlap saves.
 *
 * Overlap saves most when compute and communication take about as long, so
 * the sgemm's inner dimension k is first sized so that the step's compute
 * alone takes as long as its communication alone (rank 0 decides, every
 * rank uses its k); mpi.train_step_balance reports the two.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_mpi.h"

#define MAX_LAYERS 8
#define K_MIN 8u
#define K_MAX 2048u

typedef struct train_step {
    aidev_queue compute, comm_queue;
    aidev_mpi_comm comm;
    aidev_kernel sgemm;
    aidev_buffer a, b, grad;
    uint32_t layers, m, n, k;
} train_step;

static uint64_t layer_offset(const train_step *s, uint32_t layer)
{
    return (uint64_t)layer * s->m * s->n * sizeof(float);
}

/* The backward pass: layer |layers|-1 first; |done[l]| is layer l's. */
static bool enqueue_backward(train_step *s, aidev_event *done)
{
    for (uint32_t i = 0; i < s->layers; i++) {
        uint32_t l = s->layers - 1 - i;
        aidev_arg args[] = {aidev_arg_u32(s->m), aidev_arg_u32(s->n), aidev_arg_u32(s->k),
                            aidev_arg_f32(1.0f), aidev_arg_f32(0.0f), aidev_arg_buffer(s->a, 0),
                            aidev_arg_buffer(s->b, 0),
                            aidev_arg_buffer(s->grad, layer_offset(s, l))};
        if (!bench_mpi_check(aidev_enqueue_dispatch(s->compute, s->sgemm, NULL, NULL, 8, args, 0,
                                                    NULL, &done[l]),
                             "sgemm"))
            return false;
    }
    return true;
}

typedef enum step_mode { STEP_OVERLAPPED, STEP_SERIAL, STEP_COMPUTE_ONLY, STEP_COMM_ONLY } step_mode;

/* One step in |mode|, started together on every rank: its milliseconds, or
 * NaN on failure. */
static double run_step(train_step *s, step_mode mode)
{
    aidev_event done[MAX_LAYERS] = {0}, all = NULL;
    aidev_mpi_range ranges[MAX_LAYERS];
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now();
    bool ok = mode == STEP_COMM_ONLY || enqueue_backward(s, done);
    for (uint32_t i = 0; ok && i < s->layers; i++) {
        uint32_t l = s->layers - 1 - i;
        aidev_event ready = mode == STEP_OVERLAPPED ? done[l] : mode == STEP_SERIAL ? done[0] : NULL;
        ranges[i] = (aidev_mpi_range){layer_offset(s, l), (uint64_t)s->m * s->n, ready};
    }
    if (ok && mode != STEP_COMPUTE_ONLY)
        ok = bench_mpi_check(aidev_mpi_allreduce_buckets(s->comm, s->grad, AIDEV_TYPE_F32,
                                                         AIDEV_MPI_SUM,
                                                         layer_offset(s, 1), s->layers, ranges,
                                                         NULL, &all),
                             "aidev_mpi_allreduce_buckets");
    aidev_event last = mode == STEP_COMPUTE_ONLY ? done[0] : all;
    ok = ok && bench_mpi_check(aidev_event_wait(last, AIDEV_WAIT_FOREVER), "the step");
    double ms = (bench_now() - t0) * 1e3;
    for (uint32_t l = 0; l < s->layers; l++)
        if (done[l])
            aidev_event_release(done[l]);
    if (all)
        aidev_event_release(all);
    return ok ? ms : NAN;
}

static double median_step(train_step *s, step_mode mode, int reps)
{
    double samples[16];
    run_step(s, mode); /* warm-up */
    for (int r = 0; r < reps; r++)
        samples[r] = run_step(s, mode);
    return bench_median(samples, reps);
}

/* The k at which compute alone takes as long as communication alone,
 * decided by rank 0 for every rank. */
static void balance_k(train_step *s)
{
    s->k = 64;
    double comm = median_step(s, STEP_COMM_ONLY, 3);
    /* Twice: compute time is not quite linear in k (small products). */
    for (int round = 0; round < 2; round++) {
        double compute = median_step(s, STEP_COMPUTE_ONLY, 3);
        double k = isfinite(compute) && compute > 0 ? s->k * comm / compute : s->k;
        unsigned chosen = k < K_MIN ? K_MIN : k > K_MAX ? K_MAX : (unsigned)k;
        MPI_Bcast(&chosen, 1, MPI_UNSIGNED, 0, MPI_COMM_WORLD);
        s->k = chosen;
    }
}

static bool step_setup(train_step *s, aidev_device dev, const bench_options *opt)
{
    s->layers = opt->quick ? 3 : 4;
    s->m = s->n = opt->quick ? 64 : 1024; /* 4 MiB of gradient per layer */
    aidev_buffer_desc a = {.size = (uint64_t)s->m * K_MAX * 4, .kind = AIDEV_MEMORY_DEVICE,
                           .element_type = AIDEV_TYPE_F32};
    aidev_buffer_desc b = {.size = (uint64_t)K_MAX * s->n * 4, .kind = AIDEV_MEMORY_DEVICE,
                           .element_type = AIDEV_TYPE_F32};
    aidev_buffer_desc g = {.size = layer_offset(s, s->layers), .kind = AIDEV_MEMORY_DEVICE,
                           .element_type = AIDEV_TYPE_F32};
    bool ok = bench_mpi_check(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &s->compute),
                              "queue") &&
              bench_mpi_check(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL,
                                                 &s->comm_queue), "queue") &&
              bench_mpi_check(aidev_kernel_get(dev, "sgemm", &s->sgemm), "sgemm") &&
              bench_mpi_check(aidev_buffer_create(dev, &a, &s->a), "buffer") &&
              bench_mpi_check(aidev_buffer_create(dev, &b, &s->b), "buffer") &&
              bench_mpi_check(aidev_buffer_create(dev, &g, &s->grad), "buffer");
    if (!ok)
        return false;
    float small = 0.01f;
    aidev_enqueue_fill(s->compute, s->a, 0, a.size, &small, sizeof small, 0, NULL, NULL);
    aidev_enqueue_fill(s->compute, s->b, 0, b.size, &small, sizeof small, 0, NULL, NULL);
    return bench_mpi_check(aidev_queue_finish(s->compute), "fill");
}

static void step_teardown(train_step *s)
{
    if (s->comm)
        aidev_mpi_comm_release(s->comm);
    aidev_buffer *buffers[] = {&s->a, &s->b, &s->grad};
    for (int i = 0; i < 3; i++)
        if (*buffers[i])
            aidev_buffer_release(*buffers[i]);
    if (s->sgemm)
        aidev_kernel_release(s->sgemm);
    if (s->comm_queue)
        aidev_queue_release(s->comm_queue);
    if (s->compute)
        aidev_queue_release(s->compute);
}

static void emit(const bench_options *opt, aidev_device dev, const char *name, const char *unit,
                 double value, const char *baseline, double baseline_value)
{
    char device[256], backend[64];
    bench_device_names(dev, device, sizeof device, backend, sizeof backend);
    if (bench_mpi_rank != 0 || !(value > 0) || !(baseline_value > 0))
        return;
    bench_row row = {.name = name, .device = device, .backend = backend, .value = value,
                     .unit = unit, .baseline = baseline, .baseline_value = baseline_value};
    bench_emit(opt, &row);
}

void bench_mpi_train_step(const bench_options *opt, aidev_device dev)
{
    train_step s = {0};
    bool ok = step_setup(&s, dev, opt);
    /* Collective: every rank makes it, whatever happened above. */
    ok &= bench_mpi_check(aidev_mpi_comm_create(MPI_COMM_WORLD, s.comm_queue ? s.comm_queue
                                                                             : s.compute,
                                                NULL, &s.comm),
                          "comm");
    int all_ok = ok, every = 0;
    MPI_Allreduce(&all_ok, &every, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (every) {
        const int reps = opt->quick ? 2 : 7;
        balance_k(&s);
        double compute = median_step(&s, STEP_COMPUTE_ONLY, reps);
        double comm = median_step(&s, STEP_COMM_ONLY, reps);
        double samples[2][16];
        for (int r = 0; r < reps; r++) { /* interleaved: drift hits both */
            samples[0][r] = run_step(&s, STEP_OVERLAPPED);
            samples[1][r] = run_step(&s, STEP_SERIAL);
        }
        double overlapped = bench_median(samples[0], reps);
        double serial = bench_median(samples[1], reps);
        if (bench_selected(opt, "mpi.train_step_overlap"))
            emit(opt, dev, "mpi.train_step_overlap", "ms per step (lower is better)", overlapped,
                 "the same step, reducing after compute", serial);
        if (bench_selected(opt, "mpi.train_step_balance"))
            emit(opt, dev, "mpi.train_step_balance", "ms of compute alone", compute,
                 "ms of its communication alone", comm);
        if (bench_mpi_rank == 0 && !opt->json)
            printf("%-34s   (%u layers of %ux%u gradients, sgemm k = %u)\n", "", s.layers, s.m,
                   s.n, s.k);
    }
    step_teardown(&s);
}

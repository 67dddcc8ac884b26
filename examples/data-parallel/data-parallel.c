/*
 * data-parallel - data-parallel training of a small MLP over MPI ranks,
 * each rank on the aidev device it picks, gradients summed by libaidev-mpi
 * while the backward pass goes on (examples/data-parallel/mlp.c).
 *
 *   mpirun -np N data-parallel [--steps S] [--batch B] [--device auto|rank|INDEX]
 *
 * Every rank trains on its own B samples of one global batch of N * B; the
 * initial parameters are rank 0's, broadcast. After S steps:
 *   - every rank's parameters are gathered (aidev_mpi_allgather) and must
 *     be the same bits on every rank: the gradients every rank applies are
 *     the same all-reduced bits, and the update is two exactly rounded
 *     kernels;
 *   - rank 0 trains the same model in one process on the whole batch of
 *     N * B samples (no MPI) and the two must agree within
 *     |p - p_ref| <= 1e-6 + 1e-5 |p_ref| per parameter: they differ only
 *     in the order the per-sample terms of each gradient are added (per
 *     rank then across ranks, or all at once), each order rounding in f32,
 *     and the ranks may run on devices whose kernels round differently
 *     within their documented accuracy;
 *   - the loss must have dropped.
 * The exit status is 0 when all three hold.
 *
 * --device auto: aidev_device_select's choice (a GPU first); rank: the
 * device at index rank % devices, so ranks spread over every device and
 * backend; INDEX: that device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#define ABS_TOLERANCE 1e-6
#define REL_TOLERANCE 1e-5

/* A deterministic value in [-1, 1) for (stream, index). */
static float noise(uint64_t stream, uint64_t index)
{
    uint64_t z = stream * 0x9e3779b97f4a7c15ull + index * 0xbf58476d1ce4e5b9ull + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) * 0x1p-52 - 1.0);
}

/* Samples |first| .. |first| + |count| of the global data set: inputs in
 * [-1, 1), targets a fixed smooth function of them. */
static void make_samples(uint32_t first, uint32_t count, float *x, float *t)
{
    for (uint32_t s = 0; s < count; s++) {
        float *xs = x + (size_t)s * MLP_IN;
        for (int j = 0; j < MLP_IN; j++)
            xs[j] = noise(1, (uint64_t)(first + s) * MLP_IN + (uint64_t)j);
        for (int o = 0; o < MLP_OUT; o++) {
            double acc = 0;
            for (int j = 0; j < MLP_IN; j++)
                acc += noise(2, (uint64_t)o * MLP_IN + (uint64_t)j) * xs[j];
            t[(size_t)s * MLP_OUT + (size_t)o] = (float)tanh(acc);
        }
    }
}

static void initial_params(float *p)
{
    for (int i = 0; i < MLP_PARAMS; i++) {
        double fan_in = i < MLP_W2 ? MLP_IN : MLP_HIDDEN;
        p[i] = (float)(noise(3, (uint64_t)i) / sqrt(fan_in));
    }
}

static aidev_device pick_device(aidev_context ctx, const char *how, int rank)
{
    aidev_device dev;
    if (strcmp(how, "auto") == 0) {
        must(aidev_device_select(ctx, NULL, &dev), "aidev_device_select");
        return dev;
    }
    uint32_t count = 0;
    must(aidev_context_get_devices(ctx, &count, NULL), "aidev_context_get_devices");
    uint32_t index = strcmp(how, "rank") == 0 ? (uint32_t)rank % count : (uint32_t)atoi(how);
    must(aidev_context_get_device(ctx, index, &dev), "--device");
    return dev;
}

typedef struct options {
    uint32_t steps, batch;
    const char *device;
} options;

static options parse(int argc, char **argv)
{
    options o = {.steps = 30, .batch = 48, .device = "auto"};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--steps") == 0)
            o.steps = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            o.batch = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--device") == 0)
            o.device = argv[i + 1];
    }
    if (!o.steps || !o.batch) {
        fprintf(stderr, "usage: data-parallel [--steps S] [--batch B] "
                        "[--device auto|rank|INDEX]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return o;
}

/* Gathers every rank's parameters on every rank; true when they are the
 * same bits as this rank's. */
static bool params_identical(mlp *m, int size, const float *mine)
{
    aidev_buffer_desc desc = {.size = (uint64_t)size * MLP_PARAMS * 4,
                              .kind = AIDEV_MEMORY_DEVICE, .element_type = AIDEV_TYPE_F32};
    aidev_buffer all;
    must(aidev_buffer_create(m->dev, &desc, &all), "aidev_buffer_create");
    aidev_event gathered;
    must(aidev_mpi_allgather(m->comm, m->params, 0, all, 0, MLP_PARAMS, AIDEV_TYPE_F32, 0, NULL,
                             &gathered), "aidev_mpi_allgather");
    float *host = malloc(desc.size);
    must(host ? aidev_enqueue_read(m->comm_queue, all, 0, desc.size, host, 1, &gathered, NULL)
              : AIDEV_ERROR_OUT_OF_HOST_MEMORY, "read");
    must(aidev_queue_finish(m->comm_queue), "the gather");
    bool same = true;
    for (int r = 0; r < size; r++)
        if (memcmp(host + (size_t)r * MLP_PARAMS, mine, MLP_PARAMS * 4) != 0) {
            fprintf(stderr, "data-parallel: rank %d's parameters differ from this rank's\n", r);
            same = false;
        }
    free(host);
    aidev_event_release(gathered);
    aidev_buffer_release(all);
    return same;
}

/* Rank 0: the same training in one process on all |size| * |batch| samples. */
static bool matches_one_process(aidev_device dev, const options *o, int size, const float *got)
{
    const uint32_t total = (uint32_t)size * o->batch;
    float *x = malloc((size_t)total * MLP_IN * 4), *t = malloc((size_t)total * MLP_OUT * 4);
    float p[MLP_PARAMS], ref[MLP_PARAMS];
    if (!x || !t)
        must(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "the reference");
    make_samples(0, total, x, t);
    initial_params(p);
    mlp one;
    mlp_create(&one, dev, MPI_COMM_NULL, x, t, total, total, 0.05f);
    mlp_set_params(&one, p, -1);
    for (uint32_t s = 0; s < o->steps; s++)
        mlp_step(&one, NULL);
    mlp_get_params(&one, ref);
    mlp_release(&one);
    free(x);
    free(t);
    double worst = 0;
    int at = 0;
    bool ok = true;
    for (int i = 0; i < MLP_PARAMS; i++) {
        double err = fabs((double)got[i] - ref[i]);
        double limit = ABS_TOLERANCE + REL_TOLERANCE * fabs(ref[i]);
        ok &= err <= limit;
        if (err > worst)
            worst = err, at = i;
    }
    printf("one process on %u samples: largest difference %.3g at parameter %d (%.9g vs %.9g)"
           ", tolerance %g + %g |p|: %s\n",
           total, worst, at, got[at], ref[at], ABS_TOLERANCE, REL_TOLERANCE,
           ok ? "ok" : "FAILED");
    return ok;
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    options o = parse(argc, argv);

    aidev_context ctx;
    must(aidev_context_create(NULL, &ctx), "aidev_context_create");
    aidev_device dev = pick_device(ctx, o.device, rank);
    char name[256] = "", backend[32] = "";
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
    printf("rank %d of %d: %s (%s)\n", rank, size, name, backend);
    fflush(stdout);

    float *x = malloc((size_t)o.batch * MLP_IN * 4), *t = malloc((size_t)o.batch * MLP_OUT * 4);
    float p[MLP_PARAMS];
    if (!x || !t)
        must(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "the samples");
    make_samples((uint32_t)rank * o.batch, o.batch, x, t);
    initial_params(p);
    mlp m;
    mlp_create(&m, dev, MPI_COMM_WORLD, x, t, o.batch, (uint32_t)size * o.batch, 0.05f);
    mlp_set_params(&m, rank == 0 ? p : NULL, 0); /* rank 0's, on every rank */

    double first = 0, last = 0, local;
    for (uint32_t s = 0; s < o.steps; s++) {
        bool report = s == 0 || s + 1 == o.steps;
        mlp_step(&m, report ? &local : NULL);
        if (report)
            MPI_Allreduce(MPI_IN_PLACE, &local, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (s == 0)
            first = local;
        last = local;
    }
    float got[MLP_PARAMS];
    mlp_get_params(&m, got);
    bool ok = params_identical(&m, size, got);
    if (rank == 0) {
        printf("loss %.6f after the first step, %.6f after step %u: %s\n", first, last, o.steps,
               last < first ? "dropped" : "did NOT drop");
        printf("parameters on %d ranks: %s\n", size, ok ? "identical bits" : "DIFFER");
        ok &= last < first;
        ok &= matches_one_process(dev, &o, size, got);
    }
    mlp_release(&m);
    aidev_context_release(ctx);
    free(x);
    free(t);
    int all_ok = ok, every = 0;
    MPI_Allreduce(&all_ok, &every, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    MPI_Finalize();
    return every ? 0 : 1;
}

/*
 * aidev-bench-mpi - libaidev-mpi measured against plain MPI in the same
 * run, under mpirun:
 *
 *   mpirun -np 2 aidev-bench-mpi [--json] [--quick] [--only SUBSTRING]
 *
 * Every rank runs every row on every device, in the same order (they are
 * collectives); rank 0 prints the rows, in aidev-bench's format, so the
 * bench-rows test joins both programs' JSON arrays into one list.
 *
 *   mpi.allreduce_64M          an in-place all-reduce (sum) of a 64 MiB f32
 *                              aidev buffer whose memory MPI reaches in
 *                              place, against MPI_Allreduce on malloc'd
 *                              memory of the same size;
 *   mpi.allreduce_64M_vs_chunked
 *                              the same in-place all-reduce against what it
 *                              does written with plain MPI (MPI_Iallreduce in
 *                              4 MiB chunks, two in flight, malloc'd memory):
 *                              what the library itself costs. (Open MPI's
 *                              MPI_Allreduce of 64 MiB in one call ran ten
 *                              times slower than in 4 MiB calls here.)
 *   mpi.allreduce_64M_staged   the same buffer forced through the staging
 *                              chunks (what device memory costs), against
 *                              the same baseline;
 *   mpi.train_step_overlap     a backward pass whose gradients are reduced
 *                              in buckets as each layer's is ready, against
 *                              the same step reducing after the last layer
 *                              (bench_mpi_step.c);
 *   mpi.train_step_balance     that step's compute alone against its
 *                              communication alone: near 1 says the overlap
 *                              row was measured where it matters most.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_mpi.h"

int bench_mpi_rank;

bool bench_mpi_check(aidev_status st, const char *what)
{
    if (st == AIDEV_SUCCESS)
        return true;
    fprintf(stderr, "aidev-bench-mpi: rank %d: %s: %s %s%s\n", bench_mpi_rank, what,
            aidev_status_string(st), aidev_last_error(), aidev_mpi_last_error());
    return false;
}

/* A buffer of |bytes| on |dev| whose memory MPI takes in place: the first
 * kind with a host address. NULL when the device has none. */
static aidev_buffer in_place_buffer(aidev_device dev, uint64_t bytes, const char **kind_name)
{
    static const aidev_memory_kind kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_SHARED,
                                              AIDEV_MEMORY_HOST};
    static const char *names[] = {"DEVICE", "SHARED", "HOST"};
    for (int k = 0; k < 3; k++) {
        aidev_buffer_desc desc = {.size = bytes, .kind = kinds[k],
                                  .element_type = AIDEV_TYPE_F32};
        aidev_buffer b;
        if (aidev_buffer_create(dev, &desc, &b) != AIDEV_SUCCESS)
            continue;
        void *host;
        if (aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_HOST_ADDRESS, sizeof host, &host,
                                  NULL) == AIDEV_SUCCESS) {
            *kind_name = names[k];
            return b;
        }
        aidev_buffer_release(b);
    }
    return NULL;
}

/* Median milliseconds of |reps| all-reduces of |b| through |comm|, each
 * started together on every rank; NaN on failure. */
static double time_aidev(aidev_mpi_comm comm, aidev_buffer b, uint64_t count, int reps)
{
    double samples[16];
    for (int r = 0; r <= reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        aidev_event ev;
        if (!bench_mpi_check(aidev_mpi_allreduce(comm, NULL, 0, b, 0, count, AIDEV_TYPE_F32,
                                                 AIDEV_MPI_SUM, 0, NULL, &ev),
                             "aidev_mpi_allreduce"))
            return NAN;
        aidev_status st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
        aidev_event_release(ev);
        if (!bench_mpi_check(st, "the all-reduce"))
            return NAN;
        if (r) /* the first one warms up */
            samples[r - 1] = (bench_now() - t0) * 1e3;
    }
    return bench_median(samples, reps);
}

static double time_plain_mpi(float *x, uint64_t count, int reps)
{
    double samples[16];
    for (int r = 0; r <= reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        MPI_Allreduce(MPI_IN_PLACE, x, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (r)
            samples[r - 1] = (bench_now() - t0) * 1e3;
    }
    return bench_median(samples, reps);
}

/* What libaidev-mpi does, written by hand: MPI_Iallreduce in 4 MiB chunks,
 * two in flight, polled with MPI_Testall. */
static double time_chunked_mpi(float *x, uint64_t count, int reps)
{
    const uint64_t chunk = (4u << 20) / sizeof(float);
    double samples[16];
    for (int r = 0; r <= reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        for (uint64_t first = 0; first < count; first += 2 * chunk) {
            MPI_Request reqs[2];
            int n = 0;
            for (uint64_t at = first; at < count && at < first + 2 * chunk; at += chunk) {
                uint64_t len = count - at < chunk ? count - at : chunk;
                MPI_Iallreduce(MPI_IN_PLACE, x + at, (int)len, MPI_FLOAT, MPI_SUM,
                               MPI_COMM_WORLD, &reqs[n++]);
            }
            MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE);
        }
        if (r)
            samples[r - 1] = (bench_now() - t0) * 1e3;
    }
    return bench_median(samples, reps);
}

static void emit_allreduce(const bench_options *opt, aidev_device dev, const char *name,
                           const char *baseline_name, double value, double baseline)
{
    char device[256], backend[64];
    bench_device_names(dev, device, sizeof device, backend, sizeof backend);
    if (bench_mpi_rank != 0 || !(value > 0) || !(baseline > 0))
        return;
    bench_row row = {.name = name, .device = device, .backend = backend, .value = value,
                     .unit = "ms (lower is better)", .baseline = baseline_name,
                     .baseline_value = baseline};
    bench_emit(opt, &row);
}

static void bench_allreduce_on(const bench_options *opt, aidev_device dev)
{
    const uint64_t bytes = opt->quick ? 4u << 20 : 64u << 20, count = bytes / 4;
    const int reps = opt->quick ? 2 : 7;
    aidev_queue q;
    if (!bench_mpi_check(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q), "queue"))
        return;
    const char *kind = "?";
    aidev_buffer b = in_place_buffer(dev, bytes, &kind);
    float *plain = malloc(bytes);
    aidev_mpi_comm in_place = NULL, staged = NULL;
    aidev_mpi_comm_desc always = {.staging = AIDEV_MPI_STAGING_ALWAYS};
    /* Every rank makes the same calls even where one failed: they are
     * collective. */
    bool ok = b && plain;
    ok &= bench_mpi_check(aidev_mpi_comm_create(MPI_COMM_WORLD, q, NULL, &in_place), "comm");
    ok &= bench_mpi_check(aidev_mpi_comm_create(MPI_COMM_WORLD, q, &always, &staged), "comm");
    if (ok) {
        float one = 1.0f;
        aidev_enqueue_fill(q, b, 0, bytes, &one, sizeof one, 0, NULL, NULL);
        aidev_queue_finish(q);
        for (uint64_t i = 0; i < count; i++)
            plain[i] = 1.0f;
        const char *plain_name = "MPI_Allreduce, malloc'd memory";
        double base = time_plain_mpi(plain, count, reps);
        double aidev = time_aidev(in_place, b, count, reps);
        if (bench_selected(opt, "mpi.allreduce_64M"))
            emit_allreduce(opt, dev, "mpi.allreduce_64M", plain_name, aidev, base);
        if (bench_selected(opt, "mpi.allreduce_64M_staged"))
            emit_allreduce(opt, dev, "mpi.allreduce_64M_staged", plain_name,
                           time_aidev(staged, b, count, reps), base);
        if (bench_selected(opt, "mpi.allreduce_64M_vs_chunked"))
            emit_allreduce(opt, dev, "mpi.allreduce_64M_vs_chunked",
                           "MPI_Iallreduce in 4 MiB chunks, malloc'd",
                           aidev, time_chunked_mpi(plain, count, reps));
        if (bench_mpi_rank == 0 && !opt->json)
            printf("%-34s   (the in-place buffer: %s memory)\n", "", kind);
    }
    if (staged)
        aidev_mpi_comm_release(staged);
    if (in_place)
        aidev_mpi_comm_release(in_place);
    if (b)
        aidev_buffer_release(b);
    free(plain);
    aidev_queue_release(q);
}

int main(int argc, char **argv)
{
    bench_options opt;
    int exit_status = bench_parse_options(argc, argv, "aidev-bench-mpi", &opt);
    if (exit_status >= 0)
        return exit_status;
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &bench_mpi_rank);
    if (aidev_context_create(NULL, &opt.context) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench-mpi: %s\n", aidev_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    uint32_t n = 0;
    aidev_context_get_devices(opt.context, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device dev;
        aidev_context_get_device(opt.context, i, &dev);
        if (bench_selected(&opt, "mpi.allreduce_64M") ||
            bench_selected(&opt, "mpi.allreduce_64M_staged") ||
            bench_selected(&opt, "mpi.allreduce_64M_vs_chunked"))
            bench_allreduce_on(&opt, dev);
        if (bench_selected(&opt, "mpi.train_step_overlap") ||
            bench_selected(&opt, "mpi.train_step_balance"))
            bench_mpi_train_step(&opt, dev);
    }
    aidev_context_release(opt.context);
    bench_report_finish(&opt, bench_mpi_rank == 0);
    MPI_Finalize();
    return 0;
}

/*
 * bench_pipeline.c - file reads overlapping compute, on every device.
 *
 *   pipeline.read_compute   reading a file in chunks and running a kernel on
 *                           each, double-buffered on two queues: the total
 *                           time, against max(total read time, total compute
 *                           time) of the same file and kernel run serialised
 *                           in the same process. A ratio of 1 is perfect
 *                           overlap; 1 + min/max is none.
 *
 * The reads use O_DIRECT, as a model or dataset loader does with files
 * larger than memory: the disk moves the data while the CPUs compute. From
 * the page cache a "read" is a memcpy on the same cores the CPU device
 * computes on, and no schedule can hide one behind the other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK_BYTES (16u << 20)

static int make_file(uint32_t chunks)
{
    char path[] = "/tmp/aidev-bench-pipeline-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    float *block = malloc(CHUNK_BYTES);
    if (!block) {
        close(fd);
        return -1;
    }
    for (uint32_t i = 0; i < CHUNK_BYTES / sizeof(float); i++)
        block[i] = (float)(i % 97);
    for (uint32_t c = 0; c < chunks; c++)
        if (pwrite(fd, block, CHUNK_BYTES, (off_t)c * CHUNK_BYTES) != CHUNK_BYTES) {
            close(fd);
            fd = -1;
            break;
        }
    free(block);
    return fd;
}

typedef struct pipeline {
    aidev_queue io, compute;
    aidev_buffer chunk[2], acc;
    aidev_kernel k;
    int fd;
    uint32_t chunks;
} pipeline;

static aidev_status run_one(pipeline *p, uint32_t c, aidev_event *wait_read, aidev_event *read,
                            aidev_event *kern)
{
    const uint32_t n = CHUNK_BYTES / sizeof(float);
    aidev_status st = aidev_enqueue_file_read(p->io, p->chunk[c % 2], 0, p->fd,
                                              (uint64_t)c * CHUNK_BYTES, CHUNK_BYTES,
                                              AIDEV_FILE_READ_DIRECT, wait_read ? 1 : 0,
                                              wait_read, read);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(1.0f), aidev_arg_buffer(p->chunk[c % 2], 0),
                        aidev_arg_buffer(p->acc, 0)};
    return aidev_enqueue_dispatch(p->compute, p->k, NULL, NULL, 4, args, 1, read, kern);
}

/* Each read, then each kernel, alone: the sums of their times. */
static aidev_status serial(pipeline *p, double *read_s, double *compute_s)
{
    *read_s = *compute_s = 0;
    for (uint32_t c = 0; c < p->chunks; c++) {
        aidev_event read = NULL, kern = NULL;
        double t0 = bench_now();
        aidev_status st = aidev_enqueue_file_read(p->io, p->chunk[c % 2], 0, p->fd,
                                                  (uint64_t)c * CHUNK_BYTES, CHUNK_BYTES,
                                                  AIDEV_FILE_READ_DIRECT, 0, NULL, &read);
        if (st == AIDEV_SUCCESS)
            st = aidev_event_wait(read, AIDEV_WAIT_FOREVER);
        double t1 = bench_now();
        const uint32_t n = CHUNK_BYTES / sizeof(float);
        aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(1.0f),
                            aidev_arg_buffer(p->chunk[c % 2], 0), aidev_arg_buffer(p->acc, 0)};
        if (st == AIDEV_SUCCESS)
            st = aidev_enqueue_dispatch(p->compute, p->k, NULL, NULL, 4, args, 0, NULL, &kern);
        if (st == AIDEV_SUCCESS)
            st = aidev_event_wait(kern, AIDEV_WAIT_FOREVER);
        double t2 = bench_now();
        aidev_event_release(read);
        aidev_event_release(kern);
        if (st != AIDEV_SUCCESS)
            return st;
        *read_s += t1 - t0;
        *compute_s += t2 - t1;
    }
    return AIDEV_SUCCESS;
}

/* Both stages at once, double-buffered: the total time. */
static aidev_status overlapped(pipeline *p, double *total_s)
{
    aidev_event *read = calloc(p->chunks, sizeof *read), *kern = calloc(p->chunks, sizeof *kern);
    if (!read || !kern) {
        free(read);
        free(kern);
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    }
    aidev_status st = AIDEV_SUCCESS;
    uint32_t made = 0;
    double t0 = bench_now();
    for (uint32_t c = 0; c < p->chunks && st == AIDEV_SUCCESS; c++, made++)
        st = run_one(p, c, c >= 2 ? &kern[c - 2] : NULL, &read[c], &kern[c]);
    if (st == AIDEV_SUCCESS)
        st = aidev_queue_finish(p->compute);
    *total_s = bench_now() - t0;
    aidev_queue_finish(p->io);
    for (uint32_t c = 0; c < made; c++) {
        aidev_event_release(read[c]);
        aidev_event_release(kern[c]);
    }
    free(read);
    free(kern);
    return st;
}

static void bench_device(const bench_options *opt, aidev_device dev, int fd, uint32_t chunks)
{
    char name[256], backend[32];
    bench_device_names(dev, name, sizeof name, backend, sizeof backend);
    pipeline p = {.fd = fd, .chunks = chunks};
    aidev_buffer_desc desc = {.size = CHUNK_BYTES, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &p.io) != AIDEV_SUCCESS ||
        aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &p.compute) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &desc, &p.chunk[0]) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &desc, &p.chunk[1]) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &desc, &p.acc) != AIDEV_SUCCESS ||
        aidev_kernel_get(dev, "axpy", &p.k) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: pipeline on %s: %s\n", name, aidev_last_error());
        return;
    }
    const int reps = opt->quick ? 1 : 5;
    double totals[5], bounds[5];
    aidev_status st = AIDEV_SUCCESS;
    /* A first pass warms the page cache and the kernel. */
    double r, c;
    st = serial(&p, &r, &c);
    for (int i = 0; i < reps && st == AIDEV_SUCCESS; i++) {
        st = serial(&p, &r, &c);
        bounds[i] = r > c ? r : c;
        if (st == AIDEV_SUCCESS)
            st = overlapped(&p, &totals[i]);
    }
    if (st == AIDEV_SUCCESS) {
        bench_row row = {
            .name = "pipeline.read_compute",
            .device = name,
            .backend = backend,
            .value = bench_median(totals, reps) * 1e3,
            .unit = "ms (lower is better)",
            .baseline = "max(read, compute) run serialised",
            .baseline_value = bench_median(bounds, reps) * 1e3,
        };
        bench_emit(opt, &row);
    } else {
        fprintf(stderr, "aidev-bench: pipeline on %s: %s\n", name, aidev_last_error());
    }
    aidev_kernel_release(p.k);
    aidev_buffer_release(p.chunk[0]);
    aidev_buffer_release(p.chunk[1]);
    aidev_buffer_release(p.acc);
    aidev_queue_release(p.io);
    aidev_queue_release(p.compute);
}

void bench_pipeline(const bench_options *opt)
{
    if (!bench_selected(opt, "pipeline.read_compute"))
        return;
    const uint32_t chunks = opt->quick ? 4 : 16;
    int fd = make_file(chunks);
    if (fd < 0) {
        fprintf(stderr, "aidev-bench: pipeline: cannot make a temporary file\n");
        return;
    }
    uint32_t n = 0;
    aidev_context_get_devices(opt->context, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device dev;
        aidev_context_get_device(opt->context, i, &dev);
        bench_device(opt, dev, fd, chunks);
    }
    close(fd);
}

/*
 * bench_pipeline.c - file reads overlapping compute, on every device.
 *
 *   pipeline.read_compute   reading a file in chunks and running a kernel on
 *                           each, double-buffered on two queues: the total
 *                           time, against max(total read time, total compute
 *                           time) of the same file and kernel run serialised
 *                           in the same process. A ratio of 1 is perfect
 *                           overlap; 1 + min/max is none.
 *   pipeline.read_compute_vs_handwritten
 *                           (CPU device) the same overlapped run against the
 *                           same pipeline written by hand: a reader thread
 *                           doing O_DIRECT preads, the axpy as a plain C
 *                           loop cut over as many threads as the device has
 *                           compute units, the same double buffering. It
 *                           says what the runtime costs on top of what the
 *                           machine allows: on a virtual machine whose disk
 *                           is served by the host's CPUs from the same
 *                           budget as its vCPUs, a read slows while every
 *                           vCPU computes, in either program.
 *
 * The reads use O_DIRECT, as a model or dataset loader does with files
 * larger than memory: the disk moves the data while the CPUs compute. From
 * the page cache a "read" is a memcpy on the same cores the CPU device
 * computes on, and no schedule can hide one behind the other.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* ------------------------------------------------------------------------ */
/* The same pipeline by hand                                                */
/* ------------------------------------------------------------------------ */

#define HAND_MAX_THREADS 64

/* Two chunk buffers and the accumulator, and who may touch which: the
 * reader fills chunk c % 2 once the kernel on chunk c - 2 is done, the
 * kernel runs on chunk c once it is read. */
typedef struct handwritten {
    int fd;
    uint32_t chunks, threads;
    float *chunk[2], *acc;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t read_done;      /* chunks read so far */
    uint32_t compute_done;   /* chunks computed so far */
    bool failed;
} handwritten;

typedef struct hand_slice {
    const float *x;
    float *y;
    uint32_t begin, end;
} hand_slice;

static void *hand_axpy_slice(void *arg)
{
    hand_slice *s = arg;
    for (uint32_t i = s->begin; i < s->end; i++)
        s->y[i] = 1.0f * s->x[i] + s->y[i];
    return NULL;
}

/* y += x over |n| floats on |threads| threads (this one included). */
static void hand_axpy(const float *x, float *y, uint32_t n, uint32_t threads)
{
    pthread_t tid[HAND_MAX_THREADS];
    bool started[HAND_MAX_THREADS] = {false};
    hand_slice slices[HAND_MAX_THREADS];
    uint32_t per = (n + threads - 1) / threads;
    for (uint32_t t = 0; t < threads; t++) {
        uint32_t begin = t * per < n ? t * per : n;
        slices[t] = (hand_slice){x, y, begin, begin + per < n ? begin + per : n};
    }
    for (uint32_t t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, hand_axpy_slice, &slices[t]) == 0;
    for (uint32_t t = 0; t < threads; t++)
        if (!started[t])
            hand_axpy_slice(&slices[t]);
    for (uint32_t t = 1; t < threads; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
}

static void *hand_reader(void *arg)
{
    handwritten *h = arg;
    for (uint32_t c = 0; c < h->chunks; c++) {
        pthread_mutex_lock(&h->lock);
        while (h->compute_done + 2 <= c && !h->failed)
            pthread_cond_wait(&h->cond, &h->lock);
        pthread_mutex_unlock(&h->lock);
        ssize_t got = pread(h->fd, h->chunk[c % 2], CHUNK_BYTES, (off_t)c * CHUNK_BYTES);
        pthread_mutex_lock(&h->lock);
        if (got != (ssize_t)CHUNK_BYTES)
            h->failed = true;
        else
            h->read_done = c + 1;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
        if (got != (ssize_t)CHUNK_BYTES)
            break;
    }
    return NULL;
}

/* The whole file through the hand-written pipeline: the total time, or a
 * negative value when a read failed. */
static double hand_overlapped(handwritten *h)
{
    h->read_done = h->compute_done = 0;
    h->failed = false;
    double t0 = bench_now();
    pthread_t reader;
    if (pthread_create(&reader, NULL, hand_reader, h) != 0)
        return -1;
    for (uint32_t c = 0; c < h->chunks; c++) {
        pthread_mutex_lock(&h->lock);
        while (h->read_done <= c && !h->failed)
            pthread_cond_wait(&h->cond, &h->lock);
        bool failed = h->failed;
        pthread_mutex_unlock(&h->lock);
        if (failed)
            break;
        hand_axpy(h->chunk[c % 2], h->acc, CHUNK_BYTES / sizeof(float), h->threads);
        pthread_mutex_lock(&h->lock);
        h->compute_done = c + 1;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
    }
    pthread_join(reader, NULL);
    return h->failed ? -1 : bench_now() - t0;
}

/* Memory as the CPU device gets it for large buffers: a fresh mapping,
 * 2 MiB aligned, huge pages where the kernel gives them, touched. (Not
 * malloc: once glibc has raised its mmap threshold, a 16 MiB block comes
 * from the heap in pages already faulted small, and O_DIRECT reads into
 * 4 KiB pages go to the disk in many small requests.) */
static float *hand_alloc(void)
{
    size_t align = 2u << 20, len = CHUNK_BYTES + align;
    char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    munmap(p + CHUNK_BYTES, (size_t)(raw + len - (p + CHUNK_BYTES)));
    madvise(p, CHUNK_BYTES, MADV_HUGEPAGE);
    memset(p, 0, CHUNK_BYTES);
    return (float *)p;
}

static void hand_free(float *p)
{
    if (p)
        munmap(p, CHUNK_BYTES);
}

/* aidev's overlapped run on the CPU device against the hand-written one,
 * alternating. */
static void bench_handwritten(const bench_options *opt, pipeline *p, aidev_device dev,
                              const char *name, const char *backend)
{
    /* The file is unlinked: opened again through its descriptor, with
     * O_DIRECT of its own. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p->fd);
    handwritten h = {.chunks = p->chunks, .threads = 1};
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_COMPUTE_UNITS, sizeof h.threads, &h.threads,
                          NULL);
    if (h.threads == 0 || h.threads > HAND_MAX_THREADS)
        h.threads = h.threads ? HAND_MAX_THREADS : 1;
    h.fd = open(path, O_RDONLY | O_DIRECT);
    h.chunk[0] = hand_alloc();
    h.chunk[1] = hand_alloc();
    h.acc = hand_alloc();
    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    const int reps = opt->quick ? 1 : 5;
    double ours[5], base[5];
    bool ok = h.fd >= 0 && h.chunk[0] && h.chunk[1] && h.acc;
    for (int i = 0; ok && i < reps; i++) {
        bool hand_first = i % 2;
        if (hand_first)
            ok = (base[i] = hand_overlapped(&h)) > 0;
        ok = ok && overlapped(p, &ours[i]) == AIDEV_SUCCESS;
        if (ok && !hand_first)
            ok = (base[i] = hand_overlapped(&h)) > 0;
    }
    if (ok) {
        bench_row row = {
            .name = "pipeline.read_compute_vs_handwritten",
            .device = name,
            .backend = backend,
            .value = bench_median(ours, reps) * 1e3,
            .unit = "ms (lower is better)",
            .baseline = "pread thread + C loop on as many threads, double-buffered",
            .baseline_value = bench_median(base, reps) * 1e3,
        };
        bench_emit(opt, &row);
    } else {
        fprintf(stderr, "aidev-bench: pipeline by hand on %s: %s\n", name,
                h.fd < 0 ? "cannot open the file with O_DIRECT" : "a run failed");
    }
    if (h.fd >= 0)
        close(h.fd);
    hand_free(h.chunk[0]);
    hand_free(h.chunk[1]);
    hand_free(h.acc);
    pthread_mutex_destroy(&h.lock);
    pthread_cond_destroy(&h.cond);
}

static void bench_device(const bench_options *opt, aidev_device dev, int fd, uint32_t chunks)
{
    char name[256], backend[32];
    bench_device_names(dev, name, sizeof name, backend, sizeof backend);
    bool main_row = bench_selected(opt, "pipeline.read_compute");
    bool hand_row = strcmp(backend, "cpu") == 0 &&
                    bench_selected(opt, "pipeline.read_compute_vs_handwritten");
    if (!main_row && !hand_row)
        return;
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
    /* A first pass warms the page cache and the kernel. */
    double r, c;
    aidev_status st = serial(&p, &r, &c);
    for (int i = 0; main_row && i < reps && st == AIDEV_SUCCESS; i++) {
        st = serial(&p, &r, &c);
        bounds[i] = r > c ? r : c;
        if (st == AIDEV_SUCCESS)
            st = overlapped(&p, &totals[i]);
    }
    if (st == AIDEV_SUCCESS && main_row) {
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
    } else if (st != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: pipeline on %s: %s\n", name, aidev_last_error());
    }
    if (st == AIDEV_SUCCESS && hand_row)
        bench_handwritten(opt, &p, dev, name, backend);
    aidev_kernel_release(p.k);
    aidev_buffer_release(p.chunk[0]);
    aidev_buffer_release(p.chunk[1]);
    aidev_buffer_release(p.acc);
    aidev_queue_release(p.io);
    aidev_queue_release(p.compute);
}

void bench_pipeline(const bench_options *opt)
{
    if (!bench_selected(opt, "pipeline.read_compute") &&
        !bench_selected(opt, "pipeline.read_compute_vs_handwritten"))
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

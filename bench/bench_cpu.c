/*
 * bench_cpu.c - rows for the CPU backend.
 *
 *   cpu.empty_dispatch_latency   enqueue -> completion of an empty kernel,
 *                                against raw OpenCL (PoCL) clEnqueueNDRangeKernel
 *                                + clFinish when an OpenCL device is present,
 *                                else against a bare thread hand-off round trip
 *   cpu.pipelined_dispatch       1000 back-to-back empty dispatches, per second
 *   cpu.empty_dispatch_latency_low_latency
 *                                the first row on an AIDEV_QUEUE_LOW_LATENCY
 *                                queue, against a plain queue in the same run
 *   cpu.idle_dispatch_latency_low_latency
 *                                enqueue -> completion of an empty dispatch
 *                                issued 200 us after the previous one ended
 *                                (the device idle: a plain queue's executor
 *                                is asleep by then), on a low-latency queue
 *                                against a plain queue, median
 *   cpu.axpy_16M                 axpy over 16M floats, GB/s, against an OpenMP
 *                                loop over the same number of threads
 *   opencl.raw_empty_dispatch    the raw OpenCL figure as its own row
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef AIDEV_HAVE_OPENMP
#include <omp.h>
#endif
#ifdef AIDEV_BENCH_RAW_OPENCL
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#endif

static void empty_kernel(void *const *args, const aidev_host_range *range)
{
    (void)args;
    (void)range;
}

/* The CPU device, or NULL. */
static aidev_device cpu_device(aidev_context ctx)
{
    uint32_t n = 0;
    aidev_context_get_devices(ctx, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        char backend[32] = "";
        aidev_context_get_device(ctx, i, &d);
        aidev_device_get_info(d, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
        if (strcmp(backend, "cpu") == 0)
            return d;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Baselines                                                                */
/* ------------------------------------------------------------------------ */

/* A thread hand-off round trip: the least any asynchronous executor costs. */
typedef struct handoff {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int request, done;
    bool stop;
} handoff;

static void *handoff_worker(void *opaque)
{
    handoff *h = opaque;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (h->request == h->done && !h->stop)
            pthread_cond_wait(&h->cond, &h->lock);
        if (h->stop)
            break;
        h->done = h->request;
        pthread_cond_broadcast(&h->cond);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static double handoff_latency_us(int reps)
{
    handoff h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    pthread_create(&t, NULL, handoff_worker, &h);
    double start = bench_now();
    for (int i = 0; i < reps; i++) {
        pthread_mutex_lock(&h.lock);
        h.request++;
        pthread_cond_broadcast(&h.cond);
        while (h.done != h.request)
            pthread_cond_wait(&h.cond, &h.lock);
        pthread_mutex_unlock(&h.lock);
    }
    double us = (bench_now() - start) / reps * 1e6;
    pthread_mutex_lock(&h.lock);
    h.stop = true;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    pthread_join(t, NULL);
    return us;
}

#ifdef AIDEV_BENCH_RAW_OPENCL
typedef struct raw_cl {
    cl_context ctx;
    cl_command_queue q;
    cl_kernel k;
    cl_program p;
    char device_name[256];
} raw_cl;

/* The first OpenCL device, with an empty kernel built; false if none. */
static bool raw_cl_open(raw_cl *r)
{
    cl_platform_id platform;
    cl_device_id device;
    cl_uint n = 0;
    if (clGetPlatformIDs(1, &platform, &n) != CL_SUCCESS || n == 0)
        return false;
    if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, &n) != CL_SUCCESS || n == 0)
        return false;
    clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof r->device_name, r->device_name, NULL);
    cl_int err;
    r->ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return false;
    r->q = clCreateCommandQueueWithProperties(r->ctx, device, NULL, &err);
    const char *src = "__kernel void empty(void) {}";
    r->p = clCreateProgramWithSource(r->ctx, 1, &src, NULL, &err);
    if (err != CL_SUCCESS || clBuildProgram(r->p, 1, &device, "", NULL, NULL) != CL_SUCCESS)
        return false;
    r->k = clCreateKernel(r->p, "empty", &err);
    return err == CL_SUCCESS;
}

static void raw_cl_close(raw_cl *r)
{
    if (r->k)
        clReleaseKernel(r->k);
    if (r->p)
        clReleaseProgram(r->p);
    if (r->q)
        clReleaseCommandQueue(r->q);
    if (r->ctx)
        clReleaseContext(r->ctx);
}

static double raw_cl_latency_us(raw_cl *r, int reps)
{
    size_t global = 1;
    double samples[9];
    for (int s = 0; s < 9; s++) {
        double start = bench_now();
        for (int i = 0; i < reps; i++) {
            clEnqueueNDRangeKernel(r->q, r->k, 1, NULL, &global, NULL, 0, NULL, NULL);
            clFinish(r->q);
        }
        samples[s] = (bench_now() - start) / reps * 1e6;
    }
    return bench_median(samples, 9);
}

static double raw_cl_pipelined_per_s(raw_cl *r, int batch)
{
    size_t global = 1;
    double samples[5];
    for (int s = 0; s < 5; s++) {
        double start = bench_now();
        for (int i = 0; i < batch; i++)
            clEnqueueNDRangeKernel(r->q, r->k, 1, NULL, &global, NULL, 0, NULL, NULL);
        clFinish(r->q);
        samples[s] = batch / (bench_now() - start);
    }
    return bench_median(samples, 5);
}
#endif

/* ------------------------------------------------------------------------ */
/* aidev measurements                                                       */
/* ------------------------------------------------------------------------ */

/* Before a dispatch row: the other threads of the process (OpenBLAS's,
 * OpenMP's) idle, so the row measures aidev and not them. */
static void quiesce_for(const char *row)
{
    if (!bench_quiesce_threads(3.0))
        fprintf(stderr, "aidev-bench: %s: other threads of the process still ran after 3 s; "
                        "measured anyway\n", row);
}

static double latency_us(aidev_queue q, aidev_kernel k, int reps)
{
    const uint32_t grid[3] = {1, 1, 1};
    double samples[9];
    for (int s = 0; s < 9; s++) {
        double start = bench_now();
        for (int i = 0; i < reps; i++) {
            aidev_enqueue_dispatch(q, k, grid, NULL, 0, NULL, 0, NULL, NULL);
            aidev_queue_finish(q);
        }
        samples[s] = (bench_now() - start) / reps * 1e6;
    }
    return bench_median(samples, 9);
}

/* How long the device idles between the dispatches of the idle row: well
 * past a plain queue's executor spin (20 us), inside the low-latency one's
 * (AIDEV_QUEUE_LOW_LATENCY_SPIN_US). */
#define IDLE_GAP_NS 200000L

/* Median enqueue -> completion of one empty dispatch issued IDLE_GAP_NS
 * after the previous one completed (this thread sleeps meanwhile). */
static double idle_latency_us(aidev_queue q, aidev_kernel k, int reps)
{
    const uint32_t grid[3] = {1, 1, 1};
    double samples[500];
    if (reps > 500)
        reps = 500;
    const struct timespec gap = {0, IDLE_GAP_NS};
    for (int i = 0; i < reps; i++) {
        nanosleep(&gap, NULL);
        double start = bench_now();
        aidev_enqueue_dispatch(q, k, grid, NULL, 0, NULL, 0, NULL, NULL);
        aidev_queue_finish(q);
        samples[i] = (bench_now() - start) * 1e6;
    }
    return bench_median(samples, reps);
}

/* The two low-latency rows: each measured on a plain queue (the baseline),
 * then on a low-latency one, created for it and released after, so that
 * the plain figures are taken with no low-latency queue on the device. */
static void bench_low_latency(const bench_options *opt, aidev_device dev, aidev_kernel k,
                              const char *name, const char *backend)
{
    static const char *const rows[] = {"cpu.empty_dispatch_latency_low_latency",
                                       "cpu.idle_dispatch_latency_low_latency"};
    const int reps[] = {opt->quick ? 100 : 2000, opt->quick ? 50 : 500};
    for (int r = 0; r < 2; r++) {
        if (!bench_selected(opt, rows[r]))
            continue;
        double value[2];
        for (uint32_t flags = 0; flags <= AIDEV_QUEUE_LOW_LATENCY; flags++) {
            aidev_queue q;
            if (aidev_queue_create_with_flags(dev, AIDEV_QUEUE_PRIORITY_NORMAL, flags, &q) !=
                AIDEV_SUCCESS) {
                fprintf(stderr, "aidev-bench: %s: %s\n", rows[r], aidev_last_error());
                return;
            }
            quiesce_for(rows[r]);
            value[flags] = r == 0 ? latency_us(q, k, reps[r]) : idle_latency_us(q, k, reps[r]);
            aidev_queue_release(q);
        }
        bench_row row = {
            .name = rows[r],
            .device = name,
            .backend = backend,
            .value = value[1],
            .unit = "us (lower is better)",
            .baseline = r == 0 ? "plain queue, back to back" : "plain queue, 200 us apart",
            .baseline_value = value[0],
        };
        bench_emit(opt, &row);
    }
}

static double pipelined_per_s(aidev_queue q, aidev_kernel k, int batch)
{
    const uint32_t grid[3] = {1, 1, 1};
    double samples[5];
    for (int s = 0; s < 5; s++) {
        double start = bench_now();
        for (int i = 0; i < batch; i++)
            aidev_enqueue_dispatch(q, k, grid, NULL, 0, NULL, 0, NULL, NULL);
        aidev_queue_finish(q);
        samples[s] = batch / (bench_now() - start);
    }
    return bench_median(samples, 5);
}

static void axpy_openmp(uint32_t n, float alpha, const float *x, float *y, int threads)
{
#ifdef AIDEV_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
    for (uint32_t i = 0; i < n; i++)
        y[i] = alpha * x[i] + y[i];
#else
    (void)threads;
    for (uint32_t i = 0; i < n; i++)
        y[i] = alpha * x[i] + y[i];
#endif
}

static void bench_axpy(const bench_options *opt, aidev_device dev, const char *name,
                       const char *backend)
{
    const uint32_t n = 16u << 20;
    const double bytes = 3.0 * 4.0 * n;
    const int reps = opt->quick ? 3 : 15;
    uint32_t threads = 1;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_COMPUTE_UNITS, sizeof threads, &threads, NULL);

    aidev_queue q;
    aidev_kernel k;
    aidev_buffer bx, by;
    aidev_buffer_desc desc = {.size = 4ull * n, .kind = AIDEV_MEMORY_HOST,
                              .element_type = AIDEV_TYPE_F32};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS ||
        aidev_kernel_get(dev, "axpy", &k) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &desc, &bx) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &desc, &by) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: cpu.axpy_16M: %s\n", aidev_last_error());
        return;
    }
    float *x, *y;
    aidev_buffer_map(bx, 0, desc.size, AIDEV_MAP_WRITE, (void **)&x);
    aidev_buffer_map(by, 0, desc.size, AIDEV_MAP_WRITE, (void **)&y);
    for (uint32_t i = 0; i < n; i++)
        x[i] = 1.0f, y[i] = 2.0f;

    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(0.5f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    double ours[15], base[15];
    /* aidev's runs first, then OpenMP's, on the same pages (mapped
     * zero-copy): OpenMP's idle threads spin for milliseconds after each
     * parallel region (OMP_WAIT_POLICY is read before main), so interleaved
     * runs would measure aidev against a core OpenMP keeps busy. */
    for (int r = 0; r < reps; r++) {
        double start = bench_now();
        aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL);
        aidev_queue_finish(q);
        ours[r] = bytes / (bench_now() - start) / 1e9;
    }
    for (int r = 0; r < reps; r++) {
        double start = bench_now();
        axpy_openmp(n, 0.5f, x, y, (int)threads);
        base[r] = bytes / (bench_now() - start) / 1e9;
    }
    aidev_buffer_unmap(bx);
    aidev_buffer_unmap(by);
    bench_row row = {
        .name = "cpu.axpy_16M",
        .device = name,
        .backend = backend,
        .value = bench_median(ours, reps),
        .unit = "GB/s (higher is better)",
        .baseline = "OpenMP loop, same threads",
        .baseline_value = bench_median(base, reps),
    };
    bench_emit(opt, &row);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
    aidev_queue_release(q);
}

/* The raw side of buffer.create_small: the plain allocation the CPU
 * backend would make, 64-byte aligned and zeroed. */
static double raw_create_round_us(void *arg, aidev_memory_kind kind, uint64_t size, int count,
                                  bool *ok)
{
    (void)arg;
    (void)kind;
    static void *blocks[1000];
    if (count > 1000)
        count = 1000;
    size_t rounded = ((size_t)size + 63) / 64 * 64;
    double start = bench_now();
    for (int i = 0; i < count; i++) {
        blocks[i] = aligned_alloc(64, rounded);
        if (!blocks[i]) {
            *ok = false;
            count = i;
            break;
        }
        memset(blocks[i], 0, (size_t)size);
    }
    /* Read back through a volatile pointer, so the compiler keeps the
     * stores. */
    volatile char sink = 0;
    for (int i = 0; i < count; i++) {
        sink ^= ((volatile char *)blocks[i])[0];
        free(blocks[i]);
    }
    (void)sink;
    return (bench_now() - start) / (count ? count : 1) * 1e6;
}

void bench_cpu(const bench_options *opt)
{
    aidev_device dev = cpu_device(opt->context);
    if (!dev)
        return;
    char name[256], backend[32];
    bench_device_names(dev, name, sizeof name, backend, sizeof backend);

    const aidev_kernel_desc desc = {.name = "empty", .source_kind = AIDEV_KERNEL_SOURCE_HOST,
                                    .host_fn = empty_kernel};
    aidev_kernel k;
    aidev_queue q;
    if (aidev_kernel_create(dev, &desc, &k) != AIDEV_SUCCESS ||
        aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: cpu: %s\n", aidev_last_error());
        return;
    }
    const int reps = opt->quick ? 100 : 2000;
    const int batch = 1000;

#ifdef AIDEV_BENCH_RAW_OPENCL
    raw_cl cl = {0};
    bool have_cl = raw_cl_open(&cl);
#else
    const bool have_cl = false;
#endif

    if (bench_selected(opt, "cpu.empty_dispatch_latency")) {
        quiesce_for("cpu.empty_dispatch_latency");
        double ours = latency_us(q, k, reps);
        bench_row row = {
            .name = "cpu.empty_dispatch_latency",
            .device = name,
            .backend = backend,
            .value = ours,
            .unit = "us (lower is better)",
            .baseline = "thread hand-off round trip",
            .baseline_value = handoff_latency_us(reps),
        };
#ifdef AIDEV_BENCH_RAW_OPENCL
        static char label[300];
        if (have_cl) {
            double raw = raw_cl_latency_us(&cl, opt->quick ? 20 : 200);
            snprintf(label, sizeof label, "raw OpenCL enqueue+clFinish (%s)", cl.device_name);
            row.baseline = label;
            row.baseline_value = raw;
            bench_row raw_row = {
                .name = "opencl.raw_empty_dispatch",
                .device = cl.device_name,
                .backend = "opencl",
                .value = raw,
                .unit = "us (lower is better)",
                .baseline = "aidev cpu empty dispatch",
                .baseline_value = ours,
            };
            bench_emit(opt, &raw_row);
        }
#endif
        bench_emit(opt, &row);
    }
    if (bench_selected(opt, "cpu.pipelined_dispatch")) {
        quiesce_for("cpu.pipelined_dispatch");
        double ours = pipelined_per_s(q, k, batch);
        /* Baseline without OpenCL: the same 1000 calls of the empty function
         * on this thread, the bound no queue can beat. */
        double start = bench_now();
        aidev_host_range r = {{1, 1, 1}, {0, 0, 0}, {1, 1, 1}};
        for (int i = 0; i < batch * 100; i++) {
            void (*volatile fn)(void *const *, const aidev_host_range *) = empty_kernel;
            fn(NULL, &r);
        }
        double direct = batch * 100 / (bench_now() - start);
        bench_row row = {
            .name = "cpu.pipelined_dispatch",
            .device = name,
            .backend = backend,
            .value = ours,
            .unit = "dispatch/s (higher is better)",
            .baseline = "direct C calls",
            .baseline_value = direct,
        };
#ifdef AIDEV_BENCH_RAW_OPENCL
        static char label[300];
        if (have_cl) {
            snprintf(label, sizeof label, "raw OpenCL 1000 enqueues+clFinish (%s)",
                     cl.device_name);
            row.baseline = label;
            row.baseline_value = raw_cl_pipelined_per_s(&cl, batch);
        }
#endif
        bench_emit(opt, &row);
    }
    bench_raw_create rc = {.round_us = raw_create_round_us,
                           .device_label = "aligned_alloc+memset+free",
                           .host_label = "aligned_alloc+memset+free"};
    bench_buffer_create_rows(opt, dev, name, backend, &rc);
#ifdef AIDEV_BENCH_RAW_OPENCL
    raw_cl_close(&cl);
#endif
    (void)have_cl;
    bench_low_latency(opt, dev, k, name, backend);
    aidev_kernel_release(k);
    aidev_queue_release(q);

    if (bench_selected(opt, "cpu.axpy_16M"))
        bench_axpy(opt, dev, name, backend);
}

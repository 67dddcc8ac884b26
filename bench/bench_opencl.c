/*
 * bench_opencl.c - aidev on OpenCL devices against the same work through
 * raw OpenCL calls, in the same run.
 *
 * Rows, per OpenCL device:
 *   opencl raw empty dispatch        clEnqueueNDRangeKernel + clFinish of an
 *                                    empty kernel, against clFinish alone
 *   opencl empty dispatch latency    aidev_enqueue_dispatch + aidev_queue_finish
 *                                    against the raw pair
 *   opencl dispatch throughput       1000 back-to-back dispatches, then one
 *                                    finish: time per dispatch
 *   opencl axpy 16M f32              GB/s of the library's axpy against the
 *                                    same OpenCL C source launched raw
 *   opencl kernel load (cache hit)   a second aidev_kernel_create of a source
 *                                    (the binary cache) against its first,
 *                                    cold compile (a source never seen, so
 *                                    neither aidev's cache nor the driver's
 *                                    own has it)
 *   buffer.create_small[_host]       (bench_buffers.c) against
 *                                    clCreateBuffer + clReleaseMemObject with
 *                                    the flags the backend passes: on a
 *                                    device whose memory is host memory, a
 *                                    CL_MEM_USE_HOST_PTR buffer over a
 *                                    zeroed aligned malloc; else
 *                                    CL_MEM_READ_WRITE (DEVICE) or
 *                                    CL_MEM_ALLOC_HOST_PTR (HOST)
 * Every value is the median of repeated runs.
 */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "kernels/library_forms.h"

#define MAX_REPS 4096

static const char empty_source[] = "__kernel void empty(__global float *x) { }\n";

static const aidev_kernel_arg_desc empty_args[] = {
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ_WRITE, NULL},
};

typedef struct raw_device {
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
} raw_device;

/* The raw OpenCL device named |name|, the |nth| of that name (aidev lists
 * OpenCL devices in platform order, as clGetPlatformIDs does). */
static bool raw_open(const char *name, int nth, raw_device *out)
{
    cl_platform_id platforms[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, platforms, &np) != CL_SUCCESS)
        return false;
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id devices[64];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 64, devices, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < 64; d++) {
            char dn[256] = "";
            clGetDeviceInfo(devices[d], CL_DEVICE_NAME, sizeof dn, dn, NULL);
            if (strcmp(dn, name) != 0 || nth-- > 0)
                continue;
            cl_int err;
            out->device = devices[d];
            out->context = clCreateContext(NULL, 1, &devices[d], NULL, NULL, &err);
            if (!out->context)
                return false;
            out->queue = clCreateCommandQueueWithProperties(out->context, devices[d], NULL, &err);
            if (!out->queue) {
                clReleaseContext(out->context);
                return false;
            }
            return true;
        }
    }
    return false;
}

static void raw_close(raw_device *r)
{
    clReleaseCommandQueue(r->queue);
    clReleaseContext(r->context);
}

static cl_kernel raw_kernel(raw_device *r, const char *source, const char *entry)
{
    cl_int err;
    cl_program p = clCreateProgramWithSource(r->context, 1, &source, NULL, &err);
    if (!p)
        return NULL;
    cl_kernel k = NULL;
    if (clBuildProgram(p, 1, &r->device, NULL, NULL, NULL) == CL_SUCCESS)
        k = clCreateKernel(p, entry, &err);
    clReleaseProgram(p);
    return k;
}

static void emit(const bench_options *opt, const char *name, const char *device, double value,
                 const char *unit, const char *baseline, double baseline_value)
{
    bench_row row = {name, device, "opencl", value, unit, baseline, baseline_value};
    bench_emit(opt, &row);
}

/* ------------------------------------------------------------------------ */
/* Dispatch latency and throughput                                          */
/* ------------------------------------------------------------------------ */

typedef struct dispatch_setup {
    aidev_queue queue;
    aidev_kernel kernel;
    aidev_buffer buffer;
    raw_device *raw;
    cl_kernel raw_kernel;
    cl_mem raw_buffer;
} dispatch_setup;

static const uint32_t one[3] = {1, 1, 1};
static const size_t one_size[1] = {1};

static double aidev_empty_once(dispatch_setup *s)
{
    aidev_arg arg = aidev_arg_buffer(s->buffer, 0);
    double t0 = bench_now();
    aidev_enqueue_dispatch(s->queue, s->kernel, one, one, 1, &arg, 0, NULL, NULL);
    aidev_queue_finish(s->queue);
    return bench_now() - t0;
}

static double raw_empty_once(dispatch_setup *s)
{
    double t0 = bench_now();
    clEnqueueNDRangeKernel(s->raw->queue, s->raw_kernel, 1, NULL, one_size, one_size, 0, NULL,
                           NULL);
    clFinish(s->raw->queue);
    return bench_now() - t0;
}

static double raw_finish_once(dispatch_setup *s)
{
    double t0 = bench_now();
    clFinish(s->raw->queue);
    return bench_now() - t0;
}

static double aidev_batch(dispatch_setup *s, int count)
{
    aidev_arg arg = aidev_arg_buffer(s->buffer, 0);
    double t0 = bench_now();
    for (int i = 0; i < count; i++)
        aidev_enqueue_dispatch(s->queue, s->kernel, one, one, 1, &arg, 0, NULL, NULL);
    aidev_queue_finish(s->queue);
    return (bench_now() - t0) / count;
}

static double raw_batch(dispatch_setup *s, int count)
{
    double t0 = bench_now();
    for (int i = 0; i < count; i++)
        clEnqueueNDRangeKernel(s->raw->queue, s->raw_kernel, 1, NULL, one_size, one_size, 0,
                               NULL, NULL);
    clFinish(s->raw->queue);
    return (bench_now() - t0) / count;
}

/* Interleaves the two sides run by run, each first every other run, so
 * that drift and load of a shared machine hit both alike; medians in
 * microseconds. */
static void interleaved(dispatch_setup *s, int reps, double (*a)(dispatch_setup *),
                        double (*b)(dispatch_setup *), double *med_a, double *med_b)
{
    static double sa[MAX_REPS], sb[MAX_REPS];
    for (int i = 0; i < reps; i++) {
        if (i & 1) {
            sb[i] = b(s) * 1e6;
            sa[i] = a(s) * 1e6;
        } else {
            sa[i] = a(s) * 1e6;
            sb[i] = b(s) * 1e6;
        }
    }
    *med_a = bench_median(sa, reps);
    *med_b = bench_median(sb, reps);
}

static void bench_dispatch(const bench_options *opt, aidev_device dev, const char *name,
                           raw_device *raw)
{
    aidev_kernel_desc desc = {.name = "empty", .source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C,
                              .data = empty_source, .arg_count = 1, .args = empty_args};
    aidev_buffer_desc bd = {.size = 256, .kind = AIDEV_MEMORY_DEVICE,
                            .element_type = AIDEV_TYPE_F32};
    dispatch_setup s = {.raw = raw};
    cl_int err;
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &s.queue) != AIDEV_SUCCESS ||
        aidev_kernel_create(dev, &desc, &s.kernel) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &bd, &s.buffer) != AIDEV_SUCCESS) {
        fprintf(stderr, "bench_opencl: %s: %s\n", name, aidev_last_error());
        goto out;
    }
    s.raw_kernel = raw_kernel(raw, empty_source, "empty");
    s.raw_buffer = clCreateBuffer(raw->context, CL_MEM_READ_WRITE, 256, NULL, &err);
    if (!s.raw_kernel || !s.raw_buffer) {
        fprintf(stderr, "bench_opencl: %s: raw OpenCL setup failed\n", name);
        goto out;
    }
    clSetKernelArg(s.raw_kernel, 0, sizeof s.raw_buffer, &s.raw_buffer);

    int reps = opt->quick ? 50 : 2000;
    /* Warm both paths: the driver compiles a workgroup size on first use. */
    for (int i = 0; i < 20; i++) {
        aidev_empty_once(&s);
        raw_empty_once(&s);
    }
    double raw_us, floor_us, aidev_us, base_us;
    if (bench_selected(opt, "opencl raw empty dispatch")) {
        interleaved(&s, reps, raw_empty_once, raw_finish_once, &raw_us, &floor_us);
        emit(opt, "opencl raw empty dispatch", name, raw_us, "us (lower is better)",
             "clFinish of an idle queue", floor_us);
    }
    if (bench_selected(opt, "opencl empty dispatch latency")) {
        interleaved(&s, reps, aidev_empty_once, raw_empty_once, &aidev_us, &base_us);
        emit(opt, "opencl empty dispatch latency", name, aidev_us, "us (lower is better)",
             "raw clEnqueueNDRangeKernel+clFinish", base_us);
    }
    if (bench_selected(opt, "opencl dispatch throughput")) {
        int batches = opt->quick ? 3 : 51;
        double sa[64], sb[64];
        for (int i = 0; i < batches; i++) {
            if (i & 1) {
                sb[i] = raw_batch(&s, 1000) * 1e6;
                sa[i] = aidev_batch(&s, 1000) * 1e6;
            } else {
                sa[i] = aidev_batch(&s, 1000) * 1e6;
                sb[i] = raw_batch(&s, 1000) * 1e6;
            }
        }
        emit(opt, "opencl dispatch throughput x1000", name, bench_median(sa, batches),
             "us/dispatch (lower is better)", "raw clEnqueueNDRangeKernel x1000",
             bench_median(sb, batches));
    }
out:
    if (s.raw_buffer)
        clReleaseMemObject(s.raw_buffer);
    if (s.raw_kernel)
        clReleaseKernel(s.raw_kernel);
    if (s.buffer)
        aidev_buffer_release(s.buffer);
    if (s.kernel)
        aidev_kernel_release(s.kernel);
    if (s.queue)
        aidev_queue_release(s.queue);
}

/* ------------------------------------------------------------------------ */
/* axpy bandwidth                                                           */
/* ------------------------------------------------------------------------ */

#define AXPY_N (16u << 20)

static void bench_axpy(const bench_options *opt, aidev_device dev, const char *name,
                       raw_device *raw)
{
    if (!bench_selected(opt, "opencl axpy"))
        return;
    const aidev_library_gpu_form *form =
        aidev_library_gpu_form_find(aidev_library_opencl_forms, aidev_library_opencl_form_count,
                                    "axpy");
    if (!form)
        return;
    const size_t bytes = (size_t)AXPY_N * sizeof(float);
    aidev_queue q = NULL;
    aidev_kernel k = NULL;
    aidev_buffer x = NULL, y = NULL;
    cl_kernel rk = NULL;
    cl_mem rx = NULL, ry = NULL;
    aidev_buffer_desc bd = {.size = bytes, .kind = AIDEV_MEMORY_DEVICE,
                            .element_type = AIDEV_TYPE_F32};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS ||
        aidev_kernel_get(dev, "axpy", &k) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &bd, &x) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &bd, &y) != AIDEV_SUCCESS) {
        fprintf(stderr, "bench_opencl: axpy on %s: %s\n", name, aidev_last_error());
        goto out;
    }
    cl_int err;
    rk = raw_kernel(raw, form->code, form->entry);
    rx = clCreateBuffer(raw->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    ry = clCreateBuffer(raw->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!rk || !rx || !ry) {
        fprintf(stderr, "bench_opencl: axpy on %s: raw OpenCL setup failed\n", name);
        goto out;
    }
    float zero = 0.0f, alpha = 0.5f;
    cl_uint n = AXPY_N;
    clEnqueueFillBuffer(raw->queue, rx, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    clEnqueueFillBuffer(raw->queue, ry, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    clSetKernelArg(rk, 0, sizeof n, &n);
    clSetKernelArg(rk, 1, sizeof alpha, &alpha);
    clSetKernelArg(rk, 2, sizeof rx, &rx);
    clSetKernelArg(rk, 3, sizeof ry, &ry);
    clFinish(raw->queue);
    /* What a raw OpenCL program launches: one work-item per element, in
     * workgroups of the form's size. */
    size_t local = form->local[0];
    size_t global = (AXPY_N + local - 1) / local * local;
    aidev_arg args[] = {aidev_arg_u32(AXPY_N), aidev_arg_f32(alpha), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};

    int reps = opt->quick ? 2 : 15;
    double sa[64], sb[64];
    for (int i = -1; i < reps; i++) { /* run -1 warms both */
        double t0 = bench_now();
        aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL);
        aidev_queue_finish(q);
        double t1 = bench_now();
        clEnqueueNDRangeKernel(raw->queue, rk, 1, NULL, &global, &local, 0, NULL, NULL);
        clFinish(raw->queue);
        double t2 = bench_now();
        if (i >= 0) {
            sa[i] = 3.0 * (double)bytes / (t1 - t0) / 1e9;
            sb[i] = 3.0 * (double)bytes / (t2 - t1) / 1e9;
        }
    }
    emit(opt, "opencl axpy 16M f32", name, bench_median(sa, reps), "GB/s (higher is better)",
         "raw OpenCL, same kernel", bench_median(sb, reps));
out:
    if (rx)
        clReleaseMemObject(rx);
    if (ry)
        clReleaseMemObject(ry);
    if (rk)
        clReleaseKernel(rk);
    if (x)
        aidev_buffer_release(x);
    if (y)
        aidev_buffer_release(y);
    if (k)
        aidev_kernel_release(k);
    if (q)
        aidev_queue_release(q);
}

/* ------------------------------------------------------------------------ */
/* Kernel load: cold compile against a cache hit                            */
/* ------------------------------------------------------------------------ */

static double create_ms(aidev_device dev, const char *source, bool *ok)
{
    aidev_kernel_desc desc = {.name = "scale", .source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C,
                              .data = source, .arg_count = 1, .args = empty_args};
    aidev_kernel k;
    double t0 = bench_now();
    aidev_status st = aidev_kernel_create(dev, &desc, &k);
    double t = (bench_now() - t0) * 1e3;
    if (st != AIDEV_SUCCESS) {
        fprintf(stderr, "bench_opencl: kernel load: %s\n", aidev_last_error());
        *ok = false;
        return 0;
    }
    aidev_kernel_release(k);
    return t;
}

static void bench_kernel_load(const bench_options *opt, aidev_device dev, const char *name)
{
    if (!bench_selected(opt, "opencl kernel load"))
        return;
    int reps = opt->quick ? 1 : 3;
    double cold[8], hit[8];
    bool ok = true;
    for (int i = 0; i < reps && ok; i++) {
        /* A source no cache has seen: this process, this time, this run. */
        char source[256];
        snprintf(source, sizeof source,
                 "/* bench %ld %.9f %d */\n__kernel void scale(__global float *x)\n"
                 "{ size_t i = get_global_id(0); x[i] = 2.0f * x[i]; }\n",
                 (long)getpid(), bench_now(), i);
        cold[i] = create_ms(dev, source, &ok);
        hit[i] = ok ? create_ms(dev, source, &ok) : 0;
    }
    if (!ok)
        return;
    emit(opt, "opencl kernel load (cache hit)", name, bench_median(hit, reps),
         "ms (lower is better)", "first load, cold compile", bench_median(cold, reps));
}

/* ------------------------------------------------------------------------ */
/* Small buffers                                                            */
/* ------------------------------------------------------------------------ */

/* Whether the backend gives |r|'s buffers libaidev's host memory: a CPU
 * device whose memory is the host's (backends/opencl/memory.c). */
static bool raw_host_memory_device(const raw_device *r)
{
    cl_device_type type = 0;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(r->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(r->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    return (type & CL_DEVICE_TYPE_CPU) && unified;
}

static double raw_create_round_us(void *arg, aidev_memory_kind kind, uint64_t size, int count,
                                  bool *ok)
{
    raw_device *r = arg;
    static cl_mem mems[1000];
    static void *hosts[1000];
    if (count > 1000)
        count = 1000;
    cl_uint align_bits = 0;
    clGetDeviceInfo(r->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits,
                    NULL);
    size_t align = align_bits >= 8 * sizeof(void *) ? align_bits / 8 : sizeof(void *);
    size_t rounded = ((size_t)size + align - 1) / align * align;
    bool host_memory = raw_host_memory_device(r);
    double start = bench_now();
    for (int i = 0; i < count; i++) {
        cl_int err;
        hosts[i] = NULL;
        if (host_memory) {
            hosts[i] = aligned_alloc(align, rounded);
            if (hosts[i])
                memset(hosts[i], 0, (size_t)size);
            mems[i] = clCreateBuffer(r->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR,
                                     (size_t)size, hosts[i], &err);
        } else {
            cl_mem_flags flags = CL_MEM_READ_WRITE;
            if (kind == AIDEV_MEMORY_HOST)
                flags |= CL_MEM_ALLOC_HOST_PTR;
            mems[i] = clCreateBuffer(r->context, flags, (size_t)size, NULL, &err);
        }
        if (!mems[i]) {
            fprintf(stderr, "aidev-bench: buffer.create_small: clCreateBuffer: %d\n", (int)err);
            *ok = false;
            count = i;
            free(hosts[i]);
            break;
        }
    }
    for (int i = 0; i < count; i++) {
        clReleaseMemObject(mems[i]);
        free(hosts[i]);
    }
    return (bench_now() - start) / count * 1e6;
}

static void bench_small_buffers(const bench_options *opt, aidev_device dev, const char *name,
                                raw_device *raw)
{
    bool host_memory = raw_host_memory_device(raw);
    const char *host_ptr = "clCreateBuffer(USE_HOST_PTR) over aligned malloc+memset";
    bench_raw_create rc = {
        .round_us = raw_create_round_us,
        .arg = raw,
        .device_label = host_memory ? host_ptr : "clCreateBuffer(READ_WRITE)",
        .host_label = host_memory ? host_ptr : "clCreateBuffer(ALLOC_HOST_PTR)",
    };
    bench_buffer_create_rows(opt, dev, name, "opencl", &rc);
}

void bench_opencl(const bench_options *opt)
{
    uint32_t count = 0;
    aidev_context_get_devices(opt->context, &count, NULL);
    aidev_device devices[64];
    if (count > 64)
        count = 64;
    aidev_context_get_devices(opt->context, &count, devices);
    char seen[64][256];
    for (uint32_t i = 0; i < count; i++) {
        char name[256], backend[32];
        bench_device_names(devices[i], name, sizeof name, backend, sizeof backend);
        /* Only OpenCL devices count towards the n-th of one name. */
        snprintf(seen[i], sizeof seen[i], "%s", strcmp(backend, "opencl") == 0 ? name : "");
        if (strcmp(backend, "opencl") != 0)
            continue;
        int nth = 0;
        for (uint32_t j = 0; j < i; j++)
            nth += strcmp(seen[j], name) == 0;
        raw_device raw;
        if (!raw_open(name, nth, &raw)) {
            fprintf(stderr, "bench_opencl: no raw OpenCL device named '%s'\n", name);
            continue;
        }
        bench_dispatch(opt, devices[i], name, &raw);
        bench_axpy(opt, devices[i], name, &raw);
        bench_kernel_load(opt, devices[i], name);
        bench_small_buffers(opt, devices[i], name, &raw);
        raw_close(&raw);
    }
}

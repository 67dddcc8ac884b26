/*
 * bench_kernels.c - rows of the built-in kernel library (enabled with
 * -DAIDEV_BENCH_KERNELS=1).
 *
 *   kernels/sgemm N^3      GFLOP/s of the library sgemm. On the CPU backend
 *                          against cblas_sgemm called directly (OpenBLAS,
 *                          its own threads) in the same run: the C form's
 *                          overhead. On a device that takes OpenCL C or
 *                          SPIR-V, against a naive user kernel with one
 *                          work-item per output: the gain of tiling.
 *   kernels/matmul_i8 N^3  GOPS (2 N^3 operations a run) of the library
 *                          matmul_i8 on the CPU backend against oneDNN's
 *                          dnnl_gemm_s8s8s32 and the same rescale, called
 *                          directly (where aidev-bench is built with
 *                          oneDNN). The results must be the same bits.
 *   kernels/matmul_i8_vs_sgemm N^3
 *                          the same GOPS against the GFLOP/s of the
 *                          library sgemm of the same shape on the same
 *                          device: what int8 gains over fp32.
 *   kernels/softmax RxC    GB/s (x read once, y written once) of the
 *   kernels/rmsnorm RxC    library kernel against a plain C loop on one
 *                          host thread.
 *
 * Measurements alternate kernel and baseline, each repeated until a time
 * budget is spent, and report medians; only the dispatch (enqueue to event
 * completion) is timed, never the transfers. Each result is checked against
 * its baseline's, so a broken kernel cannot post a number.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aidev_config.h"
#include "bench.h"

#if AIDEV_HAVE_OPENBLAS
#include <cblas.h>
#endif
#if AIDEV_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#ifdef AIDEV_BENCH_NAIVE_SPIRV
extern const uint32_t sgemm_naive_spirv[];
extern const size_t sgemm_naive_spirv_size;
#endif

#define MAX_SAMPLES 25

static const char naive_sgemm_opencl[] =
    "__kernel void sgemm_naive(uint m, uint n, uint k, float alpha, float beta,\n"
    "                          __global const float *a, __global const float *b,\n"
    "                          __global float *c)\n"
    "{\n"
    "    const size_t j = get_global_id(0), i = get_global_id(1);\n"
    "    if (i >= m || j >= n)\n"
    "        return;\n"
    "    float acc = 0.0f;\n"
    "    for (uint p = 0; p < k; p++)\n"
    "        acc += a[i * k + p] * b[p * n + j];\n"
    "    c[i * n + j] = alpha * acc + beta * c[i * n + j];\n"
    "}\n";

static const aidev_kernel_arg_desc sgemm_args[] = {
    {"m", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"k", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"alpha", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
    {"beta", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
    {"a", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ, "m*k"},
    {"b", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ, "k*n"},
    {"c", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ_WRITE, "m*n"},
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct dev_ctx {
    aidev_device dev;
    aidev_queue queue;
    char name[256], backend[32];
    uint64_t features;
} dev_ctx;

static void fill_random(float *x, size_t n, float lo, float hi, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

static aidev_buffer upload(const dev_ctx *d, const float *data, size_t n)
{
    aidev_buffer_desc desc = {.size = n * sizeof(float), .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_buffer b = NULL;
    if (aidev_buffer_create(d->dev, &desc, &b) != AIDEV_SUCCESS)
        return NULL;
    if (data && aidev_enqueue_write(d->queue, b, 0, desc.size, data, 0, NULL, NULL) != AIDEV_SUCCESS) {
        aidev_buffer_release(b);
        return NULL;
    }
    return b;
}

static bool download(const dev_ctx *d, aidev_buffer b, float *out, size_t n)
{
    return aidev_enqueue_read(d->queue, b, 0, n * sizeof(float), out, 0, NULL, NULL) ==
               AIDEV_SUCCESS &&
           aidev_queue_finish(d->queue) == AIDEV_SUCCESS;
}

/* Seconds from enqueue to completion of one dispatch; negative on error. */
static double time_dispatch(const dev_ctx *d, aidev_kernel k, const uint32_t *grid,
                            uint32_t argc, const aidev_arg *args)
{
    aidev_event ev = NULL;
    double t0 = bench_now();
    if (aidev_enqueue_dispatch(d->queue, k, grid, NULL, argc, args, 0, NULL, &ev) != AIDEV_SUCCESS)
        return -1;
    aidev_status st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
    double t = bench_now() - t0;
    aidev_event_release(ev);
    return st == AIDEV_SUCCESS ? t : -1;
}

/* Alternates two measurements until |budget| seconds are spent (at least
 * |min| samples each, at most MAX_SAMPLES) and stores their medians. Each
 * function returns the seconds of one run, negative on failure. */
typedef double (*run_fn)(void *ctx);
static bool measure_pair(run_fn a, void *actx, run_fn b, void *bctx, double budget, int min,
                         double *out_a, double *out_b)
{
    double sa[MAX_SAMPLES], sb[MAX_SAMPLES];
    int n = 0;
    if (a(actx) < 0 || b(bctx) < 0) /* warm-up: JIT, caches, thread pools */
        return false;
    double start = bench_now();
    while (n < MAX_SAMPLES && (n < min || bench_now() - start < budget)) {
        sa[n] = a(actx);
        sb[n] = b(bctx);
        if (sa[n] < 0 || sb[n] < 0)
            return false;
        n++;
    }
    *out_a = bench_median(sa, n);
    *out_b = bench_median(sb, n);
    return true;
}

/* Largest |x - y| relative to the largest |y|. */
static double max_rel_diff(const float *x, const float *y, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)x[i] - y[i]));
        scale = fmax(scale, fabs((double)y[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

/* ------------------------------------------------------------------------ */
/* sgemm                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct sgemm_run {
    const dev_ctx *d;
    aidev_kernel kernel;
    aidev_arg args[8];
    uint32_t grid[3];
#if AIDEV_HAVE_OPENBLAS
    uint32_t n;
    const float *a, *b;
    float *c;
#endif
} sgemm_run;

static double run_device_sgemm(void *ctx)
{
    sgemm_run *r = ctx;
    return time_dispatch(r->d, r->kernel, r->grid, 8, r->args);
}

#if AIDEV_HAVE_OPENBLAS
static double run_cblas(void *ctx)
{
    sgemm_run *r = ctx;
    double t0 = bench_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)r->n, (blasint)r->n,
                (blasint)r->n, 1.0f, r->a, (blasint)r->n, r->b, (blasint)r->n, 0.0f, r->c,
                (blasint)r->n);
    return bench_now() - t0;
}
#endif

/* The baseline kernel of a GPU-like device: the naive sgemm as a user
 * kernel in the form the device takes, or NULL. */
static aidev_kernel naive_sgemm(const dev_ctx *d, const char **what)
{
    aidev_kernel_desc desc = {.name = "sgemm_naive", .arg_count = 8, .args = sgemm_args,
                              .grid = {"n", "m", NULL}};
    if (d->features & AIDEV_FEATURE_KERNEL_OPENCL_C) {
        desc.source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C;
        desc.data = naive_sgemm_opencl;
        *what = "naive sgemm (OpenCL C user kernel)";
    } else if (d->features & AIDEV_FEATURE_KERNEL_SPIRV) {
#ifdef AIDEV_BENCH_NAIVE_SPIRV
        desc.source_kind = AIDEV_KERNEL_SOURCE_SPIRV;
        desc.data = sgemm_naive_spirv;
        desc.size = sgemm_naive_spirv_size;
        *what = "naive sgemm (SPIR-V user kernel)";
#else
        return NULL;
#endif
    } else {
        return NULL;
    }
    aidev_kernel k = NULL;
    if (aidev_kernel_create(d->dev, &desc, &k) != AIDEV_SUCCESS) {
        fprintf(stderr, "bench kernels: naive sgemm on %s: %s\n", d->name, aidev_last_error());
        return NULL;
    }
    return k;
}

/* Measures the library sgemm and its baseline at n x n x n. With |emit|,
 * posts the row; without, only times one run of each (a probe) and stores
 * their sum in |*seconds|. */
static void sgemm_at(const bench_options *opt, const dev_ctx *d, uint32_t n, bool emit,
                     double *seconds)
{
    char name[64];
    snprintf(name, sizeof name, "kernels/sgemm %u^3", n);
    const bool cpu = strcmp(d->backend, "cpu") == 0;
    const size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof(float)), *b = malloc(nn * sizeof(float));
    float *c_lib = calloc(nn, sizeof(float)), *c_base = calloc(nn, sizeof(float));
    aidev_buffer ba = NULL, bb = NULL, bc = NULL, bc2 = NULL;
    aidev_kernel lib = NULL, naive = NULL;
    const char *baseline = NULL;
    if (!a || !b || !c_lib || !c_base)
        goto out;
    fill_random(a, nn, -1, 1, 1);
    fill_random(b, nn, -1, 1, 2);
    ba = upload(d, a, nn);
    bb = upload(d, b, nn);
    bc = upload(d, c_lib, nn);
    if (!ba || !bb || !bc || aidev_kernel_get(d->dev, "sgemm", &lib) != AIDEV_SUCCESS)
        goto out;

    sgemm_run lib_run = {.d = d, .kernel = lib, .grid = {n, n, 1}};
    aidev_arg args[8] = {aidev_arg_u32(n),        aidev_arg_u32(n),        aidev_arg_u32(n),
                         aidev_arg_f32(1),        aidev_arg_f32(0),        aidev_arg_buffer(ba, 0),
                         aidev_arg_buffer(bb, 0), aidev_arg_buffer(bc, 0)};
    memcpy(lib_run.args, args, sizeof args);
    sgemm_run base_run = lib_run;
    run_fn base_fn = run_device_sgemm;
    if (cpu) {
#if AIDEV_HAVE_OPENBLAS
        base_run.n = n, base_run.a = a, base_run.b = b, base_run.c = c_base;
        base_fn = run_cblas;
        baseline = "cblas_sgemm (OpenBLAS, direct)";
#endif
    } else {
        naive = naive_sgemm(d, &baseline);
        bc2 = upload(d, c_base, nn);
        if (naive && bc2) {
            base_run.kernel = naive;
            base_run.args[7] = aidev_arg_buffer(bc2, 0);
        } else {
            baseline = NULL;
        }
    }
    if (!baseline) {
        fprintf(stderr, "bench kernels: %s on %s: no baseline on this device\n", name, d->name);
        goto out;
    }
    double t_lib, t_base;
    if (!measure_pair(run_device_sgemm, &lib_run, base_fn, &base_run,
                      !emit ? 0 : opt->quick ? 0.2 : 3.0, !emit || opt->quick ? 1 : 3, &t_lib,
                      &t_base)) {
        fprintf(stderr, "bench kernels: %s on %s failed: %s\n", name, d->name, aidev_last_error());
        goto out;
    }
    if (seconds)
        *seconds = t_lib + t_base;
    if (!emit)
        goto out;
    if (!download(d, bc, c_lib, nn) || (bc2 && !download(d, bc2, c_base, nn)))
        goto out;
    double diff = max_rel_diff(c_lib, c_base, nn);
    if (diff > 1e-4) {
        fprintf(stderr, "bench kernels: %s on %s: results differ from the baseline's by %g; "
                "no row\n", name, d->name, diff);
        goto out;
    }
    const double flop = 2.0 * n * n * n;
    bench_row row = {.name = name, .device = d->name, .backend = d->backend,
                     .value = flop / t_lib * 1e-9, .unit = "GFLOP/s (higher is better)",
                     .baseline = baseline, .baseline_value = flop / t_base * 1e-9};
    bench_emit(opt, &row);
out:
    if (lib)
        aidev_kernel_release(lib);
    if (naive)
        aidev_kernel_release(naive);
    aidev_buffer ff[] = {ba, bb, bc, bc2};
    for (size_t i = 0; i < sizeof ff / sizeof ff[0]; i++)
        if (ff[i])
            aidev_buffer_release(ff[i]);
    free(a), free(b), free(c_lib), free(c_base);
}

/* 1024^3 on the CPU backend (the size its row is known by) and on every
 * device fast enough; a device whose probe at 256^3 predicts more than a few
 * seconds a run (CPU-emulated GPUs and their naive baseline) is measured at
 * the largest size that does not. */
static void bench_sgemm(const bench_options *opt, const dev_ctx *d)
{
    if (!bench_selected(opt, "kernels/sgemm"))
        return;
    uint32_t n = opt->quick ? 256 : 1024;
    if (!opt->quick && strcmp(d->backend, "cpu") != 0) {
        double probe = -1;
        sgemm_at(opt, d, 256, false, &probe);
        if (probe < 0)
            return; /* said why already */
        while (n > 256 && probe * ((double)n / 256) * ((double)n / 256) * ((double)n / 256) > 4.0)
            n /= 2;
    }
    sgemm_at(opt, d, n, true, NULL);
}

/* ------------------------------------------------------------------------ */
/* softmax and rmsnorm against plain C loops                                */
/* ------------------------------------------------------------------------ */

typedef struct row_op {
    uint32_t rows, cols;
    const float *x, *w;
    float *y;
} row_op;

static double softmax_loop(void *ctx)
{
    const row_op *o = ctx;
    double t0 = bench_now();
    for (uint32_t r = 0; r < o->rows; r++) {
        const float *x = o->x + (size_t)r * o->cols;
        float *y = o->y + (size_t)r * o->cols;
        float m = -INFINITY, s = 0;
        for (uint32_t c = 0; c < o->cols; c++)
            m = x[c] > m ? x[c] : m;
        for (uint32_t c = 0; c < o->cols; c++) {
            y[c] = expf(x[c] - m);
            s += y[c];
        }
        for (uint32_t c = 0; c < o->cols; c++)
            y[c] /= s;
    }
    return bench_now() - t0;
}

static double rmsnorm_loop(void *ctx)
{
    const row_op *o = ctx;
    double t0 = bench_now();
    for (uint32_t r = 0; r < o->rows; r++) {
        const float *x = o->x + (size_t)r * o->cols;
        float *y = o->y + (size_t)r * o->cols;
        float ss = 0;
        for (uint32_t c = 0; c < o->cols; c++)
            ss += x[c] * x[c];
        const float inv = 1.0f / sqrtf(ss / (float)o->cols + 1e-5f);
        for (uint32_t c = 0; c < o->cols; c++)
            y[c] = x[c] * inv * o->w[c];
    }
    return bench_now() - t0;
}

typedef struct dispatch_run {
    const dev_ctx *d;
    aidev_kernel kernel;
    uint32_t argc;
    aidev_arg args[6];
} dispatch_run;

static double run_dispatch(void *ctx)
{
    dispatch_run *r = ctx;
    return time_dispatch(r->d, r->kernel, NULL, r->argc, r->args);
}

static void bench_rows(const bench_options *opt, const dev_ctx *d, const char *kernel)
{
    const uint32_t rows = opt->quick ? 512 : 4096, cols = 1024;
    char name[64];
    snprintf(name, sizeof name, "kernels/%s %ux%u", kernel, rows, cols);
    if (!bench_selected(opt, name))
        return;
    const bool rms = strcmp(kernel, "rmsnorm") == 0;
    const size_t n = (size_t)rows * cols;
    float *x = malloc(n * sizeof(float)), *w = malloc(cols * sizeof(float));
    float *y_lib = malloc(n * sizeof(float)), *y_base = malloc(n * sizeof(float));
    aidev_buffer bx = NULL, bw = NULL, by = NULL;
    aidev_kernel k = NULL;
    if (!x || !w || !y_lib || !y_base)
        goto out;
    fill_random(x, n, -4, 4, 3);
    fill_random(w, cols, 0.5f, 1.5f, 4);
    bx = upload(d, x, n);
    bw = upload(d, w, cols);
    by = upload(d, NULL, n);
    if (!bx || !bw || !by || aidev_kernel_get(d->dev, kernel, &k) != AIDEV_SUCCESS)
        goto out;
    dispatch_run lib = {.d = d, .kernel = k};
    lib.args[lib.argc++] = aidev_arg_u32(rows);
    lib.args[lib.argc++] = aidev_arg_u32(cols);
    if (rms)
        lib.args[lib.argc++] = aidev_arg_f32(1e-5f);
    lib.args[lib.argc++] = aidev_arg_buffer(bx, 0);
    if (rms)
        lib.args[lib.argc++] = aidev_arg_buffer(bw, 0);
    lib.args[lib.argc++] = aidev_arg_buffer(by, 0);
    row_op base = {.rows = rows, .cols = cols, .x = x, .w = w, .y = y_base};
    double t_lib, t_base;
    if (!measure_pair(run_dispatch, &lib, rms ? rmsnorm_loop : softmax_loop, &base,
                      opt->quick ? 0.2 : 2.0, opt->quick ? 1 : 5, &t_lib, &t_base)) {
        fprintf(stderr, "bench kernels: %s on %s failed: %s\n", name, d->name, aidev_last_error());
        goto out;
    }
    if (!download(d, by, y_lib, n))
        goto out;
    double diff = max_rel_diff(y_lib, y_base, n);
    if (diff > 1e-4) {
        fprintf(stderr, "bench kernels: %s on %s: results differ from the loop's by %g; no row\n",
                name, d->name, diff);
        goto out;
    }
    /* The least traffic either must make: x read once, y written once. */
    const double bytes = 2.0 * n * sizeof(float);
    bench_row row = {.name = name, .device = d->name, .backend = d->backend,
                     .value = bytes / t_lib * 1e-9, .unit = "GB/s (higher is better)",
                     .baseline = "plain C loop, one host thread",
                     .baseline_value = bytes / t_base * 1e-9};
    bench_emit(opt, &row);
out:
    if (k)
        aidev_kernel_release(k);
    aidev_buffer ff[] = {bx, bw, by};
    for (size_t i = 0; i < sizeof ff / sizeof ff[0]; i++)
        if (ff[i])
            aidev_buffer_release(ff[i]);
    free(x), free(w), free(y_lib), free(y_base);
}

/* ------------------------------------------------------------------------ */
/* matmul_i8 against oneDNN and against sgemm                               */
/* ------------------------------------------------------------------------ */

typedef struct i8_operands {
    uint32_t n;
    int8_t *a, *b;
    float *sa, *sb, *y;
} i8_operands;

static aidev_buffer upload_bytes(const dev_ctx *d, const void *data, size_t bytes, aidev_type t)
{
    aidev_buffer_desc desc = {.size = bytes, .kind = AIDEV_MEMORY_DEVICE, .element_type = t};
    aidev_buffer b = NULL;
    if (aidev_buffer_create(d->dev, &desc, &b) != AIDEV_SUCCESS)
        return NULL;
    if (data && aidev_enqueue_write(d->queue, b, 0, bytes, data, 0, NULL, NULL) != AIDEV_SUCCESS) {
        aidev_buffer_release(b);
        return NULL;
    }
    return b;
}

#if AIDEV_HAVE_DNNL
/* oneDNN called as a user would: int32 sums, then the kernel's rescale
 * (float(sum) * sa[i] * sb[j], in that order). */
static double run_dnnl_i8(void *ctx)
{
    i8_operands *o = ctx;
    const uint32_t n = o->n;
    int32_t *acc = (int32_t *)(void *)o->y;
    const int32_t no_offset = 0;
    double t0 = bench_now();
    if (dnnl_gemm_s8s8s32('N', 'T', 'F', n, n, n, 1.0f, o->a, n, 0, o->b, n, 0, 0.0f, acc, n,
                          &no_offset) != dnnl_success)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            int32_t s;
            memcpy(&s, &o->y[(size_t)i * n + j], sizeof s);
            o->y[(size_t)i * n + j] = (float)s * o->sa[i] * o->sb[j];
        }
    return bench_now() - t0;
}
#endif

/* kernels/matmul_i8 and kernels/matmul_i8_vs_sgemm on the CPU backend. */
static void bench_matmul_i8(const bench_options *opt, const dev_ctx *d)
{
    if (strcmp(d->backend, "cpu") != 0 || !bench_selected(opt, "kernels/matmul_i8"))
        return;
    const uint32_t n = opt->quick ? 256 : 1024;
    const size_t nn = (size_t)n * n;
    char name[64], vs_name[64];
    snprintf(name, sizeof name, "kernels/matmul_i8 %u^3", n);
    snprintf(vs_name, sizeof vs_name, "kernels/matmul_i8_vs_sgemm %u^3", n);
    i8_operands o = {.n = n, .a = malloc(nn), .b = malloc(nn), .sa = malloc(n * sizeof(float)),
                     .sb = malloc(n * sizeof(float)), .y = malloc(nn * sizeof(float))};
    float *f = malloc(nn * sizeof(float)), *y_lib = malloc(nn * sizeof(float));
    aidev_buffer bufs[8] = {NULL};
    aidev_kernel k8 = NULL, k32 = NULL;
    if (!o.a || !o.b || !o.sa || !o.sb || !o.y || !f || !y_lib)
        goto out;
    fill_random(f, nn, -127.5f, 127.5f, 5);
    for (size_t i = 0; i < nn; i++)
        o.a[i] = (int8_t)f[i];
    fill_random(f, nn, -127.5f, 127.5f, 6);
    for (size_t i = 0; i < nn; i++)
        o.b[i] = (int8_t)f[i];
    fill_random(o.sa, n, 0.001f, 0.01f, 7);
    fill_random(o.sb, n, 0.001f, 0.01f, 8);
    fill_random(f, nn, -1, 1, 9);
    bufs[0] = upload_bytes(d, o.a, nn, AIDEV_TYPE_I8);
    bufs[1] = upload_bytes(d, o.sa, n * sizeof(float), AIDEV_TYPE_F32);
    bufs[2] = upload_bytes(d, o.b, nn, AIDEV_TYPE_I8);
    bufs[3] = upload_bytes(d, o.sb, n * sizeof(float), AIDEV_TYPE_F32);
    bufs[4] = upload_bytes(d, NULL, nn * sizeof(float), AIDEV_TYPE_F32);
    bufs[5] = upload(d, f, nn); /* sgemm's a, b, c */
    bufs[6] = upload(d, f, nn);
    bufs[7] = upload(d, NULL, nn);
    for (int i = 0; i < 8; i++)
        if (!bufs[i])
            goto out;
    if (aidev_kernel_get(d->dev, "matmul_i8", &k8) != AIDEV_SUCCESS ||
        aidev_kernel_get(d->dev, "sgemm", &k32) != AIDEV_SUCCESS)
        goto out;
    sgemm_run i8_run = {.d = d, .kernel = k8, .grid = {n, n, 1}};
    aidev_arg i8_args[8] = {aidev_arg_u32(n), aidev_arg_u32(n), aidev_arg_u32(n),
                            aidev_arg_buffer(bufs[0], 0), aidev_arg_buffer(bufs[1], 0),
                            aidev_arg_buffer(bufs[2], 0), aidev_arg_buffer(bufs[3], 0),
                            aidev_arg_buffer(bufs[4], 0)};
    memcpy(i8_run.args, i8_args, sizeof i8_args);
    sgemm_run f32_run = {.d = d, .kernel = k32, .grid = {n, n, 1}};
    aidev_arg f32_args[8] = {aidev_arg_u32(n),           aidev_arg_u32(n),
                             aidev_arg_u32(n),           aidev_arg_f32(1),
                             aidev_arg_f32(0),           aidev_arg_buffer(bufs[5], 0),
                             aidev_arg_buffer(bufs[6], 0), aidev_arg_buffer(bufs[7], 0)};
    memcpy(f32_run.args, f32_args, sizeof f32_args);
    const double budget = opt->quick ? 0.2 : 3.0, ops = 2.0 * n * n * n;
    const int min = opt->quick ? 1 : 5;
    double t_i8, t_other;
#if AIDEV_HAVE_DNNL
    if (!measure_pair(run_device_sgemm, &i8_run, run_dnnl_i8, &o, budget, min, &t_i8, &t_other) ||
        !download(d, bufs[4], y_lib, nn)) {
        fprintf(stderr, "bench kernels: %s on %s failed: %s\n", name, d->name, aidev_last_error());
        goto out;
    }
    if (memcmp(y_lib, o.y, nn * sizeof(float)) != 0) {
        fprintf(stderr, "bench kernels: %s on %s: results differ from oneDNN's; no row\n", name,
                d->name);
        goto out;
    }
    bench_row row = {.name = name, .device = d->name, .backend = d->backend,
                     .value = ops / t_i8 * 1e-9, .unit = "GOPS (higher is better)",
                     .baseline = "dnnl_gemm_s8s8s32 + rescale (oneDNN, direct)",
                     .baseline_value = ops / t_other * 1e-9};
    bench_emit(opt, &row);
#else
    fprintf(stderr, "bench kernels: %s: aidev-bench was built without oneDNN: no row\n", name);
#endif
    if (!measure_pair(run_device_sgemm, &i8_run, run_device_sgemm, &f32_run, budget, min, &t_i8,
                      &t_other)) {
        fprintf(stderr, "bench kernels: %s on %s failed: %s\n", vs_name, d->name,
                aidev_last_error());
        goto out;
    }
    bench_row vs = {.name = vs_name, .device = d->name, .backend = d->backend,
                    .value = ops / t_i8 * 1e-9, .unit = "GOPS (higher is better)",
                    .baseline = "library sgemm, same shape (GFLOP/s)",
                    .baseline_value = ops / t_other * 1e-9};
    bench_emit(opt, &vs);
out:
    if (k8)
        aidev_kernel_release(k8);
    if (k32)
        aidev_kernel_release(k32);
    for (int i = 0; i < 8; i++)
        if (bufs[i])
            aidev_buffer_release(bufs[i]);
    free(o.a), free(o.b), free(o.sa), free(o.sb), free(o.y), free(f), free(y_lib);
}

void bench_kernels(const bench_options *opt)
{
    uint32_t count = 0;
    aidev_context_get_devices(opt->context, &count, NULL);
    aidev_device *devs = calloc(count ? count : 1, sizeof *devs);
    if (!devs)
        return;
    aidev_context_get_devices(opt->context, &count, devs);
    for (uint32_t i = 0; i < count; i++) {
        dev_ctx d = {.dev = devs[i]};
        bench_device_names(d.dev, d.name, sizeof d.name, d.backend, sizeof d.backend);
        aidev_device_get_info(d.dev, AIDEV_DEVICE_INFO_FEATURES, sizeof d.features, &d.features,
                              NULL);
        if (aidev_queue_create(d.dev, AIDEV_QUEUE_PRIORITY_NORMAL, &d.queue) != AIDEV_SUCCESS) {
            fprintf(stderr, "bench kernels: %s: %s\n", d.name, aidev_last_error());
            continue;
        }
        bench_sgemm(opt, &d);
        bench_matmul_i8(opt, &d);
        bench_rows(opt, &d, "softmax");
        bench_rows(opt, &d, "rmsnorm");
        aidev_queue_release(d.queue);
    }
    free(devs);
}

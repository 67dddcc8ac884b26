/*
 * bench_tensor.c - rows of the tensor ops (aidev_tensor.h).
 *
 *   tensor.gemm_strided_batched   GFLOP/s of one aidev_enqueue_gemm_strided_
 *                                 batched over B small matrices, against a
 *                                 loop of B aidev_enqueue_gemm calls on the
 *                                 same queue (what a framework without the
 *                                 batched call writes): the dispatches a
 *                                 batch saves.
 *
 * Each side is timed from the first enqueue to the completion of its last
 * command, alternating, medians over a time budget; the two results are
 * compared before a row is posted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define TENSOR_SAMPLES 25

typedef struct batched_run {
    aidev_queue queue;
    aidev_gemm_strided d;
    aidev_tensor a[1024], b[1024], c[1024]; /* single-GEMM views, one per batch */
} batched_run;

/* Seconds of one strided-batched call; negative on error. */
static double tensor_batched_once(batched_run *r)
{
    aidev_event ev = NULL;
    const double t0 = bench_now();
    if (aidev_enqueue_gemm_strided_batched(r->queue, &r->d, 0, NULL, &ev) != AIDEV_SUCCESS)
        return -1;
    aidev_status st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
    aidev_event_release(ev);
    return st == AIDEV_SUCCESS ? bench_now() - t0 : -1;
}

/* Seconds of the loop of single GEMMs, waiting on the last. */
static double tensor_loop_once(batched_run *r)
{
    const double t0 = bench_now();
    for (uint32_t z = 0; z < r->d.batch; z++)
        if (aidev_enqueue_gemm(r->queue, NULL, &r->a[z], &r->b[z], NULL, &r->c[z], 0, NULL,
                               NULL) != AIDEV_SUCCESS)
            return -1;
    return aidev_queue_finish(r->queue) == AIDEV_SUCCESS ? bench_now() - t0 : -1;
}

static bool tensor_read(aidev_queue q, aidev_buffer b, float *out, size_t n)
{
    return aidev_enqueue_read(q, b, 0, n * sizeof(float), out, 0, NULL, NULL) == AIDEV_SUCCESS &&
           aidev_queue_finish(q) == AIDEV_SUCCESS;
}

static aidev_buffer tensor_buffer(aidev_device dev, aidev_queue q, size_t n, uint32_t seed)
{
    aidev_buffer_desc desc = {.size = n * sizeof(float), .kind = AIDEV_MEMORY_DEVICE};
    aidev_buffer b = NULL;
    float *x = malloc(n * sizeof(float));
    if (x && aidev_buffer_create(dev, &desc, &b) == AIDEV_SUCCESS) {
        uint32_t s = seed * 2654435761u + 1;
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            x[i] = (float)(s >> 8) * (1.0f / 16777216.0f) - 0.5f;
        }
        if (aidev_enqueue_write(q, b, 0, desc.size, x, 0, NULL, NULL) != AIDEV_SUCCESS ||
            aidev_queue_finish(q) != AIDEV_SUCCESS) {
            aidev_buffer_release(b);
            b = NULL;
        }
    }
    free(x);
    return b;
}

/* Both sides, alternating; medians in |*t_batched| and |*t_loop|. */
static bool tensor_measure(batched_run *r, double budget, int min, double *t_batched,
                           double *t_loop)
{
    double sb[TENSOR_SAMPLES], sl[TENSOR_SAMPLES];
    int n = 0;
    if (tensor_batched_once(r) < 0 || tensor_loop_once(r) < 0) /* warm-up: kernel builds */
        return false;
    const double start = bench_now();
    while (n < TENSOR_SAMPLES && (n < min || bench_now() - start < budget)) {
        sb[n] = tensor_batched_once(r);
        sl[n] = tensor_loop_once(r);
        if (sb[n] < 0 || sl[n] < 0)
            return false;
        n++;
    }
    *t_batched = bench_median(sb, n);
    *t_loop = bench_median(sl, n);
    return true;
}

static void tensor_gemm_batched_row(const bench_options *opt, aidev_device dev, const char *name,
                                    const char *backend)
{
    const char *row_name = "tensor.gemm_strided_batched";
    if (!bench_selected(opt, row_name))
        return;
    const uint32_t m = opt->quick ? 16 : 64, batch = opt->quick ? 8 : 256;
    const size_t per = (size_t)m * m, n = per * batch;
    batched_run *r = calloc(1, sizeof *r);
    aidev_buffer a = NULL, b = NULL, c = NULL;
    float *c_batched = malloc(n * sizeof(float)), *c_loop = malloc(n * sizeof(float));
    if (!r || !c_batched || !c_loop ||
        aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &r->queue) != AIDEV_SUCCESS)
        goto out;
    a = tensor_buffer(dev, r->queue, n, 1);
    b = tensor_buffer(dev, r->queue, n, 2);
    c = tensor_buffer(dev, r->queue, n, 3);
    if (!a || !b || !c)
        goto out;
    r->d = (aidev_gemm_strided){.m = m, .n = m, .k = m, .batch = batch, .alpha = 1,
                                .type_a = AIDEV_TYPE_F32, .type_b = AIDEV_TYPE_F32,
                                .type_c = AIDEV_TYPE_F32, .a = a, .lda = m,
                                .stride_a = (int64_t)per, .b = b, .ldb = m,
                                .stride_b = (int64_t)per, .c = c, .ldc = m,
                                .stride_c = (int64_t)per};
    const int64_t shape[2] = {m, m};
    for (uint32_t z = 0; z < batch; z++) {
        const uint64_t at = z * per * sizeof(float);
        aidev_tensor_init(&r->a[z], a, at, AIDEV_TYPE_F32, 2, shape);
        aidev_tensor_init(&r->b[z], b, at, AIDEV_TYPE_F32, 2, shape);
        aidev_tensor_init(&r->c[z], c, at, AIDEV_TYPE_F32, 2, shape);
    }
    double t_batched, t_loop;
    if (!tensor_measure(r, opt->quick ? 0.2 : 2.0, opt->quick ? 1 : 5, &t_batched, &t_loop) ||
        !tensor_read(r->queue, c, c_loop, n) || tensor_batched_once(r) < 0 ||
        !tensor_read(r->queue, c, c_batched, n)) {
        fprintf(stderr, "bench tensor: %s on %s failed: %s\n", row_name, name,
                aidev_last_error());
        goto out;
    }
    double diff = 0;
    for (size_t i = 0; i < n; i++)
        diff = fmax(diff, fabs((double)c_batched[i] - c_loop[i]));
    if (diff > 1e-4 * m) {
        fprintf(stderr, "bench tensor: %s on %s: the batched results differ from the loop's "
                        "by %g; no row\n", row_name, name, diff);
        goto out;
    }
    const double flops = 2.0 * m * m * m * batch;
    char label[96];
    snprintf(label, sizeof label, "a loop of %u aidev_enqueue_gemm (%ux%ux%u)", batch, m, m, m);
    bench_row row = {.name = row_name, .device = name, .backend = backend,
                     .value = flops / t_batched * 1e-9, .unit = "GFLOP/s (higher is better)",
                     .baseline = label, .baseline_value = flops / t_loop * 1e-9};
    bench_emit(opt, &row);
out:
    if (r && r->queue)
        aidev_queue_release(r->queue);
    aidev_buffer bufs[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (bufs[i])
            aidev_buffer_release(bufs[i]);
    free(r), free(c_batched), free(c_loop);
}

void bench_tensor(const bench_options *opt)
{
    uint32_t count = 0;
    aidev_context_get_devices(opt->context, &count, NULL);
    aidev_device *devs = calloc(count ? count : 1, sizeof *devs);
    if (!devs)
        return;
    aidev_context_get_devices(opt->context, &count, devs);
    for (uint32_t i = 0; i < count; i++) {
        char name[256], backend[32];
        bench_device_names(devs[i], name, sizeof name, backend, sizeof backend);
        tensor_gemm_batched_row(opt, devs[i], name, backend);
    }
    free(devs);
}

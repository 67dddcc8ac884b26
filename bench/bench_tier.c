/*
 * bench_tier.c - the compressed memory tier (issue 20).
 *
 *   tier.evict_CODEC     on every device: aidev_enqueue_evict of a 256 MiB
 *                        f32 buffer of activations (half zeros, as after a
 *                        ReLU) and waiting for it, in GB/s of buffer bytes,
 *                        against the codec library called directly on the
 *                        same bytes, in the same 1 MiB chunks on as many
 *                        threads (no byte planes, no checksums, no device
 *                        read). Near 1: the tier costs what its codec does.
 *   tier.restore_CODEC   the same for aidev_enqueue_restore, against the
 *                        codec's decompression of those chunks.
 *                        Page state: a restore writes into new memory (the
 *                        eviction gave the old back), so the baseline
 *                        decodes into a new allocation of the same kind
 *                        each time (aidev_backend_host_alloc, as the CPU
 *                        backend's buffers and the tier's staging are).
 *                        An eviction writes into its context's pool of
 *                        blocks freed by the restore before it, and the
 *                        baseline into its output buffer of the run before:
 *                        memory already faulted in, for both.
 *   tier.ratio_DATA_CODEC  once: the compression ratio (bytes / stored
 *                        bytes) of an evicted 64 MiB buffer of DATA (fp32
 *                        weights drawn from a normal distribution, bf16
 *                        weights, int8 weights, half-zero f32 activations),
 *                        against the codec's own ratio on the same bytes
 *                        without byte planes.
 * CODEC is lz4 and zstd, each where this build has it. --quick: 8 MiB.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <aidev/aidev_backend.h>

#include "bench.h"

#if AIDEV_BENCH_LZ4
#include <lz4.h>
#endif
#if AIDEV_BENCH_ZSTD
#include <zstd.h>
#endif

#define TIER_CHUNK ((size_t)1 << 20)

typedef enum tier_codec { TIER_LZ4, TIER_ZSTD } tier_codec;
static const char *const tier_codec_names[] = {"lz4", "zstd"};

static bool tier_has_codec(tier_codec c)
{
    return c == TIER_LZ4 ? AIDEV_BENCH_LZ4 : AIDEV_BENCH_ZSTD;
}

/* ------------------------------------------------------------------------ */
/* Data                                                                     */
/* ------------------------------------------------------------------------ */

typedef enum tier_data { TIER_FP32, TIER_BF16, TIER_INT8, TIER_HALF_ZERO } tier_data;
static const char *const tier_data_names[] = {"fp32_weights", "bf16", "int8", "half_zero"};

static uint64_t tier_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float tier_normal(uint64_t *s)
{
    double u1 = ((double)(tier_rng(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(tier_rng(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* |size| bytes of |kind|, and its element type. */
static void *tier_make_data(tier_data kind, size_t size, aidev_type *type)
{
    unsigned char *p = malloc(size);
    if (!p)
        return NULL;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < size;) {
        float f = tier_normal(&s);
        if (kind == TIER_FP32 || kind == TIER_HALF_ZERO) {
            f = kind == TIER_FP32 ? f * 0.02f : (f > 0 ? f : 0.0f);
            memcpy(p + i, &f, 4);
            i += 4;
        } else if (kind == TIER_BF16) {
            uint32_t u;
            memcpy(&u, &f, 4);
            uint16_t h = (uint16_t)((u + 0x8000u) >> 16);
            memcpy(p + i, &h, 2);
            i += 2;
        } else {
            float q = roundf(f * 32.0f);
            p[i++] = (unsigned char)(int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    }
    *type = kind == TIER_BF16 ? AIDEV_TYPE_BF16 : kind == TIER_INT8 ? AIDEV_TYPE_I8
                                                                    : AIDEV_TYPE_F32;
    return p;
}

/* ------------------------------------------------------------------------ */
/* The codec library called directly: chunks on threads                     */
/* ------------------------------------------------------------------------ */

typedef struct tier_raw_job {
    tier_codec codec;
    bool decode;
    const unsigned char *src;
    size_t size;
    unsigned char *packed;    /* chunk i at i * bound */
    size_t bound;
    size_t *packed_sizes;
    unsigned char *out;       /* decode target: new memory each run */
    atomic_size_t next;
    atomic_size_t stored;
    atomic_bool failed;
} tier_raw_job;

static size_t tier_raw_chunk(tier_raw_job *j, size_t i, void *zctx)
{
    (void)zctx;
    size_t n = j->size - i * TIER_CHUNK < TIER_CHUNK ? j->size - i * TIER_CHUNK : TIER_CHUNK;
    unsigned char *slot = j->packed + i * j->bound;
#if AIDEV_BENCH_LZ4
    if (j->codec == TIER_LZ4 && !j->decode)
        return (size_t)LZ4_compress_default((const char *)j->src + i * TIER_CHUNK, (char *)slot,
                                            (int)n, (int)j->bound);
    if (j->codec == TIER_LZ4)
        return LZ4_decompress_safe((const char *)slot, (char *)j->out + i * TIER_CHUNK,
                                   (int)j->packed_sizes[i], (int)n) == (int)n ? n : 0;
#endif
#if AIDEV_BENCH_ZSTD
    if (j->codec == TIER_ZSTD && !j->decode) {
        size_t r = ZSTD_compressCCtx(zctx, slot, j->bound, j->src + i * TIER_CHUNK, n, 1);
        return ZSTD_isError(r) ? 0 : r;
    }
    if (j->codec == TIER_ZSTD) {
        size_t r = ZSTD_decompressDCtx(zctx, j->out + i * TIER_CHUNK, n, slot, j->packed_sizes[i]);
        return ZSTD_isError(r) || r != n ? 0 : n;
    }
#endif
    (void)slot;
    return 0;
}

static void *tier_raw_worker(void *arg)
{
    tier_raw_job *j = arg;
    void *zctx = NULL;
#if AIDEV_BENCH_ZSTD
    if (j->codec == TIER_ZSTD)
        zctx = j->decode ? (void *)ZSTD_createDCtx() : (void *)ZSTD_createCCtx();
#endif
    size_t count = (j->size + TIER_CHUNK - 1) / TIER_CHUNK, i;
    while ((i = atomic_fetch_add(&j->next, 1)) < count) {
        size_t r = tier_raw_chunk(j, i, zctx);
        if (!r)
            atomic_store(&j->failed, true);
        if (!j->decode) {
            j->packed_sizes[i] = r;
            atomic_fetch_add(&j->stored, r);
        }
    }
#if AIDEV_BENCH_ZSTD
    if (j->codec == TIER_ZSTD && j->decode)
        ZSTD_freeDCtx(zctx);
    else if (j->codec == TIER_ZSTD)
        ZSTD_freeCCtx(zctx);
#endif
    return NULL;
}

/* Runs |j| on |threads| threads; seconds taken, or -1 on failure. */
static double tier_raw_run(tier_raw_job *j, uint32_t threads)
{
    pthread_t t[64];
    uint32_t started = 0;
    atomic_store(&j->next, 0);
    atomic_store(&j->stored, 0);
    atomic_store(&j->failed, false);
    double t0 = bench_now();
    while (started + 1 < threads && started < 64 &&
           pthread_create(&t[started], NULL, tier_raw_worker, j) == 0)
        started++;
    tier_raw_worker(j);
    for (uint32_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    double s = bench_now() - t0;
    return atomic_load(&j->failed) ? -1 : s;
}

static uint32_t tier_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

/* The raw codec's job over |src|, with room for its output. */
static bool tier_raw_init(tier_raw_job *j, tier_codec codec, const void *src, size_t size)
{
    memset(j, 0, sizeof *j);
    j->codec = codec;
    j->src = src;
    j->size = size;
    j->bound = TIER_CHUNK + TIER_CHUNK / 128 + 1024; /* above both codecs' bounds */
    size_t count = (size + TIER_CHUNK - 1) / TIER_CHUNK;
    j->packed = malloc(count * j->bound);
    j->packed_sizes = calloc(count, sizeof *j->packed_sizes);
    return j->packed && j->packed_sizes;
}

static void tier_raw_free(tier_raw_job *j)
{
    free(j->packed);
    free(j->packed_sizes);
}

/* Decodes |j| into new memory, as a restore must, and checks the bytes
 * against |data|; seconds, or -1. */
static double tier_raw_decode_fresh(tier_raw_job *j, const void *data)
{
    aidev_backend_host_block out;
    if (aidev_backend_host_alloc(j->size, -1, AIDEV_HOST_ALLOC_UNINITIALIZED, &out) !=
        AIDEV_SUCCESS)
        return -1;
    j->out = out.ptr;
    j->decode = true;
    double s = tier_raw_run(j, tier_threads());
    if (s > 0 && memcmp(j->out, data, j->size) != 0)
        s = -1;
    aidev_backend_host_free(&out, false);
    j->out = NULL;
    return s;
}

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */
/* ------------------------------------------------------------------------ */

static void tier_set_codec(tier_codec c)
{
    setenv("AIDEV_COMPRESS", tier_codec_names[c], 1);
}

/* Evicts |b| and waits; seconds, or -1 with the error on stderr. */
static double tier_time(aidev_queue q, aidev_buffer b, bool restore)
{
    aidev_event ev;
    double t0 = bench_now();
    aidev_status st = restore ? aidev_enqueue_restore(q, b, 0, NULL, &ev)
                              : aidev_enqueue_evict(q, b, 0, NULL, &ev);
    if (st == AIDEV_SUCCESS) {
        st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
        aidev_event_release(ev);
    }
    if (st != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: tier %s: %s\n", restore ? "restore" : "evict",
                aidev_last_error());
        return -1;
    }
    return bench_now() - t0;
}

/* tier.evict_CODEC and tier.restore_CODEC of one device. */
static void tier_throughput_rows(const bench_options *opt, aidev_device dev, const void *data,
                                 size_t size)
{
    char name[128], backend[64];
    bench_device_names(dev, name, sizeof name, backend, sizeof backend);
    aidev_queue q;
    aidev_buffer b;
    aidev_buffer_desc desc = {.size = size, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32,
                              .flags = AIDEV_BUFFER_UNINITIALIZED};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS)
        return;
    if (aidev_buffer_create(dev, &desc, &b) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: tier rows on %s: %s\n", name, aidev_last_error());
        aidev_queue_release(q);
        return;
    }
    aidev_enqueue_write(q, b, 0, size, data, 0, NULL, NULL);
    aidev_queue_finish(q);
    int reps = opt->quick ? 1 : 3;
    for (int c = 0; c < 2; c++) {
        char evict_row[32], restore_row[32];
        snprintf(evict_row, sizeof evict_row, "tier.evict_%s", tier_codec_names[c]);
        snprintf(restore_row, sizeof restore_row, "tier.restore_%s", tier_codec_names[c]);
        if (!tier_has_codec((tier_codec)c) ||
            (!bench_selected(opt, evict_row) && !bench_selected(opt, restore_row)))
            continue;
        tier_set_codec((tier_codec)c);
        tier_raw_job j;
        double ev[3], re[3], rc[3], rd[3];
        bool ok = tier_raw_init(&j, (tier_codec)c, data, size);
        for (int r = 0; ok && r < reps; r++) {
            ev[r] = tier_time(q, b, false);
            re[r] = tier_time(q, b, true);
            j.decode = false;
            rc[r] = tier_raw_run(&j, tier_threads());
            rd[r] = tier_raw_decode_fresh(&j, data);
            ok = ev[r] > 0 && re[r] > 0 && rc[r] > 0 && rd[r] > 0;
        }
        tier_raw_free(&j);
        if (!ok) {
            fprintf(stderr, "aidev-bench: %s on %s: skipped (a run failed)\n", evict_row, name);
            continue;
        }
        double gb = (double)size / 1e9;
        char base_c[96], base_d[96];
        snprintf(base_c, sizeof base_c, "%s library, 1 MiB chunks on %u threads",
                 tier_codec_names[c], tier_threads());
        snprintf(base_d, sizeof base_d,
                 "%s library decode into new memory, 1 MiB chunks, %u threads",
                 tier_codec_names[c], tier_threads());
        bench_emit(opt, &(bench_row){evict_row, name, backend, gb / bench_median(ev, reps),
                                     "GB/s (higher is better)", base_c,
                                     gb / bench_median(rc, reps)});
        bench_emit(opt, &(bench_row){restore_row, name, backend, gb / bench_median(re, reps),
                                     "GB/s (higher is better)", base_d,
                                     gb / bench_median(rd, reps)});
    }
    aidev_buffer_release(b);
    aidev_queue_release(q);
}

/* tier.ratio_DATA_CODEC, on |dev|. */
static void tier_ratio_rows(const bench_options *opt, aidev_device dev, size_t size)
{
    char name[128], backend[64];
    bench_device_names(dev, name, sizeof name, backend, sizeof backend);
    aidev_queue q;
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS)
        return;
    for (int d = 0; d < 4; d++) {
        aidev_type type;
        void *data = tier_make_data((tier_data)d, size, &type);
        aidev_buffer b;
        aidev_buffer_desc desc = {.size = size, .kind = AIDEV_MEMORY_DEVICE,
                                  .element_type = type, .flags = AIDEV_BUFFER_UNINITIALIZED};
        if (!data || aidev_buffer_create(dev, &desc, &b) != AIDEV_SUCCESS) {
            free(data);
            continue;
        }
        aidev_enqueue_write(q, b, 0, size, data, 0, NULL, NULL);
        aidev_queue_finish(q);
        for (int c = 0; c < 2; c++) {
            char row[64];
            snprintf(row, sizeof row, "tier.ratio_%s_%s", tier_data_names[d], tier_codec_names[c]);
            if (!tier_has_codec((tier_codec)c) || !bench_selected(opt, row))
                continue;
            tier_set_codec((tier_codec)c);
            uint64_t stored = 0;
            tier_raw_job j;
            bool ok = tier_raw_init(&j, (tier_codec)c, data, size) &&
                      tier_time(q, b, false) > 0 &&
                      aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_STORED_BYTES, sizeof stored,
                                            &stored, NULL) == AIDEV_SUCCESS &&
                      stored > 0 && tier_time(q, b, true) > 0 &&
                      tier_raw_run(&j, tier_threads()) > 0;
            if (ok) {
                char base[64];
                snprintf(base, sizeof base, "%s library alone (no byte planes)",
                         tier_codec_names[c]);
                bench_emit(opt, &(bench_row){row, name, backend, (double)size / (double)stored,
                                             "x (higher is better)", base,
                                             (double)size / (double)atomic_load(&j.stored)});
            }
            tier_raw_free(&j);
        }
        aidev_buffer_release(b);
        free(data);
    }
    aidev_queue_release(q);
}

/* Whether --only selects any row of this file. */
static bool tier_any_selected(const bench_options *opt)
{
    for (int c = 0; c < 2; c++) {
        char row[64];
        snprintf(row, sizeof row, "tier.evict_%s", tier_codec_names[c]);
        if (bench_selected(opt, row))
            return true;
        snprintf(row, sizeof row, "tier.restore_%s", tier_codec_names[c]);
        if (bench_selected(opt, row))
            return true;
        for (int d = 0; d < 4; d++) {
            snprintf(row, sizeof row, "tier.ratio_%s_%s", tier_data_names[d],
                     tier_codec_names[c]);
            if (bench_selected(opt, row))
                return true;
        }
    }
    return false;
}

void bench_tier(const bench_options *opt)
{
    const char *codecs;
    aidev_memory_tier_codec(&codecs);
    if (!codecs[0] || !tier_any_selected(opt))
        return;
    char *saved = getenv("AIDEV_COMPRESS") ? strdup(getenv("AIDEV_COMPRESS")) : NULL;
    size_t size = opt->quick ? (8u << 20) : (256u << 20);
    aidev_type type;
    void *acts = tier_make_data(TIER_HALF_ZERO, size, &type);
    uint32_t count = 0;
    aidev_context_get_devices(opt->context, &count, NULL);
    aidev_device *devs = calloc(count ? count : 1, sizeof *devs);
    aidev_context_get_devices(opt->context, &count, devs);
    for (uint32_t i = 0; acts && i < count; i++)
        tier_throughput_rows(opt, devs[i], acts, size);
    free(acts);
    /* Ratios depend on the data, not the device: once, on the first. */
    if (count)
        tier_ratio_rows(opt, devs[0], opt->quick ? (4u << 20) : (64u << 20));
    free(devs);
    if (saved) {
        setenv("AIDEV_COMPRESS", saved, 1);
        free(saved);
    } else {
        unsetenv("AIDEV_COMPRESS");
    }
}

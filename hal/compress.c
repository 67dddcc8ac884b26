/*
 * compress.c - chunked, byte-plane shuffled, checksummed compression of
 * buffer bytes (hal/compress.h), the codecs of the compressed memory tier.
 *
 * Chunks are independent, so a buffer's chunks are shared out to worker
 * threads through one atomic counter: each thread takes the next chunk
 * until none is left. Threads are started per call and joined before it
 * returns; next to the hundreds of microseconds a 1 MiB chunk takes in a
 * codec, starting one costs nothing, and no pool outlives its use.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aidev_config.h"
#include "hal/compress.h"
#include "hal/internal.h"

#if AIDEV_HAVE_LZ4
#include <lz4.h>
#endif
#if AIDEV_HAVE_ZSTD
#include <zstd.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if AIDEV_HAVE_XXHASH
#define XXH_INLINE_ALL
#include <xxhash.h>
#endif

/* zstd's fastest regular level: the tier trades ratio for speed. */
#define COMPRESS_ZSTD_LEVEL 1

bool aidev_compress_available(void)
{
    return AIDEV_HAVE_XXHASH;
}

bool aidev_codec_available(aidev_codec codec)
{
    switch (codec) {
    case AIDEV_CODEC_OFF:
        return true;
    case AIDEV_CODEC_LZ4:
        return AIDEV_HAVE_LZ4;
    case AIDEV_CODEC_ZSTD:
        return AIDEV_HAVE_ZSTD;
    }
    return false;
}

const char *aidev_codec_name(aidev_codec codec)
{
    switch (codec) {
    case AIDEV_CODEC_OFF:
        return "off";
    case AIDEV_CODEC_LZ4:
        return "lz4";
    case AIDEV_CODEC_ZSTD:
        return "zstd";
    }
    return "?";
}

uint32_t aidev_compress_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (uint32_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

/* ------------------------------------------------------------------------ */
/* Byte planes                                                              */
/* ------------------------------------------------------------------------ */

/* With SSE2 (every x86-64), 16 elements at a time: rounds of byte
 * interleaving (unpack) move the bytes of elements into planes and back.
 * For 4-byte elements in 4 registers, four rounds pairing registers 0 with
 * 2 and 1 with 3 give the 4 planes in order, and two rounds undo it; for
 * 2-byte elements, four rounds pairing the 2 registers, and one to undo.
 * Each returns how many elements it did; the scalar loops do the rest. */
#if defined(__SSE2__)
static void planes_round4(__m128i r[4])
{
    __m128i a = _mm_unpacklo_epi8(r[0], r[2]), b = _mm_unpackhi_epi8(r[0], r[2]);
    __m128i c = _mm_unpacklo_epi8(r[1], r[3]), d = _mm_unpackhi_epi8(r[1], r[3]);
    r[0] = a, r[1] = b, r[2] = c, r[3] = d;
}

static void planes_round2(__m128i r[2])
{
    __m128i a = _mm_unpacklo_epi8(r[0], r[1]), b = _mm_unpackhi_epi8(r[0], r[1]);
    r[0] = a, r[1] = b;
}

static size_t planes_split_sse2(const uint8_t *src, uint8_t *dst, size_t count, uint32_t width)
{
    size_t i = 0;
    if (width == 4) {
        for (; i + 16 <= count; i += 16) {
            __m128i r[4];
            for (int k = 0; k < 4; k++)
                r[k] = _mm_loadu_si128((const __m128i *)(src + 4 * i + 16 * k));
            for (int round = 0; round < 4; round++)
                planes_round4(r);
            for (int k = 0; k < 4; k++)
                _mm_storeu_si128((__m128i *)(dst + (size_t)k * count + i), r[k]);
        }
    } else if (width == 2) {
        for (; i + 16 <= count; i += 16) {
            __m128i r[2] = {_mm_loadu_si128((const __m128i *)(src + 2 * i)),
                            _mm_loadu_si128((const __m128i *)(src + 2 * i + 16))};
            for (int round = 0; round < 4; round++)
                planes_round2(r);
            _mm_storeu_si128((__m128i *)(dst + i), r[0]);
            _mm_storeu_si128((__m128i *)(dst + count + i), r[1]);
        }
    }
    return i;
}

static size_t planes_join_sse2(const uint8_t *src, uint8_t *dst, size_t count, uint32_t width)
{
    size_t i = 0;
    if (width == 4) {
        for (; i + 16 <= count; i += 16) {
            __m128i r[4];
            for (int k = 0; k < 4; k++)
                r[k] = _mm_loadu_si128((const __m128i *)(src + (size_t)k * count + i));
            planes_round4(r);
            planes_round4(r);
            for (int k = 0; k < 4; k++)
                _mm_storeu_si128((__m128i *)(dst + 4 * i + 16 * k), r[k]);
        }
    } else if (width == 2) {
        for (; i + 16 <= count; i += 16) {
            __m128i r[2] = {_mm_loadu_si128((const __m128i *)(src + i)),
                            _mm_loadu_si128((const __m128i *)(src + count + i))};
            planes_round2(r);
            _mm_storeu_si128((__m128i *)(dst + 2 * i), r[0]);
            _mm_storeu_si128((__m128i *)(dst + 2 * i + 16), r[1]);
        }
    }
    return i;
}
#else
static size_t planes_split_sse2(const uint8_t *src, uint8_t *dst, size_t count, uint32_t width)
{
    (void)src, (void)dst, (void)count, (void)width;
    return 0;
}

static size_t planes_join_sse2(const uint8_t *src, uint8_t *dst, size_t count, uint32_t width)
{
    (void)src, (void)dst, (void)count, (void)width;
    return 0;
}
#endif

/* |n| bytes of |width|-byte elements at |src| into |width| planes at |dst|. */
static void planes_split(const uint8_t *restrict src, uint8_t *restrict dst, size_t n,
                         uint32_t width)
{
    size_t count = n / width;
    for (size_t i = planes_split_sse2(src, dst, count, width); i < count; i++)
        for (uint32_t b = 0; b < width; b++)
            dst[(size_t)b * count + i] = src[i * width + b];
}

static void planes_join(const uint8_t *restrict src, uint8_t *restrict dst, size_t n,
                        uint32_t width)
{
    size_t count = n / width;
    for (size_t i = planes_join_sse2(src, dst, count, width); i < count; i++)
        for (uint32_t b = 0; b < width; b++)
            dst[i * width + b] = src[(size_t)b * count + i];
}

/* Whether LZ4 should see |n| bytes of |width|-byte elements as they are
 * rather than in planes: when at least a quarter of the elements are zero
 * (activations after a ReLU, padding, pruned weights). Their runs of zero
 * bytes are what LZ4 finds; split into planes they become runs too short
 * for its 4-byte matches. zstd's entropy stage gains from the planes
 * either way. Every 8th element is looked at. */
static bool planes_skip_for_zeros(const uint8_t *src, size_t n, uint32_t width)
{
    size_t count = n / width, seen = 0, zeros = 0;
    static const uint8_t zero[8];
    for (size_t i = 0; i < count; i += 8, seen++)
        zeros += memcmp(src + i * width, zero, width) == 0;
    return zeros * 4 >= seen;
}

/* ------------------------------------------------------------------------ */
/* One chunk                                                                */
/* ------------------------------------------------------------------------ */

/* What a worker thread owns: scratch for the planes, codec contexts, and
 * the block its compressed chunks are written into. */
typedef struct compress_worker_state {
    uint8_t *planes;
    aidev_backend_host_block block; /* compress: ptr NULL until the first chunk */
    size_t block_used;
#if AIDEV_HAVE_ZSTD
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
#endif
} compress_worker_state;

static uint64_t chunk_hash(const void *p, size_t n)
{
#if AIDEV_HAVE_XXHASH
    return XXH3_64bits(p, n);
#else
    (void)p;
    (void)n;
    return 0;
#endif
}

static size_t codec_bound(aidev_codec codec, size_t n)
{
#if AIDEV_HAVE_LZ4
    if (codec == AIDEV_CODEC_LZ4)
        return (size_t)LZ4_compressBound((int)n);
#endif
#if AIDEV_HAVE_ZSTD
    if (codec == AIDEV_CODEC_ZSTD)
        return ZSTD_compressBound(n);
#endif
    (void)codec;
    return n;
}

/* Encodes |n| bytes at |src| into |dst| (|cap| bytes); 0 on failure. */
static size_t codec_encode(compress_worker_state *w, aidev_codec codec, const uint8_t *src,
                           size_t n, uint8_t *dst, size_t cap)
{
    (void)w;
    (void)src;
    (void)n;
    (void)dst;
    (void)cap;
#if AIDEV_HAVE_LZ4
    if (codec == AIDEV_CODEC_LZ4) {
        int r = LZ4_compress_default((const char *)src, (char *)dst, (int)n, (int)cap);
        return r > 0 ? (size_t)r : 0;
    }
#endif
#if AIDEV_HAVE_ZSTD
    if (codec == AIDEV_CODEC_ZSTD) {
        size_t r = ZSTD_compressCCtx(w->cctx, dst, cap, src, n, COMPRESS_ZSTD_LEVEL);
        return ZSTD_isError(r) ? 0 : r;
    }
#endif
    return 0;
}

/* Decodes into exactly |n| bytes at |dst|; false when the data does not. */
static bool codec_decode(compress_worker_state *w, aidev_codec codec, const uint8_t *src,
                         size_t stored, uint8_t *dst, size_t n)
{
    (void)w;
    (void)src;
    (void)stored;
    (void)dst;
    (void)n;
#if AIDEV_HAVE_LZ4
    if (codec == AIDEV_CODEC_LZ4)
        return LZ4_decompress_safe((const char *)src, (char *)dst, (int)stored, (int)n) == (int)n;
#endif
#if AIDEV_HAVE_ZSTD
    if (codec == AIDEV_CODEC_ZSTD) {
        size_t r = ZSTD_decompressDCtx(w->dctx, dst, n, src, stored);
        return !ZSTD_isError(r) && r == n;
    }
#endif
    return false;
}

/* A job over every chunk of one buffer, shared by its threads. */
typedef struct compress_job {
    bool restore;             /* decompress instead */
    const uint8_t *src;       /* compress: the buffer */
    uint8_t *dst;             /* restore: the buffer */
    aidev_compressed *c;
    atomic_uint next_chunk;
    /* The first failure, set under |lock|. */
    pthread_mutex_t lock;
    aidev_status status;
    char message[256];
} compress_job;

static void job_fail(compress_job *job, aidev_status status, uint32_t chunk, const char *what)
{
    pthread_mutex_lock(&job->lock);
    if (job->status == AIDEV_SUCCESS) {
        job->status = status;
        snprintf(job->message, sizeof job->message, "chunk %u of %u: %s", chunk,
                 job->c->chunk_count, what);
    }
    pthread_mutex_unlock(&job->lock);
}

/* Hands the worker's block to the buffer's list, trimmed to what it used. */
static bool block_retire(compress_job *job, compress_worker_state *w)
{
    if (!w->block.ptr)
        return true;
    aidev_tier_block_trim(&w->block, w->block_used);
    aidev_compressed *c = job->c;
    pthread_mutex_lock(&job->lock);
    aidev_backend_host_block *grown = realloc(c->blocks, (c->block_count + 1) * sizeof *grown);
    if (grown) {
        c->blocks = grown;
        grown[c->block_count++] = w->block;
    }
    pthread_mutex_unlock(&job->lock);
    if (!grown)
        aidev_tier_block_put(NULL, &w->block);
    memset(&w->block, 0, sizeof w->block);
    w->block_used = 0;
    return grown != NULL;
}

/* Where chunk |i| may write |need| bytes: the worker's block, or a new one
 * when it has not that much room left (a full block, or less for the last
 * chunks of a small buffer). NULL when out of host memory. */
static uint8_t *block_room(compress_job *job, compress_worker_state *w, uint32_t i, size_t need)
{
    if (w->block.ptr && w->block.size - w->block_used >= need)
        return (uint8_t *)w->block.ptr + w->block_used;
    if (!block_retire(job, w))
        return NULL;
    uint64_t left = (uint64_t)(job->c->chunk_count - i) * need;
    size_t size = left < AIDEV_TIER_BLOCK ? (size_t)left : AIDEV_TIER_BLOCK;
    if (!aidev_tier_block_get(job->c->pool, size, &w->block)) {
        memset(&w->block, 0, sizeof w->block);
        return NULL;
    }
    return w->block.ptr;
}

static void chunk_compress(compress_job *job, compress_worker_state *w, uint32_t i)
{
    aidev_compressed *c = job->c;
    aidev_compressed_chunk *ch = &c->chunks[i];
    const uint8_t *in = job->src + (uint64_t)i * AIDEV_COMPRESS_CHUNK;
    size_t n = ch->raw_size;
    ch->checksum = chunk_hash(in, n);
    size_t bound = c->codec == AIDEV_CODEC_OFF ? n : codec_bound(c->codec, n);
    /* The codec writes straight into the block: no copy, no allocation. */
    uint8_t *dst = block_room(job, w, i, bound > n ? bound : n);
    if (!dst) {
        job_fail(job, AIDEV_ERROR_OUT_OF_HOST_MEMORY, i, "out of host memory");
        return;
    }
    size_t stored = 0;
    if (c->codec != AIDEV_CODEC_OFF) {
        const uint8_t *body = in;
        ch->planes = c->element_size > 1 &&
                     !(c->codec == AIDEV_CODEC_LZ4 &&
                       planes_skip_for_zeros(in, n, c->element_size));
        if (ch->planes) {
            planes_split(in, w->planes, n, c->element_size);
            body = w->planes;
        }
        stored = codec_encode(w, c->codec, body, n, dst, codec_bound(c->codec, n));
    }
    /* Not worth decoding: less than 1/32 saved (or the codec gave up). */
    bool raw = stored == 0 || stored >= n - n / 32;
    if (raw) {
        ch->planes = false;
        memcpy(dst, in, n);
        stored = n;
    }
    ch->raw = raw;
    ch->data = dst;
    ch->stored = (uint32_t)stored;
    w->block_used += (stored + 15) & ~(size_t)15;
}

static void chunk_restore(compress_job *job, compress_worker_state *w, uint32_t i)
{
    const aidev_compressed *c = job->c;
    const aidev_compressed_chunk *ch = &c->chunks[i];
    uint8_t *out = job->dst + (uint64_t)i * AIDEV_COMPRESS_CHUNK;
    size_t n = ch->raw_size;
    if (ch->raw) {
        if (ch->stored != n) {
            job_fail(job, AIDEV_ERROR_IO, i, "its stored size does not match its size");
            return;
        }
        memcpy(out, ch->data, n);
    } else {
        bool planes = ch->planes && c->element_size > 1;
        uint8_t *body = planes ? w->planes : out;
        if (!codec_decode(w, c->codec, ch->data, ch->stored, body, n)) {
            job_fail(job, AIDEV_ERROR_IO, i, "the compressed data does not decode");
            return;
        }
        if (planes)
            planes_join(body, out, n, c->element_size);
    }
    if (chunk_hash(out, n) != ch->checksum)
        job_fail(job, AIDEV_ERROR_IO, i, "the checksum of the restored bytes does not match");
}

static void *compress_worker(void *arg)
{
    compress_job *job = arg;
    compress_worker_state w = {0};
    bool coded = job->c->codec != AIDEV_CODEC_OFF;
    if (job->c->element_size > 1 && coded && !(w.planes = malloc(AIDEV_COMPRESS_CHUNK))) {
        job_fail(job, AIDEV_ERROR_OUT_OF_HOST_MEMORY, 0, "out of host memory for a worker");
        return NULL;
    }
#if AIDEV_HAVE_ZSTD
    if (job->c->codec == AIDEV_CODEC_ZSTD) {
        w.cctx = job->restore ? NULL : ZSTD_createCCtx();
        w.dctx = job->restore ? ZSTD_createDCtx() : NULL;
        if (!w.cctx && !w.dctx) {
            job_fail(job, AIDEV_ERROR_OUT_OF_HOST_MEMORY, 0, "out of host memory for a worker");
            free(w.planes);
            return NULL;
        }
    }
#endif
    uint32_t i;
    while ((i = atomic_fetch_add(&job->next_chunk, 1)) < job->c->chunk_count) {
        if (job->restore)
            chunk_restore(job, &w, i);
        else
            chunk_compress(job, &w, i);
    }
#if AIDEV_HAVE_ZSTD
    ZSTD_freeCCtx(w.cctx);
    ZSTD_freeDCtx(w.dctx);
#endif
    if (!block_retire(job, &w))
        job_fail(job, AIDEV_ERROR_OUT_OF_HOST_MEMORY, 0, "out of host memory for a block list");
    free(w.planes);
    return NULL;
}

/* Runs |job| on up to |threads| threads, this one among them. */
static aidev_status job_run(compress_job *job, uint32_t threads)
{
    if (threads > job->c->chunk_count)
        threads = job->c->chunk_count;
    if (threads > 64)
        threads = 64;
    pthread_t tids[64];
    uint32_t started = 0;
    while (started + 1 < threads &&
           pthread_create(&tids[started], NULL, compress_worker, job) == 0)
        started++;
    compress_worker(job);
    for (uint32_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (job->status != AIDEV_SUCCESS)
        return aidev_error(job->status, "%s %s data: %s",
                           job->restore ? "restoring" : "compressing",
                           aidev_codec_name(job->c->codec), job->message);
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Whole buffers                                                            */
/* ------------------------------------------------------------------------ */

void aidev_compressed_free(aidev_compressed *c, bool scrub)
{
    if (!c)
        return;
    for (uint32_t i = 0; scrub && i < c->chunk_count; i++)
        if (c->chunks[i].data)
            explicit_bzero(c->chunks[i].data, c->chunks[i].stored);
    for (uint32_t i = 0; i < c->block_count; i++)
        aidev_tier_block_put(c->pool, &c->blocks[i]);
    free(c->blocks);
    free(c->chunks);
    free(c);
}

aidev_status aidev_compress(const void *src, uint64_t size, uint32_t element_size,
                            aidev_codec codec, uint32_t threads, aidev_tier_pool *pool,
                            aidev_compressed **out)
{
    *out = NULL;
    if (!aidev_compress_available())
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "the compressed memory tier needs xxHash (libxxhash-dev), which this "
                           "build of aidev lacks");
    if (!aidev_codec_available(codec))
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "codec %s: not in this build of aidev",
                           aidev_codec_name(codec));
    if (element_size == 0 || element_size > 8 || AIDEV_COMPRESS_CHUNK % element_size ||
        size % element_size)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "element_size: %u for %llu bytes; use 1, 2, 4 or 8 dividing the size",
                           element_size, (unsigned long long)size);
    aidev_compressed *c = calloc(1, sizeof *c);
    uint64_t count = (size + AIDEV_COMPRESS_CHUNK - 1) / AIDEV_COMPRESS_CHUNK;
    if (!c || count > UINT32_MAX || !(c->chunks = calloc(count ? count : 1, sizeof *c->chunks))) {
        free(c);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    c->codec = codec;
    c->pool = pool;
    c->element_size = element_size;
    c->size = size;
    c->chunk_count = (uint32_t)count;
    for (uint32_t i = 0; i < c->chunk_count; i++) {
        uint64_t left = size - (uint64_t)i * AIDEV_COMPRESS_CHUNK;
        c->chunks[i].raw_size = left < AIDEV_COMPRESS_CHUNK ? (uint32_t)left : AIDEV_COMPRESS_CHUNK;
    }
    compress_job job = {.src = src, .c = c, .status = AIDEV_SUCCESS};
    pthread_mutex_init(&job.lock, NULL);
    atomic_init(&job.next_chunk, 0);
    aidev_status st = c->chunk_count ? job_run(&job, threads ? threads : 1) : AIDEV_SUCCESS;
    pthread_mutex_destroy(&job.lock);
    if (st != AIDEV_SUCCESS) {
        aidev_compressed_free(c, false);
        return st;
    }
    for (uint32_t i = 0; i < c->chunk_count; i++)
        c->stored_bytes += c->chunks[i].stored;
    *out = c;
    return AIDEV_SUCCESS;
}

aidev_status aidev_decompress(const aidev_compressed *c, void *dst, uint32_t threads)
{
    if (!aidev_codec_available(c->codec) || !aidev_compress_available())
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "codec %s: not in this build of aidev",
                           aidev_codec_name(c->codec));
    if (!c->chunk_count)
        return AIDEV_SUCCESS;
    compress_job job = {.restore = true, .dst = dst, .c = (aidev_compressed *)c,
                        .status = AIDEV_SUCCESS};
    pthread_mutex_init(&job.lock, NULL);
    atomic_init(&job.next_chunk, 0);
    aidev_status st = job_run(&job, threads ? threads : 1);
    pthread_mutex_destroy(&job.lock);
    return st;
}

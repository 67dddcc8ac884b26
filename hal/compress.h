/*
 * compress.h - the codecs of the compressed memory tier (issue 20).
 *
 * A buffer's bytes are cut into chunks of AIDEV_COMPRESS_CHUNK bytes, each
 * compressed on its own, several at once on worker threads. Before the
 * codec, a chunk of elements wider than a byte is shuffled into byte planes
 * (every element's first byte, then every second byte...): the exponent
 * bytes of floats then sit together and compress, and the noisy mantissa
 * bytes do not break up their runs; for LZ4, a chunk where a quarter of
 * the elements are zero is coded as it is instead (LZ4 finds its runs of
 * zero bytes, which planes would cut short). A chunk the codec does not shrink is
 * stored as it is. Every chunk carries the XXH3-64 of its original bytes,
 * checked after it is restored: a mismatch, or data the codec cannot
 * decode, is AIDEV_ERROR_IO with a message naming the chunk, never wrong
 * bytes handed back in silence.
 */
#ifndef AIDEV_HAL_COMPRESS_H
#define AIDEV_HAL_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>

#include "hal/tier_store.h"

/* Bytes of one chunk: a multiple of every element size (1, 2, 4, 8). */
#define AIDEV_COMPRESS_CHUNK (1u << 20)

typedef enum aidev_codec {
    AIDEV_CODEC_OFF = 0,  /* chunks stored as they are, still checksummed */
    AIDEV_CODEC_LZ4 = 1,  /* byte planes, then LZ4 (speed) */
    AIDEV_CODEC_ZSTD = 2, /* byte planes, then zstd level 1 (ratio) */
} aidev_codec;

typedef struct aidev_compressed_chunk {
    void *data;         /* |stored| bytes in one of its buffer's blocks */
    uint32_t stored;
    uint32_t raw_size;  /* bytes it restores to */
    bool raw;           /* stored as it is: it did not compress */
    bool planes;        /* coded in byte planes (else as the bytes are) */
    uint64_t checksum;  /* XXH3-64 of the original bytes */
} aidev_compressed_chunk;

/* A buffer's bytes in compressed form. */
typedef struct aidev_compressed {
    aidev_codec codec;
    uint32_t element_size;
    uint64_t size;         /* bytes it restores to */
    uint64_t stored_bytes; /* sum of the chunks' stored bytes */
    uint32_t chunk_count;
    aidev_compressed_chunk *chunks;
    /* Where the chunks live (hal/tier_store.h), and where the blocks go
     * when this is freed (NULL: back to the OS). */
    aidev_tier_pool *pool;
    uint32_t block_count;
    aidev_backend_host_block *blocks;
} aidev_compressed;

/* Whether this build has |codec| (OFF always; LZ4 and ZSTD with their
 * libraries), and whether it has the tier at all (xxHash). */
bool aidev_codec_available(aidev_codec codec);
bool aidev_compress_available(void);
/* "lz4", "zstd", "off". */
const char *aidev_codec_name(aidev_codec codec);
/* AIDEV_COMPRESS: lz4 | zstd | off, read through the strict parser
 * (hal/env.c); the default is lz4, else zstd, else off, by what this build
 * has. */
aidev_codec aidev_env_codec(void);

/* Worker threads a compression or restore uses: the CPUs this process may
 * run on. */
uint32_t aidev_compress_threads(void);

/* Compresses |size| bytes at |src| of elements of |element_size| bytes
 * (1 for untyped bytes; |size| a multiple of it) with |codec| on at most
 * |threads| threads, into blocks from |pool| (NULL: new ones), to which
 * aidev_compressed_free gives them back. AIDEV_ERROR_UNSUPPORTED when the codec or xxHash is
 * not in this build, AIDEV_ERROR_OUT_OF_HOST_MEMORY, AIDEV_ERROR_INTERNAL
 * when the codec fails; the message set. */
aidev_status aidev_compress(const void *src, uint64_t size, uint32_t element_size,
                            aidev_codec codec, uint32_t threads, aidev_tier_pool *pool,
                            aidev_compressed **out);
/* Restores |c| into |dst| (|c->size| bytes) on at most |threads| threads.
 * AIDEV_ERROR_IO when a chunk does not decode or its checksum differs,
 * naming the first such chunk; |dst| then holds partial data. */
aidev_status aidev_decompress(const aidev_compressed *c, void *dst, uint32_t threads);
/* NULL is fine. |scrub|: the stored bytes are overwritten with zeros
 * first (buffers made with AIDEV_BUFFER_ZERO_ON_FREE). Full blocks go to
 * the pool it was compressed with. */
void aidev_compressed_free(aidev_compressed *c, bool scrub);

#endif

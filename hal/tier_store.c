/*
 * tier_store.c - blocks of host memory for compressed chunks, and the
 * pool of a context's freed blocks (hal/tier_store.h).
 *
 * Why blocks: a chunk's codec output is written straight into a large
 * block, at the block's next free byte, so an eviction makes no copy of
 * it and does not allocate per chunk. New memory costs a page fault per
 * page on first touch, and the kernel zeroes it; on the machines this
 * runs on that cost was as large as LZ4's own. Blocks are large enough
 * for huge pages (a fault per 2 MiB instead of per 4 KiB).
 *
 * Why a pool: evictions and restores follow each other (a working set
 * larger than the limit, cycled round-robin). Blocks freed by a restore go
 * to the context's pool, up to AIDEV_TIER_POOL_MAX bytes, and the next
 * eviction writes into them, already faulted in. The cost: up to that
 * many bytes of host memory stay mapped after the compressed copies that
 * used them are gone, until the context is released. Blocks of buffers
 * made with AIDEV_BUFFER_ZERO_ON_FREE are scrubbed before they get there
 * (hal/compress.c).
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hal/tier_store.h"

void aidev_tier_pool_init(aidev_tier_pool *pool)
{
    memset(pool, 0, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
}

void aidev_tier_pool_fini(aidev_tier_pool *pool)
{
    for (uint32_t i = 0; i < pool->count; i++)
        aidev_backend_host_free(&pool->blocks[i], false);
    pool->count = 0;
    pthread_mutex_destroy(&pool->lock);
}

bool aidev_tier_block_get(aidev_tier_pool *pool, size_t size, aidev_backend_host_block *out)
{
    if (pool && size == AIDEV_TIER_BLOCK) {
        bool found = false;
        pthread_mutex_lock(&pool->lock);
        if (pool->count) {
            *out = pool->blocks[--pool->count];
            found = true;
        }
        pthread_mutex_unlock(&pool->lock);
        if (found)
            return true;
    }
    return aidev_backend_host_alloc(size, -1, AIDEV_HOST_ALLOC_UNINITIALIZED, out) ==
           AIDEV_SUCCESS;
}

void aidev_tier_block_trim(aidev_backend_host_block *block, size_t used)
{
    if (!block->mapped_size)
        return; /* from the heap: small */
    /* Whole huge pages stay whole. */
    uint64_t page = block->page_kind == AIDEV_PAGE_KIND_NORMAL ? (uint64_t)sysconf(_SC_PAGESIZE)
                                                               : (uint64_t)2 << 20;
    uint64_t keep = (used + page - 1) / page * page;
    if (!keep)
        keep = page;
    if (keep >= block->mapped_size)
        return;
    if (munmap((char *)block->ptr + keep, (size_t)(block->mapped_size - keep)) == 0) {
        block->mapped_size = keep;
        block->size = used < keep ? used : keep;
    }
}

void aidev_tier_block_put(aidev_tier_pool *pool, aidev_backend_host_block *block)
{
    if (pool && block->size == AIDEV_TIER_BLOCK) {
        bool kept = false;
        pthread_mutex_lock(&pool->lock);
        if (pool->count < AIDEV_TIER_POOL_SLOTS) {
            pool->blocks[pool->count++] = *block;
            kept = true;
        }
        pthread_mutex_unlock(&pool->lock);
        if (kept)
            return;
    }
    aidev_backend_host_free(block, false);
}

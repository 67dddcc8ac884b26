/*
 * tier_store.h - where compressed chunks live (issue 20): large blocks of
 * host memory that the codecs write into directly, and a context's pool of
 * freed blocks that later evictions reuse.
 */
#ifndef AIDEV_HAL_TIER_STORE_H
#define AIDEV_HAL_TIER_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <aidev/aidev_backend.h>

/* Bytes of a full block: the unit the pool keeps (huge pages where the
 * machine has them). */
#define AIDEV_TIER_BLOCK ((size_t)16 << 20)
/* Bytes of freed blocks one context keeps at most. */
#define AIDEV_TIER_POOL_MAX ((uint64_t)256 << 20)
#define AIDEV_TIER_POOL_SLOTS (AIDEV_TIER_POOL_MAX / AIDEV_TIER_BLOCK)

/* Freed full blocks of one context, newest last. */
typedef struct aidev_tier_pool {
    pthread_mutex_t lock;
    uint32_t count;
    aidev_backend_host_block blocks[AIDEV_TIER_POOL_SLOTS];
} aidev_tier_pool;

void aidev_tier_pool_init(aidev_tier_pool *pool);
/* Frees every block it keeps. */
void aidev_tier_pool_fini(aidev_tier_pool *pool);

/* A block of at least |size| bytes: a full one from |pool| (NULL is
 * fine) when |size| is AIDEV_TIER_BLOCK, else new host memory. False when
 * the host is out of memory. */
bool aidev_tier_block_get(aidev_tier_pool *pool, size_t size, aidev_backend_host_block *out);
/* Gives the mapping's pages past |used| bytes back to the OS; such a block
 * is no longer full, and goes back to the OS when it is put. */
void aidev_tier_block_trim(aidev_backend_host_block *block, size_t used);
/* Back into |pool| when it is full-size and there is room, else freed. */
void aidev_tier_block_put(aidev_tier_pool *pool, aidev_backend_host_block *block);

#endif

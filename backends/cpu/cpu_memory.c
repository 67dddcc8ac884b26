/*
 * cpu_memory.c - CPU buffers: all three kinds are host memory, from
 * hal/hostmem.c (huge pages for large ones, placed on the device's NUMA
 * node).
 *
 * Freed blocks of up to CACHE_BLOCK_MAX bytes wait in a small per-device
 * cache and go to the next buffer of the same size, as a framework's
 * caching allocator would: a training loop frees and allocates the same
 * shapes every step. A reused block is cleared before it is handed out
 * unless the buffer is AIDEV_BUFFER_UNINITIALIZED; a buffer made with
 * AIDEV_BUFFER_ZERO_ON_FREE (or AIDEV_ZERO_ON_FREE=1) is scrubbed when it
 * is freed, before the cache or the OS sees it again, so not even an
 * uninitialised buffer of this process can read it.
 *
 * Fresh mappings need no clearing: the kernel hands out zeroed pages, and
 * only on first touch.
 *
 * Buffers of up to CELL_MAX bytes are cells: the record and, at the next
 * 64-byte boundary after it, the memory, in one plain heap allocation.
 * A framework makes and frees small tensors by the thousand, more than the
 * block cache holds; for them the record's calloc, aligned_alloc (which
 * splits a larger chunk, and costs as much again in free) and the cache's
 * lock pair were three times what the memory itself costs.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/cpu/cpu_internal.h"
#include "hal/hostmem.h"

#define CACHE_BLOCK_MAX (16u << 20)
#define CACHE_BYTES_MAX (64u << 20)
#define CELL_MAX 1024u
#define CELL_ALIGN 64u

/* ------------------------------------------------------------------------ */
/* The block cache                                                          */
/* ------------------------------------------------------------------------ */

void cpu_cache_init(cpu_block_cache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

void cpu_cache_destroy(cpu_block_cache *c)
{
    for (uint32_t i = 0; i < c->count; i++)
        aidev_hostmem_free(&c->blocks[i], false); /* scrubbed on the way in */
    c->count = 0;
    c->bytes = 0;
    pthread_mutex_destroy(&c->lock);
}

/* The most recently cached block of exactly |size| bytes, taken out. */
static bool cache_take(cpu_block_cache *c, uint64_t size, aidev_backend_host_block *out)
{
    if (size > CACHE_BLOCK_MAX)
        return false;
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = c->count; i-- > 0;) {
        if (c->blocks[i].size != size)
            continue;
        *out = c->blocks[i];
        memmove(&c->blocks[i], &c->blocks[i + 1], (c->count - i - 1) * sizeof c->blocks[0]);
        c->count--;
        c->bytes -= size;
        found = true;
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Keeps |block| for reuse, or frees it; the oldest blocks make room. */
static void cache_put(cpu_block_cache *c, aidev_backend_host_block *block)
{
    if (block->size > CACHE_BLOCK_MAX) {
        aidev_hostmem_free(block, false);
        return;
    }
    aidev_backend_host_block evicted[CPU_CACHE_SLOTS];
    uint32_t evicted_count = 0;
    pthread_mutex_lock(&c->lock);
    while (c->count && (c->count == CPU_CACHE_SLOTS || c->bytes + block->size > CACHE_BYTES_MAX)) {
        evicted[evicted_count++] = c->blocks[0];
        c->bytes -= c->blocks[0].size;
        memmove(&c->blocks[0], &c->blocks[1], (c->count - 1) * sizeof c->blocks[0]);
        c->count--;
    }
    c->blocks[c->count++] = *block;
    c->bytes += block->size;
    pthread_mutex_unlock(&c->lock);
    for (uint32_t i = 0; i < evicted_count; i++)
        aidev_hostmem_free(&evicted[i], false);
}

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */
/* ------------------------------------------------------------------------ */

void cpu_buffer_retain(cpu_buffer *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void cpu_buffer_release(cpu_buffer *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (!b->imported && b->scrub)
        aidev_hostmem_scrub(b->block.ptr, (size_t)b->block.size);
    if (!b->imported && !b->cell)
        cache_put(&b->device->cache, &b->block);
    free(b);
}

/* A buffer of |desc->size| <= CELL_MAX bytes whose memory follows its
 * record, or NULL when the heap is out of memory. */
static cpu_buffer *cell_new(const aidev_backend_buffer_desc *desc)
{
    cpu_buffer *b = malloc(sizeof *b + CELL_ALIGN - 1 + (size_t)desc->size);
    if (!b)
        return NULL;
    memset(b, 0, sizeof *b);
    uintptr_t data = ((uintptr_t)(b + 1) + CELL_ALIGN - 1) & ~(uintptr_t)(CELL_ALIGN - 1);
    b->block.ptr = (void *)data;
    b->block.size = desc->size;
    b->block.page_kind = AIDEV_PAGE_KIND_NORMAL;
    b->block.numa_node = -1;
    b->cell = true;
    if (!(desc->flags & AIDEV_BUFFER_UNINITIALIZED))
        memset(b->block.ptr, 0, (size_t)desc->size);
    return b;
}

/* The memory of a buffer that is no cell: the caller's, a cached block or
 * a new one. */
static aidev_status block_for(cpu_device *d, const aidev_backend_buffer_desc *desc, cpu_buffer *b)
{
    if (desc->import_host_ptr) {
        b->block.ptr = desc->import_host_ptr;
        b->block.size = desc->size;
        b->block.page_kind = AIDEV_PAGE_KIND_UNKNOWN; /* the caller's memory: looked up */
        b->block.numa_node = -1;
        b->imported = true;
        return AIDEV_SUCCESS;
    }
    if (cache_take(&d->cache, desc->size, &b->block)) {
        if (!(desc->flags & AIDEV_BUFFER_UNINITIALIZED))
            memset(b->block.ptr, 0, (size_t)b->block.size);
        return AIDEV_SUCCESS;
    }
    uint32_t flags = desc->flags & AIDEV_BUFFER_UNINITIALIZED ? AIDEV_HOST_ALLOC_UNINITIALIZED : 0;
    return aidev_hostmem_alloc(desc->size, desc->numa_node, flags, &b->block);
}

aidev_status cpu_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr)
{
    cpu_device *d = device;
    bool cell = !desc->import_host_ptr && desc->size <= CELL_MAX;
    cpu_buffer *b = cell ? cell_new(desc) : calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    atomic_init(&b->refs, 1);
    b->device = d;
    b->scrub = (desc->flags & AIDEV_BUFFER_ZERO_ON_FREE) != 0;
    aidev_status st = cell ? AIDEV_SUCCESS : block_for(d, desc, b);
    if (st != AIDEV_SUCCESS) {
        free(b);
        return st;
    }
    *out_buffer = b;
    *out_host_ptr = b->block.ptr;
    return AIDEV_SUCCESS;
}

void cpu_buffer_destroy(void *device, void *buffer)
{
    (void)device;
    cpu_buffer_release(buffer);
}

aidev_status cpu_buffer_query(void *device, void *buffer, aidev_backend_buffer_query *out)
{
    (void)device;
    cpu_buffer *b = buffer;
    out->page_kind = b->block.page_kind;
    out->numa_node = b->block.numa_node;
    return AIDEV_SUCCESS;
}

/* "To device" on the CPU: the pages exist, with their page-table entries,
 * before a kernel touches them (MADV_POPULATE_WRITE, Linux 5.14), instead of
 * faulting one by one inside the kernel. "To host": the memory already is. */
void cpu_buffer_prefetch(cpu_buffer *b, uint64_t offset, uint64_t size, uint32_t flags)
{
    if (!(flags & AIDEV_PREFETCH_TO_DEVICE) || b->imported || !b->block.mapped_size)
        return;
    uintptr_t page = 4096;
    uintptr_t start = ((uintptr_t)b->block.ptr + offset) & ~(page - 1);
    uintptr_t end = (uintptr_t)b->block.ptr + offset + size;
#ifdef MADV_POPULATE_WRITE
    if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    madvise((void *)start, end - start, MADV_WILLNEED);
}

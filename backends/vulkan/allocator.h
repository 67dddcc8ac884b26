/*
 * allocator.h - a range sub-allocator for one block of device memory.
 *
 * Drivers cap the number of vkAllocateMemory calls (maxMemoryAllocationCount,
 * 4096 on many GPUs) and each call is slow, so buffers are carved out of
 * large blocks. This file knows nothing of Vulkan: it hands out aligned
 * [offset, offset + size) ranges of a block of |size| bytes and takes them
 * back, merging neighbours so that freed space coalesces.
 *
 * Free ranges are kept in an array sorted by offset. Allocation is best fit
 * (the smallest free range that holds the aligned request), which keeps
 * large ranges whole for large requests. Free ranges are never adjacent, so
 * there are at most allocations + 1 of them: alloc grows the array ahead of
 * time and free never allocates (it cannot fail).
 *
 * Not thread safe: the caller (memory.c) holds its pool lock.
 */
#ifndef AIDEV_VK_ALLOCATOR_H
#define AIDEV_VK_ALLOCATOR_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vkb_range {
    uint64_t offset;
    uint64_t size;
} vkb_range;

typedef struct vkb_suballoc {
    uint64_t size;        /* bytes of the block */
    uint64_t free_bytes;  /* sum of the free ranges */
    uint32_t allocations; /* ranges handed out and not yet freed */
    uint32_t range_count; /* free ranges */
    uint32_t range_capacity;
    vkb_range *ranges;    /* free ranges, sorted by offset */
} vkb_suballoc;

/* Makes |a| manage a block of |size| bytes, all free. False when out of
 * host memory. */
bool vkb_suballoc_init(vkb_suballoc *a, uint64_t size);
void vkb_suballoc_finish(vkb_suballoc *a);

/* Finds |size| bytes (> 0) at an offset that is a multiple of |align| (> 0;
 * any value, not only powers of two). Stores the offset and returns true, or
 * returns false when no free range holds the request (or out of host
 * memory). */
bool vkb_suballoc_alloc(vkb_suballoc *a, uint64_t size, uint64_t align, uint64_t *out_offset);

/* Gives back the range [offset, offset + size) that vkb_suballoc_alloc
 * handed out, with the same size. */
void vkb_suballoc_free(vkb_suballoc *a, uint64_t offset, uint64_t size);

/* The largest free range, in bytes. */
uint64_t vkb_suballoc_largest_free(const vkb_suballoc *a);

static inline bool vkb_suballoc_empty(const vkb_suballoc *a)
{
    return a->allocations == 0;
}

#endif

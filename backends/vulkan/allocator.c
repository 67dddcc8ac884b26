/*
 * allocator.c - the range sub-allocator (see allocator.h).
 */
#include "backends/vulkan/allocator.h"

#include <stdlib.h>
#include <string.h>

bool vkb_suballoc_init(vkb_suballoc *a, uint64_t size)
{
    memset(a, 0, sizeof *a);
    a->range_capacity = 4;
    a->ranges = malloc(a->range_capacity * sizeof *a->ranges);
    if (!a->ranges)
        return false;
    a->size = size;
    a->free_bytes = size;
    if (size) {
        a->ranges[0] = (vkb_range){0, size};
        a->range_count = 1;
    }
    return true;
}

void vkb_suballoc_finish(vkb_suballoc *a)
{
    free(a->ranges);
    memset(a, 0, sizeof *a);
}

/* Room for |need| free ranges. */
static bool reserve(vkb_suballoc *a, uint32_t need)
{
    if (need <= a->range_capacity)
        return true;
    uint32_t cap = a->range_capacity * 2;
    while (cap < need)
        cap *= 2;
    vkb_range *r = realloc(a->ranges, cap * sizeof *r);
    if (!r)
        return false;
    a->ranges = r;
    a->range_capacity = cap;
    return true;
}

static void remove_at(vkb_suballoc *a, uint32_t i)
{
    memmove(&a->ranges[i], &a->ranges[i + 1], (a->range_count - i - 1) * sizeof a->ranges[0]);
    a->range_count--;
}

static void insert_at(vkb_suballoc *a, uint32_t i, vkb_range r)
{
    memmove(&a->ranges[i + 1], &a->ranges[i], (a->range_count - i) * sizeof a->ranges[0]);
    a->ranges[i] = r;
    a->range_count++;
}

bool vkb_suballoc_alloc(vkb_suballoc *a, uint64_t size, uint64_t align, uint64_t *out_offset)
{
    if (size == 0 || align == 0 || size > a->free_bytes)
        return false;
    /* A split can turn one free range into two; a later free adds at most
     * one. Reserving here is what lets free never fail. */
    if (!reserve(a, a->allocations + 3))
        return false;

    uint32_t best = UINT32_MAX;
    uint64_t best_waste = UINT64_MAX, best_offset = 0;
    for (uint32_t i = 0; i < a->range_count; i++) {
        const vkb_range *r = &a->ranges[i];
        uint64_t rem = r->offset % align;
        uint64_t pad = rem ? align - rem : 0;
        if (pad > r->size || r->size - pad < size)
            continue;
        uint64_t waste = r->size - size;
        if (waste < best_waste) {
            best = i;
            best_waste = waste;
            best_offset = r->offset + pad;
            if (waste == 0)
                break;
        }
    }
    if (best == UINT32_MAX)
        return false;

    vkb_range r = a->ranges[best];
    uint64_t pad = best_offset - r.offset;
    uint64_t tail = r.size - pad - size;
    /* The range becomes its front padding (if any) and its tail (if any). */
    if (pad && tail) {
        a->ranges[best].size = pad;
        insert_at(a, best + 1, (vkb_range){best_offset + size, tail});
    } else if (pad) {
        a->ranges[best].size = pad;
    } else if (tail) {
        a->ranges[best] = (vkb_range){best_offset + size, tail};
    } else {
        remove_at(a, best);
    }
    a->free_bytes -= size;
    a->allocations++;
    *out_offset = best_offset;
    return true;
}

void vkb_suballoc_free(vkb_suballoc *a, uint64_t offset, uint64_t size)
{
    /* The first free range after |offset|. */
    uint32_t lo = 0, hi = a->range_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a->ranges[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    bool merge_prev = lo > 0 && a->ranges[lo - 1].offset + a->ranges[lo - 1].size == offset;
    bool merge_next = lo < a->range_count && offset + size == a->ranges[lo].offset;
    if (merge_prev && merge_next) {
        a->ranges[lo - 1].size += size + a->ranges[lo].size;
        remove_at(a, lo);
    } else if (merge_prev) {
        a->ranges[lo - 1].size += size;
    } else if (merge_next) {
        a->ranges[lo].offset = offset;
        a->ranges[lo].size += size;
    } else {
        insert_at(a, lo, (vkb_range){offset, size});
    }
    a->free_bytes += size;
    a->allocations--;
}

uint64_t vkb_suballoc_largest_free(const vkb_suballoc *a)
{
    uint64_t largest = 0;
    for (uint32_t i = 0; i < a->range_count; i++)
        if (a->ranges[i].size > largest)
            largest = a->ranges[i].size;
    return largest;
}

/*
 * memory.c - memory types per aidev kind, blocks sub-allocated into
 * buffers, host import, map and unmap.
 *
 * Kinds:
 *   DEVICE  device-local, preferably not host-visible (a discrete GPU's
 *           VRAM). Never mapped for the user; where the type happens to be
 *           host-visible (integrated GPUs) the backend maps it to zero it
 *           on the host. A CPU device's (below) is host memory libaidev
 *           may address.
 *   HOST    host-visible and coherent, preferably cached and not
 *           device-local: system memory the device reaches. Persistently
 *           mapped.
 *   SHARED  device-local and host-visible where the device has it (ReBAR,
 *           integrated), else host-visible and cached. Mapped; map and
 *           unmap invalidate and flush when the type is not coherent.
 *
 * Each pool (one per memory type) holds blocks: one VkDeviceMemory with one
 * VkBuffer over all of it. A buffer is a range of a block (allocator.c);
 * requests above half a block get a block of their own. One empty block per
 * pool is kept for reuse; others are freed.
 *
 * Large HOST buffers of a device whose memory is host memory (lavapipe)
 * are libaidev's host memory (huge pages, aidev_backend_host_alloc),
 * imported with VK_EXT_external_memory_host where the device has it.
 *
 * DEVICE memory of a CPU device (VK_PHYSICAL_DEVICE_TYPE_CPU: lavapipe) is
 * host memory, and libaidev gets its address from buffer_create (the user
 * still cannot map it): DEVICE takes a type that is device-local,
 * host-visible and coherent, its blocks stay mapped, and from 2 MiB on it
 * is a libaidev host block as large HOST buffers are (O_DIRECT reads into
 * the driver's 4 KiB pages go out as many small requests). libaidev then
 * writes it directly: a file read lands in it with no staging and no copy
 * command on the device's queue, where the copies would wait behind
 * kernels. No command of the read's queue uses the memory meanwhile: the
 * read starts once the queue's earlier commands are done (their batches
 * end with a barrier to the host, as for any mapped memory they write) and
 * holds its later ones until it ends (their submission makes the host's
 * writes visible; coherent memory needs no flush). Without a coherent
 * device-local type the address is not given. Never on a GPU, integrated
 * ones included: device-local memory there is a BAR window or memory the
 * GPU caches, slow for the host and no place for O_DIRECT reads. Ranges
 * whose address libaidev gets start on a page from 64 KiB on, so that
 * O_DIRECT reads may land in them.
 *
 * AIDEV_BUFFER_ZERO_ON_FREE: a mapped range is zeroed on the host before it
 * goes back to its block (libaidev destroys such a buffer only once no
 * command uses it; batches hold references until they retire). Memory the
 * host cannot map gets a block of its own, given back to the driver
 * whole, never to another buffer of the pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

#define DEFAULT_BLOCK_SIZE (64ull << 20)
#define MIN_BLOCK_SIZE (4ull << 20)

static const VkBufferUsageFlags buffer_usage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
    VK_BUFFER_USAGE_TRANSFER_DST_BIT;

/* ------------------------------------------------------------------------ */
/* Choosing types                                                           */
/* ------------------------------------------------------------------------ */

/* The type of |allowed| that has all |need| flags, scoring |want| flags up
 * and |avoid| flags down; ties go to the larger heap. -1 when none. */
static int32_t pick_type(const VkPhysicalDeviceMemoryProperties *m, uint32_t allowed,
                         VkMemoryPropertyFlags need, VkMemoryPropertyFlags want,
                         VkMemoryPropertyFlags avoid)
{
    int32_t best = -1;
    int best_score = -1;
    uint64_t best_heap = 0;
    for (uint32_t t = 0; t < m->memoryTypeCount; t++) {
        VkMemoryPropertyFlags f = m->memoryTypes[t].propertyFlags;
        if (!(allowed & (1u << t)) || (f & need) != need)
            continue;
        /* Protected and lazily allocated memory is not for buffers. */
        if (f & (VK_MEMORY_PROPERTY_PROTECTED_BIT | VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT))
            continue;
        int score = __builtin_popcount(f & want) * 2 + (f & avoid ? 0 : 1);
        uint64_t heap = m->memoryHeaps[m->memoryTypes[t].heapIndex].size;
        if (score > best_score || (score == best_score && heap > best_heap)) {
            best = (int32_t)t;
            best_score = score;
            best_heap = heap;
        }
    }
    return best;
}

/* The memory types a block buffer may live in. */
static aidev_status probe_type_bits(vkb_device *dev, uint32_t *out)
{
    VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                               .size = 65536,
                               .usage = buffer_usage,
                               .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer probe;
    VkResult r = dev->f.vkCreateBuffer(dev->handle, &info, NULL, &probe);
    if (r != VK_SUCCESS)
        return vkb_error("vkCreateBuffer", r);
    VkMemoryRequirements req;
    dev->f.vkGetBufferMemoryRequirements(dev->handle, probe, &req);
    dev->f.vkDestroyBuffer(dev->handle, probe, NULL);
    *out = req.memoryTypeBits;
    return AIDEV_SUCCESS;
}

bool vkb_memory_plan_make(const VkPhysicalDeviceMemoryProperties *m, uint32_t allowed,
                          VkPhysicalDeviceType type, bool emulate_discrete,
                          vkb_memory_plan *out, const char **missing)
{
    const VkMemoryPropertyFlags LOCAL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                VISIBLE = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                COHERENT = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                CACHED = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    *out = (vkb_memory_plan){.kind_type = {-1, -1, -1}, .staging_type = -1};
    *missing = NULL;
    /* A CPU device's memory is host memory: DEVICE buffers take a type the
     * host reads and writes coherently, so that libaidev may address them.
     * Never on a GPU, integrated ones included: its device-local memory is
     * a BAR window or memory the GPU caches, no place for O_DIRECT reads,
     * and host access to it is slow. */
    int32_t device = -1;
    bool addressable = false;
    if (type == VK_PHYSICAL_DEVICE_TYPE_CPU && !emulate_discrete) {
        device = pick_type(m, allowed, LOCAL | VISIBLE | COHERENT, CACHED, 0);
        addressable = device >= 0;
    }
    if (device < 0)
        device = pick_type(m, allowed, LOCAL, 0, VISIBLE);
    if (device < 0)
        device = pick_type(m, allowed, 0, 0, 0);
    int32_t host = pick_type(m, allowed, VISIBLE | COHERENT, CACHED, LOCAL);
    int32_t shared = pick_type(m, allowed, LOCAL | VISIBLE, COHERENT, 0);
    if (shared < 0)
        shared = pick_type(m, allowed, VISIBLE, CACHED | COHERENT, 0);
    if (device < 0 || host < 0) {
        *missing = device < 0 ? "device" : "host-visible coherent";
        return false;
    }
    out->kind_type[AIDEV_MEMORY_DEVICE] = device;
    out->kind_type[AIDEV_MEMORY_HOST] = host;
    out->kind_type[AIDEV_MEMORY_SHARED] = shared;
    out->staging_type = host;
    /* Other DEVICE memory is mapped only to zero it from the host; with
     * AIDEV_VULKAN_EMULATE_DISCRETE it is not, as on a discrete GPU. */
    out->kind_mapped[AIDEV_MEMORY_DEVICE] =
        (m->memoryTypes[device].propertyFlags & VISIBLE) && !emulate_discrete;
    out->kind_mapped[AIDEV_MEMORY_HOST] = true;
    out->kind_mapped[AIDEV_MEMORY_SHARED] = shared >= 0;
    out->device_addressable = addressable;
    return true;
}

aidev_status vkb_memory_init(vkb_device *dev)
{
    uint32_t allowed = 0;
    aidev_status st = probe_type_bits(dev, &allowed);
    if (st != AIDEV_SUCCESS)
        return st;
    vkb_memory_plan plan;
    const char *missing;
    if (!vkb_memory_plan_make(&dev->phys->memory, allowed, dev->phys->props.deviceType,
                              vkb_opts.emulate_discrete, &plan, &missing))
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: '%s' has no %s memory type for storage buffers",
                                       dev->phys->props.deviceName, missing);
    memcpy(dev->kind_type, plan.kind_type, sizeof dev->kind_type);
    memcpy(dev->kind_mapped, plan.kind_mapped, sizeof dev->kind_mapped);
    dev->staging_type = plan.staging_type;
    dev->device_addressable = plan.device_addressable;
    aidev_backend_debug("vulkan", "'%s': memory types DEVICE %d%s HOST %d SHARED %d",
                        dev->phys->props.deviceName, plan.kind_type[AIDEV_MEMORY_DEVICE],
                        plan.device_addressable ? " (host memory, addressable)" : "",
                        plan.kind_type[AIDEV_MEMORY_HOST], plan.kind_type[AIDEV_MEMORY_SHARED]);
    return AIDEV_SUCCESS;
}

static void block_free(vkb_device *dev, vkb_block *blk)
{
    if (blk->map)
        dev->f.vkUnmapMemory(dev->handle, blk->memory);
    if (blk->buffer)
        dev->f.vkDestroyBuffer(dev->handle, blk->buffer, NULL);
    if (blk->memory)
        dev->f.vkFreeMemory(dev->handle, blk->memory, NULL);
    vkb_suballoc_finish(&blk->ranges);
    free(blk);
}

void vkb_memory_finish(vkb_device *dev)
{
    for (uint32_t i = 0; i < 2 * VK_MAX_MEMORY_TYPES; i++) {
        uint32_t t = i / 2;
        vkb_pool *pool = dev->pools[t][i % 2];
        if (!pool)
            continue;
        while (pool->blocks) {
            vkb_block *blk = pool->blocks;
            pool->blocks = blk->next;
            if (!vkb_suballoc_empty(&blk->ranges))
                aidev_backend_debug("vulkan", "pool %u: a block still holds %u buffer(s) at "
                                              "close",
                                    t, blk->ranges.allocations);
            block_free(dev, blk);
        }
        pthread_mutex_destroy(&pool->lock);
        free(pool);
        dev->pools[t][i % 2] = NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* Pools and blocks                                                         */
/* ------------------------------------------------------------------------ */

static vkb_pool *get_pool(vkb_device *dev, uint32_t type, bool mapped)
{
    /* Made on first use; two threads racing keep the first one made. */
    vkb_pool **slot = &dev->pools[type][mapped ? 1 : 0];
    vkb_pool *pool = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (pool)
        return pool;
    pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->dev = dev;
    pool->type_index = type;
    pool->flags = dev->phys->memory.memoryTypes[type].propertyFlags;
    pool->mapped = mapped;
    uint64_t heap =
        dev->phys->memory.memoryHeaps[dev->phys->memory.memoryTypes[type].heapIndex].size;
    /* Small heaps (a 256 MiB BAR window) get smaller blocks. */
    pool->block_size = DEFAULT_BLOCK_SIZE;
    while (pool->block_size > MIN_BLOCK_SIZE && pool->block_size > heap / 16)
        pool->block_size /= 2;
    pthread_mutex_init(&pool->lock, NULL);
    vkb_pool *expected = NULL;
    if (!__atomic_compare_exchange_n(slot, &expected, pool, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        pthread_mutex_destroy(&pool->lock);
        free(pool);
        pool = expected;
    }
    return pool;
}

static aidev_status block_create(vkb_pool *pool, uint64_t size, bool dedicated, vkb_block **out)
{
    vkb_device *dev = pool->dev;
    const vkb_device_fns *f = &dev->f;
    vkb_block *blk = calloc(1, sizeof *blk);
    if (!blk)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    blk->pool = pool;
    blk->size = size;
    blk->dedicated = dedicated;
    uint32_t families[2] = {dev->phys->compute_family, dev->transfer_family};
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = buffer_usage,
        /* Copies may run on the transfer family: concurrent sharing spares
         * ownership transfers between the two families. */
        .sharingMode =
            dev->sharing_concurrent ? VK_SHARING_MODE_CONCURRENT : VK_SHARING_MODE_EXCLUSIVE,
        .queueFamilyIndexCount = dev->sharing_concurrent ? 2 : 0,
        .pQueueFamilyIndices = dev->sharing_concurrent ? families : NULL,
    };
    aidev_status st;
    VkResult r = f->vkCreateBuffer(dev->handle, &bi, NULL, &blk->buffer);
    if (r != VK_SUCCESS) {
        blk->buffer = VK_NULL_HANDLE;
        st = vkb_error("vkCreateBuffer", r);
        goto fail;
    }
    VkMemoryRequirements req;
    f->vkGetBufferMemoryRequirements(dev->handle, blk->buffer, &req);
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = pool->type_index};
    r = f->vkAllocateMemory(dev->handle, &ai, NULL, &blk->memory);
    if (r != VK_SUCCESS) {
        blk->memory = VK_NULL_HANDLE;
        st = vkb_error("vkAllocateMemory", r);
        goto fail;
    }
    r = f->vkBindBufferMemory(dev->handle, blk->buffer, blk->memory, 0);
    if (r != VK_SUCCESS) {
        st = vkb_error("vkBindBufferMemory", r);
        goto fail;
    }
    if (pool->mapped) {
        void *p;
        r = f->vkMapMemory(dev->handle, blk->memory, 0, VK_WHOLE_SIZE, 0, &p);
        if (r != VK_SUCCESS) {
            st = vkb_error("vkMapMemory", r);
            goto fail;
        }
        blk->map = p;
    }
    if (!vkb_suballoc_init(&blk->ranges, size)) {
        st = aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    *out = blk;
    return AIDEV_SUCCESS;
fail:
    block_free(dev, blk);
    return st;
}

/* The alignment of every range: what descriptors need, what flushes of
 * non-coherent memory need, and a cache line. */
static uint64_t range_align(const vkb_pool *pool)
{
    uint64_t a = pool->dev->storage_align;
    if (a < 64)
        a = 64;
    if (!(pool->flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
        uint64_t atom = pool->dev->phys->props.limits.nonCoherentAtomSize;
        if (atom > a && atom % a == 0)
            a = atom;
        else if (atom > a)
            a *= atom;
    }
    return a;
}

/* |min_align|: a stricter alignment the caller needs (or 0). */
static aidev_status pool_alloc(vkb_pool *pool, uint64_t size, bool own_block, uint64_t min_align,
                               vkb_block **out_block, uint64_t *out_offset, uint64_t *out_size)
{
    uint64_t align = range_align(pool);
    if (min_align > align && min_align % align == 0)
        align = min_align;
    if (size > UINT64_MAX - align)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_RANGE, "vulkan: size %llu too large",
                                       (unsigned long long)size);
    size = (size + align - 1) / align * align;
    *out_size = size;
    if (size > pool->block_size / 2 || own_block) {
        vkb_block *blk;
        aidev_status st = block_create(pool, size, true, &blk);
        if (st != AIDEV_SUCCESS)
            return st;
        vkb_suballoc_alloc(&blk->ranges, size, align, out_offset);
        pthread_mutex_lock(&pool->lock);
        blk->next = pool->blocks;
        if (pool->blocks)
            pool->blocks->prev = blk;
        pool->blocks = blk;
        pool->block_count++;
        pthread_mutex_unlock(&pool->lock);
        *out_block = blk;
        return AIDEV_SUCCESS;
    }
    pthread_mutex_lock(&pool->lock);
    for (vkb_block *blk = pool->blocks; blk; blk = blk->next) {
        if (!blk->dedicated && vkb_suballoc_alloc(&blk->ranges, size, align, out_offset)) {
            *out_block = blk;
            pthread_mutex_unlock(&pool->lock);
            return AIDEV_SUCCESS;
        }
    }
    /* A new block, made under the lock so that two threads do not both
     * make one for requests that fit in one. */
    vkb_block *blk;
    aidev_status st = block_create(pool, pool->block_size, false, &blk);
    if (st == AIDEV_SUCCESS) {
        vkb_suballoc_alloc(&blk->ranges, size, align, out_offset);
        blk->next = pool->blocks;
        if (pool->blocks)
            pool->blocks->prev = blk;
        pool->blocks = blk;
        pool->block_count++;
        *out_block = blk;
    }
    pthread_mutex_unlock(&pool->lock);
    return st;
}

static void pool_free(vkb_pool *pool, vkb_block *blk, uint64_t offset, uint64_t size)
{
    vkb_block *drop = NULL;
    pthread_mutex_lock(&pool->lock);
    vkb_suballoc_free(&blk->ranges, offset, size);
    if (vkb_suballoc_empty(&blk->ranges)) {
        /* Keep one empty shared block for the next request; free the rest. */
        bool keep = !blk->dedicated;
        for (vkb_block *o = pool->blocks; keep && o; o = o->next)
            if (o != blk && !o->dedicated && vkb_suballoc_empty(&o->ranges))
                keep = false;
        if (!keep) {
            if (blk->prev)
                blk->prev->next = blk->next;
            else
                pool->blocks = blk->next;
            if (blk->next)
                blk->next->prev = blk->prev;
            pool->block_count--;
            drop = blk;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    if (drop)
        block_free(pool->dev, drop);
}

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */
/* ------------------------------------------------------------------------ */

/* Ranges whose host address goes to libaidev start on a page from this
 * size on: file reads with O_DIRECT may then land in them. (Block maps
 * start on a page on the drivers seen; where not, reads are buffered.) */
#define ADDRESSED_PAGE_MIN (64u << 10)
#define PAGE_BYTES 4096u

static aidev_status buffer_new(vkb_device *dev, uint32_t type, bool mapped, uint64_t size,
                               aidev_memory_kind kind, bool scrub, bool addressed,
                               vkb_buffer **out)
{
    vkb_pool *pool = get_pool(dev, type, mapped);
    if (!pool)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    vkb_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    /* Unmappable memory cannot be zeroed at free on the host: never share
     * its block. */
    uint64_t min_align = addressed && mapped && size >= ADDRESSED_PAGE_MIN ? PAGE_BYTES : 0;
    aidev_status st = pool_alloc(pool, size, scrub && !mapped, min_align, &b->block, &b->offset,
                                 &b->alloc_size);
    if (st != AIDEV_SUCCESS) {
        free(b);
        return st;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->needs_zero, false);
    b->dev = dev;
    b->vk = b->block->buffer;
    b->size = size;
    b->kind = kind;
    b->host = b->block->map ? b->block->map + b->offset : NULL;
    b->coherent = (pool->flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    b->scrub = scrub;
    *out = b;
    return AIDEV_SUCCESS;
}

aidev_status vkb_buffer_alloc(vkb_device *dev, vkb_buffer_role role, uint64_t size,
                              vkb_buffer **out)
{
    if (role == VKB_BUFFER_STAGING)
        return buffer_new(dev, (uint32_t)dev->staging_type, true, size, AIDEV_MEMORY_HOST, false,
                          false, out);
    return buffer_new(dev, (uint32_t)dev->kind_type[AIDEV_MEMORY_DEVICE],
                      dev->kind_mapped[AIDEV_MEMORY_DEVICE], size, AIDEV_MEMORY_DEVICE, false,
                      false, out);
}

void vkb_buffer_ref(vkb_buffer *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void vkb_buffer_unref(vkb_buffer *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    vkb_block *blk = b->block;
    if (b->scrub && b->host) {
        memset(b->host, 0, b->alloc_size);
        vkb_buffer_flush(b, 0, b->alloc_size);
    }
    if (blk->pool)
        pool_free(blk->pool, blk, b->offset, b->alloc_size);
    else
        block_free(b->dev, blk); /* imported memory: the block is its own */
    if (b->host_block) {
        aidev_backend_host_free(b->host_block, false); /* scrubbed above */
        free(b->host_block);
    }
    free(b);
}

/* The range to flush or invalidate for |b|: its own, atom-aligned by
 * range_align. (Imported memory is always coherent.) */
static VkMappedMemoryRange mapped_range(const vkb_buffer *b)
{
    VkMappedMemoryRange range = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                 .memory = b->block->memory,
                                 .offset = b->offset,
                                 .size = b->alloc_size};
    return range;
}

aidev_status vkb_buffer_flush(vkb_buffer *b, uint64_t offset, uint64_t size)
{
    (void)offset;
    (void)size;
    if (b->coherent || !b->host)
        return AIDEV_SUCCESS;
    VkMappedMemoryRange range = mapped_range(b);
    VkResult r = b->dev->f.vkFlushMappedMemoryRanges(b->dev->handle, 1, &range);
    return r == VK_SUCCESS ? AIDEV_SUCCESS : vkb_error("vkFlushMappedMemoryRanges", r);
}

aidev_status vkb_buffer_invalidate(vkb_buffer *b, uint64_t offset, uint64_t size)
{
    (void)offset;
    (void)size;
    if (b->coherent || !b->host)
        return AIDEV_SUCCESS;
    VkMappedMemoryRange range = mapped_range(b);
    VkResult r = b->dev->f.vkInvalidateMappedMemoryRanges(b->dev->handle, 1, &range);
    return r == VK_SUCCESS ? AIDEV_SUCCESS : vkb_error("vkInvalidateMappedMemoryRanges", r);
}

/* ------------------------------------------------------------------------ */
/* Host import                                                              */
/* ------------------------------------------------------------------------ */

/* Wraps caller memory. Vulkan imports only whole aligned ranges
 * (minImportedHostPointerAlignment, a page on most drivers): the backend
 * imports the aligned range around [ptr, ptr + size) - the pages that hold
 * the caller's bytes, which are therefore mapped - and the buffer is the
 * caller's part of it. So any pointer imports; a kernel argument whose
 * address is not a multiple of minStorageBufferOffsetAlignment is realigned
 * through a device copy at dispatch (kernel.c). */
static aidev_status import_host(vkb_device *dev, void *ptr, uint64_t size, aidev_memory_kind kind,
                               vkb_buffer **out)
{
    const vkb_physical *p = dev->phys;
    const vkb_device_fns *f = &dev->f;
    if (!p->ext_host_import || !p->min_import_alignment || !f->vkGetMemoryHostPointerPropertiesEXT)
        return aidev_backend_set_error(
            AIDEV_ERROR_UNSUPPORTED,
            "vulkan: '%s' cannot import host memory (no VK_EXT_external_memory_host); make an "
            "AIDEV_MEMORY_HOST buffer and map it instead",
            p->props.deviceName);
    uint64_t align = p->min_import_alignment;
    uintptr_t base = (uintptr_t)ptr / align * align;
    uint64_t end = ((uint64_t)(uintptr_t)ptr + size + align - 1) / align * align;
    uint64_t import_size = end - base;

    VkMemoryHostPointerPropertiesEXT hp = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
    VkResult r = f->vkGetMemoryHostPointerPropertiesEXT(
        dev->handle, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT, (void *)base, &hp);
    if (r != VK_SUCCESS)
        return aidev_backend_set_error(vkb_status_of(r) == AIDEV_ERROR_BACKEND
                                           ? AIDEV_ERROR_UNSUPPORTED
                                           : vkb_status_of(r),
                                       "vulkan: cannot import host_ptr %p: "
                                       "vkGetMemoryHostPointerPropertiesEXT failed: %s (%d)",
                                       ptr, vkb_result_name(r), (int)r);
    vkb_block *blk = calloc(1, sizeof *blk);
    vkb_buffer *b = calloc(1, sizeof *b);
    if (!blk || !b) {
        free(blk);
        free(b);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    blk->size = import_size;
    blk->dedicated = true;
    aidev_status st = AIDEV_SUCCESS;
    uint32_t families[2] = {p->compute_family, dev->transfer_family};
    VkExternalMemoryBufferCreateInfo ext = {
        .sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
        .handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT};
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .pNext = &ext,
        .size = import_size,
        .usage = buffer_usage,
        .sharingMode =
            dev->sharing_concurrent ? VK_SHARING_MODE_CONCURRENT : VK_SHARING_MODE_EXCLUSIVE,
        .queueFamilyIndexCount = dev->sharing_concurrent ? 2 : 0,
        .pQueueFamilyIndices = dev->sharing_concurrent ? families : NULL,
    };
    r = f->vkCreateBuffer(dev->handle, &bi, NULL, &blk->buffer);
    if (r != VK_SUCCESS) {
        blk->buffer = VK_NULL_HANDLE;
        st = vkb_error("vkCreateBuffer", r);
        goto fail;
    }
    VkMemoryRequirements req;
    f->vkGetBufferMemoryRequirements(dev->handle, blk->buffer, &req);
    /* Coherent: the caller reads and writes through its own pointer, with
     * no mapping to flush through. DEVICE memory (a CPU device's, below)
     * prefers a device-local type. */
    int32_t type = pick_type(&p->memory, hp.memoryTypeBits & req.memoryTypeBits,
                             VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                 VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                             kind == AIDEV_MEMORY_DEVICE ? VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT : 0,
                             0);
    if (type < 0 || req.size > import_size) {
        st = aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                     "vulkan: '%s' offers no host-coherent memory type to import "
                                     "host_ptr %p (%llu bytes) as a storage buffer",
                                     p->props.deviceName, ptr, (unsigned long long)size);
        goto fail;
    }
    VkImportMemoryHostPointerInfoEXT import = {
        .sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT,
        .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
        .pHostPointer = (void *)base};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .pNext = &import,
                               .allocationSize = import_size,
                               .memoryTypeIndex = (uint32_t)type};
    r = f->vkAllocateMemory(dev->handle, &ai, NULL, &blk->memory);
    if (r != VK_SUCCESS) {
        blk->memory = VK_NULL_HANDLE;
        st = aidev_backend_set_error(vkb_status_of(r) == AIDEV_ERROR_BACKEND
                                         ? AIDEV_ERROR_UNSUPPORTED
                                         : vkb_status_of(r),
                                     "vulkan: importing host_ptr %p (%llu bytes, as the %llu "
                                     "bytes at %p aligned to minImportedHostPointerAlignment "
                                     "%llu): vkAllocateMemory failed: %s (%d)",
                                     ptr, (unsigned long long)size,
                                     (unsigned long long)import_size, (void *)base,
                                     (unsigned long long)align, vkb_result_name(r), (int)r);
        goto fail;
    }
    r = f->vkBindBufferMemory(dev->handle, blk->buffer, blk->memory, 0);
    if (r != VK_SUCCESS) {
        st = vkb_error("vkBindBufferMemory", r);
        goto fail;
    }
    if (!vkb_suballoc_init(&blk->ranges, import_size)) {
        st = aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->needs_zero, false);
    b->dev = dev;
    b->block = blk;
    b->vk = blk->buffer;
    b->offset = (uint64_t)((uintptr_t)ptr - base);
    b->size = size;
    b->alloc_size = size;
    b->host = ptr;
    b->coherent = true;
    b->imported = true;
    b->kind = kind;
    *out = b;
    return AIDEV_SUCCESS;
fail:
    block_free(dev, blk);
    free(b);
    return st;
}

#define HOST_BLOCK_MIN (2u << 20)

/* A HOST buffer, or a DEVICE buffer of a device whose DEVICE memory is
 * addressable, on libaidev's host memory: huge pages where the system has
 * them, on the device's NUMA node. O_DIRECT reads into 4 KiB pages of the
 * driver's memory are split into many small requests (a scatter list
 * entry per page): a 16 MiB read into lavapipe's own memory took longer
 * than the same read into staging plus the copy. On failure the caller
 * makes an ordinary buffer. */
static aidev_status host_block_buffer(vkb_device *dev, const aidev_backend_buffer_desc *desc,
                                      vkb_buffer **out)
{
    aidev_backend_host_block *block = calloc(1, sizeof *block);
    if (!block)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    uint32_t flags = desc->flags & AIDEV_BUFFER_UNINITIALIZED ? AIDEV_HOST_ALLOC_UNINITIALIZED : 0;
    aidev_status st = aidev_backend_host_alloc(desc->size, desc->numa_node, flags, block);
    if (st == AIDEV_SUCCESS)
        st = import_host(dev, block->ptr, desc->size, desc->kind, out);
    if (st != AIDEV_SUCCESS) {
        aidev_backend_debug("vulkan", "%s buffer of %llu bytes in driver memory: %s",
                            desc->kind == AIDEV_MEMORY_DEVICE ? "DEVICE" : "HOST",
                            (unsigned long long)desc->size, "host memory import failed");
        aidev_backend_host_free(block, false);
        free(block);
        return st;
    }
    (*out)->imported = false;
    (*out)->host_block = block;
    (*out)->scrub = (desc->flags & AIDEV_BUFFER_ZERO_ON_FREE) != 0;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* The vtable's buffer calls                                                */
/* ------------------------------------------------------------------------ */

aidev_status vkb_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr)
{
    vkb_device *dev = device;
    vkb_buffer *b = NULL;
    aidev_status st;
    *out_host_ptr = NULL;
    if (desc->import_host_ptr) {
        st = import_host(dev, desc->import_host_ptr, desc->size, AIDEV_MEMORY_HOST, &b);
        if (st != AIDEV_SUCCESS)
            return st;
        *out_host_ptr = b->host; /* the caller's own memory, coherent */
        *out_buffer = b;
        return AIDEV_SUCCESS;
    }
    int32_t type = dev->kind_type[desc->kind];
    if (type < 0)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED, "vulkan: kind %d not offered",
                                       (int)desc->kind);
    bool host_kind = desc->kind == AIDEV_MEMORY_HOST ||
                     (desc->kind == AIDEV_MEMORY_DEVICE && dev->device_addressable);
    if (host_kind && desc->size >= HOST_BLOCK_MIN &&
        (dev->phys->info.features & AIDEV_FEATURE_UNIFIED_MEMORY) &&
        (dev->phys->info.features & AIDEV_FEATURE_HOST_IMPORT) &&
        host_block_buffer(dev, desc, &b) == AIDEV_SUCCESS) {
        *out_host_ptr = b->coherent ? b->host : NULL;
        *out_buffer = b;
        return AIDEV_SUCCESS;
    }
    /* Whether libaidev gets the address (if the memory is mapped and
     * coherent): HOST and SHARED memory, and DEVICE memory that is host
     * memory. */
    bool addressed = desc->kind != AIDEV_MEMORY_DEVICE || dev->device_addressable;
    st = buffer_new(dev, (uint32_t)type, dev->kind_mapped[desc->kind], desc->size, desc->kind,
                    (desc->flags & AIDEV_BUFFER_ZERO_ON_FREE) != 0, addressed, &b);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!(desc->flags & AIDEV_BUFFER_UNINITIALIZED)) {
        /* New memory may be a freed buffer's: zero it, on the host where it
         * is mapped, else on the device before its first use. */
        if (b->host) {
            memset(b->host, 0, b->alloc_size);
            vkb_buffer_flush(b, 0, b->alloc_size);
        } else {
            atomic_store(&b->needs_zero, true);
        }
    }
    /* DEVICE memory's address goes to libaidev only where it is host
     * memory (see the top of this file); it stays unmappable for the user. */
    if (b->coherent && addressed)
        *out_host_ptr = b->host;
    *out_buffer = b;
    return AIDEV_SUCCESS;
}

void vkb_buffer_destroy(void *device, void *buffer)
{
    (void)device;
    /* Batches still using it hold their own references: the memory goes
     * when the last of them completes. */
    vkb_buffer_unref(buffer);
}

aidev_status vkb_buffer_query(void *device, void *buffer, aidev_backend_buffer_query *out)
{
    (void)device;
    const vkb_buffer *b = buffer;
    out->native_kind = AIDEV_NATIVE_VULKAN_BUFFER;
    out->native_handle = (uint64_t)(uintptr_t)b->vk;
    out->native_offset = b->offset;
    out->host_address = b->host;
    if (!b->host)
        out->page_kind = AIDEV_PAGE_KIND_DEVICE;
    if (b->host_block) {
        out->page_kind = b->host_block->page_kind;
        out->numa_node = b->host_block->numa_node;
    }
    return AIDEV_SUCCESS;
}

aidev_status vkb_buffer_map(void *device, void *buffer, uint64_t offset, uint64_t size,
                            uint32_t map_flags, void **out_ptr)
{
    (void)device;
    (void)map_flags;
    vkb_buffer *b = buffer;
    if (!b->host || b->kind == AIDEV_MEMORY_DEVICE)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: this buffer's memory is not host-visible");
    aidev_status st = vkb_buffer_invalidate(b, offset, size);
    if (st != AIDEV_SUCCESS)
        return st;
    *out_ptr = b->host;
    return AIDEV_SUCCESS;
}

aidev_status vkb_buffer_unmap(void *device, void *buffer, void *ptr)
{
    (void)device;
    (void)ptr;
    vkb_buffer *b = buffer;
    return vkb_buffer_flush(b, 0, b->size);
}

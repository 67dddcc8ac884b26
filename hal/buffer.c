/*
 * buffer.c - buffers: creation with the checks every backend shares (kind
 * offered, size within the device's limit, quota), import of host memory,
 * map/unmap, what backs the memory (page kind, NUMA node), and the
 * reference that keeps memory alive while held-back commands (or exported
 * DLPack tensors) still name it.
 */
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "hal/compress.h"
#include "hal/hostmem.h"
#include "hal/internal.h"
#include "hal/placement.h"
#include "hal/probes.h"

static void buffer_destroy_linked(aidev_object *o);

#define BUFFER_FLAGS \
    (AIDEV_BUFFER_UNINITIALIZED | AIDEV_BUFFER_ZERO_ON_FREE | AIDEV_BUFFER_PINNED)

static const char *kind_name(aidev_memory_kind kind)
{
    switch (kind) {
    case AIDEV_MEMORY_DEVICE:
        return "AIDEV_MEMORY_DEVICE";
    case AIDEV_MEMORY_HOST:
        return "AIDEV_MEMORY_HOST";
    case AIDEV_MEMORY_SHARED:
        return "AIDEV_MEMORY_SHARED";
    default:
        return "?";
    }
}

/* ------------------------------------------------------------------------ */
/* Buffer objects                                                           */
/* ------------------------------------------------------------------------ */

/* Objects of released buffers wait on their context for the next creates,
 * up to SPARE_MAX: a framework frees and makes small tensors by the
 * thousand, and with more than a few alive the heap's free and calloc of
 * an object this size (past its per-thread cache: a lock and a walk of its
 * bins) cost more than a small buffer's whole create otherwise. Under
 * AddressSanitizer a waiting object is poisoned, so a use after release is
 * still caught. */
#define SPARE_MAX 4096

static aidev_buffer_obj *buffer_obj_new(aidev_context_obj *ctx)
{
    pthread_mutex_lock(&ctx->spare_lock);
    aidev_buffer_obj *b = ctx->spare_buffers;
    if (b) {
        ASAN_UNPOISON_MEMORY_REGION(b, sizeof *b);
        ctx->spare_buffers = (aidev_buffer_obj *)b->obj.next;
        ctx->spare_count--;
    }
    pthread_mutex_unlock(&ctx->spare_lock);
    if (b)
        memset(b, 0, sizeof *b);
    else
        b = calloc(1, sizeof *b);
    if (b)
        b->obj.context = ctx;
    return b;
}

static void buffer_obj_free(aidev_buffer_obj *b)
{
    aidev_context_obj *ctx = b->obj.context;
    pthread_mutex_lock(&ctx->spare_lock);
    bool kept = ctx->spare_count < SPARE_MAX;
    if (kept) {
        b->obj.next = (aidev_object *)ctx->spare_buffers;
        ASAN_POISON_MEMORY_REGION(b, sizeof *b);
        ctx->spare_buffers = b;
        ctx->spare_count++;
    }
    pthread_mutex_unlock(&ctx->spare_lock);
    if (!kept)
        free(b);
}

void aidev_buffer_spares_free(aidev_context_obj *ctx)
{
    aidev_buffer_obj *b = ctx->spare_buffers;
    while (b) {
        ASAN_UNPOISON_MEMORY_REGION(b, sizeof *b);
        aidev_buffer_obj *next = (aidev_buffer_obj *)b->obj.next;
        free(b);
        b = next;
    }
    ctx->spare_buffers = NULL;
    ctx->spare_count = 0;
}

/* ------------------------------------------------------------------------ */
/* References                                                               */
/* ------------------------------------------------------------------------ */

void aidev_buffer_retain(aidev_buffer_obj *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void aidev_buffer_unref(aidev_buffer_obj *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    AIDEV_PROBE2(free, b->device->index, b->size);
    if (b->native) /* NULL while evicted */
        AIDEV_DEVICE_VT(b->device)->buffer_destroy(b->device->native, b->native);
    aidev_tier_forget(b);
    pthread_mutex_destroy(&b->tier_lock);
    /* After the backend let go of the memory: the owner may free it now. */
    if (b->on_free)
        b->on_free(b->on_free_arg);
    buffer_obj_free(b);
}

void aidev_buffer_hold(aidev_buffer_obj *b)
{
    atomic_fetch_add_explicit(&b->holders, 1, memory_order_relaxed);
    aidev_buffer_retain(b);
}

/* The quota goes back when the user can no longer reach the memory: a
 * pipeline that releases a buffer and allocates the next one at once must
 * not see the quota held by commands still in flight. */
void aidev_buffer_unhold(aidev_buffer_obj *b)
{
    if (atomic_fetch_sub_explicit(&b->holders, 1, memory_order_acq_rel) == 1) {
        /* An evicted buffer gave its quota back already: its compressed
         * copy goes now instead (no command can name it any more). An
         * eviction still running sees no holder under this lock and
         * stops. */
        pthread_mutex_lock(&b->tier_lock);
        bool resident = !b->stored;
        aidev_tier_forget(b);
        pthread_mutex_unlock(&b->tier_lock);
        if (resident)
            aidev_context_refund(b->obj.context, b->size);
    }
    aidev_buffer_unref(b);
}

/* What an import hands over: the memory, and who frees it. */
typedef struct import_owner {
    void *ptr;
    void (*on_free)(void *arg);
    void *arg;
} import_owner;

static aidev_status buffer_make(aidev_device_obj *dev, const aidev_buffer_desc *desc,
                                const import_owner *import, aidev_buffer *out)
{
    void *import_ptr = import ? import->ptr : NULL;
    aidev_context_obj *ctx = dev->obj.context;
    aidev_status st = aidev_device_ensure_open(dev);
    if (st != AIDEV_SUCCESS)
        return st;
    st = aidev_context_charge_evicting(ctx, desc->size, NULL);
    if (st != AIDEV_SUCCESS)
        return st;

    aidev_buffer_obj *b = buffer_obj_new(ctx);
    if (!b) {
        aidev_context_refund(ctx, desc->size);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    aidev_backend_buffer_desc bd = {
        .size = desc->size,
        .kind = desc->kind,
        /* Imported memory is the caller's: never scrubbed by us. Pinning
         * is the hal's alone. */
        .flags = (desc->flags & ~AIDEV_BUFFER_PINNED) |
                 (ctx->zero_on_free && !import_ptr ? AIDEV_BUFFER_ZERO_ON_FREE : 0),
        .import_host_ptr = import_ptr,
        .numa_node = dev->numa_node,
    };
    aidev_error_clear();
    st = AIDEV_DEVICE_VT(dev)->buffer_create(dev->native, &bd, &b->native, &b->host_ptr);
    if (st != AIDEV_SUCCESS) {
        buffer_obj_free(b);
        aidev_context_refund(ctx, desc->size);
        if (!aidev_error_message()[0])
            aidev_error(st, "backend '%s' could not allocate %llu bytes of %s", dev->backend->name,
                        (unsigned long long)desc->size, kind_name(desc->kind));
        return st;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->holders, 1);
    pthread_mutex_init(&b->tier_lock, NULL);
    atomic_init(&b->evicts_pending, 0);
    atomic_init(&b->evicted, false);
    atomic_init(&b->mapped, false);
    atomic_init(&b->pinned, (desc->flags & AIDEV_BUFFER_PINNED) != 0);
    aidev_tier_born(b); /* newer than every buffer before it */
    b->device = dev;
    b->size = desc->size;
    b->kind = desc->kind;
    b->element_type = desc->element_type;
    b->imported = import_ptr != NULL;
    b->flags = bd.flags;
    /* Before the handle exists: from then on another thread's context
     * release may free the buffer. */
    b->on_free = import ? import->on_free : NULL;
    b->on_free_arg = import ? import->arg : NULL;
    b->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_BUFFER, b);
    b->obj.context = ctx;
    if (!b->obj.handle) {
        b->on_free = NULL; /* a failed import leaves the memory with the caller */
        aidev_buffer_unhold(b);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    }
    aidev_context_link(ctx, &b->obj, AIDEV_HANDLE_BUFFER, buffer_destroy_linked);
    AIDEV_PROBE3(alloc, dev->index, (int)b->kind, b->size);
    *out = (aidev_buffer)b->obj.handle;
    return AIDEV_SUCCESS;
}

static aidev_status check_common(aidev_device_obj *dev, uint64_t size, aidev_memory_kind kind,
                                 aidev_type element_type)
{
    const aidev_backend_device_info *info = dev->info;
    if (size == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "size: 0; a buffer holds at least 1 byte");
    if ((unsigned)kind >= AIDEV_MEMORY_KIND_COUNT_)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "kind: %d is not an aidev_memory_kind",
                           (int)kind);
    if (!(info->memory_kinds & AIDEV_MEMORY_KIND_BIT(kind)))
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "kind: %s is not offered by device %u (%s, %s)",
                           kind_name(kind), dev->index, info->name, dev->backend->name);
    if ((unsigned)element_type >= AIDEV_TYPE_COUNT_)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "element_type: %d is not an aidev_type", (int)element_type);
    if (size % aidev_type_size(element_type))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "size: %llu bytes is not a whole number of %s elements",
                           (unsigned long long)size, aidev_type_name(element_type));
    if (info->max_alloc_bytes && size > info->max_alloc_bytes)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "size: %llu bytes is above the largest allocation of device %u "
                           "(%s): %llu bytes",
                           (unsigned long long)size, dev->index, info->name,
                           (unsigned long long)info->max_alloc_bytes);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_buffer_create(aidev_device device, const aidev_buffer_desc *desc,
                                           aidev_buffer *out_buffer)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!desc)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc: NULL");
    if (!out_buffer)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_buffer: NULL");
    *out_buffer = NULL;
    if (desc->flags & ~BUFFER_FLAGS)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->flags: unknown bits %#x",
                           desc->flags & ~BUFFER_FLAGS);
    st = check_common(dev, desc->size, desc->kind, desc->element_type);
    if (st != AIDEV_SUCCESS)
        return st;
    return buffer_make(dev, desc, NULL, out_buffer);
}

static aidev_status import_host(aidev_device_obj *dev, void *host_ptr, uint64_t size,
                                aidev_type element_type, aidev_buffer *out_buffer,
                                void (*on_free)(void *arg), void *arg)
{
    if (!host_ptr)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "host_ptr: NULL");
    if (!out_buffer)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_buffer: NULL");
    *out_buffer = NULL;
    if ((uintptr_t)host_ptr + size < (uintptr_t)host_ptr)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "host_ptr %p + size %llu wraps around the address space", host_ptr,
                           (unsigned long long)size);
    if (!(dev->info->features & AIDEV_FEATURE_HOST_IMPORT))
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "device %u (%s, %s) cannot import host memory without a copy; "
                           "allocate a HOST buffer and write into it instead",
                           dev->index, dev->info->name, dev->backend->name);
    aidev_status st = check_common(dev, size, AIDEV_MEMORY_HOST, element_type);
    if (st != AIDEV_SUCCESS)
        return st;
    /* The caller's memory: never cleared, never scrubbed (it is theirs). */
    aidev_buffer_desc desc = {.size = size, .kind = AIDEV_MEMORY_HOST,
                              .element_type = element_type,
                              .flags = AIDEV_BUFFER_UNINITIALIZED};
    import_owner owner = {.ptr = host_ptr, .on_free = on_free, .arg = arg};
    return buffer_make(dev, &desc, &owner, out_buffer);
}

AIDEV_API aidev_status aidev_buffer_import_host(aidev_device device, void *host_ptr,
                                                uint64_t size, aidev_type element_type,
                                                aidev_buffer *out_buffer)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    return import_host(dev, host_ptr, size, element_type, out_buffer, NULL, NULL);
}

aidev_status aidev_buffer_import_owned(aidev_device_obj *dev, void *ptr, uint64_t size,
                                       aidev_type element_type, void (*on_free)(void *arg),
                                       void *arg, aidev_buffer *out)
{
    return import_host(dev, ptr, size, element_type, out, on_free, arg);
}

static void buffer_unpublish(aidev_buffer_obj *b)
{
    aidev_context_unlink(&b->obj);
    aidev_handle_free(b->obj.handle);
    b->obj.handle = 0;
    if (atomic_load(&b->mapped) && AIDEV_DEVICE_VT(b->device)->buffer_unmap)
        AIDEV_DEVICE_VT(b->device)->buffer_unmap(b->device->native, b->native, b->mapped_ptr);
    aidev_buffer_unhold(b);
}

AIDEV_API aidev_status aidev_buffer_release(aidev_buffer buffer)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    aidev_placed_buffer *p;
    if (st != AIDEV_SUCCESS && (p = aidev_handle_get((uintptr_t)buffer,
                                                     AIDEV_HANDLE_CONTEXT_BUFFER))) {
        aidev_error_clear();
        return aidev_placed_release(p);
    }
    if (st != AIDEV_SUCCESS)
        return st;
    buffer_unpublish(b);
    return AIDEV_SUCCESS;
}

/* The context's teardown of a buffer the user did not release. */
static void buffer_destroy_linked(aidev_object *o)
{
    buffer_unpublish((aidev_buffer_obj *)o);
}

AIDEV_API aidev_status aidev_buffer_map(aidev_buffer buffer, uint64_t offset, uint64_t size,
                                        uint32_t map_flags, void **out_ptr)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_ptr)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_ptr: NULL");
    *out_ptr = NULL;
    if (b->kind == AIDEV_MEMORY_DEVICE)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "buffer: AIDEV_MEMORY_DEVICE buffers are not mappable; use "
                           "aidev_enqueue_read/aidev_enqueue_write, or make it HOST or SHARED");
    if (!map_flags || (map_flags & ~(AIDEV_MAP_READ | AIDEV_MAP_WRITE)))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "map_flags: %#x; use AIDEV_MAP_READ and/or AIDEV_MAP_WRITE", map_flags);
    if (size == 0 || offset > b->size || size > b->size - offset)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "offset %llu + size %llu: outside the buffer of %llu bytes",
                           (unsigned long long)offset, (unsigned long long)size,
                           (unsigned long long)b->size);
    if (atomic_load(&b->mapped))
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "buffer: already mapped; unmap it before mapping again");
    bool expected = false;
    if (!atomic_compare_exchange_strong(&b->mapped, &expected, true))
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "buffer: already mapped; unmap it before mapping again");
    /* An evicted buffer comes back first (and a queued eviction is off);
     * marked mapped before, so that no automatic eviction follows. */
    st = aidev_buffer_touch(b);
    if (st != AIDEV_SUCCESS) {
        atomic_store(&b->mapped, false);
        return st;
    }
    void *p;
    if (b->host_ptr) {
        p = b->host_ptr;
    } else if (AIDEV_DEVICE_VT(b->device)->buffer_map) {
        aidev_error_clear();
        st = AIDEV_DEVICE_VT(b->device)->buffer_map(b->device->native, b->native, 0, b->size,
                                                    map_flags, &p);
        if (st != AIDEV_SUCCESS) {
            atomic_store(&b->mapped, false);
            return st;
        }
    } else {
        atomic_store(&b->mapped, false);
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "backend '%s' cannot map buffers",
                           b->device->backend->name);
    }
    b->mapped_ptr = p;
    *out_ptr = (char *)p + offset;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_buffer_unmap(aidev_buffer buffer)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!atomic_load(&b->mapped))
        return aidev_error(AIDEV_ERROR_INVALID_STATE, "buffer: not mapped");
    if (!b->host_ptr && AIDEV_DEVICE_VT(b->device)->buffer_unmap) {
        st = AIDEV_DEVICE_VT(b->device)->buffer_unmap(b->device->native, b->native,
                                                      b->mapped_ptr);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    b->mapped_ptr = NULL;
    atomic_store(&b->mapped, false);
    return AIDEV_SUCCESS;
}

void aidev_buffer_query_obj(const aidev_buffer_obj *b, aidev_backend_buffer_query *out)
{
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->page_kind = AIDEV_PAGE_KIND_UNKNOWN;
    out->numa_node = -1;
    out->native_kind = AIDEV_NATIVE_NONE;
    const aidev_backend_vtable *vt = AIDEV_DEVICE_VT(b->device);
    if (vt->buffer_query && vt->buffer_query(b->device->native, b->native, out) != AIDEV_SUCCESS) {
        out->page_kind = AIDEV_PAGE_KIND_UNKNOWN;
        out->native_kind = AIDEV_NATIVE_NONE;
    }
    out->struct_size = sizeof *out;
    if (out->page_kind == AIDEV_PAGE_KIND_UNKNOWN) {
        /* Ask the kernel what backs a host address of the memory: the
         * stable one, the backend's, or the current mapping's. */
        const void *addr = b->host_ptr ? b->host_ptr : out->host_address;
        if (!addr && atomic_load(&b->mapped))
            addr = b->mapped_ptr;
        if (addr)
            out->page_kind = aidev_hostmem_page_kind_of(addr);
        else if (b->kind == AIDEV_MEMORY_DEVICE)
            out->page_kind = AIDEV_PAGE_KIND_DEVICE; /* the device's own */
        /* HOST or SHARED memory of a driver that gives no address before it
         * is mapped: host memory, in base pages as far as anyone can tell. */
        if (out->page_kind == AIDEV_PAGE_KIND_UNKNOWN)
            out->page_kind = AIDEV_PAGE_KIND_NORMAL;
    }
    /* Memory of unknown place on a device of a known node lives there. */
    if (out->numa_node < 0 && !b->host_ptr)
        out->numa_node = b->device->numa_node;
}

/* What backs |b| (aidev_buffer_query_obj), unless it is evicted: false
 * then, with no memory to ask about. */
static bool buffer_query_resident(aidev_buffer_obj *b, aidev_backend_buffer_query *q)
{
    pthread_mutex_lock(&b->tier_lock);
    bool resident = b->stored == NULL;
    if (resident)
        aidev_buffer_query_obj(b, q);
    pthread_mutex_unlock(&b->tier_lock);
    return resident;
}

AIDEV_API aidev_status aidev_buffer_get_info(aidev_buffer buffer, aidev_buffer_info key,
                                             size_t value_size, void *value, size_t *size_ret)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    aidev_placed_buffer *p;
    if (st != AIDEV_SUCCESS && (p = aidev_handle_get((uintptr_t)buffer,
                                                     AIDEV_HANDLE_CONTEXT_BUFFER))) {
        aidev_error_clear();
        return aidev_placed_get_info(p, key, value_size, value, size_ret);
    }
    if (st != AIDEV_SUCCESS)
        return st;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    aidev_device dev;
    aidev_backend_buffer_query q;
    switch (key) {
    case AIDEV_BUFFER_INFO_SIZE:
        u64 = b->size;
        return aidev_info_put(&u64, sizeof u64, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_SIZE");
    case AIDEV_BUFFER_INFO_KIND:
        u32 = (uint32_t)b->kind;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_KIND");
    case AIDEV_BUFFER_INFO_ELEMENT_TYPE:
        u32 = (uint32_t)b->element_type;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_ELEMENT_TYPE");
    case AIDEV_BUFFER_INFO_DEVICE:
        dev = (aidev_device)b->device->obj.handle;
        return aidev_info_put(&dev, sizeof dev, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_DEVICE");
    case AIDEV_BUFFER_INFO_IMPORTED:
        u32 = b->imported;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_IMPORTED");
    case AIDEV_BUFFER_INFO_PAGE_KIND:
        if (!buffer_query_resident(b, &q))
            return aidev_info_put_string("evicted", value_size, value, size_ret,
                                         "AIDEV_BUFFER_INFO_PAGE_KIND");
        return aidev_info_put_string(aidev_page_kind_name(q.page_kind), value_size, value,
                                     size_ret, "AIDEV_BUFFER_INFO_PAGE_KIND");
    case AIDEV_BUFFER_INFO_NUMA_NODE:
        i32 = buffer_query_resident(b, &q) ? q.numa_node : -1;
        return aidev_info_put(&i32, sizeof i32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_NUMA_NODE");
    case AIDEV_BUFFER_INFO_FLAGS:
        u32 = b->flags;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_FLAGS");
    case AIDEV_BUFFER_INFO_HOST_ADDRESS:
        if (!b->host_ptr)
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "buffer: its %s memory on device %u (%s) has no stable host "
                               "address; map it (HOST, SHARED) or read it into host memory",
                               kind_name(b->kind), b->device->index, b->device->backend->name);
        return aidev_info_put(&b->host_ptr, sizeof b->host_ptr, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_HOST_ADDRESS");
    case AIDEV_BUFFER_INFO_RESIDENT:
    case AIDEV_BUFFER_INFO_STORED_BYTES:
        pthread_mutex_lock(&b->tier_lock);
        u32 = b->stored == NULL;
        u64 = b->stored ? b->stored->stored_bytes : 0;
        pthread_mutex_unlock(&b->tier_lock);
        if (key == AIDEV_BUFFER_INFO_RESIDENT)
            return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                                  "AIDEV_BUFFER_INFO_RESIDENT");
        return aidev_info_put(&u64, sizeof u64, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_STORED_BYTES");
    case AIDEV_BUFFER_INFO_VALID_DEVICES:
        /* One copy, on its device (the context's first 64 shown). */
        u64 = b->device->index < 64 ? 1ull << b->device->index : 0;
        return aidev_info_put(&u64, sizeof u64, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_VALID_DEVICES");
    case AIDEV_BUFFER_INFO_VALID_HOST:
        u32 = b->host_ptr != NULL;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_VALID_HOST");
    }
    return aidev_error(AIDEV_ERROR_NOT_FOUND, "key: %d is not an aidev_buffer_info", (int)key);
}

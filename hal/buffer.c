/*
 * buffer.c - buffers: creation with the checks every backend shares (kind
 * offered, size within the device's limit, quota), import of host memory,
 * map/unmap, and the reference that keeps memory alive while held-back
 * commands still name it.
 */
#include <stdlib.h>
#include <string.h>

#include "hal/internal.h"
#include "hal/probes.h"

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

void aidev_buffer_retain(aidev_buffer_obj *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void aidev_buffer_unref(aidev_buffer_obj *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    AIDEV_PROBE2(free, b->device->index, b->size);
    AIDEV_DEVICE_VT(b->device)->buffer_destroy(b->device->native, b->native);
    aidev_context_refund(b->obj.context, b->size);
    free(b);
}

static aidev_status buffer_make(aidev_device_obj *dev, const aidev_buffer_desc *desc,
                                void *import_ptr, aidev_buffer *out)
{
    aidev_context_obj *ctx = dev->obj.context;
    aidev_status st = aidev_device_ensure_open(dev);
    if (st != AIDEV_SUCCESS)
        return st;
    st = aidev_context_charge(ctx, desc->size);
    if (st != AIDEV_SUCCESS)
        return st;

    aidev_buffer_obj *b = calloc(1, sizeof *b);
    if (!b) {
        aidev_context_refund(ctx, desc->size);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    aidev_backend_buffer_desc bd = {
        .size = desc->size,
        .kind = desc->kind,
        .flags = desc->flags,
        .import_host_ptr = import_ptr,
    };
    aidev_error_clear();
    st = AIDEV_DEVICE_VT(dev)->buffer_create(dev->native, &bd, &b->native, &b->host_ptr);
    if (st != AIDEV_SUCCESS) {
        free(b);
        aidev_context_refund(ctx, desc->size);
        if (!aidev_error_message()[0])
            aidev_error(st, "backend '%s' could not allocate %llu bytes of %s", dev->backend->name,
                        (unsigned long long)desc->size, kind_name(desc->kind));
        return st;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->mapped, false);
    b->device = dev;
    b->size = desc->size;
    b->kind = desc->kind;
    b->element_type = desc->element_type;
    b->imported = import_ptr != NULL;
    b->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_BUFFER, b);
    b->obj.context = ctx;
    if (!b->obj.handle) {
        aidev_buffer_unref(b);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    }
    aidev_context_link(ctx, &b->obj, AIDEV_HANDLE_BUFFER);
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
    if (desc->flags & ~AIDEV_BUFFER_UNINITIALIZED)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->flags: unknown bits %#x",
                           desc->flags & ~AIDEV_BUFFER_UNINITIALIZED);
    st = check_common(dev, desc->size, desc->kind, desc->element_type);
    if (st != AIDEV_SUCCESS)
        return st;
    return buffer_make(dev, desc, NULL, out_buffer);
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
    st = check_common(dev, size, AIDEV_MEMORY_HOST, element_type);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_buffer_desc desc = {.size = size, .kind = AIDEV_MEMORY_HOST,
                              .element_type = element_type,
                              .flags = AIDEV_BUFFER_UNINITIALIZED};
    return buffer_make(dev, &desc, host_ptr, out_buffer);
}

static void buffer_unpublish(aidev_buffer_obj *b)
{
    aidev_context_unlink(&b->obj);
    aidev_handle_free(b->obj.handle);
    b->obj.handle = 0;
    if (atomic_load(&b->mapped) && AIDEV_DEVICE_VT(b->device)->buffer_unmap)
        AIDEV_DEVICE_VT(b->device)->buffer_unmap(b->device->native, b->native, b->mapped_ptr);
    aidev_buffer_unref(b);
}

AIDEV_API aidev_status aidev_buffer_release(aidev_buffer buffer)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    buffer_unpublish(b);
    return AIDEV_SUCCESS;
}

void aidev_buffer_destroy_for_context(aidev_buffer_obj *b)
{
    buffer_unpublish(b);
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
    bool expected = false;
    if (!atomic_compare_exchange_strong(&b->mapped, &expected, true))
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "buffer: already mapped; unmap it before mapping again");
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

AIDEV_API aidev_status aidev_buffer_get_info(aidev_buffer buffer, aidev_buffer_info key,
                                             size_t value_size, void *value, size_t *size_ret)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    uint32_t u32;
    uint64_t u64;
    aidev_device dev;
    const char *page_kind;
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
        page_kind = b->host_ptr ? "normal" : "device";
        return aidev_info_put_string(page_kind, value_size, value, size_ret,
                                     "AIDEV_BUFFER_INFO_PAGE_KIND");
    }
    return aidev_error(AIDEV_ERROR_NOT_FOUND, "key: %d is not an aidev_buffer_info", (int)key);
}

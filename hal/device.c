/*
 * device.c - devices: the info query, and opening the backend device on
 * first use (so listing devices costs no driver work).
 */
#include <stdio.h>
#include <string.h>

#include "hal/internal.h"
#include "hal/ops.h"

aidev_status aidev_device_ensure_open(aidev_device_obj *dev)
{
    /* Fast path without the lock: native is only ever set once. */
    if (__atomic_load_n(&dev->native, __ATOMIC_ACQUIRE))
        return AIDEV_SUCCESS;
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&dev->open_lock);
    if (!dev->native) {
        void *native = NULL;
        st = AIDEV_DEVICE_VT(dev)->device_open(dev->backend->instance, dev->backend_index,
                                               &native);
        if (st == AIDEV_SUCCESS && !native)
            st = aidev_error(AIDEV_ERROR_BACKEND, "backend '%s': device_open gave no device",
                             dev->backend->name);
        else if (st != AIDEV_SUCCESS)
            aidev_error(st, "opening device %u (%s, %s): %s", dev->index, dev->info->name,
                        dev->backend->name, aidev_error_message());
        else
            __atomic_store_n(&dev->native, native, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&dev->open_lock);
    return st;
}

void aidev_device_close(aidev_device_obj *dev)
{
    aidev_kernel_internal_forget(dev);
    if (dev->native) {
        AIDEV_DEVICE_VT(dev)->device_close(dev->native);
        dev->native = NULL;
    }
}

AIDEV_API aidev_status aidev_device_get_info(aidev_device device, aidev_device_info key,
                                             size_t value_size, void *value, size_t *size_ret)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    const aidev_backend_device_info *in = dev->info;
    uint32_t u32;
    int32_t i32;

#define PUT(v, name) aidev_info_put(&(v), sizeof(v), value_size, value, size_ret, name)
#define PUT_STR(s, name) aidev_info_put_string(s, value_size, value, size_ret, name)
    switch (key) {
    case AIDEV_DEVICE_INFO_NAME:
        return PUT_STR(in->name, "AIDEV_DEVICE_INFO_NAME");
    case AIDEV_DEVICE_INFO_VENDOR:
        return PUT_STR(in->vendor, "AIDEV_DEVICE_INFO_VENDOR");
    case AIDEV_DEVICE_INFO_BACKEND:
        return PUT_STR(dev->backend->name, "AIDEV_DEVICE_INFO_BACKEND");
    case AIDEV_DEVICE_INFO_TYPE:
        u32 = (uint32_t)in->type;
        return PUT(u32, "AIDEV_DEVICE_INFO_TYPE");
    case AIDEV_DEVICE_INFO_COMPUTE_UNITS:
        return PUT(in->compute_units, "AIDEV_DEVICE_INFO_COMPUTE_UNITS");
    case AIDEV_DEVICE_INFO_MEMORY_BYTES:
        return PUT(in->memory_bytes, "AIDEV_DEVICE_INFO_MEMORY_BYTES");
    case AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES:
        if (AIDEV_DEVICE_VT(dev)->device_free_memory) { /* optional, ABI 1.1 */
            uint64_t bytes = 0;
            st = AIDEV_DEVICE_VT(dev)->device_free_memory(dev->backend->instance,
                                                          dev->backend_index, &bytes);
            if (st == AIDEV_SUCCESS) {
                /* Free memory is never more than the memory there is. */
                if (in->memory_bytes && bytes > in->memory_bytes)
                    bytes = in->memory_bytes;
                return PUT(bytes, "AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES");
            }
            if (st != AIDEV_ERROR_UNSUPPORTED)
                return aidev_error(st, "AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES: backend '%s': %s",
                                   dev->backend->name,
                                   aidev_error_message()[0] ? aidev_error_message()
                                                            : aidev_status_string(st));
            aidev_error_clear();
        }
        if (!in->has_free_memory)
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES: backend '%s' cannot "
                               "know the free memory of '%s'",
                               dev->backend->name, in->name);
        return PUT(in->free_memory_bytes, "AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES");
    case AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES:
        return PUT(in->max_alloc_bytes, "AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES");
    case AIDEV_DEVICE_INFO_MAX_WORKGROUP_SIZE:
        return PUT(in->max_workgroup_size, "AIDEV_DEVICE_INFO_MAX_WORKGROUP_SIZE");
    case AIDEV_DEVICE_INFO_MAX_WORKGROUP_DIMS:
        return PUT(in->max_workgroup_dims, "AIDEV_DEVICE_INFO_MAX_WORKGROUP_DIMS");
    case AIDEV_DEVICE_INFO_MEMORY_KINDS:
        return PUT(in->memory_kinds, "AIDEV_DEVICE_INFO_MEMORY_KINDS");
    case AIDEV_DEVICE_INFO_FEATURES:
        return PUT(in->features, "AIDEV_DEVICE_INFO_FEATURES");
    case AIDEV_DEVICE_INFO_DRIVER_VERSION:
        return PUT_STR(in->driver_version, "AIDEV_DEVICE_INFO_DRIVER_VERSION");
    case AIDEV_DEVICE_INFO_API_VERSION:
        return PUT_STR(in->api_version, "AIDEV_DEVICE_INFO_API_VERSION");
    case AIDEV_DEVICE_INFO_PCI_BUS_ID:
        if (!in->pci_bus_id[0])
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "AIDEV_DEVICE_INFO_PCI_BUS_ID: '%s' has no known PCI bus id",
                               in->name);
        return PUT_STR(in->pci_bus_id, "AIDEV_DEVICE_INFO_PCI_BUS_ID");
    case AIDEV_DEVICE_INFO_UUID:
        if (!in->has_uuid)
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "AIDEV_DEVICE_INFO_UUID: '%s' has no known UUID", in->name);
        return PUT(in->uuid, "AIDEV_DEVICE_INFO_UUID");
    case AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES:
        return PUT(in->local_memory_bytes, "AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES");
    case AIDEV_DEVICE_INFO_INDEX:
        return PUT(dev->index, "AIDEV_DEVICE_INFO_INDEX");
    case AIDEV_DEVICE_INFO_NUMA_NODE:
        i32 = dev->numa_node;
        return PUT(i32, "AIDEV_DEVICE_INFO_NUMA_NODE");
    case AIDEV_DEVICE_INFO_TIMESTAMP_PERIOD_NS:
        return PUT(in->timestamp_period_ns, "AIDEV_DEVICE_INFO_TIMESTAMP_PERIOD_NS");
    case AIDEV_DEVICE_INFO_QUEUE_SCHEDULING:
        if (in->queue_scheduling[0])
            return PUT_STR(in->queue_scheduling, "AIDEV_DEVICE_INFO_QUEUE_SCHEDULING");
        char unknown[160];
        snprintf(unknown, sizeof unknown,
                 "unknown: backend '%s' does not describe its queue scheduling",
                 dev->backend->name);
        return PUT_STR(unknown, "AIDEV_DEVICE_INFO_QUEUE_SCHEDULING");
    }
#undef PUT
#undef PUT_STR
    return aidev_error(AIDEV_ERROR_NOT_FOUND, "key: %d is not an aidev_device_info", (int)key);
}

AIDEV_API aidev_status aidev_device_get_context(aidev_device device, aidev_context *out_context)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_context)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_context: NULL");
    *out_context = (aidev_context)dev->obj.context->obj.handle;
    return AIDEV_SUCCESS;
}

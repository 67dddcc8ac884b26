/*
 * template_backend.c - the entry symbol, the ABI negotiation, the vtable,
 * and the backend and device entries.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "template.h"

/* ------------------------------------------------------------------------ */
/* Backend: init lists the devices, cheaply                                 */
/* ------------------------------------------------------------------------ */

static uint64_t host_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

/* YOUR DEVICE: open the driver and enumerate. When the driver or the
 * hardware is absent, return AIDEV_ERROR_UNSUPPORTED with a reason: the
 * backend is then listed as "skipped", which is no error. */
static aidev_status template_init(void **out_backend)
{
    template_backend *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "template: out of memory");
    aidev_backend_device_info *info = &b->info;
    snprintf(info->name, sizeof info->name, "aidev template device (host memory)");
    snprintf(info->vendor, sizeof info->vendor, "aidev plugin template");
    snprintf(info->driver_version, sizeof info->driver_version, "template 0.1.0");
    snprintf(info->api_version, sizeof info->api_version, "aidev backend ABI %u.%u",
             AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION),
             AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION));
    /* The device runs on the host, so it says so. */
    info->type = AIDEV_DEVICE_TYPE_CPU;
    info->compute_units = 1; /* one worker thread per queue */
    info->memory_bytes = host_memory_bytes();
    info->max_alloc_bytes = info->memory_bytes;
    info->local_memory_bytes = 64 * 1024;
    info->max_workgroup_size = 1024;
    for (int d = 0; d < 3; d++)
        info->max_workgroup_dims[d] = 1024;
    info->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE) |
                         AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST) |
                         AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED);
    /* User kernels as C functions, zero-copy import of host memory, and
     * device memory that is host memory. */
    info->features = AIDEV_FEATURE_KERNEL_HOST | AIDEV_FEATURE_HOST_IMPORT |
                     AIDEV_FEATURE_UNIFIED_MEMORY;
    info->numa_node = -1;
    info->timestamp_period_ns = 1.0;
    /* Free memory comes live from template_device_free_memory (ABI 1.1). */
    info->has_free_memory = false;
    *out_backend = b;
    return AIDEV_SUCCESS;
}

static void template_shutdown(void *backend)
{
    free(backend);
}

static uint32_t template_device_count(void *backend)
{
    (void)backend;
    return 1;
}

static aidev_status template_device_info(void *backend, uint32_t index,
                                         aidev_backend_device_info *out)
{
    template_backend *b = backend;
    if (index != 0)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "template: no device %u", index);
    /* Copy no more than libaidev's struct holds, and keep its size. */
    uint32_t size = out->struct_size;
    memcpy(out, &b->info, size < sizeof b->info ? size : sizeof b->info);
    out->struct_size = size;
    return AIDEV_SUCCESS;
}

/* ABI 1.1, optional. YOUR DEVICE: ask the driver. */
static aidev_status template_device_free_memory(void *backend, uint32_t index,
                                                uint64_t *out_bytes)
{
    (void)backend;
    if (index != 0)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "template: no device %u", index);
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "template: sysconf(_SC_AVPHYS_PAGES) failed");
    *out_bytes = (uint64_t)pages * (uint64_t)page;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Devices: opened on first use, closed when the context goes               */
/* ------------------------------------------------------------------------ */

static aidev_status template_device_open(void *backend, uint32_t index, void **out_device)
{
    if (index != 0)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "template: no device %u", index);
    template_device *d = calloc(1, sizeof *d);
    if (!d)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "template: out of memory");
    d->backend = backend;
    *out_device = d;
    return AIDEV_SUCCESS;
}

/* libaidev calls this after every queue, buffer and kernel of the device
 * is gone. */
static void template_device_close(void *device)
{
    free(device);
}

/* ------------------------------------------------------------------------ */
/* The vtable and the entry                                                 */
/* ------------------------------------------------------------------------ */

static const aidev_backend_vtable template_vtable = {
    /* The table as this header defines it: libaidev reads no member past
     * |struct_size|, so an older libaidev simply ignores newer members. */
    .struct_size = sizeof(aidev_backend_vtable),
    .abi_version = AIDEV_BACKEND_ABI_VERSION,
    .name = TEMPLATE_NAME,
    /* ANY_WAIT: our queues wait on any aidev event, of any backend, through
     * aidev_backend_event_on_complete(). HOST_CALLBACK: our queues run host
     * callbacks themselves. Without these bits libaidev does both for us,
     * holding such commands back on its side. */
    .caps = AIDEV_BACKEND_CAP_ANY_WAIT | AIDEV_BACKEND_CAP_HOST_CALLBACK,
    .init = template_init,
    .shutdown = template_shutdown,
    .device_count = template_device_count,
    .device_info = template_device_info,
    .device_open = template_device_open,
    .device_close = template_device_close,
    .buffer_create = template_buffer_create,
    .buffer_destroy = template_buffer_destroy,
    /* buffer_map / buffer_unmap: not needed, because buffer_create gives a
     * stable host pointer for every buffer. YOUR DEVICE:
     * implement them when host-visible memory must be mapped first. */
    .queue_create = template_queue_create,
    .queue_destroy = template_queue_destroy,
    .queue_submit = template_queue_submit,
    .queue_finish = template_queue_finish,
    /* queue_flush: not needed, every command starts as soon as it may. */
    .kernel_create = template_kernel_create,
    .kernel_destroy = template_kernel_destroy,
    .device_free_memory = template_device_free_memory,
};

/* The one exported symbol. libaidev offers the highest backend ABI it
 * speaks; we answer the one we implement. It must stay cheap: no device
 * work here, that belongs in init. */
AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego);
AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego)
{
    const uint32_t ours = AIDEV_BACKEND_ABI_VERSION;
    uint32_t offer = nego->abi_version;
    if (AIDEV_BACKEND_ABI_MAJOR(offer) != AIDEV_BACKEND_ABI_MAJOR(ours))
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "template: built for backend ABI %u.%u, libaidev offers "
                                       "%u.%u; rebuild the plugin against this libaidev",
                                       AIDEV_BACKEND_ABI_MAJOR(ours), AIDEV_BACKEND_ABI_MINOR(ours),
                                       AIDEV_BACKEND_ABI_MAJOR(offer),
                                       AIDEV_BACKEND_ABI_MINOR(offer));
    /* Same major: minors only append members, so we speak the older of the
     * two and an older libaidev still loads us. */
    nego->abi_version = offer < ours ? offer : ours;
    nego->vtable = &template_vtable;
    return AIDEV_SUCCESS;
}

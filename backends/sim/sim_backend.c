/*
 * sim_backend.c - the entry symbol, the vtable, and the backend and device
 * entries of the simulated-device backend.
 *
 * init reads AIDEV_SIM_DEVICES: unset or empty, the backend offers no
 * device (listed as skipped, with how to ask for one); malformed, it fails
 * with the parser's message, which aidev-info shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SIM_VERSION "0.1.0"

static void describe(sim_unit *u)
{
    const sim_config *c = &u->config;
    aidev_backend_device_info *info = &u->info;
    info->struct_size = sizeof *info;
    /* The name says what is simulated, so nobody takes it for hardware. */
    snprintf(info->name, sizeof info->name,
             "sim:%s (simulated%s: %g GFLOP/s, %g GB/s memory, %g GB/s link, %g us latency)",
             c->name, c->unified ? ", unified memory" : "", c->gflops, c->mem_gbps, c->link_gbps,
             c->latency_us);
    snprintf(info->vendor, sizeof info->vendor, "aidev simulator (no hardware)");
    snprintf(info->driver_version, sizeof info->driver_version, "aidev-sim " SIM_VERSION);
    snprintf(info->api_version, sizeof info->api_version, "aidev backend ABI %u.%u",
             AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION),
             AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION));
    info->type = AIDEV_DEVICE_TYPE_ACCELERATOR;
    info->compute_units = 1; /* one worker thread per queue does the host work */
    info->memory_bytes = c->memory_bytes;
    info->max_alloc_bytes = c->memory_bytes;
    info->local_memory_bytes = 64 * 1024;
    info->max_workgroup_size = 1024;
    for (int d = 0; d < 3; d++)
        info->max_workgroup_dims[d] = 1024;
    info->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE) |
                         AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST) |
                         AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED);
    info->features = AIDEV_FEATURE_KERNEL_HOST | AIDEV_FEATURE_HOST_IMPORT |
                     (c->unified ? AIDEV_FEATURE_UNIFIED_MEMORY : 0);
    info->numa_node = -1;
    info->timestamp_period_ns = 1.0;
    /* Free memory comes live from sim_device_free_memory. */
    info->has_free_memory = false;
}

static aidev_status sim_init(void **out_backend)
{
    const char *env = getenv(SIM_ENV);
    if (!env || !*env)
        return aidev_backend_set_error(
            AIDEV_ERROR_UNSUPPORTED,
            "no simulated device: " SIM_ENV " is not set (e.g. " SIM_ENV
            "=\"fast:gflops=40,mem_gbps=20,link_gbps=4,latency_us=10\"; see "
            "backends/sim/README.md)");
    sim_backend *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "sim: out of memory");
    sim_config configs[SIM_MAX_DEVICES];
    aidev_status st = sim_config_parse(env, configs, &b->count);
    if (st != AIDEV_SUCCESS) {
        free(b);
        return st;
    }
    for (uint32_t i = 0; i < b->count; i++) {
        sim_unit *u = &b->units[i];
        u->config = configs[i];
        describe(u);
        pthread_mutex_init(&u->compute.lock, NULL);
        pthread_mutex_init(&u->link.lock, NULL);
        atomic_init(&u->allocated, 0);
        atomic_init(&u->overruns, 0);
        aidev_backend_debug("sim", "device %u: %s", i, u->info.name);
    }
    *out_backend = b;
    return AIDEV_SUCCESS;
}

static void sim_shutdown(void *backend)
{
    sim_backend *b = backend;
    for (uint32_t i = 0; i < b->count; i++) {
        sim_unit *u = &b->units[i];
        uint64_t overruns = atomic_load(&u->overruns);
        if (overruns)
            aidev_backend_debug("sim", "%s: %llu commands ran longer on the host than modelled",
                                u->config.name, (unsigned long long)overruns);
        pthread_mutex_destroy(&u->compute.lock);
        pthread_mutex_destroy(&u->link.lock);
    }
    free(b);
}

static uint32_t sim_device_count(void *backend)
{
    return ((sim_backend *)backend)->count;
}

static aidev_status no_device(uint32_t index)
{
    return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "sim: no device %u", index);
}

static aidev_status sim_device_info(void *backend, uint32_t index, aidev_backend_device_info *out)
{
    sim_backend *b = backend;
    if (index >= b->count)
        return no_device(index);
    /* Copy no more than libaidev's struct holds, and keep its size. */
    uint32_t size = out->struct_size;
    const aidev_backend_device_info *info = &b->units[index].info;
    memcpy(out, info, size < sizeof *info ? size : sizeof *info);
    out->struct_size = size;
    return AIDEV_SUCCESS;
}

static aidev_status sim_device_free_memory(void *backend, uint32_t index, uint64_t *out_bytes)
{
    sim_backend *b = backend;
    if (index >= b->count)
        return no_device(index);
    sim_unit *u = &b->units[index];
    *out_bytes = u->config.memory_bytes - atomic_load(&u->allocated);
    return AIDEV_SUCCESS;
}

static aidev_status sim_device_open(void *backend, uint32_t index, void **out_device)
{
    sim_backend *b = backend;
    if (index >= b->count)
        return no_device(index);
    sim_device *d = calloc(1, sizeof *d);
    if (!d)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "sim: out of memory");
    d->unit = &b->units[index];
    *out_device = d;
    return AIDEV_SUCCESS;
}

static void sim_device_close(void *device)
{
    free(device);
}

static const aidev_backend_vtable sim_vtable = {
    .struct_size = sizeof(aidev_backend_vtable),
    .abi_version = AIDEV_BACKEND_ABI_VERSION,
    .name = SIM_NAME,
    /* Our queues wait on any aidev event and run host callbacks
     * themselves, as the plugin template's do. */
    .caps = AIDEV_BACKEND_CAP_ANY_WAIT | AIDEV_BACKEND_CAP_HOST_CALLBACK,
    .init = sim_init,
    .shutdown = sim_shutdown,
    .device_count = sim_device_count,
    .device_info = sim_device_info,
    .device_open = sim_device_open,
    .device_close = sim_device_close,
    .buffer_create = sim_buffer_create,
    .buffer_destroy = sim_buffer_destroy,
    /* buffer_map / buffer_unmap: HOST and SHARED buffers always have a host
     * pointer, and DEVICE buffers are not mappable. */
    .queue_create = sim_queue_create,
    .queue_destroy = sim_queue_destroy,
    .queue_submit = sim_queue_submit,
    .queue_finish = sim_queue_finish,
    .kernel_create = sim_kernel_create,
    .kernel_destroy = sim_kernel_destroy,
    .device_free_memory = sim_device_free_memory,
};

AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego);
AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego)
{
    const uint32_t ours = AIDEV_BACKEND_ABI_VERSION;
    uint32_t offer = nego->abi_version;
    if (AIDEV_BACKEND_ABI_MAJOR(offer) != AIDEV_BACKEND_ABI_MAJOR(ours))
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "sim: built for backend ABI %u.%u, libaidev offers %u.%u",
                                       AIDEV_BACKEND_ABI_MAJOR(ours), AIDEV_BACKEND_ABI_MINOR(ours),
                                       AIDEV_BACKEND_ABI_MAJOR(offer),
                                       AIDEV_BACKEND_ABI_MINOR(offer));
    nego->abi_version = offer < ours ? offer : ours;
    nego->vtable = &sim_vtable;
    return AIDEV_SUCCESS;
}

/*
 * info_model.c - gathering backends, devices, the DRM view and hardware.
 */
#include "tools/info_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *info_device_type_name(uint32_t type)
{
    switch (type) {
    case AIDEV_DEVICE_TYPE_CPU:
        return "cpu";
    case AIDEV_DEVICE_TYPE_GPU:
        return "gpu";
    case AIDEV_DEVICE_TYPE_ACCELERATOR:
        return "accelerator";
    default:
        return "other";
    }
}

const char *info_memory_kind_name(unsigned kind)
{
    switch (kind) {
    case AIDEV_MEMORY_DEVICE:
        return "device";
    case AIDEV_MEMORY_HOST:
        return "host";
    case AIDEV_MEMORY_SHARED:
        return "shared";
    default:
        return NULL;
    }
}

static const struct {
    uint64_t bit;
    const char *name;
    const char *description;
} features[] = {
    {AIDEV_FEATURE_FP16, "fp16", "half-precision arithmetic"},
    {AIDEV_FEATURE_FP64, "fp64", "double-precision arithmetic"},
    {AIDEV_FEATURE_INT8_DOT, "int8_dot", "int8 dot product"},
    {AIDEV_FEATURE_SUBGROUPS, "subgroups", "subgroup operations"},
    {AIDEV_FEATURE_SVM_COARSE, "svm_coarse", "coarse-grained shared virtual memory"},
    {AIDEV_FEATURE_SVM_FINE, "svm_fine", "fine-grained shared virtual memory"},
    {AIDEV_FEATURE_TIMELINE_SEMAPHORES, "timeline_semaphores", "timeline semaphores"},
    {AIDEV_FEATURE_QUEUE_PRIORITY, "queue_priority", "queue priorities"},
    {AIDEV_FEATURE_HOST_IMPORT, "host_import", "zero-copy import of host memory"},
    {AIDEV_FEATURE_KERNEL_OPENCL_C, "kernel_opencl_c", "user kernels in OpenCL C"},
    {AIDEV_FEATURE_KERNEL_SPIRV, "kernel_spirv", "user kernels in SPIR-V"},
    {AIDEV_FEATURE_KERNEL_HOST, "kernel_host", "user kernels as C functions"},
    {AIDEV_FEATURE_UNIFIED_MEMORY, "unified_memory", "device memory is host memory"},
    {AIDEV_FEATURE_QUEUE_PREEMPTION, "queue_preemption",
     "HIGH queues preempt running LOW work"},
    {AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS, "kernel_spec_constants",
     "specialization constants in SPIR-V user kernels"},
    {AIDEV_FEATURE_KERNEL_LOCAL_ARGS, "kernel_local_args",
     "local-memory arguments in OpenCL C user kernels"},
    {AIDEV_FEATURE_QUEUE_LOW_LATENCY, "queue_low_latency",
     "low-latency queues: threads poll before sleeping"},
};

const char *info_feature_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++)
        if (features[i].bit == 1ull << bit)
            return features[i].name;
    return NULL;
}

const char *info_feature_description(unsigned bit)
{
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++)
        if (features[i].bit == 1ull << bit)
            return features[i].description;
    return NULL;
}

void info_format_bytes(uint64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5)
        v /= 1024, u++;
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

/* A string property, or NULL when the device cannot know it (UNSUPPORTED) or
 * memory runs out. */
static char *get_string(aidev_device dev, aidev_device_info key)
{
    size_t size = 0;
    if (aidev_device_get_info(dev, key, 0, NULL, &size) != AIDEV_SUCCESS || size == 0)
        return NULL;
    char *s = malloc(size);
    if (s && aidev_device_get_info(dev, key, size, s, NULL) != AIDEV_SUCCESS) {
        free(s);
        return NULL;
    }
    if (s)
        s[size - 1] = '\0';
    return s;
}

static char *get_string_or_empty(aidev_device dev, aidev_device_info key)
{
    char *s = get_string(dev, key);
    return s ? s : strdup("");
}

/* A fixed-size property; false when the device cannot know it. */
static bool get_value(aidev_device dev, aidev_device_info key, void *value, size_t size)
{
    return aidev_device_get_info(dev, key, size, value, NULL) == AIDEV_SUCCESS;
}

static bool load_device(aidev_device h, info_device *d)
{
    memset(d, 0, sizeof *d);
    d->handle = h;
    d->hardware = -1;
    d->numa_node = -1;
    get_value(h, AIDEV_DEVICE_INFO_INDEX, &d->index, sizeof d->index);
    d->name = get_string_or_empty(h, AIDEV_DEVICE_INFO_NAME);
    d->vendor = get_string_or_empty(h, AIDEV_DEVICE_INFO_VENDOR);
    d->backend = get_string_or_empty(h, AIDEV_DEVICE_INFO_BACKEND);
    d->driver_version = get_string_or_empty(h, AIDEV_DEVICE_INFO_DRIVER_VERSION);
    d->api_version = get_string_or_empty(h, AIDEV_DEVICE_INFO_API_VERSION);
    get_value(h, AIDEV_DEVICE_INFO_TYPE, &d->type, sizeof d->type);
    get_value(h, AIDEV_DEVICE_INFO_COMPUTE_UNITS, &d->compute_units, sizeof d->compute_units);
    get_value(h, AIDEV_DEVICE_INFO_MEMORY_BYTES, &d->memory_bytes, sizeof d->memory_bytes);
    d->has_free_memory = get_value(h, AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES,
                                   &d->free_memory_bytes, sizeof d->free_memory_bytes);
    get_value(h, AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES, &d->max_alloc_bytes,
              sizeof d->max_alloc_bytes);
    get_value(h, AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES, &d->local_memory_bytes,
              sizeof d->local_memory_bytes);
    get_value(h, AIDEV_DEVICE_INFO_MAX_WORKGROUP_SIZE, &d->max_workgroup_size,
              sizeof d->max_workgroup_size);
    get_value(h, AIDEV_DEVICE_INFO_MAX_WORKGROUP_DIMS, d->max_workgroup_dims,
              sizeof d->max_workgroup_dims);
    get_value(h, AIDEV_DEVICE_INFO_MEMORY_KINDS, &d->memory_kinds, sizeof d->memory_kinds);
    get_value(h, AIDEV_DEVICE_INFO_FEATURES, &d->features, sizeof d->features);
    d->pci_bus_id = get_string(h, AIDEV_DEVICE_INFO_PCI_BUS_ID);
    d->pci = info_pci_parse(d->pci_bus_id);
    d->has_uuid = get_value(h, AIDEV_DEVICE_INFO_UUID, d->uuid, sizeof d->uuid);
    get_value(h, AIDEV_DEVICE_INFO_NUMA_NODE, &d->numa_node, sizeof d->numa_node);
    get_value(h, AIDEV_DEVICE_INFO_TIMESTAMP_PERIOD_NS, &d->timestamp_period_ns,
              sizeof d->timestamp_period_ns);
    d->queue_scheduling = get_string_or_empty(h, AIDEV_DEVICE_INFO_QUEUE_SCHEDULING);
    return d->queue_scheduling && d->name && d->vendor && d->backend && d->driver_version && d->api_version;
}

static void free_device(info_device *d)
{
    free(d->name);
    free(d->vendor);
    free(d->backend);
    free(d->driver_version);
    free(d->api_version);
    free(d->pci_bus_id);
    free(d->queue_scheduling);
}

/* Ties devices and DRM nodes into hardware. */
static aidev_status build_hardware(info_model *m)
{
    info_hw_ids *ids = calloc(m->ndevices ? m->ndevices : 1, sizeof *ids);
    info_pci_addr *nodes = calloc(m->drm.count ? m->drm.count : 1, sizeof *nodes);
    bool ok = ids && nodes;
    for (uint32_t i = 0; ok && i < m->ndevices; i++) {
        ids[i].pci = m->devices[i].pci;
        ids[i].has_uuid = m->devices[i].has_uuid;
        memcpy(ids[i].uuid, m->devices[i].uuid, 16);
    }
    for (size_t n = 0; ok && n < m->drm.count; n++)
        nodes[n] = m->drm.nodes[n].pci;
    ok = ok && info_hw_build(ids, m->ndevices, nodes, m->drm.count, &m->hw);
    for (uint32_t i = 0; ok && i < m->ndevices; i++)
        m->devices[i].hardware = m->hw.device_group[i];
    free(ids);
    free(nodes);
    return ok ? AIDEV_SUCCESS : AIDEV_ERROR_OUT_OF_HOST_MEMORY;
}

/* After the context: the backends' values were read when they loaded. */
static aidev_status load_environment(info_model *m)
{
    aidev_status st = aidev_environment_get_reports(&m->nenvironment, NULL);
    if (st != AIDEV_SUCCESS || m->nenvironment == 0)
        return st;
    m->environment = calloc(m->nenvironment, sizeof *m->environment);
    if (!m->environment)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    return aidev_environment_get_reports(&m->nenvironment, m->environment);
}

aidev_status info_model_load(info_model *m)
{
    memset(m, 0, sizeof *m);
    aidev_status st = aidev_context_create(NULL, &m->ctx);
    if (st != AIDEV_SUCCESS) {
        m->ctx = NULL;
        return st;
    }
    aidev_device *handles = NULL;
    st = aidev_context_get_backends(m->ctx, &m->nbackends, NULL);
    if (st == AIDEV_SUCCESS) {
        m->backends = calloc(m->nbackends ? m->nbackends : 1, sizeof *m->backends);
        st = m->backends ? aidev_context_get_backends(m->ctx, &m->nbackends, m->backends)
                         : AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    }
    if (st == AIDEV_SUCCESS)
        st = aidev_context_get_devices(m->ctx, &m->ndevices, NULL);
    if (st == AIDEV_SUCCESS) {
        handles = calloc(m->ndevices ? m->ndevices : 1, sizeof *handles);
        m->devices = calloc(m->ndevices ? m->ndevices : 1, sizeof *m->devices);
        st = handles && m->devices ? aidev_context_get_devices(m->ctx, &m->ndevices, handles)
                                   : AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    }
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < m->ndevices; i++)
        if (!load_device(handles[i], &m->devices[i]))
            st = AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    free(handles);
    if (st == AIDEV_SUCCESS)
        st = load_environment(m);
    if (st == AIDEV_SUCCESS) {
        info_drm_scan(&m->drm);
        st = build_hardware(m);
    }
    return st;
}

void info_model_free(info_model *m)
{
    for (uint32_t i = 0; m->devices && i < m->ndevices; i++)
        free_device(&m->devices[i]);
    free(m->devices);
    free(m->backends);
    free(m->environment);
    info_drm_free(&m->drm);
    info_hw_free(&m->hw);
    if (m->ctx)
        aidev_context_release(m->ctx);
    memset(m, 0, sizeof *m);
}

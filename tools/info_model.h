/*
 * info_model.h - everything aidev-info reports, gathered once: backends,
 * devices with every property, the DRM view, and the hardware that ties
 * them together. The text and JSON outputs only read it.
 */
#ifndef AIDEV_TOOLS_INFO_MODEL_H
#define AIDEV_TOOLS_INFO_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>

#include "tools/info_drm.h"
#include "tools/info_hw.h"

typedef struct info_device {
    aidev_device handle;
    uint32_t index;
    /* Strings: never NULL ("" when the backend gave none). */
    char *name, *vendor, *backend, *driver_version, *api_version;
    uint32_t type;
    uint32_t compute_units;
    uint64_t memory_bytes;
    bool has_free_memory; /* AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES answered */
    uint64_t free_memory_bytes;
    uint64_t max_alloc_bytes;
    uint64_t local_memory_bytes;
    uint32_t max_workgroup_size;
    uint32_t max_workgroup_dims[3];
    uint32_t memory_kinds;
    uint64_t features;
    char *pci_bus_id;     /* as the backend wrote it, or NULL when unknown */
    info_pci_addr pci;    /* parsed; invalid when unknown or unparsable */
    bool has_uuid;
    uint8_t uuid[16];
    int32_t numa_node;    /* -1 unknown */
    double timestamp_period_ns;
    /* AIDEV_DEVICE_INFO_QUEUE_SCHEDULING: how it honours queue priorities,
     * preemption and low-latency queues, in words (NULL or "" when not
     * given: models built by hand, in tests, leave it out). */
    char *queue_scheduling;
    long hardware;        /* group in info_model.hw, or -1 */
} info_device;

typedef struct info_model {
    aidev_context ctx;
    aidev_backend_report *backends; /* strings borrowed from |ctx| */
    uint32_t nbackends;
    info_device *devices;
    uint32_t ndevices;
    info_drm drm;
    info_hw_map hw;
    /* Environment values libaidev refused or capped (strings borrowed from
     * libaidev, alive for the process). */
    aidev_environment_report *environment;
    uint32_t nenvironment;
} info_model;

/* Makes a context and gathers everything. Returns AIDEV_SUCCESS or the
 * failing call's status (its message in aidev_last_error()). */
aidev_status info_model_load(info_model *m);
void info_model_free(info_model *m);

/* Names for the outputs. */
const char *info_device_type_name(uint32_t type);
const char *info_memory_kind_name(unsigned kind);
/* The AIDEV_FEATURE_* bit |bit| as a short name ("fp16"), or NULL when the
 * bit has no name in this build. */
const char *info_feature_name(unsigned bit);
/* A human description of a feature ("int8 dot product"), or NULL. */
const char *info_feature_description(unsigned bit);
#define INFO_FEATURE_BITS 64

/* "23.5 GiB" */
void info_format_bytes(uint64_t bytes, char *out, size_t size);

#endif

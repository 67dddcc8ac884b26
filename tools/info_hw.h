/*
 * info_hw.h - which aidev devices and DRM nodes are one piece of hardware.
 *
 * Two devices are the same hardware when they report the same PCI bus
 * address (AIDEV_DEVICE_INFO_PCI_BUS_ID) or the same device UUID
 * (AIDEV_DEVICE_INFO_UUID: OpenCL's CL_DEVICE_UUID_KHR and Vulkan's
 * deviceUUID are defined to agree for one device). A DRM node joins the
 * hardware whose PCI address it has. Names are never compared: two boards of
 * one model have the same name.
 *
 * Pure functions of their inputs, so they are tested without hardware.
 */
#ifndef AIDEV_TOOLS_INFO_HW_H
#define AIDEV_TOOLS_INFO_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A PCI address: domain:bus:device.function. */
typedef struct info_pci_addr {
    bool valid;
    uint32_t domain; /* 16 bits on most machines; 32 on some (VMD) */
    uint8_t bus, dev, func;
} info_pci_addr;

/* Parses "dddd:bb:dd.f" or "bb:dd.f" (domain 0), hex, either case. Returns
 * an address with |valid| false for anything else. */
info_pci_addr info_pci_parse(const char *s);
/* "0000:65:00.0" into |out| (at least 16 bytes). */
void info_pci_format(const info_pci_addr *a, char *out, size_t out_size);
bool info_pci_equal(const info_pci_addr *a, const info_pci_addr *b);

/* "6d657361-3232-2e33-2e36-000000000000" into |out| (at least 37 bytes). */
void info_uuid_format(const uint8_t uuid[16], char *out, size_t out_size);

/* What grouping needs to know of one aidev device. */
typedef struct info_hw_ids {
    info_pci_addr pci;
    bool has_uuid;
    uint8_t uuid[16];
} info_hw_ids;

/* One piece of hardware: the devices (positions in the input array) and DRM
 * nodes (positions too) that reach it. */
typedef struct info_hw_group {
    info_pci_addr pci; /* the first address among its members, if any */
    bool has_uuid;
    uint8_t uuid[16];  /* the first UUID among its devices, if any */
    /* Members disagree on their PCI address (they were joined by UUID). */
    bool pci_conflict;
    size_t *devices;
    size_t ndevices;
    size_t *nodes;
    size_t nnodes;
} info_hw_group;

typedef struct info_hw_map {
    info_hw_group *groups;
    size_t ngroups;
    /* For each device and node: its group, or -1 when it has neither PCI
     * address nor UUID to be matched by. */
    long *device_group;
    long *node_group;
} info_hw_map;

/* Groups |ndev| devices and |nnodes| DRM nodes (their PCI addresses; invalid
 * for nodes on other buses). Groups come in order of their first device,
 * node-only groups last in node order. Returns false when out of memory. */
bool info_hw_build(const info_hw_ids *devs, size_t ndev, const info_pci_addr *nodes,
                   size_t nnodes, info_hw_map *out);
void info_hw_free(info_hw_map *map);

#endif

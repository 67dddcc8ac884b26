/*
 * info_drm.h - the kernel's view of the GPUs: DRM devices through libdrm.
 *
 * Each DRM device with its render node, the kernel driver behind it
 * (drmGetVersion on the node, else the driver's name from sysfs when the node
 * cannot be opened) and its bus address. A machine without /dev/dri (a
 * container, a server without a GPU driver) is a normal state, not an error.
 */
#ifndef AIDEV_TOOLS_INFO_DRM_H
#define AIDEV_TOOLS_INFO_DRM_H

#include <stddef.h>
#include <stdint.h>

#include "tools/info_hw.h"

typedef enum info_drm_state {
    INFO_DRM_NOT_BUILT = 0, /* aidev-info was built without libdrm */
    INFO_DRM_NO_DRI,        /* no /dev/dri: no DRM driver on this machine */
    INFO_DRM_OK,            /* enumerated (possibly zero devices) */
    INFO_DRM_ERROR,         /* drmGetDevices2 failed otherwise */
} info_drm_state;

typedef struct info_drm_node {
    char *render_node;   /* "/dev/dri/renderD128", or NULL (display only) */
    char *primary_node;  /* "/dev/dri/card0", or NULL */
    const char *bus;     /* "pci", "usb", "platform", "host1x", "unknown" */
    info_pci_addr pci;   /* valid on the PCI bus */
    uint16_t vendor_id, device_id, subvendor_id, subdevice_id; /* PCI, USB */
    char *bus_name;      /* platform/host1x device name, or NULL */
    char *driver;        /* kernel driver ("amdgpu"), or NULL when unknown */
    int driver_version[3]; /* major, minor, patch; -1 unknown (sysfs) */
    char *driver_desc;   /* drmGetVersion's description, or NULL */
    /* Why the driver version could not be read ("cannot open
     * /dev/dri/renderD128: Permission denied"), or NULL. */
    char *note;
} info_drm_node;

typedef struct info_drm {
    info_drm_state state;
    char reason[256];    /* for NOT_BUILT, NO_DRI, ERROR: in words */
    info_drm_node *nodes;
    size_t count;
} info_drm;

/* Fills |out|; never fails: an error is a state with a reason. */
void info_drm_scan(info_drm *out);
void info_drm_free(info_drm *drm);
/* "not_built", "no_dri", "ok", "error". */
const char *info_drm_state_name(info_drm_state state);

#endif

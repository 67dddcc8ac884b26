/*
 * info_drm.c - DRM devices through libdrm (when built with it).
 */
#include "tools/info_drm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef AIDEV_HAVE_DRM
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <xf86drm.h>
#endif

const char *info_drm_state_name(info_drm_state state)
{
    switch (state) {
    case INFO_DRM_NOT_BUILT:
        return "not_built";
    case INFO_DRM_NO_DRI:
        return "no_dri";
    case INFO_DRM_OK:
        return "ok";
    case INFO_DRM_ERROR:
        return "error";
    }
    return "error";
}

void info_drm_free(info_drm *drm)
{
    for (size_t i = 0; i < drm->count; i++) {
        info_drm_node *n = &drm->nodes[i];
        free(n->render_node);
        free(n->primary_node);
        free(n->bus_name);
        free(n->driver);
        free(n->driver_desc);
        free(n->note);
    }
    free(drm->nodes);
    drm->nodes = NULL;
    drm->count = 0;
}

#ifndef AIDEV_HAVE_DRM

void info_drm_scan(info_drm *out)
{
    memset(out, 0, sizeof *out);
    out->state = INFO_DRM_NOT_BUILT;
    snprintf(out->reason, sizeof out->reason,
             "not built in: aidev-info was built without libdrm (meson option -Ddrm)");
}

#else

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* The driver's name from sysfs, which needs no access to the node itself:
 * /sys/class/drm/renderD128/device/driver -> .../drivers/amdgpu. */
static char *driver_from_sysfs(const char *node)
{
    const char *base = strrchr(node, '/');
    base = base ? base + 1 : node;
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof link, "/sys/class/drm/%s/device/driver", base);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return NULL;
    target[n] = '\0';
    const char *name = strrchr(target, '/');
    return strdup(name ? name + 1 : target);
}

static void read_driver(info_drm_node *n)
{
    n->driver_version[0] = n->driver_version[1] = n->driver_version[2] = -1;
    const char *node = n->render_node ? n->render_node : n->primary_node;
    if (!node)
        return;
    int fd = open(node, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        char note[512];
        snprintf(note, sizeof note, "cannot open %s: %s%s", node, strerror(err),
                 err == EACCES ? " (is this user in the group that owns it, often 'render'?)"
                               : "");
        n->note = strdup(note);
        n->driver = driver_from_sysfs(node);
        return;
    }
    drmVersionPtr v = drmGetVersion(fd);
    if (v) {
        n->driver = v->name && v->name_len > 0 ? strndup(v->name, (size_t)v->name_len) : NULL;
        n->driver_desc =
            v->desc && v->desc_len > 0 ? strndup(v->desc, (size_t)v->desc_len) : NULL;
        n->driver_version[0] = v->version_major;
        n->driver_version[1] = v->version_minor;
        n->driver_version[2] = v->version_patchlevel;
        drmFreeVersion(v);
    } else {
        char note[512];
        snprintf(note, sizeof note, "drmGetVersion on %s failed: %s", node, strerror(errno));
        n->note = strdup(note);
        n->driver = driver_from_sysfs(node);
    }
    close(fd);
}

static void fill_bus(info_drm_node *n, const drmDevice *d)
{
    switch (d->bustype) {
    case DRM_BUS_PCI:
        n->bus = "pci";
        if (d->businfo.pci) {
            n->pci.valid = true;
            n->pci.domain = d->businfo.pci->domain;
            n->pci.bus = d->businfo.pci->bus;
            n->pci.dev = d->businfo.pci->dev;
            n->pci.func = d->businfo.pci->func;
        }
        if (d->deviceinfo.pci) {
            n->vendor_id = d->deviceinfo.pci->vendor_id;
            n->device_id = d->deviceinfo.pci->device_id;
            n->subvendor_id = d->deviceinfo.pci->subvendor_id;
            n->subdevice_id = d->deviceinfo.pci->subdevice_id;
        }
        break;
    case DRM_BUS_USB:
        n->bus = "usb";
        if (d->deviceinfo.usb) {
            n->vendor_id = d->deviceinfo.usb->vendor;
            n->device_id = d->deviceinfo.usb->product;
        }
        break;
    case DRM_BUS_PLATFORM:
        n->bus = "platform";
        if (d->businfo.platform)
            n->bus_name = dup_or_null(d->businfo.platform->fullname);
        break;
    case DRM_BUS_HOST1X:
        n->bus = "host1x";
        if (d->businfo.host1x)
            n->bus_name = dup_or_null(d->businfo.host1x->fullname);
        break;
    default:
        n->bus = "unknown";
        break;
    }
}

void info_drm_scan(info_drm *out)
{
    memset(out, 0, sizeof *out);
    /* Flags 0: no PCI revision, which would wake a GPU that sleeps. */
    int count = drmGetDevices2(0, NULL, 0);
    if (count == -ENOENT) {
        out->state = INFO_DRM_NO_DRI;
        snprintf(out->reason, sizeof out->reason,
                 "no /dev/dri on this machine: no kernel GPU driver exposes a DRM device here");
        return;
    }
    if (count < 0) {
        out->state = INFO_DRM_ERROR;
        snprintf(out->reason, sizeof out->reason, "drmGetDevices2 failed: %s", strerror(-count));
        return;
    }
    out->state = INFO_DRM_OK;
    if (count == 0)
        return;
    drmDevicePtr *devs = calloc((size_t)count, sizeof *devs);
    out->nodes = calloc((size_t)count, sizeof *out->nodes);
    if (!devs || !out->nodes) {
        free(devs);
        out->state = INFO_DRM_ERROR;
        snprintf(out->reason, sizeof out->reason, "out of host memory");
        info_drm_free(out);
        return;
    }
    /* The list may shrink between the two calls (a device unbound). */
    count = drmGetDevices2(0, devs, count);
    if (count < 0) {
        free(devs);
        out->state = INFO_DRM_ERROR;
        snprintf(out->reason, sizeof out->reason, "drmGetDevices2 failed: %s", strerror(-count));
        info_drm_free(out);
        return;
    }
    for (int i = 0; i < count; i++) {
        info_drm_node *n = &out->nodes[out->count++];
        const drmDevice *d = devs[i];
        if (d->available_nodes & (1 << DRM_NODE_RENDER))
            n->render_node = dup_or_null(d->nodes[DRM_NODE_RENDER]);
        if (d->available_nodes & (1 << DRM_NODE_PRIMARY))
            n->primary_node = dup_or_null(d->nodes[DRM_NODE_PRIMARY]);
        fill_bus(n, d);
        read_driver(n);
    }
    drmFreeDevices(devs, count);
    free(devs);
}

#endif

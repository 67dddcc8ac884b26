/*
 * pipeline_cache.c - the VkPipelineCache kept on disk between runs.
 *
 * File: <aidev_backend_cache_dir()>/vulkan-<vendor>-<device>-<cache UUID>.bin,
 * so a driver update (new pipelineCacheUUID) starts a new file. Content:
 *
 *   aidev header  "AIDEVVKC", format version, byte count and FNV-1a 64
 *                 checksum of what follows (catches truncated or damaged
 *                 files, which drivers are not all robust against)
 *   driver data   vkGetPipelineCacheData's bytes, which begin with the
 *                 Vulkan header (header size, version ONE, vendor id, device
 *                 id, pipelineCacheUUID), checked against this device too
 *
 * The folder and the file must be this user's alone (owned by the
 * process's user, writable by no one else), or what another user planted
 * would be handed to the driver: a folder that is not bypasses the cache
 * (nothing read or written), a file that is not is ignored and replaced
 * (AIDEV_DEBUG=cache says why). A file that fails any other check is
 * ignored (AIDEV_DEBUG=vulkan says why) and replaced at close. Saving writes a temporary file and renames it over the
 * old one, so concurrent processes never read a half-written file; it is
 * skipped when the driver's data did not change since it was loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/vulkan/vk_internal.h"

#define MAGIC "AIDEVVKC"
#define FORMAT_VERSION 1u
#define MAX_FILE_SIZE (256u << 20)

typedef struct file_header {
    char magic[8];
    uint32_t format_version;
    uint32_t reserved;
    uint64_t data_size;
    uint64_t checksum;
} file_header;

static uint64_t fnv1a64(const void *data, size_t size)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint32_t read_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

bool vkb_pipeline_cache_check(const void *file, size_t file_size,
                              const VkPhysicalDeviceProperties *props, size_t *data_offset,
                              size_t *data_size, char *why, size_t why_size)
{
    file_header h;
    if (file_size < sizeof h) {
        snprintf(why, why_size, "%zu bytes, shorter than its header", file_size);
        return false;
    }
    memcpy(&h, file, sizeof h);
    if (memcmp(h.magic, MAGIC, 8) != 0) {
        snprintf(why, why_size, "not an aidev pipeline cache (bad magic)");
        return false;
    }
    if (h.format_version != FORMAT_VERSION) {
        snprintf(why, why_size, "format version %u, expected %u", h.format_version,
                 FORMAT_VERSION);
        return false;
    }
    if (h.data_size != file_size - sizeof h) {
        snprintf(why, why_size, "header says %llu bytes of data, the file has %zu",
                 (unsigned long long)h.data_size, file_size - sizeof h);
        return false;
    }
    const uint8_t *data = (const uint8_t *)file + sizeof h;
    if (fnv1a64(data, (size_t)h.data_size) != h.checksum) {
        snprintf(why, why_size, "checksum mismatch (damaged file)");
        return false;
    }
    /* The driver's header: VkPipelineCacheHeaderVersionOne. */
    if (h.data_size < 16 + VK_UUID_SIZE) {
        snprintf(why, why_size, "driver data of %llu bytes is shorter than its header",
                 (unsigned long long)h.data_size);
        return false;
    }
    uint32_t header_size = read_u32(data), version = read_u32(data + 4);
    uint32_t vendor = read_u32(data + 8), device = read_u32(data + 12);
    if (header_size < 16 + VK_UUID_SIZE || header_size > h.data_size) {
        snprintf(why, why_size, "driver header size %u is invalid", header_size);
        return false;
    }
    if (version != VK_PIPELINE_CACHE_HEADER_VERSION_ONE) {
        snprintf(why, why_size, "driver header version %u, expected %u", version,
                 (unsigned)VK_PIPELINE_CACHE_HEADER_VERSION_ONE);
        return false;
    }
    if (vendor != props->vendorID || device != props->deviceID) {
        snprintf(why, why_size, "made for vendor 0x%04x device 0x%04x, this is 0x%04x 0x%04x",
                 vendor, device, props->vendorID, props->deviceID);
        return false;
    }
    if (memcmp(data + 16, props->pipelineCacheUUID, VK_UUID_SIZE) != 0) {
        snprintf(why, why_size, "made by another driver build (pipelineCacheUUID differs)");
        return false;
    }
    *data_offset = sizeof h;
    *data_size = (size_t)h.data_size;
    return true;
}

bool vkb_pipeline_cache_path(const VkPhysicalDeviceProperties *props, char *out, size_t out_size)
{
    char dir[4096];
    if (!aidev_backend_cache_dir(dir, sizeof dir))
        return false;
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++)
        snprintf(uuid + 2 * i, 3, "%02x", props->pipelineCacheUUID[i]);
    int n = snprintf(out, out_size, "%s/vulkan-%04x-%04x-%s.bin", dir, props->vendorID,
                     props->deviceID, uuid);
    return n > 0 && (size_t)n < out_size;
}

/* The whole file, or NULL (also when it is not this user's alone). */
static void *read_file(const char *path, size_t *size)
{
    int fd = aidev_backend_cache_open(path);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *data = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && st.st_size <= (off_t)MAX_FILE_SIZE) {
        data = malloc((size_t)st.st_size);
        if (data && fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
        *size = (size_t)st.st_size;
    }
    fclose(f);
    return data;
}

void vkb_pipeline_cache_open(vkb_device *dev)
{
    const VkPhysicalDeviceProperties *props = &dev->phys->props;
    char path[4300];
    void *file = NULL;
    size_t file_size = 0, offset = 0, size = 0;
    if (vkb_pipeline_cache_path(props, path, sizeof path)) {
        file = read_file(path, &file_size);
        char why[256];
        if (file && !vkb_pipeline_cache_check(file, file_size, props, &offset, &size, why,
                                              sizeof why)) {
            aidev_backend_debug("vulkan", "pipeline cache %s ignored: %s", path, why);
            free(file);
            file = NULL;
        } else if (file) {
            aidev_backend_debug("vulkan", "pipeline cache %s: %zu bytes loaded", path, size);
        }
    }
    VkPipelineCacheCreateInfo info = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                      .initialDataSize = file ? size : 0,
                                      .pInitialData = file ? (uint8_t *)file + offset : NULL};
    VkResult r = dev->f.vkCreatePipelineCache(dev->handle, &info, NULL, &dev->pipeline_cache);
    if (r != VK_SUCCESS && file) {
        /* The driver refused the data: start empty. */
        info.initialDataSize = 0;
        info.pInitialData = NULL;
        r = dev->f.vkCreatePipelineCache(dev->handle, &info, NULL, &dev->pipeline_cache);
        free(file);
        file = NULL;
    }
    if (r != VK_SUCCESS) {
        dev->pipeline_cache = VK_NULL_HANDLE; /* pipelines are made without a cache */
        free(file);
        return;
    }
    if (file) {
        memmove(file, (uint8_t *)file + offset, size);
        dev->pipeline_cache_loaded = file;
        dev->pipeline_cache_loaded_size = size;
    }
}

static bool write_all(int fd, const void *data, size_t size)
{
    const uint8_t *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

static void save(vkb_device *dev, const void *data, size_t size)
{
    const VkPhysicalDeviceProperties *props = &dev->phys->props;
    char path[4300], tmp[4400];
    if (!vkb_pipeline_cache_path(props, path, sizeof path))
        return;
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        aidev_backend_debug("vulkan", "pipeline cache: cannot write %s: %s", tmp,
                            strerror(errno));
        return;
    }
    file_header h;
    memcpy(h.magic, MAGIC, 8);
    h.format_version = FORMAT_VERSION;
    h.reserved = 0;
    h.data_size = size;
    h.checksum = fnv1a64(data, size);
    bool ok = write_all(fd, &h, sizeof h) && write_all(fd, data, size);
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) == 0) {
        aidev_backend_debug("vulkan", "pipeline cache %s: %zu bytes saved", path, size);
        return;
    }
    aidev_backend_debug("vulkan", "pipeline cache: saving %s failed: %s", path, strerror(errno));
    unlink(tmp);
}

void vkb_pipeline_cache_close(vkb_device *dev)
{
    if (!dev->pipeline_cache)
        return;
    size_t size = 0;
    void *data = NULL;
    VkResult r = dev->f.vkGetPipelineCacheData(dev->handle, dev->pipeline_cache, &size, NULL);
    if (r == VK_SUCCESS && size && size <= MAX_FILE_SIZE && (data = malloc(size)))
        r = dev->f.vkGetPipelineCacheData(dev->handle, dev->pipeline_cache, &size, data);
    if (data && r == VK_SUCCESS &&
        !(size == dev->pipeline_cache_loaded_size && dev->pipeline_cache_loaded &&
          memcmp(data, dev->pipeline_cache_loaded, size) == 0))
        save(dev, data, size);
    free(data);
    free(dev->pipeline_cache_loaded);
    dev->pipeline_cache_loaded = NULL;
    dev->f.vkDestroyPipelineCache(dev->handle, dev->pipeline_cache, NULL);
    dev->pipeline_cache = VK_NULL_HANDLE;
}

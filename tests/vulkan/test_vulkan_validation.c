/*
 * The validation switch fails the run: with AIDEV_VULKAN_VALIDATION set, a
 * call the validation layer reports (here a buffer of size 0, made on
 * purpose through the backend's own device) makes the backend abort at
 * device close, after printing the message. The test catches that SIGABRT
 * and passes; returning from device_close, or any other crash, fails it.
 *
 * Exits 77 (skipped) when the backend has no device on this machine.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backends/vulkan/vk_internal.h"

aidev_status aidev_backend_entry(aidev_backend_negotiation *nego);

static volatile sig_atomic_t closing;

static void on_abort(int sig)
{
    (void)sig;
    static const char ok[] = "validation-abort: the backend aborted at close, as it should\n";
    static const char early[] = "validation-abort: aborted before device close\n";
    if (closing) {
        if (write(2, ok, sizeof ok - 1) < 0)
            _exit(0);
        _exit(0);
    }
    if (write(2, early, sizeof early - 1) < 0)
        _exit(1);
    _exit(1);
}

int main(void)
{
    setenv("AIDEV_VULKAN_VALIDATION", "1", 1);
    aidev_backend_negotiation nego = {.struct_size = sizeof nego,
                                      .abi_version = AIDEV_BACKEND_ABI_VERSION};
    if (aidev_backend_entry(&nego) != AIDEV_SUCCESS)
        return 1;
    const aidev_backend_vtable *vt = nego.vtable;
    void *backend, *device;
    aidev_status st = vt->init(&backend);
    if (st != AIDEV_SUCCESS) {
        fprintf(stderr, "vulkan backend: %s\n", aidev_last_error());
        return st == AIDEV_ERROR_UNSUPPORTED ? 77 : 1;
    }
    if (vt->device_open(backend, 0, &device) != AIDEV_SUCCESS) {
        fprintf(stderr, "device_open: %s\n", aidev_last_error());
        return 1;
    }
    vkb_device *dev = device;
    VkBufferCreateInfo bad = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = 0, /* VUID-VkBufferCreateInfo-size-00912 */
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer buffer = VK_NULL_HANDLE;
    if (dev->f.vkCreateBuffer(dev->handle, &bad, NULL, &buffer) == VK_SUCCESS && buffer)
        dev->f.vkDestroyBuffer(dev->handle, buffer, NULL);
    if (atomic_load(&dev->backend->validation_messages) == 0) {
        fprintf(stderr, "validation-abort: the layer reported nothing\n");
        return 1;
    }
    signal(SIGABRT, on_abort);
    closing = 1;
    vt->device_close(device);
    fprintf(stderr, "validation-abort: device_close returned: the run would pass\n");
    return 1;
}

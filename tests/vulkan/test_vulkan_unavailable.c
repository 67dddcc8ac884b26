/*
 * Without a Vulkan driver (VK_DRIVER_FILES / VK_ICD_FILENAMES pointing at
 * nothing) or without a loader (AIDEV_VULKAN_LOADER naming a missing
 * file), the Vulkan backend is skipped - not failed - with a reason that
 * says which, and the program goes on with the other backends.
 *
 *   test-vulkan-unavailable REASON_SUBSTRING
 */
#include <stdio.h>
#include <string.h>

#include <aidev/aidev.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s REASON_SUBSTRING\n", argv[0]);
        return 2;
    }
    aidev_context ctx;
    if (aidev_context_create(NULL, &ctx) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev_context_create: %s\n", aidev_last_error());
        return 1;
    }
    int status = 1;
    aidev_backend_report reports[32];
    uint32_t n = 32;
    aidev_context_get_backends(ctx, &n, reports);
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(reports[i].name, "vulkan") != 0)
            continue;
        printf("vulkan: %s: %s\n", aidev_backend_state_string(reports[i].state),
               reports[i].reason);
        if (reports[i].state != AIDEV_BACKEND_SKIPPED)
            fprintf(stderr, "FAIL: expected the vulkan backend to be skipped\n");
        else if (!strstr(reports[i].reason, argv[1]))
            fprintf(stderr, "FAIL: the reason does not say '%s'\n", argv[1]);
        else if (reports[i].device_count != 0)
            fprintf(stderr, "FAIL: a skipped backend gave devices\n");
        else
            status = 0;
    }
    /* The other backends still give their devices (the CPU at least). */
    uint32_t devices = 0;
    aidev_context_get_devices(ctx, &devices, NULL);
    if (devices == 0) {
        fprintf(stderr, "FAIL: no device left\n");
        status = 1;
    }
    for (uint32_t d = 0; d < devices; d++) {
        aidev_device dev;
        char backend[32];
        aidev_context_get_device(ctx, d, &dev);
        aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
        if (strcmp(backend, "vulkan") == 0) {
            fprintf(stderr, "FAIL: device %u is a vulkan device\n", d);
            status = 1;
        }
    }
    if (status && n)
        fprintf(stderr, "(%u backends reported)\n", n);
    aidev_context_release(ctx);
    return status;
}

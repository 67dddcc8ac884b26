/*
 * fake_backend.c - a test plugin that describes devices but runs nothing.
 *
 * It lets the aidev-info tests see what this machine cannot show them: one
 * GPU reached through two backends (same PCI bus id, same UUID, spelled
 * differently), a device name longer than a line and laced with escape
 * sequences and invalid UTF-8, a feature bit aidev-info has no name for.
 * Built twice from this one source (the Vulkan loader's fake-driver way):
 *
 *   FAKE_VARIANT 1, "fakea": the GPU, as backend A sees it
 *   FAKE_VARIANT 2, "fakeb": the same GPU as backend B sees it, with the
 *                            hostile name, and an accelerator known by UUID
 *
 * Opening a device fails with a reason, so --self-test must report it
 * failed; every other entry is unreachable without an open device and says
 * so if ever called.
 */
#include <stdio.h>
#include <string.h>

#include <aidev/aidev_backend.h>

#ifndef FAKE_NAME
#error "FAKE_NAME must name the backend"
#endif

AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego);

/* The GPU's UUID: the same from both backends, as OpenCL's CL_DEVICE_UUID_KHR
 * and Vulkan's deviceUUID are for one device. */
static const uint8_t gpu_uuid[16] = {0xfa, 0x4e, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89,
                                     0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44};
static const uint8_t npu_uuid[16] = {0xfa, 0x4e, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};

static int backend_state; /* its address is the backend handle */

static aidev_status fake_init(void **out_backend)
{
    *out_backend = &backend_state;
    return AIDEV_SUCCESS;
}

static void fake_shutdown(void *backend)
{
    (void)backend;
}

static uint32_t fake_device_count(void *backend)
{
    (void)backend;
    return FAKE_VARIANT == 1 ? 1 : 2;
}

static void describe_gpu(aidev_backend_device_info *out)
{
    snprintf(out->vendor, sizeof out->vendor, "aidev tests");
    snprintf(out->driver_version, sizeof out->driver_version, "fake 1.0");
    snprintf(out->api_version, sizeof out->api_version, "Fake API 1.0");
    memcpy(out->uuid, gpu_uuid, 16);
    out->has_uuid = true;
    out->type = AIDEV_DEVICE_TYPE_GPU;
    out->compute_units = 64;
    out->memory_bytes = 8ull << 30;
    out->max_alloc_bytes = 2ull << 30;
    out->local_memory_bytes = 64 << 10;
    out->max_workgroup_size = 1024;
    out->max_workgroup_dims[0] = out->max_workgroup_dims[1] = 1024;
    out->max_workgroup_dims[2] = 64;
    out->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE) |
                        AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST);
    out->timestamp_period_ns = 1.0;
}

static aidev_status fake_device_info(void *backend, uint32_t index,
                                     aidev_backend_device_info *out)
{
    (void)backend;
    if (FAKE_VARIANT == 1) {
        describe_gpu(out);
        snprintf(out->name, sizeof out->name, "Fake GPU 9000 (path A)");
        snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "0000:a5:00.0");
        out->free_memory_bytes = 6ull << 30;
        out->has_free_memory = true;
        out->features = AIDEV_FEATURE_FP16 | AIDEV_FEATURE_FP64 | AIDEV_FEATURE_INT8_DOT |
                        AIDEV_FEATURE_SUBGROUPS | AIDEV_FEATURE_SVM_COARSE |
                        AIDEV_FEATURE_TIMELINE_SEMAPHORES;
        return AIDEV_SUCCESS;
    }
    if (index == 0) {
        describe_gpu(out);
        /* Longer than any line, with an escape sequence that would clear
         * the screen, a wide character, an accent and an invalid byte. */
        snprintf(out->name, sizeof out->name,
                 "Fake GPU 9000 (path B) \033[2J\033[31mred\033[0m caf\xc3\xa9 "
                 "\xe5\xad\x97 bad\xff byte %s",
                 "and a name that goes on and on well past one hundred columns of "
                 "terminal, so that every table must cut it rather than let it run");
        /* Another spelling of the same address: no domain, upper case. */
        snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "A5:00.0");
        out->features = AIDEV_FEATURE_FP16 | AIDEV_FEATURE_SUBGROUPS;
        return AIDEV_SUCCESS;
    }
    snprintf(out->name, sizeof out->name, "Fake NPU");
    snprintf(out->vendor, sizeof out->vendor, "aidev tests");
    memcpy(out->uuid, npu_uuid, 16);
    out->has_uuid = true;
    out->type = AIDEV_DEVICE_TYPE_ACCELERATOR;
    out->compute_units = 4;
    out->memory_bytes = 1ull << 30;
    out->max_alloc_bytes = 1ull << 30;
    out->max_workgroup_size = 256;
    out->max_workgroup_dims[0] = out->max_workgroup_dims[1] = out->max_workgroup_dims[2] = 256;
    out->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED);
    out->features = AIDEV_FEATURE_INT8_DOT | (1ull << 40); /* a bit with no name yet */
    out->numa_node = 1;
    return AIDEV_SUCCESS;
}

static aidev_status unreachable(const char *what)
{
    return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                   "fake backend '%s': %s without an open device", FAKE_NAME,
                                   what);
}

static aidev_status fake_device_open(void *backend, uint32_t index, void **out_device)
{
    (void)backend, (void)out_device;
    return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                   "fake backend '%s': device %u is a description only, "
                                   "nothing runs on it",
                                   FAKE_NAME, index);
}

static void fake_device_close(void *device)
{
    (void)device;
}

static aidev_status fake_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                                       void **out_buffer, void **out_host_ptr)
{
    (void)device, (void)desc, (void)out_buffer, (void)out_host_ptr;
    return unreachable("buffer_create");
}

static void fake_buffer_destroy(void *device, void *buffer)
{
    (void)device, (void)buffer;
}

static aidev_status fake_queue_create(void *device, aidev_queue_priority priority,
                                      void **out_queue)
{
    (void)device, (void)priority, (void)out_queue;
    return unreachable("queue_create");
}

static void fake_queue_destroy(void *queue)
{
    (void)queue;
}

static aidev_status fake_queue_submit(void *queue, const aidev_backend_command *cmd,
                                      uint32_t wait_count, aidev_backend_event *const *waits,
                                      aidev_backend_event *signal)
{
    (void)queue, (void)cmd, (void)wait_count, (void)waits, (void)signal;
    return unreachable("queue_submit");
}

static aidev_status fake_queue_finish(void *queue)
{
    (void)queue;
    return AIDEV_SUCCESS;
}

static aidev_status fake_kernel_create(void *device, const aidev_backend_kernel_source *src,
                                       void **out_kernel)
{
    (void)device, (void)src, (void)out_kernel;
    return unreachable("kernel_create");
}

static void fake_kernel_destroy(void *device, void *kernel)
{
    (void)device, (void)kernel;
}

static const aidev_backend_vtable fake_vtable = {
    .struct_size = sizeof(aidev_backend_vtable),
    .abi_version = AIDEV_BACKEND_ABI_VERSION,
    .name = FAKE_NAME,
    .init = fake_init,
    .shutdown = fake_shutdown,
    .device_count = fake_device_count,
    .device_info = fake_device_info,
    .device_open = fake_device_open,
    .device_close = fake_device_close,
    .buffer_create = fake_buffer_create,
    .buffer_destroy = fake_buffer_destroy,
    .queue_create = fake_queue_create,
    .queue_destroy = fake_queue_destroy,
    .queue_submit = fake_queue_submit,
    .queue_finish = fake_queue_finish,
    .kernel_create = fake_kernel_create,
    .kernel_destroy = fake_kernel_destroy,
};

aidev_status aidev_backend_entry(aidev_backend_negotiation *nego)
{
    if (AIDEV_BACKEND_ABI_MAJOR(nego->abi_version) != AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION))
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED, "fake backend speaks ABI %u.x",
                                       AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION));
    nego->abi_version = AIDEV_BACKEND_ABI_VERSION;
    nego->vtable = &fake_vtable;
    return AIDEV_SUCCESS;
}

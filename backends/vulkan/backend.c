/*
 * backend.c - the Vulkan backend's entry: the loader, the instance (with the
 * validation switch) and the vtable. The physical devices are physical.c's.
 *
 * The plugin dlopens libvulkan.so.1 rather than linking it, so that on a
 * machine without a Vulkan loader it still loads and reports why it has no
 * device. One aidev device per physical device that has a compute queue
 * family and timeline semaphores.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

vkb_options vkb_opts;

static bool env_switch(const char *name)
{
    bool on;
    aidev_backend_env_flag(name, false, &on);
    return on;
}

/* Through libaidev's parser: a bad value is reported, never guessed at. */
static void read_options(void)
{
    aidev_backend_env_u32("AIDEV_VULKAN_BATCH", 1, 4096, "the most commands one submission takes",
                          256, &vkb_opts.batch_limit);
    vkb_opts.emulate_discrete = env_switch("AIDEV_VULKAN_EMULATE_DISCRETE");
    vkb_opts.no_push_descriptors = env_switch("AIDEV_VULKAN_NO_PUSH_DESCRIPTORS");
    vkb_opts.no_calibrated = env_switch("AIDEV_VULKAN_NO_CALIBRATED_TIMESTAMPS");
    vkb_opts.emulate_transfer = env_switch("AIDEV_VULKAN_EMULATE_TRANSFER");
    static const char *const priorities[] = {"low", "medium", "high", "realtime"};
    static const int levels[] = {VK_QUEUE_GLOBAL_PRIORITY_LOW_KHR,
                                 VK_QUEUE_GLOBAL_PRIORITY_MEDIUM_KHR,
                                 VK_QUEUE_GLOBAL_PRIORITY_HIGH_KHR,
                                 VK_QUEUE_GLOBAL_PRIORITY_REALTIME_KHR};
    int level;
    aidev_backend_env_choice("AIDEV_VULKAN_GLOBAL_PRIORITY", priorities, levels, 4, 0, "unset",
                             &level);
    vkb_opts.global_priority = (uint32_t)level;
}

/* ------------------------------------------------------------------------ */
/* Validation messages                                                      */
/* ------------------------------------------------------------------------ */

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user_data)
{
    vkb_backend *b = user_data;
    const char *sev = severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error"
                      : severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT
                          ? "warning"
                          : "info";
    const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
    /* The loader's own notes (general type) are not validation findings. */
    if (!(types & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT))) {
        aidev_backend_debug("vulkan", "loader %s: %s", sev, msg);
        return VK_FALSE;
    }
    atomic_fetch_add(&b->validation_messages, 1);
    fprintf(stderr, "aidev: vulkan validation %s: %s\n", sev, msg);
    return VK_FALSE;
}

void vkb_validation_check(vkb_backend *b, const char *when)
{
    unsigned n = atomic_load(&b->validation_messages);
    if (!b->validation || n == 0)
        return;
    /* The switch exists to make tests fail on any finding; a process that
     * goes on would let a test pass with messages printed in its log. */
    fprintf(stderr,
            "aidev: vulkan: %u validation message%s seen by %s (AIDEV_VULKAN_VALIDATION is "
            "set): aborting so that the run fails\n",
            n, n == 1 ? "" : "s", when);
    fflush(stderr);
    abort();
}

/* ------------------------------------------------------------------------ */
/* Loader and instance                                                      */
/* ------------------------------------------------------------------------ */

const char *vkb_fns_load(void *table, const vkb_fn_entry *entries, size_t count,
                         vkb_fn_lookup lookup, void *ctx)
{
    for (size_t i = 0; i < count; i++) {
        PFN_vkVoidFunction fn = lookup(ctx, entries[i].name);
        if (!fn && !entries[i].optional)
            return entries[i].name;
        /* Each member has its own PFN type; a copy of the bytes stores it
         * whatever that type is. */
        memcpy((char *)table + entries[i].offset, &fn, sizeof fn);
    }
    return NULL;
}

static PFN_vkVoidFunction lookup_global(void *ctx, const char *name)
{
    const vkb_backend *b = ctx;
    return b->get_instance_proc_addr(VK_NULL_HANDLE, name);
}

static PFN_vkVoidFunction lookup_instance(void *ctx, const char *name)
{
    const vkb_backend *b = ctx;
    return b->get_instance_proc_addr(b->instance, name);
}

static aidev_status load_loader(vkb_backend *b)
{
    /* A path from the environment is a library to run: not in setuid
     * programs. */
    const char *path = secure_getenv("AIDEV_VULKAN_LOADER");
    if (!path || !*path)
        path = "libvulkan.so.1";
    dlerror();
    b->loader = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!b->loader) {
        const char *err = dlerror();
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "no Vulkan loader: dlopen(%s) failed: %s (install "
                                       "libvulkan1)",
                                       path, err ? err : "unknown error");
    }
    void *sym = dlsym(b->loader, "vkGetInstanceProcAddr");
    if (!sym)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "%s has no vkGetInstanceProcAddr: not a Vulkan loader",
                                       path);
    memcpy(&b->get_instance_proc_addr, &sym, sizeof sym);
    static const vkb_fn_entry global_entries[] = {VKB_GLOBAL_FUNCS(VKB_GLOBAL_ENTRY)};
    const char *missing = vkb_fns_load(&b->g, global_entries,
                                       sizeof global_entries / sizeof global_entries[0],
                                       lookup_global, b);
    if (missing)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED, "the Vulkan loader %s lacks %s",
                                       path, missing);
    PFN_vkEnumerateInstanceVersion version_fn =
        (PFN_vkEnumerateInstanceVersion)b->get_instance_proc_addr(VK_NULL_HANDLE,
                                                                  "vkEnumerateInstanceVersion");
    b->instance_version = VK_API_VERSION_1_0;
    if (version_fn)
        version_fn(&b->instance_version);
    if (b->instance_version < VK_API_VERSION_1_1)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "the Vulkan loader speaks %u.%u; aidev needs 1.1",
                                       VK_API_VERSION_MAJOR(b->instance_version),
                                       VK_API_VERSION_MINOR(b->instance_version));
    return AIDEV_SUCCESS;
}

static bool has_instance_extension(const VkExtensionProperties *exts, uint32_t n,
                                   const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(exts[i].extensionName, name) == 0)
            return true;
    return false;
}

static bool has_layer(vkb_backend *b, const char *name)
{
    uint32_t n = 0;
    if (b->g.vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *layers = calloc(n, sizeof *layers);
    if (!layers)
        return false;
    bool found = false;
    if (b->g.vkEnumerateInstanceLayerProperties(&n, layers) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(layers[i].layerName, name) == 0;
    free(layers);
    return found;
}

static aidev_status create_instance(vkb_backend *b)
{
    /* A switch, or "sync" for synchronisation validation as well. */
    enum { VALIDATION_OFF, VALIDATION_ON, VALIDATION_SYNC };
    static const char *const names[] = {"0", "off", "no", "false", "1",
                                        "on", "yes", "true", "sync"};
    static const int values[] = {VALIDATION_OFF, VALIDATION_OFF, VALIDATION_OFF, VALIDATION_OFF,
                                 VALIDATION_ON,  VALIDATION_ON,  VALIDATION_ON,  VALIDATION_ON,
                                 VALIDATION_SYNC};
    int validation;
    aidev_backend_env_choice("AIDEV_VULKAN_VALIDATION", names, values, 9, VALIDATION_OFF, "off",
                             &validation);
    b->validation = validation != VALIDATION_OFF;
    bool sync_validation = validation == VALIDATION_SYNC;

    uint32_t ext_count = 0;
    VkExtensionProperties *exts = NULL;
    if (b->g.vkEnumerateInstanceExtensionProperties(NULL, &ext_count, NULL) == VK_SUCCESS &&
        ext_count) {
        exts = calloc(ext_count, sizeof *exts);
        if (!exts)
            return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (b->g.vkEnumerateInstanceExtensionProperties(NULL, &ext_count, exts) != VK_SUCCESS)
            ext_count = 0;
    }
    const char *enabled[4];
    uint32_t enabled_count = 0;
    VkInstanceCreateFlags flags = 0;
    /* Drivers that are not fully conformant (MoltenVK) list themselves only
     * to instances that ask for them. */
    if (has_instance_extension(exts, ext_count, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        enabled[enabled_count++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    const char *layers[1];
    uint32_t layer_count = 0;
    if (b->validation) {
        if (!has_layer(b, "VK_LAYER_KHRONOS_validation")) {
            free(exts);
            return aidev_backend_set_error(AIDEV_ERROR_BACKEND,
                                           "AIDEV_VULKAN_VALIDATION is set but the layer "
                                           "VK_LAYER_KHRONOS_validation is not installed "
                                           "(vulkan-validationlayers)");
        }
        layers[layer_count++] = "VK_LAYER_KHRONOS_validation";
        enabled[enabled_count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        if (sync_validation)
            enabled[enabled_count++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
    }
    free(exts);

    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "aidev",
        .pEngineName = "aidev",
        .engineVersion = VK_MAKE_API_VERSION(0, AIDEV_VERSION_MAJOR, AIDEV_VERSION_MINOR,
                                             AIDEV_VERSION_PATCH),
        .apiVersion = b->instance_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3
                                                                 : b->instance_version,
    };
    VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_debug_message,
        .pUserData = b,
    };
    VkValidationFeatureEnableEXT sync_feature =
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &messenger_info,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = &sync_feature,
    };
    VkInstanceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        /* Chained, the messenger also sees instance creation and teardown. */
        .pNext = !b->validation ? NULL
                 : sync_validation ? (const void *)&features
                                   : (const void *)&messenger_info,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = layer_count,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = enabled_count,
        .ppEnabledExtensionNames = enabled,
    };
    VkResult r = b->g.vkCreateInstance(&info, NULL, &b->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "no Vulkan driver (ICD) found: vkCreateInstance failed: "
                                       "%s (%d); check VK_DRIVER_FILES / VK_ICD_FILENAMES or "
                                       "install a driver (mesa-vulkan-drivers)",
                                       vkb_result_name(r), (int)r);
    if (r != VK_SUCCESS) {
        b->instance = VK_NULL_HANDLE;
        return vkb_error("vkCreateInstance", r);
    }

    static const vkb_fn_entry instance_entries[] = {
        VKB_INSTANCE_FUNCS(VKB_INSTANCE_ENTRY) VKB_INSTANCE_OPTIONAL_FUNCS(
            VKB_INSTANCE_OPTIONAL_ENTRY)};
    const char *missing = vkb_fns_load(&b->i, instance_entries,
                                       sizeof instance_entries / sizeof instance_entries[0],
                                       lookup_instance, b);
    if (missing)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "the Vulkan instance lacks %s (Vulkan 1.1)", missing);

    if (b->validation) {
        if (!b->i.vkCreateDebugUtilsMessengerEXT)
            return aidev_backend_set_error(AIDEV_ERROR_BACKEND,
                                           "AIDEV_VULKAN_VALIDATION is set but "
                                           "VK_EXT_debug_utils is missing");
        r = b->i.vkCreateDebugUtilsMessengerEXT(b->instance, &messenger_info, NULL,
                                                &b->messenger);
        if (r != VK_SUCCESS)
            return vkb_error("vkCreateDebugUtilsMessengerEXT", r);
    }
    return AIDEV_SUCCESS;
}

/* Keeps the Vulkan drivers (ICDs) the loader opened loaded for the life of
 * the process. The loader unloads them when the instance goes, so a program
 * that makes contexts one after another would load a driver (lavapipe: and
 * LLVM) each time, and drivers built on LLVM keep static state that they
 * never free: unloaded, it is lost for good (LeakSanitizer reports it from
 * an unknown module, beyond any suppression). An ICD is recognised by its
 * entry point, vk_icdGetInstanceProcAddr. */
static int pin_icd(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!info->dlpi_name || !info->dlpi_name[0])
        return 0;
    void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return 0;
    if (dlsym(h, "vk_icdGetInstanceProcAddr")) {
        void *pinned = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
        if (pinned) {
            aidev_backend_debug("vulkan", "keeping driver %s loaded", info->dlpi_name);
            dlclose(pinned);
        }
    }
    dlclose(h);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The vtable                                                               */
/* ------------------------------------------------------------------------ */

static void vk_shutdown(void *backend)
{
    vkb_backend *b = backend;
    if (!b)
        return;
    if (b->messenger && b->i.vkDestroyDebugUtilsMessengerEXT)
        b->i.vkDestroyDebugUtilsMessengerEXT(b->instance, b->messenger, NULL);
    if (b->instance && b->i.vkDestroyInstance)
        b->i.vkDestroyInstance(b->instance, NULL);
    vkb_validation_check(b, "the Vulkan backend");
    free(b->devices);
    if (b->loader)
        dlclose(b->loader);
    free(b);
}

static aidev_status vk_init(void **out_backend)
{
    read_options();
    vkb_backend *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    atomic_init(&b->validation_messages, 0);
    aidev_status st = load_loader(b);
    if (st == AIDEV_SUCCESS)
        st = create_instance(b);
    if (st == AIDEV_SUCCESS) {
        dl_iterate_phdr(pin_icd, NULL);
        st = vkb_list_devices(b);
    }
    if (st != AIDEV_SUCCESS) {
        /* Keep the reason: teardown makes no aidev call that clears it. */
        vk_shutdown(b);
        return st;
    }
    *out_backend = b;
    return AIDEV_SUCCESS;
}

static uint32_t vk_device_count(void *backend)
{
    return ((vkb_backend *)backend)->device_count;
}

static aidev_status vk_device_info(void *backend, uint32_t index, aidev_backend_device_info *out)
{
    vkb_backend *b = backend;
    if (index >= b->device_count)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "vulkan: no device %u", index);
    uint32_t size = out->struct_size;
    const aidev_backend_device_info *info = &b->devices[index].info;
    memcpy(out, info, size < sizeof *info ? size : sizeof *info);
    out->struct_size = size;
    return AIDEV_SUCCESS;
}

/* VK_EXT_memory_budget: what the device-local heaps have left now. */
static aidev_status vk_device_free_memory(void *backend, uint32_t index, uint64_t *out_bytes)
{
    vkb_backend *b = backend;
    if (index >= b->device_count)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "vulkan: no device %u", index);
    const vkb_physical *p = &b->devices[index];
    if (!p->ext_memory_budget)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: '%s' has no VK_EXT_memory_budget",
                                       p->props.deviceName);
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 m2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2, .pNext = &budget};
    b->i.vkGetPhysicalDeviceMemoryProperties2(p->handle, &m2);
    uint64_t free_bytes = 0;
    for (uint32_t h = 0; h < m2.memoryProperties.memoryHeapCount; h++)
        if ((m2.memoryProperties.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            budget.heapBudget[h] > budget.heapUsage[h])
            free_bytes += budget.heapBudget[h] - budget.heapUsage[h];
    *out_bytes = free_bytes;
    return AIDEV_SUCCESS;
}

static const aidev_backend_vtable vulkan_vtable = {
    .struct_size = sizeof(aidev_backend_vtable),
    .abi_version = AIDEV_BACKEND_ABI_VERSION,
    .name = "vulkan",
    /* No AIDEV_BACKEND_CAP_ANY_WAIT: libaidev holds commands that wait on
     * other backends' events and on user events; with
     * AIDEV_BACKEND_CAP_NATIVE_WAITS also those that wait on this device's
     * events without a payload yet (queue.c), so this backend keeps no
     * hold list of its own for waits. SPEC_CONSTANTS: a user module's
     * constants go into every pipeline made of it (kernel.c). */
    .caps = AIDEV_BACKEND_CAP_NATIVE_WAITS | AIDEV_BACKEND_CAP_SPEC_CONSTANTS,
    .init = vk_init,
    .shutdown = vk_shutdown,
    .device_count = vk_device_count,
    .device_info = vk_device_info,
    .device_open = vkb_device_open,
    .device_close = vkb_device_close,
    .buffer_create = vkb_buffer_create,
    .buffer_destroy = vkb_buffer_destroy,
    .buffer_map = vkb_buffer_map,
    .buffer_unmap = vkb_buffer_unmap,
    .buffer_query = vkb_buffer_query,
    .queue_create = vkb_queue_create,
    .queue_create_desc = vkb_queue_create_desc,
    .queue_destroy = vkb_queue_destroy,
    .queue_submit = vkb_queue_submit,
    .queue_finish = vkb_queue_finish,
    .queue_flush = vkb_queue_flush,
    .kernel_create = vkb_kernel_create,
    .kernel_destroy = vkb_kernel_destroy,
    .device_free_memory = vk_device_free_memory,
    .graph_create = vkb_graph_create,
    .graph_update = vkb_graph_update,
    .graph_submit = vkb_graph_submit,
    .graph_destroy = vkb_graph_destroy,
};

AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego);

AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego)
{
    if (!nego || nego->struct_size < sizeof *nego)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       "vulkan: negotiation struct too small");
    /* Same major; an older minor just reads fewer members of the table
     * (the 1.1 member is optional). */
    if (AIDEV_BACKEND_ABI_MAJOR(nego->abi_version) !=
        AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION))
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: built for ABI %u.%u, offered %u.%u",
                                       AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION),
                                       AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION),
                                       AIDEV_BACKEND_ABI_MAJOR(nego->abi_version),
                                       AIDEV_BACKEND_ABI_MINOR(nego->abi_version));
    if (nego->abi_version > AIDEV_BACKEND_ABI_VERSION)
        nego->abi_version = AIDEV_BACKEND_ABI_VERSION;
    nego->vtable = &vulkan_vtable;
    return AIDEV_SUCCESS;
}

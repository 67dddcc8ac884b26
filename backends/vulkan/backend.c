/*
 * backend.c - the Vulkan backend's entry: the loader, the instance (with the
 * validation switch), the physical devices and what aidev says of them.
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
#include <unistd.h>

#include "backends/vulkan/vk_internal.h"

vkb_options vkb_opts;

static uint32_t env_u32(const char *name, uint32_t fallback, uint32_t lo, uint32_t hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || n < lo || n > hi)
        return fallback;
    return (uint32_t)n;
}

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static void read_options(void)
{
    vkb_opts.batch_limit = env_u32("AIDEV_VULKAN_BATCH", 256, 1, 4096);
    vkb_opts.emulate_discrete = env_flag("AIDEV_VULKAN_EMULATE_DISCRETE");
    vkb_opts.no_push_descriptors = env_flag("AIDEV_VULKAN_NO_PUSH_DESCRIPTORS");
    vkb_opts.no_calibrated = env_flag("AIDEV_VULKAN_NO_CALIBRATED_TIMESTAMPS");
    vkb_opts.emulate_transfer = env_flag("AIDEV_VULKAN_EMULATE_TRANSFER");
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
#define LOAD(name)                                                                            \
    b->g.name = (PFN_##name)b->get_instance_proc_addr(VK_NULL_HANDLE, #name);                 \
    if (!b->g.name)                                                                           \
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,                               \
                                       "the Vulkan loader %s lacks %s", path, #name);
    VKB_GLOBAL_FUNCS(LOAD)
#undef LOAD
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
    const char *validation = getenv("AIDEV_VULKAN_VALIDATION");
    b->validation = validation && *validation && strcmp(validation, "0") != 0;
    bool sync_validation = b->validation && strcmp(validation, "sync") == 0;

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

#define LOAD(name)                                                                            \
    b->i.name = (PFN_##name)b->get_instance_proc_addr(b->instance, #name);                    \
    if (!b->i.name)                                                                           \
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,                               \
                                       "the Vulkan instance lacks %s (Vulkan 1.1)", #name);
    VKB_INSTANCE_FUNCS(LOAD)
#undef LOAD
#define LOAD_OPTIONAL(name)                                                                   \
    b->i.name = (PFN_##name)b->get_instance_proc_addr(b->instance, #name);
    VKB_INSTANCE_OPTIONAL_FUNCS(LOAD_OPTIONAL)
#undef LOAD_OPTIONAL

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
/* Physical devices                                                         */
/* ------------------------------------------------------------------------ */

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x1002: return "AMD";
    case 0x1010: return "Imagination Technologies";
    case 0x106B: return "Apple";
    case 0x10DE: return "NVIDIA";
    case 0x13B5: return "ARM";
    case 0x14E4: return "Broadcom";
    case 0x5143: return "Qualcomm";
    case 0x8086: return "Intel";
    case VK_VENDOR_ID_VIV: return "Vivante";
    case VK_VENDOR_ID_VSI: return "VeriSilicon";
    case VK_VENDOR_ID_KAZAN: return "Kazan";
    case VK_VENDOR_ID_CODEPLAY: return "Codeplay";
    case VK_VENDOR_ID_MESA: return "Mesa";
    case VK_VENDOR_ID_POCL: return "PoCL";
    default: return NULL;
    }
}

/* The driver version as vulkaninfo prints it: NVIDIA packs 10.8.8.6 bits,
 * everyone else (on Linux) the Vulkan version layout. */
static void format_driver_version(const VkPhysicalDeviceProperties *p, char *out, size_t size)
{
    uint32_t v = p->driverVersion;
    if (p->vendorID == 0x10DE)
        snprintf(out, size, "%u.%u.%u.%u", (v >> 22) & 0x3ffu, (v >> 14) & 0xffu,
                 (v >> 6) & 0xffu, v & 0x3fu);
    else
        snprintf(out, size, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
                 VK_API_VERSION_PATCH(v));
}

static bool has_device_extension(const VkExtensionProperties *exts, uint32_t n, const char *name)
{
    return has_instance_extension(exts, n, name);
}

static aidev_status read_extensions(vkb_backend *b, vkb_physical *p, bool *amd_cores,
                                    bool *nv_sms)
{
    uint32_t n = 0;
    VkResult r = b->i.vkEnumerateDeviceExtensionProperties(p->handle, NULL, &n, NULL);
    if (r != VK_SUCCESS)
        return vkb_error("vkEnumerateDeviceExtensionProperties", r);
    VkExtensionProperties *exts = calloc(n ? n : 1, sizeof *exts);
    if (!exts)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    r = b->i.vkEnumerateDeviceExtensionProperties(p->handle, NULL, &n, exts);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(exts);
        return vkb_error("vkEnumerateDeviceExtensionProperties", r);
    }
#define HAS(name) has_device_extension(exts, n, name)
    p->ext_push_descriptor = HAS(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    p->ext_host_import = HAS(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    p->ext_memory_budget = HAS(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    p->ext_pci_bus_info = HAS(VK_EXT_PCI_BUS_INFO_EXTENSION_NAME);
    p->ext_calibrated = HAS(VK_EXT_CALIBRATED_TIMESTAMPS_EXTENSION_NAME);
    p->ext_portability_subset = HAS("VK_KHR_portability_subset");
    p->ext_timeline_khr = HAS(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
    p->ext_float16_int8_khr = HAS(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    p->ext_8bit_storage_khr = HAS(VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    p->ext_int_dot_khr = HAS(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    *amd_cores = HAS(VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
    *nv_sms = HAS(VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
#undef HAS
    free(exts);
    return AIDEV_SUCCESS;
}

static void read_features(vkb_backend *b, vkb_physical *p, bool *timeline)
{
    bool v12 = p->api_version >= VK_API_VERSION_1_2, v13 = p->api_version >= VK_API_VERSION_1_3;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDevice8BitStorageFeatures s8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDeviceTimelineSemaphoreFeatures tl = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    /* Chain only what the device knows: a struct of an absent extension
     * is invalid usage. */
    void **tail = &f2.pNext;
#define CHAIN(s)                                                                              \
    do {                                                                                      \
        *tail = &(s);                                                                         \
        tail = &(s).pNext;                                                                    \
    } while (0)
    CHAIN(s16);
    if (v12 || p->ext_float16_int8_khr)
        CHAIN(f16);
    if (v12 || p->ext_8bit_storage_khr)
        CHAIN(s8);
    if (v12 || p->ext_timeline_khr)
        CHAIN(tl);
    if (v13 || p->ext_int_dot_khr)
        CHAIN(dot);
#undef CHAIN
    b->i.vkGetPhysicalDeviceFeatures2(p->handle, &f2);
    /* The compute-relevant core features; graphics ones stay off. */
    VkPhysicalDeviceFeatures *c = &p->core_features;
    memset(c, 0, sizeof *c);
    c->shaderFloat64 = f2.features.shaderFloat64;
    c->shaderInt64 = f2.features.shaderInt64;
    c->shaderInt16 = f2.features.shaderInt16;
    c->shaderStorageBufferArrayDynamicIndexing =
        f2.features.shaderStorageBufferArrayDynamicIndexing;
    c->robustBufferAccess = VK_FALSE;
    p->f_storage16 = s16.storageBuffer16BitAccess;
    p->f_storage16_uniform = s16.uniformAndStorageBuffer16BitAccess;
    p->f_float16 = f16.shaderFloat16;
    p->f_int8 = f16.shaderInt8;
    p->f_storage8 = s8.storageBuffer8BitAccess;
    p->f_storage8_uniform = s8.uniformAndStorageBuffer8BitAccess;
    p->f_int_dot = dot.shaderIntegerDotProduct;
    *timeline = tl.timelineSemaphore;
}

/* "dddd:bb:dd.f" and the NUMA node sysfs gives it. */
static void set_pci(vkb_physical *p, const VkPhysicalDevicePCIBusInfoPropertiesEXT *pci)
{
    aidev_backend_device_info *info = &p->info;
    snprintf(info->pci_bus_id, sizeof info->pci_bus_id, "%04x:%02x:%02x.%x", pci->pciDomain,
             pci->pciBus, pci->pciDevice, pci->pciFunction);
    char path[128];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", info->pci_bus_id);
    FILE *f = fopen(path, "r");
    if (f) {
        int node = -1;
        if (fscanf(f, "%d", &node) == 1 && node >= 0)
            info->numa_node = node;
        fclose(f);
    }
}

static void read_properties(vkb_backend *b, vkb_physical *p, bool amd_cores, bool nv_sms)
{
    bool v12 = p->api_version >= VK_API_VERSION_1_2;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDevicePushDescriptorPropertiesKHR push = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PUSH_DESCRIPTOR_PROPERTIES_KHR};
    VkPhysicalDeviceExternalMemoryHostPropertiesEXT host = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
    VkPhysicalDevicePCIBusInfoPropertiesEXT pci = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT};
    VkPhysicalDeviceShaderCorePropertiesAMD amd = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    void **tail = &p2.pNext;
#define CHAIN(s)                                                                              \
    do {                                                                                      \
        *tail = &(s);                                                                         \
        tail = &(s).pNext;                                                                    \
    } while (0)
    CHAIN(id);
    CHAIN(m3);
    CHAIN(sg);
    if (v12)
        CHAIN(drv);
    if (p->ext_push_descriptor)
        CHAIN(push);
    if (p->ext_host_import)
        CHAIN(host);
    if (p->ext_pci_bus_info)
        CHAIN(pci);
    if (amd_cores)
        CHAIN(amd);
    if (nv_sms)
        CHAIN(nv);
#undef CHAIN
    b->i.vkGetPhysicalDeviceProperties2(p->handle, &p2);

    const VkPhysicalDeviceProperties *props = &p->props;
    const VkPhysicalDeviceLimits *lim = &props->limits;
    aidev_backend_device_info *info = &p->info;
    p->max_alloc = m3.maxMemoryAllocationSize;
    p->max_push_descriptors = p->ext_push_descriptor ? push.maxPushDescriptors : 0;
    p->min_import_alignment = p->ext_host_import ? host.minImportedHostPointerAlignment : 0;
    p->max_storage_range = lim->maxStorageBufferRange;
    p->subgroup_size = sg.subgroupSize;

    snprintf(info->name, sizeof info->name, "%s", props->deviceName);
    const char *vendor = vendor_name(props->vendorID);
    if (vendor)
        snprintf(info->vendor, sizeof info->vendor, "%s", vendor);
    else if (v12 && drv.driverName[0])
        snprintf(info->vendor, sizeof info->vendor, "%.100s (vendor 0x%04x)", drv.driverName,
                 props->vendorID);
    else
        snprintf(info->vendor, sizeof info->vendor, "vendor 0x%04x", props->vendorID);
    char version[64];
    format_driver_version(props, version, sizeof version);
    if (v12 && drv.driverName[0])
        snprintf(info->driver_version, sizeof info->driver_version, "%.20s (%.30s%s%.60s)",
                 version, drv.driverName, drv.driverInfo[0] ? ": " : "", drv.driverInfo);
    else
        snprintf(info->driver_version, sizeof info->driver_version, "%s", version);
    snprintf(info->api_version, sizeof info->api_version, "Vulkan %u.%u.%u",
             VK_API_VERSION_MAJOR(props->apiVersion), VK_API_VERSION_MINOR(props->apiVersion),
             VK_API_VERSION_PATCH(props->apiVersion));
    memcpy(info->uuid, id.deviceUUID, sizeof info->uuid);
    info->has_uuid = true;
    if (p->ext_pci_bus_info)
        set_pci(p, &pci);

    switch (props->deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        info->type = AIDEV_DEVICE_TYPE_CPU;
        break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        info->type = AIDEV_DEVICE_TYPE_GPU;
        break;
    default:
        info->type = AIDEV_DEVICE_TYPE_OTHER;
        break;
    }
    /* Vulkan has no core notion of compute units: take the vendor's where
     * it tells, the CPUs for a CPU device, else leave it unknown (0). */
    if (nv_sms)
        info->compute_units = nv.shaderSMCount;
    else if (amd_cores)
        info->compute_units = amd.shaderEngineCount * amd.shaderArraysPerEngineCount *
                              amd.computeUnitsPerShaderArray;
    else if (props->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        info->compute_units = n > 0 ? (uint32_t)n : 0;
    }
    info->local_memory_bytes = lim->maxComputeSharedMemorySize;
    info->max_workgroup_size = lim->maxComputeWorkGroupInvocations;
    for (int d = 0; d < 3; d++)
        info->max_workgroup_dims[d] = lim->maxComputeWorkGroupSize[d];
    info->timestamp_period_ns = lim->timestampPeriod;
    if ((sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
        (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT))
        info->features |= AIDEV_FEATURE_SUBGROUPS;
}

static void read_memory(vkb_backend *b, vkb_physical *p)
{
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 m2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
        .pNext = p->ext_memory_budget ? &budget : NULL,
    };
    b->i.vkGetPhysicalDeviceMemoryProperties2(p->handle, &m2);
    p->memory = m2.memoryProperties;
    const VkPhysicalDeviceMemoryProperties *m = &p->memory;
    aidev_backend_device_info *info = &p->info;

    uint64_t local = 0, all = 0, free_local = 0, largest_heap = 0;
    for (uint32_t h = 0; h < m->memoryHeapCount; h++) {
        uint64_t size = m->memoryHeaps[h].size;
        all += size;
        if (size > largest_heap)
            largest_heap = size;
        if (m->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
            local += size;
            if (budget.heapBudget[h] > budget.heapUsage[h])
                free_local += budget.heapBudget[h] - budget.heapUsage[h];
        }
    }
    info->memory_bytes = local ? local : all;
    if (p->ext_memory_budget) {
        info->free_memory_bytes = free_local;
        info->has_free_memory = true;
    }
    info->max_alloc_bytes = p->max_alloc && p->max_alloc < largest_heap ? p->max_alloc
                                                                       : largest_heap;

    bool visible = false, coherent = false;
    for (uint32_t t = 0; t < m->memoryTypeCount; t++) {
        VkMemoryPropertyFlags f = m->memoryTypes[t].propertyFlags;
        if (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
            visible = true;
            if (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)
                coherent = true;
        }
    }
    info->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE);
    if (coherent)
        info->memory_kinds |= AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST);
    if (visible)
        info->memory_kinds |= AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED);
}

/* Picks the queue families; false when there is no compute family. */
static bool read_queues(vkb_backend *b, vkb_physical *p)
{
    uint32_t n = 0;
    b->i.vkGetPhysicalDeviceQueueFamilyProperties(p->handle, &n, NULL);
    VkQueueFamilyProperties *fams = calloc(n ? n : 1, sizeof *fams);
    if (!fams)
        return false;
    b->i.vkGetPhysicalDeviceQueueFamilyProperties(p->handle, &n, fams);
    p->compute_family = p->transfer_family = UINT32_MAX;
    /* Prefer a compute family without graphics (AMD's and NVIDIA's async
     * compute queues), else the universal one. */
    for (uint32_t i = 0; i < n; i++) {
        VkQueueFlags f = fams[i].queueFlags;
        if (!(f & VK_QUEUE_COMPUTE_BIT) || !fams[i].queueCount)
            continue;
        bool first = p->compute_family == UINT32_MAX;
        if (first || ((fams[p->compute_family].queueFlags & VK_QUEUE_GRAPHICS_BIT) &&
                      !(f & VK_QUEUE_GRAPHICS_BIT)))
            p->compute_family = i;
    }
    for (uint32_t i = 0; i < n; i++) {
        VkQueueFlags f = fams[i].queueFlags;
        if ((f & VK_QUEUE_TRANSFER_BIT) && !(f & (VK_QUEUE_COMPUTE_BIT | VK_QUEUE_GRAPHICS_BIT)) &&
            fams[i].queueCount && p->transfer_family == UINT32_MAX) {
            p->transfer_family = i;
            p->transfer_timestamp_bits = fams[i].timestampValidBits;
        }
    }
    if (p->compute_family != UINT32_MAX) {
        p->compute_queue_count = fams[p->compute_family].queueCount;
        p->compute_timestamp_bits = fams[p->compute_family].timestampValidBits;
    }
    free(fams);
    return p->compute_family != UINT32_MAX;
}

/* Fills |p|; false (with |why|) when the device cannot serve aidev. */
static bool probe_device(vkb_backend *b, vkb_physical *p, char *why, size_t why_size)
{
    b->i.vkGetPhysicalDeviceProperties(p->handle, &p->props);
    p->api_version = p->props.apiVersion;
    if (p->api_version < VK_API_VERSION_1_1) {
        snprintf(why, why_size, "'%s' speaks Vulkan %u.%u; aidev needs 1.1", p->props.deviceName,
                 VK_API_VERSION_MAJOR(p->api_version), VK_API_VERSION_MINOR(p->api_version));
        return false;
    }
    if (!read_queues(b, p)) {
        snprintf(why, why_size, "'%s' has no compute queue family", p->props.deviceName);
        return false;
    }
    bool amd_cores = false, nv_sms = false, timeline = false;
    if (read_extensions(b, p, &amd_cores, &nv_sms) != AIDEV_SUCCESS) {
        snprintf(why, why_size, "'%s': %s", p->props.deviceName, "cannot list its extensions");
        return false;
    }
    read_features(b, p, &timeline);
    if (!timeline) {
        snprintf(why, why_size, "'%s' has no timeline semaphores (Vulkan 1.2 or "
                 "VK_KHR_timeline_semaphore), which aidev's events need",
                 p->props.deviceName);
        return false;
    }
    memset(&p->info, 0, sizeof p->info);
    p->info.numa_node = -1;
    read_properties(b, p, amd_cores, nv_sms);
    read_memory(b, p);
    aidev_backend_device_info *info = &p->info;
    info->features |= AIDEV_FEATURE_TIMELINE_SEMAPHORES | AIDEV_FEATURE_KERNEL_SPIRV;
    if (p->f_float16)
        info->features |= AIDEV_FEATURE_FP16;
    if (p->core_features.shaderFloat64)
        info->features |= AIDEV_FEATURE_FP64;
    if (p->f_int_dot && p->f_int8)
        info->features |= AIDEV_FEATURE_INT8_DOT;
    if (p->ext_host_import && p->min_import_alignment)
        info->features |= AIDEV_FEATURE_HOST_IMPORT;
    if (p->compute_queue_count >= 3)
        info->features |= AIDEV_FEATURE_QUEUE_PRIORITY;
    if (p->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU)
        info->features |= AIDEV_FEATURE_UNIFIED_MEMORY;
    return true;
}

static aidev_status list_devices(vkb_backend *b)
{
    uint32_t n = 0;
    VkResult r = b->i.vkEnumeratePhysicalDevices(b->instance, &n, NULL);
    if (r != VK_SUCCESS)
        return vkb_error("vkEnumeratePhysicalDevices", r);
    if (n == 0)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "the Vulkan loader found no physical device (no driver "
                                       "for this machine's hardware)");
    VkPhysicalDevice *handles = calloc(n, sizeof *handles);
    b->devices = calloc(n, sizeof *b->devices);
    if (!handles || !b->devices) {
        free(handles);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    r = b->i.vkEnumeratePhysicalDevices(b->instance, &n, handles);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(handles);
        return vkb_error("vkEnumeratePhysicalDevices", r);
    }
    char why[512] = "";
    for (uint32_t i = 0; i < n; i++) {
        vkb_physical *p = &b->devices[b->device_count];
        memset(p, 0, sizeof *p);
        p->handle = handles[i];
        if (probe_device(b, p, why, sizeof why))
            b->device_count++;
        else
            aidev_backend_debug("vulkan", "skipping a physical device: %s", why);
    }
    free(handles);
    if (b->device_count == 0)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED, "no usable Vulkan device: %s",
                                       why);
    return AIDEV_SUCCESS;
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
        st = list_devices(b);
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
     * other backends' events and on user events. */
    .caps = 0,
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
    .queue_create = vkb_queue_create,
    .queue_destroy = vkb_queue_destroy,
    .queue_submit = vkb_queue_submit,
    .queue_finish = vkb_queue_finish,
    .queue_flush = vkb_queue_flush,
    .kernel_create = vkb_kernel_create,
    .kernel_destroy = vkb_kernel_destroy,
    .device_free_memory = vk_device_free_memory,
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

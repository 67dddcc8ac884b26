/*
 * physical.c - the physical devices: which can serve aidev (Vulkan 1.1, a
 * compute queue family, timeline semaphores), and what aidev says of each
 * (names as vulkaninfo prints them, memory, limits, features), with what
 * the device opening needs to know (extensions, features to enable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/vulkan/vk_internal.h"

static bool has_extension(const VkExtensionProperties *exts, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(exts[i].extensionName, name) == 0)
            return true;
    return false;
}


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
#define HAS(name) has_extension(exts, n, name)
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
    p->ext_global_priority = HAS(VK_KHR_GLOBAL_PRIORITY_EXTENSION_NAME)
                                 ? VK_KHR_GLOBAL_PRIORITY_EXTENSION_NAME
                             : HAS(VK_EXT_GLOBAL_PRIORITY_EXTENSION_NAME)
                                 ? VK_EXT_GLOBAL_PRIORITY_EXTENSION_NAME
                                 : NULL;
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
    vkb_describe_scheduling(p);
    if (p->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU)
        info->features |= AIDEV_FEATURE_UNIFIED_MEMORY;
    return true;
}

aidev_status vkb_list_devices(vkb_backend *b)
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


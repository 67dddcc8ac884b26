/*
 * vk_funcs.h - the Vulkan entry points the backend calls, as tables of
 * function pointers.
 *
 * The plugin does not link libvulkan: it dlopens the loader (loader.c) so
 * that it loads, and says why it cannot work, on machines without one. Every
 * call goes through these tables: global and instance entries come from
 * vkGetInstanceProcAddr, device entries from vkGetDeviceProcAddr (which
 * skips the loader's dispatch trampoline).
 */
#ifndef AIDEV_VK_FUNCS_H
#define AIDEV_VK_FUNCS_H

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include <stdbool.h>
#include <stddef.h>

/* Entries that exist before an instance. */
#define VKB_GLOBAL_FUNCS(X)                                                                   \
    X(vkCreateInstance)                                                                       \
    X(vkEnumerateInstanceExtensionProperties)                                                 \
    X(vkEnumerateInstanceLayerProperties)

/* Instance entries every Vulkan 1.1 loader has. */
#define VKB_INSTANCE_FUNCS(X)                                                                 \
    X(vkDestroyInstance)                                                                      \
    X(vkEnumeratePhysicalDevices)                                                             \
    X(vkGetPhysicalDeviceProperties)                                                          \
    X(vkGetPhysicalDeviceProperties2)                                                         \
    X(vkGetPhysicalDeviceFeatures2)                                                           \
    X(vkGetPhysicalDeviceMemoryProperties)                                                    \
    X(vkGetPhysicalDeviceMemoryProperties2)                                                   \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                               \
    X(vkEnumerateDeviceExtensionProperties)                                                   \
    X(vkCreateDevice)                                                                         \
    X(vkGetDeviceProcAddr)

/* Instance entries of extensions: NULL where absent. */
#define VKB_INSTANCE_OPTIONAL_FUNCS(X)                                                        \
    X(vkCreateDebugUtilsMessengerEXT)                                                         \
    X(vkDestroyDebugUtilsMessengerEXT)                                                        \
    X(vkGetPhysicalDeviceCalibrateableTimeDomainsEXT)

/* Device entries of Vulkan 1.1. */
#define VKB_DEVICE_FUNCS(X)                                                                   \
    X(vkDestroyDevice)                                                                        \
    X(vkGetDeviceQueue)                                                                       \
    X(vkQueueSubmit)                                                                          \
    X(vkQueueWaitIdle)                                                                        \
    X(vkCreateFence)                                                                          \
    X(vkDestroyFence)                                                                         \
    X(vkWaitForFences)                                                                        \
    X(vkDeviceWaitIdle)                                                                       \
    X(vkAllocateMemory)                                                                       \
    X(vkFreeMemory)                                                                           \
    X(vkMapMemory)                                                                            \
    X(vkUnmapMemory)                                                                          \
    X(vkFlushMappedMemoryRanges)                                                              \
    X(vkInvalidateMappedMemoryRanges)                                                         \
    X(vkCreateBuffer)                                                                         \
    X(vkDestroyBuffer)                                                                        \
    X(vkBindBufferMemory)                                                                     \
    X(vkGetBufferMemoryRequirements)                                                          \
    X(vkCreateCommandPool)                                                                    \
    X(vkDestroyCommandPool)                                                                   \
    X(vkAllocateCommandBuffers)                                                               \
    X(vkFreeCommandBuffers)                                                                   \
    X(vkBeginCommandBuffer)                                                                   \
    X(vkEndCommandBuffer)                                                                     \
    X(vkCmdCopyBuffer)                                                                        \
    X(vkCmdFillBuffer)                                                                        \
    X(vkCmdPipelineBarrier)                                                                   \
    X(vkCmdDispatch)                                                                          \
    X(vkCmdBindPipeline)                                                                      \
    X(vkCmdBindDescriptorSets)                                                                \
    X(vkCmdPushConstants)                                                                     \
    X(vkCmdWriteTimestamp)                                                                    \
    X(vkCmdResetQueryPool)                                                                    \
    X(vkCreateQueryPool)                                                                      \
    X(vkDestroyQueryPool)                                                                     \
    X(vkGetQueryPoolResults)                                                                  \
    X(vkCmdCopyQueryPoolResults)                                                              \
    X(vkCreateSemaphore)                                                                      \
    X(vkDestroySemaphore)                                                                     \
    X(vkCreateShaderModule)                                                                   \
    X(vkDestroyShaderModule)                                                                  \
    X(vkCreateDescriptorSetLayout)                                                            \
    X(vkDestroyDescriptorSetLayout)                                                           \
    X(vkCreatePipelineLayout)                                                                 \
    X(vkDestroyPipelineLayout)                                                                \
    X(vkCreateComputePipelines)                                                               \
    X(vkDestroyPipeline)                                                                      \
    X(vkCreatePipelineCache)                                                                  \
    X(vkDestroyPipelineCache)                                                                 \
    X(vkGetPipelineCacheData)                                                                 \
    X(vkCreateDescriptorPool)                                                                 \
    X(vkDestroyDescriptorPool)                                                                \
    X(vkResetDescriptorPool)                                                                  \
    X(vkAllocateDescriptorSets)                                                               \
    X(vkUpdateDescriptorSets)

/* Device entries of extensions (or of a core version the device may lack):
 * NULL where absent. The timeline semaphore calls are looked up under their
 * core name, then under the VK_KHR_timeline_semaphore name. */
#define VKB_DEVICE_OPTIONAL_FUNCS(X)                                                          \
    X(vkWaitSemaphores)                                                                       \
    X(vkSignalSemaphore)                                                                      \
    X(vkGetSemaphoreCounterValue)                                                             \
    X(vkCmdPushDescriptorSetKHR)                                                              \
    X(vkGetMemoryHostPointerPropertiesEXT)                                                    \
    X(vkGetCalibratedTimestampsEXT)

#define VKB_DECLARE_FN(name) PFN_##name name;

typedef struct vkb_global_fns {
    VKB_GLOBAL_FUNCS(VKB_DECLARE_FN)
} vkb_global_fns;

typedef struct vkb_instance_fns {
    VKB_INSTANCE_FUNCS(VKB_DECLARE_FN)
    VKB_INSTANCE_OPTIONAL_FUNCS(VKB_DECLARE_FN)
} vkb_instance_fns;

typedef struct vkb_device_fns {
    VKB_DEVICE_FUNCS(VKB_DECLARE_FN)
    VKB_DEVICE_OPTIONAL_FUNCS(VKB_DECLARE_FN)
} vkb_device_fns;

/* One entry point of a table above: its name, where its pointer goes, and
 * whether the backend works without it. The tables of these entries are
 * filled by one loop (vkb_fns_load), which says which entry was missing. */
typedef struct vkb_fn_entry {
    const char *name;
    size_t offset;
    bool optional;
} vkb_fn_entry;

#define VKB_FN_ENTRY(table_type, name, optional) {#name, offsetof(table_type, name), optional},
#define VKB_GLOBAL_ENTRY(name) VKB_FN_ENTRY(vkb_global_fns, name, false)
#define VKB_INSTANCE_ENTRY(name) VKB_FN_ENTRY(vkb_instance_fns, name, false)
#define VKB_INSTANCE_OPTIONAL_ENTRY(name) VKB_FN_ENTRY(vkb_instance_fns, name, true)
#define VKB_DEVICE_ENTRY(name) VKB_FN_ENTRY(vkb_device_fns, name, false)
#define VKB_DEVICE_OPTIONAL_ENTRY(name) VKB_FN_ENTRY(vkb_device_fns, name, true)

/* Looks one entry point up: vkGetInstanceProcAddr or vkGetDeviceProcAddr
 * with its instance or device in |ctx|. */
typedef PFN_vkVoidFunction (*vkb_fn_lookup)(void *ctx, const char *name);

/* Fills |table| with the |count| |entries| through |lookup|. Returns NULL,
 * or the name of the first required entry point that is missing (the
 * table is then partly filled). */
const char *vkb_fns_load(void *table, const vkb_fn_entry *entries, size_t count,
                         vkb_fn_lookup lookup, void *ctx);

#endif

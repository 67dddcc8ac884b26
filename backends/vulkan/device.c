/*
 * device.c - opening a VkDevice for aidev: queues, enabled features, the
 * device clock, the semaphore pool, and teardown.
 *
 * Queues: up to VKB_MAX_COMPUTE_QUEUES VkQueues of the compute family. With
 * three or more, the first has high priority, the last low, the others
 * normal; aidev queues of normal priority take the middle ones in turn. A
 * transfer-only family, where the device has one, gets one VkQueue that
 * takes the batches made only of copies (queue.c).
 *
 * Global priority (VK_KHR/EXT_global_priority) ranks a process's queues
 * against other processes' on the GPU. Vulkan sets it per
 * VkDeviceQueueCreateInfo, i.e. for a whole queue family at device
 * creation, not per aidev queue (queues of one family share one create
 * info); so it is the operator's choice for the process, as a nice value
 * is: AIDEV_VULKAN_GLOBAL_PRIORITY=low|medium|high|realtime, applied to
 * every queue of the device where the driver has the extension, and
 * dropped with a note when the driver refuses it (above medium needs
 * privilege on most drivers). Queue priorities order aidev queues within
 * the device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/vulkan/vk_internal.h"

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ext_list {
    const char *names[16];
    uint32_t count;
} ext_list;

static void add_ext(ext_list *l, bool cond, const char *name)
{
    if (cond && l->count < 16)
        l->names[l->count++] = name;
}

/* What vkGetDeviceProcAddr needs, for vkb_fns_load. */
typedef struct device_lookup_ctx {
    const vkb_backend *backend;
    VkDevice device;
} device_lookup_ctx;

static PFN_vkVoidFunction lookup_device(void *ctx, const char *name)
{
    const device_lookup_ctx *c = ctx;
    return c->backend->i.vkGetDeviceProcAddr(c->device, name);
}

static const char *global_priority_name(uint32_t level)
{
    switch (level) {
    case VK_QUEUE_GLOBAL_PRIORITY_LOW_KHR:
        return "low";
    case VK_QUEUE_GLOBAL_PRIORITY_MEDIUM_KHR:
        return "medium";
    case VK_QUEUE_GLOBAL_PRIORITY_HIGH_KHR:
        return "high";
    default:
        return "realtime";
    }
}

/* vkCreateDevice with AIDEV_VULKAN_GLOBAL_PRIORITY on every queue create
 * info of |info| where the driver has the extension (its name is last in
 * |exts|, which has room for it); again without it when the driver
 * refuses. Notes the outcome in |dev->global_priority_note|. */
static VkResult create_with_global_priority(vkb_device *dev, VkDeviceCreateInfo *info,
                                            ext_list *exts, VkDeviceQueueCreateInfo *queues)
{
    vkb_backend *b = dev->backend;
    const vkb_physical *p = dev->phys;
    uint32_t level = vkb_opts.global_priority;
    if (!level || !p->ext_global_priority)
        return b->i.vkCreateDevice(p->handle, info, NULL, &dev->handle);
    VkDeviceQueueGlobalPriorityCreateInfoKHR global = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_GLOBAL_PRIORITY_CREATE_INFO_KHR,
        .globalPriority = (VkQueueGlobalPriorityKHR)level,
    };
    for (uint32_t i = 0; i < info->queueCreateInfoCount; i++)
        queues[i].pNext = &global;
    add_ext(exts, true, p->ext_global_priority);
    info->enabledExtensionCount = exts->count;
    VkResult r = b->i.vkCreateDevice(p->handle, info, NULL, &dev->handle);
    if (r == VK_SUCCESS) {
        snprintf(dev->global_priority_note, sizeof dev->global_priority_note,
                 "global priority %s (%s)", global_priority_name(level), p->ext_global_priority);
        return r;
    }
    if (r != VK_ERROR_NOT_PERMITTED_KHR && r != VK_ERROR_INITIALIZATION_FAILED)
        return r;
    snprintf(dev->global_priority_note, sizeof dev->global_priority_note,
             "global priority %s refused by the driver (%s): the driver's default",
             global_priority_name(level), vkb_result_name(r));
    for (uint32_t i = 0; i < info->queueCreateInfoCount; i++)
        queues[i].pNext = NULL;
    info->enabledExtensionCount = --exts->count;
    return b->i.vkCreateDevice(p->handle, info, NULL, &dev->handle);
}

static aidev_status create_vk_device(vkb_device *dev)
{
    vkb_backend *b = dev->backend;
    const vkb_physical *p = dev->phys;
    bool v12 = p->api_version >= VK_API_VERSION_1_2, v13 = p->api_version >= VK_API_VERSION_1_3;

    float priorities[VKB_MAX_COMPUTE_QUEUES];
    uint32_t n = p->compute_queue_count < VKB_MAX_COMPUTE_QUEUES ? p->compute_queue_count
                                                                 : VKB_MAX_COMPUTE_QUEUES;
    for (uint32_t i = 0; i < n; i++)
        priorities[i] = 0.5f;
    if (n >= 3) {
        priorities[0] = 1.0f;
        priorities[n - 1] = 0.0f;
        dev->queue_priorities = true;
    }
    dev->compute_queue_count = n;
    float transfer_priority = 0.5f;
    VkDeviceQueueCreateInfo queues[2] = {
        {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
         .queueFamilyIndex = p->compute_family,
         .queueCount = n,
         .pQueuePriorities = priorities},
        {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
         .queueFamilyIndex = p->transfer_family,
         .queueCount = 1,
         .pQueuePriorities = &transfer_priority},
    };
    dev->has_transfer = p->transfer_family != UINT32_MAX;

    ext_list exts = {{0}, 0};
    dev->push_descriptors = p->ext_push_descriptor && !vkb_opts.no_push_descriptors;
    dev->calibrated_ext = p->ext_calibrated && !vkb_opts.no_calibrated &&
                          b->i.vkGetPhysicalDeviceCalibrateableTimeDomainsEXT;
    add_ext(&exts, dev->push_descriptors, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    add_ext(&exts, p->ext_host_import, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    add_ext(&exts, p->ext_memory_budget, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    add_ext(&exts, dev->calibrated_ext, VK_EXT_CALIBRATED_TIMESTAMPS_EXTENSION_NAME);
    /* A portability driver must have its subset enabled. */
    add_ext(&exts, p->ext_portability_subset, "VK_KHR_portability_subset");
    add_ext(&exts, !v12 && p->ext_timeline_khr, VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
    add_ext(&exts, !v12 && p->ext_float16_int8_khr, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    add_ext(&exts, !v12 && p->ext_8bit_storage_khr, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    add_ext(&exts, !v13 && p->ext_int_dot_khr, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);

    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .storageBuffer16BitAccess = p->f_storage16,
        .uniformAndStorageBuffer16BitAccess = p->f_storage16_uniform,
    };
    VkPhysicalDeviceTimelineSemaphoreFeatures tl = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES,
        .timelineSemaphore = VK_TRUE,
    };
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
        .shaderFloat16 = p->f_float16,
        .shaderInt8 = p->f_int8,
    };
    VkPhysicalDevice8BitStorageFeatures s8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
        .storageBuffer8BitAccess = p->f_storage8,
        .uniformAndStorageBuffer8BitAccess = p->f_storage8_uniform,
    };
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES,
        .shaderIntegerDotProduct = p->f_int_dot,
    };
    VkPhysicalDeviceFeatures2 features = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .features = p->core_features,
    };
    void **tail = &features.pNext;
#define CHAIN(s)                                                                              \
    do {                                                                                      \
        *tail = &(s);                                                                         \
        tail = &(s).pNext;                                                                    \
    } while (0)
    CHAIN(s16);
    CHAIN(tl);
    if (v12 || p->ext_float16_int8_khr)
        CHAIN(f16);
    if (v12 || p->ext_8bit_storage_khr)
        CHAIN(s8);
    if (v13 || p->ext_int_dot_khr)
        CHAIN(dot);
#undef CHAIN

    VkDeviceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &features,
        .queueCreateInfoCount = dev->has_transfer ? 2 : 1,
        .pQueueCreateInfos = queues,
        .enabledExtensionCount = exts.count,
        .ppEnabledExtensionNames = exts.names,
    };
    VkResult r = create_with_global_priority(dev, &info, &exts, queues);
    if (r != VK_SUCCESS) {
        dev->handle = VK_NULL_HANDLE;
        return vkb_error("vkCreateDevice", r);
    }

    vkb_device_fns *f = &dev->f;
    static const vkb_fn_entry device_entries[] = {
        VKB_DEVICE_FUNCS(VKB_DEVICE_ENTRY) VKB_DEVICE_OPTIONAL_FUNCS(VKB_DEVICE_OPTIONAL_ENTRY)};
    device_lookup_ctx lookup = {b, dev->handle};
    const char *missing = vkb_fns_load(f, device_entries,
                                       sizeof device_entries / sizeof device_entries[0],
                                       lookup_device, &lookup);
    if (missing)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED, "vulkan: device lacks %s",
                                       missing);
    /* Vulkan 1.1 drivers give the timeline calls their extension names. */
    if (!f->vkWaitSemaphores)
        f->vkWaitSemaphores =
            (PFN_vkWaitSemaphores)b->i.vkGetDeviceProcAddr(dev->handle, "vkWaitSemaphoresKHR");
    if (!f->vkSignalSemaphore)
        f->vkSignalSemaphore =
            (PFN_vkSignalSemaphore)b->i.vkGetDeviceProcAddr(dev->handle, "vkSignalSemaphoreKHR");
    if (!f->vkGetSemaphoreCounterValue)
        f->vkGetSemaphoreCounterValue = (PFN_vkGetSemaphoreCounterValue)b->i.vkGetDeviceProcAddr(
            dev->handle, "vkGetSemaphoreCounterValueKHR");
    if (!f->vkWaitSemaphores || !f->vkSignalSemaphore || !f->vkGetSemaphoreCounterValue)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: '%s' lacks the timeline semaphore calls",
                                       p->props.deviceName);
    if (dev->push_descriptors && !f->vkCmdPushDescriptorSetKHR)
        dev->push_descriptors = false;
    if (dev->calibrated_ext && !f->vkGetCalibratedTimestampsEXT)
        dev->calibrated_ext = false;

    for (uint32_t i = 0; i < n; i++) {
        f->vkGetDeviceQueue(dev->handle, p->compute_family, i, &dev->compute_queues[i]);
        pthread_mutex_init(&dev->compute_locks[i], NULL);
    }
    pthread_mutex_init(&dev->transfer_lock, NULL);
    dev->transfer_queue_lock = &dev->transfer_lock;
    if (dev->has_transfer) {
        f->vkGetDeviceQueue(dev->handle, p->transfer_family, 0, &dev->transfer_queue);
        dev->transfer_family = p->transfer_family;
        dev->sharing_concurrent = true;
    } else if (vkb_opts.emulate_transfer) {
        /* The transfer paths (family switches, their semaphore waits, a
         * second pool) on the one queue of a device that has no transfer
         * family: what tests can run on lavapipe. */
        dev->has_transfer = true;
        dev->transfer_family = p->compute_family;
        dev->transfer_queue = dev->compute_queues[0];
        dev->transfer_queue_lock = &dev->compute_locks[0];
    }
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Device clock                                                             */
/* ------------------------------------------------------------------------ */

/* VK_EXT_calibrated_timestamps: read both clocks at once. */
static bool calibrate_ext(vkb_device *dev)
{
    uint32_t n = 0;
    VkPhysicalDevice pd = dev->phys->handle;
    vkb_backend *b = dev->backend;
    if (b->i.vkGetPhysicalDeviceCalibrateableTimeDomainsEXT(pd, &n, NULL) != VK_SUCCESS || !n)
        return false;
    VkTimeDomainEXT domains[8];
    if (n > 8)
        n = 8;
    VkResult r = b->i.vkGetPhysicalDeviceCalibrateableTimeDomainsEXT(pd, &n, domains);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return false;
    bool has_device = false, has_monotonic = false;
    for (uint32_t i = 0; i < n; i++) {
        has_device |= domains[i] == VK_TIME_DOMAIN_DEVICE_EXT;
        has_monotonic |= domains[i] == VK_TIME_DOMAIN_CLOCK_MONOTONIC_EXT;
    }
    if (!has_device || !has_monotonic)
        return false;
    VkCalibratedTimestampInfoEXT infos[2] = {
        {.sType = VK_STRUCTURE_TYPE_CALIBRATED_TIMESTAMP_INFO_EXT,
         .timeDomain = VK_TIME_DOMAIN_DEVICE_EXT},
        {.sType = VK_STRUCTURE_TYPE_CALIBRATED_TIMESTAMP_INFO_EXT,
         .timeDomain = VK_TIME_DOMAIN_CLOCK_MONOTONIC_EXT},
    };
    uint64_t ts[2], deviation;
    if (dev->f.vkGetCalibratedTimestampsEXT(dev->handle, 2, infos, ts, &deviation) != VK_SUCCESS)
        return false;
    double device_ns = (double)(ts[0] & dev->timestamp_mask) * dev->timestamp_period;
    dev->clock_offset_ns = (int64_t)ts[1] - (int64_t)device_ns;
    dev->clock_calibrated_at = aidev_backend_now_ns();
    return true;
}

/* Without the extension: write one timestamp on the compute queue and take
 * the host clock around the submission; the offset is good to half the
 * round trip. Of a few tries, the one with the shortest round trip wins. */
static uint64_t calibrate_once(vkb_device *dev, int64_t *offset);

static void calibrate_by_submit(vkb_device *dev)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        int64_t offset = 0;
        uint64_t trip = calibrate_once(dev, &offset);
        if (trip < best) {
            best = trip;
            dev->clock_offset_ns = offset;
            dev->clock_calibrated_at = aidev_backend_now_ns();
        }
    }
}

static uint64_t calibrate_once(vkb_device *dev, int64_t *offset_out)
{
    uint64_t trip = UINT64_MAX;
    const vkb_device_fns *f = &dev->f;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkQueryPool qp = VK_NULL_HANDLE;
    VkCommandBuffer cb;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .queueFamilyIndex = dev->phys->compute_family};
    VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                .queryCount = 1};
    if (f->vkCreateCommandPool(dev->handle, &pi, NULL, &pool) != VK_SUCCESS)
        goto out;
    if (f->vkCreateQueryPool(dev->handle, &qi, NULL, &qp) != VK_SUCCESS)
        goto out;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    if (f->vkAllocateCommandBuffers(dev->handle, &ai, &cb) != VK_SUCCESS)
        goto out;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (f->vkBeginCommandBuffer(cb, &bi) != VK_SUCCESS)
        goto out;
    f->vkCmdResetQueryPool(cb, qp, 0, 1);
    f->vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, qp, 0);
    if (f->vkEndCommandBuffer(cb) != VK_SUCCESS)
        goto out;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &cb};
    uint64_t before = aidev_backend_now_ns();
    pthread_mutex_lock(&dev->compute_locks[0]);
    VkResult r = f->vkQueueSubmit(dev->compute_queues[0], 1, &si, VK_NULL_HANDLE);
    if (r == VK_SUCCESS)
        r = f->vkQueueWaitIdle(dev->compute_queues[0]);
    pthread_mutex_unlock(&dev->compute_locks[0]);
    uint64_t after = aidev_backend_now_ns();
    uint64_t ticks = 0;
    if (r == VK_SUCCESS &&
        f->vkGetQueryPoolResults(dev->handle, qp, 0, 1, sizeof ticks, &ticks, sizeof ticks,
                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) ==
            VK_SUCCESS) {
        double device_ns = (double)(ticks & dev->timestamp_mask) * dev->timestamp_period;
        *offset_out = (int64_t)(before + (after - before) / 2) - (int64_t)device_ns;
        trip = after - before;
    }
out:
    if (qp)
        f->vkDestroyQueryPool(dev->handle, qp, NULL);
    if (pool)
        f->vkDestroyCommandPool(dev->handle, pool, NULL);
    return trip;
}

uint64_t vkb_device_ticks_to_ns(vkb_device *dev, uint64_t ticks)
{
    pthread_mutex_lock(&dev->clock_lock);
    /* The two clocks drift apart slowly: calibrate again every second
     * where calibrating is cheap. */
    if (dev->calibrated_ext && aidev_backend_now_ns() - dev->clock_calibrated_at > 1000000000ull)
        calibrate_ext(dev);
    int64_t offset = dev->clock_offset_ns;
    pthread_mutex_unlock(&dev->clock_lock);
    int64_t ns = (int64_t)((double)(ticks & dev->timestamp_mask) * dev->timestamp_period) + offset;
    return ns > 0 ? (uint64_t)ns : 0;
}

static void setup_clock(vkb_device *dev)
{
    const vkb_physical *p = dev->phys;
    dev->timestamps = p->compute_timestamp_bits > 0 && p->props.limits.timestampPeriod > 0;
    dev->timestamp_mask = p->compute_timestamp_bits >= 64 ? UINT64_MAX
                          : p->compute_timestamp_bits
                              ? (1ull << p->compute_timestamp_bits) - 1
                              : 0;
    dev->timestamp_period = p->props.limits.timestampPeriod;
    if (!dev->timestamps)
        return;
    if (dev->calibrated_ext && calibrate_ext(dev))
        return;
    dev->calibrated_ext = false;
    calibrate_by_submit(dev);
}

/* ------------------------------------------------------------------------ */
/* Semaphores                                                               */
/* ------------------------------------------------------------------------ */

static aidev_status new_timeline(vkb_device *dev, VkSemaphore *out)
{
    VkSemaphoreTypeCreateInfo type = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
                                      .initialValue = 0};
    VkSemaphoreCreateInfo info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
                                  .pNext = &type};
    VkResult r = dev->f.vkCreateSemaphore(dev->handle, &info, NULL, out);
    return r == VK_SUCCESS ? AIDEV_SUCCESS : vkb_error("vkCreateSemaphore", r);
}

aidev_status vkb_device_timeline_get(vkb_device *dev, vkb_timeline **out, uint64_t *out_value)
{
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&dev->timeline_lock);
    vkb_timeline *tl = dev->free_timelines;
    if (tl) {
        dev->free_timelines = tl->next_free;
    } else {
        tl = calloc(1, sizeof *tl);
        if (!tl)
            st = aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        else if ((st = new_timeline(dev, &tl->sem)) != AIDEV_SUCCESS)
            free(tl);
        if (st == AIDEV_SUCCESS) {
            tl->next = dev->timelines;
            dev->timelines = tl;
        }
    }
    pthread_mutex_unlock(&dev->timeline_lock);
    if (st != AIDEV_SUCCESS)
        return st;
    /* A recycled semaphore goes on from where its last queue left it;
     * everything up to there is retired. */
    VkResult r = dev->f.vkGetSemaphoreCounterValue(dev->handle, tl->sem, out_value);
    if (r != VK_SUCCESS) {
        vkb_device_timeline_put(dev, tl);
        return vkb_device_error(dev, "vkGetSemaphoreCounterValue", r);
    }
    atomic_store(&tl->processed, *out_value);
    *out = tl;
    return AIDEV_SUCCESS;
}

void vkb_device_timeline_put(vkb_device *dev, vkb_timeline *tl)
{
    pthread_mutex_lock(&dev->timeline_lock);
    tl->next_free = dev->free_timelines;
    dev->free_timelines = tl;
    pthread_mutex_unlock(&dev->timeline_lock);
}

void vkb_timeline_set_processed(vkb_device *dev, vkb_timeline *tl, uint64_t value)
{
    if (atomic_load(&tl->processed) < value)
        atomic_store(&tl->processed, value);
    if (atomic_load(&dev->processed_waiters)) {
        pthread_mutex_lock(&dev->processed_lock);
        pthread_cond_broadcast(&dev->processed_cond);
        pthread_mutex_unlock(&dev->processed_lock);
    }
}

void vkb_timeline_wait_processed(vkb_device *dev, vkb_timeline *tl, uint64_t value)
{
    if (atomic_load(&tl->processed) >= value)
        return;
    pthread_mutex_lock(&dev->processed_lock);
    atomic_fetch_add(&dev->processed_waiters, 1);
    while (atomic_load(&tl->processed) < value && !atomic_load(&dev->lost)) {
        /* Timed: a loss is noticed without anyone broadcasting it. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&dev->processed_cond, &dev->processed_lock, &ts);
    }
    atomic_fetch_sub(&dev->processed_waiters, 1);
    pthread_mutex_unlock(&dev->processed_lock);
}

/* ------------------------------------------------------------------------ */
/* Errors and loss                                                          */
/* ------------------------------------------------------------------------ */

aidev_status vkb_device_lost(vkb_device *dev, const char *call, VkResult r)
{
    bool expected = false;
    if (atomic_compare_exchange_strong(&dev->lost, &expected, true)) {
        snprintf(dev->lost_reason, sizeof dev->lost_reason, "%s failed: %s (%d)", call,
                 vkb_result_name(r), (int)r);
        fprintf(stderr, "aidev: vulkan: device '%s' lost: %s\n", dev->phys->props.deviceName,
                dev->lost_reason);
        vkb_completion_device_lost(dev);
    }
    return aidev_backend_set_error(AIDEV_ERROR_DEVICE_LOST, "vulkan: device '%s' lost: %s",
                                   dev->phys->props.deviceName, dev->lost_reason);
}

aidev_status vkb_device_error(vkb_device *dev, const char *call, VkResult r)
{
    if (r == VK_ERROR_DEVICE_LOST)
        return vkb_device_lost(dev, call, r);
    return vkb_error(call, r);
}

/* ------------------------------------------------------------------------ */
/* Open and close                                                           */
/* ------------------------------------------------------------------------ */

void vkb_device_close(void *device)
{
    vkb_device *dev = device;
    if (dev->handle)
        dev->f.vkDeviceWaitIdle(dev->handle);
    if (dev->handle) {
        vkb_library_kernels_release(dev);
        vkb_pipeline_cache_close(dev);
        vkb_memory_finish(dev);
        while (dev->timelines) {
            vkb_timeline *tl = dev->timelines;
            dev->timelines = tl->next;
            dev->f.vkDestroySemaphore(dev->handle, tl->sem, NULL);
            free(tl);
        }
        dev->f.vkDestroyDevice(dev->handle, NULL);
    }
    for (uint32_t i = 0; i < dev->compute_queue_count; i++)
        pthread_mutex_destroy(&dev->compute_locks[i]);
    pthread_mutex_destroy(&dev->transfer_lock);
    pthread_mutex_destroy(&dev->timeline_lock);
    pthread_mutex_destroy(&dev->processed_lock);
    pthread_cond_destroy(&dev->processed_cond);
    pthread_mutex_destroy(&dev->clock_lock);
    pthread_mutex_destroy(&dev->library_lock);
    pthread_mutex_destroy(&dev->queues_lock);
    free(dev->library);
    vkb_backend *b = dev->backend;
    free(dev);
    vkb_validation_check(b, "device close");
}

aidev_status vkb_device_open(void *backend, uint32_t index, void **out_device)
{
    vkb_backend *b = backend;
    if (index >= b->device_count)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "vulkan: no device %u", index);
    vkb_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dev->backend = b;
    dev->phys = &b->devices[index];
    atomic_init(&dev->lost, false);
    atomic_init(&dev->next_compute_queue, 0);
    pthread_mutex_init(&dev->timeline_lock, NULL);
    pthread_mutex_init(&dev->processed_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&dev->processed_cond, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&dev->processed_waiters, 0);
    pthread_mutex_init(&dev->library_lock, NULL);
    pthread_mutex_init(&dev->clock_lock, NULL);
    pthread_mutex_init(&dev->queues_lock, NULL);
    dev->storage_align = dev->phys->props.limits.minStorageBufferOffsetAlignment;
    if (dev->storage_align == 0)
        dev->storage_align = 4;
    dev->library_count = aidev_backend_library_size();
    dev->library = calloc(dev->library_count ? dev->library_count : 1, sizeof *dev->library);

    aidev_status st = dev->library ? create_vk_device(dev)
                                   : aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                                             "out of host memory");
    if (st == AIDEV_SUCCESS) {
        setup_clock(dev);
        st = vkb_memory_init(dev);
    }
    if (st != AIDEV_SUCCESS) {
        /* Keep the message: teardown calls nothing that sets one. */
        vkb_device_close(dev);
        return st;
    }
    vkb_pipeline_cache_open(dev);
    *out_device = dev;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* How priorities apply (AIDEV_DEVICE_INFO_QUEUE_SCHEDULING and            */
/* AIDEV_QUEUE_INFO_SCHEDULING)                                             */
/* ------------------------------------------------------------------------ */

void vkb_describe_scheduling(vkb_physical *p)
{
    char priorities[128], global[160];
    if (p->compute_queue_count >= 3)
        snprintf(priorities, sizeof priorities,
                 "%u compute VkQueues, HIGH on one of priority 1.0, LOW on one of 0.0",
                 p->compute_queue_count);
    else
        snprintf(priorities, sizeof priorities,
                 "not applied, the compute family has %u VkQueue%s (3 needed: HIGH, NORMAL, LOW)",
                 p->compute_queue_count, p->compute_queue_count == 1 ? "" : "s");
    if (!p->ext_global_priority)
        snprintf(global, sizeof global, "not offered by the driver (no %s or %s)%s",
                 VK_KHR_GLOBAL_PRIORITY_EXTENSION_NAME, VK_EXT_GLOBAL_PRIORITY_EXTENSION_NAME,
                 vkb_opts.global_priority ? ", AIDEV_VULKAN_GLOBAL_PRIORITY not applied" : "");
    else if (vkb_opts.global_priority)
        snprintf(global, sizeof global, "%s asked by AIDEV_VULKAN_GLOBAL_PRIORITY (%s)",
                 global_priority_name(vkb_opts.global_priority), p->ext_global_priority);
    else
        snprintf(global, sizeof global,
                 "%s offered, the driver's default (set AIDEV_VULKAN_GLOBAL_PRIORITY)",
                 p->ext_global_priority);
    snprintf(p->info.queue_scheduling, sizeof p->info.queue_scheduling,
             "priorities: %s; global priority: %s; preemption: as the driver schedules; low "
             "latency: no (the driver's threads run the commands)",
             priorities, global);
}

aidev_status vkb_queue_create_desc(void *device, aidev_backend_queue_desc *desc, void **out_queue)
{
    const vkb_device *dev = device;
    static const char *const names[] = {"LOW", "NORMAL", "HIGH"};
    static const char *const levels[] = {"0.0", "0.5", "1.0"};
    const char *name = names[desc->priority - AIDEV_QUEUE_PRIORITY_LOW];
    const char *global = dev->global_priority_note;
    desc->priority_applied = dev->queue_priorities;
    if (dev->queue_priorities)
        snprintf(desc->scheduling, sizeof desc->scheduling, "%s: a VkQueue of priority %s%s%s",
                 name, levels[desc->priority - AIDEV_QUEUE_PRIORITY_LOW], global[0] ? "; " : "",
                 global);
    else
        snprintf(desc->scheduling, sizeof desc->scheduling,
                 "priority not applied: the device has %u compute VkQueue%s, shared round "
                 "robin%s%s",
                 dev->compute_queue_count, dev->compute_queue_count == 1 ? "" : "s",
                 global[0] ? "; " : "", global);
    return vkb_queue_create(device, desc->priority, out_queue);
}

/*
 * bench_vulkan.c - rows for the Vulkan backend, each against raw Vulkan on
 * the same physical device in the same run, with the same shader (the
 * SPIR-V glslc made from the same GLSL with the same flags):
 *
 *   vulkan.empty_dispatch_latency  aidev_enqueue_dispatch + aidev_queue_finish of
 *                                  an empty kernel, against: record a command
 *                                  buffer, submit it signalling a timeline
 *                                  semaphore, wait on it
 *   vulkan.pipelined_dispatch      1000 empty dispatches back to back, then
 *                                  finish, against one command buffer of 1000
 *                                  dispatches (a barrier between each, the
 *                                  same in-order semantics), one submit, one wait
 *   vulkan.axpy_16M                axpy over 16M floats in device memory, GB/s
 *                                  (12 bytes per element), against the same
 *                                  pipeline bound and dispatched by hand
 *   buffer.create_small[_host]     (bench_buffers.c) against vkCreateBuffer +
 *                                  vkAllocateMemory + vkBindBufferMemory and
 *                                  their destroy and free: device-local
 *                                  memory for DEVICE, host-visible coherent
 *                                  memory for HOST
 *
 * aidev's and raw runs alternate in rounds, and each row reports the median
 * of its rounds, so drift on a shared machine hits both alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vulkan/vulkan.h>

#include "bench.h"

static const uint32_t empty_spv[] =
#include "bench_empty.spv.h"
    ;
static const uint32_t axpy_spv[] =
#include "bench_axpy.spv.h"
    ;

/* ------------------------------------------------------------------------ */
/* Raw Vulkan                                                               */
/* ------------------------------------------------------------------------ */

typedef struct raw_vk {
    VkInstance instance;
    VkPhysicalDevice pd;
    VkPhysicalDeviceProperties props;
    VkDevice dev;
    VkQueue queue;
    uint32_t family;
    VkCommandPool pool;
    VkCommandBuffer cb;
    VkSemaphore sem;
    uint64_t value;
    VkPipelineLayout empty_layout;
    VkShaderModule empty_module;
    VkPipeline empty_pipeline;
    VkDescriptorSetLayout axpy_set_layout;
    VkPipelineLayout axpy_layout;
    VkShaderModule axpy_module;
    VkPipeline axpy_pipeline;
    VkDescriptorPool descriptor_pool;
    VkDescriptorSet axpy_set;
    VkBuffer x, y;
    VkDeviceMemory x_mem, y_mem;
} raw_vk;

#define VK_OK(call)                                                                           \
    do {                                                                                      \
        VkResult r_ = (call);                                                                 \
        if (r_ != VK_SUCCESS) {                                                               \
            fprintf(stderr, "aidev-bench: vulkan: %s failed: %d\n", #call, (int)r_);          \
            return false;                                                                     \
        }                                                                                     \
    } while (0)

/* The physical device with |uuid|. */
static bool raw_find(raw_vk *r, const uint8_t uuid[16])
{
    uint32_t n = 0;
    VK_OK(vkEnumeratePhysicalDevices(r->instance, &n, NULL));
    VkPhysicalDevice pds[16];
    if (n > 16)
        n = 16;
    VK_OK(vkEnumeratePhysicalDevices(r->instance, &n, pds));
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &id};
        vkGetPhysicalDeviceProperties2(pds[i], &p2);
        if (memcmp(id.deviceUUID, uuid, 16) == 0) {
            r->pd = pds[i];
            r->props = p2.properties;
            return true;
        }
    }
    return false;
}

static bool raw_device(raw_vk *r)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(r->pd, &n, NULL);
    VkQueueFamilyProperties fams[16];
    if (n > 16)
        n = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(r->pd, &n, fams);
    /* The family the backend takes: compute without graphics if any. */
    r->family = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (!(fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT))
            continue;
        if (r->family == UINT32_MAX || ((fams[r->family].queueFlags & VK_QUEUE_GRAPHICS_BIT) &&
                                        !(fams[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
            r->family = i;
    }
    if (r->family == UINT32_MAX)
        return false;
    float priority = 0.5f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = r->family,
                                  .queueCount = 1,
                                  .pQueuePriorities = &priority};
    VkPhysicalDeviceTimelineSemaphoreFeatures tl = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES,
        .timelineSemaphore = VK_TRUE};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &tl,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi};
    VK_OK(vkCreateDevice(r->pd, &di, NULL, &r->dev));
    vkGetDeviceQueue(r->dev, r->family, 0, &r->queue);
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = r->family};
    VK_OK(vkCreateCommandPool(r->dev, &pi, NULL, &r->pool));
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = r->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VK_OK(vkAllocateCommandBuffers(r->dev, &ai, &r->cb));
    VkSemaphoreTypeCreateInfo st = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                    .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &st};
    VK_OK(vkCreateSemaphore(r->dev, &si, NULL, &r->sem));
    return true;
}

static bool raw_pipeline(raw_vk *r, const uint32_t *code, size_t size, VkPipelineLayout layout,
                         VkShaderModule *module, VkPipeline *pipeline)
{
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = size,
                                   .pCode = code};
    VK_OK(vkCreateShaderModule(r->dev, &mi, NULL, module));
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = *module,
                  .pName = "main"},
        .layout = layout};
    VK_OK(vkCreateComputePipelines(r->dev, VK_NULL_HANDLE, 1, &ci, NULL, pipeline));
    return true;
}

static bool raw_buffer(raw_vk *r, VkDeviceSize size, VkBuffer *buf, VkDeviceMemory *mem)
{
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    VK_OK(vkCreateBuffer(r->dev, &bi, NULL, buf));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(r->dev, *buf, &req);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(r->pd, &mp);
    uint32_t type = UINT32_MAX;
    for (uint32_t t = 0; t < mp.memoryTypeCount && type == UINT32_MAX; t++)
        if ((req.memoryTypeBits & (1u << t)) &&
            (mp.memoryTypes[t].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT))
            type = t;
    if (type == UINT32_MAX)
        return false;
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = type};
    VK_OK(vkAllocateMemory(r->dev, &ai, NULL, mem));
    VK_OK(vkBindBufferMemory(r->dev, *buf, *mem, 0));
    return true;
}

static bool raw_submit_wait(raw_vk *r)
{
    uint64_t signal = ++r->value;
    VkTimelineSemaphoreSubmitInfo ts = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                        .signalSemaphoreValueCount = 1,
                                        .pSignalSemaphoreValues = &signal};
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .pNext = &ts,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &r->cb,
                       .signalSemaphoreCount = 1,
                       .pSignalSemaphores = &r->sem};
    VK_OK(vkQueueSubmit(r->queue, 1, &si, VK_NULL_HANDLE));
    VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                              .semaphoreCount = 1,
                              .pSemaphores = &r->sem,
                              .pValues = &signal};
    VK_OK(vkWaitSemaphores(r->dev, &wi, UINT64_MAX));
    return true;
}

static bool raw_begin(raw_vk *r)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_OK(vkBeginCommandBuffer(r->cb, &bi));
    return true;
}

static void raw_barrier(raw_vk *r)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(r->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

static bool raw_open(raw_vk *r, aidev_device dev)
{
    memset(r, 0, sizeof *r);
    uint8_t uuid[16];
    if (aidev_device_get_info(dev, AIDEV_DEVICE_INFO_UUID, sizeof uuid, uuid, NULL))
        return false;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "aidev-bench raw",
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ii = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app};
    VK_OK(vkCreateInstance(&ii, NULL, &r->instance));
    if (!raw_find(r, uuid) || !raw_device(r))
        return false;

    VkPipelineLayoutCreateInfo el = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    VK_OK(vkCreatePipelineLayout(r->dev, &el, NULL, &r->empty_layout));
    if (!raw_pipeline(r, empty_spv, sizeof empty_spv, r->empty_layout, &r->empty_module,
                      &r->empty_pipeline))
        return false;

    VkDescriptorSetLayoutBinding b[2] = {
        {0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL},
        {1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL}};
    VkDescriptorSetLayoutCreateInfo sl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = 2,
                                          .pBindings = b};
    VK_OK(vkCreateDescriptorSetLayout(r->dev, &sl, NULL, &r->axpy_set_layout));
    VkPushConstantRange pc = {VK_SHADER_STAGE_COMPUTE_BIT, 0, 8};
    VkPipelineLayoutCreateInfo al = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = 1,
                                     .pSetLayouts = &r->axpy_set_layout,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pc};
    VK_OK(vkCreatePipelineLayout(r->dev, &al, NULL, &r->axpy_layout));
    if (!raw_pipeline(r, axpy_spv, sizeof axpy_spv, r->axpy_layout, &r->axpy_module,
                      &r->axpy_pipeline))
        return false;
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 2};
    VkDescriptorPoolCreateInfo dp = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = 1,
                                     .poolSizeCount = 1,
                                     .pPoolSizes = &ps};
    VK_OK(vkCreateDescriptorPool(r->dev, &dp, NULL, &r->descriptor_pool));
    VkDescriptorSetAllocateInfo da = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = r->descriptor_pool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &r->axpy_set_layout};
    VK_OK(vkAllocateDescriptorSets(r->dev, &da, &r->axpy_set));
    return true;
}

static void raw_close(raw_vk *r)
{
    if (r->dev) {
        vkDeviceWaitIdle(r->dev);
        vkDestroyBuffer(r->dev, r->x, NULL);
        vkDestroyBuffer(r->dev, r->y, NULL);
        vkFreeMemory(r->dev, r->x_mem, NULL);
        vkFreeMemory(r->dev, r->y_mem, NULL);
        vkDestroyDescriptorPool(r->dev, r->descriptor_pool, NULL);
        vkDestroyPipeline(r->dev, r->axpy_pipeline, NULL);
        vkDestroyPipeline(r->dev, r->empty_pipeline, NULL);
        vkDestroyShaderModule(r->dev, r->axpy_module, NULL);
        vkDestroyShaderModule(r->dev, r->empty_module, NULL);
        vkDestroyPipelineLayout(r->dev, r->axpy_layout, NULL);
        vkDestroyPipelineLayout(r->dev, r->empty_layout, NULL);
        vkDestroyDescriptorSetLayout(r->dev, r->axpy_set_layout, NULL);
        vkDestroySemaphore(r->dev, r->sem, NULL);
        vkDestroyCommandPool(r->dev, r->pool, NULL);
        vkDestroyDevice(r->dev, NULL);
    }
    if (r->instance)
        vkDestroyInstance(r->instance, NULL);
}

/* One empty dispatch: record, submit, wait. Microseconds per round trip. */
static double raw_latency_us(raw_vk *r, int reps)
{
    double start = bench_now();
    for (int i = 0; i < reps; i++) {
        if (!raw_begin(r))
            return 0;
        vkCmdBindPipeline(r->cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->empty_pipeline);
        vkCmdDispatch(r->cb, 1, 1, 1);
        if (vkEndCommandBuffer(r->cb) != VK_SUCCESS || !raw_submit_wait(r))
            return 0;
    }
    return (bench_now() - start) / reps * 1e6;
}

/* |batch| dispatches in one command buffer, a barrier between each. */
static double raw_pipelined_per_s(raw_vk *r, int batch)
{
    double start = bench_now();
    if (!raw_begin(r))
        return 0;
    vkCmdBindPipeline(r->cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->empty_pipeline);
    for (int i = 0; i < batch; i++) {
        if (i)
            raw_barrier(r);
        vkCmdDispatch(r->cb, 1, 1, 1);
    }
    if (vkEndCommandBuffer(r->cb) != VK_SUCCESS || !raw_submit_wait(r))
        return 0;
    return batch / (bench_now() - start);
}

static bool raw_axpy_setup(raw_vk *r, uint32_t n)
{
    if (!raw_buffer(r, 4ull * n, &r->x, &r->x_mem) || !raw_buffer(r, 4ull * n, &r->y, &r->y_mem))
        return false;
    VkDescriptorBufferInfo bx = {r->x, 0, VK_WHOLE_SIZE}, by = {r->y, 0, VK_WHOLE_SIZE};
    VkWriteDescriptorSet w[2] = {
        {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = r->axpy_set, .dstBinding = 0,
         .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
         .pBufferInfo = &bx},
        {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = r->axpy_set, .dstBinding = 1,
         .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
         .pBufferInfo = &by}};
    vkUpdateDescriptorSets(r->dev, 2, w, 0, NULL);
    float one = 1.0f, two = 2.0f;
    uint32_t pone, ptwo;
    memcpy(&pone, &one, 4);
    memcpy(&ptwo, &two, 4);
    if (!raw_begin(r))
        return false;
    vkCmdFillBuffer(r->cb, r->x, 0, VK_WHOLE_SIZE, pone);
    vkCmdFillBuffer(r->cb, r->y, 0, VK_WHOLE_SIZE, ptwo);
    return vkEndCommandBuffer(r->cb) == VK_SUCCESS && raw_submit_wait(r);
}

/* One axpy over |n| floats: record, submit, wait. GB/s. */
static double raw_axpy_gbs(raw_vk *r, uint32_t n)
{
    struct {
        uint32_t n;
        float alpha;
    } push = {n, 0.5f};
    uint64_t groups = (n + 255) / 256; /* the form's workgroup (kernels/manifest.txt) */
    if (groups > r->props.limits.maxComputeWorkGroupCount[0])
        groups = r->props.limits.maxComputeWorkGroupCount[0];
    double start = bench_now();
    if (!raw_begin(r))
        return 0;
    vkCmdBindPipeline(r->cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->axpy_pipeline);
    vkCmdBindDescriptorSets(r->cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->axpy_layout, 0, 1,
                            &r->axpy_set, 0, NULL);
    vkCmdPushConstants(r->cb, r->axpy_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof push, &push);
    vkCmdDispatch(r->cb, (uint32_t)groups, 1, 1);
    if (vkEndCommandBuffer(r->cb) != VK_SUCCESS || !raw_submit_wait(r))
        return 0;
    return 12.0 * n / (bench_now() - start) / 1e9;
}

/* ------------------------------------------------------------------------ */
/* The rows                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ctx {
    const bench_options *opt;
    aidev_device dev;
    char name[256], backend[32], label[400];
    aidev_queue q;
    aidev_kernel empty;
    raw_vk raw;
} ctx;

static double aidev_latency_us(ctx *c, int reps)
{
    uint32_t grid[3] = {64, 1, 1};
    double start = bench_now();
    for (int i = 0; i < reps; i++) {
        aidev_enqueue_dispatch(c->q, c->empty, grid, NULL, 0, NULL, 0, NULL, NULL);
        aidev_queue_finish(c->q);
    }
    return (bench_now() - start) / reps * 1e6;
}

static double aidev_pipelined_per_s(ctx *c, int batch)
{
    uint32_t grid[3] = {64, 1, 1};
    double start = bench_now();
    for (int i = 0; i < batch; i++)
        aidev_enqueue_dispatch(c->q, c->empty, grid, NULL, 0, NULL, 0, NULL, NULL);
    aidev_queue_finish(c->q);
    return batch / (bench_now() - start);
}

/* Rounds alternate which side goes first (ABBA), so neither always runs
 * on a machine the other just warmed or loaded. */
#define ROUNDS 31

static void row_latency(ctx *c)
{
    const int reps = c->opt->quick ? 20 : 100;
    const int rounds = c->opt->quick ? 3 : ROUNDS;
    double ours[ROUNDS], base[ROUNDS];
    aidev_latency_us(c, reps / 4); /* warm-up: pipelines, pools */
    raw_latency_us(&c->raw, reps / 4);
    for (int i = 0; i < rounds; i++) {
        if (i % 2) {
            ours[i] = aidev_latency_us(c, reps);
            base[i] = raw_latency_us(&c->raw, reps);
        } else {
            base[i] = raw_latency_us(&c->raw, reps);
            ours[i] = aidev_latency_us(c, reps);
        }
    }
    snprintf(c->label, sizeof c->label, "raw Vulkan record+submit+wait (timeline)");
    bench_row row = {.name = "vulkan.empty_dispatch_latency",
                     .device = c->name,
                     .backend = c->backend,
                     .value = bench_median(ours, rounds),
                     .unit = "us (lower is better)",
                     .baseline = c->label,
                     .baseline_value = bench_median(base, rounds)};
    bench_emit(c->opt, &row);
}

static void row_pipelined(ctx *c)
{
    enum { BATCH = 1000 };
    double ours[ROUNDS], base[ROUNDS];
    aidev_pipelined_per_s(c, BATCH);
    raw_pipelined_per_s(&c->raw, BATCH);
    int rounds = c->opt->quick ? 3 : ROUNDS;
    for (int i = 0; i < rounds; i++) {
        if (i % 2) {
            ours[i] = aidev_pipelined_per_s(c, BATCH);
            base[i] = raw_pipelined_per_s(&c->raw, BATCH);
        } else {
            base[i] = raw_pipelined_per_s(&c->raw, BATCH);
            ours[i] = aidev_pipelined_per_s(c, BATCH);
        }
    }
    bench_row row = {.name = "vulkan.pipelined_dispatch",
                     .device = c->name,
                     .backend = c->backend,
                     .value = bench_median(ours, rounds),
                     .unit = "dispatch/s (higher is better)",
                     .baseline = "raw Vulkan: 1000 dispatches, 1 command buffer",
                     .baseline_value = bench_median(base, rounds)};
    bench_emit(c->opt, &row);
}

static void row_axpy(ctx *c)
{
    const uint32_t n = 16u << 20;
    aidev_kernel k;
    aidev_buffer bx, by;
    aidev_buffer_desc desc = {.size = 4ull * n, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    if (aidev_kernel_get(c->dev, "axpy", &k) != AIDEV_SUCCESS ||
        aidev_buffer_create(c->dev, &desc, &bx) != AIDEV_SUCCESS ||
        aidev_buffer_create(c->dev, &desc, &by) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: vulkan.axpy_16M: %s\n", aidev_last_error());
        return;
    }
    if (!raw_axpy_setup(&c->raw, n)) {
        fprintf(stderr, "aidev-bench: vulkan.axpy_16M: raw Vulkan setup failed\n");
        return;
    }
    float one = 1.0f, two = 2.0f;
    aidev_enqueue_fill(c->q, bx, 0, desc.size, &one, 4, 0, NULL, NULL);
    aidev_enqueue_fill(c->q, by, 0, desc.size, &two, 4, 0, NULL, NULL);
    aidev_queue_finish(c->q);
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(0.5f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    int rounds = c->opt->quick ? 3 : 11;
    double ours[ROUNDS], base[ROUNDS];
    for (int i = 0; i < rounds; i++) {
        if (i % 2 == 0)
            base[i] = raw_axpy_gbs(&c->raw, n);
        double start = bench_now();
        aidev_enqueue_dispatch(c->q, k, NULL, NULL, 4, args, 0, NULL, NULL);
        aidev_queue_finish(c->q);
        ours[i] = 12.0 * n / (bench_now() - start) / 1e9;
        if (i % 2)
            base[i] = raw_axpy_gbs(&c->raw, n);
    }
    bench_row row = {.name = "vulkan.axpy_16M",
                     .device = c->name,
                     .backend = c->backend,
                     .value = bench_median(ours, rounds),
                     .unit = "GB/s (higher is better)",
                     .baseline = "raw Vulkan, same SPIR-V",
                     .baseline_value = bench_median(base, rounds)};
    bench_emit(c->opt, &row);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
}

static double raw_create_round_us(void *arg, aidev_memory_kind kind, uint64_t size, int count,
                                  bool *ok)
{
    raw_vk *r = arg;
    static VkBuffer bufs[1000];
    static VkDeviceMemory mems[1000];
    if (count > 1000)
        count = 1000;
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(r->pd, &mp);
    VkMemoryPropertyFlags want = kind == AIDEV_MEMORY_DEVICE
                                     ? VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT
                                     : VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                           VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    int made = 0;
    double start = bench_now();
    for (; made < count; made++) {
        if (vkCreateBuffer(r->dev, &bi, NULL, &bufs[made]) != VK_SUCCESS)
            break;
        VkMemoryRequirements req;
        vkGetBufferMemoryRequirements(r->dev, bufs[made], &req);
        uint32_t type = 0;
        while (type < mp.memoryTypeCount &&
               (!(req.memoryTypeBits & (1u << type)) ||
                (mp.memoryTypes[type].propertyFlags & want) != want))
            type++;
        VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                   .allocationSize = req.size,
                                   .memoryTypeIndex = type};
        if (type == mp.memoryTypeCount ||
            vkAllocateMemory(r->dev, &ai, NULL, &mems[made]) != VK_SUCCESS) {
            vkDestroyBuffer(r->dev, bufs[made], NULL);
            break;
        }
        vkBindBufferMemory(r->dev, bufs[made], mems[made], 0);
    }
    for (int i = 0; i < made; i++) {
        vkDestroyBuffer(r->dev, bufs[i], NULL);
        vkFreeMemory(r->dev, mems[i], NULL);
    }
    double us = (bench_now() - start) / (made ? made : 1) * 1e6;
    if (made < count) {
        fprintf(stderr, "aidev-bench: buffer.create_small: raw Vulkan buffer %d failed\n", made);
        *ok = false;
    }
    return us;
}

static void bench_device(const bench_options *opt, aidev_device dev)
{
    ctx *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->opt = opt;
    c->dev = dev;
    bench_device_names(dev, c->name, sizeof c->name, c->backend, sizeof c->backend);
    const aidev_kernel_desc desc = {.name = "main", .source_kind = AIDEV_KERNEL_SOURCE_SPIRV,
                                    .data = empty_spv, .size = sizeof empty_spv};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &c->q) != AIDEV_SUCCESS ||
        aidev_kernel_create(dev, &desc, &c->empty) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: vulkan: %s\n", aidev_last_error());
        free(c);
        return;
    }
    if (!raw_open(&c->raw, dev)) {
        fprintf(stderr, "aidev-bench: vulkan: raw Vulkan could not open '%s'\n", c->name);
    } else {
        if (bench_selected(opt, "vulkan.empty_dispatch_latency"))
            row_latency(c);
        if (bench_selected(opt, "vulkan.pipelined_dispatch"))
            row_pipelined(c);
        if (bench_selected(opt, "vulkan.axpy_16M"))
            row_axpy(c);
        bench_raw_create rc = {
            .round_us = raw_create_round_us,
            .arg = &c->raw,
            .device_label = "vkCreateBuffer+vkAllocateMemory+bind (device-local)",
            .host_label = "vkCreateBuffer+vkAllocateMemory+bind (host-visible)",
        };
        bench_buffer_create_rows(opt, dev, c->name, c->backend, &rc);
    }
    raw_close(&c->raw);
    aidev_kernel_release(c->empty);
    aidev_queue_release(c->q);
    free(c);
}

void bench_vulkan(const bench_options *opt)
{
    uint32_t n = 0;
    aidev_context_get_devices(opt->context, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device dev;
        char backend[32] = "";
        aidev_context_get_device(opt->context, i, &dev);
        aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
        if (strcmp(backend, "vulkan") == 0)
            bench_device(opt, dev);
    }
}

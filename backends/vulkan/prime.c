/*
 * prime.c - a kernel's first pipeline made ready to run before
 * aidev_kernel_get / aidev_kernel_create returns (issue 18).
 *
 * Drivers that run on the CPU (lavapipe) translate a compute pipeline into
 * machine code only when it is first dispatched, not in
 * vkCreateComputePipelines: the first dispatch of a kernel paid its compile
 * (about 300 ms for the library's sgemm), so the first and the second
 * dispatch of a kernel cost very different times. On such devices the
 * kernel's first pipeline is dispatched once at creation with no workgroup
 * (vkCmdDispatch(0, 0, 0): nothing runs, nothing is read or written, but
 * the driver builds the pipeline's code to launch it). Every buffer binding
 * names a small scratch buffer and the push constants are zero, so that
 * the dispatch is valid (validation layers check bindings whatever the
 * group count). The submission goes to the least urgent compute VkQueue,
 * under its lock, and is waited for on a fence of its own, outside the lock.
 *
 * GPU drivers compile in vkCreateComputePipelines; they are not primed.
 */
#include <string.h>

#include "backends/vulkan/vk_internal.h"

/* Bytes of the scratch buffer every binding of the priming dispatch names. */
#define PRIME_BUFFER_BYTES 256

/* Records the priming dispatch of |pipeline| into |cb|; |pool| gives the
 * descriptor set where the kernel has no push descriptors. */
static VkResult record_prime(vkb_kernel *k, VkPipeline pipeline, VkCommandBuffer cb,
                             VkDescriptorPool pool, const vkb_buffer *scratch)
{
    vkb_device *dev = k->dev;
    const vkb_device_fns *f = &dev->f;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = f->vkBeginCommandBuffer(cb, &bi);
    if (r != VK_SUCCESS)
        return r;
    f->vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    if (k->buffer_count) {
        VkDescriptorBufferInfo info = {scratch->vk, scratch->offset, PRIME_BUFFER_BYTES};
        VkWriteDescriptorSet writes[AIDEV_MAX_KERNEL_ARGS];
        VkDescriptorSet set = VK_NULL_HANDLE;
        if (!k->push_descriptors) {
            VkDescriptorSetAllocateInfo ai = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                .descriptorPool = pool,
                .descriptorSetCount = 1,
                .pSetLayouts = &k->set_layout};
            r = f->vkAllocateDescriptorSets(dev->handle, &ai, &set);
            if (r != VK_SUCCESS)
                return r;
        }
        for (uint32_t i = 0; i < k->buffer_count; i++)
            writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                               .dstSet = set,
                                               .dstBinding = i,
                                               .descriptorCount = 1,
                                               .descriptorType =
                                                   VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .pBufferInfo = &info};
        if (k->push_descriptors) {
            f->vkCmdPushDescriptorSetKHR(cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0,
                                         k->buffer_count, writes);
        } else {
            f->vkUpdateDescriptorSets(dev->handle, k->buffer_count, writes, 0, NULL);
            f->vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set,
                                       0, NULL);
        }
    }
    if (k->push_size) {
        uint8_t zeros[VKB_PUSH_MAX] = {0};
        f->vkCmdPushConstants(cb, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->push_size,
                              zeros);
    }
    f->vkCmdDispatch(cb, 0, 0, 0);
    return f->vkEndCommandBuffer(cb);
}

/* Submits |cb| to the least urgent compute VkQueue and waits for it. */
static VkResult submit_and_wait(vkb_device *dev, VkCommandBuffer cb, VkFence fence)
{
    const vkb_device_fns *f = &dev->f;
    uint32_t qi = dev->compute_queue_count - 1;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &cb};
    pthread_mutex_lock(&dev->compute_locks[qi]);
    VkResult r = f->vkQueueSubmit(dev->compute_queues[qi], 1, &si, fence);
    pthread_mutex_unlock(&dev->compute_locks[qi]);
    if (r == VK_SUCCESS)
        r = f->vkWaitForFences(dev->handle, 1, &fence, VK_TRUE, UINT64_MAX);
    return r;
}

aidev_status vkb_kernel_prime(vkb_kernel *k, VkPipeline pipeline)
{
    vkb_device *dev = k->dev;
    if (dev->phys->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU)
        return AIDEV_SUCCESS;
    const vkb_device_fns *f = &dev->f;
    VkCommandPool cmd_pool = VK_NULL_HANDLE;
    VkDescriptorPool desc_pool = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    vkb_buffer *scratch = NULL;
    aidev_status scratch_st = AIDEV_SUCCESS;
    const char *call = "vkCreateCommandPool";
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                  .queueFamilyIndex = dev->phys->compute_family};
    VkResult r = f->vkCreateCommandPool(dev->handle, &pi, NULL, &cmd_pool);
    if (r != VK_SUCCESS) {
        cmd_pool = VK_NULL_HANDLE;
        goto out;
    }
    if (k->buffer_count) {
        scratch_st = vkb_buffer_alloc(dev, VKB_BUFFER_SCRATCH, PRIME_BUFFER_BYTES, &scratch);
        if (scratch_st != AIDEV_SUCCESS) {
            scratch = NULL;
            goto out; /* its message is set */
        }
    }
    if (k->buffer_count && !k->push_descriptors) {
        VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, k->buffer_count};
        VkDescriptorPoolCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                         .maxSets = 1,
                                         .poolSizeCount = 1,
                                         .pPoolSizes = &size};
        call = "vkCreateDescriptorPool";
        r = f->vkCreateDescriptorPool(dev->handle, &di, NULL, &desc_pool);
        if (r != VK_SUCCESS) {
            desc_pool = VK_NULL_HANDLE;
            goto out;
        }
    }
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkCommandBuffer cb;
    call = "vkAllocateCommandBuffers";
    r = f->vkAllocateCommandBuffers(dev->handle, &ai, &cb);
    if (r != VK_SUCCESS)
        goto out;
    call = "recording the priming dispatch";
    r = record_prime(k, pipeline, cb, desc_pool, scratch);
    if (r != VK_SUCCESS)
        goto out;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    call = "vkCreateFence";
    r = f->vkCreateFence(dev->handle, &fi, NULL, &fence);
    if (r != VK_SUCCESS) {
        fence = VK_NULL_HANDLE;
        goto out;
    }
    call = "vkQueueSubmit";
    r = submit_and_wait(dev, cb, fence);
out:
    if (fence)
        f->vkDestroyFence(dev->handle, fence, NULL);
    if (desc_pool)
        f->vkDestroyDescriptorPool(dev->handle, desc_pool, NULL);
    if (cmd_pool)
        f->vkDestroyCommandPool(dev->handle, cmd_pool, NULL);
    if (scratch)
        vkb_buffer_unref(scratch);
    if (scratch_st != AIDEV_SUCCESS)
        return scratch_st;
    if (r == VK_SUCCESS)
        return AIDEV_SUCCESS;
    if (r == VK_ERROR_DEVICE_LOST)
        return vkb_device_lost(dev, call, r);
    aidev_status st = vkb_status_of(r);
    if (st != AIDEV_ERROR_OUT_OF_DEVICE_MEMORY && st != AIDEV_ERROR_OUT_OF_HOST_MEMORY)
        st = AIDEV_ERROR_COMPILE;
    return aidev_backend_set_error(st, "vulkan: kernel '%s': priming its pipeline: %s failed: "
                                   "%s (%d)",
                                   k->name, call, vkb_result_name(r), (int)r);
}

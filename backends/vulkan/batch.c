/*
 * batch.c - batches: a command buffer and what its commands need until they
 * complete (buffers and kernels they use, read-backs, semaphore waits), and
 * the helpers every command records with (barriers, zero fills, the start
 * of a command). See queue.c for when batches are opened and submitted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */
/* ------------------------------------------------------------------------ */

static bool family_timestamps(const vkb_device *dev, vkb_family fam)
{
    if (!dev->timestamps)
        return false;
    return fam == VKB_FAMILY_COMPUTE || dev->transfer_family == dev->phys->compute_family ||
           dev->phys->transfer_timestamp_bits > 0;
}

static aidev_status ensure_pool(vkb_queue *q, vkb_family fam)
{
    if (q->pools[fam])
        return AIDEV_SUCCESS;
    vkb_device *dev = q->dev;
    VkCommandPoolCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex =
            fam == VKB_FAMILY_TRANSFER ? dev->transfer_family : dev->phys->compute_family,
    };
    VkResult r = dev->f.vkCreateCommandPool(dev->handle, &info, NULL, &q->pools[fam]);
    if (r != VK_SUCCESS) {
        q->pools[fam] = VK_NULL_HANDLE;
        return vkb_error("vkCreateCommandPool", r);
    }
    return AIDEV_SUCCESS;
}

void vkb_batch_free(vkb_batch *b)
{
    vkb_device *dev = b->queue->dev;
    if (b->query_pool)
        dev->f.vkDestroyQueryPool(dev->handle, b->query_pool, NULL);
    if (b->times)
        vkb_buffer_unref(b->times);
    for (uint32_t i = 0; i < b->descriptor_pool_count; i++)
        dev->f.vkDestroyDescriptorPool(dev->handle, b->descriptor_pools[i], NULL);
    free(b->descriptor_pools);
    free(b->buffers);
    free(b->kernels);
    free(b->reads);
    free(b->wait_sems);
    free(b->wait_values);
    free(b->wait_timelines);
    free(b); /* the command buffer goes with its pool */
}

static aidev_status batch_new(vkb_queue *q, vkb_family fam, vkb_batch **out)
{
    vkb_device *dev = q->dev;
    aidev_status st = ensure_pool(q, fam);
    if (st != AIDEV_SUCCESS)
        return st;
    vkb_batch *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    b->queue = q;
    b->family = fam;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = q->pools[fam],
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkResult r = dev->f.vkAllocateCommandBuffers(dev->handle, &ai, &b->cb);
    if (r != VK_SUCCESS) {
        free(b);
        return vkb_error("vkAllocateCommandBuffers", r);
    }
    if (family_timestamps(dev, fam)) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = 2};
        r = dev->f.vkCreateQueryPool(dev->handle, &qi, NULL, &b->query_pool);
        if (r != VK_SUCCESS)
            b->query_pool = VK_NULL_HANDLE; /* events get host times */
    }
    /* The batch copies its timestamps into host memory itself, where its
     * family may (copies of query results need a compute or graphics
     * queue): reading them with vkGetQueryPoolResults would cost a wait for
     * the whole device on lavapipe, which idles the device first, and the
     * event would complete only once every queue's work is done. */
    bool copies = fam == VKB_FAMILY_COMPUTE || dev->transfer_family == dev->phys->compute_family;
    if (b->query_pool && copies &&
        vkb_buffer_alloc(dev, VKB_BUFFER_STAGING, 2 * sizeof(uint64_t), &b->times) != AIDEV_SUCCESS)
        b->times = NULL; /* read from the pool */
    *out = b;
    return AIDEV_SUCCESS;
}

aidev_status vkb_batch_begin(vkb_queue *q, vkb_family fam)
{
    vkb_device *dev = q->dev;
    pthread_mutex_lock(&q->inflight_lock);
    vkb_batch *b = q->free_batches[fam];
    if (b)
        q->free_batches[fam] = b->next;
    pthread_mutex_unlock(&q->inflight_lock);
    if (!b) {
        aidev_status st = batch_new(q, fam, &b);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    b->next = NULL;
    for (uint32_t i = 0; i < b->descriptor_pool_used; i++)
        dev->f.vkResetDescriptorPool(dev->handle, b->descriptor_pools[i], 0);
    b->descriptor_pool_used = 0;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    /* The pool resets command buffers on begin. */
    VkResult r = dev->f.vkBeginCommandBuffer(b->cb, &bi);
    if (r != VK_SUCCESS) {
        pthread_mutex_lock(&q->inflight_lock);
        b->next = q->free_batches[fam];
        q->free_batches[fam] = b;
        pthread_mutex_unlock(&q->inflight_lock);
        return vkb_device_error(dev, "vkBeginCommandBuffer", r);
    }
    b->recording = true;
    b->value = ++q->last_value;
    b->commands = 0;
    b->dirty = false;
    b->wait_own = false;
    b->host_reads = false;
    b->watching = false;
    b->bound_pipeline = VK_NULL_HANDLE;
    b->bound_layout = VK_NULL_HANDLE;
    b->bound_desc_count = UINT32_MAX;
    b->bound_push_size = 0;
    b->signal = NULL;
    b->timed = false;
    b->needs_completion = false;
    q->open = b;
    return AIDEV_SUCCESS;
}

bool vkb_grow(void **array, uint32_t *capacity, uint32_t need, size_t elem)
{
    if (need <= *capacity)
        return true;
    uint32_t cap = *capacity ? *capacity * 2 : 8;
    while (cap < need)
        cap *= 2;
    void *p = realloc(*array, cap * elem);
    if (!p)
        return false;
    *array = p;
    *capacity = cap;
    return true;
}

bool vkb_batch_grow_waits(vkb_batch *b, uint32_t need)
{
    if (need <= b->wait_capacity)
        return true;
    uint32_t cap = b->wait_capacity ? b->wait_capacity * 2 : 8;
    while (cap < need)
        cap *= 2;
    VkSemaphore *sems = realloc(b->wait_sems, cap * sizeof *sems);
    if (!sems)
        return false;
    b->wait_sems = sems;
    uint64_t *values = realloc(b->wait_values, cap * sizeof *values);
    if (!values)
        return false;
    b->wait_values = values;
    vkb_timeline **tls = realloc(b->wait_timelines, cap * sizeof *tls);
    if (!tls)
        return false;
    b->wait_timelines = tls;
    b->wait_capacity = cap;
    return true;
}

bool vkb_batch_reserve(vkb_batch *b, uint32_t buffers)
{
    return vkb_grow((void **)&b->buffers, &b->buffer_capacity, b->buffer_count + buffers,
                sizeof *b->buffers) &&
           vkb_grow((void **)&b->kernels, &b->kernel_capacity, b->kernel_count + 1,
                sizeof *b->kernels) &&
           vkb_grow((void **)&b->reads, &b->read_capacity, b->read_count + 1, sizeof *b->reads);
}

bool vkb_batch_keep_buffer(vkb_batch *b, vkb_buffer *buf)
{
    /* Commands in a row mostly use the same buffers: one reference each. */
    for (uint32_t i = b->buffer_count, seen = 0; i > 0 && seen < 8; i--, seen++)
        if (b->buffers[i - 1] == buf)
            return true;
    if (!vkb_grow((void **)&b->buffers, &b->buffer_capacity, b->buffer_count + 1, sizeof *b->buffers))
        return false;
    vkb_buffer_ref(buf);
    b->buffers[b->buffer_count++] = buf;
    return true;
}

bool vkb_batch_keep_kernel(vkb_batch *b, vkb_kernel *k)
{
    for (uint32_t i = b->kernel_count, seen = 0; i > 0 && seen < 4; i--, seen++)
        if (b->kernels[i - 1] == k)
            return true;
    if (!vkb_grow((void **)&b->kernels, &b->kernel_capacity, b->kernel_count + 1, sizeof *b->kernels))
        return false;
    vkb_kernel_ref(k);
    b->kernels[b->kernel_count++] = k;
    return true;
}

aidev_status vkb_batch_descriptor_set(vkb_batch *b, VkDescriptorSetLayout layout,
                                      uint32_t binding_count, VkDescriptorSet *out)
{
    vkb_device *dev = b->queue->dev;
    (void)binding_count;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (b->descriptor_pool_used > 0) {
            VkDescriptorSetAllocateInfo ai = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                .descriptorPool = b->descriptor_pools[b->descriptor_pool_used - 1],
                .descriptorSetCount = 1,
                .pSetLayouts = &layout};
            VkResult r = dev->f.vkAllocateDescriptorSets(dev->handle, &ai, out);
            if (r == VK_SUCCESS)
                return AIDEV_SUCCESS;
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
                return vkb_error("vkAllocateDescriptorSets", r);
        }
        /* The next pool: a recycled one, or a new one. */
        if (b->descriptor_pool_used == b->descriptor_pool_count) {
            if (!vkb_grow((void **)&b->descriptor_pools, &b->descriptor_pool_capacity,
                      b->descriptor_pool_count + 1, sizeof *b->descriptor_pools))
                return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                               "out of host memory");
            VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                         .descriptorCount = 64 * AIDEV_MAX_KERNEL_ARGS};
            VkDescriptorPoolCreateInfo pi = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                .maxSets = 64,
                .poolSizeCount = 1,
                .pPoolSizes = &size};
            VkDescriptorPool pool;
            VkResult r = dev->f.vkCreateDescriptorPool(dev->handle, &pi, NULL, &pool);
            if (r != VK_SUCCESS)
                return vkb_error("vkCreateDescriptorPool", r);
            b->descriptor_pools[b->descriptor_pool_count++] = pool;
        }
        b->descriptor_pool_used++;
    }
    return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                                   "vulkan: a fresh descriptor pool holds no set");
}

void vkb_batch_retire(vkb_batch *b, aidev_status status, const char *why)
{
    vkb_queue *q = b->queue;
    for (uint32_t i = 0; i < b->buffer_count; i++)
        vkb_buffer_unref(b->buffers[i]);
    for (uint32_t i = 0; i < b->kernel_count; i++)
        vkb_kernel_unref(b->kernels[i]);
    b->buffer_count = b->kernel_count = b->read_count = b->wait_count = 0;
    aidev_backend_event *signal = b->signal;
    b->signal = NULL;
    b->recording = false;
    if (b->virtual_only) {
        free(b);
    } else {
        pthread_mutex_lock(&q->inflight_lock);
        b->next = q->free_batches[b->family];
        q->free_batches[b->family] = b;
        pthread_mutex_unlock(&q->inflight_lock);
    }
    /* Last: a callback may enqueue again, and reuse the batch. */
    if (signal)
        aidev_backend_event_complete(signal, status, status == AIDEV_SUCCESS ? NULL : "%s",
                                     why ? why : "");
}

/* ------------------------------------------------------------------------ */
/* Recording helpers                                                        */
/* ------------------------------------------------------------------------ */

void vkb_cmd_barrier(vkb_device *dev, VkCommandBuffer cb)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    dev->f.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

void vkb_cmd_zero_if_needed(vkb_batch *b, vkb_buffer *buf)
{
    if (!atomic_load_explicit(&buf->needs_zero, memory_order_relaxed) ||
        !atomic_exchange(&buf->needs_zero, false))
        return;
    /* Ranges are multiples of 64 bytes at 64-byte offsets: fill's rules. */
    b->queue->dev->f.vkCmdFillBuffer(b->cb, buf->vk, buf->offset, buf->alloc_size, 0);
    b->dirty = true;
}

void vkb_batch_end_times(vkb_batch *b)
{
    const vkb_device_fns *f = &b->queue->dev->f;
    f->vkCmdWriteTimestamp(b->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, b->query_pool, 1);
    if (!b->times)
        return;
    /* WAIT: the copy takes the values once both are written. */
    f->vkCmdCopyQueryPoolResults(b->cb, b->query_pool, 0, 2, b->times->vk, b->times->offset,
                                 sizeof(uint64_t),
                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    f->vkCmdPipelineBarrier(b->cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0,
                            1, &hb, 0, NULL, 0, NULL);
}

void vkb_batch_host_visible(vkb_batch *b, const vkb_buffer *buf)
{
    if (buf->host)
        b->host_reads = true;
}

/* The barrier that orders a command after the queue's earlier ones, then
 * the start timestamp of a command that signals an event. A barrier's first
 * scope takes in the earlier submissions to the same VkQueue too; the first
 * command of a batch that follows one on another VkQueue (a family switch)
 * needs none: the batch waits on the queue's semaphore (submit_open). */
void vkb_command_begin(vkb_queue *q, vkb_batch *b)
{
    vkb_device *dev = q->dev;
    bool after_same_queue = q->submitted_value > q->first_value && b->family == q->last_family;
    if (!b->dirty && after_same_queue &&
        __atomic_load_n(&q->done_hint, __ATOMIC_RELAXED) >= q->submitted_value) {
        /* The previous batch is known done: a wait on its (signalled)
         * value orders this one without the drain a barrier costs on some
         * drivers (submit_open adds it). */
        b->wait_own = true;
    } else if (b->dirty || after_same_queue) {
        vkb_cmd_barrier(dev, b->cb);
    }
    b->dirty = true;
    if (b->timed) {
        dev->f.vkCmdResetQueryPool(b->cb, b->query_pool, 0, 2);
        dev->f.vkCmdWriteTimestamp(b->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, b->query_pool, 0);
    }
}



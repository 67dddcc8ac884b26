/*
 * transfer.c - the commands that move bytes: write (through staging),
 * read (into staging, copied to the host when the batch completes), copy,
 * fill. Each records into the queue's open batch after vkb_command_begin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

static aidev_status out_of_memory(void)
{
    return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
}

/* ------------------------------------------------------------------------ */
/* The commands                                                             */
/* ------------------------------------------------------------------------ */

aidev_status vkb_record_write(vkb_queue *q, vkb_batch *b, const aidev_backend_command *cmd)
{
    vkb_device *dev = q->dev;
    vkb_buffer *dst = cmd->u.write.buffer;
    uint64_t offset = cmd->u.write.offset, size = cmd->u.write.size;
    if (!vkb_batch_reserve(b, 2))
        return out_of_memory();
    /* The caller's bytes go to staging now, so its memory is free once
     * this returns; the copy runs in queue order. */
    vkb_buffer *stage;
    aidev_status st = vkb_buffer_alloc(dev, VKB_BUFFER_STAGING, size, &stage);
    if (st != AIDEV_SUCCESS)
        return st;
    memcpy(stage->host, cmd->u.write.src, size);
    st = vkb_buffer_flush(stage, 0, size);
    if (st != AIDEV_SUCCESS) {
        vkb_buffer_unref(stage);
        return st;
    }
    vkb_batch_keep_buffer(b, stage);
    vkb_buffer_unref(stage);
    vkb_batch_keep_buffer(b, dst);
    vkb_batch_host_visible(b, dst);
    if (offset == 0 && size >= dst->size)
        atomic_store(&dst->needs_zero, false);
    else
        vkb_cmd_zero_if_needed(b, dst);
    vkb_command_begin(q, b);
    VkBufferCopy region = {stage->offset, dst->offset + offset, size};
    dev->f.vkCmdCopyBuffer(b->cb, stage->vk, dst->vk, 1, &region);
    return AIDEV_SUCCESS;
}

aidev_status vkb_record_read(vkb_queue *q, vkb_batch *b, const aidev_backend_command *cmd)
{
    vkb_device *dev = q->dev;
    vkb_buffer *src = cmd->u.read.buffer;
    uint64_t offset = cmd->u.read.offset, size = cmd->u.read.size;
    if (!vkb_batch_reserve(b, 2))
        return out_of_memory();
    vkb_buffer *stage;
    aidev_status st = vkb_buffer_alloc(dev, VKB_BUFFER_STAGING, size, &stage);
    if (st != AIDEV_SUCCESS)
        return st;
    vkb_batch_keep_buffer(b, stage);
    vkb_buffer_unref(stage);
    vkb_batch_keep_buffer(b, src);
    vkb_cmd_zero_if_needed(b, src);
    vkb_command_begin(q, b);
    VkBufferCopy region = {src->offset + offset, stage->offset, size};
    dev->f.vkCmdCopyBuffer(b->cb, src->vk, stage->vk, 1, &region);
    /* The host copy happens when the batch completes (completion.c). */
    b->reads[b->read_count++] = (vkb_readback){stage, size, cmd->u.read.dst};
    b->host_reads = true;
    return AIDEV_SUCCESS;
}

aidev_status vkb_record_copy(vkb_queue *q, vkb_batch *b, const aidev_backend_command *cmd)
{
    vkb_device *dev = q->dev;
    vkb_buffer *src = cmd->u.copy.src, *dst = cmd->u.copy.dst;
    if (!vkb_batch_reserve(b, 2))
        return out_of_memory();
    vkb_batch_keep_buffer(b, src);
    vkb_batch_keep_buffer(b, dst);
    vkb_batch_host_visible(b, dst);
    vkb_cmd_zero_if_needed(b, src);
    if (cmd->u.copy.dst_offset == 0 && cmd->u.copy.size >= dst->size)
        atomic_store(&dst->needs_zero, false);
    else
        vkb_cmd_zero_if_needed(b, dst);
    vkb_command_begin(q, b);
    VkBufferCopy region = {src->offset + cmd->u.copy.src_offset,
                           dst->offset + cmd->u.copy.dst_offset, cmd->u.copy.size};
    dev->f.vkCmdCopyBuffer(b->cb, src->vk, dst->vk, 1, &region);
    return AIDEV_SUCCESS;
}

/* vkCmdFillBuffer takes 4-byte aligned ranges: the aligned middle is one
 * fill, the bytes before and after it are copied from a staging word that
 * holds the pattern. */
aidev_status vkb_record_fill(vkb_queue *q, vkb_batch *b, const aidev_backend_command *cmd)
{
    vkb_device *dev = q->dev;
    vkb_buffer *dst = cmd->u.fill.buffer;
    uint64_t offset = cmd->u.fill.offset, size = cmd->u.fill.size;
    uint32_t word = cmd->u.fill.pattern;
    uint64_t head = (4 - offset % 4) % 4;
    if (head > size)
        head = size;
    uint64_t body = (size - head) / 4 * 4, tail = size - head - body;
    if (!vkb_batch_reserve(b, 2))
        return out_of_memory();
    vkb_buffer *stage = NULL;
    aidev_status st;
    if (head || tail) {
        st = vkb_buffer_alloc(dev, VKB_BUFFER_STAGING, 8, &stage);
        if (st != AIDEV_SUCCESS)
            return st;
        /* Byte k of the replicated word belongs at offsets = k (mod 4). */
        memcpy(stage->host, &word, 4);
        memcpy(stage->host + 4, &word, 4);
        st = vkb_buffer_flush(stage, 0, 8);
        if (st != AIDEV_SUCCESS) {
            vkb_buffer_unref(stage);
            return st;
        }
        vkb_batch_keep_buffer(b, stage);
        vkb_buffer_unref(stage);
    }
    vkb_batch_keep_buffer(b, dst);
    vkb_batch_host_visible(b, dst);
    if (offset == 0 && size >= dst->size)
        atomic_store(&dst->needs_zero, false);
    else
        vkb_cmd_zero_if_needed(b, dst);
    vkb_command_begin(q, b);
    if (body)
        dev->f.vkCmdFillBuffer(b->cb, dst->vk, dst->offset + offset + head, body, word);
    VkBufferCopy regions[2];
    uint32_t n = 0;
    if (head)
        regions[n++] = (VkBufferCopy){stage->offset + offset % 4, dst->offset + offset, head};
    if (tail)
        regions[n++] = (VkBufferCopy){stage->offset, dst->offset + offset + head + body, tail};
    if (n)
        dev->f.vkCmdCopyBuffer(b->cb, stage->vk, dst->vk, n, regions);
    return AIDEV_SUCCESS;
}


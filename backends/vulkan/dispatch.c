/*
 * dispatch.c - recording a dispatch: arguments bound (realigned through
 * scratch copies where their offset cannot be bound), push constants,
 * workgroup counts per launch mode, and the passes of a reduction. See
 * kernel.c for the layout conventions and the launch modes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

/* The bytes argument |i| touches, or UINT64_MAX when unknown. */
static uint64_t needed_bytes(const vkb_kernel *k, uint32_t i, const aidev_backend_arg *args)
{
    const vkb_arg_info *a = &k->args[i];
    if (!a->count_factors)
        return UINT64_MAX;
    uint64_t v = aidev_type_size(a->type);
    for (uint8_t f = 0; f < a->count_factors; f++) {
        uint64_t x = 0;
        if (a->count_arg[f] < 0) {
            x = a->count_const[f];
        } else {
            const aidev_backend_arg *s = &args[a->count_arg[f]];
            switch (s->type) {
            case AIDEV_TYPE_U32: x = s->u.u32; break;
            case AIDEV_TYPE_I32: x = s->u.i32 < 0 ? 0 : (uint64_t)s->u.i32; break;
            case AIDEV_TYPE_U64: x = s->u.u64; break;
            case AIDEV_TYPE_I64: x = s->u.i64 < 0 ? 0 : (uint64_t)s->u.i64; break;
            default: return UINT64_MAX;
            }
        }
        if (x && v > UINT64_MAX / x)
            return UINT64_MAX;
        v *= x;
    }
    return v;
}


/* Where a buffer argument is bound. */
typedef struct bound_buffer {
    vkb_buffer *user;       /* the argument's buffer */
    uint64_t user_offset;   /* offset of the argument in |user->vk| */
    vkb_buffer *scratch;    /* realigned copy, or NULL */
    VkBuffer vk;
    uint64_t offset, range;
    bool writes;            /* the kernel may write it */
    bool copy_back;
} bound_buffer;

typedef struct dispatch_plan {
    vkb_kernel *kernel;
    uint32_t count;         /* bindings in use */
    VkPipeline pipeline;
    uint32_t groups[3];
    bound_buffer bufs[AIDEV_MAX_KERNEL_ARGS]; /* by binding */
    uint8_t push[VKB_PUSH_MAX];
    /* REDUCE: scratch for the intermediate passes. */
    vkb_buffer *reduce_scratch[2];
} dispatch_plan;

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

/* Binds |bytes| at |offset| of |buf|, realigned through scratch when the
 * offset is not a multiple of the device's storage alignment. */
static aidev_status plan_buffer(vkb_device *dev, const vkb_kernel *k, uint32_t arg,
                                vkb_buffer *buf, uint64_t offset, uint64_t avail, uint64_t need,
                                bound_buffer *out)
{
    uint64_t max_range = dev->phys->max_storage_range;
    uint64_t bytes = need < avail ? need : avail;
    if (bytes > max_range) {
        if (need != UINT64_MAX)
            return aidev_backend_set_error(
                AIDEV_ERROR_UNSUPPORTED,
                "vulkan: kernel '%s': argument %u needs %llu bytes, above the %llu bytes one "
                "storage buffer binding may span on '%s' (maxStorageBufferRange)",
                k->name, arg, (unsigned long long)need, (unsigned long long)max_range,
                dev->phys->props.deviceName);
        /* The kernel did not say how much it touches: bind what the device
         * allows. */
        bytes = max_range;
    }
    memset(out, 0, sizeof *out);
    out->user = buf;
    out->user_offset = buf->offset + offset;
    out->writes = k->args[arg].access != AIDEV_ACCESS_READ;
    out->copy_back = out->writes;
    if (bytes == 0) {
        /* Nothing touched, but a binding needs a non-empty range. */
        out->vk = buf->vk;
        out->offset = buf->offset;
        out->range = buf->alloc_size < max_range ? buf->alloc_size : max_range;
        out->copy_back = false;
        return AIDEV_SUCCESS;
    }
    /* Whole words: a kernel that reads its buffer as uint[] (the tensor
     * kernels take 8- and 16-bit elements out of 32-bit words) must see
     * the last, partial word, which a range ending inside it cuts off. The
     * allocation holds it: a pooled buffer's is rounded up to the pool's
     * alignment, an imported one's block to the import alignment. */
    if (bytes % 4) {
        uint64_t end = buf->block->pool ? buf->alloc_size : buf->block->size - buf->offset;
        uint64_t up = bytes + (4 - bytes % 4);
        if (offset < end && up <= end - offset && up <= max_range)
            bytes = up;
    }
    out->range = bytes;
    if (out->user_offset % dev->storage_align == 0) {
        out->vk = buf->vk;
        out->offset = out->user_offset;
        return AIDEV_SUCCESS;
    }
    aidev_status st = vkb_buffer_alloc(dev, VKB_BUFFER_SCRATCH, div_up(bytes, 4) * 4,
                                       &out->scratch);
    if (st != AIDEV_SUCCESS)
        return st;
    out->vk = out->scratch->vk;
    out->offset = out->scratch->offset;
    return AIDEV_SUCCESS;
}

static void plan_release(dispatch_plan *p)
{
    for (uint32_t i = 0; i < p->count; i++)
        if (p->bufs[i].scratch)
            vkb_buffer_unref(p->bufs[i].scratch);
    for (int i = 0; i < 2; i++)
        if (p->reduce_scratch[i])
            vkb_buffer_unref(p->reduce_scratch[i]);
}

/* Workgroup counts of an ITEMS, GROUPS or user launch. */
static aidev_status plan_groups(vkb_device *dev, const vkb_kernel *k, const uint32_t grid[3],
                                const uint32_t wg[3], uint32_t groups[3])
{
    const uint32_t *max = dev->phys->props.limits.maxComputeWorkGroupCount;
    for (int d = 0; d < 3; d++) {
        uint64_t g = k->launch == AIDEV_LAUNCH_GROUPS && d == 0 ? grid[0] : div_up(grid[d], wg[d]);
        if (g > max[d]) {
            /* The library's forms stride over dimension 0. */
            if (k->library && d == 0) {
                g = max[0];
            } else {
                return aidev_backend_set_error(
                    AIDEV_ERROR_UNSUPPORTED,
                    "vulkan: kernel '%s': grid[%d] = %u needs %llu workgroups of %u, above the "
                    "%u that '%s' allows (maxComputeWorkGroupCount)",
                    k->name, d, grid[d], (unsigned long long)g, wg[d], max[d],
                    dev->phys->props.deviceName);
            }
        }
        groups[d] = (uint32_t)g;
    }
    return AIDEV_SUCCESS;
}

static void push_args(const vkb_kernel *k, const aidev_backend_command *cmd, uint8_t *push)
{
    const aidev_backend_arg *args = cmd->u.dispatch.args;
    memset(push, 0, k->push_size);
    for (uint32_t i = 0; i < k->arg_count; i++)
        if (k->args[i].kind == AIDEV_ARG_SCALAR)
            memcpy(push + k->args[i].push_offset, &args[i].u, k->args[i].push_size);
    if (k->grid_push_offset != UINT32_MAX)
        memcpy(push + k->grid_push_offset, cmd->u.dispatch.grid, 3 * sizeof(uint32_t));
}

/* Whether the command buffer already holds |count| buffers as |infos| and
 * |size| bytes of push constants as |push|, set with |layout|. Another
 * layout invalidates what the buffer holds: sets and push constants bound
 * with one layout are not guaranteed to the pipelines of another. */
static void bound_state_for(vkb_batch *b, VkPipelineLayout layout)
{
    if (b->bound_layout == layout)
        return;
    b->bound_layout = layout;
    b->bound_desc_count = UINT32_MAX;
    b->bound_push_size = 0;
}

/* Binds |count| buffers (by binding) and the push constants, then
 * dispatches. What the command buffer already holds from the previous
 * dispatch (pipeline, buffers, push constants) is not recorded again: a
 * stream of dispatches of one kernel records little more than the
 * dispatches. */
static aidev_status emit_dispatch(vkb_batch *b, vkb_kernel *k, VkPipeline pipeline,
                                  const bound_buffer *bufs, uint32_t count, const void *push,
                                  const uint32_t groups[3])
{
    vkb_device *dev = b->queue->dev;
    const vkb_device_fns *f = &dev->f;
    bound_state_for(b, k->layout);
    if (count) {
        VkDescriptorBufferInfo infos[AIDEV_MAX_KERNEL_ARGS];
        for (uint32_t i = 0; i < count; i++)
            infos[i] = (VkDescriptorBufferInfo){bufs[i].vk, bufs[i].offset, bufs[i].range};
        if (b->bound_desc_count != count || memcmp(b->bound_desc, infos, count * sizeof infos[0])) {
            VkDescriptorSet set = VK_NULL_HANDLE;
            if (!k->push_descriptors) {
                aidev_status st = vkb_batch_descriptor_set(b, k->set_layout, count, &set);
                if (st != AIDEV_SUCCESS)
                    return st;
            }
            VkWriteDescriptorSet writes[AIDEV_MAX_KERNEL_ARGS];
            for (uint32_t i = 0; i < count; i++)
                writes[i] = (VkWriteDescriptorSet){
                    .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                    .dstSet = set,
                    .dstBinding = i,
                    .descriptorCount = 1,
                    .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                    .pBufferInfo = &infos[i]};
            if (k->push_descriptors) {
                f->vkCmdPushDescriptorSetKHR(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0,
                                             count, writes);
            } else {
                f->vkUpdateDescriptorSets(dev->handle, count, writes, 0, NULL);
                f->vkCmdBindDescriptorSets(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1,
                                           &set, 0, NULL);
            }
            memcpy(b->bound_desc, infos, count * sizeof infos[0]);
            b->bound_desc_count = count;
        }
    }
    if (b->bound_pipeline != pipeline) {
        f->vkCmdBindPipeline(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        b->bound_pipeline = pipeline;
    }
    if (k->push_size &&
        (b->bound_push_size != k->push_size || memcmp(b->bound_push, push, k->push_size))) {
        f->vkCmdPushConstants(b->cb, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->push_size,
                              push);
        memcpy(b->bound_push, push, k->push_size);
        b->bound_push_size = k->push_size;
    }
    f->vkCmdDispatch(b->cb, groups[0], groups[1], groups[2]);
    return AIDEV_SUCCESS;
}

/* The passes of a REDUCE launch: each folds runs of local * per elements
 * into one, until one is left in the output. */
static aidev_status emit_reduce(vkb_batch *b, dispatch_plan *p, uint32_t n)
{
    vkb_kernel *k = p->kernel;
    vkb_device *dev = b->queue->dev;
    uint64_t run = (uint64_t)k->local[0] * k->items_per_thread;
    uint64_t esize = k->reduce_elem_size;
    /* Chunks keep both bindings' offsets aligned. */
    uint64_t unit = dev->storage_align;
    while (unit % esize)
        unit += dev->storage_align;
    unit /= esize;
    uint64_t max_groups = dev->phys->props.limits.maxComputeWorkGroupCount[0];
    uint64_t chunk = max_groups / unit * unit;
    if (chunk == 0)
        chunk = max_groups;

    bound_buffer in = p->bufs[0], out;
    uint64_t count = n;
    int pass = 0;
    for (;;) {
        uint64_t groups = count ? div_up(count, run) : 1;
        bool last = groups == 1;
        if (last) {
            out = p->bufs[1];
        } else {
            vkb_buffer *s = p->reduce_scratch[pass % 2];
            out = (bound_buffer){.vk = s->vk, .offset = s->offset, .range = groups * esize};
        }
        for (uint64_t first = 0; first < groups; first += chunk) {
            uint64_t g = groups - first < chunk ? groups - first : chunk;
            uint64_t done = first * run;
            uint32_t chunk_n = (uint32_t)(count - done < g * run ? count - done : g * run);
            bound_buffer bind[2] = {in, out};
            bind[0].offset += done * esize;
            bind[0].range = chunk_n ? chunk_n * esize : in.range;
            if (bind[0].range > in.range - (bind[0].offset - in.offset))
                bind[0].range = in.range - (bind[0].offset - in.offset);
            bind[1].offset += first * esize;
            bind[1].range = last ? out.range : g * esize;
            uint32_t groups3[3] = {(uint32_t)g, 1, 1};
            aidev_status st = emit_dispatch(b, k, p->pipeline, bind, 2, &chunk_n, groups3);
            if (st != AIDEV_SUCCESS)
                return st;
        }
        if (last)
            return AIDEV_SUCCESS;
        vkb_cmd_barrier(dev, b->cb);
        in = out;
        count = groups;
        pass++;
    }
}

/* The pipeline for the dispatch's workgroup: the form's, or the module's
 * unless the dispatch names one its specialization constants can take. */
static aidev_status plan_pipeline(vkb_kernel *k, const aidev_backend_command *cmd, uint32_t wg[3],
                                  VkPipeline *out)
{
    memcpy(wg, k->local, 3 * sizeof wg[0]);
    const uint32_t *want = cmd->u.dispatch.workgroup;
    if (!k->library && (want[0] || want[1] || want[2])) {
        for (int d = 0; d < 3; d++) {
            uint32_t w = want[d] ? want[d] : 1;
            if (w == k->local[d])
                continue;
            if (k->local_spec_id[d] == UINT32_MAX)
                return aidev_backend_set_error(
                    AIDEV_ERROR_KERNEL_ARGS,
                    "vulkan: kernel '%s': workgroup[%d] = %u, but the module fixes it at %u "
                    "(declare local_size_%c_id to choose it at dispatch)",
                    k->name, d, w, k->local[d], "xyz"[d]);
            wg[d] = w;
        }
    }
    return vkb_kernel_pipeline(k, wg, out);
}

static bool memo_matches(const vkb_dispatch_memo *m, const vkb_kernel *k,
                         const aidev_backend_command *cmd)
{
    return m->kernel_uid == k->uid &&
           memcmp(m->grid, cmd->u.dispatch.grid, sizeof m->grid) == 0 &&
           memcmp(m->workgroup, cmd->u.dispatch.workgroup, sizeof m->workgroup) == 0;
}

static aidev_status plan_dispatch(vkb_queue *q, vkb_kernel *k, const aidev_backend_command *cmd,
                                  dispatch_plan *p)
{
    vkb_device *dev = q->dev;
    const aidev_backend_arg *args = cmd->u.dispatch.args;
    /* Only what is used: this runs for every dispatch. */
    p->kernel = k;
    p->count = k->buffer_count;
    if (p->count)
        memset(p->bufs, 0, p->count * sizeof p->bufs[0]);
    p->reduce_scratch[0] = p->reduce_scratch[1] = NULL;
    aidev_status st = AIDEV_SUCCESS;

    /* The same kernel, grid and workgroup as the queue's last dispatch:
     * its pipeline and group counts hold (REDUCE plans its passes each
     * time, and is not kept). */
    vkb_dispatch_memo *memo = &q->memo;
    bool memoized = k->launch != AIDEV_LAUNCH_REDUCE && memo_matches(memo, k, cmd);
    uint32_t wg[3];
    if (memoized) {
        p->pipeline = memo->pipeline;
    } else {
        st = plan_pipeline(k, cmd, wg, &p->pipeline);
        if (st != AIDEV_SUCCESS)
            return st;
    }

    for (uint32_t i = 0; i < k->arg_count && st == AIDEV_SUCCESS; i++) {
        if (k->args[i].kind != AIDEV_ARG_BUFFER)
            continue;
        if (k->launch == AIDEV_LAUNCH_REDUCE && (int32_t)i != k->reduce_in &&
            (int32_t)i != k->reduce_out)
            continue;
        bound_buffer *bb = &p->bufs[k->args[i].binding];
        st = plan_buffer(dev, k, i, args[i].u.buffer.buffer, args[i].u.buffer.offset,
                         args[i].u.buffer.size, needed_bytes(k, i, args), bb);
        /* One argument passed twice at one unaligned place gets one scratch
         * copy (the larger range), so the kernel sees them alias as they do
         * in the buffer. */
        for (uint32_t j = 0; st == AIDEV_SUCCESS && bb->scratch && j < p->count; j++) {
            bound_buffer *other = &p->bufs[j];
            if (other == bb || !other->scratch || other->user != bb->user ||
                other->user_offset != bb->user_offset)
                continue;
            bound_buffer *keep = other->range >= bb->range ? other : bb;
            bound_buffer *drop = keep == other ? bb : other;
            bool writes = bb->writes || other->writes;
            vkb_buffer_unref(drop->scratch);
            *drop = *keep;
            vkb_buffer_ref(keep->scratch);
            keep->writes = drop->writes = keep->copy_back = drop->copy_back = writes;
            break;
        }
    }
    if (st != AIDEV_SUCCESS)
        return st;

    if (k->launch == AIDEV_LAUNCH_REDUCE) {
        uint32_t n = args[k->reduce_n].u.u32;
        uint64_t run = (uint64_t)k->local[0] * k->items_per_thread;
        uint64_t groups = n ? div_up(n, run) : 1;
        /* Ping-pong scratch: pass 1 writes |groups| values, pass 2 fewer. */
        if (groups > 1)
            st = vkb_buffer_alloc(dev, VKB_BUFFER_SCRATCH, groups * k->reduce_elem_size,
                                  &p->reduce_scratch[0]);
        uint64_t groups2 = div_up(groups, run);
        if (st == AIDEV_SUCCESS && groups2 > 1)
            st = vkb_buffer_alloc(dev, VKB_BUFFER_SCRATCH, groups2 * k->reduce_elem_size,
                                  &p->reduce_scratch[1]);
        return st;
    }
    if (k->push_size)
        push_args(k, cmd, p->push);
    if (memoized) {
        memcpy(p->groups, memo->groups, sizeof p->groups);
        return AIDEV_SUCCESS;
    }
    st = plan_groups(dev, k, cmd->u.dispatch.grid, wg, p->groups);
    if (st == AIDEV_SUCCESS) {
        memo->kernel_uid = k->uid;
        memcpy(memo->grid, cmd->u.dispatch.grid, sizeof memo->grid);
        memcpy(memo->workgroup, cmd->u.dispatch.workgroup, sizeof memo->workgroup);
        memo->pipeline = p->pipeline;
        memcpy(memo->groups, p->groups, sizeof memo->groups);
    }
    return st;
}

aidev_status vkb_record_dispatch(vkb_queue *q, vkb_batch *b, const aidev_backend_command *cmd)
{
    vkb_device *dev = q->dev;
    const vkb_device_fns *f = &dev->f;
    vkb_kernel *k = cmd->u.dispatch.kernel;
    dispatch_plan p;
    aidev_status st = plan_dispatch(q, k, cmd, &p);
    /* Everything that can fail for want of memory happens before the first
     * command is recorded. */
    if (st == AIDEV_SUCCESS && !vkb_batch_keep_kernel(b, k))
        st = aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (st != AIDEV_SUCCESS) {
        plan_release(&p);
        return st;
    }
    uint32_t count = k->buffer_count;
    for (uint32_t i = 0; i < count; i++) {
        bound_buffer *bb = &p.bufs[i];
        if (!bb->user)
            continue;
        if (!vkb_batch_keep_buffer(b, bb->user) ||
            (bb->scratch && !vkb_batch_keep_buffer(b, bb->scratch))) {
            plan_release(&p);
            return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        vkb_cmd_zero_if_needed(b, bb->user);
        if (bb->writes)
            vkb_batch_host_visible(b, bb->user);
    }
    for (int i = 0; i < 2; i++)
        if (p.reduce_scratch[i] && !vkb_batch_keep_buffer(b, p.reduce_scratch[i])) {
            plan_release(&p);
            return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }

    vkb_command_begin(q, b);
    bool copied = false;
    for (uint32_t i = 0; i < count; i++) {
        bound_buffer *bb = &p.bufs[i];
        if (bb->scratch) {
            VkBufferCopy region = {bb->user_offset, bb->offset, bb->range};
            f->vkCmdCopyBuffer(b->cb, bb->user->vk, bb->vk, 1, &region);
            copied = true;
        }
    }
    if (copied)
        vkb_cmd_barrier(dev, b->cb);
    if (k->launch == AIDEV_LAUNCH_REDUCE)
        st = emit_reduce(b, &p, cmd->u.dispatch.args[k->reduce_n].u.u32);
    else
        st = emit_dispatch(b, k, p.pipeline, p.bufs, count, p.push, p.groups);
    if (st == AIDEV_SUCCESS) {
        bool barrier = false;
        for (uint32_t i = 0; i < count; i++) {
            bound_buffer *bb = &p.bufs[i];
            if (bb->scratch && bb->copy_back) {
                if (!barrier)
                    vkb_cmd_barrier(dev, b->cb);
                barrier = true;
                VkBufferCopy region = {bb->offset, bb->user_offset, bb->range};
                f->vkCmdCopyBuffer(b->cb, bb->vk, bb->user->vk, 1, &region);
            }
        }
    }
    plan_release(&p); /* the batch holds its own references */
    return st;
}

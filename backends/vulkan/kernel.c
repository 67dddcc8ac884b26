/*
 * kernel.c - compute pipelines for the built-in library and for user
 * SPIR-V, and the recording of dispatches.
 *
 * Layout (kernels/library_forms.h): buffer arguments are storage buffers of
 * set 0 at bindings 0, 1, ... in signature order; scalar arguments fill one
 * push-constant block in order (4-byte types 4-aligned, 8-byte types
 * 8-aligned). Buffers go through push descriptors where the device has
 * VK_KHR_push_descriptor, else through sets from the batch's pools.
 *
 * Launches of the library's forms:
 *   ITEMS   ceil(grid / local) workgroups; dimension 0 is grid-strided by
 *           the forms, so its count is capped at maxComputeWorkGroupCount.
 *   GROUPS  one workgroup per item of dimension 0 (capped likewise),
 *           dimensions 1 and 2 as ITEMS.
 *   REDUCE  passes of the form over scratch buffers until one value is
 *           left; the last pass writes the kernel's output. A pass with
 *           more workgroups than the device allows is split into chunks at
 *           aligned offsets.
 * User kernels launch ceil(grid / workgroup) workgroups and take their
 * workgroup from the module (or, through its specialization constants, from
 * the dispatch).
 *
 * A buffer argument at an offset that is not a multiple of
 * minStorageBufferOffsetAlignment cannot be bound as it is: its bytes are
 * copied to an aligned scratch buffer before the dispatch, and back after it
 * when the kernel may write them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vk_internal.h"

/* ------------------------------------------------------------------------ */
/* Signatures                                                               */
/* ------------------------------------------------------------------------ */

static uint32_t scalar_size(aidev_type t)
{
    return t == AIDEV_TYPE_U64 || t == AIDEV_TYPE_I64 || t == AIDEV_TYPE_F64 ? 8 : 4;
}

/* Parses a count expression ("n", "m*k", "2*rows") into |a|; an unknown
 * name leaves the count unknown (the hal has checked it already). */
static void parse_count(const aidev_kernel_desc *d, const char *expr, vkb_arg_info *a)
{
    a->count_factors = 0;
    if (!expr || !*expr)
        return;
    const char *p = expr;
    while (*p) {
        if (a->count_factors == 4) {
            a->count_factors = 0;
            return;
        }
        const char *start = p;
        while (*p && *p != '*')
            p++;
        size_t len = (size_t)(p - start);
        uint8_t f = a->count_factors;
        if (len && start[0] >= '0' && start[0] <= '9') {
            a->count_arg[f] = -1;
            a->count_const[f] = strtoull(start, NULL, 10);
        } else {
            int found = -1;
            for (uint32_t i = 0; i < d->arg_count && found < 0; i++)
                if (d->args[i].kind == AIDEV_ARG_SCALAR && strlen(d->args[i].name) == len &&
                    strncmp(d->args[i].name, start, len) == 0)
                    found = (int)i;
            if (found < 0) {
                a->count_factors = 0;
                return;
            }
            a->count_arg[f] = (int8_t)found;
        }
        a->count_factors++;
        if (*p == '*')
            p++;
    }
}

aidev_status vkb_layout_args(const aidev_kernel_desc *desc, vkb_arg_info *args,
                             uint32_t *buffer_count, uint32_t *push_size)
{
    uint32_t binding = 0, offset = 0;
    for (uint32_t i = 0; i < desc->arg_count; i++) {
        const aidev_kernel_arg_desc *d = &desc->args[i];
        vkb_arg_info *a = &args[i];
        memset(a, 0, sizeof *a);
        a->kind = d->kind;
        a->type = d->type;
        a->access = d->access;
        if (d->kind == AIDEV_ARG_BUFFER) {
            a->binding = binding++;
            parse_count(desc, d->count, a);
        } else {
            uint32_t size = scalar_size(d->type);
            offset = (offset + size - 1) / size * size;
            a->push_offset = offset;
            a->push_size = size;
            offset += size;
        }
    }
    *buffer_count = binding;
    *push_size = offset;
    return AIDEV_SUCCESS;
}

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

/* ------------------------------------------------------------------------ */
/* Objects                                                                  */
/* ------------------------------------------------------------------------ */

void vkb_kernel_ref(vkb_kernel *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

void vkb_kernel_unref(vkb_kernel *k)
{
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    vkb_device *dev = k->dev;
    const vkb_device_fns *f = &dev->f;
    for (uint32_t i = 0; i < k->variant_count; i++)
        f->vkDestroyPipeline(dev->handle, k->variants[i].pipeline, NULL);
    if (k->layout)
        f->vkDestroyPipelineLayout(dev->handle, k->layout, NULL);
    if (k->set_layout)
        f->vkDestroyDescriptorSetLayout(dev->handle, k->set_layout, NULL);
    if (k->module)
        f->vkDestroyShaderModule(dev->handle, k->module, NULL);
    pthread_mutex_destroy(&k->variant_lock);
    free(k);
}

static aidev_status compile_error(vkb_kernel *k, const char *call, VkResult r)
{
    aidev_status st = vkb_status_of(r);
    if (st == AIDEV_ERROR_BACKEND || st == AIDEV_ERROR_UNSUPPORTED)
        st = AIDEV_ERROR_COMPILE;
    return aidev_backend_set_error(st, "vulkan: kernel '%s': %s failed: %s (%d)", k->name, call,
                                   vkb_result_name(r), (int)r);
}

/* Module, set layout and pipeline layout of |k|. */
static aidev_status make_layouts(vkb_kernel *k, const uint32_t *code, size_t code_size)
{
    vkb_device *dev = k->dev;
    const vkb_device_fns *f = &dev->f;
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = code_size,
                                   .pCode = code};
    VkResult r = f->vkCreateShaderModule(dev->handle, &mi, NULL, &k->module);
    if (r != VK_SUCCESS) {
        k->module = VK_NULL_HANDLE;
        return compile_error(k, "vkCreateShaderModule", r);
    }
    if (k->buffer_count) {
        VkDescriptorSetLayoutBinding bindings[AIDEV_MAX_KERNEL_ARGS];
        for (uint32_t i = 0; i < k->buffer_count; i++)
            bindings[i] = (VkDescriptorSetLayoutBinding){
                .binding = i,
                .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .descriptorCount = 1,
                .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        k->push_descriptors =
            dev->push_descriptors && k->buffer_count <= dev->phys->max_push_descriptors;
        VkDescriptorSetLayoutCreateInfo si = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .flags = k->push_descriptors
                         ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR
                         : 0,
            .bindingCount = k->buffer_count,
            .pBindings = bindings};
        r = f->vkCreateDescriptorSetLayout(dev->handle, &si, NULL, &k->set_layout);
        if (r != VK_SUCCESS) {
            k->set_layout = VK_NULL_HANDLE;
            return vkb_error("vkCreateDescriptorSetLayout", r);
        }
    }
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                 .offset = 0,
                                 .size = k->push_size};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = k->set_layout ? 1 : 0,
                                     .pSetLayouts = &k->set_layout,
                                     .pushConstantRangeCount = k->push_size ? 1 : 0,
                                     .pPushConstantRanges = &range};
    r = f->vkCreatePipelineLayout(dev->handle, &li, NULL, &k->layout);
    if (r != VK_SUCCESS) {
        k->layout = VK_NULL_HANDLE;
        return vkb_error("vkCreatePipelineLayout", r);
    }
    return AIDEV_SUCCESS;
}

/* The pipeline for workgroup |wg|, made on first use (kernel lock taken). */
static aidev_status get_pipeline(vkb_kernel *k, const uint32_t wg[3], VkPipeline *out)
{
    /* The module's own workgroup is the first variant, made with the
     * kernel and never changed: no lock for it. */
    if (k->variant_count && !memcmp(k->variants[0].workgroup, wg, sizeof k->variants[0].workgroup)) {
        *out = k->variants[0].pipeline;
        return AIDEV_SUCCESS;
    }
    pthread_mutex_lock(&k->variant_lock);
    for (uint32_t i = 0; i < k->variant_count; i++)
        if (!memcmp(k->variants[i].workgroup, wg, sizeof k->variants[i].workgroup)) {
            *out = k->variants[i].pipeline;
            pthread_mutex_unlock(&k->variant_lock);
            return AIDEV_SUCCESS;
        }
    aidev_status st = AIDEV_SUCCESS;
    if (k->variant_count == VKB_MAX_VARIANTS) {
        st = aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                     "vulkan: kernel '%s' already has %d workgroup variants",
                                     k->name, VKB_MAX_VARIANTS);
        goto out;
    }
    VkSpecializationMapEntry entries[3];
    uint32_t data[3], n = 0;
    for (int d = 0; d < 3; d++)
        if (k->local_spec_id[d] != UINT32_MAX) {
            entries[n] = (VkSpecializationMapEntry){k->local_spec_id[d], n * 4, 4};
            data[n++] = wg[d];
        }
    VkSpecializationInfo spec = {n, entries, n * sizeof data[0], data};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = k->module,
                  .pName = k->entry,
                  .pSpecializationInfo = n ? &spec : NULL},
        .layout = k->layout,
    };
    VkPipeline pipeline;
    VkResult r = k->dev->f.vkCreateComputePipelines(k->dev->handle, k->dev->pipeline_cache, 1,
                                                    &ci, NULL, &pipeline);
    if (r != VK_SUCCESS) {
        st = compile_error(k, "vkCreateComputePipelines", r);
        goto out;
    }
    vkb_variant *v = &k->variants[k->variant_count++];
    memcpy(v->workgroup, wg, sizeof v->workgroup);
    v->pipeline = pipeline;
    *out = pipeline;
out:
    pthread_mutex_unlock(&k->variant_lock);
    return st;
}

static vkb_kernel *kernel_alloc(vkb_device *dev, const char *name)
{
    vkb_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    atomic_init(&k->refs, 1);
    k->dev = dev;
    snprintf(k->name, sizeof k->name, "%s", name);
    snprintf(k->entry, sizeof k->entry, "main");
    k->reduce_n = k->reduce_in = k->reduce_out = -1;
    for (int d = 0; d < 3; d++) {
        k->local[d] = 1;
        k->local_spec_id[d] = UINT32_MAX;
    }
    pthread_mutex_init(&k->variant_lock, NULL);
    return k;
}

static aidev_status check_push_size(const vkb_kernel *k)
{
    uint32_t max = k->dev->phys->props.limits.maxPushConstantsSize;
    if (k->push_size > max)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: kernel '%s': its scalar arguments take %u bytes "
                                       "of push constants, '%s' has %u",
                                       k->name, k->push_size, k->dev->phys->props.deviceName,
                                       max);
    return AIDEV_SUCCESS;
}

/* A REDUCE form runs as passes (u32 n, in, out): find them in the library
 * signature. */
static aidev_status reduce_layout(vkb_kernel *k, const aidev_kernel_desc *desc)
{
    for (uint32_t i = 0; i < desc->arg_count; i++) {
        const aidev_kernel_arg_desc *a = &desc->args[i];
        if (a->kind == AIDEV_ARG_SCALAR && k->reduce_n < 0 && a->type == AIDEV_TYPE_U32)
            k->reduce_n = (int32_t)i;
        else if (a->kind == AIDEV_ARG_BUFFER && k->reduce_in < 0)
            k->reduce_in = (int32_t)i;
        else if (a->kind == AIDEV_ARG_BUFFER && k->reduce_out < 0)
            k->reduce_out = (int32_t)i;
        else
            k->reduce_n = -2; /* anything else: not a (n, in, out) reduction */
    }
    if (k->reduce_n < 0 || k->reduce_in < 0 || k->reduce_out < 0 ||
        desc->args[k->reduce_in].type != desc->args[k->reduce_out].type)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: kernel '%s': a reduce form takes (u32 n, in, "
                                       "out) with one element type",
                                       k->name);
    k->reduce_elem_size = (uint32_t)aidev_type_size(desc->args[k->reduce_in].type);
    /* The pass's own layout: n in the push constants, in and out at
     * bindings 0 and 1. */
    k->args[k->reduce_in].binding = 0;
    k->args[k->reduce_out].binding = 1;
    k->args[k->reduce_n].push_offset = 0;
    k->buffer_count = 2;
    k->push_size = 4;
    return AIDEV_SUCCESS;
}

aidev_status vkb_kernel_from_form(vkb_device *dev, const aidev_kernel_desc *desc,
                                  const aidev_library_gpu_form *form, vkb_kernel **out)
{
    vkb_kernel *k = kernel_alloc(dev, desc->name);
    if (!k)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    k->library = true;
    k->launch = form->launch;
    k->items_per_thread = form->items_per_thread ? form->items_per_thread : 1;
    snprintf(k->entry, sizeof k->entry, "%s", form->entry ? form->entry : "main");
    for (int d = 0; d < 3; d++)
        k->local[d] = form->local[d] ? form->local[d] : 1;
    k->arg_count = desc->arg_count;
    aidev_status st = vkb_layout_args(desc, k->args, &k->buffer_count, &k->push_size);
    if (st == AIDEV_SUCCESS && k->launch == AIDEV_LAUNCH_REDUCE)
        st = reduce_layout(k, desc);
    if (st == AIDEV_SUCCESS)
        st = check_push_size(k);
    if (st == AIDEV_SUCCESS)
        st = make_layouts(k, form->code, form->code_size);
    VkPipeline unused;
    if (st == AIDEV_SUCCESS)
        st = get_pipeline(k, k->local, &unused);
    if (st != AIDEV_SUCCESS) {
        vkb_kernel_unref(k);
        return st;
    }
    *out = k;
    return AIDEV_SUCCESS;
}

static aidev_status library_kernel(vkb_device *dev, uint32_t index,
                                   const aidev_kernel_desc *desc, vkb_kernel **out)
{
    if (index >= dev->library_count)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "vulkan: no built-in kernel %u",
                                       index);
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&dev->library_lock);
    /* The device keeps library kernels: every get shares one pipeline. */
    vkb_kernel *k = dev->library[index];
    if (!k) {
        const aidev_library_gpu_form *form = aidev_library_gpu_form_find(
            aidev_library_spirv_forms, aidev_library_spirv_form_count, desc->name);
        if (!form)
            st = aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                         "vulkan: built-in kernel '%s' has no GLSL form",
                                         desc->name);
        else
            st = vkb_kernel_from_form(dev, desc, form, &k);
        if (st == AIDEV_SUCCESS)
            dev->library[index] = k;
    }
    if (st == AIDEV_SUCCESS) {
        vkb_kernel_ref(k);
        *out = k;
    }
    pthread_mutex_unlock(&dev->library_lock);
    return st;
}

void vkb_library_kernels_release(vkb_device *dev)
{
    for (uint32_t i = 0; i < dev->library_count; i++)
        if (dev->library[i]) {
            vkb_kernel_unref(dev->library[i]);
            dev->library[i] = NULL;
        }
}

static aidev_status user_kernel(vkb_device *dev, const aidev_kernel_desc *desc, vkb_kernel **out)
{
    if (desc->source_kind != AIDEV_KERNEL_SOURCE_SPIRV)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: kernel '%s': the Vulkan backend takes SPIR-V "
                                       "kernels (AIDEV_KERNEL_SOURCE_SPIRV), not %s",
                                       desc->name,
                                       desc->source_kind == AIDEV_KERNEL_SOURCE_OPENCL_C
                                           ? "OpenCL C"
                                           : "host C functions");
    vkb_kernel *k = kernel_alloc(dev, desc->name);
    if (!k)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    k->launch = AIDEV_LAUNCH_ITEMS;
    k->arg_count = desc->arg_count;
    vkb_layout_args(desc, k->args, &k->buffer_count, &k->push_size);
    vkb_reflection refl;
    aidev_status st = vkb_reflect_check(desc->data, desc->size / 4, desc, k->args, k->push_size,
                                        &refl);
    if (st == AIDEV_SUCCESS)
        st = check_push_size(k);
    if (st == AIDEV_SUCCESS) {
        snprintf(k->entry, sizeof k->entry, "%s", refl.entry);
        memcpy(k->local, refl.local, sizeof k->local);
        memcpy(k->local_spec_id, refl.local_spec_id, sizeof k->local_spec_id);
        st = make_layouts(k, desc->data, desc->size);
    }
    VkPipeline unused;
    if (st == AIDEV_SUCCESS)
        st = get_pipeline(k, k->local, &unused);
    if (st != AIDEV_SUCCESS) {
        vkb_kernel_unref(k);
        return st;
    }
    *out = k;
    return AIDEV_SUCCESS;
}

aidev_status vkb_kernel_create(void *device, const aidev_backend_kernel_source *src,
                               void **out_kernel)
{
    vkb_device *dev = device;
    vkb_kernel *k = NULL;
    aidev_status st = src->library_index != UINT32_MAX
                          ? library_kernel(dev, src->library_index, src->desc, &k)
                          : user_kernel(dev, src->desc, &k);
    if (st == AIDEV_SUCCESS)
        *out_kernel = k;
    return st;
}

void vkb_kernel_destroy(void *device, void *kernel)
{
    (void)device;
    /* Batches that still use it hold references. */
    vkb_kernel_unref(kernel);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */
/* ------------------------------------------------------------------------ */

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
    uint8_t push[256];
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

static void push_args(const vkb_kernel *k, const aidev_backend_arg *args, uint8_t *push)
{
    memset(push, 0, k->push_size);
    for (uint32_t i = 0; i < k->arg_count; i++)
        if (k->args[i].kind == AIDEV_ARG_SCALAR)
            memcpy(push + k->args[i].push_offset, &args[i].u, k->args[i].push_size);
}

/* Binds |count| buffers (by binding) and the push constants, then
 * dispatches. */
static aidev_status emit_dispatch(vkb_batch *b, vkb_kernel *k, VkPipeline pipeline,
                                  const bound_buffer *bufs, uint32_t count, const void *push,
                                  const uint32_t groups[3])
{
    vkb_device *dev = b->queue->dev;
    const vkb_device_fns *f = &dev->f;
    VkDescriptorBufferInfo infos[AIDEV_MAX_KERNEL_ARGS];
    VkWriteDescriptorSet writes[AIDEV_MAX_KERNEL_ARGS];
    VkDescriptorSet set = VK_NULL_HANDLE;
    if (count && !k->push_descriptors) {
        aidev_status st = vkb_batch_descriptor_set(b, k->set_layout, count, &set);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        infos[i] = (VkDescriptorBufferInfo){bufs[i].vk, bufs[i].offset, bufs[i].range};
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = set,
                                           .dstBinding = i,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &infos[i]};
    }
    if (b->bound_pipeline != pipeline) {
        f->vkCmdBindPipeline(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        b->bound_pipeline = pipeline;
    }
    if (count && k->push_descriptors) {
        f->vkCmdPushDescriptorSetKHR(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, count,
                                     writes);
    } else if (count) {
        f->vkUpdateDescriptorSets(dev->handle, count, writes, 0, NULL);
        f->vkCmdBindDescriptorSets(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set,
                                   0, NULL);
    }
    if (k->push_size)
        f->vkCmdPushConstants(b->cb, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->push_size,
                              push);
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

static aidev_status plan_dispatch(vkb_device *dev, vkb_kernel *k, const aidev_backend_command *cmd,
                                  dispatch_plan *p)
{
    const aidev_backend_arg *args = cmd->u.dispatch.args;
    /* Only what is used: this runs for every dispatch. */
    p->kernel = k;
    p->count = k->buffer_count;
    memset(p->bufs, 0, p->count * sizeof p->bufs[0]);
    p->reduce_scratch[0] = p->reduce_scratch[1] = NULL;
    aidev_status st = AIDEV_SUCCESS;

    /* The workgroup: the form's, or the module's unless the dispatch names
     * one its specialization constants can take. */
    uint32_t wg[3];
    memcpy(wg, k->local, sizeof wg);
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
    st = get_pipeline(k, wg, &p->pipeline);
    if (st != AIDEV_SUCCESS)
        return st;

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
    push_args(k, args, p->push);
    return plan_groups(dev, k, cmd->u.dispatch.grid, wg, p->groups);
}

aidev_status vkb_record_dispatch(vkb_queue *q, vkb_batch *b, const aidev_backend_command *cmd)
{
    vkb_device *dev = q->dev;
    const vkb_device_fns *f = &dev->f;
    vkb_kernel *k = cmd->u.dispatch.kernel;
    dispatch_plan p;
    aidev_status st = plan_dispatch(dev, k, cmd, &p);
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

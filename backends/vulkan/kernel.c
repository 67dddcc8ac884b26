/*
 * kernel.c - compute pipelines for the built-in library and for user
 * SPIR-V (dispatch.c records their dispatches).
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
 * the dispatch). Whole workgroups run, so items past the grid run too: a
 * module guards them with a scalar argument or with the grid itself, which
 * a last push-constant member aidev_grid (uvec3 or uint[3]) receives.
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
aidev_status vkb_kernel_pipeline(vkb_kernel *k, const uint32_t wg[3], VkPipeline *out)
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
    /* The user's constants, then the workgroup's (4-aligned after them). */
    VkSpecializationMapEntry entries[AIDEV_MAX_SPEC_CONSTANTS + 3];
    uint8_t data[sizeof k->spec_data + 3 * sizeof(uint32_t)];
    uint32_t n = k->spec_count, size = 0;
    memcpy(entries, k->spec_entries, n * sizeof entries[0]);
    for (uint32_t i = 0; i < n; i++)
        if (entries[i].offset + entries[i].size > size)
            size = (uint32_t)(entries[i].offset + entries[i].size);
    memcpy(data, k->spec_data, size);
    size = (size + 3) & ~3u;
    for (int d = 0; d < 3; d++)
        if (k->local_spec_id[d] != UINT32_MAX) {
            entries[n++] = (VkSpecializationMapEntry){k->local_spec_id[d], size, 4};
            memcpy(data + size, &wg[d], 4);
            size += 4;
        }
    VkSpecializationInfo spec = {n, entries, size, data};
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
    static atomic_uint_fast64_t next_uid = 1;
    vkb_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    atomic_init(&k->refs, 1);
    k->uid = atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
    k->dev = dev;
    snprintf(k->name, sizeof k->name, "%s", name);
    snprintf(k->entry, sizeof k->entry, "main");
    k->reduce_n = k->reduce_in = k->reduce_out = -1;
    k->grid_push_offset = UINT32_MAX;
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
    VkPipeline first;
    if (st == AIDEV_SUCCESS)
        st = vkb_kernel_pipeline(k, k->local, &first);
    if (st == AIDEV_SUCCESS)
        st = vkb_kernel_prime(k, first);
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
    if (st == AIDEV_SUCCESS && refl.grid_offset != UINT32_MAX) {
        k->grid_push_offset = refl.grid_offset;
        k->push_size = refl.grid_offset + 3 * sizeof(uint32_t);
        if (k->push_size > VKB_PUSH_MAX)
            st = aidev_backend_set_error(AIDEV_ERROR_KERNEL_ARGS,
                                         "vulkan: kernel '%s': the push-constant member "
                                         AIDEV_GRID_MEMBER " at offset %u ends past the %d "
                                         "bytes aidev sets",
                                         k->name, refl.grid_offset, VKB_PUSH_MAX);
    }
    if (st == AIDEV_SUCCESS)
        st = check_push_size(k);
    if (st == AIDEV_SUCCESS) {
        snprintf(k->entry, sizeof k->entry, "%s", refl.entry);
        memcpy(k->local, refl.local, sizeof k->local);
        memcpy(k->local_spec_id, refl.local_spec_id, sizeof k->local_spec_id);
        /* Each constant at its own 8 bytes (libaidev allows at most
         * AIDEV_MAX_SPEC_CONSTANTS; reflection checked ids and sizes). */
        k->spec_count = desc->spec_constant_count;
        for (uint32_t i = 0; i < k->spec_count; i++) {
            const aidev_kernel_spec_constant *c = &desc->spec_constants[i];
            k->spec_entries[i] = (VkSpecializationMapEntry){c->id, i * 8, c->size};
            memcpy(k->spec_data + i * 8, c->value, c->size);
        }
        st = make_layouts(k, desc->data, desc->size);
    }
    VkPipeline first;
    if (st == AIDEV_SUCCESS)
        st = vkb_kernel_pipeline(k, k->local, &first);
    if (st == AIDEV_SUCCESS)
        st = vkb_kernel_prime(k, first);
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

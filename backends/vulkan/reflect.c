/*
 * reflect.c - checking a user's SPIR-V module against its declared
 * signature, through SPIRV-Cross's C API.
 *
 * The backend passes buffer arguments as storage buffers at set 0, bindings
 * 0.. in order, and scalars in one push-constant block in order. A module
 * that expects anything else would read garbage, so the mismatch is found
 * here, at kernel creation, with the argument named: a binding the
 * signature lacks, a buffer argument the module has no binding for, a
 * read-only binding for a written argument, an element type of another
 * kind, a push-constant member at another offset or of another type, other
 * resource kinds (uniform buffers, images). The block may end, after the
 * scalars, with one member of three 32-bit unsigned integers (uvec3 or
 * uint[3]; by convention named aidev_grid), which the backend fills with
 * the dispatch's grid: Vulkan runs whole workgroups, so a kernel guards its
 * items with it (or with a scalar argument). Specialization constants the
 * user gives must be the module's, of their type's size, and not the ones
 * that size the workgroup (the dispatch sets those).
 */
#include <stdio.h>
#include <string.h>

#include <spirv_cross/spirv_cross_c.h>

#include "backends/vulkan/vk_internal.h"

typedef struct reflect_ctx {
    char error[512];
    const aidev_kernel_desc *desc;
    spvc_compiler comp;
} reflect_ctx;

static void on_spvc_error(void *user, const char *message)
{
    reflect_ctx *r = user;
    snprintf(r->error, sizeof r->error, "%s", message);
}

static aidev_status args_error(const reflect_ctx *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static aidev_status args_error(const reflect_ctx *r, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return aidev_backend_set_error(AIDEV_ERROR_KERNEL_ARGS, "vulkan: kernel '%s': %s",
                                   r->desc->name, msg);
}

/* "float", "int" or "uint" for a scalar type, with its width. */
static bool same_scalar(aidev_type t, spvc_basetype base, unsigned width)
{
    switch (t) {
    case AIDEV_TYPE_F16:
        return base == SPVC_BASETYPE_FP16;
    case AIDEV_TYPE_F32:
        return base == SPVC_BASETYPE_FP32;
    case AIDEV_TYPE_F64:
        return base == SPVC_BASETYPE_FP64;
    /* Signedness is a view of the same bits: int for a u32 is accepted. */
    case AIDEV_TYPE_I8:
    case AIDEV_TYPE_U8:
        return (base == SPVC_BASETYPE_INT8 || base == SPVC_BASETYPE_UINT8) && width == 8;
    case AIDEV_TYPE_I16:
    case AIDEV_TYPE_U16:
        return (base == SPVC_BASETYPE_INT16 || base == SPVC_BASETYPE_UINT16) && width == 16;
    case AIDEV_TYPE_I32:
    case AIDEV_TYPE_U32:
        return (base == SPVC_BASETYPE_INT32 || base == SPVC_BASETYPE_UINT32) && width == 32;
    case AIDEV_TYPE_I64:
    case AIDEV_TYPE_U64:
        return (base == SPVC_BASETYPE_INT64 || base == SPVC_BASETYPE_UINT64) && width == 64;
    default:
        return true;
    }
}

static const char *basetype_name(spvc_basetype base)
{
    switch (base) {
    case SPVC_BASETYPE_INT8: return "int8";
    case SPVC_BASETYPE_UINT8: return "uint8";
    case SPVC_BASETYPE_INT16: return "int16";
    case SPVC_BASETYPE_UINT16: return "uint16";
    case SPVC_BASETYPE_INT32: return "int";
    case SPVC_BASETYPE_UINT32: return "uint";
    case SPVC_BASETYPE_INT64: return "int64";
    case SPVC_BASETYPE_UINT64: return "uint64";
    case SPVC_BASETYPE_FP16: return "float16";
    case SPVC_BASETYPE_FP32: return "float";
    case SPVC_BASETYPE_FP64: return "double";
    case SPVC_BASETYPE_STRUCT: return "struct";
    default: return "a non-scalar type";
    }
}

/* The index of the buffer argument at |binding|, or -1. */
static int buffer_arg_at(const aidev_kernel_desc *d, const vkb_arg_info *args, uint32_t binding)
{
    for (uint32_t i = 0; i < d->arg_count; i++)
        if (args[i].kind == AIDEV_ARG_BUFFER && args[i].binding == binding)
            return (int)i;
    return -1;
}

static aidev_status check_entry(reflect_ctx *r, vkb_reflection *out)
{
    const spvc_entry_point *eps;
    size_t n = 0;
    if (spvc_compiler_get_entry_points(r->comp, &eps, &n) != SPVC_SUCCESS)
        n = 0;
    const char *entry = NULL;
    size_t compute = 0;
    const char *only = NULL;
    for (size_t i = 0; i < n; i++) {
        if (eps[i].execution_model != SpvExecutionModelGLCompute)
            continue;
        compute++;
        only = eps[i].name;
        if (strcmp(eps[i].name, r->desc->name) == 0)
            entry = eps[i].name;
    }
    /* A module compiled from GLSL names its entry "main": with one compute
     * entry point, that one is meant. */
    if (!entry && compute == 1)
        entry = only;
    if (!entry && compute == 0)
        return aidev_backend_set_error(AIDEV_ERROR_COMPILE,
                                       "vulkan: kernel '%s': the module has no compute "
                                       "(GLCompute) entry point",
                                       r->desc->name);
    if (!entry)
        return aidev_backend_set_error(AIDEV_ERROR_COMPILE,
                                       "vulkan: kernel '%s': the module has %zu compute entry "
                                       "points and none is named '%s'",
                                       r->desc->name, compute, r->desc->name);
    snprintf(out->entry, sizeof out->entry, "%s", entry);
    spvc_compiler_set_entry_point(r->comp, entry, SpvExecutionModelGLCompute);

    spvc_specialization_constant spec[3];
    spvc_compiler_get_work_group_size_specialization_constants(r->comp, &spec[0], &spec[1],
                                                               &spec[2]);
    for (unsigned d = 0; d < 3; d++) {
        out->local[d] = spvc_compiler_get_execution_mode_argument_by_index(
            r->comp, SpvExecutionModeLocalSize, d);
        out->local_spec_id[d] = UINT32_MAX;
        if (spec[d].id) {
            out->local_spec_id[d] = spec[d].constant_id;
            spvc_constant c = spvc_compiler_get_constant_handle(r->comp, spec[d].id);
            if (c)
                out->local[d] = spvc_constant_get_scalar_u32(c, 0, 0);
        }
        if (out->local[d] == 0)
            out->local[d] = 1;
    }
    return AIDEV_SUCCESS;
}

/* The element type of a buffer block { T x[]; }, or false for other
 * shapes (which are not checked). */
static bool block_element(spvc_compiler comp, spvc_type_id block_id, spvc_basetype *base,
                          unsigned *width)
{
    spvc_type block = spvc_compiler_get_type_handle(comp, block_id);
    if (spvc_type_get_basetype(block) != SPVC_BASETYPE_STRUCT ||
        spvc_type_get_num_member_types(block) != 1)
        return false;
    spvc_type member = spvc_compiler_get_type_handle(comp, spvc_type_get_member_type(block, 0));
    if (spvc_type_get_num_array_dimensions(member) != 1 || spvc_type_get_vector_size(member) != 1 ||
        spvc_type_get_columns(member) != 1)
        return false;
    *base = spvc_type_get_basetype(member);
    *width = spvc_type_get_bit_width(member);
    return *base != SPVC_BASETYPE_STRUCT;
}

static aidev_status check_buffers(reflect_ctx *r, spvc_resources res, const vkb_arg_info *args)
{
    const aidev_kernel_desc *d = r->desc;
    const spvc_reflected_resource *list;
    size_t n = 0;
    spvc_resources_get_resource_list_for_type(res, SPVC_RESOURCE_TYPE_STORAGE_BUFFER, &list, &n);
    bool seen[AIDEV_MAX_KERNEL_ARGS] = {false};
    for (size_t i = 0; i < n; i++) {
        unsigned set = spvc_compiler_get_decoration(r->comp, list[i].id, SpvDecorationDescriptorSet);
        unsigned binding = spvc_compiler_get_decoration(r->comp, list[i].id, SpvDecorationBinding);
        const char *name = list[i].name && *list[i].name ? list[i].name : "(unnamed)";
        if (set != 0)
            return args_error(r, "the module's storage buffer '%s' is at set %u binding %u; "
                                 "aidev binds buffer arguments at set 0",
                              name, set, binding);
        int a = buffer_arg_at(d, args, binding);
        if (a < 0)
            return args_error(r, "the module's storage buffer '%s' is at binding %u, but the "
                                 "signature has no buffer argument there (buffer arguments take "
                                 "bindings 0, 1, ... in order)",
                              name, binding);
        if (seen[binding])
            return args_error(r, "two storage buffers of the module share binding %u "
                                 "(argument '%s')",
                              binding, d->args[a].name);
        seen[binding] = true;
        const SpvDecoration *decs;
        size_t dn = 0;
        bool readonly = false;
        if (spvc_compiler_get_buffer_block_decorations(r->comp, list[i].id, &decs, &dn) ==
            SPVC_SUCCESS)
            for (size_t k = 0; k < dn; k++)
                readonly |= decs[k] == SpvDecorationNonWritable;
        if (readonly && d->args[a].access != AIDEV_ACCESS_READ)
            return args_error(r, "argument %d '%s' is declared %s, but the module's buffer "
                                 "'%s' at binding %u is readonly",
                              a, d->args[a].name,
                              d->args[a].access == AIDEV_ACCESS_WRITE ? "write" : "read_write",
                              name, binding);
        spvc_basetype base;
        unsigned width;
        if (d->args[a].type != AIDEV_TYPE_NONE &&
            block_element(r->comp, list[i].base_type_id, &base, &width) &&
            !same_scalar(d->args[a].type, base, width))
            return args_error(r, "argument %d '%s' is a buffer of %s, but the module's buffer "
                                 "'%s' at binding %u holds %s (%u bits)",
                              a, d->args[a].name, aidev_type_name(d->args[a].type), name,
                              binding, basetype_name(base), width);
    }
    for (uint32_t i = 0; i < d->arg_count; i++)
        if (args[i].kind == AIDEV_ARG_BUFFER && !seen[args[i].binding])
            return args_error(r, "argument %u '%s' is a buffer (set 0, binding %u), but the "
                                 "module has no storage buffer there",
                              i, d->args[i].name, args[i].binding);
    return AIDEV_SUCCESS;
}

/* The scalar argument |nth| (0-based among scalars), or -1. */
static int nth_scalar(const aidev_kernel_desc *d, uint32_t nth)
{
    for (uint32_t i = 0; i < d->arg_count; i++)
        if (d->args[i].kind == AIDEV_ARG_SCALAR && nth-- == 0)
            return (int)i;
    return -1;
}

/* Whether member |m| of |block| can take the grid: three 32-bit unsigned
 * integers (uvec3 or uint[3]). (Its name is no test: glslc -O strips
 * member names.) */
static bool is_grid_member(reflect_ctx *r, spvc_type block, unsigned m)
{
    spvc_type t = spvc_compiler_get_type_handle(r->comp, spvc_type_get_member_type(block, m));
    if (spvc_type_get_basetype(t) != SPVC_BASETYPE_UINT32 || spvc_type_get_columns(t) != 1)
        return false;
    unsigned vec = spvc_type_get_vector_size(t), dims = spvc_type_get_num_array_dimensions(t);
    return (vec == 3 && dims == 0) ||
           (vec == 1 && dims == 1 && spvc_type_array_dimension_is_literal(t, 0) &&
            spvc_type_get_array_dimension(t, 0) == 3);
}

static aidev_status check_push_constants(reflect_ctx *r, spvc_resources res,
                                         const vkb_arg_info *args, uint32_t push_size,
                                         vkb_reflection *out)
{
    const aidev_kernel_desc *d = r->desc;
    const spvc_reflected_resource *list;
    size_t n = 0;
    spvc_resources_get_resource_list_for_type(res, SPVC_RESOURCE_TYPE_PUSH_CONSTANT, &list, &n);
    int first = nth_scalar(d, 0);
    if (n == 0) {
        if (first >= 0)
            return args_error(r, "argument %d '%s' is a scalar, but the module has no "
                                 "push-constant block to receive it",
                              first, d->args[first].name);
        return AIDEV_SUCCESS;
    }
    spvc_type block = spvc_compiler_get_type_handle(r->comp, list[0].base_type_id);
    unsigned members = spvc_type_get_num_member_types(block);
    for (unsigned m = 0; m < members; m++) {
        int a = nth_scalar(d, m);
        const char *mname = spvc_compiler_get_member_name(r->comp, list[0].base_type_id, m);
        if (!mname || !*mname)
            mname = "(unnamed)";
        unsigned offset = 0;
        spvc_compiler_type_struct_member_offset(r->comp, block, m, &offset);
        if (a < 0 && m + 1 == members &&
            is_grid_member(r, block, m)) {
            out->grid_offset = offset;
            break;
        }
        if (a < 0)
            return args_error(r, "the module's push-constant member '%s' at offset %u has no "
                                 "scalar argument (the signature has %u scalar%s; one "
                                 "last member of uvec3 or uint[3], " AIDEV_GRID_MEMBER
                                 ", receives the grid)",
                              mname, offset, m, m == 1 ? "" : "s");
        spvc_type mt = spvc_compiler_get_type_handle(r->comp, spvc_type_get_member_type(block, m));
        spvc_basetype base = spvc_type_get_basetype(mt);
        unsigned width = spvc_type_get_bit_width(mt);
        bool scalar = spvc_type_get_vector_size(mt) == 1 && spvc_type_get_columns(mt) == 1 &&
                      spvc_type_get_num_array_dimensions(mt) == 0;
        if (offset != args[a].push_offset)
            return args_error(r, "argument %d '%s' goes at push-constant offset %u, but the "
                                 "module reads member '%s' at offset %u",
                              a, d->args[a].name, args[a].push_offset, mname, offset);
        if (!scalar || !same_scalar(d->args[a].type, base, width))
            return args_error(r, "argument %d '%s' is a %s scalar, but the module's "
                                 "push-constant member '%s' is %s%s",
                              a, d->args[a].name, aidev_type_name(d->args[a].type), mname,
                              scalar ? "" : "not a scalar: ", basetype_name(base));
    }
    int missing = nth_scalar(d, out->grid_offset == UINT32_MAX ? members : members - 1);
    if (missing >= 0)
        return args_error(r, "argument %d '%s' is a scalar (push-constant offset %u), but the "
                             "module's push-constant block ends before it",
                          missing, d->args[missing].name, args[missing].push_offset);
    size_t size = 0;
    spvc_compiler_get_declared_struct_size(r->comp, block, &size);
    if (out->grid_offset != UINT32_MAX) {
        if (out->grid_offset < push_size)
            return args_error(r, "the module's push-constant member '" AIDEV_GRID_MEMBER
                                 "' at offset %u overlaps the scalar arguments (%u bytes)",
                              out->grid_offset, push_size);
        return AIDEV_SUCCESS;
    }
    if (size > push_size)
        return args_error(r, "the module's push-constant block is %zu bytes, the scalar "
                             "arguments fill %u",
                          size, push_size);
    return AIDEV_SUCCESS;
}

/* Bytes a specialization constant of |type| takes in
 * VkSpecializationInfo: a bool is a VkBool32. */
static uint32_t spec_constant_size(spvc_compiler comp, spvc_constant c)
{
    spvc_type t = spvc_compiler_get_type_handle(comp, spvc_constant_get_type(c));
    if (spvc_type_get_basetype(t) == SPVC_BASETYPE_BOOLEAN)
        return 4;
    return spvc_type_get_bit_width(t) / 8;
}

/* Each of the user's constants against the module's (after check_entry,
 * which found the workgroup's ids). */
static aidev_status check_spec_constants(reflect_ctx *r, const vkb_reflection *out)
{
    const aidev_kernel_desc *d = r->desc;
    const spvc_specialization_constant *list = NULL;
    size_t n = 0;
    if (d->spec_constant_count)
        spvc_compiler_get_specialization_constants(r->comp, &list, &n);
    for (uint32_t i = 0; i < d->spec_constant_count; i++) {
        const aidev_kernel_spec_constant *c = &d->spec_constants[i];
        for (int dim = 0; dim < 3; dim++)
            if (out->local_spec_id[dim] == c->id)
                return args_error(r, "spec_constants[%u]: id %u sets the workgroup size "
                                     "(local_size_%c_id); a dispatch's workgroup sets it",
                                  i, c->id, "xyz"[dim]);
        size_t j = 0;
        while (j < n && list[j].constant_id != c->id)
            j++;
        if (j == n)
            return args_error(r, "spec_constants[%u]: the module has no specialization "
                                 "constant with id %u (it has %zu)",
                              i, c->id, n);
        spvc_constant sc = spvc_compiler_get_constant_handle(r->comp, list[j].id);
        uint32_t size = sc ? spec_constant_size(r->comp, sc) : 0;
        if (size != c->size)
            return args_error(r, "spec_constants[%u]: id %u is given %u bytes, the module's "
                                 "constant takes %u",
                              i, c->id, c->size, size);
    }
    return AIDEV_SUCCESS;
}

/* Resource kinds aidev never binds. */
static aidev_status check_others(reflect_ctx *r, spvc_resources res)
{
    static const struct {
        spvc_resource_type type;
        const char *what;
    } others[] = {
        {SPVC_RESOURCE_TYPE_UNIFORM_BUFFER, "a uniform buffer"},
        {SPVC_RESOURCE_TYPE_STORAGE_IMAGE, "a storage image"},
        {SPVC_RESOURCE_TYPE_SAMPLED_IMAGE, "a sampled image"},
        {SPVC_RESOURCE_TYPE_SEPARATE_IMAGE, "an image"},
        {SPVC_RESOURCE_TYPE_SEPARATE_SAMPLERS, "a sampler"},
        {SPVC_RESOURCE_TYPE_ATOMIC_COUNTER, "an atomic counter"},
        {SPVC_RESOURCE_TYPE_ACCELERATION_STRUCTURE, "an acceleration structure"},
    };
    for (size_t t = 0; t < sizeof others / sizeof others[0]; t++) {
        const spvc_reflected_resource *list;
        size_t n = 0;
        spvc_resources_get_resource_list_for_type(res, others[t].type, &list, &n);
        if (n)
            return args_error(r, "the module uses %s ('%s'); aidev passes buffer arguments as "
                                 "storage buffers and scalars as push constants only",
                              others[t].what, list[0].name ? list[0].name : "");
    }
    return AIDEV_SUCCESS;
}

aidev_status vkb_reflect_check(const uint32_t *words, size_t word_count,
                               const aidev_kernel_desc *desc, const vkb_arg_info *args,
                               uint32_t push_size, vkb_reflection *out)
{
    reflect_ctx r = {.desc = desc};
    out->grid_offset = UINT32_MAX;
    if (word_count < 5 || words[0] != SpvMagicNumber)
        return aidev_backend_set_error(AIDEV_ERROR_COMPILE,
                                       "vulkan: kernel '%s': not a SPIR-V module (%zu words, "
                                       "first word %#x, SPIR-V starts with %#x)",
                                       desc->name, word_count, word_count ? words[0] : 0,
                                       (unsigned)SpvMagicNumber);
    spvc_context ctx = NULL;
    if (spvc_context_create(&ctx) != SPVC_SUCCESS)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    spvc_context_set_error_callback(ctx, on_spvc_error, &r);
    aidev_status st = AIDEV_SUCCESS;
    spvc_parsed_ir ir;
    spvc_resources res;
    if (spvc_context_parse_spirv(ctx, words, word_count, &ir) != SPVC_SUCCESS ||
        spvc_context_create_compiler(ctx, SPVC_BACKEND_NONE, ir, SPVC_CAPTURE_MODE_TAKE_OWNERSHIP,
                                     &r.comp) != SPVC_SUCCESS) {
        st = aidev_backend_set_error(AIDEV_ERROR_COMPILE,
                                     "vulkan: kernel '%s': the SPIR-V module does not parse: %s",
                                     desc->name, r.error[0] ? r.error : "unknown error");
        goto out;
    }
    st = check_entry(&r, out);
    if (st == AIDEV_SUCCESS)
        st = check_spec_constants(&r, out);
    if (st != AIDEV_SUCCESS)
        goto out;
    if (spvc_compiler_create_shader_resources(r.comp, &res) != SPVC_SUCCESS) {
        st = aidev_backend_set_error(AIDEV_ERROR_COMPILE,
                                     "vulkan: kernel '%s': reflection failed: %s", desc->name,
                                     r.error);
        goto out;
    }
    st = check_others(&r, res);
    if (st == AIDEV_SUCCESS)
        st = check_buffers(&r, res, args);
    if (st == AIDEV_SUCCESS)
        st = check_push_constants(&r, res, args, push_size, out);
out:
    spvc_context_destroy(ctx);
    return st;
}

/*
 * kernel.c - kernels: the built-in library and user kernels, their declared
 * signatures, and the argument check every dispatch passes before anything
 * reaches a backend.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/internal.h"
#include "hal/library.h"
#include "hal/ops.h"

static void kernel_destroy_linked(aidev_object *o);

static bool is_integer_scalar(aidev_type t)
{
    return t == AIDEV_TYPE_U32 || t == AIDEV_TYPE_I32 || t == AIDEV_TYPE_U64 || t == AIDEV_TYPE_I64;
}

static bool is_scalar_type(aidev_type t)
{
    return is_integer_scalar(t) || t == AIDEV_TYPE_F32 || t == AIDEV_TYPE_F64;
}

/* Parses "n", "m*k", "2*rows" against the kernel's integer scalars. An empty
 * or NULL expression gives factor_count 0. */
static aidev_status parse_expr(const aidev_kernel_desc *d, const char *expr, const char *what,
                               aidev_kernel_expr *out)
{
    memset(out, 0, sizeof *out);
    if (!expr || !*expr)
        return AIDEV_SUCCESS;
    const char *p = expr;
    while (*p) {
        if (out->factor_count == 4)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': %s '%s' has more than 4 factors", d->name, what, expr);
        const char *start = p;
        while (*p && *p != '*')
            p++;
        size_t len = (size_t)(p - start);
        uint8_t f = out->factor_count++;
        if (len && isdigit((unsigned char)start[0])) {
            char *end;
            out->arg[f] = -1;
            out->constant[f] = strtoull(start, &end, 10);
            if (end != p)
                return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                   "kernel '%s': %s '%s': '%.*s' is not an integer", d->name,
                                   what, expr, (int)len, start);
        } else {
            int found = -1;
            for (uint32_t i = 0; i < d->arg_count && found < 0; i++)
                if (d->args[i].kind == AIDEV_ARG_SCALAR && d->args[i].name &&
                    strlen(d->args[i].name) == len && strncmp(d->args[i].name, start, len) == 0)
                    found = (int)i;
            if (found < 0 || !is_integer_scalar(d->args[found].type))
                return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                   "kernel '%s': %s '%s': '%.*s' is not an integer scalar "
                                   "argument",
                                   d->name, what, expr, (int)len, start);
            out->arg[f] = (int8_t)found;
        }
        if (*p == '*')
            p++;
    }
    return AIDEV_SUCCESS;
}

/* Evaluates |e| with the dispatch's scalars; false on overflow. */
static bool eval_expr(const aidev_kernel_expr *e, const aidev_arg *args, uint64_t *out)
{
    uint64_t v = 1;
    for (uint8_t f = 0; f < e->factor_count; f++) {
        uint64_t x;
        if (e->arg[f] < 0) {
            x = e->constant[f];
        } else {
            const aidev_arg *a = &args[e->arg[f]];
            switch (a->type) {
            case AIDEV_TYPE_U32: x = a->u.u32; break;
            case AIDEV_TYPE_I32: x = a->u.i32 < 0 ? 0 : (uint64_t)a->u.i32; break;
            case AIDEV_TYPE_U64: x = a->u.u64; break;
            case AIDEV_TYPE_I64: x = a->u.i64 < 0 ? 0 : (uint64_t)a->u.i64; break;
            default: x = 0; break;
            }
        }
        if (x && v > UINT64_MAX / x)
            return false;
        v *= x;
    }
    *out = v;
    return true;
}

static aidev_status check_desc(const aidev_kernel_desc *d)
{
    if (!d->name || !*d->name)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->name: empty");
    if (d->arg_count > AIDEV_MAX_KERNEL_ARGS)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "kernel '%s': %u arguments, at most %u are allowed", d->name,
                           d->arg_count, AIDEV_MAX_KERNEL_ARGS);
    if (d->arg_count && !d->args)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "kernel '%s': desc->args: NULL", d->name);
    for (uint32_t i = 0; i < d->arg_count; i++) {
        const aidev_kernel_arg_desc *a = &d->args[i];
        if (!a->name || !*a->name)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': argument %u has no name", d->name, i);
        if (a->kind == AIDEV_ARG_SCALAR) {
            if (!is_scalar_type(a->type))
                return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                   "kernel '%s': scalar argument '%s' has type %s; scalars are "
                                   "u32, i32, u64, i64, f32 or f64",
                                   d->name, a->name, aidev_type_name(a->type));
        } else if (a->kind == AIDEV_ARG_BUFFER) {
            if ((unsigned)a->type >= AIDEV_TYPE_COUNT_)
                return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                   "kernel '%s': buffer argument '%s' has an invalid type %d",
                                   d->name, a->name, (int)a->type);
            if (a->access < AIDEV_ACCESS_READ || a->access > AIDEV_ACCESS_READ_WRITE)
                return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                   "kernel '%s': buffer argument '%s' has no access (read, "
                                   "write or read_write)",
                                   d->name, a->name);
        } else if (a->kind == AIDEV_ARG_LOCAL) {
            if ((unsigned)a->type >= AIDEV_TYPE_COUNT_)
                return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                   "kernel '%s': local argument '%s' has an invalid type %d",
                                   d->name, a->name, (int)a->type);
        } else {
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': argument '%s' is neither a buffer, a scalar nor "
                               "local memory",
                               d->name, a->name);
        }
        if (a->kind != AIDEV_ARG_BUFFER && a->count)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': argument '%s' has count '%s', but only buffer "
                               "arguments have one",
                               d->name, a->name, a->count);
    }
    return AIDEV_SUCCESS;
}

static const char *source_kind_name(aidev_kernel_source_kind kind)
{
    return kind == AIDEV_KERNEL_SOURCE_OPENCL_C ? "OpenCL C"
           : kind == AIDEV_KERNEL_SOURCE_SPIRV  ? "SPIR-V"
                                                : "C (host)";
}

/* What a user kernel's description asks that only some source kinds have
 * (build options, specialization constants, local-memory arguments),
 * refused where its kind has no such thing: ignoring it would build a
 * kernel other than the one asked for. */
static aidev_status check_desc_for_kind(const aidev_kernel_desc *d)
{
    const char *kind = source_kind_name(d->source_kind);
    if (d->build_options && d->build_options[0] && d->source_kind != AIDEV_KERNEL_SOURCE_OPENCL_C)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "kernel '%s': desc->build_options '%s' apply to OpenCL C kernels "
                           "only, not to a %s kernel%s",
                           d->name, d->build_options, kind,
                           d->source_kind == AIDEV_KERNEL_SOURCE_SPIRV
                               ? " (give it specialization constants instead)"
                               : "");
    if (d->spec_constant_count && d->source_kind != AIDEV_KERNEL_SOURCE_SPIRV)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "kernel '%s': desc->spec_constant_count %u: specialization constants "
                           "are for SPIR-V kernels, not a %s kernel%s",
                           d->name, d->spec_constant_count, kind,
                           d->source_kind == AIDEV_KERNEL_SOURCE_OPENCL_C
                               ? " (use -D in desc->build_options)"
                               : "");
    if (d->spec_constant_count > AIDEV_MAX_SPEC_CONSTANTS)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "kernel '%s': desc->spec_constant_count %u is above %u", d->name,
                           d->spec_constant_count, AIDEV_MAX_SPEC_CONSTANTS);
    if (d->spec_constant_count && !d->spec_constants)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "kernel '%s': desc->spec_constants: NULL with a count of %u", d->name,
                           d->spec_constant_count);
    for (uint32_t i = 0; i < d->spec_constant_count; i++) {
        const aidev_kernel_spec_constant *c = &d->spec_constants[i];
        if (c->size != 1 && c->size != 2 && c->size != 4 && c->size != 8)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': desc->spec_constants[%u] (id %u): size %u, a "
                               "constant has 1, 2, 4 or 8 bytes",
                               d->name, i, c->id, c->size);
        for (uint32_t j = 0; j < i; j++)
            if (d->spec_constants[j].id == c->id)
                return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                   "kernel '%s': desc->spec_constants[%u] and [%u] both set "
                                   "id %u",
                                   d->name, j, i, c->id);
    }
    for (uint32_t i = 0; i < d->arg_count; i++)
        if (d->args[i].kind == AIDEV_ARG_LOCAL && d->source_kind != AIDEV_KERNEL_SOURCE_OPENCL_C)
            return aidev_error(
                AIDEV_ERROR_INVALID_ARGUMENT,
                "kernel '%s': argument %u '%s' is local memory, which only OpenCL C kernels "
                "take; %s",
                d->name, i, d->args[i].name,
                d->source_kind == AIDEV_KERNEL_SOURCE_SPIRV
                    ? "a SPIR-V kernel declares a shared array (sized by a specialization "
                      "constant)"
                    : "a C kernel runs boxes of work-items, not workgroups, and keeps its own "
                      "scratch");
    return AIDEV_SUCCESS;
}

/* The kernel asks what only a backend of ABI 1.4 with the cap applies (the
 * device's feature bits, hal/registry.c). */
static aidev_status check_backend_applies(const aidev_kernel_desc *d, const aidev_device_obj *dev)
{
    uint64_t features = dev->info->features;
    if (d->spec_constant_count && !(features & AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS))
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "kernel '%s': device %u (%s, backend '%s') cannot apply "
                           "specialization constants (desc->spec_constant_count %u)",
                           d->name, dev->index, dev->info->name, dev->backend->name,
                           d->spec_constant_count);
    for (uint32_t i = 0; i < d->arg_count; i++)
        if (d->args[i].kind == AIDEV_ARG_LOCAL && !(features & AIDEV_FEATURE_KERNEL_LOCAL_ARGS))
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "kernel '%s': argument %u '%s': device %u (%s, backend '%s') "
                               "takes no local-memory arguments",
                               d->name, i, d->args[i].name, dev->index, dev->info->name,
                               dev->backend->name);
    return AIDEV_SUCCESS;
}

void aidev_kernel_retain(aidev_kernel_obj *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

static void free_owned_desc(aidev_kernel_obj *k)
{
    aidev_kernel_desc *d = &k->owned_desc;
    free((void *)d->name);
    free((void *)d->data);
    free((void *)d->build_options);
    free((void *)d->spec_constants);
    for (int i = 0; i < 3; i++)
        free((void *)d->grid[i]);
    if (d->args) {
        for (uint32_t i = 0; i < d->arg_count; i++) {
            free((void *)d->args[i].name);
            free((void *)d->args[i].count);
        }
        free((void *)d->args);
    }
}

void aidev_kernel_unref(aidev_kernel_obj *k)
{
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (k->native)
        AIDEV_DEVICE_VT(k->device)->kernel_destroy(k->device->native, k->native);
    free(k->counts);
    free_owned_desc(k);
    free(k);
}

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

/* Copies a user's description, so the kernel does not depend on the
 * caller's memory. */
static bool copy_desc(aidev_kernel_desc *dst, const aidev_kernel_desc *src)
{
    bool ok = true;
    *dst = *src;
    dst->name = dup_or_null(src->name, &ok);
    dst->build_options = dup_or_null(src->build_options, &ok);
    for (int i = 0; i < 3; i++)
        dst->grid[i] = dup_or_null(src->grid[i], &ok);
    dst->data = NULL;
    if (src->data) {
        size_t size = src->size;
        if (src->source_kind == AIDEV_KERNEL_SOURCE_OPENCL_C && size == 0)
            size = strlen(src->data) + 1;
        void *data = malloc(size + 1);
        if (data) {
            memcpy(data, src->data, size);
            ((char *)data)[size] = '\0'; /* OpenCL C text is always terminated */
            if (src->source_kind == AIDEV_KERNEL_SOURCE_OPENCL_C && src->size == 0)
                size--;
        } else {
            ok = false;
        }
        dst->data = data;
        dst->size = size;
    }
    dst->spec_constants = NULL;
    if (src->spec_constant_count) {
        size_t bytes = src->spec_constant_count * sizeof *src->spec_constants;
        aidev_kernel_spec_constant *c = malloc(bytes);
        if (c)
            memcpy(c, src->spec_constants, bytes);
        else
            ok = false;
        dst->spec_constants = c;
    }
    dst->args = NULL;
    if (src->arg_count) {
        aidev_kernel_arg_desc *args = calloc(src->arg_count, sizeof *args);
        if (!args)
            return false;
        for (uint32_t i = 0; i < src->arg_count; i++) {
            args[i] = src->args[i];
            args[i].name = dup_or_null(src->args[i].name, &ok);
            args[i].count = dup_or_null(src->args[i].count, &ok);
        }
        dst->args = args;
    }
    return ok;
}

static aidev_status check_workgroup(const char *name, const uint32_t *required,
                                    const aidev_device_obj *dev, const uint32_t *user_wg,
                                    uint32_t wg[3]);

/* The workgroup |desc| requires (the kernel description's, else for a
 * built-in kernel the one its GPU forms run in: the manifest's `gpu`
 * line), or NULL when any will do. One rule on every device: the C forms
 * would take any size, but a dispatch that runs on one device must not be
 * refused on another. */
static const uint32_t *required_workgroup(const aidev_kernel_desc *desc, uint32_t library_index)
{
    const uint32_t *w = desc->workgroup;
    if (w[0] || w[1] || w[2])
        return w;
    if (library_index == UINT32_MAX)
        return NULL;
    w = aidev_library_entries[library_index].gpu_workgroup;
    return w[0] || w[1] || w[2] ? w : NULL;
}

static aidev_status kernel_make(aidev_device_obj *dev, uint32_t library_index,
                                const aidev_kernel_desc *desc, aidev_kernel *out)
{
    aidev_status st = aidev_device_ensure_open(dev);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_kernel_obj *k = calloc(1, sizeof *k);
    if (!k)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    atomic_init(&k->refs, 1);
    k->device = dev;
    k->library_index = library_index;
    if (library_index == UINT32_MAX) {
        if (!copy_desc(&k->owned_desc, desc)) {
            aidev_kernel_unref(k);
            return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        k->desc = &k->owned_desc;
    } else {
        k->desc = desc;
    }
    desc = k->desc;
    k->counts = calloc(desc->arg_count ? desc->arg_count : 1, sizeof *k->counts);
    if (!k->counts) {
        aidev_kernel_unref(k);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < desc->arg_count && st == AIDEV_SUCCESS; i++)
        if (desc->args[i].kind == AIDEV_ARG_BUFFER)
            st = parse_expr(desc, desc->args[i].count, "count", &k->counts[i]);
    for (int i = 0; i < 3 && st == AIDEV_SUCCESS; i++) {
        st = parse_expr(desc, desc->grid[i], "grid", &k->grid[i]);
        k->grid_exprs |= k->grid[i].factor_count != 0;
    }
    if (st != AIDEV_SUCCESS) {
        aidev_kernel_unref(k);
        return st;
    }

    uint32_t wg[3];
    const uint32_t *required = required_workgroup(desc, library_index);
    if (st == AIDEV_SUCCESS && required &&
        check_workgroup(desc->name, required, dev, NULL, wg) != AIDEV_SUCCESS)
        st = aidev_error(AIDEV_ERROR_UNSUPPORTED, "kernel '%s' cannot run on device %u (%s): %s",
                         desc->name, dev->index, dev->info->name, aidev_error_message());
    if (st != AIDEV_SUCCESS) {
        aidev_kernel_unref(k);
        return st;
    }

    aidev_backend_kernel_source src = {.library_index = library_index, .desc = desc};
    aidev_error_clear();
    st = AIDEV_DEVICE_VT(dev)->kernel_create(dev->native, &src, &k->native);
    if (st != AIDEV_SUCCESS) {
        if (!aidev_error_message()[0])
            aidev_error(st, "backend '%s' could not build kernel '%s'", dev->backend->name,
                        desc->name);
        k->native = NULL;
        aidev_kernel_unref(k);
        return st;
    }
    k->obj.context = dev->obj.context;
    k->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_KERNEL, k);
    if (!k->obj.handle) {
        aidev_kernel_unref(k);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    }
    aidev_context_link(dev->obj.context, &k->obj, AIDEV_HANDLE_KERNEL, kernel_destroy_linked);
    *out = (aidev_kernel)k->obj.handle;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_kernel_get(aidev_device device, const char *name,
                                        aidev_kernel *out_kernel)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!name)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "name: NULL");
    if (!out_kernel)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_kernel: NULL");
    *out_kernel = NULL;
    uint32_t index = aidev_library_find(name);
    if (index == UINT32_MAX)
        return aidev_error(AIDEV_ERROR_NOT_FOUND,
                           "name: no built-in kernel '%s' (aidev-info --kernels lists them)",
                           name);
    if (aidev_library_entries[index].internal)
        return aidev_error(AIDEV_ERROR_NOT_FOUND,
                           "name: '%s' is internal to the tensor ops (aidev_tensor.h); call the "
                           "op instead (aidev-info --kernels lists which runs it)",
                           name);
    return kernel_make(dev, index, &aidev_library_entries[index].desc, out_kernel);
}

aidev_status aidev_kernel_internal(aidev_device_obj *dev, const char *name, aidev_kernel *out)
{
    uint32_t index = aidev_library_find(name);
    if (index == UINT32_MAX || !aidev_library_entries[index].internal)
        return aidev_error(AIDEV_ERROR_NOT_FOUND, "no internal kernel '%s' in the library", name);
    _Atomic(aidev_kernel) *slots = atomic_load_explicit(&dev->op_kernels, memory_order_acquire);
    aidev_kernel k = slots ? atomic_load_explicit(&slots[index], memory_order_acquire) : NULL;
    if (k) {
        *out = k;
        return AIDEV_SUCCESS;
    }
    /* First use on this device. The build runs outside the lock (it may
     * take a while and opens the device); a thread that loses the race
     * releases its copy. */
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&dev->open_lock);
    slots = atomic_load_explicit(&dev->op_kernels, memory_order_relaxed);
    if (!slots) {
        slots = calloc(aidev_library_entry_count, sizeof *slots);
        if (slots)
            atomic_store_explicit(&dev->op_kernels, slots, memory_order_release);
    }
    pthread_mutex_unlock(&dev->open_lock);
    if (!slots)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    st = kernel_make(dev, index, &aidev_library_entries[index].desc, &k);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_kernel expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&slots[index], &expected, k,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        aidev_kernel_release(k);
        k = expected;
    }
    *out = k;
    return AIDEV_SUCCESS;
}

/* The kernels themselves are on the context's list and go with it. */
void aidev_kernel_internal_forget(aidev_device_obj *dev)
{
    free(atomic_exchange_explicit(&dev->op_kernels, NULL, memory_order_acq_rel));
}

AIDEV_API aidev_status aidev_kernel_create(aidev_device device, const aidev_kernel_desc *desc,
                                           aidev_kernel *out_kernel)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!desc)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc: NULL");
    if (!out_kernel)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_kernel: NULL");
    *out_kernel = NULL;
    st = check_desc(desc);
    if (st != AIDEV_SUCCESS)
        return st;
    switch (desc->source_kind) {
    case AIDEV_KERNEL_SOURCE_HOST:
        if (!desc->host_fn)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': desc->host_fn: NULL for a host kernel", desc->name);
        if (!(dev->info->features & AIDEV_FEATURE_KERNEL_HOST))
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "kernel '%s': device %u (%s) cannot run host (C) kernels",
                               desc->name, dev->index, dev->info->name);
        break;
    case AIDEV_KERNEL_SOURCE_OPENCL_C:
    case AIDEV_KERNEL_SOURCE_SPIRV: {
        bool cl = desc->source_kind == AIDEV_KERNEL_SOURCE_OPENCL_C;
        if (!desc->data || (!cl && desc->size == 0))
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': desc->data/size: no %s given", desc->name,
                               cl ? "OpenCL C source" : "SPIR-V module");
        if (!cl && desc->size % 4)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': desc->size: %zu is not a whole number of SPIR-V "
                               "words",
                               desc->name, desc->size);
        uint64_t need = cl ? AIDEV_FEATURE_KERNEL_OPENCL_C : AIDEV_FEATURE_KERNEL_SPIRV;
        if (!(dev->info->features & need))
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "kernel '%s': device %u (%s, %s) does not take %s kernels",
                               desc->name, dev->index, dev->info->name, dev->backend->name,
                               cl ? "OpenCL C" : "SPIR-V");
        break;
    }
    default:
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "kernel '%s': desc->source_kind: %d is not an aidev_kernel_source_kind",
                           desc->name, (int)desc->source_kind);
    }
    st = check_desc_for_kind(desc);
    if (st == AIDEV_SUCCESS)
        st = check_backend_applies(desc, dev);
    if (st != AIDEV_SUCCESS)
        return st;
    return kernel_make(dev, UINT32_MAX, desc, out_kernel);
}

static void kernel_unpublish(aidev_kernel_obj *k)
{
    aidev_context_unlink(&k->obj);
    aidev_handle_free(k->obj.handle);
    k->obj.handle = 0;
    aidev_kernel_unref(k);
}

AIDEV_API aidev_status aidev_kernel_release(aidev_kernel kernel)
{
    aidev_error_clear();
    aidev_kernel_obj *k;
    aidev_status st = aidev_lookup_kernel(kernel, "kernel", &k);
    if (st != AIDEV_SUCCESS)
        return st;
    kernel_unpublish(k);
    return AIDEV_SUCCESS;
}

/* The context's teardown of a kernel the user did not release. */
static void kernel_destroy_linked(aidev_object *o)
{
    kernel_unpublish((aidev_kernel_obj *)o);
}

/* ------------------------------------------------------------------------ */
/* The dispatch check                                                       */
/* ------------------------------------------------------------------------ */

static const char *arg_kind_name(aidev_arg_kind kind)
{
    return kind == AIDEV_ARG_BUFFER   ? "buffer"
           : kind == AIDEV_ARG_SCALAR ? "scalar"
           : kind == AIDEV_ARG_LOCAL  ? "local memory size"
                                      : "invalid";
}

/* A local-memory argument: a size in whole elements; |*total| sums them. */
static aidev_status check_local_arg(const aidev_kernel_desc *d, uint32_t i, const aidev_arg *got,
                                    aidev_backend_arg *resolved, uint64_t *total)
{
    const aidev_kernel_arg_desc *want = &d->args[i];
    uint64_t bytes = got->u.u64;
    size_t esize = aidev_type_bytes(want->type);
    if (bytes == 0 || bytes % esize)
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                           "kernel '%s': argument %u '%s': local memory of %llu bytes; it must "
                           "be a positive whole number of %s (%zu bytes)",
                           d->name, i, want->name, (unsigned long long)bytes,
                           aidev_type_name(want->type), esize);
    memset(&resolved->u, 0, sizeof resolved->u);
    resolved->u.u64 = bytes;
    *total = *total + bytes < *total ? UINT64_MAX : *total + bytes;
    return AIDEV_SUCCESS;
}

aidev_status aidev_kernel_check_args(const aidev_kernel_obj *k, const aidev_device_obj *dev,
                                     uint32_t arg_count, const aidev_arg *args,
                                     const uint32_t *user_grid, const uint32_t *user_wg,
                                     aidev_backend_arg *resolved, aidev_buffer_obj **buffers,
                                     uint32_t grid[3], uint32_t wg[3])
{
    const aidev_kernel_desc *d = k->desc;
    if (k->device != dev)
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                           "kernel '%s' was built for device %u, the queue is on device %u",
                           d->name, k->device->index, dev->index);
    if (arg_count != d->arg_count)
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS, "kernel '%s': %u arguments given, it takes %u",
                           d->name, arg_count, d->arg_count);
    if (arg_count && !args)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "kernel '%s': args: NULL", d->name);

    uint64_t local_bytes = 0;
    for (uint32_t i = 0; i < arg_count; i++) {
        const aidev_kernel_arg_desc *want = &d->args[i];
        const aidev_arg *got = &args[i];
        buffers[i] = NULL;
        if (got->kind != want->kind)
            return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                               "kernel '%s': argument %u '%s' must be a %s, got a %s", d->name, i,
                               want->name, arg_kind_name(want->kind), arg_kind_name(got->kind));
        resolved[i].kind = want->kind;
        resolved[i].type = want->type;
        if (want->kind == AIDEV_ARG_SCALAR) {
            if (got->type != want->type)
                return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                                   "kernel '%s': argument %u '%s' must be a %s scalar, got %s",
                                   d->name, i, want->name, aidev_type_name(want->type),
                                   aidev_type_name(got->type));
            /* The value's own bytes, the rest zero (fixed-size copies: a
             * call to memcpy per scalar showed in the profile). */
            memset(&resolved[i].u, 0, sizeof resolved[i].u);
            switch (aidev_type_bytes(want->type)) {
            case 1: memcpy(&resolved[i].u, &got->u, 1); break;
            case 2: memcpy(&resolved[i].u, &got->u, 2); break;
            case 4: memcpy(&resolved[i].u, &got->u, 4); break;
            default: memcpy(&resolved[i].u, &got->u, 8); break;
            }
            continue;
        }
        if (want->kind == AIDEV_ARG_LOCAL) {
            aidev_status st = check_local_arg(d, i, got, &resolved[i], &local_bytes);
            if (st != AIDEV_SUCCESS)
                return st;
            continue;
        }
        aidev_buffer_obj *b;
        /* The argument's name is formatted only when a check fails: a
         * snprintf per buffer argument was a measurable part of a dispatch. */
        char what[160];
#define WHAT()                                                                             \
    (snprintf(what, sizeof what, "kernel '%s': argument %u '%s'", d->name, i, want->name), what)
        aidev_status st = aidev_lookup_buffer(got->u.buffer.buffer, "buffer", &b);
        if (st != AIDEV_SUCCESS) {
            aidev_lookup_buffer(got->u.buffer.buffer, WHAT(), &b); /* again, with the name */
            return aidev_error(AIDEV_ERROR_KERNEL_ARGS, "%s", aidev_error_message());
        }
        if (b->obj.context != dev->obj.context)
            return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "%s: the buffer belongs to another context",
                               WHAT());
        if (b->device != dev)
            return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                               "%s: the buffer is on device %u, the queue on device %u", WHAT(),
                               b->device->index, dev->index);
        if (want->type != AIDEV_TYPE_NONE && b->element_type != AIDEV_TYPE_NONE &&
            b->element_type != want->type)
            return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                               "%s: expects a buffer of %s, got a buffer of %s", WHAT(),
                               aidev_type_name(want->type), aidev_type_name(b->element_type));
        uint64_t offset = got->u.buffer.offset;
        if (offset > b->size)
            return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                               "%s: offset %llu is past the end of the buffer (%llu bytes)",
                               WHAT(), (unsigned long long)offset, (unsigned long long)b->size);
        size_t esize = aidev_type_bytes(want->type);
        if (offset & (esize - 1)) /* sizes are powers of two */
            return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                               "%s: offset %llu is not a multiple of the %s element size %zu",
                               WHAT(), (unsigned long long)offset, aidev_type_name(want->type),
                               esize);
        uint64_t count;
        if (k->counts[i].factor_count) {
            if (!eval_expr(&k->counts[i], args, &count) || count > UINT64_MAX / esize)
                return aidev_error(AIDEV_ERROR_KERNEL_ARGS, "%s: element count '%s' overflows",
                                   WHAT(), want->count);
            if (count * esize > b->size - offset)
                return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                                   "%s: needs %s = %llu elements of %s (%llu bytes) but the "
                                   "buffer has %llu bytes past offset %llu",
                                   WHAT(), want->count, (unsigned long long)count,
                                   aidev_type_name(want->type),
                                   (unsigned long long)(count * esize),
                                   (unsigned long long)(b->size - offset),
                                   (unsigned long long)offset);
        }
        /* NULL while evicted: named again once the submit has touched it
         * (aidev_request_needs_touch). */
        resolved[i].u.buffer.buffer = b->native;
        resolved[i].u.buffer.offset = offset;
        resolved[i].u.buffer.size = b->size - offset;
        buffers[i] = b;
#undef WHAT
    }
    if (local_bytes && dev->info->local_memory_bytes && local_bytes > dev->info->local_memory_bytes)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "kernel '%s': local-memory arguments of %llu bytes in all, device %u "
                           "(%s) has %llu bytes of local memory",
                           d->name, (unsigned long long)local_bytes, dev->index, dev->info->name,
                           (unsigned long long)dev->info->local_memory_bytes);

    if (user_grid && !k->grid_exprs) {
        /* No grid expressions: each dimension needs 1, which any given
         * size satisfies (0 runs nothing). */
        memcpy(grid, user_grid, 3 * sizeof grid[0]);
    } else {
        for (int dim = 0; dim < 3; dim++) {
            uint64_t need = 1;
            if (k->grid[dim].factor_count && !eval_expr(&k->grid[dim], args, &need))
                need = UINT64_MAX;
            if (user_grid) {
                grid[dim] = user_grid[dim];
                if (grid[dim] && need > grid[dim])
                    return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                                       "kernel '%s': grid[%d] = %u is smaller than %s = %llu "
                                       "that the kernel needs",
                                       d->name, dim, grid[dim], d->grid[dim] ? d->grid[dim] : "1",
                                       (unsigned long long)need);
            } else {
                if (need > UINT32_MAX)
                    return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                                       "kernel '%s': grid[%d] = %s = %llu is above 2^32-1",
                                       d->name, dim, d->grid[dim], (unsigned long long)need);
                grid[dim] = (uint32_t)need;
            }
        }
    }

    if (!user_wg) {
        /* The kernel's own workgroup (or none) was checked against the
         * device when the kernel was made. */
        memcpy(wg, d->workgroup, sizeof d->workgroup);
        return AIDEV_SUCCESS;
    }
    /* Every check of check_workgroup(), without a branch per check: it
     * runs again only to say which failed. */
    const uint32_t *required = required_workgroup(d, k->library_index);
    bool bad = false;
    uint64_t total = 1;
    for (int dim = 0; dim < 3; dim++) {
        uint32_t w = user_wg[dim], fixed = required ? required[dim] : 0;
        uint32_t max = dev->info->max_workgroup_dims[dim];
        bad |= w == 0 || (fixed && w != fixed) || (max && w > max);
        total *= w;
        wg[dim] = w;
    }
    if (!bad && (!dev->info->max_workgroup_size || total <= dev->info->max_workgroup_size))
        return AIDEV_SUCCESS;
    return check_workgroup(d->name, required, dev, user_wg, wg);
}

/* A workgroup size against the device's limits, then against the one the
 * kernel requires (|required|, may be NULL: any); |wg| gets the size to
 * launch (|user_wg| NULL: the required one). The same checks and messages
 * for every backend: none reaches a backend that would refuse it in its own
 * words or run another size. */
static aidev_status check_workgroup(const char *name, const uint32_t *required,
                                    const aidev_device_obj *dev, const uint32_t *user_wg,
                                    uint32_t wg[3])
{
    uint64_t wg_total = 1;
    for (int dim = 0; dim < 3; dim++) {
        wg[dim] = user_wg ? user_wg[dim] : required ? required[dim] : 0;
        if (user_wg && user_wg[dim] == 0)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "kernel '%s': workgroup[%d] = 0; pass NULL to let the backend "
                               "choose",
                               name, dim);
        if (wg[dim] && dev->info->max_workgroup_dims[dim] &&
            wg[dim] > dev->info->max_workgroup_dims[dim])
            return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                               "kernel '%s': workgroup[%d] = %u is above the device's %u",
                               name, dim, wg[dim], dev->info->max_workgroup_dims[dim]);
        wg_total *= wg[dim] ? wg[dim] : 1;
    }
    if (dev->info->max_workgroup_size && wg_total > dev->info->max_workgroup_size)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "kernel '%s': workgroup of %llu work-items is above the device's %u",
                           name, (unsigned long long)wg_total, dev->info->max_workgroup_size);
    if (user_wg && required &&
        (user_wg[0] != required[0] || user_wg[1] != required[1] || user_wg[2] != required[2]))
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS,
                           "kernel '%s': workgroup %u x %u x %u, but the kernel runs in "
                           "workgroups of %u x %u x %u only; pass that size or NULL",
                           name, user_wg[0], user_wg[1], user_wg[2], required[0], required[1],
                           required[2]);
    return AIDEV_SUCCESS;
}

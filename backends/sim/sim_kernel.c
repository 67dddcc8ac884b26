/*
 * sim_kernel.c - kernels: the built-in library through its C forms, user
 * kernels as C functions, each with what its modelled cost is computed
 * from (its signature's element counts and the FLOP table of sim_model.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sim_kernel_retain(sim_kernel *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

void sim_kernel_release(sim_kernel *k)
{
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) == 1)
        free(k);
}

/* Keeps what the cost model reads of the signature. A name or count too
 * long for its slot is dropped: the model then counts the whole buffer, or
 * one operation per grid item. */
static void keep_signature(sim_kernel *k, const aidev_kernel_desc *desc, bool library)
{
    snprintf(k->name, sizeof k->name, "%s", desc->name);
    k->arg_count = desc->arg_count;
    for (uint32_t i = 0; i < desc->arg_count; i++) {
        const aidev_kernel_arg_desc *a = &desc->args[i];
        const char *name = a->name ? a->name : "";
        const char *count = a->count ? a->count : "";
        if (strlen(name) < sizeof k->arg_names[i])
            snprintf(k->arg_names[i], sizeof k->arg_names[i], "%s", name);
        if (a->kind == AIDEV_ARG_BUFFER && strlen(count) < sizeof k->arg_counts[i])
            snprintf(k->arg_counts[i], sizeof k->arg_counts[i], "%s", count);
        size_t elem = aidev_type_size(a->type);
        k->arg_elem_size[i] = elem ? (uint32_t)elem : 1;
        k->arg_access[i] = a->access;
    }
    k->flops = library ? sim_model_flops(desc->name) : NULL;
    if (library && !k->flops)
        aidev_backend_debug("sim",
                            "library kernel '%s' is not in the FLOP table of "
                            "backends/sim/sim_model.c: its model counts one operation per "
                            "grid item",
                            desc->name);
}

aidev_status sim_kernel_create(void *device, const aidev_backend_kernel_source *src,
                               void **out_kernel)
{
    (void)device;
    const aidev_kernel_desc *desc = src->desc;
    bool library = src->library_index != UINT32_MAX;
    aidev_host_kernel_fn fn = NULL;
    if (library)
        fn = aidev_backend_library_host_fn(src->library_index);
    else if (desc->source_kind == AIDEV_KERNEL_SOURCE_HOST)
        fn = desc->host_fn;
    else
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "sim: kernel '%s': a simulated device runs C kernels "
                                       "only (AIDEV_KERNEL_SOURCE_HOST)",
                                       desc->name);
    if (!fn)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "sim: library kernel '%s' has no C form", desc->name);
    sim_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "sim: out of memory");
    atomic_init(&k->refs, 1);
    k->fn = fn;
    keep_signature(k, desc, library);
    *out_kernel = k;
    return AIDEV_SUCCESS;
}

void sim_kernel_destroy(void *device, void *kernel)
{
    (void)device;
    sim_kernel_release(kernel);
}

/* Runs a dispatch on the calling thread, the whole grid in one call: the
 * host does the work as fast as it can, and the queue then waits out the
 * rest of the modelled time. */
void sim_kernel_run(const sim_kernel *k, const aidev_backend_command *dispatch)
{
    void *args[AIDEV_MAX_KERNEL_ARGS];
    const aidev_backend_arg *a = dispatch->u.dispatch.args;
    for (uint32_t i = 0; i < dispatch->u.dispatch.arg_count; i++) {
        if (a[i].kind == AIDEV_ARG_BUFFER) {
            const sim_buffer *b = a[i].u.buffer.buffer;
            args[i] = (char *)b->ptr + a[i].u.buffer.offset;
        } else {
            args[i] = (void *)&a[i].u;
        }
    }
    aidev_host_range range;
    memset(&range, 0, sizeof range);
    for (int d = 0; d < 3; d++) {
        range.grid[d] = dispatch->u.dispatch.grid[d];
        range.end[d] = dispatch->u.dispatch.grid[d];
    }
    k->fn(args, &range);
}

/*
 * template_kernel.c - kernels: the built-in library through its C forms,
 * and user kernels given as C functions.
 *
 * YOUR DEVICE: for the built-in library, use your own form of each kernel
 * (the GPU forms in kernels/ show the conventions) and fall back to
 * aidev_backend_library_host_fn() only where running on the host makes
 * sense. For user kernels, compile the source kinds your device takes and
 * announce them with AIDEV_FEATURE_KERNEL_* in the device info.
 */
#include <stdlib.h>
#include <string.h>

#include "template.h"

void template_kernel_retain(template_kernel *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

void template_kernel_release(template_kernel *k)
{
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) == 1)
        free(k);
}

aidev_status template_kernel_create(void *device, const aidev_backend_kernel_source *src,
                                    void **out_kernel)
{
    (void)device;
    const aidev_kernel_desc *desc = src->desc;
    aidev_host_kernel_fn fn = NULL;
    if (src->library_index != UINT32_MAX)
        fn = aidev_backend_library_host_fn(src->library_index);
    else if (desc->source_kind == AIDEV_KERNEL_SOURCE_HOST)
        fn = desc->host_fn;
    else
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "template: kernel '%s': this device runs C kernels only "
                                       "(AIDEV_KERNEL_SOURCE_HOST)",
                                       desc->name);
    if (!fn)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "template: library kernel '%s' has no C form",
                                       desc->name);
    template_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "template: out of memory");
    atomic_init(&k->refs, 1);
    k->fn = fn;
    *out_kernel = k;
    return AIDEV_SUCCESS;
}

void template_kernel_destroy(void *device, void *kernel)
{
    (void)device;
    template_kernel_release(kernel);
}

/* Runs a dispatch on the calling thread. A host kernel receives one
 * pointer per argument: the buffer's memory at the argument's offset, or
 * the scalar's value. YOUR DEVICE: bind the arguments and launch
 * ceil(grid / workgroup) groups; kernels guard their own bounds. */
void template_kernel_run(const template_kernel *k, const aidev_backend_command *dispatch)
{
    void *args[AIDEV_MAX_KERNEL_ARGS];
    const aidev_backend_arg *a = dispatch->u.dispatch.args;
    for (uint32_t i = 0; i < dispatch->u.dispatch.arg_count; i++) {
        if (a[i].kind == AIDEV_ARG_BUFFER) {
            const template_buffer *b = a[i].u.buffer.buffer;
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
    /* The whole grid in one call: the template's queues are one thread
     * each. A multi-core host backend would split |range| over threads. */
    k->fn(args, &range);
}

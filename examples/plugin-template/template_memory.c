/*
 * template_memory.c - buffers. All three memory kinds are host memory here.
 *
 * YOUR DEVICE: DEVICE memory is the device's own; HOST memory is host
 * memory the device reaches (pinned, mapped into the device's address
 * space); SHARED is one allocation both see at one address. Give
 * |*out_host_ptr| when the host address is stable, or implement
 * buffer_map/buffer_unmap.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

#define ALIGNMENT 64u

void template_buffer_retain(template_buffer *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void template_buffer_release(template_buffer *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (!b->imported)
        free(b->ptr);
    free(b);
}

aidev_status template_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                                    void **out_buffer, void **out_host_ptr)
{
    (void)device;
    /* libaidev has checked the size against max_alloc_bytes; what it cannot
     * know is whether this process can address it. */
    if (desc->size > SIZE_MAX - ALIGNMENT)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                                       "template: %llu bytes do not fit the address space",
                                       (unsigned long long)desc->size);
    template_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "template: out of memory");
    atomic_init(&b->refs, 1);
    b->size = (size_t)desc->size;

    if (desc->import_host_ptr) {
        /* Zero-copy import (AIDEV_FEATURE_HOST_IMPORT): the user's memory
         * is the buffer. YOUR DEVICE: pin and map it. */
        b->ptr = desc->import_host_ptr;
        b->imported = true;
    } else {
        size_t rounded = (b->size + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
        b->ptr = aligned_alloc(ALIGNMENT, rounded);
        if (!b->ptr) {
            free(b);
            return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                                           "template: aligned_alloc of %zu bytes failed", rounded);
        }
        /* New buffers read as zero unless the caller said otherwise. */
        if (!(desc->flags & AIDEV_BUFFER_UNINITIALIZED))
            memset(b->ptr, 0, b->size);
    }
    *out_buffer = b;
    /* Every kind is host memory here (AIDEV_FEATURE_UNIFIED_MEMORY), so
     * libaidev gets its address, and reads files straight into it.
     * YOUR DEVICE: NULL for memory the host cannot address; libaidev then
     * stages file reads through host memory and write commands. */
    *out_host_ptr = b->ptr;
    return AIDEV_SUCCESS;
}

/* libaidev is done with the buffer; commands still in flight keep it. */
void template_buffer_destroy(void *device, void *buffer)
{
    (void)device;
    template_buffer_release(buffer);
}

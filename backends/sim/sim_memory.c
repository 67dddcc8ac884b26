/*
 * sim_memory.c - buffers: host memory standing for the device's.
 *
 * The bytes are always host memory (the kernels run on the host), but the
 * device sees them as its configuration says:
 *   - a discrete device (unified=0): DEVICE buffers are its own memory,
 *     counted against memory=, and not addressable by the host (no host
 *     pointer goes back to libaidev, so file reads and maps go through
 *     write and read commands, across the modelled link); HOST and SHARED
 *     buffers and imports are host memory the device reaches across the
 *     link;
 *   - a unified device: every buffer is the device's memory, counted
 *     against memory= (imports excepted: the user owns them), and
 *     addressable by the host, as an integrated GPU's.
 */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SIM_ALIGNMENT 64u

void sim_buffer_retain(sim_buffer *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void sim_buffer_release(sim_buffer *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (b->counted)
        atomic_fetch_sub_explicit(&b->unit->allocated, b->size, memory_order_relaxed);
    if (!b->imported) {
        /* AIDEV_BUFFER_ZERO_ON_FREE: no later buffer may read it. */
        if (b->scrub)
            memset(b->ptr, 0, b->size);
        free(b->ptr);
    }
    free(b);
}

bool sim_buffer_in_device_memory(const sim_buffer *b)
{
    return b->unit->config.unified || b->kind == AIDEV_MEMORY_DEVICE;
}

/* Takes |size| bytes of the device's memory, or refuses. */
static aidev_status reserve_device_memory(sim_unit *u, uint64_t size)
{
    uint64_t used = atomic_load_explicit(&u->allocated, memory_order_relaxed);
    do {
        if (size > u->config.memory_bytes - used)
            return aidev_backend_set_error(
                AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                "sim: device '%s': %llu bytes asked, %llu of its %llu bytes (memory=) in use",
                u->config.name, (unsigned long long)size, (unsigned long long)used,
                (unsigned long long)u->config.memory_bytes);
    } while (!atomic_compare_exchange_weak_explicit(&u->allocated, &used, used + size,
                                                    memory_order_relaxed, memory_order_relaxed));
    return AIDEV_SUCCESS;
}

aidev_status sim_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr)
{
    sim_unit *u = ((sim_device *)device)->unit;
    if (desc->size > SIZE_MAX - SIM_ALIGNMENT)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                                       "sim: %llu bytes do not fit the address space",
                                       (unsigned long long)desc->size);
    sim_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "sim: out of memory");
    atomic_init(&b->refs, 1);
    b->unit = u;
    b->size = (size_t)desc->size;
    b->kind = desc->import_host_ptr ? AIDEV_MEMORY_HOST : desc->kind;
    b->scrub = (desc->flags & AIDEV_BUFFER_ZERO_ON_FREE) != 0;
    if (desc->import_host_ptr) {
        b->ptr = desc->import_host_ptr;
        b->imported = true;
    } else {
        b->counted = sim_buffer_in_device_memory(b);
        aidev_status st = b->counted ? reserve_device_memory(u, desc->size) : AIDEV_SUCCESS;
        if (st != AIDEV_SUCCESS) {
            free(b);
            return st;
        }
        size_t rounded = (b->size + SIM_ALIGNMENT - 1) & ~(size_t)(SIM_ALIGNMENT - 1);
        b->ptr = aligned_alloc(SIM_ALIGNMENT, rounded);
        if (!b->ptr) {
            if (b->counted)
                atomic_fetch_sub_explicit(&u->allocated, b->size, memory_order_relaxed);
            free(b);
            return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                           "sim: aligned_alloc of %zu bytes failed", rounded);
        }
        if (!(desc->flags & AIDEV_BUFFER_UNINITIALIZED))
            memset(b->ptr, 0, b->size);
    }
    *out_buffer = b;
    /* The device's own memory of a discrete device is not the host's to
     * address: libaidev then moves data through commands, which the model
     * times. */
    *out_host_ptr = b->kind == AIDEV_MEMORY_DEVICE && !u->config.unified ? NULL : b->ptr;
    return AIDEV_SUCCESS;
}

/* libaidev is done with the buffer; commands in flight keep it. */
void sim_buffer_destroy(void *device, void *buffer)
{
    (void)device;
    sim_buffer_release(buffer);
}

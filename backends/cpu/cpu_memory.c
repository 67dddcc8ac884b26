/*
 * cpu_memory.c - CPU buffers: all three kinds are host memory.
 *
 * Large buffers come straight from mmap, whose pages the kernel hands out
 * zeroed and only on first touch, so "new buffers read as zero" costs
 * nothing there; small ones come from the heap and are cleared.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/cpu/cpu_internal.h"

#define MMAP_THRESHOLD (1u << 20)
#define ALIGNMENT 64u

void cpu_buffer_retain(cpu_buffer *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void cpu_buffer_release(cpu_buffer *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (!b->imported) {
        if (b->mapped_size)
            munmap(b->ptr, b->mapped_size);
        else
            free(b->ptr);
    }
    free(b);
}

aidev_status cpu_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr)
{
    (void)device;
    if (desc->size > SIZE_MAX - ALIGNMENT)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       "%llu bytes do not fit the address space",
                                       (unsigned long long)desc->size);
    cpu_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    atomic_init(&b->refs, 1);
    b->size = (size_t)desc->size;
    if (desc->import_host_ptr) {
        b->ptr = desc->import_host_ptr;
        b->imported = true;
    } else if (b->size >= MMAP_THRESHOLD) {
        void *p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            free(b);
            return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                           "mmap of %zu bytes failed", (size_t)desc->size);
        }
        b->ptr = p;
        b->mapped_size = b->size;
    } else {
        size_t rounded = (b->size + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
        b->ptr = aligned_alloc(ALIGNMENT, rounded);
        if (!b->ptr) {
            free(b);
            return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                           "out of host memory for %zu bytes", rounded);
        }
        if (!(desc->flags & AIDEV_BUFFER_UNINITIALIZED))
            memset(b->ptr, 0, b->size);
    }
    *out_buffer = b;
    *out_host_ptr = b->ptr;
    return AIDEV_SUCCESS;
}

void cpu_buffer_destroy(void *device, void *buffer)
{
    (void)device;
    cpu_buffer_release(buffer);
}

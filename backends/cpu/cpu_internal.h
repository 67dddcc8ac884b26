/*
 * cpu_internal.h - the CPU backend's objects.
 */
#ifndef AIDEV_CPU_INTERNAL_H
#define AIDEV_CPU_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <aidev/aidev_backend.h>

#include "backends/cpu/cpu_pool.h"

typedef struct cpu_backend {
    aidev_backend_device_info info;
    uint32_t workers; /* CPUs this process may use */
} cpu_backend;

typedef struct cpu_device {
    cpu_backend *backend;
    cpu_pool *pool;
} cpu_device;

typedef struct cpu_buffer {
    atomic_uint refs; /* the hal's, plus each command in flight */
    void *ptr;
    size_t size;
    size_t mapped_size; /* mmap'd length; 0 when from the heap or imported */
    bool imported;
} cpu_buffer;

typedef struct cpu_kernel {
    atomic_uint refs;
    aidev_host_kernel_fn fn;
} cpu_kernel;

void cpu_buffer_retain(cpu_buffer *b);
void cpu_buffer_release(cpu_buffer *b);

aidev_status cpu_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr);
void cpu_buffer_destroy(void *device, void *buffer);

aidev_status cpu_queue_create(void *device, aidev_queue_priority priority, void **out_queue);
void cpu_queue_destroy(void *queue);
aidev_status cpu_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal);
aidev_status cpu_queue_finish(void *queue);

#endif

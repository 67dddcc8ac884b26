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

#define CPU_MAX_PINNED 1024
#define CPU_CACHE_SLOTS 32

typedef struct cpu_backend {
    aidev_backend_device_info info;
    uint32_t workers;   /* CPUs this process may use, within its quota */
    int cpus[CPU_MAX_PINNED]; /* allowed CPUs, in pinning order */
    uint32_t cpu_count;
    bool pin;           /* pin each worker to one of |cpus| */
} cpu_backend;

/* Freed blocks kept for the next buffer of the same size (cpu_memory.c). */
typedef struct cpu_block_cache {
    pthread_mutex_t lock;
    aidev_backend_host_block blocks[CPU_CACHE_SLOTS]; /* oldest first */
    uint32_t count;
    uint64_t bytes;
} cpu_block_cache;

typedef struct cpu_device {
    cpu_backend *backend;
    cpu_pool *pool;
    cpu_block_cache cache;
} cpu_device;

typedef struct cpu_buffer {
    atomic_uint refs; /* the hal's, plus each command in flight */
    cpu_device *device;
    aidev_backend_host_block block; /* the memory (for imports: the caller's) */
    bool imported;
    bool scrub;       /* AIDEV_BUFFER_ZERO_ON_FREE */
    bool cell;        /* the memory is in this record's allocation (cpu_memory.c) */
} cpu_buffer;

/* The host address of a buffer's first byte. */
static inline char *cpu_buffer_ptr(const cpu_buffer *b)
{
    return (char *)b->block.ptr;
}

typedef struct cpu_kernel {
    atomic_uint refs;
    aidev_host_kernel_fn fn;
} cpu_kernel;

void cpu_cache_init(cpu_block_cache *c);
void cpu_cache_destroy(cpu_block_cache *c);

void cpu_buffer_retain(cpu_buffer *b);
void cpu_buffer_release(cpu_buffer *b);

aidev_status cpu_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr);
void cpu_buffer_destroy(void *device, void *buffer);
aidev_status cpu_buffer_query(void *device, void *buffer, aidev_backend_buffer_query *out);
void cpu_buffer_prefetch(cpu_buffer *b, uint64_t offset, uint64_t size, uint32_t flags);

aidev_status cpu_queue_create(void *device, aidev_queue_priority priority, void **out_queue);
aidev_status cpu_queue_create_desc(void *device, aidev_backend_queue_desc *desc, void **out_queue);
void cpu_queue_destroy(void *queue);
aidev_status cpu_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal);
aidev_status cpu_queue_finish(void *queue);

/* Runs |cmd| on the queue's executor (cpu_queue.c). */
struct cpu_queue;
void cpu_queue_run(struct cpu_queue *q, const aidev_backend_command *cmd);

/* Command graphs (cpu_graph.c): a segment's commands, run in order by the
 * executor as one command of the queue (cpu_graph_submit, cpu_queue.c). */
typedef struct cpu_graph cpu_graph;
aidev_status cpu_graph_create(void *queue, uint32_t count, const aidev_backend_command *cmds,
                              void **out_graph);
aidev_status cpu_graph_update(void *graph, uint32_t index, const aidev_backend_command *cmd);
aidev_status cpu_graph_submit(void *queue, void *graph, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal);
void cpu_graph_destroy(void *graph);
void cpu_graph_retain(cpu_graph *g);
void cpu_graph_release(cpu_graph *g);
void cpu_graph_run(struct cpu_queue *q, const cpu_graph *g);

#endif

/*
 * sim.h - the simulated-device backend: its objects and how they fit.
 *
 * Every device this machine has computes on the same host cores, so a test
 * or a benchmark of placement across devices cannot be run on real
 * heterogeneous hardware here. This backend makes such hardware up: each
 * device named in AIDEV_SIM_DEVICES runs its commands on the host (the C
 * forms of the built-in library, user kernels in C) but takes the time a
 * device of the configured compute rate, memory bandwidth, link bandwidth
 * and launch latency would take (sim_model.c says how). Nothing here
 * pretends to be hardware: the device's name and vendor say "simulated".
 *
 * Objects, as in the plugin template (examples/plugin-template):
 *   sim_backend  the configured devices, made by init; each holds the
 *                device's two engines (compute, link) and its memory count,
 *                shared by every context that opens it;
 *   sim_device   one open of a configured device;
 *   sim_buffer   host memory standing for device memory;
 *   sim_kernel   a C function plus what its cost is computed from;
 *   sim_queue    a worker thread running commands in order (sim_queue.c).
 */
#ifndef AIDEV_BACKENDS_SIM_H
#define AIDEV_BACKENDS_SIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <aidev/aidev_backend.h>

#define SIM_NAME "sim"
/* The environment variable that lists the devices (sim_config.c). */
#define SIM_ENV "AIDEV_SIM_DEVICES"
/* Most devices one variable may list. */
#define SIM_MAX_DEVICES 16
#define SIM_NAME_MAX 32

/* One device as AIDEV_SIM_DEVICES describes it. */
typedef struct sim_config {
    char name[SIM_NAME_MAX];
    double gflops;        /* compute rate, 1e9 floating-point operations per second */
    double mem_gbps;      /* device memory bandwidth, 1e9 bytes per second */
    double link_gbps;     /* host <-> device transfer bandwidth, 1e9 bytes per second */
    double latency_us;    /* launch latency of every device command */
    uint64_t memory_bytes; /* device memory; allocations past it fail */
    /* Device memory is host memory (an integrated GPU): nothing crosses a
     * link, and every buffer is host-addressable. */
    bool unified;
} sim_config;

/* Parses |text| (the value of SIM_ENV) into |out|, at most SIM_MAX_DEVICES
 * entries, their number in |*count|. AIDEV_ERROR_INVALID_ARGUMENT with a
 * message naming the entry, the key and the value at fault. */
aidev_status sim_config_parse(const char *text, sim_config *out, uint32_t *count);

/* A device's engine: the time until which it is busy. Commands of every
 * queue of the device take turns on it, in the order they become ready. */
typedef struct sim_engine {
    pthread_mutex_t lock;
    uint64_t free_at_ns; /* CLOCK_MONOTONIC */
} sim_engine;

/* A configured device, alive from init to shutdown. */
typedef struct sim_unit {
    sim_config config;
    aidev_backend_device_info info;
    /* Kernels, fills and copies within one memory run on |compute|;
     * transfers across the link on |link|, so they overlap kernels as a
     * GPU's copy engine does. */
    sim_engine compute, link;
    /* Bytes of device memory allocated, against config.memory_bytes. */
    atomic_uint_least64_t allocated;
    /* Commands that took longer on the host than the model: the model
     * could not be honoured (AIDEV_DEBUG=sim names each). */
    atomic_uint_least64_t overruns;
} sim_unit;

typedef struct sim_backend {
    uint32_t count;
    sim_unit units[SIM_MAX_DEVICES];
} sim_backend;

typedef struct sim_device {
    sim_unit *unit;
} sim_device;

typedef struct sim_buffer {
    atomic_uint refs; /* libaidev's, and one per command in flight */
    sim_unit *unit;
    void *ptr;
    size_t size;
    aidev_memory_kind kind;
    bool imported;    /* |ptr| is the user's */
    /* The bytes count against the device's memory (sim_memory.c). */
    bool counted;
    bool scrub;       /* AIDEV_BUFFER_ZERO_ON_FREE */
} sim_buffer;

/* What a kernel's cost is computed from (sim_model.c). */
typedef struct sim_kernel {
    atomic_uint refs;
    aidev_host_kernel_fn fn;
    char name[64];
    uint32_t arg_count;
    /* Per argument: its name, and for buffers the element count the
     * signature declares (an expression of scalar names, "" when none) and
     * the element size. */
    char arg_names[AIDEV_MAX_KERNEL_ARGS][32];
    char arg_counts[AIDEV_MAX_KERNEL_ARGS][64];
    uint32_t arg_elem_size[AIDEV_MAX_KERNEL_ARGS];
    aidev_access arg_access[AIDEV_MAX_KERNEL_ARGS];
    /* Floating-point operations per dispatch, as an expression of scalar
     * names; "" for kernels outside the table: one per grid item. */
    const char *flops;
} sim_kernel;

typedef struct sim_queue sim_queue;

/* sim_model.c */
/* How long |cmd| keeps device |u| busy, in ns, without the launch
 * latency, and the engine it runs on. */
uint64_t sim_model_busy_ns(sim_unit *u, const aidev_backend_command *cmd,
                           sim_engine **out_engine);
/* Books |busy_ns| on |engine| for a command ready at |ready_ns| and
 * submitted at |submitted_ns|: it starts once the launch latency after its
 * submission has passed and the engine is free. Returns the start; the
 * engine stays busy until start + busy_ns. */
uint64_t sim_engine_book(sim_engine *engine, const sim_config *config, uint64_t submitted_ns,
                         uint64_t ready_ns, uint64_t busy_ns);
/* The command ran on the host until |host_end_ns|, past the |end_ns| its
 * booking gave: keeps the engine busy until then and counts the overrun. */
void sim_engine_overrun(sim_unit *u, sim_engine *engine, uint64_t end_ns, uint64_t host_end_ns,
                        const aidev_backend_command *cmd);
/* The FLOP expression of library kernel |name|, or NULL when the table
 * does not know it. */
const char *sim_model_flops(const char *name);

/* sim_memory.c */
aidev_status sim_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr);
void sim_buffer_destroy(void *device, void *buffer);
void sim_buffer_retain(sim_buffer *b);
void sim_buffer_release(sim_buffer *b);
/* Whether the buffer's bytes are in the device's own memory (reached at
 * mem_gbps), rather than host memory across the link. */
bool sim_buffer_in_device_memory(const sim_buffer *b);

/* sim_kernel.c */
aidev_status sim_kernel_create(void *device, const aidev_backend_kernel_source *src,
                               void **out_kernel);
void sim_kernel_destroy(void *device, void *kernel);
void sim_kernel_retain(sim_kernel *k);
void sim_kernel_release(sim_kernel *k);
void sim_kernel_run(const sim_kernel *k, const aidev_backend_command *dispatch);

/* sim_queue.c */
aidev_status sim_queue_create(void *device, aidev_queue_priority priority, void **out_queue);
void sim_queue_destroy(void *queue);
aidev_status sim_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal);
aidev_status sim_queue_finish(void *queue);

#endif

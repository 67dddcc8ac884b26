/*
 * cpu_backend.c - the CPU fallback: always there, one device that is the
 * CPUs this process may use, running the C forms of the kernels.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/cpu/cpu_internal.h"
#include "backends/cpu/cpu_limits.h"
#include "hal/env.h"
#include "hal/hostmem.h"
#include "hal/internal.h"

/* ------------------------------------------------------------------------ */
/* What the machine offers                                                  */
/* ------------------------------------------------------------------------ */

/* AIDEV_CPU_THREADS may ask for more workers than CPUs (to overlap a
 * kernel that waits), up to this many per CPU the process may use: past
 * that, threads only cost memory and switches, and tens of thousands of
 * them leave the process unable to make its own. */
#define CPU_THREADS_PER_CPU 4u

/* The CPUs this process may use, in pinning order, and how many workers
 * to run: one per allowed CPU (the affinity mask, which cpusets shape),
 * capped by the cgroup CPU quota, so a container limited to 2 CPUs runs 2
 * workers. AIDEV_CPU_THREADS overrides the count, up to
 * CPU_THREADS_PER_CPU per allowed CPU. */
static void usable_cpus(cpu_backend *b)
{
    b->cpu_count = cpu_limits_allowed_cpus(b->cpus, CPU_MAX_PINNED);
    uint32_t allowed = b->cpu_count;
    if (allowed == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        allowed = online > 0 ? (uint32_t)online : 1;
    }
    uint32_t n = allowed;
    uint32_t quota = cpu_limits_cgroup_quota("/proc/self/cgroup", "/proc/self/mountinfo");
    if (quota && quota < n)
        n = quota;
    char cap_reason[96];
    snprintf(cap_reason, sizeof cap_reason, "%u per CPU this process may use, of which it has %u",
             CPU_THREADS_PER_CPU, allowed);
    aidev_env_u32("AIDEV_CPU_THREADS", 1, CPU_THREADS_PER_CPU * allowed, cap_reason, n, &n);
    b->workers = n;
    /* Pinning keeps a worker's caches and its NUMA node; AIDEV_CPU_PIN=0
     * leaves placement to the scheduler (a machine shared with other
     * pinned programs). */
    bool pin;
    aidev_env_flag("AIDEV_CPU_PIN", false, true, &pin);
    b->pin = b->cpu_count > 0 && pin;
}

/* The node of the CPUs the workers run on; -1 when they span several. */
static int32_t cpu_numa_node(const cpu_backend *b)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    uint32_t used = b->workers < b->cpu_count ? b->workers : b->cpu_count;
    for (uint32_t i = 0; i < used; i++)
        CPU_SET(b->cpus[i], &set);
    return used ? aidev_hostmem_numa_node_of_cpus(&set, sizeof set) : -1;
}

static void read_cpu_identity(char *name, size_t name_size, char *vendor, size_t vendor_size)
{
    snprintf(name, name_size, "CPU");
    snprintf(vendor, vendor_size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    bool have_name = false, have_vendor = false;
    while (fgets(line, sizeof line, f) && !(have_name && have_vendor)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        value[strcspn(value, "\n")] = '\0';
        if (!have_name && strncmp(line, "model name", 10) == 0) {
            snprintf(name, name_size, "%s", value);
            have_name = true;
        } else if (!have_vendor && strncmp(line, "vendor_id", 9) == 0) {
            snprintf(vendor, vendor_size, "%s", value);
            have_vendor = true;
        }
    }
    fclose(f);
}

/* ------------------------------------------------------------------------ */
/* Backend and device                                                       */
/* ------------------------------------------------------------------------ */

static aidev_status cpu_init(void **out_backend)
{
    cpu_backend *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    usable_cpus(b);
    aidev_backend_device_info *info = &b->info;
    read_cpu_identity(info->name, sizeof info->name, info->vendor, sizeof info->vendor);
    snprintf(info->driver_version, sizeof info->driver_version, "aidev %s", aidev_version());
    snprintf(info->api_version, sizeof info->api_version, "aidev host kernels");
    info->type = AIDEV_DEVICE_TYPE_CPU;
    info->compute_units = b->workers;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    long avail = sysconf(_SC_AVPHYS_PAGES);
    if (avail > 0 && page > 0) {
        info->free_memory_bytes = (uint64_t)avail * (uint64_t)page;
        info->has_free_memory = true;
    }
    info->max_alloc_bytes = info->memory_bytes;
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    info->local_memory_bytes = l2 > 0 ? (uint64_t)l2 : 256 * 1024;
    info->max_workgroup_size = 1024;
    info->max_workgroup_dims[0] = info->max_workgroup_dims[1] = info->max_workgroup_dims[2] = 1024;
    info->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE) |
                         AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST) |
                         AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED);
    info->features = AIDEV_FEATURE_FP64 | AIDEV_FEATURE_SVM_FINE | AIDEV_FEATURE_HOST_IMPORT |
                     AIDEV_FEATURE_KERNEL_HOST | AIDEV_FEATURE_UNIFIED_MEMORY |
                     AIDEV_FEATURE_QUEUE_PRIORITY | AIDEV_FEATURE_QUEUE_PREEMPTION |
                     AIDEV_FEATURE_QUEUE_LOW_LATENCY;
    snprintf(info->queue_scheduling, sizeof info->queue_scheduling,
             "priorities: classes of the worker pool, HIGH before NORMAL before LOW, and "
             "executor nice values; preemption: at chunk granularity (LOW work in 64 chunks "
             "per thread); low latency: executor and pool threads poll %u us before sleeping",
             AIDEV_QUEUE_LOW_LATENCY_SPIN_US);
    info->numa_node = cpu_numa_node(b);
    info->timestamp_period_ns = 1.0;
    *out_backend = b;
    return AIDEV_SUCCESS;
}

static void cpu_shutdown(void *backend)
{
    free(backend);
}

static uint32_t cpu_device_count(void *backend)
{
    (void)backend;
    return 1;
}

static aidev_status cpu_device_info(void *backend, uint32_t index, aidev_backend_device_info *out)
{
    cpu_backend *b = backend;
    if (index != 0)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "cpu: no device %u", index);
    uint32_t size = out->struct_size;
    memcpy(out, &b->info, size < sizeof b->info ? size : sizeof b->info);
    out->struct_size = size;
    return AIDEV_SUCCESS;
}

static aidev_status cpu_device_open(void *backend, uint32_t index, void **out_device)
{
    (void)index;
    cpu_backend *b = backend;
    cpu_device *d = calloc(1, sizeof *d);
    if (!d)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    d->backend = b;
    cpu_cache_init(&d->cache);
    d->pool = cpu_pool_create(b->workers, b->pin ? b->cpus : NULL, b->cpu_count);
    if (!d->pool) {
        cpu_cache_destroy(&d->cache);
        free(d);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       "cpu: could not start %u worker threads", b->workers);
    }
    *out_device = d;
    return AIDEV_SUCCESS;
}

static void cpu_device_close(void *device)
{
    cpu_device *d = device;
    cpu_pool_destroy(d->pool);
    cpu_cache_destroy(&d->cache);
    free(d);
}

/* ------------------------------------------------------------------------ */
/* Kernels                                                                  */
/* ------------------------------------------------------------------------ */

static aidev_status cpu_kernel_create(void *device, const aidev_backend_kernel_source *src,
                                      void **out_kernel)
{
    (void)device;
    aidev_host_kernel_fn fn = NULL;
    if (src->library_index != UINT32_MAX)
        fn = aidev_backend_library_host_fn(src->library_index);
    else if (src->desc->source_kind == AIDEV_KERNEL_SOURCE_HOST)
        fn = src->desc->host_fn;
    if (!fn)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "cpu: kernel '%s' has no C form; the CPU backend runs C "
                                       "kernels only",
                                       src->desc->name);
    cpu_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    atomic_init(&k->refs, 1);
    k->fn = fn;
    *out_kernel = k;
    return AIDEV_SUCCESS;
}

static void cpu_kernel_destroy(void *device, void *kernel)
{
    (void)device;
    cpu_kernel *k = kernel;
    if (atomic_fetch_sub(&k->refs, 1) == 1)
        free(k);
}

static const aidev_backend_vtable cpu_vtable = {
    .struct_size = sizeof(aidev_backend_vtable),
    .abi_version = AIDEV_BACKEND_ABI_VERSION,
    .name = "cpu",
    .caps = AIDEV_BACKEND_CAP_ANY_WAIT | AIDEV_BACKEND_CAP_HOST_CALLBACK |
            AIDEV_BACKEND_CAP_PREFETCH,
    .init = cpu_init,
    .shutdown = cpu_shutdown,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .buffer_create = cpu_buffer_create,
    .buffer_destroy = cpu_buffer_destroy,
    .queue_create = cpu_queue_create,
    .queue_destroy = cpu_queue_destroy,
    .queue_submit = cpu_queue_submit,
    .queue_finish = cpu_queue_finish,
    .kernel_create = cpu_kernel_create,
    .kernel_destroy = cpu_kernel_destroy,
    .buffer_query = cpu_buffer_query,
    .graph_create = cpu_graph_create,
    .graph_update = cpu_graph_update,
    .graph_submit = cpu_graph_submit,
    .graph_destroy = cpu_graph_destroy,
    .queue_create_desc = cpu_queue_create_desc,
};

const aidev_backend_vtable *aidev_cpu_backend_vtable(void)
{
    return &cpu_vtable;
}

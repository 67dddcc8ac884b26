/*
 * vk_internal.h - the Vulkan backend's objects and the functions its files
 * share.
 *
 *   vkb_backend   the VkInstance and the physical devices (backend.c)
 *   vkb_device    one VkDevice per aidev_device_open (device.c), with its
 *                 memory pools (memory.c), completion thread (completion.c),
 *                 pipeline cache (pipeline_cache.c) and library kernels
 *   vkb_buffer    a range of a memory block (memory.c, allocator.c)
 *   vkb_queue     an in-order queue: one timeline semaphore, batches of
 *                 commands recorded into command buffers (queue.c)
 *   vkb_batch     one command buffer: the commands recorded into it and what
 *                 must happen when it completes
 *   vkb_kernel    a compute pipeline with its signature (kernel.c, reflect.c)
 *
 * Lock order (outer first): queue complete_lock -> queue lock -> queue
 * inflight_lock -> pool lock. Event callbacks, which may enqueue on any queue,
 * run with no lock held but complete_lock.
 */
#ifndef AIDEV_VK_INTERNAL_H
#define AIDEV_VK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev_backend.h>

#include "backends/vulkan/allocator.h"
#include "backends/vulkan/vk_funcs.h"
#include "kernels/library_forms.h"

#define VKB_HIDDEN __attribute__((visibility("hidden")))

/* Compute VkQueues a device opens at most (see device.c for priorities). */
#define VKB_MAX_COMPUTE_QUEUES 4
/* Pipelines (workgroup variants) one user kernel keeps. */
#define VKB_MAX_VARIANTS 8

struct vkb_device;
struct vkb_queue;
struct vkb_kernel;

/* ------------------------------------------------------------------------ */
/* Backend and physical devices (backend.c)                                 */
/* ------------------------------------------------------------------------ */

/* What a physical device offers that the backend uses. */
typedef struct vkb_physical {
    VkPhysicalDevice handle;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memory;
    uint32_t api_version;
    uint32_t compute_family;
    uint32_t compute_queue_count;
    uint32_t compute_timestamp_bits;
    uint32_t transfer_family;       /* UINT32_MAX: no transfer-only family */
    uint32_t transfer_timestamp_bits;
    uint64_t max_alloc;             /* maxMemoryAllocationSize */
    uint64_t min_import_alignment;  /* VK_EXT_external_memory_host, else 0 */
    uint32_t max_push_descriptors;
    uint32_t max_storage_range;
    uint32_t subgroup_size;
    /* Extensions present. */
    bool ext_push_descriptor, ext_host_import, ext_memory_budget, ext_pci_bus_info,
        ext_calibrated, ext_portability_subset, ext_timeline_khr, ext_float16_int8_khr,
        ext_8bit_storage_khr, ext_int_dot_khr;
    /* VK_KHR_global_priority, else VK_EXT_global_priority (same structure):
     * the name to enable, NULL when the driver has neither. */
    const char *ext_global_priority;
    /* Features to enable: everything a compute shader may need that the
     * device has, so that a user's SPIR-V using it passes validation. */
    VkPhysicalDeviceFeatures core_features;
    bool f_float16, f_int8, f_storage8, f_storage8_uniform, f_storage16, f_storage16_uniform,
        f_int_dot, f_subgroup_size_control, f_host_query_reset;
    aidev_backend_device_info info;
} vkb_physical;

typedef struct vkb_backend {
    void *loader;                   /* dlopen handle of libvulkan */
    PFN_vkGetInstanceProcAddr get_instance_proc_addr;
    vkb_global_fns g;
    vkb_instance_fns i;
    VkInstance instance;
    uint32_t instance_version;
    bool validation;                /* AIDEV_VULKAN_VALIDATION */
    VkDebugUtilsMessengerEXT messenger;
    atomic_uint validation_messages;
    uint32_t device_count;
    vkb_physical *devices;
} vkb_backend;

/* The tunables and test switches read from the environment at init
 * (documented in backends/vulkan/README.md). */
typedef struct vkb_options {
    uint32_t batch_limit;      /* AIDEV_VULKAN_BATCH: commands per command buffer */
    bool emulate_discrete;     /* AIDEV_VULKAN_EMULATE_DISCRETE: DEVICE memory unmapped */
    bool no_push_descriptors;  /* AIDEV_VULKAN_NO_PUSH_DESCRIPTORS */
    bool no_calibrated;        /* AIDEV_VULKAN_NO_CALIBRATED_TIMESTAMPS */
    bool emulate_transfer;     /* AIDEV_VULKAN_EMULATE_TRANSFER: copies "on another
                                  family" that is the compute queue itself */
    /* AIDEV_VULKAN_GLOBAL_PRIORITY: the VkQueueGlobalPriorityKHR asked for
     * every queue of the process's devices, 0 when unset (the driver's
     * default, medium) */
    uint32_t global_priority;
} vkb_options;

VKB_HIDDEN extern vkb_options vkb_opts;

/* Lists the physical devices that can serve aidev (physical.c); an
 * AIDEV_ERROR_UNSUPPORTED with the reason when none can. */
VKB_HIDDEN aidev_status vkb_list_devices(vkb_backend *b);

/* Reports validation messages at device close/shutdown; aborts the process
 * when any was seen (the test switch). */
VKB_HIDDEN void vkb_validation_check(vkb_backend *b, const char *when);

/* ------------------------------------------------------------------------ */
/* Errors (errors.c)                                                        */
/* ------------------------------------------------------------------------ */

VKB_HIDDEN const char *vkb_result_name(VkResult r);
VKB_HIDDEN aidev_status vkb_status_of(VkResult r);
/* Sets "|call| failed: VK_ERROR_X (-n)" and returns the mapped status. */
VKB_HIDDEN aidev_status vkb_error(const char *call, VkResult r);

/* ------------------------------------------------------------------------ */
/* Memory (memory.c)                                                        */
/* ------------------------------------------------------------------------ */

typedef struct vkb_pool vkb_pool;

/* One VkDeviceMemory with one VkBuffer spanning it: buffers are ranges of
 * it, so commands name (block buffer, offset). */
typedef struct vkb_block {
    struct vkb_block *next, *prev;
    vkb_pool *pool;                 /* NULL: imported host memory */
    VkDeviceMemory memory;
    VkBuffer buffer;
    uint64_t size;
    uint8_t *map;                   /* persistently mapped base, or NULL */
    bool dedicated;                 /* holds one buffer; freed with it */
    vkb_suballoc ranges;
} vkb_block;

struct vkb_pool {
    struct vkb_device *dev;
    uint32_t type_index;
    VkMemoryPropertyFlags flags;
    bool mapped;                    /* blocks are mapped at creation */
    uint64_t block_size;
    pthread_mutex_t lock;
    vkb_block *blocks;
    uint32_t block_count;
};

typedef enum vkb_buffer_role {
    VKB_BUFFER_USER = 0,    /* made by buffer_create */
    VKB_BUFFER_STAGING = 1, /* host-visible, for write/read/fill */
    VKB_BUFFER_SCRATCH = 2, /* device, for reductions and realignment */
} vkb_buffer_role;

typedef struct vkb_buffer {
    atomic_uint refs;           /* libaidev's, plus each batch that uses it */
    struct vkb_device *dev;
    vkb_block *block;
    VkBuffer vk;                /* block->buffer */
    uint64_t offset;            /* of the buffer in |vk| */
    uint64_t size;              /* bytes the user asked for */
    uint64_t alloc_size;        /* bytes taken from the block */
    uint8_t *host;              /* host address of |offset|, or NULL */
    bool coherent;              /* host writes need no flush */
    bool imported;
    atomic_bool needs_zero;     /* zero-fill on the GPU before first use */
    bool scrub;                 /* AIDEV_BUFFER_ZERO_ON_FREE */
    /* HOST buffers of CPU devices: libaidev's host memory, imported; freed
     * with the buffer. NULL otherwise. */
    aidev_backend_host_block *host_block;
    aidev_memory_kind kind;
} vkb_buffer;

/* The memory type of each aidev kind on a device, and whether its blocks
 * stay mapped (memory.c). */
typedef struct vkb_memory_plan {
    int32_t kind_type[AIDEV_MEMORY_KIND_COUNT_]; /* -1: kind not offered */
    bool kind_mapped[AIDEV_MEMORY_KIND_COUNT_];
    int32_t staging_type;
    /* DEVICE memory is host memory libaidev may write directly (a CPU
     * device's, coherent, persistently mapped): buffer_create hands out
     * its address, and file reads land in it with no device command. */
    bool device_addressable;
} vkb_memory_plan;

/* The plan for memory properties |m|, of which buffers may use the types
 * in |allowed|, on a device of |type|; |emulate_discrete| plans as for a
 * discrete GPU. False when the device has no device or no host-visible
 * coherent type (|*missing| says which). */
VKB_HIDDEN bool vkb_memory_plan_make(const VkPhysicalDeviceMemoryProperties *m, uint32_t allowed,
                                     VkPhysicalDeviceType type, bool emulate_discrete,
                                     vkb_memory_plan *out, const char **missing);
VKB_HIDDEN aidev_status vkb_memory_init(struct vkb_device *dev);
VKB_HIDDEN void vkb_memory_finish(struct vkb_device *dev);
/* An internal buffer (staging or scratch), one reference, not zeroed. */
VKB_HIDDEN aidev_status vkb_buffer_alloc(struct vkb_device *dev, vkb_buffer_role role,
                                         uint64_t size, vkb_buffer **out);
VKB_HIDDEN void vkb_buffer_ref(vkb_buffer *b);
VKB_HIDDEN void vkb_buffer_unref(vkb_buffer *b);
/* Makes host writes to a mapped, non-coherent range visible to the device
 * (and the reverse for invalidate). No-ops on coherent memory. */
VKB_HIDDEN aidev_status vkb_buffer_flush(vkb_buffer *b, uint64_t offset, uint64_t size);
VKB_HIDDEN aidev_status vkb_buffer_invalidate(vkb_buffer *b, uint64_t offset, uint64_t size);

VKB_HIDDEN aidev_status vkb_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                                          void **out_buffer, void **out_host_ptr);
VKB_HIDDEN void vkb_buffer_destroy(void *device, void *buffer);
VKB_HIDDEN aidev_status vkb_buffer_query(void *device, void *buffer,
                                        aidev_backend_buffer_query *out);
VKB_HIDDEN aidev_status vkb_buffer_map(void *device, void *buffer, uint64_t offset,
                                       uint64_t size, uint32_t map_flags, void **out_ptr);
VKB_HIDDEN aidev_status vkb_buffer_unmap(void *device, void *buffer, void *ptr);

/* ------------------------------------------------------------------------ */
/* Kernels (kernel.c, reflect.c)                                            */
/* ------------------------------------------------------------------------ */

typedef struct vkb_arg_info {
    aidev_arg_kind kind;
    aidev_type type;
    aidev_access access;
    uint32_t binding;           /* buffers: binding in set 0 */
    uint32_t push_offset;       /* scalars: offset in the push-constant block */
    uint32_t push_size;
    /* Buffers: the element count the kernel touches, as factors of scalar
     * argument indices (-1: the constant); count_factors 0: unknown. */
    uint8_t count_factors;
    int8_t count_arg[4];
    uint64_t count_const[4];
} vkb_arg_info;

typedef struct vkb_variant {
    uint32_t workgroup[3];
    VkPipeline pipeline;
} vkb_variant;

typedef struct vkb_kernel {
    atomic_uint refs;               /* libaidev's, the device's (library), each batch */
    /* Unique in the process and never reused: what a queue's dispatch memo
     * keys on (an address may come back for another kernel). */
    uint64_t uid;
    struct vkb_device *dev;
    char name[128];
    char entry[128];
    bool library;
    aidev_library_launch launch;    /* library forms; ITEMS for user kernels */
    uint32_t items_per_thread;
    uint32_t arg_count;
    uint32_t buffer_count;
    uint32_t push_size;
    /* User kernels: where the module's push-constant member aidev_grid (a
     * last uvec3 or uint[3]) takes the dispatch's grid; UINT32_MAX: none. */
    uint32_t grid_push_offset;
    vkb_arg_info args[AIDEV_MAX_KERNEL_ARGS];
    /* REDUCE: the pass's own arguments (n, in, out) in the library signature. */
    int32_t reduce_n, reduce_in, reduce_out;
    uint32_t reduce_elem_size;
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;   /* VK_NULL_HANDLE without buffers */
    VkPipelineLayout layout;
    bool push_descriptors;
    /* The workgroup the module declares, and the specialization constant
     * ids that set it (UINT32_MAX: a literal in the module). */
    uint32_t local[3];
    uint32_t local_spec_id[3];
    /* The user's specialization constants (aidev_kernel_desc), given to
     * every pipeline of the kernel before the workgroup's: entries with
     * offsets into |spec_data|. */
    uint32_t spec_count;
    VkSpecializationMapEntry spec_entries[AIDEV_MAX_SPEC_CONSTANTS];
    uint8_t spec_data[AIDEV_MAX_SPEC_CONSTANTS * 8];
    pthread_mutex_t variant_lock;
    uint32_t variant_count;
    vkb_variant variants[VKB_MAX_VARIANTS];
} vkb_kernel;

/* What reflection found in a user module. */
/* What aidev's documents call the push-constant member of a user module
 * that receives the grid (a last uvec3 or uint[3] after the scalars). */
#define AIDEV_GRID_MEMBER "aidev_grid"
/* The most push-constant bytes a dispatch sets (32 scalars of 8 bytes). */
#define VKB_PUSH_MAX 256

typedef struct vkb_reflection {
    char entry[128];
    uint32_t local[3];
    uint32_t local_spec_id[3];
    /* The offset of the push-constant member that takes the grid (a last
     * uvec3 or uint[3] after the scalars); UINT32_MAX when there is none. */
    uint32_t grid_offset;
} vkb_reflection;

/* Parses |words| and checks it against |desc| and the layout the backend
 * will give it (|args|): buffers at set 0 bindings in order, scalars in one
 * push-constant block, which may end with one more member, uvec3 or
 * uint[3] (aidev_grid), that receives the dispatch's grid. AIDEV_ERROR_COMPILE for a malformed module or one
 * without the entry point, AIDEV_ERROR_KERNEL_ARGS naming the argument that
 * does not match. */
VKB_HIDDEN aidev_status vkb_reflect_check(const uint32_t *words, size_t word_count,
                                          const aidev_kernel_desc *desc,
                                          const vkb_arg_info *args, uint32_t push_size,
                                          vkb_reflection *out);

/* Lays out |desc|'s arguments: bindings and push-constant offsets. */
VKB_HIDDEN aidev_status vkb_layout_args(const aidev_kernel_desc *desc, vkb_arg_info *args,
                                        uint32_t *buffer_count, uint32_t *push_size);

VKB_HIDDEN aidev_status vkb_kernel_create(void *device, const aidev_backend_kernel_source *src,
                                          void **out_kernel);
VKB_HIDDEN void vkb_kernel_destroy(void *device, void *kernel);
/* Builds a kernel from a library GPU form (also used by tests with forms
 * of their own). */
VKB_HIDDEN aidev_status vkb_kernel_from_form(struct vkb_device *dev,
                                             const aidev_kernel_desc *desc,
                                             const aidev_library_gpu_form *form,
                                             vkb_kernel **out);
/* The pipeline for workgroup |wg| (made on first use). */
VKB_HIDDEN aidev_status vkb_kernel_pipeline(vkb_kernel *k, const uint32_t wg[3], VkPipeline *out);
/* Makes the driver build |pipeline|'s code now, where it would at the first
 * dispatch (CPU devices; prime.c). */
VKB_HIDDEN aidev_status vkb_kernel_prime(vkb_kernel *k, VkPipeline pipeline);
VKB_HIDDEN void vkb_kernel_ref(vkb_kernel *k);
VKB_HIDDEN void vkb_kernel_unref(vkb_kernel *k);
VKB_HIDDEN void vkb_library_kernels_release(struct vkb_device *dev);

/* ------------------------------------------------------------------------ */
/* Pipeline cache (pipeline_cache.c)                                        */
/* ------------------------------------------------------------------------ */

/* Checks a cache file's bytes: aidev's wrapper (magic, size, checksum) and
 * the Vulkan header (version, vendor and device id, cache UUID) against
 * |props|. On success stores where the driver's data starts and its size;
 * else writes why into |why|. */
VKB_HIDDEN bool vkb_pipeline_cache_check(const void *file, size_t file_size,
                                         const VkPhysicalDeviceProperties *props,
                                         size_t *data_offset, size_t *data_size, char *why,
                                         size_t why_size);
/* The file's path for |props|; false when there is no cache folder. */
VKB_HIDDEN bool vkb_pipeline_cache_path(const VkPhysicalDeviceProperties *props, char *out,
                                        size_t out_size);
VKB_HIDDEN void vkb_pipeline_cache_open(struct vkb_device *dev);
/* Saves the cache when it holds something new; destroys it. */
VKB_HIDDEN void vkb_pipeline_cache_close(struct vkb_device *dev);

/* ------------------------------------------------------------------------ */
/* Devices (device.c)                                                       */
/* ------------------------------------------------------------------------ */

/* A timeline semaphore and how far its batches have been retired. */
typedef struct vkb_timeline {
    struct vkb_timeline *next, *next_free;
    VkSemaphore sem;
    _Atomic uint64_t processed;
} vkb_timeline;

typedef struct vkb_device {
    vkb_backend *backend;
    vkb_physical *phys;
    VkDevice handle;
    vkb_device_fns f;

    /* Compute VkQueues; aidev queues share them (round robin), so each has
     * a lock for vkQueueSubmit. */
    uint32_t compute_queue_count;
    VkQueue compute_queues[VKB_MAX_COMPUTE_QUEUES];
    pthread_mutex_t compute_locks[VKB_MAX_COMPUTE_QUEUES];
    atomic_uint next_compute_queue;
    bool queue_priorities;          /* compute queue 0 high, last low */
    /* What became of AIDEV_VULKAN_GLOBAL_PRIORITY on this device, in words:
     * "global priority high", "global priority high refused by the driver
     * (VK_ERROR_NOT_PERMITTED_KHR)", or "" when not asked. */
    char global_priority_note[128];
    /* Copies go to a transfer-only family where the device has one. */
    bool has_transfer;
    uint32_t transfer_family;       /* the family index, when has_transfer */
    bool sharing_concurrent;        /* buffers shared by two families */
    VkQueue transfer_queue;
    pthread_mutex_t transfer_lock;
    pthread_mutex_t *transfer_queue_lock; /* &transfer_lock, or a compute
                                             queue's when emulated on it */

    /* Memory: the type chosen per aidev kind, and a pool per type. */
    int32_t kind_type[AIDEV_MEMORY_KIND_COUNT_];
    bool kind_mapped[AIDEV_MEMORY_KIND_COUNT_];
    int32_t staging_type;
    bool device_addressable;        /* vkb_memory_plan's */
    /* A pool per memory type, mapped or not (a type can serve both: DEVICE
     * memory unmapped, staging mapped). */
    vkb_pool *pools[VK_MAX_MEMORY_TYPES][2];
    uint64_t storage_align;         /* minStorageBufferOffsetAlignment */

    bool push_descriptors;
    bool timestamps;                /* the compute family writes timestamps */
    uint64_t timestamp_mask;
    double timestamp_period;        /* ns per tick */

    /* Device ticks to CLOCK_MONOTONIC: ns = (ticks * period) + offset. */
    pthread_mutex_t clock_lock;
    bool calibrated_ext;            /* VK_EXT_calibrated_timestamps */
    int64_t clock_offset_ns;
    uint64_t clock_calibrated_at;   /* CLOCK_MONOTONIC ns */

    /* Timelines outlive the queues that used them, so that a semaphore
     * named by an event stays valid until the device closes. */
    pthread_mutex_t timeline_lock;
    struct vkb_timeline *timelines;      /* all of them, destroyed at close */
    struct vkb_timeline *free_timelines;
    /* Retiring a batch that waited on other queues first waits until those
     * queues retired what it waited on, so events complete in dependency
     * order. */
    pthread_mutex_t processed_lock;
    pthread_cond_t processed_cond;
    atomic_uint processed_waiters;

    /* Every live queue, to wake their completion threads on device loss. */
    pthread_mutex_t queues_lock;
    struct vkb_queue *queues;

    atomic_bool lost;
    char lost_reason[256];

    /* Pipelines. */
    VkPipelineCache pipeline_cache;
    void *pipeline_cache_loaded;    /* bytes given to the driver at open */
    size_t pipeline_cache_loaded_size;
    pthread_mutex_t library_lock;
    uint32_t library_count;
    vkb_kernel **library;           /* built on first use, by library index */
} vkb_device;

VKB_HIDDEN aidev_status vkb_device_open(void *backend, uint32_t index, void **out_device);
VKB_HIDDEN void vkb_device_close(void *device);
/* Marks the device lost (first caller wins) and returns
 * AIDEV_ERROR_DEVICE_LOST with a message naming |call|. */
VKB_HIDDEN aidev_status vkb_device_lost(vkb_device *dev, const char *call, VkResult r);
/* The status and message for a call that failed with |r|: device loss is
 * recorded, anything else is mapped. */
VKB_HIDDEN aidev_status vkb_device_error(vkb_device *dev, const char *call, VkResult r);
VKB_HIDDEN uint64_t vkb_device_ticks_to_ns(vkb_device *dev, uint64_t ticks);
/* A queue's timeline semaphore (recycled ones go on from their value). */
VKB_HIDDEN aidev_status vkb_device_timeline_get(vkb_device *dev, struct vkb_timeline **out,
                                                uint64_t *out_value);
VKB_HIDDEN void vkb_device_timeline_put(vkb_device *dev, struct vkb_timeline *tl);
/* Records that the batches up to |value| of |tl| are retired. */
VKB_HIDDEN void vkb_timeline_set_processed(vkb_device *dev, struct vkb_timeline *tl,
                                           uint64_t value);
/* Waits until the batches up to |value| of |tl| are retired. */
VKB_HIDDEN void vkb_timeline_wait_processed(vkb_device *dev, struct vkb_timeline *tl,
                                            uint64_t value);

/* ------------------------------------------------------------------------ */
/* Queues and batches (queue.c)                                             */
/* ------------------------------------------------------------------------ */

/* The native payload of an event this backend signals: its command is
 * done when |sem| reaches |value|. */
typedef struct vkb_signal_payload {
    VkSemaphore sem;
    uint64_t value;
    vkb_timeline *timeline;
    /* The batch writes host memory (a read-back, mappable memory): a write
     * command that waits on it reads its source only once it completed. */
    bool host_effects;
} vkb_signal_payload;

typedef struct vkb_readback {
    vkb_buffer *staging;
    uint64_t size;
    void *dst;
} vkb_readback;

typedef enum vkb_family {
    VKB_FAMILY_COMPUTE = 0,
    VKB_FAMILY_TRANSFER = 1,
} vkb_family;

typedef struct vkb_batch {
    struct vkb_batch *next;
    struct vkb_queue *queue;
    vkb_family family;
    VkCommandBuffer cb;
    VkQueryPool query_pool;         /* two timestamps, or VK_NULL_HANDLE */
    /* Where the batch copies its timestamps for the host (compute family;
     * NULL: read from the pool). */
    vkb_buffer *times;
    uint32_t descriptor_pool_count, descriptor_pool_used, descriptor_pool_capacity;
    VkDescriptorPool *descriptor_pools;
    bool recording;
    uint64_t value;                 /* the timeline value it signals */
    uint32_t commands;
    bool dirty;                     /* anything recorded yet */
    bool wait_own;                  /* ordered by a wait on the queue's semaphore */
    bool host_reads;                /* ends with a barrier to the host */
    bool watching;                  /* open: the completion thread flushes it */
    /* Compute state the command buffer holds (dispatch.c): a dispatch
     * records only what differs. The descriptors and push constants are
     * those set with |bound_layout|; another layout invalidates both. */
    VkPipeline bound_pipeline;
    VkPipelineLayout bound_layout;
    uint32_t bound_desc_count;      /* UINT32_MAX: none known */
    uint32_t bound_push_size;       /* 0: none known */
    VkDescriptorBufferInfo bound_desc[AIDEV_MAX_KERNEL_ARGS];
    uint8_t bound_push[256];
    aidev_backend_event *signal;    /* the batch's last command's, or NULL */
    bool timed;
    uint64_t submit_ns;             /* host clock at submission */
    bool needs_completion;          /* the completion thread must see it */
    bool virtual_only;              /* no command buffer: a barrier's event */
    /* Objects the commands use, released when the batch completes. */
    uint32_t buffer_count, buffer_capacity;
    vkb_buffer **buffers;
    uint32_t kernel_count, kernel_capacity;
    vkb_kernel **kernels;
    uint32_t read_count, read_capacity;
    vkb_readback *reads;
    /* Semaphores of other queues to wait for before it runs. */
    uint32_t wait_count, wait_capacity;
    VkSemaphore *wait_sems;
    uint64_t *wait_values;
    vkb_timeline **wait_timelines;
} vkb_batch;

struct vkb_held;

/* What the queue's last dispatch resolved (dispatch.c, under the queue
 * lock): the next dispatch of the same kernel with the same grid and
 * workgroup skips the workgroup checks, the variant lookup and the group
 * counts. */
typedef struct vkb_dispatch_memo {
    uint64_t kernel_uid;            /* 0: none */
    uint32_t grid[3], workgroup[3]; /* as the command gave them */
    VkPipeline pipeline;
    uint32_t groups[3];
} vkb_dispatch_memo;

typedef struct vkb_queue {
    vkb_device *dev;
    struct vkb_queue *next_in_device; /* the device's list (queues_lock) */
    uint32_t compute_index;         /* which compute VkQueue */

    pthread_mutex_t lock;           /* recording: everything down to |held_*| */
    VkCommandPool pools[2];         /* per vkb_family */
    vkb_batch *open;                /* being recorded, not yet submitted */
    vkb_batch *free_batches[2];
    vkb_timeline *timeline;
    VkSemaphore sem;                /* timeline->sem */
    uint64_t last_value;            /* the last value given to a batch */
    uint64_t first_value;           /* the semaphore's value when the queue began */
    uint64_t submitted_value;       /* the last value submitted */
    uint64_t done_hint;             /* a value known reached (a lower bound) */
    vkb_family last_family;         /* of the last submitted batch */
    bool compute_only;              /* a dispatch was recorded: no more transfer family */
    vkb_dispatch_memo memo;
    aidev_status broken;            /* a submit failed: commands were lost */
    char broken_reason[256];
    /* Writes held until the read-backs they may read are on the host, and
     * the commands behind them (queue.c: "Writes after read-backs"). */
    struct vkb_held *held_head, *held_tail;
    bool draining;
    pthread_cond_t held_drained;

    /* Submitted batches, oldest first. */
    pthread_mutex_t inflight_lock;
    vkb_batch *inflight_head, *inflight_tail;
    uint32_t inflight_count;
    uint32_t completion_pending;    /* in flight with needs_completion */
    uint32_t inflight_host;         /* in flight or retiring, with host effects */
    pthread_t cq_thread;            /* completion.c */
    pthread_cond_t cq_cond;         /* with inflight_lock: work, or stop */
    bool cq_stop;

    pthread_mutex_t complete_lock;  /* one thread retires batches at a time */
} vkb_queue;

/* queue_create_desc: vkb_queue_create, and what became of the priority
 * (device.c). */
VKB_HIDDEN aidev_status vkb_queue_create_desc(void *device, aidev_backend_queue_desc *desc,
                                              void **out_queue);
/* The device-level words of AIDEV_DEVICE_INFO_QUEUE_SCHEDULING (device.c). */
VKB_HIDDEN void vkb_describe_scheduling(vkb_physical *p);
VKB_HIDDEN aidev_status vkb_queue_create(void *device, aidev_queue_priority priority,
                                         void **out_queue);
VKB_HIDDEN void vkb_queue_destroy(void *queue);
VKB_HIDDEN aidev_status vkb_queue_submit(void *queue, const aidev_backend_command *cmd,
                                         uint32_t wait_count, aidev_backend_event *const *waits,
                                         aidev_backend_event *signal);
VKB_HIDDEN aidev_status vkb_queue_finish(void *queue);
/* Graphs (graph.c): the ABI 1.3 graph entry. */
VKB_HIDDEN aidev_status vkb_graph_create(void *queue, uint32_t count,
                                         const aidev_backend_command *cmds, void **out_graph);
VKB_HIDDEN aidev_status vkb_graph_update(void *graph, uint32_t index,
                                         const aidev_backend_command *cmd);
VKB_HIDDEN aidev_status vkb_graph_submit(void *queue, void *graph, uint32_t wait_count,
                                         aidev_backend_event *const *waits,
                                         aidev_backend_event *signal);
VKB_HIDDEN void vkb_graph_destroy(void *graph);
VKB_HIDDEN aidev_status vkb_queue_flush(void *queue);

/* Batches (batch.c; queue lock held). */
/* Opens a batch of |fam| for recording (a recycled one when there is). */
VKB_HIDDEN aidev_status vkb_batch_begin(vkb_queue *q, vkb_family fam);
VKB_HIDDEN void vkb_batch_free(vkb_batch *b);
/* Grows |*array| of |elem|-byte items to hold |need|. */
VKB_HIDDEN bool vkb_grow(void **array, uint32_t *capacity, uint32_t need, size_t elem);
/* Room for |need| semaphore waits (two arrays, one capacity). */
VKB_HIDDEN bool vkb_batch_grow_waits(vkb_batch *b, uint32_t need);
/* Room for |buffers| more buffers and one more kernel and read. */
VKB_HIDDEN bool vkb_batch_reserve(vkb_batch *b, uint32_t buffers);
/* The transfer commands (transfer.c). */
VKB_HIDDEN aidev_status vkb_record_write(vkb_queue *q, vkb_batch *b,
                                         const aidev_backend_command *cmd);
VKB_HIDDEN aidev_status vkb_record_read(vkb_queue *q, vkb_batch *b,
                                        const aidev_backend_command *cmd);
VKB_HIDDEN aidev_status vkb_record_copy(vkb_queue *q, vkb_batch *b,
                                        const aidev_backend_command *cmd);
VKB_HIDDEN aidev_status vkb_record_fill(vkb_queue *q, vkb_batch *b,
                                        const aidev_backend_command *cmd);
/* Helpers kernel.c records dispatches with (queue lock held). */
VKB_HIDDEN bool vkb_batch_keep_buffer(vkb_batch *b, vkb_buffer *buf);
VKB_HIDDEN bool vkb_batch_keep_kernel(vkb_batch *b, vkb_kernel *k);
VKB_HIDDEN void vkb_cmd_barrier(vkb_device *dev, VkCommandBuffer cb);
/* The barrier that orders a command after the queue's earlier ones, and the
 * start timestamp when the command signals an event. */
VKB_HIDDEN void vkb_command_begin(vkb_queue *q, vkb_batch *b);
/* The end timestamp of a timed batch's signalling command, and the copy of
 * both timestamps to the host where the batch has a place for them. */
VKB_HIDDEN void vkb_batch_end_times(vkb_batch *b);
/* Records the zero fill of a buffer that has not been cleared yet. */
VKB_HIDDEN void vkb_cmd_zero_if_needed(vkb_batch *b, vkb_buffer *buf);
/* Notes that the host will read what the batch writes to |buf| (a read
 * back, or memory the user maps): the batch then ends with a barrier to
 * the host. */
VKB_HIDDEN void vkb_batch_host_visible(vkb_batch *b, const vkb_buffer *buf);
VKB_HIDDEN aidev_status vkb_batch_descriptor_set(vkb_batch *b, VkDescriptorSetLayout layout,
                                                 uint32_t binding_count,
                                                 VkDescriptorSet *out);
/* Records a dispatch (kernel.c). */
VKB_HIDDEN aidev_status vkb_record_dispatch(vkb_queue *q, vkb_batch *b,
                                            const aidev_backend_command *cmd);
/* Submits the open batch when nothing of the queue is running (the
 * completion thread, when the device drains a queue). */
VKB_HIDDEN void vkb_queue_submit_if_idle(vkb_queue *q);
/* Releases what a completed (or failed) batch holds and recycles it. */
VKB_HIDDEN void vkb_batch_retire(vkb_batch *b, aidev_status status, const char *why);

/* ------------------------------------------------------------------------ */
/* Completion (completion.c)                                                */
/* ------------------------------------------------------------------------ */

/* Starts and stops a queue's completion thread. */
VKB_HIDDEN aidev_status vkb_completion_start(vkb_queue *q);
VKB_HIDDEN void vkb_completion_stop(vkb_queue *q);
/* Wakes every completion thread to fail what is in flight. */
VKB_HIDDEN void vkb_completion_device_lost(vkb_device *dev);
/* Retires the queue's batches that have completed: up to |known_done|
 * when the caller knows the semaphore reached it, else (0) up to what the
 * semaphore says. */
VKB_HIDDEN void vkb_queue_process(vkb_queue *q, uint64_t known_done);
/* Records the held commands whose gates opened (queue.c). */
VKB_HIDDEN void vkb_queue_drain(vkb_queue *q);
/* Fails every batch in flight (device lost). */
VKB_HIDDEN void vkb_queue_fail_inflight(vkb_queue *q, aidev_status status, const char *why);

#endif

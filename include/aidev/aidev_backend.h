/*
 * aidev_backend.h - the contract between libaidev and a backend.
 *
 * A backend is a shared object named libaidev-backend-NAME.so that exports one
 * symbol, AIDEV_BACKEND_ENTRY_SYMBOL, of type aidev_backend_entry_fn. The CPU
 * backend is linked into libaidev but is reached through this same table.
 *
 * Negotiation (modelled on the Vulkan loader's ICD interface negotiation)
 *   The loader fills |abi_version| of aidev_backend_negotiation with the
 *   highest ABI it speaks and calls the entry. The plugin writes back the ABI
 *   it implements and its vtable:
 *     - same major as the offer, minor <= the offer's: the plugin answers
 *       min(offer, its own), so a newer plugin runs under an older libaidev;
 *     - offer of another major: the plugin returns AIDEV_ERROR_UNSUPPORTED
 *       with a reason, or answers its own version and the loader refuses it
 *       with both versions in the reason.
 *   Minor versions only append members to the vtable, which begins with its
 *   own size. The loader reads a member only when it lies within
 *   |struct_size| and belongs to the negotiated minor; every other member
 *   reads as NULL, i.e. unsupported, and libaidev checks each optional
 *   member for NULL before calling it. A plugin answering a minor newer than
 *   the offer is used as the offered minor (its extra members are ignored).
 *   AIDEV_DEBUG=loader prints every step of this for every plugin file.
 *
 * ABI history
 *   1.0  the first table, up to kernel_destroy.
 *   1.1  appends device_free_memory (optional).
 *   1.2  appends buffer_query (optional); adds AIDEV_COMMAND_PREFETCH (sent
 *        only with AIDEV_BACKEND_CAP_PREFETCH), AIDEV_BUFFER_ZERO_ON_FREE
 *        in buffer flags, and the aidev_backend_host_alloc/free services.
 *   1.3  appends graph_create, graph_update, graph_submit, graph_destroy
 *        (optional, issue 15: command graphs) and the
 *        aidev_backend_graph_failed service.
 *   1.4  (issue 17: user kernels) adds AIDEV_BACKEND_CAP_SPEC_CONSTANTS
 *        (aidev_kernel_desc.spec_constants of SPIR-V kernels reach
 *        kernel_create) and AIDEV_BACKEND_CAP_LOCAL_ARGS (AIDEV_ARG_LOCAL
 *        arguments of OpenCL C kernels reach kernel_create and dispatches);
 *        libaidev sends neither to a backend without the bit. No member
 *        is appended: the 1.4 table is the 1.3 one.
 *   1.5  appends queue_create_desc (optional, issue 15: queue flags such
 *        as AIDEV_QUEUE_LOW_LATENCY, and what the backend did with a
 *        queue's priority) and |queue_scheduling| at the end of
 *        aidev_backend_device_info.
 *
 * Objects
 *   The backend's objects (device, buffer, queue, kernel) are opaque void
 *   pointers to libaidev. libaidev validates every handle and argument before
 *   calling the backend: offsets lie inside buffers, kinds are offered,
 *   kernel arguments match their signature, all objects of one call belong to
 *   the device of the call. A backend checks only what it alone can know.
 *
 * Events
 *   libaidev owns events. A command that must signal gets an
 *   aidev_backend_event; the backend completes it exactly once with
 *   aidev_backend_event_complete(), from any thread, and that call gives back
 *   the reference the backend was handed. A backend may attach its native
 *   object (cl_event, a timeline value) to the event so that its own queues
 *   wait on it natively.
 *
 * Errors
 *   Return an aidev_status; before returning an error, describe it with
 *   aidev_backend_set_error() naming the native call and its code, e.g.
 *   "clCreateBuffer failed: CL_INVALID_BUFFER_SIZE (-61)".
 *
 * Threads
 *   Every entry may be called from several threads at once, except
 *   init/shutdown and device_open/device_close of one device, which libaidev
 *   serialises.
 */
#ifndef AIDEV_AIDEV_BACKEND_H
#define AIDEV_AIDEV_BACKEND_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "aidev.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* ABI version and entry                                                    */
/* ------------------------------------------------------------------------ */

#define AIDEV_BACKEND_ABI_MAKE(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))
#define AIDEV_BACKEND_ABI_MAJOR(v) ((uint32_t)(v) >> 16)
#define AIDEV_BACKEND_ABI_MINOR(v) ((uint32_t)(v)&0xffffu)

/* The ABI this header describes. */
#define AIDEV_BACKEND_ABI_VERSION AIDEV_BACKEND_ABI_MAKE(1, 5)

#define AIDEV_BACKEND_ENTRY_SYMBOL "aidev_backend_entry"

#if defined(__GNUC__)
#define AIDEV_BACKEND_EXPORT __attribute__((visibility("default")))
#else
#define AIDEV_BACKEND_EXPORT
#endif

typedef struct aidev_backend_vtable aidev_backend_vtable;

typedef struct aidev_backend_negotiation {
    uint32_t struct_size; /* sizeof(aidev_backend_negotiation), set by the loader */
    /* in: the highest ABI the loader speaks; out: the ABI the plugin speaks */
    uint32_t abi_version;
    /* out: the plugin's table, static for the life of the process */
    const aidev_backend_vtable *vtable;
} aidev_backend_negotiation;

/* The entry symbol. Returns AIDEV_SUCCESS having filled |nego|, or an error
 * (AIDEV_ERROR_UNSUPPORTED when the offered ABI is too old for it), with a
 * reason set through aidev_backend_set_error(). Must be cheap: no device
 * work, that belongs in init. */
typedef aidev_status (*aidev_backend_entry_fn)(aidev_backend_negotiation *nego);

/* ------------------------------------------------------------------------ */
/* Events, as backends see them                                             */
/* ------------------------------------------------------------------------ */

typedef struct aidev_backend_event aidev_backend_event;

/* Completes |event| with |status| (AIDEV_SUCCESS, or an error with a message
 * formatted from |fmt|, which may be NULL). Runs the event's callbacks and
 * wakes its waiters. Consumes the backend's reference. */
AIDEV_API void aidev_backend_event_complete(aidev_backend_event *event,
                                            aidev_status status,
                                            const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records when the device started and ended the command, in CLOCK_MONOTONIC
 * ns (convert device ticks first). Call before completing. */
AIDEV_API void aidev_backend_event_set_times(aidev_backend_event *event,
                                             uint64_t start_ns, uint64_t end_ns);

/* AIDEV_NOT_READY while pending, else the status it completed with. */
AIDEV_API aidev_status aidev_backend_event_status(const aidev_backend_event *event);

/* The failure message of a completed event. */
AIDEV_API const char *aidev_backend_event_message(const aidev_backend_event *event);

/* Attaches a native object to |event|, tagged with |owner| (any pointer the
 * backend chooses, e.g. its native context). |release_fn| (may be NULL) is
 * called with |native| when the event is destroyed. At most once per event. */
AIDEV_API void aidev_backend_event_set_native(aidev_backend_event *event,
                                              const void *owner, void *native,
                                              void (*release_fn)(void *native));

/* The native object attached with |owner|, or NULL when the event carries none
 * or another owner's: then wait through aidev_backend_event_on_complete(). */
AIDEV_API void *aidev_backend_event_native(const aidev_backend_event *event,
                                           const void *owner);

/* Calls |fn| once |event| completes (at once, on this thread, if it has).
 * Holds its own reference on the event until |fn| has run. */
typedef void (*aidev_backend_event_fn)(aidev_backend_event *event,
                                       aidev_status status, void *user_data);
AIDEV_API aidev_status aidev_backend_event_on_complete(aidev_backend_event *event,
                                                       aidev_backend_event_fn fn,
                                                       void *user_data);

AIDEV_API void aidev_backend_event_retain(aidev_backend_event *event);
AIDEV_API void aidev_backend_event_release(aidev_backend_event *event);

/* ------------------------------------------------------------------------ */
/* Services libaidev offers backends                                        */
/* ------------------------------------------------------------------------ */

/* Sets the calling thread's error message (printf format) and returns
 * |status|, so a backend can write `return aidev_backend_set_error(...)`. */
AIDEV_API aidev_status aidev_backend_set_error(aidev_status status,
                                               const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* CLOCK_MONOTONIC in ns: the clock of every event timestamp. */
AIDEV_API uint64_t aidev_backend_now_ns(void);

/* True when AIDEV_DEBUG holds |topic| ("loader", "backend", "all"). */
AIDEV_API bool aidev_backend_debug_enabled(const char *topic);
/* Prints "aidev: |topic|: message" on stderr when the topic is enabled. */
AIDEV_API void aidev_backend_debug(const char *topic, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A backend's environment values, through libaidev's one strict parser
 * (the rules of aidev_environment_get_reports() in aidev.h). Each returns
 * true when |name| holds a value taken as it is, stored in |*out|;
 * otherwise |*out| is what to use: |fallback| when the variable is unset
 * or empty, and when its value is refused (malformed, below |min|); |max|
 * when the number is above it (|cap_reason| says why, "4 per CPU"). A
 * refused or capped value is reported once on stderr and listed by
 * aidev_environment_get_reports() and aidev-info. A switch is one of 1,
 * on, yes, true or 0, off, no, false. (Exported since issue 14: a plugin
 * calling them needs a libaidev that has them.) */
AIDEV_API bool aidev_backend_env_u32(const char *name, uint32_t min, uint32_t max,
                                     const char *cap_reason, uint32_t fallback, uint32_t *out);
AIDEV_API bool aidev_backend_env_flag(const char *name, bool fallback, bool *out);
/* One of |count| |names|: |*out| is the entry of |values| at its index;
 * |fallback| (named |fallback_name| in the report) otherwise. */
AIDEV_API bool aidev_backend_env_choice(const char *name, const char *const *names,
                                        const int *values, uint32_t count, int fallback,
                                        const char *fallback_name, int *out);

/* The per-user cache folder for compiled kernels and pipeline caches:
 * $XDG_CACHE_HOME/aidev or ~/.cache/aidev (created on demand; both
 * variables read with secure_getenv, so a setuid program has none).
 * Returns false when there is none (no HOME, read-only file system), and
 * when it may not be trusted: the folder must be owned by this process's
 * user and writable by no one else, as what others could plant there
 * would be loaded. Then the cache is bypassed: build from source, write
 * nothing (AIDEV_DEBUG=cache says why, once). */
AIDEV_API bool aidev_backend_cache_dir(char *out, size_t out_size);
/* The folder |name| (one path component) inside it, on the same terms. */
AIDEV_API bool aidev_backend_cache_subdir(const char *name, char *out, size_t out_size);
/* Opens the cache entry |path| for reading where it may be trusted: a
 * regular file (not a link) owned by this process's user and writable by
 * no one else, in a folder that is the same. Returns the fd (close-on-exec;
 * the caller closes it), or -1 with errno ENOENT when there is no entry,
 * EPERM when it may not be trusted (AIDEV_DEBUG=cache says why): the
 * caller treats it as absent and may replace it. */
AIDEV_API int aidev_backend_cache_open(const char *path);

/* How memory is backed: what AIDEV_BUFFER_INFO_PAGE_KIND answers. */
typedef enum aidev_backend_page_kind {
    /* The backend cannot tell; libaidev looks a host address up in
     * /proc/self/smaps, and answers "device" for memory without one. */
    AIDEV_PAGE_KIND_UNKNOWN = 0,
    AIDEV_PAGE_KIND_NORMAL = 1,  /* base pages (4 KiB on x86) */
    AIDEV_PAGE_KIND_THP = 2,     /* transparent huge pages (madvise) */
    AIDEV_PAGE_KIND_HUGETLB = 3, /* reserved huge pages (MAP_HUGETLB) */
    AIDEV_PAGE_KIND_DEVICE = 4,  /* device memory the host does not address */
} aidev_backend_page_kind;

/* Host memory from aidev_backend_host_alloc(). Treat every field as read
 * only; |ptr| and |size| are what the caller uses. */
typedef struct aidev_backend_host_block {
    void *ptr;
    uint64_t size;           /* bytes asked for */
    uint64_t mapped_size;    /* bytes mapped (0: from the heap) */
    aidev_backend_page_kind page_kind;
    int32_t numa_node;       /* node the pages were bound to, -1: none */
} aidev_backend_host_block;

/* Flags of aidev_backend_host_alloc(). */
/* Contents may be left unspecified (heap memory is not cleared). Without
 * it the memory reads as zero. */
#define AIDEV_HOST_ALLOC_UNINITIALIZED (1u << 0)

/* Host memory for large tensors, as libaidev allocates its own: huge pages
 * where the machine offers them (reserved hugetlb pages, else transparent
 * huge pages, else normal pages; see AIDEV_HUGEPAGES), placed on
 * |numa_node| (-1: anywhere). Fills |out|. Returns
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY with a message when the memory is not
 * there. (ABI 1.2) */
AIDEV_API aidev_status aidev_backend_host_alloc(uint64_t size, int32_t numa_node, uint32_t flags,
                                                aidev_backend_host_block *out);
/* Gives |block| back, overwriting it with zeros first when |scrub| (see
 * AIDEV_BUFFER_ZERO_ON_FREE). (ABI 1.2) */
AIDEV_API void aidev_backend_host_free(aidev_backend_host_block *block, bool scrub);

/* ------------------------------------------------------------------------ */
/* Descriptions passed to backends                                          */
/* ------------------------------------------------------------------------ */

/* What a backend says of one of its devices. libaidev serves
 * aidev_device_get_info() from it. Strings are copied by libaidev. Zero or
 * empty fields mean "unknown". */
typedef struct aidev_backend_device_info {
    uint32_t struct_size;
    char name[256];
    char vendor[128];
    char driver_version[128];
    char api_version[64];
    char pci_bus_id[32];        /* "dddd:bb:dd.f" or "" */
    uint8_t uuid[16];
    bool has_uuid;
    aidev_device_type type;
    uint32_t compute_units;
    uint64_t memory_bytes;
    uint64_t free_memory_bytes;
    bool has_free_memory;       /* only where the backend truly knows it */
    uint64_t max_alloc_bytes;
    uint64_t local_memory_bytes;
    uint32_t max_workgroup_size;
    uint32_t max_workgroup_dims[3];
    uint32_t memory_kinds;      /* mask of AIDEV_MEMORY_KIND_BIT() */
    uint64_t features;          /* AIDEV_FEATURE_* */
    int32_t numa_node;          /* -1 unknown */
    double timestamp_period_ns;
    /* (ABI 1.5) How the device honours queue priorities, preemption and
     * AIDEV_QUEUE_LOW_LATENCY, or why not, in words (what
     * AIDEV_DEVICE_INFO_QUEUE_SCHEDULING answers): "priorities: not passed,
     * the device lacks cl_khr_priority_hints". Empty from older plugins;
     * libaidev then says that the backend does not tell. */
    char queue_scheduling[512];
} aidev_backend_device_info;

/* A queue libaidev asks for, and what the backend did with it (ABI 1.5,
 * queue_create_desc). libaidev zeroes it and sets |struct_size|, the
 * priority and the flags; the backend fills the answers. */
typedef struct aidev_backend_queue_desc {
    uint32_t struct_size;
    aidev_queue_priority priority;
    /* AIDEV_QUEUE_* flags (aidev_queue_flags); libaidev sends
     * AIDEV_QUEUE_LOW_LATENCY only to devices whose features have
     * AIDEV_FEATURE_QUEUE_LOW_LATENCY. */
    uint32_t flags;
    /* Answer: the priority reached the device (AIDEV_QUEUE_INFO_PRIORITY_APPLIED). */
    bool priority_applied;
    /* Answer: how the priority and flags were applied, or why not, in words
     * (AIDEV_QUEUE_INFO_SCHEDULING). */
    char scheduling[256];
} aidev_backend_queue_desc;

typedef struct aidev_backend_buffer_desc {
    uint64_t size;
    aidev_memory_kind kind;
    /* AIDEV_BUFFER_*: zero the memory unless UNINITIALIZED; with
     * ZERO_ON_FREE (ABI 1.2; set by libaidev also for AIDEV_ZERO_ON_FREE=1)
     * overwrite it with zeros before it goes back to a pool, the driver or
     * the OS, once no command uses it. */
    uint32_t flags;
    void *import_host_ptr;      /* non-NULL: wrap this caller memory */
    /* (ABI 1.2) The device's NUMA node as libaidev knows it (the backend's,
     * else its PCI slot's), -1 unknown: where host memory for it goes
     * (aidev_backend_host_alloc). */
    int32_t numa_node;
} aidev_backend_buffer_desc;
/* (For ZERO_ON_FREE buffers libaidev keeps its reference until every
 * command naming the buffer has completed, so buffer_destroy of such a
 * buffer may scrub at once: no command of any queue still uses it.) */

/* Native handles a backend may hand out for a buffer (DLPack export). */
typedef enum aidev_backend_native_kind {
    AIDEV_NATIVE_NONE = 0,
    AIDEV_NATIVE_OPENCL_MEM = 1,     /* |handle| is a cl_mem */
    AIDEV_NATIVE_VULKAN_BUFFER = 2,  /* |handle| is a VkBuffer */
} aidev_backend_native_kind;

/* What buffer_query answers (ABI 1.2). libaidev sets |struct_size| and the
 * defaults; a backend writes only the fields it knows. */
typedef struct aidev_backend_buffer_query {
    uint32_t struct_size;
    aidev_backend_page_kind page_kind; /* UNKNOWN: libaidev looks it up */
    int32_t numa_node;                 /* node of the memory, -1 unknown */
    aidev_backend_native_kind native_kind;
    uint64_t native_handle;
    uint64_t native_offset;            /* where the buffer starts in |native_handle| */
    /* (may stay NULL) A host address of the memory even where the buffer
     * has no stable one for mapping (coarse-grained SVM, a driver's pinned
     * allocation once mapped): libaidev reads its page kind from smaps. */
    const void *host_address;
} aidev_backend_buffer_query;

/* A resolved kernel argument. AIDEV_ARG_LOCAL (ABI 1.4, only to backends
 * with AIDEV_BACKEND_CAP_LOCAL_ARGS): |u.u64| is the size in bytes
 * (clSetKernelArg(kernel, i, size, NULL)). */
typedef struct aidev_backend_arg {
    aidev_arg_kind kind;
    aidev_type type;
    union {
        struct {
            void *buffer;       /* the backend's buffer */
            uint64_t offset;
            uint64_t size;      /* bytes from |offset| to the buffer's end */
        } buffer;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64;
        float f32;
        double f64;
        uint8_t bytes[8];
    } u;
} aidev_backend_arg;

typedef enum aidev_backend_command_type {
    AIDEV_COMMAND_WRITE = 1,
    AIDEV_COMMAND_READ = 2,
    AIDEV_COMMAND_COPY = 3,
    AIDEV_COMMAND_FILL = 4,
    AIDEV_COMMAND_DISPATCH = 5,
    AIDEV_COMMAND_BARRIER = 6,
    AIDEV_COMMAND_HOST_CALLBACK = 7,
    /* ABI 1.2: a migration hint for SHARED memory; only sent to backends
     * with AIDEV_BACKEND_CAP_PREFETCH (others get a barrier in its place). */
    AIDEV_COMMAND_PREFETCH = 8,
} aidev_backend_command_type;

/* One command. Pointers in it are valid only during queue_submit: a backend
 * that defers work copies what it needs (the dispatch arguments). Host
 * memory of WRITE/READ stays valid until the command's event completes. */
typedef struct aidev_backend_command {
    aidev_backend_command_type type;
    union {
        struct {
            void *buffer;
            uint64_t offset, size;
            const void *src;
        } write;
        struct {
            void *buffer;
            uint64_t offset, size;
            void *dst;
        } read;
        struct {
            void *src, *dst;
            uint64_t src_offset, dst_offset, size;
        } copy;
        struct {
            void *buffer;
            uint64_t offset, size;
            uint32_t pattern;      /* the pattern, replicated to 4 bytes */
            uint32_t pattern_size; /* 1, 2 or 4 as the caller gave it */
        } fill;
        struct {
            void *kernel;
            uint32_t grid[3];      /* logical grid, each >= 1 */
            uint32_t workgroup[3]; /* zeros: backend chooses */
            uint32_t arg_count;
            const aidev_backend_arg *args;
        } dispatch;
        struct {
            aidev_host_fn fn;
            void *user_data;
        } host_callback;
        struct {
            void *buffer;          /* a SHARED buffer */
            uint64_t offset, size;
            uint32_t flags;        /* AIDEV_PREFETCH_TO_DEVICE or _TO_HOST */
        } prefetch;
    } u;
} aidev_backend_command;

/* Most buffers one command names: a dispatch's buffer arguments. */
#define AIDEV_BACKEND_COMMAND_MAX_BUFFERS AIDEV_MAX_KERNEL_ARGS

/* The backend buffers |cmd| names, in argument order, into |out| (room for
 * AIDEV_BACKEND_COMMAND_MAX_BUFFERS); returns how many. A backend that
 * defers a command keeps these alive until it has run (the user may
 * release a buffer as soon as the enqueue returns). Written once here so
 * that a new command type is taken into account by every backend that
 * calls it. */
static inline uint32_t aidev_backend_command_buffers(const aidev_backend_command *cmd,
                                                     void **out)
{
    uint32_t n = 0;
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        out[n++] = cmd->u.write.buffer;
        break;
    case AIDEV_COMMAND_READ:
        out[n++] = cmd->u.read.buffer;
        break;
    case AIDEV_COMMAND_COPY:
        out[n++] = cmd->u.copy.src;
        out[n++] = cmd->u.copy.dst;
        break;
    case AIDEV_COMMAND_FILL:
        out[n++] = cmd->u.fill.buffer;
        break;
    case AIDEV_COMMAND_PREFETCH:
        out[n++] = cmd->u.prefetch.buffer;
        break;
    case AIDEV_COMMAND_DISPATCH:
        for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++)
            if (cmd->u.dispatch.args[i].kind == AIDEV_ARG_BUFFER)
                out[n++] = cmd->u.dispatch.args[i].u.buffer.buffer;
        break;
    case AIDEV_COMMAND_BARRIER:
    case AIDEV_COMMAND_HOST_CALLBACK:
        break;
    }
    return n;
}

/* A kernel to build. For the built-in library, |library_index| names the
 * kernel, below aidev_backend_library_size(): the public kernels first, by
 * their aidev_library_kernel() index, then the kernels internal to the
 * tensor ops (which aidev_library_kernel() does not list); the backend uses
 * its own form of it, found by |desc->name|. For user kernels it is
 * UINT32_MAX and |desc| carries the source. The signature in |desc| has
 * already been validated. */
typedef struct aidev_backend_kernel_source {
    uint32_t library_index;
    const aidev_kernel_desc *desc;
} aidev_backend_kernel_source;

/* Capability bits of the vtable's |caps|. */
/* The backend accepts any aidev event in a wait list (it waits through
 * aidev_backend_event_on_complete when the event is not its own). Without
 * it, libaidev holds back a command whose wait list has events of other
 * backends, or user events, and submits it once they complete. */
#define AIDEV_BACKEND_CAP_ANY_WAIT (1u << 0)
/* The backend runs AIDEV_COMMAND_HOST_CALLBACK itself; without it libaidev
 * runs host callbacks on its own, with a barrier. */
#define AIDEV_BACKEND_CAP_HOST_CALLBACK (1u << 1)
/* (Without AIDEV_BACKEND_CAP_ANY_WAIT.) The backend waits on events of its
 * own device only through their native object (a cl_event): libaidev also
 * holds back a command that waits on an event of the same device with no
 * native object yet (its command is itself held, or it is a host
 * callback's), as it does for another backend's events. A loader that does
 * not know this bit passes such events; the backend must then still cope. */
#define AIDEV_BACKEND_CAP_NATIVE_WAITS (1u << 2)
/* (ABI 1.2) The backend takes AIDEV_COMMAND_PREFETCH; without it libaidev
 * submits a barrier instead, so the command still orders the queue. */
#define AIDEV_BACKEND_CAP_PREFETCH (1u << 3)
/* -- ABI 1.4 (issue 17: user kernels) --------------------------------------
 * A loader negotiating an older minor clears these bits. */
/* kernel_create applies desc->spec_constants of SPIR-V kernels (each id
 * checked against the module, AIDEV_ERROR_KERNEL_ARGS naming it when it is
 * not one of its constants, or has another size). Without it libaidev
 * refuses a SPIR-V kernel with constants (AIDEV_ERROR_UNSUPPORTED). */
#define AIDEV_BACKEND_CAP_SPEC_CONSTANTS (1u << 4)
/* The backend takes AIDEV_ARG_LOCAL arguments in OpenCL C kernels'
 * signatures and dispatches. Without it libaidev refuses such a kernel
 * (AIDEV_ERROR_UNSUPPORTED). */
#define AIDEV_BACKEND_CAP_LOCAL_ARGS (1u << 5)

/* ------------------------------------------------------------------------ */
/* The vtable                                                               */
/* ------------------------------------------------------------------------ */

struct aidev_backend_vtable {
    uint32_t struct_size; /* sizeof(aidev_backend_vtable) the plugin built with */
    /* AIDEV_BACKEND_ABI_VERSION the plugin built with; its major must be
     * the negotiated one, its minor may be newer (a plugin answering an
     * older offer keeps its full table: the loader reads only what the
     * negotiated minor defines) */
    uint32_t abi_version;
    const char *name;     /* short lower-case name: "opencl" */
    uint32_t caps;        /* AIDEV_BACKEND_CAP_* */

    /* -- backend ---------------------------------------------------------- */

    /* Loads the native runtime and lists devices; stores the backend's state
     * in |*out_backend|. Return AIDEV_ERROR_UNSUPPORTED with a reason when
     * the runtime or any device is absent on this machine ("no OpenCL
     * platform"): the backend is then listed as skipped, not failed. */
    aidev_status (*init)(void **out_backend);
    void (*shutdown)(void *backend);
    uint32_t (*device_count)(void *backend);
    /* Fills |out| (its struct_size set by libaidev) for device |index|. */
    aidev_status (*device_info)(void *backend, uint32_t index,
                                aidev_backend_device_info *out);

    /* -- devices: one open per context that uses the device -------------- */

    aidev_status (*device_open)(void *backend, uint32_t index, void **out_device);
    /* Called after every queue, buffer and kernel of the device is gone. */
    void (*device_close)(void *device);

    /* -- memory ------------------------------------------------------------ */

    /* Allocates (or, with import_host_ptr, wraps) a buffer. |*out_host_ptr|
     * gets the host address of HOST/SHARED memory when it is stable, or NULL
     * (then map goes through buffer_map). */
    aidev_status (*buffer_create)(void *device, const aidev_backend_buffer_desc *desc,
                                  void **out_buffer, void **out_host_ptr);
    /* The user released the buffer and no command held back by libaidev
     * names it. Commands already submitted to the backend may still use it
     * (the backend keeps the memory until they complete), except for
     * AIDEV_BUFFER_ZERO_ON_FREE buffers: for those every command has
     * completed, and the backend scrubs the memory here or once its own
     * references are gone, before reusing or freeing it. */
    void (*buffer_destroy)(void *device, void *buffer);
    /* (optional when buffer_create always gives |out_host_ptr|) */
    aidev_status (*buffer_map)(void *device, void *buffer, uint64_t offset,
                               uint64_t size, uint32_t map_flags, void **out_ptr);
    /* (optional) */
    aidev_status (*buffer_unmap)(void *device, void *buffer, void *ptr);

    /* -- queues ----------------------------------------------------------- */

    aidev_status (*queue_create)(void *device, aidev_queue_priority priority,
                                 void **out_queue);
    /* Every submitted command has completed (libaidev finishes first). */
    void (*queue_destroy)(void *queue);
    /* Submits one command after the queue's earlier ones and after
     * |waits| (events still pending, each retained by libaidev for the call).
     * |signal| (may be NULL) must be completed exactly once, also when the
     * command fails later. When a wait event fails, the command must not run
     * and |signal| completes with AIDEV_ERROR_DEPENDENCY. On an error return,
     * nothing was submitted and |signal| is left to libaidev. */
    aidev_status (*queue_submit)(void *queue, const aidev_backend_command *cmd,
                                 uint32_t wait_count,
                                 aidev_backend_event *const *waits,
                                 aidev_backend_event *signal);
    /* Blocks until every command submitted so far has completed. Failures
     * of commands are reported on their events, not here. */
    aidev_status (*queue_finish)(void *queue);
    /* (optional) Pushes batched commands to the device. */
    aidev_status (*queue_flush)(void *queue);

    /* -- kernels ---------------------------------------------------------- */

    aidev_status (*kernel_create)(void *device, const aidev_backend_kernel_source *src,
                                  void **out_kernel);
    void (*kernel_destroy)(void *device, void *kernel);

    /* -- ABI 1.0 ends here; append new members below, never reorder. ------ */

    /* -- ABI 1.1 ---------------------------------------------------------- */

    /* (optional) The free memory of device |index| now, in bytes: what
     * AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES answers (VK_EXT_memory_budget, a
     * driver's memory query). Needs no open device. AIDEV_ERROR_UNSUPPORTED
     * when the backend cannot know it for this device; libaidev then falls
     * back to device_info's |free_memory_bytes| when |has_free_memory|. */
    aidev_status (*device_free_memory)(void *backend, uint32_t index, uint64_t *out_bytes);

    /* -- ABI 1.2 ---------------------------------------------------------- */

    /* (optional) What backs |buffer| and its native handle: libaidev fills
     * |out| with UNKNOWN/-1/NONE and the struct_size it knows, then calls
     * this. Serves AIDEV_BUFFER_INFO_PAGE_KIND, AIDEV_BUFFER_INFO_NUMA_NODE
     * and DLPack export of memory the host does not address. Without it,
     * libaidev looks host addresses up in /proc/self/smaps and exports only
     * host-addressable memory. */
    aidev_status (*buffer_query)(void *device, void *buffer, aidev_backend_buffer_query *out);

    /* -- ABI 1.3 (issue 15: command graphs) ------------------------------- */

    /* A graph is a list of commands of one queue that libaidev submits many
     * times as one. All four are optional together: without graph_create,
     * libaidev submits the commands one by one through queue_submit (the
     * fallback every backend gets).
     *
     * (optional) Prepares the |count| commands of |cmds| (checked by
     * libaidev, as queue_submit gets them; pointers in them are valid only
     * during the call) to run in order on |queue|: resolve and record now
     * what each submission would otherwise look up (kernels, argument
     * layouts, native command buffers). The buffers and kernels named stay
     * alive until graph_destroy. Host callbacks are not among the commands
     * unless the backend has AIDEV_BACKEND_CAP_HOST_CALLBACK. */
    aidev_status (*graph_create)(void *queue, uint32_t count, const aidev_backend_command *cmds,
                                 void **out_graph);
    /* (optional) Replaces dispatch |index| of |graph| by |cmd| (same kernel,
     * new arguments), between submissions: no submission of the graph is
     * in flight. Without it libaidev makes the graph again. */
    aidev_status (*graph_update)(void *graph, uint32_t index, const aidev_backend_command *cmd);
    /* Runs the graph's commands in order after the queue's earlier commands
     * and after |waits|, as queue_submit does for one command, and
     * completes |signal| (never NULL) once all have run. A command that
     * fails stops the submission: the ones after it do not run, and
     * |signal| completes through aidev_backend_graph_failed() naming it.
     * May be called from several threads at once, and again before earlier
     * submissions of the graph have run. On an error return nothing was
     * submitted. */
    aidev_status (*graph_submit)(void *queue, void *graph, uint32_t wait_count,
                                 aidev_backend_event *const *waits, aidev_backend_event *signal);
    /* No submission of the graph is in flight; called before its queue's
     * queue_destroy. */
    void (*graph_destroy)(void *graph);

    /* -- ABI 1.4 (issue 17: user kernels): caps only, no member ---------- */

    /* -- ABI 1.5 (issue 15: queue flags and how priorities apply) --------- */

    /* (optional) queue_create with flags, telling what it did: libaidev
     * calls it in place of queue_create when present. Fills the answers of
     * |desc| (see aidev_backend_queue_desc). A backend without it gets no
     * flags (libaidev refuses AIDEV_QUEUE_LOW_LATENCY for its devices and
     * clears AIDEV_FEATURE_QUEUE_LOW_LATENCY from their features). */
    aidev_status (*queue_create_desc)(void *device, aidev_backend_queue_desc *desc,
                                      void **out_queue);
};

/* Completes |signal| of a graph_submit with the failure of its command
 * |index| (from 0, in the order graph_create got them): libaidev names the
 * node in the launch's message. Consumes the backend's reference, like
 * aidev_backend_event_complete(). (ABI 1.3) */
AIDEV_API void aidev_backend_graph_failed(aidev_backend_event *signal, uint32_t index,
                                          aidev_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Bytes of the ABI 1.0 table: a plugin built against a newer header that
 * implements only 1.0 may set |struct_size| to this. */
#define AIDEV_BACKEND_VTABLE_SIZE_1_0 \
    (offsetof(aidev_backend_vtable, kernel_destroy) + sizeof(void (*)(void)))
/* Bytes of the ABI 1.1 table. */
#define AIDEV_BACKEND_VTABLE_SIZE_1_1 \
    (offsetof(aidev_backend_vtable, device_free_memory) + sizeof(void (*)(void)))
/* Bytes of the ABI 1.2 table. */
#define AIDEV_BACKEND_VTABLE_SIZE_1_2 \
    (offsetof(aidev_backend_vtable, buffer_query) + sizeof(void (*)(void)))
/* Bytes of the ABI 1.3 table. */
#define AIDEV_BACKEND_VTABLE_SIZE_1_3 \
    (offsetof(aidev_backend_vtable, graph_destroy) + sizeof(void (*)(void)))
/* Bytes of the ABI 1.4 table: 1.4 added caps, no member. */
#define AIDEV_BACKEND_VTABLE_SIZE_1_4 AIDEV_BACKEND_VTABLE_SIZE_1_3
/* Bytes of the ABI 1.5 table. */
#define AIDEV_BACKEND_VTABLE_SIZE_1_5 \
    (offsetof(aidev_backend_vtable, queue_create_desc) + sizeof(void (*)(void)))

/* The C form of built-in kernel |library_index| (see
 * aidev_backend_kernel_source), or NULL when it has none: a host-memory
 * backend, such as the plugin template, runs the library through these. */
AIDEV_API aidev_host_kernel_fn aidev_backend_library_host_fn(uint32_t library_index);

/* The number of built-in kernels a backend may be asked to build: every
 * library_index is below it (public and internal kernels; issue 17). */
AIDEV_API uint32_t aidev_backend_library_size(void);

#ifdef __cplusplus
}
#endif

#endif /* AIDEV_AIDEV_BACKEND_H */

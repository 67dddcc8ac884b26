/*
 * aidev.h - the aidev device API.
 *
 * One C API over heterogeneous accelerators: OpenCL devices, Vulkan compute
 * devices, the CPU, and any plugin a vendor drops in.
 *
 * Object model
 *   aidev_context  -> backends -> aidev_device
 *   aidev_device   owns aidev_buffer, aidev_queue, aidev_kernel
 *   aidev_queue    takes commands and hands back aidev_event
 *
 * Ownership
 *   A call named *_create (or one that hands back a new handle through an
 *   out_* parameter, such as an enqueue's out_event) gives the caller one
 *   owned reference; *_release gives it back. Accessors (*_get_info, the
 *   devices of a context) only borrow: a device lives as long as its context.
 *   Releasing a context releases every object made from it; their handles
 *   become invalid at that moment.
 *
 * Handles
 *   Handles are opaque and checked at every entry: a NULL, released, foreign
 *   (another context's), wrong-typed or garbage handle makes the call return
 *   AIDEV_ERROR_INVALID_HANDLE; it never crashes.
 *
 * Errors
 *   Every call returns aidev_status: 0 is success, negative values are
 *   errors, AIDEV_NOT_READY (positive) means "not yet". When a call fails,
 *   aidev_last_error() returns a message, local to the calling thread, naming
 *   the argument and the values at fault or the backend call and its native
 *   code. Failures of asynchronous work are carried by the event
 *   (aidev_event_message()).
 *
 * Statuses
 *   Each call below lists the statuses it returns and when. Where a call
 *   reaches a backend (a device's first use opens it; allocations, builds,
 *   submissions), the backend's refusal is returned as it is, its native
 *   call and code in the message: AIDEV_ERROR_BACKEND, or
 *   AIDEV_ERROR_OUT_OF_DEVICE_MEMORY, AIDEV_ERROR_OUT_OF_HOST_MEMORY,
 *   AIDEV_ERROR_DEVICE_LOST where the backend can tell; the lists say
 *   "a backend's failure" for these. AIDEV_ERROR_OUT_OF_HOST_MEMORY is
 *   also libaidev's own answer when a malloc fails.
 *
 * Threads
 *   Every call is thread safe unless its comment says otherwise. Several
 *   threads may enqueue on one queue; the queue orders commands in the order
 *   the enqueue calls returned. Releasing an object while another thread is
 *   inside a call on the same object is the caller's race.
 */
#ifndef AIDEV_AIDEV_H
#define AIDEV_AIDEV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(AIDEV_BUILDING_LIBRARY)
#define AIDEV_API __attribute__((visibility("default")))
#else
#define AIDEV_API
#endif

#define AIDEV_VERSION_MAJOR 0
#define AIDEV_VERSION_MINOR 1
#define AIDEV_VERSION_PATCH 0

/* Returns the library version as "MAJOR.MINOR.PATCH" (static; never
 * NULL). No status. */
AIDEV_API const char *aidev_version(void);

/* ------------------------------------------------------------------------ */
/* Status and errors                                                        */
/* ------------------------------------------------------------------------ */

typedef enum aidev_status {
    AIDEV_SUCCESS = 0,
    /* Not an error: the event or operation has not completed yet. */
    AIDEV_NOT_READY = 1,

    /* An argument is NULL, zero where it may not be, or out of its domain. */
    AIDEV_ERROR_INVALID_ARGUMENT = -1,
    /* A handle is NULL, released, of another type or of another context. */
    AIDEV_ERROR_INVALID_HANDLE = -2,
    /* An offset/size pair lies outside a buffer, or overflows. */
    AIDEV_ERROR_OUT_OF_RANGE = -3,
    AIDEV_ERROR_OUT_OF_HOST_MEMORY = -4,
    AIDEV_ERROR_OUT_OF_DEVICE_MEMORY = -5,
    /* The device or backend does not offer this (memory kind, feature). */
    AIDEV_ERROR_UNSUPPORTED = -6,
    /* No such device index, kernel name or info key. */
    AIDEV_ERROR_NOT_FOUND = -7,
    /* Dispatch arguments do not match the kernel's declared signature. */
    AIDEV_ERROR_KERNEL_ARGS = -8,
    /* A kernel failed to compile; the message carries the build log. */
    AIDEV_ERROR_COMPILE = -9,
    /* A native backend call failed; the message names it and its code. */
    AIDEV_ERROR_BACKEND = -10,
    AIDEV_ERROR_DEVICE_LOST = -11,
    /* A command did not run because an event it waited on failed. */
    AIDEV_ERROR_DEPENDENCY = -12,
    /* A wait ran past its timeout. */
    AIDEV_ERROR_TIMEOUT = -13,
    /* The object is in a state that forbids the call (e.g. mapped twice). */
    AIDEV_ERROR_INVALID_STATE = -14,
    /* A memory quota would be exceeded. */
    AIDEV_ERROR_QUOTA = -15,
    /* A file or I/O operation failed; the message carries errno's text. */
    AIDEV_ERROR_IO = -16,
    /* A plugin could not be loaded or initialised. */
    AIDEV_ERROR_PLUGIN = -17,
    /* A command was cancelled because its queue or context went away. */
    AIDEV_ERROR_CANCELLED = -18,
} aidev_status;

/* Returns the enum name of |status| ("AIDEV_ERROR_OUT_OF_RANGE"), or
 * "AIDEV_ERROR_UNKNOWN" for a value outside the enum; static, never NULL.
 * No status. */
AIDEV_API const char *aidev_status_string(aidev_status status);

/* Returns the message of the last failed call on this thread, or "" when the
 * last call succeeded. The string is owned by the library and valid until the
 * next aidev call on this thread. Never NULL; no status. */
AIDEV_API const char *aidev_last_error(void);

/* ------------------------------------------------------------------------ */
/* Handles                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct aidev_context_t *aidev_context;
typedef struct aidev_device_t *aidev_device;
typedef struct aidev_buffer_t *aidev_buffer;
typedef struct aidev_queue_t *aidev_queue;
typedef struct aidev_event_t *aidev_event;
typedef struct aidev_kernel_t *aidev_kernel;

/* ------------------------------------------------------------------------ */
/* Scalar and element types                                                 */
/* ------------------------------------------------------------------------ */

typedef enum aidev_type {
    AIDEV_TYPE_NONE = 0, /* untyped bytes (buffers) */
    AIDEV_TYPE_I8,
    AIDEV_TYPE_U8,
    AIDEV_TYPE_I16,
    AIDEV_TYPE_U16,
    AIDEV_TYPE_I32,
    AIDEV_TYPE_U32,
    AIDEV_TYPE_I64,
    AIDEV_TYPE_U64,
    AIDEV_TYPE_F16,
    AIDEV_TYPE_F32,
    AIDEV_TYPE_F64,
    /* bfloat16: the upper half of an f32 (8 exponent bits, 7 fraction bits). */
    AIDEV_TYPE_BF16,
    AIDEV_TYPE_COUNT_
} aidev_type;

/* Size in bytes of one element of |type|; 1 for AIDEV_TYPE_NONE, 0 when
 * |type| is not a valid type (no status). */
AIDEV_API size_t aidev_type_size(aidev_type type);
/* Short name of |type| ("f32", "i8", "bytes"); "?" when invalid. Static,
 * never NULL; no status. */
AIDEV_API const char *aidev_type_name(aidev_type type);

/* ------------------------------------------------------------------------ */
/* Context and backends                                                     */
/* ------------------------------------------------------------------------ */

typedef struct aidev_context_desc {
    /* Comma-separated backend names in the order their devices are listed
     * ("vulkan,cpu"). NULL: the AIDEV_BACKENDS environment variable, else
     * every backend found, plugins first and the CPU backend last. */
    const char *backends;
    /* Memory quota in bytes for all buffers of the context (allocated and
     * imported ones alike, on every device); 0: the AIDEV_MEM_LIMIT
     * environment variable ("2G", "512M", "65536"), else no limit. See
     * aidev_context_set_memory_limit(). */
    uint64_t memory_limit;
} aidev_context_desc;

/* Creates a context: loads the backends (once per process, shared between
 * contexts) and lists their devices. |desc| may be NULL. Devices are opened
 * lazily, on first use. Returns AIDEV_SUCCESS even when some plugins were
 * skipped; see aidev_context_get_backends() for why. Returns
 * AIDEV_ERROR_INVALID_ARGUMENT when |out_context| is NULL, or when
 * AIDEV_MEM_LIMIT or AIDEV_ZERO_ON_FREE holds a value the parser refuses
 * (see Environment); AIDEV_ERROR_NOT_FOUND when |desc->backends| names a
 * backend the loader did not find; AIDEV_ERROR_INVALID_STATE when called
 * from a backend's entry or init while libaidev loads it;
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY. */
AIDEV_API aidev_status aidev_context_create(const aidev_context_desc *desc,
                                            aidev_context *out_context);

/* Releases the context and every object made from it. First it cancels
 * what can never run now: every pending user event of the context, whether
 * or not the program still holds its handle, completes with
 * AIDEV_ERROR_CANCELLED (its callbacks run, on this thread); commands that
 * libaidev holds back and that have not started complete with
 * AIDEV_ERROR_CANCELLED without running, and a file read under way stops
 * after the reads in flight; commands a device already has run, or fail
 * with AIDEV_ERROR_DEPENDENCY when they wait on a cancelled event. Then it
 * waits for every queue of the context to drain. Returns AIDEV_SUCCESS, or
 * AIDEV_ERROR_INVALID_HANDLE for a bad |context| (then nothing happens);
 * failures of the commands it waits for stay on their events. */
AIDEV_API aidev_status aidev_context_release(aidev_context context);

typedef enum aidev_backend_state {
    AIDEV_BACKEND_LOADED = 0,  /* loaded and initialised */
    AIDEV_BACKEND_SKIPPED = 1, /* found but not used (not selected, duplicate,
                                  no device on this machine) */
    AIDEV_BACKEND_FAILED = 2,  /* could not be loaded or initialised */
} aidev_backend_state;

typedef struct aidev_backend_report {
    const char *name;   /* "cpu", "opencl", "vulkan", or the plugin's name */
    const char *path;   /* the shared object, or "(built-in)" */
    aidev_backend_state state;
    const char *reason; /* why skipped or failed; "" when loaded */
    uint32_t abi_version;  /* AIDEV_BACKEND_ABI_MAKE(major, minor) it speaks */
    uint32_t device_count; /* devices it contributed to this context */
} aidev_backend_report;

/* Two-call enumeration of every backend the loader considered. With
 * |out_reports| NULL, stores the count in |*count|; otherwise fills at most
 * |*count| entries and stores the number written. Strings are owned by the
 * context. AIDEV_ERROR_INVALID_HANDLE for a bad |context|,
 * AIDEV_ERROR_INVALID_ARGUMENT when |count| is NULL. */
AIDEV_API aidev_status aidev_context_get_backends(aidev_context context,
                                                  uint32_t *count,
                                                  aidev_backend_report *out_reports);

/* The bytes of buffers the context holds now, and its limit (0: none).
 * Either pointer may be NULL. A buffer counts its size from its creation
 * until it is released and no DLPack tensor exported from it is alive;
 * commands still in flight on a released buffer keep its memory a little
 * longer, without counting (so a pipeline may release one buffer and
 * allocate the next at once). AIDEV_ERROR_INVALID_HANDLE for a bad
 * |context|; otherwise AIDEV_SUCCESS. */
AIDEV_API aidev_status aidev_context_get_memory_usage(aidev_context context,
                                                      uint64_t *out_used,
                                                      uint64_t *out_limit);

/* Sets the context's memory limit to |limit| bytes (0: none) from now on.
 * A limit below the current usage is accepted: existing buffers stay. An
 * allocation (or a restore) past the limit first evicts idle buffers into
 * the compressed memory tier (see "Compressed memory tier" below: least
 * recently used first, never pinned ones); it fails with
 * AIDEV_ERROR_QUOTA only when that cannot make room, its message naming
 * the size asked, the limit, the usage and what eviction tried. Returns
 * AIDEV_SUCCESS, or AIDEV_ERROR_INVALID_HANDLE for a bad |context|. */
AIDEV_API aidev_status aidev_context_set_memory_limit(aidev_context context, uint64_t limit);

/* Returns the string for a backend state ("loaded", "skipped", "failed"),
 * "?" for a value outside the enum; static, never NULL. No status. */
AIDEV_API const char *aidev_backend_state_string(aidev_backend_state state);

/* Two-call enumeration of the context's devices (borrowed handles), as
 * aidev_context_get_backends(). AIDEV_ERROR_INVALID_HANDLE for a bad
 * |context|, AIDEV_ERROR_INVALID_ARGUMENT when |count| is NULL. */
AIDEV_API aidev_status aidev_context_get_devices(aidev_context context,
                                                 uint32_t *count,
                                                 aidev_device *out_devices);

/* The device at |index| in the context's list (borrowed).
 * AIDEV_ERROR_NOT_FOUND when |index| is not below the device count,
 * AIDEV_ERROR_INVALID_HANDLE for a bad |context|,
 * AIDEV_ERROR_INVALID_ARGUMENT when |out_device| is NULL. */
AIDEV_API aidev_status aidev_context_get_device(aidev_context context,
                                                uint32_t index,
                                                aidev_device *out_device);

/* ------------------------------------------------------------------------ */
/* Environment                                                              */
/* ------------------------------------------------------------------------ */

/* aidev reads its environment variables (AIDEV_MEM_LIMIT, AIDEV_CPU_THREADS,
 * AIDEV_HUGEPAGES, AIDEV_IO_ENGINE, AIDEV_ZERO_ON_FREE, AIDEV_CPU_PIN,
 * AIDEV_COMPRESS, AIDEV_CPU_INT8, a
 * backend's own...) with one strict parser: a whole number is digits only
 * (no sign, space or suffix); a size is digits with an optional K, M, G or
 * T (powers of 1024) and an optional B or iB, 0 meaning no limit; a switch
 * is one of 1, on, yes, true or 0, off, no, false; a choice is one of its
 * names. A value that is none of these is never read as something else:
 * it is refused, said once on stderr ("aidev: NAME='value': problem; what
 * is used instead") and listed here. Where a value has a cap (the CPU
 * backend's workers: at most 4 per CPU the process may use) a larger one is
 * capped, and reported the same way. A refused AIDEV_MEM_LIMIT or
 * AIDEV_ZERO_ON_FREE makes aidev_context_create() fail with
 * AIDEV_ERROR_INVALID_ARGUMENT; other refused values leave their default. */
typedef struct aidev_environment_report {
    const char *name;    /* "AIDEV_CPU_THREADS" */
    const char *value;   /* as it was set: "100000" */
    const char *problem; /* "more than 8 (4 per CPU this process may use)" */
    const char *used;    /* what aidev does instead: "using 8" */
} aidev_environment_report;

/* Two-call enumeration of the values refused or capped in this process so
 * far, in the order they were met: with |out_reports| NULL, stores their
 * count in |*count|; otherwise fills at most |*count| entries and stores the
 * number written. libaidev's own variables are checked by this call whether
 * or not they were used yet; a backend's, when it loaded (the first
 * aidev_context_create()). Strings live as long as the process. Needs no
 * context; thread safe. AIDEV_ERROR_INVALID_ARGUMENT when |count| is NULL. */
AIDEV_API aidev_status aidev_environment_get_reports(uint32_t *count,
                                                     aidev_environment_report *out_reports);

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum aidev_device_type {
    AIDEV_DEVICE_TYPE_CPU = 1,
    AIDEV_DEVICE_TYPE_GPU = 2,
    AIDEV_DEVICE_TYPE_ACCELERATOR = 3,
    AIDEV_DEVICE_TYPE_OTHER = 4,
} aidev_device_type;

/* Memory kinds. A device lists those it offers in AIDEV_DEVICE_INFO_MEMORY_KINDS
 * as a mask of (1u << kind). */
typedef enum aidev_memory_kind {
    /* Fastest for the device. Not mappable: move data with enqueue_write /
     * enqueue_read / enqueue_copy. */
    AIDEV_MEMORY_DEVICE = 0,
    /* Host memory the device can reach. Mapping is zero-copy. */
    AIDEV_MEMORY_HOST = 1,
    /* One allocation visible to host and device at the same address (OpenCL
     * SVM, Vulkan host-visible device memory, plain memory on the CPU). Map
     * before host access and unmap before device access; on devices with
     * fine-grained sharing these are cheap. */
    AIDEV_MEMORY_SHARED = 2,
    AIDEV_MEMORY_KIND_COUNT_
} aidev_memory_kind;

#define AIDEV_MEMORY_KIND_BIT(kind) (1u << (kind))

/* Feature bits of AIDEV_DEVICE_INFO_FEATURES. */
#define AIDEV_FEATURE_FP16 (1ull << 0)
#define AIDEV_FEATURE_FP64 (1ull << 1)
#define AIDEV_FEATURE_INT8_DOT (1ull << 2)
#define AIDEV_FEATURE_SUBGROUPS (1ull << 3)
#define AIDEV_FEATURE_SVM_COARSE (1ull << 4)
#define AIDEV_FEATURE_SVM_FINE (1ull << 5)
#define AIDEV_FEATURE_TIMELINE_SEMAPHORES (1ull << 6)
#define AIDEV_FEATURE_QUEUE_PRIORITY (1ull << 7)
#define AIDEV_FEATURE_HOST_IMPORT (1ull << 8)   /* zero-copy host pointer import */
#define AIDEV_FEATURE_KERNEL_OPENCL_C (1ull << 9) /* user kernels as OpenCL C */
#define AIDEV_FEATURE_KERNEL_SPIRV (1ull << 10)   /* user kernels as SPIR-V */
#define AIDEV_FEATURE_KERNEL_HOST (1ull << 11)    /* user kernels as C functions */
#define AIDEV_FEATURE_UNIFIED_MEMORY (1ull << 12) /* device memory is host memory */
/* A command of a HIGH-priority queue goes before NORMAL and LOW work already
 * running on the device: on the CPU device, pool threads move to it as they
 * end their current chunk of the LOW command (issue 15). Without the bit,
 * queue priorities are at most a hint. */
#define AIDEV_FEATURE_QUEUE_PREEMPTION (1ull << 13)
/* SPIR-V user kernels take specialization constants
 * (aidev_kernel_desc.spec_constants); OpenCL C user kernels take
 * local-memory arguments (AIDEV_ARG_LOCAL). Set by libaidev where the
 * device takes the form and its backend applies them (issue 17). */
#define AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS (1ull << 14)
#define AIDEV_FEATURE_KERNEL_LOCAL_ARGS (1ull << 15)
/* The device takes queues created with AIDEV_QUEUE_LOW_LATENCY
 * (aidev_queue_create_with_flags()): its threads poll for new work a while
 * before sleeping, so a command on an idle device starts without a thread
 * wake-up (issue 15). */
#define AIDEV_FEATURE_QUEUE_LOW_LATENCY (1ull << 16)

typedef enum aidev_device_info {
    AIDEV_DEVICE_INFO_NAME = 1,            /* char[]: "llvmpipe (LLVM 15...)" */
    AIDEV_DEVICE_INFO_VENDOR = 2,          /* char[] */
    AIDEV_DEVICE_INFO_BACKEND = 3,         /* char[]: "cpu", "opencl", ... */
    AIDEV_DEVICE_INFO_TYPE = 4,            /* uint32_t: aidev_device_type */
    AIDEV_DEVICE_INFO_COMPUTE_UNITS = 5,   /* uint32_t */
    AIDEV_DEVICE_INFO_MEMORY_BYTES = 6,    /* uint64_t: global memory size */
    AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES = 7, /* uint64_t; UNSUPPORTED where the
                                                backend cannot know it */
    AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES = 8, /* uint64_t: largest one buffer */
    AIDEV_DEVICE_INFO_MAX_WORKGROUP_SIZE = 9, /* uint32_t: work-items per group */
    AIDEV_DEVICE_INFO_MAX_WORKGROUP_DIMS = 10, /* uint32_t[3] */
    AIDEV_DEVICE_INFO_MEMORY_KINDS = 11,   /* uint32_t: mask of AIDEV_MEMORY_KIND_BIT */
    AIDEV_DEVICE_INFO_FEATURES = 12,       /* uint64_t: AIDEV_FEATURE_* bits */
    AIDEV_DEVICE_INFO_DRIVER_VERSION = 13, /* char[] */
    AIDEV_DEVICE_INFO_API_VERSION = 14,    /* char[]: "OpenCL 3.0", "Vulkan 1.3.230" */
    AIDEV_DEVICE_INFO_PCI_BUS_ID = 15,     /* char[]: "0000:65:00.0"; UNSUPPORTED
                                              where unknown */
    AIDEV_DEVICE_INFO_UUID = 16,           /* uint8_t[16]; UNSUPPORTED where unknown */
    AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES = 17, /* uint64_t: workgroup-shared memory */
    AIDEV_DEVICE_INFO_INDEX = 18,          /* uint32_t: index in the context */
    AIDEV_DEVICE_INFO_NUMA_NODE = 19,      /* int32_t: -1 where unknown */
    AIDEV_DEVICE_INFO_TIMESTAMP_PERIOD_NS = 20, /* double: device tick in ns */
    AIDEV_DEVICE_INFO_QUEUE_SCHEDULING = 21, /* char[]: how the device honours queue
                                                priorities, preemption and
                                                AIDEV_QUEUE_LOW_LATENCY, or why
                                                not, in words (issue 15) */
} aidev_device_info;

/* Typed info query. Copies the value of |key| into |value| (|value_size|
 * bytes available) and stores the full size in |*size_ret|. Either |value|
 * or |size_ret| may be NULL: pass value NULL to learn the size. Strings are
 * NUL-terminated and their size counts the NUL. Returns
 * AIDEV_ERROR_INVALID_ARGUMENT when |value| is given and |value_size| is
 * too small (|*size_ret| still says the size needed),
 * AIDEV_ERROR_NOT_FOUND for an unknown key, AIDEV_ERROR_UNSUPPORTED when the
 * backend cannot know the value on this device, AIDEV_ERROR_INVALID_HANDLE
 * for a bad |device|, and a backend's failure to measure
 * AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES. */
AIDEV_API aidev_status aidev_device_get_info(aidev_device device,
                                             aidev_device_info key,
                                             size_t value_size, void *value,
                                             size_t *size_ret);

/* The context a device belongs to (borrowed). AIDEV_ERROR_INVALID_HANDLE
 * for a bad |device|, AIDEV_ERROR_INVALID_ARGUMENT when |out_context| is
 * NULL. */
AIDEV_API aidev_status aidev_device_get_context(aidev_device device,
                                                aidev_context *out_context);

/* What aidev_device_select() looks for. Zero fields ask nothing. */
typedef struct aidev_device_requirements {
    /* Mask of AIDEV_DEVICE_TYPE_BIT(type) the device may be; 0: any type. */
    uint32_t types;
    /* Mask of AIDEV_MEMORY_KIND_BIT(kind): the device offers each. */
    uint32_t memory_kinds;
    /* AIDEV_DEVICE_INFO_MEMORY_BYTES at least this. */
    uint64_t min_memory_bytes;
    /* AIDEV_FEATURE_* bits the device has, all of them. */
    uint64_t features;
    /* (may be NULL) Data the work will use: the device holding it ranks
     * first, then devices on the NUMA node of its memory. */
    aidev_buffer near_buffer;
} aidev_device_requirements;

#define AIDEV_DEVICE_TYPE_BIT(type) (1u << (type))

/* Picks the device of |context| that meets every requirement of |req|
 * (NULL: none) and ranks first: the device holding |req->near_buffer|, then
 * GPUs, accelerators, other devices and CPUs in that order, then devices on
 * the buffer's NUMA node, then the most memory, then the lowest index.
 * Stores it (borrowed) in |*out_device|. AIDEV_ERROR_NOT_FOUND when no
 * device qualifies, the message naming the requirement no remaining device
 * met and what the devices offer; AIDEV_ERROR_INVALID_HANDLE for a bad
 * |context| or a near_buffer that is released or of another context;
 * AIDEV_ERROR_INVALID_ARGUMENT when |out_device| is NULL or |req| asks for
 * unknown device types, memory kinds or features. */
AIDEV_API aidev_status aidev_device_select(aidev_context context,
                                           const aidev_device_requirements *req,
                                           aidev_device *out_device);

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */
/* ------------------------------------------------------------------------ */

/* Buffer creation flags. */
/* By default every new buffer reads as zero on every device, whatever memory
 * it reuses. With this flag the zeroing is skipped and the contents are
 * unspecified: they may hold data of earlier buffers of this process
 * (never another process's: operating systems and drivers clear memory
 * between processes), unless those were made with ZERO_ON_FREE. */
#define AIDEV_BUFFER_UNINITIALIZED (1u << 0)
/* Scrub: once the buffer is freed, its memory is overwritten with zeros
 * before it goes back to a pool, the driver or the OS, so no later buffer
 * (not even an uninitialised one) can read it. For keys, weights and
 * tenants' data. AIDEV_ZERO_ON_FREE=1 sets it on every buffer. */
#define AIDEV_BUFFER_ZERO_ON_FREE (1u << 1)
/* Never evicted automatically under a memory limit (see
 * aidev_buffer_set_pinned). */
#define AIDEV_BUFFER_PINNED (1u << 2)

typedef struct aidev_buffer_desc {
    uint64_t size;             /* bytes, > 0 */
    aidev_memory_kind kind;
    /* Element type, or AIDEV_TYPE_NONE for untyped bytes. A typed buffer is
     * refused by a kernel argument declared with another element type. */
    aidev_type element_type;
    uint32_t flags;            /* AIDEV_BUFFER_* */
} aidev_buffer_desc;

/* Allocates a buffer on |device|. Fails with AIDEV_ERROR_UNSUPPORTED when the
 * device does not offer the kind, AIDEV_ERROR_OUT_OF_RANGE when |size| is
 * above AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES, AIDEV_ERROR_QUOTA past the
 * context's memory limit, AIDEV_ERROR_INVALID_ARGUMENT when |desc| or
 * |out_buffer| is NULL, the size is 0 or not a whole number of elements,
 * or the kind, element type or flags are not values of their enums,
 * AIDEV_ERROR_INVALID_HANDLE for a bad
 * |device|, and with a backend's failure (out of device memory above all). */
AIDEV_API aidev_status aidev_buffer_create(aidev_device device,
                                           const aidev_buffer_desc *desc,
                                           aidev_buffer *out_buffer);

/* Wraps |size| bytes of caller memory at |host_ptr| in a HOST buffer without
 * copying. The memory must outlive the buffer and must not be freed while
 * commands using it are pending. Backends state their alignment rule in the
 * message of AIDEV_ERROR_UNSUPPORTED when they cannot import a pointer
 * (OpenCL: any; Vulkan: host-pointer import alignment; CPU: any).
 * AIDEV_ERROR_INVALID_ARGUMENT when |host_ptr| or |out_buffer| is NULL,
 * |size| is 0 or not a whole number of elements, or |element_type| is not
 * an aidev_type; AIDEV_ERROR_OUT_OF_RANGE when |size| is above the
 * device's largest buffer or the range wraps the address space; AIDEV_ERROR_QUOTA past the context's memory limit;
 * AIDEV_ERROR_INVALID_HANDLE for a bad |device|; a backend's failure. */
AIDEV_API aidev_status aidev_buffer_import_host(aidev_device device,
                                                void *host_ptr, uint64_t size,
                                                aidev_type element_type,
                                                aidev_buffer *out_buffer);

/* Drops the caller's reference; the memory is freed once no pending command
 * uses it. AIDEV_SUCCESS, or AIDEV_ERROR_INVALID_HANDLE for a bad or
 * already released |buffer|. */
AIDEV_API aidev_status aidev_buffer_release(aidev_buffer buffer);

/* Map flags. */
#define AIDEV_MAP_READ (1u << 0)
#define AIDEV_MAP_WRITE (1u << 1)

/* Maps |size| bytes at |offset| of a HOST or SHARED buffer for host access
 * (zero-copy) and stores the host address in |*out_ptr|. The caller must make
 * sure no pending command writes the range. DEVICE buffers are not mappable
 * (AIDEV_ERROR_UNSUPPORTED, as for a backend that cannot map). A buffer
 * holds one mapping at a time (AIDEV_ERROR_INVALID_STATE otherwise).
 * AIDEV_ERROR_INVALID_ARGUMENT when |out_ptr| is NULL or |map_flags| is 0
 * or has other bits; AIDEV_ERROR_OUT_OF_RANGE when |size| is 0 or the range
 * leaves the buffer; AIDEV_ERROR_INVALID_HANDLE for a bad |buffer|; a
 * backend's failure to map. An evicted buffer is restored first, with the
 * errors of aidev_enqueue_restore() (AIDEV_ERROR_QUOTA, AIDEV_ERROR_IO...). */
AIDEV_API aidev_status aidev_buffer_map(aidev_buffer buffer, uint64_t offset,
                                        uint64_t size, uint32_t map_flags,
                                        void **out_ptr);

/* Ends the mapping made by aidev_buffer_map; host writes become visible to
 * the device. AIDEV_ERROR_INVALID_STATE when the buffer is not mapped,
 * AIDEV_ERROR_INVALID_HANDLE for a bad |buffer|, a backend's failure to
 * unmap (the buffer then stays mapped). */
AIDEV_API aidev_status aidev_buffer_unmap(aidev_buffer buffer);

typedef enum aidev_buffer_info {
    AIDEV_BUFFER_INFO_SIZE = 1,         /* uint64_t */
    AIDEV_BUFFER_INFO_KIND = 2,         /* uint32_t: aidev_memory_kind */
    AIDEV_BUFFER_INFO_ELEMENT_TYPE = 3, /* uint32_t: aidev_type */
    AIDEV_BUFFER_INFO_DEVICE = 4,       /* aidev_device (borrowed) */
    AIDEV_BUFFER_INFO_IMPORTED = 5,     /* uint32_t: 1 when made by import_host */
    /* char[]: how the memory is backed: "hugetlb" (reserved huge pages),
     * "thp" (transparent huge pages), "normal" (base pages), "device"
     * (memory the host does not address). Host allocations of 2 MiB or
     * more ask for huge pages: hugetlb where pages are reserved
     * (/proc/sys/vm/nr_hugepages), else THP, else normal pages;
     * AIDEV_HUGEPAGES=off|thp|auto narrows the choice. Reported by the
     * backend, or read from /proc/self/smaps for host addresses (imports,
     * driver allocations). */
    AIDEV_BUFFER_INFO_PAGE_KIND = 6,
    AIDEV_BUFFER_INFO_NUMA_NODE = 7,    /* int32_t: node of the memory; -1 unknown */
    AIDEV_BUFFER_INFO_FLAGS = 8,        /* uint32_t: AIDEV_BUFFER_* it was made with */
    /* void *: the host address of the buffer's first byte, where the host
     * reaches the memory at a stable address without a map: HOST and SHARED
     * memory whose backend gives one, and every kind on devices whose memory
     * is host memory (the CPU backend; large DEVICE buffers of CPU devices
     * of the OpenCL and Vulkan backends). AIDEV_ERROR_UNSUPPORTED otherwise
     * (map the buffer, or read it). It is the address a map returns, valid
     * until the buffer is freed, and taking it maps nothing: host access
     * through it must be ordered with the commands using the buffer by
     * their events, as for a mapping. For libraries that hand aidev memory
     * to another host API (libaidev-mpi gives it to MPI in place). */
    AIDEV_BUFFER_INFO_HOST_ADDRESS = 9,
    /* The compressed memory tier (its section below). */
    AIDEV_BUFFER_INFO_RESIDENT = 10,     /* uint32_t: 1 in device memory, 0 evicted */
    /* uint64_t: bytes its compressed copy takes in host memory; 0 while
     * resident. */
    AIDEV_BUFFER_INFO_STORED_BYTES = 11,
    /* Context buffers (section "Buffers on several devices" below). */
    /* uint64_t: bit i set when device i (AIDEV_DEVICE_INFO_INDEX) holds a
     * valid copy; a device that uses the host copy in place counts while
     * the host copy is valid. Devices past index 63 are not shown. For a
     * device buffer, the bit of its device. */
    AIDEV_BUFFER_INFO_VALID_DEVICES = 12,
    /* uint32_t: 1 when the host copy of a context buffer is valid. For a
     * device buffer, 1 when its memory is host-addressable
     * (AIDEV_BUFFER_INFO_HOST_ADDRESS works). */
    AIDEV_BUFFER_INFO_VALID_HOST = 13,
} aidev_buffer_info;

/* Typed info query, same rules and statuses as aidev_device_get_info()
 * (AIDEV_ERROR_INVALID_HANDLE for a bad |buffer|). */
AIDEV_API aidev_status aidev_buffer_get_info(aidev_buffer buffer,
                                             aidev_buffer_info key,
                                             size_t value_size, void *value,
                                             size_t *size_ret);

/* ------------------------------------------------------------------------ */
/* Compressed memory tier                                                   */
/* ------------------------------------------------------------------------ */

/* A buffer can be evicted: its bytes are compressed into host memory, its
 * device (or host) memory is freed and the context's usage drops by its
 * size. It keeps its handle; the next command that names it, or a map,
 * restores it first, bit for bit. Compression cuts the bytes into 1 MiB
 * chunks compressed in parallel on worker threads (one per CPU the
 * process may use); the bytes of elements wider than one byte are split
 * into planes first (every element's first byte, then every second...),
 * so the exponents of floats compress; a chunk the codec does not shrink
 * is kept as it is. The codec is AIDEV_COMPRESS: lz4 (the default: speed),
 * zstd (level 1: ratio) or off (kept uncompressed in host memory), among
 * those this build has (aidev-info lists them). Every chunk carries an
 * xxHash checksum of its bytes, checked on restore: damaged data is
 * AIDEV_ERROR_IO, never wrong bytes. Built without xxHash, evictions are
 * AIDEV_ERROR_UNSUPPORTED. */

/* Evicts |buffer| once the queue's earlier commands, |wait_events|, and
 * every command enqueued before this call on any queue of the buffer's
 * device have completed; later commands of |queue| wait for it. When the
 * buffer is already evicted, or a command or map named it after this call
 * and before the eviction ended, the eviction does nothing (the buffer is
 * wanted again) and its event completes with AIDEV_SUCCESS. Its event
 * (command "evict") fails with AIDEV_ERROR_OUT_OF_HOST_MEMORY when host
 * memory for the compressed copy runs out (the buffer stays resident).
 * Returns AIDEV_ERROR_INVALID_ARGUMENT when |buffer| is on another device
 * than |queue|, AIDEV_ERROR_INVALID_HANDLE for a foreign handle,
 * AIDEV_ERROR_UNSUPPORTED for an imported buffer (its memory is the
 * caller's) or without xxHash, AIDEV_ERROR_INVALID_STATE while the buffer
 * is mapped or exported as a DLPack tensor; the wait list's errors as for
 * any enqueue. A command enqueued at the same time from another thread,
 * unordered with this call, races it (as two unordered commands do). */
AIDEV_API aidev_status aidev_enqueue_evict(aidev_queue queue, aidev_buffer buffer,
                                           uint32_t wait_count,
                                           const aidev_event *wait_events,
                                           aidev_event *out_event);

/* Restores |buffer| now, if it is evicted, and hands back an event
 * (command "restore") in the queue's order, for programs that want the
 * restore ahead of the command that needs it. Any command naming an
 * evicted buffer (write, read, copy, fill, dispatch, file read, prefetch,
 * restore) restores it the same way, inside its enqueue call, before it
 * returns: the buffer's memory is allocated and charged to the quota
 * there. So these calls may also return AIDEV_ERROR_QUOTA (no room under
 * the limit), AIDEV_ERROR_OUT_OF_DEVICE_MEMORY, and AIDEV_ERROR_IO when the
 * compressed copy is damaged (the buffer then stays evicted, its copy
 * kept). aidev_buffer_map() restores an evicted buffer too, with the same
 * errors. */
AIDEV_API aidev_status aidev_enqueue_restore(aidev_queue queue, aidev_buffer buffer,
                                             uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event);

/* Under a memory limit (aidev_context_set_memory_limit, AIDEV_MEM_LIMIT),
 * an allocation or a restore that would pass it evicts idle buffers of the
 * context first, the least recently used first (a command, a map or an
 * export uses a buffer), until it fits. Idle: no command that names the
 * buffer is still pending or running, not mapped, not exported as a DLPack
 * tensor, not imported, not pinned. While a context has a limit, every
 * command keeps the buffers it names referenced until it has completed,
 * which is how the hal tells idle buffers; commands enqueued before the
 * limit was first set are waited for instead (no buffer is evicted
 * automatically until they have all completed). The allocation fails with
 * AIDEV_ERROR_QUOTA only when evicting every idle buffer does not make
 * room, or the size alone is above the limit; the message says how many
 * buffers were evicted and why the others were not. */

/* Pins (|pinned| nonzero) or unpins (0) |buffer|: a pinned buffer is never
 * evicted automatically; an explicit aidev_enqueue_evict still evicts it,
 * and pinning an evicted buffer does not restore it (the next command or
 * map does). AIDEV_BUFFER_PINNED pins a buffer from its creation. Any
 * thread. Returns AIDEV_SUCCESS, or AIDEV_ERROR_INVALID_HANDLE for a bad
 * |buffer|. */
AIDEV_API aidev_status aidev_buffer_set_pinned(aidev_buffer buffer, uint32_t pinned);

/* The context's memory in both tiers: |out_resident| the bytes of its
 * buffers in device or host memory (what aidev_context_get_memory_usage
 * calls used, and the limit counts), |out_evicted| the size of its
 * evicted buffers, |out_compressed| the host bytes their compressed copies
 * take. Any pointer may be NULL. */
AIDEV_API aidev_status aidev_context_get_memory_tiers(aidev_context context,
                                                      uint64_t *out_resident,
                                                      uint64_t *out_evicted,
                                                      uint64_t *out_compressed);

/* The codec evictions use in this process ("lz4", "zstd", "off"), and in
 * |out_available| (may be NULL) the codecs of this build, comma-separated
 * ("lz4,zstd,off"); "" for both without xxHash. Static strings. */
AIDEV_API const char *aidev_memory_tier_codec(const char **out_available);

/* ------------------------------------------------------------------------ */
/* DLPack                                                                   */
/* ------------------------------------------------------------------------ */

/* DLPack (dlpack/dlpack.h) is the convention NumPy, PyTorch, JAX and others
 * share tensors by. Include dlpack.h to use the struct; aidev.h needs only
 * its name. Built without DLPack, both calls return AIDEV_ERROR_UNSUPPORTED. */
struct DLManagedTensor;

#define AIDEV_DLPACK_MAX_DIMS 8

/* The tensor view an export gives of a buffer. */
typedef struct aidev_dlpack_desc {
    uint64_t offset;          /* bytes into the buffer where element 0 lies */
    /* AIDEV_TYPE_NONE: the buffer's element type (then it must have one). */
    aidev_type element_type;
    /* 0 to AIDEV_DLPACK_MAX_DIMS. 0 with |shape| NULL: one dimension of
     * every whole element from |offset| to the buffer's end. */
    int32_t ndim;
    const int64_t *shape;     /* |ndim| sizes, each >= 0 */
    /* NULL: compact, row-major. Else |ndim| strides in elements, >= 0. */
    const int64_t *strides;
} aidev_dlpack_desc;

/* Exports |buffer| as a DLManagedTensor without copying. The device of the
 * tensor is:
 *   kDLCPU     when the host addresses the memory: every kind, at every
 *              size, on devices whose memory is host memory (the CPU
 *              backend; OpenCL and Vulkan devices of type
 *              AIDEV_DEVICE_TYPE_CPU, such as PoCL and lavapipe); elsewhere
 *              HOST memory (but on OpenCL, where a GPU's HOST memory is the
 *              driver's, reached through a map) and fine-grained SHARED
 *              memory; |data| is the host address of the first element;
 *   kDLOpenCL  otherwise, on the OpenCL backend: |data| is the cl_mem and
 *              |byte_offset| the offset (an import the driver copies, not
 *              aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN, is such memory);
 *   kDLVulkan  otherwise, on the Vulkan backend: |data| is the VkBuffer and
 *              |byte_offset| the offset within it;
 * with |device_id| 0 for kDLCPU and the aidev device index otherwise. The
 * type depends on the device and the kind only, never on the size. (Only
 * kDLCPU tensors can be consumed by every framework.) The tensor holds a reference on
 * the buffer: its memory (and the context's devices) stay alive until the
 * consumer calls the tensor's deleter, even after aidev_buffer_release() or
 * aidev_context_release(). Call the deleter exactly once. Commands writing
 * the buffer must have completed before the consumer reads it.
 * AIDEV_ERROR_OUT_OF_RANGE when the view does not fit in the buffer,
 * AIDEV_ERROR_UNSUPPORTED when the memory can be neither addressed by the
 * host nor named natively (the message says which) or aidev was built
 * without DLPack, AIDEV_ERROR_INVALID_ARGUMENT for a NULL |desc| or
 * |out_tensor|, more than AIDEV_DLPACK_MAX_DIMS dimensions, a negative
 * size or stride, no element type, or an offset that is not a whole
 * number of elements, AIDEV_ERROR_INVALID_HANDLE for a bad
 * |buffer|, AIDEV_ERROR_OUT_OF_HOST_MEMORY. */
AIDEV_API aidev_status aidev_buffer_export_dlpack(aidev_buffer buffer,
                                                  const aidev_dlpack_desc *desc,
                                                  struct DLManagedTensor **out_tensor);

/* Wraps a DLPack tensor in a HOST buffer of |device| without copying, where
 * the device can reach the memory: a compact (row-major, no gaps) kDLCPU
 * tensor, imported like aidev_buffer_import_host() on devices with
 * AIDEV_FEATURE_HOST_IMPORT. The buffer takes ownership of |tensor|: its
 * deleter is called once the buffer is freed (released and unused by
 * pending commands); on failure the caller keeps it. The element type is
 * the tensor's (AIDEV_TYPE_NONE for types aidev has no name for).
 * AIDEV_ERROR_UNSUPPORTED for other device types, strided tensors, a
 * device without host import, a dtype that is not whole bytes, or a build
 * without DLPack;
 * AIDEV_ERROR_INVALID_ARGUMENT for a NULL |tensor| or |out_buffer| or a
 * malformed tensor (no data, negative sizes); AIDEV_ERROR_INVALID_HANDLE
 * for a bad |device|; and what aidev_buffer_import_host() returns. */
AIDEV_API aidev_status aidev_buffer_import_dlpack(aidev_device device,
                                                  struct DLManagedTensor *tensor,
                                                  aidev_buffer *out_buffer);

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

/* Creates a user event: pending until aidev_event_set_status(). Use it to
 * hold commands back until the host is ready, on any queue of the context.
 * AIDEV_ERROR_INVALID_HANDLE for a bad |context|,
 * AIDEV_ERROR_INVALID_ARGUMENT when |out_event| is NULL,
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY. */
AIDEV_API aidev_status aidev_event_create_user(aidev_context context,
                                               aidev_event *out_event);

/* Completes a user event with |status| (AIDEV_SUCCESS or an error; an error
 * fails every command waiting on it). |message| may be NULL. A second call
 * returns AIDEV_ERROR_INVALID_STATE, as does an event that is not a user
 * event or one the context's release already cancelled; a |status| that is
 * not a member of aidev_status, or AIDEV_NOT_READY,
 * AIDEV_ERROR_INVALID_ARGUMENT; a bad |event|, AIDEV_ERROR_INVALID_HANDLE. */
AIDEV_API aidev_status aidev_event_set_status(aidev_event event,
                                              aidev_status status,
                                              const char *message);

/* AIDEV_SUCCESS when the event completed, AIDEV_NOT_READY when pending, or
 * the status the command failed with (its message in aidev_last_error()).
 * AIDEV_ERROR_INVALID_HANDLE for a bad |event|. Never blocks. */
AIDEV_API aidev_status aidev_event_query(aidev_event event);

/* Blocks until the event completes or |timeout_ns| passes
 * (AIDEV_WAIT_FOREVER to wait without limit). Returns the command's status:
 * a failed command's status with its message in aidev_last_error(), or
 * AIDEV_ERROR_TIMEOUT (the event goes on), or AIDEV_ERROR_INVALID_HANDLE
 * for a bad |event|. */
#define AIDEV_WAIT_FOREVER UINT64_MAX
AIDEV_API aidev_status aidev_event_wait(aidev_event event, uint64_t timeout_ns);

/* Waits for every event of the list, in order, within |timeout_ns| in all;
 * returns AIDEV_SUCCESS when all succeeded, else the first failure met (its
 * message naming the event's index), or AIDEV_ERROR_TIMEOUT.
 * AIDEV_ERROR_INVALID_ARGUMENT when |events| is NULL with a |count|;
 * AIDEV_ERROR_INVALID_HANDLE for a bad handle in the list (before
 * anything is waited for) or one released by another thread during the
 * wait. */
AIDEV_API aidev_status aidev_events_wait(uint32_t count,
                                         const aidev_event *events,
                                         uint64_t timeout_ns);

/* The failure message of a completed event ("" when it succeeded or is
 * pending, and for a bad handle). Owned by the event, valid until it is
 * released. Never NULL; no status. */
AIDEV_API const char *aidev_event_message(aidev_event event);

/* Timestamps of a command, in nanoseconds of CLOCK_MONOTONIC for every
 * backend, so events of different devices compare. */
typedef struct aidev_event_times {
    uint64_t queued; /* the enqueue call */
    uint64_t start;  /* the device began the command */
    uint64_t end;    /* the device finished it */
} aidev_event_times;

/* Fills |out| for a completed event; AIDEV_NOT_READY while pending.
 * AIDEV_ERROR_INVALID_ARGUMENT when |out| is NULL,
 * AIDEV_ERROR_INVALID_HANDLE for a bad |event|. */
AIDEV_API aidev_status aidev_event_get_times(aidev_event event,
                                             aidev_event_times *out);

/* Calls |fn(event, status, user_data)| once the event completes, on a thread
 * of the library (or at once on this thread if it already has). Callbacks must
 * not block on the queue that signals the event. |event| is the event's
 * handle, or NULL when the program released it before the callback started
 * (the callback still runs). A handle the program releases on another
 * thread during the call is refused from then on, like any released handle
 * (AIDEV_ERROR_INVALID_HANDLE). aidev_event_set_callback returns
 * AIDEV_ERROR_INVALID_ARGUMENT when |fn| is NULL, AIDEV_ERROR_INVALID_HANDLE
 * for a bad |event|, AIDEV_ERROR_OUT_OF_HOST_MEMORY. */
typedef void (*aidev_event_callback)(aidev_event event, aidev_status status,
                                     void *user_data);
AIDEV_API aidev_status aidev_event_set_callback(aidev_event event,
                                                aidev_event_callback fn,
                                                void *user_data);

typedef enum aidev_event_info {
    /* char[]: "write", "dispatch", "file_read", "prefetch", "user" ... */
    AIDEV_EVENT_INFO_COMMAND = 1,
    AIDEV_EVENT_INFO_BYTES = 2,     /* uint64_t: bytes the command moves (0: none) */
    AIDEV_EVENT_INFO_KERNEL = 3,    /* char[]: the kernel of a dispatch, else "" */
    AIDEV_EVENT_INFO_IO_ENGINE = 4, /* char[]: file reads: "io_uring" or "pread" */
    AIDEV_EVENT_INFO_IO_DIRECT = 5, /* uint32_t: file reads: 1 when read with O_DIRECT */
    AIDEV_EVENT_INFO_DEVICE = 6,    /* aidev_device of the queue; NULL for user events */
} aidev_event_info;

/* Typed info query, same rules and statuses as aidev_device_get_info()
 * (AIDEV_ERROR_INVALID_HANDLE for a bad |event|). Values of a pending file
 * read (engine, direct) are known once it has started. */
AIDEV_API aidev_status aidev_event_get_info(aidev_event event, aidev_event_info key,
                                            size_t value_size, void *value, size_t *size_ret);

/* Drops one reference to |event| (see aidev_event_retain()): the handle
 * ends with the last. The command behind it goes on; a callback set on it
 * still runs (with NULL as its event once the handle has ended, see above).
 * A pending user event stays pending, and is cancelled by the context's
 * release if nobody completes it. AIDEV_SUCCESS, or
 * AIDEV_ERROR_INVALID_HANDLE for a bad or already released |event|. */
AIDEV_API aidev_status aidev_event_release(aidev_event event);

/* ------------------------------------------------------------------------ */
/* Sharing events with libraries layered on aidev                            */
/* ------------------------------------------------------------------------ */

/* Adds a reference to the handle |event| for another owner: a library that
 * hands an event to its caller and completes it later (libaidev-mpi hands
 * out a user event it sets once the transfer ends) keeps the handle valid
 * however early the caller releases its own. Each reference is given back
 * with one aidev_event_release(); the handle stays valid until the last,
 * or until its context is released. The caller must hold a reference while
 * calling. Thread safe. Returns AIDEV_ERROR_INVALID_HANDLE for a handle
 * that is not a live event. */
AIDEV_API aidev_status aidev_event_retain(aidev_event event);

/* ------------------------------------------------------------------------ */
/* Queues and commands                                                      */
/* ------------------------------------------------------------------------ */

typedef enum aidev_queue_priority {
    AIDEV_QUEUE_PRIORITY_LOW = -1,
    AIDEV_QUEUE_PRIORITY_NORMAL = 0,
    AIDEV_QUEUE_PRIORITY_HIGH = 1,
} aidev_queue_priority;

/* Creates an in-order queue on |device|. A device may have many queues (one
 * for transfers, one for compute); commands of different queues may overlap.
 * |priority| reaches the backend where it supports priorities.
 * AIDEV_ERROR_INVALID_ARGUMENT when |out_queue| is NULL or |priority| is
 * not an aidev_queue_priority; AIDEV_ERROR_INVALID_HANDLE for a bad
 * |device|; AIDEV_ERROR_OUT_OF_HOST_MEMORY; a backend's failure. */
AIDEV_API aidev_status aidev_queue_create(aidev_device device,
                                          aidev_queue_priority priority,
                                          aidev_queue *out_queue);

/* Waits for the queue's commands to finish, then releases it. Refused with
 * AIDEV_ERROR_INVALID_STATE while an instantiated graph uses the queue
 * (aidev_graph_instantiate()). The record
 * of failures aidev_queue_finish() would report is discarded (each failed
 * command's event still carries its failure). AIDEV_SUCCESS, or
 * AIDEV_ERROR_INVALID_HANDLE for a bad or already released |queue|. */
AIDEV_API aidev_status aidev_queue_release(aidev_queue queue);

/* Blocks until every command enqueued so far has completed, then returns
 * the first failure among the queue's commands since the previous
 * aidev_queue_finish() on it, as CUDA's stream synchronisation does: that
 * command's status, with aidev_last_error() naming the command (its kind,
 * and its kernel or size), its cause, and how many failed after it. The
 * record then starts afresh: a second call reports only newer failures.
 * Each failed command's event carries its own failure as before. Recorded:
 * every command enqueued with an event or a wait list, and every command
 * libaidev holds back or runs itself (file reads, host callbacks, commands
 * queued behind them). A command enqueued with neither event nor wait list
 * goes to the device as it is: a failure of it inside the device reaches
 * this call as the backend's own error only. An error of the queue itself
 * (AIDEV_ERROR_DEVICE_LOST) is returned first, the record kept for the next
 * call. Commands refused by their enqueue call are not recorded (the call
 * returned the error). Returns AIDEV_SUCCESS when nothing failed, and
 * AIDEV_ERROR_INVALID_HANDLE for a bad |queue|. */
AIDEV_API aidev_status aidev_queue_finish(aidev_queue queue);

/* Every enqueue call below:
 *   - returns at once; the command runs after the queue's earlier commands
 *     and after every event of |wait_events| (events of any queue, device or
 *     backend of the same context);
 *   - if an event it waits on fails, does not run and completes with
 *     AIDEV_ERROR_DEPENDENCY, the cause in its message;
 *   - stores a new event in |*out_event| when |out_event| is not NULL (the
 *     caller owns it and releases it), NULL when the call fails;
 *   - returns AIDEV_SUCCESS when the command was taken (its own failure, if
 *     any, comes later on its event and from aidev_queue_finish()), or
 *     refuses it: AIDEV_ERROR_INVALID_HANDLE for a bad |queue|, a bad
 *     buffer, kernel or wait event, or one of another context;
 *     AIDEV_ERROR_INVALID_ARGUMENT when |wait_events| is NULL with a
 *     |wait_count|, |wait_count| is above 1,024, a size is 0, a host
 *     pointer is NULL, or a buffer is on another device than the queue;
 *     AIDEV_ERROR_OUT_OF_RANGE when an offset and size leave their buffer;
 *     AIDEV_ERROR_OUT_OF_HOST_MEMORY; a backend's refusal of the
 *     submission; and the statuses each call lists below. A refused
 *     command was not enqueued and holds nothing.
 * Host memory passed to a command must stay valid until its event completes. */

/* Copies |size| bytes from host memory |src| into |buffer| at |offset|.
 * Statuses: the common ones above. */
AIDEV_API aidev_status aidev_enqueue_write(aidev_queue queue, aidev_buffer buffer,
                                           uint64_t offset, uint64_t size,
                                           const void *src, uint32_t wait_count,
                                           const aidev_event *wait_events,
                                           aidev_event *out_event);

/* Copies |size| bytes of |buffer| at |offset| into host memory |dst|.
 * Statuses: the common ones above. */
AIDEV_API aidev_status aidev_enqueue_read(aidev_queue queue, aidev_buffer buffer,
                                          uint64_t offset, uint64_t size,
                                          void *dst, uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event);

/* Copies |size| bytes between two buffers of the queue's device. Overlapping
 * ranges of one buffer are refused (AIDEV_ERROR_INVALID_ARGUMENT); otherwise
 * the common statuses above. */
AIDEV_API aidev_status aidev_enqueue_copy(aidev_queue queue, aidev_buffer src,
                                          uint64_t src_offset, aidev_buffer dst,
                                          uint64_t dst_offset, uint64_t size,
                                          uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event);

/* Fills |size| bytes at |offset| with a |pattern_size|-byte pattern (1, 2 or
 * 4 bytes); |offset| and |size| must be multiples of |pattern_size|.
 * AIDEV_ERROR_INVALID_ARGUMENT when |pattern| is NULL, |pattern_size| is
 * another size or the multiples do not hold; otherwise the common statuses
 * above. */
AIDEV_API aidev_status aidev_enqueue_fill(aidev_queue queue, aidev_buffer buffer,
                                          uint64_t offset, uint64_t size,
                                          const void *pattern,
                                          uint32_t pattern_size,
                                          uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event);

/* A command that does nothing but wait: for the queue's earlier commands and
 * for |wait_events|. Its event completes when all of them have. This is also
 * the "wait for events" command. Statuses: the common ones above. */
AIDEV_API aidev_status aidev_enqueue_barrier(aidev_queue queue,
                                             uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event);

/* Runs |fn(user_data)| on a library thread once the queue's earlier commands
 * and |wait_events| have completed; the queue's later commands start after it
 * returns. |fn| must not block on this queue. AIDEV_ERROR_INVALID_ARGUMENT
 * when |fn| is NULL; otherwise the common statuses above. */
typedef void (*aidev_host_fn)(void *user_data);
AIDEV_API aidev_status aidev_enqueue_host_callback(aidev_queue queue,
                                                   aidev_host_fn fn,
                                                   void *user_data,
                                                   uint32_t wait_count,
                                                   const aidev_event *wait_events,
                                                   aidev_event *out_event);

/* Prefetch directions. */
#define AIDEV_PREFETCH_TO_DEVICE (1u << 0)
#define AIDEV_PREFETCH_TO_HOST (1u << 1)

/* A migration hint for |size| bytes at |offset| of a SHARED buffer: move
 * them toward the device (before kernels use them) or toward the host
 * (before the host maps them), as a command of the queue, ordered like any
 * other. |flags| is exactly one of AIDEV_PREFETCH_TO_DEVICE and _TO_HOST.
 * It never changes the contents; what it does per backend:
 *   opencl  clEnqueueSVMMigrateMem (CL_MIGRATE_MEM_OBJECT_HOST toward the
 *           host), where the device speaks OpenCL 2.1 or later;
 *   cpu     toward the device: the pages are populated ahead of the kernel
 *           (madvise MADV_POPULATE_WRITE) on the device's NUMA node;
 *           toward the host: nothing to move;
 *   others  (vulkan: host-visible memory has one place) a no-op that still
 *           waits and signals in order.
 * AIDEV_ERROR_INVALID_ARGUMENT for a buffer of another kind or bad flags;
 * otherwise the common statuses above. */
AIDEV_API aidev_status aidev_enqueue_prefetch(aidev_queue queue, aidev_buffer buffer,
                                              uint64_t offset, uint64_t size, uint32_t flags,
                                              uint32_t wait_count,
                                              const aidev_event *wait_events,
                                              aidev_event *out_event);

/* File-read flags. */
/* Read with O_DIRECT (bypassing the page cache) where the file offset, the
 * size and the destination are aligned to the file system's block size;
 * otherwise the read goes through the page cache. The event says which
 * (AIDEV_EVENT_INFO_IO_DIRECT). */
#define AIDEV_FILE_READ_DIRECT (1u << 0)

/* Reads |size| bytes at |file_offset| of the file open at |fd| into |buffer|
 * at |buffer_offset|, as a command of the queue: after the queue's earlier
 * commands and |wait_events|, before its later ones. The file is read with
 * io_uring where the kernel allows it, else by a pool of threads calling
 * pread. Reads land directly in HOST and SHARED memory (and in any memory of
 * a device whose memory is host memory); DEVICE memory of other devices is
 * filled through staging chunks whose copies overlap the next reads. The fd
 * is duplicated at once, so the caller may close it after the call. The fd
 * must be a regular file or a block device: reads happen at |file_offset|
 * whatever the fd's own position, and always return. A pipe, FIFO, socket,
 * terminal or other character device has no file offset and could hold the
 * queue until a writer acts: its read completes at once with
 * AIDEV_ERROR_IO, the message saying what the fd is (the same on both
 * engines). A bad or closed fd, an I/O error or the end of the file before
 * |size| bytes complete the event with AIDEV_ERROR_IO and a message; some
 * bytes of the range may then have been written. Releasing the context
 * cancels a read that has not started and stops one under way after the
 * reads in flight (aidev_context_release()). The call itself returns
 * AIDEV_ERROR_INVALID_ARGUMENT for unknown |flags| bits,
 * AIDEV_ERROR_OUT_OF_RANGE when |file_offset| + |size| passes the largest
 * file offset, and otherwise the common statuses above; what the fd is
 * and holds, and whether it could be duplicated, is found out when the
 * read runs (the event's status, AIDEV_ERROR_IO). */
AIDEV_API aidev_status aidev_enqueue_file_read(aidev_queue queue, aidev_buffer buffer,
                                               uint64_t buffer_offset, int fd,
                                               uint64_t file_offset, uint64_t size,
                                               uint32_t flags, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

/* ------------------------------------------------------------------------ */
/* Kernels                                                                  */
/* ------------------------------------------------------------------------ */

/* The most arguments a kernel may declare. */
#define AIDEV_MAX_KERNEL_ARGS 32

typedef enum aidev_arg_kind {
    AIDEV_ARG_BUFFER = 1,
    AIDEV_ARG_SCALAR = 2,
    /* OpenCL C kernels only: a __local pointer argument, workgroup memory
     * of the size each dispatch gives (aidev_arg_local()). */
    AIDEV_ARG_LOCAL = 3,
} aidev_arg_kind;

typedef enum aidev_access {
    AIDEV_ACCESS_READ = 1,
    AIDEV_ACCESS_WRITE = 2,
    AIDEV_ACCESS_READ_WRITE = 3,
} aidev_access;

/* One declared argument of a kernel's signature. */
typedef struct aidev_kernel_arg_desc {
    const char *name;
    aidev_arg_kind kind;
    /* Buffers: element type (AIDEV_TYPE_NONE accepts any buffer).
     * Scalars: the value's type. Local memory: its element type, of which
     * a dispatch's size must be a whole number (AIDEV_TYPE_NONE: bytes). */
    aidev_type type;
    aidev_access access;        /* buffers only */
    /* Buffers only, may be NULL: the least number of elements the kernel
     * touches, as a product of scalar argument names and integers ("n",
     * "m*k", "2*rows"). A dispatch whose buffer is smaller is refused.
     * Must be NULL for scalars and local memory. */
    const char *count;
} aidev_kernel_arg_desc;

/* The SPIR-V binding convention. A SPIR-V kernel (a GLSL compute shader
 * compiled with glslc, or any SPIR-V compute module) meets its declared
 * signature this way, checked by reflection at aidev_kernel_create()
 * (AIDEV_ERROR_KERNEL_ARGS naming the argument or the binding otherwise):
 *   - the entry point is the kernel's name, or the module's only compute
 *     entry point;
 *   - buffer arguments, in their order among the arguments, are storage
 *     buffers of descriptor set 0 at bindings 0, 1, 2, ... (no gap, no
 *     extra binding; an argument the kernel writes is not readonly; the
 *     element type of the same kind as the declared one);
 *   - scalar arguments, in their order, are the members of the one
 *     push-constant block (4-byte types 4-aligned, 8-byte types 8-aligned,
 *     each at its offset with its type); after them the block may have one
 *     more member, a uvec3 or uint[3], that receives the dispatch's grid
 *     (known by its place and type: glslc -O drops names);
 *   - no uniform buffers, images or samplers;
 *   - the workgroup is the module's local size; where it is a
 *     specialization constant (local_size_x_id ...), a dispatch may choose
 *     it;
 *   - its other specialization constants keep their defaults or take the
 *     values of desc->spec_constants (below);
 *   - no local-memory arguments: a shared array of the module takes their
 *     place (its size may be a specialization constant).
 * Whole workgroups run: a kernel guards the items past the grid with a
 * scalar argument or with the grid member. backends/vulkan/README.md says
 * more. */
typedef enum aidev_kernel_source_kind {
    AIDEV_KERNEL_SOURCE_OPENCL_C = 1, /* |data| is OpenCL C text */
    AIDEV_KERNEL_SOURCE_SPIRV = 2,    /* |data| is a SPIR-V module (words) */
    AIDEV_KERNEL_SOURCE_HOST = 3,     /* |host_fn| is a C function */
} aidev_kernel_source_kind;

/* The work a host (C) kernel is asked to do: the box [begin, end) of global
 * work-item ids, a part of |grid|. Called concurrently from several threads
 * with disjoint boxes. */
typedef struct aidev_host_range {
    uint32_t grid[3];
    uint32_t begin[3];
    uint32_t end[3];
} aidev_host_range;

/* A host kernel. |args[i]| points at argument i: for a buffer, the element at
 * the argument's offset; for a scalar, the value. */
typedef void (*aidev_host_kernel_fn)(void *const *args,
                                     const aidev_host_range *range);

/* The value of one specialization constant of a SPIR-V kernel: the
 * module's OpSpecConstant* decorated SpecId |id| takes the first |size|
 * bytes of |value| (host byte order, as VkSpecializationMapEntry reads
 * them). |size| is the constant's type size: 4 for a bool (a VkBool32:
 * aidev_spec_u32(id, 1) or 0), int, uint or float, 8 for a 64-bit type, 2
 * or 1 for 16- and 8-bit types. Build them with aidev_spec_u32() and its
 * siblings below. */
typedef struct aidev_kernel_spec_constant {
    uint32_t id;
    uint32_t size;
    uint8_t value[8];
} aidev_kernel_spec_constant;

/* The most specialization constants one kernel may be given. */
#define AIDEV_MAX_SPEC_CONSTANTS 32

typedef struct aidev_kernel_desc {
    const char *name;           /* the entry point, and the name in messages */
    aidev_kernel_source_kind source_kind;
    const void *data;           /* OPENCL_C or SPIRV bytes */
    size_t size;                /* bytes of |data| (0 for OPENCL_C: strlen) */
    aidev_host_kernel_fn host_fn; /* HOST */
    uint32_t arg_count;
    const aidev_kernel_arg_desc *args;
    /* Grid the kernel expects, per dimension, as a product of scalar names
     * and integers ("n", "rows"); NULL entries mean 1. A dispatch with no
     * grid uses it; a smaller grid is refused. May be all NULL. Where whole
     * workgroups run (see aidev_enqueue_dispatch), a kernel guards its
     * bounds with these scalars. */
    const char *grid[3];
    /* Workgroup size the kernel requires; zeros: any. A dispatch that
     * names another is refused (see aidev_enqueue_dispatch). */
    uint32_t workgroup[3];
    /* Compiler options for OPENCL_C (may be NULL): "-DN=64 -cl-std=CL2.0".
     * They apply to OpenCL C only: a SPIR-V or C kernel with non-empty
     * options is refused (AIDEV_ERROR_INVALID_ARGUMENT), never built
     * without them. A SPIR-V kernel takes specialization constants
     * instead. */
    const char *build_options;
    /* SPIR-V only (see the convention above): values for the module's
     * specialization constants, applied when its pipeline is made, so that
     * one module serves several sizes or modes (`constant_id = 3` in
     * GLSL). |spec_constant_count| 0: the module's defaults. Each id must
     * be a specialization constant of the module, given with its type's
     * size, and not one that sizes the workgroup (local_size_x_id ...: a
     * dispatch chooses those); at most AIDEV_MAX_SPEC_CONSTANTS, no id
     * twice. Copied by aidev_kernel_create(). An OpenCL C or C kernel
     * with constants is refused (AIDEV_ERROR_INVALID_ARGUMENT): use -D in
     * |build_options|, or the function's own constants. */
    uint32_t spec_constant_count;
    const aidev_kernel_spec_constant *spec_constants;
} aidev_kernel_desc;

static inline aidev_kernel_spec_constant aidev_spec_bytes_(uint32_t id, const void *v,
                                                           uint32_t size)
{
    aidev_kernel_spec_constant c = {id, size, {0}};
    for (uint32_t i = 0; i < size; i++)
        c.value[i] = ((const uint8_t *)v)[i];
    return c;
}
static inline aidev_kernel_spec_constant aidev_spec_u32(uint32_t id, uint32_t v)
{
    return aidev_spec_bytes_(id, &v, 4);
}
static inline aidev_kernel_spec_constant aidev_spec_i32(uint32_t id, int32_t v)
{
    return aidev_spec_bytes_(id, &v, 4);
}
static inline aidev_kernel_spec_constant aidev_spec_f32(uint32_t id, float v)
{
    return aidev_spec_bytes_(id, &v, 4);
}
static inline aidev_kernel_spec_constant aidev_spec_u64(uint32_t id, uint64_t v)
{
    return aidev_spec_bytes_(id, &v, 8);
}

/* Gets a kernel of the built-in library by name ("axpy", "sgemm", ...),
 * compiling it for |device| on first use. AIDEV_ERROR_NOT_FOUND when no such
 * kernel exists or it is internal to the tensor ops, AIDEV_ERROR_UNSUPPORTED
 * when the device's backend has no form of it. AIDEV_ERROR_INVALID_ARGUMENT
 * when |name| or |out_kernel| is NULL, AIDEV_ERROR_INVALID_HANDLE for a bad
 * |device|, AIDEV_ERROR_COMPILE when the device's compiler fails on it (the
 * log in the message), AIDEV_ERROR_OUT_OF_HOST_MEMORY, a backend's
 * failure. */
AIDEV_API aidev_status aidev_kernel_get(aidev_device device, const char *name,
                                        aidev_kernel *out_kernel);

/* Builds a user kernel for |device|. AIDEV_ERROR_COMPILE carries the build
 * log in its message; AIDEV_ERROR_KERNEL_ARGS when the declared signature
 * does not match what the module declares (where the backend can tell),
 * or a specialization constant's id or size is not one of the module's.
 * AIDEV_ERROR_UNSUPPORTED when the device takes no kernels of that source
 * kind (AIDEV_FEATURE_KERNEL_*), or its backend cannot apply what the
 * description asks of that kind: specialization constants of a SPIR-V
 * kernel, local-memory arguments of an OpenCL C kernel (a plugin of ABI
 * 1.3 or older). AIDEV_ERROR_INVALID_ARGUMENT when |desc| or |out_kernel|
 * is NULL, or |desc| is malformed (no name, an unknown source kind, no
 * source or a SPIR-V size that is not whole words, more than
 * AIDEV_MAX_KERNEL_ARGS arguments, an argument or grid expression that
 * does not parse, a count on a scalar or local argument), or asks what its
 * source kind does not have: build options for a SPIR-V or C kernel,
 * specialization constants for an OpenCL C or C kernel (or of a size
 * other than 1, 2, 4 or 8, an id given twice, more than
 * AIDEV_MAX_SPEC_CONSTANTS), a local-memory argument for a SPIR-V kernel
 * (size a shared array with a specialization constant instead) or a C
 * kernel (it runs boxes of work-items, not workgroups: it keeps its own
 * scratch); the message names the field;
 * AIDEV_ERROR_INVALID_HANDLE for a bad |device|;
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY; a backend's failure. */
AIDEV_API aidev_status aidev_kernel_create(aidev_device device,
                                           const aidev_kernel_desc *desc,
                                           aidev_kernel *out_kernel);

/* Drops the caller's handle; dispatches already enqueued still run (they
 * hold the kernel until they complete). AIDEV_SUCCESS, or
 * AIDEV_ERROR_INVALID_HANDLE for a bad or already released |kernel|. */
AIDEV_API aidev_status aidev_kernel_release(aidev_kernel kernel);

/* Number of kernels in the built-in library, and the signature of the one at
 * |index| (borrowed, static). For documentation and tools. The kernels the
 * tensor ops run (aidev_tensor.h; each op's aidev_op_info names them) are
 * internal: not listed here, and refused by aidev_kernel_get(). No status:
 * aidev_library_kernel() returns NULL for an |index| past the count. */
AIDEV_API uint32_t aidev_library_kernel_count(void);
AIDEV_API const aidev_kernel_desc *aidev_library_kernel(uint32_t index);

/* One argument of a dispatch. Build it with the helpers below. */
typedef struct aidev_arg {
    aidev_arg_kind kind;
    aidev_type type; /* scalars: the value's type; buffers, local: NONE */
    union {
        struct {
            aidev_buffer buffer;
            uint64_t offset; /* bytes */
        } buffer;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64;
        float f32;
        double f64;
    } u;
} aidev_arg;

static inline aidev_arg aidev_arg_buffer(aidev_buffer b, uint64_t offset)
{
    aidev_arg a = {AIDEV_ARG_BUFFER, AIDEV_TYPE_NONE, {{0, 0}}};
    a.u.buffer.buffer = b;
    a.u.buffer.offset = offset;
    return a;
}
static inline aidev_arg aidev_arg_u32(uint32_t v)
{
    aidev_arg a = {AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, {{0, 0}}};
    a.u.u32 = v;
    return a;
}
static inline aidev_arg aidev_arg_i32(int32_t v)
{
    aidev_arg a = {AIDEV_ARG_SCALAR, AIDEV_TYPE_I32, {{0, 0}}};
    a.u.i32 = v;
    return a;
}
static inline aidev_arg aidev_arg_f32(float v)
{
    aidev_arg a = {AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, {{0, 0}}};
    a.u.f32 = v;
    return a;
}
static inline aidev_arg aidev_arg_u64(uint64_t v)
{
    aidev_arg a = {AIDEV_ARG_SCALAR, AIDEV_TYPE_U64, {{0, 0}}};
    a.u.u64 = v;
    return a;
}
/* A local-memory argument (AIDEV_ARG_LOCAL) of |bytes| bytes: each
 * workgroup of the dispatch gets its own, uninitialised. */
static inline aidev_arg aidev_arg_local(uint64_t bytes)
{
    aidev_arg a = {AIDEV_ARG_LOCAL, AIDEV_TYPE_NONE, {{0, 0}}};
    a.u.u64 = bytes;
    return a;
}

/* Runs |kernel| over |grid| work-items (per dimension; need not be a multiple
 * of the workgroup size). |grid| NULL: the grid the kernel declares,
 * computed from the scalar arguments. |workgroup| NULL: the backend
 * chooses.
 * Grids are exact where the backend can run a partial workgroup: exactly
 * |grid| items run on the CPU (a C kernel gets boxes inside the grid) and
 * on OpenCL (partial workgroups for a program built with -cl-std=CL2.0 or
 * later on a device that has them; else, with |workgroup| NULL, a size that
 * divides the grid, and get_global_size() is the grid). Elsewhere whole
 * workgroups run and items past the grid run too: on Vulkan always, and on
 * OpenCL with a |workgroup| that does not divide the grid on a device or
 * program without partial workgroups. A user kernel there guards its
 * bounds, as the built-in kernels do with their scalar arguments (n): with
 * a scalar the grid expression names, or on Vulkan with the grid itself,
 * which one more push-constant member after the scalars, a uvec3 or
 * uint[3] (call it aidev_grid), receives. A prime grid with |workgroup| NULL runs on OpenCL in
 * workgroups of 1 unless partial workgroups are there: give the kernel a
 * grid with small factors, or a workgroup and a bounds check. A workgroup is checked by libaidev, the same way on
 * every device (the CPU included, although its C kernels take any size):
 * a zero size is AIDEV_ERROR_INVALID_ARGUMENT; one above the device's
 * limits (AIDEV_DEVICE_INFO_MAX_WORKGROUP_*) AIDEV_ERROR_OUT_OF_RANGE; one
 * other than the kernel requires AIDEV_ERROR_KERNEL_ARGS: a user kernel's
 * desc->workgroup, and for a built-in kernel the workgroup its GPU forms
 * run in (the "gpu" column of kernels/KERNELS.md: 256 x 1 x 1 for most,
 * 16 x 16 x 1 for the matrix kernels). The arguments are checked against the kernel's
 * signature before anything reaches the backend: count, kinds, scalar types,
 * buffer element types, buffer sizes, devices (AIDEV_ERROR_KERNEL_ARGS with
 * the kernel and argument named), local-memory sizes (0 bytes, or not a
 * whole number of the declared element type: AIDEV_ERROR_KERNEL_ARGS;
 * all of them together above the device's AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES:
 * AIDEV_ERROR_OUT_OF_RANGE). A grid with a zero dimension runs nothing
 * and completes at once. Beyond these, AIDEV_ERROR_INVALID_ARGUMENT when
 * |args| is NULL with an |arg_count|, and the common statuses of the
 * enqueue calls (above aidev_enqueue_write). */
AIDEV_API aidev_status aidev_enqueue_dispatch(aidev_queue queue,
                                              aidev_kernel kernel,
                                              const uint32_t grid[3],
                                              const uint32_t workgroup[3],
                                              uint32_t arg_count,
                                              const aidev_arg *args,
                                              uint32_t wait_count,
                                              const aidev_event *wait_events,
                                              aidev_event *out_event);

/* ------------------------------------------------------------------------ */
/* Command graphs (issue 15)                                                */
/* ------------------------------------------------------------------------ */

/* A graph records commands once, to run them many times: a training step, a
 * forward pass. It is built by adding nodes (the aidev_graph_add_* calls),
 * or by capturing queues (aidev_queue_begin_capture()), or both. A node is
 * one command of one queue; a graph may span queues, devices and backends of
 * one context. aidev_graph_instantiate() checks every node once (handles,
 * ranges, kernel signatures) and prepares it on its backend;
 * aidev_graph_launch() then runs the whole graph with one call and one
 * event, without checking or looking anything up again.
 *
 * Order: a node runs after the nodes it depends on, and after the nodes
 * added before it on the same queue (a queue is in order, in a graph too).
 * Nodes of different queues overlap unless an edge orders them.
 *
 * Failures: a node that fails at run time (a file read that meets the end
 * of its file, a device error) does not stop the launch call: the nodes
 * that depend on it, and the nodes after it on its queue, do not run, and
 * the launch's event completes with the node's status and a message naming
 * the node ("graph node 3 (file_read on queue 7): ..."). Nodes independent
 * of it still run. The graph stays launchable.
 *
 * Lifetimes: a graph and its instantiations are independent objects (a
 * graph may be released once instantiated). An instantiated graph holds
 * its buffers and kernels; its queues must outlive it
 * (aidev_queue_release() refuses a queue an instantiated graph uses).
 * Host memory named by write, read and host-callback nodes must stay valid
 * while a launch may run. */
typedef struct aidev_graph_t *aidev_graph;
typedef struct aidev_graph_exec_t *aidev_graph_exec;
/* A node of a graph: its index, from 0, in the order nodes were added. */
typedef uint32_t aidev_graph_node;

/* Creates an empty graph of |context|. AIDEV_ERROR_INVALID_HANDLE for a
 * bad |context|, AIDEV_ERROR_INVALID_ARGUMENT when |out_graph| is NULL,
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY. */
AIDEV_API aidev_status aidev_graph_create(aidev_context context, aidev_graph *out_graph);

/* Releases the recording; instantiations made from it stay. A queue still
 * capturing into it stops capturing (as by aidev_queue_end_capture()).
 * AIDEV_SUCCESS, or AIDEV_ERROR_INVALID_HANDLE for a bad |graph|. */
AIDEV_API aidev_status aidev_graph_release(aidev_graph graph);

/* The number of nodes of |graph| in |*out_count|. AIDEV_ERROR_INVALID_HANDLE
 * for a bad |graph|, AIDEV_ERROR_INVALID_ARGUMENT for a NULL |out_count|. */
AIDEV_API aidev_status aidev_graph_node_count(aidev_graph graph, uint32_t *out_count);

/* Every aidev_graph_add_* call:
 *   - adds a node that runs the command of the enqueue call of the same
 *     name on |queue|, with the same arguments, after the |dep_count| nodes
 *     of |deps| (nodes already added to |graph|) and the nodes added before
 *     it on |queue|;
 *   - checks the arguments as the enqueue call does, now and again at
 *     instantiation (the handles must still be live then);
 *   - stores the node's index in |*out_node| when it is not NULL;
 *   - returns AIDEV_SUCCESS, or the statuses of its enqueue call for the
 *     command's arguments, and: AIDEV_ERROR_INVALID_HANDLE for a bad
 *     |graph|, or a |queue| of another context than the graph's;
 *     AIDEV_ERROR_INVALID_ARGUMENT when |deps| is NULL with a |dep_count|
 *     or names a node not in the graph (the message names it);
 *     AIDEV_ERROR_INVALID_STATE when |queue| is capturing (nodes of a
 *     capturing queue come from its enqueue calls);
 *     AIDEV_ERROR_OUT_OF_HOST_MEMORY. A refused node was not added.
 * Thread safe: several threads may add to one graph. */
AIDEV_API aidev_status aidev_graph_add_write(aidev_graph graph, aidev_queue queue,
                                             aidev_buffer buffer, uint64_t offset,
                                             uint64_t size, const void *src,
                                             uint32_t dep_count, const aidev_graph_node *deps,
                                             aidev_graph_node *out_node);
AIDEV_API aidev_status aidev_graph_add_read(aidev_graph graph, aidev_queue queue,
                                            aidev_buffer buffer, uint64_t offset, uint64_t size,
                                            void *dst, uint32_t dep_count,
                                            const aidev_graph_node *deps,
                                            aidev_graph_node *out_node);
AIDEV_API aidev_status aidev_graph_add_copy(aidev_graph graph, aidev_queue queue,
                                            aidev_buffer src, uint64_t src_offset,
                                            aidev_buffer dst, uint64_t dst_offset, uint64_t size,
                                            uint32_t dep_count, const aidev_graph_node *deps,
                                            aidev_graph_node *out_node);
AIDEV_API aidev_status aidev_graph_add_fill(aidev_graph graph, aidev_queue queue,
                                            aidev_buffer buffer, uint64_t offset, uint64_t size,
                                            const void *pattern, uint32_t pattern_size,
                                            uint32_t dep_count, const aidev_graph_node *deps,
                                            aidev_graph_node *out_node);
AIDEV_API aidev_status aidev_graph_add_barrier(aidev_graph graph, aidev_queue queue,
                                               uint32_t dep_count, const aidev_graph_node *deps,
                                               aidev_graph_node *out_node);
AIDEV_API aidev_status aidev_graph_add_host_callback(aidev_graph graph, aidev_queue queue,
                                                     aidev_host_fn fn, void *user_data,
                                                     uint32_t dep_count,
                                                     const aidev_graph_node *deps,
                                                     aidev_graph_node *out_node);
/* The file is read at each launch: |fd| is duplicated now and the graph
 * (then each instantiation) keeps its own descriptor. */
AIDEV_API aidev_status aidev_graph_add_file_read(aidev_graph graph, aidev_queue queue,
                                                 aidev_buffer buffer, uint64_t buffer_offset,
                                                 int fd, uint64_t file_offset, uint64_t size,
                                                 uint32_t flags, uint32_t dep_count,
                                                 const aidev_graph_node *deps,
                                                 aidev_graph_node *out_node);
/* |args| is copied. */
AIDEV_API aidev_status aidev_graph_add_dispatch(aidev_graph graph, aidev_queue queue,
                                                aidev_kernel kernel, const uint32_t grid[3],
                                                const uint32_t workgroup[3], uint32_t arg_count,
                                                const aidev_arg *args, uint32_t dep_count,
                                                const aidev_graph_node *deps,
                                                aidev_graph_node *out_node);

/* Capture: from aidev_queue_begin_capture() to aidev_queue_end_capture(),
 * every enqueue call on |queue| adds a node to |graph| instead of running
 * (checked as aidev_graph_add_* checks it). The node depends on the queue's
 * previous captured node and on the nodes behind its |wait_events|: the
 * events that enqueue calls captured into the same graph handed out, from
 * this queue or any other queue capturing into |graph| (so one capture can
 * span queues, devices and backends). Such an event stands for its node in
 * the recording; it does not run: it completes with
 * AIDEV_ERROR_INVALID_STATE when its queue's capture ends. A wait event not
 * from the capture is refused (AIDEV_ERROR_INVALID_ARGUMENT): give it to
 * aidev_graph_launch(). Other calls on the queue (finish, release) behave
 * as usual. begin: AIDEV_ERROR_INVALID_HANDLE for a bad |queue| or
 * |graph|, or one of another context; AIDEV_ERROR_INVALID_STATE when
 * |queue| is capturing already. end: AIDEV_ERROR_INVALID_HANDLE for a bad
 * |queue|, AIDEV_ERROR_INVALID_STATE when it is not capturing. */
AIDEV_API aidev_status aidev_queue_begin_capture(aidev_queue queue, aidev_graph graph);
AIDEV_API aidev_status aidev_queue_end_capture(aidev_queue queue);

/* Checks and prepares every node of |graph| (see above) into a new
 * executable graph. The graph may be changed or released afterwards.
 * Returns the first refusal of a node with the node named in the message
 * (the statuses of its enqueue call, AIDEV_ERROR_INVALID_HANDLE when one
 * of its handles was released since it was added); AIDEV_ERROR_INVALID_
 * ARGUMENT for an empty graph or a NULL |out_exec|;
 * AIDEV_ERROR_INVALID_HANDLE for a bad |graph|;
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY; a backend's failure to prepare its part
 * (the node named). */
AIDEV_API aidev_status aidev_graph_instantiate(aidev_graph graph, aidev_graph_exec *out_exec);

/* Runs every node of |exec| once, after |wait_events| (events of any queue,
 * device or backend of the context), and stores one event in |*out_event|
 * (may be NULL) that completes when every node has (see Failures above).
 * Returns at once. Several threads may launch one graph at once; launches
 * of one graph run one after the other on each of its queues, in the order
 * the calls returned. AIDEV_ERROR_INVALID_HANDLE for a bad |exec| or wait
 * event; AIDEV_ERROR_INVALID_ARGUMENT when |wait_events| is NULL with a
 * |wait_count| or |wait_count| is above 1,024; AIDEV_ERROR_OUT_OF_HOST_
 * MEMORY; a backend's refusal of the submission (some nodes may then have
 * been submitted: the event, when asked for, still completes after them). */
AIDEV_API aidev_status aidev_graph_launch(aidev_graph_exec exec, uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event);

/* Replaces the arguments of dispatch node |node| of |exec| (buffer bindings
 * and scalars; a new batch, the same graph) for the launches that start
 * after it returns, without instantiating again. Waits for the launches of
 * |exec| in flight to complete first. The arguments are checked against
 * the kernel's signature as aidev_enqueue_dispatch() checks them, the grid
 * and workgroup the node was added with (a grid from the kernel's
 * declaration is computed again from the new scalars); a refused update
 * leaves the node as it was. AIDEV_ERROR_INVALID_HANDLE for a bad |exec|
 * or buffer; AIDEV_ERROR_INVALID_ARGUMENT when |node| is past the graph or
 * not a dispatch, or |args| is NULL with an |arg_count|;
 * AIDEV_ERROR_KERNEL_ARGS and AIDEV_ERROR_OUT_OF_RANGE as
 * aidev_enqueue_dispatch(); a backend's failure to update its part. Not to
 * be called while another thread launches |exec|. */
AIDEV_API aidev_status aidev_graph_exec_update_dispatch(aidev_graph_exec exec,
                                                        aidev_graph_node node,
                                                        uint32_t arg_count,
                                                        const aidev_arg *args);

/* Waits for the launches of |exec| in flight to complete, then releases
 * it (its buffers, kernels and queues are let go); events of launches stay
 * valid. AIDEV_SUCCESS, or AIDEV_ERROR_INVALID_HANDLE for a bad |exec|. */
AIDEV_API aidev_status aidev_graph_exec_release(aidev_graph_exec exec);

/* ------------------------------------------------------------------------ */
/* Buffers on several devices (issue 16)                                    */
/* ------------------------------------------------------------------------ */

/* A context buffer belongs to the context, not to one device: a command on
 * a queue of any device of the context may name it where a buffer is
 * taken (aidev_enqueue_write, _read, _copy, _fill, _file_read and dispatch
 * arguments), and aidev keeps a copy on that device valid for it.
 *
 * Copies. The context buffer has a host copy (its home, through which data
 * moves between devices) and, per device that used it, a copy of its own.
 * A device whose memory is host memory and that can import host memory in
 * place (AIDEV_FEATURE_UNIFIED_MEMORY with AIDEV_FEATURE_HOST_IMPORT: the
 * CPU backend, CPU OpenCL and Vulkan drivers, integrated GPUs) uses the
 * host copy itself: nothing is copied for it. Each copy is valid or not. A
 * command that reads the buffer on a device whose copy is invalid gets it
 * made valid first (a read from a device with a valid copy into the host
 * copy, then a write from the host copy to the device), on transfer queues
 * of aidev's own; a command that writes it makes every other copy invalid.
 * A write that covers the whole buffer (a write or fill of every byte, a
 * kernel argument declared AIDEV_ACCESS_WRITE whose element count covers
 * it) moves nothing first. AIDEV_BUFFER_INFO_VALID_DEVICES and
 * AIDEV_BUFFER_INFO_VALID_HOST say where valid copies are, as the commands
 * enqueued so far leave them.
 *
 * Order. Commands that name a context buffer run in the order their
 * enqueue calls took it (StarPU's sequential consistency): one that reads
 * it runs after the last earlier command that writes it, one that writes
 * it after the last earlier write and every read since, whatever their
 * queues and devices. Copies made for it are ordered the same way. The
 * wait list of each command adds to that order. A command whose copy
 * could not be made valid (a failed transfer, a failed earlier write)
 * fails with AIDEV_ERROR_DEPENDENCY on its event, naming the cause.
 *
 * Not taken (AIDEV_ERROR_INVALID_HANDLE, the message naming the argument
 * as a context buffer): aidev_buffer_map, aidev_buffer_import_*, DLPack
 * export, prefetch, eviction and restore calls, and graph nodes (a
 * captured command or an added node naming one fails at the capture or
 * the add). Those take device buffers.
 *
 * aidev_buffer_get_info answers AIDEV_BUFFER_INFO_SIZE, _KIND (DEVICE),
 * _ELEMENT_TYPE, _FLAGS, _VALID_DEVICES and _VALID_HOST for a context
 * buffer, AIDEV_ERROR_UNSUPPORTED for the keys of one device's memory.
 *
 * Thread safety: as device buffers. The order above is the order in which
 * concurrent enqueue calls took the buffer. */

/* Creates a context buffer of |desc->size| bytes. |desc->kind| must be
 * AIDEV_MEMORY_DEVICE (each device copy is device memory; the host copy is
 * host memory). Contents read as zero unless AIDEV_BUFFER_UNINITIALIZED;
 * AIDEV_BUFFER_ZERO_ON_FREE and AIDEV_BUFFER_PINNED apply to every copy.
 * The host copy is allocated at once (huge pages from 2 MiB, as host
 * buffers), device copies on first use by a command of their device,
 * each charged to the context's memory limit then. Release it with
 * aidev_buffer_release().
 * AIDEV_ERROR_INVALID_ARGUMENT when |desc| or |out_buffer| is NULL, the
 * size is 0 or not a whole number of elements, the kind is not
 * AIDEV_MEMORY_DEVICE, or the element type or flags are not values of
 * their enums; AIDEV_ERROR_INVALID_HANDLE for a bad |context|;
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY when the host copy cannot be allocated.
 * A command naming it fails with the errors of allocating its device copy
 * (AIDEV_ERROR_QUOTA, AIDEV_ERROR_OUT_OF_RANGE above the device's largest
 * buffer, a backend's failure), the message naming the device. */
AIDEV_API aidev_status aidev_context_buffer_create(aidev_context context,
                                                   const aidev_buffer_desc *desc,
                                                   aidev_buffer *out_buffer);

/* Queue flags and queue info (issue 15)                                    */
/* ------------------------------------------------------------------------ */

/* Flags of aidev_queue_create_with_flags(). */
typedef enum aidev_queue_flags {
    /* A real-time class for small urgent work. The device's threads (on
     * the CPU device: the queue's executor thread and the device's worker
     * pool) poll for new work for up to AIDEV_QUEUE_LOW_LATENCY_SPIN_US
     * after their last command before they sleep, so a command that
     * arrives within that window starts without a thread wake-up (30-50
     * us on a virtual machine; a spinning thread takes it in well under
     * 1 us). What it costs: while at least one such queue lives on the
     * device, every idle spell of the device keeps the executor and each
     * pool thread busy for up to that long, i.e. up to 1 + pool threads
     * cores for AIDEV_QUEUE_LOW_LATENCY_SPIN_US after each burst of work
     * (a device given work more often than that never sleeps). Past the
     * first 20 us of a spell the pollers yield the core between polls
     * (sched_yield), so other runnable threads of the machine go first.
     * Only on devices with AIDEV_FEATURE_QUEUE_LOW_LATENCY; on others
     * (OpenCL and Vulkan devices, whose threads are the driver's) the
     * flag is refused, never silently ignored. */
    AIDEV_QUEUE_LOW_LATENCY = 1u << 0,
} aidev_queue_flags;

/* How long the threads of a device with a low-latency queue poll before
 * sleeping, in microseconds (see AIDEV_QUEUE_LOW_LATENCY). */
#define AIDEV_QUEUE_LOW_LATENCY_SPIN_US 1000u

/* aidev_queue_create() with |flags|, a mask of aidev_queue_flags (0: the
 * same as aidev_queue_create()). Returns AIDEV_ERROR_INVALID_ARGUMENT when
 * |out_queue| is NULL, |priority| is not an aidev_queue_priority or
 * |flags| has bits that are no aidev_queue_flags; AIDEV_ERROR_UNSUPPORTED
 * when |flags| has AIDEV_QUEUE_LOW_LATENCY and the device lacks
 * AIDEV_FEATURE_QUEUE_LOW_LATENCY (the message names the device and
 * says why); AIDEV_ERROR_INVALID_HANDLE for a bad |device|;
 * AIDEV_ERROR_OUT_OF_HOST_MEMORY; a backend's failure. Thread safe. */
AIDEV_API aidev_status aidev_queue_create_with_flags(aidev_device device,
                                                     aidev_queue_priority priority,
                                                     uint32_t flags,
                                                     aidev_queue *out_queue);

typedef enum aidev_queue_info {
    AIDEV_QUEUE_INFO_PRIORITY = 1,   /* int32_t: the aidev_queue_priority asked */
    AIDEV_QUEUE_INFO_FLAGS = 2,      /* uint32_t: the aidev_queue_flags asked */
    /* uint32_t: 1 when the priority reached the device (a native queue
     * priority, cl_khr_priority_hints, the CPU pool's classes), 0 when it
     * is not applied (the device offers no way, or the backend does not
     * say) */
    AIDEV_QUEUE_INFO_PRIORITY_APPLIED = 3,
    /* char[]: how the backend applied the priority and flags, or why not,
     * in words: "CL_QUEUE_PRIORITY_HIGH_KHR (cl_khr_priority_hints)",
     * "not applied: the device lacks cl_khr_priority_hints" */
    AIDEV_QUEUE_INFO_SCHEDULING = 4,
    AIDEV_QUEUE_INFO_DEVICE = 5,     /* aidev_device (borrowed) */
} aidev_queue_info;

/* Typed info query of a queue, as aidev_device_get_info() (sizes, NULL
 * |value| or |size_ret|, strings). Returns AIDEV_ERROR_INVALID_ARGUMENT
 * when |value| is given and |value_size| is too small,
 * AIDEV_ERROR_NOT_FOUND for an unknown key, AIDEV_ERROR_INVALID_HANDLE for
 * a bad |queue|. Thread safe. */
AIDEV_API aidev_status aidev_queue_get_info(aidev_queue queue, aidev_queue_info key,
                                            size_t value_size, void *value,
                                            size_t *size_ret);

#ifdef __cplusplus
}
#endif

/* Tensors and the built-in ops on them (GEMM, attention, convolution ...):
 * their own header, part of this API. */
#include <aidev/aidev_tensor.h>

#endif /* AIDEV_AIDEV_H */

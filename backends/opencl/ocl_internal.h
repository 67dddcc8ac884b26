/*
 * ocl_internal.h - the OpenCL backend's objects and the functions its files
 * share.
 *
 * The plugin does not link libOpenCL: it opens the ICD loader at init
 * (loader.c), so a machine without OpenCL still loads the plugin, which then
 * reports "skipped" with the reason instead of failing in dlopen.
 *
 * Objects
 *   ocl_backend   every device of every platform, found at init
 *   ocl_device    one open of a device: a cl_context of that device alone,
 *                 a service queue for map/unmap/zeroing, the timer offset
 *                 and the built library programs
 *   ocl_buffer    a cl_mem; SHARED ones wrap an SVM allocation
 *   ocl_queue     an in-order cl_command_queue with profiling
 *   ocl_kernel    a cl_kernel and how to launch it
 */
#ifndef AIDEV_OCL_INTERNAL_H
#define AIDEV_OCL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 300
/* clCreateCommandQueue: the only queue call of OpenCL 1.2 devices. */
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <CL/cl_ext.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev_backend.h>

#include "kernels/library_forms.h"

/* ------------------------------------------------------------------------ */
/* The OpenCL entry points, resolved from the ICD loader (loader.c)         */
/* ------------------------------------------------------------------------ */

/* Every loader since OpenCL 1.2 has these. */
#define OCL_REQUIRED_FUNCTIONS(X)                                                               \
    X(clGetPlatformIDs) X(clGetPlatformInfo) X(clGetDeviceIDs) X(clGetDeviceInfo)               \
    X(clCreateContext) X(clReleaseContext) X(clCreateCommandQueue)                              \
    X(clReleaseCommandQueue) X(clFlush) X(clFinish) X(clCreateBuffer) X(clCreateSubBuffer)      \
    X(clReleaseMemObject) X(clSetMemObjectDestructorCallback) X(clEnqueueReadBuffer)            \
    X(clEnqueueWriteBuffer) X(clEnqueueCopyBuffer) X(clEnqueueFillBuffer)                       \
    X(clEnqueueMapBuffer) X(clEnqueueUnmapMemObject) X(clEnqueueNDRangeKernel)                  \
    X(clEnqueueMarkerWithWaitList) X(clWaitForEvents) X(clGetEventInfo)                         \
    X(clGetEventProfilingInfo) X(clSetEventCallback) X(clRetainEvent) X(clReleaseEvent)         \
    X(clCreateUserEvent) X(clSetUserEventStatus) X(clCreateProgramWithSource)                   \
    X(clCreateProgramWithBinary) X(clBuildProgram) X(clGetProgramInfo)                          \
    X(clGetProgramBuildInfo) X(clRetainProgram) X(clReleaseProgram) X(clCreateKernel) X(clReleaseKernel)           \
    X(clSetKernelArg) X(clGetKernelInfo) X(clGetKernelWorkGroupInfo) X(clGetKernelArgInfo)      \
    X(clGetExtensionFunctionAddressForPlatform)

/* OpenCL 2.0 and later; NULL where the loader is older. Used only on
 * devices whose version says they have them. */
#define OCL_OPTIONAL_FUNCTIONS(X)                                                               \
    X(clCreateCommandQueueWithProperties) X(clSVMAlloc) X(clSVMFree) X(clEnqueueSVMMap)         \
    X(clEnqueueSVMUnmap) X(clGetDeviceAndHostTimer) X(clEnqueueSVMMigrateMem)

typedef struct ocl_api {
    void *library; /* dlopen handle of the ICD loader */
#define OCL_MEMBER(fn) __typeof__(&fn) fn;
    OCL_REQUIRED_FUNCTIONS(OCL_MEMBER)
    OCL_OPTIONAL_FUNCTIONS(OCL_MEMBER)
#undef OCL_MEMBER
} ocl_api;

/* The resolved table; valid between ocl_api_load() and process exit. */
extern ocl_api ocl;

/* cl_khr_command_buffer's entry points, per platform, through
 * clGetExtensionFunctionAddressForPlatform (backend.c). The installed
 * header declares the provisional 0.9.0-0.9.4 signatures, which a device
 * must report for these to be used (later versions changed them). */
#define OCL_COMMAND_BUFFER_FUNCTIONS(X)                                                         \
    X(clCreateCommandBufferKHR) X(clFinalizeCommandBufferKHR) X(clReleaseCommandBufferKHR)      \
    X(clEnqueueCommandBufferKHR) X(clCommandNDRangeKernelKHR) X(clCommandCopyBufferKHR)         \
    X(clCommandFillBufferKHR)

typedef struct ocl_command_buffer_api {
#define OCL_MEMBER(fn) fn##_fn fn;
    OCL_COMMAND_BUFFER_FUNCTIONS(OCL_MEMBER)
#undef OCL_MEMBER
} ocl_command_buffer_api;

/* Opens the ICD loader (AIDEV_OPENCL_LIBRARY, else libOpenCL.so.1) and
 * resolves the table. AIDEV_ERROR_UNSUPPORTED with the reason when the
 * loader is missing or too old. */
aidev_status ocl_api_load(void);

/* ------------------------------------------------------------------------ */
/* Errors (errors.c)                                                        */
/* ------------------------------------------------------------------------ */

/* "CL_INVALID_VALUE"; "CL_UNKNOWN_ERROR" for codes it does not know. */
const char *ocl_error_name(cl_int code);
/* The aidev status a failing OpenCL call maps to. */
aidev_status ocl_status(cl_int code);
/* Records "|call| failed: NAME (code)" (plus " - detail" when |fmt| is not
 * NULL) and returns the mapped status. */
aidev_status ocl_fail(const char *call, cl_int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------ */
/* Backend and devices (backend.c)                                          */
/* ------------------------------------------------------------------------ */

/* OpenCL versions as major * 10 + minor: 12, 20, 30. */
typedef struct ocl_device_desc {
    cl_platform_id platform;
    cl_device_id id;
    unsigned version;          /* the device's OpenCL version */
    unsigned platform_version;
    aidev_backend_device_info info;
    uint64_t base_align;       /* CL_DEVICE_MEM_BASE_ADDR_ALIGN, in bytes */
    cl_device_svm_capabilities svm;
    bool priority_hints;       /* cl_khr_priority_hints */
    /* Graphs record their commands into cl_khr_command_buffer command
     * buffers (graph.c); else they enqueue them one by one. */
    bool command_buffer;
    ocl_command_buffer_api cmdbuf; /* resolved when |command_buffer| */
    /* Runs partial workgroups (global sizes that are not multiples of the
     * local size) for programs built as OpenCL C 2.0 or later: every 2.x
     * device, 3.0 devices that say so. */
    bool non_uniform_groups;
    /* The device's memory is the host's (a CPU device with unified memory,
     * PoCL): DEVICE and HOST buffers are libaidev host memory, which
     * libaidev addresses (memory.c). False under
     * AIDEV_OPENCL_EMULATE_DISCRETE=1, which takes a GPU's paths (tests). */
    bool memory_is_host;
    /* What the program cache keys on besides the source: platform, device,
     * vendor, driver and versions. */
    char identity[1024];
} ocl_device_desc;

typedef struct ocl_backend {
    uint32_t device_count;
    ocl_device_desc *devices;
} ocl_backend;

typedef struct ocl_program_slot ocl_program_slot;

typedef struct ocl_device {
    const ocl_device_desc *desc;
    cl_device_id id;
    cl_context context;
    /* An in-order queue of the backend's own: zeroing new buffers, maps and
     * unmaps, clock calibration. Used synchronously. */
    cl_command_queue service;
    /* CLOCK_MONOTONIC ns = device profiling ns + |clock_offset|. */
    int64_t clock_offset;
    bool has_clock;       /* profiling times are usable */
    /* The library's programs, built on first use (kernel.c). */
    pthread_mutex_t programs_lock;
    ocl_program_slot *programs;
    uint32_t program_count;
} ocl_device;

/* ------------------------------------------------------------------------ */
/* Memory (memory.c)                                                        */
/* ------------------------------------------------------------------------ */

typedef struct ocl_buffer {
    uint64_t id;        /* unique in the process: kernels cache arguments by it */
    cl_mem mem;         /* every kind has one; SHARED wraps its SVM memory */
    void *svm;          /* SHARED: the SVM allocation (freed with |mem|) */
    cl_context svm_context;
    bool fine_grain;    /* SVM the host may touch without mapping */
    aidev_memory_kind kind;
    uint64_t size;
    void *mapped;       /* host address of the current map, or NULL */
    void *host_seen;    /* where a whole-buffer map last put it (page kind) */
    bool scrub;         /* AIDEV_BUFFER_ZERO_ON_FREE */
    /* libaidev's host memory under a CL_MEM_USE_HOST_PTR cl_mem (freed with
     * |mem|), or NULL: every DEVICE and HOST buffer of a device whose
     * memory is the host's, and large HOST buffers of other unified-memory
     * devices. |host_block| describes the large ones (huge pages). */
    void *host;
    const aidev_backend_host_block *host_block;
    /* |mem|'s destructor callback frees this struct (SVM, and small host
     * memory, which shares its allocation). */
    bool freed_with_mem;
    /* Not zeroed yet: the first command that uses the buffer, on whichever
     * queue, is preceded there by a zero fill (ocl_zero_before_use). */
    atomic_bool needs_zero;
} ocl_buffer;

aidev_status ocl_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr);
void ocl_buffer_destroy(void *device, void *buffer);
aidev_status ocl_buffer_map(void *device, void *buffer, uint64_t offset, uint64_t size,
                            uint32_t map_flags, void **out_ptr);
aidev_status ocl_buffer_unmap(void *device, void *buffer, void *ptr);
aidev_status ocl_buffer_query(void *device, void *buffer, aidev_backend_buffer_query *out);

/* Enqueues the zero fill of |b| on |cq| if it is still due: before the
 * first command that uses |b|. */
aidev_status ocl_buffer_zero_now(cl_command_queue cq, ocl_buffer *b);
static inline aidev_status ocl_zero_before_use(cl_command_queue cq, ocl_buffer *b)
{
    if (__builtin_expect(!atomic_load_explicit(&b->needs_zero, memory_order_relaxed), 1))
        return AIDEV_SUCCESS;
    return ocl_buffer_zero_now(cq, b);
}
/* A command that writes all of |b| needs no zero fill before it. */
static inline void ocl_zero_not_needed(ocl_buffer *b, uint64_t offset, uint64_t size)
{
    if (offset == 0 && size >= b->size &&
        atomic_load_explicit(&b->needs_zero, memory_order_relaxed))
        atomic_store_explicit(&b->needs_zero, false, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Events (event.c)                                                         */
/* ------------------------------------------------------------------------ */

typedef struct ocl_queue ocl_queue;
typedef struct ocl_completion ocl_completion;

/* Measures |dev->clock_offset| against CLOCK_MONOTONIC. */
aidev_status ocl_clock_calibrate(ocl_device *dev);

/* The cl_events of |waits| (events of this device). libaidev holds back
 * commands that wait on an event without a cl_event yet, so each has one;
 * should one not, it gets a bridging user event, completed when the aidev
 * event completes (a safety net: PoCL fails every later command of the
 * queue when a bridge fails). Release with ocl_waits_release() once the
 * command is enqueued. */
typedef struct ocl_wait_list {
    cl_event *events;
    cl_uint count;
    cl_event small[16];
    cl_event *bridges; /* user events made for waits without a cl_event */
    cl_uint bridge_count;
} ocl_wait_list;
aidev_status ocl_waits_collect(ocl_device *dev, uint32_t wait_count,
                               aidev_backend_event *const *waits, ocl_wait_list *out);
void ocl_waits_release(ocl_wait_list *w);

/* What a command's completion callback needs; made before the enqueue so
 * that nothing can fail after it. */
ocl_completion *ocl_completion_new(void);

/* Ties |ev| (the command's cl_event; its reference passes to |signal|) to
 * |signal|: the aidev event completes when |ev| does, with its profiling
 * times. Consumes |done|. */
void ocl_event_attach(ocl_queue *q, ocl_completion *done, aidev_backend_event *signal,
                      cl_event ev, const char *what, uint64_t unsignaled_before);

/* Blocks until every attached command of |q| has delivered its
 * completion; call after clFinish, with the unsignaled count read before
 * it. */
void ocl_completions_wait(ocl_queue *q, uint64_t unsignaled_before);
/* Frees what finish() rescued; the queue is going. */
void ocl_completions_release(ocl_queue *q);

/* ------------------------------------------------------------------------ */
/* Queues (queue.c)                                                         */
/* ------------------------------------------------------------------------ */

struct ocl_queue {
    ocl_device *dev;
    /* Where commands go: |untimed|, made without profiling, until the
     * first command that signals an aidev event (whose times come from
     * the profiling counters); |timed| from then on, for good (queue.c).
     * Read without a lock: see ocl_queue_target() and the switch. */
    _Atomic(cl_command_queue) queue;
    cl_command_queue untimed;
    cl_command_queue timed;     /* NULL until the switch (under |switch_lock|) */
    /* No timed queue could be made: none is tried again. Read without
     * the lock by submits that signal, written under it. */
    atomic_bool timed_failed;
    pthread_mutex_t switch_lock;
    aidev_queue_priority priority;
    /* Commands with an aidev event whose completion has not been delivered
     * yet (event.c). finish() waits for them, so every event is complete
     * when it returns. Under |lock|. */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    ocl_completion *inflight;
    uint32_t inflight_count;
    /* Completions delivered by finish() for failed commands whose driver
     * callback never came (PoCL 3.1 runs no CL_COMPLETE callback for a
     * failed command); kept until the queue goes, in case it still comes. */
    ocl_completion *rescued;
    uint32_t delivering;    /* in flight, done, and completing their event */
    /* Commands enqueued without an event (counted after their enqueue),
     * and how many of them are known complete (under |lock|): those
     * enqueued before a signaled command that completed, or before a
     * finish. Equal, with nothing else in flight: the queue is idle. */
    atomic_uint_fast64_t unsignaled;
    uint64_t covered;
};

/* Why queue priorities cannot reach the device |d|, or NULL when they do
 * (cl_khr_priority_hints through clCreateCommandQueueWithProperties). */
const char *ocl_priority_hints_missing(const ocl_device_desc *d);
/* An in-order cl_command_queue, with profiling when |profiling|, and
 * |priority| where the device has cl_khr_priority_hints. */
aidev_status ocl_cl_queue_create(ocl_device *dev, aidev_queue_priority priority, bool profiling,
                                 cl_command_queue *out);
/* The cl_command_queue that commands of |q| go to now; NULL while the
 * queue switches (see queue.c). */
static inline cl_command_queue ocl_queue_target(ocl_queue *q)
{
    return atomic_load_explicit(&q->queue, memory_order_acquire);
}
aidev_status ocl_queue_create(void *device, aidev_queue_priority priority, void **out_queue);
aidev_status ocl_queue_create_desc(void *device, aidev_backend_queue_desc *desc, void **out_queue);
void ocl_queue_destroy(void *queue);
aidev_status ocl_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal);
aidev_status ocl_queue_finish(void *queue);
aidev_status ocl_queue_flush(void *queue);

/* What graph.c shares of a submission (queue.c). */
/* The target, waiting for a switch in progress to end. */
cl_command_queue ocl_queue_target_wait(ocl_queue *q);
/* Before a command that signals an aidev event: moves |q| to its timed
 * queue (for good) when the device's clock is usable. */
void ocl_queue_prepare_signal(ocl_queue *q);
/* A command just enqueued on the untimed queue while |q| switched may have
 * landed after the switch's marker: the timed queue waits for it too. */
void ocl_queue_order_after_untimed(ocl_queue *q);
/* After an enqueue on |cq|: keeps the queue's order across a switch. */
static inline void ocl_queue_after_enqueue(ocl_queue *q, cl_command_queue cq)
{
    if (cq == q->untimed && ocl_queue_target(q) != cq)
        ocl_queue_order_after_untimed(q);
}
/* Enqueues |cmd| on |cq| (zero fills due first) after |w|; |ev| (may be
 * NULL) gets the event of its last command; |*call| names the OpenCL call. */
aidev_status ocl_queue_enqueue(ocl_queue *q, cl_command_queue cq, const aidev_backend_command *cmd,
                               const ocl_wait_list *w, cl_event *ev, const char **call);
/* The zero fills due on the buffers |cmd| uses, enqueued on |cq| (a
 * command that writes a whole buffer needs none). */
aidev_status ocl_zero_buffers_of(cl_command_queue cq, const aidev_backend_command *cmd);

/* ------------------------------------------------------------------------ */
/* Graphs (graph.c): the ABI 1.3 graph entry                                */
/* ------------------------------------------------------------------------ */

aidev_status ocl_graph_create(void *queue, uint32_t count, const aidev_backend_command *cmds,
                              void **out_graph);
aidev_status ocl_graph_update(void *graph, uint32_t index, const aidev_backend_command *cmd);
aidev_status ocl_graph_submit(void *queue, void *graph, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal);
void ocl_graph_destroy(void *graph);

/* ------------------------------------------------------------------------ */
/* Kernels (kernel.c)                                                       */
/* ------------------------------------------------------------------------ */

aidev_status ocl_kernel_create(void *device, const aidev_backend_kernel_source *src,
                               void **out_kernel);
void ocl_kernel_destroy(void *device, void *kernel);
/* Enqueues a dispatch on |cq|, the target of |q|; |out_event| (may be
 * NULL) gets the event of its last command. */
aidev_status ocl_kernel_enqueue(ocl_queue *q, cl_command_queue cq, void *kernel,
                                const aidev_backend_command *cmd, const ocl_wait_list *waits,
                                cl_event *out_event);
/* Records dispatch |cmd| of |kernel| into |cb| (a buffer of the kernel's
 * device) through a cl_kernel of its own, |*out_kernel|, which the caller
 * releases after |cb|. AIDEV_ERROR_UNSUPPORTED, with no message, for what
 * one recorded command cannot hold: reductions (several passes) and
 * buffers at an offset (a sub-buffer or a staging copy per dispatch). */
aidev_status ocl_kernel_record(const ocl_command_buffer_api *api, cl_command_buffer_khr cb,
                               void *kernel, const aidev_backend_command *cmd,
                               cl_kernel *out_kernel);
void ocl_device_release_programs(ocl_device *dev);

/* ------------------------------------------------------------------------ */
/* The program cache (cache.c)                                              */
/* ------------------------------------------------------------------------ */

/* Builds |source| with |options| for |dev|, through the on-disk cache of
 * program binaries. AIDEV_ERROR_COMPILE carries the build log. */
aidev_status ocl_program_build(ocl_device *dev, const char *name, const char *source,
                               size_t source_size, const char *options, cl_program *out);

/* prime.c: on CPU devices, enqueues the kernel of library |form| (signature
 * |desc|) of the new |program| once, so that the driver compiles it now
 * rather than at the first dispatch. */
aidev_status ocl_library_program_prime(ocl_device *dev, cl_program program,
                                       const aidev_library_gpu_form *form,
                                       const aidev_kernel_desc *desc);

#endif

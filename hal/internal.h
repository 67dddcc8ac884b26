/*
 * internal.h - objects of the hal and the functions they share.
 *
 * Public handles are not pointers: they are slot numbers of a handle table
 * with a generation (hal/handle.c), so a stale or garbage handle is refused
 * without touching memory. Behind a valid handle sits one of the structs
 * below, each beginning with an aidev_object header.
 */
#ifndef AIDEV_HAL_INTERNAL_H
#define AIDEV_HAL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>
#include <aidev/aidev_backend.h>

#include "hal/handle.h"
#include "hal/tier_store.h"

#define AIDEV_INTERNAL __attribute__((visibility("hidden")))

struct aidev_context_obj;
struct aidev_device_obj;

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Sets the thread's message and returns |status|. */
aidev_status aidev_error(aidev_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
aidev_status aidev_errorv(aidev_status status, const char *fmt, va_list ap);
/* Clears the thread's message: every API entry starts with it. */
/* aidev_type_size() in the caller (the dispatch check asks it per
 * argument): 0 for an unknown type. */
static inline size_t aidev_type_bytes(aidev_type type)
{
    switch (type) {
    case AIDEV_TYPE_NONE:
    case AIDEV_TYPE_I8:
    case AIDEV_TYPE_U8:
        return 1;
    case AIDEV_TYPE_I16:
    case AIDEV_TYPE_U16:
    case AIDEV_TYPE_F16:
    case AIDEV_TYPE_BF16:
        return 2;
    case AIDEV_TYPE_I32:
    case AIDEV_TYPE_U32:
    case AIDEV_TYPE_F32:
        return 4;
    case AIDEV_TYPE_I64:
    case AIDEV_TYPE_U64:
    case AIDEV_TYPE_F64:
        return 8;
    default:
        return 0;
    }
}

/* Whether |status| is a member of the aidev_status enum. */
bool aidev_status_is_known(aidev_status status);

void aidev_error_clear(void);
/* The calling thread's message buffer: a hot path that clears and tests
 * the message several times reaches the thread-local storage once. */
char *aidev_error_buffer(void);
/* The thread's message buffer (for prefixing a backend's message). */
const char *aidev_error_message(void);

uint64_t aidev_now_ns(void);

/* The typed info pattern: copies |size| bytes of |src| into |value| when it
 * has room, reports the size; |key_name| goes into the messages. */
aidev_status aidev_info_put(const void *src, size_t size, size_t value_size, void *value,
                           size_t *size_ret, const char *key_name);
aidev_status aidev_info_put_string(const char *s, size_t value_size, void *value,
                                   size_t *size_ret, const char *key_name);

/* ------------------------------------------------------------------------ */
/* Objects                                                                  */
/* ------------------------------------------------------------------------ */

/* Every object on a context's list. */
typedef struct aidev_object {
    aidev_handle_type type;
    uintptr_t handle; /* 0 once the user released it */
    struct aidev_context_obj *context;
    struct aidev_object *prev, *next; /* the context's list */
    /* Ends the object as the user's release would, when the context is
     * released with the object still alive: each type's own teardown, so
     * the context names none of them. */
    void (*destroy)(struct aidev_object *o);
} aidev_object;

/* One backend the loader considered (process-wide, hal/registry.c). */
typedef struct aidev_registry_backend {
    char name[64];
    char path[4096];
    aidev_backend_state state;
    char reason[512];
    uint32_t abi_version;
    /* The plugin's table copied into a full-size, zero-filled one: members
     * past the plugin's struct_size read as NULL. */
    aidev_backend_vtable vt;
    void *dl;       /* dlopen handle; NULL for built-ins */
    /* Refused before it was opened (trust or file checks): it does not
     * take its name, so a later copy of that name may still load. */
    bool refused;
    void *instance; /* from vt.init */
    uint32_t device_count;
    aidev_backend_device_info *device_infos;
} aidev_registry_backend;

typedef struct aidev_device_obj {
    aidev_object obj;
    uint32_t index; /* in the context */
    aidev_registry_backend *backend;
    uint32_t backend_index;   /* the device's index in its backend */
    const aidev_backend_device_info *info;
    pthread_mutex_t open_lock;
    void *native;             /* from vt.device_open; NULL until first use */
    int32_t numa_node;        /* the backend's, else from the PCI bus id; -1 */
    /* The internal kernels of the tensor ops, made on first use, one slot
     * per library entry (hal/ops.h); NULL until an op runs. */
    _Atomic(_Atomic(aidev_kernel) *) op_kernels;
} aidev_device_obj;

typedef struct aidev_context_obj {
    aidev_object obj;
    pthread_mutex_t lock;     /* guards the object list, the counters, io */
    struct aidev_io_engine *io; /* file reads; made on first use */
    aidev_object list;        /* sentinel of the list of child objects */
    /* User events not completed yet, with or without a handle: what only
     * the program could complete, and the context's release cancels. */
    struct aidev_backend_event *pending_user_events;
    uint32_t device_count;
    aidev_device_obj *devices;
    uint32_t backend_count;   /* reports of the registry at creation */
    aidev_backend_report *backends;
    /* The quota: atomics, outside the lock (hal/context.c says why). */
    _Atomic uint64_t memory_limit;    /* 0: none */
    _Atomic uint64_t memory_used;
    const char *_Atomic limit_source; /* static: where the limit came from, for messages */
    uint64_t evicted_bytes;   /* sizes of evicted buffers (hal/evict.c), under lock */
    uint64_t compressed_bytes; /* host bytes of their compressed copies, under lock */
    /* Buffer objects of released buffers, kept for the next creates
     * (hal/buffer.c says why), chained by obj.next, under |spare_lock|. */
    pthread_mutex_t spare_lock;
    struct aidev_buffer_obj *spare_buffers;
    uint32_t spare_count;
    /* Commands enqueued before the limit was set hold no reference on
     * their buffers: automatic eviction waits until these barriers, one per
     * queue then, have completed (hal/evict.c). Under lock. */
    struct aidev_backend_event **tier_fence;
    uint32_t tier_fence_count;
    uint64_t tier_fence_clock; /* the tier's clock then: buffers born before wait */
    aidev_tier_pool tier_pool; /* freed blocks of compressed chunks (hal/tier_store.h) */
    bool zero_on_free;        /* AIDEV_ZERO_ON_FREE: every buffer scrubbed */
    /* Context buffers (hal/placement.h): made with the first one. */
    _Atomic(struct aidev_placement *) placement;
    /* Exported DLPack tensors still alive: they keep the devices open (and
     * this struct) after aidev_context_release, until the last deleter. */
    uint32_t pins;
    bool released;            /* the user released it; freed when pins is 0 */
} aidev_context_obj;

typedef struct aidev_buffer_obj {
    aidev_object obj;
    atomic_uint refs;         /* the user's, plus held-back commands' */
    /* The handle and exported DLPack tensors: the context's quota is
     * charged until none is left (commands in flight do not hold it). */
    atomic_uint holders;
    aidev_device_obj *device;
    uint64_t size;
    aidev_memory_kind kind;
    aidev_type element_type;
    bool imported;
    uint32_t flags;           /* AIDEV_BUFFER_* as the backend got them */
    void *native;
    void *host_ptr;           /* stable host address of HOST/SHARED, or NULL */
    atomic_bool mapped;
    void *mapped_ptr;
    /* (may be NULL) Called once the memory is freed: imports that own what
     * they wrap (DLPack tensors). */
    void (*on_free)(void *arg);
    void *on_free_arg;
    /* The compressed memory tier (hal/evict.c). |tier_lock| guards
     * |stored|, |touches| and, while either tier field below is set,
     * |native| and |host_ptr|. */
    pthread_mutex_t tier_lock;
    struct aidev_compressed *stored; /* evicted: the copy; |native| NULL */
    uint64_t touches;         /* commands and maps that named it, while tiering */
    atomic_uint evicts_pending; /* evictions enqueued, not ended */
    atomic_bool evicted;      /* |stored| is set (read without the lock) */
    bool evicting;            /* an eviction is reading it */
    atomic_bool pinned;       /* never evicted automatically */
    _Atomic uint64_t last_touch; /* the tier's clock at its last touch: LRU */
    uint64_t born;            /* the tier's clock at its creation */
    /* The context buffer this is the device copy of (hal/placement.h), or
     * NULL; set with AIDEV_BUFFER_CONTEXT_COPY in |flags|. */
    struct aidev_placed_buffer *placed;
} aidev_buffer_obj;

/* The hal's mark on the device copies of context buffers, in their
 * |flags| (never a user's bit: aidev_buffer_create refuses unknown bits). */
#define AIDEV_BUFFER_CONTEXT_COPY (1u << 31)

typedef struct aidev_kernel_expr {
    uint8_t factor_count;
    int8_t arg[4];            /* scalar argument index, -1 for a constant */
    uint64_t constant[4];
} aidev_kernel_expr;

typedef struct aidev_kernel_obj {
    aidev_object obj;
    atomic_uint refs;
    aidev_device_obj *device;
    const aidev_kernel_desc *desc; /* the library's, or |owned_desc| */
    aidev_kernel_desc owned_desc;
    uint32_t library_index;
    aidev_kernel_expr *counts;     /* per argument (buffers), factor_count 0: none */
    aidev_kernel_expr grid[3];
    bool grid_exprs;               /* any grid[] has factors */
    void *native;
} aidev_kernel_obj;

/* The event: public handle and backend view are one object. */
typedef struct aidev_event_callback_node {
    struct aidev_event_callback_node *next;
    bool backend; /* which of the two callback types |fn| is */
    union {
        aidev_event_callback user;
        aidev_backend_event_fn backend;
    } fn;
    void *user_data;
} aidev_event_callback_node;

/* What an event's command was, for info queries, traces and probes. */
typedef enum aidev_command_kind {
    AIDEV_CMD_USER = 0, /* a user event */
    AIDEV_CMD_WRITE,
    AIDEV_CMD_READ,
    AIDEV_CMD_COPY,
    AIDEV_CMD_FILL,
    AIDEV_CMD_DISPATCH,
    AIDEV_CMD_BARRIER,
    AIDEV_CMD_HOST_CALLBACK,
    AIDEV_CMD_FILE_READ,
    AIDEV_CMD_INTERNAL, /* the hal's own (barriers of held commands, staging copies) */
    AIDEV_CMD_PREFETCH,
    AIDEV_CMD_EVICT,
    AIDEV_CMD_RESTORE,
    AIDEV_CMD_GRAPH,    /* a graph launch (hal/graph_launch.c) */
    AIDEV_CMD_GRAPH_SEGMENT, /* a launch's segment a backend ran as one (its graph_submit) */
} aidev_command_kind;

const char *aidev_command_kind_name(aidev_command_kind kind);

struct aidev_backend_event {
    aidev_object obj;
    atomic_uint refs;
    /* References to the public handle: 1 from publishing, one more per
     * aidev_event_retain; the last aidev_event_release ends the handle. */
    atomic_uint handle_refs;
    atomic_int state;         /* 0 pending, 1 complete */
    aidev_status status;
    char *message;            /* failure message, malloc'd */
    aidev_event_times times;
    const aidev_device_obj *producer; /* device of the queue, NULL: user event */
    bool user_event;
    /* The command behind it. */
    aidev_command_kind kind;
    uint32_t queue_id;        /* trace track; 0 for user events */
    uint64_t bytes;
    char kernel[64];
    const char *io_engine;    /* file reads: static name, NULL until started */
    bool io_direct;
    /* (may be NULL) Where a failure of the command is recorded for its
     * queue's finish (a reference). */
    struct aidev_queue_failures *failures;
    /* Tracing only: the events it waited on (retained), for flow arrows. */
    struct aidev_backend_event *trace_deps[4];
    uint8_t trace_dep_count;
    /* A graph segment's signal: the index of the command that failed
     * (aidev_backend_graph_failed), -1 when none was named. */
    int64_t graph_failed_index;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t sleepers;
    aidev_event_callback_node *callbacks;
    const void *native_owner;
    void *native;
    void (*native_release)(void *native);
    /* User events: on their context's list of pending user events (under
     * the context's lock) from creation until completed, whatever handle
     * remains (hal/event.c). */
    struct aidev_backend_event *user_prev, *user_next;
    bool user_listed;
    /* (may be NULL) The buffers its command names, given back just before
     * the event reads as complete (hal/scheduler.c). */
    _Atomic(struct aidev_keepalive *) keepalive;
};
typedef struct aidev_backend_event aidev_event_obj;

/* References a command holds on its buffers until it has completed
 * (hal/scheduler.c). */
typedef struct aidev_keepalive aidev_keepalive;
void aidev_keepalive_release(aidev_keepalive *k);
/* Gives |k| to |e|: released before |e| reads as complete, so that a
 * program that saw the command complete finds its buffers idle (automatic
 * eviction reads that from their references). At once when |e| has
 * completed already. */
void aidev_event_keep_until_complete(aidev_event_obj *e, aidev_keepalive *k);

struct aidev_pending_command;

/* The first failure of a queue's commands since its last finish
 * (hal/queue_failures.c): shared by the queue and its commands' events. */
typedef struct aidev_queue_failures aidev_queue_failures;
aidev_queue_failures *aidev_queue_failures_new(void);
aidev_queue_failures *aidev_queue_failures_retain(aidev_queue_failures *f);
void aidev_queue_failures_release(aidev_queue_failures *f); /* NULL: nothing */
/* Keeps the failure when it is the first since the last take, else counts
 * it. |kernel| may be "" or NULL. */
void aidev_queue_failures_note(aidev_queue_failures *f, aidev_command_kind kind,
                               const char *kernel, uint64_t bytes, aidev_status status,
                               const char *cause);
/* The first failure since the last take (its message set as the thread's
 * error), or AIDEV_SUCCESS; starts the record afresh. */
aidev_status aidev_queue_failures_take(aidev_queue_failures *f);

typedef struct aidev_queue_obj {
    aidev_object obj;
    uint32_t id;              /* unique in the process: trace track */
    aidev_device_obj *device;
    aidev_queue_priority priority;
    uint32_t flags;           /* aidev_queue_flags */
    bool priority_applied;    /* the backend's answer (ABI 1.5) */
    char scheduling[256];     /* how it applied priority and flags, in words */
    void *native;
    /* Commands held back until their waits complete (backends without
     * AIDEV_BACKEND_CAP_ANY_WAIT, or host callbacks run by the hal). While
     * this list is not empty, every new command joins its end, so the
     * queue's order holds. */
    pthread_mutex_t hold_lock;
    pthread_cond_t hold_drained;
    struct aidev_pending_command *held_head, *held_tail;
    bool draining;
    bool drain_again;
    /* |held_head| or |draining|, stored under |hold_lock| whenever either
     * changes: an enqueue that reads it clear goes straight to the backend
     * without taking the lock (nothing is held before it). */
    atomic_bool hold_busy;
    /* Commands handed to the backend in the queue's order, and their count
     * when the last hal op ended (under hold_lock): equal means the backend
     * has nothing of this queue outstanding. */
    atomic_uint_fast64_t submits;
    uint64_t quiet_at;
    aidev_queue_failures *failures;
    /* Command graphs (hal/graph.c): the graph this queue captures into
     * (NULL: none; read without a lock by every enqueue call, set and
     * cleared under the graph's lock) and its last captured node there;
     * how many instantiated graphs use the queue (its release is refused
     * while any does). */
    _Atomic(struct aidev_graph_obj *) capture;
    uint32_t capture_last;
    atomic_uint graph_users;
} aidev_queue_obj;

/* ------------------------------------------------------------------------ */
/* Lookups: validate a handle of the given type (and context) or fail with a */
/* message naming |what|.                                                    */
/* ------------------------------------------------------------------------ */

/* Says why |h| is not a live handle of |type| (the slow path). */
aidev_status aidev_lookup_failed(uintptr_t h, aidev_handle_type type, const char *what);

#define AIDEV_DEFINE_LOOKUP(kind, handle_t, obj_t, TYPE)                                   \
    static inline aidev_status aidev_lookup_##kind(handle_t h, const char *what, obj_t **out) \
    {                                                                                      \
        void *o = aidev_handle_get((uintptr_t)h, TYPE);                                    \
        *out = o;                                                                          \
        if (__builtin_expect(o == NULL, 0))                                                \
            return aidev_lookup_failed((uintptr_t)h, TYPE, what);                          \
        return AIDEV_SUCCESS;                                                              \
    }

AIDEV_DEFINE_LOOKUP(context, aidev_context, aidev_context_obj, AIDEV_HANDLE_CONTEXT)
AIDEV_DEFINE_LOOKUP(device, aidev_device, aidev_device_obj, AIDEV_HANDLE_DEVICE)
AIDEV_DEFINE_LOOKUP(buffer, aidev_buffer, aidev_buffer_obj, AIDEV_HANDLE_BUFFER)
AIDEV_DEFINE_LOOKUP(queue, aidev_queue, aidev_queue_obj, AIDEV_HANDLE_QUEUE)
AIDEV_DEFINE_LOOKUP(event, aidev_event, aidev_event_obj, AIDEV_HANDLE_EVENT)
AIDEV_DEFINE_LOOKUP(kernel, aidev_kernel, aidev_kernel_obj, AIDEV_HANDLE_KERNEL)

/* ------------------------------------------------------------------------ */
/* Context (hal/context.c)                                                  */
/* ------------------------------------------------------------------------ */

/* Puts |o| on the context's list; |destroy| is its teardown at the
 * context's release (aidev_object). */
void aidev_context_link(aidev_context_obj *ctx, aidev_object *o, aidev_handle_type type,
                        void (*destroy)(aidev_object *o));
void aidev_context_unlink(aidev_object *o);
aidev_status aidev_context_charge(aidev_context_obj *ctx, uint64_t bytes);
void aidev_context_refund(aidev_context_obj *ctx, uint64_t bytes);
/* A pin keeps the context's devices and struct alive past its release
 * (exported DLPack tensors). Unpinning the last pin of a released context
 * frees it. */
void aidev_context_pin(aidev_context_obj *ctx);
void aidev_context_unpin(aidev_context_obj *ctx);

/* ------------------------------------------------------------------------ */
/* Registry (hal/registry.c)                                                */
/* ------------------------------------------------------------------------ */

/* Takes a reference on the process-wide registry, loading it on first use. */
aidev_status aidev_registry_acquire(aidev_registry_backend **out_backends, uint32_t *out_count);
void aidev_registry_release(void);
const aidev_backend_vtable *aidev_cpu_backend_vtable(void);

/* ------------------------------------------------------------------------ */
/* Devices (hal/device.c)                                                   */
/* ------------------------------------------------------------------------ */

/* Opens the backend device on first use. */
aidev_status aidev_device_ensure_open(aidev_device_obj *dev);
void aidev_device_close(aidev_device_obj *dev);
#define AIDEV_DEVICE_VT(dev) (&(dev)->backend->vt)

/* ------------------------------------------------------------------------ */
/* Buffers, kernels, events, queues                                          */
/* ------------------------------------------------------------------------ */

/* Frees the buffer objects the context kept for reuse (its teardown). */
void aidev_buffer_spares_free(aidev_context_obj *ctx);
void aidev_buffer_retain(aidev_buffer_obj *b);
void aidev_buffer_unref(aidev_buffer_obj *b);
/* A holder keeps the memory charged to the quota and alive (exported
 * tensors); the last one gives the quota back. */
void aidev_buffer_hold(aidev_buffer_obj *b);
void aidev_buffer_unhold(aidev_buffer_obj *b);
/* Imports |size| bytes of host memory at |ptr| as a HOST buffer (the checks
 * of aidev_buffer_import_host); |on_free(arg)| runs once it is freed. */
aidev_status aidev_buffer_import_owned(aidev_device_obj *dev, void *ptr, uint64_t size,
                                       aidev_type element_type, void (*on_free)(void *arg),
                                       void *arg, aidev_buffer *out);
/* What buffer_query says of |b|, with the hal's defaults and fallbacks
 * (page kind from smaps for host addresses, "device" without one). */
void aidev_buffer_query_obj(const aidev_buffer_obj *b, aidev_backend_buffer_query *out);

void aidev_kernel_retain(aidev_kernel_obj *k);
/* The element count buffer argument |arg| of |k| declares, for the
 * scalars of |resolved| (a checked dispatch's); 0 when it declares none. */
uint64_t aidev_kernel_arg_count(const aidev_kernel_obj *k, uint32_t arg,
                                const aidev_backend_arg *resolved);
void aidev_kernel_unref(aidev_kernel_obj *k);
/* Checks |args| against the signature and resolves them; fills |grid|
 * from the kernel's declared grid when |user_grid| is NULL. */
aidev_status aidev_kernel_check_args(const aidev_kernel_obj *k, const aidev_device_obj *dev,
                                     uint32_t arg_count, const aidev_arg *args,
                                     const uint32_t *user_grid, const uint32_t *user_wg,
                                     aidev_backend_arg *resolved, aidev_buffer_obj **buffers,
                                     uint32_t grid[3], uint32_t wg[3]);

/* A new pending event, with one reference for the caller. */
aidev_status aidev_event_new(aidev_context_obj *ctx, const aidev_device_obj *producer,
                             bool user_event, aidev_event_obj **out);
/* Gives the event a public handle (on the context's list). */
aidev_status aidev_event_publish(aidev_event_obj *e, aidev_event *out);
void aidev_event_complete(aidev_event_obj *e, aidev_status status, const char *message);
/* Takes the handle away again (an enqueue that failed after publishing
 * its event); the event ends with its last reference. */
void aidev_event_unpublish(aidev_event_obj *e);
/* Context release: completes every pending user event of |ctx| with
 * AIDEV_ERROR_CANCELLED and |why| (their callbacks run on this thread). */
void aidev_event_cancel_user_events(aidev_context_obj *ctx, const char *why);
aidev_status aidev_event_wait_obj(aidev_event_obj *e, uint64_t timeout_ns);

/* Context release: the commands held in |q| that have not started will not
 * run (they complete with AIDEV_ERROR_CANCELLED and |why| once what they
 * wait on has ended); a hal op that is running is asked to stop. */
void aidev_queue_cancel_held(aidev_queue_obj *q, const char *why);

/* Ops, requests and the scheduler: hal/scheduler.h. */

/* The compressed memory tier (hal/evict.c). */
/* Whether |ctx| has a memory limit, so that an allocation past it evicts
 * idle buffers: every command then keeps the buffers it names referenced
 * until it has ended (hal/scheduler.c), which is what "idle" is read
 * from. */
static inline bool aidev_context_tiering(const aidev_context_obj *ctx)
{
    return atomic_load_explicit(&ctx->memory_limit, memory_order_relaxed) != 0;
}
/* A command or a map names |b|: an eviction still queued is called off,
 * and an evicted buffer is restored, before the caller reads |b->native|.
 * Under a limit, the touch also stamps the buffer's LRU clock and, with
 * |keep|, takes a reference for the caller in the same step, so that no
 * automatic eviction falls between the touch and the command's own
 * reference. Fails with the restore's status and message (no reference
 * then). A restore is a trace slice on |q|'s track (NULL: a map or an
 * export, on the device's host track). */
aidev_status aidev_tier_touch(aidev_buffer_obj *b, bool keep, const aidev_queue_obj *q);
static inline bool aidev_buffer_needs_touch(const aidev_buffer_obj *b)
{
    /* Buffers never evicted, without a limit, pay three loads. */
    return __builtin_expect(atomic_load_explicit(&b->evicts_pending, memory_order_acquire) ||
                                atomic_load_explicit(&b->evicted, memory_order_acquire) ||
                                aidev_context_tiering(b->obj.context),
                            0);
}
/* Stamps |b| as born, and touched, now. */
void aidev_tier_born(aidev_buffer_obj *b);
/* A touch without a reference: maps and exports, whose own mark (mapped,
 * a holder) is set before it. */
static inline aidev_status aidev_buffer_touch(aidev_buffer_obj *b)
{
    return aidev_buffer_needs_touch(b) ? aidev_tier_touch(b, false, NULL) : AIDEV_SUCCESS;
}
/* Charges |bytes| to |ctx|; when they do not fit under its limit, first
 * evicts idle buffers (least recently touched first, never |exclude|):
 * those no command, map or export holds, not pinned. Fails with
 * AIDEV_ERROR_QUOTA and a message saying what it evicted and why the rest
 * could not be. */
aidev_status aidev_context_charge_evicting(aidev_context_obj *ctx, uint64_t bytes,
                                           const aidev_buffer_obj *exclude);
/* aidev_context_set_memory_limit changed the limit: from none to one,
 * commands enqueued before are fenced (aidev_context_obj). */
void aidev_tier_limit_set(aidev_context_obj *ctx, uint64_t old_limit, uint64_t new_limit);
/* Context release: the fence events (aidev_context_obj) go. */
void aidev_tier_context_fini(aidev_context_obj *ctx);
/* Context release: the state of its context buffers goes
 * (hal/placement.c). */
void aidev_placement_context_fini(aidev_context_obj *ctx);
/* A released buffer's compressed copy goes, and the context's counts
 * (under |b->tier_lock|, or once nothing else can reach |b|). */
void aidev_tier_forget(aidev_buffer_obj *b);


#endif

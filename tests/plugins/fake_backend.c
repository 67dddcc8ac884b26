/*
 * fake_backend.c - the one source of every test plugin. Like the fake
 * drivers of the Vulkan loader's test framework, each variant is this file
 * compiled with other -D flags (tests/plugins/meson.build):
 *
 *   FAKE_NAME="x"          the backend's name; the file is libaidev-backend-x.so
 *   FAKE_ANSWER_MAJOR/MINOR the ABI the entry answers (default: this header's)
 *   FAKE_TABLE_1_0         the vtable ends where ABI 1.0 ends (struct_size)
 *   FAKE_FUTURE_TABLE      the vtable is longer than this header's, as a
 *                          newer plugin's would be
 *   FAKE_MISNAMED_ENTRY    the entry is exported under a wrong name
 *   FAKE_ENTRY_FAILS       the entry returns an error
 *   FAKE_INIT_FAILS        init returns an error
 *   FAKE_REENTER           init calls aidev_context_create()
 *   FAKE_DEVICES=n         devices the backend reports (default 1)
 *   FAKE_NO_SUBMIT         the required member queue_submit is NULL
 *   FAKE_FAULTS            the fault-injection backend (see fault.h)
 *   FAKE_KERNEL_FORMS      the devices claim OpenCL C and SPIR-V kernels and
 *                          the vtable the ABI 1.4 caps SPEC_CONSTANTS and
 *                          LOCAL_ARGS (kernel_create still builds C forms
 *                          only): what libaidev lets through to a plugin
 *                          that answers 1.3 or 1.4
 *
 * Where an answer is ABI 1.0, the table's ABI 1.1 member points at a
 * function that aborts: libaidev must not read past what was negotiated.
 *
 * The device is a working one on host memory, with a worker thread per
 * queue, so a variant that loads can be used, and the fault backend passes
 * the conformance suite when no fault is armed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aidev/aidev_backend.h>

#include "fault.h"

/* An answer of ABI 1.0: the 1.1 member must never be called. (Decided
 * before the defaults below, which are not preprocessor numbers.) */
#if defined(FAKE_ANSWER_MINOR) && FAKE_ANSWER_MINOR == 0 && \
    (!defined(FAKE_ANSWER_MAJOR) || FAKE_ANSWER_MAJOR == 1)
#define FAKE_FREE_MEMORY poison_free_memory
#else
#define FAKE_FREE_MEMORY fake_device_free_memory
#endif

#ifndef FAKE_NAME
#define FAKE_NAME "fake"
#endif
#ifndef FAKE_DEVICES
#define FAKE_DEVICES 1
#endif
#ifndef FAKE_ANSWER_MAJOR
#define FAKE_ANSWER_MAJOR AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION)
#endif
#ifndef FAKE_ANSWER_MINOR
#define FAKE_ANSWER_MINOR AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION)
#endif

/* The fake device's memory: small and fixed, so that its free memory is
 * known exactly. */
#define FAKE_MEMORY_BYTES (256ull << 20)

/* ------------------------------------------------------------------------ */
/* Process-wide state: counts, faults                                       */
/* ------------------------------------------------------------------------ */

typedef struct fault_config {
    uint32_t alloc, refuse, fail, lost;
    bool any_wait;
} fault_config;

static struct {
    pthread_mutex_t lock; /* guards |config| */
    fault_config config;
    atomic_uint allocations, submissions;
    atomic_bool lost;
    atomic_uint lost_at;
    atomic_uint devices, queues, buffers, kernels, commands;
    atomic_uint_fast64_t used_bytes;
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER, .config = {.any_wait = true}};

/* "alloc=2,fail=5" -> |out|. */
static int parse_spec(const char *spec, fault_config *out)
{
    fault_config c = {.any_wait = true};
    char *copy = strdup(spec ? spec : "");
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *end = NULL;
        unsigned long v = eq ? strtoul(eq + 1, &end, 10) : 0;
        if (!eq || end == eq + 1 || *end) {
            rc = -1;
            break;
        }
        *eq = '\0';
        if (strcmp(item, "alloc") == 0)
            c.alloc = (uint32_t)v;
        else if (strcmp(item, "refuse") == 0)
            c.refuse = (uint32_t)v;
        else if (strcmp(item, "fail") == 0)
            c.fail = (uint32_t)v;
        else if (strcmp(item, "lost") == 0)
            c.lost = (uint32_t)v;
        else if (strcmp(item, "any_wait") == 0)
            c.any_wait = v != 0;
        else
            rc = -1;
    }
    free(copy);
    if (rc == 0)
        *out = c;
    return rc;
}

__attribute__((unused)) static int configure(const char *spec)
{
    fault_config c;
    if (parse_spec(spec, &c) != 0)
        return -1;
    pthread_mutex_lock(&fake.lock);
    fake.config = c;
    atomic_store(&fake.allocations, 0);
    atomic_store(&fake.submissions, 0);
    atomic_store(&fake.lost, false);
    atomic_store(&fake.lost_at, 0);
    pthread_mutex_unlock(&fake.lock);
    return 0;
}

static fault_config current_faults(void)
{
    pthread_mutex_lock(&fake.lock);
    fault_config c = fake.config;
    pthread_mutex_unlock(&fake.lock);
#ifndef FAKE_FAULTS
    c = (fault_config){.any_wait = true}; /* only the fault variant fails */
#endif
    return c;
}

static aidev_status lost_error(const char *what)
{
    return aidev_backend_set_error(AIDEV_ERROR_DEVICE_LOST,
                                   FAKE_NAME ": %s: the device was lost at submission %u", what,
                                   atomic_load(&fake.lost_at));
}

#ifdef FAKE_FAULTS
AIDEV_BACKEND_EXPORT int aidev_fault_configure(const char *spec);
AIDEV_BACKEND_EXPORT int aidev_fault_configure(const char *spec)
{
    return configure(spec);
}

AIDEV_BACKEND_EXPORT void aidev_fault_get_stats(aidev_fault_stats *out);
AIDEV_BACKEND_EXPORT void aidev_fault_get_stats(aidev_fault_stats *out)
{
    out->devices = atomic_load(&fake.devices);
    out->queues = atomic_load(&fake.queues);
    out->buffers = atomic_load(&fake.buffers);
    out->kernels = atomic_load(&fake.kernels);
    out->commands = atomic_load(&fake.commands);
    out->allocations = atomic_load(&fake.allocations);
    out->submissions = atomic_load(&fake.submissions);
    out->lost = atomic_load(&fake.lost);
}
#endif

/* ------------------------------------------------------------------------ */
/* Objects                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct fake_buffer {
    atomic_uint refs;
    void *ptr;
    size_t size;
    bool imported;
} fake_buffer;

typedef struct fake_kernel {
    atomic_uint refs;
    aidev_host_kernel_fn fn;
} fake_kernel;

typedef struct fake_queue fake_queue;

typedef struct fake_command {
    struct fake_command *next;
    fake_queue *queue;
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    aidev_backend_event *signal;
    fake_buffer *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t buffer_count;
    fake_kernel *kernel;
    uint32_t pending_waits; /* under the queue's lock */
    aidev_status failure;   /* under the queue's lock */
    char cause[512];
} fake_command;

struct fake_queue {
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    fake_command *head, *tail;
    uint64_t submitted, completed;
    bool stop;
};

static void buffer_release(fake_buffer *b)
{
    if (atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    if (!b->imported) {
        free(b->ptr);
        atomic_fetch_sub(&fake.used_bytes, b->size);
    }
    free(b);
    atomic_fetch_sub(&fake.buffers, 1);
}

static void kernel_release(fake_kernel *k)
{
    if (atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    free(k);
    atomic_fetch_sub(&fake.kernels, 1);
}

/* ------------------------------------------------------------------------ */
/* Backend and devices                                                      */
/* ------------------------------------------------------------------------ */

static aidev_status fake_init(void **out_backend)
{
#if defined(FAKE_INIT_FAILS)
    (void)out_backend;
    return aidev_backend_set_error(AIDEV_ERROR_BACKEND, FAKE_NAME ": init failed on purpose");
#elif defined(FAKE_REENTER)
    (void)out_backend;
    aidev_context ctx = NULL;
    aidev_status st = aidev_context_create(NULL, &ctx);
    if (st == AIDEV_SUCCESS) {
        aidev_context_release(ctx);
        return aidev_backend_set_error(AIDEV_ERROR_BACKEND,
                                       FAKE_NAME ": libaidev let init create a context");
    }
    return aidev_backend_set_error(AIDEV_ERROR_BACKEND,
                                   FAKE_NAME ": aidev_context_create from init returned %s: %s",
                                   aidev_status_string(st), aidev_last_error());
#else
#ifdef FAKE_FAULTS
    if (configure(getenv("AIDEV_FAULTS")) != 0)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       FAKE_NAME ": AIDEV_FAULTS='%s' does not parse (see "
                                       "tests/plugins/fault.h)",
                                       getenv("AIDEV_FAULTS"));
#endif
    /* Some state, so that a shutdown that forgets it shows as a leak. */
    uint32_t *state = malloc(sizeof *state);
    if (!state)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, FAKE_NAME ": out of memory");
    *state = FAKE_DEVICES;
    *out_backend = state;
    return AIDEV_SUCCESS;
#endif
}

static void fake_shutdown(void *backend)
{
    free(backend);
}

static uint32_t fake_device_count(void *backend)
{
    return *(const uint32_t *)backend;
}

static aidev_status fake_device_info(void *backend, uint32_t index, aidev_backend_device_info *out)
{
    (void)backend;
    snprintf(out->name, sizeof out->name, FAKE_NAME " device %u", index);
    snprintf(out->vendor, sizeof out->vendor, "aidev tests");
    snprintf(out->driver_version, sizeof out->driver_version, "1");
    snprintf(out->api_version, sizeof out->api_version, "fake ABI %u.%u", FAKE_ANSWER_MAJOR,
             FAKE_ANSWER_MINOR);
    out->type = AIDEV_DEVICE_TYPE_OTHER;
    out->compute_units = 1;
    out->memory_bytes = FAKE_MEMORY_BYTES;
    out->max_alloc_bytes = FAKE_MEMORY_BYTES;
    out->local_memory_bytes = 32 * 1024;
    out->max_workgroup_size = 256;
    for (int d = 0; d < 3; d++)
        out->max_workgroup_dims[d] = 256;
    out->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE) |
                        AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST) |
                        AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED);
    out->features = AIDEV_FEATURE_KERNEL_HOST | AIDEV_FEATURE_UNIFIED_MEMORY;
#ifdef FAKE_KERNEL_FORMS
    out->features |= AIDEV_FEATURE_KERNEL_OPENCL_C | AIDEV_FEATURE_KERNEL_SPIRV;
#endif
    out->timestamp_period_ns = 1.0;
    return AIDEV_SUCCESS;
}

/* ABI 1.1: free memory is what the fake's buffers leave of its memory. */
__attribute__((unused)) static aidev_status fake_device_free_memory(void *backend, uint32_t index, uint64_t *out)
{
    (void)backend;
    (void)index;
    uint64_t used = atomic_load(&fake.used_bytes);
    *out = used < FAKE_MEMORY_BYTES ? FAKE_MEMORY_BYTES - used : 0;
    return AIDEV_SUCCESS;
}

/* Placed where libaidev must not look. */
static aidev_status poison_free_memory(void *backend, uint32_t index, uint64_t *out)
{
    (void)backend;
    (void)index;
    (void)out;
    fprintf(stderr, FAKE_NAME ": libaidev called a member past the negotiated ABI\n");
    abort();
}

static aidev_status fake_device_open(void *backend, uint32_t index, void **out_device)
{
    (void)index;
    atomic_fetch_add(&fake.devices, 1);
    *out_device = backend;
    return AIDEV_SUCCESS;
}

static void fake_device_close(void *device)
{
    (void)device;
    atomic_fetch_sub(&fake.devices, 1);
}

/* ------------------------------------------------------------------------ */
/* Memory and kernels                                                       */
/* ------------------------------------------------------------------------ */

static aidev_status fake_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                                       void **out_buffer, void **out_host_ptr)
{
    (void)device;
    fault_config faults = current_faults();
    if (atomic_load(&fake.lost))
        return lost_error("buffer_create");
    unsigned n = atomic_fetch_add(&fake.allocations, 1) + 1;
    if (faults.alloc && n == faults.alloc)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                                       FAKE_NAME ": allocation %u of %llu bytes failed on purpose",
                                       n, (unsigned long long)desc->size);
    if (atomic_fetch_add(&fake.used_bytes, desc->size) + desc->size > FAKE_MEMORY_BYTES) {
        atomic_fetch_sub(&fake.used_bytes, desc->size);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                                       FAKE_NAME ": %llu bytes do not fit in what is left",
                                       (unsigned long long)desc->size);
    }
    fake_buffer *b = calloc(1, sizeof *b);
    void *ptr = desc->import_host_ptr ? desc->import_host_ptr : calloc(1, (size_t)desc->size);
    if (!b || !ptr) {
        free(b);
        if (!desc->import_host_ptr)
            free(ptr);
        atomic_fetch_sub(&fake.used_bytes, desc->size);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, FAKE_NAME ": out of memory");
    }
    if (desc->import_host_ptr)
        atomic_fetch_sub(&fake.used_bytes, desc->size);
    atomic_init(&b->refs, 1);
    b->ptr = ptr;
    b->size = (size_t)desc->size;
    b->imported = desc->import_host_ptr != NULL;
    atomic_fetch_add(&fake.buffers, 1);
    *out_buffer = b;
    *out_host_ptr = ptr; /* all of it is host memory */
    return AIDEV_SUCCESS;
}

static void fake_buffer_destroy(void *device, void *buffer)
{
    (void)device;
    buffer_release(buffer);
}

static aidev_status fake_kernel_create(void *device, const aidev_backend_kernel_source *src,
                                       void **out_kernel)
{
    (void)device;
    if (atomic_load(&fake.lost))
        return lost_error("kernel_create");
    aidev_host_kernel_fn fn = src->library_index != UINT32_MAX
                                  ? aidev_backend_library_host_fn(src->library_index)
                              : src->desc->source_kind == AIDEV_KERNEL_SOURCE_HOST
                                  ? src->desc->host_fn
                                  : NULL;
    if (!fn)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       FAKE_NAME ": kernel '%s' has no C form", src->desc->name);
    fake_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, FAKE_NAME ": out of memory");
    atomic_init(&k->refs, 1);
    k->fn = fn;
    atomic_fetch_add(&fake.kernels, 1);
    *out_kernel = k;
    return AIDEV_SUCCESS;
}

static void fake_kernel_destroy(void *device, void *kernel)
{
    (void)device;
    kernel_release(kernel);
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */
/* ------------------------------------------------------------------------ */

static char *at(void *buffer, uint64_t offset)
{
    return (char *)((fake_buffer *)buffer)->ptr + offset;
}

static void run_command(fake_command *c)
{
    const aidev_backend_command *cmd = &c->cmd;
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        memcpy(at(cmd->u.write.buffer, cmd->u.write.offset), cmd->u.write.src, cmd->u.write.size);
        break;
    case AIDEV_COMMAND_READ:
        memcpy(cmd->u.read.dst, at(cmd->u.read.buffer, cmd->u.read.offset), cmd->u.read.size);
        break;
    case AIDEV_COMMAND_COPY:
        memcpy(at(cmd->u.copy.dst, cmd->u.copy.dst_offset),
               at(cmd->u.copy.src, cmd->u.copy.src_offset), cmd->u.copy.size);
        break;
    case AIDEV_COMMAND_FILL: {
        unsigned char p[4];
        memcpy(p, &cmd->u.fill.pattern, 4);
        char *dst = at(cmd->u.fill.buffer, cmd->u.fill.offset);
        for (uint64_t i = 0; i < cmd->u.fill.size; i++)
            dst[i] = (char)p[i % 4];
        break;
    }
    case AIDEV_COMMAND_DISPATCH: {
        void *args[AIDEV_MAX_KERNEL_ARGS];
        for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++)
            args[i] = c->args[i].kind == AIDEV_ARG_BUFFER
                          ? at(c->args[i].u.buffer.buffer, c->args[i].u.buffer.offset)
                          : (void *)&c->args[i].u;
        aidev_host_range r;
        memset(&r, 0, sizeof r);
        for (int d = 0; d < 3; d++)
            r.grid[d] = r.end[d] = cmd->u.dispatch.grid[d];
        c->kernel->fn(args, &r);
        break;
    }
    case AIDEV_COMMAND_HOST_CALLBACK:
        cmd->u.host_callback.fn(cmd->u.host_callback.user_data);
        break;
    case AIDEV_COMMAND_BARRIER:
    case AIDEV_COMMAND_PREFETCH: /* never sent: no AIDEV_BACKEND_CAP_PREFETCH */
        break;
    }
}

static void command_free(fake_command *c)
{
    for (uint32_t i = 0; i < c->buffer_count; i++)
        buffer_release(c->buffers[i]);
    if (c->kernel)
        kernel_release(c->kernel);
    free(c);
    atomic_fetch_sub(&fake.commands, 1);
}

static void *worker_main(void *opaque)
{
    fake_queue *q = opaque;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!(q->head && q->head->pending_waits == 0) && !(q->stop && !q->head))
            pthread_cond_wait(&q->changed, &q->lock);
        fake_command *c = q->head;
        if (!c)
            break;
        /* A lost device runs nothing more. */
        if (c->failure == AIDEV_SUCCESS && atomic_load(&fake.lost)) {
            c->failure = AIDEV_ERROR_DEVICE_LOST;
            snprintf(c->cause, sizeof c->cause, FAKE_NAME ": the device was lost at submission %u",
                     atomic_load(&fake.lost_at));
        }
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);

        uint64_t start = aidev_backend_now_ns();
        if (c->failure == AIDEV_SUCCESS)
            run_command(c);
        if (c->signal) {
            aidev_backend_event_set_times(c->signal, start, aidev_backend_now_ns());
            if (c->failure == AIDEV_SUCCESS)
                aidev_backend_event_complete(c->signal, AIDEV_SUCCESS, NULL);
            else
                aidev_backend_event_complete(c->signal, c->failure, "%s", c->cause);
        }
        command_free(c);

        pthread_mutex_lock(&q->lock);
        q->completed++;
        pthread_cond_broadcast(&q->changed);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void wait_done(aidev_backend_event *event, aidev_status status, void *user_data)
{
    fake_command *c = user_data;
    fake_queue *q = c->queue;
    pthread_mutex_lock(&q->lock);
    if (status != AIDEV_SUCCESS && c->failure == AIDEV_SUCCESS) {
        c->failure = AIDEV_ERROR_DEPENDENCY;
        snprintf(c->cause, sizeof c->cause, "an event it waited on failed with %s: %s",
                 aidev_status_string(status), aidev_backend_event_message(event));
    }
    if (--c->pending_waits == 0)
        pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

static aidev_status fake_queue_create(void *device, aidev_queue_priority priority,
                                      void **out_queue)
{
    (void)device;
    (void)priority;
    fake_queue *q = calloc(1, sizeof *q);
    if (!q)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, FAKE_NAME ": out of memory");
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
    if (pthread_create(&q->worker, NULL, worker_main, q) != 0) {
        pthread_cond_destroy(&q->changed);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       FAKE_NAME ": pthread_create failed");
    }
    atomic_fetch_add(&fake.queues, 1);
    *out_queue = q;
    return AIDEV_SUCCESS;
}

static void fake_queue_destroy(void *queue)
{
    fake_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->worker, NULL);
    pthread_cond_destroy(&q->changed);
    pthread_mutex_destroy(&q->lock);
    free(q);
    atomic_fetch_sub(&fake.queues, 1);
}

static void hold(fake_command *c, void *buffer)
{
    atomic_fetch_add(&((fake_buffer *)buffer)->refs, 1);
    c->buffers[c->buffer_count++] = buffer;
}

static void capture(fake_command *c, const aidev_backend_command *cmd)
{
    c->cmd = *cmd;
    void *buffers[AIDEV_BACKEND_COMMAND_MAX_BUFFERS];
    uint32_t buffer_count = aidev_backend_command_buffers(cmd, buffers);
    for (uint32_t i = 0; i < buffer_count; i++)
        hold(c, buffers[i]);
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        memcpy(c->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof c->args[0]);
        c->cmd.u.dispatch.args = c->args;
        c->kernel = cmd->u.dispatch.kernel;
        atomic_fetch_add(&c->kernel->refs, 1);
    }
}

/* Decides what becomes of submission |n|: refused (an error return),
 * accepted to fail (|c->failure|), or accepted to run. */
static aidev_status apply_submit_faults(fake_command *c)
{
    fault_config faults = current_faults();
    if (atomic_load(&fake.lost))
        return lost_error("queue_submit");
    unsigned n = atomic_fetch_add(&fake.submissions, 1) + 1;
    if (faults.refuse && n == faults.refuse)
        return aidev_backend_set_error(AIDEV_ERROR_BACKEND,
                                       FAKE_NAME ": submission %u refused on purpose", n);
    if (faults.lost && n == faults.lost) {
        atomic_store(&fake.lost_at, n);
        atomic_store(&fake.lost, true);
        c->failure = AIDEV_ERROR_DEVICE_LOST;
        snprintf(c->cause, sizeof c->cause, FAKE_NAME ": the device was lost at submission %u",
                 n);
    } else if (faults.fail && n == faults.fail) {
        c->failure = AIDEV_ERROR_BACKEND;
        snprintf(c->cause, sizeof c->cause, FAKE_NAME ": submission %u failed on purpose", n);
    }
    return AIDEV_SUCCESS;
}

/* (Unused by the variant that leaves it out of its table.) */
__attribute__((unused)) static aidev_status fake_queue_submit(void *queue, const aidev_backend_command *cmd,
                                      uint32_t wait_count, aidev_backend_event *const *waits,
                                      aidev_backend_event *signal)
{
    fake_queue *q = queue;
    fake_command *c = calloc(1, sizeof *c);
    if (!c)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, FAKE_NAME ": out of memory");
    aidev_status st = apply_submit_faults(c);
    if (st != AIDEV_SUCCESS) {
        free(c);
        return st;
    }
    atomic_fetch_add(&fake.commands, 1);
    c->queue = q;
    c->signal = signal;
    capture(c, cmd);

    pthread_mutex_lock(&q->lock);
    c->pending_waits = wait_count + 1;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->submitted++;
    pthread_mutex_unlock(&q->lock);

    for (uint32_t i = 0; i < wait_count; i++) {
        if (aidev_backend_event_on_complete(waits[i], wait_done, c) != AIDEV_SUCCESS) {
            pthread_mutex_lock(&q->lock);
            if (c->failure == AIDEV_SUCCESS) {
                c->failure = AIDEV_ERROR_OUT_OF_HOST_MEMORY;
                snprintf(c->cause, sizeof c->cause, FAKE_NAME ": out of memory");
            }
            c->pending_waits--;
            pthread_mutex_unlock(&q->lock);
        }
    }
    pthread_mutex_lock(&q->lock);
    if (--c->pending_waits == 0)
        pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    return AIDEV_SUCCESS;
}

static aidev_status fake_queue_finish(void *queue)
{
    fake_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    uint64_t target = q->submitted;
    while (q->completed < target)
        pthread_cond_wait(&q->changed, &q->lock);
    pthread_mutex_unlock(&q->lock);
    return atomic_load(&fake.lost) ? lost_error("queue_finish") : AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* The table and the entry                                                  */
/* ------------------------------------------------------------------------ */

#if defined(FAKE_TABLE_1_0)
#define FAKE_TABLE_SIZE AIDEV_BACKEND_VTABLE_SIZE_1_0
#define FAKE_TABLE_ABI AIDEV_BACKEND_ABI_MAKE(1, 0)
#elif defined(FAKE_FUTURE_TABLE)
#define FAKE_TABLE_SIZE sizeof fake_table
#define FAKE_TABLE_ABI AIDEV_BACKEND_ABI_MAKE(FAKE_ANSWER_MAJOR, FAKE_ANSWER_MINOR)
#else
#define FAKE_TABLE_SIZE sizeof(aidev_backend_vtable)
#define FAKE_TABLE_ABI AIDEV_BACKEND_ABI_MAKE(FAKE_ANSWER_MAJOR, FAKE_ANSWER_MINOR)
#endif


#ifdef FAKE_NO_SUBMIT
#define FAKE_SUBMIT NULL
#else
#define FAKE_SUBMIT fake_queue_submit
#endif

/* A table with members past this header's, as a newer plugin has. (Unused
 * by the variant whose entry fails.) */
__attribute__((unused)) static struct {
    aidev_backend_vtable vt;
    aidev_status (*future[4])(void *backend, uint32_t index, uint64_t *out);
} fake_table = {
    .vt =
        {
            .struct_size = (uint32_t)FAKE_TABLE_SIZE,
            .abi_version = FAKE_TABLE_ABI,
            .name = FAKE_NAME,
            .caps = AIDEV_BACKEND_CAP_ANY_WAIT
#ifdef FAKE_KERNEL_FORMS
                    | AIDEV_BACKEND_CAP_SPEC_CONSTANTS | AIDEV_BACKEND_CAP_LOCAL_ARGS
#endif
            ,
            .init = fake_init,
            .shutdown = fake_shutdown,
            .device_count = fake_device_count,
            .device_info = fake_device_info,
            .device_open = fake_device_open,
            .device_close = fake_device_close,
            .buffer_create = fake_buffer_create,
            .buffer_destroy = fake_buffer_destroy,
            .queue_create = fake_queue_create,
            .queue_destroy = fake_queue_destroy,
            .queue_submit = FAKE_SUBMIT,
            .queue_finish = fake_queue_finish,
            .kernel_create = fake_kernel_create,
            .kernel_destroy = fake_kernel_destroy,
            .device_free_memory = FAKE_FREE_MEMORY,
        },
    .future = {poison_free_memory, poison_free_memory, poison_free_memory, poison_free_memory},
};

#ifdef FAKE_MISNAMED_ENTRY
#define FAKE_ENTRY aidev_backend_entry_misnamed
#else
#define FAKE_ENTRY aidev_backend_entry
#endif

AIDEV_BACKEND_EXPORT aidev_status FAKE_ENTRY(aidev_backend_negotiation *nego);
AIDEV_BACKEND_EXPORT aidev_status FAKE_ENTRY(aidev_backend_negotiation *nego)
{
#ifdef FAKE_ENTRY_FAILS
    return aidev_backend_set_error(AIDEV_ERROR_BACKEND,
                                   FAKE_NAME ": entry failed on purpose (offered ABI %u.%u)",
                                   AIDEV_BACKEND_ABI_MAJOR(nego->abi_version),
                                   AIDEV_BACKEND_ABI_MINOR(nego->abi_version));
#else
#ifdef FAKE_FAULTS
    /* The caps are read once, when libaidev loads us. */
    fault_config c = {.any_wait = true};
    if (parse_spec(getenv("AIDEV_FAULTS"), &c) != 0)
        c.any_wait = true; /* init reports the bad spec */
    fake_table.vt.caps = c.any_wait ? AIDEV_BACKEND_CAP_ANY_WAIT : 0;
#endif
    nego->abi_version = AIDEV_BACKEND_ABI_MAKE(FAKE_ANSWER_MAJOR, FAKE_ANSWER_MINOR);
    nego->vtable = &fake_table.vt;
    return AIDEV_SUCCESS;
#endif
}

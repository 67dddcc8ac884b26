/*
 * event.c - events: completion, waiting, callbacks and timestamps.
 *
 * An event is one object seen two ways: by users through a handle, by
 * backends as aidev_backend_event. Whoever holds it holds a reference: the
 * user's handle, the backend between submit and complete, each pending
 * callback. The backend completes it once; waiters spin briefly (completion
 * often follows within microseconds, and a futex wake costs more than that)
 * and then sleep on a condition variable.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hal/internal.h"
#include "hal/spin.h"
#include "hal/probes.h"
#include "hal/trace.h"

/* How long a waiter spins before sleeping. */
#define WAIT_SPIN_NS 20000u

aidev_status aidev_event_new(aidev_context_obj *ctx, const aidev_device_obj *producer,
                             bool user_event, aidev_event_obj **out)
{
    aidev_event_obj *e = calloc(1, sizeof *e);
    if (!e)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for an event");
    e->obj.type = AIDEV_HANDLE_EVENT;
    e->obj.context = ctx;
    atomic_init(&e->refs, 1);
    atomic_init(&e->state, 0);
    e->producer = producer;
    e->user_event = user_event;
    e->graph_failed_index = -1;
    e->times.queued = aidev_now_ns();
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &attr);
    pthread_condattr_destroy(&attr);
    *out = e;
    return AIDEV_SUCCESS;
}

/* Releases the keepalive |e| holds, if any. */
static void event_drop_keepalive(aidev_event_obj *e)
{
    aidev_keepalive *k = atomic_exchange(&e->keepalive, NULL);
    if (k)
        aidev_keepalive_release(k);
}

void aidev_event_keep_until_complete(aidev_event_obj *e, aidev_keepalive *k)
{
    atomic_store(&e->keepalive, k);
    /* Completed meanwhile: its completion may have looked before. */
    if (atomic_load(&e->state))
        event_drop_keepalive(e);
}

static void event_free(aidev_event_obj *e)
{
    event_drop_keepalive(e);
    aidev_queue_failures_release(e->failures);
    for (uint8_t i = 0; i < e->trace_dep_count; i++)
        aidev_backend_event_release(e->trace_deps[i]);
    if (e->native_release)
        e->native_release(e->native);
    free(e->message);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

AIDEV_API void aidev_backend_event_retain(aidev_backend_event *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

AIDEV_API void aidev_backend_event_release(aidev_backend_event *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        event_free(e);
}

/* The context's teardown of an event the user did not release. */
static void event_destroy_linked(aidev_object *o)
{
    aidev_event_unpublish((aidev_event_obj *)o);
}

aidev_status aidev_event_publish(aidev_event_obj *e, aidev_event *out)
{
    e->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_EVENT, e);
    if (!e->obj.handle)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    atomic_store_explicit(&e->handle_refs, 1, memory_order_relaxed);
    aidev_context_link(e->obj.context, &e->obj, AIDEV_HANDLE_EVENT, event_destroy_linked);
    *out = (aidev_event)e->obj.handle;
    return AIDEV_SUCCESS;
}

/* Drops the user's handle and its reference. The handle is cleared under
 * the event's lock: a callback running on another thread reads it there
 * (run_callback). */
static void event_unpublish(aidev_event_obj *e)
{
    aidev_context_unlink(&e->obj);
    aidev_handle_free(e->obj.handle);
    pthread_mutex_lock(&e->lock);
    e->obj.handle = 0;
    pthread_mutex_unlock(&e->lock);
    aidev_backend_event_release(e);
}

void aidev_event_unpublish(aidev_event_obj *e)
{
    event_unpublish(e);
}

/* ------------------------------------------------------------------------ */
/* Completion                                                               */
/* ------------------------------------------------------------------------ */

/* A user callback gets the handle as it is when the callback starts: NULL
 * once the program released it (aidev.h). The program may release it on
 * another thread at any moment, hence the lock; a handle released during
 * the call is then refused like any released handle. */
static void run_callback(aidev_event_obj *e, aidev_event_callback_node *n)
{
    if (n->backend) {
        n->fn.backend(e, e->status, n->user_data);
        return;
    }
    pthread_mutex_lock(&e->lock);
    aidev_event handle = (aidev_event)e->obj.handle;
    pthread_mutex_unlock(&e->lock);
    n->fn.user(handle, e->status, n->user_data);
}

void aidev_event_complete(aidev_event_obj *e, aidev_status status, const char *message)
{
    /* The command has ended: its buffers are free before anyone sees it. */
    event_drop_keepalive(e);
    pthread_mutex_lock(&e->lock);
    if (atomic_load_explicit(&e->state, memory_order_relaxed) != 0) {
        pthread_mutex_unlock(&e->lock);
        aidev_backend_debug("backend", "event %p completed twice (second status %s) - ignored",
                            (void *)e, aidev_status_string(status));
        return;
    }
    e->status = status;
    if (status != AIDEV_SUCCESS) {
        e->message = strdup(message && *message ? message : aidev_status_string(status));
        /* Before the event reads as complete: whoever saw it complete and
         * then finishes the queue gets the failure. */
        if (e->failures)
            aidev_queue_failures_note(e->failures, e->kind, e->kernel, e->bytes, status,
                                      e->message);
    }
    uint64_t now = aidev_now_ns();
    if (!e->times.end) {
        e->times.end = now;
        if (!e->times.start)
            e->times.start = now;
    }
    aidev_event_callback_node *list = e->callbacks;
    e->callbacks = NULL;
    if (e->kind != AIDEV_CMD_USER && e->kind != AIDEV_CMD_INTERNAL) {
        AIDEV_PROBE6(complete, e->producer ? e->producer->index : 0, e->queue_id, (int)e->kind,
                     (int)status, e->times.end - e->times.start, e->bytes);
        if (aidev_trace_enabled())
            aidev_trace_event(e);
    }
    atomic_store(&e->state, 1);
    if (e->sleepers)
        pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
    /* One given while it completed (aidev_event_keep_until_complete). */
    event_drop_keepalive(e);

    /* The list was built newest first; run in registration order. */
    aidev_event_callback_node *ordered = NULL;
    while (list) {
        aidev_event_callback_node *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    while (ordered) {
        aidev_event_callback_node *next = ordered->next;
        run_callback(e, ordered);
        free(ordered);
        aidev_backend_event_release(e); /* the callback's reference */
        ordered = next;
    }
}

AIDEV_API void aidev_backend_event_complete(aidev_backend_event *e, aidev_status status,
                                            const char *fmt, ...)
{
    char message[2048] = "";
    if (fmt && status != AIDEV_SUCCESS) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
    }
    aidev_event_complete(e, status, message);
    aidev_backend_event_release(e);
}

AIDEV_API void aidev_backend_graph_failed(aidev_backend_event *e, uint32_t index,
                                          aidev_status status, const char *fmt, ...)
{
    char message[2048] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
    }
    /* Before the completion publishes the event (its state's release). */
    e->graph_failed_index = index;
    aidev_event_complete(e, status == AIDEV_SUCCESS ? AIDEV_ERROR_BACKEND : status, message);
    aidev_backend_event_release(e);
}

AIDEV_API void aidev_backend_event_set_times(aidev_backend_event *e, uint64_t start_ns,
                                             uint64_t end_ns)
{
    e->times.start = start_ns;
    e->times.end = end_ns < start_ns ? start_ns : end_ns;
}

AIDEV_API aidev_status aidev_backend_event_status(const aidev_backend_event *e)
{
    if (atomic_load_explicit(&e->state, memory_order_acquire) == 0)
        return AIDEV_NOT_READY;
    return e->status;
}

AIDEV_API const char *aidev_backend_event_message(const aidev_backend_event *e)
{
    if (atomic_load_explicit(&e->state, memory_order_acquire) == 0 || !e->message)
        return "";
    return e->message;
}

AIDEV_API void aidev_backend_event_set_native(aidev_backend_event *e, const void *owner,
                                              void *native, void (*release_fn)(void *native))
{
    e->native_owner = owner;
    e->native_release = release_fn;
    /* Published last: enqueues on other threads read it (hal/scheduler.c). */
    __atomic_store_n(&e->native, native, __ATOMIC_RELEASE);
}

AIDEV_API void *aidev_backend_event_native(const aidev_backend_event *e, const void *owner)
{
    void *native = __atomic_load_n(&e->native, __ATOMIC_ACQUIRE);
    return native && e->native_owner == owner ? native : NULL;
}

static aidev_status add_callback(aidev_event_obj *e, aidev_event_callback_node *n)
{
    pthread_mutex_lock(&e->lock);
    if (atomic_load_explicit(&e->state, memory_order_acquire) != 0) {
        pthread_mutex_unlock(&e->lock);
        run_callback(e, n);
        free(n);
        return AIDEV_SUCCESS;
    }
    aidev_backend_event_retain(e);
    n->next = e->callbacks;
    e->callbacks = n;
    pthread_mutex_unlock(&e->lock);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_backend_event_on_complete(aidev_backend_event *e,
                                                       aidev_backend_event_fn fn,
                                                       void *user_data)
{
    aidev_event_callback_node *n = calloc(1, sizeof *n);
    if (!n)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a callback");
    n->backend = true;
    n->fn.backend = fn;
    n->user_data = user_data;
    return add_callback(e, n);
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                  */
/* ------------------------------------------------------------------------ */

aidev_status aidev_event_wait_obj(aidev_event_obj *e, uint64_t timeout_ns)
{
    uint64_t start = aidev_now_ns();
    uint64_t deadline = timeout_ns == AIDEV_WAIT_FOREVER || timeout_ns > UINT64_MAX - start
                            ? UINT64_MAX
                            : start + timeout_ns;

    for (uint32_t i = 0; atomic_load_explicit(&e->state, memory_order_acquire) == 0; i++) {
        aidev_cpu_relax();
        if ((i & 63) == 63) {
            uint64_t now = aidev_now_ns();
            if (now - start >= WAIT_SPIN_NS || now >= deadline)
                break;
        }
    }

    pthread_mutex_lock(&e->lock);
    e->sleepers++;
    while (atomic_load_explicit(&e->state, memory_order_acquire) == 0) {
        if (deadline == UINT64_MAX) {
            pthread_cond_wait(&e->cond, &e->lock);
            continue;
        }
        if (aidev_now_ns() >= deadline)
            break;
        struct timespec ts = {(time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull)};
        pthread_cond_timedwait(&e->cond, &e->lock, &ts);
    }
    e->sleepers--;
    bool done = atomic_load_explicit(&e->state, memory_order_acquire) != 0;
    pthread_mutex_unlock(&e->lock);

    if (!done)
        return aidev_error(AIDEV_ERROR_TIMEOUT, "event did not complete within %llu ns",
                           (unsigned long long)timeout_ns);
    if (e->status != AIDEV_SUCCESS)
        return aidev_error(e->status, "%s", e->message ? e->message : "");
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Public calls                                                             */
/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* User events                                                              */
/* ------------------------------------------------------------------------ */

/* A new user event goes on its context's list of pending ones, which holds
 * a reference: the program may release the handle while commands still
 * wait on the event, and the context's release must find it to cancel it. */
static void user_event_list(aidev_event_obj *e)
{
    aidev_context_obj *ctx = e->obj.context;
    aidev_backend_event_retain(e);
    pthread_mutex_lock(&ctx->lock);
    e->user_prev = NULL;
    e->user_next = ctx->pending_user_events;
    if (e->user_next)
        e->user_next->user_prev = e;
    ctx->pending_user_events = e;
    e->user_listed = true;
    pthread_mutex_unlock(&ctx->lock);
}

/* Takes |e| off the list; false when it was not on it (another thread is
 * completing it). With the context's lock. */
static bool user_event_unlist_locked(aidev_event_obj *e)
{
    aidev_context_obj *ctx = e->obj.context;
    if (!e->user_listed)
        return false;
    if (e->user_prev)
        e->user_prev->user_next = e->user_next;
    else
        ctx->pending_user_events = e->user_next;
    if (e->user_next)
        e->user_next->user_prev = e->user_prev;
    e->user_prev = e->user_next = NULL;
    e->user_listed = false;
    return true;
}

/* Completes a user event taken off the list and drops the list's
 * reference. */
static void user_event_settle(aidev_event_obj *e, aidev_status status, const char *message)
{
    e->times.start = e->times.end = aidev_now_ns();
    aidev_event_complete(e, status, message);
    aidev_backend_event_release(e);
}

void aidev_event_cancel_user_events(aidev_context_obj *ctx, const char *why)
{
    for (;;) {
        pthread_mutex_lock(&ctx->lock);
        aidev_event_obj *e = ctx->pending_user_events;
        if (e)
            user_event_unlist_locked(e);
        pthread_mutex_unlock(&ctx->lock);
        if (!e)
            return;
        user_event_settle(e, AIDEV_ERROR_CANCELLED, why);
    }
}

AIDEV_API aidev_status aidev_event_create_user(aidev_context context, aidev_event *out_event)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_event)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_event: NULL");
    aidev_event_obj *e;
    st = aidev_event_new(ctx, NULL, true, &e);
    if (st != AIDEV_SUCCESS)
        return st;
    st = aidev_event_publish(e, out_event);
    if (st != AIDEV_SUCCESS) {
        aidev_backend_event_release(e);
        return st;
    }
    user_event_list(e);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_event_set_status(aidev_event event, aidev_status status,
                                              const char *message)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!e->user_event)
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "event: not a user event; only aidev_event_create_user events take "
                           "a status");
    if (!aidev_status_is_known(status))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "status: %d is not an aidev_status (use AIDEV_SUCCESS or an "
                           "AIDEV_ERROR_* value)",
                           (int)status);
    if (status > 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "status: %s is not a final status (use AIDEV_SUCCESS or an error)",
                           aidev_status_string(status));
    /* Whoever takes it off the list completes it: one call wins, also
     * against the context's release. */
    pthread_mutex_lock(&e->obj.context->lock);
    bool mine = user_event_unlist_locked(e);
    pthread_mutex_unlock(&e->obj.context->lock);
    if (!mine)
        return aidev_error(AIDEV_ERROR_INVALID_STATE, "event: the user event already completed");
    user_event_settle(e, status, message);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_event_query(aidev_event event)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    st = aidev_backend_event_status(e);
    if (st < 0)
        aidev_error(st, "%s", aidev_backend_event_message(e));
    return st;
}

AIDEV_API aidev_status aidev_event_wait(aidev_event event, uint64_t timeout_ns)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    return aidev_event_wait_obj(e, timeout_ns);
}

AIDEV_API aidev_status aidev_events_wait(uint32_t count, const aidev_event *events,
                                         uint64_t timeout_ns)
{
    aidev_error_clear();
    if (count && !events)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "events: NULL with count %u", count);
    for (uint32_t i = 0; i < count; i++) {
        aidev_event_obj *e;
        char what[32];
        snprintf(what, sizeof what, "events[%u]", i);
        aidev_status st = aidev_lookup_event(events[i], what, &e);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    uint64_t start = aidev_now_ns();
    aidev_status first = AIDEV_SUCCESS;
    for (uint32_t i = 0; i < count; i++) {
        aidev_event_obj *e = aidev_handle_get((uintptr_t)events[i], AIDEV_HANDLE_EVENT);
        if (!e)
            return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "events[%u]: released while waiting",
                               i);
        uint64_t left = AIDEV_WAIT_FOREVER;
        if (timeout_ns != AIDEV_WAIT_FOREVER) {
            uint64_t spent = aidev_now_ns() - start;
            left = spent >= timeout_ns ? 0 : timeout_ns - spent;
        }
        aidev_status st = aidev_event_wait_obj(e, left);
        if (st == AIDEV_ERROR_TIMEOUT)
            return st;
        if (st != AIDEV_SUCCESS && first == AIDEV_SUCCESS)
            first = aidev_error(st, "events[%u]: %s", i, e->message ? e->message : "");
    }
    return first;
}

AIDEV_API const char *aidev_event_message(aidev_event event)
{
    aidev_event_obj *e = aidev_handle_get((uintptr_t)event, AIDEV_HANDLE_EVENT);
    return e ? aidev_backend_event_message(e) : "";
}

AIDEV_API aidev_status aidev_event_get_times(aidev_event event, aidev_event_times *out)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out: NULL");
    if (atomic_load_explicit(&e->state, memory_order_acquire) == 0)
        return AIDEV_NOT_READY;
    *out = e->times;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_event_set_callback(aidev_event event, aidev_event_callback fn,
                                                void *user_data)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!fn)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "fn: NULL");
    aidev_event_callback_node *n = calloc(1, sizeof *n);
    if (!n)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a callback");
    n->fn.user = fn;
    n->user_data = user_data;
    return add_callback(e, n);
}

const char *aidev_command_kind_name(aidev_command_kind kind)
{
    static const char *const names[] = {
        [AIDEV_CMD_USER] = "user",           [AIDEV_CMD_WRITE] = "write",
        [AIDEV_CMD_READ] = "read",           [AIDEV_CMD_COPY] = "copy",
        [AIDEV_CMD_FILL] = "fill",           [AIDEV_CMD_DISPATCH] = "dispatch",
        [AIDEV_CMD_BARRIER] = "barrier",     [AIDEV_CMD_HOST_CALLBACK] = "host_callback",
        [AIDEV_CMD_FILE_READ] = "file_read", [AIDEV_CMD_INTERNAL] = "internal",
        [AIDEV_CMD_PREFETCH] = "prefetch",   [AIDEV_CMD_EVICT] = "evict",
        [AIDEV_CMD_RESTORE] = "restore",     [AIDEV_CMD_GRAPH] = "graph",
        [AIDEV_CMD_GRAPH_SEGMENT] = "graph_segment",
    };
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

AIDEV_API aidev_status aidev_event_get_info(aidev_event event, aidev_event_info key,
                                            size_t value_size, void *value, size_t *size_ret)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    uint32_t u32;
    aidev_device dev;
    switch (key) {
    case AIDEV_EVENT_INFO_COMMAND:
        return aidev_info_put_string(aidev_command_kind_name(e->kind), value_size, value,
                                     size_ret, "AIDEV_EVENT_INFO_COMMAND");
    case AIDEV_EVENT_INFO_BYTES:
        return aidev_info_put(&e->bytes, sizeof e->bytes, value_size, value, size_ret,
                              "AIDEV_EVENT_INFO_BYTES");
    case AIDEV_EVENT_INFO_KERNEL:
        return aidev_info_put_string(e->kernel, value_size, value, size_ret,
                                     "AIDEV_EVENT_INFO_KERNEL");
    case AIDEV_EVENT_INFO_IO_ENGINE:
        return aidev_info_put_string(e->io_engine ? e->io_engine : "", value_size, value,
                                     size_ret, "AIDEV_EVENT_INFO_IO_ENGINE");
    case AIDEV_EVENT_INFO_IO_DIRECT:
        u32 = e->io_direct;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_EVENT_INFO_IO_DIRECT");
    case AIDEV_EVENT_INFO_DEVICE:
        dev = e->producer ? (aidev_device)e->producer->obj.handle : NULL;
        return aidev_info_put(&dev, sizeof dev, value_size, value, size_ret,
                              "AIDEV_EVENT_INFO_DEVICE");
    }
    return aidev_error(AIDEV_ERROR_NOT_FOUND, "key: %d is not an aidev_event_info", (int)key);
}

AIDEV_API aidev_status aidev_event_retain(aidev_event event)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    atomic_fetch_add_explicit(&e->handle_refs, 1, memory_order_relaxed);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_event_release(aidev_event event)
{
    aidev_error_clear();
    aidev_event_obj *e;
    aidev_status st = aidev_lookup_event(event, "event", &e);
    if (st != AIDEV_SUCCESS)
        return st;
    /* Only the last owner's release ends the handle. */
    if (atomic_fetch_sub_explicit(&e->handle_refs, 1, memory_order_acq_rel) == 1)
        event_unpublish(e);
    return AIDEV_SUCCESS;
}

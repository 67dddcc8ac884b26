/*
 * context.c - the context: its devices, its backend reports, the list of
 * every object made from it, and its memory quota.
 *
 * Contexts are independent: each has its own devices (opened per context,
 * so the CPU backend's pool and block cache too), objects, quota, file-read
 * engine and lock. What they share is the process-wide plugin registry
 * (loaded once, read-only between loads; the backends' instances in it
 * hold only what init found), the handle table (whose lookups check the
 * owning context), the trace writer (AIDEV_TRACE), a counter of queue ids,
 * and the read-only hwloc topology. The last error is per thread.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hal/env.h"
#include "hal/internal.h"
#include "hal/io.h"
#include "hal/trace.h"

/* ------------------------------------------------------------------------ */
/* Handle lookups, shared by every file                                     */
/* ------------------------------------------------------------------------ */

aidev_status aidev_lookup_failed(uintptr_t h, aidev_handle_type type, const char *what)
{
    if (h == 0)
        return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "%s: NULL %s handle", what,
                           aidev_handle_type_name(type));
    aidev_handle_type actual = aidev_handle_type_of(h);
    if (actual != AIDEV_HANDLE_NONE)
        return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "%s: expected a %s handle, got a %s handle",
                           what, aidev_handle_type_name(type), aidev_handle_type_name(actual));
    return aidev_error(AIDEV_ERROR_INVALID_HANDLE,
                       "%s: %#lx is not a live %s handle (released, or never made)", what,
                       (unsigned long)h, aidev_handle_type_name(type));
}

/* ------------------------------------------------------------------------ */
/* The object list                                                          */
/* ------------------------------------------------------------------------ */

void aidev_context_link(aidev_context_obj *ctx, aidev_object *o, aidev_handle_type type,
                        void (*destroy)(aidev_object *o))
{
    o->type = type;
    o->destroy = destroy;
    o->context = ctx;
    pthread_mutex_lock(&ctx->lock);
    o->next = ctx->list.next;
    o->prev = &ctx->list;
    ctx->list.next->prev = o;
    ctx->list.next = o;
    pthread_mutex_unlock(&ctx->lock);
}

void aidev_context_unlink(aidev_object *o)
{
    aidev_context_obj *ctx = o->context;
    pthread_mutex_lock(&ctx->lock);
    if (o->next) {
        o->prev->next = o->next;
        o->next->prev = o->prev;
        o->next = o->prev = NULL;
    }
    pthread_mutex_unlock(&ctx->lock);
}

/* ------------------------------------------------------------------------ */
/* Quota                                                                    */
/* ------------------------------------------------------------------------ */

/* The quota is two atomic counters, not the context's lock: every buffer
 * create and release passes here, and a lock pair each way was a tenth of
 * a small buffer's cost. A charge that races aidev_context_set_memory_limit
 * sees the old limit or the new one. */
aidev_status aidev_context_charge(aidev_context_obj *ctx, uint64_t bytes)
{
    uint64_t used = atomic_load_explicit(&ctx->memory_used, memory_order_relaxed);
    for (;;) {
        uint64_t limit = atomic_load_explicit(&ctx->memory_limit, memory_order_relaxed);
        if (limit && (bytes > limit || used > limit - bytes))
            return aidev_error(
                AIDEV_ERROR_QUOTA,
                "allocation of %" PRIu64 " bytes exceeds the context's memory limit of "
                "%" PRIu64 " bytes (%s) with %" PRIu64 " bytes in use (%" PRIu64 " free); "
                "free buffers or raise the limit with aidev_context_set_memory_limit",
                bytes, limit, atomic_load_explicit(&ctx->limit_source, memory_order_relaxed),
                used, used < limit ? limit - used : 0);
        if (atomic_compare_exchange_weak_explicit(&ctx->memory_used, &used, used + bytes,
                                                  memory_order_relaxed, memory_order_relaxed))
            return AIDEV_SUCCESS;
    }
}

void aidev_context_refund(aidev_context_obj *ctx, uint64_t bytes)
{
    uint64_t used = atomic_load_explicit(&ctx->memory_used, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&ctx->memory_used, &used,
                                                  used - (bytes < used ? bytes : used),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

AIDEV_API aidev_status aidev_context_get_memory_usage(aidev_context context, uint64_t *out_used,
                                                      uint64_t *out_limit)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    if (out_used)
        *out_used = atomic_load_explicit(&ctx->memory_used, memory_order_relaxed);
    if (out_limit)
        *out_limit = atomic_load_explicit(&ctx->memory_limit, memory_order_relaxed);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_context_set_memory_limit(aidev_context context, uint64_t limit)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    /* (A charge in between may name the previous source: a message only.) */
    atomic_store_explicit(&ctx->limit_source,
                          limit ? "set by aidev_context_set_memory_limit" : "none",
                          memory_order_relaxed);
    uint64_t old = atomic_exchange_explicit(&ctx->memory_limit, limit, memory_order_relaxed);
    aidev_tier_limit_set(ctx, old, limit);
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

/* Which backends give devices, in order. Returns their count. */
static aidev_status choose_backends(const aidev_context_desc *desc, aidev_registry_backend *reg,
                                    uint32_t reg_count, aidev_registry_backend **chosen,
                                    uint32_t *chosen_count)
{
    const char *list = desc && desc->backends ? desc->backends : NULL;
    *chosen_count = 0;
    if (!list) {
        for (uint32_t i = 0; i < reg_count; i++)
            if (reg[i].state == AIDEV_BACKEND_LOADED)
                chosen[(*chosen_count)++] = &reg[i];
        return AIDEV_SUCCESS;
    }
    char *copy = strdup(list);
    if (!copy)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_status st = AIDEV_SUCCESS;
    char *save = NULL;
    for (char *name = strtok_r(copy, ", ", &save); name; name = strtok_r(NULL, ", ", &save)) {
        uint32_t i = 0;
        while (i < reg_count && strcmp(reg[i].name, name) != 0)
            i++;
        if (i == reg_count) {
            st = aidev_error(AIDEV_ERROR_NOT_FOUND,
                             "desc->backends: no backend named '%s' was found (see "
                             "aidev_context_get_backends or aidev-info)",
                             name);
            break;
        }
        bool dup = false;
        for (uint32_t j = 0; j < *chosen_count; j++)
            dup |= chosen[j] == &reg[i];
        if (reg[i].state == AIDEV_BACKEND_LOADED && !dup)
            chosen[(*chosen_count)++] = &reg[i];
    }
    free(copy);
    return st;
}

/* The NUMA node of a device: what its backend says, else the node of its
 * PCI slot (the kernel's view of which memory controller is near it). */
static int32_t device_numa_node(const aidev_backend_device_info *info)
{
    if (info->numa_node >= 0 || !info->pci_bus_id[0])
        return info->numa_node < 0 ? -1 : info->numa_node;
    char path[128];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", info->pci_bus_id);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int node = -1;
    if (fscanf(f, "%d", &node) != 1 || node < 0)
        node = -1;
    fclose(f);
    return node;
}

static aidev_status make_devices(aidev_context_obj *ctx, aidev_registry_backend **chosen,
                                 uint32_t chosen_count)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < chosen_count; i++)
        total += chosen[i]->device_count;
    ctx->devices = calloc(total ? total : 1, sizeof *ctx->devices);
    if (!ctx->devices)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < chosen_count; i++) {
        for (uint32_t d = 0; d < chosen[i]->device_count; d++) {
            aidev_device_obj *dev = &ctx->devices[ctx->device_count];
            dev->obj.type = AIDEV_HANDLE_DEVICE;
            dev->obj.context = ctx;
            dev->index = ctx->device_count;
            dev->backend = chosen[i];
            dev->backend_index = d;
            dev->info = &chosen[i]->device_infos[d];
            dev->numa_node = device_numa_node(dev->info);
            pthread_mutex_init(&dev->open_lock, NULL);
            dev->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_DEVICE, dev);
            ctx->device_count++;
            if (!dev->obj.handle)
                return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
        }
    }
    return AIDEV_SUCCESS;
}

static aidev_status make_reports(aidev_context_obj *ctx, aidev_registry_backend *reg,
                                 uint32_t reg_count, aidev_registry_backend **chosen,
                                 uint32_t chosen_count)
{
    ctx->backends = calloc(reg_count ? reg_count : 1, sizeof *ctx->backends);
    if (!ctx->backends)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < reg_count; i++) {
        aidev_backend_report *r = &ctx->backends[i];
        r->name = reg[i].name;
        r->path = reg[i].path;
        r->state = reg[i].state;
        r->reason = reg[i].reason;
        r->abi_version = reg[i].abi_version;
        for (uint32_t c = 0; c < chosen_count; c++)
            if (chosen[c] == &reg[i])
                r->device_count = reg[i].device_count;
    }
    ctx->backend_count = reg_count;
    return AIDEV_SUCCESS;
}

static void context_free(aidev_context_obj *ctx, bool registry_held)
{
    aidev_tier_context_fini(ctx);
    aidev_placement_context_fini(ctx);
    aidev_io_engine_destroy(ctx->io);
    for (uint32_t i = 0; i < ctx->device_count; i++) {
        aidev_device_close(&ctx->devices[i]);
        aidev_handle_free(ctx->devices[i].obj.handle);
        pthread_mutex_destroy(&ctx->devices[i].open_lock);
    }
    free(ctx->devices);
    free(ctx->backends);
    aidev_buffer_spares_free(ctx);
    pthread_mutex_destroy(&ctx->spare_lock);
    if (ctx->obj.handle)
        aidev_handle_free(ctx->obj.handle);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
    if (registry_held)
        aidev_registry_release();
}

AIDEV_API aidev_status aidev_context_create(const aidev_context_desc *desc,
                                            aidev_context *out_context)
{
    aidev_error_clear();
    aidev_status st;
    if (!out_context)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_context: NULL");
    *out_context = NULL;

    uint64_t limit = desc ? desc->memory_limit : 0;
    const char *limit_source = limit ? "aidev_context_desc.memory_limit" : "none";
    if (!limit) {
        aidev_env_result env = aidev_env_mem_limit(&limit);
        if (env == AIDEV_ENV_BAD)
            return AIDEV_ERROR_INVALID_ARGUMENT; /* the message is set */
        if (limit)
            limit_source = "AIDEV_MEM_LIMIT";
    }
    bool zero_on_free;
    if (aidev_env_zero_on_free(&zero_on_free) == AIDEV_ENV_BAD)
        return AIDEV_ERROR_INVALID_ARGUMENT;

    aidev_trace_start();
    aidev_context_obj *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_mutex_init(&ctx->spare_lock, NULL);
    aidev_tier_pool_init(&ctx->tier_pool);
    ctx->list.next = ctx->list.prev = &ctx->list;
    atomic_init(&ctx->memory_limit, limit);
    atomic_init(&ctx->limit_source, limit_source);
    ctx->zero_on_free = zero_on_free;
    ctx->obj.type = AIDEV_HANDLE_CONTEXT;
    ctx->obj.context = ctx;

    aidev_registry_backend *reg;
    uint32_t reg_count;
    st = aidev_registry_acquire(&reg, &reg_count);
    if (st != AIDEV_SUCCESS) {
        context_free(ctx, false);
        return st;
    }
    aidev_registry_backend *chosen[64];
    uint32_t chosen_count;
    st = choose_backends(desc, reg, reg_count, chosen, &chosen_count);
    if (st == AIDEV_SUCCESS)
        st = make_reports(ctx, reg, reg_count, chosen, chosen_count);
    if (st == AIDEV_SUCCESS)
        st = make_devices(ctx, chosen, chosen_count);
    if (st == AIDEV_SUCCESS) {
        ctx->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_CONTEXT, ctx);
        if (!ctx->obj.handle)
            st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    }
    if (st != AIDEV_SUCCESS) {
        context_free(ctx, true);
        return st;
    }
    *out_context = (aidev_context)ctx->obj.handle;
    return AIDEV_SUCCESS;
}

/* Takes the first object of |type| off the list, or NULL. */
static aidev_object *take_first(aidev_context_obj *ctx, aidev_handle_type type)
{
    aidev_object *found = NULL;
    pthread_mutex_lock(&ctx->lock);
    for (aidev_object *o = ctx->list.next; o != &ctx->list; o = o->next) {
        if (o->type == type) {
            found = o;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    return found;
}

/* What only the program could have started or completed never will now:
 * commands still held in the hal's queues are cancelled, then the pending
 * user events (with or without a handle), so every command waiting on them
 * ends and the queues can drain. Callbacks run on this thread, with no
 * lock held (they may call aidev, on objects of other contexts). */
static void cancel_pending_work(aidev_context_obj *ctx)
{
    static const char why[] = "the context was released before it ran";
    pthread_mutex_lock(&ctx->lock);
    size_t count = 0;
    for (aidev_object *o = ctx->list.next; o != &ctx->list; o = o->next)
        count += o->type == AIDEV_HANDLE_QUEUE;
    aidev_queue_obj **queues = malloc((count ? count : 1) * sizeof *queues);
    size_t n = 0;
    for (aidev_object *o = ctx->list.next; queues && o != &ctx->list; o = o->next)
        if (o->type == AIDEV_HANDLE_QUEUE)
            queues[n++] = (aidev_queue_obj *)o;
    pthread_mutex_unlock(&ctx->lock);
    /* Out of memory: the held commands run instead of being cancelled;
     * the user events below still unblock them. */
    for (size_t i = 0; i < n; i++)
        aidev_queue_cancel_held(queues[i], why);
    free(queues);
    aidev_event_cancel_user_events(ctx, "the context was released");
}

AIDEV_API aidev_status aidev_context_release(aidev_context context)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    /* The handle goes first so no other call starts on this context. */
    aidev_handle_free(ctx->obj.handle);
    ctx->obj.handle = 0;

    cancel_pending_work(ctx);

    /* Graphs first (a recording completes its capture events; an
     * instantiated graph waits for its launches, and its backend graphs
     * go before their queues); then queues: they finish their commands,
     * which use the kernels and buffers and signal the events; context
     * buffers (they release their device copies); buffers last. Each
     * object's own destroy unlinks it. */
    static const aidev_handle_type teardown_order[] = {
        AIDEV_HANDLE_GRAPH,  AIDEV_HANDLE_GRAPH_EXEC, AIDEV_HANDLE_QUEUE,
        AIDEV_HANDLE_EVENT, AIDEV_HANDLE_KERNEL,     AIDEV_HANDLE_CONTEXT_BUFFER,
        AIDEV_HANDLE_BUFFER};
    for (size_t i = 0; i < sizeof teardown_order / sizeof teardown_order[0]; i++) {
        aidev_object *o;
        while ((o = take_first(ctx, teardown_order[i])))
            o->destroy(o);
    }
    /* Exported tensors may still use the memory of some buffers: then the
     * last of their deleters frees the context. */
    pthread_mutex_lock(&ctx->lock);
    ctx->released = true;
    bool last = ctx->pins == 0;
    pthread_mutex_unlock(&ctx->lock);
    if (last)
        context_free(ctx, true);
    aidev_trace_flush();
    return AIDEV_SUCCESS;
}

void aidev_context_pin(aidev_context_obj *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->pins++;
    pthread_mutex_unlock(&ctx->lock);
}

void aidev_context_unpin(aidev_context_obj *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    bool last = --ctx->pins == 0 && ctx->released;
    pthread_mutex_unlock(&ctx->lock);
    if (last)
        context_free(ctx, true);
}

AIDEV_API aidev_status aidev_context_get_backends(aidev_context context, uint32_t *count,
                                                  aidev_backend_report *out_reports)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!count)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "count: NULL");
    if (!out_reports) {
        *count = ctx->backend_count;
        return AIDEV_SUCCESS;
    }
    uint32_t n = *count < ctx->backend_count ? *count : ctx->backend_count;
    memcpy(out_reports, ctx->backends, n * sizeof *out_reports);
    *count = n;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_context_get_devices(aidev_context context, uint32_t *count,
                                                 aidev_device *out_devices)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!count)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "count: NULL");
    if (!out_devices) {
        *count = ctx->device_count;
        return AIDEV_SUCCESS;
    }
    uint32_t n = *count < ctx->device_count ? *count : ctx->device_count;
    for (uint32_t i = 0; i < n; i++)
        out_devices[i] = (aidev_device)ctx->devices[i].obj.handle;
    *count = n;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_context_get_device(aidev_context context, uint32_t index,
                                                aidev_device *out_device)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_device)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_device: NULL");
    if (index >= ctx->device_count)
        return aidev_error(AIDEV_ERROR_NOT_FOUND, "index: %u, but the context has %u device%s",
                           index, ctx->device_count, ctx->device_count == 1 ? "" : "s");
    *out_device = (aidev_device)ctx->devices[index].obj.handle;
    return AIDEV_SUCCESS;
}

/*
 * context.c - the context: its devices, its backend reports, the list of
 * every object made from it, and its memory quota.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

void aidev_context_link(aidev_context_obj *ctx, aidev_object *o, aidev_handle_type type)
{
    o->type = type;
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

aidev_status aidev_context_charge(aidev_context_obj *ctx, uint64_t bytes)
{
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&ctx->lock);
    if (ctx->memory_limit &&
        (bytes > ctx->memory_limit || ctx->memory_used > ctx->memory_limit - bytes))
        st = aidev_error(AIDEV_ERROR_QUOTA,
                         "allocation of %llu bytes exceeds the context's memory limit of %llu "
                         "bytes (%llu in use)",
                         (unsigned long long)bytes, (unsigned long long)ctx->memory_limit,
                         (unsigned long long)ctx->memory_used);
    else
        ctx->memory_used += bytes;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

void aidev_context_refund(aidev_context_obj *ctx, uint64_t bytes)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->memory_used -= bytes < ctx->memory_used ? bytes : ctx->memory_used;
    pthread_mutex_unlock(&ctx->lock);
}

/* "2G", "512M", "64k", "1000": bytes, or false when malformed. */
static bool parse_size(const char *s, uint64_t *out)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return false;
    uint64_t mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1ull << 10; end++; break;
    case 'M': mul = 1ull << 20; end++; break;
    case 'G': mul = 1ull << 30; end++; break;
    case 'T': mul = 1ull << 40; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (v && mul > UINT64_MAX / v))
        return false;
    *out = v * mul;
    return true;
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
    aidev_io_engine_destroy(ctx->io);
    for (uint32_t i = 0; i < ctx->device_count; i++) {
        aidev_device_close(&ctx->devices[i]);
        aidev_handle_free(ctx->devices[i].obj.handle);
        pthread_mutex_destroy(&ctx->devices[i].open_lock);
    }
    free(ctx->devices);
    free(ctx->backends);
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
    if (!out_context)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_context: NULL");
    *out_context = NULL;

    uint64_t limit = desc ? desc->memory_limit : 0;
    const char *env_limit = getenv("AIDEV_MEM_LIMIT");
    if (!limit && env_limit && *env_limit && !parse_size(env_limit, &limit))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "AIDEV_MEM_LIMIT='%s' is not a size (examples: 2G, 512M, 65536)",
                           env_limit);

    aidev_trace_start();
    aidev_context_obj *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->list.next = ctx->list.prev = &ctx->list;
    ctx->memory_limit = limit;
    ctx->obj.type = AIDEV_HANDLE_CONTEXT;
    ctx->obj.context = ctx;

    aidev_registry_backend *reg;
    uint32_t reg_count;
    aidev_status st = aidev_registry_acquire(&reg, &reg_count);
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

    /* Pending user events would hold queues forever: cancel them, so what
     * waits on them completes (with AIDEV_ERROR_DEPENDENCY). */
    pthread_mutex_lock(&ctx->lock);
    for (aidev_object *o = ctx->list.next; o != &ctx->list; o = o->next) {
        aidev_event_obj *e = (aidev_event_obj *)o;
        if (o->type == AIDEV_HANDLE_EVENT && e->user_event &&
            atomic_load(&e->state) == 0) {
            pthread_mutex_unlock(&ctx->lock);
            aidev_event_complete(e, AIDEV_ERROR_CANCELLED, "the context was released");
            pthread_mutex_lock(&ctx->lock);
            o = &ctx->list; /* the list may have changed: start over */
        }
    }
    pthread_mutex_unlock(&ctx->lock);

    aidev_object *o;
    while ((o = take_first(ctx, AIDEV_HANDLE_QUEUE)))
        aidev_queue_destroy_for_context((aidev_queue_obj *)o);
    while ((o = take_first(ctx, AIDEV_HANDLE_EVENT)))
        aidev_event_destroy_for_context((aidev_event_obj *)o);
    while ((o = take_first(ctx, AIDEV_HANDLE_KERNEL)))
        aidev_kernel_destroy_for_context((aidev_kernel_obj *)o);
    while ((o = take_first(ctx, AIDEV_HANDLE_BUFFER)))
        aidev_buffer_destroy_for_context((aidev_buffer_obj *)o);
    context_free(ctx, true);
    aidev_trace_flush();
    return AIDEV_SUCCESS;
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

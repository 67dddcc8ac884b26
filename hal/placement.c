/*
 * placement.c - context buffers: the object, its host copy, its device
 * copies and what aidev_buffer_get_info says of it (hal/placement.h says
 * how the pieces fit; hal/placement_order.c keeps the copies coherent).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hostmem.h"
#include "hal/placement.h"

#define PLACED_FLAGS (AIDEV_BUFFER_UNINITIALIZED | AIDEV_BUFFER_ZERO_ON_FREE | AIDEV_BUFFER_PINNED)

/* ------------------------------------------------------------------------ */
/* The host copy's memory                                                   */
/* ------------------------------------------------------------------------ */

struct aidev_placed_host {
    atomic_uint refs;
    bool scrub; /* AIDEV_BUFFER_ZERO_ON_FREE */
    aidev_backend_host_block block;
};

static void placed_host_unref(void *arg)
{
    aidev_placed_host *h = arg;
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    aidev_hostmem_free(&h->block, h->scrub);
    free(h);
}

static void placed_host_transfer_done(aidev_backend_event *e, aidev_status status, void *arg)
{
    (void)e;
    (void)status;
    placed_host_unref(arg);
}

void aidev_placed_host_keep(aidev_placed_host *h, aidev_event_obj *e)
{
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    aidev_backend_event_on_complete(e, placed_host_transfer_done, h);
}

void *aidev_placed_host_ptr(const aidev_placed_host *h)
{
    return h->block.ptr;
}

/* ------------------------------------------------------------------------ */
/* The context's state                                                      */
/* ------------------------------------------------------------------------ */

/* The context's placement state, made with its first context buffer. */
static aidev_status placement_ensure(aidev_context_obj *ctx, aidev_placement **out)
{
    aidev_placement *pl = aidev_placement_of(ctx);
    if (pl) {
        *out = pl;
        return AIDEV_SUCCESS;
    }
    pthread_mutex_lock(&ctx->lock);
    pl = aidev_placement_of(ctx);
    if (!pl && (pl = calloc(1, sizeof *pl)) &&
        !(pl->transfer = calloc(ctx->device_count ? ctx->device_count : 1, sizeof *pl->transfer))) {
        free(pl);
        pl = NULL;
    }
    if (pl && !aidev_placement_of(ctx)) {
        /* Recursive: a callback run within a submit (an event completed
         * at once) may enqueue on context buffers itself. */
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&pl->lock, &attr);
        pthread_mutexattr_destroy(&attr);
        pl->device_count = ctx->device_count;
        atomic_store_explicit(&ctx->placement, pl, memory_order_release);
    }
    pthread_mutex_unlock(&ctx->lock);
    *out = pl;
    return pl ? AIDEV_SUCCESS : aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
}

void aidev_placement_context_fini(aidev_context_obj *ctx)
{
    aidev_placement *pl = aidev_placement_of(ctx);
    if (!pl)
        return;
    /* The transfer queues were the context's, and went with its queues. */
    pthread_mutex_destroy(&pl->lock);
    free(pl->transfer);
    free(pl);
    atomic_store_explicit(&ctx->placement, NULL, memory_order_relaxed);
}

aidev_status aidev_placement_transfer_queue(aidev_placement *pl, const aidev_device_obj *dev,
                                            aidev_queue_obj **out)
{
    if (pl->transfer[dev->index]) {
        *out = pl->transfer[dev->index];
        return AIDEV_SUCCESS;
    }
    aidev_queue h;
    aidev_status st = aidev_queue_create((aidev_device)dev->obj.handle,
                                         AIDEV_QUEUE_PRIORITY_NORMAL, &h);
    if (st == AIDEV_SUCCESS)
        st = aidev_lookup_queue(h, "queue", &pl->transfer[dev->index]);
    if (st != AIDEV_SUCCESS)
        return aidev_error(st, "context buffer: no transfer queue on device %u (%s): %s",
                           dev->index, dev->info->name, aidev_error_message());
    *out = pl->transfer[dev->index];
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Creation and release                                                     */
/* ------------------------------------------------------------------------ */

/* Whether |dev| can use the host copy in place: its memory is host memory
 * and it imports host memory (the import may still be refused, for
 * alignment: the device then gets a copy of its own). */
static bool device_uses_host_copy(const aidev_device_obj *dev)
{
    const uint64_t both = AIDEV_FEATURE_UNIFIED_MEMORY | AIDEV_FEATURE_HOST_IMPORT;
    return (dev->info->features & both) == both;
}

static void place_forget(aidev_place *pc)
{
    if (pc->last_write)
        aidev_backend_event_release(pc->last_write);
    for (uint32_t i = 0; i < pc->reader_count; i++)
        aidev_backend_event_release(pc->readers[i]);
    free(pc->readers);
    memset(pc, 0, sizeof *pc);
}

/* Ends |p|: its device copies go (each freed once its last command is
 * done), the host copy once no transfer uses it. */
static void placed_free(aidev_placed_buffer *p)
{
    for (uint32_t i = 0; p->copies && i < p->device_count; i++)
        if (p->copies[i])
            aidev_buffer_release((aidev_buffer)p->copies[i]->obj.handle);
    for (uint32_t i = 0; p->places && i <= p->device_count; i++)
        place_forget(&p->places[i]);
    if (p->host)
        placed_host_unref(p->host);
    free(p->copies);
    free(p->place_of);
    free(p->places);
    free(p);
}

static void placed_unpublish(aidev_placed_buffer *p)
{
    aidev_placement *pl = aidev_placement_of(p->obj.context);
    aidev_context_unlink(&p->obj);
    aidev_handle_free(p->obj.handle);
    p->obj.handle = 0;
    /* Under the lock: a submit on another thread may be using it. */
    pthread_mutex_lock(&pl->lock);
    placed_free(p);
    pthread_mutex_unlock(&pl->lock);
}

static void placed_destroy_linked(aidev_object *o)
{
    placed_unpublish((aidev_placed_buffer *)o);
}

aidev_status aidev_placed_release(aidev_placed_buffer *p)
{
    placed_unpublish(p);
    return AIDEV_SUCCESS;
}

static aidev_status check_desc(const aidev_buffer_desc *desc, aidev_buffer *out_buffer)
{
    if (!desc)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc: NULL");
    if (!out_buffer)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_buffer: NULL");
    *out_buffer = NULL;
    if (desc->size == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->size: 0 bytes");
    if (desc->kind != AIDEV_MEMORY_DEVICE)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "desc->kind: %d; a context buffer is AIDEV_MEMORY_DEVICE (its device "
                           "copies are device memory, its home copy host memory)",
                           (int)desc->kind);
    if (desc->flags & ~PLACED_FLAGS)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->flags: unknown bits %#x",
                           desc->flags & ~PLACED_FLAGS);
    size_t esize = aidev_type_bytes(desc->element_type);
    if (esize == 0 && desc->element_type != AIDEV_TYPE_NONE)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "desc->element_type: %d is not an aidev_type", (int)desc->element_type);
    if (desc->size % esize)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "desc->size: %llu bytes is not a whole number of %s elements",
                           (unsigned long long)desc->size, aidev_type_name(desc->element_type));
    return AIDEV_SUCCESS;
}

static aidev_status placed_new(aidev_context_obj *ctx, const aidev_buffer_desc *desc,
                               aidev_placed_buffer **out)
{
    aidev_placed_buffer *p = calloc(1, sizeof *p);
    uint32_t n = ctx->device_count;
    if (!p)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    p->size = desc->size;
    p->element_type = desc->element_type;
    p->flags = desc->flags;
    p->device_count = n;
    p->place_of = calloc(n ? n : 1, sizeof *p->place_of);
    p->copies = calloc(n ? n : 1, sizeof *p->copies);
    p->places = calloc(n + 1, sizeof *p->places);
    p->host = calloc(1, sizeof *p->host);
    if (!p->place_of || !p->copies || !p->places || !p->host) {
        placed_free(p);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    atomic_init(&p->host->refs, 1);
    p->host->scrub = (desc->flags & AIDEV_BUFFER_ZERO_ON_FREE) || ctx->zero_on_free;
    aidev_status st = aidev_hostmem_alloc(
        desc->size, -1,
        (desc->flags & AIDEV_BUFFER_UNINITIALIZED) ? AIDEV_HOST_ALLOC_UNINITIALIZED : 0,
        &p->host->block);
    if (st != AIDEV_SUCCESS) {
        free(p->host);
        p->host = NULL;
        placed_free(p);
        return st;
    }
    for (uint32_t i = 0; i < n; i++)
        p->place_of[i] = device_uses_host_copy(&ctx->devices[i]) ? 0 : 1 + i;
    /* The host copy holds the contents (zeros, or whatever they are). */
    p->places[0].valid = true;
    *out = p;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_context_buffer_create(aidev_context context,
                                                   const aidev_buffer_desc *desc,
                                                   aidev_buffer *out_buffer)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_placement *pl;
    aidev_placed_buffer *p = NULL;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st == AIDEV_SUCCESS)
        st = check_desc(desc, out_buffer);
    if (st == AIDEV_SUCCESS)
        st = placement_ensure(ctx, &pl);
    if (st == AIDEV_SUCCESS)
        st = placed_new(ctx, desc, &p);
    if (st != AIDEV_SUCCESS)
        return st;
    p->obj.context = ctx;
    p->obj.handle = aidev_handle_alloc(AIDEV_HANDLE_CONTEXT_BUFFER, p);
    if (!p->obj.handle) {
        placed_free(p);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "handle table full");
    }
    aidev_context_link(ctx, &p->obj, AIDEV_HANDLE_CONTEXT_BUFFER, placed_destroy_linked);
    *out_buffer = (aidev_buffer)p->obj.handle;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Device copies                                                            */
/* ------------------------------------------------------------------------ */

/* Makes |p|'s copy on |dev|: an import of the host copy where the device
 * uses it in place, else (or when the import is refused) device memory of
 * its own. */
static aidev_status copy_make(aidev_placed_buffer *p, const aidev_device_obj *dev,
                              const char *what)
{
    aidev_device_obj *d = &p->obj.context->devices[dev->index];
    aidev_buffer h = NULL;
    aidev_status st = AIDEV_ERROR_UNSUPPORTED;
    if (p->place_of[dev->index] == 0) {
        atomic_fetch_add_explicit(&p->host->refs, 1, memory_order_relaxed);
        st = aidev_buffer_import_owned(d, p->host->block.ptr, p->size, p->element_type,
                                       placed_host_unref, p->host, &h);
        if (st != AIDEV_SUCCESS) {
            atomic_fetch_sub_explicit(&p->host->refs, 1, memory_order_relaxed);
            p->place_of[dev->index] = 1 + dev->index; /* a copy of its own, then */
        }
    }
    if (st != AIDEV_SUCCESS) {
        aidev_buffer_desc desc = {.size = p->size, .kind = AIDEV_MEMORY_DEVICE,
                                  .element_type = p->element_type,
                                  .flags = p->flags | AIDEV_BUFFER_UNINITIALIZED};
        st = aidev_buffer_create((aidev_device)d->obj.handle, &desc, &h);
    }
    if (st != AIDEV_SUCCESS)
        return aidev_error(st, "%s: context buffer of %llu bytes: no copy on device %u (%s): %s",
                           what, (unsigned long long)p->size, dev->index, dev->info->name,
                           aidev_error_message());
    aidev_buffer_obj *b;
    aidev_lookup_buffer(h, "buffer", &b);
    b->flags |= AIDEV_BUFFER_CONTEXT_COPY;
    b->placed = p;
    p->copies[dev->index] = b;
    return AIDEV_SUCCESS;
}

aidev_status aidev_placed_copy_for(aidev_buffer h, const aidev_device_obj *dev, const char *what,
                                   aidev_buffer_obj **out)
{
    aidev_placed_buffer *p = aidev_handle_get((uintptr_t)h, AIDEV_HANDLE_CONTEXT_BUFFER);
    /* The failed lookup of a device buffer left its message: not ours. */
    aidev_error_buffer()[0] = '\0';
    if (!p)
        return aidev_lookup_failed((uintptr_t)h, AIDEV_HANDLE_BUFFER, what);
    if (p->obj.context != dev->obj.context)
        return aidev_error(AIDEV_ERROR_INVALID_HANDLE,
                           "%s: the context buffer belongs to another context", what);
    aidev_placement *pl = aidev_placement_of(p->obj.context);
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&pl->lock);
    if (!p->copies[dev->index])
        st = copy_make(p, dev, what);
    *out = p->copies[dev->index];
    pthread_mutex_unlock(&pl->lock);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Info                                                                     */
/* ------------------------------------------------------------------------ */

aidev_status aidev_placed_get_info(aidev_placed_buffer *p, aidev_buffer_info key,
                                   size_t value_size, void *value, size_t *size_ret)
{
    uint32_t u32;
    uint64_t u64;
    aidev_placement *pl = aidev_placement_of(p->obj.context);
    switch (key) {
    case AIDEV_BUFFER_INFO_SIZE:
        return aidev_info_put(&p->size, sizeof p->size, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_SIZE");
    case AIDEV_BUFFER_INFO_KIND:
        u32 = AIDEV_MEMORY_DEVICE;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_KIND");
    case AIDEV_BUFFER_INFO_ELEMENT_TYPE:
        u32 = (uint32_t)p->element_type;
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_ELEMENT_TYPE");
    case AIDEV_BUFFER_INFO_FLAGS:
        return aidev_info_put(&p->flags, sizeof p->flags, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_FLAGS");
    case AIDEV_BUFFER_INFO_VALID_DEVICES:
        u64 = 0;
        pthread_mutex_lock(&pl->lock);
        for (uint32_t i = 0; i < p->device_count && i < 64; i++)
            if (p->places[p->place_of[i]].valid)
                u64 |= 1ull << i;
        pthread_mutex_unlock(&pl->lock);
        return aidev_info_put(&u64, sizeof u64, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_VALID_DEVICES");
    case AIDEV_BUFFER_INFO_VALID_HOST:
        pthread_mutex_lock(&pl->lock);
        u32 = p->places[0].valid;
        pthread_mutex_unlock(&pl->lock);
        return aidev_info_put(&u32, sizeof u32, value_size, value, size_ret,
                              "AIDEV_BUFFER_INFO_VALID_HOST");
    case AIDEV_BUFFER_INFO_DEVICE:
    case AIDEV_BUFFER_INFO_IMPORTED:
    case AIDEV_BUFFER_INFO_PAGE_KIND:
    case AIDEV_BUFFER_INFO_NUMA_NODE:
    case AIDEV_BUFFER_INFO_HOST_ADDRESS:
    case AIDEV_BUFFER_INFO_RESIDENT:
    case AIDEV_BUFFER_INFO_STORED_BYTES:
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "key: %d describes one device's memory; a context buffer has a copy "
                           "per device (ask AIDEV_BUFFER_INFO_VALID_DEVICES)",
                           (int)key);
    }
    return aidev_error(AIDEV_ERROR_NOT_FOUND, "key: %d is not an aidev_buffer_info", (int)key);
}

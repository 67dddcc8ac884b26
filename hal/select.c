/*
 * select.c - aidev_device_select: the device that meets a set of
 * requirements and sits best for the work (where its data already lives,
 * then the fastest kind of device, then the most memory).
 *
 * When nothing qualifies, the requirements are applied one after another
 * and the message names the one that left no device, with what each device
 * that got that far offers instead: "no device offers ..., device 0 (cpu,
 * ...) offers ...".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hal/internal.h"

typedef enum requirement {
    REQ_TYPE,
    REQ_KINDS,
    REQ_MEMORY,
    REQ_FEATURES,
    REQ_COUNT_
} requirement;

static const char *type_name(aidev_device_type t)
{
    switch (t) {
    case AIDEV_DEVICE_TYPE_CPU:
        return "CPU";
    case AIDEV_DEVICE_TYPE_GPU:
        return "GPU";
    case AIDEV_DEVICE_TYPE_ACCELERATOR:
        return "ACCELERATOR";
    case AIDEV_DEVICE_TYPE_OTHER:
        return "OTHER";
    }
    return "?";
}

static const char *const kind_names[AIDEV_MEMORY_KIND_COUNT_] = {"DEVICE", "HOST", "SHARED"};

/* "GPU|CPU", "DEVICE|SHARED": the names of the bits of |mask|. */
static void mask_names(char *out, size_t size, uint32_t mask, bool kinds)
{
    out[0] = '\0';
    size_t used = 0;
    for (uint32_t bit = 0; bit < 32; bit++) {
        if (!(mask & (1u << bit)))
            continue;
        const char *name = kinds ? (bit < AIDEV_MEMORY_KIND_COUNT_ ? kind_names[bit] : "?")
                                 : type_name((aidev_device_type)bit);
        int n = snprintf(out + used, size - used, "%s%s", used ? "|" : "", name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!used)
        snprintf(out, size, "none");
}

static bool meets(const aidev_device_obj *dev, const aidev_device_requirements *req,
                  requirement r)
{
    const aidev_backend_device_info *in = dev->info;
    switch (r) {
    case REQ_TYPE:
        return !req->types || (req->types & AIDEV_DEVICE_TYPE_BIT(in->type));
    case REQ_KINDS:
        return (in->memory_kinds & req->memory_kinds) == req->memory_kinds;
    case REQ_MEMORY:
        return in->memory_bytes >= req->min_memory_bytes;
    case REQ_FEATURES:
        return (in->features & req->features) == req->features;
    case REQ_COUNT_:
        break;
    }
    return true;
}

/* What |dev| offers for requirement |r|, for the message. */
static void offers(const aidev_device_obj *dev, const aidev_device_requirements *req,
                   requirement r, char *out, size_t size)
{
    const aidev_backend_device_info *in = dev->info;
    char names[128];
    switch (r) {
    case REQ_TYPE:
        snprintf(out, size, "is a %s", type_name(in->type));
        return;
    case REQ_KINDS:
        mask_names(names, sizeof names, in->memory_kinds, true);
        snprintf(out, size, "offers %s", names);
        return;
    case REQ_MEMORY:
        snprintf(out, size, "has %" PRIu64 " bytes", in->memory_bytes);
        return;
    case REQ_FEATURES:
        snprintf(out, size, "lacks features %#" PRIx64, req->features & ~in->features);
        return;
    case REQ_COUNT_:
        break;
    }
    out[0] = '\0';
}

static aidev_status explain_none(const aidev_context_obj *ctx,
                                 const aidev_device_requirements *req)
{
    if (ctx->device_count == 0)
        return aidev_error(AIDEV_ERROR_NOT_FOUND, "the context has no devices");
    /* Which requirement emptied the list. */
    requirement r = REQ_TYPE;
    for (; r < REQ_COUNT_; r++) {
        bool any = false;
        for (uint32_t i = 0; i < ctx->device_count && !any; i++) {
            bool ok = true;
            for (requirement p = REQ_TYPE; p <= r; p++)
                ok = ok && meets(&ctx->devices[i], req, p);
            any = ok;
        }
        if (!any)
            break;
    }
    char want[256], names[128];
    switch (r) {
    case REQ_TYPE:
        mask_names(names, sizeof names, req->types, false);
        snprintf(want, sizeof want, "is of type %s (req->types)", names);
        break;
    case REQ_KINDS:
        mask_names(names, sizeof names, req->memory_kinds, true);
        snprintf(want, sizeof want, "offers memory kinds %s (req->memory_kinds)", names);
        break;
    case REQ_MEMORY:
        snprintf(want, sizeof want, "has %" PRIu64 " bytes of memory (req->min_memory_bytes)",
                 req->min_memory_bytes);
        break;
    default:
        snprintf(want, sizeof want, "has features %#" PRIx64 " (req->features)", req->features);
        break;
    }
    /* What the devices that passed the earlier requirements offer. */
    char list[1024] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < ctx->device_count; i++) {
        const aidev_device_obj *dev = &ctx->devices[i];
        bool earlier = true;
        for (requirement p = REQ_TYPE; p < r; p++)
            earlier = earlier && meets(dev, req, p);
        if (!earlier)
            continue;
        char what[192];
        offers(dev, req, r, what, sizeof what);
        int n = snprintf(list + used, sizeof list - used, "%sdevice %u (%s, %s) %s",
                         used ? "; " : "", dev->index, dev->backend->name, dev->info->name, what);
        if (n < 0 || (size_t)n >= sizeof list - used)
            break;
        used += (size_t)n;
    }
    return aidev_error(AIDEV_ERROR_NOT_FOUND, "no device %s%s: %s", want,
                       r > REQ_TYPE ? " among those meeting the earlier requirements" : "", list);
}

/* Lower is better. */
static int type_rank(aidev_device_type t)
{
    switch (t) {
    case AIDEV_DEVICE_TYPE_GPU:
        return 0;
    case AIDEV_DEVICE_TYPE_ACCELERATOR:
        return 1;
    case AIDEV_DEVICE_TYPE_OTHER:
        return 2;
    case AIDEV_DEVICE_TYPE_CPU:
        return 3;
    }
    return 4;
}

/* True when |a| ranks before |b| for work near |holder| / |node|. */
static bool better(const aidev_device_obj *a, const aidev_device_obj *b,
                   const aidev_device_obj *holder, int32_t node)
{
    if ((a == holder) != (b == holder))
        return a == holder;
    int ta = type_rank(a->info->type), tb = type_rank(b->info->type);
    if (ta != tb)
        return ta < tb;
    bool na = node >= 0 && a->numa_node == node, nb = node >= 0 && b->numa_node == node;
    if (na != nb)
        return na;
    if (a->info->memory_bytes != b->info->memory_bytes)
        return a->info->memory_bytes > b->info->memory_bytes;
    return a->index < b->index;
}

AIDEV_API aidev_status aidev_device_select(aidev_context context,
                                           const aidev_device_requirements *req,
                                           aidev_device *out_device)
{
    aidev_error_clear();
    aidev_context_obj *ctx;
    aidev_status st = aidev_lookup_context(context, "context", &ctx);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_device)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_device: NULL");
    *out_device = NULL;
    static const aidev_device_requirements none;
    if (!req)
        req = &none;
    if (req->memory_kinds & ~((1u << AIDEV_MEMORY_KIND_COUNT_) - 1))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "req->memory_kinds: %#x has bits of no aidev_memory_kind",
                           req->memory_kinds);
    if (req->types & ~(AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_CPU) |
                       AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_GPU) |
                       AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_ACCELERATOR) |
                       AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_OTHER)))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "req->types: %#x has bits of no aidev_device_type; use "
                           "AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_GPU) and the like",
                           req->types);

    const aidev_device_obj *holder = NULL;
    int32_t node = -1;
    if (req->near_buffer) {
        aidev_buffer_obj *b;
        st = aidev_lookup_buffer(req->near_buffer, "req->near_buffer", &b);
        if (st != AIDEV_SUCCESS)
            return st;
        if (b->obj.context != ctx)
            return aidev_error(AIDEV_ERROR_INVALID_HANDLE,
                               "req->near_buffer: the buffer belongs to another context");
        holder = b->device;
        aidev_backend_buffer_query q;
        aidev_buffer_query_obj(b, &q);
        node = q.numa_node >= 0 ? q.numa_node : b->device->numa_node;
    }

    const aidev_device_obj *best = NULL;
    for (uint32_t i = 0; i < ctx->device_count; i++) {
        const aidev_device_obj *dev = &ctx->devices[i];
        bool ok = true;
        for (requirement r = REQ_TYPE; r < REQ_COUNT_ && ok; r++)
            ok = meets(dev, req, r);
        if (ok && (!best || better(dev, best, holder, node)))
            best = dev;
    }
    if (!best)
        return explain_none(ctx, req);
    *out_device = (aidev_device)best->obj.handle;
    return AIDEV_SUCCESS;
}

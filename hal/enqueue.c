/*
 * enqueue.c - the enqueue calls: each checks its arguments, resolves its
 * handles and turns the call into a request (hal/scheduler.h) for the
 * scheduler. Every refusal names the argument and its values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/graph.h"
#include "hal/placement.h"

static aidev_status lookup_queue_buffer(aidev_queue_obj *q, aidev_buffer h, const char *what,
                                        aidev_buffer_obj **out)
{
    /* A context buffer names its copy on the queue's device. */
    aidev_status st = aidev_buffer_lookup_on(h, q->device, what, out);
    if (st != AIDEV_SUCCESS)
        return st;
    if ((*out)->obj.context != q->obj.context)
        return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "%s: the buffer belongs to another context",
                           what);
    if ((*out)->device != q->device)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: the buffer is on device %u, the queue on device %u; copy "
                           "through host memory between devices",
                           what, (*out)->device->index, q->device->index);
    /* An evicted buffer comes back at the submit (aidev_request_needs_touch),
     * where its memory is named again. */
    return AIDEV_SUCCESS;
}

static aidev_status check_range(const aidev_buffer_obj *b, const char *what, uint64_t offset,
                                uint64_t size)
{
    if (size == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "size: 0 bytes; nothing to do");
    if (offset > b->size || size > b->size - offset)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "%s: offset %llu + size %llu is outside the buffer of %llu bytes", what,
                           (unsigned long long)offset, (unsigned long long)size,
                           (unsigned long long)b->size);
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Enqueue calls                                                            */
/* ------------------------------------------------------------------------ */

/* A request for queue |q| with nothing in it yet. */
static void request_init(aidev_request *r, aidev_queue_obj *q, char *error,
                         aidev_event *out_event, uint32_t wait_count,
                         const aidev_event *wait_events)
{
    r->queue = q;
    r->error = error;
    /* Not the whole request: its buffer array is only read up to
     * buffer_count. */
    memset(&r->cmd, 0, sizeof r->cmd);
    r->kind = AIDEV_CMD_USER;
    r->bytes = 0;
    r->buffer_count = 0;
    r->args = NULL;
    r->touch_refs = false;
    r->kernel = NULL;
    r->has_op = false;
    r->op = (aidev_hal_op){0};
    r->wait_count = wait_count;
    r->wait_events = wait_events;
    r->out_event = out_event;
    r->wait_objs = NULL;
    r->signal = NULL;
    r->backend_graph = NULL;
}

static aidev_status begin(aidev_queue h, aidev_event *out_event, aidev_request *r,
                          uint32_t wait_count, const aidev_event *wait_events)
{
    char *error = aidev_error_buffer();
    error[0] = '\0';
    if (out_event)
        *out_event = NULL;
    aidev_queue_obj *q;
    aidev_status st = aidev_lookup_queue(h, "queue", &q);
    request_init(r, q, error, out_event, wait_count, wait_events);
    return st;
}

/* Graph nodes take device buffers: the order of a context buffer's
 * commands is made at each submit (hal/placement_order.c), which a graph
 * launch does not pass through. */
static aidev_status refuse_context_buffers(aidev_buffer_obj *const *buffers, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        if (buffers[i] && (buffers[i]->flags & AIDEV_BUFFER_CONTEXT_COPY))
            return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                               "a context buffer in a graph node: graphs take device buffers "
                               "(aidev_buffer_create); enqueue commands on context buffers "
                               "outside graphs");
    return AIDEV_SUCCESS;
}

/* A command captured into the graph |r|'s queue records into. */
static aidev_status capture_call(aidev_request *r, const aidev_graph_call *c)
{
    aidev_status st = refuse_context_buffers(r->buffers, r->buffer_count);
    return st == AIDEV_SUCCESS ? aidev_graph_capture(r, c) : st;
}

/* ------------------------------------------------------------------------ */
/* Requests: each call's checks, shared by the enqueue calls and graphs      */
/* ------------------------------------------------------------------------ */

/* The checks a write and a read share, in the order a program sees their
 * errors: the buffer's handle and queue, the range, then the host pointer
 * named |host_name|. */
static aidev_status check_host_transfer(const aidev_request *r, aidev_buffer buffer,
                                        uint64_t offset, uint64_t size, const void *host,
                                        const char *host_name, aidev_buffer_obj **out)
{
    aidev_status st = lookup_queue_buffer(r->queue, buffer, "buffer", out);
    if (st == AIDEV_SUCCESS)
        st = check_range(*out, "buffer", offset, size);
    if (st == AIDEV_SUCCESS && !host)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: NULL", host_name);
    return st;
}

static aidev_status request_write(aidev_request *r, aidev_buffer buffer, uint64_t offset,
                                  uint64_t size, const void *src)
{
    aidev_buffer_obj *b;
    aidev_status st = check_host_transfer(r, buffer, offset, size, src, "src", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    r->cmd.type = AIDEV_COMMAND_WRITE;
    r->kind = AIDEV_CMD_WRITE;
    r->bytes = size;
    r->cmd.u.write.buffer = b->native;
    r->cmd.u.write.offset = offset;
    r->cmd.u.write.size = size;
    r->cmd.u.write.src = src;
    r->buffers[r->buffer_count++] = b;
    return AIDEV_SUCCESS;
}

static aidev_status request_read(aidev_request *r, aidev_buffer buffer, uint64_t offset,
                                 uint64_t size, void *dst)
{
    aidev_buffer_obj *b;
    aidev_status st = check_host_transfer(r, buffer, offset, size, dst, "dst", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    r->cmd.type = AIDEV_COMMAND_READ;
    r->kind = AIDEV_CMD_READ;
    r->bytes = size;
    r->cmd.u.read.buffer = b->native;
    r->cmd.u.read.offset = offset;
    r->cmd.u.read.size = size;
    r->cmd.u.read.dst = dst;
    r->buffers[r->buffer_count++] = b;
    return AIDEV_SUCCESS;
}

static aidev_status request_copy(aidev_request *r, aidev_buffer src, uint64_t src_offset,
                                 aidev_buffer dst, uint64_t dst_offset, uint64_t size)
{
    aidev_buffer_obj *s, *d;
    aidev_status st = lookup_queue_buffer(r->queue, src, "src", &s);
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r->queue, dst, "dst", &d);
    if (st == AIDEV_SUCCESS)
        st = check_range(s, "src", src_offset, size);
    if (st == AIDEV_SUCCESS)
        st = check_range(d, "dst", dst_offset, size);
    if (st == AIDEV_SUCCESS && s == d &&
        src_offset < dst_offset + size && dst_offset < src_offset + size)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "src_offset %llu and dst_offset %llu: ranges of %llu bytes overlap in "
                         "one buffer",
                         (unsigned long long)src_offset, (unsigned long long)dst_offset,
                         (unsigned long long)size);
    if (st != AIDEV_SUCCESS)
        return st;
    r->cmd.type = AIDEV_COMMAND_COPY;
    r->kind = AIDEV_CMD_COPY;
    r->bytes = size;
    r->cmd.u.copy.src = s->native;
    r->cmd.u.copy.dst = d->native;
    r->cmd.u.copy.src_offset = src_offset;
    r->cmd.u.copy.dst_offset = dst_offset;
    r->cmd.u.copy.size = size;
    r->buffers[r->buffer_count++] = s;
    r->buffers[r->buffer_count++] = d;
    return AIDEV_SUCCESS;
}

static aidev_status request_fill(aidev_request *r, aidev_buffer buffer, uint64_t offset,
                                 uint64_t size, const void *pattern, uint32_t pattern_size)
{
    aidev_buffer_obj *b;
    aidev_status st = lookup_queue_buffer(r->queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS && !pattern)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "pattern: NULL");
    if (st == AIDEV_SUCCESS && pattern_size != 1 && pattern_size != 2 && pattern_size != 4)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "pattern_size: %u; use 1, 2 or 4 bytes",
                         pattern_size);
    if (st == AIDEV_SUCCESS && (offset % pattern_size || size % pattern_size))
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "offset %llu and size %llu must be multiples of pattern_size %u",
                         (unsigned long long)offset, (unsigned long long)size, pattern_size);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", offset, size);
    if (st != AIDEV_SUCCESS)
        return st;
    uint32_t word = 0;
    for (uint32_t i = 0; i < 4; i += pattern_size)
        memcpy((uint8_t *)&word + i, pattern, pattern_size);
    r->cmd.type = AIDEV_COMMAND_FILL;
    r->kind = AIDEV_CMD_FILL;
    r->bytes = size;
    r->cmd.u.fill.buffer = b->native;
    r->cmd.u.fill.offset = offset;
    r->cmd.u.fill.size = size;
    r->cmd.u.fill.pattern = word;
    r->cmd.u.fill.pattern_size = pattern_size;
    r->buffers[r->buffer_count++] = b;
    return AIDEV_SUCCESS;
}

static void request_barrier(aidev_request *r)
{
    r->cmd.type = AIDEV_COMMAND_BARRIER;
    r->kind = AIDEV_CMD_BARRIER;
}

static aidev_status request_host_callback(aidev_request *r, aidev_host_fn fn, void *user_data)
{
    if (!fn)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "fn: NULL");
    r->cmd.type = AIDEV_COMMAND_HOST_CALLBACK;
    r->kind = AIDEV_CMD_HOST_CALLBACK;
    r->cmd.u.host_callback.fn = fn;
    r->cmd.u.host_callback.user_data = user_data;
    if (!(r->queue->device->backend->vt.caps & AIDEV_BACKEND_CAP_HOST_CALLBACK)) {
        r->has_op = true;
        r->op = aidev_scheduler_host_callback_op();
    }
    return AIDEV_SUCCESS;
}

/* The checks of a file read; its op is the caller's to make. */
static aidev_status request_file_read(aidev_request *r, aidev_buffer buffer,
                                      uint64_t buffer_offset, uint64_t file_offset,
                                      uint64_t size, uint32_t flags)
{
    aidev_buffer_obj *b;
    aidev_status st = lookup_queue_buffer(r->queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", buffer_offset, size);
    if (st == AIDEV_SUCCESS && (flags & ~AIDEV_FILE_READ_DIRECT))
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "flags: unknown bits %#x",
                         flags & ~AIDEV_FILE_READ_DIRECT);
    if (st == AIDEV_SUCCESS && file_offset > (uint64_t)INT64_MAX - size)
        st = aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                         "file_offset %llu + size %llu is past the largest file offset",
                         (unsigned long long)file_offset, (unsigned long long)size);
    if (st != AIDEV_SUCCESS)
        return st;
    r->kind = AIDEV_CMD_FILE_READ;
    r->bytes = size;
    r->buffers[r->buffer_count++] = b;
    return AIDEV_SUCCESS;
}

/* The checks of a dispatch: |kernel| on |q|, its arguments resolved into
 * |resolved| and |buffers|, the grid and workgroup into |g| and |wg|. */
static aidev_status dispatch_check(aidev_queue_obj *q, aidev_kernel kernel,
                                   const uint32_t grid[3], const uint32_t workgroup[3],
                                   uint32_t arg_count, const aidev_arg *args,
                                   aidev_kernel_obj **out_kernel, aidev_backend_arg *resolved,
                                   aidev_buffer_obj **buffers, uint32_t g[3], uint32_t wg[3])
{
    aidev_kernel_obj *k;
    aidev_status st = aidev_lookup_kernel(kernel, "kernel", &k);
    if (st == AIDEV_SUCCESS && k->obj.context != q->obj.context)
        st = aidev_error(AIDEV_ERROR_INVALID_HANDLE, "kernel: belongs to another context");
    if (st != AIDEV_SUCCESS)
        return st;
    if (arg_count > AIDEV_MAX_KERNEL_ARGS)
        return aidev_error(AIDEV_ERROR_KERNEL_ARGS, "kernel '%s': %u arguments given, it takes %u",
                           k->desc->name, arg_count, k->desc->arg_count);
    *out_kernel = k;
    return aidev_kernel_check_args(k, q->device, arg_count, args, grid, workgroup, resolved,
                                   buffers, g, wg);
}

/* Fills |r| with a checked dispatch (|resolved| is where its arguments
 * are): a barrier when the grid has a zero dimension. */
static void request_dispatch_fill(aidev_request *r, aidev_kernel_obj *k,
                                  aidev_backend_arg *resolved, aidev_buffer_obj *const *buffers,
                                  const uint32_t g[3], const uint32_t wg[3], uint32_t arg_count)
{
    r->kind = AIDEV_CMD_DISPATCH;
    if (g[0] == 0 || g[1] == 0 || g[2] == 0) {
        /* Nothing to run; a barrier keeps the event in the queue's order. */
        r->cmd.type = AIDEV_COMMAND_BARRIER;
        return;
    }
    for (uint32_t i = 0; i < arg_count; i++)
        if (buffers[i])
            r->buffers[r->buffer_count++] = buffers[i];
    r->kernel = k;
    r->args = resolved;
    r->cmd = (aidev_backend_command){
        .type = AIDEV_COMMAND_DISPATCH,
        .u.dispatch = {.kernel = k->native,
                       .grid = {g[0], g[1], g[2]},
                       .workgroup = {wg[0], wg[1], wg[2]},
                       .arg_count = arg_count,
                       .args = resolved}};
}

static aidev_status request_build_call(aidev_queue_obj *q, const aidev_graph_call *call,
                                       aidev_request *r, aidev_backend_arg *args)
{
    request_init(r, q, aidev_error_buffer(), NULL, 0, NULL);
    switch (call->kind) {
    case AIDEV_CMD_WRITE:
        return request_write(r, call->u.write.buffer, call->u.write.offset, call->u.write.size,
                             call->u.write.src);
    case AIDEV_CMD_READ:
        return request_read(r, call->u.read.buffer, call->u.read.offset, call->u.read.size,
                            call->u.read.dst);
    case AIDEV_CMD_COPY:
        return request_copy(r, call->u.copy.src, call->u.copy.src_offset, call->u.copy.dst,
                            call->u.copy.dst_offset, call->u.copy.size);
    case AIDEV_CMD_FILL:
        return request_fill(r, call->u.fill.buffer, call->u.fill.offset, call->u.fill.size,
                            call->u.fill.pattern, call->u.fill.pattern_size);
    case AIDEV_CMD_BARRIER:
        request_barrier(r);
        return AIDEV_SUCCESS;
    case AIDEV_CMD_HOST_CALLBACK:
        return request_host_callback(r, call->u.host_callback.fn, call->u.host_callback.user_data);
    case AIDEV_CMD_FILE_READ:
        return request_file_read(r, call->u.file_read.buffer, call->u.file_read.buffer_offset,
                                 call->u.file_read.file_offset, call->u.file_read.size,
                                 call->u.file_read.flags);
    case AIDEV_CMD_DISPATCH: {
        const __typeof__(call->u.dispatch) *d = &call->u.dispatch;
        aidev_kernel_obj *k;
        aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
        uint32_t g[3], wg[3];
        aidev_status st = dispatch_check(q, d->kernel, d->has_grid ? d->grid : NULL,
                                         d->has_workgroup ? d->workgroup : NULL, d->arg_count,
                                         d->args, &k, args, buffers, g, wg);
        if (st == AIDEV_SUCCESS)
            request_dispatch_fill(r, k, args, buffers, g, wg, d->arg_count);
        return st;
    }
    default:
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "command kind %d: not a graph node",
                           (int)call->kind);
    }
}

aidev_status aidev_request_build(aidev_queue_obj *q, const aidev_graph_call *call,
                                 aidev_request *r, aidev_backend_arg *args)
{
    aidev_status st = request_build_call(q, call, r, args);
    return st == AIDEV_SUCCESS ? refuse_context_buffers(r->buffers, r->buffer_count) : st;
}

/* ------------------------------------------------------------------------ */
/* Enqueue calls                                                            */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_enqueue_write(aidev_queue queue, aidev_buffer buffer, uint64_t offset,
                                           uint64_t size, const void *src, uint32_t wait_count,
                                           const aidev_event *wait_events, aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st == AIDEV_SUCCESS)
        st = request_write(&r, buffer, offset, size, src);
    if (st != AIDEV_SUCCESS)
        return st;
    if (aidev_queue_capturing(r.queue)) {
        aidev_graph_call c = {.kind = AIDEV_CMD_WRITE,
                              .u.write = {buffer, offset, size, src}};
        return capture_call(&r, &c);
    }
    return aidev_scheduler_submit(&r);
}

AIDEV_API aidev_status aidev_enqueue_read(aidev_queue queue, aidev_buffer buffer, uint64_t offset,
                                          uint64_t size, void *dst, uint32_t wait_count,
                                          const aidev_event *wait_events, aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st == AIDEV_SUCCESS)
        st = request_read(&r, buffer, offset, size, dst);
    if (st != AIDEV_SUCCESS)
        return st;
    if (aidev_queue_capturing(r.queue)) {
        aidev_graph_call c = {.kind = AIDEV_CMD_READ, .u.read = {buffer, offset, size, dst}};
        return capture_call(&r, &c);
    }
    return aidev_scheduler_submit(&r);
}

AIDEV_API aidev_status aidev_enqueue_copy(aidev_queue queue, aidev_buffer src, uint64_t src_offset,
                                          aidev_buffer dst, uint64_t dst_offset, uint64_t size,
                                          uint32_t wait_count, const aidev_event *wait_events,
                                          aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st == AIDEV_SUCCESS)
        st = request_copy(&r, src, src_offset, dst, dst_offset, size);
    if (st != AIDEV_SUCCESS)
        return st;
    if (aidev_queue_capturing(r.queue)) {
        aidev_graph_call c = {.kind = AIDEV_CMD_COPY,
                              .u.copy = {src, dst, src_offset, dst_offset, size}};
        return capture_call(&r, &c);
    }
    return aidev_scheduler_submit(&r);
}

AIDEV_API aidev_status aidev_enqueue_fill(aidev_queue queue, aidev_buffer buffer, uint64_t offset,
                                          uint64_t size, const void *pattern,
                                          uint32_t pattern_size, uint32_t wait_count,
                                          const aidev_event *wait_events, aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st == AIDEV_SUCCESS)
        st = request_fill(&r, buffer, offset, size, pattern, pattern_size);
    if (st != AIDEV_SUCCESS)
        return st;
    if (aidev_queue_capturing(r.queue)) {
        aidev_graph_call c = {.kind = AIDEV_CMD_FILL,
                              .u.fill = {.buffer = buffer, .offset = offset, .size = size,
                                         .pattern_size = pattern_size}};
        memcpy(c.u.fill.pattern, pattern, pattern_size);
        return capture_call(&r, &c);
    }
    return aidev_scheduler_submit(&r);
}

AIDEV_API aidev_status aidev_enqueue_barrier(aidev_queue queue, uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st != AIDEV_SUCCESS)
        return st;
    request_barrier(&r);
    if (aidev_queue_capturing(r.queue)) {
        aidev_graph_call c = {.kind = AIDEV_CMD_BARRIER};
        return capture_call(&r, &c);
    }
    return aidev_scheduler_submit(&r);
}

AIDEV_API aidev_status aidev_enqueue_host_callback(aidev_queue queue, aidev_host_fn fn,
                                                   void *user_data, uint32_t wait_count,
                                                   const aidev_event *wait_events,
                                                   aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st == AIDEV_SUCCESS)
        st = request_host_callback(&r, fn, user_data);
    if (st != AIDEV_SUCCESS)
        return st;
    if (aidev_queue_capturing(r.queue)) {
        aidev_graph_call c = {.kind = AIDEV_CMD_HOST_CALLBACK, .u.host_callback = {fn, user_data}};
        return capture_call(&r, &c);
    }
    return aidev_scheduler_submit(&r);
}

/* A dispatch that waits on nothing, signals nothing, runs something and
 * names no buffer the hal keeps (AIDEV_BUFFER_ZERO_ON_FREE), orders
 * (context buffers) or touches
 * (aidev_buffer_needs_touch), on a queue
 * that takes plain commands: what aidev_scheduler_submit sends straight
 * to the backend, decided without building the request. */
static bool dispatch_is_plain(const aidev_queue_obj *q, uint32_t wait_count,
                              const aidev_event *out_event, const uint32_t g[3],
                              aidev_buffer_obj *const *buffers, uint32_t arg_count)
{
    if (wait_count || out_event || !g[0] || !g[1] || !g[2] || !aidev_scheduler_takes_plain(q))
        return false;
    for (uint32_t i = 0; i < arg_count; i++)
        if (buffers[i] &&
            ((buffers[i]->flags & (AIDEV_BUFFER_ZERO_ON_FREE | AIDEV_BUFFER_CONTEXT_COPY)) ||
             aidev_buffer_needs_touch(buffers[i])))
            return false;
    return true;
}

/* A captured dispatch: the call as given, for the graph. */
static aidev_status capture_dispatch(aidev_request *r, aidev_kernel kernel, const uint32_t grid[3],
                                     const uint32_t workgroup[3], uint32_t arg_count,
                                     const aidev_arg *args)
{
    aidev_graph_call *c = aidev_graph_call_dispatch_new(kernel, grid, workgroup, arg_count, args);
    if (!c)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_status st = aidev_graph_capture(r, c);
    free(c);
    return st;
}

AIDEV_API aidev_status aidev_enqueue_dispatch(aidev_queue queue, aidev_kernel kernel,
                                              const uint32_t grid[3], const uint32_t workgroup[3],
                                              uint32_t arg_count, const aidev_arg *args,
                                              uint32_t wait_count, const aidev_event *wait_events,
                                              aidev_event *out_event)
{
    char *error = aidev_error_buffer();
    error[0] = '\0';
    if (out_event)
        *out_event = NULL;
    aidev_queue_obj *q;
    aidev_kernel_obj *k;
    aidev_status st = aidev_lookup_queue(queue, "queue", &q);
    if (st != AIDEV_SUCCESS)
        return st;

    aidev_backend_arg resolved[AIDEV_MAX_KERNEL_ARGS];
    aidev_buffer_obj *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t g[3], wg[3];
    st = dispatch_check(q, kernel, grid, workgroup, arg_count, args, &k, resolved, buffers, g,
                        wg);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!aidev_queue_capturing(q) &&
        dispatch_is_plain(q, wait_count, out_event, g, buffers, arg_count)) {
        const aidev_backend_command cmd = {
            .type = AIDEV_COMMAND_DISPATCH,
            .u.dispatch = {.kernel = k->native,
                           .grid = {g[0], g[1], g[2]},
                           .workgroup = {wg[0], wg[1], wg[2]},
                           .arg_count = arg_count,
                           .args = resolved}};
        return aidev_scheduler_submit_plain(q, &cmd, AIDEV_CMD_DISPATCH, 0, error);
    }

    /* Anything else goes the common way. */
    aidev_request r;
    request_init(&r, q, error, out_event, wait_count, wait_events);
    if (aidev_queue_capturing(q)) {
        st = refuse_context_buffers(buffers, arg_count);
        return st == AIDEV_SUCCESS ? capture_dispatch(&r, kernel, grid, workgroup, arg_count, args)
                                   : st;
    }
    request_dispatch_fill(&r, k, resolved, buffers, g, wg, arg_count);
    return aidev_scheduler_submit(&r);
}

AIDEV_API aidev_status aidev_enqueue_file_read(aidev_queue queue, aidev_buffer buffer,
                                               uint64_t buffer_offset, int fd,
                                               uint64_t file_offset, uint64_t size, uint32_t flags,
                                               uint32_t wait_count, const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    if (st == AIDEV_SUCCESS)
        st = request_file_read(&r, buffer, buffer_offset, file_offset, size, flags);
    if (st != AIDEV_SUCCESS)
        return st;
    if (aidev_queue_capturing(r.queue)) {
        aidev_graph_call c = {.kind = AIDEV_CMD_FILE_READ,
                              .u.file_read = {buffer, buffer_offset, fd, file_offset, size,
                                              flags}};
        return capture_call(&r, &c);
    }
    st = aidev_file_read_op(r.queue, r.buffers[0], buffer_offset, fd, file_offset, size, flags,
                            &r.op);
    if (st != AIDEV_SUCCESS)
        return st;
    r.has_op = true;
    return aidev_scheduler_submit(&r);
}

AIDEV_API aidev_status aidev_enqueue_prefetch(aidev_queue queue, aidev_buffer buffer,
                                              uint64_t offset, uint64_t size, uint32_t flags,
                                              uint32_t wait_count, const aidev_event *wait_events,
                                              aidev_event *out_event)
{
    aidev_request r;
    aidev_status st = begin(queue, out_event, &r, wait_count, wait_events);
    aidev_buffer_obj *b;
    if (st == AIDEV_SUCCESS && aidev_queue_capturing(r.queue))
        st = aidev_error(AIDEV_ERROR_INVALID_STATE,
                         "queue: capturing into a graph; prefetches are not graph nodes");
    if (st == AIDEV_SUCCESS)
        st = lookup_queue_buffer(r.queue, buffer, "buffer", &b);
    if (st == AIDEV_SUCCESS && b->kind != AIDEV_MEMORY_SHARED)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "buffer: prefetch moves AIDEV_MEMORY_SHARED buffers; this one is %s",
                         b->kind == AIDEV_MEMORY_DEVICE ? "AIDEV_MEMORY_DEVICE"
                                                        : "AIDEV_MEMORY_HOST");
    if (st == AIDEV_SUCCESS && flags != AIDEV_PREFETCH_TO_DEVICE && flags != AIDEV_PREFETCH_TO_HOST)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "flags: %#x; use AIDEV_PREFETCH_TO_DEVICE or AIDEV_PREFETCH_TO_HOST",
                         flags);
    if (st == AIDEV_SUCCESS)
        st = check_range(b, "buffer", offset, size);
    if (st != AIDEV_SUCCESS)
        return st;
    r.kind = AIDEV_CMD_PREFETCH;
    r.bytes = size;
    if (!(r.queue->device->backend->vt.caps & AIDEV_BACKEND_CAP_PREFETCH)) {
        /* A hint the backend has no use for: it still orders the queue. */
        r.cmd.type = AIDEV_COMMAND_BARRIER;
        return aidev_scheduler_submit(&r);
    }
    r.cmd.type = AIDEV_COMMAND_PREFETCH;
    r.cmd.u.prefetch.buffer = b->native;
    r.cmd.u.prefetch.offset = offset;
    r.cmd.u.prefetch.size = size;
    r.cmd.u.prefetch.flags = flags;
    r.buffers[r.buffer_count++] = b;
    return aidev_scheduler_submit(&r);
}

aidev_status aidev_enqueue_hal_op(aidev_queue_obj *q, aidev_command_kind kind, uint64_t bytes,
                                  aidev_buffer_obj *b, aidev_hal_op *op, uint32_t wait_count,
                                  const aidev_event *wait_events, aidev_event *out_event)
{
    aidev_request r;
    request_init(&r, q, aidev_error_buffer(), out_event, wait_count, wait_events);
    r.kind = kind;
    r.bytes = bytes;
    if (op) {
        r.has_op = true;
        r.op = *op;
    } else {
        r.cmd.type = AIDEV_COMMAND_BARRIER;
    }
    if (b)
        r.buffers[r.buffer_count++] = b;
    return aidev_scheduler_submit(&r);
}

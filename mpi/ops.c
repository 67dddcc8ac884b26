/*
 * ops.c - the enqueue calls: arguments checked, the operation placed on
 * the user's queue and handed to the progress thread.
 *
 * An operation takes three things on the queue: a barrier over its wait
 * list ("ready": the progress thread waits on it, so the operation runs
 * after the queue's earlier commands), a user event ("done": set by the
 * progress thread, handed to the caller), and a barrier on "done" that holds
 * the queue's later commands until the operation has finished.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/internal.h"

const char *aidev_mpi_kind_name(aidev_mpi_kind kind)
{
    switch (kind) {
    case AIDEV_MPI_KIND_ALLREDUCE: return "allreduce";
    case AIDEV_MPI_KIND_BROADCAST: return "broadcast";
    case AIDEV_MPI_KIND_ALLGATHER: return "allgather";
    case AIDEV_MPI_KIND_SEND: return "send";
    case AIDEV_MPI_KIND_RECV: return "recv";
    }
    return "?";
}

static uint32_t device_index(aidev_device dev)
{
    uint32_t index = UINT32_MAX;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL);
    return index;
}

/* Checks |count| elements of |buffer| at |offset| (named |what| in
 * messages) and finds whether MPI can reach them in place. */
static aidev_status side_of(const aidev_mpi_comm_obj *c, aidev_buffer buffer, uint64_t offset,
                            uint64_t count, size_t elem, const char *what, aidev_mpi_side *out)
{
    aidev_device dev = NULL;
    uint64_t size = 0;
    aidev_status st = aidev_buffer_get_info(buffer, AIDEV_BUFFER_INFO_DEVICE, sizeof dev, &dev,
                                            NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_buffer_get_info(buffer, AIDEV_BUFFER_INFO_SIZE, sizeof size, &size, NULL);
    if (st != AIDEV_SUCCESS)
        return aidev_mpi_fail(st, "%s: %s", what, aidev_last_error());
    if (dev != c->device)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s: a buffer of device %u; the communicator's queue is on device "
                              "%u", what, device_index(dev), device_index(c->device));
    if (offset % elem)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s offset: %" PRIu64 " is not a multiple of the element size %zu",
                              what, offset, elem);
    uint64_t bytes;
    if (__builtin_mul_overflow(count, (uint64_t)elem, &bytes) || offset > size ||
        bytes > size - offset)
        return aidev_mpi_fail(AIDEV_ERROR_OUT_OF_RANGE,
                              "%s: offset %" PRIu64 " + %" PRIu64 " elements of %zu bytes: "
                              "outside the buffer of %" PRIu64 " bytes",
                              what, offset, count, elem, size);
    *out = (aidev_mpi_side){.buffer = buffer, .offset = offset, .host = NULL};
    if (c->staging == AIDEV_MPI_STAGING_ALWAYS)
        return AIDEV_SUCCESS;
    char *host = NULL;
    st = aidev_buffer_get_info(buffer, AIDEV_BUFFER_INFO_HOST_ADDRESS, sizeof host, &host, NULL);
    if (st == AIDEV_SUCCESS)
        out->host = host + offset;
    else if (st != AIDEV_ERROR_UNSUPPORTED) /* UNSUPPORTED: staged */
        return aidev_mpi_fail(st, "%s: %s", what, aidev_last_error());
    return AIDEV_SUCCESS;
}

/* Two ranges of one buffer overlap (and are not the same range). */
static bool ranges_clash(const aidev_mpi_side *a, uint64_t a_bytes, const aidev_mpi_side *b,
                         uint64_t b_bytes)
{
    if (a->buffer != b->buffer || !a_bytes || !b_bytes)
        return false;
    return a->offset < b->offset + b_bytes && b->offset < a->offset + a_bytes;
}

static aidev_status comm_and_type(aidev_mpi_comm comm, aidev_type type, aidev_mpi_comm_obj **c,
                                  size_t *elem)
{
    aidev_mpi_error_clear();
    aidev_status st = aidev_mpi_comm_lookup(comm, c);
    if (st != AIDEV_SUCCESS)
        return st;
    *elem = aidev_type_size(type);
    if (!*elem)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT, "type: %d is not an aidev_type",
                              (int)type);
    return AIDEV_SUCCESS;
}

static aidev_status check_rank(const aidev_mpi_comm_obj *c, int rank, const char *what)
{
    if (rank < 0 || rank >= c->size)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s: %d is not a rank of the communicator (0 to %d)", what, rank,
                              c->size - 1);
    return AIDEV_SUCCESS;
}

/* Puts |w| on the queue and the progress thread's list; takes |w| (freed
 * on failure). */
static aidev_status enqueue_work(aidev_mpi_comm_obj *c, aidev_mpi_work *w, uint32_t wait_count,
                                 const aidev_event *wait_events, aidev_event *out_event)
{
    bool staged = (w->in.buffer && !w->in.host) || (w->out.buffer && !w->out.host);
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&c->enqueue_lock);
    if (atomic_load(&c->broken))
        st = aidev_mpi_fail(AIDEV_ERROR_INVALID_STATE,
                            "comm: broken by an earlier operation (%s); release it",
                            c->broken_message);
    if (st == AIDEV_SUCCESS && staged)
        st = aidev_mpi_comm_ensure_staging(c);
    if (st == AIDEV_SUCCESS) {
        st = aidev_enqueue_barrier(c->queue, wait_count, wait_events, &w->ready);
        if (st != AIDEV_SUCCESS)
            aidev_mpi_fail(st, "wait_events: %s", aidev_last_error());
    }
    if (st == AIDEV_SUCCESS) {
        st = aidev_event_create_user(c->context, &w->done);
        if (st != AIDEV_SUCCESS)
            aidev_mpi_fail_aidev(st, "aidev_event_create_user");
    }
    if (st == AIDEV_SUCCESS) {
        st = aidev_enqueue_barrier(c->queue, 1, &w->done, NULL);
        if (st != AIDEV_SUCCESS) {
            aidev_mpi_fail_aidev(st, "aidev_enqueue_barrier (holding the queue)");
            aidev_event_set_status(w->done, AIDEV_ERROR_CANCELLED, "not enqueued");
        }
    }
    if (st == AIDEV_SUCCESS && out_event) {
        st = aidev_event_retain(w->done);
        if (st == AIDEV_SUCCESS)
            *out_event = w->done;
        else
            aidev_mpi_fail_aidev(st, "aidev_event_retain");
    }
    if (st == AIDEV_SUCCESS) {
        w->seq = ++c->enqueued;
        aidev_mpi_comm_push(c, w);
    }
    pthread_mutex_unlock(&c->enqueue_lock);
    if (st != AIDEV_SUCCESS) {
        /* The queue's later commands wait on |done|: never leave it pending. */
        if (w->done && aidev_event_query(w->done) == AIDEV_NOT_READY)
            aidev_event_set_status(w->done, AIDEV_ERROR_CANCELLED, "not enqueued");
        if (w->ready)
            aidev_event_release(w->ready);
        if (w->done)
            aidev_event_release(w->done);
        free(w);
    }
    return st;
}

static aidev_mpi_work *work_new(aidev_mpi_kind kind, uint64_t count, aidev_type type,
                                size_t elem)
{
    aidev_mpi_work *w = calloc(1, sizeof *w);
    if (!w) {
        aidev_mpi_fail(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    w->kind = kind;
    w->count = count;
    w->type = type;
    w->elem = elem;
    return w;
}

/* A failed call stores no event. */
static void start_out_event(aidev_event *out_event)
{
    if (out_event)
        *out_event = NULL;
}

aidev_status aidev_mpi_enqueue_allreduce(aidev_mpi_comm_obj *c, aidev_buffer send,
                                         uint64_t send_offset, aidev_buffer recv,
                                         uint64_t recv_offset, uint64_t count, aidev_type type,
                                         aidev_mpi_op op, uint32_t wait_count,
                                         const aidev_event *wait_events, aidev_event *out_event)
{
    size_t elem = aidev_type_size(type);
    MPI_Datatype t;
    MPI_Op o;
    if (!aidev_mpi_reduction_of(c, type, op, &t, &o))
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "type %s, op %d: all-reduce takes AIDEV_MPI_SUM or AIDEV_MPI_MAX "
                              "of integer types, f16, bf16, f32 and f64",
                              aidev_type_name(type), (int)op);
    aidev_mpi_side out, in;
    aidev_status st = side_of(c, recv, recv_offset, count, elem, "recv", &out);
    if (st != AIDEV_SUCCESS)
        return st;
    in = out;
    if (send && !(send == recv && send_offset == recv_offset)) {
        st = side_of(c, send, send_offset, count, elem, "send", &in);
        if (st != AIDEV_SUCCESS)
            return st;
        if (ranges_clash(&in, count * elem, &out, count * elem))
            return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                                  "send and recv: overlapping ranges of one buffer (offsets %"
                                  PRIu64 " and %" PRIu64 "); pass send NULL to reduce in place",
                                  send_offset, recv_offset);
    }
    aidev_mpi_work *w = work_new(AIDEV_MPI_KIND_ALLREDUCE, count, type, elem);
    if (!w)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    w->reduce = op;
    w->in = in;
    w->out = out;
    return enqueue_work(c, w, wait_count, wait_events, out_event);
}

AIDEV_MPI_API aidev_status aidev_mpi_allreduce(aidev_mpi_comm comm, aidev_buffer send,
                                               uint64_t send_offset, aidev_buffer recv,
                                               uint64_t recv_offset, uint64_t count,
                                               aidev_type type, aidev_mpi_op op,
                                               uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    start_out_event(out_event);
    aidev_mpi_comm_obj *c;
    size_t elem;
    aidev_status st = comm_and_type(comm, type, &c, &elem);
    if (st != AIDEV_SUCCESS)
        return st;
    return aidev_mpi_enqueue_allreduce(c, send, send_offset, recv, recv_offset, count, type, op,
                                       wait_count, wait_events, out_event);
}

AIDEV_MPI_API aidev_status aidev_mpi_broadcast(aidev_mpi_comm comm, aidev_buffer buffer,
                                               uint64_t offset, uint64_t count,
                                               aidev_type type, int root,
                                               uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    start_out_event(out_event);
    aidev_mpi_comm_obj *c;
    size_t elem;
    aidev_mpi_side side;
    aidev_status st = comm_and_type(comm, type, &c, &elem);
    if (st == AIDEV_SUCCESS)
        st = check_rank(c, root, "root");
    if (st == AIDEV_SUCCESS)
        st = side_of(c, buffer, offset, count, elem, "buffer", &side);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_mpi_work *w = work_new(AIDEV_MPI_KIND_BROADCAST, count, type, elem);
    if (!w)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    w->root = root;
    if (c->rank == root)
        w->in = side;
    else
        w->out = side;
    return enqueue_work(c, w, wait_count, wait_events, out_event);
}

AIDEV_MPI_API aidev_status aidev_mpi_allgather(aidev_mpi_comm comm, aidev_buffer send,
                                               uint64_t send_offset, aidev_buffer recv,
                                               uint64_t recv_offset, uint64_t count,
                                               aidev_type type, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    start_out_event(out_event);
    aidev_mpi_comm_obj *c;
    size_t elem;
    aidev_mpi_side out, in;
    aidev_status st = comm_and_type(comm, type, &c, &elem);
    uint64_t total;
    if (st == AIDEV_SUCCESS && __builtin_mul_overflow(count, (uint64_t)c->size, &total))
        st = aidev_mpi_fail(AIDEV_ERROR_OUT_OF_RANGE, "count: %" PRIu64 " times %d ranks "
                            "overflows", count, c->size);
    if (st == AIDEV_SUCCESS)
        st = side_of(c, recv, recv_offset, total, elem, "recv", &out);
    if (st != AIDEV_SUCCESS)
        return st;
    /* In place: this rank's part already lies at its place in recv. */
    uint64_t own = recv_offset + (uint64_t)c->rank * count * elem;
    in = out;
    in.offset = own;
    in.host = out.host ? out.host + (uint64_t)c->rank * count * elem : NULL;
    if (send && !(send == recv && send_offset == own)) {
        st = side_of(c, send, send_offset, count, elem, "send", &in);
        if (st != AIDEV_SUCCESS)
            return st;
        if (ranges_clash(&in, count * elem, &out, total * elem))
            return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                                  "send: overlaps recv other than at this rank's part (offset %"
                                  PRIu64 "); pass send NULL to gather in place", own);
    }
    aidev_mpi_work *w = work_new(AIDEV_MPI_KIND_ALLGATHER, count, type, elem);
    if (!w)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    w->in = in;
    w->out = out;
    return enqueue_work(c, w, wait_count, wait_events, out_event);
}

static aidev_status enqueue_pair(aidev_mpi_kind kind, aidev_mpi_comm comm, aidev_buffer buffer,
                                 uint64_t offset, uint64_t count, aidev_type type, int peer,
                                 uint32_t wait_count, const aidev_event *wait_events,
                                 aidev_event *out_event)
{
    start_out_event(out_event);
    aidev_mpi_comm_obj *c;
    size_t elem;
    aidev_mpi_side side;
    aidev_status st = comm_and_type(comm, type, &c, &elem);
    if (st == AIDEV_SUCCESS)
        st = check_rank(c, peer, "peer");
    if (st == AIDEV_SUCCESS && peer == c->rank)
        st = aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                            "peer: %d is this rank; copy within a rank with aidev_enqueue_copy",
                            peer);
    if (st == AIDEV_SUCCESS)
        st = side_of(c, buffer, offset, count, elem, "buffer", &side);
    if (st != AIDEV_SUCCESS)
        return st;
    aidev_mpi_work *w = work_new(kind, count, type, elem);
    if (!w)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    w->root = peer;
    if (kind == AIDEV_MPI_KIND_SEND)
        w->in = side;
    else
        w->out = side;
    return enqueue_work(c, w, wait_count, wait_events, out_event);
}

AIDEV_MPI_API aidev_status aidev_mpi_send(aidev_mpi_comm comm, aidev_buffer buffer,
                                          uint64_t offset, uint64_t count, aidev_type type,
                                          int peer, uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event)
{
    return enqueue_pair(AIDEV_MPI_KIND_SEND, comm, buffer, offset, count, type, peer, wait_count,
                        wait_events, out_event);
}

AIDEV_MPI_API aidev_status aidev_mpi_recv(aidev_mpi_comm comm, aidev_buffer buffer,
                                          uint64_t offset, uint64_t count, aidev_type type,
                                          int peer, uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event)
{
    return enqueue_pair(AIDEV_MPI_KIND_RECV, comm, buffer, offset, count, type, peer, wait_count,
                        wait_events, out_event);
}

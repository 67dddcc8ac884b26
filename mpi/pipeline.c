/*
 * pipeline.c - moving an operation's data in chunks.
 *
 * Every operation moves its elements in chunks of the communicator's chunk
 * size, each one MPI call, at most two in flight: Open MPI's shared-memory
 * all-reduce of 64 MiB ran seven times faster in 4 MiB calls than in one
 * here (mpi/README.md). Memory the host addresses goes to MPI in place;
 * staged memory passes through slots of host memory: a chunk is read from
 * the device into a slot (one queue), goes through MPI, and is written back
 * (another queue), so the copies of some chunks overlap the transfers of
 * others. Chunks start their MPI calls in order, the same on every rank.
 *
 * A staging copy that fails does not stop the chunks: the rank keeps
 * taking part (its data is then garbage), so the other ranks do not wait
 * for it, and the closing check of agree.c tells them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mpi/internal.h"

enum { TAG_DATA = 2 };

/* MPI calls in flight at once: two kept the shared-memory transport busy;
 * more did not help and sometimes stalled. */
#define MPI_IN_FLIGHT 2
/* Slots of an operation that stages nothing: only its MPI calls. */
#define DIRECT_SLOTS 2
#define MAX_SLOTS 64

typedef enum slot_state {
    SLOT_STAGING_IN,  /* |copy| reads the chunk from the device */
    SLOT_READY,       /* the chunk's input is in place */
    SLOT_IN_MPI,      /* |req| moves it */
    SLOT_STAGING_OUT, /* |copy| writes it to the device */
    SLOT_DONE,
} slot_state;

typedef struct slot {
    slot_state state;
    char *mem;        /* NULL when nothing is staged */
    aidev_event copy; /* the last staging copy of the chunk, if any */
    MPI_Request req;
} slot;

typedef struct pipeline {
    aidev_mpi_comm_obj *c;
    const aidev_mpi_work *w;
    uint64_t chunk_elems, chunks;
    uint32_t slot_count;
    bool stage_in, stage_out;
    bool draining;            /* a staging copy failed here */
    MPI_Datatype reduce_type;
    MPI_Op reduce_op;
    /* Allgather into host memory: one chunk of each rank's part, spaced a
     * whole part apart (full chunks, and the last one). */
    MPI_Datatype gather_full, gather_tail;
    aidev_mpi_outcome *o;
    bool *broke;
    slot slots[MAX_SLOTS];
} pipeline;

static slot *slot_of(pipeline *p, uint64_t chunk)
{
    return &p->slots[chunk % p->slot_count];
}

static uint64_t chunk_first(const pipeline *p, uint64_t chunk)
{
    return chunk * p->chunk_elems;
}

static uint64_t chunk_len(const pipeline *p, uint64_t chunk)
{
    uint64_t first = chunk_first(p, chunk);
    return p->w->count - first < p->chunk_elems ? p->w->count - first : p->chunk_elems;
}

/* Bytes between the pieces of the ranks in a slot (allgather staged out):
 * one chunk each. */
static bool gathers_into_slot(const pipeline *p)
{
    return p->w->kind == AIDEV_MPI_KIND_ALLGATHER && p->stage_out;
}

/* Where MPI reads the chunk, and where it writes it. */
static char *chunk_in(pipeline *p, uint64_t chunk)
{
    const aidev_mpi_work *w = p->w;
    if (!w->in.buffer)
        return NULL;
    if (w->in.host)
        return w->in.host + chunk_first(p, chunk) * w->elem;
    uint64_t at = gathers_into_slot(p) ? (uint64_t)p->c->rank * chunk_len(p, chunk) * w->elem : 0;
    return slot_of(p, chunk)->mem + at;
}

static char *chunk_out(pipeline *p, uint64_t chunk)
{
    const aidev_mpi_work *w = p->w;
    if (!w->out.buffer)
        return NULL;
    if (w->out.host)
        return w->out.host + chunk_first(p, chunk) * w->elem;
    return slot_of(p, chunk)->mem;
}

/* The place of this rank's own piece in an allgather's output: where
 * MPI_IN_PLACE expects it. */
static char *gather_own(pipeline *p, uint64_t chunk)
{
    uint64_t stride = p->w->out.host ? p->w->count : chunk_len(p, chunk);
    return chunk_out(p, chunk) + (uint64_t)p->c->rank * stride * p->w->elem;
}

/* Records the first failure of the operation on this rank. */
static void fail_here(pipeline *p, aidev_status status, const char *what, const char *detail,
                      uint64_t chunk)
{
    if (p->o->status == AIDEV_SUCCESS)
        aidev_mpi_outcome_set(p->o, status, "%s #%" PRIu64 ": chunk %" PRIu64 " of %" PRIu64
                              ": %s: %s", aidev_mpi_kind_name(p->w->kind), p->w->seq,
                              chunk + 1, p->chunks, what, detail);
}

static void mpi_failed(pipeline *p, int rc, const char *call, uint64_t chunk)
{
    char text[512];
    aidev_mpi_describe(rc, call, text, sizeof text);
    p->o->status = AIDEV_SUCCESS; /* MPI's failure outranks a staging one */
    fail_here(p, AIDEV_ERROR_BACKEND, "MPI failed", text, chunk);
    *p->broke = true;
}

/* ------------------------------------------------------------------------ */
/* Staging copies                                                           */
/* ------------------------------------------------------------------------ */

static void copy_failed(pipeline *p, uint64_t chunk, const char *what, const char *message)
{
    fail_here(p, AIDEV_ERROR_DEPENDENCY, what, message, chunk);
    p->draining = true;
}

static void start_stage_in(pipeline *p, uint64_t chunk)
{
    const aidev_mpi_work *w = p->w;
    slot *s = slot_of(p, chunk);
    s->state = SLOT_READY;
    if (!p->stage_in || p->draining)
        return;
    uint64_t n = chunk_len(p, chunk);
    aidev_status st = aidev_enqueue_read(p->c->stage_in, w->in.buffer,
                                         w->in.offset + chunk_first(p, chunk) * w->elem,
                                         n * w->elem, chunk_in(p, chunk), 0, NULL, &s->copy);
    if (st != AIDEV_SUCCESS)
        copy_failed(p, chunk, "aidev_enqueue_read into the staging memory", aidev_last_error());
    else
        s->state = SLOT_STAGING_IN;
}

static void start_stage_out(pipeline *p, uint64_t chunk)
{
    const aidev_mpi_work *w = p->w;
    slot *s = slot_of(p, chunk);
    s->state = SLOT_DONE;
    if (!p->stage_out || p->draining)
        return;
    uint64_t n = chunk_len(p, chunk), first = chunk_first(p, chunk);
    /* An allgather's chunk holds a piece of every rank; each goes to its
     * rank's part. The queue is in order: the last write's event is the
     * chunk's. */
    int pieces = w->kind == AIDEV_MPI_KIND_ALLGATHER ? p->c->size : 1;
    for (int r = 0; r < pieces; r++) {
        uint64_t at = w->out.offset + ((uint64_t)r * (pieces > 1 ? w->count : 0) + first) * w->elem;
        aidev_event *ev = r == pieces - 1 ? &s->copy : NULL;
        aidev_status st = aidev_enqueue_write(p->c->stage_out, w->out.buffer, at, n * w->elem,
                                              s->mem + (uint64_t)r * n * w->elem, 0, NULL, ev);
        if (st != AIDEV_SUCCESS) {
            copy_failed(p, chunk, "aidev_enqueue_write from the staging memory",
                        aidev_last_error());
            /* Earlier pieces may still read the slot. */
            aidev_queue_finish(p->c->stage_out);
            return;
        }
    }
    s->state = SLOT_STAGING_OUT;
}

/* True when the slot's copy has completed (failed copies included). */
static bool copy_finished(pipeline *p, uint64_t chunk)
{
    slot *s = slot_of(p, chunk);
    aidev_status st = aidev_event_query(s->copy);
    if (st == AIDEV_NOT_READY)
        return false;
    if (st != AIDEV_SUCCESS)
        copy_failed(p, chunk, "a staging copy failed", aidev_event_message(s->copy));
    aidev_event_release(s->copy);
    s->copy = NULL;
    return true;
}

/* ------------------------------------------------------------------------ */
/* MPI                                                                      */
/* ------------------------------------------------------------------------ */

static int start_allgather(pipeline *p, uint64_t chunk, MPI_Request *req)
{
    uint64_t n = chunk_len(p, chunk);
    int bytes = (int)(n * p->w->elem);
    char *in = chunk_in(p, chunk);
    const void *send = in == gather_own(p, chunk) ? MPI_IN_PLACE : in;
    if (p->w->out.host) {
        MPI_Datatype t = n == p->chunk_elems ? p->gather_full : p->gather_tail;
        return MPI_Iallgather(send, bytes, MPI_BYTE, chunk_out(p, chunk), 1, t, p->c->mpi, req);
    }
    return MPI_Iallgather(send, bytes, MPI_BYTE, chunk_out(p, chunk), bytes, MPI_BYTE, p->c->mpi,
                          req);
}

static int start_mpi(pipeline *p, uint64_t chunk, const char **call)
{
    const aidev_mpi_work *w = p->w;
    MPI_Request *req = &slot_of(p, chunk)->req;
    uint64_t n = chunk_len(p, chunk);
    char *in = chunk_in(p, chunk), *out = chunk_out(p, chunk);
    switch (w->kind) {
    case AIDEV_MPI_KIND_ALLREDUCE:
        *call = "MPI_Iallreduce";
        return MPI_Iallreduce(in == out ? MPI_IN_PLACE : in, out, (int)n, p->reduce_type,
                              p->reduce_op, p->c->mpi, req);
    case AIDEV_MPI_KIND_BROADCAST:
        *call = "MPI_Ibcast";
        return MPI_Ibcast(in ? in : out, (int)(n * w->elem), MPI_BYTE, w->root, p->c->mpi, req);
    case AIDEV_MPI_KIND_ALLGATHER:
        *call = "MPI_Iallgather";
        return start_allgather(p, chunk, req);
    case AIDEV_MPI_KIND_SEND:
        *call = "MPI_Isend";
        return MPI_Isend(in, (int)(n * w->elem), MPI_BYTE, w->root, TAG_DATA, p->c->mpi, req);
    case AIDEV_MPI_KIND_RECV:
        *call = "MPI_Irecv";
        return MPI_Irecv(out, (int)(n * w->elem), MPI_BYTE, w->root, TAG_DATA, p->c->mpi, req);
    }
    *call = "?";
    return MPI_ERR_OTHER;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */
/* ------------------------------------------------------------------------ */

/* One pass over the chunks in flight; true when something moved. |next|
 * holds, in order: the next chunk to take a slot, to start MPI, to
 * retire. */
static bool advance(pipeline *p, uint64_t next[3])
{
    enum { FILL, START, RETIRE };
    bool moved = false;
    while (next[FILL] < p->chunks && next[FILL] < next[RETIRE] + p->slot_count) {
        start_stage_in(p, next[FILL]++);
        moved = true;
    }
    for (uint64_t k = next[START]; k < next[FILL]; k++) {
        slot *s = slot_of(p, k);
        if (s->state == SLOT_STAGING_IN && copy_finished(p, k)) {
            s->state = SLOT_READY;
            moved = true;
        }
    }
    while (next[START] < next[FILL] && next[START] < next[RETIRE] + MPI_IN_FLIGHT &&
           slot_of(p, next[START])->state == SLOT_READY) {
        const char *call;
        int rc = start_mpi(p, next[START], &call);
        if (rc != MPI_SUCCESS) {
            mpi_failed(p, rc, call, next[START]);
            return false;
        }
        slot_of(p, next[START]++)->state = SLOT_IN_MPI;
        moved = true;
    }
    for (uint64_t k = next[RETIRE]; k < next[START]; k++) {
        slot *s = slot_of(p, k);
        int flag = 0;
        if (s->state == SLOT_IN_MPI) {
            int rc = MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) {
                mpi_failed(p, rc, "MPI_Test", k);
                return false;
            }
            if (flag) {
                start_stage_out(p, k);
                moved = true;
            }
        }
        if (s->state == SLOT_STAGING_OUT && copy_finished(p, k)) {
            s->state = SLOT_DONE;
            moved = true;
        }
    }
    while (next[RETIRE] < next[START] && slot_of(p, next[RETIRE])->state == SLOT_DONE) {
        next[RETIRE]++;
        moved = true;
    }
    return moved;
}

/* Staging copies still in flight write slot memory: wait for them before
 * the slots go to the next operation (they are local, they end). */
static void settle_copies(pipeline *p)
{
    for (uint32_t i = 0; i < p->slot_count; i++) {
        if (!p->slots[i].copy)
            continue;
        aidev_event_wait(p->slots[i].copy, AIDEV_WAIT_FOREVER);
        aidev_event_release(p->slots[i].copy);
        p->slots[i].copy = NULL;
    }
}

static bool pipeline_setup(pipeline *p)
{
    const aidev_mpi_work *w = p->w;
    aidev_mpi_comm_obj *c = p->c;
    p->stage_in = w->in.buffer && !w->in.host;
    p->stage_out = w->out.buffer && !w->out.host;
    bool staged = p->stage_in || p->stage_out;
    p->slot_count = staged ? c->staging_chunks : DIRECT_SLOTS;
    uint64_t room = staged ? c->slot_bytes : c->chunk_bytes;
    uint64_t per_elem = gathers_into_slot(p) ? w->elem * (uint64_t)c->size : w->elem;
    p->chunk_elems = room / per_elem ? room / per_elem : 1;
    p->chunks = (w->count + p->chunk_elems - 1) / p->chunk_elems;
    for (uint32_t i = 0; i < p->slot_count; i++)
        p->slots[i].mem = staged ? c->staging_memory + (uint64_t)i * c->slot_bytes : NULL;
    if (w->kind == AIDEV_MPI_KIND_ALLREDUCE &&
        !aidev_mpi_reduction_of(c, w->type, w->reduce, &p->reduce_type, &p->reduce_op))
        return false; /* checked at enqueue */
    p->gather_full = p->gather_tail = MPI_DATATYPE_NULL;
    if (w->kind == AIDEV_MPI_KIND_ALLGATHER && w->out.host && p->chunks) {
        MPI_Aint part = (MPI_Aint)(w->count * w->elem);
        uint64_t lens[2] = {p->chunk_elems, w->count % p->chunk_elems};
        MPI_Datatype *types[2] = {&p->gather_full, &p->gather_tail};
        for (int i = 0; i < 2; i++) {
            MPI_Datatype piece;
            if (!lens[i])
                continue;
            if (MPI_Type_contiguous((int)(lens[i] * w->elem), MPI_BYTE, &piece) != MPI_SUCCESS ||
                MPI_Type_create_resized(piece, 0, part, types[i]) != MPI_SUCCESS ||
                MPI_Type_commit(types[i]) != MPI_SUCCESS)
                return false;
            MPI_Type_free(&piece);
        }
    }
    return true;
}

void aidev_mpi_pipeline_run(aidev_mpi_comm_obj *c, const aidev_mpi_work *w, bool *broke,
                            aidev_mpi_outcome *o)
{
    pipeline p = {.c = c, .w = w, .o = o, .broke = broke};
    *broke = false;
    if (!pipeline_setup(&p)) {
        aidev_mpi_outcome_set(o, AIDEV_ERROR_BACKEND, "%s #%" PRIu64 ": MPI could not make the "
                              "datatypes of the transfer", aidev_mpi_kind_name(w->kind), w->seq);
        *broke = true; /* the other ranks are already moving data */
        goto out;
    }
    uint64_t next[3] = {0, 0, 0};
    aidev_mpi_poll poll;
    aidev_mpi_poll_start(&poll, c->timeout_ns, false);
    while (next[2] < p.chunks && !*broke) {
        bool moved = advance(&p, next);
        if (*broke)
            break;
        if (!aidev_mpi_poll_round(&poll, moved)) {
            p.o->status = AIDEV_SUCCESS;
            fail_here(&p, AIDEV_ERROR_TIMEOUT, "no progress",
                      "no rank answered within the timeout (a rank died, is stuck, or did not "
                      "enqueue the same operations in the same order)", next[2]);
            *broke = true;
        }
    }
out:
    settle_copies(&p);
    if (p.gather_full != MPI_DATATYPE_NULL)
        MPI_Type_free(&p.gather_full);
    if (p.gather_tail != MPI_DATATYPE_NULL)
        MPI_Type_free(&p.gather_tail);
}

/*
 * agree.c - the ranks of an operation agree on it before any data moves,
 * and poll MPI against the communicator's timeout.
 *
 * Collectives agree through one small all-reduce (MPI_MAX over int64s):
 * which rank's wait list failed, the count, the operation's signature, and
 * whether any rank stages its memory. A rank whose inputs failed still takes
 * part, so the communicator stays in step and the others learn why they
 * fail instead of waiting for a timeout. A send and its receive swap one
 * control message each way (role, status, count, type) for the same reason,
 * and so that two ranks that both send first fail with a message saying so.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mpi/internal.h"

/* Tags of the point-to-point traffic on the communicator's duplicate
 * (collectives use their own internal tags). */
enum { TAG_CONTROL = 1, TAG_CLOSE = 3 };

/* Poll rounds after the last progress spent only yielding, and the longest
 * sleep of a patient poll. */
#define POLL_YIELD_NS 200000u
#define POLL_MAX_SLEEP_NS 500000u

uint64_t aidev_mpi_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void aidev_mpi_poll_start(aidev_mpi_poll *p, uint64_t timeout_ns, bool patient)
{
    p->timeout_ns = timeout_ns;
    p->deadline = aidev_mpi_now_ns() + timeout_ns;
    p->idle_since = 0;
    p->patient = patient;
}

/* A moving transfer progresses only inside MPI calls (Open MPI has no
 * progress thread for shared memory), so a poll that waits on data yields
 * and asks again at once, as MPI_Wait itself does. A poll that waits for
 * other ranks to arrive (they may be computing for seconds) sleeps a little
 * more each round, up to half a millisecond, so an idle rank leaves the
 * cores to the compute of its neighbours. */
bool aidev_mpi_poll_round(aidev_mpi_poll *p, bool progressed)
{
    uint64_t now = aidev_mpi_now_ns();
    if (progressed) {
        p->deadline = now + p->timeout_ns;
        p->idle_since = 0;
        return true;
    }
    if (now >= p->deadline)
        return false;
    if (!p->idle_since)
        p->idle_since = now;
    uint64_t idle = now - p->idle_since;
    if (!p->patient || idle < POLL_YIELD_NS) {
        sched_yield();
        return true;
    }
    uint64_t nap = idle / 8 < POLL_MAX_SLEEP_NS ? idle / 8 : POLL_MAX_SLEEP_NS;
    struct timespec ts = {0, (long)nap};
    nanosleep(&ts, NULL);
    return true;
}

/* Waits for |count| requests; false with the outcome set when MPI fails or
 * the deadline passes (the requests are then abandoned: MPI cannot cancel
 * a collective). */
static bool wait_requests(aidev_mpi_comm_obj *c, const aidev_mpi_work *w, MPI_Request *reqs,
                          int count, const char *what, aidev_mpi_outcome *o)
{
    aidev_mpi_poll poll;
    aidev_mpi_poll_start(&poll, c->timeout_ns, true);
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(count, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) {
            char text[512];
            aidev_mpi_describe(rc, "MPI_Testall", text, sizeof text);
            aidev_mpi_outcome_set(o, AIDEV_ERROR_BACKEND, "%s #%" PRIu64 ": %s: %s",
                                  aidev_mpi_kind_name(w->kind), w->seq, what, text);
            return false;
        }
        if (done)
            return true;
        if (!aidev_mpi_poll_round(&poll, false)) {
            aidev_mpi_outcome_set(o, AIDEV_ERROR_TIMEOUT,
                                  "%s #%" PRIu64 ": %s: no answer within %.3f s (a rank died, "
                                  "is stuck, or did not enqueue the same operations in the "
                                  "same order)",
                                  aidev_mpi_kind_name(w->kind), w->seq, what,
                                  (double)c->timeout_ns * 1e-9);
            return false;
        }
    }
}

static bool start_failed(int rc, const char *call, const aidev_mpi_work *w,
                         aidev_mpi_outcome *o)
{
    if (rc == MPI_SUCCESS)
        return false;
    char text[512];
    aidev_mpi_describe(rc, call, text, sizeof text);
    aidev_mpi_outcome_set(o, AIDEV_ERROR_BACKEND, "%s #%" PRIu64 ": %s",
                          aidev_mpi_kind_name(w->kind), w->seq, text);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Collectives                                                              */
/* ------------------------------------------------------------------------ */

enum { AGREE_FAILED, AGREE_COUNT, AGREE_NEG_COUNT, AGREE_SIG, AGREE_NEG_SIG, AGREE_STAGED,
       AGREE_WORDS };

/* Kind, type, reduction and root in one number: equal on every rank when
 * they called the same operation. */
static int64_t signature_of(const aidev_mpi_work *w)
{
    return ((int64_t)w->root << 24) | ((int64_t)w->kind << 16) | ((int64_t)w->type << 8) |
           (int64_t)w->reduce;
}

static void agree_collective(aidev_mpi_comm_obj *c, const aidev_mpi_work *w, bool local_failed,
                             bool local_staged, bool *any_staged, bool *broke,
                             aidev_mpi_outcome *o)
{
    int64_t v[AGREE_WORDS] = {
        [AGREE_FAILED] = local_failed ? c->rank + 1 : 0,
        [AGREE_COUNT] = (int64_t)w->count,
        [AGREE_NEG_COUNT] = -(int64_t)w->count,
        [AGREE_SIG] = signature_of(w),
        [AGREE_NEG_SIG] = -signature_of(w),
        [AGREE_STAGED] = local_staged,
    };
    MPI_Request req;
    if (start_failed(MPI_Iallreduce(MPI_IN_PLACE, v, AGREE_WORDS, MPI_INT64_T, MPI_MAX, c->mpi,
                                    &req),
                     "MPI_Iallreduce", w, o) ||
        !wait_requests(c, w, &req, 1, "agreeing on the operation", o)) {
        *broke = true;
        return;
    }
    if (local_failed)
        return; /* the outcome already says why */
    if (v[AGREE_FAILED]) {
        aidev_mpi_outcome_set(o, AIDEV_ERROR_DEPENDENCY,
                              "%s #%" PRIu64 " did not run: an event rank %" PRId64
                              " waited on failed (its event says why)",
                              aidev_mpi_kind_name(w->kind), w->seq, v[AGREE_FAILED] - 1);
    } else if (v[AGREE_COUNT] != -v[AGREE_NEG_COUNT]) {
        aidev_mpi_outcome_set(o, AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s #%" PRIu64 ": the ranks gave different counts (from %" PRId64
                              " to %" PRId64 " elements; this rank %" PRIu64 ")",
                              aidev_mpi_kind_name(w->kind), w->seq, -v[AGREE_NEG_COUNT],
                              v[AGREE_COUNT], w->count);
    } else if (v[AGREE_SIG] != -v[AGREE_NEG_SIG]) {
        aidev_mpi_outcome_set(o, AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s #%" PRIu64 " (this rank: %s, %s, root %d): another rank called "
                              "another operation, type, reduction or root at this place; every "
                              "rank must enqueue the same collectives in the same order",
                              aidev_mpi_kind_name(w->kind), w->seq, aidev_type_name(w->type),
                              aidev_mpi_reduce_name(w->reduce), w->root);
    }
    *any_staged = v[AGREE_STAGED] != 0;
}

/* ------------------------------------------------------------------------ */
/* Send and receive                                                         */
/* ------------------------------------------------------------------------ */

enum { CONTROL_ROLE, CONTROL_FAILED, CONTROL_COUNT, CONTROL_TYPE, CONTROL_STAGED,
       CONTROL_WORDS };

static void agree_pair(aidev_mpi_comm_obj *c, const aidev_mpi_work *w, bool local_failed,
                       bool local_staged, bool *peer_staged, bool *broke, aidev_mpi_outcome *o)
{
    int64_t mine[CONTROL_WORDS] = {
        [CONTROL_ROLE] = w->kind, [CONTROL_FAILED] = local_failed,
        [CONTROL_COUNT] = (int64_t)w->count, [CONTROL_TYPE] = w->type,
        [CONTROL_STAGED] = local_staged,
    };
    int64_t theirs[CONTROL_WORDS] = {0};
    MPI_Request reqs[2];
    char what[64];
    snprintf(what, sizeof what, "waiting for rank %d", w->root);
    if (start_failed(MPI_Irecv(theirs, CONTROL_WORDS, MPI_INT64_T, w->root, TAG_CONTROL, c->mpi,
                               &reqs[0]),
                     "MPI_Irecv", w, o) ||
        start_failed(MPI_Isend(mine, CONTROL_WORDS, MPI_INT64_T, w->root, TAG_CONTROL, c->mpi,
                               &reqs[1]),
                     "MPI_Isend", w, o) ||
        !wait_requests(c, w, reqs, 2, what, o)) {
        *broke = true;
        return;
    }
    *peer_staged = theirs[CONTROL_STAGED] != 0;
    if (local_failed)
        return;
    const char *name = aidev_mpi_kind_name(w->kind);
    if (theirs[CONTROL_ROLE] == mine[CONTROL_ROLE]) {
        aidev_mpi_outcome_set(o, AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s #%" PRIu64 ": rank %d posted a %s to this rank too at this "
                              "place; pair each send with a receive in the same order on both "
                              "ranks",
                              name, w->seq, w->root, name);
    } else if (theirs[CONTROL_FAILED]) {
        aidev_mpi_outcome_set(o, AIDEV_ERROR_DEPENDENCY,
                              "%s #%" PRIu64 " did not run: an event rank %d waited on failed "
                              "(its event says why)",
                              name, w->seq, w->root);
    } else if (theirs[CONTROL_COUNT] != mine[CONTROL_COUNT] ||
               theirs[CONTROL_TYPE] != mine[CONTROL_TYPE]) {
        aidev_mpi_outcome_set(o, AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s #%" PRIu64 ": %" PRIu64 " elements of %s here, %" PRId64
                              " of %s on rank %d",
                              name, w->seq, w->count, aidev_type_name(w->type),
                              theirs[CONTROL_COUNT], aidev_type_name((aidev_type)theirs[CONTROL_TYPE]),
                              w->root);
    }
}

void aidev_mpi_agree_open(aidev_mpi_comm_obj *c, const aidev_mpi_work *w, bool local_failed,
                          bool local_staged, bool *any_staged, bool *broke,
                          aidev_mpi_outcome *o)
{
    *any_staged = local_staged;
    *broke = false;
    if (w->kind == AIDEV_MPI_KIND_SEND || w->kind == AIDEV_MPI_KIND_RECV) {
        bool peer_staged = false;
        agree_pair(c, w, local_failed, local_staged, &peer_staged, broke, o);
        /* Only the sender's staging can spoil what arrives: it tells the
         * receiver how it went after the data. */
        *any_staged = w->kind == AIDEV_MPI_KIND_SEND ? local_staged : peer_staged;
        return;
    }
    agree_collective(c, w, local_failed, local_staged, any_staged, broke, o);
}

void aidev_mpi_agree_close(aidev_mpi_comm_obj *c, const aidev_mpi_work *w, bool *broke,
                           aidev_mpi_outcome *o)
{
    bool failed_here = o->status != AIDEV_SUCCESS;
    int64_t failed = failed_here ? c->rank + 1 : 0;
    MPI_Request req;
    int rc;
    const char *call;
    if (w->kind == AIDEV_MPI_KIND_SEND) {
        call = "MPI_Isend";
        rc = MPI_Isend(&failed, 1, MPI_INT64_T, w->root, TAG_CLOSE, c->mpi, &req);
    } else if (w->kind == AIDEV_MPI_KIND_RECV) {
        call = "MPI_Irecv";
        rc = MPI_Irecv(&failed, 1, MPI_INT64_T, w->root, TAG_CLOSE, c->mpi, &req);
    } else {
        call = "MPI_Iallreduce";
        rc = MPI_Iallreduce(MPI_IN_PLACE, &failed, 1, MPI_INT64_T, MPI_MAX, c->mpi, &req);
    }
    aidev_mpi_outcome theirs = {.status = AIDEV_SUCCESS};
    if (start_failed(rc, call, w, &theirs) ||
        !wait_requests(c, w, &req, 1, "checking the staging copies", &theirs)) {
        *broke = true;
        if (!failed_here)
            *o = theirs;
        return;
    }
    if (!failed_here && failed)
        aidev_mpi_outcome_set(o, AIDEV_ERROR_DEPENDENCY,
                              "%s #%" PRIu64 ": a staging copy failed on rank %" PRId64
                              "; the data is not to be trusted (that rank's event says why)",
                              aidev_mpi_kind_name(w->kind), w->seq, failed - 1);
}

/*
 * internal.h - the objects of libaidev-mpi and what its files share.
 *
 * A communicator (comm.c) owns a duplicate of the user's MPI communicator
 * and one progress thread. Enqueue calls (ops.c, buckets.c) check their
 * arguments, put two barriers and a user event on the user's queue and
 * append an operation to the communicator's list; the progress thread
 * takes operations in that order, waits for each one's turn on the queue,
 * agrees on it with the other ranks (agree.c), moves its data in chunks
 * (pipeline.c), and completes its event.
 */
#ifndef AIDEV_MPI_INTERNAL_H
#define AIDEV_MPI_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <aidev/aidev_mpi.h>

/* ------------------------------------------------------------------------ */
/* Errors (error.c)                                                         */
/* ------------------------------------------------------------------------ */

/* Sets this thread's message and returns |status|. */
aidev_status aidev_mpi_fail(aidev_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A failed libaidev call: the message names |call| and carries libaidev's. */
aidev_status aidev_mpi_fail_aidev(aidev_status status, const char *call);
void aidev_mpi_error_clear(void);
/* MPI's text for |code|, prefixed with |call| ("MPI_Iallreduce: ..."). */
void aidev_mpi_describe(int code, const char *call, char *out, size_t out_size);

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

typedef enum aidev_mpi_kind {
    AIDEV_MPI_KIND_ALLREDUCE = 1,
    AIDEV_MPI_KIND_BROADCAST,
    AIDEV_MPI_KIND_ALLGATHER,
    AIDEV_MPI_KIND_SEND,
    AIDEV_MPI_KIND_RECV,
} aidev_mpi_kind;

const char *aidev_mpi_kind_name(aidev_mpi_kind kind);

/* One side of an operation on this rank: the memory MPI reads (|in|) or
 * writes (|out|). */
typedef struct aidev_mpi_side {
    aidev_buffer buffer; /* NULL: the operation has no such side here */
    uint64_t offset;     /* bytes */
    char *host;          /* host address of |offset|; NULL: staged */
} aidev_mpi_side;

typedef struct aidev_mpi_work {
    struct aidev_mpi_work *next;
    aidev_mpi_kind kind;
    uint64_t seq;          /* 1, 2, ... per communicator: the "#N" of messages */
    uint64_t count;        /* elements (allgather: each rank's part) */
    aidev_type type;
    size_t elem;           /* bytes per element */
    aidev_mpi_op reduce;   /* allreduce */
    int root;              /* broadcast: the root; send/recv: the peer */
    aidev_mpi_side in, out;
    aidev_event ready;     /* the queue reached the operation, waits done */
    aidev_event done;      /* user event: the operation's own */
} aidev_mpi_work;

/* ------------------------------------------------------------------------ */
/* Communicator (comm.c)                                                    */
/* ------------------------------------------------------------------------ */

typedef struct aidev_mpi_comm_t {
    MPI_Comm mpi;            /* our duplicate, errors returned */
    int rank, size;
    aidev_queue queue;       /* the user's */
    aidev_device device;
    aidev_context context;
    uint64_t timeout_ns;
    uint64_t chunk_bytes;
    uint32_t staging_chunks;
    aidev_mpi_staging staging;

    /* Enqueue calls run one at a time, so the queue's order and the
     * list's order agree. */
    pthread_mutex_t enqueue_lock;
    uint64_t enqueued;       /* operations so far: the next seq - 1 */

    /* The list the progress thread takes from. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    aidev_mpi_work *head, *tail;
    bool closing;
    pthread_t thread;

    /* Set once, by the progress thread, when an operation timed out or MPI
     * failed: later operations fail at once. */
    atomic_bool broken;
    aidev_status broken_status;
    char broken_message[1024];

    /* Staging (made by the first staged enqueue, under enqueue_lock): host
     * memory for |staging_chunks| slots of |slot_bytes|, and a queue for
     * each direction so that copies in and out overlap. */
    char *staging_memory;
    uint64_t slot_bytes;
    aidev_queue stage_in, stage_out;

    /* f16 and bf16 reductions: MPI has no 16-bit float type. */
    MPI_Datatype half_type;
    MPI_Op f16_sum, f16_max, bf16_sum, bf16_max;
} aidev_mpi_comm_obj;

/* The communicator behind |handle| if it is a live one. */
aidev_status aidev_mpi_comm_lookup(aidev_mpi_comm handle, aidev_mpi_comm_obj **out);
/* Appends |op| to the list of its communicator (a new seq); wakes the
 * progress thread. Called under enqueue_lock. */
void aidev_mpi_comm_push(aidev_mpi_comm_obj *c, aidev_mpi_work *op);
/* Makes the staging memory and queues if they are not there yet. */
aidev_status aidev_mpi_comm_ensure_staging(aidev_mpi_comm_obj *c);
/* Marks the communicator broken with |status| and a message. */
void aidev_mpi_comm_break(aidev_mpi_comm_obj *c, aidev_status status, const char *message);

/* ------------------------------------------------------------------------ */
/* Running an operation (agree.c, pipeline.c)                               */
/* ------------------------------------------------------------------------ */

/* What running an operation came to on this rank. */
typedef struct aidev_mpi_outcome {
    aidev_status status;
    char message[1024];
} aidev_mpi_outcome;

void aidev_mpi_outcome_set(aidev_mpi_outcome *o, aidev_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Polls MPI and aidev work against the communicator's timeout: the
 * deadline moves on whenever something progresses. */
typedef struct aidev_mpi_poll {
    uint64_t timeout_ns;
    uint64_t deadline;
    uint64_t idle_since;  /* 0: progress on the last round */
    bool patient;         /* waiting for other ranks to arrive: sleep a little */
} aidev_mpi_poll;

void aidev_mpi_poll_start(aidev_mpi_poll *p, uint64_t timeout_ns, bool patient);
/* Call after each round: |progressed| moves the deadline on; otherwise it
 * yields (or sleeps, when patient and idle for a while). False once the
 * deadline has passed. */
bool aidev_mpi_poll_round(aidev_mpi_poll *p, bool progressed);
uint64_t aidev_mpi_now_ns(void);

/* The ranks agree on |op| before moving data: |local_failed| says this
 * rank's wait list failed. On SUCCESS *|any_staged| says whether some rank
 * stages its memory (then the closing check runs). Otherwise the outcome
 * is set (a failed rank, a mismatch, a timeout: *|broke| then). */
void aidev_mpi_agree_open(aidev_mpi_comm_obj *c, const aidev_mpi_work *op, bool local_failed,
                    bool local_staged, bool *any_staged, bool *broke, aidev_mpi_outcome *o);
/* After the data of a staged operation moved: every rank learns whether a
 * staging copy failed on some rank; |o| holds this rank's result and gets
 * the other ranks' failure. */
void aidev_mpi_agree_close(aidev_mpi_comm_obj *c, const aidev_mpi_work *op, bool *broke,
                     aidev_mpi_outcome *o);

/* Moves |op|'s data. On return |o| holds the result; *|broke| when MPI
 * failed or timed out (the communicator can no longer be trusted). */
void aidev_mpi_pipeline_run(aidev_mpi_comm_obj *c, const aidev_mpi_work *op, bool *broke,
                      aidev_mpi_outcome *o);

/* ------------------------------------------------------------------------ */
/* Types (types.c)                                                          */
/* ------------------------------------------------------------------------ */

/* The MPI datatype and reduction for |type| and |op|; false when the pair
 * has none. */
bool aidev_mpi_reduction_of(const aidev_mpi_comm_obj *c, aidev_type type, aidev_mpi_op op,
                      MPI_Datatype *out_type, MPI_Op *out_op);
/* Makes (or frees) the f16/bf16 datatype and operations of |c|. */
int aidev_mpi_types_create(aidev_mpi_comm_obj *c);
void aidev_mpi_types_free(aidev_mpi_comm_obj *c);
const char *aidev_mpi_reduce_name(aidev_mpi_op op);

/* Enqueue helpers shared by ops.c and buckets.c (ops.c). */
aidev_status aidev_mpi_enqueue_allreduce(aidev_mpi_comm_obj *c, aidev_buffer send,
                                   uint64_t send_offset, aidev_buffer recv,
                                   uint64_t recv_offset, uint64_t count, aidev_type type,
                                   aidev_mpi_op op, uint32_t wait_count,
                                   const aidev_event *wait_events, aidev_event *out_event);

#endif

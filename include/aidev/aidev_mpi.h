/*
 * aidev_mpi.h - aidev buffers through MPI (libaidev-mpi).
 *
 * Collectives and point-to-point transfers of aidev buffers as commands of
 * an aidev queue: each call returns at once, runs after the queue's earlier
 * commands and its wait list, holds the queue's later commands until it has
 * finished, and hands back an event. A training step enqueues its backward
 * pass on one queue and the gradient all-reduces on another (bound to a
 * communicator, as NCCL binds a communicator's work to a stream), so the
 * transfers overlap the compute that follows.
 *
 * MPI (Open MPI here) moves every byte; this library adds no transport.
 *
 * Memory
 *   A buffer whose memory the host addresses at a stable place
 *   (AIDEV_BUFFER_INFO_HOST_ADDRESS: HOST and SHARED memory where the
 *   backend gives an address, and every kind on devices whose memory is
 *   host memory) goes to MPI in place: no copy. Other memory (DEVICE memory
 *   of a GPU, OpenCL HOST buffers, which are reached by mapping) is staged:
 *   copied in chunks through host memory of the communicator, the device
 *   copies of one chunk overlapping the MPI transfer of the previous ones.
 *   MPI stacks know CUDA, ROCm and Level Zero memory, not OpenCL or Vulkan
 *   memory, so aidev never hands them a device pointer.
 *   AIDEV_MPI_STAGING_ALWAYS stages every buffer (for memory the host
 *   reaches but reads slowly, such as write-combined device memory).
 *
 * Order
 *   As in MPI (and NCCL), every rank of a communicator must call its
 *   collectives in the same order, and a send pairs with the receive its
 *   peer posts in the same position of their pairs' order. A communicator
 *   runs its operations one after another in the order they were enqueued;
 *   each takes its turn once its queue position and wait list allow. A
 *   send and a receive between two ranks complete together (the send
 *   waits for its receiver), so two ranks that both send to each other
 *   first wait for each other until the timeout: order them so that one
 *   sends while the other receives.
 *
 * Failures
 *   Before moving data, the ranks of an operation agree on it: its kind,
 *   count, type, reduction and root, and whether each rank's inputs are
 *   ready. A rank whose wait list failed fails the operation's event with
 *   AIDEV_ERROR_DEPENDENCY and the cause; every other rank fails it with
 *   AIDEV_ERROR_DEPENDENCY naming that rank, and the communicator stays
 *   usable. Ranks that disagree fail with AIDEV_ERROR_INVALID_ARGUMENT
 *   naming what differs. A rank that stops answering (dead, or stuck) makes
 *   the others fail with AIDEV_ERROR_TIMEOUT once no progress was seen for
 *   the communicator's timeout: MPI's calls are non-blocking and polled
 *   against it, so nothing hangs. A timed-out communicator takes no more
 *   operations (MPI has no way to cancel a collective): release it.
 *
 * Threads
 *   Each communicator owns one progress thread that makes every MPI call of
 *   the communicator, on its own duplicate of the MPI communicator. MPI must
 *   be initialised with MPI_THREAD_MULTIPLE: the progress threads call MPI
 *   while the application's threads go on calling it (MPI_THREAD_SERIALIZED
 *   would forbid the application any MPI call while a transfer is in
 *   flight, which is the whole time in an overlapped training loop). Calls
 *   are thread safe; one communicator's operations are ordered as their
 *   enqueue calls returned.
 *
 * Errors
 *   Calls return aidev_status. A failed call leaves a message for this
 *   thread in aidev_mpi_last_error(). The failure of an operation that was
 *   enqueued is carried by its event (aidev_event_message()).
 *
 * Lifetimes
 *   As with MPI's non-blocking calls, the buffers of an operation must not
 *   be released before its event completes. The queue must outlive the
 *   communicator; release communicators before their aidev context and
 *   before MPI_Finalize.
 */
#ifndef AIDEV_AIDEV_MPI_H
#define AIDEV_AIDEV_MPI_H

#include <stdint.h>

#include <mpi.h>

#include <aidev/aidev.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(AIDEV_BUILDING_MPI)
#define AIDEV_MPI_API __attribute__((visibility("default")))
#else
#define AIDEV_MPI_API
#endif

typedef struct aidev_mpi_comm_t *aidev_mpi_comm;

/* ------------------------------------------------------------------------ */
/* Communicators                                                            */
/* ------------------------------------------------------------------------ */

typedef enum aidev_mpi_staging {
    /* In place where the host addresses the memory, staged elsewhere. */
    AIDEV_MPI_STAGING_AUTO = 0,
    /* Every buffer through the staging chunks. */
    AIDEV_MPI_STAGING_ALWAYS = 1,
} aidev_mpi_staging;

typedef struct aidev_mpi_comm_desc {
    /* How long an operation may go without progress (no rank answering,
     * no chunk moving) before it fails with AIDEV_ERROR_TIMEOUT. 0: the
     * AIDEV_MPI_TIMEOUT environment variable in seconds ("30", "2.5"),
     * else 300 s. Time spent waiting for this rank's own wait list does not
     * count. */
    uint64_t timeout_ns;
    /* Bytes a transfer moves per MPI call and per staging copy (rounded
     * down to whole elements). 0: AIDEV_MPI_CHUNK_BYTES, else 4 MiB, which
     * is where Open MPI's shared-memory all-reduce ran fastest here
     * (mpi/README.md). At most 1 GiB. */
    uint64_t chunk_bytes;
    /* Staging chunks in flight at once (host memory: chunk_bytes each,
     * allocated on the first staged operation). 0: 4. 2 to 64. */
    uint32_t staging_chunks;
    aidev_mpi_staging staging;
} aidev_mpi_comm_desc;

/* Makes a communicator over the ranks of |comm| whose operations run in the
 * order of |queue|. Collective over |comm| (it duplicates it): every rank
 * calls it. |desc| may be NULL. Returns AIDEV_ERROR_INVALID_STATE when MPI
 * is not initialised or was finalised, AIDEV_ERROR_UNSUPPORTED when MPI
 * does not provide MPI_THREAD_MULTIPLE, AIDEV_ERROR_INVALID_HANDLE for a
 * bad |queue|, AIDEV_ERROR_INVALID_ARGUMENT for |comm| MPI_COMM_NULL or a
 * desc field out of its range, AIDEV_ERROR_BACKEND when an MPI call fails
 * (the message names it and MPI's text). */
AIDEV_MPI_API aidev_status aidev_mpi_comm_create(MPI_Comm comm, aidev_queue queue,
                                                 const aidev_mpi_comm_desc *desc,
                                                 aidev_mpi_comm *out_comm);

/* Waits for the communicator's operations to finish (or fail), then
 * releases it. Local: ranks need not release together. A communicator that
 * timed out keeps its MPI communicator and staging memory until
 * MPI_Finalize (MPI may still write there); that is not a leak.
 * AIDEV_ERROR_INVALID_HANDLE for a bad |comm|. */
AIDEV_MPI_API aidev_status aidev_mpi_comm_release(aidev_mpi_comm comm);

/* This rank's number and the number of ranks. Either pointer may be NULL.
 * AIDEV_ERROR_INVALID_HANDLE for a bad |comm|. */
AIDEV_MPI_API aidev_status aidev_mpi_comm_rank(aidev_mpi_comm comm, int *out_rank,
                                               int *out_size);

/* The message of the last failed aidev_mpi call on this thread, "" after a
 * success. Owned by the library, valid until the thread's next call. */
AIDEV_MPI_API const char *aidev_mpi_last_error(void);

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

/* Every operation below:
 *   - takes buffers of the communicator's queue's device, |offset|s in
 *     bytes (multiples of the element size) and |count|s in elements of
 *     |type|; a count of 0 moves nothing but still takes its turn;
 *   - returns at once; runs after the queue's earlier commands and every
 *     event of |wait_events|, and the queue's later commands run after it;
 *   - stores a new event in |*out_event| when it is not NULL (the caller
 *     releases it); the event fails as described at the top of this file;
 *   - returns, without enqueuing anything, AIDEV_ERROR_INVALID_HANDLE for a
 *     bad communicator, buffer or event, AIDEV_ERROR_INVALID_ARGUMENT for a
 *     buffer of another device, a misaligned offset, a type the operation
 *     does not take, a rank out of range, AIDEV_ERROR_OUT_OF_RANGE for a
 *     range outside its buffer, AIDEV_ERROR_INVALID_STATE when the
 *     communicator has timed out, or the status of the aidev call that
 *     failed (AIDEV_ERROR_OUT_OF_HOST_MEMORY, ...). */

typedef enum aidev_mpi_op {
    AIDEV_MPI_SUM = 1,
    AIDEV_MPI_MAX = 2,
} aidev_mpi_op;

/* recv[i] = op over ranks of send[i], for i < count, on every rank. |send|
 * NULL, or the same buffer and offset as |recv|: in place. Types: every
 * integer type, AIDEV_TYPE_F32, AIDEV_TYPE_F64, AIDEV_TYPE_F16 and
 * AIDEV_TYPE_BF16 (each pair added in f32 and rounded to the type, the
 * nearest even, as the tensor ops of aidev_tensor.h round). Every rank gets
 * the same bits (MPI's reduction algorithms combine each element in one
 * order for all ranks). */
AIDEV_MPI_API aidev_status aidev_mpi_allreduce(aidev_mpi_comm comm, aidev_buffer send,
                                               uint64_t send_offset, aidev_buffer recv,
                                               uint64_t recv_offset, uint64_t count,
                                               aidev_type type, aidev_mpi_op op,
                                               uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

/* |count| elements of |buffer| at |offset| on rank |root| are copied to the
 * same place on every other rank. Any type (AIDEV_TYPE_NONE: bytes). */
AIDEV_MPI_API aidev_status aidev_mpi_broadcast(aidev_mpi_comm comm, aidev_buffer buffer,
                                               uint64_t offset, uint64_t count,
                                               aidev_type type, int root,
                                               uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

/* Each rank's |count| elements of |send| land in |recv| at element
 * rank * count, on every rank (|recv| holds size * count elements from
 * |recv_offset|). |send| NULL: in place, each rank's part already at its
 * place in |recv|. Any type. */
AIDEV_MPI_API aidev_status aidev_mpi_allgather(aidev_mpi_comm comm, aidev_buffer send,
                                               uint64_t send_offset, aidev_buffer recv,
                                               uint64_t recv_offset, uint64_t count,
                                               aidev_type type, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

/* Sends |count| elements of |buffer| at |offset| to rank |peer|, which
 * receives them with aidev_mpi_recv() naming this rank. Both events
 * complete once the data has arrived. A receiver whose count or type
 * differs fails both sides with AIDEV_ERROR_INVALID_ARGUMENT. Any type. */
AIDEV_MPI_API aidev_status aidev_mpi_send(aidev_mpi_comm comm, aidev_buffer buffer,
                                          uint64_t offset, uint64_t count, aidev_type type,
                                          int peer, uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event);

/* Receives |count| elements from rank |peer| into |buffer| at |offset|. */
AIDEV_MPI_API aidev_status aidev_mpi_recv(aidev_mpi_comm comm, aidev_buffer buffer,
                                          uint64_t offset, uint64_t count, aidev_type type,
                                          int peer, uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event);

/* ------------------------------------------------------------------------ */
/* Gradient buckets                                                         */
/* ------------------------------------------------------------------------ */

/* One range of a buffer and the event after which it holds its values
 * (the gradient of one layer, and the kernel that wrote it). */
typedef struct aidev_mpi_range {
    uint64_t offset;    /* bytes */
    uint64_t count;     /* elements */
    aidev_event ready;  /* may be NULL: ready once the queue gets there */
} aidev_mpi_range;

/* All-reduces |range_count| ranges of |buffer| in place, in buckets that
 * start as soon as their own ranges are ready (the bucketing of PyTorch's
 * DistributedDataParallel): list the ranges in the order they become ready
 * (a backward pass: last layer first). Ranges next to each other in the
 * list and in the buffer (either way round) join one bucket until it holds
 * |bucket_bytes| (0: 25 MiB); each bucket is one all-reduce that waits on
 * the ready events of its ranges only. |out_events| (NULL, or
 * |range_count| entries) gets, for each range, the event of its bucket
 * (each a reference of its own); |out_event| (may be NULL) completes when
 * every bucket has, failing (AIDEV_ERROR_DEPENDENCY) if one failed. Ranges
 * must not overlap. Statuses as the operations above; on a failure nothing
 * is stored in the out parameters, but buckets already enqueued run. */
AIDEV_MPI_API aidev_status aidev_mpi_allreduce_buckets(aidev_mpi_comm comm,
                                                       aidev_buffer buffer, aidev_type type,
                                                       aidev_mpi_op op, uint64_t bucket_bytes,
                                                       uint32_t range_count,
                                                       const aidev_mpi_range *ranges,
                                                       aidev_event *out_events,
                                                       aidev_event *out_event);

#ifdef __cplusplus
}
#endif

#endif /* AIDEV_AIDEV_MPI_H */

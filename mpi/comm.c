/*
 * comm.c - communicators and their progress threads.
 *
 * Each communicator has one thread that makes every MPI call of its
 * duplicate MPI communicator. It takes the operations in the order they
 * were enqueued, waits until the user's queue reaches each one (its
 * "ready" barrier), has the ranks agree on it, moves its data, and sets its
 * event. While one operation waits for its turn nothing else runs on the
 * communicator: MPI requires the same order of collectives on every rank,
 * and that order is the enqueue order.
 *
 * A timeout or an MPI failure breaks the communicator: MPI cannot cancel a
 * collective, so its requests stay pending and may still write into the
 * staging memory if a late rank answers. That memory is kept until
 * MPI_Finalize (an attribute of MPI_COMM_SELF frees it then).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/internal.h"

#define DEFAULT_TIMEOUT_NS (300ull * 1000000000ull)
#define DEFAULT_CHUNK_BYTES (4ull << 20)
#define MIN_CHUNK_BYTES 64ull
#define MAX_CHUNK_BYTES (1ull << 30)
#define DEFAULT_STAGING_CHUNKS 4u
#define MIN_STAGING_CHUNKS 2u
#define MAX_STAGING_CHUNKS 64u

/* ------------------------------------------------------------------------ */
/* Live communicators, so that a stale handle is refused, not followed      */
/* ------------------------------------------------------------------------ */

static pthread_mutex_t comms_lock = PTHREAD_MUTEX_INITIALIZER;
static aidev_mpi_comm_obj **comms_live;
static size_t comms_live_count, comms_live_cap;

static bool comms_add(aidev_mpi_comm_obj *c)
{
    pthread_mutex_lock(&comms_lock);
    bool ok = true;
    if (comms_live_count == comms_live_cap) {
        size_t cap = comms_live_cap ? 2 * comms_live_cap : 8;
        aidev_mpi_comm_obj **grown = realloc(comms_live, cap * sizeof *grown);
        if (grown) {
            comms_live = grown;
            comms_live_cap = cap;
        } else {
            ok = false;
        }
    }
    if (ok)
        comms_live[comms_live_count++] = c;
    pthread_mutex_unlock(&comms_lock);
    return ok;
}

/* Finds |c| and, with |remove|, takes it off the list (one release wins). */
static bool comms_find(const aidev_mpi_comm_obj *c, bool remove)
{
    pthread_mutex_lock(&comms_lock);
    bool found = false;
    for (size_t i = 0; i < comms_live_count && !found; i++) {
        if (comms_live[i] != c)
            continue;
        found = true;
        if (remove)
            comms_live[i] = comms_live[--comms_live_count];
    }
    if (remove && comms_live_count == 0) {
        free(comms_live);
        comms_live = NULL;
        comms_live_cap = 0;
    }
    pthread_mutex_unlock(&comms_lock);
    return found;
}

aidev_status aidev_mpi_comm_lookup(aidev_mpi_comm handle, aidev_mpi_comm_obj **out)
{
    *out = NULL;
    if (!handle || !comms_find(handle, false))
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_HANDLE,
                              "comm: %p is not a live communicator (NULL, released, or never "
                              "made by aidev_mpi_comm_create)", (void *)handle);
    *out = handle;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Memory MPI may still write: kept until MPI_Finalize                      */
/* ------------------------------------------------------------------------ */

typedef struct parked_memory {
    struct parked_memory *next;
    char *memory;
} parked_memory;

static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static parked_memory *parked_head;
static int parked_keyval = MPI_KEYVAL_INVALID;

/* MPI_Finalize deletes MPI_COMM_SELF's attributes first, while MPI still
 * works: no request can touch the memory after that. */
static int parked_free_at_finalize(MPI_Comm comm, int keyval, void *value, void *extra)
{
    (void)comm, (void)keyval, (void)value, (void)extra;
    pthread_mutex_lock(&parked_lock);
    while (parked_head) {
        parked_memory *p = parked_head;
        parked_head = p->next;
        free(p->memory);
        free(p);
    }
    pthread_mutex_unlock(&parked_lock);
    return MPI_SUCCESS;
}

static void park_memory(char *memory)
{
    parked_memory *p = malloc(sizeof *p);
    if (!p)
        return; /* never freed: MPI may still write there */
    pthread_mutex_lock(&parked_lock);
    p->memory = memory;
    p->next = parked_head;
    parked_head = p;
    if (parked_keyval == MPI_KEYVAL_INVALID &&
        MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, parked_free_at_finalize, &parked_keyval,
                               NULL) == MPI_SUCCESS)
        MPI_Comm_set_attr(MPI_COMM_SELF, parked_keyval, NULL);
    pthread_mutex_unlock(&parked_lock);
}

/* ------------------------------------------------------------------------ */
/* Running operations                                                       */
/* ------------------------------------------------------------------------ */

void aidev_mpi_comm_break(aidev_mpi_comm_obj *c, aidev_status status, const char *message)
{
    if (atomic_load(&c->broken))
        return;
    c->broken_status = status;
    size_t n = strnlen(message, sizeof c->broken_message - 1);
    memcpy(c->broken_message, message, n);
    c->broken_message[n] = '\0';
    atomic_store(&c->broken, true);
}

static bool work_is_staged(const aidev_mpi_work *w)
{
    return (w->in.buffer && !w->in.host) || (w->out.buffer && !w->out.host);
}

static void work_run(aidev_mpi_comm_obj *c, aidev_mpi_work *w)
{
    aidev_mpi_outcome o = {.status = AIDEV_SUCCESS};
    const char *name = aidev_mpi_kind_name(w->kind);
    /* The queue's earlier commands and the wait list: local work, which
     * may take as long as it takes. */
    bool local_failed = aidev_event_wait(w->ready, AIDEV_WAIT_FOREVER) != AIDEV_SUCCESS;
    if (local_failed)
        aidev_mpi_outcome_set(&o, AIDEV_ERROR_DEPENDENCY, "%s #%llu did not run: %s", name,
                              (unsigned long long)w->seq, aidev_event_message(w->ready));
    if (atomic_load(&c->broken)) {
        aidev_mpi_outcome_set(&o, AIDEV_ERROR_CANCELLED,
                              "%s #%llu did not run: the communicator broke earlier: %s", name,
                              (unsigned long long)w->seq, c->broken_message);
    } else {
        bool any_staged = false, broke = false;
        aidev_mpi_agree_open(c, w, local_failed, work_is_staged(w), &any_staged, &broke, &o);
        if (!broke && o.status == AIDEV_SUCCESS && w->count) {
            aidev_mpi_pipeline_run(c, w, &broke, &o);
            if (!broke && any_staged)
                aidev_mpi_agree_close(c, w, &broke, &o);
        }
        if (broke)
            aidev_mpi_comm_break(c, o.status, o.message);
    }
    aidev_event_set_status(w->done, o.status, o.status != AIDEV_SUCCESS ? o.message : NULL);
}

static void work_free(aidev_mpi_work *w)
{
    if (w->ready)
        aidev_event_release(w->ready);
    if (w->done)
        aidev_event_release(w->done);
    free(w);
}

static void *comm_progress_main(void *arg)
{
    aidev_mpi_comm_obj *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->head && !c->closing)
            pthread_cond_wait(&c->wake, &c->lock);
        aidev_mpi_work *w = c->head;
        if (w) {
            c->head = w->next;
            if (!c->head)
                c->tail = NULL;
        }
        pthread_mutex_unlock(&c->lock);
        if (!w)
            return NULL;
        work_run(c, w);
        work_free(w);
    }
}

void aidev_mpi_comm_push(aidev_mpi_comm_obj *c, aidev_mpi_work *w)
{
    w->next = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

aidev_status aidev_mpi_comm_ensure_staging(aidev_mpi_comm_obj *c)
{
    if (c->staging_memory)
        return AIDEV_SUCCESS;
    /* A slot holds a chunk, or one element of every rank (allgather). */
    uint64_t slot = c->chunk_bytes > (uint64_t)c->size * 8 ? c->chunk_bytes : (uint64_t)c->size * 8;
    slot = (slot + 4095) & ~4095ull;
    char *memory = aligned_alloc(4096, slot * c->staging_chunks);
    if (!memory)
        return aidev_mpi_fail(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                              "out of host memory for %u staging chunks of %llu bytes",
                              c->staging_chunks, (unsigned long long)slot);
    aidev_status st = aidev_queue_create(c->device, AIDEV_QUEUE_PRIORITY_NORMAL, &c->stage_in);
    if (st == AIDEV_SUCCESS)
        st = aidev_queue_create(c->device, AIDEV_QUEUE_PRIORITY_NORMAL, &c->stage_out);
    if (st != AIDEV_SUCCESS) {
        aidev_mpi_fail_aidev(st, "aidev_queue_create (a staging queue)");
        if (c->stage_in)
            aidev_queue_release(c->stage_in);
        c->stage_in = NULL;
        free(memory);
        return st;
    }
    c->slot_bytes = slot;
    c->staging_memory = memory;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

/* A size or duration from the environment, or |fallback|; |scale| turns
 * the variable's unit into the field's. */
static aidev_status env_number(const char *name, double scale, uint64_t fallback,
                               uint64_t *out)
{
    const char *v = getenv(name);
    *out = fallback;
    if (!v || !*v)
        return AIDEV_SUCCESS;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !(d > 0) || d * scale > 1.8e19)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "%s: \"%s\" is not a positive number", name, v);
    *out = (uint64_t)(d * scale);
    return AIDEV_SUCCESS;
}

static aidev_status settle_desc(const aidev_mpi_comm_desc *desc, aidev_mpi_comm_obj *c)
{
    static const aidev_mpi_comm_desc none;
    const aidev_mpi_comm_desc *d = desc ? desc : &none;
    aidev_status st = AIDEV_SUCCESS;
    c->timeout_ns = d->timeout_ns;
    if (!c->timeout_ns)
        st = env_number("AIDEV_MPI_TIMEOUT", 1e9, DEFAULT_TIMEOUT_NS, &c->timeout_ns);
    c->chunk_bytes = d->chunk_bytes;
    if (st == AIDEV_SUCCESS && !c->chunk_bytes)
        st = env_number("AIDEV_MPI_CHUNK_BYTES", 1, DEFAULT_CHUNK_BYTES, &c->chunk_bytes);
    if (st != AIDEV_SUCCESS)
        return st;
    if (c->chunk_bytes < MIN_CHUNK_BYTES || c->chunk_bytes > MAX_CHUNK_BYTES)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "desc->chunk_bytes: %llu; use %llu to %llu (1 GiB)",
                              (unsigned long long)c->chunk_bytes, MIN_CHUNK_BYTES,
                              MAX_CHUNK_BYTES);
    c->staging_chunks = d->staging_chunks ? d->staging_chunks : DEFAULT_STAGING_CHUNKS;
    if (c->staging_chunks < MIN_STAGING_CHUNKS || c->staging_chunks > MAX_STAGING_CHUNKS)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "desc->staging_chunks: %u; use %u to %u", d->staging_chunks,
                              MIN_STAGING_CHUNKS, MAX_STAGING_CHUNKS);
    if (d->staging != AIDEV_MPI_STAGING_AUTO && d->staging != AIDEV_MPI_STAGING_ALWAYS)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                              "desc->staging: %d is not an aidev_mpi_staging", (int)d->staging);
    c->staging = d->staging;
    return AIDEV_SUCCESS;
}

/* MPI initialised, not finalised, with MPI_THREAD_MULTIPLE. */
static aidev_status check_mpi_state(void)
{
    int initialized = 0, finalized = 0, provided = MPI_THREAD_SINGLE;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_STATE,
                              "MPI is %s; call aidev_mpi_comm_create between MPI_Init_thread "
                              "and MPI_Finalize",
                              finalized ? "finalized" : "not initialized");
    MPI_Query_thread(&provided);
    if (provided != MPI_THREAD_MULTIPLE)
        return aidev_mpi_fail(AIDEV_ERROR_UNSUPPORTED,
                              "MPI provides thread level %d, not MPI_THREAD_MULTIPLE (%d): the "
                              "communicator's progress thread calls MPI while the application "
                              "does; initialise MPI with MPI_Init_thread(..., "
                              "MPI_THREAD_MULTIPLE, ...)",
                              provided, MPI_THREAD_MULTIPLE);
    return AIDEV_SUCCESS;
}

/* The device of |queue|: the public API names it through an event. */
static aidev_status device_of_queue(aidev_queue queue, aidev_device *out)
{
    aidev_event e = NULL;
    aidev_status st = aidev_enqueue_barrier(queue, 0, NULL, &e);
    if (st != AIDEV_SUCCESS)
        return aidev_mpi_fail(st, "queue: %s", aidev_last_error());
    st = aidev_event_get_info(e, AIDEV_EVENT_INFO_DEVICE, sizeof *out, out, NULL);
    aidev_event_release(e);
    if (st != AIDEV_SUCCESS)
        return aidev_mpi_fail_aidev(st, "aidev_event_get_info(AIDEV_EVENT_INFO_DEVICE)");
    return AIDEV_SUCCESS;
}

static aidev_status mpi_call_failed(int rc, const char *call)
{
    char text[512];
    aidev_mpi_describe(rc, call, text, sizeof text);
    return aidev_mpi_fail(AIDEV_ERROR_BACKEND, "%s", text);
}

/* The MPI side: our duplicate (errors returned, not fatal) and types. */
static aidev_status comm_open_mpi(MPI_Comm comm, aidev_mpi_comm_obj *c)
{
    int rc = MPI_Comm_dup(comm, &c->mpi);
    if (rc != MPI_SUCCESS) {
        c->mpi = MPI_COMM_NULL;
        return mpi_call_failed(rc, "MPI_Comm_dup");
    }
    rc = MPI_Comm_set_errhandler(c->mpi, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(c->mpi, &c->rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(c->mpi, &c->size);
    if (rc != MPI_SUCCESS)
        return mpi_call_failed(rc, "MPI_Comm_set_errhandler/rank/size");
    rc = aidev_mpi_types_create(c);
    if (rc != MPI_SUCCESS)
        return mpi_call_failed(rc, "MPI_Type_contiguous/MPI_Op_create (f16, bf16)");
    return AIDEV_SUCCESS;
}

static void comm_free(aidev_mpi_comm_obj *c)
{
    if (c->stage_in)
        aidev_queue_release(c->stage_in);
    if (c->stage_out)
        aidev_queue_release(c->stage_out);
    int finalized = 0;
    MPI_Finalized(&finalized);
    bool broken = atomic_load(&c->broken);
    if (broken && c->staging_memory && !finalized)
        park_memory(c->staging_memory);
    else
        free(c->staging_memory);
    if (!finalized) {
        aidev_mpi_types_free(c);
        /* A broken communicator may have requests pending: left to
         * MPI_Finalize. */
        if (c->mpi != MPI_COMM_NULL && !broken)
            MPI_Comm_free(&c->mpi);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->enqueue_lock);
    free(c);
}

AIDEV_MPI_API aidev_status aidev_mpi_comm_create(MPI_Comm comm, aidev_queue queue,
                                                 const aidev_mpi_comm_desc *desc,
                                                 aidev_mpi_comm *out_comm)
{
    aidev_mpi_error_clear();
    if (!out_comm)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT, "out_comm: NULL");
    *out_comm = NULL;
    aidev_status st = check_mpi_state();
    if (st != AIDEV_SUCCESS)
        return st;
    if (comm == MPI_COMM_NULL)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT, "comm: MPI_COMM_NULL");
    aidev_mpi_comm_obj *c = calloc(1, sizeof *c);
    if (!c)
        return aidev_mpi_fail(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    c->mpi = MPI_COMM_NULL;
    c->half_type = MPI_DATATYPE_NULL;
    c->f16_sum = c->f16_max = c->bf16_sum = c->bf16_max = MPI_OP_NULL;
    pthread_mutex_init(&c->enqueue_lock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    atomic_init(&c->broken, false);
    c->queue = queue;
    /* Every local check before the collective MPI_Comm_dup, so that a rank
     * refused here does not leave the others waiting in it. */
    st = settle_desc(desc, c);
    if (st == AIDEV_SUCCESS)
        st = device_of_queue(queue, &c->device);
    if (st == AIDEV_SUCCESS) {
        st = aidev_device_get_context(c->device, &c->context);
        if (st != AIDEV_SUCCESS)
            aidev_mpi_fail_aidev(st, "aidev_device_get_context");
    }
    if (st == AIDEV_SUCCESS)
        st = comm_open_mpi(comm, c);
    if (st == AIDEV_SUCCESS && pthread_create(&c->thread, NULL, comm_progress_main, c) != 0)
        st = aidev_mpi_fail(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "pthread_create: %s",
                            strerror(errno));
    else if (st == AIDEV_SUCCESS && !comms_add(c)) {
        st = aidev_mpi_fail(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        pthread_mutex_lock(&c->lock);
        c->closing = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    if (st != AIDEV_SUCCESS) {
        comm_free(c);
        return st;
    }
    *out_comm = c;
    return AIDEV_SUCCESS;
}

AIDEV_MPI_API aidev_status aidev_mpi_comm_release(aidev_mpi_comm comm)
{
    aidev_mpi_error_clear();
    if (!comm || !comms_find(comm, true))
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_HANDLE,
                              "comm: %p is not a live communicator (NULL, released, or never "
                              "made by aidev_mpi_comm_create)", (void *)comm);
    aidev_mpi_comm_obj *c = comm;
    pthread_mutex_lock(&c->lock);
    c->closing = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    comm_free(c);
    return AIDEV_SUCCESS;
}

AIDEV_MPI_API aidev_status aidev_mpi_comm_rank(aidev_mpi_comm comm, int *out_rank,
                                               int *out_size)
{
    aidev_mpi_error_clear();
    aidev_mpi_comm_obj *c;
    aidev_status st = aidev_mpi_comm_lookup(comm, &c);
    if (st != AIDEV_SUCCESS)
        return st;
    if (out_rank)
        *out_rank = c->rank;
    if (out_size)
        *out_size = c->size;
    return AIDEV_SUCCESS;
}

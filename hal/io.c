/*
 * io.c - io_uring (liburing) and pread engines for file reads.
 *
 * io_uring: one ring, submissions under a lock, one thread reaping
 * completions. At most |depth| reads are in the kernel at once; more wait in
 * a list the reaper feeds into the ring as slots free, so the completion
 * queue never overflows. The pread engine has the same shape with a few
 * threads that block in pread instead of a ring.
 */
#include "hal/io.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aidev_config.h"
#include "hal/env.h"
#include "hal/internal.h"

#if AIDEV_HAVE_LIBURING
#include <liburing.h>
#endif

#define RING_DEPTH 64u
#define PREAD_THREADS 4u

typedef struct io_request {
    struct io_request *next;
    int fd;
    void *dst;
    uint32_t size;
    uint64_t offset;
    bool direct;
    aidev_io_done_fn done;
    void *user_data;
    /* Stored (release) once the request is filled in, loaded (acquire) by
     * the reaper when the kernel hands it back: the ring is memory the
     * kernel writes, which orders nothing in C11 (nor for ThreadSanitizer),
     * so this is the edge by which the reaper sees the request, and what
     * the submitter wrote before it (the caller's state), complete. */
    atomic_bool submitted;
} io_request;

struct aidev_io_engine {
    bool uring;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    io_request *waiting_head, *waiting_tail; /* not yet in the kernel */
    uint32_t in_flight;
    bool stop;
    uint32_t thread_count;
    pthread_t threads[PREAD_THREADS];
#if AIDEV_HAVE_LIBURING
    struct io_uring ring;
#endif
};

static void push_waiting(aidev_io_engine *io, io_request *r)
{
    r->next = NULL;
    if (io->waiting_tail)
        io->waiting_tail->next = r;
    else
        io->waiting_head = r;
    io->waiting_tail = r;
}

static io_request *pop_waiting(aidev_io_engine *io)
{
    io_request *r = io->waiting_head;
    if (r) {
        io->waiting_head = r->next;
        if (!io->waiting_head)
            io->waiting_tail = NULL;
    }
    return r;
}

/* ------------------------------------------------------------------------ */
/* pread pool                                                               */
/* ------------------------------------------------------------------------ */

static void *pread_worker(void *opaque)
{
    aidev_io_engine *io = opaque;
    pthread_mutex_lock(&io->lock);
    for (;;) {
        io_request *r;
        while (!(r = pop_waiting(io)) && !io->stop)
            pthread_cond_wait(&io->cond, &io->lock);
        if (!r)
            break;
        io->in_flight++;
        pthread_mutex_unlock(&io->lock);
        ssize_t n;
        do
            n = pread(r->fd, r->dst, r->size, (off_t)r->offset);
        while (n < 0 && errno == EINTR);
        r->done(r->user_data, n < 0 ? -(int64_t)errno : (int64_t)n);
        free(r);
        pthread_mutex_lock(&io->lock);
        io->in_flight--;
        pthread_cond_broadcast(&io->cond);
    }
    pthread_mutex_unlock(&io->lock);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* io_uring                                                                 */
/* ------------------------------------------------------------------------ */

#if AIDEV_HAVE_LIBURING
/* Moves waiting requests into the ring while it has room. With the lock. */
static void feed_ring(aidev_io_engine *io)
{
    bool queued = false;
    while (io->waiting_head && io->in_flight < RING_DEPTH) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
        if (!sqe)
            break;
        io_request *r = pop_waiting(io);
        io_uring_prep_read(sqe, r->fd, r->dst, r->size, r->offset);
        /* A buffered read of cached data would be copied inside
         * io_uring_enter, on the submitting thread, which may be a device
         * queue's completion thread the next kernel waits for: punt those to
         * io_uring's workers. An O_DIRECT read is only queued to the disk by
         * io_uring_enter, and a worker would have to wait for a core the
         * kernels keep busy: submit those inline. */
        if (!r->direct)
            sqe->flags |= IOSQE_ASYNC;
        io_uring_sqe_set_data(sqe, r);
        io->in_flight++;
        queued = true;
    }
    if (queued) {
        int rc;
        do
            rc = io_uring_submit(&io->ring);
        while (rc == -EINTR || rc == -EAGAIN);
    }
}

static void *uring_reaper(void *opaque)
{
    aidev_io_engine *io = opaque;
    for (;;) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_wait_cqe(&io->ring, &cqe);
        if (rc == -EINTR)
            continue;
        if (rc < 0) {
            /* The ring itself broke: fail everything rather than hang. */
            pthread_mutex_lock(&io->lock);
            io_request *r;
            while ((r = pop_waiting(io))) {
                pthread_mutex_unlock(&io->lock);
                r->done(r->user_data, rc);
                free(r);
                pthread_mutex_lock(&io->lock);
            }
            bool stop = io->stop;
            pthread_mutex_unlock(&io->lock);
            if (stop)
                return NULL;
            continue;
        }
        io_request *r = io_uring_cqe_get_data(cqe);
        int64_t res = cqe->res;
        io_uring_cqe_seen(&io->ring, cqe);
        if (r)
            (void)atomic_load_explicit(&r->submitted, memory_order_acquire);
        if (!r) {
            /* The wake-up NOP of destroy. */
            pthread_mutex_lock(&io->lock);
            io->in_flight--;
            bool done = io->stop && io->in_flight == 0 && !io->waiting_head;
            pthread_cond_broadcast(&io->cond);
            pthread_mutex_unlock(&io->lock);
            if (done)
                return NULL;
            continue;
        }
        r->done(r->user_data, res);
        free(r);
        pthread_mutex_lock(&io->lock);
        io->in_flight--;
        feed_ring(io);
        bool done = io->stop && io->in_flight == 0 && !io->waiting_head;
        pthread_cond_broadcast(&io->cond);
        pthread_mutex_unlock(&io->lock);
        if (done)
            return NULL;
    }
}
#endif

/* ------------------------------------------------------------------------ */
/* The engine                                                               */
/* ------------------------------------------------------------------------ */

aidev_status aidev_io_engine_create(aidev_io_engine **out)
{
    aidev_io_engine *io = calloc(1, sizeof *io);
    if (!io)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pthread_mutex_init(&io->lock, NULL);
    pthread_cond_init(&io->cond, NULL);

    bool try_uring = !aidev_env_io_engine_pread();
#if AIDEV_HAVE_LIBURING
    if (try_uring) {
        int rc = io_uring_queue_init(RING_DEPTH, &io->ring, 0);
        if (rc == 0) {
            if (pthread_create(&io->threads[0], NULL, uring_reaper, io) == 0) {
                io->uring = true;
                io->thread_count = 1;
                pthread_setname_np(io->threads[0], "aidev-io-uring");
                *out = io;
                return AIDEV_SUCCESS;
            }
            io_uring_queue_exit(&io->ring);
        } else {
            aidev_backend_debug("io", "io_uring unavailable (%s); using pread threads",
                                strerror(-rc));
        }
    }
#else
    (void)try_uring;
#endif
    for (uint32_t i = 0; i < PREAD_THREADS; i++) {
        if (pthread_create(&io->threads[i], NULL, pread_worker, io) != 0)
            break;
        pthread_setname_np(io->threads[i], "aidev-io-pread");
        io->thread_count++;
    }
    if (io->thread_count == 0) {
        pthread_cond_destroy(&io->cond);
        pthread_mutex_destroy(&io->lock);
        free(io);
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "could not start file-read threads");
    }
    *out = io;
    return AIDEV_SUCCESS;
}

void aidev_io_engine_destroy(aidev_io_engine *io)
{
    if (!io)
        return;
    pthread_mutex_lock(&io->lock);
    io->stop = true;
#if AIDEV_HAVE_LIBURING
    if (io->uring) {
        /* Wake the reaper with a NOP; it leaves once nothing is in flight. */
        struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
        while (!sqe) {
            io_uring_submit(&io->ring);
            pthread_cond_wait(&io->cond, &io->lock);
            sqe = io_uring_get_sqe(&io->ring);
        }
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, NULL);
        io->in_flight++;
        io_uring_submit(&io->ring);
    }
#endif
    pthread_cond_broadcast(&io->cond);
    pthread_mutex_unlock(&io->lock);
    for (uint32_t i = 0; i < io->thread_count; i++)
        pthread_join(io->threads[i], NULL);
#if AIDEV_HAVE_LIBURING
    if (io->uring)
        io_uring_queue_exit(&io->ring);
#endif
    pthread_cond_destroy(&io->cond);
    pthread_mutex_destroy(&io->lock);
    free(io);
}

const char *aidev_io_engine_name(const aidev_io_engine *io)
{
    return io->uring ? "io_uring" : "pread";
}

aidev_status aidev_io_read(aidev_io_engine *io, int fd, void *dst, uint32_t size, uint64_t offset,
                           bool direct, aidev_io_done_fn done, void *user_data)
{
    io_request *r = malloc(sizeof *r);
    if (!r)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    *r = (io_request){.fd = fd, .dst = dst, .size = size, .offset = offset, .direct = direct,
                      .done = done, .user_data = user_data};
    atomic_store_explicit(&r->submitted, true, memory_order_release);
    pthread_mutex_lock(&io->lock);
    push_waiting(io, r);
#if AIDEV_HAVE_LIBURING
    if (io->uring)
        feed_ring(io);
    else
#endif
        pthread_cond_signal(&io->cond);
    pthread_mutex_unlock(&io->lock);
    return AIDEV_SUCCESS;
}

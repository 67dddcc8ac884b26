/*
 * file_read.c - aidev_enqueue_file_read as a hal op.
 *
 * Direct path: the buffer has a stable host address (HOST, SHARED, or any
 * memory of a device whose memory is host memory): reads of up to
 * CHUNK_BYTES land in it, MAX_READS at a time.
 *
 * Staged path: the buffer is device memory the host cannot address. Reads
 * land in STAGING_SLOTS host chunks; as each fills, a write command copies
 * it into the buffer on the queue's backend, and the slot takes the next
 * read once that copy is done: the disk and the copies overlap. The chunks
 * are one allocation of hal/hostmem.c: huge pages (fewer TLB misses for the
 * kernel's copy and the driver's DMA setup) on the device's NUMA node.
 *
 * Short reads are continued. The op ends once nothing is in flight: with
 * success after the last byte, or with the first error (later reads are not
 * started), so no copy or read is ever left running behind a completed
 * event.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal/hostmem.h"
#include "hal/internal.h"
#include "hal/io.h"
#include "hal/probes.h"
#include "hal/scheduler.h"

#define CHUNK_BYTES (8u << 20)
#define MAX_READS 4u
#define STAGING_SLOTS 4u
#define DIRECT_ALIGN 4096u

typedef struct file_read file_read;

typedef struct staging_slot {
    file_read *owner;
    void *memory;
    uint64_t file_offset;   /* of the chunk this slot holds */
    uint32_t size;          /* bytes of the chunk */
    uint32_t filled;        /* bytes read so far */
} staging_slot;

struct file_read {
    aidev_pending_command *pending;
    aidev_queue_obj *queue;
    aidev_buffer_obj *buffer;
    uint64_t buffer_offset;
    int fd;                 /* our duplicate, or -1 */
    int caller_fd;          /* the number the caller gave, for messages */
    int dup_errno;          /* why dup failed */
    uint64_t file_offset, size;
    bool want_direct;
    bool direct;
    char *host;             /* direct path: host address of buffer_offset */

    pthread_mutex_t lock;
    uint64_t next;          /* bytes handed to reads so far */
    uint64_t done;          /* bytes read (direct) or copied (staged) */
    uint32_t in_flight;     /* reads and copies */
    aidev_status status;
    char message[512];
    staging_slot slots[STAGING_SLOTS];
    aidev_backend_host_block staging; /* the slots' memory */
};

static void fail_locked(file_read *fr, aidev_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_locked(file_read *fr, aidev_status status, const char *fmt, ...)
{
    if (fr->status != AIDEV_SUCCESS)
        return;
    fr->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fr->message, sizeof fr->message, fmt, ap);
    va_end(ap);
}

/* Ends the op when nothing is left in flight. Called with the lock; drops
 * it. */
static void finish_if_idle(file_read *fr)
{
    bool end = fr->in_flight == 0 && (fr->status != AIDEV_SUCCESS || fr->done == fr->size);
    aidev_status st = fr->status;
    char message[512];
    snprintf(message, sizeof message, "%s", fr->message);
    pthread_mutex_unlock(&fr->lock);
    if (!end)
        return;
    aidev_event_obj *signal = aidev_pending_signal(fr->pending);
    if (signal)
        signal->times.end = aidev_now_ns();
    aidev_queue_op_finish(fr->pending, st, message);
}

/* ------------------------------------------------------------------------ */
/* Direct path                                                              */
/* ------------------------------------------------------------------------ */

static void direct_issue_locked(file_read *fr);

typedef struct direct_read {
    file_read *fr;
    uint64_t at;    /* offset within the request */
    uint32_t size;
} direct_read;

static void direct_done(void *user, int64_t result)
{
    direct_read *r = user;
    file_read *fr = r->fr;
    pthread_mutex_lock(&fr->lock);
    fr->in_flight--;
    if (result < 0) {
        fail_locked(fr, AIDEV_ERROR_IO, "file read of %u bytes at file offset %llu (fd %d): %s",
                    r->size, (unsigned long long)(fr->file_offset + r->at), fr->fd,
                    strerror((int)-result));
    } else if (result == 0) {
        fail_locked(fr, AIDEV_ERROR_IO,
                    "file read: end of file at offset %llu, before the %llu bytes asked at "
                    "offset %llu",
                    (unsigned long long)(fr->file_offset + r->at), (unsigned long long)fr->size,
                    (unsigned long long)fr->file_offset);
    } else {
        fr->done += (uint64_t)result;
        if ((uint64_t)result < r->size && fr->status == AIDEV_SUCCESS) {
            /* A short read: continue where it stopped. */
            r->at += (uint64_t)result;
            r->size -= (uint32_t)result;
            fr->in_flight++;
            aidev_io_engine *io = fr->queue->obj.context->io;
            if (aidev_io_read(io, fr->fd, fr->host + r->at, r->size, fr->file_offset + r->at,
                              fr->direct, direct_done, r) != AIDEV_SUCCESS) {
                fr->in_flight--;
                fail_locked(fr, AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            } else {
                pthread_mutex_unlock(&fr->lock);
                return;
            }
        }
    }
    free(r);
    direct_issue_locked(fr);
    finish_if_idle(fr);
}

/* Starts reads until MAX_READS are in flight. With the lock. */
static void direct_issue_locked(file_read *fr)
{
    aidev_io_engine *io = fr->queue->obj.context->io;
    while (fr->status == AIDEV_SUCCESS && fr->next < fr->size && fr->in_flight < MAX_READS) {
        uint64_t left = fr->size - fr->next;
        uint32_t n = left < CHUNK_BYTES ? (uint32_t)left : CHUNK_BYTES;
        direct_read *r = malloc(sizeof *r);
        if (!r) {
            fail_locked(fr, AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            return;
        }
        /* Filled in before the read goes: it may complete at once. */
        *r = (direct_read){.fr = fr, .at = fr->next, .size = n};
        fr->next += n;
        fr->in_flight++;
        if (aidev_io_read(io, fr->fd, fr->host + r->at, n, fr->file_offset + r->at, fr->direct,
                          direct_done, r) != AIDEV_SUCCESS) {
            free(r);
            fr->in_flight--;
            fail_locked(fr, AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Staged path                                                              */
/* ------------------------------------------------------------------------ */

static void staged_issue_locked(file_read *fr);

static void copy_done(aidev_backend_event *e, aidev_status status, void *user)
{
    staging_slot *slot = user;
    file_read *fr = slot->owner;
    pthread_mutex_lock(&fr->lock);
    fr->in_flight--;
    if (status != AIDEV_SUCCESS)
        fail_locked(fr, status, "copying a staged chunk into the buffer: %s",
                    aidev_backend_event_message(e));
    else
        fr->done += slot->size;
    slot->size = 0; /* free for the next chunk */
    staged_issue_locked(fr);
    finish_if_idle(fr);
}

static void slot_read_done(void *user, int64_t result)
{
    staging_slot *slot = user;
    file_read *fr = slot->owner;
    aidev_io_engine *io = fr->queue->obj.context->io;
    pthread_mutex_lock(&fr->lock);
    fr->in_flight--;
    if (result < 0 || result == 0) {
        if (result < 0)
            fail_locked(fr, AIDEV_ERROR_IO, "file read of %u bytes at file offset %llu (fd %d): %s",
                        slot->size - slot->filled,
                        (unsigned long long)(slot->file_offset + slot->filled), fr->fd,
                        strerror((int)-result));
        else
            fail_locked(fr, AIDEV_ERROR_IO,
                        "file read: end of file at offset %llu, before the %llu bytes asked at "
                        "offset %llu",
                        (unsigned long long)(slot->file_offset + slot->filled),
                        (unsigned long long)fr->size, (unsigned long long)fr->file_offset);
        slot->size = 0;
        finish_if_idle(fr);
        return;
    }
    slot->filled += (uint32_t)result;
    if (slot->filled < slot->size) {
        /* A short read: continue into the same slot. */
        fr->in_flight++;
        if (aidev_io_read(io, fr->fd, (char *)slot->memory + slot->filled,
                          slot->size - slot->filled, slot->file_offset + slot->filled, fr->direct,
                          slot_read_done, slot) != AIDEV_SUCCESS) {
            fr->in_flight--;
            fail_locked(fr, AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            slot->size = 0;
            finish_if_idle(fr);
            return;
        }
        pthread_mutex_unlock(&fr->lock);
        return;
    }
    if (fr->status != AIDEV_SUCCESS) {
        slot->size = 0;
        finish_if_idle(fr);
        return;
    }
    /* The chunk is in: copy it into the buffer on the queue's backend. */
    aidev_event_obj *copied;
    aidev_status st = aidev_event_new(fr->queue->obj.context, fr->queue->device, false, &copied);
    if (st == AIDEV_SUCCESS) {
        copied->kind = AIDEV_CMD_INTERNAL;
        aidev_backend_command cmd = {.type = AIDEV_COMMAND_WRITE};
        cmd.u.write.buffer = fr->buffer->native;
        cmd.u.write.offset = fr->buffer_offset + (slot->file_offset - fr->file_offset);
        cmd.u.write.size = slot->size;
        cmd.u.write.src = slot->memory;
        fr->in_flight++;
        pthread_mutex_unlock(&fr->lock);
        st = aidev_queue_submit_internal(fr->queue, &cmd, copied);
        if (st == AIDEV_SUCCESS) {
            aidev_backend_event_on_complete(copied, copy_done, slot);
            aidev_backend_event_release(copied);
            return;
        }
        aidev_backend_event_release(copied);
        pthread_mutex_lock(&fr->lock);
        fr->in_flight--;
        fail_locked(fr, st, "copying a staged chunk into the buffer: %s", aidev_error_message());
    } else {
        fail_locked(fr, st, "out of host memory");
    }
    slot->size = 0;
    finish_if_idle(fr);
}

/* Gives every free slot its next chunk. With the lock. */
static void staged_issue_locked(file_read *fr)
{
    aidev_io_engine *io = fr->queue->obj.context->io;
    for (uint32_t i = 0; i < STAGING_SLOTS; i++) {
        staging_slot *slot = &fr->slots[i];
        if (fr->status != AIDEV_SUCCESS || fr->next >= fr->size)
            return;
        if (slot->size || !slot->memory)
            continue;
        uint64_t left = fr->size - fr->next;
        slot->size = left < CHUNK_BYTES ? (uint32_t)left : CHUNK_BYTES;
        slot->filled = 0;
        slot->file_offset = fr->file_offset + fr->next;
        fr->next += slot->size;
        fr->in_flight++;
        if (aidev_io_read(io, fr->fd, slot->memory, slot->size, slot->file_offset, fr->direct,
                          slot_read_done, slot) != AIDEV_SUCCESS) {
            fr->in_flight--;
            slot->size = 0;
            fail_locked(fr, AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The op                                                                   */
/* ------------------------------------------------------------------------ */

/* Reopens the file with O_DIRECT when the request is aligned for it. */
static void try_direct(file_read *fr)
{
    if (!fr->want_direct || fr->file_offset % DIRECT_ALIGN || fr->size % DIRECT_ALIGN)
        return;
    if (fr->host && (uintptr_t)fr->host % DIRECT_ALIGN)
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fr->fd);
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        aidev_backend_debug("io", "O_DIRECT not available for fd %d: %s", fr->fd, strerror(errno));
        return;
    }
    close(fr->fd);
    fr->fd = fd;
    fr->direct = true;
}

/* What |fd| is when it is neither a regular file nor a block device, else
 * NULL. Pipes, FIFOs, sockets and terminals have no file offset and may
 * block until a writer acts (io_uring would wait in the kernel, pread
 * fails with ESPIPE): refused the same way on every engine, before either
 * sees them. */
static const char *stream_kind(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return "not something fstat can describe";
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
        return NULL;
    if (S_ISFIFO(st.st_mode))
        return "a pipe or FIFO";
    if (S_ISSOCK(st.st_mode))
        return "a socket";
    if (S_ISCHR(st.st_mode))
        return "a character device (a terminal, /dev/zero...)";
    if (S_ISDIR(st.st_mode))
        return "a directory";
    return "not a regular file";
}

static bool ensure_engine(aidev_context_obj *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->io && aidev_io_engine_create(&ctx->io) != AIDEV_SUCCESS)
        ctx->io = NULL;
    bool ok = ctx->io != NULL;
    pthread_mutex_unlock(&ctx->lock);
    return ok;
}

static void file_read_start(aidev_pending_command *p, void *state)
{
    file_read *fr = state;
    fr->pending = p;
    aidev_context_obj *ctx = fr->queue->obj.context;
    aidev_event_obj *signal = aidev_pending_signal(p);

    pthread_mutex_lock(&fr->lock);
    const char *not_a_file = fr->fd >= 0 ? stream_kind(fr->fd) : NULL;
    if (fr->fd < 0)
        fail_locked(fr, AIDEV_ERROR_IO, "file read: fd is not an open file: %s",
                    strerror(fr->dup_errno));
    else if (not_a_file)
        fail_locked(fr, AIDEV_ERROR_IO,
                    "file read: fd %d is %s; file reads take a regular file or a block device "
                    "(a read at a file offset that always returns)",
                    fr->caller_fd, not_a_file);
    else if (!ensure_engine(ctx))
        fail_locked(fr, AIDEV_ERROR_OUT_OF_HOST_MEMORY, "file read: %s", aidev_error_message());
    if (fr->status != AIDEV_SUCCESS) {
        finish_if_idle(fr);
        return;
    }
    /* Read now, not at the enqueue: the buffer's touch, which restores it
     * where evicted, came after the op was made. */
    if (fr->buffer->host_ptr)
        fr->host = (char *)fr->buffer->host_ptr + fr->buffer_offset;
    try_direct(fr);
    AIDEV_PROBE4(file_read, fr->queue->id, fr->fd, fr->file_offset, fr->size);
    if (signal) {
        signal->io_engine = aidev_io_engine_name(ctx->io);
        signal->io_direct = fr->direct;
    }
    if (fr->host) {
        direct_issue_locked(fr);
    } else {
        /* Page-aligned (huge-page aligned where it got huge pages), so
         * O_DIRECT reads may land in it. */
        if (aidev_hostmem_alloc((uint64_t)STAGING_SLOTS * CHUNK_BYTES, fr->queue->device->numa_node,
                                AIDEV_HOST_ALLOC_UNINITIALIZED, &fr->staging) != AIDEV_SUCCESS) {
            fail_locked(fr, AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                        "file read: out of host memory for staging: %s", aidev_error_message());
        } else {
            for (uint32_t i = 0; i < STAGING_SLOTS; i++) {
                fr->slots[i].owner = fr;
                fr->slots[i].memory = (char *)fr->staging.ptr + (size_t)i * CHUNK_BYTES;
            }
            staged_issue_locked(fr);
        }
    }
    finish_if_idle(fr);
}

/* Context release: no read starts after this; those in flight end as
 * they do, and the op ends with AIDEV_ERROR_CANCELLED once they have. */
static void file_read_cancel(void *state)
{
    file_read *fr = state;
    pthread_mutex_lock(&fr->lock);
    if (fr->done < fr->size)
        fail_locked(fr, AIDEV_ERROR_CANCELLED,
                    "file read: cancelled after %llu of %llu bytes (the context was released)",
                    (unsigned long long)fr->done, (unsigned long long)fr->size);
    pthread_mutex_unlock(&fr->lock);
}

static void file_read_destroy(void *state)
{
    file_read *fr = state;
    if (fr->fd >= 0)
        close(fr->fd);
    aidev_hostmem_free(&fr->staging, false);
    pthread_mutex_destroy(&fr->lock);
    free(fr);
}

aidev_status aidev_file_read_op(aidev_queue_obj *q, aidev_buffer_obj *b, uint64_t buffer_offset,
                                int fd, uint64_t file_offset, uint64_t size, uint32_t flags,
                                aidev_hal_op *out_op)
{
    file_read *fr = calloc(1, sizeof *fr);
    if (!fr)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pthread_mutex_init(&fr->lock, NULL);
    fr->queue = q;
    fr->buffer = b;
    fr->buffer_offset = buffer_offset;
    fr->file_offset = file_offset;
    fr->size = size;
    fr->want_direct = flags & AIDEV_FILE_READ_DIRECT;
    /* Our own descriptor: the caller may close theirs, and a number reused
     * for another file must never be read in its place. A bad fd is the
     * event's error, like any failure of the read. */
    fr->caller_fd = fd;
    fr->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    fr->dup_errno = fd >= 0 ? errno : EBADF;
    *out_op = (aidev_hal_op){.start = file_read_start,
                             .destroy = file_read_destroy,
                             .cancel = file_read_cancel,
                             .state = fr};
    return AIDEV_SUCCESS;
}

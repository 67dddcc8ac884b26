/*
 * queue_failures.c - the first failure of a queue's commands since its last
 * finish, what aidev_queue_finish reports (as CUDA's stream synchronisation
 * reports a stream's error).
 *
 * Failures arrive from wherever commands complete: an event's completion on
 * a backend's thread (the command's event carries the record, and may
 * complete after the queue is released, hence the references), or the
 * hal's hold list for a held command that has no event. The first one is
 * kept whole; later ones are only counted.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hal/internal.h"

struct aidev_queue_failures {
    atomic_uint refs;
    pthread_mutex_t lock;
    aidev_status status; /* AIDEV_SUCCESS: none since the last finish */
    uint32_t more;       /* failures after the first */
    char message[1536];
};

aidev_queue_failures *aidev_queue_failures_new(void)
{
    aidev_queue_failures *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

aidev_queue_failures *aidev_queue_failures_retain(aidev_queue_failures *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void aidev_queue_failures_release(aidev_queue_failures *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void aidev_queue_failures_note(aidev_queue_failures *f, aidev_command_kind kind,
                               const char *kernel, uint64_t bytes, aidev_status status,
                               const char *cause)
{
    pthread_mutex_lock(&f->lock);
    if (f->status != AIDEV_SUCCESS) {
        f->more++;
    } else {
        char what[160];
        if (kernel && kernel[0])
            snprintf(what, sizeof what, "%s of kernel '%s'", aidev_command_kind_name(kind),
                     kernel);
        else if (bytes)
            snprintf(what, sizeof what, "%s of %llu bytes", aidev_command_kind_name(kind),
                     (unsigned long long)bytes);
        else
            snprintf(what, sizeof what, "%s", aidev_command_kind_name(kind));
        f->status = status;
        f->more = 0;
        snprintf(f->message, sizeof f->message, "a %s failed with %s: %s", what,
                 aidev_status_string(status), cause && *cause ? cause : "(no message)");
    }
    pthread_mutex_unlock(&f->lock);
}

aidev_status aidev_queue_failures_take(aidev_queue_failures *f)
{
    pthread_mutex_lock(&f->lock);
    aidev_status status = f->status;
    if (status != AIDEV_SUCCESS) {
        if (f->more)
            aidev_error(status, "since the last finish, %s (and %u more failed after it)",
                        f->message, f->more);
        else
            aidev_error(status, "since the last finish, %s", f->message);
        f->status = AIDEV_SUCCESS;
        f->more = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return status;
}

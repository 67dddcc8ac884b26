/*
 * template_queue.c - queues: one worker thread per queue runs its commands
 * in order, so queue_submit returns at once and queues overlap.
 *
 * A submitted command waits for two things: the queue's earlier commands
 * (the worker takes them in order) and its wait list (a counter that the
 * events' completion callbacks bring down). When the counter reaches zero
 * the worker runs the command, then completes its event. When an event it
 * waited on failed, the command does not run and its event completes with
 * AIDEV_ERROR_DEPENDENCY, the cause in the message.
 *
 * YOUR DEVICE: instead of running the command on the worker, translate it
 * into your device's command stream; wait on events of your own queues with
 * the device's native primitives (aidev_backend_event_set_native() /
 * aidev_backend_event_native()) and on other events as done here; complete
 * events from the thread that learns the device finished (an interrupt
 * handler thread, a fence poller).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

typedef struct template_command {
    struct template_command *next;
    template_queue *queue;
    /* A copy of the command: libaidev's is valid only during queue_submit. */
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    aidev_backend_event *signal; /* may be NULL */
    /* What the command uses, held until it is done. */
    template_buffer *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t buffer_count;
    template_kernel *kernel;
    /* Under the queue's lock: wait events still pending (plus one while
     * submit registers them), and, when the command must not run, the
     * status to complete it with and why. */
    uint32_t pending_waits;
    aidev_status failure;
    char cause[512];
} template_command;

struct template_queue {
    template_device *device;
    pthread_t worker;
    pthread_mutex_t lock;
    /* Broadcast on every change: a command added, a wait done, a command
     * completed, stop. Both the worker and queue_finish wait on it. */
    pthread_cond_t changed;
    template_command *head, *tail;
    uint64_t submitted, completed;
    bool stop;
};

/* ------------------------------------------------------------------------ */
/* Running one command                                                      */
/* ------------------------------------------------------------------------ */

static char *buffer_at(void *buffer, uint64_t offset)
{
    return (char *)((template_buffer *)buffer)->ptr + offset;
}

/* |pattern| holds the caller's 1, 2 or 4 bytes replicated to 4 bytes, and
 * the fill starts at a multiple of the pattern size, so byte i of the range
 * is byte i % 4 of the word. */
static void fill(char *dst, uint64_t size, uint32_t pattern)
{
    unsigned char p[4];
    memcpy(p, &pattern, 4);
    for (uint64_t i = 0; i < size; i++)
        dst[i] = (char)p[i % 4];
}

static void run_command(const template_command *c)
{
    const aidev_backend_command *cmd = &c->cmd;
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        memcpy(buffer_at(cmd->u.write.buffer, cmd->u.write.offset), cmd->u.write.src,
               cmd->u.write.size);
        break;
    case AIDEV_COMMAND_READ:
        memcpy(cmd->u.read.dst, buffer_at(cmd->u.read.buffer, cmd->u.read.offset),
               cmd->u.read.size);
        break;
    case AIDEV_COMMAND_COPY:
        /* libaidev refuses overlapping ranges of one buffer. */
        memcpy(buffer_at(cmd->u.copy.dst, cmd->u.copy.dst_offset),
               buffer_at(cmd->u.copy.src, cmd->u.copy.src_offset), cmd->u.copy.size);
        break;
    case AIDEV_COMMAND_FILL:
        fill(buffer_at(cmd->u.fill.buffer, cmd->u.fill.offset), cmd->u.fill.size,
             cmd->u.fill.pattern);
        break;
    case AIDEV_COMMAND_DISPATCH:
        template_kernel_run(c->kernel, cmd);
        break;
    case AIDEV_COMMAND_HOST_CALLBACK:
        cmd->u.host_callback.fn(cmd->u.host_callback.user_data);
        break;
    case AIDEV_COMMAND_BARRIER:
        break; /* waiting was all it had to do */
    case AIDEV_COMMAND_PREFETCH:
        break; /* never sent: no AIDEV_BACKEND_CAP_PREFETCH (host memory has one place) */
    }
}

static void command_free(template_command *c)
{
    for (uint32_t i = 0; i < c->buffer_count; i++)
        template_buffer_release(c->buffers[i]);
    if (c->kernel)
        template_kernel_release(c->kernel);
    free(c);
}

/* ------------------------------------------------------------------------ */
/* The worker                                                               */
/* ------------------------------------------------------------------------ */

static void *worker_main(void *opaque)
{
    template_queue *q = opaque;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!(q->head && q->head->pending_waits == 0) && !(q->stop && !q->head))
            pthread_cond_wait(&q->changed, &q->lock);
        template_command *c = q->head;
        if (!c)
            break; /* stopping, and nothing left */
        aidev_status failure = c->failure;
        pthread_mutex_unlock(&q->lock);

        uint64_t start = aidev_backend_now_ns();
        if (failure == AIDEV_SUCCESS)
            run_command(c);
        uint64_t end = aidev_backend_now_ns();

        pthread_mutex_lock(&q->lock);
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);

        /* Complete outside the lock: the event's callbacks may submit to
         * this very queue. */
        if (c->signal) {
            aidev_backend_event_set_times(c->signal, start, end);
            if (failure == AIDEV_SUCCESS)
                aidev_backend_event_complete(c->signal, AIDEV_SUCCESS, NULL);
            else
                aidev_backend_event_complete(c->signal, failure, "%s", c->cause);
        }
        command_free(c);

        pthread_mutex_lock(&q->lock);
        q->completed++;
        pthread_cond_broadcast(&q->changed);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* Called once per wait event when it completes (maybe at once, inside
 * aidev_backend_event_on_complete). */
static void wait_done(aidev_backend_event *event, aidev_status status, void *user_data)
{
    template_command *c = user_data;
    template_queue *q = c->queue;
    pthread_mutex_lock(&q->lock);
    if (status != AIDEV_SUCCESS && c->failure == AIDEV_SUCCESS) {
        c->failure = AIDEV_ERROR_DEPENDENCY;
        snprintf(c->cause, sizeof c->cause, "an event it waited on failed with %s: %s",
                 aidev_status_string(status), aidev_backend_event_message(event));
    }
    /* Under the lock, so the worker cannot run and free the command (and
     * the queue go away) before we are done with them. */
    if (--c->pending_waits == 0)
        pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

/* ------------------------------------------------------------------------ */
/* Vtable entries                                                           */
/* ------------------------------------------------------------------------ */

aidev_status template_queue_create(void *device, aidev_queue_priority priority,
                                   void **out_queue)
{
    /* YOUR DEVICE: map |priority| to the device's queue priorities. */
    (void)priority;
    template_queue *q = calloc(1, sizeof *q);
    if (!q)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "template: out of memory");
    q->device = device;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
    int err = pthread_create(&q->worker, NULL, worker_main, q);
    if (err) {
        pthread_cond_destroy(&q->changed);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       "template: pthread_create failed: %s", strerror(err));
    }
    *out_queue = q;
    return AIDEV_SUCCESS;
}

/* libaidev has finished the queue: every command has completed. */
void template_queue_destroy(void *queue)
{
    template_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->worker, NULL);
    pthread_cond_destroy(&q->changed);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void hold_buffer(template_command *c, void *buffer)
{
    template_buffer_retain(buffer);
    c->buffers[c->buffer_count++] = buffer;
}

/* Copies what the command needs past this call and takes references on
 * the objects it uses. */
static void capture(template_command *c, const aidev_backend_command *cmd)
{
    c->cmd = *cmd;
    /* libaidev's helper lists the buffers of every command type. */
    void *buffers[AIDEV_BACKEND_COMMAND_MAX_BUFFERS];
    uint32_t buffer_count = aidev_backend_command_buffers(cmd, buffers);
    for (uint32_t i = 0; i < buffer_count; i++)
        hold_buffer(c, buffers[i]);
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        memcpy(c->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof c->args[0]);
        c->cmd.u.dispatch.args = c->args;
        c->kernel = cmd->u.dispatch.kernel;
        template_kernel_retain(c->kernel);
    }
}

aidev_status template_queue_submit(void *queue, const aidev_backend_command *cmd,
                                   uint32_t wait_count, aidev_backend_event *const *waits,
                                   aidev_backend_event *signal)
{
    template_queue *q = queue;
    template_command *c = calloc(1, sizeof *c);
    if (!c)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "template: out of memory");
    c->queue = q;
    c->signal = signal;
    capture(c, cmd);

    /* Append first, with one extra pending wait so the worker cannot take
     * the command while its waits are being registered. */
    pthread_mutex_lock(&q->lock);
    c->pending_waits = wait_count + 1;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->submitted++;
    pthread_mutex_unlock(&q->lock);

    for (uint32_t i = 0; i < wait_count; i++) {
        if (aidev_backend_event_on_complete(waits[i], wait_done, c) != AIDEV_SUCCESS) {
            /* No callback will come: count it as done, and failed. */
            pthread_mutex_lock(&q->lock);
            if (c->failure == AIDEV_SUCCESS) {
                c->failure = AIDEV_ERROR_OUT_OF_HOST_MEMORY;
                snprintf(c->cause, sizeof c->cause,
                         "template: out of memory waiting for event %u", i);
            }
            c->pending_waits--;
            pthread_mutex_unlock(&q->lock);
        }
    }

    pthread_mutex_lock(&q->lock);
    if (--c->pending_waits == 0)
        pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    return AIDEV_SUCCESS;
}

aidev_status template_queue_finish(void *queue)
{
    template_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    uint64_t target = q->submitted;
    while (q->completed < target)
        pthread_cond_wait(&q->changed, &q->lock);
    pthread_mutex_unlock(&q->lock);
    return AIDEV_SUCCESS;
}

/*
 * sim_queue.c - queues: a worker thread per queue runs its commands in
 * order, each taking the time the device's model gives it.
 *
 * A command is ready once the queue's earlier commands are done and its
 * wait list has completed (a counter the events' callbacks bring down, as
 * in the plugin template). The worker then books the command on the
 * device's engine (sim_model.c): it starts once the launch latency after
 * its submission has passed and the engine is free, and lasts what the
 * model says. The host does the command's work at once, then the worker
 * sleeps until the booked end and completes the event with the booked
 * start and end as its times: so every command takes at least as long as
 * the model, and its event's times are the model's, which a placement
 * policy can learn from. When the host work itself runs past the booked
 * end, the command ends when the host is done and the overrun is counted
 * (AIDEV_DEBUG=sim names each).
 *
 * When an event a command waits on fails, the command does not run and its
 * event completes with AIDEV_ERROR_DEPENDENCY, the cause in its message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

typedef struct sim_command {
    struct sim_command *next;
    sim_queue *queue;
    /* A copy of the command: libaidev's is valid only during queue_submit. */
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    aidev_backend_event *signal; /* may be NULL */
    /* What the command uses, held until it is done. */
    sim_buffer *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t buffer_count;
    sim_kernel *kernel;
    uint64_t submitted_ns;
    /* Under the queue's lock: wait events still pending (plus one while
     * submit registers them), and the status to fail with and why. */
    uint32_t pending_waits;
    aidev_status failure;
    char cause[512];
} sim_command;

struct sim_queue {
    sim_unit *unit;
    pthread_t worker;
    pthread_mutex_t lock;
    /* Broadcast on every change: a command added, a wait done, a command
     * completed, stop. The worker and queue_finish wait on it. */
    pthread_cond_t changed;
    sim_command *head, *tail;
    uint64_t submitted, completed;
    bool stop;
};

/* ------------------------------------------------------------------------ */
/* Running one command                                                      */
/* ------------------------------------------------------------------------ */

static char *sim_bytes_at(void *buffer, uint64_t offset)
{
    return (char *)((sim_buffer *)buffer)->ptr + offset;
}

/* |pattern| holds the caller's 1, 2 or 4 bytes replicated to 4 bytes, and
 * fills start at a multiple of the pattern size. */
static void sim_fill(char *dst, uint64_t size, uint32_t pattern)
{
    unsigned char p[4];
    memcpy(p, &pattern, 4);
    for (uint64_t i = 0; i < size; i++)
        dst[i] = (char)p[i % 4];
}

/* The command's work, done by the host. */
static void run_on_host(const sim_command *c)
{
    const aidev_backend_command *cmd = &c->cmd;
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        memcpy(sim_bytes_at(cmd->u.write.buffer, cmd->u.write.offset), cmd->u.write.src,
               cmd->u.write.size);
        break;
    case AIDEV_COMMAND_READ:
        memcpy(cmd->u.read.dst, sim_bytes_at(cmd->u.read.buffer, cmd->u.read.offset),
               cmd->u.read.size);
        break;
    case AIDEV_COMMAND_COPY:
        /* libaidev refuses overlapping ranges of one buffer. */
        memcpy(sim_bytes_at(cmd->u.copy.dst, cmd->u.copy.dst_offset),
               sim_bytes_at(cmd->u.copy.src, cmd->u.copy.src_offset), cmd->u.copy.size);
        break;
    case AIDEV_COMMAND_FILL:
        sim_fill(sim_bytes_at(cmd->u.fill.buffer, cmd->u.fill.offset), cmd->u.fill.size,
                 cmd->u.fill.pattern);
        break;
    case AIDEV_COMMAND_DISPATCH:
        sim_kernel_run(c->kernel, cmd);
        break;
    case AIDEV_COMMAND_HOST_CALLBACK:
        cmd->u.host_callback.fn(cmd->u.host_callback.user_data);
        break;
    case AIDEV_COMMAND_BARRIER:
        break; /* waiting was all it had to do */
    case AIDEV_COMMAND_PREFETCH:
        break; /* never sent: no AIDEV_BACKEND_CAP_PREFETCH */
    }
}

static void sleep_until(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        continue;
}

/* Runs |c| as the model times it; its device start and end go to
 * |*start| and |*end|. */
static void run_modelled(sim_unit *u, const sim_command *c, uint64_t *start, uint64_t *end)
{
    sim_engine *engine = NULL;
    uint64_t busy = sim_model_busy_ns(u, &c->cmd, &engine);
    uint64_t ready = aidev_backend_now_ns();
    if (!engine) {
        /* No device time: a barrier, a host callback. */
        *start = ready;
        run_on_host(c);
        *end = aidev_backend_now_ns();
        return;
    }
    *start = sim_engine_book(engine, &u->config, c->submitted_ns, ready, busy);
    *end = *start + busy;
    run_on_host(c);
    uint64_t host_end = aidev_backend_now_ns();
    if (host_end > *end) {
        sim_engine_overrun(u, engine, *end, host_end, &c->cmd);
        *end = host_end;
    } else {
        sleep_until(*end);
    }
}

static void command_free(sim_command *c)
{
    for (uint32_t i = 0; i < c->buffer_count; i++)
        sim_buffer_release(c->buffers[i]);
    if (c->kernel)
        sim_kernel_release(c->kernel);
    free(c);
}

/* ------------------------------------------------------------------------ */
/* The worker                                                               */
/* ------------------------------------------------------------------------ */

static void *sim_worker_main(void *opaque)
{
    sim_queue *q = opaque;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!(q->head && q->head->pending_waits == 0) && !(q->stop && !q->head))
            pthread_cond_wait(&q->changed, &q->lock);
        sim_command *c = q->head;
        if (!c)
            break; /* stopping, and nothing left */
        aidev_status failure = c->failure;
        pthread_mutex_unlock(&q->lock);

        uint64_t start, end;
        if (failure == AIDEV_SUCCESS) {
            run_modelled(q->unit, c, &start, &end);
        } else {
            start = end = aidev_backend_now_ns();
        }

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
static void sim_wait_done(aidev_backend_event *event, aidev_status status, void *user_data)
{
    sim_command *c = user_data;
    sim_queue *q = c->queue;
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

aidev_status sim_queue_create(void *device, aidev_queue_priority priority, void **out_queue)
{
    /* Every queue of a device shares its engines: priorities would need
     * the engines to reorder bookings, which the model does not do. */
    (void)priority;
    sim_queue *q = calloc(1, sizeof *q);
    if (!q)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "sim: out of memory");
    q->unit = ((sim_device *)device)->unit;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
    int err = pthread_create(&q->worker, NULL, sim_worker_main, q);
    if (err) {
        pthread_cond_destroy(&q->changed);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       "sim: pthread_create failed: %s", strerror(err));
    }
    *out_queue = q;
    return AIDEV_SUCCESS;
}

/* libaidev has finished the queue: every command has completed. */
void sim_queue_destroy(void *queue)
{
    sim_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->worker, NULL);
    pthread_cond_destroy(&q->changed);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void hold_buffer(sim_command *c, void *buffer)
{
    sim_buffer_retain(buffer);
    c->buffers[c->buffer_count++] = buffer;
}

/* Copies what the command needs past queue_submit and takes references on
 * the objects it uses. */
static void capture(sim_command *c, const aidev_backend_command *cmd)
{
    c->cmd = *cmd;
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        hold_buffer(c, cmd->u.write.buffer);
        break;
    case AIDEV_COMMAND_READ:
        hold_buffer(c, cmd->u.read.buffer);
        break;
    case AIDEV_COMMAND_COPY:
        hold_buffer(c, cmd->u.copy.src);
        hold_buffer(c, cmd->u.copy.dst);
        break;
    case AIDEV_COMMAND_FILL:
        hold_buffer(c, cmd->u.fill.buffer);
        break;
    case AIDEV_COMMAND_DISPATCH:
        memcpy(c->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof c->args[0]);
        c->cmd.u.dispatch.args = c->args;
        for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++)
            if (c->args[i].kind == AIDEV_ARG_BUFFER)
                hold_buffer(c, c->args[i].u.buffer.buffer);
        c->kernel = cmd->u.dispatch.kernel;
        sim_kernel_retain(c->kernel);
        break;
    case AIDEV_COMMAND_BARRIER:
    case AIDEV_COMMAND_HOST_CALLBACK:
    case AIDEV_COMMAND_PREFETCH:
        break;
    }
}

aidev_status sim_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    sim_queue *q = queue;
    sim_command *c = calloc(1, sizeof *c);
    if (!c)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "sim: out of memory");
    c->queue = q;
    c->signal = signal;
    c->submitted_ns = aidev_backend_now_ns();
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
        if (aidev_backend_event_on_complete(waits[i], sim_wait_done, c) != AIDEV_SUCCESS) {
            /* No callback will come: count it as done, and failed. */
            pthread_mutex_lock(&q->lock);
            if (c->failure == AIDEV_SUCCESS) {
                c->failure = AIDEV_ERROR_OUT_OF_HOST_MEMORY;
                snprintf(c->cause, sizeof c->cause, "sim: out of memory waiting for event %u",
                         i);
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

aidev_status sim_queue_finish(void *queue)
{
    sim_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    uint64_t target = q->submitted;
    while (q->completed < target)
        pthread_cond_wait(&q->changed, &q->lock);
    pthread_mutex_unlock(&q->lock);
    return AIDEV_SUCCESS;
}

/*
 * queue.c - aidev queues on Vulkan: one timeline semaphore per queue,
 * commands recorded into batches (batch.c, transfer.c, kernel.c),
 * submission, writes held until read-backs land on the host, finish.
 *
 * Recording. Commands are recorded into the queue's open batch, each after
 * a full memory barrier (vkb_command_begin), which gives aidev's in-order
 * semantics. The batch is submitted:
 *   - when a command asks for an event (that event's command ends the batch,
 *     so every event is signalled by a submitted batch: a wait on it never
 *     waits on work that sits unsubmitted);
 *   - when the device has nothing of this queue's in flight (so a lone
 *     command starts at once);
 *   - after vkb_opts.batch_limit commands, and on flush and finish;
 *   - by the completion thread, when the device drains while commands wait
 *     in the open batch and no enqueue came to submit them.
 * Each batch signals the queue's semaphore with the next value; an event's
 * native payload is (semaphore, value), so queues of the same device wait on
 * each other on the GPU, without the enqueuing thread blocking.
 *
 * Waits. The backend declares AIDEV_BACKEND_CAP_NATIVE_WAITS: libaidev's
 * scheduler holds every command that waits on an event without a native
 * payload (another backend's, a user event, a command libaidev still holds
 * or a host callback), so the events a command gets here carry payloads
 * and become semaphore waits of its batch. A wait that failed fails only
 * the command that waits on it (AIDEV_ERROR_DEPENDENCY).
 *
 * Writes after read-backs: the one thing held here, because only this
 * backend knows it. A read (and a copy into host-visible memory) lands on
 * the host when its batch is retired (completion.c), after the GPU is done;
 * a later write reads its source when it is recorded (into staging). So a
 * write behind such commands of its queue, or waiting on an event whose
 * batch has such effects, waits in the queue's held-writes list until they
 * are retired; the queue's later commands wait behind it, in order.
 *
 * Transfers. Where the device has a transfer-only queue family, a queue
 * whose commands so far were all copies runs on it; its first dispatch
 * moves it to the compute family for good (with a wait on its own
 * semaphore).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/vulkan/vk_internal.h"

/* A write held until read-backs it may read are on the host (the top of
 * the file), or a command queued behind such a write. */
typedef struct vkb_held {
    struct vkb_held *next;
    vkb_queue *queue;
    aidev_backend_command cmd;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    aidev_backend_event *signal;
    uint32_t wait_count;
    aidev_backend_event **waits;   /* retained */
    uint32_t gate_count;
    aidev_backend_event **gates;   /* waits with host effects it is held for (in |waits|) */
    atomic_uint pending;           /* gates still pending, plus one while arming */
    /* Also held until the queue retired its batches up to this value. */
    bool own_gate;
    bool own_checked;              /* a write: whether it needs that was decided */
    uint64_t own_value;
} vkb_held;

static aidev_status out_of_memory(void)
{
    return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
}

/* Which family a command runs on (see the top of the file): the transfer
 * family until the queue's first dispatch, the compute family from then on. */
static vkb_family choose_family(vkb_queue *q, const aidev_backend_command *cmd)
{
    if (!q->dev->has_transfer || q->compute_only)
        return VKB_FAMILY_COMPUTE;
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        q->compute_only = true;
        return VKB_FAMILY_COMPUTE;
    }
    return VKB_FAMILY_TRANSFER;
}

/* ------------------------------------------------------------------------ */
/* Submission                                                               */
/* ------------------------------------------------------------------------ */

/* Attaches the payload of a submitted batch's event: other queues of this
 * device wait on it on the GPU. It is attached once the signal is
 * submitted (a wait on it cannot hang) and before the completion thread can
 * see the batch. */
static void attach_payload(vkb_queue *q, vkb_batch *b)
{
    vkb_signal_payload *p = malloc(sizeof *p);
    if (p) {
        *p = (vkb_signal_payload){q->sem, b->value, q->timeline, b->host_reads};
        aidev_backend_event_set_native(b->signal, q->dev, p, free);
    }
}

/* Puts a submitted batch on the in-flight list. */
static void push_inflight(vkb_queue *q, vkb_batch *b)
{
    pthread_mutex_lock(&q->inflight_lock);
    if (q->inflight_tail)
        q->inflight_tail->next = b;
    else
        q->inflight_head = b;
    q->inflight_tail = b;
    b->next = NULL;
    /* Unsignalled batches are retired by whoever comes next; when many
     * pile up, one in 32 asks the completion thread, so that memory is
     * recycled without waking it for every batch. */
    if (++q->inflight_count % 32 == 0)
        b->needs_completion = true;
    if (b->host_reads)
        q->inflight_host++;
    if (b->needs_completion && q->completion_pending++ == 0)
        pthread_cond_signal(&q->cq_cond);
    pthread_mutex_unlock(&q->inflight_lock);
}

/* A barrier that waits for nothing but the queue's earlier commands needs
 * no GPU work: its event completes when the queue's semaphore reaches the
 * last submitted value. So it does not wait behind other queues' work that
 * shares the VkQueue (libaidev starts every file read and host callback
 * with such a barrier). */
static aidev_status virtual_barrier(vkb_queue *q, aidev_backend_event *signal)
{
    vkb_batch *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    b->queue = q;
    b->virtual_only = true;
    b->value = q->submitted_value;
    b->signal = signal;
    b->needs_completion = true;
    attach_payload(q, b);
    push_inflight(q, b);
    return AIDEV_SUCCESS;
}

/* Submits the open batch, if it holds commands (queue lock held). */
static aidev_status submit_open(vkb_queue *q)
{
    vkb_batch *b = q->open;
    if (!b || b->commands == 0)
        return AIDEV_SUCCESS;
    vkb_device *dev = q->dev;
    const vkb_device_fns *f = &dev->f;
    q->open = NULL;

    /* Host reads of the results (read commands' staging, mapped buffers)
     * see the device's writes once the semaphore says the batch is done. */
    if (b->host_reads) {
        VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT};
        f->vkCmdPipelineBarrier(b->cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, NULL, 0, NULL);
    }
    VkResult r = f->vkEndCommandBuffer(b->cb);
    b->recording = false;
    aidev_status st = AIDEV_SUCCESS;
    const char *call = "vkEndCommandBuffer";
    if (r == VK_SUCCESS) {
        /* After the queue's previous batch on the other family's VkQueue,
         * or one known done (vkb_command_begin): a wait on the queue's own
         * semaphore orders the batch and makes the previous one's writes
         * visible. (Else the barrier before its first command does that:
         * drivers such as lavapipe hand a submission that waits on a value
         * not yet reached to a thread of their own.) */
        if ((b->family != q->last_family || b->wait_own) &&
            q->submitted_value > q->first_value && vkb_batch_grow_waits(b, b->wait_count + 1)) {
            b->wait_sems[b->wait_count] = q->sem;
            b->wait_timelines[b->wait_count] = q->timeline;
            b->wait_values[b->wait_count++] = q->submitted_value;
        }
        VkPipelineStageFlags stages[64];
        uint32_t waits = b->wait_count < 64 ? b->wait_count : 64;
        for (uint32_t i = 0; i < waits; i++)
            stages[i] = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
        VkTimelineSemaphoreSubmitInfo tsi = {
            .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
            .waitSemaphoreValueCount = waits,
            .pWaitSemaphoreValues = b->wait_values,
            .signalSemaphoreValueCount = 1,
            .pSignalSemaphoreValues = &b->value};
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                           .pNext = &tsi,
                           .waitSemaphoreCount = waits,
                           .pWaitSemaphores = b->wait_sems,
                           .pWaitDstStageMask = stages,
                           .commandBufferCount = 1,
                           .pCommandBuffers = &b->cb,
                           .signalSemaphoreCount = 1,
                           .pSignalSemaphores = &q->sem};
        bool transfer = b->family == VKB_FAMILY_TRANSFER;
        pthread_mutex_t *lock =
            transfer ? dev->transfer_queue_lock : &dev->compute_locks[q->compute_index];
        VkQueue vq = transfer ? dev->transfer_queue : dev->compute_queues[q->compute_index];
        b->submit_ns = aidev_backend_now_ns();
        pthread_mutex_lock(lock);
        r = f->vkQueueSubmit(vq, 1, &si, VK_NULL_HANDLE);
        pthread_mutex_unlock(lock);
        call = "vkQueueSubmit";
    }
    if (r != VK_SUCCESS) {
        st = vkb_device_error(dev, call, r);
        /* The batch's unsignalled commands are lost: the queue is broken.
         * Its event, if any, is the current command's: left to the caller. */
        q->broken = st;
        snprintf(q->broken_reason, sizeof q->broken_reason, "%s failed: %s (%d)", call,
                 vkb_result_name(r), (int)r);
        b->signal = NULL;
        vkb_batch_retire(b, st, NULL);
        return st;
    }
    q->submitted_value = b->value;
    q->last_family = b->family;
    if (b->signal)
        attach_payload(q, b);
    push_inflight(q, b);
    return AIDEV_SUCCESS;
}

/* True when nothing this queue submitted is still running. */
static bool device_idle_for(vkb_queue *q)
{
    if (__atomic_load_n(&q->done_hint, __ATOMIC_RELAXED) >= q->submitted_value)
        return true;
    uint64_t done = 0;
    if (q->dev->f.vkGetSemaphoreCounterValue(q->dev->handle, q->sem, &done) != VK_SUCCESS)
        return true;
    __atomic_store_n(&q->done_hint, done, __ATOMIC_RELAXED);
    return done >= q->submitted_value;
}

/* Whether to submit the open batch, of |commands| commands, because the
 * device ran out of the queue's work. The hint is read every time; the
 * semaphore is asked on the batch's first 8 commands, then on every 8th:
 * in between the hint answers, raised by the completion thread when the
 * batch it watches for this (watch_for_idle) ends. A driver call per
 * command cost as much as recording the dispatch (lavapipe: ~150
 * instructions and a lock its queue thread takes too); the device waits
 * at most 7 enqueues longer for work. */
static bool device_went_idle(vkb_queue *q, uint32_t commands)
{
    if (commands > 8 && commands % 8 &&
        __atomic_load_n(&q->done_hint, __ATOMIC_RELAXED) < q->submitted_value)
        return false;
    return device_idle_for(q);
}

/* The open batch waits while the device works on the queue's last batch:
 * have the completion thread see that batch end, and submit the open one
 * then (vkb_queue_submit_if_idle) if no enqueue did meanwhile. Once per
 * open batch. */
static void watch_for_idle(vkb_queue *q, vkb_batch *open)
{
    if (open->watching)
        return;
    open->watching = true;
    pthread_mutex_lock(&q->inflight_lock);
    vkb_batch *last = q->inflight_tail;
    if (last && !last->needs_completion) {
        last->needs_completion = true;
        if (q->completion_pending++ == 0)
            pthread_cond_signal(&q->cq_cond);
    }
    pthread_mutex_unlock(&q->inflight_lock);
}

void vkb_queue_submit_if_idle(vkb_queue *q)
{
    /* An enqueuing thread that is still at work submits the batch itself
     * at its next enqueue (it checks for an idle device each time), sooner
     * than this thread can: give it a moment, and act only if the batch
     * did not move. */
    pthread_mutex_lock(&q->lock);
    const vkb_batch *seen = q->open;
    uint32_t count = seen ? seen->commands : 0;
    pthread_mutex_unlock(&q->lock);
    if (!count)
        return;
    struct timespec pause = {0, 200 * 1000};
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&q->lock);
    if (q->open == seen && seen->commands == count && device_idle_for(q))
        submit_open(q);
    pthread_mutex_unlock(&q->lock);
}

static const vkb_signal_payload *payload_of(const vkb_queue *q, aidev_backend_event *e)
{
    return aidev_backend_event_native(e, q->dev);
}

/* Records |cmd| after |waits| (queue lock held). Waits that completed are
 * skipped; pending ones must carry a payload. */
static aidev_status record_command(vkb_queue *q, const aidev_backend_command *cmd,
                                   uint32_t wait_count, aidev_backend_event *const *waits,
                                   aidev_backend_event *signal)
{
    vkb_device *dev = q->dev;
    if (atomic_load(&dev->lost))
        return aidev_backend_set_error(AIDEV_ERROR_DEVICE_LOST, "vulkan: device '%s' lost: %s",
                                       dev->phys->props.deviceName, dev->lost_reason);
    /* Semaphores of other queues this command waits for. */
    VkSemaphore sems[16];
    uint64_t values[16];
    vkb_timeline *tls[16];
    uint32_t sem_count = 0;
    for (uint32_t i = 0; i < wait_count; i++) {
        if (aidev_backend_event_status(waits[i]) != AIDEV_NOT_READY)
            continue;
        const vkb_signal_payload *p = payload_of(q, waits[i]);
        if (!p)
            return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                           "vulkan: wait_events[%u] has no Vulkan payload yet; "
                                           "libaidev holds such commands "
                                           "(AIDEV_BACKEND_CAP_NATIVE_WAITS)",
                                           i);
        if (p->sem == q->sem)
            continue; /* same queue: already in order */
        uint32_t j = 0;
        while (j < sem_count && sems[j] != p->sem)
            j++;
        if (j < sem_count) {
            if (p->value > values[j])
                values[j] = p->value;
        } else if (sem_count < 16) {
            sems[sem_count] = p->sem;
            tls[sem_count] = p->timeline;
            values[sem_count++] = p->value;
        } else {
            return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                           "vulkan: a command may wait on at most 16 other "
                                           "queues at once");
        }
    }

    aidev_status st;
    if (cmd->type == AIDEV_COMMAND_BARRIER && sem_count == 0) {
        /* In an in-order queue, a barrier without waits only marks a point:
         * the end of the open batch, or of the last submitted one. */
        if (!signal)
            return AIDEV_SUCCESS;
        if (q->open && q->open->commands) {
            q->open->signal = signal;
            q->open->needs_completion = true;
            return submit_open(q);
        }
        return virtual_barrier(q, signal);
    }

    vkb_family fam = choose_family(q, cmd);
    /* Waits apply to a whole batch: a command that waits starts a batch,
     * so that the commands before it do not wait too. */
    if (q->open && (q->open->family != fam || (sem_count && q->open->commands))) {
        st = submit_open(q);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    if (!q->open) {
        st = vkb_batch_begin(q, fam);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    vkb_batch *b = q->open;
    if (sem_count) {
        /* One more for a family switch at submission. */
        if (!vkb_batch_grow_waits(b, b->wait_count + sem_count + 1))
            return out_of_memory();
        for (uint32_t i = 0; i < sem_count; i++) {
            b->wait_sems[b->wait_count] = sems[i];
            b->wait_timelines[b->wait_count] = tls[i];
            b->wait_values[b->wait_count++] = values[i];
        }
    }
    b->timed = signal && b->query_pool;

    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        st = vkb_record_write(q, b, cmd);
        break;
    case AIDEV_COMMAND_READ:
        st = vkb_record_read(q, b, cmd);
        break;
    case AIDEV_COMMAND_COPY:
        st = vkb_record_copy(q, b, cmd);
        break;
    case AIDEV_COMMAND_FILL:
        st = vkb_record_fill(q, b, cmd);
        break;
    case AIDEV_COMMAND_DISPATCH:
        st = vkb_record_dispatch(q, b, cmd);
        break;
    case AIDEV_COMMAND_BARRIER:
        vkb_command_begin(q, b);
        st = AIDEV_SUCCESS;
        break;
    default:
        st = aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED, "vulkan: command type %d",
                                     (int)cmd->type);
        break;
    }
    if (st != AIDEV_SUCCESS) {
        b->timed = false;
        return st;
    }
    b->commands++;

    if (signal) {
        if (b->timed)
            vkb_batch_end_times(b);
        b->signal = signal;
        b->needs_completion = true;
        return submit_open(q);
    }
    if (b->commands >= vkb_opts.batch_limit || device_went_idle(q, b->commands))
        return submit_open(q);
    watch_for_idle(q, b);
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Writes held for read-backs                                               */
/* ------------------------------------------------------------------------ */

static void command_refs(const aidev_backend_command *cmd, bool take)
{
    void *bufs[AIDEV_BACKEND_COMMAND_MAX_BUFFERS];
    uint32_t n = aidev_backend_command_buffers(cmd, bufs);
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        if (take)
            vkb_kernel_ref(cmd->u.dispatch.kernel);
        else
            vkb_kernel_unref(cmd->u.dispatch.kernel);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (take)
            vkb_buffer_ref(bufs[i]);
        else
            vkb_buffer_unref(bufs[i]);
    }
}

static void held_free(vkb_held *h)
{
    command_refs(&h->cmd, false);
    for (uint32_t i = 0; i < h->wait_count; i++)
        aidev_backend_event_release(h->waits[i]);
    free(h->waits);
    free(h->gates);
    free(h);
}

/* Whether a command must wait for |e| on the host: it is a write whose
 * source |e|'s batch may write (a read-back into host memory, mappable
 * memory). (Pending events without a payload never come here: libaidev
 * holds their commands, AIDEV_BACKEND_CAP_NATIVE_WAITS; record_command
 * refuses one.) */
static bool host_gate(const vkb_queue *q, const aidev_backend_command *cmd,
                      aidev_backend_event *e)
{
    if (cmd->type != AIDEV_COMMAND_WRITE || aidev_backend_event_status(e) != AIDEV_NOT_READY)
        return false;
    const vkb_signal_payload *p = aidev_backend_event_native(e, q->dev);
    return p && p->host_effects;
}

static vkb_held *held_new(vkb_queue *q, const aidev_backend_command *cmd, uint32_t wait_count,
                          aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    vkb_held *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->waits = calloc(wait_count ? wait_count : 1, sizeof *h->waits);
    h->gates = calloc(wait_count ? wait_count : 1, sizeof *h->gates);
    if (!h->waits || !h->gates) {
        free(h->waits);
        free(h->gates);
        free(h);
        return NULL;
    }
    h->queue = q;
    h->cmd = *cmd;
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        memcpy(h->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof h->args[0]);
        h->cmd.u.dispatch.args = h->args;
    }
    command_refs(&h->cmd, true);
    for (uint32_t i = 0; i < wait_count; i++) {
        aidev_backend_event_retain(waits[i]);
        h->waits[h->wait_count++] = waits[i];
        if (host_gate(q, cmd, waits[i]))
            h->gates[h->gate_count++] = waits[i];
    }
    /* The backend's reference on |signal| moves to the held entry, and on
     * to the batch (or the failure) that completes it. */
    h->signal = signal;
    atomic_init(&h->pending, h->gate_count + 1);
    return h;
}

static void drain(vkb_queue *q);
static bool queue_host_pending(vkb_queue *q);
static void watch_retire(vkb_queue *q);

static void gate_done(aidev_backend_event *e, aidev_status status, void *user_data)
{
    (void)e;
    (void)status;
    vkb_held *h = user_data;
    /* Read before the count drops: from then on another thread's drain
     * (the completion thread's) may take |h| and free it. */
    vkb_queue *q = h->queue;
    if (atomic_fetch_sub(&h->pending, 1) == 1)
        drain(q);
}

/* The first failed wait of |waits|, or NULL. */
static aidev_backend_event *failed_wait(uint32_t n, aidev_backend_event *const *waits)
{
    for (uint32_t i = 0; i < n; i++) {
        aidev_status st = aidev_backend_event_status(waits[i]);
        if (st != AIDEV_SUCCESS && st != AIDEV_NOT_READY)
            return waits[i];
    }
    return NULL;
}

static void dependency_message(char *out, size_t size, aidev_backend_event *failed)
{
    snprintf(out, size, "an event it waited on failed with %s: %s",
             aidev_status_string(aidev_backend_event_status(failed)),
             aidev_backend_event_message(failed));
}

/* Records the held commands whose gates opened, in order. A command that
 * cannot run has its event completed with the lock released (callbacks may
 * enqueue here); the entries behind it keep the queue's order meanwhile. */
static bool held_ready(const vkb_queue *q, vkb_held *h)
{
    return atomic_load(&h->pending) == 0 &&
           (!h->own_gate || atomic_load(&q->timeline->processed) >= h->own_value);
}

void vkb_queue_drain(vkb_queue *q)
{
    drain(q);
}

static void drain(vkb_queue *q)
{
    pthread_mutex_lock(&q->lock);
    vkb_held *h;
    while ((h = q->held_head) && held_ready(q, h)) {
        /* A write behind commands that write host memory waits for them to
         * be retired (see vkb_queue_submit). */
        if (h->cmd.type == AIDEV_COMMAND_WRITE && !h->own_checked) {
            h->own_checked = true;
            if ((q->open && q->open->host_reads) || queue_host_pending(q)) {
                if (submit_open(q) == AIDEV_SUCCESS) {
                    h->own_gate = true;
                    h->own_value = q->submitted_value;
                    watch_retire(q);
                    if (!held_ready(q, h))
                        break;
                }
            }
        }
        /* Stored atomically: the completion thread peeks at it without the
         * lock (vkb_queue_process). */
        __atomic_store_n(&q->held_head, h->next, __ATOMIC_RELAXED);
        if (!q->held_head)
            q->held_tail = NULL;
        aidev_status st;
        char why[600] = "";
        aidev_backend_event *failed = failed_wait(h->wait_count, h->waits);
        if (failed) {
            st = AIDEV_ERROR_DEPENDENCY;
            dependency_message(why, sizeof why, failed);
        } else {
            st = record_command(q, &h->cmd, h->wait_count, h->waits, h->signal);
            if (st != AIDEV_SUCCESS)
                snprintf(why, sizeof why, "%s", aidev_last_error());
        }
        /* On success the batch owns the event; else it is ours to fail. */
        aidev_backend_event *fail = st != AIDEV_SUCCESS ? h->signal : NULL;
        h->signal = NULL;
        held_free(h);
        if (fail) {
            pthread_mutex_unlock(&q->lock);
            aidev_backend_event_complete(fail, st, "%s", why);
            pthread_mutex_lock(&q->lock);
        }
    }
    if (!q->held_head)
        pthread_cond_broadcast(&q->held_drained);
    pthread_mutex_unlock(&q->lock);
}

/* True while batches with host effects are in flight or being retired. */
static bool queue_host_pending(vkb_queue *q)
{
    pthread_mutex_lock(&q->inflight_lock);
    bool pending = q->inflight_host > 0;
    pthread_mutex_unlock(&q->inflight_lock);
    return pending;
}

/* Has the completion thread retire the queue's last batch promptly (a held
 * write waits for it). */
static void watch_retire(vkb_queue *q)
{
    pthread_mutex_lock(&q->inflight_lock);
    vkb_batch *last = q->inflight_tail;
    if (last && !last->needs_completion) {
        last->needs_completion = true;
        if (q->completion_pending++ == 0)
            pthread_cond_signal(&q->cq_cond);
    }
    pthread_mutex_unlock(&q->inflight_lock);
}

/* ------------------------------------------------------------------------ */
/* The vtable                                                               */
/* ------------------------------------------------------------------------ */

aidev_status vkb_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    vkb_queue *q = queue;
    vkb_device *dev = q->dev;
    if (atomic_load(&dev->lost))
        return aidev_backend_set_error(AIDEV_ERROR_DEVICE_LOST, "vulkan: device '%s' lost: %s",
                                       dev->phys->props.deviceName, dev->lost_reason);
    if (cmd->type == AIDEV_COMMAND_HOST_CALLBACK)
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "vulkan: host callbacks are run by libaidev");
    aidev_backend_event *failed = failed_wait(wait_count, waits);
    if (failed) {
        /* It does not run; the queue's later commands do. */
        if (signal) {
            char why[600];
            dependency_message(why, sizeof why, failed);
            aidev_backend_event_complete(signal, AIDEV_ERROR_DEPENDENCY, "%s", why);
        }
        return AIDEV_SUCCESS;
    }
    bool gated = false;
    for (uint32_t i = 0; i < wait_count && !gated; i++)
        gated = host_gate(q, cmd, waits[i]);

    pthread_mutex_lock(&q->lock);
    /* A write reads its source when it runs: after the queue's earlier
     * commands that may write host memory have completed and been retired
     * (read-backs are copied to the host then). */
    bool own_gate = cmd->type == AIDEV_COMMAND_WRITE && !q->held_head &&
                    ((q->open && q->open->host_reads) || queue_host_pending(q));
    if (!gated && !own_gate && !q->held_head) {
        aidev_status st = record_command(q, cmd, wait_count, waits, signal);
        pthread_mutex_unlock(&q->lock);
        return st;
    }
    vkb_held *h = held_new(q, cmd, wait_count, waits, signal);
    if (!h) {
        pthread_mutex_unlock(&q->lock);
        return out_of_memory();
    }
    if (own_gate) {
        aidev_status st = submit_open(q);
        if (st != AIDEV_SUCCESS) {
            h->signal = NULL; /* left to libaidev with the error */
            held_free(h);
            pthread_mutex_unlock(&q->lock);
            return st;
        }
        h->own_gate = true;
        h->own_checked = true;
        h->own_value = q->submitted_value;
        watch_retire(q);
    }
    if (q->held_tail)
        q->held_tail->next = h;
    else
        __atomic_store_n(&q->held_head, h, __ATOMIC_RELAXED);
    q->held_tail = h;
    pthread_mutex_unlock(&q->lock);
    for (uint32_t i = 0; i < h->gate_count; i++)
        aidev_backend_event_on_complete(h->gates[i], gate_done, h);
    if (atomic_fetch_sub(&h->pending, 1) == 1)
        drain(q);
    return AIDEV_SUCCESS;
}

aidev_status vkb_queue_flush(void *queue)
{
    vkb_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    aidev_status st = submit_open(q);
    pthread_mutex_unlock(&q->lock);
    return st;
}

aidev_status vkb_queue_finish(void *queue)
{
    vkb_queue *q = queue;
    vkb_device *dev = q->dev;
    pthread_mutex_lock(&q->lock);
    while (q->held_head)
        pthread_cond_wait(&q->held_drained, &q->lock);
    aidev_status st = submit_open(q);
    uint64_t target = q->submitted_value;
    aidev_status broken = q->broken;
    char reason[256];
    if (broken != AIDEV_SUCCESS) /* (a format per finish showed in the profile) */
        memcpy(reason, q->broken_reason, sizeof reason);
    pthread_mutex_unlock(&q->lock);

    bool reached = target <= __atomic_load_n(&q->done_hint, __ATOMIC_RELAXED);
    if (!reached && !atomic_load(&dev->lost)) {
        VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                  .semaphoreCount = 1,
                                  .pSemaphores = &q->sem,
                                  .pValues = &target};
        VkResult r = dev->f.vkWaitSemaphores(dev->handle, &wi, UINT64_MAX);
        if (r != VK_SUCCESS)
            vkb_device_error(dev, "vkWaitSemaphores", r);
    }
    if (atomic_load(&dev->lost)) {
        vkb_queue_fail_inflight(q, AIDEV_ERROR_DEVICE_LOST, dev->lost_reason);
        return aidev_backend_set_error(AIDEV_ERROR_DEVICE_LOST, "vulkan: device '%s' lost: %s",
                                       dev->phys->props.deviceName, dev->lost_reason);
    }
    /* Retire here: no hop to the completion thread. */
    vkb_queue_process(q, target > q->first_value ? target : 0);
    if (broken != AIDEV_SUCCESS)
        return aidev_backend_set_error(broken, "vulkan: the queue lost commands: %s", reason);
    return st;
}

aidev_status vkb_queue_create(void *device, aidev_queue_priority priority, void **out_queue)
{
    vkb_device *dev = device;
    vkb_queue *q = calloc(1, sizeof *q);
    if (!q)
        return out_of_memory();
    q->dev = dev;
    uint32_t n = dev->compute_queue_count;
    if (dev->queue_priorities && priority == AIDEV_QUEUE_PRIORITY_HIGH)
        q->compute_index = 0;
    else if (dev->queue_priorities && priority == AIDEV_QUEUE_PRIORITY_LOW)
        q->compute_index = n - 1;
    else if (dev->queue_priorities)
        q->compute_index = 1 + atomic_fetch_add(&dev->next_compute_queue, 1) % (n - 2);
    else
        q->compute_index = atomic_fetch_add(&dev->next_compute_queue, 1) % n;
    q->last_family = dev->has_transfer ? VKB_FAMILY_TRANSFER : VKB_FAMILY_COMPUTE;
    aidev_status st = vkb_device_timeline_get(dev, &q->timeline, &q->last_value);
    if (st != AIDEV_SUCCESS) {
        free(q);
        return st;
    }
    q->sem = q->timeline->sem;
    q->submitted_value = q->first_value = q->done_hint = q->last_value;
    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->inflight_lock, NULL);
    pthread_mutex_init(&q->complete_lock, NULL);
    pthread_cond_init(&q->held_drained, NULL);
    st = vkb_completion_start(q);
    if (st != AIDEV_SUCCESS) {
        vkb_device_timeline_put(dev, q->timeline);
        pthread_cond_destroy(&q->held_drained);
        pthread_mutex_destroy(&q->complete_lock);
        pthread_mutex_destroy(&q->inflight_lock);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return st;
    }
    *out_queue = q;
    return AIDEV_SUCCESS;
}

void vkb_queue_destroy(void *queue)
{
    vkb_queue *q = queue;
    vkb_device *dev = q->dev;
    vkb_queue_finish(q);
    vkb_completion_stop(q);
    vkb_queue_fail_inflight(q, AIDEV_ERROR_CANCELLED, "the queue was released");
    if (q->open) {
        vkb_batch_retire(q->open, AIDEV_ERROR_CANCELLED, "the queue was released");
        q->open = NULL;
    }
    for (int fam = 0; fam < 2; fam++) {
        while (q->free_batches[fam]) {
            vkb_batch *b = q->free_batches[fam];
            q->free_batches[fam] = b->next;
            vkb_batch_free(b);
        }
        if (q->pools[fam])
            dev->f.vkDestroyCommandPool(dev->handle, q->pools[fam], NULL);
    }
    vkb_device_timeline_put(dev, q->timeline);
    pthread_cond_destroy(&q->held_drained);
    pthread_mutex_destroy(&q->complete_lock);
    pthread_mutex_destroy(&q->inflight_lock);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

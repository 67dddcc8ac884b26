/*
 * cpu_queue.c - CPU queues: one executor thread per queue runs its commands
 * in order, so an enqueue returns at once and queues overlap each other.
 * Dispatches and large copies are split over the device's worker pool, as
 * jobs of the queue's priority class (backends/cpu/cpu_pool.h): a HIGH
 * queue's command takes the pool's threads from a LOW one's as they end
 * a chunk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backends/cpu/cpu_internal.h"
#include "hal/spin.h"

/* How long an idle executor looks for new work before sleeping, and a
 * finishing thread for the last command to complete; a low-latency
 * queue's executor and finishers look for AIDEV_QUEUE_LOW_LATENCY_SPIN_US,
 * yielding the core between looks past EXECUTOR_SPIN_NS. */
#define EXECUTOR_SPIN_NS 20000u
#define LOW_LATENCY_SPIN_NS (AIDEV_QUEUE_LOW_LATENCY_SPIN_US * 1000ull)
/* Below this many work-items a dispatch runs on the executor alone: waking
 * the pool costs more than it saves. A dispatch whose buffers hold more
 * than INLINE_BYTES is split all the same: few items can each carry a lot
 * of work (one per row of a row-wise kernel). */
#define INLINE_ITEMS 16384u
/* Copies and fills below this many bytes stay on the executor. */
#define INLINE_BYTES (4u << 20)
/* Chunks per pool thread. One contiguous range per thread, like OpenMP's
 * static schedule: streaming kernels (most of the library) are bound by
 * memory, and more, smaller chunks measured 5-10% slower on axpy. */
#define CHUNKS_PER_THREAD 1u
/* Chunks per pool thread of a LOW queue's commands: the pool hands a HIGH
 * command the threads as they end their current chunk, so a HIGH command
 * waits at most about 1/64 of a LOW command's time per thread. LOW work
 * is the one that pays the smaller chunks. */
#define LOW_CHUNKS_PER_THREAD 64u

typedef struct cpu_command {
    struct cpu_command *next;
    aidev_backend_command cmd;
    aidev_backend_event *signal;
    atomic_uint deps;        /* wait events still pending */
    atomic_bool dep_failed;
    char cause[512];
    cpu_buffer *buffers[AIDEV_MAX_KERNEL_ARGS];
    uint32_t buffer_count;
    cpu_kernel *kernel;
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS];
    struct cpu_queue *queue;
    cpu_graph *graph;        /* a graph's commands in place of |cmd| (cpu_graph.c) */
} cpu_command;

typedef struct cpu_queue {
    cpu_device *device;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* the executor: new work or a dependency done */
    pthread_cond_t idle;     /* finish(): everything completed */
    cpu_command *head, *tail;
    cpu_command *free_list;
    uint64_t submitted;      /* under lock */
    atomic_uint_fast64_t completed;
    bool executor_sleeping;
    uint32_t finishers;
    bool stop;
    aidev_queue_priority priority;
    cpu_pool_class pool_class; /* the priority, as the pool's job class */
    uint64_t spin_ns;        /* EXECUTOR_SPIN_NS, or LOW_LATENCY_SPIN_NS */
    bool low_latency;        /* AIDEV_QUEUE_LOW_LATENCY: holds the pool awake */
} cpu_queue;

static uint32_t queue_chunks_per_thread(const cpu_queue *q)
{
    return q->pool_class == CPU_POOL_LOW ? LOW_CHUNKS_PER_THREAD : CHUNKS_PER_THREAD;
}

/* ------------------------------------------------------------------------ */
/* Running commands                                                         */
/* ------------------------------------------------------------------------ */

typedef struct dispatch_job {
    aidev_host_kernel_fn fn;
    void *args[AIDEV_MAX_KERNEL_ARGS];
    uint32_t grid[3];
    int split_dim;
    uint32_t chunks;
} dispatch_job;

static void dispatch_chunk(void *opaque, uint32_t c)
{
    const dispatch_job *j = opaque;
    aidev_host_range r = {
        .grid = {j->grid[0], j->grid[1], j->grid[2]},
        .begin = {0, 0, 0},
        .end = {j->grid[0], j->grid[1], j->grid[2]},
    };
    uint64_t extent = j->grid[j->split_dim];
    uint64_t b = extent * c / j->chunks, e = extent * (c + 1) / j->chunks;
    if (j->split_dim == 0 && extent >= 256ull * j->chunks) {
        /* Keep chunk edges on 256-item boundaries: no two threads write
         * one cache line. (Not when chunks are shorter than that: then the
         * items are few and big, rows of a row-wise kernel, and rounding
         * would leave threads idle.) */
        b = c == 0 ? 0 : (b + 255) & ~255ull;
        e = c + 1 == j->chunks ? extent : (e + 255) & ~255ull;
        if (b > extent)
            b = extent;
        if (e > extent)
            e = extent;
    }
    if (b >= e)
        return;
    r.begin[j->split_dim] = (uint32_t)b;
    r.end[j->split_dim] = (uint32_t)e;
    j->fn(j->args, &r);
}

static void run_dispatch(cpu_queue *q, const aidev_backend_command *cmd)
{
    dispatch_job j = {.fn = ((const cpu_kernel *)cmd->u.dispatch.kernel)->fn};
    memcpy(j.grid, cmd->u.dispatch.grid, sizeof j.grid);
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++) {
        const aidev_backend_arg *a = &cmd->u.dispatch.args[i];
        if (a->kind == AIDEV_ARG_BUFFER) {
            j.args[i] = cpu_buffer_ptr((cpu_buffer *)a->u.buffer.buffer) + a->u.buffer.offset;
            bytes += a->u.buffer.size;
        } else {
            j.args[i] = (void *)&a->u;
        }
    }
    /* Split the outermost dimension that has more than one item. */
    j.split_dim = j.grid[2] > 1 ? 2 : j.grid[1] > 1 ? 1 : 0;
    uint64_t items = (uint64_t)j.grid[0] * j.grid[1] * j.grid[2];
    uint32_t threads = cpu_pool_threads(q->device->pool);
    uint64_t extent = j.grid[j.split_dim];
    if ((items < INLINE_ITEMS && bytes < INLINE_BYTES) || items == 1 || threads == 1) {
        j.chunks = 1;
    } else {
        uint64_t want = (uint64_t)threads * queue_chunks_per_thread(q);
        j.chunks = (uint32_t)(extent < want ? extent : want);
    }
    cpu_pool_run(q->device->pool, q->pool_class, j.chunks, dispatch_chunk, &j);
}

typedef struct copy_job {
    char *dst;
    const char *src;
    size_t size;
    uint32_t pattern; /* fill: 4-byte pattern; copy when src != NULL */
    uint32_t chunks;
} copy_job;

static void fill_bytes(char *dst, size_t size, uint32_t pattern, size_t phase)
{
    /* |phase|: offset of dst from the fill's start, to keep the pattern's
     * alignment across chunks. */
    const uint8_t *p = (const uint8_t *)&pattern;
    size_t i = 0;
    while (i < size && (phase + i) % 4)
        dst[i] = (char)p[(phase + i) % 4], i++;
    for (; i + 4 <= size; i += 4)
        memcpy(dst + i, &pattern, 4);
    for (; i < size; i++)
        dst[i] = (char)p[(phase + i) % 4];
}

static void copy_chunk(void *opaque, uint32_t c)
{
    const copy_job *j = opaque;
    size_t b = j->size * c / j->chunks, e = j->size * (c + 1) / j->chunks;
    b &= ~(size_t)63;
    if (c + 1 != j->chunks)
        e &= ~(size_t)63;
    if (b >= e)
        return;
    if (j->src)
        memcpy(j->dst + b, j->src + b, e - b);
    else
        fill_bytes(j->dst + b, e - b, j->pattern, b);
}

static void run_copy(cpu_queue *q, char *dst, const char *src, size_t size, uint32_t pattern)
{
    copy_job j = {.dst = dst, .src = src, .size = size, .pattern = pattern, .chunks = 1};
    uint32_t threads = cpu_pool_threads(q->device->pool);
    if (size >= INLINE_BYTES && threads > 1)
        j.chunks = threads * queue_chunks_per_thread(q);
    cpu_pool_run(q->device->pool, q->pool_class, j.chunks, copy_chunk, &j);
}

void cpu_queue_run(cpu_queue *q, const aidev_backend_command *cmd)
{
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE: {
        cpu_buffer *b = cmd->u.write.buffer;
        run_copy(q, cpu_buffer_ptr(b) + cmd->u.write.offset, cmd->u.write.src, cmd->u.write.size,
                 0);
        break;
    }
    case AIDEV_COMMAND_READ: {
        cpu_buffer *b = cmd->u.read.buffer;
        run_copy(q, cmd->u.read.dst, cpu_buffer_ptr(b) + cmd->u.read.offset,
                 cmd->u.read.size, 0);
        break;
    }
    case AIDEV_COMMAND_COPY: {
        cpu_buffer *s = cmd->u.copy.src, *d = cmd->u.copy.dst;
        run_copy(q, cpu_buffer_ptr(d) + cmd->u.copy.dst_offset,
                 cpu_buffer_ptr(s) + cmd->u.copy.src_offset, cmd->u.copy.size, 0);
        break;
    }
    case AIDEV_COMMAND_FILL: {
        cpu_buffer *b = cmd->u.fill.buffer;
        run_copy(q, cpu_buffer_ptr(b) + cmd->u.fill.offset, NULL, cmd->u.fill.size,
                 cmd->u.fill.pattern);
        break;
    }
    case AIDEV_COMMAND_DISPATCH:
        run_dispatch(q, cmd);
        break;
    case AIDEV_COMMAND_HOST_CALLBACK:
        cmd->u.host_callback.fn(cmd->u.host_callback.user_data);
        break;
    case AIDEV_COMMAND_PREFETCH:
        cpu_buffer_prefetch(cmd->u.prefetch.buffer, cmd->u.prefetch.offset, cmd->u.prefetch.size,
                            cmd->u.prefetch.flags);
        break;
    case AIDEV_COMMAND_BARRIER:
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Command nodes                                                            */
/* ------------------------------------------------------------------------ */

static void command_release_objects(cpu_command *c)
{
    for (uint32_t i = 0; i < c->buffer_count; i++)
        cpu_buffer_release(c->buffers[i]);
    c->buffer_count = 0;
    if (c->kernel) {
        if (atomic_fetch_sub(&c->kernel->refs, 1) == 1)
            free(c->kernel);
        c->kernel = NULL;
    }
    if (c->graph) {
        cpu_graph_release(c->graph);
        c->graph = NULL;
    }
}

static void command_recycle(cpu_queue *q, cpu_command *c)
{
    command_release_objects(c);
    pthread_mutex_lock(&q->lock);
    c->next = q->free_list;
    q->free_list = c;
    pthread_mutex_unlock(&q->lock);
}

/* ------------------------------------------------------------------------ */
/* The executor                                                             */
/* ------------------------------------------------------------------------ */

static void set_thread_priority(aidev_queue_priority priority)
{
    if (priority == AIDEV_QUEUE_PRIORITY_NORMAL)
        return;
    /* Linux nice values are per thread. Raising priority needs privilege;
     * without it the queue simply runs at normal priority. */
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int nice = priority == AIDEV_QUEUE_PRIORITY_LOW ? 5 : -5;
    if (setpriority(PRIO_PROCESS, (id_t)tid, nice) != 0)
        aidev_backend_debug("backend", "cpu: queue priority %d not applied: %s", (int)priority,
                            strerror(errno));
}

/* Whether the executor has something to do: a ready command, or stop. */
static bool executor_has_work(void *opaque)
{
    cpu_queue *q = opaque;
    cpu_command *c = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    if (c)
        return atomic_load_explicit(&c->deps, memory_order_acquire) == 0;
    return __atomic_load_n(&q->stop, __ATOMIC_ACQUIRE);
}

/* The next command whose waits are all done; NULL when stopping. */
static cpu_command *next_ready(cpu_queue *q)
{
    if (cpu_spin_until(executor_has_work, q, q->spin_ns, EXECUTOR_SPIN_NS))
        return __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&q->lock);
    cpu_command *c;
    while (!((c = q->head) && atomic_load(&c->deps) == 0) && !(q->stop && !q->head)) {
        q->executor_sleeping = true;
        pthread_cond_wait(&q->wake, &q->lock);
        q->executor_sleeping = false;
    }
    pthread_mutex_unlock(&q->lock);
    return c;
}

static void *executor_main(void *opaque)
{
    cpu_queue *q = opaque;
    set_thread_priority(q->priority);
    cpu_command *c;
    while ((c = next_ready(q))) {
        uint64_t start = aidev_backend_now_ns();
        bool failed = atomic_load(&c->dep_failed);
        if (!failed && c->graph)
            cpu_graph_run(q, c->graph);
        else if (!failed)
            cpu_queue_run(q, &c->cmd);
        uint64_t end = aidev_backend_now_ns();

        pthread_mutex_lock(&q->lock);
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);

        if (c->signal) {
            aidev_backend_event_set_times(c->signal, start, end);
            if (failed)
                aidev_backend_event_complete(c->signal, AIDEV_ERROR_DEPENDENCY, "%s", c->cause);
            else
                aidev_backend_event_complete(c->signal, AIDEV_SUCCESS, NULL);
        }
        command_recycle(q, c);

        atomic_fetch_add_explicit(&q->completed, 1, memory_order_release);
        pthread_mutex_lock(&q->lock);
        if (q->finishers)
            pthread_cond_broadcast(&q->idle);
        pthread_mutex_unlock(&q->lock);
    }
    return NULL;
}

static void dependency_done(aidev_backend_event *e, aidev_status status, void *user_data)
{
    cpu_command *c = user_data;
    cpu_queue *q = c->queue;
    if (status != AIDEV_SUCCESS) {
        bool expected = false;
        if (atomic_compare_exchange_strong(&c->dep_failed, &expected, true))
            snprintf(c->cause, sizeof c->cause, "an event it waited on failed with %s: %s",
                     aidev_status_string(status), aidev_backend_event_message(e));
    }
    if (atomic_fetch_sub(&c->deps, 1) == 1) {
        pthread_mutex_lock(&q->lock);
        if (q->executor_sleeping)
            pthread_cond_signal(&q->wake);
        pthread_mutex_unlock(&q->lock);
    }
}

/* ------------------------------------------------------------------------ */
/* Vtable entries                                                           */
/* ------------------------------------------------------------------------ */

aidev_status cpu_queue_create(void *device, aidev_queue_priority priority, void **out_queue)
{
    aidev_backend_queue_desc desc = {.struct_size = sizeof desc, .priority = priority};
    return cpu_queue_create_desc(device, &desc, out_queue);
}

/* What cpu_queue_create_desc answers in |desc->scheduling|. */
static void describe_queue(const cpu_queue *q, aidev_backend_queue_desc *desc)
{
    static const char *const how[] = {
        [CPU_POOL_HIGH] = "HIGH: the worker pool takes its chunks before NORMAL and LOW "
                          "work, which yields at chunk granularity; executor nice -5 where "
                          "permitted",
        [CPU_POOL_NORMAL] = "NORMAL: the worker pool's middle class",
        [CPU_POOL_LOW] = "LOW: the worker pool's last class, in 64 chunks per thread so "
                         "that HIGH work preempts it; aged after 10 ms; executor nice +5",
    };
    snprintf(desc->scheduling, sizeof desc->scheduling, "%s%s", how[q->pool_class],
             q->low_latency ? "; low latency: executor and pool poll 1 ms before sleeping" : "");
    desc->priority_applied = true;
}

aidev_status cpu_queue_create_desc(void *device, aidev_backend_queue_desc *desc, void **out_queue)
{
    aidev_queue_priority priority = desc->priority;
    cpu_queue *q = calloc(1, sizeof *q);
    if (!q)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    q->device = device;
    q->priority = priority;
    q->low_latency = (desc->flags & AIDEV_QUEUE_LOW_LATENCY) != 0;
    q->spin_ns = q->low_latency ? LOW_LATENCY_SPIN_NS : EXECUTOR_SPIN_NS;
    q->pool_class = priority == AIDEV_QUEUE_PRIORITY_HIGH  ? CPU_POOL_HIGH
                    : priority == AIDEV_QUEUE_PRIORITY_LOW ? CPU_POOL_LOW
                                                           : CPU_POOL_NORMAL;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_cond_init(&q->idle, NULL);
    int err = pthread_create(&q->thread, NULL, executor_main, q);
    if (err) {
        pthread_cond_destroy(&q->idle);
        pthread_cond_destroy(&q->wake);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                                       "pthread_create for the queue's executor failed: %s",
                                       strerror(err));
    }
    pthread_setname_np(q->thread, "aidev-cpu-queue");
    if (q->low_latency)
        cpu_pool_hold_awake(q->device->pool, true);
    describe_queue(q, desc);
    *out_queue = q;
    return AIDEV_SUCCESS;
}

void cpu_queue_destroy(void *queue)
{
    cpu_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    __atomic_store_n(&q->stop, true, __ATOMIC_RELEASE);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    if (q->low_latency)
        cpu_pool_hold_awake(q->device->pool, false);
    while (q->free_list) {
        cpu_command *c = q->free_list;
        q->free_list = c->next;
        free(c);
    }
    pthread_cond_destroy(&q->idle);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void hold_buffer(cpu_command *c, void *buffer)
{
    cpu_buffer_retain(buffer);
    c->buffers[c->buffer_count++] = buffer;
}

/* A command node from the free list (or new), for |cmd| and |signal|. */
static cpu_command *command_new(cpu_queue *q, const aidev_backend_command *cmd,
                                aidev_backend_event *signal)
{
    pthread_mutex_lock(&q->lock);
    cpu_command *c = q->free_list;
    if (c)
        q->free_list = c->next;
    pthread_mutex_unlock(&q->lock);
    if (!c && !(c = malloc(sizeof *c)))
        return NULL;
    c->next = NULL;
    c->queue = q;
    c->cmd = *cmd;
    c->signal = signal;
    c->buffer_count = 0;
    c->kernel = NULL;
    c->graph = NULL;
    atomic_init(&c->dep_failed, false);
    c->cause[0] = '\0';
    return c;
}

/* Queues |c| behind the queue's commands, after |waits|. */
static void command_enqueue(cpu_queue *q, cpu_command *c, uint32_t wait_count,
                            aidev_backend_event *const *waits)
{
    /* One extra count while the callbacks are being registered. */
    atomic_init(&c->deps, wait_count + 1);
    for (uint32_t i = 0; i < wait_count; i++)
        aidev_backend_event_on_complete(waits[i], dependency_done, c);

    pthread_mutex_lock(&q->lock);
    atomic_fetch_sub(&c->deps, 1);
    if (q->tail)
        q->tail->next = c;
    else
        __atomic_store_n(&q->head, c, __ATOMIC_RELEASE);
    q->tail = c;
    q->submitted++;
    if (q->executor_sleeping)
        pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

aidev_status cpu_graph_submit(void *queue, void *graph, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    cpu_queue *q = queue;
    const aidev_backend_command barrier = {.type = AIDEV_COMMAND_BARRIER};
    cpu_command *c = command_new(q, &barrier, signal);
    if (!c)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    cpu_graph_retain(graph);
    c->graph = graph;
    command_enqueue(q, c, wait_count, waits);
    return AIDEV_SUCCESS;
}

aidev_status cpu_queue_submit(void *queue, const aidev_backend_command *cmd, uint32_t wait_count,
                              aidev_backend_event *const *waits, aidev_backend_event *signal)
{
    cpu_queue *q = queue;
    cpu_command *c = command_new(q, cmd, signal);
    if (!c)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    /* Keep what the command touches alive even if the user releases it. */
    void *buffers[AIDEV_BACKEND_COMMAND_MAX_BUFFERS];
    uint32_t buffer_count = aidev_backend_command_buffers(cmd, buffers);
    for (uint32_t i = 0; i < buffer_count; i++)
        hold_buffer(c, buffers[i]);
    if (cmd->type == AIDEV_COMMAND_DISPATCH) {
        memcpy(c->args, cmd->u.dispatch.args, cmd->u.dispatch.arg_count * sizeof c->args[0]);
        c->cmd.u.dispatch.args = c->args;
        c->kernel = cmd->u.dispatch.kernel;
        atomic_fetch_add(&c->kernel->refs, 1);
    }
    command_enqueue(q, c, wait_count, waits);
    return AIDEV_SUCCESS;
}

typedef struct finish_wait {
    cpu_queue *q;
    uint64_t target;
} finish_wait;

/* Whether the queue has completed |target| commands. */
static bool queue_reached(void *opaque)
{
    const finish_wait *w = opaque;
    return atomic_load_explicit(&w->q->completed, memory_order_acquire) >= w->target;
}

aidev_status cpu_queue_finish(void *queue)
{
    cpu_queue *q = queue;
    pthread_mutex_lock(&q->lock);
    uint64_t target = q->submitted;
    pthread_mutex_unlock(&q->lock);

    finish_wait w = {.q = q, .target = target};
    if (cpu_spin_until(queue_reached, &w, q->spin_ns, EXECUTOR_SPIN_NS))
        return AIDEV_SUCCESS;
    pthread_mutex_lock(&q->lock);
    q->finishers++;
    while (atomic_load(&q->completed) < target)
        pthread_cond_wait(&q->idle, &q->lock);
    q->finishers--;
    pthread_mutex_unlock(&q->lock);
    return AIDEV_SUCCESS;
}

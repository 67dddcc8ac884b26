/*
 * cpu_pool.c - the worker pool behind CPU dispatches.
 *
 * Jobs live on their callers' stacks and are listed in the pool, one FIFO
 * list per class, from cpu_pool_run() until every chunk has been handed
 * out. Threads (workers, and callers while their job runs) pick a job
 * under the lock, then take its chunks from an atomic counter without it;
 * after each chunk a thread picks again only when a job of another class
 * is listed (|listed_mask|, read without the lock), so a lone job costs
 * what the one-job pool did, and a HIGH job waits at most for the chunks
 * that were running when it came. A caller helps a more urgent job one
 * chunk at a time, and only while its own job has chunks to hand out. A job counts the threads inside it
 * (|running|); its caller returns once its chunks are all handed out and
 * |running| is back to 0, so no thread touches the job after. Idle
 * workers spin a little (back-to-back dispatches are common) before
 * sleeping, for longer while a low-latency queue holds the pool awake.
 */
#include "backends/cpu/cpu_pool.h"
#include "hal/spin.h"

#include <aidev/aidev.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define IDLE_SPIN_NS 50000u
/* The same while a low-latency queue holds the pool awake. */
#define LOW_LATENCY_SPIN_NS (AIDEV_QUEUE_LOW_LATENCY_SPIN_US * 1000ull)
/* Relax rounds a caller spins for the threads still in its job before it
 * sleeps. */
#define DONE_SPIN_ROUNDS 4096u

typedef struct cpu_pool_job {
    struct cpu_pool_job *next; /* in its class's list, under the lock */
    cpu_pool_fn fn;
    void *arg;
    uint32_t chunks;
    cpu_pool_class cls;
    bool listed;               /* under the lock */
    uint64_t left_ns;          /* when a thread last left it, or it was listed; under the lock */
    atomic_uint next_chunk;
    atomic_uint running;       /* threads inside it, the caller counted; changed under the lock */
} cpu_pool_job;

struct cpu_pool {
    uint32_t threads;
    pthread_t *tids;

    pthread_mutex_t lock;      /* guards the lists and the counts below */
    pthread_cond_t wake;       /* workers: a job was listed, or stop */
    pthread_cond_t done;       /* callers: a thread left a job */
    cpu_pool_job *head[CPU_POOL_CLASSES];
    atomic_uint listed_mask;   /* bit c: class c has a listed job; written under the lock */
    uint32_t sleepers;
    uint32_t done_waiters;
    atomic_uint awake_holds;   /* low-latency queues of the device */
    bool stop;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool job_exhausted(const cpu_pool_job *j)
{
    return atomic_load_explicit(&j->next_chunk, memory_order_relaxed) >= j->chunks;
}

/* ------------------------------------------------------------------------ */
/* The lists (under the lock)                                               */
/* ------------------------------------------------------------------------ */

static void pool_list_job(cpu_pool *p, cpu_pool_job *job)
{
    cpu_pool_job **at = &p->head[job->cls];
    while (*at)
        at = &(*at)->next;
    *at = job;
    job->next = NULL;
    job->listed = true;
    job->left_ns = now_ns();
    atomic_fetch_or_explicit(&p->listed_mask, 1u << job->cls, memory_order_relaxed);
}

/* Unlists the jobs whose chunks have all been handed out. */
static void pool_purge_exhausted(cpu_pool *p)
{
    unsigned mask = 0;
    for (int c = 0; c < CPU_POOL_CLASSES; c++) {
        for (cpu_pool_job **at = &p->head[c]; *at;) {
            if (job_exhausted(*at)) {
                (*at)->listed = false;
                *at = (*at)->next;
            } else {
                at = &(*at)->next;
            }
        }
        if (p->head[c])
            mask |= 1u << c;
    }
    atomic_store_explicit(&p->listed_mask, mask, memory_order_relaxed);
}

/* The listed job no thread runs that has waited longest for a chunk, if
 * it has waited CPU_POOL_AGING_NS; among classes up to |last|, or only
 * |own| when it is not NULL. */
static cpu_pool_job *pool_aged_job(cpu_pool *p, cpu_pool_job *own, int last)
{
    cpu_pool_job *oldest = NULL;
    for (int c = 0; c <= last && !own; c++)
        for (cpu_pool_job *j = p->head[c]; j; j = j->next)
            if (atomic_load_explicit(&j->running, memory_order_relaxed) == 0 &&
                (!oldest || j->left_ns < oldest->left_ns))
                oldest = j;
    if (own && own->listed && atomic_load_explicit(&own->running, memory_order_relaxed) == 0)
        oldest = own;
    return oldest && now_ns() - oldest->left_ns >= CPU_POOL_AGING_NS ? oldest : NULL;
}

/* The job a thread takes chunks from next, or NULL: for a worker
 * (|own| NULL) the most urgent listed job; for the caller of |own|, its
 * own job or a more urgent one. A job that starves (pool_aged_job) goes
 * first. */
static cpu_pool_job *pool_pick(cpu_pool *p, cpu_pool_job *own)
{
    pool_purge_exhausted(p);
    unsigned mask = atomic_load_explicit(&p->listed_mask, memory_order_relaxed);
    if (!mask)
        return NULL;
    /* A caller whose chunks are all handed out only waits for them. */
    if (own && !own->listed)
        return NULL;
    int last = own ? (int)own->cls - 1 : CPU_POOL_CLASSES - 1;
    cpu_pool_job *best = NULL;
    for (int c = 0; c <= last && !best; c++)
        best = p->head[c];
    if (!best && own && own->listed)
        best = own;
    /* Only when jobs of several classes wait can one starve. */
    if (best && (mask & (mask - 1))) {
        cpu_pool_job *aged = pool_aged_job(p, own, last);
        if (aged)
            best = aged;
    }
    return best;
}

static void pool_enter(cpu_pool_job *j)
{
    atomic_fetch_add_explicit(&j->running, 1, memory_order_relaxed);
}

/* The thread leaves |j|; it must not touch |j| after, since its caller may
 * return at once. */
static void pool_leave(cpu_pool *p, cpu_pool_job *j)
{
    j->left_ns = now_ns();
    atomic_fetch_sub_explicit(&j->running, 1, memory_order_release);
    if (p->done_waiters)
        pthread_cond_broadcast(&p->done);
}

/* ------------------------------------------------------------------------ */
/* Taking chunks (without the lock)                                         */
/* ------------------------------------------------------------------------ */

/* Runs chunks of |j| until none is left, or until a job of another class
 * is listed: then the thread picks again (the job may still be the one).
 * With |just_one|, one chunk at most: a caller helping a more urgent job
 * looks at its own after each chunk. */
static void pool_run_chunks(cpu_pool *p, cpu_pool_job *j, bool just_one)
{
    const unsigned others = ~(1u << j->cls);
    uint32_t c;
    while ((c = atomic_fetch_add_explicit(&j->next_chunk, 1, memory_order_relaxed)) < j->chunks) {
        j->fn(j->arg, c);
        if (just_one || (atomic_load_explicit(&p->listed_mask, memory_order_relaxed) & others))
            return;
    }
}

/* Picks and runs jobs while pool_pick gives one; called and returns with
 * the lock held. */
static void pool_work(cpu_pool *p, cpu_pool_job *own)
{
    cpu_pool_job *j;
    while ((j = pool_pick(p, own))) {
        pool_enter(j);
        pthread_mutex_unlock(&p->lock);
        pool_run_chunks(p, j, own && j != own);
        pthread_mutex_lock(&p->lock);
        pool_leave(p, j);
    }
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */
/* ------------------------------------------------------------------------ */

bool cpu_spin_until(bool (*probe)(void *arg), void *arg, uint64_t spin_ns, uint64_t polite_ns)
{
    uint64_t start = now_ns();
    for (uint32_t i = 1;; i++) {
        if (probe(arg))
            return true;
        aidev_cpu_relax();
        if ((i & 127) == 0) {
            uint64_t spent = now_ns() - start;
            if (spent > spin_ns)
                return false;
            if (spent > polite_ns)
                sched_yield();
        }
    }
}

static bool pool_job_listed(void *opaque)
{
    cpu_pool *p = opaque;
    return atomic_load_explicit(&p->listed_mask, memory_order_relaxed) != 0;
}

/* Spins until a job is listed or the idle window passes; true if one is. */
static bool worker_spin_for_job(cpu_pool *p)
{
    uint64_t window = atomic_load_explicit(&p->awake_holds, memory_order_relaxed)
                          ? LOW_LATENCY_SPIN_NS
                          : IDLE_SPIN_NS;
    return cpu_spin_until(pool_job_listed, p, window, IDLE_SPIN_NS);
}

void cpu_pool_hold_awake(cpu_pool *p, bool on)
{
    if (on)
        atomic_fetch_add_explicit(&p->awake_holds, 1, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&p->awake_holds, 1, memory_order_relaxed);
}

static void *worker_main(void *opaque)
{
    cpu_pool *p = opaque;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        pool_work(p, NULL);
        pthread_mutex_unlock(&p->lock);
        bool listed = worker_spin_for_job(p);
        pthread_mutex_lock(&p->lock);
        while (!listed && !p->stop && !atomic_load_explicit(&p->listed_mask, memory_order_relaxed)) {
            p->sleepers++;
            pthread_cond_wait(&p->wake, &p->lock);
            p->sleepers--;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts worker |i| pinned to |cpu| (-1: unpinned). Pinned from birth, so
 * its first touch of memory already happens on its own node. */
static int start_worker(cpu_pool *p, uint32_t i, int cpu)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    }
    int err = pthread_create(&p->tids[i], &attr, worker_main, p);
    pthread_attr_destroy(&attr);
    if (err == EINVAL && cpu >= 0) /* the CPU left the mask meanwhile */
        err = pthread_create(&p->tids[i], NULL, worker_main, p);
    return err;
}

cpu_pool *cpu_pool_create(uint32_t threads, const int *cpus, uint32_t cpu_count)
{
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = threads ? threads : 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->tids = calloc(p->threads, sizeof *p->tids);
    if (!p->tids) {
        cpu_pool_destroy(p);
        return NULL;
    }
    for (uint32_t i = 1; i < p->threads; i++) {
        /* Worker i takes the i-th allowed CPU; the caller, a queue's
         * executor, stays unpinned (several queues share the pool). */
        int cpu = cpus && cpu_count ? cpus[i % cpu_count] : -1;
        if (start_worker(p, i, cpu) != 0) {
            /* Fewer workers still work: the caller does the rest. */
            p->threads = i;
            break;
        }
        char name[16];
        snprintf(name, sizeof name, "aidev-cpu-w%u", i % 1000);
        pthread_setname_np(p->tids[i], name);
    }
    return p;
}

void cpu_pool_destroy(cpu_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (uint32_t i = 1; p->tids && i < p->threads; i++)
        pthread_join(p->tids[i], NULL);
    free(p->tids);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

uint32_t cpu_pool_threads(const cpu_pool *p)
{
    return p->threads;
}

void cpu_pool_run(cpu_pool *p, cpu_pool_class cls, uint32_t chunks, cpu_pool_fn fn, void *arg)
{
    if (chunks == 0)
        return;
    if (chunks == 1 || p->threads == 1) {
        for (uint32_t c = 0; c < chunks; c++)
            fn(arg, c);
        return;
    }
    cpu_pool_job job = {.fn = fn, .arg = arg, .chunks = chunks, .cls = cls};
    atomic_init(&job.next_chunk, 0);
    atomic_init(&job.running, 0);

    pthread_mutex_lock(&p->lock);
    pool_list_job(p, &job);
    if (p->sleepers)
        pthread_cond_broadcast(&p->wake);
    pool_work(p, &job);

    /* Every chunk handed out (pool_pick unlisted the job); wait for the
     * threads still running one. */
    if (atomic_load_explicit(&job.running, memory_order_acquire) != 0) {
        pthread_mutex_unlock(&p->lock);
        for (uint32_t i = 0;
             i < DONE_SPIN_ROUNDS && atomic_load_explicit(&job.running, memory_order_acquire);
             i++)
            aidev_cpu_relax();
        pthread_mutex_lock(&p->lock);
        p->done_waiters++;
        while (atomic_load_explicit(&job.running, memory_order_acquire) != 0)
            pthread_cond_wait(&p->done, &p->lock);
        p->done_waiters--;
    }
    pthread_mutex_unlock(&p->lock);
}

/*
 * cpu_pool.c - the worker pool behind CPU dispatches.
 *
 * One job at a time: the caller publishes (fn, arg, chunks) under the lock
 * and bumps the generation; workers take chunks from an atomic counter, and
 * the caller takes chunks too. A worker registers in a job under the lock, so
 * it always sees the fields of the generation it joins, and the next job
 * starts only once every registered worker has left. Idle workers spin a
 * little (back-to-back dispatches are common) before sleeping.
 */
#include "backends/cpu/cpu_pool.h"
#include "hal/spin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define IDLE_SPIN_NS 50000u

struct cpu_pool {
    uint32_t threads;
    pthread_t *tids;
    pthread_mutex_t job_lock; /* one job at a time */

    pthread_mutex_t lock;     /* guards the job fields and the counts below */
    pthread_cond_t wake;
    pthread_cond_t done;
    atomic_uint_fast64_t generation;
    cpu_pool_fn fn;
    void *arg;
    uint32_t chunks;
    atomic_uint next_chunk;
    atomic_uint remaining;    /* chunks not finished */
    atomic_uint active;       /* workers registered in the current job */
    uint32_t sleepers;
    bool caller_waiting;
    bool stop;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void take_chunks(cpu_pool *p, cpu_pool_fn fn, void *arg, uint32_t chunks)
{
    uint32_t c;
    while ((c = atomic_fetch_add_explicit(&p->next_chunk, 1, memory_order_relaxed)) < chunks) {
        fn(arg, c);
        atomic_fetch_sub_explicit(&p->remaining, 1, memory_order_release);
    }
}

static void *worker_main(void *opaque)
{
    cpu_pool *p = opaque;
    uint64_t seen = 0;
    for (;;) {
        /* Spin briefly for the next job, then sleep. */
        uint64_t start = now_ns();
        for (uint32_t i = 0;
             atomic_load_explicit(&p->generation, memory_order_acquire) == seen; i++) {
            aidev_cpu_relax();
            if ((i & 255) == 255 && now_ns() - start > IDLE_SPIN_NS)
                break;
        }
        pthread_mutex_lock(&p->lock);
        while (!p->stop && atomic_load(&p->generation) == seen) {
            p->sleepers++;
            pthread_cond_wait(&p->wake, &p->lock);
            p->sleepers--;
        }
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        seen = atomic_load(&p->generation);
        cpu_pool_fn fn = p->fn;
        void *arg = p->arg;
        uint32_t chunks = p->chunks;
        atomic_fetch_add(&p->active, 1);
        pthread_mutex_unlock(&p->lock);

        take_chunks(p, fn, arg, chunks);

        pthread_mutex_lock(&p->lock);
        if (atomic_fetch_sub(&p->active, 1) == 1 && p->caller_waiting)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

cpu_pool *cpu_pool_create(uint32_t threads)
{
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = threads ? threads : 1;
    pthread_mutex_init(&p->job_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->tids = calloc(p->threads, sizeof *p->tids);
    if (!p->tids) {
        cpu_pool_destroy(p);
        return NULL;
    }
    for (uint32_t i = 1; i < p->threads; i++) {
        if (pthread_create(&p->tids[i], NULL, worker_main, p) != 0) {
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
    pthread_mutex_destroy(&p->job_lock);
    free(p);
}

uint32_t cpu_pool_threads(const cpu_pool *p)
{
    return p->threads;
}

void cpu_pool_run(cpu_pool *p, uint32_t chunks, cpu_pool_fn fn, void *arg)
{
    if (chunks == 0)
        return;
    if (chunks == 1 || p->threads == 1) {
        for (uint32_t c = 0; c < chunks; c++)
            fn(arg, c);
        return;
    }
    pthread_mutex_lock(&p->job_lock);

    pthread_mutex_lock(&p->lock);
    /* A late worker may still be leaving the previous job. */
    while (atomic_load(&p->active) != 0) {
        p->caller_waiting = true;
        pthread_cond_wait(&p->done, &p->lock);
    }
    p->caller_waiting = false;
    p->fn = fn;
    p->arg = arg;
    p->chunks = chunks;
    atomic_store(&p->next_chunk, 0);
    atomic_store(&p->remaining, chunks);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (p->sleepers)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    take_chunks(p, fn, arg, chunks);

    /* Every chunk done and every worker out of the job. */
    for (uint32_t i = 0; atomic_load_explicit(&p->remaining, memory_order_acquire) != 0 ||
                         atomic_load_explicit(&p->active, memory_order_acquire) != 0;
         i++) {
        if (i < 4096) {
            aidev_cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->lock);
        p->caller_waiting = true;
        while (atomic_load(&p->active) != 0)
            pthread_cond_wait(&p->done, &p->lock);
        p->caller_waiting = false;
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->job_lock);
}

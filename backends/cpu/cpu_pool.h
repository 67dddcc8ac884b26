/*
 * cpu_pool.h - a persistent pool of worker threads that split a range of
 * work between them (one job at a time; the caller works too).
 */
#ifndef AIDEV_CPU_POOL_H
#define AIDEV_CPU_POOL_H

#include <stdint.h>

typedef struct cpu_pool cpu_pool;

/* Runs fn(arg, chunk) for chunk in [0, chunks), spread over the pool and the
 * calling thread; returns when every chunk is done. */
typedef void (*cpu_pool_fn)(void *arg, uint32_t chunk);

/* A pool of |threads| workers in all, the caller counted: threads - 1 new
 * threads, worker i pinned to |cpus[i % cpu_count]| when |cpus| is not
 * NULL. */
cpu_pool *cpu_pool_create(uint32_t threads, const int *cpus, uint32_t cpu_count);
void cpu_pool_destroy(cpu_pool *pool);
uint32_t cpu_pool_threads(const cpu_pool *pool);
void cpu_pool_run(cpu_pool *pool, uint32_t chunks, cpu_pool_fn fn, void *arg);

#endif

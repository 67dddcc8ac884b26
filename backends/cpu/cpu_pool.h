/*
 * cpu_pool.h - a persistent pool of worker threads that split ranges of
 * work between them. Several jobs may be in the pool at once (one per
 * queue running a split command); threads take the next chunk from the
 * most urgent job, so a long LOW job yields to a HIGH one at chunk
 * granularity. The caller of a job works too.
 */
#ifndef AIDEV_CPU_POOL_H
#define AIDEV_CPU_POOL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cpu_pool cpu_pool;

/* Runs one chunk of a job: fn(arg, chunk) for chunk in [0, chunks). */
typedef void (*cpu_pool_fn)(void *arg, uint32_t chunk);

/* How urgent a job is, most urgent first (a queue's priority). */
typedef enum cpu_pool_class {
    CPU_POOL_HIGH = 0,
    CPU_POOL_NORMAL = 1,
    CPU_POOL_LOW = 2,
} cpu_pool_class;
#define CPU_POOL_CLASSES 3

/* A job that no thread runs and that has waited this long for a chunk
 * gets the next chunk any thread takes, whatever waits beside it: LOW
 * work progresses under a steady stream of HIGH work, by at least one
 * chunk per period. */
#define CPU_POOL_AGING_NS 10000000u

/* A pool of |threads| workers in all, the caller counted: threads - 1 new
 * threads, worker i pinned to |cpus[i % cpu_count]| when |cpus| is not
 * NULL. */
cpu_pool *cpu_pool_create(uint32_t threads, const int *cpus, uint32_t cpu_count);
/* Called once no job is in the pool. */
void cpu_pool_destroy(cpu_pool *pool);
uint32_t cpu_pool_threads(const cpu_pool *pool);

/* How long idle workers poll for a job before sleeping: IDLE_SPIN_NS
 * normally, AIDEV_QUEUE_LOW_LATENCY_SPIN_US while a low-latency queue
 * holds the pool awake (|on| true adds a hold, false drops one). Past the
 * normal window a polling worker yields its core between polls. */
void cpu_pool_hold_awake(cpu_pool *pool, bool on);

/* Calls |probe|(|arg|) (is there work?) until it returns true or |spin_ns|
 * pass, with a pause between calls; past |polite_ns| it yields the core
 * between calls, so other runnable threads go first. True when |probe|
 * did: the caller then takes the work without sleeping. */
bool cpu_spin_until(bool (*probe)(void *arg), void *arg, uint64_t spin_ns, uint64_t polite_ns);

/* Runs fn(arg, chunk) for chunk in [0, chunks), spread over the pool and
 * the calling thread, and returns when every chunk is done. Threads take
 * chunks from the most urgent job in the pool (HIGH before NORMAL before
 * LOW, first come first within a class), and look again after each chunk
 * when a job of another class is waiting; a job waiting longer than
 * CPU_POOL_AGING_NS goes first. The caller takes chunks of its own job,
 * and, while its own has chunks left, one at a time of more urgent ones;
 * never of less urgent ones. Thread safe: any number of callers at once. */
void cpu_pool_run(cpu_pool *pool, cpu_pool_class cls, uint32_t chunks, cpu_pool_fn fn,
                  void *arg);

#endif

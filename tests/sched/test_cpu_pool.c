/*
 * The CPU backend's worker pool, compiled in (backends/cpu/cpu_pool.c):
 * several jobs at once, HIGH before LOW at chunk granularity, LOW not
 * starved, every chunk run exactly once. The order is asserted, never a
 * duration: chunk bodies spin for a while only so that jobs overlap.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/cpu_pool.h"

/* Bounds every wait of a test, so that a broken pool fails instead of
 * hanging: far above what the cases need on a loaded machine. */
#define TEST_WAIT_NS (60ull * 1000000000ull)

static uint64_t test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void spin_for_ns(uint64_t ns)
{
    uint64_t end = test_now_ns() + ns;
    while (test_now_ns() < end) {
    }
}

/* A job run by its own thread (a queue's executor, in the backend). */
typedef struct test_job {
    cpu_pool *pool;
    cpu_pool_class cls;
    uint32_t chunks;
    cpu_pool_fn fn;
    void *arg;
    pthread_t thread;
    atomic_bool returned;
} test_job;

static void *test_job_main(void *opaque)
{
    test_job *t = opaque;
    cpu_pool_run(t->pool, t->cls, t->chunks, t->fn, t->arg);
    atomic_store(&t->returned, true);
    return NULL;
}

static void test_job_start(test_job *t)
{
    atomic_init(&t->returned, false);
    ck_assert_int_eq(pthread_create(&t->thread, NULL, test_job_main, t), 0);
}

/* Waits until *flag or the bound; false on the bound. */
static bool wait_flag(atomic_bool *flag)
{
    uint64_t deadline = test_now_ns() + TEST_WAIT_NS;
    while (!atomic_load(flag)) {
        if (test_now_ns() > deadline)
            return false;
        sched_yield();
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Every chunk once, with jobs of every class at once                       */
/* ------------------------------------------------------------------------ */

enum { COUNT_CHUNKS = 257, COUNT_JOBS = 4, COUNT_ROUNDS = 60 };

typedef struct count_arg {
    atomic_uint hits[COUNT_CHUNKS];
} count_arg;

static void count_chunk(void *opaque, uint32_t c)
{
    count_arg *a = opaque;
    atomic_fetch_add(&a->hits[c], 1);
}

START_TEST(every_chunk_runs_once)
{
    cpu_pool *pool = cpu_pool_create(3, NULL, 0);
    ck_assert_ptr_nonnull(pool);
    const cpu_pool_class classes[COUNT_JOBS] = {CPU_POOL_LOW, CPU_POOL_NORMAL, CPU_POOL_HIGH,
                                                CPU_POOL_NORMAL};
    static count_arg args[COUNT_JOBS];
    for (int r = 0; r < COUNT_ROUNDS; r++) {
        test_job jobs[COUNT_JOBS];
        for (int i = 0; i < COUNT_JOBS; i++) {
            memset(&args[i], 0, sizeof args[i]);
            /* Chunk counts vary by round, down to 1 (run by the caller). */
            uint32_t chunks = 1 + (uint32_t)((r * 37 + i * 101) % COUNT_CHUNKS);
            jobs[i] = (test_job){.pool = pool, .cls = classes[i], .chunks = chunks,
                                 .fn = count_chunk, .arg = &args[i]};
            test_job_start(&jobs[i]);
        }
        for (int i = 0; i < COUNT_JOBS; i++) {
            pthread_join(jobs[i].thread, NULL);
            for (uint32_t c = 0; c < COUNT_CHUNKS; c++) {
                unsigned want = c < jobs[i].chunks ? 1 : 0;
                ck_assert_msg(atomic_load(&args[i].hits[c]) == want,
                              "round %d, job %d (class %d, %u chunks): chunk %u ran %u times",
                              r, i, (int)classes[i], jobs[i].chunks, c,
                              atomic_load(&args[i].hits[c]));
            }
        }
    }
    cpu_pool_destroy(pool);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* HIGH before LOW                                                          */
/* ------------------------------------------------------------------------ */

enum { LONG_CHUNKS = 4000 };
#define LONG_CHUNK_NS 500000ull /* 0.5 ms: a LOW job of 4,000 chunks runs ~1 s on 2 threads */

typedef struct long_arg {
    atomic_uint threads; /* threads that have run one of its chunks */
    atomic_uint started;
    atomic_uint done;
    atomic_bool stop; /* makes the remaining chunks return at once */
    uint64_t chunk_ns;
} long_arg;

static void long_chunk(void *opaque, uint32_t c)
{
    (void)c;
    long_arg *a = opaque;
    static _Thread_local const long_arg *seen;
    if (seen != a) {
        seen = a;
        atomic_fetch_add(&a->threads, 1);
    }
    atomic_fetch_add(&a->started, 1);
    if (!atomic_load(&a->stop))
        spin_for_ns(a->chunk_ns);
    atomic_fetch_add(&a->done, 1);
}

/* Both chunks of this HIGH job wait until both have started (bounded):
 * it ends only when a second thread joins the caller in it, which on a
 * pool of two threads busy with LOW work happens only if a thread leaves
 * the LOW job at a chunk's end. */
typedef struct rendezvous_arg {
    atomic_uint arrived;
    atomic_bool timed_out;
    long_arg *low;
    unsigned low_started_at_end; /* LOW chunks started when the HIGH job ended */
} rendezvous_arg;

static void rendezvous_chunk(void *opaque, uint32_t c)
{
    (void)c;
    rendezvous_arg *a = opaque;
    atomic_fetch_add(&a->arrived, 1);
    uint64_t deadline = test_now_ns() + TEST_WAIT_NS;
    while (atomic_load(&a->arrived) < 2) {
        if (test_now_ns() > deadline) {
            atomic_store(&a->timed_out, true);
            return;
        }
    }
}

START_TEST(high_job_takes_threads_from_low_at_chunk_end)
{
    cpu_pool *pool = cpu_pool_create(2, NULL, 0);
    ck_assert_ptr_nonnull(pool);
    long_arg low = {.chunk_ns = LONG_CHUNK_NS};
    test_job lj = {.pool = pool, .cls = CPU_POOL_LOW, .chunks = LONG_CHUNKS, .fn = long_chunk,
                   .arg = &low};
    test_job_start(&lj);
    /* Both threads of the pool in the LOW job. */
    uint64_t deadline = test_now_ns() + TEST_WAIT_NS;
    while (atomic_load(&low.threads) < 2 && test_now_ns() < deadline)
        sched_yield();
    ck_assert_uint_eq(atomic_load(&low.threads), 2);

    rendezvous_arg high = {.low = &low};
    cpu_pool_run(pool, CPU_POOL_HIGH, 2, rendezvous_chunk, &high);
    high.low_started_at_end = atomic_load(&low.started);
    /* Let the LOW job end quickly now. */
    atomic_store(&low.stop, true);
    ck_assert(wait_flag(&lj.returned));
    pthread_join(lj.thread, NULL);

    ck_assert_msg(!atomic_load(&high.timed_out),
                  "no second thread joined the HIGH job while the LOW job ran");
    /* Without preemption the threads would come to the HIGH job only once
     * every LOW chunk had been handed out. */
    ck_assert_msg(high.low_started_at_end < LONG_CHUNKS,
                  "the HIGH job ended after every LOW chunk had started (%u of %u)",
                  high.low_started_at_end, (unsigned)LONG_CHUNKS);
    ck_assert_uint_eq(atomic_load(&low.done), LONG_CHUNKS);
    cpu_pool_destroy(pool);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* LOW is not starved                                                       */
/* ------------------------------------------------------------------------ */

enum { ENDLESS_CHUNKS = 1000000, STARVE_LOW_CHUNKS = 20 };
#define ENDLESS_CHUNK_NS 100000ull /* 0.1 ms: the HIGH job would last ~50 s on 2 threads */

START_TEST(low_job_progresses_under_endless_high_job)
{
    cpu_pool *pool = cpu_pool_create(2, NULL, 0);
    ck_assert_ptr_nonnull(pool);
    long_arg high = {.chunk_ns = ENDLESS_CHUNK_NS};
    test_job hj = {.pool = pool, .cls = CPU_POOL_HIGH, .chunks = ENDLESS_CHUNKS,
                   .fn = long_chunk, .arg = &high};
    test_job_start(&hj);
    uint64_t deadline = test_now_ns() + TEST_WAIT_NS;
    while (atomic_load(&high.threads) < 2 && test_now_ns() < deadline)
        sched_yield();
    ck_assert_uint_eq(atomic_load(&high.threads), 2);

    /* A LOW job now: only aging gives it chunks, since a HIGH job is
     * listed the whole time. */
    long_arg low = {.chunk_ns = ENDLESS_CHUNK_NS};
    cpu_pool_run(pool, CPU_POOL_LOW, STARVE_LOW_CHUNKS, long_chunk, &low);
    unsigned high_done_at_low_end = atomic_load(&high.done);
    atomic_store(&high.stop, true);
    ck_assert(wait_flag(&hj.returned));
    pthread_join(hj.thread, NULL);

    ck_assert_uint_eq(atomic_load(&low.done), STARVE_LOW_CHUNKS);
    ck_assert_msg(high_done_at_low_end < ENDLESS_CHUNKS,
                  "the LOW job ran only once the HIGH job had ended");
    ck_assert_uint_eq(atomic_load(&high.done), ENDLESS_CHUNKS);
    cpu_pool_destroy(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, every_chunk_runs_once);
    tcase_add_test(tc, high_job_takes_threads_from_low_at_chunk_end);
    tcase_add_test(tc, low_job_progresses_under_endless_high_job);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

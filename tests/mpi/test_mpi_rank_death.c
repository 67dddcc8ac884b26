/*
 * test-mpi-rank-death: the last rank dies in the middle of a long
 * all-reduce; every other rank's event fails with AIDEV_ERROR_TIMEOUT
 * (never hangs), the operation queued behind it is cancelled, the broken
 * communicator refuses new work and releases without waiting on the dead.
 * Run by tests/mpi/run_mpi.py --dies N-1 (mpirun --enable-recovery keeps
 * the others alive).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi_util.h"

#define TIMEOUT_S 2.0
/* 8 MiB in chunks of 256 bytes: far longer than the rank takes to die. */
#define COUNT (2u << 20)
#define CHUNK 256

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *die_soon(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 300000000L};
    nanosleep(&ts, NULL);
    mpi_test_write_result("dies");
    fflush(NULL);
    _exit(0); /* no MPI_Finalize: as a crash would */
}

START_TEST(a_dead_rank_fails_the_others_within_the_timeout)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_HOST, COUNT * 4, AIDEV_TYPE_F32);
    /* Made last: its collective duplicate lines the ranks up, so a slow
     * start (the sanitizers) does not count against the short timeout. */
    aidev_mpi_comm comm = test_comm(q, CHUNK, AIDEV_MPI_STAGING_AUTO, TIMEOUT_S);
    /* Everyone alive: a first all-reduce goes through. */
    aidev_event ev, behind;
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, 1000, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 0, NULL, &ev));
    expect_event(ev, AIDEV_SUCCESS, NULL);

    bool dies = test_rank == test_size - 1;
    pthread_t killer;
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, COUNT, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 0, NULL, &ev));
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, 1000, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 0, NULL, &behind));
    if (dies) {
        ck_assert_int_eq(pthread_create(&killer, NULL, die_soon, NULL), 0);
        for (;;)
            pause();
    }
    double start = now_s();
    aidev_status st = aidev_event_wait(ev, 120ull * 1000000000ull);
    double waited = now_s() - start;
    ck_assert_msg(st == AIDEV_ERROR_TIMEOUT, "the all-reduce with a dead rank: %s: %s",
                  aidev_status_string(st), aidev_event_message(ev));
    ck_assert_msg(strstr(aidev_event_message(ev), "allreduce #2") != NULL, "message: %s",
                  aidev_event_message(ev));
    /* Bounded by the timeout (plus a loaded machine's slack), not hung. */
    ck_assert_msg(waited < 60, "failed only after %.1f s", waited);
    aidev_event_release(ev);
    expect_event(behind, AIDEV_ERROR_CANCELLED, "broke earlier");
    aidev_status refused = aidev_mpi_allreduce(comm, NULL, 0, b, 0, 10, AIDEV_TYPE_F32,
                                               AIDEV_MPI_SUM, 0, NULL, NULL);
    ck_assert_msg(refused == AIDEV_ERROR_INVALID_STATE, "enqueue on a broken comm: %s",
                  aidev_status_string(refused));
    ck_assert_ptr_nonnull(strstr(aidev_mpi_last_error(), "broken"));
    test_comm_release();
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

int main(int argc, char **argv)
{
    mpi_test_init(&argc, &argv);
    Suite *s = suite_create("mpi-rank-death");
    harness_add_per_device(s, "a_dead_rank_fails_the_others_within_the_timeout",
                           a_dead_rank_fails_the_others_within_the_timeout, 0);
    return mpi_test_run(s, false);
}

/*
 * libaidev-mpi keeps the queue's order and says what went wrong: an
 * operation waits for its wait list and for the queue's earlier commands,
 * holds the queue's later ones, fails on every rank when one rank's input
 * failed (and the communicator goes on), refuses ranks that disagree,
 * reduces gradient buckets as their ranges become ready, and refuses bad
 * arguments naming them.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_util.h"
#include "test_mpi_cases.h"

#define COUNT 1001

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* An all-reduce of the test data of |salt| over COUNT f32 in |b|, checked. */
static void expect_reduced(aidev_queue q, aidev_buffer b, int salt, const char *what)
{
    void *want = test_reduced(AIDEV_TYPE_F32, AIDEV_MPI_SUM, test_size, COUNT, salt);
    void *got = test_read(q, b, 0, COUNT * 4);
    expect_equal(AIDEV_TYPE_F32, got, want, COUNT, what);
    free(got);
    free(want);
}

START_TEST(wait_list_and_queue_order)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev), other = harness_queue(dev);
    aidev_mpi_comm comm = test_comm(q, 0, AIDEV_MPI_STAGING_AUTO, 0);
    float *mine = test_data(AIDEV_TYPE_F32, test_rank, COUNT, 1);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, COUNT * 4, AIDEV_TYPE_F32);
    /* The input arrives through another queue, after a user event: the
     * all-reduce waits for both. */
    aidev_event gate, written, reduced, read;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_write(other, b, 0, COUNT * 4, mine, 1, &gate, &written));
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, COUNT, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 1, &written, &reduced));
    float *got = malloc(COUNT * 4);
    ck_assert_ok(aidev_enqueue_read(q, b, 0, COUNT * 4, got, 0, NULL, &read));
    sleep_ms(100);
    ck_assert_status(aidev_event_query(reduced), AIDEV_NOT_READY);
    ck_assert_status(aidev_event_query(read), AIDEV_NOT_READY);
    /* Ranks open their gates at different times. */
    sleep_ms(20 * test_rank);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    expect_event(reduced, AIDEV_SUCCESS, NULL);
    ck_assert_ok(aidev_event_wait(read, AIDEV_WAIT_FOREVER));
    float *want = test_reduced(AIDEV_TYPE_F32, AIDEV_MPI_SUM, test_size, COUNT, 1);
    expect_equal(AIDEV_TYPE_F32, got, want, COUNT, "read queued after the all-reduce");
    free(want);
    free(got);
    aidev_event_release(read);
    aidev_event_release(written);
    aidev_event_release(gate);
    aidev_buffer_release(b);
    free(mine);
    test_comm_release();
    aidev_queue_release(other);
    aidev_queue_release(q);
}
END_TEST

START_TEST(failed_wait_fails_the_operation_on_every_rank)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_mpi_comm comm = test_comm(q, 0, AIDEV_MPI_STAGING_AUTO, 0);
    float *mine = test_data(AIDEV_TYPE_F32, test_rank, COUNT, 2);
    aidev_buffer b = test_buffer_with(dev, q, AIDEV_MEMORY_DEVICE, 0, mine, COUNT * 4);
    aidev_event upstream, ev;
    ck_assert_ok(aidev_event_create_user(harness_context(), &upstream));
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, COUNT, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 1, &upstream, &ev));
    if (test_rank == 1)
        ck_assert_ok(aidev_event_set_status(upstream, AIDEV_ERROR_IO, "injected upstream failure"));
    else
        ck_assert_ok(aidev_event_set_status(upstream, AIDEV_SUCCESS, NULL));
    expect_event(ev, AIDEV_ERROR_DEPENDENCY,
                 test_rank == 1 ? "injected upstream failure" : "rank 1");
    /* No data moved; the communicator goes on. */
    float *kept = test_read(q, b, 0, COUNT * 4);
    expect_equal(AIDEV_TYPE_F32, kept, mine, COUNT, "after the failed all-reduce");
    free(kept);
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, COUNT, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 0, NULL, &ev));
    expect_event(ev, AIDEV_SUCCESS, NULL);
    expect_reduced(q, b, 2, "the all-reduce after a failed one");
    /* The same for a send and its receive. */
    if (test_rank < 2) {
        aidev_event bad;
        ck_assert_ok(aidev_event_create_user(harness_context(), &bad));
        ck_assert_ok(aidev_event_set_status(bad, test_rank == 0 ? AIDEV_ERROR_IO : AIDEV_SUCCESS,
                                            "injected send failure"));
        if (test_rank == 0)
            ck_assert_mpi_ok(aidev_mpi_send(comm, b, 0, COUNT, AIDEV_TYPE_F32, 1, 1, &bad, &ev));
        else
            ck_assert_mpi_ok(aidev_mpi_recv(comm, b, 0, COUNT, AIDEV_TYPE_F32, 0, 1, &bad, &ev));
        expect_event(ev, AIDEV_ERROR_DEPENDENCY,
                     test_rank == 0 ? "injected send failure" : "rank 0");
        aidev_event_release(bad);
    }
    aidev_event_release(upstream);
    aidev_buffer_release(b);
    free(mine);
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

START_TEST(ranks_that_disagree_are_refused)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_mpi_comm comm = test_comm(q, 0, AIDEV_MPI_STAGING_AUTO, 0);
    float *mine = test_data(AIDEV_TYPE_F32, test_rank, COUNT, 3);
    aidev_buffer b = test_buffer_with(dev, q, AIDEV_MEMORY_DEVICE, 0, mine, COUNT * 4);
    aidev_event ev;
    uint64_t count = test_rank == 0 ? COUNT - 1 : COUNT;
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, count, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 0, NULL, &ev));
    expect_event(ev, AIDEV_ERROR_INVALID_ARGUMENT, "different counts");
    aidev_mpi_op op = test_rank == 0 ? AIDEV_MPI_MAX : AIDEV_MPI_SUM;
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, COUNT, AIDEV_TYPE_F32, op, 0, NULL,
                                         &ev));
    expect_event(ev, AIDEV_ERROR_INVALID_ARGUMENT, "same collectives in the same order");
    /* Ranks 0 and 1 both send first. */
    if (test_rank < 2) {
        ck_assert_mpi_ok(aidev_mpi_send(comm, b, 0, COUNT, AIDEV_TYPE_F32, 1 - test_rank, 0,
                                        NULL, &ev));
        expect_event(ev, AIDEV_ERROR_INVALID_ARGUMENT, "posted a send to this rank too");
    }
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, COUNT, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 0, NULL, &ev));
    expect_event(ev, AIDEV_SUCCESS, NULL);
    expect_reduced(q, b, 3, "the all-reduce after refused ones");
    aidev_buffer_release(b);
    free(mine);
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

/* Four ranges laid out L0 L1 L2 L3, listed as a backward pass makes them
 * (L3 first). Buckets of 4000 bytes: {L3, L2} and {L1, L0}. The first
 * bucket completes while L1 and L0 are not ready yet. */
START_TEST(buckets_start_when_their_ranges_are_ready)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_mpi_comm comm = test_comm(q, 0, AIDEV_MPI_STAGING_AUTO, 0);
    const uint64_t sizes[4] = {300, 7, 1200, 50}, total = 1557;
    float *mine = test_data(AIDEV_TYPE_F32, test_rank, total, 4);
    aidev_buffer g = test_buffer_with(dev, q, AIDEV_MEMORY_DEVICE, 0, mine, total * 4);
    aidev_event ready[4], per_range[4], all;
    aidev_mpi_range ranges[4];
    uint64_t at[4] = {0, 300, 307, 1507};
    for (int i = 0; i < 4; i++) {
        int layer = 3 - i;
        ck_assert_ok(aidev_event_create_user(harness_context(), &ready[i]));
        ranges[i] = (aidev_mpi_range){at[layer] * 4, sizes[layer], ready[i]};
    }
    ck_assert_mpi_ok(aidev_mpi_allreduce_buckets(comm, g, AIDEV_TYPE_F32, AIDEV_MPI_SUM, 4000, 4,
                                                 ranges, per_range, &all));
    ck_assert_ptr_eq(per_range[0], per_range[1]);
    ck_assert_ptr_eq(per_range[2], per_range[3]);
    ck_assert_ptr_ne(per_range[0], per_range[2]);
    ck_assert_ok(aidev_event_set_status(ready[0], AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_set_status(ready[1], AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(per_range[0], 60ull * 1000000000ull));
    ck_assert_status(aidev_event_query(per_range[2]), AIDEV_NOT_READY);
    ck_assert_status(aidev_event_query(all), AIDEV_NOT_READY);
    ck_assert_ok(aidev_event_set_status(ready[2], AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_set_status(ready[3], AIDEV_SUCCESS, NULL));
    expect_event(all, AIDEV_SUCCESS, NULL);
    for (int i = 0; i < 4; i++) {
        ck_assert_status(aidev_event_query(per_range[i]), AIDEV_SUCCESS);
        aidev_event_release(per_range[i]);
        aidev_event_release(ready[i]);
    }
    float *want = test_reduced(AIDEV_TYPE_F32, AIDEV_MPI_SUM, test_size, total, 4);
    float *got = test_read(q, g, 0, total * 4);
    expect_equal(AIDEV_TYPE_F32, got, want, total, "buckets");
    /* Ranges apart in the buffer never share a bucket. */
    aidev_mpi_range apart[2] = {{0, 10, NULL}, {400, 10, NULL}};
    ck_assert_mpi_ok(aidev_mpi_allreduce_buckets(comm, g, AIDEV_TYPE_F32, AIDEV_MPI_MAX, 0, 2,
                                                 apart, per_range, NULL));
    ck_assert_ptr_ne(per_range[0], per_range[1]);
    expect_event(per_range[0], AIDEV_SUCCESS, NULL);
    expect_event(per_range[1], AIDEV_SUCCESS, NULL);
    free(got);
    free(want);
    aidev_buffer_release(g);
    free(mine);
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

/* Two communicators on two queues in flight at once (two progress threads
 * calling MPI together: MPI_THREAD_MULTIPLE). */
START_TEST(two_communicators_at_once)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q1 = harness_queue(dev), q2 = harness_queue(dev);
    aidev_mpi_comm a, b;
    aidev_mpi_comm_desc desc = {.timeout_ns = 20000000000ull, .chunk_bytes = 512};
    ck_assert_mpi_ok(aidev_mpi_comm_create(MPI_COMM_WORLD, q1, &desc, &a));
    ck_assert_mpi_ok(aidev_mpi_comm_create(MPI_COMM_WORLD, q2, &desc, &b));
    float *mine = test_data(AIDEV_TYPE_F32, test_rank, COUNT, 5);
    aidev_buffer x = test_buffer_with(dev, q1, AIDEV_MEMORY_DEVICE, 0, mine, COUNT * 4);
    aidev_buffer y = test_buffer_with(dev, q2, AIDEV_MEMORY_DEVICE, 0, mine, COUNT * 4);
    aidev_event ea, eb;
    ck_assert_mpi_ok(aidev_mpi_allreduce(a, NULL, 0, x, 0, COUNT, AIDEV_TYPE_F32, AIDEV_MPI_SUM,
                                         0, NULL, &ea));
    ck_assert_mpi_ok(aidev_mpi_allreduce(b, NULL, 0, y, 0, COUNT, AIDEV_TYPE_F32, AIDEV_MPI_SUM,
                                         0, NULL, &eb));
    expect_event(eb, AIDEV_SUCCESS, NULL);
    expect_event(ea, AIDEV_SUCCESS, NULL);
    expect_reduced(q1, x, 5, "communicator a");
    expect_reduced(q2, y, 5, "communicator b");
    ck_assert_mpi_ok(aidev_mpi_comm_release(a));
    ck_assert_mpi_ok(aidev_mpi_comm_release(b));
    aidev_buffer_release(x);
    aidev_buffer_release(y);
    free(mine);
    aidev_queue_release(q1);
    aidev_queue_release(q2);
}
END_TEST

START_TEST(bad_arguments_are_named)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_mpi_comm comm = test_comm(q, 0, AIDEV_MPI_STAGING_AUTO, 0);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    aidev_event ev = (aidev_event)1;
    ck_assert_mpi(aidev_mpi_allreduce(NULL, NULL, 0, b, 0, 4, AIDEV_TYPE_F32, AIDEV_MPI_SUM, 0,
                                      NULL, &ev), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ptr_null(ev);
    ck_assert_ptr_nonnull(strstr(aidev_mpi_last_error(), "comm"));
#define REFUSED(call, status, needle)                                                          \
    do {                                                                                       \
        ck_assert_mpi(call, status);                                                           \
        ck_assert_msg(strstr(aidev_mpi_last_error(), needle) != NULL, "%s: \"%s\" lacks %s",  \
                      #call, aidev_mpi_last_error(), needle);                                  \
    } while (0)
    REFUSED(aidev_mpi_allreduce(comm, NULL, 0, b, 2, 4, AIDEV_TYPE_F32, AIDEV_MPI_SUM, 0, NULL,
                                NULL), AIDEV_ERROR_INVALID_ARGUMENT, "offset");
    REFUSED(aidev_mpi_allreduce(comm, NULL, 0, b, 0, 1025, AIDEV_TYPE_F32, AIDEV_MPI_SUM, 0,
                                NULL, NULL), AIDEV_ERROR_OUT_OF_RANGE, "outside the buffer");
    REFUSED(aidev_mpi_allreduce(comm, NULL, 0, b, 0, 4, AIDEV_TYPE_NONE, AIDEV_MPI_SUM, 0, NULL,
                                NULL), AIDEV_ERROR_INVALID_ARGUMENT, "all-reduce takes");
    REFUSED(aidev_mpi_allreduce(comm, NULL, 0, b, 0, 4, AIDEV_TYPE_F32, (aidev_mpi_op)7, 0, NULL,
                                NULL), AIDEV_ERROR_INVALID_ARGUMENT, "op 7");
    REFUSED(aidev_mpi_allreduce(comm, b, 0, b, 8, 4, AIDEV_TYPE_F32, AIDEV_MPI_SUM, 0, NULL,
                                NULL), AIDEV_ERROR_INVALID_ARGUMENT, "overlapping");
    REFUSED(aidev_mpi_broadcast(comm, b, 0, 4, AIDEV_TYPE_F32, test_size, 0, NULL, NULL),
            AIDEV_ERROR_INVALID_ARGUMENT, "root");
    REFUSED(aidev_mpi_send(comm, b, 0, 4, AIDEV_TYPE_F32, test_rank, 0, NULL, NULL),
            AIDEV_ERROR_INVALID_ARGUMENT, "peer");
    REFUSED(aidev_mpi_recv(comm, b, 0, 4, (aidev_type)99, 0, 0, NULL, NULL),
            AIDEV_ERROR_INVALID_ARGUMENT, "type");
    aidev_event bogus = (aidev_event)(uintptr_t)0x1234;
    REFUSED(aidev_mpi_allreduce(comm, NULL, 0, b, 0, 4, AIDEV_TYPE_F32, AIDEV_MPI_SUM, 1, &bogus,
                                NULL), AIDEV_ERROR_INVALID_HANDLE, "wait_events");
    aidev_mpi_range overlap[2] = {{0, 10, NULL}, {36, 10, NULL}};
    REFUSED(aidev_mpi_allreduce_buckets(comm, b, AIDEV_TYPE_F32, AIDEV_MPI_SUM, 0, 2, overlap,
                                        NULL, NULL), AIDEV_ERROR_INVALID_ARGUMENT, "overlap");
    /* A buffer of another device, where the context has one. */
    uint32_t n = 0;
    aidev_context_get_devices(harness_context(), &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device other;
        aidev_context_get_device(harness_context(), i, &other);
        if (other == dev)
            continue;
        aidev_buffer foreign = harness_buffer(other, AIDEV_MEMORY_HOST, 64, AIDEV_TYPE_NONE);
        REFUSED(aidev_mpi_allreduce(comm, NULL, 0, foreign, 0, 4, AIDEV_TYPE_F32, AIDEV_MPI_SUM,
                                    0, NULL, NULL), AIDEV_ERROR_INVALID_ARGUMENT, "device");
        aidev_buffer_release(foreign);
        break;
    }
    /* Communicators: refused locally, before the collective duplicate. */
    aidev_mpi_comm bad = NULL;
    aidev_mpi_comm_desc desc = {.chunk_bytes = 1};
    REFUSED(aidev_mpi_comm_create(MPI_COMM_WORLD, q, &desc, &bad), AIDEV_ERROR_INVALID_ARGUMENT,
            "chunk_bytes");
    desc = (aidev_mpi_comm_desc){.staging_chunks = 1000};
    REFUSED(aidev_mpi_comm_create(MPI_COMM_WORLD, q, &desc, &bad), AIDEV_ERROR_INVALID_ARGUMENT,
            "staging_chunks");
    REFUSED(aidev_mpi_comm_create(MPI_COMM_WORLD, NULL, NULL, &bad), AIDEV_ERROR_INVALID_HANDLE,
            "queue");
    REFUSED(aidev_mpi_comm_create(MPI_COMM_NULL, q, NULL, &bad), AIDEV_ERROR_INVALID_ARGUMENT,
            "MPI_COMM_NULL");
    ck_assert_ptr_null(bad);
    int rank = -1, size = -1;
    ck_assert_mpi_ok(aidev_mpi_comm_rank(comm, &rank, &size));
    ck_assert_int_eq(rank, test_rank);
    ck_assert_int_eq(size, test_size);
    test_comm_release();
    REFUSED(aidev_mpi_comm_release(comm), AIDEV_ERROR_INVALID_HANDLE, "comm");
    REFUSED(aidev_mpi_comm_rank(comm, &rank, NULL), AIDEV_ERROR_INVALID_HANDLE, "comm");
#undef REFUSED
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

void add_order_cases(Suite *s)
{
    harness_add_per_device(s, "wait_list_and_queue_order", wait_list_and_queue_order, 0);
    harness_add_per_device(s, "failed_wait_fails_the_operation_on_every_rank",
                           failed_wait_fails_the_operation_on_every_rank, 0);
    harness_add_per_device(s, "ranks_that_disagree_are_refused", ranks_that_disagree_are_refused,
                           0);
    harness_add_per_device(s, "buckets_start_when_their_ranges_are_ready",
                           buckets_start_when_their_ranges_are_ready, 0);
    harness_add_per_device(s, "two_communicators_at_once", two_communicators_at_once, 0);
    harness_add_per_device(s, "bad_arguments_are_named", bad_arguments_are_named, 0);
}

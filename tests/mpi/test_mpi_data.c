/*
 * libaidev-mpi moves the right data: every operation against a reference
 * computed on the host, on every memory kind, in place (memory MPI reaches)
 * and staged (all memory through the staging chunks), at odd sizes and
 * offsets, with chunks small enough that every transfer takes several.
 * The cases of test_mpi_order.c join them in one program (test-mpi).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_util.h"
#include "test_mpi_cases.h"

/* Chunks of 1000 bytes: 250 f32, 500 f16; not a divisor of any count. */
#define SMALL_CHUNK 1000
static const uint64_t counts[] = {1, 7, 1001, 2503};
static const aidev_mpi_staging stagings[] = {AIDEV_MPI_STAGING_AUTO, AIDEV_MPI_STAGING_ALWAYS};

static void allreduce_case(aidev_device dev, aidev_queue q, aidev_memory_kind kind,
                           aidev_type type, aidev_mpi_op op, uint64_t count, bool in_place,
                           int salt)
{
    size_t elem = aidev_type_size(type);
    uint64_t bytes = count * elem, offset = 3 * elem; /* odd, element-aligned */
    void *mine = test_data(type, test_rank, count, salt);
    void *want = test_reduced(type, op, test_size, count, salt);
    aidev_buffer recv = test_buffer_with(dev, q, kind, offset, mine, bytes);
    aidev_buffer send = NULL;
    if (!in_place)
        send = test_buffer_with(dev, q, kind, elem, mine, bytes);
    aidev_event ev;
    ck_assert_mpi_ok(aidev_mpi_allreduce(test_current_comm(), send, elem, recv, offset, count,
                                         type, op, 0, NULL, &ev));
    /* Queued after the all-reduce: reads its result. */
    void *got = test_read(q, recv, offset, bytes);
    expect_event(ev, AIDEV_SUCCESS, NULL);
    char what[160];
    snprintf(what, sizeof what, "allreduce %s %s of %llu, %s, kind %d", aidev_type_name(type),
             op == AIDEV_MPI_SUM ? "sum" : "max", (unsigned long long)count,
             in_place ? "in place" : "send->recv", (int)kind);
    expect_equal(type, got, want, count, what);
    /* Nothing written outside the range. */
    unsigned char *around = test_read(q, recv, 0, offset);
    for (uint64_t i = 0; i < offset; i++)
        ck_assert_msg(around[i] == 0x5a, "%s: byte %llu before the range changed", what,
                      (unsigned long long)i);
    free(around);
    if (send) {
        void *kept = test_read(q, send, elem, bytes);
        expect_equal(type, kept, mine, count, "allreduce: the send buffer");
        free(kept);
        aidev_buffer_release(send);
    }
    aidev_buffer_release(recv);
    free(got);
    free(want);
    free(mine);
}

START_TEST(allreduce_matches_the_host_reference)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    static const aidev_type types[] = {AIDEV_TYPE_F32, AIDEV_TYPE_I32, AIDEV_TYPE_F16,
                                       AIDEV_TYPE_BF16, AIDEV_TYPE_F64};
    int salt = 0;
    for (size_t s = 0; s < 2; s++) {
        test_comm(q, SMALL_CHUNK, stagings[s], 0);
        for (size_t k = 0; k < 3; k++) {
            if (!harness_has_kind(dev, test_kinds[k]))
                continue;
            for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
                for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                    aidev_mpi_op op = (c + t) % 2 ? AIDEV_MPI_MAX : AIDEV_MPI_SUM;
                    allreduce_case(dev, q, test_kinds[k], types[t], op, counts[c], c % 2 == 0,
                                   ++salt);
                }
        }
    }
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

/* One all-reduce sum of two 16-bit floats: |big| on rank 0, |one| and
 * |three| on rank 1, 0 elsewhere; every rank must get |want0|, |want1|
 * (on the device of harness index |device_index|). */
static void half_ties_case(int device_index, aidev_type type, uint16_t big, uint16_t one,
                           uint16_t three, uint16_t want0, uint16_t want1)
{
    aidev_device dev = harness_device(device_index);
    aidev_queue q = harness_queue(dev);
    test_comm(q, 0, AIDEV_MPI_STAGING_AUTO, 0);
    uint16_t mine[2] = {0, 0};
    if (test_rank == 0)
        mine[0] = mine[1] = big;
    if (test_rank == 1) {
        mine[0] = one;
        mine[1] = three;
    }
    aidev_buffer b = test_buffer_with(dev, q, AIDEV_MEMORY_DEVICE, 0, mine, sizeof mine);
    aidev_event ev;
    ck_assert_mpi_ok(aidev_mpi_allreduce(test_current_comm(), NULL, 0, b, 0, 2, type,
                                         AIDEV_MPI_SUM, 0, NULL, &ev));
    uint16_t *got = test_read(q, b, 0, sizeof mine);
    expect_event(ev, AIDEV_SUCCESS, NULL);
    ck_assert_msg(got[0] == want0 && got[1] == want1,
                  "%s sums on rank %d: got %#x %#x, expected %#x %#x", aidev_type_name(type),
                  test_rank, got[0], got[1], want0, want1);
    free(got);
    aidev_buffer_release(b);
    test_comm_release();
    aidev_queue_release(q);
}

/* f16 sums round to the nearest even f16, every rank the same bits:
 * 2048 + 1 ties down to 2048, 2048 + 3 ties up to 2052. */
START_TEST(allreduce_f16_rounds_to_nearest_even)
{
    half_ties_case(_i, AIDEV_TYPE_F16, 0x6800, 0x3c00, 0x4200, 0x6800, 0x6802);
}
END_TEST

/* bf16 likewise (8 significant bits): 256 + 1 ties down to 256, 256 + 3
 * ties up to 260. */
START_TEST(allreduce_bf16_rounds_to_nearest_even)
{
    half_ties_case(_i, AIDEV_TYPE_BF16, 0x4380, 0x3f80, 0x4040, 0x4380, 0x4382);
}
END_TEST

START_TEST(broadcast_from_every_root)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    int salt = 100;
    for (size_t s = 0; s < 2; s++) {
        test_comm(q, SMALL_CHUNK, stagings[s], 0);
        for (size_t k = 0; k < 3; k++) {
            if (!harness_has_kind(dev, test_kinds[k]))
                continue;
            for (int root = 0; root < test_size; root++) {
                uint64_t count = counts[(size_t)root % 4] + 2;
                salt++;
                void *mine = test_data(AIDEV_TYPE_I32, test_rank, count, salt);
                void *want = test_data(AIDEV_TYPE_I32, root, count, salt);
                aidev_buffer b = test_buffer_with(dev, q, test_kinds[k], 4, mine, count * 4);
                aidev_event ev;
                ck_assert_mpi_ok(aidev_mpi_broadcast(test_current_comm(), b, 4, count,
                                                     AIDEV_TYPE_I32, root, 0, NULL, &ev));
                void *got = test_read(q, b, 4, count * 4);
                expect_event(ev, AIDEV_SUCCESS, NULL);
                expect_equal(AIDEV_TYPE_I32, got, want, count, "broadcast");
                free(got);
                free(want);
                free(mine);
                aidev_buffer_release(b);
            }
        }
    }
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

static void allgather_case(aidev_device dev, aidev_queue q, aidev_memory_kind kind,
                           uint64_t count, bool in_place, int salt)
{
    uint64_t part = count * 4, all = part * (uint64_t)test_size;
    char *want = malloc(all + 1);
    for (int r = 0; r < test_size; r++) {
        void *theirs = test_data(AIDEV_TYPE_F32, r, count, salt);
        memcpy(want + (uint64_t)r * part, theirs, part);
        free(theirs);
    }
    void *mine = test_data(AIDEV_TYPE_F32, test_rank, count, salt);
    /* In place: this rank's part at its place, garbage elsewhere. */
    char *start = malloc(all + 1);
    memset(start, 0x77, all);
    memcpy(start + (uint64_t)test_rank * part, mine, part);
    aidev_buffer recv = test_buffer_with(dev, q, kind, 8, start, all);
    aidev_buffer send = in_place ? NULL : test_buffer_with(dev, q, kind, 0, mine, part);
    aidev_event ev;
    ck_assert_mpi_ok(aidev_mpi_allgather(test_current_comm(), send, 0, recv, 8, count,
                                         AIDEV_TYPE_F32, 0, NULL, &ev));
    void *got = test_read(q, recv, 8, all);
    expect_event(ev, AIDEV_SUCCESS, NULL);
    expect_equal(AIDEV_TYPE_F32, got, want, count * (uint64_t)test_size,
                 in_place ? "allgather in place" : "allgather");
    free(got);
    free(start);
    free(mine);
    free(want);
    if (send)
        aidev_buffer_release(send);
    aidev_buffer_release(recv);
}

START_TEST(allgather_in_place_and_not)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    int salt = 200;
    for (size_t s = 0; s < 2; s++) {
        test_comm(q, SMALL_CHUNK, stagings[s], 0);
        for (size_t k = 0; k < 3; k++) {
            if (!harness_has_kind(dev, test_kinds[k]))
                continue;
            for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
                allgather_case(dev, q, test_kinds[k], counts[c], (c + k) % 2 == 0, ++salt);
        }
    }
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

/* Even ranks send to the next rank then receive from it; odd ranks the
 * other way round, so every send meets its receive. */
START_TEST(send_recv_pairs)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    int peer = test_rank % 2 == 0 ? test_rank + 1 : test_rank - 1;
    if (peer >= test_size) {
        aidev_queue_release(q);
        return; /* an odd rank count leaves the last one out */
    }
    int salt = 300;
    for (size_t s = 0; s < 2; s++) {
        test_comm(q, SMALL_CHUNK, stagings[s], 0);
        for (size_t k = 0; k < 3; k++) {
            if (!harness_has_kind(dev, test_kinds[k]))
                continue;
            uint64_t count = counts[k + 1];
            salt++;
            void *mine = test_data(AIDEV_TYPE_F32, test_rank, count, salt);
            void *want = test_data(AIDEV_TYPE_F32, peer, count, salt);
            aidev_buffer out = test_buffer_with(dev, q, test_kinds[k], 0, mine, count * 4);
            aidev_buffer in = test_buffer_with(dev, q, test_kinds[k], 12, mine, count * 4);
            aidev_event sent, received;
            if (test_rank % 2 == 0) {
                ck_assert_mpi_ok(aidev_mpi_send(test_current_comm(), out, 0, count,
                                                AIDEV_TYPE_F32, peer, 0, NULL, &sent));
                ck_assert_mpi_ok(aidev_mpi_recv(test_current_comm(), in, 12, count,
                                                AIDEV_TYPE_F32, peer, 0, NULL, &received));
            } else {
                ck_assert_mpi_ok(aidev_mpi_recv(test_current_comm(), in, 12, count,
                                                AIDEV_TYPE_F32, peer, 0, NULL, &received));
                ck_assert_mpi_ok(aidev_mpi_send(test_current_comm(), out, 0, count,
                                                AIDEV_TYPE_F32, peer, 0, NULL, &sent));
            }
            void *got = test_read(q, in, 12, count * 4);
            expect_event(sent, AIDEV_SUCCESS, NULL);
            expect_event(received, AIDEV_SUCCESS, NULL);
            expect_equal(AIDEV_TYPE_F32, got, want, count, "recv");
            free(got);
            free(want);
            free(mine);
            aidev_buffer_release(in);
            aidev_buffer_release(out);
        }
    }
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

void add_data_cases(Suite *s)
{
    harness_add_per_device(s, "allreduce_matches_the_host_reference",
                           allreduce_matches_the_host_reference, 0);
    harness_add_per_device(s, "allreduce_f16_rounds_to_nearest_even",
                           allreduce_f16_rounds_to_nearest_even, 0);
    harness_add_per_device(s, "allreduce_bf16_rounds_to_nearest_even",
                           allreduce_bf16_rounds_to_nearest_even, 0);
    harness_add_per_device(s, "broadcast_from_every_root", broadcast_from_every_root, 0);
    harness_add_per_device(s, "allgather_in_place_and_not", allgather_in_place_and_not, 0);
    harness_add_per_device(s, "send_recv_pairs", send_recv_pairs, 0);
}

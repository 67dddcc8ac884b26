/*
 * mpi_util.h - what the libaidev-mpi tests share: MPI set up around the
 * harness, one communicator per test case, typed host data and its
 * reference computed on the host.
 *
 * The tests run under mpirun (tests/mpi/run_mpi.py), every rank on the
 * devices of one backend (AIDEV_TEST_DEVICES), so every rank runs the same
 * cases in the same order. Each rank writes "pass" or "fail" to
 * $AIDEV_MPI_TEST_RESULTS/rank-N, which the runner checks.
 */
#ifndef AIDEV_TESTS_MPI_UTIL_H
#define AIDEV_TESTS_MPI_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev_mpi.h>

#include "harness.h"

extern int test_rank, test_size;

/* MPI_Init_thread (MPI_THREAD_MULTIPLE) and harness_init. */
void mpi_test_init(int *argc, char ***argv);
/* Runs |s|, releases what is left, writes this rank's result file and,
 * with |finalize|, finalises MPI; returns the exit status. (After a rank
 * died, Open MPI 4.1's MPI_Finalize may wait for it forever: it fences
 * with every rank. A job would MPI_Abort there; the test just exits.) */
int mpi_test_run(Suite *s, bool finalize);
/* Writes this rank's result ("pass", "fail", or a note) now. */
void mpi_test_write_result(const char *result);

/* A communicator on |q| for the current case; the one a failed case left
 * behind is released first. Timeout 20 s unless |timeout_s| is given. */
aidev_mpi_comm test_comm(aidev_queue q, uint64_t chunk_bytes, aidev_mpi_staging staging,
                         double timeout_s);
void test_comm_release(void);
/* The communicator test_comm() made last. */
aidev_mpi_comm test_current_comm(void);

/* Asserts an aidev_mpi status, printing aidev_mpi_last_error(). */
#define ck_assert_mpi(expr, expected)                                                         \
    do {                                                                                      \
        aidev_status st_ = (expr);                                                            \
        ck_assert_msg(st_ == (expected), "%s returned %s, expected %s: %s", #expr,            \
                      aidev_status_string(st_), aidev_status_string(expected),                \
                      aidev_mpi_last_error());                                                \
    } while (0)
#define ck_assert_mpi_ok(expr) ck_assert_mpi(expr, AIDEV_SUCCESS)

/* Waits for |ev| (60 s at most) and asserts its status and that its
 * message names |needle| (NULL: no check); releases it. */
void expect_event(aidev_event ev, aidev_status expected, const char *needle);

/* Typed test data: |count| elements of |type| (f32, f64, i32, f16, bf16) with
 * small integer values that differ per rank, index and |salt|: sums over
 * a few ranks are exact in every type, so results compare bit for bit. */
void *test_data(aidev_type type, int rank, uint64_t count, int salt);
/* The host reference of an all-reduce of test_data over |size| ranks. */
void *test_reduced(aidev_type type, aidev_mpi_op op, int size, uint64_t count, int salt);
/* Compares |count| elements; on a difference fails naming the first. */
void expect_equal(aidev_type type, const void *got, const void *want, uint64_t count,
                  const char *what);

/* A buffer of |kind| holding |bytes| (+ |offset| bytes of 0x5a before),
 * written through |q|. */
aidev_buffer test_buffer_with(aidev_device dev, aidev_queue q, aidev_memory_kind kind,
                              uint64_t offset, const void *data, uint64_t bytes);
/* Reads |bytes| at |offset| of |b| through |q| into new memory. */
void *test_read(aidev_queue q, aidev_buffer b, uint64_t offset, uint64_t bytes);

/* The kinds a case runs on: every kind the device offers. */
extern const aidev_memory_kind test_kinds[3];

#endif

/*
 * test_mpi_cases.h - the case groups of test-mpi, one per file.
 */
#ifndef AIDEV_TESTS_TEST_MPI_CASES_H
#define AIDEV_TESTS_TEST_MPI_CASES_H

#include <check.h>

/* test_mpi_data.c: every operation against the host reference. */
void add_data_cases(Suite *s);
/* test_mpi_order.c: queue order, wait lists, failures, buckets, bad input. */
void add_order_cases(Suite *s);

#endif

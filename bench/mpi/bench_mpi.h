/*
 * bench_mpi.h - what the files of aidev-bench-mpi share.
 */
#ifndef AIDEV_BENCH_MPI_H
#define AIDEV_BENCH_MPI_H

#include <aidev/aidev_mpi.h>

#include "bench.h"

extern int bench_mpi_rank;

/* True for AIDEV_SUCCESS; otherwise prints |what| and both libraries'
 * messages to stderr. */
bool bench_mpi_check(aidev_status st, const char *what);

/* mpi.train_step_overlap and mpi.train_step_balance on |dev|. */
void bench_mpi_train_step(const bench_options *opt, aidev_device dev);

#endif

/*
 * bench_sched.h - the sched.* rows of aidev-bench (bench_sched.c) and their
 * StarPU baseline (bench_starpu.c, built where StarPU is found).
 *
 * StarPU runs in a child process, aidev-bench itself started again with
 * SCHED_STARPU_CHILD_FLAG as its first argument: StarPU's workers spin
 * while it is initialised, so none of it may be alive while aidev's side is
 * timed, and StarPU is best initialised in a process of its own (with no
 * aidev threads beside it). The child prints one result line; the parent
 * reads it.
 */
#ifndef AIDEV_BENCH_BENCH_SCHED_H
#define AIDEV_BENCH_BENCH_SCHED_H

#include <stdbool.h>

#include "dag.h"

#define SCHED_STARPU_CHILD_FLAG "--starpu-child"

/* The DAGs of the rows, by name ("tiled_sgemm", "dag_mix"), at the bench's
 * sizes (smaller with |quick|); NULL for another name or out of memory. */
dag *sched_bench_dag(const char *name, bool quick);

/* The child: argv is SCHED_STARPU_CHILD_FLAG DAG CONFIG QUICK, CONFIG being
 * "dmda" (StarPU's CPU and OpenCL workers) or "cpu" (its CPU workers
 * only). Runs the DAG under StarPU's dmda, checks its outputs against the
 * DAG run on the host, and prints
 *   starpu-result cpu_workers=C opencl_workers=O tasks=N runs=R
 *       makespans_ms=a,b,... opencl_tasks=x,y,...
 * Returns the process's exit status. */
int sched_starpu_child(int argc, char **argv);

#endif

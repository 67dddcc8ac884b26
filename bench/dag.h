/*
 * dag.h - task graphs for placement across devices, shared by aidev-bench
 * (the sched.* rows, and StarPU running the same graphs) and the tests
 * (tests/sched).
 *
 * A DAG is a list of tasks, each a built-in library kernel with its
 * arguments, over numbered data (float arrays). Edges are not written
 * down: as in StarPU's sequential task flow, they follow from the order of
 * the tasks and how each accesses its data (a read after a write waits for
 * it; a write waits for earlier reads and writes of the same data). Data
 * with initial contents start in host memory; the DAG's outputs are what a
 * run must bring back to the host, and what runs are compared on.
 *
 * The runner (dag_run.c) executes a DAG through the public API with an
 * explicit device per task: one buffer per data per device, copies moved
 * between devices through host memory, events as edges; devices whose
 * memory is host memory share one copy (imported host memory), as a
 * framework author would write it by hand today. Placement by the hal
 * (issue 16) will run the same DAGs with no device named.
 */
#ifndef AIDEV_BENCH_DAG_H
#define AIDEV_BENCH_DAG_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>

#define DAG_MAX_ARGS 8

/* One datum: a float array. */
typedef struct dag_data {
    uint32_t count;  /* floats */
    /* Initial contents (owned by the DAG), or NULL: the first task to touch
     * the data writes it. */
    float *init;
    bool output;     /* brought back to the host and compared */
    /* Two runs agree on this output when every element differs by at most
     * this much (0: bit-equal). See dag_compare(). */
    float tolerance;
} dag_data;

typedef struct dag_arg {
    aidev_arg_kind kind;
    /* Buffers: the datum, at offset 0, and how the task uses it (a kernel's
     * read_write argument the task overwrites whole, as sgemm with beta 0,
     * is AIDEV_ACCESS_WRITE: no copy of its old contents is needed). */
    uint32_t data;
    aidev_access access;
    /* Scalars: u32 or f32. */
    aidev_type type;
    union {
        uint32_t u32;
        float f32;
    } value;
} dag_arg;

typedef struct dag_task {
    const char *kernel; /* a built-in library kernel */
    uint32_t arg_count; /* in signature order */
    dag_arg args[DAG_MAX_ARGS];
    /* Which independent part of the DAG the task belongs to (0 or 1): the
     * parts share no data, so a placement may give each its own device. */
    uint32_t part;
    uint32_t grid[3]; /* as the library kernel declares it */
} dag_task;

typedef struct dag {
    char name[64];
    uint32_t data_count, task_count;
    dag_data *data;
    dag_task *tasks;
    uint32_t data_capacity, task_capacity;
    double flops; /* of all tasks, for rates */
} dag;

/* ------------------------------------------------------------------------ */
/* The DAGs                                                                 */
/* ------------------------------------------------------------------------ */

/* Each returns a new DAG (NULL when out of memory); dag_free() ends it. */

/* C = A B of two n x n matrices in tiles of t x t (n a multiple of t):
 * tile-major, each tile its own datum; (n/t)^3 sgemm tasks, one chain of
 * n/t accumulations per tile of C. The chains are independent: part 0 has
 * the upper half of C's tile rows, part 1 the lower. Outputs: the C tiles,
 * within 2e-5 * n of another run (inputs in [-1, 1]; kernels/manifest.txt
 * gives each device 1e-5 of sum |a b| <= n). */
dag *dag_tiled_sgemm(uint32_t n, uint32_t t, uint64_t seed);

/* Two independent halves, each |chunks| chains over vectors of |n| floats
 * of |length| exact elementwise kernels (add, mul, scale by a power of two,
 * relu): every device gives the same bits, so outputs are bit-equal. */
dag *dag_elementwise(uint32_t n, uint32_t chunks, uint32_t length, uint64_t seed);

/* The sum of |parts| vectors of |n| floats: reduce_sum per part, then a
 * tree of adds; two independent halves, one result each. Within
 * 4e-6 * sum |x| of another run. */
dag *dag_reduction(uint32_t n, uint32_t parts, uint64_t seed);

/* A tiled sgemm (n, t) as part 0 beside an elementwise chain and a
 * reduction as part 1: independent halves of different kinds of work. */
dag *dag_mix(uint32_t n, uint32_t t, uint32_t vector, uint64_t seed);

/* A random DAG for tests: |tasks| tasks of exact elementwise kernels
 * (add, mul, scale and axpy by powers of two, relu, copy) over |data|
 * vectors of |n| floats, with every kind of hazard between them; all data
 * are outputs, bit-equal between runs. Tasks alternate parts at random,
 * so parts are not independent here (part is 0). */
dag *dag_random(uint32_t data, uint32_t tasks, uint32_t n, uint64_t seed);

void dag_free(dag *g);

/* The signature of |task|'s kernel, checked against its arguments: NULL
 * and a message in |why| when the task does not match it. */
const aidev_kernel_desc *dag_task_signature(const dag_task *task, char *why, size_t why_size);

/* Compares output |d| of two runs: true when they agree within its
 * tolerance; else false with the first element at fault in |why|. */
bool dag_compare(const dag *g, uint32_t d, const float *a, const float *b, char *why,
                 size_t why_size);

/* ------------------------------------------------------------------------ */
/* The runner: explicit placement                                           */
/* ------------------------------------------------------------------------ */

typedef struct dag_runner dag_runner;

typedef struct dag_run_options {
    /* Devices whose memory is host memory (AIDEV_FEATURE_UNIFIED_MEMORY
     * with AIDEV_FEATURE_HOST_IMPORT) use the host copy of each datum in
     * place, imported, instead of a copy of their own. */
    bool share_host_memory;
    /* One context buffer per datum (aidev_context_buffer_create): the hal
     * keeps the copies and orders the tasks by their data (issue 16); the
     * runner names the device of each task and nothing else (no copies,
     * no events between tasks). Initial contents are written, and outputs
     * read, on the first device that uses host memory in place, else the
     * first device. |share_host_memory| does not apply. */
    bool context_buffers;
} dag_run_options;

/* A runner of |g| over |devices| (borrowed, all of one context; at most
 * 16). Makes two queues per device (compute, transfers). */
aidev_status dag_runner_create(const dag *g, const aidev_device *devices, uint32_t device_count,
                               const dag_run_options *options, dag_runner **out);
void dag_runner_destroy(dag_runner *r);

/* Runs the DAG once: task i on devices[task_device[i]]. |data_home| (may
 * be NULL: every datum starts in host memory) gives per datum with initial
 * contents the device it starts on (-1: the host); such data are put there
 * before the clock starts. Kernels and buffers are made before the clock
 * starts too. The makespan runs from the first enqueue until every task
 * has completed and every output is in host memory; stored in
 * |*out_seconds| (may be NULL). Errors name the task or datum at fault. */
aidev_status dag_runner_run(dag_runner *r, const uint32_t *task_device, const int32_t *data_home,
                            double *out_seconds);

/* The host copy of output |d| after a run (borrowed, valid until the next
 * run). */
const float *dag_runner_output(const dag_runner *r, uint32_t d);

/* Checks every output of |r| against |reference|'s (another runner of the
 * same DAG). False with the datum and element at fault in |why|. */
bool dag_runner_agree(const dag_runner *r, const dag_runner *reference, char *why,
                      size_t why_size);

#endif

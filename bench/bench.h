/*
 * bench.h - rows of aidev-bench.
 *
 * Every row pairs an aidev measurement with a baseline measured in the same
 * run (raw OpenCL/Vulkan calls, memcpy, a plain C loop) and reports the
 * ratio value / baseline_value. The unit says which way is better:
 * "us (lower is better)", "GB/s (higher is better)".
 */
#ifndef AIDEV_BENCH_H
#define AIDEV_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>

typedef struct bench_options {
    bool json;
    bool quick;        /* fewer repetitions: for tests of the bench itself */
    const char *only;  /* run rows whose name contains this; NULL: all */
    aidev_context context;
} bench_options;

typedef struct bench_row {
    const char *name;
    const char *device;
    const char *backend;
    double value;
    const char *unit;
    const char *baseline;
    double baseline_value;
} bench_row;

/* Parses the command line shared by the bench programs into |opt| (and
 * starts the JSON array). Returns -1 to go on, else the exit status (0 for
 * --help, 2 for a bad option). */
int bench_parse_options(int argc, char **argv, const char *program, bench_options *opt);
/* Prints the JSON array of the rows (with --json, when |print|) and frees
 * it. */
void bench_report_finish(const bench_options *opt, bool print);
/* Records a row (printed at once as text, or kept for the JSON array). */
void bench_emit(const bench_options *opt, const bench_row *row);
/* True when |name| is selected by --only. */
bool bench_selected(const bench_options *opt, const char *name);
/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);
/* Median of |n| samples (sorts them). */
double bench_median(double *samples, int n);
/* Waits, up to |max_s| seconds, until no other thread of the process runs
 * (20 looks 1 ms apart; bench_quiesce.c says whose threads spin and why
 * it matters). False when some still did at the deadline. */
bool bench_quiesce_threads(double max_s);
/* The device's name and backend, into caller buffers. */
void bench_device_names(aidev_device dev, char *name, size_t name_size, char *backend,
                        size_t backend_size);

/* buffer.create_small (bench_buffers.c): the raw API's side, given by the
 * backend's row file. */
#define BENCH_SMALL_BUFFER 256
typedef struct bench_raw_create {
    /* Microseconds per create + release of one |size|-byte buffer of
     * |kind|, |count| alive at once; *ok false on failure. */
    double (*round_us)(void *arg, aidev_memory_kind kind, uint64_t size, int count, bool *ok);
    void *arg;
    const char *device_label; /* what the DEVICE row compares with */
    const char *host_label;   /* and the HOST row */
} bench_raw_create;
/* The buffer.create_small rows of |dev| against |raw|. */
void bench_buffer_create_rows(const bench_options *opt, aidev_device dev, const char *name,
                              const char *backend, const bench_raw_create *raw);

/* Row groups, one per file: each runs on the devices of its kind. */
void bench_cpu(const bench_options *opt);
void bench_opencl(const bench_options *opt);
void bench_vulkan(const bench_options *opt);
void bench_kernels(const bench_options *opt);
void bench_pipeline(const bench_options *opt);
void bench_memory(const bench_options *opt);
void bench_sched(const bench_options *opt);
void bench_sim(const bench_options *opt);
void bench_tier(const bench_options *opt);
void bench_graph(const bench_options *opt);
void bench_tensor(const bench_options *opt);
void bench_urgent(const bench_options *opt);
void bench_first_dispatch(const bench_options *opt);

#endif

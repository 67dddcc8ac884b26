/*
 * info_selftest.h - aidev-info --self-test: does this device really compute?
 *
 * On one device: make a queue, allocate two buffers (DEVICE memory, or the
 * first kind the device offers when it has none), write them, run the
 * built-in axpy kernel, read the result back and compare it with the host's,
 * element by element. The first round trip includes building the kernel; the
 * ones after it measure the plain round-trip latency (write, dispatch, read,
 * wait), each verified too.
 */
#ifndef AIDEV_TOOLS_INFO_SELFTEST_H
#define AIDEV_TOOLS_INFO_SELFTEST_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>

/* Elements per buffer: small, so the round trip measures latency, and not a
 * multiple of any workgroup size, so the kernel's bounds guard runs. */
#define INFO_SELFTEST_ELEMENTS 4099u
/* Warm round trips after the first. */
#define INFO_SELFTEST_ROUND_TRIPS 7u
/* How long one round trip may take before the device is declared hung. */
#define INFO_SELFTEST_TIMEOUT_S 120u

typedef struct info_selftest {
    bool passed;
    /* Where it failed: "queue", "buffer", "kernel", "enqueue", "wait",
     * "verify"; NULL when it passed. */
    const char *stage;
    char message[1024];       /* why it failed, in words; "" when it passed */
    uint64_t first_ns;        /* first round trip, kernel build included; 0 if not reached */
    uint64_t round_trip_ns;   /* median of the warm round trips; 0 if none completed */
    uint64_t min_round_trip_ns;
    uint32_t round_trips;     /* warm round trips completed and verified */
} info_selftest;

/* Runs the self-test on |dev|; never aborts, every failure lands in |out|. */
void info_selftest_run(aidev_device dev, info_selftest *out);

#endif

/*
 * fault.h - the control interface of the fault-injection backend, a test
 * variant of tests/plugins/fake_backend.c built as
 * libaidev-backend-fault.so. It is a working host-memory device that fails
 * on purpose where it is told to, so the hal's error paths are tested.
 *
 * Faults are set by a spec, a comma-separated list of key=value:
 *   alloc=N     the Nth buffer allocation fails (AIDEV_ERROR_OUT_OF_DEVICE_MEMORY)
 *   refuse=N    the Nth queue_submit returns an error: nothing is submitted
 *               (AIDEV_ERROR_BACKEND)
 *   fail=N      the Nth submitted command is accepted but does not run: its
 *               event completes with AIDEV_ERROR_BACKEND, in queue order
 *   lost=N      the device is lost at the Nth submission: that command and
 *               every command not yet run complete with
 *               AIDEV_ERROR_DEVICE_LOST; later submissions, allocations,
 *               kernels and queue_finish return it
 *   node_fail=K the Kth command that graph submissions run fails: the
 *               commands after it in that submission do not run, and its
 *               event completes through aidev_backend_graph_failed()
 *               naming it (needs graphs=1)
 *   any_wait=0|1  whether the backend announces AIDEV_BACKEND_CAP_ANY_WAIT
 *               (read when the plugin is loaded; default 1). With 0 libaidev
 *               holds back commands that wait on other backends' events.
 *   graphs=0|1  whether the backend has the ABI 1.3 graph entry (read when
 *               the plugin is loaded; default 0: libaidev's fallback).
 * N counts from the moment the spec is set, from 1; 0 or absent: never.
 * The spec comes from the AIDEV_FAULTS environment variable when the
 * backend initialises, and from aidev_fault_configure() at any time.
 *
 * The test reaches the two exported functions with
 * dlopen(path, RTLD_NOW | RTLD_NOLOAD) on the loaded plugin's path (from
 * aidev_context_get_backends) and dlsym.
 */
#ifndef AIDEV_TESTS_FAULT_H
#define AIDEV_TESTS_FAULT_H

#include <stdint.h>

/* Objects of the fault backend alive now, and what it counted. */
typedef struct aidev_fault_stats {
    uint32_t devices;
    uint32_t queues;
    uint32_t buffers;
    uint32_t kernels;
    uint32_t commands;    /* submitted, not yet completed */
    uint32_t allocations; /* since the spec was set */
    uint32_t submissions; /* since the spec was set */
    uint32_t lost;        /* 1 once the device is lost */
} aidev_fault_stats;

/* Sets the faults (replacing the previous ones) and restarts the counts.
 * Returns 0, or -1 when |spec| does not parse. */
typedef int (*aidev_fault_configure_fn)(const char *spec);
#define AIDEV_FAULT_CONFIGURE_SYMBOL "aidev_fault_configure"

typedef void (*aidev_fault_get_stats_fn)(aidev_fault_stats *out);
#define AIDEV_FAULT_GET_STATS_SYMBOL "aidev_fault_get_stats"

#endif

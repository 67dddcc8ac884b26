/*
 * probes.h - USDT probes (sys/sdt.h) that eBPF tools attach to.
 *
 *   aidev:submit        (queue_id, command, bytes, device_index)
 *   aidev:complete      (device_index, queue_id, command, status, duration_ns, bytes)
 *   aidev:alloc         (device_index, kind, bytes)
 *   aidev:free          (device_index, bytes)
 *   aidev:file_read     (queue_id, fd, file_offset, bytes)
 *   aidev:evict         (device_index, bytes, stored_bytes, duration_ns)
 *   aidev:restore       (device_index, bytes, stored_bytes, duration_ns)
 *
 * (bpftrace reads at most six arguments of a probe on x86-64.)
 * command is an aidev_command_kind (hal/internal.h): 1 write, 2 read, 3
 * copy, 4 fill, 5 dispatch, 6 barrier, 7 host callback, 8 file read,
 * 11 evict, 12 restore.
 * A probe is one no-op instruction until a tool attaches; each has a
 * semaphore the tool raises while attached, so work done only for a probe
 * (making an event to learn when a command ends) costs nothing otherwise.
 * tools/aidev-top (bpftrace) shows them live.
 */
#ifndef AIDEV_HAL_PROBES_H
#define AIDEV_HAL_PROBES_H

#include "aidev_config.h"

#if AIDEV_HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#define AIDEV_PROBE_SEMAPHORE(name) aidev_##name##_semaphore
extern volatile unsigned short aidev_submit_semaphore, aidev_complete_semaphore,
    aidev_alloc_semaphore, aidev_free_semaphore, aidev_file_read_semaphore,
    aidev_evict_semaphore, aidev_restore_semaphore;

#define AIDEV_PROBE_ENABLED(name) __builtin_expect(AIDEV_PROBE_SEMAPHORE(name) != 0, 0)
#define AIDEV_PROBE2(name, a, b) STAP_PROBE2(aidev, name, a, b)
#define AIDEV_PROBE3(name, a, b, c) STAP_PROBE3(aidev, name, a, b, c)
#define AIDEV_PROBE4(name, a, b, c, d) STAP_PROBE4(aidev, name, a, b, c, d)
#define AIDEV_PROBE6(name, a, b, c, d, e, f) STAP_PROBE6(aidev, name, a, b, c, d, e, f)
#else
#define AIDEV_PROBE_ENABLED(name) 0
#define AIDEV_PROBE2(name, a, b) ((void)0)
#define AIDEV_PROBE3(name, a, b, c) ((void)0)
#define AIDEV_PROBE4(name, a, b, c, d) ((void)0)
#define AIDEV_PROBE6(name, a, b, c, d, e, f) ((void)0)
#endif

#endif

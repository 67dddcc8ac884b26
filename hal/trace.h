/*
 * trace.h - AIDEV_TRACE=file.json: a Chrome trace-event file (Perfetto,
 * chrome://tracing) of every command: one track per queue, one for each
 * queue's file reads, a slice per command with its name, size and kernel,
 * and flow arrows from each event a command waited on.
 *
 * Completions append to a buffer of the thread they happen on (no lock
 * shared between threads on the hot path); the file is written when the
 * last context is released and at exit.
 */
#ifndef AIDEV_HAL_TRACE_H
#define AIDEV_HAL_TRACE_H

#include <stdbool.h>

#include "hal/internal.h"

/* Reads AIDEV_TRACE once; true while tracing. */
void aidev_trace_start(void);
bool aidev_trace_enabled(void);
/* Names a queue's tracks. */
void aidev_trace_queue(const aidev_queue_obj *q);
/* Records a completed command. */
void aidev_trace_event(const aidev_event_obj *e);
/* Records a restore the hal made before a command on |q| (NULL: for a
 * map or an export, on a track of |dev|'s) could name an evicted buffer:
 * a "restore" slice like an explicit one's, with "implicit": true. */
void aidev_trace_implicit_restore(const aidev_device_obj *dev, const aidev_queue_obj *q,
                                  uint64_t bytes, uint64_t start_ns, uint64_t end_ns,
                                  aidev_status status);
/* Writes the file (all records so far). */
void aidev_trace_flush(void);

#endif

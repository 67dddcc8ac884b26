/*
 * probes.c - the semaphores of the USDT probes (see probes.h). Tools find
 * them through the probes' ELF notes and raise them while attached.
 */
#include "hal/probes.h"

#if AIDEV_HAVE_SDT
#define SEMAPHORE(name)                                                                        \
    __attribute__((section(".probes"), visibility("hidden"))) volatile unsigned short         \
        AIDEV_PROBE_SEMAPHORE(name)

SEMAPHORE(submit);
SEMAPHORE(complete);
SEMAPHORE(alloc);
SEMAPHORE(free);
SEMAPHORE(file_read);
SEMAPHORE(evict);
SEMAPHORE(restore);
#endif

/*
 * io.h - the engine behind file reads: io_uring where the kernel allows it,
 * else a small pool of threads calling pread.
 *
 * One engine per context, made on the first file read. A read is handed
 * over with a callback that receives the bytes read (possibly fewer than
 * asked: the caller continues) or -errno.
 */
#ifndef AIDEV_HAL_IO_H
#define AIDEV_HAL_IO_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>

typedef struct aidev_io_engine aidev_io_engine;

typedef void (*aidev_io_done_fn)(void *user_data, int64_t result);

/* io_uring unless AIDEV_IO_ENGINE=pread or io_uring cannot be set up (old
 * kernel, seccomp), then the pread pool. */
aidev_status aidev_io_engine_create(aidev_io_engine **out);
/* Waits for reads in flight, then frees the engine. */
void aidev_io_engine_destroy(aidev_io_engine *io);
/* "io_uring" or "pread". */
const char *aidev_io_engine_name(const aidev_io_engine *io);

/* Reads up to |size| bytes at |offset| of |fd| into |dst|; calls |done| once,
 * on the engine's thread, with the count or -errno. |direct|: the fd is
 * O_DIRECT, so submitting never copies data on the calling thread. */
aidev_status aidev_io_read(aidev_io_engine *io, int fd, void *dst, uint32_t size, uint64_t offset,
                           bool direct, aidev_io_done_fn done, void *user_data);

#endif

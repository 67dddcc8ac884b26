/*
 * kernel_check.h - what every kernel test does: make inputs, move them to a
 * device, dispatch a built-in kernel by name, read the outputs back and hold
 * them to the kernel's accuracy in kernels/manifest.txt (the generated
 * kernel_tolerances.h), against tests/kernels/reference.c.
 *
 * All helpers fail the running Check test on error, naming the kernel, the
 * case and the device.
 */
#ifndef AIDEV_TESTS_KERNEL_CHECK_H
#define AIDEV_TESTS_KERNEL_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* One device of the harness, with a queue, for the length of a test. */
typedef struct kc_device {
    int index;
    aidev_device dev;
    aidev_queue queue;
    const char *label;
} kc_device;

kc_device kc_open(int harness_index);
void kc_close(kc_device *d);

/* The built-in kernel |name| on the device; fails the test unless it is
 * there. */
aidev_kernel kc_kernel(const kc_device *d, const char *name);
/* Like kc_kernel, but returns NULL (and prints why) when the device says
 * AIDEV_ERROR_UNSUPPORTED for an int8 kernel, whose GPU forms need a device
 * feature (8-bit storage buffers). Any other kernel, and every kernel on
 * the CPU device, must be there. */
aidev_kernel kc_kernel_optional(const kc_device *d, const char *name);

/* A DEVICE buffer of |count| elements of |type| (at least one element, as
 * buffers are never empty), filled from |data| when it is not NULL. */
aidev_buffer kc_buffer(const kc_device *d, aidev_type type, size_t count, const void *data);
/* Reads |count| elements of |type| of |b| into |out|. */
void kc_read(const kc_device *d, aidev_buffer b, aidev_type type, size_t count, void *out);

/* Dispatches with the kernel's own grid, waits and checks the event. */
void kc_dispatch(const kc_device *d, aidev_kernel k, uint32_t arg_count, const aidev_arg *args);

/* Deterministic inputs: uniform in [lo, hi), or int8 in [-127, 127]. */
void kc_fill_f32(float *x, size_t n, float lo, float hi, uint64_t seed);
void kc_fill_i8(int8_t *x, size_t n, uint64_t seed);

/* Holds |got| to |ref| with the accuracy the manifest gives |kernel|:
 * bit-equal values for exact kernels, |got - ref| <= abs + rel * mag
 * otherwise (mag = |ref| where |mag| is NULL). NaN never passes. |what|
 * names the case in the failure message. */
void kc_check(const char *kernel, const char *what, const kc_device *d, const float *got,
              const double *ref, const double *mag, size_t n);

/* Whether this build runs the large case of each op (one per op, the
 * sizes a model uses). Under the sanitizers (meson's b_sanitize, which
 * defines AIDEV_TEST_SANITIZED for the kernel tests) it does not: ASan
 * makes every host loop several times slower, and the small cases already
 * reach every code path, so CI stays quick. */
static inline bool kc_large_cases(void)
{
#ifdef AIDEV_TEST_SANITIZED
    return false;
#else
    return true;
#endif
}

/* malloc that fails the test instead of returning NULL (n may be 0). */
void *kc_alloc(size_t bytes);

#endif

/*
 * tensor_check.h - what every tensor-op test does: lay out a tensor of any
 * storage type in a buffer (compact, padded, transposed, reversed ...),
 * fill it, move it to a device, and hold an op's output to its accuracy in
 * kernels/manifest.txt (OP.VARIANT in the generated kernel_tolerances.h)
 * against a reference computed here in double, checking too that the op
 * wrote nothing outside the output view.
 *
 * The storage conversions here are written with double arithmetic (frexp,
 * nearbyint), not as the kernels' bit manipulation: the two meet only in
 * the results.
 */
#ifndef AIDEV_TESTS_TENSOR_CHECK_H
#define AIDEV_TESTS_TENSOR_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel_check.h"

/* How a tensor's elements lie in its buffer. */
typedef enum tc_layout {
    TC_COMPACT = 0,    /* row-major, from element 0 */
    TC_PADDED = 1,     /* a view inside a larger array: every axis has room around it */
    TC_TRANSPOSED = 2, /* the axes stored in reverse order (column-major) */
    TC_REVERSED = 3,   /* the last axis runs backwards (negative stride) */
    TC_STEP2 = 4,      /* every other element of the first axis */
    TC_LAYOUT_COUNT_
} tc_layout;

const char *tc_layout_name(tc_layout layout);

typedef struct tc_tensor {
    aidev_type dtype;
    uint32_t rank;
    int64_t shape[4], strides[4];
    int64_t offset;  /* elements */
    size_t elems;    /* of the whole buffer */
    void *host;      /* the buffer's bytes on the host */
    aidev_buffer buf;
    aidev_tensor desc;
} tc_tensor;

/* A tensor of |rank| axes of |shape| laid out as |layout|, its whole buffer
 * filled with values uniform in [lo, hi) rounded to |dtype| (integer types:
 * whole numbers in that range, clamped to the type), uploaded to |d|. */
void tc_make(tc_tensor *t, const kc_device *d, aidev_type dtype, uint32_t rank,
             const int64_t *shape, tc_layout layout, double lo, double hi, uint64_t seed);
void tc_free(tc_tensor *t);

/* Elements of the logical shape. */
size_t tc_count(const tc_tensor *t);
/* The value of logical element |flat| (row-major over the shape), and of
 * the element at |idx| (one index per axis). */
double tc_at(const tc_tensor *t, size_t flat);
double tc_at_index(const tc_tensor *t, const int64_t *idx);
/* Sets logical element |flat| on the host (upload again to use it). */
void tc_set(tc_tensor *t, size_t flat, double v);
void tc_upload(const kc_device *d, tc_tensor *t);

/* The value |v| becomes once stored as |dtype| (f32 first, then the type:
 * what a device stores for a result it computed as the f32 |v|). */
double tc_store_value(aidev_type dtype, double v);

/* The value at index |flat| of a row-major box |shape| broadcast from
 * tensor |t| (NumPy rules: aligned at the last axis, size-1 axes repeat). */
double tc_broadcast_at(const tc_tensor *t, uint32_t rank, const int64_t *shape, size_t flat);

/* Reads |out| back from the device and holds it to tolerance OP.VARIANT
 * (|tol_name|) of the manifest against |ref| (row-major over out's shape;
 * |mag| may be NULL: |ref|). An f16 or bf16 output may also differ by its
 * own rounding (2^-11 or 2^-8 of the value, 2^-25 absolute for f16); exact
 * variants compare tc_store_value(ref). Every element of out's buffer
 * outside the view must keep its bytes. |what| names the case. */
void tc_check(const kc_device *d, tc_tensor *out, const char *tol_name, const char *what,
              const double *ref, const double *mag);

/* Waits for |ev| and fails the test (with the event's message) unless it
 * succeeded; releases it. */
void tc_wait(const kc_device *d, aidev_event ev, const char *what);

#endif

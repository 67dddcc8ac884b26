/*
 * ops.h - what the tensor ops of the hal share (hal/tensor.c): checked
 * views of descriptors, broadcasting, and the dispatch of the library's
 * internal kernels.
 *
 * How a descriptor reaches a kernel (kernels/common/README.md says the same
 * from the kernels' side): the buffer is bound whole, at offset 0, and the
 * view travels as scalar arguments: its element offset (u32), and its sizes
 * and strides as u64 pairs, two 32-bit values per u64, the low word first
 * (so four axes take two arguments, and a kernel stays within the 32
 * arguments and the 128 bytes of push constants every Vulkan device has).
 * Storage types travel as 4-bit codes (the aidev_type values) packed in one
 * u32. Every kernel indexes with one scheme: flat item -> (i0, i1, i2, i3)
 * of a rank-4 box -> offset + sum i_d s_d, whatever the rank was (missing
 * leading axes have size 1).
 */
#ifndef AIDEV_HAL_OPS_H
#define AIDEV_HAL_OPS_H

#include "hal/internal.h"

#define AIDEV_TYPE_BIT(t) (1u << (t))
#define OPS_FLOAT_TYPES                                                                    \
    (AIDEV_TYPE_BIT(AIDEV_TYPE_F32) | AIDEV_TYPE_BIT(AIDEV_TYPE_F16) |                     \
     AIDEV_TYPE_BIT(AIDEV_TYPE_BF16))
#define OPS_INT_TYPES                                                                      \
    (AIDEV_TYPE_BIT(AIDEV_TYPE_I8) | AIDEV_TYPE_BIT(AIDEV_TYPE_U8) |                       \
     AIDEV_TYPE_BIT(AIDEV_TYPE_I32))
#define OPS_ALL_TYPES (OPS_FLOAT_TYPES | OPS_INT_TYPES)

/* A descriptor after its checks, its axes padded to four at the front. */
typedef struct ops_view {
    aidev_buffer_obj *buffer;
    aidev_buffer handle;
    aidev_type dtype;
    uint32_t rank;       /* as given */
    uint32_t n[4];       /* sizes, padded: n[4 - rank + i] = shape[i] */
    int32_t s[4];        /* strides in elements, padded with 0 */
    uint32_t offset;     /* in elements; 0 for an empty view */
    uint64_t count;      /* elements */
} ops_view;

/* One op call: the queue, the call's name for messages, and the wait list
 * and event of the enqueue. */
typedef struct ops_call {
    const char *name; /* "aidev_enqueue_binary" */
    aidev_queue queue_handle;
    aidev_queue_obj *queue;
    uint32_t wait_count;
    const aidev_event *wait_events;
    aidev_event *out_event;
} ops_call;

/* Starts an op: clears the message, checks the queue. */
aidev_status ops_begin(ops_call *c, const char *name, aidev_queue queue, uint32_t wait_count,
                       const aidev_event *wait_events, aidev_event *out_event);

/* Checks |t| (named |what|) as an input or an output of the call and fills
 * |*v|; |types| is the mask of AIDEV_TYPE_BIT the operand takes. */
aidev_status ops_view_check(const ops_call *c, const aidev_tensor *t, const char *what,
                            bool output, uint32_t types, ops_view *v);

/* The strides of |in| broadcast to |out|'s shape (NumPy: aligned at the
 * last axis, an axis of size 1 repeats): stride 0 where |in| repeats. */
aidev_status ops_broadcast(const ops_call *c, const ops_view *in, const char *in_name,
                           const ops_view *out, const char *out_name, int32_t s[4]);

/* The shape of |v| as "[2, 3, 4]", for messages. */
const char *ops_shape_text(const ops_view *v, char *buf, size_t size);

/* The kernels' code of activation |act|; INVALID_ARGUMENT for an unknown
 * one (hal/ops_gemm.c). */
aidev_status ops_activation_code(const ops_call *c, aidev_activation act, uint32_t *out);
/* The strides of a bias broadcast to a rows x cols result (rank 0 to 2,
 * NumPy rules) along rows and columns (hal/ops_gemm.c). */
aidev_status ops_bias_strides(const ops_call *c, const ops_view *bias, uint32_t rows,
                              uint32_t cols, int32_t s[2]);

/* A u64 argument carrying two 32-bit values, |lo| first. */
static inline aidev_arg ops_pair(uint32_t lo, uint32_t hi)
{
    return aidev_arg_u64((uint64_t)lo | (uint64_t)hi << 32);
}
static inline aidev_arg ops_spair(int32_t lo, int32_t hi)
{
    return ops_pair((uint32_t)lo, (uint32_t)hi);
}

/* Runs internal kernel |kernel| of the library on the call's queue over
 * |grid| (NULL: the kernel's declared grid) with |args|. */
aidev_status ops_dispatch(const ops_call *c, const char *kernel, const uint32_t grid[3],
                          uint32_t arg_count, const aidev_arg *args);

/* The device's internal kernel |name|, made on first use and kept until
 * the device closes (hal/kernel.c). */
aidev_status aidev_kernel_internal(aidev_device_obj *dev, const char *name, aidev_kernel *out);
/* The device's kept kernels are forgotten (they go with the context). */
void aidev_kernel_internal_forget(aidev_device_obj *dev);

#endif

/*
 * aidev_tensor.h - tensor descriptors and the built-in ops on them, part of
 * the aidev API (aidev.h includes it; include aidev.h). The conventions of
 * aidev.h (ownership, handles, errors, threads) hold here too.
 */
#ifndef AIDEV_AIDEV_TENSOR_H
#define AIDEV_AIDEV_TENSOR_H

#include <aidev/aidev.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Tensors and ops                                                          */
/* ------------------------------------------------------------------------ */

/* Built-in operations a model is made of (elementwise math with NumPy
 * broadcasting, reductions and normalisations along any axis, GEMM,
 * quantized GEMM, attention, convolution), each enqueued with one call on
 * tensor descriptors. kernels/KERNELS.md (generated, like `aidev-info
 * --kernels`) lists every op with its storage types, broadcasting rules and
 * accuracy.
 *
 * A descriptor names a strided view of a buffer: element (i0, ..., ir-1)
 * lies at byte offset + (i0 s0 + ... + ir-1 sr-1) * size(dtype). Views
 * (slices, transposes, broadcasts) are descriptors of the same buffer, no
 * copy. Each op call checks every descriptor before anything is enqueued:
 *   - the buffer is a live buffer of the queue's device;
 *   - rank <= AIDEV_TENSOR_MAX_RANK, sizes >= 0, |strides| < 2^31;
 *   - the offset is a multiple of the element size;
 *   - every byte an element of the view occupies lies inside the buffer
 *     (computed without overflow), and the element indices a view reaches,
 *     counted from the buffer's start, stay below 2^31;
 *   - an output's elements do not overlap (no stride 0 on an axis longer
 *     than 1, no two axes landing on one element);
 *   - the storage types are ones the op takes;
 * and refuses with AIDEV_ERROR_INVALID_ARGUMENT (shapes, strides, types that
 * make no sense), AIDEV_ERROR_OUT_OF_RANGE (a view outside its buffer) or
 * AIDEV_ERROR_UNSUPPORTED (a type combination the op does not take), the
 * message naming the operand and its values. The buffer's own element type
 * (aidev_buffer_desc.element_type) is not consulted: the descriptor says it.
 * Outputs may alias inputs only where an op says so; otherwise the result of
 * an aliased call is unspecified (never a crash).
 *
 * Every op computes in f32 from inputs loaded as f32, and rounds once into
 * its output's type: f16 and bf16 to nearest even, integer types half to
 * even with saturation (NaN gives 0). f16 and bf16 need no device feature:
 * every device runs every op (they are moved as 16-bit words).
 *
 * Like the other enqueue calls, an op runs after the queue's earlier
 * commands and |wait_events|, and gives an event in |*out_event| when it is
 * not NULL; an op on empty tensors runs nothing and completes in order.
 * Besides the statuses above an op returns those of aidev_enqueue_dispatch()
 * (AIDEV_ERROR_INVALID_HANDLE for a bad queue or buffer handle, and the
 * first use on a device may return AIDEV_ERROR_COMPILE or _BACKEND while its
 * kernel is built). Ops are thread safe like every enqueue. */

#define AIDEV_TENSOR_MAX_RANK 4

typedef struct aidev_tensor {
    aidev_buffer buffer;
    uint64_t offset;   /* bytes from the buffer's start to element 0 */
    aidev_type dtype;  /* the storage type of the elements */
    uint32_t rank;     /* 0 (one element) to AIDEV_TENSOR_MAX_RANK */
    int64_t shape[AIDEV_TENSOR_MAX_RANK];   /* the first |rank| are used */
    int64_t strides[AIDEV_TENSOR_MAX_RANK]; /* in elements, any sign */
} aidev_tensor;

/* Fills |*out| with a compact row-major view of |rank| axes of |shape| at
 * |offset| of |buffer| (the last axis has stride 1). Checks only what it is
 * given (AIDEV_ERROR_INVALID_ARGUMENT for a rank above 4, a negative size or
 * an unknown type); the buffer is checked by the op that uses the view. */
AIDEV_API aidev_status aidev_tensor_init(aidev_tensor *out, aidev_buffer buffer,
                                         uint64_t offset, aidev_type dtype, uint32_t rank,
                                         const int64_t *shape);

/* |*out| = the elements start, start + step, ... below stop of |axis| of
 * |*t| (NumPy's t[..., start:stop:step, ...] with step > 0 and 0 <= start
 * <= stop <= shape[axis]; stop is clamped to shape[axis]). |out| may be |t|.
 * AIDEV_ERROR_INVALID_ARGUMENT for an axis, start or step out of range. */
AIDEV_API aidev_status aidev_tensor_slice(const aidev_tensor *t, uint32_t axis, int64_t start,
                                          int64_t stop, int64_t step, aidev_tensor *out);

/* |*out| = |*t| with its axes reordered: axis i of the result is axis
 * perm[i] of |t| (NumPy's transpose). |out| may be |t|.
 * AIDEV_ERROR_INVALID_ARGUMENT when |perm| is not a permutation of
 * 0..rank-1. */
AIDEV_API aidev_status aidev_tensor_permute(const aidev_tensor *t, const uint32_t *perm,
                                            aidev_tensor *out);

/* The checks every op makes of |t| as an input (|output| 0) or an output
 * (1), against the device of |queue|, for a program that wants to check a
 * view early. Returns the statuses listed above. */
AIDEV_API aidev_status aidev_tensor_check(aidev_queue queue, const aidev_tensor *t,
                                          int output);

/* One line of an op's accuracy: the variant it covers and the bound. */
typedef struct aidev_op_accuracy {
    const char *variant; /* "add", "gelu_erf", ... */
    const char *text;    /* "rel 1e-06, abs 1e-30 mag = ..." */
} aidev_op_accuracy;

/* An op of the library, as kernels/manifest.txt describes it (static). */
typedef struct aidev_op_info {
    const char *name;      /* "binary" */
    const char *call;      /* "aidev_enqueue_binary" */
    const char *kernels;   /* the internal kernels it runs, space-separated */
    const char *doc;       /* what it computes */
    const char *dtypes;    /* which operand takes which storage types */
    const char *broadcast; /* its broadcasting rule ("" where none) */
    uint32_t accuracy_count;
    const aidev_op_accuracy *accuracy;
} aidev_op_info;

/* The number of ops, and the one at |index| (NULL past the end). */
AIDEV_API uint32_t aidev_library_op_count(void);
AIDEV_API const aidev_op_info *aidev_library_op(uint32_t index);

/* y = x converted to y's type, x broadcast to y's shape (NumPy rules). Any
 * of f32, f16, bf16, i8, u8, i32 to any: integers to floats exactly (i32
 * above 2^24 rounded to nearest even), floats to integers half to even and
 * saturated. Same type: a strided copy. |y| may be |x| (the same view). */
AIDEV_API aidev_status aidev_enqueue_convert(aidev_queue queue, const aidev_tensor *x,
                                             const aidev_tensor *y, uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event);

typedef enum aidev_unary_op {
    AIDEV_UNARY_RELU = 1,      /* max(x, 0) */
    AIDEV_UNARY_GELU_TANH = 2, /* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    AIDEV_UNARY_GELU_ERF = 3,  /* x/2 (1 + erf(x / sqrt 2)) */
    AIDEV_UNARY_SILU = 4,      /* x / (1 + exp(-x)) */
    AIDEV_UNARY_EXP = 5,
    AIDEV_UNARY_TANH = 6,
    AIDEV_UNARY_SIGMOID = 7,   /* 1 / (1 + exp(-x)) */
} aidev_unary_op;

/* y = op(x), x broadcast to y's shape; x and y of f32, f16 or bf16 (any
 * mix). |y| may be |x| (the same view). AIDEV_ERROR_INVALID_ARGUMENT for an
 * unknown |op|. */
AIDEV_API aidev_status aidev_enqueue_unary(aidev_queue queue, aidev_unary_op op,
                                           const aidev_tensor *x, const aidev_tensor *y,
                                           uint32_t wait_count, const aidev_event *wait_events,
                                           aidev_event *out_event);

/* y = scale * x + shift, x broadcast to y's shape; f32, f16 or bf16. */
AIDEV_API aidev_status aidev_enqueue_scale_shift(aidev_queue queue, float scale, float shift,
                                                 const aidev_tensor *x, const aidev_tensor *y,
                                                 uint32_t wait_count,
                                                 const aidev_event *wait_events,
                                                 aidev_event *out_event);

typedef enum aidev_binary_op {
    AIDEV_BINARY_ADD = 1,
    AIDEV_BINARY_SUB = 2,
    AIDEV_BINARY_MUL = 3,
    AIDEV_BINARY_DIV = 4,
    AIDEV_BINARY_MAX = 5, /* NaN inputs: unspecified */
    AIDEV_BINARY_MIN = 6,
} aidev_binary_op;

/* y = a op b with NumPy broadcasting: a and b are aligned at their last
 * axis, an axis of size 1 (or missing) repeats, and y's shape must be the
 * broadcast shape. f32, f16 or bf16, any mix. |y| may be |a| or |b| (the
 * same view). AIDEV_ERROR_INVALID_ARGUMENT when the shapes do not
 * broadcast, naming the axis and sizes. */
AIDEV_API aidev_status aidev_enqueue_binary(aidev_queue queue, aidev_binary_op op,
                                            const aidev_tensor *a, const aidev_tensor *b,
                                            const aidev_tensor *y, uint32_t wait_count,
                                            const aidev_event *wait_events,
                                            aidev_event *out_event);

/* y = saturate(round_half_even((x - x_zero) * scale + y_zero)): integer
 * (or float) values on one scale to integers on another (ONNX's
 * QuantizeLinear / requantization of int32 accumulators). x: i32, i8, u8,
 * f32, f16 or bf16; scale: f32, broadcast to y's shape (one value, per row,
 * per channel...); y: i8, u8 or i32, x's shape. Computed in f32: x above
 * 2^24 in magnitude is rounded first. */
AIDEV_API aidev_status aidev_enqueue_requantize(aidev_queue queue, int32_t x_zero,
                                                int32_t y_zero, const aidev_tensor *x,
                                                const aidev_tensor *scale,
                                                const aidev_tensor *y, uint32_t wait_count,
                                                const aidev_event *wait_events,
                                                aidev_event *out_event);

/* Ops along one axis. |axis| counts from 0, or from the end when negative
 * (-1 is the last axis, as in NumPy). AIDEV_ERROR_INVALID_ARGUMENT for an
 * axis outside x's rank or an output of the wrong shape, naming both
 * shapes. */

typedef enum aidev_reduce_op {
    AIDEV_REDUCE_SUM = 1,  /* an empty axis gives 0 */
    AIDEV_REDUCE_MAX = 2,  /* -inf; NaN inputs: unspecified */
    AIDEV_REDUCE_MEAN = 3, /* NaN */
} aidev_reduce_op;

/* y = op(x) along |axis|; y has x's shape with the axis removed, or kept
 * with size 1 (NumPy's keepdims). f32, f16 or bf16, any pair. */
AIDEV_API aidev_status aidev_enqueue_reduce(aidev_queue queue, aidev_reduce_op op, int32_t axis,
                                            const aidev_tensor *x, const aidev_tensor *y,
                                            uint32_t wait_count, const aidev_event *wait_events,
                                            aidev_event *out_event);

/* y = exp(x - max) / sum exp(x - max) along |axis|; y has x's shape and
 * may be x (the same view). f32, f16 or bf16, any pair. */
AIDEV_API aidev_status aidev_enqueue_softmax(aidev_queue queue, int32_t axis,
                                             const aidev_tensor *x, const aidev_tensor *y,
                                             uint32_t wait_count, const aidev_event *wait_events,
                                             aidev_event *out_event);

/* y = x - max - log(sum exp(x - max)) along |axis|, as softmax. */
AIDEV_API aidev_status aidev_enqueue_log_softmax(aidev_queue queue, int32_t axis,
                                                 const aidev_tensor *x, const aidev_tensor *y,
                                                 uint32_t wait_count,
                                                 const aidev_event *wait_events,
                                                 aidev_event *out_event);

/* y = x / sqrt(mean(x^2) + eps) * w along |axis|. |w| (may be NULL: 1) has
 * rank 1 and the axis' length, any stride. y has x's shape and may be x.
 * f32, f16 or bf16, any mix. */
AIDEV_API aidev_status aidev_enqueue_rmsnorm(aidev_queue queue, int32_t axis, float eps,
                                             const aidev_tensor *x, const aidev_tensor *w,
                                             const aidev_tensor *y, uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event);

/* y = (x - mean) / sqrt(var + eps) * gamma + beta along |axis| (the biased
 * variance, taken around the mean). |gamma| (NULL: 1) and |beta| (NULL: 0)
 * as rmsnorm's w. y has x's shape and may be x. */
AIDEV_API aidev_status aidev_enqueue_layernorm(aidev_queue queue, int32_t axis, float eps,
                                               const aidev_tensor *x, const aidev_tensor *gamma,
                                               const aidev_tensor *beta, const aidev_tensor *y,
                                               uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

#ifdef __cplusplus
}
#endif

#endif /* AIDEV_AIDEV_TENSOR_H */

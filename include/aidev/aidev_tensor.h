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

/* ------------------------------------------------------------------------ */
/* GEMM                                                                     */
/* ------------------------------------------------------------------------ */

/* Activations a GEMM (or convolution) applies after its bias. */
typedef enum aidev_activation {
    AIDEV_ACT_NONE = 0,
    AIDEV_ACT_RELU = 1,
    AIDEV_ACT_GELU_TANH = 2,
    AIDEV_ACT_GELU_ERF = 3,
    AIDEV_ACT_SILU = 4,
} aidev_activation;

/* C = act(alpha op(A) op(B) + beta C + bias); op transposes where asked.
 * beta = 0 ignores C's old values (NaN included). */
typedef struct aidev_gemm_params {
    int32_t trans_a, trans_b; /* nonzero: use the operand's last two axes swapped */
    float alpha, beta;
    aidev_activation activation;
} aidev_gemm_params;

/* c = act(alpha op(a) op(b) + beta c + bias) for every batch. a, b and c
 * have two matrix axes last (a: m x k, or k x m with trans_a; b: k x n, or
 * n x k with trans_b; c: m x n) and up to two batch axes before them; a's
 * and b's batch axes broadcast to c's (NumPy's matmul: a [2, 3, m, k] with
 * b [k, n], or a [3, 1, m, k] with b [1, 4, k, n]). Leading dimensions are
 * the views' row strides; any strides go. |bias| (may be NULL) broadcasts to
 * m x n ([n], [m, 1], [m, n] or one value) and is shared by the batches.
 * |params| NULL: no transposes, alpha 1, beta 0, no activation. f32, f16 or
 * bf16 for every operand, any mix; products summed in f32.
 * AIDEV_ERROR_INVALID_ARGUMENT when the shapes do not make a product (the
 * message gives each as the matrix it is taken for), or for an unknown
 * activation; AIDEV_ERROR_UNSUPPORTED past 65535 batches. */
AIDEV_API aidev_status aidev_enqueue_gemm(aidev_queue queue, const aidev_gemm_params *params,
                                          const aidev_tensor *a, const aidev_tensor *b,
                                          const aidev_tensor *bias, const aidev_tensor *c,
                                          uint32_t wait_count, const aidev_event *wait_events,
                                          aidev_event *out_event);

/* A strided-batched GEMM as BLAS libraries take it (cuBLAS'
 * gemmStridedBatched, row-major): matrix z of each operand starts
 * z * stride elements after its offset (bytes) and has rows |ld| elements
 * apart. A is m x k (stored k x m with trans_a), B is k x n (stored n x k
 * with trans_b), C is m x n. */
typedef struct aidev_gemm_strided {
    uint32_t m, n, k, batch;
    int32_t trans_a, trans_b;
    float alpha, beta;
    aidev_type type_a, type_b, type_c; /* f32, f16 or bf16 */
    aidev_buffer a;
    uint64_t a_offset;
    int64_t lda, stride_a;
    aidev_buffer b;
    uint64_t b_offset;
    int64_t ldb, stride_b;
    aidev_buffer c;
    uint64_t c_offset;
    int64_t ldc, stride_c;
} aidev_gemm_strided;

/* C_z = alpha op(A_z) op(B_z) + beta C_z for z < batch, in one dispatch
 * (aidev_enqueue_gemm on rank-3 views). AIDEV_ERROR_INVALID_ARGUMENT for a
 * leading dimension below its matrix's stored columns, and the statuses of
 * aidev_enqueue_gemm (a stride_c that makes batches overlap is refused as
 * an overlapping output). */
AIDEV_API aidev_status aidev_enqueue_gemm_strided_batched(aidev_queue queue,
                                                          const aidev_gemm_strided *d,
                                                          uint32_t wait_count,
                                                          const aidev_event *wait_events,
                                                          aidev_event *out_event);

/* ------------------------------------------------------------------------ */
/* Quantized matrices                                                       */
/* ------------------------------------------------------------------------ */

/* How a rows x cols matrix is quantized. The block formats are ggml's
 * (llama.cpp's files use them): 32 consecutive values of a row per block,
 * blocks back to back along the row, f16 numbers little-endian. */
typedef enum aidev_quant_format {
    /* i8 codes, one scale per row, optional zero points: x = (q - z) s. */
    AIDEV_QUANT_I8_ROW = 1,
    /* i8 codes, one scale per group of 32 values of a row (the last group
     * of a row may be short), optional zero points per group. */
    AIDEV_QUANT_I8_GROUP32 = 2,
    /* block_q8_0, 34 bytes: f16 d, i8 q[32]; x = d q. */
    AIDEV_QUANT_Q8_0 = 3,
    /* block_q4_0, 18 bytes: f16 d, u8 qs[16]; value j < 16 is the low
     * nibble of qs[j], value 16 + j its high nibble; x = d (q - 8). */
    AIDEV_QUANT_Q4_0 = 4,
    /* block_q4_1, 20 bytes: f16 d, f16 m, u8 qs[16] as Q4_0; x = d q + m
     * (m, the block's minimum, is its zero point). */
    AIDEV_QUANT_Q4_1 = 5,
} aidev_quant_format;

/* A quantized matrix: three descriptors, of one or more buffers. */
typedef struct aidev_qtensor {
    aidev_quant_format format;
    /* I8 formats: the codes, an i8 view of rows x cols. Block formats: the
     * blocks, a u8 view of rows x (cols / 32 * block bytes), compact along
     * a row (rows may be apart by any stride). */
    aidev_tensor q;
    /* I8 formats: the scales, f32, f16 or bf16: [rows] for I8_ROW, [rows,
     * ceil(cols / 32)] for I8_GROUP32. Unused by the block formats. */
    aidev_tensor scale;
    /* I8 formats: the zero points, i8, shaped as |scale|; buffer NULL:
     * symmetric (no zero points). Unused by the block formats. */
    aidev_tensor zero;
} aidev_qtensor;

/* Quantizes the float matrix |x| (rank 2, rows x cols, any strides) into
 * |w|, which also says the format:
 *   I8 formats, symmetric: s = amax / 127, q = rint(x (127 / amax)) within
 *     [-127, 127]; with zero points: over the group's range [lo, hi] (0
 *     included), s = (hi - lo) / 255, z = rint(-128 - lo 255 / (hi - lo)),
 *     q = rint(x 255 / (hi - lo)) + z within [-128, 127]; a group whose
 *     range is below 1e-30 gets s = 0, z = 0 and codes 0;
 *   Q8_0, Q4_0, Q4_1: ggml's reference quantizers (quantize_row_q8_0_ref
 *     and its siblings), bit for bit where division is correctly rounded.
 * The block formats need cols a multiple of 32 (AIDEV_ERROR_INVALID_ARGUMENT
 * otherwise). x: f32, f16 or bf16. */
AIDEV_API aidev_status aidev_enqueue_quantize(aidev_queue queue, const aidev_tensor *x,
                                              const aidev_qtensor *w, uint32_t wait_count,
                                              const aidev_event *wait_events,
                                              aidev_event *out_event);

/* y = the values of |w| (rows x cols), in y's type (f32, f16 or bf16). */
AIDEV_API aidev_status aidev_enqueue_dequantize(aidev_queue queue, const aidev_qtensor *w,
                                                const aidev_tensor *y, uint32_t wait_count,
                                                const aidev_event *wait_events,
                                                aidev_event *out_event);

/* y = act(alpha op(x) w^T + beta y + bias), w quantized (n x k, a linear
 * layer's weight: row j feeds output j) and dequantized as it is read: x
 * [..., m, k] (or k x m with trans_a; float, up to two batch axes), y
 * [..., m, n], bias as in aidev_enqueue_gemm. |params| as there; trans_b
 * must be 0 (AIDEV_ERROR_INVALID_ARGUMENT). Products summed in f32. */
AIDEV_API aidev_status aidev_enqueue_qgemm(aidev_queue queue, const aidev_gemm_params *params,
                                           const aidev_tensor *x, const aidev_qtensor *w,
                                           const aidev_tensor *bias, const aidev_tensor *y,
                                           uint32_t wait_count, const aidev_event *wait_events,
                                           aidev_event *out_event);

/* ------------------------------------------------------------------------ */
/* Attention                                                                */
/* ------------------------------------------------------------------------ */

typedef struct aidev_attention_params {
    float scale;    /* 0: 1 / sqrt(head dim) */
    /* Nonzero: query i, at key position Sk - Sq + i (the last Sq keys are
     * the queries' own, as with a KV cache), sees keys up to its position. */
    int32_t causal;
} aidev_attention_params;

/* out = softmax(scale q k^T + mask) v per batch and head, with q [B, H, Sq,
 * D], k and v [B (or 1), Hkv, Sk, D] (Hkv dividing H: grouped-query
 * attention, head h reading kv head h / (H / Hkv)), out [B, H, Sq, D];
 * rank 3 drops B. The last axis of each is compact (stride 1;
 * AIDEV_ERROR_UNSUPPORTED otherwise), D at most 256. |mask| (may be NULL)
 * is added to the scores, broadcast to [B, H, Sq, Sk] (-inf drops a key). A
 * query whose keys are all dropped gets zeros. f32, f16 or bf16, any mix;
 * scores and sums in f32. */
AIDEV_API aidev_status aidev_enqueue_attention(aidev_queue queue,
                                               const aidev_attention_params *params,
                                               const aidev_tensor *q, const aidev_tensor *k,
                                               const aidev_tensor *v, const aidev_tensor *mask,
                                               const aidev_tensor *out, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

typedef enum aidev_rope_mode {
    AIDEV_ROPE_INTERLEAVED = 0, /* pairs (2i, 2i + 1): GPT-J, llama's original */
    AIDEV_ROPE_NEOX = 1,        /* pairs (i, i + rot/2): GPT-NeoX, most HF models */
} aidev_rope_mode;

typedef struct aidev_rope_params {
    aidev_rope_mode mode;
    uint32_t rot_dims;  /* dimensions rotated, even; 0: all of the last axis */
    float base;         /* theta base; 0: 10000 */
    float freq_scale;   /* positions scaled by it (linear scaling); 0: 1 */
    int32_t seq_axis;   /* x's sequence axis (not the last); negative from the end */
    int32_t pos0;       /* position of index 0 along seq_axis (no positions tensor) */
} aidev_rope_params;

/* Rotary position embedding along x's last axis: each pair (a, b) of the
 * first rot_dims dimensions turns by theta = pos freq_scale base^(-2i /
 * rot_dims); the rest is copied. pos is pos0 + the index along seq_axis, or
 * positions[index] (|positions|: i32 of the sequence axis' length, may be
 * NULL). y has x's shape and may be x. f32, f16 or bf16. */
AIDEV_API aidev_status aidev_enqueue_rope(aidev_queue queue, const aidev_rope_params *params,
                                          const aidev_tensor *positions, const aidev_tensor *x,
                                          const aidev_tensor *y, uint32_t wait_count,
                                          const aidev_event *wait_events,
                                          aidev_event *out_event);

/* out[..., d] = table[ids[...], d]: ids i32 of up to three axes, table [V,
 * D] (f32, f16 or bf16, any strides), out the ids' shape + [D]. An id
 * outside [0, V) is a fault of the data the device cannot report: its row
 * of out is NaN. */
AIDEV_API aidev_status aidev_enqueue_embedding(aidev_queue queue, const aidev_tensor *ids,
                                               const aidev_tensor *table,
                                               const aidev_tensor *out, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

/* cache[..., pos : pos + n, ...] = src along |axis| (n = src's size there;
 * the other axes equal), converted to the cache's type: a KV cache's
 * append. AIDEV_ERROR_OUT_OF_RANGE when pos + n passes the cache's size
 * along the axis; otherwise the statuses of aidev_enqueue_convert. */
AIDEV_API aidev_status aidev_enqueue_kv_append(aidev_queue queue, int32_t axis, uint32_t pos,
                                               const aidev_tensor *src,
                                               const aidev_tensor *cache, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event);

#ifdef __cplusplus
}
#endif

#endif /* AIDEV_AIDEV_TENSOR_H */

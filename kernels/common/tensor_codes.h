/*
 * tensor_codes.h - the numbers the hal and the tensor kernels agree on:
 * operation codes, flag bits and limits, in one place. The OpenCL C
 * (tensor.cl) and GLSL (tensor.glsl, and the kernels' own files) forms
 * spell the same numbers; the op tests on every device hold them together.
 */
#ifndef AIDEV_KERNELS_TENSOR_CODES_H
#define AIDEV_KERNELS_TENSOR_CODES_H

/* tensor_elementwise: unary codes below TH_OP_BINARY ignore b. */
enum {
    TH_OP_IDENTITY = 0, /* convert */
    TH_OP_RELU = 1,
    TH_OP_GELU_TANH = 2,
    TH_OP_GELU_ERF = 3,
    TH_OP_SILU = 4,
    TH_OP_EXP = 5,
    TH_OP_TANH = 6,
    TH_OP_SIGMOID = 7,
    TH_OP_SCALE_SHIFT = 8, /* alpha * a + beta */
    TH_OP_BINARY = 16,
    TH_OP_ADD = 16,
    TH_OP_SUB = 17,
    TH_OP_MUL = 18,
    TH_OP_DIV = 19,
    TH_OP_MAX = 20,
    TH_OP_MIN = 21,
    TH_OP_REQUANTIZE = 22, /* (a - alpha) * b + beta */
};

/* tensor_rows: what is done along the axis. */
enum {
    TH_ROW_SUM = 0,
    TH_ROW_MAX = 1,
    TH_ROW_MEAN = 2,
    TH_ROW_SOFTMAX = 3,
    TH_ROW_LOG_SOFTMAX = 4,
    TH_ROW_RMSNORM = 5,
    TH_ROW_LAYERNORM = 6,
};

/* Epilogues of tensor_gemm, tensor_qgemm and tensor_conv2d (after the
 * bias): the low 4 bits of their flags word. */
enum {
    TH_ACT_NONE = 0,
    TH_ACT_RELU = 1,
    TH_ACT_GELU_TANH = 2,
    TH_ACT_GELU_ERF = 3,
    TH_ACT_SILU = 4,
};

#endif

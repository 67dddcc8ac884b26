/*
 * tensor_ops.h - the scalar functions of the C forms of the tensor kernels
 * (elementwise operations and GEMM epilogues), the same formulas as the
 * OpenCL C and GLSL forms.
 */
#ifndef AIDEV_KERNELS_TENSOR_OPS_H
#define AIDEV_KERNELS_TENSOR_OPS_H

#include <math.h>

#include "kernels/common/tensor_codes.h"

/* 2 * sqrt(2 / pi) */
#define TH_GELU_K 1.5957691216057308f
#define TH_SQRT1_2 0.70710678118654752f

/* gelu (tanh) as x / (1 + exp(-2u)): no cancellation of 1 + tanh(u) for
 * negative x. gelu (erf) as x/2 erfc(-x / sqrt 2): likewise. */
static inline float th_gelu_tanh(float x)
{
    return x / (1.0f + expf(-TH_GELU_K * (x + 0.044715f * x * x * x)));
}

static inline float th_gelu_erf(float x)
{
    return 0.5f * x * erfcf(-x * TH_SQRT1_2);
}

static inline float th_activation(unsigned act, float x)
{
    switch (act) {
    case TH_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case TH_ACT_GELU_TANH: return th_gelu_tanh(x);
    case TH_ACT_GELU_ERF: return th_gelu_erf(x);
    case TH_ACT_SILU: return x / (1.0f + expf(-x));
    default: return x;
    }
}

static inline float th_apply(unsigned op, float a, float b, float alpha, float beta)
{
    switch (op) {
    case TH_OP_RELU: return a > 0.0f ? a : 0.0f;
    case TH_OP_GELU_TANH: return th_gelu_tanh(a);
    case TH_OP_GELU_ERF: return th_gelu_erf(a);
    case TH_OP_SILU: return a / (1.0f + expf(-a));
    case TH_OP_EXP: return expf(a);
    case TH_OP_TANH: return tanhf(a);
    case TH_OP_SIGMOID: return 1.0f / (1.0f + expf(-a));
    case TH_OP_SCALE_SHIFT: return alpha * a + beta;
    case TH_OP_ADD: return a + b;
    case TH_OP_SUB: return a - b;
    case TH_OP_MUL: return a * b;
    case TH_OP_DIV: return a / b;
    case TH_OP_MAX: return a > b ? a : b;
    case TH_OP_MIN: return a < b ? a : b;
    case TH_OP_REQUANTIZE: return (a - alpha) * b + beta;
    default: return a;
    }
}

#endif

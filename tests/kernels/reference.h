/*
 * reference.h - plain scalar C of every built-in kernel, for the tests only.
 *
 * Each reference writes the exact result of the kernel's definition in
 * kernels/manifest.txt: for kernels the manifest calls exact, the float (or
 * integer) result every device must give bit for bit; for the others the
 * result computed in double, and, where the manifest's accuracy note names
 * one, the magnitude |got - ref| is measured against (|ref| otherwise).
 * Nothing here shares code with the C forms: these loops are written for
 * obviousness, not speed.
 */
#ifndef AIDEV_TESTS_KERNELS_REFERENCE_H
#define AIDEV_TESTS_KERNELS_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

/* Elementwise: out[i] for i < n. */
void ref_fill_f32(uint32_t n, float value, double *out);
void ref_copy_f32(uint32_t n, const float *x, double *out);
/* mag[i] = |alpha x[i]| + |y[i]|: a fused multiply-add may differ from two
 * roundings by up to one rounding of that. */
void ref_axpy(uint32_t n, float alpha, const float *x, const float *y, double *out, double *mag);
void ref_scale(uint32_t n, float alpha, const float *x, double *out);
void ref_add(uint32_t n, const float *a, const float *b, double *out);
void ref_mul(uint32_t n, const float *a, const float *b, double *out);
void ref_relu(uint32_t n, const float *x, double *out);
/* GELU by its tanh definition, in double. mag[i] = |out[i]| (1 + |t|),
 * t the argument of the kernel's exp (2u for gelu, x for silu): a float
 * evaluation errs in proportion to it. */
void ref_gelu(uint32_t n, const float *x, double *out, double *mag);
void ref_silu(uint32_t n, const float *x, double *out, double *mag);

/* Reductions: one value; sum also gives mag = sum |x[i]|. */
void ref_sum(uint32_t n, const float *x, double *out, double *mag);
void ref_max(uint32_t n, const float *x, double *out);

/* Row-wise, x is rows x cols. */
void ref_softmax(uint32_t rows, uint32_t cols, const float *x, double *out);
void ref_rmsnorm(uint32_t rows, uint32_t cols, float eps, const float *x, const float *w,
                 double *out);
/* mag = (|x - mean| + |mean|) / sqrt(var + eps) |gamma| + |beta|: a float
 * evaluation errs in proportion to the terms that cancel. */
void ref_layernorm(uint32_t rows, uint32_t cols, float eps, const float *x, const float *gamma,
                   const float *beta, double *out, double *mag);

/* Matrices. */
void ref_transpose(uint32_t rows, uint32_t cols, const float *x, double *out);
/* out = alpha A B + beta C (C ignored when beta = 0); mag[i,j] = |alpha|
 * sum_p |a[i,p] b[p,j]| + |beta c[i,j]|. */
void ref_sgemm(uint32_t m, uint32_t n, uint32_t k, float alpha, float beta, const float *a,
               const float *b, const float *c, double *out, double *mag);

/* Int8. quantize gives q exactly; |ties| (may be NULL) gets, per element,
 * the distance of x * (127 / amax) from the nearest rounding tie, which is
 * where a device whose division is not correctly rounded may differ by 1. */
void ref_quantize_i8(uint32_t rows, uint32_t cols, const float *x, int8_t *q, float *scale,
                     double *ties);
void ref_dequantize_i8(uint32_t rows, uint32_t cols, const int8_t *q, const float *scale,
                       double *out);
void ref_matmul_i8(uint32_t m, uint32_t n, uint32_t k, const int8_t *a, const float *sa,
                   const int8_t *b, const float *sb, double *out);

#endif

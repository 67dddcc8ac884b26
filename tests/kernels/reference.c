/* reference.c - see reference.h. */
#include "reference.h"

#include <math.h>

void ref_fill_f32(uint32_t n, float value, double *out)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = value;
}

void ref_copy_f32(uint32_t n, const float *x, double *out)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i];
}

void ref_axpy(uint32_t n, float alpha, const float *x, const float *y, double *out, double *mag)
{
    for (uint32_t i = 0; i < n; i++) {
        /* The product of two floats is exact in double. */
        double ax = (double)alpha * x[i];
        out[i] = ax + y[i];
        mag[i] = fabs(ax) + fabs((double)y[i]);
    }
}

void ref_scale(uint32_t n, float alpha, const float *x, double *out)
{
    for (uint32_t i = 0; i < n; i++) {
        float v = alpha * x[i];
        out[i] = v;
    }
}

void ref_add(uint32_t n, const float *a, const float *b, double *out)
{
    for (uint32_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        out[i] = v;
    }
}

void ref_mul(uint32_t n, const float *a, const float *b, double *out)
{
    for (uint32_t i = 0; i < n; i++) {
        float v = a[i] * b[i];
        out[i] = v;
    }
}

void ref_relu(uint32_t n, const float *x, double *out)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i] > 0 ? x[i] : 0.0;
}

void ref_gelu(uint32_t n, const float *x, double *out, double *mag)
{
    const double k = sqrt(2.0 / M_PI);
    for (uint32_t i = 0; i < n; i++) {
        double v = x[i];
        double u = k * (v + 0.044715 * v * v * v);
        /* For negative u, 1 + tanh(u) cancels even in double (to 0 below
         * u = -19); 2 / (1 + exp(-2u)) is the same number without that. */
        out[i] = u > -1 ? 0.5 * v * (1.0 + tanh(u)) : v / (1.0 + exp(-2 * u));
        mag[i] = fabs(out[i]) * (1 + fabs(2 * u));
    }
}

void ref_silu(uint32_t n, const float *x, double *out, double *mag)
{
    for (uint32_t i = 0; i < n; i++) {
        double v = x[i];
        out[i] = v / (1.0 + exp(-v));
        mag[i] = fabs(out[i]) * (1 + fabs(v));
    }
}

void ref_sum(uint32_t n, const float *x, double *out, double *mag)
{
    double s = 0, a = 0;
    for (uint32_t i = 0; i < n; i++) {
        s += x[i];
        a += fabs((double)x[i]);
    }
    *out = s;
    *mag = a;
}

void ref_max(uint32_t n, const float *x, double *out)
{
    double m = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        if (x[i] > m)
            m = x[i];
    *out = m;
}

void ref_softmax(uint32_t rows, uint32_t cols, const float *x, double *out)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        double *o = out + (size_t)r * cols;
        double m = -INFINITY, s = 0;
        for (uint32_t c = 0; c < cols; c++)
            if (xr[c] > m)
                m = xr[c];
        for (uint32_t c = 0; c < cols; c++)
            s += exp(xr[c] - m);
        for (uint32_t c = 0; c < cols; c++)
            o[c] = exp(xr[c] - m) / s;
    }
}

void ref_rmsnorm(uint32_t rows, uint32_t cols, float eps, const float *x, const float *w,
                 double *out)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        double ss = 0;
        for (uint32_t c = 0; c < cols; c++)
            ss += (double)xr[c] * xr[c];
        double inv = 1.0 / sqrt(ss / cols + eps);
        for (uint32_t c = 0; c < cols; c++)
            out[(size_t)r * cols + c] = xr[c] * inv * w[c];
    }
}

void ref_layernorm(uint32_t rows, uint32_t cols, float eps, const float *x, const float *gamma,
                   const float *beta, double *out, double *mag)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        double mean = 0, var = 0;
        for (uint32_t c = 0; c < cols; c++)
            mean += xr[c];
        mean /= cols;
        for (uint32_t c = 0; c < cols; c++)
            var += (xr[c] - mean) * (xr[c] - mean);
        var /= cols;
        double inv = 1.0 / sqrt(var + eps);
        for (uint32_t c = 0; c < cols; c++) {
            out[(size_t)r * cols + c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
            mag[(size_t)r * cols + c] =
                (fabs(xr[c] - mean) + fabs(mean)) * inv * fabs((double)gamma[c]) +
                fabs((double)beta[c]);
        }
    }
}

void ref_transpose(uint32_t rows, uint32_t cols, const float *x, double *out)
{
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < cols; c++)
            out[(size_t)c * rows + r] = x[(size_t)r * cols + c];
}

void ref_sgemm(uint32_t m, uint32_t n, uint32_t k, float alpha, float beta, const float *a,
               const float *b, const float *c, double *out, double *mag)
{
    for (uint32_t i = 0; i < m; i++) {
        for (uint32_t j = 0; j < n; j++) {
            double s = 0, abs_s = 0;
            for (uint32_t p = 0; p < k; p++) {
                double t = (double)a[(size_t)i * k + p] * b[(size_t)p * n + j];
                s += t;
                abs_s += fabs(t);
            }
            double cij = beta == 0 ? 0 : (double)beta * c[(size_t)i * n + j];
            out[(size_t)i * n + j] = alpha * s + cij;
            mag[(size_t)i * n + j] = fabs((double)alpha) * abs_s + fabs(cij);
        }
    }
}

void ref_quantize_i8(uint32_t rows, uint32_t cols, const float *x, int8_t *q, float *scale,
                     double *ties)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float amax = 0;
        for (uint32_t c = 0; c < cols; c++)
            if (fabsf(xr[c]) > amax)
                amax = fabsf(xr[c]);
        /* The definition, step by step in float: one division for the
         * scale, one for its inverse, one product per element. */
        float inv = amax >= 1e-30f ? 127.0f / amax : 0.0f;
        scale[r] = amax / 127.0f;
        for (uint32_t c = 0; c < cols; c++) {
            float v = xr[c] * inv;
            float rounded = nearbyintf(v);
            if (rounded > 127)
                rounded = 127;
            if (rounded < -127)
                rounded = -127;
            q[(size_t)r * cols + c] = (int8_t)rounded;
            if (ties)
                ties[(size_t)r * cols + c] = fabs(fabs((double)v - floor(v)) - 0.5);
        }
    }
}

void ref_dequantize_i8(uint32_t rows, uint32_t cols, const int8_t *q, const float *scale,
                       double *out)
{
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < cols; c++) {
            float v = (float)q[(size_t)r * cols + c] * scale[r];
            out[(size_t)r * cols + c] = v;
        }
}

void ref_matmul_i8(uint32_t m, uint32_t n, uint32_t k, const int8_t *a, const float *sa,
                   const int8_t *b, const float *sb, double *out)
{
    for (uint32_t i = 0; i < m; i++)
        for (uint32_t j = 0; j < n; j++) {
            int64_t s = 0;
            for (uint32_t p = 0; p < k; p++)
                s += (int64_t)a[(size_t)i * k + p] * b[(size_t)j * k + p];
            float v = (float)(int32_t)s;
            v = v * sa[i];
            v = v * sb[j];
            out[(size_t)i * n + j] = v;
        }
}

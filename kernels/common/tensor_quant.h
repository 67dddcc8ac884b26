/*
 * tensor_quant.h - the quantized matrices of the C forms (tensor_quantize,
 * tensor_dequantize, tensor_qgemm): how element (r, c) of a rows x cols
 * matrix is stored in each format, and how it is read back. The formats
 * (aidev_quant_format) and the ggml block layouts they follow are
 * documented in aidev_tensor.h; tensor.cl and quant.glsl read the same.
 */
#ifndef AIDEV_KERNELS_TENSOR_QUANT_H
#define AIDEV_KERNELS_TENSOR_QUANT_H

#include "kernels/common/tensor_host.h"

enum {
    TH_Q_I8_ROW = 1,
    TH_Q_I8_GROUP32 = 2,
    TH_Q_Q8_0 = 3,
    TH_Q_Q4_0 = 4,
    TH_Q_Q4_1 = 5,
};

/* Bytes of one block of 32 values in the block formats. */
static inline uint32_t th_block_bytes(uint32_t format)
{
    return format == TH_Q_Q8_0 ? 34u : format == TH_Q_Q4_0 ? 18u : 20u;
}

/* A quantized matrix as the kernels get it: the values (i8 elements for
 * the I8 formats, bytes of blocks otherwise) with row and column strides,
 * the scales and zero points (I8 formats) with row and group strides. */
typedef struct th_qmat {
    uint32_t format;
    const void *q;
    uint32_t qoff;
    int32_t qrs, qcs;
    const void *s;
    uint32_t soff, ts;
    int32_t srs, sgs;
    const void *z;
    uint32_t zoff;
    int32_t zrs, zgs;
    bool has_zero;
} th_qmat;

static inline uint32_t th_u16_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* Element (r, c), dequantized. */
static inline float th_dequant(const th_qmat *w, uint32_t r, uint32_t c)
{
    if (w->format == TH_Q_I8_ROW || w->format == TH_Q_I8_GROUP32) {
        const uint32_t g = w->format == TH_Q_I8_ROW ? 0 : c / 32;
        const float q = ((const int8_t *)w->q)[(int64_t)w->qoff + (int64_t)r * w->qrs +
                                               (int64_t)c * w->qcs];
        const float s = th_load(w->s, w->ts, (int64_t)w->soff + (int64_t)r * w->srs +
                                                 (int64_t)g * w->sgs);
        const float z = w->has_zero ? ((const int8_t *)w->z)[(int64_t)w->zoff +
                                                             (int64_t)r * w->zrs +
                                                             (int64_t)g * w->zgs]
                                    : 0.0f;
        return (q - z) * s;
    }
    const uint8_t *blk = (const uint8_t *)w->q + w->qoff + (int64_t)r * w->qrs +
                         (int64_t)(c / 32) * th_block_bytes(w->format);
    const uint32_t j = c % 32;
    const float d = th_f16_to_f32(th_u16_at(blk));
    if (w->format == TH_Q_Q8_0)
        return d * (float)(int8_t)blk[2 + j];
    const uint8_t *qs = blk + (w->format == TH_Q_Q4_0 ? 2 : 4);
    const float q = (float)(j < 16 ? qs[j] & 15u : qs[j - 16] >> 4);
    if (w->format == TH_Q_Q4_0)
        return d * (q - 8.0f);
    return d * q + th_f16_to_f32(th_u16_at(blk + 2));
}

#endif

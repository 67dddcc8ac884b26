/*
 * tensor_host.h - what the C forms of the tensor kernels share: loads and
 * stores of every storage type through f32, and the unpacking of the
 * scalar arguments the hal passes (kernels/common/README.md says how a
 * tensor descriptor reaches a kernel).
 *
 * The conversions are written bit by bit, as in the OpenCL C
 * (tensor.cl) and GLSL (tensor.glsl) forms, so every device stores the same
 * bits: f32 -> f16 and f32 -> bf16 round to nearest even (overflow to
 * infinity, NaN stays NaN); f32 -> integers round half to even and
 * saturate, NaN giving 0.
 */
#ifndef AIDEV_KERNELS_TENSOR_HOST_H
#define AIDEV_KERNELS_TENSOR_HOST_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kernels/host_kernel.h"

/* Storage type codes: the aidev_type values. */
enum {
    TH_I8 = AIDEV_TYPE_I8,
    TH_U8 = AIDEV_TYPE_U8,
    TH_I32 = AIDEV_TYPE_I32,
    TH_F16 = AIDEV_TYPE_F16,
    TH_F32 = AIDEV_TYPE_F32,
    TH_BF16 = AIDEV_TYPE_BF16,
};

/* Argument |i| as a u64 pair: the low word first (kernels/common/README.md). */
static inline uint32_t th_lo(void *const *args, int i)
{
    return (uint32_t)AIDEV_HOST_SCALAR(args, i, uint64_t);
}
static inline uint32_t th_hi(void *const *args, int i)
{
    return (uint32_t)(AIDEV_HOST_SCALAR(args, i, uint64_t) >> 32);
}
/* The same, as signed strides. */
static inline int32_t th_slo(void *const *args, int i)
{
    return (int32_t)th_lo(args, i);
}
static inline int32_t th_shi(void *const *args, int i)
{
    return (int32_t)th_hi(args, i);
}
/* The 4-bit type code |slot| of a packed types word. */
static inline uint32_t th_type(uint32_t types, int slot)
{
    return (types >> (4 * slot)) & 15u;
}

static inline uint32_t th_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float th_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float th_f16_to_f32(uint32_t h)
{
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 31u, m = h & 0x3ffu;
    if (e == 0) {
        /* Zero or subnormal: m * 2^-24, exact in f32. */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    if (e == 31)
        return th_float(sign | 0x7f800000u | (m << 13));
    return th_float(sign | ((e + 112u) << 23) | (m << 13));
}

static inline uint32_t th_f32_to_f16(float f)
{
    uint32_t x = th_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) /* infinity, or NaN made quiet */
        return sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u);
    if (x >= 0x477ff000u) /* 65520 and up round to infinity */
        return sign | 0x7c00u;
    if (x < 0x38800000u) { /* below 2^-14: a subnormal half, or zero */
        if (x <= 0x33000000u) /* up to 2^-25 (a tie, to even): zero */
            return sign;
        const uint32_t m = (x & 0x7fffffu) | 0x800000u, shift = 126u - (x >> 23);
        uint32_t h = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return sign | h;
    }
    uint32_t h = (x - (112u << 23)) >> 13;
    const uint32_t rem = x & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return sign | h;
}

static inline float th_bf16_to_f32(uint32_t h)
{
    return th_float(h << 16);
}

static inline uint32_t th_f32_to_bf16(float f)
{
    const uint32_t x = th_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (x >> 16) | 0x40u;
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

/* f32 to an integer type: round half to even, saturate, NaN to 0. */
static inline int32_t th_to_int(float v, float lo, float hi)
{
    if (v != v)
        return 0;
    v = rintf(v);
    v = v < lo ? lo : v > hi ? hi : v;
    return (int32_t)v;
}

/* Element |i| of |base| (a buffer of |dtype|) as f32. */
static inline float th_load(const void *base, uint32_t dtype, int64_t i)
{
    switch (dtype) {
    case TH_F32: return ((const float *)base)[i];
    case TH_F16: return th_f16_to_f32(((const uint16_t *)base)[i]);
    case TH_BF16: return th_bf16_to_f32(((const uint16_t *)base)[i]);
    case TH_I8: return (float)((const int8_t *)base)[i];
    case TH_U8: return (float)((const uint8_t *)base)[i];
    case TH_I32: return (float)((const int32_t *)base)[i];
    default: return 0.0f;
    }
}

/* Stores |v| as element |i| of |base|, converted to |dtype|. */
static inline void th_store(void *base, uint32_t dtype, int64_t i, float v)
{
    switch (dtype) {
    case TH_F32: ((float *)base)[i] = v; break;
    case TH_F16: ((uint16_t *)base)[i] = (uint16_t)th_f32_to_f16(v); break;
    case TH_BF16: ((uint16_t *)base)[i] = (uint16_t)th_f32_to_bf16(v); break;
    case TH_I8: ((int8_t *)base)[i] = (int8_t)th_to_int(v, -128.0f, 127.0f); break;
    case TH_U8: ((uint8_t *)base)[i] = (uint8_t)th_to_int(v, 0.0f, 255.0f); break;
    /* 2147483520 is the largest float below 2^31. */
    case TH_I32: ((int32_t *)base)[i] = th_to_int(v, -2147483648.0f, 2147483520.0f); break;
    default: break;
    }
}

/* The element index of flat item |t| of a [n0, n1, n2, n3] box (row-major)
 * in a view with strides |s| from element |off|. */
static inline int64_t th_index(uint64_t t, const uint32_t n[4], const int32_t s[4], uint32_t off)
{
    const uint64_t i3 = t % n[3];
    t /= n[3];
    const uint64_t i2 = t % n[2];
    t /= n[2];
    const uint64_t i1 = t % n[1];
    const uint64_t i0 = t / n[1];
    return (int64_t)off + (int64_t)i0 * s[0] + (int64_t)i1 * s[1] + (int64_t)i2 * s[2] +
           (int64_t)i3 * s[3];
}

#endif

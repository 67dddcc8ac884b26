/* tensor.cl - what the OpenCL C forms of the tensor kernels share (the
 * build puts it before the source of every kernel whose manifest entry says
 * `prelude tensor`). Loads and stores of every storage type through float;
 * f16 and bf16 are moved as ushort and converted bit by bit, so no device
 * needs cl_khr_fp16, and every device stores the bits the C form
 * (tensor_host.h) stores. */
#define TH_I8 1u
#define TH_U8 2u
#define TH_I32 5u
#define TH_F16 9u
#define TH_F32 10u
#define TH_BF16 12u

#define TH_LO(v) ((uint)(v))
#define TH_HI(v) ((uint)((v) >> 32))
#define TH_SLO(v) ((int)(uint)(v))
#define TH_SHI(v) ((int)(uint)((v) >> 32))

static inline uint th_type(uint types, uint slot)
{
    return (types >> (4u * slot)) & 15u;
}

static inline float th_f16_to_f32(uint h)
{
    const uint sign = (h & 0x8000u) << 16;
    const uint e = (h >> 10) & 31u, m = h & 0x3ffu;
    if (e == 0u) {
        const float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    if (e == 31u)
        return as_float(sign | 0x7f800000u | (m << 13));
    return as_float(sign | ((e + 112u) << 23) | (m << 13));
}

static inline uint th_f32_to_f16(float f)
{
    uint x = as_uint(f);
    const uint sign = (x >> 16) & 0x8000u;
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u)
        return sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u);
    if (x >= 0x477ff000u)
        return sign | 0x7c00u;
    if (x < 0x38800000u) {
        if (x <= 0x33000000u)
            return sign;
        const uint m = (x & 0x7fffffu) | 0x800000u, shift = 126u - (x >> 23);
        uint h = m >> shift;
        const uint rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (h & 1u)))
            h++;
        return sign | h;
    }
    uint h = (x - (112u << 23)) >> 13;
    const uint rem = x & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return sign | h;
}

static inline float th_bf16_to_f32(uint h)
{
    return as_float(h << 16);
}

static inline uint th_f32_to_bf16(float f)
{
    const uint x = as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (x >> 16) | 0x40u;
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

static inline int th_to_int(float v, float lo, float hi)
{
    if (isnan(v))
        return 0;
    return (int)clamp(rint(v), lo, hi);
}

static inline float th_load(__global const uchar *base, uint dtype, long i)
{
    switch (dtype) {
    case TH_F32: return ((__global const float *)base)[i];
    case TH_F16: return th_f16_to_f32(((__global const ushort *)base)[i]);
    case TH_BF16: return th_bf16_to_f32(((__global const ushort *)base)[i]);
    case TH_I8: return (float)((__global const char *)base)[i];
    case TH_U8: return (float)base[i];
    case TH_I32: return (float)((__global const int *)base)[i];
    default: return 0.0f;
    }
}

static inline void th_store(__global uchar *base, uint dtype, long i, float v)
{
    switch (dtype) {
    case TH_F32: ((__global float *)base)[i] = v; break;
    case TH_F16: ((__global ushort *)base)[i] = (ushort)th_f32_to_f16(v); break;
    case TH_BF16: ((__global ushort *)base)[i] = (ushort)th_f32_to_bf16(v); break;
    case TH_I8: ((__global char *)base)[i] = (char)th_to_int(v, -128.0f, 127.0f); break;
    case TH_U8: base[i] = (uchar)th_to_int(v, 0.0f, 255.0f); break;
    case TH_I32: ((__global int *)base)[i] = th_to_int(v, -2147483648.0f, 2147483520.0f); break;
    default: break;
    }
}

/* The element index of flat item |t| of a [n0, n1, n2, n3] box (row-major)
 * in a view with strides s0..s3 from element |off|. */
static inline long th_index(ulong t, uint n1, uint n2, uint n3, int s0, int s1, int s2, int s3,
                            uint off)
{
    const ulong i3 = t % n3;
    t /= n3;
    const ulong i2 = t % n2;
    t /= n2;
    const ulong i1 = t % n1;
    const ulong i0 = t / n1;
    return (long)off + (long)i0 * s0 + (long)i1 * s1 + (long)i2 * s2 + (long)i3 * s3;
}

/* Operation codes and epilogues: kernels/common/tensor_codes.h. */
#define TH_OP_BINARY 16u
#define TH_GELU_K 1.5957691216057308f
#define TH_SQRT1_2 0.70710678118654752f

static inline float th_gelu_tanh(float x)
{
    return x / (1.0f + exp(-TH_GELU_K * (x + 0.044715f * x * x * x)));
}

static inline float th_gelu_erf(float x)
{
    return 0.5f * x * erfc(-x * TH_SQRT1_2);
}

static inline float th_activation(uint act, float x)
{
    switch (act) {
    case 1u: return x > 0.0f ? x : 0.0f;
    case 2u: return th_gelu_tanh(x);
    case 3u: return th_gelu_erf(x);
    case 4u: return x / (1.0f + exp(-x));
    default: return x;
    }
}

static inline float th_apply(uint op, float a, float b, float alpha, float beta)
{
    switch (op) {
    case 1u: return a > 0.0f ? a : 0.0f;
    case 2u: return th_gelu_tanh(a);
    case 3u: return th_gelu_erf(a);
    case 4u: return a / (1.0f + exp(-a));
    case 5u: return exp(a);
    case 6u: return tanh(a);
    case 7u: return 1.0f / (1.0f + exp(-a));
    case 8u: return alpha * a + beta;
    case 16u: return a + b;
    case 17u: return a - b;
    case 18u: return a * b;
    case 19u: return a / b;
    case 20u: return a > b ? a : b;
    case 21u: return a < b ? a : b;
    case 22u: return (a - alpha) * b + beta;
    default: return a;
    }
}

// tensor.glsl - what the GLSL forms of the tensor kernels share
// (#include "tensor.glsl"; glslc finds it with -I kernels/common).
//
// Every tensor buffer is bound as an array of 32-bit words (uint w[]), so no
// device needs 8- or 16-bit storage: f16, bf16, i8 and u8 elements are taken
// out of their word by shifts, and stored into it with atomicAnd/atomicOr
// on their own bits only, so two invocations writing the two halves of one
// word never undo each other. The conversions are the bit-by-bit ones of the
// C (tensor_host.h) and OpenCL C (tensor.cl) forms: every device stores the
// same bits. (A buffer whose size is not a multiple of 4 is bound up to the
// next multiple of 4: the Vulkan backend rounds its range up.)
const uint TH_I8 = 1u;
const uint TH_U8 = 2u;
const uint TH_I32 = 5u;
const uint TH_F16 = 9u;
const uint TH_F32 = 10u;
const uint TH_BF16 = 12u;

uint th_type(uint types, uint slot)
{
    return (types >> (4u * slot)) & 15u;
}

float th_f16_to_f32(uint h)
{
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 31u, m = h & 0x3ffu;
    if (e == 0u) {
        float v = float(m) * 5.9604644775390625e-8; // 2^-24
        return sign != 0u ? -v : v;
    }
    if (e == 31u)
        return uintBitsToFloat(sign | 0x7f800000u | (m << 13));
    return uintBitsToFloat(sign | ((e + 112u) << 23) | (m << 13));
}

uint th_f32_to_f16(float f)
{
    uint x = floatBitsToUint(f);
    uint sign = (x >> 16) & 0x8000u;
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u)
        return sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u);
    if (x >= 0x477ff000u)
        return sign | 0x7c00u;
    if (x < 0x38800000u) {
        if (x <= 0x33000000u)
            return sign;
        uint m = (x & 0x7fffffu) | 0x800000u, shift = 126u - (x >> 23);
        uint h = m >> shift;
        uint rem = m & ((1u << shift) - 1u), half_ = 1u << (shift - 1u);
        if (rem > half_ || (rem == half_ && (h & 1u) != 0u))
            h++;
        return sign | h;
    }
    uint h = (x - (112u << 23)) >> 13;
    uint rem = x & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u))
        h++;
    return sign | h;
}

float th_bf16_to_f32(uint h)
{
    return uintBitsToFloat(h << 16);
}

uint th_f32_to_bf16(float f)
{
    uint x = floatBitsToUint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (x >> 16) | 0x40u;
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

int th_to_int(float v, float lo, float hi)
{
    if (isnan(v))
        return 0;
    return int(clamp(roundEven(v), lo, hi));
}

// The word holding element |i| of a buffer of |dt|.
int th_word(uint dt, int i)
{
    if (dt == TH_F16 || dt == TH_BF16)
        return i >> 1;
    if (dt == TH_I8 || dt == TH_U8)
        return i >> 2;
    return i;
}

// Element |i|, out of its word |w|, as float.
float th_decode(uint dt, uint w, int i)
{
    if (dt == TH_F32)
        return uintBitsToFloat(w);
    if (dt == TH_F16)
        return th_f16_to_f32((w >> (16 * (i & 1))) & 0xffffu);
    if (dt == TH_BF16)
        return th_bf16_to_f32((w >> (16 * (i & 1))) & 0xffffu);
    if (dt == TH_I8)
        return float(bitfieldExtract(int(w), 8 * (i & 3), 8));
    if (dt == TH_U8)
        return float((w >> (8 * (i & 3))) & 0xffu);
    if (dt == TH_I32)
        return float(int(w));
    return 0.0;
}

// |v| converted to |dt|, in the low bits.
uint th_encode(uint dt, float v)
{
    if (dt == TH_F32)
        return floatBitsToUint(v);
    if (dt == TH_F16)
        return th_f32_to_f16(v);
    if (dt == TH_BF16)
        return th_f32_to_bf16(v);
    if (dt == TH_I8)
        return uint(th_to_int(v, -128.0, 127.0)) & 0xffu;
    if (dt == TH_U8)
        return uint(th_to_int(v, 0.0, 255.0));
    if (dt == TH_I32)
        return uint(th_to_int(v, -2147483648.0, 2147483520.0));
    return 0u;
}

// Where element |i| of a buffer of |dt| sits in its word, and its bits.
uint th_shift(uint dt, int i)
{
    if (dt == TH_F16 || dt == TH_BF16)
        return uint(16 * (i & 1));
    return uint(8 * (i & 3));
}

uint th_mask(uint dt)
{
    return dt == TH_F16 || dt == TH_BF16 ? 0xffffu : 0xffu;
}

bool th_whole_word(uint dt)
{
    return dt == TH_F32 || dt == TH_I32;
}

// Element |i| of the word array BUF, as float.
#define TH_LOAD(BUF, dt, i) th_decode((dt), BUF[th_word((dt), (i))], (i))

// Stores |v| as element |i| of the word array BUF (not readonly: the
// sub-word stores are atomic).
#define TH_STORE(BUF, dt, i, v)                                                                  \
    {                                                                                            \
        const uint th_dt_ = (dt);                                                                \
        const int th_i_ = (i);                                                                   \
        const uint th_e_ = th_encode(th_dt_, (v));                                               \
        if (th_whole_word(th_dt_)) {                                                             \
            BUF[th_i_] = th_e_;                                                                  \
        } else {                                                                                 \
            const uint th_s_ = th_shift(th_dt_, th_i_);                                          \
            const uint th_m_ = th_mask(th_dt_) << th_s_;                                         \
            atomicAnd(BUF[th_word(th_dt_, th_i_)], ~th_m_);                                      \
            atomicOr(BUF[th_word(th_dt_, th_i_)], (th_e_ << th_s_) & th_m_);                     \
        }                                                                                        \
    }

// The element index of flat item |t| of a [n0, n1, n2, n3] box (row-major)
// in a view with strides |s| from element |off|.
int th_index(uint t, uvec4 n, ivec4 s, uint off)
{
    uint i3 = t % n.w;
    t /= n.w;
    uint i2 = t % n.z;
    t /= n.z;
    uint i1 = t % n.y;
    uint i0 = t / n.y;
    return int(off) + int(i0) * s.x + int(i1) * s.y + int(i2) * s.z + int(i3) * s.w;
}

ivec4 th_strides(uvec2 lo, uvec2 hi)
{
    return ivec4(int(lo.x), int(lo.y), int(hi.x), int(hi.y));
}

// Operation codes and epilogues: kernels/common/tensor_codes.h.
const uint TH_OP_BINARY = 16u;
const float TH_GELU_K = 1.5957691216057308;
const float TH_SQRT1_2 = 0.70710678118654752;

// erfc(x): Numerical Recipes' Chebyshev fit (relative error below 1.2e-7
// for every x; GLSL has no erf).
float th_erfc(float x)
{
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 +
                      t * (1.00002368 +
                      t * (0.37409196 +
                      t * (0.09678418 +
                      t * (-0.18628806 +
                      t * (0.27886807 +
                      t * (-1.13520398 +
                      t * (1.48851587 +
                      t * (-0.82215223 +
                      t * 0.17087277)))))))));
    return x >= 0.0 ? r : 2.0 - r;
}

// tanh through exp of a non-positive argument (no overflow), as GLSL's own
// tanh carries no accuracy Vulkan states.
float th_tanh(float x)
{
    float e = exp(-2.0 * abs(x));
    float r = (1.0 - e) / (1.0 + e);
    return x < 0.0 ? -r : r;
}

float th_gelu_tanh(float x)
{
    return x / (1.0 + exp(-TH_GELU_K * (x + 0.044715 * x * x * x)));
}

float th_gelu_erf(float x)
{
    return 0.5 * x * th_erfc(-x * TH_SQRT1_2);
}

float th_activation(uint act, float x)
{
    if (act == 1u)
        return x > 0.0 ? x : 0.0;
    if (act == 2u)
        return th_gelu_tanh(x);
    if (act == 3u)
        return th_gelu_erf(x);
    if (act == 4u)
        return x / (1.0 + exp(-x));
    return x;
}

float th_apply(uint op, float a, float b, float alpha, float beta)
{
    switch (op) {
    case 1u: return a > 0.0 ? a : 0.0;
    case 2u: return th_gelu_tanh(a);
    case 3u: return th_gelu_erf(a);
    case 4u: return a / (1.0 + exp(-a));
    case 5u: return exp(a);
    case 6u: return th_tanh(a);
    case 7u: return 1.0 / (1.0 + exp(-a));
    case 8u: return alpha * a + beta;
    case 16u: return a + b;
    case 17u: return a - b;
    case 18u: return a * b;
    case 19u: return a / b;
    case 20u: return a > b ? a : b;
    case 21u: return a < b ? a : b;
    case 22u: return (a - alpha) * b + beta;
    }
    return a;
}

// sin and cos of x (|x| up to about 8192), to about 2 ulp: reduced by pi/2
// in three parts (Cody and Waite), then Cephes' polynomials on
// [-pi/4, pi/4]. GLSL's own sin and cos carry 2^-11 absolute error at best
// (Vulkan's precision table), too little for rotary embeddings.
vec2 th_sincos(float x)
{
    float j = roundEven(x * 0.63661977236758134);
    float r = ((x - j * 1.5703125) - j * 4.837512969970703125e-4) - j * 7.54978995489188216e-8;
    float z = r * r;
    float s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    float c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) *
                  z * z - 0.5 * z + 1.0;
    int q = int(j) & 3;
    if (q == 0)
        return vec2(s, c);
    if (q == 1)
        return vec2(c, -s);
    if (q == 2)
        return vec2(-s, -c);
    return vec2(-c, s);
}

/* C form of matmul_i8: y[i,j] = float(sum_p a[i,p] b[j,p]) * sa[i] * sb[j].
 * a is m x k, b is n x k (both int8, row-major: the rows quantize_i8 makes
 * of activations and of weights), the dot products are exact in int32 for
 * k <= 131071, and the rescale is two float multiplies in this order, so
 * every form gives the same bits. The grid is (n, m); a call gets a box.
 *
 * Three ways, the first that applies (issue 18; aidev_matmul_i8_path()
 * names it, for aidev-info -v and the bench):
 *  - oneDNN (built with it, a CPU with AVX-512 VNNI or AVX-VNNI, and
 *    AIDEV_CPU_INT8 unset or "auto"): one
 *    dnnl_gemm_s8s8s32 call for the whole product, made from the box that
 *    holds item (0,0) as sgemm does with OpenBLAS (oneDNN threads it
 *    itself). Its int32 sums land in y's own memory (an int32 and a float
 *    have one size) and are rescaled there. Without VNNI, oneDNN's int8
 *    GEMM may saturate intermediate 16-bit sums (its documentation's
 *    "int8 computations" note), which would break exactness: not used.
 *  - AVX2: each box with blocks of 2 rows of a by 4 rows of b, int8
 *    widened to int16 and multiplied pairwise into int32 (vpmaddwd: two
 *    products of at most 127 * 128 never leave int32, nothing saturates).
 *  - a plain loop elsewhere. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "aidev_config.h"
#include "hal/env.h"
#include "kernels/host_kernel.h"
#include "kernels/matmul_i8/matmul_i8_path.h"

#if AIDEV_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#define MATMUL_I8_X86 1
#else
#define MATMUL_I8_X86 0
#endif

static int32_t dot_i8(const int8_t *x, const int8_t *y, uint32_t k)
{
    int32_t acc = 0;
    for (uint32_t p = 0; p < k; p++)
        acc += (int32_t)x[p] * (int32_t)y[p];
    return acc;
}

static inline float rescale(int32_t acc, float sa, float sb)
{
    return (float)acc * sa * sb;
}

#if MATMUL_I8_X86
/* The sum of the eight int32 lanes of |v|. */
__attribute__((target("avx2"))) static int32_t sum_lanes(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* 16 int8 at |p| widened to int16. */
__attribute__((target("avx2"))) static inline __m256i load_i16(const int8_t *p)
{
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

__attribute__((target("avx2"))) static int32_t dot_i8_avx2(const int8_t *x, const int8_t *y,
                                                           uint32_t k)
{
    __m256i acc = _mm256_setzero_si256();
    uint32_t p = 0;
    for (; p + 16 <= k; p += 16)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(load_i16(x + p), load_i16(y + p)));
    int32_t s = sum_lanes(acc);
    for (; p < k; p++)
        s += (int32_t)x[p] * (int32_t)y[p];
    return s;
}

/* out[r][c] = dot(a rows i, i+1; b rows j..j+3): each load of a row serves
 * four products, each of b two. */
__attribute__((target("avx2"))) static void block_2x4_avx2(const int8_t *a, const int8_t *b,
                                                           uint32_t k, int32_t out[2][4])
{
    __m256i acc[2][4];
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 4; c++)
            acc[r][c] = _mm256_setzero_si256();
    uint32_t p = 0;
    for (; p + 16 <= k; p += 16) {
        const __m256i a0 = load_i16(a + p), a1 = load_i16(a + k + p);
        for (int c = 0; c < 4; c++) {
            const __m256i bc = load_i16(b + (size_t)c * k + p);
            acc[0][c] = _mm256_add_epi32(acc[0][c], _mm256_madd_epi16(a0, bc));
            acc[1][c] = _mm256_add_epi32(acc[1][c], _mm256_madd_epi16(a1, bc));
        }
    }
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 4; c++) {
            int32_t s = sum_lanes(acc[r][c]);
            for (uint32_t q = p; q < k; q++)
                s += (int32_t)a[(size_t)r * k + q] * (int32_t)b[(size_t)c * k + q];
            out[r][c] = s;
        }
}

/* The box [i0, i1) x [j0, j1) of y, in 2 x 4 blocks, single products at
 * its edges. */
__attribute__((target("avx2"))) static void box_avx2(const int8_t *a, const float *sa,
                                                     const int8_t *b, const float *sb, float *y,
                                                     uint32_t n, uint32_t k, uint32_t i0,
                                                     uint32_t i1, uint32_t j0, uint32_t j1)
{
    uint32_t i = i0;
    for (; i + 2 <= i1; i += 2) {
        uint32_t j = j0;
        for (; j + 4 <= j1; j += 4) {
            int32_t s[2][4];
            block_2x4_avx2(a + (size_t)i * k, b + (size_t)j * k, k, s);
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 4; c++)
                    y[(size_t)(i + r) * n + j + c] = rescale(s[r][c], sa[i + r], sb[j + c]);
        }
        for (; j < j1; j++)
            for (uint32_t r = i; r < i + 2; r++)
                y[(size_t)r * n + j] =
                    rescale(dot_i8_avx2(a + (size_t)r * k, b + (size_t)j * k, k), sa[r], sb[j]);
    }
    for (; i < i1; i++)
        for (uint32_t j = j0; j < j1; j++)
            y[(size_t)i * n + j] =
                rescale(dot_i8_avx2(a + (size_t)i * k, b + (size_t)j * k, k), sa[i], sb[j]);
}
#endif

#if AIDEV_HAVE_DNNL
/* Whether oneDNN computes the product: the CPU has the instructions with
 * which its int8 GEMM sums exactly, and AIDEV_CPU_INT8 is not "aidev" (which
 * runs aidev's own loops, so that they are tested on such CPUs too). Read
 * once: 1 yes, 0 no, -1 not yet. */
static bool use_dnnl(void)
{
    static atomic_int decided = -1;
    int d = atomic_load_explicit(&decided, memory_order_relaxed);
    if (d < 0) {
#if MATMUL_I8_X86
        d = (__builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni")) &&
            aidev_env_cpu_int8_auto();
#else
        d = 0;
#endif
        atomic_store_explicit(&decided, d, memory_order_relaxed);
    }
    return d == 1;
}

/* The whole product through oneDNN: int32 sums into y, then rescaled in
 * place. False when oneDNN refused (the caller computes it itself). */
static bool whole_dnnl(uint32_t m, uint32_t n, uint32_t k, const int8_t *a, const float *sa,
                       const int8_t *b, const float *sb, float *y)
{
    int32_t *acc = (int32_t *)(void *)y;
    const int32_t no_offset = 0;
    if (dnnl_gemm_s8s8s32('N', 'T', 'F', m, n, k, 1.0f, a, k ? k : 1, 0, b, k ? k : 1, 0, 0.0f,
                          acc, n, &no_offset) != dnnl_success)
        return false;
    for (uint32_t i = 0; i < m; i++)
        for (uint32_t j = 0; j < n; j++) {
            const size_t at = (size_t)i * n + j;
            int32_t s;
            memcpy(&s, &y[at], sizeof s); /* the int32 oneDNN wrote there */
            y[at] = rescale(s, sa[i], sb[j]);
        }
    return true;
}
#endif

#if AIDEV_HAVE_DNNL
#define MATMUL_I8_NO_DNNL "oneDNN unused: no VNNI, or AIDEV_CPU_INT8=aidev"
#else
#define MATMUL_I8_NO_DNNL "built without oneDNN"
#endif

const char *aidev_matmul_i8_path(void)
{
#if AIDEV_HAVE_DNNL
    if (use_dnnl())
        return "oneDNN dnnl_gemm_s8s8s32 (VNNI)";
#endif
#if MATMUL_I8_X86
    if (__builtin_cpu_supports("avx2"))
        return "aidev AVX2 (" MATMUL_I8_NO_DNNL ")";
#endif
    return "aidev plain C loop (" MATMUL_I8_NO_DNNL ")";
}

AIDEV_HOST_KERNEL(matmul_i8)
{
    const uint32_t m = AIDEV_HOST_SCALAR(args, 0, uint32_t);
    const uint32_t n = AIDEV_HOST_SCALAR(args, 1, uint32_t);
    const uint32_t k = AIDEV_HOST_SCALAR(args, 2, uint32_t);
    const int8_t *a = args[3];
    const float *sa = args[4];
    const int8_t *b = args[5];
    const float *sb = args[6];
    float *y = args[7];
    const uint32_t j_end = aidev_host_end(range, 0, n);
    const uint32_t i_end = aidev_host_end(range, 1, m);

#if AIDEV_HAVE_DNNL
    if (use_dnnl()) {
        if (range->begin[0] || range->begin[1] || range->begin[2])
            return;
        if (m && n && whole_dnnl(m, n, k, a, sa, b, sb, y))
            return;
        /* oneDNN refused: this box is the whole grid's first; the others
         * have returned, so it computes the whole product. */
        for (uint32_t i = 0; i < m; i++)
            for (uint32_t j = 0; j < n; j++)
                y[(size_t)i * n + j] =
                    rescale(dot_i8(a + (size_t)i * k, b + (size_t)j * k, k), sa[i], sb[j]);
        return;
    }
#endif
#if MATMUL_I8_X86
    if (__builtin_cpu_supports("avx2")) {
        if (range->begin[1] < i_end && range->begin[0] < j_end)
            box_avx2(a, sa, b, sb, y, n, k, range->begin[1], i_end, range->begin[0], j_end);
        return;
    }
#endif
    for (uint32_t i = range->begin[1]; i < i_end; i++) {
        const int8_t *ai = a + (size_t)i * k;
        for (uint32_t j = range->begin[0]; j < j_end; j++)
            y[(size_t)i * n + j] = rescale(dot_i8(ai, b + (size_t)j * k, k), sa[i], sb[j]);
    }
}

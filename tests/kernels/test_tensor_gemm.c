/* GEMM on every device: aidev_enqueue_gemm (batch axes broadcast NumPy
 * style, transposes, leading dimensions as padded layouts, alpha/beta, a
 * bias broadcast to m x n, activations, f32/f16/bf16 in any mix) and
 * aidev_enqueue_gemm_strided_batched, against a reference in double.
 *
 * Generated cases: sizes of 1, primes, sizes off the GPU forms' 64 x 64
 * tiles, k = 0; batches of each shape; each case in another layout,
 * transposes, alpha/beta, bias shape and activation, once in f32 and once
 * in a type mix; then one large case. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

typedef struct gemm_shape {
    uint32_t ra, rb, rc;        /* ranks: 2 + batch axes */
    int64_t ba[2], bb[2], bc[2]; /* batch axes (the first ra - 2 used) */
    int64_t m, n, k;
} gemm_shape;

static const gemm_shape shapes[] = {
    {2, 2, 2, {0}, {0}, {0}, 1, 1, 1},
    {2, 2, 2, {0}, {0}, {0}, 7, 13, 5},
    {2, 2, 2, {0}, {0}, {0}, 65, 67, 129},
    {2, 2, 2, {0}, {0}, {0}, 3, 4, 0},
    {3, 3, 3, {5}, {5}, {5}, 9, 11, 17},
    {4, 2, 4, {2, 3}, {0}, {2, 3}, 6, 5, 4},
    {4, 4, 4, {3, 1}, {1, 4}, {3, 4}, 5, 3, 7},
    {2, 2, 2, {0}, {0}, {0}, 1, 300, 33},
    {2, 2, 2, {0}, {0}, {0}, 130, 1, 70},
};
#define SHAPE_COUNT (sizeof shapes / sizeof shapes[0])

static const aidev_type mixes[][4] = {/* a, b, c, bias */
                                      {AIDEV_TYPE_F16, AIDEV_TYPE_BF16, AIDEV_TYPE_F32, AIDEV_TYPE_F16},
                                      {AIDEV_TYPE_BF16, AIDEV_TYPE_F32, AIDEV_TYPE_F16, AIDEV_TYPE_F32},
                                      {AIDEV_TYPE_F32, AIDEV_TYPE_F16, AIDEV_TYPE_BF16, AIDEV_TYPE_BF16}};

typedef enum bias_kind { BIAS_NONE, BIAS_N, BIAS_M1, BIAS_MN, BIAS_SCALAR, BIAS_KIND_COUNT_ } bias_kind;

static double ref_activation(aidev_activation act, double v, double *extra)
{
    double y = v;
    switch (act) {
    case AIDEV_ACT_RELU: y = v > 0 ? v : 0; break;
    case AIDEV_ACT_GELU_TANH:
        y = v / (1 + exp(-2 * sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        break;
    case AIDEV_ACT_GELU_ERF: y = 0.5 * v * erfc(-v / sqrt(2.0)); break;
    case AIDEV_ACT_SILU: y = v / (1 + exp(-v)); break;
    default: break;
    }
    *extra = act == AIDEV_ACT_NONE ? 0 : fabs(y) * (1 + v * v);
    return y;
}

typedef struct gemm_run {
    const gemm_shape *s;
    aidev_type ta, tb, tc, tbias;
    tc_layout la, lb, lc;
    bool trans_a, trans_b;
    float alpha, beta;
    bias_kind bias;
    aidev_activation act;
    uint64_t seed;
} gemm_run;

/* Element (batch z of c's batch shape, i, j) of a matrix operand. */
static double mat_at(const tc_tensor *t, const int64_t *cbatch, uint32_t cb_rank, int64_t z,
                     int64_t i, int64_t j, bool trans)
{
    int64_t idx[4] = {0, 0, 0, 0};
    uint32_t tb = t->rank - 2;
    /* c's batch index, right-aligned onto t's batch axes, 0 where t repeats. */
    int64_t bi[2] = {0, 0};
    for (int q = (int)cb_rank; q-- > 0;) {
        bi[q] = z % cbatch[q];
        z /= cbatch[q];
    }
    for (uint32_t q = 0; q < tb; q++) {
        int64_t cq = (int64_t)q + (int64_t)cb_rank - (int64_t)tb;
        idx[q] = t->shape[q] == 1 ? 0 : bi[cq];
    }
    idx[tb] = trans ? j : i;
    idx[tb + 1] = trans ? i : j;
    return tc_at_index(t, idx);
}

static void run_case(const kc_device *d, const gemm_run *r)
{
    const gemm_shape *s = r->s;
    const int64_t m = s->m, n = s->n, k = s->k;
    int64_t sa[4], sb[4], sc[4];
    memcpy(sa, s->ba, sizeof s->ba);
    memcpy(sb, s->bb, sizeof s->bb);
    memcpy(sc, s->bc, sizeof s->bc);
    sa[s->ra - 2] = r->trans_a ? k : m, sa[s->ra - 1] = r->trans_a ? m : k;
    sb[s->rb - 2] = r->trans_b ? n : k, sb[s->rb - 1] = r->trans_b ? k : n;
    sc[s->rc - 2] = m, sc[s->rc - 1] = n;
    tc_tensor a, b, c, bias;
    tc_make(&a, d, r->ta, s->ra, sa, r->la, -1, 1, r->seed);
    tc_make(&b, d, r->tb, s->rb, sb, r->lb, -1, 1, r->seed + 1);
    tc_make(&c, d, r->tc, s->rc, sc, r->lc, -1, 1, r->seed + 2);
    int64_t bshape[2];
    uint32_t brank = 0;
    switch (r->bias) {
    case BIAS_N: bshape[0] = n, brank = 1; break;
    case BIAS_M1: bshape[0] = m, bshape[1] = 1, brank = 2; break;
    case BIAS_MN: bshape[0] = m, bshape[1] = n, brank = 2; break;
    default: break;
    }
    if (r->bias != BIAS_NONE)
        tc_make(&bias, d, r->tbias, brank, bshape, TC_STEP2, -1, 1, r->seed + 3);

    const uint32_t cbr = s->rc - 2;
    int64_t batches = 1;
    for (uint32_t q = 0; q < cbr; q++)
        batches *= s->bc[q];
    const size_t nc = tc_count(&c);
    double *ref = kc_alloc(nc * sizeof(double)), *mag = kc_alloc(nc * sizeof(double));
    for (int64_t z = 0; z < batches; z++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0, am = 0;
                for (int64_t p = 0; p < k; p++) {
                    double x = mat_at(&a, s->bc, cbr, z, i, p, r->trans_a) *
                               mat_at(&b, s->bc, cbr, z, p, j, r->trans_b);
                    acc += x;
                    am += fabs(x);
                }
                size_t f = (size_t)((z * m + i) * n + j);
                double v = r->alpha * acc, vm = fabs(r->alpha) * am;
                if (r->beta != 0) {
                    v += r->beta * tc_at(&c, f);
                    vm += fabs(r->beta * tc_at(&c, f));
                }
                if (r->bias != BIAS_NONE) {
                    int64_t bi[2] = {r->bias == BIAS_N ? j : i, j};
                    if (r->bias == BIAS_M1)
                        bi[1] = 0;
                    double bv = tc_at_index(&bias, bi);
                    v += bv;
                    vm += fabs(bv);
                }
                double extra;
                ref[f] = ref_activation(r->act, v, &extra);
                mag[f] = r->act == AIDEV_ACT_NONE ? vm : 1.2 * vm + extra;
            }
    aidev_gemm_params p = {.trans_a = r->trans_a, .trans_b = r->trans_b, .alpha = r->alpha,
                           .beta = r->beta, .activation = r->act};
    aidev_event ev = NULL;
    aidev_status st = aidev_enqueue_gemm(d->queue, &p, &a.desc, &b.desc,
                                         r->bias != BIAS_NONE ? &bias.desc : NULL, &c.desc, 0,
                                         NULL, &ev);
    char what[240];
    snprintf(what, sizeof what,
             "shape case %ld (%lld x %lld x %lld), a %s %s%s, b %s %s%s, c %s %s, alpha %g beta %g, "
             "bias %d, act %d",
             (long)(s - shapes), (long long)m, (long long)n, (long long)k, aidev_type_name(r->ta),
             tc_layout_name(r->la), r->trans_a ? " T" : "", aidev_type_name(r->tb),
             tc_layout_name(r->lb), r->trans_b ? " T" : "", aidev_type_name(r->tc),
             tc_layout_name(r->lc), r->alpha, r->beta, (int)r->bias, (int)r->act);
    ck_assert_msg(st == AIDEV_SUCCESS, "gemm (%s) on %s: %s: %s", what, d->label,
                  aidev_status_string(st), aidev_last_error());
    tc_wait(d, ev, "gemm");
    tc_check(d, &c, "gemm.gemm", what, ref, mag);
    free(ref), free(mag);
    tc_free(&a), tc_free(&b), tc_free(&c);
    if (r->bias != BIAS_NONE)
        tc_free(&bias);
}

START_TEST(test_gemm)
{
    static const float ab[][2] = {{1, 0}, {0.5f, 2}, {-1, 1}};
    kc_device d = kc_open(_i);
    for (size_t c = 0; c < SHAPE_COUNT; c++)
        for (int pass = 0; pass < 2; pass++) {
            const aidev_type *mix = mixes[(c + (size_t)pass) % 3];
            gemm_run r = {.s = &shapes[c],
                          .ta = pass ? mix[0] : AIDEV_TYPE_F32,
                          .tb = pass ? mix[1] : AIDEV_TYPE_F32,
                          .tc = pass ? mix[2] : AIDEV_TYPE_F32,
                          .tbias = pass ? mix[3] : AIDEV_TYPE_F32,
                          .la = (tc_layout)(c % TC_LAYOUT_COUNT_),
                          .lb = (tc_layout)((c + 1 + (size_t)pass) % TC_LAYOUT_COUNT_),
                          .lc = (tc_layout)((c + 2) % TC_LAYOUT_COUNT_),
                          .trans_a = (c + (size_t)pass) % 2 == 1,
                          .trans_b = c % 3 == 2,
                          .alpha = ab[(c + (size_t)pass) % 3][0],
                          .beta = ab[(c + (size_t)pass) % 3][1],
                          .bias = (bias_kind)((c + (size_t)pass) % BIAS_KIND_COUNT_),
                          .act = (aidev_activation)((c + 2 * (size_t)pass) % 5),
                          .seed = 10 * c + (uint64_t)pass};
            run_case(&d, &r);
        }
    /* The large case: the OpenBLAS path on the CPU (f32, unit strides). */
    const gemm_shape large = {2, 2, 2, {0}, {0}, {0}, 256, 320, 288};
    gemm_run r = {.s = &large, .ta = AIDEV_TYPE_F32, .tb = AIDEV_TYPE_F32, .tc = AIDEV_TYPE_F32,
                  .tbias = AIDEV_TYPE_F32, .alpha = 1, .bias = BIAS_N,
                  .act = AIDEV_ACT_GELU_TANH, .seed = 77};
    if (kc_large_cases())
        run_case(&d, &r);
    kc_close(&d);
}
END_TEST

/* The BLAS-style call: batches at a stride, leading dimensions beyond the
 * columns, transposes; against the same products one by one. */
START_TEST(test_strided_batched)
{
    kc_device d = kc_open(_i);
    const uint32_t m = 19, n = 23, k = 31, batch = 6;
    for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 5;
        const int64_t sa = lda * (ta ? k : m) + 7, sb = ldb * (tb ? n : k), sc = ldc * m + 2;
        tc_tensor a, b, c;
        const int64_t ea = sa * batch, eb = sb * batch, ec = sc * batch;
        tc_make(&a, &d, AIDEV_TYPE_F32, 1, &ea, TC_COMPACT, -1, 1, 40 + (uint64_t)t);
        tc_make(&b, &d, t == 3 ? AIDEV_TYPE_F16 : AIDEV_TYPE_F32, 1, &eb, TC_COMPACT, -1, 1,
                50 + (uint64_t)t);
        tc_make(&c, &d, AIDEV_TYPE_F32, 1, &ec, TC_COMPACT, -1, 1, 60 + (uint64_t)t);
        double *ref = kc_alloc((size_t)ec * sizeof(double));
        double *mag = kc_alloc((size_t)ec * sizeof(double));
        for (int64_t e = 0; e < ec; e++)
            ref[e] = tc_at(&c, (size_t)e), mag[e] = 0;
        const float alpha = 0.75f, beta = -0.5f;
        for (uint32_t z = 0; z < batch; z++)
            for (uint32_t i = 0; i < m; i++)
                for (uint32_t j = 0; j < n; j++) {
                    double acc = 0, am = 0;
                    for (uint32_t p = 0; p < k; p++) {
                        double av = tc_at(&a, (size_t)(z * sa + (ta ? p * lda + i : i * lda + p)));
                        double bv = tc_at(&b, (size_t)(z * sb + (tb ? j * ldb + p : p * ldb + j)));
                        acc += av * bv, am += fabs(av * bv);
                    }
                    size_t f = (size_t)(z * sc + i * ldc + j);
                    mag[f] = fabs(alpha) * am + fabs(beta * ref[f]);
                    ref[f] = alpha * acc + beta * ref[f];
                }
        const aidev_gemm_strided desc = {
            .m = m, .n = n, .k = k, .batch = batch, .trans_a = ta, .trans_b = tb, .alpha = alpha,
            .beta = beta, .type_a = AIDEV_TYPE_F32, .type_b = b.dtype, .type_c = AIDEV_TYPE_F32,
            .a = a.buf, .lda = lda, .stride_a = sa, .b = b.buf, .ldb = ldb, .stride_b = sb,
            .c = c.buf, .ldc = ldc, .stride_c = sc};
        aidev_event ev;
        ck_assert_ok(aidev_enqueue_gemm_strided_batched(d.queue, &desc, 0, NULL, &ev));
        tc_wait(&d, ev, "strided batched");
        char what[64];
        snprintf(what, sizeof what, "strided batched, trans %d %d", ta, tb);
        tc_check(&d, &c, "gemm.gemm", what, ref, mag);
        free(ref), free(mag);
        tc_free(&a), tc_free(&b), tc_free(&c);
    }
    kc_close(&d);
}
END_TEST

START_TEST(test_refusals)
{
    kc_device d = kc_open(_i);
    const int64_t sa[2] = {4, 5}, sb[2] = {6, 3}, sc[2] = {4, 3};
    tc_tensor a, b, c;
    tc_make(&a, &d, AIDEV_TYPE_F32, 2, sa, TC_COMPACT, -1, 1, 1);
    tc_make(&b, &d, AIDEV_TYPE_F32, 2, sb, TC_COMPACT, -1, 1, 2);
    tc_make(&c, &d, AIDEV_TYPE_F32, 2, sc, TC_COMPACT, -1, 1, 3);
    ck_assert_error_names(aidev_enqueue_gemm(d.queue, NULL, &a.desc, &b.desc, NULL, &c.desc, 0,
                                             NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "as 4 x 5), b ([6, 3], as 6 x 3)");
    aidev_gemm_params p = {.alpha = 1, .activation = (aidev_activation)9};
    ck_assert_error_names(aidev_enqueue_gemm(d.queue, &p, &a.desc, &a.desc, NULL, &c.desc, 0,
                                             NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "activation 9");
    aidev_tensor v = a.desc;
    v.rank = 1;
    ck_assert_error_names(aidev_enqueue_gemm(d.queue, NULL, &v, &b.desc, NULL, &c.desc, 0, NULL,
                                             NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "a has rank 1");
    v = a.desc;
    v.dtype = AIDEV_TYPE_I8;
    ck_assert_error_names(aidev_enqueue_gemm(d.queue, NULL, &v, &b.desc, NULL, &c.desc, 0, NULL,
                                             NULL),
                          AIDEV_ERROR_UNSUPPORTED, "a has dtype i8");
    const aidev_gemm_strided s = {.m = 4, .n = 3, .k = 5, .batch = 1, .alpha = 1,
                                  .type_a = AIDEV_TYPE_F32, .type_b = AIDEV_TYPE_F32,
                                  .type_c = AIDEV_TYPE_F32, .a = a.buf, .lda = 2,
                                  .b = b.buf, .ldb = 3, .c = c.buf, .ldc = 3};
    ck_assert_error_names(aidev_enqueue_gemm_strided_batched(d.queue, &s, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "lda = 2 is below the 5 columns");
    tc_free(&a), tc_free(&b), tc_free(&c);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-tensor-gemm");
    harness_add_per_device(s, "gemm", test_gemm, 0);
    harness_add_per_device(s, "strided_batched", test_strided_batched, 0);
    harness_add_per_device(s, "refusals", test_refusals, 0);
    return harness_run(s);
}

/* What a transformer's attention is made of, on every device, against
 * references in double: aidev_enqueue_attention (causal and explicit
 * masks, keys all dropped, grouped-query heads, k and v of batch 1, rank 3,
 * strided views, f32 and a type mix), aidev_enqueue_rope (both pair
 * layouts, partial rotation, positions from pos0 or a tensor, in place),
 * aidev_enqueue_embedding (ids outside the table give NaN) and
 * aidev_enqueue_kv_append; then the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

/* ------------------------------------------------------------------------ */
/* Attention                                                                */
/* ------------------------------------------------------------------------ */

typedef enum mask_kind { MASK_NONE, MASK_2D, MASK_FULL } mask_kind;

typedef struct attn_case {
    uint32_t rank;                 /* 4, or 3 (no batch axis) */
    int64_t b, h, hkv, sq, sk, d;
    int64_t kv_b;                  /* k's and v's batch: b or 1 */
    bool causal;
    mask_kind mask;
    bool drop_row;                 /* the mask drops every key of query row 0 */
} attn_case;

static const attn_case attn_cases[] = {
    {4, 1, 1, 1, 1, 1, 1, 1, false, MASK_NONE, false},
    {4, 2, 4, 2, 3, 7, 16, 2, true, MASK_NONE, false},
    {4, 2, 3, 1, 4, 9, 33, 1, false, MASK_2D, true},
    {3, 1, 2, 2, 5, 5, 64, 1, true, MASK_2D, false},
    {4, 1, 2, 1, 6, 4, 8, 1, true, MASK_NONE, false},   /* Sq > Sk: early rows see no key */
    {4, 2, 2, 2, 2, 13, 5, 2, true, MASK_FULL, true},
    {4, 1, 1, 1, 3, 130, 256, 1, false, MASK_NONE, false},
};
#define ATTN_CASE_COUNT (sizeof attn_cases / sizeof attn_cases[0])

/* Logical index of a [B, H, S, D] operand (rank 3: no B). */
static size_t at4(const tc_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d)
{
    const int64_t *n = t->shape;
    if (t->rank == 3)
        return (size_t)((h * n[1] + s) * n[2] + d);
    return (size_t)(((b * n[1] + h) * n[2] + s) * n[3] + d);
}

static void make_operand(tc_tensor *t, const kc_device *d, const attn_case *c, int64_t b,
                         int64_t h, int64_t s, aidev_type type, tc_layout layout, uint64_t seed)
{
    const int64_t shape[4] = {b, h, s, c->d};
    const bool r3 = c->rank == 3;
    tc_make(t, d, type, c->rank, r3 ? shape + 1 : shape, layout, -1, 1, seed);
}

static void attention_reference(const attn_case *c, const tc_tensor *q, const tc_tensor *k,
                                const tc_tensor *v, const tc_tensor *mask, float scale,
                                double *ref, double *mag)
{
    const int64_t group = c->h / c->hkv;
    const int64_t mshape[4] = {c->b, c->h, c->sq, c->sk};
    double *p = kc_alloc((size_t)c->sk * sizeof(double));
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t i = 0; i < c->sq; i++) {
                const int64_t kb = c->kv_b == 1 ? 0 : b, kh = h / group;
                double top = -INFINITY, sigma = 0;
                for (int64_t j = 0; j < c->sk; j++) {
                    double s = 0, sa = 0;
                    for (int64_t e = 0; e < c->d; e++) {
                        double t = tc_at(q, at4(q, b, h, i, e)) * tc_at(k, at4(k, kb, kh, j, e));
                        s += t, sa += fabs(t);
                    }
                    s *= scale;
                    sigma = fmax(sigma, fabs(scale) * sa);
                    if (mask)
                        s += tc_broadcast_at(mask, 4, mshape,
                                             (size_t)(((b * c->h + h) * c->sq + i) * c->sk + j));
                    if (c->causal && j > c->sk - c->sq + i)
                        s = -INFINITY;
                    p[j] = s;
                    top = fmax(top, s);
                }
                double sum = 0;
                for (int64_t j = 0; j < c->sk; j++) {
                    p[j] = top == -INFINITY ? 0 : exp(p[j] - top);
                    sum += p[j];
                }
                for (int64_t e = 0; e < c->d; e++) {
                    double acc = 0, am = 0, vmax = 0;
                    for (int64_t j = 0; j < c->sk; j++) {
                        double vv = tc_at(v, at4(v, kb, kh, j, e));
                        acc += p[j] * vv, am += p[j] * fabs(vv);
                        vmax = fmax(vmax, fabs(vv));
                    }
                    size_t f = (size_t)(((b * c->h + h) * c->sq + i) * c->d + e);
                    ref[f] = sum > 0 ? acc / sum : 0;
                    mag[f] = (sum > 0 ? am / sum : 0) + vmax * (1 + sigma);
                }
            }
    free(p);
}

static void run_attention(const kc_device *d, const attn_case *c, size_t n, bool mixed)
{
    static const tc_layout layouts[] = {TC_COMPACT, TC_PADDED, TC_STEP2};
    const aidev_type tq = mixed ? AIDEV_TYPE_F16 : AIDEV_TYPE_F32;
    const aidev_type tk = mixed ? AIDEV_TYPE_BF16 : AIDEV_TYPE_F32;
    const aidev_type to = mixed && n % 2 ? AIDEV_TYPE_F16 : AIDEV_TYPE_F32;
    tc_tensor q, k, v, o, mask = {0};
    make_operand(&q, d, c, c->b, c->h, c->sq, tq, layouts[n % 3], 10 * n + 1);
    make_operand(&k, d, c, c->kv_b, c->hkv, c->sk, tk, layouts[(n + 1) % 3], 10 * n + 2);
    make_operand(&v, d, c, c->kv_b, c->hkv, c->sk, AIDEV_TYPE_F32, layouts[(n + 2) % 3],
                 10 * n + 3);
    make_operand(&o, d, c, c->b, c->h, c->sq, to, layouts[(n + 1) % 3], 10 * n + 4);
    if (c->mask != MASK_NONE) {
        const int64_t full[4] = {c->b, c->h, c->sq, c->sk};
        const bool two = c->mask == MASK_2D;
        tc_make(&mask, d, mixed ? AIDEV_TYPE_F16 : AIDEV_TYPE_F32, two ? 2 : 4,
                two ? full + 2 : full, two ? TC_PADDED : TC_TRANSPOSED, -2, 1, 10 * n + 5);
        const size_t cols = (size_t)c->sk, count = tc_count(&mask);
        for (size_t e = 0; e < count; e++)
            if ((c->drop_row && e < cols) || e % 5 == 3)
                tc_set(&mask, e, -INFINITY);
        tc_upload(d, &mask);
    }
    const aidev_attention_params p = {.scale = n % 2 ? 0.0f : 0.3f, .causal = c->causal};
    const float scale = p.scale != 0.0f ? p.scale : 1.0f / sqrtf((float)c->d);
    const size_t count = tc_count(&o);
    double *ref = kc_alloc(count * sizeof(double)), *mag = kc_alloc(count * sizeof(double));
    attention_reference(c, &q, &k, &v, c->mask != MASK_NONE ? &mask : NULL, scale, ref, mag);
    aidev_event ev;
    ck_assert_msg(aidev_enqueue_attention(d->queue, &p, &q.desc, &k.desc, &v.desc,
                                          c->mask != MASK_NONE ? &mask.desc : NULL, &o.desc, 0,
                                          NULL, &ev) == AIDEV_SUCCESS,
                  "attention case %zu on %s: %s", n, d->label, aidev_last_error());
    tc_wait(d, ev, "attention");
    char what[160];
    snprintf(what, sizeof what,
             "case %zu: B %lld H %lld Hkv %lld Sq %lld Sk %lld D %lld%s, mask %d, %s", n,
             (long long)c->b, (long long)c->h, (long long)c->hkv, (long long)c->sq,
             (long long)c->sk, (long long)c->d, c->causal ? " causal" : "", (int)c->mask,
             mixed ? "f16/bf16/f32 mix" : "f32");
    tc_check(d, &o, "attention.attention", what, ref, mag);
    free(ref), free(mag);
    tc_free(&q), tc_free(&k), tc_free(&v), tc_free(&o);
    if (mask.buf)
        tc_free(&mask);
}

START_TEST(test_attention)
{
    kc_device d = kc_open(_i);
    for (size_t n = 0; n < ATTN_CASE_COUNT; n++)
        for (int mixed = 0; mixed < 2; mixed++)
            run_attention(&d, &attn_cases[n], n, mixed);
    kc_close(&d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Rotary position embedding                                                */
/* ------------------------------------------------------------------------ */

typedef struct rope_case {
    uint32_t rank;
    int64_t shape[4];
    int32_t seq_axis;
    aidev_rope_mode mode;
    uint32_t rot;
    bool positions, in_place;
    float base, freq_scale;
    int32_t pos0;
} rope_case;

static const rope_case rope_cases[] = {
    {2, {1, 2}, -2, AIDEV_ROPE_INTERLEAVED, 0, false, false, 0, 0, 0},
    {3, {7, 5, 16}, 1, AIDEV_ROPE_NEOX, 0, false, false, 0, 0, 3},
    {4, {2, 3, 6, 10}, 2, AIDEV_ROPE_INTERLEAVED, 6, true, false, 500, 0, 0},
    {4, {1, 9, 2, 64}, 1, AIDEV_ROPE_NEOX, 32, true, true, 0, 0.5f, 0},
    {3, {4, 130, 128}, -2, AIDEV_ROPE_INTERLEAVED, 0, false, true, 0, 0, 1000},
};
#define ROPE_CASE_COUNT (sizeof rope_cases / sizeof rope_cases[0])

static void run_rope(const kc_device *d, const rope_case *c, size_t n)
{
    static const aidev_type types[] = {AIDEV_TYPE_F32, AIDEV_TYPE_F16, AIDEV_TYPE_BF16};
    const int32_t seq = c->seq_axis < 0 ? c->seq_axis + (int32_t)c->rank : c->seq_axis;
    const int64_t len = c->shape[seq], dim = c->shape[c->rank - 1];
    const uint32_t rot = c->rot ? c->rot : (uint32_t)dim;
    tc_tensor x, y, pos = {0};
    tc_make(&x, d, n == 0 ? AIDEV_TYPE_F32 : types[n % 3], c->rank, c->shape,
            (tc_layout)(n % TC_LAYOUT_COUNT_), -2, 2, 700 + n);
    if (!c->in_place)
        tc_make(&y, d, types[(n + 1) % 3], c->rank, c->shape,
                (tc_layout)((n + 2) % TC_LAYOUT_COUNT_), 0, 1, 710 + n);
    if (c->positions) {
        tc_make(&pos, d, AIDEV_TYPE_I32, 1, &len, TC_STEP2, 0, 4000, 720 + n);
        tc_set(&pos, 0, 0);
        tc_upload(d, &pos);
    }
    const size_t count = tc_count(&x);
    double *ref = kc_alloc(count * sizeof(double)), *mag = kc_alloc(count * sizeof(double));
    const double base = c->base > 0 ? c->base : 10000.0, fs = c->freq_scale ? c->freq_scale : 1.0;
    const size_t inner = (size_t)dim;
    size_t seq_step = 1;
    for (uint32_t a = (uint32_t)seq + 1; a < c->rank; a++)
        seq_step *= (size_t)c->shape[a];
    for (size_t row = 0; row < count / inner; row++) {
        const size_t f0 = row * inner;
        const int64_t si = (int64_t)((f0 / seq_step) % (size_t)len);
        const double p = c->positions ? tc_at(&pos, (size_t)si) : (double)(c->pos0 + si);
        for (uint32_t e = (uint32_t)rot; e < inner; e++)
            ref[f0 + e] = tc_at(&x, f0 + e), mag[f0 + e] = fabs(ref[f0 + e]);
        for (uint32_t i = 0; i < rot / 2; i++) {
            const uint32_t ia = c->mode == AIDEV_ROPE_NEOX ? i : 2 * i;
            const uint32_t ib = c->mode == AIDEV_ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
            const double theta = p * fs * pow(base, -2.0 * i / rot);
            const double a = tc_at(&x, f0 + ia), b = tc_at(&x, f0 + ib);
            ref[f0 + ia] = a * cos(theta) - b * sin(theta);
            ref[f0 + ib] = a * sin(theta) + b * cos(theta);
            mag[f0 + ia] = mag[f0 + ib] = (fabs(a) + fabs(b)) * (1 + fabs(theta));
        }
    }
    tc_tensor *out = c->in_place ? &x : &y;
    const aidev_rope_params p = {.mode = c->mode, .rot_dims = c->rot, .base = c->base,
                                 .freq_scale = c->freq_scale, .seq_axis = c->seq_axis,
                                 .pos0 = c->pos0};
    aidev_event ev;
    ck_assert_msg(aidev_enqueue_rope(d->queue, &p, c->positions ? &pos.desc : NULL, &x.desc,
                                     &out->desc, 0, NULL, &ev) == AIDEV_SUCCESS,
                  "rope case %zu on %s: %s", n, d->label, aidev_last_error());
    tc_wait(d, ev, "rope");
    char what[120];
    snprintf(what, sizeof what, "case %zu: rank %u, %s, rot %u%s%s, x %s", n, c->rank,
             c->mode == AIDEV_ROPE_NEOX ? "neox" : "interleaved", rot,
             c->positions ? ", positions" : "", c->in_place ? ", in place" : "",
             aidev_type_name(x.dtype));
    tc_check(d, out, "rope.rope", what, ref, mag);
    free(ref), free(mag);
    tc_free(&x);
    if (!c->in_place)
        tc_free(&y);
    if (pos.buf)
        tc_free(&pos);
}

START_TEST(test_rope)
{
    kc_device d = kc_open(_i);
    for (size_t n = 0; n < ROPE_CASE_COUNT; n++)
        run_rope(&d, &rope_cases[n], n);
    kc_close(&d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Embedding gather and KV-cache append                                     */
/* ------------------------------------------------------------------------ */

static void run_embedding(const kc_device *d, uint32_t id_rank, const int64_t *ids_shape,
                          int64_t vocab, int64_t dim, aidev_type tt, aidev_type to, size_t n)
{
    const int64_t tshape[2] = {vocab, dim};
    tc_tensor ids, table, out;
    tc_make(&ids, d, AIDEV_TYPE_I32, id_rank, ids_shape, (tc_layout)(n % TC_LAYOUT_COUNT_), 0,
            (double)vocab, 800 + n);
    const size_t nid = tc_count(&ids);
    /* Ids outside the table: a NaN row each. */
    if (nid > 2) {
        tc_set(&ids, 1, (double)vocab);
        tc_set(&ids, nid - 1, -1);
        tc_upload(d, &ids);
    }
    tc_make(&table, d, tt, 2, tshape, (tc_layout)((n + 1) % TC_LAYOUT_COUNT_), -3, 3, 810 + n);
    int64_t oshape[4];
    for (uint32_t i = 0; i < id_rank; i++)
        oshape[i] = ids_shape[i];
    oshape[id_rank] = dim;
    tc_make(&out, d, to, id_rank + 1, oshape, (tc_layout)((n + 2) % TC_LAYOUT_COUNT_), 0, 1,
            820 + n);
    const size_t count = tc_count(&out);
    double *ref = kc_alloc(count * sizeof(double));
    for (size_t i = 0; i < nid; i++) {
        const double id = tc_at(&ids, i);
        for (int64_t e = 0; e < dim; e++) {
            const int64_t idx[2] = {(int64_t)id, e};
            ref[i * (size_t)dim + (size_t)e] = id >= 0 && id < vocab ? tc_at_index(&table, idx)
                                                                     : NAN;
        }
    }
    aidev_event ev;
    ck_assert_msg(aidev_enqueue_embedding(d->queue, &ids.desc, &table.desc, &out.desc, 0, NULL,
                                          &ev) == AIDEV_SUCCESS,
                  "embedding case %zu on %s: %s", n, d->label, aidev_last_error());
    tc_wait(d, ev, "embedding");
    char what[96];
    snprintf(what, sizeof what, "case %zu: %zu ids of a %lld x %lld %s table", n, nid,
             (long long)vocab, (long long)dim, aidev_type_name(tt));
    tc_check(d, &out, "embedding.embedding", what, ref, NULL);
    free(ref);
    tc_free(&ids), tc_free(&table), tc_free(&out);
}

START_TEST(test_embedding)
{
    kc_device d = kc_open(_i);
    const int64_t one = 1, row[1] = {7}, two[2] = {2, 5}, three[3] = {2, 3, 4};
    run_embedding(&d, 1, &one, 1, 1, AIDEV_TYPE_F32, AIDEV_TYPE_F32, 0);
    run_embedding(&d, 1, row, 50, 13, AIDEV_TYPE_F16, AIDEV_TYPE_F32, 1);
    run_embedding(&d, 2, two, 11, 64, AIDEV_TYPE_F32, AIDEV_TYPE_BF16, 2);
    run_embedding(&d, 3, three, 257, 9, AIDEV_TYPE_BF16, AIDEV_TYPE_F16, 3);
    const int64_t tokens[1] = {33};
    if (kc_large_cases())
        run_embedding(&d, 1, tokens, 5000, 768, AIDEV_TYPE_F32, AIDEV_TYPE_F32, 4);
    kc_close(&d);
}
END_TEST

/* Appends n rows at |pos| along the sequence axis of a [H, S, D] cache
 * (or the whole [B, H, S, D] one): the rest of the cache keeps its values. */
static void run_kv_append(const kc_device *d, uint32_t rank, const int64_t *cshape,
                          int32_t axis, uint32_t pos, int64_t len, aidev_type ts,
                          aidev_type tcache, size_t n)
{
    tc_tensor src, cache;
    int64_t sshape[4];
    const uint32_t ax = (uint32_t)(axis < 0 ? axis + (int32_t)rank : axis);
    for (uint32_t i = 0; i < rank; i++)
        sshape[i] = i == ax ? len : cshape[i];
    tc_make(&src, d, ts, rank, sshape, (tc_layout)(n % TC_LAYOUT_COUNT_), -4, 4, 900 + n);
    tc_make(&cache, d, tcache, rank, cshape, n % 2 ? TC_PADDED : TC_COMPACT, -1, 1, 910 + n);
    const size_t count = tc_count(&cache);
    double *ref = kc_alloc(count * sizeof(double));
    for (size_t f = 0; f < count; f++) {
        int64_t idx[4], rest = (int64_t)f;
        for (uint32_t i = rank; i-- > 0;) {
            idx[i] = rest % cshape[i];
            rest /= cshape[i];
        }
        const int64_t at = idx[ax];
        if (at >= (int64_t)pos && at < (int64_t)pos + len) {
            idx[ax] = at - (int64_t)pos;
            ref[f] = tc_at_index(&src, idx);
        } else {
            ref[f] = tc_at(&cache, f);
        }
    }
    aidev_event ev;
    ck_assert_msg(aidev_enqueue_kv_append(d->queue, axis, pos, &src.desc, &cache.desc, 0, NULL,
                                          &ev) == AIDEV_SUCCESS,
                  "kv_append case %zu on %s: %s", n, d->label, aidev_last_error());
    tc_wait(d, ev, "kv_append");
    char what[96];
    snprintf(what, sizeof what, "case %zu: %lld at %u along axis %d, %s into %s", n,
             (long long)len, pos, axis, aidev_type_name(ts), aidev_type_name(tcache));
    tc_check(d, &cache, "kv_append.kv_append", what, ref, NULL);
    free(ref);
    tc_free(&src), tc_free(&cache);
}

START_TEST(test_kv_append)
{
    kc_device d = kc_open(_i);
    const int64_t c3[3] = {3, 16, 8}, c4[4] = {2, 2, 9, 5};
    run_kv_append(&d, 3, c3, 1, 0, 5, AIDEV_TYPE_F32, AIDEV_TYPE_F32, 0);
    run_kv_append(&d, 3, c3, -2, 15, 1, AIDEV_TYPE_F32, AIDEV_TYPE_F16, 1);
    run_kv_append(&d, 4, c4, 2, 4, 3, AIDEV_TYPE_BF16, AIDEV_TYPE_F32, 2);
    run_kv_append(&d, 3, c3, 1, 7, 0, AIDEV_TYPE_F16, AIDEV_TYPE_BF16, 3);
    kc_close(&d);
}
END_TEST

START_TEST(test_refusals)
{
    kc_device d = kc_open(_i);
    const int64_t qs[4] = {1, 3, 2, 8}, ks[4] = {1, 2, 4, 8};
    tc_tensor q, k;
    tc_make(&q, &d, AIDEV_TYPE_F32, 4, qs, TC_COMPACT, -1, 1, 1);
    tc_make(&k, &d, AIDEV_TYPE_F32, 4, ks, TC_COMPACT, -1, 1, 2);
    ck_assert_error_names(aidev_enqueue_attention(d.queue, NULL, &q.desc, &k.desc, &k.desc, NULL,
                                                  &q.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "H a multiple of Hkv");
    aidev_tensor t;
    ck_assert_ok(aidev_tensor_permute(&k.desc, (const uint32_t[]){0, 1, 3, 2}, &t));
    ck_assert_error_names(aidev_enqueue_attention(d.queue, NULL, &q.desc, &t, &k.desc, NULL,
                                                  &q.desc, 0, NULL, NULL),
                          AIDEV_ERROR_UNSUPPORTED, "k's last axis (head dim) has stride 8");
    aidev_rope_params rp = {.rot_dims = 3, .seq_axis = 2};
    ck_assert_error_names(aidev_enqueue_rope(d.queue, &rp, NULL, &q.desc, &q.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "rot_dims 3");
    rp.rot_dims = 0, rp.seq_axis = 3;
    ck_assert_error_names(aidev_enqueue_rope(d.queue, &rp, NULL, &q.desc, &q.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "seq_axis 3 for x of rank 4");
    ck_assert_error_names(aidev_enqueue_kv_append(d.queue, 2, 3, &q.desc, &k.desc, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "2 entries at position 3");
    ck_assert_error_names(aidev_enqueue_kv_append(d.queue, 2, 0, &q.desc, &k.desc, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "src has 3 along axis 1, the cache 2");
    const int64_t is[1] = {4};
    tc_tensor ids;
    tc_make(&ids, &d, AIDEV_TYPE_I32, 1, is, TC_COMPACT, 0, 2, 3);
    ck_assert_error_names(aidev_enqueue_embedding(d.queue, &ids.desc, &k.desc, &q.desc, 0, NULL,
                                                  NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "a table [V, D]");
    tc_free(&q), tc_free(&k), tc_free(&ids);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-tensor-attention");
    harness_add_per_device(s, "attention", test_attention, 0);
    harness_add_per_device(s, "rope", test_rope, 0);
    harness_add_per_device(s, "embedding", test_embedding, 0);
    harness_add_per_device(s, "kv_append", test_kv_append, 0);
    harness_add_per_device(s, "refusals", test_refusals, 0);
    return harness_run(s);
}

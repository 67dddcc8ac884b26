/* The ops along one axis (reduce: sum, max, mean; softmax, log-softmax,
 * rmsnorm, layernorm) on every device, against references in double.
 *
 * Generated cases: shapes of one element, primes, rows that are no multiple
 * of the GPU workgroup (256), rows of 8192 (the longest the tolerances are
 * stated for), rank 4 along each of its axes, no rows, and an empty axis;
 * each in another layout (compact, padded, transposed, reversed, every
 * other element), once in f32 and once in a mix of f32, f16 and bf16, with
 * and without weights; then one large case per op. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

typedef enum row_op { SUM, MAX, MEAN, SOFTMAX, LOG_SOFTMAX, RMSNORM, LAYERNORM, ROW_OP_COUNT } row_op;

static const char *const tol_names[] = {"reduce.sum",          "reduce.max",
                                        "reduce.mean",         "softmax.softmax",
                                        "log_softmax.log_softmax", "rmsnorm.rmsnorm",
                                        "layernorm.layernorm"};

typedef struct row_shape {
    uint32_t rank;
    int64_t shape[4];
    int32_t axis;
} row_shape;

static const row_shape shapes[] = {
    {1, {1}, 0},           {1, {7}, -1},           {2, {13, 1}, 1},       {2, {3, 1000}, 1},
    {2, {3, 1000}, 0},     {2, {5, 8192}, -1},     {4, {2, 3, 5, 7}, 0},  {4, {2, 3, 5, 7}, 1},
    {4, {2, 3, 5, 7}, 2},  {4, {2, 3, 5, 7}, 3},   {2, {300, 257}, 1},    {3, {4, 1, 6}, 1},
    {2, {0, 5}, 1},        {2, {4, 0}, 1},
};
#define SHAPE_COUNT (sizeof shapes / sizeof shapes[0])

static const aidev_type mixes[][3] = {
    {AIDEV_TYPE_F16, AIDEV_TYPE_F32, AIDEV_TYPE_BF16},
    {AIDEV_TYPE_BF16, AIDEV_TYPE_F16, AIDEV_TYPE_F32},
    {AIDEV_TYPE_F32, AIDEV_TYPE_BF16, AIDEV_TYPE_F16},
};

/* The reference of one row |v| of |len| values; |out| and |mag| get one
 * value (reductions) or |len|. */
static void ref_row(row_op op, const double *v, uint32_t len, const double *w, const double *b,
                    float eps, double *out, double *mag)
{
    double sum = 0, abs_sum = 0, m = -INFINITY;
    for (uint32_t c = 0; c < len; c++) {
        sum += v[c];
        abs_sum += fabs(v[c]);
        m = v[c] > m ? v[c] : m;
    }
    switch (op) {
    case SUM: *out = sum, *mag = abs_sum; return;
    case MAX: *out = m, *mag = fabs(m); return;
    case MEAN: *out = sum / len, *mag = abs_sum / len; return;
    case SOFTMAX:
    case LOG_SOFTMAX: {
        double s = 0;
        for (uint32_t c = 0; c < len; c++)
            s += exp(v[c] - m);
        for (uint32_t c = 0; c < len; c++) {
            out[c] = op == SOFTMAX ? exp(v[c] - m) / s : v[c] - m - log(s);
            mag[c] = op == SOFTMAX ? fabs(out[c]) : fabs(v[c] - m) + fabs(log(s));
        }
        return;
    }
    default: {
        double mean = op == LAYERNORM ? sum / len : 0, q = 0;
        for (uint32_t c = 0; c < len; c++)
            q += (v[c] - mean) * (v[c] - mean);
        double inv = 1 / sqrt(q / len + eps);
        for (uint32_t c = 0; c < len; c++) {
            double wc = w ? w[c] : 1, bc = b ? b[c] : 0;
            out[c] = (v[c] - mean) * inv * wc + bc;
            mag[c] = op == LAYERNORM ? (fabs(v[c] - mean) + fabs(mean)) * inv * fabs(wc) + fabs(bc)
                                     : fabs(out[c]);
        }
    }
    }
}

typedef struct row_run {
    row_op op;
    const row_shape *s;
    aidev_type tx, ty, tw;
    tc_layout lx, ly, lw;
    bool keepdims, weights;
    uint64_t seed;
} row_run;

/* Row-major flat index over |shape| of |idx|. */
static size_t flat_of(uint32_t rank, const int64_t *shape, const int64_t *idx)
{
    size_t f = 0;
    for (uint32_t i = 0; i < rank; i++)
        f = f * (size_t)shape[i] + (size_t)idx[i];
    return f;
}

static void run_case(const kc_device *d, const row_run *r)
{
    const row_shape *s = r->s;
    const uint32_t ax = (uint32_t)(s->axis < 0 ? s->axis + (int32_t)s->rank : s->axis);
    const bool reduce = r->op <= MEAN;
    const float eps = 1e-5f;
    double shift = r->op == LAYERNORM ? 3 : 0; /* rows away from zero mean */
    tc_tensor x, y, w, b;
    tc_make(&x, d, r->tx, s->rank, s->shape, r->lx, -5 + shift, 5 + shift, r->seed);
    int64_t yshape[4];
    uint32_t yrank = s->rank;
    memcpy(yshape, s->shape, sizeof yshape);
    if (reduce && r->keepdims)
        yshape[ax] = 1;
    else if (reduce) {
        for (uint32_t i = ax; i + 1 < s->rank; i++)
            yshape[i] = yshape[i + 1];
        yrank--;
    }
    tc_make(&y, d, r->ty, yrank, yshape, r->ly, -1, 1, r->seed + 1);
    const int64_t len = s->shape[ax];
    const bool weights = r->weights && r->op >= RMSNORM;
    if (weights) {
        tc_make(&w, d, r->tw, 1, &len, r->lw, 0.5, 1.5, r->seed + 2);
        tc_make(&b, d, r->tx, 1, &len, r->lw, -1, 1, r->seed + 3);
    }

    const size_t ny = tc_count(&y);
    double *ref = kc_alloc(ny * sizeof(double)), *mag = kc_alloc(ny * sizeof(double));
    double *row = kc_alloc((size_t)(len ? len : 1) * sizeof(double));
    double *rout = kc_alloc((size_t)(len ? len : 1) * sizeof(double));
    double *rmag = kc_alloc((size_t)(len ? len : 1) * sizeof(double));
    double *wv = kc_alloc((size_t)(len ? len : 1) * sizeof(double));
    double *bv = kc_alloc((size_t)(len ? len : 1) * sizeof(double));
    for (int64_t c = 0; weights && c < len; c++)
        wv[c] = tc_at(&w, (size_t)c), bv[c] = tc_at(&b, (size_t)c);
    /* Every row: the x index with the axis at 0, walked over the others. */
    size_t rows = tc_count(&x) / (size_t)(len ? len : 1);
    if (!len)
        rows = ny; /* an empty axis: each output is a row of nothing */
    for (size_t q = 0; q < rows; q++) {
        int64_t idx[4] = {0, 0, 0, 0};
        size_t t = q;
        for (uint32_t i = s->rank; i-- > 0;) {
            if (i == ax)
                continue;
            idx[i] = (int64_t)(t % (size_t)s->shape[i]);
            t /= (size_t)s->shape[i];
        }
        for (int64_t c = 0; c < len; c++) {
            idx[ax] = c;
            row[c] = tc_at_index(&x, idx);
        }
        ref_row(r->op, row, (uint32_t)len, weights ? wv : NULL,
                weights && r->op == LAYERNORM ? bv : NULL, eps, rout, rmag);
        if (reduce) {
            /* y's index: x's with the axis at 0 (keepdims) or gone. */
            int64_t yidx[4];
            uint32_t k = 0;
            for (uint32_t i = 0; i < s->rank; i++)
                if (i != ax || r->keepdims)
                    yidx[k++] = i == ax ? 0 : idx[i];
            size_t yf = flat_of(yrank, yshape, yidx);
            ref[yf] = rout[0];
            mag[yf] = rmag[0];
        } else {
            for (int64_t c = 0; c < len; c++) {
                idx[ax] = c;
                size_t f = flat_of(s->rank, s->shape, idx);
                ref[f] = rout[c];
                mag[f] = rmag[c];
            }
        }
    }

    aidev_event ev = NULL;
    aidev_status st = AIDEV_SUCCESS;
    const aidev_tensor *wd = weights ? &w.desc : NULL, *bd = weights ? &b.desc : NULL;
    switch (r->op) {
    case SUM:
    case MAX:
    case MEAN:
        st = aidev_enqueue_reduce(d->queue, (aidev_reduce_op)(r->op + 1), s->axis, &x.desc,
                                  &y.desc, 0, NULL, &ev);
        break;
    case SOFTMAX: st = aidev_enqueue_softmax(d->queue, s->axis, &x.desc, &y.desc, 0, NULL, &ev); break;
    case LOG_SOFTMAX:
        st = aidev_enqueue_log_softmax(d->queue, s->axis, &x.desc, &y.desc, 0, NULL, &ev);
        break;
    case RMSNORM:
        st = aidev_enqueue_rmsnorm(d->queue, s->axis, eps, &x.desc, wd, &y.desc, 0, NULL, &ev);
        break;
    default:
        st = aidev_enqueue_layernorm(d->queue, s->axis, eps, &x.desc, wd, bd, &y.desc, 0, NULL,
                                     &ev);
    }
    char what[200];
    snprintf(what, sizeof what, "shape case %ld axis %d, x %s %s, y %s %s%s%s",
             (long)(s - shapes), s->axis, aidev_type_name(r->tx), tc_layout_name(r->lx),
             aidev_type_name(r->ty), tc_layout_name(r->ly), reduce && r->keepdims ? ", keepdims" : "",
             weights ? ", weights" : "");
    ck_assert_msg(st == AIDEV_SUCCESS, "%s (%s) on %s: %s: %s", tol_names[r->op], what, d->label,
                  aidev_status_string(st), aidev_last_error());
    tc_wait(d, ev, tol_names[r->op]);
    tc_check(d, &y, tol_names[r->op], what, ref, mag);
    free(ref), free(mag), free(row), free(rout), free(rmag), free(wv), free(bv);
    tc_free(&x);
    tc_free(&y);
    if (weights) {
        tc_free(&w);
        tc_free(&b);
    }
}

static void run_op(int device, row_op op)
{
    kc_device d = kc_open(device);
    for (size_t c = 0; c < SHAPE_COUNT; c++)
        for (int pass = 0; pass < 2; pass++) {
            const aidev_type *mix = mixes[(c + (size_t)op) % 3];
            row_run r = {.op = op, .s = &shapes[c],
                         .tx = pass ? mix[0] : AIDEV_TYPE_F32,
                         .ty = pass ? mix[1] : AIDEV_TYPE_F32,
                         .tw = pass ? mix[2] : AIDEV_TYPE_F32,
                         .lx = (tc_layout)(c % TC_LAYOUT_COUNT_),
                         .ly = (tc_layout)((c + 2 + (size_t)pass) % TC_LAYOUT_COUNT_),
                         .lw = (tc_layout)((c + 1) % TC_LAYOUT_COUNT_),
                         .keepdims = (c + (size_t)pass) % 2 == 0,
                         .weights = pass == 1 || c % 3 == 0,
                         .seed = 100 * (uint64_t)op + 2 * c + (uint64_t)pass};
            run_case(&d, &r);
        }
    /* One large case: many rows of a length off the workgroup. */
    const row_shape large = {2, {2048, 1000}, 1};
    row_run r = {.op = op, .s = &large, .tx = AIDEV_TYPE_F32, .ty = AIDEV_TYPE_F32,
                 .tw = AIDEV_TYPE_F32, .weights = true, .seed = 7};
    if (kc_large_cases())
        run_case(&d, &r);
    kc_close(&d);
}

#define ROW_TEST(fn, op)                                                                      \
    START_TEST(fn)                                                                            \
    {                                                                                         \
        run_op(_i, op);                                                                       \
    }                                                                                         \
    END_TEST

ROW_TEST(test_sum, SUM)
ROW_TEST(test_max, MAX)
ROW_TEST(test_mean, MEAN)
ROW_TEST(test_softmax, SOFTMAX)
ROW_TEST(test_log_softmax, LOG_SOFTMAX)
ROW_TEST(test_rmsnorm, RMSNORM)
ROW_TEST(test_layernorm, LAYERNORM)

/* In place (y is x), and refusals naming the shapes. */
START_TEST(test_in_place_and_refusals)
{
    kc_device d = kc_open(_i);
    const int64_t shape[2] = {6, 300};
    tc_tensor x;
    tc_make(&x, &d, AIDEV_TYPE_BF16, 2, shape, TC_PADDED, -3, 3, 9);
    double *ref = kc_alloc(1800 * sizeof(double)), *mag = kc_alloc(1800 * sizeof(double));
    double row[300];
    for (size_t q = 0; q < 6; q++) {
        for (size_t c = 0; c < 300; c++)
            row[c] = tc_at(&x, q * 300 + c);
        ref_row(SOFTMAX, row, 300, NULL, NULL, 0, ref + q * 300, mag + q * 300);
    }
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_softmax(d.queue, 1, &x.desc, &x.desc, 0, NULL, &ev));
    tc_wait(&d, ev, "in-place softmax");
    tc_check(&d, &x, "softmax.softmax", "in place, bf16 padded", ref, mag);

    aidev_tensor y = x.desc;
    ck_assert_error_names(aidev_enqueue_softmax(d.queue, 2, &x.desc, &y, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "axis 2 for x of rank 2");
    y.shape[1] = 299;
    ck_assert_error_names(aidev_enqueue_softmax(d.queue, 1, &x.desc, &y, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "y has shape [6, 299] for x of shape [6, 300]");
    y.shape[1] = 2;
    ck_assert_error_names(aidev_enqueue_reduce(d.queue, AIDEV_REDUCE_SUM, 1, &x.desc, &y, 0,
                                               NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "kept at size 1");
    y.rank = 3;
    ck_assert_error_names(aidev_enqueue_reduce(d.queue, AIDEV_REDUCE_SUM, 1, &x.desc, &y, 0,
                                               NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "y has rank 3, x rank 2");
    ck_assert_error_names(aidev_enqueue_rmsnorm(d.queue, 0, 1e-5f, &x.desc, &x.desc, &x.desc, 0,
                                                NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "w must be of rank 1 with the axis' 6");
    ck_assert_error_names(aidev_enqueue_reduce(d.queue, (aidev_reduce_op)9, 0, &x.desc, &y, 0,
                                               NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "op 9");
    free(ref), free(mag);
    tc_free(&x);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-tensor-rows");
    harness_add_per_device(s, "sum", test_sum, 0);
    harness_add_per_device(s, "max", test_max, 0);
    harness_add_per_device(s, "mean", test_mean, 0);
    harness_add_per_device(s, "softmax", test_softmax, 0);
    harness_add_per_device(s, "log_softmax", test_log_softmax, 0);
    harness_add_per_device(s, "rmsnorm", test_rmsnorm, 0);
    harness_add_per_device(s, "layernorm", test_layernorm, 0);
    harness_add_per_device(s, "in_place_and_refusals", test_in_place_and_refusals, 0);
    return harness_run(s);
}

/* The elementwise tensor ops (binary, unary, scale_shift, convert,
 * requantize) on every device, against references computed here in double
 * (or, for the variants the manifest calls exact, the f32 operation).
 *
 * The cases are generated: a table of shapes (a single element, primes,
 * lengths that are no multiple of the GPU workgroup, rank 4, a broadcast
 * along each axis in turn, ranks that differ, a scalar, both operands
 * broadcasting, an empty tensor), each operand in another layout (compact,
 * padded, transposed, reversed, every other element), each case once in f32
 * and once in a mix of f32, f16 and bf16; then one large case per op. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

typedef struct shape_case {
    uint32_t ra, rb, ry;
    int64_t a[4], b[4], y[4];
} shape_case;

static const shape_case shapes[] = {
    {1, 1, 1, {1}, {1}, {1}},
    {1, 1, 1, {7}, {7}, {7}},
    {1, 1, 1, {257}, {1}, {257}},
    {4, 4, 4, {3, 5, 7, 11}, {3, 5, 7, 11}, {3, 5, 7, 11}},
    {4, 4, 4, {2, 3, 4, 5}, {1, 3, 4, 5}, {2, 3, 4, 5}},
    {4, 4, 4, {2, 3, 4, 5}, {2, 1, 4, 5}, {2, 3, 4, 5}},
    {4, 4, 4, {2, 3, 4, 5}, {2, 3, 1, 5}, {2, 3, 4, 5}},
    {4, 4, 4, {2, 3, 4, 5}, {2, 3, 4, 1}, {2, 3, 4, 5}},
    {4, 1, 4, {2, 3, 4, 5}, {5}, {2, 3, 4, 5}},
    {2, 0, 2, {6, 7}, {0}, {6, 7}},
    {2, 2, 2, {4, 1}, {1, 5}, {4, 5}},
    {3, 2, 3, {2, 1, 300}, {13, 300}, {2, 13, 300}},
    {2, 2, 2, {0, 3}, {0, 3}, {0, 3}},
};
#define SHAPE_COUNT (sizeof shapes / sizeof shapes[0])

/* The type mixes (a, b, y) each case runs in besides all-f32. */
static const aidev_type mixes[][3] = {
    {AIDEV_TYPE_F16, AIDEV_TYPE_F32, AIDEV_TYPE_BF16},
    {AIDEV_TYPE_BF16, AIDEV_TYPE_F16, AIDEV_TYPE_F16},
    {AIDEV_TYPE_F32, AIDEV_TYPE_BF16, AIDEV_TYPE_F32},
    {AIDEV_TYPE_F16, AIDEV_TYPE_F16, AIDEV_TYPE_F32},
};

static const char *binary_names[] = {NULL, "add", "sub", "mul", "div", "max", "min"};
static const char *unary_names[] = {NULL,  "relu", "gelu_tanh", "gelu_erf",
                                    "silu", "exp",  "tanh",      "sigmoid"};

/* ------------------------------------------------------------------------ */
/* References                                                               */
/* ------------------------------------------------------------------------ */

static double ref_binary(aidev_binary_op op, double a, double b)
{
    float fa = (float)a, fb = (float)b;
    switch (op) {
    case AIDEV_BINARY_ADD: return (float)(fa + fb);
    case AIDEV_BINARY_SUB: return (float)(fa - fb);
    case AIDEV_BINARY_MUL: return (float)(fa * fb);
    case AIDEV_BINARY_DIV: return a / b;
    case AIDEV_BINARY_MAX: return fa > fb ? fa : fb;
    case AIDEV_BINARY_MIN: return fa < fb ? fa : fb;
    }
    return NAN;
}

static double ref_unary(aidev_unary_op op, double x, double *mag)
{
    double y;
    switch (op) {
    case AIDEV_UNARY_RELU:
        y = x > 0 ? x : 0;
        *mag = fabs(y);
        return y;
    case AIDEV_UNARY_GELU_TANH: {
        double u = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
        y = x / (1 + exp(-2 * u));
        *mag = fabs(y) * (1 + fabs(2 * u));
        return y;
    }
    case AIDEV_UNARY_GELU_ERF:
        y = 0.5 * x * erfc(-x / sqrt(2.0));
        *mag = fabs(y) * (1 + x * x);
        return y;
    case AIDEV_UNARY_SILU:
        y = x / (1 + exp(-x));
        *mag = fabs(y) * (1 + fabs(x));
        return y;
    case AIDEV_UNARY_EXP:
        y = exp(x);
        *mag = fabs(y) * (1 + fabs(x));
        return y;
    case AIDEV_UNARY_TANH:
        y = tanh(x);
        *mag = fabs(y) * (1 + 2 * fabs(x));
        return y;
    case AIDEV_UNARY_SIGMOID:
        y = 1 / (1 + exp(-x));
        *mag = fabs(y) * (1 + fabs(x));
        return y;
    }
    return NAN;
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum family { BINARY, UNARY, SCALE_SHIFT, CONVERT, REQUANTIZE } family;

typedef struct ew_run {
    family fam;
    int op;
    const shape_case *shape;
    aidev_type ta, tb, ty;
    tc_layout la, lb, ly;
    double lo, hi;
    uint64_t seed;
} ew_run;

static void describe(const ew_run *r, char *buf, size_t size)
{
    snprintf(buf, size, "a %s %s, b %s %s, y %s %s, shape case %ld",
             aidev_type_name(r->ta), tc_layout_name(r->la), aidev_type_name(r->tb),
             tc_layout_name(r->lb), aidev_type_name(r->ty), tc_layout_name(r->ly),
             (long)(r->shape - shapes));
}

static void run_case(const kc_device *d, const ew_run *r)
{
    const shape_case *s = r->shape;
    tc_tensor a, b, y;
    bool two = r->fam == BINARY || r->fam == REQUANTIZE;
    tc_make(&a, d, r->ta, s->ra, s->a, r->la, r->lo, r->hi, r->seed);
    if (two) {
        double blo = r->fam == REQUANTIZE ? 0.01 : r->lo, bhi = r->fam == REQUANTIZE ? 0.5 : r->hi;
        tc_make(&b, d, r->tb, s->rb, s->b, r->lb, blo, bhi, r->seed + 1);
        if (r->fam == BINARY && r->op == AIDEV_BINARY_DIV) /* keep divisors away from 0 */
            for (size_t i = 0; i < tc_count(&b); i++)
                if (fabs(tc_at(&b, i)) < 0.25)
                    tc_set(&b, i, 0.5);
        tc_upload(d, &b);
    }
    tc_make(&y, d, r->ty, s->ry, s->y, r->ly, -1, 1, r->seed + 2);

    const size_t n = tc_count(&y);
    double *ref = kc_alloc(n * sizeof(double)), *mag = kc_alloc(n * sizeof(double));
    const float scale = -1.75f, shift = 0.375f;
    const int32_t xz = 3, yz = -5;
    for (size_t i = 0; i < n; i++) {
        double va = tc_broadcast_at(&a, s->ry, s->y, i);
        double vb = two ? tc_broadcast_at(&b, s->ry, s->y, i) : 0;
        mag[i] = fabs(va);
        switch (r->fam) {
        case BINARY: ref[i] = ref_binary((aidev_binary_op)r->op, va, vb); break;
        case UNARY: ref[i] = ref_unary((aidev_unary_op)r->op, va, &mag[i]); break;
        case SCALE_SHIFT:
            ref[i] = (double)scale * va + shift;
            mag[i] = fabs((double)scale * va) + fabs(shift);
            break;
        case CONVERT: ref[i] = va; break;
        case REQUANTIZE: ref[i] = (va - xz) * vb + yz; break;
        }
    }

    aidev_event ev = NULL;
    aidev_status st = AIDEV_ERROR_INVALID_ARGUMENT;
    const char *tol = NULL;
    char tol_name[64];
    switch (r->fam) {
    case BINARY:
        st = aidev_enqueue_binary(d->queue, (aidev_binary_op)r->op, &a.desc, &b.desc, &y.desc, 0,
                                  NULL, &ev);
        snprintf(tol_name, sizeof tol_name, "binary.%s", binary_names[r->op]);
        tol = tol_name;
        break;
    case UNARY:
        st = aidev_enqueue_unary(d->queue, (aidev_unary_op)r->op, &a.desc, &y.desc, 0, NULL, &ev);
        snprintf(tol_name, sizeof tol_name, "unary.%s", unary_names[r->op]);
        tol = tol_name;
        break;
    case SCALE_SHIFT:
        st = aidev_enqueue_scale_shift(d->queue, scale, shift, &a.desc, &y.desc, 0, NULL, &ev);
        tol = "scale_shift.scale_shift";
        break;
    case CONVERT:
        st = aidev_enqueue_convert(d->queue, &a.desc, &y.desc, 0, NULL, &ev);
        tol = "convert.convert";
        break;
    case REQUANTIZE:
        st = aidev_enqueue_requantize(d->queue, xz, yz, &a.desc, &b.desc, &y.desc, 0, NULL, &ev);
        tol = "requantize.requantize";
        break;
    }
    char what[160];
    describe(r, what, sizeof what);
    ck_assert_msg(st == AIDEV_SUCCESS, "%s (%s) on %s: %s: %s", tol, what, d->label,
                  aidev_status_string(st), aidev_last_error());
    tc_wait(d, ev, tol);
    if (r->fam == REQUANTIZE) {
        /* Within 1e-6 of a rounding tie, f32 and double may round apart:
         * either neighbour is right there. */
        for (size_t i = 0; i < n; i++) {
            double frac = ref[i] - floor(ref[i]);
            if (fabs(frac - 0.5) < 1e-6 * (1 + fabs(ref[i])))
                ref[i] = fabs(tc_at(&y, i) - ref[i]) <= 0.5 + 1e-6 ? tc_at(&y, i) : ref[i];
        }
    }
    tc_check(d, &y, tol, what, ref, r->fam == BINARY || r->fam == CONVERT ? NULL : mag);
    free(ref);
    free(mag);
    tc_free(&a);
    if (two)
        tc_free(&b);
    tc_free(&y);
}

/* Every shape case, in f32 and in one mix, layouts turning with the case;
 * then, with |large|, the large case in f32 (once per op: the kernel is one
 * for all its variants). */
static void run_family(int device, family fam, int op, double lo, double hi, aidev_type ty_int,
                       bool large)
{
    kc_device d = kc_open(device);
    for (size_t c = 0; c < SHAPE_COUNT; c++) {
        for (int pass = 0; pass < 2; pass++) {
            ew_run r = {.fam = fam, .op = op, .shape = &shapes[c], .lo = lo, .hi = hi,
                        .seed = 1000 * (uint64_t)op + 10 * c + (uint64_t)pass};
            const aidev_type *mix = mixes[(c + (size_t)op) % 4];
            r.ta = pass ? mix[0] : AIDEV_TYPE_F32;
            r.tb = pass ? mix[1] : AIDEV_TYPE_F32;
            r.ty = pass ? mix[2] : AIDEV_TYPE_F32;
            if (fam == REQUANTIZE) {
                static const aidev_type xs[] = {AIDEV_TYPE_I32, AIDEV_TYPE_I8, AIDEV_TYPE_U8,
                                                AIDEV_TYPE_F16};
                r.ta = pass ? xs[c % 4] : AIDEV_TYPE_I32;
                r.tb = AIDEV_TYPE_F32;
                r.ty = ty_int;
            }
            r.la = (tc_layout)(c % TC_LAYOUT_COUNT_);
            r.lb = (tc_layout)((c + 1) % TC_LAYOUT_COUNT_);
            r.ly = (tc_layout)((c + 2 + (size_t)pass) % TC_LAYOUT_COUNT_);
            run_case(&d, &r);
        }
    }
    if (!large || !kc_large_cases()) {
        kc_close(&d);
        return;
    }
    shape_case big = {1, 1, 1, {(1 << 20) + 3}, {(1 << 20) + 3}, {(1 << 20) + 3}};
    ew_run r = {.fam = fam, .op = op, .shape = &big, .lo = lo, .hi = hi, .seed = 99,
                .ta = fam == REQUANTIZE ? AIDEV_TYPE_I32 : AIDEV_TYPE_F32,
                .tb = AIDEV_TYPE_F32,
                .ty = fam == REQUANTIZE ? ty_int : AIDEV_TYPE_F32};
    run_case(&d, &r);
    kc_close(&d);
}

START_TEST(test_binary)
{
    for (int op = AIDEV_BINARY_ADD; op <= AIDEV_BINARY_MIN; op++)
        run_family(_i, BINARY, op, -4, 4, AIDEV_TYPE_F32, op == AIDEV_BINARY_ADD);
}
END_TEST

START_TEST(test_unary)
{
    /* Ranges that reach the tails where exp over- and underflows. */
    static const double ranges[][2] = {{0},       {-3, 3},   {-10, 10}, {-10, 10},
                                       {-40, 40}, {-10, 10}, {-5, 5},   {-20, 20}};
    for (int op = AIDEV_UNARY_RELU; op <= AIDEV_UNARY_SIGMOID; op++)
        run_family(_i, UNARY, op, ranges[op][0], ranges[op][1], AIDEV_TYPE_F32,
                   op == AIDEV_UNARY_GELU_ERF);
}
END_TEST

START_TEST(test_scale_shift)
{
    run_family(_i, SCALE_SHIFT, 0, -100, 100, AIDEV_TYPE_F32, false);
}
END_TEST

/* Every pair of the six storage types, on two shapes and layouts; values
 * beyond the integer types' ranges, so saturation shows. */
START_TEST(test_convert)
{
    static const aidev_type types[] = {AIDEV_TYPE_F32, AIDEV_TYPE_F16, AIDEV_TYPE_BF16,
                                       AIDEV_TYPE_I8,  AIDEV_TYPE_U8,  AIDEV_TYPE_I32};
    kc_device d = kc_open(_i);
    for (size_t i = 0; i < 6; i++)
        for (size_t o = 0; o < 6; o++) {
            for (size_t c = 1; c < SHAPE_COUNT; c += 7) {
                ew_run r = {.fam = CONVERT, .shape = &shapes[c], .ta = types[i],
                            .tb = AIDEV_TYPE_F32, .ty = types[o], .lo = -300.5, .hi = 300.5,
                            .seed = 7 * i + o + c, .la = (tc_layout)((i + c) % TC_LAYOUT_COUNT_),
                            .ly = (tc_layout)((o + c) % TC_LAYOUT_COUNT_)};
                run_case(&d, &r);
            }
        }
    kc_close(&d);
    run_family(_i, CONVERT, 0, -1e6, 1e6, AIDEV_TYPE_F32, false);
}
END_TEST

START_TEST(test_requantize)
{
    run_family(_i, REQUANTIZE, 0, -3000, 3000, AIDEV_TYPE_I8, true);
    run_family(_i, REQUANTIZE, 1, -300, 3000, AIDEV_TYPE_U8, false);
}
END_TEST

/* The output may be the input (the same view): in place. */
START_TEST(test_in_place)
{
    kc_device d = kc_open(_i);
    const int64_t shape[2] = {33, 17};
    tc_tensor x;
    tc_make(&x, &d, AIDEV_TYPE_F16, 2, shape, TC_PADDED, -2, 2, 5);
    size_t n = tc_count(&x);
    double *ref = kc_alloc(n * sizeof(double)), *mag = kc_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        ref[i] = ref_unary(AIDEV_UNARY_SILU, tc_at(&x, i), &mag[i]);
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_unary(d.queue, AIDEV_UNARY_SILU, &x.desc, &x.desc, 0, NULL, &ev));
    tc_wait(&d, ev, "in-place silu");
    tc_check(&d, &x, "unary.silu", "in place, f16 padded", ref, mag);
    free(ref);
    free(mag);
    tc_free(&x);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-tensor-elementwise");
    harness_add_per_device(s, "binary", test_binary, 0);
    harness_add_per_device(s, "unary", test_unary, 0);
    harness_add_per_device(s, "scale_shift", test_scale_shift, 0);
    harness_add_per_device(s, "convert", test_convert, 0);
    harness_add_per_device(s, "requantize", test_requantize, 0);
    harness_add_per_device(s, "in_place", test_in_place, 0);
    return harness_run(s);
}

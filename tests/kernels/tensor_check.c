/* tensor_check.c - see tensor_check.h. */
#include "tensor_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_tolerances.h"

const char *tc_layout_name(tc_layout layout)
{
    static const char *const names[] = {"compact", "padded", "transposed", "reversed", "step2"};
    return (unsigned)layout < TC_LAYOUT_COUNT_ ? names[layout] : "?";
}

/* ------------------------------------------------------------------------ */
/* Storage types, by double arithmetic                                      */
/* ------------------------------------------------------------------------ */

/* |v| rounded to |bits| significant bits with exponents down to |emin|
 * (below it, the quantum of emin: subnormals), to nearest even. */
static double round_bits(double v, int bits, int emin)
{
    if (v == 0 || isnan(v) || isinf(v))
        return v;
    int e;
    frexp(fabs(v), &e); /* |v| in [2^(e-1), 2^e) */
    int exp = e - 1 < emin ? emin : e - 1;
    double q = ldexp(1.0, exp - (bits - 1));
    return nearbyint(v / q) * q; /* v / q and the product are exact */
}

static double to_f16(double v)
{
    double r = round_bits((float)v, 11, -14);
    return fabs(r) >= 65520.0 ? copysign(INFINITY, r) : fabs(r) > 65504.0 ? copysign(65504.0, r) : r;
}

static double to_bf16(double v)
{
    double r = round_bits((float)v, 8, -126);
    return fabs(r) >= 0x1.ffp127 ? copysign(INFINITY, r) : r;
}

static double to_int(double v, double lo, double hi)
{
    float f = (float)v;
    if (isnan(f))
        return 0;
    double r = nearbyint((double)f);
    return r < lo ? lo : r > hi ? hi : r;
}

double tc_store_value(aidev_type dtype, double v)
{
    switch (dtype) {
    case AIDEV_TYPE_F32: return (float)v;
    case AIDEV_TYPE_F16: return to_f16(v);
    case AIDEV_TYPE_BF16: return to_bf16(v);
    case AIDEV_TYPE_I8: return to_int(v, -128, 127);
    case AIDEV_TYPE_U8: return to_int(v, 0, 255);
    case AIDEV_TYPE_I32: return to_int(v, -2147483648.0, 2147483520.0);
    default: ck_abort_msg("tc_store_value: type %s", aidev_type_name(dtype)); return 0;
    }
}

static uint16_t f16_bits(double v)
{
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    if (isnan(v))
        return 0x7e00;
    if (isinf(a))
        return sign | 0x7c00;
    if (a < 0x1p-14) /* subnormal: a multiple of 2^-24 */
        return sign | (uint16_t)(a * 0x1p24);
    int e;
    double f = frexp(a, &e); /* a = f 2^e, f in [0.5, 1) */
    return sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)((f * 2 - 1) * 1024);
}

static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

static void encode(aidev_type dtype, void *base, size_t i, double v)
{
    switch (dtype) {
    case AIDEV_TYPE_F32: ((float *)base)[i] = (float)v; break;
    case AIDEV_TYPE_F16: ((uint16_t *)base)[i] = f16_bits(v); break;
    case AIDEV_TYPE_BF16: {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        ((uint16_t *)base)[i] = (uint16_t)(u >> 16); /* v is a bf16 value already */
        break;
    }
    case AIDEV_TYPE_I8: ((int8_t *)base)[i] = (int8_t)v; break;
    case AIDEV_TYPE_U8: ((uint8_t *)base)[i] = (uint8_t)v; break;
    case AIDEV_TYPE_I32: ((int32_t *)base)[i] = (int32_t)v; break;
    default: ck_abort_msg("encode: type %s", aidev_type_name(dtype));
    }
}

static double decode(aidev_type dtype, const void *base, size_t i)
{
    switch (dtype) {
    case AIDEV_TYPE_F32: return ((const float *)base)[i];
    case AIDEV_TYPE_F16: return f16_value(((const uint16_t *)base)[i]);
    case AIDEV_TYPE_BF16: {
        uint32_t u = (uint32_t)((const uint16_t *)base)[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case AIDEV_TYPE_I8: return ((const int8_t *)base)[i];
    case AIDEV_TYPE_U8: return ((const uint8_t *)base)[i];
    case AIDEV_TYPE_I32: return ((const int32_t *)base)[i];
    default: ck_abort_msg("decode: type %s", aidev_type_name(dtype)); return 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Layouts                                                                  */
/* ------------------------------------------------------------------------ */

static void lay_out(tc_tensor *t, tc_layout layout)
{
    int64_t stride = 1;
    t->offset = 0;
    switch (layout) {
    case TC_COMPACT:
    case TC_REVERSED:
    case TC_STEP2:
        for (uint32_t i = t->rank; i-- > 0;) {
            t->strides[i] = stride;
            int64_t room = t->shape[i] > 0 ? t->shape[i] : 1;
            if (layout == TC_STEP2 && i == 0)
                room = 2 * room - 1, t->strides[i] *= 2;
            stride *= room;
        }
        if (layout == TC_REVERSED && t->rank && t->shape[t->rank - 1] > 1) {
            t->offset = t->shape[t->rank - 1] - 1;
            t->strides[t->rank - 1] = -1;
        }
        break;
    case TC_PADDED:
        /* Inside a [n0 + 2, n1 + 1, ..., n_last + 3] array, from [1, 1, ..., 2]. */
        for (uint32_t i = t->rank; i-- > 0;) {
            t->strides[i] = stride;
            int64_t pad = i == t->rank - 1 ? 3 : i == 0 ? 2 : 1;
            t->offset += stride * (pad == 3 ? 2 : 1);
            stride *= t->shape[i] + pad;
        }
        break;
    case TC_TRANSPOSED:
        for (uint32_t i = 0; i < t->rank; i++) {
            t->strides[i] = stride;
            stride *= t->shape[i] > 0 ? t->shape[i] : 1;
        }
        break;
    default:
        ck_abort_msg("layout %d", (int)layout);
    }
    if (tc_count(t) == 0)
        t->offset = 0;
    /* The buffer: one past the furthest element (and never empty). */
    int64_t last = t->offset;
    for (uint32_t i = 0; i < t->rank; i++)
        if (t->shape[i] > 0 && t->strides[i] > 0)
            last += (t->shape[i] - 1) * t->strides[i];
    t->elems = (size_t)(tc_count(t) ? last + 1 : 1);
    if ((size_t)stride > t->elems && tc_count(t))
        t->elems = (size_t)stride;
}

/* splitmix64 */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tc_make(tc_tensor *t, const kc_device *d, aidev_type dtype, uint32_t rank,
             const int64_t *shape, tc_layout layout, double lo, double hi, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    ck_assert_uint_le(rank, 4);
    t->dtype = dtype;
    t->rank = rank;
    for (uint32_t i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    lay_out(t, layout);
    size_t esize = aidev_type_size(dtype);
    t->host = kc_alloc(t->elems * esize);
    uint64_t s = seed * 0x100000001b3ull + 17;
    bool integer = dtype == AIDEV_TYPE_I8 || dtype == AIDEV_TYPE_U8 || dtype == AIDEV_TYPE_I32;
    for (size_t i = 0; i < t->elems; i++) {
        double u = (double)(next_u64(&s) >> 11) * 0x1.0p-53;
        double v = lo + (hi - lo) * u;
        encode(dtype, t->host, i, tc_store_value(dtype, integer ? floor(v) : v));
    }
    t->buf = harness_buffer(d->dev, AIDEV_MEMORY_DEVICE, t->elems * esize, AIDEV_TYPE_NONE);
    tc_upload(d, t);
    t->desc = (aidev_tensor){.buffer = t->buf,
                             .offset = (uint64_t)t->offset * esize,
                             .dtype = dtype,
                             .rank = rank};
    for (uint32_t i = 0; i < rank; i++) {
        t->desc.shape[i] = t->shape[i];
        t->desc.strides[i] = t->strides[i];
    }
}

void tc_upload(const kc_device *d, tc_tensor *t)
{
    aidev_event ev = NULL;
    ck_assert_ok(aidev_enqueue_write(d->queue, t->buf, 0, t->elems * aidev_type_size(t->dtype),
                                     t->host, 0, NULL, &ev));
    tc_wait(d, ev, "upload");
}

void tc_free(tc_tensor *t)
{
    if (t->buf)
        ck_assert_ok(aidev_buffer_release(t->buf));
    free(t->host);
    memset(t, 0, sizeof *t);
}

size_t tc_count(const tc_tensor *t)
{
    size_t n = 1;
    for (uint32_t i = 0; i < t->rank; i++)
        n *= (size_t)t->shape[i];
    return n;
}

static size_t element_of(const tc_tensor *t, size_t flat)
{
    int64_t e = t->offset;
    for (uint32_t i = t->rank; i-- > 0;) {
        e += (int64_t)(flat % (size_t)t->shape[i]) * t->strides[i];
        flat /= (size_t)t->shape[i];
    }
    return (size_t)e;
}

double tc_at(const tc_tensor *t, size_t flat)
{
    return decode(t->dtype, t->host, element_of(t, flat));
}

double tc_at_index(const tc_tensor *t, const int64_t *idx)
{
    int64_t e = t->offset;
    for (uint32_t i = 0; i < t->rank; i++)
        e += idx[i] * t->strides[i];
    return decode(t->dtype, t->host, (size_t)e);
}

void tc_set(tc_tensor *t, size_t flat, double v)
{
    encode(t->dtype, t->host, element_of(t, flat), tc_store_value(t->dtype, v));
}

double tc_broadcast_at(const tc_tensor *t, uint32_t rank, const int64_t *shape, size_t flat)
{
    int64_t idx[4] = {0, 0, 0, 0};
    for (uint32_t i = rank; i-- > 0;) {
        int64_t k = (int64_t)(flat % (size_t)shape[i]);
        flat /= (size_t)shape[i];
        int64_t ti = (int64_t)i - (int64_t)rank + (int64_t)t->rank;
        if (ti >= 0)
            idx[ti] = t->shape[ti] == 1 ? 0 : k;
    }
    return tc_at_index(t, idx);
}

/* ------------------------------------------------------------------------ */
/* Checking                                                                 */
/* ------------------------------------------------------------------------ */

void tc_wait(const kc_device *d, aidev_event ev, const char *what)
{
    aidev_status st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
    ck_assert_msg(st == AIDEV_SUCCESS, "%s on %s failed: %s: %s", what, d->label,
                  aidev_status_string(st), aidev_event_message(ev));
    ck_assert_ok(aidev_event_release(ev));
}

/* The rounding an output of |dtype| adds to a value of magnitude |m|. */
static double storage_error(aidev_type dtype, double m)
{
    switch (dtype) {
    case AIDEV_TYPE_F16: return ldexp(m, -11) + 0x1p-25;
    case AIDEV_TYPE_BF16: return ldexp(m, -8) + 0x1p-134;
    default: return 0;
    }
}

void tc_check(const kc_device *d, tc_tensor *out, const char *tol_name, const char *what,
              const double *ref, const double *mag)
{
    const kernel_tolerance *tol = kernel_tolerance_of(tol_name);
    ck_assert_msg(tol != NULL, "no accuracy '%s' in the manifest", tol_name);
    const size_t esize = aidev_type_size(out->dtype), n = tc_count(out);
    uint8_t *before = kc_alloc(out->elems * esize);
    memcpy(before, out->host, out->elems * esize);
    kc_read(d, out->buf, AIDEV_TYPE_U8, out->elems * esize, out->host);

    /* Outside the view: untouched. */
    uint8_t *inside = calloc(out->elems, 1);
    ck_assert_ptr_nonnull(inside);
    for (size_t i = 0; i < n; i++)
        inside[element_of(out, i)] = 1;
    /* (One assertion at the end: Check reports every assertion it passes.) */
    size_t stray = SIZE_MAX;
    for (size_t e = 0; e < out->elems && stray == SIZE_MAX; e++)
        if (!inside[e] &&
            memcmp(before + e * esize, (uint8_t *)out->host + e * esize, esize) != 0)
            stray = e;
    ck_assert_msg(stray == SIZE_MAX,
                  "%s (%s) on %s wrote element %zu of its buffer, outside the output view",
                  tol_name, what, d->label, stray);
    free(inside);
    free(before);

    size_t bad = 0, first = 0;
    double first_limit = 0;
    for (size_t i = 0; i < n; i++) {
        double got = tc_at(out, i), want = ref[i];
        bool ok;
        double limit = 0;
        if (tol->exact) {
            double w = tc_store_value(out->dtype, want);
            ok = got == w || (isnan(got) && isnan(w));
        } else {
            double m = mag ? mag[i] : fabs(want);
            double f32_limit = tol->abs + tol->rel * m;
            limit = f32_limit + storage_error(out->dtype, fabs(want) + f32_limit);
            ok = fabs(got - want) <= limit || (isinf(want) && got == want) ||
                 (isnan(got) && isnan(want));
        }
        if (!ok && bad++ == 0) {
            first = i;
            first_limit = limit;
        }
    }
    ck_assert_msg(bad == 0,
                  "%s (%s, output %s) on %s: %zu of %zu values out of tolerance (%s%s); first "
                  "at [%zu]: got %.9g, reference %.9g (allowed %.3g)",
                  tol_name, what, aidev_type_name(out->dtype), d->label, bad, n,
                  tol->exact ? "exact" : "rel/abs ", tol->exact ? "" : tol->note, first,
                  bad ? tc_at(out, first) : 0.0, bad ? ref[first] : 0.0, first_limit);
}

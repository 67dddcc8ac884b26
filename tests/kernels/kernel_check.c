/* kernel_check.c - see kernel_check.h. */
#include "kernel_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_tolerances.h"

kc_device kc_open(int harness_index)
{
    kc_device d = {.index = harness_index};
    d.dev = harness_device(harness_index);
    d.queue = harness_queue(d.dev);
    d.label = harness_device_label(harness_index);
    return d;
}

void kc_close(kc_device *d)
{
    ck_assert_ok(aidev_queue_release(d->queue));
    d->queue = NULL;
}

aidev_kernel kc_kernel(const kc_device *d, const char *name)
{
    aidev_kernel k = NULL;
    aidev_status st = aidev_kernel_get(d->dev, name, &k);
    ck_assert_msg(st == AIDEV_SUCCESS, "aidev_kernel_get(\"%s\") on %s: %s: %s", name, d->label,
                  aidev_status_string(st), aidev_last_error());
    return k;
}

/* The kernels whose GPU forms need a device feature beyond the baseline
 * (8-bit storage buffers). The CPU device runs every kernel. */
static bool may_be_unsupported(const kc_device *d, const char *name)
{
    static const char *const int8[] = {"quantize_i8", "dequantize_i8", "matmul_i8"};
    if (strcmp(harness_device_backend(d->index), "cpu") == 0)
        return false;
    for (size_t i = 0; i < sizeof int8 / sizeof int8[0]; i++)
        if (strcmp(int8[i], name) == 0)
            return true;
    return false;
}

aidev_kernel kc_kernel_optional(const kc_device *d, const char *name)
{
    aidev_kernel k = NULL;
    aidev_status st = aidev_kernel_get(d->dev, name, &k);
    if (st == AIDEV_ERROR_UNSUPPORTED && may_be_unsupported(d, name)) {
        fprintf(stderr, "SKIP %s on %s: the device cannot run it: %s\n", name, d->label,
                aidev_last_error());
        return NULL;
    }
    ck_assert_msg(st == AIDEV_SUCCESS, "aidev_kernel_get(\"%s\") on %s: %s: %s", name, d->label,
                  aidev_status_string(st), aidev_last_error());
    return k;
}

aidev_buffer kc_buffer(const kc_device *d, aidev_type type, size_t count, const void *data)
{
    size_t bytes = (count ? count : 1) * aidev_type_size(type);
    aidev_buffer b = harness_buffer(d->dev, AIDEV_MEMORY_DEVICE, bytes, type);
    if (data && count)
        ck_assert_ok(aidev_enqueue_write(d->queue, b, 0, count * aidev_type_size(type), data, 0,
                                         NULL, NULL));
    return b;
}

void kc_read(const kc_device *d, aidev_buffer b, aidev_type type, size_t count, void *out)
{
    if (!count)
        return;
    aidev_event ev = NULL;
    ck_assert_ok(aidev_enqueue_read(d->queue, b, 0, count * aidev_type_size(type), out, 0, NULL,
                                    &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_release(ev));
}

void kc_dispatch(const kc_device *d, aidev_kernel k, uint32_t arg_count, const aidev_arg *args)
{
    aidev_event ev = NULL;
    ck_assert_ok(aidev_enqueue_dispatch(d->queue, k, NULL, NULL, arg_count, args, 0, NULL, &ev));
    aidev_status st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
    ck_assert_msg(st == AIDEV_SUCCESS, "dispatch on %s failed: %s: %s", d->label,
                  aidev_status_string(st), aidev_event_message(ev));
    ck_assert_ok(aidev_event_release(ev));
}

/* splitmix64: a fixed sequence per seed, the same on every machine. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void kc_fill_f32(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(next_u64(&s) >> 11) * 0x1.0p-53;
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

void kc_fill_i8(int8_t *x, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = (int8_t)((int)(next_u64(&s) % 255u) - 127);
}

void kc_check(const char *kernel, const char *what, const kc_device *d, const float *got,
              const double *ref, const double *mag, size_t n)
{
    const kernel_tolerance *tol = kernel_tolerance_of(kernel);
    ck_assert_msg(tol != NULL, "kernel '%s' has no accuracy in the manifest", kernel);
    size_t bad = 0, first = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        bool ok;
        if (tol->exact) {
            /* Bit-equal as floats (the reference holds a float value);
             * -0 and +0 compare equal. */
            ok = got[i] == (float)ref[i];
        } else {
            double m = mag ? mag[i] : fabs(ref[i]);
            double limit = tol->abs + tol->rel * m;
            ok = err <= limit;
            if (m > tol->abs && err / m > worst)
                worst = err / m;
        }
        if (!ok && bad++ == 0)
            first = i;
    }
    char mag_text[64] = "";
    if (bad && mag)
        snprintf(mag_text, sizeof mag_text, ", mag %.9g", mag[first]);
    ck_assert_msg(bad == 0,
                  "%s (%s) on %s: %zu of %zu values out of tolerance (%s, rel %g abs %g); first "
                  "at [%zu]: got %.9g, reference %.9g%s",
                  kernel, what, d->label, bad, n, tol->exact ? "exact" : tol->note, tol->rel,
                  tol->abs, first, bad ? (double)got[first] : 0.0, bad ? ref[first] : 0.0,
                  mag_text);
    if (getenv("AIDEV_TEST_VERBOSE") && !tol->exact)
        fprintf(stderr, "%s (%s) on %s: worst relative error %.3g (allowed %.3g)\n", kernel, what,
                d->label, worst, tol->rel);
}

void *kc_alloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_msg(p != NULL, "out of host memory (%zu bytes)", bytes);
    return p;
}

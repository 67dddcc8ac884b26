/* The reductions reduce_sum and reduce_max on every device, against
 * tests/kernels/reference.c. Their GPU forms run as launch REDUCE, several
 * passes for long inputs; the sizes cover one element, a prime, one run of
 * a pass (1024) and one more, two and three passes, and 4M + 3. n = 0 gives
 * the identity: 0 for sum, -inf for max. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "reference.h"

static const uint32_t sizes[] = {0, 1, 7, 1000, 1024, 1025, 65537, (1u << 20) + 1,
                                 (4u << 20) + 3};

typedef enum { INPUT_MIXED, INPUT_NEGATIVE, INPUT_PEAK_LAST } input_kind;

static void run_reduce(const kc_device *d, const char *name, uint32_t n, input_kind kind)
{
    float *x = kc_alloc((size_t)n * sizeof(float));
    switch (kind) {
    case INPUT_MIXED:
        kc_fill_f32(x, n, -1, 1, 77 + n);
        break;
    case INPUT_NEGATIVE: /* a max that starts from 0 instead of -inf fails */
        kc_fill_f32(x, n, -3, -1, 78 + n);
        break;
    case INPUT_PEAK_LAST: /* the last element, in the last partial run */
        kc_fill_f32(x, n, -1, 1, 79 + n);
        if (n)
            x[n - 1] = 5;
        break;
    }
    double ref, mag = 0;
    if (strcmp(name, "reduce_sum") == 0)
        ref_sum(n, x, &ref, &mag);
    else
        ref_max(n, x, &ref);

    aidev_kernel k = kc_kernel(d, name);
    aidev_buffer bx = kc_buffer(d, AIDEV_TYPE_F32, n, x);
    const float poison = NAN;
    aidev_buffer by = kc_buffer(d, AIDEV_TYPE_F32, 1, &poison);
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_buffer(bx, 0), aidev_arg_buffer(by, 0)};
    kc_dispatch(d, k, 3, args);
    float got;
    kc_read(d, by, AIDEV_TYPE_F32, 1, &got);

    char what[64];
    snprintf(what, sizeof what, "n = %u, input %d", n, (int)kind);
    kc_check(name, what, d, &got, &ref, strcmp(name, "reduce_sum") == 0 ? &mag : NULL, 1);

    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
    free(x);
}

START_TEST(test_sum)
{
    kc_device d = kc_open(_i);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        run_reduce(&d, "reduce_sum", sizes[s], INPUT_MIXED);
    /* All of one sign: no cancellation hides a lost run. */
    run_reduce(&d, "reduce_sum", 1025, INPUT_NEGATIVE);
    run_reduce(&d, "reduce_sum", (1u << 20) + 1, INPUT_NEGATIVE);
    kc_close(&d);
}
END_TEST

START_TEST(test_max)
{
    kc_device d = kc_open(_i);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        run_reduce(&d, "reduce_max", sizes[s], INPUT_MIXED);
        run_reduce(&d, "reduce_max", sizes[s], INPUT_NEGATIVE);
        run_reduce(&d, "reduce_max", sizes[s], INPUT_PEAK_LAST);
    }
    kc_close(&d);
}
END_TEST

/* A dispatch with a grid larger than the declared 1 still reduces once
 * (the C form works in the box holding item 0 only). */
START_TEST(test_sum_large_grid)
{
    kc_device d = kc_open(_i);
    enum { N = 100000 };
    float *x = kc_alloc(N * sizeof(float));
    kc_fill_f32(x, N, 0, 1, 5);
    double ref, mag;
    ref_sum(N, x, &ref, &mag);
    aidev_kernel k = kc_kernel(&d, "reduce_sum");
    aidev_buffer bx = kc_buffer(&d, AIDEV_TYPE_F32, N, x);
    aidev_buffer by = kc_buffer(&d, AIDEV_TYPE_F32, 1, NULL);
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_buffer(bx, 0), aidev_arg_buffer(by, 0)};
    const uint32_t grid[3] = {N, 1, 1};
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_dispatch(d.queue, k, grid, NULL, 3, args, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    aidev_event_release(ev);
    float got;
    kc_read(&d, by, AIDEV_TYPE_F32, 1, &got);
    kc_check("reduce_sum", "grid 100000", &d, &got, &ref, &mag, 1);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_kernel_release(k);
    free(x);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-reduce");
    harness_add_per_device(s, "reduce_sum", test_sum, 0);
    harness_add_per_device(s, "reduce_max", test_max, 0);
    harness_add_per_device(s, "sum_large_grid", test_sum_large_grid, 0);
    return harness_run(s);
}

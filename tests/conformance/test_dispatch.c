/* Kernel dispatch: the library by name, the grid, and every way the
 * arguments can fail to match the declared signature. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct axpy_setup {
    aidev_queue q;
    aidev_kernel k;
    aidev_buffer x, y;
} axpy_setup;

static axpy_setup axpy_make(aidev_device dev, uint32_t n)
{
    axpy_setup s = {.q = harness_queue(dev)};
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &s.k));
    s.x = harness_buffer(dev, AIDEV_MEMORY_DEVICE, (uint64_t)n * 4, AIDEV_TYPE_F32);
    s.y = harness_buffer(dev, AIDEV_MEMORY_DEVICE, (uint64_t)n * 4, AIDEV_TYPE_F32);
    return s;
}

static void axpy_free(axpy_setup *s)
{
    ck_assert_ok(aidev_kernel_release(s->k));
    ck_assert_ok(aidev_buffer_release(s->x));
    ck_assert_ok(aidev_buffer_release(s->y));
    ck_assert_ok(aidev_queue_release(s->q));
}

/* axpy over sizes that do not divide any workgroup, with an explicit grid
 * larger than needed, and with offsets into the buffers. */
START_TEST(axpy_awkward_sizes)
{
    aidev_device dev = harness_device(_i);
    const uint32_t sizes[] = {1, 7, 257, 1000, 65537, 1u << 20};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        uint32_t n = sizes[t];
        axpy_setup s = axpy_make(dev, n + 16);
        float *x = malloc((n + 16) * sizeof(float)), *y = malloc((n + 16) * sizeof(float));
        for (uint32_t i = 0; i < n + 16; i++)
            x[i] = (float)(i % 1000) * 0.5f, y[i] = 3.0f;
        ck_assert_ok(aidev_enqueue_write(s.q, s.x, 0, (n + 16) * 4ull, x, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_write(s.q, s.y, 0, (n + 16) * 4ull, y, 0, NULL, NULL));
        /* y[16..16+n) += 2 * x[0..n) */
        aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(2.0f), aidev_arg_buffer(s.x, 0),
                            aidev_arg_buffer(s.y, 64)};
        const uint32_t grid[3] = {n + 5, 1, 1};
        ck_assert_ok(aidev_enqueue_dispatch(s.q, s.k, t % 2 ? grid : NULL, NULL, 4, args, 0,
                                            NULL, NULL));
        ck_assert_ok(aidev_enqueue_read(s.q, s.y, 0, (n + 16) * 4ull, y, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(s.q));
        uint32_t i = 0;
        float want = 3.0f;
        for (; i < n + 16; i++) {
            want = i < 16 ? 3.0f : 3.0f + 2.0f * x[i - 16];
            if (y[i] != want)
                break;
        }
        ck_assert_msg(i == n + 16, "n=%u: y[%u] = %g, want %g", n, i, i < n + 16 ? y[i] : 0.0f,
                      want);
        free(x);
        free(y);
        axpy_free(&s);
    }
}
END_TEST

START_TEST(zero_grid_runs_nothing)
{
    aidev_device dev = harness_device(_i);
    axpy_setup s = axpy_make(dev, 4);
    float y[4] = {1, 2, 3, 4}, out[4];
    ck_assert_ok(aidev_enqueue_write(s.q, s.y, 0, sizeof y, y, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(0), aidev_arg_f32(5.0f), aidev_arg_buffer(s.x, 0),
                        aidev_arg_buffer(s.y, 0)};
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, args, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    const uint32_t grid[3] = {4, 0, 1};
    args[0] = aidev_arg_u32(4);
    ck_assert_ok(aidev_enqueue_dispatch(s.q, s.k, grid, NULL, 4, args, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(s.q, s.y, 0, sizeof out, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(s.q));
    ck_assert_int_eq(memcmp(y, out, sizeof y), 0);
    aidev_event_release(ev);
    axpy_free(&s);
}
END_TEST

START_TEST(signature_mismatches_are_refused)
{
    aidev_device dev = harness_device(_i);
    axpy_setup s = axpy_make(dev, 100);
    aidev_buffer ints = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 400, AIDEV_TYPE_I32);
    aidev_buffer bytes = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 400, AIDEV_TYPE_NONE);
    aidev_buffer small = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 40, AIDEV_TYPE_F32);
    aidev_arg good[] = {aidev_arg_u32(100), aidev_arg_f32(1.0f), aidev_arg_buffer(s.x, 0),
                        aidev_arg_buffer(s.y, 0)};
    aidev_arg a[4];
    aidev_event ev = (aidev_event)(uintptr_t)1;

    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 3, good, 0, NULL, &ev),
                          AIDEV_ERROR_KERNEL_ARGS, "kernel 'axpy': 3 arguments given, it takes 4");
    ck_assert_ptr_null(ev);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 40, good, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "axpy");
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, NULL, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "args");

    memcpy(a, good, sizeof a);
    a[1] = aidev_arg_u32(1);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "argument 1 'alpha' must be a f32 scalar");
    memcpy(a, good, sizeof a);
    a[0] = aidev_arg_buffer(s.x, 0);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "argument 0 'n' must be a scalar");
    memcpy(a, good, sizeof a);
    a[2] = aidev_arg_buffer(ints, 0);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "argument 2 'x': expects a buffer of f32");
    memcpy(a, good, sizeof a);
    a[3] = aidev_arg_buffer(small, 0);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "argument 3 'y': needs n = 100 elements");
    memcpy(a, good, sizeof a);
    a[2] = aidev_arg_buffer(s.x, 8);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "'x'");
    a[2] = aidev_arg_buffer(s.x, 2);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "not a multiple");
    a[2] = aidev_arg_buffer(s.x, 1u << 30);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "past the end");
    a[2] = aidev_arg_buffer((aidev_buffer)s.q, 0);
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "argument 2 'x'");
    /* An untyped buffer is accepted where any element type is. */
    memcpy(a, good, sizeof a);
    a[2] = aidev_arg_buffer(bytes, 0);
    ck_assert_ok(aidev_enqueue_dispatch(s.q, s.k, NULL, NULL, 4, a, 0, NULL, NULL));

    /* A grid smaller than the kernel needs, a workgroup too large. */
    const uint32_t small_grid[3] = {50, 1, 1};
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, small_grid, NULL, 4, good, 0, NULL,
                                                 NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "grid[0] = 50 is smaller than n = 100");
    const uint32_t huge_wg[3] = {1u << 20, 1, 1};
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, huge_wg, 4, good, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "workgroup");
    const uint32_t zero_wg[3] = {0, 1, 1};
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, s.k, NULL, zero_wg, 4, good, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "workgroup[0] = 0");
    ck_assert_ok(aidev_queue_finish(s.q));
    aidev_buffer_release(ints);
    aidev_buffer_release(bytes);
    aidev_buffer_release(small);
    axpy_free(&s);
}
END_TEST

START_TEST(kernel_lookup)
{
    aidev_device dev = harness_device(_i);
    aidev_kernel k;
    ck_assert_error_names(aidev_kernel_get(dev, "no_such_kernel", &k), AIDEV_ERROR_NOT_FOUND,
                          "no_such_kernel");
    ck_assert_error_names(aidev_kernel_get(dev, NULL, &k), AIDEV_ERROR_INVALID_ARGUMENT, "name");
    ck_assert_error_names(aidev_kernel_get(dev, "axpy", NULL), AIDEV_ERROR_INVALID_ARGUMENT,
                          "out_kernel");
    ck_assert_uint_ge(aidev_library_kernel_count(), 3);
    for (uint32_t i = 0; i < aidev_library_kernel_count(); i++) {
        const aidev_kernel_desc *d = aidev_library_kernel(i);
        ck_assert_ptr_nonnull(d);
        ck_assert_ok(aidev_kernel_get(dev, d->name, &k));
        ck_assert_ok(aidev_kernel_release(k));
    }
    ck_assert_ptr_null(aidev_library_kernel(aidev_library_kernel_count()));
}
END_TEST

START_TEST(kernel_of_another_device)
{
    aidev_device dev = harness_device(_i);
    uint32_t n = harness_device_count();
    if (n < 2)
        return; /* needs a second device */
    aidev_device other = harness_device((_i + 1) % (int)n);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(other, "axpy", &k));
    axpy_setup s = axpy_make(dev, 16);
    aidev_arg args[] = {aidev_arg_u32(16), aidev_arg_f32(1.0f), aidev_arg_buffer(s.x, 0),
                        aidev_arg_buffer(s.y, 0)};
    ck_assert_error_names(aidev_enqueue_dispatch(s.q, k, NULL, NULL, 4, args, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "was built for device");
    aidev_kernel_release(k);
    axpy_free(&s);
}
END_TEST

/* One step of the stream below, run on the host too: y[yo + i] = alpha *
 * x[xo + i] (+ y[yo + i] for axpy) for i < n. */
typedef struct stream_step {
    bool axpy; /* else scale */
    uint32_t n;
    float alpha;
    int x, y;           /* which buffer: 0..3 */
    uint32_t xo, yo;    /* offsets in elements */
    bool grid;          /* an explicit grid of n + 3 */
} stream_step;

/* Back-to-back dispatches with nothing between them, each changing one
 * thing the one before it set (a scalar, a buffer, an offset, the grid,
 * the kernel), and returning to an earlier kernel: every dispatch sees its
 * own arguments, in queue order. Backends keep what the last dispatch
 * bound (arguments, descriptors, push constants, geometry) and pass on
 * only what differs; none of it may leak into the next dispatch. */
START_TEST(back_to_back_dispatches_see_their_own_arguments)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel axpy, scale;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &axpy));
    ck_assert_ok(aidev_kernel_get(dev, "scale", &scale));
    enum { N = 1024 };
    static float host[4][N], got[4][N];
    aidev_buffer b[4];
    for (int j = 0; j < 4; j++) {
        for (int i = 0; i < N; i++)
            host[j][i] = j == 0 ? (float)(i % 7) : j == 1 ? (float)(100 + i % 5) : 0.0f;
        b[j] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof host[j], AIDEV_TYPE_F32);
        ck_assert_ok(aidev_enqueue_write(q, b[j], 0, sizeof host[j], host[j], 0, NULL, NULL));
    }
    ck_assert_ok(aidev_queue_finish(q));
    const stream_step steps[] = {
        {true, N, 1.0f, 0, 2, 0, 0, false},
        {true, N, 2.0f, 0, 2, 0, 0, false},      /* a scalar */
        {true, N, 2.0f, 1, 2, 0, 0, false},      /* an input buffer */
        {true, N, 2.0f, 1, 3, 0, 0, false},      /* the output buffer */
        {false, N, 3.0f, 2, 3, 0, 0, false},     /* another kernel */
        {true, N / 2, 1.0f, 0, 3, 0, 0, false},  /* back, a smaller grid */
        {true, N / 2, 1.0f, 0, 3, 64, 64, false}, /* offsets */
        {true, 16, 1.0f, 0, 3, 1, 1, false},     /* offsets no binding aligns */
        {true, 16, 1.0f, 0, 3, 1, 1, false},     /* the same again */
        {true, N, 0.5f, 1, 3, 0, 0, true},       /* an explicit grid */
        {true, N, 0.5f, 1, 3, 0, 0, false},      /* none again */
        {false, N / 4, -1.0f, 3, 2, 0, 0, false},
        {false, N / 4, -1.0f, 3, 2, 0, 0, false}, /* a repeat, then one change */
        {false, N / 4, -1.0f, 3, 2, 0, 8, false},
    };
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        const stream_step *t = &steps[s];
        aidev_arg args[] = {aidev_arg_u32(t->n), aidev_arg_f32(t->alpha),
                            aidev_arg_buffer(b[t->x], t->xo * 4ull),
                            aidev_arg_buffer(b[t->y], t->yo * 4ull)};
        const uint32_t grid[3] = {t->n + 3, 1, 1};
        ck_assert_ok(aidev_enqueue_dispatch(q, t->axpy ? axpy : scale, t->grid ? grid : NULL,
                                            NULL, 4, args, 0, NULL, NULL));
        for (uint32_t i = 0; i < t->n; i++) {
            float v = t->alpha * host[t->x][t->xo + i];
            host[t->y][t->yo + i] = t->axpy ? v + host[t->y][t->yo + i] : v;
        }
    }
    for (int j = 2; j < 4; j++)
        ck_assert_ok(aidev_enqueue_read(q, b[j], 0, sizeof got[j], got[j], 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    /* Small integers and halves: exact with or without a fused multiply-add. */
    for (int j = 2; j < 4; j++)
        for (int i = 0; i < N; i++)
            ck_assert_msg(got[j][i] == host[j][i], "buffer %d [%d] = %g, want %g", j, i,
                          got[j][i], host[j][i]);
    for (int j = 0; j < 4; j++)
        aidev_buffer_release(b[j]);
    aidev_kernel_release(axpy);
    aidev_kernel_release(scale);
    aidev_queue_release(q);
}
END_TEST

/* A user kernel in C: a device that takes host kernels runs it; the others
 * refuse it by feature. */
static void scale_by_index(void *const *args, const aidev_host_range *r)
{
    uint32_t n = *(const uint32_t *)args[0];
    float *x = args[1];
    for (uint32_t i = r->begin[0]; i < r->end[0] && i < n; i++)
        x[i] *= (float)i;
}

START_TEST(user_host_kernel)
{
    aidev_device dev = harness_device(_i);
    uint64_t features;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features,
                                       NULL));
    const aidev_kernel_arg_desc sig[] = {
        {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ_WRITE, "n"},
    };
    aidev_kernel_desc desc = {.name = "scale_by_index",
                              .source_kind = AIDEV_KERNEL_SOURCE_HOST,
                              .host_fn = scale_by_index,
                              .arg_count = 2,
                              .args = sig,
                              .grid = {"n", NULL, NULL}};
    aidev_kernel k;
    aidev_status st = aidev_kernel_create(dev, &desc, &k);
    if (!(features & AIDEV_FEATURE_KERNEL_HOST)) {
        ck_assert_error_names(st, AIDEV_ERROR_UNSUPPORTED, "host");
        return;
    }
    ck_assert_msg(st == AIDEV_SUCCESS, "%s", aidev_last_error());
    enum { N = 50000 };
    float *x = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        x[i] = 1.0f;
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    ck_assert_ok(aidev_enqueue_write(q, b, 0, N * 4, x, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_buffer(b, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 2, args, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, N * 4, x, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    int at = 0;
    while (at < N && x[at] == (float)at)
        at++;
    ck_assert_msg(at == N, "x[%d] = %g, want %d", at, at < N ? x[at] : 0.0f, at);
    free(x);
    /* The kernel copied its description: the caller's may go. */
    ck_assert_ok(aidev_kernel_release(k));

    /* Bad descriptions. */
    aidev_kernel_desc bad = desc;
    bad.host_fn = NULL;
    ck_assert_error_names(aidev_kernel_create(dev, &bad, &k), AIDEV_ERROR_INVALID_ARGUMENT,
                          "host_fn");
    bad = desc;
    bad.grid[0] = "m";
    ck_assert_error_names(aidev_kernel_create(dev, &bad, &k), AIDEV_ERROR_INVALID_ARGUMENT,
                          "'m' is not an integer scalar");
    aidev_kernel_arg_desc bad_sig[2] = {sig[0], sig[1]};
    bad_sig[0].type = AIDEV_TYPE_I8;
    bad = desc;
    bad.args = bad_sig;
    ck_assert_error_names(aidev_kernel_create(dev, &bad, &k), AIDEV_ERROR_INVALID_ARGUMENT, "'n'");
    bad_sig[0] = sig[0];
    bad_sig[1].access = 0;
    ck_assert_error_names(aidev_kernel_create(dev, &bad, &k), AIDEV_ERROR_INVALID_ARGUMENT,
                          "access");
    bad = desc;
    bad.source_kind = (aidev_kernel_source_kind)42;
    ck_assert_error_names(aidev_kernel_create(dev, &bad, &k), AIDEV_ERROR_INVALID_ARGUMENT,
                          "source_kind");
    bad = desc;
    bad.source_kind = AIDEV_KERNEL_SOURCE_SPIRV;
    bad.data = "abc";
    bad.size = 3;
    ck_assert_error_names(aidev_kernel_create(dev, &bad, &k), AIDEV_ERROR_INVALID_ARGUMENT,
                          "SPIR-V words");
    ck_assert_error_names(aidev_kernel_create(dev, NULL, &k), AIDEV_ERROR_INVALID_ARGUMENT,
                          "desc");
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("dispatch");
    harness_add_per_device(s, "axpy_awkward_sizes", axpy_awkward_sizes, 120);
    harness_add_per_device(s, "zero_grid_runs_nothing", zero_grid_runs_nothing, 0);
    harness_add_per_device(s, "signature_mismatches_are_refused", signature_mismatches_are_refused,
                           0);
    harness_add_per_device(s, "kernel_lookup", kernel_lookup, 120);
    harness_add_per_device(s, "kernel_of_another_device", kernel_of_another_device, 0);
    harness_add_per_device(s, "user_host_kernel", user_host_kernel, 0);
    harness_add_per_device(s, "back_to_back_dispatches_see_their_own_arguments",
                           back_to_back_dispatches_see_their_own_arguments, 120);
    return harness_run(s);
}

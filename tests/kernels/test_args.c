/* Every dispatch of a library kernel is checked against its manifest
 * signature before it reaches a backend: a wrong argument count, a buffer
 * of the wrong element type, a buffer too small for the element count the
 * manifest gives, a scalar of the wrong type, a buffer where a scalar
 * belongs and a workgroup other than the one its GPU forms run in are
 * refused with AIDEV_ERROR_KERNEL_ARGS and a message naming the
 * kernel and the argument; the output buffer is left untouched. Checked for
 * several kernels on every device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"

/* A valid dispatch of each kernel, on 64-element problems. */
typedef struct valid_dispatch {
    const char *kernel;
    uint32_t argc;
    aidev_arg args[8];
    int out;          /* index of the output buffer argument */
    int f32_buffer;   /* index of an f32 buffer argument to mistype */
    int sized;        /* index of a buffer whose count comes from the scalars */
    const char *count; /* its count expression, as the manifest has it */
    uint32_t need;     /* its value here, in elements */
    int scalar;       /* index of a u32 scalar argument */
} valid_dispatch;

typedef struct buffers {
    aidev_buffer f32[4];   /* 64 x 64 floats each */
    aidev_buffer i8[2];    /* 64 x 64 int8 */
    aidev_buffer i32;      /* 64 x 64 int32: the wrong type for anything here */
    aidev_buffer small;    /* 8 floats */
} buffers;

enum { N = 64 };

static void make_buffers(const kc_device *d, buffers *b)
{
    for (int i = 0; i < 4; i++)
        b->f32[i] = kc_buffer(d, AIDEV_TYPE_F32, N * N, NULL);
    for (int i = 0; i < 2; i++)
        b->i8[i] = kc_buffer(d, AIDEV_TYPE_I8, N * N, NULL);
    b->i32 = kc_buffer(d, AIDEV_TYPE_I32, N * N, NULL);
    b->small = kc_buffer(d, AIDEV_TYPE_F32, 8, NULL);
}

static void free_buffers(buffers *b)
{
    for (int i = 0; i < 4; i++)
        aidev_buffer_release(b->f32[i]);
    for (int i = 0; i < 2; i++)
        aidev_buffer_release(b->i8[i]);
    aidev_buffer_release(b->i32);
    aidev_buffer_release(b->small);
}

static valid_dispatch make_dispatch(const char *kernel, const buffers *b)
{
    valid_dispatch v = {.kernel = kernel};
    const aidev_arg u = aidev_arg_u32(N);
    if (strcmp(kernel, "axpy") == 0) {
        v = (valid_dispatch){kernel, 4, {u, aidev_arg_f32(2), aidev_arg_buffer(b->f32[0], 0),
                                         aidev_arg_buffer(b->f32[1], 0)},
                             3, 2, 2, "n", N, 0};
    } else if (strcmp(kernel, "softmax") == 0) {
        v = (valid_dispatch){kernel, 4, {u, u, aidev_arg_buffer(b->f32[0], 0),
                                         aidev_arg_buffer(b->f32[1], 0)},
                             3, 2, 2, "rows*cols", N * N, 1};
    } else if (strcmp(kernel, "reduce_sum") == 0) {
        v = (valid_dispatch){kernel, 3, {u, aidev_arg_buffer(b->f32[0], 0),
                                         aidev_arg_buffer(b->f32[1], 0)},
                             2, 1, 1, "n", N, 0};
    } else if (strcmp(kernel, "sgemm") == 0) {
        v = (valid_dispatch){kernel, 8, {u, u, u, aidev_arg_f32(1), aidev_arg_f32(0),
                                         aidev_arg_buffer(b->f32[0], 0),
                                         aidev_arg_buffer(b->f32[1], 0),
                                         aidev_arg_buffer(b->f32[2], 0)},
                             7, 6, 6, "k*n", N * N, 2};
    } else if (strcmp(kernel, "layernorm") == 0) {
        v = (valid_dispatch){kernel, 7, {u, u, aidev_arg_f32(1e-5f),
                                         aidev_arg_buffer(b->f32[0], 0),
                                         aidev_arg_buffer(b->f32[1], 0),
                                         aidev_arg_buffer(b->f32[2], 0),
                                         aidev_arg_buffer(b->f32[3], 0)},
                             6, 4, 3, "rows*cols", N * N, 0};
    } else if (strcmp(kernel, "quantize_i8") == 0) {
        v = (valid_dispatch){kernel, 5, {u, u, aidev_arg_buffer(b->f32[0], 0),
                                         aidev_arg_buffer(b->i8[0], 0),
                                         aidev_arg_buffer(b->f32[1], 0)},
                             3, 2, 2, "rows*cols", N * N, 1};
    } else if (strcmp(kernel, "matmul_i8") == 0) {
        v = (valid_dispatch){kernel, 8, {u, u, u, aidev_arg_buffer(b->i8[0], 0),
                                         aidev_arg_buffer(b->f32[0], 0),
                                         aidev_arg_buffer(b->i8[1], 0),
                                         aidev_arg_buffer(b->f32[1], 0),
                                         aidev_arg_buffer(b->f32[2], 0)},
                             7, 4, 7, "m*n", N * N, 1};
    } else {
        ck_abort_msg("no valid dispatch for %s", kernel);
    }
    return v;
}

static const aidev_kernel_arg_desc *arg_desc(const char *kernel, int i)
{
    for (uint32_t k = 0; k < aidev_library_kernel_count(); k++)
        if (strcmp(aidev_library_kernel(k)->name, kernel) == 0)
            return &aidev_library_kernel(k)->args[i];
    ck_abort_msg("no library kernel %s", kernel);
    return NULL;
}

/* The dispatch is refused with KERNEL_ARGS, its message names the kernel
 * and |needle|, and the output still holds its marker. */
static void expect_refused_wg(const kc_device *d, aidev_kernel k, const valid_dispatch *v,
                              uint32_t argc, const aidev_arg *args, const uint32_t *workgroup,
                              const char *needle, const char *what)
{
    aidev_status st =
        aidev_enqueue_dispatch(d->queue, k, NULL, workgroup, argc, args, 0, NULL, NULL);
    const char *msg = aidev_last_error();
    char kname[64];
    snprintf(kname, sizeof kname, "'%s'", v->kernel);
    ck_assert_msg(st == AIDEV_ERROR_KERNEL_ARGS, "%s, %s on %s: %s, expected KERNEL_ARGS (%s)",
                  v->kernel, what, d->label, aidev_status_string(st), msg);
    ck_assert_msg(strstr(msg, kname), "%s, %s on %s: the message does not name the kernel: %s",
                  v->kernel, what, d->label, msg);
    ck_assert_msg(strstr(msg, needle), "%s, %s on %s: the message does not name '%s': %s",
                  v->kernel, what, d->label, needle, msg);
}

static void expect_refused(const kc_device *d, aidev_kernel k, const valid_dispatch *v,
                           uint32_t argc, const aidev_arg *args, const char *needle,
                           const char *what)
{
    expect_refused_wg(d, k, v, argc, args, NULL, needle, what);
}

/* One rule for workgroups on every device: a built-in kernel runs in the
 * workgroup of its GPU forms only, and any other is refused by libaidev
 * with one message (not by a backend in its own words, not ignored).
 * Returns that workgroup, read from the message. */
static void required_workgroup_of(const kc_device *d, aidev_kernel k, const valid_dispatch *v,
                                   uint32_t wg[3])
{
    const uint32_t one[3] = {1, 1, 1};
    expect_refused_wg(d, k, v, v->argc, v->args, one, "runs in workgroups of",
                      "a workgroup of 1 x 1 x 1");
    const char *at = strstr(aidev_last_error(), "workgroups of ");
    ck_assert_int_eq(sscanf(at, "workgroups of %u x %u x %u", &wg[0], &wg[1], &wg[2]), 3);
    ck_assert_msg(wg[0] * wg[1] * wg[2] > 1, "%s: %s", v->kernel, aidev_last_error());
    /* Any other size of the same total is as wrong. */
    uint32_t swapped[3] = {wg[1], wg[0], wg[2]};
    if (wg[0] == wg[1])
        swapped[0] = wg[0] * 2, swapped[1] = wg[1] / 2;
    expect_refused_wg(d, k, v, v->argc, v->args, swapped, "runs in workgroups of",
                      "a workgroup of the right size, other shape");
    char want[96];
    snprintf(want, sizeof want, "runs in workgroups of %u x %u x %u only", wg[0], wg[1], wg[2]);
    ck_assert_msg(strstr(aidev_last_error(), want), "%s: %s", v->kernel, aidev_last_error());
}

static void check_kernel(const kc_device *d, const char *name)
{
    aidev_kernel k = kc_kernel_optional(d, name);
    if (!k)
        return;
    buffers b;
    make_buffers(d, &b);
    valid_dispatch v = make_dispatch(name, &b);
    aidev_arg args[9];
    char needle[64];

    /* A marker in the output shows that no refused dispatch ran. */
    const float marker = 42.0f;
    aidev_buffer out = v.args[v.out].u.buffer.buffer;
    ck_assert_ok(aidev_enqueue_fill(d->queue, out, 0, sizeof marker, &marker, 4, 0, NULL, NULL));

    /* One argument too few, one too many. */
    memcpy(args, v.args, sizeof v.args);
    expect_refused(d, k, &v, v.argc - 1, args, "arguments given", "too few arguments");
    args[v.argc] = aidev_arg_u32(1);
    expect_refused(d, k, &v, v.argc + 1, args, "arguments given", "too many arguments");

    /* An i32 buffer where the manifest says f32. */
    memcpy(args, v.args, sizeof v.args);
    args[v.f32_buffer] = aidev_arg_buffer(b.i32, 0);
    snprintf(needle, sizeof needle, "'%s'", arg_desc(name, v.f32_buffer)->name);
    expect_refused(d, k, &v, v.argc, args, needle, "wrong element type");
    ck_assert_msg(strstr(aidev_last_error(), "i32"), "%s: the type is not named: %s", name,
                  aidev_last_error());

    /* A buffer of 8 floats where the count expression needs 64 x 64 (or 64). */
    memcpy(args, v.args, sizeof v.args);
    args[v.sized] = aidev_arg_buffer(b.small, 0);
    snprintf(needle, sizeof needle, "'%s'", arg_desc(name, v.sized)->name);
    expect_refused(d, k, &v, v.argc, args, needle, "buffer too small");
    ck_assert_msg(strstr(aidev_last_error(), v.count), "%s: the count '%s' is not named: %s",
                  name, v.count, aidev_last_error());

    /* A buffer of exactly the count, offset by one element: one short. */
    const aidev_kernel_arg_desc *sized = arg_desc(name, v.sized);
    aidev_buffer exact = kc_buffer(d, sized->type, v.need, NULL);
    memcpy(args, v.args, sizeof v.args);
    args[v.sized] = aidev_arg_buffer(exact, aidev_type_size(sized->type));
    expect_refused(d, k, &v, v.argc, args, needle, "offset buffer too small");
    aidev_buffer_release(exact);

    /* An i32 scalar where a u32 is declared, and a buffer in its place. */
    memcpy(args, v.args, sizeof v.args);
    args[v.scalar] = aidev_arg_i32(N);
    snprintf(needle, sizeof needle, "'%s'", arg_desc(name, v.scalar)->name);
    expect_refused(d, k, &v, v.argc, args, needle, "scalar type");
    args[v.scalar] = aidev_arg_buffer(b.f32[3], 0);
    expect_refused(d, k, &v, v.argc, args, needle, "buffer for a scalar");

    /* A workgroup the kernel does not run in. */
    uint32_t wg[3];
    required_workgroup_of(d, k, &v, wg);

    /* Nothing ran: the marker is still there. The valid dispatch runs, with
     * no workgroup and with the kernel's. */
    float first;
    kc_read(d, out, AIDEV_TYPE_F32, 1, &first);
    ck_assert_msg(first == marker, "%s on %s: a refused dispatch wrote its output", name,
                  d->label);
    kc_dispatch(d, k, v.argc, v.args);
    ck_assert_ok(aidev_enqueue_dispatch(d->queue, k, NULL, wg, v.argc, v.args, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(d->queue));

    free_buffers(&b);
    aidev_kernel_release(k);
}

START_TEST(test_refusals)
{
    static const char *kernels[] = {"axpy",      "softmax",     "reduce_sum",      "sgemm",
                                    "layernorm", "quantize_i8", "matmul_i8"};
    kc_device d = kc_open(_i);
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        check_kernel(&d, kernels[i]);
    kc_close(&d);
}
END_TEST

START_TEST(test_unknown_name)
{
    kc_device d = kc_open(_i);
    aidev_kernel k = NULL;
    ck_assert_error_names(aidev_kernel_get(d.dev, "no_such_kernel", &k), AIDEV_ERROR_NOT_FOUND,
                          "no_such_kernel");
    ck_assert_ptr_null(k);
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-args");
    harness_add_per_device(s, "refusals", test_refusals, 0);
    harness_add_per_device(s, "unknown_name", test_unknown_name, 0);
    return harness_run(s);
}

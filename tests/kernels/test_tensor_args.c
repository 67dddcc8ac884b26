/* Tensor descriptors: the helpers (init, slice, permute), and every check
 * an op makes before it enqueues anything, each refusal naming the operand
 * and the values; and ops in the queue's order (waits, events, a failed
 * dependency). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

START_TEST(test_helpers)
{
    aidev_tensor t, s;
    const int64_t shape[3] = {4, 5, 6};
    ck_assert_ok(aidev_tensor_init(&t, NULL, 16, AIDEV_TYPE_F16, 3, shape));
    ck_assert_int_eq(t.strides[0], 30);
    ck_assert_int_eq(t.strides[1], 6);
    ck_assert_int_eq(t.strides[2], 1);
    ck_assert_ok(aidev_tensor_slice(&t, 1, 1, 5, 2, &s)); /* rows 1 and 3 */
    ck_assert_int_eq(s.shape[1], 2);
    ck_assert_int_eq(s.strides[1], 12);
    ck_assert_uint_eq(s.offset, 16 + 6 * 2);
    ck_assert_ok(aidev_tensor_slice(&t, 2, 2, 100, 1, &s)); /* stop clamped */
    ck_assert_int_eq(s.shape[2], 4);
    const uint32_t perm[3] = {2, 0, 1};
    ck_assert_ok(aidev_tensor_permute(&t, perm, &s));
    ck_assert_int_eq(s.shape[0], 6);
    ck_assert_int_eq(s.strides[0], 1);
    ck_assert_int_eq(s.shape[2], 5);

    const int64_t big[5] = {1, 1, 1, 1, 1}, neg[1] = {-1};
    ck_assert_error_names(aidev_tensor_init(&t, NULL, 0, AIDEV_TYPE_F32, 5, big),
                          AIDEV_ERROR_INVALID_ARGUMENT, "rank");
    ck_assert_error_names(aidev_tensor_init(&t, NULL, 0, AIDEV_TYPE_F32, 1, neg),
                          AIDEV_ERROR_INVALID_ARGUMENT, "shape[0]");
    ck_assert_error_names(aidev_tensor_init(&t, NULL, 0, AIDEV_TYPE_NONE, 1, shape),
                          AIDEV_ERROR_INVALID_ARGUMENT, "dtype");
    ck_assert_ok(aidev_tensor_init(&t, NULL, 0, AIDEV_TYPE_F32, 3, shape));
    ck_assert_error_names(aidev_tensor_slice(&t, 3, 0, 1, 1, &s), AIDEV_ERROR_INVALID_ARGUMENT,
                          "axis");
    ck_assert_error_names(aidev_tensor_slice(&t, 0, 0, 4, 0, &s), AIDEV_ERROR_INVALID_ARGUMENT,
                          "step");
    ck_assert_error_names(aidev_tensor_slice(&t, 0, 3, 2, 1, &s), AIDEV_ERROR_INVALID_ARGUMENT,
                          "start");
    const uint32_t bad_perm[3] = {0, 0, 1};
    ck_assert_error_names(aidev_tensor_permute(&t, bad_perm, &s), AIDEV_ERROR_INVALID_ARGUMENT,
                          "perm[1]");
}
END_TEST

/* An f32 buffer of 24 elements and views of it. */
typedef struct fixture {
    kc_device d;
    aidev_buffer buf;
    aidev_tensor a, b, y;
} fixture;

static void fixture_open(fixture *f, int device)
{
    f->d = kc_open(device);
    f->buf = kc_buffer(&f->d, AIDEV_TYPE_F32, 24, NULL);
    const int64_t shape[2] = {4, 6};
    ck_assert_ok(aidev_tensor_init(&f->a, f->buf, 0, AIDEV_TYPE_F32, 2, shape));
    f->b = f->a;
    f->y = f->a;
}

static void fixture_close(fixture *f)
{
    ck_assert_ok(aidev_buffer_release(f->buf));
    kc_close(&f->d);
}

static aidev_status add(fixture *f)
{
    return aidev_enqueue_binary(f->d.queue, AIDEV_BINARY_ADD, &f->a, &f->b, &f->y, 0, NULL, NULL);
}

START_TEST(test_refusals)
{
    fixture f;
    fixture_open(&f, _i);
    ck_assert_ok(add(&f));

    f.a.dtype = AIDEV_TYPE_I32;
    ck_assert_error_names(add(&f), AIDEV_ERROR_UNSUPPORTED, "a has dtype i32; it takes f16, f32, bf16");
    f.a.dtype = AIDEV_TYPE_F32;

    f.a.shape[0] = 5; /* 30 elements in a buffer of 24 */
    ck_assert_error_names(add(&f), AIDEV_ERROR_OUT_OF_RANGE, "reaches element 29");
    f.a.shape[0] = 4;

    f.b.strides[1] = -1; /* from element 0 backwards */
    ck_assert_error_names(add(&f), AIDEV_ERROR_OUT_OF_RANGE, "before the buffer's start");
    f.b.offset = 5 * 4; /* the same, from the end of the row: fine */
    ck_assert_ok(add(&f));
    f.b = f.a;

    f.a.offset = 2;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "offset 2 is not a multiple");
    f.a.offset = 0;

    f.y.strides[0] = 0;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "output y");
    f.y.strides[0] = 3; /* rows overlapping the next one */
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "twice");
    f.y = f.a;
    f.b.strides[0] = 0; /* an input may repeat its elements */
    ck_assert_ok(add(&f));
    f.b = f.a;

    f.b.shape[1] = 5;
    f.b.shape[0] = 1;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT,
                          "axis -1 (counted from the last, -1) has 5 against 6");
    f.b = f.a;

    f.a.rank = 5;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "a has rank 5");
    f.a.rank = 2;
    f.a.shape[0] = -1;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "size -1 of axis 0");
    f.a.shape[0] = 1ll << 32;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "outside [0, 2^32)");
    f.a.shape[0] = 4;
    f.a.strides[0] = 1ll << 31;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "stride 2147483648 of axis 0");
    f.a.strides[0] = 0x7fffffff; /* huge spans: refused without overflowing */
    f.a.shape[0] = 0xffffffffll;
    ck_assert_error_names(add(&f), AIDEV_ERROR_OUT_OF_RANGE, "a (");
    f.a = f.b;

    ck_assert_error_names(aidev_enqueue_binary(f.d.queue, AIDEV_BINARY_ADD, NULL, &f.b, &f.y, 0,
                                               NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "a: NULL");
    ck_assert_error_names(aidev_enqueue_binary(f.d.queue, (aidev_binary_op)77, &f.a, &f.b, &f.y,
                                               0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "op 77");
    ck_assert_error_names(aidev_enqueue_unary(f.d.queue, (aidev_unary_op)0, &f.a, &f.y, 0, NULL,
                                              NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "op 0");
    ck_assert_error_names(aidev_enqueue_requantize(f.d.queue, 0, 0, &f.a, &f.b, &f.y, 0, NULL,
                                                   NULL),
                          AIDEV_ERROR_UNSUPPORTED, "y has dtype f32; it takes i8, u8, i32");
    ck_assert_error_names(aidev_enqueue_binary(NULL, AIDEV_BINARY_ADD, &f.a, &f.b, &f.y, 0, NULL,
                                               NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "queue");

    ck_assert_ok(aidev_tensor_check(f.d.queue, &f.y, 1));
    f.y.strides[1] = 0;
    ck_assert_error_names(aidev_tensor_check(f.d.queue, &f.y, 1), AIDEV_ERROR_INVALID_ARGUMENT,
                          "twice");
    ck_assert_ok(aidev_tensor_check(f.d.queue, &f.y, 0));
    f.y = f.a;

    /* A released buffer. */
    aidev_buffer gone = kc_buffer(&f.d, AIDEV_TYPE_F32, 24, NULL);
    ck_assert_ok(aidev_buffer_release(gone));
    f.b.buffer = gone;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_HANDLE, "b->buffer");
    f.b = f.a;
    ck_assert_ok(aidev_queue_finish(f.d.queue));
    fixture_close(&f);
}
END_TEST

/* A buffer of another device is refused, naming both devices. */
START_TEST(test_other_device)
{
    if (harness_device_count() < 2)
        return;
    fixture f;
    fixture_open(&f, _i);
    kc_device other = kc_open((_i + 1) % (int)harness_device_count());
    aidev_buffer ob = kc_buffer(&other, AIDEV_TYPE_F32, 24, NULL);
    f.b.buffer = ob;
    ck_assert_error_names(add(&f), AIDEV_ERROR_INVALID_ARGUMENT, "the queue on device");
    ck_assert_ok(aidev_buffer_release(ob));
    kc_close(&other);
    fixture_close(&f);
}
END_TEST

/* Ops wait for their wait list and give events; a failed wait fails the op
 * (AIDEV_ERROR_DEPENDENCY) without running it. */
START_TEST(test_events)
{
    fixture f;
    fixture_open(&f, _i);
    aidev_event gate, ev;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_binary(f.d.queue, AIDEV_BINARY_ADD, &f.a, &f.b, &f.y, 1, &gate,
                                      &ev));
    ck_assert_int_eq(aidev_event_query(ev), AIDEV_NOT_READY);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_ok(aidev_event_release(gate));

    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_unary(f.d.queue, AIDEV_UNARY_EXP, &f.a, &f.y, 1, &gate, &ev));
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_ERROR_IO, "gate failed"));
    ck_assert_int_eq(aidev_event_wait(ev, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY);
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_ok(aidev_event_release(gate));

    /* Empty tensors: nothing runs, the event completes. */
    f.y.shape[0] = f.a.shape[0] = f.b.shape[0] = 0;
    ck_assert_ok(aidev_enqueue_binary(f.d.queue, AIDEV_BINARY_ADD, &f.a, &f.b, &f.y, 0, NULL,
                                      &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_release(ev));
    fixture_close(&f);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-tensor-args");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, test_helpers);
    suite_add_tcase(s, tc);
    harness_add_per_device(s, "refusals", test_refusals, 0);
    harness_add_per_device(s, "other_device", test_other_device, 0);
    harness_add_per_device(s, "events", test_events, 0);
    return harness_run(s);
}

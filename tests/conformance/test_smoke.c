/* Smoke: every device can move data and run axpy. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(write_read_roundtrip)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    unsigned char src[4096], dst[4096];
    for (int i = 0; i < 4096; i++)
        src[i] = (unsigned char)(i * 7 + 3);
    ck_assert_ok(aidev_enqueue_write(q, b, 0, sizeof src, src, 0, NULL, NULL));
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_read(q, b, 0, sizeof dst, dst, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    ck_assert_int_eq(memcmp(src, dst, sizeof src), 0);
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(axpy_dispatch)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { N = 1000 };
    float x[N], y[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i, y[i] = 1.0f;
    aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    aidev_buffer by = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof y, AIDEV_TYPE_F32);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    ck_assert_ok(aidev_enqueue_write(q, bx, 0, sizeof x, x, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_write(q, by, 0, sizeof y, y, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, by, 0, sizeof out, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(out[i], 2.0f * (float)i + 1.0f);
    aidev_kernel_release(k);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_queue_release(q);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("smoke");
    harness_add_per_device(s, "write_read_roundtrip", write_read_roundtrip, 0);
    harness_add_per_device(s, "axpy_dispatch", axpy_dispatch, 0);
    return harness_run(s);
}

/* Handles: NULL, released, wrong-typed, garbage and foreign handles are
 * refused with AIDEV_ERROR_INVALID_HANDLE at every entry, never a crash. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Values no call may follow: small integers, odd pointers, the address of a
 * stack variable, the top of the address space. */
static uintptr_t garbage_values(int i)
{
    static int on_stack;
    const uintptr_t values[] = {
        1, 0xffffffffu, (uintptr_t)&on_stack, UINTPTR_MAX, 0x1000001, 0xdeadbeefcafef00dull,
    };
    return values[i % (int)(sizeof values / sizeof values[0])];
}

START_TEST(garbage_handles_are_refused)
{
    for (int i = 0; i < 6; i++) {
        uintptr_t g = garbage_values(i);
        uint32_t n;
        ck_assert_status(aidev_context_get_devices((aidev_context)g, &n, NULL),
                         AIDEV_ERROR_INVALID_HANDLE);
        uint32_t v;
        ck_assert_status(aidev_device_get_info((aidev_device)g, AIDEV_DEVICE_INFO_TYPE, 4, &v,
                                               NULL),
                         AIDEV_ERROR_INVALID_HANDLE);
        ck_assert_status(aidev_buffer_release((aidev_buffer)g), AIDEV_ERROR_INVALID_HANDLE);
        ck_assert_status(aidev_queue_finish((aidev_queue)g), AIDEV_ERROR_INVALID_HANDLE);
        ck_assert_status(aidev_event_wait((aidev_event)g, 0), AIDEV_ERROR_INVALID_HANDLE);
        ck_assert_status(aidev_event_query((aidev_event)g), AIDEV_ERROR_INVALID_HANDLE);
        ck_assert_status(aidev_kernel_release((aidev_kernel)g), AIDEV_ERROR_INVALID_HANDLE);
        ck_assert_str_eq(aidev_event_message((aidev_event)g), "");
    }
}
END_TEST

START_TEST(wrong_type_and_released_handles)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 256, AIDEV_TYPE_NONE);
    char data[256] = {0};

    /* A queue where a buffer is expected, and the other way round. */
    ck_assert_error_names(aidev_enqueue_write(q, (aidev_buffer)q, 0, 16, data, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "expected a buffer handle, got a queue");
    ck_assert_error_names(aidev_enqueue_write((aidev_queue)b, b, 0, 16, data, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "queue");
    ck_assert_error_names(aidev_queue_finish((aidev_queue)dev), AIDEV_ERROR_INVALID_HANDLE,
                          "got a device");

    /* Released handles stay refused, even after their slot is reused. */
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_error_names(aidev_enqueue_write(q, b, 0, 16, data, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "buffer");
    aidev_buffer b2 = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 256, AIDEV_TYPE_NONE);
    ck_assert_ptr_ne(b2, b);
    ck_assert_status(aidev_enqueue_write(q, b, 0, 16, data, 0, NULL, NULL),
                     AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_enqueue_write(q, b2, 0, 16, data, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_release(q));
    ck_assert_status(aidev_queue_finish(q), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_status(aidev_enqueue_write(q, b2, 0, 16, data, 0, NULL, NULL),
                     AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_buffer_release(b2));
}
END_TEST

START_TEST(foreign_context_handles_are_refused)
{
    aidev_device dev = harness_device(_i);
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL));
    aidev_context other;
    ck_assert_ok(aidev_context_create(NULL, &other));
    aidev_device other_dev;
    ck_assert_ok(aidev_context_get_device(other, index, &other_dev));
    ck_assert_ptr_ne(other_dev, dev);

    aidev_queue q = harness_queue(dev);
    aidev_buffer foreign = harness_buffer(other_dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    char data[64] = {0};
    ck_assert_error_names(aidev_enqueue_write(q, foreign, 0, 16, data, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "another context");
    aidev_event foreign_event;
    ck_assert_ok(aidev_event_create_user(other, &foreign_event));
    ck_assert_error_names(aidev_enqueue_barrier(q, 1, &foreign_event, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "another context");

    /* Releasing the other context ends its handles, not ours. */
    ck_assert_ok(aidev_context_release(other));
    ck_assert_status(aidev_buffer_release(foreign), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_status(aidev_event_query(foreign_event), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_enqueue_barrier(q, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(context_release_frees_everything)
{
    /* Objects left alive are released with their context (ASan checks
     * nothing leaks), including commands held by a never-set user event. */
    aidev_device dev = harness_device(_i);
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL));
    aidev_context ctx;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    aidev_device d;
    ck_assert_ok(aidev_context_get_device(ctx, index, &d));
    aidev_queue q;
    ck_assert_ok(aidev_queue_create(d, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    aidev_buffer b = harness_buffer(d, AIDEV_MEMORY_DEVICE, 1024, AIDEV_TYPE_NONE);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(d, "axpy", &k));
    aidev_event user, after;
    ck_assert_ok(aidev_event_create_user(ctx, &user));
    static char data[1024];
    ck_assert_ok(aidev_enqueue_write(q, b, 0, sizeof data, data, 1, &user, &after));
    ck_assert_status(aidev_event_query(after), AIDEV_NOT_READY);
    ck_assert_ok(aidev_context_release(ctx));
    ck_assert_status(aidev_event_query(after), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_status(aidev_kernel_release(k), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_status(aidev_queue_release(q), AIDEV_ERROR_INVALID_HANDLE);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("handles");
    TCase *tc = tcase_create("garbage");
    tcase_add_test(tc, garbage_handles_are_refused);
    suite_add_tcase(s, tc);
    harness_add_per_device(s, "wrong_type_and_released_handles", wrong_type_and_released_handles,
                           0);
    harness_add_per_device(s, "foreign_context_handles_are_refused",
                           foreign_context_handles_are_refused, 0);
    harness_add_per_device(s, "context_release_frees_everything", context_release_frees_everything,
                           0);
    return harness_run(s);
}

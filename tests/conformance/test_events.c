/* Events: waiting, querying, callbacks, timestamps, user events, failed
 * dependencies, and wait lists across queues, devices and backends. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(user_event_gates_a_queue)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    aidev_event gate, written, read;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_status(aidev_event_query(gate), AIDEV_NOT_READY);
    unsigned char src[64], dst[64] = {0};
    memset(src, 0x3c, sizeof src);
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 64, src, 1, &gate, &written));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, 64, dst, 0, NULL, &read));
    /* Nothing runs while the gate is closed, however long we look. */
    ck_assert_status(aidev_event_wait(read, 20 * 1000 * 1000), AIDEV_ERROR_TIMEOUT);
    ck_assert_status(aidev_event_query(written), AIDEV_NOT_READY);
    ck_assert_uint_eq(dst[0], 0);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_status(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL), AIDEV_ERROR_INVALID_STATE);
    ck_assert_ok(aidev_event_wait(read, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_query(written));
    ck_assert_int_eq(memcmp(src, dst, 64), 0);
    aidev_event_release(gate);
    aidev_event_release(written);
    aidev_event_release(read);
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

START_TEST(failed_event_fails_its_waiters)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    unsigned char src[64], dst[64];
    memset(src, 0x11, sizeof src);
    memset(dst, 0x77, sizeof dst);
    aidev_event gate, blocked, chained, unrelated;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 64, src, 1, &gate, &blocked));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, 64, dst, 1, &blocked, &chained));
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_ERROR_IO, "disk on fire"));

    ck_assert_error_names(aidev_event_wait(gate, AIDEV_WAIT_FOREVER), AIDEV_ERROR_IO,
                          "disk on fire");
    ck_assert_error_names(aidev_event_wait(blocked, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY,
                          "disk on fire");
    /* The failure travels down the chain with its cause. */
    ck_assert_error_names(aidev_event_wait(chained, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY,
                          "disk on fire");
    ck_assert_status(aidev_event_query(chained), AIDEV_ERROR_DEPENDENCY);
    ck_assert_ptr_nonnull(strstr(aidev_event_message(chained), "disk on fire"));
    /* Neither command ran: the buffer and the host memory are untouched. */
    ck_assert_uint_eq(dst[0], 0x77);

    /* A command enqueued after the failure, waiting on it, fails at once. */
    aidev_event late;
    ck_assert_ok(aidev_enqueue_barrier(q, 1, &gate, &late));
    ck_assert_status(aidev_event_wait(late, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY);

    /* The queue goes on: commands that do not wait on the failure run. */
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 64, src, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, 64, dst, 0, NULL, &unrelated));
    ck_assert_ok(aidev_event_wait(unrelated, AIDEV_WAIT_FOREVER));
    ck_assert_int_eq(memcmp(src, dst, 64), 0);

    ck_assert_status(aidev_event_set_status(blocked, AIDEV_SUCCESS, NULL),
                     AIDEV_ERROR_INVALID_STATE);
    aidev_event fresh;
    ck_assert_ok(aidev_event_create_user(harness_context(), &fresh));
    ck_assert_error_names(aidev_event_set_status(fresh, AIDEV_NOT_READY, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "not a final status");
    /* Only statuses of the enum: a user event's status reaches every
     * waiter's event, which must keep the contract of aidev_status. */
    const int foreign[] = {AIDEV_ERROR_CANCELLED - 1, -1000, INT32_MIN, 2, INT32_MAX};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        ck_assert_error_names(aidev_event_set_status(fresh, (aidev_status)foreign[i], NULL),
                              AIDEV_ERROR_INVALID_ARGUMENT, "status");
    ck_assert_status(aidev_event_query(fresh), AIDEV_NOT_READY);
    ck_assert_ok(aidev_event_release(fresh));
    aidev_event_release(gate);
    aidev_event_release(blocked);
    aidev_event_release(chained);
    aidev_event_release(late);
    aidev_event_release(unrelated);
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

typedef struct callback_record {
    atomic_int calls;
    aidev_status status;
    aidev_event event;
} callback_record;

static void record_callback(aidev_event event, aidev_status status, void *user)
{
    callback_record *r = user;
    r->status = status;
    r->event = event;
    atomic_fetch_add(&r->calls, 1);
}

START_TEST(callbacks_and_timestamps)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 1 << 20, AIDEV_TYPE_NONE);
    uint32_t pattern = 7;
    aidev_event first, second;
    callback_record rec = {0}, late = {0};
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, 1 << 20, &pattern, 4, 0, NULL, &first));
    ck_assert_ok(aidev_event_set_callback(first, record_callback, &rec));
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, 1 << 20, &pattern, 4, 0, NULL, &second));
    aidev_event_times t;
    aidev_status st = aidev_event_get_times(second, &t);
    ck_assert(st == AIDEV_NOT_READY || st == AIDEV_SUCCESS);
    ck_assert_ok(aidev_event_wait(second, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_wait(first, AIDEV_WAIT_FOREVER));
    /* The callback may run on another thread just after completion. */
    for (int i = 0; i < 1000 && atomic_load(&rec.calls) == 0; i++)
        aidev_queue_finish(q);
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(atomic_load(&rec.calls), 1);
    ck_assert_int_eq(rec.status, AIDEV_SUCCESS);
    ck_assert_ptr_eq(rec.event, first);
    /* On a completed event the callback runs at once, on this thread. */
    ck_assert_ok(aidev_event_set_callback(second, record_callback, &late));
    ck_assert_int_eq(atomic_load(&late.calls), 1);
    ck_assert_error_names(aidev_event_set_callback(second, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "fn");

    aidev_event_times t1, t2;
    ck_assert_ok(aidev_event_get_times(first, &t1));
    ck_assert_ok(aidev_event_get_times(second, &t2));
    ck_assert_uint_gt(t1.queued, 0);
    ck_assert_uint_le(t1.queued, t1.start);
    ck_assert_uint_le(t1.start, t1.end);
    ck_assert_uint_le(t2.queued, t2.start);
    ck_assert_uint_le(t2.start, t2.end);
    /* One clock for all: in-order commands do not overlap. */
    ck_assert_uint_le(t1.end, t2.end);
    ck_assert_uint_le(t1.queued, t2.queued);
    ck_assert_error_names(aidev_event_get_times(first, NULL), AIDEV_ERROR_INVALID_ARGUMENT, "out");
    aidev_event_release(first);
    aidev_event_release(second);
    aidev_buffer_release(b);
    aidev_queue_release(q);
}
END_TEST

START_TEST(wait_lists_across_queues)
{
    aidev_device dev = harness_device(_i);
    aidev_queue producer = harness_queue(dev), consumer = harness_queue(dev);
    enum { N = 1 << 18 };
    aidev_buffer a = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N, AIDEV_TYPE_NONE);
    aidev_buffer c = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N, AIDEV_TYPE_NONE);
    unsigned char *src = malloc(N), *dst = calloc(1, N);
    for (int i = 0; i < N; i++)
        src[i] = (unsigned char)(i * 13);
    aidev_event gate, written, copied, read;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_write(producer, a, 0, N, src, 1, &gate, &written));
    ck_assert_ok(aidev_enqueue_copy(consumer, a, 0, c, 0, N, 1, &written, &copied));
    ck_assert_ok(aidev_enqueue_read(consumer, c, 0, N, dst, 0, NULL, &read));
    ck_assert_status(aidev_event_query(read), AIDEV_NOT_READY);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    aidev_event all[] = {written, copied, read};
    ck_assert_ok(aidev_events_wait(3, all, AIDEV_WAIT_FOREVER));
    ck_assert_int_eq(memcmp(src, dst, N), 0);
    aidev_event_times tw, tc;
    ck_assert_ok(aidev_event_get_times(written, &tw));
    ck_assert_ok(aidev_event_get_times(copied, &tc));
    ck_assert_uint_le(tw.end, tc.start);
    ck_assert_error_names(aidev_events_wait(2, NULL, 0), AIDEV_ERROR_INVALID_ARGUMENT, "events");
    free(src);
    free(dst);
    for (int i = 0; i < 3; i++)
        aidev_event_release(all[i]);
    aidev_event_release(gate);
    aidev_buffer_release(a);
    aidev_buffer_release(c);
    aidev_queue_release(producer);
    aidev_queue_release(consumer);
}
END_TEST

/* A chain through every device of the context: each device's queue waits
 * on the previous device's event, so events of every backend meet in wait
 * lists. Runs once per device as the chain's starting point. */
START_TEST(wait_lists_across_devices_and_backends)
{
    uint32_t n = harness_device_count();
    enum { N = 4096 };
    unsigned char src[N], hop[N], dst[N];
    for (int i = 0; i < N; i++)
        src[i] = (unsigned char)(i ^ 0xa5);
    aidev_queue *queues = calloc(n, sizeof *queues);
    aidev_buffer *bufs = calloc(n, sizeof *bufs);
    aidev_event *reads = calloc(n, sizeof *reads);
    aidev_event prev = NULL;
    ck_assert_ok(aidev_event_create_user(harness_context(), &prev));
    aidev_event gate = prev;
    for (uint32_t k = 0; k < n; k++) {
        int d = (int)((k + (uint32_t)_i) % n);
        aidev_device dev = harness_device(d);
        queues[k] = harness_queue(dev);
        bufs[k] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N, AIDEV_TYPE_NONE);
        aidev_event written;
        /* The first device writes the source; each next one copies what
         * the previous read into |hop|: ordering comes from events only. */
        const void *from = k == 0 ? (const void *)src : (const void *)hop;
        ck_assert_ok(aidev_enqueue_write(queues[k], bufs[k], 0, N, from, 1, &prev, &written));
        ck_assert_ok(aidev_enqueue_read(queues[k], bufs[k], 0, N, k + 1 == n ? dst : hop, 1,
                                        &written, &reads[k]));
        aidev_event_release(written);
        prev = reads[k];
    }
    ck_assert_status(aidev_event_query(reads[n - 1]), AIDEV_NOT_READY);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(reads[n - 1], AIDEV_WAIT_FOREVER));
    ck_assert_int_eq(memcmp(src, dst, N), 0);
    for (uint32_t k = 0; k < n; k++) {
        aidev_event_release(reads[k]);
        aidev_buffer_release(bufs[k]);
        aidev_queue_release(queues[k]);
    }
    aidev_event_release(gate);
    free(queues);
    free(bufs);
    free(reads);
}
END_TEST

START_TEST(event_bad_arguments)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_barrier(q, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    ck_assert_error_names(aidev_event_set_status(ev, AIDEV_SUCCESS, NULL),
                          AIDEV_ERROR_INVALID_STATE, "not a user event");
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_status(aidev_event_release(ev), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_status(aidev_event_wait(ev, 0), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_error_names(aidev_event_create_user(harness_context(), NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "out_event");
    ck_assert_error_names(aidev_event_create_user(NULL, &ev), AIDEV_ERROR_INVALID_HANDLE,
                          "context");
    aidev_event pending;
    ck_assert_ok(aidev_event_create_user(harness_context(), &pending));
    ck_assert_status(aidev_event_wait(pending, 0), AIDEV_ERROR_TIMEOUT);
    ck_assert_status(aidev_event_wait(pending, 1000000), AIDEV_ERROR_TIMEOUT);
    ck_assert_status(aidev_events_wait(1, &pending, 1000000), AIDEV_ERROR_TIMEOUT);
    aidev_event_times t;
    ck_assert_status(aidev_event_get_times(pending, &t), AIDEV_NOT_READY);
    ck_assert_str_eq(aidev_event_message(pending), "");
    ck_assert_ok(aidev_event_set_status(pending, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_release(pending));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* aidev_queue_finish returns the first failure since the previous finish,
 * naming the command and its cause, whether or not the command had an
 * event; then the record starts afresh. */
START_TEST(finish_reports_the_first_failure)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    unsigned char src[64] = {0};
    uint32_t zero = 0;
    ck_assert_ok(aidev_queue_finish(q));

    /* Two failures: the first has an event, the second none. */
    aidev_event gate1, gate2, first;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate1));
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate2));
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 64, src, 1, &gate1, &first));
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, 64, &zero, 4, 1, &gate2, NULL));
    ck_assert_ok(aidev_event_set_status(gate1, AIDEV_ERROR_IO, "disk on fire"));
    ck_assert_status(aidev_event_wait(first, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY);
    ck_assert_ok(aidev_event_set_status(gate2, AIDEV_ERROR_IO, "second fault"));
    ck_assert_error_names(aidev_queue_finish(q), AIDEV_ERROR_DEPENDENCY, "disk on fire");
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "write of 64 bytes"));
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "1 more"));
    /* Reported once. */
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_str_eq(aidev_last_error(), "");

    /* A command with no event, failing alone. */
    aidev_event gate3;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate3));
    ck_assert_ok(aidev_enqueue_barrier(q, 1, &gate3, NULL));
    ck_assert_ok(aidev_event_set_status(gate3, AIDEV_ERROR_BACKEND, "third fault"));
    ck_assert_error_names(aidev_queue_finish(q), AIDEV_ERROR_DEPENDENCY, "third fault");
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "barrier"));
    ck_assert_ok(aidev_queue_finish(q));

    /* Waiting on an event that had already failed: fails at once. */
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 64, src, 1, &gate1, NULL));
    ck_assert_error_names(aidev_queue_finish(q), AIDEV_ERROR_DEPENDENCY, "disk on fire");
    ck_assert_ok(aidev_queue_finish(q));

    /* Another queue's failure is not this queue's. */
    aidev_queue other = harness_queue(dev);
    ck_assert_ok(aidev_enqueue_barrier(other, 1, &gate3, NULL));
    ck_assert_ok(aidev_enqueue_barrier(q, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_status(aidev_queue_finish(other), AIDEV_ERROR_DEPENDENCY);
    ck_assert_status(aidev_queue_finish(NULL), AIDEV_ERROR_INVALID_HANDLE);
    aidev_event events[] = {gate1, gate2, gate3, first};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        ck_assert_ok(aidev_event_release(events[i]));
    ck_assert_ok(aidev_queue_release(other));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("events");
    harness_add_per_device(s, "user_event_gates_a_queue", user_event_gates_a_queue, 0);
    harness_add_per_device(s, "failed_event_fails_its_waiters", failed_event_fails_its_waiters, 0);
    harness_add_per_device(s, "callbacks_and_timestamps", callbacks_and_timestamps, 0);
    harness_add_per_device(s, "wait_lists_across_queues", wait_lists_across_queues, 0);
    harness_add_per_device(s, "wait_lists_across_devices_and_backends",
                           wait_lists_across_devices_and_backends, 0);
    harness_add_per_device(s, "event_bad_arguments", event_bad_arguments, 0);
    harness_add_per_device(s, "finish_reports_the_first_failure",
                           finish_reports_the_first_failure, 0);
    return harness_run(s);
}

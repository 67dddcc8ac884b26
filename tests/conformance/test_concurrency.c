/* Several threads enqueueing on one queue, and on several queues at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { THREADS = 4, ROUNDS = 200, SLICE = 1024 };

typedef struct worker {
    aidev_queue queue;
    aidev_buffer buffer;
    int id;
    int failures;
    char message[256];
} worker;

/* Each thread owns one slice of the buffer: writes a value that changes
 * every round, reads it back, checks it. */
static void *hammer(void *opaque)
{
    worker *w = opaque;
    unsigned char src[SLICE], dst[SLICE];
    for (int r = 0; r < ROUNDS && !w->failures; r++) {
        memset(src, (w->id * 31 + r) & 0xff, sizeof src);
        memset(dst, 0, sizeof dst);
        uint64_t off = (uint64_t)w->id * SLICE;
        aidev_event ev = NULL;
        aidev_status st = aidev_enqueue_write(w->queue, w->buffer, off, SLICE, src, 0, NULL, NULL);
        if (st == AIDEV_SUCCESS)
            st = aidev_enqueue_read(w->queue, w->buffer, off, SLICE, dst, 0, NULL, &ev);
        if (st == AIDEV_SUCCESS)
            st = aidev_event_wait(ev, AIDEV_WAIT_FOREVER);
        if (ev)
            aidev_event_release(ev);
        if (st != AIDEV_SUCCESS || memcmp(src, dst, SLICE) != 0) {
            w->failures++;
            snprintf(w->message, sizeof w->message, "thread %d round %d: %s %s", w->id, r,
                     aidev_status_string(st), aidev_last_error());
        }
    }
    return NULL;
}

static void run_workers(worker *w, int n)
{
    pthread_t t[THREADS];
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++)
        ck_assert_msg(w[i].failures == 0, "%s", w[i].message);
}

START_TEST(threads_on_one_queue)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, THREADS * SLICE, AIDEV_TYPE_NONE);
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++)
        w[i] = (worker){.queue = q, .buffer = b, .id = i};
    run_workers(w, THREADS);
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(threads_on_their_own_queues)
{
    aidev_device dev = harness_device(_i);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, THREADS * SLICE, AIDEV_TYPE_NONE);
    worker w[THREADS];
    const aidev_queue_priority prio[] = {AIDEV_QUEUE_PRIORITY_LOW, AIDEV_QUEUE_PRIORITY_NORMAL,
                                         AIDEV_QUEUE_PRIORITY_HIGH, AIDEV_QUEUE_PRIORITY_NORMAL};
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.buffer = b, .id = i};
        ck_assert_ok(aidev_queue_create(dev, prio[i], &w[i].queue));
    }
    run_workers(w, THREADS);
    for (int i = 0; i < THREADS; i++)
        ck_assert_ok(aidev_queue_release(w[i].queue));
    ck_assert_ok(aidev_buffer_release(b));
}
END_TEST

/* Threads make and release their own objects while others work. */
static void *churn(void *opaque)
{
    worker *w = opaque;
    aidev_device dev;
    aidev_buffer_get_info(w->buffer, AIDEV_BUFFER_INFO_DEVICE, sizeof dev, &dev, NULL);
    for (int r = 0; r < 50 && !w->failures; r++) {
        aidev_queue q;
        aidev_buffer b;
        aidev_buffer_desc desc = {.size = 4096, .kind = AIDEV_MEMORY_DEVICE};
        uint32_t v = (uint32_t)r;
        if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS ||
            aidev_buffer_create(dev, &desc, &b) != AIDEV_SUCCESS ||
            aidev_enqueue_fill(q, b, 0, 4096, &v, 4, 0, NULL, NULL) != AIDEV_SUCCESS ||
            aidev_buffer_release(b) != AIDEV_SUCCESS || aidev_queue_release(q) != AIDEV_SUCCESS) {
            w->failures++;
            snprintf(w->message, sizeof w->message, "churn %d: %s", r, aidev_last_error());
        }
    }
    return NULL;
}

START_TEST(objects_made_and_released_concurrently)
{
    aidev_device dev = harness_device(_i);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.buffer = b, .id = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        ck_assert_msg(w[i].failures == 0, "%s", w[i].message);
    ck_assert_ok(aidev_buffer_release(b));
}
END_TEST

/* What the callbacks of callbacks_race_release saw. */
typedef struct callback_watch {
    atomic_int calls;
    atomic_int bad;       /* a status other than the event's or INVALID_HANDLE */
    atomic_int released;  /* called with NULL: the handle was already gone */
} callback_watch;

static void watch_callback(aidev_event event, aidev_status status, void *user_data)
{
    callback_watch *w = user_data;
    if (!event) {
        atomic_fetch_add(&w->released, 1);
    } else {
        /* Valid, or released on the other thread meanwhile: never garbage. */
        aidev_status st = aidev_event_query(event);
        if (st != status && st != AIDEV_ERROR_INVALID_HANDLE)
            atomic_fetch_add(&w->bad, 1);
    }
    atomic_fetch_add(&w->calls, 1);
}

typedef struct event_list {
    aidev_event *events;
    int count;
} event_list;

static void *release_events(void *opaque)
{
    event_list *l = opaque;
    for (int i = 0; i < l->count; i++)
        aidev_event_release(l->events[i]);
    return NULL;
}

/* The program releases events on one thread while the library completes
 * them and runs their callbacks on others: a callback gets the handle or
 * NULL (documented), without a data race (the ThreadSanitizer run checks
 * this case). */
START_TEST(callbacks_race_release)
{
    enum { EVENTS = 400 };
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    callback_watch w = {0};
    aidev_event gate, events[EVENTS];
    /* Everything completes once the gate opens, while the releases run. */
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_barrier(q, 1, &gate, NULL));
    for (uint32_t i = 0; i < EVENTS; i++) {
        ck_assert_ok(aidev_enqueue_fill(q, b, 0, 4096, &i, 4, 0, NULL, &events[i]));
        ck_assert_ok(aidev_event_set_callback(events[i], watch_callback, &w));
    }
    event_list list = {events, EVENTS};
    pthread_t releaser;
    ck_assert_int_eq(pthread_create(&releaser, NULL, release_events, &list), 0);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    pthread_join(releaser, NULL);
    ck_assert_ok(aidev_queue_finish(q));
    /* A callback may still be finishing on the completing thread. */
    for (int i = 0; i < 10000 && atomic_load(&w.calls) < EVENTS; i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&w.calls), EVENTS);
    ck_assert_int_eq(atomic_load(&w.bad), 0);
    ck_assert_ok(aidev_event_release(gate));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* Handles of buffers made and released on several threads at once: each
 * live handle names its own buffer (the thread's own size), and a released
 * one is refused, so no slot of the handle table went to two buffers. The
 * quota counts every byte back. (The table's free slots and the quota are
 * lock-free: a lock pair each way was a tenth of a small buffer's cost.) */
enum { CHURN_ROUNDS = 3000, CHURN_WINDOW = 8 };

static void *churn_handles(void *opaque)
{
    worker *w = opaque;
    aidev_device dev;
    aidev_buffer_get_info(w->buffer, AIDEV_BUFFER_INFO_DEVICE, sizeof dev, &dev, NULL);
    const uint64_t size = 256 * (uint64_t)(w->id + 1);
    aidev_buffer_desc desc = {.size = size, .kind = AIDEV_MEMORY_DEVICE};
    aidev_buffer live[CHURN_WINDOW] = {0};
    for (int r = 0; r < CHURN_ROUNDS && !w->failures; r++) {
        aidev_buffer *slot = &live[r % CHURN_WINDOW];
        aidev_buffer gone = *slot;
        if (gone && aidev_buffer_release(gone) != AIDEV_SUCCESS) {
            snprintf(w->message, sizeof w->message, "thread %d round %d: release: %s", w->id,
                     r, aidev_last_error());
            w->failures++;
        }
        uint64_t got = 0;
        if (gone && aidev_buffer_get_info(gone, AIDEV_BUFFER_INFO_SIZE, sizeof got, &got, NULL) !=
                        AIDEV_ERROR_INVALID_HANDLE) {
            snprintf(w->message, sizeof w->message,
                     "thread %d round %d: a released handle still names a buffer of %llu bytes",
                     w->id, r, (unsigned long long)got);
            w->failures++;
        }
        *slot = NULL;
        if (aidev_buffer_create(dev, &desc, slot) != AIDEV_SUCCESS) {
            snprintf(w->message, sizeof w->message, "thread %d round %d: create: %s", w->id, r,
                     aidev_last_error());
            w->failures++;
        }
        for (int i = 0; i < CHURN_WINDOW && !w->failures; i++) {
            if (!live[i])
                continue;
            got = 0;
            aidev_status st = aidev_buffer_get_info(live[i], AIDEV_BUFFER_INFO_SIZE, sizeof got,
                                                    &got, NULL);
            if (st != AIDEV_SUCCESS || got != size) {
                snprintf(w->message, sizeof w->message,
                         "thread %d round %d: a live handle names %llu bytes (%s), not its %llu",
                         w->id, r, (unsigned long long)got, aidev_status_string(st),
                         (unsigned long long)size);
                w->failures++;
            }
        }
    }
    for (int i = 0; i < CHURN_WINDOW; i++)
        if (live[i])
            aidev_buffer_release(live[i]);
    return NULL;
}

START_TEST(handles_stay_unique_under_churn)
{
    aidev_device dev = harness_device(_i);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    uint64_t used_before = 0, used_after = 1;
    ck_assert_ok(aidev_context_get_memory_usage(harness_context(), &used_before, NULL));
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.buffer = b, .id = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn_handles, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        ck_assert_msg(w[i].failures == 0, "%s", w[i].message);
    ck_assert_ok(aidev_context_get_memory_usage(harness_context(), &used_after, NULL));
    ck_assert_uint_eq(used_after, used_before);
    ck_assert_ok(aidev_buffer_release(b));
}
END_TEST

/* Threads that race for a context's quota: together they get exactly what
 * the limit holds, never more. Their buffers are pinned from creation, so
 * none is evicted to make room for another. */
enum { QUOTA_BUFFER = 4096, QUOTA_BUFFERS = 24 };

typedef struct quota_racer {
    aidev_device device;
    pthread_barrier_t *start, *counted;
    aidev_buffer held[QUOTA_BUFFERS + 1];
    int count;
    aidev_status refused; /* how the first refusal failed */
} quota_racer;

static void *race_for_quota(void *opaque)
{
    quota_racer *r = opaque;
    aidev_buffer_desc desc = {.size = QUOTA_BUFFER, .kind = AIDEV_MEMORY_DEVICE,
                              .flags = AIDEV_BUFFER_PINNED};
    pthread_barrier_wait(r->start);
    while (r->count <= QUOTA_BUFFERS) {
        r->refused = aidev_buffer_create(r->device, &desc, &r->held[r->count]);
        if (r->refused != AIDEV_SUCCESS)
            break;
        r->count++;
    }
    /* Every thread holds its buffers until all were refused. */
    pthread_barrier_wait(r->counted);
    for (int i = 0; i < r->count; i++)
        aidev_buffer_release(r->held[i]);
    return NULL;
}

START_TEST(quota_raced_by_threads_holds)
{
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(harness_device(_i), AIDEV_DEVICE_INFO_INDEX, sizeof index,
                                       &index, NULL));
    aidev_context_desc cd = {.memory_limit = QUOTA_BUFFERS * QUOTA_BUFFER};
    aidev_context ctx;
    aidev_device dev;
    ck_assert_ok(aidev_context_create(&cd, &ctx));
    ck_assert_ok(aidev_context_get_device(ctx, index, &dev));
    pthread_barrier_t start, counted;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_barrier_init(&counted, NULL, THREADS);
    quota_racer r[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (quota_racer){.device = dev, .start = &start, .counted = &counted};
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_for_quota, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(r[i].refused == AIDEV_ERROR_QUOTA, "thread %d stopped with %s", i,
                      aidev_status_string(r[i].refused));
        total += r[i].count;
    }
    ck_assert_int_eq(total, QUOTA_BUFFERS);
    uint64_t used = 1;
    ck_assert_ok(aidev_context_get_memory_usage(ctx, &used, NULL));
    ck_assert_uint_eq(used, 0);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&counted);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("concurrency");
    harness_add_per_device(s, "threads_on_one_queue", threads_on_one_queue, 120);
    harness_add_per_device(s, "threads_on_their_own_queues", threads_on_their_own_queues, 120);
    harness_add_per_device(s, "objects_made_and_released_concurrently",
                           objects_made_and_released_concurrently, 120);
    harness_add_per_device(s, "callbacks_race_release", callbacks_race_release, 120);
    harness_add_per_device(s, "handles_stay_unique_under_churn", handles_stay_unique_under_churn,
                           120);
    harness_add_per_device(s, "quota_raced_by_threads_holds", quota_raced_by_threads_holds, 120);
    return harness_run(s);
}

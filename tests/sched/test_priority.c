/*
 * Queue priorities on every device (issue 15, section 3): commands of LOW,
 * NORMAL and HIGH queues give the same results as on one queue; on a
 * device that declares AIDEV_FEATURE_QUEUE_PREEMPTION, a HIGH command
 * enqueued behind running LOW work finishes first, and LOW work still
 * finishes under a steady stream of HIGH work. Order is asserted, never a
 * duration: the LOW kernels are long only so that the commands overlap.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define WAIT_NS (120ull * 1000000000ull) /* every wait is bounded: a hang fails */

static uint64_t test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t device_features(aidev_device dev)
{
    uint64_t features = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    return features;
}

/* ------------------------------------------------------------------------ */
/* The host kernel: out[i] = i * 3 + seed, after |spin| rounds of work       */
/* ------------------------------------------------------------------------ */

/* Set by the first work-item of any dispatch: the LOW work has started. */
static atomic_bool test_kernel_started;

static void fill_slowly(void *const *args, const aidev_host_range *range)
{
    uint32_t spin = *(const uint32_t *)args[1];
    uint32_t seed = *(const uint32_t *)args[2];
    uint32_t *out = args[3];
    atomic_store_explicit(&test_kernel_started, true, memory_order_relaxed);
    for (uint32_t i = range->begin[0]; i < range->end[0]; i++) {
        volatile uint32_t sink = 0;
        for (uint32_t r = 0; r < spin; r++)
            sink += r;
        out[i] = i * 3u + seed;
    }
}

static aidev_kernel fill_kernel(aidev_device dev)
{
    static const aidev_kernel_arg_desc sig[] = {
        {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"spin", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"seed", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"out", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_WRITE, "n"},
    };
    const aidev_kernel_desc desc = {.name = "fill_slowly",
                                    .source_kind = AIDEV_KERNEL_SOURCE_HOST,
                                    .host_fn = fill_slowly,
                                    .arg_count = 4,
                                    .args = sig,
                                    .grid = {"n", NULL, NULL}};
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &desc, &k));
    return k;
}

static aidev_status enqueue_fill(aidev_queue q, aidev_kernel k, aidev_buffer out, uint32_t n,
                                 uint32_t spin, uint32_t seed, aidev_event *ev)
{
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_u32(spin), aidev_arg_u32(seed),
                        aidev_arg_buffer(out, 0)};
    return aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, ev);
}

static void check_filled(aidev_queue q, aidev_buffer b, uint32_t n, uint32_t seed,
                         const char *what)
{
    uint32_t *got = malloc((size_t)n * 4);
    ck_assert_ptr_nonnull(got);
    ck_assert_ok(aidev_enqueue_read(q, b, 0, (uint64_t)n * 4, got, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    uint32_t at = 0;
    while (at < n && got[at] == at * 3u + seed)
        at++;
    ck_assert_msg(at == n, "%s: out[%u] = %u, want %u", what, at, at < n ? got[at] : 0,
                  at * 3u + seed);
    free(got);
}

/* ------------------------------------------------------------------------ */
/* Results on queues of every priority, on every device                      */
/* ------------------------------------------------------------------------ */

enum { MIX_N = 1 << 16, MIX_ROUNDS = 4 };

/* The library's fill on three queues of different priorities at once,
 * each into its own buffer; every buffer holds its own pattern after. */
START_TEST(priorities_keep_results)
{
    aidev_device dev = harness_device(_i);
    const aidev_queue_priority prio[3] = {AIDEV_QUEUE_PRIORITY_LOW, AIDEV_QUEUE_PRIORITY_NORMAL,
                                          AIDEV_QUEUE_PRIORITY_HIGH};
    aidev_queue q[3];
    aidev_buffer b[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_ok(aidev_queue_create(dev, prio[i], &q[i]));
        b[i] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, MIX_N * 4, AIDEV_TYPE_U32);
    }
    for (int r = 0; r < MIX_ROUNDS; r++)
        for (int i = 0; i < 3; i++) {
            uint32_t v = (uint32_t)(r * 16 + i + 1);
            ck_assert_ok(aidev_enqueue_fill(q[i], b[i], 0, MIX_N * 4, &v, 4, 0, NULL, NULL));
        }
    for (int i = 0; i < 3; i++) {
        uint32_t *got = malloc(MIX_N * 4);
        ck_assert_ok(aidev_enqueue_read(q[i], b[i], 0, MIX_N * 4, got, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q[i]));
        uint32_t want = (uint32_t)((MIX_ROUNDS - 1) * 16 + i + 1);
        for (uint32_t j = 0; j < MIX_N; j++)
            ck_assert_msg(got[j] == want, "queue of priority %d: word %u is %u, want %u",
                          (int)prio[i], j, got[j], want);
        free(got);
        ck_assert_ok(aidev_buffer_release(b[i]));
        ck_assert_ok(aidev_queue_release(q[i]));
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* HIGH first, where the device preempts                                     */
/* ------------------------------------------------------------------------ */

/* LOW: 2^18 work-items of ~2 µs each, so three of them run for seconds
 * on two threads; HIGH: 2^16 items with no extra work, split over the
 * pool all the same (above the CPU backend's inline size). */
enum { LOW_N = 1 << 18, LOW_SPIN = 1000, LOW_COMMANDS = 3, HIGH_N = 1 << 16 };

START_TEST(high_command_behind_low_ones_finishes_first)
{
    aidev_device dev = harness_device(_i);
    uint64_t features = device_features(dev);
    if (!(features & AIDEV_FEATURE_QUEUE_PREEMPTION) || !(features & AIDEV_FEATURE_KERNEL_HOST))
        return; /* the order is not observable there; priorities_keep_results covers it */
    aidev_kernel k = fill_kernel(dev);
    aidev_queue low, high;
    ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_LOW, &low));
    ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_HIGH, &high));
    aidev_buffer lb[LOW_COMMANDS], hb;
    aidev_event le[LOW_COMMANDS], he;
    for (int i = 0; i < LOW_COMMANDS; i++)
        lb[i] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, LOW_N * 4, AIDEV_TYPE_U32);
    hb = harness_buffer(dev, AIDEV_MEMORY_DEVICE, HIGH_N * 4, AIDEV_TYPE_U32);

    atomic_store(&test_kernel_started, false);
    for (int i = 0; i < LOW_COMMANDS; i++)
        ck_assert_ok(enqueue_fill(low, k, lb[i], LOW_N, LOW_SPIN, (uint32_t)i + 1, &le[i]));
    uint64_t deadline = test_now_ns() + WAIT_NS;
    while (!atomic_load(&test_kernel_started) && test_now_ns() < deadline)
        sched_yield();
    ck_assert_msg(atomic_load(&test_kernel_started), "the LOW kernel never started");

    ck_assert_ok(enqueue_fill(high, k, hb, HIGH_N, 0, 100, &he));
    ck_assert_ok(aidev_event_wait(he, WAIT_NS));
    aidev_status first_low = aidev_event_query(le[0]);
    ck_assert_msg(first_low == AIDEV_NOT_READY,
                  "the first LOW command (enqueued before the HIGH one, running when it came) "
                  "was done before the HIGH command: %s",
                  aidev_status_string(first_low));

    for (int i = 0; i < LOW_COMMANDS; i++) {
        ck_assert_ok(aidev_event_wait(le[i], WAIT_NS));
        aidev_event_release(le[i]);
    }
    aidev_event_release(he);
    check_filled(high, hb, HIGH_N, 100, "HIGH");
    for (int i = 0; i < LOW_COMMANDS; i++) {
        check_filled(low, lb[i], LOW_N, (uint32_t)i + 1, "LOW");
        ck_assert_ok(aidev_buffer_release(lb[i]));
    }
    ck_assert_ok(aidev_buffer_release(hb));
    ck_assert_ok(aidev_queue_release(high));
    ck_assert_ok(aidev_queue_release(low));
    ck_assert_ok(aidev_kernel_release(k));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* LOW is not starved                                                       */
/* ------------------------------------------------------------------------ */

/* A thread keeps HIGH commands in flight (each long enough to keep the
 * device busy) until the LOW command is done or the bound passes. */
typedef struct high_stream {
    aidev_queue queue;
    aidev_kernel kernel;
    aidev_buffer buffer;
    atomic_bool stop;
    atomic_uint enqueued;
    aidev_status status;
    char message[256];
} high_stream;

static void *high_stream_main(void *opaque)
{
    high_stream *s = opaque;
    aidev_event window[4] = {NULL};
    for (uint32_t i = 0; !atomic_load(&s->stop); i++) {
        aidev_event *slot = &window[i % 4];
        if (*slot) {
            s->status = aidev_event_wait(*slot, WAIT_NS);
            aidev_event_release(*slot);
            *slot = NULL;
            if (s->status != AIDEV_SUCCESS)
                break;
        }
        s->status = enqueue_fill(s->queue, s->kernel, s->buffer, HIGH_N, LOW_SPIN, 7, slot);
        if (s->status != AIDEV_SUCCESS)
            break;
        atomic_fetch_add(&s->enqueued, 1);
    }
    if (s->status != AIDEV_SUCCESS)
        snprintf(s->message, sizeof s->message, "%s", aidev_last_error());
    for (int i = 0; i < 4; i++)
        if (window[i]) {
            aidev_event_wait(window[i], WAIT_NS);
            aidev_event_release(window[i]);
        }
    return NULL;
}

START_TEST(low_command_finishes_under_high_stream)
{
    aidev_device dev = harness_device(_i);
    uint64_t features = device_features(dev);
    if (!(features & AIDEV_FEATURE_QUEUE_PREEMPTION) || !(features & AIDEV_FEATURE_KERNEL_HOST))
        return; /* the order is not observable there; priorities_keep_results covers it */
    aidev_kernel k = fill_kernel(dev);
    high_stream s = {.kernel = k};
    ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_HIGH, &s.queue));
    s.buffer = harness_buffer(dev, AIDEV_MEMORY_DEVICE, HIGH_N * 4, AIDEV_TYPE_U32);
    aidev_queue low;
    ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_LOW, &low));
    aidev_buffer lb = harness_buffer(dev, AIDEV_MEMORY_DEVICE, HIGH_N * 4, AIDEV_TYPE_U32);

    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, high_stream_main, &s), 0);
    uint64_t deadline = test_now_ns() + WAIT_NS;
    while (atomic_load(&s.enqueued) < 8 && test_now_ns() < deadline)
        sched_yield();
    aidev_event le;
    ck_assert_ok(enqueue_fill(low, k, lb, HIGH_N, LOW_SPIN, 9, &le));
    /* The stream stops only after this wait: the LOW command has to end
     * while HIGH commands keep coming. */
    aidev_status st = aidev_event_wait(le, WAIT_NS);
    atomic_store(&s.stop, true);
    pthread_join(t, NULL);
    ck_assert_msg(st == AIDEV_SUCCESS, "the LOW command did not finish under HIGH load: %s",
                  aidev_status_string(st));
    ck_assert_msg(s.status == AIDEV_SUCCESS, "the HIGH stream failed: %s", s.message);
    aidev_event_release(le);
    check_filled(low, lb, HIGH_N, 9, "LOW");
    ck_assert_ok(aidev_buffer_release(lb));
    ck_assert_ok(aidev_buffer_release(s.buffer));
    ck_assert_ok(aidev_queue_release(low));
    ck_assert_ok(aidev_queue_release(s.queue));
    ck_assert_ok(aidev_kernel_release(k));
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("priority");
    harness_add_per_device(s, "priorities_keep_results", priorities_keep_results, 120);
    harness_add_per_device(s, "high_command_behind_low_ones_finishes_first",
                           high_command_behind_low_ones_finishes_first, 240);
    harness_add_per_device(s, "low_command_finishes_under_high_stream",
                           low_command_finishes_under_high_stream, 240);
    int rc = harness_run(s);
    harness_shutdown();
    return rc;
}

/* Releasing contexts: what can never run is cancelled, callbacks run once,
 * nothing hangs and nothing stays behind. Each case makes contexts of its
 * own, on the device the harness gives it (same index: every context sees
 * the same devices). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* A device of a new context: the one at the index of harness device |i|. */
static aidev_device device_in_new_context(int i, aidev_context *out_ctx)
{
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(harness_device(i), AIDEV_DEVICE_INFO_INDEX, sizeof index,
                                       &index, NULL));
    ck_assert_ok(aidev_context_create(NULL, out_ctx));
    aidev_device d;
    ck_assert_ok(aidev_context_get_device(*out_ctx, index, &d));
    return d;
}

typedef struct release_call {
    aidev_context ctx;
    aidev_status status;
} release_call;

static void *release_thread(void *opaque)
{
    release_call *c = opaque;
    c->status = aidev_context_release(c->ctx);
    return NULL;
}

/* Releases |ctx| on another thread; fails the test when that does not
 * return within |seconds| (a hang is the defect; the thread is left). */
static void release_within(aidev_context ctx, int seconds)
{
    release_call call = {.ctx = ctx};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, release_thread, &call), 0);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    int rc = pthread_timedjoin_np(t, NULL, &deadline);
    ck_assert_msg(rc == 0, "aidev_context_release did not return within %d s", seconds);
    ck_assert_ok(call.status);
}

/* What one event's callback saw. */
typedef struct outcome {
    atomic_int calls;
    atomic_int status;
    atomic_bool handle_null;
} outcome;

static void note_outcome(aidev_event event, aidev_status status, void *user_data)
{
    outcome *o = user_data;
    atomic_store(&o->status, status);
    atomic_store(&o->handle_null, event == NULL);
    atomic_fetch_add(&o->calls, 1);
}

static void expect_outcome(const outcome *o, const char *what, aidev_status a, aidev_status b)
{
    ck_assert_msg(atomic_load(&o->calls) == 1, "%s: callback ran %d times", what,
                  atomic_load(&o->calls));
    aidev_status st = atomic_load(&o->status);
    ck_assert_msg(st == a || st == b, "%s: callback got %s, expected %s or %s", what,
                  aidev_status_string(st), aidev_status_string(a), aidev_status_string(b));
    /* Every handle was released before the callbacks ran. */
    ck_assert_msg(atomic_load(&o->handle_null), "%s: callback got a released handle", what);
}

/* A temporary file of |size| bytes of 0x77, unlinked at once. */
static int temp_file(size_t size)
{
    const char *root = getenv("AIDEV_TEST_BUILD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/aidev-teardown-XXXXXX", root ? root : "/tmp");
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp(%s): %s", path, strerror(errno));
    unlink(path);
    unsigned char *bytes = malloc(size);
    memset(bytes, 0x77, size);
    ck_assert_int_eq(write(fd, bytes, size), (ssize_t)size);
    free(bytes);
    return fd;
}

/* Commands wait on user events whose handles the program released: the
 * context's release cancels the user events (their callbacks run with
 * AIDEV_ERROR_CANCELLED), so what waits on them ends and nothing hangs. */
START_TEST(release_cancels_pending_work)
{
    aidev_context ctx;
    aidev_device d = device_in_new_context(_i, &ctx);
    aidev_queue q, reads;
    ck_assert_ok(aidev_queue_create(d, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    ck_assert_ok(aidev_queue_create(d, AIDEV_QUEUE_PRIORITY_NORMAL, &reads));
    aidev_buffer_desc desc = {.size = 4096, .kind = AIDEV_MEMORY_DEVICE};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(d, &desc, &b));
    int fd = temp_file(4096);
    static unsigned char src[4096], dst[4096];
    memset(src, 0x5a, sizeof src);
    memset(dst, 0, sizeof dst);

    aidev_event gate, lonely, written, read, filled;
    outcome o_gate = {0}, o_lonely = {0}, o_written = {0}, o_read = {0}, o_filled = {0};
    ck_assert_ok(aidev_event_create_user(ctx, &gate));
    ck_assert_ok(aidev_event_create_user(ctx, &lonely));
    ck_assert_ok(aidev_enqueue_write(q, b, 0, sizeof src, src, 1, &gate, &written));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, sizeof dst, dst, 0, NULL, &read));
    ck_assert_ok(aidev_enqueue_file_read(reads, b, 0, fd, 0, 4096, 0, 1, &gate, &filled));
    ck_assert_ok(aidev_event_set_callback(gate, note_outcome, &o_gate));
    ck_assert_ok(aidev_event_set_callback(lonely, note_outcome, &o_lonely));
    ck_assert_ok(aidev_event_set_callback(written, note_outcome, &o_written));
    ck_assert_ok(aidev_event_set_callback(read, note_outcome, &o_read));
    ck_assert_ok(aidev_event_set_callback(filled, note_outcome, &o_filled));
    /* Nobody can complete the user events from here on. */
    ck_assert_ok(aidev_event_release(gate));
    ck_assert_ok(aidev_event_release(lonely));
    ck_assert_ok(aidev_event_release(written));
    ck_assert_ok(aidev_event_release(read));
    ck_assert_ok(aidev_event_release(filled));
    ck_assert_int_eq(atomic_load(&o_written.calls), 0);

    release_within(ctx, 60);
    expect_outcome(&o_gate, "user event", AIDEV_ERROR_CANCELLED, AIDEV_ERROR_CANCELLED);
    expect_outcome(&o_lonely, "unused user event", AIDEV_ERROR_CANCELLED, AIDEV_ERROR_CANCELLED);
    /* Waiting on a cancelled event: cancelled where libaidev held the
     * command, failed with the dependency where the device had it. */
    expect_outcome(&o_written, "write", AIDEV_ERROR_CANCELLED, AIDEV_ERROR_DEPENDENCY);
    expect_outcome(&o_filled, "file read", AIDEV_ERROR_CANCELLED, AIDEV_ERROR_DEPENDENCY);
    /* Behind it in the queue: it ran (on the device) or was cancelled. */
    expect_outcome(&o_read, "read", AIDEV_SUCCESS, AIDEV_ERROR_CANCELLED);
    for (size_t i = 0; i < sizeof dst; i++)
        ck_assert_msg(dst[i] == 0, "byte %zu of the read is %#x: the cancelled write ran", i,
                      dst[i]);
    close(fd);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("teardown");
    harness_add_per_device(s, "release_cancels_pending_work", release_cancels_pending_work, 120);
    return harness_run(s);
}

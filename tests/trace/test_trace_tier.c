/*
 * test_trace_tier.c - restores of the compressed memory tier in the trace
 * (issue 20), on every device: a restore the hal makes because a command
 * names an evicted buffer is a "restore" slice on that command's queue
 * track, one made for a map is one on the device's host track, both with
 * "implicit": true and the buffer's size; an explicit aidev_enqueue_restore
 * stays a slice of its own, not marked implicit.
 *
 * AIDEV_TRACE is read once per process: the workload runs in a child, the
 * parent reads the trace its context release wrote.
 */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <aidev/aidev.h>

#define TIER_BYTES (256u << 10)

/* Writes, evicts and waits: |b| is evicted on return. */
static int write_and_evict(aidev_queue q, aidev_buffer b, const float *data)
{
    aidev_event ev;
    if (aidev_enqueue_write(q, b, 0, TIER_BYTES, data, 0, NULL, NULL) != AIDEV_SUCCESS ||
        aidev_enqueue_evict(q, b, 0, NULL, &ev) != AIDEV_SUCCESS ||
        aidev_event_wait(ev, AIDEV_WAIT_FOREVER) != AIDEV_SUCCESS)
        return 1;
    aidev_event_release(ev);
    uint32_t resident = 1;
    aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_RESIDENT, sizeof resident, &resident, NULL);
    return resident != 0;
}

/* On one device: a restore by a fill, one by a map, one asked for. */
static int device_workload(aidev_device dev, const float *data)
{
    aidev_queue q;
    aidev_buffer by_command, by_map;
    aidev_buffer_desc dd = {.size = TIER_BYTES, .kind = AIDEV_MEMORY_DEVICE,
                            .element_type = AIDEV_TYPE_F32};
    aidev_buffer_desc hd = {.size = TIER_BYTES, .kind = AIDEV_MEMORY_HOST,
                            .element_type = AIDEV_TYPE_F32};
    if (aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &dd, &by_command) != AIDEV_SUCCESS ||
        aidev_buffer_create(dev, &hd, &by_map) != AIDEV_SUCCESS)
        return 10;
    float one = 1.0f;
    void *p;
    if (write_and_evict(q, by_command, data) ||
        aidev_enqueue_fill(q, by_command, 0, 16, &one, sizeof one, 0, NULL, NULL) !=
            AIDEV_SUCCESS ||
        aidev_queue_finish(q) != AIDEV_SUCCESS)
        return 11;
    if (write_and_evict(q, by_map, data) ||
        aidev_buffer_map(by_map, 0, TIER_BYTES, AIDEV_MAP_READ, &p) != AIDEV_SUCCESS ||
        memcmp(p, data, TIER_BYTES) != 0 || aidev_buffer_unmap(by_map) != AIDEV_SUCCESS)
        return 12;
    if (write_and_evict(q, by_command, data) ||
        aidev_enqueue_restore(q, by_command, 0, NULL, NULL) != AIDEV_SUCCESS ||
        aidev_queue_finish(q) != AIDEV_SUCCESS)
        return 13;
    aidev_buffer_release(by_command);
    aidev_buffer_release(by_map);
    aidev_queue_release(q);
    return 0;
}

/* The child: every device; its exit code says which step failed. */
static int traced_workload(uint32_t *out_devices)
{
    aidev_context ctx;
    if (aidev_context_create(NULL, &ctx) != AIDEV_SUCCESS)
        return 2;
    float *data = malloc(TIER_BYTES);
    for (uint32_t i = 0; data && i < TIER_BYTES / sizeof *data; i++)
        data[i] = (float)(i % 97) * 0.25f;
    uint32_t n = 0;
    aidev_context_get_devices(ctx, &n, NULL);
    *out_devices = n;
    int code = data ? 0 : 3;
    for (uint32_t d = 0; !code && d < n; d++) {
        aidev_device dev;
        code = aidev_context_get_device(ctx, d, &dev) == AIDEV_SUCCESS
                   ? device_workload(dev, data)
                   : 4;
    }
    free(data);
    if (aidev_context_release(ctx) != AIDEV_SUCCESS && !code)
        code = 5;
    return code;
}

/* Restore slices of device |d| in |events|: implicit ones on a queue
 * track, on its host track, and explicit ones. */
typedef struct restore_count {
    int on_queue, on_host, explicit_ones;
} restore_count;

static const char *track_name(json_object *events, int64_t tid)
{
    for (size_t i = 0; i < json_object_array_length(events); i++) {
        json_object *e = json_object_array_get_idx(events, i), *v, *args, *name;
        if (json_object_object_get_ex(e, "ph", &v) && !strcmp(json_object_get_string(v), "M") &&
            json_object_object_get_ex(e, "tid", &v) && json_object_get_int64(v) == tid &&
            json_object_object_get_ex(e, "args", &args) &&
            json_object_object_get_ex(args, "name", &name))
            return json_object_get_string(name);
    }
    return NULL;
}

static restore_count count_restores(json_object *events, uint32_t d)
{
    restore_count c = {0};
    char prefix[32];
    snprintf(prefix, sizeof prefix, "dev%u ", d);
    for (size_t i = 0; i < json_object_array_length(events); i++) {
        json_object *e = json_object_array_get_idx(events, i), *v, *args, *implicit, *bytes;
        if (!json_object_object_get_ex(e, "cat", &v) || strcmp(json_object_get_string(v), "restore"))
            continue;
        ck_assert(json_object_object_get_ex(e, "tid", &v));
        const char *track = track_name(events, json_object_get_int64(v));
        ck_assert_msg(track, "a restore slice on an unnamed track");
        if (strncmp(track, prefix, strlen(prefix)))
            continue;
        ck_assert(json_object_object_get_ex(e, "args", &args));
        ck_assert(json_object_object_get_ex(args, "bytes", &bytes));
        ck_assert_int_eq(json_object_get_int64(bytes), TIER_BYTES);
        if (!json_object_object_get_ex(args, "implicit", &implicit)) {
            c.explicit_ones++;
            continue;
        }
        ck_assert(json_object_get_boolean(implicit));
        if (strstr(track, " queue "))
            c.on_queue++;
        else if (strstr(track, " host (restores"))
            c.on_host++;
        else
            ck_abort_msg("an implicit restore on track \"%s\"", track);
    }
    return c;
}

START_TEST(implicit_restores_are_slices)
{
    const char *root = getenv("AIDEV_TEST_BUILD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/trace-tier-%d.json", root ? root : "/tmp", (int)getpid());
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pipefd[0]);
        setenv("AIDEV_TRACE", path, 1);
        uint32_t devices = 0;
        int code = traced_workload(&devices);
        ssize_t w = write(pipefd[1], &devices, sizeof devices);
        _exit(w == (ssize_t)sizeof devices ? code : 6);
    }
    close(pipefd[1]);
    uint32_t devices = 0;
    ck_assert_int_eq(read(pipefd[0], &devices, sizeof devices), (ssize_t)sizeof devices);
    close(pipefd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the traced workload failed (exit %d: see traced_workload)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    json_object *doc = json_object_from_file(path);
    ck_assert_msg(doc, "the trace %s is not JSON", path);
    json_object *events;
    ck_assert(json_object_object_get_ex(doc, "traceEvents", &events));
    ck_assert_uint_gt(devices, 0);
    for (uint32_t d = 0; d < devices; d++) {
        restore_count c = count_restores(events, d);
        ck_assert_msg(c.on_queue == 1 && c.on_host == 1 && c.explicit_ones == 1,
                      "device %u: %d implicit restore slices on its queue (want 1), %d on its "
                      "host track (want 1), %d explicit (want 1)",
                      d, c.on_queue, c.on_host, c.explicit_ones);
    }
    json_object_put(doc);
    unlink(path);
}
END_TEST

int main(void)
{
    const char *codecs;
    aidev_memory_tier_codec(&codecs);
    if (!codecs[0]) {
        printf("this build has no compressed memory tier (no xxHash)\n");
        return 77;
    }
    Suite *s = suite_create("trace-tier");
    TCase *tc = tcase_create("restores");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, implicit_restores_are_slices);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}

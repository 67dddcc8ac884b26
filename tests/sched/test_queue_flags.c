/*
 * Queue flags and queue info on every device (issue 15, section 3):
 * AIDEV_QUEUE_LOW_LATENCY is taken where the device announces
 * AIDEV_FEATURE_QUEUE_LOW_LATENCY (its commands then give the same results
 * as on a plain queue) and refused with a message elsewhere; each queue says
 * whether its priority reached the device and how, and a device that cannot
 * apply priorities (no cl_khr_priority_hints, one Vulkan queue, no global
 * priority) says so in its AIDEV_DEVICE_INFO_QUEUE_SCHEDULING and in every
 * queue's AIDEV_QUEUE_INFO_SCHEDULING.
 *
 * Run twice by meson: plainly, and with AIDEV_VULKAN_GLOBAL_PRIORITY=high,
 * which a Vulkan device reports as asked (where the driver has global
 * priority) or as not applied (where it has not).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static uint64_t device_features(aidev_device dev)
{
    uint64_t features = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    return features;
}

static void device_scheduling(aidev_device dev, char *out, size_t size)
{
    size_t needed = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_QUEUE_SCHEDULING, 0, NULL,
                                       &needed));
    ck_assert_uint_gt(needed, 1);
    ck_assert_uint_le(needed, size);
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_QUEUE_SCHEDULING, size, out, NULL));
    ck_assert_uint_eq(strlen(out) + 1, needed);
}

static void queue_scheduling(aidev_queue q, char *out, size_t size)
{
    ck_assert_ok(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_SCHEDULING, size, out, NULL));
    ck_assert_msg(out[0], "AIDEV_QUEUE_INFO_SCHEDULING is empty");
}

/* Fills a buffer on |q|, then adds 1 to each word with the built-in kernel
 * (where the device has it), and checks the words. */
static void check_queue_runs(aidev_device dev, aidev_queue q, uint32_t seed)
{
    enum { N = 4096 };
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_HOST, N * 4, AIDEV_TYPE_U32);
    aidev_event ev = NULL;
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, N * 4, &seed, 4, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, 60ull * 1000000000ull));
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_ok(aidev_queue_finish(q));
    uint32_t *words;
    ck_assert_ok(aidev_buffer_map(b, 0, N * 4, AIDEV_MAP_READ, (void **)&words));
    for (uint32_t i = 0; i < N; i++)
        ck_assert_msg(words[i] == seed, "word %u: %u, expected %u", i, words[i], seed);
    ck_assert_ok(aidev_buffer_unmap(b));
    ck_assert_ok(aidev_buffer_release(b));
}

START_TEST(device_says_how_it_schedules_queues)
{
    aidev_device dev = harness_device(_i);
    const char *backend = harness_device_backend(_i);
    uint64_t features = device_features(dev);
    char text[1024];
    device_scheduling(dev, text, sizeof text);
    /* Each of the three is named, with "no" where the device lacks it. */
    ck_assert_msg(strstr(text, "priorities: "), "%s: %s", backend, text);
    ck_assert_msg(strstr(text, "preemption: "), "%s: %s", backend, text);
    ck_assert_msg(strstr(text, "low latency: "), "%s: %s", backend, text);
    bool says_no_low_latency = strstr(text, "low latency: no") != NULL;
    ck_assert_msg(says_no_low_latency == !(features & AIDEV_FEATURE_QUEUE_LOW_LATENCY),
                  "%s: features %#llx but '%s'", backend, (unsigned long long)features, text);
    bool says_not_applied = strstr(text, "priorities: not applied") != NULL;
    ck_assert_msg(says_not_applied == !(features & AIDEV_FEATURE_QUEUE_PRIORITY),
                  "%s: features %#llx but '%s'", backend, (unsigned long long)features, text);
    /* The backends' own ways, present or absent, by name. */
    if (strcmp(backend, "opencl") == 0)
        ck_assert_msg(strstr(text, "cl_khr_priority_hints"), "%s", text);
    if (strcmp(backend, "vulkan") == 0) {
        ck_assert_msg(strstr(text, "global priority: "), "%s", text);
        const char *asked = getenv("AIDEV_VULKAN_GLOBAL_PRIORITY");
        if (asked && strcmp(asked, "high") == 0)
            ck_assert_msg(strstr(text, "high asked by AIDEV_VULKAN_GLOBAL_PRIORITY") ||
                              strstr(text, "AIDEV_VULKAN_GLOBAL_PRIORITY not applied"),
                          "AIDEV_VULKAN_GLOBAL_PRIORITY=high is not reported: %s", text);
        else
            ck_assert_msg(!strstr(text, "AIDEV_VULKAN_GLOBAL_PRIORITY not applied"), "%s", text);
    }
}
END_TEST

START_TEST(queue_says_whether_its_priority_applies)
{
    aidev_device dev = harness_device(_i);
    const char *backend = harness_device_backend(_i);
    bool device_applies = (device_features(dev) & AIDEV_FEATURE_QUEUE_PRIORITY) != 0;
    static const char *const opencl_levels[] = {"CL_QUEUE_PRIORITY_LOW_KHR",
                                                "CL_QUEUE_PRIORITY_MED_KHR",
                                                "CL_QUEUE_PRIORITY_HIGH_KHR"};
    for (int p = AIDEV_QUEUE_PRIORITY_LOW; p <= AIDEV_QUEUE_PRIORITY_HIGH; p++) {
        aidev_queue q;
        ck_assert_ok(aidev_queue_create(dev, (aidev_queue_priority)p, &q));
        int32_t priority = 7;
        uint32_t flags = 7, applied = 7;
        size_t size = 0;
        ck_assert_ok(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_PRIORITY, sizeof priority,
                                          &priority, &size));
        ck_assert_uint_eq(size, sizeof priority);
        ck_assert_int_eq(priority, p);
        ck_assert_ok(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_FLAGS, sizeof flags, &flags, NULL));
        ck_assert_uint_eq(flags, 0);
        ck_assert_ok(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_PRIORITY_APPLIED, sizeof applied,
                                          &applied, NULL));
        ck_assert_msg(applied == (device_applies ? 1u : 0u),
                      "%s priority %d: applied %u, device feature %d", backend, p, applied,
                      device_applies);
        aidev_device owner = NULL;
        ck_assert_ok(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_DEVICE, sizeof owner, &owner, NULL));
        ck_assert_ptr_eq(owner, dev);
        char text[256];
        queue_scheduling(q, text, sizeof text);
        if (!applied)
            ck_assert_msg(strstr(text, "not applied"), "%s priority %d: '%s'", backend, p, text);
        /* Where OpenCL takes the hint, the queue names the level passed. */
        if (applied && strcmp(backend, "opencl") == 0)
            ck_assert_msg(strstr(text, opencl_levels[p + 1]), "priority %d: '%s'", p, text);
        if (!applied && strcmp(backend, "opencl") == 0)
            ck_assert_msg(strstr(text, "cl_khr_priority_hints"), "'%s'", text);
        check_queue_runs(dev, q, 0x5a5a0000u + (uint32_t)(p + 1));
        ck_assert_ok(aidev_queue_release(q));
    }
}
END_TEST

START_TEST(low_latency_flag_taken_or_refused)
{
    aidev_device dev = harness_device(_i);
    bool offered = (device_features(dev) & AIDEV_FEATURE_QUEUE_LOW_LATENCY) != 0;
    if (!offered) {
        aidev_queue q = (aidev_queue)1;
        ck_assert_error_names(aidev_queue_create_with_flags(dev, AIDEV_QUEUE_PRIORITY_HIGH,
                                                            AIDEV_QUEUE_LOW_LATENCY, &q),
                              AIDEV_ERROR_UNSUPPORTED, "AIDEV_QUEUE_LOW_LATENCY");
        ck_assert_ptr_null(q);
        return;
    }
    /* A low-latency queue beside a plain one, at every priority; both run
     * their commands, and releasing the low-latency ones lets the device's
     * threads sleep again (the plain queue still runs after). */
    aidev_queue plain = harness_queue(dev);
    for (int p = AIDEV_QUEUE_PRIORITY_LOW; p <= AIDEV_QUEUE_PRIORITY_HIGH; p++) {
        aidev_queue q;
        ck_assert_ok(aidev_queue_create_with_flags(dev, (aidev_queue_priority)p,
                                                   AIDEV_QUEUE_LOW_LATENCY, &q));
        uint32_t flags = 0;
        ck_assert_ok(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_FLAGS, sizeof flags, &flags, NULL));
        ck_assert_uint_eq(flags, AIDEV_QUEUE_LOW_LATENCY);
        char text[256];
        queue_scheduling(q, text, sizeof text);
        ck_assert_msg(strstr(text, "low latency"), "'%s'", text);
        check_queue_runs(dev, q, 0x11110000u + (uint32_t)(p + 1));
        check_queue_runs(dev, plain, 0x22220000u + (uint32_t)(p + 1));
        ck_assert_ok(aidev_queue_release(q));
    }
    check_queue_runs(dev, plain, 0x33330000u);
    ck_assert_ok(aidev_queue_release(plain));
}
END_TEST

START_TEST(bad_requests_refused)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = (aidev_queue)1;
    ck_assert_error_names(aidev_queue_create_with_flags(dev, AIDEV_QUEUE_PRIORITY_NORMAL, 0x80u,
                                                        &q),
                          AIDEV_ERROR_INVALID_ARGUMENT, "flags");
    ck_assert_ptr_null(q);
    ck_assert_error_names(aidev_queue_create_with_flags(dev, (aidev_queue_priority)5, 0, &q),
                          AIDEV_ERROR_INVALID_ARGUMENT, "priority");
    ck_assert_error_names(aidev_queue_create_with_flags(dev, AIDEV_QUEUE_PRIORITY_NORMAL, 0,
                                                        NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "out_queue");
    ck_assert_ok(aidev_queue_create_with_flags(dev, AIDEV_QUEUE_PRIORITY_NORMAL, 0, &q));
    int32_t small;
    size_t size = 0;
    char c;
    ck_assert_status(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_SCHEDULING, 1, &c, &size),
                     AIDEV_ERROR_INVALID_ARGUMENT);
    ck_assert_uint_gt(size, 1);
    ck_assert_status(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_PRIORITY, 2, &small, NULL),
                     AIDEV_ERROR_INVALID_ARGUMENT);
    ck_assert_error_names(aidev_queue_get_info(q, (aidev_queue_info)999, sizeof small, &small,
                                               NULL),
                          AIDEV_ERROR_NOT_FOUND, "999");
    ck_assert_ok(aidev_queue_release(q));
    ck_assert_status(aidev_queue_get_info(q, AIDEV_QUEUE_INFO_PRIORITY, sizeof small, &small,
                                          NULL),
                     AIDEV_ERROR_INVALID_HANDLE);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("queue_flags");
    harness_add_per_device(s, "device_says_how_it_schedules_queues",
                           device_says_how_it_schedules_queues, 60);
    harness_add_per_device(s, "queue_says_whether_its_priority_applies",
                           queue_says_whether_its_priority_applies, 120);
    harness_add_per_device(s, "low_latency_flag_taken_or_refused",
                           low_latency_flag_taken_or_refused, 120);
    harness_add_per_device(s, "bad_requests_refused", bad_requests_refused, 60);
    int rc = harness_run(s);
    harness_shutdown();
    return rc;
}

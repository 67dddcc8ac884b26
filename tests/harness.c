/*
 * harness.c - the shared context and the per-device test cases.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 32

static aidev_context context;
static uint32_t device_count;
static aidev_device devices[MAX_DEVICES];
static char labels[MAX_DEVICES][320];
static char backends[MAX_DEVICES][32];
/* TCase names: Check keeps the pointers until the runner is freed. */
static char **case_names;
static size_t case_name_count;

static bool backend_wanted(const char *backend)
{
    const char *want = getenv("AIDEV_TEST_DEVICES");
    if (!want || !*want)
        return true;
    size_t n = strlen(backend);
    for (const char *p = want; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, backend, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

void harness_init(void)
{
    if (aidev_context_create(NULL, &context) != AIDEV_SUCCESS) {
        fprintf(stderr, "harness: aidev_context_create: %s\n", aidev_last_error());
        exit(1);
    }
    uint32_t n = 0;
    aidev_context_get_devices(context, &n, NULL);
    aidev_device all[MAX_DEVICES];
    if (n > MAX_DEVICES)
        n = MAX_DEVICES;
    aidev_context_get_devices(context, &n, all);
    for (uint32_t i = 0; i < n; i++) {
        char name[256] = "", backend[32] = "";
        aidev_device_get_info(all[i], AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL);
        aidev_device_get_info(all[i], AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
        if (!backend_wanted(backend))
            continue;
        devices[device_count] = all[i];
        snprintf(backends[device_count], sizeof backends[0], "%s", backend);
        snprintf(labels[device_count], sizeof labels[0], "dev%u:%s:%s", i, backend, name);
        device_count++;
    }
    /* A filter naming a backend that gave no device would let every case
     * pass on nothing: fail instead. */
    const char *want = getenv("AIDEV_TEST_DEVICES");
    for (const char *p = want; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool found = false;
        for (uint32_t i = 0; i < device_count && !found; i++)
            found = strlen(backends[i]) == len && strncmp(backends[i], p, len) == 0;
        if (len && !found) {
            fprintf(stderr,
                    "harness: AIDEV_TEST_DEVICES=%s names '%.*s', but no device of that backend "
                    "was found (run aidev-info, or set AIDEV_DEBUG=loader)\n",
                    want, (int)len, p);
            exit(1);
        }
        p = end ? end + 1 : NULL;
    }
    /* The report names which devices every case runs on. */
    for (uint32_t i = 0; i < device_count; i++)
        fprintf(stderr, "harness: device %s\n", labels[i]);
}

void harness_shutdown(void)
{
    if (context)
        aidev_context_release(context);
    context = NULL;
}

aidev_context harness_context(void)
{
    return context;
}

uint32_t harness_device_count(void)
{
    return device_count;
}

aidev_device harness_device(int index)
{
    return devices[index];
}

const char *harness_device_label(int index)
{
    return labels[index];
}

const char *harness_device_backend(int index)
{
    return backends[index];
}

void harness_add_per_device(Suite *suite, const char *case_name, const TTest *fn, int timeout)
{
    for (uint32_t d = 0; d < device_count; d++) {
        char name[400];
        snprintf(name, sizeof name, "%s@%s", case_name, labels[d]);
        char *kept = strdup(name);
        char **grown = realloc(case_names, (case_name_count + 1) * sizeof *case_names);
        if (!kept || !grown) {
            fprintf(stderr, "harness: out of memory\n");
            exit(1);
        }
        case_names = grown;
        case_names[case_name_count++] = kept;
        TCase *tc = tcase_create(kept);
        if (timeout)
            tcase_set_timeout(tc, timeout);
        tcase_add_loop_test(tc, fn, (int)d, (int)d + 1);
        suite_add_tcase(suite, tc);
    }
}

int harness_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    /* One process: the context and the devices are made once, and a
     * sanitizer sees every test in one run. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (size_t i = 0; i < case_name_count; i++)
        free(case_names[i]);
    free(case_names);
    harness_shutdown();
    return failed ? 1 : 0;
}

aidev_queue harness_queue(aidev_device dev)
{
    aidev_queue q = NULL;
    aidev_status st = aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q);
    ck_assert_msg(st == AIDEV_SUCCESS, "aidev_queue_create: %s", aidev_last_error());
    return q;
}

aidev_buffer harness_buffer(aidev_device dev, aidev_memory_kind kind, uint64_t size,
                            aidev_type type)
{
    aidev_buffer_desc desc = {.size = size, .kind = kind, .element_type = type};
    aidev_buffer b = NULL;
    aidev_status st = aidev_buffer_create(dev, &desc, &b);
    ck_assert_msg(st == AIDEV_SUCCESS, "aidev_buffer_create(%llu bytes, kind %d): %s",
                  (unsigned long long)size, (int)kind, aidev_last_error());
    return b;
}

bool harness_has_kind(aidev_device dev, aidev_memory_kind kind)
{
    uint32_t kinds = 0;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_KINDS, sizeof kinds, &kinds, NULL);
    return (kinds & AIDEV_MEMORY_KIND_BIT(kind)) != 0;
}

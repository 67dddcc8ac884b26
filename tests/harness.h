/*
 * harness.h - running every test case on every device.
 *
 * A test program makes one context for all its cases (harness_init) and
 * registers cases with harness_add_per_device(): one Check TCase per device,
 * named "devN:backend:name", whose loop index _i is the device index. So a
 * new backend joins every suite without a test changing.
 *
 * AIDEV_TEST_DEVICES=cpu,opencl limits the devices by backend name.
 */
#ifndef AIDEV_TESTS_HARNESS_H
#define AIDEV_TESTS_HARNESS_H

#include <check.h>
#include <stdbool.h>

#include <aidev/aidev.h>

/* Makes the shared context; call once from main before building suites. */
void harness_init(void);
void harness_shutdown(void);

aidev_context harness_context(void);
uint32_t harness_device_count(void);
aidev_device harness_device(int index);
/* "dev1:opencl:pthread-haswell-..." */
const char *harness_device_label(int index);
const char *harness_device_backend(int index);

/* Adds |fn| to a TCase per device under |suite|; the test reads its device
 * with harness_device(_i). |timeout| in seconds (0: Check's default). */
void harness_add_per_device(Suite *suite, const char *case_name, const TTest *fn, int timeout);

/* Runs the suite (no fork: one process, one context) and returns the exit
 * status for main. */
int harness_run(Suite *suite);

/* A fresh queue on the device (fails the test on error). */
aidev_queue harness_queue(aidev_device dev);
/* A buffer of |size| bytes and |kind|; fails the test on error. */
aidev_buffer harness_buffer(aidev_device dev, aidev_memory_kind kind, uint64_t size,
                            aidev_type type);
/* Whether the device offers |kind|. */
bool harness_has_kind(aidev_device dev, aidev_memory_kind kind);

/* Asserts a status, printing aidev_last_error() on mismatch. */
#define ck_assert_status(expr, expected)                                                      \
    do {                                                                                      \
        aidev_status st_ = (expr);                                                            \
        ck_assert_msg(st_ == (expected), "%s returned %s, expected %s: %s", #expr,            \
                      aidev_status_string(st_), aidev_status_string(expected),                \
                      aidev_last_error());                                                    \
    } while (0)
#define ck_assert_ok(expr) ck_assert_status(expr, AIDEV_SUCCESS)

/* Asserts a failure status whose message names |needle| (an argument). */
#define ck_assert_error_names(expr, expected, needle)                                         \
    do {                                                                                      \
        aidev_status st_ = (expr);                                                            \
        ck_assert_msg(st_ == (expected), "%s returned %s, expected %s: %s", #expr,            \
                      aidev_status_string(st_), aidev_status_string(expected),                \
                      aidev_last_error());                                                    \
        ck_assert_msg(strstr(aidev_last_error(), (needle)) != NULL,                           \
                      "message of %s does not name '%s': \"%s\"", #expr, (needle),            \
                      aidev_last_error());                                                    \
    } while (0)

#endif

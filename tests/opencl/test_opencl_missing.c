/*
 * OpenCL backend where OpenCL is missing: no ICD loader library, or a
 * loader that finds no driver. The backend is listed as skipped with the
 * reason, and the program goes on with the other backends.
 *
 * Each case runs in its own process (Check's fork mode): the ICD loader
 * reads its vendor list once per process.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <aidev/aidev.h>

/* The report of the "opencl" backend in a fresh context. */
static void opencl_report(aidev_context *ctx, aidev_backend_report *out)
{
    ck_assert_int_eq(aidev_context_create(NULL, ctx), AIDEV_SUCCESS);
    aidev_backend_report reports[64];
    uint32_t n = 64;
    ck_assert_int_eq(aidev_context_get_backends(*ctx, &n, reports), AIDEV_SUCCESS);
    bool found = false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(reports[i].name, "opencl") == 0) {
            *out = reports[i];
            found = true;
        }
    ck_assert_msg(found, "the opencl plugin was not found at all");
}

/* The other backends still give devices. */
static void others_still_work(aidev_context ctx)
{
    uint32_t count = 0;
    ck_assert_int_eq(aidev_context_get_devices(ctx, &count, NULL), AIDEV_SUCCESS);
    ck_assert_uint_gt(count, 0);
    aidev_device devices[32];
    if (count > 32)
        count = 32;
    ck_assert_int_eq(aidev_context_get_devices(ctx, &count, devices), AIDEV_SUCCESS);
    for (uint32_t i = 0; i < count; i++) {
        char backend[32];
        aidev_device_get_info(devices[i], AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend,
                              NULL);
        ck_assert_str_ne(backend, "opencl");
    }
}

START_TEST(no_icd_loader_library)
{
    setenv("AIDEV_OPENCL_LIBRARY", "/nonexistent/libOpenCL.so.1", 1);
    aidev_context ctx;
    aidev_backend_report r;
    opencl_report(&ctx, &r);
    ck_assert_int_eq(r.state, AIDEV_BACKEND_SKIPPED);
    ck_assert_msg(strstr(r.reason, "no OpenCL ICD loader") &&
                      strstr(r.reason, "/nonexistent/libOpenCL.so.1"),
                  "reason: %s", r.reason);
    ck_assert_uint_eq(r.device_count, 0);
    others_still_work(ctx);
    aidev_context_release(ctx);
}
END_TEST

START_TEST(no_icd_driver)
{
    char dir[] = "/tmp/aidev-empty-icd-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("OCL_ICD_VENDORS", dir, 1);
    aidev_context ctx;
    aidev_backend_report r;
    opencl_report(&ctx, &r);
    rmdir(dir);
    ck_assert_int_eq(r.state, AIDEV_BACKEND_SKIPPED);
    ck_assert_msg(strstr(r.reason, "no OpenCL platform") && strstr(r.reason, dir),
                  "reason: %s", r.reason);
    others_still_work(ctx);
    aidev_context_release(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl-missing");
    TCase *tc = tcase_create("missing");
    tcase_add_test(tc, no_icd_loader_library);
    tcase_add_test(tc, no_icd_driver);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK); /* one process per case */
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/* The plugin ABI 1.4 kernel caps (issue 17). Two fakes claim OpenCL C and
 * SPIR-V kernels and set AIDEV_BACKEND_CAP_SPEC_CONSTANTS and
 * AIDEV_BACKEND_CAP_LOCAL_ARGS: fake_kforms answers this header's ABI, so
 * its devices offer AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS and
 * AIDEV_FEATURE_KERNEL_LOCAL_ARGS; fake_kforms13 answers 1.3, which has no
 * such caps, so the loader clears them and a kernel that asks for
 * specialization constants or local memory is refused as unsupported,
 * naming the device, before the plugin (which would not apply them) sees
 * it. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <aidev/aidev.h>

static const uint32_t some_words[] = {0x07230203u, 0x00010000u, 0, 1, 0};

static aidev_device device_of(aidev_context ctx, const char *backend)
{
    uint32_t n = 0;
    ck_assert_int_eq(aidev_context_get_devices(ctx, &n, NULL), AIDEV_SUCCESS);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        char name[64] = "";
        ck_assert_int_eq(aidev_context_get_device(ctx, i, &d), AIDEV_SUCCESS);
        aidev_device_get_info(d, AIDEV_DEVICE_INFO_BACKEND, sizeof name, name, NULL);
        if (strcmp(name, backend) == 0)
            return d;
    }
    ck_abort_msg("no device of backend '%s' (AIDEV_PLUGIN_PATH, AIDEV_BACKENDS)", backend);
    return NULL;
}

static uint64_t features_of(aidev_device d)
{
    uint64_t f = 0;
    ck_assert_int_eq(aidev_device_get_info(d, AIDEV_DEVICE_INFO_FEATURES, sizeof f, &f, NULL),
                     AIDEV_SUCCESS);
    return f;
}

/* An OpenCL C kernel with a local-memory argument and a SPIR-V one with a
 * constant, on |d|: refused with |status|, the message naming |needle|. */
static void expect_refusals(aidev_device d, aidev_status status, const char *local_needle,
                            const char *spec_needle)
{
    static const aidev_kernel_arg_desc args[] = {
        {"scratch", AIDEV_ARG_LOCAL, AIDEV_TYPE_F32, 0, NULL},
    };
    aidev_kernel_desc cl = {.name = "k", .source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C,
                            .data = "__kernel void k(__local float *s) {}", .arg_count = 1,
                            .args = args};
    aidev_kernel k = NULL;
    aidev_status st = aidev_kernel_create(d, &cl, &k);
    ck_assert_msg(st == status && strstr(aidev_last_error(), local_needle),
                  "local argument: %s: %s", aidev_status_string(st), aidev_last_error());
    ck_assert_ptr_null(k);
    const aidev_kernel_spec_constant c = aidev_spec_u32(1, 2);
    aidev_kernel_desc spv = {.name = "k", .source_kind = AIDEV_KERNEL_SOURCE_SPIRV,
                             .data = some_words, .size = sizeof some_words,
                             .spec_constant_count = 1, .spec_constants = &c};
    st = aidev_kernel_create(d, &spv, &k);
    ck_assert_msg(st == status && strstr(aidev_last_error(), spec_needle),
                  "specialization constant: %s: %s", aidev_status_string(st),
                  aidev_last_error());
    ck_assert_ptr_null(k);
}

START_TEST(caps_of_a_1_4_plugin)
{
    aidev_context ctx;
    ck_assert_int_eq(aidev_context_create(NULL, &ctx), AIDEV_SUCCESS);
    aidev_device d = device_of(ctx, "fake_kforms");
    uint64_t f = features_of(d);
    ck_assert_msg((f & AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS) && (f & AIDEV_FEATURE_KERNEL_LOCAL_ARGS),
                  "features %#llx", (unsigned long long)f);
    /* libaidev lets both through: the fake itself refuses (no C form). */
    expect_refusals(d, AIDEV_ERROR_UNSUPPORTED, "has no C form", "has no C form");
    aidev_context_release(ctx);
}
END_TEST

START_TEST(caps_of_a_1_3_plugin_are_cleared)
{
    aidev_context ctx;
    ck_assert_int_eq(aidev_context_create(NULL, &ctx), AIDEV_SUCCESS);
    aidev_device d = device_of(ctx, "fake_kforms13");
    uint64_t f = features_of(d);
    ck_assert_msg(!(f & (AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS | AIDEV_FEATURE_KERNEL_LOCAL_ARGS)),
                  "features %#llx", (unsigned long long)f);
    ck_assert(f & AIDEV_FEATURE_KERNEL_OPENCL_C);
    expect_refusals(d, AIDEV_ERROR_UNSUPPORTED, "takes no local-memory arguments",
                    "cannot apply specialization constants");
    aidev_context_release(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader-kernel-caps");
    TCase *tc = tcase_create("caps");
    tcase_add_test(tc, caps_of_a_1_4_plugin);
    tcase_add_test(tc, caps_of_a_1_3_plugin_are_cleared);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}

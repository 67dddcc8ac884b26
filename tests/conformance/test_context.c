/* Contexts, backends, devices and the device info query. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(context_create_bad_arguments)
{
    ck_assert_error_names(aidev_context_create(NULL, NULL), AIDEV_ERROR_INVALID_ARGUMENT,
                          "out_context");
    aidev_context ctx = (aidev_context)(uintptr_t)0x1234;
    aidev_context_desc desc = {.backends = "no-such-backend"};
    ck_assert_error_names(aidev_context_create(&desc, &ctx), AIDEV_ERROR_NOT_FOUND,
                          "no-such-backend");
    ck_assert_ptr_null(ctx);
    ck_assert_error_names(aidev_context_release(NULL), AIDEV_ERROR_INVALID_HANDLE, "context");
}
END_TEST

START_TEST(context_selects_backends)
{
    aidev_context ctx;
    aidev_context_desc desc = {.backends = "cpu"};
    ck_assert_ok(aidev_context_create(&desc, &ctx));
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &n, NULL));
    ck_assert_uint_eq(n, 1);
    aidev_device dev;
    ck_assert_ok(aidev_context_get_device(ctx, 0, &dev));
    char backend[32];
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend,
                                       NULL));
    ck_assert_str_eq(backend, "cpu");
    ck_assert_ok(aidev_context_release(ctx));
    /* Released: every later use is refused. */
    ck_assert_status(aidev_context_get_devices(ctx, &n, NULL), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_status(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend,
                                           backend, NULL),
                     AIDEV_ERROR_INVALID_HANDLE);
}
END_TEST

START_TEST(backend_reports)
{
    aidev_context ctx = harness_context();
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_backends(ctx, &n, NULL));
    ck_assert_uint_ge(n, 1);
    aidev_backend_report *r = calloc(n, sizeof *r);
    ck_assert_ok(aidev_context_get_backends(ctx, &n, r));
    bool cpu = false;
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(r[i].name);
        ck_assert_ptr_nonnull(r[i].path);
        ck_assert_ptr_nonnull(r[i].reason);
        if (r[i].state == AIDEV_BACKEND_LOADED)
            ck_assert_str_eq(r[i].reason, "");
        else
            ck_assert_msg(r[i].reason[0], "backend %s not loaded without a reason", r[i].name);
        if (strcmp(r[i].name, "cpu") == 0) {
            cpu = true;
            ck_assert_int_eq(r[i].state, AIDEV_BACKEND_LOADED);
            ck_assert_uint_eq(r[i].device_count, 1);
        }
    }
    ck_assert(cpu);
    /* Two-call enumeration truncates to the given count. */
    uint32_t one = 1;
    ck_assert_ok(aidev_context_get_backends(ctx, &one, r));
    ck_assert_uint_eq(one, 1);
    ck_assert_error_names(aidev_context_get_backends(ctx, NULL, r), AIDEV_ERROR_INVALID_ARGUMENT,
                          "count");
    ck_assert_str_eq(aidev_backend_state_string(AIDEV_BACKEND_SKIPPED), "skipped");
    free(r);
}
END_TEST

START_TEST(device_enumeration)
{
    aidev_context ctx = harness_context();
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &n, NULL));
    ck_assert_uint_ge(n, harness_device_count());
    aidev_device *devs = calloc(n, sizeof *devs);
    ck_assert_ok(aidev_context_get_devices(ctx, &n, devs));
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        ck_assert_ok(aidev_context_get_device(ctx, i, &d));
        ck_assert_ptr_eq(d, devs[i]);
        uint32_t index;
        ck_assert_ok(aidev_device_get_info(d, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index,
                                           NULL));
        ck_assert_uint_eq(index, i);
        aidev_context back;
        ck_assert_ok(aidev_device_get_context(d, &back));
        ck_assert_ptr_eq(back, ctx);
    }
    aidev_device d;
    ck_assert_error_names(aidev_context_get_device(ctx, n, &d), AIDEV_ERROR_NOT_FOUND, "index");
    free(devs);
}
END_TEST

START_TEST(device_info_every_key)
{
    aidev_device dev = harness_device(_i);
    char name[256], vendor[128], backend[32], driver[128], api[64];
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL));
    ck_assert_msg(name[0], "empty device name");
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_VENDOR, sizeof vendor, vendor, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend,
                                       NULL));
    ck_assert_str_eq(backend, harness_device_backend(_i));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_DRIVER_VERSION, sizeof driver,
                                       driver, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_API_VERSION, sizeof api, api, NULL));

    uint32_t type, cu, wg, kinds;
    uint32_t dims[3];
    uint64_t mem, max_alloc, features, local;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_TYPE, sizeof type, &type, NULL));
    ck_assert(type >= AIDEV_DEVICE_TYPE_CPU && type <= AIDEV_DEVICE_TYPE_OTHER);
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_COMPUTE_UNITS, sizeof cu, &cu, NULL));
    ck_assert_uint_ge(cu, 1);
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_BYTES, sizeof mem, &mem,
                                       NULL));
    ck_assert_uint_gt(mem, 0);
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES, sizeof max_alloc,
                                       &max_alloc, NULL));
    ck_assert_uint_gt(max_alloc, 0);
    ck_assert_uint_le(max_alloc, mem);
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_WORKGROUP_SIZE, sizeof wg, &wg,
                                       NULL));
    ck_assert_uint_ge(wg, 1);
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_WORKGROUP_DIMS, sizeof dims,
                                       dims, NULL));
    ck_assert_uint_ge(dims[0], 1);
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_KINDS, sizeof kinds, &kinds,
                                       NULL));
    ck_assert_msg(kinds & AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE),
                  "every device offers DEVICE memory");
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES, sizeof local,
                                       &local, NULL));
    int32_t numa;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NUMA_NODE, sizeof numa, &numa, NULL));
    ck_assert_int_ge(numa, -1);
    double period;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_TIMESTAMP_PERIOD_NS, sizeof period,
                                       &period, NULL));

    /* Optional keys: a value, or UNSUPPORTED with a message. */
    uint64_t free_mem;
    aidev_status st = aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES,
                                            sizeof free_mem, &free_mem, NULL);
    ck_assert(st == AIDEV_SUCCESS || st == AIDEV_ERROR_UNSUPPORTED);
    if (st == AIDEV_SUCCESS)
        ck_assert_uint_le(free_mem, mem);
    else
        ck_assert(aidev_last_error()[0]);
    char bus[32];
    st = aidev_device_get_info(dev, AIDEV_DEVICE_INFO_PCI_BUS_ID, sizeof bus, bus, NULL);
    ck_assert(st == AIDEV_SUCCESS || st == AIDEV_ERROR_UNSUPPORTED);
    uint8_t uuid[16];
    st = aidev_device_get_info(dev, AIDEV_DEVICE_INFO_UUID, sizeof uuid, uuid, NULL);
    ck_assert(st == AIDEV_SUCCESS || st == AIDEV_ERROR_UNSUPPORTED);
}
END_TEST

START_TEST(device_info_bad_arguments)
{
    aidev_device dev = harness_device(_i);
    size_t size = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, 0, NULL, &size));
    ck_assert_uint_gt(size, 1);
    char small[1];
    ck_assert_error_names(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, sizeof small, small,
                                                NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "value_size");
    uint32_t v;
    ck_assert_error_names(aidev_device_get_info(dev, (aidev_device_info)9999, sizeof v, &v, NULL),
                          AIDEV_ERROR_NOT_FOUND, "key");
    ck_assert_error_names(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_TYPE, sizeof v, NULL,
                                                NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "size_ret");
    ck_assert_error_names(aidev_device_get_info(NULL, AIDEV_DEVICE_INFO_TYPE, sizeof v, &v, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "device");
}
END_TEST

START_TEST(status_strings)
{
    ck_assert_str_eq(aidev_status_string(AIDEV_SUCCESS), "AIDEV_SUCCESS");
    ck_assert_str_eq(aidev_status_string(AIDEV_ERROR_OUT_OF_RANGE), "AIDEV_ERROR_OUT_OF_RANGE");
    ck_assert_str_eq(aidev_status_string((aidev_status)-999), "AIDEV_ERROR_UNKNOWN");
    for (int s = 1; s >= -18; s--)
        ck_assert_str_ne(aidev_status_string((aidev_status)s), "AIDEV_ERROR_UNKNOWN");
    ck_assert_uint_eq(aidev_type_size(AIDEV_TYPE_F32), 4);
    ck_assert_uint_eq(aidev_type_size(AIDEV_TYPE_COUNT_), 0);
    ck_assert_str_eq(aidev_type_name(AIDEV_TYPE_I8), "i8");
    ck_assert_str_ne(aidev_version(), "");
    /* A successful call clears the message. */
    aidev_context_release(NULL);
    ck_assert(aidev_last_error()[0]);
    uint32_t n;
    ck_assert_ok(aidev_context_get_devices(harness_context(), &n, NULL));
    ck_assert_str_eq(aidev_last_error(), "");
}
END_TEST

/* The report of |name| with |value|, or NULL. */
static const aidev_environment_report *find_report(aidev_environment_report *all, uint32_t n,
                                                   const char *name, const char *value)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(all[i].name, name) == 0 && strcmp(all[i].value, value) == 0)
            return &all[i];
    return NULL;
}

/* libaidev's own variables go through the strict parser: a value that is
 * not exactly what its kind allows is listed (and said once on stderr)
 * with what is used instead, checked before it is used; taken values are
 * not listed. */
START_TEST(environment_values_are_strict)
{
    const struct {
        const char *name, *value, *used;
    } bad[] = {
        {"AIDEV_HUGEPAGES", "3x", "auto"},
        {"AIDEV_HUGEPAGES", "yes", "auto"},
        {"AIDEV_IO_ENGINE", "uring", "io_uring"},
        {"AIDEV_IO_ENGINE", "PREAD", "io_uring"},
        {"AIDEV_ZERO_ON_FREE", "2", "context creation fails"},
        {"AIDEV_MEM_LIMIT", "-1", "context creation fails"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i].name, bad[i].value, 1);
        uint32_t n = 0;
        ck_assert_ok(aidev_environment_get_reports(&n, NULL));
        aidev_environment_report *all = calloc(n ? n : 1, sizeof *all);
        ck_assert_ok(aidev_environment_get_reports(&n, all));
        const aidev_environment_report *r = find_report(all, n, bad[i].name, bad[i].value);
        ck_assert_msg(r, "%s='%s' is not listed", bad[i].name, bad[i].value);
        ck_assert_ptr_nonnull(strstr(r->used, bad[i].used));
        ck_assert_str_ne(r->problem, "");
        /* Listed once, however often it is read. */
        uint32_t again = 0;
        ck_assert_ok(aidev_environment_get_reports(&again, NULL));
        ck_assert_uint_eq(again, n);
        free(all);
        unsetenv(bad[i].name);
    }
    const struct {
        const char *name, *value;
    } good[] = {{"AIDEV_HUGEPAGES", "thp"}, {"AIDEV_IO_ENGINE", "pread"},
                {"AIDEV_ZERO_ON_FREE", "off"}, {"AIDEV_MEM_LIMIT", "0"}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv(good[i].name, good[i].value, 1);
        uint32_t n = 0;
        ck_assert_ok(aidev_environment_get_reports(&n, NULL));
        aidev_environment_report *all = calloc(n ? n : 1, sizeof *all);
        ck_assert_ok(aidev_environment_get_reports(&n, all));
        ck_assert_msg(!find_report(all, n, good[i].name, good[i].value), "%s='%s' is listed",
                      good[i].name, good[i].value);
        free(all);
        unsetenv(good[i].name);
    }
    ck_assert_error_names(aidev_environment_get_reports(NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "count");
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("context");
    TCase *tc = tcase_create("context");
    tcase_add_test(tc, context_create_bad_arguments);
    tcase_add_test(tc, context_selects_backends);
    tcase_add_test(tc, backend_reports);
    tcase_add_test(tc, device_enumeration);
    tcase_add_test(tc, status_strings);
    tcase_add_test(tc, environment_values_are_strict);
    suite_add_tcase(s, tc);
    harness_add_per_device(s, "device_info_every_key", device_info_every_key, 0);
    harness_add_per_device(s, "device_info_bad_arguments", device_info_bad_arguments, 0);
    return harness_run(s);
}

/* Grids are exact. A dispatch of N items runs N items where the backend
 * can: a user kernel with no bounds check writes an exactly sized range of
 * a buffer and not the guard bytes after it, on the CPU (C functions get
 * boxes inside the grid) and on OpenCL (partial workgroups, or a chosen
 * workgroup size that divides the grid; get_global_size is the grid).
 * Where whole workgroups run (Vulkan), the kernel gets the real grid in its
 * push constants (aidev_grid) and guards with it. Each form on every device
 * that takes it, over grids that no workgroup size divides (a prime), a
 * 2-D grid, and one smaller than any workgroup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"

#ifdef AIDEV_TEST_USER_SPIRV
extern const uint32_t user_grid_spirv[];
extern const size_t user_grid_spirv_size;
#endif

/* No bounds check: y[j * gx + i] = j * gx + i + 1 for every item run. */
static const char grid_opencl[] =
    "__kernel void user_grid(__global uint *y)\n"
    "{\n"
    "    size_t i = get_global_id(1) * get_global_size(0) + get_global_id(0);\n"
    "    y[i] = (uint)i + 1;\n"
    "}\n";

static void grid_host(void *const *args, const aidev_host_range *range)
{
    uint32_t *y = args[0];
    for (uint32_t j = range->begin[1]; j < range->end[1]; j++)
        for (uint32_t i = range->begin[0]; i < range->end[0]; i++)
            y[j * range->grid[0] + i] = j * range->grid[0] + i + 1;
}

static const aidev_kernel_arg_desc grid_args[] = {
    {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_WRITE, NULL},
};

enum { GUARD = 4096, GUARD_WORD = 0xa5a5a5a5u };

/* Runs |k| over |grid| (|wg| may be NULL) into a buffer of exactly the
 * grid's items and GUARD words after them, and checks both. */
static void run_grid(const kc_device *d, aidev_kernel k, const uint32_t grid[3],
                     const uint32_t *wg, const char *form)
{
    uint32_t items = grid[0] * grid[1] * grid[2];
    size_t total = (size_t)items + GUARD;
    aidev_buffer b = kc_buffer(d, AIDEV_TYPE_U32, total, NULL);
    const uint32_t guard = GUARD_WORD;
    ck_assert_ok(aidev_enqueue_fill(d->queue, b, 0, total * 4, &guard, 4, 0, NULL, NULL));
    aidev_arg arg = aidev_arg_buffer(b, 0);
    aidev_event done;
    aidev_status st = aidev_enqueue_dispatch(d->queue, k, grid, wg, 1, &arg, 0, NULL, &done);
    ck_assert_msg(st == AIDEV_SUCCESS, "%s grid %u x %u on %s: %s", form, grid[0], grid[1],
                  d->label, aidev_last_error());
    st = aidev_event_wait(done, AIDEV_WAIT_FOREVER);
    ck_assert_msg(st == AIDEV_SUCCESS, "%s grid %u x %u on %s: %s", form, grid[0], grid[1],
                  d->label, aidev_event_message(done));
    aidev_event_release(done);
    uint32_t *got = kc_alloc(total * 4);
    kc_read(d, b, AIDEV_TYPE_U32, total, got);
    for (uint32_t i = 0; i < items; i++)
        ck_assert_msg(got[i] == i + 1, "%s grid %u x %u on %s: y[%u] = %u, want %u", form,
                      grid[0], grid[1], d->label, i, got[i], i + 1);
    for (size_t i = items; i < total; i++)
        ck_assert_msg(got[i] == GUARD_WORD,
                      "%s grid %u x %u%s on %s: item %zu past the grid ran (guard word %zu "
                      "is %#x)",
                      form, grid[0], grid[1], wg ? " with a workgroup" : "", d->label, i,
                      i - items, got[i]);
    free(got);
    aidev_buffer_release(b);
}

static void check_form(int device, aidev_kernel_source_kind kind, const char *form,
                       uint64_t feature)
{
    kc_device d = kc_open(device);
    uint64_t features = 0;
    ck_assert_ok(aidev_device_get_info(d.dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    aidev_kernel_desc desc = {.name = "user_grid", .source_kind = kind, .arg_count = 1,
                              .args = grid_args};
    if (kind == AIDEV_KERNEL_SOURCE_OPENCL_C)
        desc.data = grid_opencl;
    else if (kind == AIDEV_KERNEL_SOURCE_HOST)
        desc.host_fn = grid_host;
#ifdef AIDEV_TEST_USER_SPIRV
    else {
        desc.data = user_grid_spirv;
        desc.size = user_grid_spirv_size;
    }
#else
    else {
        fprintf(stderr, "SKIP %s on %s: built without glslc\n", form, d.label);
        kc_close(&d);
        return;
    }
#endif
    if (!(features & feature)) {
        fprintf(stderr, "SKIP %s on %s: the device takes no such kernels\n", form, d.label);
        kc_close(&d);
        return;
    }
    aidev_kernel k;
    ck_assert_msg(aidev_kernel_create(d.dev, &desc, &k) == AIDEV_SUCCESS, "%s on %s: %s", form,
                  d.label, aidev_last_error());
    static const uint32_t grids[][3] = {{1000, 1, 1}, {997, 1, 1}, {3, 1, 1}, {37, 19, 1}};
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++)
        run_grid(&d, k, grids[g], NULL, form);
    /* A workgroup that divides the grid is exact everywhere but Vulkan,
     * where the module fixes the workgroup. */
    if (kind != AIDEV_KERNEL_SOURCE_SPIRV) {
        const uint32_t grid[3] = {1000, 1, 1}, wg[3] = {40, 1, 1};
        run_grid(&d, k, grid, wg, form);
    }
    ck_assert_ok(aidev_kernel_release(k));
    kc_close(&d);
}

START_TEST(test_opencl_c)
{
    check_form(_i, AIDEV_KERNEL_SOURCE_OPENCL_C, "OpenCL C", AIDEV_FEATURE_KERNEL_OPENCL_C);
}
END_TEST

START_TEST(test_spirv)
{
    check_form(_i, AIDEV_KERNEL_SOURCE_SPIRV, "SPIR-V", AIDEV_FEATURE_KERNEL_SPIRV);
}
END_TEST

START_TEST(test_host)
{
    check_form(_i, AIDEV_KERNEL_SOURCE_HOST, "C function", AIDEV_FEATURE_KERNEL_HOST);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-exact-grid");
    harness_add_per_device(s, "exact_grid_opencl_c", test_opencl_c, 0);
    harness_add_per_device(s, "exact_grid_spirv", test_spirv, 0);
    harness_add_per_device(s, "exact_grid_host", test_host, 0);
    return harness_run(s);
}

/* The library as the build made it from kernels/manifest.txt: the signature
 * table libaidev serves, the embedded OpenCL C and SPIR-V forms the plugins
 * link (built and checked here even before a plugin uses them), the
 * accuracy of every kernel, and that every device can get every kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "kernel_tolerances.h"
#include "kernels/library_forms.h"

#include <aidev/aidev_backend.h>

#define SPIRV_MAGIC 0x07230203u

/* The set of the issue, every one with a signature, an accuracy and both
 * GPU forms; the kernels the ops run come after (test_ops). */
START_TEST(test_signatures)
{
    static const char *expected[] = {
        "fill_f32", "copy_f32", "axpy",    "scale",     "add",       "mul",
        "relu",     "gelu",     "silu",    "reduce_sum",       "reduce_max",       "softmax",
        "rmsnorm",  "layernorm", "transpose", "sgemm", "quantize_i8", "dequantize_i8",
        "matmul_i8", "relu_backward", "col_sum",
    };
    const uint32_t count = sizeof expected / sizeof expected[0];
    ck_assert_uint_ge(aidev_library_kernel_count(), count);
    ck_assert_ptr_null(aidev_library_kernel(aidev_library_kernel_count()));
    for (size_t e = 0; e < count; e++) {
        const aidev_kernel_desc *d = NULL;
        for (uint32_t i = 0; i < count; i++)
            if (strcmp(aidev_library_kernel(i)->name, expected[e]) == 0)
                d = aidev_library_kernel(i);
        ck_assert_msg(d != NULL, "no library kernel '%s'", expected[e]);
        ck_assert_msg(d->host_fn != NULL, "'%s' has no C form", d->name);
        ck_assert_msg(d->arg_count > 0 && d->arg_count <= AIDEV_MAX_KERNEL_ARGS, "'%s'", d->name);
        ck_assert_msg(d->grid[0] != NULL, "'%s' declares no grid", d->name);
        ck_assert_msg(kernel_tolerance_of(d->name) != NULL, "'%s' has no accuracy", d->name);
        for (uint32_t a = 0; a < d->arg_count; a++) {
            const aidev_kernel_arg_desc *arg = &d->args[a];
            ck_assert_msg(arg->name && arg->name[0], "'%s' argument %u has no name", d->name, a);
            /* Every buffer says how much of it the kernel touches: that is
             * what makes a too-small buffer a refused dispatch. */
            if (arg->kind == AIDEV_ARG_BUFFER)
                ck_assert_msg(arg->count != NULL, "'%s' buffer '%s' has no count", d->name,
                              arg->name);
        }
    }
}
END_TEST

static void check_forms(const aidev_library_gpu_form *forms, uint32_t count, bool spirv)
{
    ck_assert_uint_eq(count, aidev_backend_library_size());
    for (uint32_t i = 0; i < aidev_library_kernel_count(); i++) {
        const aidev_kernel_desc *d = aidev_library_kernel(i);
        const aidev_library_gpu_form *f = aidev_library_gpu_form_find(forms, count, d->name);
        ck_assert_msg(f != NULL, "no %s form of '%s'", spirv ? "SPIR-V" : "OpenCL", d->name);
        ck_assert_msg(f->code && f->code_size > 0, "'%s': empty form", d->name);
        uint64_t wg = (uint64_t)f->local[0] * f->local[1] * f->local[2];
        ck_assert_msg(wg >= 1 && wg <= 256, "'%s': workgroup %llu", d->name,
                      (unsigned long long)wg);
        if (spirv) {
            ck_assert_msg(f->code_size % 4 == 0 && ((const uint32_t *)f->code)[0] == SPIRV_MAGIC,
                          "'%s': not SPIR-V", d->name);
            ck_assert_str_eq(f->entry, "main");
        } else {
            char decl[96];
            snprintf(decl, sizeof decl, "void %s(", d->name);
            ck_assert_str_eq(f->entry, d->name);
            ck_assert_msg(strstr(f->code, decl) != NULL, "'%s': the source has no %s", d->name,
                          decl);
            ck_assert_uint_eq(strlen(f->code), f->code_size);
        }
        if (f->launch == AIDEV_LAUNCH_REDUCE) {
            /* REDUCE passes take (u32 n, in, out): so must the kernel. */
            ck_assert_uint_eq(d->arg_count, 3);
            ck_assert_int_eq(d->args[0].type, AIDEV_TYPE_U32);
            ck_assert_int_eq(d->args[1].kind, AIDEV_ARG_BUFFER);
            ck_assert_int_eq(d->args[2].kind, AIDEV_ARG_BUFFER);
            ck_assert_uint_ge(f->items_per_thread, 1);
        }
    }
}

START_TEST(test_opencl_forms)
{
    check_forms(aidev_library_opencl_forms, aidev_library_opencl_form_count, false);
}
END_TEST

#ifdef AIDEV_TEST_SPIRV_FORMS
START_TEST(test_spirv_forms)
{
    check_forms(aidev_library_spirv_forms, aidev_library_spirv_form_count, true);
}
END_TEST
#endif

/* Every op: what it runs is in the library, each accuracy variant has its
 * tolerance (OP.VARIANT) for the tests, and the internal kernels have every
 * form (every device runs every op). */
START_TEST(test_ops)
{
    ck_assert_uint_gt(aidev_library_op_count(), 0);
    ck_assert_ptr_null(aidev_library_op(aidev_library_op_count()));
    for (uint32_t i = 0; i < aidev_library_op_count(); i++) {
        const aidev_op_info *op = aidev_library_op(i);
        ck_assert_msg(op->name && op->call && strncmp(op->call, "aidev_enqueue_", 14) == 0,
                      "op %u: name or call", i);
        ck_assert_msg(op->doc[0] && op->dtypes[0], "op '%s': doc or dtypes empty", op->name);
        ck_assert_msg(op->accuracy_count > 0, "op '%s' states no accuracy", op->name);
        for (uint32_t a = 0; a < op->accuracy_count; a++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", op->name, op->accuracy[a].variant);
            ck_assert_msg(kernel_tolerance_of(name) != NULL, "no tolerance '%s'", name);
        }
    }
    /* The internal kernels follow the public ones, each with every form. */
    for (uint32_t i = aidev_library_kernel_count(); i < aidev_backend_library_size(); i++)
        ck_assert_msg(aidev_backend_library_host_fn(i) != NULL, "internal kernel %u: no C form",
                      i);
    for (uint32_t i = 0; i < aidev_library_op_count(); i++) {
        char names[256];
        snprintf(names, sizeof names, "%s", aidev_library_op(i)->kernels);
        for (char *save, *k = strtok_r(names, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
            ck_assert_msg(aidev_library_gpu_form_find(aidev_library_opencl_forms,
                                                      aidev_library_opencl_form_count, k),
                          "'%s' has no OpenCL C form", k);
#ifdef AIDEV_TEST_SPIRV_FORMS
            ck_assert_msg(aidev_library_gpu_form_find(aidev_library_spirv_forms,
                                                      aidev_library_spirv_form_count, k),
                          "'%s' has no SPIR-V form", k);
#endif
            aidev_kernel kernel;
            ck_assert_error_names(aidev_kernel_get(harness_device(0), k, &kernel),
                                  AIDEV_ERROR_NOT_FOUND, "internal");
        }
    }
}
END_TEST

/* Every device gets every kernel by name. Only the int8 kernels may be
 * unsupported, and only on a device that is not the CPU (their GLSL forms
 * need 8-bit storage buffers): kc_kernel_optional enforces that. */
START_TEST(test_get_all)
{
    kc_device d = kc_open(_i);
    for (uint32_t i = 0; i < aidev_library_kernel_count(); i++) {
        const char *name = aidev_library_kernel(i)->name;
        aidev_kernel k = kc_kernel_optional(&d, name);
        if (k)
            ck_assert_ok(aidev_kernel_release(k));
    }
    kc_close(&d);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("kernels-library");
    TCase *tc = tcase_create("tables");
    tcase_add_test(tc, test_signatures);
    tcase_add_test(tc, test_ops);
    tcase_add_test(tc, test_opencl_forms);
#ifdef AIDEV_TEST_SPIRV_FORMS
    tcase_add_test(tc, test_spirv_forms);
#endif
    suite_add_tcase(s, tc);
    harness_add_per_device(s, "get_all", test_get_all, 0);
    return harness_run(s);
}

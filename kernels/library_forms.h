/*
 * library_forms.h - the GPU forms of the built-in kernels, as the build
 * embeds them in the OpenCL and Vulkan plugins (generated from
 * kernels/manifest.txt by kernels/gen_library.py).
 *
 * Conventions every GPU form follows, so that one backend routine launches
 * them all:
 *   - Arguments in signature order. OpenCL: kernel arguments in that order
 *     (buffers as __global pointers, scalars by value). Vulkan/GLSL: buffer
 *     arguments are storage buffers at set 0, bindings 0, 1, 2, ... in the
 *     order they appear; scalar arguments fill one push-constant block in
 *     the order they appear (u32/i32/f32 take 4 bytes, u64/i64/f64 take 8
 *     and are 8-aligned).
 *   - launch ITEMS: one work-item per logical grid item; the form's
 *     workgroup is |local|. Dimension 0 is grid-strided: a backend may launch
 *     fewer items than grid[0] (device limits on group counts) and each
 *     work-item loops with the launched global size as stride.
 *   - launch GROUPS: one workgroup of |local[0]| work-items per logical item
 *     of dimension 0 (row-wise operations: softmax, norms); dimensions 1 and
 *     2 as ITEMS.
 *   - launch REDUCE: multi-pass reduction. The form is a pass that reduces
 *     each run of |local[0] * items_per_thread| elements of `in` to one
 *     element of `out`: signature (u32 n, in, out). The backend runs passes
 *     over scratch buffers until one value is left, the last pass writing
 *     the library kernel's output.
 */
#ifndef AIDEV_KERNELS_LIBRARY_FORMS_H
#define AIDEV_KERNELS_LIBRARY_FORMS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum aidev_library_launch {
    AIDEV_LAUNCH_ITEMS = 0,
    AIDEV_LAUNCH_GROUPS = 1,
    AIDEV_LAUNCH_REDUCE = 2,
} aidev_library_launch;

typedef struct aidev_library_gpu_form {
    const char *name;          /* the library kernel's name */
    const char *entry;         /* entry point: the kernel name (OpenCL), "main" (SPIR-V) */
    const void *code;          /* OpenCL C text (NUL-terminated) or SPIR-V words */
    size_t code_size;          /* bytes, without the NUL */
    aidev_library_launch launch;
    uint32_t local[3];         /* the form's workgroup size */
    uint32_t items_per_thread; /* REDUCE: elements each work-item folds per pass */
} aidev_library_gpu_form;

/* Generated tables; a plugin links the one of its API. */
extern const aidev_library_gpu_form aidev_library_opencl_forms[];
extern const uint32_t aidev_library_opencl_form_count;
extern const aidev_library_gpu_form aidev_library_spirv_forms[];
extern const uint32_t aidev_library_spirv_form_count;

static inline const aidev_library_gpu_form *
aidev_library_gpu_form_find(const aidev_library_gpu_form *forms, uint32_t count, const char *name)
{
    for (uint32_t i = 0; i < count; i++)
        if (strcmp(forms[i].name, name) == 0)
            return &forms[i];
    return NULL;
}

#endif

/* The built-in kernel library, as generated from kernels/manifest.txt. */
#ifndef AIDEV_HAL_LIBRARY_H
#define AIDEV_HAL_LIBRARY_H

#include <stdbool.h>

#include <aidev/aidev.h>

#define AIDEV_LIBRARY_FORM_C (1u << 0)
#define AIDEV_LIBRARY_FORM_OPENCL (1u << 1)
#define AIDEV_LIBRARY_FORM_GLSL (1u << 2)

typedef struct aidev_library_entry {
    /* Signature and grid; |host_fn| is the C form (or NULL). */
    aidev_kernel_desc desc;
    uint32_t forms; /* AIDEV_LIBRARY_FORM_* */
    /* The workgroup its GPU forms run in (the manifest's `gpu` line);
     * zeros without GPU forms. */
    uint32_t gpu_workgroup[3];
    const char *doc;
    /* Run by the tensor ops only (hal/ops.h): aidev_kernel_get refuses it
     * and aidev_library_kernel() does not list it. Its buffers declare no
     * counts; the ops check their views. */
    bool internal;
} aidev_library_entry;

/* The public kernels first (aidev_library_kernel() lists those), then the
 * internal ones. */
extern const aidev_library_entry aidev_library_entries[];
extern const uint32_t aidev_library_entry_count;
extern const uint32_t aidev_library_public_count;

/* The ops of the manifest (aidev_library_op). */
extern const aidev_op_info aidev_library_ops[];
extern const uint32_t aidev_library_op_count_;

/* Index of the library kernel |name|, or UINT32_MAX. */
uint32_t aidev_library_find(const char *name);

#endif

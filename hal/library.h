/* The built-in kernel library, as generated from kernels/manifest.txt. */
#ifndef AIDEV_HAL_LIBRARY_H
#define AIDEV_HAL_LIBRARY_H

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
} aidev_library_entry;

extern const aidev_library_entry aidev_library_entries[];
extern const uint32_t aidev_library_entry_count;

/* Index of the library kernel |name|, or UINT32_MAX. */
uint32_t aidev_library_find(const char *name);

#endif

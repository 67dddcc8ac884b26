/*
 * loader.c - opening the OpenCL ICD loader at run time.
 *
 * Linking libOpenCL would make dlopen of the plugin fail on a machine
 * without it, and the loader would list the backend as "failed" with a
 * linker message. Opening it here lets init say plainly why OpenCL is not
 * there and the backend is skipped.
 *
 * The library is never closed: ICDs (PoCL among them) keep threads and
 * atexit handlers that must not outlive their code, and a second init in
 * the same process finds it already open. For the same reason, once the
 * loader is open, the plugin itself stays mapped (stay_resident()).
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"

ocl_api ocl;

#define DEFAULT_LIBRARY "libOpenCL.so.1"

static void *resolve(void *lib, const char *name)
{
    return dlsym(lib, name);
}

/* Keeps this plugin mapped for the life of the process. The driver calls
 * back into it from its own threads (event and memory destructor
 * callbacks), possibly an instant after the last queue finished; were
 * libaidev to unload the plugin then, those threads would run unmapped
 * code. */
static void stay_resident(void)
{
    Dl_info self;
    if (!dladdr((void *)stay_resident, &self) || !self.dli_fname)
        return;
    /* Only raises the plugin's reference and marks it; never loads. */
    if (!dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
        aidev_backend_debug("opencl", "cannot keep %s resident: %s", self.dli_fname, dlerror());
}

/* One entry point of ocl_api: its name, where it goes, and whether a
 * loader without it is refused. */
typedef struct ocl_entry {
    const char *name;
    size_t offset;
    bool optional;
} ocl_entry;

#define OCL_ENTRY_REQUIRED(fn) {#fn, offsetof(ocl_api, fn), false},
#define OCL_ENTRY_OPTIONAL(fn) {#fn, offsetof(ocl_api, fn), true},
static const ocl_entry ocl_entries[] = {OCL_REQUIRED_FUNCTIONS(OCL_ENTRY_REQUIRED)
                                            OCL_OPTIONAL_FUNCTIONS(OCL_ENTRY_OPTIONAL)};
#undef OCL_ENTRY_REQUIRED
#undef OCL_ENTRY_OPTIONAL

aidev_status ocl_api_load(void)
{
    if (ocl.library)
        return AIDEV_SUCCESS;
    /* Operators may point at another loader; ignored in setuid programs. */
    const char *path = secure_getenv("AIDEV_OPENCL_LIBRARY");
    if (!path || !*path)
        path = DEFAULT_LIBRARY;
    dlerror();
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "no OpenCL ICD loader: cannot open %s (%s); install "
                                       "ocl-icd-libopencl1 or a vendor's libOpenCL",
                                       path, why ? why : "unknown error");
    }
    ocl_api api = {.library = lib};
    for (size_t i = 0; i < sizeof ocl_entries / sizeof ocl_entries[0]; i++) {
        const ocl_entry *e = &ocl_entries[i];
        void *sym = resolve(lib, e->name);
        if (!sym && !e->optional) {
            dlclose(lib);
            return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                           "%s has no %s: an OpenCL 1.2 or later loader is "
                                           "needed",
                                           path, e->name);
        }
        /* Each member has its own function type: a copy of the bytes
         * stores it whatever that type is. */
        memcpy((char *)&api + e->offset, &sym, sizeof sym);
    }
    ocl = api;
    stay_resident();
    return AIDEV_SUCCESS;
}

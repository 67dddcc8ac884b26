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
    void *sym;
#define OCL_REQUIRE(fn)                                                                       \
    sym = resolve(lib, #fn);                                                                  \
    if (!sym) {                                                                               \
        dlclose(lib);                                                                         \
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,                               \
                                       "%s has no %s: an OpenCL 1.2 or later loader is "      \
                                       "needed",                                              \
                                       path, #fn);                                            \
    }                                                                                         \
    memcpy(&api.fn, &sym, sizeof sym);
#define OCL_OPTIONAL(fn)                                                                      \
    sym = resolve(lib, #fn);                                                                  \
    memcpy(&api.fn, &sym, sizeof sym);
    OCL_REQUIRED_FUNCTIONS(OCL_REQUIRE)
    OCL_OPTIONAL_FUNCTIONS(OCL_OPTIONAL)
#undef OCL_REQUIRE
#undef OCL_OPTIONAL
    ocl = api;
    stay_resident();
    return AIDEV_SUCCESS;
}

/*
 * backend.c - the OpenCL backend: its entry, the devices of every platform
 * behind the ICD loader, and opening one of them.
 *
 * Every device of every platform is one aidev device. Its info comes from
 * clGetDeviceInfo; what OpenCL 3.0 made optional (SVM, fp64, subgroups) is
 * queried, never assumed from the version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */
/* ------------------------------------------------------------------------ */

/* A string info of the device, "" on failure. */
static void device_string(cl_device_id id, cl_device_info key, char *out, size_t size)
{
    out[0] = '\0';
    size_t got = 0;
    if (ocl.clGetDeviceInfo(id, key, size, out, &got) != CL_SUCCESS || got == 0)
        out[0] = '\0';
    out[size - 1] = '\0';
}

static void platform_string(cl_platform_id id, cl_platform_info key, char *out, size_t size)
{
    out[0] = '\0';
    if (ocl.clGetPlatformInfo(id, key, size, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[size - 1] = '\0';
}

/* A fixed-size info; false when the device does not answer. */
static bool device_value(cl_device_id id, cl_device_info key, void *out, size_t size)
{
    return ocl.clGetDeviceInfo(id, key, size, out, NULL) == CL_SUCCESS;
}

static uint64_t device_ulong(cl_device_id id, cl_device_info key)
{
    cl_ulong v = 0;
    return device_value(id, key, &v, sizeof v) ? v : 0;
}

static uint32_t device_uint(cl_device_id id, cl_device_info key)
{
    cl_uint v = 0;
    return device_value(id, key, &v, sizeof v) ? v : 0;
}

/* "OpenCL 3.0 PoCL ..." -> 30; 0 when it does not parse. */
static unsigned parse_version(const char *s)
{
    unsigned major = 0, minor = 0;
    if (sscanf(s, "OpenCL %u.%u", &major, &minor) != 2)
        return 0;
    return major * 10 + minor;
}

/* Whether the space-separated |list| holds |name|. */
static bool has_extension(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += len)
        if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Describing a device                                                      */
/* ------------------------------------------------------------------------ */

static aidev_device_type device_type(cl_device_id id)
{
    cl_device_type t = 0;
    device_value(id, CL_DEVICE_TYPE, &t, sizeof t);
    if (t & CL_DEVICE_TYPE_GPU)
        return AIDEV_DEVICE_TYPE_GPU;
    if (t & CL_DEVICE_TYPE_CPU)
        return AIDEV_DEVICE_TYPE_CPU;
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return AIDEV_DEVICE_TYPE_ACCELERATOR;
    return AIDEV_DEVICE_TYPE_OTHER;
}

static uint64_t device_features(ocl_device_desc *d, const char *ext)
{
    cl_device_id id = d->id;
    uint64_t f = AIDEV_FEATURE_KERNEL_OPENCL_C | AIDEV_FEATURE_HOST_IMPORT;
    cl_device_fp_config fp = 0;
    if (has_extension(ext, "cl_khr_fp16") ||
        (device_value(id, CL_DEVICE_HALF_FP_CONFIG, &fp, sizeof fp) && fp))
        f |= AIDEV_FEATURE_FP16;
    fp = 0;
    if (has_extension(ext, "cl_khr_fp64") ||
        (device_value(id, CL_DEVICE_DOUBLE_FP_CONFIG, &fp, sizeof fp) && fp))
        f |= AIDEV_FEATURE_FP64;
    if (has_extension(ext, "cl_khr_integer_dot_product"))
        f |= AIDEV_FEATURE_INT8_DOT;
    /* Subgroups: the extension, or (2.1+, optional in 3.0) a non-zero
     * CL_DEVICE_MAX_NUM_SUB_GROUPS. */
    if (has_extension(ext, "cl_khr_subgroups") ||
        (d->version >= 21 && device_uint(id, CL_DEVICE_MAX_NUM_SUB_GROUPS) > 0))
        f |= AIDEV_FEATURE_SUBGROUPS;
    if (d->version >= 20 && ocl.clSVMAlloc &&
        device_value(id, CL_DEVICE_SVM_CAPABILITIES, &d->svm, sizeof d->svm)) {
        if (d->svm & CL_DEVICE_SVM_COARSE_GRAIN_BUFFER)
            f |= AIDEV_FEATURE_SVM_COARSE;
        if (d->svm & CL_DEVICE_SVM_FINE_GRAIN_BUFFER)
            f |= AIDEV_FEATURE_SVM_FINE;
    } else {
        d->svm = 0;
    }
    if (!ocl_priority_hints_missing(d))
        f |= AIDEV_FEATURE_QUEUE_PRIORITY;
    cl_bool unified = CL_FALSE;
    if (device_value(id, CL_DEVICE_HOST_UNIFIED_MEMORY, &unified, sizeof unified) && unified)
        f |= AIDEV_FEATURE_UNIFIED_MEMORY;
    return f;
}

static void device_pci_and_uuid(ocl_device_desc *d, const char *ext)
{
    aidev_backend_device_info *info = &d->info;
    cl_device_pci_bus_info_khr pci;
    if (has_extension(ext, "cl_khr_pci_bus_info") &&
        device_value(d->id, CL_DEVICE_PCI_BUS_INFO_KHR, &pci, sizeof pci))
        snprintf(info->pci_bus_id, sizeof info->pci_bus_id, "%04x:%02x:%02x.%x",
                 pci.pci_domain & 0xffffu, pci.pci_bus & 0xffu, pci.pci_device & 0x1fu,
                 pci.pci_function & 0x7u);
    cl_uchar uuid[CL_UUID_SIZE_KHR];
    if (has_extension(ext, "cl_khr_device_uuid") &&
        device_value(d->id, CL_DEVICE_UUID_KHR, uuid, sizeof uuid)) {
        memcpy(info->uuid, uuid, sizeof info->uuid);
        info->has_uuid = true;
    }
}

/* The version the device reports for extension |name| (CL_MAKE_VERSION),
 * 0 when it does not say (before OpenCL 3.0) or has no such extension. */
static cl_version extension_version(const ocl_device_desc *d, const char *name)
{
    size_t size = 0;
    if (d->version < 30 ||
        ocl.clGetDeviceInfo(d->id, CL_DEVICE_EXTENSIONS_WITH_VERSION, 0, NULL, &size) !=
            CL_SUCCESS || size == 0)
        return 0;
    cl_name_version *list = malloc(size);
    cl_version found = 0;
    if (list && ocl.clGetDeviceInfo(d->id, CL_DEVICE_EXTENSIONS_WITH_VERSION, size, list,
                                    NULL) == CL_SUCCESS)
        for (size_t i = 0; i < size / sizeof *list && !found; i++)
            if (strncmp(list[i].name, name, sizeof list[i].name) == 0)
                found = list[i].version;
    free(list);
    return found;
}

/* How graphs are launched (graph.c), AIDEV_OPENCL_GRAPH: "command_buffer"
 * where the device can, "enqueue" one by one, or "auto" (the default). */
enum { GRAPH_AUTO, GRAPH_COMMAND_BUFFER, GRAPH_ENQUEUE };

static int graph_form_wanted(void)
{
    static const char *const names[] = {"auto", "command_buffer", "enqueue"};
    static const int values[] = {GRAPH_AUTO, GRAPH_COMMAND_BUFFER, GRAPH_ENQUEUE};
    int form;
    aidev_backend_env_choice("AIDEV_OPENCL_GRAPH", names, values, 3, GRAPH_AUTO, "auto", &form);
    return form;
}

/* Whether graphs use cl_khr_command_buffer on |d|: the device offers it at
 * a version whose entry points have the installed header's signatures
 * (0.9.0-0.9.4; 0.9.5 added arguments), runs one buffer several times at
 * once (a launch may be enqueued before the previous one ran) and needs no
 * queue property beyond profiling, which our queues may have.
 *
 * By default not on a CPU device: there the driver runs a command buffer
 * on the host, command by command, and gains nothing over our own
 * enqueues. PoCL (3.1 and its later versions alike) enqueues each recorded
 * command again with an event of its own, and one more command waiting for
 * all of them: a launch of 1,000 dispatches cost 2.5x as much host time
 * per node as 1,000 clEnqueueNDRangeKernel calls (issue 15's note). */
static void choose_command_buffer(ocl_device_desc *d, const char *ext)
{
    d->command_buffer = false;
    int form = graph_form_wanted();
    if (form == GRAPH_ENQUEUE || !has_extension(ext, "cl_khr_command_buffer") ||
        (form == GRAPH_AUTO && d->info.type == AIDEV_DEVICE_TYPE_CPU))
        return;
    cl_version v = extension_version(d, "cl_khr_command_buffer");
    if (CL_VERSION_MAJOR(v) != 0 || CL_VERSION_MINOR(v) != 9 || CL_VERSION_PATCH(v) > 4) {
        aidev_backend_debug("opencl", "%s: cl_khr_command_buffer %u.%u.%u not used: this "
                            "build knows 0.9.0-0.9.4", d->info.name, CL_VERSION_MAJOR(v),
                            CL_VERSION_MINOR(v), CL_VERSION_PATCH(v));
        return;
    }
    cl_device_command_buffer_capabilities_khr caps = 0;
    cl_command_queue_properties required = 0;
    if (!device_value(d->id, CL_DEVICE_COMMAND_BUFFER_CAPABILITIES_KHR, &caps, sizeof caps) ||
        !(caps & CL_COMMAND_BUFFER_CAPABILITY_SIMULTANEOUS_USE_KHR) ||
        !device_value(d->id, CL_DEVICE_COMMAND_BUFFER_REQUIRED_QUEUE_PROPERTIES_KHR, &required,
                      sizeof required) ||
        (required & ~(cl_command_queue_properties)CL_QUEUE_PROFILING_ENABLE))
        return;
    bool all = true;
#define OCL_RESOLVE(fn)                                                                       \
    d->cmdbuf.fn = (fn##_fn)ocl.clGetExtensionFunctionAddressForPlatform(d->platform, #fn); \
    all = all && d->cmdbuf.fn;
    OCL_COMMAND_BUFFER_FUNCTIONS(OCL_RESOLVE)
#undef OCL_RESOLVE
    d->command_buffer = all;
}

/* AIDEV_OPENCL_EMULATE_DISCRETE=1: a CPU device's memory is treated as a
 * GPU's (not addressed by libaidev, zeroed on the device), so that tests
 * run those paths on PoCL. Through libaidev's parser: a bad value is
 * reported, never guessed at. */
static bool emulate_discrete(void)
{
    bool on;
    aidev_backend_env_flag("AIDEV_OPENCL_EMULATE_DISCRETE", false, &on);
    return on;
}

static void describe_device(ocl_device_desc *d, const char *platform_name,
                            const char *platform_version)
{
    cl_device_id id = d->id;
    aidev_backend_device_info *info = &d->info;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->numa_node = -1;

    /* The name exactly as the driver gives it, so it matches clinfo -l. */
    device_string(id, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(id, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(id, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    char version[256];
    device_string(id, CL_DEVICE_VERSION, version, sizeof version);
    d->version = parse_version(version);
    d->platform_version = parse_version(platform_version);
    snprintf(info->api_version, sizeof info->api_version, "OpenCL %u.%u", d->version / 10,
             d->version % 10);

    size_t ext_size = 0;
    char *ext = NULL;
    if (ocl.clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_size) == CL_SUCCESS &&
        (ext = calloc(1, ext_size + 1)) != NULL)
        ocl.clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, ext_size, ext, NULL);
    const char *extensions = ext ? ext : "";
    d->priority_hints = has_extension(extensions, "cl_khr_priority_hints");

    info->type = device_type(id);
    info->compute_units = device_uint(id, CL_DEVICE_MAX_COMPUTE_UNITS);
    info->memory_bytes = device_ulong(id, CL_DEVICE_GLOBAL_MEM_SIZE);
    info->max_alloc_bytes = device_ulong(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    info->local_memory_bytes = device_ulong(id, CL_DEVICE_LOCAL_MEM_SIZE);
    size_t wg = 0;
    device_value(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, &wg, sizeof wg);
    info->max_workgroup_size = wg > UINT32_MAX ? UINT32_MAX : (uint32_t)wg;
    cl_uint dims = device_uint(id, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS);
    size_t sizes[16] = {0};
    if (dims >= 3 && dims <= 16 && device_value(id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizes,
                                                dims * sizeof sizes[0]))
        for (int i = 0; i < 3; i++)
            info->max_workgroup_dims[i] = sizes[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)sizes[i];
    cl_bool non_uniform = CL_FALSE;
    d->non_uniform_groups =
        (d->version >= 20 && d->version < 30) ||
        (d->version >= 30 &&
         device_value(id, CL_DEVICE_NON_UNIFORM_WORK_GROUP_SUPPORT, &non_uniform,
                      sizeof non_uniform) &&
         non_uniform);
    d->base_align = device_uint(id, CL_DEVICE_MEM_BASE_ADDR_ALIGN) / 8u;
    if (d->base_align == 0)
        d->base_align = 128;
    size_t resolution = 0;
    device_value(id, CL_DEVICE_PROFILING_TIMER_RESOLUTION, &resolution, sizeof resolution);
    info->timestamp_period_ns = resolution ? (double)resolution : 1.0;

    info->features = device_features(d, extensions);
    d->memory_is_host = info->type == AIDEV_DEVICE_TYPE_CPU &&
                        (info->features & AIDEV_FEATURE_UNIFIED_MEMORY) &&
                        !emulate_discrete();
    info->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE) |
                         AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_HOST);
    /* SHARED is SVM: offered only where the device has it. */
    if (d->svm & (CL_DEVICE_SVM_COARSE_GRAIN_BUFFER | CL_DEVICE_SVM_FINE_GRAIN_BUFFER))
        info->memory_kinds |= AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED);
    device_pci_and_uuid(d, extensions);
    choose_command_buffer(d, extensions);
    const char *missing = ocl_priority_hints_missing(d);
    snprintf(info->queue_scheduling, sizeof info->queue_scheduling,
             "priorities: %s%s; preemption: as the driver schedules its queues; low latency: "
             "no (the driver's threads run the commands)",
             missing ? "not applied, " : "cl_khr_priority_hints (CL_QUEUE_PRIORITY_*_KHR)",
             missing ? missing : "");

    snprintf(d->identity, sizeof d->identity, "%s|%s|%s|%s|%s|%s", platform_name,
             platform_version, info->name, info->vendor, info->driver_version, version);
    free(ext);
}

/* ------------------------------------------------------------------------ */
/* init / shutdown                                                          */
/* ------------------------------------------------------------------------ */

static aidev_status add_platform_devices(ocl_backend *b, cl_platform_id platform)
{
    cl_uint n = 0;
    cl_int err = ocl.clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &n);
    if (err == CL_DEVICE_NOT_FOUND || n == 0)
        return AIDEV_SUCCESS;
    if (err != CL_SUCCESS)
        return ocl_fail("clGetDeviceIDs", err, NULL);
    cl_device_id *ids = calloc(n, sizeof *ids);
    ocl_device_desc *grown = realloc(b->devices, (b->device_count + n) * sizeof *grown);
    if (!ids || !grown) {
        free(ids);
        if (grown)
            b->devices = grown;
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    b->devices = grown;
    err = ocl.clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, n, ids, NULL);
    if (err != CL_SUCCESS) {
        free(ids);
        return ocl_fail("clGetDeviceIDs", err, NULL);
    }
    char pname[256], pversion[256];
    platform_string(platform, CL_PLATFORM_NAME, pname, sizeof pname);
    platform_string(platform, CL_PLATFORM_VERSION, pversion, sizeof pversion);
    for (cl_uint i = 0; i < n; i++) {
        ocl_device_desc *d = &b->devices[b->device_count];
        memset(d, 0, sizeof *d);
        d->platform = platform;
        d->id = ids[i];
        describe_device(d, pname, pversion);
        /* The backend's calls need OpenCL 1.2 (fill, markers, sub-buffers). */
        if (d->version < 12) {
            aidev_backend_debug("opencl", "device '%s' skipped: OpenCL %u.%u, 1.2 is needed",
                                d->info.name, d->version / 10, d->version % 10);
            continue;
        }
        b->device_count++;
    }
    free(ids);
    return AIDEV_SUCCESS;
}

static aidev_status ocl_init(void **out_backend)
{
    aidev_status st = ocl_api_load();
    if (st != AIDEV_SUCCESS)
        return st;
    cl_uint count = 0;
    cl_int err = ocl.clGetPlatformIDs(0, NULL, &count);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && count == 0)) {
        const char *vendors = getenv("OCL_ICD_VENDORS");
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "no OpenCL platform: the ICD loader found no driver "
                                       "(clGetPlatformIDs: %s (%d); ICDs are listed in %s)",
                                       ocl_error_name(err), (int)err,
                                       vendors && *vendors ? vendors : "/etc/OpenCL/vendors");
    }
    if (err != CL_SUCCESS)
        return ocl_fail("clGetPlatformIDs", err, NULL);
    cl_platform_id *platforms = calloc(count, sizeof *platforms);
    ocl_backend *b = calloc(1, sizeof *b);
    if (!platforms || !b) {
        free(platforms);
        free(b);
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    err = ocl.clGetPlatformIDs(count, platforms, NULL);
    if (err != CL_SUCCESS)
        st = ocl_fail("clGetPlatformIDs", err, NULL);
    for (cl_uint i = 0; st == AIDEV_SUCCESS && i < count; i++)
        st = add_platform_devices(b, platforms[i]);
    free(platforms);
    if (st == AIDEV_SUCCESS && b->device_count == 0)
        st = aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                     "%u OpenCL platform%s but no device of OpenCL 1.2 or later",
                                     count, count == 1 ? "" : "s");
    if (st != AIDEV_SUCCESS) {
        free(b->devices);
        free(b);
        return st;
    }
    *out_backend = b;
    return AIDEV_SUCCESS;
}

static void ocl_shutdown(void *backend)
{
    ocl_backend *b = backend;
    free(b->devices);
    free(b);
}

static uint32_t ocl_device_count(void *backend)
{
    return ((ocl_backend *)backend)->device_count;
}

static aidev_status ocl_device_info(void *backend, uint32_t index, aidev_backend_device_info *out)
{
    ocl_backend *b = backend;
    if (index >= b->device_count)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "opencl: no device %u", index);
    uint32_t size = out->struct_size;
    const aidev_backend_device_info *in = &b->devices[index].info;
    memcpy(out, in, size < sizeof *in ? size : sizeof *in);
    out->struct_size = size;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Opening a device                                                         */
/* ------------------------------------------------------------------------ */

/* Errors the driver reports against the context asynchronously. */
static void CL_CALLBACK context_notify(const char *errinfo, const void *private_info, size_t cb,
                                       void *user_data)
{
    (void)private_info;
    (void)cb;
    const ocl_device *dev = user_data;
    aidev_backend_debug("opencl", "%s: %s", dev->desc->info.name, errinfo);
}

static void device_free(ocl_device *dev)
{
    ocl_device_release_programs(dev);
    if (dev->service) {
        ocl.clFinish(dev->service);
        ocl.clReleaseCommandQueue(dev->service);
    }
    if (dev->context)
        ocl.clReleaseContext(dev->context);
    pthread_mutex_destroy(&dev->programs_lock);
    free(dev);
}

static aidev_status ocl_device_open(void *backend, uint32_t index, void **out_device)
{
    ocl_backend *b = backend;
    if (index >= b->device_count)
        return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND, "opencl: no device %u", index);
    ocl_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dev->desc = &b->devices[index];
    dev->id = dev->desc->id;
    pthread_mutex_init(&dev->programs_lock, NULL);

    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)dev->desc->platform, 0};
    cl_int err;
    dev->context = ocl.clCreateContext(props, 1, &dev->id, context_notify, dev, &err);
    aidev_status st = AIDEV_SUCCESS;
    if (!dev->context)
        st = ocl_fail("clCreateContext", err, NULL);
    if (st == AIDEV_SUCCESS)
        st = ocl_cl_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, true, &dev->service);
    if (st == AIDEV_SUCCESS)
        st = ocl_clock_calibrate(dev);
    if (st != AIDEV_SUCCESS) {
        device_free(dev);
        return st;
    }
    *out_device = dev;
    return AIDEV_SUCCESS;
}

static void ocl_device_close(void *device)
{
    device_free(device);
}

/* ------------------------------------------------------------------------ */
/* The table and the entry                                                  */
/* ------------------------------------------------------------------------ */

static const aidev_backend_vtable ocl_vtable = {
    .struct_size = sizeof(aidev_backend_vtable),
    .abi_version = AIDEV_BACKEND_ABI_VERSION,
    .name = "opencl",
    /* No AIDEV_BACKEND_CAP_ANY_WAIT: libaidev holds commands that wait on
     * other backends' or user events and submits them once those complete.
     * Bridging them with cl user events would let a failed user event fail
     * every later command of an in-order queue (PoCL does so), where only
     * the commands that wait on it may fail. NATIVE_WAITS: events of this
     * device reach us only once they carry their cl_event. Host callbacks
     * are run by libaidev, after a barrier of ours. PREFETCH: SVM migrates
     * (queue.c). LOCAL_ARGS: __local arguments of OpenCL C kernels, set
     * with clSetKernelArg(size, NULL) (kernel.c). */
    .caps = AIDEV_BACKEND_CAP_NATIVE_WAITS | AIDEV_BACKEND_CAP_PREFETCH |
            AIDEV_BACKEND_CAP_LOCAL_ARGS,
    .init = ocl_init,
    .shutdown = ocl_shutdown,
    .device_count = ocl_device_count,
    .device_info = ocl_device_info,
    .device_open = ocl_device_open,
    .device_close = ocl_device_close,
    .buffer_create = ocl_buffer_create,
    .buffer_destroy = ocl_buffer_destroy,
    .buffer_map = ocl_buffer_map,
    .buffer_unmap = ocl_buffer_unmap,
    .queue_create = ocl_queue_create,
    .queue_create_desc = ocl_queue_create_desc,
    .queue_destroy = ocl_queue_destroy,
    .queue_submit = ocl_queue_submit,
    .queue_finish = ocl_queue_finish,
    .queue_flush = ocl_queue_flush,
    .kernel_create = ocl_kernel_create,
    .kernel_destroy = ocl_kernel_destroy,
    .buffer_query = ocl_buffer_query,
    .graph_create = ocl_graph_create,
    .graph_update = ocl_graph_update,
    .graph_submit = ocl_graph_submit,
    .graph_destroy = ocl_graph_destroy,
};

AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego);
AIDEV_BACKEND_EXPORT aidev_status aidev_backend_entry(aidev_backend_negotiation *nego)
{
    if (!nego || nego->struct_size < sizeof *nego)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       "opencl: negotiation struct missing or too small");
    uint32_t offered = nego->abi_version;
    /* Same major, and at least the minor this plugin was built with. */
    if (AIDEV_BACKEND_ABI_MAJOR(offered) != AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION) ||
        offered < AIDEV_BACKEND_ABI_VERSION)
        return aidev_backend_set_error(
            AIDEV_ERROR_UNSUPPORTED, "opencl: loader offers ABI %u.%u, plugin needs %u.%u",
            AIDEV_BACKEND_ABI_MAJOR(offered), AIDEV_BACKEND_ABI_MINOR(offered),
            AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION),
            AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION));
    nego->abi_version = AIDEV_BACKEND_ABI_VERSION;
    nego->vtable = &ocl_vtable;
    return AIDEV_SUCCESS;
}

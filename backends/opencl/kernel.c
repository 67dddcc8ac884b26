/*
 * kernel.c - kernels: the built-in library's OpenCL C forms and user
 * kernels from OpenCL C source, and their dispatch.
 *
 * Library forms are built once per device open, one program per kernel
 * (PoCL compiles a program in about a second; building only what is used
 * keeps a first run short), through the on-disk binary cache (cache.c).
 * Their launch follows kernels/library_forms.h:
 *   ITEMS   one work-item per grid item, the form's workgroup
 *   GROUPS  one workgroup per item of dimension 0
 *   REDUCE  passes over scratch buffers until one value is left
 *
 * Arguments. clSetKernelArg and the enqueue are one step under the
 * kernel's lock: a cl_kernel holds one set of arguments, and several
 * threads may dispatch one aidev kernel. Values equal to those already set
 * are not set again (buffers compare by a per-buffer id, never by address,
 * which a new buffer may reuse). A buffer offset becomes a sub-buffer where
 * it meets CL_DEVICE_MEM_BASE_ADDR_ALIGN; otherwise the range is staged
 * through a temporary buffer: copied in before the kernel and, for
 * writable arguments, back after it, on the same in-order queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"

struct ocl_program_slot {
    cl_program program; /* NULL until built */
};

typedef struct arg_cache {
    bool valid;
    size_t size;
    uint64_t value; /* the scalar's bytes, the buffer's id, a local size */
} arg_cache;

/* A buffer argument's declared element count ("n", "m*k"), as factors:
 * a scalar argument's index, or a constant (arg -1). */
typedef struct count_expr {
    uint8_t factors;
    int8_t arg[4];
    uint64_t constant[4];
    size_t element_size;
} count_expr;

typedef struct ocl_kernel {
    ocl_device *dev;
    cl_program program; /* a reference of our own */
    cl_kernel kernel;
    char name[128];
    pthread_mutex_t lock; /* arguments and enqueue */
    aidev_library_launch launch;
    bool user;                /* a user kernel: its grid is run exactly */
    /* The driver runs partial workgroups for this program (a device that
     * has them, a program built as OpenCL C 2.0 or later). */
    bool partial_groups;
    uint32_t local[3];        /* the form's or the signature's workgroup; 0: choose */
    uint32_t items_per_thread;
    size_t max_workgroup;     /* CL_KERNEL_WORK_GROUP_SIZE */
    size_t preferred_multiple;
    uint32_t arg_count;
    aidev_access access[AIDEV_MAX_KERNEL_ARGS];
    count_expr counts[AIDEV_MAX_KERNEL_ARGS]; /* staging copies only this much */
    /* The last ITEMS/GROUPS launch's geometry: a stream of like dispatches
     * skips the rounding. Under |lock|. */
    bool geometry_valid;
    uint32_t last_grid[3], last_workgroup[3];
    size_t last_global[3], last_local[3];
    cl_uint last_dims;
    size_t reduce_element_size;
    arg_cache cache[AIDEV_MAX_KERNEL_ARGS];
} ocl_kernel;

/* ------------------------------------------------------------------------ */
/* Library programs                                                         */
/* ------------------------------------------------------------------------ */

void ocl_device_release_programs(ocl_device *dev)
{
    for (uint32_t i = 0; i < dev->program_count; i++)
        if (dev->programs[i].program)
            ocl.clReleaseProgram(dev->programs[i].program);
    free(dev->programs);
    dev->programs = NULL;
    dev->program_count = 0;
}

/* The program of library form |index| (kernel |desc|), built and primed
 * on first use (prime.c); a new reference for the caller. */
static aidev_status library_program(ocl_device *dev, uint32_t index,
                                    const aidev_kernel_desc *desc, cl_program *out)
{
    const aidev_library_gpu_form *form = &aidev_library_opencl_forms[index];
    aidev_status st = AIDEV_SUCCESS;
    pthread_mutex_lock(&dev->programs_lock);
    if (!dev->programs) {
        dev->programs = calloc(aidev_library_opencl_form_count, sizeof *dev->programs);
        if (dev->programs)
            dev->program_count = aidev_library_opencl_form_count;
        else
            st = aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (st == AIDEV_SUCCESS && !dev->programs[index].program) {
        cl_program built = NULL;
        st = ocl_program_build(dev, form->name, form->code, form->code_size, NULL, &built);
        if (st == AIDEV_SUCCESS)
            st = ocl_library_program_prime(dev, built, form, desc);
        if (st == AIDEV_SUCCESS)
            dev->programs[index].program = built;
        else if (built)
            ocl.clReleaseProgram(built);
    }
    if (st == AIDEV_SUCCESS) {
        *out = dev->programs[index].program;
        ocl.clRetainProgram(*out);
    }
    pthread_mutex_unlock(&dev->programs_lock);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Checking a user kernel against its declared signature                    */
/* ------------------------------------------------------------------------ */

/* The OpenCL C spelling of an aidev type, NULL for none. */
static const char *cl_type_name(aidev_type t)
{
    static const char *const names[AIDEV_TYPE_COUNT_] = {
        [AIDEV_TYPE_I8] = "char",   [AIDEV_TYPE_U8] = "uchar", [AIDEV_TYPE_I16] = "short",
        [AIDEV_TYPE_U16] = "ushort", [AIDEV_TYPE_I32] = "int",  [AIDEV_TYPE_U32] = "uint",
        [AIDEV_TYPE_I64] = "long",   [AIDEV_TYPE_U64] = "ulong", [AIDEV_TYPE_F16] = "half",
        [AIDEV_TYPE_F32] = "float",  [AIDEV_TYPE_F64] = "double",
    };
    return (unsigned)t < AIDEV_TYPE_COUNT_ ? names[t] : NULL;
}

/* Whether |name| is a scalar type name we know (so a mismatch is real). */
static bool known_type_name(const char *name)
{
    for (int t = 0; t < AIDEV_TYPE_COUNT_; t++)
        if (cl_type_name((aidev_type)t) && strcmp(cl_type_name((aidev_type)t), name) == 0)
            return true;
    return false;
}

static aidev_status check_user_arg(const ocl_kernel *k, cl_uint i, const aidev_kernel_arg_desc *a)
{
    cl_kernel_arg_address_qualifier space;
    cl_int err = ocl.clGetKernelArgInfo(k->kernel, i, CL_KERNEL_ARG_ADDRESS_QUALIFIER,
                                        sizeof space, &space, NULL);
    if (err != CL_SUCCESS)
        return AIDEV_SUCCESS; /* no argument info on this driver: trust the signature */
    char type[128] = "";
    ocl.clGetKernelArgInfo(k->kernel, i, CL_KERNEL_ARG_TYPE_NAME, sizeof type - 1, type, NULL);
    bool pointer = strchr(type, '*') != NULL;
    bool global = space == CL_KERNEL_ARG_ADDRESS_GLOBAL || space == CL_KERNEL_ARG_ADDRESS_CONSTANT;
    if ((a->kind == AIDEV_ARG_LOCAL) != (space == CL_KERNEL_ARG_ADDRESS_LOCAL))
        return aidev_backend_set_error(AIDEV_ERROR_KERNEL_ARGS,
                                       "kernel '%s': argument %u '%s' is declared %s but the "
                                       "source has '%s'%s",
                                       k->name, i, a->name,
                                       a->kind == AIDEV_ARG_LOCAL ? "local memory"
                                                                  : "a buffer or scalar",
                                       type,
                                       a->kind == AIDEV_ARG_LOCAL ? " (not a __local pointer)"
                                                                  : " (a __local pointer)");
    if (a->kind == AIDEV_ARG_BUFFER && !global)
        return aidev_backend_set_error(AIDEV_ERROR_KERNEL_ARGS,
                                       "kernel '%s': argument %u '%s' is declared a buffer but "
                                       "the source has '%s' (not __global or __constant)",
                                       k->name, i, a->name, type);
    if (a->kind == AIDEV_ARG_SCALAR && (pointer || space != CL_KERNEL_ARG_ADDRESS_PRIVATE))
        return aidev_backend_set_error(AIDEV_ERROR_KERNEL_ARGS,
                                       "kernel '%s': argument %u '%s' is declared a %s scalar "
                                       "but the source has '%s'",
                                       k->name, i, a->name, aidev_type_name(a->type), type);
    /* Element and scalar types, where the source spells a plain type. */
    char base[128];
    snprintf(base, sizeof base, "%s", type);
    base[strcspn(base, "*")] = '\0';
    const char *want = cl_type_name(a->type);
    if (want && known_type_name(base) && strcmp(base, want) != 0)
        return aidev_backend_set_error(AIDEV_ERROR_KERNEL_ARGS,
                                       "kernel '%s': argument %u '%s' is declared %s (%s) but the "
                                       "source has '%s'",
                                       k->name, i, a->name, aidev_type_name(a->type), want, type);
    return AIDEV_SUCCESS;
}

static aidev_status check_signature(const ocl_kernel *k, const aidev_kernel_desc *desc)
{
    cl_uint n = 0;
    cl_int err = ocl.clGetKernelInfo(k->kernel, CL_KERNEL_NUM_ARGS, sizeof n, &n, NULL);
    if (err != CL_SUCCESS)
        return ocl_fail("clGetKernelInfo", err, "CL_KERNEL_NUM_ARGS of '%s'", k->name);
    if (n != desc->arg_count)
        return aidev_backend_set_error(AIDEV_ERROR_KERNEL_ARGS,
                                       "kernel '%s': the signature declares %u arguments, the "
                                       "OpenCL C source has %u",
                                       k->name, desc->arg_count, n);
    for (cl_uint i = 0; i < n; i++) {
        aidev_status st = check_user_arg(k, i, &desc->args[i]);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Declared element counts                                                  */
/* ------------------------------------------------------------------------ */

/* Parses |expr| against the scalars of |desc|. libaidev has checked it; an
 * expression this cannot read gives no factors (the whole tail is staged). */
static void parse_count(const aidev_kernel_desc *desc, uint32_t index, count_expr *out)
{
    const aidev_kernel_arg_desc *a = &desc->args[index];
    memset(out, 0, sizeof *out);
    out->element_size = aidev_type_size(a->type);
    const char *p = a->count;
    while (p && *p) {
        if (out->factors == 4)
            goto none;
        size_t len = strcspn(p, "*");
        uint8_t f = out->factors++;
        out->arg[f] = -1;
        if (p[0] >= '0' && p[0] <= '9') {
            out->constant[f] = strtoull(p, NULL, 10);
        } else {
            int found = -1;
            for (uint32_t i = 0; i < desc->arg_count && found < 0; i++)
                if (desc->args[i].kind == AIDEV_ARG_SCALAR && strlen(desc->args[i].name) == len &&
                    strncmp(desc->args[i].name, p, len) == 0)
                    found = (int)i;
            if (found < 0)
                goto none;
            out->arg[f] = (int8_t)found;
        }
        p += len;
        if (*p == '*')
            p++;
    }
    return;
none:
    out->factors = 0;
}

/* Bytes argument |i| touches from its offset, at most |tail|. */
static size_t touched_bytes(const ocl_kernel *k, uint32_t i, const aidev_backend_arg *args,
                            size_t tail)
{
    const count_expr *e = &k->counts[i];
    if (!e->factors)
        return tail;
    uint64_t v = e->element_size;
    for (uint8_t f = 0; f < e->factors; f++) {
        uint64_t x = e->constant[f];
        if (e->arg[f] >= 0) {
            const aidev_backend_arg *a = &args[e->arg[f]];
            switch (a->type) {
            case AIDEV_TYPE_U32: x = a->u.u32; break;
            case AIDEV_TYPE_I32: x = a->u.i32 < 0 ? 0 : (uint64_t)a->u.i32; break;
            case AIDEV_TYPE_U64: x = a->u.u64; break;
            case AIDEV_TYPE_I64: x = a->u.i64 < 0 ? 0 : (uint64_t)a->u.i64; break;
            default: return tail;
            }
        }
        if (x && v > UINT64_MAX / x)
            return tail;
        v *= x;
    }
    return v && v < tail ? (size_t)v : tail;
}

/* ------------------------------------------------------------------------ */
/* Creating and destroying                                                  */
/* ------------------------------------------------------------------------ */

static void kernel_free(ocl_kernel *k)
{
    if (k->kernel)
        ocl.clReleaseKernel(k->kernel);
    if (k->program)
        ocl.clReleaseProgram(k->program);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* The form of library kernel |desc|, or an error saying why there is none. */
static aidev_status library_form(const aidev_kernel_desc *desc, uint32_t *out_index)
{
    for (uint32_t i = 0; i < aidev_library_opencl_form_count; i++)
        if (strcmp(aidev_library_opencl_forms[i].name, desc->name) == 0) {
            *out_index = i;
            return AIDEV_SUCCESS;
        }
    return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                   "opencl: built-in kernel '%s' has no OpenCL C form",
                                   desc->name);
}

static aidev_status setup_library(ocl_kernel *k, const aidev_kernel_desc *desc, uint32_t form_index)
{
    const aidev_library_gpu_form *form = &aidev_library_opencl_forms[form_index];
    k->launch = form->launch;
    memcpy(k->local, form->local, sizeof k->local);
    k->items_per_thread = form->items_per_thread ? form->items_per_thread : 1;
    if (form->launch == AIDEV_LAUNCH_REDUCE) {
        /* A pass takes (u32 n, in, out) and is run again on its own output. */
        const aidev_kernel_arg_desc *a = desc->args;
        if (desc->arg_count != 3 || a[0].kind != AIDEV_ARG_SCALAR || a[0].type != AIDEV_TYPE_U32 ||
            a[1].kind != AIDEV_ARG_BUFFER || a[2].kind != AIDEV_ARG_BUFFER ||
            a[1].type != a[2].type || a[1].type == AIDEV_TYPE_NONE)
            return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                           "opencl: reduce kernel '%s' does not have the "
                                           "signature (u32 n, T in, T out) its passes need",
                                           desc->name);
        k->reduce_element_size = aidev_type_size(a[2].type);
    }
    cl_int err;
    k->kernel = ocl.clCreateKernel(k->program, form->entry, &err);
    if (!k->kernel)
        return ocl_fail("clCreateKernel", err, "entry '%s' of built-in kernel '%s'", form->entry,
                        desc->name);
    return AIDEV_SUCCESS;
}

/* Whether the driver runs partial workgroups for a program built with
 * |options|: OpenCL 2.0 made them the rule for OpenCL C 2.0 and later (3.0
 * made them optional), and OpenCL C 1.x, the default language, never has
 * them. */
static bool runs_partial_groups(const ocl_device *dev, const char *options)
{
    if (!dev->desc->non_uniform_groups || !options)
        return false;
    const char *std = strstr(options, "-cl-std=CL");
    return std && (std[10] == '2' || std[10] == '3') &&
           !strstr(options, "-cl-uniform-work-group-size");
}

static aidev_status setup_user(ocl_kernel *k, const aidev_kernel_desc *desc)
{
    k->launch = AIDEV_LAUNCH_ITEMS;
    k->user = true;
    k->partial_groups = runs_partial_groups(k->dev, desc->build_options);
    memcpy(k->local, desc->workgroup, sizeof k->local);
    k->items_per_thread = 1;
    cl_int err;
    k->kernel = ocl.clCreateKernel(k->program, desc->name, &err);
    if (!k->kernel) {
        if (err == CL_INVALID_KERNEL_NAME)
            return aidev_backend_set_error(AIDEV_ERROR_NOT_FOUND,
                                           "kernel '%s': the OpenCL C source has no __kernel "
                                           "function of that name (clCreateKernel: %s (%d))",
                                           desc->name, ocl_error_name(err), (int)err);
        return ocl_fail("clCreateKernel", err, "kernel '%s'", desc->name);
    }
    return check_signature(k, desc);
}

static aidev_status build_user_program(ocl_device *dev, const aidev_kernel_desc *desc,
                                       cl_program *out)
{
    /* Argument info lets the declared signature be checked. */
    const char *user = desc->build_options ? desc->build_options : "";
    size_t len = strlen(user) + 32;
    char *options = malloc(len);
    if (!options)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    snprintf(options, len, "%s%s-cl-kernel-arg-info", user, user[0] ? " " : "");
    const char *source = desc->data;
    size_t size = desc->size ? desc->size : strlen(source);
    aidev_status st = ocl_program_build(dev, desc->name, source, size, options, out);
    free(options);
    return st;
}

aidev_status ocl_kernel_create(void *device, const aidev_backend_kernel_source *src,
                               void **out_kernel)
{
    ocl_device *dev = device;
    const aidev_kernel_desc *desc = src->desc;
    bool library = src->library_index != UINT32_MAX;
    uint32_t form_index = 0;
    aidev_status st;
    if (library) {
        st = library_form(desc, &form_index);
        if (st != AIDEV_SUCCESS)
            return st;
    } else if (desc->source_kind != AIDEV_KERNEL_SOURCE_OPENCL_C) {
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "kernel '%s': the OpenCL backend takes OpenCL C source",
                                       desc->name);
    }
    if (desc->arg_count > AIDEV_MAX_KERNEL_ARGS)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       "kernel '%s': %u arguments", desc->name, desc->arg_count);

    ocl_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pthread_mutex_init(&k->lock, NULL);
    k->dev = dev;
    snprintf(k->name, sizeof k->name, "%s", desc->name);
    k->arg_count = desc->arg_count;
    for (uint32_t i = 0; i < desc->arg_count; i++) {
        k->access[i] = desc->args[i].access;
        if (desc->args[i].kind == AIDEV_ARG_BUFFER)
            parse_count(desc, i, &k->counts[i]);
    }

    if (library)
        st = library_program(dev, form_index, desc, &k->program);
    else
        st = build_user_program(dev, desc, &k->program);
    if (st == AIDEV_SUCCESS)
        st = library ? setup_library(k, desc, form_index) : setup_user(k, desc);
    if (st == AIDEV_SUCCESS) {
        size_t wg = 0, multiple = 0;
        ocl.clGetKernelWorkGroupInfo(k->kernel, dev->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg,
                                     &wg, NULL);
        ocl.clGetKernelWorkGroupInfo(k->kernel, dev->id,
                                     CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                     sizeof multiple, &multiple, NULL);
        k->max_workgroup = wg ? wg : 1;
        k->preferred_multiple = multiple ? multiple : 1;
        uint64_t wanted = (uint64_t)k->local[0] * (k->local[1] ? k->local[1] : 1) *
                          (k->local[2] ? k->local[2] : 1);
        if (k->launch != AIDEV_LAUNCH_ITEMS && wanted > k->max_workgroup)
            st = aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                         "kernel '%s' needs workgroups of %llu work-items; "
                                         "'%s' runs at most %zu",
                                         k->name, (unsigned long long)wanted,
                                         dev->desc->info.name, k->max_workgroup);
    }
    if (st != AIDEV_SUCCESS) {
        kernel_free(k);
        return st;
    }
    *out_kernel = k;
    return AIDEV_SUCCESS;
}

void ocl_kernel_destroy(void *device, void *kernel)
{
    (void)device;
    kernel_free(kernel);
}

/* ------------------------------------------------------------------------ */
/* Launching                                                                */
/* ------------------------------------------------------------------------ */

/* The commands of one dispatch: staging copies, passes, the kernel. Only
 * the first takes the wait list (the queue is in order) and only the last
 * makes the event. */
typedef struct launch {
    ocl_queue *q;
    cl_command_queue cq;           /* every command of the launch goes here */
    const aidev_backend_arg *args; /* the dispatch's */
    const ocl_wait_list *waits;
    bool waits_taken;
    cl_mem temps[2 * AIDEV_MAX_KERNEL_ARGS + 2]; /* released after enqueue */
    uint32_t temp_count;
    struct {
        cl_mem staging, dst;
        size_t offset, size;
    } copy_back[AIDEV_MAX_KERNEL_ARGS];
    uint32_t copy_back_count;
} launch;

static void take_waits(launch *l, cl_uint *count, const cl_event **events)
{
    *count = 0;
    *events = NULL;
    if (!l->waits_taken && l->waits && l->waits->count) {
        *count = l->waits->count;
        *events = l->waits->events;
    }
    l->waits_taken = true;
}

static aidev_status new_temp(launch *l, size_t size, cl_mem *out)
{
    cl_int err;
    cl_mem m = ocl.clCreateBuffer(l->q->dev->context, CL_MEM_READ_WRITE, size, NULL, &err);
    if (!m)
        return ocl_fail("clCreateBuffer", err, "a %zu-byte scratch buffer for a dispatch", size);
    l->temps[l->temp_count++] = m;
    *out = m;
    return AIDEV_SUCCESS;
}

/* Stages an argument whose offset a sub-buffer cannot take: a temporary
 * of the whole |tail| (so a kernel that reads past its declared count
 * stays inside memory), of which the |touched| bytes the signature
 * declares are copied in, and back for writable arguments. */
static aidev_status stage(launch *l, const ocl_kernel *k, uint32_t i, const ocl_buffer *b,
                          size_t offset, size_t tail, size_t touched, cl_mem *out)
{
    cl_mem staging;
    aidev_status st = new_temp(l, tail, &staging);
    if (st != AIDEV_SUCCESS)
        return st;
    cl_uint n;
    const cl_event *events;
    take_waits(l, &n, &events);
    cl_int err = ocl.clEnqueueCopyBuffer(l->cq, b->mem, staging, offset, 0, touched, n,
                                         events, NULL);
    if (err != CL_SUCCESS)
        return ocl_fail("clEnqueueCopyBuffer", err, "staging argument %u of kernel '%s'", i,
                        k->name);
    if (k->access[i] & AIDEV_ACCESS_WRITE) {
        l->copy_back[l->copy_back_count].staging = staging;
        l->copy_back[l->copy_back_count].dst = b->mem;
        l->copy_back[l->copy_back_count].offset = offset;
        l->copy_back[l->copy_back_count].size = touched;
        l->copy_back_count++;
    }
    *out = staging;
    return AIDEV_SUCCESS;
}

/* Sets argument |i| unless the kernel already holds that value. */
static aidev_status set_arg(ocl_kernel *k, uint32_t i, size_t size, const void *value,
                            uint64_t key)
{
    arg_cache *c = &k->cache[i];
    if (c->valid && c->size == size && c->value == key)
        return AIDEV_SUCCESS;
    cl_int err = ocl.clSetKernelArg(k->kernel, i, size, value);
    if (err != CL_SUCCESS) {
        c->valid = false;
        return ocl_fail("clSetKernelArg", err, "argument %u of kernel '%s'", i, k->name);
    }
    /* Staged and sub-buffers are new every time: key 0 is never cached. */
    c->valid = key != 0;
    c->size = size;
    c->value = key;
    return AIDEV_SUCCESS;
}

/* The cl_mem argument |i| binds, and the key it caches under (0: never). */
static aidev_status resolve_buffer(launch *l, const ocl_kernel *k, uint32_t i,
                                   const aidev_backend_arg *a, cl_mem *out, uint64_t *key)
{
    const ocl_buffer *b = a->u.buffer.buffer;
    size_t offset = (size_t)a->u.buffer.offset, size = (size_t)a->u.buffer.size;
    *key = 0;
    if (offset == 0) {
        *out = b->mem;
        *key = b->id;
        return AIDEV_SUCCESS;
    }
    if (offset % l->q->dev->desc->base_align != 0)
        /* Copying back more than the kernel touches would undo other
         * queues' writes past it. */
        return stage(l, k, i, b, offset, size, touched_bytes(k, i, l->args, size), out);
    cl_buffer_region region = {offset, size};
    cl_int err;
    cl_mem view = ocl.clCreateSubBuffer(b->mem, 0, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (!view)
        return ocl_fail("clCreateSubBuffer", err, "argument %u of kernel '%s' at offset %zu", i,
                        k->name, offset);
    l->temps[l->temp_count++] = view;
    *out = view;
    return AIDEV_SUCCESS;
}

static aidev_status bind_buffer(launch *l, ocl_kernel *k, uint32_t i, const aidev_backend_arg *a)
{
    cl_mem mem;
    uint64_t key;
    aidev_status st = resolve_buffer(l, k, i, a, &mem, &key);
    return st == AIDEV_SUCCESS ? set_arg(k, i, sizeof mem, &mem, key) : st;
}

static aidev_status bind_args(launch *l, ocl_kernel *k, const aidev_backend_command *cmd)
{
    const aidev_backend_arg *args = cmd->u.dispatch.args;
    for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++) {
        const aidev_backend_arg *a = &args[i];
        aidev_status st;
        if (a->kind == AIDEV_ARG_BUFFER) {
            st = bind_buffer(l, k, i, a);
        } else if (a->kind == AIDEV_ARG_LOCAL) {
            /* A size and no value: each workgroup gets that much __local
             * memory. Cached by its size (never 0). */
            st = set_arg(k, i, (size_t)a->u.u64, NULL, a->u.u64);
        } else {
            size_t size = aidev_type_size(a->type);
            uint64_t key = 0;
            memcpy(&key, a->u.bytes, size);
            st = set_arg(k, i, size, a->u.bytes, key);
            /* A zero scalar must still be cached: mark it by its size. */
            k->cache[i].valid = st == AIDEV_SUCCESS;
        }
        if (st != AIDEV_SUCCESS)
            return st;
    }
    return AIDEV_SUCCESS;
}

static size_t round_up(size_t x, size_t m)
{
    return (x + m - 1) / m * m;
}

/* The largest divisor of |n| that is at most |max| (1 for n = 0). */
static size_t largest_divisor(size_t n, size_t max)
{
    if (n == 0)
        return 1;
    for (size_t d = max < n ? max : n; d > 1; d--)
        if (n % d == 0)
            return d;
    return 1;
}

/* The workgroup of an ITEMS launch: the caller's, the signature's, or one
 * of the driver's preferred multiple. A user kernel's grid runs exactly
 * (it may not guard its bounds): without partial workgroups, a chosen
 * size divides the grid. Returns whether whole workgroups cover the grid
 * (a size that was given, without partial workgroups, or a library form). */
static bool items_workgroup(const ocl_kernel *k, const aidev_backend_command *cmd,
                            size_t local[3])
{
    const uint32_t *wg = cmd->u.dispatch.workgroup;
    if (wg[0] || wg[1] || wg[2]) {
        for (int d = 0; d < 3; d++)
            local[d] = wg[d] ? wg[d] : 1;
        return !k->partial_groups;
    }
    if (k->local[0]) {
        for (int d = 0; d < 3; d++)
            local[d] = k->local[d] ? k->local[d] : 1;
        return !k->partial_groups;
    }
    size_t want = 64;
    if (k->preferred_multiple > want)
        want = k->preferred_multiple;
    if (want > k->max_workgroup)
        want = k->max_workgroup;
    const uint32_t *grid = cmd->u.dispatch.grid;
    /* A grid smaller than a group runs as one group of its size. */
    if (grid[0] < want)
        want = grid[0] ? grid[0] : 1;
    local[0] = k->user && !k->partial_groups ? largest_divisor(grid[0], want) : want;
    local[1] = local[2] = 1;
    return !k->user;
}

/* The global and local sizes of an ITEMS or GROUPS launch. */
static void launch_geometry(const ocl_kernel *k, const aidev_backend_command *cmd,
                            size_t local[3], size_t global[3])
{
    const uint32_t *grid = cmd->u.dispatch.grid;
    bool whole_groups = true;
    if (k->launch == AIDEV_LAUNCH_GROUPS) {
        for (int d = 0; d < 3; d++)
            local[d] = k->local[d] ? k->local[d] : 1;
    } else {
        /* One work-item per grid item. Dimension 0 of library forms is
         * grid-strided, but OpenCL puts no limit on group counts, and a
         * capped launch makes each work-item stride through memory (5-25x
         * slower on PoCL): no cap. */
        whole_groups = items_workgroup(k, cmd, local);
    }
    for (int d = 0; d < 3; d++)
        global[d] = whole_groups ? round_up(grid[d], local[d]) : grid[d];
    if (k->launch == AIDEV_LAUNCH_GROUPS)
        global[0] = (size_t)grid[0] * local[0];
}

/* The failure of clEnqueueNDRangeKernel, with the launch's geometry. */
static aidev_status ndrange_failed(const ocl_kernel *k, cl_int err, cl_uint dims,
                                   const size_t global[3], const size_t local[3])
{
    return ocl_fail("clEnqueueNDRangeKernel", err,
                    "kernel '%s', global %zu x %zu x %zu, local %zu x %zu x %zu", k->name,
                    global[0], dims > 1 ? global[1] : 1, dims > 2 ? global[2] : 1, local[0],
                    dims > 1 ? local[1] : 1, dims > 2 ? local[2] : 1);
}

static aidev_status run_ndrange(launch *l, ocl_kernel *k, cl_uint dims, const size_t global[3],
                                const size_t local[3], cl_event *ev)
{
    cl_uint n;
    const cl_event *events;
    take_waits(l, &n, &events);
    cl_int err = ocl.clEnqueueNDRangeKernel(l->cq, k->kernel, dims, NULL, global, local, n,
                                            events, ev);
    return err == CL_SUCCESS ? AIDEV_SUCCESS : ndrange_failed(k, err, dims, global, local);
}

static aidev_status launch_items(launch *l, ocl_kernel *k, const aidev_backend_command *cmd,
                                 cl_event *ev)
{
    const uint32_t *grid = cmd->u.dispatch.grid;
    if (k->geometry_valid && memcmp(k->last_grid, grid, sizeof k->last_grid) == 0 &&
        memcmp(k->last_workgroup, cmd->u.dispatch.workgroup, sizeof k->last_workgroup) == 0) {
        aidev_status st = bind_args(l, k, cmd);
        if (st != AIDEV_SUCCESS)
            return st;
        return run_ndrange(l, k, k->last_dims, k->last_global, k->last_local,
                           l->copy_back_count ? NULL : ev);
    }
    size_t local[3], global[3];
    launch_geometry(k, cmd, local, global);
    cl_uint dims = grid[2] > 1 || local[2] > 1 ? 3 : grid[1] > 1 || local[1] > 1 ? 2 : 1;
    memcpy(k->last_grid, grid, sizeof k->last_grid);
    memcpy(k->last_workgroup, cmd->u.dispatch.workgroup, sizeof k->last_workgroup);
    memcpy(k->last_global, global, sizeof global);
    memcpy(k->last_local, local, sizeof local);
    k->last_dims = dims;
    k->geometry_valid = true;
    aidev_status st = bind_args(l, k, cmd);
    if (st != AIDEV_SUCCESS)
        return st;
    return run_ndrange(l, k, dims, global, local, l->copy_back_count ? NULL : ev);
}

/* Multi-pass reduction: each pass folds runs of local * items_per_thread
 * elements into one, into a scratch buffer, until one run is left; that
 * pass writes the kernel's output. */
static aidev_status launch_reduce(launch *l, ocl_kernel *k, const aidev_backend_command *cmd,
                                  cl_event *ev)
{
    const aidev_backend_arg *args = cmd->u.dispatch.args;
    uint64_t n = args[0].u.u32;
    uint64_t per_group = (uint64_t)k->local[0] * k->items_per_thread;
    size_t local[3] = {k->local[0], 1, 1};
    cl_mem in, out;
    uint64_t in_key, out_key;
    aidev_status st = resolve_buffer(l, k, 1, &args[1], &in, &in_key);
    if (st == AIDEV_SUCCESS)
        st = resolve_buffer(l, k, 2, &args[2], &out, &out_key);
    while (st == AIDEV_SUCCESS) {
        uint64_t groups = n ? (n + per_group - 1) / per_group : 1;
        bool last = groups == 1;
        cl_mem dst = out;
        uint64_t dst_key = out_key;
        cl_uint n32 = (cl_uint)n;
        if (!last) {
            st = new_temp(l, (size_t)(groups * k->reduce_element_size), &dst);
            dst_key = 0;
        }
        if (st == AIDEV_SUCCESS)
            st = set_arg(k, 0, sizeof n32, &n32, 0);
        if (st == AIDEV_SUCCESS)
            st = set_arg(k, 1, sizeof in, &in, in_key);
        if (st == AIDEV_SUCCESS)
            st = set_arg(k, 2, sizeof dst, &dst, dst_key);
        size_t global[3] = {(size_t)(groups * local[0]), 1, 1};
        if (st == AIDEV_SUCCESS)
            st = run_ndrange(l, k, 1, global, local, last && !l->copy_back_count ? ev : NULL);
        if (last)
            break;
        /* The next pass folds this one's output. */
        in = dst;
        in_key = 0;
        n = groups;
    }
    return st;
}

/* Whether |k| already holds every argument of |cmd| (buffers at offset 0,
 * scalars) and launches it with the last geometry: the dispatch is then
 * the enqueue alone. Under |k->lock|. */
static bool launch_is_repeat(const ocl_kernel *k, const aidev_backend_command *cmd)
{
    if (k->launch == AIDEV_LAUNCH_REDUCE || !k->geometry_valid ||
        memcmp(k->last_grid, cmd->u.dispatch.grid, sizeof k->last_grid) != 0 ||
        memcmp(k->last_workgroup, cmd->u.dispatch.workgroup, sizeof k->last_workgroup) != 0)
        return false;
    const aidev_backend_arg *args = cmd->u.dispatch.args;
    for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++) {
        const arg_cache *c = &k->cache[i];
        const aidev_backend_arg *a = &args[i];
        if (!c->valid)
            return false;
        if (a->kind == AIDEV_ARG_BUFFER) {
            const ocl_buffer *b = a->u.buffer.buffer;
            if (a->u.buffer.offset != 0 || c->value != b->id)
                return false;
        } else if (a->kind == AIDEV_ARG_LOCAL) {
            if (c->value != a->u.u64)
                return false;
        } else if (memcmp(&c->value, a->u.bytes, c->size) != 0) {
            /* (The signature fixes the scalar's type, so its size is the
             * cached one; the cache holds its bytes first.) */
            return false;
        }
    }
    return true;
}

/* Any dispatch: arguments set, staged or cut into sub-buffers, geometry
 * computed, passes for REDUCE. Called with |k->lock|, which it releases.
 * Out of line: its frame is large, and the repeat path needs none of it. */
static __attribute__((noinline)) aidev_status launch_general(ocl_queue *q, cl_command_queue cq,
                                                             ocl_kernel *k,
                                                             const aidev_backend_command *cmd,
                                                             const ocl_wait_list *waits,
                                                             cl_event *out_event)
{
    /* Not zeroed as a whole: its arrays are large and mostly unused. */
    launch l;
    l.q = q;
    l.cq = cq;
    l.args = cmd->u.dispatch.args;
    l.waits = waits;
    l.waits_taken = false;
    l.temp_count = 0;
    l.copy_back_count = 0;
    aidev_status st = k->launch == AIDEV_LAUNCH_REDUCE ? launch_reduce(&l, k, cmd, out_event)
                                                       : launch_items(&l, k, cmd, out_event);
    /* Staged writable ranges go back after the kernel, in order. */
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < l.copy_back_count; i++) {
        bool last = i + 1 == l.copy_back_count;
        cl_int err = ocl.clEnqueueCopyBuffer(cq, l.copy_back[i].staging, l.copy_back[i].dst,
                                             0, l.copy_back[i].offset, l.copy_back[i].size, 0,
                                             NULL, last ? out_event : NULL);
        if (err != CL_SUCCESS)
            st = ocl_fail("clEnqueueCopyBuffer", err, "copying a staged argument of '%s' back",
                          k->name);
    }
    if (st != AIDEV_SUCCESS)
        for (uint32_t i = 0; i < k->arg_count; i++)
            k->cache[i].valid = false;
    pthread_mutex_unlock(&k->lock);
    /* The commands hold the temporaries as long as they need them. */
    for (uint32_t i = 0; i < l.temp_count; i++)
        ocl.clReleaseMemObject(l.temps[i]);
    return st;
}

aidev_status ocl_kernel_enqueue(ocl_queue *q, cl_command_queue cq, void *kernel,
                                const aidev_backend_command *cmd, const ocl_wait_list *waits,
                                cl_event *out_event)
{
    ocl_kernel *k = kernel;
    pthread_mutex_lock(&k->lock);
    if (waits->count != 0 || !launch_is_repeat(k, cmd))
        return launch_general(q, cq, k, cmd, waits, out_event);
    /* A stream of like dispatches: nothing to set, stage or compute. */
    cl_int err = ocl.clEnqueueNDRangeKernel(cq, k->kernel, k->last_dims, NULL,
                                            k->last_global, k->last_local, 0, NULL, out_event);
    aidev_status st = AIDEV_SUCCESS;
    if (err != CL_SUCCESS)
        st = ndrange_failed(k, err, k->last_dims, k->last_global, k->last_local);
    pthread_mutex_unlock(&k->lock);
    return st;
}

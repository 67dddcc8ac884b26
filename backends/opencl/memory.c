/*
 * memory.c - buffers.
 *
 *   DEVICE  a plain cl_mem; on a CPU device (PoCL), from 2 MiB on, the same
 *           host block as HOST below. A CPU device's memory is host memory,
 *           and libaidev may then write it directly (file reads land in it
 *           with no device command, so they overlap kernels that keep the
 *           device's threads busy); no command of the device uses the
 *           range while it does: a file read waits for the queue's earlier
 *           commands first.
 *   HOST    a cl_mem of CL_MEM_ALLOC_HOST_PTR: host memory the device
 *           reaches; maps are zero-copy (clEnqueueMapBuffer hands back the
 *           allocation itself on drivers that place it in host memory).
 *           From 2 MiB on a device whose memory is host memory (PoCL, an
 *           integrated GPU), libaidev's host allocator gives the memory
 *           (huge pages, see aidev_backend_host_alloc) and a cl_mem of
 *           CL_MEM_USE_HOST_PTR wraps it, zero-copy on such devices.
 *   SHARED  SVM (clSVMAlloc), fine-grained where the device offers it (the
 *           host touches it without mapping), else coarse-grained (map and
 *           unmap around host access). Each SVM allocation is also wrapped
 *           in a cl_mem of CL_MEM_USE_HOST_PTR (OpenCL 2.0 makes that wrap
 *           the SVM memory itself), so copies, fills and kernel arguments
 *           take one path for every kind, and so the cl_mem's reference
 *           count says when no command uses the memory any more: its
 *           destructor callback frees the SVM. That is what makes
 *           buffer_destroy safe while commands are pending.
 *   import  CL_MEM_USE_HOST_PTR on the caller's memory. Any pointer is
 *           accepted. The rule for zero-copy: drivers use the memory in
 *           place when it is aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN (128
 *           bytes on PoCL; Intel GPUs also want 4096-byte alignment and a
 *           size that is a multiple of 64). Otherwise a driver may keep a
 *           copy that it synchronises at map/unmap and around commands:
 *           still correct through aidev_buffer_map, but not zero-copy.
 *
 * New buffers read as zero unless AIDEV_BUFFER_UNINITIALIZED: a fill on the
 * device's service queue, finished before the buffer is handed out. A
 * buffer made with AIDEV_BUFFER_ZERO_ON_FREE gets the same fill when it is
 * destroyed, before the driver has the memory back (libaidev calls
 * buffer_destroy of such a buffer only once no command uses it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"

/* Frees the SVM memory under a wrapper cl_mem once the driver destroys the
 * wrapper, i.e. once the last command using it has completed. */
static void CL_CALLBACK free_svm(cl_mem mem, void *user_data)
{
    (void)mem;
    ocl_buffer *b = user_data;
    ocl.clSVMFree(b->svm_context, b->svm);
    free(b);
}

/* Blocks until |ev| completes and releases it; the status of the command. */
static aidev_status wait_event(cl_event ev, const char *what)
{
    cl_int err = ocl.clWaitForEvents(1, &ev);
    cl_int status = CL_COMPLETE;
    if (err == CL_SUCCESS)
        ocl.clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    ocl.clReleaseEvent(ev);
    if (err != CL_SUCCESS)
        return ocl_fail("clWaitForEvents", err, "waiting for %s", what);
    if (status < 0)
        return ocl_fail(what, status, "the command failed on the device");
    return AIDEV_SUCCESS;
}

static aidev_status zero_fill(ocl_device *dev, ocl_buffer *b)
{
    if (b->fine_grain) {
        memset(b->svm, 0, b->size);
        return AIDEV_SUCCESS;
    }
    const cl_uint zero = 0;
    size_t pattern_size = b->size % 4 == 0 ? 4 : 1;
    cl_event ev;
    cl_int err = ocl.clEnqueueFillBuffer(dev->service, b->mem, &zero, pattern_size, 0,
                                         (size_t)b->size, 0, NULL, &ev);
    if (err != CL_SUCCESS)
        return ocl_fail("clEnqueueFillBuffer", err, "zeroing a new buffer of %llu bytes",
                        (unsigned long long)b->size);
    return wait_event(ev, "clEnqueueFillBuffer");
}

static aidev_status create_svm(ocl_device *dev, ocl_buffer *b)
{
    cl_device_svm_capabilities svm = dev->desc->svm;
    if (!(svm & (CL_DEVICE_SVM_COARSE_GRAIN_BUFFER | CL_DEVICE_SVM_FINE_GRAIN_BUFFER)))
        return aidev_backend_set_error(AIDEV_ERROR_UNSUPPORTED,
                                       "opencl: '%s' has no shared virtual memory, so no "
                                       "AIDEV_MEMORY_SHARED; use HOST memory",
                                       dev->desc->info.name);
    b->fine_grain = (svm & CL_DEVICE_SVM_FINE_GRAIN_BUFFER) != 0;
    cl_svm_mem_flags flags = CL_MEM_READ_WRITE;
    if (b->fine_grain)
        flags |= CL_MEM_SVM_FINE_GRAIN_BUFFER;
    b->svm = ocl.clSVMAlloc(dev->context, flags, (size_t)b->size, 0);
    if (!b->svm)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY,
                                       "clSVMAlloc failed for %llu bytes of %s-grained SVM",
                                       (unsigned long long)b->size,
                                       b->fine_grain ? "fine" : "coarse");
    b->svm_context = dev->context;
    cl_int err;
    b->mem = ocl.clCreateBuffer(dev->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR,
                                (size_t)b->size, b->svm, &err);
    if (!b->mem) {
        ocl.clSVMFree(dev->context, b->svm);
        b->svm = NULL;
        return ocl_fail("clCreateBuffer", err, "wrapping %llu bytes of SVM",
                        (unsigned long long)b->size);
    }
    return AIDEV_SUCCESS;
}

#define HOST_BLOCK_MIN (2u << 20)

/* Frees libaidev host memory once the driver destroys the cl_mem over it. */
static void CL_CALLBACK free_host_block(cl_mem mem, void *user_data)
{
    (void)mem;
    aidev_backend_host_block *block = user_data;
    aidev_backend_host_free(block, false);
    free(block);
}

static aidev_status create_host_block(ocl_device *dev, ocl_buffer *b,
                                      const aidev_backend_buffer_desc *desc)
{
    aidev_backend_host_block *block = calloc(1, sizeof *block);
    if (!block)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_status st = aidev_backend_host_alloc(
        b->size, desc->numa_node,
        desc->flags & AIDEV_BUFFER_UNINITIALIZED ? AIDEV_HOST_ALLOC_UNINITIALIZED : 0, block);
    if (st != AIDEV_SUCCESS) {
        free(block);
        return st;
    }
    cl_int err;
    b->mem = ocl.clCreateBuffer(dev->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR,
                                (size_t)b->size, block->ptr, &err);
    if (b->mem)
        err = ocl.clSetMemObjectDestructorCallback(b->mem, free_host_block, block);
    if (!b->mem || err != CL_SUCCESS) {
        if (b->mem)
            ocl.clReleaseMemObject(b->mem);
        b->mem = NULL;
        aidev_backend_host_free(block, false);
        free(block);
        return ocl_fail("clCreateBuffer", err, "wrapping %llu bytes of host memory",
                        (unsigned long long)b->size);
    }
    b->host_block = block;
    return AIDEV_SUCCESS;
}

static aidev_status create_mem(ocl_device *dev, ocl_buffer *b, void *import)
{
    cl_mem_flags flags = CL_MEM_READ_WRITE;
    if (import) {
        flags |= CL_MEM_USE_HOST_PTR;
        if ((uintptr_t)import % dev->desc->base_align)
            aidev_backend_debug("opencl",
                                "import of %p: not aligned to %llu bytes, the driver may copy",
                                import, (unsigned long long)dev->desc->base_align);
    } else if (b->kind == AIDEV_MEMORY_HOST) {
        flags |= CL_MEM_ALLOC_HOST_PTR;
    }
    cl_int err;
    b->mem = ocl.clCreateBuffer(dev->context, flags, (size_t)b->size, import, &err);
    if (b->mem)
        return AIDEV_SUCCESS;
    if (import)
        return ocl_fail("clCreateBuffer", err,
                        "importing %llu bytes at %p with CL_MEM_USE_HOST_PTR (zero-copy needs "
                        "the pointer aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN, %llu bytes here)",
                        (unsigned long long)b->size, import,
                        (unsigned long long)dev->desc->base_align);
    return ocl_fail("clCreateBuffer", err, "%llu bytes of %s memory", (unsigned long long)b->size,
                    b->kind == AIDEV_MEMORY_HOST ? "HOST" : "DEVICE");
}

aidev_status ocl_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                               void **out_buffer, void **out_host_ptr)
{
    ocl_device *dev = device;
    if (desc->size > SIZE_MAX)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_RANGE,
                                       "opencl: %llu bytes do not fit a size_t",
                                       (unsigned long long)desc->size);
    ocl_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    static atomic_uint_fast64_t next_id = 1;
    b->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    b->kind = desc->kind;
    b->size = desc->size;
    b->scrub = (desc->flags & AIDEV_BUFFER_ZERO_ON_FREE) != 0;

    aidev_status st;
    if (desc->kind == AIDEV_MEMORY_SHARED && !desc->import_host_ptr)
        st = create_svm(dev, b);
    else if (!desc->import_host_ptr && desc->size >= HOST_BLOCK_MIN &&
             (dev->desc->info.features & AIDEV_FEATURE_UNIFIED_MEMORY) &&
             (desc->kind == AIDEV_MEMORY_HOST ||
              (desc->kind == AIDEV_MEMORY_DEVICE &&
               dev->desc->info.type == AIDEV_DEVICE_TYPE_CPU)))
        st = create_host_block(dev, b, desc);
    else
        st = create_mem(dev, b, desc->import_host_ptr);
    /* libaidev's host memory comes zeroed. */
    if (st == AIDEV_SUCCESS && !(desc->flags & AIDEV_BUFFER_UNINITIALIZED) && !b->host_block)
        st = zero_fill(dev, b);
    if (st == AIDEV_SUCCESS && b->svm) {
        cl_int err = ocl.clSetMemObjectDestructorCallback(b->mem, free_svm, b);
        if (err != CL_SUCCESS)
            st = ocl_fail("clSetMemObjectDestructorCallback", err, NULL);
    }
    if (st != AIDEV_SUCCESS) {
        if (b->mem)
            ocl.clReleaseMemObject(b->mem);
        if (b->svm)
            ocl.clSVMFree(dev->context, b->svm);
        free(b);
        return st;
    }
    *out_buffer = b;
    /* Only fine-grained SVM has a host address that needs no map; and a
     * CPU device's DEVICE memory, which is not mappable through the API but
     * which libaidev may address (see the top of this file). */
    *out_host_ptr = b->fine_grain ? b->svm
                    : b->host_block && b->kind == AIDEV_MEMORY_DEVICE ? b->host_block->ptr
                                                                       : NULL;
    return AIDEV_SUCCESS;
}

void ocl_buffer_destroy(void *device, void *buffer)
{
    ocl_buffer *b = buffer;
    if (b->scrub && zero_fill(device, b) != AIDEV_SUCCESS)
        aidev_backend_debug("opencl", "scrubbing a freed buffer of %llu bytes failed",
                            (unsigned long long)b->size);
    /* Commands still pending hold their own references on the cl_mem; the
     * SVM under it, and |b| with it, go in free_svm when the last does. */
    bool svm = b->svm != NULL;
    ocl.clReleaseMemObject(b->mem);
    if (!svm)
        free(b);
}

aidev_status ocl_buffer_map(void *device, void *buffer, uint64_t offset, uint64_t size,
                            uint32_t map_flags, void **out_ptr)
{
    ocl_device *dev = device;
    ocl_buffer *b = buffer;
    cl_map_flags flags = 0;
    if (map_flags & AIDEV_MAP_READ)
        flags |= CL_MAP_READ;
    if (map_flags & AIDEV_MAP_WRITE)
        flags |= CL_MAP_WRITE;
    cl_int err;
    void *p;
    if (b->svm) {
        p = (char *)b->svm + offset;
        err = ocl.clEnqueueSVMMap(dev->service, CL_TRUE, flags, p, (size_t)size, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            return ocl_fail("clEnqueueSVMMap", err, "mapping %llu bytes",
                            (unsigned long long)size);
    } else {
        p = ocl.clEnqueueMapBuffer(dev->service, b->mem, CL_TRUE, flags, (size_t)offset,
                                   (size_t)size, 0, NULL, NULL, &err);
        if (!p)
            return ocl_fail("clEnqueueMapBuffer", err, "mapping %llu bytes",
                            (unsigned long long)size);
    }
    b->mapped = p;
    if (offset == 0)
        b->host_seen = p;
    *out_ptr = p;
    return AIDEV_SUCCESS;
}

aidev_status ocl_buffer_query(void *device, void *buffer, aidev_backend_buffer_query *out)
{
    (void)device;
    const ocl_buffer *b = buffer;
    out->native_kind = AIDEV_NATIVE_OPENCL_MEM;
    out->native_handle = (uint64_t)(uintptr_t)b->mem;
    out->native_offset = 0;
    /* SVM has a host address from the start; a cl_mem's shows once it is
     * mapped (host memory of the driver, stable where the memory is). */
    out->host_address = b->svm ? b->svm : b->host_seen;
    if (b->host_block) {
        out->host_address = b->host_block->ptr;
        out->page_kind = b->host_block->page_kind;
        out->numa_node = b->host_block->numa_node;
    }
    return AIDEV_SUCCESS;
}

aidev_status ocl_buffer_unmap(void *device, void *buffer, void *ptr)
{
    ocl_device *dev = device;
    ocl_buffer *b = buffer;
    (void)ptr;
    /* Fine-grained SVM is never mapped through here. */
    if (!b->mapped)
        return AIDEV_SUCCESS;
    cl_event ev;
    cl_int err;
    if (b->svm)
        err = ocl.clEnqueueSVMUnmap(dev->service, b->mapped, 0, NULL, &ev);
    else
        err = ocl.clEnqueueUnmapMemObject(dev->service, b->mem, b->mapped, 0, NULL, &ev);
    if (err != CL_SUCCESS)
        return ocl_fail(b->svm ? "clEnqueueSVMUnmap" : "clEnqueueUnmapMemObject", err, NULL);
    b->mapped = NULL;
    /* Host writes must reach the device before the caller's next command. */
    return wait_event(ev, b->svm ? "clEnqueueSVMUnmap" : "clEnqueueUnmapMemObject");
}

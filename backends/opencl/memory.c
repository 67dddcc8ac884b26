/*
 * memory.c - buffers.
 *
 *   DEVICE  a plain cl_mem; on a device whose memory is the host's (a CPU
 *           device with unified memory: PoCL), libaidev's host memory under
 *           a CL_MEM_USE_HOST_PTR cl_mem, at every size (below).
 *   HOST    a cl_mem of CL_MEM_ALLOC_HOST_PTR: host memory the device
 *           reaches; maps are zero-copy (clEnqueueMapBuffer hands back the
 *           allocation itself on drivers that place it in host memory).
 *           On a device whose memory is the host's, libaidev's host memory
 *           as DEVICE there; from 2 MiB on another unified-memory device
 *           (an integrated GPU), libaidev's host memory too (huge pages)
 *           under a CL_MEM_USE_HOST_PTR cl_mem, zero-copy on such devices.
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
 * A device whose memory is the host's. Its DEVICE and HOST buffers are
 * host memory libaidev addresses (buffer_create hands the address out), so
 * that DLPack exports them as host tensors at every size and file reads
 * land in them without a device command: small ones an aligned malloc (at
 * CL_DEVICE_MEM_BASE_ADDR_ALIGN, so the driver uses it in place), from 2
 * MiB on libaidev's host allocator (huge pages, the device's NUMA node).
 * No command of the device uses such memory while libaidev writes it: a
 * file read waits for the queue's earlier commands first. An import
 * aligned for use in place is addressed the same way.
 *
 * New buffers read as zero unless AIDEV_BUFFER_UNINITIALIZED. Where the
 * memory is zeroed costs least: host memory and fine-grained SVM on the
 * host, when they are allocated (a 256-byte buffer is a 256-byte memset);
 * other memory on the device, by a fill enqueued on the queue of the
 * buffer's first command, just before it (ocl_zero_before_use), or on the
 * service queue before a map or a native export. (A fill finished before
 * buffer_create returned cost PoCL ~30 us per small buffer.) A command
 * that writes the whole buffer needs no fill. A buffer made with
 * AIDEV_BUFFER_ZERO_ON_FREE is scrubbed when it is destroyed, before the
 * driver or the allocator has the memory back (libaidev calls
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

/* Zeroes |b| on the device: a fill on |cq| (in order before what follows
 * there). */
static aidev_status enqueue_zero(cl_command_queue cq, ocl_buffer *b, cl_event *ev)
{
    const cl_uint zero = 0;
    size_t pattern_size = b->size % 4 == 0 ? 4 : 1;
    cl_int err = ocl.clEnqueueFillBuffer(cq, b->mem, &zero, pattern_size, 0, (size_t)b->size, 0,
                                         NULL, ev);
    if (err != CL_SUCCESS)
        return ocl_fail("clEnqueueFillBuffer", err, "zeroing a buffer of %llu bytes",
                        (unsigned long long)b->size);
    return AIDEV_SUCCESS;
}

aidev_status ocl_buffer_zero_now(cl_command_queue cq, ocl_buffer *b)
{
    if (!atomic_exchange_explicit(&b->needs_zero, false, memory_order_relaxed))
        return AIDEV_SUCCESS;
    aidev_status st = enqueue_zero(cq, b, NULL);
    if (st != AIDEV_SUCCESS)
        atomic_store_explicit(&b->needs_zero, true, memory_order_relaxed);
    return st;
}

/* Zeroes |b| now, whatever it holds (the scrub of a freed buffer). */
static aidev_status zero_and_wait(ocl_device *dev, ocl_buffer *b)
{
    if (b->fine_grain || (b->host && dev->desc->memory_is_host)) {
        explicit_bzero(b->fine_grain ? b->svm : b->host, (size_t)b->size);
        return AIDEV_SUCCESS;
    }
    cl_event ev;
    aidev_status st = enqueue_zero(dev->service, b, &ev);
    return st == AIDEV_SUCCESS ? wait_event(ev, "clEnqueueFillBuffer") : st;
}

/* The zero fill still due on |b|, done on the service queue and waited
 * for: before a map or a native export hands the memory to someone who
 * does not go through a queue. */
static aidev_status zero_if_due_and_wait(ocl_device *dev, ocl_buffer *b)
{
    if (!atomic_exchange_explicit(&b->needs_zero, false, memory_order_relaxed))
        return AIDEV_SUCCESS;
    aidev_status st = zero_and_wait(dev, b);
    if (st != AIDEV_SUCCESS)
        atomic_store_explicit(&b->needs_zero, true, memory_order_relaxed);
    return st;
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

/* A small buffer and its memory are one allocation (see below). */
static void CL_CALLBACK free_host_small(cl_mem mem, void *user_data)
{
    (void)mem;
    free(user_data);
}

/* A CL_MEM_USE_HOST_PTR cl_mem over |ptr|; |on_destroy|(|arg|) frees the
 * memory when the driver destroys it. On failure the memory stays the
 * caller's. */
static aidev_status wrap_host_memory(ocl_device *dev, ocl_buffer *b, void *ptr,
                                     void(CL_CALLBACK *on_destroy)(cl_mem, void *), void *arg)
{
    cl_int err;
    b->mem = ocl.clCreateBuffer(dev->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR,
                                (size_t)b->size, ptr, &err);
    if (b->mem)
        err = ocl.clSetMemObjectDestructorCallback(b->mem, on_destroy, arg);
    if (b->mem && err == CL_SUCCESS) {
        b->host = ptr;
        return AIDEV_SUCCESS;
    }
    const char *call = b->mem ? "clSetMemObjectDestructorCallback" : "clCreateBuffer";
    if (b->mem)
        ocl.clReleaseMemObject(b->mem);
    b->mem = NULL;
    return ocl_fail(call, err, "wrapping %llu bytes of host memory", (unsigned long long)b->size);
}

/* Large: libaidev's host allocator (huge pages, the NUMA node). */
static aidev_status create_host_block(ocl_device *dev, ocl_buffer *b,
                                      const aidev_backend_buffer_desc *desc)
{
    aidev_backend_host_block *block = calloc(1, sizeof *block);
    if (!block)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    aidev_status st = aidev_backend_host_alloc(
        b->size, desc->numa_node,
        desc->flags & AIDEV_BUFFER_UNINITIALIZED ? AIDEV_HOST_ALLOC_UNINITIALIZED : 0, block);
    if (st == AIDEV_SUCCESS) {
        st = wrap_host_memory(dev, b, block->ptr, free_host_block, block);
        if (st != AIDEV_SUCCESS)
            aidev_backend_host_free(block, false);
    }
    if (st != AIDEV_SUCCESS) {
        free(block);
        return st;
    }
    b->host_block = block;
    return AIDEV_SUCCESS;
}

/* Small: one malloc holds the ocl_buffer and, at the next
 * CL_DEVICE_MEM_BASE_ADDR_ALIGN boundary after it, the memory, zeroed here
 * unless uninitialised: one allocation instead of two, and a plain malloc
 * (aligned_alloc splits its chunk, and that cost as much again when
 * freed). Frameworks make thousands of such buffers. The cl_mem's
 * destructor frees both. NULL when out of memory. */
static ocl_buffer *new_small_host_buffer(ocl_device *dev, const aidev_backend_buffer_desc *desc)
{
    uintptr_t align = (uintptr_t)dev->desc->base_align;
    if (align < sizeof(void *) || (align & (align - 1)))
        align = 128;
    char *p = malloc(sizeof(ocl_buffer) + align - 1 + (size_t)desc->size);
    if (!p)
        return NULL;
    memset(p, 0, sizeof(ocl_buffer));
    ocl_buffer *b = (ocl_buffer *)p;
    b->host = (void *)(((uintptr_t)p + sizeof(ocl_buffer) + align - 1) & ~(align - 1));
    if (!(desc->flags & AIDEV_BUFFER_UNINITIALIZED))
        memset(b->host, 0, (size_t)desc->size);
    b->freed_with_mem = true;
    return b;
}

/* Whether buffer |desc| is libaidev's host memory (see the top). */
static bool takes_host_memory(const ocl_device *dev, const aidev_backend_buffer_desc *desc)
{
    if (desc->import_host_ptr || desc->kind == AIDEV_MEMORY_SHARED)
        return false;
    if (dev->desc->memory_is_host)
        return true;
    return desc->kind == AIDEV_MEMORY_HOST && desc->size >= HOST_BLOCK_MIN &&
           (dev->desc->info.features & AIDEV_FEATURE_UNIFIED_MEMORY);
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
    bool host_memory = takes_host_memory(dev, desc);
    bool small = host_memory && desc->size < HOST_BLOCK_MIN;
    ocl_buffer *b = small ? new_small_host_buffer(dev, desc) : calloc(1, sizeof *b);
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
    else if (small)
        st = wrap_host_memory(dev, b, b->host, free_host_small, b);
    else if (host_memory)
        st = create_host_block(dev, b, desc);
    else
        st = create_mem(dev, b, desc->import_host_ptr);
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
        free(b); /* (a small buffer's memory with it: its cl_mem never was) */
        return st;
    }
    if (b->svm)
        b->freed_with_mem = true;
    /* Host memory comes zeroed; the rest is zeroed on the device before
     * its first use (see the top of the file). */
    bool zeroed = b->host || (desc->flags & AIDEV_BUFFER_UNINITIALIZED);
    if (!zeroed && b->fine_grain)
        memset(b->svm, 0, b->size);
    atomic_init(&b->needs_zero, !zeroed && !b->fine_grain);
    /* An import the driver uses in place is host memory too, on a device
     * whose memory is the host's. */
    if (desc->import_host_ptr && dev->desc->memory_is_host &&
        (uintptr_t)desc->import_host_ptr % dev->desc->base_align == 0)
        b->host = desc->import_host_ptr;
    *out_buffer = b;
    /* libaidev addresses fine-grained SVM, and the memory of a device
     * whose memory is the host's (the user maps DEVICE memory all the
     * same: the hal refuses). Other host memory is reached through map. */
    *out_host_ptr = b->fine_grain ? b->svm : dev->desc->memory_is_host ? b->host : NULL;
    return AIDEV_SUCCESS;
}

void ocl_buffer_destroy(void *device, void *buffer)
{
    ocl_buffer *b = buffer;
    if (b->scrub && zero_and_wait(device, b) != AIDEV_SUCCESS)
        aidev_backend_debug("opencl", "scrubbing a freed buffer of %llu bytes failed",
                            (unsigned long long)b->size);
    /* Commands still pending hold their own references on the cl_mem; the
     * SVM or small host memory under it, and |b| with it, go in its
     * destructor when the last does. */
    bool freed_with_mem = b->freed_with_mem;
    ocl.clReleaseMemObject(b->mem);
    if (!freed_with_mem)
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
    aidev_status st = zero_if_due_and_wait(dev, b);
    if (st != AIDEV_SUCCESS)
        return st;
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
    ocl_buffer *b = buffer;
    /* The native handle may go to a consumer outside any queue (a DLPack
     * export): the memory must read as zero by then. */
    aidev_status st = zero_if_due_and_wait(device, b);
    if (st != AIDEV_SUCCESS)
        return st;
    out->native_kind = AIDEV_NATIVE_OPENCL_MEM;
    out->native_handle = (uint64_t)(uintptr_t)b->mem;
    out->native_offset = 0;
    /* SVM and libaidev's host memory have a host address from the start; a
     * cl_mem's shows once it is mapped (host memory of the driver, stable
     * where the memory is). */
    out->host_address = b->svm ? b->svm : b->host ? b->host : b->host_seen;
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

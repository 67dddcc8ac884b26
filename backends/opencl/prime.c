/*
 * prime.c - a library program's kernel made ready to run before
 * aidev_kernel_get returns (issue 18).
 *
 * OpenCL drivers that run on the CPU (PoCL) compile a kernel's work-group
 * function only when it is first enqueued: clBuildProgram makes the
 * program's IR, and the first clEnqueueNDRangeKernel of each workgroup
 * size generates and links the machine code (about a second for the
 * library's sgemm on PoCL with an empty cache). So the first dispatch of a
 * library kernel cost far more than the second. On CPU devices the form's
 * kernel is therefore enqueued once when its program is built, at the
 * form's workgroup (the one every library launch uses), with every scalar
 * argument zero and every buffer a small zeroed one: every work-item of a
 * library form guards its bounds against its count arguments, so nothing
 * is read or written (kernels/manifest.txt). PoCL specialises the
 * work-group function for small grids as well; a grid as wide as
 * PRIME_GRID_WIDTH makes it build the general one, which it then uses for
 * every grid size.
 *
 * User kernels are not primed: nothing says that they guard their bounds
 * against zero arguments, and their workgroup is chosen from each
 * dispatch's grid. GPU drivers compile in clBuildProgram; they are not
 * primed either.
 */
#include <string.h>

#include "backends/opencl/ocl_internal.h"

/* The widest dimension 0 of the priming launch: wide enough that PoCL
 * builds its general work-group function rather than one for small grids
 * (measured on PoCL 3.1: 4096 items gets a small-grid build, 65536 the
 * general one). */
#define PRIME_GRID_WIDTH 65536
/* Bytes of the zeroed buffer every buffer argument names. */
#define PRIME_BUFFER_BYTES 4096

static size_t scalar_bytes(aidev_type t)
{
    return t == AIDEV_TYPE_U64 || t == AIDEV_TYPE_I64 || t == AIDEV_TYPE_F64 ? 8 : 4;
}

/* Sets every argument of |kernel| as |desc| declares it: zero scalars,
 * |zeros| for buffers. */
static aidev_status set_zero_args(cl_kernel kernel, const aidev_kernel_desc *desc, cl_mem zeros)
{
    for (uint32_t i = 0; i < desc->arg_count; i++) {
        const uint64_t zero = 0;
        cl_int err = desc->args[i].kind == AIDEV_ARG_BUFFER
                         ? ocl.clSetKernelArg(kernel, i, sizeof zeros, &zeros)
                         : ocl.clSetKernelArg(kernel, i, scalar_bytes(desc->args[i].type), &zero);
        if (err != CL_SUCCESS)
            return ocl_fail("clSetKernelArg", err, "priming built-in kernel '%s', argument %u",
                            desc->name, i);
    }
    return AIDEV_SUCCESS;
}

/* Enqueues |kernel| on the device's service queue at the form's workgroup
 * and waits for it. */
static aidev_status run_once(ocl_device *dev, cl_kernel kernel, const aidev_library_gpu_form *form,
                             const char *name)
{
    size_t local[3], global[3];
    for (int d = 0; d < 3; d++)
        global[d] = local[d] = form->local[d] ? form->local[d] : 1;
    global[0] = (PRIME_GRID_WIDTH + local[0] - 1) / local[0] * local[0];
    cl_uint dims = local[2] > 1 ? 3 : local[1] > 1 ? 2 : 1;
    cl_event ev = NULL;
    cl_int err = ocl.clEnqueueNDRangeKernel(dev->service, kernel, dims, NULL, global, local, 0,
                                            NULL, &ev);
    if (err != CL_SUCCESS)
        return ocl_fail("clEnqueueNDRangeKernel", err, "priming built-in kernel '%s'", name);
    err = ocl.clWaitForEvents(1, &ev);
    ocl.clReleaseEvent(ev);
    if (err != CL_SUCCESS)
        return ocl_fail("clWaitForEvents", err, "priming built-in kernel '%s'", name);
    return AIDEV_SUCCESS;
}

aidev_status ocl_library_program_prime(ocl_device *dev, cl_program program,
                                       const aidev_library_gpu_form *form,
                                       const aidev_kernel_desc *desc)
{
    if (dev->desc->info.type != AIDEV_DEVICE_TYPE_CPU)
        return AIDEV_SUCCESS;
    static const uint8_t zero_bytes[PRIME_BUFFER_BYTES];
    cl_int err;
    cl_kernel kernel = ocl.clCreateKernel(program, form->entry, &err);
    if (!kernel)
        return ocl_fail("clCreateKernel", err, "entry '%s' of built-in kernel '%s'", form->entry,
                        desc->name);
    aidev_status st = AIDEV_SUCCESS;
    cl_mem zeros = ocl.clCreateBuffer(dev->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                      sizeof zero_bytes, (void *)zero_bytes, &err);
    if (!zeros)
        st = ocl_fail("clCreateBuffer", err, "priming built-in kernel '%s'", desc->name);
    if (st == AIDEV_SUCCESS)
        st = set_zero_args(kernel, desc, zeros);
    if (st == AIDEV_SUCCESS)
        st = run_once(dev, kernel, form, desc->name);
    if (zeros)
        ocl.clReleaseMemObject(zeros);
    ocl.clReleaseKernel(kernel);
    return st;
}

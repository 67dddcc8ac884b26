/* Shared by the C forms of the built-in kernels. */
#ifndef AIDEV_KERNELS_HOST_KERNEL_H
#define AIDEV_KERNELS_HOST_KERNEL_H

#include <stdint.h>

#include <aidev/aidev.h>

/* Argument |i| of a host kernel, read as a scalar of C type |type|. */
#define AIDEV_HOST_SCALAR(args, i, type) (*(const type *)(args)[i])

/* Declares and starts the definition of the C form of kernel |name|, the
 * function the generated library table points at. */
#define AIDEV_HOST_KERNEL(name)                                                   \
    void aidev_kernel_c_##name(void *const *args, const aidev_host_range *range); \
    void aidev_kernel_c_##name(void *const *args, const aidev_host_range *range)

/* The end of the box in dimension |dim|, clipped to |limit|: a dispatch may
 * pass a grid larger than the kernel's. */
static inline uint32_t aidev_host_end(const aidev_host_range *range, int dim, uint32_t limit)
{
    return range->end[dim] < limit ? range->end[dim] : limit;
}

#endif

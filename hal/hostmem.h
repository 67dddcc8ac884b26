/*
 * hostmem.h - host memory the way the OS offers it to large tensors.
 *
 * One allocator for every piece of host memory libaidev hands out or uses
 * itself: CPU buffers of every kind, staging chunks of file reads, and (as
 * aidev_backend_host_alloc) any plugin that wants it.
 *
 *   size < 1 MiB   the heap, 64-byte aligned (zeroed unless asked not to);
 *   1 MiB - 2 MiB  an anonymous mapping of normal pages (zero from the
 *                  kernel, on first touch);
 *   >= 2 MiB       MAP_HUGETLB when the machine has enough free reserved
 *                  huge pages (1 GiB pages for allocations of 1 GiB or more
 *                  where those are reserved, else 2 MiB pages); otherwise a
 *                  mapping aligned to 2 MiB with madvise(MADV_HUGEPAGE)
 *                  when transparent huge pages are not switched off; else
 *                  normal pages.
 *
 * AIDEV_HUGEPAGES=off|thp|auto (default auto) narrows the choice: "off"
 * never asks for huge pages, "thp" never takes reserved hugetlb pages.
 *
 * With a NUMA node >= 0 on a machine of several nodes, the mapping gets
 * mbind(MPOL_PREFERRED) to that node before any page exists, so pages land
 * near the device (and elsewhere rather than fail when the node is full).
 */
#ifndef AIDEV_HAL_HOSTMEM_H
#define AIDEV_HAL_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <aidev/aidev_backend.h>

#define AIDEV_HOSTMEM_HUGE_THRESHOLD (2u << 20)

/* Allocates |size| bytes near |numa_node| (-1: anywhere). |flags|:
 * AIDEV_HOST_ALLOC_*. Fills |out|; on failure returns an error with a
 * message. */
aidev_status aidev_hostmem_alloc(uint64_t size, int32_t numa_node, uint32_t flags,
                                 aidev_backend_host_block *out);
/* Frees |block| (scrubbed first when |scrub|) and clears it. */
void aidev_hostmem_free(aidev_backend_host_block *block, bool scrub);
/* Zeroes |size| bytes at |p| in a way the compiler may not drop. */
void aidev_hostmem_scrub(void *p, size_t size);

/* What backs the host address |p| now, read from /proc/self/smaps:
 * HUGETLB (a hugetlbfs mapping), THP (advised for, or holding, transparent
 * huge pages), NORMAL, or UNKNOWN when |p| is in no mapping or smaps cannot
 * be read. */
aidev_backend_page_kind aidev_hostmem_page_kind_of(const void *p);
/* "hugetlb", "thp", "normal", "device", "unknown". */
const char *aidev_page_kind_name(aidev_backend_page_kind kind);

/* The NUMA node whose CPUs hold every CPU of |cpus| (a cpu_set_t), -1 when
 * they span several nodes or the topology is unknown. */
int32_t aidev_hostmem_numa_node_of_cpus(const void *cpus, size_t cpus_size);
/* Number of NUMA nodes of the machine (1 when unknown). */
uint32_t aidev_hostmem_numa_node_count(void);

#endif

/*
 * memory_util.h - what the kernel says of memory, read by the tests on their
 * own (not through libaidev), to check what libaidev reports.
 */
#ifndef AIDEV_TESTS_MEMORY_UTIL_H
#define AIDEV_TESTS_MEMORY_UTIL_H

#include <stdbool.h>
#include <stdint.h>

/* One mapping of /proc/self/smaps. */
typedef struct mem_vma {
    uintptr_t start, end;
    uint64_t kernel_page_kb;
    uint64_t anon_huge_kb;
    bool hugetlb;      /* VmFlags "ht" */
    bool thp_advised;  /* VmFlags "hg" (MADV_HUGEPAGE) */
} mem_vma;

/* The mapping holding |p|; false when none does. */
bool mem_lookup_vma(const void *p, mem_vma *out);
/* "hugetlb", "thp" (huge pages present) or "normal". */
const char *mem_vma_page_kind(const mem_vma *v);

/* Free 2 MiB hugetlb pages now. */
uint64_t mem_free_hugepages_2m(void);
/* The transparent-huge-page mode: "always", "madvise" or "never". */
const char *mem_thp_mode(void);

/* The NUMA node of every CPU this process may run on, -1 when they span
 * several (hwloc; only when AIDEV_TEST_HAVE_HWLOC). */
int mem_numa_node_of_process(void);

#endif

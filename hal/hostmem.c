/*
 * hostmem.c - host memory with huge pages and NUMA placement (see
 * hostmem.h for the policy).
 *
 * Why each step: a multi-GiB tensor in 4 KiB pages needs a TLB entry per
 * page, so random access misses the TLB on nearly every touch; 2 MiB pages
 * cut that 512-fold. Reserved hugetlb pages are certain (and pinned), so
 * they come first when the administrator set them aside; transparent huge
 * pages need a 2 MiB-aligned range and the advice, and then the kernel
 * gives them when it can. Everything falls back silently: an allocation
 * never fails because huge pages are missing.
 */
#include "hal/hostmem.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "aidev_config.h"
#include "hal/env.h"
#include "hal/internal.h"

#if AIDEV_HAVE_HWLOC
#include <hwloc.h>
#endif

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

#define HEAP_LIMIT (1u << 20)
#define HEAP_ALIGN 64u
#define HUGE_2M (2ull << 20)
#define HUGE_1G (1ull << 30)

/* ------------------------------------------------------------------------ */
/* What the machine offers                                                  */
/* ------------------------------------------------------------------------ */

static bool read_u64_file(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    unsigned long long v;
    bool ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    if (ok)
        *out = v;
    return ok;
}

/* Free reserved huge pages of |page_size| bytes. Read at every large
 * allocation: the administrator may change the reservation at any time. */
static uint64_t free_hugetlb_pages(uint64_t page_size)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
             page_size >> 10);
    uint64_t n = 0;
    return read_u64_file(path, &n) ? n : 0;
}

/* Transparent huge pages may be used unless the mode is "[never]". */
static bool thp_available(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
    if (!f)
        return false;
    char line[128] = "";
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    return ok && strstr(line, "[never]") == NULL;
}

/* ------------------------------------------------------------------------ */
/* NUMA                                                                     */
/* ------------------------------------------------------------------------ */

#if AIDEV_HAVE_HWLOC
/* Loaded once and only read afterwards: the machine's shape does not
 * change under a process (CPU hotplug aside). */
static hwloc_topology_t topology;
static pthread_once_t topology_once = PTHREAD_ONCE_INIT;

static void topology_load(void)
{
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0)
        return;
    if (hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return;
    }
    topology = t;
}

static hwloc_topology_t get_topology(void)
{
    pthread_once(&topology_once, topology_load);
    return topology;
}

/* The topology lives as long as the process; freeing it at exit keeps leak
 * checkers quiet about a deliberate process-lifetime object. */
__attribute__((destructor)) static void topology_unload(void)
{
    if (topology)
        hwloc_topology_destroy(topology);
    topology = NULL;
}
#endif

uint32_t aidev_hostmem_numa_node_count(void)
{
#if AIDEV_HAVE_HWLOC
    hwloc_topology_t t = get_topology();
    if (t) {
        int n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
        return n > 0 ? (uint32_t)n : 1;
    }
#endif
    return 1;
}

int32_t aidev_hostmem_numa_node_of_cpus(const void *cpus, size_t cpus_size)
{
#if AIDEV_HAVE_HWLOC
    hwloc_topology_t t = get_topology();
    if (!t)
        return -1;
    const cpu_set_t *set = cpus;
    hwloc_bitmap_t cpuset = hwloc_bitmap_alloc();
    hwloc_bitmap_t nodeset = hwloc_bitmap_alloc();
    int32_t node = -1;
    if (cpuset && nodeset) {
        for (int c = 0; c < (int)(cpus_size * 8); c++)
            if (CPU_ISSET_S(c, cpus_size, set))
                hwloc_bitmap_set(cpuset, (unsigned)c);
        hwloc_cpuset_to_nodeset(t, cpuset, nodeset);
        if (hwloc_bitmap_weight(nodeset) == 1)
            node = hwloc_bitmap_first(nodeset);
    }
    hwloc_bitmap_free(nodeset);
    hwloc_bitmap_free(cpuset);
    return node;
#else
    (void)cpus;
    (void)cpus_size;
    return -1;
#endif
}

/* Prefers |node| for the pages of [p, p + size). Only worth a system call
 * where there is a choice of nodes. */
static int32_t place_on_node(void *p, size_t size, int32_t node)
{
    if (node < 0 || node >= 1024 || aidev_hostmem_numa_node_count() < 2)
        return node < 0 ? -1 : node;
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
    if (syscall(SYS_mbind, p, size, MPOL_PREFERRED, mask, (unsigned long)1024, 0u) != 0) {
        aidev_backend_debug("memory", "mbind to NUMA node %d failed: %s", node, strerror(errno));
        return -1;
    }
    return node;
}

/* ------------------------------------------------------------------------ */
/* Mappings                                                                 */
/* ------------------------------------------------------------------------ */

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

static void *map_hugetlb(uint64_t size, uint64_t page_size, uint64_t *mapped)
{
    uint64_t len = round_up(size, page_size);
    if (free_hugetlb_pages(page_size) < len / page_size)
        return NULL;
    int huge_flag = page_size == HUGE_1G ? MAP_HUGE_1GB : MAP_HUGE_2MB;
    /* The pages are reserved at mmap time, so a later touch cannot SIGBUS
     * for want of a page; another process taking them first makes this
     * fail, and the caller falls back. */
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | huge_flag, -1, 0);
    if (p == MAP_FAILED) {
        aidev_backend_debug("memory", "MAP_HUGETLB of %" PRIu64 " bytes failed: %s", len,
                            strerror(errno));
        return NULL;
    }
    *mapped = len;
    return p;
}

/* An anonymous mapping of |len| bytes starting on a |align| boundary. */
static void *map_aligned(uint64_t len, uint64_t align)
{
    uint64_t over = len + align;
    char *raw = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *start = (char *)round_up((uintptr_t)raw, align);
    size_t head = (size_t)(start - raw);
    size_t tail = (size_t)(over - head - len);
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(start + len, tail);
    return start;
}

static void *map_thp(uint64_t size, uint64_t *mapped, bool *advised)
{
    /* A whole number of 2 MiB pages, so the tail is huge too. */
    uint64_t len = round_up(size, HUGE_2M);
    void *p = map_aligned(len, HUGE_2M);
    if (!p)
        return NULL;
    *mapped = len;
    *advised = madvise(p, len, MADV_HUGEPAGE) == 0;
    if (!*advised)
        aidev_backend_debug("memory", "madvise(MADV_HUGEPAGE) failed: %s", strerror(errno));
    return p;
}

static void *map_normal(uint64_t size, uint64_t *mapped)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t len = round_up(size, page > 0 ? (uint64_t)page : 4096);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    *mapped = len;
    return p;
}

aidev_status aidev_hostmem_alloc(uint64_t size, int32_t numa_node, uint32_t flags,
                                 aidev_backend_host_block *out)
{
    memset(out, 0, sizeof *out);
    out->numa_node = -1;
    if (size == 0 || size > (uint64_t)SIZE_MAX - HUGE_1G)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                           "%" PRIu64 " bytes of host memory: not a size the address space holds",
                           size);
    out->size = size;
    if (size < HEAP_LIMIT) {
        size_t rounded = (size_t)round_up(size, HEAP_ALIGN);
        out->ptr = aligned_alloc(HEAP_ALIGN, rounded);
        if (!out->ptr)
            return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory for %zu bytes", rounded);
        if (!(flags & AIDEV_HOST_ALLOC_UNINITIALIZED))
            memset(out->ptr, 0, (size_t)size);
        out->page_kind = AIDEV_PAGE_KIND_NORMAL;
        return AIDEV_SUCCESS;
    }

    aidev_env_hugepages policy =
        size >= AIDEV_HOSTMEM_HUGE_THRESHOLD ? aidev_env_huge_pages() : AIDEV_HUGEPAGES_OFF;
    void *p = NULL;
    uint64_t mapped = 0;
    if (policy == AIDEV_HUGEPAGES_AUTO) {
        if (size >= HUGE_1G && (p = map_hugetlb(size, HUGE_1G, &mapped)))
            out->page_kind = AIDEV_PAGE_KIND_HUGETLB;
        else if ((p = map_hugetlb(size, HUGE_2M, &mapped)))
            out->page_kind = AIDEV_PAGE_KIND_HUGETLB;
    }
    if (!p && policy != AIDEV_HUGEPAGES_OFF && thp_available()) {
        bool advised = false;
        if ((p = map_thp(size, &mapped, &advised)))
            out->page_kind = advised ? AIDEV_PAGE_KIND_THP : AIDEV_PAGE_KIND_NORMAL;
    }
    if (!p && (p = map_normal(size, &mapped)))
        out->page_kind = AIDEV_PAGE_KIND_NORMAL;
    if (!p)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY,
                           "mmap of %" PRIu64 " bytes of host memory failed: %s", size,
                           strerror(errno));
    /* Pages do not exist yet: the binding decides where each one lands. */
    out->numa_node = place_on_node(p, (size_t)mapped, numa_node);
    out->ptr = p;
    out->mapped_size = mapped;
    aidev_backend_debug("memory", "%" PRIu64 " bytes at %p: %s pages, node %d", size, p,
                        aidev_page_kind_name(out->page_kind), out->numa_node);
    return AIDEV_SUCCESS;
}

void aidev_hostmem_scrub(void *p, size_t size)
{
    explicit_bzero(p, size);
}

void aidev_hostmem_free(aidev_backend_host_block *block, bool scrub)
{
    if (!block->ptr)
        return;
    if (scrub)
        aidev_hostmem_scrub(block->ptr, (size_t)block->size);
    if (block->mapped_size)
        munmap(block->ptr, (size_t)block->mapped_size);
    else
        free(block->ptr);
    memset(block, 0, sizeof *block);
    block->numa_node = -1;
}

/* ------------------------------------------------------------------------ */
/* Looking an address up                                                    */
/* ------------------------------------------------------------------------ */

const char *aidev_page_kind_name(aidev_backend_page_kind kind)
{
    switch (kind) {
    case AIDEV_PAGE_KIND_NORMAL:
        return "normal";
    case AIDEV_PAGE_KIND_THP:
        return "thp";
    case AIDEV_PAGE_KIND_HUGETLB:
        return "hugetlb";
    case AIDEV_PAGE_KIND_DEVICE:
        return "device";
    case AIDEV_PAGE_KIND_UNKNOWN:
        break;
    }
    return "unknown";
}

/* True when the VmFlags line |flags| holds the two-letter flag |flag|. */
static bool has_vm_flag(const char *flags, const char *flag)
{
    for (const char *p = flags; (p = strstr(p, flag)); p += 2)
        if ((p == flags || p[-1] == ' ') && (p[2] == ' ' || p[2] == '\n' || p[2] == '\0'))
            return true;
    return false;
}

aidev_backend_page_kind aidev_hostmem_page_kind_of(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return AIDEV_PAGE_KIND_UNKNOWN;
    char line[512];
    bool inside = false;
    uint64_t anon_huge_kb = 0, kernel_page_kb = 0;
    aidev_backend_page_kind kind = AIDEV_PAGE_KIND_UNKNOWN;
    uintptr_t addr = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long long start, end;
        char dash;
        /* A mapping's header: "start-end perms offset dev inode path". */
        if (sscanf(line, "%llx%c%llx ", &start, &dash, &end) == 3 && dash == '-' &&
            strchr(line, ' ')) {
            if (inside)
                break; /* the mapping ended without a VmFlags line */
            inside = addr >= start && addr < end;
            continue;
        }
        if (!inside)
            continue;
        unsigned long long kb;
        if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
            anon_huge_kb = kb;
        else if (sscanf(line, "KernelPageSize: %llu kB", &kb) == 1)
            kernel_page_kb = kb;
        else if (strncmp(line, "VmFlags:", 8) == 0) {
            if (has_vm_flag(line + 8, "ht") || kernel_page_kb >= 2048)
                kind = AIDEV_PAGE_KIND_HUGETLB;
            else if (has_vm_flag(line + 8, "hg") || anon_huge_kb > 0)
                kind = AIDEV_PAGE_KIND_THP;
            else
                kind = AIDEV_PAGE_KIND_NORMAL;
            break;
        }
    }
    fclose(f);
    return kind;
}

/* ------------------------------------------------------------------------ */
/* The services backends call                                               */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_backend_host_alloc(uint64_t size, int32_t numa_node, uint32_t flags,
                                                aidev_backend_host_block *out)
{
    if (!out)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "aidev_backend_host_alloc: out: NULL");
    return aidev_hostmem_alloc(size, numa_node, flags, out);
}

AIDEV_API void aidev_backend_host_free(aidev_backend_host_block *block, bool scrub)
{
    if (block)
        aidev_hostmem_free(block, scrub);
}

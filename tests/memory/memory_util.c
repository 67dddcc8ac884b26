/*
 * memory_util.c - /proc/self/smaps and sysfs, read independently of
 * libaidev (see memory_util.h).
 */
#include "memory_util.h"

#include <stdio.h>
#include <string.h>

#if AIDEV_TEST_HAVE_HWLOC
#include <hwloc.h>
#endif

static bool has_flag(const char *flags, const char *flag)
{
    char padded[8];
    snprintf(padded, sizeof padded, " %s", flag);
    const char *p = flags;
    while ((p = strstr(p, padded))) {
        char after = p[strlen(padded)];
        if (after == ' ' || after == '\n' || after == '\0')
            return true;
        p++;
    }
    return false;
}

bool mem_lookup_vma(const void *p, mem_vma *out)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return false;
    char line[512];
    bool inside = false, found = false;
    memset(out, 0, sizeof *out);
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        char c;
        if (sscanf(line, "%llx%c%llx ", &a, &c, &b) == 3 && c == '-') {
            if (inside)
                break;
            inside = (uintptr_t)p >= a && (uintptr_t)p < b;
            if (inside) {
                out->start = (uintptr_t)a;
                out->end = (uintptr_t)b;
            }
            continue;
        }
        if (!inside)
            continue;
        unsigned long long kb;
        if (sscanf(line, "KernelPageSize: %llu", &kb) == 1)
            out->kernel_page_kb = kb;
        else if (sscanf(line, "AnonHugePages: %llu", &kb) == 1)
            out->anon_huge_kb = kb;
        else if (strncmp(line, "VmFlags:", 8) == 0) {
            out->hugetlb = has_flag(line + 8, "ht");
            out->thp_advised = has_flag(line + 8, "hg");
            found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

const char *mem_vma_page_kind(const mem_vma *v)
{
    if (v->hugetlb || v->kernel_page_kb >= 2048)
        return "hugetlb";
    if (v->anon_huge_kb > 0)
        return "thp";
    return "normal";
}

uint64_t mem_free_hugepages_2m(void)
{
    FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
    unsigned long long n = 0;
    if (f) {
        if (fscanf(f, "%llu", &n) != 1)
            n = 0;
        fclose(f);
    }
    return n;
}

const char *mem_thp_mode(void)
{
    static char mode[16];
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    const char *open = strchr(line, '['), *close = open ? strchr(open, ']') : NULL;
    if (!open || !close || close - open - 1 >= (long)sizeof mode)
        return "never";
    snprintf(mode, sizeof mode, "%.*s", (int)(close - open - 1), open + 1);
    return mode;
}

int mem_numa_node_of_process(void)
{
#if AIDEV_TEST_HAVE_HWLOC
    hwloc_topology_t t;
    int node = -1;
    if (hwloc_topology_init(&t) != 0)
        return -1;
    if (hwloc_topology_load(t) == 0) {
        hwloc_bitmap_t cpus = hwloc_bitmap_alloc(), nodes = hwloc_bitmap_alloc();
        if (hwloc_get_cpubind(t, cpus, HWLOC_CPUBIND_PROCESS) == 0) {
            hwloc_cpuset_to_nodeset(t, cpus, nodes);
            if (hwloc_bitmap_weight(nodes) == 1)
                node = hwloc_bitmap_first(nodes);
        }
        hwloc_bitmap_free(cpus);
        hwloc_bitmap_free(nodes);
    }
    hwloc_topology_destroy(t);
    return node;
#else
    return -1;
#endif
}

/*
 * cpu_limits.c - the cgroup CPU quota and the allowed CPUs (see
 * cpu_limits.h).
 */
#include "backends/cpu/cpu_limits.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aidev_config.h"

#if AIDEV_HAVE_HWLOC
#include <hwloc.h>
#endif

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */
/* ------------------------------------------------------------------------ */

static uint32_t whole_cpus(unsigned long long quota, unsigned long long period)
{
    if (!period || !quota)
        return 0;
    unsigned long long cpus = (quota + period - 1) / period;
    return cpus > UINT32_MAX ? UINT32_MAX : (uint32_t)cpus;
}

uint32_t cpu_limits_parse_cpu_max(const char *text)
{
    char quota[32];
    unsigned long long period = 0;
    if (!text || sscanf(text, "%31s %llu", quota, &period) != 2 || strcmp(quota, "max") == 0)
        return 0;
    char *end;
    unsigned long long q = strtoull(quota, &end, 10);
    if (end == quota || *end || quota[0] == '-')
        return 0;
    return whole_cpus(q, period);
}

uint32_t cpu_limits_parse_cfs(const char *quota_text, const char *period_text)
{
    long long quota;
    unsigned long long period;
    if (!quota_text || !period_text || sscanf(quota_text, "%lld", &quota) != 1 ||
        sscanf(period_text, "%llu", &period) != 1 || quota <= 0)
        return 0;
    return whole_cpus((unsigned long long)quota, period);
}

/* ------------------------------------------------------------------------ */
/* Finding the files                                                        */
/* ------------------------------------------------------------------------ */

static bool read_text(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(out, 1, size - 1, f);
    fclose(f);
    out[n] = '\0';
    return n > 0;
}

/* Whether the comma-separated |list| holds |word|. */
static bool list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strcspn(p, " \n");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

typedef struct cgroup_mount {
    char root[1024];  /* the cgroup path the mount shows at its top */
    char point[1024]; /* where it is mounted */
} cgroup_mount;

/* The mount of cgroup v2 (|v1_controller| NULL) or of the v1 hierarchy
 * holding |v1_controller|. */
static bool find_mount(const char *mountinfo_file, const char *v1_controller, cgroup_mount *out)
{
    FILE *f = fopen(mountinfo_file, "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        /* "id parent maj:min root point options [optional...] - type source super" */
        char root[1024], point[1024];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) != 2)
            continue;
        const char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char type[64], source[256], super[1024] = "";
        if (sscanf(sep + 3, "%63s %255s %1023s", type, source, super) < 2)
            continue;
        if (v1_controller ? strcmp(type, "cgroup") == 0 && list_has(super, v1_controller)
                          : strcmp(type, "cgroup2") == 0) {
            snprintf(out->root, sizeof out->root, "%s", root);
            snprintf(out->point, sizeof out->point, "%s", point);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* The process's path in cgroup v2 (|v1_controller| NULL) or in the v1
 * hierarchy of |v1_controller|. */
static bool find_path(const char *cgroup_file, const char *v1_controller, char *out, size_t size)
{
    FILE *f = fopen(cgroup_file, "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        /* "hierarchy-id:controllers:path" */
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *controllers = c1 + 1;
        bool match = v1_controller ? list_has(controllers, v1_controller)
                                   : strncmp(line, "0", 1) == 0 && controllers[0] == '\0';
        if (match) {
            snprintf(out, size, "%s", c2 + 1);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* The tightest quota from the process's cgroup up to the mount's top. */
static uint32_t walk_quota(const cgroup_mount *m, const char *path, bool v2)
{
    /* The part of |path| below the mount's root (a namespace may mount a
     * subtree). */
    size_t root_len = strcmp(m->root, "/") == 0 ? 0 : strlen(m->root);
    const char *rel = strncmp(path, m->root, root_len) == 0 ? path + root_len : path;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s", m->point, strcmp(rel, "/") == 0 ? "" : rel);
    size_t top = strlen(m->point);
    uint32_t best = 0;
    for (;;) {
        char file[4200], text[128], period[128];
        uint32_t cpus = 0;
        if (v2) {
            snprintf(file, sizeof file, "%s/cpu.max", dir);
            if (read_text(file, text, sizeof text))
                cpus = cpu_limits_parse_cpu_max(text);
        } else {
            snprintf(file, sizeof file, "%s/cpu.cfs_quota_us", dir);
            bool have = read_text(file, text, sizeof text);
            snprintf(file, sizeof file, "%s/cpu.cfs_period_us", dir);
            if (have && read_text(file, period, sizeof period))
                cpus = cpu_limits_parse_cfs(text, period);
        }
        if (cpus && (!best || cpus < best))
            best = cpus;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < top || strlen(dir) <= top)
            break;
        *slash = '\0';
    }
    return best;
}

uint32_t cpu_limits_cgroup_quota(const char *cgroup_file, const char *mountinfo_file)
{
    uint32_t best = 0;
    cgroup_mount m;
    char path[4096];
    if (find_mount(mountinfo_file, NULL, &m) && find_path(cgroup_file, NULL, path, sizeof path))
        best = walk_quota(&m, path, true);
    if (find_mount(mountinfo_file, "cpu", &m) && find_path(cgroup_file, "cpu", path, sizeof path)) {
        uint32_t v1 = walk_quota(&m, path, false);
        if (v1 && (!best || v1 < best))
            best = v1;
    }
    return best;
}

/* ------------------------------------------------------------------------ */
/* Allowed CPUs                                                             */
/* ------------------------------------------------------------------------ */

uint32_t cpu_limits_allowed_cpus(int *cpus, uint32_t max)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    uint32_t n = 0;
#if AIDEV_HAVE_HWLOC
    /* One PU of every core first: two workers on SMT siblings share one
     * core's units and caches. */
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) == 0) {
        if (hwloc_topology_load(t) == 0) {
            int cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
            for (unsigned round = 0; round < 8 && cores > 0; round++) {
                for (int c = 0; c < cores; c++) {
                    hwloc_obj_t core = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, (unsigned)c);
                    hwloc_obj_t pu = hwloc_get_obj_inside_cpuset_by_type(t, core->cpuset,
                                                                         HWLOC_OBJ_PU, round);
                    if (pu && n < max && CPU_ISSET(pu->os_index, &set)) {
                        cpus[n++] = (int)pu->os_index;
                        CPU_CLR(pu->os_index, &set);
                    }
                }
            }
        }
        hwloc_topology_destroy(t);
    }
#endif
    /* What the topology did not name (or all of it, without hwloc). */
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set))
            cpus[n++] = c;
    return n;
}

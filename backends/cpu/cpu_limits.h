/*
 * cpu_limits.h - how many CPUs this process may really use, and which.
 *
 * A container limited to 2 CPUs sees every CPU of the host in
 * /proc/cpuinfo; what limits it is its cgroup: the CPU quota (cgroup v2
 * "cpu.max", v1 "cpu.cfs_quota_us" / "cpu.cfs_period_us") and the cpuset,
 * which the kernel applies to the affinity mask. The pool runs one worker
 * per CPU it may use, each pinned to one allowed CPU.
 *
 * The parsers take text and paths, so tests feed them fake files.
 */
#ifndef AIDEV_CPU_LIMITS_H
#define AIDEV_CPU_LIMITS_H

#include <stdint.h>

/* Whole CPUs a cgroup v2 "cpu.max" text allows ("150000 100000" -> 2,
 * rounded up); 0 for "max ...", malformed text or a zero period. */
uint32_t cpu_limits_parse_cpu_max(const char *text);

/* Whole CPUs of a cgroup v1 quota and period ("-1" -> 0: no quota). */
uint32_t cpu_limits_parse_cfs(const char *quota_text, const char *period_text);

/* The CPU quota, in whole CPUs, of the cgroup this process is in and of its
 * ancestors up to the root of the mount (the tightest one), through cgroup
 * v2 or the v1 "cpu" controller, as |cgroup_file| (/proc/self/cgroup) and
 * |mountinfo_file| (/proc/self/mountinfo) describe them. 0: no quota. */
uint32_t cpu_limits_cgroup_quota(const char *cgroup_file, const char *mountinfo_file);

/* The CPUs this process may run on (its affinity mask, which the cpuset
 * shapes), in pinning order: one CPU of each core first, then their SMT
 * siblings (with hwloc; else in number order). Returns how many were
 * written to |cpus| (at most |max|); 0 when the mask cannot be read. */
uint32_t cpu_limits_allowed_cpus(int *cpus, uint32_t max);

#endif

/* The CPU backend's pool follows the process's limits: the cgroup CPU quota
 * (parsed from fake files, and, as root, a real cgroup made for a child),
 * the cpuset (the affinity mask a child is started with), and it pins each
 * worker to one allowed CPU. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <aidev/aidev.h>

#include "backends/cpu/cpu_limits.h"

#define ck_assert_ok(expr)                                                                     \
    do {                                                                                       \
        aidev_status st_ = (expr);                                                             \
        ck_assert_msg(st_ == AIDEV_SUCCESS, "%s: %s: %s", #expr, aidev_status_string(st_),     \
                      aidev_last_error());                                                     \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Parsing, on fake files                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(cpu_max_text)
{
    ck_assert_uint_eq(cpu_limits_parse_cpu_max("max 100000\n"), 0);
    ck_assert_uint_eq(cpu_limits_parse_cpu_max("200000 100000\n"), 2);
    ck_assert_uint_eq(cpu_limits_parse_cpu_max("150000 100000"), 2); /* rounded up */
    ck_assert_uint_eq(cpu_limits_parse_cpu_max("50000 100000"), 1);
    ck_assert_uint_eq(cpu_limits_parse_cpu_max("100000 0"), 0);
    ck_assert_uint_eq(cpu_limits_parse_cpu_max("garbage"), 0);
    ck_assert_uint_eq(cpu_limits_parse_cpu_max("-5 100000"), 0);
    ck_assert_uint_eq(cpu_limits_parse_cpu_max(""), 0);
    ck_assert_uint_eq(cpu_limits_parse_cfs("-1\n", "100000\n"), 0);
    ck_assert_uint_eq(cpu_limits_parse_cfs("300000\n", "100000\n"), 3);
    ck_assert_uint_eq(cpu_limits_parse_cfs("1000", "100000"), 1);
    ck_assert_uint_eq(cpu_limits_parse_cfs("x", "100000"), 0);
}
END_TEST

static char tmp_root[256];

static void write_file(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_root, rel);
    /* Make the folders on the way. */
    for (char *p = path + strlen(tmp_root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static uint32_t quota_of(const char *cgroup_text, const char *mountinfo_text)
{
    write_file("proc_cgroup", cgroup_text);
    write_file("mountinfo", mountinfo_text);
    char cg[512], mi[512];
    snprintf(cg, sizeof cg, "%s/proc_cgroup", tmp_root);
    snprintf(mi, sizeof mi, "%s/mountinfo", tmp_root);
    return cpu_limits_cgroup_quota(cg, mi);
}

START_TEST(cgroup_quota_from_fake_tree)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/aidev-cgroup-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
    char mi[2048];

    /* cgroup v2: the tightest of the process's cgroup and its ancestors. */
    snprintf(mi, sizeof mi,
             "22 1 0:21 / /proc rw - proc proc rw\n"
             "30 1 0:26 / %s/v2 rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
             tmp_root);
    write_file("v2/cpu.max", "max 100000\n");
    write_file("v2/a/cpu.max", "250000 100000\n");
    write_file("v2/a/b/cpu.max", "max 100000\n");
    ck_assert_uint_eq(quota_of("0::/a/b\n", mi), 3);
    write_file("v2/a/b/cpu.max", "100000 100000\n");
    ck_assert_uint_eq(quota_of("0::/a/b\n", mi), 1);
    /* No limit anywhere. */
    ck_assert_uint_eq(quota_of("0::/c\n", mi), 0);

    /* A namespace that mounts the subtree /a at the mount point: the
     * process's path is below the mount's root. */
    snprintf(mi, sizeof mi, "30 1 0:26 /a %s/v2/a rw - cgroup2 cgroup2 rw\n", tmp_root);
    write_file("v2/a/b/cpu.max", "max 100000\n");
    ck_assert_uint_eq(quota_of("0::/a/b\n", mi), 3);

    /* cgroup v1: the "cpu" hierarchy, found among others. */
    snprintf(mi, sizeof mi,
             "40 1 0:30 / %s/v1cpu rw - cgroup cgroup rw,cpu,cpuacct\n"
             "41 1 0:31 / %s/v1mem rw - cgroup cgroup rw,memory\n",
             tmp_root, tmp_root);
    write_file("v1cpu/docker/x/cpu.cfs_quota_us", "200000\n");
    write_file("v1cpu/docker/x/cpu.cfs_period_us", "100000\n");
    write_file("v1cpu/docker/cpu.cfs_quota_us", "-1\n");
    write_file("v1cpu/docker/cpu.cfs_period_us", "100000\n");
    ck_assert_uint_eq(quota_of("5:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n0::/\n", mi), 2);

    /* Both, as a hybrid machine mounts them: the tighter wins. */
    snprintf(mi, sizeof mi,
             "30 1 0:26 / %s/v2 rw - cgroup2 cgroup2 rw\n"
             "40 1 0:30 / %s/v1cpu rw - cgroup cgroup rw,cpu,cpuacct\n",
             tmp_root, tmp_root);
    write_file("v2/a/b/cpu.max", "100000 100000\n");
    ck_assert_uint_eq(quota_of("4:cpu,cpuacct:/docker/x\n0::/a/b\n", mi), 1);

    /* Unreadable files: no quota, no crash. */
    ck_assert_uint_eq(cpu_limits_cgroup_quota("/nonexistent/cgroup", "/nonexistent/mi"), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Real limits, seen by a child                                             */
/* ------------------------------------------------------------------------ */

static uint32_t allowed_count(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? (uint32_t)CPU_COUNT(&set) : 0;
}

/* Runs this program as a child that prints the CPU device's compute units;
 * before exec, the child joins |cgroup_procs| (when not NULL) and runs on
 * |cpu| only (when >= 0). Returns the count, or 0 on failure. */
static uint32_t child_units(const char *cgroup_procs, int cpu)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        if (cgroup_procs) {
            int fd = open(cgroup_procs, O_WRONLY);
            if (fd < 0 || write(fd, "0", 1) != 1)
                _exit(3);
            close(fd);
        }
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0)
                _exit(4);
        }
        execl("/proc/self/exe", "test-cpu-limits", "--print-cpu-units", (char *)NULL);
        _exit(5);
    }
    close(fds[1]);
    char out[64] = "";
    ssize_t n = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit status %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return n > 0 ? (uint32_t)strtoul(out, NULL, 10) : 0;
}

static int print_cpu_units(void)
{
    aidev_context_desc desc = {.backends = "cpu"};
    aidev_context ctx;
    aidev_device dev;
    uint32_t units = 0;
    if (aidev_context_create(&desc, &ctx) != AIDEV_SUCCESS ||
        aidev_context_get_device(ctx, 0, &dev) != AIDEV_SUCCESS ||
        aidev_device_get_info(dev, AIDEV_DEVICE_INFO_COMPUTE_UNITS, sizeof units, &units, NULL) !=
            AIDEV_SUCCESS) {
        fprintf(stderr, "child: %s\n", aidev_last_error());
        return 1;
    }
    printf("%u\n", units);
    aidev_context_release(ctx);
    /* The answer is out; drivers' own leaks at exit (under a leak checker)
     * are not this child's question. */
    fflush(stdout);
    _exit(0);
}

START_TEST(cpuset_limits_workers)
{
    unsetenv("AIDEV_CPU_THREADS");
    uint32_t n = allowed_count();
    ck_assert_uint_eq(child_units(NULL, -1), n);
    if (n < 2) {
        printf("cpuset_limits_workers: only %u CPU allowed; a smaller set cannot be shown\n", n);
        return;
    }
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    int first = 0;
    while (!CPU_ISSET(first, &set))
        first++;
    ck_assert_uint_eq(child_units(NULL, first), 1);
    setenv("AIDEV_CPU_THREADS", "3", 1);
    ck_assert_uint_eq(child_units(NULL, first), 3);
    unsetenv("AIDEV_CPU_THREADS");
}
END_TEST

/* AIDEV_CPU_THREADS through the strict parser: capped at 4 workers per CPU
 * the process may use (100000 once made 100000 threads; 2^32+1 wrapped to
 * 1), and refused, the default kept, when it is not digits alone. Run in
 * children, as the cases above, and a context here for the reports. */
START_TEST(threads_from_environment_are_strict)
{
    unsetenv("AIDEV_CPU_THREADS");
    const uint32_t fallback = child_units(NULL, -1), cap = 4 * allowed_count();
    const struct {
        const char *value;
        uint32_t workers;
    } cases[] = {
        {"3", 3},           {"64", cap < 64 ? cap : 64}, {"4294967297", cap},
        {"99999999999999999999999", cap}, {"0", fallback}, {"-1", fallback},
        {"abc", fallback},  {"3x", fallback},            {" 3", fallback},
        {"+3", fallback},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("AIDEV_CPU_THREADS", cases[i].value, 1);
        ck_assert_msg(child_units(NULL, -1) == cases[i].workers,
                      "AIDEV_CPU_THREADS='%s': %u workers, want %u", cases[i].value,
                      child_units(NULL, -1), cases[i].workers);
        /* Anything not taken as it is, is listed. */
        aidev_context ctx;
        aidev_context_desc desc = {.backends = "cpu"};
        ck_assert_int_eq(aidev_context_create(&desc, &ctx), AIDEV_SUCCESS);
        uint32_t n = 0;
        ck_assert_int_eq(aidev_environment_get_reports(&n, NULL), AIDEV_SUCCESS);
        aidev_environment_report *r = calloc(n ? n : 1, sizeof *r);
        ck_assert_int_eq(aidev_environment_get_reports(&n, r), AIDEV_SUCCESS);
        bool listed = false;
        for (uint32_t k = 0; k < n; k++)
            listed |= strcmp(r[k].name, "AIDEV_CPU_THREADS") == 0 &&
                      strcmp(r[k].value, cases[i].value) == 0;
        bool taken = strcmp(cases[i].value, "3") == 0 ||
                     (strcmp(cases[i].value, "64") == 0 && cap >= 64);
        ck_assert_msg(listed == !taken, "AIDEV_CPU_THREADS='%s' %s listed", cases[i].value,
                      listed ? "is" : "is not");
        free(r);
        aidev_context_release(ctx);
    }
    unsetenv("AIDEV_CPU_THREADS");
}
END_TEST

/* The cgroup the test made, removed after the test whatever its outcome
 * (a checked fixture runs after a failure too). */
static char made_cgroup[1200];

static void remove_cgroup(void)
{
    if (made_cgroup[0])
        rmdir(made_cgroup);
    made_cgroup[0] = '\0';
}

/* The cgroup folder of this process for the "cpu" controller, made
 * writable for a child cgroup: v2 when it offers "cpu", else v1. */
static bool make_cpu_cgroup(char *dir, size_t size, bool *v2)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096], v2_point[1024] = "", v1_point[1024] = "";
    while (f && fgets(line, sizeof line, f)) {
        char point[1024];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s", point) != 1)
            continue;
        if (strncmp(sep, " - cgroup2 ", 11) == 0)
            snprintf(v2_point, sizeof v2_point, "%s", point);
        else if (strncmp(sep, " - cgroup ", 10) == 0 &&
                 (strstr(sep, ",cpu,") || strstr(sep, ",cpu\n") || strstr(sep, ",cpu ")))
            snprintf(v1_point, sizeof v1_point, "%s", point);
    }
    if (f)
        fclose(f);
    char path[1500], ctl[256] = "";
    if (v2_point[0]) {
        snprintf(path, sizeof path, "%s/cgroup.controllers", v2_point);
        FILE *c = fopen(path, "r");
        if (c) {
            if (!fgets(ctl, sizeof ctl, c))
                ctl[0] = '\0';
            fclose(c);
        }
    }
    *v2 = strstr(ctl, "cpu") != NULL;
    const char *base = *v2 ? v2_point : v1_point;
    if (!base[0]) {
        printf("cgroup: skipped: no cgroup hierarchy with the cpu controller is mounted\n");
        return false;
    }
    if (*v2) {
        /* Children of the top cgroup get "cpu" through subtree_control. */
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", base);
        int fd = open(path, O_WRONLY);
        bool ok = fd >= 0 && write(fd, "+cpu", 4) == 4;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            printf("cgroup: skipped: cannot enable cpu in %s: %s\n", path, strerror(errno));
            return false;
        }
    }
    snprintf(dir, size, "%s/aidev-test-%d", base, (int)getpid());
    if (mkdir(dir, 0755) != 0) {
        printf("cgroup: skipped: mkdir %s: %s\n", dir, strerror(errno));
        return false;
    }
    snprintf(made_cgroup, sizeof made_cgroup, "%s", dir);
    return true;
}

static bool write_text(const char *dir, const char *file, const char *text)
{
    char path[1600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    return ok;
}

START_TEST(container_quota_limits_workers)
{
    unsetenv("AIDEV_CPU_THREADS");
    if (geteuid() != 0) {
        printf("container_quota_limits_workers: skipped: making a cgroup needs root\n");
        return;
    }
    if (allowed_count() < 2) {
        printf("container_quota_limits_workers: skipped: 1 CPU; a quota below it cannot show\n");
        return;
    }
    char dir[1200];
    bool v2;
    if (!make_cpu_cgroup(dir, sizeof dir, &v2))
        return;
    /* One CPU's worth of time per period. */
    bool set = v2 ? write_text(dir, "cpu.max", "100000 100000")
                  : write_text(dir, "cpu.cfs_period_us", "100000") &&
                        write_text(dir, "cpu.cfs_quota_us", "100000");
    uint32_t units = 0;
    if (set) {
        char procs[1300];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
        units = child_units(procs, -1);
    } else {
        printf("container_quota_limits_workers: skipped: cannot set the quota in %s\n", dir);
    }
    remove_cgroup();
    if (set)
        ck_assert_msg(units == 1, "a child in a cgroup (%s) of 1 CPU runs %u workers",
                      v2 ? "v2 cpu.max" : "v1 cfs quota", units);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Pinning                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct seen {
    pthread_mutex_t lock;
    int worker_calls;
    int worker_cpu_counts[64];
    int worker_cpus[64];
} seen;
static seen seen_by;

static void record_thread(void *const *args, const aidev_host_range *range)
{
    (void)args;
    (void)range;
    /* Long enough that the worker gets a chunk before the caller takes
     * them all. */
    usleep(2000);
    char name[32] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    if (strncmp(name, "aidev-cpu-w", 11) != 0)
        return;
    cpu_set_t set;
    pthread_getaffinity_np(pthread_self(), sizeof set, &set);
    pthread_mutex_lock(&seen_by.lock);
    if (seen_by.worker_calls < 64) {
        int first = 0;
        while (first < CPU_SETSIZE && !CPU_ISSET(first, &set))
            first++;
        seen_by.worker_cpu_counts[seen_by.worker_calls] = CPU_COUNT(&set);
        seen_by.worker_cpus[seen_by.worker_calls] = first;
    }
    seen_by.worker_calls++;
    pthread_mutex_unlock(&seen_by.lock);
}

/* Runs dispatches until a pool worker ran a chunk; returns its affinity
 * count and first CPU. */
static void worker_affinity(int *count, int *cpu)
{
    aidev_context_desc desc = {.backends = "cpu"};
    aidev_context ctx;
    aidev_device dev;
    ck_assert_ok(aidev_context_create(&desc, &ctx));
    ck_assert_ok(aidev_context_get_device(ctx, 0, &dev));
    const aidev_kernel_arg_desc sig[] = {{"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL}};
    aidev_kernel_desc kd = {.name = "record_thread", .source_kind = AIDEV_KERNEL_SOURCE_HOST,
                            .host_fn = record_thread, .arg_count = 1, .args = sig,
                            .grid = {"n", NULL, NULL}};
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_create(dev, &kd, &k));
    aidev_queue q;
    ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    pthread_mutex_lock(&seen_by.lock);
    seen_by.worker_calls = 0;
    pthread_mutex_unlock(&seen_by.lock);
    aidev_arg args[] = {aidev_arg_u32(1u << 16)};
    for (int i = 0; i < 200 && seen_by.worker_calls == 0; i++) {
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 1, args, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
    }
    ck_assert_msg(seen_by.worker_calls > 0, "no pool worker ran a chunk in 200 dispatches");
    *count = seen_by.worker_cpu_counts[0];
    *cpu = seen_by.worker_cpus[0];
    ck_assert_ok(aidev_context_release(ctx));
}

START_TEST(workers_pinned_to_allowed_cpus)
{
    unsetenv("AIDEV_CPU_THREADS");
    unsetenv("AIDEV_CPU_PIN");
    uint32_t n = allowed_count();
    if (n < 2) {
        printf("workers_pinned: skipped: 1 CPU, so no pool workers\n");
        return;
    }
    cpu_set_t allowed;
    sched_getaffinity(0, sizeof allowed, &allowed);
    int count, cpu;
    worker_affinity(&count, &cpu);
    ck_assert_msg(count == 1, "a pool worker may run on %d CPUs, want 1", count);
    ck_assert_msg(CPU_ISSET(cpu, &allowed), "a pool worker is pinned to CPU %d, not allowed",
                  cpu);
    /* AIDEV_CPU_PIN=0: placement left to the scheduler. */
    setenv("AIDEV_CPU_PIN", "0", 1);
    worker_affinity(&count, &cpu);
    unsetenv("AIDEV_CPU_PIN");
    ck_assert_int_eq(count, (int)n);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-cpu-units") == 0)
        return print_cpu_units();
    pthread_mutex_init(&seen_by.lock, NULL);
    Suite *s = suite_create("cpu_limits");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, remove_cgroup);
    atexit(remove_cgroup);
    tcase_add_test(tc, cpu_max_text);
    tcase_add_test(tc, cgroup_quota_from_fake_tree);
    tcase_add_test(tc, cpuset_limits_workers);
    tcase_add_test(tc, threads_from_environment_are_strict);
    tcase_add_test(tc, container_quota_limits_workers);
    tcase_add_test(tc, workers_pinned_to_allowed_cpus);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

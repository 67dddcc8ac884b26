/*
 * bench_sched.c - the sched.* rows: makespans of the placement DAGs
 * (dag.h), by aidev with explicit placements and by StarPU's dmda, in the
 * same run. For each DAG (tiled_sgemm: 2048^2 in 512^2 tiles; dag_mix: a
 * tiled sgemm beside elementwise chains and a reduction):
 *
 *   sched.DAG_device  (every device) the DAG with every task on the device,
 *                     against StarPU's dmda on its CPU and OpenCL workers;
 *   sched.DAG_single  the best of those on the real devices, against the
 *                     same dmda figure: what placement must never lose to;
 *   sched.DAG_starpu  dmda on StarPU's CPU and OpenCL workers (OpenCL on
 *                     PoCL, STARPU_OPENCL_ON_CPUS=1), against StarPU on its
 *                     CPU workers alone: what dmda's placement costs where
 *                     the devices share the host's cores (the text output
 *                     says how many tasks dmda gave the OpenCL workers);
 *   sched.DAG_sim_split  (AIDEV_SIM_DEVICES with two devices or more: A,
 *                     the first, B, the second) the DAG's independent parts
 *                     split, part 0 on A and part 1 on B, data starting on
 *                     B, against the better of all on A and all on B.
 *
 * Makespan: from the first submission until every task has completed and
 * every output is in host memory; inputs start in host memory (aidev shares
 * them in place on devices whose memory is host memory, as StarPU's CPU
 * workers do; other devices get them copied in the makespan, as StarPU's
 * OpenCL workers do). Kernels, buffers and StarPU's calibration come before
 * the clock. Every run's outputs are checked: aidev's against the CPU
 * device's run, StarPU's against the DAG run on the host.
 *
 * StarPU runs in a child process (bench_sched.h), before aidev's side is timed,
 * so none of its spinning workers is alive then. Without StarPU the rows
 * that compare with it are skipped with the reason.
 *
 * The placement work of issue 16 adds sched.DAG: the DAG with no device
 * named, under aidev's default policy, against the same dmda figure
 * (sched_figures.starpu_dmda below).
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <aidev/aidev_backend.h>

#include "aidev_config.h"

#include "bench.h"
#include "bench_sched.h"

#define SCHED_MAX_DEVICES 16
#define SCHED_UNIT "ms (lower is better)"
/* aidev's runs of a DAG on one placement: up to SCHED_MAX_RUNS after the
 * first, within SCHED_BUDGET_SECONDS; one where the first is slower than
 * SCHED_SLOW_SECONDS (PoCL and lavapipe take 10-20 s for the tiled sgemm
 * here: their figure is then the first run's). */
#define SCHED_MAX_RUNS 5
#define SCHED_BUDGET_SECONDS 3.0
#define SCHED_SLOW_SECONDS 1.0

extern char **environ;

dag *sched_bench_dag(const char *name, bool quick)
{
    if (strcmp(name, "tiled_sgemm") == 0)
        return quick ? dag_tiled_sgemm(256, 64, 1) : dag_tiled_sgemm(2048, 512, 1);
    if (strcmp(name, "dag_mix") == 0)
        return quick ? dag_mix(128, 32, 16384, 2) : dag_mix(1024, 256, 1u << 20, 2);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* StarPU, in a child process                                               */
/* ------------------------------------------------------------------------ */

typedef struct starpu_figures {
    bool ok;
    bool absent;        /* built without StarPU */
    char reason[512];   /* why not, when !ok */
    unsigned cpu_workers, opencl_workers, tasks;
    double makespan_ms; /* median of the timed runs */
    double opencl_tasks_min, opencl_tasks_max;
} starpu_figures;

/* Where StarPU keeps its calibration (performance models, bus
 * measurements): the build folder's bench/starpu-home when this
 * aidev-bench is the build tree's, else aidev's cache folder; never the
 * user's own ~/.starpu. */
static void starpu_home_dir(char *out, size_t size)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    size_t root = strlen(AIDEV_BUILD_ROOT);
    if (strncmp(self, AIDEV_BUILD_ROOT, root) == 0 && self[root] == '/') {
        snprintf(out, size, "%s/bench/starpu-home", AIDEV_BUILD_ROOT);
    } else {
        char cache[4000];
        if (aidev_backend_cache_dir(cache, sizeof cache))
            snprintf(out, size, "%s/starpu-home", cache);
        else
            snprintf(out, size, "/tmp/aidev-bench-starpu-%u", (unsigned)getuid());
    }
    mkdir(out, 0700);
}

/* The child's settings, each "NAME=value". */
typedef struct starpu_settings {
    char home[4200], cache[4200], pocl_cache[4200];
} starpu_settings;

/* The child's environment: the parent's, less any STARPU_ setting, with
 * StarPU's home set (StarPU 1.3 keeps its .starpu folder in XDG_CACHE_HOME
 * when set, else in STARPU_HOME: both point there), PoCL's kernel cache
 * where it is for this process (PoCL follows XDG_CACHE_HOME too: without
 * this, StarPU's runs would compile every kernel again), OpenCL on CPU
 * devices, and quiet. */
static char **starpu_environment(starpu_settings *set)
{
    char dir[4096];
    starpu_home_dir(dir, sizeof dir);
    snprintf(set->home, sizeof set->home, "STARPU_HOME=%s", dir);
    snprintf(set->cache, sizeof set->cache, "XDG_CACHE_HOME=%s", dir);
    const char *pocl = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (pocl)
        snprintf(set->pocl_cache, sizeof set->pocl_cache, "POCL_CACHE_DIR=%s", pocl);
    else if (xdg && *xdg)
        snprintf(set->pocl_cache, sizeof set->pocl_cache, "POCL_CACHE_DIR=%s/pocl/kcache", xdg);
    else
        snprintf(set->pocl_cache, sizeof set->pocl_cache, "POCL_CACHE_DIR=%s/.cache/pocl/kcache",
                 home ? home : "/tmp");
    static const char *fixed[] = {"STARPU_OPENCL_ON_CPUS=1", "STARPU_SILENT=1"};
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 6, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "STARPU_", 7) != 0 && strncmp(environ[i], "XDG_CACHE_HOME=", 15) &&
            strncmp(environ[i], "POCL_CACHE_DIR=", 15))
            env[k++] = environ[i];
    env[k++] = set->home;
    env[k++] = set->cache;
    env[k++] = set->pocl_cache;
    env[k++] = (char *)fixed[0];
    env[k++] = (char *)fixed[1];
    return env;
}

/* Reads the child's output until it closes. */
static char *read_all(int fd)
{
    size_t size = 0, cap = 4096;
    char *out = malloc(cap);
    while (out) {
        if (size + 1 == cap) {
            char *grown = realloc(out, cap *= 2);
            if (!grown) {
                free(out);
                return NULL;
            }
            out = grown;
        }
        ssize_t got = read(fd, out + size, cap - size - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size += (size_t)got;
    }
    if (out)
        out[size] = '\0';
    return out;
}

static int compare_ms(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses the child's result line into |f|. */
static bool parse_result(const char *line, starpu_figures *f)
{
    int runs = 0, used = 0;
    if (sscanf(line, "starpu-result cpu_workers=%u opencl_workers=%u tasks=%u runs=%d makespans_ms=%n",
               &f->cpu_workers, &f->opencl_workers, &f->tasks, &runs, &used) != 4 ||
        runs < 1 || runs > 16)
        return false;
    double ms[16];
    const char *p = line + used;
    for (int i = 0; i < runs; i++) {
        char *end;
        ms[i] = strtod(p, &end);
        if (end == p)
            return false;
        p = *end == ',' ? end + 1 : end;
    }
    if (strncmp(p, " opencl_tasks=", 14) != 0)
        return false;
    p += 14;
    f->opencl_tasks_min = INFINITY;
    f->opencl_tasks_max = 0;
    for (int i = 0; i < runs; i++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            return false;
        f->opencl_tasks_min = fmin(f->opencl_tasks_min, v);
        f->opencl_tasks_max = fmax(f->opencl_tasks_max, v);
        p = *end == ',' ? end + 1 : end;
    }
    qsort(ms, (size_t)runs, sizeof ms[0], compare_ms);
    f->makespan_ms = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    return true;
}

/* Runs |dag_name| under StarPU (|config|: "dmda" or "cpu") in a child. */
static void starpu_measure(const bench_options *opt, const char *dag_name, const char *config,
                           starpu_figures *f)
{
    memset(f, 0, sizeof *f);
#ifndef AIDEV_BENCH_STARPU
    (void)opt;
    (void)dag_name;
    (void)config;
    f->absent = true;
    snprintf(f->reason, sizeof f->reason,
             "built without StarPU (Debian libstarpu-dev, pkg-config starpu-1.3)");
#else
    starpu_settings settings;
    char **env = starpu_environment(&settings);
    int pipe_fds[2];
    if (!env || pipe(pipe_fds) != 0) {
        free(env);
        snprintf(f->reason, sizeof f->reason, "could not start StarPU's process: %s",
                 strerror(errno));
        return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    char *argv[] = {"aidev-bench", SCHED_STARPU_CHILD_FLAG, (char *)dag_name, (char *)config,
                    opt->quick ? "1" : "0", NULL};
    pid_t pid;
    int err = posix_spawn(&pid, "/proc/self/exe", &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    free(env);
    char *out = err ? NULL : read_all(pipe_fds[0]);
    close(pipe_fds[0]);
    int status = 0;
    if (!err)
        waitpid(pid, &status, 0);
    const char *line = out ? strstr(out, "starpu-result ") : NULL;
    const char *error = out ? strstr(out, "starpu-error ") : NULL;
    if (err) {
        snprintf(f->reason, sizeof f->reason, "posix_spawn of /proc/self/exe: %s", strerror(err));
    } else if (line && WIFEXITED(status) && WEXITSTATUS(status) == 0 && parse_result(line, f)) {
        f->ok = true;
    } else {
        /* The child's own words, to its first line break. */
        const char *why = error ? error + 13 : out && *out ? out : "no output";
        snprintf(f->reason, sizeof f->reason, "StarPU (%s) exited with status %d: %.*s", config,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, (int)strcspn(why, "\n"), why);
    }
    free(out);
#endif
}

/* ------------------------------------------------------------------------ */
/* aidev, explicit placements                                               */
/* ------------------------------------------------------------------------ */

typedef struct sched_device {
    aidev_device dev;
    char name[256], backend[32];
    double ms; /* all tasks on it; < 0: failed */
} sched_device;

/* The median makespan of |g| over |devices| placed by |place| (with
 * |home|), its outputs checked against |ref| (NULL: none); < 0 on failure,
 * said on stderr. The runner is kept in |*keep| when |keep| is not NULL. */
static double aidev_makespan(const bench_options *opt, const dag *g, const aidev_device *devices,
                             uint32_t count, const uint32_t *place, const int32_t *home,
                             const dag_runner *ref, dag_runner **keep)
{
    dag_run_options options = {.share_host_memory = true};
    dag_runner *r = NULL;
    double samples[SCHED_MAX_RUNS], first = 0;
    int runs = 0;
    aidev_status st = dag_runner_create(g, devices, count, &options, &r);
    /* The first run warms caches (kernels and buffers are made before any
     * clock starts). A device that needs longer than SCHED_SLOW_SECONDS
     * for it gets no more: its first run is its figure. */
    if (st == AIDEV_SUCCESS)
        st = dag_runner_run(r, place, home, &first);
    bool more = !opt->quick && first <= SCHED_SLOW_SECONDS;
    if (st == AIDEV_SUCCESS && !more)
        samples[runs++] = first * 1e3;
    for (double spent = 0;
         st == AIDEV_SUCCESS && more && runs < SCHED_MAX_RUNS && spent < SCHED_BUDGET_SECONDS;
         runs++) {
        double s;
        st = dag_runner_run(r, place, home, &s);
        samples[runs] = s * 1e3;
        spent += s;
    }
    char why[512];
    if (st != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: sched %s: %s: %s\n", g->name, aidev_status_string(st),
                aidev_last_error());
    } else if (ref && !dag_runner_agree(r, ref, why, sizeof why)) {
        fprintf(stderr, "aidev-bench: sched: outputs differ from the CPU device's run: %s\n", why);
        st = AIDEV_ERROR_BACKEND;
    }
    if (keep && st == AIDEV_SUCCESS)
        *keep = r;
    else
        dag_runner_destroy(r);
    return st == AIDEV_SUCCESS ? bench_median(samples, runs) : -1;
}

/* Every device alone; the CPU device first, as everyone's reference. */
static uint32_t measure_devices(const bench_options *opt, const dag *g, sched_device *out)
{
    aidev_device devs[SCHED_MAX_DEVICES];
    uint32_t count = SCHED_MAX_DEVICES;
    aidev_context_get_devices(opt->context, &count, devs);
    for (uint32_t i = 0; i < count; i++)
        bench_device_names(devs[i], out[i].name, sizeof out[i].name, out[i].backend,
                           sizeof out[i].backend);
    /* The CPU device to the front. */
    for (uint32_t i = 1; i < count; i++)
        if (strcmp(out[i].backend, "cpu") == 0) {
            sched_device cpu = out[i];
            aidev_device d = devs[i];
            memmove(&out[1], &out[0], i * sizeof out[0]);
            memmove(&devs[1], &devs[0], i * sizeof devs[0]);
            out[0] = cpu;
            devs[0] = d;
        }
    uint32_t *place = calloc(g->task_count, sizeof *place);
    if (!place)
        return 0;
    dag_runner *ref = NULL;
    for (uint32_t i = 0; i < count; i++) {
        out[i].dev = devs[i];
        out[i].ms = aidev_makespan(opt, g, &devs[i], 1, place, NULL, ref, ref ? NULL : &ref);
    }
    dag_runner_destroy(ref);
    free(place);
    return count;
}

/* The parts split over the first two simulated devices, data on B. */
static void sim_split(const bench_options *opt, const dag *g, const char *row)
{
    aidev_device all[SCHED_MAX_DEVICES], sims[2];
    uint32_t count = SCHED_MAX_DEVICES, n = 0;
    aidev_context_get_devices(opt->context, &count, all);
    char a_name[256] = "", backend[32];
    for (uint32_t i = 0; i < count && n < 2; i++) {
        char name[256];
        bench_device_names(all[i], name, sizeof name, backend, sizeof backend);
        if (strcmp(backend, "sim") != 0)
            continue;
        if (!n)
            snprintf(a_name, sizeof a_name, "%s", name);
        sims[n++] = all[i];
    }
    uint32_t *place = calloc(g->task_count, sizeof *place);
    int32_t *home = calloc(g->data_count, sizeof *home);
    if (n < 2 || !place || !home) {
        free(place);
        free(home);
        return;
    }
    for (uint32_t i = 0; i < g->data_count; i++)
        home[i] = 1;
    double on_a = aidev_makespan(opt, g, sims, 2, place, home, NULL, NULL);
    for (uint32_t t = 0; t < g->task_count; t++)
        place[t] = 1;
    double on_b = aidev_makespan(opt, g, sims, 2, place, home, NULL, NULL);
    for (uint32_t t = 0; t < g->task_count; t++)
        place[t] = g->tasks[t].part;
    double split = aidev_makespan(opt, g, sims, 2, place, home, NULL, NULL);
    free(place);
    free(home);
    if (on_a < 0 || on_b < 0 || split < 0)
        return;
    bench_row r = {row, a_name, "sim", split, SCHED_UNIT,
                   on_a <= on_b ? "all on A (data on B)" : "all on B (data on B)",
                   fmin(on_a, on_b)};
    bench_emit(opt, &r);
}

/* The rows that compare with StarPU: StarPU first, in its own process, so
 * it is gone before aidev is timed; then every device alone. */
static void starpu_rows(const bench_options *opt, const dag *g, const char *dag_name)
{
    starpu_figures dmda, cpu_only;
    starpu_measure(opt, dag_name, "dmda", &dmda);
    if (dmda.ok)
        starpu_measure(opt, dag_name, "cpu", &cpu_only);
    if (!dmda.ok || !cpu_only.ok) {
        const starpu_figures *f = dmda.ok ? &cpu_only : &dmda;
        /* Absent, the rows are skipped; present and failing, it is an
         * error of the bench. */
        if (f->absent && !opt->json)
            printf("sched.%s_{device,single,starpu}: skipped: %s\n", dag_name, f->reason);
        else if (!f->absent)
            fprintf(stderr, "aidev-bench: sched.%s: %s\n", dag_name, f->reason);
        return;
    }
    char row[64], single[64];
    snprintf(row, sizeof row, "sched.%s_device", dag_name);
    snprintf(single, sizeof single, "sched.%s_single", dag_name);
    sched_device devs[SCHED_MAX_DEVICES];
    uint32_t count = bench_selected(opt, row) || bench_selected(opt, single)
                         ? measure_devices(opt, g, devs)
                         : 0;
    const char *dmda_name = "starpu dmda, cpu+opencl workers";
    const sched_device *best = NULL;
    for (uint32_t i = 0; i < count; i++) {
        if (devs[i].ms < 0)
            continue;
        bench_row r = {row, devs[i].name, devs[i].backend, devs[i].ms, SCHED_UNIT, dmda_name,
                       dmda.makespan_ms};
        if (bench_selected(opt, row))
            bench_emit(opt, &r);
        /* A simulated device's time is made up: not a real best. */
        if (strcmp(devs[i].backend, "sim") != 0 && (!best || devs[i].ms < best->ms))
            best = &devs[i];
    }
    if (best && bench_selected(opt, single)) {
        bench_row r = {single, best->name, best->backend, best->ms, SCHED_UNIT, dmda_name,
                       dmda.makespan_ms};
        bench_emit(opt, &r);
    }
    snprintf(row, sizeof row, "sched.%s_starpu", dag_name);
    if (bench_selected(opt, row)) {
        char workers[128];
        snprintf(workers, sizeof workers, "StarPU: %u cpu + %u opencl workers", dmda.cpu_workers,
                 dmda.opencl_workers);
        bench_row r = {row, workers, "starpu", dmda.makespan_ms, SCHED_UNIT,
                       "starpu dmda, cpu workers only", cpu_only.makespan_ms};
        bench_emit(opt, &r);
        if (!opt->json)
            printf("%-34s   dmda gave %g to %g of %u tasks to the OpenCL workers\n", "",
                   dmda.opencl_tasks_min, dmda.opencl_tasks_max, dmda.tasks);
    }
}

/* The rows of one DAG, as --only selects them. */
static void sched_rows(const bench_options *opt, const char *dag_name)
{
    char row[64];
    static const char *const with_starpu[] = {"_device", "_single", "_starpu"};
    bool starpu = false;
    for (size_t i = 0; i < sizeof with_starpu / sizeof with_starpu[0]; i++) {
        snprintf(row, sizeof row, "sched.%s%s", dag_name, with_starpu[i]);
        starpu |= bench_selected(opt, row);
    }
    char split_row[64];
    snprintf(split_row, sizeof split_row, "sched.%s_sim_split", dag_name);
    bool split = bench_selected(opt, split_row);
    if (!starpu && !split)
        return;
    dag *g = sched_bench_dag(dag_name, opt->quick);
    if (!g) {
        fprintf(stderr, "aidev-bench: sched: no DAG '%s' (out of memory?)\n", dag_name);
        return;
    }
    if (starpu)
        starpu_rows(opt, g, dag_name);
    if (split)
        sim_split(opt, g, split_row);
    dag_free(g);
}

void bench_sched(const bench_options *opt)
{
    sched_rows(opt, "tiled_sgemm");
    sched_rows(opt, "dag_mix");
}

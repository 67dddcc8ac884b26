/*
 * bench_quiesce.c - waiting until the process's other threads are idle
 * before a row that measures a few microseconds.
 *
 * Libraries loaded with aidev start threads that spin for a while: the
 * OpenBLAS pool (libaidev links OpenBLAS) polls in sched_yield() for about
 * 2^28 cycles after the library loads and after each BLAS call, and the
 * OpenMP runtime's threads spin after each parallel region
 * (OMP_WAIT_POLICY). A row taken inside that window shares the machine's
 * cores with them: on 2 vCPUs, cpu.pipelined_dispatch measured 0.5-0.7M
 * dispatches/s in it and 2.3M out of it, depending only on when the row
 * ran (issue 15 notes). The rows wait for the window to end instead.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* Threads of this process, other than the caller, that are running or
 * runnable now ('R' in /proc/self/task/TID/stat); -1 when /proc cannot be
 * read. */
static int bench_running_threads(void)
{
    DIR *dir = opendir("/proc/self/task");
    if (!dir)
        return -1;
    long self = syscall(SYS_gettid);
    int running = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (*end || tid <= 0 || tid == self)
            continue;
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread ended meanwhile */
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = '\0';
        /* "tid (comm) S ...": the state follows the last ')'. */
        const char *close = strrchr(stat, ')');
        if (close && close[1] == ' ' && close[2] == 'R')
            running++;
    }
    closedir(dir);
    return running;
}

bool bench_quiesce_threads(double max_s)
{
    const struct timespec tick = {0, 1000000}; /* 1 ms */
    double deadline = bench_now() + max_s;
    int quiet_ticks = 0;
    /* Quiet: no other thread running at 20 looks 1 ms apart in a row. */
    while (quiet_ticks < 20) {
        int running = bench_running_threads();
        if (running < 0)
            return false;
        quiet_ticks = running == 0 ? quiet_ticks + 1 : 0;
        if (bench_now() > deadline)
            return false;
        nanosleep(&tick, NULL);
    }
    return true;
}

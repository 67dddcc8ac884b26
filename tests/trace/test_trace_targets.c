/*
 * test_trace_targets.c - AIDEV_TRACE never blocks a program, and a trace
 * that cannot be written says so once on stderr.
 *
 * AIDEV_TRACE is read once per process, so each case runs a child: it
 * traces commands on every device, releases its context (which writes the
 * trace) and exits (which writes it again). The parent gives it a
 * deadline, then reads what it said on stderr.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <aidev/aidev.h>

#define DEADLINE_S 60
#define MESSAGE "aidev: AIDEV_TRACE="

/* The child: |commands| barriers with events on every device, waited. */
static int traced_workload(int commands)
{
    aidev_context ctx;
    if (aidev_context_create(NULL, &ctx) != AIDEV_SUCCESS)
        return 2;
    uint32_t n = 0;
    aidev_context_get_devices(ctx, &n, NULL);
    for (uint32_t d = 0; d < n; d++) {
        aidev_device dev;
        aidev_queue q;
        if (aidev_context_get_device(ctx, d, &dev) != AIDEV_SUCCESS ||
            aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q) != AIDEV_SUCCESS)
            return 3;
        for (int i = 0; i < commands; i++) {
            aidev_event ev;
            if (aidev_enqueue_barrier(q, 0, NULL, &ev) != AIDEV_SUCCESS ||
                aidev_event_wait(ev, AIDEV_WAIT_FOREVER) != AIDEV_SUCCESS)
                return 4;
            aidev_event_release(ev);
        }
        aidev_queue_release(q);
    }
    return aidev_context_release(ctx) == AIDEV_SUCCESS ? 0 : 5;
}

typedef struct child_run {
    bool finished;  /* within the deadline */
    int exit_code;
    char err[8192]; /* its stderr */
} child_run;

/* Runs the workload in a child with AIDEV_TRACE=|target|. */
static void run_traced(const char *target, int commands, child_run *out)
{
    memset(out, 0, sizeof *out);
    int errpipe[2];
    ck_assert_int_eq(pipe(errpipe), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(errpipe[1], STDERR_FILENO);
        close(errpipe[0]);
        setenv("AIDEV_TRACE", target, 1);
        int code = traced_workload(commands);
        exit(code); /* atexit: the trace is written once more */
    }
    close(errpipe[1]);
    int status = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            out->finished = true;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > DEADLINE_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    out->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof out->err - 1 &&
           (n = read(errpipe[0], out->err + got, sizeof out->err - 1 - got)) > 0)
        got += (size_t)n;
    close(errpipe[0]);
}

static int count_of(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A folder of the build tree for this run's files. */
static const char *scratch(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *root = getenv("AIDEV_TEST_BUILD_ROOT");
        snprintf(dir, sizeof dir, "%s/trace-targets-XXXXXX", root ? root : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    return dir;
}

static void expect_reported_once(const char *target, const char *reason)
{
    child_run run;
    run_traced(target, 4, &run);
    ck_assert_msg(run.finished, "AIDEV_TRACE=%s: the program did not end within %d s", target,
                  DEADLINE_S);
    ck_assert_msg(run.exit_code == 0, "AIDEV_TRACE=%s: the program failed (%d): %s", target,
                  run.exit_code, run.err);
    ck_assert_msg(count_of(run.err, MESSAGE) == 1,
                  "AIDEV_TRACE=%s: said %d times that the trace cannot be written: \"%s\"",
                  target, count_of(run.err, MESSAGE), run.err);
    ck_assert_msg(strstr(run.err, reason), "AIDEV_TRACE=%s: the message lacks \"%s\": \"%s\"",
                  target, reason, run.err);
}

START_TEST(fifo_without_reader_never_blocks)
{
    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s/fifo", scratch());
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    expect_reported_once(fifo, "no process has the FIFO open for reading");
    unlink(fifo);
}
END_TEST

/* A reader that opened the FIFO and never reads: the trace (larger than a
 * pipe holds) is given up on. */
START_TEST(fifo_reader_that_never_reads)
{
    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s/stalled", scratch());
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    int reader = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(reader, 0);
    child_run run;
    run_traced(fifo, 2000, &run);
    ck_assert_msg(run.finished, "the program did not end within %d s", DEADLINE_S);
    ck_assert_msg(run.exit_code == 0, "the program failed (%d): %s", run.exit_code, run.err);
    ck_assert_msg(count_of(run.err, MESSAGE) == 1, "said %d times: \"%s\"",
                  count_of(run.err, MESSAGE), run.err);
    ck_assert_ptr_nonnull(strstr(run.err, "took nothing"));
    close(reader);
    unlink(fifo);
}
END_TEST

START_TEST(unwritable_targets_are_reported_once)
{
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no/such/folder/trace.json", scratch());
    expect_reported_once(missing, strerror(ENOENT));
    expect_reported_once(scratch(), strerror(EISDIR));
    expect_reported_once("/dev/full", strerror(ENOSPC));
}
END_TEST

START_TEST(writable_target_is_written_quietly)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/trace.json", scratch());
    child_run run;
    run_traced(file, 4, &run);
    ck_assert(run.finished);
    ck_assert_msg(run.exit_code == 0, "the program failed (%d): %s", run.exit_code, run.err);
    ck_assert_msg(count_of(run.err, MESSAGE) == 0, "%s", run.err);
    FILE *f = fopen(file, "r");
    ck_assert_ptr_nonnull(f);
    char head[64] = "";
    ck_assert_ptr_nonnull(fgets(head, sizeof head, f));
    fclose(f);
    ck_assert_ptr_nonnull(strstr(head, "traceEvents"));
    unlink(file);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace_targets");
    TCase *tc = tcase_create("targets");
    tcase_set_timeout(tc, 4 * DEADLINE_S);
    tcase_add_test(tc, fifo_without_reader_never_blocks);
    tcase_add_test(tc, fifo_reader_that_never_reads);
    tcase_add_test(tc, unwritable_targets_are_reported_once);
    tcase_add_test(tc, writable_target_is_written_quietly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* The cases fork their own children; the parent keeps no aidev state. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch());
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch());
    return failed ? 1 : 0;
}

/* Contexts made and released in a loop on every device leave nothing
 * behind: open descriptors and the resident set stay flat (issue 14, item
 * 16). Vulkan runs it without the validation layer (tests/meson.build):
 * the layer's own per-device state costs ~300 ms and ~9 KiB a round, and
 * would be what the loop measures.
 *
 * 1,000 rounds, within a time budget per device: lavapipe compiles the
 * kernel's pipeline with LLVM in every new context (a few hundred ms a
 * round on two busy cores), so there the loop stops after the budget,
 * never before 100 rounds. AIDEV_TEST_TEARDOWN_ROUNDS and
 * AIDEV_TEST_TEARDOWN_SECONDS (0: no budget) change both; the figures of
 * issue 14's note come from full runs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* A device of a new context: the one at the index of harness device |i|. */
static aidev_device device_in_new_context(int i, aidev_context *out_ctx)
{
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(harness_device(i), AIDEV_DEVICE_INFO_INDEX, sizeof index,
                                       &index, NULL));
    ck_assert_ok(aidev_context_create(NULL, out_ctx));
    aidev_device d;
    ck_assert_ok(aidev_context_get_device(*out_ctx, index, &d));
    return d;
}

/* Open descriptors of the process. */
static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Resident set in KiB (/proc/self/statm, pages). */
static long resident_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One round on the device at the index of harness device |i|: a context, a
 * queue, two buffers, axpy dispatched and read back (so it ran), then only
 * the context released: everything else goes with it. */
static void teardown_round(int i, int round)
{
    enum { N = 1024 };
    aidev_context ctx;
    aidev_device d = device_in_new_context(i, &ctx);
    aidev_queue q;
    aidev_kernel k;
    aidev_buffer x, y;
    aidev_buffer_desc desc = {.size = N * sizeof(float), .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    ck_assert_ok(aidev_queue_create(d, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    ck_assert_ok(aidev_buffer_create(d, &desc, &x));
    ck_assert_ok(aidev_buffer_create(d, &desc, &y));
    ck_assert_ok(aidev_kernel_get(d, "axpy", &k));
    static float host[N];
    for (int e = 0; e < N; e++)
        host[e] = (float)e;
    ck_assert_ok(aidev_enqueue_write(q, x, 0, sizeof host, host, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32((float)round), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, y, 0, sizeof host, host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    /* y was zero: y = round * x. */
    ck_assert_msg(host[N - 1] == (float)round * (float)(N - 1), "round %d: y[%d] = %g", round,
                  N - 1, host[N - 1]);
    ck_assert_ok(aidev_context_release(ctx));
}

/* A positive whole number from the environment, else |fallback|. */
static long env_count(const char *name, long fallback)
{
    const char *v = getenv(name);
    char *end;
    long n = v ? strtol(v, &end, 10) : -1;
    return v && *v && !*end && n >= 0 ? n : fallback;
}

/* Rounds of the loop: AIDEV_TEST_TEARDOWN_ROUNDS (fewer under the
 * sanitizers, tests/meson.build), else 1,000. */
static int teardown_rounds(void)
{
    long n = env_count("AIDEV_TEST_TEARDOWN_ROUNDS", 1000);
    return n > 0 && n <= 1000000 ? (int)n : 1000;
}

/* ASan keeps freed memory in quarantine and TSan its shadow memory: under
 * them the resident set grows by design, so the bound is not asserted
 * there (LeakSanitizer checks leaks under ASan). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEARDOWN_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEARDOWN_UNDER_SANITIZER 1
#endif
#endif
#ifdef TEARDOWN_UNDER_SANITIZER
static const int rss_bound_applies = 0;
#else
static const int rss_bound_applies = 1;
#endif

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Contexts made and released in a loop leave nothing behind: after a
 * warm-up (drivers' one-time state, the kernel caches on disk), the open
 * descriptors are the same and the resident set grows by less than 1 MiB
 * + 16 KiB a round (outside the sanitizers; a leak of one small object per
 * round shows as soon as a few pages). The figures go to the log. */
START_TEST(teardown_loop)
{
    const int asked = teardown_rounds(), warm = asked < 100 ? asked / 5 + 1 : 20;
    const int least = asked < 100 ? asked : 100;
    const double budget = (double)env_count("AIDEV_TEST_TEARDOWN_SECONDS", 60);
    for (int r = 0; r < warm; r++)
        teardown_round(_i, r);
    const int fds_before = open_fd_count();
    const long rss_before = resident_kib();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rounds = 0;
    while (rounds < asked && (rounds < least || budget == 0 || seconds_since(&t0) < budget))
        teardown_round(_i, rounds++);
    const double ms = seconds_since(&t0) * 1e3;
    const int fds_after = open_fd_count();
    const long rss_after = resident_kib();
    printf("teardown_loop %s: %d of %d rounds (%.2f ms each): open fds %d -> %d, RSS %ld -> "
           "%ld KiB (%+ld)\n",
           harness_device_label(_i), rounds, asked, ms / rounds, fds_before, fds_after,
           rss_before, rss_after, rss_after - rss_before);
    ck_assert_int_eq(fds_after, fds_before);
    const long bound_kib = 1024 + 16L * rounds;
    ck_assert_msg(!rss_bound_applies || rss_after - rss_before < bound_kib,
                  "RSS grew by %ld KiB over %d rounds (bound %ld KiB)", rss_after - rss_before,
                  rounds, bound_kib);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("teardown_loop");
    harness_add_per_device(s, "teardown_loop", teardown_loop, 600);
    return harness_run(s);
}

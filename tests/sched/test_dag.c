/*
 * test_dag.c - the placement DAGs (bench/dag.h) run with explicit
 * placements, on every device and on simulated mixes, against a run on
 * the CPU device.
 *
 * Outputs must agree with the CPU run: bit-equal for the exact
 * elementwise kernels and the random DAGs (which read-modify-write with
 * axpy, so a write done twice or lost changes the bits), within each
 * output's documented tolerance for sgemm and reductions. Placements: all
 * on the device; split by independent part between the device and the CPU;
 * task by task at random; with the host copy shared by devices whose memory
 * is host memory, and without (every datum copied). tests/sched/meson.build
 * sets AIDEV_SIM_DEVICES to a fast far device and a slow near one (4x), so
 * the simulated devices join every per-device case, and the mix cases run
 * on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "harness.h"

/* Small sizes: the point is the edges, not the arithmetic. */
static dag *make_dag(int which, uint64_t seed)
{
    switch (which) {
    case 0: return dag_tiled_sgemm(256, 64, seed);
    case 1: return dag_elementwise(16384, 2, 6, seed);
    case 2: return dag_reduction(16384, 8, seed);
    case 3: return dag_mix(128, 64, 8192, seed);
    default: return dag_random(12, 48, 1024, seed);
    }
}
#define DAG_KINDS 5

static aidev_device cpu_device(void)
{
    aidev_context ctx = harness_context();
    uint32_t n = 0;
    aidev_context_get_devices(ctx, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        char backend[32] = "";
        ck_assert_ok(aidev_context_get_device(ctx, i, &d));
        aidev_device_get_info(d, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
        if (strcmp(backend, "cpu") == 0)
            return d;
    }
    ck_abort_msg("no CPU device");
    return NULL;
}

/* The DAG's reference: every task on the CPU device, host copy shared. */
static dag_runner *reference_run(const dag *g)
{
    aidev_device cpu = cpu_device();
    dag_run_options opt = {.share_host_memory = true};
    dag_runner *r;
    ck_assert_ok(dag_runner_create(g, &cpu, 1, &opt, &r));
    uint32_t *place = calloc(g->task_count, sizeof *place);
    ck_assert_ok(dag_runner_run(r, place, NULL, NULL));
    free(place);
    return r;
}

/* Runs |g| placed by |place| over |devices| and checks it against |ref|;
 * twice, so buffers and kernels reused from a run start clean. */
static void run_and_check(const dag *g, const aidev_device *devices, uint32_t count,
                          const uint32_t *place, const int32_t *home, bool share,
                          const dag_runner *ref, const char *how)
{
    dag_run_options opt = {.share_host_memory = share};
    dag_runner *r;
    ck_assert_ok(dag_runner_create(g, devices, count, &opt, &r));
    for (int run = 0; run < 2; run++) {
        ck_assert_msg(dag_runner_run(r, place, home, NULL) == AIDEV_SUCCESS,
                      "%s %s run %d failed: %s", g->name, how, run, aidev_last_error());
        char why[512];
        ck_assert_msg(dag_runner_agree(r, ref, why, sizeof why), "%s, %s, run %d: %s",
                      g->name, how, run, why);
    }
    dag_runner_destroy(r);
}

/* Every DAG on the device alone, then split with the CPU device by part
 * and task by task, copied and shared. */
START_TEST(dags_agree_with_the_cpu)
{
    aidev_device dev = harness_device(_i);
    aidev_device pair[2] = {dev, cpu_device()};
    for (int which = 0; which < DAG_KINDS; which++) {
        dag *g = make_dag(which, 11 + (uint64_t)which);
        ck_assert_ptr_nonnull(g);
        dag_runner *ref = reference_run(g);
        uint32_t *place = calloc(g->task_count, sizeof *place);
        run_and_check(g, pair, 1, place, NULL, true, ref, "all on the device");
        run_and_check(g, pair, 1, place, NULL, false, ref, "all on the device, copied");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = g->tasks[t].part;
        run_and_check(g, pair, 2, place, NULL, true, ref, "split by part with the CPU");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = (t * 7 + 3) % 5 < 2;
        run_and_check(g, pair, 2, place, NULL, false, ref, "task by task with the CPU, copied");
        free(place);
        dag_runner_destroy(ref);
        dag_free(g);
    }
}
END_TEST

/* Random DAGs with random placements between the device and the CPU: every
 * kind of hazard, every way across. */
START_TEST(random_dags_agree_with_the_cpu)
{
    aidev_device pair[2] = {harness_device(_i), cpu_device()};
    for (uint64_t seed = 1; seed <= 6; seed++) {
        dag *g = dag_random(10, 40, 2048, seed);
        ck_assert_ptr_nonnull(g);
        dag_runner *ref = reference_run(g);
        uint32_t *place = calloc(g->task_count, sizeof *place);
        uint64_t x = seed * 2654435761u;
        for (uint32_t t = 0; t < g->task_count; t++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            place[t] = (uint32_t)(x >> 63);
        }
        char how[64];
        snprintf(how, sizeof how, "seed %llu, random placement", (unsigned long long)seed);
        run_and_check(g, pair, 2, place, NULL, seed % 2 == 0, ref, how);
        free(place);
        dag_runner_destroy(ref);
        dag_free(g);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Simulated mixes                                                          */
/* ------------------------------------------------------------------------ */

static uint32_t sim_devices(aidev_device out[2])
{
    aidev_context ctx = harness_context();
    uint32_t n = 0, found = 0;
    aidev_context_get_devices(ctx, &n, NULL);
    for (uint32_t i = 0; i < n && found < 2; i++) {
        aidev_device d;
        char backend[32] = "";
        ck_assert_ok(aidev_context_get_device(ctx, i, &d));
        aidev_device_get_info(d, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL);
        if (strcmp(backend, "sim") == 0)
            out[found++] = d;
    }
    return found;
}

/* A fast far device A and a slow near one B: all on A, all on B, the
 * parts split, tasks at random; data starting on B. */
START_TEST(simulated_mix_placements_agree)
{
    aidev_device sims[2];
    ck_assert_msg(sim_devices(sims) == 2,
                  "AIDEV_SIM_DEVICES should give two simulated devices (tests/sched/meson.build)");
    for (int which = 0; which < DAG_KINDS; which++) {
        dag *g = make_dag(which, 101 + (uint64_t)which);
        ck_assert_ptr_nonnull(g);
        dag_runner *ref = reference_run(g);
        uint32_t *place = calloc(g->task_count, sizeof *place);
        int32_t *home = calloc(g->data_count, sizeof *home);
        for (uint32_t i = 0; i < g->data_count; i++)
            home[i] = 1;
        run_and_check(g, sims, 2, place, home, true, ref, "all on A, data on B");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = 1;
        run_and_check(g, sims, 2, place, home, true, ref, "all on B, data on B");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = g->tasks[t].part;
        run_and_check(g, sims, 2, place, home, true, ref, "parts split, data on B");
        for (uint32_t t = 0; t < g->task_count; t++)
            place[t] = (t * 5 + 1) % 3 == 0;
        run_and_check(g, sims, 2, place, NULL, false, ref, "task by task, data on the host");
        free(home);
        free(place);
        dag_runner_destroy(ref);
        dag_free(g);
    }
}
END_TEST

/* A task that reads a datum nothing wrote is refused with the datum named,
 * and the runner stays usable. */
START_TEST(read_before_write_is_refused)
{
    dag *g = dag_elementwise(64, 1, 2, 1);
    ck_assert_ptr_nonnull(g);
    /* Make the first task read a datum that has no contents yet. */
    dag_task saved = g->tasks[0];
    g->tasks[0].args[1].data = g->tasks[1].args[3].data;
    aidev_device cpu = cpu_device();
    dag_runner *r;
    ck_assert_ok(dag_runner_create(g, &cpu, 1, NULL, &r));
    uint32_t place[16] = {0};
    ck_assert_int_eq(dag_runner_run(r, place, NULL, NULL), AIDEV_ERROR_INVALID_ARGUMENT);
    g->tasks[0] = saved;
    ck_assert_ok(dag_runner_run(r, place, NULL, NULL));
    dag_runner_destroy(r);
    dag_free(g);
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("sched-dags");
    harness_add_per_device(s, "dags_agree_with_the_cpu", dags_agree_with_the_cpu, 600);
    harness_add_per_device(s, "random_dags_agree_with_the_cpu", random_dags_agree_with_the_cpu,
                           600);
    TCase *tc = tcase_create("simulated_mix");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, simulated_mix_placements_agree);
    tcase_add_test(tc, read_before_write_is_refused);
    suite_add_tcase(s, tc);
    return harness_run(s);
}

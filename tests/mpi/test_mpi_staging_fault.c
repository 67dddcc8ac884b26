/*
 * test-mpi-staging-fault: a staging copy that fails mid-transfer, on the
 * fault-injection backend (tests/plugins/fault.h). Rank 1 arms "the next
 * command submitted fails" while its all-reduce waits on a user event; the
 * first command after the event is the all-reduce's first staging read.
 * Rank 1 keeps taking part (its data is garbage), so nobody waits for it;
 * the closing check after the transfer makes every rank fail with
 * AIDEV_ERROR_DEPENDENCY naming rank 1, and the next all-reduce goes
 * through.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/fault.h"
#include "mpi_util.h"

#define COUNT 5000

/* The fault backend's control function, from the loaded plugin. */
static aidev_fault_configure_fn fault_configure(void)
{
    aidev_backend_report reports[64];
    uint32_t n = 64;
    ck_assert_ok(aidev_context_get_backends(harness_context(), &n, reports));
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(reports[i].name, "fault") != 0)
            continue;
        void *dl = dlopen(reports[i].path, RTLD_NOW | RTLD_NOLOAD);
        ck_assert_ptr_nonnull(dl);
        void *sym = dlsym(dl, AIDEV_FAULT_CONFIGURE_SYMBOL);
        dlclose(dl); /* RTLD_NOLOAD took a reference of its own */
        aidev_fault_configure_fn fn;
        memcpy(&fn, &sym, sizeof sym);
        ck_assert_ptr_nonnull(fn);
        return fn;
    }
    ck_abort_msg("the fault backend is not loaded (AIDEV_PLUGIN_PATH, AIDEV_BACKENDS?)");
    return NULL;
}

START_TEST(a_failed_staging_copy_fails_every_rank)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_fault_configure_fn configure = fault_configure();
    float *mine = test_data(AIDEV_TYPE_F32, test_rank, COUNT, 7);
    aidev_buffer b = test_buffer_with(dev, q, AIDEV_MEMORY_DEVICE, 0, mine, COUNT * 4);
    ck_assert_ok(aidev_queue_finish(q));
    /* Chunks of 1000 bytes: the transfer takes 20, the failure is early. */
    aidev_mpi_comm comm = test_comm(q, 1000, AIDEV_MPI_STAGING_ALWAYS, 0);
    aidev_event gate, ev;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, b, 0, COUNT, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 1, &gate, &ev));
    if (test_rank == 1)
        ck_assert_int_eq(configure("fail=1"), 0);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    expect_event(ev, AIDEV_ERROR_DEPENDENCY,
                 test_rank == 1 ? "staging copy failed" : "a staging copy failed on rank 1");
    if (test_rank == 1)
        ck_assert_int_eq(configure(""), 0);
    /* The communicator goes on: a fresh all-reduce is right. */
    aidev_buffer fresh = test_buffer_with(dev, q, AIDEV_MEMORY_DEVICE, 0, mine, COUNT * 4);
    ck_assert_mpi_ok(aidev_mpi_allreduce(comm, NULL, 0, fresh, 0, COUNT, AIDEV_TYPE_F32,
                                         AIDEV_MPI_SUM, 0, NULL, &ev));
    float *got = test_read(q, fresh, 0, COUNT * 4);
    expect_event(ev, AIDEV_SUCCESS, NULL);
    float *want = test_reduced(AIDEV_TYPE_F32, AIDEV_MPI_SUM, test_size, COUNT, 7);
    expect_equal(AIDEV_TYPE_F32, got, want, COUNT, "the all-reduce after the failed one");
    free(want);
    free(got);
    aidev_event_release(gate);
    aidev_buffer_release(fresh);
    aidev_buffer_release(b);
    free(mine);
    test_comm_release();
    aidev_queue_release(q);
}
END_TEST

int main(int argc, char **argv)
{
    mpi_test_init(&argc, &argv);
    Suite *s = suite_create("mpi-staging-fault");
    harness_add_per_device(s, "a_failed_staging_copy_fails_every_rank",
                           a_failed_staging_copy_fails_every_rank, 0);
    return mpi_test_run(s, true);
}

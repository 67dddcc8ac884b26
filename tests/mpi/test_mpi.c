/*
 * test-mpi: libaidev-mpi on the devices of one backend, run by
 * tests/mpi/run_mpi.py under mpirun with 2 and 4 ranks.
 */
#include "mpi_util.h"
#include "test_mpi_cases.h"

int main(int argc, char **argv)
{
    mpi_test_init(&argc, &argv);
    Suite *s = suite_create("mpi");
    add_data_cases(s);
    add_order_cases(s);
    return mpi_test_run(s, true);
}

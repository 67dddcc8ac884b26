#!/usr/bin/env python3
"""Runs an MPI test program under mpirun on this machine, then checks what
every rank wrote to its result file.

usage: run_mpi.py [--dies RANK] [--timeout S] [--exit-status] MPIRUN NP BACKEND
                  -- PROGRAM [ARGS...]

Every rank runs on the devices of BACKEND (AIDEV_TEST_DEVICES; "all": every
backend) and writes "pass" or "fail" to $AIDEV_MPI_TEST_RESULTS/rank-N,
which the runner checks. With --exit-status the program writes no result
files (an example): mpirun's exit status alone says. With --dies RANK that
rank exits on purpose mid-test (it writes "dies" first), and Open MPI is told
to let the others go on (--enable-recovery) so that they can show they fail
within their timeout instead of hanging.

The mpirun options keep a run on one busy machine fast and quiet: shared
memory and self only (no network interface is probed or used), the
out-of-band channel on the loopback interface, idle ranks yield the CPU,
no binding (ranks, their progress threads and the devices' threads share
the cores), and no cross-memory attach (containers often forbid it).
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile

MCA = {
    "btl": "self,vader",
    "btl_vader_single_copy_mechanism": "none",
    "oob_tcp_if_include": "lo",
    "mpi_yield_when_idle": "1",
}
# Passed on to the ranks explicitly (mpirun forwards little by itself on
# other launchers; here it is belt and braces).
FORWARD = ["AIDEV_TEST_DEVICES", "AIDEV_MPI_TEST_RESULTS", "AIDEV_TEST_BUILD_ROOT",
           "XDG_CACHE_HOME", "AIDEV_VULKAN_VALIDATION", "AIDEV_PLUGIN_PATH", "AIDEV_BACKENDS",
           "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "AIDEV_MPI_TIMEOUT"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mpirun")
    ap.add_argument("np", type=int)
    ap.add_argument("backend")
    ap.add_argument("--dies", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--exit-status", action="store_true")
    ap.add_argument("program", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    program = args.program[1:] if args.program[:1] == ["--"] else args.program

    with tempfile.TemporaryDirectory(prefix="aidev-mpi-") as results:
        # Each rank loads its backend and the CPU one only (a buffer of
        # another device is refused by name): a context that loads every
        # backend costs each rank PoCL's and the Vulkan validation layer's
        # start-up, many times over under the sanitizers.
        env = dict(os.environ, AIDEV_MPI_TEST_RESULTS=results,
                   # mpirun as root refuses to start without these.
                   OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        if args.backend != "all":
            env["AIDEV_TEST_DEVICES"] = args.backend
            env["AIDEV_BACKENDS"] = args.backend if args.backend == "cpu" else args.backend + ",cpu"
        cmd = [args.mpirun, "-np", str(args.np), "--oversubscribe", "--bind-to", "none"]
        for key, value in MCA.items():
            cmd += ["--mca", key, value]
        if args.dies is not None:
            cmd += ["--enable-recovery"]
        for name in FORWARD:
            if name in env:
                cmd += ["-x", name]
        cmd += program
        print(" ".join(cmd), flush=True)
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            sys.exit(f"mpirun ran past {args.timeout} s: killed (a rank hung)")

        failures = []
        for rank in range(0 if args.exit_status else args.np):
            path = os.path.join(results, f"rank-{rank}")
            got = open(path).read().strip() if os.path.exists(path) else "(no result)"
            want = "dies" if rank == args.dies else "pass"
            if got != want:
                failures.append(f"rank {rank}: {got}, expected {want}")
        if args.dies is None and rc != 0:
            failures.append(f"mpirun exited with {rc}")
    if failures:
        sys.exit("\n".join(failures))
    print(f"{args.np} ranks on {args.backend}: every rank passed")


if __name__ == "__main__":
    main()

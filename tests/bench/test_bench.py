#!/usr/bin/env python3
"""aidev-bench --quick runs every row on every device aidev-info lists.

Not a timing test: it checks that each row ran and that its figures are
sane (finite, positive, ratio = value / baseline), so that a row broken by
a change is seen in CI rather than at the next measurement.

usage: test_bench.py AIDEV_BENCH AIDEV_INFO [--mpi MPIRUN AIDEV_BENCH_MPI]

With --mpi, aidev-bench-mpi runs too, under mpirun with 2 ranks (as
tests/mpi/run_mpi.py starts them), and its rows join aidev-bench's: the same
checks, and the MPI rows on every device.
"""
import json
import math
import os
import subprocess
import sys

# Rows each backend must produce (names as aidev-bench prints them).
EXPECTED = {
    "cpu": ["cpu.empty_dispatch_latency", "cpu.axpy_16M", "pipeline.read_compute",
            "pipeline.read_compute_vs_handwritten", "memory.random_4k_reads"],
    "opencl": ["opencl empty dispatch latency", "opencl dispatch throughput x1000",
               "opencl axpy 16M f32", "opencl kernel load (cache hit)",
               "pipeline.read_compute"],
    "vulkan": ["vulkan.empty_dispatch_latency", "vulkan.pipelined_dispatch",
               "vulkan.axpy_16M", "pipeline.read_compute"],
}


# Rows aidev-bench-mpi must produce on every device.
EXPECTED_MPI = ["mpi.allreduce_64M", "mpi.allreduce_64M_vs_chunked", "mpi.allreduce_64M_staged",
                "mpi.train_step_overlap", "mpi.train_step_balance"]
# One machine, quietly: shared memory only, idle ranks yield (see
# tests/mpi/run_mpi.py).
MPIRUN_OPTIONS = ["-np", "2", "--oversubscribe", "--bind-to", "none",
                  "--mca", "btl", "self,vader", "--mca", "btl_vader_single_copy_mechanism", "none",
                  "--mca", "oob_tcp_if_include", "lo", "--mca", "mpi_yield_when_idle", "1"]


def run_mpi_bench(mpirun, bench_mpi, failures):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    run = subprocess.run([mpirun] + MPIRUN_OPTIONS + [bench_mpi, "--quick", "--json"],
                         capture_output=True, text=True, timeout=600, env=env)
    if run.returncode != 0:
        sys.exit(f"aidev-bench-mpi exited with {run.returncode}: {run.stderr}")
    # Open MPI may talk on stderr; the bench's own complaints name it.
    for line in run.stderr.splitlines():
        if "aidev-bench-mpi" in line:
            failures.append(f"aidev-bench-mpi wrote: {line}")
    return json.loads(run.stdout)


def main():
    bench, info = sys.argv[1], sys.argv[2]
    mpi = sys.argv[4:6] if len(sys.argv) >= 6 and sys.argv[3] == "--mpi" else None
    devices = json.loads(subprocess.run([info, "--json"], check=True, capture_output=True,
                                        text=True).stdout)["devices"]
    run = subprocess.run([bench, "--quick", "--json"], capture_output=True, text=True,
                         timeout=600)
    if run.returncode != 0:
        sys.exit(f"aidev-bench exited with {run.returncode}: {run.stderr}")
    rows = json.loads(run.stdout)
    failures = []
    mpi_rows = run_mpi_bench(mpi[0], mpi[1], failures) if mpi else []
    rows += mpi_rows
    for r in rows:
        where = f"{r.get('name')} on {r.get('device')}"
        for key in ("value", "baseline_value", "ratio"):
            v = r.get(key)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                failures.append(f"{where}: {key} = {v!r}")
        if not failures and abs(r["ratio"] - r["value"] / r["baseline_value"]) > 1e-6 * r["ratio"]:
            failures.append(f"{where}: ratio {r['ratio']} is not value / baseline")
    if run.stderr.strip():
        failures.append(f"aidev-bench wrote errors: {run.stderr.strip()}")
    for d in devices:
        want = EXPECTED.get(d["backend"], []) + (EXPECTED_MPI if mpi else [])
        have = {r["name"] for r in rows if r["device"] == d["name"]}
        missing = [n for n in want if n not in have]
        if missing:
            failures.append(f"{d['backend']} device {d['name']}: no row {missing}")
    if failures:
        sys.exit("\n".join(failures))
    print(f"{len(rows)} rows on {len(devices)} devices")


if __name__ == "__main__":
    main()

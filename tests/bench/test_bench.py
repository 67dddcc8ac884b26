#!/usr/bin/env python3
"""aidev-bench --quick runs every row on every device aidev-info lists.

Not a timing test: it checks that each row ran and that its figures are
sane (finite, positive, ratio = value / baseline), so that a row broken by
a change is seen in CI rather than at the next measurement.

The sched.* rows run twice: with the machine's devices, and again (--only
sched.) with two simulated devices added (AIDEV_SIM_DEVICES), for the rows
that need them; the sim.* rows (the simulation's accuracy) run on those
two devices (--only sim.). The rows against StarPU are expected only where
aidev-bench was built with it (--starpu); elsewhere they are reported as
skipped.

With --mpi, aidev-bench-mpi runs too, under mpirun with 2 ranks (as
tests/mpi/run_mpi.py starts them): the same checks, and its rows on every
device.

The tier.* rows (the compressed memory tier) are expected for each codec
the build has (--tier-codecs=lz4,zstd): evict and restore on every
device, the compression ratios once.

With --model, bench/model/bench_model.py runs too (under NUMPY_PYTHON, an
interpreter with NumPy): rows model.decoder_tokens_per_s_f32 and _int8 on
every device, the transformer example against the same model in NumPy.

usage: test_bench.py AIDEV_BENCH AIDEV_INFO [--starpu] [--dnnl] [--tier-codecs=LIST]
                    [--mpi MPIRUN AIDEV_BENCH_MPI]
                    [--model NUMPY_PYTHON BENCH_MODEL TRANSFORMER]
       test_bench.py --python BENCH_PYTHON AIDEV_INFO

With --python, the rows are those of the Python bench
(bench/python/bench_python.py), run by this interpreter on every device;
where it has no baseline (no pyopencl, no OpenCL device) it says why and no
row is asked.
"""
import json
import math
import os
import subprocess
import sys

# Rows each backend must produce (names as aidev-bench prints them).
SMALL_BUFFERS = ["buffer.create_small", "buffer.create_small_host",
                 "buffer.create_small_100k_live"]
# The tensor ops' rows (bench/bench_tensor.c), on every device.
TENSOR = ["tensor.gemm_strided_batched"]
# A kernel's first dispatch against its second (bench/bench_first.c), on
# every device.
FIRST = ["kernels/first_dispatch"]
# matmul_i8 on the CPU backend (--quick sizes): against sgemm always,
# against oneDNN called directly where aidev-bench has it (--dnnl).
INT8_VS_SGEMM = ["kernels/matmul_i8_vs_sgemm 256^3"]
INT8_VS_DNNL = ["kernels/matmul_i8 256^3"]
EXPECTED = {
    "cpu": ["cpu.empty_dispatch_latency", "cpu.axpy_16M", "pipeline.read_compute",
            "pipeline.read_compute_vs_handwritten", "memory.random_4k_reads",
            "sched.urgent_under_load", "graph.launch_1000",
            "cpu.empty_dispatch_latency_low_latency",
            "cpu.idle_dispatch_latency_low_latency"] + SMALL_BUFFERS + TENSOR + FIRST,
    "opencl": ["opencl empty dispatch latency", "opencl dispatch throughput x1000",
               "opencl axpy 16M f32", "opencl kernel load (cache hit)",
               "pipeline.read_compute", "graph.launch_1000"] + SMALL_BUFFERS + TENSOR + FIRST,
    "vulkan": ["vulkan.empty_dispatch_latency", "vulkan.pipelined_dispatch",
               "vulkan.axpy_16M", "pipeline.read_compute", "graph.launch_1000"]
    + SMALL_BUFFERS + TENSOR + FIRST,
}
SCHED_DAGS = ["tiled_sgemm", "dag_mix"]
# Against StarPU: per device, and once per run.
SCHED_PER_DEVICE = [f"sched.{d}_device" for d in SCHED_DAGS]
SCHED_ONCE = [f"sched.{d}_{s}" for d in SCHED_DAGS for s in ("single", "starpu")]
# With two simulated devices: once per run.
SIM_ONCE = [f"sched.{d}_sim_split" for d in SCHED_DAGS]
# The simulation's accuracy: per simulated device.
SIM_PER_DEVICE = ["sim.sgemm_queued", "sim.sgemm_waited"]
TIER_DATA = ["fp32_weights", "bf16", "int8", "half_zero"]


def tier_rows(codecs):
    """Per device, and once per run."""
    per_device = [f"tier.{op}_{c}" for c in codecs for op in ("evict", "restore")]
    once = [f"tier.ratio_{d}_{c}" for c in codecs for d in TIER_DATA]
    return per_device, once


# Rows of bench/model/bench_model.py, on every device.
MODEL_ROWS = ["model.decoder_tokens_per_s_f32", "model.decoder_tokens_per_s_int8"]


def run_model_bench(python, bench_model, transformer, info):
    run = subprocess.run([python, bench_model, transformer, info, "--quick", "--json"],
                         capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        sys.exit(f"{bench_model} exited with {run.returncode}: {run.stderr}")
    return json.loads(run.stdout), run.stderr


# Rows of bench/python/bench_python.py, on every device.
PYTHON_ROWS = ["python.dispatch", "python.dispatch_event", "python.dispatch_prepared",
               "python.read_64M", "python.to_numpy_64M"]
SIM_DEVICES = ("A:gflops=20,mem_gbps=10,link_gbps=4,latency_us=20;"
               "B:gflops=5,mem_gbps=5,link_gbps=4,latency_us=20,unified=1")


# Rows aidev-bench-mpi must produce on every device.
EXPECTED_MPI = ["mpi.allreduce_64M", "mpi.allreduce_64M_vs_chunked", "mpi.allreduce_64M_staged",
                "mpi.train_step_overlap", "mpi.train_step_balance"]
# One machine, quietly: shared memory only, idle ranks yield (see
# tests/mpi/run_mpi.py).
MPIRUN_OPTIONS = ["-np", "2", "--oversubscribe", "--bind-to", "none",
                  "--mca", "btl", "self,vader", "--mca", "btl_vader_single_copy_mechanism", "none",
                  "--mca", "oob_tcp_if_include", "lo", "--mca", "mpi_yield_when_idle", "1"]


def run_mpi_bench(mpirun, bench_mpi):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if "ASAN_OPTIONS" in env:
        # Open MPI's leftovers at exit can be told from a leak only with
        # full stacks (fast_unwind_on_malloc=0, tests/mpi/meson.build), and
        # those deadlock in libgcc's unwinder once lavapipe's JIT registers
        # its frames; the bench runs every device, so its ranks check
        # memory errors but not leaks (libaidev-mpi's leaks are checked by
        # the MPI tests on the CPU and OpenCL).
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    run = subprocess.run([mpirun] + MPIRUN_OPTIONS + [bench_mpi, "--quick", "--json"],
                         capture_output=True, text=True, timeout=600, env=env)
    if run.returncode != 0:
        sys.exit(f"aidev-bench-mpi exited with {run.returncode}: {run.stderr}")
    # Open MPI may talk on stderr; the bench's own complaints name it.
    errors = [line for line in run.stderr.splitlines() if "aidev-bench-mpi" in line]
    return json.loads(run.stdout), "\n".join(errors)


def run_bench(bench, info, extra, env):
    devices = json.loads(subprocess.run([info, "--json"], check=True, capture_output=True,
                                        text=True, env=env).stdout)["devices"]
    run = subprocess.run([bench, "--quick", "--json"] + extra, capture_output=True, text=True,
                         timeout=600, env=env)
    if run.returncode != 0:
        sys.exit(f"aidev-bench {' '.join(extra)} exited with {run.returncode}: {run.stderr}")
    return devices, json.loads(run.stdout), run.stderr


def check_rows(rows, stderr, failures, who="aidev-bench"):
    for r in rows:
        where = f"{r.get('name')} on {r.get('device')}"
        for key in ("value", "baseline_value", "ratio"):
            v = r.get(key)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                failures.append(f"{where}: {key} = {v!r}")
        if not failures and abs(r["ratio"] - r["value"] / r["baseline_value"]) > 1e-6 * r["ratio"]:
            failures.append(f"{where}: ratio {r['ratio']} is not value / baseline")
    if stderr.strip():
        failures.append(f"{who} wrote errors: {stderr.strip()}")


def check_expected(devices, rows, per_backend, once, failures):
    for d in devices:
        want = per_backend(d["backend"])
        have = {r["name"] for r in rows if r["device"] == d["name"]}
        missing = [n for n in want if n not in have]
        if missing:
            failures.append(f"{d['backend']} device {d['name']}: no row {missing}")
    for name in once:
        count = sum(1 for r in rows if r["name"] == name)
        if count != 1:
            failures.append(f"row {name}: {count} times, expected once")


def python_main(bench, info):
    devices = json.loads(subprocess.run([info, "--json"], check=True, capture_output=True,
                                        text=True).stdout)["devices"]
    run = subprocess.run([sys.executable, bench, "--quick", "--json"], capture_output=True,
                         text=True, timeout=600)
    if run.returncode != 0:
        sys.exit(f"{bench} exited with {run.returncode}: {run.stderr}")
    rows = json.loads(run.stdout)
    if not rows and run.stderr.strip().endswith("no rows"):
        print(f"python.* rows: skipped: {run.stderr.strip()}")
        return
    failures = []
    check_rows(rows, run.stderr, failures, who=bench)
    check_expected(devices, rows, lambda b: PYTHON_ROWS, [], failures)
    if failures:
        sys.exit("\n".join(failures))
    print(f"{len(rows)} python.* rows on {len(devices)} devices")


def main():
    if sys.argv[1] == "--python":
        python_main(sys.argv[2], sys.argv[3])
        return
    bench, info = sys.argv[1], sys.argv[2]
    starpu = "--starpu" in sys.argv[3:]
    int8 = INT8_VS_SGEMM + (INT8_VS_DNNL if "--dnnl" in sys.argv[3:] else [])
    mpi = sys.argv[sys.argv.index("--mpi") + 1:][:2] if "--mpi" in sys.argv else None
    model = sys.argv[sys.argv.index("--model") + 1:][:3] if "--model" in sys.argv else None
    codecs = []
    for a in sys.argv[3:]:
        if a.startswith("--tier-codecs="):
            codecs = [c for c in a.split("=", 1)[1].split(",") if c]
    tier_per_device, tier_once = tier_rows(codecs)
    failures = []

    devices, rows, stderr = run_bench(bench, info, [], os.environ.copy())
    check_rows(rows, stderr, failures)
    sched = SCHED_PER_DEVICE if starpu else []
    check_expected(devices, rows,
                   lambda b: EXPECTED.get(b, []) + sched + (tier_per_device if b in EXPECTED
                                                            else [])
                   + (int8 if b == "cpu" else []),
                   (SCHED_ONCE if starpu else []) + tier_once, failures)
    if not starpu:
        print("sched.* rows against StarPU: skipped: aidev-bench was built without StarPU")

    env = os.environ.copy()
    env["AIDEV_SIM_DEVICES"] = SIM_DEVICES
    sim_devices, sim_rows, stderr = run_bench(bench, info, ["--only", "sched."], env)
    check_rows(sim_rows, stderr, failures)
    check_expected([d for d in sim_devices if d["backend"] == "sim"], sim_rows, lambda b: sched,
                   SIM_ONCE + (SCHED_ONCE if starpu else []), failures)
    _, accuracy_rows, stderr = run_bench(bench, info, ["--only", "sim."], env)
    check_rows(accuracy_rows, stderr, failures)
    check_expected([d for d in sim_devices if d["backend"] == "sim"], accuracy_rows,
                   lambda b: SIM_PER_DEVICE, [], failures)

    if mpi:
        mpi_rows, stderr = run_mpi_bench(*mpi)
        check_rows(mpi_rows, stderr, failures)
        check_expected(devices, mpi_rows, lambda b: EXPECTED_MPI, [], failures)
        rows += mpi_rows

    if model:
        model_rows, stderr = run_model_bench(*model, info)
        check_rows(model_rows, stderr, failures, who="bench_model.py")
        check_expected(devices, model_rows, lambda b: MODEL_ROWS, [], failures)
        rows += model_rows

    if failures:
        sys.exit("\n".join(failures))
    print(f"{len(rows)} rows on {len(devices)} devices; {len(sim_rows)} sched.* rows with "
          f"{len(sim_devices)} devices, simulated ones included")


if __name__ == "__main__":
    main()

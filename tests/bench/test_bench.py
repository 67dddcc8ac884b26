#!/usr/bin/env python3
"""aidev-bench --quick runs every row on every device aidev-info lists.

Not a timing test: it checks that each row ran and that its figures are
sane (finite, positive, ratio = value / baseline), so that a row broken by
a change is seen in CI rather than at the next measurement.

usage: test_bench.py AIDEV_BENCH AIDEV_INFO
       test_bench.py --python BENCH_PYTHON AIDEV_INFO

With --python, the rows are those of the Python bench
(bench/python/bench_python.py), run by this interpreter; where it has no
baseline (no pyopencl, no OpenCL device) it says why and no row is asked.
"""
import json
import math
import subprocess
import sys

# Rows each backend must produce (names as aidev-bench prints them).
SMALL_BUFFERS = ["buffer.create_small", "buffer.create_small_host"]
EXPECTED = {
    "cpu": ["cpu.empty_dispatch_latency", "cpu.axpy_16M", "pipeline.read_compute",
            "pipeline.read_compute_vs_handwritten", "memory.random_4k_reads"] + SMALL_BUFFERS,
    "opencl": ["opencl empty dispatch latency", "opencl dispatch throughput x1000",
               "opencl axpy 16M f32", "opencl kernel load (cache hit)",
               "pipeline.read_compute"] + SMALL_BUFFERS,
    "vulkan": ["vulkan.empty_dispatch_latency", "vulkan.pipelined_dispatch",
               "vulkan.axpy_16M", "pipeline.read_compute"] + SMALL_BUFFERS,
}
# Rows of bench/python/bench_python.py, on every device.
PYTHON_ROWS = ["python.dispatch", "python.dispatch_event", "python.read_64M",
               "python.to_numpy_64M"]


def main():
    python = sys.argv[1] == "--python"
    if python:
        sys.argv.pop(1)
    bench, info = sys.argv[1], sys.argv[2]
    devices = json.loads(subprocess.run([info, "--json"], check=True, capture_output=True,
                                        text=True).stdout)["devices"]
    command = [sys.executable, bench] if python else [bench]
    run = subprocess.run(command + ["--quick", "--json"], capture_output=True, text=True,
                         timeout=600)
    if run.returncode != 0:
        sys.exit(f"{bench} exited with {run.returncode}: {run.stderr}")
    rows = json.loads(run.stdout)
    if python and not rows and run.stderr.strip().endswith("no rows"):
        print(f"no Python rows asked: {run.stderr.strip()}")
        return
    failures = []
    for r in rows:
        where = f"{r.get('name')} on {r.get('device')}"
        for key in ("value", "baseline_value", "ratio"):
            v = r.get(key)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                failures.append(f"{where}: {key} = {v!r}")
        if not failures and abs(r["ratio"] - r["value"] / r["baseline_value"]) > 1e-6 * r["ratio"]:
            failures.append(f"{where}: ratio {r['ratio']} is not value / baseline")
    if run.stderr.strip():
        failures.append(f"{bench} wrote errors: {run.stderr.strip()}")
    for d in devices:
        want = PYTHON_ROWS if python else EXPECTED.get(d["backend"], [])
        have = {r["name"] for r in rows if r["device"] == d["name"]}
        missing = [n for n in want if n not in have]
        if missing:
            failures.append(f"{d['backend']} device {d['name']}: no row {missing}")
    if failures:
        sys.exit("\n".join(failures))
    print(f"{len(rows)} rows on {len(devices)} devices")


if __name__ == "__main__":
    main()

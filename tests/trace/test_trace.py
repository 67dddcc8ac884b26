#!/usr/bin/env python3
"""Runs examples/stream-compute with AIDEV_TRACE and checks the trace:

- the file is one valid JSON document in the Chrome trace-event format;
- every slice ("X") has a begin and a duration >= 0, on a named track;
- every flow arrow start ("s") has its finish ("f");
- a slice on a file-read track overlaps in time a dispatch slice on a
  compute track, on at least one device: the reads and the kernels ran at
  once. (Per device, overlap is the conformance suite's business; here a
  device whose own threads take every core during a kernel - PoCL on a
  2-core machine - may show none in one run.)

  test_trace.py STREAM_COMPUTE AIDEV_INFO OUT_DIR

It runs on every device aidev-info --json lists.
"""
import json
import os
import re
import subprocess
import sys


def check(trace_path):
    with open(trace_path, encoding="utf-8") as f:
        doc = json.load(f)
    events = doc["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    for name in names.values():
        if re.search(r" queue \d+", name):
            assert re.search(r" queue \d+ \((LOW|NORMAL|HIGH)\)", name), \
                f"queue track without its priority: {name}"
    slices = [e for e in events if e["ph"] == "X"]
    assert slices, "no slices in the trace"
    for s in slices:
        assert s["tid"] in names, f"slice on an unnamed track: {s}"
        assert s["dur"] >= 0, f"slice ends before it begins: {s}"
        assert s["ts"] > 0 and "name" in s and "cat" in s, f"malformed slice: {s}"
        assert s["args"]["queued_us"] <= s["ts"] + 1e-3, f"slice starts before it was queued: {s}"
    starts = {e["id"] for e in events if e["ph"] == "s"}
    ends = {e["id"] for e in events if e["ph"] == "f"}
    assert starts == ends, "flow arrows without both ends"
    assert starts, "no flow arrows: dependencies are missing"

    reads = [s for s in slices if "file reads" in names[s["tid"]]]
    kernels = [s for s in slices if s["cat"] == "dispatch"]
    assert reads and kernels, f"{len(reads)} read slices, {len(kernels)} kernel slices"
    overlaps = 0
    for r in reads:
        for k in kernels:
            if max(r["ts"], k["ts"]) < min(r["ts"] + r["dur"], k["ts"] + k["dur"]):
                overlaps += 1
    return len(slices), len(starts), overlaps


def main():
    exe, info, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    listing = json.loads(subprocess.run([info, "--json"], capture_output=True, text=True,
                                        check=True).stdout)
    devices = [str(d["index"]) for d in listing["devices"]]
    os.makedirs(out_dir, exist_ok=True)
    total_overlaps = 0
    for d in devices:
        trace = os.path.join(out_dir, f"stream-compute-dev{d}.json")
        if os.path.exists(trace):
            os.unlink(trace)
        env = dict(os.environ, AIDEV_TRACE=trace)
        run = subprocess.run([exe, "-d", d, "-c", "8", "--generate", "64"], env=env,
                             capture_output=True, text=True, timeout=600)
        print(run.stdout, end="")
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        n, flows, overlaps = check(trace)
        print(f"{trace}: {n} slices, {flows} flow arrows, {overlaps} read/kernel overlaps")
        total_overlaps += overlaps
    assert total_overlaps > 0, "on no device did a file-read slice overlap a kernel slice"
    return 0


if __name__ == "__main__":
    sys.exit(main())

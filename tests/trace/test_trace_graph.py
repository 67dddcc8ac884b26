#!/usr/bin/env python3
"""Runs tests/trace/trace_graph.c with AIDEV_TRACE on every device and
checks how graph launches show in the trace:

- the file is one JSON document in the Chrome trace-event format that
  Perfetto reads: metadata names every track, every slice ("X") has a
  name, a category, a begin and a duration >= 0, and the slices of each
  track nest (none begins inside another and ends after it);
- each launch is one slice (category "graph") on its queue's "graph
  launches" track, one per launch;
- every slice of the launch's commands (its nodes, or the segments a
  backend ran as one) lies inside one launch's slice.

  test_trace_graph.py TRACE_GRAPH AIDEV_INFO OUT_DIR
"""
import json
import os
import subprocess
import sys

LAUNCHES = 3
# Times are written in microseconds with their nanoseconds as decimals: a
# slice that ends where another does may read a rounding past it.
SLACK_US = 0.002


def check_format(events):
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    slices = [e for e in events if e["ph"] == "X"]
    assert slices, "no slices in the trace"
    for s in slices:
        assert s["tid"] in names, f"slice on an unnamed track: {s}"
        assert s["name"] and s["cat"], f"malformed slice: {s}"
        assert s["ts"] > 0 and s["dur"] >= 0, f"slice ends before it begins: {s}"
    by_track = {}
    for s in slices:
        by_track.setdefault(s["tid"], []).append(s)
    for tid, track in by_track.items():
        track.sort(key=lambda s: (s["ts"], -s["dur"]))
        open_ends = []
        for s in track:
            while open_ends and open_ends[-1] <= s["ts"] + SLACK_US:
                open_ends.pop()
            end = s["ts"] + s["dur"]
            assert not open_ends or end <= open_ends[-1] + SLACK_US, \
                f"slices of track '{names[tid]}' overlap without nesting at {s}"
            open_ends.append(end)
    return names, slices


def check(trace_path):
    with open(trace_path, encoding="utf-8") as f:
        doc = json.load(f)
    names, slices = check_format(doc["traceEvents"])
    launches = [s for s in slices if s["cat"] == "graph"]
    assert len(launches) == LAUNCHES, f"{len(launches)} launch slices, expected {LAUNCHES}"
    for s in launches:
        assert names[s["tid"]].find(" graph launches") > 0, \
            f"a launch on track '{names[s['tid']]}'"
    # Every command the program ran was a node of a launch.
    commands = [s for s in slices if s["cat"] != "graph"]
    assert commands, "no slices of the launches' commands"
    for c in commands:
        inside = [s for s in launches if s["ts"] <= c["ts"] + SLACK_US and
                  c["ts"] + c["dur"] <= s["ts"] + s["dur"] + SLACK_US]
        assert len(inside) == 1, f"slice {c} lies inside {len(inside)} launch slices"
    return len(launches), len(commands)


def main():
    exe, info, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    listing = json.loads(subprocess.run([info, "--json"], capture_output=True, text=True,
                                        check=True).stdout)
    os.makedirs(out_dir, exist_ok=True)
    for d in (str(dev["index"]) for dev in listing["devices"]):
        trace = os.path.join(out_dir, f"graph-dev{d}.json")
        if os.path.exists(trace):
            os.unlink(trace)
        run = subprocess.run([exe, d], env=dict(os.environ, AIDEV_TRACE=trace),
                             capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        launches, commands = check(trace)
        print(f"{trace}: {launches} launch slices holding {commands} command slices")
    return 0


if __name__ == "__main__":
    sys.exit(main())

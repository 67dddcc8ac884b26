#!/usr/bin/env python3
"""aidev-info lists every Vulkan device vulkaninfo lists, under the same
name and UUID (vulkaninfo --summary's deviceName and deviceUUID).

Usage: info_matches_vulkaninfo.py AIDEV_INFO
Exits 77 (skipped) without vulkaninfo, a JSON-capable aidev-info, or a
Vulkan device.
"""
import json
import shutil
import subprocess
import sys


def vulkaninfo_devices():
    out = subprocess.run(["vulkaninfo", "--summary"], capture_output=True, text=True,
                         check=False).stdout
    devices, name = [], None
    for line in out.splitlines():
        key, _, value = line.strip().partition("=")
        key, value = key.strip(), value.strip()
        if key == "deviceName":
            name = value
        elif key == "deviceUUID" and name is not None:
            devices.append((name, value))
            name = None
    return devices


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not shutil.which("vulkaninfo"):
        print("vulkaninfo not found: skipped")
        return 77
    theirs = vulkaninfo_devices()
    run = subprocess.run([sys.argv[1], "--json"], capture_output=True, text=True, check=False)
    if run.returncode not in (0, 3):
        print(f"aidev-info --json failed ({run.returncode}): {run.stderr}")
        return 77 if "json" in run.stderr.lower() else 1
    doc = json.loads(run.stdout)
    report = [b for b in doc["backends"] if b["name"] == "vulkan"]
    if not theirs or not report or report[0]["status"] != "loaded":
        print(f"no Vulkan device to compare (vulkaninfo: {theirs}, backend: {report}): skipped")
        return 77
    ours = [(d["name"], d.get("uuid")) for d in doc["devices"] if d["backend"] == "vulkan"]
    print("vulkaninfo:", theirs)
    print("aidev-info:", ours)
    failed = False
    for dev in ours:
        if dev not in theirs:
            print(f"FAIL: aidev-info's {dev} is not among vulkaninfo's devices")
            failed = True
    for dev in theirs:
        if dev not in ours:
            print(f"FAIL: vulkaninfo's {dev} is missing from aidev-info")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks the symbols a shared object exports.

  check_exports.py LIB PATTERN

Every defined dynamic symbol of LIB must match PATTERN (a regular
expression): libaidev exports only its aidev_ API, a plugin only its entry.
"""
import re
import subprocess
import sys


def main():
    lib, pattern = sys.argv[1], re.compile(sys.argv[2])
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    bad = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        name = parts[2].split("@")[0]
        if not pattern.fullmatch(name):
            bad.append(name)
    if bad:
        print(f"{lib} exports symbols outside {pattern.pattern}:", file=sys.stderr)
        for name in bad:
            print(f"  {name}", file=sys.stderr)
        return 1
    print(f"{lib}: exports match {pattern.pattern}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

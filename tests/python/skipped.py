#!/usr/bin/env python3
"""Stands for the Python package's tests where the package is not built:
prints why and exits 77, which meson reports as skipped.

  skipped.py REASON
"""
import sys

print("skipped: the Python package is not built: %s" % sys.argv[1])
sys.exit(77)

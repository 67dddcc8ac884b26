#!/usr/bin/env python3
"""Runs pytest on the files given, with the interpreter the aidev package was
built for (meson passes it). Exits 77, which meson reports as skipped, with
the reason when that interpreter has no pytest.

  run_pytest.py TEST_FILE... [PYTEST_OPTION...]
"""
import sys

try:
    import pytest
except ImportError:
    print("skipped: %s has no pytest (Debian: python3-pytest)" % sys.executable)
    sys.exit(77)

# -p no:cacheprovider: nothing is written into the source tree.
sys.exit(pytest.main(["-q", "-rs", "-p", "no:cacheprovider", *sys.argv[1:]]))

"""The extension's declarations are checked by the C compiler: a cdef that
does not match aidev.h (here: a struct field of another type) fails to
compile, where ctypes would have read the wrong bytes at run time. And the
cdef is aidev.h's own, so every call, struct and constant of the header is
in aidev.lib."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

import aidev

SOURCE_ROOT = os.environ["AIDEV_TEST_SOURCE_ROOT"]
CC = os.environ["AIDEV_TEST_CC"].split()
sys.path.insert(0, os.path.join(SOURCE_ROOT, "python"))
import build_ffi  # noqa: E402


def compile_against_aidev_h(tmp_path, header_dir):
    """The extension's C, made from the header in |header_dir|, compiled
    against the real aidev.h as the build does; (returncode, stderr)."""
    c_file = tmp_path / "_ffi.c"
    run = subprocess.run([sys.executable, build_ffi.__file__, "--cc", *CC, "--include",
                          str(header_dir), "--output", str(c_file)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    cc = subprocess.run(CC + ["-fsyntax-only", "-std=c11", "-Werror=incompatible-pointer-types",
                              "-I", os.path.join(SOURCE_ROOT, "include"),
                              "-I", sysconfig.get_paths()["include"], str(c_file)],
                        capture_output=True, text=True)
    return cc.returncode, cc.stderr


def test_the_real_header_compiles(tmp_path):
    code, err = compile_against_aidev_h(tmp_path, os.path.join(SOURCE_ROOT, "include"))
    assert code == 0, err


def test_a_misdeclared_field_is_a_compile_error(tmp_path):
    with open(os.path.join(SOURCE_ROOT, "include", "aidev", "aidev.h")) as f:
        header = f.read()
    # aidev_dlpack_desc.shape declared as int32_t * instead of const int64_t *.
    wrong, n = re.subn(r"const int64_t \*shape;", "const int32_t *shape;", header)
    assert n == 1
    (tmp_path / "aidev").mkdir()
    for name in os.listdir(os.path.join(SOURCE_ROOT, "include", "aidev")):
        shutil.copy(os.path.join(SOURCE_ROOT, "include", "aidev", name), tmp_path / "aidev")
    (tmp_path / "aidev" / "aidev.h").write_text(wrong)
    code, err = compile_against_aidev_h(tmp_path, tmp_path)
    assert code != 0
    assert "aidev_dlpack_desc" in err and "shape" in err, err


def test_the_whole_header_is_reachable():
    # aidev.h and the headers it includes (aidev_tensor.h).
    header = "\n".join(build_ffi.aidev_headers(os.path.join(SOURCE_ROOT, "include")))
    functions = set(re.findall(r"AIDEV_API [^;(]*?\b(aidev_\w+)\s*\(", header))
    inline = set(re.findall(r"static inline aidev_arg (aidev_arg_\w+)\(", header))
    constants = set(build_ffi.integer_macros(header))
    assert len(functions) > 50 and inline and constants
    assert "aidev_enqueue_binary" in functions
    missing = sorted(n for n in functions | inline | constants if not hasattr(aidev.lib, n))
    assert not missing, missing
    assert aidev.ffi.sizeof("aidev_arg") >= 16 and aidev.lib.AIDEV_WAIT_FOREVER == 2**64 - 1

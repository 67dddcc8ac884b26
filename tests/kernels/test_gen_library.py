#!/usr/bin/env python3
"""The manifest generator refuses what would break the library: each broken
manifest or form below must stop the build with the file, line or kernel
named. Usage: test_gen_library.py GEN_LIBRARY.PY"""
import os
import subprocess
import sys
import tempfile

GOOD = """kernel twice
  doc    y[i] = 2 x[i]
  grid   n
  arg    n u32
  arg    x f32 read n
  arg    y f32 write n
  gpu    items 64
  accuracy exact
  forms  c glsl
end
"""
# A tensor op over GOOD's kernel, made internal.
OP = """op double
  call   aidev_enqueue_double
  runs   twice
  doc    y = 2 x
  dtypes x, y: f32
  accuracy double exact
end
"""
INTERNAL = GOOD.replace("  accuracy exact\n", "  internal\n") + OP
COMP = "#version 450\nlayout(local_size_x = %d) in;\nvoid main() {}\n"


def run(gen, manifest, comp_local=64, extra=()):
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "twice"))
        for name, text in (("twice.c", "/* c */\n"), ("twice.comp", COMP % comp_local)):
            with open(os.path.join(d, "twice", name), "w") as f:
                f.write(text)
        path = os.path.join(d, "manifest.txt")
        with open(path, "w") as f:
            f.write(manifest)
        out = os.path.join(d, "out")
        r = subprocess.run([sys.executable, gen, path, "--srcdir", d, "--table", out + ".c",
                            "--markdown", out + ".md", "--tolerances", out + ".h", *extra],
                           capture_output=True, text=True)
        return r.returncode, r.stderr


def main():
    gen = sys.argv[1]
    failures = 0

    def expect(what, manifest, needle, comp_local=64):
        nonlocal failures
        rc, err = run(gen, manifest, comp_local)
        if rc == 0 or needle not in err:
            print(f"FAIL: {what}: exit {rc}, stderr {err!r} (wanted '{needle}')")
            failures += 1
        else:
            print(f"ok: {what}: {err.strip()}")

    rc, err = run(gen, GOOD)
    if rc != 0:
        print(f"FAIL: a good manifest is refused: {err}")
        failures += 1
    expect("no accuracy", GOOD.replace("  accuracy exact\n", ""), "no 'accuracy'")
    expect("bad accuracy", GOOD.replace("accuracy exact", "accuracy rel x abs 1"), ":8:")
    expect("workgroup differs from the .comp", GOOD, "workgroup [32, 1, 1]", comp_local=32)
    expect("form file missing", GOOD.replace("forms  c glsl", "forms  c opencl glsl"),
           "twice.cl is missing")
    expect("count names no scalar", GOOD.replace("read n", "read m"), "'m' is not an integer")
    expect("reduce with another signature", GOOD.replace("gpu    items 64", "gpu    reduce 64 per 4")
           .replace("  arg    n u32\n", "  arg    n u32\n  arg    k u32\n"), "(u32 n, in, out)")
    expect("no C form", GOOD.replace("forms  c glsl", "forms  glsl"), "no C form")
    expect("unknown key", GOOD.replace("  doc", "  docs"), "unknown key 'docs'")
    rc, err = run(gen, INTERNAL)
    if rc != 0:
        print(f"FAIL: a good internal kernel and op are refused: {err}")
        failures += 1
    expect("op runs an unknown kernel", INTERNAL.replace("runs   twice", "runs   thrice"),
           "names kernel 'thrice'")
    expect("op without call", INTERNAL.replace("  call   aidev_enqueue_double\n", ""),
           "no 'call' line")
    expect("op without accuracy", INTERNAL.replace("  accuracy double exact\n", ""),
           "no 'accuracy' line")
    expect("op variant twice", INTERNAL.replace("  accuracy double exact\n",
                                                "  accuracy double exact\n  accuracy double exact\n"),
           "given twice")
    expect("internal kernel with accuracy", INTERNAL.replace("  internal\n",
                                                             "  internal\n  accuracy exact\n"),
           "its ops carry the accuracy")
    expect("prelude missing", GOOD.replace("  forms", "  prelude nothing\n  forms"),
           "prelude 'nothing'")
    # A stale reference is caught: the doc of GOOD, then GOOD with a new doc.
    with tempfile.TemporaryDirectory() as d:
        man, doc = os.path.join(d, "m.txt"), os.path.join(d, "K.md")
        with open(man, "w") as f:
            f.write(GOOD)
        subprocess.run([sys.executable, gen, man, "--markdown", doc], check=True)
        fresh = subprocess.run([sys.executable, gen, man, "--check-markdown", doc])
        with open(man, "w") as f:
            f.write(GOOD.replace("y[i] = 2 x[i]", "y[i] = x[i] + x[i]"))
        stale = subprocess.run([sys.executable, gen, man, "--check-markdown", doc],
                               capture_output=True, text=True)
        if fresh.returncode != 0 or stale.returncode == 0 or "stale" not in stale.stderr:
            print(f"FAIL: --check-markdown: fresh exit {fresh.returncode}, stale exit "
                  f"{stale.returncode} {stale.stderr!r}")
            failures += 1
        else:
            print("ok: --check-markdown tells a stale reference")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

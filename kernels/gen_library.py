#!/usr/bin/env python3
"""Reads kernels/manifest.txt and writes what the build needs of it.

Usage:
  gen_library.py MANIFEST --table OUT.c [--markdown OUT.md]
      the signature table of libaidev (per kernel its aidev_kernel_desc,
      forms and C form) and the kernel reference
  gen_library.py MANIFEST --list FORM
      the names of the kernels that have FORM (c, opencl, glsl), one a line
  gen_library.py MANIFEST --opencl-forms OUT.c --srcdir KERNELS_DIR
      the OpenCL C forms embedded as text, with their launch data
  gen_library.py MANIFEST --spirv-forms OUT.c --spv NAME.spv...
      the SPIR-V forms (compiled by glslc) embedded as words

Every error in the manifest stops the build with the file and line.
"""
import argparse
import re
import sys

SCALARS = {"u32": "U32", "i32": "I32", "u64": "U64", "i64": "I64", "f32": "F32", "f64": "F64"}
ELEMENTS = dict(SCALARS, **{"bytes": "NONE", "i8": "I8", "u8": "U8", "i16": "I16",
                             "u16": "U16", "f16": "F16"})
ACCESS = {"read": "READ", "write": "WRITE", "read_write": "READ_WRITE"}
FORMS = ("c", "opencl", "glsl")
LAUNCH = {"items": "ITEMS", "groups": "GROUPS", "reduce": "REDUCE"}
IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
EXPR_TERM = re.compile(r"^([a-z_][a-z0-9_]*|[0-9]+)$")


class ManifestError(Exception):
    pass


def parse(path):
    kernels, cur = [], None
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            key, rest = words[0], words[1:]

            def fail(msg):
                raise ManifestError(f"{path}:{lineno}: {msg}")

            if key == "kernel":
                if cur is not None:
                    fail("'kernel' inside a kernel: missing 'end'")
                if len(rest) != 1 or not IDENT.match(rest[0]):
                    fail("kernel needs one lower-case name")
                if any(k["name"] == rest[0] for k in kernels):
                    fail(f"kernel '{rest[0]}' defined twice")
                cur = {"name": rest[0], "doc": "", "grid": [], "workgroup": [0, 0, 0],
                       "args": [], "forms": [], "line": lineno,
                       "gpu": {"launch": "ITEMS", "local": [64, 1, 1], "items_per_thread": 1}}
                continue
            if cur is None:
                fail(f"'{key}' outside a kernel")
            if key == "end":
                check_kernel(cur, fail)
                kernels.append(cur)
                cur = None
            elif key == "doc":
                cur["doc"] = line[len("doc"):].strip()
            elif key == "grid":
                if not 1 <= len(rest) <= 3:
                    fail("grid takes one to three expressions")
                cur["grid"] = rest
            elif key == "workgroup":
                if not 1 <= len(rest) <= 3 or not all(w.isdigit() and int(w) > 0 for w in rest):
                    fail("workgroup takes one to three positive integers")
                cur["workgroup"] = [int(w) for w in rest] + [1] * (3 - len(rest))
            elif key == "arg":
                cur["args"].append(parse_arg(rest, fail))
            elif key == "gpu":
                cur["gpu"] = parse_gpu(rest, fail)
            elif key == "forms":
                bad = [w for w in rest if w not in FORMS]
                if bad or not rest:
                    fail(f"forms are among {', '.join(FORMS)}; got {' '.join(rest)}")
                cur["forms"] = rest
            else:
                fail(f"unknown key '{key}'")
    if cur is not None:
        raise ManifestError(f"{path}: kernel '{cur['name']}' has no 'end'")
    return kernels


def parse_arg(words, fail):
    if len(words) == 2:
        name, typ = words
        if typ not in SCALARS:
            fail(f"scalar type '{typ}' is not one of {', '.join(SCALARS)}")
        return {"name": name, "kind": "SCALAR", "type": SCALARS[typ], "access": None, "count": None}
    if len(words) in (3, 4):
        name, typ, access = words[:3]
        if typ not in ELEMENTS:
            fail(f"element type '{typ}' is not one of {', '.join(ELEMENTS)}")
        if access not in ACCESS:
            fail(f"access '{access}' is not one of {', '.join(ACCESS)}")
        return {"name": name, "kind": "BUFFER", "type": ELEMENTS[typ], "access": ACCESS[access],
                "count": words[3] if len(words) == 4 else None}
    fail("arg is 'NAME TYPE' or 'NAME TYPE ACCESS [COUNT]'")


def parse_gpu(words, fail):
    """gpu MODE X [Y [Z]] [per N]: launch mode, workgroup of the GPU forms,
    and for reduce the elements each work-item folds per pass."""
    if not words or words[0] not in LAUNCH:
        fail(f"gpu takes a launch mode among {', '.join(LAUNCH)}")
    rest, per = words[1:], 1
    if len(rest) >= 2 and rest[-2] == "per":
        if not rest[-1].isdigit() or int(rest[-1]) == 0:
            fail("gpu ... per N: N is a positive integer")
        per = int(rest[-1])
        rest = rest[:-2]
    if not 1 <= len(rest) <= 3 or not all(w.isdigit() and int(w) > 0 for w in rest):
        fail("gpu MODE takes one to three positive workgroup sizes")
    local = [int(w) for w in rest] + [1] * (3 - len(rest))
    return {"launch": LAUNCH[words[0]], "local": local, "items_per_thread": per}


def check_expr(expr, scalars, fail, what):
    for term in expr.split("*"):
        if not EXPR_TERM.match(term):
            fail(f"{what} '{expr}': '{term}' is neither a name nor an integer")
        if not term.isdigit() and term not in scalars:
            fail(f"{what} '{expr}': '{term}' is not an integer scalar argument")


def check_kernel(k, fail):
    names = [a["name"] for a in k["args"]]
    if len(set(names)) != len(names):
        fail(f"kernel '{k['name']}' has two arguments of one name")
    if not k["forms"]:
        fail(f"kernel '{k['name']}' lists no forms")
    if "c" not in k["forms"]:
        fail(f"kernel '{k['name']}' has no C form: the CPU backend needs one")
    scalars = {a["name"] for a in k["args"]
               if a["kind"] == "SCALAR" and a["type"] in ("U32", "I32", "U64", "I64")}
    for a in k["args"]:
        if not IDENT.match(a["name"]):
            fail(f"argument name '{a['name']}' is not lower-case identifier")
        if a["count"]:
            check_expr(a["count"], scalars, fail, "count")
    for g in k["grid"]:
        check_expr(g, scalars, fail, "grid")


def c_str(s):
    return "NULL" if s is None else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_table(kernels, out):
    w = out.write
    w("/* Generated by kernels/gen_library.py from kernels/manifest.txt. Do not edit. */\n")
    w('#include "hal/library.h"\n\n')
    for k in kernels:
        if "c" in k["forms"]:
            w(f"void aidev_kernel_c_{k['name']}(void *const *args, const aidev_host_range *range);\n")
    w("\n")
    for k in kernels:
        w(f"static const aidev_kernel_arg_desc args_{k['name']}[] = {{\n")
        for a in k["args"]:
            access = f"AIDEV_ACCESS_{a['access']}" if a["access"] else "0"
            w(f"    {{{c_str(a['name'])}, AIDEV_ARG_{a['kind']}, AIDEV_TYPE_{a['type']}, "
              f"{access}, {c_str(a['count'])}}},\n")
        w("};\n\n")
    w("const aidev_library_entry aidev_library_entries[] = {\n")
    for k in kernels:
        grid = [c_str(g) for g in k["grid"]] + ["NULL"] * (3 - len(k["grid"]))
        wg = ", ".join(str(x) for x in k["workgroup"])
        host = f"aidev_kernel_c_{k['name']}" if "c" in k["forms"] else "NULL"
        forms = " | ".join(f"AIDEV_LIBRARY_FORM_{f.upper()}" for f in k["forms"])
        w("    {\n")
        w(f"        .desc = {{.name = {c_str(k['name'])}, .source_kind = AIDEV_KERNEL_SOURCE_HOST,\n")
        w(f"                 .host_fn = {host}, .arg_count = {len(k['args'])},\n")
        w(f"                 .args = args_{k['name']}, .grid = {{{', '.join(grid)}}},\n")
        w(f"                 .workgroup = {{{wg}}}}},\n")
        w(f"        .forms = {forms},\n")
        w(f"        .doc = {c_str(k['doc'])},\n")
        w("    },\n")
    w("};\n\n")
    w(f"const uint32_t aidev_library_entry_count = {len(kernels)};\n")


def c_bytes_literal(text):
    """A C string literal of |text|, split into lines."""
    out = []
    for line in text.splitlines(True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.append(f'    "{esc}"')
    return "\n".join(out) if out else '    ""'


def write_form_entry(w, k, entry, code_expr, size_expr):
    g = k["gpu"]
    w(f"    {{{c_str(k['name'])}, {c_str(entry)}, {code_expr}, {size_expr}, "
      f"AIDEV_LAUNCH_{g['launch']}, {{{', '.join(str(x) for x in g['local'])}}}, "
      f"{g['items_per_thread']}}},\n")


def write_opencl_forms(kernels, srcdir, out):
    import os
    w = out.write
    w("/* Generated by kernels/gen_library.py from kernels/manifest.txt. Do not edit. */\n")
    w('#include "kernels/library_forms.h"\n\n')
    names = [k for k in kernels if "opencl" in k["forms"]]
    for k in names:
        path = os.path.join(srcdir, k["name"], k["name"] + ".cl")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        w(f"static const char source_{k['name']}[] =\n{c_bytes_literal(text)};\n\n")
    w("const aidev_library_gpu_form aidev_library_opencl_forms[] = {\n")
    for k in names:
        write_form_entry(w, k, k["name"], f"source_{k['name']}",
                         f"sizeof source_{k['name']} - 1")
    if not names:
        w("    {0},\n")
    w("};\n\n")
    w(f"const uint32_t aidev_library_opencl_form_count = {len(names)};\n")


def write_spirv_forms(kernels, spv_paths, out):
    import os
    w = out.write
    by_name = {os.path.basename(p)[:-len(".spv")]: p for p in spv_paths if p.endswith(".spv")}
    w("/* Generated by kernels/gen_library.py from kernels/manifest.txt. Do not edit. */\n")
    w('#include "kernels/library_forms.h"\n\n')
    names = [k for k in kernels if "glsl" in k["forms"]]
    for k in names:
        if k["name"] not in by_name:
            raise ManifestError(f"no SPIR-V given for kernel '{k['name']}'")
        with open(by_name[k["name"]], "rb") as f:
            data = f.read()
        if len(data) % 4 or len(data) < 20:
            raise ManifestError(f"{by_name[k['name']]} is not a SPIR-V module")
        words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
        w(f"static const uint32_t spirv_{k['name']}[] = {{\n")
        for i in range(0, len(words), 8):
            w("    " + ", ".join(f"0x{x:08x}u" for x in words[i:i + 8]) + ",\n")
        w("};\n\n")
    w("const aidev_library_gpu_form aidev_library_spirv_forms[] = {\n")
    for k in names:
        write_form_entry(w, k, "main", f"spirv_{k['name']}", f"sizeof spirv_{k['name']}")
    if not names:
        w("    {0},\n")
    w("};\n\n")
    w(f"const uint32_t aidev_library_spirv_form_count = {len(names)};\n")


def write_markdown(kernels, out):
    w = out.write
    w("# Built-in kernels\n\nGenerated from `kernels/manifest.txt`.\n\n")
    w("| kernel | arguments | grid | forms | computes |\n| --- | --- | --- | --- | --- |\n")
    for k in kernels:
        args = []
        for a in k["args"]:
            if a["kind"] == "SCALAR":
                args.append(f"{a['type'].lower()} {a['name']}")
            else:
                cnt = f"[{a['count']}]" if a["count"] else "[]"
                args.append(f"{a['type'].lower()}{cnt} {a['name']} ({a['access'].lower()})")
        w(f"| `{k['name']}` | {', '.join(args)} | {' x '.join(k['grid']) or '1'} | "
          f"{', '.join(k['forms'])} | {k['doc']} |\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("--table")
    ap.add_argument("--markdown")
    ap.add_argument("--list", choices=FORMS)
    ap.add_argument("--opencl-forms")
    ap.add_argument("--srcdir")
    ap.add_argument("--spirv-forms")
    ap.add_argument("--spv", nargs="*", default=[])
    opts = ap.parse_args()
    try:
        kernels = parse(opts.manifest)
        if opts.list:
            for k in kernels:
                if opts.list in k["forms"]:
                    print(k["name"])
        if opts.table:
            with open(opts.table, "w", encoding="utf-8") as f:
                write_table(kernels, f)
        if opts.markdown:
            with open(opts.markdown, "w", encoding="utf-8") as f:
                write_markdown(kernels, f)
        if opts.opencl_forms:
            with open(opts.opencl_forms, "w", encoding="utf-8") as f:
                write_opencl_forms(kernels, opts.srcdir, f)
        if opts.spirv_forms:
            with open(opts.spirv_forms, "w", encoding="utf-8") as f:
                write_spirv_forms(kernels, opts.spv, f)
    except (ManifestError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

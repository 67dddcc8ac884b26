#!/usr/bin/env python3
"""Reads kernels/manifest.txt and writes what the build needs of it.

Usage:
  gen_library.py MANIFEST --table OUT.c [--markdown OUT.md] [--srcdir KERNELS_DIR]
      the signature table of libaidev (per kernel its aidev_kernel_desc,
      forms and C form) and the kernel reference; with --srcdir, also checks
      that every form file exists and that the GPU forms declare the
      workgroup size of their manifest `gpu` line
  gen_library.py MANIFEST --tolerances OUT.h
      the accuracy of every kernel as a C table, for the kernel tests
  gen_library.py MANIFEST --check-markdown DOC.md
      fails when DOC.md is not what --markdown writes (a stale reference)
  gen_library.py MANIFEST --list FORM
      the names of the kernels that have FORM (c, opencl, glsl), one a line
  gen_library.py MANIFEST --opencl-forms OUT.c --srcdir KERNELS_DIR
      the OpenCL C forms embedded as text, with their launch data
  gen_library.py MANIFEST --spirv-forms OUT.c --spv NAME.spv...
      the SPIR-V forms (compiled by glslc) embedded as words

The manifest holds kernels (`kernel NAME ... end`) and tensor ops (`op NAME ...
end`): an op is a call of aidev.h that runs one or more kernels; its accuracy
lines name variants (`accuracy add exact`), which the tests read as
"OP.VARIANT". Kernels marked `internal` are run by ops only; `prelude NAME...`
puts kernels/common/NAME.cl (each, in order) before the kernel's OpenCL C.

Every error in the manifest stops the build with the file and line.
"""
import argparse
import re
import sys

SCALARS = {"u32": "U32", "i32": "I32", "u64": "U64", "i64": "I64", "f32": "F32", "f64": "F64"}
ELEMENTS = dict(SCALARS, **{"bytes": "NONE", "i8": "I8", "u8": "U8", "i16": "I16",
                             "u16": "U16", "f16": "F16", "bf16": "BF16"})
ACCESS = {"read": "READ", "write": "WRITE", "read_write": "READ_WRITE"}
FORMS = ("c", "opencl", "glsl")
LAUNCH = {"items": "ITEMS", "groups": "GROUPS", "reduce": "REDUCE"}
IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
EXPR_TERM = re.compile(r"^([a-z_][a-z0-9_]*|[0-9]+)$")


class ManifestError(Exception):
    pass


def parse(path):
    """The kernels and the ops of the manifest, each a dict."""
    kernels, ops, cur, block = [], [], None, None
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            key, rest = words[0], words[1:]

            def fail(msg):
                raise ManifestError(f"{path}:{lineno}: {msg}")

            if key in ("kernel", "op"):
                if cur is not None:
                    fail(f"'{key}' inside a {block}: missing 'end'")
                if len(rest) != 1 or not IDENT.match(rest[0]):
                    fail(f"{key} needs one lower-case name")
                if any(k["name"] == rest[0] for k in (kernels if key == "kernel" else ops)):
                    fail(f"{key} '{rest[0]}' defined twice")
                block = key
                if key == "op":
                    cur = {"name": rest[0], "call": None, "kernels": [], "doc": "",
                           "dtypes": [], "broadcast": "", "accuracy": [], "line": lineno}
                    continue
                cur = {"name": rest[0], "doc": "", "grid": [], "workgroup": [0, 0, 0],
                       "args": [], "forms": [], "line": lineno, "internal": False,
                       "prelude": None,
                       "gpu": {"launch": "ITEMS", "local": [64, 1, 1], "items_per_thread": 1},
                       "accuracy": None}
                continue
            if cur is None:
                fail(f"'{key}' outside a kernel or an op")
            if key == "end":
                if block == "op":
                    check_op(cur, fail)
                    ops.append(cur)
                else:
                    check_kernel(cur, fail)
                    kernels.append(cur)
                cur = None
            elif block == "op":
                parse_op_line(cur, key, rest, line, fail)
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
            elif key == "accuracy":
                cur["accuracy"] = parse_accuracy(rest, fail)
            elif key == "internal":
                if rest:
                    fail("internal takes nothing")
                cur["internal"] = True
            elif key == "prelude":
                if not rest or not all(IDENT.match(w) for w in rest):
                    fail("prelude takes names (kernels/common/NAME.cl), put in that order")
                cur["prelude"] = rest
            elif key == "forms":
                bad = [w for w in rest if w not in FORMS]
                if bad or not rest:
                    fail(f"forms are among {', '.join(FORMS)}; got {' '.join(rest)}")
                cur["forms"] = rest
            else:
                fail(f"unknown key '{key}'")
    if cur is not None:
        raise ManifestError(f"{path}: {block} '{cur['name']}' has no 'end'")
    names = {k["name"]: k for k in kernels}
    for o in ops:
        for k in o["kernels"]:
            if k not in names:
                raise ManifestError(f"{path}:{o['line']}: op '{o['name']}' names kernel '{k}', "
                                    f"which the manifest does not define")
    return kernels, ops


def parse_op_line(op, key, rest, line, fail):
    """The keys of an op block: call, runs, doc, dtypes, broadcast, accuracy."""
    text = line[len(key):].strip()
    if key == "call":
        if len(rest) != 1 or not re.match(r"^aidev_[a-z0-9_]+$", rest[0]):
            fail("call takes the one aidev_ function that runs the op")
        op["call"] = rest[0]
    elif key == "runs":
        if not rest or not all(IDENT.match(w) for w in rest):
            fail("runs takes the names of the kernels the op runs")
        op["kernels"] += rest
    elif key == "doc":
        op["doc"] = text
    elif key == "dtypes":
        if not text:
            fail("dtypes takes a text: which operand takes which storage types")
        op["dtypes"].append(text)
    elif key == "broadcast":
        op["broadcast"] = text
    elif key == "accuracy":
        if not rest or not IDENT.match(rest[0]):
            fail("an op's accuracy starts with the variant it holds for (a name)")
        if any(a["variant"] == rest[0] for a in op["accuracy"]):
            fail(f"accuracy of variant '{rest[0]}' given twice")
        acc = parse_accuracy(rest[1:], fail)
        acc["variant"] = rest[0]
        op["accuracy"].append(acc)
    else:
        fail(f"unknown key '{key}' in an op")


def check_op(op, fail):
    for what in ("call", "doc", "dtypes", "accuracy"):
        if not op[what]:
            fail(f"op '{op['name']}' has no '{what}' line")
    if not op["kernels"]:
        fail(f"op '{op['name']}' names no kernel")


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


def parse_accuracy(words, fail):
    """accuracy exact [NOTE] | accuracy rel R abs A [NOTE]"""
    if words and words[0] == "exact":
        return {"exact": True, "rel": 0.0, "abs": 0.0, "note": " ".join(words[1:])}
    if len(words) >= 4 and words[0] == "rel" and words[2] == "abs":
        try:
            rel, abs_ = float(words[1]), float(words[3])
        except ValueError:
            fail("accuracy rel R abs A: R and A are numbers")
        if rel < 0 or abs_ < 0:
            fail("accuracy rel R abs A: R and A are not negative")
        return {"exact": False, "rel": rel, "abs": abs_, "note": " ".join(words[4:])}
    fail("accuracy is 'exact [NOTE]' or 'rel R abs A [NOTE]'")


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
    if k["accuracy"] is None and not k["internal"]:
        fail(f"kernel '{k['name']}' has no 'accuracy' line: the tests need its tolerance")
    if k["internal"] and k["accuracy"] is not None:
        fail(f"kernel '{k['name']}' is internal: its ops carry the accuracy")
    if k["gpu"]["launch"] == "REDUCE":
        sig = [(a["kind"], a["type"]) for a in k["args"]]
        if len(sig) != 3 or sig[0] != ("SCALAR", "U32") or sig[1][0] != "BUFFER" \
                or sig[2][0] != "BUFFER":
            fail(f"kernel '{k['name']}': launch reduce needs the signature (u32 n, in, out)")


LOCAL_SIZE = {
    "glsl": (".comp", re.compile(r"local_size_([xyz])\s*=\s*([0-9]+)")),
    "opencl": (".cl", re.compile(r"reqd_work_group_size\s*\(\s*([0-9]+)\s*,\s*([0-9]+)\s*,"
                                 r"\s*([0-9]+)\s*\)")),
}


def prelude_path(srcdir, name):
    import os
    return os.path.join(srcdir, "common", name + ".cl")


def check_sources(kernels, srcdir):
    """Every listed form exists; a GPU form that fixes its workgroup size
    (GLSL always does) fixes the one its `gpu` line gives the backends."""
    import os
    for k in kernels:
        for name in k["prelude"] or []:
            if not os.path.isfile(prelude_path(srcdir, name)):
                raise ManifestError(f"kernel '{k['name']}' names prelude '{name}' but "
                                    f"{prelude_path(srcdir, name)} is missing")
        for form in k["forms"]:
            ext = {"c": ".c", "opencl": ".cl", "glsl": ".comp"}[form]
            path = os.path.join(srcdir, k["name"], k["name"] + ext)
            if not os.path.isfile(path):
                raise ManifestError(f"kernel '{k['name']}' lists form {form} but {path} is missing")
            if form not in LOCAL_SIZE:
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            want = k["gpu"]["local"]
            if form == "glsl":
                got = [1, 1, 1]
                found = LOCAL_SIZE["glsl"][1].findall(text)
                if not found:
                    raise ManifestError(f"{path}: no layout(local_size_x = ...)")
                for axis, size in found:
                    got["xyz".index(axis)] = int(size)
                sizes = [got]
            else:
                sizes = [[int(x) for x in m] for m in LOCAL_SIZE["opencl"][1].findall(text)]
            for got in sizes:
                if got != want:
                    raise ManifestError(f"{path}: workgroup {got} but the manifest's gpu line "
                                        f"says {want}")


def c_str(s):
    return "NULL" if s is None else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_table(kernels, ops, out):
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
        gpu_wg = k["gpu"]["local"] if "opencl" in k["forms"] or "glsl" in k["forms"] else [0] * 3
        w(f"        .gpu_workgroup = {{{', '.join(str(x) for x in gpu_wg)}}},\n")
        w(f"        .doc = {c_str(k['doc'])},\n")
        w(f"        .internal = {'true' if k['internal'] else 'false'},\n")
        w("    },\n")
    w("};\n\n")
    w(f"const uint32_t aidev_library_entry_count = {len(kernels)};\n")
    w(f"const uint32_t aidev_library_public_count = "
      f"{sum(1 for k in kernels if not k['internal'])};\n\n")
    write_op_table(ops, w)


def write_op_table(ops, w):
    for o in ops:
        w(f"static const aidev_op_accuracy accuracy_{o['name']}[] = {{\n")
        for a in o["accuracy"]:
            w(f"    {{{c_str(a['variant'])}, {c_str(accuracy_text(a))}}},\n")
        w("};\n\n")
    w("const aidev_op_info aidev_library_ops[] = {\n")
    for o in ops:
        w("    {\n")
        w(f"        .name = {c_str(o['name'])}, .call = {c_str(o['call'])},\n")
        w(f"        .kernels = {c_str(' '.join(o['kernels']))},\n")
        w(f"        .doc = {c_str(o['doc'])},\n")
        w(f"        .dtypes = {c_str('; '.join(o['dtypes']))},\n")
        w(f"        .broadcast = {c_str(o['broadcast'])},\n")
        w(f"        .accuracy_count = {len(o['accuracy'])}, .accuracy = accuracy_{o['name']},\n")
        w("    },\n")
    if not ops:
        w("    {0},\n")
    w("};\n\n")
    w(f"const uint32_t aidev_library_op_count_ = {len(ops)};\n")


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
        for name in reversed(k["prelude"] or []):
            with open(prelude_path(srcdir, name), encoding="utf-8") as f:
                text = f.read() + "\n" + text
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


def md(text):
    return text.replace("|", "\\|")


def accuracy_text(acc):
    if acc["exact"]:
        text = "exact"
    else:
        text = f"rel {acc['rel']:g}" + (f", abs {acc['abs']:g}" if acc["abs"] else "")
    return text + (f" {acc['note']}" if acc["note"] else "")


# What each form of user kernel takes beyond its source (aidev.h, "Kernels");
# aidev-info --kernels prints the same table.
USER_KERNEL_FORMS = [
    ("OpenCL C", "kernel_opencl_c",
     "build_options (-D, -cl-std=...); local-memory arguments (AIDEV_ARG_LOCAL, "
     "aidev_arg_local(bytes)) where the device has kernel_local_args",
     "specialization constants"),
    ("SPIR-V", "kernel_spirv",
     "specialization constants (desc.spec_constants) where the device has "
     "kernel_spec_constants; the binding convention of aidev.h",
     "build options, local-memory arguments"),
    ("C function", "kernel_host", "nothing more",
     "build options, specialization constants, local-memory arguments"),
]


def write_user_kernels(out):
    w = out.write
    w("\n# User kernels\n\n")
    w("Kernels of your own come through `aidev_kernel_create` (aidev.h, section \"Kernels\")\n"
      "in a form the device takes, with a declared signature that every dispatch is checked\n"
      "against, as the library's are. What each form takes beyond its source, and what it\n"
      "refuses with AIDEV_ERROR_INVALID_ARGUMENT (never ignores); a device whose backend\n"
      "cannot apply what its form takes refuses it with AIDEV_ERROR_UNSUPPORTED.\n\n")
    w("| form | device feature | takes | refuses |\n| --- | --- | --- | --- |\n")
    for form, feature, takes, refuses in USER_KERNEL_FORMS:
        w(f"| {form} | `{feature}` | {md(takes)} | {md(refuses)} |\n")


def write_markdown(kernels, ops, out):
    w = out.write
    w("# Built-in kernels\n\n")
    w("Generated from `kernels/manifest.txt` by `kernels/gen_library.py`; a test fails when\n"
      "this file is stale (regenerate it with `gen_library.py kernels/manifest.txt --markdown\n"
      "kernels/KERNELS.md`). Get a kernel with `aidev_kernel_get(device, name, &kernel)` and\n"
      "dispatch it with its arguments in the order below; `grid` is the logical grid a\n"
      "dispatch without a grid runs. Matrices are row-major. Accuracy is against a scalar\n"
      "reference computed in double: `rel R, abs A` means |got - ref| <= A + R * mag, mag\n"
      "being |ref| unless the note says otherwise. `gpu` is the launch of the OpenCL and\n"
      "GLSL forms (see `kernels/library_forms.h`). Kernels marked internal are run by the\n"
      "tensor ops below and are not dispatched by name.\n\n")
    w("| kernel | arguments | grid | computes | accuracy | gpu | forms |\n"
      "| --- | --- | --- | --- | --- | --- | --- |\n")
    for k in kernels:
        args = []
        for a in k["args"]:
            if a["kind"] == "SCALAR":
                args.append(f"{a['type'].lower()} {a['name']}")
            else:
                cnt = f"[{a['count']}]" if a["count"] else "[]"
                args.append(f"{a['type'].lower()}{cnt} {a['name']} ({a['access'].lower()})")
        g = k["gpu"]
        dims = g["local"][:]
        while len(dims) > 1 and dims[-1] == 1:
            dims.pop()
        local = "x".join(str(x) for x in dims)
        gpu = f"{g['launch'].lower()} {local}" + \
            (f" per {g['items_per_thread']}" if g["items_per_thread"] > 1 else "")
        acc = "internal: see its ops" if k["internal"] else accuracy_text(k["accuracy"])
        w(f"| `{k['name']}` | {md(', '.join(args))} | {' x '.join(k['grid']) or '1'} | "
          f"{md(k['doc'])} | {md(acc)} | {gpu} | "
          f"{', '.join(k['forms'])} |\n")
    if not ops:
        write_user_kernels(out)
        return
    w("\n# Tensor ops\n\n")
    w("Each op is one call of `aidev.h` (section \"Tensors and ops\") taking `aidev_tensor`\n"
      "descriptors: a buffer, a byte offset, a storage type and up to four axes, each with\n"
      "a size and a stride in elements (any sign; 0 repeats an element). Inputs may be any\n"
      "view that lies inside its buffer; an output's elements must not overlap. Every op\n"
      "loads its inputs as f32, computes in f32 and rounds once to the output's type:\n"
      "f16 and bf16 to nearest even (overflow to infinity), integers half to even with\n"
      "saturation (NaN to 0). Accuracy is stated for f32 outputs, against a scalar\n"
      "reference in double computed from the same (already rounded) inputs; an f16 or\n"
      "bf16 output may further differ by its rounding: half an ulp, 2^-11 or 2^-8 of\n"
      "|ref|, and 2^-25 absolute for f16 subnormals. Broadcasting follows NumPy: shapes\n"
      "are aligned at their last axis, and an axis of size 1 (or a missing leading axis)\n"
      "repeats along the other operand's. A combination the table does not list is\n"
      "refused with AIDEV_ERROR_UNSUPPORTED (or AIDEV_ERROR_INVALID_ARGUMENT for shapes),\n"
      "the message naming the operand and the values.\n\n")
    w("| op | call | computes | dtypes | broadcasting | accuracy | kernels |\n"
      "| --- | --- | --- | --- | --- | --- | --- |\n")
    for o in ops:
        acc = "; ".join(f"{a['variant']}: {accuracy_text(a)}" for a in o["accuracy"])
        w(f"| `{o['name']}` | `{o['call']}` | {md(o['doc'])} | {md('; '.join(o['dtypes']))} | "
          f"{md(o['broadcast'] or 'none')} | {md(acc)} | "
          f"{', '.join('`' + k + '`' for k in o['kernels'])} |\n")
    write_user_kernels(out)


def write_tolerances(kernels, ops, out):
    w = out.write
    w("/* Generated by kernels/gen_library.py from kernels/manifest.txt. Do not edit. */\n")
    w("#ifndef AIDEV_KERNEL_TOLERANCES_H\n#define AIDEV_KERNEL_TOLERANCES_H\n\n")
    w("#include <stdbool.h>\n#include <stddef.h>\n#include <string.h>\n\n")
    w("typedef struct kernel_tolerance {\n    const char *name;\n    bool exact;\n"
      "    double rel, abs;\n    const char *note;\n} kernel_tolerance;\n\n")
    w("static const kernel_tolerance kernel_tolerances[] = {\n")
    entries = [(k["name"], k["accuracy"]) for k in kernels if k["accuracy"]]
    entries += [(f"{o['name']}.{a['variant']}", a) for o in ops for a in o["accuracy"]]
    for name, a in entries:
        w(f"    {{{c_str(name)}, {'true' if a['exact'] else 'false'}, {a['rel']!r}, "
          f"{a['abs']!r}, {c_str(a['note'])}}},\n")
    w("};\n\n")
    w("static inline const kernel_tolerance *kernel_tolerance_of(const char *name)\n{\n"
      "    for (size_t i = 0; i < sizeof kernel_tolerances / sizeof kernel_tolerances[0]; i++)\n"
      "        if (strcmp(kernel_tolerances[i].name, name) == 0)\n"
      "            return &kernel_tolerances[i];\n"
      "    return NULL;\n}\n\n#endif\n")


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
    ap.add_argument("--tolerances")
    ap.add_argument("--check-markdown")
    opts = ap.parse_args()
    try:
        kernels, ops = parse(opts.manifest)
        # Public kernels first: aidev_library_kernel() lists them by the
        # index backends get; the ops' internal kernels follow.
        kernels = [k for k in kernels if not k["internal"]] + [k for k in kernels if k["internal"]]
        if opts.srcdir:
            check_sources(kernels, opts.srcdir)
        if opts.list:
            for k in kernels:
                if opts.list in k["forms"]:
                    print(k["name"])
        if opts.table:
            with open(opts.table, "w", encoding="utf-8") as f:
                write_table(kernels, ops, f)
        if opts.markdown:
            with open(opts.markdown, "w", encoding="utf-8") as f:
                write_markdown(kernels, ops, f)
        if opts.tolerances:
            with open(opts.tolerances, "w", encoding="utf-8") as f:
                write_tolerances(kernels, ops, f)
        if opts.check_markdown:
            import io
            want = io.StringIO()
            write_markdown(kernels, ops, want)
            with open(opts.check_markdown, encoding="utf-8") as f:
                if f.read() != want.getvalue():
                    raise ManifestError(f"{opts.check_markdown} is stale: regenerate it with "
                                        f"gen_library.py {opts.manifest} --markdown "
                                        f"{opts.check_markdown}")
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

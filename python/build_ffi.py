#!/usr/bin/env python3
"""Writes the C source of aidev._ffi, the cffi extension behind the package.

  build_ffi.py --cc CC... --include DIR --output _ffi.c [--depfile FILE]
               [--cdef-out FILE] [--extra-cdef FILE]

The declarations cffi is given (its cdef) are not written by hand: they are
aidev.h and dlpack.h themselves, run through the C preprocessor with
<stdint.h> and <stddef.h> shadowed by empty files (cffi knows their types),
the bodies of the static inline helpers (aidev_arg_*) turned into
prototypes, and every integer #define of aidev.h (and of the aidev headers
it includes) added as "#define NAME ...".
The extension is then compiled against the real headers (out-of-line API
mode): cffi emits, for every struct, field and constant, C code that the
compiler checks, so a declaration that does not match the header is a
compile error (warnings on pointer and integer mismatches are made errors
by python/meson.build), never a wrong offset at run time.

Besides the headers, the extension holds a few helpers written in C here
(the PREAMBLE): the DLPack capsule destructor, the import of a producer's
tensor under a deleter that takes the GIL, and the two "extern Python"
callbacks through which libaidev threads reach Python.

--extra-cdef appends declarations (tests use it to check that a wrong one
is refused by the compiler); --cdef-out writes the cdef for reading.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import cffi

# C written for the extension; cffi puts it after <Python.h>.
PREAMBLE = r"""
#include <stdlib.h>
#include <aidev/aidev.h>
#include <dlpack/dlpack.h>

/* Capsule names: a capsule keeps the pointer to its name, so they are
 * static. */
static const char *const aidevpy_dltensor_name = "dltensor";
static const char *const aidevpy_used_dltensor_name = "used_dltensor";

/* The destructor of the "dltensor" capsules Buffer.__dlpack__ hands out: a
 * capsule a consumer never took (still named "dltensor") gives its tensor
 * back; a consumed one ("used_dltensor") is the consumer's to delete.
 * Runs with the GIL held, as every capsule destructor. */
static void aidevpy_capsule_destructor(void *object)
{
    PyObject *capsule = object;
    if (!PyCapsule_IsValid(capsule, "dltensor"))
        return;
    DLManagedTensor *t = PyCapsule_GetPointer(capsule, "dltensor");
    if (t && t->deleter)
        t->deleter(t);
}

/* A producer's tensor inside one of ours: libaidev may call the deleter on
 * any of its threads and without the GIL (when the last command using the
 * buffer completes), while Python producers (NumPy 1.24's among them)
 * assume the GIL is held. */
typedef struct aidevpy_guarded_tensor {
    DLManagedTensor outer;
    DLManagedTensor *inner;
} aidevpy_guarded_tensor;

static void aidevpy_guarded_deleter(DLManagedTensor *self)
{
    aidevpy_guarded_tensor *g = self->manager_ctx;
    if (g->inner->deleter) {
        PyGILState_STATE gil = PyGILState_Ensure();
        g->inner->deleter(g->inner);
        PyGILState_Release(gil);
    }
    free(g);
}

/* The two scalar kinds aidev.h has no aidev_arg_* helper for, built the
 * same way. */
static aidev_arg aidevpy_arg_i64(int64_t v)
{
    aidev_arg a = aidev_arg_u64(0);
    a.type = AIDEV_TYPE_I64;
    a.u.i64 = v;
    return a;
}

static aidev_arg aidevpy_arg_f64(double v)
{
    aidev_arg a = aidev_arg_u64(0);
    a.type = AIDEV_TYPE_F64;
    a.u.f64 = v;
    return a;
}

/* aidev_buffer_import_dlpack() of |tensor| wrapped as above. On failure the
 * caller keeps |tensor|, as with the library call. */
static aidev_status aidevpy_import_dlpack(aidev_device device, DLManagedTensor *tensor,
                                          aidev_buffer *out_buffer)
{
    aidevpy_guarded_tensor *g = malloc(sizeof *g);
    if (!g)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    g->outer = *tensor;
    g->outer.manager_ctx = g;
    g->outer.deleter = aidevpy_guarded_deleter;
    g->inner = tensor;
    aidev_status st = aidev_buffer_import_dlpack(device, &g->outer, out_buffer);
    if (st != AIDEV_SUCCESS)
        free(g);
    return st;
}
"""

# Declarations of the preamble and the callbacks into Python.
HELPERS_CDEF = r"""
static const char *const aidevpy_dltensor_name;
static const char *const aidevpy_used_dltensor_name;
void aidevpy_capsule_destructor(void *capsule);
aidev_status aidevpy_import_dlpack(aidev_device device, DLManagedTensor *tensor,
                                   aidev_buffer *out_buffer);
aidev_arg aidevpy_arg_i64(int64_t v);
aidev_arg aidevpy_arg_f64(double v);
extern "Python" void aidevpy_event_done(aidev_event event, aidev_status status, void *user_data);
extern "Python" void aidevpy_host_callback(void *user_data);
"""

# Integer macros of aidev.h: "#define AIDEV_NAME value" where value is an
# integer expression (no function-like macro, no string).
MACRO = re.compile(r"^#define\s+(AIDEV_[A-Z0-9_]+)[ \t]+([^\n]*?)\s*(?:/\*.*)?$", re.M)
INTEGER_EXPR = re.compile(r"^[0-9A-Za-z_ ()<>|+\-*]+$")
NOT_CONSTANTS = {"AIDEV_AIDEV_H", "AIDEV_API"}


def integer_macros(header_text):
    names = []
    for name, value in MACRO.findall(header_text):
        if name in NOT_CONSTANTS or not value or not INTEGER_EXPR.match(value):
            continue
        names.append(name)
    return names


def preprocess(cc, include_dir, depfile=None, target=None):
    """aidev.h and dlpack.h after the preprocessor, without the C library's
    headers (stdint.h and stddef.h are shadowed by empty files). With
    |depfile|, writes there the headers read, for the build to know when to
    run again (|target| is the file made)."""
    with tempfile.TemporaryDirectory() as shadow:
        for name in ("stdint.h", "stddef.h"):
            open(os.path.join(shadow, name), "w").close()
        source = "#include <dlpack/dlpack.h>\n#include <aidev/aidev.h>\n"
        deps = ["-MD", "-MF", os.path.join(shadow, "deps"), "-MT", target] if depfile else []
        run = subprocess.run(cc + ["-E", "-P", "-I", shadow, "-I", include_dir] + deps +
                             ["-x", "c", "-"], input=source, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("build_ffi.py: the preprocessor failed:\n" + run.stderr)
        if depfile:
            with open(os.path.join(shadow, "deps")) as f:
                words = f.read().replace("\\\n", " ").split()
            with open(depfile, "w") as f:  # the shadow headers are gone after this
                f.write(" ".join(w for w in words if not w.startswith(shadow) and w != "-")
                        + "\n")
        return run.stdout


def inline_bodies_to_prototypes(text):
    """'static inline T f(args) { ... }' becomes 'T f(args);': in API mode
    cffi wraps the header's inline function itself."""
    out = []
    pos = 0
    for m in re.finditer(r"static\s+inline\s+", text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        brace = text.index("{", m.end())
        out.append(text[m.end():brace].rstrip() + ";\n")
        depth = 0
        i = brace
        while True:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def aidev_headers(include_dir):
    """aidev.h and the aidev headers it includes (the texts), each once
    (aidev_tensor.h includes aidev.h back)."""
    texts, seen, todo = [], set(), ["aidev.h"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        with open(os.path.join(include_dir, "aidev", name)) as f:
            texts.append(f.read())
        todo += re.findall(r"^#include <aidev/(\w+\.h)>", texts[-1], re.M)
    return texts


def make_cdef(cc, include_dir, depfile=None, target=None):
    declarations = inline_bodies_to_prototypes(preprocess(cc, include_dir, depfile, target))
    macros = [m for text in aidev_headers(include_dir) for m in integer_macros(text)]
    constants = "".join("#define %s ...\n" % name for name in macros)
    return declarations + "\n" + constants + HELPERS_CDEF


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", nargs="+", required=True, help="the C compiler command")
    ap.add_argument("--include", required=True, help="the folder holding aidev/aidev.h")
    ap.add_argument("--output", required=True, help="the C file to write")
    ap.add_argument("--cdef-out", help="also write the cdef given to cffi here")
    ap.add_argument("--extra-cdef", help="a file of declarations to append to the cdef")
    ap.add_argument("--depfile", help="write the headers read here (make syntax)")
    args = ap.parse_args()

    cdef = make_cdef(args.cc, args.include, args.depfile, args.output)
    if args.extra_cdef:
        with open(args.extra_cdef) as f:
            cdef += "\n" + f.read()
    if args.cdef_out:
        with open(args.cdef_out, "w") as f:
            f.write(cdef)
    ffibuilder = cffi.FFI()
    ffibuilder.cdef(cdef)
    ffibuilder.set_source("aidev._ffi", PREAMBLE)
    ffibuilder.emit_c_code(args.output)


if __name__ == "__main__":
    main()

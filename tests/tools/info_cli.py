#!/usr/bin/env python3
"""aidev-info run as a subprocess, the way operators and scripts run it.

usage: info_cli.py --aidev-info PATH --schema PATH --fake-dir DIR --man-src PATH
                   --views PATH TEST

TEST is one of the names in TESTS below; meson registers each as its own
test. Exit status: 0 pass, 1 fail, 77 skip (meson's convention), with the
reason on stdout.

The fake plugins in --fake-dir (tests/tools/fake_backend.c) describe what
this machine cannot show: one GPU reached through two backends, a device
name longer than a line laced with escape sequences and invalid UTF-8.
"""
import argparse
import copy
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata

LINE_LIMIT = 100
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NO_DEVICE, EXIT_SELFTEST = 0, 1, 2, 3, 4
FOUNDATION_BACKEND_KEYS = {"name": str, "path": str, "status": str, "reason": str}
FOUNDATION_DEVICE_KEYS = {"index": int, "backend": str, "name": str, "vendor": str,
                          "type": str, "memory_bytes": int, "compute_units": int}
# Generous: PoCL builds kernels with LLVM, and under ASan everything is slow.
TIMEOUT = 500


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# --------------------------------------------------------------------------
# Running aidev-info
# --------------------------------------------------------------------------

class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def describe(self):
        return (f"aidev-info {' '.join(self.args)} exited {self.rc}\n"
                f"--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}")


def environment(extra=None, remove=()):
    env = dict(os.environ)
    # Colour and selection are under each test's control, whatever the
    # environment that runs the suite sets.
    for name in ("NO_COLOR", "AIDEV_BACKENDS", "AIDEV_PLUGIN_PATH") + tuple(remove):
        env.pop(name, None)
    env.update(extra or {})
    return env


def run(opts, args, env=None, tty=False):
    cmd = [opts.aidev_info] + list(args)
    env = environment() if env is None else env
    if not tty:
        p = subprocess.run(cmd, capture_output=True, env=env, timeout=TIMEOUT)
        out = p.stdout.decode("utf-8")  # strict: the output must be valid UTF-8
        return Result(args, p.returncode, out, p.stderr.decode("utf-8", "replace"))
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    err = p.stderr.read()
    p.wait(timeout=TIMEOUT)
    os.close(master)
    out = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    return Result(args, p.returncode, out, err.decode("utf-8", "replace"))


def run_json(opts, args=(), env=None, want_rc=EXIT_OK):
    r = run(opts, ["--json"] + list(args), env)
    if r.rc == EXIT_USAGE and "built without json-c" in r.err:
        raise Skip("aidev-info was built without json-c: no --json to check")
    check(r.rc == want_rc, f"expected exit {want_rc}\n" + r.describe())
    try:
        return json.loads(r.out)
    except json.JSONDecodeError as e:
        raise Fail(f"not JSON: {e}\n" + r.describe())


def with_fakes(opts, extra=None):
    env = {"AIDEV_PLUGIN_PATH": opts.fake_dir}
    env.update(extra or {})
    return environment(env)


# --------------------------------------------------------------------------
# Schema validation: jsonschema when installed, and always a small validator
# of the subset of JSON Schema the schema file uses
# --------------------------------------------------------------------------

def type_ok(v, t):
    return {
        "null": v is None,
        "boolean": isinstance(v, bool),
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": isinstance(v, str),
        "array": isinstance(v, list),
        "object": isinstance(v, dict),
    }[t]


def resolve(root, ref):
    check(ref.startswith("#/"), f"unsupported $ref {ref}")
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def mini_validate(value, node, root, path, errors):
    if "$ref" in node:
        mini_validate(value, resolve(root, node["$ref"]), root, path, errors)
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(type_ok(value, t) for t in types):
            errors.append(f"{path}: {value!r} is not of type {node['type']}")
            return
    if "const" in node and value != node["const"]:
        errors.append(f"{path}: {value!r} is not {node['const']!r}")
    if "enum" in node and not any(value == e and type(value) is type(e) for e in node["enum"]):
        errors.append(f"{path}: {value!r} is not one of {node['enum']}")
    if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {node['pattern']}")
    if type_ok(value, "number"):
        if "minimum" in node and value < node["minimum"]:
            errors.append(f"{path}: {value} < {node['minimum']}")
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            errors.append(f"{path}: {value} <= {node['exclusiveMinimum']}")
    if isinstance(value, dict):
        for key in node.get("required", []):
            if key not in value:
                errors.append(f"{path}: required key '{key}' missing")
        props = node.get("properties", {})
        for key, v in value.items():
            if key in props:
                mini_validate(v, props[key], root, f"{path}.{key}", errors)
            elif node.get("additionalProperties") is False:
                errors.append(f"{path}: key '{key}' is not described by the schema")
    if isinstance(value, list):
        if "minItems" in node and len(value) < node["minItems"]:
            errors.append(f"{path}: fewer than {node['minItems']} items")
        if "maxItems" in node and len(value) > node["maxItems"]:
            errors.append(f"{path}: more than {node['maxItems']} items")
        if "items" in node:
            for i, v in enumerate(value):
                mini_validate(v, node["items"], root, f"{path}[{i}]", errors)


def strict(schema):
    """The schema with additionalProperties false on every object: a document
    that passes it has no key the schema does not describe."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node:
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(s)
    return s


def validate(doc, schema):
    errors = []
    for variant, name in ((schema, "schema"), (strict(schema), "strict schema")):
        errs = []
        mini_validate(doc, variant, variant, "$", errs)
        errors += [f"{name}: {e}" for e in errs]
        try:
            import jsonschema
        except ImportError:
            continue
        cls = jsonschema.validators.validator_for(variant)
        cls.check_schema(variant)
        for e in cls(variant).iter_errors(doc):
            where = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"jsonschema ({name}): {where}: {e.message}")
    return errors


def load_schema(opts):
    with open(opts.schema, encoding="utf-8") as f:
        return json.load(f)


def check_document(opts, doc, full=True, this_machine=True):
    """Schema, foundation keys and the document's own cross-references."""
    errors = validate(doc, load_schema(opts))
    check(not errors, "document does not match the schema:\n  " + "\n  ".join(errors))
    for b in doc["backends"]:
        for key, t in FOUNDATION_BACKEND_KEYS.items():
            check(isinstance(b.get(key), t), f"backend {b} lacks '{key}' as {t.__name__}")
        check(b["status"] != "loaded" or b["reason"] == "",
              f"loaded backend with a reason: {b}")
    for d in doc["devices"]:
        for key, t in FOUNDATION_DEVICE_KEYS.items():
            check(isinstance(d.get(key), t) and not isinstance(d.get(key), bool),
                  f"device {d.get('index')} lacks '{key}' as {t.__name__}")
    loaded = {b["name"]: b for b in doc["backends"] if b["status"] == "loaded"}
    for d in doc["devices"]:
        check(d["backend"] in loaded, f"device {d['index']} of a backend not loaded")
    if full:
        check([d["index"] for d in doc["devices"]] == list(range(len(doc["devices"]))),
              "device indices are not 0..n-1 in order")
        check(sum(b["device_count"] for b in doc["backends"]) == len(doc["devices"]),
              "backends' device_count do not add up to the devices")
    by_index = {d["index"]: d for d in doc["devices"]}
    for h in doc["hardware"]:
        check(doc["hardware"].index(h) == h["index"], f"hardware index {h['index']} out of place")
        for i in h["devices"]:
            if i in by_index:
                check(by_index[i]["hardware"] == h["index"],
                      f"hardware {h['index']} lists device {i}, whose hardware is "
                      f"{by_index[i]['hardware']}")
        for n in h["drm_nodes"]:
            check(doc["drm"]["nodes"][n]["hardware"] == h["index"],
                  f"hardware {h['index']} lists DRM node {n} that points elsewhere")
    for d in doc["devices"]:
        if d["hardware"] is not None:
            check(d["index"] in doc["hardware"][d["hardware"]]["devices"],
                  f"device {d['index']} points at hardware {d['hardware']} that lacks it")
    if this_machine and not os.path.exists("/dev/dri"):
        check(doc["drm"]["status"] in ("no_dri", "not_built"),
              f"no /dev/dri here, yet drm.status is {doc['drm']['status']}")
        check(doc["drm"]["reason"], "drm.reason is empty")


# --------------------------------------------------------------------------
# Text checks
# --------------------------------------------------------------------------

def display_width(line):
    w = 0
    for ch in line:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def check_lines(r, limit=LINE_LIMIT):
    for n, line in enumerate(r.out.split("\n"), 1):
        check(display_width(line) <= limit,
              f"line {n} is {display_width(line)} columns wide (limit {limit}):\n{line}\n"
              + r.describe())
        bad = [c for c in line if unicodedata.category(c) == "Cc"]
        check(not bad, f"line {n} holds control characters {bad!r}:\n{line!r}")


def squash(s):
    return re.sub(r"\s+", "", s)


# --------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------

def test_json_schema(opts):
    """--json validates against the schema, as does every variant of it."""
    doc = run_json(opts)
    check_document(opts, doc)
    check(any(b["status"] == "loaded" for b in doc["backends"]), "no backend loaded")
    check(doc["devices"], "no device at all")
    check(doc["version"] == run(opts, ["--version"]).out.split()[-1],
          "--json version differs from --version")
    for d in doc["devices"]:
        one = run_json(opts, ["-d", str(d["index"])])
        check_document(opts, one, full=False)
        check([x["index"] for x in one["devices"]] == [d["index"]], "-d N --json: wrong devices")
    fakes = run_json(opts, env=with_fakes(opts))
    check_document(opts, fakes)
    print(f"validated ({'jsonschema and ' if has_jsonschema() else ''}built-in validator): "
          f"{len(doc['backends'])} backends, {len(doc['devices'])} devices")


def has_jsonschema():
    try:
        import jsonschema  # noqa: F401
        return True
    except ImportError:
        return False


def test_usage(opts):
    """Exit statuses: 0 ok, 1 error, 2 usage; --help says them."""
    r = run(opts, ["--help"])
    check(r.rc == EXIT_OK and "usage: aidev-info" in r.out, r.describe())
    for words in ("0 ok", "1 error", "2 usage", "3 no device", "4 a device failed"):
        check(words in squash_spaces(r.out), f"--help does not say '{words}'\n" + r.out)
    check_lines(r, 80)
    for bad in (["--no-such-option"], ["-x"], ["-d"], ["-d", "x"], ["-d", "-1"], ["extra"]):
        r = run(opts, bad)
        check(r.rc == EXIT_USAGE, r.describe())
        check(r.out == "" and r.err, f"usage errors go to stderr\n" + r.describe())
    doc = run_json(opts)
    r = run(opts, ["-d", str(len(doc["devices"]))])
    check(r.rc == EXIT_USAGE and "no such device" in r.err, r.describe())
    r = run(opts, [], environment({"AIDEV_MEM_LIMIT": "lots"}))
    check(r.rc == EXIT_ERROR and "AIDEV_MEM_LIMIT" in r.err, r.describe())
    r = run(opts, ["--version"])
    check(r.rc == EXIT_OK and re.match(r"aidev-info \d+\.\d+\.\d+\n$", r.out), r.describe())
    r = run(opts, ["--kernels"])
    check(r.rc == EXIT_OK and re.search(r"^axpy\(", r.out, re.M), r.describe())
    check(re.search(r"^binary  aidev_enqueue_binary\n(    .*\n)*?    runs: tensor_elementwise$",
                    r.out, re.M), "no tensor ops, or not what they run\n" + r.describe())
    check(re.search(r"^SPIR-V  feature kernel_spirv\n    takes: specialization constants",
                    r.out, re.M), "no user kernel forms\n" + r.describe())
    check_lines(r)


def test_environment(opts):
    """A refused or capped environment value: said once on stderr, shown in
    the text view and under "environment" in --json; none otherwise."""
    doc = run_json(opts)
    check(doc["environment"] == [], f"environment not empty: {doc['environment']}")
    bad = environment({"AIDEV_CPU_THREADS": "100000", "AIDEV_HUGEPAGES": "3x"})
    r = run(opts, [], bad)
    check(r.rc == EXIT_OK, r.describe())
    for var in ("AIDEV_CPU_THREADS='100000'", "AIDEV_HUGEPAGES='3x'"):
        check(r.err.count(var) == 1, f"stderr does not say {var} once\n" + r.describe())
        check(var in squash_spaces(r.out), f"the text view lacks {var}\n" + r.describe())
    check_lines(r)
    r = run(opts, ["--json"], bad)
    check(r.rc == EXIT_OK, r.describe())
    doc = json.loads(r.out)
    check_document(opts, doc)
    by_name = {e["name"]: e for e in doc["environment"]}
    threads = by_name.get("AIDEV_CPU_THREADS")
    check(threads and threads["value"] == "100000" and "per CPU" in threads["problem"]
          and re.match(r"using \d+$", threads["used"]), f"AIDEV_CPU_THREADS: {threads}")
    huge = by_name.get("AIDEV_HUGEPAGES")
    check(huge and huge["value"] == "3x" and "auto" in huge["used"], f"AIDEV_HUGEPAGES: {huge}")
    cpu = [d for d in doc["devices"] if d["backend"] == "cpu"]
    cap = int(threads["used"].split()[1])
    check(cpu and cap < 100000, f"the cap is not below the value asked: {threads}")


def squash_spaces(s):
    return re.sub(r"\s+", " ", s)


def test_no_device(opts):
    """No device at all is exit 3, in every mode, with the reasons shown."""
    env = environment({"AIDEV_BACKENDS": "no-such-backend"})
    r = run(opts, [], env)
    check(r.rc == EXIT_NO_DEVICE, r.describe())
    check(re.search(r"^Devices\n\s+none", r.out, re.M), "no 'none' under Devices\n" + r.describe())
    check("not selected by AIDEV_BACKENDS" in squash_spaces(r.out), r.describe())
    check_lines(r)
    doc = run_json(opts, env=env, want_rc=EXIT_NO_DEVICE)
    check_document(opts, doc)
    check(doc["devices"] == [] and all(b["status"] != "loaded" for b in doc["backends"]),
          "devices listed with no backend selected")
    for args in (["-d", "0"], ["--self-test"], ["-v"]):
        r = run(opts, args, env)
        check(r.rc == EXIT_NO_DEVICE, r.describe())


def broken_plugin_dir(root):
    """A plugin folder with a long name holding files that are no plugin."""
    folder = os.path.join(root, "plugins-with-a-name-long-enough-to-wrap-" + "x" * 90)
    os.mkdir(folder)
    with open(os.path.join(folder, "libaidev-backend-broken.so"), "w") as f:
        f.write("this is not an ELF file\n")
    open(os.path.join(folder, "libaidev-backend-empty.so"), "w").close()
    return folder


def test_broken_plugin(opts):
    """A broken plugin is shown failed with its reason; all else still works."""
    base = run_json(opts)
    with tempfile.TemporaryDirectory() as tmp:
        env = environment({"AIDEV_PLUGIN_PATH": broken_plugin_dir(tmp)})
        doc = run_json(opts, env=env)
        check_document(opts, doc)
        names = lambda d: [(x["backend"], x["name"]) for x in d["devices"]]
        check(names(doc) == names(base),
              f"devices changed with a broken plugin: {names(doc)} vs {names(base)}")
        failed = {b["name"]: b for b in doc["backends"] if b["status"] == "failed"}
        for name in ("broken", "empty"):
            check(name in failed, f"backend '{name}' not listed as failed: {doc['backends']}")
            check(failed[name]["reason"], f"backend '{name}' failed without a reason")
            check(failed[name]["path"].endswith(f"libaidev-backend-{name}.so"), str(failed[name]))
        r = run(opts, [], env)
        check(r.rc == EXIT_OK, r.describe())
        check_lines(r)
        for name in ("broken", "empty"):
            check(re.search(rf"^\s+{name}\s+failed\s+0\s", r.out, re.M),
                  f"no '{name} failed' row\n" + r.describe())
            check(squash(failed[name]["reason"]) in squash(r.out),
                  f"the reason of '{name}' is not shown whole\n" + r.describe())
        for d in base["devices"]:
            check(re.search(rf"^\s+{d['index']}\s+{re.escape(d['backend'])}\s", r.out, re.M),
                  f"device {d['index']} missing\n" + r.describe())


def test_width(opts):
    """No line of any text output is wider than 100 columns, whatever the
    names, paths and reasons; nothing unprintable gets through."""
    with tempfile.TemporaryDirectory() as tmp:
        folders = broken_plugin_dir(tmp) + ":" + opts.fake_dir
        env = environment({"AIDEV_PLUGIN_PATH": folders})
        doc = run_json(opts, env=env)
        runs = [[], ["-v"], ["--self-test"], ["--kernels"], ["--help"]]
        runs += [["-d", str(d["index"])] for d in doc["devices"]]
        for args in runs:
            r = run(opts, args, env)
            check(r.rc in (EXIT_OK, EXIT_SELFTEST), r.describe())
            check_lines(r)
        r = run(opts, [], env)
        long_name = [d for d in doc["devices"] if d["name"].startswith("Fake GPU 9000 (path B)")]
        check(long_name, "the fake plugin's long name is missing")
        row = [l for l in r.out.split("\n") if "Fake GPU 9000 (path B)" in l]
        check(len(row) == 1 and row[0].endswith("..."),
              f"the long name is not cut with '...': {row}")


def test_color(opts):
    """Colour only on a terminal, and only without NO_COLOR."""
    sgr = re.compile(r"\x1b\[[0-9;]*m")
    env = with_fakes(opts, {"TERM": "xterm"})
    r = run(opts, [], env, tty=True)
    check(r.rc == EXIT_OK, r.describe())
    check(sgr.search(r.out), "no colour on a terminal\n" + r.describe())
    # Only our own colour codes: the ESC sequences in a device name do not
    # reach the terminal.
    check("\x1b" not in sgr.sub("", r.out), "foreign escape sequence\n" + repr(r.out))
    check_lines(Result(r.args, r.rc, sgr.sub("", r.out), r.err))
    plain = run(opts, [], env)
    check(sgr.sub("", r.out) == plain.out, "coloured text differs from plain text")
    for extra, why in (({"NO_COLOR": "1"}, "NO_COLOR=1"), ({"TERM": "dumb"}, "TERM=dumb")):
        e = dict(env)
        e.update(extra)
        r = run(opts, [], e, tty=True)
        check(r.rc == EXIT_OK and "\x1b" not in r.out, f"colour with {why}\n" + repr(r.out))
    e = dict(env)
    e["NO_COLOR"] = ""  # no-color.org: only a non-empty value turns it off
    r = run(opts, [], e, tty=True)
    check(sgr.search(r.out), "NO_COLOR='' turned colour off")
    r = run(opts, ["--json"], env, tty=True)
    check("\x1b" not in r.out, "escape sequences in JSON on a terminal")
    check("\x1b" not in plain.out, "escape sequences in piped output")
    r = run(opts, ["--self-test"], env, tty=True)
    check(sgr.search(r.out), "no colour in the self-test on a terminal")


def test_device_option(opts):
    """-d N shows device N alone, with every property."""
    doc = run_json(opts, env=with_fakes(opts))
    for d in doc["devices"]:
        r = run(opts, ["-d", str(d["index"])], with_fakes(opts))
        check(r.rc == EXIT_OK, r.describe())
        lines = r.out.split("\n")
        check(lines[0] == f"Device {d['index']}", r.describe())
        for key in ("name", "backend", "vendor", "type", "driver version", "api version",
                    "compute units", "memory", "free memory", "max allocation",
                    "local memory", "max workgroup", "memory kinds", "features", "lacks",
                    "queues honour", "queue scheduling",
                    "pci bus id", "uuid", "numa node", "timestamp period", "hardware"):
            check(re.search(rf"^  {key}  ", r.out, re.M), f"no '{key}' line\n" + r.describe())
        # Which of priorities, preemption and low latency it honours, as its
        # features say, and how in the backend's words.
        qs = d["queue_scheduling"]
        for key, feature in (("priorities", "queue_priority"),
                             ("preemption", "queue_preemption"),
                             ("low_latency", "queue_low_latency")):
            check(qs[key] == (feature in d["features"]), f"{key}: {qs} vs {d['features']}")
        honour = ", ".join(f"{k.replace('_', ' ')} {'yes' if qs[k] else 'no'}"
                           for k in ("priorities", "preemption", "low_latency"))
        check(re.search(rf"^  queues honour\s+{honour}$", r.out, re.M),
              f"'queues honour' is not '{honour}'\n" + r.describe())
        if qs["how"]:
            check(squash(qs["how"]) in squash(r.out), "the scheduling words are not shown")
        if d["free_memory_bytes"] is None:
            check(re.search(r"^  free memory\s+unknown", r.out, re.M), r.describe())
        else:  # a live value: it moves between two runs
            check(re.search(r"^  free memory\s+\S+ \S+ \(\d+ bytes\)$", r.out, re.M),
                  r.describe())
        if "\x1b" not in d["name"] and "\ufffd" not in d["name"]:
            check(squash(d["name"]) in squash(r.out), "the full name is not shown")
        for f in d["features"]:
            check(f in r.out, f"feature {f} not shown\n" + r.describe())


def test_self_test(opts):
    """--self-test passes on every real device; a device that cannot run
    fails it, with its reason, and the exit status says so."""
    doc = run_json(opts)
    r = run(opts, ["--self-test"])
    check(r.rc == EXIT_OK, r.describe())
    rows = dict(re.findall(r"^\s+(\d+)\s+\S+\s+(pass|FAIL)\s", r.out, re.M))
    check(sorted(map(int, rows)) == [d["index"] for d in doc["devices"]],
          f"not one row per device: {rows}\n" + r.describe())
    check(set(rows.values()) == {"pass"}, r.describe())
    n = len(doc["devices"])
    check(f"{n} of {n} device" in r.out, r.describe())
    check_lines(r)
    print(r.out)

    res = run_json(opts, ["--self-test"])
    check_document(opts, res)
    st = res["self_test"]
    check(st["passed"] and len(st["results"]) == n, json.dumps(st, indent=1))
    for e in st["results"]:
        check(e["passed"] and e["stage"] is None and e["message"] == "", str(e))
        check(e["round_trips"] > 0 and e["round_trip_ns"] > 0 and e["first_round_trip_ns"] > 0,
              str(e))

    last = doc["devices"][-1]["index"]
    r = run(opts, ["--self-test", "-d", str(last)])
    check(r.rc == EXIT_OK, r.describe())
    check(re.findall(r"^\s+(\d+)\s+\S+\s+pass\s", r.out, re.M) == [str(last)], r.describe())

    fakes = run_json(opts, ["--self-test"], with_fakes(opts), want_rc=EXIT_SELFTEST)
    check_document(opts, fakes)
    check(not fakes["self_test"]["passed"], "self_test.passed with failing devices")
    for e in fakes["self_test"]["results"]:
        fake = e["backend"].startswith("fake")
        check(e["passed"] != fake, f"result {e}")
        if fake:
            check(e["stage"] == "queue" and "description only" in e["message"], str(e))
    r = run(opts, ["--self-test"], with_fakes(opts))
    check(r.rc == EXIT_SELFTEST, r.describe())
    check(re.search(r"^\s+\d+\s+fakea\s+FAIL\s", r.out, re.M), r.describe())
    check("description only" in squash_spaces(r.out), r.describe())
    check_lines(r)


def test_fake_hardware(opts):
    """One GPU through two backends is one piece of hardware with two paths,
    matched by PCI bus id and UUID; names are never compared."""
    doc = run_json(opts, env=with_fakes(opts))
    check_document(opts, doc)
    a = [d for d in doc["devices"] if d["backend"] == "fakea"]
    b = [d for d in doc["devices"] if d["backend"] == "fakeb"]
    check(len(a) == 1 and len(b) == 2, f"fake devices: {a} {b}")
    gpu_a, gpu_b, npu = a[0], b[0], b[1]
    check(gpu_a["hardware"] is not None and gpu_a["hardware"] == gpu_b["hardware"],
          f"the two paths to the fake GPU are not one hardware: {gpu_a} {gpu_b}")
    hw = doc["hardware"][gpu_a["hardware"]]
    check(hw["pci_bus_id"] == "0000:a5:00.0", str(hw))
    check(hw["uuid"] == "fa4e0001-2345-6789-abcd-ef0011223344", str(hw))
    check(hw["devices"] == sorted([gpu_a["index"], gpu_b["index"]]), str(hw))
    check(not hw["pci_conflict"], str(hw))
    check(gpu_a["pci_bus_id"] == "0000:a5:00.0" and gpu_b["pci_bus_id"] == "A5:00.0",
          "pci_bus_id is not as the backend gave it")
    check(npu["hardware"] is not None and npu["hardware"] != gpu_a["hardware"], str(npu))
    hw_npu = doc["hardware"][npu["hardware"]]
    check(hw_npu["pci_bus_id"] is None and hw_npu["uuid"].startswith("fa4e0002"), str(hw_npu))
    check(npu["type"] == "accelerator" and npu["numa_node"] == 1, str(npu))
    check(npu["features"] == ["int8_dot", "bit40"], str(npu["features"]))
    check(npu["features_mask"] == (1 << 2) | (1 << 40), str(npu["features_mask"]))
    check(gpu_a["free_memory_bytes"] == 6 << 30 and gpu_b["free_memory_bytes"] is None,
          "free memory: only where the backend knows it")
    check(gpu_a["features"] == ["fp16", "fp64", "int8_dot", "subgroups", "svm_coarse",
                                "timeline_semaphores"], str(gpu_a["features"]))
    check(gpu_a["memory_kinds"] == ["device", "host"], str(gpu_a["memory_kinds"]))
    # The hostile name survives in JSON, control characters escaped, the
    # invalid byte replaced.
    for part in ("\x1b[2J", "caf\u00e9", "\u5b57", "bad\ufffd byte"):
        check(part in gpu_b["name"], f"{part!r} not in {gpu_b['name']!r}")

    r = run(opts, [], with_fakes(opts))
    check(r.rc == EXIT_OK, r.describe())
    check_lines(r)
    line = (rf"^  hw{hw['index']}\s+pci 0000:a5:00\.0: devices {gpu_a['index']} \(fakea\), "
            rf"{gpu_b['index']} \(fakeb\)$")
    check(re.search(line, r.out, re.M), f"no hardware line /{line}/\n" + r.describe())
    check(re.search(rf"^  hw{hw_npu['index']}\s+uuid fa4e0002-\S+: device {npu['index']} "
                    r"\(fakeb\)$", r.out, re.M), r.describe())
    r = run(opts, ["-d", str(gpu_b["index"])], with_fakes(opts))
    check(f"also reached as device {gpu_a['index']} (fakea)" in squash_spaces(r.out),
          r.describe())
    check("?[2J?[31mred?[0m caf\u00e9 \u5b57 bad? byte" in r.out,
          "the name is not shown sanitized\n" + r.describe())


def test_man_page(opts):
    """The man page documents every option --help lists, the exit statuses
    and the JSON keys scripts rely on."""
    with open(opts.man_src, encoding="utf-8") as f:
        man = f.read()
    r = run(opts, ["--help"])
    options = set(re.findall(r"(--[a-z][a-z-]+)", r.out))
    check(len(options) >= 6, f"--help lists too few options: {options}")
    for o in sorted(options):
        check(o in man, f"the man page does not document {o}")
    exit_section = man.split("# EXIT STATUS", 1)
    check(len(exit_section) == 2, "no EXIT STATUS section")
    for code in range(5):
        check(re.search(rf"^\*{code}\*", exit_section[1], re.M),
              f"exit status {code} not documented")
    for key in list(FOUNDATION_BACKEND_KEYS) + list(FOUNDATION_DEVICE_KEYS) + ["version"]:
        check(f"*{key}*" in man, f"JSON key {key} not documented in the man page")
    for var in ("NO_COLOR", "AIDEV_PLUGIN_PATH", "AIDEV_BACKENDS"):
        check(var in man, f"{var} not documented")
    scdoc = shutil.which("scdoc")
    if scdoc:
        p = subprocess.run([scdoc], input=man.encode(), capture_output=True, timeout=60)
        check(p.returncode == 0, "scdoc rejects the man page: " + p.stderr.decode())


def test_views_json_schema(opts):
    """The document of a hand-built machine with GPUs and DRM nodes (what
    this machine cannot produce) matches the schema too."""
    p = subprocess.run([opts.views, "--json"], capture_output=True, timeout=TIMEOUT,
                       env=environment())
    if p.returncode == 2:
        raise Skip("aidev-info was built without json-c: no --json to check")
    check(p.returncode == 0, p.stderr.decode())
    doc = json.loads(p.stdout.decode("utf-8"))
    check_document(opts, doc, this_machine=False)
    check(doc["drm"]["status"] == "ok" and len(doc["drm"]["nodes"]) == 3, str(doc["drm"]))


# --- the same machine, seen by the native tools ---------------------------

def backend_or_skip(doc, name, label):
    b = [x for x in doc["backends"] if x["name"] == name]
    if not b:
        raise Skip(f"the {label} backend is absent here (no backend named '{name}' in "
                   "aidev-info --json): nothing to compare")
    if b[0]["reason"].startswith("not selected"):
        raise Skip(f"the {label} backend is not selected: {b[0]['reason']}")
    return b[0]


def test_compare_opencl(opts):
    """aidev's OpenCL device names are those clinfo -l lists."""
    clinfo = shutil.which("clinfo")
    if not clinfo:
        raise Skip("clinfo is not installed")
    doc = run_json(opts)
    backend = backend_or_skip(doc, "opencl", "OpenCL")
    p = subprocess.run([clinfo, "-l"], capture_output=True, timeout=TIMEOUT,
                       env=environment())
    names = sorted(n.strip() for n in re.findall(r"Device #\d+: (.*)$", p.stdout.decode(), re.M))
    ours = sorted(d["name"].strip() for d in doc["devices"] if d["backend"] == "opencl")
    check(ours == names,
          f"aidev's OpenCL devices {ours} (backend {backend['status']}: "
          f"{backend['reason'] or 'no reason'}) differ from clinfo -l's {names}")
    print(f"OpenCL devices match clinfo -l: {names}")


def vulkaninfo_devices(text):
    devices, current = [], None
    section = text.split("\nDevices:", 1)
    for line in (section[1] if len(section) == 2 else "").split("\n"):
        if re.match(r"^GPU\d+:\s*$", line):
            current = {}
            devices.append(current)
            continue
        m = re.match(r"^\s+(\w+)\s*=\s*(.*?)\s*$", line)
        if m and current is not None:
            current[m.group(1)] = m.group(2)
    return devices


def test_compare_vulkan(opts):
    """aidev's Vulkan device names (and UUIDs, where given) are those
    vulkaninfo --summary lists."""
    vulkaninfo = shutil.which("vulkaninfo")
    if not vulkaninfo:
        raise Skip("vulkaninfo is not installed")
    doc = run_json(opts)
    backend = backend_or_skip(doc, "vulkan", "Vulkan")
    p = subprocess.run([vulkaninfo, "--summary"], capture_output=True, timeout=TIMEOUT,
                       env=environment())
    theirs = vulkaninfo_devices(p.stdout.decode("utf-8", "replace"))
    names = sorted(d.get("deviceName", "?") for d in theirs)
    mine = [d for d in doc["devices"] if d["backend"] == "vulkan"]
    ours = sorted(d["name"].strip() for d in mine)
    check(ours == names,
          f"aidev's Vulkan devices {ours} (backend {backend['status']}: "
          f"{backend['reason'] or 'no reason'}) differ from vulkaninfo --summary's {names}")
    uuids = {d.get("deviceUUID", "").lower() for d in theirs}
    for d in mine:
        if d["uuid"] is not None:
            check(d["uuid"] in uuids, f"device {d['index']} UUID {d['uuid']} is none of "
                                      f"vulkaninfo's {sorted(uuids)}")
    print(f"Vulkan devices match vulkaninfo --summary: {names}")


TESTS = {
    "json-schema": test_json_schema,
    "usage": test_usage,
    "no-device": test_no_device,
    "broken-plugin": test_broken_plugin,
    "width": test_width,
    "color": test_color,
    "device-option": test_device_option,
    "self-test": test_self_test,
    "fake-hardware": test_fake_hardware,
    "man-page": test_man_page,
    "views-json-schema": test_views_json_schema,
    "environment": test_environment,
    "compare-opencl": test_compare_opencl,
    "compare-vulkan": test_compare_vulkan,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aidev-info", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--fake-dir", required=True)
    ap.add_argument("--man-src", required=True)
    ap.add_argument("--views", required=True)
    ap.add_argument("test", choices=sorted(TESTS))
    opts = ap.parse_args()
    try:
        TESTS[opts.test](opts)
    except Skip as e:
        print(f"SKIP: {e}")
        return 77
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

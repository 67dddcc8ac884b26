#!/usr/bin/env python3
"""The transformer example on every device, f32 and int8 weights, against
the same model in NumPy (examples/transformer/gpt2_numpy.py).

A small model (V 96, T 32, D 64, 4 heads, 2 layers) is written from a
seed; the example runs a prompt of 8 tokens in one pass, then generates 8
tokens one at a time against its KV cache, and writes the logits of all
16 positions. NumPy runs the example's 16 tokens in one causal pass over
the same file, and the two must agree:

  |logit - numpy| <= TOL * max |numpy logits of that position|

with TOL 1e-4 for f32 weights and 1e-3 for int8 (Q8_0) weights: the ops'
own bounds (kernels/KERNELS.md: f32 sums, exp, tanh) over two layers; with
int8 weights a code that rounds the other way where x / d sits on a half
(NumPy and the device dividing in another order) moves a weight by one
step. Each generated token must be the argmax of NumPy's logits at the
position before it, unless NumPy's top two are closer than the tolerance.

usage: test_transformer.py TRANSFORMER AIDEV_INFO EXAMPLES_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

TOL = {"f32": 1e-4, "int8": 1e-3}
CONFIG = "96,32,64,4,2"
PROMPT = [3, 1, 4, 1, 5, 9, 2, 6]
GENERATE = 8


def run_example(exe, device, mode, weights, logits_path):
    args = [exe, "--device", str(device), "--weights", weights, "--generate", str(GENERATE),
            "--prompt", ",".join(map(str, PROMPT)), "--logits", logits_path]
    if mode == "int8":
        args.append("--int8")
    run = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        return None, None, f"exit {run.returncode}: {run.stderr.strip()}"
    tokens = [int(t) for t in run.stdout.split()]
    return tokens, np.fromfile(logits_path, dtype="<f4"), None


def check(name, tokens, got, cfg, params, tol, failures):
    total = len(PROMPT) + GENERATE
    if len(tokens) != total or tokens[:len(PROMPT)] != PROMPT:
        failures.append(f"{name}: tokens {tokens}")
        return
    got = got.reshape(total, cfg["vocab"])
    ref = gpt2_numpy.Decoder(cfg, params).run(tokens).astype(np.float64)
    scale = np.abs(ref).max(axis=1, keepdims=True)
    err = np.abs(got - ref) / scale
    worst = np.unravel_index(np.argmax(err), err.shape)
    print(f"{name}: largest error {err.max():.3g} of the row's largest logit "
          f"(position {worst[0]}, token {worst[1]}); tolerance {tol}")
    if not np.all(np.isfinite(got)) or err.max() > tol:
        failures.append(f"{name}: logit [{worst[0]}, {worst[1]}] = {got[worst]!r}, NumPy "
                        f"{ref[worst]!r}: {err.max():.3g} of the row's largest, over {tol}")
    for pos in range(len(PROMPT), total):
        row = ref[pos - 1]
        top2 = np.sort(row)[-2:]
        if tokens[pos] != int(np.argmax(row)) and top2[1] - top2[0] > 2 * tol * scale[pos - 1, 0]:
            failures.append(f"{name}: token {pos} is {tokens[pos]}, NumPy's argmax "
                            f"{int(np.argmax(row))}")


def main():
    exe, info, examples = sys.argv[1:4]
    sys.path.insert(0, os.path.join(examples, "transformer"))
    global gpt2_numpy
    import gpt2_numpy
    devices = json.loads(subprocess.run([info, "--json"], check=True, capture_output=True,
                                        text=True).stdout)["devices"]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "model.weights")
        subprocess.run([exe, "--write-weights", weights, "--config", CONFIG, "--seed", "5"],
                       check=True, timeout=120)
        models = {mode: gpt2_numpy.load(weights, int8=(mode == "int8")) for mode in TOL}
        for d in devices:
            for mode, (cfg, params) in models.items():
                name = f"{d['backend']} device {d['index']} ({d['name']}), {mode}"
                tokens, got, err = run_example(exe, d["index"], mode, weights,
                                               os.path.join(tmp, "logits"))
                if err:
                    failures.append(f"{name}: {err}")
                    continue
                check(name, tokens, got, cfg, params, TOL[mode], failures)
    if not devices:
        failures.append("aidev-info lists no device")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

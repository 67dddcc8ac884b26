#!/usr/bin/env python3
"""bench_model.py - rows model.decoder_tokens_per_s_f32 and _int8: the
transformer example (examples/transformer) generating tokens on each
device, against the same model in NumPy (examples/transformer/
gpt2_numpy.py) generating the same tokens in this process, in the same run.

Each side runs the prompt, then generates tokens one at a time against its
KV cache; only the generated tokens are timed, after a warm-up pass (the
example's --bench builds its kernels first). Rows as aidev-bench prints
them: value and baseline_value in tokens/s (higher is better), ratio =
value / baseline_value. NumPy's int8 baseline is the model with its
weights quantized to Q8_0 and dequantized (NumPy has no int8 GEMM).

usage: bench_model.py TRANSFORMER AIDEV_INFO [--quick] [--json]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "examples", "transformer"))
import gpt2_numpy  # noqa: E402

# V, T, D, H, L: a small GPT-2 shape (the real one is 50257, 1024, 768, 12, 12).
FULL = dict(config="2048,256,256,8,4", prompt=16, generate=64)
QUICK = dict(config="128,32,64,4,2", prompt=4, generate=8)


def numpy_tokens_per_s(cfg, params, prompt, count):
    gpt2_numpy.generate(cfg, params, prompt, 2)  # warm-up
    dec = gpt2_numpy.Decoder(cfg, params)
    logits = dec.run(prompt)
    token = int(logits[-1].argmax())
    t0 = time.perf_counter()
    for _ in range(count):
        token = int(dec.run([token])[-1].argmax())
    return count / (time.perf_counter() - t0)


def example_tokens_per_s(exe, device, int8, weights, prompt, count):
    args = [exe, "--device", str(device), "--weights", weights, "--bench",
            "--prompt", ",".join(map(str, prompt)), "--generate", str(count)]
    if int8:
        args.append("--int8")
    run = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"transformer on device {device}: exit {run.returncode}: "
                           f"{run.stderr.strip()}")
    for line in run.stdout.splitlines():
        if line.startswith("tokens_per_s "):
            return float(line.split()[1])
    raise RuntimeError(f"transformer on device {device} printed no tokens_per_s")


def main():
    exe, info = sys.argv[1], sys.argv[2]
    size = QUICK if "--quick" in sys.argv[3:] else FULL
    devices = json.loads(subprocess.run([info, "--json"], check=True, capture_output=True,
                                        text=True).stdout)["devices"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "model.weights")
        subprocess.run([exe, "--write-weights", weights, "--config", size["config"],
                        "--seed", "1"], check=True, timeout=300)
        prompt = [(7 * i + 1) % int(size["config"].split(",")[0]) for i in range(size["prompt"])]
        for mode in ("f32", "int8"):
            cfg, params = gpt2_numpy.load(weights, int8=(mode == "int8"))
            base = numpy_tokens_per_s(cfg, params, prompt, size["generate"])
            for d in devices:
                value = example_tokens_per_s(exe, d["index"], mode == "int8", weights, prompt,
                                             size["generate"])
                rows.append({"name": f"model.decoder_tokens_per_s_{mode}", "device": d["name"],
                             "backend": d["backend"], "value": value, "unit": "tokens/s",
                             "baseline": "numpy", "baseline_value": base,
                             "ratio": value / base})
    if "--json" in sys.argv[3:]:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:36} {r['backend']:8} {r['value']:10.1f} tokens/s  numpy "
                  f"{r['baseline_value']:10.1f}  ratio {r['ratio']:.2f}")


if __name__ == "__main__":
    main()

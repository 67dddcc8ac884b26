#!/usr/bin/env python3
"""The tensor ops on every device against NumPy.

  test_tensor_numpy.py LIBAIDEV

Each case makes NumPy arrays (views with their own strides: transposed,
sliced, reversed), runs the op on each device through ctypes
(numpy_aidev.py), computes the same op with NumPy (broadcasting, the
storage types' rounding, saturation) and holds the device to the tolerance
kernels/manifest.txt states for the op (read from the library's op table).
The C tests check the same ops against scalar references; this is the
independent check of the semantics a NumPy user expects.
"""
import ctypes
import math
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_aidev import Aidev, NUMPY_OF, TYPES, store, to_bf16, values  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        print("FAIL " + what)
        failures.append(what)


class OpAccuracy(ctypes.Structure):
    _fields_ = [("variant", ctypes.c_char_p), ("text", ctypes.c_char_p)]


class OpInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("call", ctypes.c_char_p), ("kernels", ctypes.c_char_p),
                ("doc", ctypes.c_char_p), ("dtypes", ctypes.c_char_p),
                ("broadcast", ctypes.c_char_p), ("accuracy_count", ctypes.c_uint32),
                ("accuracy", ctypes.POINTER(OpAccuracy))]


def tolerances(lib):
    """OP.VARIANT -> (exact, rel, abs) from the library's op table."""
    lib.aidev_library_op.restype = ctypes.POINTER(OpInfo)
    out = {}
    for i in range(lib.aidev_library_op_count()):
        op = lib.aidev_library_op(i).contents
        for a in range(op.accuracy_count):
            acc = op.accuracy[a]
            text = acc.text.decode()
            name = "%s.%s" % (op.name.decode(), acc.variant.decode())
            if text.startswith("exact"):
                out[name] = (True, 0.0, 0.0)
            else:
                m = re.match(r"rel ([0-9.e+-]+)(?:, abs ([0-9.e+-]+))?", text)
                out[name] = (False, float(m.group(1)), float(m.group(2) or 0))
    return out


def storage_error(dtype, m):
    return {"f16": m * 2.0**-11 + 2.0**-25, "bf16": m * 2.0**-8}.get(dtype, 0.0)


def compare(tol, got, ref, mag, dtype, what):
    """got (storage values of |dtype|) against ref (float64)."""
    exact, rel, abs_ = tol
    g = values(got, dtype)
    if exact:
        want = values(store(ref, dtype), dtype)
        bad = ~((g == want) | (np.isnan(g) & np.isnan(want)))
    else:
        limit = abs_ + rel * mag
        limit = limit + storage_error(dtype, np.abs(ref) + limit)
        bad = ~((np.abs(g - ref) <= limit) | (np.isinf(ref) & (g == ref)))
    if bad.any():
        i = np.argwhere(bad)[0]
        check(False, "%s: %d of %d values out of tolerance; first at %s: got %r, NumPy %r"
              % (what, bad.sum(), bad.size, tuple(i), g[tuple(i)], ref[tuple(i)]))


def make(rng, shape, dtype, lo, hi, layout):
    """A NumPy view of |shape| and |dtype| laid out as |layout| in a larger
    base array, and its values as float64."""
    if layout == "transposed":
        base_shape = tuple(reversed(shape))
    elif layout == "sliced":
        base_shape = tuple(2 * n + 1 for n in shape)
    else:
        base_shape = shape
    raw = rng.uniform(lo, hi, size=base_shape)
    if dtype in ("i8", "u8", "i32"):
        base = store(np.floor(raw), dtype)
    else:
        base = store(raw, dtype)
    if layout == "transposed":
        view = base.transpose()
    elif layout == "sliced":
        view = base[tuple(slice(1, 2 * n + 1, 2) for n in shape)]
    elif layout == "reversed" and len(shape):
        view = base[..., ::-1]
    else:
        view = base
    return view, values(view, dtype)


# ---------------------------------------------------------------------------
# Elementwise
# ---------------------------------------------------------------------------

BINARY = ["add", "sub", "mul", "div", "max", "min"]
UNARY = ["relu", "gelu_tanh", "gelu_erf", "silu", "exp", "tanh", "sigmoid"]
LAYOUTS = ["compact", "transposed", "sliced", "reversed"]
ERFC = np.vectorize(math.erfc)


def numpy_binary(op, a, b):
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "max": np.maximum,
             "min": np.minimum}.get(op)
        return (r(a32, b32) if r else a / b).astype(np.float64)


def numpy_unary(op, x):
    """The op computed by NumPy in float64, and the magnitude its tolerance
    scales. The gelus are written without the cancellation of 1 + tanh(u)
    and 1 + erf(x / sqrt 2) for negative x (the same functions; the
    textbook forms lose every digit in the negative tail)."""
    with np.errstate(over="ignore"):
        if op == "relu":
            y = np.maximum(x, 0)
            return y, np.abs(y)
        if op == "gelu_tanh":
            u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
            y = x / (1 + np.exp(-2 * u))
            return y, np.abs(y) * (1 + np.abs(2 * u))
        if op == "gelu_erf":
            y = 0.5 * x * ERFC(-x / math.sqrt(2))
            return y, np.abs(y) * (1 + x * x)
        if op == "silu":
            y = x / (1 + np.exp(-x))
            return y, np.abs(y) * (1 + np.abs(x))
        if op == "exp":
            y = np.exp(x)
            return y, np.abs(y) * (1 + np.abs(x))
        if op == "tanh":
            y = np.tanh(x)
            return y, np.abs(y) * (1 + 2 * np.abs(x))
        y = 1 / (1 + np.exp(-x))
        return y, np.abs(y) * (1 + np.abs(x))


def test_elementwise(dev, tols, rng):
    f32 = ctypes.c_float
    shapes = [((2, 3, 4, 5), (3, 1, 5)), ((7,), (1,)), ((4, 1), (1, 5)), ((6, 7), ()),
              ((3, 257), (257,))]
    mixes = [("f32", "f32", "f32"), ("f16", "bf16", "f32"), ("bf16", "f32", "f16")]
    for k, op in enumerate(BINARY):
        for s, (sa, sb) in enumerate(shapes):
            ta, tb, ty = mixes[(k + s) % len(mixes)]
            a, va = make(rng, sa, ta, -4, 4, LAYOUTS[s % 4])
            b, vb = make(rng, sb, tb, -4, 4, LAYOUTS[(s + 1) % 4])
            if op == "div":
                vb = np.where(np.abs(vb) < 0.25, 0.5, vb)
                b = store(vb, tb)
            ref = numpy_binary(op, va, vb)
            ta_, tb_ = dev.tensor(a, ta), dev.tensor(b, tb)
            y = dev.empty(ref.shape, ty)
            what = "binary %s %s %s%s -> %s on %s" % (op, sa, sb, (ta, tb), ty, dev.label)
            dev.run(what, "aidev_enqueue_binary", ctypes.c_int(BINARY.index(op) + 1),
                    ctypes.byref(ta_), ctypes.byref(tb_), ctypes.byref(y))
            compare(tols["binary." + op], dev.read(y, ty), ref, np.abs(ref), ty, what)
    for k, op in enumerate(UNARY):
        tx, _, ty = mixes[k % len(mixes)]
        x, vx = make(rng, (5, 33), tx, -8, 8, LAYOUTS[k % 4])
        ref, mag = numpy_unary(op, vx)
        xt, y = dev.tensor(x, tx), dev.empty(ref.shape, ty)
        what = "unary %s %s -> %s on %s" % (op, tx, ty, dev.label)
        dev.run(what, "aidev_enqueue_unary", ctypes.c_int(k + 1), ctypes.byref(xt), ctypes.byref(y))
        compare(tols["unary." + op], dev.read(y, ty), ref, mag, ty, what)
    x, vx = make(rng, (3, 4, 5), "bf16", -50, 50, "transposed")
    xt, y = dev.tensor(x, "bf16"), dev.empty((2, 3, 4, 5), "f32")
    dev.run("scale_shift", "aidev_enqueue_scale_shift", f32(0.75), f32(-2.5), ctypes.byref(xt),
            ctypes.byref(y))
    ref = np.broadcast_to(0.75 * vx - 2.5, (2, 3, 4, 5))
    compare(tols["scale_shift.scale_shift"], dev.read(y, "f32"), ref,
            np.abs(0.75 * ref) + 2.5, "f32", "scale_shift on " + dev.label)
    for tx in TYPES:
        for ty in TYPES:
            x, vx = make(rng, (9, 7), tx, -300, 300, "sliced")
            xt, y = dev.tensor(x, tx), dev.empty((9, 7), ty)
            what = "convert %s -> %s on %s" % (tx, ty, dev.label)
            dev.run(what, "aidev_enqueue_convert", ctypes.byref(xt), ctypes.byref(y))
            compare(tols["convert.convert"], dev.read(y, ty), vx, np.abs(vx), ty, what)
    x, vx = make(rng, (4, 6, 8), "i32", -20000, 20000, "compact")
    sc, vs = make(rng, (6, 1), "f32", 0.001, 0.01, "compact")
    ref = (vx - 7) * vs + (-3)
    ref = np.where(np.abs(ref - np.floor(ref) - 0.5) < 1e-5, np.nan, ref)  # no ties
    xt, st, y = dev.tensor(x, "i32"), dev.tensor(sc, "f32"), dev.empty((4, 6, 8), "i8")
    dev.run("requantize", "aidev_enqueue_requantize", ctypes.c_int32(7), ctypes.c_int32(-3),
            ctypes.byref(xt), ctypes.byref(st), ctypes.byref(y))
    got = dev.read(y, "i8").astype(np.float64)
    want = values(store(ref, "i8"), "i8")
    ties = np.isnan(ref)
    check(((got == want) | ties).all(), "requantize on %s: %d values differ"
          % (dev.label, ((got != want) & ~ties).sum()))


# ---------------------------------------------------------------------------
# Along an axis
# ---------------------------------------------------------------------------

def test_rows(dev, tols, rng):
    f32, i32 = ctypes.c_float, ctypes.c_int32
    cases = [((4, 300), -1, "f32", "f32", "compact"), ((5, 6, 7), 1, "f16", "f32", "transposed"),
             ((3, 4, 5, 6), 0, "bf16", "f16", "sliced"), ((9, 1000), 0, "f32", "bf16", "reversed")]
    for shape, axis, tx, ty, layout in cases:
        x, vx = make(rng, shape, tx, -4, 4, layout)
        xt = dev.tensor(x, tx)
        what = "%s axis %d %s -> %s %s on %s" % (shape, axis, tx, ty, layout, dev.label)
        for k, (name, fn) in enumerate((("sum", np.sum), ("max", np.max), ("mean", np.mean))):
            keep = k % 2 == 0
            ref = fn(vx, axis=axis, keepdims=keep)
            y = dev.empty(ref.shape, ty)
            dev.run("reduce " + name, "aidev_enqueue_reduce", ctypes.c_int(k + 1), i32(axis),
                    ctypes.byref(xt), ctypes.byref(y))
            mag = np.sum(np.abs(vx), axis=axis, keepdims=keep)
            compare(tols["reduce." + name], dev.read(y, ty), ref,
                    mag / (vx.shape[axis] if name == "mean" else 1), ty, "reduce %s %s" % (name, what))
        m = vx.max(axis=axis, keepdims=True)
        e = np.exp(vx - m)
        ref = e / e.sum(axis=axis, keepdims=True)
        y = dev.empty(shape, ty)
        dev.run("softmax", "aidev_enqueue_softmax", i32(axis), ctypes.byref(xt), ctypes.byref(y))
        compare(tols["softmax.softmax"], dev.read(y, ty), ref, np.abs(ref), ty, "softmax " + what)
        ls = np.log(e.sum(axis=axis, keepdims=True))
        ref = vx - m - ls
        y = dev.empty(shape, ty)
        dev.run("log_softmax", "aidev_enqueue_log_softmax", i32(axis), ctypes.byref(xt),
                ctypes.byref(y))
        compare(tols["log_softmax.log_softmax"], dev.read(y, ty), ref, np.abs(vx - m) + np.abs(ls),
                ty, "log_softmax " + what)
        n = shape[axis]
        bshape = [1] * len(shape)
        bshape[axis] = n
        w, vw = make(rng, (n,), "f32", 0.5, 1.5, "compact")
        bias, vb = make(rng, (n,), "bf16", -1, 1, "compact")
        wt, bt = dev.tensor(w, "f32"), dev.tensor(bias, "bf16")
        vw, vb = vw.reshape(bshape), vb.reshape(bshape)
        ref = vx / np.sqrt(np.mean(vx * vx, axis=axis, keepdims=True) + 1e-5) * vw
        y = dev.empty(shape, ty)
        dev.run("rmsnorm", "aidev_enqueue_rmsnorm", i32(axis), f32(1e-5), ctypes.byref(xt),
                ctypes.byref(wt), ctypes.byref(y))
        compare(tols["rmsnorm.rmsnorm"], dev.read(y, ty), ref, np.abs(ref), ty, "rmsnorm " + what)
        mean = vx.mean(axis=axis, keepdims=True)
        inv = 1 / np.sqrt(vx.var(axis=axis, keepdims=True) + 1e-5)
        ref = (vx - mean) * inv * vw + vb
        y = dev.empty(shape, ty)
        dev.run("layernorm", "aidev_enqueue_layernorm", i32(axis), f32(1e-5), ctypes.byref(xt),
                ctypes.byref(wt), ctypes.byref(bt), ctypes.byref(y))
        compare(tols["layernorm.layernorm"], dev.read(y, ty), ref,
                (np.abs(vx - mean) + np.abs(mean)) * inv * np.abs(vw) + np.abs(vb), ty,
                "layernorm " + what)


# ---------------------------------------------------------------------------
# GEMM and attention
# ---------------------------------------------------------------------------

class GemmParams(ctypes.Structure):
    _fields_ = [("trans_a", ctypes.c_int32), ("trans_b", ctypes.c_int32),
                ("alpha", ctypes.c_float), ("beta", ctypes.c_float), ("activation", ctypes.c_int)]


class AttentionParams(ctypes.Structure):
    _fields_ = [("scale", ctypes.c_float), ("causal", ctypes.c_int32)]


class RopeParams(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("rot_dims", ctypes.c_uint32), ("base", ctypes.c_float),
                ("freq_scale", ctypes.c_float), ("seq_axis", ctypes.c_int32),
                ("pos0", ctypes.c_int32)]


def test_gemm(dev, tols, rng):
    """np.matmul with batch broadcasting; transposes as NumPy .T views; a
    bias row and gelu (tanh)."""
    cases = [((2, 3, 7, 5), (5, 4), "f32", "f32", "f32", False),
             ((3, 1, 6, 9), (1, 4, 9, 2), "f16", "bf16", "f32", True),
             ((33, 17), (17, 65), "bf16", "f32", "f16", False)]
    for n, (sa, sb, ta, tb, tc, trans) in enumerate(cases):
        if trans:  # the operands stored transposed; the views say so
            a0, va = make(rng, sa[:-2] + (sa[-1], sa[-2]), ta, -1, 1, "compact")
            b0, vb = make(rng, sb[:-2] + (sb[-1], sb[-2]), tb, -1, 1, "sliced")
            a, b = np.swapaxes(a0, -1, -2), np.swapaxes(b0, -1, -2)
            va, vb = np.swapaxes(va, -1, -2), np.swapaxes(vb, -1, -2)
        else:
            a, va = make(rng, sa, ta, -1, 1, LAYOUTS[n % 4])
            b, vb = make(rng, sb, tb, -1, 1, LAYOUTS[(n + 1) % 4])
        prod = np.matmul(va, vb)
        bias, vbias = make(rng, (prod.shape[-1],), "f32", -1, 1, "compact")
        c, vc = make(rng, prod.shape, tc, -1, 1, "compact")
        v = 0.5 * prod - 1.0 * vc + vbias
        u = math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)
        ref = v / (1 + np.exp(-2 * u))
        mag = 1.2 * (0.5 * np.matmul(np.abs(va), np.abs(vb)) + np.abs(vc) + np.abs(vbias)) \
            + np.abs(ref) * (1 + v * v)
        at, bt, biast, ct = dev.tensor(a, ta), dev.tensor(b, tb), dev.tensor(bias, "f32"), \
            dev.tensor(c, tc)
        p = GemmParams(0, 0, 0.5, -1.0, 2)
        what = "gemm %s x %s %s on %s" % (sa, sb, (ta, tb, tc), dev.label)
        dev.run(what, "aidev_enqueue_gemm", ctypes.byref(p), ctypes.byref(at), ctypes.byref(bt),
                ctypes.byref(biast), ctypes.byref(ct))
        compare(tols["gemm.gemm"], dev.read(ct, tc), ref, mag, tc, what)


def numpy_attention(q, k, v, scale, causal, mask):
    """softmax(scale q k^T + mask) v with grouped heads and causal rows."""
    group = q.shape[-3] // k.shape[-3]
    k, v = np.repeat(k, group, axis=-3), np.repeat(v, group, axis=-3)
    s = scale * np.matmul(q, np.swapaxes(k, -1, -2))
    sq, sk = s.shape[-2], s.shape[-1]
    if mask is not None:
        s = s + mask
    if causal:
        s = np.where(np.arange(sk)[None, :] > np.arange(sq)[:, None] + sk - sq, -np.inf, s)
    top = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isinf(top), 0, top))
    p = e / e.sum(axis=-1, keepdims=True)
    sigma = np.abs(scale) * np.matmul(np.abs(q), np.swapaxes(np.abs(k), -1, -2)).max(
        axis=-1, keepdims=True)
    mag = np.matmul(p, np.abs(v)) + np.abs(v).max(axis=-2, keepdims=True) * (1 + sigma)
    return np.matmul(p, v), mag


def test_attention(dev, tols, rng):
    for n, (b, h, hkv, sq, sk, d, causal, masked, tq) in enumerate(
            [(2, 4, 2, 5, 9, 16, True, False, "f32"), (1, 3, 3, 4, 4, 32, False, True, "f16"),
             (2, 2, 1, 1, 40, 64, True, True, "bf16")]):
        q, vq = make(rng, (b, h, sq, d), tq, -1, 1, "compact")
        k, vk = make(rng, (b, hkv, sk, d), "f32", -1, 1, "compact")
        v, vv = make(rng, (b, hkv, sk, d), tq, -1, 1, "compact")
        mask, vm = make(rng, (sq, sk), "f32", -2, 0, "transposed") if masked else (None, None)
        ref, mag = numpy_attention(vq, vk, vv, 1 / math.sqrt(d), causal, vm)
        qt, kt, vt, o = dev.tensor(q, tq), dev.tensor(k, "f32"), dev.tensor(v, tq), \
            dev.empty(ref.shape, "f32")
        mt = ctypes.byref(dev.tensor(mask, "f32")) if masked else None
        what = "attention %s on %s" % ((b, h, hkv, sq, sk, d, causal, masked, tq), dev.label)
        dev.run(what, "aidev_enqueue_attention", ctypes.byref(AttentionParams(0, int(causal))),
                ctypes.byref(qt), ctypes.byref(kt), ctypes.byref(vt), mt, ctypes.byref(o))
        compare(tols["attention.attention"], dev.read(o, "f32"), ref, mag, "f32", what)
    # Rotary embedding, NeoX halves, positions from 5; then an embedding gather.
    x, vx = make(rng, (2, 6, 3, 8), "f32", -2, 2, "sliced")
    pos = 5 + np.arange(6, dtype=np.float64)[None, :, None, None]
    theta = pos * 10000.0 ** (-2 * np.arange(4) / 8)
    a, bb = vx[..., :4], vx[..., 4:]
    ref = np.concatenate([a * np.cos(theta) - bb * np.sin(theta),
                          a * np.sin(theta) + bb * np.cos(theta)], axis=-1)
    mag = np.concatenate([np.abs(a) + np.abs(bb)] * 2, axis=-1) * (1 + np.concatenate([theta] * 2, axis=-1))
    xt, y = dev.tensor(x, "f32"), dev.empty(vx.shape, "f32")
    dev.run("rope", "aidev_enqueue_rope", ctypes.byref(RopeParams(1, 0, 0, 0, 1, 5)), None,
            ctypes.byref(xt), ctypes.byref(y))
    compare(tols["rope.rope"], dev.read(y, "f32"), ref, mag, "f32", "rope on " + dev.label)
    ids = rng.integers(0, 50, size=(3, 4)).astype(np.int32)
    table, vt = make(rng, (50, 12), "f16", -1, 1, "transposed")
    it, tt, out = dev.tensor(ids, "i32"), dev.tensor(table, "f16"), dev.empty((3, 4, 12), "f32")
    dev.run("embedding", "aidev_enqueue_embedding", ctypes.byref(it), ctypes.byref(tt),
            ctypes.byref(out))
    compare(tols["embedding.embedding"], dev.read(out, "f32"), vt[ids], None, "f32",
            "embedding on " + dev.label)


def main():
    aidev = Aidev(sys.argv[1])
    tols = tolerances(aidev.lib)
    rng = np.random.default_rng(17)
    for dev in aidev.devices:
        for test in (test_elementwise, test_rows, test_gemm, test_attention):
            try:
                test(dev, tols, rng)
            except RuntimeError as e:
                check(False, "%s on %s: %s" % (test.__name__, dev.label, e))
            dev.free()
        print("ok   %s" % dev.label if not failures else "after %s: %d failures"
              % (dev.label, len(failures)))
    aidev.close()
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""The model ops of :mod:`aidev.ops`: attention, rotary position
embedding, embedding lookup, KV-cache append, 2-D convolution and pooling.

Split from ops.py so that each file holds one family of ops; ops.py
re-exports every name here.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

from ._event import Event
from ._ffi import ffi, lib
from ._ops_linear import _activation
from ._queue import WaitFor
from ._tensor import Operand, _enqueue, _optional, _tensor

if TYPE_CHECKING:
    from ._queue import Queue

Pair = Union[int, Sequence[int]]


def attention(queue: "Queue", q: Operand, k: Operand, v: Operand, out: Operand,
              mask: Optional[Operand] = None, *, scale: Optional[float] = None,
              causal: bool = False, wait_for: WaitFor = None) -> Event:
    """out = softmax(scale q @ k^T + mask) @ v per batch and head: q [B, H,
    Sq, D], k and v [B (or 1), Hkv, Sk, D] with Hkv dividing H (grouped
    queries: head h reads kv head h // (H // Hkv)), out [B, H, Sq, D]; rank
    3 drops B. The last axis of each is compact, D at most 256. |scale|
    None is 1 / sqrt(D). |mask| (None: none) is added to the scores,
    broadcast to [B, H, Sq, Sk] (-inf drops a key); |causal| lets query i,
    at key position Sk - Sq + i (a KV cache's last Sq keys are the
    queries' own), see keys up to its position. A query with every key
    dropped gets zeros. f32, f16, bf16, any mix."""
    params = ffi.new("aidev_attention_params *",
                     {"scale": 0.0 if scale is None else float(scale), "causal": bool(causal)})
    return _enqueue(queue, "aidev_enqueue_attention", params, _tensor(q, "q")._c,
                    _tensor(k, "k")._c, _tensor(v, "v")._c, _optional(mask, "mask"),
                    _tensor(out, "out")._c, wait_for=wait_for)


_ROPE_MODES = {"interleaved": lib.AIDEV_ROPE_INTERLEAVED, "neox": lib.AIDEV_ROPE_NEOX}


def rope(queue: "Queue", x: Operand, out: Operand, positions: Optional[Operand] = None, *,
         mode: str = "neox", rot_dims: int = 0, base: float = 10000.0,
         freq_scale: float = 1.0, seq_axis: int = -2, pos0: int = 0,
         wait_for: WaitFor = None) -> Event:
    """Rotary position embedding along x's last axis: each pair (a, b) of
    the first |rot_dims| dimensions (0: all; even) turns by theta = pos
    freq_scale base^(-2i / rot_dims), the rest is copied. Pairs are (i, i +
    rot_dims/2) in mode "neox" (GPT-NeoX, most Hugging Face models) or
    (2i, 2i + 1) in mode "interleaved" (GPT-J, llama's original). pos is
    |pos0| + the index along |seq_axis| (not the last axis; negative from
    the end), or ``positions[index]`` (an i32 tensor of that axis' length).
    out has x's shape and may be x. f32, f16, bf16."""
    if mode not in _ROPE_MODES:
        raise ValueError("mode: %r; one of %s" % (mode, ", ".join(_ROPE_MODES)))
    params = ffi.new("aidev_rope_params *", {
        "mode": _ROPE_MODES[mode], "rot_dims": operator.index(rot_dims), "base": float(base),
        "freq_scale": float(freq_scale), "seq_axis": operator.index(seq_axis),
        "pos0": operator.index(pos0)})
    return _enqueue(queue, "aidev_enqueue_rope", params, _optional(positions, "positions"),
                    _tensor(x, "x")._c, _tensor(out, "out")._c, wait_for=wait_for)


def embedding(queue: "Queue", ids: Operand, table: Operand, out: Operand, *,
              wait_for: WaitFor = None) -> Event:
    """out[..., d] = table[ids[...], d]: |ids| i32 of up to three axes,
    |table| [V, D] (f32, f16 or bf16), out the ids' shape + [D]. An id
    outside [0, V) is a fault of the data the device cannot report: its
    row of out is NaN."""
    return _enqueue(queue, "aidev_enqueue_embedding", _tensor(ids, "ids")._c,
                    _tensor(table, "table")._c, _tensor(out, "out")._c, wait_for=wait_for)


def kv_append(queue: "Queue", src: Operand, cache: Operand, pos: int, axis: int = -2, *,
              wait_for: WaitFor = None) -> Event:
    """cache[..., pos : pos + n, ...] = src along |axis| (n: src's length
    there; the other axes equal), converted to the cache's type: a KV
    cache's append. OutOfRangeError when pos + n passes the cache's
    length along the axis."""
    return _enqueue(queue, "aidev_enqueue_kv_append", operator.index(axis), operator.index(pos),
                    _tensor(src, "src")._c, _tensor(cache, "cache")._c, wait_for=wait_for)


def _pair(value: Pair, what: str) -> Tuple[int, int]:
    """(H, W) from one int for both or a pair."""
    if isinstance(value, int):
        return value, value
    pair = tuple(operator.index(v) for v in value)
    if len(pair) != 2:
        raise ValueError("%s: %r; one int or (H, W)" % (what, value))
    return pair[0], pair[1]


def conv2d(queue: "Queue", x: Operand, w: Operand, y: Operand, bias: Optional[Operand] = None,
           *, stride: Pair = 1, padding: Pair = 0, dilation: Pair = 1,
           activation: Optional[str] = None, wait_for: WaitFor = None) -> Event:
    """y = activation(conv(x, w) + bias), NCHW, a direct convolution (a
    cross-correlation, as PyTorch's conv2d): x [N, C, H, W], w [CO, C, KH,
    KW], bias [CO] (None: none), y [N, CO, OH, OW] with OH = (H + 2
    padding - dilation (KH - 1) - 1) // stride + 1 (W alike). |stride|,
    |padding| (zeros before and after) and |dilation| are one int or (H,
    W); |activation| as :func:`gemm`'s. Sums in f32; f32, f16, bf16, any
    mix; any strides."""
    params = ffi.new("aidev_conv2d_params *", {
        "stride": _pair(stride, "stride"), "padding": _pair(padding, "padding"),
        "dilation": _pair(dilation, "dilation"), "activation": _activation(activation)})
    return _enqueue(queue, "aidev_enqueue_conv2d", params, _tensor(x, "x")._c,
                    _tensor(w, "w")._c, _optional(bias, "bias"), _tensor(y, "y")._c,
                    wait_for=wait_for)


_POOL_KINDS = {"max": lib.AIDEV_POOL_MAX, "avg": lib.AIDEV_POOL_AVG}


def pool2d(queue: "Queue", kind: str, x: Operand, y: Operand, window: Pair, *,
           stride: Pair = 1, padding: Pair = 0, wait_for: WaitFor = None) -> Event:
    """y[n, c] = the max ("max") or average ("avg") of each |window| (one
    int or (KH, KW)) of x[n, c], NCHW: x [N, C, H, W], y [N, C, OH, OW], OH
    = (H + 2 padding - KH) // stride + 1 (W alike). |stride| defaults to 1
    (the library's, ONNX's; PyTorch's default is the window). |padding| is
    below the window and holds no value: an average is over the window's
    elements inside x (ONNX's count_include_pad 0). A max is NaN when its
    window holds a NaN. f32, f16, bf16."""
    if kind not in _POOL_KINDS:
        raise ValueError("kind: %r; one of %s" % (kind, ", ".join(_POOL_KINDS)))
    params = ffi.new("aidev_pool2d_params *", {
        "kind": _POOL_KINDS[kind], "window": _pair(window, "window"),
        "stride": _pair(stride, "stride"), "padding": _pair(padding, "padding")})
    return _enqueue(queue, "aidev_enqueue_pool2d", params, _tensor(x, "x")._c,
                    _tensor(y, "y")._c, wait_for=wait_for)


def max_pool2d(queue: "Queue", x: Operand, y: Operand, window: Pair, *, stride: Pair = 1,
               padding: Pair = 0, wait_for: WaitFor = None) -> Event:
    """:func:`pool2d` "max"."""
    return pool2d(queue, "max", x, y, window, stride=stride, padding=padding, wait_for=wait_for)


def avg_pool2d(queue: "Queue", x: Operand, y: Operand, window: Pair, *, stride: Pair = 1,
               padding: Pair = 0, wait_for: WaitFor = None) -> Event:
    """:func:`pool2d` "avg"."""
    return pool2d(queue, "avg", x, y, window, stride=stride, padding=padding, wait_for=wait_for)


"""Tensor ops of the built-in library (aidev_tensor.h), one function each.

Every op is enqueued on a :class:`Queue` and returns its :class:`Event`
(``wait_for`` as for every enqueue); its operands are :class:`Tensor`
views, or buffers (a buffer is the compact row-major view of its shape and
dtype). Outputs are given, as NumPy's ``out=``: an op never allocates.
The library checks every view before anything is enqueued and raises
InvalidArgumentError, OutOfRangeError or UnsupportedError naming the op,
the operand and its values.

    with device.queue() as q:
        ops.add(q, x, bias, y)             # NumPy broadcasting
        ops.gelu_erf(q, y, y)
        ops.softmax(q, y, probs, axis=-1)

Every op computes in f32 and rounds once into the output's type (f32,
f16, bf16; some take i8, u8, i32): :func:`op_table` lists each op with its
types, broadcasting rule and accuracy, as kernels/manifest.txt says.

The ops, by family: elementwise (:func:`convert`, :func:`unary` and its
names, :func:`scale_shift`, :func:`binary` and its names,
:func:`requantize`); along an axis (:func:`reduce`, :func:`softmax`,
:func:`log_softmax`, :func:`rmsnorm`, :func:`layernorm`); matrices
(:func:`gemm` with a bias and activation epilogue,
:func:`gemm_strided_batched`, and on :class:`QTensor` quantized matrices
:func:`quantize`, :func:`dequantize`, :func:`qgemm`); models
(:func:`attention`, :func:`rope`, :func:`embedding`, :func:`kv_append`,
:func:`conv2d`, :func:`pool2d`). :func:`unwrapped_ops` names any op of the
library this module has no function for (none, unless the C library
gained one since; the tests fail then).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, NamedTuple, Optional, Tuple

from ._event import Event
from ._ffi import ffi, lib
from ._queue import WaitFor
from ._ops_linear import (ACTIVATIONS, BLOCK_BYTES, QUANT_FORMATS, QTensor, dequantize, gemm,
                          gemm_strided_batched, qgemm, quantize)
from ._ops_model import (attention, avg_pool2d, conv2d, embedding, kv_append, max_pool2d,
                         pool2d, rope)
from ._tensor import MAX_RANK, Operand, Tensor, _enqueue, _optional, _tensor

if TYPE_CHECKING:
    from ._queue import Queue


# --------------------------------------------------------------------- #
# Elementwise
# --------------------------------------------------------------------- #

def convert(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = x in out's type (any of f32, f16, bf16, i8, u8, i32 to any;
    to integers half to even, saturated), x broadcast to out's shape."""
    return _enqueue(queue, "aidev_enqueue_convert", _tensor(x, "x")._c, _tensor(out, "out")._c,
                    wait_for=wait_for)


_UNARY = {
    "relu": lib.AIDEV_UNARY_RELU, "gelu_tanh": lib.AIDEV_UNARY_GELU_TANH,
    "gelu_erf": lib.AIDEV_UNARY_GELU_ERF, "silu": lib.AIDEV_UNARY_SILU,
    "exp": lib.AIDEV_UNARY_EXP, "tanh": lib.AIDEV_UNARY_TANH,
    "sigmoid": lib.AIDEV_UNARY_SIGMOID,
}


def unary(queue: "Queue", op: str, x: Operand, out: Operand, *,
          wait_for: WaitFor = None) -> Event:
    """out = op(x), x broadcast to out's shape; op one of relu, gelu_tanh,
    gelu_erf, silu, exp, tanh, sigmoid. f32, f16, bf16. out may be x."""
    if op not in _UNARY:
        raise ValueError("op: %r; one of %s" % (op, ", ".join(_UNARY)))
    return _enqueue(queue, "aidev_enqueue_unary", _UNARY[op], _tensor(x, "x")._c,
                    _tensor(out, "out")._c, wait_for=wait_for)


def relu(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = max(x, 0)."""
    return unary(queue, "relu", x, out, wait_for=wait_for)


def gelu_tanh(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return unary(queue, "gelu_tanh", x, out, wait_for=wait_for)


def gelu_erf(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = x/2 (1 + erf(x / sqrt 2))."""
    return unary(queue, "gelu_erf", x, out, wait_for=wait_for)


def silu(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = x / (1 + exp(-x))."""
    return unary(queue, "silu", x, out, wait_for=wait_for)


def exp(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = exp(x)."""
    return unary(queue, "exp", x, out, wait_for=wait_for)


def tanh(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = tanh(x)."""
    return unary(queue, "tanh", x, out, wait_for=wait_for)


def sigmoid(queue: "Queue", x: Operand, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = 1 / (1 + exp(-x))."""
    return unary(queue, "sigmoid", x, out, wait_for=wait_for)


def scale_shift(queue: "Queue", x: Operand, out: Operand, scale: float = 1.0,
                shift: float = 0.0, *, wait_for: WaitFor = None) -> Event:
    """out = scale * x + shift, x broadcast to out's shape."""
    return _enqueue(queue, "aidev_enqueue_scale_shift", float(scale), float(shift),
                    _tensor(x, "x")._c, _tensor(out, "out")._c, wait_for=wait_for)


_BINARY = {
    "add": lib.AIDEV_BINARY_ADD, "subtract": lib.AIDEV_BINARY_SUB,
    "multiply": lib.AIDEV_BINARY_MUL, "divide": lib.AIDEV_BINARY_DIV,
    "maximum": lib.AIDEV_BINARY_MAX, "minimum": lib.AIDEV_BINARY_MIN,
}


def binary(queue: "Queue", op: str, a: Operand, b: Operand, out: Operand, *,
           wait_for: WaitFor = None) -> Event:
    """out = a op b with NumPy broadcasting (out has the broadcast shape);
    op one of add, subtract, multiply, divide, maximum, minimum. f32, f16,
    bf16, any mix. out may be a or b."""
    if op not in _BINARY:
        raise ValueError("op: %r; one of %s" % (op, ", ".join(_BINARY)))
    return _enqueue(queue, "aidev_enqueue_binary", _BINARY[op], _tensor(a, "a")._c,
                    _tensor(b, "b")._c, _tensor(out, "out")._c, wait_for=wait_for)


def add(queue: "Queue", a: Operand, b: Operand, out: Operand, *,
        wait_for: WaitFor = None) -> Event:
    """out = a + b (broadcast)."""
    return binary(queue, "add", a, b, out, wait_for=wait_for)


def subtract(queue: "Queue", a: Operand, b: Operand, out: Operand, *,
             wait_for: WaitFor = None) -> Event:
    """out = a - b (broadcast)."""
    return binary(queue, "subtract", a, b, out, wait_for=wait_for)


def multiply(queue: "Queue", a: Operand, b: Operand, out: Operand, *,
             wait_for: WaitFor = None) -> Event:
    """out = a * b (broadcast)."""
    return binary(queue, "multiply", a, b, out, wait_for=wait_for)


def divide(queue: "Queue", a: Operand, b: Operand, out: Operand, *,
           wait_for: WaitFor = None) -> Event:
    """out = a / b (broadcast)."""
    return binary(queue, "divide", a, b, out, wait_for=wait_for)


def maximum(queue: "Queue", a: Operand, b: Operand, out: Operand, *,
            wait_for: WaitFor = None) -> Event:
    """out = max(a, b) (broadcast; NaN inputs give an unspecified value)."""
    return binary(queue, "maximum", a, b, out, wait_for=wait_for)


def minimum(queue: "Queue", a: Operand, b: Operand, out: Operand, *,
            wait_for: WaitFor = None) -> Event:
    """out = min(a, b) (broadcast; NaN inputs give an unspecified value)."""
    return binary(queue, "minimum", a, b, out, wait_for=wait_for)


def requantize(queue: "Queue", x: Operand, scale: Operand, out: Operand, *, x_zero: int = 0,
               y_zero: int = 0, wait_for: WaitFor = None) -> Event:
    """out = saturate(round_half_even((x - x_zero) * scale + y_zero)):
    x (i32, i8, u8, f32, f16, bf16) onto the integer type of out (i8, u8,
    i32), scale an f32 tensor broadcast to out's shape (one value, per
    row, per channel)."""
    return _enqueue(queue, "aidev_enqueue_requantize", int(x_zero), int(y_zero),
                    _tensor(x, "x")._c, _tensor(scale, "scale")._c, _tensor(out, "out")._c,
                    wait_for=wait_for)


# --------------------------------------------------------------------- #
# Along an axis (negative axes count from the end, as in NumPy)
# --------------------------------------------------------------------- #

_REDUCE = {"sum": lib.AIDEV_REDUCE_SUM, "max": lib.AIDEV_REDUCE_MAX,
           "mean": lib.AIDEV_REDUCE_MEAN}


def reduce(queue: "Queue", op: str, x: Operand, out: Operand, axis: int = -1, *,
           wait_for: WaitFor = None) -> Event:
    """out = op(x) along |axis|, op one of sum (0 on an empty axis), max
    (-inf), mean (NaN); out has x's shape with the axis removed or kept as
    1 (NumPy's keepdims: out's shape says which)."""
    if op not in _REDUCE:
        raise ValueError("op: %r; one of %s" % (op, ", ".join(_REDUCE)))
    return _enqueue(queue, "aidev_enqueue_reduce", _REDUCE[op], int(axis), _tensor(x, "x")._c,
                    _tensor(out, "out")._c, wait_for=wait_for)


def reduce_sum(queue: "Queue", x: Operand, out: Operand, axis: int = -1, *,
               wait_for: WaitFor = None) -> Event:
    """out = x.sum(axis)."""
    return reduce(queue, "sum", x, out, axis, wait_for=wait_for)


def reduce_max(queue: "Queue", x: Operand, out: Operand, axis: int = -1, *,
               wait_for: WaitFor = None) -> Event:
    """out = x.max(axis)."""
    return reduce(queue, "max", x, out, axis, wait_for=wait_for)


def reduce_mean(queue: "Queue", x: Operand, out: Operand, axis: int = -1, *,
                wait_for: WaitFor = None) -> Event:
    """out = x.mean(axis)."""
    return reduce(queue, "mean", x, out, axis, wait_for=wait_for)


def softmax(queue: "Queue", x: Operand, out: Operand, axis: int = -1, *,
            wait_for: WaitFor = None) -> Event:
    """out = exp(x - max) / sum exp(x - max) along |axis|; out may be x."""
    return _enqueue(queue, "aidev_enqueue_softmax", int(axis), _tensor(x, "x")._c,
                    _tensor(out, "out")._c, wait_for=wait_for)


def log_softmax(queue: "Queue", x: Operand, out: Operand, axis: int = -1, *,
                wait_for: WaitFor = None) -> Event:
    """out = x - max - log(sum exp(x - max)) along |axis|; out may be x."""
    return _enqueue(queue, "aidev_enqueue_log_softmax", int(axis), _tensor(x, "x")._c,
                    _tensor(out, "out")._c, wait_for=wait_for)


def rmsnorm(queue: "Queue", x: Operand, out: Operand, weight: Optional[Operand] = None,
            axis: int = -1, eps: float = 1e-6, *, wait_for: WaitFor = None) -> Event:
    """out = x / sqrt(mean(x^2) + eps) * weight along |axis|; weight (None:
    1) has rank 1 and the axis' length. out may be x."""
    return _enqueue(queue, "aidev_enqueue_rmsnorm", int(axis), float(eps), _tensor(x, "x")._c,
                    _optional(weight, "weight"), _tensor(out, "out")._c, wait_for=wait_for)


def layernorm(queue: "Queue", x: Operand, out: Operand, gamma: Optional[Operand] = None,
              beta: Optional[Operand] = None, axis: int = -1, eps: float = 1e-5, *,
              wait_for: WaitFor = None) -> Event:
    """out = (x - mean) / sqrt(var + eps) * gamma + beta along |axis| (the
    biased variance); gamma (None: 1) and beta (None: 0) as rmsnorm's
    weight. out may be x."""
    return _enqueue(queue, "aidev_enqueue_layernorm", int(axis), float(eps), _tensor(x, "x")._c,
                    _optional(gamma, "gamma"), _optional(beta, "beta"), _tensor(out, "out")._c,
                    wait_for=wait_for)


# --------------------------------------------------------------------- #
# The op table
# --------------------------------------------------------------------- #

class OpInfo(NamedTuple):
    """An op of the library as kernels/manifest.txt describes it."""

    name: str  #: "binary"
    call: str  #: its C function, "aidev_enqueue_binary"
    doc: str  #: what it computes
    dtypes: str  #: which operand takes which storage types
    broadcast: str  #: its broadcasting rule ("" where none)
    accuracy: Tuple[Tuple[str, str], ...]  #: (variant, bound) pairs


def _text(p: Any) -> str:
    return ffi.string(p).decode() if p != ffi.NULL else ""


def op_table() -> List[OpInfo]:
    """Every op of the library (aidev_library_op), in its order."""
    ops = []
    for i in range(lib.aidev_library_op_count()):
        o = lib.aidev_library_op(i)
        accuracy = tuple((_text(o.accuracy[k].variant), _text(o.accuracy[k].text))
                         for k in range(o.accuracy_count))
        ops.append(OpInfo(_text(o.name), _text(o.call), _text(o.doc), _text(o.dtypes),
                          _text(o.broadcast), accuracy))
    return ops


# The C calls this module has a function for.
_WRAPPED = frozenset({
    "aidev_enqueue_convert", "aidev_enqueue_unary", "aidev_enqueue_scale_shift",
    "aidev_enqueue_binary", "aidev_enqueue_requantize", "aidev_enqueue_reduce",
    "aidev_enqueue_softmax", "aidev_enqueue_log_softmax", "aidev_enqueue_rmsnorm",
    "aidev_enqueue_layernorm", "aidev_enqueue_gemm", "aidev_enqueue_gemm_strided_batched",
    "aidev_enqueue_quantize", "aidev_enqueue_dequantize", "aidev_enqueue_qgemm",
    "aidev_enqueue_attention", "aidev_enqueue_rope", "aidev_enqueue_embedding",
    "aidev_enqueue_kv_append", "aidev_enqueue_conv2d", "aidev_enqueue_pool2d",
})


def unwrapped_ops() -> List[str]:
    """Names of the library's ops this module has no function for: ops
    the C library gained after this module was written (reachable through
    ``aidev.lib`` meanwhile). Empty when every op is wrapped, which
    tests/python/test_ops.py requires."""
    return [o.name for o in op_table() if o.call not in _WRAPPED]


__all__ = [
    "ACTIVATIONS", "BLOCK_BYTES", "MAX_RANK", "OpInfo", "Operand", "QTensor",
    "QUANT_FORMATS", "Tensor", "add", "attention", "avg_pool2d", "binary", "conv2d",
    "convert", "dequantize", "divide", "embedding", "exp", "gelu_erf", "gelu_tanh", "gemm",
    "gemm_strided_batched", "kv_append", "layernorm", "log_softmax", "max_pool2d",
    "maximum", "minimum", "multiply", "op_table", "pool2d", "qgemm", "quantize", "reduce",
    "reduce_max", "reduce_mean", "reduce_sum", "relu", "requantize", "rmsnorm", "rope",
    "scale_shift", "sigmoid", "silu", "softmax", "subtract", "tanh", "unary",
    "unwrapped_ops",
]

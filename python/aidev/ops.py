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

The ops of issue 17 not yet in the library (GEMM, quantized GEMM,
attention, convolution) get functions here as they land; until then
:func:`unwrapped_ops` names any op of the library this module has no
function for, and the kernels ``sgemm`` and friends run through
:meth:`Queue.dispatch`.
"""
from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING, Any, List, NamedTuple, Optional, Sequence, Tuple, Union

from ._buffer import Buffer
from ._errors import check
from ._event import Event
from ._ffi import ffi, lib
from ._queue import WaitFor, _wait_list
from ._types import DTypeLike, Type, to_type

if TYPE_CHECKING:
    from ._queue import Queue

MAX_RANK: int = lib.AIDEV_TENSOR_MAX_RANK


class Tensor:
    """A strided view of a buffer's elements (aidev_tensor): element
    (i0, ..., ik) lies at byte ``offset + (i0 s0 + ... + ik sk) *
    itemsize``, strides in elements, any sign, 0 to repeat.

    ``Tensor(buf)`` is the compact row-major view of a buffer (or buffer
    view) with its own shape and dtype; ``shape``, ``strides``, ``offset``
    (bytes, from the buffer view's start) and ``dtype`` (for instance
    "bf16" over a uint16 buffer) say otherwise. :meth:`permute`, ``T`` and
    :meth:`slice` (or ``t[a:b, ::2]``) make views of the same memory, no
    copy. At most :data:`MAX_RANK` axes.
    """

    __slots__ = ("buffer", "_c")

    def __init__(self, buffer: Buffer, shape: Optional[Sequence[int]] = None,
                 strides: Optional[Sequence[int]] = None, *, offset: int = 0,
                 dtype: DTypeLike = None) -> None:
        t = buffer.type if dtype is None else to_type(dtype)
        dims = tuple(buffer.shape if shape is None else (operator.index(n) for n in shape))
        c = ffi.new("aidev_tensor *")
        shape_c = ffi.new("int64_t[]", list(dims) or [0])
        check(lib.aidev_tensor_init(c, buffer._h, buffer.offset + offset, int(t), len(dims),
                                    shape_c), "aidev_tensor_init")
        if strides is not None:
            if len(strides) != len(dims):
                raise ValueError("strides: %d given for %d axes" % (len(strides), len(dims)))
            for i, s in enumerate(strides):
                c.strides[i] = operator.index(s)
        self.buffer = buffer
        self._c = c

    @classmethod
    def _of(cls, c: Any, buffer: Buffer) -> "Tensor":
        t = object.__new__(cls)
        t.buffer = buffer
        t._c = c
        return t

    @property
    def dtype(self) -> Type:
        """The element :class:`Type` of the view."""
        return Type(self._c.dtype)

    @property
    def shape(self) -> Tuple[int, ...]:
        """Sizes of its axes."""
        return tuple(self._c.shape[i] for i in range(self._c.rank))

    @property
    def strides(self) -> Tuple[int, ...]:
        """Strides of its axes, in elements."""
        return tuple(self._c.strides[i] for i in range(self._c.rank))

    @property
    def offset(self) -> int:
        """Bytes from the start of the buffer (not of a buffer view) to
        element 0."""
        return int(self._c.offset)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return int(self._c.rank)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    def permute(self, *axes: int) -> "Tensor":
        """Axis i of the result is axis ``axes[i]`` of this one (NumPy's
        transpose); no axes reverses them."""
        perm = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        perm = tuple(perm) if perm else tuple(reversed(range(self.ndim)))
        if len(perm) != self.ndim:
            raise ValueError("axes: %d given for %d axes" % (len(perm), self.ndim))
        out = ffi.new("aidev_tensor *")
        check(lib.aidev_tensor_permute(self._c, ffi.new("uint32_t[]", list(perm) or [0]), out),
              "aidev_tensor_permute")
        return Tensor._of(out, self.buffer)

    @property
    def T(self) -> "Tensor":
        """The axes reversed."""
        return self.permute()

    def slice(self, axis: int, start: int, stop: int, step: int = 1) -> "Tensor":
        """Elements start, start + step, ... below stop of |axis| (step > 0,
        0 <= start <= stop; stop is clamped to the axis)."""
        out = ffi.new("aidev_tensor *")
        check(lib.aidev_tensor_slice(self._c, axis, start, stop, step, out),
              "aidev_tensor_slice")
        return Tensor._of(out, self.buffer)

    def __getitem__(self, key: Union[slice, Tuple[slice, ...]]) -> "Tensor":
        """``t[a:b, ::2]``: slices of the leading axes (steps > 0; no
        integer indices, which would drop an axis)."""
        keys = key if isinstance(key, tuple) else (key,)
        if len(keys) > self.ndim:
            raise IndexError("%d indices for %d axes" % (len(keys), self.ndim))
        t = self
        for axis, k in enumerate(keys):
            if not isinstance(k, slice):
                raise TypeError("index %r: tensors take slices only" % (k,))
            start, stop, step = k.indices(self.shape[axis])
            if step <= 0:
                raise ValueError("slice step %d: views step forward (permute to reverse)" % step)
            t = t.slice(axis, start, max(start, stop), step)
        return t

    def __repr__(self) -> str:
        return "<aidev.Tensor %s%s strides %s at byte %d of %r>" % (
            self.dtype.name.lower(), list(self.shape), list(self.strides), self.offset,
            self.buffer)


Operand = Union[Tensor, Buffer]


def _tensor(x: Operand, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, Buffer):
        return Tensor(x)
    raise TypeError("%s: a Tensor or a Buffer, not %s" % (what, type(x).__name__))


def _optional(x: Optional[Operand], what: str) -> Any:
    return ffi.NULL if x is None else _tensor(x, what)._c


def _enqueue(queue: "Queue", call: str, *args: Any, wait_for: WaitFor) -> Event:
    n, waits = _wait_list(wait_for)
    out = ffi.new("aidev_event *")
    st = getattr(lib, call)(queue._h, *args, n, waits, out)
    return queue._event(st, out, call)


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
    "aidev_enqueue_layernorm",
})


def unwrapped_ops() -> List[str]:
    """Names of the library's ops this module has no function for yet
    (ops that landed in the C library after this module was written;
    reach them through ``aidev.lib``)."""
    return [o.name for o in op_table() if o.call not in _WRAPPED]


__all__ = [
    "MAX_RANK", "OpInfo", "Operand", "Tensor", "add", "binary", "convert", "divide", "exp",
    "gelu_erf", "gelu_tanh", "layernorm", "log_softmax", "maximum", "minimum", "multiply",
    "op_table", "reduce", "reduce_max", "reduce_mean", "reduce_sum", "relu", "requantize",
    "rmsnorm", "scale_shift", "sigmoid", "silu", "softmax", "subtract", "tanh", "unary",
    "unwrapped_ops",
]

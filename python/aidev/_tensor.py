"""Tensor views (aidev_tensor) and the one way every op of :mod:`aidev.ops`
enqueues: the operands as descriptors the library checks, the wait list,
the event back."""
from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple, Union

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

"""The matrix ops of :mod:`aidev.ops`: GEMM with its bias and activation
epilogue, the strided-batched GEMM of BLAS libraries, and quantized
matrices (quantize, dequantize, the GEMM that dequantizes as it reads).

Split from ops.py so that each file holds one family of ops; ops.py
re-exports every name here.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np

from ._buffer import Buffer
from ._event import Event
from ._ffi import ffi, lib
from ._queue import WaitFor
from ._tensor import Operand, _enqueue, _optional, _tensor
from ._types import DTypeLike

if TYPE_CHECKING:
    from ._context import Device
    from ._queue import Queue

# Activations of the GEMM and convolution epilogues (aidev_activation).
ACTIVATIONS = {
    None: lib.AIDEV_ACT_NONE, "none": lib.AIDEV_ACT_NONE, "relu": lib.AIDEV_ACT_RELU,
    "gelu_tanh": lib.AIDEV_ACT_GELU_TANH, "gelu_erf": lib.AIDEV_ACT_GELU_ERF,
    "silu": lib.AIDEV_ACT_SILU,
}


def _activation(name: Optional[str]) -> int:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError("activation: %r; one of None, %s"
                         % (name, ", ".join(k for k in ACTIVATIONS if k))) from None


def _gemm_params(trans_a: bool, trans_b: bool, alpha: float, beta: float,
                 activation: Optional[str]) -> Any:
    return ffi.new("aidev_gemm_params *", {
        "trans_a": bool(trans_a), "trans_b": bool(trans_b), "alpha": float(alpha),
        "beta": float(beta), "activation": _activation(activation)})


def gemm(queue: "Queue", a: Operand, b: Operand, c: Operand, bias: Optional[Operand] = None,
         *, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0,
         beta: float = 0.0, activation: Optional[str] = None,
         wait_for: WaitFor = None) -> Event:
    """c = activation(alpha op(a) @ op(b) + beta c + bias), NumPy's matmul
    on the last two axes: a m x k (k x m with |trans_a|), b k x n (n x k
    with |trans_b|), c m x n, and up to two batch axes before them that
    broadcast from a and b to c. |bias| (None: none) broadcasts to m x n
    ([n], [m, 1], [m, n] or one value) and is shared by the batches;
    |activation| None, "relu", "gelu_tanh", "gelu_erf" or "silu". beta 0
    ignores c's old values (NaN included). f32, f16, bf16, any mix; sums
    in f32. Transposed views (``Tensor.T``) work as well as the flags."""
    return _enqueue(queue, "aidev_enqueue_gemm",
                    _gemm_params(trans_a, trans_b, alpha, beta, activation),
                    _tensor(a, "a")._c, _tensor(b, "b")._c, _optional(bias, "bias"),
                    _tensor(c, "c")._c, wait_for=wait_for)


def _strided_operand(buf: Buffer, what: str) -> Tuple[Any, int]:
    if not isinstance(buf, Buffer):
        raise TypeError("%s: a Buffer (or buffer view), not %s" % (what, type(buf).__name__))
    return buf._h, buf.offset


def gemm_strided_batched(queue: "Queue", a: Buffer, b: Buffer, c: Buffer, *, m: int, n: int,
                         k: int, batch: int, trans_a: bool = False, trans_b: bool = False,
                         alpha: float = 1.0, beta: float = 0.0, lda: Optional[int] = None,
                         ldb: Optional[int] = None, ldc: Optional[int] = None,
                         stride_a: Optional[int] = None, stride_b: Optional[int] = None,
                         stride_c: Optional[int] = None, wait_for: WaitFor = None) -> Event:
    """C_z = alpha op(A_z) @ op(B_z) + beta C_z for z < |batch|, as BLAS
    libraries take it (cuBLAS' gemmStridedBatched, row-major): matrix z of
    each operand starts ``z * stride`` elements after the buffer's (or
    view's) start, its rows |ld| elements apart. A is m x k (stored k x m
    with |trans_a|), B k x n (stored n x k with |trans_b|), C m x n. Each
    ld defaults to its stored matrix's columns and each stride to its
    stored matrix's size (compact batches). Element types are the
    buffers' (f32, f16 or bf16)."""
    m, n, k, batch = (operator.index(v) for v in (m, n, k, batch))
    lda = (m if trans_a else k) if lda is None else lda
    ldb = (k if trans_b else n) if ldb is None else ldb
    ldc = n if ldc is None else ldc
    d = ffi.new("aidev_gemm_strided *")
    d.m, d.n, d.k, d.batch = m, n, k, batch
    d.trans_a, d.trans_b = bool(trans_a), bool(trans_b)
    d.alpha, d.beta = float(alpha), float(beta)
    d.type_a, d.type_b, d.type_c = (int(x.type) for x in (a, b, c))
    d.a, d.a_offset = _strided_operand(a, "a")
    d.b, d.b_offset = _strided_operand(b, "b")
    d.c, d.c_offset = _strided_operand(c, "c")
    d.lda, d.ldb, d.ldc = lda, ldb, ldc
    d.stride_a = (k if trans_a else m) * lda if stride_a is None else stride_a
    d.stride_b = (n if trans_b else k) * ldb if stride_b is None else stride_b
    d.stride_c = m * ldc if stride_c is None else stride_c
    return _enqueue(queue, "aidev_enqueue_gemm_strided_batched", d, wait_for=wait_for)


# --------------------------------------------------------------------- #
# Quantized matrices
# --------------------------------------------------------------------- #

# aidev_quant_format by name, and the bytes of a 32-value block of the
# block formats (ggml's block_q8_0, block_q4_0, block_q4_1).
QUANT_FORMATS = {"i8_row": lib.AIDEV_QUANT_I8_ROW, "i8_group32": lib.AIDEV_QUANT_I8_GROUP32,
                 "q8_0": lib.AIDEV_QUANT_Q8_0, "q4_0": lib.AIDEV_QUANT_Q4_0,
                 "q4_1": lib.AIDEV_QUANT_Q4_1}
BLOCK_BYTES = {"q8_0": 34, "q4_0": 18, "q4_1": 20}


class QTensor:
    """A quantized rows x cols matrix (aidev_qtensor) in |format|:

    - "i8_row": i8 codes |q| [rows, cols], one scale per row (|scale|
      [rows], f32, f16 or bf16), optional i8 zero points |zero| shaped as
      the scales: x = (q - z) s;
    - "i8_group32": the same with a scale (and zero point) per group of 32
      values of a row: |scale| [rows, ceil(cols / 32)];
    - "q8_0", "q4_0", "q4_1": ggml's blocks of 32 values (llama.cpp's
      files), |q| a u8 view [rows, cols / 32 * block bytes] (34, 18, 20),
      no scale or zero.

    :meth:`empty` allocates the buffers of a format; ``QTensor(format, q,
    scale, zero)`` describes buffers (or :class:`Tensor` views) you have.
    """

    __slots__ = ("format", "q", "scale", "zero", "_c")

    def __init__(self, format: str, q: Operand, scale: Optional[Operand] = None,
                 zero: Optional[Operand] = None) -> None:
        if format not in QUANT_FORMATS:
            raise ValueError("format: %r; one of %s" % (format, ", ".join(QUANT_FORMATS)))
        self.format = format
        self.q = _tensor(q, "q")
        self.scale = None if scale is None else _tensor(scale, "scale")
        self.zero = None if zero is None else _tensor(zero, "zero")
        c = ffi.new("aidev_qtensor *")
        c.format = QUANT_FORMATS[format]
        c.q = self.q._c[0]
        if self.scale is not None:
            c.scale = self.scale._c[0]
        if self.zero is not None:  # else its buffer stays NULL: symmetric
            c.zero = self.zero._c[0]
        self._c = c

    @classmethod
    def empty(cls, device: "Device", format: str, rows: int, cols: int, *,
              zero_points: bool = False, scale_dtype: DTypeLike = np.float32) -> "QTensor":
        """Buffers on |device| for a rows x cols matrix in |format|, to be
        filled by :func:`quantize` (or a file read). |zero_points| and
        |scale_dtype| apply to the i8 formats."""
        if format not in QUANT_FORMATS:
            raise ValueError("format: %r; one of %s" % (format, ", ".join(QUANT_FORMATS)))
        if format in BLOCK_BYTES:
            if cols % 32:
                raise ValueError("cols: %d; the block formats take multiples of 32" % cols)
            return cls(format, device.buffer((rows, cols // 32 * BLOCK_BYTES[format]), np.uint8))
        shape: Tuple[int, ...] = (rows,) if format == "i8_row" else (rows, -(-cols // 32))
        return cls(format, device.buffer((rows, cols), np.int8),
                   device.buffer(shape, scale_dtype),
                   device.buffer(shape, np.int8) if zero_points else None)

    @property
    def rows(self) -> int:
        """Rows of the matrix."""
        return self.q.shape[0]

    @property
    def cols(self) -> int:
        """Columns of the matrix (values, not bytes)."""
        width = self.q.shape[-1]
        return width // BLOCK_BYTES[self.format] * 32 if self.format in BLOCK_BYTES else width

    def __repr__(self) -> str:
        return "<aidev.ops.QTensor %s %d x %d%s>" % (
            self.format, self.rows, self.cols, " with zero points" if self.zero else "")


def _qtensor(w: QTensor) -> Any:
    if not isinstance(w, QTensor):
        raise TypeError("w: a QTensor, not %s" % type(w).__name__)
    return w._c


def quantize(queue: "Queue", x: Operand, w: QTensor, *, wait_for: WaitFor = None) -> Event:
    """Quantizes the float matrix |x| (rows x cols, f32, f16 or bf16, any
    strides) into |w|, whose format says how: the i8 formats symmetric
    (s = amax / 127) or, with zero points, over the group's range; the
    block formats as ggml's reference quantizers, bit for bit (cols a
    multiple of 32)."""
    return _enqueue(queue, "aidev_enqueue_quantize", _tensor(x, "x")._c, _qtensor(w),
                    wait_for=wait_for)


def dequantize(queue: "Queue", w: QTensor, out: Operand, *, wait_for: WaitFor = None) -> Event:
    """out = the values of |w| (rows x cols) in out's type (f32, f16 or
    bf16); exact."""
    return _enqueue(queue, "aidev_enqueue_dequantize", _qtensor(w), _tensor(out, "out")._c,
                    wait_for=wait_for)


def qgemm(queue: "Queue", x: Operand, w: QTensor, y: Operand, bias: Optional[Operand] = None,
          *, trans_a: bool = False, alpha: float = 1.0, beta: float = 0.0,
          activation: Optional[str] = None, wait_for: WaitFor = None) -> Event:
    """y = activation(alpha op(x) @ w.T + beta y + bias) with |w| quantized
    (n x k, a linear layer's weight: row j feeds output j), dequantized as
    it is read: x [..., m, k] (k x m with |trans_a|; up to two batch
    axes), y [..., m, n], bias and activation as :func:`gemm`'s. Sums in
    f32."""
    return _enqueue(queue, "aidev_enqueue_qgemm",
                    _gemm_params(trans_a, False, alpha, beta, activation), _tensor(x, "x")._c,
                    _qtensor(w), _optional(bias, "bias"), _tensor(y, "y")._c, wait_for=wait_for)


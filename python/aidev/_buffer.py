"""Buffers: memory on one device, typed and shaped like a NumPy array.

Moving data between NumPy and a device says whether it copies:

* ``Buffer.from_numpy(device, array)`` wraps the array's own memory (zero
  copy, ``buffer.imported`` is True) where the device imports host memory
  (Feature.HOST_IMPORT, a C-contiguous writeable array); elsewhere it copies
  into a new DEVICE buffer (``imported`` False). ``copy=False`` refuses to
  copy (the library's reason is raised), ``copy=True`` always copies.
* ``buffer.to_numpy()`` returns a view of the buffer's memory (zero copy)
  when ``buffer.host_addressable`` is True (HOST memory, fine-grained
  SHARED memory, and every kind on devices whose memory is host memory),
  and a copy read through a queue otherwise. ``copy=False`` refuses to
  copy, ``copy=True`` always copies.
* ``np.from_dlpack(buffer)`` and ``aidev.from_dlpack(device, tensor)`` are
  the zero-copy exchanges by DLPack, with any producer or consumer.

A view keeps the buffer's memory alive (the library holds it for the
exported tensor) even past ``release()`` of the buffer or of its context.
"""
from __future__ import annotations

import contextlib
import math
import operator
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from . import _dlpack, _info
from ._errors import Status, UnsupportedError, check, raise_last
from ._ffi import ffi, lib
from ._types import DTypeLike, Memory, Type, storage_dtype, to_memory, to_type

if TYPE_CHECKING:
    from ._context import Device
    from ._queue import Queue

ShapeLike = Union[int, Sequence[int]]

_DL_CODES = {lib.kDLInt: "i", lib.kDLUInt: "u", lib.kDLFloat: "f"}


def _shape(shape: ShapeLike) -> Tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(operator.index(n) for n in shape)


class Buffer:
    """Memory on one device, with a NumPy dtype and shape.

    ``Buffer(device, shape, dtype=np.float32, kind="device")`` allocates
    (zeroed unless ``uninitialized``); ``Buffer.from_numpy`` and
    ``from_dlpack`` wrap or copy host data. ``dtype=None`` makes an untyped
    buffer of ``shape`` bytes (accepted by every kernel argument).

    Slicing the first axis (``buf[2:5]``, ``buf[3]``) gives a view: the
    same memory from a byte offset, usable wherever a buffer is (queue
    commands, kernel arguments, DLPack). ``view()`` reinterprets the bytes.

    Attributes:
        device: the :class:`Device` it lives on.
        kind: its :class:`Memory` kind.
        dtype: NumPy dtype of its elements (uint8 for untyped buffers).
        type: the aidev element :class:`Type` (NONE when untyped).
        shape: its shape; ``size`` elements, ``nbytes`` bytes.
        offset: byte offset in the buffer it views (0 for a buffer).
        imported: True when its memory is a host array's (zero copy).
    """

    __slots__ = ("_h", "_root", "_context", "device", "kind", "dtype", "type", "shape",
                 "offset", "nbytes", "imported", "_source", "_dl_device", "_arg", "__weakref__")

    def __init__(self, device: "Device", shape: ShapeLike, dtype: DTypeLike = np.float32, *,
                 kind: Any = Memory.DEVICE, uninitialized: bool = False,
                 zero_on_free: bool = False) -> None:
        t = to_type(dtype)
        dims = _shape(shape)
        desc = ffi.new("aidev_buffer_desc *")
        desc.size = math.prod(dims) * storage_dtype(t).itemsize
        desc.kind = int(to_memory(kind))
        desc.element_type = int(t)
        desc.flags = ((lib.AIDEV_BUFFER_UNINITIALIZED if uninitialized else 0)
                      | (lib.AIDEV_BUFFER_ZERO_ON_FREE if zero_on_free else 0))
        out = ffi.new("aidev_buffer *")
        check(lib.aidev_buffer_create(device._h, desc, out), "aidev_buffer_create")
        self._set(device, out[0], dims, t, to_memory(kind), imported=False)

    def _set(self, device: "Device", handle: Any, shape: Tuple[int, ...], t: Type,
             kind: Memory, imported: bool, root: Optional["Buffer"] = None,
             offset: int = 0) -> None:
        self._h = handle
        self._root = root
        self._context = device.context
        self.device = device
        self.kind = kind
        self.type = t
        self.dtype = storage_dtype(t)
        self.shape = shape
        self.offset = offset
        self.nbytes = math.prod(shape) * self.dtype.itemsize
        self.imported = imported
        # The NumPy array an imported buffer wraps (None otherwise).
        self._source: Optional[np.ndarray] = None
        self._dl_device: Optional[Tuple[int, int]] = None
        # Its dispatch argument, made once (aidev.h's aidev_arg_buffer).
        self._arg = lib.aidev_arg_buffer(handle, offset)

    # ------------------------------------------------------------------ #
    # Shape and views
    # ------------------------------------------------------------------ #

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d buffer")
        return self.shape[0]

    def _base(self) -> "Buffer":
        return self._root if self._root is not None else self

    def _view(self, offset: int, shape: Tuple[int, ...], t: Type) -> "Buffer":
        v = object.__new__(Buffer)
        v._set(self.device, self._h, shape, t, self.kind, self.imported, root=self._base(),
               offset=offset)
        return v

    def __getitem__(self, key: Union[int, slice]) -> "Buffer":
        """A view of rows of the first axis: ``buf[i]`` or ``buf[a:b]``
        (step 1: a buffer is one range of bytes)."""
        if isinstance(key, tuple):
            if len(key) != 1:
                raise IndexError("buffers slice their first axis only; got %d indices" % len(key))
            key = key[0]
        if not self.shape:
            raise IndexError("a 0-d buffer has no axis to slice")
        n = self.shape[0]
        row = math.prod(self.shape[1:]) * self.dtype.itemsize
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step != 1:
                raise ValueError("slice step %d: a buffer view is one range of bytes "
                                 "(step 1)" % step)
            return self._view(self.offset + start * row, (max(0, stop - start),) + self.shape[1:],
                              self.type)
        i = operator.index(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("index %d is out of a first axis of %d" % (operator.index(key), n))
        return self._view(self.offset + i * row, self.shape[1:], self.type)

    def view(self, dtype: DTypeLike = None, shape: Optional[ShapeLike] = None,
             offset: int = 0) -> "Buffer":
        """The bytes from |offset| (bytes, relative to this buffer or view)
        seen as |shape| elements of |dtype| (default: this dtype, and every
        whole element to the end)."""
        t = self.type if dtype is None else to_type(dtype)
        itemsize = storage_dtype(t).itemsize
        if not 0 <= offset <= self.nbytes:
            raise IndexError("offset %d is outside the %d bytes of this buffer"
                             % (offset, self.nbytes))
        dims = ((self.nbytes - offset) // itemsize,) if shape is None else _shape(shape)
        if math.prod(dims) * itemsize > self.nbytes - offset:
            raise IndexError("a view of %s %s from byte %d needs %d bytes; %d remain"
                             % (dims, storage_dtype(t), offset, math.prod(dims) * itemsize,
                                self.nbytes - offset))
        return self._view(self.offset + offset, dims, t)

    # ------------------------------------------------------------------ #
    # NumPy
    # ------------------------------------------------------------------ #

    @classmethod
    def from_numpy(cls, device: "Device", array: Any, *,
                   copy: Optional[bool] = None) -> "Buffer":
        """A buffer holding |array|.

        copy=None: the array's own memory, imported as a HOST buffer (zero
        copy: ``imported`` True, and queue commands write into the array)
        where the device imports host memory; else a copy in a new DEVICE
        buffer (``imported`` False). copy=False: import or raise the reason
        (UnsupportedError, BufferError for a read-only array, ...).
        copy=True: always a copy.
        """
        arr = np.asarray(array)
        to_type(arr.dtype)  # a dtype aidev has no type for is refused before anything
        if copy is not True:
            try:
                return cls._import_dlpack(device, arr)
            except (UnsupportedError, BufferError):
                if copy is False:
                    raise
        buf = cls(device, arr.shape, arr.dtype, uninitialized=True)
        device._queue_for_transfers().write(buf, np.ascontiguousarray(arr)).wait()
        return buf

    @classmethod
    def from_dlpack(cls, device: "Device", tensor: Any, *,
                    copy: Optional[bool] = None) -> "Buffer":
        """A buffer holding a DLPack |tensor| (any object with __dlpack__:
        NumPy, PyTorch...): its memory wrapped without a copy where it is
        host memory the device can import, else copied (same |copy| rule as
        :meth:`from_numpy`)."""
        if isinstance(tensor, np.ndarray):
            return cls.from_numpy(device, tensor, copy=copy)
        if copy is not True and tensor.__dlpack_device__()[0] == _dlpack.KDLCPU:
            try:
                return cls._import_dlpack(device, tensor)
            except (UnsupportedError, BufferError):
                if copy is False:
                    raise
        elif copy is False:
            raise UnsupportedError(Status.UNSUPPORTED, "tensor: on DLPack device %s; only host "
                                   "(kDLCPU) tensors are imported without a copy"
                                   % (tensor.__dlpack_device__(),), "from_dlpack")
        return cls.from_numpy(device, np.from_dlpack(tensor), copy=True)

    @classmethod
    def _import_dlpack(cls, device: "Device", producer: Any) -> "Buffer":
        capsule = producer.__dlpack__()
        tensor = _dlpack.tensor_of(capsule)
        t = tensor.dl_tensor
        shape = tuple(t.shape[i] for i in range(t.ndim))
        code = _DL_CODES.get(t.dtype.code)
        try:
            element = to_type("%s%d" % (code, t.dtype.bits)) if code and t.dtype.lanes == 1 \
                else Type.NONE
        except TypeError:
            element = Type.NONE
        out = ffi.new("aidev_buffer *")
        st = lib.aidevpy_import_dlpack(device._h, tensor, out)
        if st < 0:
            raise_last(st, "aidev_buffer_import_dlpack")  # the capsule gives the tensor back
        _dlpack.mark_consumed(capsule)
        buf = object.__new__(cls)
        if element == Type.NONE:  # bytes: the whole tensor as uint8
            shape = (int(_info.buffer_info(out[0], lib.AIDEV_BUFFER_INFO_SIZE, "u64")),)
        buf._set(device, out[0], shape, element, Memory.HOST, imported=True)
        if isinstance(producer, np.ndarray):
            buf._source = producer
        return buf

    def _dlpack_probe(self) -> Tuple[int, int]:
        """(DLPack device type, id) of the buffer's memory: a one-byte
        export, read and given back at once."""
        base = self._base()
        if base._source is not None:
            return (_dlpack.KDLCPU, 0)
        if base._dl_device is None:
            desc = ffi.new("aidev_dlpack_desc *")
            desc.element_type = lib.AIDEV_TYPE_U8
            desc.ndim = 1
            one = ffi.new("int64_t[1]", [1])
            desc.shape = one
            out = ffi.new("DLManagedTensor **")
            check(lib.aidev_buffer_export_dlpack(base._h, desc, out),
                  "aidev_buffer_export_dlpack")
            d = out[0].dl_tensor.device
            base._dl_device = (int(d.device_type), int(d.device_id))
            out[0].deleter(out[0])
        return base._dl_device

    @property
    def host_addressable(self) -> bool:
        """True when the host addresses this memory directly: then
        to_numpy() and np.from_dlpack() are views, not copies."""
        return self._dlpack_probe()[0] == _dlpack.KDLCPU

    def __dlpack_device__(self) -> Tuple[int, int]:
        """(kDLCPU, 0) for host-addressable memory; (kDLOpenCL or kDLVulkan,
        device index) for device memory named by its native handle."""
        return self._dlpack_probe()

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None,
                   dl_device: Any = None, copy: Optional[bool] = None) -> Any:
        """A DLPack capsule viewing this buffer (no copy). The tensor holds
        the memory (and its device) until the consumer lets go, even past
        the release of the buffer or its context. Commands writing the
        buffer must have completed before the consumer reads it."""
        if stream is not None:
            raise BufferError("stream: aidev tensors need no stream; wait for the event "
                              "that writes the buffer instead")
        if copy:
            raise BufferError("copy=True: aidev exports views only; use to_numpy(copy=True)")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError("dl_device %s: the buffer is on DLPack device %s"
                              % (tuple(dl_device), self.__dlpack_device__()))
        source = self._base()._source
        if source is not None:
            return self._source_view(source).__dlpack__()
        desc = ffi.new("aidev_dlpack_desc *")
        desc.offset = self.offset
        desc.element_type = int(self.type if self.type != Type.NONE else Type.U8)
        desc.ndim = len(self.shape)
        dims = ffi.new("int64_t[]", list(self.shape) or [0])
        desc.shape = dims
        out = ffi.new("DLManagedTensor **")
        check(lib.aidev_buffer_export_dlpack(self._h, desc, out), "aidev_buffer_export_dlpack")
        return _dlpack.capsule_of(out[0])

    def _source_view(self, source: np.ndarray) -> np.ndarray:
        """This buffer or view as a view of the array it imports. (Some
        backends name imported memory by their native handle in DLPack,
        OpenCL's among them; the array is the same memory.)"""
        flat = source.reshape(-1).view(np.uint8)[self.offset:self.offset + self.nbytes]
        return flat.view(self.dtype).reshape(self.shape)

    def _host_view(self) -> np.ndarray:
        """A writeable array over the memory of a host-addressable buffer.
        (np.from_dlpack gives read-only arrays: DLPack cannot say whether a
        tensor may be written.) The array holds an exported tensor, so the
        memory outlives the buffer and its context as for DLPack."""
        source = self._base()._source
        if source is not None:
            return self._source_view(source)
        desc = ffi.new("aidev_dlpack_desc *")
        desc.offset = self.offset
        desc.element_type = lib.AIDEV_TYPE_U8
        out = ffi.new("DLManagedTensor **")
        desc.ndim = 1
        dims = ffi.new("int64_t[1]", [self.nbytes])
        desc.shape = dims
        check(lib.aidev_buffer_export_dlpack(self._h, desc, out), "aidev_buffer_export_dlpack")
        tensor = out[0]
        # The array's base holds |owner|; collecting it gives the tensor back.
        owner = ffi.gc(ffi.cast("char *", tensor.dl_tensor.data),
                       lambda _: tensor.deleter(tensor), size=self.nbytes)
        flat = np.frombuffer(ffi.buffer(owner, self.nbytes), np.uint8)
        return flat.view(self.dtype).reshape(self.shape)

    def to_numpy(self, *, copy: Optional[bool] = None,
                 queue: Optional["Queue"] = None) -> np.ndarray:
        """The contents as a NumPy array.

        copy=None: a view of the memory where ``host_addressable`` (no read
        at all; the caller waits for commands writing it first), else a
        copy read through |queue| (default: the device's own transfer
        queue) and waited for. copy=False: the view, or UnsupportedError
        saying why there is none. copy=True: always a copy.
        """
        if copy is not True:
            if self.host_addressable:
                return self._host_view()
            if copy is False:
                kind, index = self.__dlpack_device__()
                raise UnsupportedError(
                    Status.UNSUPPORTED, "buffer: %s memory of device %d (%s, %s) is not "
                    "addressed by the host (DLPack device type %d); read it with copy=True "
                    "or Queue.read" % (self.kind.name, self.device.index, self.device.name,
                                       self.device.backend, kind), "to_numpy")
        out = np.empty(self.shape, self.dtype)
        q = queue if queue is not None else self.device._queue_for_transfers()
        q.read(self, out).wait()
        return out

    @contextlib.contextmanager
    def map(self, *, read: bool = True, write: bool = True) -> Iterator[np.ndarray]:
        """``with buf.map() as array:`` maps a HOST or SHARED buffer for
        host access (aidev_buffer_map) and unmaps it at the end of the
        block, when host writes become visible to the device. The array
        must not be used after the block. UnsupportedError for DEVICE
        memory, InvalidStateError when already mapped."""
        flags = (lib.AIDEV_MAP_READ if read else 0) | (lib.AIDEV_MAP_WRITE if write else 0)
        ptr = ffi.new("void **")
        check(lib.aidev_buffer_map(self._h, self.offset, self.nbytes, flags, ptr),
              "aidev_buffer_map")
        try:
            array = np.frombuffer(ffi.buffer(ptr[0], self.nbytes), self.dtype)
            array = array.reshape(self.shape)
            if not write:
                array.flags.writeable = False
            yield array
        finally:
            check(lib.aidev_buffer_unmap(self._h), "aidev_buffer_unmap")

    # ------------------------------------------------------------------ #
    # Properties and life
    # ------------------------------------------------------------------ #

    @property
    def page_kind(self) -> str:
        """How the memory is backed: "hugetlb", "thp", "normal", "device"."""
        return _info.buffer_info(self._h, lib.AIDEV_BUFFER_INFO_PAGE_KIND, "str")

    @property
    def numa_node(self) -> int:
        """NUMA node of the memory; -1 when unknown."""
        return _info.buffer_info(self._h, lib.AIDEV_BUFFER_INFO_NUMA_NODE, "i32")

    def release(self) -> None:
        """Drops the buffer's memory now (for a view: of the buffer it
        views) instead of when collected; its commands in flight finish
        first. Views and DLPack tensors of it stay valid."""
        base = self._base()
        h, base._h = base._h, ffi.NULL
        if h != ffi.NULL and base._context._alive:
            check(lib.aidev_buffer_release(h), "aidev_buffer_release")

    def __enter__(self) -> "Buffer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            if self._root is None and self._h != ffi.NULL and self._context._alive:
                lib.aidev_buffer_release(self._h)
        except AttributeError:  # a half-made object
            pass

    def __repr__(self) -> str:
        shape = "x".join(str(n) for n in self.shape)
        where = " view at byte %d" % self.offset if self._root is not None else ""
        return "<aidev.Buffer %s[%s] %s on %s%s%s>" % (
            {Type.NONE: "bytes", Type.BF16: "bf16"}.get(self.type, self.dtype), shape, self.kind.name.lower(),
            self.device.name, " (imported)" if self.imported else "", where)


def from_dlpack(device: "Device", tensor: Any, *, copy: Optional[bool] = None) -> Buffer:
    """:meth:`Buffer.from_dlpack`: a buffer of |device| holding |tensor|."""
    return Buffer.from_dlpack(device, tensor, copy=copy)

"""Kernels: the built-in library by name, and user kernels from OpenCL C,
SPIR-V or a C function, each with its declared signature.

A dispatch's Python arguments are converted by the kernel's signature:
buffers (and buffer views, which carry their byte offset) where it declares
buffers, Python or NumPy numbers where it declares scalars, as the declared
scalar type (an int where an integer is declared: 2.5 is refused, not
truncated).
"""
from __future__ import annotations

import ctypes
import operator
from typing import (TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

from ._errors import KernelArgsError, Status, check
from ._event import Event
from ._ffi import ffi, lib
from ._queue import WaitFor, _dispatch, _grid
from ._types import DTypeLike, Type, to_type

if TYPE_CHECKING:
    from ._context import Device
    from ._queue import Queue

ACCESS = {"read": lib.AIDEV_ACCESS_READ, "write": lib.AIDEV_ACCESS_WRITE,
          "read_write": lib.AIDEV_ACCESS_READ_WRITE,
          "r": lib.AIDEV_ACCESS_READ, "w": lib.AIDEV_ACCESS_WRITE, "rw": lib.AIDEV_ACCESS_READ_WRITE}
_ACCESS_NAME = {lib.AIDEV_ACCESS_READ: "read", lib.AIDEV_ACCESS_WRITE: "write",
                lib.AIDEV_ACCESS_READ_WRITE: "read_write"}



class ArgSpec(NamedTuple):
    """One declared kernel argument (aidev_kernel_arg_desc).

    kind is "buffer" or "scalar"; type the element type of a buffer (NONE:
    any) or the scalar's type; access "read", "write" or "read_write"
    (buffers); count the least elements a buffer must hold, as a product of
    scalar names and integers ("n", "m*k"), or None.
    """

    name: str
    kind: str
    type: Type
    access: str = "read_write"
    count: Optional[str] = None


def buffer_arg(name: str, dtype: DTypeLike = None, access: str = "read_write",
               count: Optional[str] = None) -> ArgSpec:
    """A buffer argument: element |dtype| (None: any buffer), |access|
    ("read", "write", "read_write"), |count| ("n", "m*k") or None."""
    if access not in ACCESS:
        raise ValueError("access: %r; use 'read', 'write' or 'read_write'" % (access,))
    return ArgSpec(name, "buffer", to_type(dtype), _ACCESS_NAME[ACCESS[access]], count)


def scalar_arg(name: str, dtype: DTypeLike) -> ArgSpec:
    """A scalar argument of |dtype| (u32, i32, u64, i64, f32 or f64)."""
    t = to_type(dtype)
    if t not in _SCALAR_ARG:
        raise TypeError("scalar %s: %s is not a scalar type (use %s)"
                        % (name, t.name.lower(), ", ".join(x.name.lower() for x in _SCALAR_ARG)))
    return ArgSpec(name, "scalar", t, "read", None)


class KernelSignature(NamedTuple):
    """A kernel's name, arguments and the grid it declares (one expression
    per dimension, None meaning 1)."""

    name: str
    args: Tuple[ArgSpec, ...]
    grid: Tuple[Optional[str], ...]


def _text(p: Any) -> Optional[str]:
    return None if p == ffi.NULL else ffi.string(p).decode()


def _signature_of(desc: Any) -> KernelSignature:
    args = []
    for i in range(desc.arg_count):
        a = desc.args[i]
        if a.kind == lib.AIDEV_ARG_BUFFER:
            args.append(ArgSpec(_text(a.name), "buffer", Type(a.type),
                                _ACCESS_NAME.get(a.access, "read_write"), _text(a.count)))
        else:
            args.append(ArgSpec(_text(a.name), "scalar", Type(a.type), "read", None))
    return KernelSignature(_text(desc.name), tuple(args), tuple(_text(g) for g in desc.grid))


_library: Dict[str, KernelSignature] = {}


def library_kernels() -> List[KernelSignature]:
    """The signatures of every kernel of the built-in library."""
    if not _library:
        for i in range(lib.aidev_library_kernel_count()):
            sig = _signature_of(lib.aidev_library_kernel(i))
            _library[sig.name] = sig
    return list(_library.values())


# The aidev_arg of a scalar of each type: aidev.h's inline helpers (cffi
# wraps them; an int where a float is declared converts, a float where an
# integer is declared raises TypeError, a value out of range OverflowError).
_SCALAR_ARG = {Type.U32: lib.aidev_arg_u32, Type.I32: lib.aidev_arg_i32,
               Type.U64: lib.aidev_arg_u64, Type.F32: lib.aidev_arg_f32,
               Type.I64: lib.aidevpy_arg_i64, Type.F64: lib.aidevpy_arg_f64}


# A buffer's aidev_arg is made once, with the buffer (Buffer._arg); a C
# attribute getter reads it (AttributeError for anything else).
_buffer_arg = operator.attrgetter("_arg")

# f(a) for each pair of map(): operator.call where Python has it (3.11).
_call = getattr(operator, "call", None) or (lambda f, a: f(a))
_ARG_ARRAY = ffi.typeof("aidev_arg[]")
_new = ffi.new


class Kernel:
    """A kernel built for one device, with its declared signature.

    Made by :meth:`Device.kernel` (the built-in library) or by
    :meth:`from_opencl`, :meth:`from_spirv`, :meth:`from_c_function`;
    dispatched by :meth:`Queue.dispatch`.
    """

    __slots__ = ("_h", "_context", "device", "signature", "_converters", "_nargs", "_keep",
                 "__weakref__")

    def __init__(self) -> None:
        raise TypeError("use Device.kernel(name) or Kernel.from_opencl/from_spirv/"
                        "from_c_function")

    @classmethod
    def _wrap(cls, device: "Device", handle: Any, signature: KernelSignature) -> "Kernel":
        k = object.__new__(cls)
        k._h = handle
        k._context = device.context
        k.device = device
        k.signature = signature
        k._keep = None
        # Per argument, the function making its aidev_arg.
        k._converters = tuple(_buffer_arg if s.kind == "buffer" else _SCALAR_ARG[s.type]
                              for s in signature.args)
        k._nargs = len(k._converters)
        return k

    @classmethod
    def library(cls, device: "Device", name: str) -> "Kernel":
        """The built-in kernel |name|, compiled for |device| on first use.
        NotFoundError when no such kernel exists, UnsupportedError when the
        device's backend has no form of it."""
        out = ffi.new("aidev_kernel *")
        check(lib.aidev_kernel_get(device._h, name.encode(), out), "aidev_kernel_get")
        library_kernels()
        return cls._wrap(device, out[0], _library[name])

    @classmethod
    def _create(cls, device: "Device", name: str, kind: int, args: Sequence[ArgSpec],
                data: Any = ffi.NULL, size: int = 0, host_fn: Any = ffi.NULL,
                grid: Sequence[Optional[str]] = (), workgroup: Optional[Sequence[int]] = None,
                build_options: Optional[str] = None) -> "Kernel":
        keep = []  # C strings alive until aidev_kernel_create returns (it copies)

        def c_str(s: Optional[str]) -> Any:
            if s is None:
                return ffi.NULL
            p = ffi.new("char[]", s.encode())
            keep.append(p)
            return p

        if len(grid) > 3:
            raise ValueError("grid: %d dimensions; at most 3" % len(grid))
        desc = ffi.new("aidev_kernel_desc *")
        desc.name = c_str(name)
        desc.source_kind = kind
        desc.data = data
        desc.size = size
        desc.host_fn = host_fn
        c_args = ffi.new("aidev_kernel_arg_desc[]", max(1, len(args)))
        for i, a in enumerate(args):
            c_args[i].name = c_str(a.name)
            c_args[i].kind = lib.AIDEV_ARG_BUFFER if a.kind == "buffer" else lib.AIDEV_ARG_SCALAR
            c_args[i].type = int(a.type)
            c_args[i].access = ACCESS[a.access]
            c_args[i].count = c_str(a.count)
        desc.arg_count = len(args)
        desc.args = c_args
        for i, g in enumerate(grid):
            desc.grid[i] = c_str(g)
        if workgroup is not None:
            for i, w in enumerate(workgroup):
                desc.workgroup[i] = w
        desc.build_options = c_str(build_options)
        out = ffi.new("aidev_kernel *")
        check(lib.aidev_kernel_create(device._h, desc, out), "aidev_kernel_create")
        sig = KernelSignature(name, tuple(args), tuple(grid) + (None,) * (3 - len(grid)))
        return cls._wrap(device, out[0], sig)

    @classmethod
    def from_opencl(cls, device: "Device", source: str, name: str, args: Sequence[ArgSpec],
                    *, grid: Sequence[Optional[str]] = (),
                    workgroup: Optional[Sequence[int]] = None,
                    build_options: Optional[str] = None) -> "Kernel":
        """A kernel from OpenCL C |source|, entry point |name|, declared
        |args|. CompileError carries the build log; UnsupportedError on
        devices without Feature.KERNEL_OPENCL_C."""
        text = ffi.new("char[]", source.encode())
        return cls._create(device, name, lib.AIDEV_KERNEL_SOURCE_OPENCL_C, args, data=text,
                           size=0, grid=grid, workgroup=workgroup, build_options=build_options)

    @classmethod
    def from_spirv(cls, device: "Device", module: bytes, name: str, args: Sequence[ArgSpec],
                   *, grid: Sequence[Optional[str]] = (),
                   workgroup: Optional[Sequence[int]] = None) -> "Kernel":
        """A kernel from a SPIR-V |module| (bytes), entry point |name|."""
        data = ffi.from_buffer(bytes(module))
        return cls._create(device, name, lib.AIDEV_KERNEL_SOURCE_SPIRV, args, data=data,
                           size=len(module), grid=grid, workgroup=workgroup)

    @classmethod
    def from_c_function(cls, device: "Device", function: Any, name: str,
                        args: Sequence[ArgSpec], *, grid: Sequence[Optional[str]] = (),
                        workgroup: Optional[Sequence[int]] = None) -> "Kernel":
        """A kernel from a C function ``void f(void *const *args, const
        aidev_host_range *range)``, called concurrently on disjoint boxes of
        the grid (CPU devices). |function| is its address (an int), a cffi
        function pointer, or a ctypes function (a CFUNCTYPE object or a
        symbol of a ctypes.CDLL)."""
        address = _function_address(function)
        if not address:
            raise ValueError("function: a NULL address")
        fn = ffi.cast("aidev_host_kernel_fn", address)
        kernel = cls._create(device, name, lib.AIDEV_KERNEL_SOURCE_HOST, args, host_fn=fn,
                             grid=grid, workgroup=workgroup)
        kernel._keep = function  # a ctypes or cffi callback lives as long as the kernel
        return kernel

    @property
    def name(self) -> str:
        """The kernel's name (its entry point)."""
        return self.signature.name

    def _pack(self, args: Sequence[Any]) -> Any:
        """The aidev_arg array of a dispatch's Python arguments."""
        if len(args) != self._nargs:
            raise self._count_error(len(args))
        try:
            return _new(_ARG_ARRAY, list(map(_call, self._converters, args)))
        except (AttributeError, TypeError, OverflowError):
            raise self._arg_error(args) from None

    def _count_error(self, given: int) -> KernelArgsError:
        return KernelArgsError(Status.KERNEL_ARGS, "kernel '%s' declares %d arguments (%s), the "
                               "dispatch passes %d" % (
                                   self.signature.name, self._nargs,
                                   ", ".join(a.name for a in self.signature.args), given),
                               "dispatch")

    def prepare(self, grid: Union[None, int, Sequence[int]] = None, args: Sequence[Any] = (),
                *, workgroup: Optional[Sequence[int]] = None) -> "PreparedDispatch":
        """A dispatch of this kernel made once and enqueued many times
        (:class:`PreparedDispatch`): the arguments are checked and packed
        here, so each :meth:`PreparedDispatch.enqueue` is one library call.
        |grid|, |args| and |workgroup| as :meth:`Queue.dispatch` takes
        them."""
        return PreparedDispatch(self, grid, args, workgroup)

    def _arg_error(self, args: Sequence[Any]) -> KernelArgsError:
        """The error naming the first argument that does not convert."""
        for spec, c, a in zip(self.signature.args, self._converters, args):
            try:
                c(a)
            except AttributeError:
                why = "a Buffer declared, %s given" % type(a).__name__
            except TypeError:
                why = "a %s scalar declared, %s given" % (spec.type.name.lower(),
                                                          type(a).__name__)
            except OverflowError:
                why = "%r does not fit its declared type %s" % (a, spec.type.name.lower())
            else:
                continue
            return KernelArgsError(Status.KERNEL_ARGS, "kernel '%s', argument %d '%s': %s"
                                   % (self.signature.name, self.signature.args.index(spec),
                                      spec.name, why), "dispatch")
        return KernelArgsError(Status.KERNEL_ARGS, "kernel '%s': the arguments do not convert"
                               % self.signature.name, "dispatch")

    def release(self) -> None:
        """Releases the kernel (also done when collected)."""
        h, self._h = self._h, ffi.NULL
        if h != ffi.NULL and self._context._alive:
            lib.aidev_kernel_release(h)

    def __del__(self) -> None:
        try:
            self.release()
        except AttributeError:
            pass

    def __repr__(self) -> str:
        args = ", ".join("%s %s" % (a.type.name.lower(), a.name) for a in self.signature.args)
        return "<aidev.Kernel %s(%s) on %s>" % (self.signature.name, args, self.device.name)


class PreparedDispatch:
    """A dispatch of one kernel whose grid, workgroup and arguments were
    checked and packed once (:meth:`Kernel.prepare`), enqueued as often as
    needed on queues of the kernel's device: each :meth:`enqueue` is one
    library call, the cheapest launch from Python.

    ``prepared[i] = value`` replaces argument i in the packed array (a
    buffer given is kept alive by the prepared dispatch); commands already
    enqueued keep the arguments they were enqueued with (the library
    copies them). Not while another thread enqueues the same prepared
    dispatch: give each thread its own.
    """

    __slots__ = ("kernel", "_args", "_argv", "_grid", "_workgroup")

    def __init__(self, kernel: Kernel, grid: Union[None, int, Sequence[int]],
                 args: Sequence[Any], workgroup: Optional[Sequence[int]]) -> None:
        self.kernel = kernel
        self._args = list(args)  # what the packed array names, alive with it
        self._argv = kernel._pack(self._args)
        self._grid = _grid(grid)
        self._workgroup = ffi.NULL if workgroup is None else _grid(workgroup)

    @property
    def args(self) -> Tuple[Any, ...]:
        """The arguments, as given."""
        return tuple(self._args)

    def __setitem__(self, index: int, value: Any) -> None:
        """Replaces argument |index| (KernelArgsError when |value| does not
        convert to the declared type; the old one stays then)."""
        convert = self.kernel._converters[index]
        try:
            self._argv[index] = convert(value)
        except (AttributeError, TypeError, OverflowError):
            args = list(self._args)
            args[index] = value
            raise self.kernel._arg_error(args) from None
        self._args[index] = value

    def enqueue(self, queue: "Queue", *, wait_for: WaitFor = None,
                event: bool = True) -> Optional[Event]:
        """Enqueues the dispatch on |queue|, after |wait_for|; returns its
        Event, or None with ``event=False`` (as :meth:`Queue.dispatch`)."""
        return _dispatch(queue, self.kernel, self._grid, self._workgroup, self.kernel._nargs,
                         self._argv, wait_for, event)

    def __repr__(self) -> str:
        return "<aidev.PreparedDispatch of %r>" % (self.kernel,)


def _function_address(function: Any) -> int:
    if isinstance(function, int):
        return function
    if isinstance(function, ffi.CData):
        return int(ffi.cast("uintptr_t", function))
    if isinstance(function, ctypes._CFuncPtr):  # type: ignore[attr-defined]
        return ctypes.cast(function, ctypes.c_void_p).value or 0
    raise TypeError("function: %s; give an address (int), a cffi function pointer or a "
                    "ctypes function" % type(function).__name__)

"""aidev from Python: devices, buffers, queues, events and kernels, with
NumPy in and out and zero copy where the memory allows.

    import numpy as np
    import aidev

    with aidev.Context() as ctx:
        dev = ctx.devices[0]                       # plugins first, the CPU last
        x = dev.from_numpy(np.arange(1024, dtype=np.float32))
        y = dev.buffer(1024, np.float32)
        with dev.queue() as q:                     # finishes at the end of the block
            q.dispatch(dev.kernel("axpy"), None, [1024, 2.0, x, y])
        print(y.to_numpy()[:4])                    # [0. 2. 4. 6.]

The built-in tensor ops (elementwise with broadcasting, reductions,
softmax, norms) are functions of :mod:`aidev.ops` on :class:`Tensor`
views of buffers.

Everything made from a Context lives until the Context is released (a
``with`` block, ``release()``, or the end of the program). Failed calls
raise :class:`Error` subclasses carrying the status and the library's
message. Blocking calls (waits, finish, queue and context release) release
the GIL. The C API is reachable as ``aidev.ffi`` and ``aidev.lib`` (cffi,
compiled against aidev.h) for what this layer does not wrap.
"""
from ._errors import (BackendError, CancelledError, CompileError, DependencyError,
                      DeviceLostError, Error, InvalidArgumentError, InvalidHandleError,
                      InvalidStateError, IOError, KernelArgsError, NotFoundError,
                      OutOfDeviceMemoryError, OutOfHostMemoryError, OutOfRangeError,
                      PluginError, QuotaError, Status, TimeoutError, UnsupportedError)
from ._ffi import ffi, lib
from ._types import DeviceType, Feature, Memory, Priority, Type
from ._event import Event, EventTimes, wait_all
from ._kernel import (ArgSpec, Kernel, KernelSignature, PreparedDispatch, buffer_arg,
                      library_kernels, scalar_arg)
from ._buffer import Buffer, from_dlpack
from ._queue import Queue
from ._context import BackendReport, Context, Device, MemoryUsage
from . import ops
from .ops import Tensor

__version__: str = ffi.string(lib.aidev_version()).decode()

__all__ = [
    "ArgSpec", "BackendError", "BackendReport", "Buffer", "CancelledError", "CompileError",
    "Context", "DependencyError", "Device", "DeviceLostError", "DeviceType", "Error",
    "Event", "EventTimes", "Feature", "IOError", "InvalidArgumentError",
    "InvalidHandleError", "InvalidStateError", "Kernel", "KernelArgsError",
    "KernelSignature", "Memory", "MemoryUsage", "NotFoundError", "OutOfDeviceMemoryError",
    "OutOfHostMemoryError", "OutOfRangeError", "PluginError", "PreparedDispatch",
    "Priority", "Queue", "QuotaError", "Status", "Tensor", "TimeoutError", "Type",
    "UnsupportedError", "buffer_arg", "ffi", "from_dlpack", "lib", "library_kernels", "ops",
    "scalar_arg", "wait_all",
]

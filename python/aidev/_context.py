"""Context and Device: the backends aidev loaded and the devices they offer.

A Context owns everything made from it. Releasing it (``release()``, the
end of a ``with`` block, or interpreter exit) waits for its queues to drain
and ends every buffer, queue, event and kernel made from it; their Python
objects then raise InvalidHandleError when used. DLPack tensors exported
from its buffers (NumPy arrays made by ``np.from_dlpack``) stay valid: the
library keeps their memory and device until the consumer lets go.
"""
from __future__ import annotations

import atexit
import threading
import weakref
from typing import Any, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _info
from ._buffer import Buffer
from ._errors import check
from ._event import Event, _cancel_if_pending
from ._ffi import ffi, lib
from ._kernel import Kernel
from ._queue import Queue
from ._types import DeviceType, DTypeLike, Feature, Memory, Priority, to_memory


class BackendReport(NamedTuple):
    """One backend the loader considered (aidev_backend_report)."""

    name: str
    path: str
    state: str  # "loaded", "skipped" or "failed"
    reason: str
    abi_version: int
    device_count: int


class MemoryUsage(NamedTuple):
    """Bytes the context's buffers hold and its limit (0: none)."""

    used: int
    limit: int


_live_contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()


@atexit.register
def _release_live_contexts() -> None:
    # While the interpreter can still run callbacks and deleters (an imported
    # NumPy array is given back under the GIL), not during its teardown.
    for ctx in list(_live_contexts):
        ctx.release()


class Context:
    """The backends aidev loaded and their devices; owner of every object
    made from them.

    ``Context(backends="opencl,cpu", memory_limit=2 << 30)`` loads the
    backends (once per process) and lists their devices; ``backends`` None
    takes the AIDEV_BACKENDS environment variable, else every backend found.
    Use it as a context manager, or call :meth:`release`.
    """

    def __init__(self, backends: Union[None, str, Sequence[str]] = None,
                 memory_limit: int = 0) -> None:
        desc = ffi.new("aidev_context_desc *")
        names = None
        if backends is not None:
            if not isinstance(backends, str):
                backends = ",".join(backends)
            names = ffi.new("char[]", backends.encode())
            desc.backends = names
        desc.memory_limit = memory_limit
        out = ffi.new("aidev_context *")
        check(lib.aidev_context_create(desc, out), "aidev_context_create")
        self._h = out[0]
        self._alive = True
        self._lock = threading.Lock()
        count = ffi.new("uint32_t *")
        check(lib.aidev_context_get_devices(self._h, count, ffi.NULL), "aidev_context_get_devices")
        handles = ffi.new("aidev_device[]", count[0])
        check(lib.aidev_context_get_devices(self._h, count, handles), "aidev_context_get_devices")
        self._device_handles = [handles[i] for i in range(count[0])]
        # Devices hold their context; the context only finds them again (a
        # strong reference both ways would leave the pair to the cycle
        # collector, and release the context late).
        self._device_objects: "weakref.WeakValueDictionary[int, Device]" = \
            weakref.WeakValueDictionary()
        # User events the program holds, cancelled if still pending when the
        # context is released (its release waits for every queue to drain).
        self._user_events: "weakref.WeakSet[Event]" = weakref.WeakSet()
        # Queues collected with commands in flight: (queue, barrier event,
        # host objects those commands use), released once the barrier is done.
        self._orphan_queues: List[Tuple[Any, Any, Any]] = []
        _live_contexts.add(self)

    @property
    def alive(self) -> bool:
        """False once the context was released."""
        return self._alive

    @property
    def devices(self) -> List["Device"]:
        """The devices of every loaded backend: plugins first, the CPU last."""
        return [self._device_of(h) for h in self._device_handles]

    @property
    def backends(self) -> List[BackendReport]:
        """Every backend the loader considered: loaded, skipped or failed,
        and why."""
        count = ffi.new("uint32_t *")
        check(lib.aidev_context_get_backends(self._h, count, ffi.NULL),
              "aidev_context_get_backends")
        reports = ffi.new("aidev_backend_report[]", count[0])
        check(lib.aidev_context_get_backends(self._h, count, reports),
              "aidev_context_get_backends")
        return [BackendReport(ffi.string(r.name).decode(), ffi.string(r.path).decode(),
                              ffi.string(lib.aidev_backend_state_string(r.state)).decode(),
                              ffi.string(r.reason).decode(), r.abi_version, r.device_count)
                for r in reports[0:count[0]]]

    def select(self, type: Union[None, DeviceType, Iterable[DeviceType]] = None,
               memory_kinds: Iterable[Any] = (), min_memory: int = 0,
               features: int = 0, near: Optional[Buffer] = None) -> "Device":
        """The device that meets every requirement and ranks first
        (aidev_device_select): the one holding |near|, then GPUs,
        accelerators, others, CPUs; then the buffer's NUMA node; then the
        most memory. |type| is a DeviceType or several; |memory_kinds| the
        kinds it must offer; |features| Feature bits it must have all of.
        Raises NotFoundError naming the requirement no device met."""
        req = ffi.new("aidev_device_requirements *")
        types = [] if type is None else ([type] if isinstance(type, int) else list(type))
        for t in types:
            req.types |= 1 << int(DeviceType(t))
        for k in memory_kinds:
            req.memory_kinds |= 1 << int(to_memory(k))
        req.min_memory_bytes = min_memory
        req.features = int(features)
        if near is not None:
            req.near_buffer = near._h
        out = ffi.new("aidev_device *")
        check(lib.aidev_device_select(self._h, req, out), "aidev_device_select")
        return self._device_of(out[0])

    def _device_of(self, handle: Any) -> "Device":
        key = int(ffi.cast("uintptr_t", handle))
        with self._lock:
            device = self._device_objects.get(key)
            if device is None:
                device = Device(self, handle)
                self._device_objects[key] = device
            return device

    @property
    def memory_usage(self) -> MemoryUsage:
        """Bytes its buffers hold now and its limit (0: none)."""
        used = ffi.new("uint64_t *")
        limit = ffi.new("uint64_t *")
        check(lib.aidev_context_get_memory_usage(self._h, used, limit),
              "aidev_context_get_memory_usage")
        return MemoryUsage(used[0], limit[0])

    @property
    def memory_limit(self) -> int:
        """The memory quota of its buffers in bytes (0: none); settable."""
        return self.memory_usage.limit

    @memory_limit.setter
    def memory_limit(self, limit: int) -> None:
        check(lib.aidev_context_set_memory_limit(self._h, limit),
              "aidev_context_set_memory_limit")

    def user_event(self) -> Event:
        """A user event: pending until :meth:`Event.set_status`; commands of
        any queue of the context can wait on it."""
        out = ffi.new("aidev_event *")
        check(lib.aidev_event_create_user(self._h, out), "aidev_event_create_user")
        event = Event._wrap(out[0], self, user=True)
        self._user_events.add(event)
        return event

    def _adopt_queue(self, queue: Any, barrier: Any, host: Any) -> None:
        """Takes a collected queue whose commands still run (see
        Queue.__del__): released once they are done, so that garbage
        collection never blocks."""
        with self._lock:
            self._orphan_queues.append((queue, barrier, host))

    def _release_finished_queues(self) -> None:
        with self._lock:
            done = [o for o in self._orphan_queues
                    if lib.aidev_event_query(o[1]) != lib.AIDEV_NOT_READY]
            self._orphan_queues = [o for o in self._orphan_queues if o not in done]
        for queue, barrier, _ in done:
            lib.aidev_event_release(barrier)
            lib.aidev_queue_release(queue)

    def release(self) -> None:
        """Waits for every queue to drain, then ends the context and every
        object made from it. User events still pending are cancelled first
        (their commands fail with DependencyError), so that the wait ends.
        A second call does nothing."""
        with self._lock:
            if not self._alive:
                return
            self._alive = False
        _live_contexts.discard(self)
        for event in list(self._user_events):
            if event._h != ffi.NULL:
                _cancel_if_pending(event._h, "the context was released before the user event "
                                   "was set")
        check(lib.aidev_context_release(self._h), "aidev_context_release")
        self._orphan_queues = []  # released with the context

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_alive", False):
            self._alive = False
            lib.aidev_context_release(self._h)

    def __repr__(self) -> str:
        if not self._alive:
            return "<aidev.Context: released>"
        return "<aidev.Context: %s>" % ", ".join(d.name for d in self.devices)


class Device:
    """One device of a context (borrowed: it lives as long as the context).

    Its properties (name, backend, type, memory...) are read from the
    library; :meth:`buffer`, :meth:`queue` and :meth:`kernel` make objects
    on it.
    """

    def __init__(self, context: Context, handle: Any) -> None:
        self.context = context
        self._h = handle
        self._queue_lock = threading.Lock()
        self._transfer_queue: Optional[Queue] = None
        self.index: int = self._info(lib.AIDEV_DEVICE_INFO_INDEX, "u32")
        self.name: str = self._info(lib.AIDEV_DEVICE_INFO_NAME, "str")
        self.vendor: str = self._info(lib.AIDEV_DEVICE_INFO_VENDOR, "str")
        self.backend: str = self._info(lib.AIDEV_DEVICE_INFO_BACKEND, "str")
        self.type = DeviceType(self._info(lib.AIDEV_DEVICE_INFO_TYPE, "u32"))
        self.features = Feature(self._info(lib.AIDEV_DEVICE_INFO_FEATURES, "u64"))
        mask = self._info(lib.AIDEV_DEVICE_INFO_MEMORY_KINDS, "u32")
        self.memory_kinds = frozenset(k for k in Memory if mask & (1 << k))

    def _info(self, key: int, kind: str, optional: bool = False) -> Any:
        return _info.device_info(self._h, key, kind, optional)

    # Properties that are read when asked (cheap, and free memory changes).
    @property
    def compute_units(self) -> int:
        """Compute units (cores, SMs, CUs) of the device."""
        return self._info(lib.AIDEV_DEVICE_INFO_COMPUTE_UNITS, "u32")

    @property
    def memory_bytes(self) -> int:
        """Global memory size."""
        return self._info(lib.AIDEV_DEVICE_INFO_MEMORY_BYTES, "u64")

    @property
    def free_memory_bytes(self) -> Optional[int]:
        """Free memory, or None where the backend cannot know it."""
        return self._info(lib.AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES, "u64", optional=True)

    @property
    def max_alloc_bytes(self) -> int:
        """The largest one buffer."""
        return self._info(lib.AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES, "u64")

    @property
    def max_workgroup_size(self) -> int:
        """Most work-items in one workgroup."""
        return self._info(lib.AIDEV_DEVICE_INFO_MAX_WORKGROUP_SIZE, "u32")

    @property
    def max_workgroup_dims(self) -> Tuple[int, int, int]:
        """Most work-items per workgroup dimension (x, y, z)."""
        return self._info(lib.AIDEV_DEVICE_INFO_MAX_WORKGROUP_DIMS, "u32[3]")

    @property
    def local_memory_bytes(self) -> int:
        """Workgroup-shared memory."""
        return self._info(lib.AIDEV_DEVICE_INFO_LOCAL_MEMORY_BYTES, "u64")

    @property
    def driver_version(self) -> str:
        """The driver's version string."""
        return self._info(lib.AIDEV_DEVICE_INFO_DRIVER_VERSION, "str")

    @property
    def api_version(self) -> str:
        """"OpenCL 3.0", "Vulkan 1.3.230"..."""
        return self._info(lib.AIDEV_DEVICE_INFO_API_VERSION, "str")

    @property
    def pci_bus_id(self) -> Optional[str]:
        """"0000:65:00.0", or None where unknown."""
        return self._info(lib.AIDEV_DEVICE_INFO_PCI_BUS_ID, "str", optional=True)

    @property
    def uuid(self) -> Optional[bytes]:
        """16 bytes, or None where unknown."""
        return self._info(lib.AIDEV_DEVICE_INFO_UUID, "bytes", optional=True)

    @property
    def numa_node(self) -> int:
        """-1 where unknown."""
        return self._info(lib.AIDEV_DEVICE_INFO_NUMA_NODE, "i32")

    @property
    def timestamp_period_ns(self) -> float:
        """Nanoseconds per device timestamp tick."""
        return self._info(lib.AIDEV_DEVICE_INFO_TIMESTAMP_PERIOD_NS, "f64")

    def has(self, feature: Feature) -> bool:
        """True when the device has every bit of |feature|."""
        return (self.features & feature) == feature

    def queue(self, priority: Priority = Priority.NORMAL) -> Queue:
        """A new in-order queue on this device."""
        return Queue(self, priority)

    def buffer(self, shape: Union[int, Sequence[int]], dtype: DTypeLike = np.float32, *,
               kind: Any = Memory.DEVICE, uninitialized: bool = False,
               zero_on_free: bool = False) -> Buffer:
        """A new buffer of |shape| elements of |dtype| (see :class:`Buffer`)."""
        return Buffer(self, shape, dtype, kind=kind, uninitialized=uninitialized,
                      zero_on_free=zero_on_free)

    def from_numpy(self, array: np.ndarray, *, copy: Optional[bool] = None) -> Buffer:
        """A buffer holding |array|: its own memory where the device imports
        host memory (see :meth:`Buffer.from_numpy`)."""
        return Buffer.from_numpy(self, array, copy=copy)

    def kernel(self, name: str) -> Kernel:
        """The built-in library kernel |name| ("axpy", "sgemm"...)."""
        return Kernel.library(self, name)

    def _queue_for_transfers(self) -> Queue:
        """The device's own queue for blocking conveniences (to_numpy,
        from_numpy's copy): made on first use."""
        with self._queue_lock:
            if self._transfer_queue is None:
                self._transfer_queue = Queue(self)
            return self._transfer_queue

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other._h == self._h

    def __hash__(self) -> int:
        return hash(int(ffi.cast("uintptr_t", self._h)))

    def __repr__(self) -> str:
        return "<aidev.Device %d: %s (%s, %s)>" % (self.index, self.name, self.backend,
                                                   self.type.name.lower())

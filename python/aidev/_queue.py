"""Queues: in-order command streams of one device.

Every enqueue returns at once with an :class:`Event`; ``wait_for`` takes
events of any queue, device or backend of the context. Host memory a
command reads or writes (a NumPy array given to write or read) is kept
alive by the queue until the command completes, whatever the caller drops.
``with device.queue() as q:`` finishes the queue at the end of the block.
"""
from __future__ import annotations

import collections
import operator
import os
import threading
from typing import (TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, Optional, Sequence,
                    Tuple, Union)

import numpy as np

from ._errors import InvalidArgumentError, Status, check, raise_last
from ._event import Event
from ._ffi import ffi, lib
from ._types import Priority

if TYPE_CHECKING:
    from ._buffer import Buffer
    from ._context import Device
    from ._kernel import Kernel

WaitFor = Union[None, Event, Iterable[Event]]

_NO_WAIT = (0, ffi.NULL)


def _wait_list(wait_for: WaitFor) -> Tuple[int, Any]:
    if wait_for is None:
        return _NO_WAIT
    if isinstance(wait_for, Event):
        return 1, ffi.new("aidev_event[1]", [wait_for._h])
    handles = [e._h for e in wait_for]
    if not handles:
        return _NO_WAIT
    return len(handles), ffi.new("aidev_event[]", handles)


# Grids as the C arrays dispatch reads (never writes): made once per shape.
_grids: Dict[Any, Any] = {}
_GRIDS_KEPT = 1024


def _grid(grid: Union[None, int, Sequence[int]]) -> Any:
    try:
        c = _grids.get(grid)
    except TypeError:  # a list: made each time
        c = None
    if c is not None:
        return c
    if grid is None:
        return ffi.NULL
    g = (operator.index(grid),) if isinstance(grid, (int, np.integer)) else tuple(grid)
    if not 1 <= len(g) <= 3:
        raise ValueError("grid: %d dimensions; give 1 to 3" % len(g))
    c = ffi.new("uint32_t[3]", g + (1,) * (3 - len(g)))
    if len(_grids) < _GRIDS_KEPT and isinstance(grid, (int, tuple)):
        _grids[grid] = c
    return c


_enqueue_dispatch = lib.aidev_enqueue_dispatch
_NULL = ffi.NULL
_new = ffi.new


def _dispatch(queue: "Queue", kernel: "Kernel", grid: Any, workgroup: Any, argc: int, argv: Any,
              wait_for: WaitFor, event: bool) -> Optional[Event]:
    """aidev_enqueue_dispatch of packed arguments: the one call of
    Queue.dispatch and PreparedDispatch.enqueue, every name it uses bound
    at import (a dispatch's Python cost is mostly lookups)."""
    n, waits = _NO_WAIT if wait_for is None else _wait_list(wait_for)
    if not event:
        st = _enqueue_dispatch(queue._h, kernel._h, grid, workgroup, argc, argv, n, waits, _NULL)
        if st < 0:
            raise_last(st, "aidev_enqueue_dispatch")
        return None
    out = _new("aidev_event *")
    st = _enqueue_dispatch(queue._h, kernel._h, grid, workgroup, argc, argv, n, waits, out)
    if st < 0:
        raise_last(st, "aidev_enqueue_dispatch")
    return Event._wrap(out[0], queue._context)


# Python callables of host callbacks, alive until the library runs them.
_host_callbacks: Dict[Any, Callable[[], None]] = {}
_host_lock = threading.Lock()


@ffi.def_extern()
def aidevpy_host_callback(user_data: Any) -> None:
    """Runs a Queue.host_callback function on a library thread."""
    with _host_lock:
        fn = _host_callbacks.pop(user_data)
    fn()


def _host_array(array: Any, nbytes: int, what: str, writeable: bool) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError("%s: a NumPy array, not %s" % (what, type(array).__name__))
    if not array.flags.c_contiguous:
        raise InvalidArgumentError(Status.INVALID_ARGUMENT, "%s: not C-contiguous; the command "
                                   "moves one range of bytes (np.ascontiguousarray first)" % what,
                                   what)
    if writeable and not array.flags.writeable:
        raise InvalidArgumentError(Status.INVALID_ARGUMENT, "%s: read-only" % what, what)
    if array.nbytes != nbytes:
        raise InvalidArgumentError(Status.INVALID_ARGUMENT, "%s: %d bytes, the buffer %d; they "
                                   "must be equal (slice the buffer to move a part)"
                                   % (what, array.nbytes, nbytes), what)
    return array


class Queue:
    """An in-order queue of one device (aidev_queue).

    Made by :meth:`Device.queue`. Commands run in the order they were
    enqueued, each after the events of its ``wait_for``; several threads
    may enqueue on one queue.
    """

    __slots__ = ("_h", "_context", "device", "_pending", "_lock", "__weakref__")

    def __init__(self, device: "Device", priority: Priority = Priority.NORMAL) -> None:
        device.context._release_finished_queues()
        out = ffi.new("aidev_queue *")
        check(lib.aidev_queue_create(device._h, int(priority), out), "aidev_queue_create")
        self._h = out[0]
        self._context = device.context
        self.device = device
        # (event, host object) of commands still using host memory, oldest
        # first: in an in-order queue they complete in that order.
        self._pending: Deque[Tuple[Event, Any]] = collections.deque()
        self._lock = threading.Lock()

    def _prune(self) -> None:
        pending = self._pending
        while pending and pending[0][0].done:
            pending.popleft()

    def _hold(self, event: Event, host: Any) -> Event:
        with self._lock:
            self._prune()
            self._pending.append((event, host))
        return event

    def _event(self, status: int, out: Any, call: str) -> Event:
        if status < 0:
            raise_last(status, call)
        return Event._wrap(out[0], self._context)

    def write(self, buffer: "Buffer", array: np.ndarray, *, wait_for: WaitFor = None) -> Event:
        """Copies |array| (C-contiguous, as many bytes as |buffer|) into
        |buffer|. The array is kept alive until the command completes;
        changing it meanwhile changes what is written."""
        _host_array(array, buffer.nbytes, "array", writeable=False)
        n, waits = _wait_list(wait_for)
        out = ffi.new("aidev_event *")
        st = lib.aidev_enqueue_write(self._h, buffer._h, buffer.offset, buffer.nbytes,
                                     ffi.from_buffer(array), n, waits, out)
        return self._hold(self._event(st, out, "aidev_enqueue_write"), array)

    def read(self, buffer: "Buffer", out: np.ndarray, *, wait_for: WaitFor = None) -> Event:
        """Copies |buffer| into |out| (a writeable C-contiguous array of as
        many bytes); |out| holds the data once the event completes."""
        _host_array(out, buffer.nbytes, "out", writeable=True)
        n, waits = _wait_list(wait_for)
        ev = ffi.new("aidev_event *")
        st = lib.aidev_enqueue_read(self._h, buffer._h, buffer.offset, buffer.nbytes,
                                    ffi.from_buffer(out, require_writable=True), n, waits, ev)
        return self._hold(self._event(st, ev, "aidev_enqueue_read"), out)

    def copy(self, src: "Buffer", dst: "Buffer", *, size: Optional[int] = None,
             wait_for: WaitFor = None) -> Event:
        """Copies |size| bytes (default: all of |src|) from |src| to |dst|,
        two buffers (or views) of this queue's device."""
        n, waits = _wait_list(wait_for)
        out = ffi.new("aidev_event *")
        st = lib.aidev_enqueue_copy(self._h, src._h, src.offset, dst._h, dst.offset,
                                    src.nbytes if size is None else size, n, waits, out)
        return self._event(st, out, "aidev_enqueue_copy")

    def fill(self, buffer: "Buffer", value: Any, *, wait_for: WaitFor = None) -> Event:
        """Sets every element of |buffer| to |value| (converted to its
        dtype), or repeats |value| when it is bytes of 1, 2 or 4. Values
        whose bytes do not repeat with a period of 1, 2 or 4 (a float64 that
        is not 0) are refused: the library fills with such patterns only."""
        if isinstance(value, (bytes, bytearray)):
            pattern = bytes(value)
        else:
            pattern = np.array(value, dtype=buffer.dtype).tobytes()
        pattern = _shortest_period(pattern)
        if len(pattern) not in (1, 2, 4):
            raise InvalidArgumentError(
                Status.INVALID_ARGUMENT, "value: %r as %s is a %d-byte pattern; the library "
                "fills with patterns of 1, 2 or 4 bytes (write an array instead)"
                % (value, buffer.dtype, len(pattern)), "fill")
        n, waits = _wait_list(wait_for)
        out = ffi.new("aidev_event *")
        st = lib.aidev_enqueue_fill(self._h, buffer._h, buffer.offset, buffer.nbytes, pattern,
                                    len(pattern), n, waits, out)
        return self._event(st, out, "aidev_enqueue_fill")

    def file_read(self, buffer: "Buffer", file: Union[str, os.PathLike, int], *,
                  file_offset: int = 0, size: Optional[int] = None, direct: bool = False,
                  wait_for: WaitFor = None) -> Event:
        """Reads |size| bytes (default: the buffer's) at |file_offset| of
        |file| (a path, or an open file descriptor, which may be closed
        after the call) into |buffer|, as a command of the queue. With
        |direct|, O_DIRECT where offsets and sizes are block-aligned
        (``event.io_direct`` says). IOError on the event for a short file
        or an I/O error."""
        n, waits = _wait_list(wait_for)
        out = ffi.new("aidev_event *")
        flags = lib.AIDEV_FILE_READ_DIRECT if direct else 0
        nbytes = buffer.nbytes if size is None else size
        if isinstance(file, int):
            st = lib.aidev_enqueue_file_read(self._h, buffer._h, buffer.offset, file,
                                             file_offset, nbytes, flags, n, waits, out)
        else:
            fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
            try:  # the library duplicates the descriptor at once
                st = lib.aidev_enqueue_file_read(self._h, buffer._h, buffer.offset, fd,
                                                 file_offset, nbytes, flags, n, waits, out)
            finally:
                os.close(fd)
        return self._event(st, out, "aidev_enqueue_file_read")

    def dispatch(self, kernel: "Kernel", grid: Union[None, int, Sequence[int]] = None,
                 args: Sequence[Any] = (), *, workgroup: Optional[Sequence[int]] = None,
                 wait_for: WaitFor = None, event: bool = True) -> Optional[Event]:
        """Runs |kernel| over |grid| work-items (1 to 3 dimensions; None: the
        grid the kernel declares, from its scalar arguments) with |args|
        (buffers and numbers, in the kernel's declared order). Arguments
        are checked against the signature before anything runs
        (KernelArgsError naming the kernel and argument).

        Returns the command's Event; with ``event=False`` it returns None
        and the dispatch takes the library's fast path (no event to make
        and release: the cheapest way to launch many kernels, then
        :meth:`finish` or a :meth:`barrier`). :meth:`Kernel.prepare`
        packs the arguments once for many dispatches: cheaper still.
        """
        argv = kernel._pack(args)
        try:
            g = _grids[grid]
        except (KeyError, TypeError):
            g = _grid(grid)
        return _dispatch(self, kernel, g, _NULL if workgroup is None else _grid(workgroup),
                         kernel._nargs, argv, wait_for, event)

    def barrier(self, wait_for: WaitFor = None) -> Event:
        """An event that completes once the queue's earlier commands and
        |wait_for| have: also how a queue waits for other queues' events."""
        n, waits = _wait_list(wait_for)
        out = ffi.new("aidev_event *")
        return self._event(lib.aidev_enqueue_barrier(self._h, n, waits, out), out,
                           "aidev_enqueue_barrier")

    def host_callback(self, fn: Callable[[], None], *, wait_for: WaitFor = None) -> Event:
        """Runs |fn()| on a library thread once the queue's earlier commands
        and |wait_for| have completed; later commands start after it
        returns. |fn| must not wait on this queue."""
        handle = ffi.new_handle(fn)
        with _host_lock:
            _host_callbacks[handle] = fn
        n, waits = _wait_list(wait_for)
        out = ffi.new("aidev_event *")
        st = lib.aidev_enqueue_host_callback(self._h, lib.aidevpy_host_callback, handle, n,
                                             waits, out)
        if st < 0:
            with _host_lock:
                _host_callbacks.pop(handle, None)
        return self._event(st, out, "aidev_enqueue_host_callback")

    def prefetch(self, buffer: "Buffer", to: str = "device", *,
                 wait_for: WaitFor = None) -> Event:
        """Moves a SHARED buffer's pages toward the device or the host
        ("device" or "host") as a command; never changes the contents."""
        flags = {"device": lib.AIDEV_PREFETCH_TO_DEVICE, "host": lib.AIDEV_PREFETCH_TO_HOST}
        if to not in flags:
            raise ValueError("to: %r; use 'device' or 'host'" % (to,))
        n, waits = _wait_list(wait_for)
        out = ffi.new("aidev_event *")
        st = lib.aidev_enqueue_prefetch(self._h, buffer._h, buffer.offset, buffer.nbytes,
                                        flags[to], n, waits, out)
        return self._event(st, out, "aidev_enqueue_prefetch")

    def finish(self) -> None:
        """Blocks (without the GIL) until every command enqueued so far has
        completed. Failures of commands are on their events; this raises
        only when the queue itself broke (DeviceLostError)."""
        check(lib.aidev_queue_finish(self._h), "aidev_queue_finish")
        with self._lock:
            self._prune()  # commands other threads enqueued since may still run

    def release(self) -> None:
        """Waits for the queue's commands, then releases it (also done when
        collected)."""
        h, self._h = self._h, ffi.NULL
        if h != ffi.NULL and self._context._alive:
            check(lib.aidev_queue_release(h), "aidev_queue_release")
        self._pending.clear()

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()

    def __del__(self) -> None:
        # aidev_queue_release waits for the queue's commands; a collected
        # queue whose commands still run (on a user event, say) is handed to
        # its context instead, with the host arrays they use, and released
        # once they are done: garbage collection never blocks.
        try:
            if self._h == ffi.NULL or not self._context._alive:
                return
        except AttributeError:
            return
        barrier = ffi.new("aidev_event *")
        if lib.aidev_enqueue_barrier(self._h, 0, ffi.NULL, barrier) == lib.AIDEV_SUCCESS:
            if lib.aidev_event_query(barrier[0]) == lib.AIDEV_NOT_READY:
                self._context._adopt_queue(self._h, barrier[0], self._pending)
                return
            lib.aidev_event_release(barrier[0])
        lib.aidev_queue_release(self._h)

    def __repr__(self) -> str:
        return "<aidev.Queue on %s>" % self.device.name


def _shortest_period(pattern: bytes) -> bytes:
    """The shortest prefix of |pattern| whose repetition is |pattern|."""
    for p in (1, 2, 4):
        if len(pattern) % p == 0 and pattern[:p] * (len(pattern) // p) == pattern:
            return pattern[:p]
    return pattern

"""Events: the completion of a queue command or a user event.

An Event can be waited on (the GIL is released while it waits), polled,
given callbacks, awaited in asyncio (no thread per event: the library's
completion callback schedules the result on the loop), passed to any
enqueue's ``wait_for``, and read for its timestamps.
"""
from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Generator, NamedTuple, Optional

from ._errors import Error, Status, check, make_error, raise_last
from ._ffi import ffi, lib
from . import _info

if TYPE_CHECKING:
    from ._context import Context, Device


class EventTimes(NamedTuple):
    """Timestamps of a command in nanoseconds of CLOCK_MONOTONIC, for
    every backend (so events of different devices compare)."""

    queued: int  #: the enqueue call
    start: int  #: the device began the command
    end: int  #: the device finished it

    @property
    def duration_ns(self) -> int:
        """end - start."""
        return self.end - self.start


# Callbacks waiting for their event: the handle given to C stays alive
# here until the library calls back (exactly once per registration).
_pending_callbacks: Dict[Any, Callable[[int], None]] = {}
_pending_lock = threading.Lock()


@ffi.def_extern()
def aidevpy_event_done(event: Any, status: int, user_data: Any) -> None:
    """Called by libaidev (any thread, the GIL taken by cffi) once an event
    with callbacks completes."""
    with _pending_lock:
        fn = _pending_callbacks.pop(user_data)
    fn(status)


class Event:
    """The completion of a command (or a user event).

    Made by every :class:`Queue` enqueue and by :meth:`Context.user_event`;
    released when garbage collected or by :meth:`release`.
    """

    __slots__ = ("_h", "_context", "_user", "__weakref__")

    def __init__(self) -> None:
        raise TypeError("events come from queue commands and Context.user_event()")

    @classmethod
    def _wrap(cls, handle: Any, context: "Context", user: bool = False) -> "Event":
        e = object.__new__(cls)
        e._h = handle
        e._context = context
        e._user = user
        return e

    def wait(self, timeout: Optional[float] = None) -> None:
        """Blocks until the command completes (at most |timeout| seconds;
        None: no limit), without holding the GIL. Raises the command's
        error (DependencyError, IOError...) with its message, or
        TimeoutError."""
        ns = lib.AIDEV_WAIT_FOREVER if timeout is None else max(0, int(timeout * 1e9))
        st = lib.aidev_event_wait(self._h, ns)
        if st < 0:
            raise_last(st, "aidev_event_wait")

    @property
    def status(self) -> Status:
        """SUCCESS, NOT_READY while pending, or the status the command
        failed with. Never blocks."""
        st = lib.aidev_event_query(self._h)
        if st == lib.AIDEV_ERROR_INVALID_HANDLE:
            raise_last(st, "aidev_event_query")
        return Status(st)

    @property
    def done(self) -> bool:
        """True once the command completed, successfully or not."""
        return self.status != Status.NOT_READY

    @property
    def message(self) -> str:
        """The failure message of a completed event ("" otherwise)."""
        return ffi.string(lib.aidev_event_message(self._h)).decode(errors="replace")

    @property
    def times(self) -> Optional[EventTimes]:
        """Queued, start and end timestamps; None while pending."""
        out = ffi.new("aidev_event_times *")
        st = lib.aidev_event_get_times(self._h, out)
        if st == lib.AIDEV_NOT_READY:
            return None
        check(st, "aidev_event_get_times")
        return EventTimes(out.queued, out.start, out.end)

    @property
    def command(self) -> str:
        """"write", "dispatch", "file_read", "user"..."""
        return _info.event_info(self._h, lib.AIDEV_EVENT_INFO_COMMAND, "str")

    @property
    def bytes(self) -> int:
        """Bytes the command moves (0: none)."""
        return _info.event_info(self._h, lib.AIDEV_EVENT_INFO_BYTES, "u64")

    @property
    def kernel(self) -> str:
        """The kernel of a dispatch, else ""."""
        return _info.event_info(self._h, lib.AIDEV_EVENT_INFO_KERNEL, "str")

    @property
    def io_engine(self) -> str:
        """File reads: "io_uring" or "pread" (known once it started)."""
        return _info.event_info(self._h, lib.AIDEV_EVENT_INFO_IO_ENGINE, "str")

    @property
    def io_direct(self) -> bool:
        """File reads: True when read with O_DIRECT."""
        return bool(_info.event_info(self._h, lib.AIDEV_EVENT_INFO_IO_DIRECT, "u32"))

    @property
    def device(self) -> Optional["Device"]:
        """The device of the command's queue; None for user events."""
        handle = _info.event_info(self._h, lib.AIDEV_EVENT_INFO_DEVICE, "ptr")
        if handle == ffi.NULL:
            return None
        return self._context._device_of(ffi.cast("aidev_device", handle))

    def set_status(self, status: int = Status.SUCCESS, message: Optional[str] = None) -> None:
        """Completes a user event with |status| (an error status fails every
        command waiting on it, with |message|)."""
        text = ffi.NULL if message is None else ffi.new("char[]", message.encode())
        check(lib.aidev_event_set_status(self._h, int(status), text), "aidev_event_set_status")

    def add_callback(self, fn: Callable[["Event", Status], None]) -> None:
        """Calls |fn(event, status)| once the event completes: on a thread
        of the library, or at once on this thread if it already has. |fn|
        must not block on the queue that signals the event; an exception it
        raises is printed, not propagated."""
        self._on_complete(lambda status: fn(self, _status(status)))

    def _on_complete(self, fn: Callable[[int], None]) -> None:
        handle = ffi.new_handle(fn)
        with _pending_lock:
            _pending_callbacks[handle] = fn
        st = lib.aidev_event_set_callback(self._h, lib.aidevpy_event_done, handle)
        if st < 0:
            with _pending_lock:
                _pending_callbacks.pop(handle, None)
            raise_last(st, "aidev_event_set_callback")

    def __await__(self) -> Generator[Any, None, None]:
        """``await event``: resumes once the command completed; raises its
        error. One library callback per await, no thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def settle(status: int) -> None:
            if future.cancelled():
                return
            if status < 0:
                future.set_exception(make_error(status, self.message, "event"))
            else:
                future.set_result(None)

        def completed(status: int) -> None:  # a library thread
            try:
                loop.call_soon_threadsafe(settle, status)
            except RuntimeError:  # the loop closed meanwhile: nobody waits
                pass

        self._on_complete(completed)
        return (yield from future.__await__())

    def release(self) -> None:
        """Drops this reference to the event (also done when collected). A
        user event still pending is cancelled first: nobody can set it any
        more, and commands waiting on it would wait forever (they fail with
        DependencyError instead)."""
        h, self._h = self._h, ffi.NULL
        if h != ffi.NULL and self._context._alive:
            if self._user:
                _cancel_if_pending(h, "the user event was released before it was set")
            lib.aidev_event_release(h)

    def __del__(self) -> None:
        try:
            self.release()
        except AttributeError:  # a half-made object
            pass

    def __repr__(self) -> str:
        if self._h == ffi.NULL or not self._context._alive:
            return "<aidev.Event: released>"
        return "<aidev.Event %s: %s>" % (self.command, self.status.name)


def _cancel_if_pending(handle: Any, why: str) -> None:
    if lib.aidev_event_query(handle) == lib.AIDEV_NOT_READY:
        # INVALID_STATE when another thread set it meanwhile: then it is set.
        lib.aidev_event_set_status(handle, lib.AIDEV_ERROR_CANCELLED, why.encode())


def _status(value: int) -> Any:
    try:
        return Status(value)
    except ValueError:
        return value


def wait_all(events: Any, timeout: Optional[float] = None) -> None:
    """Waits for every event (without the GIL); raises the first failure
    met."""
    events = list(events)
    handles = ffi.new("aidev_event[]", [e._h for e in events])
    ns = lib.AIDEV_WAIT_FOREVER if timeout is None else max(0, int(timeout * 1e9))
    st = lib.aidev_events_wait(len(events), handles, ns)
    if st < 0:
        raise_last(st, "aidev_events_wait")


__all__ = ["Event", "EventTimes", "wait_all", "Error"]

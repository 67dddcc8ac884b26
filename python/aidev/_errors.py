"""Statuses of the C API and the exceptions that carry them.

Every failed call raises an :class:`Error` subclass chosen by its status;
the exception carries the status and the library's message, which names the
argument and values at fault (or the backend call and its native code).
"""
from __future__ import annotations

import builtins
import enum
from typing import NoReturn

from ._ffi import ffi, lib


class Status(enum.IntEnum):
    """aidev_status: 0 is success, NOT_READY (positive) means "not yet",
    negative values are errors."""

    SUCCESS = lib.AIDEV_SUCCESS
    NOT_READY = lib.AIDEV_NOT_READY
    INVALID_ARGUMENT = lib.AIDEV_ERROR_INVALID_ARGUMENT
    INVALID_HANDLE = lib.AIDEV_ERROR_INVALID_HANDLE
    OUT_OF_RANGE = lib.AIDEV_ERROR_OUT_OF_RANGE
    OUT_OF_HOST_MEMORY = lib.AIDEV_ERROR_OUT_OF_HOST_MEMORY
    OUT_OF_DEVICE_MEMORY = lib.AIDEV_ERROR_OUT_OF_DEVICE_MEMORY
    UNSUPPORTED = lib.AIDEV_ERROR_UNSUPPORTED
    NOT_FOUND = lib.AIDEV_ERROR_NOT_FOUND
    KERNEL_ARGS = lib.AIDEV_ERROR_KERNEL_ARGS
    COMPILE = lib.AIDEV_ERROR_COMPILE
    BACKEND = lib.AIDEV_ERROR_BACKEND
    DEVICE_LOST = lib.AIDEV_ERROR_DEVICE_LOST
    DEPENDENCY = lib.AIDEV_ERROR_DEPENDENCY
    TIMEOUT = lib.AIDEV_ERROR_TIMEOUT
    INVALID_STATE = lib.AIDEV_ERROR_INVALID_STATE
    QUOTA = lib.AIDEV_ERROR_QUOTA
    IO = lib.AIDEV_ERROR_IO
    PLUGIN = lib.AIDEV_ERROR_PLUGIN
    CANCELLED = lib.AIDEV_ERROR_CANCELLED

    @property
    def c_name(self) -> str:
        """The C enum name ("AIDEV_ERROR_OUT_OF_RANGE")."""
        return ffi.string(lib.aidev_status_string(self.value)).decode()


class Error(Exception):
    """A failed aidev call or command.

    Attributes:
        status: the :class:`Status` it failed with.
        message: the library's message (what was wrong, in words a user can
            act on), or "" when it gave none.
        call: the C function (or the command) that failed, for the text.
    """

    status: Status
    message: str
    call: str

    def __init__(self, status: int, message: str, call: str = "") -> None:
        self.status = _status_of(status)
        self.message = message
        self.call = call
        super().__init__(status, message)

    def __str__(self) -> str:
        where = self.call + ": " if self.call else ""
        name = self.status.name if isinstance(self.status, Status) else str(self.status)
        return "%s%s: %s" % (where, name, self.message or "(no message)")


class InvalidArgumentError(Error, ValueError):
    """An argument is NULL, zero where it may not be, or out of its domain."""


class InvalidHandleError(Error):
    """A handle is released, of another type or of another context."""


class OutOfRangeError(Error, IndexError):
    """An offset/size pair lies outside a buffer, or overflows."""


class OutOfHostMemoryError(Error, MemoryError):
    """Host memory ran out."""


class OutOfDeviceMemoryError(Error, MemoryError):
    """Device memory ran out."""


class UnsupportedError(Error):
    """The device or backend does not offer this (memory kind, feature)."""


class NotFoundError(Error, LookupError):
    """No such device index, kernel name or info key."""


class KernelArgsError(Error, TypeError):
    """Dispatch arguments do not match the kernel's declared signature."""


class CompileError(Error):
    """A kernel failed to compile; the message carries the build log."""


class BackendError(Error):
    """A native backend call failed; the message names it and its code."""


class DeviceLostError(Error):
    """The device was lost."""


class DependencyError(Error):
    """A command did not run because an event it waited on failed."""


class TimeoutError(Error, builtins.TimeoutError):
    """A wait ran past its timeout."""


class InvalidStateError(Error):
    """The object is in a state that forbids the call (mapped twice...)."""


class QuotaError(Error, MemoryError):
    """The context's memory limit would be exceeded."""


class IOError(Error, OSError):
    """A file or I/O operation failed; the message carries errno's text."""


class PluginError(Error):
    """A plugin could not be loaded or initialised."""


class CancelledError(Error):
    """A command was cancelled because its queue or context went away."""


_ERROR_CLASSES = {
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.INVALID_HANDLE: InvalidHandleError,
    Status.OUT_OF_RANGE: OutOfRangeError,
    Status.OUT_OF_HOST_MEMORY: OutOfHostMemoryError,
    Status.OUT_OF_DEVICE_MEMORY: OutOfDeviceMemoryError,
    Status.UNSUPPORTED: UnsupportedError,
    Status.NOT_FOUND: NotFoundError,
    Status.KERNEL_ARGS: KernelArgsError,
    Status.COMPILE: CompileError,
    Status.BACKEND: BackendError,
    Status.DEVICE_LOST: DeviceLostError,
    Status.DEPENDENCY: DependencyError,
    Status.TIMEOUT: TimeoutError,
    Status.INVALID_STATE: InvalidStateError,
    Status.QUOTA: QuotaError,
    Status.IO: IOError,
    Status.PLUGIN: PluginError,
    Status.CANCELLED: CancelledError,
}


def _status_of(value: int):
    try:
        return Status(value)
    except ValueError:
        return value


def error_class(status: int) -> type:
    """The :class:`Error` subclass raised for |status|."""
    return _ERROR_CLASSES.get(_status_of(status), Error)


def make_error(status: int, message: str, call: str = "") -> Error:
    """The exception for |status| with |message|."""
    return error_class(status)(status, message, call)


def raise_last(status: int, call: str) -> NoReturn:
    """Raises the error of the call that just failed on this thread, with
    the library's thread-local message."""
    raise make_error(status, ffi.string(lib.aidev_last_error()).decode(errors="replace"), call)


def check(status: int, call: str) -> int:
    """Returns |status| when it is not an error, else raises."""
    if status < 0:
        raise_last(status, call)
    return status

"""The typed info queries of devices, buffers and events (the C
*_get_info calls), as one helper."""
from __future__ import annotations

from typing import Any, Callable, Optional

from ._errors import Status, check
from ._ffi import ffi, lib

# C type of each kind of value a get_info call returns.
_C_TYPES = {
    "u32": "uint32_t *",
    "i32": "int32_t *",
    "u64": "uint64_t *",
    "f64": "double *",
    "ptr": "void **",
}


def get_info(fn: Callable[..., int], handle: Any, key: int, kind: str, call: str,
             optional: bool = False) -> Optional[Any]:
    """Value of |key| from |fn|(handle, key, size, value, size_ret).

    |kind| is "str", "bytes", "u32[3]" or a scalar kind of _C_TYPES. With
    |optional|, a value the backend cannot know (UNSUPPORTED) is None.
    """
    if kind in ("str", "bytes"):
        size = ffi.new("size_t *")
        st = fn(handle, key, 0, ffi.NULL, size)
        if optional and st == Status.UNSUPPORTED:
            return None
        check(st, call)
        buf = ffi.new("char[]", size[0])
        check(fn(handle, key, size[0], buf, ffi.NULL), call)
        if kind == "bytes":
            return bytes(ffi.buffer(buf, size[0]))
        return ffi.string(buf).decode(errors="replace")
    if kind == "u32[3]":
        value = ffi.new("uint32_t[3]")
        check(fn(handle, key, ffi.sizeof(value), value, ffi.NULL), call)
        return tuple(value)
    value = ffi.new(_C_TYPES[kind])
    st = fn(handle, key, ffi.sizeof(ffi.typeof(value).item), value, ffi.NULL)
    if optional and st == Status.UNSUPPORTED:
        return None
    check(st, call)
    return value[0]


def device_info(handle: Any, key: int, kind: str, optional: bool = False) -> Optional[Any]:
    return get_info(lib.aidev_device_get_info, handle, key, kind, "aidev_device_get_info",
                    optional)


def buffer_info(handle: Any, key: int, kind: str) -> Optional[Any]:
    return get_info(lib.aidev_buffer_get_info, handle, key, kind, "aidev_buffer_get_info")


def event_info(handle: Any, key: int, kind: str) -> Optional[Any]:
    return get_info(lib.aidev_event_get_info, handle, key, kind, "aidev_event_get_info")

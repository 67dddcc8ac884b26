"""DLPack capsules: the PyCapsule named "dltensor" that carries a
DLManagedTensor between Python libraries.

cffi passes no Python objects to C, so the three capsule calls go through
ctypes.pythonapi (the CPython API, called with the GIL held); the names and
the destructor are C statics of aidev._ffi, so a capsule never points at
memory Python may free first. The DLPack structs themselves are cffi's,
compiled against dlpack.h.
"""
from __future__ import annotations

import ctypes
from typing import Any

from ._ffi import ffi, lib

KDLCPU = lib.kDLCPU

_api = ctypes.pythonapi
_capsule_new = _api.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
_capsule_pointer = _api.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_void_p]
_capsule_set_name = _api.PyCapsule_SetName
_capsule_set_name.restype = ctypes.c_int
_capsule_set_name.argtypes = [ctypes.py_object, ctypes.c_void_p]


def _address(cdata: Any) -> int:
    return int(ffi.cast("uintptr_t", cdata))


_DLTENSOR = _address(lib.aidevpy_dltensor_name)
_USED_DLTENSOR = _address(lib.aidevpy_used_dltensor_name)
_DESTRUCTOR = _address(ffi.addressof(lib, "aidevpy_capsule_destructor"))


def capsule_of(tensor: Any) -> Any:
    """A "dltensor" capsule owning |tensor| (a DLManagedTensor *): the
    consumer that takes it calls the deleter; if none does, the capsule's
    destructor does."""
    return _capsule_new(_address(tensor), _DLTENSOR, _DESTRUCTOR)


def tensor_of(capsule: Any) -> Any:
    """The DLManagedTensor * in a producer's unconsumed "dltensor" capsule
    (ValueError when it is not one)."""
    return ffi.cast("DLManagedTensor *", _capsule_pointer(capsule, _DLTENSOR))


def mark_consumed(capsule: Any) -> None:
    """Renames the capsule "used_dltensor": its tensor is ours to delete,
    the producer's capsule destructor leaves it alone."""
    _capsule_set_name(capsule, _USED_DLTENSOR)

"""Element types, memory kinds, device types, features: the C enums as
Python enums, and the mapping between aidev element types and NumPy dtypes.
"""
from __future__ import annotations

import enum
from typing import Any, Optional, Union

import numpy as np

from ._ffi import lib


class Memory(enum.IntEnum):
    """Memory kinds (aidev_memory_kind).

    DEVICE: fastest for the device; not mappable, moved by queue commands.
    HOST: host memory the device can reach; the host addresses it.
    SHARED: one allocation visible to host and device (OpenCL SVM, Vulkan
    host-visible device memory, plain memory on the CPU).
    """

    DEVICE = lib.AIDEV_MEMORY_DEVICE
    HOST = lib.AIDEV_MEMORY_HOST
    SHARED = lib.AIDEV_MEMORY_SHARED


class DeviceType(enum.IntEnum):
    """aidev_device_type."""

    CPU = lib.AIDEV_DEVICE_TYPE_CPU
    GPU = lib.AIDEV_DEVICE_TYPE_GPU
    ACCELERATOR = lib.AIDEV_DEVICE_TYPE_ACCELERATOR
    OTHER = lib.AIDEV_DEVICE_TYPE_OTHER


class Feature(enum.IntFlag):
    """AIDEV_FEATURE_* bits of a device."""

    FP16 = lib.AIDEV_FEATURE_FP16
    FP64 = lib.AIDEV_FEATURE_FP64
    INT8_DOT = lib.AIDEV_FEATURE_INT8_DOT
    SUBGROUPS = lib.AIDEV_FEATURE_SUBGROUPS
    SVM_COARSE = lib.AIDEV_FEATURE_SVM_COARSE
    SVM_FINE = lib.AIDEV_FEATURE_SVM_FINE
    TIMELINE_SEMAPHORES = lib.AIDEV_FEATURE_TIMELINE_SEMAPHORES
    QUEUE_PRIORITY = lib.AIDEV_FEATURE_QUEUE_PRIORITY
    HOST_IMPORT = lib.AIDEV_FEATURE_HOST_IMPORT
    KERNEL_OPENCL_C = lib.AIDEV_FEATURE_KERNEL_OPENCL_C
    KERNEL_SPIRV = lib.AIDEV_FEATURE_KERNEL_SPIRV
    KERNEL_HOST = lib.AIDEV_FEATURE_KERNEL_HOST
    UNIFIED_MEMORY = lib.AIDEV_FEATURE_UNIFIED_MEMORY


class Priority(enum.IntEnum):
    """Queue priorities (aidev_queue_priority)."""

    LOW = lib.AIDEV_QUEUE_PRIORITY_LOW
    NORMAL = lib.AIDEV_QUEUE_PRIORITY_NORMAL
    HIGH = lib.AIDEV_QUEUE_PRIORITY_HIGH


class Type(enum.IntEnum):
    """Element and scalar types (aidev_type); NONE is untyped bytes."""

    NONE = lib.AIDEV_TYPE_NONE
    I8 = lib.AIDEV_TYPE_I8
    U8 = lib.AIDEV_TYPE_U8
    I16 = lib.AIDEV_TYPE_I16
    U16 = lib.AIDEV_TYPE_U16
    I32 = lib.AIDEV_TYPE_I32
    U32 = lib.AIDEV_TYPE_U32
    I64 = lib.AIDEV_TYPE_I64
    U64 = lib.AIDEV_TYPE_U64
    F16 = lib.AIDEV_TYPE_F16
    F32 = lib.AIDEV_TYPE_F32
    F64 = lib.AIDEV_TYPE_F64
    BF16 = lib.AIDEV_TYPE_BF16

    @property
    def dtype(self) -> Optional[np.dtype]:
        """The NumPy dtype of this type; None for NONE (untyped bytes) and
        BF16 (NumPy has no bfloat16: its buffers hold uint16 words)."""
        return _NUMPY_OF.get(self)


_NUMPY_OF = {
    Type.I8: np.dtype(np.int8), Type.U8: np.dtype(np.uint8),
    Type.I16: np.dtype(np.int16), Type.U16: np.dtype(np.uint16),
    Type.I32: np.dtype(np.int32), Type.U32: np.dtype(np.uint32),
    Type.I64: np.dtype(np.int64), Type.U64: np.dtype(np.uint64),
    Type.F16: np.dtype(np.float16), Type.F32: np.dtype(np.float32),
    Type.F64: np.dtype(np.float64),
}
_TYPE_OF = {dt: t for t, dt in _NUMPY_OF.items()}


def storage_dtype(t: "Type") -> np.dtype:
    """The NumPy dtype a buffer of |t| shows its elements as: the type's
    own, uint16 words for BF16, uint8 for NONE (bytes)."""
    if t == Type.BF16:
        return np.dtype(np.uint16)
    return _NUMPY_OF.get(t, np.dtype(np.uint8))

DTypeLike = Union[None, str, type, np.dtype, Type]


def to_type(dtype: DTypeLike) -> Type:
    """The aidev element type of a NumPy dtype (or a name such as "f32",
    "float32", or a :class:`Type`); None is NONE (untyped bytes)."""
    if dtype is None:
        return Type.NONE
    if isinstance(dtype, Type):
        return dtype
    if isinstance(dtype, str):
        by_name = _SHORT_NAMES.get(dtype.lower())
        if by_name is not None:
            return by_name
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError("dtype: %r is not a NumPy dtype or an aidev type name" % (dtype,))
    t = _TYPE_OF.get(dt)  # byte-swapped dtypes are not found: aidev has native order
    if t is None:
        raise TypeError("dtype: %s has no aidev element type (aidev has %s)"
                        % (dt, ", ".join(str(d) for d in _NUMPY_OF.values())))
    return t


_SHORT_NAMES = {
    "bytes": Type.NONE, "none": Type.NONE,
    "i8": Type.I8, "u8": Type.U8, "i16": Type.I16, "u16": Type.U16,
    "i32": Type.I32, "u32": Type.U32, "i64": Type.I64, "u64": Type.U64,
    "f16": Type.F16, "f32": Type.F32, "f64": Type.F64, "bf16": Type.BF16, "bfloat16": Type.BF16,
}


def to_memory(kind: Any) -> Memory:
    """A :class:`Memory` from itself or its name ("device", "host",
    "shared")."""
    if isinstance(kind, str):
        try:
            return Memory[kind.upper()]
        except KeyError:
            raise ValueError("kind: %r; use 'device', 'host' or 'shared'" % kind) from None
    return Memory(kind)

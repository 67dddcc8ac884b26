#!/usr/bin/env python3
"""aidev buffers to NumPy and back through DLPack, without copies.

  test_dlpack_numpy.py LIBAIDEV

NumPy 1.24's from_dlpack() takes an object with __dlpack__ and
__dlpack_device__; the capsule is built here with ctypes. Checks: the values,
the data pointer (NumPy's array is the mapping of the aidev buffer), a write
through the mapping seen in the array, the memory kept alive by the array
after the aidev handle is released, and freed when the array goes; then a
NumPy array imported into aidev, filled by a queue, seen by NumPy.
"""
import ctypes
import gc
import sys

import numpy as np

AIDEV_MEMORY_HOST = 1
AIDEV_MEMORY_SHARED = 2
AIDEV_TYPE_F32 = 10
AIDEV_MAP_READ_WRITE = 3
KDLCPU = 1


class ContextDesc(ctypes.Structure):
    _fields_ = [("backends", ctypes.c_char_p), ("memory_limit", ctypes.c_uint64)]


class BufferDesc(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint64), ("kind", ctypes.c_int), ("element_type", ctypes.c_int),
                ("flags", ctypes.c_uint32)]


class DlpackDesc(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("element_type", ctypes.c_int),
                ("ndim", ctypes.c_int32), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64))]


failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.aidev_last_error.restype = ctypes.c_char_p
    vp = ctypes.c_void_p

    def ok(status, call):
        if status != 0:
            raise RuntimeError("%s: %d: %s" % (call, status, lib.aidev_last_error().decode()))

    pyapi = ctypes.pythonapi
    pyapi.PyCapsule_New.restype = ctypes.py_object
    pyapi.PyCapsule_New.argtypes = [vp, ctypes.c_char_p, vp]
    pyapi.PyCapsule_GetPointer.restype = vp
    pyapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    pyapi.PyCapsule_SetName.restype = ctypes.c_int
    pyapi.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]

    ctx = vp()
    ok(lib.aidev_context_create(ctypes.byref(ContextDesc(b"cpu", 0)), ctypes.byref(ctx)),
       "aidev_context_create")
    dev = vp()
    ok(lib.aidev_context_get_device(ctx, 0, ctypes.byref(dev)), "aidev_context_get_device")

    def usage():
        used = ctypes.c_uint64()
        ok(lib.aidev_context_get_memory_usage(ctx, ctypes.byref(used), None),
           "aidev_context_get_memory_usage")
        return used.value

    for kind, kind_name in ((AIDEV_MEMORY_HOST, "HOST"), (AIDEV_MEMORY_SHARED, "SHARED")):
        rows, cols = 48, 64
        size = rows * cols * 4
        buf = vp()
        ok(lib.aidev_buffer_create(dev, ctypes.byref(BufferDesc(size, kind, AIDEV_TYPE_F32, 0)),
                                   ctypes.byref(buf)), "aidev_buffer_create")
        mapped = vp()
        ok(lib.aidev_buffer_map(buf, ctypes.c_uint64(0), ctypes.c_uint64(size),
                                ctypes.c_uint32(AIDEV_MAP_READ_WRITE), ctypes.byref(mapped)),
           "aidev_buffer_map")
        host = (ctypes.c_float * (rows * cols)).from_address(mapped.value)
        for i in range(rows * cols):
            host[i] = i * 0.25

        # A 32 x 64 view from row 16.
        shape = (ctypes.c_int64 * 2)(32, cols)
        desc = DlpackDesc(16 * cols * 4, 0, 2, shape, None)
        tensor = vp()
        ok(lib.aidev_buffer_export_dlpack(buf, ctypes.byref(desc), ctypes.byref(tensor)),
           "aidev_buffer_export_dlpack")

        class Exported:
            def __dlpack__(self, stream=None):
                return pyapi.PyCapsule_New(tensor.value, b"dltensor", None)

            def __dlpack_device__(self):
                return (KDLCPU, 0)

        arr = np.from_dlpack(Exported())
        check(arr.dtype == np.float32 and arr.shape == (32, cols),
              "%s: dtype %s shape %s" % (kind_name, arr.dtype, arr.shape))
        check(arr[0, 0] == 16 * cols * 0.25 and arr[31, 63] == (48 * 64 - 1) * 0.25,
              "%s: values" % kind_name)
        check(arr.ctypes.data == mapped.value + 16 * cols * 4,
              "%s: the array's data is the buffer's memory (%#x vs %#x)"
              % (kind_name, arr.ctypes.data, mapped.value + 16 * cols * 4))
        host[16 * cols + 3] = -7.0
        check(arr[0, 3] == -7.0, "%s: a write through the aidev mapping shows in NumPy"
              % kind_name)
        ok(lib.aidev_buffer_unmap(buf), "aidev_buffer_unmap")

        # The array keeps the memory after the aidev handle is gone.
        ok(lib.aidev_buffer_release(buf), "aidev_buffer_release")
        check(usage() == size, "%s: still charged while NumPy holds it (%d)" % (kind_name, usage()))
        check(float(arr.sum()) > 0, "%s: readable after the handle's release" % kind_name)
        del arr
        gc.collect()
        check(usage() == 0, "%s: freed once NumPy let go (%d)" % (kind_name, usage()))

    # NumPy to aidev: its memory becomes a buffer; a queue writes into it.
    src = np.arange(4096, dtype=np.float32)
    capsule = src.__dlpack__()
    ptr = pyapi.PyCapsule_GetPointer(capsule, b"dltensor")
    imported = vp()
    ok(lib.aidev_buffer_import_dlpack(dev, vp(ptr), ctypes.byref(imported)),
       "aidev_buffer_import_dlpack")
    pyapi.PyCapsule_SetName(capsule, b"used_dltensor")  # aidev owns it now
    queue = vp()
    ok(lib.aidev_queue_create(dev, 0, ctypes.byref(queue)), "aidev_queue_create")
    value = ctypes.c_float(5.5)
    ok(lib.aidev_enqueue_fill(queue, imported, ctypes.c_uint64(0), ctypes.c_uint64(64),
                              ctypes.byref(value), ctypes.c_uint32(4), ctypes.c_uint32(0), None,
                              None), "aidev_enqueue_fill")
    ok(lib.aidev_queue_finish(queue), "aidev_queue_finish")
    check(src[0] == 5.5 and src[15] == 5.5 and src[16] == 16.0,
          "NumPy sees what an aidev queue wrote into its imported array")
    ok(lib.aidev_queue_release(queue), "aidev_queue_release")
    ok(lib.aidev_buffer_release(imported), "aidev_buffer_release")
    del capsule
    check(src[1] == 5.5, "the array lives on after aidev let go")
    ok(lib.aidev_context_release(ctx), "aidev_context_release")
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

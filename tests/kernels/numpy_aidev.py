"""The aidev tensor ops from Python through ctypes, for the tests that hold
them to NumPy (test_tensor_numpy.py, the transformer example's test). Only
what those tests need: a context, its devices, buffers filled from NumPy
arrays, tensor descriptors of NumPy views, op calls, results back as
arrays. bf16 arrays are NumPy uint16 arrays of the upper halves of f32s
(NumPy has no bfloat16): to_bf16() and from_bf16() convert."""
import ctypes

import numpy as np

TYPES = {"i8": 1, "u8": 2, "i32": 5, "f16": 9, "f32": 10, "bf16": 12}
NUMPY_OF = {"i8": np.int8, "u8": np.uint8, "i32": np.int32, "f16": np.float16,
            "f32": np.float32, "bf16": np.uint16}
AIDEV_MEMORY_DEVICE = 0
WAIT_FOREVER = 2**64 - 1


class ContextDesc(ctypes.Structure):
    _fields_ = [("backends", ctypes.c_char_p), ("memory_limit", ctypes.c_uint64)]


class BufferDesc(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint64), ("kind", ctypes.c_int), ("element_type", ctypes.c_int),
                ("flags", ctypes.c_uint32)]


class Tensor(ctypes.Structure):
    _fields_ = [("buffer", ctypes.c_void_p), ("offset", ctypes.c_uint64), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_uint32), ("shape", ctypes.c_int64 * 4),
                ("strides", ctypes.c_int64 * 4)]


def to_bf16(x):
    """float32 values to bf16 bits (uint16), rounded to nearest even."""
    u = np.atleast_1d(np.asarray(x, dtype=np.float32)).view(np.uint32)
    one = np.uint32(1)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    with np.errstate(over="ignore"):
        r = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & one)) >> np.uint32(16))
    out = np.where(nan, (u >> np.uint32(16)) | np.uint32(0x40), r).astype(np.uint16)
    return out.reshape(np.shape(x))


def from_bf16(h):
    u = np.atleast_1d(np.asarray(h, dtype=np.uint16)).astype(np.uint32) << np.uint32(16)
    return u.view(np.float32).reshape(np.shape(h))


def values(arr, dtype):
    """An array of storage type |dtype| as float64 values."""
    if dtype == "bf16":
        return from_bf16(arr).astype(np.float64)
    return np.asarray(arr).astype(np.float64)


def store(x, dtype):
    """float values as a device stores them in |dtype|: f32 first, then f16
    or bf16 to nearest even, integers half to even and saturated (NaN 0)."""
    x32 = np.asarray(x, dtype=np.float64).astype(np.float32)
    if dtype == "f32":
        return x32
    if dtype == "f16":
        with np.errstate(over="ignore"):
            return x32.astype(np.float16)
    if dtype == "bf16":
        return to_bf16(x32)
    info = np.iinfo(NUMPY_OF[dtype])
    r = np.rint(np.nan_to_num(x32.astype(np.float64), nan=0.0))
    return np.clip(r, info.min, min(info.max, 2147483520)).astype(NUMPY_OF[dtype])


class Aidev:
    def __init__(self, path):
        self.lib = lib = ctypes.CDLL(path)
        lib.aidev_last_error.restype = ctypes.c_char_p
        lib.aidev_event_message.restype = ctypes.c_char_p
        lib.aidev_status_string.restype = ctypes.c_char_p
        self.ctx = ctypes.c_void_p()
        self.ok(lib.aidev_context_create(None, ctypes.byref(self.ctx)), "aidev_context_create")
        count = ctypes.c_uint32()
        self.ok(lib.aidev_context_get_devices(self.ctx, ctypes.byref(count), None), "devices")
        devs = (ctypes.c_void_p * count.value)()
        self.ok(lib.aidev_context_get_devices(self.ctx, ctypes.byref(count), devs), "devices")
        self.devices = [Device(self, devs[i], i) for i in range(count.value)]

    def ok(self, status, call):
        if status != 0:
            raise RuntimeError("%s: %s: %s" % (call, self.lib.aidev_status_string(status).decode(),
                                               self.lib.aidev_last_error().decode()))

    def close(self):
        for d in self.devices:
            d.close()
        self.ok(self.lib.aidev_context_release(self.ctx), "aidev_context_release")


class Device:
    def __init__(self, aidev, handle, index):
        self.aidev, self.lib, self.handle, self.index = aidev, aidev.lib, handle, index
        name = ctypes.create_string_buffer(256)
        backend = ctypes.create_string_buffer(64)
        self.lib.aidev_device_get_info(ctypes.c_void_p(handle), 1, 256, name, None)
        self.lib.aidev_device_get_info(ctypes.c_void_p(handle), 3, 64, backend, None)
        self.label = "dev%d:%s:%s" % (index, backend.value.decode(), name.value.decode())
        self.queue = ctypes.c_void_p()
        self.aidev.ok(self.lib.aidev_queue_create(ctypes.c_void_p(handle), 0,
                                                  ctypes.byref(self.queue)), "aidev_queue_create")
        self.buffers = []

    def close(self):
        for b in self.buffers:
            self.lib.aidev_buffer_release(b)
        self.buffers = []
        self.lib.aidev_queue_release(self.queue)

    def free(self):
        """Releases every buffer made so far (between cases)."""
        self.finish()
        for b in self.buffers:
            self.lib.aidev_buffer_release(b)
        self.buffers = []

    def finish(self):
        self.aidev.ok(self.lib.aidev_queue_finish(self.queue), "aidev_queue_finish")

    def buffer(self, nbytes):
        b = ctypes.c_void_p()
        desc = BufferDesc(max(nbytes, 4), AIDEV_MEMORY_DEVICE, 0, 0)
        self.aidev.ok(self.lib.aidev_buffer_create(ctypes.c_void_p(self.handle),
                                                   ctypes.byref(desc), ctypes.byref(b)),
                      "aidev_buffer_create")
        self.buffers.append(b)
        return b

    def wait(self, event, what):
        st = self.lib.aidev_event_wait(event, ctypes.c_uint64(WAIT_FOREVER))
        msg = self.lib.aidev_event_message(event).decode()
        self.lib.aidev_event_release(event)
        if st != 0:
            raise RuntimeError("%s on %s: %s: %s" % (what, self.label,
                                                     self.lib.aidev_status_string(st).decode(),
                                                     msg))

    def tensor(self, view, dtype):
        """A descriptor of NumPy view |view| (of storage type |dtype|): the
        bytes it spans go to a new buffer, the view keeps its strides."""
        lo, hi = np.byte_bounds(view) if view.size else (view.ctypes.data, view.ctypes.data)
        item = view.itemsize
        b = self.buffer(hi - lo)
        if hi > lo:
            ev = ctypes.c_void_p()
            self.aidev.ok(self.lib.aidev_enqueue_write(self.queue, b, ctypes.c_uint64(0),
                                                       ctypes.c_uint64(hi - lo),
                                                       ctypes.c_void_p(lo), 0, None,
                                                       ctypes.byref(ev)),
                          "aidev_enqueue_write")
            self.wait(ev, "write")
        t = Tensor(b, view.ctypes.data - lo, TYPES[dtype], view.ndim)
        for i in range(view.ndim):
            t.shape[i] = view.shape[i]
            t.strides[i] = view.strides[i] // item
        t.nbytes = hi - lo
        return t

    def empty(self, shape, dtype):
        """A compact output of |shape|, filled with a pattern."""
        arr = np.zeros(shape, dtype=NUMPY_OF[dtype])
        arr.reshape(-1).view(np.uint8)[:] = 0x5A
        return self.tensor(arr, dtype)

    def read(self, t, dtype):
        """The logical contents of descriptor |t| (made by tensor or empty)."""
        item = np.dtype(NUMPY_OF[dtype]).itemsize
        raw = np.zeros(max(t.nbytes // item, 1), dtype=NUMPY_OF[dtype])
        if t.nbytes:
            ev = ctypes.c_void_p()
            self.aidev.ok(self.lib.aidev_enqueue_read(self.queue, ctypes.c_void_p(t.buffer),
                                                      ctypes.c_uint64(0),
                                                      ctypes.c_uint64(t.nbytes),
                                                      raw.ctypes.data_as(ctypes.c_void_p), 0,
                                                      None, ctypes.byref(ev)),
                          "aidev_enqueue_read")
            self.wait(ev, "read")
        shape = tuple(t.shape[i] for i in range(t.rank))
        strides = tuple(t.strides[i] * item for i in range(t.rank))
        return np.lib.stride_tricks.as_strided(raw[t.offset // item:], shape, strides).copy()

    def run(self, what, call, *args):
        """Calls op |call| with |args| and an event, and waits for it."""
        ev = ctypes.c_void_p()
        fn = getattr(self.lib, call)
        self.aidev.ok(fn(self.queue, *args, 0, None, ctypes.byref(ev)), call)
        self.wait(ev, what)

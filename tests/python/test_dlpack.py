"""DLPack both ways with NumPy, on every device: np.from_dlpack(buffer) is
the buffer's memory (no copy), the tensor outlives the buffer and its
context, and NumPy arrays become buffers without a copy where the device
imports host memory.

(This replaces tests/memory/test_dlpack_numpy.py, which built the capsule
and the DLPack structs by hand with ctypes.)
"""
import gc

import numpy as np
import pytest

import aidev

KDLCPU = 1


def host_addressable_buffer(device, shape, dtype, **kw):
    """A buffer of |device| the host addresses (the kinds tried in turn),
    or None."""
    for kind in (aidev.Memory.SHARED, aidev.Memory.HOST, aidev.Memory.DEVICE):
        if kind in device.memory_kinds:
            b = device.buffer(shape, dtype, kind=kind, **kw)
            if b.host_addressable:
                return b
    return None


def test_numpy_takes_a_buffer_without_a_copy(device, queue):
    rows, cols = 48, 64
    buf = host_addressable_buffer(device, (rows, cols), np.float32)
    if buf is None:
        pytest.skip("no memory kind of %s is addressed by the host" % device.name)
    queue.write(buf, (np.arange(rows * cols, dtype=np.float32) * 0.25).reshape(rows, cols))
    queue.finish()
    assert buf.__dlpack_device__() == (KDLCPU, 0)
    view = buf[16:48]
    arr = np.from_dlpack(view)
    assert arr.dtype == np.float32 and arr.shape == (32, cols)
    assert arr[0, 0] == 16 * cols * 0.25 and arr[31, 63] == (rows * cols - 1) * 0.25
    # The array is the buffer's memory: a command writing the buffer shows
    # in it, and the array's address is the view's.
    queue.fill(buf[16], -7.0).wait()
    assert (arr[0] == -7.0).all()
    assert np.from_dlpack(buf).__array_interface__["data"][0] + 16 * cols * 4 == \
        arr.__array_interface__["data"][0]


def test_tensor_outlives_buffer_release(device, queue, ctx):
    buf = host_addressable_buffer(device, 1 << 14, np.float32)
    if buf is None:
        pytest.skip("no memory kind of %s is addressed by the host" % device.name)
    queue.fill(buf, 2.0).wait()
    before = ctx.memory_usage.used
    arr = np.from_dlpack(buf)
    buf.release()
    assert ctx.memory_usage.used == before, "still charged while NumPy holds it"
    assert float(arr.sum()) == 2.0 * (1 << 14)
    del arr
    gc.collect()
    assert ctx.memory_usage.used == before - (1 << 16), "freed once NumPy let go"


def test_device_memory_is_named_not_addressed(device):
    """Memory the host does not address is exported with the backend's
    native handle, which NumPy refuses (aidev never copies on export)."""
    for kind in device.memory_kinds:
        buf = device.buffer(256, np.float32, kind=kind)
        if buf.host_addressable:
            continue
        dl_type, index = buf.__dlpack_device__()
        assert dl_type in (4, 7) and index == device.index  # kDLOpenCL, kDLVulkan
        with pytest.raises((BufferError, RuntimeError, TypeError, ValueError)):
            np.from_dlpack(buf)
        with pytest.raises(aidev.UnsupportedError, match="not addressed by the host"):
            buf.to_numpy(copy=False)


def test_numpy_arrays_become_buffers(device, queue):
    src = np.arange(4096, dtype=np.float32)
    if not device.has(aidev.Feature.HOST_IMPORT):
        with pytest.raises(aidev.UnsupportedError):
            aidev.from_dlpack(device, src, copy=False)
        return
    buf = aidev.from_dlpack(device, src, copy=False)
    assert buf.imported and buf.shape == (4096,) and buf.dtype == np.float32
    queue.fill(buf[:16], 5.5).wait()
    assert (src[:16] == 5.5).all() and src[16] == 16.0
    # Both ways: the imported buffer exported again is the same memory.
    again = np.from_dlpack(buf)
    assert again.__array_interface__["data"][0] == src.__array_interface__["data"][0]


def test_imported_array_lives_while_commands_use_it(device, queue):
    if not device.has(aidev.Feature.HOST_IMPORT):
        pytest.skip("%s imports no host memory" % device.name)
    gate = device.context.user_event()
    src = np.zeros(1 << 16, np.float32)
    buf = device.from_numpy(src, copy=False)
    queue.fill(buf, 3.0, wait_for=[gate])
    del src  # only the pending fill and the buffer hold the array now
    buf.release()
    gc.collect()
    gate.set_status()
    queue.finish()  # the fill wrote into memory still alive, then let it go


def test_other_producers_go_through_dlpack(device):
    class Producer:
        """A DLPack producer that is not an ndarray."""

        def __init__(self, array):
            self.array = array

        def __dlpack__(self, stream=None):
            return self.array.__dlpack__()

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    data = np.arange(12, dtype=np.int32).reshape(3, 4)
    buf = aidev.from_dlpack(device, Producer(data))
    assert buf.shape == (3, 4) and buf.dtype == np.int32
    np.testing.assert_array_equal(buf.to_numpy(copy=True), data)
    copied = aidev.from_dlpack(device, Producer(data), copy=True)
    assert not copied.imported


def test_capsule_never_consumed_gives_its_tensor_back(device, ctx):
    buf = host_addressable_buffer(device, 1 << 12, np.float32)
    if buf is None:
        pytest.skip("no memory kind of %s is addressed by the host" % device.name)
    before = ctx.memory_usage.used
    capsule = buf.__dlpack__()
    buf.release()
    assert ctx.memory_usage.used == before
    del capsule  # its destructor calls the tensor's deleter
    gc.collect()
    assert ctx.memory_usage.used == before - (1 << 14)

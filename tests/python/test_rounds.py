"""Round trips between NumPy and every device: writes, reads, copies,
fills, file reads, views, maps, and which transfers copy and which do not."""
import os

import numpy as np
import pytest

import aidev

DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
          np.float16, np.float32, np.float64]
KINDS = ["device", "host", "shared"]


def sample(shape, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 100).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_write_read_every_dtype(device, queue, dtype):
    src = sample((33, 7), dtype)
    buf = device.buffer(src.shape, dtype)
    assert buf.dtype == np.dtype(dtype) and buf.shape == (33, 7) and buf.nbytes == src.nbytes
    queue.write(buf, src)
    out = np.empty_like(src)
    queue.read(buf, out).wait()
    np.testing.assert_array_equal(out, src)


@pytest.mark.parametrize("kind", KINDS)
def test_every_memory_kind_round_trips(device, queue, kind):
    if aidev.Memory[kind.upper()] not in device.memory_kinds:
        with pytest.raises(aidev.UnsupportedError):
            device.buffer(16, kind=kind)
        return
    src = sample(4096, np.float32)
    buf = device.buffer(4096, np.float32, kind=kind)
    assert buf.kind == aidev.Memory[kind.upper()]
    queue.write(buf, src).wait()
    np.testing.assert_array_equal(buf.to_numpy(), src)
    np.testing.assert_array_equal(buf.to_numpy(copy=True), src)


def test_new_buffers_read_as_zero(device):
    buf = device.buffer((64, 3), np.int32)
    np.testing.assert_array_equal(buf.to_numpy(copy=True), np.zeros((64, 3), np.int32))


def test_events_keep_host_arrays_alive(device, queue):
    """The queue holds the arrays of pending commands: dropping them right
    after the enqueue loses nothing."""
    gate = device.context.user_event()
    buf = device.buffer(1 << 16, np.float32)
    queue.write(buf, np.full(1 << 16, 3.5, np.float32), wait_for=[gate])  # array dropped
    out = np.empty(1 << 16, np.float32)
    done = queue.read(buf, out)
    gate.set_status()
    done.wait()
    assert (out == 3.5).all()


def test_copy_fill_and_views(device, queue):
    a = device.buffer((8, 16), np.float32)
    b = device.buffer((8, 16), np.float32)
    queue.fill(a, 1.5)
    queue.fill(a[2:4], -2.0)  # a view: rows 2 and 3, a byte offset into a
    queue.copy(a, b)
    queue.fill(b[7], 9.0)
    queue.finish()
    want = np.full((8, 16), 1.5, np.float32)
    want[2:4] = -2.0
    np.testing.assert_array_equal(a.to_numpy(copy=True), want)
    want[7] = 9.0
    np.testing.assert_array_equal(b.to_numpy(copy=True), want)
    assert a[2:4].offset == 2 * 16 * 4 and a[2:4].shape == (2, 16)
    assert a[-1].offset == 7 * 16 * 4 and a[-1].shape == (16,)
    np.testing.assert_array_equal(b[7].to_numpy(copy=True), np.full(16, 9.0, np.float32))


def test_view_reinterprets_bytes(device, queue):
    buf = device.buffer(16, np.uint32)
    queue.write(buf, np.arange(16, dtype=np.uint32)).wait()
    v = buf.view(np.uint16, offset=8)
    assert v.shape == (28,) and v.offset == 8
    np.testing.assert_array_equal(v.to_numpy(copy=True),
                                  np.arange(16, dtype=np.uint32).view(np.uint16)[4:])
    with pytest.raises(IndexError):
        buf.view(np.uint32, shape=(17,))
    with pytest.raises(ValueError):
        buf[::2]


def test_fill_patterns(device, queue):
    b16 = device.buffer(32, np.float16)
    queue.fill(b16, 0.5).wait()
    assert (b16.to_numpy(copy=True) == np.float16(0.5)).all()
    b64 = device.buffer(32, np.float64)
    queue.fill(b64, 0.0).wait()  # eight zero bytes: a 1-byte pattern
    with pytest.raises(aidev.InvalidArgumentError, match="1, 2 or 4 bytes"):
        queue.fill(b64, 1.25)


def test_file_read_by_path_and_fd(device, queue, tmp_path):
    data = sample(10000, np.float32)
    path = tmp_path / "data.bin"
    data.tofile(path)
    buf = device.buffer(10000, np.float32)
    ev = queue.file_read(buf, path)
    ev.wait()
    assert ev.command == "file_read" and ev.io_engine in ("io_uring", "pread")
    np.testing.assert_array_equal(buf.to_numpy(copy=True), data)
    half = device.buffer(5000, np.float32)
    fd = os.open(path, os.O_RDONLY)
    try:
        queue.file_read(half, fd, file_offset=5000 * 4).wait()
    finally:
        os.close(fd)
    np.testing.assert_array_equal(half.to_numpy(copy=True), data[5000:])
    short = device.buffer(20000, np.float32)
    with pytest.raises(aidev.IOError) as err:
        queue.file_read(short, path).wait()
    assert err.value.status == aidev.Status.IO and err.value.message


def test_from_numpy_zero_copy_where_the_device_imports(device, queue):
    src = np.arange(4096, dtype=np.float32)
    buf = device.from_numpy(src)
    can_import = device.has(aidev.Feature.HOST_IMPORT)
    if buf.imported:
        assert can_import and buf.kind == aidev.Memory.HOST
        # The buffer is the array's memory: a queue's fill shows in NumPy.
        queue.fill(buf[:16], 7.0).wait()
        assert (src[:16] == 7.0).all() and src[16] == 16.0
    else:
        queue.fill(buf[:16], 7.0).wait()
        assert src[0] == 0.0  # a copy: the array is untouched
    copied = device.from_numpy(src, copy=True)
    assert not copied.imported
    np.testing.assert_array_equal(copied.to_numpy(copy=True), src)
    if can_import:
        assert device.from_numpy(np.ones(64, np.int32), copy=False).imported
    else:
        with pytest.raises(aidev.UnsupportedError):
            device.from_numpy(np.ones(64, np.int32), copy=False)


def test_from_numpy_refuses_what_it_cannot_import(device):
    strided = np.arange(100, dtype=np.float32)[::2]
    with pytest.raises(aidev.UnsupportedError, match="strided"):
        device.from_numpy(strided, copy=False)
    buf = device.from_numpy(strided)  # copy=None: falls back to a copy, and says so
    assert not buf.imported
    np.testing.assert_array_equal(buf.to_numpy(copy=True), strided)
    frozen = np.ones(8, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(BufferError):
        device.from_numpy(frozen, copy=False)
    with pytest.raises(TypeError, match="complex128"):
        device.from_numpy(np.ones(4, np.complex128))


def test_to_numpy_view_or_copy_is_explicit(device, queue):
    for kind in aidev.Memory:
        if kind not in device.memory_kinds:
            continue
        buf = device.buffer(256, np.float32, kind=kind)
        queue.write(buf, np.arange(256, dtype=np.float32)).wait()
        copy = buf.to_numpy(copy=True)
        if buf.host_addressable:
            view = buf.to_numpy(copy=False)
            assert view.flags.writeable and not np.shares_memory(view, copy)
            queue.fill(buf[:1], -1.0).wait()
            assert view[0] == -1.0 and copy[0] == 0.0  # the view is the memory
        else:
            with pytest.raises(aidev.UnsupportedError, match="not addressed by the host"):
                buf.to_numpy(copy=False)
            assert buf.to_numpy()[3] == 3.0  # copy=None reads


def test_map_host_and_shared(device, queue):
    for kind in (aidev.Memory.HOST, aidev.Memory.SHARED):
        if kind not in device.memory_kinds:
            continue
        buf = device.buffer((4, 4), np.int32, kind=kind)
        with buf.map() as host:
            host[:] = np.arange(16).reshape(4, 4)
        np.testing.assert_array_equal(buf.to_numpy(copy=True), np.arange(16).reshape(4, 4))
        with buf.map():
            with pytest.raises(aidev.InvalidStateError):
                with buf.map():
                    pass
    dev_buf = device.buffer(16, np.int32, kind="device")
    with pytest.raises(aidev.UnsupportedError):
        with dev_buf.map():
            pass


def test_untyped_buffers_are_bytes(device, queue):
    raw = device.buffer(64, None)
    assert raw.type == aidev.Type.NONE and raw.dtype == np.uint8 and raw.nbytes == 64
    queue.write(raw, np.arange(64, dtype=np.uint8)).wait()
    np.testing.assert_array_equal(raw.view(np.uint32).to_numpy(copy=True),
                                  np.arange(64, dtype=np.uint8).view(np.uint32))


def test_transfer_size_mismatch_is_refused(device, queue):
    buf = device.buffer(16, np.float32)
    with pytest.raises(aidev.InvalidArgumentError, match="64"):
        queue.write(buf, np.zeros(15, np.float32))
    with pytest.raises(aidev.InvalidArgumentError, match="C-contiguous"):
        queue.read(device.buffer(8, np.float32), np.zeros((4, 4), np.float32)[:, ::2])

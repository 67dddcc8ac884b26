"""Ends of life on every device: a context released under live buffers,
queues, events, kernels and exported tensors; a program that exits with
everything still alive; and no leak over 1,000 create/release loops (the
resident set stays within a bound)."""
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import aidev

UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
# AddressSanitizer keeps freed memory in quarantine (256 MiB by default) to
# catch uses after free: the resident set then grows by design. Under it
# the loops run for its checks; the bound holds in the normal build.
RSS_BOUND = None if UNDER_ASAN else 4 << 20


def assert_rss_bound(grown, what):
    if RSS_BOUND is not None:
        assert grown < RSS_BOUND, "RSS grew by %.1f MiB over %s" % (grown / 2**20, what)


def test_context_release_under_live_objects(device):
    ctx = aidev.Context()
    dev = ctx.devices[device.index]
    q = dev.queue()
    kernel = dev.kernel("fill_f32")
    bufs = {kind: dev.buffer(1024, np.float32, kind=kind) for kind in dev.memory_kinds}
    for b in bufs.values():
        q.dispatch(kernel, None, [1024, 6.0, b])
    pending = ctx.user_event()
    held = q.barrier(wait_for=[pending])
    exported = [b.to_numpy(copy=False) for b in bufs.values() if b.host_addressable]
    exported += [np.from_dlpack(b) for b in bufs.values() if b.host_addressable]
    imported_src = np.arange(256, dtype=np.float32)
    imported = dev.from_numpy(imported_src)
    pending.set_status()
    held.wait()
    ctx.release()  # drains the queue, ends every object made from it
    assert not ctx.alive and "released" in repr(ctx)
    # NumPy's tensors keep their memory and device alive.
    for arr in exported:
        assert (arr == 6.0).all()
    for arr in exported[:len(exported) // 2]:  # to_numpy's views are writeable
        arr[:] = 1.0
    # The Python objects are stale, never dangerous: they raise.
    with pytest.raises(aidev.InvalidHandleError):
        q.fill(bufs[aidev.Memory.DEVICE], 1.0)
    with pytest.raises(aidev.InvalidHandleError):
        held.wait()
    with pytest.raises(aidev.InvalidHandleError):
        imported.to_numpy(copy=True)
    assert imported_src[255] == 255.0  # the imported array is NumPy's again
    del bufs, q, kernel, held, imported, pending
    gc.collect()
    assert all((arr == 1.0).all() for arr in exported)
    del exported
    gc.collect()
    ctx.release()  # a second release does nothing


# Child: everything alive and unreleased at exit, callbacks registered on
# events that complete only while the interpreter shuts down.
EXIT_WITH_EVERYTHING_ALIVE = r"""
import sys
import numpy as np
import aidev

ctx = aidev.Context()
dev = ctx.devices[int(sys.argv[1])]
q = dev.queue()
gate = ctx.user_event()
buf = dev.buffer(1 << 16, np.float32)
q.fill(buf, 2.0, wait_for=[gate])
# One write per line: print() writes its parts and the newline separately,
# and the callback's thread prints while the main thread does.
q.barrier(wait_for=[gate]).add_callback(lambda e, s: sys.stdout.write("callback %s\n" % s.name))
src = np.ones(1 << 14, np.float32)
imported = dev.from_numpy(src)
q.fill(imported, 3.0, wait_for=[gate])
arrays = [np.from_dlpack(b) for b in (buf, imported) if b.host_addressable]
gate.add_callback(lambda e, s: None)
kernel = dev.kernel("axpy")
gate.set_status()
sys.stdout.write("exiting\n")
"""


def test_exit_with_everything_alive(device):
    run = subprocess.run([sys.executable, "-c", EXIT_WITH_EVERYTHING_ALIVE, str(device.index)],
                         capture_output=True, text=True, timeout=300, env=os.environ)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exiting" in run.stdout and "callback SUCCESS" in run.stdout, run.stdout


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_round(device, queue, kernel, src, out):
    """Every kind of object made and released once."""
    buf = device.buffer(src.shape, np.float32)
    queue.write(buf, src)
    queue.dispatch(kernel, None, [src.size, 1.5, buf])
    queue.read(buf, out).wait()
    imported = device.from_numpy(src)
    ev = queue.fill(imported[:8], 0.0)
    ev.wait()
    view = imported.to_numpy(copy=False) if imported.host_addressable else None
    capsule = buf.__dlpack__()
    del view, capsule
    user = device.context.user_event()
    user.set_status()
    buf.release()
    imported.release()


def test_no_leak_over_1000_rounds(device, queue):
    kernel = device.kernel("fill_f32")
    src = np.ones(4096, np.float32)
    out = np.empty_like(src)
    for _ in range(100):  # warm: pools, caches, the allocator's arenas
        one_round(device, queue, kernel, src, out)
    gc.collect()
    before = rss_bytes()
    for _ in range(1000):
        one_round(device, queue, kernel, src, out)
    gc.collect()
    grown = rss_bytes() - before
    # 1,000 rounds of 32 KiB of buffers: a leak of one buffer a round would
    # be 16 MiB at least, and 1,000 leaked objects of any size several MiB.
    assert_rss_bound(grown, "1,000 rounds")
    assert out[0] == 1.5


def test_no_leak_over_1000_contexts():
    for _ in range(20):
        aidev.Context(backends="cpu").release()
    gc.collect()
    before = rss_bytes()
    for _ in range(1000):
        with aidev.Context(backends="cpu") as ctx:
            dev = ctx.devices[0]
            b = dev.buffer(1024, np.float32)
            dev.queue().fill(b, 1.0).wait()
    gc.collect()
    grown = rss_bytes() - before
    assert_rss_bound(grown, "1,000 contexts")

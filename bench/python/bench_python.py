#!/usr/bin/env python3
"""aidev from Python against pyopencl, both measured in the same process.

  bench_python.py [--json] [--quick] [--only SUBSTRING]

Rows, in aidev-bench's format ({name, device, backend, value, unit,
baseline, baseline_value, ratio}, ratio = value / baseline_value), on every
aidev device; the baseline is pyopencl on the OpenCL device of the same name
as aidev's OpenCL device (PoCL here), else on the first one:

  python.dispatch        us per dispatch of 1000 back-to-back
                         queue.dispatch(kernel, (1,), [buf], event=False),
                         then finish; against pyopencl's
                         kernel(queue, (1,), None, buf) x1000, then finish
                         (both pass the argument on every call)
  python.dispatch_event  the same with an Event made and dropped per
                         dispatch (dispatch's default; pyopencl makes one
                         per call too)
  python.dispatch_prepared
                         the same with the arguments packed once
                         (kernel.prepare(), then prepared.enqueue(queue,
                         event=False) x1000); against pyopencl with its
                         arguments set once (kernel.set_args(), then
                         enqueue_nd_range_kernel x1000), its fastest path
  python.read_64M        GB/s of queue.read() of a 64 MiB DEVICE buffer into
                         a NumPy array, waited; against pyopencl's blocking
                         enqueue_copy of a 64 MiB buffer into an array (two
                         arrays made alike, their pages written first)
  python.to_numpy_64M    us of buffer.to_numpy() of a 64 MiB buffer the host
                         addresses (the first of SHARED, HOST, DEVICE that
                         is): a view, no read at all; against the same
                         pyopencl enqueue_copy

The kernel is an empty OpenCL C kernel (pyopencl's source) where the device
takes OpenCL C, elsewhere the built-in fill_f32 of one element. Samples of
the two sides alternate, each first every other time, so that load on a
shared machine hits both alike; values are medians. --quick (tests, the
sanitizer builds) runs few samples on 1 MiB: it checks that each row runs.
Without pyopencl or an OpenCL device there is no baseline: no rows, and a
line on stderr saying why.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np

import aidev

EMPTY_SOURCE = "__kernel void empty(__global float *x) { }\n"
MIB = 1 << 20


def alternate(a, b, samples):
    """Medians of |samples| runs of a() and b(), interleaved."""
    sa, sb = [], []
    for i in range(samples):
        if i % 2:
            sb.append(b())
            sa.append(a())
        else:
            sa.append(a())
            sb.append(b())
    return statistics.median(sa), statistics.median(sb)


def touched_array(size):
    """The destination of the reads, made the same way for both sides:
    np.zeros took calloc's path, np.ones malloc's, so the two sides read
    into memory of different origins; every page is written before any
    read is timed (page faults cost up to 40 us each on this VM)."""
    array = np.empty(size // 4, np.float32)
    array.fill(1.0)
    return array


class PyOpenCL:
    """The baseline: pyopencl on one OpenCL device."""

    def __init__(self, cl, device, size):
        self.cl = cl
        self.name = device.name.strip()
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context)
        self.kernel = cl.Program(self.context, EMPTY_SOURCE).build().empty
        self.arg = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, 256)
        self.big = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size)
        cl.enqueue_fill_buffer(self.queue, self.big, np.uint8(1), 0, size)
        self.out = touched_array(size)

    def dispatches(self, count):
        k, q, arg = self.kernel, self.queue, self.arg
        t0 = time.perf_counter()
        for _ in range(count):
            k(q, (1,), None, arg)
        q.finish()
        return (time.perf_counter() - t0) / count * 1e6

    def dispatches_preset(self, count):
        cl, k, q = self.cl, self.kernel, self.queue
        k.set_args(self.arg)
        t0 = time.perf_counter()
        for _ in range(count):
            cl.enqueue_nd_range_kernel(q, k, (1,), None)
        q.finish()
        return (time.perf_counter() - t0) / count * 1e6

    def read(self):
        t0 = time.perf_counter()
        self.cl.enqueue_copy(self.queue, self.out, self.big, is_blocking=True)
        return time.perf_counter() - t0


def open_baseline(ctx, size):
    try:
        import pyopencl as cl
    except ImportError:
        return None, "pyopencl not found (Debian: python3-pyopencl)"
    devices = [d for p in cl.get_platforms() for d in p.get_devices()]
    if not devices:
        return None, "pyopencl found no OpenCL device"
    names = [d.name for d in ctx.devices if d.backend == "opencl"]
    chosen = next((d for d in devices if d.name.strip() in names), devices[0])
    return PyOpenCL(cl, chosen, size), None


class Aidev:
    """The measured side on one aidev device."""

    def __init__(self, device, size):
        self.device = device
        self.queue = device.queue()
        if device.has(aidev.Feature.KERNEL_OPENCL_C):
            self.kernel = aidev.Kernel.from_opencl(device, EMPTY_SOURCE, "empty",
                                                   [aidev.buffer_arg("x", np.float32)])
            self.args = [device.buffer(64, np.float32)]
        else:
            self.kernel = device.kernel("fill_f32")
            self.args = [1, 0.0, device.buffer(64, np.float32)]
        self.grid = (1,)
        self.prepared = self.kernel.prepare(self.grid, self.args)
        self.big = device.buffer(size // 4, np.float32)
        self.queue.fill(self.big, 1.0)
        self.out = touched_array(size)
        self.view_buffer = None
        for kind in (aidev.Memory.SHARED, aidev.Memory.HOST, aidev.Memory.DEVICE):
            if kind in device.memory_kinds:
                b = device.buffer(size // 4, np.float32, kind=kind)
                if b.host_addressable:
                    self.view_buffer = b
                    break
        self.queue.finish()

    def dispatches(self, count, event):
        q, k, grid, args = self.queue, self.kernel, self.grid, self.args
        t0 = time.perf_counter()
        if event:
            for _ in range(count):
                q.dispatch(k, grid, args)
        else:
            for _ in range(count):
                q.dispatch(k, grid, args, event=False)
        q.finish()
        return (time.perf_counter() - t0) / count * 1e6

    def dispatches_prepared(self, count):
        q, enqueue = self.queue, self.prepared.enqueue
        t0 = time.perf_counter()
        for _ in range(count):
            enqueue(q, event=False)
        q.finish()
        return (time.perf_counter() - t0) / count * 1e6

    def read(self):
        t0 = time.perf_counter()
        self.queue.read(self.big, self.out).wait()
        return time.perf_counter() - t0

    def to_numpy(self):
        t0 = time.perf_counter()
        array = self.view_buffer.to_numpy()
        elapsed = time.perf_counter() - t0
        del array
        return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON array of rows")
    ap.add_argument("--quick", action="store_true", help="few samples, 1 MiB: check each row")
    ap.add_argument("--only", help="run only the rows whose name contains this")
    opt = ap.parse_args()
    size = (1 if opt.quick else 64) * MIB
    size_name = "64M"
    batch, batches, reads = (50, 3, 3) if opt.quick else (1000, 21, 15)
    rows = []

    def selected(name):
        return not opt.only or opt.only in name

    def emit(name, device, value, unit, baseline, baseline_value):
        row = {"name": name, "device": device.name, "backend": device.backend, "value": value,
               "unit": unit, "baseline": baseline, "baseline_value": baseline_value,
               "ratio": value / baseline_value}
        rows.append(row)
        if not opt.json:
            print("%-34s %-8s %12.3f %-26s | %-34s %12.3f | ratio %6.3f\n%-34s   device: %s"
                  % (name, device.backend, value, unit, baseline, baseline_value, row["ratio"],
                     "", device.name), flush=True)

    with aidev.Context() as ctx:
        base, why = open_baseline(ctx, size)
        if base is None:
            print("bench_python: %s: no rows" % why, file=sys.stderr)
        for device in ctx.devices if base else []:
            side = Aidev(device, size)
            dispatch_rows = [
                (n, f, g, what) for n, f, g, what in (
                    ("python.dispatch", lambda: side.dispatches(batch, False),
                     lambda: base.dispatches(batch), "kernel()"),
                    ("python.dispatch_event", lambda: side.dispatches(batch, True),
                     lambda: base.dispatches(batch), "kernel()"),
                    ("python.dispatch_prepared", lambda: side.dispatches_prepared(batch),
                     lambda: base.dispatches_preset(batch), "enqueue_nd_range_kernel"))
                if selected(n)]
            for _ in range(3 if dispatch_rows else 0):  # warm both: compiles, first maps
                side.dispatches(batch, True)
                base.dispatches(batch)
            for name, ours, theirs, what in dispatch_rows:
                a, b = alternate(ours, theirs, batches)
                emit(name, device, a, "us/dispatch (lower is better)",
                     "pyopencl %s x%d on %s" % (what, batch, base.name), b)
            if selected("python.read_" + size_name):
                side.read()
                base.read()
                a, b = alternate(side.read, base.read, reads)
                emit("python.read_" + size_name, device, size / a / 1e9,
                     "GB/s (higher is better)", "pyopencl enqueue_copy on %s" % base.name,
                     size / b / 1e9)
            if side.view_buffer is not None and selected("python.to_numpy_" + size_name):
                a, b = alternate(side.to_numpy, base.read, reads)
                emit("python.to_numpy_" + size_name, device, a * 1e6, "us (lower is better)",
                     "pyopencl enqueue_copy on %s (a %s view here)"
                     % (base.name, side.view_buffer.kind.name), b * 1e6)
    if opt.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

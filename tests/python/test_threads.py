"""Threads: every blocking call releases the GIL (another Python thread
keeps running while one waits), and several threads share queues, buffers
and callbacks.

cffi releases the GIL around every C call of an API-mode module (its
generated wrappers put each call between Py_BEGIN_ALLOW_THREADS and
Py_END_ALLOW_THREADS); these tests hold the package to it. A wait that kept
the GIL would stop the main thread for good, so each check runs in a child
process with a timeout: a hang is a failure, not a stuck test run.
"""
import os
import subprocess
import sys
import threading

import numpy as np

import aidev

# Child: for each blocking call, one thread blocks in it on an event that
# only the main thread completes; the main thread must run meanwhile.
BLOCKING_CALLS = r"""
import sys, threading, time
import numpy as np
import aidev

ctx = aidev.Context()
device = ctx.devices[int(sys.argv[1])]
queue = device.queue()
buf = device.buffer(1024, np.float32)


def event_wait(gate):
    queue.barrier(wait_for=[gate]).wait()

def wait_all(gate):
    aidev.wait_all([queue.barrier(wait_for=[gate])])

def queue_finish(gate):
    queue.barrier(wait_for=[gate])
    queue.finish()

def to_numpy_copy(gate):
    queue.fill(buf, 1.0, wait_for=[gate])
    device._queue_for_transfers().barrier(wait_for=[gate])
    buf.to_numpy(copy=True)

def queue_release(gate):
    q = device.queue()
    q.barrier(wait_for=[gate])
    q.release()

def context_release(gate):
    # Its release waits for a host callback (Python, on a library thread)
    # that waits for the gate: had the release kept the GIL, neither the
    # callback nor the main thread could run.
    other = aidev.Context()
    go = threading.Event()
    gate.add_callback(lambda e, s: go.set())
    other_queue = other.devices[device.index].queue()
    other_queue.host_callback(lambda: go.wait(60))
    other.release()


for call in (event_wait, wait_all, queue_finish, to_numpy_copy, queue_release,
             context_release):
    gate = ctx.user_event()
    inside = threading.Event()
    def blocked():
        inside.set()
        call(gate)
    t = threading.Thread(target=blocked)
    t.start()
    inside.wait()
    time.sleep(0.05)  # let it reach the C call
    spins, deadline = 0, time.monotonic() + 0.1
    while time.monotonic() < deadline:
        spins += 1
    assert t.is_alive(), "%s returned before its event completed" % call.__name__
    gate.set_status()
    t.join(60)
    assert not t.is_alive(), "%s did not return" % call.__name__
    print("%s: the main thread ran %d loops while it waited" % (call.__name__, spins))
ctx.release()
"""


def test_blocking_calls_release_the_gil(device):
    run = subprocess.run([sys.executable, "-c", BLOCKING_CALLS, str(device.index)],
                         capture_output=True, text=True, timeout=300, env=os.environ)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("while it waited") == 6, run.stdout


def test_threads_share_a_queue(device, queue):
    n, per_thread = 512, 40
    axpy = device.kernel("axpy")
    errors = []

    def work(tid):
        try:
            x = device.from_numpy(np.full(n, float(tid), np.float32), copy=True)
            y = device.buffer(n, np.float32)
            for _ in range(per_thread):
                queue.dispatch(axpy, None, [n, 1.0, x, y], event=False)
            out = np.empty(n, np.float32)
            queue.read(y, out).wait()
            if not (out == tid * per_thread).all():
                errors.append("thread %d read %s" % (tid, out[:4]))
        except Exception as e:  # reported by the assert below
            errors.append("thread %d: %r" % (tid, e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def test_callbacks_from_library_threads(device, queue):
    """Completion callbacks take the GIL on library threads while Python
    threads enqueue and wait."""
    hits = []
    lock = threading.Lock()
    buf = device.buffer(4096, np.float32)

    def on_done(event, status):
        with lock:
            hits.append(status)

    def enqueue():
        for i in range(50):
            queue.fill(buf[(i % 64) * 64:(i % 64 + 1) * 64], float(i)).add_callback(on_done)

    threads = [threading.Thread(target=enqueue) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    queue.finish()
    deadline = threading.Event()
    for _ in range(600):
        with lock:
            if len(hits) == 200:
                break
        deadline.wait(0.05)
    assert len(hits) == 200 and set(hits) == {aidev.Status.SUCCESS}

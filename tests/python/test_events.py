"""Events on every device: wait_for across queues and devices, user events,
failures carried to dependent commands, timestamps, callbacks, host
callbacks and asyncio."""
import asyncio
import threading

import numpy as np
import pytest

import aidev


def test_wait_for_orders_commands_across_queues(device):
    a, b = device.queue(), device.queue()
    gate = device.context.user_event()
    buf = device.buffer(1024, np.float32)
    first = a.fill(buf, 1.0, wait_for=[gate])
    second = b.fill(buf, 2.0, wait_for=first)  # a single event works too
    assert first.status == aidev.Status.NOT_READY and not second.done
    gate.set_status()
    second.wait()
    assert first.done and second.status == aidev.Status.SUCCESS
    assert (buf.to_numpy(copy=True) == 2.0).all()


def test_wait_for_events_of_other_devices(ctx, device):
    other = ctx.devices[(device.index + 1) % len(ctx.devices)]
    src = other.buffer(256, np.float32)
    staged = np.empty(256, np.float32)
    oq, q = other.queue(), device.queue()
    filled = oq.fill(src, 4.0)
    read = oq.read(src, staged, wait_for=filled)
    dst = device.buffer(256, np.float32)
    q.write(dst, staged, wait_for=[read]).wait()
    assert (dst.to_numpy(copy=True) == 4.0).all()


def test_failed_user_event_fails_dependents_with_its_message(device, queue):
    gate = device.context.user_event()
    buf = device.buffer(64, np.float32)
    ev = queue.fill(buf, 1.0, wait_for=[gate])
    gate.set_status(aidev.Status.IO, "the input file vanished")
    with pytest.raises(aidev.DependencyError) as err:
        ev.wait()
    assert err.value.status == aidev.Status.DEPENDENCY
    assert "the input file vanished" in err.value.message
    assert ev.status == aidev.Status.DEPENDENCY and "vanished" in ev.message
    with pytest.raises(aidev.InvalidStateError):
        gate.set_status()


def test_timestamps_and_info(device, queue):
    buf = device.buffer(1 << 16, np.float32)
    ev = queue.fill(buf, 0.5)
    ev.wait()
    t = ev.times
    assert t is not None and 0 < t.queued <= t.start <= t.end and t.duration_ns >= 0
    assert ev.command == "fill" and ev.bytes == 1 << 18 and ev.device == device
    pending = device.context.user_event()
    assert pending.times is None and pending.device is None and pending.command == "user"
    pending.set_status()


def test_wait_timeout(device):
    gate = device.context.user_event()
    with pytest.raises(aidev.TimeoutError) as err:
        gate.wait(timeout=0.01)
    assert isinstance(err.value, TimeoutError) and err.value.status == aidev.Status.TIMEOUT
    gate.set_status()
    gate.wait(timeout=5)


def test_wait_all(device, queue):
    bufs = [device.buffer(128, np.int32) for _ in range(4)]
    events = [queue.fill(b, i) for i, b in enumerate(bufs)]
    aidev.wait_all(events)
    for i, b in enumerate(bufs):
        assert (b.to_numpy(copy=True) == i).all()


def test_callbacks_run_once_with_the_status(device, queue):
    seen = []
    done = threading.Event()
    gate = device.context.user_event()
    ev = queue.barrier(wait_for=[gate])

    def on_done(event, status):
        seen.append((event is ev, status))
        done.set()

    ev.add_callback(on_done)
    assert not seen
    gate.set_status()
    assert done.wait(30)
    assert seen == [(True, aidev.Status.SUCCESS)]
    late = []
    ev.add_callback(lambda e, s: late.append(s))  # already complete: runs at once
    assert late == [aidev.Status.SUCCESS]


def test_host_callback_runs_in_queue_order(device, queue):
    buf = device.buffer(16, np.float32)
    order = []
    queue.fill(buf, 1.0)
    queue.host_callback(lambda: order.append("callback"))
    last = queue.fill(buf, 2.0)
    last.wait()
    order.append("after")
    assert order == ["callback", "after"]


def test_await_events(device, queue):
    async def main():
        gate = device.context.user_event()
        buf = device.buffer(4096, np.float32)
        ev = queue.fill(buf, 8.0, wait_for=[gate])
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, gate.set_status)
        await ev
        assert ev.done
        # Many awaits at once, no thread each.
        threads = threading.active_count()
        events = [queue.fill(buf[i * 64:(i + 1) * 64], float(i)) for i in range(64)]
        await asyncio.gather(*events)
        assert threading.active_count() <= threads + 1
        bad = device.context.user_event()
        failing = queue.fill(buf, 1.0, wait_for=[bad])
        loop.call_soon(bad.set_status, aidev.Status.CANCELLED, "stopped")
        with pytest.raises(aidev.DependencyError, match="stopped"):
            await failing
        return buf.to_numpy(copy=True)

    out = asyncio.run(main())
    assert out[64 * 63] == 63.0

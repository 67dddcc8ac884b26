"""The context, its devices and backends, errors with their messages, and
the package's own surface: every status has an exception, every public
call has type hints and a docstring, help() reads."""
import inspect
import pydoc

import numpy as np
import pytest

import aidev


def test_devices_and_properties(ctx, device):
    assert device in ctx.devices and ctx.devices[device.index] == device
    assert device.context is ctx
    assert device.name and device.backend in {b.name for b in ctx.backends}
    assert isinstance(device.type, aidev.DeviceType)
    assert device.memory_bytes > 0 and device.max_alloc_bytes > 0 and device.compute_units > 0
    assert len(device.max_workgroup_dims) == 3 and device.max_workgroup_size > 0
    assert aidev.Memory.DEVICE in device.memory_kinds
    assert device.api_version and device.timestamp_period_ns > 0
    assert device.uuid is None or len(device.uuid) == 16
    assert device.free_memory_bytes is None or device.free_memory_bytes <= device.memory_bytes
    assert repr(device).startswith("<aidev.Device %d: " % device.index)


def test_backends_report_why(ctx):
    reports = ctx.backends
    assert any(r.name == "cpu" and r.state == "loaded" for r in reports)
    for r in reports:
        assert r.state in ("loaded", "skipped", "failed")
        assert (r.reason == "") == (r.state == "loaded")


def test_select(ctx, device):
    buf = device.buffer(16, np.float32)
    assert ctx.select(near=buf) == device
    cpu = ctx.select(type=aidev.DeviceType.CPU, memory_kinds=["host"])
    assert cpu.type == aidev.DeviceType.CPU
    with pytest.raises(aidev.NotFoundError) as err:
        ctx.select(min_memory=1 << 62)
    assert "memory" in err.value.message


def test_memory_limit_and_quota_errors():
    with aidev.Context(backends="cpu", memory_limit=1 << 20) as ctx:
        dev = ctx.devices[0]
        assert ctx.memory_usage == (0, 1 << 20)
        buf = dev.buffer(1 << 17, np.float32)  # 512 KiB
        assert ctx.memory_usage.used == 1 << 19
        # Larger than the limit itself: evicting buf would not make room.
        with pytest.raises(aidev.QuotaError) as err:
            dev.buffer(1 << 19, np.float32)
        assert err.value.status == aidev.Status.QUOTA and "limit" in err.value.message
        assert isinstance(err.value, MemoryError)
        ctx.memory_limit = 0
        assert ctx.memory_limit == 0
        dev.buffer(1 << 18, np.float32).release()
        buf.release()
        assert ctx.memory_usage.used == 0


def test_errors_carry_status_and_message(device):
    with pytest.raises(aidev.InvalidArgumentError) as err:
        device.buffer(0, np.float32)
    e = err.value
    assert isinstance(e, aidev.Error) and isinstance(e, ValueError)
    assert e.status == aidev.Status.INVALID_ARGUMENT and e.call == "aidev_buffer_create"
    assert e.message and e.message in str(e) and "INVALID_ARGUMENT" in str(e)
    with pytest.raises(IndexError):
        device.buffer(1, np.float32, kind="device")[5]
    huge = device.max_alloc_bytes + 1
    with pytest.raises(aidev.Error) as err:
        device.buffer(huge, None)
    assert err.value.status in (aidev.Status.OUT_OF_RANGE, aidev.Status.QUOTA,
                                aidev.Status.OUT_OF_DEVICE_MEMORY)
    assert str(huge) in err.value.message


def test_released_objects_raise_not_crash(device, queue):
    buf = device.buffer(16, np.float32)
    view = buf[4:8]
    buf.release()
    buf.release()  # twice is nothing
    with pytest.raises(aidev.InvalidHandleError) as err:
        queue.fill(view, 1.0)
    assert "buffer" in err.value.message
    q = device.queue()
    q.release()
    with pytest.raises(aidev.InvalidHandleError):
        q.barrier()


def test_every_status_has_its_exception():
    c_statuses = aidev.ffi.typeof("aidev_status").relements
    for name, value in c_statuses.items():
        member = aidev.Status(value)  # every C status is a Status
        assert member.c_name == name
        if value < 0:
            e = aidev._errors.make_error(value, "m", "call")
            assert type(e) is not aidev.Error, "%s has no exception class" % name
            assert e.status == member
    assert len(aidev.Status) == len(c_statuses)


def public_callables():
    names = [(n, getattr(aidev, n)) for n in aidev.__all__]
    names += [("ops." + n, getattr(aidev.ops, n)) for n in aidev.ops.__all__]
    for name, obj in names:
        if inspect.isclass(obj) and obj.__module__.startswith("aidev"):
            if issubclass(obj, BaseException) or issubclass(obj, (int, tuple)):
                yield name, obj
                continue
            yield name, obj
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__init__", "__dlpack__",
                                                         "__dlpack_device__", "__await__"):
                    continue
                target = member.fget if isinstance(member, property) else member
                if isinstance(target, (classmethod, staticmethod)):
                    target = target.__func__
                if inspect.isfunction(target):
                    yield "%s.%s" % (name, attr), target
        elif inspect.isfunction(obj):
            yield name, obj


def test_public_api_has_docstrings_and_type_hints():
    missing_doc, missing_hints = [], []
    for name, obj in public_callables():
        if not inspect.getdoc(obj):
            missing_doc.append(name)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            for p in sig.parameters.values():
                if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty:
                    missing_hints.append("%s(%s)" % (name, p.name))
            if sig.return_annotation is inspect.Signature.empty and \
                    not name.endswith("__init__"):
                missing_hints.append("%s -> ?" % name)
    assert not missing_doc, "no docstring: %s" % missing_doc
    assert not missing_hints, "no type hint: %s" % missing_hints


def test_help_reads_well():
    text = pydoc.render_doc(aidev.Buffer, renderer=pydoc.plaintext)
    for words in ("Memory on one device", "from_numpy", "to_numpy", "host_addressable",
                  "__dlpack__", "zero copy"):
        assert words in text, words
    assert "aidev" in pydoc.render_doc(aidev, renderer=pydoc.plaintext)


def test_version():
    assert aidev.__version__.count(".") == 2

"""The tensor ops of aidev.ops on every device, against NumPy: elementwise
ops with broadcasting, conversions (bf16 among them), views (transposes,
slices, stride 0), reductions, softmax, norms, requantization, events and
wait_for, and errors with the library's messages."""
import math

import numpy as np
import pytest

import aidev
from aidev import ops

RNG = np.random.default_rng(17)


def run(device, queue, fn, inputs, out_shape, out_dtype=np.float32, **kw):
    """fn(queue, *input buffers, out buffer, **kw) on |device|; the result
    as an array."""
    bufs = [device.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
            for a in inputs]
    out = device.buffer(out_shape, out_dtype)
    ev = fn(queue, *bufs, out, **kw)
    assert isinstance(ev, aidev.Event)
    ev.wait()
    return out.to_numpy(copy=True)


BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
          "divide": np.divide, "maximum": np.maximum, "minimum": np.minimum}


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_broadcasts_as_numpy(device, queue, op):
    a = RNG.standard_normal((3, 4, 5), np.float32)
    b = RNG.uniform(0.5, 2.0, (4, 1)).astype(np.float32)
    got = run(device, queue, getattr(ops, op), [a, b], (3, 4, 5))
    want = BINARY[op](a, b)
    if op == "divide":  # rel 3e-7 (kernels/manifest.txt)
        np.testing.assert_allclose(got, want, rtol=3e-7, atol=0)
    else:
        np.testing.assert_array_equal(got, want)


def gelu_erf(x):
    return x / 2 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


UNARY = {
    "relu": lambda x: np.maximum(x, 0),
    "gelu_tanh": lambda x: x / 2 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "gelu_erf": gelu_erf,
    "silu": lambda x: x / (1 + np.exp(-x)),
    "exp": np.exp,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(device, queue, op):
    x = np.linspace(-6, 6, 301, dtype=np.float32)
    got = run(device, queue, getattr(ops, op), [x], x.shape)
    want = UNARY[op](x.astype(np.float64))
    # The manifest's bounds are rel 1e-6 to 2e-6 of a magnitude growing with
    # |x| (up to 6 here), and tanh's abs 3e-7 near 0.
    np.testing.assert_allclose(got, want, rtol=2e-6 * 13, atol=3e-7)


def test_in_place_and_scale_shift(device, queue):
    x = RNG.standard_normal(1000, np.float32)
    buf = device.from_numpy(x.copy())
    ops.scale_shift(queue, buf, buf, 3.0, -1.0)
    ops.relu(queue, buf, buf)
    queue.finish()
    x64 = x.astype(np.float64)
    # rel 1.2e-7 of |scale x| + |shift| (kernels/manifest.txt), and the
    # rounding to f32.
    bound = 1.2e-7 * (np.abs(3 * x64) + 1) + 6e-8 * np.abs(3 * x64 - 1)
    assert np.all(np.abs(buf.to_numpy(copy=True) - np.maximum(3 * x64 - 1, 0)) <= bound)


def bf16_of(x):
    """The bf16 words of float32 |x|, rounded to nearest even."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def test_convert_f16_bf16_int8(device, queue):
    x = (RNG.standard_normal(512) * 100).astype(np.float32)
    x[:4] = [0.5, 1.5, -2.5, 1000.0]  # ties go to even; 1000 saturates as int8
    np.testing.assert_array_equal(run(device, queue, ops.convert, [x], x.shape, np.float16),
                                  x.astype(np.float16))
    np.testing.assert_array_equal(run(device, queue, ops.convert, [x], x.shape, np.int8),
                                  np.clip(np.rint(x), -128, 127).astype(np.int8))
    bf = device.buffer(x.shape, "bf16")
    assert bf.type == aidev.Type.BF16 and bf.dtype == np.uint16 and "bf16" in repr(bf)
    ops.convert(queue, device.from_numpy(x), bf).wait()
    words = bf.to_numpy(copy=True)
    np.testing.assert_array_equal(words, bf16_of(x))
    back = run(device, queue, ops.convert, [bf], x.shape)
    np.testing.assert_array_equal(back, (words.astype(np.uint32) << 16).view(np.float32))


def test_views_transpose_slice_broadcast(device, queue):
    x = RNG.standard_normal((4, 6), np.float32)
    bx = device.from_numpy(x)
    t = ops.Tensor(bx)
    assert t.shape == (4, 6) and t.strides == (6, 1) and t.dtype == aidev.Type.F32
    assert t.T.shape == (6, 4) and t.T.strides == (1, 6)
    np.testing.assert_array_equal(run(device, queue, ops.convert, [t.T], (6, 4)), x.T)
    half = t[1:4, ::2]
    assert half.shape == (3, 3) and half.offset == 6 * 4
    np.testing.assert_array_equal(run(device, queue, ops.convert, [half], (3, 3)), x[1:4, ::2])
    row = ops.Tensor(bx, shape=(3, 6), strides=(0, 1), offset=2 * 6 * 4)  # row 2, three times
    np.testing.assert_array_equal(run(device, queue, ops.convert, [row], (3, 6)),
                                  np.tile(x[2], (3, 1)))
    # A buffer view is a tensor from its offset.
    np.testing.assert_allclose(run(device, queue, ops.exp, [bx[3]], (6,)),
                               np.exp(x[3].astype(np.float64)), rtol=1e-6 * (1 + 6))


@pytest.mark.parametrize("axis", [0, -1])
def test_reduce(device, queue, axis):
    x = RNG.standard_normal((5, 7), np.float32)
    for op, ref in (("sum", np.sum), ("max", np.max), ("mean", np.mean)):
        fn = getattr(ops, "reduce_" + op)
        got = run(device, queue, fn, [x], ref(x, axis).shape, axis=axis)
        kept = run(device, queue, fn, [x], ref(x, axis, keepdims=True).shape, axis=axis)
        want = ref(x.astype(np.float64), axis)
        mag = ref(np.abs(x).astype(np.float64), axis) if op != "max" else np.abs(want)
        assert np.all(np.abs(got - want) <= 4e-6 * mag), op
        np.testing.assert_array_equal(kept.reshape(got.shape), got)


def test_softmax_and_norms(device, queue):
    x = RNG.standard_normal((6, 33), np.float32) * 3
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(-1, keepdims=True))
    np.testing.assert_allclose(run(device, queue, ops.softmax, [x], x.shape),
                               e / e.sum(-1, keepdims=True), rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(run(device, queue, ops.log_softmax, [x], x.shape),
                               np.log(e / e.sum(-1, keepdims=True)), rtol=1e-6, atol=2e-5)
    # Along axis 0 too: a column at a time.
    e0 = np.exp(x64 - x64.max(0))
    np.testing.assert_allclose(run(device, queue, ops.softmax, [x], x.shape, axis=0),
                               e0 / e0.sum(0), rtol=2e-5, atol=1e-9)
    w = RNG.standard_normal(33, np.float32)
    b = RNG.standard_normal(33, np.float32)
    rms = x64 / np.sqrt((x64 ** 2).mean(-1, keepdims=True) + 1e-6) * w
    np.testing.assert_allclose(run(device, queue, ops.rmsnorm, [x], x.shape,
                                   weight=device.from_numpy(w)), rms, rtol=1e-5, atol=1e-6)
    mean = x64.mean(-1, keepdims=True)
    ln = (x64 - mean) / np.sqrt(((x64 - mean) ** 2).mean(-1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(run(device, queue, ops.layernorm, [x], x.shape,
                                   gamma=device.from_numpy(w), beta=device.from_numpy(b)),
                               ln, rtol=1e-5, atol=1e-5)


def test_requantize_per_row(device, queue):
    x = RNG.integers(-2000, 2000, (3, 64), dtype=np.int32)
    # Scales whose products are never within 1e-6 of a rounding tie.
    scale = np.array([[1 / 3], [1 / 7], [2 / 9]], np.float32)
    got = run(device, queue, ops.requantize, [x, scale], x.shape, np.int8, x_zero=5, y_zero=-3)
    want = np.rint((x - 5).astype(np.float32) * scale - 3)
    np.testing.assert_array_equal(got, np.clip(want, -128, 127).astype(np.int8))


def test_events_and_wait_for_across_queues(device, queue):
    x = RNG.standard_normal(4096, np.float32)
    bx, by = device.from_numpy(x), device.buffer(4096, np.float32)
    gate = device.context.user_event()
    first = ops.exp(queue, bx, by, wait_for=gate)
    other = device.queue()
    second = ops.add(other, by, by, by, wait_for=[first])
    assert not second.done
    gate.set_status()
    second.wait(timeout=60)
    np.testing.assert_allclose(by.to_numpy(copy=True), 2 * np.exp(x.astype(np.float64)),
                               rtol=2e-5)
    other.release()


def test_errors_name_the_operand(device, queue):
    a = device.buffer((3, 4), np.float32)
    with pytest.raises(aidev.InvalidArgumentError) as err:
        ops.add(queue, a, device.buffer(5, np.float32), a)
    assert err.value.call == "aidev_enqueue_binary" and "5" in err.value.message
    with pytest.raises(aidev.OutOfRangeError) as err:
        ops.relu(queue, ops.Tensor(a, shape=(100,)), a)
    assert "100" in err.value.message
    with pytest.raises(aidev.UnsupportedError) as err:
        ops.exp(queue, device.buffer(4, np.int32), device.buffer(4, np.int32))
    assert err.value.message
    with pytest.raises(aidev.InvalidArgumentError) as err:
        ops.Tensor(a, shape=(1, 2, 3, 4, 5))
    assert "5" in err.value.message
    with pytest.raises(ValueError):
        ops.unary(queue, "cosh", a, a)
    with pytest.raises(TypeError):
        ops.relu(queue, np.zeros(4, np.float32), a)


def test_op_table_and_what_is_wrapped():
    table = ops.op_table()
    names = {o.name for o in table}
    assert {"convert", "unary", "binary", "reduce", "softmax", "layernorm"} <= names
    for o in table:
        assert o.call.startswith("aidev_enqueue_") and hasattr(aidev.lib, o.call), o
        assert o.doc and o.dtypes and o.accuracy, o
    # Every call this module wraps is in the table; ops that land later show
    # in unwrapped_ops() until they get their function.
    assert ops._WRAPPED <= {o.call for o in table}
    assert set(ops.unwrapped_ops()) == {o.name for o in table if o.call not in ops._WRAPPED}

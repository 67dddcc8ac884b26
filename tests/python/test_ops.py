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


# --------------------------------------------------------------------- #
# Matrices
# --------------------------------------------------------------------- #

def gemm_bound(a, b, c, bias, alpha, beta, act=False):
    """The manifest's gemm bound: rel 1e-5 of |alpha| sum_k |a b| + |beta c|
    + |bias| (1.2 times that with an activation of slope at most 1)."""
    mag = abs(alpha) * (np.abs(a) @ np.abs(b)) + abs(beta) * np.abs(c) + np.abs(bias)
    return (1.2 if act else 1.0) * 1e-5 * mag + 1e-30


def test_gemm_epilogue_batches_and_transposes(device, queue):
    a = RNG.standard_normal((2, 5, 7)).astype(np.float32)
    b = RNG.standard_normal((7, 3)).astype(np.float32)  # broadcast to both batches
    bias = RNG.standard_normal(3).astype(np.float32)
    c0 = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    c = device.from_numpy(c0.copy())
    ops.gemm(queue, device.from_numpy(a), device.from_numpy(b), c, device.from_numpy(bias),
             alpha=0.5, beta=2.0, activation="relu").wait()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    v = 0.5 * a64 @ b64 + 2.0 * c0 + bias
    got = c.to_numpy(copy=True)
    assert np.all(np.abs(got - np.maximum(v, 0)) <= gemm_bound(a, b, c0, bias, 0.5, 2.0, True))
    # b stored n x k: the flag and a transposed view give the same product.
    bt = device.from_numpy(np.ascontiguousarray(b.T))
    by_flag = run(device, queue, ops.gemm, [a[0], bt], (5, 3), trans_b=True)
    by_view = run(device, queue, ops.gemm, [a[0], ops.Tensor(bt).T], (5, 3))
    np.testing.assert_array_equal(by_flag, by_view)
    zero = np.zeros((5, 3))
    assert np.all(np.abs(by_flag - a64[0] @ b64) <= gemm_bound(a[0], b, zero, 0, 1, 0))
    # f16 inputs, an f32 result.
    h = run(device, queue, ops.gemm, [a[1].astype(np.float16), b.astype(np.float16)], (5, 3))
    ah, bh = a[1].astype(np.float16).astype(np.float64), b.astype(np.float16).astype(np.float64)
    assert np.all(np.abs(h - ah @ bh) <= gemm_bound(ah, bh, zero, 0, 1, 0))


def test_gemm_strided_batched_with_leading_dimensions(device, queue):
    m, n, k, batch, lda, stride_a = 4, 5, 6, 3, 8, 4 * 8 + 3
    a_flat = RNG.standard_normal(stride_a * batch).astype(np.float32)
    b = RNG.standard_normal((batch, n, k)).astype(np.float32)  # stored n x k: trans_b
    c = device.buffer((batch, m, n), np.float32)
    ev = ops.gemm_strided_batched(queue, device.from_numpy(a_flat), device.from_numpy(b), c,
                                  m=m, n=n, k=k, batch=batch, trans_b=True, lda=lda,
                                  stride_a=stride_a, alpha=2.0)
    ev.wait()
    a = np.stack([a_flat[z * stride_a:z * stride_a + m * lda].reshape(m, lda)[:, :k]
                  for z in range(batch)]).astype(np.float64)
    want = 2.0 * a @ b.transpose(0, 2, 1).astype(np.float64)
    bound = gemm_bound(a, b.transpose(0, 2, 1), np.zeros_like(want), 0, 2.0, 0)
    assert np.all(np.abs(c.to_numpy(copy=True) - want) <= bound)
    with pytest.raises(aidev.InvalidArgumentError) as err:
        ops.gemm_strided_batched(queue, device.from_numpy(a_flat), device.from_numpy(b), c,
                                 m=m, n=n, k=k, batch=batch, trans_b=True, lda=k - 1)
    assert err.value.call == "aidev_enqueue_gemm_strided_batched" and err.value.message


def decode_blocks(fmt, raw, cols):
    """The values of ggml blocks |raw| (rows x bytes), and each value's
    block scale d, as aidev_tensor.h defines them."""
    size = ops.BLOCK_BYTES[fmt]
    blocks = raw.reshape(raw.shape[0], cols // 32, size)
    d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    if fmt == "q8_0":
        q = blocks[..., 2:].view(np.int8).astype(np.float32)
        return (d[..., None] * q).reshape(-1, cols), np.repeat(d, 32, -1)
    qs = blocks[..., 2:] if fmt == "q4_0" else blocks[..., 4:]
    q = np.concatenate([qs & 15, qs >> 4], -1).astype(np.float32)
    if fmt == "q4_0":
        return (d[..., None] * (q - 8)).reshape(-1, cols), np.repeat(d, 32, -1)
    mins = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    return (d[..., None] * q + mins[..., None]).reshape(-1, cols), np.repeat(d, 32, -1)


@pytest.mark.parametrize("fmt,zero", [("i8_row", False), ("i8_group32", True), ("q8_0", False),
                                      ("q4_0", False), ("q4_1", False)])
def test_quantize_dequantize(device, queue, fmt, zero):
    rows, cols = 5, 96
    x = RNG.standard_normal((rows, cols)).astype(np.float32)
    w = ops.QTensor.empty(device, fmt, rows, cols, zero_points=zero)
    assert (w.rows, w.cols, w.format) == (rows, cols, fmt) and fmt in repr(w)
    y = device.buffer((rows, cols), np.float32)
    ops.quantize(queue, device.from_numpy(x), w)
    ops.dequantize(queue, w, y).wait()
    got = y.to_numpy(copy=True)
    codes = w.q.buffer.to_numpy(copy=True)
    amax = np.abs(x).max()
    if fmt in ops.BLOCK_BYTES:
        values, d = decode_blocks(fmt, codes, cols)
        np.testing.assert_array_equal(got, values)  # dequantize is exact
        # Within half a step (q4_0 clips its top code: a whole step), and
        # the f16 rounding of d and of q4_1's minimum.
        step = {"q8_0": 0.5, "q4_0": 1.0, "q4_1": 0.5}[fmt] * np.abs(d)
        assert np.all(np.abs(got - x) <= step + amax * 2.0 ** -9)
        return
    groups = 1 if fmt == "i8_row" else 32
    s = np.repeat(w.scale.buffer.to_numpy(copy=True).reshape(rows, -1), groups, 1)[:, :cols]
    z = (np.repeat(w.zero.buffer.to_numpy(copy=True).reshape(rows, -1), groups, 1)[:, :cols]
         if zero else 0)
    np.testing.assert_array_equal(got, (codes.astype(np.float32) - z) * s)
    assert np.all(np.abs(got - x) <= 0.5 * s * (1 + 1e-5))
    if not zero:  # symmetric: s = amax / 127 per row (within 3 ulp)
        np.testing.assert_allclose(s[:, 0], np.abs(x).max(1) / 127, rtol=4e-7)


def test_qgemm_against_the_dequantized_weight(device, queue):
    n, k, m = 6, 64, 3
    wf = RNG.standard_normal((n, k)).astype(np.float32)
    w = ops.QTensor.empty(device, "q8_0", n, k)
    wd = device.buffer((n, k), np.float32)
    ops.quantize(queue, device.from_numpy(wf), w)
    ops.dequantize(queue, w, wd)
    x = RNG.standard_normal((m, k)).astype(np.float32)
    bias = RNG.standard_normal(n).astype(np.float32)
    y = run(device, queue, ops.qgemm, [x, w], (m, n), bias=device.from_numpy(bias))
    wd64 = wd.to_numpy(copy=True).astype(np.float64)
    want = x.astype(np.float64) @ wd64.T + bias
    assert np.all(np.abs(y - want) <= gemm_bound(x, wd64.T, np.zeros_like(want), bias, 1, 0))
    with pytest.raises(TypeError):
        ops.qgemm(queue, device.from_numpy(x), wd, device.buffer((m, n), np.float32))


# --------------------------------------------------------------------- #
# Model ops
# --------------------------------------------------------------------- #

def attention_ref(q, k, v, scale, mask):
    """out, and the manifest's bound per element (rel 1e-5 of sum_j p_j
    |v_jd| / sum p + max_j |v_jd| (1 + sigma), abs 1e-6)."""
    rep = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, rep, 1), np.repeat(v, rep, 1)
    s = scale * q @ k.transpose(0, 1, 3, 2) + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    sigma = scale * (np.abs(q) @ np.abs(k).transpose(0, 1, 3, 2)).max(-1, keepdims=True)
    mag = p @ np.abs(v) + np.abs(v).max(-2, keepdims=True) * (1 + sigma)
    return p @ v, 1e-5 * mag + 1e-6


def test_attention_causal_grouped_and_masked(device, queue):
    q = RNG.standard_normal((2, 4, 3, 8)).astype(np.float32)
    k = RNG.standard_normal((2, 2, 5, 8)).astype(np.float32)  # two query heads per kv head
    v = RNG.standard_normal((2, 2, 5, 8)).astype(np.float32)
    f64 = [a.astype(np.float64) for a in (q, k, v)]
    causal = np.where(np.arange(5)[None, :] <= np.arange(3)[:, None] + 2, 0.0, -np.inf)
    got = run(device, queue, ops.attention, [q, k, v], q.shape, causal=True)
    want, bound = attention_ref(*f64, 1 / math.sqrt(8), causal)
    assert np.all(np.abs(got - want) <= bound)
    mask = RNG.standard_normal((3, 5)).astype(np.float32)
    mask[1, :] = -np.inf  # query 1 sees no key: zeros
    got = run(device, queue, ops.attention, [q, k, v], q.shape, scale=0.25,
              mask=device.from_numpy(mask))
    want, bound = attention_ref(*f64, 0.25, np.where(np.isinf(mask), 0, mask))
    want[:, :, 1], bound[:, :, 1] = 0, 0
    assert np.all(np.abs(got - want) <= bound)


def rope_ref(x, pos, mode, rot, base=10000.0):
    theta = pos[:, None] * base ** (-2 * np.arange(rot // 2) / rot)  # [S, rot/2]
    if mode == "neox":
        ia, ib = np.arange(rot // 2), rot // 2 + np.arange(rot // 2)
    else:
        ia, ib = 2 * np.arange(rot // 2), 2 * np.arange(rot // 2) + 1
    a, b = x[..., ia], x[..., ib]
    y = x.copy()
    y[..., ia] = a * np.cos(theta) - b * np.sin(theta)
    y[..., ib] = a * np.sin(theta) + b * np.cos(theta)
    mag = np.zeros_like(x)
    mag[..., ia] = mag[..., ib] = (np.abs(a) + np.abs(b)) * (1 + np.abs(theta))
    return y, 2e-6 * mag + 1e-7


@pytest.mark.parametrize("mode", ["neox", "interleaved"])
def test_rope(device, queue, mode):
    x = RNG.standard_normal((2, 5, 8)).astype(np.float32)
    x64 = x.astype(np.float64)
    got = run(device, queue, ops.rope, [x], x.shape, mode=mode, rot_dims=6, pos0=3)
    want, bound = rope_ref(x64, np.arange(3, 8, dtype=np.float64), mode, 6)
    assert np.all(np.abs(got - want) <= bound)
    pos = np.array([7, 0, 2, 40, 5], np.int32)
    got = run(device, queue, ops.rope, [x], x.shape, mode=mode, base=500.0,
              positions=device.from_numpy(pos))
    want, bound = rope_ref(x64, pos.astype(np.float64), mode, 8, base=500.0)
    assert np.all(np.abs(got - want) <= bound)


def test_embedding_and_kv_append(device, queue):
    table = RNG.standard_normal((10, 4)).astype(np.float32)
    ids = np.array([[3, 0, 9], [9, 10, 1]], np.int32)  # 10 is outside the table
    got = run(device, queue, ops.embedding, [ids, table], (2, 3, 4))
    np.testing.assert_array_equal(got[ids < 10], table[ids[ids < 10]])
    assert np.isnan(got[1, 1]).all()
    cache = device.buffer((2, 8, 4), np.float16)
    src = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    ops.kv_append(queue, device.from_numpy(src), cache, 2).wait()
    want = np.zeros((2, 8, 4), np.float16)
    want[:, 2:5] = src.astype(np.float16)
    np.testing.assert_array_equal(cache.to_numpy(copy=True), want)
    with pytest.raises(aidev.OutOfRangeError) as err:
        ops.kv_append(queue, device.from_numpy(src), cache, 6)
    assert err.value.call == "aidev_enqueue_kv_append" and err.value.message


def windows(x, kh, kw, stride, dilation=(1, 1)):
    """x [N, C, H, W] (padded) as [N, C, OH, OW, KH, KW] windows."""
    n, c, h, w = x.shape
    oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.empty((n, c, oh, ow, kh, kw), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[..., i, j] = x[:, :, i * dilation[0]::stride[0], j * dilation[1]::stride[1]][
                :, :, :oh, :ow]
    return out


def test_conv2d(device, queue):
    x = RNG.standard_normal((2, 3, 7, 6)).astype(np.float32)
    w = RNG.standard_normal((4, 3, 3, 2)).astype(np.float32)
    bias = RNG.standard_normal(4).astype(np.float32)
    pad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = windows(pad, 3, 2, (2, 1), (1, 2))  # [N, C, OH, OW, KH, KW]
    v = np.einsum("nchwij,ocij->nohw", win, w) + bias[:, None, None]
    mag = np.einsum("nchwij,ocij->nohw", np.abs(win), np.abs(w)) + np.abs(bias)[:, None, None]
    got = run(device, queue, ops.conv2d, [x, w], v.shape, bias=device.from_numpy(bias),
              stride=(2, 1), padding=1, dilation=(1, 2), activation="relu")
    assert got.shape == (2, 4, 4, 6)
    assert np.all(np.abs(got - np.maximum(v, 0)) <= 1.2e-5 * mag + 1e-30)


def test_pool2d(device, queue):
    x = RNG.standard_normal((1, 2, 6, 5)).astype(np.float32)
    shape = (1, 2, 3, 3)  # (6 + 2 - 3) // 2 + 1, (5 + 2 - 3) // 2 + 1
    got = run(device, queue, ops.max_pool2d, [x], shape, window=3, stride=2, padding=1)
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    np.testing.assert_array_equal(got, windows(pad, 3, 3, (2, 2)).max((-2, -1)))
    got = run(device, queue, ops.avg_pool2d, [x], shape, window=(3, 3), stride=2, padding=1)
    pad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)),
                 constant_values=np.nan)
    win = windows(pad, 3, 3, (2, 2))
    bound = 1e-6 * np.nansum(np.abs(win), (-2, -1)) + 1e-30
    assert np.all(np.abs(got - np.nanmean(win, (-2, -1))) <= bound)
    with pytest.raises(ValueError):
        ops.pool2d(queue, "min", device.from_numpy(x), device.buffer(shape, np.float32), 3)


def test_matrix_and_model_errors(device, queue):
    a = device.buffer((3, 4), np.float32)
    with pytest.raises(aidev.InvalidArgumentError) as err:
        ops.gemm(queue, a, a, device.buffer((3, 3), np.float32))
    assert err.value.call == "aidev_enqueue_gemm" and "4" in err.value.message
    with pytest.raises(ValueError):
        ops.gemm(queue, a, a, a, activation="softplus")
    with pytest.raises(ValueError):
        ops.QTensor.empty(device, "q4_0", 2, 40)
    with pytest.raises(ValueError):
        ops.QTensor("q5_k", a)
    with pytest.raises(ValueError):
        ops.rope(queue, a, a, mode="yarn")
    with pytest.raises(ValueError):
        ops.conv2d(queue, a, a, a, stride=(1, 2, 3))
    x = device.buffer((1, 1, 4, 4), np.float32)
    with pytest.raises(aidev.InvalidArgumentError) as err:
        ops.conv2d(queue, x, device.buffer((1, 1, 3, 3), np.float32),
                   device.buffer((1, 1, 4, 4), np.float32))
    assert err.value.call == "aidev_enqueue_conv2d" and err.value.message


def test_op_table_and_every_op_wrapped():
    table = ops.op_table()
    names = {o.name for o in table}
    assert {"convert", "unary", "binary", "reduce", "softmax", "layernorm", "gemm"} <= names
    for o in table:
        assert o.call.startswith("aidev_enqueue_") and hasattr(aidev.lib, o.call), o
        assert o.doc and o.dtypes and o.accuracy, o
    # Every call this module wraps is the library's, and every op of the
    # library has its function: an op added to kernels/manifest.txt fails
    # here until aidev.ops wraps it.
    assert all(hasattr(aidev.lib, call) for call in ops._WRAPPED)
    assert ops.unwrapped_ops() == []

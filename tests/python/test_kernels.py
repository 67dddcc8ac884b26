"""Kernels on every device: the built-in library by name, user kernels in
the three forms (OpenCL C, SPIR-V, a C function), and arguments checked
against the signature with messages."""
import ctypes
import os

import numpy as np
import pytest

import aidev

AFFINE_OPENCL = """
__kernel void user_affine(uint n, float alpha, float beta,
                          __global const float *x, __global float *y)
{
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = alpha * x[i] + beta;
}
"""
AFFINE_ARGS = [aidev.scalar_arg("n", "u32"), aidev.scalar_arg("alpha", "f32"),
               aidev.scalar_arg("beta", "f32"),
               aidev.buffer_arg("x", np.float32, "read", count="n"),
               aidev.buffer_arg("y", np.float32, "write", count="n")]


def affine_kernel(device, form):
    if form == "opencl":
        return aidev.Kernel.from_opencl(device, AFFINE_OPENCL, "user_affine", AFFINE_ARGS,
                                        grid=["n"])
    if form == "spirv":
        path = os.environ.get("AIDEV_TEST_USER_SPIRV")
        if not path:
            pytest.skip("no SPIR-V module: the build found no glslc")
        with open(path, "rb") as f:
            return aidev.Kernel.from_spirv(device, f.read(), "user_affine", AFFINE_ARGS,
                                           grid=["n"])
    functions = ctypes.CDLL(os.environ["AIDEV_TEST_HOST_KERNELS"])
    return aidev.Kernel.from_c_function(device, functions.aidev_test_affine, "user_affine",
                                        AFFINE_ARGS, grid=["n"])


FEATURE = {"opencl": aidev.Feature.KERNEL_OPENCL_C, "spirv": aidev.Feature.KERNEL_SPIRV,
           "c": aidev.Feature.KERNEL_HOST}


@pytest.mark.parametrize("form", ["opencl", "spirv", "c"])
def test_user_kernels(device, queue, form):
    if not device.has(FEATURE[form]):
        with pytest.raises(aidev.UnsupportedError) as err:
            affine_kernel(device, form)
        assert err.value.message
        return
    kernel = affine_kernel(device, form)
    assert kernel.name == "user_affine" and [a.name for a in kernel.signature.args] == \
        ["n", "alpha", "beta", "x", "y"]
    n = 1000
    x = np.linspace(-4, 4, n, dtype=np.float32)
    bx = device.from_numpy(x)
    by = device.buffer(n, np.float32)
    ev = queue.dispatch(kernel, None, [n, 0.5, -2.0, bx, by])
    ev.wait()
    assert ev.kernel == "user_affine"
    # alpha a power of two: exact with or without a fused multiply-add.
    np.testing.assert_array_equal(by.to_numpy(copy=True), 0.5 * x - 2.0)


def test_library_kernels_by_name(device, queue):
    n = 4096
    x = np.arange(n, dtype=np.float32)
    y = np.ones(n, np.float32)
    bx, by = device.from_numpy(x, copy=True), device.from_numpy(y, copy=True)
    axpy = device.kernel("axpy")
    assert [a.name for a in axpy.signature.args] == ["n", "alpha", "x", "y"]
    queue.dispatch(axpy, None, [n, 2.0, bx, by], event=False)
    queue.finish()
    np.testing.assert_allclose(by.to_numpy(copy=True), 2.0 * x + 1.0, rtol=1e-6)
    m, k, p = 17, 9, 13
    a = np.random.default_rng(3).standard_normal((m, k)).astype(np.float32)
    b = np.random.default_rng(4).standard_normal((k, p)).astype(np.float32)
    ba, bb = device.from_numpy(a, copy=True), device.from_numpy(b, copy=True)
    bc = device.buffer((m, p), np.float32)
    queue.dispatch(device.kernel("sgemm"), None, [m, p, k, 1.0, 0.0, ba, bb, bc]).wait()
    np.testing.assert_allclose(bc.to_numpy(copy=True), a @ b, rtol=1e-5, atol=1e-5)


def test_prepared_dispatch_and_list_grids(device, queue):
    n = 1000
    x = np.arange(n, dtype=np.float32)
    bx, by = device.from_numpy(x, copy=True), device.buffer(n, np.float32)
    axpy = device.kernel("axpy")
    prepared = axpy.prepare(None, [n, 1.0, bx, by])
    assert prepared.args == (n, 1.0, bx, by) and "axpy" in repr(prepared)
    for _ in range(3):  # y += x, three times
        assert prepared.enqueue(queue, event=False) is None
    prepared[1] = 0.5  # the next ones add x / 2
    other = device.queue()
    ev = prepared.enqueue(other, wait_for=[queue.barrier()])
    assert isinstance(ev, aidev.Event)
    ev.wait(timeout=60)
    np.testing.assert_array_equal(by.to_numpy(copy=True), 3.5 * x)
    with pytest.raises(aidev.KernelArgsError, match="argument 2 'x': a Buffer declared"):
        prepared[2] = 1.0
    assert prepared.args[2] is bx  # unchanged after a refused replacement
    with pytest.raises(aidev.KernelArgsError, match="declares 4 arguments"):
        axpy.prepare(None, [n, 1.0, bx])
    # The library checks what it checks for any dispatch: y too small.
    small = axpy.prepare([n], [n, 1.0, bx, device.buffer(n // 2, np.float32)])
    with pytest.raises(aidev.KernelArgsError, match="axpy"):
        small.enqueue(queue)
    # A grid as a list, in Queue.dispatch too.
    queue.dispatch(axpy, [n], [n, 1.0, bx, by]).wait()
    np.testing.assert_array_equal(by.to_numpy(copy=True), 4.5 * x)
    other.release()


def test_library_listing():
    names = {s.name for s in aidev.library_kernels()}
    assert {"axpy", "sgemm", "softmax", "relu"} <= names
    sgemm = next(s for s in aidev.library_kernels() if s.name == "sgemm")
    assert sgemm.args[5] == aidev.ArgSpec("a", "buffer", aidev.Type.F32, "read", "m*k")
    assert sgemm.grid == ("n", "m", None)


def test_argument_errors_name_kernel_and_argument(device, queue):
    axpy = device.kernel("axpy")
    x = device.buffer(64, np.float32)
    y = device.buffer(64, np.float32)
    with pytest.raises(aidev.KernelArgsError, match="declares 4 arguments"):
        queue.dispatch(axpy, None, [64, 2.0, x])
    with pytest.raises(aidev.KernelArgsError, match="argument 0 'n': a u32 scalar declared, "
                                                     "float given"):
        queue.dispatch(axpy, None, [64.5, 2.0, x, y])
    with pytest.raises(aidev.KernelArgsError, match="argument 2 'x': a Buffer declared"):
        queue.dispatch(axpy, None, [64, 2.0, 3.0, y])
    with pytest.raises(aidev.KernelArgsError, match="does not fit"):
        queue.dispatch(axpy, None, [-1, 2.0, x, y])
    # The library's own checks: a buffer smaller than n elements.
    with pytest.raises(aidev.KernelArgsError) as err:
        queue.dispatch(axpy, None, [65, 2.0, x, y])
    assert "axpy" in err.value.message and err.value.status == aidev.Status.KERNEL_ARGS
    ints = device.buffer(64, np.int32)
    with pytest.raises(aidev.KernelArgsError, match="axpy"):
        queue.dispatch(axpy, None, [64, 2.0, ints, y])
    # NumPy scalars convert like Python numbers.
    queue.dispatch(axpy, None, [np.uint32(64), np.float32(2.0), x, y]).wait()


def test_unknown_kernel_and_compile_error(device):
    with pytest.raises(aidev.NotFoundError) as err:
        device.kernel("no_such_kernel")
    assert "no_such_kernel" in err.value.message
    if device.has(aidev.Feature.KERNEL_OPENCL_C):
        with pytest.raises(aidev.CompileError) as err:
            aidev.Kernel.from_opencl(device, "__kernel void broken( {", "broken", [])
        assert err.value.message  # the build log


def test_views_pass_their_offset(device, queue):
    n = 256
    base = device.buffer(2 * n, np.float32)
    queue.fill(base, 1.0)
    queue.dispatch(device.kernel("scale"), None, [n, 3.0, base[:n], base[n:]]).wait()
    out = base.to_numpy(copy=True)
    assert (out[:n] == 1.0).all() and (out[n:] == 3.0).all()

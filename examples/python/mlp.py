#!/usr/bin/env python3
"""The forward pass of a small MLP (784-256-10, ReLU, softmax) on any aidev
device, with the library's tensor ops (aidev.ops), checked against NumPy.

  mlp.py [DEVICE_INDEX]      (default: every device)
"""
import sys

import numpy as np

import aidev
from aidev import ops


def mlp_forward(device, x, w1, b1, w2, b2):
    """softmax(relu(x @ w1 + b1) @ w2 + b2), computed on |device|."""
    # The inputs zero copy where the device imports host memory.
    X, W1, B1, W2, B2 = (device.from_numpy(a) for a in (x, w1, b1, w2, b2))
    H = device.buffer((x.shape[0], w1.shape[1]), np.float32)
    Y = device.buffer((x.shape[0], w2.shape[1]), np.float32)
    with device.queue() as q:  # finishes at the end of the block
        ops.gemm(q, X, W1, H, B1, activation="relu")  # the bias and ReLU in the GEMM's epilogue
        ops.gemm(q, H, W2, Y, B2)
        ops.softmax(q, Y, Y)
    return Y.to_numpy()


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 784), np.float32)
    w1 = rng.standard_normal((784, 256), np.float32) / 28
    b1 = rng.standard_normal(256, np.float32) / 10
    w2 = rng.standard_normal((256, 10), np.float32) / 16
    b2 = rng.standard_normal(10, np.float32) / 10
    logits = np.maximum(x.astype(np.float64) @ w1 + b1, 0) @ w2 + b2
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    with aidev.Context() as ctx:
        devices = ctx.devices if len(sys.argv) < 2 else [ctx.devices[int(sys.argv[1])]]
        for device in devices:
            got = mlp_forward(device, x, w1, b1, w2, b2)
            error = np.abs(got - want).max()
            print("%-40s max |error| %.2e, classes %s" % (device.name, error, got[:4].argmax(1)))
            if error > 1e-5 or (got.argmax(1) != want.argmax(1)).any():
                sys.exit("%s: the forward pass differs from NumPy's" % device.name)


if __name__ == "__main__":
    main()

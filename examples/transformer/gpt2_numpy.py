"""gpt2_numpy.py - the decoder of gpt2.h in NumPy, reading the same weight
file: the reference the test (tests/examples/test_transformer.py) holds the
transformer example's logits to, and the baseline of the bench rows
model.decoder_tokens_per_s_* (bench/model/bench_model.py).

Computed in float32, as a NumPy user would write the model. With int8=True
every linear weight (the output layer's too) is first quantized as aidev
quantizes it, into ggml's Q8_0 blocks (d = amax / 127 per 32 values, codes
round(x / d) half away from zero, d stored as f16), and used dequantized.
"""
import numpy as np

HEADER_BYTES = 64
MAGIC = b"AIDEVGPT"
LAYER_PARTS = [("ln1_g", lambda d: (d,)), ("ln1_b", lambda d: (d,)),
               ("qkv_w", lambda d: (3 * d, d)), ("qkv_b", lambda d: (3 * d,)),
               ("proj_w", lambda d: (d, d)), ("proj_b", lambda d: (d,)),
               ("ln2_g", lambda d: (d,)), ("ln2_b", lambda d: (d,)),
               ("fc_w", lambda d: (4 * d, d)), ("fc_b", lambda d: (4 * d,)),
               ("fc2_w", lambda d: (d, 4 * d)), ("fc2_b", lambda d: (d,))]
LINEAR = ("qkv_w", "proj_w", "fc_w", "fc2_w")


def quantize_q8_0(w):
    """w [rows, cols] (cols a multiple of 32) through Q8_0 and back."""
    rows, cols = w.shape
    x = w.reshape(rows, cols // 32, 32).astype(np.float32)
    amax = np.abs(x).max(axis=2, keepdims=True)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    x0 = (x * inv).astype(np.float32).astype(np.float64)
    q = np.trunc(x0 + np.copysign(0.5, x0))
    d16 = d.astype(np.float16).astype(np.float32)
    return (q.astype(np.float32) * d16).reshape(rows, cols)


def load(path, int8=False):
    """The file's config (vocab, context, dim, heads, layers) and weights."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw[:8].tobytes() != MAGIC:
        raise ValueError(f"{path} is not a weight file")
    version, vocab, context, dim, heads, layers = raw[8:32].view("<u4")
    if version != 1:
        raise ValueError(f"{path}: version {version}")
    cfg = dict(vocab=int(vocab), context=int(context), dim=int(dim), heads=int(heads),
               layers=int(layers))
    floats = raw[HEADER_BYTES:].view("<f4")
    at = 0

    def take(shape):
        nonlocal at
        n = int(np.prod(shape))
        t = floats[at:at + n].reshape(shape).astype(np.float32)
        at += n
        return t

    d = cfg["dim"]
    p = dict(wte=take((cfg["vocab"], d)), wpe=take((cfg["context"], d)), layers=[])
    for _ in range(cfg["layers"]):
        layer = {name: take(shape(d)) for name, shape in LAYER_PARTS}
        if int8:
            for name in LINEAR:
                layer[name] = quantize_q8_0(layer[name])
        p["layers"].append(layer)
    p["lnf_g"], p["lnf_b"] = take((d,)), take((d,))
    if at != floats.size:
        raise ValueError(f"{path}: {floats.size - at} floats past the model")
    p["out_w"] = quantize_q8_0(p["wte"]) if int8 else p["wte"]
    return cfg, p


def layernorm(x, g, b, eps=np.float32(1e-5)):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


def gelu_tanh(x):
    c = np.float32(np.sqrt(2 / np.pi))
    return np.float32(0.5) * x * (1 + np.tanh(c * (x + np.float32(0.044715) * x ** 3)))


class Decoder:
    """The model with a KV cache: run(tokens) appends tokens to the
    sequence and returns their logits [n, V]."""

    def __init__(self, cfg, params):
        self.cfg, self.p = cfg, params
        h, t, hd = cfg["heads"], cfg["context"], cfg["dim"] // cfg["heads"]
        self.k = np.zeros((cfg["layers"], h, t, hd), np.float32)
        self.v = np.zeros_like(self.k)
        self.pos = 0

    def run(self, tokens):
        cfg, p = self.cfg, self.p
        n, pos, d, h = len(tokens), self.pos, cfg["dim"], cfg["heads"]
        hd = d // h
        x = p["wte"][np.asarray(tokens)] + p["wpe"][pos:pos + n]
        # Query i (position pos + i) sees keys up to its own position.
        causal = np.where(np.arange(pos + n)[None, :] <= pos + np.arange(n)[:, None],
                          np.float32(0), np.float32(-np.inf))
        for i, layer in enumerate(p["layers"]):
            qkv = layernorm(x, layer["ln1_g"], layer["ln1_b"]) @ layer["qkv_w"].T + layer["qkv_b"]
            q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(n, h, hd).transpose(1, 0, 2)
                       for j in range(3))
            self.k[i, :, pos:pos + n], self.v[i, :, pos:pos + n] = k, v
            scores = q @ self.k[i, :, :pos + n].transpose(0, 2, 1) / np.float32(np.sqrt(hd))
            scores = scores + causal
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            att = (scores / scores.sum(axis=-1, keepdims=True)) @ self.v[i, :, :pos + n]
            x = x + att.transpose(1, 0, 2).reshape(n, d) @ layer["proj_w"].T + layer["proj_b"]
            f = gelu_tanh(layernorm(x, layer["ln2_g"], layer["ln2_b"]) @ layer["fc_w"].T
                          + layer["fc_b"])
            x = x + f @ layer["fc2_w"].T + layer["fc2_b"]
        self.pos += n
        return layernorm(x, p["lnf_g"], p["lnf_b"]) @ p["out_w"].T


def generate(cfg, params, prompt, count):
    """The prompt in one pass, then |count| greedy tokens one at a time:
    the tokens and the logits of every position, as the example does."""
    dec = Decoder(cfg, params)
    tokens = list(prompt)
    logits = [dec.run(tokens)]
    for _ in range(count):
        tokens.append(int(np.argmax(logits[-1][-1])))
        logits.append(dec.run(tokens[-1:]))
    return tokens, np.concatenate(logits)

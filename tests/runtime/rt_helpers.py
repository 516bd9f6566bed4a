"""Shared builders for the runtime tests: random pruned networks and a dense oracle."""

import numpy as np

from sparsecore.runtime import csr

ACTS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "softmax"]


def backends():
    """Backends usable here (numba only when installed)."""
    return csr.available_backends()


def random_layers(rng, widths, acts, sparsity, structured=False, dtype=np.float64):
    """(kernel, bias, activation) triples with about ``sparsity`` zeros per kernel.

    Unstructured: exactly ``n - max(1, round(n * (1 - s)))`` random zeros.
    Structured: whole output neurons (kernel columns) zeroed, the same count.
    """
    layers = []
    for n_in, n_out, act in zip(widths[:-1], widths[1:], acts, strict=True):
        w = rng.standard_normal((n_in, n_out)).astype(dtype)
        if structured:
            k = max(1, round(n_out * (1 - sparsity)))
            dead = rng.permutation(n_out)[: n_out - k]
            w[:, dead] = 0
        else:
            k = max(1, round(w.size * (1 - sparsity)))
            flat = w.reshape(-1)
            flat[rng.permutation(w.size)[: w.size - k]] = 0
        b = (0.5 * rng.standard_normal(n_out)).astype(dtype)
        a = ("leaky_relu", 0.2) if act == "leaky_relu" else act
        layers.append((w, b, a))
    return layers


def dense_forward(layers, x):
    """Naive float64 forward pass: the oracle (samples on axis 0)."""
    h = np.asarray(x, np.float64)
    for w, b, act in layers:
        h = h @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
        name, alpha = act if isinstance(act, tuple) else (act, 0.3)
        if name == "relu":
            h = np.maximum(h, 0)
        elif name == "leaky_relu":
            h = np.where(h > 0, h, alpha * h)
        elif name == "tanh":
            h = np.tanh(h)
        elif name == "sigmoid":
            h = 1 / (1 + np.exp(-h))
        elif name == "softmax":
            e = np.exp(h - h.max(axis=1, keepdims=True))
            h = e / e.sum(axis=1, keepdims=True)
    return h


def cast_layers(layers, dtype):
    return [(w.astype(dtype), b.astype(dtype), a) for w, b, a in layers]


def tolerances(dtype, ref):
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    if np.dtype(dtype) == np.float32:
        return {"rtol": 1e-5, "atol": 1e-5 * scale}
    return {"rtol": 1e-12, "atol": 1e-12 * scale}


def tutorial_layers(sparsity, seed=0, structured=False, dtype=np.float32):
    """The tutorial network 1000 -> 1024 -> 1024 -> 1, magnitude-pruned."""
    rng = np.random.default_rng(seed)
    widths = [1000, 1024, 1024, 1]
    return random_layers(
        rng, widths, ["relu", "relu", "linear"], sparsity, structured, dtype
    )

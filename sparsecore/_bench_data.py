"""The benchmarked network: the pruned tutorial layers, their input, their sizes.

The sweep of :mod:`sparsecore.bench` runs on the tutorial network
(1000 -> 1024 -> 1024 -> 1, ReLU) pruned to each sparsity of the grid
(:data:`DEFAULT_SPARSITIES` x :data:`DEFAULT_BATCHES`, plus the
:data:`STRUCTURED_SPARSITY` neuron-pruned network).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .runtime import SparseModel

__all__ = [
    "DEFAULT_BATCHES",
    "DEFAULT_SPARSITIES",
    "STRUCTURED_SPARSITY",
    "TUTORIAL_WIDTHS",
    "file_sizes",
    "make_input",
    "pruned_tutorial_layers",
]

TUTORIAL_WIDTHS = (1000, 1024, 1024, 1)
DEFAULT_SPARSITIES = (0.0, 0.5, 0.75, 0.9, 0.95, 0.99)
DEFAULT_BATCHES = (1, 16, 256, 1024)
STRUCTURED_SPARSITY = 0.75

Layers = list[tuple[np.ndarray, np.ndarray, str]]


def pruned_tutorial_layers(
    sparsity: float,
    *,
    structured: bool = False,
    dtype: str = "float32",
    seed: int = 0,
    widths: Sequence[int] = TUTORIAL_WIDTHS,
) -> Layers:
    """The tutorial network with He-normal kernels, pruned to ``sparsity``.

    Parameters
    ----------
    sparsity : float in [0, 1)
        Fraction of zeros. Unstructured: every kernel keeps exactly
        ``max(1, round(n * (1 - sparsity)))`` weights of largest ``|w|``.
        Structured: every hidden layer keeps that many of its output neurons
        (kernel columns) by L1 norm; the output layer is left whole.
    structured : bool, default=False
    dtype : {'float32', 'float64'}
    seed : int
    widths : sequence of int
        Layer widths, input first.

    Returns
    -------
    list of (kernel, bias, activation)
        ``kernel`` of shape ``(n_in, n_out)``; ReLU on hidden layers.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be a float in [0, 1); got {sparsity!r}")
    rng = np.random.default_rng(seed)
    layers: Layers = []
    n_layers = len(widths) - 1
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)
        w = w.astype(dtype)
        b = (0.01 * rng.standard_normal(n_out)).astype(dtype)
        last = i == n_layers - 1
        if structured:
            if not last:
                k = max(1, round(n_out * (1 - sparsity)))
                keep = np.argsort(-np.abs(w).sum(axis=0), kind="stable")[:k]
                mask = np.zeros(n_out, bool)
                mask[keep] = True
                w[:, ~mask] = 0
        elif sparsity > 0:
            k = max(1, round(w.size * (1 - sparsity)))
            flat = np.abs(w).reshape(-1)
            keep = np.argpartition(-flat, k - 1)[:k]
            mask = np.zeros(w.size, bool)
            mask[keep] = True
            w = np.where(mask.reshape(w.shape), w, w.dtype.type(0))
        layers.append((w, b, "linear" if last else "relu"))
    return layers


@functools.lru_cache(maxsize=4)
def _cached_layers(sparsity: float, structured: bool, dtype: str) -> Layers:
    return pruned_tutorial_layers(sparsity, structured=structured, dtype=dtype)


def make_input(batch: int, n_in: int, dtype: str = "float32", seed: int = 1) -> Any:
    """A seeded standard-normal batch of shape ``(batch, n_in)``."""
    return np.random.default_rng(seed).standard_normal((batch, n_in)).astype(dtype)


def file_sizes(sparsity: float = 0.9) -> dict[str, int]:
    """Bytes of the pruned tutorial model: in memory and saved.

    Returns
    -------
    dict
        ``dense_float32`` (the kernels and biases as dense float32 arrays),
        ``csr_in_memory`` (:attr:`SparseModel.nbytes`, format="csr"),
        ``npz_dense``, ``npz_csr`` and ``npz_csr_compressed`` (file sizes).
    """
    import tempfile

    layers = _cached_layers(sparsity, False, "float32")
    dense = SparseModel.from_layers(layers, format="dense", compact=False)
    sparse = SparseModel.from_layers(layers, format="csr")
    out = {
        "dense_float32": sum(w.nbytes + b.nbytes for w, b, _ in layers),
        "csr_in_memory": sparse.nbytes,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, comp in (
            ("npz_dense", dense, False),
            ("npz_csr", sparse, False),
            ("npz_csr_compressed", sparse, True),
        ):
            path = os.path.join(tmp, name + ".npz")
            model.save(path, compressed=comp)
            out[name] = os.path.getsize(path)
    return out

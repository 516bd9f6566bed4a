"""The benchmarked networks: the pruned tutorial layers, their input, their sizes.

The sweep of :mod:`sparsecore.bench` runs on the tutorial network
(:data:`TUTORIAL_WIDTHS`: 1000 -> 1024 -> 1024 -> 1, ReLU) pruned to each
sparsity of the grid (:data:`DEFAULT_SPARSITIES` x :data:`DEFAULT_BATCHES`,
plus the :data:`STRUCTURED_SPARSITY` neuron-pruned network), pruned with
sparsecore's own criteria (:func:`~sparsecore.prune.magnitude_mask`,
:func:`~sparsecore.prune.structured_mask`). :func:`cached_layers` builds each
network once per process.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparsecore._checks import validate_sparsity
from sparsecore.prune import magnitude_mask, structured_mask
from sparsecore.runtime import SparseModel

__all__ = [
    "DEFAULT_BATCHES",
    "DEFAULT_SPARSITIES",
    "STRUCTURED_SPARSITY",
    "TUTORIAL_WIDTHS",
    "Layers",
    "cached_layers",
    "file_sizes",
    "make_input",
    "pruned_tutorial_layers",
]

TUTORIAL_WIDTHS = (1000, 1024, 1024, 1)
DEFAULT_SPARSITIES = (0.0, 0.5, 0.75, 0.9, 0.95, 0.99)
DEFAULT_BATCHES = (1, 16, 256, 1024)
STRUCTURED_SPARSITY = 0.75

#: A network as the runtime takes it: ``(kernel (n_in, n_out), bias (n_out,),
#: activation)`` per layer, input first.
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
        ``max(1, round_half_even(n * (1 - sparsity)))`` weights of largest
        ``|w|`` (:func:`~sparsecore.prune.magnitude_mask`). Structured: every
        hidden layer keeps that many of its output neurons (kernel columns) by
        L1 norm (:func:`~sparsecore.prune.structured_mask`, ``axis=1,
        norm=1``); the output layer is left whole. Ties go to the lower index.
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
    sparsity = validate_sparsity("sparsity", sparsity)
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
                mask = structured_mask(w, sparsity, axis=1, norm=1)
                w = np.where(mask, w, w.dtype.type(0))
        elif sparsity > 0:
            w = np.where(magnitude_mask(w, sparsity), w, w.dtype.type(0))
        layers.append((w, b, "linear" if last else "relu"))
    return layers


@functools.lru_cache(maxsize=4)
def cached_layers(
    sparsity: float,
    structured: bool,
    dtype: str,
    widths: tuple[int, ...] = TUTORIAL_WIDTHS,
) -> Layers:
    """:func:`pruned_tutorial_layers` (seed 0), built once per argument set.

    The sweep visits every batch size of a sparsity in turn, so the last few
    networks are kept (the tutorial one is 8 MB in float32). The layers are
    shared: do not modify them.
    """
    return pruned_tutorial_layers(
        sparsity, structured=structured, dtype=dtype, widths=widths
    )


def make_input(batch: int, n_in: int, dtype: str = "float32", seed: int = 1) -> Any:
    """A seeded standard-normal batch of shape ``(batch, n_in)``."""
    return np.random.default_rng(seed).standard_normal((batch, n_in)).astype(dtype)


def file_sizes(
    sparsity: float = 0.9, *, widths: Sequence[int] = TUTORIAL_WIDTHS
) -> dict[str, int]:
    """Bytes of the pruned tutorial model: in memory and saved.

    Parameters
    ----------
    sparsity : float in [0, 1), default=0.9
        Unstructured, as :func:`pruned_tutorial_layers`.
    widths : sequence of int, default=TUTORIAL_WIDTHS
        Layer widths, input first.

    Returns
    -------
    dict
        ``dense_float32`` (the kernels and biases as dense float32 arrays),
        ``csr_in_memory`` (:attr:`SparseModel.nbytes`, format="csr"),
        ``npz_dense``, ``npz_csr`` and ``npz_csr_compressed`` (file sizes).
    """
    import tempfile

    layers = cached_layers(sparsity, False, "float32", tuple(widths))
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

"""Seeded data builders for the benchmarks (cached: each network is built once).

The builders themselves live in :mod:`sparsecore.bench.networks` (re-exported
by :mod:`sparsecore.bench`) so that the ``sparsecore bench`` command uses the
very same data.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sparsecore.bench import make_input, pruned_tutorial_layers

__all__ = ["tutorial", "batch_input"]


@lru_cache(maxsize=16)
def tutorial(sparsity: float, structured: bool = False, dtype: str = "float32") -> Any:
    """The pruned tutorial network (1000 -> 1024 -> 1024 -> 1), seed 0."""
    return pruned_tutorial_layers(sparsity, structured=structured, dtype=dtype)


@lru_cache(maxsize=16)
def batch_input(batch: int, dtype: str = "float32") -> Any:
    """A seeded (batch, 1000) input."""
    return make_input(batch, 1000, dtype)

"""The Pruner's masks: which entries to keep, and keeping them at zero in place.

:func:`compute_masks` is the stateless part: given the weights and the
pruner's settings it dispatches to the criteria of
:mod:`sparsecore.prune.criteria`. :class:`MaskSet` is the state: the current
masks (read-only) and, per pruned weight, the mask as 0/1 in each dtype seen,
so that the per-step hooks multiply in place and allocate nothing of
parameter size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsecore.prune.criteria import (
    _top_k,
    global_magnitude_masks,
    keep_count,
    magnitude_mask,
    nm_mask,
    random_mask,
    structured_mask,
)

__all__ = ["Mask", "MaskSet", "compute_masks"]

Mask = NDArray[np.bool_]


def compute_masks(
    weights: Mapping[str, NDArray[Any]],
    sparsity: float,
    *,
    criterion: str,
    scope: str,
    prev: Mapping[str, Mask] | None,
    block_size: tuple[int, int],
    block_pooling: str,
    nm: tuple[int, int],
    axis: int,
    norm: int,
    seed: tuple[int, int],
) -> dict[str, Mask]:
    """New masks for `weights` at `sparsity`, as a :class:`Pruner` set up so.

    Parameters
    ----------
    weights : dict of str to ndarray
        The weights to prune, by name.
    sparsity : float
        The schedule's sparsity (ignored by ``criterion='nm'``).
    criterion, scope, block_size, block_pooling, nm, axis, norm
        As :class:`~sparsecore.prune.Pruner`.
    prev : dict of str to bool ndarray, optional
        The current masks: each new mask is ranked among the entries they
        keep (strict mode). None ranks from scratch.
    seed : tuple (seed, step)
        Seeds the generator of ``criterion='random'``.

    Returns
    -------
    dict of str to bool ndarray
        Same names and shapes as `weights` (True = kept).
    """
    if criterion == "nm":
        n_zeros, group = nm
        return {n: nm_mask(a, n_zeros, group, axis=axis) for n, a in weights.items()}
    if criterion == "magnitude" and scope == "global":
        return global_magnitude_masks(
            weights,
            sparsity,
            block_size=block_size,
            block_pooling=block_pooling,
            prev_masks=prev,
        )
    if criterion == "magnitude":
        return {
            n: magnitude_mask(
                a,
                sparsity,
                block_size=block_size,
                block_pooling=block_pooling,
                prev_mask=None if prev is None else prev[n],
            )
            for n, a in weights.items()
        }
    if criterion == "structured":
        return {
            n: structured_mask(
                a,
                sparsity,
                axis=axis,
                norm=norm,
                prev_mask=None if prev is None else prev[n],
            )
            for n, a in weights.items()
        }
    rng = np.random.default_rng(seed)
    if scope == "global":
        sizes = [a.size for a in weights.values()]
        eligible = None
        if prev is not None:
            eligible = np.concatenate([prev[n].reshape(-1) for n in weights])
        kept = _top_k(
            rng.random(sum(sizes)), keep_count(sum(sizes), sparsity), eligible
        )
        parts = np.split(kept, np.cumsum(sizes)[:-1])
        return {
            n: p.reshape(a.shape)
            for (n, a), p in zip(weights.items(), parts, strict=True)
        }
    return {
        n: random_mask(a, sparsity, rng, prev_mask=None if prev is None else prev[n])
        for n, a in weights.items()
    }


class MaskSet:
    """A mask per weight name, applied in place without allocating.

    Parameters
    ----------
    masks : dict of str to bool ndarray, optional
        Copied, as read-only bool arrays.

    Attributes
    ----------
    masks : dict of str to bool ndarray
        The masks (True = kept); read-only arrays.
    sparsity : float
        Fraction of the masks' entries that they prune.
    """

    def __init__(self, masks: Mapping[str, Any] | None = None) -> None:
        self.masks: dict[str, Mask] = {}
        # Per pruned weight (those whose mask prunes something): the mask as
        # 0/1 in each dtype seen, for in-place multiplication.
        self._factors: dict[str, dict[np.dtype[Any], NDArray[Any]]] = {}
        self._n_kept = self._n_total = 0
        for name, m in (masks or {}).items():
            m = np.array(m, dtype=bool, copy=True)
            m.setflags(write=False)
            self.masks[name] = m
            kept = int(np.count_nonzero(m))
            self._n_kept += kept
            self._n_total += m.size
            if kept < m.size:
                self._factors[name] = {}

    @property
    def sparsity(self) -> float:
        """Fraction of the masks' entries that they prune (0.0 without masks)."""
        return 1.0 - self._n_kept / self._n_total if self._n_total else 0.0

    def _factor(self, name: str, dtype: np.dtype[Any]) -> NDArray[Any]:
        by_dtype = self._factors[name]
        f = by_dtype.get(dtype)
        if f is None:
            f = by_dtype[dtype] = self.masks[name].astype(dtype)
        return f

    def _apply_one(self, name: str, a: Any) -> None:
        if isinstance(a, np.ndarray) and a.shape == self.masks[name].shape:
            np.multiply(a, self._factor(name, a.dtype), out=a)

    def apply(self, arrays: Mapping[str, Any]) -> None:
        """Multiply each pruned array by its mask. This is an *in place* operation.

        Names without a mask, and arrays of another shape, are left alone.
        """
        for name in self._factors:
            self._apply_one(name, arrays.get(name))

    def apply_to_optimizer_state(self, optimizer: Any) -> None:
        """Zero every slot array of `optimizer` at pruned positions, in place."""
        state = getattr(optimizer, "state", None)
        if not state:
            return
        for name in self._factors:
            for a in state.get(name, {}).values():
                self._apply_one(name, a)

"""Mask criteria: which weights to keep, as plain functions on NumPy arrays.

Every function returns a bool mask of the weight's shape, True = kept, False =
pruned, and needs no model: this is what makes the engine framework-agnostic.

A target sparsity ``s`` over ``n`` units (weights, blocks or channels) keeps
exactly

.. math:: k = \\max(1, \\mathrm{round\\_half\\_even}(n (1 - s)))

units, those of largest score, ties broken towards the lower flat index.
tfmot uses the same ``k`` but keeps every weight tied with the k-th largest, so
with ties it can keep more; without ties the masks are identical.

Every ranking criterion takes an optional ``prev_mask``: units that mask prunes
rank below every unit it keeps, so the new mask is a subset of ``prev_mask``
whenever it keeps no more units (the strict pruning dynamics of
:class:`~sparsecore.prune.Pruner`), and a superset otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import (
    validate_axis,
    validate_choice,
    validate_int,
    validate_pair,
    validate_sparsity,
    validate_type,
)

__all__ = [
    "BLOCK_POOLING",
    "global_magnitude_masks",
    "global_random_masks",
    "keep_count",
    "magnitude_mask",
    "nm_mask",
    "random_mask",
    "structured_mask",
    "validate_block",
]

#: Block pooling functions (tfmot's ``block_pooling_type`` 'AVG' and 'MAX').
BLOCK_POOLING = ("avg", "max")

Mask = NDArray[np.bool_]


# --------------------------------------------------------------------- validation
def _validate_weights(w: ArrayLike, name: str = "w") -> NDArray[Any]:
    arr = np.asarray(w)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(
            f"{name} must have at least one element; got shape {arr.shape}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} must contain only finite values; got {bad} NaN or inf"
        )
    return arr


def _validate_prev(
    prev: ArrayLike | None, shape: tuple[int, ...], name: str
) -> Mask | None:
    if prev is None:
        return None
    arr = np.asarray(prev)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name} must be a bool array; got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    return arr


def validate_block(block_size: Any, block_pooling: Any) -> tuple[tuple[int, int], str]:
    """Check a block shape ``(height, width)`` and a pooling name; normalise them.

    Raises
    ------
    ValueError
        If `block_size` is not a pair of ints >= 1 or `block_pooling` is not
        one of :data:`BLOCK_POOLING` (case-insensitive).
    """
    block = validate_pair(
        "block_size", block_size, 1, "a pair (height, width) of ints >= 1"
    )
    pooling = block_pooling.lower() if isinstance(block_pooling, str) else block_pooling
    return block, validate_choice("block_pooling", pooling, BLOCK_POOLING)


def keep_count(n: int, sparsity: float) -> int:
    """Number of units kept at `sparsity`: ``max(1, round_half_even(n * (1 - s)))``.

    Parameters
    ----------
    n : int
        Number of units, in [1, inf).
    sparsity : float
        In [0, 1).

    Returns
    -------
    int
        In [1, n].

    Examples
    --------
    >>> keep_count(5, 0.5), keep_count(1000, 0.999), keep_count(4, 0.99)
    (2, 1, 1)
    """
    n = validate_int("n", n, 1)
    sparsity = validate_sparsity("sparsity", sparsity)
    # Python's round() rounds half to even, as tf.math.round.
    return max(1, int(round(n * (1.0 - sparsity))))


# --------------------------------------------------------------------- top-k
def _kth_largest_positive(x: NDArray[Any], k: int) -> Any:
    """The k-th largest value of `x`, known to be > 0; exact, O(n).

    A strided sample brackets the answer, so only the few values inside the
    bracket are partitioned (about 3x faster than ``np.partition`` on 1e6
    values, and it never partitions the many equal values <= 0). If the
    bracket misses, fall back to partitioning everything.
    """
    m = x.size
    r = m - k  # position in ascending order
    if m > 65536:
        sample = np.sort(x[:: m // 4096])
        q = r * (sample.size - 1) // (m - 1)
        lo = sample[max(0, q - 96)]
        hi = sample[min(sample.size - 1, q + 96)]
        if lo <= 0:  # the answer is positive: keep the values <= 0 out
            lo = np.nextafter(x.dtype.type(0), x.dtype.type(1))
        below = int(np.count_nonzero(x < lo))
        inside = x[(x >= lo) & (x <= hi)]
        if below <= r < below + inside.size:
            return np.partition(inside, r - below)[r - below]
    return np.partition(x, r)[r]


def _top_k(scores: NDArray[Any], k: int, eligible: Mask | None = None) -> Mask:
    """Keep exactly `k` of the 1-D non-negative `scores`, largest first.

    Ties go to the lower index. Entries not `eligible` rank below every
    eligible one (then by index). Runs in O(n). Exact zeros and ineligible
    entries, which can be most of the array, are counted rather than ranked.
    """
    n = scores.size
    if k >= n:
        return np.ones(n, dtype=bool)
    out = scores > 0  # the candidates for ranking
    if eligible is not None:
        out &= eligible
    n_c = int(np.count_nonzero(out))
    if k >= n_c:  # all candidates, then eligible zeros, then the rest, by index
        if eligible is not None:
            extra = np.flatnonzero(eligible & ~out)[: k - n_c]
            out[extra] = True
            n_c += extra.size
            if k > n_c:
                out[np.flatnonzero(~eligible)[: k - n_c]] = True
            return out
        out[np.flatnonzero(~out)[: k - n_c]] = True
        return out
    # Non-candidates become -1: below every candidate, never above the threshold.
    x = scores if n_c == n else np.where(out, scores, scores.dtype.type(-1))
    threshold = _kth_largest_positive(x, k)
    np.greater(x, threshold, out=out)
    missing = k - int(np.count_nonzero(out))
    if missing > 0:
        out[np.flatnonzero(x == threshold)[:missing]] = True
    return out


class _Units(NamedTuple):
    """What a magnitude ranking sees of one weight array."""

    scores: NDArray[Any]  # 1-D, >= 0: |w| per weight or pooled |w| per block
    eligible: Mask | None  # 1-D: units kept by the previous mask
    expand: Callable[[Mask], Mask]  # 1-D unit mask -> mask of w's shape


def _magnitude_units(
    w: NDArray[Any],
    block: tuple[int, int],
    pooling: str,
    prev: Mask | None,
    name: str,
) -> _Units:
    shape = w.shape
    a = np.abs(w) if w.dtype.kind == "f" else np.abs(w.astype(np.float64))
    if block == (1, 1):
        return _Units(
            a.reshape(-1),
            None if prev is None else prev.reshape(-1),
            lambda m: m.reshape(shape),
        )
    if w.ndim != 2:
        raise ValueError(f"block_size {block} needs a rank-2 {name}; got shape {shape}")
    # One grid aligned at (0, 0); the last row/column of blocks may be partial.
    (H, W), (bh, bw) = shape, block
    nbh, nbw = -(-H // bh), -(-W // bw)
    padded = np.zeros((nbh * bh, nbw * bw), dtype=np.float64)
    padded[:H, :W] = a
    tiles = padded.reshape(nbh, bh, nbw, bw)
    if pooling == "max":
        pooled = tiles.max(axis=(1, 3))  # padding is 0 <= |w|: no effect
    else:  # mean over the block's real elements, as TF's avg_pool
        rows = np.minimum(bh, H - bh * np.arange(nbh))
        cols = np.minimum(bw, W - bw * np.arange(nbw))
        pooled = tiles.sum(axis=(1, 3)) / np.outer(rows, cols)
    eligible = None
    if prev is not None:  # a block stays eligible only if all of it was kept
        pad = np.ones((nbh * bh, nbw * bw), dtype=bool)
        pad[:H, :W] = prev
        eligible = pad.reshape(nbh, bh, nbw, bw).all(axis=(1, 3)).reshape(-1)

    def expand(m: Mask) -> Mask:
        full = np.repeat(np.repeat(m.reshape(nbh, nbw), bh, axis=0), bw, axis=1)
        return np.ascontiguousarray(full[:H, :W])

    return _Units(pooled.reshape(-1), eligible, expand)


# --------------------------------------------------------------------- criteria
def magnitude_mask(
    w: ArrayLike,
    sparsity: float,
    *,
    block_size: tuple[int, int] = (1, 1),
    block_pooling: str = "avg",
    prev_mask: ArrayLike | None = None,
) -> Mask:
    """Keep the ``k`` weights (or blocks) of largest magnitude.

    Parameters
    ----------
    w : ndarray of any shape
        Weights; must be finite.
    sparsity : float
        Fraction to prune, in [0, 1).
    block_size : tuple (height, width), default=(1, 1)
        Rank whole blocks instead of single weights (rank-2 `w` only). Blocks
        tile `w` from ``(0, 0)``; the last row and column of blocks may be
        partial.
    block_pooling : {'avg', 'max'}, default='avg'
        How a block's |w| are pooled into its score (mean over the block's
        real elements, or max).
    prev_mask : bool ndarray of `w`'s shape, optional
        Rank the weights (blocks) it keeps above those it prunes.

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        True = kept; exactly ``k = max(1, round_half_even(n * (1 - sparsity)))``
        weights kept, or ``k`` blocks when ranking ``n`` blocks.

    Raises
    ------
    ValueError
        If `sparsity` is outside [0, 1), `w` is empty or not finite, or
        `block_size`/`block_pooling` is invalid or used with a `w` that is not
        rank 2.

    Notes
    -----
    Ties in |w| keep the lower flat index first. tfmot keeps every weight
    tied with the k-th largest; the two agree whenever there are no ties.
    For a block that does not divide the shape tfmot pools on a grid padded
    on both sides but expands on a grid aligned at 0; sparsecore uses one grid
    aligned at 0 for both (they agree when the block divides the shape).

    Examples
    --------
    >>> magnitude_mask(np.array([0.1, -3.0, 2.0, 0.5]), 0.5)
    array([False,  True,  True, False])
    """
    arr = _validate_weights(w)
    sparsity = validate_sparsity("sparsity", sparsity)
    block, pooling = validate_block(block_size, block_pooling)
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    units = _magnitude_units(arr, block, pooling, prev, "w")
    k = keep_count(units.scores.size, sparsity)
    return units.expand(_top_k(units.scores, k, units.eligible))


def global_magnitude_masks(
    weights: Mapping[str, ArrayLike],
    sparsity: float,
    *,
    block_size: tuple[int, int] = (1, 1),
    block_pooling: str = "avg",
    prev_masks: Mapping[str, ArrayLike] | None = None,
) -> dict[str, Mask]:
    """One magnitude ranking over several arrays ("global" scope).

    Parameters
    ----------
    weights : dict of str to ndarray
        The arrays to rank together; ties go to the earlier array, then the
        lower flat index.
    sparsity : float
        Fraction of all weights (or blocks) to prune, in [0, 1).
    block_size, block_pooling
        As :func:`magnitude_mask` (every array must then be rank 2).
    prev_masks : dict of str to bool ndarray, optional
        As `prev_mask` of :func:`magnitude_mask`, one per array.

    Returns
    -------
    masks : dict of str to bool ndarray
        Same keys and shapes as `weights`; exactly
        ``max(1, round_half_even(n_total * (1 - sparsity)))`` units kept in
        total. Individual arrays may end up at any sparsity, even fully pruned.

    Raises
    ------
    ValueError
        As :func:`magnitude_mask`, or if `weights` is empty or `prev_masks`
        lacks a key.
    """
    if not isinstance(weights, Mapping) or len(weights) == 0:
        raise ValueError(f"weights must be a non-empty dict of arrays; got {weights!r}")
    sparsity = validate_sparsity("sparsity", sparsity)
    block, pooling = validate_block(block_size, block_pooling)
    if prev_masks is not None and set(prev_masks) != set(weights):
        raise ValueError(
            f"prev_masks must have the keys of weights {sorted(weights)}; "
            f"got {sorted(prev_masks)}"
        )
    units = {}
    for name, w in weights.items():
        arr = _validate_weights(w, f"weights[{name!r}]")
        prev = None
        if prev_masks is not None:
            prev = _validate_prev(prev_masks[name], arr.shape, f"prev_masks[{name!r}]")
        units[name] = _magnitude_units(arr, block, pooling, prev, f"weights[{name!r}]")
    scores = np.concatenate([u.scores for u in units.values()])
    eligible = None
    if prev_masks is not None:
        eligible = np.concatenate([u.eligible for u in units.values()])
    kept = _top_k(scores, keep_count(scores.size, sparsity), eligible)
    out, start = {}, 0
    for name, u in units.items():
        stop = start + u.scores.size
        out[name] = u.expand(kept[start:stop])
        start = stop
    return out


def structured_mask(
    w: ArrayLike,
    sparsity: float,
    *,
    axis: int = 1,
    norm: int = 1,
    prev_mask: ArrayLike | None = None,
) -> Mask:
    """Keep whole slices ``w[..., j, ...]`` along `axis`, ranked by their Ln norm.

    Parameters
    ----------
    w : ndarray of shape (..., n_channels, ...)
        Weights; must be finite. For a Dense kernel ``(n_in, n_out)``,
        ``axis=1`` ranks output neurons (columns), ``axis=0`` input features.
    sparsity : float
        Fraction of channels to prune, in [0, 1).
    axis : int, default=1
        The channel axis.
    norm : {1, 2}, default=1
        L1 or L2 norm of each channel.
    prev_mask : bool ndarray of `w`'s shape, optional
        Channels it does not keep entirely rank below the others.

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        Constant along every axis but `axis`; exactly
        ``max(1, round_half_even(n_channels * (1 - sparsity)))`` channels kept,
        ties to the lower channel index.

    Raises
    ------
    IndexError
        If `axis` is out of range.
    ValueError
        If `sparsity` is outside [0, 1), `norm` is not 1 or 2, or `w` is empty
        or not finite.
    """
    arr = _validate_weights(w)
    sparsity = validate_sparsity("sparsity", sparsity)
    axis = validate_axis("axis", axis, arr.ndim, arr.shape)
    validate_choice("norm", norm, (1, 2))
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    other = tuple(i for i in range(arr.ndim) if i != axis)
    a = arr.astype(np.float64, copy=False)
    if norm == 1:
        scores = np.sum(np.abs(a), axis=other)
    else:
        scores = np.sqrt(np.sum(np.square(a), axis=other))
    eligible = None if prev is None else np.asarray(prev.all(axis=other))
    kept = _top_k(scores, keep_count(scores.size, sparsity), eligible)
    view = [1] * arr.ndim
    view[axis] = arr.shape[axis]
    return np.broadcast_to(kept.reshape(view), arr.shape).copy()


def nm_mask(w: ArrayLike, n_zeros: int, group: int, *, axis: int = 0) -> Mask:
    """N:M sparsity: prune `n_zeros` of every `group` consecutive weights along `axis`.

    Parameters
    ----------
    w : ndarray of shape (..., d, ...)
        Weights; must be finite; ``d = w.shape[axis]`` must be a multiple of
        `group`.
    n_zeros : int
        Weights pruned per group, in [0, group).
    group : int
        Group length, in [1, inf). ``n_zeros=2, group=4`` is 2:4 sparsity.
    axis : int, default=0
        Axis along which groups run; 0 is the input dimension of a Dense
        kernel ``(n_in, n_out)``, as tfmot's ``sparsity_m_by_n``.

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        In every group exactly ``group - n_zeros`` kept: the largest |w|, ties
        to the lower index (as ``tf.math.top_k``).

    Raises
    ------
    IndexError
        If `axis` is out of range.
    ValueError
        If `group` does not divide ``w.shape[axis]``, `n_zeros` is outside
        [0, group), or `w` is empty or not finite.
    """
    arr = _validate_weights(w)
    group = validate_int("group", group, 1)
    n_zeros = validate_int("n_zeros", n_zeros, 0)
    if n_zeros >= group:
        raise ValueError(
            f"n_zeros must be an int in [0, group) = [0, {group}); got {n_zeros!r}"
        )
    axis = validate_axis("axis", axis, arr.ndim, arr.shape)
    d = arr.shape[axis]
    if d % group:
        raise ValueError(
            f"group must divide w.shape[{axis}] = {d}; got group={group!r}"
        )
    if n_zeros == 0:
        return np.ones(arr.shape, dtype=bool)
    a = np.moveaxis(np.abs(arr.astype(np.float64, copy=False)), axis, -1)
    moved = a.shape
    groups = a.reshape(*moved[:-1], d // group, group)
    # Stable sort of -|w|: equal magnitudes keep their order (lower index first).
    order = np.argsort(-groups, axis=-1, kind="stable")
    kept = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(kept, order[..., : group - n_zeros], True, axis=-1)
    return np.ascontiguousarray(np.moveaxis(kept.reshape(moved), -1, axis))


def random_mask(
    w: ArrayLike,
    sparsity: float,
    rng: np.random.Generator,
    *,
    prev_mask: ArrayLike | None = None,
) -> Mask:
    """Keep ``k`` weights chosen uniformly at random (the baseline criterion).

    Parameters
    ----------
    w : ndarray of any shape
        Only its shape is used (it must still be finite).
    sparsity : float
        Fraction to prune, in [0, 1).
    rng : numpy.random.Generator
        The only source of randomness.
    prev_mask : bool ndarray of `w`'s shape, optional
        Only weights it keeps are drawn (while enough remain).

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        Exactly ``max(1, round_half_even(n * (1 - sparsity)))`` kept.

    Raises
    ------
    TypeError
        If `rng` is not a ``numpy.random.Generator``.
    ValueError
        If `sparsity` is outside [0, 1), or `w` is empty or not finite.
    """
    arr = _validate_weights(w)
    sparsity = validate_sparsity("sparsity", sparsity)
    validate_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    scores = rng.random(arr.size)
    eligible = None if prev is None else prev.reshape(-1)
    kept = _top_k(scores, keep_count(arr.size, sparsity), eligible)
    return kept.reshape(arr.shape)


def global_random_masks(
    weights: Mapping[str, ArrayLike],
    sparsity: float,
    rng: np.random.Generator,
    *,
    prev_masks: Mapping[str, ArrayLike] | None = None,
) -> dict[str, Mask]:
    """One random draw over several arrays ("global" scope of the random criterion).

    Parameters
    ----------
    weights : dict of str to ndarray
        Only their shapes are used (they must still be finite).
    sparsity : float
        Fraction of all entries to prune, in [0, 1).
    rng : numpy.random.Generator
        The only source of randomness.
    prev_masks : dict of str to bool ndarray, optional
        Only entries they keep are drawn (while enough remain).

    Returns
    -------
    masks : dict of str to bool ndarray
        Same keys and shapes as `weights`; exactly
        ``max(1, round_half_even(n_total * (1 - sparsity)))`` entries kept in
        total, uniformly at random over all of them.
    """
    if not isinstance(weights, Mapping) or len(weights) == 0:
        raise ValueError(f"weights must be a non-empty dict of arrays; got {weights!r}")
    sparsity = validate_sparsity("sparsity", sparsity)
    validate_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    arrays = {n: _validate_weights(w, f"weights[{n!r}]") for n, w in weights.items()}
    sizes = [a.size for a in arrays.values()]
    eligible = None
    if prev_masks is not None:
        if set(prev_masks) != set(arrays):
            raise ValueError(
                f"prev_masks must have the keys of weights {sorted(arrays)}; "
                f"got {sorted(prev_masks)}"
            )
        parts = []
        for n, a in arrays.items():
            prev = _validate_prev(prev_masks[n], a.shape, f"prev_masks[{n!r}]")
            parts.append(np.asarray(prev).reshape(-1))
        eligible = np.concatenate(parts)
    total = sum(sizes)
    kept = _top_k(rng.random(total), keep_count(total, sparsity), eligible)
    pieces = np.split(kept, np.cumsum(sizes)[:-1])
    return {
        n: p.reshape(a.shape) for (n, a), p in zip(arrays.items(), pieces, strict=True)
    }

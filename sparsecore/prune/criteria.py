"""Mask criteria: which weights to keep, as plain functions on NumPy arrays.

Every function returns a bool mask of the weight's shape, True = kept, False =
pruned, and needs no model: this is what makes the engine framework-agnostic.

How many units (weights, blocks or channels) a mask keeps
--------------------------------------------------------
The amount to prune is given in one of two ways:

- ``sparsity=s`` (tfmot's rule), a float in [0, 1): of ``n`` units keep

  .. math:: k = \\max(1, \\mathrm{round\\_half\\_even}(\\mathrm{f32}(n)
            \\cdot (1 - \\mathrm{f32}(s))))

  computed in float32 exactly as ``tfmot.sparsity.keras`` does
  (:func:`keep_count`);
- ``amount=a`` (torch.nn.utils.prune's rule): a float in [0, 1] prunes
  ``round(a * n)`` units (Python's ``round``, half to even), an int prunes
  exactly ``a`` units (:func:`prune_count`); this can prune everything.

The mask keeps exactly that many units, those of largest score (``|w|``, or
``|scores|`` when `scores` is given, as torch's ``importance_scores``), ties
broken towards the lower flat index. tfmot uses the same ``k`` but keeps every
weight tied with the k-th largest, so with ties it can keep more; without
ties the masks are identical.

Pruning a pruned tensor (torch's ``PruningContainer``)
------------------------------------------------------
Every criterion takes an optional ``prev_mask``. Units it prunes entirely
(a weight it prunes; a block or channel none of whose entries it keeps) are
*not eligible*: the new mask keeps them only when it must keep more units
than remain eligible. So:

- old zeros stay zero whenever the new mask keeps no more units than remain
  (always with ``of_remaining=True``, and under any non-decreasing schedule);
- the amount is taken of all units by default (``sparsity=0.8`` means 80 % of
  the tensor), or of the eligible units with ``of_remaining=True`` (torch's
  iterative pruning: "prune 20 % of what remains");
- when more units must be kept than remain eligible, the pruned units of
  largest score are re-admitted (never by position);
- a kept block or channel keeps the zeros ``prev_mask`` has inside it.

Ranking uses the scores of `w` (or `scores`) as given; pass ``w * prev_mask``
to rank channels by their remaining entries only.

Empty arrays give empty masks (as torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import (
    is_int,
    is_real,
    validate_array,
    validate_axis,
    validate_bool,
    validate_choice,
    validate_int,
    validate_pair,
    validate_sparsity,
    validate_type,
)

__all__ = [
    "BLOCK_POOLING",
    "LAST_CHANNELS",
    "global_magnitude_masks",
    "global_random_masks",
    "is_pruned_m_by_n",
    "keep_count",
    "magnitude_mask",
    "nm_mask",
    "prune_count",
    "random_mask",
    "random_structured_mask",
    "structured_mask",
    "top_k_mask",
    "validate_amount",
    "validate_block",
    "validate_norm",
]

#: Block pooling functions (tfmot's ``block_pooling_type`` 'AVG' and 'MAX').
BLOCK_POOLING = ("avg", "max")
#: ``last_channel`` values of :func:`is_pruned_m_by_n` (tfmot's).
LAST_CHANNELS = ("C_IN", "C_OUT")

Mask = NDArray[np.bool_]


# --------------------------------------------------------------------- validation
def _validate_weights(w: ArrayLike, name: str = "w") -> NDArray[Any]:
    arr = np.asarray(w)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} must contain only finite values; got {bad} NaN or inf"
        )
    return arr


def _validate_scores(
    scores: ArrayLike | None, shape: tuple[int, ...], name: str
) -> NDArray[Any] | None:
    if scores is None:
        return None
    arr = _validate_weights(scores, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
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


def validate_norm(norm: Any) -> float:
    """An Ln norm order ``p`` in (0, inf] (``math.inf``: the max norm).

    Ints stay ints (``1``, ``2``), so a config round-trips exactly.

    Raises
    ------
    TypeError
        If `norm` is not a real number (a bool is not).
    ValueError
        If it is NaN or not in (0, inf].
    """
    constraint = "a float in (0, inf] (math.inf for the max norm)"
    if not is_real(norm):
        raise TypeError(f"norm must be {constraint}; got {norm!r}")
    if is_int(norm):
        if norm <= 0:
            raise ValueError(f"norm must be {constraint}; got {norm!r}")
        return int(norm)
    value = float(norm)
    if not value > 0:  # also NaN
        raise ValueError(f"norm must be {constraint}; got {norm!r}")
    return value


def validate_amount(amount: Any) -> int | float:
    """torch's ``amount``: an int count in [0, inf) or a float fraction in [0, 1].

    Raises
    ------
    TypeError
        If `amount` is not a real number (a bool is not).
    ValueError
        If it is outside those ranges or NaN.
    """
    constraint = "an int in [0, inf) or a float in [0, 1]"
    if not is_real(amount):
        raise TypeError(f"amount must be {constraint}; got {amount!r}")
    if is_int(amount):
        if amount < 0:
            raise ValueError(f"amount must be {constraint}; got {amount!r}")
        return int(amount)
    value = float(amount)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"amount must be {constraint}; got {amount!r}")
    return value


def _validate_target(
    sparsity: Any, amount: Any
) -> tuple[float | None, int | float | None]:
    """Exactly one of `sparsity` (tfmot's rule) and `amount` (torch's rule)."""
    if sparsity is None and amount is None:
        raise TypeError(
            "sparsity must be a float in [0, 1) (or give amount=A, an int count "
            "or a float in [0, 1]); got None"
        )
    if sparsity is not None and amount is not None:
        raise TypeError(
            f"give sparsity or amount, not both; got sparsity={sparsity!r} and "
            f"amount={amount!r}"
        )
    if sparsity is not None:
        return validate_sparsity("sparsity", sparsity), None
    return None, validate_amount(amount)


def keep_count(n: int, sparsity: float) -> int:
    """Units kept at `sparsity`, tfmot's rule in tfmot's float32 arithmetic.

    Parameters
    ----------
    n : int
        Number of units, in [1, inf).
    sparsity : float
        In [0, 1).

    Returns
    -------
    int
        ``max(1, round_half_even(float32(n) * (1 - float32(sparsity))))``,
        at most `n`.

    Notes
    -----
    tfmot (``pruning_impl.Pruning._update_mask``) computes
    ``k = cast(max(round(cast(size, float32) * (1 - sparsity)), 1), int32)``
    with `sparsity` a float32 tensor, so every step rounds to float32:
    ``1 - s``, then the product, then ``round`` (half to even). Computed in
    float64 instead, k differs by one for 4,989 of the 5,000,000 pairs
    ``n <= 5000``, ``s`` on a 0.001 grid (e.g. ``n=15, s=0.9``: tfmot keeps 2,
    float64 gives 1). For ``n > 2**24`` ``float32(n)`` is inexact, as in tfmot;
    the result is clipped to `n`.

    Examples
    --------
    >>> keep_count(5, 0.5), keep_count(1000, 0.999), keep_count(15, 0.9)
    (2, 1, 2)
    """
    n = validate_int("n", n, 1)
    sparsity = validate_sparsity("sparsity", sparsity)
    one = np.float32(1.0)
    k = np.rint(np.float32(n) * (one - np.float32(sparsity)))  # rint: half to even
    return min(n, max(1, int(k)))


def prune_count(n: int, amount: int | float) -> int:
    """Units pruned by torch's `amount` over `n` units.

    Parameters
    ----------
    n : int
        Number of units, in [0, inf).
    amount : int or float
        An int prunes exactly that many (at most `n`); a float in [0, 1]
        prunes ``round(amount * n)`` (Python's ``round``, half to even, in
        float64), as ``torch.nn.utils.prune._compute_nparams_toprune``.

    Returns
    -------
    int
        In [0, n].

    Raises
    ------
    ValueError
        If an int `amount` exceeds `n` (torch's ``_validate_pruning_amount``).

    Examples
    --------
    >>> prune_count(17, 0.4), prune_count(15, 1), prune_count(15, 1.0)
    (7, 1, 15)
    """
    n = validate_int("n", n, 0)
    amount = validate_amount(amount)
    if isinstance(amount, int):
        if amount > n:
            raise ValueError(
                f"amount must be an int in [0, {n}] (the number of units to "
                f"prune from); got {amount!r}"
            )
        return amount
    return int(round(amount * n))


def _n_keep(
    n: int,
    n_eligible: int,
    sparsity: float | None,
    amount: int | float | None,
    of_remaining: bool,
) -> int:
    """Units to keep: of all `n`, or of the `n_eligible` with `of_remaining`."""
    base = n_eligible if of_remaining else n
    if base == 0:
        return 0
    if sparsity is not None:
        return keep_count(base, sparsity)
    assert amount is not None  # internal: _validate_target gave one of the two
    return base - prune_count(base, amount)


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


def _select_top(x: NDArray[Any], k: int) -> Mask:
    """Keep exactly `k` of the 1-D `x`: scores >= 0, or -1 for excluded entries.

    Largest first, ties to the lower index; exact zeros come after every
    positive score and before the excluded (-1) entries, both by index. Runs
    in O(n); the zeros and excluded entries, which can be most of the array,
    are counted rather than ranked.
    """
    n = x.size
    if k >= n:
        return np.ones(n, dtype=bool)
    if k <= 0:
        return np.zeros(n, dtype=bool)
    out = x > 0
    n_pos = int(np.count_nonzero(out))
    if k >= n_pos:  # every positive score, then zeros, then excluded, by index
        if k > n_pos:
            zeros = np.flatnonzero(x == 0)[: k - n_pos]
            out[zeros] = True
            if k > n_pos + zeros.size:
                out[np.flatnonzero(x < 0)[: k - n_pos - zeros.size]] = True
        return out
    threshold = _kth_largest_positive(x, k)
    np.greater(x, threshold, out=out)
    missing = k - int(np.count_nonzero(out))
    if missing > 0:
        out[np.flatnonzero(x == threshold)[:missing]] = True
    return out


def _top_k(scores: NDArray[Any], k: int, eligible: Mask | None = None) -> Mask:
    """Keep exactly `k` of the 1-D non-negative `scores`, largest first.

    Ties go to the lower index. With `eligible`, the eligible entries come
    first (by score); only when `k` exceeds their number are ineligible ones
    added, again by score.
    """
    if eligible is None:
        return _select_top(scores, k)
    n_eligible = int(np.count_nonzero(eligible))
    minus_one = scores.dtype.type(-1)
    if k <= n_eligible:
        return _select_top(np.where(eligible, scores, minus_one), k)
    # All the eligible, then the best k - n_eligible of the others.
    out = _select_top(np.where(eligible, minus_one, scores), k - n_eligible)
    out |= eligible
    return out


def top_k_mask(scores: ArrayLike, k: int, eligible: ArrayLike | None = None) -> Mask:
    """Keep the `k` entries of largest score (ties: lower flat index first).

    Parameters
    ----------
    scores : ndarray of any shape
        Finite real scores (any sign).
    k : int
        Entries to keep, in [0, scores.size].
    eligible : bool ndarray of `scores`' shape, optional
        Entries not eligible rank below every eligible one.

    Returns
    -------
    mask : bool ndarray of `scores`' shape
        Exactly `k` True.

    Examples
    --------
    >>> top_k_mask(np.array([0.5, -1.0, 2.0, 0.5]), 2)
    array([ True, False,  True, False])
    """
    s = validate_array("scores", scores, kinds="iuf")
    k = validate_int("k", k, 0, s.size)
    flat = s.reshape(-1)
    if flat.dtype.kind != "f":
        flat = flat.astype(np.float64)
    if not np.isfinite(flat).all():
        raise ValueError("scores must contain only finite values")
    e = None
    if eligible is not None:
        e = np.asarray(eligible)
        if e.dtype != np.bool_ or e.shape != s.shape:
            raise ValueError(
                f"eligible must be a bool array of shape {s.shape}; "
                f"got {e.dtype} of shape {e.shape}"
            )
        e = e.reshape(-1)
    if flat.size == 0 or flat.min() >= 0:  # |w|, |g w|, SynFlow, random: O(n)
        return _top_k(flat, k, e).reshape(s.shape)
    # Signed scores (GraSP, movement): lexsort is stable and sorts by the last
    # key first: eligibility, then score (descending), then position.
    keys = (-flat,) if e is None else (-flat, ~e)
    order = np.lexsort(keys)
    out = np.zeros(flat.size, dtype=bool)
    out[order[:k]] = True
    return out.reshape(s.shape)


# --------------------------------------------------------------------- units
class _Units(NamedTuple):
    """What a magnitude ranking sees of one weight array."""

    scores: NDArray[Any]  # 1-D, >= 0: |score| per weight or pooled per block
    eligible: Mask | None  # 1-D: units the previous mask does not prune entirely
    expand: Callable[[Mask], Mask]  # 1-D unit mask -> mask of w's shape
    elementwise: bool


def _abs64(a: NDArray[Any]) -> NDArray[Any]:
    return np.abs(a) if a.dtype.kind == "f" else np.abs(a.astype(np.float64))


def _magnitude_units(
    w: NDArray[Any],
    scores: NDArray[Any] | None,
    block: tuple[int, int],
    pooling: str,
    prev: Mask | None,
    name: str,
) -> _Units:
    shape = w.shape
    a = _abs64(w if scores is None else scores)
    if block == (1, 1):
        return _Units(
            a.reshape(-1),
            None if prev is None else prev.reshape(-1),
            lambda m: m.reshape(shape),
            True,
        )
    if w.ndim != 2:
        raise ValueError(f"block_size {block} needs a rank-2 {name}; got shape {shape}")
    # A block taller or wider than w is w's full height or width: the same
    # blocks, and nothing of the block's size is ever allocated.
    (H, W) = shape
    bh, bw = min(block[0], max(H, 1)), min(block[1], max(W, 1))
    # One grid aligned at (0, 0); the last row/column of blocks may be partial.
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
    if prev is not None:  # a block is eligible unless all of it was pruned
        pad = np.zeros((nbh * bh, nbw * bw), dtype=bool)
        pad[:H, :W] = prev
        eligible = pad.reshape(nbh, bh, nbw, bw).any(axis=(1, 3)).reshape(-1)

    def expand(m: Mask) -> Mask:
        full = np.repeat(np.repeat(m.reshape(nbh, nbw), bh, axis=0), bw, axis=1)
        return np.ascontiguousarray(full[:H, :W])

    return _Units(pooled.reshape(-1), eligible, expand, False)


def _finish(units: _Units, kept: Mask, prev: Mask | None) -> Mask:
    """The unit mask expanded to `w`'s shape, keeping old zeros inside kept units."""
    mask = units.expand(kept)
    if prev is not None and not units.elementwise:
        assert units.eligible is not None  # internal: set whenever prev is
        # A kept unit that was eligible keeps prev's zeros; a re-admitted one
        # (entirely pruned before) comes back whole.
        mask &= prev | units.expand(~units.eligible)
    return mask


def _channel_norms(a: NDArray[Any], axis: int, p: float) -> NDArray[np.float64]:
    """The Ln norm of every slice ``a[..., j, ...]`` along `axis`."""
    other = tuple(i for i in range(a.ndim) if i != axis)
    x = np.abs(a.astype(np.float64, copy=False))
    if p == 1:
        return np.asarray(np.sum(x, axis=other), dtype=np.float64)
    if math.isinf(p):
        return np.asarray(np.max(x, axis=other, initial=0.0), dtype=np.float64)
    if p == 2:
        with np.errstate(over="ignore"):
            out = np.sqrt(np.sum(np.square(x), axis=other))
        if np.isfinite(out).all():
            return np.asarray(out, dtype=np.float64)
    # Scaled by each channel's max, so |x|**p cannot overflow:
    # ||x||_p = m * (sum (|x| / m)**p)**(1/p).
    m = np.max(x, axis=other, keepdims=True, initial=0.0)
    safe = np.where(m > 0, m, 1.0)
    inner = np.sum((x / safe) ** p, axis=other)
    return np.asarray(m.reshape(-1) * inner ** (1.0 / p), dtype=np.float64)


def _channel_view(mask_1d: Mask, shape: tuple[int, ...], axis: int) -> Mask:
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return np.broadcast_to(mask_1d.reshape(view), shape)


def _channel_mask(
    arr: NDArray[Any],
    channel_scores: NDArray[Any],
    axis: int,
    sparsity: float | None,
    amount: int | float | None,
    prev: Mask | None,
    of_remaining: bool,
) -> Mask:
    """Keep whole channels by `channel_scores`, under the nested-mask rules."""
    other = tuple(i for i in range(arr.ndim) if i != axis)
    n = arr.shape[axis]
    eligible = None if prev is None else np.asarray(prev.any(axis=other))
    n_eligible = n if eligible is None else int(np.count_nonzero(eligible))
    k = _n_keep(n, n_eligible, sparsity, amount, of_remaining)
    kept = _top_k(channel_scores, k, eligible)
    mask = _channel_view(kept, arr.shape, axis).copy()
    if prev is not None:
        assert eligible is not None
        mask &= prev | _channel_view(~eligible, arr.shape, axis)
    return mask


# --------------------------------------------------------------------- criteria
def magnitude_mask(
    w: ArrayLike,
    sparsity: float | None = None,
    *,
    amount: int | float | None = None,
    scores: ArrayLike | None = None,
    block_size: tuple[int, int] = (1, 1),
    block_pooling: str = "avg",
    prev_mask: ArrayLike | None = None,
    of_remaining: bool = False,
) -> Mask:
    """Keep the weights (or blocks) of largest magnitude.

    Parameters
    ----------
    w : ndarray of any shape
        Weights; must be finite. May be empty (the mask is then empty).
    sparsity : float, optional
        Fraction to prune, in [0, 1): keeps ``keep_count(n, sparsity)``
        (tfmot's rule). Give this or `amount`.
    amount : int or float, optional
        torch's amount: an int prunes exactly that many, a float in [0, 1]
        prunes ``round(amount * n)`` (:func:`prune_count`).
    scores : ndarray of `w`'s shape, optional
        Ranked instead of `w`, by magnitude (torch's ``importance_scores``):
        any per-weight score (``|w * grad|``, ...) reuses this mask code.
        Signed scores to rank as signed: pass ``scores - scores.min()``.
    block_size : tuple (height, width), default=(1, 1)
        Rank whole blocks instead of single weights (rank-2 `w` only). Blocks
        tile `w` from ``(0, 0)``; the last row and column of blocks may be
        partial; a block larger than `w` is clipped to its shape.
    block_pooling : {'avg', 'max'}, default='avg'
        How a block's magnitudes are pooled into its score (mean over the
        block's real elements, or max).
    prev_mask : bool ndarray of `w`'s shape, optional
        The current mask: the weights (blocks) it prunes entirely stay pruned
        unless more must be kept than remain (see the module docstring).
    of_remaining : bool, default=False
        Take `sparsity` or `amount` of the units `prev_mask` keeps (torch's
        iterative pruning) instead of all of them.

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        True = kept; exactly the stated number of weights kept, or of blocks
        when ranking blocks.

    Raises
    ------
    TypeError
        If neither or both of `sparsity` and `amount` are given, or an
        argument has the wrong type.
    ValueError
        If `sparsity` or `amount` is out of range, `w` or `scores` is not
        finite, or `block_size`/`block_pooling` is invalid or used with a `w`
        that is not rank 2.

    Notes
    -----
    Ties in the score keep the lower flat index first. tfmot keeps every
    weight tied with the k-th largest; the two agree whenever there are no
    ties. For a block that does not divide the shape tfmot pools on a grid
    padded on both sides but expands on a grid aligned at 0; sparsecore uses
    one grid aligned at 0 for both (they agree when the block divides the
    shape).

    References
    ----------
    Zhu & Gupta, "To prune, or not to prune", arXiv:1710.01878 (magnitude
    pruning); tfmot ``pruning_impl.Pruning``; torch ``prune.L1Unstructured``.

    Examples
    --------
    >>> magnitude_mask(np.array([0.1, -3.0, 2.0, 0.5]), 0.5)
    array([False,  True,  True, False])
    >>> magnitude_mask(np.array([0.1, -3.0, 2.0, 0.5]), amount=1)
    array([False,  True,  True,  True])
    """
    arr = _validate_weights(w)
    target = _validate_target(sparsity, amount)
    block, pooling = validate_block(block_size, block_pooling)
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    score_arr = _validate_scores(scores, arr.shape, "scores")
    of_remaining = validate_bool("of_remaining", of_remaining)
    units = _magnitude_units(arr, score_arr, block, pooling, prev, "w")
    if arr.size == 0:
        if target[1] is not None:
            prune_count(0, target[1])  # an int amount > 0 is refused, as torch
        return np.zeros(arr.shape, dtype=bool)
    n = units.scores.size
    n_eligible = n if units.eligible is None else int(np.count_nonzero(units.eligible))
    k = _n_keep(n, n_eligible, *target, of_remaining)
    return _finish(units, _top_k(units.scores, k, units.eligible), prev)


def _named_arrays(
    weights: Mapping[str, ArrayLike], what: str = "weights"
) -> dict[str, NDArray[Any]]:
    if not isinstance(weights, Mapping) or len(weights) == 0:
        raise ValueError(f"{what} must be a non-empty dict of arrays; got {weights!r}")
    return {n: _validate_weights(w, f"{what}[{n!r}]") for n, w in weights.items()}


def _named_prev(
    prev_masks: Mapping[str, ArrayLike] | None, arrays: Mapping[str, NDArray[Any]]
) -> dict[str, Mask] | None:
    if prev_masks is None:
        return None
    if not isinstance(prev_masks, Mapping) or set(prev_masks) != set(arrays):
        got = sorted(prev_masks) if isinstance(prev_masks, Mapping) else prev_masks
        raise ValueError(
            f"prev_masks must have the keys of weights {sorted(arrays)}; got {got}"
        )
    out = {}
    for n, a in arrays.items():
        prev = _validate_prev(prev_masks[n], a.shape, f"prev_masks[{n!r}]")
        assert prev is not None
        out[n] = prev
    return out


def _named_scores(
    scores: Mapping[str, ArrayLike] | None, arrays: Mapping[str, NDArray[Any]]
) -> dict[str, NDArray[Any] | None]:
    if scores is None:
        return dict.fromkeys(arrays)
    if not isinstance(scores, Mapping) or not set(scores) <= set(arrays):
        got = sorted(scores) if isinstance(scores, Mapping) else scores
        raise ValueError(
            f"scores must be a dict with keys among those of weights "
            f"{sorted(arrays)}; got {got}"
        )
    return {
        n: _validate_scores(scores.get(n), a.shape, f"scores[{n!r}]")
        for n, a in arrays.items()
    }


def _split(kept: Mask, sizes: list[int], names: list[str]) -> dict[str, Mask]:
    pieces = np.split(kept, np.cumsum(sizes)[:-1])
    return dict(zip(names, pieces, strict=True))


def global_magnitude_masks(
    weights: Mapping[str, ArrayLike],
    sparsity: float | None = None,
    *,
    amount: int | float | None = None,
    scores: Mapping[str, ArrayLike] | None = None,
    block_size: tuple[int, int] = (1, 1),
    block_pooling: str = "avg",
    prev_masks: Mapping[str, ArrayLike] | None = None,
    of_remaining: bool = False,
) -> dict[str, Mask]:
    """One magnitude ranking over several arrays ("global" scope).

    Parameters
    ----------
    weights : dict of str to ndarray
        The arrays to rank together; ties go to the earlier array, then the
        lower flat index.
    sparsity, amount
        Of all weights (or blocks) together, as :func:`magnitude_mask`.
    scores : dict of str to ndarray, optional
        Per array (any subset of the keys), ranked instead of its weights (as
        torch's ``global_unstructured(importance_scores=...)``).
    block_size, block_pooling
        As :func:`magnitude_mask` (every array must then be rank 2).
    prev_masks : dict of str to bool ndarray, optional
        As `prev_mask` of :func:`magnitude_mask`, one per array.
    of_remaining : bool, default=False
        As :func:`magnitude_mask`, over all arrays together.

    Returns
    -------
    masks : dict of str to bool ndarray
        Same keys and shapes as `weights`; exactly the stated number of units
        kept in total. Individual arrays may end up at any sparsity, even
        fully pruned.

    Raises
    ------
    ValueError
        As :func:`magnitude_mask`, or if `weights` is empty or `prev_masks`
        lacks a key.

    References
    ----------
    torch ``prune.global_unstructured`` (the global scope of Frankle & Carbin,
    "The Lottery Ticket Hypothesis", arXiv:1803.03635).
    """
    arrays = _named_arrays(weights)
    target = _validate_target(sparsity, amount)
    block, pooling = validate_block(block_size, block_pooling)
    prevs = _named_prev(prev_masks, arrays)
    score_arrays = _named_scores(scores, arrays)
    of_remaining = validate_bool("of_remaining", of_remaining)
    units = {
        n: _magnitude_units(
            a,
            score_arrays[n],
            block,
            pooling,
            None if prevs is None else prevs[n],
            f"weights[{n!r}]",
        )
        for n, a in arrays.items()
    }
    all_scores = np.concatenate([u.scores for u in units.values()])
    eligible = None
    if prevs is not None:
        eligible = np.concatenate(
            [u.eligible for u in units.values() if u.eligible is not None]
        )
    n = all_scores.size
    n_eligible = n if eligible is None else int(np.count_nonzero(eligible))
    if n == 0 and target[1] is not None:
        prune_count(0, target[1])
    k = _n_keep(n, n_eligible, *target, of_remaining)
    kept = _split(
        _top_k(all_scores, k, eligible),
        [u.scores.size for u in units.values()],
        list(units),
    )
    return {
        name: _finish(u, kept[name], None if prevs is None else prevs[name])
        for name, u in units.items()
    }


def structured_mask(
    w: ArrayLike,
    sparsity: float | None = None,
    *,
    amount: int | float | None = None,
    axis: int = 1,
    norm: float = 1,
    scores: ArrayLike | None = None,
    prev_mask: ArrayLike | None = None,
    of_remaining: bool = False,
) -> Mask:
    """Keep whole slices ``w[..., j, ...]`` along `axis`, ranked by their Ln norm.

    Parameters
    ----------
    w : ndarray of shape (..., n_channels, ...)
        Weights; must be finite. For a Dense kernel ``(n_in, n_out)``,
        ``axis=1`` ranks output neurons (columns), ``axis=0`` input features;
        for a PyTorch ``Linear.weight`` ``(out, in)``, ``axis=0`` ranks
        output neurons. A rank-1 `w` is one channel per entry (torch refuses
        rank 1).
    sparsity, amount
        Of the channels, as :func:`magnitude_mask`.
    axis : int, default=1
        The channel axis.
    norm : float, default=1
        The order ``p`` of the norm, in (0, inf]: 1 (L1), 2 (L2), any other
        ``p``, or ``math.inf`` (the largest magnitude), as torch's ``n``.
    scores : ndarray of `w`'s shape, optional
        Norms are taken of these instead of `w` (torch's ``importance_scores``).
    prev_mask : bool ndarray of `w`'s shape, optional
        The current mask: channels it prunes entirely stay pruned (unless more
        must be kept than remain); a kept channel keeps its zeros.
    of_remaining : bool, default=False
        Take the amount of the channels `prev_mask` does not prune entirely.

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        Without `prev_mask` constant along every axis but `axis`; exactly the
        stated number of channels kept, ties to the lower channel index.

    Raises
    ------
    IndexError
        If `axis` is out of range.
    TypeError, ValueError
        As :func:`magnitude_mask`, or if `norm` is not in (0, inf].

    Notes
    -----
    The channel score is ``||w[..., j, ...]||_p = (sum |w|^p)^(1/p)``
    (``max |w|`` for ``p = inf``), as torch's ``prune.LnStructured``.

    References
    ----------
    Li et al., "Pruning Filters for Efficient ConvNets", arXiv:1608.08710;
    torch ``prune.ln_structured``.
    """
    arr = _validate_weights(w)
    target = _validate_target(sparsity, amount)
    axis = validate_axis("axis", axis, max(arr.ndim, 1), arr.shape)
    p = validate_norm(norm)
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    score_arr = _validate_scores(scores, arr.shape, "scores")
    of_remaining = validate_bool("of_remaining", of_remaining)
    if arr.ndim == 0:  # a scalar is one channel
        arr, prev = arr.reshape(1), None if prev is None else prev.reshape(1)
        score_arr = None if score_arr is None else score_arr.reshape(1)
        mask = _structured(arr, score_arr, target, axis, p, prev, of_remaining)
        return mask.reshape(())
    return _structured(arr, score_arr, target, axis, p, prev, of_remaining)


def _structured(
    arr: NDArray[Any],
    score_arr: NDArray[Any] | None,
    target: tuple[float | None, int | float | None],
    axis: int,
    p: float,
    prev: Mask | None,
    of_remaining: bool,
) -> Mask:
    if arr.size == 0:
        if target[1] is not None:
            prune_count(arr.shape[axis], target[1])
        return np.zeros(arr.shape, dtype=bool)
    source = arr if score_arr is None else score_arr
    norms = _channel_norms(source, axis, p)
    return _channel_mask(arr, norms, axis, *target, prev, of_remaining)


def random_structured_mask(
    w: ArrayLike,
    sparsity: float | None = None,
    rng: np.random.Generator | None = None,
    *,
    amount: int | float | None = None,
    axis: int = 1,
    prev_mask: ArrayLike | None = None,
    of_remaining: bool = False,
) -> Mask:
    """Keep whole slices along `axis` chosen uniformly at random (the baseline).

    Parameters
    ----------
    w : ndarray of shape (..., n_channels, ...)
        Only its shape is used (it must still be finite).
    sparsity, amount
        Of the channels, as :func:`magnitude_mask`.
    rng : numpy.random.Generator
        The only source of randomness (required).
    axis : int, default=1
        The channel axis.
    prev_mask, of_remaining
        As :func:`structured_mask`: channels drawn among those not pruned
        entirely.

    Returns
    -------
    mask : bool ndarray of `w`'s shape

    References
    ----------
    torch ``prune.random_structured``.
    """
    arr = _validate_weights(w)
    target = _validate_target(sparsity, amount)
    validate_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    assert rng is not None
    axis = validate_axis("axis", axis, max(arr.ndim, 1), arr.shape)
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    of_remaining = validate_bool("of_remaining", of_remaining)
    shape = arr.shape
    if arr.ndim == 0:
        arr, prev = arr.reshape(1), None if prev is None else prev.reshape(1)
    if arr.size == 0:
        if target[1] is not None:
            prune_count(arr.shape[axis], target[1])
        return np.zeros(shape, dtype=bool)
    draws = np.asarray(rng.random(arr.shape[axis]))
    return _channel_mask(arr, draws, axis, *target, prev, of_remaining).reshape(shape)


def nm_mask(
    w: ArrayLike,
    n_zeros: int,
    group: int,
    *,
    axis: int = 0,
    scores: ArrayLike | None = None,
    prev_mask: ArrayLike | None = None,
) -> Mask:
    """N:M sparsity: prune `n_zeros` of every `group` consecutive weights along `axis`.

    Parameters
    ----------
    w : ndarray of shape (..., d, ...)
        Weights; must be finite. When `group` does not divide
        ``d = w.shape[axis]``, the last group is the ``d % group`` remaining
        weights, as if padded with zeros (tfmot's padding): it keeps its
        ``group - n_zeros`` largest, or all of them.
    n_zeros : int
        Weights pruned per group, in [0, group).
    group : int
        Group length, in [1, inf). ``n_zeros=2, group=4`` is 2:4 sparsity.
    axis : int, default=0
        Axis along which groups run; 0 is the input dimension of a Dense
        kernel ``(n_in, n_out)``, as tfmot's ``sparsity_m_by_n`` (for a
        PyTorch ``Linear.weight`` ``(out, in)`` use ``axis=1``; for a Keras
        Conv2D kernel ``(h, w, c_in, c_out)`` use ``axis=2``). Any rank is
        accepted (tfmot refuses rank 1 and rank 3).
    scores : ndarray of `w`'s shape, optional
        Ranked instead of `w`, by magnitude.
    prev_mask : bool ndarray of `w`'s shape, optional
        Weights it prunes stay pruned; a group then keeps its largest among
        the rest (so it may keep fewer than ``group - n_zeros``).

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        In every full group exactly ``group - n_zeros`` kept (fewer where
        `prev_mask` pruned more): the largest, ties to the lower index (as
        ``tf.math.top_k``).

    Raises
    ------
    IndexError
        If `axis` is out of range.
    ValueError
        If `n_zeros` is outside [0, group), or `w` is not finite.

    References
    ----------
    Mishra et al., "Accelerating Sparse Deep Neural Networks",
    arXiv:2104.08378 (2:4 sparsity); tfmot ``generate_m_by_n_mask``.

    Examples
    --------
    >>> nm_mask(np.array([[1.92, -0.21], [-0.19, 0.57], [1.1, -0.42]]), 2, 4)
    array([[ True, False],
           [False,  True],
           [ True,  True]])
    """
    arr = _validate_weights(w)
    group = validate_int("group", group, 1)
    n_zeros = validate_int("n_zeros", n_zeros, 0)
    if n_zeros >= group:
        raise ValueError(
            f"n_zeros must be an int in [0, group) = [0, {group}); got {n_zeros!r}"
        )
    axis = validate_axis("axis", axis, max(arr.ndim, 1), arr.shape)
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    score_arr = _validate_scores(scores, arr.shape, "scores")
    shape = arr.shape
    if arr.ndim == 0:
        arr = arr.reshape(1)
        prev = None if prev is None else prev.reshape(1)
        score_arr = None if score_arr is None else score_arr.reshape(1)
    if arr.size == 0:
        return np.zeros(shape, dtype=bool)
    if n_zeros == 0:
        return (
            np.ones(shape, dtype=bool) if prev is None else prev.reshape(shape).copy()
        )
    keep = group - n_zeros
    a = np.moveaxis(_abs64(arr if score_arr is None else score_arr), axis, -1)
    if prev is not None:  # pruned entries rank below every other (-1 < 0)
        a = np.where(np.moveaxis(prev, axis, -1), a, -1.0)
    moved, d = a.shape, a.shape[-1]
    kept = np.zeros(moved, dtype=bool)
    full = d // group * group
    if full:
        groups = a[..., :full].reshape(*moved[:-1], d // group, group)
        # Stable sort of -|w|: equal magnitudes keep their order (lower index).
        order = np.argsort(-groups, axis=-1, kind="stable")[..., :keep]
        top = np.zeros(groups.shape, dtype=bool)
        np.put_along_axis(top, order, True, axis=-1)
        kept[..., :full] = top.reshape(*moved[:-1], full)
    if full < d:  # the last, partial group: its padding zeros rank last
        tail = a[..., full:]
        order = np.argsort(-tail, axis=-1, kind="stable")[..., : min(keep, d - full)]
        top = np.zeros(tail.shape, dtype=bool)
        np.put_along_axis(top, order, True, axis=-1)
        kept[..., full:] = top
    out = np.moveaxis(kept, -1, axis)
    if prev is not None:
        out &= prev
    return np.ascontiguousarray(out).reshape(shape)


def is_pruned_m_by_n(
    w: ArrayLike,
    m_by_n: tuple[int, int] = (2, 4),
    last_channel: str = "C_OUT",
    *,
    axis: int | None = None,
) -> bool:
    """Whether every group of ``n`` consecutive weights has at least ``m`` zeros.

    tfmot's ``pruning_utils.is_pruned_m_by_n``.

    Parameters
    ----------
    w : ndarray
        Weights (only which entries are exactly zero matters).
    m_by_n : tuple (m, n), default=(2, 4)
        At least ``m`` zeros in every ``n`` consecutive weights; ``m <= n``.
        A last, partial group may hold at most ``n - m`` non-zeros.
    last_channel : {'C_OUT', 'C_IN'}, default='C_OUT'
        tfmot's layout word: ``'C_OUT'`` is a Keras kernel, whose groups run
        along the input channels (axis 0 of a Dense ``(n_in, n_out)``
        kernel, axis 2 of a Conv2D ``(h, w, c_in, c_out)`` kernel; other
        ranks are refused, as tfmot); ``'C_IN'`` groups along the last axis
        (a PyTorch ``Linear.weight`` ``(out, in)``).
    axis : int, optional
        Group along this axis instead (any rank); overrides `last_channel`.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``m > n``, `last_channel` is unknown, or ``'C_OUT'`` is used on a
        weight that is neither rank 2 nor rank 4.

    Examples
    --------
    >>> is_pruned_m_by_n(np.array([[1, 2, 0, 0]]).T), is_pruned_m_by_n(np.ones((4, 1)))
    (True, False)
    """
    m, n = validate_pair("m_by_n", m_by_n, 0, "a pair (m, n) of ints >= 0")
    if n < 1 or m > n:
        raise ValueError(
            f"m_by_n must be a pair (m, n) of ints with 0 <= m <= n and n >= 1; "
            f"got {m_by_n!r}"
        )
    arr = np.asarray(w)
    if axis is None:
        validate_choice("last_channel", last_channel, LAST_CHANNELS)
        if last_channel == "C_IN":
            axis = arr.ndim - 1
        elif arr.ndim in (2, 4):
            axis = arr.ndim - 2
        else:
            raise ValueError(
                f"last_channel='C_OUT' needs a rank-2 or rank-4 weight (as "
                f"tfmot); got shape {arr.shape}; pass axis= to choose the axis"
            )
    if arr.ndim == 0:
        arr = arr.reshape(1)
    axis = validate_axis("axis", axis, arr.ndim, arr.shape)
    if arr.size == 0:
        return True
    nz = np.moveaxis(arr != 0, axis, -1)
    d = nz.shape[-1]
    full = d // n * n
    if full:
        counts = nz[..., :full].reshape(*nz.shape[:-1], d // n, n).sum(axis=-1)
        if (counts > n - m).any():
            return False
    if full < d and (nz[..., full:].sum(axis=-1) > n - m).any():
        return False
    return True


def random_mask(
    w: ArrayLike,
    sparsity: float | None = None,
    rng: np.random.Generator | None = None,
    *,
    amount: int | float | None = None,
    prev_mask: ArrayLike | None = None,
    of_remaining: bool = False,
) -> Mask:
    """Keep weights chosen uniformly at random (the baseline criterion).

    Parameters
    ----------
    w : ndarray of any shape
        Only its shape is used (it must still be finite).
    sparsity, amount
        As :func:`magnitude_mask`.
    rng : numpy.random.Generator
        The only source of randomness (required).
    prev_mask : bool ndarray of `w`'s shape, optional
        Only weights it keeps are drawn (while enough remain; the pruned ones
        re-admitted, if any must be, are drawn at random too).
    of_remaining : bool, default=False
        As :func:`magnitude_mask`.

    Returns
    -------
    mask : bool ndarray of `w`'s shape
        Exactly the stated number kept.

    Raises
    ------
    TypeError
        If `rng` is not a ``numpy.random.Generator``.
    ValueError
        If `sparsity` or `amount` is out of range, or `w` is not finite.

    References
    ----------
    torch ``prune.random_unstructured``.
    """
    arr = _validate_weights(w)
    target = _validate_target(sparsity, amount)
    validate_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    assert rng is not None
    prev = _validate_prev(prev_mask, arr.shape, "prev_mask")
    of_remaining = validate_bool("of_remaining", of_remaining)
    if arr.size == 0:
        if target[1] is not None:
            prune_count(0, target[1])
        return np.zeros(arr.shape, dtype=bool)
    eligible = None if prev is None else prev.reshape(-1)
    n = arr.size
    n_eligible = n if eligible is None else int(np.count_nonzero(eligible))
    k = _n_keep(n, n_eligible, *target, of_remaining)
    return _top_k(rng.random(n), k, eligible).reshape(arr.shape)


def global_random_masks(
    weights: Mapping[str, ArrayLike],
    sparsity: float | None = None,
    rng: np.random.Generator | None = None,
    *,
    amount: int | float | None = None,
    prev_masks: Mapping[str, ArrayLike] | None = None,
    of_remaining: bool = False,
) -> dict[str, Mask]:
    """One random draw over several arrays ("global" scope of the random criterion).

    Parameters
    ----------
    weights : dict of str to ndarray
        Only their shapes are used (they must still be finite).
    sparsity, amount
        Of all entries together, as :func:`magnitude_mask`.
    rng : numpy.random.Generator
        The only source of randomness (required).
    prev_masks : dict of str to bool ndarray, optional
        Only entries they keep are drawn (while enough remain).
    of_remaining : bool, default=False
        As :func:`magnitude_mask`, over all arrays together.

    Returns
    -------
    masks : dict of str to bool ndarray
        Same keys and shapes as `weights`; exactly the stated number of
        entries kept in total, uniformly at random over all of them.
    """
    arrays = _named_arrays(weights)
    target = _validate_target(sparsity, amount)
    validate_type("rng", rng, np.random.Generator, "a numpy.random.Generator")
    assert rng is not None
    prevs = _named_prev(prev_masks, arrays)
    of_remaining = validate_bool("of_remaining", of_remaining)
    sizes = [a.size for a in arrays.values()]
    total = sum(sizes)
    eligible = None
    if prevs is not None:
        eligible = np.concatenate([prevs[n].reshape(-1) for n in arrays])
    n_eligible = total if eligible is None else int(np.count_nonzero(eligible))
    if total == 0 and target[1] is not None:
        prune_count(0, target[1])
    k = _n_keep(total, n_eligible, *target, of_remaining)
    kept = _split(_top_k(rng.random(total), k, eligible), sizes, list(arrays))
    return {n: kept[n].reshape(a.shape) for n, a in arrays.items()}

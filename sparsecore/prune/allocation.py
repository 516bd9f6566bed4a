"""Sparsity allocation: how many weights each layer keeps, for any score.

Every pruning method ranks weights by a score (|w| for magnitude, |g w| for
SNIP, ...) and must then decide how a target sparsity is shared among the
layers. Three rules, as in the literature:

- ``"uniform"`` (alias ``"layer"``, tfmot's choice): every layer is pruned to
  the target sparsity, ``k_l = max(1, round_half_even(n_l (1 - s)))``.
- ``"global"``: one ranking over all layers together; a layer ends at whatever
  sparsity its scores earn it (possibly fully pruned).
- ``"erk"`` (Erdős–Rényi-kernel, Evci et al. 2020): a layer's density is
  proportional to ``sum(shape) / prod(shape)``, i.e. ``(n_in + n_out) /
  (n_in n_out)`` for a Dense kernel, so small layers stay denser.

:class:`Allocation` takes a pruning policy to keep layers dense (the usual
option: :class:`~sparsecore.prune.KeepDense` keeps the first and/or last
layer); such layers are left out of the budget (as RigL's
``custom_sparsity_map``), so the other layers still reach the target sparsity.
:func:`allocate_masks` turns scores into masks under any of these rules and is
what every method of :mod:`sparsecore.prune` calls.

Ranking rule: the ``k`` largest scores are kept, ties broken towards the lower
flat index (for ``"global"``: the earlier array first), so with ``|w|`` as the
score the masks are exactly those of :func:`~sparsecore.prune.magnitude_mask`.
With previous masks, entries they prune rank below every entry they keep, so
the new masks are nested in the old ones whenever they keep no more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import (
    validate_array,
    validate_choice,
    validate_sparsity,
    validate_type,
)
from sparsecore.prune.criteria import keep_count, top_k_mask
from sparsecore.prune.policy import PruningPolicy, layer_of

__all__ = [
    "DISTRIBUTIONS",
    "Allocation",
    "allocate_masks",
    "as_allocation",
    "erk_densities",
]

#: Allocation rules (``"layer"`` is accepted as another name for ``"uniform"``).
DISTRIBUTIONS = ("erk", "global", "uniform")
_ALIASES = {"layer": "uniform"}

Mask = NDArray[np.bool_]


def erk_densities(
    shapes: Mapping[str, tuple[int, ...]],
    sparsity: float,
) -> dict[str, float]:
    """Erdős–Rényi-kernel densities ``d_l = min(1, eps sum(shape_l) / prod(shape_l))``.

    Parameters
    ----------
    shapes : dict of str to tuple of int
        The shape of every weight array to share the budget.
    sparsity : float
        Target fraction of all their entries to prune, in [0, 1).

    Returns
    -------
    dict of str to float
        Density (fraction kept) per array, in (0, 1].

    Notes
    -----
    Evci et al. (2020) scale the density of layer ``l`` with ``n_l`` entries as

    .. math::

        d_l = \\epsilon \\, \\frac{\\sum_i s_{l,i}}{\\prod_i s_{l,i}}
        \\quad\\left(= \\epsilon\\, \\frac{n_{in} + n_{out}}{n_{in} n_{out}}
        \\text{ for a Dense kernel}\\right),

    with ``eps`` chosen so that ``sum_l d_l n_l = (1 - s) sum_l n_l``. A layer
    whose ``d_l`` would exceed 1 is made dense and ``eps`` is solved again over
    the others (the layer with the largest raw density first), as
    ``get_sparsities_erdos_renyi`` in google-research/rigl ``sparse_utils.py``.

    References
    ----------
    Evci, Gale, Menick, Castro & Elsen (2020), "Rigging the Lottery: Making All
    Tickets Winners", ICML, arXiv:1911.11134, section 3 and appendix.
    """
    sparsity = validate_sparsity("sparsity", sparsity)
    if not shapes:
        raise ValueError("shapes must name at least one weight array")
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: sum(s) / sizes[n] for n, s in shapes.items()}
    target = (1.0 - sparsity) * sum(sizes.values())
    dense: set[str] = set()
    while True:
        free = [n for n in shapes if n not in dense]
        budget = target - sum(sizes[n] for n in dense)
        eps = budget / sum(raw[n] * sizes[n] for n in free)
        top = max(raw[n] for n in free)
        if eps * top <= 1.0 or len(free) == 1:
            break
        dense.update(n for n in free if raw[n] == top)
        if len(dense) == len(shapes):
            break
    return {n: 1.0 if n in dense else min(1.0, eps * raw[n]) for n in shapes}


def _apportion(
    real: Mapping[str, float], sizes: Mapping[str, int], total: int
) -> dict[str, int]:
    """Integer counts near `real` summing to `total`: largest remainders first.

    Each count stays in [1, size]; ties in the remainder go to the earlier name.
    """
    names = list(real)
    floors = {n: min(sizes[n], math.floor(real[n])) for n in names}
    missing = total - sum(floors.values())
    rema = sorted(
        (i for i, n in enumerate(names) if floors[n] < sizes[n]),
        key=lambda i: (-(real[names[i]] - floors[names[i]]), i),
    )
    for i in rema[: max(0, missing)]:
        floors[names[i]] += 1
    return {n: max(1, c) for n, c in floors.items()}


@dataclass(frozen=True)
class Allocation:
    """How a target sparsity is shared among weight arrays.

    Parameters
    ----------
    distribution : {'uniform', 'global', 'erk'}, default='uniform'
        ``'layer'`` is accepted for ``'uniform'``. See the module docstring.
    policy : PruningPolicy, optional
        Layers it does not allow to prune stay dense, e.g.
        ``KeepDense(first=True, last=False)`` keeps the first layer dense (the
        same policies as :class:`~sparsecore.prune.Pruner`'s ``policy=``).

    Notes
    -----
    Layers are numbered in the order of the score dict (the order of
    ``model.weights()``), a layer being a name without its last part
    (``"dense_0/kernel"`` is layer ``"dense_0"``), as
    :func:`sparsecore.prune.policy.select_weights` numbers them. Arrays kept
    dense are left out of the budget: the others are pruned to the target
    sparsity among themselves, so the model's overall sparsity is lower than
    the target.

    Examples
    --------
    >>> from sparsecore.prune import KeepDense
    >>> a = Allocation("erk", KeepDense(first=True, last=False))
    >>> a.keep_counts({"d0/k": (40, 500), "d1/k": (500, 500), "d2/k": (500, 10)}, 0.9)
    {'d0/k': 20000, 'd1/k': 20500, 'd2/k': 5000}
    """

    distribution: str = "uniform"
    policy: PruningPolicy | None = None

    def __post_init__(self) -> None:
        d = self.distribution
        if isinstance(d, str):
            d = _ALIASES.get(d.lower(), d.lower())
        validate_choice("distribution", d, DISTRIBUTIONS + tuple(_ALIASES))
        object.__setattr__(self, "distribution", d)
        if self.policy is not None:
            validate_type("policy", self.policy, PruningPolicy, "a PruningPolicy")

    def dense_names(self, names: list[str]) -> set[str]:
        """The names of `names` that the policy keeps dense."""
        if self.policy is None:
            return set()
        layers = list(dict.fromkeys(layer_of(n) for n in names))
        index = {layer: i for i, layer in enumerate(layers)}
        return {
            n
            for n in names
            if not self.policy.allow_pruning(n, index[layer_of(n)], len(layers))
        }

    def keep_counts(
        self, shapes: Mapping[str, tuple[int, ...]], sparsity: float
    ) -> dict[str, int]:
        """Entries each array keeps at `sparsity` (``'uniform'`` and ``'erk'``).

        Parameters
        ----------
        shapes : dict of str to tuple of int
        sparsity : float
            In [0, 1).

        Returns
        -------
        dict of str to int
            ``'uniform'``: :func:`~sparsecore.prune.keep_count` per array;
            ``'erk'``: the :func:`erk_densities` apportioned to whole entries
            (largest remainders) so that the arrays pruned keep
            ``keep_count(sum n_l, sparsity)`` in total, at least one each.
            Arrays kept dense keep all their entries.

        Raises
        ------
        ValueError
            For ``'global'``, whose counts depend on the scores.
        """
        sparsity = validate_sparsity("sparsity", sparsity)
        names = list(shapes)
        if not names:
            raise ValueError("shapes must name at least one weight array")
        sizes = {n: math.prod(shapes[n]) for n in names}
        dense = self.dense_names(names)
        counts = {n: sizes[n] for n in dense}
        pruned = [n for n in names if n not in dense]
        if not pruned:
            return counts
        if self.distribution == "global":
            raise ValueError(
                "a 'global' allocation has no fixed counts per array: they "
                "depend on the scores (use masks())"
            )
        if self.distribution == "uniform":
            counts.update({n: keep_count(sizes[n], sparsity) for n in pruned})
        else:
            dens = erk_densities({n: shapes[n] for n in pruned}, sparsity)
            total = keep_count(sum(sizes[n] for n in pruned), sparsity)
            counts.update(
                _apportion({n: dens[n] * sizes[n] for n in pruned}, sizes, total)
            )
        return {n: counts[n] for n in names}

    def layer_sparsities(
        self, shapes: Mapping[str, tuple[int, ...]], sparsity: float
    ) -> dict[str, float]:
        """Sparsity of each array: ``1 - keep_counts / size``."""
        counts = self.keep_counts(shapes, sparsity)
        return {n: 1.0 - counts[n] / math.prod(shapes[n]) for n in shapes}

    def masks(
        self,
        scores: Mapping[str, ArrayLike],
        sparsity: float,
        prev_masks: Mapping[str, ArrayLike] | None = None,
    ) -> dict[str, Mask]:
        """Keep the highest `scores` under this allocation (:func:`allocate_masks`)."""
        return allocate_masks(scores, sparsity, self, prev_masks=prev_masks)


def as_allocation(scope: str | Allocation) -> Allocation:
    """`scope` as an :class:`Allocation` (a name gives the default options)."""
    if isinstance(scope, Allocation):
        return scope
    if not isinstance(scope, str):
        raise TypeError(
            f"scope must be one of {sorted(DISTRIBUTIONS + tuple(_ALIASES))} or an "
            f"Allocation; got {scope!r}"
        )
    return Allocation(scope)


def _check_scores(
    scores: Mapping[str, ArrayLike], prev_masks: Mapping[str, ArrayLike] | None
) -> tuple[dict[str, NDArray[np.float64]], dict[str, Mask] | None]:
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError(f"scores must be a non-empty dict of arrays; got {scores!r}")
    arrays = {}
    for n, s in scores.items():
        a = validate_array(f"scores[{n!r}]", s, kinds="iuf").astype(np.float64)
        if a.size == 0:
            raise ValueError(f"scores[{n!r}] must have at least one element")
        if not np.isfinite(a).all():
            raise ValueError(f"scores[{n!r}] must contain only finite values")
        arrays[n] = a
    if prev_masks is None:
        return arrays, None
    if set(prev_masks) != set(arrays):
        raise ValueError(
            f"prev_masks must have the keys of scores {sorted(arrays)}; "
            f"got {sorted(prev_masks)}"
        )
    prev = {}
    for n, a in arrays.items():
        m = np.asarray(prev_masks[n])
        if m.dtype != np.bool_ or m.shape != a.shape:
            raise ValueError(
                f"prev_masks[{n!r}] must be a bool array of shape {a.shape}; "
                f"got {m.dtype} of shape {m.shape}"
            )
        prev[n] = m
    return arrays, prev


def allocate_masks(
    scores: Mapping[str, ArrayLike],
    sparsity: float,
    scope: str | Allocation = "uniform",
    *,
    prev_masks: Mapping[str, ArrayLike] | None = None,
) -> dict[str, Mask]:
    """Masks keeping the highest scores, shared among arrays by `scope`.

    Parameters
    ----------
    scores : dict of str to ndarray
        One finite score per weight (higher = more important), by weight name,
        in model order.
    sparsity : float
        Target fraction pruned, in [0, 1) (of the arrays not kept dense).
    scope : {'uniform', 'layer', 'global', 'erk'} or Allocation, default='uniform'
    prev_masks : dict of str to bool ndarray, optional
        Entries they prune rank below every entry they keep (nested masks).

    Returns
    -------
    masks : dict of str to bool ndarray
        Same keys and shapes as `scores`, True = kept. ``'uniform'`` and
        ``'erk'`` keep exactly :meth:`Allocation.keep_counts` per array;
        ``'global'`` keeps ``keep_count(sum n_l, sparsity)`` in total.

    Examples
    --------
    >>> s = {"a": np.array([3.0, 1.0]), "b": np.array([2.0, 0.5, 4.0, 0.1])}
    >>> allocate_masks(s, 0.5, "global")
    {'a': array([ True, False]), 'b': array([ True, False,  True, False])}
    """
    alloc = as_allocation(scope)
    arrays, prev = _check_scores(scores, prev_masks)
    sparsity = validate_sparsity("sparsity", sparsity)
    names = list(arrays)
    dense = alloc.dense_names(names)
    out = {n: np.ones(arrays[n].shape, dtype=bool) for n in dense}
    pruned = [n for n in names if n not in dense]
    if pruned and alloc.distribution == "global":
        flat = np.concatenate([arrays[n].reshape(-1) for n in pruned])
        eligible = None
        if prev is not None:
            eligible = np.concatenate([prev[n].reshape(-1) for n in pruned])
        kept = top_k_mask(flat, keep_count(flat.size, sparsity), eligible)
        start = 0
        for n in pruned:
            size = arrays[n].size
            out[n] = kept[start : start + size].reshape(arrays[n].shape)
            start += size
    elif pruned:
        counts = alloc.keep_counts({n: arrays[n].shape for n in names}, sparsity)
        for n in pruned:
            out[n] = top_k_mask(arrays[n], counts[n], None if prev is None else prev[n])
    return {n: out[n] for n in names}

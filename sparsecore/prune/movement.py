"""Movement pruning (Sanh et al. 2020): keep the weights moving away from zero.

Magnitude pruning keeps the weights that are large; movement pruning keeps
the weights that fine-tuning is *making* large. Each weight accumulates

.. math:: S_{ij} = -\\sum_{t} \\frac{\\partial L}{\\partial W_{ij}}^{(t)} W_{ij}^{(t)},

which is positive when gradient descent pushes ``W_ij`` away from zero
(``-g`` has the sign of ``W``) and negative when it pulls it towards zero.
Pruning keeps the highest ``S`` ("hard" movement pruning, with a cubic
sparsity schedule during fine-tuning in the paper).

:class:`MovementScores` is the callback that accumulates ``S`` during
``fit``; :func:`movement_masks` turns scores into masks with any allocation.
A pruned weight is exactly zero, so its score stops changing: under strict
masking the ranking is among the weights still kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import validate_sparsity
from sparsecore.nn.callbacks import Callback
from sparsecore.prune.allocation import Allocation, allocate_masks
from sparsecore.prune.clone import select_weights

__all__ = ["MovementScores", "movement_masks"]


class MovementScores(Callback):
    """Accumulate the movement score ``S = -sum_t g_t * w_t`` of each weight.

    Parameters
    ----------
    weights : list of str, optional
        Names in ``model.weights()``; default every kernel.

    Attributes
    ----------
    scores : dict of str to ndarray
        ``S`` per weight, in the weight's dtype (live arrays; copy them to
        keep a snapshot). Empty before the first ``fit``.
    steps : int
        Training steps accumulated.

    Notes
    -----
    ``S`` is added to in ``on_before_optimizer_step``, where ``g`` is the
    gradient of the batch and ``w`` the weight the forward pass used. Sanh et
    al. scale each step by the score's learning rate ``alpha_S``; with a
    constant rate that scale changes no ranking, so it is left out. Each step
    costs one multiply-subtract per weight into a preallocated buffer.

    References
    ----------
    Sanh, Wolf & Rush (2020), "Movement Pruning: Adaptive Sparsity by
    Fine-Tuning", NeurIPS, arXiv:2005.07683, section 3 (Eq. 3, hard movement).

    Examples
    --------
    >>> scores = sc.prune.MovementScores()  # doctest: +SKIP
    >>> model.fit(x, y, epochs=3, callbacks=[scores])  # doctest: +SKIP
    >>> masks = sc.prune.movement_masks(scores.scores, 0.9)  # doctest: +SKIP
    """

    def __init__(self, weights: Sequence[str] | None = None) -> None:
        super().__init__()
        self.weights = None if weights is None else list(weights)
        self.scores: dict[str, NDArray[Any]] = {}
        self.steps = 0
        self._tmp: dict[str, NDArray[Any]] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.model is None:
            raise RuntimeError("MovementScores has no model: use it in fit")
        live = self.model.weights()
        for n in select_weights(self.model, self.weights):
            if n not in self.scores or self.scores[n].shape != live[n].shape:
                self.scores[n] = np.zeros_like(live[n])
                self._tmp[n] = np.empty_like(live[n])

    def on_before_optimizer_step(self) -> None:
        live, grads = self.model.weights(), self.model.gradients()
        for n, s in self.scores.items():
            tmp = self._tmp[n]
            np.multiply(grads[n], live[n], out=tmp)
            s -= tmp
        self.steps += 1


def movement_masks(
    scores: Mapping[str, ArrayLike],
    sparsity: float,
    scope: str | Allocation = "uniform",
    *,
    prev_masks: Mapping[str, ArrayLike] | None = None,
) -> dict[str, NDArray[np.bool_]]:
    """Keep the weights of highest movement score (hard movement pruning).

    Parameters
    ----------
    scores : dict of str to ndarray
        ``S`` per weight, e.g. ``MovementScores().scores`` after training.
    sparsity : float
        In [0, 1).
    scope : {'uniform', 'layer', 'global', 'erk'} or Allocation, default='uniform'
    prev_masks : dict of str to bool ndarray, optional
        Nest the new masks in these.

    Returns
    -------
    dict of str to bool ndarray
        True = kept: the top-``k`` of ``S`` (Sanh et al.'s ``Top_v(S)``).
    """
    sparsity = validate_sparsity("sparsity", sparsity)
    return allocate_masks(scores, sparsity, scope, prev_masks=prev_masks)

"""Movement pruning (Sanh et al. 2020): keep the weights moving away from zero.

Magnitude pruning keeps the weights that are large; movement pruning keeps
the weights that fine-tuning is *making* large. Each weight accumulates

.. math:: S_{ij} = -\\sum_{t} \\frac{\\partial L}{\\partial W_{ij}}^{(t)} W_{ij}^{(t)},

which is positive when gradient descent pushes ``W_ij`` away from zero
(``-g`` has the sign of ``W``) and negative when it pulls it towards zero.
Pruning keeps the highest ``S`` ("hard" movement pruning, with a cubic
sparsity schedule during fine-tuning in the paper).

:class:`MovementScores` is the callback that accumulates ``S`` during
``fit``; :func:`movement_masks` turns scores into masks with any allocation;
:class:`MovementPruner` prunes during fine-tuning on a schedule by them (on
the :class:`~sparsecore.prune.ArrayPruner` engine, so with the Pruner's
semantics: exact k, nested masks, zeroed gradients and optimizer state).
A pruned weight is exactly zero, so its score stops changing: under strict
masking the ranking is among the weights still kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import validate_choice, validate_sparsity, validate_type
from sparsecore.nn.callbacks import Callback
from sparsecore.prune.allocation import Allocation, allocate_masks
from sparsecore.prune.clone import weight_names
from sparsecore.prune.pruner import ArrayPruner
from sparsecore.prune.schedules import PruningSchedule

__all__ = ["MovementPruner", "MovementScores", "movement_masks"]


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
        for n in weight_names(self.model, self.weights):
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


class MovementPruner(Callback):
    """Movement pruning during fine-tuning: the schedule's sparsity, by movement score.

    Parameters
    ----------
    schedule : PruningSchedule
        When to prune and to which sparsity (Sanh et al. use a cubic
        ``PolynomialDecay(0, s, begin, end, power=3)`` with warm-up).
    scope : {'layer', 'global'}, default='layer'
        One ranking per weight array, or one over all of them.
    weights : list of str, optional
        Names in ``model.weights()``; default every kernel.

    Attributes
    ----------
    engine : ArrayPruner
        The pruning engine holding the schedule, step and masks.
    movement : MovementScores
        The accumulated scores ``S`` (its ``scores``).
    masks : dict of str to bool ndarray
    sparsity : float

    Notes
    -----
    One training step::

        on_before_optimizer_step  S -= g * w (dense g); zero the gradients of
                                  pruned weights
        optimizer step
        on_after_optimizer_step   the engine's step: if the schedule says so,
                                  keep the top-k of S (nested in the current
                                  masks); zero the pruned weights and their
                                  optimizer state

    The masks of step ``t`` are computed after its update, from the scores
    accumulated up to ``t`` (:class:`~sparsecore.prune.ArrayPruner` called
    after the optimizer step), and hold from the forward pass of ``t + 1``.
    Pruned weights are exactly 0 afterwards, so their scores stop moving.
    ``S`` is signed; the engine ranks ``S - min(S)`` (the same order).

    References
    ----------
    Sanh, Wolf & Rush (2020), "Movement Pruning: Adaptive Sparsity by
    Fine-Tuning", NeurIPS, arXiv:2005.07683.

    Examples
    --------
    >>> schedule = sc.PolynomialDecay(0.0, 0.9, begin_step=100, end_step=1000)
    >>> pruner = sc.prune.MovementPruner(schedule)  # doctest: +SKIP
    >>> model.fit(x, y, epochs=10, callbacks=[pruner])  # doctest: +SKIP
    """

    def __init__(
        self,
        schedule: PruningSchedule,
        scope: str = "layer",
        weights: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        validate_type("schedule", schedule, PruningSchedule, "a PruningSchedule")
        self.scope = validate_choice("scope", scope, ("global", "layer"))
        self.weights = None if weights is None else list(weights)
        self.movement = MovementScores(self.weights)
        self.engine = ArrayPruner(schedule, "magnitude", self.scope, self.weights)

    @property
    def masks(self) -> dict[str, NDArray[np.bool_]]:
        """Current mask per pruned weight (read-only arrays)."""
        return self.engine.masks

    @property
    def sparsity(self) -> float:
        """Fraction of the pruned weights' entries that the masks prune."""
        return self.engine.sparsity

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self.movement.set_model(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.movement.on_train_begin(logs)
        if self.weights is None:  # the engine prunes the scored weights
            self.engine.names = list(self.movement.scores)

    def on_before_optimizer_step(self) -> None:
        self.movement.on_before_optimizer_step()
        if self.engine.masks:
            self.engine.zero_pruned(self.model.gradients())

    def on_after_optimizer_step(self) -> None:
        eng = self.engine
        due, _ = eng.schedule(eng.pruning_step + 1) if eng.schedule else (False, 0)
        scores = None
        if due:  # the only step that allocates: shifted scores, once per pruning
            # The ranking is by |score|: shift S to >= 0, in float64 so that
            # the shift merges no two float32 scores (it would break ties).
            s = self.movement.scores
            low = min(float(a.min()) for a in s.values())
            scores = {n: a.astype(np.float64) - low for n, a in s.items()}
        eng.step(self.model.weights(), scores=scores)
        eng.zero_optimizer_state(getattr(self.model, "optimizer", None))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["sparsity"] = self.sparsity

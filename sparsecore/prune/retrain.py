"""Prune, then (re)train: fixed masks, one-shot fine-tuning and lottery tickets.

Three ways of training a network under masks that do not change while it
trains, each on a copy of the user's compiled model
(:func:`~sparsecore.prune.clone.clone_model`; the original is not modified),
the masks held by ``sc.Pruner(masks=...)`` (gradients, optimizer state and
weights of pruned entries exactly zero at every step):

- :func:`train_with_masks`: train from the model's current weights under
  given masks (e.g. SNIP, GraSP or SynFlow masks at initialization).
- :func:`prune_and_finetune`: the one-shot baseline; rank a trained model's
  weights once, prune to the target sparsity, fine-tune.
- :func:`lottery_ticket`: iterative magnitude pruning with rewinding
  (Frankle & Carbin 2019; Frankle et al. 2020); round ``r`` rewinds to the
  weights (and optimizer) of step ``k``, trains under the mask of round
  ``r``, and ranks the trained weights for the mask of round ``r + 1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsecore._checks import (
    validate_choice,
    validate_int,
    validate_seed,
    validate_sparsity,
)
from sparsecore._text import format_table
from sparsecore.nn.callbacks import Callback, History
from sparsecore.nn.model import Sequential
from sparsecore.prune.allocation import Allocation, allocate_masks, as_allocation
from sparsecore.prune.clone import clone_model, prepare_data, weight_names
from sparsecore.prune.pruner import Pruner

__all__ = [
    "CRITERIA",
    "LotteryResult",
    "PrunedRun",
    "lottery_ticket",
    "prune_and_finetune",
    "train_with_masks",
]

#: How the weights of a trained model are ranked for the next mask.
CRITERIA = ("magnitude", "random")

Mask = NDArray[np.bool_]


@dataclass
class PrunedRun:
    """One training run under fixed masks.

    Attributes
    ----------
    sparsity : float
        Fraction of the masked arrays' entries pruned (exact, from the masks).
    masks : dict of str to bool ndarray
        True = kept (all True for a dense run).
    history : History
        From ``fit``: ``history.history["loss"]``, ``"val_accuracy"``, ...
    model : Sequential
        The trained model (pruned entries exactly zero). Its pruner stays
        attached (``model.pruner``), so further ``fit`` calls keep the masks.
    target : float
        The sparsity asked for.
    """

    sparsity: float
    masks: dict[str, Mask]
    history: History
    model: Sequential
    target: float = 0.0

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``model.evaluate(x, y, return_dict=True)``."""
        return self.model.evaluate(x, y, return_dict=True)


@dataclass
class LotteryResult:
    """The rounds of :func:`lottery_ticket`.

    Attributes
    ----------
    rounds : list of PrunedRun
        ``rounds[0]`` is the dense run; ``rounds[r]`` trained under the mask
        found after round ``r - 1`` (nested: each mask is a subset of the
        previous one).
    rewind_step : int
    criterion : str
    """

    rounds: list[PrunedRun] = field(default_factory=list)
    rewind_step: int = 0
    criterion: str = "magnitude"

    def table(self, x: Any = None, y: Any = None, *, metric: str | None = None) -> str:
        """One row per round: sparsity, last training loss, and a metric.

        Parameters
        ----------
        x, y : ndarray, optional
            Data to evaluate each round's model on (e.g. the test set);
            without them the last ``val_<metric>`` of the history is shown.
        metric : str, optional
            Key of the evaluation; default the first compiled metric.
        """
        rows = [["round", "sparsity", "loss"]]
        keys = ["loss", *self.rounds[0].model.metrics] if self.rounds else ["loss"]
        metric = metric or keys[min(1, len(keys) - 1)]
        rows[0].append(metric if x is not None else f"val_{metric}")
        for r, run in enumerate(self.rounds):
            hist = run.history.history
            if x is not None:
                value = run.evaluate(x, y)[metric]
            else:
                value = (hist.get(f"val_{metric}") or [math.nan])[-1]
            loss = (hist.get("loss") or [math.nan])[-1]
            rows.append([str(r), f"{run.sparsity:.4f}", f"{loss:.4g}", f"{value:.4f}"])
        return format_table(rows)


def _masked_fraction(masks: Mapping[str, Mask]) -> float:
    total = sum(m.size for m in masks.values())
    kept = sum(int(np.count_nonzero(m)) for m in masks.values())
    return 1.0 - kept / total if total else 0.0


def _check_masks(model: Sequential, masks: Mapping[str, Any]) -> dict[str, Mask]:
    if not isinstance(masks, Mapping) or not masks:
        raise ValueError(
            f"masks must be a non-empty dict of bool arrays; got {masks!r}"
        )
    live = model.weights()
    out = {}
    for n in weight_names(model, list(masks)):
        m = np.asarray(masks[n])
        if m.dtype != np.bool_ or m.shape != live[n].shape:
            raise ValueError(
                f"masks[{n!r}] must be a bool array of shape {live[n].shape}; "
                f"got {m.dtype} of shape {m.shape}"
            )
        out[n] = m.copy()
    return out


def _fit(
    net: Sequential,
    masks: Mapping[str, Mask] | None,
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    validation_data: Any,
    seed: int,
    callbacks: Sequence[Callback] | None,
    verbose: int,
    initial_epoch: int = 0,
    extra: Sequence[Callback] = (),
) -> History:
    """``net.fit`` with the masks fixed by a Pruner (none for a dense run)."""
    cbs: list[Callback] = []
    pruner = None
    if masks is not None:
        pruner = Pruner(masks=dict(masks))
        cbs.append(pruner)
    cbs += [*extra, *(callbacks or [])]
    history = net.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        callbacks=cbs,
        verbose=verbose,
        seed=seed,
        initial_epoch=initial_epoch,
    )
    # The pruner stays attached (model.pruner): a later fit keeps the masks,
    # and model.save stores them.
    return history


def _validate_run(
    epochs: Any, batch_size: Any, seed: Any, verbose: Any
) -> tuple[int, int, int, int]:
    return (
        validate_int("epochs", epochs, 1),
        validate_int("batch_size", batch_size, 1),
        validate_seed("seed", seed) or 0,
        validate_int("verbose", verbose, 0),
    )


def train_with_masks(
    model: Sequential,
    masks: Mapping[str, Any],
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    validation_data: tuple[Any, Any] | None = None,
    seed: int = 0,
    callbacks: Sequence[Callback] | None = None,
    verbose: int = 0,
) -> PrunedRun:
    """Train a copy of `model` from its current weights under fixed `masks`.

    Parameters
    ----------
    model : Sequential
        Compiled; its weights are the starting point (e.g. the initialization
        that SNIP, GraSP or SynFlow scored). Not modified.
    masks : dict of str to bool ndarray
        ``{weight name: mask}``, True = kept, as :func:`snip_masks` returns.
    x, y : ndarray
        Training data, as ``fit`` takes it.
    epochs, batch_size : int
    validation_data : tuple (x_val, y_val), optional
    seed : int, default=0
        The shuffling seed of ``fit``.
    callbacks : list of Callback, optional
        Passed to ``fit`` after the pruner.
    verbose : int, default=0

    Returns
    -------
    PrunedRun
        The trained copy, its history and the masks.
    """
    epochs, batch_size, seed, verbose = _validate_run(epochs, batch_size, seed, verbose)
    net = clone_model(model)
    fixed = _check_masks(net, masks)
    history = _fit(
        net,
        fixed,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        seed=seed,
        callbacks=callbacks,
        verbose=verbose,
    )
    return PrunedRun(
        _masked_fraction(fixed), fixed, history, net, _masked_fraction(fixed)
    )


def _rank(
    net: Sequential,
    names: Sequence[str],
    sparsity: float,
    criterion: str,
    allocation: Allocation,
    prev: Mapping[str, Mask] | None,
    rng: np.random.Generator,
) -> dict[str, Mask]:
    live = net.weights()
    if criterion == "magnitude":
        scores = {n: np.abs(live[n]) for n in names}
    else:
        scores = {n: rng.random(live[n].shape) for n in names}
    return allocate_masks(scores, sparsity, allocation, prev_masks=prev)


def prune_and_finetune(
    model: Sequential,
    x: Any,
    y: Any,
    *,
    sparsity: float,
    epochs: int,
    batch_size: int,
    criterion: str = "magnitude",
    scope: str | Allocation = "layer",
    weights: Sequence[str] | None = None,
    validation_data: tuple[Any, Any] | None = None,
    seed: int = 0,
    callbacks: Sequence[Callback] | None = None,
    verbose: int = 0,
) -> PrunedRun:
    """One-shot pruning: rank a trained model's weights once, prune, fine-tune.

    Parameters
    ----------
    model : Sequential
        Compiled and trained; not modified.
    x, y : ndarray
        Fine-tuning data.
    sparsity : float
        In [0, 1).
    epochs, batch_size : int
        Of the fine-tuning, with a fresh optimizer of the model's settings.
    criterion : {'magnitude', 'random'}, default='magnitude'
    scope : {'layer', 'uniform', 'global', 'erk'} or Allocation, default='layer'
    weights : list of str, optional
        Default every kernel.
    validation_data : tuple (x_val, y_val), optional
    seed : int, default=0
        Shuffling seed, and the random criterion's ``default_rng((seed, 1))``.
    callbacks : list of Callback, optional
    verbose : int, default=0

    Returns
    -------
    PrunedRun
        The fine-tuned copy at exactly the allocation's sparsity.

    Notes
    -----
    The baseline of the pruning literature (Han et al. 2015, one round):
    ``M = TopK(|W_trained|)``, then train ``W * M`` for `epochs` more epochs.
    """
    sparsity = validate_sparsity("sparsity", sparsity)
    criterion = validate_choice("criterion", criterion, CRITERIA)
    alloc = as_allocation(scope)
    epochs, batch_size, seed, verbose = _validate_run(epochs, batch_size, seed, verbose)
    net = clone_model(model)
    names = weight_names(net, weights)
    masks = _rank(
        net, names, sparsity, criterion, alloc, None, np.random.default_rng((seed, 1))
    )
    history = _fit(
        net,
        masks,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        seed=seed,
        callbacks=callbacks,
        verbose=verbose,
    )
    return PrunedRun(_masked_fraction(masks), masks, history, net, sparsity)


class _Snapshot(Callback):
    """Keep the weights and optimizer state right after training step `step`."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step
        self.seen = 0
        self.weights: list[NDArray[Any]] | None = None
        self.state: dict[str, dict[str, NDArray[Any]]] = {}
        self.iterations = 0

    def on_train_batch_begin(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        self.seen += 1

    def on_after_optimizer_step(self) -> None:
        if self.seen == self.step:
            self.weights = self.model.get_weights()
            opt = self.model.optimizer
            self.state = {
                n: {k: a.copy() for k, a in slots.items()}
                for n, slots in opt.state.items()
            }
            self.iterations = opt.iterations


def _rewind(net: Sequential, snap: _Snapshot, masks: Mapping[str, Mask]) -> None:
    """Put the snapshot's weights and optimizer state into `net`, masked."""
    assert snap.weights is not None  # taken by the dense run
    net.set_weights(snap.weights)
    live = net.weights()
    for n, m in masks.items():
        np.copyto(live[n], 0, where=~m)
    opt = net.optimizer
    assert opt is not None  # clone_model compiled it
    opt.build(live)
    for n, slots in snap.state.items():
        for k, a in slots.items():
            opt.state[n][k][...] = a
            if n in masks:
                np.copyto(opt.state[n][k], 0, where=~masks[n])
    opt.iterations = snap.iterations


def lottery_ticket(
    model: Sequential,
    x: Any,
    y: Any,
    *,
    sparsities: Sequence[float],
    epochs: int,
    batch_size: int,
    rewind_step: int = 0,
    criterion: str = "magnitude",
    scope: str | Allocation = "layer",
    weights: Sequence[str] | None = None,
    validation_data: tuple[Any, Any] | None = None,
    seed: int = 0,
    callbacks: Sequence[Callback] | None = None,
    verbose: int = 0,
) -> LotteryResult:
    """Find a winning ticket: iterative magnitude pruning with rewinding.

    Parameters
    ----------
    model : Sequential
        Compiled, at its initialization ``theta_0``; not modified.
    x, y : ndarray
        Training data, as ``fit`` takes it.
    sparsities : sequence of float
        The sparsity of the mask of rounds 1, 2, ... (round 0 is dense); each
        in [0, 1) and non-decreasing, e.g. ``1 - 0.8 ** r`` (20 % of the
        remaining weights per round, as Frankle & Carbin).
    epochs, batch_size : int
        Training of every round.
    rewind_step : int, default=0
        ``k``: every round restarts from the weights and optimizer state
        right after step ``k`` of the dense run (0: ``theta_0`` and a fresh
        optimizer, the original lottery ticket).
    criterion : {'magnitude', 'random'}, default='magnitude'
        ``'random'`` draws each mask at random (nested likewise): the random
        ticket control.
    scope : {'layer', 'uniform', 'global', 'erk'} or Allocation, default='layer'
        How each round's sparsity is shared among layers.
    weights : list of str, optional
        Default every kernel.
    validation_data : tuple (x_val, y_val), optional
    seed : int, default=0
        Shuffling seed of every round's ``fit`` (each round sees the same
        batches) and the random criterion's ``default_rng((seed, round))``.
    callbacks : list of Callback, optional
        Passed to every round's ``fit``.
    verbose : int, default=0

    Returns
    -------
    LotteryResult
        ``.rounds[r]`` with ``.sparsity``, ``.masks``, ``.history``, ``.model``.

    Raises
    ------
    ValueError
        If `sparsities` is empty or decreasing, or `rewind_step` is beyond the
        dense run.

    Notes
    -----
    With ``m_0 = 1`` and ``theta_k`` the weights after ``k`` steps of the
    dense run, round ``r >= 1`` trains ``theta_k * m_r`` (rewound) and

    .. math::

        m_{r+1} = \\mathrm{TopK}_{s_{r+1}}\\big(|\\theta^{(r)}_{T}| \\big)
        \\subseteq m_r ,

    the largest trained weights of round ``r`` among those it kept (per layer
    for ``scope='layer'``). A rewound round restarts at epoch
    ``k // steps_per_epoch`` with the optimizer's step count at ``k``, so
    with ``k`` a multiple of the epoch length it trains exactly the remaining
    ``T - k`` steps on the same batches (open_lth's rewinding); otherwise it
    repeats the first ``k mod steps_per_epoch`` batches of that epoch.

    References
    ----------
    Frankle & Carbin (2019), "The Lottery Ticket Hypothesis: Finding Sparse,
    Trainable Neural Networks", ICLR, arXiv:1803.03635; Frankle, Dziugaite,
    Roy & Carbin (2020), "Linear Mode Connectivity and the Lottery Ticket
    Hypothesis", ICML, arXiv:1912.05671 (rewinding to step k); reference code
    facebookresearch/open_lth; Greydanus (2020), MNIST-1D lottery notebook.
    """
    criterion = validate_choice("criterion", criterion, CRITERIA)
    alloc = as_allocation(scope)
    epochs, batch_size, seed, verbose = _validate_run(epochs, batch_size, seed, verbose)
    targets = [
        validate_sparsity(f"sparsities[{i}]", s) for i, s in enumerate(sparsities)
    ]
    if not targets:
        raise ValueError("sparsities must hold at least one sparsity; got []")
    for i in range(1, len(targets)):
        if targets[i] < targets[i - 1]:
            raise ValueError(
                f"sparsities must be non-decreasing (nested masks); got "
                f"{targets[i]!r} after {targets[i - 1]!r}"
            )
    rewind_step = validate_int("rewind_step", rewind_step, 0)
    dense = clone_model(model)
    names = weight_names(dense, weights)
    steps_per_epoch = math.ceil(prepare_data(dense, x, y)[0].shape[0] / batch_size)
    if rewind_step > epochs * steps_per_epoch:
        raise ValueError(
            f"rewind_step must be an int in [0, {epochs * steps_per_epoch}] (the "
            f"steps of one run); got {rewind_step!r}"
        )

    snap = _Snapshot(rewind_step)
    if rewind_step == 0:
        snap.weights = dense.get_weights()
    history = _fit(
        dense,
        None,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        seed=seed,
        callbacks=callbacks,
        verbose=verbose,
        extra=[snap] if rewind_step else (),
    )
    ones = {n: np.ones(dense.weights()[n].shape, dtype=bool) for n in names}
    result = LotteryResult(rewind_step=rewind_step, criterion=criterion)
    result.rounds.append(PrunedRun(0.0, ones, history, dense, 0.0))
    prev, trained = ones, dense
    for r, target in enumerate(targets, start=1):
        masks = _rank(
            trained,
            names,
            target,
            criterion,
            alloc,
            prev,
            np.random.default_rng((seed, r)),
        )
        net = clone_model(model)
        _rewind(net, snap, masks)
        history = _fit(
            net,
            masks,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=validation_data,
            seed=seed,
            callbacks=callbacks,
            verbose=verbose,
            initial_epoch=rewind_step // steps_per_epoch,
        )
        result.rounds.append(
            PrunedRun(_masked_fraction(masks), masks, history, net, target)
        )
        prev, trained = masks, net
    return result

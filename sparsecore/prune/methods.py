"""The pruning methods as sweep cells call them: ``run(model, data, cell) -> model``.

Each function takes a compiled, freshly initialised model (seeded by the
cell), trains it on ``data`` with the cell's batch size and seed, and returns
a trained model whose kernels are at ``cell.sparsity``. ``data`` needs
``x_train, y_train`` (and ``n_classes``); ``cell`` needs ``sparsity, seed,
epochs, batch_size`` and ``options`` (a tuple of ``(key, value)`` pairs or a
dict); both are read by attribute only, so any object with those fields
works (:mod:`sparsecore.sweep` passes its ``Data`` and ``Cell``).

==========  ===========================================================  =========
name        what runs                                                    epochs
==========  ===========================================================  =========
oneshot     dense for E - F, magnitude-prune once, fine-tune F           E
movement    dense for E - F, fine-tune F with movement pruning           E
lottery     dense, then R rounds of prune + rewind to init + retrain     (R+1) E
static      a random mask at init, kept fixed                            E
snip        SNIP mask at init (on a batch), kept fixed                   E
grasp       GraSP mask at init (on a batch), kept fixed                  E
synflow     SynFlow mask at init (data-free), kept fixed                 E
rigl        RigL from a random mask                                      E
set         SET from a random mask                                       E
==========  ===========================================================  =========

Options (``cell.options``): ``fine_tune_epochs`` (F, default ``max(1, E // 4)``),
``rounds`` (R, default 3; round r prunes to ``1 - (1 - s) ** (r / R)``),
``score_samples`` (SNIP/GraSP batch, default ``max(batch_size, 10 * n_classes)``),
``iterations`` (SynFlow, default 100), ``update_frequency`` (RigL/SET, default
100), ``drop_fraction`` (default 0.3), ``distribution`` / ``scope``
(allocation, default ``'uniform'`` for the dynamic methods and ``'layer'`` for
oneshot/lottery, ``'global'`` for the methods at init).

:data:`METHODS` maps each name to its function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparsecore.nn.model import Sequential
from sparsecore.prune.allocation import allocate_masks
from sparsecore.prune.clone import weight_names
from sparsecore.prune.dynamic import SET, RigL
from sparsecore.prune.init_pruning import grasp_masks, snip_masks, synflow_masks
from sparsecore.prune.movement import MovementPruner
from sparsecore.prune.retrain import (
    lottery_ticket,
    prune_and_finetune,
    train_with_masks,
)
from sparsecore.prune.schedules import PolynomialDecay

__all__ = [
    "METHODS",
    "run_grasp",
    "run_lottery",
    "run_movement",
    "run_oneshot",
    "run_rigl",
    "run_set",
    "run_snip",
    "run_static",
    "run_synflow",
]

Run = Callable[[Sequential, Any, Any], Sequential]


def _options(cell: Any) -> dict[str, Any]:
    opts = getattr(cell, "options", ()) or ()
    return dict(opts.items() if isinstance(opts, Mapping) else opts)


def _fit_dense(model: Sequential, data: Any, cell: Any, epochs: int) -> None:
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=cell.batch_size,
        verbose=0,
        seed=cell.seed,
    )


def run_oneshot(model: Sequential, data: Any, cell: Any) -> Sequential:
    """Dense training, one magnitude pruning, fine-tuning: E epochs in all."""
    opts = _options(cell)
    fine = int(opts.get("fine_tune_epochs", max(1, cell.epochs // 4)))
    fine = min(fine, cell.epochs)
    if cell.epochs - fine > 0:
        _fit_dense(model, data, cell, cell.epochs - fine)
    run = prune_and_finetune(
        model,
        data.x_train,
        data.y_train,
        sparsity=cell.sparsity,
        epochs=fine,
        batch_size=cell.batch_size,
        scope=opts.get("scope", "layer"),
        seed=cell.seed,
    )
    return run.model


def run_movement(model: Sequential, data: Any, cell: Any) -> Sequential:
    """Dense training, then fine-tuning with movement pruning (cubic schedule)."""
    opts = _options(cell)
    fine = min(int(opts.get("fine_tune_epochs", max(1, cell.epochs // 4))), cell.epochs)
    if cell.epochs - fine > 0:
        _fit_dense(model, data, cell, cell.epochs - fine)
    steps = fine * -(-data.x_train.shape[0] // cell.batch_size)
    # Sanh et al.: sparsity rises with a cubic schedule over the first part of
    # fine-tuning, then stays; here from the first step to 2/3 of it.
    frequency = max(1, steps // 30)
    end = 1 + max(1, (2 * steps // 3) // frequency) * frequency
    schedule = PolynomialDecay(0.0, cell.sparsity, 1, end, frequency=frequency)
    pruner = MovementPruner(schedule, scope=opts.get("scope", "layer"))
    model.fit(
        data.x_train,
        data.y_train,
        epochs=fine,
        batch_size=cell.batch_size,
        callbacks=[pruner],
        verbose=0,
        seed=cell.seed,
    )
    return model


def run_lottery(model: Sequential, data: Any, cell: Any) -> Sequential:
    """Lottery ticket: R rounds of magnitude pruning with rewinding to init."""
    opts = _options(cell)
    rounds = int(opts.get("rounds", 3))
    s = float(cell.sparsity)
    sparsities = [1.0 - (1.0 - s) ** (r / rounds) for r in range(1, rounds)] + [s]
    result = lottery_ticket(
        model,
        data.x_train,
        data.y_train,
        sparsities=sparsities,
        epochs=cell.epochs,
        batch_size=cell.batch_size,
        rewind_step=int(opts.get("rewind_step", 0)),
        scope=opts.get("scope", "layer"),
        seed=cell.seed,
    )
    return result.rounds[-1].model


def _fixed(model: Sequential, data: Any, cell: Any, masks: Any) -> Sequential:
    run = train_with_masks(
        model,
        masks,
        data.x_train,
        data.y_train,
        epochs=cell.epochs,
        batch_size=cell.batch_size,
        seed=cell.seed,
    )
    return run.model


def _score_batch(data: Any, cell: Any) -> tuple[Any, Any]:
    """A seeded random subset of the training set for SNIP and GraSP."""
    opts = _options(cell)
    n = data.x_train.shape[0]
    classes = int(getattr(data, "n_classes", 0) or 0)
    size = int(opts.get("score_samples", max(cell.batch_size, 10 * classes)))
    idx = np.random.default_rng((cell.seed, 7)).permutation(n)[: min(n, size)]
    return data.x_train[idx], data.y_train[idx]


def run_static(model: Sequential, data: Any, cell: Any) -> Sequential:
    """A random mask drawn at initialization and kept fixed (the static baseline)."""
    opts = _options(cell)
    live = model.weights()
    rng = np.random.default_rng((cell.seed, 3))
    scores = {n: rng.random(live[n].shape) for n in weight_names(model, None)}
    masks = allocate_masks(scores, cell.sparsity, opts.get("scope", "layer"))
    return _fixed(model, data, cell, masks)


def run_snip(model: Sequential, data: Any, cell: Any) -> Sequential:
    """SNIP masks at initialization, then training under them."""
    x, y = _score_batch(data, cell)
    scope = _options(cell).get("scope", "global")
    return _fixed(model, data, cell, snip_masks(model, x, y, cell.sparsity, scope))


def run_grasp(model: Sequential, data: Any, cell: Any) -> Sequential:
    """GraSP masks at initialization, then training under them."""
    x, y = _score_batch(data, cell)
    scope = _options(cell).get("scope", "global")
    return _fixed(model, data, cell, grasp_masks(model, x, y, cell.sparsity, scope))


def run_synflow(model: Sequential, data: Any, cell: Any) -> Sequential:
    """SynFlow masks (data-free) at initialization, then training under them."""
    opts = _options(cell)
    masks = synflow_masks(
        model,
        cell.sparsity,
        iterations=int(opts.get("iterations", 100)),
        scope=opts.get("scope", "global"),
    )
    return _fixed(model, data, cell, masks)


def _dynamic(cls: type[RigL] | type[SET]) -> Run:
    def run(model: Sequential, data: Any, cell: Any) -> Sequential:
        opts = _options(cell)
        callback = cls(
            cell.sparsity,
            update_frequency=int(opts.get("update_frequency", 100)),
            drop_fraction=float(opts.get("drop_fraction", 0.3)),
            distribution=opts.get("distribution", "uniform"),
            seed=cell.seed,
        )
        model.fit(
            data.x_train,
            data.y_train,
            epochs=cell.epochs,
            batch_size=cell.batch_size,
            callbacks=[callback],
            verbose=0,
            seed=cell.seed,
        )
        return model

    run.__doc__ = f"{cls.__name__} dynamic sparse training from a random mask."
    return run


run_rigl = _dynamic(RigL)
run_set = _dynamic(SET)

#: Method name -> ``run(model, data, cell) -> trained model``.
METHODS: dict[str, Run] = {
    "oneshot": run_oneshot,
    "movement": run_movement,
    "lottery": run_lottery,
    "static": run_static,
    "snip": run_snip,
    "grasp": run_grasp,
    "synflow": run_synflow,
    "rigl": run_rigl,
    "set": run_set,
}

"""The pruning methods a sweep runs, by name: each trains one model to one sparsity.

A method is a plain function ``run(model, data, cell) -> model``: it gets a
compiled, freshly initialised model (seeded by the cell), trains it on
``data`` for ``cell.epochs`` epochs with the cell's batch size and seed, and
returns the trained model with its kernels at ``cell.sparsity`` (the same
object, or a new one for methods that restart training). :data:`METHODS`
maps each name to its function; a name that is not there is refused when the
grid is built.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sparsecore.nn import Sequential
from sparsecore.prune import PolynomialDecay, Pruner
from sparsecore.prune.methods import METHODS as PRUNING_METHODS

if TYPE_CHECKING:
    from sparsecore.sweep.grid import Cell

__all__ = ["METHODS", "Data", "gradual_schedule", "register_method"]


@dataclasses.dataclass(frozen=True)
class Data:
    """A dataset as a cell sees it.

    Attributes
    ----------
    x_train : ndarray of shape (n_train, n_features), float32
    y_train : ndarray of shape (n_train,) int64 labels, or (n_train, 1) float32
    x_test, y_test : the same for the test set
    n_classes : int
        0 for regression.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def gradual_schedule(cell: Cell, steps_per_epoch: int) -> PolynomialDecay:
    """Gradual magnitude pruning over the middle of training (Zhu & Gupta 2017).

    Sparsity rises from 0 at 10 % of the steps to ``cell.sparsity`` by 70 %,
    pruning twice per epoch (``frequency = steps_per_epoch // 2``); the last
    30 % of training fine-tunes at the final sparsity. ``end_step`` is a whole
    number of ``frequency`` after ``begin_step``, so the final sparsity is
    applied exactly.

    .. math::

        s(t) = s_f \\left(1 - \\left(1 - \\frac{t - t_b}{t_e - t_b}\\right)^3\\right)
    """
    total = cell.epochs * steps_per_epoch
    frequency = max(1, steps_per_epoch // 2)
    begin = max(1, round(0.1 * total))
    n_prunes = max(1, math.floor((0.7 * total - begin) / frequency))
    end = begin + n_prunes * frequency
    return PolynomialDecay(0.0, cell.sparsity, begin, end, frequency=frequency)


def _fit(model: Sequential, data: Data, cell: Cell, callbacks: list[Any]) -> None:
    model.fit(
        data.x_train,
        data.y_train,
        epochs=cell.epochs,
        batch_size=cell.batch_size,
        callbacks=callbacks,
        verbose=0,
        seed=cell.seed,
    )


def _dense(model: Sequential, data: Data, cell: Cell) -> Sequential:
    """The baseline: no pruning."""
    _fit(model, data, cell, [])
    return model


def _gradual(criterion: str) -> Callable[[Sequential, Data, Cell], Sequential]:
    def run(model: Sequential, data: Data, cell: Cell) -> Sequential:
        steps = math.ceil(data.x_train.shape[0] / cell.batch_size)
        pruner = Pruner(
            gradual_schedule(cell, steps), criterion=criterion, seed=cell.seed
        )
        _fit(model, data, cell, [pruner])
        pruner.strip(model)
        return model

    run.__doc__ = (
        f"Gradual pruning with the {criterion!r} criterion on the schedule of "
        ":func:`gradual_schedule`, every kernel to the cell's sparsity."
    )
    return run


#: Method name -> function ``run(model, data, cell) -> trained model``: the
#: gradual baselines here, and every method of :mod:`sparsecore.prune.methods`
#: (oneshot, movement, lottery, static, snip, grasp, synflow, rigl, set).
METHODS: dict[str, Callable[[Sequential, Data, Cell], Sequential]] = {
    "dense": _dense,
    "magnitude": _gradual("magnitude"),
    "random": _gradual("random"),
    **PRUNING_METHODS,
}


def register_method(
    name: str, run: Callable[[Sequential, Data, Cell], Sequential]
) -> None:
    """Add a pruning method a grid can name (your own, or a variant).

    Parameters
    ----------
    name : str
        The name grids use; must not be taken.
    run : callable
        ``run(model, data, cell) -> trained model`` (see the module docstring).

    Notes
    -----
    Cells run in worker processes: with the default process pool or a Dask
    cluster, register the method in a module the workers import (or run the
    sweep on an in-process executor such as
    ``concurrent.futures.ThreadPoolExecutor``).
    """
    from sparsecore._checks import validate_type

    validate_type("name", name, str, "a str")
    if name in METHODS:
        raise ValueError(
            f"name must not be a registered method {sorted(METHODS)}; got {name!r}"
        )
    if not callable(run):
        raise TypeError(f"run must be callable; got {run!r}")
    METHODS[name] = run

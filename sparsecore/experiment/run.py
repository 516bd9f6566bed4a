"""The experiment's data and train stages, and :func:`run_experiment`.

1. **data** (:func:`load_data`) -- ``make_regression(...)``, x divided by its
   per-column max |x|, y by max |y|, ``train_test_split(...)``.
2. **train** (:func:`build_model`, then ``_train`` once per run) -- the
   tutorial network, once dense and once with a :class:`~sparsecore.prune.Pruner`,
   both from the same initial weights and the same batches.
3. **deploy** -- :func:`sparsecore.experiment.deploy.deploy`.

:func:`run_experiment` chains them and fills an
:class:`~sparsecore.experiment.result.ExperimentResult` (the environment record
is :func:`sparsecore._environment.environment`).

Examples
--------
>>> from sparsecore.experiment import ExperimentConfig, run_experiment
>>> result = run_experiment(ExperimentConfig.quick(), log=print)  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsecore._checks import validate_type
from sparsecore._environment import environment
from sparsecore.data import make_regression, train_test_split
from sparsecore.experiment.config import ExperimentConfig
from sparsecore.experiment.deploy import Log, deploy
from sparsecore.experiment.result import ExperimentResult, RunResult
from sparsecore.nn import Adam, Callback, Dense, ReLU, Sequential
from sparsecore.prune import Pruner, sparsity_report

__all__ = ["Progress", "build_model", "epoch_values", "load_data", "run_experiment"]


# --------------------------------------------------------------------- stages
def load_data(
    config: ExperimentConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tutorial's data, normalised and split.

    Returns
    -------
    x_train : ndarray of shape (n_train, n_features)
    x_test : ndarray of shape (n_test, n_features)
    y_train : ndarray of shape (n_train, 1)
    y_test : ndarray of shape (n_test, 1)
        In ``config.dtype``; x scaled by the per-column max |x| and y by max |y|
        (computed over all samples before the split, as the tutorial does).
    """
    x, y = make_regression(
        n_samples=config.n_samples,
        n_features=config.n_features,
        n_informative=config.n_informative,
        noise=config.noise,
        random_state=config.data_seed,
    )
    # A column (or y) that is all zero would divide by zero: leave it as is.
    x_scale = np.abs(x).max(axis=0)
    x = x / np.where(x_scale > 0, x_scale, 1.0)
    y_scale = float(np.abs(y).max())
    y = (y / (y_scale if y_scale > 0 else 1.0)).reshape(-1, 1)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=config.test_size, random_state=config.split_seed
    )
    dt = np.dtype(config.dtype)
    return (
        x_train.astype(dt),
        x_test.astype(dt),
        y_train.astype(dt),
        y_test.astype(dt),
    )


def build_model(config: ExperimentConfig) -> Sequential:
    """The tutorial's network, compiled with MSE and Adam.

    ``n_features -> hidden[0] (he_normal) -> ReLU -> hidden[1] -> ReLU -> ... -> 1``.
    """
    layers: list[Any] = []
    for i, units in enumerate(config.hidden):
        init = "he_normal" if i == 0 else "glorot_uniform"
        layers += [Dense(int(units), kernel_initializer=init), ReLU()]
    layers.append(Dense(1))
    model = Sequential(
        layers, input_dim=config.n_features, seed=config.seed, dtype=config.dtype
    )
    model.compile(loss="mse", optimizer=Adam(learning_rate=config.learning_rate))
    return model


def _clone(model: Sequential, learning_rate: float) -> Sequential:
    """A second, independent model with the same architecture and weights."""
    twin = Sequential.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    twin.compile(loss="mse", optimizer=Adam(learning_rate=learning_rate))
    return twin


#: Receives ``(run label, epochs done, epochs in the run, the epoch's logs)``
#: after every epoch (``sparsecore demo`` draws its progress line from it).
Progress = Callable[[str, int, int, dict[str, Any]], None]


def epoch_values(logs: dict[str, Any]) -> str:
    """An epoch's losses and sparsity as text: ``loss 2.41e-05  val_loss ...``.

    Losses are shown with 4 significant digits: the tutorial's training loss
    falls to ~1e-5, which fixed decimals would print as 0.000000.
    """
    parts = [f"{k} {logs[k]:.4g}" for k in ("loss", "val_loss") if k in logs]
    if "sparsity" in logs:
        parts.append(f"sparsity {logs['sparsity']:.4f}")
    return "  ".join(parts)


class _EpochReport(Callback):
    """After every epoch: a line to `log`, or a call to `progress`."""

    def __init__(self, label: str, log: Log | None, progress: Progress | None) -> None:
        super().__init__()
        self.label, self.log, self.progress = label, log, progress
        self._start = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.progress is not None:  # epoch 0: the run starts (the clock too)
            self.progress(self.label, 0, int(self.params.get("epochs", 0)), {})

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        total = int(self.params.get("epochs", 0))
        if self.progress is not None:
            self.progress(self.label, epoch + 1, total, logs)
        elif self.log is not None:
            seconds = time.perf_counter() - self._start
            width = len(str(total))
            head = f"[{self.label}] epoch {epoch + 1:>{width}}/{total}"
            self.log(f"{head}  {epoch_values(logs)}  {seconds:.2f}s")


def _train(
    label: str,
    model: Sequential,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: ExperimentConfig,
    log: Log | None,
    pruner: Pruner | None,
    progress: Progress | None = None,
) -> RunResult:
    """The train stage: one ``fit`` of `model` (with `pruner` when given).

    ``data`` is :func:`load_data`'s ``(x_train, x_test, y_train, y_test)``; the
    test set is the validation data. ``fit`` is seeded with ``config.seed``,
    so two calls see the same batches.
    """
    x_train, x_test, y_train, y_test = data
    callbacks: list[Callback] = [] if pruner is None else [pruner]
    if log is not None or progress is not None:
        # after the pruner: the logs hold its "sparsity"
        callbacks.append(_EpochReport(label, log, progress))
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_data=(x_test, y_test),
        callbacks=callbacks,
        verbose=0,
        seed=config.seed,
    )
    seconds = time.perf_counter() - start
    h = history.history
    return RunResult(
        loss=list(h["loss"]),
        val_loss=list(h["val_loss"]),
        sparsity=list(h["sparsity"]) if "sparsity" in h else None,
        final_val_loss=float(h["val_loss"][-1]),
        train_seconds=seconds,
    )


# --------------------------------------------------------------------- experiment
def run_experiment(
    config: ExperimentConfig | None = None,
    *,
    log: Log | None = None,
    progress: Progress | None = None,
    save_dir: str | os.PathLike[str] | None = None,
) -> ExperimentResult:
    """Train the tutorial network dense and pruned, then compare them.

    Parameters
    ----------
    config : ExperimentConfig, optional
        Defaults to the tutorial (``ExperimentConfig()``: 200 epochs).
    log : callable(str), optional
        Receives progress lines (what each stage does and, unless `progress`
        is given, one line per epoch of each run); ``print`` shows them.
        None is silent.
    progress : callable, optional
        Called when each run starts (``epoch=0``, empty logs) and after every
        epoch with ``(label, epoch, epochs, logs)`` (label ``"dense"`` or
        ``"pruned"``); replaces the per-epoch lines of `log`.
    save_dir : str or path-like, optional
        Keep the saved models there (``dense.npz``, ``pruned_dense.npz``,
        ``pruned_csr.npz``, ...); by default they go to a temporary folder.

    Returns
    -------
    ExperimentResult

    Warns
    -----
    PruningScheduleWarning
        From the :class:`Pruner`, when the run is too short for the schedule
        (the tutorial's 200 epochs x 8 steps end at step 1600, before the
        schedule's step 5000, so the sparsity stops at 0.289, not 0.75).

    Notes
    -----
    Both runs start from the same weights (the pruned model is a copy of the
    dense one before training) and see the same batches (same ``fit`` seed),
    so until the schedule first prunes they are identical, step for step.
    """
    config = ExperimentConfig() if config is None else config
    validate_type("config", config, ExperimentConfig, "an ExperimentConfig")
    save = None if save_dir is None else os.fspath(save_dir)
    if save is not None and not os.path.isdir(save):
        raise ValueError(f"save_dir must be an existing folder; got {save!r}")
    say = log if log is not None else (lambda _text: None)
    start = time.perf_counter()

    data = load_data(config)
    dense = build_model(config)
    pruned = _clone(dense, config.learning_rate)
    sizes = " -> ".join(str(n) for n in (config.n_features, *config.hidden, 1))
    steps = config.steps_per_epoch
    total_steps = steps * config.epochs
    say(
        f"data: {data[0].shape[0]} train / {data[1].shape[0]} test samples, "
        f"{config.n_features} features; model {sizes}; "
        f"{config.epochs} epochs x {steps} steps = {total_steps} steps"
    )

    say("dense run")
    dense_run = _train("dense", dense, data, config, log, None, progress)

    schedule = config.schedule()
    pruner = Pruner(
        schedule, criterion=config.criterion, scope=config.scope, seed=config.seed
    )
    say(
        f"pruned run: {config.criterion} pruning ({config.scope} scope), sparsity "
        f"{config.initial_sparsity:g} -> {config.final_sparsity:g} from step "
        f"{config.begin_step} to {config.end_step}, every {config.frequency} steps"
    )
    pruned_run = _train("pruned", pruned, data, config, log, pruner, progress)
    report = sparsity_report(pruned)  # while attached: marks the pruned weights
    dense_report = sparsity_report(dense)
    pruner.strip(pruned)

    last = schedule.last_pruning_step(total_steps)
    reached = 0.0 if last is None or last < 1 else float(schedule.sparsity_at(last))
    final_step = schedule.last_pruning_step()
    schedule_info = {
        "config": schedule.get_config(),
        "steps_per_epoch": steps,
        "total_steps": total_steps,
        "target_sparsity": float(schedule.sparsity_at(final_step or 0)),
        "last_pruning_step": last if last is not None and last >= 1 else None,
        "reached_sparsity": reached,
        "final_pruning_step": final_step,
        "completed": final_step is not None and total_steps >= final_step,
    }

    say("deploying: saving and timing the pruned model as a SparseModel")
    file_bytes, inference, diff = deploy(dense, pruned, data[1], config, save, log)
    return ExperimentResult(
        config=config,
        dense=dense_run,
        pruned=pruned_run,
        schedule=schedule_info,
        sparsity={"dense": dense_report.to_dict(), "pruned": report.to_dict()},
        nonzeros={
            "total": report.size,
            "dense": dense_report.nonzeros,
            "pruned": report.nonzeros,
        },
        file_bytes=file_bytes,
        inference=inference,
        max_abs_diff=diff,
        wall_seconds=time.perf_counter() - start,
        environment=environment(),
    )

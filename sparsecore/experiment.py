"""The tutorial's experiment: the same network trained dense and pruned, compared.

This is what ``sparsecore demo`` runs. It reproduces the TensorFlow Model
Optimization pruning tutorial with sparsecore's three stages:

1. **data** -- ``make_regression(10000, 1000, n_informative=500, noise=3,
   random_state=0)``; x divided by its per-column max |x|, y by max |y|;
   ``train_test_split(test_size=0.2, random_state=42)``.
2. **train** -- 1000 -> 1024 (he_normal) -> ReLU -> 1024 -> ReLU -> 1, MSE,
   Adam(1e-3), batch 1024, once dense and once with a :class:`Pruner` on
   ``PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)``, both from
   the same initial weights and the same batches.
3. **deploy** -- the pruned model as a :class:`SparseModel`: file sizes (dense
   ``.npz``, CSR ``.npz``, compressed) and inference time against the dense
   path at batch 1 and 1024.

Every number is overridable through :class:`ExperimentConfig`;
:meth:`ExperimentConfig.quick` is a small version (under a minute on two
cores) that runs the same code path.

Examples
--------
>>> from sparsecore.experiment import ExperimentConfig, run_experiment
>>> result = run_experiment(ExperimentConfig.quick(), log=print)  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
>>> result.to_dict()["pruned"]["final_val_loss"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparsecore._version import __version__
from sparsecore.data import make_regression, train_test_split
from sparsecore.nn import Adam, Callback, Dense, ReLU, Sequential
from sparsecore.prune import (
    PolynomialDecay,
    Pruner,
    SparsityReport,
    SparsityRow,
    sparsity_report,
)
from sparsecore.prune.pruner import CRITERIA, SCOPES

__all__ = [
    "ExperimentConfig",
    "ExperimentResult",
    "RunResult",
    "build_model",
    "load_data",
    "run_experiment",
]

Log = Callable[[str], None]


# --------------------------------------------------------------------- config
def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int in [{low}, inf); got {value!r}")


def _check_float(name: str, value: Any, low: float, high: float, interval: str) -> None:
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a float; got {value!r}")
    ok = low <= value <= high if interval[-1] == "]" else low <= value < high
    if interval[0] == "(":
        ok = ok and value > low
    if not ok:
        raise ValueError(f"{name} must be a float in {interval}; got {value!r}")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Every setting of the experiment; the defaults are the tutorial's.

    Parameters
    ----------
    n_samples, n_features, n_informative, noise, data_seed
        ``make_regression(n_samples, n_features, n_informative=...,
        noise=..., random_state=data_seed)``.
    test_size, split_seed
        ``train_test_split(test_size=..., random_state=split_seed)``.
    hidden : tuple of int, default=(1024, 1024)
        Hidden layer widths (each followed by ReLU; the first kernel is
        he_normal, the others glorot_uniform, as the tutorial's Keras model).
    epochs, batch_size, learning_rate
        Training: ``fit(epochs=..., batch_size=...)`` with ``Adam(learning_rate)``.
    initial_sparsity, final_sparsity, begin_step, end_step, power, frequency
        The ``PolynomialDecay`` schedule of the pruned run.
    scope : {'layer', 'global'}, default='layer'
    criterion : {'magnitude', 'structured', 'random'}, default='magnitude'
        As :class:`~sparsecore.prune.Pruner`.
    seed : int, default=0
        Initial weights (shared by both runs) and batch shuffling.
    dtype : {'float32', 'float64'}, default='float32'
    timing_budget : float, default=3.0
        Seconds spent timing inference per batch size (split between the
        variants, at least 5 interleaved repeats each).
    """

    n_samples: int = 10000
    n_features: int = 1000
    n_informative: int = 500
    noise: float = 3.0
    data_seed: int = 0
    test_size: float = 0.2
    split_seed: int = 42
    hidden: tuple[int, ...] = (1024, 1024)
    epochs: int = 200
    batch_size: int = 1024
    learning_rate: float = 1e-3
    initial_sparsity: float = 0.0
    final_sparsity: float = 0.75
    begin_step: int = 1000
    end_step: int = 5000
    power: int = 3
    frequency: int = 100
    scope: str = "layer"
    criterion: str = "magnitude"
    seed: int = 0
    dtype: str = "float32"
    timing_budget: float = 3.0

    def __post_init__(self) -> None:
        for name in ("n_samples", "n_features", "epochs", "batch_size", "power"):
            _check_int(name, getattr(self, name), 1)
        for name in ("n_informative", "data_seed", "split_seed", "seed"):
            _check_int(name, getattr(self, name), 0)
        _check_float("noise", self.noise, 0.0, math.inf, "[0, inf)")
        _check_float("test_size", self.test_size, 0.0, 1.0, "(0, 1)")
        _check_float("learning_rate", self.learning_rate, 0.0, math.inf, "(0, inf)")
        _check_float("timing_budget", self.timing_budget, 0.0, math.inf, "[0, inf)")
        if not isinstance(self.hidden, tuple) or not all(
            isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1
            for h in self.hidden
        ):
            raise ValueError(
                f"hidden must be a tuple of ints in [1, inf); got {self.hidden!r}"
            )
        if self.scope not in SCOPES:
            raise ValueError(
                f"scope must be one of {sorted(SCOPES)}; got {self.scope!r}"
            )
        allowed = sorted(set(CRITERIA) - {"nm"})
        if self.criterion not in allowed:
            raise ValueError(
                f"criterion must be one of {allowed}; got {self.criterion!r}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(
                f"dtype must be one of ['float32', 'float64']; got {self.dtype!r}"
            )
        self.schedule()  # validates the schedule arguments as tfmot does
        Pruner(self.schedule(), criterion=self.criterion, scope=self.scope, seed=0)

    @classmethod
    def quick(cls, **overrides: Any) -> ExperimentConfig:
        """A small version for CI and first contact (under a minute on 2 cores).

        2000 samples x 200 features, 200 -> 256 -> 256 -> 1, batch 128
        (13 steps per epoch), 30 epochs = 390 steps; the schedule prunes from
        step 100 to 300 every 20 steps, so it completes and the last 6 epochs
        train at the final sparsity.
        """
        base = cls(
            n_samples=2000,
            n_features=200,
            n_informative=100,
            hidden=(256, 256),
            epochs=30,
            batch_size=128,
            begin_step=100,
            end_step=300,
            frequency=20,
            timing_budget=1.0,
        )
        return base.replace(**overrides)

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with some fields changed (validated again)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown ExperimentConfig fields: {unknown}")
        if "hidden" in changes:
            changes["hidden"] = tuple(changes["hidden"])
        return dataclasses.replace(self, **changes)

    def schedule(self) -> PolynomialDecay:
        """The pruned run's schedule."""
        return PolynomialDecay(
            initial_sparsity=self.initial_sparsity,
            final_sparsity=self.final_sparsity,
            begin_step=self.begin_step,
            end_step=self.end_step,
            power=self.power,
            frequency=self.frequency,
        )

    @property
    def n_train(self) -> int:
        """Training samples after the split (``train_test_split`` rounds test up)."""
        return self.n_samples - math.ceil(self.test_size * self.n_samples)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


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


class _EpochLog(Callback):
    """One line per epoch, labelled with the run's name."""

    def __init__(self, label: str, log: Log) -> None:
        super().__init__()
        self.label, self.log = label, log
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        total = self.params.get("epochs", "?")
        width = len(str(total))
        parts = [f"[{self.label}] epoch {epoch + 1:>{width}}/{total}"]
        parts.append(f"loss {logs.get('loss', math.nan):.6f}")
        if "val_loss" in logs:
            parts.append(f"val_loss {logs['val_loss']:.6f}")
        if "sparsity" in logs:
            parts.append(f"sparsity {logs['sparsity']:.4f}")
        parts.append(f"{time.perf_counter() - self._start:.2f}s")
        self.log("  ".join(parts))


# --------------------------------------------------------------------- results
@dataclasses.dataclass
class RunResult:
    """One training run.

    Attributes
    ----------
    loss, val_loss : list of float
        Per epoch.
    sparsity : list of float or None
        Per epoch, the pruned weights' sparsity (pruned run only).
    final_val_loss : float
    train_seconds : float
        Wall time of ``fit``.
    """

    loss: list[float]
    val_loss: list[float]
    sparsity: list[float] | None
    final_val_loss: float
    train_seconds: float


@dataclasses.dataclass
class ExperimentResult:
    """Everything :func:`run_experiment` measured (see :meth:`to_dict`).

    Attributes
    ----------
    config : ExperimentConfig
    dense, pruned : RunResult
    schedule : dict
        ``total_steps``, ``steps_per_epoch``, ``target_sparsity`` (the final
        sparsity), ``last_pruning_step`` (last step that pruned, or None),
        ``reached_sparsity`` (the schedule's value there), ``completed``.
    sparsity : dict
        ``{"dense": ..., "pruned": ...}``: the
        :func:`~sparsecore.prune.sparsity_report` of each model after
        training, as ``to_dict()``: per weight (``"weights"``), over the
        pruned weights -- the kernels -- (``"pruned"``) and over all
        parameters (``"total"``).
    nonzeros : dict
        Non-zero parameters (weights and biases) of the ``dense`` and the
        ``pruned`` model, and their ``total`` number.
    file_bytes : dict
        Saved sizes: ``dense`` (dense run as a dense ``.npz``),
        ``pruned_dense``, ``pruned_dense_compressed``, ``pruned_csr``,
        ``pruned_csr_compressed``.
    inference : dict
        Per batch size (as str): median seconds per ``predict`` of the pruned
        model through the runtime's dense path (``dense_s``) and as a
        ``SparseModel`` with ``format="auto"`` for that batch size
        (``sparse_s``), the ``speedup`` dense_s / sparse_s, ``repeats``, and
        the ``formats`` auto chose per layer.
    max_abs_diff : float
        Largest |SparseModel output - model output| on the test set.
    wall_seconds : float
    environment : dict
    """

    config: ExperimentConfig
    dense: RunResult
    pruned: RunResult
    schedule: dict[str, Any]
    sparsity: dict[str, Any]
    nonzeros: dict[str, int]
    file_bytes: dict[str, int]
    inference: dict[str, dict[str, Any]]
    max_abs_diff: float
    wall_seconds: float
    environment: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (config included)."""
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        return _jsonable(d)  # type: ignore[no-any-return]

    def save_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as indented JSON (atomically)."""
        from sparsecore.runtime.format import atomic_write

        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        with atomic_write(path) as f:
            f.write(text.encode())

    def table(self) -> str:
        """The final comparison, as printed by ``sparsecore demo``."""
        return _format_result(self)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --------------------------------------------------------------------- measuring
def _time_interleaved(
    fns: Mapping[str, Callable[[], Any]], budget: float, min_repeats: int = 5
) -> tuple[dict[str, float], int]:
    """Median seconds per call of each function, run round-robin.

    Interleaving spreads machine noise evenly over the variants, so their
    ratio is fair even on a busy machine.
    """
    for fn in fns.values():  # warm up (allocations, caches, lazy imports)
        fn()
    t0 = time.perf_counter()
    for fn in fns.values():
        fn()
    one_round = max(time.perf_counter() - t0, 1e-9)
    repeats = max(min_repeats, min(1000, int(budget / one_round)))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, repeats


def _environment() -> dict[str, str]:
    env = {
        "sparsecore": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }
    scipy = sys.modules.get("scipy")
    if scipy is not None:
        env["scipy"] = str(scipy.__version__)
    return env


def _train(
    label: str,
    model: Sequential,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: ExperimentConfig,
    log: Log | None,
    pruner: Pruner | None,
) -> RunResult:
    x_train, x_test, y_train, y_test = data
    callbacks: list[Callback] = [] if pruner is None else [pruner]
    if log is not None:
        callbacks.append(_EpochLog(label, log))  # after the pruner: sees "sparsity"
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


def _deploy(
    dense: Sequential,
    pruned: Sequential,
    x_test: np.ndarray,
    config: ExperimentConfig,
    save_dir: str | None,
    log: Log | None,
) -> tuple[dict[str, int], dict[str, dict[str, Any]], float]:
    """Save sizes, inference timings and the largest output difference."""
    from sparsecore.runtime import SparseModel

    # The dense baseline keeps every neuron (compact=False): it costs what the
    # dense run's model costs, zeros included.
    sm_dense = SparseModel.from_model(
        pruned, format="dense", dtype=config.dtype, compact=False
    )
    sm_csr = SparseModel.from_model(pruned, format="csr", dtype=config.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_dir if save_dir is not None else tmp
        files = {
            "dense": (
                SparseModel.from_model(
                    dense, format="dense", dtype=config.dtype, compact=False
                ),
                False,
            ),
            "pruned_dense": (sm_dense, False),
            "pruned_dense_compressed": (sm_dense, True),
            "pruned_csr": (sm_csr, False),
            "pruned_csr_compressed": (sm_csr, True),
        }
        sizes = {}
        for name, (model, compressed) in files.items():
            path = os.path.join(folder, f"{name}.npz")
            model.save(path, compressed=compressed)
            sizes[name] = os.path.getsize(path)
    if save_dir is not None and log is not None:
        log(f"saved the models in {save_dir}")

    reference = pruned.predict(x_test)
    diff = 0.0
    inference: dict[str, dict[str, Any]] = {}
    n_test = x_test.shape[0]
    for batch in (1, 1024):
        # format="auto" picks each layer's format for the expected batch size.
        sm = SparseModel.from_model(
            pruned, format="auto", dtype=config.dtype, batch_size=batch
        )
        out = sm.predict(x_test)
        diff = max(diff, float(np.max(np.abs(out - reference))))
        xb = np.ascontiguousarray(x_test[np.arange(batch) % n_test])
        medians, repeats = _time_interleaved(
            {
                "dense": functools.partial(sm_dense.predict, xb),
                "sparse": functools.partial(sm.predict, xb),
            },
            config.timing_budget,
        )
        inference[str(batch)] = {
            "dense_s": medians["dense"],
            "sparse_s": medians["sparse"],
            "speedup": medians["dense"] / medians["sparse"],
            "repeats": repeats,
            "formats": [layer.format for layer in sm.layers],
        }
    return sizes, inference, diff


# --------------------------------------------------------------------- experiment
def run_experiment(
    config: ExperimentConfig | None = None,
    *,
    log: Log | None = None,
    save_dir: str | os.PathLike[str] | None = None,
) -> ExperimentResult:
    """Train the tutorial network dense and pruned, then compare them.

    Parameters
    ----------
    config : ExperimentConfig, optional
        Defaults to the tutorial (``ExperimentConfig()``: 200 epochs).
    log : callable(str), optional
        Receives progress lines (one per epoch of each run); ``print`` shows
        them. None is silent.
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
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig; got {config!r}")
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
    dense_run = _train("dense", dense, data, config, log, None)

    schedule = config.schedule()
    pruner = Pruner(
        schedule, criterion=config.criterion, scope=config.scope, seed=config.seed
    )
    say(
        f"pruned run: {config.criterion} pruning ({config.scope} scope), sparsity "
        f"{config.initial_sparsity:g} -> {config.final_sparsity:g} from step "
        f"{config.begin_step} to {config.end_step}, every {config.frequency} steps"
    )
    pruned_run = _train("pruned", pruned, data, config, log, pruner)
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
    file_bytes, inference, diff = _deploy(dense, pruned, data[1], config, save, log)
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
        environment=_environment(),
    )


# --------------------------------------------------------------------- table
def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} KB"


def _seconds(s: float) -> str:
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} us"


def _format_result(r: ExperimentResult) -> str:
    c, s = r.config, r.schedule
    b = r.file_bytes
    rows: list[tuple[str, str, str, str]] = [
        ("", "dense", "pruned", ""),
        (
            "final val_loss",
            f"{r.dense.final_val_loss:.6f}",
            f"{r.pruned.final_val_loss:.6f}",
            f"x{r.pruned.final_val_loss / r.dense.final_val_loss:.3f}",
        ),
        (
            "final loss (train)",
            f"{r.dense.loss[-1]:.6f}",
            f"{r.pruned.loss[-1]:.6f}",
            "",
        ),
        (
            "kernel sparsity",
            f"{r.sparsity['dense']['pruned']['sparsity']:.4f}",
            f"{r.sparsity['pruned']['pruned']['sparsity']:.4f}",
            f"target {s['target_sparsity']:.4g}",
        ),
        (
            "nonzero parameters",
            f"{r.nonzeros['dense']:,}",
            f"{r.nonzeros['pruned']:,}",
            f"x{r.nonzeros['pruned'] / r.nonzeros['dense']:.3f}",
        ),
        (
            "train time",
            _seconds(r.dense.train_seconds),
            _seconds(r.pruned.train_seconds),
            f"x{r.pruned.train_seconds / r.dense.train_seconds:.2f}",
        ),
        (
            "file, dense .npz",
            _mb(b["dense"]),
            _mb(b["pruned_dense"]),
            f"x{b['pruned_dense'] / b['dense']:.3f}",
        ),
        (
            "file, dense .npz compressed",
            "",
            _mb(b["pruned_dense_compressed"]),
            f"x{b['pruned_dense_compressed'] / b['dense']:.3f}",
        ),
        (
            "file, CSR .npz",
            "",
            _mb(b["pruned_csr"]),
            f"x{b['pruned_csr'] / b['dense']:.3f}",
        ),
        (
            "file, CSR .npz compressed",
            "",
            _mb(b["pruned_csr_compressed"]),
            f"x{b['pruned_csr_compressed'] / b['dense']:.3f}",
        ),
    ]
    for batch, t in r.inference.items():
        rows.append(
            (
                f"inference, batch {batch}",
                _seconds(t["dense_s"]),
                _seconds(t["sparse_s"]),
                f"speedup x{t['speedup']:.2f} ({','.join(t['formats'])})",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  "
        f"{row[3]}".rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))

    report = SparsityReport(
        [
            SparsityRow(
                w["name"], tuple(w["shape"]), w["size"], w["nonzeros"], w["pruned"]
            )
            for w in r.sparsity["pruned"]["weights"]
        ]
    )
    layer_lines = ["", "pruned model (* = pruned by the schedule):", str(report)]
    if s["completed"]:
        note = (
            f"schedule: completed at step {s['last_pruning_step']} of "
            f"{s['total_steps']}"
        )
    else:
        final = s["final_pruning_step"]
        need = math.ceil(final / s["steps_per_epoch"])
        note = (
            f"schedule: NOT completed -- {s['total_steps']} steps "
            f"({c.epochs} epochs x {s['steps_per_epoch']}) end before step "
            f"{final}, so the sparsity stopped at {s['reached_sparsity']:.3f} "
            f"instead of {s['target_sparsity']:.3g} (it needs {need} epochs)"
        )
    footer = [
        "",
        note,
        "inference: dense = the pruned model through the runtime's dense path, "
        "every neuron kept;",
        "pruned = SparseModel.from_model(model, batch_size=B) (format='auto' "
        "picks each layer's format: in brackets);",
        f"outputs agree to {r.max_abs_diff:.2g}. Wall time {r.wall_seconds:.1f} s.",
    ]
    return "\n".join(lines + layer_lines + footer)

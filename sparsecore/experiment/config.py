"""The experiment's settings: :class:`ExperimentConfig`, validated on creation.

The defaults are the TensorFlow Model Optimization pruning tutorial's;
:meth:`ExperimentConfig.quick` is a small version that runs the same code
path. :func:`sparsecore.experiment.run_experiment` takes one. The checks are
:mod:`sparsecore._checks`' (``"<name> must be <constraint>; got <value>"``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from sparsecore._checks import is_int, validate_choice, validate_float, validate_int
from sparsecore.prune import PolynomialDecay, Pruner
from sparsecore.prune.pruner import CRITERIA, SCOPES

__all__ = ["ExperimentConfig"]


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
            validate_int(name, getattr(self, name), 1)
        for name in ("n_informative", "data_seed", "split_seed", "seed"):
            validate_int(name, getattr(self, name), 0)
        validate_float("noise", self.noise, 0.0)
        validate_float("test_size", self.test_size, 0.0, 1.0, low_open=True)
        validate_float("learning_rate", self.learning_rate, 0.0, low_open=True)
        validate_float("timing_budget", self.timing_budget, 0.0)
        if not isinstance(self.hidden, tuple) or not all(
            is_int(h) and h >= 1 for h in self.hidden
        ):
            raise ValueError(
                f"hidden must be a tuple of ints in [1, inf); got {self.hidden!r}"
            )
        validate_choice("scope", self.scope, SCOPES)
        # 'nm' is left out: it applies a fixed N:M pattern once instead of
        # following the schedule the experiment is about, and its group must
        # divide every kernel's input size.
        validate_choice("criterion", self.criterion, set(CRITERIA) - {"nm"})
        validate_choice("dtype", self.dtype, ("float32", "float64"))
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

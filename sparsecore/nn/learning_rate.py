"""Learning-rate schedules: the learning rate as a function of the optimizer step.

Every optimizer takes, as `learning_rate`, a float or a callable of the step
(a :class:`LearningRateSchedule`, or any function ``step -> float``). Before
each update the optimizer calls ``learning_rate(step)`` with
``step = optimizer.iterations``, the number of updates already made, so the
first update uses ``learning_rate(0)``, as Keras does. The schedule keeps no
state of its own: a checkpoint that stores the optimizer's ``iterations``
resumes the schedule exactly.

The classes here are Keras' ``keras.optimizers.schedules`` of the same name,
with the same arguments (minus ``name``) and the same formulas, computed in
Python floats (float64) where Keras computes in float32:

==========================  =====================================================
``CosineDecay``             cosine decay to ``alpha * lr``, with an optional linear
                            warm-up (Loshchilov & Hutter 2017; Goyal et al. 2017)
``ExponentialDecay``        ``lr * rate ** (step / decay_steps)``; with
                            ``staircase=True`` the step decay of every ``decay_steps``
``PiecewiseConstantDecay``  constant values between step boundaries
==========================  =====================================================

Schedules serialise as ``{"class_name": ..., "config": get_config()}``
(:func:`serialize`, :func:`deserialize`), which is how an optimizer's
``get_config`` holds them and how a checkpoint stores them. A plain function
works in ``fit`` but cannot be checkpointed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sparsecore._checks import (
    validate_bool,
    validate_choice,
    validate_float,
    validate_int,
    validate_type,
)

__all__ = [
    "LEARNING_RATE_SCHEDULES",
    "CosineDecay",
    "ExponentialDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "deserialize",
    "serialize",
]


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float`` for an optimizer step ``>= 0``.

    Subclasses implement :meth:`rate` and :meth:`get_config`; ``__call__``
    validates the step first. To be saved in a checkpoint, a schedule's class
    must be one of :data:`LEARNING_RATE_SCHEDULES`.
    """

    def __call__(self, step: int) -> float:
        return self.rate(validate_int("step", step, 0))

    def rate(self, step: int) -> float:
        """The learning rate at `step` (already validated)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warm-up, as Keras' ``CosineDecay``.

    Parameters
    ----------
    initial_learning_rate : float
        In [0, inf); the start of the warm-up, or of the decay without one
        (then it must be > 0).
    decay_steps : int
        Steps of the cosine decay, in [1, inf).
    alpha : float, default=0.0
        Final learning rate as a fraction of the decay's start, in [0, 1].
    warmup_target : float or None, default=None
        Learning rate reached at the end of the warm-up, in (0, inf); None
        for no warm-up.
    warmup_steps : int, default=0
        Steps of the warm-up, in [0, inf); > 0 needs `warmup_target`.

    Notes
    -----
    Without warm-up, with ``t = min(step, decay_steps)``:

    .. math::

        \\eta(t) = \\eta_0 \\left((1 - \\alpha)\\,
        \\tfrac{1}{2}\\left(1 + \\cos\\frac{\\pi t}{T}\\right) + \\alpha\\right)

    With warm-up (``W = warmup_steps``, target ``\\eta_w``), for
    ``t = min(step, W + T)``: ``\\eta_0 + (\\eta_w - \\eta_0) t / W`` while
    ``t < W``, then the decay above from ``\\eta_w`` at ``t - W``. A linear
    warm-up to a constant rate is ``alpha=1.0``.

    References
    ----------
    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
    ICLR 2017 (arXiv:1608.03983); Goyal et al., "Accurate, Large Minibatch SGD",
    arXiv:1706.02677 (the warm-up); Keras ``keras.optimizers.schedules.CosineDecay``.

    Examples
    --------
    >>> s = CosineDecay(0.1, decay_steps=100)
    >>> s(0), s(50), round(s(100), 12)
    (0.1, 0.05, 0.0)
    >>> w = CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    >>> w(5), w(10)
    (0.05, 0.1)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        self.initial_learning_rate = validate_float(
            "initial_learning_rate", initial_learning_rate, 0.0
        )
        self.decay_steps = validate_int("decay_steps", decay_steps, 1)
        self.alpha = validate_float("alpha", alpha, 0.0, 1.0, high_open=False)
        self.warmup_target = (
            None
            if warmup_target is None
            else validate_float("warmup_target", warmup_target, 0.0, low_open=True)
        )
        self.warmup_steps = validate_int("warmup_steps", warmup_steps, 0)
        if self.warmup_target is None:
            if self.warmup_steps > 0:
                raise ValueError(
                    "warmup_steps > 0 needs a warmup_target (the learning rate the "
                    f"warm-up reaches); got warmup_steps={warmup_steps!r} and "
                    "warmup_target=None"
                )
            if self.initial_learning_rate == 0.0:
                raise ValueError(
                    "initial_learning_rate must be a float in (0, inf) without a "
                    f"warm-up; got {initial_learning_rate!r}"
                )

    def rate(self, step: int) -> float:
        t = float(step)
        start = self.initial_learning_rate
        if self.warmup_target is not None:
            t = min(t, self.decay_steps + self.warmup_steps)
            if t < self.warmup_steps:
                fraction = t / self.warmup_steps
                return (self.warmup_target - start) * fraction + start
            t -= self.warmup_steps
            start = self.warmup_target
        t = min(t, self.decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * t / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class ExponentialDecay(LearningRateSchedule):
    """Exponential (or, with `staircase`, step) decay, as Keras' ``ExponentialDecay``.

    Parameters
    ----------
    initial_learning_rate : float
        In (0, inf).
    decay_steps : int
        In [1, inf).
    decay_rate : float
        Factor per `decay_steps` steps, in (0, 1].
    staircase : bool, default=False
        Decay in whole periods: ``step // decay_steps`` instead of
        ``step / decay_steps``, i.e. multiply by `decay_rate` every
        `decay_steps` steps (step decay).

    Notes
    -----
    .. math:: \\eta(t) = \\eta_0 \\, r^{t / T}
              \\quad (r^{\\lfloor t / T \\rfloor} \\text{ with staircase})

    References
    ----------
    Keras ``keras.optimizers.schedules.ExponentialDecay``.

    Examples
    --------
    >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)(25)
    0.025
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
    ) -> None:
        self.initial_learning_rate = validate_float(
            "initial_learning_rate", initial_learning_rate, 0.0, low_open=True
        )
        self.decay_steps = validate_int("decay_steps", decay_steps, 1)
        # (0, 1]: a decay; a rate above 1 would overflow for long runs
        self.decay_rate = validate_float(
            "decay_rate", decay_rate, 0.0, 1.0, low_open=True, high_open=False
        )
        self.staircase = validate_bool("staircase", staircase)

    def rate(self, step: int) -> float:
        p = step // self.decay_steps if self.staircase else step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate**p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """Constant learning rates between step boundaries, as Keras' schedule.

    Parameters
    ----------
    boundaries : sequence of int
        Strictly increasing steps, each in [0, inf).
    values : sequence of float
        One more than `boundaries`, each in [0, inf): ``values[0]`` while
        ``step <= boundaries[0]``, ``values[i]`` while
        ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the
        last boundary.

    References
    ----------
    Keras ``keras.optimizers.schedules.PiecewiseConstantDecay``.

    Examples
    --------
    >>> s = PiecewiseConstantDecay([100, 200], [0.1, 0.01, 0.001])
    >>> s(100), s(101), s(1000)
    (0.1, 0.01, 0.001)
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]) -> None:
        for name, seq in (("boundaries", boundaries), ("values", values)):
            validate_type(name, seq, (list, tuple), "a list")
        self.boundaries = [
            validate_int(f"boundaries[{i}]", b, 0) for i, b in enumerate(boundaries)
        ]
        self.values = [
            validate_float(f"values[{i}]", v, 0.0) for i, v in enumerate(values)
        ]
        for i in range(1, len(self.boundaries)):
            if self.boundaries[i] <= self.boundaries[i - 1]:
                raise ValueError(
                    "boundaries must be strictly increasing; got "
                    f"{self.boundaries[i - 1]} then {self.boundaries[i]}"
                )
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"values must have len(boundaries) + 1 = {len(self.boundaries) + 1} "
                f"entries; got {len(self.values)}"
            )

    def rate(self, step: int) -> float:
        # bisect_left counts the boundaries strictly below step: step == b
        # still belongs to the interval that ends at b (Keras' `step <= b`)
        return self.values[bisect.bisect_left(self.boundaries, step)]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


#: The built-in schedules by class name: what a checkpoint can rebuild.
LEARNING_RATE_SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls for cls in (CosineDecay, ExponentialDecay, PiecewiseConstantDecay)
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name": ..., "config": schedule.get_config()}``."""
    validate_type("schedule", schedule, LearningRateSchedule, "a LearningRateSchedule")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(spec: Mapping[str, Any]) -> LearningRateSchedule:
    """Rebuild a built-in schedule from :func:`serialize` output.

    Raises
    ------
    TypeError
        If `spec` or its config is not a mapping.
    ValueError
        If its keys are not ``class_name`` and ``config``, or the class is not
        one of :data:`LEARNING_RATE_SCHEDULES` (the message lists them).
    """
    validate_type("spec", spec, Mapping, "a mapping")
    if set(spec) != {"class_name", "config"}:
        raise ValueError(
            f"spec must have the keys ['class_name', 'config']; got {sorted(spec)}"
        )
    name = validate_choice("class_name", spec["class_name"], LEARNING_RATE_SCHEDULES)
    config = validate_type("config", spec["config"], Mapping, "a mapping")
    return LEARNING_RATE_SCHEDULES[name].from_config(config)

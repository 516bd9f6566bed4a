"""Pruning schedules: when to prune, and to which sparsity.

A schedule is a pure function of the training step, with exactly the semantics
of ``tfmot.sparsity.keras`` (TensorFlow Model Optimization 0.8)::

    should_prune, sparsity = schedule(step)

``should_prune`` is true when ``begin_step <= step``, ``step <= end_step`` (or
``end_step == -1``), and ``(step - begin_step) % frequency == 0``. ``sparsity``
is the fraction of weights to set to zero at that step. Both are plain Python
values; :meth:`PruningSchedule.sparsity_at` and
:meth:`PruningSchedule.should_prune_at` evaluate whole arrays of steps (for
plots). Values are computed in float64 (tfmot uses float32; the two agree to
about 1e-7); :meth:`PruningSchedule.sparsity_float32` gives tfmot's float32
value, which the pruning engine ranks with.

:func:`warn_schedule_coverage` is the schedule's side of a training run:
given the steps a ``fit`` will take, it warns when nothing will be pruned,
when the run ends before the final sparsity, or when the final sparsity is
never applied (a :class:`PruningScheduleWarning`).
"""

from __future__ import annotations

import abc
import math
import operator
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import validate_float, validate_int, validate_sparsity

__all__ = [
    "MAX_STEP",
    "SCHEDULES",
    "ConstantSparsity",
    "PolynomialDecay",
    "PruningSchedule",
    "PruningScheduleWarning",
    "schedule_from_config",
    "warn_schedule_coverage",
]


#: The largest step a schedule takes (``begin_step``, ``end_step``,
#: ``frequency``, the step it is called with): steps are computed in int64,
#: and ``t - begin_step`` must not overflow for any two steps in range; no
#: training run comes near it (2**62 steps of 1 ns is 146 years).
MAX_STEP = 2**62


def _validate_step(
    begin_step: Any, end_step: Any, frequency: Any, allow_negative_1: bool
) -> tuple[int, int, int]:
    """Check the step arguments as tfmot's ``PruningSchedule._validate_step``.

    Also bounded above by :data:`MAX_STEP` (tfmot computes steps in int64
    and fails on larger ones).
    """
    begin_step = validate_int("begin_step", begin_step)
    end_step = validate_int("end_step", end_step)
    frequency = validate_int("frequency", frequency)
    if not 0 <= begin_step <= MAX_STEP:
        raise ValueError(f"begin_step must be an int in [0, 2**62]; got {begin_step!r}")
    if end_step == -1 and not allow_negative_1:
        # PolynomialDecay needs an end to decay towards.
        raise ValueError(
            f"end_step must be an int in [begin_step, 2**62] = [{begin_step}, "
            "2**62]; got -1 (end_step=-1, prune forever, is only allowed for "
            "ConstantSparsity)"
        )
    if end_step != -1 and not begin_step <= end_step <= MAX_STEP:
        allowed = "-1 or " if allow_negative_1 else ""
        raise ValueError(
            f"end_step must be {allowed}an int in [begin_step, 2**62] = "
            f"[{begin_step}, 2**62]; got {end_step!r}"
        )
    if not 1 <= frequency <= MAX_STEP:
        raise ValueError(f"frequency must be an int in [1, 2**62]; got {frequency!r}")
    return begin_step, end_step, frequency


def _as_steps(steps: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(steps)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"steps must be an array of ints; got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _pow(u: NDArray[np.float64], power: float) -> NDArray[np.float64]:
    """``u ** power``; by repeated squaring when `power` is a whole number.

    Products are correctly rounded everywhere, so a schedule gives the same
    bits on every machine and for a scalar as for an array (SIMD ``pow``
    loops and the scalar ``pow`` can differ in the last bit).
    """
    if float(power).is_integer() and power <= 1024:
        n = int(power)
        result = np.ones_like(u)
        base = u.copy()
        while n:
            if n & 1:
                result *= base
            base *= base
            n >>= 1
        return result
    return np.power(u, float(power))


class PruningSchedule(abc.ABC):
    """Base class: decides at each training step whether to prune, and how much.

    Subclasses set `begin_step`, `end_step` and `frequency` and implement
    :meth:`sparsity_at` and :meth:`get_config`.

    Attributes
    ----------
    begin_step : int
        First step at which pruning may happen.
    end_step : int
        Last step at which pruning may happen; -1 means never stop.
    frequency : int
        Prune every `frequency` steps, counted from `begin_step`.
    """

    begin_step: int
    end_step: int
    frequency: int

    def __call__(self, step: int) -> tuple[bool, float]:
        """Return ``(should_prune, sparsity)`` at `step` as Python bool and float.

        Parameters
        ----------
        step : int
            The training step (the k-th training batch is step k).

        Returns
        -------
        should_prune : bool
        sparsity : float
            In [0, 1); meaningful at every step, also where `should_prune` is
            false.
        """
        try:
            step = operator.index(step)
        except TypeError:
            raise TypeError(f"step must be an int; got {step!r}") from None
        if not -MAX_STEP <= step <= MAX_STEP:
            raise ValueError(f"step must be an int in [-2**62, 2**62]; got {step!r}")
        # A 1-element array takes the same ufunc loops as a long one.
        arr = np.array([step], dtype=np.int64)
        return bool(self.should_prune_at(arr)[0]), float(self.sparsity_at(arr)[0])

    def sparsity_float32(self, step: int) -> float:
        """The sparsity at `step` as tfmot computes it, in float32.

        The pruning engine ranks with this value, so that the number of
        weights kept, tfmot's ``round(float32(n) * (1 - s))``, sees the very
        float32 ``s`` that tfmot's schedule tensor holds. The base class
        rounds :meth:`sparsity_at` to float32; :class:`PolynomialDecay`
        repeats tfmot's float32 operations one by one.

        Parameters
        ----------
        step : int
            The training step.

        Returns
        -------
        float
            A float32 value, as a Python float, in [0, 1).
        """
        value = float(np.float32(self(step)[1]))
        return value if value < 1.0 else float(np.nextafter(np.float32(1), 0))

    def should_prune_at(self, steps: ArrayLike) -> NDArray[np.bool_]:
        """Vectorised `should_prune`: a bool array of the shape of `steps`.

        Notes
        -----
        ``begin_step <= t and (t <= end_step or end_step < 0)
        and (t - begin_step) % frequency == 0``, with a floor modulo as
        ``tf.math.floormod``.
        """
        t = _as_steps(steps)
        in_range = t >= self.begin_step
        if self.end_step >= 0:
            in_range &= t <= self.end_step
        turn: NDArray[np.bool_] = (t - self.begin_step) % self.frequency == 0
        return in_range & turn

    @abc.abstractmethod
    def sparsity_at(self, steps: ArrayLike) -> NDArray[np.float64]:
        """Vectorised sparsity: a float64 array of the shape of `steps`."""

    def last_pruning_step(self, until: int | None = None) -> int | None:
        """The last step ``<= until`` at which the schedule prunes, or None.

        Parameters
        ----------
        until : int, optional
            Upper bound; defaults to `end_step` (required when ``end_step=-1``).

        Returns
        -------
        int or None
            None when the schedule does not prune at any step ``<= until``.
        """
        if until is None:
            if self.end_step < 0:
                raise ValueError(
                    "until must be given when end_step is -1 (the schedule never ends)"
                )
            until = self.end_step
        until = validate_int("until", until)
        hi = until if self.end_step < 0 else min(until, self.end_step)
        if hi < self.begin_step:
            return None
        return (
            self.begin_step + (hi - self.begin_step) // self.frequency * self.frequency
        )

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]:
        """``{"class_name": ..., "config": {constructor kwargs}}``, JSON-able."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PruningSchedule:
        """Rebuild a schedule from :meth:`get_config` output.

        Accepts the nested ``{"class_name", "config"}`` form or the bare
        constructor kwargs (tfmot passes the latter).
        """
        if "class_name" in config:
            if config["class_name"] != cls.__name__:
                if cls is PruningSchedule:
                    return schedule_from_config(config)
                raise ValueError(
                    f"class_name must be {cls.__name__!r}; got {config['class_name']!r}"
                )
            config = config.get("config", {})
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PruningSchedule):
            return NotImplemented
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(
            (type(self).__name__, tuple(sorted(self.get_config()["config"].items())))
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config()["config"].items())
        return f"{type(self).__name__}({args})"


class ConstantSparsity(PruningSchedule):
    """Prune to the same sparsity at every pruning step.

    Parameters
    ----------
    target_sparsity : float
        In [0, 1).
    begin_step : int
        In [0, 2**62].
    end_step : int, default=-1
        -1 (prune until training ends) or an int in [begin_step, 2**62].
    frequency : int, default=100
        In [1, 2**62].

    Raises
    ------
    TypeError
        If a step argument is not an int or the sparsity is not a number.
    ValueError
        If an argument is outside its range.

    Examples
    --------
    >>> s = ConstantSparsity(0.5, begin_step=0, frequency=100)
    >>> s(100), s(150)
    ((True, 0.5), (False, 0.5))
    """

    def __init__(
        self,
        target_sparsity: float,
        begin_step: int,
        end_step: int = -1,
        frequency: int = 100,
    ) -> None:
        self.begin_step, self.end_step, self.frequency = _validate_step(
            begin_step, end_step, frequency, allow_negative_1=True
        )
        self.target_sparsity = validate_sparsity("target_sparsity", target_sparsity)

    def sparsity_at(self, steps: ArrayLike) -> NDArray[np.float64]:
        return np.full(_as_steps(steps).shape, self.target_sparsity, dtype=np.float64)

    def get_config(self) -> dict[str, Any]:
        return {
            "class_name": type(self).__name__,
            "config": {
                "target_sparsity": self.target_sparsity,
                "begin_step": self.begin_step,
                "end_step": self.end_step,
                "frequency": self.frequency,
            },
        }


class PolynomialDecay(PruningSchedule):
    """Sparsity that rises fast after `begin_step` and flattens towards `end_step`.

    Parameters
    ----------
    initial_sparsity : float
        Sparsity at `begin_step`, in [0, 1).
    final_sparsity : float
        Sparsity from `end_step` on, in [initial_sparsity, 1): the schedule
        never lowers the sparsity.
    begin_step : int
        In [0, 2**62].
    end_step : int
        In [begin_step, 2**62]; -1 is not allowed (the decay needs an end).
    power : float, default=3
        Exponent of the decay, in [0, inf).
    frequency : int, default=100
        In [1, 2**62].

    Raises
    ------
    TypeError
        If a step argument is not an int or a sparsity or `power` not a number.
    ValueError
        If an argument is outside its range.

    Notes
    -----
    As tfmot and Zhu & Gupta (2017):

    .. math::

        p = \\mathrm{clip}\\left(\\frac{t - t_b}{t_e - t_b}, 0, 1\\right), \\qquad
        s(t) = s_f + (s_0 - s_f) (1 - p)^{\\mathrm{power}}

    With ``begin_step == end_step`` tfmot divides 0 by 0 and returns NaN at
    that step (and 0 before, 1 after, through the clip). sparsecore defines
    ``p = 1`` at ``t >= begin_step`` and ``p = 0`` before, so the schedule is a
    step from `initial_sparsity` to `final_sparsity` and never NaN.
    tfmot accepts a negative `power`, which gives inf or NaN at `end_step`;
    sparsecore rejects it. tfmot also accepts ``final_sparsity <
    initial_sparsity``; sparsecore rejects it: with strict masks (the
    default) a pruned weight never comes back, so the masks could not follow
    a falling sparsity, and a run would end with layers at different
    sparsities than the schedule reports.

    References
    ----------
    Zhu & Gupta, "To prune, or not to prune", arXiv:1710.01878;
    tfmot ``tfmot.sparsity.keras.PolynomialDecay``.

    Examples
    --------
    >>> s = PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)
    >>> s(5000)
    (True, 0.75)
    >>> round(s(1600)[1], 4)
    0.2894
    """

    def __init__(
        self,
        initial_sparsity: float,
        final_sparsity: float,
        begin_step: int,
        end_step: int,
        power: float = 3,
        frequency: int = 100,
    ) -> None:
        self.begin_step, self.end_step, self.frequency = _validate_step(
            begin_step, end_step, frequency, allow_negative_1=False
        )
        self.initial_sparsity = validate_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity = validate_sparsity("final_sparsity", final_sparsity)
        if self.final_sparsity < self.initial_sparsity:
            raise ValueError(
                "final_sparsity must be a float in [initial_sparsity, 1) = "
                f"[{self.initial_sparsity!r}, 1); got {final_sparsity!r} (the "
                "schedule never lowers the sparsity: pruned weights do not "
                "come back)"
            )
        validate_float("power", power, 0.0)
        # Keep an int power an int, so get_config round-trips it exactly.
        self.power: float = (
            int(power) if isinstance(power, (int, np.integer)) else float(power)
        )

    def sparsity_at(self, steps: ArrayLike) -> NDArray[np.float64]:
        t = _as_steps(steps)
        span = self.end_step - self.begin_step
        if span == 0:
            p = (t >= self.begin_step).astype(np.float64)
        else:
            p = np.clip((t - self.begin_step) / span, 0.0, 1.0)
        s0, sf = self.initial_sparsity, self.final_sparsity
        out = sf + (s0 - sf) * _pow(1.0 - p, self.power)
        # Exact endpoints (sf + (s0 - sf) can be s0 +- 1 ulp) and never outside.
        out = np.where(p <= 0.0, s0, np.clip(out, min(s0, sf), max(s0, sf)))
        return out.astype(np.float64, copy=False)

    def sparsity_float32(self, step: int) -> float:
        """tfmot's float32 arithmetic, operation by operation.

        tfmot (``pruning_schedule.PolynomialDecay.__call__``) computes, each
        operation rounded to float32::

            p = min(1, max(0, float32(t - t_b) / float32(t_e - t_b)))
            s = float32(s_0 - s_f) * (1 - p) ** power + float32(s_f)

        where ``s_0 - s_f`` is a Python (float64) difference. The power is
        taken in float64 and rounded once, as the C library's ``powf`` does
        for the exponents schedules use. Where tfmot gives NaN
        (``begin_step == end_step``) this returns the float32 of
        :meth:`sparsity_at`. Values agree with :meth:`sparsity_at` to one
        float32 ulp.
        """
        _, s64 = self(step)
        span = self.end_step - self.begin_step
        if span == 0:
            return super().sparsity_float32(step)
        f32 = np.float32
        p = f32(step - self.begin_step) / f32(span)
        p = min(f32(1.0), max(f32(0.0), p))
        u = f32(1.0) - p
        power = float(_pow(np.array([u], dtype=np.float64), self.power)[0])
        value = f32(self.initial_sparsity - self.final_sparsity) * f32(power) + f32(
            self.final_sparsity
        )
        out = float(value)
        if not 0.0 <= out < 1.0 or abs(out - s64) > 1e-6:
            return super().sparsity_float32(step)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "class_name": type(self).__name__,
            "config": {
                "initial_sparsity": self.initial_sparsity,
                "final_sparsity": self.final_sparsity,
                "begin_step": self.begin_step,
                "end_step": self.end_step,
                "power": self.power,
                "frequency": self.frequency,
            },
        }


#: Schedule classes by class name, for :func:`schedule_from_config`.
SCHEDULES: dict[str, type[PruningSchedule]] = {
    "ConstantSparsity": ConstantSparsity,
    "PolynomialDecay": PolynomialDecay,
}


def schedule_from_config(config: Mapping[str, Any]) -> PruningSchedule:
    """Rebuild any registered schedule from ``{"class_name", "config"}``.

    Parameters
    ----------
    config : dict
        Output of :meth:`PruningSchedule.get_config`.

    Returns
    -------
    PruningSchedule

    Raises
    ------
    ValueError
        If ``class_name`` is missing or not one of :data:`SCHEDULES`.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict; got {config!r}")
    name = config.get("class_name")
    if name not in SCHEDULES:
        raise ValueError(
            f"config['class_name'] must be one of {sorted(SCHEDULES)}; got {name!r}"
        )
    return SCHEDULES[name](**config.get("config", {}))


# --------------------------------------------------------------------- coverage
# Does the schedule fit the run? The warnings a Pruner gives at the start of fit.


class PruningScheduleWarning(UserWarning):
    """The schedule will not do, in this ``fit``, what it was set up to do."""


def warn_schedule_coverage(
    schedule: PruningSchedule,
    params: Mapping[str, Any] | None,
    step: int,
    *,
    nm: bool,
    nm_applied: bool,
) -> None:
    """Warn when this ``fit`` cannot do what `schedule` was set up to do.

    Parameters
    ----------
    schedule : PruningSchedule
    params : dict or None
        The callback params of ``fit`` (``epochs``, ``initial_epoch``,
        ``steps``); nothing is checked without them.
    step : int
        The pruner's step before the run (the run's first step is ``step + 1``).
    nm : bool
        Whether the pruner computes an N:M mask once (at the first step
        ``>= max(begin_step, 1)``) instead of following the schedule.
    nm_applied : bool
        Whether that N:M mask is already computed.

    Warns
    -----
    PruningScheduleWarning
        One warning per problem, attributed to the caller of ``fit``.
    """
    # stacklevel=5 points the warning at the user's ``model.fit(...)`` line:
    # warn <- warn_schedule_coverage <- Pruner.on_train_begin <- CallbackList <- fit.
    params = params or {}
    try:
        n_run = (int(params["epochs"]) - int(params["initial_epoch"])) * int(
            params["steps"]
        )
    except (KeyError, TypeError, ValueError):
        return
    if n_run <= 0:
        return
    s = schedule
    first, last = step + 1, step + n_run
    per_epoch = int(params["steps"])

    def epochs_for(target: int) -> int:
        """The ``epochs`` argument of a ``fit`` that reaches step `target`."""
        return int(params["initial_epoch"]) + math.ceil((target - step) / per_epoch)

    if nm:
        due = max(s.begin_step, 1)
        if not nm_applied and last < due:
            warnings.warn(
                f"fit will run steps {first} to {last}, but the N:M mask is "
                f"computed at step {due} (begin_step={s.begin_step}): "
                f"{last} < {due}, so nothing will be pruned; train for "
                f"epochs >= {epochs_for(due)}",
                PruningScheduleWarning,
                stacklevel=5,
            )
        return
    if s.end_step < 0:  # prunes forever from begin_step: is there a first time?
        due = s.begin_step if s.begin_step >= 1 else s.frequency
        if step < due and last < due:
            warnings.warn(
                f"fit will run steps {first} to {last}, but the schedule first "
                f"prunes at step {due}: {last} < {due}, so nothing will be "
                f"pruned; train for epochs >= {epochs_for(due)}",
                PruningScheduleWarning,
                stacklevel=5,
            )
        return
    last_due = s.last_pruning_step()
    if last_due is None:  # cannot happen: begin_step <= end_step
        return
    if last_due == 0:
        warnings.warn(
            "the schedule prunes only at step 0, which is never a training "
            "step (the k-th batch is step k): nothing will be pruned",
            PruningScheduleWarning,
            stacklevel=5,
        )
        return
    final = float(s.sparsity_at(last_due))
    if step < last_due and last < last_due:
        reached = s.last_pruning_step(last)
        if reached is None or reached < 1:
            outcome = "so nothing will be pruned"
        else:
            outcome = (
                f"so the sparsity reaches {float(s.sparsity_at(reached)):.3g} "
                f"(at step {reached}) instead of {final:.3g}"
            )
        warnings.warn(
            f"fit will run steps {first} to {last} ({n_run} steps), but the "
            f"schedule prunes until step {last_due} (end_step={s.end_step}): "
            f"{last} < {last_due}, {outcome}; train for epochs >= "
            f"{epochs_for(last_due)}, or end the schedule earlier",
            PruningScheduleWarning,
            stacklevel=5,
        )
    end_value = float(s.sparsity_at(s.end_step))
    if last_due != s.end_step and final != end_value and step < last_due:
        warnings.warn(
            f"end_step - begin_step = {s.end_step - s.begin_step} is not a "
            f"multiple of frequency = {s.frequency}: the last pruning step is "
            f"{last_due}, at sparsity {final:.7g}, so the final sparsity "
            f"{end_value:.7g} is never applied",
            PruningScheduleWarning,
            stacklevel=5,
        )

"""Optimizers that update weights in place.

State lives in ``optimizer.state[name][slot]``: one array per weight and slot,
of the weight's shape, keyed by the weight's name in ``model.weights()``. It is
plain data, so a pruner can zero it at pruned positions and a checkpoint can
save it. Each update works through one preallocated scratch array per weight,
so a step allocates nothing of parameter size.

`learning_rate` is a float or a callable of the step (a
:class:`~sparsecore.nn.learning_rate.LearningRateSchedule` or any function
``step -> float``): each update uses ``learning_rate(iterations)``, the count of
updates before it, as Keras does (see :mod:`sparsecore.nn.learning_rate`).

An update has two phases: every weight's step is computed into its scratch
array (the slots take the step), then the steps are applied to the weights.
With ``apply(..., check_finite=True)`` (what ``fit`` does) the step and the
weight of every array are checked in between (:func:`finite_norm`: one dot
product each), and nothing is applied if any is not finite or so large that
the sum could overflow, so the weights are never made non-finite.

Hyperparameters are bounded so that every update stays finite in float32:
``learning_rate`` in (0, 1e6] (a schedule's values in [0, 1e6]), Adam's
``epsilon`` at least float32's smallest normal number (a smaller one rounds
to 0 in float32 and divides 0 by 0 wherever the gradient is 0, as at pruned
weights), ``weight_decay`` in [0, 1e6].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparsecore._checks import (
    finite_norm,
    is_real,
    validate_bool,
    validate_choice,
    validate_float,
    validate_type,
)
from sparsecore.nn.learning_rate import LearningRateSchedule, deserialize, serialize

__all__ = [
    "MAX_LEARNING_RATE",
    "MIN_EPSILON",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "Optimizer",
    "get_optimizer",
]

#: The largest learning rate (and weight decay) accepted: far beyond any
#: useful value, and small enough that ``lr * g`` stays finite in float32 for
#: every gradient the finiteness checks of ``fit`` let through.
MAX_LEARNING_RATE = 1e6
#: The smallest Adam ``epsilon``: float32's smallest normal number, so that
#: ``sqrt(v) + epsilon`` is never 0 in float32.
MIN_EPSILON = float(np.finfo(np.float32).tiny)


class Optimizer:
    """Base class.

    Attributes
    ----------
    learning_rate : float or callable
        A float, or a schedule called with the step (see the module notes).
    iterations : int
        Number of update steps taken so far.
    state : dict of str to dict of str to ndarray
        Slot arrays per weight name, created by :meth:`build`.
    """

    #: Names of the slot arrays each weight gets.
    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float | Callable[[int], float]) -> None:
        if callable(learning_rate):  # a schedule: called with the step
            self.learning_rate: Any = learning_rate
        else:
            self.learning_rate = validate_float(
                "learning_rate",
                learning_rate,
                0.0,
                MAX_LEARNING_RATE,
                low_open=True,
                high_open=False,
            )
        # The learning rate of the update in progress (set by apply).
        self._lr = self.learning_rate if not callable(learning_rate) else math.nan
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}

    def build(self, weights: Mapping[str, np.ndarray]) -> None:
        """Create zeroed slots (and a scratch buffer) for every weight not seen yet."""
        for name, w in weights.items():
            if name not in self.state:
                self.state[name] = {s: np.zeros_like(w) for s in self.slot_names}
            if name not in self._scratch or self._scratch[name].shape != w.shape:
                self._scratch[name] = np.empty_like(w)

    def apply(
        self,
        weights: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        *,
        check_finite: bool = False,
    ) -> bool:
        """Update every weight from its gradient. This is an *in place* operation.

        Parameters
        ----------
        weights, grads : Mapping[str, ndarray]
            Live weights and their gradients, by name.
        check_finite : bool, default=False
            Before changing any weight, check that every weight and every
            step has a finite sum of squares (:func:`finite_norm`), which
            guarantees finite new weights.

        Returns
        -------
        bool
            True when the update was applied. False (only with
            `check_finite`) when a step or a weight is NaN, infinite or beyond
            ``sqrt(max)`` of its dtype (about 1.8e19 in float32): then no
            weight has changed and `iterations` is as before, but the slots
            (momentum, Adam's moments) have taken the step.
        """
        self.build(weights)
        self._lr = self.current_learning_rate()
        self.iterations += 1
        pending = []
        for name, w in weights.items():
            tmp = self._scratch[name]
            parts = self._step(w, grads[name], self.state[name], tmp)
            pending.append((w, self.state[name], tmp, parts))
        if check_finite and not all(
            finite_norm(a) for w, _, _, parts in pending for a in (w, *parts)
        ):
            self.iterations -= 1
            return False
        for w, slots, tmp, _ in pending:
            self._commit(w, slots, tmp)
        return True

    def current_learning_rate(self) -> float:
        """The learning rate of the next update: ``learning_rate(iterations)``.

        Raises
        ------
        ValueError
            If a schedule returns something other than a finite float in
            [0, 1e6].
        """
        if not callable(self.learning_rate):
            return float(self.learning_rate)
        value = self.learning_rate(self.iterations)
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()  # a 0-d array, as NumPy arithmetic may give
        lr = float(value) if is_real(value) else math.nan
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(
                f"learning_rate({self.iterations}) must return a finite float in "
                f"[0, inf); got {value!r}"
            )
        if lr > MAX_LEARNING_RATE:  # as a constant learning rate
            raise ValueError(
                f"learning_rate({self.iterations}) must return a float in "
                f"[0, 1e6]; got {value!r}"
            )
        return lr

    def _step(
        self,
        w: np.ndarray,
        g: np.ndarray,
        slots: dict[str, np.ndarray],
        tmp: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """Compute the step (into `tmp`, the slots); return what bounds it.

        The weight is not changed. The returned arrays bound the change
        :meth:`_commit` will make: if each has a finite :func:`finite_norm`
        and so has the weight, the new weight is finite.
        """
        raise NotImplementedError

    def _commit(
        self, w: np.ndarray, slots: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        """Apply the step :meth:`_step` left in `tmp` (default ``w -= tmp``)."""
        w -= tmp

    def _learning_rate_config(self) -> Any:
        # A schedule as {"class_name", "config"} (what a checkpoint stores); a
        # plain function as itself, which no checkpoint can hold.
        if isinstance(self.learning_rate, LearningRateSchedule):
            return serialize(self.learning_rate)
        return self.learning_rate

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self._learning_rate_config()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optimizer:
        """Rebuild from :meth:`get_config`, a serialised schedule included."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), Mapping):
            config["learning_rate"] = deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        config = {**self.get_config(), "learning_rate": self.learning_rate}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as Keras.

    Parameters
    ----------
    learning_rate : float or callable, default=0.01
        In (0, 1e6], or a schedule of the step.
    momentum : float, default=0.0
        In [0, 1).
    nesterov : bool, default=False

    Notes
    -----
    Without momentum ``w -= lr * g``. With momentum ``m``:
    ``v = m * v - lr * g``, then ``w += v`` (plain) or ``w += m * v - lr * g``
    (Nesterov).
    """

    def __init__(
        self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = validate_float("momentum", momentum, 0.0, 1.0)
        self.nesterov = validate_bool("nesterov", nesterov)
        self.slot_names = ("momentum",) if self.momentum > 0 else ()

    def _step(
        self,
        w: np.ndarray,
        g: np.ndarray,
        slots: dict[str, np.ndarray],
        tmp: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        np.multiply(g, self._lr, out=tmp)  # tmp = lr * g
        if not self.slot_names:
            return (tmp,)
        v = slots["momentum"]
        v *= self.momentum
        v -= tmp  # v = m * v - lr * g
        return (tmp, v) if self.nesterov else (v,)

    def _commit(
        self, w: np.ndarray, slots: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        if not self.slot_names:
            w -= tmp
            return
        v = slots["momentum"]
        if self.nesterov:  # w += m * v - lr * g
            w -= tmp
            np.multiply(v, self.momentum, out=tmp)
            w += tmp
        else:
            w += v

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self._learning_rate_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        }


class Adam(Optimizer):
    """Adam with Keras' update rule.

    Parameters
    ----------
    learning_rate : float or callable, default=1e-3
        In (0, 1e6], or a schedule of the step.
    beta_1, beta_2 : float, default=0.9, 0.999
        In [0, 1).
    epsilon : float, default=1e-7
        Added to ``sqrt(v)``, not to the bias-corrected ``sqrt(v_hat)``. At
        least :data:`MIN_EPSILON` (1.18e-38, float32's smallest normal
        number): 0 would divide 0 by 0 wherever the gradient is 0.

    Notes
    -----
    At step ``t`` (1-based), with the bias correction folded into the step size:

    .. math::

        m &\\leftarrow m + (1 - \\beta_1)(g - m) \\\\
        v &\\leftarrow v + (1 - \\beta_2)(g^2 - v) \\\\
        w &\\leftarrow w - \\alpha_t \\frac{m}{\\sqrt{v} + \\epsilon}, \\quad
        \\alpha_t = \\mathrm{lr} \\frac{\\sqrt{1 - \\beta_2^t}}{1 - \\beta_1^t}

    References
    ----------
    Kingma & Ba (2015), arXiv:1412.6980 (the "efficient version" at the end of
    section 2); Keras ``keras.optimizers.Adam``.
    """

    slot_names = ("m", "v")

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = validate_float("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = validate_float("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = validate_float("epsilon", epsilon, MIN_EPSILON)

    def _step_size(self) -> float:
        t = self.iterations
        return self._lr * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def _step(
        self,
        w: np.ndarray,
        g: np.ndarray,
        slots: dict[str, np.ndarray],
        tmp: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        m, v = slots["m"], slots["v"]
        np.subtract(g, m, out=tmp)
        tmp *= 1 - self.beta_1
        m += tmp  # m += (1 - b1) (g - m)
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1 - self.beta_2
        v += tmp  # v += (1 - b2) (g^2 - v)
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= self._step_size()  # the weight moves by -tmp
        return (tmp,)

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self._learning_rate_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, arXiv:1711.05101).

    Parameters
    ----------
    weight_decay : float, default=0.004
        Keras' default, in [0, 1e6]. Before the Adam step,
        ``w -= lr * weight_decay * w``.
    learning_rate, beta_1, beta_2, epsilon
        As :class:`Adam`.
    """

    def __init__(
        self,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon)
        self.weight_decay = validate_float(
            "weight_decay", weight_decay, 0.0, MAX_LEARNING_RATE, high_open=False
        )

    def _commit(
        self, w: np.ndarray, slots: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        # The Adam step does not read w, so decaying w here, after it was
        # computed, gives the same bits as decaying first. |1 - lr * wd| is at
        # most 1e12, so a weight below sqrt(max) stays finite.
        if self.weight_decay:
            w *= 1 - self._lr * self.weight_decay
        w -= tmp

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight_decay": self.weight_decay}


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get_optimizer(optimizer: str | Optimizer) -> Optimizer:
    """Return `optimizer` itself, or a default-configured one by name."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    validate_type("optimizer", optimizer, str, "a str or an Optimizer")
    cls = OPTIMIZERS[validate_choice("optimizer", optimizer.lower(), OPTIMIZERS)]
    return cls()  # type: ignore[call-arg]  # every registered class has defaults

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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparsecore._checks import (
    is_real,
    validate_bool,
    validate_choice,
    validate_float,
    validate_type,
)
from sparsecore.nn.learning_rate import LearningRateSchedule, deserialize, serialize

__all__ = ["OPTIMIZERS", "SGD", "Adam", "AdamW", "Optimizer", "get_optimizer"]


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
                "learning_rate", learning_rate, 0.0, low_open=True
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
        self, weights: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]
    ) -> None:
        """Update every weight from its gradient. This is an *in place* operation."""
        self.build(weights)
        self._lr = self.current_learning_rate()
        self.iterations += 1
        for name, w in weights.items():
            self._update(w, grads[name], self.state[name], self._scratch[name])

    def current_learning_rate(self) -> float:
        """The learning rate of the next update: ``learning_rate(iterations)``.

        Raises
        ------
        ValueError
            If a schedule returns something other than a finite float >= 0.
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
        return lr

    def _update(
        self,
        w: np.ndarray,
        g: np.ndarray,
        slots: dict[str, np.ndarray],
        tmp: np.ndarray,
    ) -> None:
        raise NotImplementedError

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
        In (0, inf), or a schedule of the step.
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

    def _update(
        self,
        w: np.ndarray,
        g: np.ndarray,
        slots: dict[str, np.ndarray],
        tmp: np.ndarray,
    ) -> None:
        np.multiply(g, self._lr, out=tmp)  # tmp = lr * g
        if not self.slot_names:
            w -= tmp
            return
        v = slots["momentum"]
        v *= self.momentum
        v -= tmp
        if self.nesterov:
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
        In (0, inf), or a schedule of the step.
    beta_1, beta_2 : float, default=0.9, 0.999
        In [0, 1).
    epsilon : float, default=1e-7
        Added to ``sqrt(v)``, not to the bias-corrected ``sqrt(v_hat)``.

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
        self.epsilon = validate_float("epsilon", epsilon, 0.0)

    def _step_size(self) -> float:
        t = self.iterations
        return self._lr * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def _update(
        self,
        w: np.ndarray,
        g: np.ndarray,
        slots: dict[str, np.ndarray],
        tmp: np.ndarray,
    ) -> None:
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
        tmp *= self._step_size()
        w -= tmp

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
        Keras' default. Before the Adam step, ``w -= lr * weight_decay * w``.
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
        self.weight_decay = validate_float("weight_decay", weight_decay, 0.0)

    def _update(
        self,
        w: np.ndarray,
        g: np.ndarray,
        slots: dict[str, np.ndarray],
        tmp: np.ndarray,
    ) -> None:
        if self.weight_decay:
            w *= 1 - self._lr * self.weight_decay
        super()._update(w, g, slots, tmp)

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

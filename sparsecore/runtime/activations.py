"""Activations of a :class:`~sparsecore.runtime.model.SparseModel`, applied in place.

Each function takes ``y`` of shape ``(n_units,)`` or ``(n_units, n_samples)``
(units on axis 0) and the leaky-ReLU slope ``alpha``, and overwrites ``y``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._checks import validate_choice, validate_float

__all__ = ["ACTIVATION_FUNCTIONS", "ACTIVATION_NAMES", "validate_activation"]

ACTIVATION_NAMES = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "softmax")

_ZEROS: dict[np.dtype[Any], np.ndarray] = {
    np.dtype(np.float32): np.zeros((), np.float32),
    np.dtype(np.float64): np.zeros((), np.float64),
}


def _relu(y: np.ndarray, alpha: float) -> None:
    # A 0-d array of y's dtype: half the per-call cost of the Python int 0.
    zero = _ZEROS.get(y.dtype)
    np.maximum(y, 0 if zero is None else zero, out=y)


def _leaky_relu(y: np.ndarray, alpha: float) -> None:
    # y = x if x > 0 else alpha * x
    np.copyto(y, y * y.dtype.type(alpha), where=~(y > 0))


def _tanh(y: np.ndarray, alpha: float) -> None:
    np.tanh(y, out=y)


def _sigmoid(y: np.ndarray, alpha: float) -> None:
    # Stable: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) for x < 0.
    e = np.exp(-np.abs(y))
    pos = y >= 0
    np.divide(1, 1 + e, out=y, where=pos)
    np.divide(e, 1 + e, out=y, where=~pos)


def _softmax(y: np.ndarray, alpha: float) -> None:
    y -= y.max(axis=0, keepdims=True)
    np.exp(y, out=y)
    y /= y.sum(axis=0, keepdims=True)


def _linear(y: np.ndarray, alpha: float) -> None:
    pass


ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray, float], None]] = {
    "linear": _linear,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "softmax": _softmax,
}


def validate_activation(activation: Any) -> tuple[str, float]:
    """Normalise ``None | str | (str, alpha)`` to ``(name, alpha)``."""
    alpha: Any = 0.0
    if activation is None:
        name: Any = "linear"
    elif isinstance(activation, str):
        name = activation
        if name == "leaky_relu":
            alpha = 0.3  # as sparsecore.nn.LeakyReLU
    elif isinstance(activation, tuple) and len(activation) == 2:
        name, alpha = activation
    else:
        raise TypeError(
            "activation must be None, a str or a (name, alpha) tuple; "
            f"got {activation!r}"
        )
    validate_choice("activation", name, ACTIVATION_NAMES)
    alpha = validate_float("alpha", alpha)
    return name, alpha if name == "leaky_relu" else 0.0

"""Element-wise activation layers, each backward directly below its forward.

Where the derivative is a simple function of the forward *output*, the layer
caches the output and says so (as scikit-learn's ``inplace_tanh_derivative``).
Every class has a string attribute ``activation`` naming the function; the
runtime reads it to rebuild the network without importing this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsecore._checks import validate_choice, validate_float
from sparsecore.nn.layers import Layer

__all__ = [
    "ACTIVATIONS",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
]


class _Activation(Layer):
    activation = "linear"

    def __init__(self) -> None:
        super().__init__()
        self._cache: np.ndarray | None = None

    def _cached(self) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(
                f"{self.name or self.kind}: backward called before forward"
            )
        return self._cache


class Identity(_Activation):
    """``y = x``; ``dL/dx = dL/dy``."""

    kind = activation = "linear"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        return grad_out


class ReLU(_Activation):
    """``y = max(x, 0)``; ``dL/dx = dL/dy * [y > 0]`` (a function of the output)."""

    kind = activation = "relu"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._cache = y = np.maximum(x, 0)
        return y

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        return grad_out * (self._cached() > 0)


class LeakyReLU(_Activation):
    """``y = x`` for ``x > 0``, else ``alpha * x``; ``dL/dx = dL/dy * (1 or alpha)``.

    Parameters
    ----------
    alpha : float, default=0.3
        Slope for negative inputs (Keras' default).
    """

    kind = activation = "leaky_relu"

    def __init__(self, alpha: float = 0.3) -> None:
        super().__init__()
        self.alpha = validate_float("alpha", alpha)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._cache = positive = x > 0
        return np.where(positive, x, x * x.dtype.type(self.alpha))

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        slope = grad_out.dtype.type(self.alpha)
        return np.where(self._cached(), grad_out, grad_out * slope)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class Tanh(_Activation):
    """``y = tanh(x)``; ``dL/dx = dL/dy * (1 - y**2)`` (a function of the output)."""

    kind = activation = "tanh"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._cache = y = np.tanh(x)
        return y

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        y = self._cached()
        return grad_out * (1 - y * y)


class Sigmoid(_Activation):
    """``y = 1 / (1 + exp(-x))``; ``dL/dx = dL/dy * y * (1 - y)``.

    Computed as ``0.5 * (1 + tanh(x / 2))``, which never overflows.
    """

    kind = activation = "sigmoid"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        y = np.tanh(x * x.dtype.type(0.5))
        y += 1
        y *= 0.5
        self._cache = y
        return y

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        y = self._cached()
        return grad_out * y * (1 - y)


class Softmax(_Activation):
    """Softmax over the last axis; ``dL/dx = y * (g - sum(g * y, axis=-1))``.

    The forward subtracts the row maximum first, so it never overflows.
    """

    kind = activation = "softmax"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        y = np.exp(x - x.max(axis=-1, keepdims=True))
        y /= y.sum(axis=-1, keepdims=True)
        self._cache = y
        return y

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        y = self._cached()
        return y * (grad_out - np.sum(grad_out * y, axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[_Activation]] = {
    cls.activation: cls for cls in (Identity, ReLU, LeakyReLU, Tanh, Sigmoid, Softmax)
}


def get_activation(name: str) -> type[_Activation]:
    """Look an activation class up by its name (``"relu"``, ``"tanh"``, ...)."""
    return ACTIVATIONS[validate_choice("activation", name, ACTIVATIONS)]

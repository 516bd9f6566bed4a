"""Losses: a value and its gradient with respect to the prediction.

Every loss reduces to a scalar averaged over samples, as Keras does, and
``gradient(y_true, y_pred)`` returns ``dL/dy_pred`` with the shape of
``y_pred`` so that it can be fed straight into ``model.backward``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsecore._checks import validate_bool, validate_choice, validate_type

__all__ = [
    "LOSSES",
    "MAE",
    "MSE",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "get_loss",
]

# Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON].
EPSILON = 1e-7


def _check_shapes(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {y_true.shape} "
            f"and {y_pred.shape}"
        )


class Loss:
    """Base class. Subclasses implement :meth:`value` and :meth:`gradient`.

    Both take ``y_true`` and ``y_pred`` of the same shape ``(n_samples, n_out)``.
    """

    name = "loss"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return self.value(y_true, y_pred)

    def value(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MSE(Loss):
    """Mean squared error ``L = mean((y_pred - y_true)**2)``.

    Notes
    -----
    Over ``N`` elements, ``dL/dy_pred = 2 (y_pred - y_true) / N``.
    """

    name = "mse"

    def value(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        _check_shapes(y_true, y_pred)
        d = y_pred - y_true
        return float(np.mean(d * d))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        g = y_pred - y_true
        g *= g.dtype.type(2.0 / g.size)
        return g


class MAE(Loss):
    """Mean absolute error ``L = mean(|y_pred - y_true|)``.

    Notes
    -----
    ``dL/dy_pred = sign(y_pred - y_true) / N`` (0 where they are equal).
    """

    name = "mae"

    def value(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        _check_shapes(y_true, y_pred)
        return float(np.mean(np.abs(y_pred - y_true)))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        g = np.sign(y_pred - y_true)
        g *= g.dtype.type(1.0 / g.size)
        return g


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, averaged over all elements.

    Parameters
    ----------
    from_logits : bool, default=False
        If True, `y_pred` holds logits ``z``; otherwise probabilities ``p``.

    Notes
    -----
    Probabilities: ``L = -mean(y log p + (1 - y) log(1 - p))`` with ``p``
    clipped to ``[1e-7, 1 - 1e-7]`` (Keras); ``dL/dp = (p - y) / (p (1 - p)) / N``
    inside the clip range and 0 outside.

    Logits (stable for any ``z``): ``L = mean(max(z, 0) - z y + log(1 + exp(-|z|)))``
    and ``dL/dz = (sigmoid(z) - y) / N``.
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = validate_bool("from_logits", from_logits)

    def value(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        _check_shapes(y_true, y_pred)
        if self.from_logits:
            z = y_pred
            return float(
                np.mean(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z))))
            )
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        n = y_pred.size
        if self.from_logits:
            s = 0.5 * (1 + np.tanh(0.5 * y_pred))  # sigmoid without overflow
            return ((s - y_true) / n).astype(y_pred.dtype, copy=False)
        inside = (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        g = (p - y_true) / (p * (1 - p)) / n
        return np.where(inside, g, 0).astype(y_pred.dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """Cross-entropy for one-hot (or soft) targets over the last axis.

    Parameters
    ----------
    from_logits : bool, default=False
        If True, `y_pred` holds logits ``z``; otherwise probabilities ``p``.

    Notes
    -----
    Probabilities (as Keras): ``q = p / sum(p)``, clipped to ``[1e-7, 1 - 1e-7]``,
    ``L = -mean_rows(sum(y log q))``; inside the clip range
    ``dL/dp_j = (-y_j / p_j + sum(y) / sum(p)) / n_samples``.

    Logits: ``L = -mean_rows(sum(y * log_softmax(z)))`` with a max-shifted
    log-sum-exp, and ``dL/dz = (softmax(z) sum(y) - y) / n_samples``.
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = validate_bool("from_logits", from_logits)

    @staticmethod
    def _log_softmax(z: np.ndarray) -> np.ndarray:
        shifted = z - z.max(axis=-1, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))

    def value(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        _check_shapes(y_true, y_pred)
        if self.from_logits:
            logq = self._log_softmax(y_pred)
        else:
            q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
            logq = np.log(np.clip(q, EPSILON, 1 - EPSILON))
        return float(-np.mean(np.sum(y_true * logq, axis=-1)))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        n = y_pred.shape[0] if y_pred.ndim > 1 else 1
        y_sum = np.sum(y_true, axis=-1, keepdims=True)
        if self.from_logits:
            g = np.exp(self._log_softmax(y_pred)) * y_sum - y_true
        else:
            p_sum = np.sum(y_pred, axis=-1, keepdims=True)
            q = y_pred / p_sum
            g = -y_true / y_pred + y_sum / p_sum
            g = np.where((q > EPSILON) & (q < 1 - EPSILON), g, 0)
        return (g / n).astype(y_pred.dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


LOSSES: dict[str, type[Loss]] = {
    "mse": MSE,
    "mean_squared_error": MSE,
    "mae": MAE,
    "mean_absolute_error": MAE,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
}


def get_loss(loss: str | Loss) -> Loss:
    """Return `loss` itself if it is a :class:`Loss`, else look its alias up.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    TypeError
        For anything that is neither a string nor a Loss.
    """
    if isinstance(loss, Loss):
        return loss
    validate_type("loss", loss, str, "a str or a Loss")
    return LOSSES[validate_choice("loss", loss, LOSSES)]()

"""Losses: a value and its gradient with respect to the prediction.

Every loss reduces to a scalar averaged over samples, as Keras does, and
``gradient(y_true, y_pred)`` returns ``dL/dy_pred`` with the shape of
``y_pred`` so that it can be fed straight into ``model.backward``.

Sample weights (``value(y_true, y_pred, sample_weight=w)``, ``w`` of shape
``(n_samples,)``) multiply each sample's loss, and the mean stays over the
``n_samples`` of the batch, not over ``sum(w)``: Keras' default reduction
``"sum_over_batch_size"``, ``L = sum_i w_i l_i / n``. The gradient is the
unweighted one with row ``i`` scaled by ``w_i``.
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
    "SparseCategoricalCrossentropy",
    "check_class_indices",
    "get_loss",
]

# Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON].
EPSILON = 1e-7


def check_class_indices(
    name: str, y: np.ndarray, n_classes: int, what: str = ""
) -> np.ndarray:
    """1-D class labels `y` as ``intp`` indices, each in ``[0, n_classes)``.

    Integers, or floats with integral values (NaN is not); `what` is added
    after the range in the message (e.g. ``" (output_dim)"``).

    Raises
    ------
    TypeError
        If `y` is not of a real numeric dtype.
    ValueError
        If a value is fractional, NaN or out of range (the first is named).
    """
    if y.dtype.kind == "f":
        fractional = y != np.round(y)  # NaN too
        if fractional.any():
            raise ValueError(
                f"{name} must hold integer class indices; got "
                f"{y[fractional][0].item()!r}"
            )
    elif y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices; got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(
            f"{name} must hold class indices in [0, {n_classes}){what}; got "
            f"{bad.item()!r}"
        )
    return y.astype(np.intp, copy=False)


def _check_shapes(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {y_true.shape} "
            f"and {y_pred.shape}"
        )


def _weights(sample_weight: Any, y_pred: np.ndarray) -> np.ndarray | None:
    """`sample_weight` as an array that broadcasts against `y_pred` row by row.

    Shape ``(n_samples,)`` (or ``(n_samples, 1)``) becomes ``(n_samples, 1, ...)``
    with ``y_pred``'s number of axes, in ``y_pred``'s dtype.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    n = y_pred.shape[0] if y_pred.ndim else 1
    if w.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"sample_weight must have shape ({n},) (one weight per sample of "
            f"y_pred {y_pred.shape}); got {w.shape}"
        )
    shape = (n,) + (1,) * (y_pred.ndim - 1)
    return w.reshape(shape).astype(y_pred.dtype, copy=False)


class Loss:
    """Base class. Subclasses implement :meth:`value` and :meth:`gradient`.

    Both take ``y_true`` and ``y_pred`` of the same shape ``(n_samples, n_out)``
    (class indices of shape ``(n_samples,)`` when :attr:`integer_labels`), and
    an optional ``sample_weight`` of shape ``(n_samples,)``.

    Attributes
    ----------
    integer_labels : bool
        True when ``y_true`` holds class indices rather than an array shaped
        like ``y_pred``; ``Sequential.fit`` then takes `y` as integer labels.
    """

    name = "loss"
    integer_labels = False

    def __call__(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> float:
        if sample_weight is None:  # a subclass written without weights works
            return self.value(y_true, y_pred)
        return self.value(y_true, y_pred, sample_weight=sample_weight)

    def value(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> float:
        raise NotImplementedError

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> np.ndarray:
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

    def value(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> float:
        _check_shapes(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        d = y_pred - y_true
        d *= d
        if w is not None:
            d *= w
        return float(np.mean(d))

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        g = y_pred - y_true
        g *= g.dtype.type(2.0 / g.size)
        if w is not None:
            g *= w
        return g


class MAE(Loss):
    """Mean absolute error ``L = mean(|y_pred - y_true|)``.

    Notes
    -----
    ``dL/dy_pred = sign(y_pred - y_true) / N`` (0 where they are equal).
    """

    name = "mae"

    def value(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> float:
        _check_shapes(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        d = np.abs(y_pred - y_true)
        if w is not None:
            d *= w
        return float(np.mean(d))

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        g = np.sign(y_pred - y_true)
        g *= g.dtype.type(1.0 / g.size)
        if w is not None:
            g *= w
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

    def value(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> float:
        _check_shapes(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        if self.from_logits:
            z = y_pred
            elem = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            elem = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
        if w is not None:
            elem *= w
        return float(np.mean(elem))

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        n = y_pred.size
        if self.from_logits:
            s = 0.5 * (1 + np.tanh(0.5 * y_pred))  # sigmoid without overflow
            g = ((s - y_true) / n).astype(y_pred.dtype, copy=False)
        else:
            inside = (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            g = (p - y_true) / (p * (1 - p)) / n
            g = np.where(inside, g, 0).astype(y_pred.dtype, copy=False)
        if w is not None:
            g *= w
        return g

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """``log(softmax(z))`` over the last axis, max-shifted: finite for any finite z."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


class CategoricalCrossentropy(Loss):
    """Cross-entropy for one-hot (or soft) targets over the last axis.

    Parameters
    ----------
    from_logits : bool, default=False
        If True, `y_pred` holds logits ``z``; otherwise probabilities ``p``.

    Notes
    -----
    Probabilities (as Keras): ``q = p / sum(p)``, clipped to ``[1e-7, 1 - 1e-7]``,
    ``L = -mean_rows(sum(y log q))``. The clip passes no gradient, so with
    ``c_j = 1`` where ``q_j`` is inside the clip range and 0 outside,
    ``dL/dp_k = (-y_k c_k / p_k + sum_j(y_j c_j) / sum(p)) / n_samples``.

    Logits: ``L = -mean_rows(sum(y * log_softmax(z)))`` with a max-shifted
    log-sum-exp, and ``dL/dz = (softmax(z) sum(y) - y) / n_samples``.
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = validate_bool("from_logits", from_logits)

    _log_softmax = staticmethod(_log_softmax)

    def value(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> float:
        _check_shapes(y_true, y_pred)
        if self.from_logits:
            logq = _log_softmax(y_pred)
        else:
            q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
            logq = np.log(np.clip(q, EPSILON, 1 - EPSILON))
        per_sample = np.sum(y_true * logq, axis=-1)
        w = _weights(sample_weight, per_sample)
        if w is not None:
            per_sample *= w
        return float(-np.mean(per_sample))

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> np.ndarray:
        _check_shapes(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        n = y_pred.shape[0] if y_pred.ndim > 1 else 1
        if self.from_logits:
            y_sum = np.sum(y_true, axis=-1, keepdims=True)
            g = np.exp(_log_softmax(y_pred)) * y_sum - y_true
        else:
            p_sum = np.sum(y_pred, axis=-1, keepdims=True)
            q = y_pred / p_sum
            inside = (q > EPSILON) & (q < 1 - EPSILON)  # the clip of value()
            y_in = np.where(inside, y_true, 0)  # targets whose log q gets a gradient
            g = y_in / np.where(inside, y_pred, 1)  # no 1/0 where p is clipped
            g = np.sum(y_in, axis=-1, keepdims=True) / p_sum - g
        g = (g / n).astype(y_pred.dtype, copy=False)
        if w is not None:
            g *= w
        return g

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy for integer class labels: the one-hot loss without one-hots.

    Parameters
    ----------
    from_logits : bool, default=False
        If True, `y_pred` holds logits ``z`` and softmax and cross-entropy are
        computed as one (stable for any finite logits); otherwise `y_pred`
        holds probabilities ``p`` (e.g. the output of a Softmax layer).

    Notes
    -----
    ``y_true`` holds class indices ``y_i`` in ``[0, n_classes)``, of shape
    ``(n_samples,)`` or ``(n_samples, 1)``, integers or integral floats;
    ``y_pred`` has shape ``(n_samples, n_classes)``. The value equals
    :class:`CategoricalCrossentropy` on the one-hot targets ``e_{y_i}``.

    Logits, with ``m_i = max_j z_ij`` (so every ``exp`` is at most 1):

    .. math::

        L = \\frac{1}{n} \\sum_i \\Big(m_i + \\log \\sum_j e^{z_{ij} - m_i}
            - z_{i y_i}\\Big), \\qquad
        \\frac{\\partial L}{\\partial z_{ij}} =
            \\frac{\\mathrm{softmax}(z_i)_j - [j = y_i]}{n}

    Probabilities (as Keras): ``q_i = p_{i y_i} / sum_j p_ij`` clipped to
    ``[1e-7, 1 - 1e-7]``, ``L = -mean_i log q_i``; where ``q_i`` is inside the
    clip range ``dL/dp_ij = (1 / sum_j p_ij - [j = y_i] / p_{i y_i}) / n``, and 0
    for the whole row outside it.

    References
    ----------
    Keras ``keras.losses.SparseCategoricalCrossentropy``.
    """

    name = "sparse_categorical_crossentropy"
    integer_labels = True

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = validate_bool("from_logits", from_logits)

    @staticmethod
    def _labels(y_true: Any, y_pred: np.ndarray) -> np.ndarray:
        """`y_true` as ``intp`` indices of shape (n_samples,), checked on y_pred."""
        if y_pred.ndim != 2:
            raise ValueError(
                f"y_pred must have shape (n_samples, n_classes); got {y_pred.shape}"
            )
        n, k = y_pred.shape
        y = np.asarray(y_true)
        if y.shape not in ((n,), (n, 1)):
            raise ValueError(
                f"y_true must hold class indices of shape ({n},) or ({n}, 1) for "
                f"y_pred {y_pred.shape}; got shape {y.shape}"
            )
        return check_class_indices("y_true", y.reshape(n), k)

    def value(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> float:
        labels = self._labels(y_true, y_pred)
        rows = np.arange(labels.size)
        if self.from_logits:
            per_sample = -_log_softmax(y_pred)[rows, labels]
        else:
            q = y_pred[rows, labels] / np.sum(y_pred, axis=-1)
            per_sample = -np.log(np.clip(q, EPSILON, 1 - EPSILON))
        w = _weights(sample_weight, per_sample)
        if w is not None:
            per_sample *= w
        return float(np.mean(per_sample))

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> np.ndarray:
        labels = self._labels(y_true, y_pred)
        w = _weights(sample_weight, y_pred)
        n = y_pred.shape[0]
        rows = np.arange(n)
        if self.from_logits:
            g = np.exp(_log_softmax(y_pred))  # softmax, fused with the loss
            g[rows, labels] -= 1
        else:
            p_sum = np.sum(y_pred, axis=-1, keepdims=True)
            p_y = y_pred[rows, labels]
            q = p_y / p_sum[:, 0]
            inside = (q > EPSILON) & (q < 1 - EPSILON)
            g = np.empty_like(y_pred)
            g[...] = np.where(inside[:, None], 1 / p_sum, 0)  # d/dp_j of log sum(p)
            g[rows, labels] -= np.where(inside, 1 / np.where(inside, p_y, 1), 0)
        g = (g / n).astype(y_pred.dtype, copy=False)
        if w is not None:
            g *= w
        return g

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


LOSSES: dict[str, type[Loss]] = {
    "mse": MSE,
    "mean_squared_error": MSE,
    "mae": MAE,
    "mean_absolute_error": MAE,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
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

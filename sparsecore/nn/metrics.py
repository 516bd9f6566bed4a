"""Metrics: plain functions ``metric(y_true, y_pred, sample_weight=None) -> float``.

``model.compile(..., metrics=["accuracy"])`` looks the names up here
(:data:`METRICS`); ``fit`` then logs ``"accuracy"`` (over the batches of each
epoch, with the weights of each step, as Keras) and ``"val_accuracy"``, and
``evaluate(..., return_dict=True)`` returns it next to the loss. Any function
with this signature can be passed instead of a name; its ``__name__`` is its
log key.

Every metric is a weighted mean of a per-sample score ``s_i``:
``sum_i w_i s_i / sum_i w_i`` (0.0 when the weights sum to 0), which is
scikit-learn's ``sample_weight`` and Keras' metric weighting. (A loss divides
by ``n_samples`` instead; see :mod:`sparsecore.nn.losses`.)

``"accuracy"`` (or ``"acc"``) is resolved as Keras does, from the loss: binary
accuracy for :class:`~sparsecore.nn.losses.BinaryCrossentropy` (threshold 0.5
on probabilities, 0 on logits with ``from_logits=True``), sparse categorical
accuracy for integer labels, categorical accuracy for one-hot targets, and
otherwise from the shapes (see :func:`accuracy`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sparsecore._checks import validate_int, validate_type
from sparsecore.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    SparseCategoricalCrossentropy,
)

__all__ = [
    "METRICS",
    "MetricFn",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get_metrics",
    "mean_absolute_error",
    "mean_squared_error",
    "metric_direction",
    "resolve_mode",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]

MetricFn = Callable[..., float]


def _mean(scores: np.ndarray, sample_weight: Any) -> float:
    """Weighted mean of per-sample scores (shape (n_samples,)); 0.0 for no weight."""
    if sample_weight is None:
        return float(np.mean(scores)) if scores.size else 0.0
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape not in ((scores.size,), (scores.size, 1)):
        raise ValueError(
            f"sample_weight must have shape ({scores.size},); got {w.shape}"
        )
    total = float(np.sum(w))
    return float(np.dot(scores, w.reshape(-1)) / total) if total else 0.0


def _labels(y_true: Any, n: int) -> np.ndarray:
    """Class indices of shape (n,) from (n,) or (n, 1)."""
    y = np.asarray(y_true)
    if y.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"y_true must hold class indices of shape ({n},) or ({n}, 1); "
            f"got shape {y.shape}"
        )
    return y.reshape(n)


def _scores_2d(y_pred: Any) -> np.ndarray:
    p = np.asarray(y_pred)
    if p.ndim != 2:
        raise ValueError(
            f"y_pred must have shape (n_samples, n_classes); got {p.shape}"
        )
    return p


def binary_accuracy(
    y_true: Any, y_pred: Any, sample_weight: Any = None, threshold: float = 0.5
) -> float:
    """Fraction of outputs on the right side of `threshold`, as Keras.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,) or (n_samples, n_out)
        0/1 targets.
    y_pred : ndarray of the shape of `y_true`
        Probabilities (threshold 0.5) or logits (threshold 0).
    sample_weight : ndarray of shape (n_samples,), optional
    threshold : float, default=0.5

    Notes
    -----
    ``s_i = mean_j [float(y_pred_ij > threshold) == y_true_ij]``, then the
    weighted mean over samples.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {t.shape} and {p.shape}"
        )
    hit = (p > threshold).astype(t.dtype) == t
    scores = hit.reshape(hit.shape[0], -1).mean(axis=1) if hit.ndim else hit
    return _mean(np.atleast_1d(scores), sample_weight)


def categorical_accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Fraction of rows whose largest prediction is the largest target (one-hot).

    ``s_i = [argmax_j y_pred_ij == argmax_j y_true_ij]`` (the first index of
    a tie, as ``np.argmax``), `y_true` and `y_pred` of shape (n_samples, n_classes).
    """
    p = _scores_2d(y_pred)
    t = np.asarray(y_true)
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {t.shape} and {p.shape}"
        )
    return _mean(np.argmax(p, axis=1) == np.argmax(t, axis=1), sample_weight)


def sparse_categorical_accuracy(
    y_true: Any, y_pred: Any, sample_weight: Any = None
) -> float:
    """Fraction of rows whose largest prediction is at the true class index.

    ``s_i = [argmax_j y_pred_ij == y_i]``; `y_true` holds class indices of
    shape (n_samples,) or (n_samples, 1), `y_pred` scores of shape
    (n_samples, n_classes) (probabilities or logits alike).
    """
    p = _scores_2d(y_pred)
    labels = _labels(y_true, p.shape[0])
    return _mean(np.argmax(p, axis=1) == labels, sample_weight)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, sample_weight: Any = None, k: int = 5
) -> float:
    """Fraction of rows whose true class is among the `k` largest predictions.

    ``s_i = [#{j : y_pred_ij > y_pred_{i y_i}} < k]``: a tie with the k-th
    score counts as a hit (TensorFlow's ``in_top_k``).
    """
    k = validate_int("k", k, 1)
    p = _scores_2d(y_pred)
    labels = _labels(y_true, p.shape[0]).astype(np.intp)
    own = p[np.arange(p.shape[0]), labels][:, None]
    return _mean(np.sum(p > own, axis=1) < k, sample_weight)


def top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, sample_weight: Any = None, k: int = 5
) -> float:
    """:func:`sparse_top_k_categorical_accuracy` with one-hot targets (argmax)."""
    t = np.asarray(y_true)
    if t.ndim != 2:
        raise ValueError(
            f"y_true must have shape (n_samples, n_classes); got {t.shape}"
        )
    return sparse_top_k_categorical_accuracy(
        np.argmax(t, axis=1), y_pred, sample_weight, k
    )


def accuracy(
    y_true: Any, y_pred: Any, sample_weight: Any = None, threshold: float = 0.5
) -> float:
    """Accuracy for whichever kind of target the shapes say.

    - `y_pred` of shape (n_samples,) or (n_samples, 1): :func:`binary_accuracy`
      with `threshold`;
    - `y_true` of the shape of `y_pred` (n_samples, n_classes): one-hot,
      :func:`categorical_accuracy`;
    - `y_true` of shape (n_samples,) or (n_samples, 1): class indices,
      :func:`sparse_categorical_accuracy`.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.6, 0.4, 0.0]])
    >>> accuracy(np.array([0, 2, 1]), p)
    0.6666666666666666
    """
    p, t = np.asarray(y_pred), np.asarray(y_true)
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        t = t.reshape(p.shape) if t.size == p.size else t  # (n,) against (n, 1)
        return binary_accuracy(t, p, sample_weight, threshold)
    if t.shape == p.shape:
        return categorical_accuracy(t, p, sample_weight)
    return sparse_categorical_accuracy(t, p, sample_weight)


def mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """``s_i = mean_j (y_pred_ij - y_true_ij)^2``, weighted mean over samples."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {t.shape} and {p.shape}"
        )
    d = np.square(p - t, dtype=np.float64)
    return _mean(d.reshape(d.shape[0], -1).mean(axis=1), sample_weight)


def mean_absolute_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """``s_i = mean_j |y_pred_ij - y_true_ij|``, weighted mean over samples."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {t.shape} and {p.shape}"
        )
    d = np.abs(p - t, dtype=np.float64)
    return _mean(d.reshape(d.shape[0], -1).mean(axis=1), sample_weight)


#: Metric functions by the names ``compile(metrics=[...])`` accepts.
METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
}

_MINIMISED = {"mse", "mean_squared_error", "mae", "mean_absolute_error"}


def metric_direction(name: str) -> str | None:
    """``"min"`` or ``"max"``: whether a log key improves down or up, if known.

    ``"loss"`` and the error metrics are minimised, the accuracies maximised;
    a ``"val_"`` prefix is ignored. None for any other name.
    """
    base = name.removeprefix("val_")
    if base == "loss" or base in _MINIMISED:
        return "min"
    return "max" if base in METRICS else None


def resolve_mode(mode: str, monitor: str) -> str:
    """The direction ``"min"`` or ``"max"`` a callback's `mode` means for `monitor`.

    ``"auto"`` is :func:`metric_direction`, and for an unknown key tf.keras'
    rule: ``"max"`` when the name contains ``"acc"``, else ``"min"``.
    """
    if mode != "auto":
        return mode
    return metric_direction(monitor) or ("max" if "acc" in monitor else "min")


def _resolve(name: str, loss: Loss | None) -> MetricFn:
    """The function for a metric name, given the compiled loss (as Keras)."""
    fn = METRICS[name]
    logits = isinstance(loss, BinaryCrossentropy) and loss.from_logits
    if fn is accuracy:
        if isinstance(loss, BinaryCrossentropy):
            fn = binary_accuracy
        elif isinstance(loss, SparseCategoricalCrossentropy):
            return sparse_categorical_accuracy
        elif isinstance(loss, CategoricalCrossentropy):
            return categorical_accuracy
    if fn is binary_accuracy and logits:
        # sigmoid(z) > 0.5 exactly when z > 0
        return functools.partial(binary_accuracy, threshold=0.0)
    return fn


def get_metrics(
    metrics: Sequence[str | MetricFn] | None, loss: Loss | None = None
) -> dict[str, MetricFn]:
    """The functions ``compile`` computes, by log key, in the order given.

    Parameters
    ----------
    metrics : list of str or callable, or None
        Names from :data:`METRICS`, or functions
        ``f(y_true, y_pred, sample_weight=None) -> float`` (logged under
        ``f.__name__``).
    loss : Loss, optional
        Decides what ``"accuracy"`` means (see the module notes).

    Raises
    ------
    TypeError
        If `metrics` is not a list or tuple, or an entry is neither a str nor
        a callable.
    ValueError
        For an unknown name (the message lists the valid ones), a key used
        twice, or a key of ``"loss"``.
    """
    if metrics is None:
        return {}
    validate_type("metrics", metrics, (list, tuple), "a list of str or callables")
    out: dict[str, MetricFn] = {}
    for i, m in enumerate(metrics):
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(
                    f"metrics[{i}] must be one of {sorted(METRICS)} or a callable; "
                    f"got {m!r}"
                )
            key, fn = m, _resolve(m, loss)
        elif callable(m):
            key, fn = getattr(m, "__name__", type(m).__name__), m
        else:
            raise TypeError(f"metrics[{i}] must be a str or a callable; got {m!r}")
        if key == "loss" or key in out:
            raise ValueError(
                f"metrics[{i}] must have a log key other than 'loss' and the keys "
                f"before it {list(out)}; got {key!r}"
            )
        out[key] = fn
    return out

"""Finite-difference gradient checks for layers, losses and whole models.

The analytic gradients written by hand in ``backward`` are compared with
central differences computed in float64:

.. math::

    \\frac{\\partial L}{\\partial \\theta_i} \\approx
    \\frac{L(\\theta + \\epsilon e_i) - L(\\theta - \\epsilon e_i)}{2 \\epsilon}

For a layer, the scalar is ``L = sum(r * layer.forward(x))`` with a fixed random
``r``, so ``dL/dy = r`` is what ``backward`` receives. Each difference costs
two forward passes, so large arrays are checked on a random subset of entries
(``max_checks``). Build the model or layer in float64 before checking: float32
differences are too coarse for a tight tolerance.

Examples
--------
>>> import numpy as np, sparsecore as sc
>>> layer = sc.Dense(3)
>>> _ = layer.build(4, np.random.default_rng(0), np.dtype("float64"))
>>> x = np.random.default_rng(1).standard_normal((5, 4))
>>> check_layer(layer, x).max_error < 1e-6
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "GradCheckResult",
    "check_layer",
    "check_loss",
    "check_model",
    "numerical_gradient",
]


@dataclass
class GradCheckResult:
    """Errors per checked array: ``|analytic - numeric| / max(1, |numeric|)``.

    Attributes
    ----------
    errors : dict of str to float
        Largest scaled error for each array (``"input"``, ``"kernel"``, ...).
    analytic, numeric : dict of str to ndarray
        The compared entries (flattened), for inspection.
    """

    errors: dict[str, float] = field(default_factory=dict)
    analytic: dict[str, np.ndarray] = field(default_factory=dict)
    numeric: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def ok(self, tol: float = 1e-6) -> bool:
        return self.max_error <= tol


def numerical_gradient(
    f: Callable[[], float],
    array: np.ndarray,
    index: np.ndarray,
    eps: float = 1e-5,
) -> np.ndarray:
    """Central differences of ``f()`` with respect to ``array.flat[index]``.

    `array` is perturbed *in place* and restored exactly after each entry.

    Parameters
    ----------
    f : callable
        Returns the scalar to differentiate; reads `array`.
    array : ndarray
        Perturbed in place; must be float64 for meaningful results.
    index : ndarray of int
        Flat indices to differentiate.
    eps : float, default=1e-5

    Returns
    -------
    ndarray of shape (len(index),)
    """
    flat = array.reshape(-1)  # a view: array is contiguous
    out = np.empty(len(index))
    for j, i in enumerate(index):  # one entry at a time: each needs two evaluations
        orig = flat[i]
        flat[i] = orig + eps
        plus = f()
        flat[i] = orig - eps
        minus = f()
        flat[i] = orig
        out[j] = (plus - minus) / (2 * eps)
    return out


def _subset(size: int, max_checks: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, max_checks, replace=False))


def _compare(
    result: GradCheckResult, name: str, analytic: np.ndarray, numeric: np.ndarray
) -> None:
    err = np.abs(analytic - numeric) / np.maximum(1.0, np.abs(numeric))
    result.errors[name] = float(err.max(initial=0.0))
    result.analytic[name], result.numeric[name] = analytic, numeric


def _check_all(
    f: Callable[[], float],
    arrays: dict[str, np.ndarray],
    analytic: dict[str, np.ndarray],
    rng: np.random.Generator,
    max_checks: int | None,
    eps: float,
) -> GradCheckResult:
    """Compare `analytic` with central differences of `f` for every array."""
    result = GradCheckResult()
    for name, array in arrays.items():
        idx = _subset(array.size, max_checks, rng)
        numeric = numerical_gradient(f, array, idx, eps)
        _compare(result, name, analytic[name].reshape(-1)[idx], numeric)
    return result


def check_layer(
    layer: Any,
    x: np.ndarray,
    *,
    eps: float = 1e-5,
    seed: int = 0,
    max_checks: int | None = 200,
) -> GradCheckResult:
    """Check ``layer.backward`` against central differences.

    Parameters
    ----------
    layer : Layer
        Already built (``layer.build(n_in, rng, np.dtype("float64"))``).
    x : ndarray of shape (n_samples, n_in)
        float64 input.
    eps : float, default=1e-5
    seed : int, default=0
        Seeds the projection ``r`` and the subset of checked entries.
    max_checks : int or None, default=200
        Entries checked per array (None: all).

    Returns
    -------
    GradCheckResult
        With entries ``"input"`` and one per parameter name.
    """
    x = np.array(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(np.shape(layer.forward(x)))

    def f() -> float:
        return float(np.sum(r * layer.forward(x)))

    layer.forward(x)
    grad_in = np.asarray(layer.backward(r.copy()))
    grads = {"input": grad_in} | {k: g.copy() for k, g in layer.grads.items()}
    return _check_all(f, {"input": x, **layer.params}, grads, rng, max_checks, eps)


def _targets(y: Any) -> np.ndarray:
    """Integer labels stay integers (an integer-label loss wants indices); the
    rest becomes float64."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        return y.copy()
    return np.array(y, dtype=np.float64)


def _weight_kwargs(sample_weight: Any) -> dict[str, np.ndarray]:
    if sample_weight is None:
        return {}
    return {"sample_weight": np.array(sample_weight, dtype=np.float64)}


def check_loss(
    loss: Any,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    eps: float = 1e-5,
    seed: int = 0,
    max_checks: int | None = 200,
) -> GradCheckResult:
    """Check ``loss.gradient(y_true, y_pred)`` against differences of ``loss.value``.

    Parameters
    ----------
    loss : Loss
    y_true : ndarray
        Targets; integer arrays (class indices) are kept as integers, others
        are cast to float64.
    y_pred : ndarray
        Cast to float64 and perturbed.
    sample_weight : ndarray of shape (n_samples,), optional
        Passed to both ``value`` and ``gradient``.

    Returns
    -------
    GradCheckResult
        With the entry ``"y_pred"``.
    """
    y_true = _targets(y_true)
    y_pred = np.array(y_pred, dtype=np.float64)
    kw = _weight_kwargs(sample_weight)
    idx = _subset(y_pred.size, max_checks, np.random.default_rng(seed))
    analytic = np.asarray(loss.gradient(y_true, y_pred, **kw)).reshape(-1)[idx]
    numeric = numerical_gradient(
        lambda: loss.value(y_true, y_pred, **kw), y_pred, idx, eps
    )
    result = GradCheckResult()
    _compare(result, "y_pred", analytic, numeric)
    return result


def check_model(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    eps: float = 1e-5,
    seed: int = 0,
    max_checks: int | None = 50,
) -> GradCheckResult:
    """Check a whole compiled model: every weight and the input gradient.

    The scalar is ``model.loss.value(y, model.forward(x), sample_weight=...)``;
    `model` must be float64 and compiled. For a loss with integer labels `y`
    holds class indices of shape (n_samples,).

    Returns
    -------
    GradCheckResult
        Entries ``"input"`` and every name of ``model.weights()``.
    """
    x = np.array(x, dtype=np.float64)
    if getattr(model.loss, "integer_labels", False):
        y = np.asarray(y).reshape(x.shape[0])
    else:
        y = np.array(y, dtype=np.float64).reshape(x.shape[0], -1)
    kw = _weight_kwargs(sample_weight)
    rng = np.random.default_rng(seed)

    def f() -> float:
        return float(model.loss.value(y, model.forward(x), **kw))

    pred = model.forward(x)
    grad_in = model.backward(model.loss.gradient(y, pred, **kw))
    grads = {"input": np.asarray(grad_in)} | {
        k: g.copy() for k, g in model.gradients().items()
    }
    return _check_all(f, {"input": x, **model.weights()}, grads, rng, max_checks, eps)

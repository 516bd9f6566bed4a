"""Copies of a model that a pruning method may train, leaving the original alone.

Every method of :mod:`sparsecore.prune` that trains (lottery tickets, one-shot
pruning with fine-tuning, sensitivity analysis, ...) works on a copy made by
:func:`clone_model`: the same architecture (``Sequential.from_config``), the
same weights (``set_weights``, bit for bit), compiled with the same loss and
metrics and a *fresh* optimizer of the same class and settings
(``type(opt).from_config(opt.get_config())``: no slots, ``iterations = 0``).
The user's model, its weights and its optimizer state are never modified.

Two more helpers every method shares: :func:`weight_names` (which weights
are pruned: every kernel by default, never a bias, as
:class:`~sparsecore.prune.Pruner`) and :func:`prepare_data` (the checked
``x, y`` a model's loss takes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sparsecore._checks import validate_array, validate_type
from sparsecore.nn.model import Sequential
from sparsecore.prune.policy import select_weights, validate_names

__all__ = ["clone_model", "prepare_data", "weight_names"]


def clone_model(
    model: Sequential, *, dtype: str | None = None, compile: bool = True
) -> Sequential:
    """A copy of `model` with its weights, compiled like it with a fresh optimizer.

    Parameters
    ----------
    model : Sequential
        Compiled (when `compile` is True).
    dtype : {'float32', 'float64'}, optional
        Dtype of the copy; default the model's. Weights are cast.
    compile : bool, default=True
        Compile the copy with ``model.loss``, ``model.metric_specs`` and a new
        optimizer built from ``model.optimizer.get_config()``.

    Returns
    -------
    Sequential
        Independent of `model`: no array is shared.

    Raises
    ------
    TypeError
        If `model` is not a :class:`~sparsecore.nn.Sequential`.
    RuntimeError
        If `compile` is True and `model` is not compiled.
    """
    validate_type("model", model, Sequential, "a Sequential")
    if compile and (model.loss is None or model.optimizer is None):
        raise RuntimeError(
            "model must be compiled (model.compile(loss, optimizer, metrics=...)) "
            "before it is pruned"
        )
    config = model.get_config()
    if dtype is not None:
        config["dtype"] = dtype
    copy = Sequential.from_config(config)
    copy.set_weights(model.get_weights())
    if compile:
        assert model.loss is not None and model.optimizer is not None  # checked above
        opt = model.optimizer
        copy.compile(
            loss=model.loss,
            optimizer=type(opt).from_config(opt.get_config()),
            metrics=list(model.metric_specs) or None,
        )
    return copy


def prepare_data(
    model: Sequential, x: Any, y: Any, dtype: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`x` and `y` as the model's loss takes them, checked.

    Parameters
    ----------
    model : Sequential
        Compiled: its loss decides whether `y` holds class indices.
    x : array_like of shape (n_samples, input_dim)
    y : array_like
        Class indices of shape (n_samples,) for an integer-label loss, else
        shape (n_samples, output_dim) (or (n_samples,) for one output).
    dtype : {'float32', 'float64'}, optional
        Dtype of `x` (and of `y` unless it holds class indices); default the
        model's.

    Returns
    -------
    x, y : ndarray
    """
    x = validate_array("x", x, kinds="iuf")
    if x.ndim != 2 or x.shape[1] != model.input_dim or x.shape[0] == 0:
        raise ValueError(
            f"x must have shape (n_samples, {model.input_dim}) with n_samples >= 1; "
            f"got {x.shape}"
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError("x must contain only finite values")
    dt = np.dtype(dtype) if dtype is not None else model.dtype
    x = x.astype(dt, copy=False)
    y = validate_array("y", y, kinds="iuf")
    if y.shape[0:1] != x.shape[0:1]:
        raise ValueError(
            f"x and y must have the same length; got {x.shape[0]} and "
            f"{y.shape[0] if y.ndim else y.shape}"
        )
    integer = model.loss is not None and model.loss.integer_labels
    if not integer:
        if y.ndim == 1 and model.output_dim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != model.output_dim:
            raise ValueError(
                f"y must have shape (n_samples, {model.output_dim}); got {y.shape}"
            )
        y = y.astype(dt, copy=False)
    return x, y


def weight_names(
    model: Sequential | Mapping[str, Any], weights: Sequence[str] | None = None
) -> list[str]:
    """Names of the weights a method prunes: `weights`, or every kernel.

    The rule of :class:`~sparsecore.prune.Pruner`, through
    :func:`sparsecore.prune.policy.select_weights`: by default every
    ``"<layer>/kernel"`` of ``model.weights()``, never a bias.

    Parameters
    ----------
    model : Sequential or dict of str to array or shape
        The model, or its weights by name in ``model.weights()`` order (as a
        checkpoint reader knows them before building the model).
    weights : list of str, optional

    Returns
    -------
    list of str
        In the order of `weights`, or of the model's weights.

    Raises
    ------
    TypeError
        If `weights` is not None or a list of str.
    ValueError
        If a name is not in ``model.weights()``, names a bias, or the model
        has no ``"<layer>/kernel"``.
    """
    live = model if isinstance(model, Mapping) else model.weights()
    names = select_weights(
        live,
        names=validate_names("weights", weights),
        default=lambda name, _: name.endswith("/kernel"),
    )
    if not names:
        raise ValueError(
            f"the model has no weight named '<layer>/kernel' to prune; pass "
            f"weights=[...] from {sorted(live)}"
        )
    return names

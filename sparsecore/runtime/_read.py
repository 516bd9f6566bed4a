"""Reading layers in: ``(kernel, bias, activation)`` triples and duck-typed models.

:func:`_read_model` turns a trained network (anything with ``layers``) into
triples; :func:`_validate_layers` checks and casts triples into the
``(kernel, bias, activation, alpha)`` tuples that
:func:`~sparsecore.runtime.compact_layers` and
:meth:`~sparsecore.runtime.SparseModel.from_layers` use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._activations import _validate_activation

__all__: list[str] = []  # private helpers of SparseModel.from_layers and from_model


def _validate_layers(
    layers: Iterable[tuple[Any, Any, Any]], dt: np.dtype[Any]
) -> list[tuple[np.ndarray, np.ndarray, str, float]]:
    """Check and cast ``(kernel, bias, activation)`` triples.

    Parameters
    ----------
    layers : iterable of (kernel, bias, activation)
        ``kernel`` array_like of shape ``(n_in, n_out)``; ``bias`` of shape
        ``(n_out,)`` or None (zeros); ``activation`` as accepted by
        ``SparseModel.from_layers``.
    dt : numpy.dtype
        The dtype kernels and biases are cast to.

    Returns
    -------
    list of (kernel, bias, activation, alpha)
        New arrays of dtype ``dt``; at least one layer.

    Raises
    ------
    TypeError
        If an item is not a triple or an activation has the wrong type.
    ValueError
        If a kernel is not 2-D real, a bias has the wrong shape, a value is
        not finite, the shapes do not chain, or there is no layer.
    """
    raw = []
    n_prev = None
    for i, item in enumerate(layers):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise TypeError(
                f"layers[{i}] must be a (kernel, bias, activation) tuple; got {item!r}"
            )
        kernel, bias, act = item
        k = np.asarray(kernel)
        real = np.issubdtype(k.dtype, np.integer) or np.issubdtype(k.dtype, np.floating)
        if k.ndim != 2 or not real:
            raise ValueError(
                f"layers[{i}] kernel must be a 2-D real array; "
                f"got shape {k.shape} and dtype {k.dtype}"
            )
        k = k.astype(dt)
        b = np.zeros(k.shape[1], dt) if bias is None else np.asarray(bias, dt)
        if b.shape != (k.shape[1],):
            raise ValueError(
                f"layers[{i}] bias must have shape ({k.shape[1]},); got {b.shape}"
            )
        if not (np.all(np.isfinite(k)) and np.all(np.isfinite(b))):
            raise ValueError(f"layers[{i}] kernel and bias must be finite")
        if n_prev is not None and k.shape[0] != n_prev:
            raise ValueError(
                f"layers[{i}] kernel must have {n_prev} inputs; got shape {k.shape}"
            )
        n_prev = k.shape[1]
        raw.append((k, b, *_validate_activation(act)))
    if not raw:
        raise ValueError("layers must hold at least one layer; got 0")
    return raw


def _read_model(model: Any) -> list[tuple[Any, Any, Any]]:
    """Read a trained network into ``(kernel, bias, activation)`` triples.

    ``model.layers`` is read in order: a layer whose ``params`` dict has a
    ``"kernel"`` (and optionally ``"bias"``) is a Dense layer; a layer with a
    string attribute ``activation`` is applied to the preceding Dense
    (``leaky_relu`` reads ``alpha``). ``"linear"`` activations are skipped.

    Parameters
    ----------
    model : object with ``layers``

    Returns
    -------
    list of (kernel, bias, activation)
        The arrays of ``model`` (not copied); at least one triple.

    Raises
    ------
    TypeError
        If ``model`` has no ``layers`` or a layer is neither a Dense nor an
        activation.
    ValueError
        If an activation comes before the first Dense, two non-linear
        activations follow each other, or there is no Dense.
    """
    try:
        model_layers = list(model.layers)
    except (AttributeError, TypeError):
        raise TypeError(
            f"model must have a 'layers' sequence; got {type(model).__name__}"
        ) from None
    triples: list[list[Any]] = []
    for layer in model_layers:
        name = getattr(layer, "name", type(layer).__name__)
        params = getattr(layer, "params", None) or {}
        act = getattr(layer, "activation", None)
        if "kernel" in params:
            own = act if isinstance(act, str) else None
            triples.append([params["kernel"], params.get("bias"), own])
            if own is not None:
                triples[-1][2] = _layer_activation(layer, own)
            continue
        if not isinstance(act, str):
            raise TypeError(
                f"layer {name!r} ({type(layer).__name__}) must be a Dense "
                "(params['kernel']) or an activation (str attribute "
                "'activation')"
            )
        if act == "linear":
            continue
        if not triples:
            raise ValueError(
                f"activation layer {name!r} before the first Dense is not supported"
            )
        if triples[-1][2] not in (None, "linear"):
            raise ValueError(
                f"activation layer {name!r} follows another activation; "
                "consecutive activations are not supported"
            )
        triples[-1][2] = _layer_activation(layer, act)
    if not triples:
        raise ValueError("model must contain at least one Dense layer; got 0")
    return [(t[0], t[1], t[2]) for t in triples]


def _layer_activation(layer: Any, act: str) -> tuple[str, float] | str:
    """``act``, or ``("leaky_relu", layer.alpha)`` (default 0.3) for leaky ReLU."""
    if act == "leaky_relu":
        return (act, float(getattr(layer, "alpha", 0.3)))
    return act

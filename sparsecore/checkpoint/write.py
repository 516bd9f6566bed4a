"""Writing checkpoints: a model as the members of a checkpoint ``.npz``.

The layout is described in :mod:`sparsecore.checkpoint.schema`. Every array is
stored little-endian and C-contiguous; classes are saved by name, so only
those the reader can rebuild (the registries of the schema) are accepted.
:func:`save_model` writes a file; :class:`~sparsecore.checkpoint.ModelCheckpoint`
uses :func:`checkpoint_arrays` directly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from sparsecore.checkpoint.schema import (
    FORMAT_NAME,
    FORMAT_VERSION,
    LAYER_CLASSES,
    LOSS_CLASSES,
    METRIC_NAMES,
    OPTIMIZER_CLASSES,
    PRUNER_CLASSES,
    SCHEDULE_CLASSES,
)
from sparsecore.nn.model import Sequential
from sparsecore.runtime.atomic import atomic_savez

__all__ = ["checkpoint_arrays", "save_model"]


def _registered(kind: str, obj: Any, registry: Mapping[str, type]) -> str:
    name = type(obj).__name__
    if registry.get(name) is not type(obj):
        raise TypeError(
            f"cannot checkpoint {kind} {name!r}: a checkpoint rebuilds it by class "
            f"name, so it must be one of {sorted(registry)}"
        )
    return name


def _little(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))


def _history_json(history: Any) -> dict[str, Any] | None:
    if history is None:
        return None
    return {
        "epoch": [int(e) for e in history.epoch],
        "history": {
            str(k): [float(v) for v in vs] for k, vs in history.history.items()
        },
    }


def checkpoint_arrays(model: Sequential, history: Any = None) -> dict[str, np.ndarray]:
    """The members of a checkpoint of `model`: the JSON ``header`` and the arrays.

    Parameters
    ----------
    model : Sequential
    history : History, optional
        Saved instead of ``model.history`` (:class:`ModelCheckpoint` passes
        the history of a resumed run merged with the previous one).

    Returns
    -------
    dict of str to ndarray
        Member name (without ``.npy``) to array, ready for
        :func:`~sparsecore.runtime.atomic_savez`.

    Raises
    ------
    TypeError
        If `model` is not a Sequential or holds a class a checkpoint cannot
        rebuild, or the header is not JSON-serialisable.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential; got {model!r}")
    for layer in model.layers:
        _registered("layer", layer, LAYER_CLASSES)
    live = model.weights()
    arrays = {f"weights/{n}": _little(w) for n, w in live.items()}
    compiled: dict[str, Any] | None = None
    if model.loss is not None and model.optimizer is not None:
        opt = model.optimizer
        if callable(opt.learning_rate):
            _registered("learning-rate schedule", opt.learning_rate, SCHEDULE_CLASSES)
        compiled = {
            "loss": {
                "class_name": _registered("loss", model.loss, LOSS_CLASSES),
                "config": model.loss.get_config(),
            },
            "optimizer": {
                "class_name": _registered("optimizer", opt, OPTIMIZER_CLASSES),
                "config": opt.get_config(),
                "iterations": int(opt.iterations),
            },
        }
        if model.metric_specs:  # absent without metrics: older files stay valid
            for m in model.metric_specs:
                if not isinstance(m, str) or m not in METRIC_NAMES:
                    raise TypeError(
                        f"cannot checkpoint metric {m!r}: a checkpoint stores "
                        f"metrics by name, one of {sorted(METRIC_NAMES)}"
                    )
            compiled["metrics"] = list(model.metric_specs)
        for name, w in live.items():
            slots = opt.state.get(name, {})
            for slot in opt.slot_names:
                a = slots.get(slot)
                arrays[f"optimizer/{name}/{slot}"] = (
                    np.zeros_like(w) if a is None else _little(a)
                )
    pruner = None
    if model.pruner is not None:
        cls = _registered("pruner", model.pruner, PRUNER_CLASSES)
        state = dict(model.pruner.state_dict())
        masks = state.pop("masks")
        for name, m in masks.items():
            arrays[f"pruner/masks/{name}"] = np.asarray(m, dtype=bool)
        pruner = {"class_name": cls, "state": state, "masks": list(masks)}
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "model": model.get_config(),
        "compile": compiled,
        "fit_seed": model.fit_seed,
        "epoch": int(model.epoch),
        "history": _history_json(model.history if history is None else history),
        "pruner": pruner,
    }
    try:
        text = json.dumps(header)
    except (TypeError, ValueError) as e:
        raise TypeError(f"the checkpoint header must be JSON-serialisable: {e}") from e
    return {"header": np.array(text), **arrays}


def save_model(
    model: Sequential, path: str | os.PathLike[str], *, compressed: bool = False
) -> None:
    """Write a checkpoint of `model` to `path`, atomically.

    Parameters
    ----------
    model : Sequential
        Built-in layers, loss, optimizer and :class:`~sparsecore.Pruner` only
        (a checkpoint rebuilds them by class name).
    path : str or path-like
        Used exactly as given (no extension is added). Written to a temporary
        file in the same folder, fsynced and renamed over `path`, so a failure
        leaves any previous file intact.
    compressed : bool, default=False
        Deflate the members.

    Raises
    ------
    TypeError
        If `model` holds a class a checkpoint cannot rebuild.

    Examples
    --------
    >>> import os, tempfile
    >>> import sparsecore as sc
    >>> model = sc.Sequential([sc.Dense(2)], input_dim=3, seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> save_model(model, path)
    >>> load_model(path).get_config() == model.get_config()
    True
    """
    atomic_savez(path, checkpoint_arrays(model), compressed=compressed)

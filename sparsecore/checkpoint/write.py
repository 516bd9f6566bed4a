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
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from sparsecore.checkpoint.schema import (
    CALLBACK_NAMES,
    DYNAMIC_CALLBACK_NAMES,
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

__all__ = ["checkpoint_arrays", "nonfinite_members", "save_model"]


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


def _describes(masks: Mapping[str, np.ndarray], live: Mapping[str, np.ndarray]) -> bool:
    """Whether `masks` fit the weights `live` and find them 0 where they prune."""
    for name, m in masks.items():
        w = live.get(name)
        if w is None or w.shape != m.shape or w[~m].any():
            return False
    return True


def _callbacks_json(
    model: Sequential, live: Mapping[str, np.ndarray], arrays: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    """``model.callback_states`` as header entries; their arrays into `arrays`.

    `live` holds the model's weights in their declared shapes.
    """
    out: list[dict[str, Any]] = []
    names = list(model.weights())
    for key, state in getattr(model, "callback_states", {}).items():
        cls = state.get("class_name")
        if cls not in CALLBACK_NAMES:
            continue  # a state only this process understands
        i = len(out)
        entry: dict[str, Any] = {
            "key": key,
            "class_name": cls,
            "config": state["config"],
        }
        if cls in DYNAMIC_CALLBACK_NAMES:
            masks = state["masks"]
            if not _describes(masks, live):
                warnings.warn(
                    f"the state of {key!r} is not saved: the weights are nonzero "
                    "where its masks prune them (changed since its last step, "
                    "e.g. by EarlyStopping(restore_best_weights=True)), so it "
                    f"cannot continue them; a run resumed from this checkpoint "
                    f"starts {cls} afresh",
                    RuntimeWarning,
                    stacklevel=4,
                )
                continue
            entry.update(
                step=int(state["step"]),
                end_step=int(state["end_step"]),
                updates=[[int(s), float(f)] for s, f in state["updates"]],
                masks=list(masks),
            )
            for name, m in masks.items():
                arrays[f"callbacks/{i}/masks/{name}"] = np.asarray(m, bool)
            out.append(entry)
            continue
        entry["best"] = float(state["best"])
        if cls == "EarlyStopping":
            weights, masks = state["best_weights"], state["best_masks"]
            entry.update(
                wait=int(state["wait"]),
                best_epoch=state["best_epoch"],
                stopped=bool(state["stopped"]),
                best_weights=weights is not None,
                best_masks=None if masks is None else list(masks),
            )
            for name, w in zip(names, weights or [], strict=False):
                m = (masks or {}).get(name)
                if m is not None and m.shape == w.shape:  # 0 where pruned, as above
                    w = np.where(m, w, w.dtype.type(0))
                arrays[f"callbacks/{i}/best_weights/{name}"] = _little(w)
            for name, m in (masks or {}).items():
                arrays[f"callbacks/{i}/best_masks/{name}"] = np.asarray(m, bool)
        out.append(entry)
    return out


def nonfinite_members(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The float members of `arrays` holding NaN or inf (a checkpoint must not)."""
    return [
        name
        for name, a in arrays.items()
        if a.dtype.kind == "f" and not np.isfinite(a).all()
    ]


def checkpoint_arrays(model: Sequential, history: Any = None) -> dict[str, np.ndarray]:
    """The members of a checkpoint of `model`: the JSON ``header`` and the arrays.

    Pruned weights are saved as exactly 0 where the attached pruner's masks
    prune them (what the pruner makes them at the next step anyway; the
    reader refuses a file where they are not). The state of a RigL or SET
    callback is saved only when the weights are 0 where its masks prune
    them (else it is left out, with a :class:`RuntimeWarning`).

    Parameters
    ----------
    model : Sequential
    history : History, optional
        Saved instead of ``model.history`` (the record of every epoch).

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

    Warns
    -----
    RuntimeWarning
        When the state of a RigL or SET callback is left out (its masks do
        not find the weights 0 where they prune).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential; got {model!r}")
    for layer in model.layers:
        _registered("layer", layer, LAYER_CLASSES)
    # Every parameter (and optimizer slot) in its declared shape: a layer
    # training its kernel in another form (sparse training's kept values)
    # expands it, so a checkpoint is the same whichever form is trained.
    params = {
        f"{layer.name}/{k}": (layer, k) for layer in model.layers for k in layer.params
    }
    # param_value gives copies: the pruned entries are zeroed in them.
    live = {n: layer.param_value(k) for n, (layer, k) in params.items()}
    if model.pruner is not None:
        for name, m in model.pruner.masks.items():
            w = live.get(name)
            if w is not None and w.shape == m.shape:
                w[~m] = 0
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
            layer, key = params[name]
            for slot in opt.slot_names:
                a = slots.get(slot)
                arrays[f"optimizer/{name}/{slot}"] = (
                    np.zeros_like(w)
                    if a is None
                    else _little(layer.param_value(key, a))
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
        "callbacks": _callbacks_json(model, live, arrays),
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
    ValueError
        If a weight or optimizer slot is NaN or infinite (a checkpoint that
        :func:`load_model` would refuse); nothing is written.

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
    arrays = checkpoint_arrays(model)
    bad = nonfinite_members(arrays)
    if bad:
        raise ValueError(
            f"cannot save a checkpoint to {os.fspath(path)!r}: {bad[0]} "
            f"({len(bad)} array(s) in all) holds NaN or inf, which load_model "
            "refuses; nothing was written"
        )
    atomic_savez(path, arrays, compressed=compressed)

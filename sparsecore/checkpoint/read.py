"""Reading checkpoints: every field validated before anything is built.

The order matters for hostile files: the JSON header is parsed and checked
(exact key sets, types, ranges; every config rebuilt and compared with what
``get_config`` gives back), the expected weight shapes are computed from the
architecture, each member is checked against them (and against what the file
can hold, see :mod:`sparsecore.runtime.npz`) and read, and only then is the model
built, allocating as much as was read. :func:`load_model` is the entry point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NoReturn

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
    CheckpointFormatError,
    canonical,
)
from sparsecore.nn.callbacks import History
from sparsecore.nn.layers import Dense, Layer
from sparsecore.nn.losses import Loss
from sparsecore.nn.model import Sequential
from sparsecore.nn.optimizers import Optimizer
from sparsecore.prune.pruner import Pruner
from sparsecore.runtime.npz import NpzArchive, open_npz

__all__ = ["load_model", "read_checkpoint"]

_MAX_HEADER_CHARS = 1 << 24
_MAX_DIM = (1 << 31) - 1
_MAX_COUNT = (1 << 62) - 1
_MAX_SEED = (1 << 128) - 1
_MAX_LAYERS = 100_000
_HEADER_KEYS = {"format", "version", "model", "compile", "fit_seed", "epoch"}
_HEADER_KEYS |= {"history", "pruner"}
_CONFIG_ERRORS = (TypeError, ValueError, IndexError, KeyError, OverflowError)


class _Reader:
    """Validation helpers over one archive; every failure names file and field."""

    def __init__(self, archive: NpzArchive) -> None:
        self.a = archive

    def fail(self, field: str, problem: str) -> NoReturn:
        self.a.fail(field, problem)

    def integer(self, field: str, v: Any, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.fail(field, f"must be an int in [{lo}, {hi}]; got {v!r:.80}")
        return v

    def obj(self, field: str, v: Any, keys: set[str]) -> dict[str, Any]:
        if not isinstance(v, dict):
            self.fail(field, f"must be a JSON object; got {type(v).__name__}")
        if set(v) != keys:
            missing, extra = sorted(keys - set(v)), sorted(set(v) - keys)
            self.fail(
                field,
                f"keys must be {sorted(keys)}; missing {missing}, unknown {extra}",
            )
        return v

    def build(self, field: str, cls: type, config: Any, arguments: Any = None) -> Any:
        """``cls(**config)``, refused unless its get_config() gives `config` back.

        `arguments`, if given, is what is passed instead of `config` (the
        config with a learning-rate schedule already rebuilt).
        """
        if not isinstance(config, dict):
            self.fail(field, f"must be a JSON object; got {type(config).__name__}")
        try:
            obj = cls(**(config if arguments is None else arguments))
        except _CONFIG_ERRORS as e:
            self.fail(field, f"invalid {cls.__name__} config ({e})")
        if canonical(obj.get_config()) != canonical(config):
            self.fail(
                field,
                f"not a canonical {cls.__name__} config (unknown, "
                "missing or non-canonical fields)",
            )
        return obj

    def finite(self, field: str, a: np.ndarray) -> np.ndarray:
        if not np.isfinite(a).all():
            self.fail(field, "must hold only finite values")
        return a


def _header(r: _Reader) -> dict[str, Any]:
    header = r.a.read_json("header", _MAX_HEADER_CHARS)
    if not isinstance(header, dict):
        r.fail("header", f"must be a JSON object; got {type(header).__name__}")
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        hint = (
            " (a SparseModel file: read it with sc.SparseModel.load)"
            if fmt == "sparsecore.SparseModel"
            else ""
        )
        r.fail("header.format", f"must be {FORMAT_NAME!r}; got {fmt!r:.80}{hint}")
    if header.get("version") != FORMAT_VERSION:
        r.fail(
            "header.version",
            f"unsupported version {header.get('version')!r:.80}; this sparsecore "
            f"reads version {FORMAT_VERSION}",
        )
    return r.obj("header", header, _HEADER_KEYS)


def _architecture(
    r: _Reader, cfg: Any
) -> tuple[list[Layer], dict[str, tuple[int, ...]], np.dtype[Any]]:
    """Layers (unbuilt) and the name -> shape of every weight, from the config."""
    cfg = r.obj("header.model", cfg, {"input_dim", "dtype", "seed", "layers"})
    width = r.integer("header.model.input_dim", cfg["input_dim"], 1, _MAX_DIM)
    if cfg["dtype"] not in ("float32", "float64"):
        r.fail(
            "header.model.dtype",
            f"must be 'float32' or 'float64'; got {cfg['dtype']!r:.80}",
        )
    if cfg["seed"] is not None:
        r.integer("header.model.seed", cfg["seed"], 0, _MAX_SEED)
    specs = cfg["layers"]
    if not isinstance(specs, list) or not 1 <= len(specs) <= _MAX_LAYERS:
        r.fail("header.model.layers", f"must be a list of 1 to {_MAX_LAYERS} layers")
    layers: list[Layer] = []
    shapes: dict[str, tuple[int, ...]] = {}
    counts: dict[str, int] = {}
    for i, spec in enumerate(specs):
        field = f"header.model.layers[{i}]"
        spec = r.obj(field, spec, {"class_name", "config"})
        cls = (
            LAYER_CLASSES.get(spec["class_name"])
            if isinstance(spec["class_name"], str)
            else None
        )
        if cls is None:
            r.fail(
                field + ".class_name",
                f"must be one of {sorted(LAYER_CLASSES)}; "
                f"got {spec['class_name']!r:.80}",
            )
        layer = r.build(field + ".config", cls, spec["config"])
        # The names Sequential gives: "<kind>_<index among layers of that kind>".
        name = f"{layer.kind}_{counts.get(layer.kind, 0)}"
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        if isinstance(layer, Dense):
            units = r.integer(field + ".config.units", layer.units, 1, _MAX_DIM)
            shapes[f"{name}/kernel"] = (width, units)
            if layer.use_bias:
                shapes[f"{name}/bias"] = (units,)
            width = units
        elif type(layer).build is not Layer.build:  # pragma: no cover - new layer types
            r.fail(
                field, f"layer class {type(layer).__name__} has no checkpoint support"
            )
        layers.append(layer)
    return layers, shapes, np.dtype(cfg["dtype"]).newbyteorder("<")


def _schedule(r: _Reader, field: str, spec: Any) -> Any:
    """The schedule an optimizer config holds as its learning rate, rebuilt."""
    spec = r.obj(field, spec, {"class_name", "config"})
    name = spec["class_name"]
    cls = SCHEDULE_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        r.fail(
            field + ".class_name",
            f"must be one of {sorted(SCHEDULE_CLASSES)}; got {name!r:.80}",
        )
    return r.build(field + ".config", cls, spec["config"])


def _metrics(r: _Reader, names: Any) -> list[str]:
    if not isinstance(names, list) or not all(
        isinstance(n, str) and n in METRIC_NAMES for n in names
    ):
        r.fail(
            "header.compile.metrics",
            f"must be a list of metric names from {sorted(METRIC_NAMES)}",
        )
    return names


def _compile(r: _Reader, cfg: Any) -> tuple[Loss, Optimizer, int, list[str]] | None:
    if cfg is None:
        return None
    # "metrics" is written only for a model compiled with metrics
    keys = {"loss", "optimizer"} | (
        {"metrics"} & set(cfg) if isinstance(cfg, dict) else set()
    )
    cfg = r.obj("header.compile", cfg, keys)
    loss_cfg = r.obj("header.compile.loss", cfg["loss"], {"class_name", "config"})
    opt_cfg = r.obj(
        "header.compile.optimizer",
        cfg["optimizer"],
        {"class_name", "config", "iterations"},
    )
    found = []
    for field, spec, registry in (
        ("header.compile.loss", loss_cfg, LOSS_CLASSES),
        ("header.compile.optimizer", opt_cfg, OPTIMIZER_CLASSES),
    ):
        name = spec["class_name"]
        cls = registry.get(name) if isinstance(name, str) else None
        if cls is None:
            r.fail(
                field + ".class_name",
                f"must be one of {sorted(registry)}; got {name!r:.80}",
            )
        config, arguments = spec["config"], None
        if registry is OPTIMIZER_CLASSES and isinstance(config, dict):
            if isinstance(config.get("learning_rate"), dict):
                lr_field = field + ".config.learning_rate"
                lr = _schedule(r, lr_field, config["learning_rate"])
                arguments = {**config, "learning_rate": lr}
        found.append(r.build(field + ".config", cls, config, arguments))
    iterations = r.integer(
        "header.compile.optimizer.iterations", opt_cfg["iterations"], 0, _MAX_COUNT
    )
    metrics = _metrics(r, cfg["metrics"]) if "metrics" in cfg else []
    return found[0], found[1], iterations, metrics


def _history(r: _Reader, h: Any) -> History | None:
    if h is None:
        return None
    h = r.obj("header.history", h, {"epoch", "history"})
    epochs, values = h["epoch"], h["history"]
    if not isinstance(epochs, list):
        r.fail("header.history.epoch", "must be a list of ints")
    for e in epochs:
        r.integer("header.history.epoch", e, 0, _MAX_COUNT)
    if not isinstance(values, dict):
        r.fail("header.history.history", "must be a JSON object of lists")
    history = History()
    history.epoch = list(epochs)
    for key, vs in values.items():
        field = f"header.history.history[{key!r:.40}]"
        if not isinstance(vs, list) or len(vs) > len(epochs):
            r.fail(field, f"must be a list of at most {len(epochs)} numbers")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vs):
            r.fail(field, "must hold only numbers")
        history.history[key] = [float(v) for v in vs]
    return history


def _pruner_header(
    r: _Reader, p: Any, shapes: Mapping[str, tuple[int, ...]]
) -> tuple[type[Pruner], dict[str, Any], list[str]] | None:
    if p is None:
        return None
    p = r.obj("header.pruner", p, {"class_name", "state", "masks"})
    cls = (
        PRUNER_CLASSES.get(p["class_name"])
        if isinstance(p["class_name"], str)
        else None
    )
    if cls is None:
        r.fail(
            "header.pruner.class_name",
            f"must be one of {sorted(PRUNER_CLASSES)}; got {p['class_name']!r:.80}",
        )
    if not isinstance(p["state"], dict) or "masks" in p["state"]:
        r.fail("header.pruner.state", "must be a JSON object without 'masks'")
    names = p["masks"]
    if (
        not isinstance(names, list)
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
    ):
        r.fail("header.pruner.masks", "must be a list of distinct weight names")
    for name in names:
        if name not in shapes:
            r.fail("header.pruner.masks", f"{name!r:.80} is not a weight of the model")
    return cls, p["state"], names


def _read_arrays(
    r: _Reader,
    shapes: Mapping[str, tuple[int, ...]],
    dtype: np.dtype[Any],
    slot_names: tuple[str, ...],
    mask_names: list[str],
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Check the member list, then read every array with its expected shape."""
    expected = {"header", *(f"weights/{n}" for n in shapes)}
    expected |= {f"optimizer/{n}/{s}" for n in shapes for s in slot_names}
    expected |= {f"pruner/masks/{n}" for n in mask_names}
    r.a.check_members(sorted(expected))
    weights = {
        n: r.finite(f"weights/{n}", r.a.read(f"weights/{n}", dtype, s))
        for n, s in shapes.items()
    }
    slots: dict[str, dict[str, np.ndarray]] = {}
    for n, s in shapes.items():
        slots[n] = {}
        for slot in slot_names:
            field = f"optimizer/{n}/{slot}"
            a = slots[n][slot] = r.finite(field, r.a.read(field, dtype, s))
            if slot == "v" and (a < 0).any():  # Adam's second moment
                r.fail(field, "must be >= 0 (a mean of squares)")
    masks = {}
    for n in mask_names:
        field = f"pruner/masks/{n}"
        m = r.a.read(field, np.dtype(bool), shapes[n])
        if (m.view(np.uint8) > 1).any():  # a bool byte other than 0/1
            r.fail(field, "must hold only 0 (pruned) and 1 (kept) bytes")
        masks[n] = m
    return weights, slots, masks


def read_checkpoint(archive: NpzArchive) -> Sequential:
    """The model stored in `archive`; every problem raises ``archive.error``."""
    r = _Reader(archive)
    header = _header(r)
    layers, shapes, dtype = _architecture(r, header["model"])
    compiled = _compile(r, header["compile"])
    epoch = r.integer("header.epoch", header["epoch"], 0, _MAX_COUNT)
    fit_seed = header["fit_seed"]
    if fit_seed is not None:
        r.integer("header.fit_seed", fit_seed, 0, _MAX_SEED)
    history = _history(r, header["history"])
    pruner_spec = _pruner_header(r, header["pruner"], shapes)
    slot_names = compiled[1].slot_names if compiled else ()
    mask_names = pruner_spec[2] if pruner_spec else []
    weights, slots, masks = _read_arrays(r, shapes, dtype, slot_names, mask_names)

    # Everything is checked against the data: now build (allocating as much).
    model_cfg = header["model"]
    try:
        model = Sequential(
            layers,
            model_cfg["input_dim"],
            seed=model_cfg["seed"],
            dtype=model_cfg["dtype"],
        )
    except _CONFIG_ERRORS as e:
        r.fail("header.model", f"invalid model ({e})")
    live = model.weights()
    if {n: w.shape for n, w in live.items()} != dict(shapes):  # pragma: no cover
        r.fail("header.model", "the rebuilt model's weights differ from the file's")
    for name, w in live.items():
        w[...] = weights[name]
    if compiled is not None:
        loss, optimizer, iterations, metric_names = compiled
        try:
            model.compile(loss, optimizer, metrics=metric_names or None)
        except _CONFIG_ERRORS as e:
            r.fail("header.compile.metrics", f"invalid metrics ({e})")
        for name, by_slot in slots.items():
            for slot, a in by_slot.items():
                optimizer.state[name][slot][...] = a
        optimizer.iterations = iterations
    model.fit_seed = fit_seed
    model.epoch = epoch
    model.history = history
    if pruner_spec is not None:
        cls, state, names = pruner_spec
        try:
            pruner = cls.from_state_dict({**state, "masks": masks})
            pruner.set_model(model)
        except _CONFIG_ERRORS as e:
            r.fail("header.pruner.state", f"invalid pruner state ({e})")
        back = dict(pruner.state_dict())
        back_masks = back.pop("masks")
        if canonical(back) != canonical(state) or list(back_masks) != names:
            r.fail(
                "header.pruner.state",
                "not a canonical pruner state (unknown, "
                "missing or non-canonical fields)",
            )
    return model


def load_model(path: str | os.PathLike[str]) -> Sequential:
    """Read a checkpoint written by :func:`save_model` / ``model.save``.

    The model comes back compiled (when it was), with its optimizer state,
    ``fit_seed``, ``epoch`` (epochs completed), ``history`` and attached
    pruner (``model.pruner``), ready for::

        model.fit(x, y, epochs=total, initial_epoch=model.epoch,
                  callbacks=[model.pruner])   # the pruner, if there is one

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Sequential

    Raises
    ------
    CheckpointFormatError
        For anything wrong with the file's content (a ValueError naming the
        file, the field and the problem): not a zip, truncated or corrupt
        members, unknown format, version, fields or members, object arrays,
        dtypes or shapes that do not match the architecture, sizes the file
        cannot hold, non-finite weights, invalid configs.
    FileNotFoundError, IsADirectoryError, PermissionError
        If the file cannot be opened.
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike[str]; got {path!r}")
    with open_npz(path, CheckpointFormatError) as archive:
        return read_checkpoint(archive)

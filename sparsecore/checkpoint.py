"""Checkpoints: a whole training run in one ``.npz``, resumed bit for bit.

``model.save(path)`` (or :func:`save_model`) writes, and :func:`load_model`
reads back, everything ``fit`` needs to continue exactly where it stopped:
the architecture, the weights, the loss and optimizer (with its step count and
slot arrays), the shuffling seed, the epoch reached, the history and, when a
pruner is attached (``model.pruner``), its step, schedule and masks. Training
``2N`` epochs in one go, or ``N`` epochs, save, load (in another process) and
``fit(..., initial_epoch=model.epoch)`` for ``N`` more, gives identical
weights, masks and history.

Layout, version 1 (every member a plain ``.npy``; nothing is pickled)::

    header                    0-d str array: the JSON below
    weights/<name>            each array of model.weights(): weights/dense_0/kernel, ...
    optimizer/<name>/<slot>   optimizer slots ("momentum"; "m", "v"), the weight's shape
    pruner/masks/<name>       bool masks of the attached pruner

    {"format": "sparsecore.Checkpoint", "version": 1,
     "model": model.get_config(),
     "compile": null | {"loss": {"class_name", "config"},
                        "optimizer": {"class_name", "config", "iterations"}},
     "fit_seed": null | int, "epoch": int,
     "history": null | {"epoch": [int, ...], "history": {key: [float, ...]}},
     "pruner": null | {"class_name": "Pruner", "state": {...}, "masks": [name, ...]}}

Files are written atomically (:func:`sparsecore.runtime.atomic_savez`): an
interrupted save leaves the previous file as it was. Reading validates
everything before building anything (see :mod:`sparsecore._archive`) and
raises :class:`CheckpointFormatError` for any problem.
"""

from __future__ import annotations

import json
import math
import os
import string
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from sparsecore._archive import Archive, open_archive
from sparsecore.nn.callbacks import Callback, History
from sparsecore.nn.layers import Dense, Layer
from sparsecore.nn.losses import LOSSES, Loss
from sparsecore.nn.model import LAYERS, Sequential
from sparsecore.nn.optimizers import OPTIMIZERS, Optimizer
from sparsecore.prune.pruner import Pruner
from sparsecore.runtime.format import SparseFormatError, atomic_savez

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CheckpointFormatError",
    "ModelCheckpoint",
    "load_model",
    "save_model",
]

FORMAT_NAME = "sparsecore.Checkpoint"
FORMAT_VERSION = 1

_MAX_HEADER_CHARS = 1 << 24
_MAX_DIM = (1 << 31) - 1
_MAX_COUNT = (1 << 62) - 1
_MAX_SEED = (1 << 128) - 1
_MAX_LAYERS = 100_000
_HEADER_KEYS = {"format", "version", "model", "compile", "fit_seed", "epoch"}
_HEADER_KEYS |= {"history", "pruner"}
_CONFIG_ERRORS = (TypeError, ValueError, IndexError, KeyError, OverflowError)

_LOSS_CLASSES: dict[str, type[Loss]] = {c.__name__: c for c in LOSSES.values()}
_OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {
    c.__name__: c for c in OPTIMIZERS.values()
}
_PRUNER_CLASSES: dict[str, type[Pruner]] = {"Pruner": Pruner}


class CheckpointFormatError(SparseFormatError):
    """A file is not a valid sparsecore checkpoint.

    A :class:`~sparsecore.runtime.SparseFormatError` (so a :class:`ValueError`);
    the message names the file, the field and the problem.
    """


# ---------------------------------------------------------------- writing


def _registered(kind: str, obj: Any, registry: Mapping[str, type]) -> str:
    name = type(obj).__name__
    if registry.get(name) is not type(obj):
        raise TypeError(
            f"cannot checkpoint {kind} {name!r}: a checkpoint rebuilds it by class "
            f"name, so it must be one of {sorted(registry)}"
        )
    return name


def _canonical(value: Any) -> str:
    """JSON text with sorted keys: equal configs give equal strings."""
    return json.dumps(value, sort_keys=True)


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


def _serialize(
    model: Sequential, history: Any = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and the arrays of a checkpoint of `model`."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential; got {model!r}")
    for layer in model.layers:
        _registered("layer", layer, LAYERS)
    live = model.weights()
    arrays = {f"weights/{n}": _little(w) for n, w in live.items()}
    compiled = None
    if model.loss is not None and model.optimizer is not None:
        opt = model.optimizer
        compiled = {
            "loss": {
                "class_name": _registered("loss", model.loss, _LOSS_CLASSES),
                "config": model.loss.get_config(),
            },
            "optimizer": {
                "class_name": _registered("optimizer", opt, _OPTIMIZER_CLASSES),
                "config": opt.get_config(),
                "iterations": int(opt.iterations),
            },
        }
        for name, w in live.items():
            slots = opt.state.get(name, {})
            for slot in opt.slot_names:
                a = slots.get(slot)
                arrays[f"optimizer/{name}/{slot}"] = (
                    np.zeros_like(w) if a is None else _little(a)
                )
    pruner = None
    if model.pruner is not None:
        cls = _registered("pruner", model.pruner, _PRUNER_CLASSES)
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
    return header, {"header": np.array(text), **arrays}


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
    _, arrays = _serialize(model)
    atomic_savez(path, arrays, compressed=compressed)


# ---------------------------------------------------------------- reading


class _Reader:
    """Validation helpers over one archive; every failure names file and field."""

    def __init__(self, archive: Archive) -> None:
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

    def build(self, field: str, cls: type, config: Any) -> Any:
        """``cls(**config)``, refused unless its get_config() gives `config` back."""
        if not isinstance(config, dict):
            self.fail(field, f"must be a JSON object; got {type(config).__name__}")
        try:
            obj = cls(**config)
        except _CONFIG_ERRORS as e:
            self.fail(field, f"invalid {cls.__name__} config ({e})")
        if _canonical(obj.get_config()) != _canonical(config):
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
            LAYERS.get(spec["class_name"])
            if isinstance(spec["class_name"], str)
            else None
        )
        if cls is None:
            r.fail(
                field + ".class_name",
                f"must be one of {sorted(LAYERS)}; got {spec['class_name']!r:.80}",
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


def _compile(r: _Reader, cfg: Any) -> tuple[Loss, Optimizer, int] | None:
    if cfg is None:
        return None
    cfg = r.obj("header.compile", cfg, {"loss", "optimizer"})
    loss_cfg = r.obj("header.compile.loss", cfg["loss"], {"class_name", "config"})
    opt_cfg = r.obj(
        "header.compile.optimizer",
        cfg["optimizer"],
        {"class_name", "config", "iterations"},
    )
    found = []
    for field, spec, registry in (
        ("header.compile.loss", loss_cfg, _LOSS_CLASSES),
        ("header.compile.optimizer", opt_cfg, _OPTIMIZER_CLASSES),
    ):
        name = spec["class_name"]
        cls = registry.get(name) if isinstance(name, str) else None
        if cls is None:
            r.fail(
                field + ".class_name",
                f"must be one of {sorted(registry)}; got {name!r:.80}",
            )
        found.append(r.build(field + ".config", cls, spec["config"]))
    iterations = r.integer(
        "header.compile.optimizer.iterations", opt_cfg["iterations"], 0, _MAX_COUNT
    )
    return found[0], found[1], iterations


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
        _PRUNER_CLASSES.get(p["class_name"])
        if isinstance(p["class_name"], str)
        else None
    )
    if cls is None:
        r.fail(
            "header.pruner.class_name",
            f"must be one of {sorted(_PRUNER_CLASSES)}; got {p['class_name']!r:.80}",
        )
    if not isinstance(p["state"], dict) or "masks" in p["state"]:
        r.fail("header.pruner.state", "must be a JSON object without 'masks'")
    names = p["masks"]
    if not isinstance(names, list) or len(set(map(str, names))) != len(names):
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
    unknown = sorted(set(r.a.members) - expected)
    if unknown:
        r.fail(unknown[0], "unknown member")
    missing = sorted(expected - set(r.a.members))
    if missing:
        r.fail(missing[0], "missing member")
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


def _load(archive: Archive) -> Sequential:
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
        loss, optimizer, iterations = compiled
        model.compile(loss, optimizer)
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
        if _canonical(back) != _canonical(state) or list(back_masks) != names:
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
    with open_archive(path, CheckpointFormatError) as archive:
        return _load(archive)


# ---------------------------------------------------------------- callback


class ModelCheckpoint(Callback):
    """Save a checkpoint during ``fit``, every `every` epochs and at the end.

    Parameters
    ----------
    filepath : str or path-like
        Where to write. May hold ``{epoch}`` (1-based, as Keras) and keys of
        the epoch logs, e.g. ``"ckpt-{epoch:03d}-{val_loss:.4f}.npz"``; a fixed
        name is overwritten (atomically) each time. Missing folders are made.
    every : int, default=1
        Save after epochs ``every``, ``2 * every``, ... (counted from 1) and
        after the last epoch ``fit`` runs (also when stopped early).
    save_best_only : bool, default=False
        Only save when `monitor` improved on the best value saved so far (and
        then not at the end unless it improved).
    monitor : str, default='val_loss'
        Log key compared by `save_best_only`.
    mode : {'min', 'max'}, default='min'
    compressed : bool, default=False
        Deflate the members.
    verbose : int, default=0
        1 prints a line per save.

    Attributes
    ----------
    last_path : str or None
        The file written last.
    best : float
        Best `monitor` value seen (``save_best_only``).

    Notes
    -----
    The save for epoch ``e`` happens once every callback has seen the end of
    ``e`` (at the start of epoch ``e + 1``, or at the end of ``fit``), so its
    place in the callback list does not matter and the checkpoint holds the
    logs other callbacks add (a Pruner's ``"sparsity"``). When ``fit``
    continues a run (``initial_epoch`` just after the epochs in
    ``model.history``, as after :func:`load_model`), the saved history holds
    both runs.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        every: int = 1,
        save_best_only: bool = False,
        monitor: str = "val_loss",
        mode: str = "min",
        compressed: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        filepath = os.fspath(filepath)
        if not isinstance(filepath, str):
            raise TypeError(f"filepath must be a str or path-like; got {filepath!r}")
        try:
            list(string.Formatter().parse(filepath))
        except ValueError as e:
            raise ValueError(
                f"filepath must be a valid format string; got {filepath!r} ({e})"
            ) from None
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int in [1, inf); got {every!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be one of ['max', 'min']; got {mode!r}")
        for name, flag in (
            ("save_best_only", save_best_only),
            ("compressed", compressed),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool; got {flag!r}")
        self.filepath, self.every, self.save_best_only = filepath, every, save_best_only
        self.monitor, self.mode, self.compressed = monitor, mode, compressed
        self.verbose = verbose
        self.best = math.inf if mode == "min" else -math.inf
        self.last_path: str | None = None
        self._previous: Any = None
        self._pending: tuple[int, dict[str, Any]] | None = None
        self._last: tuple[int, dict[str, Any]] | None = None
        self._saved_epoch: int | None = None

    def set_model(self, model: Any) -> None:
        # fit calls this before it replaces model.history: keep the old one,
        # the first part of a resumed run's history.
        super().set_model(model)
        self._previous = getattr(model, "history", None)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._pending = self._last = None
        self._saved_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        self._last = (epoch, logs)  # the same dict later callbacks add keys to
        if (epoch + 1) % self.every == 0:
            self._pending = (epoch, logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._flush()
        if self._last is not None and self._saved_epoch != self._last[0]:
            self._pending = self._last
            self._flush()

    def _flush(self) -> None:
        if self._pending is None:
            return
        epoch, logs = self._pending
        self._pending = None
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(
                    f"ModelCheckpoint monitor {self.monitor!r} is not in the epoch "
                    f"logs; available: {sorted(logs)}"
                )
            value = float(logs[self.monitor])
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"filepath {self.filepath!r} cannot be formatted with epoch and the "
                f"logs {sorted(logs)} ({type(e).__name__}: {e})"
            ) from None
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        _, arrays = _serialize(self.model, history=self._history())
        atomic_savez(path, arrays, compressed=self.compressed)
        self.last_path, self._saved_epoch = path, epoch
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved checkpoint {path}", flush=True)

    def _history(self) -> History | None:
        """This fit's history, after the previous run's if this one continues it."""
        current: History | None = self.model.history
        previous = self._previous
        start = self.params.get("initial_epoch", 0)
        if (
            current is None
            or previous is None
            or previous is current
            or not previous.epoch
            or previous.epoch[-1] != start - 1
        ):
            return current
        merged = History()
        merged.epoch = [*previous.epoch, *current.epoch]
        for key in {**previous.history, **current.history}:
            merged.history[key] = [
                *previous.history.get(key, []),
                *current.history.get(key, []),
            ]
        return merged

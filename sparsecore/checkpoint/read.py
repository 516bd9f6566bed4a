"""Reading checkpoints: every field validated before anything is built.

The order matters for hostile files: the JSON header is parsed and checked
(exact key sets, types, ranges; every config rebuilt and compared with what
``get_config`` gives back), the expected weight shapes are computed from the
architecture, each member is checked against them (and against what the file
can hold, see :mod:`sparsecore.runtime.npz`) and read, and only then is the model
built, allocating as much as was read. :func:`load_model` is the entry point.

A checkpoint that loads can also train: every field is range-checked for
that, not only for its type. Counters (epoch, optimizer iterations, pruner
step, schedule steps) stay at most 2**62, so that int64 step arithmetic never
overflows; every number of a layer, loss or optimizer config must be finite
in the model's dtype (a LeakyReLU slope of 1e308 is finite in float64 and
infinite in float32); the optimizers' own bounds (learning rate at most 1e6,
Adam's epsilon > 0 in float32, ...) apply, as the configs are rebuilt through
their constructors; weights must be exactly 0 where the pruner's masks prune
them (the writer saves them so), and where the masks of a RigL or SET state
prune them (the callback leaves them so after every step). A RigL or SET
state must name exactly the weights its configuration masks, in their order
(SET draws its random growth layer after layer), and its update log must be
one ``[step, fraction]`` per update step at most, increasing, at multiples of
``update_frequency`` up to ``min(step, end_step)``. A block size larger than
every pruned weight is clipped to the largest weight's size, which gives the
same masks and keeps memory bounded.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from sparsecore.checkpoint.callback import ModelCheckpoint
from sparsecore.checkpoint.schema import (
    FORMAT_NAME,
    LAYER_CLASSES,
    LOSS_CLASSES,
    METRIC_NAMES,
    OPTIMIZER_CLASSES,
    PRUNER_CLASSES,
    READ_VERSIONS,
    SCHEDULE_CLASSES,
    CheckpointFormatError,
    canonical,
)
from sparsecore.nn.callbacks import EarlyStopping, History
from sparsecore.nn.layers import Dense, Layer
from sparsecore.nn.losses import Loss
from sparsecore.nn.model import Sequential
from sparsecore.nn.optimizers import Optimizer
from sparsecore.prune.clone import weight_names
from sparsecore.prune.dynamic import SET, DynamicSparsity, RigL
from sparsecore.prune.pruner import Pruner
from sparsecore.prune.schedules import MAX_STEP
from sparsecore.runtime.npz import NpzArchive, open_npz

__all__ = ["load_model", "read_checkpoint"]

_MAX_HEADER_CHARS = 1 << 24
_MAX_DIM = (1 << 31) - 1
_MAX_COUNT = (1 << 62) - 1
_MAX_SEED = (1 << 128) - 1
_MAX_LAYERS = 100_000
_MAX_CALLBACKS = 1_000
_HEADER_KEYS = {"format", "version", "model", "compile", "fit_seed", "epoch"}
_HEADER_KEYS |= {"history", "pruner"}
_HEADER_KEYS_V2 = _HEADER_KEYS | {"callbacks"}
_CONFIG_ERRORS = (TypeError, ValueError, IndexError, KeyError, OverflowError)
_CALLBACKS: dict[str, type] = {
    "EarlyStopping": EarlyStopping,
    "ModelCheckpoint": ModelCheckpoint,
    "RigL": RigL,
    "SET": SET,
}
_ES_KEYS = {"key", "class_name", "config", "best", "wait", "best_epoch"}
_ES_KEYS |= {"stopped", "best_weights", "best_masks"}
_MC_KEYS = {"key", "class_name", "config", "best"}
_DYN_KEYS = {"key", "class_name", "config", "step", "end_step", "updates", "masks"}


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

    def number(
        self, field: str, v: Any, *, allow_inf: bool = False, allow_nan: bool = False
    ) -> float:
        """`v` as a float: an int or float of JSON; NaN and inf only if allowed.

        ``float(10**400)`` raises OverflowError: refused as out of range.
        """
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        value = math.nan
        if ok:
            try:
                value = float(v)
            except OverflowError:
                ok = False
        ok = ok and (allow_nan or not math.isnan(value))
        ok = ok and (allow_inf or not math.isinf(value))
        if not ok:
            what = "a number" if allow_inf else "a finite number"
            self.fail(field, f"must be {what}; got {v!r:.80}")
        return value

    def numbers_fit(self, field: str, config: Any, dtype: np.dtype[Any]) -> None:
        """Every number in the JSON value `config` is finite in `dtype`."""
        limit = float(np.finfo(dtype).max)
        stack = [config]
        while stack:  # iterative: a deeply nested config must not recurse
            v = stack.pop()
            if isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                try:
                    ok = abs(float(v)) <= limit
                except OverflowError:
                    ok = False
                if not ok:  # NaN fails the comparison too
                    self.fail(
                        field,
                        f"holds {v!r:.40}, which is not finite in {dtype.name} "
                        f"(|value| <= {limit:.4g})",
                    )


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
    version = header.get("version")
    if isinstance(version, bool) or version not in READ_VERSIONS:
        r.fail(
            "header.version",
            f"unsupported version {version!r:.80}; this sparsecore reads versions "
            f"{', '.join(map(str, READ_VERSIONS))}",
        )
    keys = _HEADER_KEYS if version == 1 else _HEADER_KEYS_V2
    header = r.obj("header", header, keys)
    header.setdefault("callbacks", [])
    return header


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
    dtype = np.dtype(cfg["dtype"]).newbyteorder("<")
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
        r.numbers_fit(field + ".config", spec["config"], dtype)
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
    return layers, shapes, dtype


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


def _compile(
    r: _Reader, cfg: Any, dtype: np.dtype[Any]
) -> tuple[Loss, Optimizer, int, list[str]] | None:
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
        r.numbers_fit(field + ".config", spec["config"], dtype)
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
        # NaN and inf are records too (of a fit with check_finite=False).
        history.history[key] = [
            r.number(field, v, allow_inf=True, allow_nan=True) for v in vs
        ]
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
    state = copy.deepcopy(p["state"])
    # The step grows by one per batch and is computed in int64 by schedules.
    r.integer("header.pruner.state.step", state.get("step"), 0, MAX_STEP)
    config = state.get("config")
    block = config.get("block_size") if isinstance(config, dict) else None
    if (
        isinstance(config, dict)
        and isinstance(block, list)
        and len(block) == 2
        and all(type(b) is int and b >= 1 for b in block)
    ):
        # A block beyond every pruned weight pools the same as one the size of
        # the largest: clip it, so that the first mask cannot ask for the
        # memory of a (2**40, 1) block grid.
        matrices = [shapes[n] for n in names if len(shapes[n]) == 2]
        if matrices:
            top = (max(s[0] for s in matrices), max(s[1] for s in matrices))
            config["block_size"] = [min(b, t) for b, t in zip(block, top, strict=True)]
    return cls, state, names


def _dynamic_header(
    r: _Reader,
    field: str,
    entry: dict[str, Any],
    callback: DynamicSparsity,
    shapes: Mapping[str, tuple[int, ...]],
) -> dict[str, Any]:
    """The step, end step, updates and mask names of a RigL or SET entry."""
    step = r.integer(field + ".step", entry["step"], 0, MAX_STEP)
    end = r.integer(field + ".end_step", entry["end_step"], 0, MAX_STEP)
    given = callback.get_config()["end_step"]
    if given is not None and end != given:
        r.fail(field + ".end_step", f"must be the configured end_step {given}")
    # One update at most per multiple of update_frequency up to min(step, end).
    freq, last = callback.update_frequency, min(step, end)
    updates = entry["updates"]
    if not isinstance(updates, list) or len(updates) > last // freq:
        r.fail(
            field + ".updates",
            f"must be a list of at most {last // freq} [step, fraction] pairs "
            f"(one per update step, a multiple of {freq} up to {last})",
        )
    pairs: list[tuple[int, float]] = []
    for j, u in enumerate(updates):
        at = f"{field}.updates[{j}]"
        if not isinstance(u, list) or len(u) != 2:
            r.fail(at, f"must be a [step, fraction] pair; got {u!r:.80}")
        t = r.integer(at + "[0]", u[0], pairs[-1][0] + 1 if pairs else 1, last)
        if t % freq:
            r.fail(at + "[0]", f"must be a multiple of update_frequency {freq}")
        fraction = r.number(at + "[1]", u[1])
        if not 0.0 <= fraction <= 1.0:
            r.fail(at + "[1]", f"must be a fraction in [0, 1]; got {fraction!r}")
        pairs.append((t, fraction))
    try:
        expected = weight_names(shapes, callback.weights)
    except (TypeError, ValueError) as e:
        r.fail(field + ".config.weights", f"does not fit the model ({e})")
    if entry["masks"] != expected:
        r.fail(
            field + ".masks",
            f"must be the names of the weights {type(callback).__name__} masks, "
            f"in order: {expected!r:.200}",
        )
    return {"step": step, "end_step": end, "updates": pairs, "masks": expected}


def _callbacks_header(
    r: _Reader,
    entries: Any,
    shapes: Mapping[str, tuple[int, ...]],
    mask_names: list[str],
    epoch: int,
) -> list[dict[str, Any]]:
    """The callback states of the header, checked (arrays are read later)."""
    if not isinstance(entries, list) or len(entries) > _MAX_CALLBACKS:
        r.fail("header.callbacks", f"must be a list of at most {_MAX_CALLBACKS}")
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for i, entry in enumerate(entries):
        field = f"header.callbacks[{i}]"
        name = entry.get("class_name") if isinstance(entry, dict) else None
        cls = _CALLBACKS.get(name) if isinstance(name, str) else None
        if cls is None:
            r.fail(
                field + ".class_name",
                f"must be one of {sorted(_CALLBACKS)}; got {name!r:.80}",
            )
        dynamic = issubclass(cls, DynamicSparsity)
        entry = r.obj(
            field,
            entry,
            _DYN_KEYS if dynamic else _ES_KEYS if cls is EarlyStopping else _MC_KEYS,
        )
        callback = r.build(field + ".config", cls, entry["config"])
        if entry["key"] != callback.state_key or entry["key"] in keys:
            r.fail(field + ".key", f"must be {callback.state_key!r}, once")
        keys.add(entry["key"])
        state: dict[str, Any] = {"class_name": name, "config": callback.get_config()}
        if dynamic:
            state.update(_dynamic_header(r, field, entry, callback, shapes))
            out.append(state)
            continue
        state["best"] = r.number(field + ".best", entry["best"], allow_inf=True)
        if cls is EarlyStopping:
            best_epoch = entry["best_epoch"]
            if best_epoch is not None:
                r.integer(field + ".best_epoch", best_epoch, 0, epoch - 1)
            if not isinstance(entry["stopped"], bool):
                r.fail(field + ".stopped", "must be true or false")
            if not isinstance(entry["best_weights"], bool):
                r.fail(field + ".best_weights", "must be true or false")
            masks = entry["best_masks"]
            if masks is not None and (
                not isinstance(masks, list) or sorted(masks) != sorted(mask_names)
            ):
                r.fail(
                    field + ".best_masks",
                    "must be null or the names of the pruner's masks",
                )
            state.update(
                wait=r.integer(field + ".wait", entry["wait"], 0, _MAX_COUNT),
                best_epoch=best_epoch,
                stopped=entry["stopped"],
                best_weights=list(shapes) if entry["best_weights"] else None,
                best_masks=masks,
            )
        out.append(state)
    return out


def _callback_members(states: list[dict[str, Any]]) -> list[str]:
    names = []
    for i, st in enumerate(states):
        names += [
            f"callbacks/{i}/best_weights/{n}" for n in st.get("best_weights") or []
        ]
        names += [f"callbacks/{i}/best_masks/{n}" for n in st.get("best_masks") or []]
        names += [f"callbacks/{i}/masks/{n}" for n in st.get("masks") or []]
    return names


def _pruned_are_zero(
    r: _Reader,
    field: str,
    w: np.ndarray,
    mask: np.ndarray,
    whose: str = "the pruner's mask",
) -> None:
    """Refuse weights that are not 0 where their mask prunes them."""
    bad = int(np.count_nonzero(w[~mask]))
    if bad:
        r.fail(
            field,
            f"{bad} weights are nonzero where {whose} prunes them (a "
            "checkpoint keeps pruned weights at exactly 0)",
        )


def _read_callback_arrays(
    r: _Reader,
    states: list[dict[str, Any]],
    shapes: Mapping[str, tuple[int, ...]],
    dtype: np.dtype[Any],
    weights: Mapping[str, np.ndarray],
) -> None:
    """Replace the name lists of `states` by the arrays they name (in place).

    `weights` are the model's weights, read: a RigL or SET mask must find
    them 0 where it prunes.
    """
    for i, st in enumerate(states):
        if st.get("masks") is not None:
            masks = {}
            for n in st["masks"]:
                field = f"callbacks/{i}/masks/{n}"
                masks[n] = r.a.read(field, np.dtype(bool), shapes[n])
                whose = f"{st['class_name']}'s mask ({field})"
                _pruned_are_zero(r, f"weights/{n}", weights[n], masks[n], whose)
            st["masks"] = masks
        if st.get("best_masks") is not None:
            masks = {}
            for n in st["best_masks"]:
                field = f"callbacks/{i}/best_masks/{n}"
                masks[n] = r.a.read(field, np.dtype(bool), shapes[n])
            st["best_masks"] = masks
        if st.get("best_weights") is not None:
            weights_of_best = []
            for n in st["best_weights"]:
                field = f"callbacks/{i}/best_weights/{n}"
                w = r.finite(field, r.a.read(field, dtype, shapes[n]))
                if st.get("best_masks") and n in st["best_masks"]:
                    _pruned_are_zero(r, field, w, st["best_masks"][n])
                weights_of_best.append(w)
            st["best_weights"] = weights_of_best


def _read_arrays(
    r: _Reader,
    shapes: Mapping[str, tuple[int, ...]],
    dtype: np.dtype[Any],
    slot_names: tuple[str, ...],
    mask_names: list[str],
    callback_members: list[str],
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Check the member list, then read every array with its expected shape."""
    expected = {"header", *(f"weights/{n}" for n in shapes)}
    expected |= {f"optimizer/{n}/{s}" for n in shapes for s in slot_names}
    expected |= {f"pruner/masks/{n}" for n in mask_names}
    expected |= set(callback_members)
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
        # The reader refuses bool bytes other than 0 and 1.
        masks[n] = r.a.read(f"pruner/masks/{n}", np.dtype(bool), shapes[n])
        _pruned_are_zero(r, f"weights/{n}", weights[n], masks[n])
    return weights, slots, masks


def read_checkpoint(archive: NpzArchive) -> Sequential:
    """The model stored in `archive`; every problem raises ``archive.error``."""
    r = _Reader(archive)
    header = _header(r)
    layers, shapes, dtype = _architecture(r, header["model"])
    compiled = _compile(r, header["compile"], dtype)
    epoch = r.integer("header.epoch", header["epoch"], 0, _MAX_COUNT)
    fit_seed = header["fit_seed"]
    if fit_seed is not None:
        r.integer("header.fit_seed", fit_seed, 0, _MAX_SEED)
    history = _history(r, header["history"])
    pruner_spec = _pruner_header(r, header["pruner"], shapes)
    slot_names = compiled[1].slot_names if compiled else ()
    mask_names = pruner_spec[2] if pruner_spec else []
    states = _callbacks_header(r, header["callbacks"], shapes, mask_names, epoch)
    weights, slots, masks = _read_arrays(
        r, shapes, dtype, slot_names, mask_names, _callback_members(states)
    )
    _read_callback_arrays(r, states, shapes, dtype, weights)

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
    model.callback_states = {
        _CALLBACKS[st["class_name"]](**st["config"]).state_key: st for st in states
    }
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

    Callbacks are not objects of the file: their saved states
    (``model.callback_states``) are taken up by new callbacks built with
    the same arguments (``EarlyStopping(patience=5)``, ``RigL(0.9)``) and
    passed to that ``fit``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Sequential

    Raises
    ------
    CheckpointFormatError
        For anything wrong with the path or the file's content (a ValueError
        naming the file, the field and the problem): a directory, FIFO or
        device, not a zip, truncated or corrupt members, unknown format,
        version, fields or members, object arrays, dtypes or shapes that do
        not match the architecture, sizes the file cannot hold, non-finite
        weights, weights nonzero where the masks prune, invalid configs or
        values out of the range a further ``fit`` needs.
    FileNotFoundError, PermissionError
        If the file does not exist, or may not be read (the file itself may
        be fine).
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike[str]; got {path!r}")
    with open_npz(path, CheckpointFormatError) as archive:
        return read_checkpoint(archive)

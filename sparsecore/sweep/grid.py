"""The study's grid: dataset, model, training settings, and the axes to sweep.

A :class:`Grid` names everything a pruning study varies or fixes; expanding it
gives one :class:`Cell` per (method, sparsity, seed), plus one ``dense``
baseline cell per seed. A cell is a complete, self-contained description of a
training run: its :attr:`Cell.key` is a hash of every setting, so a changed
setting is a new cell and a finished cell is never silently reused for a
different run (Blalock et al., "What is the state of neural network pruning?",
MLSys 2020: compare methods on full accuracy-vs-sparsity curves, same setup,
several seeds).

A grid comes from keyword arguments, a mapping, or a TOML file
(:func:`load_grid`; read with the standard library's :mod:`tomllib`)::

    dataset = "mnist1d"
    methods = ["magnitude", "random"]
    sparsities = [0.5, 0.8, 0.9, 0.95]
    seeds = [0, 1, 2]
    epochs = 30
    hidden = [256, 256]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from sparsecore._checks import (
    validate_bool,
    validate_choice,
    validate_float,
    validate_int,
    validate_sparsity,
    validate_type,
)
from sparsecore.sweep.methods import METHODS

__all__ = ["CELL_VERSION", "DATASETS", "Cell", "Grid", "load_grid", "read_grid_config"]

#: The datasets a grid can name.
DATASETS = ("digits", "mnist1d", "regression")
#: Bumped when what a cell computes changes, so old results are not reused.
CELL_VERSION = 1
_MAX_CONFIG_BYTES = 1 << 20


def _tuple(
    name: str, values: Any, convert: Any, unique: bool = True
) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list; got {values!r}")
    out = tuple(convert(f"{name}[{i}]", v) for i, v in enumerate(values))
    if not out:
        raise ValueError(f"{name} must not be empty; got {values!r}")
    if unique and len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value; got {list(out)!r}")
    return out


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run of the study: everything it depends on.

    Attributes
    ----------
    dataset : str
    method : str
        ``"dense"`` for the baseline, else a name in
        :data:`sparsecore.sweep.methods.METHODS`.
    sparsity : float
        Target sparsity of the pruned kernels (0 for ``dense``).
    seed : int
        Seeds the initial weights, the batches and any random mask.
    epochs, batch_size, learning_rate, hidden
        The training settings (Adam; ReLU MLP with these hidden widths).
    options : dict
        Method options (e.g. ``{"fine_tune_epochs": 10}``), part of the key.
    """

    dataset: str
    method: str
    sparsity: float
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    hidden: tuple[int, ...]
    options: tuple[tuple[str, Any], ...] = ()

    def settings(self) -> dict[str, Any]:
        """Every setting as a JSON-serialisable dict (what the key hashes)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["options"] = dict(self.options)
        d["cell_version"] = CELL_VERSION
        return d

    @property
    def key(self) -> str:
        """12 hex digits of the SHA-256 of :meth:`settings` (canonical JSON)."""
        text = json.dumps(self.settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        """A readable, unique file stem: ``magnitude_s0.9_seed1_<key>``."""
        return f"{self.method}_s{self.sparsity:g}_seed{self.seed}_{self.key}"


@dataclasses.dataclass(frozen=True)
class Grid:
    """A pruning study: methods x sparsities x seeds on one dataset and model.

    Parameters
    ----------
    dataset : {'mnist1d', 'digits', 'regression'}
        ``mnist1d`` and ``digits`` are classification (accuracy is reported;
        they need the ``datasets`` extra), ``regression`` is the tutorial's
        ``make_regression`` problem at a small size (loss is reported).
    methods : sequence of str
        Names in :data:`sparsecore.sweep.methods.METHODS` (an unknown or unbuilt
        name is an error, never skipped).
    sparsities : sequence of float
        Each in [0, 1).
    seeds : sequence of int
        Each in [0, 2**31).
    epochs : int, default=30
    batch_size : int, default=100
    learning_rate : float, default=1e-3
        Adam's learning rate.
    hidden : sequence of int, default=(256, 256)
        Hidden layer widths of the ReLU MLP.
    dense : bool, default=True
        Add one ``dense`` (unpruned) cell per seed: the baseline line.
    options : mapping of str to mapping, optional
        Per method, its options (e.g. ``{"oneshot": {"fine_tune_epochs": 5}}``).

    Raises
    ------
    TypeError, ValueError
        For an unknown dataset or method, an empty or repeated axis, a
        sparsity outside [0, 1) or a bad setting.
    """

    dataset: str
    methods: tuple[str, ...]
    sparsities: tuple[float, ...]
    seeds: tuple[int, ...] = (0,)
    epochs: int = 30
    batch_size: int = 100
    learning_rate: float = 1e-3
    hidden: tuple[int, ...] = (256, 256)
    dense: bool = True
    options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def __post_init__(self) -> None:
        validate_choice("dataset", self.dataset, DATASETS)

        def method(name: str, v: Any) -> str:
            validate_type(name, v, str, "a str")
            # "dense" is the baseline every grid adds (dense=True), not an axis value
            return str(validate_choice(name, v, [m for m in METHODS if m != "dense"]))

        def seed(name: str, v: Any) -> int:
            return validate_int(name, v, 0, 2**31 - 1)

        def width(name: str, v: Any) -> int:
            return validate_int(name, v, 1, 1 << 20)

        set_ = object.__setattr__
        set_(self, "methods", _tuple("methods", self.methods, method))
        set_(
            self, "sparsities", _tuple("sparsities", self.sparsities, validate_sparsity)
        )
        set_(self, "seeds", _tuple("seeds", self.seeds, seed))
        set_(self, "hidden", _tuple("hidden", self.hidden, width, unique=False))
        set_(self, "epochs", validate_int("epochs", self.epochs, 1, 100_000))
        set_(self, "batch_size", validate_int("batch_size", self.batch_size, 1))
        lr = validate_float(
            "learning_rate", self.learning_rate, 0.0, 10.0, low_open=True
        )
        set_(self, "learning_rate", lr)
        set_(self, "dense", validate_bool("dense", self.dense))
        set_(self, "options", _freeze_options(self.options, self.methods))

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Grid:
        """A grid from a dict (e.g. parsed TOML); unknown keys are refused."""
        validate_type("config", config, Mapping, "a mapping")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(
                f"config keys must be among {sorted(fields)}; got unknown {unknown}"
            )
        missing = sorted({"dataset", "methods", "sparsities"} - set(config))
        if missing:
            raise ValueError(f"config must give {missing}")
        return cls(**config)

    def cells(self) -> list[Cell]:
        """Every cell: the dense baselines first, then method x sparsity x seed."""
        common: dict[str, Any] = {
            "dataset": self.dataset,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "hidden": self.hidden,
        }
        opts = dict(self.options)
        out = []
        if self.dense:
            out += [
                Cell(method="dense", sparsity=0.0, seed=s, **common) for s in self.seeds
            ]
        for m in self.methods:
            for sp in self.sparsities:
                for s in self.seeds:
                    out.append(
                        Cell(
                            method=m,
                            sparsity=sp,
                            seed=s,
                            options=opts.get(m, ()),
                            **common,
                        )
                    )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists, not tuples)."""
        d = dataclasses.asdict(self)
        for k in ("methods", "sparsities", "seeds", "hidden"):
            d[k] = list(d[k])
        d["options"] = {m: dict(o) for m, o in self.options}
        return d


def _freeze_options(
    options: Any, methods: tuple[str, ...]
) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    if isinstance(options, tuple) and all(isinstance(o, tuple) for o in options):
        options = {m: dict(o) for m, o in options}
    validate_type("options", options, Mapping, "a mapping of method -> options")
    out = []
    for m, opts in sorted(options.items()):
        if m not in methods:
            raise ValueError(
                f"options must be for methods of the grid {list(methods)}; got {m!r}"
            )
        validate_type(f"options[{m!r}]", opts, Mapping, "a mapping")
        try:
            json.dumps(dict(opts))
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"options[{m!r}] must be JSON-serialisable; got {opts!r} ({e})"
            ) from None
        out.append((m, tuple(sorted(opts.items()))))
    return tuple(out)


def read_grid_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The keys of a grid TOML file, parsed (:mod:`tomllib`) but not checked.

    For a caller that completes the file before building the grid (the
    command line's flags override it); :func:`load_grid` builds it at once.

    Raises
    ------
    ValueError
        If the file is too large or not valid TOML (the message names it).
    OSError
        If it cannot be read.
    """
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        raise ImportError(
            "reading a grid from TOML needs Python 3.11 (tomllib)"
        ) from None
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read(_MAX_CONFIG_BYTES + 1)
    if len(data) > _MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: too large for a grid ({len(data)} bytes or more)")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """Read a grid from a TOML file (:mod:`tomllib`, Python 3.11+).

    Raises
    ------
    ValueError
        If the file is not valid TOML or not a valid grid (the message names
        the file).
    OSError
        If it cannot be read.
    """
    config = read_grid_config(path)
    try:
        return Grid.from_mapping(config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None

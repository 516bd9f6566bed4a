"""How sparse is a model? A per-weight table of zeros, with totals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsecore._text import format_table

__all__ = ["SparsityReport", "SparsityRow", "sparsity_report"]


@dataclass(frozen=True)
class SparsityRow:
    """One weight array: its name, shape and how many entries are non-zero.

    Attributes
    ----------
    name : str
        As in ``model.weights()``, e.g. ``"dense_0/kernel"``.
    shape : tuple of int
    size : int
    nonzeros : int
        Entries that are not exactly zero.
    pruned : bool
        Whether the array is one the model's pruner prunes (or, without a
        pruner, a kernel).
    """

    name: str
    shape: tuple[int, ...]
    size: int
    nonzeros: int
    pruned: bool

    @property
    def sparsity(self) -> float:
        """Fraction of entries that are exactly zero."""
        return 1.0 - self.nonzeros / self.size if self.size else 0.0


def _total(rows: list[SparsityRow]) -> tuple[int, int, float]:
    size = sum(r.size for r in rows)
    nonzeros = sum(r.nonzeros for r in rows)
    return size, nonzeros, (1.0 - nonzeros / size if size else 0.0)


class SparsityReport:
    """Per-weight sparsity of a model, with totals; ``str()`` gives a table.

    Attributes
    ----------
    rows : list of SparsityRow
    size, nonzeros, sparsity : int, int, float
        Over all weights (biases included).
    pruned_size, pruned_nonzeros, pruned_sparsity : int, int, float
        Over the pruned weights only (the rows with ``pruned=True``).
    """

    def __init__(self, rows: list[SparsityRow]) -> None:
        self.rows = rows
        self.size, self.nonzeros, self.sparsity = _total(rows)
        pruned = [r for r in rows if r.pruned]
        self.pruned_size, self.pruned_nonzeros, self.pruned_sparsity = _total(pruned)

    def __getitem__(self, name: str) -> SparsityRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form with keys ``"weights"``, ``"pruned"``, ``"total"``."""
        return {
            "weights": [
                {
                    "name": r.name,
                    "shape": list(r.shape),
                    "size": r.size,
                    "nonzeros": r.nonzeros,
                    "sparsity": r.sparsity,
                    "pruned": r.pruned,
                }
                for r in self.rows
            ],
            "pruned": {
                "size": self.pruned_size,
                "nonzeros": self.pruned_nonzeros,
                "sparsity": self.pruned_sparsity,
            },
            "total": {
                "size": self.size,
                "nonzeros": self.nonzeros,
                "sparsity": self.sparsity,
            },
        }

    def __str__(self) -> str:
        table = [("Weight", "Shape", "Params", "Nonzeros", "Sparsity")]
        for r in self.rows:
            table.append(
                (
                    r.name + (" *" if r.pruned else ""),
                    str(r.shape),
                    f"{r.size:,}",
                    f"{r.nonzeros:,}",
                    f"{r.sparsity:.2%}",
                )
            )
        foot = [
            (
                "Pruned weights (*)",
                "",
                f"{self.pruned_size:,}",
                f"{self.pruned_nonzeros:,}",
                f"{self.pruned_sparsity:.2%}",
            ),
            (
                "Total",
                "",
                f"{self.size:,}",
                f"{self.nonzeros:,}",
                f"{self.sparsity:.2%}",
            ),
        ]
        rows = table + foot
        return format_table(rows, "llrrr", rules=(1, len(table)))

    def __repr__(self) -> str:
        return (
            f"<SparsityReport: {len(self.rows)} weights, sparsity "
            f"{self.sparsity:.4f} overall, {self.pruned_sparsity:.4f} pruned>"
        )


def sparsity_report(model: Any) -> SparsityReport:
    """Count the exact zeros of every weight of `model`.

    Parameters
    ----------
    model : Sequential, or any object with a ``weights()`` method returning a
        dict of arrays, or such a dict itself
        With a pruner attached (``model.pruner``) its weights are marked as
        pruned; otherwise the ``"<layer>/kernel"`` arrays are.

    Returns
    -------
    SparsityReport
        ``print(report)`` shows the table; ``report.pruned_sparsity`` is the
        fraction of zeros over the pruned weights.

    Raises
    ------
    TypeError
        If `model` has no weights.
    """
    if isinstance(model, Mapping):
        weights = model
    elif callable(getattr(model, "weights", None)):
        weights = model.weights()
    else:
        raise TypeError(
            f"model must have a weights() method or be a dict of arrays; got {model!r}"
        )
    pruner = getattr(model, "pruner", None)
    masks = getattr(pruner, "masks", None)
    rows = []
    for name, w in weights.items():
        arr = np.asarray(w)
        pruned = name in masks if masks else name.endswith("/kernel")
        rows.append(
            SparsityRow(
                name,
                tuple(arr.shape),
                int(arr.size),
                int(np.count_nonzero(arr)),
                bool(pruned),
            )
        )
    return SparsityReport(rows)

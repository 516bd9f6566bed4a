"""How sparse is a model? A per-weight table of zeros, and per-step summaries.

:func:`sparsity_report` counts the exact zeros of every weight once;
:class:`PruningSummaries` records, while a model trains, the sparsity of each
pruned weight's mask every epoch or every few steps (tfmot's
``PruningSummaries``, without TensorBoard: a dict of lists, and any logging
function you give it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsecore._checks import is_int, validate_int
from sparsecore._text import format_table
from sparsecore.nn.callbacks import Callback

__all__ = ["PruningSummaries", "SparsityReport", "SparsityRow", "sparsity_report"]


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


def sparsity_report(
    model: Any, *, pruned: Iterable[str] | None = None
) -> SparsityReport:
    """Count the exact zeros of every weight of `model`.

    Parameters
    ----------
    model : Sequential, or any object with a ``weights()`` method returning a
        dict of arrays, or such a dict itself
        With a pruner attached (``model.pruner``) its weights are marked as
        pruned; otherwise the ``"<layer>/kernel"`` arrays are.
    pruned : iterable of str, optional
        The names to mark as pruned instead, e.g. an
        :class:`~sparsecore.prune.ArrayPruner`'s ``masks`` for a PyTorch
        ``state_dict`` turned into NumPy arrays.

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
    if pruned is not None:
        if isinstance(pruned, str):
            raise TypeError(f"pruned must be an iterable of names; got {pruned!r}")
        marked = set(pruned)
    else:
        masks = getattr(getattr(model, "pruner", None), "masks", None)
        marked = set(masks) if masks else {n for n in weights if n.endswith("/kernel")}
    rows = []
    for name, w in weights.items():
        arr = np.asarray(w)
        rows.append(
            SparsityRow(
                name,
                tuple(arr.shape),
                int(arr.size),
                int(np.count_nonzero(arr)),
                name in marked,
            )
        )
    return SparsityReport(rows)


class PruningSummaries(Callback):
    """Log the pruned weights' sparsity during ``fit``, per epoch or per steps.

    tfmot's ``PruningSummaries`` without TensorBoard: at each update it takes
    the attached pruner's :meth:`~sparsecore.prune.Pruner.summary` (the step,
    the schedule's ``target_sparsity``, the ``sparsity`` over the pruned
    weights and ``"<name>/sparsity"`` = ``1 - mean(mask)`` per pruned weight),
    appends it to :attr:`history` and passes it to `log_fn`.

    Parameters
    ----------
    update_freq : 'epoch' or int, default='epoch'
        Record at the end of every epoch, or every `update_freq` training
        steps (at the end of the step).
    log_fn : callable (step, dict) -> None, optional
        Called with each record, e.g. ``lambda step, s: print(step, s)`` or a
        metrics logger's ``log``.

    Attributes
    ----------
    history : dict of str to list of float
        One list per key, one entry per record (``history["step"]`` holds the
        steps).

    Raises
    ------
    RuntimeError
        At the start of ``fit``, if the model has no pruner (put the
        :class:`~sparsecore.prune.Pruner` in the callbacks, or load a pruned
        checkpoint).

    Examples
    --------
    >>> summaries = PruningSummaries(update_freq=100)  # doctest: +SKIP
    >>> model.fit(x, y, callbacks=[pruner, summaries])  # doctest: +SKIP
    >>> summaries.history["dense_0/kernel/sparsity"][-1]  # doctest: +SKIP
    """

    def __init__(
        self,
        update_freq: str | int = "epoch",
        log_fn: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        super().__init__()
        if not (update_freq == "epoch" or is_int(update_freq)):
            raise TypeError(
                "update_freq must be 'epoch' or an int in [1, inf); "
                f"got {update_freq!r}"
            )
        if update_freq != "epoch":
            update_freq = validate_int("update_freq", update_freq, 1)
        if log_fn is not None and not callable(log_fn):
            raise TypeError(f"log_fn must be None or callable; got {log_fn!r}")
        self.update_freq = update_freq
        self.log_fn = log_fn
        self.history: dict[str, list[float]] = {}

    def _pruner(self) -> Any:
        pruner = getattr(self.model, "pruner", None)
        if pruner is None:
            raise RuntimeError(
                "PruningSummaries needs a pruned model: put the Pruner in fit's "
                "callbacks before it"
            )
        return pruner

    def _record(self) -> None:
        summary = self._pruner().summary()
        for key, value in summary.items():
            self.history.setdefault(key, []).append(float(value))
        if self.log_fn is not None:
            self.log_fn(int(summary["step"]), summary)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._pruner()

    def on_train_batch_end(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        if self.update_freq != "epoch":
            if self._pruner().step % self.update_freq == 0:
                self._record()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.update_freq == "epoch":
            self._record()

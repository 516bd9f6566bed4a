"""The results store: one JSON file per finished cell, and the combined tables.

``<out>/cells/<cell name>.json`` holds one cell's record (written atomically,
so an interrupted sweep never leaves a torn file); ``<out>/results.csv`` and
``<out>/results.md`` combine the cells of the grid, and ``<out>/summary.md``
gives mean and standard deviation over seeds per method and sparsity. A
record is found again by its cell's key, which hashes every setting: a
re-run skips cells whose record says ``ok``, runs again those that failed,
and never takes a record of a different setting for the cell.

Records are read back defensively (size-limited, checked field by field); a
file that is not a valid record is ignored and its cell runs again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sparsecore._text import format_table
from sparsecore.runtime.atomic import atomic_write
from sparsecore.sweep.cell import RECORD_FORMAT, RECORD_VERSION
from sparsecore.sweep.grid import Cell

__all__ = ["ResultStore", "summarize"]

_MAX_RECORD_BYTES = 1 << 20
_CSV_FIELDS = (
    "method",
    "sparsity",
    "seed",
    "status",
    "sparsity_reached",
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "train_loss",
    "wall_seconds",
    "dataset",
    "epochs",
    "batch_size",
    "learning_rate",
    "hidden",
    "key",
    "error",
)


def _finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (valid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class ResultStore:
    """The folder of one study's results.

    Parameters
    ----------
    out_dir : str or path-like
        Created if missing (with its parents); must not be a file.

    Raises
    ------
    ValueError
        If `out_dir` exists and is not a folder.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = os.fspath(out_dir)
        if os.path.exists(self.out_dir) and not os.path.isdir(self.out_dir):
            raise ValueError(f"out must be a folder; {self.out_dir!r} is a file")
        self.cells_dir = os.path.join(self.out_dir, "cells")
        os.makedirs(self.cells_dir, exist_ok=True)

    def path(self, cell: Cell) -> str:
        """Where `cell`'s record lives."""
        return os.path.join(self.cells_dir, cell.name + ".json")

    def write(self, record: Mapping[str, Any]) -> str:
        """Write one record atomically; return its path."""
        path = os.path.join(self.cells_dir, str(record["name"]) + ".json")
        text = json.dumps(_finite(record), indent=1, sort_keys=True, allow_nan=False)
        with atomic_write(path) as f:
            f.write(text.encode() + b"\n")
        return path

    def read(self, cell: Cell) -> dict[str, Any] | None:
        """`cell`'s record, or None if there is none or it is not valid for it."""
        path = self.path(cell)
        try:
            with open(path, "rb") as f:
                data = f.read(_MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(data) > _MAX_RECORD_BYTES:
            return None
        try:
            record = json.loads(data)
        except (ValueError, RecursionError):
            return None
        ok = (
            isinstance(record, dict)
            and record.get("format") == RECORD_FORMAT
            and record.get("version") == RECORD_VERSION
            and record.get("key") == cell.key
            and record.get("settings") == cell.settings()
            and record.get("status") in ("ok", "failed")
            and isinstance(record.get("metrics"), dict)
        )
        return record if ok else None

    def finished(self, cells: Iterable[Cell]) -> dict[str, dict[str, Any]]:
        """The records with status ``ok`` of `cells`, by cell key."""
        out = {}
        for cell in cells:
            record = self.read(cell)
            if record is not None and record["status"] == "ok":
                out[cell.key] = record
        return out

    def write_tables(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write ``results.csv``, ``results.md`` and ``summary.md`` for `records`."""
        rows = [_csv_row(r) for r in records]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        with atomic_write(os.path.join(self.out_dir, "results.csv")) as f:
            f.write(buf.getvalue().encode())
        with atomic_write(os.path.join(self.out_dir, "results.md")) as f:
            f.write((_cells_markdown(rows) + "\n").encode())
        with atomic_write(os.path.join(self.out_dir, "summary.md")) as f:
            f.write((summary_markdown(summarize(records)) + "\n").encode())


def _csv_row(record: Mapping[str, Any]) -> dict[str, Any]:
    s, m = record["settings"], record.get("metrics") or {}
    error = record.get("error") or {}
    return {
        "method": s["method"],
        "sparsity": s["sparsity"],
        "seed": s["seed"],
        "status": record["status"],
        "sparsity_reached": record.get("sparsity"),
        "test_accuracy": m.get("test_accuracy"),
        "test_loss": m.get("test_loss"),
        "train_accuracy": m.get("train_accuracy"),
        "train_loss": m.get("train_loss"),
        "wall_seconds": record.get("wall_seconds"),
        "dataset": s["dataset"],
        "epochs": s["epochs"],
        "batch_size": s["batch_size"],
        "learning_rate": s["learning_rate"],
        "hidden": "x".join(str(h) for h in s["hidden"]),
        "key": record["key"],
        "error": f"{error.get('type')}: {error.get('message')}" if error else "",
    }


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None or v == "" else format(v, spec)


def _cells_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    table = [
        [
            "method",
            "sparsity",
            "seed",
            "status",
            "reached",
            "test acc",
            "test loss",
            "s",
        ]
    ]
    for r in rows:
        table.append(
            [
                r["method"],
                f"{r['sparsity']:g}",
                str(r["seed"]),
                r["status"],
                _fmt(r["sparsity_reached"], ".4f"),
                _fmt(r["test_accuracy"], ".4f"),
                _fmt(r["test_loss"], ".4g"),
                _fmt(r["wall_seconds"], ".1f"),
            ]
        )
    return format_table(table, "lrrlrrrr", markdown=True)


def summarize(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds, per (method, sparsity).

    Only cells with status ``ok`` count; ``n`` says how many seeds did.

    Returns
    -------
    list of dict
        Keys ``method, sparsity, n, sparsity_reached, test_accuracy,
        test_accuracy_std, test_loss, test_loss_std`` (accuracy keys are None
        for regression), sorted by method then sparsity; the ``dense``
        baseline comes first.
    """
    groups: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("status") == "ok":
            s = r["settings"]
            groups.setdefault((s["method"], float(s["sparsity"])), []).append(r)

    def stats(values: list[float]) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        # one seed has no spread to report (not a spread of 0)
        sd = statistics.stdev(values) if len(values) > 1 else None
        return statistics.fmean(values), sd

    out = []
    for (method, sparsity), rs in sorted(
        groups.items(), key=lambda kv: (kv[0][0] != "dense", kv[0])
    ):
        acc = [
            r["metrics"]["test_accuracy"]
            for r in rs
            if r["metrics"].get("test_accuracy") is not None
        ]
        loss = [
            r["metrics"]["test_loss"]
            for r in rs
            if r["metrics"].get("test_loss") is not None
        ]
        reached = [r["sparsity"] for r in rs if r.get("sparsity") is not None]
        acc_m, acc_s = stats(acc)
        loss_m, loss_s = stats(loss)
        out.append(
            {
                "method": method,
                "sparsity": sparsity,
                "n": len(rs),
                "sparsity_reached": stats(reached)[0],
                "test_accuracy": acc_m,
                "test_accuracy_std": acc_s,
                "test_loss": loss_m,
                "test_loss_std": loss_s,
            }
        )
    return out


def summary_markdown(summary: Sequence[Mapping[str, Any]]) -> str:
    """The summary as a Markdown table (mean +- standard deviation over seeds)."""
    table = [["method", "sparsity", "seeds", "reached", "test accuracy", "test loss"]]
    for r in summary:
        acc = _mean_std(r["test_accuracy"], r["test_accuracy_std"], ".4f", ".4f")
        loss = _mean_std(r["test_loss"], r["test_loss_std"], ".4g", ".2g")
        table.append(
            [
                r["method"],
                f"{r['sparsity']:g}",
                str(r["n"]),
                _fmt(r["sparsity_reached"], ".4f"),
                acc,
                loss,
            ]
        )
    return format_table(table, "lrrrrr", markdown=True)


def _mean_std(mean: float | None, std: float | None, fm: str, fs: str) -> str:
    if mean is None:
        return "-"
    return (
        format(mean, fm) if std is None else f"{format(mean, fm)} ± {format(std, fs)}"
    )

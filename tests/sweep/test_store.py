"""The results store: atomic records, the summary's statistics, valid JSON always."""

import json
import math
import statistics

import pytest

from sparsecore.sweep import Grid, ResultStore, summarize
from sparsecore.sweep.cell import RECORD_FORMAT, RECORD_VERSION


def record(cell, acc, status="ok"):
    return {"format": RECORD_FORMAT, "version": RECORD_VERSION, "key": cell.key,
            "name": cell.name, "settings": cell.settings(), "status": status,
            "metrics": {"test_accuracy": acc, "test_loss": 1 - acc},
            "sparsity": cell.sparsity, "wall_seconds": 1.0, "error": None}  # fmt: skip


def test_summary_is_mean_and_sample_std_over_ok_seeds():
    grid = Grid(dataset="digits", methods=["random"], sparsities=[0.5], seeds=[0, 1, 2])
    cells = grid.cells()
    accs = {0: 0.9, 1: 0.8, 2: 0.7}
    records = [record(c, accs[c.seed]) for c in cells]
    records[-1]["status"] = "failed"  # random seed 2 does not count
    rows = {(r["method"], r["sparsity"]): r for r in summarize(records)}
    assert list(rows) == [("dense", 0.0), ("random", 0.5)]
    dense, rnd = rows[("dense", 0.0)], rows[("random", 0.5)]
    assert dense["n"] == 3 and rnd["n"] == 2
    assert dense["test_accuracy"] == pytest.approx(0.8)
    assert dense["test_accuracy_std"] == pytest.approx(
        statistics.stdev([0.9, 0.8, 0.7])
    )
    assert rnd["test_accuracy"] == pytest.approx(0.85)
    assert rnd["test_loss"] == pytest.approx(0.15)


def test_non_finite_values_are_stored_as_null(tmp_path):
    store = ResultStore(tmp_path)
    cell = Grid(dataset="regression", methods=["random"], sparsities=[0.5]).cells()[0]
    rec = record(cell, math.nan, status="failed")
    path = store.write(rec)
    with open(path) as f:
        data = json.loads(f.read())  # valid JSON: no NaN token
    assert data["metrics"]["test_accuracy"] is None
    assert store.read(cell)["status"] == "failed"
    assert store.finished([cell]) == {}  # failed: run again
    store.write({**rec, "status": "ok", "metrics": {"test_accuracy": 0.5}})
    assert list(store.finished([cell])) == [cell.key]


def test_huge_or_nested_record_file_is_ignored(tmp_path):
    store = ResultStore(tmp_path)
    cell = Grid(dataset="regression", methods=["random"], sparsities=[0.5]).cells()[0]
    with open(store.path(cell), "w") as f:
        f.write("[" * 100_000 + "]" * 100_000)
    assert store.read(cell) is None
    with open(store.path(cell), "w") as f:
        f.write(" " * (2 << 20))
    assert store.read(cell) is None

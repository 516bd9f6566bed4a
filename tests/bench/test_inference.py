"""sparsecore.bench.inference: a tiny sweep, its checks and its re-runs."""

import csv

import numpy as np
import pytest

from sparsecore import bench
from sparsecore.bench.timing import Timings

TINY_WIDTHS = (30, 20, 20, 1)


def test_tiny_sweep_and_outputs(tmp_path):
    seen = []
    rows = bench.run_inference_sweep(
        [0.9],
        [1, 4],
        ["float32", "float64"],
        repeats=2,
        methods=["sc_csr", "sc_auto", "sc_numpy", "sc_dense"],
        min_time=1e-4,
        retries=0,
        progress=seen.append,
        widths=TINY_WIDTHS,
    )
    assert len(seen) == 2 * 2 * 2  # dtypes x (0.9 + structured) x batches
    methods = {r["method"] for r in rows}
    assert methods == {"numpy_dense", "sc_csr", "sc_auto", "sc_numpy", "sc_dense"}
    for r in rows:
        assert r["time_s"] > 0 and r["speedup"] > 0
        if r["method"] == "numpy_dense":
            assert r["speedup"] == 1.0
    table = bench.format_table(rows)
    assert table.startswith("| sparsity | batch | dtype | dense us | numpy_dense")
    assert "0.75s" in table
    plain = bench.format_table(rows, markdown=False)
    assert "sc_auto" in plain.splitlines()[0]
    bench.write_csv(rows, tmp_path / "r.csv")
    with open(tmp_path / "r.csv") as f:
        back = list(csv.DictReader(f))
    assert len(back) == len(rows) and back[0]["method"] == rows[0]["method"]
    bench.write_markdown(
        rows,
        tmp_path / "r.md",
        command="x",
        notes=bench.explain(rows, widths=TINY_WIDTHS),
    )
    text = (tmp_path / "r.md").read_text()
    assert "numpy" in text and "How format='auto' chooses" in text


def test_widths_set_the_swept_network():
    rows = bench.run_inference_sweep(
        [0.5],
        [2],
        repeats=1,
        methods=["sc_dense"],
        structured=False,
        min_time=0.0,
        retries=0,
        widths=(12, 8, 1),
    )
    layers = bench.pruned_tutorial_layers(0.5, widths=(12, 8, 1))
    dense = next(r for r in rows if r["method"] == "numpy_dense")
    assert dense["weight_bytes"] == sum(w.nbytes for w, _, _ in layers) == 416
    assert dense["nnz"] == sum(int(np.count_nonzero(w)) for w, _, _ in layers)
    assert dense["nnz"] == 48 + 4


@pytest.mark.parametrize(
    ("widths", "error", "match"),
    [
        ((12,), ValueError, "widths must have at least 2 ints"),
        ((12, 0, 1), ValueError, r"widths\[1\] must be an int in \[1, inf\); got 0"),
        ((12, 4.0, 1), TypeError, r"widths\[1\] must be an int in \[1, inf\)"),
    ],
)
def test_widths_are_checked(widths, error, match):
    with pytest.raises(error, match=match):
        bench.run_inference_sweep([0.5], [1], widths=widths)


def test_sweep_validation():
    with pytest.raises(ValueError, match=r"repeats must be an int in \[1, inf\)"):
        bench.run_inference_sweep([0.5], [1], repeats=0)
    with pytest.raises(ValueError, match="methods must be in"):
        bench.run_inference_sweep([0.5], [1], methods=["magic"])
    with pytest.raises(ValueError, match="rows must not be empty"):
        bench.write_csv([], "unused.csv")


def test_disturbed_cells_are_rerun():
    # Fake timings: the dense time of the second cell timed (sparsity 0.5) is
    # 10x the others (load), so that cell is re-run and the faster second run
    # is kept.
    calls = []

    def fake_timer(fns, repeats, *, min_time, seed):
        calls.append(seed)
        t = 10.0 if len(calls) == 2 else 1.0
        samples = {"numpy_dense": [t] * 3, "sc_auto": [t / 2] * 3}
        assert set(fns) == set(samples)
        return Timings(samples, dict.fromkeys(samples, 1))

    seen = []
    rows = bench.run_inference_sweep(
        [0.0, 0.5, 0.9],
        [1],
        repeats=1,
        methods=["sc_auto"],
        structured=False,
        progress=seen.append,
        widths=(12, 8, 1),
        timer=fake_timer,
    )
    cells = [line.split()[1] for line in seen if line.startswith("float32")]
    assert cells == ["sparsity=0", "sparsity=0.5", "sparsity=0.9", "sparsity=0.5"]
    assert "(re-run 1: disturbed cell)" in seen
    assert calls == [0, 0, 0, 1]  # the re-run is seeded afresh
    dense = {r["sparsity"]: r for r in rows if r["method"] == "numpy_dense"}
    assert dense[0.5]["time_s"] == 1.0 and dense[0.5]["retried"] == 1
    assert all(r["speedup"] == 2.0 for r in rows if r["method"] == "sc_auto")

"""sparsecore.bench: data builders, a tiny sweep, the table and the files."""

import csv

import numpy as np
import pytest

from sparsecore import bench


def test_pruned_tutorial_layers_exact_sparsity():
    layers = bench.pruned_tutorial_layers(0.9, widths=(50, 40, 30, 1))
    for w, b, _act in layers:
        k = max(1, round(w.size * 0.1))
        assert np.count_nonzero(w) == k
        assert w.dtype == np.float32 and b.shape == (w.shape[1],)
    assert [a for _, _, a in layers] == ["relu", "relu", "linear"]


def test_pruned_tutorial_layers_structured():
    layers = bench.pruned_tutorial_layers(0.75, structured=True, widths=(20, 40, 40, 1))
    for w, _, _ in layers[:-1]:
        assert np.count_nonzero(np.any(w != 0, axis=0)) == 10
    assert np.all(layers[-1][0] != 0)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_pruned_tutorial_layers_rejects(bad):
    with pytest.raises(ValueError, match=r"sparsity must be a float in \[0, 1\)"):
        bench.pruned_tutorial_layers(bad)


def test_tiny_sweep_and_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "TUTORIAL_WIDTHS", (30, 20, 20, 1))
    monkeypatch.setattr(
        bench,
        "_cached_layers",
        lambda s, st, dt: bench.pruned_tutorial_layers(
            s, structured=st, dtype=dt, widths=(30, 20, 20, 1)
        ),
    )
    monkeypatch.setattr(bench, "make_input", lambda b, n, dt: np.ones((b, n), dt))
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
        rows, tmp_path / "r.md", command="x", notes=bench.explain(rows)
    )
    text = (tmp_path / "r.md").read_text()
    assert "numpy" in text and "How format='auto' chooses" in text


def test_sweep_validation():
    with pytest.raises(ValueError, match="repeats must be an int >= 1"):
        bench.run_inference_sweep([0.5], [1], repeats=0)
    with pytest.raises(ValueError, match="methods must be in"):
        bench.run_inference_sweep([0.5], [1], methods=["magic"])
    with pytest.raises(ValueError, match="rows must not be empty"):
        bench.write_csv([], "unused.csv")


def test_environment_lists_versions():
    env = bench.environment()
    assert env["numpy"] == np.__version__
    assert "scipy" in env and "python" in env


def test_disturbed_cells_are_rerun(monkeypatch):
    # Fake timings: the dense time at sparsity 0.5 is 10x the others (load),
    # so that cell is re-run and the faster second run is kept.
    calls = []

    def fake_run_cell(methods, dtype, sparsity, struct, batch, *args):
        calls.append(sparsity)
        slow = sparsity == 0.5 and calls.count(0.5) == 1
        t = 10.0 if slow else 1.0
        samples = {"numpy_dense": [t] * 3, "sc_auto": [t / 2] * 3}
        return {
            "samples": samples,
            "median": {m: float(np.median(v)) for m, v in samples.items()},
            "info": {},
            "kept": {},
            "nnz": 1,
            "weight_bytes": 4,
            "retried": 0,
        }

    monkeypatch.setattr(bench, "_run_cell", fake_run_cell)
    rows = bench.run_inference_sweep(
        [0.0, 0.5, 0.9], [1], repeats=1, methods=["sc_auto"], structured=False
    )
    assert calls == [0.0, 0.5, 0.9, 0.5]
    dense = {r["sparsity"]: r for r in rows if r["method"] == "numpy_dense"}
    assert dense[0.5]["time_s"] == 1.0 and dense[0.5]["retried"] == 1
    assert all(r["speedup"] == 2.0 for r in rows if r["method"] == "sc_auto")

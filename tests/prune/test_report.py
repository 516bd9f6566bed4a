"""sparsity_report: exact zero counts, totals, the table, and the prune exports."""

import json

import numpy as np
import pytest

import sparsecore as sc
import sparsecore.prune as prune
from sparsecore.prune import ConstantSparsity, Pruner, sparsity_report


def test_report_counts_exact_zeros():
    weights = {
        "dense_0/kernel": np.array([[0.0, 1.0], [-0.0, 2.0]]),
        "dense_0/bias": np.array([0.0, 3.0]),
        "dense_1/kernel": np.array([[5.0], [0.0]]),
    }
    report = sparsity_report(weights)
    row = report["dense_0/kernel"]
    assert (row.shape, row.size, row.nonzeros, row.sparsity) == ((2, 2), 4, 2, 0.5)
    assert row.pruned and not report["dense_0/bias"].pruned
    assert (report.size, report.nonzeros) == (8, 4)
    assert report.sparsity == 0.5
    assert (report.pruned_size, report.pruned_nonzeros) == (6, 3)
    assert report.pruned_sparsity == 0.5
    with pytest.raises(KeyError):
        report["nope"]
    d = json.loads(json.dumps(report.to_dict()))
    assert d["total"] == {"size": 8, "nonzeros": 4, "sparsity": 0.5}
    assert d["weights"][0]["shape"] == [2, 2]


def test_report_table_and_repr():
    text = str(sparsity_report({"a/kernel": np.zeros((3, 4)), "a/bias": np.ones(4)}))
    lines = text.splitlines()
    assert lines[0].split() == ["Weight", "Shape", "Params", "Nonzeros", "Sparsity"]
    assert "a/kernel *" in text and "(3, 4)" in text and "100.00%" in text
    assert lines[-1].split() == ["Total", "16", "4", "75.00%"]
    assert lines[-2].split()[-3:] == ["12", "0", "100.00%"]
    assert "SparsityReport" in repr(sparsity_report({"a/kernel": np.ones(2)}))


def test_report_of_a_pruned_model_marks_the_pruners_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = x[:, :1]
    model = sc.Sequential([sc.Dense(8), sc.ReLU(), sc.Dense(1)], input_dim=6, seed=0)
    model.compile("mse", "adam")
    pruner = Pruner(ConstantSparsity(0.5, 1, frequency=1), weights=["dense_0/kernel"])
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    report = sparsity_report(model)
    assert [r.name for r in report.rows if r.pruned] == ["dense_0/kernel"]
    assert report.pruned_sparsity == pruner.sparsity == 0.5


def test_report_needs_weights():
    with pytest.raises(TypeError, match="model must have a weights"):
        sparsity_report(42)


def test_prune_exports():
    for name in prune.__all__:
        assert hasattr(prune, name), name
    assert issubclass(prune.PruningScheduleWarning, UserWarning)
    assert issubclass(prune.Pruner, sc.Callback)

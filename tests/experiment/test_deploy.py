"""sparsecore.experiment.deploy: the saved sizes and the timed inference."""

import pytest

from sparsecore.experiment import run_experiment
from tests.experiment.exp_helpers import TINY


def test_deploy_numbers_consistent(tiny_result):
    result, _ = tiny_result
    b = result.file_bytes
    assert set(b) == {
        "dense",
        "pruned_dense",
        "pruned_dense_compressed",
        "pruned_csr",
        "pruned_csr_compressed",
    }
    assert b["pruned_dense"] == b["dense"]  # zeros cost as much as weights
    assert b["pruned_dense_compressed"] < b["pruned_dense"]
    assert b["pruned_csr_compressed"] < b["pruned_csr"]
    assert set(result.inference) == {"1", "1024"}
    for t in result.inference.values():
        assert t["dense_s"] > 0 and t["sparse_s"] > 0 and t["repeats"] >= 5
        assert t["speedup"] == pytest.approx(t["dense_s"] / t["sparse_s"])
        assert set(t["formats"]) <= {"dense", "csr"}
    assert result.max_abs_diff < 1e-4
    assert result.wall_seconds > result.dense.train_seconds


def test_deploy_timings_come_from_the_interleaved_timer():
    # No budget: the timer's floor of 5 rounds applies, per batch size, and
    # the medians it returns are the reported times.
    result = run_experiment(TINY.replace(timing_budget=0.0))
    assert [t["repeats"] for t in result.inference.values()] == [5, 5]
    for t in result.inference.values():
        assert t["dense_s"] > 0 and t["sparse_s"] > 0

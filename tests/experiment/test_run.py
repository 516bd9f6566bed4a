"""sparsecore.experiment.run: the data and train stages, and run_experiment."""

import math
import os

import numpy as np
import pytest

from sparsecore._environment import environment
from sparsecore.experiment import (
    ExperimentConfig,
    ExperimentResult,
    build_model,
    load_data,
    run_experiment,
)
from sparsecore.prune import PruningScheduleWarning, keep_count
from tests.experiment.exp_helpers import TINY


def test_load_data_normalised_and_split():
    c = TINY
    x_train, x_test, y_train, y_test = load_data(c)
    assert x_train.shape == (320, 20) and x_test.shape == (80, 20)
    assert y_train.shape == (320, 1) and y_test.shape == (80, 1)
    assert all(a.dtype == np.float32 for a in (x_train, x_test, y_train, y_test))
    x = np.concatenate([x_train, x_test])
    y = np.concatenate([y_train, y_test])
    np.testing.assert_allclose(np.abs(x).max(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.abs(y).max(), 1.0, rtol=1e-6)


def test_build_model_architecture():
    m = build_model(ExperimentConfig().replace(n_features=30, hidden=(12, 8)))
    shapes = {k: v.shape for k, v in m.weights().items()}
    assert shapes == {
        "dense_0/kernel": (30, 12),
        "dense_0/bias": (12,),
        "dense_1/kernel": (12, 8),
        "dense_1/bias": (8,),
        "dense_2/kernel": (8, 1),
        "dense_2/bias": (1,),
    }
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert m.layers[0].get_config()["kernel_initializer"] == "he_normal"
    assert m.layers[2].get_config()["kernel_initializer"] == "glorot_uniform"


def test_result_histories_and_progress(tiny_result):
    result, lines = tiny_result
    assert isinstance(result, ExperimentResult)
    for run in (result.dense, result.pruned):
        assert len(run.loss) == len(run.val_loss) == TINY.epochs
        assert run.final_val_loss == run.val_loss[-1]
        assert all(math.isfinite(v) for v in run.loss + run.val_loss)
        assert run.train_seconds > 0
    assert result.dense.sparsity is None
    assert len(result.pruned.sparsity) == TINY.epochs
    dense_lines = [s for s in lines if s.startswith("[dense] epoch")]
    pruned_lines = [s for s in lines if s.startswith("[pruned] epoch")]
    assert len(dense_lines) == len(pruned_lines) == TINY.epochs
    assert "sparsity 0.7500" in pruned_lines[-1]


def test_kernels_reach_the_final_sparsity_exactly(tiny_result):
    result, _ = tiny_result
    assert result.schedule["completed"] is True
    assert result.schedule["last_pruning_step"] == 15
    assert result.schedule["reached_sparsity"] == 0.75
    kernels = [w for w in result.sparsity["pruned"]["weights"] if w["pruned"]]
    assert [w["name"] for w in kernels] == [
        "dense_0/kernel",
        "dense_1/kernel",
        "dense_2/kernel",
    ]
    for w in kernels:
        assert w["size"] - w["nonzeros"] == w["size"] - keep_count(w["size"], 0.75)
    biases = [w for w in result.sparsity["pruned"]["weights"] if not w["pruned"]]
    assert all(w["name"].endswith("/bias") for w in biases)
    n = result.nonzeros
    assert n["pruned"] < n["dense"] <= n["total"]
    assert result.sparsity["dense"]["pruned"]["sparsity"] == 0.0


def test_same_initial_weights_and_batches():
    # A schedule that never prunes within the run: both runs must then be
    # identical, step for step (same initial weights, same shuffling).
    cfg = TINY.replace(begin_step=100, end_step=200, frequency=10)
    with pytest.warns(PruningScheduleWarning, match="nothing will be pruned"):
        result = run_experiment(cfg)
    assert result.pruned.loss == result.dense.loss
    assert result.pruned.val_loss == result.dense.val_loss
    assert result.schedule["completed"] is False
    assert result.schedule["last_pruning_step"] is None
    assert result.schedule["reached_sparsity"] == 0.0
    assert "NOT completed" in result.table()


def test_incomplete_schedule_reports_the_reached_sparsity():
    # 20 steps, schedule to step 40: it stops at step 20 (tutorial: 0.289 at 1600).
    cfg = TINY.replace(begin_step=0, end_step=40, frequency=10)
    with pytest.warns(PruningScheduleWarning, match="instead of 0.75"):
        result = run_experiment(cfg)
    expected = float(cfg.schedule().sparsity_at(20))
    assert result.schedule["last_pruning_step"] == 20
    assert result.schedule["reached_sparsity"] == pytest.approx(expected)
    assert result.pruned.sparsity[-1] == pytest.approx(expected, abs=1e-3)
    assert "it needs 8 epochs" in result.table()


def test_save_dir_keeps_the_models(tmp_path):
    from sparsecore.runtime import SparseModel

    result = run_experiment(TINY.replace(epochs=3, end_step=10), save_dir=tmp_path)
    names = sorted(os.listdir(tmp_path))
    assert names == sorted(f"{k}.npz" for k in result.file_bytes)
    for k, size in result.file_bytes.items():
        assert os.path.getsize(tmp_path / f"{k}.npz") == size
    sm = SparseModel.load(tmp_path / "pruned_csr.npz", format="saved")
    assert [layer.format for layer in sm.layers] == ["csr"] * 3


def test_run_experiment_validates_arguments(tmp_path):
    with pytest.raises(TypeError, match="config must be an ExperimentConfig"):
        run_experiment({"epochs": 1})
    with pytest.raises(ValueError, match="save_dir must be an existing folder"):
        run_experiment(TINY, save_dir=tmp_path / "missing")


@pytest.mark.parametrize(
    "changes",
    [{"scope": "global"}, {"criterion": "random"}, {"criterion": "structured"}],
    ids=["global", "random", "structured"],
)
def test_other_scopes_and_criteria(changes):
    result = run_experiment(TINY.replace(**changes))
    kernels = [w for w in result.sparsity["pruned"]["weights"] if w["pruned"]]
    sizes = [w["size"] for w in kernels]
    kept = [w["nonzeros"] for w in kernels]
    if changes.get("scope") == "global":
        assert sum(kept) == keep_count(sum(sizes), 0.75)
    elif changes["criterion"] == "random":
        assert kept == [keep_count(n, 0.75) for n in sizes]
    else:  # whole output neurons (kernel columns); the 16x1 output kernel stays
        widths = [16, 16, 1]
        assert kept == [
            n // w * keep_count(w, 0.75) for n, w in zip(sizes, widths, strict=True)
        ]
    assert result.max_abs_diff < 1e-4


def test_result_carries_the_environment_record(tiny_result):
    result, _ = tiny_result
    env = environment()
    assert set(result.environment) == set(env)
    assert result.environment["numpy"] == np.__version__
    for key in ("sparsecore", "python", "cpu", "sparsecore backends"):
        assert result.environment[key] == env[key]

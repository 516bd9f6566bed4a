"""Tests for sparsecore.experiment: the tutorial's dense-vs-pruned experiment."""

import dataclasses
import json
import math
import os

import numpy as np
import pytest

from sparsecore.experiment import (
    ExperimentConfig,
    ExperimentResult,
    build_model,
    load_data,
    run_experiment,
)
from sparsecore.prune import PruningScheduleWarning, keep_count

# 400 samples -> 320 train, batch 64 -> 5 steps per epoch; 4 epochs = 20 steps;
# the schedule prunes at steps 5, 10, 15 and completes.
TINY = ExperimentConfig.quick(
    n_samples=400,
    n_features=20,
    n_informative=10,
    hidden=(16, 16),
    epochs=4,
    batch_size=64,
    begin_step=5,
    end_step=15,
    frequency=5,
    timing_budget=0.01,
)


@pytest.fixture(scope="module")
def tiny_result():
    lines = []
    result = run_experiment(TINY, log=lines.append)
    return result, lines


def test_defaults_are_the_tutorial():
    c = ExperimentConfig()
    assert (c.n_samples, c.n_features, c.n_informative, c.noise) == (
        10000,
        1000,
        500,
        3,
    )
    assert (c.data_seed, c.test_size, c.split_seed) == (0, 0.2, 42)
    assert c.hidden == (1024, 1024)
    assert (c.epochs, c.batch_size, c.learning_rate) == (200, 1024, 1e-3)
    assert (c.initial_sparsity, c.final_sparsity) == (0.0, 0.75)
    assert (c.begin_step, c.end_step, c.frequency, c.power) == (1000, 5000, 100, 3)
    assert c.n_train == 8000
    assert c.steps_per_epoch == 8  # so 200 epochs = 1600 steps < 5000


def test_quick_schedule_completes_within_its_epochs():
    q = ExperimentConfig.quick()
    total = q.steps_per_epoch * q.epochs
    assert q.begin_step < q.end_step < total
    assert (q.end_step - q.begin_step) % q.frequency == 0
    assert q.schedule().last_pruning_step(total) == q.end_step


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("epochs", 0, r"epochs must be an int in \[1, inf\); got 0"),
        ("batch_size", 1.5, "batch_size must be an int"),
        ("test_size", 1.0, r"test_size must be a float in \(0, 1\); got 1.0"),
        ("test_size", 0.0, r"test_size must be a float in \(0, 1\); got 0.0"),
        ("final_sparsity", 1.0, r"final_sparsity must be a float in \[0, 1\)"),
        ("initial_sparsity", -0.001, r"initial_sparsity must be a float in \[0, 1\)"),
        ("end_step", 10, "end_step must be"),
        ("frequency", 0, "frequency must be"),
        ("scope", "model", r"scope must be one of \['global', 'layer'\]"),
        ("criterion", "nm", "criterion must be one of"),
        ("hidden", (8, 0), "hidden must be a tuple of ints"),
        ("dtype", "float16", "dtype must be one of"),
        ("learning_rate", 0.0, "learning_rate must be a float in"),
    ],
)
def test_config_rejects_bad_values(field, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ExperimentConfig(begin_step=100, end_step=200).replace(**{field: value})


def test_config_accepts_boundaries():
    c = ExperimentConfig().replace(
        final_sparsity=0.99, initial_sparsity=0.0, begin_step=0, end_step=0, hidden=[4]
    )
    assert c.hidden == (4,)


def test_config_replace_rejects_unknown_fields():
    with pytest.raises(
        ValueError, match=r"unknown ExperimentConfig fields: \['epoch'\]"
    ):
        ExperimentConfig().replace(epoch=3)


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


def test_to_dict_is_json(tiny_result):
    result, _ = tiny_result
    d = result.to_dict()
    again = json.loads(json.dumps(d, allow_nan=False))
    assert again == d
    assert d["config"]["hidden"] == [16, 16]
    assert d["pruned"]["final_val_loss"] == result.pruned.final_val_loss
    assert {f.name for f in dataclasses.fields(ExperimentResult)} == set(d)


def test_save_json(tiny_result, tmp_path):
    result, _ = tiny_result
    path = tmp_path / "r.json"
    result.save_json(path)
    assert json.loads(path.read_text()) == result.to_dict()


def test_table(tiny_result):
    result, _ = tiny_result
    text = result.table()
    for needle in (
        "final val_loss",
        f"{result.dense.final_val_loss:.6f}",
        f"{result.pruned.final_val_loss:.6f}",
        "kernel sparsity",
        "0.7500",
        "file, CSR .npz",
        "inference, batch 1 ",
        "inference, batch 1024",
        "schedule: completed at step 15 of 20",
        "dense_0/kernel *",
    ):
        assert needle in text


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
    sm = SparseModel.load(tmp_path / "pruned_csr.npz")
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

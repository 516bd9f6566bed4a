"""Sensitivity analysis: each value is a manual prune-one-layer-and-evaluate."""

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import magnitude_mask, random_mask, sensitivity


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.5)
    model = sc.Sequential(
        [sc.Dense(16), sc.ReLU(), sc.Dense(8), sc.ReLU(), sc.Dense(3)],
        input_dim=6,
        seed=0,
    )
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(1e-2),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    return model, x, y


def manual(model, x, y, name, mask, metric):
    copy = sc.Sequential.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    copy.compile(model.loss, "adam", metrics=["accuracy"])
    copy.weights()[name][~mask] = 0
    return copy.evaluate(x, y, return_dict=True)[metric]


@pytest.mark.parametrize("criterion", ["magnitude", "random"])
def test_values_equal_a_manual_prune_and_evaluate(trained, criterion):
    model, x, y = trained
    before = model.get_weights()
    grid = [0.25, 0.5, 0.9]
    res = sensitivity(model, x, y, grid, criterion=criterion, seed=4)
    assert res.metric == "accuracy"
    assert res.layers == ["dense_0/kernel", "dense_1/kernel", "dense_2/kernel"]
    assert res.baseline == model.evaluate(x, y, return_dict=True)["accuracy"]
    for i, name in enumerate(res.layers):
        w = model.weights()[name]
        for j, s in enumerate(grid):
            if criterion == "magnitude":
                mask = magnitude_mask(w, s)
            else:
                mask = random_mask(w, s, np.random.default_rng((4, i, j)))
            assert res.values[name][j] == manual(model, x, y, name, mask, "accuracy")
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_loss_metric_table_and_max_sparsity(trained):
    model, x, y = trained
    res = sensitivity(
        model, x, y, [0.5, 0.9], metric="loss", weights=["dense_1/kernel"]
    )
    assert res.layers == ["dense_1/kernel"]
    mask = magnitude_mask(model.weights()["dense_1/kernel"], 0.9)
    assert res.values["dense_1/kernel"][1] == pytest.approx(
        manual(model, x, y, "dense_1/kernel", mask, "loss")
    )
    text = res.table()
    assert "dense_1/kernel" in text and "0.9" in text
    md = res.table(markdown=True)
    assert md.splitlines()[2].startswith("| layer |")
    # loss: lower is better, so a tolerance bounds the rise
    worst = max(res.values["dense_1/kernel"]) - res.baseline
    assert res.max_sparsity(worst + 1e-9) == {"dense_1/kernel": 0.9}
    assert res.to_dict()["values"] == {"dense_1/kernel": res.values["dense_1/kernel"]}


def test_accuracy_max_sparsity(trained):
    model, x, y = trained
    res = sensitivity(model, x, y, [0.1, 0.5, 0.99])
    for name, vals in res.values.items():
        ok = [
            s
            for s, v in zip(res.sparsities, vals, strict=True)
            if v >= res.baseline - 0.05
        ]
        assert res.max_sparsity(0.05)[name] == max(ok, default=0.0)


def test_plot(trained, tmp_path):
    pytest.importorskip("matplotlib")
    from sparsecore.plots import plot_sensitivity

    model, x, y = trained
    res = sensitivity(model, x, y, [0.5, 0.9])
    plot_sensitivity(res, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validation(trained):
    model, x, y = trained
    with pytest.raises(ValueError, match="metric must be one of"):
        sensitivity(model, x, y, [0.5], metric="f1")
    with pytest.raises(ValueError, match="sparsities\\[0\\] must be a float in"):
        sensitivity(model, x, y, [1.0])
    with pytest.raises(ValueError, match="criterion must be one of"):
        sensitivity(model, x, y, [0.5], criterion="snip")
    with pytest.raises(ValueError, match="at least one"):
        sensitivity(model, x, y, [])

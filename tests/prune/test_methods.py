"""The sweep-facing runs: each trains to the cell's sparsity, deterministically."""

from types import SimpleNamespace

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import keep_count
from sparsecore.prune.methods import METHODS


def make_model(seed):
    model = sc.Sequential(
        [sc.Dense(16), sc.ReLU(), sc.Dense(16), sc.ReLU(), sc.Dense(3)],
        input_dim=6,
        seed=seed,
    )
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(1e-2),
        metrics=["accuracy"],
    )
    return model


def make_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return SimpleNamespace(x_train=x, y_train=y, x_test=x, y_test=y, n_classes=3)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_reaches_the_sparsity(name):
    data = make_data()
    cell = SimpleNamespace(
        sparsity=0.75,
        seed=1,
        epochs=3,
        batch_size=16,
        options=(("rounds", 2), ("update_frequency", 3), ("iterations", 5)),
    )
    model = METHODS[name](make_model(1), data, cell)
    kernels = {n: w for n, w in model.weights().items() if n.endswith("/kernel")}
    nonzero = sum(int(np.count_nonzero(w)) for w in kernels.values())
    total = sum(w.size for w in kernels.values())
    assert nonzero <= keep_count(total, 0.75) + len(kernels)
    acc = model.evaluate(data.x_test, data.y_test, return_dict=True)["accuracy"]
    again = METHODS[name](make_model(1), data, cell)
    assert again.evaluate(data.x_test, data.y_test, return_dict=True)["accuracy"] == acc


def test_runs_take_the_sweeps_cell_and_data():
    from sparsecore.sweep.cell import build_model
    from sparsecore.sweep.grid import Cell
    from sparsecore.sweep.methods import Data

    d = make_data()
    data = Data(d.x_train, d.y_train, d.x_test, d.y_test, 3)
    for name in ("snip", "rigl", "lottery"):
        cell = Cell("digits", name, 0.8, 0, 2, 16, 1e-2, (16, 16), (("rounds", 2),))
        model = METHODS[name](build_model(cell, data), data, cell)
        masks = model.pruner.masks if model.pruner is not None else {}
        if name == "rigl":
            kernels = [w for n, w in model.weights().items() if n.endswith("/kernel")]
            assert sum(int((w != 0).sum()) for w in kernels) <= 0.2 * sum(
                w.size for w in kernels
            ) + len(kernels)
        elif name == "snip":  # a global ranking
            total = sum(m.size for m in masks.values())
            assert sum(int(m.sum()) for m in masks.values()) == keep_count(total, 0.8)
        else:  # lottery: per layer
            assert all(m.sum() == keep_count(m.size, 0.8) for m in masks.values())

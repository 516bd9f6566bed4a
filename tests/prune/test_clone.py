"""clone_model: the same weights bit for bit, no shared arrays, a fresh optimizer."""

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import clone_model
from sparsecore.prune.clone import prepare_data, weight_names


def test_clone_is_independent_and_compiled_alike():
    model = sc.Sequential([sc.Dense(4), sc.Tanh(), sc.Dense(2)], input_dim=3, seed=0)
    lr = sc.CosineDecay(0.01, decay_steps=50)
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(lr, beta_1=0.8),
        metrics=["accuracy"],
    )
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    y = np.arange(10) % 2
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    copy = clone_model(model)
    for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.weights().values(), copy.weights().values(), strict=True):
        assert not np.shares_memory(a, b)
    assert copy.optimizer is not model.optimizer
    assert copy.optimizer.get_config() == model.optimizer.get_config()
    assert copy.optimizer.iterations == 0
    assert all(
        not s.any() for slots in copy.optimizer.state.values() for s in slots.values()
    )
    assert list(copy.metrics) == ["accuracy"]
    assert clone_model(model, dtype="float64").dtype == np.float64
    with pytest.raises(RuntimeError, match="compiled"):
        clone_model(sc.Sequential([sc.Dense(1)], input_dim=2))
    with pytest.raises(TypeError, match="model must be a Sequential"):
        clone_model("model")


def test_prepare_data_and_weight_names():
    model = sc.Sequential([sc.Dense(1)], input_dim=2)
    model.compile("mse", "sgd")
    x, y = prepare_data(model, [[1, 2], [3, 4]], [1.0, 2.0])
    assert x.dtype == np.float32 and y.shape == (2, 1)
    with pytest.raises(ValueError, match="same length"):
        prepare_data(model, [[1, 2]], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        prepare_data(model, [[1, np.nan]], [1.0])
    assert weight_names(model) == ["dense_0/kernel"]
    assert weight_names(model, "dense_0/kernel") == ["dense_0/kernel"]
    with pytest.raises(TypeError, match="non-empty list of str"):
        weight_names(model, [])
    with pytest.raises(ValueError, match="biases are never pruned"):
        weight_names(model, ["dense_0/bias"])
    with pytest.raises(ValueError, match="no weight named"):
        weight_names(sc.Sequential([sc.ReLU()], input_dim=2))

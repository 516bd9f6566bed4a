"""Losses: gradient checks, values against direct formulas, validation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecore.nn.gradcheck import check_loss
from sparsecore.nn.losses import (
    LOSSES,
    MAE,
    MSE,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    get_loss,
)

shapes = st.tuples(st.integers(1, 6), st.integers(1, 5))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_regression_losses_gradcheck(shape, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.standard_normal(shape), rng.standard_normal(shape)
    assert check_loss(MSE(), y_true, y_pred).max_error < 1e-8
    # MAE is not differentiable where pred == true; random draws avoid it
    assert check_loss(MAE(), y_true, y_pred).max_error < 1e-8


@given(shape=shapes, seed=st.integers(0, 2**16), from_logits=st.booleans())
def test_binary_crossentropy_gradcheck(shape, seed, from_logits):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, shape).astype(float)
    z = rng.standard_normal(shape)
    y_pred = z if from_logits else 1 / (1 + np.exp(-z))
    result = check_loss(BinaryCrossentropy(from_logits), y_true, y_pred)
    # 1/p is steep near p = 0: central differences carry ~1e-6 relative error there
    assert result.max_error < 1e-5, result.errors


@given(shape=shapes, seed=st.integers(0, 2**16), from_logits=st.booleans())
def test_categorical_crossentropy_gradcheck(shape, seed, from_logits):
    rng = np.random.default_rng(seed)
    y_true = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    z = rng.standard_normal(shape)
    y_pred = z if from_logits else _softmax(z)
    result = check_loss(CategoricalCrossentropy(from_logits), y_true, y_pred)
    assert result.max_error < 1e-5, result.errors  # 1/p is steep: see above


def test_values_match_formulas():
    rng = np.random.default_rng(0)
    t, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert MSE()(t, p) == pytest.approx(np.mean((p - t) ** 2))
    assert MAE()(t, p) == pytest.approx(np.mean(np.abs(p - t)))
    y = rng.integers(0, 2, (4, 3)).astype(float)
    z = rng.standard_normal((4, 3))
    s = 1 / (1 + np.exp(-z))
    bce = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert BinaryCrossentropy(from_logits=True)(y, z) == pytest.approx(bce)
    assert BinaryCrossentropy()(y, s) == pytest.approx(bce, rel=1e-6)
    onehot = np.eye(3)[[0, 2, 1, 1]]
    cce = -np.mean(np.sum(onehot * np.log(_softmax(z)), axis=1))
    assert CategoricalCrossentropy(from_logits=True)(onehot, z) == pytest.approx(cce)
    assert CategoricalCrossentropy()(onehot, _softmax(z)) == pytest.approx(cce)


def test_logit_paths_are_stable_for_huge_logits():
    z = np.array([[1e4, -1e4]])
    y = np.array([[1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert BinaryCrossentropy(from_logits=True)(y, z) == pytest.approx(0.0)
        assert CategoricalCrossentropy(from_logits=True)(y, z) == pytest.approx(0.0)
        g = CategoricalCrossentropy(from_logits=True).gradient(y, z)
    assert np.isfinite(g).all()


def test_probability_paths_clip_instead_of_inf():
    y = np.array([[1.0, 0.0]])
    p = np.array([[0.0, 1.0]])  # confidently wrong
    assert np.isfinite(BinaryCrossentropy()(y, p))
    assert np.isfinite(BinaryCrossentropy().gradient(y, p)).all()


def test_gradient_keeps_float32():
    t = np.zeros((3, 2), np.float32)
    p = np.full((3, 2), 0.25, np.float32)
    for loss in (MSE(), MAE(), BinaryCrossentropy(), CategoricalCrossentropy()):
        assert loss.gradient(t, p).dtype == np.float32, loss


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"same shape; got \(3, 1\) and \(3,\)"):
        MSE()(np.zeros((3, 1)), np.zeros(3))


def test_registry_and_aliases():
    assert isinstance(get_loss("mse"), MSE)
    assert isinstance(get_loss("mean_absolute_error"), MAE)
    loss = BinaryCrossentropy(from_logits=True)
    assert get_loss(loss) is loss
    assert set(LOSSES) >= {
        "mse",
        "mae",
        "binary_crossentropy",
        "categorical_crossentropy",
    }
    with pytest.raises(ValueError, match="loss must be one of .*'mse'"):
        get_loss("msee")
    with pytest.raises(TypeError, match="loss must be a str or a Loss"):
        get_loss(3)
    with pytest.raises(TypeError, match="from_logits must be a bool"):
        BinaryCrossentropy(from_logits="yes")

"""Losses: gradient checks, values against direct formulas, validation.

Sparse categorical cross-entropy is checked against the dense one-hot loss,
and sample weights against the Keras rule ``sum_i w_i l_i / n_samples``.
"""

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
    SparseCategoricalCrossentropy,
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
    # MAE is not differentiable where pred == true: keep the draws farther than
    # the finite-difference step (1e-5) from that kink
    near = np.abs(y_pred - y_true) < 1e-3
    y_pred[near] += 2e-3
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


# ---------------------------------------------------------------- sparse labels


def _onehot(labels, k):
    return np.eye(k)[labels]


@given(shape=shapes, seed=st.integers(0, 2**16), from_logits=st.booleans())
def test_sparse_categorical_crossentropy_gradcheck(shape, seed, from_logits):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, shape[1], shape[0])
    z = rng.standard_normal(shape)
    y_pred = z if from_logits else _softmax(z)
    loss = SparseCategoricalCrossentropy(from_logits)
    result = check_loss(loss, labels, y_pred)
    assert result.max_error < 1e-5, result.errors  # 1/p is steep: see above


@given(
    shape=shapes,
    seed=st.integers(0, 2**16),
    from_logits=st.booleans(),
    column=st.booleans(),
)
def test_sparse_equals_categorical_on_one_hot_targets(shape, seed, from_logits, column):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, shape[1], shape[0])
    z = 3 * rng.standard_normal(shape)
    y_pred = z if from_logits else _softmax(z)
    w = rng.uniform(0, 2, shape[0])
    sparse = SparseCategoricalCrossentropy(from_logits)
    dense = CategoricalCrossentropy(from_logits)
    y = labels.reshape(-1, 1) if column else labels  # (n,) and (n, 1) alike
    onehot = _onehot(labels, shape[1])
    for kw in ({}, {"sample_weight": w}):
        assert sparse.value(y, y_pred, **kw) == pytest.approx(
            dense.value(onehot, y_pred, **kw), rel=1e-12, abs=1e-15
        )
        np.testing.assert_allclose(
            sparse.gradient(y, y_pred, **kw),
            dense.gradient(onehot, y_pred, **kw),
            rtol=1e-12,
            atol=1e-15,
        )


def test_sparse_value_matches_the_formula():
    z = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]])
    labels = np.array([0, 1])
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -np.mean(log_softmax[[0, 1], labels])
    assert SparseCategoricalCrossentropy(from_logits=True)(labels, z) == (
        pytest.approx(expected, rel=1e-14)
    )
    p = _softmax(z)
    assert SparseCategoricalCrossentropy()(labels, p) == pytest.approx(expected)


def test_sparse_logits_are_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    labels = np.array([0, 2])
    loss = SparseCategoricalCrossentropy(from_logits=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss(labels, z)
        g = loss.gradient(labels, z)
        value32 = loss(labels, z.astype(np.float32))
    # row 0 is certain and right (0); row 1 ties two classes: log 2
    assert value == pytest.approx(np.log(2) / 2)
    assert value32 == pytest.approx(np.log(2) / 2, rel=1e-6)
    np.testing.assert_allclose(g, [[0, 0, 0], [0, 0.25, -0.25]], atol=1e-12)


def test_sparse_accepts_integral_floats_and_keeps_dtype():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2])
    loss = SparseCategoricalCrossentropy(from_logits=True)
    assert loss(labels.astype(np.float64), z) == loss(labels, z)
    assert loss(labels.astype(np.uint8), z) == loss(labels, z)
    assert loss.gradient(labels, z).dtype == np.float32
    assert loss.gradient(labels, z.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize(
    ("labels", "pred_shape", "error", "match"),
    [
        ([0, 1, 4], (3, 4), ValueError, r"class indices in \[0, 4\); got 4"),
        ([0, -1, 2], (3, 4), ValueError, r"class indices in \[0, 4\); got -1"),
        ([0.0, 1.5, 2.0], (3, 4), ValueError, r"integer class indices; got 1\.5"),
        ([0.0, np.nan, 2.0], (3, 4), ValueError, r"integer class indices; got nan"),
        ([True, False, True], (3, 4), TypeError, r"integer class indices; got dtype"),
        ([0, 1], (3, 4), ValueError, r"shape \(3,\) or \(3, 1\) .*; got shape \(2,\)"),
        ([[0, 1]] * 3, (3, 4), ValueError, r"got shape \(3, 2\)"),
        ([0, 1, 2], (3,), ValueError, r"y_pred must have shape \(n_samples, n_class"),
    ],
)  # fmt: skip
def test_sparse_rejects_bad_labels(labels, pred_shape, error, match):
    loss = SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(error, match=match):
        loss(np.array(labels), np.zeros(pred_shape))
    with pytest.raises(error, match=match):
        loss.gradient(np.array(labels), np.zeros(pred_shape))


def test_sparse_registry_and_config():
    loss = get_loss("sparse_categorical_crossentropy")
    assert isinstance(loss, SparseCategoricalCrossentropy)
    assert loss.integer_labels and not CategoricalCrossentropy.integer_labels
    assert not loss.from_logits
    assert SparseCategoricalCrossentropy(True).get_config() == {"from_logits": True}
    assert repr(SparseCategoricalCrossentropy(True)) == (
        "SparseCategoricalCrossentropy(from_logits=True)"
    )
    with pytest.raises(TypeError, match="from_logits must be a bool; got 1"):
        SparseCategoricalCrossentropy(from_logits=1)


# ---------------------------------------------------------------- the clip's gradient


def test_categorical_probability_gradient_is_zero_only_through_the_clip():
    """A class of probability below the clip (1e-7) still gets d/dp of sum(p)."""
    p = np.array([[0.7, 0.3 - 1e-9, 1e-9]])
    y = np.array([[1.0, 0.0, 0.0]])
    loss = CategoricalCrossentropy()
    result = check_loss(loss, y, p, eps=1e-11)
    assert result.max_error < 1e-4, result.errors
    # dL/dp_k = (-[k = 0] / p_0 + 1 / sum(p)): the tiny class gets 1 / sum(p)
    np.testing.assert_allclose(loss.gradient(y, p), [[1 - 1 / 0.7, 1, 1]], rtol=1e-9)
    sparse = SparseCategoricalCrossentropy()
    np.testing.assert_allclose(sparse.gradient([0], p), loss.gradient(y, p))
    # the target itself clipped: no gradient at all (the clip is flat there)
    q = np.array([[1e-9, 1 - 1e-9, 0.0]])
    np.testing.assert_array_equal(loss.gradient(y, q), 0)
    np.testing.assert_array_equal(sparse.gradient([0], q), 0)


# ---------------------------------------------------------------- sample weights


def _losses_and_data(rng, n, k):
    """Every loss with targets and predictions its gradient check can use."""
    z = rng.standard_normal((n, k))
    y01 = rng.integers(0, 2, (n, k)).astype(float)
    labels = rng.integers(0, k, n)
    return [
        (MSE(), rng.standard_normal((n, k)), z),
        (MAE(), rng.standard_normal((n, k)), z),
        (BinaryCrossentropy(), y01, 1 / (1 + np.exp(-z))),
        (BinaryCrossentropy(from_logits=True), y01, z),
        (CategoricalCrossentropy(), _onehot(labels, k), _softmax(z)),
        (CategoricalCrossentropy(from_logits=True), _onehot(labels, k), z),
        (SparseCategoricalCrossentropy(), labels, _softmax(z)),
        (SparseCategoricalCrossentropy(from_logits=True), labels, z),
    ]


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_weighted_losses_gradcheck(shape, seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 3, shape[0])
    for loss, y, p in _losses_and_data(rng, *shape):
        result = check_loss(loss, y, p, sample_weight=w)
        assert result.max_error < 1e-5, (loss, result.errors)


def test_weights_multiply_each_samples_loss_and_divide_by_n():
    """Keras' sum_over_batch_size: sum_i w_i l_i / n, with l_i one sample's loss."""
    rng = np.random.default_rng(4)
    n, k = 6, 3
    w = rng.uniform(0, 2, n)
    w[1] = 0.0
    for loss, y, p in _losses_and_data(rng, n, k):
        per_sample = np.array([loss(y[i : i + 1], p[i : i + 1]) for i in range(n)])
        assert loss(y, p, sample_weight=w) == pytest.approx(np.sum(w * per_sample) / n)
        # weights of one give the unweighted loss; (n, 1) is accepted too
        assert loss(y, p, sample_weight=np.ones(n)) == pytest.approx(loss(y, p))
        assert loss(y, p, sample_weight=w[:, None]) == loss(y, p, sample_weight=w)
        # the gradient is the unweighted one, row i scaled by w_i
        np.testing.assert_allclose(
            loss.gradient(y, p, sample_weight=w), w[:, None] * loss.gradient(y, p)
        )


def test_weights_must_have_one_entry_per_sample():
    y = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        MSE()(y, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        SparseCategoricalCrossentropy().gradient(
            np.zeros(4, int), y + 0.5, sample_weight=np.ones((4, 2))
        )


def test_a_loss_written_without_weights_still_works_unweighted():
    class Old(MSE):
        def value(self, y_true, y_pred):  # the signature before weights existed
            return super().value(y_true, y_pred)

    y = np.ones((2, 1))
    assert Old()(y, 2 * y) == 1.0

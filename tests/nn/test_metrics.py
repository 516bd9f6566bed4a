"""Metrics: values against scikit-learn, resolution of "accuracy", validation."""

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.nn.metrics import (
    METRICS,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    get_metrics,
    mean_absolute_error,
    mean_squared_error,
    metric_direction,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)

skm = pytest.importorskip("sklearn.metrics")

cases = st.tuples(
    st.integers(1, 40), st.integers(2, 6), st.integers(0, 2**16), st.booleans()
)


def _weights(rng, n, weighted):
    if not weighted:
        return None
    w = rng.uniform(0, 2, n)
    w[rng.random(n) < 0.2] = 0.0  # some samples weigh nothing
    return w if w.sum() > 0 else None


@given(case=cases)
def test_sparse_and_categorical_accuracy_match_sklearn(case):
    n, k, seed, weighted = case
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, k))
    labels = rng.integers(0, k, n)
    w = _weights(rng, n, weighted)
    expected = skm.accuracy_score(labels, scores.argmax(axis=1), sample_weight=w)
    onehot = np.eye(k)[labels]
    assert sparse_categorical_accuracy(labels, scores, w) == pytest.approx(expected)
    assert sparse_categorical_accuracy(labels[:, None], scores, w) == pytest.approx(
        expected
    )
    assert categorical_accuracy(onehot, scores, w) == pytest.approx(expected)
    assert accuracy(labels, scores, w) == pytest.approx(expected)
    assert accuracy(onehot, scores, w) == pytest.approx(expected)


@given(case=cases)
def test_binary_accuracy_matches_sklearn(case):
    n, _, seed, weighted = case
    rng = np.random.default_rng(seed)
    p = rng.random((n, 1))
    y = rng.integers(0, 2, (n, 1)).astype(float)
    w = _weights(rng, n, weighted)
    expected = skm.accuracy_score(y[:, 0], p[:, 0] > 0.5, sample_weight=w)
    assert binary_accuracy(y, p, w) == pytest.approx(expected)
    assert accuracy(y[:, 0], p, w) == pytest.approx(expected)  # (n,) against (n, 1)
    # logits: z > 0 exactly when sigmoid(z) > 0.5
    z = np.log(p / (1 - p))
    assert binary_accuracy(y, z, w, threshold=0.0) == pytest.approx(expected)


def test_binary_accuracy_averages_multi_label_columns():
    y = np.array([[1, 0, 1], [0, 0, 1]])
    p = np.array([[0.9, 0.6, 0.4], [0.1, 0.2, 0.7]])
    # per sample: 1/3 and 3/3 right; per element as sklearn's hamming loss
    assert binary_accuracy(y, p) == pytest.approx(1 - skm.hamming_loss(y, p > 0.5))
    assert binary_accuracy(y, p, [3.0, 1.0]) == pytest.approx((3 / 3 * 1 + 1) / 4)


@given(case=cases, k=st.integers(1, 5))
def test_top_k_accuracy_matches_sklearn(case, k):
    n, n_classes, seed, weighted = case
    # sklearn takes 2 classes as binary (1-d scores) and warns for k >= n_classes
    n_classes, k = n_classes + 1, min(k, n_classes)
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, n_classes))
    labels = rng.integers(0, n_classes, n)
    w = _weights(rng, n, weighted)
    expected = skm.top_k_accuracy_score(
        labels, scores, k=k, labels=np.arange(n_classes), sample_weight=w
    )
    assert sparse_top_k_categorical_accuracy(labels, scores, w, k=k) == (
        pytest.approx(expected)
    )
    onehot = np.eye(n_classes)[labels]
    assert top_k_categorical_accuracy(onehot, scores, w, k=k) == (
        pytest.approx(expected)
    )
    if k == 1:
        assert expected == pytest.approx(sparse_categorical_accuracy(labels, scores, w))


def test_top_k_counts_ties_at_the_boundary_as_hits():
    scores = np.array([[0.5, 0.5, 0.1]])
    assert sparse_top_k_categorical_accuracy([1], scores, k=1) == 1.0
    assert sparse_top_k_categorical_accuracy([2], scores, k=2) == 0.0
    with pytest.raises(ValueError, match=r"k must be an int in \[1, inf\); got 0"):
        sparse_top_k_categorical_accuracy([1], scores, k=0)


@given(case=cases)
def test_error_metrics_match_sklearn(case):
    n, k, seed, weighted = case
    rng = np.random.default_rng(seed)
    y, p = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    w = _weights(rng, n, weighted)
    assert mean_squared_error(y, p, w) == pytest.approx(
        skm.mean_squared_error(y, p, sample_weight=w)
    )
    assert mean_absolute_error(y, p, w) == pytest.approx(
        skm.mean_absolute_error(y, p, sample_weight=w)
    )


def test_zero_total_weight_gives_zero_as_keras():
    y, p = np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]])
    assert sparse_categorical_accuracy(y, p, np.zeros(2)) == 0.0


def test_shape_errors():
    p = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"y_true must hold class indices of shape"):
        sparse_categorical_accuracy(np.zeros(2), p)
    with pytest.raises(ValueError, match=r"same shape; got \(3, 3\) and \(3, 4\)"):
        categorical_accuracy(np.zeros((3, 3)), p)
    with pytest.raises(ValueError, match=r"y_pred must have shape \(n_samples, n_c"):
        sparse_categorical_accuracy(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(3,\)"):
        sparse_categorical_accuracy(np.zeros(3), p, np.ones(2))


# ---------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        (sc.SparseCategoricalCrossentropy(), sparse_categorical_accuracy),
        (sc.SparseCategoricalCrossentropy(True), sparse_categorical_accuracy),
        (sc.CategoricalCrossentropy(), categorical_accuracy),
        (sc.BinaryCrossentropy(), binary_accuracy),
        (sc.MSE(), accuracy),
        (None, accuracy),
    ],
)  # fmt: skip
def test_accuracy_follows_the_loss_as_keras(loss, expected):
    for name in ("accuracy", "acc"):
        fns = get_metrics([name], loss)
        assert list(fns) == [name] and fns[name] is expected


def test_binary_accuracy_on_logits_thresholds_at_zero():
    fn = get_metrics(["accuracy"], sc.BinaryCrossentropy(from_logits=True))["accuracy"]
    assert isinstance(fn, functools.partial) and fn.keywords == {"threshold": 0.0}
    y, z = np.array([[1.0], [0.0], [1.0]]), np.array([[0.2], [-0.1], [-0.3]])
    assert fn(y, z) == pytest.approx(2 / 3)  # 0.2 > 0 and -0.1 <= 0 are right
    same = get_metrics(["binary_accuracy"], sc.BinaryCrossentropy(from_logits=True))
    assert same["binary_accuracy"](y, z) == pytest.approx(2 / 3)


def test_callables_keys_and_order():
    def f1(y_true, y_pred, sample_weight=None):
        return 0.5

    fns = get_metrics(("mae", f1, "accuracy"))
    assert list(fns) == ["mae", "f1", "accuracy"] and fns["f1"] is f1
    assert get_metrics(None) == {} and get_metrics([]) == {}


@pytest.mark.parametrize(
    ("metrics", "error", "match"),
    [
        ("accuracy", TypeError, r"metrics must be a list of str or callables; got"),
        (["acuracy"], ValueError, r"metrics\[0\] must be one of \[.*'accuracy'.*\] or "
         r"a callable; got 'acuracy'"),
        (["mae", 3], TypeError, r"metrics\[1\] must be a str or a callable; got 3"),
        (["mae", "mae"], ValueError, r"metrics\[1\] must have a log key other than "
         r"'loss' and the keys before it \['mae'\]; got 'mae'"),
    ],
)  # fmt: skip
def test_get_metrics_rejects(metrics, error, match):
    with pytest.raises(error, match=match):
        get_metrics(metrics)


def test_a_metric_named_loss_is_refused():
    def loss(y_true, y_pred):
        return 0.0

    with pytest.raises(ValueError, match="other than 'loss'"):
        get_metrics([loss])


def test_metric_direction():
    for name in ("loss", "val_loss", "mse", "val_mae", "mean_squared_error"):
        assert metric_direction(name) == "min", name
    for name in METRICS:
        if "acc" in name:
            assert metric_direction(name) == "max", name
            assert metric_direction("val_" + name) == "max", name
    assert metric_direction("score") is None


def test_resolve_mode_is_the_callbacks_rule():
    from sparsecore.nn.metrics import resolve_mode

    assert resolve_mode("min", "val_accuracy") == "min"  # explicit wins
    assert resolve_mode("auto", "val_loss") == "min"
    assert resolve_mode("auto", "val_accuracy") == "max"
    assert resolve_mode("auto", "mean_absolute_error") == "min"
    assert resolve_mode("auto", "my_acc_metric") == "max"  # tf.keras: "acc" in name
    assert resolve_mode("auto", "my_metric") == "min"
    assert sc.EarlyStopping("val_accuracy")._sign == -1.0
    assert sc.ModelCheckpoint("m.npz", monitor="val_accuracy").direction == "max"

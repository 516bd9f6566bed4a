"""load_digits: scikit-learn's digits, scaled and split stratified; an MLP learns it."""

import sys

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.data import load_digits

datasets = pytest.importorskip("sklearn.datasets")
model_selection = pytest.importorskip("sklearn.model_selection")


def test_shapes_dtypes_and_scaling():
    (x, y), (x_test, y_test) = load_digits()
    assert x.shape == (1347, 64) and x_test.shape == (450, 64)
    assert y.shape == (1347,) and y_test.shape == (450,)
    assert x.dtype == x_test.dtype == np.float32
    assert y.dtype == y_test.dtype == np.int64
    both = np.concatenate([x, x_test])
    assert both.min() == 0.0 and both.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_is_sklearns_data_split_as_sklearn_would():
    bunch = datasets.load_digits()
    expected = model_selection.train_test_split(
        bunch.data / 16, bunch.target, test_size=0.25, random_state=0,
        stratify=bunch.target,
    )  # fmt: skip
    (x, y), (x_test, y_test) = load_digits()
    np.testing.assert_array_equal(x, expected[0].astype(np.float32))
    np.testing.assert_array_equal(x_test, expected[1].astype(np.float32))
    np.testing.assert_array_equal(y, expected[2])
    np.testing.assert_array_equal(y_test, expected[3])


def test_split_is_stratified_and_deterministic():
    (_, y), (_, y_test) = load_digits(test_size=0.2, random_state=3)
    counts = np.bincount(np.concatenate([y, y_test]))
    # every class within one sample of its share of the test set
    assert np.all(np.abs(np.bincount(y_test) - counts * y_test.size / counts.sum()) < 1)
    (_, y2), (_, y_test2) = load_digits(test_size=0.2, random_state=3)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(y_test, y_test2)
    (_, y3), _ = load_digits(test_size=0.2, random_state=4)
    assert not np.array_equal(y, y3)
    assert load_digits(test_size=100)[1][0].shape == (100, 64)


def test_bad_arguments_are_train_test_splits_errors():
    with pytest.raises(ValueError, match="test_size must be"):
        load_digits(test_size=1.5)
    with pytest.raises(TypeError, match="random_state must be"):
        load_digits(random_state="0")
    with pytest.raises(ValueError, match="at least one sample per class"):
        load_digits(test_size=5)


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'sparsecore\[datasets\]'"):
        load_digits()


def test_an_mlp_learns_the_digits():
    """Sparse categorical cross-entropy on integer labels: > 90 % test accuracy."""
    (x, y), (x_test, y_test) = load_digits()
    model = sc.Sequential([sc.Dense(64), sc.ReLU(), sc.Dense(10)], input_dim=64, seed=0)
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(1e-2),
        metrics=["accuracy"],
    )
    history = model.fit(
        x, y, epochs=20, batch_size=64, validation_data=(x_test, y_test), verbose=0
    )
    scores = model.evaluate(x_test, y_test, return_dict=True)
    assert scores["accuracy"] > 0.9
    assert scores["accuracy"] == history.history["val_accuracy"][-1]
    assert history.history["accuracy"][-1] > 0.9

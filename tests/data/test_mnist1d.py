"""load_mnist1d: the published MNIST-1D, generated offline; an MLP learns it."""

import random
import sys

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.data import load_mnist1d

mnist1d_data = pytest.importorskip("mnist1d.data")


@pytest.fixture(scope="module")
def dataset():
    return load_mnist1d()


def test_shapes_dtypes_and_class_balance(dataset):
    (x, y), (x_test, y_test) = dataset
    assert x.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert y.shape == (4000,) and y_test.shape == (1000,)
    assert x.dtype == x_test.dtype == np.float32
    assert y.dtype == y_test.dtype == np.int64
    # 500 series of each digit, shuffled, then cut 4000 / 1000
    both = np.concatenate([y, y_test])
    np.testing.assert_array_equal(np.bincount(both), np.full(10, 500))
    assert np.all(np.abs(np.bincount(y_test) - 100) < 20)
    # standardised over all 5000 series, as published
    allx = np.concatenate([x, x_test]).astype(np.float64)
    assert abs(allx.mean()) < 1e-6 and abs(allx.std() - 1) < 1e-6


def test_is_the_packages_published_generator(dataset):
    """The package's defaults are the paper's (5000 series, seed 42, 80/20), and the
    arrays are its make_dataset output, cast to float32."""
    args = mnist1d_data.get_dataset_args(as_dict=True)
    assert {k: args[k] for k in ("num_samples", "train_split", "seed")} == {
        "num_samples": 5000,
        "train_split": 0.8,
        "seed": 42,
    }
    assert args["final_seq_length"] == 40 and not args["shuffle_seq"]
    state = np.random.get_state()
    try:
        ref = mnist1d_data.make_dataset(mnist1d_data.get_dataset_args())
    finally:
        np.random.set_state(state)
    (x, y), (x_test, y_test) = dataset
    np.testing.assert_array_equal(x, ref["x"].astype(np.float32))
    np.testing.assert_array_equal(x_test, ref["x_test"].astype(np.float32))
    np.testing.assert_array_equal(y, ref["y"])
    np.testing.assert_array_equal(y_test, ref["y_test"])


def test_deterministic_fresh_copies_and_global_state_untouched(dataset):
    np.random.seed(123)
    random.seed(123)
    expected = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    from sparsecore.data import mnist1d as module

    module._generate.cache_clear()  # generate again: it seeds the global state
    (x, y), _ = load_mnist1d()
    assert (np.random.random(), random.random()) == expected
    (x0, y0), _ = dataset
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    x[0, 0] = 99.0  # a copy: the next call is unaffected
    assert load_mnist1d()[0][0][0, 0] == x0[0, 0]


def test_missing_package_names_the_extra(monkeypatch):
    from sparsecore.data import mnist1d as module

    module._generate.cache_clear()
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # import fails
    try:
        with pytest.raises(ImportError, match=r"pip install 'sparsecore\[datasets\]'"):
            load_mnist1d()
    finally:
        module._generate.cache_clear()


def test_an_mlp_beats_chance_and_logistic_regression(dataset):
    """40-256-256-10 with Adam and sparse categorical cross-entropy on logits.

    The paper's MLP reaches 68 % test accuracy and logistic regression 32 %;
    a few seconds of training must land well above both chance and the
    linear model.
    """
    (x, y), (x_test, y_test) = dataset
    model = sc.Sequential(
        [sc.Dense(256), sc.ReLU(), sc.Dense(256), sc.ReLU(), sc.Dense(10)],
        input_dim=40,
        seed=0,
    )
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(1e-3),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=20, batch_size=100, verbose=0, seed=0)
    scores = model.evaluate(x_test, y_test, return_dict=True)
    assert scores["accuracy"] > 0.5

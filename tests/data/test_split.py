"""train_test_split: bit equality with scikit-learn (stratified too), validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecore.data import train_test_split


def assert_identical(ours, theirs):
    """Same number of arrays, each with the same shape, dtype and bits."""
    assert isinstance(ours, (tuple, list))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        assert a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=True)


def _seeded(seed, fn):
    """Call fn with NumPy's global RandomState seeded, restoring it afterwards."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return fn()
    finally:
        np.random.set_state(state)


# --------------------------------------------------------------------------------------
# train_test_split == sklearn


SPLIT_SIZES = [
    {},
    {"test_size": 0.2},
    {"test_size": 0.25},
    {"test_size": 0.01},
    {"test_size": 0.95},
    {"test_size": 1},
    {"test_size": 36},
    {"train_size": 0.3},
    {"train_size": 0.999},
    {"train_size": 1},
    {"train_size": 36},
    {"test_size": 0.3, "train_size": 0.7},
    {"test_size": 0.1, "train_size": 0.5},
    {"test_size": 5, "train_size": 10},
    {"test_size": 0.2, "train_size": 20},
    {"test_size": 4, "train_size": 0.5},
    {"test_size": np.int64(4), "train_size": np.float64(0.5)},
]


@pytest.mark.parametrize("sizes", SPLIT_SIZES)
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("seed", [0, 42, 2**32 - 1])
def test_train_test_split_matches_sklearn(sk, sizes, shuffle, seed):
    _, sk_split = sk
    rng = np.random.default_rng(0)
    arrays = (
        rng.standard_normal((37, 3)),
        rng.integers(0, 9, 37),
        rng.standard_normal((37, 2, 2)).astype(np.float32),
        rng.random(37) > 0.5,
    )
    kwargs = dict(sizes, shuffle=shuffle, random_state=seed)
    assert_identical(train_test_split(*arrays, **kwargs), sk_split(*arrays, **kwargs))


def test_train_test_split_random_state_none_and_instance(sk):
    _, sk_split = sk
    x = np.arange(30.0).reshape(15, 2)
    ours = _seeded(3, lambda: train_test_split(x, test_size=4))
    assert_identical(ours, _seeded(3, lambda: sk_split(x, test_size=4)))
    rs_ours, rs_theirs = np.random.RandomState(9), np.random.RandomState(9)
    for _ in range(3):
        assert_identical(
            train_test_split(x, random_state=rs_ours),
            sk_split(x, random_state=rs_theirs),
        )


def test_train_test_split_lists_give_sklearn_values(sk):
    _, sk_split = sk
    x = [[1, 2], [3, 4], [5, 6], [7, 8]]
    y = [0.5, 1.5, 2.5, 3.5]
    ours = train_test_split(x, y, test_size=1, random_state=0)
    assert all(isinstance(a, np.ndarray) for a in ours)
    assert_identical(ours, sk_split(x, y, test_size=1, random_state=0))


def _outcome(fn):
    """The arrays fn returns, or the marker "ValueError" if it raises one."""
    try:
        return fn()
    except ValueError:
        return "ValueError"


_size = st.none() | st.integers(-2, 60) | st.floats(-0.5, 1.5, allow_nan=False)


@given(n_samples=st.integers(0, 50), test_size=_size, train_size=_size,
       shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))  # fmt: skip
def test_train_test_split_property(sk, n_samples, test_size, train_size, shuffle, seed):
    # Same arrays when sklearn accepts the sizes, a ValueError when it rejects them.
    _, sk_split = sk
    x = np.arange(2.0 * n_samples).reshape(n_samples, 2)
    kwargs = {"test_size": test_size, "train_size": train_size}
    kwargs.update(shuffle=shuffle, random_state=seed)
    theirs = _outcome(lambda: sk_split(x, x[:, 0], **kwargs))
    ours = _outcome(lambda: train_test_split(x, x[:, 0], **kwargs))
    if isinstance(theirs, str):
        assert ours == theirs
    else:
        assert_identical(ours, theirs)


# --------------------------------------------------------------------------------------
# train_test_split: behaviour and validation


def test_train_test_split_partition_and_copies():
    x = np.arange(40.0).reshape(20, 2)
    y = np.arange(20)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=1)
    assert (len(y_train), len(y_test)) == (15, 5)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(20))
    np.testing.assert_array_equal(x_train[:, 0], 2 * y_train)  # rows stay paired
    x_train[:] = -1.0  # outputs are copies, not views of the input
    assert x.min() == 0.0
    assert x_test.dtype == x.dtype and y_test.dtype == y.dtype


def test_train_test_split_no_shuffle_keeps_order():
    y = np.arange(10)
    y_train, y_test = train_test_split(y, test_size=3, shuffle=False)
    np.testing.assert_array_equal(y_train, np.arange(7))
    np.testing.assert_array_equal(y_test, np.arange(7, 10))


def test_train_test_split_no_shuffle_leaves_global_state_alone():
    state = np.random.get_state()
    train_test_split(np.arange(10), shuffle=False)
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2] == after[2]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {}, ValueError, r"at least one array; got none"),
        ((np.arange(10), np.arange(9)), {}, ValueError,
         r"same number of samples .*; got lengths \[10, 9\]"),
        ((np.float64(3.0),), {}, ValueError,
         r"arrays\[0\] must have at least 1 dimension; got shape \(\)"),
        ((np.arange(4), None), {}, TypeError, r"arrays\[1\] must be an array-like; "
                                              r"got None"),
        ((np.arange(10),), {"test_size": 0.0}, ValueError,
         r"test_size must be a float in \(0, 1\), an int in \[1, inf\) or None; "
         r"got 0\.0"),
        ((np.arange(10),), {"test_size": 1.0}, ValueError, r"test_size .*; got 1\.0"),
        ((np.arange(10),), {"test_size": -0.1}, ValueError, r"test_size .*got -0\.1"),
        ((np.arange(10),), {"test_size": np.nan}, ValueError, r"test_size .*; got nan"),
        ((np.arange(10),), {"test_size": 0}, ValueError, r"test_size .*; got 0"),
        ((np.arange(10),), {"test_size": 10}, ValueError,
         r"test_size must be an int in \[1, n_samples\) = \[1, 10\) .*; got 10"),
        ((np.arange(10),), {"train_size": 10}, ValueError,
         r"train_size must be an int in \[1, n_samples\) = \[1, 10\)"),
        ((np.arange(10),), {"train_size": 1.0}, ValueError, r"train_size .*got 1\.0"),
        ((np.arange(10),), {"test_size": True}, TypeError, r"test_size .*; got True"),
        ((np.arange(10),), {"test_size": "0.2"}, TypeError, r"test_size .*; got '0.2'"),
        ((np.arange(10),), {"test_size": np.float32(0.2)}, TypeError,
         r"test_size .*; got np\.float32\(0\.2\)"),
        ((np.arange(10),), {"test_size": np.uint8(2)}, TypeError, r"test_size must"),
        ((np.arange(10),), {"test_size": 0.5, "train_size": 0.6}, ValueError,
         r"test_size \+ train_size must be in \(0, 1\] when both are floats; "
         r"got 0\.5 \+ 0\.6 = 1\.1"),
        ((np.arange(10),), {"test_size": 5, "train_size": 6}, ValueError,
         r"n_train \+ n_test must be <= n_samples=10; got 6 \+ 5 = 11"),
        ((np.arange(10),), {"test_size": 0.5, "train_size": 6}, ValueError,
         r"n_train \+ n_test must be <= n_samples=10"),
        ((np.arange(10),), {"test_size": 0.91}, ValueError,  # ceil(9.1) = 10
         r"train set must have >= 1 sample; got 0 from n_samples=10"),
        ((np.arange(10),), {"train_size": 0.05}, ValueError,
         r"train set must have >= 1 sample; got 0 from n_samples=10"),
        ((np.arange(0),), {}, ValueError, r"train set must have >= 1 sample"),
        ((np.arange(1),), {}, ValueError, r"train set must have >= 1 sample"),
        ((np.arange(10),), {"shuffle": 0}, TypeError, r"shuffle must be a bool; got 0"),
        ((np.arange(10),), {"random_state": -1}, ValueError, r"random_state must be"),
        ((np.arange(10),), {"random_state": "0"}, TypeError, r"random_state must be"),
        ((np.arange(10),), {"random_state": -1, "shuffle": False}, ValueError,
         r"random_state must be"),
    ],
)  # fmt: skip
def test_train_test_split_rejects(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        train_test_split(*args, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "n_train", "n_test"),
    [
        ({"test_size": 1}, 9, 1),
        ({"test_size": 9}, 1, 9),
        ({"train_size": 1}, 1, 9),
        ({"train_size": 9}, 9, 1),
        ({"test_size": 0.01}, 9, 1),  # ceil(0.1)
        ({"train_size": 0.15}, 1, 9),  # floor(1.5)
        ({"test_size": 0.5, "train_size": 0.5}, 5, 5),  # sum == 1 is accepted
        ({"test_size": 2, "train_size": 3}, 3, 2),  # need not cover every sample
    ],
)
def test_train_test_split_accepted_sizes(kwargs, n_train, n_test):
    train, test = train_test_split(np.arange(10), random_state=0, **kwargs)
    assert (len(train), len(test)) == (n_train, n_test)
    assert len(np.intersect1d(train, test)) == 0


# --------------------------------------------------------------------------------------
# stratify == sklearn


STRATIFIED_CASES = [
    # (n_samples, class counts or n_classes, sizes)
    (100, 3, {}),
    (37, 4, {"test_size": 0.3}),
    (60, 2, {"test_size": 10}),
    (60, 5, {"train_size": 0.5}),
    (61, 6, {"test_size": 0.2, "train_size": 0.5}),
    (1797, 10, {"test_size": 0.25}),  # the shape of load_digits
    (40, [30, 6, 2, 2], {"test_size": 0.25}),  # imbalanced: remainders decide
    (24, [8, 8, 8], {"test_size": 7}),  # exact ties between remainders
]


def _labels(n, classes, rng):
    if isinstance(classes, int):
        return rng.integers(0, classes, n)
    y = np.repeat(np.arange(len(classes)), classes)
    return rng.permutation(y)


@pytest.mark.parametrize(("n", "classes", "sizes"), STRATIFIED_CASES)
@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_stratified_split_matches_sklearn(sk, n, classes, sizes, seed):
    _, sk_split = sk
    rng = np.random.default_rng(seed % 1000)
    y = _labels(n, classes, rng)
    arrays = (rng.standard_normal((n, 3)), y, rng.random(n).astype(np.float32))
    kwargs = dict(sizes, random_state=seed, stratify=y)
    assert_identical(train_test_split(*arrays, **kwargs), sk_split(*arrays, **kwargs))


@pytest.mark.parametrize(
    "stratify",
    [
        np.array(["b", "a", "c", "a", "b", "c", "a", "b", "c", "a"] * 3),  # strings
        np.array([0.5, 1.5, 2.5] * 10),  # float labels
        np.array([[0, 1], [1, 0], [1, 1]] * 10),  # multi-label rows
        [1, 2, 1, 2, 1, 2] * 5,  # a list
    ],
)
def test_stratified_split_label_kinds_match_sklearn(sk, stratify):
    _, sk_split = sk
    x = np.arange(60.0).reshape(30, 2)
    for seed in (0, 1):
        kwargs = {"test_size": 0.3, "random_state": seed, "stratify": stratify}
        assert_identical(train_test_split(x, **kwargs), sk_split(x, **kwargs))


def test_stratified_split_random_state_none_and_instance(sk):
    _, sk_split = sk
    y = np.repeat([0, 1, 2], [10, 6, 4])
    ours = _seeded(4, lambda: train_test_split(y, test_size=0.3, stratify=y))
    assert_identical(ours, _seeded(4, lambda: sk_split(y, test_size=0.3, stratify=y)))
    rs_ours, rs_theirs = np.random.RandomState(2), np.random.RandomState(2)
    for _ in range(3):  # the generator advances the same way
        assert_identical(
            train_test_split(y, random_state=rs_ours, stratify=y),
            sk_split(y, random_state=rs_theirs, stratify=y),
        )


@given(
    counts=st.lists(st.integers(2, 30), min_size=1, max_size=6),
    test_fraction=st.floats(0.05, 0.6),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_property(sk, counts, test_fraction, seed):
    _, sk_split = sk
    y = np.random.default_rng(0).permutation(np.repeat(np.arange(len(counts)), counts))
    n, k = y.size, len(counts)
    n_test = int(np.ceil(test_fraction * n))
    if not k <= n_test <= n - k:
        return  # sklearn refuses: a set smaller than the number of classes
    kwargs = {"test_size": test_fraction, "random_state": seed, "stratify": y}
    ours = train_test_split(np.arange(n), y, **kwargs)
    assert_identical(ours, sk_split(np.arange(n), y, **kwargs))
    idx_train, idx_test, y_train, y_test = ours
    assert len(np.intersect1d(idx_train, idx_test)) == 0
    assert len(idx_test) == n_test and len(idx_train) == n - n_test
    # each class within one sample of its share in both sets
    for part in (y_train, y_test):
        share = np.bincount(y, minlength=k) * len(part) / n
        assert np.all(np.abs(np.bincount(part, minlength=k) - share) < 1 + 1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stratify": np.array([0] * 9 + [1])}, r"at least 2 samples of every "
         r"class; classes with 1: \[1\]"),
        ({"stratify": np.arange(10) % 5, "test_size": 4}, r"the test set must have "
         r"at least one sample per class: 4 samples for 5 classes"),
        ({"stratify": np.arange(10) % 5, "test_size": 6}, r"the train set must "
         r"have at least one sample per class: 4 samples for 5 classes"),
        ({"stratify": np.arange(9) % 2}, r"stratify must have shape \(10,\) or "
         r"\(10, n_outputs\) \(one label per sample\); got \(9,\)"),
        ({"stratify": np.zeros((10, 2, 2))}, r"stratify must have shape"),
        ({"stratify": np.array([0.0, np.nan] * 5)}, r"only finite labels"),
        ({"stratify": np.arange(10) % 2, "shuffle": False}, r"stratify needs "
         r"shuffle=True"),
    ],
)  # fmt: skip
def test_stratified_split_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(np.arange(10), **kwargs)


def test_stratified_split_refuses_what_sklearn_refuses(sk):
    _, sk_split = sk
    for kwargs in (
        {"stratify": np.array([0] * 9 + [1])},
        {"stratify": np.arange(10) % 5, "test_size": 4},
        {"stratify": np.arange(10) % 2, "shuffle": False},
    ):
        with pytest.raises(ValueError):
            sk_split(np.arange(10), **kwargs)

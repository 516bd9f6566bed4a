"""make_regression: bit equality with scikit-learn, validation, shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecore.data import make_regression, train_test_split


def assert_identical(ours, theirs):
    """Same number of arrays, each with the same shape, dtype and bits."""
    assert isinstance(ours, (tuple, list))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        assert a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=True)


# --------------------------------------------------------------------------------------
# the tutorial's data


@pytest.fixture(scope="module")
def tutorial(sk):
    sk_make, _ = sk
    kwargs = {"n_samples": 10000, "n_features": 1000, "n_informative": 500, "noise": 3}
    return make_regression(**kwargs, random_state=0), sk_make(**kwargs, random_state=0)


def test_tutorial_make_regression(tutorial):
    (x, y), theirs = tutorial
    assert x.shape == (10000, 1000) and y.shape == (10000,)
    assert x.dtype == y.dtype == np.float64
    assert x.flags.c_contiguous
    assert_identical((x, y), theirs)


def test_tutorial_train_test_split(sk, tutorial):
    _, sk_split = sk
    (x, y), (x_sk, y_sk) = tutorial
    ours = train_test_split(x, y, test_size=0.2, random_state=42)
    assert [a.shape for a in ours] == [(8000, 1000), (2000, 1000), (8000,), (2000,)]
    assert_identical(ours, sk_split(x_sk, y_sk, test_size=0.2, random_state=42))


# --------------------------------------------------------------------------------------
# make_regression == sklearn


_F32_TENTH = np.float32(0.1)
REGRESSION_CASES = [
    {},
    {"n_samples": 1},
    {"n_samples": 1, "n_features": 1, "coef": True},
    {"n_samples": 1, "n_targets": 3, "coef": True},
    {"n_samples": 7, "n_features": 1, "coef": True},
    {"n_samples": 50, "n_features": 20, "n_informative": 0, "coef": True},
    {"n_samples": 50, "n_features": 20, "n_informative": 20},
    {"n_samples": 50, "n_features": 20, "n_informative": 25, "coef": True},
    {"n_samples": 40, "n_features": 30, "n_targets": 4, "coef": True},
    {"n_samples": 40, "n_features": 30, "bias": -3.25, "noise": 0.5},
    {"n_samples": 40, "n_features": 30, "bias": 2, "noise": 1},
    {"n_samples": 40, "n_features": 30, "bias": np.float32(0.1)},
    {"n_samples": 40, "n_features": 30, "noise": np.float32(0.3)},
    {"n_samples": 40, "n_features": 30, "shuffle": False, "coef": True},
    {"n_samples": 40, "n_features": 30, "shuffle": np.bool_(False)},
    {"n_samples": np.int64(40), "n_features": np.int32(30), "n_informative": 5},
    {"n_samples": 60, "n_features": 30, "effective_rank": 5, "coef": True},
    {"n_samples": 30, "n_features": 60, "effective_rank": 1, "tail_strength": 0.0},
    {"n_samples": 30, "n_features": 60, "effective_rank": 10, "tail_strength": 1.0},
    {"n_samples": 120, "n_features": 90, "effective_rank": 30, "noise": 2.0},
    {"n_samples": 50, "n_features": 50, "effective_rank": 3, "shuffle": False},
    {"n_samples": 50, "n_features": 40, "effective_rank": 7, "tail_strength": 0.1},
    # float32 arithmetic in 1 - tail_strength, as sklearn does it
    {
        "n_samples": 50,
        "n_features": 40,
        "effective_rank": 7,
        "tail_strength": _F32_TENTH,
    },
]


@pytest.mark.parametrize("kwargs", REGRESSION_CASES)
@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1])
def test_make_regression_matches_sklearn(sk, kwargs, seed):
    sk_make, _ = sk
    ours = make_regression(**kwargs, random_state=seed)
    assert_identical(ours, sk_make(**kwargs, random_state=seed))


def test_make_regression_positional_arguments(sk):
    sk_make, _ = sk
    ours = _seeded(0, lambda: make_regression(30, 8, n_informative=3))
    assert_identical(ours, _seeded(0, lambda: sk_make(30, 8, n_informative=3)))


def _seeded(seed, fn):
    """Call fn with NumPy's global RandomState seeded, restoring it afterwards."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return fn()
    finally:
        np.random.set_state(state)


def test_make_regression_random_state_none_uses_global_state(sk):
    sk_make, _ = sk
    ours = _seeded(5, lambda: make_regression(20, 6, noise=1.0, coef=True))
    theirs = _seeded(5, lambda: sk_make(20, 6, noise=1.0, coef=True))
    assert_identical(ours, theirs)


def test_make_regression_random_state_instance_advances_like_sklearn(sk):
    sk_make, _ = sk
    rs_ours, rs_theirs = np.random.RandomState(7), np.random.RandomState(7)
    for kwargs in ({"noise": 1.0}, {"effective_rank": 4}, {"shuffle": False}):
        assert_identical(
            make_regression(25, 9, random_state=rs_ours, **kwargs),
            sk_make(25, 9, random_state=rs_theirs, **kwargs),
        )
    assert rs_ours.randint(2**31) == rs_theirs.randint(2**31)


@given(
    n_samples=st.integers(1, 20),
    n_features=st.integers(1, 20),
    n_informative=st.integers(0, 25),
    n_targets=st.integers(1, 3),
    bias=st.floats(-100, 100, allow_nan=False),
    effective_rank=st.none() | st.integers(1, 10),
    tail_strength=st.floats(0, 1),
    noise=st.floats(0, 5),
    shuffle=st.booleans(),
    coef=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_make_regression_matches_sklearn_property(
    sk,
    n_samples,
    n_features,
    n_informative,
    n_targets,
    bias,
    effective_rank,
    tail_strength,
    noise,
    shuffle,
    coef,
    seed,
):
    sk_make, _ = sk
    kwargs = {
        "n_samples": n_samples,
        "n_features": n_features,
        "n_informative": n_informative,
        "n_targets": n_targets,
        "bias": bias,
        "effective_rank": effective_rank,
        "tail_strength": tail_strength,
        "noise": noise,
        "shuffle": shuffle,
        "coef": coef,
        "random_state": seed,
    }
    assert_identical(make_regression(**kwargs), sk_make(**kwargs))


# --------------------------------------------------------------------------------------
# make_regression: shapes and meaning


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("shuffle", [True, False])
def test_make_regression_shapes_and_model(n_targets, shuffle):
    x, y, w = make_regression(
        40, 12, n_informative=5, n_targets=n_targets, bias=1.5, coef=True,
        shuffle=shuffle, random_state=3,
    )  # fmt: skip
    w_shape = (12,) if n_targets == 1 else (12, n_targets)
    y_shape = (40,) if n_targets == 1 else (40, n_targets)
    assert (x.shape, y.shape, w.shape) == ((40, 12), y_shape, w_shape)
    assert x.dtype == y.dtype == w.dtype == np.float64
    # noise=0: y is exactly the linear model (up to summation rounding)
    np.testing.assert_allclose(y, x @ w + 1.5, rtol=1e-12, atol=1e-9)
    w2 = w.reshape(12, n_targets)
    assert np.all(np.count_nonzero(w2, axis=0) == 5)
    assert np.all((w2 >= 0) & (w2 < 100))
    if not shuffle:
        assert np.all(w2[5:] == 0)


def test_make_regression_n_informative_is_clipped():
    x, y, w = make_regression(10, 4, n_informative=9, coef=True, random_state=0)
    assert np.count_nonzero(w) == 4


def test_make_regression_squeezes_like_sklearn():
    x, y, w = make_regression(1, 1, coef=True, random_state=0)
    assert (x.shape, y.shape, w.shape) == ((1, 1), (), ())


def test_make_regression_effective_rank_is_low_rank():
    x, _ = make_regression(100, 50, effective_rank=3, tail_strength=0.0, random_state=0)
    s = np.linalg.svd(x, compute_uv=False)
    # singular values exp(-(i / 3)^2): the 13th is below 1e-6 of the first
    assert s[12] / s[0] < 1e-6
    np.testing.assert_allclose(s[:4], np.exp(-((np.arange(4) / 3) ** 2)), rtol=1e-10)


def test_make_regression_same_seed_same_data_other_seed_other_data():
    a = make_regression(10, 5, noise=1.0, random_state=11)
    b = make_regression(10, 5, noise=1.0, random_state=11)
    c = make_regression(10, 5, noise=1.0, random_state=12)
    assert_identical(a, b)
    assert not np.array_equal(a[0], c[0])


# --------------------------------------------------------------------------------------
# make_regression: validation


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("n_samples", 0, ValueError, r"n_samples must be an int in \[1, inf\); got 0"),
        ("n_samples", -5, ValueError, r"n_samples must be an int in \[1, inf\)"),
        ("n_samples", 3.0, TypeError, r"n_samples must be an int .*; got 3\.0"),
        ("n_samples", True, TypeError, r"n_samples must be an int .*; got True"),
        ("n_samples", "10", TypeError, r"n_samples must be an int .*; got '10'"),
        ("n_features", 0, ValueError, r"n_features must be an int in \[1, inf\)"),
        ("n_features", None, TypeError, r"n_features must be an int .*; got None"),
        ("n_informative", -1, ValueError, r"n_informative must be an int in \[0, "),
        ("n_informative", 2.5, TypeError, r"n_informative must be an int"),
        ("n_targets", 0, ValueError, r"n_targets must be an int in \[1, inf\)"),
        ("bias", np.inf, ValueError, r"bias must be a finite float; got inf"),
        ("bias", -np.inf, ValueError, r"bias must be a finite float"),
        ("bias", np.nan, ValueError, r"bias must be a finite float; got nan"),
        ("bias", 1j, TypeError, r"bias must be a finite float; got 1j"),
        ("bias", False, TypeError, r"bias must be a finite float"),
        ("effective_rank", 0, ValueError, r"effective_rank must be an int in \[1, "),
        ("effective_rank", 2.0, TypeError, r"effective_rank must be an int"),
        ("effective_rank", True, TypeError, r"effective_rank must be an int"),
        ("tail_strength", -0.001, ValueError, r"tail_strength must be a float "
                                              r"in \[0, 1\]; got -0\.001"),
        ("tail_strength", 1.001, ValueError, r"tail_strength .*; got 1\.001"),
        ("tail_strength", np.nan, ValueError, r"tail_strength .*; got nan"),
        ("tail_strength", "0.5", TypeError,
         r"tail_strength must be a float in \[0, 1\]"),
        ("noise", -0.001, ValueError, r"noise must be a float in \[0, inf\)"),
        ("noise", np.inf, ValueError, r"noise must be a float .*; got inf"),
        ("noise", None, TypeError, r"noise must be a float .*; got None"),
        ("shuffle", 1, TypeError, r"shuffle must be a bool; got 1"),
        ("shuffle", None, TypeError, r"shuffle must be a bool; got None"),
        ("coef", "yes", TypeError, r"coef must be a bool; got 'yes'"),
        ("random_state", -1, ValueError, r"random_state must be an int in "
                                         r"\[0, 4294967295\], .*; got -1"),
        ("random_state", 2**32, ValueError, r"random_state .*; got 4294967296"),
        ("random_state", 1.0, TypeError, r"random_state must be .*; got 1\.0"),
        ("random_state", True, TypeError, r"random_state must be .*; got True"),
        ("random_state", np.random.default_rng(0), TypeError,
         r"random_state must be .*RandomState or None; got Generator"),
        ("random_state", np.random, TypeError, r"random_state must be"),
    ],
)  # fmt: skip
def test_make_regression_rejects(name, value, error, match):
    kwargs = {"n_samples": 5, "n_features": 3, "random_state": 0, name: value}
    with pytest.raises(error, match=match):
        make_regression(**kwargs)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_samples", 1),
        ("n_features", 1),
        ("n_informative", 0),
        ("n_informative", 100),
        ("n_targets", 1),
        ("bias", -1e300),
        ("bias", np.float32(2)),
        ("effective_rank", 1),
        ("effective_rank", 100),
        ("tail_strength", 0.0),
        ("tail_strength", 1.0),
        ("tail_strength", 1),
        ("noise", 0.0),
        ("noise", 0),
        ("noise", 1e-300),
        ("shuffle", np.bool_(True)),
        ("coef", np.bool_(False)),
        ("random_state", 0),
        ("random_state", 2**32 - 1),
        ("random_state", np.uint32(5)),
        ("random_state", np.random.RandomState(0)),
    ],
)
def test_make_regression_accepts_boundaries(name, value):
    kwargs = {"n_samples": 5, "n_features": 3, "random_state": 0, name: value}
    x, y = make_regression(**kwargs)
    assert x.shape == (kwargs["n_samples"], kwargs["n_features"])


def test_make_regression_accepts_what_sklearn_accepts(sk):
    # each accepted boundary gives sklearn's exact arrays
    sk_make, _ = sk
    for kwargs in (
        {"n_informative": 0},
        {"tail_strength": 1, "effective_rank": 2},
        {"noise": 1e-300},
        {"random_state": 2**32 - 1},
        {"random_state": np.uint32(5)},
    ):
        kwargs = {"random_state": 0, **kwargs}
        assert_identical(make_regression(5, 3, **kwargs), sk_make(5, 3, **kwargs))

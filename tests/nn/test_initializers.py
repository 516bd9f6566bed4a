"""Initializers: Keras' distributions (moments, bounds), determinism, registry."""

import numpy as np
import pytest

from sparsecore.nn.initializers import INITIALIZERS, get_initializer

SHAPE = (400, 300)  # fan_in 400, fan_out 300: 120k draws
F32 = np.dtype("float32")


def _draw(name, shape=SHAPE, seed=0):
    return get_initializer(name)(shape, np.random.default_rng(seed), F32)


@pytest.mark.parametrize(
    ("name", "variance"),
    [
        ("glorot_uniform", 2 / 700),
        ("glorot_normal", 2 / 700),
        ("he_uniform", 2 / 400),
        ("he_normal", 2 / 400),
        ("lecun_normal", 1 / 400),
    ],
)
def test_variance_scaling_moments(name, variance):
    w = _draw(name)
    assert w.dtype == np.float32 and w.shape == SHAPE
    assert abs(w.mean()) < 0.02 * np.sqrt(variance) * 10
    assert w.var() == pytest.approx(variance, rel=0.02)


@pytest.mark.parametrize(
    ("name", "bound"),
    [("glorot_uniform", np.sqrt(6 / 700)), ("he_uniform", np.sqrt(6 / 400))],
)
def test_uniform_bounds(name, bound):
    w = _draw(name)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize(
    ("name", "variance"),
    [("he_normal", 2 / 400), ("lecun_normal", 1 / 400), ("glorot_normal", 2 / 700)],
)
def test_truncated_normal_is_cut_at_two_stddev(name, variance):
    stddev = np.sqrt(variance) / 0.87962566103423978  # before truncation
    w = _draw(name)
    assert np.abs(w).max() <= 2 * stddev * (1 + 1e-6)
    assert np.abs(w).max() > 1.9 * stddev


def test_constant_initializers():
    assert not _draw("zeros", (3,)).any()
    assert (_draw("ones", (2, 2)) == 1).all()


def test_deterministic_given_seed():
    for name in INITIALIZERS:
        np.testing.assert_array_equal(_draw(name, seed=7), _draw(name, seed=7))
    assert not np.array_equal(_draw("he_normal", seed=1), _draw("he_normal", seed=2))


def test_unknown_name_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"initializer must be one of \['glorot_normal'"
    ):
        get_initializer("xavier")
    with pytest.raises(TypeError, match="initializer must be a str"):
        get_initializer(None)

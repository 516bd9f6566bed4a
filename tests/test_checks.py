"""The one validator: boundaries of each check, and one grammar across the API."""

import math

import numpy as np
import pytest

import sparsecore as sc
from sparsecore._checks import (
    interval,
    validate_array,
    validate_axis,
    validate_bool,
    validate_choice,
    validate_float,
    validate_int,
    validate_pair,
    validate_seed,
    validate_sparsity,
)


def test_interval_notation():
    assert interval(0, 1) == "[0, 1)"
    assert interval(0, 1, high_open=False) == "[0, 1]"
    assert interval(0, math.inf, low_open=True) == "(0, inf)"
    assert interval(-math.inf, 0, high_open=False) == "(-inf, 0]"  # inf is open
    assert interval(0.5, 2.25) == "[0.5, 2.25)"


@pytest.mark.parametrize("value", [0, 1, 7, np.int64(3), np.uint8(0)])
def test_int_accepted(value):
    out = validate_int("n", value, 0, 7)
    assert out == value and type(out) is int


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (8, ValueError),
        (True, TypeError),  # a bool is never an int
        (np.bool_(False), TypeError),
        (1.0, TypeError),
        (1.5, TypeError),
        ("1", TypeError),
        (None, TypeError),
    ],
)
def test_int_rejected(value, error):
    with pytest.raises(error, match=rf"^n must be an int in \[0, 7\]; got {value!r}$"):
        validate_int("n", value, 0, 7)


def test_int_half_bounded_and_unbounded():
    assert validate_int("n", 10**30, 1) == 10**30
    with pytest.raises(ValueError, match=r"n must be an int in \[1, inf\); got 0"):
        validate_int("n", 0, 1)
    with pytest.raises(TypeError, match="^n must be an int; got 'x'$"):
        validate_int("n", "x")


@pytest.mark.parametrize("value", [0.0, 0, 0.5, np.float32(0.25), 0.999])
def test_float_accepted(value):
    assert validate_float("s", value, 0.0, 1.0) == float(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-0.001, ValueError),
        (1.0, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (10**400, ValueError),  # an int beyond the float range: no OverflowError
        (True, TypeError),
        ("0.5", TypeError),
        (1j, TypeError),
        (None, TypeError),
    ],
)
def test_float_rejected(value, error):
    with pytest.raises(error, match=r"^s must be a float in \[0, 1\); got "):
        validate_float("s", value, 0.0, 1.0)


def test_float_open_and_closed_ends():
    with pytest.raises(ValueError, match=r"lr must be a float in \(0, inf\); got 0"):
        validate_float("lr", 0, 0.0, low_open=True)
    assert validate_float("p", 1.0, 0.0, 1.0, high_open=False) == 1.0
    with pytest.raises(ValueError, match="^x must be a finite float; got inf$"):
        validate_float("x", math.inf)
    assert validate_sparsity("s", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"s must be a float in \[0, 1\)"):
        validate_sparsity("s", 1.0)


def test_bool_choice_seed_pair_axis():
    assert validate_bool("b", np.bool_(True)) is True
    with pytest.raises(TypeError, match="^b must be a bool; got 1$"):
        validate_bool("b", 1)
    assert validate_choice("m", "max", ("min", "max")) == "max"
    with pytest.raises(
        ValueError, match=r"^m must be one of \['max', 'min'\]; got 'x'$"
    ):
        validate_choice("m", "x", ("min", "max"))
    with pytest.raises(ValueError, match="must be one of"):
        validate_choice("m", ["unhashable"], {"a"})
    assert validate_seed("seed", None) is None
    assert validate_seed("seed", 2**63 - 1) == 2**63 - 1
    with pytest.raises(
        ValueError, match=r"seed must be None or an int in \[0, 2\*\*63\)"
    ):
        validate_seed("seed", 2**63)
    with pytest.raises(TypeError, match="seed must be None or an int"):
        validate_seed("seed", True)
    assert validate_pair("b", [2, 3], 1, "a pair") == (2, 3)
    with pytest.raises(ValueError, match=r"^b must be a pair; got \(0, 1\)$"):
        validate_pair("b", (0, 1), 1, "a pair")
    assert validate_axis("axis", -1, 2, (3, 4)) == 1
    with pytest.raises(IndexError, match=r"axis must be an int in \[-2, 2\)"):
        validate_axis("axis", 2, 2, (3, 4))
    with pytest.raises(TypeError, match="axis must be an int"):
        validate_axis("axis", 1.0, 2, (3, 4))


def test_array_kinds():
    assert validate_array("x", [[1, 2]]).dtype.kind == "i"
    with pytest.raises(
        TypeError, match=r"x must be a real numeric array \(bool, int or"
    ):
        validate_array("x", ["a"])
    with pytest.raises(ValueError, match="x must be a rectangular numeric array"):
        validate_array("x", [[1, 2], [3]])


# ------------------------------------------------------------------ across the API
def _model():
    return sc.Sequential([sc.Dense(2)], input_dim=3, seed=0)


# (callable taking the value, parameter name): an int parameter.
INT_PARAMS = [
    (lambda v: sc.Dense(v), "units", 1),
    (lambda v: sc.Sequential([sc.Dense(2)], input_dim=v), "input_dim", 1),
    (lambda v: sc.EarlyStopping(patience=v), "patience", 0),
    (lambda v: sc.ModelCheckpoint("c.npz", every=v), "every", 1),
    (lambda v: sc.ConstantSparsity(0.5, begin_step=v), "begin_step", 0),
    (lambda v: sc.PolynomialDecay(0.0, 0.5, 0, 100, frequency=v), "frequency", 1),
    (lambda v: sc.prune.keep_count(v, 0.5), "n", 1),
    (lambda v: sc.prune.nm_mask(np.ones((4, 2)), 1, v), "group", 1),
    (lambda v: sc.SparseModel.from_layers([(np.eye(2), None, None)], batch_size=v),
     "batch_size", 1),
    (lambda v: sc.data.make_regression(v, 3, random_state=0), "n_samples", 1),
]  # fmt: skip

FLOAT_PARAMS = [
    (lambda v: sc.Adam(learning_rate=v), "learning_rate"),
    (lambda v: sc.SGD(momentum=v), "momentum"),
    (lambda v: sc.EarlyStopping(min_delta=v), "min_delta"),
    (lambda v: sc.ConstantSparsity(v, 0), "target_sparsity"),
    (lambda v: sc.prune.magnitude_mask(np.ones(4), v), "sparsity"),
    (lambda v: sc.LeakyReLU(alpha=v), "alpha"),
]


@pytest.mark.parametrize(("make", "name", "low"), INT_PARAMS)
@pytest.mark.parametrize("bad", [True, 1.5, "2"])
def test_every_int_parameter_refuses_other_types_with_typeerror(make, name, low, bad):
    with pytest.raises(TypeError, match=rf"^{name} must be an int( in \S+ \S+)?; got "):
        make(bad)


@pytest.mark.parametrize(("make", "name", "low"), INT_PARAMS)
def test_every_int_parameter_refuses_its_lower_bound_minus_one(make, name, low):
    with pytest.raises(ValueError, match=rf"^{name} must be an int in \[{low}, "):
        make(low - 1)


@pytest.mark.parametrize(("make", "name"), FLOAT_PARAMS)
@pytest.mark.parametrize("bad", [True, "0.5", None])
def test_every_float_parameter_refuses_other_types_with_typeerror(make, name, bad):
    with pytest.raises(TypeError, match=rf"^{name} must be a (finite )?float"):
        make(bad)


@pytest.mark.parametrize(("make", "name"), FLOAT_PARAMS)
def test_every_float_parameter_refuses_nan(make, name):
    with pytest.raises(ValueError, match=rf"^{name} must be a .*; got nan$"):
        make(math.nan)

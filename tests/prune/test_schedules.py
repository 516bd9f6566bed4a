"""Schedules: tfmot formula, should_prune, validation boundaries, config."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecore.prune.schedules import (
    SCHEDULES,
    ConstantSparsity,
    PolynomialDecay,
    PruningSchedule,
    schedule_from_config,
)


def tfmot_polynomial_decay(s0, sf, begin, end, power, step):
    """tfmot 0.8 ``PolynomialDecay.__call__``, op for op, in float32 (the oracle)."""
    f32 = np.float32
    p = f32(step - begin) / f32(end - begin)
    p = np.minimum(f32(1.0), np.maximum(f32(0.0), p))
    return f32(s0 - sf) * np.power(f32(1) - p, f32(power)) + f32(sf)


def tfmot_should_prune(step, begin, end, frequency):
    in_range = begin <= step and (step <= end or end < 0)
    return in_range and (step - begin) % frequency == 0


sparsities = st.floats(0.0, 0.99)


@st.composite
def polynomial_decays(draw):
    begin = draw(st.integers(0, 500))
    end = draw(st.integers(begin + 1, begin + 2000))
    initial, final = sorted((draw(sparsities), draw(sparsities)))
    return PolynomialDecay(
        initial,
        final,
        begin,
        end,
        power=draw(st.sampled_from([1, 2, 3, 0.5, 4.5])),
        frequency=draw(st.integers(1, 300)),
    )


# ----------------------------------------------------------------------- values
def test_tfmot_measured_value_misaligned_frequency():
    # Measured with tfmot: last pruning step 345, sparsity 0.9499964 (float32).
    s = PolynomialDecay(0.5, 0.95, 100, 350, frequency=7)
    assert s.last_pruning_step() == 345
    should, value = s(345)
    assert should is True
    assert np.float32(value) == np.float32(0.9499964)
    assert [t for t in range(400) if s(t)[0]][-1] == 345
    assert s(350) == (False, 0.95)


def test_tutorial_schedule_values():
    s = PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000, power=3)
    assert s(1600)[1] == pytest.approx(0.75 - 0.75 * 0.85**3, abs=1e-15)
    assert round(s(1600)[1], 3) == 0.289
    assert s(5000) == (True, 0.75)
    assert s(1000) == (True, 0.0)
    assert s(999) == (False, 0.0)
    assert s(5100) == (False, 0.75)


@given(polynomial_decays(), st.integers(-50, 3000))
def test_polynomial_decay_matches_tfmot_float32(s, step):
    cfg = s.get_config()["config"]
    expected = tfmot_polynomial_decay(
        cfg["initial_sparsity"],
        cfg["final_sparsity"],
        s.begin_step,
        s.end_step,
        cfg["power"],
        step,
    )
    should, value = s(step)
    assert value == pytest.approx(float(expected), abs=2e-6)
    assert should == tfmot_should_prune(step, s.begin_step, s.end_step, s.frequency)


@given(polynomial_decays())
def test_bounded_and_monotone(s):
    steps = np.arange(-10, s.end_step + 50)
    v = s.sparsity_at(steps)
    assert np.all((v >= s.initial_sparsity) & (v <= s.final_sparsity))
    assert np.all(np.isfinite(v))
    assert np.all(np.diff(v) >= 0)  # never falls (final >= initial)
    assert v[0] == s.initial_sparsity  # before begin_step
    assert v[-1] == s.final_sparsity  # after end_step


@given(polynomial_decays())
def test_vectorised_equals_scalar(s):
    steps = np.arange(0, s.end_step + 20)
    should = s.should_prune_at(steps)
    values = s.sparsity_at(steps)
    for t in range(0, s.end_step + 20, 7):
        assert (bool(should[t]), float(values[t])) == s(t)


def test_should_prune_frequency_counted_from_begin():
    s = PolynomialDecay(0.1, 0.5, begin_step=3, end_step=23, frequency=5)
    assert [t for t in range(40) if s(t)[0]] == [3, 8, 13, 18, 23]
    c = ConstantSparsity(0.5, begin_step=3, end_step=-1, frequency=5)
    assert [t for t in range(30) if c(t)[0]] == [3, 8, 13, 18, 23, 28]
    c = ConstantSparsity(0.5, begin_step=3, end_step=20, frequency=5)
    assert [t for t in range(30) if c(t)[0]] == [3, 8, 13, 18]


def test_constant_sparsity_default_begins_at_zero():
    c = ConstantSparsity(0.5, 0)
    assert c(0) == (True, 0.5)
    assert c(100) == (True, 0.5)
    assert c(150) == (False, 0.5)
    assert c(10**9) == (True, 0.5)
    assert c.sparsity_at([1, 2]).tolist() == [0.5, 0.5]


def test_begin_equals_end_is_a_step_never_nan():
    s = PolynomialDecay(0.2, 0.8, begin_step=10, end_step=10, frequency=3)
    assert s(9) == (False, 0.2)
    assert s(10) == (True, 0.8)
    assert s(11) == (False, 0.8)
    assert np.all(np.isfinite(s.sparsity_at(np.arange(30))))


def test_return_types_are_python_scalars():
    should, value = PolynomialDecay(0.0, 0.5, 0, 10)(np.int64(5))
    assert type(should) is bool
    assert type(value) is float
    should, value = ConstantSparsity(0.5, 0)(np.uint8(3))
    assert type(should) is bool and type(value) is float


def test_step_must_be_int():
    s = ConstantSparsity(0.5, 0)
    with pytest.raises(TypeError, match="step must be an int"):
        s(1.5)
    with pytest.raises(TypeError, match="steps must be an array of ints"):
        s.sparsity_at([1.0, 2.0])


def test_negative_steps_never_prune():
    s = ConstantSparsity(0.5, 0, frequency=1)
    assert s(-1) == (False, 0.5)


def test_last_pruning_step():
    s = PolynomialDecay(0.0, 0.75, 1000, 5000)
    assert s.last_pruning_step() == 5000
    assert s.last_pruning_step(1600) == 1600
    assert s.last_pruning_step(1650) == 1600
    assert s.last_pruning_step(999) is None
    c = ConstantSparsity(0.5, 10, frequency=4)
    assert c.last_pruning_step(100) == 98
    with pytest.raises(ValueError, match="until must be given"):
        c.last_pruning_step()


# ----------------------------------------------------------------------- validation
@pytest.mark.parametrize("value", [0.0, 0.5, 0.99, 0])
def test_sparsity_accepted(value):
    assert ConstantSparsity(value, 0)(0) == (True, float(value))
    assert PolynomialDecay(value, 0.99, 0, 10).initial_sparsity == value
    assert PolynomialDecay(0.0, value, 0, 10, frequency=5)(10) == (True, float(value))


@pytest.mark.parametrize("value", [-0.001, 1.0, 1.5, float("nan"), float("inf")])
def test_sparsity_rejected(value):
    with pytest.raises(
        ValueError, match=r"target_sparsity must be a float in \[0, 1\)"
    ):
        ConstantSparsity(value, 0)
    with pytest.raises(
        ValueError, match=r"initial_sparsity must be a float in \[0, 1\)"
    ):
        PolynomialDecay(value, 0.5, 0, 10)
    with pytest.raises(ValueError, match=r"final_sparsity must be a float in \[0, 1\)"):
        PolynomialDecay(0.5, value, 0, 10)


@pytest.mark.parametrize("value", ["0.5", None, True])
def test_sparsity_type(value):
    with pytest.raises(TypeError, match="target_sparsity must be a float"):
        ConstantSparsity(value, 0)


def test_step_validation_boundaries():
    ConstantSparsity(0.5, begin_step=0)
    PolynomialDecay(0.0, 0.5, begin_step=0, end_step=0)
    ConstantSparsity(0.5, begin_step=5, end_step=5, frequency=1)
    with pytest.raises(
        ValueError, match=r"begin_step must be an int in \[0, 2\*\*62\]; got -1"
    ):
        ConstantSparsity(0.5, begin_step=-1)
    with pytest.raises(
        ValueError, match=r"end_step must be -1 or an int in \[begin_step"
    ):
        ConstantSparsity(0.5, begin_step=5, end_step=4)
    with pytest.raises(ValueError, match="got -2"):
        ConstantSparsity(0.5, begin_step=0, end_step=-2)
    with pytest.raises(ValueError, match="only allowed for ConstantSparsity"):
        PolynomialDecay(0.0, 0.5, begin_step=0, end_step=-1)
    with pytest.raises(ValueError, match=r"end_step must be an int in \[begin_step"):
        PolynomialDecay(0.0, 0.5, begin_step=5, end_step=4)
    with pytest.raises(
        ValueError, match=r"frequency must be an int in \[1, 2\*\*62\]; got 0"
    ):
        ConstantSparsity(0.5, 0, frequency=0)
    ConstantSparsity(0.5, 0, frequency=1)
    with pytest.raises(TypeError, match="begin_step must be an int"):
        ConstantSparsity(0.5, 1.0)
    with pytest.raises(TypeError, match="frequency must be an int"):
        ConstantSparsity(0.5, 0, frequency=True)


def test_power_validation():
    assert PolynomialDecay(0.1, 0.5, 0, 10, power=0)(5)[1] == 0.1  # pow(x, 0) = 1
    PolynomialDecay(0.1, 0.5, 0, 10, power=0.5)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"power must be a float in \[0, inf\)"):
            PolynomialDecay(0.1, 0.5, 0, 10, power=bad)
    with pytest.raises(TypeError, match="power must be a float"):
        PolynomialDecay(0.1, 0.5, 0, 10, power="3")


# ----------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "schedule",
    [
        PolynomialDecay(0.0, 0.75, 1000, 5000),
        PolynomialDecay(0.5, 0.95, 100, 350, power=2.5, frequency=7),
        ConstantSparsity(0.5, 0),
        ConstantSparsity(0.25, 10, end_step=99, frequency=3),
    ],
)
def test_config_round_trip(schedule):
    config = json.loads(json.dumps(schedule.get_config()))
    assert config["class_name"] == type(schedule).__name__
    for rebuilt in (
        schedule_from_config(config),
        type(schedule).from_config(config),
        type(schedule).from_config(config["config"]),  # tfmot's bare kwargs
        PruningSchedule.from_config(config),
    ):
        assert type(rebuilt) is type(schedule)
        assert rebuilt == schedule
        assert hash(rebuilt) == hash(schedule)
        assert rebuilt.get_config() == schedule.get_config()
        steps = np.arange(0, 6000, 13)
        assert np.array_equal(rebuilt.sparsity_at(steps), schedule.sparsity_at(steps))
    assert repr(schedule).startswith(type(schedule).__name__ + "(")


def test_from_config_errors():
    with pytest.raises(ValueError, match=r"class_name'\] must be one of"):
        schedule_from_config({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="class_name must be 'ConstantSparsity'"):
        ConstantSparsity.from_config(PolynomialDecay(0, 0.5, 0, 9).get_config())
    with pytest.raises(TypeError, match="config must be a dict"):
        schedule_from_config([1])
    assert set(SCHEDULES) == {"ConstantSparsity", "PolynomialDecay"}


def test_equality():
    assert PolynomialDecay(0, 0.5, 0, 9) != PolynomialDecay(0, 0.5, 0, 10)
    assert ConstantSparsity(0.5, 0) != "ConstantSparsity"


# ----------------------------------------------------------------------- issue 10
def test_steps_bounded_so_int64_never_overflows():
    top = 2**62
    s = PolynomialDecay(0.0, 0.5, begin_step=top - 10, end_step=top, frequency=5)
    assert s(top) == (True, 0.5) and s(-top)[0] is False
    ConstantSparsity(0.5, begin_step=top, end_step=top, frequency=top)
    for kwargs, name in [
        ({"begin_step": 2**70}, "begin_step"),
        ({"begin_step": top + 1}, "begin_step"),
        ({"end_step": 2**64}, "end_step"),
        ({"frequency": 2**70}, "frequency"),
    ]:
        args = {"begin_step": 0, "end_step": 10, "frequency": 1, **kwargs}
        with pytest.raises(ValueError, match=rf"{name} must be .*2\*\*62\]; got"):
            PolynomialDecay(0.0, 0.5, **args)
        with pytest.raises(ValueError, match=rf"{name} must be .*2\*\*62\]; got"):
            ConstantSparsity(0.5, **args)
    with pytest.raises(
        ValueError, match=r"step must be an int in \[-2\*\*62, 2\*\*62\]"
    ):
        s(2**63)


def test_schedule_that_would_lower_the_sparsity_is_refused():
    with pytest.raises(
        ValueError,
        match=r"final_sparsity must be a float in \[initial_sparsity, 1\) = \[0.9, 1\)",
    ):
        PolynomialDecay(0.9, 0.5, 0, 100)
    assert PolynomialDecay(0.5, 0.5, 0, 100)(50) == (False, 0.5)  # flat is fine


# ------------------------------------------------- tfmot's float32 sparsity
def _tfmot_float32_reference(schedule, step):
    """tfmot's PolynomialDecay.__call__ op by op in float32, the power exact.

    Every operation rounds to float32 as TensorFlow's do; ``(1 - p) ** power``
    is computed exactly (fractions) and rounded once, as a correctly rounded
    ``powf`` does.
    """
    from fractions import Fraction

    f32 = np.float32
    p = f32(step - schedule.begin_step) / f32(schedule.end_step - schedule.begin_step)
    u = f32(1.0) - min(f32(1.0), max(f32(0.0), p))
    power = f32(float(Fraction(float(u)) ** int(schedule.power)))
    d = f32(schedule.initial_sparsity - schedule.final_sparsity)
    return float(d * power + f32(schedule.final_sparsity))


TFMOT_SCHEDULES = [
    PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000),  # the tutorial's
    PolynomialDecay(0.2, 0.8, begin_step=100, end_step=1000, frequency=1),
    PolynomialDecay(0.5, 0.95, begin_step=100, end_step=350, frequency=7),
    PolynomialDecay(0.1, 0.9, begin_step=0, end_step=777, power=2, frequency=1),
]


@pytest.mark.parametrize("schedule", TFMOT_SCHEDULES, ids=repr)
def test_sparsity_float32_is_tfmot_float32_arithmetic(schedule):
    steps = range(schedule.end_step + 50)
    ours = [schedule.sparsity_float32(t) for t in steps]
    assert ours == [_tfmot_float32_reference(schedule, t) for t in steps]
    # Within one float32 ulp of the float64 schedule, and a float32 value.
    s64 = schedule.sparsity_at(np.asarray(steps))
    np.testing.assert_allclose(ours, s64, rtol=0, atol=1.2e-7)
    assert all(float(np.float32(v)) == v for v in ours)
    # The float64 value rounded to float32 is not tfmot's at some steps: the
    # reason the engine ranks with sparsity_float32.
    assert any(float(np.float32(a)) != b for a, b in zip(s64, ours, strict=True))


def test_sparsity_float32_agrees_with_torch_float32_ops():
    """An independent float32 implementation: torch's ops, torch's pow."""
    torch = pytest.importorskip("torch")
    schedule = TFMOT_SCHEDULES[0]
    off = []
    for t in range(6001):
        p = torch.tensor(float(t - 1000)) / torch.tensor(4000.0)
        u = 1 - torch.clamp(p, 0.0, 1.0)
        s = torch.tensor(-0.75) * torch.pow(u, torch.tensor(3.0)) + torch.tensor(0.75)
        if float(s) != schedule.sparsity_float32(t):
            off.append(t)
    # torch's float32 pow is not correctly rounded at step 2668, where
    # (1 - p)^3 = 0.19815529137594 lies 3e-12 from the midpoint of two floats.
    assert off == [2668]


def test_base_sparsity_float32_rounds_the_float64_value():
    s = ConstantSparsity(0.8, begin_step=0)
    assert s.sparsity_float32(5) == float(np.float32(0.8))
    step = PolynomialDecay(0.3, 0.6, begin_step=10, end_step=10)  # tfmot: NaN
    assert step.sparsity_float32(10) == float(np.float32(0.6))
    assert step.sparsity_float32(9) == float(np.float32(0.3))

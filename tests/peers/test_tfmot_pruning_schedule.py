"""tfmot's own schedule tests, translated to sparsecore.

Source: tensorflow/model-optimization,
tensorflow_model_optimization/python/core/sparsity/keras/pruning_schedule_test.py.
Each test names the test it translates. Adaptations (see docs/semantics.md,
"Where sparsecore differs"): tfmot's schedules return float32 tensors, sparsecore's
Python floats computed in float64 (values compared to 1e-6, as tfmot's
assertAllClose); PolynomialDecay with begin_step == end_step is accepted by both
(tfmot returns NaN at that step, sparsecore defines p = 1 there); a falling
PolynomialDecay (final below initial) is accepted by tfmot and refused by
sparsecore, so the sparsity checks pair each value with 0 or 0.99.
"""

import pytest

from sparsecore.prune import ConstantSparsity, PolynomialDecay, schedule_from_config

SCHEDULES = ["constant_sparsity", "polynomial_decay"]


def construct(schedule_type, begin_step, end_step, frequency=10):
    """tfmot: PruningScheduleTest._construct_pruning_schedule."""
    if schedule_type == "constant_sparsity":
        return ConstantSparsity(0.5, begin_step, end_step, frequency)
    return PolynomialDecay(0.2, 0.8, begin_step, end_step, 3, frequency)


# tfmot: PruningScheduleTest.testBeginStepGreaterThanEqualsZero
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_begin_step_greater_than_equals_zero(schedule_type):
    for bad in (-1, -5):
        with pytest.raises(ValueError):
            construct(schedule_type, bad, 1000)
    for good in (0, 1, 100):
        construct(schedule_type, good, 1000)


# tfmot: PruningScheduleTest.testEndStepGreaterThanEqualsZero
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_end_step_greater_than_equals_zero(schedule_type):
    with pytest.raises(ValueError):
        construct(schedule_type, 10, -5)
    # (0, 0): tfmot accepts it and divides 0 by 0 in PolynomialDecay (NaN);
    # sparsecore accepts it and defines p = 1 (a deliberate difference).
    construct(schedule_type, 0, 0)
    construct(schedule_type, 0, 1)
    construct(schedule_type, 0, 100)


# tfmot: PruningScheduleTest.testEndStepGreaterThanEqualsBeginStep
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_end_step_greater_than_equals_begin_step(schedule_type):
    with pytest.raises(ValueError):
        construct(schedule_type, 10, 5)
    construct(schedule_type, 10, 10)
    construct(schedule_type, 10, 20)


# tfmot: PruningScheduleTest.testFrequencyIsPositive
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_frequency_is_positive(schedule_type):
    for bad in (0, -1, -5):
        with pytest.raises(ValueError):
            construct(schedule_type, 10, 1000, bad)
    construct(schedule_type, 10, 1000, 1)
    construct(schedule_type, 10, 1000, 10)


def validate_sparsity(make):
    """tfmot: PruningScheduleTest._validate_sparsity."""
    for bad in (-0.001, -1.0, -10.0, 1.0, 10.0):
        with pytest.raises(ValueError):
            make(bad)
    for good in (0.0, 0.001, 0.5, 0.99):
        make(good)


# tfmot: PruningScheduleTest.testSparsityValueIsValid
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_sparsity_value_is_valid(schedule_type):
    if schedule_type == "constant_sparsity":
        validate_sparsity(lambda s: ConstantSparsity(s, 0))
    else:
        # (tfmot: (s, 0.8) and (0.2, s); sparsecore refuses final < initial)
        validate_sparsity(lambda s: PolynomialDecay(s, 0.99, 0, 10))
        validate_sparsity(lambda s: PolynomialDecay(0.0, s, 0, 10))


# tfmot: PruningScheduleTest.testPrunesOnlyInBeginEndStepRange
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_prunes_only_in_begin_end_step_range(schedule_type):
    sparsity = construct(schedule_type, 100, 200, 1)
    for step in (90, 99, 201, 210):
        assert not sparsity(step)[0]
    for step in (100, 110, 200):
        assert sparsity(step)[0]


# tfmot: PruningScheduleTest.testOnlyPrunesAtValidFrequencySteps
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_only_prunes_at_valid_frequency_steps(schedule_type):
    sparsity = construct(schedule_type, 100, 200, 10)
    assert not sparsity(109)[0]
    assert not sparsity(111)[0]
    assert sparsity(100)[0]
    assert sparsity(110)[0]


# tfmot: ConstantSparsityTest.testPrunesForeverIfEndStepIsNegativeOne
def test_prunes_forever_if_end_step_is_negative_one():
    sparsity = ConstantSparsity(0.5, 0, -1, 10)
    for step in (10000, 100000000):
        assert sparsity(step)[0]
        assert sparsity(step)[1] == pytest.approx(0.5, rel=1e-6, abs=1e-6)


# tfmot: ConstantSparsityTest.testPrunesWithConstantSparsity
def test_prunes_with_constant_sparsity():
    sparsity = ConstantSparsity(0.5, 100, 200, 10)
    for step in (100, 110, 200):
        assert sparsity(step)[1] == pytest.approx(0.5, rel=1e-6, abs=1e-6)


# tfmot: ConstantSparsityTest.testSerializeDeserialize
def test_constant_sparsity_serialize_deserialize():
    sparsity = ConstantSparsity(0.7, 10, 20, 10)
    back = schedule_from_config(sparsity.get_config())
    assert back.__dict__ == sparsity.__dict__


# tfmot: PolynomialDecayTest.testRaisesErrorIfEndStepIsNegative
def test_polynomial_decay_raises_error_if_end_step_is_negative():
    with pytest.raises(ValueError):
        PolynomialDecay(0.4, 0.8, 10, -1)


# tfmot: PolynomialDecayTest.testPolynomialDecay_PrunesCorrectly
def test_polynomial_decay_prunes_correctly():
    sparsity = PolynomialDecay(0.2, 0.8, 100, 110, 3, 2)
    # "These values were generated using tf.polynomial_decay with the same
    # params in a colab to verify." (tfmot's comment)
    for step, expected in ((100, 0.2), (102, 0.4928), (105, 0.725), (110, 0.8)):
        assert sparsity(step)[1] == pytest.approx(expected, rel=1e-6, abs=1e-6)


# tfmot: PolynomialDecayTest.testSerializeDeserialize
def test_polynomial_decay_serialize_deserialize():
    sparsity = PolynomialDecay(0.2, 0.6, 10, 20, 5, 10)
    back = schedule_from_config(sparsity.get_config())
    assert back.__dict__ == sparsity.__dict__

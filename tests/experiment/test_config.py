"""sparsecore.experiment.config: ExperimentConfig, its defaults and its checks."""

import pytest

from sparsecore.experiment import ExperimentConfig


def test_defaults_are_the_tutorial():
    c = ExperimentConfig()
    assert (c.n_samples, c.n_features, c.n_informative, c.noise) == (
        10000,
        1000,
        500,
        3,
    )
    assert (c.data_seed, c.test_size, c.split_seed) == (0, 0.2, 42)
    assert c.hidden == (1024, 1024)
    assert (c.epochs, c.batch_size, c.learning_rate) == (200, 1024, 1e-3)
    assert (c.initial_sparsity, c.final_sparsity) == (0.0, 0.75)
    assert (c.begin_step, c.end_step, c.frequency, c.power) == (1000, 5000, 100, 3)
    assert c.n_train == 8000
    assert c.steps_per_epoch == 8  # so 200 epochs = 1600 steps < 5000


def test_quick_schedule_completes_within_its_epochs():
    q = ExperimentConfig.quick()
    total = q.steps_per_epoch * q.epochs
    assert q.begin_step < q.end_step < total
    assert (q.end_step - q.begin_step) % q.frequency == 0
    assert q.schedule().last_pruning_step(total) == q.end_step


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("epochs", 0, r"epochs must be an int in \[1, inf\); got 0"),
        ("batch_size", 1.5, "batch_size must be an int"),
        ("test_size", 1.0, r"test_size must be a float in \(0, 1\); got 1.0"),
        ("test_size", 0.0, r"test_size must be a float in \(0, 1\); got 0.0"),
        ("final_sparsity", 1.0, r"final_sparsity must be a float in \[0, 1\)"),
        ("initial_sparsity", -0.001, r"initial_sparsity must be a float in \[0, 1\)"),
        ("end_step", 10, "end_step must be"),
        ("frequency", 0, "frequency must be"),
        ("scope", "model", r"scope must be one of \['global', 'layer'\]"),
        ("criterion", "nm", "criterion must be one of"),
        ("hidden", (8, 0), "hidden must be a tuple of ints"),
        ("dtype", "float16", "dtype must be one of"),
        ("learning_rate", 0.0, "learning_rate must be a float in"),
    ],
)
def test_config_rejects_bad_values(field, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ExperimentConfig(begin_step=100, end_step=200).replace(**{field: value})


def test_config_accepts_boundaries():
    c = ExperimentConfig().replace(
        final_sparsity=0.99, initial_sparsity=0.0, begin_step=0, end_step=0, hidden=[4]
    )
    assert c.hidden == (4,)


def test_config_replace_rejects_unknown_fields():
    with pytest.raises(
        ValueError, match=r"unknown ExperimentConfig fields: \['epoch'\]"
    ):
        ExperimentConfig().replace(epoch=3)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("epochs", True, r"epochs must be an int in \[1, inf\); got True"),
        ("seed", "0", r"seed must be an int in \[0, inf\); got '0'"),
        ("noise", None, r"noise must be a float in \[0, inf\); got None"),
    ],
)
def test_config_wrong_types_raise_type_error(field, value, match):
    # The checks are sparsecore._checks': a bool is not an int, and a wrong
    # type is a TypeError with the same "<name> must be <constraint>" message.
    with pytest.raises(TypeError, match=match):
        ExperimentConfig().replace(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("noise", -1.0, r"noise must be a float in \[0, inf\); got -1.0"),
        ("noise", float("nan"), r"noise must be a float in \[0, inf\); got nan"),
        ("timing_budget", float("inf"), r"timing_budget must be a float in \[0, inf\)"),
        ("n_informative", -1, r"n_informative must be an int in \[0, inf\); got -1"),
        ("dtype", "float16", r"dtype must be one of \['float32', 'float64'\]"),
        (
            "criterion",
            "nm",
            r"criterion must be one of \['magnitude', 'random', 'structured'\]",
        ),
    ],
)
def test_config_messages_name_the_constraint(field, value, match):
    with pytest.raises(ValueError, match=match):
        ExperimentConfig().replace(**{field: value})

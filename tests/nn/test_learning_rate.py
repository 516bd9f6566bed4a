"""Learning-rate schedules: Keras' formulas, the optimizer's step, checkpoints."""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.checkpoint.write import checkpoint_arrays
from sparsecore.nn.learning_rate import (
    LEARNING_RATE_SCHEDULES,
    CosineDecay,
    ExponentialDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    deserialize,
    serialize,
)
from sparsecore.runtime.atomic import atomic_savez

steps = st.integers(0, 10_000)


# ---------------------------------------------------------------- formulas (Keras')


def keras_cosine(step, lr0, decay_steps, alpha=0.0, target=None, warmup=0):
    """Keras 3's CosineDecay.__call__, written out from its source."""
    if target is None:
        s = min(step, decay_steps)
        return lr0 * (
            (1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay_steps)) + alpha
        )
    s = min(step, decay_steps + warmup)
    if s < warmup:
        return (target - lr0) * (s / warmup) + lr0
    s -= warmup
    return target * (
        (1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay_steps)) + alpha
    )


@given(
    step=steps,
    lr0=st.floats(1e-6, 1.0),
    decay_steps=st.integers(1, 5000),
    alpha=st.floats(0.0, 1.0),
)
def test_cosine_decay_is_keras_formula(step, lr0, decay_steps, alpha):
    s = CosineDecay(lr0, decay_steps, alpha=alpha)
    assert s(step) == pytest.approx(keras_cosine(step, lr0, decay_steps, alpha))
    assert min(lr0, alpha * lr0) - 1e-15 <= s(step) <= lr0 + 1e-15
    assert s(step + 1) <= s(step) + 1e-15  # never rises


@given(
    step=steps,
    lr0=st.floats(0.0, 0.1),
    target=st.floats(1e-4, 1.0),
    warmup=st.integers(0, 3000),
    decay_steps=st.integers(1, 5000),
    alpha=st.floats(0.0, 1.0),
)
def test_cosine_warmup_is_keras_formula(step, lr0, target, warmup, decay_steps, alpha):
    s = CosineDecay(lr0, decay_steps, alpha, warmup_target=target, warmup_steps=warmup)
    expected = keras_cosine(step, lr0, decay_steps, alpha, target, warmup)
    assert s(step) == pytest.approx(expected)
    if step < warmup:  # linear from lr0 to the target
        assert s(step) == pytest.approx(lr0 + (target - lr0) * step / warmup)


def test_cosine_landmarks():
    s = CosineDecay(0.1, 100, alpha=0.1)
    assert s(0) == 0.1 and s(100) == pytest.approx(0.01) and s(10**6) == s(100)
    assert s(50) == pytest.approx(0.1 * (0.9 * 0.5 + 0.1))
    w = CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    assert [w(t) for t in (0, 5, 10)] == [0.0, 0.05, 0.1]
    constant = CosineDecay(0.0, 1, alpha=1.0, warmup_target=0.2, warmup_steps=4)
    assert [constant(t) for t in range(7)] == pytest.approx(
        [0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.2]
    )


@given(
    step=steps,
    lr0=st.floats(1e-6, 1.0),
    decay_steps=st.integers(1, 1000),
    rate=st.floats(0.01, 1.0),
    staircase=st.booleans(),
)
def test_exponential_decay_is_keras_formula(step, lr0, decay_steps, rate, staircase):
    p = step / decay_steps
    expected = lr0 * rate ** (math.floor(p) if staircase else p)
    s = ExponentialDecay(lr0, decay_steps, rate, staircase=staircase)
    assert s(step) == pytest.approx(expected)


def test_step_decay_keeps_each_period_constant():
    s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [s(t) for t in (0, 9, 10, 19, 20)] == [0.1, 0.1, 0.05, 0.05, 0.025]


@given(
    bounds=st.lists(st.integers(0, 1000), min_size=0, max_size=5, unique=True),
    step=st.integers(0, 1200),
    seed=st.integers(0, 100),
)
def test_piecewise_constant_is_keras_rule(bounds, step, seed):
    bounds = sorted(bounds)
    values = list(np.random.default_rng(seed).random(len(bounds) + 1))
    s = PiecewiseConstantDecay(bounds, values)
    # Keras: values[0] while step <= b0, values[i] while b_{i-1} < step <= b_i
    i = sum(step > b for b in bounds)
    assert s(step) == values[i]


def test_piecewise_boundaries_belong_to_the_interval_they_end():
    s = PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])
    assert [s(t) for t in (0, 100, 101, 200, 201)] == [1.0, 1.0, 0.5, 0.5, 0.1]


# ---------------------------------------------------------------- validation


R = ValueError


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: CosineDecay(0.1, 0), R, r"decay_steps must be an int in \[1, inf\); "
         r"got 0"),
        (lambda: CosineDecay(0.1, 1.5), TypeError, r"decay_steps must be an int"),
        (lambda: CosineDecay(0.1, True), TypeError, r"decay_steps must be an int"),
        (lambda: CosineDecay(-0.1, 10), R, r"initial_learning_rate must be a float in "
         r"\[0, inf\)"),
        (lambda: CosineDecay(0.0, 10), R, r"initial_learning_rate must be a float in "
         r"\(0, inf\) without a warm-up; got 0\.0"),
        (lambda: CosineDecay(math.inf, 10), R, r"initial_learning_rate must be"),
        (lambda: CosineDecay(0.1, 10, alpha=1.1), R, r"alpha must be a float in "
         r"\[0, 1\]; got 1\.1"),
        (lambda: CosineDecay(0.1, 10, warmup_steps=5), R, r"warmup_steps > 0 needs a "
         r"warmup_target"),
        (lambda: CosineDecay(0.0, 10, warmup_target=0.0, warmup_steps=5), R,
         r"warmup_target must be a float in \(0, inf\)"),
        (lambda: CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=-1), R,
         r"warmup_steps must be an int in \[0, inf\)"),
        (lambda: ExponentialDecay(0.1, 10, 0.0), R, r"decay_rate must be a float in "
         r"\(0, 1\]; got 0\.0"),
        (lambda: ExponentialDecay(0.1, 10, 1.5), R, r"decay_rate must be a float in "
         r"\(0, 1\]"),
        (lambda: ExponentialDecay(0.0, 10, 0.5), R, r"initial_learning_rate must be "
         r"a float in \(0, inf\)"),
        (lambda: ExponentialDecay(0.1, 10, 0.5, staircase=1), TypeError,
         r"staircase must be a bool; got 1"),
        (lambda: PiecewiseConstantDecay([10, 10], [1.0, 0.5, 0.1]), R,
         r"boundaries must be strictly increasing; got 10 then 10"),
        (lambda: PiecewiseConstantDecay([10], [1.0]), R, r"values must have "
         r"len\(boundaries\) \+ 1 = 2 entries; got 1"),
        (lambda: PiecewiseConstantDecay([-1], [1.0, 0.5]), R, r"boundaries\[0\] must "
         r"be an int in \[0, inf\); got -1"),
        (lambda: PiecewiseConstantDecay([5], [1.0, -0.5]), R, r"values\[1\] must be "
         r"a float in \[0, inf\); got -0\.5"),
        (lambda: PiecewiseConstantDecay(5, [1.0]), TypeError, r"boundaries must be a "
         r"list; got 5"),
    ],
)  # fmt: skip
def test_schedules_reject(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_boundaries_accepted():
    assert CosineDecay(1e-9, 1, alpha=0.0)(0) == 1e-9
    assert CosineDecay(0.1, 1, alpha=1.0)(5) == 0.1
    assert CosineDecay(0.0, 1, warmup_target=0.1, warmup_steps=0)(0) == 0.1
    assert ExponentialDecay(0.1, 1, 1.0)(1000) == 0.1
    assert PiecewiseConstantDecay([], [0.3])(10**9) == 0.3
    assert PiecewiseConstantDecay((0, 1), (0.0, 1, 2.0))(1) == 1.0


def test_step_is_validated():
    s = CosineDecay(0.1, 10)
    with pytest.raises(ValueError, match=r"step must be an int in \[0, inf\); got -1"):
        s(-1)
    with pytest.raises(TypeError, match=r"step must be an int"):
        s(1.0)
    assert s(np.int64(3)) == s(3)


# ---------------------------------------------------------------- serialisation


SCHEDULES = [
    CosineDecay(0.1, 100, alpha=0.05),
    CosineDecay(0.0, 50, warmup_target=0.01, warmup_steps=7),
    ExponentialDecay(0.02, 10, 0.9, staircase=True),
    PiecewiseConstantDecay([5, 20], [0.1, 0.05, 0.01]),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_serialize_round_trip(schedule):
    spec = serialize(schedule)
    assert spec == {
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
    }
    back = deserialize(json.loads(json.dumps(spec)))
    assert type(back) is type(schedule)
    assert back.get_config() == schedule.get_config()
    assert [back(t) for t in range(0, 200, 7)] == [
        schedule(t) for t in range(0, 200, 7)
    ]
    assert eval(repr(schedule), vars(sc)).get_config() == schedule.get_config()


def test_registry_and_deserialize_errors():
    assert set(LEARNING_RATE_SCHEDULES) == {
        "CosineDecay",
        "ExponentialDecay",
        "PiecewiseConstantDecay",
    }
    with pytest.raises(ValueError, match=r"class_name must be one of \['CosineDecay'"):
        deserialize({"class_name": "Lambda", "config": {}})
    with pytest.raises(ValueError, match=r"class_name must be one of"):
        deserialize({"class_name": ["CosineDecay"], "config": {}})  # unhashable
    with pytest.raises(ValueError, match=r"spec must have the keys"):
        deserialize({"class_name": "CosineDecay"})
    with pytest.raises(TypeError, match=r"config must be a mapping"):
        deserialize({"class_name": "CosineDecay", "config": [0.1, 10]})
    with pytest.raises(TypeError, match=r"schedule must be a LearningRateSchedule"):
        serialize(lambda step: 0.1)
    with pytest.raises(NotImplementedError):
        LearningRateSchedule()(0)


# ---------------------------------------------------------------- in optimizers


@pytest.mark.parametrize(
    "make", [sc.SGD, lambda lr: sc.SGD(lr, momentum=0.9), sc.Adam, sc.AdamW]
)
def test_every_optimizer_takes_a_schedule_and_uses_the_step_before_the_update(make):
    """Each update t (0-based) moves exactly as a constant rate of schedule(t)."""
    schedule = ExponentialDecay(0.1, 1, 0.5)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5) for _ in range(4)]
    w, w_ref = np.ones(5), np.ones(5)
    scheduled, reference = make(schedule), make(0.1)
    for t, g in enumerate(grads):
        assert scheduled.iterations == t
        assert scheduled.current_learning_rate() == schedule(t)
        reference.learning_rate = schedule(t)  # a constant, changed by hand
        scheduled.apply({"w": w}, {"w": g})
        reference.apply({"w": w_ref}, {"w": g})
        np.testing.assert_array_equal(w, w_ref)


def test_a_plain_function_of_the_step_works():
    seen = []

    def lr(step):
        seen.append(step)
        return 0.1 / (1 + step)

    opt = sc.SGD(lr)
    w = np.zeros(1)
    for _ in range(3):
        opt.apply({"w": w}, {"w": np.ones(1)})
    assert seen == [0, 1, 2]
    assert w[0] == pytest.approx(-(0.1 + 0.05 + 0.1 / 3))


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, "0.1", None])
def test_a_schedule_returning_nonsense_is_refused(bad):
    opt = sc.Adam(lambda step: bad)
    with pytest.raises(ValueError, match=r"learning_rate\(0\) must return a finite "
                       r"float in \[0, inf\); got"):  # fmt: skip
        opt.apply({"w": np.zeros(2)}, {"w": np.ones(2)})


def test_optimizer_config_holds_the_serialised_schedule():
    schedule = CosineDecay(1e-2, 100, warmup_target=2e-2, warmup_steps=10)
    opt = sc.Adam(schedule, beta_1=0.8)
    config = opt.get_config()
    assert config["learning_rate"] == serialize(schedule)
    json.dumps(config)  # plain JSON
    back = sc.Adam.from_config(config)
    assert back.get_config() == config and back.beta_1 == 0.8
    assert repr(opt).startswith("Adam(learning_rate=CosineDecay(initial_learning_rate")
    assert sc.SGD.from_config(sc.SGD(0.5).get_config()).learning_rate == 0.5


# ---------------------------------------------------------------- fit, checkpoints


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    return x, rng.integers(0, 3, 40)


def _model(schedule):
    model = sc.Sequential([sc.Dense(8), sc.ReLU(), sc.Dense(3)], input_dim=3, seed=0)
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(schedule),
        metrics=["accuracy"],
    )
    return model


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_resume_from_a_checkpoint_is_bit_identical(tmp_path, schedule):
    """2N epochs in one go == N epochs, save, load, N more: weights, slots, history."""
    x, y = _data()
    whole = _model(schedule)
    whole.fit(x, y, epochs=6, batch_size=8, validation_data=(x, y), verbose=0, seed=1)
    half = _model(schedule)
    half.fit(x, y, epochs=3, batch_size=8, validation_data=(x, y), verbose=0, seed=1)
    half.save(tmp_path / "c.npz")
    back = sc.load_model(tmp_path / "c.npz")
    assert back.optimizer.get_config() == half.optimizer.get_config()
    assert back.metric_specs == ["accuracy"]
    back.fit(
        x, y, epochs=6, batch_size=8, validation_data=(x, y), verbose=0,
        initial_epoch=back.epoch,
    )  # fmt: skip
    for a, b in zip(whole.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for name, slots in whole.optimizer.state.items():
        for slot, a in slots.items():
            np.testing.assert_array_equal(a, back.optimizer.state[name][slot])
    assert back.optimizer.iterations == whole.optimizer.iterations == 30
    # model.history is the record of every epoch, the loaded run's included
    assert back.history.history["val_accuracy"] == whole.history.history["val_accuracy"]
    assert back.history.history["loss"] == whole.history.history["loss"]


def test_a_plain_function_or_a_custom_metric_cannot_be_checkpointed(tmp_path):
    model = _model(lambda step: 1e-3)
    with pytest.raises(TypeError, match=r"cannot checkpoint learning-rate schedule "
                       r"'function'"):  # fmt: skip
        model.save(tmp_path / "c.npz")

    def score(y_true, y_pred, sample_weight=None):
        return 0.0

    model = _model(1e-3)
    model.compile(model.loss, model.optimizer, metrics=[score])
    with pytest.raises(TypeError, match=r"cannot checkpoint metric <function"):
        model.save(tmp_path / "c.npz")


def _edited(model, path, edit):
    arrays = checkpoint_arrays(model)
    header = json.loads(str(arrays["header"]))
    edit(header)
    atomic_savez(path, {**arrays, "header": np.array(json.dumps(header))})
    return path


def _lr(h):
    return h["compile"]["optimizer"]["config"]["learning_rate"]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h: _lr(h).update(class_name="Lambda"),
         r"learning_rate.class_name: must be one of \['CosineDecay'"),
        (lambda h: _lr(h).update(evil=1), r"learning_rate: keys must be"),
        (lambda h: _lr(h)["config"].update(decay_steps=0),
         r"learning_rate.config: invalid CosineDecay config \(decay_steps must be"),
        (lambda h: _lr(h)["config"].update(decay_steps=10.0),
         r"learning_rate.config: invalid CosineDecay config"),
        (lambda h: _lr(h)["config"].update(alpha=0),
         r"learning_rate.config: not a canonical CosineDecay config"),
        (lambda h: _lr(h)["config"].pop("alpha"),
         r"learning_rate.config: not a canonical CosineDecay config"),
        (lambda h: h["compile"].update(metrics=["accuracy", "evil"]),
         r"compile.metrics: must be a list of metric names"),
        (lambda h: h["compile"].update(metrics="accuracy"),
         r"compile.metrics: must be a list of metric names"),
        (lambda h: h["compile"].update(metrics=["mae", "mae"]),
         r"compile.metrics: invalid metrics"),
        (lambda h: h["compile"].update(evil=[]), r"compile: keys must be"),
    ],
)  # fmt: skip
def test_bad_schedules_and_metrics_in_a_file_are_refused(tmp_path, edit, match):
    model = _model(CosineDecay(1e-2, 100))
    path = _edited(model, tmp_path / "bad.npz", edit)
    with pytest.raises(sc.CheckpointFormatError, match=match):
        sc.load_model(path)


def test_a_model_without_metrics_writes_no_metrics_key(tmp_path):
    model = _model(1e-3)
    model.compile(model.loss, model.optimizer)
    header = json.loads(str(checkpoint_arrays(model)["header"]))
    assert set(header["compile"]) == {"loss", "optimizer"}
    model.save(tmp_path / "c.npz")
    assert sc.load_model(tmp_path / "c.npz").metrics == {}

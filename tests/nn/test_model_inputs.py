"""fit refuses bad training inputs before any step, and stops on divergence.

Bad inputs (non-finite, empty, mismatched lengths, non-real dtypes) raise a
clear error before the first training step: no callback runs, no weight or
optimizer slot moves. A loss or gradient that becomes NaN/inf raises
NonFiniteLossError naming epoch and step, leaving the weights of the last
finite step (unless check_finite=False).
"""

import datetime

import numpy as np
import pytest

import sparsecore as sc


class Recorder(sc.Callback):
    """Counts hook calls and snapshots the weights after every optimizer step."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.snapshots = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append("batch")

    def on_after_optimizer_step(self):
        self.snapshots.append([w.copy() for w in self.model.get_weights()])


def make_model(dtype="float32", n_out=1, lr=1e-2):
    model = sc.Sequential(
        [sc.Dense(4), sc.ReLU(), sc.Dense(n_out)], input_dim=3, seed=0, dtype=dtype
    )
    model.compile("mse", sc.Adam(lr))
    return model


def data(n=8, n_out=1):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)), rng.standard_normal((n, n_out))


def assert_refused_before_any_step(error, match, x, y, **kwargs):
    model = make_model()
    before = model.get_weights()
    rec = Recorder()
    with pytest.raises(error, match=match):
        model.fit(x, y, epochs=2, batch_size=4, callbacks=[rec], verbose=0, **kwargs)
    assert rec.calls == [] and model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(not s.any() for s in model.optimizer.state["dense_0/kernel"].values())


# ---------------------------------------------------------------- non-finite


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "y", "x_val", "y_val"])
def test_non_finite_values_refused(bad, where):
    x, y = data()
    arrays = {"x": x, "y": y, "x_val": x.copy(), "y_val": y.copy()}
    arrays[where][5, 0] = bad
    assert_refused_before_any_step(
        ValueError,
        rf"{where} must contain only finite values; found NaN or inf in 1 "
        r"sample\(s\), the first at row 5",
        arrays["x"],
        arrays["y"],
        validation_data=(arrays["x_val"], arrays["y_val"]),
    )


def test_float64_values_that_overflow_float32_refused():
    x, y = data()
    x[3, 2] = 1e300  # finite in float64, inf in float32
    assert_refused_before_any_step(
        ValueError,
        r"x must fit in float32 \(\|value\| <= 3.403e\+38\); found NaN or inf in 1 "
        r"sample\(s\), the first at row 3",
        x,
        y,
    )


def test_large_but_representable_values_accepted():
    x, y = data()
    x[0, 0] = 3e38  # float32 max is 3.4e38
    model = make_model(dtype="float64")
    model.fit(x, y, epochs=1, verbose=0)  # float64 model: any float64 is fine
    assert model.dtype == np.float64
    assert all(np.isfinite(w).all() for w in model.weights().values())
    prepared = make_model()._prepare_x(x, "x")  # fits float32
    assert prepared.dtype == np.float32 and prepared[0, 0] == np.float32(3e38)


def test_int_and_bool_inputs_accepted():
    model = make_model()
    x = np.arange(24, dtype=np.int64).reshape(8, 3)
    y = (np.arange(8) % 2).astype(bool)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 1


# ---------------------------------------------------------------- empty and lengths


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((0, 3)), np.zeros((0, 1)), r"x must have at least one sample"),
        (np.zeros((0,)), np.zeros((0,)), r"x must have shape \(n_samples, 3\)"),
        ([], [], r"x must have shape \(n_samples, 3\); got \(0,\)"),
        (np.zeros((4, 3)), np.zeros((0, 1)), "x and y must have the same length"),
        (
            np.zeros((4, 3)),
            np.zeros(5),
            "x and y must have the same length; got 4 and 5",
        ),
        (np.zeros((4, 3)), np.zeros((3, 1)), "got 4 and 3"),
        (np.zeros((4, 2)), np.zeros((4, 1)), r"x must have shape \(n_samples, 3\)"),
        (np.zeros(3), np.zeros(1), r"x must have shape"),
        (np.zeros((4, 3)), np.zeros((4, 2)), r"y must have shape \(n_samples, 1\)"),
        (np.float64(1.0), np.zeros(1), r"x must have shape"),
    ],
)
def test_empty_and_mismatched_refused(x, y, match):
    assert_refused_before_any_step(ValueError, match, x, y)


def test_validation_data_checked_too():
    x, y = data()
    for val, match in [
        ((x[:0], y[:0]), "x_val must have at least one sample"),
        ((x, y[:5]), "x_val and y_val must have the same length; got 8 and 5"),
        ((x,), r"validation_data must be a tuple \(x_val, y_val\)"),
        ((x, y, y[:, 0], y), r"validation_data must be a tuple"),
    ]:
        assert_refused_before_any_step(ValueError, match, x, y, validation_data=val)


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[1, 2, 3]] * 4, dtype=object),
        np.array([[1, None, 3]] * 4),
        np.ones((4, 3), dtype=np.complex128),
        np.ones((4, 3), dtype=np.complex64),
        np.full((4, 3), "1.0"),
        np.full((4, 3), b"1"),
        [["a", "b", "c"]] * 4,
        np.full((4, 3), np.datetime64("2020-01-01")),
        np.full((4, 3), np.timedelta64(1, "s")),
        np.zeros((4, 3), dtype=[("a", "f4")]),
        np.full((4, 3), datetime.date(2020, 1, 1)),
    ],
    ids=[
        "object",
        "None",
        "complex128",
        "complex64",
        "str",
        "bytes",
        "str-list",
        "datetime",
        "timedelta",
        "structured",
        "date-objects",
    ],
)
@pytest.mark.parametrize("where", ["x", "y"])
def test_non_real_dtypes_refused(bad, where):
    x, y = data(4)
    if where == "x":
        x = bad
    else:
        y = np.asarray(bad)[:, :1] if isinstance(bad, np.ndarray) else bad
    assert_refused_before_any_step(
        TypeError, rf"{where} must be a real numeric array \(bool, int or float\)", x, y
    )


def test_ragged_lists_refused():
    x = [[1.0, 2.0, 3.0], [1.0, 2.0]]
    assert_refused_before_any_step(
        ValueError, "x must be a rectangular numeric array; got list", x, [1.0, 2.0]
    )


def test_predict_and_evaluate_validate_too():
    model = make_model()
    with pytest.raises(ValueError, match="x must contain only finite values"):
        model.predict(np.full((2, 3), np.nan))
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        model.evaluate(np.ones((2, 3), complex), np.ones((2, 1)))


# ---------------------------------------------------------------- divergence


def diverging_model():
    """A linear model that SGD at a huge learning rate blows up in a few steps."""
    model = sc.Sequential([sc.Dense(1)], input_dim=3, seed=0)
    model.compile("mse", sc.SGD(learning_rate=50.0))
    return model


def test_divergence_raises_naming_epoch_and_step_and_keeps_last_finite_weights():
    x, y = data(32)
    model = diverging_model()
    rec = Recorder()
    # filterwarnings=error: no numpy overflow warning may escape either
    with pytest.raises(sc.NonFiniteLossError) as info:
        model.fit(x, y, epochs=20, batch_size=4, callbacks=[rec], verbose=0)
    steps_done = len(rec.snapshots)
    assert steps_done >= 2
    epoch, step = divmod(steps_done, 8)  # 8 batches per epoch; this step failed
    assert f"at epoch {epoch + 1}, step {step + 1}" in str(info.value)
    assert "the weights are those of the last finite step" in str(info.value)
    assert model.optimizer.iterations == steps_done
    for a, b in zip(rec.snapshots[-1], model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert model.history.epoch == list(range(epoch))  # only finished epochs


def test_divergence_check_can_be_disabled():
    x, y = data(32)
    model = diverging_model()
    with np.errstate(all="ignore"):
        history = model.fit(x, y, epochs=8, batch_size=4, verbose=0, check_finite=False)
    assert len(history.history["loss"]) == 8
    assert not np.isfinite(history.history["loss"][-1])


def test_without_check_numpy_warnings_are_kept():
    x, y = data(32)
    with pytest.warns(RuntimeWarning, match="overflow|invalid"):
        diverging_model().fit(
            x, y, epochs=8, batch_size=4, verbose=0, check_finite=False
        )


def test_non_finite_gradient_with_finite_loss_raises():
    class NaNGradient(sc.MSE):
        def gradient(self, y_true, y_pred):
            g = super().gradient(y_true, y_pred)
            g[0, 0] = np.nan
            return g

    model = make_model()
    model.compile(NaNGradient(), sc.Adam())
    before = model.get_weights()
    x, y = data()
    with pytest.raises(
        sc.NonFiniteLossError, match="a gradient became NaN or inf at epoch 1, step 1"
    ):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_non_finite_error_is_a_floating_point_error():
    assert issubclass(sc.NonFiniteLossError, FloatingPointError)


def test_epoch_counter_and_history():
    model = make_model()
    x, y = data()
    assert model.epoch == 0
    model.fit(x, y, epochs=3, verbose=0)
    assert model.epoch == 3
    h = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert model.epoch == 5 and h.epoch == [3, 4]
    assert model.history.epoch == [0, 1, 2, 3, 4]  # the record of both fits


# ----------------------------------------------------------------------- issue 10
@pytest.mark.parametrize(
    "make_opt",
    [lambda: sc.Adam(1e6), lambda: sc.SGD(1e6), lambda: sc.SGD(1e6, 0.9, True),
     lambda: sc.AdamW(1e6, weight_decay=1e6)],
    ids=["adam", "sgd", "nesterov", "adamw"],
)  # fmt: skip
def test_divergence_leaves_the_weights_of_the_last_finite_step(make_opt):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    model = make_model()
    model.compile("mse", make_opt())
    rec = Recorder()
    with pytest.raises(
        sc.NonFiniteLossError, match="the weights are those of the last"
    ):
        model.fit(x, 3 * x[:, :1], epochs=50, batch_size=8, callbacks=[rec], verbose=0)
    last = rec.snapshots[-1] if rec.snapshots else make_model().get_weights()
    for a, b in zip(last, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # exactly the last finite step
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert model.optimizer.iterations == len(rec.snapshots)


def test_overflow_on_the_last_step_does_not_return_normally():
    # One step per fit; the update lr * g = 1e6 * ~1e14 is finite in float64
    # arithmetic but beyond sqrt(float32 max): refused, the weights kept.
    model = sc.Sequential([sc.Dense(1, use_bias=False)], input_dim=1, seed=0)
    model.compile("mse", sc.SGD(1e6))
    before = model.get_weights()
    x = np.full((4, 1), 1e7, np.float32)
    with pytest.raises(
        sc.NonFiniteLossError, match="optimizer step at epoch 1, step 1"
    ):
        model.fit(x, np.zeros(4), epochs=1, batch_size=4, verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0], before[0])
    assert model.optimizer.iterations == 0 and model.epoch == 0


def test_infinite_validation_loss_raises():
    model = make_model()
    x, y = data()
    x_val = np.full((4, 3), 1e30, np.float32)  # finite inputs, the loss overflows
    with pytest.raises(sc.NonFiniteLossError, match="val_loss became inf at epoch 1"):
        model.fit(x, y, epochs=2, validation_data=(x_val, np.zeros(4)), verbose=0)
    assert model.history.epoch == []  # not recorded
    with np.errstate(all="ignore"):
        h = model.fit(
            x,
            y,
            epochs=1,
            validation_data=(x_val, np.zeros(4)),
            verbose=0,
            check_finite=False,
        )
    assert h.history["val_loss"] == [np.inf]  # recorded only when asked for


def test_fit_refuses_non_finite_starting_weights():
    model = make_model()
    model.weights()["dense_1/bias"][0] = np.nan
    with pytest.raises(
        ValueError, match="weights must be finite before fit; dense_1/bias"
    ):
        model.fit(*data(), epochs=1, verbose=0)


def test_model_history_keeps_every_fit():
    model = make_model()
    x, y = data()
    h1 = model.fit(x, y, epochs=2, verbose=0)
    h2 = model.fit(x, y, epochs=4, initial_epoch=2, verbose=0)
    h3 = model.fit(x, y, epochs=1, verbose=0)  # a new run from epoch 0: kept too
    assert (h1.epoch, h2.epoch, h3.epoch) == ([0, 1], [2, 3], [0])
    assert model.history.epoch == [0, 1, 2, 3, 0]
    losses = h1.history["loss"] + h2.history["loss"] + h3.history["loss"]
    assert model.history.history["loss"] == losses

"""Sequential: whole-model gradient check, training, predict/evaluate, config."""

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.nn.gradcheck import check_model
from sparsecore.nn.model import LAYERS

ACTIVATIONS = [sc.ReLU, sc.LeakyReLU, sc.Tanh, sc.Sigmoid, sc.Identity]


def _mlp(act=sc.ReLU, dtype="float64", seed=0, n_in=5, hidden=6, n_out=2):
    return sc.Sequential(
        [sc.Dense(hidden), act(), sc.Dense(hidden), act(), sc.Dense(n_out)],
        input_dim=n_in,
        seed=seed,
        dtype=dtype,
    )


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_model_gradcheck(act):
    model = _mlp(act)
    model.compile("mse", "adam")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 5)), rng.standard_normal((7, 2))
    result = check_model(model, x, y, max_checks=None)
    assert set(result.errors) == {"input", *model.weights()}
    assert result.max_error < 1e-6, result.errors


def test_model_gradcheck_mae():
    # MAE has a kink at pred == true; a smooth activation keeps the check clean
    model = _mlp(sc.Tanh)
    model.compile("mae", "adam")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 5)), rng.standard_normal((7, 2))
    assert check_model(model, x, y, max_checks=None).max_error < 1e-6


@pytest.mark.parametrize("from_logits", [True, False])
def test_classifier_gradcheck(from_logits):
    head = [] if from_logits else [sc.Softmax()]
    model = sc.Sequential(
        [sc.Dense(8), sc.Tanh(), sc.Dense(3), *head],
        input_dim=4,
        seed=2,
        dtype="float64",
    )
    model.compile(sc.CategoricalCrossentropy(from_logits=from_logits), "sgd")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)), np.eye(3)[rng.integers(0, 3, 6)]
    assert check_model(model, x, y, max_checks=None).max_error < 1e-6


def test_fit_learns_a_known_function():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2000, 3)).astype(np.float32)
    y = (np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2]).astype(np.float32)
    model = sc.Sequential(
        [sc.Dense(32), sc.Tanh(), sc.Dense(32), sc.Tanh(), sc.Dense(1)],
        input_dim=3,
        seed=0,
    )
    model.compile("mse", sc.Adam(1e-2))
    baseline = float(np.var(y))
    history = model.fit(x, y, epochs=40, batch_size=64, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.02 * baseline
    assert model.evaluate(x, y) < 0.02 * baseline
    pred = model.predict(x)
    assert pred.shape == (2000, 1) and pred.dtype == np.float32


def test_tutorial_model_trains_with_decreasing_loss():
    # the tutorial network and recipe on make_regression-like data: 8192 samples,
    # so 8 steps of 1024 per epoch as in the tutorial, 500 informative features
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8192, 1000)).astype(np.float32)
    x /= np.abs(x).max(axis=0)
    coef = rng.standard_normal(1000).astype(np.float32)
    coef[500:] = 0
    y = x @ coef
    y /= np.abs(y).max()
    model = sc.Sequential(
        [
            sc.Dense(1024, kernel_initializer="he_normal"),
            sc.ReLU(),
            sc.Dense(1024),
            sc.ReLU(),
            sc.Dense(1),
        ],
        input_dim=1000,
        seed=0,
    )
    model.compile(loss="mse", optimizer=sc.Adam(learning_rate=1e-3))
    history = model.fit(
        x,
        y,
        epochs=4,
        batch_size=1024,
        verbose=0,
        seed=0,
        validation_data=(x[:256], y[:256]),
    )
    loss = history.history["loss"]
    assert len(loss) == 4 and len(history.history["val_loss"]) == 4
    assert all(b < a for a, b in zip(loss, loss[1:], strict=False)), loss
    assert model.weights()["dense_0/kernel"].dtype == np.float32


def test_history_partial_last_batch_is_weighted():
    # 10 samples, batch 4: batches of 4, 4, 2; epoch loss = sample-weighted mean
    model = _mlp(dtype="float64")
    model.compile("mse", sc.SGD(1e-12))  # tiny steps: batch losses ~ fixed weights
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 5)), rng.standard_normal((10, 2))
    losses = []

    class Record(sc.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])

    h = model.fit(
        x, y, epochs=1, batch_size=4, shuffle=False, callbacks=[Record()], verbose=0
    )
    assert len(losses) == 3
    expected = (4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10
    assert h.history["loss"][0] == pytest.approx(expected)


def test_same_seed_same_training():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 5)), rng.standard_normal((64, 2))
    runs = []
    for _ in range(2):
        model = _mlp(dtype="float32", seed=3)
        model.compile("mse", "adam")
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=11)
        runs.append(model.get_weights())
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_weights_are_live_views_and_set_weights_copies():
    model = _mlp()
    live = model.weights()
    assert list(live) == [
        "dense_0/kernel",
        "dense_0/bias",
        "dense_1/kernel",
        "dense_1/bias",
        "dense_2/kernel",
        "dense_2/bias",
    ]
    assert live["dense_0/kernel"] is model.layers[0].params["kernel"]
    new = [np.full_like(w, i) for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    assert model.weights()["dense_0/kernel"] is live["dense_0/kernel"]
    assert (live["dense_1/kernel"] == 2).all()
    with pytest.raises(ValueError, match="must be a list of 6 arrays; got 1"):
        model.set_weights(new[:1])
    with pytest.raises(ValueError, match=r"must have shape \(5, 6\); got \(6, 5\)"):
        model.set_weights([new[0].T, *new[1:]])


def test_summary_counts_parameters():
    model = _mlp()
    text = model.summary(print_fn=None)
    assert model.count_params() == 5 * 6 + 6 + 6 * 6 + 6 + 6 * 2 + 2
    assert f"Total params: {model.count_params():,}" in text
    assert "dense_0 (Dense)" in text and "relu_1 (ReLU)" in text


def test_config_round_trip_rebuilds_same_model():
    model = sc.Sequential(
        [
            sc.Dense(4, kernel_initializer="he_normal", use_bias=False),
            sc.LeakyReLU(0.1),
            sc.Dense(2),
            sc.Softmax(),
        ],
        input_dim=3,
        seed=5,
    )
    again = sc.Sequential.from_config(model.get_config())
    assert again.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # same seed -> same initial weights
    assert set(LAYERS) == {
        "Dense",
        "ResidualDense",
        "Identity",
        "ReLU",
        "LeakyReLU",
        "Tanh",
        "Sigmoid",
        "Softmax",
    }


def test_verbose_prints_one_line_per_epoch(capsys):
    model = _mlp()
    model.compile("mse", "adam")
    x, y = np.zeros((8, 5)), np.zeros((8, 2))
    model.fit(x, y, epochs=2, batch_size=4, validation_data=(x, y), verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("Epoch 2/2 - ") and "loss: " in lines[1]
    assert "val_loss: " in lines[1]
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- bad input
@pytest.fixture
def compiled():
    model = _mlp(dtype="float32")
    model.compile("mse", "adam")
    return model


def test_wrong_feature_count(compiled):
    with pytest.raises(
        ValueError, match=r"x must have shape \(n_samples, 5\); got \(4, 3\)"
    ):
        compiled.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"x must have shape"):
        compiled.predict(np.zeros(5))


def test_mismatched_lengths(compiled):
    with pytest.raises(
        ValueError, match="x and y must have the same length; got 4 and 3"
    ):
        compiled.fit(np.zeros((4, 5)), np.zeros((3, 2)), verbose=0)


def test_nan_in_x(compiled):
    x = np.zeros((4, 5))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="x must contain only finite values"):
        compiled.fit(x, np.zeros((4, 2)), verbose=0)


def test_unknown_loss_and_initializer_and_negative_lr():
    with pytest.raises(ValueError, match="loss must be one of"):
        _mlp().compile("hinge", "adam")
    with pytest.raises(ValueError, match="initializer must be one of"):
        sc.Dense(3, bias_initializer="random")
    with pytest.raises(ValueError, match="learning_rate must be a float in"):
        sc.Adam(learning_rate=-0.1)


def test_fit_before_compile():
    with pytest.raises(RuntimeError, match="compile"):
        _mlp().fit(np.zeros((2, 5)), np.zeros((2, 2)), verbose=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": -1}, r"epochs must be an int in \[0, inf\); got -1"),
        ({"batch_size": 0}, r"batch_size must be an int in \[1, inf\); got 0"),
        (
            {"epochs": 2, "initial_epoch": 3},
            r"initial_epoch must be an int in \[0, 2\]",
        ),
        ({"validation_data": (np.zeros((2, 5)),)}, "validation_data must be a tuple"),
    ],
)
def test_bad_fit_arguments(compiled, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compiled.fit(np.zeros((4, 5)), np.zeros((4, 2)), verbose=0, **kwargs)


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        (([], 3), ValueError, "layers must be a non-empty sequence"),
        (([sc.Dense(2)], 0), ValueError, r"input_dim must be an int in \[1, inf\)"),
        (([sc.Dense(2)], 3.0), TypeError, "input_dim must be an int"),
        (([np.zeros(2)], 3), TypeError, r"layers\[0\] must be a Layer"),
    ],
)
def test_bad_constructor_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        sc.Sequential(*args)


def test_bad_dtype_and_reused_layer():
    with pytest.raises(
        ValueError, match=r"dtype must be one of \['float32', 'float64'\]"
    ):
        sc.Sequential([sc.Dense(2)], 3, dtype="float16")
    layer = sc.Dense(3)
    with pytest.raises(ValueError, match="same Layer object twice"):
        sc.Sequential([layer, layer], 3)

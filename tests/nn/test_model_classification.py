"""Sequential for classification: metrics, integer labels, sample and class weights.

Oracles: scikit-learn's accuracy_score for the logged accuracies, the dense
one-hot loss for integer labels, per-sample losses for the weighting rule,
finite differences for the weighted gradients.
"""

import io

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.nn.gradcheck import check_model

skm = pytest.importorskip("sklearn.metrics")

K = 3  # classes


def make_model(dtype="float32", softmax=False, seed=0, n_out=K):
    head = [sc.Softmax()] if softmax else []
    return sc.Sequential(
        [sc.Dense(8), sc.Tanh(), sc.Dense(n_out), *head],
        input_dim=4,
        seed=seed,
        dtype=dtype,
    )


def compiled(metrics=("accuracy",), loss=None, lr=1e-2, **kwargs):
    model = make_model(**kwargs)
    loss = loss or sc.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(loss, sc.Adam(lr), metrics=list(metrics))
    return model


def data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)  # 3 learnable classes
    return x, y


class BatchLogs(sc.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs))


# ---------------------------------------------------------------- metrics in fit


def test_fit_logs_accuracy_and_val_accuracy():
    x, y = data()
    x_val, y_val = data(30, seed=1)
    model = compiled()
    rec = BatchLogs()
    h = model.fit(
        x, y, epochs=3, batch_size=16, validation_data=(x_val, y_val),
        callbacks=[rec], verbose=0,
    )  # fmt: skip
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 for v in h.history.values())
    # val_accuracy at the last epoch: the finished model's accuracy (sklearn)
    pred = model.predict(x_val).argmax(axis=1)
    assert h.history["val_accuracy"][-1] == pytest.approx(
        skm.accuracy_score(y_val, pred)
    )
    # training accuracy: the mean over the epoch's batches, weighted by size
    # (each batch scored on its own predictions before the update, as Keras)
    sizes = [16, 16, 16, 12]
    last = [b["accuracy"] for b in rec.batches[-4:]]
    assert h.history["accuracy"][-1] == pytest.approx(np.dot(last, sizes) / 60)
    assert all(set(b) == {"loss", "accuracy"} for b in rec.batches)


def test_batch_accuracy_is_the_accuracy_of_the_batch_before_its_update():
    x, y = data(16)
    model = compiled()
    before = model.predict(x).argmax(axis=1)
    rec = BatchLogs()
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, callbacks=[rec], verbose=0)
    assert rec.batches[0]["accuracy"] == skm.accuracy_score(y, before)


def test_evaluate_return_dict():
    x, y = data()
    model = compiled(metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    scores = model.evaluate(x, y, return_dict=True)
    assert list(scores) == ["loss", "accuracy", "sparse_top_k_categorical_accuracy"]
    assert scores["loss"] == model.evaluate(x, y)
    assert isinstance(model.evaluate(x, y), float)
    pred = model.predict(x)
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(y, pred.argmax(1)))
    assert scores["sparse_top_k_categorical_accuracy"] == 1.0  # k=5 > 3 classes
    small = model.evaluate(x, y, batch_size=7, return_dict=True)
    assert small["accuracy"] == pytest.approx(scores["accuracy"])
    assert small["loss"] == pytest.approx(scores["loss"], rel=1e-6)
    with pytest.raises(TypeError, match="return_dict must be a bool; got 1"):
        model.evaluate(x, y, return_dict=1)


def test_without_metrics_evaluate_dict_has_the_loss_only():
    x, y = data()
    model = compiled(metrics=())
    h = model.fit(x, y, epochs=1, validation_data=(x, y), verbose=0)
    assert list(h.history) == ["loss", "val_loss"]
    assert model.evaluate(x, y, return_dict=True) == {"loss": model.evaluate(x, y)}


def test_regression_metrics_next_to_an_mse_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 2)).astype(np.float32)
    model = make_model(n_out=2)
    model.compile("mse", "adam", metrics=["mse", "mae"])
    h = model.fit(x, y, epochs=2, batch_size=8, validation_data=(x, y), verbose=0)
    assert h.history["val_mse"][-1] == pytest.approx(h.history["val_loss"][-1])
    assert h.history["val_mae"][-1] == pytest.approx(
        skm.mean_absolute_error(y, model.predict(x)), rel=1e-5
    )


def test_progress_line_shows_the_metrics():
    x, y = data()
    stream = io.StringIO()
    model = compiled()
    logger = sc.nn.ProgressLogger(stream)
    model.fit(x, y, epochs=1, validation_data=(x, y), callbacks=[logger], verbose=0)
    line = stream.getvalue().strip()
    assert line.startswith("Epoch 1/1 - ")
    for key in (" - loss: ", " - accuracy: ", " - val_loss: ", " - val_accuracy: "):
        assert key in line, line


class Scores(sc.Callback):
    """Puts a fixed val_accuracy sequence into the logs (runs before EarlyStopping)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_accuracy"] = self.values[epoch]


@pytest.mark.parametrize(("mode", "stopped"), [("auto", 3), ("max", 3), ("min", 2)])
def test_early_stopping_on_val_accuracy_infers_max(mode, stopped):
    x, y = data()
    values = [0.5, 0.6, 0.55, 0.52, 0.7, 0.7]
    stop = sc.EarlyStopping(monitor="val_accuracy", patience=1, mode=mode)
    compiled().fit(x, y, epochs=6, callbacks=[Scores(values), stop], verbose=0)
    # max: best 0.6 at epoch 1, two epochs without gain; min: best 0.5 at epoch 0
    assert stop.stopped_epoch == stopped


def test_early_stopping_restores_the_most_accurate_weights():
    x, y = data()
    x_val, y_val = data(30, seed=1)
    model = compiled(lr=0.05)
    stop = sc.EarlyStopping(
        monitor="val_accuracy", patience=2, restore_best_weights=True
    )
    h = model.fit(
        x, y, epochs=30, batch_size=8, validation_data=(x_val, y_val),
        callbacks=[stop], verbose=0,
    )  # fmt: skip
    best = max(h.history["val_accuracy"])
    assert model.evaluate(x_val, y_val, return_dict=True)["accuracy"] == best


# ---------------------------------------------------------------- integer labels


@pytest.mark.parametrize("from_logits", [True, False])
def test_model_gradcheck_with_integer_labels(from_logits):
    model = make_model("float64", softmax=not from_logits, seed=2)
    model.compile(sc.SparseCategoricalCrossentropy(from_logits=from_logits), "sgd")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, K, 6)
    assert check_model(model, x, y, max_checks=None).max_error < 1e-6


@pytest.mark.parametrize("softmax", [False, True])
def test_integer_labels_train_exactly_as_one_hot_targets(softmax):
    x, y = data()
    runs = []
    for loss, target in (
        (sc.SparseCategoricalCrossentropy(from_logits=not softmax), y),
        (sc.CategoricalCrossentropy(from_logits=not softmax), np.eye(K)[y]),
    ):
        model = make_model(softmax=softmax)
        model.compile(loss, sc.Adam(1e-2), metrics=["accuracy"])
        h = model.fit(
            x, target, epochs=3, batch_size=16, validation_data=(x, target),
            verbose=0, seed=0,
        )  # fmt: skip
        runs.append((model.get_weights(), h.history))
    (w_sparse, h_sparse), (w_dense, h_dense) = runs
    for a, b in zip(w_sparse, w_dense, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert h_sparse["val_accuracy"] == h_dense["val_accuracy"]
    np.testing.assert_allclose(h_sparse["loss"], h_dense["loss"], rtol=1e-5)


def test_integer_label_forms_are_equivalent():
    x, y = data()
    model = compiled()
    reference = model.evaluate(x, y, return_dict=True)
    for form in (y[:, None], y.astype(np.float32), y.astype(np.uint8), list(y)):
        assert model.evaluate(x, form, return_dict=True) == reference


@pytest.mark.parametrize(
    ("y", "error", "match"),
    [
        (np.full(60, 3), ValueError, r"y must hold class indices in \[0, 3\) "
         r"\(output_dim\); got 3"),
        (np.full(60, -1), ValueError, r"y must hold class indices in \[0, 3\)"),
        (np.full(60, 0.5), ValueError, r"y must hold integer class indices; got 0\.5"),
        (np.full(60, np.nan), ValueError, r"y must hold integer class indices; "
         r"got nan"),
        (np.zeros((60, 3)), ValueError, r"y must hold class indices of shape "
         r"\(n_samples,\) or \(n_samples, 1\) for SparseCategoricalCrossentropy; "
         r"got \(60, 3\)"),
        (np.zeros(59, int), ValueError, r"x and y must have the same length; "
         r"got 60 and 59"),
        (np.zeros(60, bool), TypeError, r"y must be a real numeric array"),
    ],
)  # fmt: skip
def test_bad_integer_labels_are_refused_before_any_step(y, error, match):
    x, _ = data()
    model = compiled()
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(error, match=match):
        model.evaluate(x, y)
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_validation_labels_are_named():
    x, y = data()
    with pytest.raises(ValueError, match=r"y_val must hold class indices in \[0, 3\)"):
        compiled().fit(x, y, validation_data=(x, y + 5), verbose=0)


# ---------------------------------------------------------------- sample weights


@pytest.mark.parametrize(
    "loss",
    [
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.CategoricalCrossentropy(from_logits=True),
        sc.MSE(),
    ],
    ids=repr,
)
def test_model_gradcheck_with_sample_weights(loss):
    model = make_model("float64", seed=4)
    model.compile(loss, "sgd")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 4))
    labels = rng.integers(0, K, 7)
    y = labels if loss.integer_labels else np.eye(K)[labels]
    w = rng.uniform(0, 3, 7)
    result = check_model(model, x, y, sample_weight=w, max_checks=None)
    assert result.max_error < 1e-6, result.errors


def test_evaluate_weights_each_samples_loss_and_divides_by_n():
    x, y = data(20)
    model = compiled(metrics=["accuracy"], dtype="float64")
    w = np.random.default_rng(1).uniform(0, 2, 20)
    w[:5] = 0.0
    per_sample = np.array(
        [model.evaluate(x[i : i + 1], y[i : i + 1]) for i in range(20)]
    )
    scores = model.evaluate(x, y, sample_weight=w, return_dict=True)
    assert scores["loss"] == pytest.approx(np.sum(w * per_sample) / 20)
    pred = model.predict(x).argmax(axis=1)
    assert scores["accuracy"] == pytest.approx(
        skm.accuracy_score(y, pred, sample_weight=w)
    )
    unweighted = model.evaluate(x, y, sample_weight=np.ones(20), return_dict=True)
    assert unweighted == model.evaluate(x, y, return_dict=True)


def test_unit_weights_train_exactly_as_no_weights():
    x, y = data()
    runs = []
    for kwargs in ({}, {"sample_weight": np.ones(60)}, {"class_weight": {0: 1.0}}):
        model = compiled()
        h = model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0, **kwargs)
        runs.append((model.get_weights(), h.history))
    for weights, history in runs[1:]:
        assert history == runs[0][1]
        for a, b in zip(weights, runs[0][0], strict=True):
            np.testing.assert_array_equal(a, b)


def test_weighted_fit_follows_the_weighted_gradient():
    """One SGD step with weights w == the step the weighted loss' gradient gives."""
    x, y = data(10)
    w = np.linspace(0, 2, 10)
    model = make_model("float64")
    model.compile(sc.SparseCategoricalCrossentropy(from_logits=True), sc.SGD(0.1))
    start = model.get_weights()
    model.backward(model.loss.gradient(y, model.forward(x), sample_weight=w))
    expected = [
        a - 0.1 * g for a, g in zip(start, model.gradients().values(), strict=True)
    ]
    model.set_weights(start)
    model.fit(x, y, epochs=1, batch_size=10, sample_weight=w, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _fit(model, x, y, **kwargs):
    h = model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0, **kwargs)
    return model.get_weights(), h.history


@pytest.mark.parametrize("kind", ["labels", "one_hot", "binary"])
def test_class_weight_is_sample_weight_of_the_class(kind):
    x, y = data()
    cw = {0: 0.5, 2: 3.0}  # class 1 not listed: weight 1.0
    if kind == "labels":
        target, classes = y, y
        model = compiled
    elif kind == "one_hot":
        target, classes = np.eye(K)[y], y

        def model():
            return compiled(loss=sc.CategoricalCrossentropy(from_logits=True))
    else:
        target = (y > 0).astype(np.float32)[:, None]  # round(y) is the class
        classes = (y > 0).astype(int)

        def model():
            return compiled(loss=sc.BinaryCrossentropy(from_logits=True), n_out=1)

    sw = np.array([cw.get(c, 1.0) for c in classes])
    w_cw, h_cw = _fit(model(), x, target, class_weight=cw)
    w_sw, h_sw = _fit(model(), x, target, sample_weight=sw)
    assert h_cw == h_sw
    for a, b in zip(w_cw, w_sw, strict=True):
        np.testing.assert_array_equal(a, b)


def test_validation_sample_weights():
    x, y = data()
    w = np.random.default_rng(2).uniform(0, 1, 60)
    model = compiled()
    h = model.fit(x, y, epochs=1, validation_data=(x, y, w), verbose=0)
    scores = model.evaluate(x, y, sample_weight=w, return_dict=True)
    assert h.history["val_loss"][-1] == scores["loss"]
    assert h.history["val_accuracy"][-1] == scores["accuracy"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sample_weight": np.ones(59)}, ValueError,
         r"sample_weight must have shape \(60,\); got \(59,\)"),
        ({"sample_weight": np.ones((60, 2))}, ValueError,
         r"sample_weight must have shape \(60,\); got \(60, 2\)"),
        ({"sample_weight": -np.ones(60)}, ValueError,
         r"sample_weight must hold weights in \[0, inf\); got -1\.0"),
        ({"sample_weight": np.full(60, np.nan)}, ValueError,
         r"sample_weight must contain only finite values"),
        ({"sample_weight": np.array(["a"] * 60)}, TypeError,
         r"sample_weight must be a real numeric array"),
        ({"sample_weight": np.ones(60), "class_weight": {0: 1.0}}, ValueError,
         r"pass class_weight or sample_weight, not both"),
        ({"class_weight": [1.0, 2.0]}, TypeError,
         r"class_weight must be a dict \{class: weight\}; got \[1\.0, 2\.0\]"),
        ({"class_weight": {-1: 1.0}}, ValueError,
         r"class_weight keys must be class indices in \[0, inf\); got -1"),
        ({"class_weight": {True: 1.0}}, ValueError, r"class_weight keys must be"),
        ({"class_weight": {"a": 1.0}}, ValueError, r"class_weight keys must be"),
        ({"class_weight": {0: -2.0}}, ValueError,
         r"class_weight\[0\] must be a float in \[0, inf\); got -2\.0"),
        ({"class_weight": {0: "2"}}, TypeError, r"class_weight\[0\] must be a float"),
        ({"validation_data": (np.zeros((5, 4)), np.zeros(5, int), -np.ones(5))},
         ValueError, r"sample_weight_val must hold weights in \[0, inf\)"),
    ],
)  # fmt: skip
def test_bad_weights_are_refused_before_any_step(kwargs, error, match):
    x, y = data()
    model = compiled()
    with pytest.raises(error, match=match):
        model.fit(x, y, epochs=1, verbose=0, **kwargs)
    assert model.optimizer.iterations == 0


def test_class_weight_needs_non_negative_classes_of_a_single_output():
    x, _ = data()
    model = make_model(n_out=1)
    model.compile("mse", "adam")
    with pytest.raises(ValueError, match=r"class_weight needs class indices in "
                       r"\[0, inf\); y holds -1\.0"):  # fmt: skip
        model.fit(x, -np.ones(60), class_weight={0: 2.0}, verbose=0)


def test_evaluate_refuses_bad_weights_too():
    x, y = data()
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(60,\)"):
        compiled().evaluate(x, y, sample_weight=np.ones(3))

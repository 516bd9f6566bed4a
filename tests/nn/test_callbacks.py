"""Callbacks: hook order inside fit, History, EarlyStopping, TerminateOnNaN."""

import numpy as np
import pytest

import sparsecore as sc


def _model():
    model = sc.Sequential([sc.Dense(4), sc.ReLU(), sc.Dense(1)], input_dim=3, seed=0)
    model.compile("mse", sc.SGD(0.01))
    return model


DATA = (np.ones((10, 3), np.float32), np.ones(10, np.float32))


class Recorder(sc.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_train_end(self, logs=None):
        self.events.append("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")
        logs["extra"] = 1.5  # a callback may add to the logs History records

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(f"batch_begin {batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(f"batch_end {batch}")

    def on_before_optimizer_step(self):
        # gradients exist here, the optimizer has not run yet
        assert self.model.optimizer.iterations == len(
            [e for e in self.events if e == "after_step"]
        )
        self.events.append("before_step")

    def on_after_optimizer_step(self):
        self.events.append("after_step")


def test_hook_order_and_params():
    rec = Recorder()
    model = _model()
    history = model.fit(
        *DATA, epochs=2, batch_size=6, callbacks=[rec], verbose=0, validation_data=DATA
    )
    step = ["batch_begin {}", "before_step", "after_step", "batch_end {}"]
    epoch = [e.format(b) for b in range(2) for e in step]
    assert rec.events == [
        "train_begin",
        "epoch_begin 0",
        *epoch,
        "epoch_end 0 ['loss', 'val_loss']",
        "epoch_begin 1",
        *epoch,
        "epoch_end 1 ['loss', 'val_loss']",
        "train_end",
    ]
    assert rec.model is model
    assert rec.params == {
        "epochs": 2,
        "initial_epoch": 0,
        "steps": 2,
        "batch_size": 6,
        "samples": 10,
        "verbose": 0,
    }
    assert history.history["extra"] == [1.5, 1.5]
    assert history.epoch == [0, 1]


def test_predict_and_evaluate_call_no_callbacks():
    rec = Recorder()
    model = _model()
    model.fit(*DATA, epochs=1, callbacks=[rec], verbose=0)
    n = len(rec.events)
    model.predict(DATA[0])
    model.evaluate(*DATA)
    assert len(rec.events) == n


def test_initial_epoch_continues_numbering():
    model = _model()
    history = model.fit(*DATA, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]


def test_early_stopping_stops_and_restores():
    model = _model()
    values = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9])

    class FakeVal(sc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    stopper = sc.EarlyStopping(patience=1, restore_best_weights=True)
    snapshots = []

    class Snap(sc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.get_weights())

    h = model.fit(*DATA, epochs=6, callbacks=[FakeVal(), Snap(), stopper], verbose=0)
    assert h.history["val_loss"] == [1.0, 0.5, 0.6, 0.7]
    assert stopper.stopped_epoch == 3
    for a, b in zip(model.get_weights(), snapshots[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_validation():
    with pytest.raises(
        ValueError, match=r"mode must be one of \['auto', 'max', 'min'\]; got 'up'"
    ):
        sc.EarlyStopping(mode="up")
    with pytest.raises(ValueError, match=r"patience must be an int in \[0, inf\)"):
        sc.EarlyStopping(patience=-1)
    model = _model()
    with pytest.raises(ValueError, match="monitor 'val_loss' is not in the epoch logs"):
        model.fit(*DATA, epochs=1, callbacks=[sc.EarlyStopping()], verbose=0)


def test_terminate_on_nan_stops_when_check_is_off():
    model = _model()
    model.compile("mse", sc.SGD(1e30))
    x = np.full((10, 3), 1e10, np.float32)
    with np.errstate(all="ignore"):
        h = model.fit(
            x,
            DATA[1],
            epochs=5,
            batch_size=2,
            callbacks=[sc.TerminateOnNaN()],
            verbose=0,
            check_finite=False,
        )
    assert len(h.history["loss"]) < 5


def test_nonfinite_loss_raises_naming_epoch_and_step():
    model = _model()
    model.compile("mse", sc.SGD(1e30))
    x = np.full((10, 3), 1e10, np.float32)
    with (
        np.errstate(all="ignore"),
        pytest.raises(sc.NonFiniteLossError, match="epoch 1"),
    ):
        model.fit(x, DATA[1], epochs=5, batch_size=2, verbose=0)


def test_callbacks_must_be_callbacks():
    with pytest.raises(TypeError, match="callbacks must be Callback instances"):
        _model().fit(*DATA, callbacks=[print], verbose=0)


def test_attached_pruner_runs_without_being_passed_again():
    model = _model()

    class Attaching(sc.Callback):
        calls = 0

        def set_model(self, model):
            super().set_model(model)
            model.pruner = self

        def on_train_batch_begin(self, batch, logs=None):
            type(self).calls += 1

    cb = Attaching()
    model.fit(*DATA, epochs=1, batch_size=5, callbacks=[cb], verbose=0)
    assert Attaching.calls == 2
    model.fit(*DATA, epochs=1, batch_size=5, verbose=0)  # not passed: still runs
    assert Attaching.calls == 4
    model.fit(*DATA, epochs=1, batch_size=5, callbacks=[cb], verbose=0)  # not twice
    assert Attaching.calls == 6

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
    model.compile("mse", sc.SGD(1e6))
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
    model.compile("mse", sc.SGD(1e6))
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


# ----------------------------------------------------------------------- issue 10
class FakeVal(sc.Callback):
    """Sets logs['val_loss'] from a fixed sequence indexed by the epoch."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


VALS = [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.74, 0.71, 0.73, 0.7, 0.69, 0.9]


@pytest.mark.parametrize("restore", [False, True])
@pytest.mark.parametrize("cut", [1, 3, 4, 5])
def test_early_stopping_resumed_stops_where_the_uninterrupted_run_does(restore, cut):
    def es():
        return sc.EarlyStopping(patience=2, restore_best_weights=restore)

    full = _model()
    h = full.fit(*DATA, epochs=12, callbacks=[FakeVal(VALS), es()], verbose=0)
    stopped = h.epoch[-1]
    assert stopped < 11  # the run stops early
    part = _model()
    part.fit(*DATA, epochs=cut, callbacks=[FakeVal(VALS), es()], verbose=0)
    again = es()  # a new callback, as after a restart: the state is the model's
    h2 = part.fit(
        *DATA, epochs=12, initial_epoch=cut, callbacks=[FakeVal(VALS), again], verbose=0
    )
    assert h2.epoch[-1] == stopped and again.stopped_epoch == stopped
    assert part.history.epoch == full.history.epoch
    for a, b in zip(part.get_weights(), full.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_state_is_published_and_reset():
    model = _model()
    stopper = sc.EarlyStopping(patience=5, restore_best_weights=True)
    model.fit(*DATA, epochs=3, callbacks=[FakeVal(VALS), stopper], verbose=0)
    state = model.callback_states[stopper.state_key]
    assert state["best"] == 0.8 and state["wait"] == 1 and state["best_epoch"] == 1
    assert state["best_weights"] is stopper.best_weights is not None
    # a fit from epoch 0 is a new run: fresh state; another config: fresh too
    model.fit(*DATA, epochs=1, callbacks=[FakeVal(VALS), stopper], verbose=0)
    assert stopper.best == 1.0 and stopper.best_epoch == 0
    other = sc.EarlyStopping(patience=1, restore_best_weights=True)
    model.fit(*DATA, epochs=2, initial_epoch=1, callbacks=[FakeVal(VALS), other])
    assert other.best == 0.8  # epoch 1 only: the patience=5 state was not taken


def test_early_stopping_restores_the_pruners_masks_with_the_weights():
    # The best epoch is early (low sparsity); the run stops at a later epoch
    # with a higher sparsity: weights AND masks must come back together.
    model = sc.Sequential([sc.Dense(16), sc.ReLU(), sc.Dense(1)], input_dim=3, seed=0)
    model.compile("mse", sc.Adam(1e-2))
    x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    pruner = sc.Pruner(sc.PolynomialDecay(0.0, 0.9, 1, 31, frequency=5))
    snaps = []

    class Snap(sc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snaps.append((self.model.get_weights(), dict(self.model.pruner.masks)))

    stopper = sc.EarlyStopping(patience=2, restore_best_weights=True)
    vals = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    model.fit(
        x,
        x[:, :1],
        epochs=8,
        batch_size=8,
        callbacks=[pruner, FakeVal(vals), Snap(), stopper],
        verbose=0,
    )
    assert stopper.stopped_epoch == 4 and stopper.best_epoch == 1
    best_weights, best_masks = snaps[1]
    assert snaps[4][1]["dense_0/kernel"].sum() < best_masks["dense_0/kernel"].sum()
    for name, m in pruner.masks.items():
        np.testing.assert_array_equal(m, best_masks[name])
    for a, b in zip(model.get_weights(), best_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert pruner.step == 25  # the schedule's position is kept
    sparsity = 1 - best_masks["dense_0/kernel"].mean()
    pruner.strip(model)
    kernel = model.weights()["dense_0/kernel"]
    assert 1 - np.count_nonzero(kernel) / kernel.size == pytest.approx(sparsity)

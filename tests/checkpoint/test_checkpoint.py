"""Checkpoints: exact round trips, bit-identical resume (in a new process),
atomic saves, ModelCheckpoint, and malformed files refused with a clear error."""

import json
import math
import os
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.checkpoint import (
    FORMAT_NAME,
    CheckpointFormatError,
    ModelCheckpoint,
    load_model,
    save_model,
)
from sparsecore.prune import SET, ConstantSparsity, PolynomialDecay, Pruner, RigL
from sparsecore.runtime import SparseFormatError
from sparsecore.runtime.atomic import atomic_savez

# ---------------------------------------------------------------- helpers


def make_data(n=96, n_in=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    y = (
        x[:, :3].sum(axis=1, keepdims=True) + 0.1 * rng.standard_normal((n, 1))
    ).astype(np.float32)
    return x, y


def make_model(optimizer=None, dtype="float32", seed=0, loss="mse"):
    model = sc.Sequential(
        [
            sc.Dense(16, kernel_initializer="he_normal"),
            sc.LeakyReLU(0.1),
            sc.Dense(8, use_bias=False),
            sc.Tanh(),
            sc.Dense(1),
        ],
        input_dim=12,
        seed=seed,
        dtype=dtype,
    )
    model.compile(loss, optimizer or sc.Adam(1e-2))
    return model


def fit_quiet(model, *args, **kwargs):
    with warnings.catch_warnings():  # schedules that end after this fit warn
        warnings.simplefilter("ignore", sc.prune.PruningScheduleWarning)
        return model.fit(*args, verbose=0, **kwargs)


def assert_same_state(a, b):
    """Weights, optimizer, seeds, epoch, history and pruner all exactly equal."""
    assert a.get_config() == b.get_config()
    wa, wb = a.weights(), b.weights()
    assert list(wa) == list(wb)
    for name in wa:
        assert wa[name].dtype == wb[name].dtype
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)
    assert (a.optimizer is None) == (b.optimizer is None)
    if a.optimizer is not None:
        assert type(a.optimizer) is type(b.optimizer)
        assert a.optimizer.get_config() == b.optimizer.get_config()
        assert a.optimizer.iterations == b.optimizer.iterations
        assert type(a.loss) is type(b.loss)
        assert a.loss.get_config() == b.loss.get_config()
        for name in wa:
            sa, sb = a.optimizer.state[name], b.optimizer.state[name]
            assert sorted(sa) == sorted(sb)
            for slot in sa:
                np.testing.assert_array_equal(sa[slot], sb[slot])
    assert a.fit_seed == b.fit_seed and a.epoch == b.epoch
    ha, hb = a.history, b.history
    assert (ha is None) == (hb is None)
    if ha is not None:
        assert ha.epoch == hb.epoch and ha.history == hb.history
    assert (a.pruner is None) == (b.pruner is None)
    if a.pruner is not None:
        sa, sb = a.pruner.state_dict(), b.pruner.state_dict()
        masks_a, masks_b = sa.pop("masks"), sb.pop("masks")
        assert sa == sb
        assert list(masks_a) == list(masks_b)
        for name in masks_a:
            np.testing.assert_array_equal(masks_a[name], masks_b[name])
        assert b.pruner.model is b


# ---------------------------------------------------------------- round trips


PRUNERS = {
    "none": lambda: None,
    "magnitude": lambda: Pruner(PolynomialDecay(0.0, 0.7, 2, 20, frequency=3)),
    "global": lambda: Pruner(ConstantSparsity(0.5, 1, frequency=4), scope="global"),
    "tfmot": lambda: Pruner(
        ConstantSparsity(0.5, 1, frequency=4), mask_gradients=False
    ),
    "random": lambda: Pruner(ConstantSparsity(0.4, 1, frequency=5), "random", seed=3),
    "nm": lambda: Pruner(ConstantSparsity(0.5, 1), "nm", nm=(2, 4)),
    "structured": lambda: Pruner(
        PolynomialDecay(0.0, 0.5, 1, 10, frequency=2),
        "structured",
        weights=["dense_0/kernel"],
    ),
}
OPTIMIZERS = {
    "adam": lambda: sc.Adam(1e-2),
    "adamw": lambda: sc.AdamW(1e-2, weight_decay=0.01),
    "sgd": lambda: sc.SGD(0.05),
    "momentum": lambda: sc.SGD(0.05, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("pruner", sorted(PRUNERS))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_round_trip_exact(tmp_path, pruner, opt):
    x, y = make_data()
    model = make_model(
        OPTIMIZERS[opt](), dtype="float64" if opt == "sgd" else "float32"
    )
    p = PRUNERS[pruner]()
    fit_quiet(model, x, y, epochs=2, batch_size=16, callbacks=[p] if p else [], seed=4)
    path = tmp_path / "ckpt.npz"
    model.save(path)
    back = sc.load_model(path)
    assert_same_state(model, back)
    np.testing.assert_array_equal(model.predict(x), back.predict(x))
    assert os.listdir(tmp_path) == ["ckpt.npz"]


@pytest.mark.parametrize("compressed", [False, True])
def test_uncompiled_untrained_model(tmp_path, compressed):
    model = sc.Sequential([sc.Dense(3), sc.Softmax()], input_dim=2, dtype="float64")
    save_model(model, tmp_path / "m", compressed=compressed)  # no extension added
    back = load_model(tmp_path / "m")
    assert back.loss is None and back.optimizer is None and back.history is None
    assert back.pruner is None and back.epoch == 0 and back.fit_seed is None
    assert_same_state(model, back)


@pytest.mark.parametrize(
    "loss",
    [sc.MAE(), sc.BinaryCrossentropy(from_logits=True), sc.CategoricalCrossentropy()],
)
def test_losses_round_trip(tmp_path, loss):
    model = make_model(loss=loss)
    model.save(tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert type(back.loss) is type(loss) and back.loss.get_config() == loss.get_config()


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    model = make_model()
    fit_quiet(model, *make_data(), epochs=1, callbacks=[PRUNERS["magnitude"]()])
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        header = json.loads(str(f["header"]))
        names = set(f.files)
        assert f["pruner/masks/dense_1/kernel"].dtype == np.bool_
    assert header["format"] == FORMAT_NAME and header["version"] == 2
    assert header["epoch"] == 1 and header["compile"]["optimizer"]["iterations"] == 3
    assert {"weights/dense_0/kernel", "optimizer/dense_2/bias/v"} <= names
    assert "weights/dense_1/bias" not in names  # use_bias=False


def test_save_refuses_what_load_cannot_rebuild(tmp_path):
    class MyDense(sc.Dense):
        pass

    class MyLoss(sc.MSE):
        pass

    with pytest.raises(TypeError, match="cannot checkpoint layer 'MyDense'"):
        sc.Sequential([MyDense(2)], input_dim=2).save(tmp_path / "a")
    model = sc.Sequential([sc.Dense(2)], input_dim=2)
    model.compile(MyLoss(), "sgd")
    with pytest.raises(TypeError, match="cannot checkpoint loss 'MyLoss'"):
        model.save(tmp_path / "a")
    with pytest.raises(TypeError, match="model must be a Sequential"):
        save_model(object(), tmp_path / "a")
    assert os.listdir(tmp_path) == []


def test_missing_file_is_not_a_format_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.npz")


# ---------------------------------------------------------------- resume

_RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    import sparsecore as sc
    from sparsecore.checkpoint import load_model

    warnings.simplefilter("ignore", sc.prune.PruningScheduleWarning)
    data, out = sys.argv[1], sys.argv[2]
    with np.load(data) as f:
        x, y, xv, yv = f["x"], f["y"], f["xv"], f["yv"]
    result = {}
    for tag, path in zip(sys.argv[3::2], sys.argv[4::2]):
        model = load_model(path)
        epoch = model.epoch
        h = model.fit(x, y, epochs=2 * epoch, initial_epoch=epoch, batch_size=16,
                      validation_data=(xv, yv), callbacks=[model.pruner], verbose=0)
        for name, w in model.weights().items():
            result[f"{tag}/w/{name}"] = w
        for name, m in model.pruner.masks.items():
            result[f"{tag}/mask/{name}"] = m
        for name, slots in model.optimizer.state.items():
            for slot, a in slots.items():
                result[f"{tag}/slot/{name}/{slot}"] = a
        for key, values in h.history.items():
            result[f"{tag}/history/{key}"] = np.array(values)
        result[f"{tag}/epochs"] = np.array(h.epoch)
        result[f"{tag}/steps"] = np.array([model.pruner.step,
                                           model.optimizer.iterations])
    np.savez(out, **result)
    """
)


class Interrupt(sc.Callback):
    """Raises KeyboardInterrupt in the middle of epoch `epoch` (a crash)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


def test_resume_in_new_process_is_bit_identical(tmp_path):
    """2N epochs in one go == N epochs, save, load in a new process, N more.

    Two ways to stop: ``model.save`` after ``fit(epochs=N)``, and a crash in
    the middle of epoch N + 1 with a ModelCheckpoint saving every epoch.
    """
    n = 4
    x, y = make_data(200, seed=1)
    xv, yv = make_data(40, seed=2)
    schedule = PolynomialDecay(0.0, 0.8, begin_step=5, end_step=95, frequency=5)

    def run(epochs, callbacks=()):
        model = make_model()  # no seed in fit: the model seed drives shuffling
        pruner = Pruner(schedule)
        hist = fit_quiet(
            model,
            x,
            y,
            epochs=epochs,
            batch_size=16,
            validation_data=(xv, yv),
            callbacks=[*callbacks, pruner],
        )
        return model, pruner, hist

    full, full_pruner, full_hist = run(2 * n)  # 13 steps per epoch, 104 in all
    assert 0.6 < full_pruner.sparsity < 0.8

    half, _, half_hist = run(n)
    half.save(tmp_path / "saved.npz")

    ckpt = ModelCheckpoint(tmp_path / "every.npz")
    with pytest.raises(KeyboardInterrupt):
        run(2 * n, callbacks=[ckpt, Interrupt(epoch=n, batch=6)])
    assert ckpt.last_path == str(tmp_path / "every.npz")

    np.savez(tmp_path / "data.npz", x=x, y=y, xv=xv, yv=yv)
    out = tmp_path / "out.npz"
    cmd = [sys.executable, "-c", _RESUME_SCRIPT, str(tmp_path / "data.npz"), str(out)]
    cmd += ["saved", str(tmp_path / "saved.npz"), "crash", str(tmp_path / "every.npz")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    with np.load(out) as f:
        got = {k: f[k] for k in f.files}
    for tag in ("saved", "crash"):
        for name, w in full.weights().items():
            assert np.array_equal(got[f"{tag}/w/{name}"], w), (tag, name)
        for name, m in full_pruner.masks.items():
            assert np.array_equal(got[f"{tag}/mask/{name}"], m), (tag, name)
        for name, slots in full.optimizer.state.items():
            for slot, a in slots.items():
                assert np.array_equal(got[f"{tag}/slot/{name}/{slot}"], a)
        assert got[f"{tag}/steps"].tolist() == [104, 104]
        assert got[f"{tag}/epochs"].tolist() == full_hist.epoch[n:]
        for key, values in full_hist.history.items():
            # exact float equality, the first half from this process
            assert half_hist.history[key] + got[f"{tag}/history/{key}"].tolist() == (
                values
            ), (tag, key)
    # The crash checkpoint also kept the first N epochs of history.
    crashed = load_model(tmp_path / "every.npz")
    assert crashed.epoch == n and crashed.history.epoch == list(range(n))
    assert crashed.history.history == half_hist.history


@pytest.mark.parametrize("pruner", ["tfmot", "random", "nm", "global"])
@pytest.mark.parametrize("opt", ["momentum", "adamw"])
def test_resume_in_process_is_bit_identical(tmp_path, pruner, opt):
    x, y = make_data()

    def fresh():
        return make_model(OPTIMIZERS[opt]()), PRUNERS[pruner]()

    full, p_full = fresh()
    fit_quiet(full, x, y, epochs=4, batch_size=16, callbacks=[p_full], seed=9)
    half, p_half = fresh()
    fit_quiet(half, x, y, epochs=2, batch_size=16, callbacks=[p_half], seed=9)
    half.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    fit_quiet(
        back,
        x,
        y,
        epochs=4,
        initial_epoch=back.epoch,
        batch_size=16,
        callbacks=[back.pruner],
    )
    for a, b in zip(full.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for name, m in p_full.masks.items():
        np.testing.assert_array_equal(back.pruner.masks[name], m)


@pytest.mark.parametrize(("model_seed", "fit_seed"), [(None, None), (0, 5)])
def test_fit_reuses_the_saved_shuffling_seed(tmp_path, model_seed, fit_seed):
    model = make_model(seed=model_seed)
    model.save(tmp_path / "init.npz")
    ref = load_model(tmp_path / "init.npz")  # same initial weights
    x, y = make_data()
    model.fit(x, y, epochs=1, verbose=0, seed=fit_seed)  # None: draws a seed
    assert isinstance(model.fit_seed, int)
    model.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    assert back.fit_seed == model.fit_seed and back.get_config()["seed"] == model_seed
    ref.fit(x, y, epochs=3, verbose=0, seed=model.fit_seed)
    back.fit(x, y, epochs=3, initial_epoch=1, verbose=0)  # no seed: the saved one
    for a, b in zip(ref.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- atomic saves


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n != "ckpt.npz")


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch, exc):
    x, y = make_data()
    model = make_model()
    fit_quiet(model, x, y, epochs=1, callbacks=[PRUNERS["magnitude"]()])
    path = tmp_path / "ckpt.npz"
    model.save(path)
    before = path.read_bytes()
    fit_quiet(model, x, y, epochs=2, initial_epoch=1, callbacks=[model.pruner])

    real = np.lib.format.write_array
    calls = []

    def failing(*args, **kwargs):  # dies after a few members are written
        calls.append(1)
        if len(calls) == 4:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(type(exc)):
        model.save(path)
    monkeypatch.undo()
    assert len(calls) == 4
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []  # no temporary file
    assert load_model(path).epoch == 1

    model.save(path)  # and a save that completes replaces it
    assert load_model(path).epoch == 2 and _leftovers(tmp_path) == []


def test_interrupted_modelcheckpoint_save_keeps_previous(tmp_path, monkeypatch):
    x, y = make_data()
    model = make_model()
    ckpt = ModelCheckpoint(tmp_path / "ckpt.npz")
    fit_quiet(model, x, y, epochs=1, callbacks=[ckpt])
    before = (tmp_path / "ckpt.npz").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "replace", boom)  # fails after the data is fsynced
    with pytest.raises(OSError, match="no space"):
        fit_quiet(model, x, y, epochs=2, initial_epoch=1, callbacks=[ckpt])
    monkeypatch.undo()
    assert (tmp_path / "ckpt.npz").read_bytes() == before
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------- ModelCheckpoint


def test_modelcheckpoint_every_and_last_epoch(tmp_path):
    x, y = make_data()
    ckpt = ModelCheckpoint(tmp_path / "sub" / "c-{epoch:02d}.npz", every=2)
    fit_quiet(make_model(), x, y, epochs=5, callbacks=[ckpt])
    assert sorted(os.listdir(tmp_path / "sub")) == ["c-02.npz", "c-04.npz", "c-05.npz"]
    assert [load_model(tmp_path / "sub" / f"c-0{e}.npz").epoch for e in (2, 4, 5)] == [
        2,
        4,
        5,
    ]


def test_modelcheckpoint_saves_the_epoch_early_stopping_ends_on(tmp_path):
    class Scores(sc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = [3.0, 2.0, 2.5, 2.7, 1.0][epoch]
            logs["epoch"] = -1  # a log key named like the placeholder

    stop = sc.EarlyStopping(monitor="score", patience=1)
    ckpt = ModelCheckpoint(tmp_path / "c{epoch}.npz", every=10)
    fit_quiet(make_model(), *make_data(), epochs=5, callbacks=[Scores(), stop, ckpt])
    assert stop.stopped_epoch == 3
    assert os.listdir(tmp_path) == ["c4.npz"]
    assert load_model(tmp_path / "c4.npz").epoch == 4


def test_modelcheckpoint_order_does_not_matter(tmp_path):
    """Listed before the pruner, the checkpoint still holds the epoch's sparsity."""
    x, y = make_data()
    model = make_model()
    ckpt = ModelCheckpoint(tmp_path / "c.npz")
    fit_quiet(model, x, y, epochs=2, callbacks=[ckpt, PRUNERS["tfmot"]()])
    back = load_model(tmp_path / "c.npz")
    assert back.history.history == model.history.history
    assert "sparsity" in back.history.history
    assert_same_state(model, back)


def test_modelcheckpoint_save_best_only(tmp_path):
    class Fake(sc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = [3.0, 1.0, 2.0, 0.5][epoch]

    ckpt = ModelCheckpoint(
        tmp_path / "best-{epoch}-{score:.1f}.npz", save_best_only=True, monitor="score"
    )
    fit_quiet(make_model(), *make_data(), epochs=4, callbacks=[Fake(), ckpt])
    names = sorted(os.listdir(tmp_path))
    assert names == ["best-1-3.0.npz", "best-2-1.0.npz", "best-4-0.5.npz"]
    assert ckpt.best == 0.5

    ckpt = ModelCheckpoint(
        tmp_path / "x.npz", save_best_only=True, mode="max", monitor="nope"
    )
    with pytest.raises(ValueError, match="monitor 'nope' is not in the epoch logs"):
        fit_quiet(make_model(), *make_data(), epochs=1, callbacks=[ckpt])


@pytest.mark.parametrize(
    ("monitor", "mode", "kept"),
    [
        ("val_accuracy", "auto", ["a-1.npz", "a-3.npz"]),  # accuracy rises
        ("accuracy", "auto", ["a-1.npz", "a-3.npz"]),
        ("val_loss", "auto", ["a-1.npz", "a-2.npz", "a-4.npz"]),  # a loss falls
        ("my_acc", "auto", ["a-1.npz", "a-3.npz"]),  # "acc": rises (tf.keras)
        ("val_accuracy", "min", ["a-1.npz", "a-2.npz", "a-4.npz"]),  # as told
    ],
)
def test_modelcheckpoint_mode_auto_keeps_the_best(tmp_path, monitor, mode, kept):
    # The monitored values per epoch: the best is the highest accuracy, the
    # lowest loss (the same direction EarlyStopping infers).
    values = [0.5, 0.4, 0.9, 0.3]

    class Fake(sc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs[monitor] = values[epoch]

    ckpt = ModelCheckpoint(
        tmp_path / "a-{epoch}.npz", save_best_only=True, monitor=monitor, mode=mode
    )
    assert ckpt.mode == mode
    fit_quiet(make_model(), *make_data(), epochs=4, callbacks=[Fake(), ckpt])
    assert sorted(os.listdir(tmp_path)) == kept
    assert ckpt.best == (0.9 if kept[-1] == "a-3.npz" else 0.3)


def test_modelcheckpoint_bad_filepath_key(tmp_path):
    ckpt = ModelCheckpoint(tmp_path / "{val_loss}.npz")
    with pytest.raises(ValueError, match="cannot be formatted"):
        fit_quiet(make_model(), *make_data(), epochs=1, callbacks=[ckpt])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"every": 0}, ValueError, r"every must be an int in \[1, inf\); got 0"),
        ({"every": 1.5}, TypeError, r"every must be an int in \[1, inf\); got 1.5"),
        ({"every": True}, TypeError, r"every must be an int in \[1, inf\); got True"),
        ({"mode": "low"}, ValueError, "mode must be one of"),
        ({"monitor": 3}, TypeError, "monitor must be a str"),
        ({"save_best_only": 1}, TypeError, "save_best_only must be a bool"),
        ({"filepath": "c-{epoch.npz"}, ValueError, "must be a valid format string"),
        ({"filepath": 3}, TypeError, "expected str, bytes or os.PathLike"),
    ],
)
def test_modelcheckpoint_validation(tmp_path, kwargs, error, match):
    kwargs = {"filepath": str(tmp_path / "c.npz"), **kwargs}
    with pytest.raises(error, match=match):
        ModelCheckpoint(**kwargs)


def test_modelcheckpoint_accepts_boundaries(tmp_path):
    cb = ModelCheckpoint(tmp_path / "c.npz", every=1, mode="max", save_best_only=True)
    assert (cb.every, cb.mode, cb.save_best_only) == (1, "max", True)
    assert cb.best == -math.inf  # mode="max": any first value improves on it
    assert cb.filepath == str(tmp_path / "c.npz") and cb.last_path is None


# ---------------------------------------------------------------- malformed files


@pytest.fixture(scope="module")
def good_arrays(tmp_path_factory):
    model = make_model()
    fit_quiet(model, *make_data(), epochs=1, callbacks=[PRUNERS["magnitude"]()])
    path = tmp_path_factory.mktemp("good") / "good.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _header(arrays):
    return json.loads(str(arrays["header"]))


def _with_header(arrays, fn):
    h = _header(arrays)
    fn(h)
    return {**arrays, "header": np.array(json.dumps(h))}


def _set(arrays, key, value):
    return {**arrays, key: value}


def _drop(arrays, key):
    return {k: v for k, v in arrays.items() if k != key}


K0 = "weights/dense_0/kernel"
MASK = "pruner/masks/dense_0/kernel"
V = "optimizer/dense_0/kernel/v"

BAD = {
    "missing member": (lambda a: _drop(a, K0), K0 + ": missing member"),
    "unknown member": (
        lambda a: _set(a, "extra", np.zeros(2)),
        "extra: unknown member",
    ),
    "missing header": (lambda a: _drop(a, "header"), "header: missing member"),
    "wrong dtype": (lambda a: _set(a, K0, a[K0].astype(np.float64)), "dtype must be"),
    "big endian": (lambda a: _set(a, K0, a[K0].astype(">f4")), "dtype must be"),
    "wrong shape": (lambda a: _set(a, K0, a[K0][:, :3]), r"shape must be \(12, 16\)"),
    "nan weight": (
        lambda a: _set(a, K0, np.where(np.eye(12, 16) > 0, np.nan, a[K0]).astype("f4")),
        K0 + ": must hold only finite values",
    ),
    "negative v": (lambda a: _set(a, V, -np.ones_like(a[V])), "must be >= 0"),
    "mask not bool": (
        lambda a: _set(a, MASK, a[MASK].astype(np.uint8)),
        "dtype must be",
    ),
    "mask byte 2": (
        lambda a: _set(a, MASK, (a[MASK].view(np.uint8) * 2).view(bool)),
        "only 0 .False. and 1 .True. bytes",
    ),
    "header not str": (lambda a: _set(a, "header", np.zeros(3)), "0-d str array"),
    "header not json": (lambda a: _set(a, "header", np.array("{nope")), "invalid JSON"),
    "header list": (lambda a: _set(a, "header", np.array("[1]")), "JSON object"),
    "deep json": (
        lambda a: _set(a, "header", np.array("[" * 100_000 + "]" * 100_000)),
        "invalid JSON",
    ),
    "format": (
        lambda a: _with_header(a, lambda h: h.update(format="other")),
        "header.format: must be 'sparsecore.Checkpoint'",
    ),
    "version": (
        lambda a: _with_header(a, lambda h: h.update(version=3)),
        "header.version: unsupported version 3",
    ),
    "unknown field": (
        lambda a: _with_header(a, lambda h: h.update(extra=1)),
        r"header: keys must be .*unknown \['extra'\]",
    ),
    "missing field": (
        lambda a: _with_header(a, lambda h: h.pop("epoch")),
        r"missing \['epoch'\]",
    ),
    "unknown layer": (
        lambda a: _with_header(
            a, lambda h: h["model"]["layers"][1].update(class_name="Conv2D")
        ),
        r"layers\[1\].class_name: must be one of",
    ),
    "extra layer kwarg": (
        lambda a: _with_header(
            a, lambda h: h["model"]["layers"][0]["config"].update(evil=1)
        ),
        r"layers\[0\].config: invalid Dense config",
    ),
    "units mismatch": (
        lambda a: _with_header(
            a, lambda h: h["model"]["layers"][0]["config"].update(units=17)
        ),
        r"shape must be \(12, 17\)",
    ),
    "huge units": (
        lambda a: _with_header(
            a, lambda h: h["model"]["layers"][0]["config"].update(units=2**40)
        ),
        r"units: must be an int in \[1, 2147483647\]",
    ),
    "non-canonical config": (
        lambda a: _with_header(
            a, lambda h: h["compile"]["optimizer"]["config"].update(learning_rate=1)
        ),
        "not a canonical Adam config",
    ),
    "bad optimizer": (
        lambda a: _with_header(
            a, lambda h: h["compile"]["optimizer"]["config"].update(beta_1=2.0)
        ),
        r"beta_1 must be a float in \[0, 1\)",
    ),
    "unknown optimizer": (
        lambda a: _with_header(
            a, lambda h: h["compile"]["optimizer"].update(class_name="Lion")
        ),
        "optimizer.class_name: must be one of",
    ),
    "negative iterations": (
        lambda a: _with_header(
            a, lambda h: h["compile"]["optimizer"].update(iterations=-1)
        ),
        "iterations: must be an int in",
    ),
    "bool epoch": (
        lambda a: _with_header(a, lambda h: h.update(epoch=True)),
        "header.epoch: must be an int",
    ),
    "history too long": (
        lambda a: _with_header(
            a, lambda h: h["history"]["history"]["loss"].append(1.0)
        ),
        "must be a list of at most 1 numbers",
    ),
    "history str": (
        lambda a: _with_header(a, lambda h: h["history"]["history"].update(loss=["x"])),
        r"header.history.history\['loss'\]: must be a number; got 'x'",
    ),
    "pruner step": (
        lambda a: _with_header(a, lambda h: h["pruner"]["state"].update(step=-3)),
        r"header.pruner.state.step: must be an int in \[0, 4611686018427387904\]",
    ),
    "pruner schedule": (
        lambda a: _with_header(
            a,
            lambda h: h["pruner"]["state"]["config"]["schedule"]["config"].update(
                final_sparsity=1.5
            ),
        ),
        r"final_sparsity must be a float in \[0, 1\)",
    ),
    "pruner extra state": (
        lambda a: _with_header(a, lambda h: h["pruner"]["state"].update(evil=1)),
        "not a canonical pruner state",
    ),
    "mask of unknown weight": (
        lambda a: _with_header(
            a, lambda h: h["pruner"]["masks"].append("dense_9/kernel")
        ),
        "is not a weight of the model",
    ),
    "mask name not a str": (
        lambda a: _with_header(a, lambda h: h["pruner"]["masks"].__setitem__(0, [])),
        "header.pruner.masks: must be a list of distinct weight names",
    ),
    "sparse model file": (
        lambda a: _with_header(a, lambda h: h.update(format="sparsecore.SparseModel")),
        "use sc.SparseModel.load|read it with sc.SparseModel.load",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_checkpoint_refused(tmp_path, good_arrays, case):
    mutate, match = BAD[case]
    path = tmp_path / "bad.npz"
    atomic_savez(path, mutate(dict(good_arrays)))
    with pytest.raises(CheckpointFormatError, match=match) as info:
        load_model(path)
    assert str(info.value).startswith(str(path) + ": ")
    assert isinstance(info.value, SparseFormatError) and isinstance(
        info.value, ValueError
    )


def test_good_arrays_load(tmp_path, good_arrays):
    atomic_savez(tmp_path / "ok.npz", good_arrays)
    assert load_model(tmp_path / "ok.npz").pruner is not None


def _npy_bytes(descr, shape, payload=b""):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape})
    header = header.encode("latin1")
    pad = 64 - (10 + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_object_array_refused_without_unpickling(tmp_path, good_arrays):
    path = tmp_path / "obj.npz"
    members = {}
    for k, v in good_arrays.items():
        members[k + ".npy"] = _npy_bytes(v.dtype.str, v.shape, v.tobytes())
    members[K0 + ".npy"] = _npy_bytes("|O", (12, 16), b"\x80\x04evil")
    _zip(path, members)
    with pytest.raises(CheckpointFormatError, match="object arrays are refused"):
        load_model(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "no zip signature"),
        (b"hello world", "no zip signature"),
        (_npy_bytes("<f4", (2,), b"\0" * 8), "a single .npy array"),
        (b"PK\x03\x04" + b"\0" * 50, "not a readable .npz archive"),
        (b"PK\x05\x06" + b"\0" * 18, "header: missing member"),  # empty zip
    ],
)
def test_non_npz_refused(tmp_path, content, match):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointFormatError, match=match):
        load_model(path)


def test_truncated_file_refused(tmp_path, good_arrays):
    path = tmp_path / "t.npz"
    atomic_savez(path, good_arrays)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointFormatError):
            load_model(path)


def test_huge_declared_size_refused_before_allocating(tmp_path, good_arrays):
    """A central directory claiming 4 GB for a member is caught by its size."""
    path = tmp_path / "h.npz"
    atomic_savez(path, good_arrays)
    data = bytearray(path.read_bytes())
    i = data.rfind(b"PK\x01\x02")  # central directory entry of the last member
    data[i + 24 : i + 28] = struct.pack("<I", 0xFFFFFFF0)  # uncompressed size
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointFormatError, match="more than its .* stored bytes"):
        load_model(path)


def test_huge_shape_with_consistent_declared_size_refused(tmp_path, good_arrays):
    """input_dim 2**31 - 1 and a zip64 directory claiming the 128 GiB kernel:
    refused from the directory alone (the file holds 15 KB), nothing allocated."""
    n = 2**31 - 1
    arrays = _with_header(good_arrays, lambda h: h["model"].update(input_dim=n))
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in arrays.items():
            if k == K0:
                npy = _npy_bytes("<f4", (n, 16))
                zf.writestr(k + ".npy", npy + v.tobytes())
                info = zf.filelist[-1]
                info.file_size = info.compress_size = len(npy) + n * 16 * 4
            else:
                zf.writestr(k + ".npy", _npy_bytes(v.dtype.str, v.shape, v.tobytes()))
    assert os.path.getsize(path) < 100_000
    with pytest.raises(CheckpointFormatError, match=K0 + r": declares \d+ compressed"):
        load_model(path)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_refused(tmp_path, good_arrays, method):
    path = tmp_path / "c.npz"
    members = {
        k + ".npy": _npy_bytes(v.dtype.str, v.shape, v.tobytes())
        for k, v in good_arrays.items()
    }
    _zip(path, members, compression=method)
    with pytest.raises(CheckpointFormatError, match=f"compression method {method}"):
        load_model(path)


def test_duplicate_member_refused(tmp_path, good_arrays):
    path = tmp_path / "d.npz"
    members = [
        (k + ".npy", _npy_bytes(v.dtype.str, v.shape, v.tobytes()))
        for k, v in good_arrays.items()
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in [*members, members[1]]:
                zf.writestr(name, data)
    with pytest.raises(CheckpointFormatError, match="duplicate member"):
        load_model(path)


# ---------------------------------------------------------------- issue 10
def _pruner_cfg(h):
    return h["pruner"]["state"]["config"]


def _schedule_cfg(h):
    return _pruner_cfg(h)["schedule"]["config"]


BAD_RANGES = {
    "history 10**400": (
        lambda a: _with_header(
            a, lambda h: h["history"]["history"]["loss"].__setitem__(0, 10**400)
        ),
        r"header.history.history\['loss'\]: must be a number; got 1000",
    ),
    "pruner step 2**63-1": (
        lambda a: _with_header(
            a, lambda h: h["pruner"]["state"].update(step=2**63 - 1)
        ),
        r"header.pruner.state.step: must be an int in \[0, 4611686018427387904\]",
    ),
    "pruner step 2**63": (
        lambda a: _with_header(a, lambda h: h["pruner"]["state"].update(step=2**63)),
        "header.pruner.state.step: must be an int",
    ),
    "begin_step 2**70": (
        lambda a: _with_header(a, lambda h: _schedule_cfg(h).update(begin_step=2**70)),
        r"invalid pruner state .*begin_step must be an int in \[0, 2\*\*62\]",
    ),
    "end_step 2**64": (
        lambda a: _with_header(a, lambda h: _schedule_cfg(h).update(end_step=2**64)),
        r"invalid pruner state .*end_step must be an int in \[begin_step, 2\*\*62\]",
    ),
    "frequency 2**70": (
        lambda a: _with_header(a, lambda h: _schedule_cfg(h).update(frequency=2**70)),
        r"invalid pruner state .*frequency must be an int in \[1, 2\*\*62\]",
    ),
    "falling schedule": (
        lambda a: _with_header(
            a, lambda h: _schedule_cfg(h).update(initial_sparsity=0.9)
        ),
        "final_sparsity must be a float in .initial_sparsity, 1.",
    ),
    "adam epsilon 0": (
        lambda a: _with_header(
            a, lambda h: h["compile"]["optimizer"]["config"].update(epsilon=0.0)
        ),
        r"optimizer.config: invalid Adam config \(epsilon must be a float in",
    ),
    "learning rate 1e308": (
        lambda a: _with_header(
            a, lambda h: h["compile"]["optimizer"]["config"].update(learning_rate=1e308)
        ),
        r"optimizer.config: holds 1e\+308, which is not finite in float32",
    ),
    "learning rate 1e10": (
        lambda a: _with_header(
            a, lambda h: h["compile"]["optimizer"]["config"].update(learning_rate=1e10)
        ),
        r"invalid Adam config \(learning_rate must be a float in \(0, 1e\+06\]",
    ),
    "leaky alpha 1e308 in float32": (
        lambda a: _with_header(
            a, lambda h: h["model"]["layers"][1]["config"].update(alpha=1e308)
        ),
        r"layers\[1\].config: holds 1e\+308, which is not finite in float32",
    ),
    "config int 10**400": (
        lambda a: _with_header(
            a, lambda h: h["model"]["layers"][1]["config"].update(alpha=10**400)
        ),
        "which is not finite in float32",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RANGES))
def test_values_a_further_fit_cannot_use_are_refused(tmp_path, good_arrays, case):
    mutate, match = BAD_RANGES[case]
    path = tmp_path / "bad.npz"
    atomic_savez(path, mutate(dict(good_arrays)))
    with pytest.raises(CheckpointFormatError, match=match):
        load_model(path)


def test_limits_themselves_load_and_train(tmp_path, good_arrays):
    # The largest accepted values: a loaded checkpoint can always train.
    def edit(h):
        h["pruner"]["state"]["step"] = 2**62 - 100
        _schedule_cfg(h).update(begin_step=2**62 - 1000, end_step=2**62)
        h["compile"]["optimizer"]["config"].update(learning_rate=1e-6, epsilon=1.2e-38)
        h["compile"]["optimizer"]["iterations"] = 2**62 - 100
        h["epoch"] = 2**40

    path = tmp_path / "edge.npz"
    atomic_savez(path, _with_header(good_arrays, edit))
    model = load_model(path)
    x, y = make_data()
    fit_quiet(model, x, y, epochs=model.epoch + 1, initial_epoch=model.epoch)
    assert all(np.isfinite(w).all() for w in model.weights().values())
    assert model.pruner.step == 2**62 - 100 + 3  # 96 samples, batches of 32


def test_huge_block_is_clipped_and_trains(tmp_path, good_arrays):
    # (2**40, 1) blocks: the first mask would ask for 2**40 x 16 floats.
    path = tmp_path / "block.npz"
    atomic_savez(
        path,
        _with_header(
            good_arrays, lambda h: _pruner_cfg(h).update(block_size=[2**40, 1])
        ),
    )
    model = load_model(path)
    assert model.pruner.block_size == (16, 1)  # the largest pruned kernel: 16 rows
    fit_quiet(model, *make_data(), epochs=2, initial_epoch=1)
    assert model.pruner.step == 6


def test_version_1_files_still_load(tmp_path, good_arrays):
    def v1(h):
        h["version"] = 1
        del h["callbacks"]

    path = tmp_path / "v1.npz"
    atomic_savez(path, _with_header(good_arrays, v1))
    assert load_model(path).callback_states == {}
    bad = _with_header(good_arrays, lambda h: h.update(version=1))  # keeps callbacks
    atomic_savez(path, bad)
    with pytest.raises(CheckpointFormatError, match=r"unknown \['callbacks'\]"):
        load_model(path)


def test_directory_and_fifo_are_format_errors(tmp_path):
    with pytest.raises(CheckpointFormatError, match="is a directory"):
        load_model(tmp_path)
    os.mkfifo(tmp_path / "f.npz")
    with pytest.raises(CheckpointFormatError, match="FIFO"):
        load_model(tmp_path / "f.npz")


def test_overlapping_entries_bomb_refused(tmp_path, good_arrays):
    # The 67 KB checkpoint that loaded as a 134 M-parameter model.
    from tests.runtime.zipcraft import npy, overlapping

    names = ["header.npy"] + [f"weights/dense_{i}/kernel.npy" for i in range(64)]
    blob = overlapping(names, npy(np.zeros(1 << 16, np.float32)))
    assert len(blob) < 300_000
    (tmp_path / "bomb.npz").write_bytes(blob)
    with pytest.raises(CheckpointFormatError, match="overlaps"):
        load_model(tmp_path / "bomb.npz")


def test_save_refuses_non_finite_and_keeps_the_previous_file(tmp_path):
    model = make_model()
    path = tmp_path / "c.npz"
    model.save(path)
    before = path.read_bytes()
    model.weights()["dense_1/kernel"][0, 0] = np.inf
    with pytest.raises(ValueError, match="weights/dense_1/kernel .* NaN or inf"):
        model.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.npz"]


def test_modelcheckpoint_never_replaces_a_good_file_with_a_non_finite_one(tmp_path):
    # check_finite=False lets a run go on with NaN weights (here from epoch 2
    # on); the checkpoint of epoch 1 must stay, loadable.
    class Poison(sc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.weights()["dense_0/kernel"][0, 0] = np.nan

    model = make_model()
    ckpt = ModelCheckpoint(tmp_path / "c.npz")
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="not written"):
        fit_quiet(
            model,
            *make_data(),
            epochs=4,
            callbacks=[Poison(), ckpt],
            check_finite=False,
        )
    back = load_model(tmp_path / "c.npz")
    assert back.epoch == 1 and all(
        np.isfinite(w).all() for w in back.weights().values()
    )
    assert _leftovers(tmp_path) == ["c.npz"]


def test_pruned_weights_are_saved_as_zero(tmp_path):
    # even if something moved them after the last step (tfmot mode, user code)
    model = make_model()
    fit_quiet(model, *make_data(), epochs=1, callbacks=[PRUNERS["tfmot"]()])
    m = model.pruner.masks["dense_0/kernel"]
    model.weights()["dense_0/kernel"][~m] = 0.5
    model.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    assert not back.weights()["dense_0/kernel"][~m].any()
    assert (
        model.weights()["dense_0/kernel"][~m] == 0.5
    ).all()  # the live model untouched


class FakeVal(sc.Callback):
    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


VALS = [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.74, 0.71, 0.73, 0.7, 0.69, 0.9]


@pytest.mark.parametrize("restore", [False, True])
@pytest.mark.parametrize("cut", [3, 5])
def test_early_stopping_resumed_from_a_checkpoint_stops_at_the_same_epoch(
    tmp_path, restore, cut
):
    x, y = make_data()

    def es():
        return sc.EarlyStopping(patience=2, restore_best_weights=restore)

    def pruner():
        return Pruner(PolynomialDecay(0.0, 0.8, 1, 61, frequency=6))

    full = make_model()
    h = fit_quiet(full, x, y, epochs=12, callbacks=[pruner(), FakeVal(VALS), es()])
    part = make_model()
    fit_quiet(part, x, y, epochs=cut, callbacks=[pruner(), FakeVal(VALS), es()])
    part.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")  # as in a new process: fresh objects
    again = es()
    h2 = fit_quiet(
        back, x, y, epochs=12, initial_epoch=cut, callbacks=[FakeVal(VALS), again]
    )
    assert again.stopped_epoch == h.epoch[-1] == h2.epoch[-1] == 6
    assert back.history.epoch == full.history.epoch  # every epoch kept
    assert_same_state(full, back)


def test_callback_state_round_trips_exactly(tmp_path):
    x, y = make_data()
    model = make_model()
    stopper = sc.EarlyStopping(patience=9, restore_best_weights=True)
    best = ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)
    fit_quiet(
        model,
        x,
        y,
        epochs=3,
        callbacks=[
            Pruner(PolynomialDecay(0.0, 0.5, 1, 13, frequency=3)),
            FakeVal(VALS),
            stopper,
            best,
        ],
    )
    model.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    assert back.callback_states.keys() == model.callback_states.keys()
    for key, st in model.callback_states.items():
        got = back.callback_states[key]
        assert {k: v for k, v in got.items() if not k.startswith("best_")} == {
            k: v for k, v in st.items() if not k.startswith("best_")
        }
        for a, b in zip(
            st.get("best_weights") or [], got.get("best_weights") or [], strict=True
        ):
            np.testing.assert_array_equal(a, b)
        for name, m in (st.get("best_masks") or {}).items():
            np.testing.assert_array_equal(m, got["best_masks"][name])
    assert back.callback_states[stopper.state_key]["best_masks"] is not None


def test_weights_nonzero_where_the_masks_prune_refused(tmp_path):
    good = _es_arrays(tmp_path)  # pruned to 0.5
    mask = good[MASK]
    assert (~mask).any()
    w = good[K0].copy()
    w[~mask] = 1.0
    atomic_savez(tmp_path / "bad.npz", _set(good, K0, w))
    with pytest.raises(CheckpointFormatError, match=K0 + r": \d+ weights are nonzero"):
        load_model(tmp_path / "bad.npz")


def _es_arrays(tmp_path):
    model = make_model()
    x, y = make_data()
    fit_quiet(
        model,
        x,
        y,
        epochs=2,
        callbacks=[
            Pruner(ConstantSparsity(0.5, 1, frequency=3)),
            FakeVal(VALS),
            sc.EarlyStopping(restore_best_weights=True, patience=5),
        ],
    )
    model.save(tmp_path / "es.npz")
    with np.load(tmp_path / "es.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_malformed_callback_states_refused(tmp_path):
    good = _es_arrays(tmp_path)
    bw = "callbacks/0/best_weights/dense_0/kernel"

    def cb(**changes):
        return lambda h: h["callbacks"][0].update(**changes)

    cases = [
        (cb(class_name="Evil"), "class_name: must be one of"),
        (cb(key="other"), "key: must be"),
        (cb(best=float("nan")), "best: must be a number"),
        (cb(wait=-1), r"wait: must be an int in \[0"),
        (cb(best_epoch=2), r"best_epoch: must be an int in \[0, 1\]"),
        (cb(stopped=1), "stopped: must be true or false"),
        (cb(best_masks=["dense_9/kernel"]), "best_masks: must be null"),
        (cb(extra=1), r"unknown \['extra'\]"),
        (
            lambda h: h["callbacks"][0]["config"].update(patience=-1),
            "invalid EarlyStopping config",
        ),
        (lambda h: h.update(callbacks={}), "header.callbacks: must be a list"),
    ]
    for edit, match in cases:
        atomic_savez(tmp_path / "bad.npz", _with_header(good, edit))
        with pytest.raises(CheckpointFormatError, match=match):
            load_model(tmp_path / "bad.npz")
    for arrays, match in [
        (_drop(good, bw), bw + ": missing member"),
        (
            _set(good, bw, np.full_like(good[bw], np.nan)),
            bw + ": must hold only finite",
        ),
        (
            _set(good, bw, np.ones_like(good[bw])),
            bw + r": \d+ weights are nonzero where",
        ),
    ]:
        atomic_savez(tmp_path / "bad.npz", arrays)
        with pytest.raises(CheckpointFormatError, match=match):
            load_model(tmp_path / "bad.npz")


def test_history_survives_every_fit_and_resume(tmp_path):
    x, y = make_data()
    model = make_model()
    ckpt = ModelCheckpoint(tmp_path / "c.npz")
    fit_quiet(model, x, y, epochs=2, callbacks=[ckpt])
    fit_quiet(model, x, y, epochs=4, initial_epoch=2, callbacks=[ckpt])
    model.save(tmp_path / "after-second-fit.npz")
    assert load_model(tmp_path / "after-second-fit.npz").history.epoch == [0, 1, 2, 3]
    back = load_model(tmp_path / "c.npz")
    fit_quiet(
        back,
        x,
        y,
        epochs=6,
        initial_epoch=4,
        callbacks=[ModelCheckpoint(tmp_path / "c.npz")],
    )
    final = load_model(tmp_path / "c.npz")
    assert final.history.epoch == list(range(6))  # three fits, every epoch
    assert len(final.history.history["loss"]) == 6


def test_save_best_only_remembers_its_best_across_a_resume(tmp_path):
    x, y = make_data()
    vals = [1.0, 0.5, 0.7, 0.6, 0.4]
    model = make_model()
    best = tmp_path / "best.npz"
    fit_quiet(
        model,
        x,
        y,
        epochs=2,
        callbacks=[FakeVal(vals), ModelCheckpoint(best, save_best_only=True)],
    )
    model.save(tmp_path / "c.npz")
    saved = best.read_bytes()
    back = load_model(tmp_path / "c.npz")
    fresh = ModelCheckpoint(best, save_best_only=True)
    fit_quiet(back, x, y, epochs=4, initial_epoch=2, callbacks=[FakeVal(vals), fresh])
    assert best.read_bytes() == saved  # 0.7 and 0.6 are worse than 0.5
    assert fresh.best == 0.5
    fit_quiet(back, x, y, epochs=5, initial_epoch=4, callbacks=[FakeVal(vals), fresh])
    assert load_model(best).epoch == 5  # 0.4 is better


# ---------------------------------------------------------------- RigL and SET


DYN = {"RigL": RigL, "SET": SET}


def _dyn(name, **kwargs):
    return DYN[name](0.7, update_frequency=3, seed=4, **kwargs)


def _assert_same_dynamic_run(full, d_full, back, d_back):
    assert_same_state(full, back)
    assert list(d_back.masks) == list(d_full.masks)
    for n, m in d_full.masks.items():
        np.testing.assert_array_equal(d_back.masks[n], m)
    assert (d_back.step, d_back.end_step) == (d_full.step, d_full.end_step)
    assert d_back.updates == d_full.updates


@pytest.mark.parametrize("name", sorted(DYN))
def test_dynamic_sparsity_resumed_from_a_crash_checkpoint_is_bit_identical(
    tmp_path, name
):
    # A crash in the middle of epoch 3 of 6; ModelCheckpoint saved epoch 2.
    # end_step=None: resolved over the 36 steps of that fit, and kept in the
    # checkpoint, so the same constructor call goes on with it.
    x, y = make_data()
    full, d_full = make_model(), _dyn(name)
    fit_quiet(full, x, y, epochs=6, batch_size=16, callbacks=[d_full])
    assert d_full.end_step == 27 and len(d_full.updates) >= 6
    crashed, d_crashed = make_model(), _dyn(name)
    ckpt = ModelCheckpoint(tmp_path / "c.npz")
    with pytest.raises(KeyboardInterrupt):
        fit_quiet(
            crashed,
            x,
            y,
            epochs=6,
            batch_size=16,
            callbacks=[d_crashed, ckpt, Interrupt(epoch=3, batch=2)],
        )
    back = load_model(tmp_path / "c.npz")
    assert back.epoch == 3
    saved = back.callback_states[f"{name}:all"]
    assert (saved["step"], saved["end_step"]) == (18, 27)
    again = _dyn(name)
    fit_quiet(
        back, x, y, epochs=6, initial_epoch=back.epoch, batch_size=16, callbacks=[again]
    )
    _assert_same_dynamic_run(full, d_full, back, again)


@pytest.mark.parametrize("name", sorted(DYN))
def test_dynamic_sparsity_resumed_from_model_save_is_bit_identical(tmp_path, name):
    # fit(epochs=2) resolves end_step=None over its own 12 steps: a run cut
    # into fits gives its end step explicitly.
    x, y = make_data()
    full, d_full = make_model(), _dyn(name, end_step=30)
    fit_quiet(full, x, y, epochs=6, batch_size=16, callbacks=[d_full])
    half, d_half = make_model(), _dyn(name, end_step=30)
    fit_quiet(half, x, y, epochs=2, batch_size=16, callbacks=[d_half])
    half.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    for key, st in half.callback_states.items():  # the state, exactly
        got = back.callback_states[key]
        assert {k: v for k, v in got.items() if k != "masks"} == {
            k: v for k, v in st.items() if k != "masks"
        }
        assert list(got["masks"]) == list(st["masks"])
        for n, m in st["masks"].items():
            assert got["masks"][n].dtype == bool
            np.testing.assert_array_equal(got["masks"][n], m)
    again = _dyn(name, end_step=30)
    fit_quiet(back, x, y, epochs=6, initial_epoch=2, batch_size=16, callbacks=[again])
    _assert_same_dynamic_run(full, d_full, back, again)
    back.save(tmp_path / "again.npz")  # a resumed run saves and loads again
    assert load_model(tmp_path / "again.npz").callback_states.keys() == {f"{name}:all"}


def test_dynamic_sparsity_with_another_config_starts_afresh_after_a_load(tmp_path):
    # Decided: the saved state is another run's; it is not used (a warning
    # says so) and the callback starts from its own random masks at step 0.
    x, y = make_data()
    model = make_model()
    fit_quiet(model, x, y, epochs=2, batch_size=16, callbacks=[_dyn("RigL")])
    model.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    other = RigL(0.5, update_frequency=3, seed=4)
    with pytest.warns(RuntimeWarning, match=r"differs in \['sparsity'\]"):
        fit_quiet(
            back, x, y, epochs=3, initial_epoch=2, batch_size=16, callbacks=[other]
        )
    assert other.step == 6 and other.sparsity == pytest.approx(0.5, abs=0.01)


def _dyn_arrays(tmp_path, name="RigL", **kwargs):
    model = make_model()
    dyn = _dyn(name, **kwargs)
    fit_quiet(
        model,
        *make_data(),
        epochs=2,
        batch_size=16,
        callbacks=[dyn, FakeVal(VALS), sc.EarlyStopping(patience=5)],
    )
    model.save(tmp_path / "dyn.npz")
    with np.load(tmp_path / "dyn.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _dyn_index(arrays):
    (i,) = [
        i for i, e in enumerate(_header(arrays)["callbacks"]) if e["class_name"] in DYN
    ]
    return i


def test_malformed_dynamic_states_refused(tmp_path):
    good = _dyn_arrays(tmp_path)
    i = _dyn_index(good)
    m0 = f"callbacks/{i}/masks/dense_0/kernel"
    entry = _header(good)["callbacks"][i]
    assert entry["step"] == 12 and entry["end_step"] == 9 and entry["updates"]
    assert entry["masks"] == ["dense_0/kernel", "dense_1/kernel", "dense_2/kernel"]

    def cb(**changes):
        return lambda h: h["callbacks"][i].update(**changes)

    def cfg(**changes):
        return lambda h: h["callbacks"][i]["config"].update(**changes)

    f = rf"header.callbacks\[{i}\]"
    cases = [
        (cb(step=-1), f + r".step: must be an int in \[0, 4611686018427387904\]"),
        (cb(step=2**62 + 1), f + r".step: must be an int in"),
        (cb(step=True), f + r".step: must be an int in"),
        (cb(step=1.5), f + r".step: must be an int in"),
        (cb(end_step=None), f + r".end_step: must be an int in"),
        (cb(end_step=-2), f + r".end_step: must be an int in"),
        (cb(updates={}), f + r".updates: must be a list of at most 3"),
        (cb(updates=[[3, 0.3]] * 4), f + r".updates: must be a list of at most 3"),
        (cb(updates=[[3, 0.2, 1]]), f + r".updates\[0\]: must be a \[step, fraction\]"),
        (cb(updates=[3]), f + r".updates\[0\]: must be a \[step, fraction\]"),
        (cb(updates=[[4, 0.2]]), f + r".updates\[0\]\[0\]: must be a multiple of"),
        (cb(updates=[[6, 0.2], [3, 0.1]]), f + r".updates\[1\]\[0\]: must be an int"),
        (
            cb(updates=[[12, 0.2]]),
            f + r".updates\[0\]\[0\]: must be an int in \[1, 9\]",
        ),
        (cb(updates=[[3, 1.5]]), f + r".updates\[0\]\[1\]: must be a fraction in"),
        (cb(updates=[[3, "x"]]), f + r".updates\[0\]\[1\]: must be a finite number"),
        (cb(masks=entry["masks"][::-1]), f + r".masks: must be the names of the weigh"),
        (cb(masks=[*entry["masks"], "dense_9/kernel"]), f + ".masks: must be the"),
        (cb(masks=entry["masks"][:2]), f + ".masks: must be the names"),
        (cb(masks=None), f + ".masks: must be the names"),
        (cb(key="RigL:other"), f + r".key: must be 'RigL:all', once"),
        (cb(class_name="SET"), f + r".key: must be 'SET:all', once"),
        (cb(best=1.0), r"unknown \['best'\]"),
        (lambda h: h["callbacks"][i].pop("updates"), r"missing \['updates'\]"),
        (cfg(sparsity=1.5), f + r".config: invalid RigL config"),
        (cfg(evil=1), f + r".config: invalid RigL config"),
        (cfg(end_step=8), f + r".end_step: must be the configured end_step 8"),
        (cfg(distribution="global"), f + r".config: invalid RigL config"),
        (cfg(weights="dense_0/kernel"), f + r".config: not a canonical RigL config"),
        (
            lambda h: h["callbacks"][i].update(
                key="RigL:dense_0/bias",
                config={**h["callbacks"][i]["config"], "weights": ["dense_0/bias"]},
            ),
            f + r".config.weights: does not fit the model .biases are never pruned",
        ),
    ]
    for edit, match in cases:
        atomic_savez(tmp_path / "bad.npz", _with_header(good, edit))
        with pytest.raises(CheckpointFormatError, match=match) as info:
            load_model(tmp_path / "bad.npz")
        assert isinstance(info.value, ValueError)
    mask = good[m0]
    assert (~mask).any() and mask.any()
    w = good[K0].copy()
    w[~mask] = 0.5
    flipped = mask.copy()
    flipped.flat[np.flatnonzero(mask & (good[K0] != 0))[0]] = False  # w != 0
    for arrays, match in [
        (_set(good, m0, mask[:, :3]), m0 + r": shape must be \(12, 16\)"),
        (_set(good, m0, mask.astype(np.uint8)), m0 + ": dtype must be"),
        (_set(good, m0, mask.astype(np.float32)), m0 + ": dtype must be"),
        (
            _set(good, m0, (mask.view(np.uint8) * 2).view(bool)),
            "only 0 .False. and 1 .True. bytes",
        ),
        (_drop(good, m0), m0 + ": missing member"),
        (
            _set(good, f"callbacks/{i}/masks/dense_9/kernel", mask),
            "dense_9/kernel: unknown member",
        ),
        (
            _set(good, K0, w),
            K0 + r": \d+ weights are nonzero where RigL's mask "
            rf"\(callbacks/{i}/masks/dense_0/kernel\) prunes them",
        ),
        (_set(good, m0, flipped), K0 + r": 1 weights are nonzero where RigL's mask"),
    ]:
        atomic_savez(tmp_path / "bad.npz", arrays)
        with pytest.raises(CheckpointFormatError, match=match):
            load_model(tmp_path / "bad.npz")
    atomic_savez(tmp_path / "ok.npz", good)  # the untouched arrays load
    assert load_model(tmp_path / "ok.npz").callback_states.keys() == {
        "RigL:all",
        "EarlyStopping:val_loss:auto",
    }


def test_dynamic_states_with_given_weights_and_set_load(tmp_path):
    kw = {"weights": ["dense_1/kernel", "dense_0/kernel"], "end_step": 12}
    good = _dyn_arrays(tmp_path, "SET", **kw)
    i = _dyn_index(good)
    entry = _header(good)["callbacks"][i]
    assert entry["key"] == "SET:dense_0/kernel,dense_1/kernel"
    assert entry["masks"] == kw["weights"]  # in the order given
    assert entry["end_step"] == 12 and len(entry["updates"]) == 4
    atomic_savez(tmp_path / "ok.npz", good)
    back = load_model(tmp_path / "ok.npz")
    assert list(back.callback_states[entry["key"]]["masks"]) == kw["weights"]
    other_end = _with_header(good, lambda h: h["callbacks"][i].update(end_step=11))
    atomic_savez(tmp_path / "bad.npz", other_end)
    with pytest.raises(CheckpointFormatError, match="must be the configured end_step"):
        load_model(tmp_path / "bad.npz")


def test_a_dynamic_state_that_no_longer_fits_the_weights_is_not_saved(tmp_path):
    # Weights changed after the callback's last step (by the user here; by
    # EarlyStopping(restore_best_weights=True) in a run): its masks do not
    # describe them, so the checkpoint keeps the weights as they are and
    # leaves the state out, rather than zeroing weights for it.
    x, y = make_data()
    model = make_model()
    rigl = _dyn("RigL")
    fit_quiet(model, x, y, epochs=1, batch_size=16, callbacks=[rigl])
    m = rigl.masks["dense_1/kernel"]
    model.weights()["dense_1/kernel"][~m] = 0.25
    with pytest.warns(RuntimeWarning, match="'RigL:all' is not saved"):
        model.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    assert back.callback_states == {}
    assert (back.weights()["dense_1/kernel"][~m] == 0.25).all()


def test_checkpoints_without_dynamic_states_still_load(tmp_path):
    # What sparsecore wrote for a RigL run before RigL and SET were saved:
    # the same file without their entry (and members). It loads, and a
    # continued fit with RigL starts afresh, as it did then (no warning:
    # there is no state to ignore).
    good = _dyn_arrays(tmp_path)
    i = _dyn_index(good)
    old = _with_header(good, lambda h: h["callbacks"].pop(i))
    old = {k: v for k, v in old.items() if not k.startswith(f"callbacks/{i}/")}
    assert "callbacks/0/masks/dense_0/kernel" in good
    atomic_savez(tmp_path / "old.npz", old)
    back = load_model(tmp_path / "old.npz")
    assert list(back.callback_states) == ["EarlyStopping:val_loss:auto"]
    fresh = _dyn("RigL")
    fit_quiet(
        back,
        *make_data(),
        epochs=3,
        initial_epoch=2,
        batch_size=16,
        callbacks=[fresh, FakeVal(VALS)],
    )
    assert fresh.step == 6

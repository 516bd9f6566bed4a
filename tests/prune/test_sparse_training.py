"""Sparse training: equal to dense-masked training, exact, checkpointable.

The oracle everywhere is the same model trained with
``Pruner(masks=..., sparse_training=False)``: dense products, masked
gradients, masked weights and optimizer slots after every step.
"""

import os
import tempfile

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.nn.callbacks import Callback
from sparsecore.nn.gradcheck import check_layer
from sparsecore.prune import sparse_training as st_mod
from sparsecore.prune.pruner import MaskSet, Pruner
from sparsecore.prune.sparse_training import (
    LayerTrainingPlan,
    SparseKernel,
    SparseTraining,
    estimate_seconds,
)
from sparsecore.runtime.csr import available_backends
from sparsecore.runtime.pattern import SparsityPattern

BACKENDS = available_backends()
ACTS = {"relu": sc.ReLU, "tanh": sc.Tanh, "leaky": lambda: sc.LeakyReLU(0.2)}
OPTIMIZERS = {
    "sgd": lambda: sc.SGD(0.05),
    "momentum": lambda: sc.SGD(0.05, momentum=0.9),
    "nesterov": lambda: sc.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: sc.Adam(1e-2),
    "adamw": lambda: sc.AdamW(1e-2, weight_decay=0.05),
    "adam-schedule": lambda: sc.Adam(sc.nn.ExponentialDecay(2e-2, 3, 0.7)),
}


def make_model(widths, acts, optimizer="adam", seed=0, dtype="float32"):
    layers = []
    for i, w in enumerate(widths[1:]):
        layers.append(sc.Dense(w))
        if i < len(widths) - 2:
            layers.append(ACTS[acts[i % len(acts)]]())
    model = sc.Sequential(layers, input_dim=widths[0], seed=seed, dtype=dtype)
    model.compile("mse", OPTIMIZERS[optimizer]())
    return model


def make_data(n, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    proj = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
    y = np.tanh(x @ proj).astype(np.float32)
    return x, y


def random_masks(model, sparsity, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, w in model.weights().items():
        if name.endswith("/kernel"):
            out[name] = sc.prune.random_mask(w, sparsity, rng)
    return out


def sparse_pruner(masks, backend, mode=True):
    pruner = Pruner(masks=masks, sparse_training=mode)
    pruner.sparse.backend = backend
    return pruner


class Exactness(Callback):
    """After every step: pruned weights and slots are 0 (in declared shapes),
    and the sparse layers are on the sparse path inside fit."""

    def __init__(self, pruner, expect_sparse=None):
        super().__init__()
        self.pruner = pruner
        self.expect_sparse = expect_sparse
        self.steps = 0

    def on_after_optimizer_step(self):
        model = self.model
        declared = dict(zip(model.weights(), model.get_weights(), strict=True))
        opt = model.optimizer
        layers = {
            f"{la.name}/kernel": la for la in model.layers if "kernel" in la.params
        }
        for name, m in self.pruner.masks.items():
            assert not declared[name][~m].any()
            layer = layers[name]
            for slot in opt.state.get(name, {}).values():
                assert not layer.param_value("kernel", slot)[~m].any()
        if self.expect_sparse is not None:
            assert sorted(self.pruner.sparse.names) == sorted(self.expect_sparse)
            for name in self.expect_sparse:
                nnz = int(self.pruner.masks[name].sum())
                assert model.weights()[name].shape == (nnz,)
        self.steps += 1


def assert_close(model_a, model_b, rel=1e-4):
    """max |dw| <= rel * max |w| for every parameter (the issue's tolerance)."""
    for name, a, b in zip(
        model_a.weights(), model_a.get_weights(), model_b.get_weights(), strict=True
    ):
        assert a.shape == b.shape, name
        scale = max(float(np.abs(a).max()), 1e-30)
        assert float(np.abs(a - b).max()) <= rel * scale, name


# --------------------------------------------------------------------- equality
@given(
    widths=st.lists(st.integers(2, 40), min_size=3, max_size=4),
    acts=st.lists(st.sampled_from(sorted(ACTS)), min_size=1, max_size=3),
    sparsity=st.sampled_from([0.0, 0.5, 0.9, 0.99]),
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    backend=st.sampled_from(BACKENDS),
    batch_size=st.sampled_from([1, 7, 32]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=30)
def test_sparse_equals_dense_masked(
    widths, acts, sparsity, optimizer, backend, batch_size, seed
):
    x, y = make_data(48, widths[0], widths[-1], seed)
    dense = make_model(widths, acts, optimizer, seed)
    sparse = make_model(widths, acts, optimizer, seed)
    masks = random_masks(dense, sparsity, seed)
    pd = Pruner(masks=masks, sparse_training=False)
    ps = sparse_pruner(masks, backend)
    check = Exactness(ps, expect_sparse=list(masks))
    try:
        hd = dense.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, callbacks=[pd])
    except sc.NonFiniteLossError:
        reject()  # momentum 0.9 at batch 1 can diverge on a 2-unit net: not the point
    hs = sparse.fit(
        x, y, epochs=2, batch_size=batch_size, verbose=0, callbacks=[ps, check]
    )
    assert check.steps == 2 * -(-48 // batch_size)
    assert_close(dense, sparse)
    np.testing.assert_allclose(hs.history["loss"], hd.history["loss"], rtol=1e-4)
    # after fit: the dense kernels back, exactly zero where pruned
    assert not ps.sparse.active
    for name, m in masks.items():
        w = sparse.weights()[name]
        assert w.shape == m.shape and not w[~m].any()
        for slot in sparse.optimizer.state.get(name, {}).values():
            assert slot.shape == m.shape and not slot[~m].any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_agrees_to_rounding(backend):
    x, y = make_data(64, 20, 3, 1)
    dense = make_model([20, 30, 25, 3], ["tanh"], "adam", 1, "float64")
    sparse = make_model([20, 30, 25, 3], ["tanh"], "adam", 1, "float64")
    masks = random_masks(dense, 0.8, 1)
    dense.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[Pruner(masks=masks, sparse_training=False)],
    )
    sparse.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[sparse_pruner(masks, backend)],
    )
    assert_close(dense, sparse, rel=1e-11)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_through_the_sparse_operator(backend):
    rng = np.random.default_rng(0)
    layer = sc.Dense(6)
    layer.build(5, rng, np.dtype("float64"))
    mask = rng.random((5, 6)) < 0.5
    pattern = SparsityPattern(mask)
    plan = LayerTrainingPlan(
        "k", True, backend, backend, "numpy" if backend == "scipy" else backend
    )
    op = SparseKernel(pattern, plan, np.float64)
    layer.use_operator(op, pattern.gather(layer.params["kernel"]))
    x = rng.standard_normal((4, 5))
    result = check_layer(layer, x)
    assert result.max_error < 1e-7, result.errors
    # the kernel gradient holds exactly the kept entries of x^T g
    g = rng.standard_normal((4, 6))
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.grads["kernel"], (x.T @ g)[mask], rtol=1e-12)


# --------------------------------------------------------------------- the model view
def test_weights_inside_and_after_fit_and_strip():
    x, y = make_data(40, 12, 2)
    model = make_model([12, 16, 2], ["relu"])
    masks = random_masks(model, 0.75)
    pruner = sparse_pruner(masks, BACKENDS[0])
    seen = {}

    class Look(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["weights"] = {n: w.shape for n, w in self.model.weights().items()}
            seen["declared"] = [w.shape for w in self.model.get_weights()]
            seen["count"] = self.model.count_params()

    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[pruner, Look()])
    nnz = {n: int(m.sum()) for n, m in masks.items()}
    assert seen["weights"]["dense_0/kernel"] == (nnz["dense_0/kernel"],)
    assert seen["declared"] == [w.shape for w in model.weights().values()]
    assert seen["count"] == model.count_params() == 12 * 16 + 16 + 16 * 2 + 2
    assert model.weights()["dense_0/kernel"].shape == (12, 16)
    report = sc.sparsity_report(model)
    assert report is not None
    sm = sc.SparseModel.from_model(model, format="csr")
    np.testing.assert_allclose(sm.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)
    pruner.strip(model)
    assert model.pruner is None
    for name, m in masks.items():
        assert not model.weights()[name][~m].any()


def test_exception_inside_fit_puts_the_dense_kernels_back():
    x, y = make_data(40, 12, 2)
    model = make_model([12, 16, 2], ["relu"])
    masks = random_masks(model, 0.75)
    pruner = sparse_pruner(masks, BACKENDS[0])

    class Boom(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[pruner, Boom()])
    assert not pruner.sparse.active
    for name, m in masks.items():
        w = model.weights()[name]
        assert w.shape == m.shape and not w[~m].any()


def test_set_weights_and_early_stopping_restore_during_sparse_training():
    x, y = make_data(40, 12, 2)
    dense = make_model([12, 16, 2], ["relu"], "sgd")
    sparse = make_model([12, 16, 2], ["relu"], "sgd")
    masks = random_masks(dense, 0.5)
    kw = {"monitor": "loss", "patience": 0, "restore_best_weights": True}
    # a large learning rate so that the loss rises and the best epoch is restored
    for m in (dense, sparse):
        m.compile("mse", sc.SGD(0.9))
    es_d, es_s = sc.EarlyStopping(**kw), sc.EarlyStopping(**kw)
    dense.fit(
        x,
        y,
        epochs=6,
        batch_size=8,
        verbose=0,
        callbacks=[Pruner(masks=masks, sparse_training=False), es_d],
    )
    sparse.fit(
        x,
        y,
        epochs=6,
        batch_size=8,
        verbose=0,
        callbacks=[sparse_pruner(masks, BACKENDS[0]), es_s],
    )
    assert es_d.stopped_epoch == es_s.stopped_epoch
    assert_close(dense, sparse)


# --------------------------------------------------------------------- checkpoints
def test_checkpoint_mid_run_resumes_bit_for_bit(tmp_path):
    x, y = make_data(64, 12, 2)
    masks = random_masks(make_model([12, 24, 16, 2], ["relu"]), 0.8)
    path = os.fspath(tmp_path / "mid.npz")

    class SaveAt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                assert self.model.pruner.sparse.active  # saved while sparse
                self.model.save(path)

    whole = make_model([12, 24, 16, 2], ["relu"])
    whole.fit(
        x,
        y,
        epochs=4,
        batch_size=16,
        verbose=0,
        seed=3,
        callbacks=[sparse_pruner(masks, BACKENDS[0]), SaveAt()],
    )
    # the file holds the usual dense arrays, exactly zero where pruned
    with np.load(path) as f:
        for name, m in masks.items():
            w = f[f"weights/{name}"]
            assert w.shape == m.shape and not w[~m].any()
            for slot in ("m", "v"):
                s = f[f"optimizer/{name}/{slot}"]
                assert s.shape == m.shape and not s[~m].any()
    resumed = sc.load_model(path)
    assert resumed.epoch == 2
    assert resumed.pruner.sparse_training is True  # the checkpoint keeps the switch
    resumed.pruner.sparse.backend = BACKENDS[0]  # the engine's settings are not saved
    resumed.fit(x, y, epochs=4, batch_size=16, verbose=0, initial_epoch=2)
    for a, b in zip(whole.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # and the run equals dense-masked training within the tolerance
    dense = make_model([12, 24, 16, 2], ["relu"])
    dense.fit(
        x,
        y,
        epochs=4,
        batch_size=16,
        verbose=0,
        seed=3,
        callbacks=[Pruner(masks=masks, sparse_training=False)],
    )
    assert_close(dense, resumed)


@given(
    widths=st.lists(st.integers(2, 24), min_size=3, max_size=4),
    sparsity=st.sampled_from([0.5, 0.9]),
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    save_epoch=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=10)
def test_checkpoint_round_trip_mid_run_property(
    widths, sparsity, optimizer, save_epoch, seed
):
    # Saved while the layers are sparse, loaded, resumed: the same bits as
    # the uninterrupted sparse run, whatever the architecture and optimizer.
    x, y = make_data(40, widths[0], widths[-1], seed)
    masks = random_masks(make_model(widths, ["relu"], optimizer, seed), sparsity, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mid.npz")

        class SaveAt(Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == save_epoch:
                    assert self.model.pruner.sparse.active
                    self.model.save(path)

        whole = make_model(widths, ["relu"], optimizer, seed)
        whole.fit(
            x,
            y,
            epochs=3,
            batch_size=8,
            verbose=0,
            seed=seed,
            callbacks=[sparse_pruner(masks, BACKENDS[0]), SaveAt()],
        )
        resumed = sc.load_model(path)
    resumed.pruner.sparse.backend = BACKENDS[0]
    resumed.fit(x, y, epochs=3, batch_size=8, verbose=0, initial_epoch=save_epoch + 1)
    for a, b in zip(whole.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    state_a, state_b = whole.optimizer.state, resumed.optimizer.state
    for name, slots in state_a.items():
        for slot, arr in slots.items():
            np.testing.assert_array_equal(arr, state_b[name][slot])


def test_model_checkpoint_callback_and_config(tmp_path):
    x, y = make_data(32, 12, 2)
    model = make_model([12, 16, 2], ["relu"])
    masks = random_masks(model, 0.6)
    pruner = sparse_pruner(masks, BACKENDS[0])
    ckpt = sc.checkpoint.ModelCheckpoint(os.fspath(tmp_path / "c-{epoch}.npz"))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[pruner, ckpt])
    loaded = sc.load_model(tmp_path / "c-2.npz")
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.pruner.sparse_training is True
    assert loaded.pruner.get_config()["sparse_training"] is True
    assert "sparse_training" not in Pruner(masks=masks).get_config()  # the default


# --------------------------------------------------------------------- mask changes
def test_schedule_pruner_follows_mask_changes_on_the_sparse_path():
    x, y = make_data(64, 12, 2)
    schedule = sc.PolynomialDecay(0.5, 0.9, begin_step=2, end_step=20, frequency=3)
    dense = make_model([12, 32, 24, 2], ["relu"], dtype="float64")
    sparse = make_model([12, 32, 24, 2], ["relu"], dtype="float64")
    pd = Pruner(schedule, sparse_training=False)
    ps = Pruner(schedule, sparse_training=True)
    ps.sparse.backend = BACKENDS[0]
    changes = []

    class Count(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if ps.sparse.active:
                changes.append(tuple(ps.sparse.names))

    dense.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=[pd])
    sparse.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=[ps, Count()])
    assert changes  # the sparse path was used between pruning steps
    for name in pd.masks:
        np.testing.assert_array_equal(pd.masks[name], ps.masks[name])
    assert_close(dense, sparse, rel=1e-10)


class _SwitchMasks(Callback):
    """Changes the masks after the optimizer step of given steps, as RigL and
    SET do: grown connections start at zero with zero optimizer state.

    ``engine`` None: dense-masked (the oracle); else the sparse engine is
    told of every change (the mask-change notification).
    """

    def __init__(self, schedule, engine=None):
        super().__init__()
        self.schedule = schedule  # step -> masks
        self.engine = engine
        self.step = 0
        self.maskset = MaskSet(schedule[0])

    def on_train_begin(self, logs=None):
        live = self.model.weights()
        self.maskset.apply(live)
        self.maskset.apply_to_optimizer_state(self.model.optimizer)
        self._notify()

    def _notify(self):
        if self.engine is not None:
            self.engine.update(
                self.model, self.maskset.masks, self.params["batch_size"]
            )

    def on_train_batch_begin(self, batch, logs=None):
        self.step += 1

    def on_before_optimizer_step(self):
        if self.engine is None:
            self.maskset.apply(self.model.gradients())

    def on_after_optimizer_step(self):
        opt = self.model.optimizer
        if self.engine is None:
            self.maskset.apply(self.model.weights())
            self.maskset.apply_to_optimizer_state(opt)
        new = self.schedule.get(self.step)
        if new is None:
            return
        if self.engine is None:  # grown: zero weight and state (already zero)
            self.maskset = MaskSet(new)
            self.maskset.apply(self.model.weights())
            self.maskset.apply_to_optimizer_state(opt)
        else:
            self.maskset = MaskSet(new)
            self._notify()

    def on_train_end(self, logs=None):
        if self.engine is not None:
            self.engine.stop()


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_mask_change_notification_equals_dense_masked(optimizer):
    x, y = make_data(64, 12, 2)
    ref = make_model([12, 32, 2], ["tanh"], optimizer, dtype="float64")
    rng = np.random.default_rng(5)

    def masks(p):
        return {
            n: rng.random(w.shape) < p
            for n, w in ref.weights().items()
            if n.endswith("/kernel")
        }

    schedule = {0: masks(0.3), 5: masks(0.3), 11: masks(0.1), 17: masks(0.5)}
    dense = make_model([12, 32, 2], ["tanh"], optimizer, dtype="float64")
    sparse = make_model([12, 32, 2], ["tanh"], optimizer, dtype="float64")
    engine = SparseTraining(True, backend=BACKENDS[0])
    dense.fit(
        x, y, epochs=3, batch_size=8, verbose=0, callbacks=[_SwitchMasks(schedule)]
    )
    sparse.fit(
        x,
        y,
        epochs=3,
        batch_size=8,
        verbose=0,
        callbacks=[_SwitchMasks(schedule, engine)],
    )
    assert not engine.active
    assert_close(dense, sparse, rel=1e-10)


def test_update_carries_values_and_slots():
    model = make_model([6, 8, 2], ["relu"], "adam", dtype="float64")
    x, y = make_data(16, 6, 2)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # nonzero Adam moments
    name = "dense_0/kernel"
    rng = np.random.default_rng(0)
    old = rng.random((6, 8)) < 0.5
    new = rng.random((6, 8)) < 0.5
    w0 = model.weights()[name] * old
    m0 = model.optimizer.state[name]["m"] * old
    model.weights()[name][...] = w0
    model.optimizer.state[name]["m"][...] = m0
    engine = SparseTraining(True, backend="numpy")
    assert engine.update(model, {name: old}, 8) == [name]
    assert model.weights()[name].shape == (old.sum(),)
    assert engine.update(model, {name: old.copy()}, 8) == [name]  # equal: no change
    engine.update(model, {name: new}, 8)
    layer = model.layers[0]
    np.testing.assert_array_equal(layer.param_value("kernel"), w0 * new)
    slot = model.optimizer.state[name]["m"]
    np.testing.assert_array_equal(layer.param_value("kernel", slot), m0 * new)
    engine.update(model, {}, 8)  # no masks: back to dense
    assert not engine.active and model.weights()[name].shape == (6, 8)
    np.testing.assert_array_equal(model.weights()[name], w0 * new)


# --------------------------------------------------------------------- auto
def test_auto_keeps_small_layers_dense_masked():
    x, y = make_data(40, 12, 2)
    model = make_model([12, 16, 2], ["relu"])
    pruner = Pruner(masks=random_masks(model, 0.95))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[pruner])
    plans = pruner.sparse.plans
    assert set(plans) == set(pruner.masks)
    assert not any(p.sparse for p in plans.values())
    assert all("fewer than" in p.reason for p in plans.values())
    assert "dense-masked" in pruner.sparse.summary()


@pytest.mark.skipif("numba" not in BACKENDS, reason="numba is not installed")
def test_auto_estimate_takes_the_sparse_path_for_a_large_sparse_layer():
    model = make_model([512, 512, 1], ["relu"])
    masks = {
        "dense_0/kernel": sc.prune.random_mask(
            model.weights()["dense_0/kernel"], 0.99, np.random.default_rng(0)
        )
    }
    engine = SparseTraining("auto")
    names = engine.update(model, masks, 256)
    plan = engine.plans["dense_0/kernel"]
    assert names == ["dense_0/kernel"] and plan.sparse and plan.source == "estimate"
    assert plan.forward == "numba" and plan.input == "none"
    assert plan.seconds_sparse < plan.seconds_dense
    engine.stop()
    # a nearly dense layer is not worth it
    dense_masks = {"dense_0/kernel": np.ones((512, 512), bool)}
    assert engine.update(model, dense_masks, 256) == []
    assert "dense-masked" in engine.summary()


def test_measure_mode_times_the_products():
    model = make_model([300, 300, 1], ["relu"])
    x, y = make_data(64, 300, 1)
    masks = {
        "dense_0/kernel": sc.prune.random_mask(
            model.weights()["dense_0/kernel"], 0.99, np.random.default_rng(0)
        )
    }
    engine = SparseTraining("measure")
    engine.update(model, masks, 64)
    plan = engine.plans["dense_0/kernel"]
    assert plan.source == "measure" and plan.seconds_dense > 0
    engine.stop()


def test_cost_model_orders_backends_sensibly():
    shape, B = (1024, 1024), 1024
    dense = estimate_seconds("forward", "dense", shape, 0, B)
    assert estimate_seconds("forward", "numba", shape, 10_000, B, 2) < dense
    assert estimate_seconds("forward", "numba", shape, 500_000, B, 2) > dense
    # scipy has no sampled product: it costs NumPy's
    assert estimate_seconds("weight", "scipy", shape, 1000, B) == estimate_seconds(
        "weight", "numpy", shape, 1000, B
    )


# --------------------------------------------------------------------- eligibility
def test_ineligible_optimizer_and_tfmot_mode_stay_dense():
    class MyAdam(sc.Adam):
        pass

    x, y = make_data(32, 12, 2)
    model = make_model([12, 16, 2], ["relu"])
    model.compile("mse", MyAdam(1e-2))
    pruner = Pruner(masks=random_masks(model, 0.5), sparse_training=True)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[pruner])
    assert all("not elementwise" in p.reason for p in pruner.sparse.plans.values())
    tfmot = Pruner(
        sc.ConstantSparsity(0.5, 0, frequency=1),
        mask_gradients=False,
        sparse_training=True,
    )
    model2 = make_model([12, 16, 2], ["relu"])
    model2.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[tfmot])
    assert not tfmot.sparse.plans


def test_sparse_training_argument_is_validated():
    masks = {"dense_0/kernel": np.ones((2, 2), bool)}
    with pytest.raises(
        ValueError,
        match=r"sparse_training must be one of \['auto', "
        r"'measure'\]; got 'yes'",
    ):
        Pruner(masks=masks, sparse_training="yes")
    with pytest.raises(
        TypeError,
        match="sparse_training must be 'auto', 'measure', True or False; got 1",
    ):
        Pruner(masks=masks, sparse_training=1)
    with pytest.raises(ValueError, match="backend must be one of"):
        SparseTraining(backend="gpu")
    with pytest.raises(ValueError, match=r"threads must be an int in \[1, inf\)"):
        SparseTraining(threads=0)


# --------------------------------------------------------------------- memory
def test_training_state_at_95_percent_is_under_0_3_of_dense_masked():
    # Bytes of weights + gradients + optimizer slots and scratch + masks
    # (with the 0/1 factors dense-masked training caches) + the sparse
    # path's index arrays: counted, not timed.
    def state_bytes(model, pruner):
        opt = model.optimizer
        arrays = list(model.weights().values()) + list(model.gradients().values())
        arrays += [a for slots in opt.state.values() for a in slots.values()]
        arrays += list(opt._scratch.values())
        arrays += list(pruner.masks.values())
        arrays += [
            f for fs in pruner._engine._maskset._factors.values() for f in fs.values()
        ]
        return sum(a.nbytes for a in arrays) + pruner.sparse.nbytes()

    x, y = make_data(64, 200, 1)
    got = {}
    for mode in (False, True):
        model = make_model([200, 256, 256, 1], ["relu"])
        pruner = Pruner(
            masks={
                n: sc.prune.magnitude_mask(w, 0.95)
                for n, w in model.weights().items()
                if n.endswith("/kernel")
            },
            sparse_training=mode,
        )

        class Measure(Callback):
            def on_epoch_end(self, epoch, logs=None, pruner=pruner, mode=mode):
                got[mode] = state_bytes(self.model, pruner)

        model.fit(
            x, y, epochs=1, batch_size=32, verbose=0, callbacks=[pruner, Measure()]
        )
    assert got[True] <= 0.3 * got[False], got


def test_module_constants_are_consistent():
    assert set(st_mod.PER_MAC) == set(st_mod.PRODUCTS)
    for table in st_mod.PER_MAC.values():
        assert set(table) == {"numba", "scipy", "numpy"}

"""Pruner: steps, strict and tfmot dynamics, warnings, strip, state, the tutorial."""

import json
import math
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.prune import (
    ConstantSparsity,
    PolynomialDecay,
    Pruner,
    PruningScheduleWarning,
    keep_count,
    magnitude_mask,
    nm_mask,
    sparsity_report,
    strip_pruning,
)


def make_model(n_in=12, hidden=16, seed=0, optimizer=None, dtype="float32"):
    model = sc.Sequential(
        [sc.Dense(hidden), sc.ReLU(), sc.Dense(hidden), sc.ReLU(), sc.Dense(1)],
        input_dim=n_in,
        seed=seed,
        dtype=dtype,
    )
    model.compile("mse", optimizer or sc.Adam(1e-2))
    return model


def make_data(n=80, n_in=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    y = (
        x[:, :3].sum(axis=1, keepdims=True) + 0.1 * rng.standard_normal((n, 1))
    ).astype(np.float32)
    return x, y


def kernels(model):
    return {n: w for n, w in model.weights().items() if n.endswith("/kernel")}


class StrictChecker(sc.Callback):
    """After every optimizer step: pruned weights and their slots exactly zero."""

    def __init__(self, pruner):
        super().__init__()
        self.pruner = pruner
        self.checked = 0
        self.masks_seen = []

    def on_train_batch_begin(self, batch, logs=None):
        # Runs after the pruner (list order): masks are applied before forward.
        for name, m in self.pruner.masks.items():
            assert np.all(self.model.weights()[name][~m] == 0)
        if not self.masks_seen or any(
            not np.array_equal(m, self.masks_seen[-1][n])
            for n, m in self.pruner.masks.items()
        ):
            self.masks_seen.append(self.pruner.masks)

    def on_before_optimizer_step(self):
        for name, m in self.pruner.masks.items():
            assert np.all(self.model.gradients()[name][~m] == 0)

    def on_after_optimizer_step(self):
        for name, m in self.pruner.masks.items():
            assert np.all(self.model.weights()[name][~m] == 0)
            for slot in self.model.optimizer.state[name].values():
                assert np.all(slot[~m] == 0)
        self.checked += 1


# ----------------------------------------------------------------------- dynamics
@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: sc.SGD(0.05, momentum=0.9),
        lambda: sc.SGD(0.05, momentum=0.9, nesterov=True),
        lambda: sc.Adam(1e-2),
        lambda: sc.AdamW(1e-2, weight_decay=0.1),
    ],
)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"scope": "global"},
        {"criterion": "structured"},
        {"criterion": "random", "seed": 3},
        {"block_size": (2, 4), "block_pooling": "max"},
    ],
)
def test_pruned_weights_exactly_zero_after_every_step(optimizer, options):
    x, y = make_data()
    model = make_model(optimizer=optimizer())
    schedule = PolynomialDecay(0.1, 0.8, begin_step=3, end_step=33, frequency=5)
    pruner = Pruner(schedule, **options)
    checker = StrictChecker(pruner)
    model.fit(x, y, epochs=5, batch_size=10, callbacks=[pruner, checker], verbose=0)
    assert checker.checked == pruner.step == 40
    # Nested masks under the non-decreasing schedule.
    assert len(checker.masks_seen) >= 6
    for old, new in zip(checker.masks_seen, checker.masks_seen[1:], strict=False):
        for name in old:
            assert not np.any(new[name] & ~old[name])


def test_strict_mask_is_ranked_among_kept_weights():
    x, y = make_data()
    model = make_model(optimizer=sc.SGD(0.1))
    pruner = Pruner(PolynomialDecay(0.2, 0.6, 2, 10, frequency=4))
    seen = {}

    class Before(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen["w"] = {n: w.copy() for n, w in kernels(self.model).items()}
            seen["masks"] = pruner.masks

    class After(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            should, s = pruner.schedule(pruner.step)
            if should:
                for n, m in pruner.masks.items():
                    expected = magnitude_mask(
                        seen["w"][n], s, prev_mask=seen["masks"][n]
                    )
                    assert np.array_equal(m, expected)
                    n_kept = keep_count(m.size, s)
                    assert np.count_nonzero(m) == n_kept
                    assert np.count_nonzero(self.model.weights()[n]) <= n_kept

    model.fit(
        x, y, epochs=2, batch_size=10, callbacks=[Before(), pruner, After()], verbose=0
    )


def test_tfmot_dynamics_dense_gradients_and_regrowth():
    x, y = make_data()
    model = make_model(optimizer=sc.SGD(0.05))
    pruner = Pruner(
        ConstantSparsity(0.5, begin_step=1, frequency=3), mask_gradients=False
    )
    seen, moved = {}, []

    class Before(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen["w"] = {n: w.copy() for n, w in kernels(self.model).items()}

    class After(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            should, s = pruner.schedule(pruner.step)
            for n, m in pruner.masks.items():
                if should:  # re-ranked from scratch, no prev mask
                    assert np.array_equal(m, magnitude_mask(seen["w"][n], s))
                assert np.all(self.model.weights()[n][~m] == 0)  # masked before forward

        def on_after_optimizer_step(self):
            # Dense gradients: the optimizer moves pruned weights off zero.
            moved.append(
                any(
                    np.any(self.model.weights()[n][~m] != 0)
                    for n, m in pruner.masks.items()
                )
            )

    model.fit(
        x, y, epochs=3, batch_size=10, callbacks=[Before(), pruner, After()], verbose=0
    )
    assert all(moved)
    for n, m in pruner.masks.items():  # re-masked at epoch end, as tfmot
        assert np.all(model.weights()[n][~m] == 0)


def test_tfmot_mode_masks_can_regrow():
    x, y = make_data()
    model = make_model(optimizer=sc.SGD(0.2))
    pruner = Pruner(
        ConstantSparsity(0.5, begin_step=1, frequency=2), mask_gradients=False
    )
    history = []

    class Record(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            history.append(pruner.masks)

    model.fit(x, y, epochs=4, batch_size=10, callbacks=[pruner, Record()], verbose=0)
    regrown = any(
        np.any(new[n] & ~old[n])
        for old, new in zip(history, history[1:], strict=False)
        for n in old
    )
    assert regrown


def test_biases_never_touched():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.5, begin_step=1, frequency=1))
    model.fit(x, y, epochs=2, batch_size=10, callbacks=[pruner], verbose=0)
    assert set(pruner.masks) == {"dense_0/kernel", "dense_1/kernel", "dense_2/kernel"}
    biases = [n for n in model.weights() if n.endswith("/bias")]
    # Through the hooks directly: biases, their gradients and slots, all untouched.
    rng = np.random.default_rng(0)
    arrays = [model.weights(), model.gradients(), *model.optimizer.state.values()]
    for name in biases:
        model.weights()[name][...] = rng.standard_normal(model.weights()[name].shape)
        model.gradients()[name][...] = rng.standard_normal(model.weights()[name].shape)
        for slot in model.optimizer.state[name].values():
            slot[...] = rng.standard_normal(slot.shape)
    before = {name: model.weights()[name].copy() for name in biases}
    saved = [{k: v.copy() for k, v in d.items()} for d in arrays]
    pruner.on_train_batch_begin(0)  # a pruning step
    pruner.on_before_optimizer_step()
    pruner.on_after_optimizer_step()
    for d, old in zip(arrays, saved, strict=True):
        for name in biases:
            if name in d:
                assert np.array_equal(d[name], old[name])
    for name in biases:
        assert np.array_equal(model.weights()[name], before[name])
        assert np.count_nonzero(model.weights()[name]) == model.weights()[name].size


def test_pruner_that_never_prunes_changes_nothing():
    x, y = make_data()
    dense, pruned = make_model(), make_model()
    dense.fit(x, y, epochs=3, batch_size=10, verbose=0, seed=1)
    pruner = Pruner(ConstantSparsity(0.5, begin_step=1000, frequency=1))
    with pytest.warns(PruningScheduleWarning, match="nothing will be pruned"):
        pruned.fit(x, y, epochs=3, batch_size=10, callbacks=[pruner], verbose=0, seed=1)
    for a, b in zip(dense.get_weights(), pruned.get_weights(), strict=True):
        assert np.array_equal(a, b)


# ----------------------------------------------------------------------- steps
def test_steps_count_over_epochs_and_fit_calls_not_inference():
    x, y = make_data()
    schedule = PolynomialDecay(0.0, 0.7, begin_step=4, end_step=44, frequency=8)
    one = make_model()
    p1 = Pruner(schedule)
    one.fit(x, y, epochs=6, batch_size=10, callbacks=[p1], verbose=0, seed=5)

    two = make_model()
    p2 = Pruner(schedule)
    with pytest.warns(PruningScheduleWarning, match="24 < 44"):
        two.fit(x, y, epochs=3, batch_size=10, callbacks=[p2], verbose=0, seed=5)
    assert p2.step == 24
    masks = p2.masks
    two.predict(x)
    two.evaluate(x, y)
    assert p2.step == 24
    assert all(np.array_equal(masks[n], m) for n, m in p2.masks.items())
    two.fit(
        x,
        y,
        epochs=6,
        initial_epoch=3,
        batch_size=10,
        callbacks=[p2],
        verbose=0,
        seed=5,
    )
    assert p1.step == p2.step == 48
    for a, b in zip(one.get_weights(), two.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_history_records_sparsity_per_epoch():
    x, y = make_data()
    model = make_model()
    schedule = PolynomialDecay(0.0, 0.75, begin_step=8, end_step=40, frequency=8)
    pruner = Pruner(schedule)
    history = model.fit(
        x,
        y,
        epochs=6,
        batch_size=10,
        callbacks=[pruner],
        verbose=0,
        validation_data=(x, y),
    )
    sp = history.history["sparsity"]
    assert len(sp) == 6 and sp[0] == 0.0
    n = sum(w.size for w in kernels(model).values())
    for epoch, value in enumerate(sp):
        step = 8 * (epoch + 1)
        s = schedule.sparsity_at(schedule.last_pruning_step(step))
        kept = sum(keep_count(w.size, float(s)) for w in kernels(model).values())
        assert value == pytest.approx(1 - kept / n, abs=0, rel=1e-15)
    assert pruner.sparsity == sp[-1]


def test_nm_mask_computed_once_at_begin():
    x, y = make_data(n_in=12)
    model = make_model(hidden=16)
    pruner = Pruner(ConstantSparsity(0.5, begin_step=3), criterion="nm", nm=(2, 4))
    snapshots = {}

    class Record(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            snapshots[pruner.step] = pruner.masks

    before = {}

    class Before(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if pruner.step == 2:  # the pruner will advance to step 3 next
                before.update({n: w.copy() for n, w in kernels(self.model).items()})

    model.fit(
        x, y, epochs=2, batch_size=10, callbacks=[Before(), pruner, Record()], verbose=0
    )
    assert all(m.all() for m in snapshots[2].values())
    for n, m in snapshots[3].items():
        if m.shape[0] % 4 == 0:
            assert np.array_equal(m, nm_mask(before[n], 2, 4, axis=0))
        assert all(np.array_equal(snapshots[t][n], m) for t in range(3, 17))
    groups = model.weights()["dense_1/kernel"].reshape(4, 4, 16)
    assert np.all((groups == 0).sum(axis=1) >= 2)


def test_nm_group_that_does_not_divide_pads_the_last_group():
    # Issue 11: tfmot pads the last group with zeros; this raised before.
    x, y = make_data()
    model = make_model(hidden=10)
    pruner = Pruner(ConstantSparsity(0.5, 0), criterion="nm", nm=(2, 4))
    before = {}

    class Before(sc.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if pruner.step == 0:
                before.update({n: w.copy() for n, w in kernels(self.model).items()})

    model.fit(x, y, epochs=1, batch_size=10, callbacks=[Before(), pruner], verbose=0)
    for name, m in pruner.masks.items():  # 12, 10 and 10 inputs: 4+4+4, 4+4+2
        assert np.array_equal(m, nm_mask(before[name], 2, 4, axis=0))
        assert sc.prune.is_pruned_m_by_n(model.weights()[name], (2, 4))
    assert np.count_nonzero(pruner.masks["dense_1/kernel"]) == (2 + 2 + 2) * 10


def test_global_scope_total_exact():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.7, begin_step=2, frequency=4), scope="global")
    model.fit(x, y, epochs=2, batch_size=10, callbacks=[pruner], verbose=0)
    n = sum(w.size for w in kernels(model).values())
    kept = sum(np.count_nonzero(m) for m in pruner.masks.values())
    assert kept == keep_count(n, 0.7)
    assert sum(np.count_nonzero(w) for w in kernels(model).values()) <= kept


def test_structured_prunes_whole_neurons():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(
        ConstantSparsity(0.5, begin_step=1, frequency=4), criterion="structured"
    )
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    m = pruner.masks["dense_0/kernel"]
    assert np.all(m.all(axis=0) | ~m.any(axis=0))
    assert np.count_nonzero(m.all(axis=0)) == 8
    assert pruner.masks["dense_2/kernel"].all()  # one output neuron: k = max(1, ...)


def test_random_criterion_reproducible_with_seed():
    x, y = make_data()
    masks = []
    for _ in range(2):
        model = make_model()
        pruner = Pruner(
            ConstantSparsity(0.5, 1, frequency=3), criterion="random", seed=7
        )
        model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
        masks.append(pruner.masks)
    assert all(np.array_equal(masks[0][n], masks[1][n]) for n in masks[0])


# ----------------------------------------------------------------------- tutorial
def test_tutorial_recipe_schedule_completes_exactly():
    """The tutorial's PolynomialDecay(0, 0.75, 1000, 5000) run to the end.

    8 steps per epoch as the tutorial (batch 1024 of 8000 samples), with a
    tiny model so 5000 steps are quick: 625 epochs reach step 5000.
    """
    x, y = make_data(n=64, n_in=8)
    model = sc.Sequential(
        [
            sc.Dense(12, kernel_initializer="he_normal"),
            sc.ReLU(),
            sc.Dense(12),
            sc.ReLU(),
            sc.Dense(1),
        ],
        input_dim=8,
        seed=0,
    )
    model.compile("mse", sc.Adam(1e-3))
    schedule = PolynomialDecay(
        0.0, 0.75, begin_step=1000, end_step=5000, power=3, frequency=100
    )
    pruner = Pruner(schedule)
    history = model.fit(x, y, epochs=625, batch_size=8, callbacks=[pruner], verbose=0)
    assert pruner.step == 5000
    for name, w in kernels(model).items():
        assert np.count_nonzero(w) == keep_count(w.size, 0.75), name
        assert np.count_nonzero(pruner.masks[name]) == keep_count(w.size, 0.75)
    assert history.history["sparsity"][-1] == pytest.approx(
        1
        - sum(keep_count(w.size, 0.75) for w in kernels(model).values())
        / (96 + 144 + 12)
    )


def test_tutorial_recipe_200_epochs_warns_and_stops_at_0289():
    x, y = make_data(n=64, n_in=8)
    model = sc.Sequential(
        [sc.Dense(12), sc.ReLU(), sc.Dense(12), sc.ReLU(), sc.Dense(1)],
        input_dim=8,
        seed=0,
    )
    model.compile("mse", sc.Adam(1e-3))
    schedule = PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)
    pruner = Pruner(schedule)
    with pytest.warns(PruningScheduleWarning) as record:
        model.fit(x, y, epochs=200, batch_size=8, callbacks=[pruner], verbose=0)
    assert len(record) == 1
    message = str(record[0].message)
    for part in (
        "steps 1 to 1600",
        "1600 < 5000",
        "0.289",
        "instead of 0.75",
        "epochs >= 625",
    ):
        assert part in message, message
    s = schedule(1600)[1]
    for name, w in kernels(model).items():
        assert np.count_nonzero(w) == keep_count(w.size, s), name


def test_misaligned_frequency_warning_numbers():
    x, y = make_data(n=10)
    model = make_model()
    schedule = PolynomialDecay(0.5, 0.95, 100, 350, frequency=7)
    with pytest.warns(
        PruningScheduleWarning, match="not a multiple of frequency"
    ) as record:
        model.fit(
            x, y, epochs=350, batch_size=10, callbacks=[Pruner(schedule)], verbose=0
        )
    message = str(record[0].message)
    assert "last pruning step is 345" in message
    assert "0.9499964" in message and "0.95 is never applied" in message
    assert len(record) == 1


def test_no_warning_when_the_schedule_fits():
    x, y = make_data()
    model = make_model()
    first = Pruner(PolynomialDecay(0.0, 0.5, 0, 40, frequency=8))
    # ConstantSparsity with aligned end, or misaligned but constant: no warning.
    model2 = make_model()
    second = Pruner(ConstantSparsity(0.5, 1, end_step=12, frequency=5))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=5, batch_size=10, callbacks=[first], verbose=0)
        model2.fit(x, y, epochs=2, batch_size=10, callbacks=[second], verbose=0)
    assert [str(w.message) for w in record] == []
    assert first.sparsity == pytest.approx(0.5, abs=0.01)  # the schedule completed
    assert second.sparsity == pytest.approx(0.5, abs=0.01)


def test_schedule_pruning_only_at_step_zero_warns():
    x, y = make_data()
    model = make_model()
    with pytest.warns(PruningScheduleWarning, match="only at step 0"):
        model.fit(
            x,
            y,
            epochs=1,
            batch_size=10,
            callbacks=[Pruner(PolynomialDecay(0.0, 0.5, 0, 0))],
            verbose=0,
        )


def test_constant_sparsity_begin_zero_first_prunes_at_frequency():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.5, 0, frequency=100))
    with pytest.warns(
        PruningScheduleWarning, match="first prunes at step 100: 16 < 100"
    ):
        model.fit(x, y, epochs=2, batch_size=10, callbacks=[pruner], verbose=0)
    assert all(m.all() for m in pruner.masks.values())


# ----------------------------------------------------------------------- strip, state
def test_strip_folds_masks_and_detaches():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.6, 1, frequency=1), mask_gradients=False)
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    assert model.pruner is pruner
    masks = pruner.masks
    assert strip_pruning(model) is model
    assert model.pruner is None
    for name, m in masks.items():
        w = model.weights()[name]
        assert np.all(w[~m] == 0) and not np.any(np.signbit(w[~m]))
    assert strip_pruning(model) is model  # no pruner: unchanged
    report = sparsity_report(model)
    assert report.pruned_sparsity == pytest.approx(pruner.sparsity)
    # A new pruner can attach once the old one is gone.
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=10,
        verbose=0,
        callbacks=[Pruner(ConstantSparsity(0.5, 1, frequency=1))],
    )


def test_second_pruner_on_same_model_is_refused():
    x, y = make_data()
    model = make_model()
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=10,
        callbacks=[Pruner(ConstantSparsity(0.5, 1))],
        verbose=0,
    )
    with pytest.raises(ValueError, match="model already has another Pruner"):
        model.fit(
            x,
            y,
            epochs=1,
            batch_size=10,
            callbacks=[Pruner(ConstantSparsity(0.5, 1))],
            verbose=0,
        )


def test_state_dict_round_trip_and_resume(tmp_path):
    x, y = make_data()
    schedule = PolynomialDecay(0.0, 0.8, begin_step=2, end_step=38, frequency=6)
    full = make_model()
    full.fit(
        x,
        y,
        epochs=6,
        batch_size=10,
        callbacks=[Pruner(schedule, seed=1)],
        verbose=0,
        seed=2,
    )

    half = make_model()
    p1 = Pruner(schedule, seed=1)
    with pytest.warns(PruningScheduleWarning, match="24 < 38"):
        half.fit(x, y, epochs=3, batch_size=10, callbacks=[p1], verbose=0, seed=2)
    state = p1.state_dict()
    # Through JSON + .npz, as a checkpoint would store it.
    config = json.loads(json.dumps(state["config"]))
    np.savez(
        tmp_path / "p.npz",
        step=state["step"],
        **{f"mask/{n}": m for n, m in state["masks"].items()},
    )
    with np.load(tmp_path / "p.npz") as f:
        loaded = {
            "config": config,
            "step": f["step"],
            "masks": {k[5:]: f[k] for k in f.files if k.startswith("mask/")},
        }
    half.pruner = None
    p2 = Pruner.from_state_dict(loaded)
    assert p2.step == 24 and p2.get_config() == p1.get_config()
    assert all(np.array_equal(p2.masks[n], m) for n, m in p1.masks.items())
    half.fit(
        x,
        y,
        epochs=6,
        initial_epoch=3,
        batch_size=10,
        callbacks=[p2],
        verbose=0,
        seed=2,
    )
    for a, b in zip(full.get_weights(), half.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_load_state_dict_errors():
    p = Pruner(ConstantSparsity(0.5, 1))
    with pytest.raises(ValueError, match="state must be a dict with keys"):
        p.load_state_dict({"step": 1})
    good = p.state_dict()
    # The bound is 2**62 since issue 10 (it was [0, inf) before).
    with pytest.raises(
        ValueError, match=r"state\['step'\] must be an int in \[0, 2\*\*62\]"
    ):
        p.load_state_dict({**good, "step": -1})
    with pytest.raises(ValueError, match=r"state\['step'\] must be an int"):
        p.load_state_dict({**good, "step": 1.5})
    with pytest.raises(ValueError, match="must be a bool array"):
        p.load_state_dict({**good, "masks": {"dense_0/kernel": np.ones((2, 2))}})
    model = make_model()
    p.load_state_dict(
        {**good, "masks": {"dense_0/kernel": np.ones((2, 2), dtype=bool)}}
    )
    with pytest.raises(ValueError, match="masks are for weights"):
        p.set_model(model)


def test_masks_are_read_only():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.5, 1))
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    with pytest.raises(ValueError, match="read-only"):
        pruner.masks["dense_0/kernel"][0, 0] = False


# ----------------------------------------------------------------------- options
def test_explicit_weights_selection():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.5, 1, frequency=1), weights=["dense_1/kernel"])
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    assert list(pruner.masks) == ["dense_1/kernel"]
    assert np.count_nonzero(model.weights()["dense_0/kernel"]) == 12 * 16
    for bad, msg in (
        ("dense_9/kernel", "weights must name weights of the model"),
        ("dense_0/bias", "biases are never pruned"),
    ):
        with pytest.raises(ValueError, match=msg):
            make_model().fit(
                x,
                y,
                callbacks=[Pruner(ConstantSparsity(0.5, 1), weights=[bad])],
                verbose=0,
            )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"criterion": "l1"},
            ValueError,
            r"criterion must be one of \['magnitude', 'nm'",
        ),
        ({"scope": "model"}, ValueError, r"scope must be one of \['global', 'layer'\]"),
        (
            {"scope": "global", "criterion": "structured"},
            ValueError,
            "scope='global' needs",
        ),
        (
            {"block_size": (2, 2), "criterion": "random"},
            ValueError,
            r"block_size must be \(1, 1\)",
        ),
        ({"block_size": (2,)}, ValueError, "block_size must be a pair"),
        ({"block_pooling": "sum"}, ValueError, "block_pooling must be one of"),
        ({"nm": (4, 4), "criterion": "nm"}, ValueError, "nm must be a pair"),
        # any Ln norm since issue 11 (norm=3 was refused before)
        ({"norm": 0}, ValueError, r"norm must be a float in \(0, inf\]"),
        ({"seed": -1}, ValueError, "seed must be None or an int"),
        ({"mask_gradients": 1}, TypeError, "mask_gradients must be a bool"),
        ({"weights": [1]}, TypeError, "weights must be None or a non-empty list"),
        ({"axis": 1.0}, TypeError, "axis must be an int or None"),
    ],
)
def test_constructor_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        Pruner(ConstantSparsity(0.5, 0), **kwargs)


def test_schedule_type_checked():
    with pytest.raises(TypeError, match="schedule must be a PruningSchedule"):
        Pruner(0.5)


def test_block_needs_rank_two_and_structured_axis():
    p = Pruner(ConstantSparsity(0.5, 1), criterion="structured", axis=2)
    with pytest.raises(IndexError, match="axis must be an int in"):
        p.set_model(make_model())


def test_hooks_allocate_nothing_parameter_sized():
    model = sc.Sequential(
        [sc.Dense(300), sc.ReLU(), sc.Dense(400), sc.Dense(1)], input_dim=200, seed=0
    )
    model.compile("mse", sc.Adam())
    pruner = Pruner(ConstantSparsity(0.75, begin_step=1, frequency=10**6))
    pruner.set_model(model)
    pruner.set_params({"epochs": 1, "initial_epoch": 0, "steps": 1})
    pruner.on_train_begin()
    pruner.on_train_batch_begin(0)  # step 1: masks computed (allocates, once)
    for hook in (pruner.on_before_optimizer_step, pruner.on_after_optimizer_step):
        hook()  # warm the per-dtype caches
    tracemalloc.start()
    try:
        for _ in range(3):
            pruner.on_train_batch_begin(0)
            pruner.on_before_optimizer_step()
            pruner.on_after_optimizer_step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000  # the smallest kernel alone is 200 * 300 * 4 = 240 kB


def test_float64_model():
    x, y = make_data()
    model = make_model(dtype="float64")
    pruner = Pruner(ConstantSparsity(0.5, 1, frequency=2))
    checker = StrictChecker(pruner)
    with warnings.catch_warnings():
        model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner, checker], verbose=0)
    assert checker.checked == 8


def test_repr():
    assert repr(Pruner(ConstantSparsity(0.5, 0))).startswith("Pruner(ConstantSparsity(")


def test_config_is_deterministic_and_round_trips():
    schedule = PolynomialDecay(0.0, 0.5, 0, 10, frequency=2)
    assert Pruner(schedule).get_config() == Pruner(schedule).get_config()
    p = Pruner(schedule, criterion="random")
    assert isinstance(p.seed, int)
    q = Pruner.from_config(json.loads(json.dumps(p.get_config())))
    assert q.get_config() == p.get_config() and q.step == 0


# ----------------------------------------------------------------------- issue 11
def random_masks_for(model, rng, density=0.4):
    return {n: rng.random(w.shape) < density for n, w in kernels(model).items()}


@pytest.mark.parametrize(
    "optimizer",
    [lambda: sc.SGD(0.05, momentum=0.9), lambda: sc.Adam(1e-2), lambda: sc.AdamW(1e-2)],
)
def test_fixed_masks_kept_exactly_through_training(optimizer):
    x, y = make_data()
    model = make_model(optimizer=optimizer())
    masks = random_masks_for(model, np.random.default_rng(3))
    pruner = Pruner(masks=masks)
    assert pruner.fixed and pruner.schedule is None
    checker = StrictChecker(pruner)
    model.fit(x, y, epochs=3, batch_size=10, callbacks=[pruner, checker], verbose=0)
    assert checker.checked == 24 and len(checker.masks_seen) == 1
    for name, m in masks.items():
        assert np.array_equal(pruner.masks[name], m)
        w = model.weights()[name]
        assert np.count_nonzero(w) == np.count_nonzero(m)  # trained where kept
        assert np.all(w[~m] == 0)
    strip_pruning(model)
    assert model.pruner is None
    assert all(np.all(model.weights()[n][~m] == 0) for n, m in masks.items())


@given(st.integers(0, 2**32), st.floats(0.0, 1.0), st.sampled_from([True, False]))
@settings(max_examples=10)
def test_property_a_fixed_mask_never_changes_during_fit(seed, density, strict):
    rng = np.random.default_rng(seed)
    x, y = make_data(n=30, seed=seed % 100)
    model = make_model(seed=seed % 7, optimizer=sc.SGD(0.1, momentum=0.5))
    masks = random_masks_for(model, rng, density)
    pruner = Pruner(masks=masks, mask_gradients=strict)
    seen = []

    class Watch(sc.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(pruner.masks)

    model.fit(x, y, epochs=2, batch_size=10, callbacks=[pruner, Watch()], verbose=0)
    assert len(seen) == 6
    for snapshot in seen:
        assert all(np.array_equal(snapshot[n], m) for n, m in masks.items())
    if strict:
        assert all(np.all(model.weights()[n][~m] == 0) for n, m in masks.items())


def test_fixed_masks_checkpoint_round_trip_and_resume(tmp_path):
    x, y = make_data()
    masks = random_masks_for(make_model(), np.random.default_rng(0))
    full = make_model()
    full.fit(x, y, epochs=4, batch_size=10, callbacks=[Pruner(masks=masks)],
             verbose=0, seed=1)  # fmt: skip
    half = make_model()
    half.fit(x, y, epochs=2, batch_size=10, callbacks=[Pruner(masks=masks)],
             verbose=0, seed=1)  # fmt: skip
    half.save(tmp_path / "ckpt.npz")
    back = sc.load_model(tmp_path / "ckpt.npz")
    assert back.pruner.fixed and back.pruner.step == 16
    assert all(np.array_equal(back.pruner.masks[n], m) for n, m in masks.items())
    state = back.pruner.state_dict()
    again = Pruner.from_state_dict(state)
    assert again.get_config() == back.pruner.get_config() and again.step == 16
    back.fit(x, y, epochs=4, initial_epoch=back.epoch, batch_size=10, verbose=0)
    for a, b in zip(full.get_weights(), back.get_weights(), strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="use from_state_dict|Pruner.from_state_dict"):
        Pruner.from_config(state["config"])


def test_fixed_masks_validation():
    model = make_model()
    good = random_masks_for(model, np.random.default_rng(0))
    with pytest.raises(TypeError, match="schedule must be a PruningSchedule"):
        Pruner()
    with pytest.raises(TypeError, match="masks must be a non-empty dict"):
        Pruner(masks={})
    with pytest.raises(TypeError, match=r"masks\['a'\] must be a bool array"):
        Pruner(masks={"a": np.array(["x"])})
    with pytest.raises(ValueError, match=r"masks\['a'\] must hold only 0"):
        Pruner(masks={"a": np.array([0.0, 0.5])})
    with pytest.raises(ValueError, match="masks without a schedule are fixed"):
        Pruner(masks=good, criterion="random")
    with pytest.raises(ValueError, match="weights must be those of masks"):
        Pruner(masks=good, weights=["dense_0/kernel"])
    with pytest.raises(ValueError, match="include, exclude and policy do not apply"):
        Pruner(masks=good, include=["dense_*"])
    floats = {n: m.astype(np.float32) for n, m in good.items()}  # torch's weight_mask
    assert all(np.array_equal(Pruner(masks=floats).masks[n], good[n]) for n in good)
    bad_shape = dict(good, **{"dense_0/kernel": np.ones((3, 3), dtype=bool)})
    with pytest.raises(ValueError, match=r"masks\['dense_0/kernel'\] has shape"):
        Pruner(masks=bad_shape).set_model(make_model())
    with pytest.raises(ValueError, match="weights must name weights of the model"):
        Pruner(masks={"dense_9/kernel": good["dense_0/kernel"]}).set_model(make_model())
    subset = Pruner(masks={"dense_0/kernel": good["dense_0/kernel"]})  # any subset
    subset.set_model(make_model())
    assert list(subset.masks) == ["dense_0/kernel"]


def test_schedule_with_starting_masks_prunes_inside_them():
    x, y = make_data()
    model = make_model()
    start = random_masks_for(model, np.random.default_rng(1), density=0.7)
    pruner = Pruner(ConstantSparsity(0.8, begin_step=2, frequency=100), masks=start)
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    for name, m in pruner.masks.items():
        assert not np.any(m & ~start[name])  # old zeros stay zero
        assert np.count_nonzero(m) == keep_count(m.size, 0.8)
    p2 = Pruner.from_state_dict(pruner.state_dict())
    assert p2.weights == list(start) and p2.get_config() == pruner.get_config()


def test_include_exclude_biases_and_policy():
    names = list(make_model().weights())

    def chosen(**kw):
        pruner = Pruner(ConstantSparsity(0.5, 1), **kw)
        pruner.set_model(make_model())
        return list(pruner.masks)

    assert chosen() == ["dense_0/kernel", "dense_1/kernel", "dense_2/kernel"]
    assert chosen(include=["dense_[01]/*"]) == ["dense_0/kernel", "dense_1/kernel"]
    assert chosen(exclude="dense_2/*") == ["dense_0/kernel", "dense_1/kernel"]
    assert chosen(prune_biases=True) == names
    assert chosen(weights=["dense_0/bias"], prune_biases=True) == ["dense_0/bias"]
    assert chosen(policy=sc.prune.KeepDense()) == ["dense_1/kernel"]
    no_last = chosen(policy=sc.prune.KeepDense(first=False))
    assert no_last == ["dense_0/kernel", "dense_1/kernel"]
    both = chosen(policy=sc.prune.KeepDense(first=False), prune_biases=True)
    assert both == ["dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_1/bias"]
    with pytest.raises(ValueError, match="leave nothing to prune"):
        chosen(include=["nothing*"])
    with pytest.raises(ValueError, match="not both"):
        chosen(weights=["dense_0/kernel"], include=["*"])
    with pytest.raises(ValueError, match="leaves nothing to prune"):
        Pruner(ConstantSparsity(0.5, 1), policy=sc.prune.KeepDense()).set_model(
            sc.Sequential([sc.Dense(2)], input_dim=3)
        )
    with pytest.raises(TypeError, match="policy must be a PruningPolicy"):
        Pruner(ConstantSparsity(0.5, 1), policy="first")
    with pytest.raises(TypeError, match="include must be None or a list of glob"):
        Pruner(ConstantSparsity(0.5, 1), include=[3])


def test_biases_pruned_when_asked_and_policy_in_training():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(
        ConstantSparsity(0.5, 1, frequency=1),
        prune_biases=True,
        policy=sc.prune.KeepDense(first=True, last=True),
    )
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    assert list(pruner.masks) == ["dense_1/kernel", "dense_1/bias"]
    assert np.count_nonzero(model.weights()["dense_1/bias"]) == keep_count(16, 0.5)
    assert np.count_nonzero(model.weights()["dense_0/kernel"]) == 12 * 16
    state = pruner.state_dict()
    assert state["config"]["policy"] == {
        "class_name": "KeepDense",
        "config": {"first": True, "last": True},
    }
    assert Pruner.from_state_dict(state).get_config() == pruner.get_config()


def test_is_pruned_remove_and_strip():
    x, y = make_data()
    model = make_model()
    assert not sc.prune.is_pruned(model)
    with pytest.raises(ValueError, match="the model is not pruned"):
        sc.prune.remove(model, "dense_0/kernel")
    pruner = Pruner(ConstantSparsity(0.5, 1, frequency=1), mask_gradients=False)
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    assert sc.prune.is_pruned(model)
    masks = pruner.masks
    sc.prune.remove(model, "dense_0/kernel")
    assert list(pruner.masks) == ["dense_1/kernel", "dense_2/kernel"]
    assert pruner.weights == ["dense_1/kernel", "dense_2/kernel"]
    assert np.all(model.weights()["dense_0/kernel"][~masks["dense_0/kernel"]] == 0)
    with pytest.raises(ValueError, match="'dense_0/kernel' is not pruned"):
        sc.prune.remove(model, "dense_0/kernel")
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)  # dense_0 trains freely now
    assert (
        np.count_nonzero(model.weights()["dense_0/kernel"])
        > masks["dense_0/kernel"].sum()
    )
    sc.prune.remove(model, "dense_1/kernel")
    assert sc.prune.remove(model, "dense_2/kernel") is model  # the last: strips
    assert not sc.prune.is_pruned(model) and model.pruner is None
    for w in model.weights().values():
        assert type(w) is np.ndarray and w.flags.writeable  # plain arrays


def test_norm_inf_and_random_structured_criteria():
    x, y = make_data()
    for options in ({"criterion": "structured", "norm": math.inf},
                    {"criterion": "random_structured", "seed": 1}):  # fmt: skip
        model = make_model()
        pruner = Pruner(ConstantSparsity(0.5, 1, frequency=3), **options)
        checker = StrictChecker(pruner)
        model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner, checker], verbose=0)
        m = pruner.masks["dense_0/kernel"]
        assert np.all(m.all(axis=0) | ~m.any(axis=0))
        assert np.count_nonzero(m.all(axis=0)) == 8
        config = json.loads(json.dumps(pruner.get_config()))
        assert Pruner.from_config(config).get_config() == pruner.get_config()


def test_tfmot_example_step_1400_on_a_300x100_kernel_keeps_23902():
    # Issue 11: float64 arithmetic kept 23,903.
    model = sc.Sequential([sc.Dense(100)], input_dim=300, seed=0)
    model.compile("mse", sc.SGD(0.1))
    pruner = Pruner(PolynomialDecay(0.0, 0.75, 1000, 5000))
    pruner.set_model(model)
    for _ in range(1400):
        pruner.on_train_batch_begin(0)
    assert pruner.step == 1400
    assert np.count_nonzero(pruner.masks["dense_0/kernel"]) == 23_902


def test_summaries_per_epoch_and_per_steps():
    x, y = make_data()
    model = make_model()
    schedule = PolynomialDecay(0.0, 0.75, begin_step=4, end_step=36, frequency=4)
    pruner = Pruner(schedule)
    logged = []
    per_epoch = sc.prune.PruningSummaries()
    per_step = sc.prune.PruningSummaries(
        update_freq=4, log_fn=lambda t, s: logged.append((t, s))
    )
    history = model.fit(x, y, epochs=5, batch_size=10, verbose=0,
                        callbacks=[pruner, per_epoch, per_step])  # fmt: skip
    assert per_epoch.history["step"] == [8.0, 16.0, 24.0, 32.0, 40.0]
    assert per_step.history["step"] == [4.0 * i for i in range(1, 11)]
    assert [t for t, _ in logged] == list(range(4, 41, 4))
    for i, t in enumerate(per_step.history["step"]):
        s = schedule(int(t))[1]
        assert per_step.history["target_sparsity"][i] == s
        for name, w in kernels(model).items():
            expected = 1 - keep_count(w.size, s) / w.size
            assert per_step.history[f"{name}/sparsity"][i] == pytest.approx(expected)
    assert per_epoch.history["sparsity"] == history.history["sparsity"]
    with pytest.raises(RuntimeError, match="needs a pruned model"):
        make_model().fit(x, y, callbacks=[sc.prune.PruningSummaries()], verbose=0)
    with pytest.raises(ValueError, match=r"update_freq must be an int in \[1, inf\)"):
        sc.prune.PruningSummaries(update_freq=0)
    with pytest.raises(TypeError, match="update_freq must be 'epoch' or an int"):
        sc.prune.PruningSummaries(update_freq="step")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("step", 2**63 - 1, r"state\['step'\] must be an int in \[0, 2\*\*62\]"),
        ("step", 2**63, r"state\['step'\] must be an int in \[0, 2\*\*62\]"),
        ("step", np.uint64(2**63), r"state\['step'\] must be an int"),
        ("step", np.array(2**62 + 1), r"state\['step'\] must be an int"),
        ("step", True, r"state\['step'\] must be an int"),
        ("step", "3", r"state\['step'\] must be an int"),
        ("nm_applied", 1, r"state\['nm_applied'\] must be a bool"),
        ("masks", [], r"state\['masks'\] must be a dict"),
        ("masks", {3: np.ones(2, bool)}, r"state\['masks'\] keys must be str"),
        ("config", "x", r"state\['config'\] must be a dict"),
        ("config", {}, r"state\['config'\] is not a valid config"),
        ("config", {"schedule": {"class_name": "Nope"}}, "not a valid config"),
        ("config", {"schedule": None, "criterion": 3}, "not a valid config"),
    ],
)
def test_load_state_dict_refuses_malformed_fields(field, value, match):
    good = Pruner(ConstantSparsity(0.5, 1)).state_dict()
    for load in (
        Pruner(ConstantSparsity(0.5, 1)).load_state_dict,
        Pruner.from_state_dict,
    ):
        with pytest.raises(ValueError, match=match):
            load({**good, field: value})
    assert Pruner.from_state_dict({**good, "step": 2**62}).step == 2**62


def test_huge_block_size_is_clipped_not_allocated():
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.5, 1, frequency=4), block_size=(2**40, 1))
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    m = pruner.masks["dense_1/kernel"]  # whole columns: one block per column
    assert np.all(m.all(axis=0) | ~m.any(axis=0))
    assert np.count_nonzero(m.all(axis=0)) == keep_count(16, 0.5)


@pytest.mark.parametrize(
    "options",
    [
        {"policy": sc.prune.KeepDense(first=True, last=False), "prune_biases": True},
        {"include": ["dense_[01]/*"], "exclude": ["*/bias"]},
        {"criterion": "structured", "norm": math.inf},
        {"criterion": "random_structured", "seed": 2},
        {"criterion": "nm", "nm": (1, 3)},
    ],
)
def test_new_options_survive_a_checkpoint(tmp_path, options):
    x, y = make_data()
    model = make_model()
    pruner = Pruner(ConstantSparsity(0.5, 1, frequency=3), **options)
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[pruner], verbose=0)
    model.save(tmp_path / "c.npz")
    back = sc.load_model(tmp_path / "c.npz")
    assert back.pruner.get_config() == pruner.get_config()
    assert back.pruner.step == pruner.step
    assert all(np.array_equal(back.pruner.masks[n], m) for n, m in pruner.masks.items())
    old = Pruner(ConstantSparsity(0.5, 1)).get_config()
    assert set(old) == {
        "schedule",
        "criterion",
        "scope",
        "weights",
        "block_size",
        "block_pooling",
        "mask_gradients",
        "nm",
        "axis",
        "norm",
        "seed",
    }  # fmt: skip  (the keys older checkpoints hold)

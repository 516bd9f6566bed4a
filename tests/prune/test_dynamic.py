"""RigL and SET: exact sparsity every step, drop/grow rules, zeroed growth, schedule."""

import math

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import SET, Allocation, KeepDense, RigL, keep_count


def make_model(seed=0, optimizer=None):
    model = sc.Sequential(
        [sc.Dense(24), sc.ReLU(), sc.Dense(16), sc.ReLU(), sc.Dense(3)],
        input_dim=8,
        seed=seed,
    )
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        optimizer or sc.Adam(1e-2),
        metrics=["accuracy"],
    )
    return model


def make_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


class Tap(sc.Callback):
    """Before the dynamic callback: sees dense gradients and pre-update weights."""

    def __init__(self, dyn):
        super().__init__()
        self.dyn = dyn
        self.grads = {}
        self.before = {}

    def on_before_optimizer_step(self):
        self.grads = {n: g.copy() for n, g in self.model.gradients().items()}

    def on_after_optimizer_step(self):
        self.before = {n: m.copy() for n, m in self.dyn.masks.items()}
        self.weights = {n: w.copy() for n, w in self.model.weights().items()}


class Checker(sc.Callback):
    """Placed after the dynamic callback: checks the invariants after each step."""

    def __init__(self, dyn, tap, counts):
        super().__init__()
        self.dyn, self.tap, self.counts = dyn, tap, counts
        self.grown = 0
        self.updates_seen = []

    def on_after_optimizer_step(self):
        live = self.model.weights()
        state = self.model.optimizer.state
        for n, m in self.dyn.masks.items():
            assert m.sum() == self.counts[n]  # exact at every step
            assert np.all(live[n][~m] == 0)
            for slot in state[n].values():
                assert np.all(slot[~m] == 0)
        if self.dyn.updates and self.dyn.updates[-1][0] == self.dyn.step:
            self.updates_seen.append(self.dyn.step)
            for n, m in self.dyn.masks.items():
                fresh = m & ~self.tap.before[n]
                self.grown += int(fresh.sum())
                assert np.all(live[n][fresh] == 0)  # grown weights start at zero
                for slot in state[n].values():
                    assert np.all(slot[fresh] == 0)  # ... with their state reset


def naive_rigl(weights, grads, old, fraction):
    """Drop the smallest |w| among the active, grow the largest |g| elsewhere."""
    n_active = int(old.sum())
    n_drop = int(n_active * fraction)
    flat_w, flat_g, flat_m = np.abs(weights).ravel(), np.abs(grads).ravel(), old.ravel()
    active = sorted(np.flatnonzero(flat_m), key=lambda i: (-flat_w[i], i))
    kept = set(active[: n_active - n_drop])
    rest = sorted(set(range(flat_m.size)) - kept, key=lambda i: (-flat_g[i], i))
    new = np.zeros(flat_m.size, dtype=bool)
    new[list(kept) + rest[:n_drop]] = True
    return new.reshape(old.shape)


@pytest.mark.parametrize("cls", [RigL, SET])
@pytest.mark.parametrize("distribution", ["uniform", "erk"])
def test_exact_sparsity_every_step_and_grown_weights_start_at_zero(cls, distribution):
    model = make_model()
    x, y = make_data()
    dyn = cls(0.8, update_frequency=5, distribution=distribution, seed=3)
    tap = Tap(dyn)
    shapes = {n: w.shape for n, w in model.weights().items() if n.endswith("/kernel")}
    counts = Allocation(distribution).keep_counts(shapes, 0.8)
    checker = Checker(dyn, tap, counts)
    model.fit(x, y, epochs=6, batch_size=16, callbacks=[tap, dyn, checker], verbose=0)
    assert dyn.step == 36
    assert dyn.end_step == 27  # 75 % of the 36 steps
    assert checker.updates_seen == [5, 10, 15, 20, 25]
    assert [s for s, _ in dyn.updates] == checker.updates_seen
    assert checker.grown > 0
    total = sum(math.prod(s) for s in shapes.values())
    assert dyn.sparsity == pytest.approx(1 - sum(counts.values()) / total)
    if distribution == "uniform":
        assert counts == {n: keep_count(math.prod(s), 0.8) for n, s in shapes.items()}


def test_rigl_drops_smallest_magnitude_and_grows_largest_gradient():
    model = make_model(seed=1)
    x, y = make_data(seed=1)
    rigl = RigL(0.7, update_frequency=4, end_step=20)

    class Oracle(sc.Callback):
        checked = 0

        def on_after_optimizer_step(self):
            if rigl.updates and rigl.updates[-1][0] == rigl.step:
                frac = rigl.updates[-1][1]
                for n, m in rigl.masks.items():
                    want = naive_rigl(tap.weights[n], tap.grads[n], tap.before[n], frac)
                    np.testing.assert_array_equal(m, want)
                self.checked += 1

    tap = Tap(rigl)
    oracle = Oracle()
    model.fit(x, y, epochs=4, batch_size=16, callbacks=[tap, rigl, oracle], verbose=0)
    assert oracle.checked == 4  # steps 4, 8, 12, 16; at T_end = 20 the fraction is 0


def test_cosine_drop_fraction():
    rigl = RigL(0.9, update_frequency=10, drop_fraction=0.4, end_step=100)
    for t in (10, 50, 90):
        assert rigl.drop_fraction_at(t) == pytest.approx(
            0.2 * (1 + math.cos(math.pi * t / 100))
        )
    assert rigl.drop_fraction_at(101) == 0.0
    assert rigl.is_update_step(90) and not rigl.is_update_step(95)
    assert not rigl.is_update_step(100)  # f(T_end) = 0: nothing to update
    s = SET(0.9, update_frequency=10, drop_fraction=0.4, end_step=100)
    assert s.drop_fraction_at(70) == 0.4 and s.is_update_step(100)


def test_set_grows_at_random_deterministically():
    x, y = make_data()
    runs = []
    for seed in (0, 0, 1):
        model = make_model()
        s = SET(0.8, update_frequency=3, seed=seed)
        model.fit(x, y, epochs=3, batch_size=16, callbacks=[s], verbose=0)
        runs.append(s.masks)
    for n in runs[0]:
        np.testing.assert_array_equal(runs[0][n], runs[1][n])
    assert any((runs[0][n] != runs[2][n]).any() for n in runs[0])


def test_sgd_momentum_state_of_dropped_and_grown_weights_is_zero():
    model = make_model(optimizer=sc.SGD(0.05, momentum=0.9))
    x, y = make_data()
    rigl = RigL(0.75, update_frequency=2)
    tap = Tap(rigl)
    shapes = {n: w.shape for n, w in model.weights().items() if n.endswith("/kernel")}
    checker = Checker(rigl, tap, Allocation().keep_counts(shapes, 0.75))
    model.fit(x, y, epochs=2, batch_size=16, callbacks=[tap, rigl, checker], verbose=0)
    assert checker.grown > 0


def test_masks_keep_first_layer_dense_and_state_round_trip():
    model = make_model()
    x, y = make_data()
    rigl = RigL(
        0.9,
        update_frequency=3,
        distribution=Allocation("uniform", KeepDense(last=False)),
    )
    model.fit(x, y, epochs=2, batch_size=16, callbacks=[rigl], verbose=0)
    assert rigl.masks["dense_0/kernel"].all()
    again = RigL(0.9, update_frequency=3)
    again.load_state_dict(rigl.state_dict())
    assert again.step == rigl.step
    for n in rigl.masks:
        np.testing.assert_array_equal(again.masks[n], rigl.masks[n])


def test_validation():
    with pytest.raises(ValueError, match="distribution must be 'uniform' or 'erk'"):
        RigL(0.9, distribution="global")
    with pytest.raises(ValueError, match="drop_fraction must be a float in"):
        SET(0.9, drop_fraction=1.0)
    with pytest.raises(ValueError, match="update_frequency must be an int in"):
        RigL(0.9, update_frequency=0)
    with pytest.raises(ValueError, match="sparsity must be a float in"):
        RigL(1.0)
    with pytest.raises(ValueError, match="drop_fraction_anneal must be one of"):
        SET(0.5, drop_fraction_anneal="linear")
    with pytest.raises(TypeError, match="end_step must be an int"):
        RigL(0.5, end_step=True)
    RigL(0.0, drop_fraction=0.0, end_step=0)


@pytest.mark.parametrize("cls", [RigL, SET])
def test_sparse_training_between_updates_equals_dense_masked(cls):
    # float64, so that only the order of the sums can differ
    def run(mode):
        model = sc.Sequential(
            [sc.Dense(32), sc.ReLU(), sc.Dense(32), sc.ReLU(), sc.Dense(3)],
            input_dim=8, seed=0, dtype="float64",
        )  # fmt: skip
        model.compile(sc.SparseCategoricalCrossentropy(from_logits=True), sc.Adam(1e-2))
        dyn = cls(0.8, update_frequency=5, end_step=30, seed=1, sparse_training=mode)
        counts, on_sparse = [], []

        class Count(sc.Callback):
            def on_train_batch_end(self, batch, logs=None):
                w = self.model.get_weights()  # dense arrays, also on the sparse path
                counts.append([int(np.count_nonzero(a)) for a in w[::2]])
                on_sparse.append(len(dyn.sparse.names))

        x, y = make_data()
        model.fit(x, y, epochs=4, batch_size=8, callbacks=[dyn, Count()], verbose=0)
        return model, dyn, counts, max(on_sparse)

    dense, dyn_d, counts_d, none = run(False)
    sparse, dyn_s, counts_s, layers = run(True)
    assert none == 0 and layers == 3  # every kernel on the sparse path between updates
    assert dyn_s.updates == dyn_d.updates and len(dyn_s.updates) >= 4
    for name, mask in dyn_d.masks.items():
        np.testing.assert_array_equal(dyn_s.masks[name], mask)
    assert counts_s == counts_d  # exact sparsity after every step, on both paths
    for a, b in zip(dense.get_weights(), sparse.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    assert not dyn_s.sparse.active  # dense kernels back after fit


# ---------------------------------------------------------------- resume


class StopAfter(sc.Callback):
    """Ends fit after epoch `epoch` (0-based), as a run that was cut there."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


def _assert_same_run(a, dyn_a, b, dyn_b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    for name, slots in a.optimizer.state.items():
        for slot, arr in slots.items():
            np.testing.assert_array_equal(b.optimizer.state[name][slot], arr)
    assert list(dyn_a.masks) == list(dyn_b.masks)
    for name, m in dyn_a.masks.items():
        np.testing.assert_array_equal(dyn_b.masks[name], m)
    assert (dyn_b.step, dyn_b.end_step) == (dyn_a.step, dyn_a.end_step)
    assert dyn_b.updates == dyn_a.updates


@pytest.mark.parametrize("sparse_training", ["auto", True])
@pytest.mark.parametrize("cls", [RigL, SET])
def test_a_continued_fit_with_a_new_callback_is_bit_identical(cls, sparse_training):
    # end_step=None: resolved over the 6 epochs of the first fit, kept in the
    # state, so that the new callback (same constructor call) goes on with it.
    x, y = make_data()

    def dyn():
        return cls(0.8, update_frequency=4, seed=5, sparse_training=sparse_training)

    full, d_full = make_model(), dyn()
    full.fit(x, y, epochs=6, batch_size=16, callbacks=[d_full], verbose=0)
    assert d_full.end_step == 27 and len(d_full.updates) >= 5
    part, d_part = make_model(), dyn()
    part.fit(x, y, epochs=6, batch_size=16, callbacks=[d_part, StopAfter(2)], verbose=0)
    assert part.epoch == 3 and d_part.step == 18
    again = dyn()
    part.fit(
        x, y, epochs=6, initial_epoch=3, batch_size=16, callbacks=[again], verbose=0
    )
    _assert_same_run(full, d_full, part, again)


def test_the_state_is_published_every_epoch_and_never_changed_in_place():
    x, y = make_data()
    rigl = RigL(0.8, update_frequency=2, end_step=30)
    seen = []

    class Snap(sc.Callback):  # after rigl: sees the state of each epoch's end
        def on_epoch_end(self, epoch, logs=None):
            state = self.model.callback_states[rigl.state_key]
            copies = {n: m.copy() for n, m in state["masks"].items()}
            seen.append((state, copies, rigl.step))

    model = make_model()
    model.fit(x, y, epochs=4, batch_size=16, callbacks=[rigl, Snap()], verbose=0)
    assert rigl.state_key == "RigL:all"
    assert RigL(0.8, weights=["dense_1/kernel", "dense_0/kernel"]).state_key == (
        "RigL:dense_0/kernel,dense_1/kernel"
    )
    assert [s["step"] for s, _, _ in seen] == [step for _, _, step in seen]
    assert [s["step"] for s, _, _ in seen] == [6, 12, 18, 24]
    for state, copies, _ in seen:  # masks changed by later updates: not these
        assert state["class_name"] == "RigL" and state["end_step"] == 30
        assert state["config"] == rigl.get_config()
        for n, m in state["masks"].items():
            np.testing.assert_array_equal(m, copies[n])
    assert any(
        (seen[0][0]["masks"][n] != rigl.masks[n]).any() for n in rigl.masks
    )  # the masks did move after epoch 0
    assert seen[-1][0]["updates"] == rigl.updates


def test_get_config_keeps_the_end_step_argument():
    x, y = make_data()
    s = SET(0.8, update_frequency=3)
    make_model().fit(x, y, epochs=2, batch_size=16, callbacks=[s], verbose=0)
    assert s.end_step == 9 and s.get_config()["end_step"] is None
    assert s.state_dict()["end_step"] == 9
    again = SET(0.8, update_frequency=3)
    again.load_state_dict(s.state_dict())
    assert again.end_step == 9 and again.get_config() == s.get_config()
    assert again.updates == s.updates == [(3, 0.3), (6, 0.3), (9, 0.3)]


def test_another_config_or_a_new_run_does_not_restore():
    # Decision: a continued fit whose callback is configured otherwise does not
    # take the saved state (it is another run's), and says so; it starts as a
    # new callback does, from new random masks at step 0.
    x, y = make_data()
    model = make_model()
    first = RigL(0.8, update_frequency=4, seed=1)
    start = {}

    class Start(sc.Callback):  # after first: its masks once fit has begun
        def on_train_begin(self, logs=None):
            start.update({n: m.copy() for n, m in first.masks.items()})

    model.fit(x, y, epochs=2, batch_size=16, callbacks=[first, Start()], verbose=0)
    assert any((first.masks[n] != start[n]).any() for n in start)  # they moved
    other = RigL(0.8, update_frequency=5, seed=1)
    with pytest.warns(RuntimeWarning, match=r"differs in \['update_frequency'\]"):
        model.fit(
            x, y, epochs=3, initial_epoch=2, batch_size=16, callbacks=[other], verbose=0
        )
    # fresh: step 0, the end step of this fit (75 % of 6 steps), no update
    # before it, so the random masks of seed 1, not the saved ones
    assert (other.step, other.end_step, other.updates) == (6, 4, [])
    for n, m in start.items():
        np.testing.assert_array_equal(other.masks[n], m)
    assert model.callback_states[other.state_key]["config"] == other.get_config()
    # initial_epoch=0 is a new run, and an initial_epoch that is not the
    # model's epoch continues nothing: no restore, no warning
    for begin in (0, 1):
        fresh = RigL(0.8, update_frequency=5, seed=1)
        kwargs = {"initial_epoch": begin, "batch_size": 16, "verbose": 0}
        model.fit(x, y, epochs=3, callbacks=[fresh], **kwargs)
        assert fresh.step == 6 * (3 - begin)


def test_load_state_dict_refuses_another_class_or_config():
    rigl = RigL(0.8, update_frequency=4)
    state = rigl.state_dict()
    with pytest.raises(ValueError, match="the state is for RigL"):
        RigL(0.7, update_frequency=4).load_state_dict(state)
    with pytest.raises(ValueError, match="the state is for RigL"):
        SET(0.8, update_frequency=4, drop_fraction_anneal="cosine").load_state_dict(
            state
        )
    with pytest.raises(ValueError, match=r"state\['step'\] must be an int in"):
        rigl.load_state_dict({**state, "step": -1})
    with pytest.raises(ValueError, match="fraction must be a float in"):
        rigl.load_state_dict({**state, "step": 8, "updates": [(4, 1.5)]})
    with pytest.raises(ValueError, match=r"state\['updates'\] step must be an int"):
        rigl.load_state_dict({**state, "step": 3, "updates": [(4, 0.2)]})
    with pytest.raises(TypeError, match="weights must be None or a non-empty list"):
        RigL(0.8, weights=[])
    with pytest.raises(ValueError, match="must not repeat a name"):
        SET(0.8, weights=["dense_0/kernel", "dense_0/kernel"])

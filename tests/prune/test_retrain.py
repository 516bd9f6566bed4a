"""Retraining under fixed masks: lottery tickets, one-shot fine-tuning, init masks."""

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import (
    Allocation,
    KeepDense,
    keep_count,
    lottery_ticket,
    magnitude_mask,
    prune_and_finetune,
    train_with_masks,
)


def make_model(seed=0, optimizer=None):
    model = sc.Sequential(
        [sc.Dense(16), sc.ReLU(), sc.Dense(12), sc.ReLU(), sc.Dense(3)],
        input_dim=6,
        seed=seed,
    )
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        optimizer or sc.Adam(1e-2),
        metrics=["accuracy"],
    )
    return model


def make_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)


def kernels(model):
    return [n for n in model.weights() if n.endswith("/kernel")]


class Start(sc.Callback):
    """Records the weights and optimizer state each fit starts from."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_train_begin(self, logs=None):
        opt = self.model.optimizer
        self.starts.append(
            (
                self.model.get_weights(),
                {n: {k: a.copy() for k, a in s.items()} for n, s in opt.state.items()},
                opt.iterations,
            )
        )


class AfterStep(sc.Callback):
    """Records weights and optimizer state after training step `k` of the first fit."""

    def __init__(self, k):
        super().__init__()
        self.k, self.seen, self.snap = k, 0, None

    def on_train_batch_begin(self, batch, logs=None):
        self.seen += 1

    def on_after_optimizer_step(self):
        if self.seen == self.k and self.snap is None:
            opt = self.model.optimizer
            self.snap = (
                self.model.get_weights(),
                {n: {k: a.copy() for k, a in s.items()} for n, s in opt.state.items()},
                opt.iterations,
            )


def test_lottery_rounds_nest_and_rewind_to_the_exact_initialization():
    model = make_model()
    x, y = make_data()
    init = model.get_weights()
    start = Start()
    sparsities = [0.5, 0.75, 0.875]
    res = lottery_ticket(
        model, x, y, sparsities=sparsities, epochs=3, batch_size=10, callbacks=[start]
    )
    assert len(res.rounds) == 4
    assert res.rounds[0].sparsity == 0.0 and all(
        m.all() for m in res.rounds[0].masks.values()
    )
    names = kernels(model)
    for r, run in enumerate(res.rounds[1:], start=1):
        assert run.target == sparsities[r - 1]
        for n in names:
            m = run.masks[n]
            assert m.sum() == keep_count(m.size, sparsities[r - 1])  # exact, per layer
            assert not (m & ~res.rounds[r - 1].masks[n]).any()  # nested
            assert np.all(run.model.weights()[n][~m] == 0)  # kept zero in training
        # ranked on the previous round's trained weights
        prev = res.rounds[r - 1]
        for n in names:
            want = magnitude_mask(
                prev.model.weights()[n], sparsities[r - 1], prev_mask=prev.masks[n]
            )
            np.testing.assert_array_equal(run.masks[n], want)
    # every round starts from theta_0 (masked), bit for bit, with a fresh optimizer
    assert len(start.starts) == 4
    order = list(model.weights())
    for r, (weights, state, iterations) in enumerate(start.starts):
        masks = res.rounds[r].masks
        for name, w, w0 in zip(order, weights, init, strict=True):
            want = np.where(masks[name], w0, 0) if name in masks else w0
            assert w.tobytes() == want.astype(w0.dtype).tobytes()
        assert iterations == 0
        assert all(not a.any() for s in state.values() for a in s.values())
    # the original model is not modified
    for a, b in zip(init, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_rewinding_to_step_k_restores_weights_and_optimizer():
    model = make_model(seed=2)
    x, y = make_data(seed=2)
    k = 12  # two epochs of 6 steps
    start, snap = Start(), AfterStep(k)
    res = lottery_ticket(
        model,
        x,
        y,
        sparsities=[0.6],
        epochs=4,
        batch_size=10,
        rewind_step=k,
        callbacks=[start, snap],
    )
    assert res.rewind_step == k
    weights_k, state_k, it_k = snap.snap
    masks = res.rounds[1].masks
    weights, state, iterations = start.starts[1]
    order = list(model.weights())
    for name, w, wk in zip(order, weights, weights_k, strict=True):
        want = np.where(masks[name], wk, 0) if name in masks else wk
        assert w.tobytes() == want.astype(wk.dtype).tobytes()
    assert iterations == it_k == k
    for name, slots in state_k.items():
        for slot, a in slots.items():
            want = a * masks[name] if name in masks else a
            np.testing.assert_array_equal(state[name][slot], want)
    # the rewound round trains the remaining epochs only
    assert len(res.rounds[1].history.history["loss"]) == 2
    assert len(res.rounds[0].history.history["loss"]) == 4


def test_random_tickets_are_random_nested_and_exact():
    model = make_model()
    x, y = make_data()
    res = lottery_ticket(
        model,
        x,
        y,
        sparsities=[0.5, 0.8],
        epochs=2,
        batch_size=20,
        criterion="random",
        seed=5,
    )
    mag = lottery_ticket(model, x, y, sparsities=[0.5, 0.8], epochs=2, batch_size=20)
    for n in kernels(model):
        m1, m2 = res.rounds[1].masks[n], res.rounds[2].masks[n]
        assert not (m2 & ~m1).any()
        assert m2.sum() == keep_count(m2.size, 0.8)
    assert any(
        (res.rounds[2].masks[n] != mag.rounds[2].masks[n]).any() for n in kernels(model)
    )
    table = res.table(x, y)
    assert table.splitlines()[0].split() == ["round", "sparsity", "loss", "accuracy"]
    assert len(table.splitlines()) == 2 + 3


def test_global_scope_and_validation():
    model = make_model()
    x, y = make_data()
    res = lottery_ticket(
        model, x, y, sparsities=[0.9], epochs=1, batch_size=20, scope="global"
    )
    total = sum(res.rounds[1].masks[n].size for n in kernels(model))
    assert sum(m.sum() for m in res.rounds[1].masks.values()) == keep_count(total, 0.9)
    with pytest.raises(ValueError, match="non-decreasing"):
        lottery_ticket(model, x, y, sparsities=[0.5, 0.4], epochs=1, batch_size=20)
    with pytest.raises(ValueError, match="rewind_step must be an int in"):
        lottery_ticket(
            model, x, y, sparsities=[0.5], epochs=1, batch_size=20, rewind_step=4
        )
    with pytest.raises(ValueError, match="criterion must be one of"):
        lottery_ticket(
            model, x, y, sparsities=[0.5], epochs=1, batch_size=20, criterion="snip"
        )
    with pytest.raises(RuntimeError, match="compiled"):
        lottery_ticket(
            sc.Sequential([sc.Dense(3)], input_dim=6),
            x,
            y,
            sparsities=[0.5],
            epochs=1,
            batch_size=20,
        )


def test_prune_and_finetune_is_one_magnitude_pruning_then_training():
    model = make_model()
    x, y = make_data()
    model.fit(x, y, epochs=5, batch_size=10, verbose=0)
    trained = model.get_weights()
    run = prune_and_finetune(
        model,
        x,
        y,
        sparsity=0.8,
        epochs=3,
        batch_size=10,
        scope=Allocation(policy=KeepDense(first=False)),
    )
    for n in kernels(model):
        if n == "dense_2/kernel":
            assert run.masks[n].all()
            continue
        np.testing.assert_array_equal(
            run.masks[n], magnitude_mask(model.weights()[n], 0.8)
        )
        assert np.all(run.model.weights()[n][~run.masks[n]] == 0)
    assert run.target == 0.8 and 0 < run.sparsity < 0.8
    assert len(run.history.history["loss"]) == 3
    for a, b in zip(trained, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the pruner stays attached: more training keeps the masks
    run.model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    for n in kernels(model):
        assert np.all(run.model.weights()[n][~run.masks[n]] == 0)


def test_train_with_masks_keeps_init_masks_exactly():
    model = make_model(optimizer=sc.SGD(0.05, momentum=0.9))
    x, y = make_data()
    rng = np.random.default_rng(0)
    masks = {n: rng.random(model.weights()[n].shape) < 0.6 for n in kernels(model)}
    run = train_with_masks(model, masks, x, y, epochs=3, batch_size=10)
    for n, m in masks.items():
        assert np.all(run.model.weights()[n][~m] == 0)
        assert np.all(run.model.optimizer.state[n]["momentum"][~m] == 0)
        assert (run.model.weights()[n][m] != model.weights()[n][m]).any()  # it trained
    loss = run.history.history["loss"]
    assert loss[-1] < loss[0]
    with pytest.raises(ValueError, match="must be a bool array of shape"):
        train_with_masks(
            model, {"dense_0/kernel": np.ones(3, bool)}, x, y, epochs=1, batch_size=10
        )

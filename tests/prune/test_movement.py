"""Movement scores: S = -sum_t g_t * w_t, accumulated exactly; masks keep the top."""

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import MovementScores, allocate_masks, movement_masks


def make_model(dtype="float64"):
    model = sc.Sequential(
        [sc.Dense(10), sc.ReLU(), sc.Dense(3)], input_dim=5, seed=0, dtype=dtype
    )
    model.compile(sc.SparseCategoricalCrossentropy(from_logits=True), sc.SGD(0.1))
    return model


def make_data(n=40):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 5))
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)


class Naive(sc.Callback):
    """Accumulates -g * w in float64 with fresh arrays, before the update."""

    def __init__(self):
        super().__init__()
        self.s = {}

    def on_before_optimizer_step(self):
        live, grads = self.model.weights(), self.model.gradients()
        for n in ("dense_0/kernel", "dense_1/kernel"):
            self.s[n] = self.s.get(n, 0.0) - grads[n].astype(np.float64) * live[n]


def test_scores_equal_the_naive_sum_over_steps():
    model = make_model()
    x, y = make_data()
    scores, naive = MovementScores(), Naive()
    model.fit(x, y, epochs=3, batch_size=8, callbacks=[scores, naive], verbose=0)
    assert scores.steps == 15
    assert set(scores.scores) == set(naive.s)
    for n in naive.s:
        np.testing.assert_allclose(scores.scores[n], naive.s[n], rtol=1e-12, atol=1e-15)


def test_weights_moving_away_from_zero_score_high():
    # With plain SGD, -g = (w_new - w_old) / lr: S > 0 exactly when the step
    # moves w away from zero (for one step).
    model = make_model()
    x, y = make_data(8)
    before = {n: w.copy() for n, w in model.weights().items()}
    scores = MovementScores()
    model.fit(x, y, epochs=1, batch_size=8, callbacks=[scores], verbose=0)
    for n, s in scores.scores.items():
        w0, w1 = before[n], model.weights()[n]
        np.testing.assert_allclose(s, w0 * (w1 - w0) / 0.1, rtol=1e-10, atol=1e-14)
        away = np.abs(w1) > np.abs(w0)
        assert np.all(s[away] >= 0)


def test_masks_are_the_top_scores_and_nest():
    rng = np.random.default_rng(0)
    s = {"a": rng.standard_normal((6, 4)), "b": rng.standard_normal((4, 2))}
    m = movement_masks(s, 0.5)
    ref = allocate_masks(s, 0.5)
    for n in s:
        np.testing.assert_array_equal(m[n], ref[n])
        assert s[n][m[n]].min() >= s[n][~m[n]].max()
    m2 = movement_masks(
        {n: rng.standard_normal(a.shape) for n, a in s.items()}, 0.75, prev_masks=m
    )
    for n in s:
        assert not (m2[n] & ~m[n]).any()


def test_preallocated_and_float32():
    model = make_model("float32")
    x, y = make_data()
    scores = MovementScores(weights=["dense_1/kernel"])
    model.fit(
        x.astype(np.float32), y, epochs=1, batch_size=8, callbacks=[scores], verbose=0
    )
    assert list(scores.scores) == ["dense_1/kernel"]
    assert scores.scores["dense_1/kernel"].dtype == np.float32
    arr = scores.scores["dense_1/kernel"]
    model.fit(
        x.astype(np.float32), y, epochs=1, batch_size=8, callbacks=[scores], verbose=0
    )
    assert scores.scores["dense_1/kernel"] is arr  # accumulates in place across fits
    with pytest.raises(ValueError, match="sparsity must be a float in"):
        movement_masks(scores.scores, 1.0)


def test_movement_pruner_keeps_the_top_scores_on_its_schedule():
    model = make_model()
    model.compile(model.loss, sc.Adam(1e-2))
    x, y = make_data(64)
    schedule = sc.PolynomialDecay(0.0, 0.8, begin_step=2, end_step=14, frequency=4)
    pruner = sc.prune.MovementPruner(schedule)

    class Check(sc.Callback):
        prev = None
        pruned_at = []

        def on_after_optimizer_step(self):
            step = pruner.engine.pruning_step
            masks = pruner.masks
            should, s = schedule(step)
            if should:
                scores = pruner.movement.scores
                want = allocate_masks(scores, s, "layer", prev_masks=self.prev)
                for n in masks:
                    np.testing.assert_array_equal(masks[n], want[n])
                    assert masks[n].sum() == sc.prune.keep_count(masks[n].size, s)
                self.pruned_at.append(step)
            live, state = self.model.weights(), self.model.optimizer.state
            for n, m in masks.items():
                assert np.all(live[n][~m] == 0)
                assert all(np.all(a[~m] == 0) for a in state[n].values())
            self.prev = {n: m.copy() for n, m in masks.items()}

    check = Check()
    model.fit(x, y, epochs=4, batch_size=4, callbacks=[pruner, check], verbose=0)
    assert check.pruned_at == [2, 6, 10, 14]
    assert pruner.sparsity == pytest.approx(0.8, abs=0.01)
    with pytest.raises(TypeError, match="schedule must be a PruningSchedule"):
        sc.prune.MovementPruner(0.8)
    with pytest.raises(ValueError, match="scope must be one of"):
        sc.prune.MovementPruner(schedule, scope="erk")

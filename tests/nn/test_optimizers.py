"""Optimizers against steps computed by hand from the documented formulas."""

import numpy as np
import pytest

from sparsecore.nn.optimizers import (
    MAX_LEARNING_RATE,
    MIN_EPSILON,
    SGD,
    Adam,
    AdamW,
    get_optimizer,
)


def _run(opt, w0, grads):
    w = {"w": np.array(w0, dtype=np.float64)}
    opt.build(w)
    for g in grads:
        opt.apply(w, {"w": np.array(g, dtype=np.float64)})
    return w["w"]


GRADS = [[0.5, -1.0], [0.25, 2.0], [-1.0, 0.1]]


def test_sgd_plain():
    w = _run(SGD(0.1), [1.0, 2.0], GRADS)
    np.testing.assert_allclose(w, np.array([1.0, 2.0]) - 0.1 * np.sum(GRADS, axis=0))


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    lr, mu = 0.1, 0.9
    w, v = np.array([1.0, 2.0]), np.zeros(2)
    for g in map(np.array, GRADS):
        v = mu * v - lr * g
        w = w + (mu * v - lr * g if nesterov else v)
    np.testing.assert_allclose(_run(SGD(lr, mu, nesterov), [1.0, 2.0], GRADS), w)


def test_adam_matches_keras_rule():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = np.array([1.0, 2.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(map(np.array, GRADS), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    opt = Adam(lr)
    np.testing.assert_allclose(_run(opt, [1.0, 2.0], GRADS), w, rtol=1e-12)
    assert opt.iterations == 3
    assert set(opt.state["w"]) == {"m", "v"}


def test_adamw_decays_before_the_adam_step():
    lr, wd = 0.01, 0.1
    w_plain = np.array([1.0, 2.0])
    opt_w, opt_a = AdamW(lr, weight_decay=wd), Adam(lr)
    wa = {"w": w_plain.copy()}
    ww = {"w": w_plain.copy()}
    for g in map(np.array, GRADS):
        opt_a.build(wa)
        wa["w"] *= 1 - lr * wd  # the decoupled decay, then the plain Adam step
        opt_a.apply(wa, {"w": g})
        opt_w.apply(ww, {"w": g})
    np.testing.assert_allclose(ww["w"], wa["w"], rtol=1e-12)


def test_first_adam_step_moves_each_weight_by_about_lr():
    w = _run(Adam(1e-3), [0.0, 0.0, 0.0], [[1e-3, -5.0, 100.0]])
    np.testing.assert_allclose(np.abs(w), 1e-3, rtol=5e-3)  # eps shows at g=1e-3


def test_updates_are_in_place_and_keep_float32():
    w = {"w": np.ones(4, np.float32)}
    before = w["w"]
    opt = Adam()
    opt.apply(w, {"w": np.ones(4, np.float32)})
    assert w["w"] is before and w["w"].dtype == np.float32
    assert opt.state["w"]["m"].dtype == np.float32


def test_state_is_settable_and_used():
    # zeroing the moments at a position (what a pruner does) makes the next
    # update there depend on the new gradient alone
    opt = Adam(0.1)
    w = {"w": np.zeros(2)}
    opt.apply(w, {"w": np.array([1.0, 1.0])})
    opt.state["w"]["m"][0] = 0.0
    opt.state["w"]["v"][0] = 0.0
    w["w"][0] = 0.0
    opt.apply(w, {"w": np.array([0.0, 1.0])})
    assert w["w"][0] == 0.0  # zero gradient, zero moments: the weight stays put


@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan"), float("inf")])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning_rate must be a float in"):
        Adam(lr)


@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5])
def test_bad_beta(beta):
    with pytest.raises(ValueError, match=r"beta_1 must be a float in \[0, 1\)"):
        Adam(beta_1=beta)


def test_bad_types_and_names():
    with pytest.raises(TypeError, match="learning_rate must be a float"):
        SGD("0.1")
    with pytest.raises(ValueError, match=r"momentum must be a float in \[0, 1\)"):
        SGD(momentum=1.0)
    with pytest.raises(TypeError, match="nesterov must be a bool"):
        SGD(nesterov=1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        get_optimizer("rmsprop")


def test_boundaries_accepted():
    SGD(momentum=0.0)
    SGD(momentum=0.99)
    Adam(beta_1=0.0, beta_2=0.0)
    assert isinstance(get_optimizer("Adam"), Adam)


def test_config_round_trip():
    for opt in (
        SGD(0.05, 0.9, True),
        Adam(2e-3, 0.8, 0.99, 1e-6),
        AdamW(weight_decay=0.1),
    ):
        again = type(opt).from_config(opt.get_config())
        assert again.get_config() == opt.get_config()


# ----------------------------------------------------------------------- issue 10
@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_learning_rate_bounds(cls):
    cls(learning_rate=MAX_LEARNING_RATE)  # accepted: (0, 1e6]
    for bad in (1e308, 1e6 * (1 + 1e-15), 10**400):
        with pytest.raises(
            ValueError, match=r"learning_rate must be a float in \(0, 1e\+06\]"
        ):
            cls(learning_rate=bad)


@pytest.mark.parametrize("eps", [0.0, -1e-7, 1e-300, 1e-39, float("nan")])
def test_adam_epsilon_must_stay_positive_in_float32(eps):
    # 0 (and anything that rounds to 0 in float32) divides 0 by 0 wherever
    # the gradient is 0, as at every pruned weight
    for cls in (Adam, AdamW):
        with pytest.raises(ValueError, match="epsilon must be a float in"):
            cls(epsilon=eps)


def test_smallest_epsilon_keeps_zero_gradients_finite():
    assert np.float32(MIN_EPSILON) > 0
    opt = Adam(1e-3, epsilon=MIN_EPSILON)
    w = {"w": np.ones(3, np.float32)}
    for _ in range(3):
        opt.apply(w, {"w": np.zeros(3, np.float32)})
    assert np.array_equal(w["w"], np.ones(3, np.float32))


def test_weight_decay_bounds():
    AdamW(weight_decay=MAX_LEARNING_RATE)
    with pytest.raises(
        ValueError, match=r"weight_decay must be a float in \[0, 1e\+06\]"
    ):
        AdamW(weight_decay=1e7)


@pytest.mark.parametrize(
    "opt",
    [SGD(1e6), SGD(1e6, momentum=0.9), SGD(1e6, 0.9, True), Adam(1e6), AdamW(1e6, 1e6)],
    ids=["sgd", "momentum", "nesterov", "adam", "adamw"],
)
def test_checked_update_is_all_or_nothing(opt):
    # Weight "b" is beyond sqrt(float32 max) (its next step may overflow), "a"
    # is tame: with check_finite nothing moves (not even "a").
    w = {"a": np.ones(3, np.float32), "b": np.full(3, 2e19, np.float32)}
    before = {k: v.copy() for k, v in w.items()}
    g = {"a": np.full(3, 1e-3, np.float32), "b": np.full(3, 1e15, np.float32)}
    assert opt.apply(w, g, check_finite=True) is False
    assert opt.iterations == 0
    for k in w:
        np.testing.assert_array_equal(w[k], before[k])
    with np.errstate(all="ignore"):
        assert opt.apply(w, g) is True
    assert opt.iterations == 1
    assert not np.isfinite(w["b"]).all() or np.abs(w["b"]).max() > 1.8e19


def test_checked_update_applies_finite_steps_bit_for_bit():
    # the check only reads: the weights are those of the unchecked update
    for make in (lambda: SGD(0.1, 0.9, True), lambda: AdamW(1e-2)):
        rng = np.random.default_rng(0)
        w1 = {"w": rng.standard_normal(50).astype(np.float32)}
        w2 = {"w": w1["w"].copy()}
        o1, o2 = make(), make()
        for _ in range(5):
            g = {"w": rng.standard_normal(50).astype(np.float32)}
            assert o1.apply(w1, g, check_finite=True)
            o2.apply(w2, g)
        np.testing.assert_array_equal(w1["w"], w2["w"])


def test_checked_update_refuses_a_step_that_would_overflow():
    # finite weights and gradients, but lr * g = 1e21 > sqrt(float32 max)
    opt = SGD(1e6)
    w = {"w": np.ones(2, np.float32)}
    assert opt.apply(w, {"w": np.full(2, 1e15, np.float32)}, check_finite=True) is False
    assert w["w"].tolist() == [1.0, 1.0]
    g = {"w": np.array([np.nan, 0.0], np.float32)}
    assert Adam().apply(w, g, check_finite=True) is False
    assert w["w"].tolist() == [1.0, 1.0]


def test_a_schedule_is_bounded_as_a_constant_learning_rate():
    opt = Adam(lambda step: 1e7)
    w = {"w": np.ones(2, np.float32)}
    with pytest.raises(
        ValueError, match=r"learning_rate\(0\) must return a float in \[0, 1e6\]"
    ):
        opt.apply(w, {"w": np.ones(2, np.float32)})
    assert w["w"].tolist() == [1.0, 1.0]

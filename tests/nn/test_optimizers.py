"""Optimizers against steps computed by hand from the documented formulas."""

import numpy as np
import pytest

from sparsecore.nn.optimizers import SGD, Adam, AdamW, get_optimizer


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

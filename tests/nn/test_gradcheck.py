"""The gradient checker itself: it passes correct gradients and catches wrong ones."""

import numpy as np

import sparsecore as sc
from sparsecore.nn.gradcheck import check_layer, check_loss, numerical_gradient
from sparsecore.nn.losses import MSE


class WrongDense(sc.Dense):
    """A Dense layer whose bias gradient is off by a factor of two."""

    def backward(self, grad_out, need_grad_in=True):
        grad_in = super().backward(grad_out, need_grad_in)
        self.grads["bias"] *= 2
        return grad_in


class WrongMSE(MSE):
    def gradient(self, y_true, y_pred):
        return super().gradient(y_true, y_pred) * 0.5


def _build(layer):
    layer.build(3, np.random.default_rng(0), np.dtype("float64"))
    return layer


def test_catches_a_wrong_layer_gradient():
    x = np.random.default_rng(1).standard_normal((4, 3))
    good, bad = (
        check_layer(_build(sc.Dense(2)), x),
        check_layer(_build(WrongDense(2)), x),
    )
    assert good.ok(1e-7)
    assert not bad.ok(1e-2)
    assert bad.errors["bias"] > 0.1 and bad.errors["kernel"] < 1e-7


def test_catches_a_wrong_loss_gradient():
    rng = np.random.default_rng(0)
    t, p = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    assert check_loss(MSE(), t, p).ok()
    assert check_loss(WrongMSE(), t, p).max_error > 0.01


def test_numerical_gradient_restores_the_array():
    a = np.array([1.0, 2.0, 3.0])
    before = a.copy()
    g = numerical_gradient(lambda: float(np.sum(a**2)), a, np.arange(3))
    np.testing.assert_allclose(g, 2 * before, rtol=1e-8)
    np.testing.assert_array_equal(a, before)


def test_subset_of_entries():
    x = np.random.default_rng(1).standard_normal((4, 3))
    layer = _build(sc.Dense(50))
    result = check_layer(layer, x, max_checks=10)
    assert result.analytic["kernel"].shape == (10,)
    assert result.ok(1e-7)

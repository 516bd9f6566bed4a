"""Dense and the activation layers: gradient checks, shapes and validation."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.nn import (
    Dense,
    Identity,
    LeakyReLU,
    ReLU,
    ResidualDense,
    Sigmoid,
    Softmax,
    Tanh,
)
from sparsecore.nn.activations import ACTIVATIONS, get_activation
from sparsecore.nn.gradcheck import check_layer

F64 = np.dtype("float64")
ACTIVATION_LAYERS = [Identity, ReLU, lambda: LeakyReLU(0.2), Tanh, Sigmoid, Softmax]


def _built(layer, n_in, seed=0, dtype=F64):
    layer.build(n_in, np.random.default_rng(seed), dtype)
    return layer


@given(
    n=st.integers(1, 6),
    n_in=st.integers(1, 7),
    units=st.integers(1, 7),
    use_bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_dense_gradcheck(n, n_in, units, use_bias, seed):
    layer = _built(Dense(units, use_bias=use_bias), n_in, seed)
    x = np.random.default_rng(seed + 1).standard_normal((n, n_in))
    result = check_layer(layer, x, seed=seed)
    assert set(result.errors) == {"input", "kernel"} | ({"bias"} if use_bias else set())
    assert result.max_error < 1e-7, result.errors


@pytest.mark.parametrize("make", ACTIVATION_LAYERS)
@given(n=st.integers(1, 5), width=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_activation_gradcheck(make, n, width, seed):
    layer = _built(make(), width)
    x = np.random.default_rng(seed).standard_normal((n, width)) * 3
    # keep ReLU-family inputs away from the kink, where differences are undefined
    x[np.abs(x) < 1e-3] = 0.5
    result = check_layer(layer, x, seed=seed)
    assert result.max_error < 1e-7, result.errors


@given(n=st.integers(1, 5), units=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_residual_dense_gradcheck(n, units, seed):
    layer = _built(ResidualDense(units), units, seed)
    layer.params["bias"][...] = np.random.default_rng(seed).standard_normal(units)
    x = np.random.default_rng(seed + 1).standard_normal((n, units))
    z = x @ layer.params["kernel"] + layer.params["bias"]
    assume(np.abs(z).min() > 1e-3)  # away from the ReLU kink
    np.testing.assert_allclose(layer.forward(x), x + np.maximum(z, 0), atol=1e-12)
    result = check_layer(layer, x, seed=seed)
    assert set(result.errors) == {"input", "kernel", "bias"}
    assert result.max_error < 1e-7, result.errors


def test_residual_dense_needs_a_square_kernel_and_is_refused_by_the_runtime():
    with pytest.raises(ValueError, match="units must equal the input width 3"):
        _built(ResidualDense(4), 3)
    model = sc.Sequential([sc.Dense(4), ResidualDense(4), sc.Dense(1)], input_dim=3)
    assert [n for n in model.weights() if n.endswith("kernel")] == [
        "dense_0/kernel", "residual_0/kernel", "dense_1/kernel"
    ]  # fmt: skip
    twin = sc.Sequential.from_config(model.get_config())  # registered in LAYERS
    assert isinstance(twin.layers[1], ResidualDense)
    with pytest.raises(ValueError, match="has a skip connection"):
        sc.SparseModel.from_model(model)


def test_dense_shapes_and_layout():
    layer = _built(Dense(4), 3, dtype=np.dtype("float32"))
    assert layer.params["kernel"].shape == (3, 4)  # Keras layout (n_in, n_out)
    assert layer.params["bias"].shape == (4,)
    assert layer.params["kernel"].dtype == np.float32
    assert set(layer.grads) == set(layer.params)
    x = np.ones((5, 3), dtype=np.float32)
    y = layer.forward(x)
    assert y.shape == (5, 4) and y.dtype == np.float32
    np.testing.assert_allclose(y, x @ layer.params["kernel"] + layer.params["bias"])
    assert layer.backward(np.ones((5, 4), np.float32)).shape == (5, 3)


def test_dense_skips_input_gradient_when_not_needed():
    layer = _built(Dense(2), 3)
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer.forward(x)
    g = np.ones((4, 2))
    assert layer.backward(g, need_grad_in=False) is g
    np.testing.assert_allclose(layer.grads["kernel"], x.T @ g)


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="before forward"):
        _built(Dense(2), 3).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        _built(ReLU(), 3).backward(np.ones((1, 3)))


@pytest.mark.parametrize("units", [0, -3])
def test_dense_rejects_bad_units(units):
    with pytest.raises(ValueError, match=r"units must be an int in \[1, inf\); got"):
        Dense(units)


@pytest.mark.parametrize("units", [2.0, "4", True, None])
def test_dense_rejects_non_int_units(units):
    with pytest.raises(TypeError, match="units must be an int"):
        Dense(units)


def test_dense_rejects_unknown_initializer():
    with pytest.raises(ValueError, match="initializer must be one of .*he_normal"):
        Dense(3, kernel_initializer="he_norm")


def test_activation_values():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(_built(ReLU(), 5).forward(x), np.maximum(x, 0))
    np.testing.assert_allclose(
        _built(LeakyReLU(0.1), 5).forward(x), np.where(x > 0, x, 0.1 * x)
    )
    np.testing.assert_allclose(_built(Sigmoid(), 5).forward(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(_built(Tanh(), 5).forward(x), np.tanh(x))
    s = _built(Softmax(), 5).forward(x)
    np.testing.assert_allclose(s, np.exp(x) / np.exp(x).sum())


def test_sigmoid_and_softmax_do_not_overflow():
    x = np.array([[-1e4, 0.0, 1e4]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(_built(Sigmoid(), 3).forward(x), [[0, 0.5, 1]])
        np.testing.assert_allclose(_built(Softmax(), 3).forward(x), [[0, 0, 1]])


def test_activation_preserves_float32():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for make in ACTIVATION_LAYERS:
        layer = _built(make(), 4)
        assert layer.forward(x).dtype == np.float32, layer
        assert layer.backward(np.ones_like(x)).dtype == np.float32, layer


def test_activation_registry():
    assert sorted(ACTIVATIONS) == [
        "leaky_relu",
        "linear",
        "relu",
        "sigmoid",
        "softmax",
        "tanh",
    ]
    for name, cls in ACTIVATIONS.items():
        assert cls().activation == name
    with pytest.raises(ValueError, match="activation must be one of"):
        get_activation("gelu")


@pytest.mark.parametrize("alpha", ["0.1", None])
def test_leaky_relu_rejects_bad_alpha(alpha):
    with pytest.raises(TypeError, match="alpha must be a finite float"):
        LeakyReLU(alpha)


def test_leaky_relu_rejects_nan_alpha():
    with pytest.raises(ValueError, match="alpha must be a finite float"):
        LeakyReLU(float("nan"))


class _TransposedKernel:
    """A KernelOperator that trains K^T (n_out, n_in) instead of K: the oracle
    of the hook (any form works if its products and expansions agree)."""

    def __init__(self, shape):
        self.shape = shape

    def matmul(self, x, theta, bias):
        y = x @ theta.T
        return y if bias is None else y + bias

    def kernel_grad(self, x, g, theta, out):
        np.matmul(g.T, x, out=out)  # d/dK^T of the loss: (x^T g)^T

    def input_grad(self, g, theta):
        return g @ theta

    def to_kernel(self, a):
        return np.array(a.T, order="C")  # new arrays, as the protocol says

    def from_kernel(self, k):
        return np.array(np.asarray(k).T, order="C")


@given(n=st.integers(1, 5), n_in=st.integers(1, 6), units=st.integers(1, 6))
def test_dense_with_a_kernel_operator(n, n_in, units):
    from sparsecore.nn import Sequential

    layer = _built(Dense(units), n_in)
    k = layer.params["kernel"].copy()
    x = np.random.default_rng(1).standard_normal((n, n_in))
    y_dense = layer.forward(x)
    op = _TransposedKernel((n_in, units))
    layer.use_operator(op, op.from_kernel(k))
    assert layer.params["kernel"].shape == (units, n_in) == layer.grads["kernel"].shape
    np.testing.assert_allclose(layer.forward(x), y_dense, rtol=1e-12)
    result = check_layer(layer, x, seed=0)  # perturbs theta, the trained form
    assert result.max_error < 1e-7, result.errors
    # the declared shape and value whatever the form
    assert layer.param_shape("kernel") == (n_in, units)
    np.testing.assert_array_equal(layer.param_value("kernel"), k)
    layer.set_param_value("kernel", 2 * k)
    np.testing.assert_array_equal(layer.params["kernel"], 2 * k.T)
    model = Sequential([Dense(units)], input_dim=n_in, seed=0)
    kernel = model.layers[0].params["kernel"].copy()
    model.layers[0].use_operator(op, op.from_kernel(kernel))
    assert model.count_params() == n_in * units + units
    weights = model.get_weights()
    assert weights[0].shape == (n_in, units)
    model.set_weights([3 * w for w in weights])
    np.testing.assert_allclose(model.layers[0].param_value("kernel"), 3 * kernel)
    with pytest.raises(ValueError, match=r"must have shape \("):
        model.set_weights([np.zeros((n_in + 1, units)), weights[1]])
    layer.use_operator(None, layer.param_value("kernel"))
    assert layer.operator is None
    np.testing.assert_allclose(
        layer.forward(x), 2 * y_dense - layer.params["bias"], rtol=1e-12
    )


def test_use_operator_checks_shapes():
    layer = _built(Dense(3), 2)
    with pytest.raises(ValueError, match=r"kernel of shape \(2, 3\)"):
        layer.use_operator(None, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"operator must have shape \(2, 3\)"):
        layer.use_operator(_TransposedKernel((3, 2)), np.zeros((2, 3)))

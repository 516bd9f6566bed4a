"""The layer protocol and the fully connected layer.

A layer maps a batch ``x`` of shape ``(n_samples, n_in)`` to ``(n_samples, n_out)``.
``forward`` caches exactly what ``backward`` needs; ``backward(grad_out)``
writes the parameter gradients into ``layer.grads`` (same keys as
``layer.params``) and returns the gradient with respect to the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsecore._checks import validate_bool, validate_int
from sparsecore.nn.initializers import get_initializer

__all__ = ["Dense", "Layer", "ResidualDense"]


class Layer:
    """Base class: a differentiable map with named parameters.

    Attributes
    ----------
    name : str
        Assigned by :class:`~sparsecore.nn.model.Sequential` (``"dense_0"``, ...).
    params : dict of str to ndarray
        Trainable arrays, updated in place by the optimizer.
    grads : dict of str to ndarray
        Gradients of the loss for each entry of `params`, same shapes.
    """

    #: Prefix of the automatic name (``dense`` gives ``dense_0``, ``dense_1``, ...).
    kind = "layer"

    def __init__(self) -> None:
        self.name = ""
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.n_in: int | None = None
        self.n_out: int | None = None

    def build(self, n_in: int, rng: np.random.Generator, dtype: np.dtype) -> int:
        """Create the parameters for inputs of width `n_in`; return the output width."""
        self.n_in = self.n_out = n_in
        return n_in

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer ``y = x @ kernel + bias``.

    Parameters
    ----------
    units : int
        Output width ``n_out``.
    kernel_initializer : str, default='glorot_uniform'
        Name in :data:`sparsecore.nn.initializers.INITIALIZERS`.
    bias_initializer : str, default='zeros'
    use_bias : bool, default=True

    Attributes
    ----------
    params : dict
        ``"kernel"`` of shape ``(n_in, n_out)`` (the Keras layout) and, with
        `use_bias`, ``"bias"`` of shape ``(n_out,)``.

    Notes
    -----
    With ``x`` of shape ``(B, n_in)`` and upstream gradient ``G = dL/dy`` of
    shape ``(B, n_out)``:

    .. math::

        \\frac{\\partial L}{\\partial W} = x^T G, \\qquad
        \\frac{\\partial L}{\\partial b} = \\sum_{rows} G, \\qquad
        \\frac{\\partial L}{\\partial x} = G W^T.
    """

    kind = "dense"

    def __init__(
        self,
        units: int,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        use_bias: bool = True,
    ) -> None:
        super().__init__()
        self.units = validate_int("units", units, 1)
        use_bias = validate_bool("use_bias", use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._kernel_init = get_initializer(kernel_initializer)
        self._bias_init = get_initializer(bias_initializer)
        self.use_bias = use_bias
        self._x: np.ndarray | None = None

    def build(self, n_in: int, rng: np.random.Generator, dtype: np.dtype) -> int:
        self.n_in, self.n_out = n_in, self.units
        kernel = self._kernel_init((n_in, self.units), rng, dtype)
        self.params = {"kernel": kernel}
        if self.use_bias:
            self.params["bias"] = self._bias_init((self.units,), rng, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return self.units

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """``(n_samples, n_in) -> (n_samples, n_out)``; caches `x` for backward."""
        self._x = x
        y = x @ self.params["kernel"]
        if self.use_bias:
            y += self.params["bias"]  # in place: y is a fresh array
        return y

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        """Fill ``grads``; return ``grad_out @ kernel.T``, ``(n_samples, n_in)``.

        With ``need_grad_in=False`` (the first layer during training) the input
        gradient, a full extra matrix product, is skipped and `grad_out` is
        returned unchanged.
        """
        if self._x is None:
            raise RuntimeError(
                f"{self.name or 'Dense'}: backward called before forward"
            )
        np.matmul(self._x.T, grad_out, out=self.grads["kernel"])
        if self.use_bias:
            np.sum(grad_out, axis=0, out=self.grads["bias"])
        if not need_grad_in:
            return grad_out
        return grad_out @ self.params["kernel"].T

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "use_bias": self.use_bias,
        }


class ResidualDense(Dense):
    """Dense with a skip connection: ``y = x + relu(x @ kernel + bias)``.

    The second layer of the MNIST-1D lottery-ticket notebook's MLP
    (``h = h + relu(linear2(h))``). Its kernel is square, ``(units, units)``,
    and is pruned like any other (its name is ``residual_<i>/kernel``).

    Parameters
    ----------
    units : int
        Width of the input and of the output.
    kernel_initializer, bias_initializer, use_bias
        As :class:`Dense`.

    Notes
    -----
    With ``z = x W + b``, ``a = [z > 0]`` and upstream gradient ``G``:

    .. math::

        \\frac{\\partial L}{\\partial W} = x^T (G \\odot a), \\qquad
        \\frac{\\partial L}{\\partial x} = G + (G \\odot a) W^T.

    :class:`~sparsecore.runtime.SparseModel` runs chains of plain layers only
    and refuses a model with a residual layer.
    """

    kind = "residual"
    #: Read by the runtime, which refuses skip connections.
    residual = True

    def __init__(
        self,
        units: int,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        use_bias: bool = True,
    ) -> None:
        super().__init__(units, kernel_initializer, bias_initializer, use_bias)
        self._active: np.ndarray | None = None

    def build(self, n_in: int, rng: np.random.Generator, dtype: np.dtype) -> int:
        if n_in != self.units:
            raise ValueError(
                f"units must equal the input width {n_in} for a residual layer "
                f"(y = x + f(x)); got {self.units!r}"
            )
        return super().build(n_in, rng, dtype)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """``(n_samples, units) -> (n_samples, units)``; caches ``x`` and ``z > 0``."""
        z = super().forward(x, training)
        self._active = z > 0
        np.maximum(z, 0, out=z)
        z += x
        return z

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        """Fill ``grads`` from ``G * [z > 0]``; return ``G + (G * [z > 0]) W^T``."""
        if self._active is None:
            raise RuntimeError(
                f"{self.name or 'ResidualDense'}: backward called before forward"
            )
        dz = grad_out * self._active
        grad_in = super().backward(dz, need_grad_in)
        return grad_out + grad_in if need_grad_in else grad_out

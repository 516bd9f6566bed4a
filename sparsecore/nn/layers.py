"""The layer protocol and the fully connected layer.

A layer maps a batch ``x`` of shape ``(n_samples, n_in)`` to ``(n_samples, n_out)``.
``forward`` caches exactly what ``backward`` needs; ``backward(grad_out)``
writes the parameter gradients into ``layer.grads`` (same keys as
``layer.params``) and returns the gradient with respect to the input.

The one extension point: a :class:`Dense` layer may compute through a
:class:`KernelOperator` instead of its dense kernel (:meth:`Dense.use_operator`),
an object that holds the kernel in a form of its own and computes the
layer's three products with it. The layer then trains that form: its
``params["kernel"]`` is the operator's array. :meth:`Layer.param_value` and
:meth:`Layer.set_param_value` read and write every parameter in its declared
shape whatever the form.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from sparsecore._checks import validate_bool, validate_int
from sparsecore.nn.initializers import get_initializer

__all__ = ["Dense", "KernelOperator", "Layer", "ResidualDense"]


class KernelOperator(Protocol):
    """A kernel ``K`` of shape ``(n_in, n_out)`` held in a form of its own.

    A :class:`Dense` layer given one (:meth:`Dense.use_operator`) trains the
    array ``theta`` of that form (``params["kernel"]``, of any shape) and
    calls the operator for the products that involve ``K``. Each method gets
    the current ``theta``, which the optimizer updates in place between
    steps.

    Attributes
    ----------
    shape : tuple of int
        ``(n_in, n_out)``, the declared shape of the kernel.

    Notes
    -----
    The methods, with ``x`` of shape ``(B, n_in)`` and ``g = dL/dy`` of shape
    ``(B, n_out)``:

    - ``matmul(x, theta, bias)`` returns a new ``x @ K + bias`` of shape
      ``(B, n_out)`` (any memory layout; `bias` of shape ``(n_out,)`` or
      None, so that the operator may add it in the same pass);
    - ``kernel_grad(x, g, theta, out)`` writes ``dL/dtheta`` into `out`
      (shaped like ``theta``), given ``dL/dK = x^T g``;
    - ``input_grad(g, theta)`` returns ``g @ K^T`` of shape ``(B, n_in)``;
    - ``to_kernel(a)`` returns the ``(n_in, n_out)`` kernel an array shaped
      like ``theta`` stands for (a new array; also applied to optimizer
      slots of ``theta``), and ``from_kernel(k)`` the array of the form for a
      kernel `k` (a new array).

    The dense kernel itself is the identity form: ``theta = K``,
    ``kernel_grad`` is ``x^T g``.
    """

    shape: tuple[int, int]

    def matmul(
        self, x: np.ndarray, theta: np.ndarray, bias: np.ndarray | None
    ) -> np.ndarray: ...

    def kernel_grad(
        self, x: np.ndarray, g: np.ndarray, theta: np.ndarray, out: np.ndarray
    ) -> None: ...

    def input_grad(self, g: np.ndarray, theta: np.ndarray) -> np.ndarray: ...

    def to_kernel(self, a: np.ndarray) -> np.ndarray: ...

    def from_kernel(self, k: np.ndarray) -> np.ndarray: ...


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

    def param_shape(self, key: str) -> tuple[int, ...]:
        """The declared shape of parameter `key` (that of ``params[key]``)."""
        return tuple(self.params[key].shape)

    def param_value(self, key: str, array: np.ndarray | None = None) -> np.ndarray:
        """Parameter `key` as a new array of its declared shape.

        Parameters
        ----------
        key : str
            A key of `params`.
        array : ndarray, optional
            Any array shaped like ``params[key]`` (an optimizer slot of it,
            say); default ``params[key]`` itself. A layer that trains a
            parameter in another form (see :meth:`Dense.use_operator`)
            expands it; otherwise this is a copy.
        """
        return np.array(self.params[key] if array is None else array, copy=True)

    def set_param_value(self, key: str, value: np.ndarray) -> None:
        """Write `value`, of the declared shape, into ``params[key]`` (in place)."""
        np.copyto(self.params[key], value, casting="same_kind")

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
        `use_bias`, ``"bias"`` of shape ``(n_out,)``. With an `operator`,
        ``"kernel"`` is the array the operator trains instead.
    operator : KernelOperator or None
        How the layer multiplies by its kernel: None (the default) with the
        dense ``params["kernel"]``, else through this object (set by
        :meth:`use_operator`).

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
        self.operator: KernelOperator | None = None
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
        op = self.operator
        theta = self.params["kernel"]
        if op is not None:
            return op.matmul(x, theta, self.params.get("bias"))
        y = x @ theta
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
        op = self.operator
        theta = self.params["kernel"]
        if op is None:
            np.matmul(self._x.T, grad_out, out=self.grads["kernel"])
        else:
            op.kernel_grad(self._x, grad_out, theta, self.grads["kernel"])
        if self.use_bias:
            np.sum(grad_out, axis=0, out=self.grads["bias"])
        if not need_grad_in:
            return grad_out
        return grad_out @ theta.T if op is None else op.input_grad(grad_out, theta)

    # ------------------------------------------------------------------ operator
    def use_operator(self, operator: KernelOperator | None, theta: np.ndarray) -> None:
        """Compute with `operator`, training `theta` as ``params["kernel"]``.

        Parameters
        ----------
        operator : KernelOperator or None
            None goes back to the dense kernel, given as `theta` (of shape
            ``(n_in, n_out)``).
        theta : ndarray
            The array trained from now on (``params["kernel"]``);
            ``grads["kernel"]`` becomes a zeroed array of its shape. The
            caller converts optimizer state of the kernel itself.
        """
        shape = (self.n_in, self.n_out)
        if operator is None and tuple(theta.shape) != shape:
            raise ValueError(
                f"theta must be the kernel of shape {shape} without an operator; "
                f"got shape {theta.shape}"
            )
        if operator is not None and tuple(operator.shape) != shape:
            raise ValueError(
                f"operator must have shape {shape}; got {tuple(operator.shape)}"
            )
        self.operator = operator
        self.params["kernel"] = theta
        self.grads["kernel"] = np.zeros_like(theta)
        self._x = None

    def param_shape(self, key: str) -> tuple[int, ...]:
        if key == "kernel" and self.operator is not None:
            return tuple(self.operator.shape)
        return super().param_shape(key)

    def param_value(self, key: str, array: np.ndarray | None = None) -> np.ndarray:
        if key == "kernel" and self.operator is not None:
            return self.operator.to_kernel(self.params[key] if array is None else array)
        return super().param_value(key, array)

    def set_param_value(self, key: str, value: np.ndarray) -> None:
        if key == "kernel" and self.operator is not None:
            np.copyto(self.params[key], self.operator.from_kernel(value))
            return
        super().set_param_value(key, value)

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

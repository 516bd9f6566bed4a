"""SparseModel: inference for a pruned fully connected network.

A :class:`SparseModel` is a chain of :class:`SparseLayer` ``y = act(x @ kernel
+ bias)``. Each layer is stored either dense or as CSR, after *compaction*
(:mod:`sparsecore.runtime.compact`) has removed the hidden neurons that
pruning made useless. Activations are kept transposed internally, ``H`` of
shape ``(n_features, n_samples)``, so that a layer is ``act(W.T @ H + b)``
with ``W.T`` stored row-major (dense) or as CSR with one row per output
neuron; see :mod:`sparsecore.runtime.csr`.

This module also reads layers in: ``(kernel, bias, activation)`` triples
(checked by :func:`_validate_layers`) and trained networks read by duck
typing (:func:`_read_model`), for :meth:`SparseModel.from_layers` and
:meth:`SparseModel.from_model`. The file layout is in
:mod:`sparsecore.runtime.io`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._checks import validate_bool, validate_choice, validate_int, validate_samples
from ._text import format_table
from .activations import ACTIVATION_FUNCTIONS, ACTIVATION_NAMES, validate_activation
from .compact import compact_layers
from .csr import CSRMatrix, default_threads, resolve_backend
from .plan import PLAN_FORMATS, PLANS, LayerPlan, layer_op, plan_layers

__all__ = ["DTYPES", "FORMATS", "LOAD_FORMATS", "SparseLayer", "SparseModel"]

FORMATS = ("auto", "csr", "dense")
#: What :meth:`SparseModel.load` may do with the formats saved in a file.
LOAD_FORMATS = PLAN_FORMATS
DTYPES = ("float32", "float64")

_DEFAULT_CHUNK = 1024


@dataclass(eq=False)
class SparseLayer:
    """One layer ``y = act(x @ kernel + bias)`` of a :class:`SparseModel`.

    Attributes
    ----------
    weight : CSRMatrix or ndarray of shape (n_out, n_in)
        The *transposed* kernel: dense row-major, or CSR with one row per
        output neuron.
    bias : ndarray of shape (n_out,)
    activation : str
        One of :data:`~sparsecore.runtime.activations.ACTIVATION_NAMES`.
    alpha : float
        Negative slope of ``leaky_relu`` (0 for other activations).
    original_shape : tuple of int
        ``(n_in, n_out)`` of the kernel before compaction.
    """

    weight: CSRMatrix | np.ndarray
    bias: np.ndarray
    activation: str = "linear"
    alpha: float = 0.0
    original_shape: tuple[int, int] = (0, 0)
    _bias_col: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._bias_col = self.bias[:, None]

    @property
    def format(self) -> Literal["csr", "dense"]:
        return "csr" if isinstance(self.weight, CSRMatrix) else "dense"

    @property
    def shape(self) -> tuple[int, int]:
        """Kernel shape ``(n_in, n_out)`` after compaction."""
        return (int(self.weight.shape[1]), int(self.weight.shape[0]))

    @property
    def nnz(self) -> int:
        if isinstance(self.weight, CSRMatrix):
            return self.weight.nnz
        return int(np.count_nonzero(self.weight))

    @property
    def nbytes(self) -> int:
        return int(self.weight.nbytes + self.bias.nbytes)

    def as_format(self, format: str) -> SparseLayer:
        """This layer stored as ``'csr'`` or ``'dense'`` (itself if it already is).

        The values are the same, so the product changes only by the order
        of the float additions.
        """
        if format == self.format:
            return self
        weight: CSRMatrix | np.ndarray
        if isinstance(self.weight, CSRMatrix):
            weight = self.weight.toarray()
        else:
            weight = CSRMatrix.from_dense(self.weight)
        return dataclasses.replace(self, weight=weight)

    def kernel(self) -> np.ndarray:
        """The dense kernel, shape ``(n_in, n_out)`` (a new array)."""
        if isinstance(self.weight, CSRMatrix):
            return self.weight.toarray().T.copy()
        return self.weight.T.copy()


def _validate_layers(
    layers: Iterable[tuple[Any, Any, Any]], dt: np.dtype[Any]
) -> list[tuple[np.ndarray, np.ndarray, str, float]]:
    """Check and cast ``(kernel, bias, activation)`` triples.

    Parameters
    ----------
    layers : iterable of (kernel, bias, activation)
        ``kernel`` array_like of shape ``(n_in, n_out)``; ``bias`` of shape
        ``(n_out,)`` or None (zeros); ``activation`` as accepted by
        ``SparseModel.from_layers``.
    dt : numpy.dtype
        The dtype kernels and biases are cast to.

    Returns
    -------
    list of (kernel, bias, activation, alpha)
        New arrays of dtype ``dt``; at least one layer.

    Raises
    ------
    TypeError
        If an item is not a triple or an activation has the wrong type.
    ValueError
        If a kernel is not 2-D real, a bias has the wrong shape, a value is
        not finite, the shapes do not chain, or there is no layer.
    """
    raw = []
    n_prev = None
    for i, item in enumerate(layers):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise TypeError(
                f"layers[{i}] must be a (kernel, bias, activation) tuple; got {item!r}"
            )
        kernel, bias, act = item
        k = np.asarray(kernel)
        real = np.issubdtype(k.dtype, np.integer) or np.issubdtype(k.dtype, np.floating)
        if k.ndim != 2 or not real:
            raise ValueError(
                f"layers[{i}] kernel must be a 2-D real array; "
                f"got shape {k.shape} and dtype {k.dtype}"
            )
        k = k.astype(dt)
        b = np.zeros(k.shape[1], dt) if bias is None else np.asarray(bias, dt)
        if b.shape != (k.shape[1],):
            hint = ""
            if b.shape == (k.shape[0],) and k.shape[0] != k.shape[1]:
                # The bias fits the kernel's first axis: a PyTorch Linear.weight
                # (out, in) given as is.
                hint = (
                    f"; the bias fits the kernel's first axis: a kernel is "
                    f"(n_in, n_out), so a PyTorch Linear.weight of shape "
                    f"{k.shape} (out, in) must be passed transposed (weight.T)"
                )
            raise ValueError(
                f"layers[{i}] bias must have shape ({k.shape[1]},) for a kernel of "
                f"shape {k.shape} (n_in, n_out); got {b.shape}{hint}"
            )
        if not (np.all(np.isfinite(k)) and np.all(np.isfinite(b))):
            raise ValueError(f"layers[{i}] kernel and bias must be finite")
        if n_prev is not None and k.shape[0] != n_prev:
            hint = (
                " (it has them on its second axis: is it a PyTorch "
                "Linear.weight (out, in)? pass weight.T)"
                if k.shape[1] == n_prev
                else ""
            )
            raise ValueError(
                f"layers[{i}] kernel (n_in, n_out) must have {n_prev} inputs, the "
                f"outputs of layers[{i - 1}]; got shape {k.shape}{hint}"
            )
        n_prev = k.shape[1]
        name, alpha = validate_activation(act)
        if name == "softmax" and k.shape[1] == 0:
            raise ValueError(
                f"layers[{i}] is a softmax over 0 units; a softmax layer needs at "
                "least 1 output unit"
            )
        raw.append((k, b, name, alpha))
    if not raw:
        raise ValueError("layers must hold at least one layer; got 0")
    return raw


def _read_model(model: Any) -> list[tuple[Any, Any, Any]]:
    """Read a trained network into ``(kernel, bias, activation)`` triples.

    ``model.layers`` is read in order: a layer whose ``params`` dict has a
    ``"kernel"`` (and optionally ``"bias"``) is a Dense layer; a layer with a
    string attribute ``activation`` is applied to the preceding Dense
    (``leaky_relu`` reads ``alpha``). ``"linear"`` activations are skipped.

    Parameters
    ----------
    model : object with ``layers``

    Returns
    -------
    list of (kernel, bias, activation)
        The arrays of ``model`` (not copied); at least one triple.

    Raises
    ------
    TypeError
        If ``model`` has no ``layers`` or a layer is neither a Dense nor an
        activation.
    ValueError
        If an activation comes before the first Dense, two non-linear
        activations follow each other, or there is no Dense.
    """
    try:
        model_layers = list(model.layers)
    except (AttributeError, TypeError):
        raise TypeError(
            f"model must have a 'layers' sequence; got {type(model).__name__}"
        ) from None
    triples: list[list[Any]] = []
    for layer in model_layers:
        name = getattr(layer, "name", type(layer).__name__)
        params = getattr(layer, "params", None) or {}
        act = getattr(layer, "activation", None)
        if getattr(layer, "residual", False):
            raise ValueError(
                f"layer {name!r} ({type(layer).__name__}) has a skip connection; "
                "a SparseModel runs chains of plain layers only"
            )
        if "kernel" in params:
            own = act if isinstance(act, str) else None
            kernel = params["kernel"]
            if getattr(layer, "operator", None) is not None:
                # a kernel trained in another form (sparse training holds the
                # kept values alone): the layer expands it
                kernel = layer.param_value("kernel")
            triples.append([kernel, params.get("bias"), own])
            if own is not None:
                triples[-1][2] = _layer_activation(layer, own)
            continue
        if not isinstance(act, str):
            raise TypeError(
                f"layer {name!r} ({type(layer).__name__}) must be a Dense "
                "(params['kernel']) or an activation (str attribute "
                "'activation')"
            )
        if act == "linear":
            continue
        if not triples:
            raise ValueError(
                f"activation layer {name!r} before the first Dense is not supported"
            )
        if triples[-1][2] not in (None, "linear"):
            raise ValueError(
                f"activation layer {name!r} follows another activation; "
                "consecutive activations are not supported"
            )
        triples[-1][2] = _layer_activation(layer, act)
    if not triples:
        raise ValueError("model must contain at least one Dense layer; got 0")
    return [(t[0], t[1], t[2]) for t in triples]


def _layer_activation(layer: Any, act: str) -> tuple[str, float] | str:
    """``act``, or ``("leaky_relu", layer.alpha)`` (default 0.3) for leaky ReLU."""
    if act == "leaky_relu":
        return (act, float(getattr(layer, "alpha", 0.3)))
    return act


class SparseModel:
    """Inference-only fully connected network with sparse (CSR) or dense layers.

    Build one with :meth:`from_model`, :meth:`from_layers` or :meth:`load`.

    Parameters
    ----------
    layers : sequence of SparseLayer
        Layers whose shapes chain (``n_out`` of one is ``n_in`` of the next).
    input_dim : int
        Number of input features.
    backend : {'auto', 'numba', 'scipy', 'numpy'}, default='auto'
        The CSR kernels allowed: ``'auto'``, every importable one (each CSR
        layer gets the one its plan chose); a name, only that one.
    threads : int, optional
        Threads a CSR layer's rows may be split across (for the kernels that
        release the GIL, on products of >= 1e5 nonzero-times-column
        products); default: the CPUs available (<= 8).
    batch_size : int, default=1
        The expected batch size the formats and the plan were chosen for
        (saved with the model).
    plans : sequence of LayerPlan, optional
        How each layer runs (:mod:`sparsecore.runtime.plan`); by default
        estimated for the layers' formats, `backend` and `batch_size`.

    Attributes
    ----------
    layers : tuple of SparseLayer
    plan : tuple of LayerPlan
        Per layer: format, backend, threads and how they were chosen.
    input_dim, output_dim : int
    dtype : numpy.dtype
    backend : str
        The fastest backend allowed (numba, else scipy, else numpy, or the
        one given); each layer's own kernel is in `plan`.
    nbytes : int
        Bytes of all weights and biases.
    """

    def __init__(
        self,
        layers: Sequence[SparseLayer],
        input_dim: int,
        *,
        backend: str = "auto",
        threads: int | None = None,
        batch_size: int = 1,
        plans: Sequence[LayerPlan] | None = None,
    ) -> None:
        if not layers:
            raise ValueError("layers must hold at least one layer; got 0")
        self.layers = tuple(layers)
        self.input_dim = validate_int("input_dim", input_dim, 0)
        n = self.input_dim
        self.dtype = getattr(self.layers[0], "bias", np.empty(0, np.float32)).dtype
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {self.dtype}")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, SparseLayer):
                raise TypeError(f"layers[{i}] must be a SparseLayer; got {layer!r}")
            if layer.shape[0] != n:
                raise ValueError(
                    f"layer {i} kernel must have {n} inputs; got shape {layer.shape}"
                )
            n = layer.shape[1]
            if layer.bias.shape != (n,):
                raise ValueError(
                    f"layer {i} bias must have shape ({n},); got {layer.bias.shape}"
                )
            if layer.weight.dtype != self.dtype or layer.bias.dtype != self.dtype:
                raise ValueError(
                    f"layer {i} weight and bias must be {self.dtype}; got "
                    f"{layer.weight.dtype} and {layer.bias.dtype}"
                )
            if layer.activation not in ACTIVATION_FUNCTIONS:
                raise ValueError(
                    f"layer {i} activation must be one of {list(ACTIVATION_NAMES)}; "
                    f"got {layer.activation!r}"
                )
            if layer.activation == "softmax" and n == 0:
                raise ValueError(
                    f"layer {i} is a softmax over 0 units; a softmax layer needs at "
                    "least 1 output unit"
                )
        self.backend = resolve_backend(backend)
        if threads is None:
            threads = default_threads()
        self.threads = validate_int("threads", threads, 1)
        self.batch_size = validate_int("batch_size", batch_size, 1)
        if plans is None:
            plans = plan_layers(
                [layer.weight for layer in self.layers],
                self.batch_size,
                format="saved",
                backend=backend,
                threads=self.threads,
            )
        self.plan = tuple(plans)
        if len(self.plan) != len(self.layers):
            raise ValueError(
                f"plans must hold one LayerPlan per layer ({len(self.layers)}); "
                f"got {len(self.plan)}"
            )
        for i, (layer, p) in enumerate(zip(self.layers, self.plan, strict=True)):
            if not isinstance(p, LayerPlan):
                raise TypeError(f"plans[{i}] must be a LayerPlan; got {p!r}")
            if p.format != layer.format:
                raise ValueError(
                    f"plans[{i}] is for a {p.format} layer; layer {i} is {layer.format}"
                )
        self._local = threading.local()
        # Per layer, what the forward pass needs, looked up once: the product
        # Y = W @ H + b its plan chose, the bias (flat and as a column), the
        # activation.
        self._ops = [
            (
                layer_op(layer.weight, p.backend, p.threads),
                layer.bias,
                layer._bias_col,
                None
                if layer.activation == "linear"
                else ACTIVATION_FUNCTIONS[layer.activation],
                layer.alpha,
            )
            for layer, p in zip(self.layers, self.plan, strict=True)
        ]

    # ---------------------------------------------------------- builders

    @classmethod
    def from_layers(
        cls,
        layers: Iterable[tuple[Any, Any, Any]],
        *,
        format: str = "auto",
        dtype: str = "float32",
        backend: str = "auto",
        batch_size: int = 1,
        compact: bool = True,
        threads: int | None = None,
        plan: str = "estimate",
    ) -> SparseModel:
        """Build a model from ``(kernel, bias, activation)`` triples.

        Parameters
        ----------
        layers : iterable of (kernel, bias, activation)
            ``kernel`` array_like of shape ``(n_in, n_out)``; ``bias`` of shape
            ``(n_out,)`` or None (zeros); ``activation`` None, a name in
            ``ACTIVATION_NAMES`` (:mod:`sparsecore.runtime.activations`) or
            ``("leaky_relu", alpha)`` (a bare ``"leaky_relu"`` uses alpha 0.3).
        format : {'auto', 'csr', 'dense'}, default='auto'
            Storage of every layer; ``'auto'`` chooses per layer, as `plan`
            says, for `batch_size` and the backends allowed.
        dtype : {'float32', 'float64'}, default='float32'
        backend : {'auto', 'numba', 'scipy', 'numpy'}, default='auto'
            The CSR kernels allowed (``'auto'``: every importable one).
        batch_size : int, default=1
            Expected samples per ``predict`` call, for ``format='auto'``.
        compact : bool, default=True
            Remove useless hidden neurons first (see :func:`compact_layers`).
        threads : int, optional
        plan : {'estimate', 'measure'}, default='estimate'
            Choose formats, backends and threads from the calibrated table
            (instant), or by timing the candidates on each layer here, once
            per machine (see :mod:`sparsecore.runtime.plan`).

        Raises
        ------
        ValueError
            If the shapes do not chain, or an option is invalid.

        Examples
        --------
        >>> w = np.eye(3, dtype=np.float32)
        >>> sm = SparseModel.from_layers([(w, None, "relu")], format="csr")
        >>> sm.predict(np.array([[1.0, -2.0, 3.0]])).tolist()
        [[1.0, 0.0, 3.0]]
        """
        validate_choice("format", format, FORMATS)
        validate_choice("dtype", dtype, DTYPES)
        validate_choice("plan", plan, PLANS)
        validate_bool("compact", compact)
        dt = np.dtype(dtype)
        raw = _validate_layers(layers, dt)
        resolve_backend(backend)
        batch_size = validate_int("batch_size", batch_size, 1)
        originals = [k.shape for k, _, _, _ in raw]
        if compact:
            raw = compact_layers(raw)
        wts = [np.ascontiguousarray(k.T) for k, _, _, _ in raw]
        plans = plan_layers(
            wts, batch_size, format=format, backend=backend, threads=threads, plan=plan
        )
        built = []
        for (_, b, act, alpha), wt, p, orig in zip(
            raw, wts, plans, originals, strict=True
        ):
            weight: CSRMatrix | np.ndarray
            weight = CSRMatrix.from_dense(wt) if p.format == "csr" else wt
            built.append(SparseLayer(weight, b, act, alpha, (orig[0], orig[1])))
        return cls(
            built,
            int(raw[0][0].shape[0]),
            backend=backend,
            threads=threads,
            batch_size=batch_size,
            plans=plans,
        )

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        format: str = "auto",
        dtype: str = "float32",
        backend: str = "auto",
        batch_size: int = 1,
        compact: bool = True,
        threads: int | None = None,
        plan: str = "estimate",
    ) -> SparseModel:
        """Build a model from a trained network, read by duck typing.

        ``model.layers`` is read in order: a layer whose ``params`` dict has a
        ``"kernel"`` (and optionally ``"bias"``) is a Dense layer; a layer with
        a string attribute ``activation`` is applied to the preceding Dense
        (``leaky_relu`` reads ``alpha``). ``"linear"`` activations are skipped.
        This accepts a ``sparsecore.Sequential`` without importing it.

        Parameters
        ----------
        model : object with ``layers``
        format, dtype, backend, batch_size, compact, threads, plan
            As in :meth:`from_layers`.

        Raises
        ------
        TypeError
            If a layer is neither a Dense nor an activation.
        ValueError
            If an activation comes before the first Dense, or two non-linear
            activations follow each other.
        """
        return cls.from_layers(
            _read_model(model),
            format=format,
            dtype=dtype,
            backend=backend,
            batch_size=batch_size,
            compact=compact,
            threads=threads,
            plan=plan,
        )

    # ---------------------------------------------------------- inference

    @property
    def output_dim(self) -> int:
        return self.layers[-1].shape[1]

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)

    def _buffers(self, b: int) -> list[np.ndarray]:
        # Per-thread, per-batch-size output buffers (reused across calls).
        cache: dict[int, list[np.ndarray]] | None = getattr(self._local, "bufs", None)
        if cache is None:
            cache = self._local.bufs = {}
        bufs = cache.get(b)
        if bufs is None:
            if len(cache) >= 4:
                cache.clear()
            tail: tuple[int, ...] = () if b == 1 else (b,)
            bufs = [np.empty((self.input_dim, *tail), self.dtype)]
            bufs += [np.empty((lay.shape[1], *tail), self.dtype) for lay in self.layers]
            cache[b] = bufs
        return bufs

    def _forward_t(self, xc: np.ndarray) -> np.ndarray:
        """Forward one chunk ``xc`` (b, n_in); returns a buffer (n_out[, b])."""
        b = xc.shape[0]
        bufs = self._buffers(b)
        same = xc.dtype == self.dtype
        if b == 1:
            h = xc[0] if same and xc.flags.c_contiguous else bufs[0]
            if h is bufs[0]:
                np.copyto(h, xc[0], casting="unsafe")
        elif same and not isinstance(self.layers[0].weight, CSRMatrix):
            h = xc.T  # BLAS reads the transposed view directly: no copy
        else:
            h = bufs[0]
            # A transposing copy in blocks of 64 samples: ~1.8x faster than
            # one np.copyto(h, xc.T) (cache-friendlier strided reads).
            for i in range(0, b, 64):
                np.copyto(h[:, i : i + 64], xc[i : i + 64].T, casting="unsafe")
        for (op, bias, bias_col, act, alpha), y in zip(
            self._ops, bufs[1:], strict=True
        ):
            op(h, y, bias if b == 1 else bias_col)
            if act is not None:
                act(y, alpha)
            h = y
        return h

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Run the network on a batch.

        Parameters
        ----------
        x : array_like of shape (n_samples, n_in) or (n_in,)
            Bool, int or float, cast to the model's dtype. A 1-D ``x`` is one
            sample (its length must be ``n_in``); ``(0, n_in)`` gives
            ``(0, n_out)``.
        batch_size : int, optional
            Samples per internal chunk (bounds the memory of the activations);
            default 1024.

        Returns
        -------
        ndarray of shape (n_samples, n_out), or (n_out,) for a 1-D ``x``
            A new array of the model's dtype.

        Raises
        ------
        TypeError
            If ``x`` is not a real numeric array (strings, objects, complex).
        ValueError
            If ``x`` does not have ``n_in`` features, has no sample, or holds
            NaN, inf or values that overflow the model's dtype (the checks of
            ``Sequential.predict``).
        """
        x, single = validate_samples(
            "x", x, self.input_dim, self.dtype, allow_empty=True
        )
        if batch_size is None:
            chunk = _DEFAULT_CHUNK
        else:
            chunk = validate_int("batch_size", batch_size, 1)
        n = x.shape[0]
        out = np.empty((n, self.output_dim), self.dtype)
        for s in range(0, n, chunk):
            xc = x[s : s + chunk]
            y = self._forward_t(xc)
            out[s : s + xc.shape[0]] = y.T if y.ndim == 2 else y
        return out[0] if single else out

    # ---------------------------------------------------------- reporting

    def summary(self) -> str:
        """A table: per layer format, shape before -> after compaction, nnz, bytes.

        Returns
        -------
        str
            The table (print it).
        """
        rows = [
            (
                "layer",
                "format",
                "kernel",
                "activation",
                "shape",
                "compacted",
                "nnz",
                "density",
                "bytes",
            )
        ]
        for i, (layer, p) in enumerate(zip(self.layers, self.plan, strict=True)):
            n_in, n_out = layer.shape
            size = n_in * n_out
            nnz = layer.nnz
            rows.append(
                (
                    str(i),
                    layer.format,
                    p.backend + (f" x{p.threads}" if p.threads > 1 else ""),
                    layer.activation,
                    f"{layer.original_shape[0]}x{layer.original_shape[1]}",
                    f"{n_in}x{n_out}",
                    str(nnz),
                    f"{nnz / size:.4f}" if size else "-",
                    str(layer.nbytes),
                )
            )
        footer = (
            f"SparseModel: {len(self.layers)} layers, input_dim={self.input_dim}, "
            f"dtype={self.dtype.name}, backend={self.backend}, "
            f"batch_size={self.batch_size}, "
            f"plan={'/'.join(sorted({p.source for p in self.plan}))}, "
            f"{self.nbytes} bytes"
        )
        return format_table(rows, "r" * len(rows[0])) + "\n" + footer

    def __repr__(self) -> str:
        fmts = ",".join(layer.format for layer in self.layers)
        return (
            f"SparseModel(input_dim={self.input_dim}, output_dim={self.output_dim}, "
            f"layers=[{fmts}], dtype={self.dtype.name}, backend={self.backend!r})"
        )

    # ---------------------------------------------------------- files

    def to_onnx(self, path: str | os.PathLike[str], *, opset: int = 17) -> None:
        """Export the network to an ONNX file, written atomically.

        The compacted network as it runs here: per layer one ``Gemm`` (its
        weight a dense initializer, zeros included: ONNX has no sparse
        matrix product) and its activation (``Relu``, ``LeakyRelu``,
        ``Tanh``, ``Sigmoid``, ``Softmax``). Needs the ``onnx`` package (the
        ``onnx`` extra), imported only here. See
        :func:`sparsecore.runtime.onnx.export_onnx`.

        Raises
        ------
        ImportError
            If ``onnx`` is not installed (the message names the extra).
        """
        from .onnx import export_onnx

        export_onnx(self, path, opset=opset)

    def save(self, path: str | os.PathLike[str], compressed: bool = False) -> None:
        """Write the model to a versioned ``.npz`` file, atomically.

        See :func:`sparsecore.runtime.io.save_sparse_model` for the layout.
        """
        from .io import save_sparse_model

        save_sparse_model(self, path, compressed=compressed)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str = "auto",
        batch_size: int | None = None,
        backend: str = "auto",
        threads: int | None = None,
        plan: str = "estimate",
    ) -> SparseModel:
        """Read a model written by :meth:`save`, choosing formats where it runs.

        Parameters
        ----------
        path : str or path-like
        format : {'auto', 'saved', 'csr', 'dense'}, default='auto'
            ``'auto'``: choose each layer's format again, for the backends
            importable here and `batch_size` (a layer saved as CSR may run
            dense, and back: converted in memory, same values); ``'saved'``:
            keep the file's formats; ``'csr'``, ``'dense'``: force one.
        batch_size : int, optional
            Expected samples per ``predict`` call; default: the one saved.
        backend : {'auto', 'numba', 'scipy', 'numpy'}, default='auto'
        threads : int, optional
        plan : {'estimate', 'measure'}, default='estimate'
            As in :meth:`from_layers`.

        Raises
        ------
        SparseFormatError
            If the file is not a valid sparsecore model (a ValueError naming
            the file, the field and the problem).
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If an option is invalid.
        """
        from .io import load_sparse_model

        validate_choice("format", format, LOAD_FORMATS)
        validate_choice("plan", plan, PLANS)
        if batch_size is not None:
            batch_size = validate_int("batch_size", batch_size, 1)
        if threads is not None:
            threads = validate_int("threads", threads, 1)
        resolve_backend(backend)
        layers, input_dim, saved_batch = load_sparse_model(path)
        batch = saved_batch if batch_size is None else batch_size
        plans = plan_layers(
            [layer.weight for layer in layers],
            batch,
            format=format,
            backend=backend,
            threads=threads,
            plan=plan,
        )
        layers = [
            layer.as_format(p.format) for layer, p in zip(layers, plans, strict=True)
        ]
        return cls(
            layers,
            input_dim,
            backend=backend,
            threads=threads,
            batch_size=batch,
            plans=plans,
        )

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

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._checks import validate_bool, validate_choice, validate_int, validate_samples
from ._text import format_table
from .activations import ACTIVATION_FUNCTIONS, ACTIVATION_NAMES, validate_activation
from .auto import auto_format
from .compact import compact_layers
from .csr import (
    CSRMatrix,
    default_threads,
    get_kernel,
    parallel_rows,
    releases_gil,
    resolve_backend,
)

__all__ = ["DTYPES", "FORMATS", "SparseLayer", "SparseModel"]

FORMATS = ("auto", "csr", "dense")
DTYPES = ("float32", "float64")


# Row splitting across threads pays once a layer has this much work
# (nnz * batch): the hand-off to the pool costs ~20 us, the kernels take
# 0.1-0.2 ns per nonzero and column, so 1e6 is 100-200 us of work.
_PARALLEL_MIN_WORK = 1_000_000
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
            raise ValueError(
                f"layers[{i}] bias must have shape ({k.shape[1]},); got {b.shape}"
            )
        if not (np.all(np.isfinite(k)) and np.all(np.isfinite(b))):
            raise ValueError(f"layers[{i}] kernel and bias must be finite")
        if n_prev is not None and k.shape[0] != n_prev:
            raise ValueError(
                f"layers[{i}] kernel must have {n_prev} inputs; got shape {k.shape}"
            )
        n_prev = k.shape[1]
        raw.append((k, b, *validate_activation(act)))
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
        if "kernel" in params:
            own = act if isinstance(act, str) else None
            triples.append([params["kernel"], params.get("bias"), own])
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
        Kernel for CSR layers. ``'auto'`` takes numba if installed, else scipy
        if importable, else the pure NumPy kernel.
    threads : int, optional
        Threads used to split the rows of a CSR layer when there is enough
        work (``nnz * batch >= 1_000_000``); default: the CPUs available (<= 8).
    batch_size : int, default=1
        The expected batch size ``format="auto"`` chose formats for (kept as
        information; saved with the model).

    Attributes
    ----------
    layers : tuple of SparseLayer
    input_dim, output_dim : int
    dtype : numpy.dtype
    backend : str
        The concrete backend in use.
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
        self.backend = resolve_backend(backend)
        self._kernel = get_kernel(self.backend)
        if threads is None:
            threads = default_threads()
        self.threads = validate_int("threads", threads, 1)
        self.batch_size = validate_int("batch_size", batch_size, 1)
        self._local = threading.local()
        # Per layer, what the forward pass needs, looked up once.
        self._plan = [
            (
                layer.weight,
                layer.bias,
                layer._bias_col,
                None
                if layer.activation == "linear"
                else ACTIVATION_FUNCTIONS[layer.activation],
                layer.alpha,
            )
            for layer in self.layers
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
            Storage of every layer; ``'auto'`` chooses per layer with
            :func:`~sparsecore.runtime.auto.auto_max_density` for `batch_size`
            and `backend`.
        dtype : {'float32', 'float64'}, default='float32'
        backend : {'auto', 'numba', 'scipy', 'numpy'}, default='auto'
        batch_size : int, default=1
            Expected samples per ``predict`` call, for ``format='auto'``.
        compact : bool, default=True
            Remove useless hidden neurons first (see :func:`compact_layers`).
        threads : int, optional

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
        validate_bool("compact", compact)
        dt = np.dtype(dtype)
        raw = _validate_layers(layers, dt)
        backend = resolve_backend(backend)
        batch_size = validate_int("batch_size", batch_size, 1)
        originals = [k.shape for k, _, _, _ in raw]
        if compact:
            raw = compact_layers(raw)
        built = []
        for (k, b, act, alpha), orig in zip(raw, originals, strict=True):
            wt = np.ascontiguousarray(k.T)
            fmt = auto_format(wt, backend, batch_size) if format == "auto" else format
            weight: CSRMatrix | np.ndarray
            weight = CSRMatrix.from_dense(wt) if fmt == "csr" else wt
            built.append(SparseLayer(weight, b, act, alpha, (orig[0], orig[1])))
        return cls(
            built,
            int(raw[0][0].shape[0]),
            backend=backend,
            threads=threads,
            batch_size=batch_size,
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
        format, dtype, backend, batch_size, compact, threads
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
        kernel = self._kernel
        split = self.threads > 1 and releases_gil(kernel)
        for (w, bias, bias_col, act, alpha), y in zip(
            self._plan, bufs[1:], strict=True
        ):
            if isinstance(w, CSRMatrix):
                np.copyto(y, bias if b == 1 else bias_col)
                if split and w.nnz * b >= _PARALLEL_MIN_WORK:
                    parallel_rows(kernel, w, h, y, self.threads)
                else:
                    kernel(w, h, y, 0, w.shape[0])
            else:
                np.matmul(w, h, out=y)
                y += bias if b == 1 else bias_col
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
                "activation",
                "shape",
                "compacted",
                "nnz",
                "density",
                "bytes",
            )
        ]
        for i, layer in enumerate(self.layers):
            n_in, n_out = layer.shape
            size = n_in * n_out
            nnz = layer.nnz
            rows.append(
                (
                    str(i),
                    layer.format,
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
        backend: str = "auto",
        threads: int | None = None,
    ) -> SparseModel:
        """Read a model written by :meth:`save`, validating everything.

        Raises
        ------
        SparseFormatError
            If the file is not a valid sparsecore model (a ValueError naming
            the file, the field and the problem).
        FileNotFoundError
            If ``path`` does not exist.
        """
        from .io import load_sparse_model

        layers, input_dim, batch_size = load_sparse_model(path)
        return cls(
            layers, input_dim, backend=backend, threads=threads, batch_size=batch_size
        )

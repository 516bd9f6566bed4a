"""The timed methods: one forward-pass callable per way of running the network.

:func:`build_method` makes the callable for each name in :data:`METHODS`;
see :mod:`sparsecore.bench` for what each measures. :func:`numpy_dense` is
the baseline every speedup is over.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from sparsecore.bench.networks import Layers
from sparsecore.runtime import SparseModel
from sparsecore.runtime.csr import available_backends

__all__ = [
    "METHODS",
    "SAVED_BATCH",
    "SLOW_METHOD_MAX_WORK",
    "build_method",
    "numpy_dense",
    "skip_reason",
]

METHODS = (
    "numpy_dense",
    "scipy_naive",
    "sc_auto",
    "sc_load",
    "sc_measure",
    "sc_csr",
    "sc_scipy",
    "sc_numba",
    "sc_scipy_auto",
    "sc_numpy",
    "sc_numpy_auto",
    "sc_numpy_load",
    "sc_dense",
    "torch_dense",
    "torch_csr",
)
#: The batch size the file of ``sc_load`` and ``sc_numpy_load`` is saved
#: for (with scipy's ``format="auto"``, as the issue's example).
SAVED_BATCH = 16


def numpy_dense(layers: Layers) -> Callable[[np.ndarray], np.ndarray]:
    """``x @ W + b`` per layer, ReLU in place: the baseline forward pass.

    Parameters
    ----------
    layers : Layers
        ``(kernel (n_in, n_out), bias (n_out,), activation)`` per layer.

    Returns
    -------
    callable(x) -> ndarray
        Maps ``x`` of shape ``(batch, n_in)`` to ``(batch, n_out)`` of the
        last layer.
    """

    def run(x: np.ndarray) -> np.ndarray:
        h = x
        for w, b, act in layers:
            h = h @ w
            h += b
            if act == "relu":
                np.maximum(h, 0, out=h)
        return h

    return run


def _scipy_naive(layers: Layers) -> Callable[[np.ndarray], np.ndarray]:
    import scipy.sparse as sp

    mats = [(sp.csr_matrix(w), b, act) for w, b, act in layers]

    def run(x: np.ndarray) -> np.ndarray:
        h = x
        for m, b, act in mats:
            h = np.asarray(h @ m)
            h += b
            if act == "relu":
                np.maximum(h, 0, out=h)
        return h

    return run


def _torch(layers: Layers, sparse: bool) -> Callable[[np.ndarray], Any]:
    import torch

    dev_layers = []
    for w, b, act in layers:
        wt = torch.from_numpy(np.ascontiguousarray(w.T))
        if sparse:
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                wt = wt.to_sparse_csr()
        dev_layers.append((wt, torch.from_numpy(b), act))

    def run(x: np.ndarray) -> Any:
        with torch.inference_mode():
            h = torch.from_numpy(x)
            if sparse:
                h = h.T.contiguous()
                for wt, b, act in dev_layers:
                    h = torch.sparse.mm(wt, h).add_(b[:, None])
                    if act == "relu":
                        h.relu_()
                return h.T.numpy()
            for wt, b, act in dev_layers:
                h = torch.nn.functional.linear(h, wt, b)
                if act == "relu":
                    h.relu_()
            return h.numpy()

    return run


# torch's CSR is skipped on cells with more than this many nonzero x batch
# products (> ~1 s per call); the pure NumPy CSR kernel (0.1-0.3 ns per
# product, sparsecore.runtime.ell) on cells with 5x more.
SLOW_METHOD_MAX_WORK = 60_000_000
_SLOW_METHODS = {"torch_csr": 1, "sc_numpy": 5}


@contextlib.contextmanager
def _fresh_plan_cache() -> Iterator[None]:
    # sc_measure times its candidates in this run: a plan cached by an
    # earlier run (on a busier machine) must not stand in for the measurement,
    # and the benchmark leaves the user's cache alone.
    old = os.environ.get("SPARSECORE_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SPARSECORE_CACHE_DIR"] = tmp
        try:
            yield
        finally:
            if old is None:
                del os.environ["SPARSECORE_CACHE_DIR"]
            else:
                os.environ["SPARSECORE_CACHE_DIR"] = old


def _loaded(layers: Layers, dtype: str, **load: Any) -> SparseModel:
    # A file saved with scipy's format="auto" for SAVED_BATCH (or the default
    # backend without scipy), read back with SparseModel.load: formats are
    # chosen again for the backends and the batch size given to load.
    backend = "scipy" if "scipy" in available_backends() else "auto"
    saved = SparseModel.from_layers(
        layers, dtype=dtype, backend=backend, batch_size=SAVED_BATCH
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.npz")
        saved.save(path)
        return SparseModel.load(path, **load)


def skip_reason(method: str, layers: Layers, batch: int) -> str | None:
    """Why `method` cannot run on this cell here, in plain words (None: it can).

    A library it needs is missing (torch; scipy; numba, the ``fast`` extra),
    or, for ``torch_csr`` and ``sc_numpy``, the cell's work (nonzeros x
    batch) is over their limit (:data:`SLOW_METHOD_MAX_WORK`: seconds per
    call).
    """
    backs = available_backends()
    if method.startswith("torch_"):
        try:
            import torch  # noqa: F401
        except ImportError:
            return "PyTorch is not installed"
    needs = {
        "scipy_naive": "scipy",
        "sc_scipy": "scipy",
        "sc_scipy_auto": "scipy",
        "sc_numba": "numba",
    }
    if method in needs and needs[method] not in backs:
        lib = needs[method]
        extra = ' (pip install "sparsecore[fast]")' if lib == "numba" else ""
        return f"{lib} is not installed{extra}"
    if method in _SLOW_METHODS:
        nnz = sum(int(np.count_nonzero(w)) for w, _, _ in layers)
        limit = SLOW_METHOD_MAX_WORK * _SLOW_METHODS[method]
        if nnz * batch > limit:
            return (
                f"too slow for the cell (nonzeros x batch = {nnz * batch:.2g} > "
                f"{limit:.2g}: seconds per call)"
            )
    return None


def build_method(
    method: str, layers: Layers, batch: int, dtype: str, threads: int | None
) -> Callable[[np.ndarray], Any] | None:
    """The forward-pass callable for ``method``, or None when it cannot run here.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    layers : Layers
        The network, ``(kernel (n_in, n_out), bias (n_out,), activation)`` per
        layer.
    batch : int
        The batch size it will be called with (``format="auto"`` and the slow
        methods' limit depend on it).
    dtype : {'float32', 'float64'}
    threads : int, optional
        Threads for sparsecore's row splitting.

    Returns
    -------
    callable(x) -> ndarray, or None
        None when :func:`skip_reason` gives a reason: a library is missing,
        or ``torch_csr`` on a cell with nnz * batch >
        :data:`SLOW_METHOD_MAX_WORK` (``sc_numpy``: 5x that).
    """
    if method in METHODS and skip_reason(method, layers, batch) is not None:
        return None
    if method == "numpy_dense":
        return numpy_dense(layers)
    if method == "scipy_naive":
        return _scipy_naive(layers)
    if method.startswith("torch_"):
        return _torch(layers, sparse=method == "torch_csr")
    kw: dict[str, Any] = {"dtype": dtype, "threads": threads, "batch_size": batch}
    load: dict[str, Any] = {"threads": threads, "batch_size": batch}
    if method == "sc_auto":
        sm = SparseModel.from_layers(layers, format="auto", **kw)
    elif method == "sc_load":
        sm = _loaded(layers, dtype, **load)
    elif method == "sc_measure":
        with _fresh_plan_cache():
            sm = _loaded(layers, dtype, plan="measure", **load)
    elif method == "sc_csr":
        sm = SparseModel.from_layers(layers, format="csr", **kw)
    elif method in ("sc_scipy", "sc_numba", "sc_numpy"):
        be = method[3:]
        sm = SparseModel.from_layers(layers, format="csr", backend=be, **kw)
    elif method in ("sc_scipy_auto", "sc_numpy_auto"):
        be = method[3:-5]
        sm = SparseModel.from_layers(layers, format="auto", backend=be, **kw)
    elif method == "sc_numpy_load":
        sm = _loaded(layers, dtype, backend="numpy", **load)
    elif method == "sc_dense":
        sm = SparseModel.from_layers(layers, format="dense", **kw)
    else:
        raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
    return sm.predict

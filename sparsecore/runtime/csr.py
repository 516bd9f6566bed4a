"""A CSR matrix and the kernels that multiply it with a dense batch.

The runtime keeps activations *transposed*, ``H`` of shape ``(n_features,
n_samples)``, and stores every sparse layer as the CSR matrix of its
transposed kernel (rows = output neurons), so one layer is ``Y = A @ H`` with
``A`` of shape ``(M, N) = (n_out, n_in)``: each output row is a dot product
over the nonzeros of one row of ``A``, and each nonzero touches one contiguous
row of ``H``.

Three interchangeable backends compute ``Y += A[r0:r1] @ H`` for a range of
rows (so that rows can be split across threads, see :func:`parallel_rows`):

``"numpy"``
    Vectorised NumPy only, always available: the matrix is multiplied in its
    sorted, sliced ELLPACK form (:mod:`sparsecore.runtime.ell`, built on
    first use and kept), where every row sum is a whole-array operation; a
    range of rows sums ``data * H[indices]`` with :func:`numpy.add.reduceat`.
``"scipy"``
    scipy's compiled CSR kernels (``scipy.sparse._sparstools.csr_matvec`` /
    ``csr_matvecs``) called directly on preallocated arrays, which avoids the
    10-100 us of per-call overhead of ``csr_matrix @ x``; they release the GIL.
    If that private module is missing, the public ``csr_matrix @ H`` is used.
``"numba"``
    JIT-compiled kernels from :mod:`sparsecore.runtime.csr_numba`, used
    when numba is installed (``pip install sparsecore[fast]``).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .ell import COLUMNS, ROWS, SlicedELL

__all__ = [
    "BACKENDS",
    "CSRMatrix",
    "MIN_SPLIT_WORK",
    "available_backends",
    "get_kernel",
    "default_threads",
    "parallel_ranges",
    "parallel_rows",
    "releases_gil",
    "resolve_backend",
    "row_bounds",
    "rows_product_numpy",
]

BACKENDS = ("numpy", "scipy", "numba")
#: Multiply-adds (nnz * batch) from which a product is split into row ranges
#: across threads: the hand-off costs ~20 us. The inference planner and
#: sparse training's products both use it.
MIN_SPLIT_WORK = 100_000
INDEX_DTYPE = np.dtype(np.int32)

# Kernel signature: kernel(A, H, Y, r0, r1) computes Y[r0:r1] += A[r0:r1] @ H.
# H is C-contiguous of shape (N,) or (N, B); Y is C-contiguous (M,) or (M, B).
Kernel = Callable[["CSRMatrix", np.ndarray, np.ndarray, int, int], None]


class CSRMatrix:
    """Compressed sparse row matrix, in scipy's vocabulary.

    Parameters
    ----------
    data : ndarray of shape (nnz,)
        Nonzero values (float32 or float64).
    indices : ndarray of shape (nnz,)
        Column index of each value; stored as int32.
    indptr : ndarray of shape (M + 1,)
        Row ``i`` holds ``data[indptr[i]:indptr[i + 1]]``; stored as int32.
    shape : tuple of int
        ``(M, N)``.
    check : bool, default=True
        Validate the arrays (see :meth:`check_format`).

    Attributes
    ----------
    nnz : int
        Number of stored values.
    nbytes : int
        Bytes of ``data``, ``indices`` and ``indptr``.

    Notes
    -----
    The canonical form is required: column indices strictly increase within
    each row (sorted, no duplicates). :meth:`from_dense` produces it.

    Examples
    --------
    >>> a = np.array([[0.0, 2.0], [3.0, 0.0]], dtype=np.float32)
    >>> m = CSRMatrix.from_dense(a)
    >>> m.nnz, m.indptr.tolist(), m.indices.tolist()
    (2, [0, 1, 2], [1, 0])
    >>> m.matmul(np.array([1.0, 1.0], dtype=np.float32)).tolist()
    [2.0, 3.0]
    """

    __slots__ = (
        "data",
        "indices",
        "indptr",
        "shape",
        "_bounds",
        "_indices_u32",
        "_indptr_u64",
        "_scipy",
        "_ell",
    )

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        shape: tuple[int, int],
        *,
        check: bool = True,
    ) -> None:
        self.data = np.ascontiguousarray(data)
        self.indices = np.ascontiguousarray(indices, dtype=INDEX_DTYPE)
        self.indptr = np.ascontiguousarray(indptr, dtype=INDEX_DTYPE)
        if (
            not isinstance(shape, tuple)
            or len(shape) != 2
            or not all(isinstance(s, (int, np.integer)) and s >= 0 for s in shape)
        ):
            raise ValueError(f"shape must be a tuple of 2 ints >= 0; got {shape!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        # Views of the arrays that some kernels need, made on first use.
        self._bounds: dict[int, np.ndarray] = {}
        self._indices_u32: np.ndarray | None = None
        self._indptr_u64: np.ndarray | None = None
        self._scipy: Any = None
        self._ell: dict[str, SlicedELL] = {}
        if check:
            self.check_format()

    @classmethod
    def from_dense(cls, a: np.ndarray, dtype: Any = None) -> CSRMatrix:
        """Build the CSR form of a 2-D array, keeping its nonzero entries.

        Parameters
        ----------
        a : array_like of shape (M, N)
        dtype : dtype, optional
            Dtype of ``data``; default ``a.dtype``.
        """
        a = np.asarray(a, dtype=dtype)
        if a.ndim != 2:
            raise ValueError(f"a must be 2-D; got shape {a.shape!r}")
        rows, cols = np.nonzero(a)
        indptr = np.zeros(a.shape[0] + 1, dtype=INDEX_DTYPE)
        np.cumsum(np.bincount(rows, minlength=a.shape[0]), out=indptr[1:])
        return cls(a[rows, cols], cols, indptr, a.shape, check=False)

    @property
    def nnz(self) -> int:
        return int(self.data.shape[0])

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def __repr__(self) -> str:
        return f"CSRMatrix(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype.name})"

    def check_format(self) -> None:
        """Validate the arrays; raise ``ValueError`` naming the field.

        Checks dtypes and dimensions, ``len(indptr) == M + 1``, ``indptr[0] ==
        0``, ``indptr[-1] == nnz``, ``indptr`` non-decreasing, ``indices`` in
        ``[0, N)`` and strictly increasing within each row.
        """
        M, N = self.shape
        if self.data.ndim != 1 or self.data.dtype not in (np.float32, np.float64):
            raise ValueError(
                "data must be a 1-D float32 or float64 array; "
                f"got {self.data.dtype} of shape {self.data.shape}"
            )
        if self.indices.ndim != 1 or self.indices.shape != self.data.shape:
            raise ValueError(
                f"indices must have the shape of data {self.data.shape}; "
                f"got {self.indices.shape}"
            )
        if self.indptr.shape != (M + 1,):
            raise ValueError(
                f"indptr must have shape ({M + 1},) (M + 1); got {self.indptr.shape}"
            )
        if self.indptr[0] != 0 or self.indptr[-1] != self.nnz:
            raise ValueError(
                f"indptr must start at 0 and end at nnz={self.nnz}; "
                f"got {int(self.indptr[0])} and {int(self.indptr[-1])}"
            )
        if M and np.any(np.diff(self.indptr) < 0):
            raise ValueError("indptr must be non-decreasing")
        if self.nnz:
            lo, hi = int(self.indices.min()), int(self.indices.max())
            if lo < 0 or hi >= N:
                raise ValueError(
                    f"indices must be in [0, {N}); got values in [{lo}, {hi}]"
                )
            # Strictly increasing inside a row: every step that is not a row
            # boundary must be positive.
            step = np.diff(self.indices)
            inside = np.ones(step.shape[0], dtype=bool)
            starts = self.indptr[1:-1]
            starts = starts[(starts > 0) & (starts < self.nnz)]
            inside[starts - 1] = False
            if np.any(step[inside] <= 0):
                raise ValueError(
                    "indices must be sorted without duplicates within each row"
                )

    def toarray(self) -> np.ndarray:
        """Return the dense ``(M, N)`` array."""
        out = np.zeros(self.shape, dtype=self.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out

    def row_bounds(self, parts: int) -> np.ndarray:
        """Split the rows into ``parts`` contiguous ranges of similar nnz.

        Returns
        -------
        bounds : ndarray of shape (parts + 1,)
            Range ``k`` is ``bounds[k]:bounds[k + 1]``; ``bounds[0] == 0`` and
            ``bounds[-1] == M``.
        """
        bounds = self._bounds.get(parts)
        if bounds is None:
            bounds = self._bounds[parts] = row_bounds(self.indptr, parts)
        return bounds

    @property
    def indices_u32(self) -> np.ndarray:
        """`indices` viewed as uint32 (same bytes: the indices are >= 0)."""
        if self._indices_u32 is None:
            self._indices_u32 = self.indices.view(np.uint32)
        return self._indices_u32

    @property
    def indptr_u64(self) -> np.ndarray:
        """`indptr` as uint64 (a copy, made once)."""
        if self._indptr_u64 is None:
            self._indptr_u64 = self.indptr.astype(np.uint64)
        return self._indptr_u64

    def ell(self, major: str) -> SlicedELL:
        """The matrix as sorted, sliced ELLPACK (built once per `major`).

        Parameters
        ----------
        major : {'columns', 'rows'}
            The layout of the batch-1 kernel (``'columns'``) or of the
            batched one (``'rows'``); see :mod:`sparsecore.runtime.ell`.
        """
        e = self._ell.get(major)
        if e is None:
            e = self._ell[major] = SlicedELL(
                self.data, self.indices, self.indptr, self.shape, major
            )
        return e

    def to_scipy(self) -> Any:
        """The same matrix as a ``scipy.sparse.csr_matrix`` sharing the arrays."""
        if self._scipy is None:
            import scipy.sparse as sp

            self._scipy = sp.csr_matrix(
                (self.data, self.indices, self.indptr), shape=self.shape, copy=False
            )
        return self._scipy

    def matmul(self, h: np.ndarray, backend: str = "auto") -> np.ndarray:
        """Return ``A @ h`` for ``h`` of shape ``(N,)`` or ``(N, B)``."""
        h = np.ascontiguousarray(h, dtype=self.dtype)
        if h.ndim not in (1, 2) or h.shape[0] != self.shape[1]:
            raise ValueError(f"Incompatible shapes ({self.shape} and {h.shape})")
        y = np.zeros((self.shape[0],) + h.shape[1:], dtype=self.dtype)
        get_kernel(resolve_backend(backend))(self, h, y, 0, self.shape[0])
        return y


# --------------------------------------------------------------------- numpy


def _numpy_kernel(A: CSRMatrix, H: np.ndarray, Y: np.ndarray, r0: int, r1: int) -> None:
    # The whole matrix: the sliced ELLPACK kernels (see the ell module for
    # why they are 2-10x faster than the row-range path below).
    if r0 == 0 and r1 == A.shape[0]:
        if H.ndim == 1:
            A.ell(COLUMNS).matvec(H, Y)
        else:
            A.ell(ROWS).matmat(H, Y)
        return
    rows_product_numpy(A, H, Y, r0, r1)


def rows_product_numpy(
    A: CSRMatrix, H: np.ndarray, Y: np.ndarray, r0: int, r1: int
) -> None:
    """``Y[r0:r1] += A[r0:r1] @ H`` by gathers and ``np.add.reduceat`` (GIL held)."""
    # Sum data * H[indices] over the nonzeros of each row. reduceat needs
    # non-empty segments, so empty rows are skipped (they add nothing).
    p0, p1 = int(A.indptr[r0]), int(A.indptr[r1])
    if p1 == p0:
        return
    counts = np.diff(A.indptr[r0 : r1 + 1])
    rows = np.flatnonzero(counts)
    starts = A.indptr[r0:r1][rows] - p0
    data, idx = A.data[p0:p1], A.indices[p0:p1]
    if H.ndim == 1:
        Y[r0 + rows] += np.add.reduceat(data * H[idx], starts)
        return
    # Chunk the batch so the (nnz, chunk) product stays near 4 M elements.
    B = H.shape[1]
    chunk = max(1, min(B, (1 << 22) // (p1 - p0)))
    for k0 in range(0, B, chunk):
        k1 = min(B, k0 + chunk)
        prod = H[idx, k0:k1]
        prod *= data[:, None]
        Y[r0 + rows, k0:k1] += np.add.reduceat(prod, starts, axis=0)


# --------------------------------------------------------------------- scipy

_sparsetools: Any = None  # set by _load_scipy: the private module, or False


def _load_scipy() -> bool:
    """Import scipy lazily; return True if it is usable."""
    global _sparsetools
    if _sparsetools is None:
        try:
            import scipy.sparse  # noqa: F401
        except ImportError:
            _sparsetools = "missing"
            return False
        try:
            from scipy.sparse import _sparsetools as st

            st.csr_matvec, st.csr_matvecs  # noqa: B018
            _sparsetools = st
        except (ImportError, AttributeError):  # pragma: no cover - scipy internals
            _sparsetools = False
    return bool(_sparsetools != "missing")


def _scipy_private_kernel(
    A: CSRMatrix, H: np.ndarray, Y: np.ndarray, r0: int, r1: int
) -> None:
    # The thunks read indptr[i]..indptr[i+1] as absolute offsets into
    # indices/data, so a row range is just a slice of indptr and of Y.
    st = _sparsetools
    if r1 <= r0:
        return
    ip = A.indptr[r0 : r1 + 1]
    if H.ndim == 1:
        st.csr_matvec(r1 - r0, A.shape[1], ip, A.indices, A.data, H, Y[r0:r1])
    else:
        B = H.shape[1]
        st.csr_matvecs(
            r1 - r0,
            A.shape[1],
            B,
            ip,
            A.indices,
            A.data,
            H.reshape(-1),
            Y[r0:r1].reshape(-1),
        )


def _scipy_public_kernel(
    A: CSRMatrix, H: np.ndarray, Y: np.ndarray, r0: int, r1: int
) -> None:
    m = A.to_scipy()
    Y[r0:r1] += m[r0:r1] @ H if (r0, r1) != (0, A.shape[0]) else m @ H


def _scipy_kernel() -> Kernel:
    if not _load_scipy():
        raise ImportError("backend 'scipy' needs scipy, which cannot be imported")
    if _sparsetools is False:
        return _scipy_public_kernel
    return _scipy_private_kernel


# ------------------------------------------------------------------ registry


# numba's import error, once seen: a failed import is not retried on every
# call (``functools.cache`` keeps results, not exceptions), since a sparse
# training step asks which backends exist.
_NUMBA_ERROR: list[ImportError] = []


def _numba_kernel() -> Kernel:
    if _NUMBA_ERROR:
        raise ImportError(str(_NUMBA_ERROR[0]))
    try:
        from . import csr_numba
    except ImportError as exc:
        _NUMBA_ERROR.append(exc)
        raise

    nb = csr_numba.kernel
    if not (_load_scipy() and _sparsetools):
        _GIL_FREE.add(nb)
        return nb

    def kernel(A: CSRMatrix, H: np.ndarray, Y: np.ndarray, r0: int, r1: int) -> None:
        # A single vector and short rows (< 24 nonzeros on average): the
        # vectorised numba dot product loses to scipy's scalar loop there
        # (measured 0.78 vs 0.55 ns per nonzero at 10 per row).
        if H.ndim == 1 and A.nnz < 24 * A.shape[0]:
            _scipy_private_kernel(A, H, Y, r0, r1)
        else:
            nb(A, H, Y, r0, r1)

    _GIL_FREE.add(kernel)
    return kernel


# Kernels that release the GIL, so that splitting rows across threads pays.
_GIL_FREE: set[Kernel] = {_scipy_private_kernel}


def releases_gil(kernel: Kernel) -> bool:
    """True if ``kernel`` runs without the GIL (worth running on threads)."""
    return kernel in _GIL_FREE


_KERNELS: dict[str, Callable[[], Kernel]] = {
    "numpy": lambda: _numpy_kernel,
    "scipy": _scipy_kernel,
    "numba": functools.cache(_numba_kernel),
}


def available_backends() -> list[str]:
    """Backends usable in this process, fastest first."""
    out = []
    for name in ("numba", "scipy"):
        try:
            _KERNELS[name]()
        except ImportError:
            continue
        out.append(name)
    return out + ["numpy"]


def resolve_backend(backend: str) -> str:
    """Return the concrete backend for ``backend`` (``"auto"`` = fastest usable).

    Raises
    ------
    ValueError
        If ``backend`` is not ``"auto"`` or one of :data:`BACKENDS`.
    ImportError
        If the requested backend's library cannot be imported.
    """
    if backend == "auto":
        return available_backends()[0]
    if backend not in _KERNELS:
        raise ValueError(
            f"backend must be one of {['auto', *BACKENDS]}; got {backend!r}"
        )
    _KERNELS[backend]()  # raises ImportError when unusable
    return backend


def get_kernel(backend: str) -> Kernel:
    """The kernel ``kernel(A, H, Y, r0, r1)`` (``Y[r0:r1] += A[r0:r1] @ H``)."""
    return _KERNELS[backend]()


# ------------------------------------------------------------------- threads

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def default_threads() -> int:
    """Threads used for row splitting by default: the CPUs available, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def _forget_pool() -> None:
    # A forked child has no pool threads: start a fresh pool there.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, default_threads() - 1),
                thread_name_prefix="sparsecore",
            )
        return _pool


def row_bounds(indptr: np.ndarray, parts: int) -> np.ndarray:
    """Split the rows of a CSR ``indptr`` into `parts` ranges of similar nnz.

    Parameters
    ----------
    indptr : ndarray of shape (M + 1,)
    parts : int
        At least 1.

    Returns
    -------
    bounds : ndarray of shape (parts + 1,)
        Range ``k`` is ``bounds[k]:bounds[k + 1]`` (possibly empty);
        ``bounds[0] == 0`` and ``bounds[-1] == M``.
    """
    M = indptr.shape[0] - 1
    # Rows weigh nnz plus a constant (the per-row work of bias and loop).
    work = indptr.astype(np.int64) + np.arange(M + 1)
    targets = np.linspace(0, work[-1], parts + 1)
    b = np.searchsorted(work, targets).astype(np.int64)
    b[0], b[-1] = 0, M
    return np.maximum.accumulate(np.clip(b, 0, M))


def parallel_ranges(fn: Callable[[int, int], None], bounds: np.ndarray) -> None:
    """Call ``fn(bounds[k], bounds[k + 1])`` for every range, at once.

    The calling thread runs the first range; the others run in the shared
    pool (empty ranges are skipped). Only worth it when `fn` releases the
    GIL (scipy's and numba's kernels do). An exception of any range is
    raised once all have finished.
    """
    pool = _get_pool()
    futures = [
        pool.submit(fn, int(bounds[k]), int(bounds[k + 1]))
        for k in range(1, len(bounds) - 1)
        if bounds[k + 1] > bounds[k]
    ]
    try:
        if len(bounds) > 1:
            fn(int(bounds[0]), int(bounds[1]))
    finally:
        for f in futures:
            f.result()


def parallel_rows(
    kernel: Kernel, A: CSRMatrix, H: np.ndarray, Y: np.ndarray, threads: int
) -> None:
    """Run ``kernel`` over ``threads`` row ranges of similar nnz at once.

    The calling thread computes the first range; the others run in a shared
    pool. Only worth it for kernels that release the GIL (scipy, numba).
    """
    if threads <= 1 or A.shape[0] < 2:
        kernel(A, H, Y, 0, A.shape[0])
        return
    parallel_ranges(lambda r0, r1: kernel(A, H, Y, r0, r1), A.row_bounds(threads))

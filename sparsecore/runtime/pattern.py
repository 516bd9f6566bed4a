"""A fixed sparsity pattern of a kernel and the three products of sparse training.

A kernel ``K`` of shape ``(n_in, n_out)`` pruned by a fixed mask is trained
as its ``nnz`` kept values ``v`` alone, in the row-major order of the mask
(``v = K[mask]``). With the activations stored *transposed*, the batch on the
contiguous axis (the runtime's layout: ``XT`` of shape ``(n_in, B)``, ``GT``
of shape ``(n_out, B)`` for the gradient of the layer's output), one training
step needs three products, each of ``nnz * B`` multiply-adds::

    forward            YT  = K^T XT               (n_out, B)   CSR of K^T
    input gradient     DXT = K GT                 (n_in, B)    CSR of K
    weight gradient    dv  = (XT GT^T)[mask]      (nnz,)       sampled (SDDMM)

The last is the sampled dense-dense product: only the kept entries of the
dense ``x^T g`` are computed, each a dot product of two rows of ``B``
values. :class:`SparsityPattern` keeps both orientations of the pattern: the
CSR of ``K`` (rows = inputs) holds the values in their own order; the CSR of
``K^T`` (rows = outputs) holds a permutation into them, so one values array
serves every product and an optimizer updates it in place. That is 12 bytes
per kept weight (two int32 indices and an int32 permutation) besides the
values, and ``4 (n_in + n_out + 2)`` bytes of row pointers.

Backends, as in :mod:`sparsecore.runtime.csr`:

``"numba"``
    :func:`sparsecore.runtime.csr_numba.rows_product` and
    :func:`~sparsecore.runtime.csr_numba.sampled_product`: whole rows of
    ``B`` contiguous values per nonzero, four nonzeros per pass.
``"scipy"``
    scipy's ``csr_matvecs`` for the two products (through the CSR kernels of
    :mod:`sparsecore.runtime.csr`); scipy has no sampled product, so that one
    is NumPy's.
``"numpy"``
    Gathers, a multiply and ``np.add.reduceat`` per chunk of the batch; the
    sampled product as row-wise dot products of gathered rows
    (``np.einsum``), in chunks.

The numba and scipy kernels release the GIL; a product with at least
:data:`MIN_SPLIT_WORK` multiply-adds is split into row ranges of similar
nnz on ``threads`` threads (:func:`~sparsecore.runtime.csr.parallel_ranges`).
Every product gives the same result for any thread count: each output entry
is summed by one thread in one order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .csr import (
    MIN_SPLIT_WORK,
    CSRMatrix,
    get_kernel,
    parallel_ranges,
    resolve_backend,
    row_bounds,
    rows_product_numpy,
)

__all__ = [
    "SparsityPattern",
    "transposed",
]

# Rows of a transpose copied per block: a block of 64 rows of a (B, n) float32
# array is written as 64-value runs, which measured 1.8x as fast as
# np.ascontiguousarray(a.T) on a (1024, 1000) array.
_TRANSPOSE_BLOCK = 64
# Gathered values per chunk of the NumPy kernels (4 Mi, as the runtime's).
_CHUNK_ELEMENTS = 1 << 22
_INDEX = np.dtype(np.int32)
_EMPTY_PERM = np.zeros(0, dtype=_INDEX)
_EMPTY_BIAS = {np.dtype(t): np.zeros(0, dtype=t) for t in (np.float32, np.float64)}


def transposed(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a.T`` as a C-contiguous array: a view when it is one, else a copy.

    Parameters
    ----------
    a : ndarray of shape (M, N)
    out : ndarray of shape (N, M), optional
        Where to copy (C-contiguous, of `a`'s dtype); used only when a copy
        is needed. A buffer reused from step to step spares the allocator:
        a fresh 4 MB array costs its page faults (measured 0.5-1 ms per
        copy inside a training step, against 0.45 ms for the copy alone).

    Returns
    -------
    ndarray of shape (N, M)
        C-contiguous; shares memory with `a` when `a` is Fortran-ordered
        (the layout the products of this module return to their caller).
    """
    t = a.T
    if t.flags.c_contiguous:
        return t
    if out is None or out.shape != t.shape or out.dtype != a.dtype:
        out = np.empty(t.shape, dtype=a.dtype)
    for i0 in range(0, a.shape[0], _TRANSPOSE_BLOCK):
        i1 = min(a.shape[0], i0 + _TRANSPOSE_BLOCK)
        out[:, i0:i1] = a[i0:i1].T
    return out


def _csr_from_mask(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, rows)`` of the True entries of `mask`, row-major."""
    rows, cols = np.nonzero(mask)
    indptr = np.zeros(mask.shape[0] + 1, dtype=_INDEX)
    np.cumsum(np.bincount(rows, minlength=mask.shape[0]), out=indptr[1:])
    return indptr, cols.astype(_INDEX), rows


class SparsityPattern:
    """The kept positions of a ``(n_in, n_out)`` kernel and the products over them.

    Parameters
    ----------
    mask : array_like of bool, shape (n_in, n_out)
        True = kept. Copied into the index arrays; not kept itself.

    Attributes
    ----------
    shape : tuple of int
        ``(n_in, n_out)``.
    nnz : int
        Number of kept positions.
    indptr, indices : ndarray of int32
        The CSR of ``K`` (row ``i`` keeps the columns ``indices[indptr[i]:
        indptr[i + 1]]``, increasing). A values array ``v`` is in this order:
        ``v = K[mask]``.
    t_indptr, t_indices, perm : ndarray of int32
        The CSR of ``K^T``: row ``j`` keeps the inputs
        ``t_indices[t_indptr[j]:t_indptr[j + 1]]``, whose values are
        ``v[perm[t_indptr[j]:t_indptr[j + 1]]]``.
    nbytes : int
        Bytes of the index arrays.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.array([[1.0, 0.0], [2.0, 3.0]], dtype=np.float32)
    >>> p = SparsityPattern(k != 0)
    >>> v = p.gather(k); v.tolist()
    [1.0, 2.0, 3.0]
    >>> xt = np.array([[1.0], [10.0]], dtype=np.float32)  # one sample, as a column
    >>> yt = np.empty((2, 1), dtype=np.float32)
    >>> p.product_t(v, xt, yt, backend="numpy"); yt.ravel().tolist()
    [21.0, 30.0]
    """

    __slots__ = (
        "shape",
        "indptr",
        "indices",
        "t_indptr",
        "t_indices",
        "perm",
        "_bounds",
        "_rows",
        "_positions",
    )

    def __init__(self, mask: Any) -> None:
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.dtype != np.bool_:
            raise ValueError(
                f"mask must be a 2-D bool array; got {mask.dtype} of shape {mask.shape}"
            )
        if max(mask.shape) >= 2**31:
            raise ValueError(
                f"mask must have fewer than 2**31 rows and columns; "
                f"got shape {mask.shape}"
            )
        self.shape = (int(mask.shape[0]), int(mask.shape[1]))
        self.indptr, self.indices, rows = _csr_from_mask(mask)
        # The CSR of K^T: the kept positions sorted by column (stable, so rows
        # stay increasing within a column), with where each one sits in v.
        order = np.argsort(self.indices, kind="stable")
        self.perm = order.astype(_INDEX)
        self.t_indices = rows[order].astype(_INDEX)
        self.t_indptr = np.zeros(self.shape[1] + 1, dtype=_INDEX)
        np.cumsum(
            np.bincount(self.indices, minlength=self.shape[1]), out=self.t_indptr[1:]
        )
        self._bounds: dict[tuple[str, int], np.ndarray] = {}
        self._rows: np.ndarray | None = None
        self._positions: np.ndarray | None = None

    # ------------------------------------------------------------------ views
    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    @property
    def density(self) -> float:
        """``nnz / (n_in * n_out)`` (1.0 for an empty shape)."""
        size = self.shape[0] * self.shape[1]
        return self.nnz / size if size else 1.0

    @property
    def nbytes(self) -> int:
        """Bytes of the index arrays (and of the positions, if kept)."""
        kept = 0 if self._positions is None else self._positions.nbytes
        return kept + int(
            self.indptr.nbytes
            + self.indices.nbytes
            + self.t_indptr.nbytes
            + self.t_indices.nbytes
            + self.perm.nbytes
        )

    def __repr__(self) -> str:
        return f"SparsityPattern(shape={self.shape}, nnz={self.nnz})"

    def positions(self, keep: bool = False) -> np.ndarray:
        """Flat (row-major) indices of the kept positions, increasing (int64).

        Computed on each call (8 bytes per kept weight, which the pattern
        does not hold) unless `keep`: then it is kept for later calls (for
        products that scatter or gather at every step).
        """
        if self._positions is not None:
            return self._positions
        rows = np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))
        pos: np.ndarray = rows * self.shape[1] + self.indices
        if keep:
            self._positions = pos
        return pos

    def mask(self) -> np.ndarray:
        """The bool mask of shape ``(n_in, n_out)`` (a new array)."""
        out = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        out[self.positions()] = True
        return out.reshape(self.shape)

    def equals_mask(self, mask: Any) -> bool:
        """Whether `mask` keeps exactly this pattern's positions."""
        mask = np.asarray(mask)
        if mask.shape != self.shape or mask.dtype != np.bool_:
            return False
        return int(np.count_nonzero(mask)) == self.nnz and bool(
            mask.reshape(-1)[self.positions()].all()
        )

    # ------------------------------------------------------------------ values
    def gather(
        self, dense: np.ndarray, positions: np.ndarray | None = None
    ) -> np.ndarray:
        """The kept entries of `dense` ``(n_in, n_out)`` in pattern order (a copy).

        `positions` is :meth:`positions`, when the caller already has it.
        """
        dense = np.asarray(dense)
        if dense.shape != self.shape:
            raise ValueError(f"dense must have shape {self.shape}; got {dense.shape}")
        pos = self.positions() if positions is None else positions
        out: np.ndarray = np.ascontiguousarray(dense).reshape(-1)[pos]
        return out

    def scatter(
        self,
        values: np.ndarray,
        out: np.ndarray | None = None,
        positions: np.ndarray | None = None,
    ) -> np.ndarray:
        """The ``(n_in, n_out)`` array holding `values` at the kept positions.

        Parameters
        ----------
        values : ndarray of shape (nnz,)
        out : ndarray of shape (n_in, n_out), optional
            C-contiguous; only its kept positions are written (keep zeros
            elsewhere yourself). Default: a new array of zeros.
        positions : ndarray, optional
            :meth:`positions`, when the caller already has it.
        """
        values = self._check_values(values)
        if out is None:
            out = np.zeros(self.shape, dtype=values.dtype)
        out.reshape(-1)[self.positions() if positions is None else positions] = values
        return out

    def carry(self, values: np.ndarray, old: SparsityPattern) -> np.ndarray:
        """Values for this pattern from `values` of pattern `old`.

        A position kept by both keeps its value; a position only this pattern
        keeps gets 0 (a grown connection starts at zero).

        Returns
        -------
        ndarray of shape (nnz,)
            A new array, of the dtype of `values`.
        """
        values = old._check_values(values)
        if old.shape != self.shape:
            raise ValueError(f"old must have shape {self.shape}; got {old.shape}")
        out = np.zeros(self.nnz, dtype=values.dtype)
        if old.nnz == 0 or self.nnz == 0:
            return out
        new_pos, old_pos = self.positions(), old.positions()
        idx = np.searchsorted(old_pos, new_pos)
        np.minimum(idx, old.nnz - 1, out=idx)
        found = old_pos[idx] == new_pos
        out[found] = values[idx[found]]
        return out

    def _check_values(self, values: Any) -> np.ndarray:
        arr: np.ndarray = np.asarray(values)
        if arr.shape != (self.nnz,):
            raise ValueError(
                f"values must have shape ({self.nnz},) (nnz); got {arr.shape}"
            )
        return arr

    # ------------------------------------------------------------------ products
    def product_t(
        self,
        values: np.ndarray,
        XT: np.ndarray,
        out: np.ndarray,
        backend: str = "auto",
        threads: int = 1,
        bias: np.ndarray | None = None,
    ) -> None:
        """``out = K^T @ XT (+ bias)``: the forward product.

        This is an *in place* operation.

        Parameters
        ----------
        values : ndarray of shape (nnz,)
            ``K[mask]``.
        XT : ndarray of shape (n_in, B)
            C-contiguous, of the dtype of `values`.
        out : ndarray of shape (n_out, B)
            C-contiguous, of the dtype of `values`; overwritten.
        backend : {'auto', 'numba', 'scipy', 'numpy'}, default='auto'
        threads : int, default=1
        bias : ndarray of shape (n_out,), optional
            Added to every column (the numba kernel starts each row at it,
            which costs nothing more than starting at 0).
        """
        if bias is not None:
            bias = np.asarray(bias)
            if bias.shape != (self.shape[1],) or bias.dtype != values.dtype:
                raise ValueError(
                    f"bias must have shape ({self.shape[1]},) and dtype "
                    f"{values.dtype.name}; got {bias.dtype.name} of shape "
                    f"{bias.shape}"
                )
        self._product(
            "t", values, XT, out, self.shape[0], self.shape[1], backend, threads, bias
        )

    def product(
        self,
        values: np.ndarray,
        GT: np.ndarray,
        out: np.ndarray,
        backend: str = "auto",
        threads: int = 1,
    ) -> None:
        """``out = K @ GT``: the input gradient. This is an *in place* operation.

        Parameters
        ----------
        values : ndarray of shape (nnz,)
        GT : ndarray of shape (n_out, B)
            C-contiguous, of the dtype of `values`.
        out : ndarray of shape (n_in, B)
            C-contiguous; overwritten.
        backend, threads
            As :meth:`product_t`.
        """
        self._product(
            "k", values, GT, out, self.shape[1], self.shape[0], backend, threads
        )

    def sampled_product(
        self,
        XT: np.ndarray,
        GT: np.ndarray,
        out: np.ndarray,
        backend: str = "auto",
        threads: int = 1,
    ) -> None:
        """``out = (XT @ GT^T)[mask]``: the weight gradient at the kept positions.

        This is an *in place* operation.

        Parameters
        ----------
        XT : ndarray of shape (n_in, B)
            The layer's input, transposed; C-contiguous.
        GT : ndarray of shape (n_out, B)
            The gradient of the layer's output, transposed; C-contiguous.
        out : ndarray of shape (nnz,)
            Overwritten with ``sum_b XT[i, b] * GT[j, b]`` for every kept
            ``(i, j)``, in pattern order.
        backend, threads
            As :meth:`product_t` (``'scipy'`` computes this one with NumPy).
        """
        n_in, n_out = self.shape
        _check_operand("XT", XT, n_in, None, out.dtype)
        B = XT.shape[1]
        _check_operand("GT", GT, n_out, B, out.dtype)
        if out.shape != (self.nnz,):
            raise ValueError(f"out must have shape ({self.nnz},); got {out.shape}")
        if self.nnz == 0:
            return
        if B == 0:
            out[:] = 0
            return
        backend = resolve_backend(backend)
        if backend == "numba":
            from .csr_numba import sampled_product

            def run(r0: int, r1: int) -> None:
                sampled_product(self.indptr, self.indices, XT, GT, out, r0, r1)

            self._run("k", self.indptr, run, B, threads)
        else:
            self._numpy_sampled(XT, GT, out)

    # ------------------------------------------------------------------ kernels
    def _product(
        self,
        which: str,
        values: np.ndarray,
        H: np.ndarray,
        out: np.ndarray,
        n_h: int,
        n_out: int,
        backend: str,
        threads: int,
        bias: np.ndarray | None = None,
    ) -> None:
        values = self._check_values(values)
        _check_operand("the input", H, n_h, None, values.dtype)
        B = H.shape[1]
        _check_operand("out", out, n_out, B, values.dtype)
        if which == "t":
            indptr, indices, perm = self.t_indptr, self.t_indices, self.perm
        else:
            indptr, indices, perm = self.indptr, self.indices, _EMPTY_PERM
        start = 0 if bias is None else bias[:, None]
        if self.nnz == 0 or B == 0:
            out[...] = start
            return
        backend = resolve_backend(backend)
        if backend == "numba":
            from .csr_numba import rows_product

            b = _EMPTY_BIAS[values.dtype] if bias is None else bias

            def run(r0: int, r1: int) -> None:
                rows_product(indptr, indices, perm, values, b, H, out, r0, r1)

            self._run(which, indptr, run, B, threads)
            return
        data = values if which == "k" else values[perm]
        A = CSRMatrix(data, indices, indptr, (n_out, n_h), check=False)
        # scipy's kernel releases the GIL; NumPy's gathers do not: one thread.
        kernel = get_kernel("scipy") if backend == "scipy" else rows_product_numpy
        out[...] = start  # the kernels add

        def run_csr(r0: int, r1: int) -> None:
            kernel(A, H, out, r0, r1)

        self._run(which, indptr, run_csr, B, threads if backend == "scipy" else 1)

    def _run(
        self, which: str, indptr: np.ndarray, run: Any, B: int, threads: int
    ) -> None:
        """`run(r0, r1)` over all rows: split across threads if worth it."""
        M = indptr.shape[0] - 1
        if threads <= 1 or M < 2 or self.nnz * B < MIN_SPLIT_WORK:
            run(0, M)
            return
        key = (which, threads)
        bounds = self._bounds.get(key)
        if bounds is None:
            bounds = self._bounds[key] = row_bounds(indptr, threads)
        parallel_ranges(run, bounds)

    def _numpy_sampled(self, XT: np.ndarray, GT: np.ndarray, out: np.ndarray) -> None:
        if self._rows is None:
            self._rows = np.repeat(
                np.arange(self.shape[0], dtype=_INDEX), np.diff(self.indptr)
            )
        B = XT.shape[1]
        step = max(1, _CHUNK_ELEMENTS // (2 * B))
        for p0 in range(0, self.nnz, step):
            p1 = min(self.nnz, p0 + step)
            a = XT[self._rows[p0:p1]]
            b = GT[self.indices[p0:p1]]
            np.einsum("ij,ij->i", a, b, out=out[p0:p1])


def _check_operand(
    name: str, a: Any, rows: int, cols: int | None, dtype: np.dtype[Any]
) -> None:
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[0] != rows:
        shape = getattr(a, "shape", None)
        raise ValueError(f"{name} must be an array of shape ({rows}, B); got {shape}")
    if cols is not None and a.shape[1] != cols:
        raise ValueError(f"{name} must have shape ({rows}, {cols}); got {a.shape}")
    if a.dtype != dtype or not a.flags.c_contiguous:
        raise ValueError(
            f"{name} must be C-contiguous of dtype {np.dtype(dtype).name}; got "
            f"{a.dtype.name}, {'C' if a.flags.c_contiguous else 'not C'}-contiguous"
        )
